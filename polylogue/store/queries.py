"""Read queries. Every function takes a (pooled, read-only) connection."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import orjson

from ..fmt import iso_from_ms
from ..models import Conversation, Message
from . import codec
from .encode import ACTIVE, CONTEXT, F_ATTACHMENTS, F_THINKING, F_TOOLS, SIDECHAIN
from .lookup import chosen
from .query import BY_UPDATE, Query, compile_filters, like_escape, where_sql

CONV_COLUMNS = (
    "id, uid, provider, provider_id, title, created_at, updated_at, parent_uid, project, models, meta,"
    " message_count, features, input_tokens, output_tokens"
)
_C_COLUMNS = ", ".join("c." + name.strip() for name in CONV_COLUMNS.split(","))  # the same, on alias c


def _dt(v: int | None) -> datetime | None:
    return None if v is None else datetime.fromtimestamp(v / 1000, tz=UTC)


def conversation_summary(row: tuple) -> dict[str, Any]:
    """The JSON shape of a conversation in list/search output (docs/cli.md)."""
    (
        rid,
        uid,
        provider,
        provider_id,
        title,
        created,
        updated,
        parent,
        project,
        models,
        meta,
        count,
        features,
        tin,
        tout,
    ) = row
    return {
        "id": uid,
        "provider": provider,
        "provider_id": provider_id,
        "title": title,
        "created_at": iso_from_ms(created),
        "updated_at": iso_from_ms(updated),
        "message_count": count,
        "parent_id": parent,
        "project": project,
        "models": orjson.loads(models) if models else [],
        "has": [
            n
            for bit, n in ((F_THINKING, "thinking"), (F_TOOLS, "tools"), (F_ATTACHMENTS, "attachments"))
            if features & bit
        ],
        "tokens": {"input": tin, "output": tout},
    }


def resolve(conn: sqlite3.Connection, ident: str) -> tuple:
    """A conversation row by archive id, provider id, or unique prefix of either."""
    row = conn.execute(f"SELECT {CONV_COLUMNS} FROM conversations WHERE uid = ?", (ident,)).fetchone()
    if row:
        return row
    like = like_escape(ident) + "%"
    rows = conn.execute(
        f"SELECT {CONV_COLUMNS} FROM conversations WHERE uid LIKE ? ESCAPE '\\' OR provider_id LIKE ? ESCAPE '\\'"
        " LIMIT 51",
        (like, like),
    ).fetchall()
    return chosen(rows, ident)


def conversation_head(row: tuple, meta: dict[str, Any]) -> Conversation:
    """A conversation row (CONV_COLUMNS) as a Conversation without messages; ``meta``
    decoded by the caller (SQLite stores it compressed, PostgreSQL as it is)."""
    return Conversation(
        provider=row[2],
        provider_id=row[3],
        title=row[4],
        created_at=_dt(row[5]),
        updated_at=_dt(row[6]),
        parent_id=row[7],
        project=row[8],
        models=orjson.loads(row[9]) if row[9] else [],
        meta=meta,
    )


def load_conversation(
    conn: sqlite3.Connection, row: tuple, *, active_only: bool = False, start: int = 0, limit: int = -1
) -> Conversation:
    """A conversation with its messages ``[start, start + limit)`` (all by default; see iter_messages)."""
    conv = conversation_head(row, orjson.loads(codec.decode_json(row[10])) if row[10] else {})
    conv.meta.setdefault("archive_rowid", row[0])
    conv.messages.extend(iter_messages(conn, row[0], active_only=active_only, start=start, limit=limit))
    return conv


def iter_messages(conn: sqlite3.Connection, cid: int, *, active_only: bool = False, start: int = 0, limit: int = -1):
    sql = (
        "SELECT id, mid, parent_mid, role, timestamp, flags, model, usage, meta, content FROM messages"
        " WHERE conversation_id = ?" + (" AND flags & 1" if active_only else "") + " ORDER BY seq LIMIT ? OFFSET ?"
    )
    cur = conn.execute(sql, (cid, limit, start))
    new = object.__new__
    while rows := cur.fetchmany(256):
        # Contents a batch at a time, then the messages built field by field (the dataclass
        # __init__ would route usage and meta through their lazy descriptors): this loop is
        # most of what `show` costs.
        for (_rid, mid, parent, role, ts, flags, model, usage, meta, _), bl in zip(
            rows, codec.decode_contents([r[9] for r in rows])
        ):
            m = new(StoredMessage)
            m.id, m.role, m.blocks, m.parent_id, m.model = mid, role, bl, parent, model
            m.timestamp = _dt(ts)
            m.active, m.context, m.sidechain = bool(flags & ACTIVE), bool(flags & CONTEXT), bool(flags & SIDECHAIN)
            m._raw_usage, m._raw_meta = usage, meta
            yield m


def count_messages(conn: sqlite3.Connection, cid: int, *, active_only: bool = False) -> int:
    """A conversation's messages (on the active branch alone with ``active_only``),
    counted from the (conversation_id, seq) index: nothing is decoded."""
    sql = "SELECT count(*) FROM messages WHERE conversation_id = ?" + (f" AND flags & {ACTIVE}" if active_only else "")
    return conn.execute(sql, (cid,)).fetchone()[0]


def message_positions(
    conn: sqlite3.Connection, cid: int, mid: str, *, active_only: bool = False, limit: int = 21
) -> list[tuple[int, str]]:
    """(position, id) of the message whose id is ``mid``, else of the first ``limit``
    messages whose id starts with it. A position is 0-based in stored order (among
    the active branch's messages with ``active_only``), as iter_messages' ``start``
    counts. The ids are read from the conversation's rows (never their contents),
    a position is counted on the (conversation_id, seq) index."""
    active = f" AND flags & {ACTIVE}" if active_only else ""
    head = f"SELECT seq, mid FROM messages WHERE conversation_id = ?{active} AND "
    rows = conn.execute(head + "mid = ? ORDER BY seq LIMIT ?", (cid, mid, limit)).fetchall()
    if not rows:
        rows = conn.execute(head + "substr(mid, 1, ?) = ? ORDER BY seq LIMIT ?", (cid, len(mid), mid, limit)).fetchall()
    before = f"SELECT count(*) FROM messages WHERE conversation_id = ?{active} AND seq < ?"
    return [(conn.execute(before, (cid, seq)).fetchone()[0], m) for seq, m in rows]


def conversations_holding(conn: sqlite3.Connection, mid: str, *, limit: int = 21) -> list[str]:
    """The archive ids of the conversations holding a message whose id is exactly
    ``mid`` (one id can be in several: a resumed Claude Code session repeats the
    messages it resumes). No index holds message ids, so this reads every message
    row's id: a scan (about 15 ms per 100K messages), for when nothing else matched."""
    sql = "SELECT uid FROM conversations WHERE id IN (SELECT conversation_id FROM messages WHERE mid = ? LIMIT ?)"
    return [r[0] for r in conn.execute(sql, (mid, limit))]


class _DecodedOnUse:
    """A Message field kept encoded (as stored) until first read."""

    def __init__(self, name: str):
        self.field, self.raw = getattr(Message, name), "_raw_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        raw = getattr(obj, self.raw)
        if raw is not None:
            setattr(obj, self.raw, None)
            self.field.__set__(obj, orjson.loads(codec.decode_json(raw)))
        try:
            return self.field.__get__(obj)
        except AttributeError:  # built by iter_messages, never set: stored as NULL
            return None

    def __set__(self, obj, value) -> None:
        setattr(obj, self.raw, None)
        self.field.__set__(obj, value)


class StoredMessage(Message):
    """A message read from the archive: ``usage`` and ``meta`` are decoded on
    first use (showing a conversation reads neither; they are compressed)."""

    __slots__ = ("_raw_usage", "_raw_meta")
    _raw_usage: bytes | None
    _raw_meta: bytes | None
    usage = _DecodedOnUse("usage")
    meta = _DecodedOnUse("meta")


def list_conversations(conn: sqlite3.Connection, q: Query, *, limit: int = 50, offset: int = 0) -> list[dict]:
    """Summaries of the conversations the query's filters select, most recently
    updated first (ties by id). Its words, if any, are not consulted: a
    filter-only search (fts.py) lists through here."""
    where, args = compile_filters(q, BY_UPDATE)
    sql = (
        f"SELECT {_C_COLUMNS} FROM conversations c{where_sql(where)}"
        " ORDER BY c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?"
    )
    return [conversation_summary(r) for r in conn.execute(sql, (*args, limit, offset))]


def count_conversations(conn: sqlite3.Connection, q: Query) -> tuple[int, int]:
    """(conversations, messages) that list_conversations would list, without limit."""
    where, args = compile_filters(q, BY_UPDATE)
    sql = f"SELECT count(*), coalesce(sum(c.message_count), 0) FROM conversations c{where_sql(where)}"
    return tuple(conn.execute(sql, args).fetchone())


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    by = {
        p: {"conversations": c, "messages": m}
        for p, c, m in conn.execute("SELECT provider, conversations, messages FROM provider_totals ORDER BY provider")
        if c
    }
    first, last = conn.execute("SELECT min(created_at), max(updated_at) FROM conversations").fetchone()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return {
        "conversations": sum(v["conversations"] for v in by.values()),
        "messages": sum(v["messages"] for v in by.values()),
        "by_provider": by,
        "first_at": iso_from_ms(first),
        "last_at": iso_from_ms(last),
        "database_bytes": page_size * pages,
        "generation": generation(conn),
        "schema_version": conn.execute("PRAGMA user_version").fetchone()[0],
        "usage": usage_totals(conn),
    }


def usage_totals(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every counted API response's tokens (store/usage.py), from the kept per-day
    totals: one row per day and model, never the messages. ``cost`` is added by
    polylogue.usage.stats_summary, which knows the prices."""
    row = conn.execute(
        "SELECT sum(responses), sum(input), sum(output), sum(cache_read), sum(cache_write), count(DISTINCT model)"
        " FROM usage_rollup WHERE span = 96"
    ).fetchone()
    keys = ("responses", "input", "output", "cache_read", "cache_write", "models")
    return {k: v or 0 for k, v in zip(keys, row)}


def generation(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]


def search_generation(conn: sqlite3.Connection) -> tuple[int, int]:
    """What a search's result depends on: the archive's generation and the index's
    watermark (the index catches up after the writer commits: store/indexer.py)."""
    row = conn.execute("SELECT value FROM idx.index_state WHERE key = 'watermark'").fetchone()
    return generation(conn), -1 if row is None else int(row[0])


def source_paths(conn: sqlite3.Connection, uids: list[str]) -> dict[str, str]:
    """The input file each conversation was last read from (uid -> path); a
    conversation with no recorded source is left out."""
    out: dict[str, str] = {}
    for i in range(0, len(uids), 500):  # under SQLite's limit on bound parameters
        chunk = uids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT c.uid, s.path FROM conversations c JOIN sources s ON s.id = c.source_id WHERE c.uid IN ({marks})"
        out.update(conn.execute(sql, chunk).fetchall())
    return out
