"""The reads a secrets scan makes: every message's stored content in rowid order,
a batch at a time (of some conversations, or all), and the conversations' titles."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from .ids import rowid_range

BATCH = 2000


def message_batches(
    conn: sqlite3.Connection, ranges: list[tuple[int, int]]
) -> Iterator[list[tuple[int, int, str, bytes]]]:
    """Lists of (rowid, conversation rowid, message id, content) of the messages whose
    rowids lie in ``ranges`` ([low, high) each; store/ids.py), in rowid order."""
    for lo, hi in ranges:
        while True:
            rows = conn.execute(
                "SELECT id, conversation_id, mid, content FROM messages WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                (lo, hi, BATCH),
            ).fetchall()
            if rows:
                yield rows
            if len(rows) < BATCH:
                break
            lo = rows[-1][0] + 1


def conversation_ranges(conn: sqlite3.Connection, cids: list[int] | None, parts: int) -> list[list[tuple[int, int]]]:
    """The messages to scan as about ``parts`` tasks, each a list of rowid ranges: the
    given conversations in groups, or the whole archive cut into equal spans of ids."""
    if cids is not None:
        ids = sorted(cids)
        step = max(1, -(-len(ids) // parts))
        return [[rowid_range(c) for c in ids[i : i + step]] for i in range(0, len(ids), step)]
    top = conn.execute("SELECT max(id) FROM conversations").fetchone()[0]
    if top is None:
        return []
    step = max(1, -(-(top + 1) // parts))
    return [[(rowid_range(lo)[0], rowid_range(min(lo + step, top + 1))[0])] for lo in range(0, top + 1, step)]


def message_total(conn: sqlite3.Connection, cids: list[int] | None) -> int:
    if cids is None:
        return conn.execute("SELECT coalesce(sum(messages), 0) FROM provider_totals").fetchone()[0]
    total = 0
    for i in range(0, len(cids), 500):
        chunk = cids[i : i + 500]
        total += conn.execute(
            f"SELECT coalesce(sum(message_count), 0) FROM conversations WHERE id IN ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchone()[0]
    return total


def uids(conn: sqlite3.Connection, cids: list[int]) -> dict[int, tuple[str, str | None]]:
    """conversation rowid -> (archive id, title)."""
    out: dict[int, tuple[str, str | None]] = {}
    for i in range(0, len(cids), 500):
        chunk = cids[i : i + 500]
        for cid, uid, title in conn.execute(
            f"SELECT id, uid, title FROM conversations WHERE id IN ({','.join('?' * len(chunk))})", chunk
        ):
            out[cid] = (uid, title)
    return out


def all_titles(conn: sqlite3.Connection, cids: list[int] | None) -> Iterator[tuple[int, str, str]]:
    """(rowid, archive id, title) of conversations with a title."""
    if cids is None:
        yield from conn.execute("SELECT id, uid, title FROM conversations WHERE title IS NOT NULL")
        return
    for cid, (uid, title) in uids(conn, cids).items():
        if title:
            yield cid, uid, title


def matching_ids(conn: sqlite3.Connection, where: list[str], args: list) -> list[int]:
    """Rowids of the conversations ``c`` matching compiled filters (store/query.py)."""
    sql = "SELECT c.id FROM conversations c" + (" WHERE " + " AND ".join(where) if where else "")
    return [r[0] for r in conn.execute(sql, args)]


def hit_contents(conn: sqlite3.Connection, uid: str, mids: list[str]) -> dict[str, bytes]:
    """message id -> stored content, for a search page's hits of one conversation."""
    if not mids:
        return {}
    marks = ",".join("?" * len(mids))
    return dict(
        conn.execute(
            f"SELECT m.mid, m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            f"WHERE c.uid = ? AND m.mid IN ({marks})",
            (uid, *mids),
        ).fetchall()
    )
