"""DeepSeek Harness (``dsh``) session logs (docs/providers.md, "dsh"):
``~/.dsh/sessions/<project>/<session>/session.jsonl`` (uncompressed roots).

Line 1 is ``{type:"session", version, id, createdAt (epoch ms), cwd}``; every
later line is an event ``{type, seq, time (epoch ms), data}``:

- ``user/message`` is a prompt;
- ``text-chunks`` and ``reasoning-chunks`` stream a step's text and thinking
  (``data.texts``); ``assistant/message`` closes the step (its content, else the
  chunks it names in ``sourceEventSeqs``), with the model (``source.model``, else
  the last ``request/context``) and the step's usage. ``assistant/chunk`` usage
  is an early copy of the same step's usage: the last one per step wins.
- ``tool/call`` (``callId``, ``name``, ``arguments`` as JSON text) and
  ``tool/result`` (naming its call's ``seq`` in ``sourceEventSeqs``; ``error``
  marks a failure; ``meta`` holds what the tool returned) pair up.

Usage: ``inputTokens`` excludes cache reads; ``outputTokens`` includes
``reasoningTokens``, which are split out (convention ``anthropic``).
Message ids are ``s<seq>``. A format version other than 0 imports with one warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, Final

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
    from_json_text,
    json_or_summary,
    json_text,
    read_time,
    skip_on_error,
    to_utc,
)

NAME = "dsh"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

KNOWN_VERSIONS = frozenset({0})
_TITLE_CHARS = 100


def _is_header(r: dict) -> bool:
    return r.get("type") == "session" and isinstance(r.get("id"), str) and "createdAt" in r and "version" in r


def _is_event(r: dict) -> bool:
    t = r.get("type")
    return isinstance(t, str) and "/" in t or t in ("text-chunks", "reasoning-chunks", "tool-call-chunks")


def sniff(head: Head) -> bool:
    recs = head.records
    if not recs:
        return False
    if _is_header(recs[0]):
        return len(recs) == 1 or any(_is_event(r) and "seq" in r for r in recs[1:])
    return sum(1 for r in recs if _is_event(r) and "seq" in r and "data" in r) >= 3


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    log = _Log(ctx)
    if not feed_records(stream, ctx, log.feed, "event"):
        raise ParseError("no dsh session records in this file")
    yield from guarded(skip_on_error(ctx, "dsh session"), log.build)


class _Log:
    def __init__(self, ctx: ParseContext):
        self.ctx = ctx
        self.header: dict = {}
        self.msgs: list[m.Message] = []
        self.ids: set[str] = set()
        self.model: str | None = None
        self.chunks: dict[int, tuple[str, str]] = {}  # seq -> (text|thinking, joined texts)
        self.calls: dict[int, str] = {}  # seq of a tool/call -> its call id
        self.step_usage: dict[tuple[Any, Any], m.Message] = {}
        self.early: dict[tuple[Any, Any], dict] = {}  # assistant/chunk usage before the step's message
        self.counts: dict[str, int] = {}

    def _add(self, seq: Any, line: int, msg_role: str, blocks: list[m.Block], ts: Any, **kw: Any) -> m.Message:
        mid = f"s{seq}" if isinstance(seq, int) and not isinstance(seq, bool) else f"L{line}"
        while mid in self.ids:
            mid += "'"
        self.ids.add(mid)
        msg = m.Message(mid, msg_role, blocks, parent_id=self.msgs[-1].id if self.msgs else None, timestamp=ts, **kw)
        self.msgs.append(msg)
        return msg

    def feed(self, line: int, rec: dict) -> None:
        t = rec.get("type")
        if t == "session" and not self.header:
            self.header = rec
            if rec.get("version") not in KNOWN_VERSIONS:
                self.ctx.warn(
                    f"dsh format version {bounded(rec.get('version'), max_str=40)!r} is not one this parser "
                    "knows (0); imported what it could read",
                    line,
                )
            return
        if not isinstance(t, str):
            self.ctx.warn("record without a type, skipped", line)
            return
        self.counts[t] = self.counts.get(t, 0) + 1
        seq, data = rec.get("seq"), as_dict(rec.get("data"))
        meta: dict[str, Any] = {}
        ts = read_time(rec.get("time"), meta, "timestamp")
        step = (data.get("turn"), data.get("step"))
        if t in ("text-chunks", "reasoning-chunks") and isinstance(seq, int):
            kind = m.TEXT if t == "text-chunks" else m.THINKING
            self.chunks[seq] = (kind, "".join(x for x in as_list(data.get("texts")) if isinstance(x, str)))
        elif t == "request/context":
            self.model = as_str(data.get("model")) or self.model
        elif t == "user/message":
            msg = as_dict(data.get("message"))
            blocks = _content(msg.get("content", data.get("text")))
            self._add(seq, line, m.USER, blocks, ts, meta=meta or None)
        elif t == "assistant/message":
            self._assistant(seq, line, rec, data, step, ts, meta)
        elif t == "assistant/chunk" and as_dict(data.get("chunk")).get("type") == "usage":
            usage = _usage(as_dict(data.get("chunk")).get("usage"))
            if usage and step in self.step_usage:
                self.step_usage[step].usage = usage  # the same step reported again: last wins
            elif usage:
                self.early[step] = usage
        elif t == "tool/call":
            call_id = as_str(data.get("callId")) or f"s{seq}"
            if isinstance(seq, int):
                self.calls[seq] = call_id
            use = m.tool_use(call_id, as_str(data.get("name")), from_json_text(data.get("arguments")))
            self._add(seq, line, m.ASSISTANT, [use], ts, model=self.model, meta=meta or None)
        elif t == "tool/result":
            self._result(seq, line, rec, data, ts, meta)

    def _assistant(self, seq: Any, line: int, rec: dict, data: dict, step: tuple, ts: Any, meta: dict) -> None:
        msg = as_dict(data.get("message"))
        blocks = _content(msg.get("content"))
        if not blocks:  # the text was streamed: the chunks this message names
            for s in as_list(rec.get("sourceEventSeqs")):
                kind, text = self.chunks.get(s, ("", "")) if isinstance(s, int) else ("", "")
                if text:
                    blocks.append(m.text(text) if kind == m.TEXT else m.thinking(text))
            blocks.sort(key=lambda b: b.type != m.THINKING)
        model = as_str(as_dict(msg.get("source")).get("model")) or self.model
        usage = _usage(data.get("usage")) or self.early.pop(step, None)
        out = self._add(seq, line, m.ASSISTANT, blocks, ts, model=model, usage=usage, meta=meta or None)
        self.step_usage[step] = out

    def _result(self, seq: Any, line: int, rec: dict, data: dict, ts: Any, meta: dict) -> None:
        sources = [s for s in as_list(rec.get("sourceEventSeqs")) if isinstance(s, int)]
        call_id = next((self.calls[s] for s in sources if s in self.calls), None)
        message = as_dict(data.get("message"))
        body: Any = message.get("content")
        if body is None and data.get("meta") is not None:
            body = data["meta"]
        error = data.get("error")
        text = body if isinstance(body, str) else json_text(json_or_summary(body)) if body is not None else ""
        if not text and error is not None:
            text = json_text(bounded(error))
        res = m.tool_result(call_id, text, True if error is not None else None)
        if error is not None:
            res.meta = {"error": bounded(error, max_items=20)}
        self._add(seq, line, m.TOOL, [res], ts, meta=meta or None)

    def build(self) -> m.Conversation | None:
        sid = as_str(self.header.get("id"))
        if not sid:
            raise ParseError("dsh log without its session header")
        msgs = [x for x in self.msgs if x.blocks or x.usage]
        if not msgs:
            self.ctx.warn(f"dsh session {sid} has no messages; nothing imported")
            return None
        for k, x in enumerate(msgs):  # re-link past dropped empty messages
            x.parent_id = msgs[k - 1].id if k else None
        meta: dict[str, Any] = {"events": dict(self.counts)}
        for key in ("version", "delegationDepth", "agentPreset"):
            if self.header.get(key) is not None:
                meta[key] = bounded(self.header[key], max_str=200)
        stamps = [x.timestamp for x in msgs if x.timestamp]
        first = next((x for x in msgs if x.role == m.USER and x.text.strip()), None)
        return m.Conversation(
            provider=NAME,
            provider_id=sid,
            title=first.text.strip().split("\n", 1)[0][:_TITLE_CHARS] if first else None,
            created_at=to_utc(self.header.get("createdAt")) or (min(stamps) if stamps else None),
            updated_at=max(stamps) if stamps else None,
            messages=msgs,
            source_path=self.ctx.path,
            models=list(dict.fromkeys(x.model for x in msgs if x.model)),
            project=as_str(self.header.get("cwd")),
            meta=meta,
        )


def _content(content: Any) -> list[m.Block]:
    if isinstance(content, str):
        return [m.text(content)] if content else []
    out: list[m.Block] = []
    for b in as_list(content):
        bd = as_dict(b)
        t = bd.get("type")
        if t == "text" and isinstance(bd.get("text"), str) and bd["text"]:
            out.append(m.text(bd["text"]))
        elif t in ("reasoning", "thinking") and isinstance(bd.get("text"), str) and bd["text"]:
            out.append(m.thinking(bd["text"]))
        elif b is not None and not (isinstance(b, str) and not b):
            out.append(m.text(b) if isinstance(b, str) else m.opaque(bounded(b)))
    return out


def _usage(u: Any) -> dict | None:
    if not isinstance(u, dict):
        return None

    def n(key: str) -> int | None:
        v = u.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 62 else None

    out: dict[str, Any] = {}
    reasoning = n("reasoningTokens")
    for src, lane in (("inputTokens", "input"), ("cacheReadTokens", "cache_read"), ("cacheWriteTokens", "cache_write")):
        if n(src) is not None:
            out[lane] = n(src)
    output = n("outputTokens")
    if output is not None:
        out["output"] = max(0, output - (reasoning or 0))
    if reasoning is not None:
        out["reasoning"] = reasoning
    if out:
        out["convention"] = "anthropic"
    return out or None


PROVIDER = Provider(
    name=NAME,
    display_name="DeepSeek Harness (dsh)",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=283,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=False),
    locations=(Location("~/.dsh", "sessions", env="DSH_HOME", find=("*/*/session.jsonl",), depth=2),),
)
