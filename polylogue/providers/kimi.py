"""Kimi CLI sessions (docs/providers.md, "kimi"): the two journals Moonshot's CLIs write.

1. Kimi Code CLI op journals, ``~/.kimi-code/sessions/<workdir>/<session>/agents/<agent>/wire.jsonl``.
   Line 1 is ``{type:"metadata", protocol_version, created_at (epoch ms)}``; every
   later line is a flattened op ``{type, ...payload, time (epoch ms), agentId?}``.
   ``context.append_message`` carries a message ``{role, content[], toolCalls[],
   toolCallId, isError, origin{kind}}`` as it entered the model's context: these
   are the messages (``think`` parts are thinking; a user message whose origin is
   not the user is injected context). ``turn.prompt``/``turn.steer`` are what the
   person typed: copies of the user messages appended after them, dropped when
   matched, kept when no append follows. ``llm.request`` names the model of the
   replies after it; ``config.update``/``profile.bind`` system prompts become one
   context message each (repeats dropped). Cancels, retries and other ops are
   counted in ``meta.events``.
2. kimi-cli wire logs, ``~/.kimi/sessions/<workdir hash>/<session>/wire.jsonl``:
   ``{type:"metadata", protocol_version}`` then ``{timestamp (epoch s), message:
   {type, payload}}``. ``TurnBegin``/``SteerInput`` are prompts; ``TextPart``,
   ``ThinkPart`` and ``ToolCall`` (with ``ToolCallPart`` argument deltas) build the
   reply of each step (``StepBegin``), merged as the CLI merges them;
   ``ToolResult`` answers a call by ``tool_call_id``; ``StatusUpdate.token_usage``
   is the step's usage (``input_other`` excludes the cache lanes: convention
   ``anthropic``). ``SubagentEvent`` wraps a subagent's events: each subagent
   becomes a child conversation ``<session>/agent-<id>`` linked to its parent.
   ``context.jsonl`` beside it (the model context the wire log also records) is
   a side file.

Neither journal names its session (the id is the folder): the conversation id is
derived from the journal's first record (``meta.derived_id``), stable as the file
grows. Message ids are ``L<line>`` (``L<line>.<n>`` for several from one line).
A protocol version whose major number is not 1 imports what it can, with one warning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    from_json_text,
    iter_jsonl,
    json_or_summary,
    read_time,
    skip_on_error,
    to_utc,
    token_usage,
)

NAME = "kimi"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

KNOWN_MAJOR = "1"
OPS = frozenset(
    {
        "config.update",
        "tools.set_active_tools",
        "turn.prompt",
        "turn.steer",
        "turn.cancel",
        "turn.ended",
        "context.append_message",
        "context.append_loop_event",
        "llm.tools_snapshot",
        "llm.request",
        "permission.set_mode",
        "profile.bind",
        "plugin.session_start",
        "runtime.set_binding",
        "token_counting.measured",
        "token_counting.turn_recorded",
    }
)
WIRE_TYPES = frozenset(
    {
        "TurnBegin",
        "SteerInput",
        "TurnEnd",
        "StepBegin",
        "StepInterrupted",
        "CompactionBegin",
        "CompactionEnd",
        "StatusUpdate",
        "TextPart",
        "ThinkPart",
        "ImageURLPart",
        "AudioURLPart",
        "VideoURLPart",
        "ToolCall",
        "ToolCallPart",
        "ToolResult",
        "SubagentEvent",
        "ApprovalRequest",
        "ApprovalResponse",
        "ApprovalRequestResolved",
        "Notification",
        "PlanDisplay",
        "HookTriggered",
        "HookResolved",
        "MCPLoadingBegin",
        "MCPLoadingEnd",
        "QuestionRequest",
        "ToolCallRequest",
    }
)
_CONTEXT_ROLES = frozenset({"_system_prompt", "_checkpoint", "_usage"})
_TITLE_CHARS = 100


# ---------------------------------------------------------------- sniffing


def _is_metadata(r: dict) -> bool:
    return r.get("type") == "metadata" and isinstance(r.get("protocol_version"), str)


def _is_op(r: dict) -> bool:
    return r.get("type") in OPS and "time" in r


def _is_wire(r: dict) -> bool:
    msg = r.get("message")
    return "timestamp" in r and isinstance(msg, dict) and msg.get("type") in WIRE_TYPES and "payload" in msg


def sniff(head: Head) -> bool:
    recs = head.records
    if not recs:
        return False
    if _is_metadata(recs[0]):
        rest = recs[1:]
        return not rest or any(_is_op(r) or _is_wire(r) for r in rest)
    return sum(1 for r in recs if _is_op(r)) >= 2 or sum(1 for r in recs if _is_wire(r)) >= 2


def _side_file(head: Head) -> bool:
    """kimi-cli's ``context.jsonl``: the model context as role lines, with its
    ``_checkpoint``/``_usage``/``_system_prompt`` markers; the wire log records it all."""
    recs = head.records
    return (
        head.kind in ("json", "jsonl")
        and bool(recs)
        and all("role" in r and "type" not in r for r in recs)
        and any(r.get("role") in _CONTEXT_ROLES for r in recs)
    )


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    journal: _Journal | None = None
    n = 0
    for lineno, rec in iter_jsonl(stream, ctx):
        n += 1
        if journal is None:
            if _is_metadata(rec) or _is_op(rec) or _is_wire(rec):
                journal = _Journal(ctx, rec)
            else:
                continue
        with skip_on_error(ctx, "record", lineno):
            journal.feed(lineno, rec)
    if journal is None:
        raise ParseError("no Kimi journal records in this file" if n else "empty Kimi journal")
    convs: list[m.Conversation] = []
    with skip_on_error(ctx, "Kimi session"):
        convs = journal.build()
    yield from convs


def _derived_id(first: dict) -> str:
    seed = orjson.dumps(first, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha1(seed).hexdigest()[:20]


class _Journal:
    """One journal file: the main agent's messages and, for wire logs, its subagents'."""

    def __init__(self, ctx: ParseContext, first: dict):
        self.ctx = ctx
        self.meta: dict[str, Any] = {}
        self.form = "op-journal" if _is_op(first) or "created_at" in first else "wire"
        self.first: dict | None = None  # the record the id is derived from
        self.created: Any = None
        self.project: str | None = None
        self.main = _Thread(self, None)
        self.subagents: dict[str, _Thread] = {}
        self.events: dict[str, int] = {}
        self.version_checked = False

    def count(self, what: str) -> None:
        self.events[what] = self.events.get(what, 0) + 1

    def feed(self, lineno: int, rec: dict) -> None:
        if _is_metadata(rec):
            self._metadata(lineno, rec)
            return
        if self.first is None:
            self.first = rec
        if self.form == "wire" and _is_wire(rec) or "message" in rec and "timestamp" in rec and not _is_op(rec):
            self.form = "wire"
            self._wire(lineno, rec)
        else:
            self.main.op(lineno, rec)

    def _metadata(self, lineno: int, rec: dict) -> None:
        if self.version_checked:
            return
        self.version_checked = True
        version = rec["protocol_version"]
        self.meta["protocol_version"] = bounded(version, max_str=40)
        if "created_at" in rec:
            self.form = "op-journal"
            self.first = rec  # the journal's creation record names it
            self.created = rec.get("created_at")
        if version.split(".", 1)[0] != KNOWN_MAJOR:
            self.ctx.warn(
                f"Kimi journal protocol version {bounded(version, max_str=40)!r} is not one this parser knows "
                f"({KNOWN_MAJOR}.x); imported what it could read",
                lineno,
            )

    def _wire(self, lineno: int, rec: dict) -> None:
        msg = as_dict(rec.get("message"))
        t, payload = as_str(msg.get("type")), as_dict(msg.get("payload"))
        ts = to_utc(rec.get("timestamp"))
        if t == "SubagentEvent":
            agent = as_str(payload.get("agent_id")) or as_str(payload.get("parent_tool_call_id")) or "subagent"
            sub = self.subagents.get(agent)
            if sub is None:
                sub = self.subagents[agent] = _Thread(self, agent)
                sub.meta.update(
                    {
                        k: bounded(payload[k], max_str=200)
                        for k in ("subagent_type", "parent_tool_call_id")
                        if payload.get(k)
                    }
                )
            inner = as_dict(payload.get("event"))
            sub.wire(lineno, as_str(inner.get("type")), as_dict(inner.get("payload")), ts)
            return
        self.main.wire(lineno, t, payload, ts)

    def build(self) -> list[m.Conversation]:
        if self.first is None:
            self.ctx.warn("Kimi journal holds only its metadata line; nothing imported")
            return []
        sid = _derived_id(self.first)
        out: list[m.Conversation] = []
        conv = self.main.conversation(sid, None)
        if conv is None:
            self.ctx.warn("Kimi session has no messages; nothing imported")
        else:
            conv.meta.update(self.meta, form=self.form, derived_id=True)
            if self.events:
                conv.meta["events"] = dict(self.events)
            conv.created_at = to_utc(self.created) or conv.created_at
            conv.project = self.project
            out.append(conv)
        for agent, thread in self.subagents.items():
            child = thread.conversation(f"{sid}/agent-{agent}", f"{NAME}:{sid}" if conv is not None else None)
            if child is not None:
                child.meta.update(form=self.form, derived_id=True, agent_id=agent)
                child.project = self.project
                out.append(child)
        return out


class _Thread:
    """The messages of one agent, in file order."""

    def __init__(self, journal: _Journal, agent: str | None):
        self.j = journal
        self.agent = agent
        self.msgs: list[tuple[int, int, m.Message]] = []  # (line, order within line, message)
        self.meta: dict[str, Any] = {}
        self.model: str | None = None
        self.prompts: list[tuple[int, str, m.Message]] = []  # typed prompts not yet matched by an append
        self.system_prompts: set[str] = set()
        self.reply: m.Message | None = None  # the assistant message the current step writes into
        self.calls: dict[str, m.Block] = {}
        self.results: dict[str, m.Block] = {}
        self.last_call: m.Block | None = None
        self.approvals: dict[str, str] = {}  # approval request id -> the tool call it asks about
        self.rejected: set[str] = set()  # tool calls the person refused

    def add(self, line: int, msg: m.Message) -> None:
        self.msgs.append((line, len(self.msgs), msg))

    def _mid(self, line: int) -> str:
        n = sum(1 for ln, _, _ in self.msgs[-8:] if ln == line)
        return f"L{line}" if n == 0 else f"L{line}.{n}"

    # -- op journals

    def op(self, line: int, rec: dict) -> None:
        t = as_str(rec.get("type")) or "?"
        meta: dict[str, Any] = {}
        ts = read_time(rec.get("time"), meta, "timestamp")
        if t == "context.append_message":
            self._append(line, as_dict(rec.get("message")), ts, meta)
            return
        if t in ("turn.prompt", "turn.steer"):
            blocks = _parts(rec.get("input"), meta)
            text = "".join(b.text for b in blocks if b.type == m.TEXT)
            meta.update(kind=t, origin=bounded(rec.get("origin"), max_items=10))
            self.prompts.append((line, text, m.Message(self._mid(line), m.USER, blocks, timestamp=ts, meta=meta)))
            return
        cwd = as_str(as_dict(rec.get("environmentDisclosure")).get("cwd"))
        if cwd:
            self.j.project = self.j.project or cwd
        if t == "llm.request":
            self.model = as_str(rec.get("model")) or self.model
            if rec.get("attempt") is not None:
                self.j.count("llm.request retry")
                return
        for key in ("systemPrompt",):
            prompt = as_str(rec.get(key))
            if prompt and prompt not in self.system_prompts:
                self.system_prompts.add(prompt)
                self.add(line, m.Message(self._mid(line), m.SYSTEM, [m.text(prompt)], timestamp=ts, context=True))
        if t not in OPS:
            self.j.count(f"unknown {t}")
        else:
            self.j.count(t)

    def _append(self, line: int, msg: dict, ts: Any, meta: dict) -> None:
        role = msg.get("role")
        origin = as_dict(msg.get("origin")).get("kind")
        blocks = _parts(msg.get("content"), meta)
        if role == "user":
            text = "".join(b.text for b in blocks if b.type == m.TEXT)
            for k, (_pl, ptext, _pm) in enumerate(self.prompts):
                if ptext == text:
                    del self.prompts[k]  # the typed prompt this append copies
                    break
            context = origin is not None and origin != "user"
            if context:
                meta["origin"] = bounded(origin, max_str=80)
            self.add(line, m.Message(self._mid(line), m.USER, blocks, timestamp=ts, context=context, meta=meta or None))
        elif role == "assistant":
            for call in as_list(msg.get("toolCalls", msg.get("tool_calls"))):
                blocks.append(_call(call))
            self.add(
                line, m.Message(self._mid(line), m.ASSISTANT, blocks, timestamp=ts, model=self.model, meta=meta or None)
            )
        elif role == "tool":
            err = msg.get("isError")
            res = m.tool_result(
                as_str(msg.get("toolCallId", msg.get("tool_call_id"))),
                "\n".join(b.text for b in blocks if b.type == m.TEXT),
                err if isinstance(err, bool) else None,
            )
            extra = [b for b in blocks if b.type != m.TEXT]
            self.add(line, m.Message(self._mid(line), m.TOOL, [res, *extra], timestamp=ts, meta=meta or None))
        else:
            meta["role"] = bounded(role, max_str=40)
            self.add(line, m.Message(self._mid(line), m.SYSTEM, blocks, timestamp=ts, context=True, meta=meta))

    # -- wire logs

    def wire(self, line: int, t: str | None, p: dict, ts: Any) -> None:
        if t in ("TurnBegin", "SteerInput"):
            meta: dict[str, Any] = {"kind": t} if t == "SteerInput" else {}
            blocks = _parts(p.get("user_input"), meta)
            self.add(line, m.Message(self._mid(line), m.USER, blocks, timestamp=ts, meta=meta or None))
            self.reply = None
            return
        if t == "StepBegin":
            self.reply = None
            return
        if t in ("TextPart", "ThinkPart", "ImageURLPart", "AudioURLPart", "VideoURLPart"):
            reply = self._reply(line, ts)
            for b in _parts([p], {}):
                last = reply.blocks[-1] if reply.blocks else None
                if last is not None and b.type == last.type and b.type in (m.TEXT, m.THINKING):
                    last.text += b.text  # streamed deltas of one part
                else:
                    reply.blocks.append(b)
            return
        if t == "ToolCall":
            use = _call(p)
            raw = as_dict(p.get("function")).get("arguments", p.get("arguments"))
            if isinstance(raw, str):  # argument deltas may follow: parsed once the reply is whole
                use.meta = {"raw_arguments": raw}
            self._reply(line, ts).blocks.append(use)
            self.last_call = use
            if use.id:
                self.calls[use.id] = use
            return
        if t == "ToolCallPart":
            piece = as_str(p.get("arguments_part"))
            if self.last_call is not None and piece:
                raw = self.last_call.meta.get("raw_arguments", "") if self.last_call.meta else ""
                self.last_call.meta = {"raw_arguments": raw + piece}
            return
        if t == "ToolResult":
            self._result(line, p, ts)
            return
        if t == "StatusUpdate":
            usage = token_usage(p.get("token_usage"), _USAGE_FIELDS, "anthropic")
            if usage and self.reply is not None:
                self.reply.usage = usage
            elif usage:
                self.j.count("usage without a reply")
            return
        if t == "StepInterrupted" and self.reply is not None:
            self.reply.meta = {**(self.reply.meta or {}), "interrupted": True}
        if t == "ApprovalRequest" and as_str(p.get("id")) and as_str(p.get("tool_call_id")):
            self.approvals[p["id"]] = p["tool_call_id"]
        if t in ("ApprovalResponse", "ApprovalRequestResolved") and p.get("response") == "reject":
            call = self.approvals.get(as_str(p.get("request_id")) or "")
            if call:
                self.rejected.add(call)
        self.j.count(t if t in WIRE_TYPES else f"unknown {t}")

    def _reply(self, line: int, ts: Any) -> m.Message:
        if self.reply is None:
            self.reply = m.Message(self._mid(line), m.ASSISTANT, [], timestamp=ts, model=self.model)
            self.add(line, self.reply)
        return self.reply

    def _result(self, line: int, p: dict, ts: Any) -> None:
        rv = as_dict(p.get("return_value"))
        output = rv.get("output")
        body = output if isinstance(output, str) else "\n".join(b.text for b in _parts(output, {}) if b.type == m.TEXT)
        err = rv.get("is_error")
        res = m.tool_result(
            as_str(p.get("tool_call_id")),
            body or as_str(rv.get("message")) or "",
            err if isinstance(err, bool) else None,
        )
        rmeta = {k: json_or_summary(rv[k], 4000) for k in ("message", "display") if rv.get(k) not in (None, "", [])}
        res.meta = rmeta or None
        self.add(line, m.Message(self._mid(line), m.TOOL, [res], timestamp=ts))
        self.reply = None

    # -- conversation

    def conversation(self, cid: str, parent: str | None) -> m.Conversation | None:
        for line, _text, msg in self.prompts:  # typed, never appended (cancelled first)
            msg.meta = {**(msg.meta or {}), "not_in_context": True}
            self.add(line, msg)
        self.prompts = []
        ordered = [msg for _, _, msg in sorted(self.msgs, key=lambda x: (x[0], x[1]))]
        messages: list[m.Message] = []
        for msg in ordered:
            if msg.role == m.ASSISTANT and not msg.blocks:
                continue
            for b in msg.blocks:
                if b.type == m.TOOL_USE and b.meta and "raw_arguments" in b.meta:
                    raw = b.meta.pop("raw_arguments")  # a string: see ToolCall above
                    b.input = from_json_text(raw) if raw else b.input
                    b.meta = b.meta or None
                elif b.type == m.TOOL_RESULT and b.id in self.rejected:
                    b.meta = {**(b.meta or {}), "outcome": "rejected"}
            msg.parent_id = messages[-1].id if messages else None
            messages.append(msg)
        if not messages:
            return None
        first = next((x for x in messages if x.role == m.USER and not x.context and x.text.strip()), None)
        stamps = [x.timestamp for x in messages if x.timestamp]
        return m.Conversation(
            provider=NAME,
            provider_id=cid,
            title=first.text.strip().split("\n", 1)[0][:_TITLE_CHARS] if first else None,
            created_at=min(stamps) if stamps else None,
            updated_at=max(stamps) if stamps else None,
            messages=messages,
            source_path=self.j.ctx.path,
            parent_id=parent,
            models=list(dict.fromkeys(x.model for x in messages if x.model)),
            meta=dict(self.meta),
        )


# ---------------------------------------------------------------- blocks


def _parts(content: Any, meta: dict) -> list[m.Block]:
    """Kimi content parts (``text``, ``think``, ``image_url``, ``audio_url``, ``video_url``) or a string."""
    if isinstance(content, str):
        return [m.text(content)] if content else []
    out: list[m.Block] = []
    for p in as_list(content):
        if isinstance(p, str):
            if p:
                out.append(m.text(p))
            continue
        if not isinstance(p, dict):
            if p is not None:
                out.append(m.opaque(bounded(p)))
            continue
        t = p.get("type")
        if t == "text":
            if isinstance(p.get("text"), str) and p["text"]:
                out.append(m.text(p["text"]))
        elif t in ("think", "thinking"):
            text = as_str(p.get("think")) or as_str(p.get("thinking")) or as_str(p.get("text"))
            if text:
                out.append(m.thinking(text))
            elif p.get("encrypted"):
                meta["encrypted_thinking"] = meta.get("encrypted_thinking", 0) + 1
        elif t in ("image_url", "audio_url", "video_url"):
            kind = m.IMAGE if t == "image_url" else m.ATTACHMENT
            url = as_str(as_dict(p.get(t)).get("url"))
            inline = url is not None and url.startswith("data:")
            out.append(m.attachment(None, kind=kind, url=None if inline else url, media=t, inline=inline or None))
        else:
            out.append(m.opaque(bounded(p)))
    return out


def _call(call: Any) -> m.Block:
    c = as_dict(call)
    fn = as_dict(c.get("function"))
    name = as_str(c.get("name")) or as_str(fn.get("name"))
    args = c.get("arguments", fn.get("arguments"))
    return m.tool_use(as_str(c.get("id")), name, None if args == "" else from_json_text(args))


_USAGE_FIELDS = (
    ("input_other", "input"),
    ("output", "output"),
    ("input_cache_read", "cache_read"),
    ("input_cache_creation", "cache_write"),
)


PROVIDER = Provider(
    name=NAME,
    display_name="Kimi CLI",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=213,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=True),
    locations=(
        # <workdir>/<session>/agents/<agent>/wire.jsonl; state.json beside it is no chat
        Location("~/.kimi-code", "sessions", env="KIMI_CODE_HOME", find=("*/*/agents/*/wire.jsonl",), depth=4),
        # <workdir hash>/<session>/wire.jsonl (context.jsonl, the same turns, is left out)
        Location("~/.kimi", "sessions", env="KIMI_SHARE_DIR", find=("*/*/wire.jsonl",), depth=2),
    ),
    side_file=_side_file,
)
