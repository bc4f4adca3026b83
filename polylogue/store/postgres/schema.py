"""The server schema and its numbered migrations (``polylogue_schema.version``).

It mirrors the SQLite model (store/schema.py): conversations, their messages,
and the input files (sources) as reference data. The differences are what a
shared archive needs:

- every row carries the ``machine`` that pushed it, the ``archive_id`` of the
  local archive it came from and the ``owner`` (the PostgreSQL role that pushed
  it: ``user:`` in the query language);
- a conversation is keyed on its uid (provider:provider_id), so the same
  conversation pushed from two machines is one row; ``holders`` records every
  (machine, archive) holding it, with the hash of its copy (what an incremental
  push compares);
- message text is stored as plain JSON text (the block list), not in the
  local zstd codec: the server compresses it itself (TOAST) and any SQL client
  can read it;
- full-text search is a tsvector per message (one weight per search kind:
  A text, B thinking, C tool input, D tool output) with a GIN index, built from
  index text cut by our tokenizer (index_text.py); titles likewise.

Never edit a released migration: add one."""

from __future__ import annotations

from typing import Any

from ..usage import LANES, SUMS

# the kinds' weights, in FTS_COLUMNS order (text, thinking, tool_use, tool_result)
WEIGHTS = "ABCD"

MIGRATIONS: list[list[str]] = [
    # 1: the foundation
    [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        """CREATE TABLE archives (
            archive_id text PRIMARY KEY,
            machine text NOT NULL,
            owner text NOT NULL DEFAULT current_user,
            first_push timestamptz NOT NULL DEFAULT now(),
            last_push timestamptz
        )""",
        # which PostgreSQL roles may write as which machine (the pushers' row-level security)
        """CREATE TABLE machine_roles (
            machine text NOT NULL,
            role text NOT NULL,
            PRIMARY KEY (machine, role)
        )""",
        """CREATE TABLE conversations (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            uid text NOT NULL UNIQUE,
            provider text NOT NULL,
            provider_id text NOT NULL,
            title text,
            created_at bigint,
            updated_at bigint,
            parent_uid text,
            project text,
            models text,
            meta text,
            message_count integer NOT NULL DEFAULT 0,
            features integer NOT NULL DEFAULT 0,
            input_tokens bigint NOT NULL DEFAULT 0,
            output_tokens bigint NOT NULL DEFAULT 0,
            hash bigint NOT NULL,
            first_ts bigint,
            last_ts bigint,
            source_path text,
            title_tsv tsvector,
            machine text NOT NULL,
            archive_id text NOT NULL,
            owner text NOT NULL DEFAULT current_user,
            pushed_at timestamptz NOT NULL DEFAULT now()
        )""",
        "CREATE INDEX conversations_updated ON conversations(updated_at DESC, id DESC)",
        "CREATE INDEX conversations_provider ON conversations(provider, updated_at)",
        "CREATE INDEX conversations_time ON conversations(first_ts, last_ts)",
        "CREATE INDEX conversations_parent ON conversations(parent_uid) WHERE parent_uid IS NOT NULL",
        "CREATE INDEX conversations_title_tsv ON conversations USING gin(title_tsv)",
        # project:, model: and id: are substring and prefix filters: trigrams serve them
        "CREATE INDEX conversations_project_trgm ON conversations USING gin(project gin_trgm_ops)",
        "CREATE INDEX conversations_models_trgm ON conversations USING gin(models gin_trgm_ops)",
        "CREATE INDEX conversations_uid_trgm ON conversations USING gin(uid gin_trgm_ops)",
        "CREATE INDEX conversations_machine ON conversations(machine)",
        "CREATE INDEX conversations_owner ON conversations(owner)",
        """CREATE TABLE holders (
            conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            machine text NOT NULL,
            archive_id text NOT NULL,
            hash bigint NOT NULL,
            owner text NOT NULL DEFAULT current_user,
            pushed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (conversation_id, archive_id)
        )""",
        "CREATE INDEX holders_archive ON holders(archive_id)",
        """CREATE TABLE messages (
            conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq integer NOT NULL,
            mid text NOT NULL,
            parent_mid text,
            role text NOT NULL,
            timestamp bigint,
            flags integer NOT NULL DEFAULT 0,
            model text,
            usage text,
            meta text,
            content text NOT NULL,
            kinds smallint NOT NULL DEFAULT 0,
            tsv tsvector NOT NULL,
            machine text NOT NULL,
            archive_id text NOT NULL,
            owner text NOT NULL DEFAULT current_user,
            PRIMARY KEY (conversation_id, seq)
        )""",
        "CREATE INDEX messages_tsv ON messages USING gin(tsv)",
        # lz4 compresses message text several times faster than the default pglz (a server
        # built without lz4 keeps pglz)
        """DO $$ BEGIN
            ALTER TABLE messages ALTER COLUMN content SET COMPRESSION lz4;
            ALTER TABLE messages ALTER COLUMN tsv SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL; END $$""",
        # input files, per archive: reference data (a Citus reference table)
        """CREATE TABLE sources (
            archive_id text NOT NULL,
            path text NOT NULL,
            provider text,
            size bigint,
            mtime_ns bigint,
            status text NOT NULL,
            conversations integer NOT NULL DEFAULT 0,
            synced_at bigint,
            machine text NOT NULL,
            owner text NOT NULL DEFAULT current_user,
            PRIMARY KEY (archive_id, path)
        )""",
    ],
    # 2: the usage ledger (store/usage.py's, docs/usage.md), pushed with the conversations
    [
        # one row per holder of a response, as the local ledger: a message (pos: its slot in
        # the conversation, the local rowid's low bits, so holders sort as locally) or a
        # conversation's session-level entry (pos < 0). A keyed response held by several
        # conversations (machines, forks, resumed sessions) counts once: its first holder by
        # (conversation_id, pos). Replaced with its conversation's messages, never appended.
        f"""CREATE TABLE usage_ledger (
            conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            pos integer NOT NULL,
            provider text NOT NULL,
            key text,
            ts bigint,
            model text NOT NULL,
            tier text NOT NULL,
            long_ctx smallint NOT NULL,
            project text NOT NULL,
            approximate smallint NOT NULL,
            {", ".join(f"{lane} bigint NOT NULL" for lane in LANES)},
            machine text NOT NULL,
            archive_id text NOT NULL,
            owner text NOT NULL DEFAULT current_user,
            PRIMARY KEY (conversation_id, pos)
        )""",
        "CREATE INDEX usage_ledger_key ON usage_ledger(provider, key, conversation_id, pos) WHERE key IS NOT NULL",
        # the totals usage reports read (polylogue/usage.py), kept exact by every push as the
        # local writer keeps them: the same tables, the same keys (conversation_id: the server's)
        f"""CREATE TABLE usage_rollup (
            span smallint NOT NULL,
            slot smallint NOT NULL,
            day bigint NOT NULL,
            model text NOT NULL,
            tier text NOT NULL,
            long_ctx smallint NOT NULL,
            level smallint NOT NULL,
            provider text NOT NULL,
            project text NOT NULL,
            {", ".join(f"{s} bigint NOT NULL" for s in SUMS)},
            PRIMARY KEY (span, slot, day, model, tier, long_ctx, level, provider, project)
        )""",
        f"""CREATE TABLE usage_conversation (
            conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            model text NOT NULL,
            tier text NOT NULL,
            long_ctx smallint NOT NULL,
            level smallint NOT NULL,
            {", ".join(f"{s} bigint NOT NULL" for s in SUMS)},
            PRIMARY KEY (conversation_id, model, tier, long_ctx, level)
        )""",
        # whether an archive's ledger is on the server: one pushed before this migration
        # sends the ledger of the conversations it already holds once (push.py)
        "ALTER TABLE archives ADD COLUMN usage_pushed boolean NOT NULL DEFAULT false",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
LOCK_KEY = 0x706F6C79  # the advisory lock that serialises migrations ("poly")


def migrate(conn: Any) -> int:
    """Bring the server's schema to SCHEMA_VERSION (each migration one
    transaction, under an advisory lock so two pushers never race); the version
    it started at. ``conn``: a psycopg connection (autocommit). A current schema
    is only read: a pusher role, which may not create tables, pushes into it."""
    current = version(conn)
    if current == SCHEMA_VERSION:
        return current
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS polylogue_schema (version integer NOT NULL)")
        row = conn.execute("SELECT version FROM polylogue_schema").fetchone()
        if row is None:
            conn.execute("INSERT INTO polylogue_schema VALUES (0)")
        start = row[0] if row else 0
        if start > SCHEMA_VERSION:
            from ...errors import ArchiveTooNew

            raise ArchiveTooNew(
                f"the server's schema v{start} is newer than this polylogue (v{SCHEMA_VERSION}); upgrade polylogue"
            )
        for v in range(start, SCHEMA_VERSION):
            for step in MIGRATIONS[v]:
                conn.execute(step)
            conn.execute("UPDATE polylogue_schema SET version = %s", (v + 1,))
    return start


def version(conn: Any) -> int:
    """The server's schema version (0: no polylogue schema there)."""
    row = conn.execute("SELECT to_regclass('polylogue_schema')").fetchone()
    if row[0] is None:
        return 0
    got = conn.execute("SELECT version FROM polylogue_schema").fetchone()
    return got[0] if got else 0
