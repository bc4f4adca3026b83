"""OpenCode sessions: ``opencode.db``, the SQLite database OpenCode 1.2+ keeps in
``$XDG_DATA_HOME/opencode`` (docs/providers.md, "opencode").

Tables (one row per session, message and part; a message's and a part's body
are JSON in a ``data`` column):

- ``session``: ``id`` (``ses_...``), ``parent_id`` (a subagent's session),
  ``directory``, ``title``, ``version``, ``slug``, ``revert`` (JSON: the message
  a revert went back to), ``time_created``/``time_updated`` (epoch ms);
- ``message``: ``id``, ``session_id``, ``time_created``, ``data``: ``role``,
  ``time``, ``modelID``, ``providerID``, ``mode``/``agent``, ``cost``, ``tokens``
  (``input``, ``output``, ``reasoning``, ``cache.read``, ``cache.write``),
  ``parentID`` (the prompt an assistant step answers), ``error``;
- ``part``: ``id`` (``prt_...``, sorting in creation order), ``message_id``,
  ``session_id``, ``data``: ``type`` ``text`` (``synthetic`` for what OpenCode
  adds), ``reasoning``, ``tool`` (``tool``, ``callID``, ``state.status``,
  ``state.input``, ``state.output``/``state.error``), ``file``, ``step-start``,
  ``step-finish``, ``patch``, ``snapshot``, ``compaction``, ``agent``...

Each message's parts become its blocks in order; a tool part is a tool_use and
its result (the part holds both). Messages are chained in order (an agent's
steps each answer the same prompt: ``parentID`` is kept in ``meta.answers``);
messages a ``revert`` undid are kept inactive. OpenCode before 1.2 kept the
same records as JSON files under ``storage/``, read by ``opencode_storage``
through ``conversation`` (1.2 copies them into the database on its first run
and keeps the files: both forms give one conversation per session).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

import orjson

from .. import models as m
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_str,
    bounded,
    json_or_summary,
    json_text,
    read_time,
    skip_on_error,
    to_utc,
)
from .sqlite_input import loads

if TYPE_CHECKING:
    import sqlite3
    from datetime import datetime

NAME = "opencode"
KIND: Final = "sqlite"

_OUTCOMES = {"completed": "success", "error": "error", "running": "pending", "pending": "pending"}
_QUIET_PARTS = {"step-start", "step-finish", "snapshot", "patch"}  # bookkeeping: counted, not shown


def sniff(head: Head) -> bool:
    t = head.tables
    return (
        "session" in t
        and "data" in t.get("message", "")
        and "session_id" in t.get("message", "")
        and "message_id" in t.get("part", "")
        and "data" in t.get("part", "")
    )


def parse(conn: sqlite3.Connection, ctx: ParseContext) -> Iterator[m.Conversation]:
    cur = conn.execute("SELECT * FROM session ORDER BY time_created, id")
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        s = dict(zip(cols, row))
        conv = None
        with skip_on_error(ctx, f"session {s.get('id')}"):
            conv = _session(conn, s, ctx)
        if conv is not None:
            yield conv


def _json(value: Any, ctx: ParseContext) -> Any:
    if value is None or value == "":
        return None
    return loads(value, ctx) if isinstance(value, (str, bytes, bytearray, memoryview)) else value


def _session(conn: sqlite3.Connection, s: dict, ctx: ParseContext) -> m.Conversation | None:
    sid = as_str(s.get("id"))
    if not sid:
        raise ValueError("a session without an id")
    meta: dict[str, Any] = {}
    created = read_time(s.get("time_created"), meta, "time_created")
    updated = read_time(s.get("time_updated"), meta, "time_updated") or created
    if ctx.unchanged(NAME, sid, updated):
        return None
    parts: dict[str, list[dict]] = {}
    for mid, data in conn.execute("SELECT message_id, data FROM part WHERE session_id = ? ORDER BY id", (sid,)):
        try:
            p = _json(data, ctx)
        except orjson.JSONDecodeError:
            meta["parts_unreadable"] = meta.get("parts_unreadable", 0) + 1
            continue
        if isinstance(p, dict):
            parts.setdefault(str(mid), []).append(p)
    rows = conn.execute(
        "SELECT id, time_created, data FROM message WHERE session_id = ? ORDER BY time_created, id", (sid,)
    )
    return conversation(sid, s, created, updated, meta, ((str(i), t, d) for i, t, d in rows), parts, ctx)


# the session fields ``conversation`` keeps in meta, named as the database's columns
SESSION_META = ("slug", "version", "share_url", "summary_additions", "summary_deletions", "summary_files")


def conversation(
    sid: str,
    fields: dict[str, Any],
    created: datetime | None,
    updated: datetime | None,
    meta: dict[str, Any],
    messages: Iterable[tuple[str, Any, Any]],
    parts: dict[str, list[dict]],
    ctx: ParseContext,
) -> m.Conversation | None:
    """One session as a conversation, from the database or the storage folder
    (``opencode_storage``), alike: ``fields`` are the session's own, named as the
    database's columns (``title``, ``directory``, ``parent_id``, ``revert``,
    ``time_archived`` and SESSION_META); ``meta`` was begun by the caller;
    ``messages`` are (id, creation time, data: JSON text or already read) in
    order, ``parts`` each message's parts in order. A message that cannot be
    converted costs itself and a warning."""
    if meta.get("parts_unreadable"):
        n = meta["parts_unreadable"]
        ctx.warn(f"session {sid}: {n} unreadable part{'s' if n != 1 else ''} skipped")
    out: list[m.Message] = []
    for mid, time_created, data in messages:
        with skip_on_error(ctx, f"session {sid} message {mid}"):
            out.extend(_messages(mid, time_created, _json(data, ctx), parts.get(mid, []), meta))
    if not out:
        return None
    for prev, msg in zip(out, out[1:]):
        if msg.parent_id is None:
            msg.parent_id = prev.id
    raw_revert = fields.get("revert")
    revert = as_dict(_json(raw_revert, ctx) if isinstance(raw_revert, (str, bytes)) else raw_revert)
    undone_from = as_str(revert.get("messageID"))
    if undone_from and any(x.id == undone_from for x in out):
        undone = False
        for msg in out:
            undone = undone or msg.id == undone_from
            if undone:
                msg.active = False
                msg.meta = {**(msg.meta or {}), "reverted": True}
        meta["revert"] = bounded(revert, max_total=2000)
    for k in SESSION_META:
        if fields.get(k) not in (None, ""):
            meta[k] = fields[k]
    if fields.get("time_archived"):
        meta["archived"] = True
    models: list[str] = []
    for msg in out:
        if msg.model and msg.model not in models:
            models.append(msg.model)
    parent = as_str(fields.get("parent_id"))
    stamps = [x.timestamp for x in out if x.timestamp]
    return m.Conversation(
        provider=NAME,
        provider_id=sid,
        title=as_str(fields.get("title")) or None,
        created_at=created or (min(stamps) if stamps else None),
        updated_at=updated or (max(stamps) if stamps else None),
        messages=out,
        source_path=ctx.path,
        parent_id=f"{NAME}:{parent}" if parent else None,
        models=models,
        project=as_str(fields.get("directory")),
        meta=meta,
    )


def _messages(mid: str, time_created: Any, data: Any, parts: list[dict], conv_meta: dict) -> list[m.Message]:
    d = as_dict(data)
    role = {"user": m.USER, "assistant": m.ASSISTANT, "system": m.SYSTEM}.get(as_str(d.get("role")) or "")
    if role is None:
        raise ValueError(f"unknown role {d.get('role')!r}")
    meta: dict[str, Any] = {}
    blocks: list[m.Block] = []
    injected: list[m.Block] = []
    for p in parts:
        kind = as_str(p.get("type")) or ""
        if kind == "text":
            text = as_str(p.get("text")) or ""
            if text:
                (injected if p.get("synthetic") else blocks).append(m.text(text))
        elif kind == "reasoning":
            if as_str(p.get("text")):
                blocks.append(m.thinking(p["text"]))
        elif kind == "tool":
            blocks.extend(_tool(p))
        elif kind == "file":
            blocks.append(
                m.attachment(
                    as_str(p.get("filename")) or as_str(p.get("url")),
                    kind=m.IMAGE if (as_str(p.get("mime")) or "").startswith("image/") else m.ATTACHMENT,
                    mime=as_str(p.get("mime")),
                    url=_url(p.get("url")),
                )
            )
        elif kind in _QUIET_PARTS:
            counts = conv_meta.setdefault("parts", {})
            counts[kind] = counts.get(kind, 0) + 1
        else:  # compaction, agent, subtask, retry... kept whole, bounded
            blocks.append(m.opaque(json_or_summary(p)))
    tokens = as_dict(d.get("tokens"))
    cache = as_dict(tokens.get("cache"))
    usage: dict[str, Any] = {}
    for lane, v in (
        ("input", tokens.get("input")),
        ("output", tokens.get("output")),
        ("reasoning", tokens.get("reasoning")),
        ("cache_read", cache.get("read")),
        ("cache_write", cache.get("write")),
    ):
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            usage[lane] = v
    if usage:
        usage["convention"] = "anthropic"  # OpenCode keeps cached tokens apart from input
    for k in ("providerID", "mode", "agent", "cost", "finish"):
        if d.get(k) not in (None, ""):
            meta[k] = d[k]
    if d.get("parentID"):
        meta["answers"] = d["parentID"]
    if d.get("error"):
        meta["error"] = bounded(d["error"], max_total=4000)
    ts = to_utc(as_dict(d.get("time")).get("created")) or to_utc(time_created)
    msg = m.Message(
        mid,
        role,
        blocks,
        timestamp=ts,
        model=as_str(d.get("modelID")) if role == m.ASSISTANT else None,
        usage=usage or None if role == m.ASSISTANT else None,
        meta=meta or None,
    )
    out = [msg]
    if injected:
        out.append(
            m.Message(
                f"{mid}#context", role, injected, parent_id=mid, timestamp=ts, context=True, meta={"synthetic": True}
            )
        )
    return out


def _url(value: Any) -> str | None:
    url = as_str(value)
    if url and url.startswith("data:"):
        return url[: url.find(",") + 1] if "," in url else url[:100]  # the payload itself is not kept
    return url


def _tool(p: dict) -> list[m.Block]:
    state = as_dict(p.get("state"))
    call_id = as_str(p.get("callID")) or as_str(p.get("id"))
    use = m.tool_use(call_id, as_str(p.get("tool")), state.get("input"))
    if as_str(state.get("title")):
        use.meta = {"title": state["title"]}
    status = as_str(state.get("status")) or ""
    if status in ("pending", "running") and state.get("output") is None:
        return [use]
    output = state.get("output") if state.get("output") is not None else state.get("error")
    res = m.tool_result(call_id, json_text(output), True if status == "error" else None)
    res.meta = {"outcome": _OUTCOMES.get(status, "unknown"), **({"status": status} if status else {})}
    return [use, res]


PROVIDER = Provider(
    name=NAME,
    display_name="OpenCode",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=85,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=True),
    locations=(
        Location(
            "{XDG_DATA_HOME}/opencode",
            darwin="~/.local/share/opencode",  # OpenCode keeps to XDG on macOS too
            win32="~/.local/share/opencode",
            find=("opencode.db", "opencode.db-wal"),
            depth=3,  # as deep as the storage folder's sessions (opencode_storage): one walk of the folder
        ),
    ),
)
