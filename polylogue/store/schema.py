"""Schema and numbered migrations. ``PRAGMA user_version`` is the schema version.

Each migration is a list of statements applied in one transaction. Never edit
a released migration: add a new one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from . import index_file, privacy_schema, upgrade, usage_schema

# first_ts/last_ts: the first and last message time of a conversation (a message without
# a timestamp has its conversation's updated_at; NULL when no message has a time)
TIME_BOUNDS = """(first_ts, last_ts) = (
    SELECT min(coalesce(m.timestamp, conversations.updated_at)), max(coalesce(m.timestamp, conversations.updated_at))
    FROM messages m WHERE m.conversation_id = conversations.id)"""

# A step is SQL, or a function of the connection for what SQL cannot say (store/upgrade.py)
MIGRATIONS: list[list[str | Callable[[sqlite3.Connection], None]]] = [
    # 1: the foundation
    [
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID""",
        # Input files seen by sync; the unit of change detection.
        """CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            provider TEXT,
            size INTEGER,
            mtime_ns INTEGER,
            hash BLOB,
            status TEXT NOT NULL,
            error TEXT,
            conversations INTEGER NOT NULL DEFAULT 0,
            synced_at INTEGER
        )""",
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            provider TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            title TEXT,
            created_at INTEGER,
            updated_at INTEGER,
            source_id INTEGER,
            parent_uid TEXT,
            project TEXT,
            models TEXT,
            meta TEXT,
            message_count INTEGER NOT NULL DEFAULT 0,
            features INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            hash INTEGER NOT NULL,
            imported_at INTEGER NOT NULL,
            next_message INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX conversations_updated ON conversations(updated_at)",
        "CREATE INDEX conversations_provider_updated ON conversations(provider, updated_at)",
        "CREATE INDEX conversations_parent ON conversations(parent_uid) WHERE parent_uid IS NOT NULL",
        "CREATE INDEX conversations_source ON conversations(source_id)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            mid TEXT NOT NULL,
            parent_mid TEXT,
            role TEXT NOT NULL,
            timestamp INTEGER,
            flags INTEGER NOT NULL DEFAULT 0,
            model TEXT,
            usage TEXT,
            meta TEXT,
            content BLOB NOT NULL,
            hash INTEGER NOT NULL
        )""",
        # the ordered load of a conversation, and the diff of a changed
        # conversation. A covering (mid, hash) index is not needed: an
        # unchanged conversation is recognised by conversations.hash through the
        # uid index without reading any message, and only changed ones are diffed
        # (the index kept 50 bytes per message for that: 6% of the archive)
        "CREATE INDEX messages_conversation ON messages(conversation_id, seq)",
        # per-provider totals kept by the writer: stats never scans
        """CREATE TABLE provider_totals (
            provider TEXT PRIMARY KEY,
            conversations INTEGER NOT NULL DEFAULT 0,
            messages INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID""",
        # contentless full-text index, one row per message (rowid = messages.id),
        # one column per search kind; text lives only in messages.content
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            text, thinking, tool_use, tool_result,
            content='', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE VIRTUAL TABLE titles_fts USING fts5(
            title, content='', tokenize='unicode61 remove_diacritics 2'
        )""",
        "INSERT INTO meta(key, value) VALUES ('generation', 0)",
    ],
    # 2: compression dictionaries, trained on the archive's own messages. Its first step
    # brings an archive written by version-1 code to what migration 1 makes today (the
    # message rowid rule, next_message, today's hashes); a no-op on any other archive.
    # It lives here, not in a migration of its own, so the schema version stays where
    # older code can still open the archive (tests/test_migrations.py).
    [
        upgrade.adopt_v1_archive,
        """CREATE TABLE zstd_dicts (
            id INTEGER PRIMARY KEY,
            data BLOB NOT NULL,
            samples INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        )""",
    ],
    # 3: the time span of each conversation's messages, so since:/until: decide whole
    # conversations without looking up each matching message
    [
        "ALTER TABLE conversations ADD COLUMN first_ts INTEGER",
        "ALTER TABLE conversations ADD COLUMN last_ts INTEGER",
        "UPDATE conversations SET " + TIME_BOUNDS,
        "CREATE INDEX conversations_time ON conversations(first_ts, last_ts, updated_at)",
        # the newest-first walks of search read the span from the index, not the (wide) rows
        "DROP INDEX conversations_updated",
        "CREATE INDEX conversations_updated ON conversations(updated_at, first_ts, last_ts)",
        "DROP INDEX conversations_provider_updated",
        "CREATE INDEX conversations_provider_updated ON conversations(provider, updated_at, first_ts, last_ts)",
    ],
    # 4: exact totals of the most frequent words, counted ahead per block of conversations
    # (store/totals.py); the writer drops a block's rows when it changes a message there
    [
        "CREATE TABLE frequent_terms (term TEXT PRIMARY KEY) WITHOUT ROWID",
        """CREATE TABLE term_totals (
            term TEXT NOT NULL,
            block INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            conversations INTEGER NOT NULL,
            PRIMARY KEY (term, block)
        ) WITHOUT ROWID""",
        "CREATE INDEX term_totals_block ON term_totals(block)",
    ],
    # 5: every problem of each input file's last read (sources.error keeps the first few
    # as one line): a sync that skips an unchanged file still reports them, and
    # `polylogue sources` lists them. Written with the file's sources row.
    [
        """CREATE TABLE source_problems (
            source_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            path TEXT NOT NULL,
            line INTEGER,
            problem TEXT NOT NULL,
            PRIMARY KEY (source_id, seq)
        ) WITHOUT ROWID""",
        # what older code kept of them: the joined first problems
        "INSERT INTO source_problems(source_id, seq, path, line, problem) SELECT id, 0, path, NULL, error"
        " FROM sources WHERE status IN ('partial', 'failed') AND error IS NOT NULL",
    ],
    # 6: kept totals count a word with its other forms (a new key) and the conversations
    # matching it by title alone (whole-conversation search): the old counts are dropped,
    # and the sync that migrates counts them again
    [
        lambda conn: _add_column(conn, "term_totals", "title_only", "INTEGER NOT NULL DEFAULT 0"),
        "DELETE FROM term_totals",
    ],
    # 7: the usage ledger: each API response's tokens once, and the totals usage reports read
    usage_schema.STEPS,
    # 8: privacy: tombstones of forgotten conversations and of redacted spans
    privacy_schema.STEPS,
    # 9: the full-text index and the kept word totals move to their own file, index.db, built by a
    # second process from the log the writer keeps here (store/indexer.py; docs/architecture.md)
    [index_file.move_index],
]


def _add_column(conn: sqlite3.Connection, table: str, column: str, decl: str) -> None:
    """ALTER TABLE ADD COLUMN, unless the column is there (an archive whose version
    was set back by hand, as tests do to replay a migration)."""
    if not any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})")):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it started at."""
    start = conn.execute("PRAGMA user_version").fetchone()[0]
    if start > SCHEMA_VERSION:
        raise _too_new(start)
    if start == SCHEMA_VERSION:
        return start
    # a migration may write the index file too (9 moves the index there); it is attached for
    # them alone: the writer never keeps it, its BEGIN IMMEDIATE would lock the indexer out
    attached = any(name == "idx" for _, name, _ in conn.execute("PRAGMA database_list"))
    if not attached:
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        if path:
            index_file.attach(conn, path, writable=True)
        else:
            conn.execute("ATTACH DATABASE ':memory:' AS idx")
    try:
        _steps(conn, start)
    finally:
        if not attached:
            conn.execute("DETACH DATABASE idx")
    return start


def _steps(conn: sqlite3.Connection, start: int) -> None:
    for version in range(start, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step in MIGRATIONS[version]:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _too_new(version: int) -> Exception:
    from ..errors import ArchiveTooNew

    return ArchiveTooNew(
        f"archive schema v{version} is newer than this polylogue (v{SCHEMA_VERSION}); upgrade polylogue"
    )


def require_readable(version: int, home: object) -> None:
    """Reads need an archive at SCHEMA_VERSION. They never make or migrate one:
    version 0 is a file no sync has set up yet, an older version waits for a sync."""
    from ..errors import ArchiveMissing, ArchiveNeedsUpgrade

    if version == 0:
        raise ArchiveMissing(home)
    if version < SCHEMA_VERSION:
        raise ArchiveNeedsUpgrade(home, version, SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise _too_new(version)
