"""A search with role: or kind: and no words: the conversations that hold such
messages, newest first, with exact totals (conversations, and the messages
that match) and each conversation's latest matching messages.

role: is a condition on messages.role and flags (query.role_condition).
kind: means what it means beside words: the message has words of that kind in
the index. FTS5 has no "this column is not empty" query, but it keeps each
row's token count per column in its ``messages_fts_docsize`` shadow table (one
varint per column: the %_docsize table of SQLite's FTS5 documentation), so a
message is of kind K when its count in K's column is not 0. That needs no
migration and no extra index: docsize rows are a few bytes each (a pass over
100K of them takes about 0.1 s).

The conversations the other filters select are walked first, and each one's
messages read by rowid range (store/ids.py), so those filters narrow the scan;
since:/until: act on each message's time, as they do beside words."""

from __future__ import annotations

import sqlite3
from typing import Any

from .encode import FTS_COLUMNS
from .ids import sql_in_conversation
from .query import BY_SPAN, Query, compile_filters, role_condition, time_range

_VARINT_MAX = 9  # bytes of one SQLite varint at most


def kinds_in(docsize: bytes) -> int:
    """Bit i set when a docsize blob counts tokens in column FTS_COLUMNS[i].
    Each count is a SQLite varint: its first byte is 0 exactly when the count
    is 0, and a byte with the high bit set (among the first 8) is followed by
    another byte of the same count."""
    mask = col = i = 0
    n = len(docsize)
    while i < n and col < len(FTS_COLUMNS):
        if docsize[i]:
            mask |= 1 << col
        end = min(i + _VARINT_MAX - 1, n - 1)
        while i < end and docsize[i] & 0x80:
            i += 1
        i += 1
        col += 1
    return mask


def _has_kind(col: int) -> str:
    """SQL: docsize row ``d`` counts tokens in column ``col``. When the counts
    before it are one byte each (under 128 tokens: most messages), its first
    byte is at a known place and SQL reads it; otherwise pl_kinds (kinds_in)
    decodes the varints, in Python, at 10x the cost."""
    byte = f"substr(d.sz, {col + 1}, 1) != x'00'"
    if col == 0:
        return byte
    short = " AND ".join(f"substr(d.sz, {j + 1}, 1) < x'80'" for j in range(col))
    return f"(CASE WHEN {short} THEN {byte} ELSE pl_kinds(d.sz) & {1 << col} END)"


def _source(q: Query, span: tuple[int, int] | None, content: bool) -> tuple[str, str, list[str], list[Any]]:
    """FROM (each selected conversation, then its messages), the message rowid
    column, and the message conditions with their parameters. CROSS JOIN keeps
    that order, and "+m.role" keeps SQLite from indexing role for the join: it
    would build an automatic index per query and probe it per conversation
    (15 s instead of 0.05 s on 100K messages)."""
    conds: list[str] = []
    args: list[Any] = []
    if q.kinds:
        src = "conversations c CROSS JOIN messages_fts_docsize d ON " + sql_in_conversation("d.id", "c.id")
        conds.append("(" + " OR ".join(_has_kind(FTS_COLUMNS.index(k)) for k in sorted(set(q.kinds))) + ")")
        if q.roles or span or content:
            src += " CROSS JOIN messages m ON m.id = d.id"
        rowid = "d.id"
    else:
        src = "conversations c CROSS JOIN messages m ON " + sql_in_conversation("m.id", "c.id")
        rowid = "m.id"
    if q.roles:
        conds.append(role_condition(q.roles, role="+m.role"))
    if span:  # a message's time, else its conversation's (as beside words: store/fts.py)
        conds.append("coalesce(m.timestamp, c.updated_at) BETWEEN ? AND ?")
        args += [span[0], span[1] - 1]
    return src, rowid, conds, args


def conversations_with(
    conn: sqlite3.Connection, q: Query, *, limit: int, offset: int, hits: int
) -> tuple[int, int, list[int], dict[int, list[tuple]]]:
    """(conversations, messages) matching in all, the page of conversation ids
    (most recently updated first, ties by id), and for each up to ``hits`` of
    its latest matching messages as (rowid, mid, role, timestamp, content)."""
    conn.create_function("pl_kinds", 1, kinds_in, deterministic=True)
    where, args = compile_filters(q, BY_SPAN)  # conversations that may hold a message in the range
    span = time_range(q)
    src, rowid, conds, margs = _source(q, span, content=False)
    counted = conn.execute(
        f"SELECT c.id, count(*) FROM {src} WHERE {' AND '.join(where + conds)}"
        " GROUP BY c.id ORDER BY c.updated_at DESC, c.id DESC",
        [*args, *margs],
    ).fetchall()
    page = [cid for cid, _ in counted[offset : offset + limit]]
    src, rowid, conds, margs = _source(q, span, content=True)
    latest = (
        f"SELECT m.id, m.mid, m.role, m.timestamp, m.content FROM {src} WHERE c.id = ? AND {' AND '.join(conds)}"
        f" ORDER BY {rowid} DESC LIMIT {int(hits)}"
    )
    found = {cid: conn.execute(latest, (cid, *margs)).fetchall() for cid in page}
    return len(counted), sum(n for _, n in counted), page, found
