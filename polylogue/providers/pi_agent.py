"""pi coding agent sessions (docs/providers.md, "pi"): ``~/.pi/agent/sessions/--<cwd>--/*.jsonl``.

The same session format is written by OpenClaw (providers/openclaw.py), which
embeds pi's session manager; this module parses both and each provider names
its own conversations.

A file is a session header ``{type:"session", version, id, timestamp, cwd,
parentSession?}`` then entries ``{type, id, parentId, timestamp, ...}`` that form
a tree (version 1 files are linear, with no ids). Entry types:

- ``message``: ``message.role`` is ``user``, ``assistant`` (content blocks
  ``text``/``thinking``/``toolCall``; ``model``, ``usage``, ``stopReason``),
  ``toolResult`` (``toolCallId``, ``toolName``, ``isError``), ``bashExecution``
  (a command the user ran with ``!``), ``custom``, ``branchSummary``,
  ``compactionSummary``;
- ``compaction`` and ``branch_summary``: summaries the model sees, kept as
  context messages; ``custom_message``: text an extension injects, context;
- ``model_change``, ``thinking_level_change``, ``session_info`` (the session's
  name), ``label``, ``custom``: state, kept in meta, never messages.

Tree: ``parentId`` links entries; a message's parent is its nearest message
ancestor. pi resumes a session at its last entry, so the active path is the last
entry and its ancestors; every other message is an inactive branch. A parent id
that names no entry is read as the entry before it in the file (flagged
``meta.parent_missing``); the session's own id as a parent means a root.

Usage: pi counts ``input`` without the cache lanes (``cacheRead``, ``cacheWrite``),
so the convention is ``anthropic``; the cost pi computed is kept in meta.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import feed_records, guarded, models_of
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    clip_text,
    json_or_summary,
    json_text,
    read_time,
    skip_on_error,
    to_utc,
    token_usage,
)

NAME = "pi"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

KNOWN_VERSIONS = frozenset({1, 2, 3})
ENTRY_TYPES = frozenset(
    {
        "message",
        "model_change",
        "thinking_level_change",
        "compaction",
        "branch_summary",
        "custom",
        "custom_message",
        "label",
        "session_info",
    }
)
_STATE_TYPES = frozenset({"model_change", "thinking_level_change", "label", "session_info", "custom"})
_MESSAGE_ROLES = frozenset(
    {"user", "assistant", "toolResult", "bashExecution", "custom", "branchSummary", "compactionSummary"}
)
# records only OpenClaw writes into a pi-format session
_OPENCLAW_CUSTOM_TYPES = ("openclaw", "model-snapshot")
_TITLE_CHARS = 100


# ---------------------------------------------------------------- sniffing


def _is_header(r: dict) -> bool:
    return (
        r.get("type") == "session"
        and isinstance(r.get("id"), str)
        and isinstance(r.get("timestamp"), str)
        and "createdAt" not in r
        and "seq" not in r
    )


def _is_entry(r: dict) -> bool:
    t = r.get("type")
    if t not in ENTRY_TYPES or "parentId" not in r:
        return False
    if t == "message":
        msg = r.get("message")
        return isinstance(msg, dict) and msg.get("role") in _MESSAGE_ROLES
    return True


def looks_like_pi(head: Head) -> bool:
    """A pi-format session (pi's own or OpenClaw's): a header followed by tree entries."""
    recs = head.records
    if not recs:
        return False
    if _is_header(recs[0]):
        return len(recs) == 1 or any(_is_entry(r) for r in recs[1:])
    if any(r.get("type") == "session_start" for r in recs):
        return False  # Factory Droid's session store (providers/droid.py): the same message envelope
    # the header line lost: several tree entries with pi's message roles
    return sum(1 for r in recs if _is_entry(r)) >= 2 and any(r.get("type") == "message" for r in recs)


def openclaw_marked(head: Head) -> bool:
    """Records only OpenClaw writes: its ``custom`` entries and messages, and ``session-meta``."""
    for r in head.records:
        if r.get("type") == "session-meta":
            return True
        ct = r.get("customType")
        if isinstance(ct, str) and ct.startswith(_OPENCLAW_CUSTOM_TYPES):
            return True
        msg = r.get("message")
        if isinstance(msg, dict):
            ct = msg.get("customType")
            if isinstance(ct, str) and ct.startswith(_OPENCLAW_CUSTOM_TYPES):
                return True
    return False


def sniff(head: Head) -> bool:
    return looks_like_pi(head) and not openclaw_marked(head)


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    yield from parse_session(stream, ctx, NAME, "pi")


def parse_session(stream: BinaryIO, ctx: ParseContext, provider: str, label: str) -> Iterator[m.Conversation]:
    """A pi-format session file as one conversation of ``provider`` (``label`` names the tool in messages)."""
    s = _Session(ctx, provider, label)
    if not feed_records(stream, ctx, s.feed):
        raise ParseError(f"no {label} session records in this file")
    if not s.entries and s.header is None:
        raise ParseError(f"no {label} session entries in this file")
    yield from guarded(skip_on_error(ctx, f"{label} session"), s.build)


class _Entry:
    __slots__ = ("id", "parent", "line", "rec", "derived", "missing_parent")

    def __init__(self, eid: str, parent: str | None, line: int, rec: dict, derived: bool):
        self.id, self.parent, self.line, self.rec, self.derived = eid, parent, line, rec, derived
        self.missing_parent: str | None = None


class _Session:
    def __init__(self, ctx: ParseContext, provider: str, label: str):
        self.ctx, self.provider, self.label = ctx, provider, label
        self.header: dict | None = None
        self.entries: list[_Entry] = []
        self.by_id: dict[str, _Entry] = {}
        self.meta: dict[str, Any] = {}
        self.unknown: dict[str, int] = {}
        self.version_warned = False

    # -- records

    def feed(self, lineno: int, rec: dict) -> None:
        t = rec.get("type")
        if t == "session":
            self._header(lineno, rec)
            return
        if not isinstance(t, str):
            self.ctx.warn(f"record without a type (keys {', '.join(sorted(map(str, rec))[:6])}), skipped", lineno)
            return
        if t not in ENTRY_TYPES:
            self.unknown[t] = self.unknown.get(t, 0) + 1
        eid = as_str(rec.get("id"))
        derived = not eid
        if not eid:
            eid = f"line-{lineno}"
        elif eid in self.by_id and self.by_id[eid].rec == rec:
            return  # the same entry written twice: a copy
        while eid in self.by_id:  # a reused id: this entry gets one of its own
            eid, derived = f"{eid}#line-{lineno}", True
        has_parent = "parentId" in rec
        parent = as_str(rec.get("parentId")) if has_parent else None
        if not has_parent and self.entries:  # version 1: a linear sequence
            parent = self.entries[-1].id
        e = _Entry(eid, parent, lineno, rec, derived)
        self.entries.append(e)
        self.by_id[eid] = e

    def _header(self, lineno: int, rec: dict) -> None:
        if self.header is not None:
            if rec.get("id") != self.header.get("id"):
                self.meta.setdefault("other_session_ids", []).append(as_str(rec.get("id")))
            return
        self.header = rec
        version = rec.get("version", 1)
        if version not in KNOWN_VERSIONS and not self.version_warned:
            self.version_warned = True
            self.ctx.warn(
                f"{self.label} session version {bounded(version, max_str=40)!r} is not one this parser knows "
                f"({', '.join(map(str, sorted(KNOWN_VERSIONS)))}); imported what it could read",
                lineno,
            )

    # -- tree

    def _resolve_parents(self) -> None:
        sid = as_str((self.header or {}).get("id"))
        prev: _Entry | None = None
        for e in self.entries:
            if e.parent is not None and e.parent not in self.by_id:
                if e.parent != sid:
                    e.missing_parent = e.parent
                    e.parent = prev.id if prev is not None else None
                else:
                    e.parent = None
            prev = e
        # a loop of parent links: cut where it closes
        state: dict[str, int] = {}
        for e in self.entries:
            walk: list[_Entry] = []
            cur: _Entry | None = e
            while cur is not None and cur.id not in state:
                state[cur.id] = 1
                walk.append(cur)
                nxt = self.by_id.get(cur.parent) if cur.parent else None
                if nxt is not None and state.get(nxt.id) == 1:
                    cur.missing_parent, cur.parent, nxt = cur.parent, None, None
                cur = nxt
            for w in walk:
                state[w.id] = 2

    def _message_parent(self, e: _Entry, is_message: set[str]) -> str | None:
        cur = self.by_id.get(e.parent) if e.parent else None
        seen = 0
        while cur is not None and cur.id not in is_message and seen <= len(self.entries):
            cur = self.by_id.get(cur.parent) if cur.parent else None
            seen += 1
        return cur.id if cur is not None else None

    def _active(self) -> set[str]:
        path: set[str] = set()
        cur = self.entries[-1] if self.entries else None
        while cur is not None and cur.id not in path:
            path.add(cur.id)
            cur = self.by_id.get(cur.parent) if cur.parent else None
        return path

    # -- conversation

    def build(self) -> m.Conversation | None:
        header = self.header or {}
        sid = as_str(header.get("id"))
        cmeta: dict[str, Any] = dict(self.meta)
        if not sid:
            first = self.entries[0] if self.entries else None
            seed = orjson.dumps(first.rec, option=orjson.OPT_SORT_KEYS) if first else b""
            sid = "derived-" + hashlib.sha1(seed).hexdigest()[:16]
            cmeta["derived_id"] = True
            self.ctx.warn(f"no {self.label} session header; the conversation id is derived from the first entry")
        self._resolve_parents()
        active = self._active()
        model: str | None = None
        title: str | None = None
        thinking_level: str | None = None
        labels: dict[str, str] = {}
        events: list[dict] = []
        built: list[tuple[_Entry, m.Message]] = []
        for e in self.entries:
            t = e.rec.get("type")
            if t == "model_change":
                model = as_str(e.rec.get("modelId")) or model
                events.append({"type": t, "provider": as_str(e.rec.get("provider")), "model": model})
                continue
            if t == "thinking_level_change":
                thinking_level = as_str(e.rec.get("thinkingLevel"))
                events.append({"type": t, "level": thinking_level})
                continue
            if t == "session_info":
                title = clip_text(as_str(e.rec.get("name")), 500) or title
                continue
            if t == "label":
                target, text = as_str(e.rec.get("targetId")), as_str(e.rec.get("label"))
                if target:
                    if text:
                        labels[target] = text
                    else:
                        labels.pop(target, None)
                continue
            if t in _STATE_TYPES or t not in ENTRY_TYPES:
                events.append({"type": t, "customType": as_str(e.rec.get("customType"))})
                continue
            msg = None
            with skip_on_error(self.ctx, f"entry {e.id!r}", e.line):
                msg = self._message(e, model)
            if msg is not None:
                built.append((e, msg))
        if not built:
            self.ctx.warn(f"{self.label} session {sid} has no messages; nothing imported")
            return None
        is_message = {e.id for e, _ in built}
        messages: list[m.Message] = []
        for e, msg in built:
            msg.parent_id = self._message_parent(e, is_message)
            msg.active = e.id in active
            meta = dict(msg.meta or {})
            if e.derived:
                meta["derived_id"] = True
            if e.missing_parent:
                meta["parent_missing"] = e.missing_parent
            if e.id in labels:
                meta["label"] = labels[e.id]
            msg.meta = meta or None
            messages.append(msg)
        models = models_of(messages)
        if title is None:
            prompt = next((x for x in messages if x.role == m.USER and not x.context and x.text.strip()), None)
            title = prompt.text.strip().split("\n", 1)[0][:_TITLE_CHARS] if prompt else None
        if self.unknown:
            cmeta["unknown_entry_types"] = dict(self.unknown)
        if events:
            cmeta["events"] = bounded(events, max_items=200)
        if thinking_level:
            cmeta["thinking_level"] = thinking_level
        for k in ("version", "parentSession"):
            if header.get(k) is not None:
                cmeta[k] = bounded(header[k], max_str=1000)
        created = read_time(header.get("timestamp"), cmeta, "created_at") if header else None
        stamps = [x.timestamp for x in messages if x.timestamp]
        created = created or (min(stamps) if stamps else None)
        updated = max(stamps) if stamps else created
        if created and updated and updated < created:
            updated = created
        return m.Conversation(
            provider=self.provider,
            provider_id=sid,
            title=title,
            created_at=created,
            updated_at=updated,
            messages=messages,
            source_path=self.ctx.path,
            models=models,
            project=as_str(header.get("cwd")),
            meta=cmeta,
        )

    def _message(self, e: _Entry, model: str | None) -> m.Message | None:
        rec = e.rec
        t = rec["type"]
        meta: dict[str, Any] = {}
        ts = read_time(rec.get("timestamp"), meta, "timestamp")
        if t == "compaction":
            meta.update(kind="compaction", **_some(rec, "firstKeptEntryId", "tokensBefore", "fromHook"))
            return m.Message(e.id, m.SYSTEM, _texts(rec.get("summary")), timestamp=ts, context=True, meta=meta)
        if t == "branch_summary":
            meta.update(kind="branch_summary", **_some(rec, "fromId", "fromHook"))
            return m.Message(e.id, m.SYSTEM, _texts(rec.get("summary")), timestamp=ts, context=True, meta=meta)
        if t == "custom_message":
            meta.update(kind="custom_message", **_some(rec, "customType", "display"))
            return m.Message(e.id, m.USER, _content(rec.get("content")), timestamp=ts, context=True, meta=meta)
        msg = rec.get("message")
        if not isinstance(msg, dict):
            self.ctx.warn(f"entry {e.id!r}: a message entry without a message object, skipped", e.line)
            return None
        ts = ts or to_utc(msg.get("timestamp"))
        role = msg.get("role")
        if role == "user":
            return m.Message(e.id, m.USER, _content(msg.get("content")), timestamp=ts, meta=meta or None)
        if role == "assistant":
            return _assistant(e.id, msg, ts, meta, model)
        if role == "toolResult":
            res = m.tool_result(
                as_str(msg.get("toolCallId")),
                _joined(msg.get("content")),
                msg["isError"] if isinstance(msg.get("isError"), bool) else None,
            )
            rmeta = _some(msg, "toolName")
            if msg.get("details") is not None:
                rmeta["details"] = json_or_summary(msg["details"], 4096)
            res.meta = rmeta or None
            blocks = [res] + [b for b in _content(msg.get("content")) if b.type != m.TEXT]
            return m.Message(e.id, m.TOOL, blocks, timestamp=ts, meta=meta or None)
        if role == "bashExecution":
            call_id = f"bash:{e.id}"
            use = m.tool_use(call_id, "bash", {"command": as_str(msg.get("command"))})
            code = msg.get("exitCode")
            is_error = (code != 0) if isinstance(code, int) and not isinstance(code, bool) else None
            res = m.tool_result(call_id, as_str(msg.get("output")) or "", is_error)
            res.meta = _some(msg, "exitCode", "cancelled", "truncated", "fullOutputPath") or None
            meta.update(kind="bash_execution", **_some(msg, "excludeFromContext"))
            return m.Message(e.id, m.TOOL, [use, res], timestamp=ts, meta=meta)
        if role in ("custom", "branchSummary", "compactionSummary"):
            meta.update(kind=role, **_some(msg, "customType", "display", "fromId", "tokensBefore"))
            body = msg.get("summary") if role != "custom" else msg.get("content")
            return m.Message(e.id, m.SYSTEM, _content(body), timestamp=ts, context=True, meta=meta)
        self.ctx.warn(f"entry {e.id!r}: unknown message role {bounded(role, max_str=40)!r}, kept whole", e.line)
        meta["role"] = bounded(role, max_str=40)
        return m.Message(e.id, m.SYSTEM, [m.opaque(bounded(msg))], timestamp=ts, meta=meta)


# ---------------------------------------------------------------- blocks


def _assistant(mid: str, msg: dict, ts: Any, meta: dict, model: str | None) -> m.Message:
    blocks: list[m.Block] = []
    for b in as_list(msg.get("content")) if not isinstance(msg.get("content"), str) else [msg["content"]]:
        if isinstance(b, str):
            if b:
                blocks.append(m.text(b))
            continue
        if not isinstance(b, dict):
            blocks.append(m.opaque(bounded(b)))
            continue
        bt = b.get("type")
        if bt == "text":
            if isinstance(b.get("text"), str) and b["text"]:
                blocks.append(m.text(b["text"]))
        elif bt == "thinking":
            text = as_str(b.get("thinking"))
            if text:
                blocks.append(m.thinking(text))
            elif b.get("thinkingSignature") or b.get("redacted"):
                meta["redacted_thinking"] = meta.get("redacted_thinking", 0) + 1
        elif bt == "toolCall":
            blocks.append(m.tool_use(as_str(b.get("id")), as_str(b.get("name")), b.get("arguments")))
        elif bt == "image":
            blocks.append(_image(b))
        else:
            blocks.append(m.opaque(bounded(b)))
    meta.update(_some(msg, "api", "provider", "stopReason", "errorMessage", "responseId"))
    usage = token_usage(msg.get("usage"), _USAGE_FIELDS, "anthropic")
    cost = as_dict(msg.get("usage")).get("cost")
    if isinstance(cost, dict):
        meta["cost"] = bounded(cost, max_items=10)
    return m.Message(
        mid,
        m.ASSISTANT,
        blocks,
        timestamp=ts,
        model=as_str(msg.get("model")) or model,
        usage=usage,
        meta=meta or None,
    )


_USAGE_FIELDS = (("input", "input"), ("output", "output"), ("cacheRead", "cache_read"), ("cacheWrite", "cache_write"))


def _content(content: Any) -> list[m.Block]:
    """A user, custom or tool-result content: a string or text/image blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [m.text(content)] if content else []
    out: list[m.Block] = []
    for b in as_list(content) if isinstance(content, list) else [content]:
        if isinstance(b, str):
            if b:
                out.append(m.text(b))
        elif isinstance(b, dict) and b.get("type") == "text":
            if isinstance(b.get("text"), str) and b["text"]:
                out.append(m.text(b["text"]))
        elif isinstance(b, dict) and b.get("type") == "image":
            out.append(_image(b))
        elif b is not None:
            out.append(m.opaque(bounded(b)))
    return out


def _joined(content: Any) -> str:
    return "\n".join(b.text for b in _content(content) if b.type == m.TEXT)


def _texts(value: Any) -> list[m.Block]:
    s = value if isinstance(value, str) else json_text(value) if value is not None else ""
    return [m.text(s)] if s else []


def _image(b: dict) -> m.Block:
    data = b.get("data")
    size = len(data) * 3 // 4 if isinstance(data, str) else None
    return m.attachment(None, kind=m.IMAGE, mime=as_str(b.get("mimeType")), size=size)


def _some(d: dict, *keys: str) -> dict[str, Any]:
    """The keys of ``d`` that have a value, each bounded for meta."""
    return {k: bounded(d[k], max_str=2000) for k in keys if d.get(k) is not None}


PROVIDER = Provider(
    name=NAME,
    display_name="pi",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=243,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=False),
    locations=(Location("~/.pi/agent", "sessions", env="PI_CODING_AGENT_DIR", find=("**/*.jsonl",), depth=2),),
)
