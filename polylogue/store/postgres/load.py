"""The server side of a push: one batch of conversations and their messages,
bulk-copied into temporary staging tables and upserted in ONE transaction.

A batch either lands whole or not at all, so a push killed at any point
(SIGKILL included) leaves the server as it was after its last committed batch,
and the next push sends only what the server does not hold yet (``held``).
Re-sending a batch is harmless: a conversation whose hash the server already
has is left alone, and a changed one has its messages replaced, never added to.

The same conversation (uid) from two machines is one row. The newer copy wins
(later update time, then more messages); every machine and archive holding a
copy is a row of ``holders``, with the hash of its copy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..usage import DAY_MS, LANES, QUARTER_MS, SPANS, SUMS, UNKNOWN_DAY
from .index_text import SEP

CONV_FIELDS = (
    "uid",
    "provider",
    "provider_id",
    "title",
    "created_at",
    "updated_at",
    "parent_uid",
    "project",
    "models",
    "meta",
    "message_count",
    "features",
    "input_tokens",
    "output_tokens",
    "hash",
    "first_ts",
    "last_ts",
    "source_path",
)
MSG_FIELDS = (
    "conversation_id",
    "seq",
    "mid",
    "parent_mid",
    "role",
    "timestamp",
    "flags",
    "model",
    "usage",
    "meta",
    "content",
    "kinds",
)
# a usage ledger row as staged: the local row of one holder (store/usage.py), its
# conversation by uid, ``pos`` its place in the conversation (push.py)
USAGE_FIELDS = ("pos", "provider", "key", "ts", "model", "tier", "long_ctx", "project", "approximate", *LANES)
SOURCE_FIELDS = ("path", "provider", "size", "mtime_ns", "status", "conversations", "synced_at")

# A message's tsvector: the four search kinds' index text, each with a separator lexeme
# appended (`||` numbers the right tsvector's words on from the left's last, so without it
# a phrase could run from the end of one kind into the next), made into a tsvector with
# its kind's weight, concatenated, the separator deleted. Our lexemes never hold a space,
# so 'u8x20' (a space, hex-encoded) is never a word of ours. A push does not ask the server
# for this (a quarter of its work on a first push): it sends the result already made
# (index_text.tsvector_text, the same tsvector: tests/test_pg_tsvector.py), and the server
# only reads it. TSV_SQL is the definition that is tested against.
_KIND_TSV = " || ".join(f"setweight(to_tsvector('simple', s.t{i} || ' {SEP}'), '{w}')" for i, w in enumerate("ABCD"))
TSV_SQL = f"ts_delete({_KIND_TSV}, '{SEP}')"


def _create_stage(conn: Any) -> None:
    """The staging tables (temporary: this session's, emptied at each commit)."""
    conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS stage_conv (
            uid text, provider text, provider_id text, title text, created_at bigint, updated_at bigint,
            parent_uid text, project text, models text, meta text, message_count integer, features integer,
            input_tokens bigint, output_tokens bigint, hash bigint, first_ts bigint, last_ts bigint,
            source_path text, title_idx text
        ) ON COMMIT DELETE ROWS"""
    )
    conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS stage_msg (
            uid text, seq integer, mid text, parent_mid text, role text, timestamp bigint, flags integer,
            model text, usage text, meta text, content text, kinds smallint, tsv text
        ) ON COMMIT DELETE ROWS"""
    )
    conn.execute(
        f"""CREATE TEMP TABLE IF NOT EXISTS stage_usage (
            uid text, pos integer, provider text, key text, ts bigint, model text, tier text, long_ctx smallint,
            project text, approximate smallint, {", ".join(f"{lane} bigint" for lane in LANES)}
        ) ON COMMIT DELETE ROWS"""
    )
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS stage_written (id bigint, uid text) ON COMMIT DELETE ROWS")


def register(conn: Any, machine: str, archive_id: str) -> tuple[dict[str, int], bool]:
    """Record this archive (and its machine) on the server; what it holds of this
    archive already (uid -> hash of the copy pushed), and whether the ledger of what
    it holds is there (False: an archive pushed before the server had a usage ledger,
    whose held conversations push_usage must send once)."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO archives (archive_id, machine) VALUES (%s, %s)"
            " ON CONFLICT (archive_id) DO UPDATE SET machine = EXCLUDED.machine",
            (archive_id, machine),
        )
    rows = conn.execute(
        "SELECT c.uid, h.hash FROM holders h JOIN conversations c ON c.id = h.conversation_id WHERE h.archive_id = %s",
        (archive_id,),
    )
    held = dict(rows.fetchall())
    pushed = conn.execute("SELECT usage_pushed FROM archives WHERE archive_id = %s", (archive_id,)).fetchone()[0]
    if not pushed and not held:  # nothing held yet: every conversation goes with its ledger
        usage_pushed(conn, archive_id)
        pushed = True
    return held, pushed


def usage_pushed(conn: Any, archive_id: str) -> None:
    conn.execute("UPDATE archives SET usage_pushed = true WHERE archive_id = %s", (archive_id,))


def push_batch(
    conn: Any,
    machine: str,
    archive_id: str,
    conversations: Sequence[tuple],
    messages: Iterable[tuple],
    usage: Iterable[tuple] = (),
) -> int:
    """Upsert one batch in one transaction. ``conversations``: rows of CONV_FIELDS
    + title index text; ``messages``: rows of (uid, seq, ... MSG_FIELDS[1:], tsvector text);
    ``usage``: the conversations' ledger rows, (uid, *USAGE_FIELDS).
    Returns how many conversations were written (new or newer)."""
    with conn.transaction():
        _create_stage(conn)
        cur = conn.cursor()
        with cur.copy(f"COPY stage_conv ({', '.join(CONV_FIELDS)}, title_idx) FROM STDIN") as cp:
            for row in conversations:
                cp.write_row(row)
        with cur.copy(f"COPY stage_msg (uid, {', '.join(MSG_FIELDS[1:])}, tsv) FROM STDIN") as cp:
            for row in messages:
                cp.write_row(row)
        staged = _copy_usage(cur, usage)
        cols = ", ".join(CONV_FIELDS)
        updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in CONV_FIELDS if f != "uid")
        # newer or first: a copy older than the server's never overwrites it
        written = cur.execute(
            f"""INSERT INTO conversations ({cols}, title_tsv, machine, archive_id)
            SELECT {cols}, to_tsvector('simple', s.title_idx), %(machine)s, %(archive)s FROM stage_conv s
            ON CONFLICT (uid) DO UPDATE SET {updates}, title_tsv = EXCLUDED.title_tsv,
                machine = EXCLUDED.machine, archive_id = EXCLUDED.archive_id, owner = current_user, pushed_at = now()
            WHERE conversations.hash <> EXCLUDED.hash
              AND (coalesce(EXCLUDED.updated_at, 0), EXCLUDED.message_count)
                  >= (coalesce(conversations.updated_at, 0), conversations.message_count)
            RETURNING id, uid""",
            {"machine": machine, "archive": archive_id},
        ).fetchall()
        if written:
            ids = [r[0] for r in written]
            cur.execute("DELETE FROM messages WHERE conversation_id = ANY(%s)", (ids,))
            with cur.copy("COPY stage_written (id, uid) FROM STDIN") as cp:
                for row in written:
                    cp.write_row(row)
            mcols = ", ".join(MSG_FIELDS)
            cur.execute(
                f"""INSERT INTO messages ({mcols}, tsv, machine, archive_id)
                SELECT w.id, {", ".join("s." + f for f in MSG_FIELDS[1:])}, s.tsv::tsvector, %(machine)s, %(archive)s
                FROM stage_msg s JOIN stage_written w ON w.uid = s.uid""",
                {"machine": machine, "archive": archive_id},
            )
            _replace_usage(cur, machine, archive_id, staged)
        cur.execute(
            """INSERT INTO holders (conversation_id, machine, archive_id, hash)
            SELECT c.id, %(machine)s, %(archive)s, s.hash FROM stage_conv s JOIN conversations c ON c.uid = s.uid
            ON CONFLICT (conversation_id, archive_id) DO UPDATE SET hash = EXCLUDED.hash,
                machine = EXCLUDED.machine, owner = current_user, pushed_at = now()""",
            {"machine": machine, "archive": archive_id},
        )
        cur.execute("UPDATE archives SET last_push = now() WHERE archive_id = %s", (archive_id,))
    return len(written)


def push_usage(
    conn: Any, machine: str, archive_id: str, held: Sequence[tuple[str, int]], usage: Iterable[tuple]
) -> int:
    """The ledger rows of conversations the server holds already (``held``: (uid, hash)),
    for an archive pushed before the server kept a ledger: each replaces the ledger of
    its conversation where the server's copy is this one (same hash), in one
    transaction (only the conversations this archive wrote: the copy it labels). How
    many conversations had their ledger replaced."""
    with conn.transaction():
        _create_stage(conn)
        cur = conn.cursor()
        staged = _copy_usage(cur, usage)
        cur.execute(
            """INSERT INTO stage_written (id, uid) SELECT c.id, c.uid FROM conversations c
            JOIN unnest(%s::text[], %s::bigint[]) AS h(uid, hash) ON c.uid = h.uid AND c.hash = h.hash
            WHERE c.archive_id = %s""",
            ([u for u, _ in held], [h for _, h in held], archive_id),
        )
        n = cur.execute("SELECT count(*) FROM stage_written").fetchone()[0]
        if n:
            _replace_usage(cur, machine, archive_id, staged)
    return n


def _copy_usage(cur: Any, usage: Iterable[tuple]) -> int:
    n = 0
    with cur.copy(f"COPY stage_usage (uid, {', '.join(USAGE_FIELDS)}) FROM STDIN") as cp:
        for row in usage:
            cp.write_row(row)
            n += 1
    return n


USAGE_LOCK = 0x706F6C75  # serialises the ledger's counting among concurrent pushers ("polu")
_LEDGER = ("conversation_id", "pos", "provider", "ts", "model", "tier", "long_ctx", "project", "approximate", *LANES)
_L_COLS = ", ".join(_LEDGER)
_FIRST_HOLDERS = (
    f"SELECT DISTINCT ON (l.provider, l.key) {', '.join('l.' + c for c in _LEDGER)}, {{sign}} FROM usage_ledger l"
    " JOIN stage_keys k ON l.provider = k.provider AND l.key = k.key ORDER BY l.provider, l.key, l.conversation_id, l.pos"
)
_ROLLUP_KEY = ("span", "slot", "day", "model", "tier", "long_ctx", "level", "provider", "project")
_CONV_KEY = ("conversation_id", "model", "tier", "long_ctx", "level")
_SIGNED = ", ".join(["sum(sign)", "sum(sign * approximate)", *(f"sum(sign * {lane})" for lane in LANES)])
# each changed holder in its UTC day and quarter-hour, as store/usage.py's Ledger sums it
_DELTA = (
    f"SELECT d.*, CASE WHEN ts IS NULL THEN {UNKNOWN_DAY} ELSE floor(ts / {DAY_MS}::numeric)::bigint END AS day,"
    " (pos < 0)::int AS level FROM stage_delta d"
)
_QUARTER = f"(ts - day * {DAY_MS}) / {QUARTER_MS}"


def _upsert(table: str, key: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(key)}, {', '.join(SUMS)}) SELECT * FROM stage_{table}"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(f"{s} = {table}.{s} + EXCLUDED.{s}" for s in SUMS)
    )


def _replace_usage(cur: Any, machine: str, archive_id: str, staged: int) -> None:
    """The ledger of the conversations in stage_written replaced by the staged rows, and
    the kept totals (usage_rollup, usage_conversation) moved by the difference, inside the
    caller's transaction. A keyed response counts once, by its first holder: the first
    holders of every key that changes are read before and after (under an advisory lock,
    so two pushers never count the same key from stale reads), and the totals lose the
    former and gain the latter; an unkeyed holder always counts."""
    # a temp table has no statistics: without them the planner scans the whole ledger for
    # each batch (a first push's cost grew with the square of its size)
    cur.execute("ANALYZE stage_written")
    # the batch's conversations as an array: an index probe each, whatever the planner
    # believes of the ledger's size mid-push (a join could scan it whole at every batch)
    mine = "conversation_id = ANY(ARRAY(SELECT id FROM stage_written))"
    old = cur.execute(f"SELECT EXISTS (SELECT 1 FROM usage_ledger WHERE {mine})").fetchone()[0]
    if not staged and not old:
        return
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (USAGE_LOCK,))
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS stage_keys (provider text, key text) ON COMMIT DELETE ROWS")
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS stage_delta ON COMMIT DELETE ROWS AS SELECT {_L_COLS}, 0 AS sign"
        " FROM usage_ledger WITH NO DATA"
    )
    cur.execute(
        f"""INSERT INTO stage_keys SELECT provider, key FROM usage_ledger WHERE {mine} AND key IS NOT NULL
        UNION SELECT s.provider, s.key FROM stage_usage s JOIN stage_written w ON w.uid = s.uid WHERE s.key IS NOT NULL"""
    )
    cur.execute("ANALYZE stage_keys")  # a temp table has no statistics: else the planner may scan the ledger
    for sign in (-1, 1):
        if sign == 1:  # the old rows go, the new come
            cur.execute(f"DELETE FROM usage_ledger WHERE {mine}")
            cur.execute(
                f"""INSERT INTO usage_ledger (conversation_id, {", ".join(USAGE_FIELDS)}, machine, archive_id)
                SELECT w.id, {", ".join("s." + f for f in USAGE_FIELDS)}, %s, %s
                FROM stage_usage s JOIN stage_written w ON w.uid = s.uid""",
                (machine, archive_id),
            )
        cur.execute(f"INSERT INTO stage_delta SELECT {_L_COLS}, {sign} FROM usage_ledger WHERE {mine} AND key IS NULL")
        cur.execute("INSERT INTO stage_delta " + _FIRST_HOLDERS.format(sign=sign))
    for table, key, grouped in (
        (
            "usage_rollup",
            _ROLLUP_KEY,
            f"SELECT sp.span, CASE WHEN ts IS NULL THEN 0 ELSE {_QUARTER} / sp.span END, day, model, tier, long_ctx,"
            f" level, provider, project, {_SIGNED} FROM ({_DELTA}) d"
            f" JOIN (VALUES {', '.join(f'({s})' for s in SPANS)}) sp(span) ON ts IS NOT NULL OR sp.span = 96"
            " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
        ),
        (
            "usage_conversation",
            _CONV_KEY,
            f"SELECT conversation_id, model, tier, long_ctx, level, {_SIGNED} FROM ({_DELTA}) d GROUP BY 1, 2, 3, 4, 5",
        ),
    ):
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} ON COMMIT DELETE ROWS AS SELECT * FROM {table} WITH NO DATA"
        )
        cur.execute(f"INSERT INTO stage_{table} {grouped}")
        cur.execute(_upsert(table, key))
        # a block whose last response went keeps no row of zeros (as locally)
        match = " AND ".join(f"t.{k} = s.{k}" for k in key)
        cur.execute(f"DELETE FROM {table} t USING stage_{table} s WHERE {match} AND t.responses = 0")


def push_sources(conn: Any, machine: str, archive_id: str, rows: Sequence[tuple]) -> None:
    """The archive's input files (reference data), replaced whole in one
    transaction (through a staging table: COPY cannot write a table under row-level security)."""
    cols = ", ".join(SOURCE_FIELDS)
    with conn.transaction():
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS stage_src (path text, provider text, size bigint, mtime_ns bigint,"
            " status text, conversations integer, synced_at bigint) ON COMMIT DELETE ROWS"
        )
        with conn.cursor().copy(f"COPY stage_src ({cols}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        conn.execute("DELETE FROM sources WHERE archive_id = %s", (archive_id,))
        conn.execute(
            f"INSERT INTO sources (archive_id, machine, {cols}) SELECT %s, %s, {cols} FROM stage_src",
            (archive_id, machine),
        )


BULK_LOCK = 0x706F6C62  # held by the one push that loads without the message index ("polb")
BULK_MIN = 100_000  # messages: below this a push keeps the index (its upkeep costs less than a rebuild)


def bulk_begin(conn: Any, incoming: int) -> bool:
    """Drop the message index for a push that brings more messages than the
    server holds (a first push): building a GIN index once costs a fraction of
    keeping it up row by row. Only the table's owner may, one push at a time
    (an advisory lock); True when this push must call bulk_end. A bulk push
    killed midway leaves the index missing: the next push by the owner builds it
    (here), and searches meanwhile are slower, never wrong."""
    got, owner, rows = conn.execute(
        "SELECT pg_try_advisory_lock(%s), (SELECT tableowner = current_user FROM pg_tables"
        " WHERE schemaname = current_schema() AND tablename = 'messages'),"
        " (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'messages'::regclass)",
        (BULK_LOCK,),
    ).fetchone()
    if not got:
        return False
    if owner and incoming >= BULK_MIN and incoming > rows:
        conn.execute("DROP INDEX IF EXISTS messages_tsv")
        return True
    if owner:
        _build_index(conn)
    conn.execute("SELECT pg_advisory_unlock(%s)", (BULK_LOCK,))
    return False


def bulk_end(conn: Any) -> None:
    _build_index(conn)
    conn.execute("SELECT pg_advisory_unlock(%s)", (BULK_LOCK,))


def _build_index(conn: Any) -> None:
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("CREATE INDEX IF NOT EXISTS messages_tsv ON messages USING gin(tsv)")
    conn.execute("RESET maintenance_work_mem")
