"""Factory Droid sessions (docs/providers.md, "droid"): both shapes Droid writes.

1. The session store, ``~/.factory/sessions/<project>/<session>.jsonl``: a
   ``{type:"session_start", id, title, cwd, version?}`` line, then
   ``{type:"message", id, parentId, timestamp, message:{role, content[]}}``
   lines whose content blocks are Anthropic-shaped (``text``, ``thinking``,
   ``tool_use``, ``tool_result``). Tool results come back in user-role messages:
   those are tool messages, paired to their call by ``tool_use_id``. Leading
   ``<system-reminder>`` blocks in a user text are injected context: they
   become a context message of their own (``<id>#reminder``) before the prompt.
   ``<session>.settings.json`` beside it (model, autonomy) is a side file.
2. ``droid exec --output-format stream-json`` logs: one event per line, each
   with ``session_id``: ``system`` (init: cwd, model), ``message`` (``role``,
   ``text``), ``tool_call`` (``toolCallId``, ``toolName``, ``parameters``),
   ``tool_result`` (``toolCallId``, ``value``, ``isError``), ``completion``
   (``finalText``, usage, turn count) and ``error``. ``finalText`` repeats the
   last assistant message when there is one (then it is not added again); the
   completion's usage is the run's total, carried on the last assistant message.

Identity: the session id (``session_start.id`` / ``session_id``); message ids are
the source's where present, else ``<session>:<line>`` (flagged ``derived_id``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from .. import models as m
from ..errors import ParseError
from .assemble import content_blocks, feed_records, guarded
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
    token_usage,
)

NAME = "droid"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

STORE_TYPES = frozenset({"session_start", "message"})
STREAM_TYPES = frozenset({"system", "message", "tool_call", "tool_result", "completion", "error"})
_REMINDER = re.compile(r"\s*<system-reminder>.*?</system-reminder>", re.S | re.I)
_TITLE_CHARS = 100
# entry types of pi's session format, whose message lines look like Droid's
_PI_TYPES = frozenset({"model_change", "thinking_level_change", "compaction", "branch_summary", "custom_message"})
_FAILED = re.compile(r"Error: Command failed \(exit code: (-?\d{1,9})\)")


# ---------------------------------------------------------------- sniffing


def _session_id(r: dict) -> str | None:
    v = r.get("session_id", r.get("sessionId"))
    return v if isinstance(v, str) and v else None


def _store_message(r: dict) -> bool:
    msg = r.get("message")
    return (
        r.get("type") == "message"
        and isinstance(msg, dict)
        and msg.get("role") in ("user", "assistant", "system")
        and isinstance(msg.get("content"), (list, str))
        and "parentId" in r
        and "uuid" not in r
        and "sessionId" not in r
    )


def _stream_event(r: dict) -> bool:
    t = r.get("type")
    if t not in STREAM_TYPES or _session_id(r) is None or "message" in r or "data" in r:
        return False
    if t == "message":
        return r.get("role") in ("user", "assistant", "system") and isinstance(r.get("text"), str)
    if t == "tool_call":
        return isinstance(r.get("toolName", r.get("tool_name")), str)
    if t == "tool_result":
        return "toolCallId" in r or "tool_call_id" in r or "id" in r
    if t == "completion":
        return "finalText" in r
    return True


def sniff(head: Head) -> bool:
    recs = head.records
    if not recs:
        return False
    first = recs[0]
    if first.get("type") == "session_start" and isinstance(first.get("id"), str):
        return len(recs) == 1 or any(_store_message(r) for r in recs[1:])
    if first.get("type") == "session" or any(r.get("type") in _PI_TYPES for r in recs):
        return False  # a pi session (providers/pi_agent.py): the same message envelope
    if sum(1 for r in recs if _store_message(r)) >= 2:
        return True  # the session_start line lost
    stream = [r for r in recs if _stream_event(r)]
    # several kinds of events, all of one session: a stream-json log (as agent-sessions sniffs it)
    kinds = {r.get("type") for r in stream}
    return len(stream) >= 2 and len(kinds) >= 2 and len({_session_id(r) for r in stream}) == 1


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    p = _Parser(ctx)
    if not feed_records(stream, ctx, p.feed):
        raise ParseError("no Droid session records in this file")
    if p.shape is None:
        raise ParseError("no Droid session or stream-json events in this file")
    yield from guarded(skip_on_error(ctx, "Droid session"), p.build)


class _Parser:
    def __init__(self, ctx: ParseContext):
        self.ctx = ctx
        self.shape: str | None = None  # "session-store" | "stream-json"
        self.sid: str | None = None
        self.meta: dict[str, Any] = {}
        self.title: str | None = None
        self.project: str | None = None
        self.model: str | None = None
        self.msgs: list[m.Message] = []
        self.ids: set[str] = set()
        self.unknown: dict[str, int] = {}
        self.final: dict | None = None

    def feed(self, lineno: int, rec: dict) -> None:
        t = rec.get("type")
        if self.shape is None:
            if t == "session_start" or _store_message(rec):
                self.shape = "session-store"
            elif _stream_event(rec):
                self.shape = "stream-json"
            else:
                self.unknown[str(t)] = self.unknown.get(str(t), 0) + 1
                return
        if self.shape == "session-store":
            self._store(lineno, rec, t)
        else:
            self._stream(lineno, rec, t)

    # -- ids

    def _id(self, raw: Any, lineno: int, suffix: str = "") -> tuple[str, bool]:
        mid = as_str(raw)
        derived = not mid or mid in self.ids
        if derived:
            mid = f"{self.sid or 'droid'}:{lineno}{suffix}"
        assert mid is not None
        while mid in self.ids:
            mid += "'"
        self.ids.add(mid)
        return mid, derived

    def _add(self, msg: m.Message, derived: bool) -> None:
        if derived:
            msg.meta = {**(msg.meta or {}), "derived_id": True}
        if msg.parent_id is None or msg.parent_id not in self.ids or msg.parent_id == msg.id:
            msg.parent_id = self.msgs[-1].id if self.msgs else None
        self.msgs.append(msg)

    # -- the session store

    def _store(self, lineno: int, rec: dict, t: Any) -> None:
        if t == "session_start":
            self.sid = self.sid or as_str(rec.get("id"))
            self.title = as_str(rec.get("sessionTitle")) or as_str(rec.get("title")) or self.title
            self.project = as_str(rec.get("cwd")) or self.project
            for k in ("version", "owner"):
                if rec.get(k) is not None:
                    self.meta[k] = bounded(rec[k], max_str=200)
            return
        if not _store_message(rec):
            self.unknown[str(t)] = self.unknown.get(str(t), 0) + 1
            return
        msg = rec["message"]
        meta: dict[str, Any] = {}
        ts = read_time(rec.get("timestamp"), meta, "timestamp")
        blocks = content_blocks(msg.get("content"), _part)
        role = msg.get("role")
        mid, derived = self._id(rec.get("id"), lineno)
        parent = as_str(rec.get("parentId"))
        if role == "assistant":
            model = as_str(msg.get("model")) or self.model
            out = m.Message(
                mid,
                m.ASSISTANT,
                blocks,
                parent,
                ts,
                model=model,
                usage=token_usage(msg.get("usage"), _USAGE_FIELDS, "anthropic"),
            )
            self._add(out, derived)
            return
        if role == "system":
            self._add(m.Message(mid, m.SYSTEM, blocks, parent, ts, context=True), derived)
            return
        if any(b.type == m.TOOL_RESULT for b in blocks):
            self._add(m.Message(mid, m.TOOL, blocks, parent, ts), derived)
            return
        reminder, blocks = _split_reminder(blocks)
        if reminder:
            rid = f"{mid}#reminder"
            while rid in self.ids:
                rid += "'"
            self.ids.add(rid)
            note = m.Message(
                rid, m.USER, [m.text(reminder)], parent, ts, context=True, meta={"kind": "system_reminder"}
            )
            self._add(note, True)
            parent = rid
        if blocks:
            self._add(m.Message(mid, m.USER, blocks, parent, ts), derived)

    # -- stream-json

    def _stream(self, lineno: int, rec: dict, t: Any) -> None:
        if not _stream_event(rec):
            self.unknown[str(t)] = self.unknown.get(str(t), 0) + 1
            return
        sid = _session_id(rec)
        if self.sid is None:
            self.sid = sid
        elif sid != self.sid:
            others = self.meta.setdefault("other_session_ids", [])
            if sid not in others and len(others) < 20:
                others.append(sid)
        meta: dict[str, Any] = {}
        ts = read_time(rec.get("timestamp"), meta, "timestamp")
        if t == "system":
            self.project = as_str(rec.get("cwd")) or self.project
            self.model = as_str(rec.get("model")) or self.model
            if rec.get("tools") is not None:
                self.meta["tools"] = bounded(rec["tools"], max_items=200)
            return
        if t == "message":
            role = {"user": m.USER, "assistant": m.ASSISTANT}.get(rec["role"], m.SYSTEM)
            mid, derived = self._id(rec.get("id"), lineno)
            text = rec["text"]
            out = m.Message(mid, role, [m.text(text)] if text else [], timestamp=ts, meta=meta or None)
            out.context = role == m.SYSTEM
            if role == m.ASSISTANT:
                out.model = self.model
            self._add(out, derived)
            return
        if t == "tool_call":
            call = as_str(rec.get("toolCallId", rec.get("tool_call_id"))) or as_str(rec.get("id"))
            mid, derived = self._id(None, lineno, "")
            name = as_str(rec.get("toolName", rec.get("tool_name")))
            use = m.tool_use(call, name, rec.get("parameters", rec.get("input")))
            if rec.get("messageId") is not None:
                meta["message_id"] = bounded(rec["messageId"], max_str=200)
            self._add(m.Message(mid, m.ASSISTANT, [use], timestamp=ts, model=self.model, meta=meta or None), derived)
            return
        if t == "tool_result":
            call = as_str(rec.get("toolCallId", rec.get("tool_call_id"))) or as_str(rec.get("id"))
            mid, derived = self._id(None, lineno)
            value = rec.get("value")
            err = rec.get("isError", rec.get("is_error"))
            code = as_dict(value).get("exitCode", as_dict(value).get("exit_code"))
            is_error = err if isinstance(err, bool) else (code != 0 if isinstance(code, int) else None)
            res = m.tool_result(call, _result_text(value), is_error)
            if isinstance(code, int) and not isinstance(code, bool):
                res.meta = {"exit_code": code}
            self._add(m.Message(mid, m.TOOL, [res], timestamp=ts, meta=meta or None), derived)
            return
        if t == "completion":
            self.final = {"line": lineno, "rec": rec, "ts": ts}
            return
        if t == "error":
            mid, derived = self._id(rec.get("id"), lineno)
            text = as_str(rec.get("message")) or as_str(rec.get("text")) or json_text(rec.get("error"))
            meta.update(kind="error", source=bounded(rec.get("source"), max_str=200))
            self._add(m.Message(mid, m.SYSTEM, [m.text(text)] if text else [], timestamp=ts, meta=meta), derived)

    def _completion(self) -> None:
        if self.final is None:
            return
        rec, ts, line = self.final["rec"], self.final["ts"], self.final["line"]
        text = as_str(rec.get("finalText")) or ""
        last = next((x for x in reversed(self.msgs) if x.role == m.ASSISTANT and x.text.strip()), None)
        target = last
        if text.strip() and (last is None or last.text.strip() != text.strip()):
            mid, derived = self._id(rec.get("id"), line)
            target = m.Message(mid, m.ASSISTANT, [m.text(text)], timestamp=ts, model=self.model)
            target.meta = {"source": "completion.finalText"}
            self._add(target, derived)
        stats = {k: bounded(rec[k]) for k in ("numTurns", "durationMs", "num_turns", "duration_ms") if k in rec}
        if stats:
            self.meta["completion"] = stats
        usage = token_usage(rec.get("usage"), _USAGE_FIELDS, "anthropic")
        if usage is not None:  # the run's total: the session's usage, never on a message
            if self.model:
                usage["model"] = self.model
            self.meta["usage"] = usage

    # -- conversation

    def build(self) -> m.Conversation | None:
        self._completion()
        if not self.msgs:
            self.ctx.warn("Droid session has no messages; nothing imported")
            return None
        sid = self.sid
        meta = dict(self.meta, shape=self.shape)
        if not sid:
            first = self.msgs[0]
            sid = f"derived-{first.id}"
            meta["derived_id"] = True
            self.ctx.warn("no Droid session id; the conversation id is derived from the first message")
        if self.unknown:
            meta["unknown_record_types"] = dict(list(self.unknown.items())[:50])
        title = self.title
        if not title:
            first_prompt = next((x for x in self.msgs if x.role == m.USER and not x.context and x.text.strip()), None)
            title = first_prompt.text.strip().split("\n", 1)[0][:_TITLE_CHARS] if first_prompt else None
        stamps = [x.timestamp for x in self.msgs if x.timestamp]
        models = list(dict.fromkeys(x.model for x in self.msgs if x.model))
        return m.Conversation(
            provider=NAME,
            provider_id=sid,
            title=title,
            created_at=min(stamps) if stamps else None,
            updated_at=max(stamps) if stamps else None,
            messages=self.msgs,
            source_path=self.ctx.path,
            models=models,
            project=self.project,
            meta=meta,
        )


# ---------------------------------------------------------------- blocks


def _part(t: Any, b: dict) -> list[m.Block] | None:
    """The blocks of one content part of a type other than text; None for a type Droid does not write."""
    if t in ("thinking", "reasoning"):
        text = as_str(b.get("thinking")) or as_str(b.get("text"))
        return [m.thinking(text)] if text else []
    if t == "tool_use":
        return [m.tool_use(as_str(b.get("id")), as_str(b.get("name")), b.get("input"))]
    if t == "tool_result":
        err = b.get("is_error")
        body = _result_text(b.get("content"))
        res = m.tool_result(
            as_str(b.get("tool_use_id")) or as_str(b.get("toolUseId")),
            body,
            err if isinstance(err, bool) else None,
        )
        failed = _FAILED.match(body)
        if failed:  # Droid's Execute tool reports a failure in the text only
            res.meta = {"exit_code": int(failed.group(1))}
            if res.is_error is None:
                res.is_error = int(failed.group(1)) != 0
        return [res]
    if t == "image":
        src = as_dict(b.get("source"))
        return [m.attachment(None, kind=m.IMAGE, mime=as_str(src.get("media_type")))]
    return None


def _result_text(value: Any) -> str:
    """A tool's output: text, text blocks, or a structure (``{stdout, exitCode}``) kept as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, dict) and x.get("type") == "text" for x in value):
        return "\n".join(as_str(x.get("text")) or "" for x in value)
    if (
        isinstance(value, dict)
        and isinstance(value.get("stdout"), str)
        and set(value)
        <= {
            "stdout",
            "stderr",
            "exitCode",
            "exit_code",
        }
    ):
        return "\n".join(s for s in (value.get("stdout"), value.get("stderr")) if isinstance(s, str) and s)
    return json_text(json_or_summary(value))


def _split_reminder(blocks: list[m.Block]) -> tuple[str, list[m.Block]]:
    """Leading ``<system-reminder>`` blocks of the first text, and the blocks without them."""
    if not blocks or blocks[0].type != m.TEXT:
        return "", blocks
    first = blocks[0].text
    end = 0
    while True:
        hit = _REMINDER.match(first, end)
        if hit is None:
            break
        end = hit.end()
    if not end:
        return "", blocks
    rest = first[end:].strip()
    return first[:end].strip(), ([m.text(rest)] if rest else []) + blocks[1:]


_USAGE_FIELDS = (  # the session store's names and stream-json's
    ("input_tokens", "input"),
    ("inputTokens", "input"),
    ("output_tokens", "output"),
    ("outputTokens", "output"),
    ("cache_read_input_tokens", "cache_read"),
    ("cacheReadTokens", "cache_read"),
    ("cache_creation_input_tokens", "cache_write"),
    ("cacheCreationTokens", "cache_write"),
    ("thinkingTokens", "reasoning"),
)


def _side_file(head: Head) -> bool:
    """``<session>.settings.json``: the session's model and autonomy settings."""
    if head.kind != "json" or head.top != "object":
        return False
    p = head.paths
    return (
        "model" in p
        and "messages" not in p
        and any(k in p for k in ("reasoningEffort", "autonomyLevel", "autonomyMode", "providerLock", "tokenUsage"))
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Factory Droid",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=223,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=False),
    locations=(Location("~/.factory", "sessions", find=("**/*.jsonl",), depth=3),),
    side_file=_side_file,
)
