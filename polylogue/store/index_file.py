"""The index file itself (``index.db`` beside ``polylogue.db``): its tables, how
every connection attaches it (as ``idx``), and migration 9, which moved the
index there. What fills it is indexer.py."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

INDEX_NAME = "index.db"
SCHEMA = "idx"  # the index file's name on every connection that attaches it

MESSAGES_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS idx.messages_fts USING fts5("
    "text, thinking, tool_use, tool_result, content='', tokenize='unicode61 remove_diacritics 2')"
)
TITLES_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS idx.titles_fts USING fts5("
    "title, content='', tokenize='unicode61 remove_diacritics 2')"
)
TABLES = (
    MESSAGES_FTS,
    TITLES_FTS,
    "CREATE TABLE IF NOT EXISTS idx.index_state (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS idx.frequent_terms (term TEXT PRIMARY KEY) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS idx.term_totals (
        term TEXT NOT NULL,
        block INTEGER NOT NULL,
        messages INTEGER NOT NULL,
        conversations INTEGER NOT NULL,
        title_only INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (term, block)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS idx.term_totals_block ON term_totals(block)",
    "CREATE TABLE IF NOT EXISTS idx.term_convs ("
    "term TEXT NOT NULL, block INTEGER NOT NULL, counts BLOB NOT NULL, PRIMARY KEY (term, block)) WITHOUT ROWID",
)


def index_path(db: Path | str) -> Path:
    return Path(db).parent / INDEX_NAME


def attach(conn: sqlite3.Connection, db: Path | str, *, writable: bool) -> None:
    """Attach the index file of the archive ``db`` as ``idx`` (created 0600 when writable)."""
    from ..paths import open_private, sqlite_uri

    path = index_path(db)
    if writable and not path.exists():
        os.close(open_private(path))
    if not writable and not path.exists():
        attach_empty(conn)
        return
    if not writable:
        try:
            conn.execute("ATTACH DATABASE ? AS idx", (sqlite_uri(path, "ro"),))
            conn.execute("SELECT count(*) FROM idx.sqlite_master").fetchone()  # opens it (and its WAL index) now
        except sqlite3.OperationalError:
            # a folder this user cannot write: no WAL index can be made there; with no WAL to read,
            # the file holds everything and nobody writes it (as db.connect_readonly decides)
            detach(conn)
            wal = Path(f"{path}-wal")
            if wal.exists() and wal.stat().st_size:
                raise
            conn.execute("ATTACH DATABASE ? AS idx", (sqlite_uri(path, "ro") + "&immutable=1",))
        return
    conn.execute("ATTACH DATABASE ? AS idx", (sqlite_uri(path, "rw"),))
    if writable:
        conn.execute("PRAGMA idx.journal_mode = WAL")
        conn.execute("PRAGMA idx.synchronous = NORMAL")  # WAL: a crash keeps it consistent; a power cut may
        # lose the last commits, and with them the watermark: the next catch-up redoes them


def detach(conn: sqlite3.Connection) -> None:
    """Detach ``idx`` if it is attached (an ATTACH whose first read failed leaves it so)."""
    if any(name == SCHEMA for _, name, _ in conn.execute("PRAGMA database_list")):
        conn.execute("DETACH DATABASE idx")


def discard(db: Path | str) -> None:
    """Remove the index file (and its WAL and WAL index). Only under the sync lock:
    it is derived data, which the next catch-up rebuilds whole from the archive."""
    path = index_path(db)
    for name in (f"{path}-wal", f"{path}-shm", str(path)):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def damage_mark(db: Path | str) -> Path:
    return index_path(db).with_name(INDEX_NAME + ".damaged")


def mark_damaged(db: Path | str) -> None:
    """Leave word for the next sync that a reader found the index damaged deeper than
    a sync's first look reads (best effort: a read-only folder keeps no mark)."""
    from ..paths import open_private

    try:
        os.close(open_private(damage_mark(db)))
    except OSError:
        pass


def unindexed(conn: sqlite3.Connection) -> int:
    """How many of the archive's messages the index does not hold yet, in the
    caller's read transaction: those the log added past the index's watermark
    (a sync indexing them), or all of them (no index yet, or one that could not
    be opened: the next sync builds it)."""
    try:
        row = conn.execute("SELECT value FROM idx.index_state WHERE key = 'watermark'").fetchone()
        if row is None:
            return conn.execute("SELECT coalesce(sum(messages), 0) FROM main.provider_totals").fetchone()[0]
        return conn.execute(
            "SELECT coalesce(sum(n), 0) FROM main.index_log WHERE seq > ? AND n > 0", (int(row[0]),)
        ).fetchone()[0]
    except sqlite3.OperationalError:  # an archive older than the index file (read before its migration)
        return 0


def fell_back(conn: sqlite3.Connection, db: Path | str) -> bool:
    """Whether ``conn`` attached an empty index in place of the archive's index file,
    which exists but could not be opened (damaged, or not readable by this user)."""
    attached = next((f for _, name, f in conn.execute("PRAGMA database_list") if name == SCHEMA), None)
    return attached == "" and index_path(db).exists()


def attach_empty(conn: sqlite3.Connection) -> None:
    """An archive whose index was never made (or was deleted, or cannot be opened): an
    empty one in memory, so reads find nothing rather than fail; the next sync rebuilds it."""
    conn.execute("ATTACH DATABASE ':memory:' AS idx")
    for sql in TABLES:
        conn.execute(sql)


def create_tables(conn: sqlite3.Connection) -> None:
    """The index file's tables (inside the caller's transaction)."""
    for sql in TABLES:
        conn.execute(sql)


_MOVED_TABLES = ("frequent_terms", "term_totals", "term_convs")
_MOVED_KEYS = ("totals_chosen_at", "totals_version", "totals_prefix_last")


def move_index(conn: sqlite3.Connection) -> None:
    """Migration 9: the full-text indexes and the kept totals move from the archive
    into the index file (attached as ``idx`` by db.open_writer), copied as they are
    (FTS5's own tables, page for page: nothing is indexed again), and the archive
    gets the log the indexer follows. Both files in one transaction, which WAL does
    not make atomic across files: run again after a crash it starts over (the
    index's tables are dropped first), and an index left without its watermark
    is rebuilt from the archive by the next catch-up."""
    main = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    for fts in ("messages_fts", "titles_fts"):
        conn.execute(f"DROP TABLE IF EXISTS idx.{fts}")
    for table in (*_MOVED_TABLES, "index_state"):
        conn.execute(f"DROP TABLE IF EXISTS idx.{table}")
    create_tables(conn)
    moved = "messages_fts" in main
    for fts in ("messages_fts", "titles_fts"):
        if fts not in main:
            continue
        for shadow in ("data", "idx", "docsize", "config"):
            conn.execute(f"DELETE FROM idx.{fts}_{shadow}")
            conn.execute(f"INSERT INTO idx.{fts}_{shadow} SELECT * FROM main.{fts}_{shadow}")
        conn.execute(f"DROP TABLE main.{fts}")
    for table in _MOVED_TABLES:
        if table in main:
            cols = ", ".join(r[1] for r in conn.execute(f"PRAGMA main.table_info({table})"))
            conn.execute(f"INSERT INTO idx.{table}({cols}) SELECT {cols} FROM main.{table}")
            conn.execute(f"DROP TABLE main.{table}")
    marks = ",".join("?" * len(_MOVED_KEYS))
    conn.execute(
        f"INSERT INTO idx.index_state(key, value) SELECT key, value FROM main.meta WHERE key IN ({marks})", _MOVED_KEYS
    )
    conn.execute(f"DELETE FROM main.meta WHERE key IN ({marks})", _MOVED_KEYS)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS main.index_log ("
        "seq INTEGER PRIMARY KEY AUTOINCREMENT, lo INTEGER NOT NULL, n INTEGER NOT NULL, gone BLOB)"
    )
    if moved:  # else the index is not in either file (a run cut short before): no watermark, rebuilt whole
        conn.execute("INSERT OR REPLACE INTO idx.index_state(key, value) VALUES ('watermark', 0)")
