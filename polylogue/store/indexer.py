"""The full-text index in a file of its own (``index.db`` beside ``polylogue.db``),
built from what the writer commits (issue 27, docs/architecture.md "The index
file").

The writer never touches the index. With each batch it appends to
``index_log`` (in the archive) what the index must follow:

- ``n > 0``: messages inserted with rowids ``lo .. lo + n - 1``;
- ``n = 0``: message ``lo`` deleted (or about to be rewritten), ``gone`` its
  stored content as it was (a contentless FTS5 delete replays the old values);
- ``n = -1``: the title of the conversation of rowid ``lo`` changed, ``gone``
  the old title (NULL: none).

``catch_up`` applies every entry past the index's watermark in one
transaction of the index file, which records the new watermark with them: a
crash of either process leaves a consistent pair (the index at watermark W,
the archive's log saying what came after W). It reads the archive in one
snapshot and brings the index to that snapshot exactly: for each message or
title touched since W, the first deletion entry names what the index holds
(the state as of W), and what the snapshot holds is what it must hold now.

Everything a search reads about words lives in the index file, in that one
snapshot: ``messages_fts``, ``titles_fts`` and the kept totals
(``term_totals``, ``term_convs``, ``frequent_terms``), whose blocks
``catch_up`` drops in the same transaction as it changes them. So search sees
exactly the messages indexed, with exact totals, and a message is hidden from
it until it is indexed (never a hit without its index entry).

An index file with no watermark (deleted, or never made) is rebuilt whole
from the archive at the next catch-up: nothing in it is not derived."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..procs import name_process, trim_heap
from . import codec
from .encode import fts_values
from .ids import MESSAGE_ID_BITS
from .index_file import attach, create_tables, index_path

__all__ = ["attach", "index_path"]  # (what callers of the index know it by)

T = TypeVar("T")

_INSERT_FTS = "INSERT INTO idx.messages_fts(rowid, text, thinking, tool_use, tool_result) VALUES (?,?,?,?,?)"
_DELETE_FTS = (
    "INSERT INTO idx.messages_fts(messages_fts, rowid, text, thinking, tool_use, tool_result)"
    " VALUES ('delete',?,?,?,?,?)"
)
FTS_NORMAL = {"hashsize": 1 << 20, "automerge": 4}  # FTS5's defaults
FTS_BULK = {"hashsize": 4 << 20, "automerge": 8}  # a big import: bigger segments, merged 8 at a time


def open_indexer(db: Path | str) -> sqlite3.Connection:
    """A connection that reads the archive and writes its index: the archive is
    opened read-only, so ``BEGIN IMMEDIATE`` locks the index file alone (the
    writer goes on) and takes one snapshot of the archive."""
    from ..paths import sqlite_uri
    from .db import BUSY_TIMEOUT_MS, load_dictionaries

    conn = sqlite3.connect(sqlite_uri(db, "ro"), uri=True, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA temp_store = MEMORY")
    # the archive's pages are read once, just after the writer wrote them (the OS has them): a
    # small cache; the index's, written and merged, SQLite's default (the process counts in the import's memory)
    conn.execute("PRAGMA cache_size = -1000")
    attach(conn, db, writable=True)
    conn.execute("PRAGMA idx.cache_size = -2000")
    if not conn.execute("SELECT 1 FROM idx.sqlite_master WHERE name = 'index_state'").fetchone():
        conn.execute("BEGIN IMMEDIATE")  # a new index file (or a lost one): no watermark, built whole
        try:
            create_tables(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    load_dictionaries(conn)
    return conn


def watermark(conn: sqlite3.Connection) -> int | None:
    """The last ``index_log`` entry the index holds (None: it must be built whole)."""
    row = conn.execute("SELECT value FROM idx.index_state WHERE key = 'watermark'").fetchone()
    return None if row is None else int(row[0])


def pending(conn: sqlite3.Connection) -> int:
    """Log entries committed in the archive that the index does not hold yet (-1: it must be rebuilt)."""
    w = watermark(conn)
    if w is None:
        return -1
    return conn.execute("SELECT count(*) FROM main.index_log WHERE seq > ?", (w,)).fetchone()[0]


def set_fts_options(conn: sqlite3.Connection, options: dict[str, int]) -> None:
    for option, value in options.items():
        conn.execute(f"INSERT INTO idx.messages_fts(messages_fts, rank) VALUES ('{option}', {value})")


def catch_up(conn: sqlite3.Connection, shift: int | None = None) -> int:
    """Bring the index to the archive as it is now, in one transaction of the
    index file (``conn`` from ``open_indexer``). Returns the log entries applied
    (-1: the index was built whole)."""
    from .term_totals import block_shift

    if shift is None:
        shift = block_shift(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        w = watermark(conn)
        top = _top(conn)
        if w is None:
            _rebuild(conn)
            done = -1
        elif top > w:
            done = _apply(conn, w, top, shift)
        else:
            conn.execute("ROLLBACK")
            return 0
        conn.execute("INSERT OR REPLACE INTO idx.index_state(key, value) VALUES ('watermark', ?)", (top,))
        conn.execute("COMMIT")
        return done
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _top(conn: sqlite3.Connection) -> int:
    """The last log entry ever made (AUTOINCREMENT: never reused, even once trimmed)."""
    return conn.execute(
        "SELECT max(coalesce((SELECT max(seq) FROM main.index_log), 0),"
        " coalesce((SELECT seq FROM main.sqlite_sequence WHERE name = 'index_log'), 0))"
    ).fetchone()[0]


def _values(blob: bytes) -> tuple[str, str, str, str]:
    return fts_values(codec.decode_blocks(blob))


def _apply(conn: sqlite3.Connection, w: int, top: int, shift: int) -> int:
    c = conn
    blocks: set[int] = set()
    # 1. what the index holds of each message or title touched since w: the first deletion entry says
    first_gone: dict[int, bytes] = {}
    first_title: dict[int, str | None] = {}
    changes = c.execute(
        "SELECT lo, n, gone FROM main.index_log WHERE seq > ? AND seq <= ? AND n <= 0 ORDER BY seq", (w, top)
    ).fetchall()
    for lo, n, gone in changes:
        blocks.add(lo >> shift)
        if n == 0:
            first_gone.setdefault(lo, gone)
        elif lo not in first_title:
            first_title[lo] = gone
    deletes = []
    for rid, blob in first_gone.items():
        if blob is None:
            continue
        vals = _values(blob)
        # indexed as of w exactly when the row is there (a message inserted after w is not)
        if any(vals) and c.execute("SELECT 1 FROM idx.messages_fts_docsize WHERE id = ?", (rid,)).fetchone():
            deletes.append((rid, *vals))
    c.executemany(_DELETE_FTS, deletes)
    for first, old in first_title.items():
        if old:
            cid = first >> MESSAGE_ID_BITS
            c.execute("INSERT INTO idx.titles_fts(titles_fts, rowid, title) VALUES ('delete', ?, ?)", (cid, old))
    # 2. what the snapshot holds of them now
    redone: set[int] = set()  # a message rewritten in place comes in two insert entries: indexed once
    runs = c.execute(
        "SELECT lo, n FROM main.index_log WHERE seq > ? AND seq <= ? AND n > 0 ORDER BY seq", (w, top)
    ).fetchall()
    for lo, n in runs:
        blocks.add(lo >> shift)
        blocks.add((lo + n - 1) >> shift)
        rows = []
        for rid, blob in c.execute("SELECT id, content FROM main.messages WHERE id >= ? AND id < ?", (lo, lo + n)):
            if rid in first_gone:
                if rid in redone:
                    continue
                redone.add(rid)
            vals = _values(blob)
            if any(vals):
                rows.append((rid, *vals))
        c.executemany(_INSERT_FTS, rows)
    for first in first_title:
        cid = first >> MESSAGE_ID_BITS
        row = c.execute("SELECT title FROM main.conversations WHERE id = ?", (cid,)).fetchone()
        if row is not None and row[0]:
            c.execute("INSERT INTO idx.titles_fts(rowid, title) VALUES (?, ?)", (cid, row[0]))
    # 3. the kept totals of every block touched are stale now (term_totals.py counts them again)
    if blocks:
        marks = ",".join("?" * len(blocks))
        c.execute(f"DELETE FROM idx.term_totals WHERE block IN ({marks})", sorted(blocks))
    return len(changes) + len(runs)


def _rebuild(conn: sqlite3.Connection) -> None:
    """The whole index from the archive's snapshot (an index file lost or never made)."""
    c = conn
    c.execute("INSERT INTO idx.messages_fts(messages_fts) VALUES ('delete-all')")
    c.execute("INSERT INTO idx.titles_fts(titles_fts) VALUES ('delete-all')")
    c.execute("DELETE FROM idx.term_totals")
    c.execute("DELETE FROM idx.term_convs")
    batch = []
    for rid, blob in c.execute("SELECT id, content FROM main.messages ORDER BY id"):
        vals = _values(blob)
        if any(vals):
            batch.append((rid, *vals))
        if len(batch) >= 1000:
            c.executemany(_INSERT_FTS, batch)
            batch.clear()
    c.executemany(_INSERT_FTS, batch)
    c.execute(
        "INSERT INTO idx.titles_fts(rowid, title) SELECT id, title FROM main.conversations "
        "WHERE title IS NOT NULL AND title != ''"
    )


def checkpoint(conn: sqlite3.Connection) -> None:
    """The whole index back in its file, its WAL emptied (as db.finish_import does for
    the archive: a folder that turns read-only can still be read). Never waits on readers."""
    from .db import BUSY_TIMEOUT_MS

    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("PRAGMA idx.wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def trim(writer: sqlite3.Connection, db: Path | str) -> int:
    """Drop the log entries the index holds (the writer's connection, under the
    sync lock). Records how far: a backup that reads the index at an older
    watermark than that takes its snapshots again (db.backup)."""
    conn = open_indexer(db)
    try:
        w = watermark(conn)
    finally:
        conn.close()
    first = writer.execute("SELECT min(seq) FROM index_log").fetchone()[0]
    if not w or first is None or first > w:
        return 0
    with writer:
        writer.execute("BEGIN IMMEDIATE")
        n = writer.execute("DELETE FROM index_log WHERE seq <= ?", (w,)).rowcount
        writer.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('index_trimmed', ?)", (w,))
    return n


def repairing(db: Path | str, work: Callable[[sqlite3.Connection], T]) -> tuple[T, str | None]:
    """``work`` on an indexer connection. Should SQLite find the index file damaged
    (derived data: a bad sector, a bad copy), the file is removed and ``work`` runs
    once more on a new one, which its catch-up builds whole from the archive. The
    caller holds the sync lock. Returns what ``work`` returned, and the damage
    found (None: none)."""
    from .db import is_damage, reset_damaged_index

    def once() -> T:
        conn = open_indexer(db)
        try:
            return work(conn)
        finally:
            conn.close()

    try:
        return once(), None
    except sqlite3.DatabaseError as e:
        # a damage is checked for in the index file alone: one in the archive is not ours to repair
        found = reset_damaged_index(db, thorough=True) if is_damage(e) else None
        if found is None:
            raise
        return once(), found


def sync_index(db: Path | str, *, bulk: bool | None = None) -> int:
    """Catch the index up in this process (after a small sync, forget, redact,
    or when the indexer process died), rebuilding a damaged one (``repairing``).
    ``bulk`` False restores FTS5's normal segment settings after a big import."""

    def work(conn: sqlite3.Connection) -> int:
        if bulk is not None:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                set_fts_options(conn, FTS_BULK if bulk else FTS_NORMAL)
        return catch_up(conn)

    return repairing(db, work)[0]


POLL_SECONDS = 0.05


def run(
    db: str,
    finished: Callable[[], bool],
    parent: int,
    bulk: bool = False,
) -> None:
    """The indexer process: catch up, wait for the writer's next commits, again,
    until ``finished()`` (the writer is done), then a last catch-up. Exits on
    its own if the sync that started it dies."""
    name_process(b"polylogue-index")
    conn = open_indexer(db)
    try:
        if bulk:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                set_fts_options(conn, FTS_BULK)
        shift = None
        passes = 0
        while True:
            last = finished()
            if os.getppid() != parent:
                return
            from .term_totals import block_shift

            shift = shift if shift is not None else block_shift(conn)
            if catch_up(conn, shift) == 0:
                if last:
                    return
                time.sleep(POLL_SECONDS)
            else:
                passes += 1
                if passes % 8 == 0:
                    trim_heap()  # each pass decodes a batch: the heap's freed pages go back to the OS
    finally:
        conn.close()
