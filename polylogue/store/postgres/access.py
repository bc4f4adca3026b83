"""Roles and row-level security for a shared archive (docs/postgres.md, "Access").

``ACCESS_SQL`` is what an administrator runs once, after the first push made
the schema (the docs print it, and tests/test_postgres.py runs it against a
real server):

- ``polylogue_reader``: reads everything, writes nothing;
- ``polylogue_pusher``: writes only rows labelled with a machine it is mapped
  to in ``machine_roles`` (INSERT and UPDATE checks); it may take over a
  conversation another machine pushed only by writing a newer copy of it under
  its own label (the rule of load.py), and deletes only the messages of
  conversations labelled with its own machine; holders, sources and archives
  rows strictly its own; its usage ledger rows as its messages; the usage totals
  (sums over every machine's rows, unlabelled) it may write whatever its machine;
- ``polylogue_own_reader`` (optional): reads only the conversations and
  messages it pushed itself (``owner = current_user``): per-user privacy.

Login roles are members of these (``CREATE ROLE alice LOGIN IN ROLE
polylogue_pusher``) plus a row of machine_roles per machine they push from."""

from __future__ import annotations

# ``col`` must be qualified with its table: inside the subquery a bare ``machine`` is r.machine
OWN = "EXISTS (SELECT 1 FROM machine_roles r WHERE r.machine = {col} AND r.role = current_user)"

TABLES = ("conversations", "messages", "holders", "sources", "archives")
# the usage totals every push keeps (load.py): sums over every machine's rows, so a pusher
# writes them whatever its machine (they carry no label: a row-level rule cannot say whose)
TOTALS = ("usage_rollup", "usage_conversation")

# The usage ledger's tables (server migration 2): what a server whose roles were made
# before it needs run once (docs/postgres.md, "Access"); part of ACCESS_SQL.
USAGE_ACCESS_SQL: list[str] = [
    "GRANT SELECT ON usage_ledger, usage_rollup, usage_conversation"
    " TO polylogue_reader, polylogue_pusher, polylogue_own_reader",
    f"GRANT INSERT, UPDATE, DELETE ON usage_ledger, {', '.join(TOTALS)} TO polylogue_pusher",
    "ALTER TABLE usage_ledger ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY read_all ON usage_ledger FOR SELECT TO polylogue_reader, polylogue_pusher USING (true)",
    "CREATE POLICY read_own ON usage_ledger FOR SELECT TO polylogue_own_reader USING (owner = current_user)",
    "CREATE POLICY push_insert ON usage_ledger FOR INSERT TO polylogue_pusher"
    f" WITH CHECK ({OWN.format(col='usage_ledger.machine')})",
    # as a conversation's messages: a pusher replaces the ledger of conversations labelled with its machine
    "CREATE POLICY push_delete ON usage_ledger FOR DELETE TO polylogue_pusher USING (EXISTS (SELECT 1 FROM"
    f" conversations c WHERE c.id = usage_ledger.conversation_id AND {OWN.format(col='c.machine')}))",
]

ACCESS_SQL: list[str] = [
    "CREATE ROLE polylogue_reader NOLOGIN",
    "CREATE ROLE polylogue_pusher NOLOGIN",
    "CREATE ROLE polylogue_own_reader NOLOGIN",
    "GRANT USAGE ON SCHEMA public TO polylogue_reader, polylogue_pusher, polylogue_own_reader",
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO polylogue_reader, polylogue_pusher, polylogue_own_reader",
    "GRANT INSERT, UPDATE, DELETE ON conversations, messages, holders, sources, archives TO polylogue_pusher",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO polylogue_pusher",
    *[f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY" for t in TABLES],
    # everyone with SELECT reads every row, but the own-readers
    *[f"CREATE POLICY read_all ON {t} FOR SELECT TO polylogue_reader, polylogue_pusher USING (true)" for t in TABLES],
    "CREATE POLICY read_own ON conversations FOR SELECT TO polylogue_own_reader USING (owner = current_user)",
    "CREATE POLICY read_own ON messages FOR SELECT TO polylogue_own_reader USING (owner = current_user)",
    "CREATE POLICY read_own ON holders FOR SELECT TO polylogue_own_reader USING (owner = current_user)",
    "CREATE POLICY read_own ON sources FOR SELECT TO polylogue_own_reader USING (owner = current_user)",
    "CREATE POLICY read_own ON archives FOR SELECT TO polylogue_own_reader USING (owner = current_user)",
    # pushers: every row written carries a machine of theirs
    f"CREATE POLICY push_insert ON conversations FOR INSERT TO polylogue_pusher WITH CHECK ({OWN.format(col='conversations.machine')})",
    # USING (true): a newer copy of a conversation may be taken over (relabelled), never written in another's name
    "CREATE POLICY push_update ON conversations FOR UPDATE TO polylogue_pusher USING (true)"
    f" WITH CHECK ({OWN.format(col='conversations.machine')})",
    f"CREATE POLICY push_insert ON messages FOR INSERT TO polylogue_pusher WITH CHECK ({OWN.format(col='messages.machine')})",
    "CREATE POLICY push_delete ON messages FOR DELETE TO polylogue_pusher USING (EXISTS (SELECT 1 FROM conversations"
    f" c WHERE c.id = messages.conversation_id AND {OWN.format(col='c.machine')}))",
    *[
        f"CREATE POLICY push_own ON {t} FOR ALL TO polylogue_pusher USING ({OWN.format(col=t + '.machine')})"
        f" WITH CHECK ({OWN.format(col=t + '.machine')})"
        for t in ("holders", "sources", "archives")
    ],
    *USAGE_ACCESS_SQL,
]
