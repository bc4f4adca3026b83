"""Gemini CLI chats: ``~/.gemini/tmp/<project>/chats/`` (docs/providers.md, "gemini-cli").

Two forms, one parser:

- old: ``session-*.json``, one pretty-printed document
  ``{sessionId, projectHash, startTime, lastUpdated, kind?, summary?, directories?, messages[]}``;
- new (about v0.40): ``session-*.jsonl``, an append-only log. Line 1 is the
  header ``{sessionId, projectHash, startTime, lastUpdated, kind?}``; then
  message records ``{id, timestamp, type, content, ...}``, metadata patches
  ``{"$set": {...}}`` and rewinds ``{"$rewindTo": <message id>}``.

``parse`` peeks at the stream to tell them apart (a JSONL file's first line is a
complete JSON object; a document's first line is ``{``).

Revisions, not copies: a message written again with the same ``id`` (typically
once its tool calls finish) replaces the earlier state and keeps its place, so
tokens count once per id; ``$set`` patches apply to the header in file order
(``$set.messages`` replaces the whole history, as the CLI does after masking or
compression). Messages dropped by a rewind (or by a ``$set.messages``) are kept
with ``active=False``; ``parent_id`` chains each message to the one before it on
the path it was appended to, so a rewind becomes a branch.

Mapping: ``user`` -> user, ``gemini``/``model`` -> assistant, ``info``/``error``/
``warning`` -> system notices (``meta["type"]``). ``thoughts[]`` -> thinking,
``toolCalls[]`` -> tool_use + tool_result (call and result are embedded
together, ids are the call ids), ``tokens`` -> usage (convention "gemini":
``cached`` is part of ``input``). A user message whose ``displayContent`` differs
from ``content`` (``/init`` expands into a generated prompt) shows
``displayContent``; the expanded ``content`` follows as a context message
``<id>#content``. ``logs.json`` (an array) is a side file, not a chat.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any, BinaryIO, Final, cast

import orjson

from .. import models as m
from ..errors import ParseError
from . import Head
from .base import Location, Provider, Records
from .common import (
    ParseContext,
    as_list,
    as_str,
    error_summary,
    fail_on_error,
    iter_jsonl,
    json_text,
    skip_on_error,
    to_utc,
)
from .retention import gemini_retention

NAME = "gemini-cli"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

DOC_LIMIT = 512 << 20
_ROLES = {
    "user": m.USER,
    "gemini": m.ASSISTANT,
    "model": m.ASSISTANT,
    "assistant": m.ASSISTANT,
    "info": m.SYSTEM,
    "error": m.SYSTEM,
    "warning": m.SYSTEM,
    "system": m.SYSTEM,
}
_MSG_TYPES = frozenset(_ROLES)
_OUTCOMES = {
    "success": "success",
    "error": "error",
    "cancelled": "rejected",
    "canceled": "rejected",
    "scheduled": "pending",
    "validating": "pending",
    "awaiting_approval": "pending",
    "executing": "pending",
}
_HEADER_KEYS = ("sessionId", "projectHash", "startTime", "lastUpdated", "kind", "summary", "directories")


# ---------------------------------------------------------------- sniffing


def _is_header(r: dict) -> bool:
    return (
        isinstance(r.get("sessionId"), str)
        and isinstance(r.get("projectHash"), str)
        and "type" not in r
        and not isinstance(r.get("id"), str)
    )


def _is_message_line(r: dict) -> bool:
    return (
        isinstance(r.get("id"), str)
        and r.get("type") in _MSG_TYPES
        and "uuid" not in r
        and "message" not in r
        and "payload" not in r
    )


def sniff(head: Head) -> bool:
    if head.kind == "json" and head.top == "object":
        if head.has("sessionId") and head.has("projectHash") and head.has("messages", "start_array"):
            return True
    recs = head.records
    if not recs:
        return False
    if head.kind == "json":  # one-line document, or a JSONL file holding only its header
        r = recs[0]
        return _is_header(r) and (isinstance(r.get("messages"), list) or "messages" not in r)
    if any(_is_header(r) for r in recs[:5]):
        return (
            any(_is_message_line(r) or isinstance(r.get("$set"), dict) or "$rewindTo" in r for r in recs[1:])
            or len(recs) == 1
        )
    # header line lost (damaged file): patch lines next to Gemini message lines
    return any("$set" in r or "$rewindTo" in r for r in recs) and any(_is_message_line(r) for r in recs)


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    if not hasattr(stream, "peek"):  # parse_path hands us a BufferedReader; accept any binary stream
        try:
            # BufferedReader takes any object with readinto(); others raise here, caught below
            stream = io.BufferedReader(cast(io.RawIOBase, stream))
        except (TypeError, ValueError, AttributeError) as e:
            raise ParseError(f"unreadable stream ({type(e).__name__})") from None
    peek = _peek(stream)
    first = peek.lstrip()[:1]
    if first == b"[":
        raise ParseError("a JSON array, not a Gemini CLI chat (logs.json is a prompt log, not imported)")
    if first not in (b"{", b""):
        raise ParseError("not a Gemini CLI chat")
    if _looks_like_document(peek):
        yield from _parse_document(stream, ctx)
    else:
        yield from _parse_jsonl(stream, ctx)


def _peek(stream: BinaryIO) -> bytes:
    peek = getattr(stream, "peek", None)
    if peek is not None:
        try:
            return peek(1 << 16)[: 1 << 16]
        except (OSError, ValueError):
            return b""
    return b""


def _looks_like_document(head: bytes) -> bool:
    """A pretty-printed document's first line does not parse on its own; a JSONL
    line (or a one-line document, handled by the JSONL path) does."""
    s = head.lstrip()
    nl = s.find(b"\n")
    if nl < 0:
        return False  # one line (or a first line longer than the peek): read it as a record
    try:
        orjson.loads(s[:nl])
        return False
    except orjson.JSONDecodeError:
        return True


def _parse_document(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    data = stream.read(DOC_LIMIT + 1)
    if len(data) > DOC_LIMIT:
        raise ParseError(f"JSON document larger than {DOC_LIMIT >> 20} MB")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        # a damaged document: salvage the complete JSON lines it may hold (a JSONL file whose header broke)
        # (pretty-printed documents indent every inner line; JSONL lines start with '{"')
        if b'\n{"' in data:
            yield from _parse_jsonl(io.BytesIO(data), ctx)
            return
        raise ParseError(f"invalid JSON: {error_summary(e)}") from None
    if isinstance(doc, list):
        raise ParseError("a JSON array, not a Gemini CLI chat (logs.json is a prompt log, not imported)")
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        raise ParseError("not a Gemini CLI chat (no messages array)")
    session = _Session(ctx, "json")
    with fail_on_error("malformed Gemini CLI chat"):  # the file's one conversation
        session.header(doc, None)
    _feed_messages(session, doc["messages"], None)
    conv = None
    with fail_on_error("malformed Gemini CLI chat"):
        conv = session.build()
    if conv is not None:
        yield conv


def _parse_jsonl(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    session: _Session | None = None
    records = 0
    for lineno, rec in iter_jsonl(stream, ctx):
        records += 1
        done: list[_Session] = []  # sessions this line completes
        with skip_on_error(ctx, "record", lineno):
            session = _feed_line(session, rec, lineno, ctx, done)
        for finished in done:
            yield from _finish(finished)
    if session is not None:
        yield from _finish(session)
    elif not records:  # no JSON object at all (a one-line document is a record, finished above)
        ctx.warn("no Gemini CLI records in this file")


def _feed_line(session: _Session | None, rec: dict, lineno: int, ctx: ParseContext, done: list) -> _Session | None:
    """Feed one JSONL record; returns the session still open. A session the record
    completes goes to ``done`` only once the record has been read whole, so a record
    that fails leaves the sessions as they were."""
    if isinstance(rec.get("messages"), list) and _is_header(rec):  # a whole old-form document on one line
        doc = _Session(ctx, "json")
        doc.header(rec, lineno)
        _feed_messages(doc, rec["messages"], lineno)
        done += [session, doc] if session is not None else [doc]
        return None
    if not _is_header(rec) or "$set" in rec:
        session = session if session is not None else _Session(ctx, "jsonl")
        session.record(rec, lineno)
        return session
    if session is not None and not (
        session.session_id and rec["sessionId"] != session.session_id and session.has_messages()
    ):
        session.header(rec, lineno)
        return session
    new = _Session(ctx, "jsonl")
    new.header(rec, lineno)
    if session is not None:
        done.append(session)  # a second session appended to the same file
    return new


def _feed_messages(session: _Session, messages: list, lineno: int | None) -> None:
    """The messages[] of a document: one bad message costs that message."""
    for i, rec in enumerate(messages):
        with skip_on_error(session.ctx, f"message {i}", lineno):
            session.record(rec, lineno, index=i)


def _finish(session: _Session) -> Iterator[m.Conversation]:
    conv = None
    with skip_on_error(session.ctx, f"session {session.session_id!r}"):
        conv = session.build()
    if conv is not None:
        yield conv


class _Session:
    """One chat: the header state and message records by id (revisions replace)."""

    def __init__(self, ctx: ParseContext, form: str):
        self.ctx = ctx
        self.form = form
        self.meta: dict[str, Any] = {}
        self.session_id: str | None = None
        self.other_session_ids: list[str] = []
        self.records: dict[str, dict] = {}  # id -> latest record, in first-seen order (re-added ids move last)
        self.lines: dict[str, int | None] = {}
        self.parent: dict[str, str | None] = {}
        self.path: list[str] = []  # the current (active) message ids
        self.on_path: set[str] = set()
        self.revised: dict[str, int] = {}
        self.rewinds = 0

    def has_messages(self) -> bool:
        return bool(self.records)

    # -- records

    def header(self, rec: dict, lineno: int | None) -> None:
        sid = as_str(rec.get("sessionId"))
        if sid and self.session_id is None:
            self.session_id = sid
        elif sid and sid != self.session_id and sid not in self.other_session_ids:
            self.other_session_ids.append(sid)
        for k, v in rec.items():
            if k not in ("messages", "sessionId"):
                self.meta[k] = v

    def record(self, rec: Any, lineno: int | None, index: int | None = None) -> None:
        where = f"message {index}" if index is not None else "record"
        if not isinstance(rec, dict):
            self.ctx.warn(f"{where}: not an object, skipped", lineno)
            return
        if "$set" in rec:
            patch = rec["$set"]
            if not isinstance(patch, dict):
                self.ctx.warn("$set is not an object, skipped", lineno)
                return
            msgs = patch.get("messages")
            if isinstance(msgs, list):
                self._replace_history(msgs, lineno)
            self.header({k: v for k, v in patch.items() if k != "messages"}, lineno)
            return
        if "$rewindTo" in rec:
            self._rewind(as_str(rec.get("$rewindTo")))
            return
        if self.session_id is None and isinstance(rec.get("sessionId"), str):
            self.session_id = rec["sessionId"]  # header line lost: message lines may repeat the session id
            self.meta["header_missing"] = True
        mid = as_str(rec.get("id"))
        if not mid:
            if "type" not in rec and "content" not in rec:
                self.ctx.warn(f"{where}: unknown record (keys {', '.join(sorted(rec)[:6])}), skipped", lineno)
                return
            mid = (
                f"line-{lineno}"
                if lineno is not None and index is None
                else f"msg-{index if index is not None else len(self.records)}"
            )
            rec = {**rec, "_derived_id": True}
        self._put(mid, rec, lineno)

    def _put(self, mid: str, rec: dict, lineno: int | None) -> None:
        if mid in self.records:
            self.revised[mid] = self.revised.get(mid, 0) + 1
            if mid not in self.on_path:  # rewound earlier, written again: back on the path, at the end
                del self.records[mid]
                self._append(mid)
            self.records[mid] = rec
        else:
            self.records[mid] = rec
            self._append(mid)
        self.lines[mid] = lineno

    def _append(self, mid: str) -> None:
        self.parent[mid] = self.path[-1] if self.path else None
        self.path.append(mid)
        self.on_path.add(mid)

    def _rewind(self, target: str | None) -> None:
        self.rewinds += 1
        idx = self.path.index(target) if target in self.on_path else 0
        for mid in self.path[idx:]:
            self.on_path.discard(mid)
        del self.path[idx:]

    def _replace_history(self, msgs: list, lineno: int | None) -> None:
        self.path, self.on_path = [], set()
        for i, rec in enumerate(msgs):
            mid = as_str(rec.get("id")) if isinstance(rec, dict) else None
            if not mid:
                self.ctx.warn(f"$set.messages[{i}]: no id, skipped", lineno)
                continue
            if mid in self.records:
                self.revised[mid] = self.revised.get(mid, 0) + 1
                del self.records[mid]
            self.records[mid] = rec
            self.lines[mid] = lineno
            self._append(mid)

    # -- conversation

    def build(self) -> m.Conversation | None:
        sid = self.session_id
        if not sid:
            self.ctx.warn("no sessionId header: not a Gemini CLI chat, skipped")
            return None
        messages: list[m.Message] = []
        models: list[str] = []
        for mid, rec in self.records.items():
            msgs: list[m.Message] = []
            with skip_on_error(self.ctx, f"message {mid!r}", self.lines.get(mid)):
                msgs = _messages(mid, rec, self.ctx, self.lines.get(mid))
            for msg in msgs:
                if msg.parent_id is None:
                    msg.parent_id = self.parent.get(mid)
                msg.active = mid in self.on_path
                if not msg.active:
                    msg.meta = {**(msg.meta or {}), "rewound": True}
                if self.revised.get(mid):
                    msg.meta = {**(msg.meta or {}), "revisions": self.revised[mid] + 1}
                if msg.model and msg.model not in models:
                    models.append(msg.model)
            messages.extend(msgs)
        if not messages:
            self.ctx.warn(f"Gemini CLI session {sid} has no messages; nothing imported")
            return None

        meta = self.meta
        cmeta: dict[str, Any] = {"form": self.form}
        for k, v in meta.items():
            if k in ("startTime", "lastUpdated", "summary") or v is None:
                continue
            cmeta[k] = v
        if self.other_session_ids:
            cmeta["other_session_ids"] = self.other_session_ids
        if self.rewinds:
            cmeta["rewinds"] = self.rewinds
        stamps = [msg.timestamp for msg in messages if msg.timestamp]
        conv = m.Conversation(
            provider=NAME,
            provider_id=sid,
            title=as_str(meta.get("summary")) or None,
            created_at=to_utc(meta.get("startTime")) or (min(stamps) if stamps else None),
            updated_at=to_utc(meta.get("lastUpdated")) or (max(stamps) if stamps else None),
            messages=messages,
            source_path=self.ctx.path,
            models=models,
            meta=cmeta,
        )
        if meta.get("kind") == "subagent":
            # the CLI files subagents under chats/<parent sessionId>/<sessionId>.jsonl; the content has no link
            parent_dir = os.path.basename(os.path.dirname((self.ctx.path or "").split("!")[-1]))
            if parent_dir and parent_dir != "chats" and parent_dir != sid:
                conv.parent_id = f"{NAME}:{parent_dir}"
                cmeta["parent_from_path"] = True
        return conv


# ---------------------------------------------------------------- messages


def _messages(mid: str, rec: dict, ctx: ParseContext, lineno: int | None) -> list[m.Message]:
    raw_type = rec.get("type")
    role = _ROLES.get(raw_type if isinstance(raw_type, str) else "")
    meta: dict[str, Any] = {}
    if role is None:
        ctx.warn(f"message {mid!r}: unknown type {raw_type!r}, kept as a system notice", lineno)
        role = m.SYSTEM
    if raw_type != "user" and raw_type not in ("gemini", "model"):
        meta["type"] = raw_type
    if rec.get("_derived_id"):
        meta["derived_id"] = True
    ts = to_utc(rec.get("timestamp"))
    model = as_str(rec.get("model")) or None

    content = rec.get("content")
    if content is None and "parts" in rec:  # fixture variant {type:"model", parts:[...]}
        content = rec.get("parts")
    blocks: list[m.Block] = []
    for t in as_list(rec.get("thoughts")):
        if isinstance(t, dict):
            blocks.extend(_thought(t))
        elif isinstance(t, str) and t:
            blocks.append(m.thinking(t))
    blocks.extend(_part_blocks(content))
    for call in as_list(rec.get("toolCalls")):
        if isinstance(call, dict):
            blocks.extend(_tool_blocks(call))
        else:
            blocks.append(m.opaque(call))

    usage = _usage(rec.get("tokens"))
    if isinstance(rec.get("tokens"), dict):
        rest = _tokens_not_in_usage(rec["tokens"], usage)
        if rest:
            meta["tokens"] = rest
    for k, v in rec.items():
        if (
            k
            not in (
                "id",
                "timestamp",
                "type",
                "content",
                "parts",
                "thoughts",
                "toolCalls",
                "tokens",
                "model",
                "displayContent",
                "sessionId",
                "_derived_id",
            )
            and v is not None
        ):
            meta.setdefault("extra", {})[k] = v

    msg = m.Message(
        mid, role, blocks, timestamp=ts, model=model if role == m.ASSISTANT else None, usage=usage, meta=meta or None
    )
    if model and role != m.ASSISTANT:
        meta["model"] = model
        msg.meta = meta
    out = [msg]

    display = rec.get("displayContent")
    if role != m.USER and display is not None:
        meta["display_content"] = display
        msg.meta = meta
    elif display is not None:
        shown = _part_blocks(display)
        shown_text = [b for b in shown if b.type == m.TEXT]
        sent_text = "".join(b.text for b in blocks if b.type == m.TEXT)
        if shown_text and "".join(b.text for b in shown_text) != sent_text:
            # what the user typed is the prompt; what the model got follows as injected context
            msg.blocks = shown
            expanded = m.Message(
                f"{mid}#content",
                role,
                blocks,
                parent_id=mid,
                timestamp=ts,
                context=True,
                meta={"expanded_from": mid, "derived_id": True},
            )
            out.append(expanded)
        elif not shown_text:
            # e.g. a tool response shown while the CLI sends "System: Please continue."
            msg.context = True
            meta["display_content"] = display
            msg.meta = meta
    if not msg.blocks and not (len(out) > 1):
        meta["empty"] = True
        msg.meta = meta
    return out


def _thought(t: dict) -> list[m.Block]:
    subject = as_str(t.get("subject")) or ""
    desc = as_str(t.get("description")) or ""
    text = f"{subject}\n\n{desc}" if subject and desc else (subject or desc)
    if not text:
        return []
    b = m.thinking(text)
    bm = {k: v for k, v in (("subject", subject or None), ("timestamp", as_str(t.get("timestamp")))) if v}
    b.meta = bm or None
    return [b]


def _part_blocks(content: Any) -> list[m.Block]:
    """Blocks of a PartListUnion: a string, one part, or a list of parts/strings."""
    if content is None:
        return []
    if isinstance(content, str):
        return [m.text(content)] if content else []
    parts = content if isinstance(content, list) else [content]
    out: list[m.Block] = []
    for p in parts:
        if isinstance(p, str):
            if p:
                out.append(m.text(p))
        elif isinstance(p, dict):
            out.extend(_part(p))
        elif p is not None:
            out.append(m.opaque(p))
    return out


def _part(p: dict) -> list[m.Block]:
    if isinstance(p.get("text"), str):
        if not p["text"]:
            return []
        return [m.thinking(p["text"]) if p.get("thought") is True else m.text(p["text"])]
    inline = p.get("inlineData")
    if isinstance(inline, dict):
        mime = as_str(inline.get("mimeType"))
        b = m.attachment(as_str(inline.get("displayName")), kind=_media_kind(mime), mime=mime, source="inlineData")
        data = inline.get("data")
        if isinstance(data, str) and data:
            b.meta = {**(b.meta or {}), "data_b64": data, "size": len(data) * 3 // 4 - data[-2:].count("=")}
        return [b]
    fd = p.get("fileData")
    if isinstance(fd, dict):
        mime = as_str(fd.get("mimeType"))
        uri = as_str(fd.get("fileUri"))
        return [
            m.attachment(
                as_str(fd.get("displayName")) or (uri.rsplit("/", 1)[-1] if uri else None),
                kind=_media_kind(mime),
                mime=mime,
                url=uri,
                source="fileData",
            )
        ]
    fc = p.get("functionCall")
    if isinstance(fc, dict):
        return [m.tool_use(as_str(fc.get("id")), as_str(fc.get("name")), fc.get("args"))]
    fr = p.get("functionResponse")
    if isinstance(fr, dict):
        out, err = _response_text(fr.get("response"))
        return [m.tool_result(as_str(fr.get("id")), out, True if err else None)]
    return [m.opaque(p)]


def _media_kind(mime: str | None) -> str:
    return m.IMAGE if mime and mime.lower().startswith("image/") else m.ATTACHMENT


def _response_text(resp: Any) -> tuple[str, bool]:
    """(output text, is it an error) of a functionResponse.response."""
    if isinstance(resp, dict):
        if set(resp) <= {"output"} and "output" in resp:
            return json_text(resp["output"]), False
        if set(resp) <= {"error"} and "error" in resp:
            return json_text(resp["error"]), True
        if "output" in resp and isinstance(resp["output"], str) and not resp.get("error"):
            return resp["output"], False
        return json_text(resp), bool(resp.get("error"))
    return json_text(resp), False


def _tool_blocks(call: dict) -> list[m.Block]:
    cid = as_str(call.get("id"))
    name = as_str(call.get("name"))
    use = m.tool_use(cid, name, call.get("args"))
    umeta = {
        k: call[k]
        for k in ("displayName", "description", "renderOutputAsMarkdown", "timestamp", "agentId")
        if call.get(k) not in (None, "")
    }
    extra = {
        k: v
        for k, v in call.items()
        if k
        not in (
            "id",
            "name",
            "args",
            "result",
            "status",
            "error",
            "resultDisplay",
            "displayName",
            "description",
            "renderOutputAsMarkdown",
            "timestamp",
            "agentId",
        )
    }
    if extra:
        umeta["extra"] = extra
    use.meta = umeta or None
    out = [use]

    status = as_str(call.get("status"))
    result = call.get("result")
    error = call.get("error")
    if result in (None, [], "") and not status and error in (None, ""):
        return out  # no result recorded (still running when the file was written)
    texts: list[str] = []
    attachments: list[m.Block] = []
    resp_error = False
    for p in result if isinstance(result, list) else [result] if result is not None else []:
        if isinstance(p, dict) and isinstance(p.get("functionResponse"), dict):
            t, e = _response_text(p["functionResponse"].get("response"))
            resp_error = resp_error or e
            if t:
                texts.append(t)
        elif isinstance(p, dict) and isinstance(p.get("text"), str):
            if p["text"]:
                texts.append(p["text"])
        elif isinstance(p, str):
            if p:
                texts.append(p)
        elif isinstance(p, dict):
            attachments.extend(_part(p))
        elif p is not None:
            attachments.append(m.opaque(p))
    if not texts and isinstance(error, str) and error:
        texts.append(error)
    if status == "error":
        is_error: bool | None = True
    elif status == "success":
        is_error = False
    else:
        is_error = True if (resp_error or (isinstance(error, str) and error)) else None
    res = m.tool_result(cid, "\n".join(texts), is_error)
    rmeta: dict[str, Any] = {"outcome": _OUTCOMES.get(status or "", "error" if is_error else "unknown")}
    if status:
        rmeta["status"] = status
    if error not in (None, "") and error not in texts:
        rmeta["error"] = error
    display = call.get("resultDisplay")
    if display not in (None, "", [], {}) and not (isinstance(display, str) and display in texts):
        rmeta["display"] = display
    res.meta = rmeta
    out.append(res)
    out.extend(attachments)
    return out


_USAGE_LANES = (("input", "input"), ("output", "output"), ("cached", "cache_read"), ("thoughts", "reasoning"))


def _tokens_not_in_usage(tokens: dict, usage: dict | None) -> dict:
    """The raw token counts that usage does not already hold (a zero tool
    count and a total that is the plain sum say nothing new)."""
    usage = usage or {}
    rest = {k: v for k, v in tokens.items() if not any(k == src and usage.get(lane) == v for src, lane in _USAGE_LANES)}
    if rest.get("tool") == 0:
        del rest["tool"]
    parts = [tokens.get(k) for k in ("input", "output", "thoughts", "tool")]
    if (
        "total" in rest
        and all(isinstance(v, int) or v is None for v in parts)
        and rest["total"] == sum(v or 0 for v in parts)
    ):
        del rest["total"]
    return rest


def _usage(tokens: Any) -> dict | None:
    if not isinstance(tokens, dict):
        return None
    usage: dict[str, Any] = {}
    for src, lane in _USAGE_LANES:
        v = tokens.get(src)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            usage[lane] = v
    if not usage:
        return None
    usage["convention"] = "gemini"
    return usage


def _side_file(head: Head) -> bool:
    """``logs.json``: the CLI's log of prompts, a list of ``{sessionId, messageId, ...}``."""
    return head.kind == "json" and head.top == "array" and head.has("item.messageId")


PROVIDER = Provider(
    name=NAME,
    display_name="Gemini CLI",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=50,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=True),
    locations=(Location("~/.gemini", "tmp"),),
    side_file=_side_file,
    retention=gemini_retention,
)
