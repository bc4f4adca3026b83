"""GitHub Copilot CLI sessions (docs/providers.md, "copilot-cli"), both layouts.

- new: ``~/.copilot/session-state/<session id>/events.jsonl``, one event a line:
  ``{type, data{}, id, timestamp, parentId}``. ``parentId`` is the chronologically
  preceding event (the schema says so), not a reply-to link, so the messages of a
  session form one path in file order. A rewind removes events from the file; the
  rewind event itself is never written.
- old: ``~/.copilot/history-session-state/<id>.json``, one document
  ``{sessionId, startTime, chatMessages[], timeline[]}``. ``timeline`` (ids, times,
  tool calls with results) is what the CLI showed; ``chatMessages`` (OpenAI chat
  messages) is what the model saw. When both hold the dialogue the timeline is kept
  and the chat messages are counted as copies.

Mapping of events: ``system.message`` -> a system message (context); ``user.message``
-> user (``content`` is what was typed; ``transformedContent``, with the injected
date and reminders, is kept in meta; an empty ``content`` is an injected prompt,
context); ``assistant.message`` -> assistant with ``reasoningText`` as thinking and
``toolRequests`` as tool_use; ``assistant.reasoning`` -> thinking (dropped when an
assistant message already carries the same text); ``tool.execution_complete`` -> a
tool message with the result paired by ``toolCallId`` (``success`` false -> error);
a ``tool.execution_start`` for a call no message requested gives the tool_use;
``session.info``/``warning``/``error`` and ``system.notification`` -> system notices
(context); ``session.compaction_complete`` -> its summary as a context message.
Events of a subagent (``data.parentToolCallId`` or ``agentId``) form a child
conversation ``<session>/agent-<id>`` linked to the session.

Usage: ``session.shutdown.modelMetrics`` is a session aggregate (restored across resumes, so
the last shutdown holds the total): its token lanes are ``Conversation.meta["usage"]`` (the raw
summary in ``meta["session_usage"]``), never spread over messages. ``assistant.message.outputTokens``
is ``Message.usage.output`` only for messages no shutdown covers (a session still going on);
the others keep it in ``meta["output_tokens"]``, so nothing is counted twice.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final, cast

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import guarded
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_count,
    as_dict,
    as_list,
    as_str,
    bounded,
    clip_text,
    fail_on_error,
    from_json_text,
    iter_jsonl,
    json_text,
    load_json,
    read_time,
    skip_on_error,
    to_utc,
    usable_str,
)

NAME = "copilot-cli"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

KNOWN_VERSIONS = frozenset({1})  # session.start.data.version this parser was written against
_EVENT_TYPE = re.compile(r"^[a-z_]+(?:\.[a-z_]+)+$|^abort$")
# first segments of the CLI's event types (the SDK's session-events schema)
_EVENT_ROOTS = frozenset(
    {"session", "user", "assistant", "tool", "subagent", "hook", "system", "skill", "abort", "permission", "model"}
)
_DETAIL_LIMIT = 16 << 10  # a result's detailed form, kept in meta when it differs from what the model saw


# ---------------------------------------------------------------- sniffing


def _is_event(r: dict) -> bool:
    t = r.get("type")
    return (
        isinstance(t, str)
        and _EVENT_TYPE.match(t) is not None
        and t.split(".", 1)[0] in _EVENT_ROOTS
        and isinstance(r.get("data"), dict)
        and ("id" in r or "timestamp" in r)
        and "payload" not in r
        and "message" not in r
    )


def sniff(head: Head) -> bool:
    if any(_is_event(r) for r in head.records[:10]):
        return True
    if head.kind == "json" and head.top == "object" and head.has("sessionId"):
        return head.has("timeline", "start_array") or head.has("chatMessages", "start_array")
    return False


# ---------------------------------------------------------------- helpers


def _attachment(a: Any) -> m.Block:
    if not isinstance(a, dict):
        return m.opaque(a)
    mime = as_str(a.get("mimeType"))
    kind = m.IMAGE if mime and mime.startswith("image/") else m.ATTACHMENT
    name = as_str(a.get("displayName")) or as_str(a.get("path")) or as_str(a.get("title")) or as_str(a.get("url"))
    return m.attachment(
        name,
        kind=kind,
        mime=mime,
        path=as_str(a.get("path")),
        url=as_str(a.get("url")),
        source=as_str(a.get("type")),
    )


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    if not hasattr(stream, "peek"):
        try:
            stream = io.BufferedReader(cast(io.RawIOBase, stream))
        except (TypeError, ValueError, AttributeError) as e:
            raise ParseError(f"unreadable stream ({type(e).__name__})") from None
    head = stream.peek(1 << 16)[: 1 << 16].lstrip()
    if head[:1] == b"[":
        raise ParseError("a JSON array, not a Copilot CLI session")
    if head[:1] not in (b"{", b""):
        raise ParseError("not a Copilot CLI session")
    if _is_document(head):
        yield from _parse_history(stream, ctx)
        return
    log = _EventLog(ctx)
    for lineno, rec in iter_jsonl(stream, ctx):
        if lineno == 1 and not _is_event(rec) and ("timeline" in rec or "chatMessages" in rec):
            yield from _history(rec, ctx)  # an old session written on one line longer than the peek
            return
        with skip_on_error(ctx, "event", lineno):
            log.event(lineno, rec)
    yield from log.finish()


def _is_document(head: bytes) -> bool:
    """The old layout: a pretty-printed document, or one line that is no event."""
    nl = head.find(b"\n")
    first = head if nl < 0 else head[:nl]
    try:
        rec = orjson.loads(first)
    except orjson.JSONDecodeError:
        return nl >= 0 and b'"type"' not in first  # a long first line that is an event is still JSONL
    return isinstance(rec, dict) and not _is_event(rec) and ("timeline" in rec or "chatMessages" in rec)


class _Conv:
    """The messages of one conversation (the session, or one subagent) as they arrive."""

    def __init__(self, key: str | None) -> None:
        self.key = key  # None: the session itself
        self.messages: list[m.Message] = []
        self.tool_ids: set[str] = set()
        self.result_ids: set[str] = set()
        self.models: list[str] = []

    def add(self, msg: m.Message) -> m.Message:
        msg.parent_id = self.messages[-1].id if self.messages else None
        self.messages.append(msg)
        if msg.model and msg.model not in self.models:
            self.models.append(msg.model)
        return msg


class _EventLog:
    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.sid: str | None = None
        self.start: dict = {}
        self.title: str | None = None
        self.project: str | None = None
        self.model: str | None = None
        self.main = _Conv(None)
        self.agents: dict[str, _Conv] = {}
        self.agent_info: dict[str, dict] = {}
        self.ids: set[str] = set()
        self.events: dict[str, int] = {}
        self.meta: dict[str, Any] = {}
        self.reasoning_texts: set[str] = set()
        self.last_ts: Any = None
        self.version_warned = False
        self.sidechain = False

    # -- events

    def event(self, lineno: int, rec: dict) -> None:
        typ = rec.get("type")
        data = rec.get("data")
        if not isinstance(typ, str) or not isinstance(data, dict):
            self.ctx.warn("not a Copilot CLI event (no type or data), skipped", lineno)
            return
        self.events[typ] = self.events.get(typ, 0) + 1
        ts = read_time(rec.get("timestamp"), {}, "timestamp")
        if ts is not None and (self.last_ts is None or ts > self.last_ts):
            self.last_ts = ts  # the session's last activity (a shutdown comes after the last message)
        conv = self._conv_of(rec, data)
        # a subagent's event whose link is a placeholder: kept in the session, marked
        self.sidechain = conv is self.main and bool(as_str(data.get("parentToolCallId")))
        handler = _HANDLERS.get(typ)
        if handler is not None:
            handler(self, lineno, rec, data, conv, ts)

    def _conv_of(self, rec: dict, data: dict) -> _Conv:
        key = usable_str(data.get("parentToolCallId")) or usable_str(rec.get("agentId"))
        if key is None:
            return self.main
        conv = self.agents.get(key)
        if conv is None:
            conv = self.agents[key] = _Conv(key)
        return conv

    def _id(self, rec: dict, lineno: int) -> str:
        eid = usable_str(rec.get("id"))
        if eid is None or eid in self.ids:
            eid = f"{self.sid or 'copilot'}:{lineno}"
        self.ids.add(eid)
        return eid

    def _message(
        self,
        rec: dict,
        lineno: int,
        conv: _Conv,
        role: str,
        blocks: list[m.Block],
        ts: Any,
        meta: dict | None = None,
        **kw: Any,
    ) -> m.Message:
        msg = m.Message(self._id(rec, lineno), role, blocks, timestamp=ts, meta=meta or None, **kw)
        if msg.id != rec.get("id"):
            msg.meta = {**(msg.meta or {}), "derived_id": True}
        msg.sidechain = self.sidechain
        return conv.add(msg)

    def session_start(self, lineno, rec, data, conv, ts) -> None:
        sid = usable_str(data.get("sessionId"))
        if self.sid is None and sid:
            self.sid = sid
            self.start = data
        elif sid and sid != self.sid and len(self.meta.setdefault("other_session_ids", [])) < 20:
            self.meta["other_session_ids"].append(sid)
        version = data.get("version")
        if version is not None and version not in KNOWN_VERSIONS and not self.version_warned:
            self.version_warned = True
            self.ctx.warn(
                f"Copilot CLI event format version {version!r} is not one this parser knows; imported what it recognised"
            )
        self._context(data)
        self.model = usable_str(data.get("selectedModel")) or self.model

    def _context(self, data: dict) -> None:
        context = as_dict(data.get("context"))
        cwd = usable_str(context.get("cwd")) or usable_str(context.get("gitRoot"))
        if cwd and not self.project:
            self.project = cwd

    def session_resume(self, lineno, rec, data, conv, ts) -> None:
        self._context(data)
        self.model = usable_str(data.get("selectedModel")) or self.model

    def model_change(self, lineno, rec, data, conv, ts) -> None:
        self.model = usable_str(data.get("newModel")) or self.model

    def turn_start(self, lineno, rec, data, conv, ts) -> None:
        self.model = usable_str(data.get("model")) or self.model

    def title_changed(self, lineno, rec, data, conv, ts) -> None:
        self.title = as_str(data.get("title")) or self.title

    def notice(self, lineno, rec, data, conv, ts) -> None:
        text = as_str(data.get("message")) or as_str(data.get("content")) or ""
        meta = {"event": rec["type"]}
        for k in ("infoType", "warningType", "errorType", "statusCode"):
            if data.get(k) is not None:
                meta[k] = bounded(data[k], max_str=200)
        self._message(rec, lineno, conv, m.SYSTEM, [m.text(text)] if text else [], ts, meta, context=True)

    def system_message(self, lineno, rec, data, conv, ts) -> None:
        text = as_str(data.get("content")) or ""
        meta: dict[str, Any] = {"event": rec["type"]}
        if as_str(data.get("role")) not in (None, "system"):
            meta["role"] = as_str(data.get("role"))
        if isinstance(data.get("kind"), dict):
            meta["kind"] = bounded(data["kind"], max_str=500)
        self._message(rec, lineno, conv, m.SYSTEM, [m.text(text)] if text else [], ts, meta, context=True)

    def user_message(self, lineno, rec, data, conv, ts) -> None:
        typed = as_str(data.get("content")) or ""
        sent = as_str(data.get("transformedContent")) or ""
        meta: dict[str, Any] = {}
        context = False
        if typed.strip():
            blocks = [m.text(typed)]
            if sent and sent != typed:
                meta["transformed_content"] = clip_text(sent, _DETAIL_LIMIT)
        else:  # nothing typed: the CLI's own continuation prompt (autopilot) or a notification
            blocks = [m.text(sent)] if sent else []
            context = True
            meta["kind"] = "injected"
        blocks += [_attachment(a) for a in as_list(data.get("attachments"))]
        for k in ("source", "agentMode", "delivery"):
            if as_str(data.get(k)):
                meta[k] = as_str(data.get(k))
        self._message(rec, lineno, conv, m.USER, blocks, ts, meta, context=context)

    def assistant_message(self, lineno, rec, data, conv, ts) -> None:
        blocks: list[m.Block] = []
        reasoning = as_str(data.get("reasoningText"))
        if reasoning and reasoning.strip():
            blocks.append(m.thinking(reasoning))
            self.reasoning_texts.add(reasoning.strip())
        content = as_str(data.get("content"))
        if content:
            blocks.append(m.text(content))
        for req in as_list(data.get("toolRequests")):
            if not isinstance(req, dict):
                blocks.append(m.opaque(req))
                continue
            cid = as_str(req.get("toolCallId"))
            use = m.tool_use(cid, as_str(req.get("name")), from_json_text(req.get("arguments"), containers_only=True))
            umeta = {k: req[k] for k in ("toolTitle", "intentionSummary", "mcpServerName") if as_str(req.get(k))}
            use.meta = umeta or None
            blocks.append(use)
            if cid:
                conv.tool_ids.add(cid)
        model = usable_str(data.get("model")) or self.model
        out = as_count(data.get("outputTokens"))
        meta: dict[str, Any] = {}
        for src, key in (("messageId", "message_id"), ("interactionId", "interaction_id"), ("turnId", "turn_id")):
            if usable_str(data.get(src)):
                meta[key] = data[src]
        if data.get("reasoningOpaque") or data.get("encryptedContent"):
            meta["encrypted_reasoning"] = True
        if not blocks:
            meta["empty"] = True
        self._message(
            rec,
            lineno,
            conv,
            m.ASSISTANT,
            blocks,
            ts,
            meta,
            model=model,
            usage={"output": out} if out is not None else None,
        )

    def assistant_reasoning(self, lineno, rec, data, conv, ts) -> None:
        text = as_str(data.get("content"))
        if text and text.strip():
            meta = {"reasoning_id": data["reasoningId"]} if as_str(data.get("reasoningId")) else {}
            self._message(rec, lineno, conv, m.ASSISTANT, [m.thinking(text)], ts, meta, model=self.model)

    def tool_start(self, lineno, rec, data, conv, ts) -> None:
        cid = as_str(data.get("toolCallId"))
        if cid and cid in conv.tool_ids:
            return  # the assistant message already holds this call
        use = m.tool_use(cid, as_str(data.get("toolName")), from_json_text(data.get("arguments"), containers_only=True))
        role = m.USER if rec["type"] == "tool.user_requested" else m.ASSISTANT
        self._message(rec, lineno, conv, role, [use], ts, {"from_event": rec["type"]})
        if cid:
            conv.tool_ids.add(cid)

    def tool_complete(self, lineno, rec, data, conv, ts) -> None:
        cid = as_str(data.get("toolCallId"))
        result = data.get("result")
        error = data.get("error")
        success = data.get("success")
        text = ""
        meta: dict[str, Any] = {}
        extra: list[m.Block] = []
        if isinstance(result, dict):
            text = json_text(result.get("content"))
            detailed = result.get("detailedContent")
            if isinstance(detailed, str) and detailed and detailed != text:
                meta["detailed_content"] = clip_text(detailed, _DETAIL_LIMIT)
            for b in as_list(result.get("binaryResultsForLlm")):
                if isinstance(b, dict):
                    extra.append(
                        m.attachment(as_str(b.get("description")), kind=m.IMAGE, mime=as_str(b.get("mimeType")))
                    )
        elif result is not None:
            text = json_text(result)
        if isinstance(error, dict):
            message = as_str(error.get("message")) or ""
            meta["error"] = bounded(error, max_str=500)
            text = text or message
        elif isinstance(error, str) and error:
            meta["error"] = clip_text(error, 500)
            text = text or error
        is_error = (not success) if isinstance(success, bool) else (True if error else None)
        meta["outcome"] = "error" if is_error else "success" if is_error is False else "unknown"
        if data.get("isUserRequested") is True:
            meta["user_requested"] = True
        model = usable_str(data.get("model"))
        if model:
            meta["model"] = model
        block = m.tool_result(cid, text, is_error)
        if cid:
            conv.result_ids.add(cid)
        self._message(rec, lineno, conv, m.TOOL, [block, *extra], ts, meta)

    def subagent(self, lineno, rec, data, conv, ts) -> None:
        key = usable_str(data.get("toolCallId")) or usable_str(rec.get("agentId"))
        if key is None:
            return
        info = self.agent_info.setdefault(key, {})
        for k in (
            "agentName",
            "agentDisplayName",
            "agentDescription",
            "model",
            "totalToolCalls",
            "totalTokens",
            "durationMs",
            "error",
        ):
            if data.get(k) is not None:
                info[k] = bounded(data[k], max_str=500)
        info["status"] = rec["type"].split(".", 1)[1]

    def compaction(self, lineno, rec, data, conv, ts) -> None:
        summary = as_str(data.get("summaryContent"))
        if summary:
            meta = {"event": rec["type"], "kind": "compaction_summary"}
            self._message(rec, lineno, conv, m.SYSTEM, [m.text(summary)], ts, meta, context=True)

    def shutdown(self, lineno, rec, data, conv, ts) -> None:
        usage: dict[str, Any] = {}
        for model, metric in as_dict(data.get("modelMetrics")).items():
            u = as_dict(as_dict(metric).get("usage"))
            lanes = {
                lane: as_count(u.get(src))
                for src, lane in (
                    ("inputTokens", "input"),
                    ("outputTokens", "output"),
                    ("cacheReadTokens", "cache_read"),
                    ("cacheWriteTokens", "cache_write"),
                    ("reasoningTokens", "reasoning"),
                )
                if as_count(u.get(src)) is not None
            }
            requests = as_dict(metric).get("requests")
            count = as_count(as_dict(requests).get("count")) if isinstance(requests, dict) else as_count(requests)
            if count is not None:
                lanes["requests"] = count
            usage[str(model)] = lanes
        summary: dict[str, Any] = {"models": usage}
        for src, key in (
            ("totalPremiumRequests", "premium_requests"),
            ("totalApiDurationMs", "api_duration_ms"),
            ("shutdownType", "shutdown_type"),
            ("currentModel", "current_model"),
        ):
            if data.get(src) is not None:
                summary[key] = bounded(data[src], max_str=200)
        if isinstance(data.get("codeChanges"), dict):
            summary["code_changes"] = bounded(data["codeChanges"], max_items=50)
        self.meta["session_usage"] = summary  # cumulative across resumes: the last one is the total
        self._session_usage(usage)

    def _session_usage(self, by_model: dict[str, dict[str, Any]]) -> None:
        """The shutdown's token counts become the session's usage (``meta["usage"]``); the
        per-message ``outputTokens`` it includes (subagents' too) leave ``Message.usage`` for
        ``meta["output_tokens"]``, so the session is never counted twice. Messages after the
        last shutdown (a resumed session still going on) keep theirs."""
        lanes_of = {k: {ln: v for ln, v in d.items() if ln in m.USAGE_LANES} for k, d in by_model.items()}
        lanes_of = {k: d for k, d in lanes_of.items() if d}
        if not lanes_of:
            return  # requests only: the messages' counts are all there is
        total: dict[str, Any] = {}
        for d in lanes_of.values():
            for ln, v in d.items():
                total[ln] = total.get(ln, 0) + v
        if len(lanes_of) == 1:
            total["model"] = next(iter(lanes_of))
        else:
            total["by_model"] = lanes_of
        total["convention"] = "openai"
        self.meta["usage"] = total
        for conv in (self.main, *self.agents.values()):
            for msg in conv.messages:
                if msg.usage:
                    msg.meta = {**(msg.meta or {}), "output_tokens": msg.usage.get("output")}
                    msg.usage = None

    def abort(self, lineno, rec, data, conv, ts) -> None:
        for msg in reversed(conv.messages):  # the calls of the aborted turn that never got a result
            for b in msg.blocks:
                if b.type == m.TOOL_USE and b.id and b.id not in conv.result_ids:
                    b.meta = {**(b.meta or {}), "outcome": "aborted"}
            if msg.role == m.USER and not msg.context:
                break
        reason = as_str(data.get("reason"))
        if reason:
            reasons = self.meta.setdefault("abort_reasons", [])
            if len(reasons) < 20:
                reasons.append(clip_text(reason, 200))

    # -- conversations

    def finish(self) -> Iterator[m.Conversation]:
        if not self.events:
            return
        sid = self.sid
        meta: dict[str, Any] = {"form": "events"}
        if sid is None:
            first = next(iter(self.ids), None)
            if first is None:
                self.ctx.warn("Copilot CLI log without a session.start or any message; nothing imported")
                return
            sid = f"derived-{first}"
            meta["derived_id"] = True
            self.ctx.warn("no session.start event: the session id is derived from the first event's id")
        for k in ("copilotVersion", "producer", "version", "selectedModel", "reasoningEffort"):
            if self.start.get(k) is not None:
                meta[k] = bounded(self.start[k], max_str=200)
        if isinstance(self.start.get("context"), dict):
            meta["context"] = bounded(self.start["context"], max_str=500)
        meta.update(self.meta)
        meta["events"] = dict(sorted(self.events.items()))
        main = self._build(self.main, sid, None, meta)
        if main is not None:
            yield main
        for key, conv in self.agents.items():
            info = self.agent_info.get(key, {})
            cmeta: dict[str, Any] = {"form": "events", "parent_tool_call_id": key}
            if info:
                cmeta["agent"] = info
            child = self._build(conv, f"{sid}/agent-{key}", f"{NAME}:{sid}", cmeta)
            if child is not None:
                child.title = as_str(info.get("agentDisplayName")) or as_str(info.get("agentName"))
                yield child

    def _build(self, conv: _Conv, pid: str, parent: str | None, meta: dict) -> m.Conversation | None:
        messages = [msg for msg in conv.messages if not _is_copied_reasoning(msg, self.reasoning_texts)]
        if len(messages) != len(conv.messages):
            meta["reasoning_copies_dropped"] = len(conv.messages) - len(messages)
            kept = {msg.id for msg in messages}
            prev: str | None = None
            for msg in messages:  # re-link over the dropped copies
                if msg.parent_id not in kept:
                    msg.parent_id = prev
                prev = msg.id
        if not messages:
            if parent is None:
                self.ctx.note(f"Copilot CLI session {pid} has no messages; nothing imported")
            return None
        stamps = [msg.timestamp for msg in messages if msg.timestamp]
        created = to_utc(self.start.get("startTime")) if parent is None else None
        return m.Conversation(
            provider=NAME,
            provider_id=pid,
            title=self.title if parent is None else None,
            created_at=created or (min(stamps) if stamps else None),
            updated_at=max([*stamps, self.last_ts] if parent is None and self.last_ts else stamps, default=None),
            messages=messages,
            source_path=self.ctx.path,
            parent_id=parent,
            models=conv.models,
            project=self.project,
            meta=meta,
        )


def _is_copied_reasoning(msg: m.Message, texts: set[str]) -> bool:
    """An ``assistant.reasoning`` event whose text an assistant message already carries."""
    return (
        msg.role == m.ASSISTANT
        and len(msg.blocks) == 1
        and msg.blocks[0].type == m.THINKING
        and "reasoning_id" in (msg.meta or {})
        and msg.blocks[0].text.strip() in texts
    )


_HANDLERS = {
    "session.start": _EventLog.session_start,
    "session.resume": _EventLog.session_resume,
    "session.model_change": _EventLog.model_change,
    "session.title_changed": _EventLog.title_changed,
    "session.info": _EventLog.notice,
    "session.warning": _EventLog.notice,
    "session.error": _EventLog.notice,
    "system.message": _EventLog.system_message,
    "system.notification": _EventLog.system_message,
    "user.message": _EventLog.user_message,
    "assistant.turn_start": _EventLog.turn_start,
    "assistant.message": _EventLog.assistant_message,
    "assistant.reasoning": _EventLog.assistant_reasoning,
    "tool.execution_start": _EventLog.tool_start,
    "tool.user_requested": _EventLog.tool_start,
    "tool.execution_complete": _EventLog.tool_complete,
    "subagent.started": _EventLog.subagent,
    "subagent.completed": _EventLog.subagent,
    "subagent.failed": _EventLog.subagent,
    "session.compaction_complete": _EventLog.compaction,
    "session.shutdown": _EventLog.shutdown,
    "abort": _EventLog.abort,
}


# ---------------------------------------------------------------- old layout


_TIMELINE_ROLES = {"user": m.USER, "copilot": m.ASSISTANT, "assistant": m.ASSISTANT, "info": m.SYSTEM}


def _parse_history(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    yield from _history(load_json(stream, ctx=ctx), ctx)


def _history(doc: Any, ctx: ParseContext) -> Iterator[m.Conversation]:
    if not isinstance(doc, dict) or not ("timeline" in doc or "chatMessages" in doc):
        raise ParseError("not a Copilot CLI session (no timeline or chatMessages)")
    sid = usable_str(doc.get("sessionId"))
    if sid is None:
        raise ParseError("Copilot CLI session without a sessionId")
    timeline = as_list(doc.get("timeline"))
    chat = as_list(doc.get("chatMessages"))
    meta: dict[str, Any] = {"form": "history"}
    messages: list[m.Message] = []
    if any(isinstance(t, dict) and t.get("type") in ("user", "copilot") for t in timeline):
        for i, item in enumerate(timeline):
            with skip_on_error(ctx, f"timeline[{i}]"):
                messages.extend(_timeline_item(sid, i, item, ctx))
        if chat:
            meta["chat_messages_not_imported"] = len(chat)  # the model's copy of the same dialogue
    else:
        for i, item in enumerate(chat):
            with skip_on_error(ctx, f"chatMessages[{i}]"):
                messages.extend(_chat_message(sid, i, item))
        if timeline:
            meta["timeline_items"] = len(timeline)
    prev: str | None = None
    for msg in messages:
        msg.parent_id = prev
        prev = msg.id
    if not messages:
        ctx.note(f"Copilot CLI session {sid} has no messages; nothing imported")
        return
    stamps = [msg.timestamp for msg in messages if msg.timestamp]
    yield from guarded(
        fail_on_error("malformed Copilot CLI session"),
        lambda: m.Conversation(
            provider=NAME,
            provider_id=sid,
            created_at=read_time(doc.get("startTime"), meta, "startTime") or (min(stamps) if stamps else None),
            updated_at=max(stamps) if stamps else None,
            messages=messages,
            source_path=ctx.path,
            meta=meta,
        ),
    )


def _timeline_item(sid: str, i: int, item: Any, ctx: ParseContext) -> list[m.Message]:
    if not isinstance(item, dict):
        ctx.warn(f"timeline[{i}]: not an object, skipped")
        return []
    meta: dict[str, Any] = {}
    mid = usable_str(item.get("id"))
    if mid is None:
        mid, meta["derived_id"] = f"{sid}:{i}", True
    ts = read_time(item.get("timestamp"), meta, "timestamp")
    typ = as_str(item.get("type")) or ""
    if typ.startswith("tool_call"):
        cid = as_str(item.get("callId"))
        use = m.tool_use(cid, as_str(item.get("name")), from_json_text(item.get("arguments"), containers_only=True))
        umeta = {k: item[k] for k in ("toolTitle", "intentionSummary") if as_str(item.get(k))}
        use.meta = umeta or None
        out = [m.Message(f"{mid}#call", m.ASSISTANT, [use], timestamp=ts, meta={**meta, "derived_id": True})]
        result = item.get("result")
        if typ == "tool_call_completed" or result is not None:
            res = as_dict(result)
            kind = as_str(res.get("type"))
            text = json_text(res.get("log")) if "log" in res else json_text(result)
            is_error = None if kind is None else kind != "success"
            block = m.tool_result(cid, text, is_error)
            rmeta = {**meta, "outcome": "unknown" if kind is None else "success" if kind == "success" else "error"}
            out.append(m.Message(mid, m.TOOL, [block], timestamp=ts, meta=rmeta))
        return out
    role = _TIMELINE_ROLES.get(typ)
    if role is None:
        role, meta["type"] = m.SYSTEM, typ
        ctx.warn(f"timeline[{i}]: unknown type {typ!r}, kept as a system notice")
    text = as_str(item.get("text")) or ""
    return [
        m.Message(mid, role, [m.text(text)] if text else [], timestamp=ts, context=role == m.SYSTEM, meta=meta or None)
    ]


def _chat_message(sid: str, i: int, item: Any) -> list[m.Message]:
    """One OpenAI-style chat message of ``chatMessages`` (no ids, no times)."""
    if not isinstance(item, dict):
        return [m.Message(f"{sid}:{i}", m.SYSTEM, [m.opaque(item)], meta={"derived_id": True})]
    role = as_str(item.get("role")) or ""
    blocks: list[m.Block] = []
    content = item.get("content")
    if isinstance(content, str):
        blocks += [m.text(content)] if content else []
    else:
        for part in as_list(content):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                blocks.append(m.text(part["text"]))
            elif part is not None:
                blocks.append(m.opaque(part))
    if role == "tool":
        return [
            m.Message(
                f"{sid}:{i}",
                m.TOOL,
                [m.tool_result(as_str(item.get("tool_call_id")), "\n".join(b.text for b in blocks))],
                meta={"derived_id": True, **({"name": item["name"]} if as_str(item.get("name")) else {})},
            )
        ]
    for call in as_list(item.get("tool_calls")):
        fn = as_dict(as_dict(call).get("function"))
        blocks.append(
            m.tool_use(
                as_str(as_dict(call).get("id")),
                as_str(fn.get("name")),
                from_json_text(fn.get("arguments"), containers_only=True),
            )
        )
    mapped = {"user": m.USER, "assistant": m.ASSISTANT, "system": m.SYSTEM, "developer": m.SYSTEM}.get(role, m.SYSTEM)
    meta: dict[str, Any] = {"derived_id": True}
    if role not in ("user", "assistant", "system"):
        meta["role"] = role
    return [m.Message(f"{sid}:{i}", mapped, blocks, context=mapped == m.SYSTEM, meta=meta)]


PROVIDER = Provider(
    name=NAME,
    display_name="GitHub Copilot CLI",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=62,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=True),
    locations=(
        # a session's folder also holds the files the agent wrote (files/, checkpoints/): only the log is
        # read; early versions wrote the log as session-state/<id>.jsonl
        Location("~/.copilot", "session-state", env="COPILOT_HOME", find=("*/events.jsonl", "*.jsonl"), depth=1),
        Location("~/.copilot", "history-session-state", env="COPILOT_HOME", find=("*.json",), depth=0),
    ),
)
