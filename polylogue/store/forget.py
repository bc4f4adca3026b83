"""Deleting conversations for good, and the tombstones that keep a sync from
bringing them back (docs/privacy.md, "Forget"). Also the redaction rules'
rows, and rewriting a message's content in place (``polylogue redact``).

The index file follows through the writer's log (indexer.py): a forget or a
rewrite logs what the index must drop, and ``purge`` brings the index up to it
before merging. A contentless FTS5 index keeps a deleted row's terms in its old
segments (a 'delete' only adds a marker, and ``secure_delete`` does not reach
inside FTS5's own pages before SQLite 3.42's 'secure-delete' option): ``purge``
merges the index into one segment, which drops them, then checkpoints and
truncates both files' WALs so no old page image survives there either."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from . import indexer
from .ids import message_rowid, rowid_range

_LOG_TITLE = "INSERT INTO index_log(lo, n, gone) VALUES (?, -1, ?)"


def conversation_key(uid: str) -> bytes:
    """The tombstone of a conversation: a hash of its archive id (provider:provider id)."""
    return hashlib.sha256(uid.encode()).digest()[:16]


def tombstones(conn: sqlite3.Connection) -> set[bytes]:
    return {k for (k,) in conn.execute("SELECT key FROM forgotten")}


def unforget(conn: sqlite3.Connection, uids: list[str]) -> int:
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        n = sum(conn.execute("DELETE FROM forgotten WHERE key = ?", (conversation_key(u),)).rowcount for u in uids)
    return n


def forget(
    conn: sqlite3.Connection, cids: list[int], hook: Callable[[sqlite3.Connection, list[int]], None] | None = None
) -> dict[str, Any]:
    """Delete conversations (rowids) whole: messages, index entries, title, totals,
    kept word counts of their blocks; tombstone each. One transaction: a crash
    leaves all or nothing. ``hook(conn, cids)`` runs inside it (the usage ledger).
    Returns {"conversations", "messages", "uids", "sources"} (the input files they
    were read from, for the caller to drop their parse states)."""
    conn.execute("PRAGMA secure_delete = ON")  # freed cells and pages are zeroed, not left behind
    out: dict[str, Any] = {"conversations": 0, "messages": 0, "uids": [], "sources": []}
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for cid in cids:
            row = conn.execute(
                "SELECT c.uid, c.provider, c.title, c.message_count, s.path FROM conversations c "
                "LEFT JOIN sources s ON s.id = c.source_id WHERE c.id = ?",
                (cid,),
            ).fetchone()
            if row is None:
                continue
            uid, provider, title, count, path = row
            out["messages"] += _delete_messages(conn, cid)
            if title:
                conn.execute(_LOG_TITLE, (message_rowid(cid, 0), title))
            conn.execute("DELETE FROM conversations WHERE id = ?", (cid,))
            conn.execute(
                "UPDATE provider_totals SET conversations = conversations - 1, messages = messages - ? "
                "WHERE provider = ?",
                (count, provider),
            )
            conn.execute("INSERT OR REPLACE INTO forgotten(key, at) VALUES (?, ?)", (conversation_key(uid), _now()))
            out["conversations"] += 1
            out["uids"].append(uid)
            if path:
                out["sources"].append(path)
        if hook is not None and out["conversations"]:
            hook(conn, cids)
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
    return out


def _delete_messages(conn: sqlite3.Connection, cid: int) -> int:
    """A conversation's messages, each logged with its content for the indexer
    (contentless FTS5: a delete replays the values indexed, rebuilt from it)."""
    lo, hi = rowid_range(cid)
    n = 0
    while True:
        rows = conn.execute("SELECT id, content FROM messages WHERE id >= ? AND id < ? LIMIT 500", (lo, hi)).fetchall()
        if not rows:
            return n
        conn.executemany("INSERT INTO index_log(lo, n, gone) VALUES (?, 0, ?)", rows)
        conn.execute("DELETE FROM messages WHERE id >= ? AND id <= ?", (lo, rows[-1][0]))
        n += len(rows)
        lo = rows[-1][0] + 1


def purge(conn: sqlite3.Connection) -> str | None:
    """Drop every trace of deleted rows: the index brought up to the archive and
    merged (its old segments held their terms), both WALs checkpointed and
    truncated, freed pages given back (the caller holds the sync lock). A damaged
    index file is rebuilt from the archive (``indexer.repairing``), so it holds
    no deleted text either: returns the damage found (None: none)."""
    db = conn.execute("PRAGMA database_list").fetchone()[2]
    conn.execute("PRAGMA secure_delete = ON")
    _, found = indexer.repairing(db, _merge_index)
    indexer.trim(conn, db)  # the log's copies of the deleted content go too
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.executescript("PRAGMA incremental_vacuum")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return found


def _merge_index(idx: sqlite3.Connection) -> None:
    idx.execute("PRAGMA idx.secure_delete = ON")
    indexer.catch_up(idx)
    with idx:
        idx.execute("BEGIN IMMEDIATE")
        idx.execute("INSERT INTO idx.messages_fts(messages_fts) VALUES ('optimize')")
        idx.execute("INSERT INTO idx.titles_fts(titles_fts) VALUES ('optimize')")
    idx.execute("PRAGMA idx.wal_checkpoint(TRUNCATE)")


def _now() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------- redaction rules


def salt(conn: sqlite3.Connection) -> bytes:
    row = conn.execute("SELECT value FROM meta WHERE key = 'privacy_salt'").fetchone()
    return bytes(row[0]) if row else b""


def rules(conn: sqlite3.Connection) -> dict[bytes, list[tuple[int, str | None, int, bytes, str]]]:
    """conversation key -> [(batch, mid, length, digest, kind)], in batch order."""
    out: dict[bytes, list[tuple[int, str | None, int, bytes, str]]] = {}
    for key, batch, mid, length, digest, kind in conn.execute(
        "SELECT conversation, batch, mid, length, digest, kind FROM redactions ORDER BY batch, id"
    ):
        out.setdefault(bytes(key), []).append((batch, mid, length, bytes(digest), kind))
    return out


def add_rules(conn: sqlite3.Connection, uid: str, found: list[tuple[str | None, int, bytes, str]]) -> int:
    """One batch of rules (mid, length, digest, kind) for a conversation; returns its number.
    The caller holds the transaction."""
    batch = (conn.execute("SELECT max(batch) FROM redactions").fetchone()[0] or 0) + 1
    key = conversation_key(uid)
    conn.executemany(
        "INSERT INTO redactions(batch, conversation, mid, length, digest, kind, at) VALUES (?,?,?,?,?,?,?)",
        [(batch, key, mid, n, d, kind, _now()) for mid, n, d, kind in dict.fromkeys(found)],
    )
    return batch


def message_rows(conn: sqlite3.Connection, cid: int, mid: str | None) -> list[tuple]:
    """(id, content, meta, (seq, mid, parent, role, timestamp, flags, model, usage)) of a
    conversation's messages (one, with ``mid``): the last are what its hash covers."""
    lo, hi = rowid_range(cid)
    sql = (
        "SELECT id, content, meta, seq, mid, parent_mid, role, timestamp, flags, model, usage"
        " FROM messages WHERE id >= ? AND id < ?"
    )
    args: tuple = (lo, hi)
    if mid is not None:
        sql += " AND mid = ?"
        args += (mid,)
    return [(r[0], r[1], r[2], r[3:]) for r in conn.execute(sql, args)]


def rewrite_message(
    conn: sqlite3.Connection, rid: int, old_content: bytes, content: bytes, meta: bytes | None, hash_: int
) -> None:
    """A message's content replaced in place (caller's transaction), logged for the
    index as a delete of the old content and an insert of the row again."""
    conn.execute("INSERT INTO index_log(lo, n, gone) VALUES (?, 0, ?)", (rid, old_content))
    conn.execute("UPDATE messages SET content = ?, meta = ?, hash = ? WHERE id = ?", (content, meta, hash_, rid))
    conn.execute("INSERT INTO index_log(lo, n) VALUES (?, 1)", (rid,))


def rewrite_conversation(
    conn: sqlite3.Connection, cid: int, old_title: str | None, title: str | None, meta: bytes | None, hash_: int
) -> None:
    if old_title != title:
        conn.execute(_LOG_TITLE, (message_rowid(cid, 0), old_title or None))
    conn.execute("UPDATE conversations SET title = ?, meta = ?, hash = ? WHERE id = ?", (title, meta, hash_, cid))
