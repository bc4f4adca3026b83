"""Claude Code session logs: ``~/.claude/projects/<project>/<session>.jsonl``
(docs/providers.md, "claude-code"), their subagent transcripts (``<session>/subagents/agent-*.jsonl``
and the older flat ``agent-*.jsonl``), Cowork sessions (same records) and
Claude Code on the web (``{"loglines": [...]}``, the same records wrapped).

One conversation per session (``sessionId``); a subagent transcript is a child
conversation ``<parent sessionId>/agent-<agentId>``. Records are read line by
line; per conversation we hold its messages and small uuid maps, and resolve
the tree, the active path, tool outcomes and titles once the file is read.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Final, cast

import orjson

from ..errors import ParseError
from ..models import (
    ASSISTANT,
    ATTACHMENT,
    IMAGE,
    ROLES,
    SYSTEM,
    TEXT,
    THINKING,
    TOOL,
    TOOL_RESULT,
    TOOL_USE,
    USER,
    Block,
    Conversation,
    Message,
    opaque,
    text,
    thinking,
    tool_result,
    tool_use,
)
from .base import Head, Location, Provider, Records, Resume, Retention
from .common import (
    UNREPRESENTABLE,
    ParseContext,
    active_path,
    as_dict,
    break_message_cycles,
    clip_text,
    iter_json_items,
    iter_jsonl,
    json_or_summary,
    json_text,
    read_time,
    replay,
    skip_on_error,
    skipped,
    to_utc,
)

NAME = "claude-code"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

# record types Claude Code writes; anything else is an unknown event
_MESSAGE_TYPES = ("user", "assistant")
_SIDE_TYPES = frozenset(
    {
        "summary",
        "system",
        "progress",
        "file-history-snapshot",
        "file-history-delta",
        "queue-operation",
        "attachment",
        "custom-title",
        "ai-title",
        "agent-name",
        "last-prompt",
        "permission-mode",
        "mode",
        "pr-link",
        "frame-link",
        "bridge-session",
        "worktree-state",
        "relocated",
        "started",
        "result",
        "atis-latch",
    }
)
_CODEX_TYPES = frozenset({"session_meta", "response_item", "event_msg", "turn_context", "compacted"})

_PLACEHOLDER = re.compile(r"^\[.*\]$", re.S)  # "[trimmed for fixture]", "[REDACTED_...]"
_MAX_ID = 512
_RAW_LIMIT = 16 << 10  # opaque blocks / meta values larger than this are summarised, not stored
_TEXT_META_LIMIT = 2000
_LIST_LIMIT = 50

_REJECTED = (
    "doesn't want to proceed",
    "does not want to proceed",
    "user rejected",
    "rejected by user",
    "tool use was rejected",
)
_BACKGROUND = re.compile(r"^\s*Command running in background with ID:", re.I)
_TN_BLOCK = re.compile(r"<task-notification>(.*?)(?:</task-notification>|$)", re.S)
_TN_TOOL = re.compile(r"<tool-use-id>\s*([^<\s]+)\s*</tool-use-id>")
_TN_STATUS = re.compile(r"<status>\s*([^<]+?)\s*</status>")
_SETTLED = {
    "completed": "success",
    "success": "success",
    "succeeded": "success",
    "done": "success",
    "failed": "error",
    "error": "error",
    "killed": "error",
    "cancelled": "error",
    "canceled": "error",
    "timeout": "error",
    "timed_out": "error",
    "stopped": "error",
}
_ERROR_SUBTYPES = frozenset({"api_error", "error", "api_refusal", "model_refusal_fallback"})


# ---------------------------------------------------------------- small helpers


def _id(value: Any) -> str | None:
    """A usable identifier: a non-empty, non-placeholder string of sane length."""
    if isinstance(value, str):
        s = value.strip()
        # "[...]" is a placeholder (_PLACEHOLDER, spelled out: ~450K calls for 27K lines)
        if s and len(s) <= _MAX_ID and not (s[0] == "[" and s[-1] == "]" and len(s) > 1):
            return s
    return None


def _int(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and -(1 << 63) <= value < (1 << 63)
    return value if ok else None


def _num(value: Any) -> float | int | None:
    return value if isinstance(value, float) else _int(value)


def _safe(value: Any) -> Any:
    """A source value as it is, when it can be stored as JSON (not too deep, no huge integers)."""
    try:
        orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return dict(UNREPRESENTABLE)
    return value


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError):  # e.g. integers beyond 64 bits: hash/size only, never shown
        return repr(value).encode("utf-8", "replace")


def _path_parent_session(path: str) -> str | None:
    """``…/<sessionId>/subagents/agent-x.jsonl`` -> sessionId (fallback when the content lacks it)."""
    parts = path.split("!")[-1].replace("\\", "/").split("/")
    if len(parts) >= 3 and parts[-2] == "subagents":
        return _id(parts[-3])
    return None


def _texts(blocks: list[Block]) -> str:
    return "\n".join(b.text for b in blocks if b.type == TEXT and b.text)


# ---------------------------------------------------------------- sniffing


def _record_verdict(r: dict, nested: bool = False) -> bool | str | None:
    """True: a Claude Code record; False: another format's record; "weak": a Claude
    Code side record (summary, snapshot...); None: says nothing."""
    if isinstance(r.get("loglines"), list) and not nested:
        return any(_record_verdict(x, True) is True for x in r["loglines"][:20] if isinstance(x, dict)) or None
    if "projectHash" in r:  # Gemini CLI
        return False
    t = r.get("type")
    if not isinstance(t, str):
        return None
    if t in _CODEX_TYPES and "payload" in r:
        return False
    msg = r.get("message")
    if t in _MESSAGE_TYPES and isinstance(msg, dict):
        if "parts" in msg or msg.get("role") == "model":  # Qwen Code
            return False
        if ("content" in msg or "contenst" in msg) and any(k in r for k in ("uuid", "parentUuid", "sessionId")):
            return True
        return None
    if t == "summary" and "leafUuid" in r:
        return "weak"
    if t in ("file-history-snapshot", "file-history-delta") and ("snapshot" in r or "messageId" in r):
        return "weak"
    if t == "queue-operation" and "operation" in r:
        return "weak"
    if t == "last-prompt" and "leafUuid" in r:
        return "weak"
    if t in ("custom-title", "ai-title", "agent-name") and "sessionId" in r:
        return "weak"
    if t in ("progress", "system", "attachment") and "uuid" in r and "sessionId" in r:
        return "weak"
    return None


def sniff(head) -> bool:
    if head.kind == "json" and head.top == "object" and head.has("loglines", "start_array"):
        if head.has("loglines.item.message", "start_map") or head.has("loglines.item.type"):
            return True
    weak = False
    for r in head.records:
        v = _record_verdict(r)
        if v is True:
            return True
        if v is False:
            return False
        if v == "weak":
            weak = True
    return weak


# ---------------------------------------------------------------- reading

_JSON_DOC_START = re.compile(rb'^\{\s*(?:"loglines"\s*:.*)?$', re.S)
_HEAD_BYTES = 64 << 10  # what _records reads of a log to tell a document from JSONL


def _records(stream: BinaryIO, ctx: ParseContext) -> Iterator[tuple[int, dict]]:
    """JSONL records, or the ``loglines`` items of a Claude-Code-on-the-web document."""
    # Only the start of the first non-blank line decides (a huge first line is not read
    # here, then again by iter_jsonl); blank lines before it are kept up to 64 KB.
    head: list[bytes] = []
    first, size = b"", 0
    while size < _HEAD_BYTES:
        piece = stream.readline(_HEAD_BYTES)
        if not piece:
            break
        head.append(piece)
        size += len(piece)
        if not piece.isspace():
            first = piece.strip()
            break
    replayed = replay(b"".join(head), stream)
    if first and _JSON_DOC_START.match(first[:4096]) and (first == b"{" or b'"loglines"' in first[:64]):
        n = 0
        try:
            for item in iter_json_items(replayed, "loglines.item"):
                n += 1
                if isinstance(item, dict):
                    yield n, item
                else:
                    ctx.warn(f"logline {n} is not an object ({type(item).__name__})")
        except ParseError as e:
            if n == 0:
                raise
            ctx.warn(f"document ends early after {n} loglines ({e.reason})")
        return
    yield from iter_jsonl(replayed, ctx)


# ---------------------------------------------------------------- content blocks


def _image_block(item: dict, kind: str = IMAGE) -> Block:
    src = as_dict(item.get("source"))
    meta: dict[str, Any] = {}
    for k_src, k_meta in (("media_type", "mime"), ("type", "source"), ("url", "url"), ("file_id", "file_id")):
        v = _id(src.get(k_src)) if k_src != "url" else clip_text(src.get("url"), _TEXT_META_LIMIT)
        if v:
            meta[k_meta] = v
    data = src.get("data")
    if isinstance(data, str) and data and not _PLACEHOLDER.match(data):
        meta["bytes"] = len(data) * 3 // 4  # base64 payload itself is not kept
    name = clip_text(item.get("title"), _TEXT_META_LIMIT) or clip_text(item.get("name"), _TEXT_META_LIMIT)
    extracted = ""
    if src.get("type") == "text" and isinstance(src.get("data"), str):
        extracted = src["data"]
    return Block(kind, extracted, name=name, meta=meta or None)


def _result_content(content: Any) -> tuple[str, list[Block]]:
    """Text of a tool_result's content, plus image blocks it carried."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return json_text(content), []  # structured tool output rendered as JSON text
    parts: list[str] = []
    extra: list[Block] = []
    for it in content:
        if isinstance(it, str):
            parts.append(it)
        elif isinstance(it, dict):
            t = it.get("type")
            if t == "image":
                extra.append(_image_block(it))
            elif isinstance(it.get("text"), str):
                parts.append(it["text"])
            else:
                parts.append(json_text(it))
        elif it is not None:
            parts.append(json_text(it))
    return "\n".join(parts), extra


def _blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [text(content)] if content else []
    out: list[Block] = []
    for item in content:
        if isinstance(item, str):
            if item:
                out.append(text(item))
            continue
        if not isinstance(item, dict):
            out.append(opaque(json_or_summary(item, _RAW_LIMIT)))
            continue
        t = item.get("type")
        if t == "text" and isinstance(item.get("text"), str):
            b = text(item["text"])
            if item.get("citations"):
                b.meta = {"citations": json_or_summary(item["citations"], _RAW_LIMIT)}
            if b.text or b.meta:
                out.append(b)
        elif t == "thinking":
            s = item.get("thinking")
            b = thinking(s if isinstance(s, str) else "")
            if item.get("signature"):
                b.meta = {"signed": True}  # the signature blob itself is opaque and not kept
            out.append(b)
        elif t == "redacted_thinking":
            out.append(Block(THINKING, "", meta={"redacted": True}))
        elif t in ("tool_use", "server_tool_use", "mcp_tool_use"):
            b = tool_use(_id(item.get("id")), clip_text(item.get("name"), 200), _safe(item.get("input")))
            meta: dict[str, Any] = {}
            if t != "tool_use":
                meta["kind"] = t
            caller = item.get("caller")
            if isinstance(caller, dict) and isinstance(caller.get("type"), str):
                meta["caller"] = caller["type"]
            for k in ("server_name", "server"):
                if _id(item.get(k)):
                    meta["server"] = item[k]
            b.meta = meta or None
            out.append(b)
        elif t == "tool_result" or (isinstance(t, str) and t.endswith("_tool_result") and "tool_use_id" in item):
            c = item.get("content")
            if c is None and isinstance(item.get("text"), str):
                c = item["text"]
            body, extra = _result_content(c)
            err = item.get("is_error")
            b = tool_result(_id(item.get("tool_use_id")), body, err if isinstance(err, bool) else None)
            b.meta = {"kind": t} if t != "tool_result" else None
            out.append(b)
            out.extend(extra)
        elif t == "image":
            out.append(_image_block(item))
        elif t == "document":
            out.append(_image_block(item, ATTACHMENT))
        else:
            out.append(opaque(json_or_summary(item, _RAW_LIMIT)))
    return out


def _text_kind(s: str) -> str | None:
    """What an injected user text is (docs/providers.md, "claude-code"); None for a human prompt."""
    t = s.lstrip()
    if not t:
        return None
    if (
        t.startswith("<command-name>")
        or t.startswith("<command-message>")
        or ("<command-name>" in t[:400] and "</command-name>" in t)
    ):
        return "slash_command"
    if t.startswith(("<local-command-stdout>", "<local-command-stderr>", "<local-command-caveat>")):
        return "command_output"
    if t.startswith("[Request interrupted by user"):
        return "interrupt"
    if t.startswith("<system-reminder>"):
        return "system_reminder"
    if t.startswith("<task-notification>"):
        return "task_notification"
    if t.startswith("<bash-input>"):
        return "bash_input"
    if t.startswith(("<bash-stdout>", "<bash-stderr>")):
        return "bash_output"
    if t.startswith("Caveat: The messages below were generated by the user while running local commands"):
        return "caveat"
    if t.startswith(("<environment_context>", "<user-prompt-submit-hook>", "<user_instructions>")):
        return "environment"
    return None


def _tool_result_meta(tur: Any) -> Any:
    """``toolUseResult`` kept bounded: small values as they are, large ones named in "omitted"."""
    if isinstance(tur, str):
        return clip_text(tur, _TEXT_META_LIMIT)
    if isinstance(tur, list):
        body, _ = _result_content(tur)
        return clip_text(body, _TEXT_META_LIMIT)
    if not isinstance(tur, dict):
        return None
    out: dict[str, Any] = {}
    omitted: list[str] = []
    for k, v in tur.items():
        if v is None or isinstance(v, (bool, int, float)):
            out[k] = json_or_summary(v, _RAW_LIMIT)
        elif isinstance(v, str):
            if len(v) <= 500:
                out[k] = v
            else:
                omitted.append(k)
        else:
            kept = json_or_summary(v, 2000)
            if isinstance(kept, dict) and kept.get("omitted") is True:
                omitted.append(k)
            else:
                out[k] = kept
    if omitted:
        out["omitted"] = omitted
    return out


_NOTHING: tuple = (None, "", [], {})  # values that say nothing (only compared: built once, not per value)
_USAGE_KNOWN = frozenset(
    ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "service_tier")
)


def _usage(u: Any) -> tuple[dict | None, dict | None]:
    """(usage lanes, other usage details) from an Anthropic ``message.usage`` (models.py, "Usage")."""
    if not isinstance(u, dict):
        return None, None
    lanes: dict[str, Any] = {}
    for src, lane in (
        ("input_tokens", "input"),
        ("output_tokens", "output"),
        ("cache_read_input_tokens", "cache_read"),
        ("cache_creation_input_tokens", "cache_write"),
    ):
        v = _int(u.get(src))
        if v is not None:
            lanes[lane] = v
    cc = u.get("cache_creation")
    if isinstance(cc, dict):  # 2.1.x: the cache write split by lifetime (priced differently)
        w5, w1 = _int(cc.get("ephemeral_5m_input_tokens")), _int(cc.get("ephemeral_1h_input_tokens"))
        if w5 is not None or w1 is not None:
            lanes["cache_write_5m"], lanes["cache_write_1h"] = w5 or 0, w1 or 0
            lanes.setdefault("cache_write", (w5 or 0) + (w1 or 0))
    details = u.get("output_tokens_details")
    if isinstance(details, dict):
        r = _int(details.get("thinking_tokens")) or _int(details.get("reasoning_tokens"))
        if r:
            lanes["reasoning"] = r
    rest = {k: v for k, v in u.items() if k not in _USAGE_KNOWN and v not in _NOTHING}
    if not lanes:
        return None, (json_or_summary(rest, 2000) if rest else None)
    tier = _id(u.get("service_tier"))
    if tier:
        lanes["tier"] = tier
    lanes["convention"] = "anthropic"
    return lanes, (json_or_summary(rest, 2000) if rest else None)


def _usage_key(mid: str | None, rid: str | None) -> str | None:
    """One API response, whichever file or session repeats it (a resumed or forked session,
    a subagent file): the usage ledger counts each key once."""
    if not mid:
        return None
    return f"{mid}:{rid}" if rid else mid


def _tool_outcome(b: Block, tur: Any, denial: Any) -> str:
    low = b.text[:600].lower()
    tur_s = tur.lower()[:300] if isinstance(tur, str) else ""
    if b.is_error:
        if denial or any(p in low for p in _REJECTED) or any(p in tur_s for p in _REJECTED):
            return "rejected"
        return "error"
    if _BACKGROUND.match(b.text) or (isinstance(tur, dict) and _id(tur.get("backgroundTaskId"))):
        return "pending"
    if b.is_error is False:
        return "success"
    if isinstance(tur, str) and tur.lstrip().lower().startswith("error"):
        return "error"
    if isinstance(tur, (dict, list)) and tur:
        return "success"  # structured output from the tool runner, no error flag
    return "unknown"


def _record_fields(meta: dict[str, Any], rec: dict) -> None:
    """The record fields worth keeping on its message that are no Message attribute."""
    for src, key in (
        ("promptId", "prompt_id"),
        ("sourceToolUseID", "source_tool_use_id"),
        ("toolDenialKind", "tool_denial"),
    ):
        v = rec.get(src)
        if v is not None and (v := _id(v)):
            meta[key] = v
    origin = rec.get("origin")
    if isinstance(origin, dict) and _id(origin.get("kind")):
        meta["origin"] = origin["kind"]
    cost = rec.get("costUSD")  # absent from most records: no call then
    if cost is not None and (cost := _num(cost)) is not None:
        meta["cost_usd"] = cost
    dur = rec.get("durationMs")
    if dur is not None and (dur := _num(dur)) is not None:
        meta["duration_ms"] = dur
    if rec.get("isVisibleInTranscriptOnly") is True:
        meta["transcript_only"] = True
    if rec.get("isMeta") is True:
        meta["is_meta"] = True


def _result_outcomes(meta: dict[str, Any], rec: dict, blocks: list[Block]) -> None:
    """Tool results: an outcome per block; the structured toolUseResult kept bounded
    (on the block when there is one result, on the message when several share it)."""
    results = [b for b in blocks if b.type == TOOL_RESULT]
    if not results:
        return
    tur = rec.get("toolUseResult")
    denial = rec.get("toolDenialKind")
    for b in results:
        b.meta = dict(b.meta or {})
        b.meta["outcome"] = _tool_outcome(b, tur, denial)
    kept = _tool_result_meta(tur) if tur is not None else None
    if kept not in (None, "", {}):
        if len(results) == 1:
            results[0].meta = {**(results[0].meta or {}), "result": kept}
        else:
            meta["tool_use_result"] = kept


# ---------------------------------------------------------------- per-conversation state

_CONTEXT_FIELDS = (
    ("gitBranch", "git_branch"),
    ("version", "version"),
    ("entrypoint", "entrypoint"),
    ("slug", "slug"),
    ("userType", "user_type"),
)


def _meta(m: Message) -> dict[str, Any]:
    """The meta of a message made here: add_message gives every one a dict."""
    assert m.meta is not None
    return m.meta


class _Conv:
    def __init__(self, key: str, sid: str | None, agent_id: str | None, order: int):
        self.key, self.sid, self.agent_id, self.order = key, sid, agent_id, order
        self.msgs: list[Message] = []
        self.users = 0  # user-role messages in msgs
        self.pref: dict[str, tuple] = {}  # message id -> ("uuid", p) | ("null",) | ("absent",)
        self.by_uuid: dict[str, Message] = {}  # record uuid -> message (fragments share one)
        self.through: dict[str, str | None] = {}  # dropped record uuid -> its parent
        self.external: dict[str, str] = {}  # uuid copied from another session -> that session's key
        self.groups: dict[str, Message] = {}  # message.id -> merged assistant message
        self.ids: set[str] = set()
        self.titles: dict[str, str] = {}
        self.summaries: list[tuple[str | None, str]] = []
        self.leaf_hint: str | None = None
        self.any_link = False
        self.cwd: str | None = None
        self.cwds: list[str] = []
        self.project_field: str | None = None
        self.meta: dict[str, Any] = {}
        self.events: Counter = Counter()
        self.continued_from: str | None = None
        self.forked_from: dict | None = None
        self.agent_type: str | None = None


class _Parser:
    def __init__(self, ctx: ParseContext):
        self.ctx = ctx
        self.convs: dict[str, _Conv] = {}
        self.current: _Conv | None = None
        self.owner: dict[str, _Conv] = {}  # first valid occurrence of each record uuid
        self.summaries: list[tuple[str | None, str, _Conv | None]] = []
        self.notifications: dict[str, str] = {}  # tool_use id -> background task status
        self.agent_by_tool: dict[str, str] = {}  # Task tool_use id -> subagent id (agent_progress)
        self.pending_events: Counter = Counter()
        self.path_parent = _path_parent_session(ctx.path or "")

    # -- routing
    def conv(self, key: str, sid: str | None, agent: str | None) -> _Conv:
        c = self.convs.get(key)
        if c is None:
            c = self.convs[key] = _Conv(key, sid, agent, len(self.convs))
            if self.pending_events:
                c.events.update(self.pending_events)
                self.pending_events.clear()
        self.current = c
        return c

    def route(self, rec: dict, t: str) -> _Conv | None:
        sid = _id(rec.get("sessionId")) or _id(rec.get("session_id"))
        agent = _id(rec.get("agentId"))
        if agent and rec.get("isSidechain") is True:
            parent = sid if sid and sid != f"agent-{agent}" else self.path_parent
            key = f"{parent}/agent-{agent}" if parent else f"agent-{agent}"
            return self.conv(key, parent, agent)
        if sid:
            cur = self.current
            if (
                t not in _MESSAGE_TYPES
                and cur is not None
                and cur.agent_id
                and cur.sid == sid
                and sid not in self.convs
            ):
                return cur  # a side record (title, summary...) inside a subagent transcript
            return self.conv(sid, sid, None)
        if self.current is not None:
            return self.current
        if t in _MESSAGE_TYPES or t == "system":
            # no session id anywhere yet (web loglines, minimal fixtures): a stable derived id
            key = "derived-" + hashlib.sha1(_dumps(rec)).hexdigest()[:16]
            c = self.conv(key, None, None)
            c.meta["derived_id"] = True
            return c
        return None

    def bind(self, ctx: ParseContext | None) -> None:
        """Report to ``ctx`` from now on (a restored parser)."""
        self.ctx = cast("ParseContext", ctx)  # None only while pickled (resume.py), when nothing reads it

    def line(self, lineno: int, rec: dict) -> None:
        """Feed one JSONL record; a record that breaks the parser is skipped with a warning."""
        try:
            self.feed(lineno, rec)
        except Exception as exc:  # one record lost (warned), unless it fails the file
            if skipped(self.ctx, exc, "record", lineno) is None:
                raise

    # -- records
    def feed(self, lineno: int, rec: dict, nested: bool = False) -> None:
        t = rec.get("type")
        if not isinstance(t, str):
            if isinstance(rec.get("loglines"), list) and not nested:  # a one-line web document
                for item in rec["loglines"]:
                    if isinstance(item, dict):
                        with skip_on_error(self.ctx, "logline", lineno):
                            self.feed(lineno, item, True)
                return
            self.ctx.warn("record without a type skipped", lineno)
            if self.current is not None:
                self.current.events["untyped"] += 1
            return
        if t == "summary" and isinstance(rec.get("summary"), str):
            self.summaries.append((_id(rec.get("leafUuid")), rec["summary"], self.current))
            if self.current is None:
                self.pending_events["summary"] += 1
            else:
                self.current.events["summary"] += 1
                self.link_through(self.current, rec)
            return
        conv = self.route(rec, t)
        if conv is None:
            self.pending_events[t] += 1
            return
        self.context_fields(conv, rec)
        if t in _MESSAGE_TYPES:
            self.on_message(conv, lineno, rec, t)
        elif t == "summary":
            self.on_summary_message(conv, lineno, rec)
        elif t == "system":
            self.on_system(conv, lineno, rec)
        elif t == "attachment":
            self.on_attachment(conv, lineno, rec)
        else:
            self.on_event(conv, rec, t)

    def context_fields(self, conv: _Conv, rec: dict) -> None:
        cwd = _id(rec.get("cwd"))
        if cwd:
            if conv.cwd is None:
                conv.cwd = cwd
            if cwd not in conv.cwds and len(conv.cwds) < 20:
                conv.cwds.append(cwd)
        if conv.project_field is None and (project := rec.get("project")) is not None:
            conv.project_field = _id(project)
        meta = conv.meta
        for src, key in _CONTEXT_FIELDS:
            v = rec.get(src)
            if v is not None and v != meta.get(key):  # most records repeat the session's values
                v = _id(v)
                if v:
                    meta[key] = v
        fork = rec.get("forkedFrom")
        if isinstance(fork, dict) and conv.forked_from is None and _id(fork.get("sessionId")):
            conv.forked_from = {"session_id": _id(fork.get("sessionId")), "message_uuid": _id(fork.get("messageUuid"))}
        if conv.agent_type is None:
            attribution, agent_type = rec.get("attributionAgent"), rec.get("agentType")
            if attribution is not None or agent_type is not None:  # absent from most records
                conv.agent_type = _id(attribution) or _id(agent_type)

    def link_through(self, conv: _Conv, rec: dict) -> None:
        """A dropped record keeps its place in the parentUuid chain."""
        uuid = _id(rec.get("uuid"))
        if not uuid or uuid in self.owner:
            return
        self.owner[uuid] = conv
        p = _id(rec.get("parentUuid")) or _id(rec.get("logicalParentUuid"))
        conv.through[uuid] = p
        if p:
            conv.any_link = True

    def on_event(self, conv: _Conv, rec: dict, t: str) -> None:
        """Side records and unknown (future) record types: counted events, never messages."""
        self.link_through(conv, rec)
        sub = None
        if t == "queue-operation":
            sub = _id(rec.get("operation"))
        elif t == "progress":
            sub = _id(as_dict(rec.get("data")).get("type"))
        conv.events[f"{t}/{sub}" if sub else t] += 1
        if t not in _SIDE_TYPES:
            unknown = conv.meta.setdefault("unknown_record_types", [])
            if t not in unknown and len(unknown) < _LIST_LIMIT:
                unknown.append(t)
        if t in ("custom-title", "ai-title", "agent-name"):
            key = {"custom-title": "customTitle", "ai-title": "aiTitle", "agent-name": "agentName"}[t]
            v = rec.get(key)
            if isinstance(v, str) and v.strip():
                conv.titles[t] = v.strip()
        elif t == "last-prompt":
            leaf = _id(rec.get("leafUuid"))
            if leaf:
                conv.leaf_hint = leaf
            if isinstance(rec.get("lastPrompt"), str):
                conv.meta["last_prompt"] = clip_text(rec["lastPrompt"], 500)
        elif t == "queue-operation":
            self.scan_notifications(rec.get("content"))
        elif t == "progress":
            data = as_dict(rec.get("data"))
            if data.get("type") == "agent_progress":  # data.message is an embedded copy: not imported
                tid, aid = _id(rec.get("parentToolUseID")), _id(data.get("agentId"))
                if tid and aid:
                    self.agent_by_tool.setdefault(tid, aid)
        elif t == "permission-mode" and _id(rec.get("permissionMode")):
            conv.meta["permission_mode"] = rec["permissionMode"]
        elif t == "mode" and _id(rec.get("mode")):
            conv.meta["mode"] = rec["mode"]
        elif t == "pr-link":
            links = conv.meta.setdefault("pr_links", [])
            if len(links) < _LIST_LIMIT:
                links.append(
                    {k: json_or_summary(rec[k], 500) for k in ("prNumber", "prUrl", "prRepository") if k in rec}
                )
        elif t == "worktree-state" and isinstance(rec.get("worktreeSession"), dict):
            conv.meta["worktree"] = json_or_summary(rec["worktreeSession"], 2000)
        elif t == "relocated" and _id(rec.get("relocatedCwd")):
            conv.meta["relocated_cwd"] = rec["relocatedCwd"]

    def scan_notifications(self, content: Any) -> None:
        if not isinstance(content, str) or "<task-notification>" not in content:
            return
        for body in _TN_BLOCK.findall(content):
            tid, st = _TN_TOOL.search(body), _TN_STATUS.search(body)
            if tid and st:
                self.notifications[tid.group(1)] = st.group(1).strip().lower()

    def on_system(self, conv: _Conv, lineno: int, rec: dict) -> None:
        st = rec.get("subtype") if isinstance(rec.get("subtype"), str) else None
        content = rec.get("content")
        if st == "local_command" and isinstance(content, str) and content.strip():
            kind = _text_kind(content) or "local_command"
            self.add_message(conv, lineno, rec, SYSTEM, [text(content)], context=True, kind=kind)
            return
        self.link_through(conv, rec)
        conv.events[f"system/{st}"] += 1
        if st == "compact_boundary":
            cm = as_dict(rec.get("compactMetadata"))
            comps = conv.meta.setdefault("compactions", [])
            if len(comps) < _LIST_LIMIT:
                comps.append(
                    {
                        "trigger": _id(cm.get("trigger")),
                        "pre_tokens": _int(cm.get("preTokens")),
                        "timestamp": _id(rec.get("timestamp")),
                        "uuid": _id(rec.get("uuid")),
                    }
                )
        elif st in _ERROR_SUBTYPES:
            errs = conv.meta.setdefault("errors", [])
            if len(errs) < _LIST_LIMIT:
                e = {"subtype": st, "timestamp": _id(rec.get("timestamp"))}
                for k in ("content", "level", "error", "apiError"):
                    v = rec.get(k)
                    if isinstance(v, str):
                        e[k] = clip_text(v, 500)
                    elif isinstance(v, dict):
                        e[k] = json_or_summary(v, 1000)
                errs.append(e)

    def on_attachment(self, conv: _Conv, lineno: int, rec: dict) -> None:
        att = as_dict(rec.get("attachment"))
        at = att.get("type") if isinstance(att.get("type"), str) else None
        prompt = att.get("prompt")
        if at == "queued_command" and isinstance(prompt, (str, list)) and prompt:
            # a prompt typed while the assistant was busy, delivered as an attachment
            origin = att.get("origin")
            okind = origin.get("kind") if isinstance(origin, dict) else None
            blocks = _blocks(prompt)
            mode = att.get("commandMode")
            context = okind == "task-notification" or (
                isinstance(mode, str) and mode not in ("prompt", "") and not _PLACEHOLDER.match(mode)
            )
            kind = (
                "queued_command"
                if not context
                else ("task_notification" if okind == "task-notification" else f"queued_{mode}")
            )
            if okind == "task-notification":
                self.scan_notifications(_texts(blocks))
            self.add_message(conv, lineno, rec, USER, blocks, context=context, kind=kind)
            return
        self.link_through(conv, rec)
        conv.events[f"attachment/{at}"] += 1

    def on_summary_message(self, conv: _Conv, lineno: int, rec: dict) -> None:
        msg = rec.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("content"), (str, list)):
            given = msg.get("role")
            role = given if given in ROLES else SYSTEM
            self.add_message(conv, lineno, rec, role, _blocks(msg["content"]), context=True, kind="summary")
        else:
            self.link_through(conv, rec)
            conv.events["summary"] += 1

    def on_message(self, conv: _Conv, lineno: int, rec: dict, t: str) -> None:
        msg = rec.get("message")
        if not isinstance(msg, dict):
            self.ctx.warn(f"{t} record without a message object skipped", lineno)
            return
        content = msg.get("content")
        if not isinstance(content, (str, list)):
            self.ctx.warn(f"{t} record without message content skipped", lineno)
            return
        blocks = _blocks(content)
        if t == "assistant":
            self.add_assistant(conv, lineno, rec, msg, blocks)
            return
        kind: str | None = None
        role, context = USER, False
        body = _texts(blocks)
        origin = rec.get("origin")
        okind = origin.get("kind") if isinstance(origin, dict) else None
        if any(b.type == TOOL_RESULT for b in blocks) or (
            blocks and all(b.type in (TOOL_USE, TOOL_RESULT) for b in blocks)
        ):
            role, kind = TOOL, "tool_result"
        elif rec.get("isCompactSummary") is True:
            context, kind = True, "compact_summary"
        elif okind == "task-notification":
            context, kind = True, "task_notification"
        else:
            kind = _text_kind(body)
            if rec.get("isMeta") is True:
                context, kind = True, kind or "meta"
            elif kind is not None:
                context = True
            elif conv.agent_id and not conv.users:
                if body.strip() == "Warmup":
                    context, kind = True, "warmup"
                    conv.meta["warmup"] = True
                else:
                    kind = "agent_prompt"
        if kind == "task_notification":
            self.scan_notifications(body)
        self.add_message(conv, lineno, rec, role, blocks, context=context, kind=kind)

    def add_assistant(self, conv: _Conv, lineno: int, rec: dict, msg: dict, blocks: list[Block]) -> None:
        mid = _id(msg.get("id"))
        model = _id(msg.get("model"))
        usage, usage_rest = _usage(msg.get("usage"))
        synthetic = model == "<synthetic>"
        if synthetic:
            model, usage = None, None  # API-error placeholders are not model calls
        group = conv.groups.get(mid) if mid else None
        if group is not None:
            gmeta = _meta(group)
            uuid = _id(rec.get("uuid"))
            if uuid and self.duplicate(conv, uuid):
                return
            if uuid:
                self.owner[uuid] = conv
                conv.by_uuid[uuid] = group
                frag = gmeta.setdefault("fragments", [group.id])
                if len(frag) < 200:
                    frag.append(uuid)
            # fragments: one record per content block; never repeat a block already merged
            seen = {_dumps([b.type, b.text, b.id, b.name, b.input]) for b in group.blocks}
            for b in blocks:
                k = _dumps([b.type, b.text, b.id, b.name, b.input])
                if k not in seen:
                    seen.add(k)
                    group.blocks.append(b)
            if usage is not None:
                # streamed records repeat usage with a growing output count: the last record is final
                usage["key"] = _usage_key(mid, gmeta.get("request_id") or _id(rec.get("requestId")))
                group.usage = usage
                if usage_rest:
                    gmeta["usage_detail"] = usage_rest
            if group.model is None and model:
                group.model = model
            stop = _id(msg.get("stop_reason"))
            if stop:
                gmeta["stop_reason"] = stop
            cost = _num(rec.get("costUSD"))
            if cost is not None:
                gmeta["cost_usd"] = max(cost, gmeta.get("cost_usd", 0))
            if group.timestamp is None:
                group.timestamp = to_utc(rec.get("timestamp"))
            return
        meta: dict[str, Any] = {}
        if mid:
            meta["message_id"] = mid
        rid = _id(rec.get("requestId"))
        if rid:
            meta["request_id"] = rid
        if usage is not None and mid:
            usage["key"] = _usage_key(mid, rid)
        stop = _id(msg.get("stop_reason"))
        if stop:
            meta["stop_reason"] = stop
        if usage_rest:
            meta["usage_detail"] = usage_rest
        if synthetic:
            meta["synthetic"] = True
        if rec.get("isApiErrorMessage") is True:
            meta["api_error"] = True
        for field_name in ("error", "apiError"):
            v = rec.get(field_name)
            if isinstance(v, str) and v:
                meta[field_name] = clip_text(v, 500)
            elif isinstance(v, dict):
                meta[field_name] = json_or_summary(v, 1000)
        if rec.get("isAbortedMidStream") is True:
            meta["aborted"] = True
        m = self.add_message(conv, lineno, rec, ASSISTANT, blocks, model=model, usage=usage, meta=meta)
        if m is not None and mid:
            conv.groups[mid] = m

    def duplicate(self, conv: _Conv, uuid: str) -> bool:
        """The first valid occurrence of a uuid wins; later copies are noted, not kept."""
        owner = self.owner.get(uuid)
        if owner is None:
            return False
        if owner is conv:
            conv.meta["duplicates"] = conv.meta.get("duplicates", 0) + 1
        else:  # a resumed session repeating the previous session's records
            conv.external[uuid] = owner.key
            conv.meta["resumed_copies"] = conv.meta.get("resumed_copies", 0) + 1
            if conv.continued_from is None:
                conv.continued_from = owner.key
        return True

    def add_message(
        self,
        conv: _Conv,
        lineno: int,
        rec: dict,
        role: str,
        blocks: list[Block],
        *,
        context: bool = False,
        kind: str | None = None,
        model: str | None = None,
        usage: dict | None = None,
        meta: dict | None = None,
    ) -> Message | None:
        uuid = _id(rec.get("uuid"))
        if uuid and self.duplicate(conv, uuid):
            return None
        meta = {} if meta is None else meta  # add_assistant's own, built for this message
        if kind:
            meta["kind"] = kind
        if uuid:
            mid = uuid
        else:
            digest = hashlib.sha1(
                _dumps(
                    [
                        rec.get("type"),
                        rec.get("parentUuid"),
                        rec.get("timestamp"),
                        rec.get("message") if "message" in rec else rec.get("content"),
                        rec.get("attachment"),
                    ]
                )
            ).hexdigest()[:16]
            mid = f"x-{digest}"
            meta["derived_id"] = True
        base, n = mid, 1
        while mid in conv.ids:
            n += 1
            mid = f"{base}-{n}"
        ts = read_time(rec.get("timestamp"), meta, "timestamp")
        _record_fields(meta, rec)
        _result_outcomes(meta, rec, blocks)
        sidechain = rec.get("isSidechain") is True and conv.agent_id is None
        m = Message(
            id=mid,
            role=role,
            blocks=blocks,
            timestamp=ts,
            model=model,
            usage=usage,
            context=context,
            sidechain=sidechain,
            meta=meta,
        )
        if "parentUuid" in rec:
            p = _id(rec.get("parentUuid")) or _id(rec.get("logicalParentUuid"))
            conv.pref[mid] = ("uuid", p) if p else ("null",)
            if p:
                conv.any_link = True
        else:
            p = _id(rec.get("logicalParentUuid"))
            conv.pref[mid] = ("uuid", p) if p else ("absent",)
        if uuid:
            self.owner[uuid] = conv
            conv.by_uuid[uuid] = m
        conv.ids.add(mid)
        conv.msgs.append(m)
        conv.users += role == USER
        return m

    # -- end of file
    def finish(self) -> Iterator[Conversation]:
        with skip_on_error(self.ctx, "summary records"):
            self.attach_summaries()
        for conv in self.convs.values():
            c = None
            with skip_on_error(self.ctx, f"session {conv.key}"):
                c = self.build(conv)
            if c is not None:
                yield c

    def attach_summaries(self) -> None:
        first = next(iter(self.convs.values()), None)
        for leaf, s, pos in self.summaries:
            target = None
            if leaf:
                target = self.owner.get(leaf)
                if target is None:
                    for c in self.convs.values():
                        if leaf in c.external:
                            target = c
                            break
            if target is None:
                target = pos if pos is not None else first
                if target is not None and len(self.convs) > 1 and leaf:
                    target.meta.setdefault("unresolved_summary_leaves", []).append(leaf)
            if target is not None:
                target.summaries.append((leaf, s))

    def resolve(self, conv: _Conv, p: str | None, me: Message | None = None) -> tuple[Message | None, tuple | None]:
        seen: set[str] = set()
        while p is not None and p not in seen:
            seen.add(p)
            m = conv.by_uuid.get(p)
            if m is not None:
                return (None, None) if m is me else (m, None)
            if p in conv.through:
                p = conv.through[p]
                continue
            if p in conv.external:
                return None, ("parent_external", p)
            other = self.owner.get(p)
            if other is not None and other is not conv:
                return None, ("parent_external", p)
            return None, ("parent_missing", p)
        return None, None

    def build(self, conv: _Conv) -> Conversation | None:
        if not conv.msgs:
            self.ctx.note(f"session {conv.key}: no messages, skipped")
            return None
        self.link_tree(conv)
        break_message_cycles(conv.msgs)
        leaf, inferred, active = self.active_branch(conv)
        subagents = self.settle_tools(conv)
        return self.assemble(conv, leaf, inferred, active, subagents)

    def link_tree(self, conv: _Conv) -> None:
        """Parent links (through dropped records); linear when the source has none."""
        linear = not conv.any_link
        prev: dict[bool, Message] = {}
        for m in conv.msgs:
            ref = conv.pref.get(m.id, ("absent",))
            parent = None
            if linear or ref[0] == "absent":
                parent = prev.get(m.sidechain)
            elif ref[0] == "uuid":
                parent, note = self.resolve(conv, ref[1], m)
                if note:
                    _meta(m)[note[0]] = note[1]
            prev[m.sidechain] = m
            m.parent_id = parent.id if parent is not None else None

    def active_branch(self, conv: _Conv) -> tuple[Message, bool, set[str]]:
        """The active path: (its leaf, whether the leaf was inferred, its message ids); sets ``active``."""
        msgs = conv.msgs
        by_id = {m.id: m for m in msgs}
        allow_side = all(m.sidechain for m in msgs)
        children: dict[str, list[Message]] = {}
        for m in msgs:
            if m.parent_id is not None:
                children.setdefault(m.parent_id, []).append(m)
        leaf = None
        if conv.leaf_hint:
            leaf, _ = self.resolve(conv, conv.leaf_hint)
            if leaf is not None and leaf.sidechain and not allow_side:
                leaf = None
        inferred = leaf is None
        if leaf is None:
            leaf = next((m for m in reversed(msgs) if allow_side or not m.sidechain), msgs[-1])
        walked = {leaf.id}
        while True:  # a leaf hint may predate records that follow it
            kids = [k for k in children.get(leaf.id, ()) if (allow_side or not k.sidechain) and k.id not in walked]
            if not kids:
                break
            leaf = kids[-1]
            walked.add(leaf.id)
        active = active_path(leaf.id, {m.id: m.parent_id for m in msgs})
        for m in msgs:  # results of parallel tool calls hang off the path as siblings
            if m.id in active or m.role != TOOL or m.parent_id not in active or (m.sidechain and not allow_side):
                continue
            calls = {b.id for b in by_id[m.parent_id].blocks if b.type == TOOL_USE and b.id}
            if any(b.type == TOOL_RESULT and b.id in calls for b in m.blocks):
                active.add(m.id)
        for m in msgs:
            m.active = m.id in active
        return leaf, inferred, active

    def settle_tools(self, conv: _Conv) -> list[str]:
        """Tool pairing and outcomes; returns the subagent conversations the calls started."""
        results: dict[str, Block] = {}
        for m in conv.msgs:
            for b in m.blocks:
                if b.type == TOOL_RESULT:
                    if b.meta is None:
                        b.meta = {"outcome": "unknown"}
                    st = self.notifications.get(b.id) if b.id else None
                    if st is not None and b.meta.get("outcome") == "pending":
                        b.meta["task_status"] = st
                        b.meta["outcome"] = _SETTLED.get(st, "pending")
                    if b.id and b.id not in results:
                        results[b.id] = b
        subagents: list[str] = []
        for m in conv.msgs:
            for b in m.blocks:
                if b.type != TOOL_USE:
                    continue
                b.meta = dict(b.meta or {})
                r = results.get(b.id) if b.id else None
                b.meta["outcome"] = (r.meta or {}).get("outcome", "unknown") if r is not None else "unknown"
                aid = self.agent_by_tool.get(b.id) if b.id else None
                result = (r.meta or {}).get("result") if r is not None else None
                if aid is None and isinstance(result, dict):
                    aid = _id(result.get("agentId"))
                if aid and conv.sid:
                    b.meta["agent_id"] = aid
                    child = f"{NAME}:{conv.sid}/agent-{aid}"
                    b.meta["child"] = child
                    if child not in subagents and len(subagents) < 500:
                        subagents.append(child)
        return subagents

    def assemble(
        self, conv: _Conv, leaf: Message, inferred: bool, active: set[str], subagents: list[str]
    ) -> Conversation:
        """The conversation fields: times, models, session meta, lineage and title."""
        msgs = conv.msgs
        for m in msgs:
            if not m.meta:
                m.meta = None
        stamps = [m.timestamp for m in msgs if m.timestamp is not None]
        models: list[str] = []
        for m in msgs:
            if m.model and m.model not in models and not _PLACEHOLDER.match(m.model):
                models.append(m.model)
        meta: dict[str, Any] = {k: v for k, v in conv.meta.items() if v not in (None, [], {})}
        if conv.sid:
            meta["session_id"] = conv.sid
        if len(conv.cwds) > 1:
            meta["cwds"] = conv.cwds
        if conv.events:
            meta["events"] = {k: v for k, v in sorted(conv.events.items()) if v > 0}
        cost = sum(m.meta["cost_usd"] for m in msgs if m.meta and _num(m.meta.get("cost_usd")) is not None)
        if cost:
            meta["cost_usd"] = round(cost, 6)  # very old files only; once per message id
        meta["active_leaf"] = leaf.id
        if inferred:
            meta["active_leaf_inferred"] = True
        if subagents:
            meta["subagents"] = subagents
        parent_id = self.lineage(conv, meta)
        title = self.pick_title(conv, active, meta)
        return Conversation(
            provider=NAME,
            provider_id=conv.key,
            title=title,
            created_at=min(stamps) if stamps else None,
            updated_at=max(stamps) if stamps else None,
            messages=msgs,
            source_path=self.ctx.path or None,
            parent_id=parent_id,
            models=models,
            project=conv.cwd or conv.project_field,
            meta=meta,
        )

    def lineage(self, conv: _Conv, meta: dict[str, Any]) -> str | None:
        """The parent conversation (subagent, fork, continuation) and the meta that says how."""
        parent_id = None
        if conv.agent_id:
            meta["agent_id"] = conv.agent_id
            compaction = conv.agent_id.startswith("acompact")
            meta["agent_kind"] = "compaction" if compaction else "subagent"
            meta["link_type"] = "compaction" if compaction else "subagent"
            if conv.agent_type:
                meta["agent_type"] = conv.agent_type
            if conv.sid:
                parent_id = f"{NAME}:{conv.sid}"
            else:
                meta["parent_session_unknown"] = True
        elif conv.forked_from and conv.forked_from["session_id"] != conv.sid:
            parent_id = f"{NAME}:{conv.forked_from['session_id']}"
            meta["link_type"] = "fork"
            meta["forked_from"] = {k: v for k, v in conv.forked_from.items() if v}
        elif conv.continued_from:
            parent_id = f"{NAME}:{conv.continued_from}"
            meta["link_type"] = "continuation"
        if conv.continued_from:
            meta["continued_from"] = f"{NAME}:{conv.continued_from}"
        return parent_id

    def pick_title(self, conv: _Conv, active: set[str], meta: dict[str, Any]) -> str | None:
        """A title record first, else the summary of the active branch (recorded in meta)."""
        title, source = None, None
        for kind in ("custom-title", "ai-title", "agent-name"):
            if conv.titles.get(kind):
                title, source = conv.titles[kind], kind
                break
        if conv.summaries:
            chosen = None
            for leaf_uuid, s in conv.summaries:
                target, _ = self.resolve(conv, leaf_uuid) if leaf_uuid else (None, None)
                if target is not None and target.id in active:
                    chosen = s
            chosen = chosen or conv.summaries[-1][1]
            meta["summary"] = chosen
            if len(conv.summaries) > 1:
                meta["summaries"] = [s for _, s in conv.summaries[-_LIST_LIMIT:]]
            if title is None:
                title, source = chosen, "summary"
        if source:
            meta["title_source"] = source
        return title


# ---------------------------------------------------------------- entry point


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Conversation]:
    p = _Parser(ctx)
    for lineno, rec in _records(stream, ctx):
        p.line(lineno, rec)
    yield from p.finish()


# A session log grows by appending: the pipeline may keep this parser's state
# after the last complete line and feed it only the lines added since (resume.py).


def resumable(head) -> bool:
    """JSONL that ``parse`` reads line by line (not a web ``loglines`` document)."""
    return head.kind == "jsonl" and "loglines" not in head.records[0]


def start(ctx: ParseContext) -> _Parser:
    return _Parser(ctx)


def _side_file(head: Head) -> bool:
    """What Claude Code writes beside its session logs: ``agent-*.meta.json``,
    ``sessions-index.json`` and the prompt history ``history.jsonl``."""
    meta_keys = ("agentType", "entries", "originalPath")
    if head.kind == "json" and head.top == "object" and any(head.has(k) for k in meta_keys):
        return True
    r = head.records[0] if head.kind in ("json", "jsonl") and head.records else None
    return r is not None and "display" in r and "pastedContents" in r


CLEANUP_DEFAULT_DAYS = 30  # Claude Code's documented default for cleanupPeriodDays


def retention(environ: Mapping[str, str], user: Path) -> Retention:
    """Claude Code deletes session logs older than ``cleanupPeriodDays`` (its user
    settings file; 30 when unset). A file or value that cannot be read is unknown."""
    folder = environ.get("CLAUDE_CONFIG_DIR") or str(user / ".claude")
    path = Path(folder).expanduser() / "settings.json"
    setting = f"{path}: cleanupPeriodDays"
    try:
        settings = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return Retention(CLEANUP_DEFAULT_DAYS, setting)
    except (OSError, orjson.JSONDecodeError):
        return Retention(None, setting)
    if not isinstance(settings, dict) or "cleanupPeriodDays" not in settings:
        return Retention(CLEANUP_DEFAULT_DAYS if isinstance(settings, dict) else None, setting)
    days = settings["cleanupPeriodDays"]
    # documented as at least 1; versions differ on 0 (rejected now, once "keep" or "write no transcripts")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        return Retention(None, setting)
    return Retention(days, setting)


PROVIDER = Provider(
    name=NAME,
    display_name="Claude Code",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=70,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=True),
    locations=(Location("~/.claude", "projects", env="CLAUDE_CONFIG_DIR"),),
    side_file=_side_file,
    resume=Resume(applies=resumable, start=start),
    retention=retention,
)
