"""Goose sessions (docs/providers.md, "goose"): the JSONL files Goose wrote
before version 1.10, ``~/.local/share/goose/sessions/<session id>.jsonl``
(Windows: ``%APPDATA%\\Block\\goose\\data\\sessions``).

Line 1 is the session's metadata (rewritten as the session goes on)::

    {working_dir, description, schedule_id, message_count, total_tokens, input_tokens,
     output_tokens, accumulated_total_tokens, accumulated_input_tokens, accumulated_output_tokens}

then one message per line: ``{id?, role: user|assistant, created (epoch s),
content: [...], metadata?{userVisible, agentVisible}}``, whose content items are
``text``, ``image`` ``{data, mimeType}``, ``thinking`` ``{thinking, signature}``,
``redactedThinking``, ``toolRequest`` ``{id, toolCall: {status: success, value:
{name, arguments}} | {status: error, error}}``, ``toolResponse`` ``{id,
toolResult: {status: success, value: [content] | {content, isError}} | {status:
error, error}}``, ``frontendToolRequest``, ``toolConfirmationRequest``,
``contextLengthExceeded`` and ``summarizationRequested``; later versions add
``actionRequired`` ``{data: {actionType: toolConfirmation | elicitation |
elicitationResponse, ...}}`` and ``systemNotification`` ``{notificationType,
msg}``; some wrote ``conversationCompacted``, which Goose now drops on reading.
A file whose first line is already a message (no metadata) is read the same way. Goose 1.10 and later keep the same
messages in ``sessions.db``, read by goose_db.py with this module's ``Session``.

Mapping, one message per line, each the child of the one before: tool
requests become tool_use blocks and tool responses role-tool messages of
tool_result blocks paired by id (``status: error`` is an error result; the text
shown to the model and the text shown to the user are kept once each);
thinking is thinking; image data is referenced by type and size only;
confirmation requests and required actions are kept in meta;
``contextLengthExceeded``, ``summarizationRequested``, ``conversationCompacted``
and system notifications are context. An unknown content type is kept opaque
and reported in one warning line.

Identity: the session id is the file's name without ``.jsonl``: Goose names its
sessions by their file and the content holds no id (a stream without a usable
name gets ``derived-`` + sha256 of its first message, flagged
``meta.derived_id``). Message ids are the message ``id`` where present, else
``<session>:<line>``.

Usage: the metadata holds session totals only: ``accumulated_*`` in ``meta.usage``
(models.py, "Usage"), never on messages. The legacy files record no model.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import feed_records, guarded
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    fail_on_error,
    json_text,
    read_time,
)

NAME = "goose"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

_MESSAGE_KEYS = frozenset({"id", "role", "created", "content", "metadata"})
_CONTENT_TYPES = frozenset(
    {
        "text",
        "image",
        "thinking",
        "redactedThinking",
        "toolRequest",
        "toolResponse",
        "frontendToolRequest",
        "toolConfirmationRequest",
        "contextLengthExceeded",
        "summarizationRequested",
        "actionRequired",
        "systemNotification",
        "conversationCompacted",
    }
)
_NOTICES = frozenset({"contextLengthExceeded", "summarizationRequested", "systemNotification", "conversationCompacted"})
_META_KEYS = ("description", "message_count")
_STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


# ---------------------------------------------------------------- sniffing


def _is_metadata(r: dict) -> bool:
    return all(k in r for k in _META_KEYS) and "role" not in r and "type" not in r


def _is_message(r: dict) -> bool:
    content = r.get("content")
    return (
        r.get("role") in ("user", "assistant")
        and isinstance(r.get("created"), int)
        and isinstance(content, list)
        and r.keys() <= _MESSAGE_KEYS
        and all(isinstance(c, dict) and isinstance(c.get("type"), str) for c in content)
        and any(c["type"] in _CONTENT_TYPES for c in content)
    )


def sniff(head: Head) -> bool:
    recs = head.records
    if not recs:
        return False
    if _is_metadata(recs[0]):
        return len(recs) == 1 or _is_message(recs[1])
    return _is_message(recs[0]) and all(_is_message(r) for r in recs[1:5])


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    session = Session(ctx)
    feed_records(stream, ctx, session.record)
    if session.metadata is None and not session.messages and not session.records:
        raise ParseError("no Goose session records in this file")
    yield from guarded(fail_on_error("malformed Goose session"), session.finish)  # the file's one conversation


class Session:
    """One session built message by message: ``record(n, message)`` for each message
    (a legacy file's first record may be its metadata), then ``finish()``. ``sid`` is
    the session id when the caller knows it (the database's), else the file's name."""

    def __init__(self, ctx: ParseContext, sid: str | None = None) -> None:
        self.ctx = ctx
        self.metadata: dict | None = None
        self.messages: list[m.Message] = []
        self.records = 0
        self.first_message: bytes | None = None
        self.unknown: dict[str, int] = {}
        self.ids: set[str] = set()
        self.sid = sid or _stem(ctx.path)
        self.warn_unknown = True  # the database reports unknown content once for all its sessions

    def record(self, lineno: int, rec: dict) -> None:
        self.records += 1
        if self.records == 1 and _is_metadata(rec):
            self.metadata = rec
            return
        if rec.get("role") is None and "content" not in rec:
            self.ctx.warn(f"not a Goose message (keys {', '.join(sorted(rec)[:5])}); skipped", lineno)
            return
        if self.first_message is None:
            self.first_message = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
        msg = _message(rec, lineno, self.unknown)
        if msg.id in self.ids:
            msg.id = f"{msg.id}#{lineno}"  # a repeated id: the later message keeps its own line
        if msg.id.startswith(":"):  # no id in the record: <session>:<line>, the session known at the end
            msg.meta = {**(msg.meta or {}), "id_derived": True}
        self.ids.add(msg.id)
        if self.messages:
            msg.parent_id = self.messages[-1].id
        self.messages.append(msg)

    def finish(self) -> m.Conversation | None:
        meta: dict[str, Any] = {}
        sid = self.sid
        if sid is None:
            digest = hashlib.sha256(self.first_message or b"").hexdigest()[:20]
            sid = f"derived-{digest}"
            meta.update(derived_id=True, id_source="first message")
        _settle_ids(self.messages, sid)
        md = self.metadata or {}
        for k, v in md.items():
            if k not in ("description", "working_dir") and v is not None:
                meta[k] = bounded(v, max_total=4 << 10)
        if self.unknown:
            meta["unknown_content"] = self.unknown
        if self.unknown and self.warn_unknown:
            self.ctx.warn(
                "Goose session of an unknown version: "
                + ", ".join(f"{n} '{t}'" for t, n in sorted(self.unknown.items())[:5])
                + " kept as opaque blocks"
            )
        if not self.messages:
            if self.metadata is not None:
                return None  # a session that was started and never used
            self.ctx.warn("no messages in this Goose session")
            return None
        _attribute_usage(self.messages, md, meta)
        stamps = [x.timestamp for x in self.messages if x.timestamp]
        title = as_str(md.get("description"))
        if not title:
            first = next((x for x in self.messages if x.role == m.USER and not x.context and x.text), None)
            title = first.text.strip().splitlines()[0][:100] if first and first.text.strip() else None
        return m.Conversation(
            provider=NAME,
            provider_id=sid,
            title=title or None,
            created_at=min(stamps) if stamps else None,
            updated_at=max(stamps) if stamps else None,
            messages=self.messages,
            source_path=self.ctx.path,
            project=as_str(md.get("working_dir")) or None,
            meta=meta,
        )


def _stem(path: str | None) -> str | None:
    """The session id Goose gave the file: its name without ``.jsonl``."""
    name = os.path.basename((path or "").split("!")[-1].replace("\\", "/"))
    for ext in (".jsonl", ".json", ".txt"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return name if _STEM.match(name) else None


def _settle_ids(messages: list[m.Message], sid: str) -> None:
    rename = {x.id: f"{sid}{x.id}" for x in messages if x.id.startswith(":")}
    if not rename:
        return
    for x in messages:
        x.id = rename.get(x.id, x.id)
        if x.parent_id is not None:
            x.parent_id = rename.get(x.parent_id, x.parent_id)


def _message(rec: dict, lineno: int, unknown: dict[str, int]) -> m.Message:
    meta: dict[str, Any] = {}
    raw_role = as_str(rec.get("role")) or ""
    role = m.ASSISTANT if raw_role == "assistant" else m.USER
    if raw_role not in ("user", "assistant"):
        meta["raw_role"] = raw_role[:40]
    blocks: list[m.Block] = []
    kinds: list[str] = []
    for item in as_list(rec.get("content")):
        if not isinstance(item, dict):
            continue
        kind = as_str(item.get("type")) or ""
        kinds.append(kind)
        blocks += _item(kind, item, meta, unknown)
    if kinds and all(k == "toolResponse" for k in kinds):
        role = m.TOOL
        meta["raw_role"] = raw_role[:40]
    context = bool(kinds) and all(k in _NOTICES for k in kinds)
    if context:
        meta["kind"] = kinds[0]
    flags = as_dict(rec.get("metadata"))
    for k in ("userVisible", "agentVisible"):
        if flags.get(k) is False:
            meta[k] = False
    ts = read_time(rec.get("created"), meta, "created")
    mid = as_str(rec.get("id")) or f":{lineno}"
    return m.Message(id=mid, role=role, blocks=blocks, timestamp=ts, context=context, meta=meta or None)


def _item(kind: str, item: dict, meta: dict[str, Any], unknown: dict[str, int]) -> list[m.Block]:
    if kind == "text":
        text = as_str(item.get("text")) or ""
        return [m.text(text)] if text else []
    if kind == "thinking":
        text = as_str(item.get("thinking")) or ""
        return [m.thinking(text)] if text else []
    if kind == "redactedThinking":
        meta["redacted_thinking"] = meta.get("redacted_thinking", 0) + 1
        return []
    if kind == "image":
        return [_image(item)]
    if kind in ("toolRequest", "frontendToolRequest"):
        call = as_dict(item.get("toolCall"))
        value = as_dict(call.get("value"))
        use = m.tool_use(as_str(item.get("id")), as_str(value.get("name")), value.get("arguments"))
        if call.get("status") == "error":
            use.meta = {"error": bounded(call.get("error"), max_total=2 << 10), "outcome": "error"}
        if kind == "frontendToolRequest":
            use.meta = {**(use.meta or {}), "frontend": True}
        return [use]
    if kind == "toolResponse":
        return [_tool_result(item)]
    if kind == "toolConfirmationRequest":
        meta.setdefault("confirmations", []).append(bounded(item, max_total=4 << 10))
        return []
    if kind == "actionRequired":  # a confirmation, or an elicitation (a question to the user) and its answer
        meta.setdefault("actions_required", []).append(bounded(item.get("data"), max_total=4 << 10))
        return []
    if kind in _NOTICES:
        return [m.text(as_str(item.get("msg")) or kind)]
    unknown[kind[:40] or "(none)"] = unknown.get(kind[:40] or "(none)", 0) + 1
    return [m.opaque(bounded(item))]


def _image(item: dict) -> m.Block:
    data = item.get("data")
    size = len(data) * 3 // 4 if isinstance(data, str) else None
    return m.attachment(None, kind=m.IMAGE, mime=as_str(item.get("mimeType")), size=size)


def _tool_result(item: dict) -> m.Block:
    cid = as_str(item.get("id"))
    result = as_dict(item.get("toolResult"))
    if result.get("status") == "error":
        res = m.tool_result(cid, as_str(result.get("error")) or "", is_error=True)
        res.meta = {"outcome": "error"}
        return res
    value = result.get("value")
    is_error = None
    if isinstance(value, dict):  # newer: a CallToolResult {content, isError, structuredContent}
        if isinstance(value.get("isError"), bool):
            is_error = value["isError"]
        parts = as_list(value.get("content"))
    else:
        parts = as_list(value)
    texts: list[str] = []
    images = 0
    for p in parts:
        if not isinstance(p, dict):
            continue
        text = as_str(p.get("text")) or as_str(as_dict(p.get("resource")).get("text"))
        if text is not None:
            if text not in texts:  # the same text for the model and for the user: kept once
                texts.append(text)
        elif p.get("type") == "image":
            images += 1
    out = "\n".join(texts) if texts or images or not parts else json_text(value)
    res = m.tool_result(cid, out, is_error=is_error)
    res.meta = {"outcome": "error" if is_error else "success" if result.get("status") == "success" else "unknown"}
    if images:
        res.meta["images"] = images
    return res


def _attribute_usage(messages: list[m.Message], md: dict, meta: dict[str, Any]) -> None:
    lanes: dict[str, Any] = {}
    for lane, key in (("input", "accumulated_input_tokens"), ("output", "accumulated_output_tokens")):
        v = md.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            lanes[lane] = v
    if not lanes:
        return
    models = {x.model for x in messages if x.model}
    if len(models) == 1:
        lanes["model"] = models.pop()
    meta["usage"] = lanes  # session totals: never on messages (summing them counts nothing twice)
    meta["usage_source"] = "metadata accumulated_* (session totals)"


PROVIDER = Provider(
    name=NAME,
    display_name="Goose",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=147,
    records=Records(usage=True, models=False, branches=False, thinking=True, subagents=False),
    # Goose uses the XDG layout on macOS too; Windows keeps it under the roaming profile
    locations=(Location("{XDG_DATA_HOME}/goose", "sessions", win32="{APPDATA}/Block/goose/data"),),
)
