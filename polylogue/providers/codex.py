"""OpenAI Codex CLI rollouts (docs/providers.md, "codex"): all three generations.

1. TypeScript CLI (Apr-May 2025): one JSON document ``{session:{...}, items:[...]}``.
2. Pre-envelope JSONL (mid-2025): a bare header ``{id, timestamp, instructions?, git?}``
   then bare response items and ``{"record_type":"state"}`` markers.
3. Envelope JSONL (0.3x+): every line ``{timestamp, type, payload}``.

One rollout file is one conversation, identified by the first ``session_meta.payload.id``
(or the generation 1/2 header id). Later ``session_meta`` lines (resume, fork, subagent
spawn) are lineage records kept in ``Conversation.meta["lineage"]``.

Mapping (one Message per model-visible history item, in file order):

- ``message`` items: ``user``/``assistant``; ``developer``/``system`` become role system
  with ``context=True``; ``user`` messages holding injected context (``<environment_context>``,
  ``<user_instructions>``, ``# AGENTS.md instructions``, ``<skill>``, ``<user_shell_command>``,
  ``<turn_aborted>``, ``<subagent_notification>``) keep role user with ``context=True``. In files
  that have ``task_started`` and ``user_message`` events (0.104+), a user item that no
  ``user_message`` event copies is injected context too (the event is what the person typed).
- ``reasoning``: an assistant message of thinking blocks (summaries, then raw content).
  Reasoning with only ``encrypted_content`` gives no message (counted in meta).
- ``function_call``/``custom_tool_call``/``local_shell_call``/``web_search_call``/
  ``tool_search_call``/``image_generation_call``: an assistant message with a tool_use block
  (``Block.id`` = ``call_id``). ``*_output`` items: a role-tool message with a tool_result
  block paired by ``call_id``. ``exec_command_end``/``patch_apply_end``/``mcp_tool_call_end``/...
  events add detail (exit code, duration, success) to the result with the same call id, or
  supply the result when the output item is missing. A call with no output followed by
  ``turn_aborted`` gets ``meta["outcome"]="aborted"``; otherwise the outcome stays unknown.
- ``event_msg`` ``user_message``/``agent_message``/``agent_reasoning`` are copies of items:
  matched by (kind, whitespace- and redaction-normalised text) to the nearest item within
  ``COPY_WINDOW`` lines and dropped; unmatched copies fill gaps as messages of their own.
- ``compacted.replacement_history`` holds copies: never imported (a compaction event is kept).
- ``thread_rolled_back{num_turns}`` marks the messages of the last N user turns inactive; the
  next message hangs off the message before them (a branch). ``parent_id`` is derived: the
  previous message on the then-current path.

Usage: ``token_count.info.total_token_usage`` is cumulative. Each change between successive
snapshots is one response's usage, on the latest assistant message before it, attributed to
that message's model (a drop in the total is a counter reset and starts a segment; snapshots
are never summed). Its ``key`` names the lineage root, the segment and the cumulative counts,
so a fork replaying its parent's history gives the replayed responses the parent's keys (a
usage ledger counts a key once). The session totals are ``meta["usage_total"]``, informational.
OpenAI convention: ``input`` includes ``cache_read``, ``output`` includes ``reasoning``.

Message ids: the item ``id`` when present (a repeated id with an identical payload is a copy
and dropped; with a different payload the later item gets a derived id), else
``<session id>:<line number>`` (generation 1: item index), flagged ``meta["id_derived"]``.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Final, cast

import orjson

from ..errors import ParseError
from ..models import (
    ASSISTANT,
    IMAGE,
    SYSTEM,
    TOOL,
    TOOL_RESULT,
    TOOL_USE,
    USER,
    Block,
    Conversation,
    Message,
    attachment,
    opaque,
    text,
    thinking,
    tool_result,
    tool_use,
)
from .base import Head, Location, Provider, Records, Resume
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    error_summary,
    fail_on_error,
    iter_jsonl,
    json_text,
    replay,
    skip_on_error,
    skipped,
    to_utc,
)

NAME = "codex"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

COPY_WINDOW = 200  # lines between an event copy and the item it copies
_FIRST_LINE_MAX = 1 << 20

ENVELOPE_TYPES = frozenset(
    {
        "session_meta",
        "response_item",
        "event_msg",
        "turn_context",
        "compacted",
        "world_state",
        "inter_agent_communication_metadata",
    }
)
BARE_ITEM_TYPES = frozenset(
    {
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "local_shell_call_output",
        "web_search_call",
        "tool_search_call",
        "tool_search_output",
        "image_generation_call",
    }
)
_RAW_ROLES = frozenset({"user", "assistant", "developer", "system", "tool"})
_CONTEXT_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "# agents.md instructions for ",
    "<instructions>",
    "<skill>",
    "<user_shell_command>",
    "<turn_aborted>",
    "<subagent_notification>",
)
_CALL_TYPES = frozenset(
    {
        "function_call",
        "custom_tool_call",
        "local_shell_call",
        "web_search_call",
        "tool_search_call",
        "image_generation_call",
        "tool_call",
    }
)
_OUTPUT_TYPES = frozenset(
    {
        "function_call_output",
        "custom_tool_call_output",
        "local_shell_call_output",
        "tool_search_output",
        "tool_result",
        "function_result",
    }
)
_INLINE_RESULT = frozenset({"web_search_call", "image_generation_call"})  # no output item follows these
_DETAIL_EVENTS = frozenset(
    {
        "exec_command_begin",
        "exec_command_end",
        "patch_apply_begin",
        "patch_apply_end",
        "mcp_tool_call_begin",
        "mcp_tool_call_end",
        "web_search_begin",
        "web_search_end",
        "view_image_tool_call",
        "image_generation_begin",
        "image_generation_end",
        "dynamic_tool_call_request",
        "dynamic_tool_call_response",
    }
)
# event fields that duplicate the tool output (kept in the result text, not in the detail)
_BULKY = frozenset(
    {
        "stdout",
        "stderr",
        "aggregated_output",
        "formatted_output",
        "result",
        "content_items",
        "changes",
        "unified_diff",
        "results",
        "type",
    }
)
_COPY_EVENTS = {
    "user_message": USER,
    "agent_message": ASSISTANT,
    "agent_reasoning": "thinking",
    "agent_reasoning_raw_content": "thinking",
}
_SILENT_EVENTS = frozenset({"agent_reasoning_section_break"})

_PLACEHOLDER = re.compile(r"^\[.*\]$", re.S)
_REDACTED = re.compile(r"\[REDACTED_[A-Z_]+ (len=\d+ sha=[0-9a-fA-F]+)\]")
_EXIT_PREAMBLE = re.compile(r"^(?:Process exited with code|Process completed with exit code)\s+(-?\d+)\s*$", re.M)
_EXIT_FIRST_LINE = re.compile(r"^Exit code:\s*(-?\d+)\s*$")
_ENV_CWD = re.compile(r"<cwd>\s*([^<\n]+?)\s*</cwd>")
_GEN1_START = re.compile(rb'\{\s*"(?:session|items)"\s*:')
_DATA_URL = re.compile(r"^data:([\w.+/-]+)?(;base64)?,", re.I)


# ---------------------------------------------------------------- sniffing


def _classify(rec: dict) -> bool | None:
    """True: a Codex record; False: clearly another format's record; None: undecided."""
    t = rec.get("type")
    if isinstance(t, str):
        if t in ENVELOPE_TYPES and "payload" in rec:
            return True
        if t in BARE_ITEM_TYPES and "payload" not in rec and not isinstance(rec.get("message"), dict):
            if t != "message":
                return True
            return _typ(rec, "role") in _RAW_ROLES and isinstance(rec.get("content"), (list, str))
        return False
    if rec.get("record_type") == "state":
        return True
    if {"session_id", "ts", "text"} <= rec.keys():
        return True  # ~/.codex/history.jsonl: routed here so parse() skips it explicitly
    return None


def sniff(head) -> bool:
    for rec in head.records:
        verdict = _classify(rec)
        if verdict is not None:
            return verdict
    if head.kind == "json" and head.top == "object":
        return head.has("session", "start_map") and head.has("items", "start_array")
    return False


# ---------------------------------------------------------------- small helpers


def _typ(d: dict, key: str = "type") -> str | None:
    """A discriminator field, only when it is a string (never hash an arbitrary value)."""
    v = d.get(key)
    return v if isinstance(v, str) else None


def _real(value: Any) -> str | None:
    """A usable id/slug/path: a non-empty string that is not a fixture placeholder."""
    s = as_str(value)
    if s is None:
        return None
    s = s.strip()
    return s if s and not _PLACEHOLDER.match(s) else None


def _canonical(value: Any) -> bytes:
    """Stable bytes of a JSON value (sorted keys), also for integers beyond 64 bits."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        import json

        return json.dumps(value, sort_keys=True, default=str).encode()


def _norm(s: str) -> str:
    if "[REDACTED_" in s:  # the substitution scans the text and parses its template: only when it can match
        s = _REDACTED.sub(r"[REDACTED \1]", s)
    return " ".join(s.split())


def _is_context_text(s: str) -> bool:
    head = s.lstrip()[:40].lower()
    return any(head.startswith(p) for p in _CONTEXT_PREFIXES)


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v == v and abs(v) < 1e18:
        return int(v)
    return None


def _image_block(url: Any, **meta: Any) -> Block:
    url = as_str(url)
    if url and url.startswith("data:"):
        m = _DATA_URL.match(url)
        mime = m.group(1) if m else None
        size = (len(url) - (m.end() if m else 0)) * 3 // 4
        return attachment(None, kind=IMAGE, mime=mime, size=size, inline=True, **meta)
    return attachment(None, kind=IMAGE, url=url, **meta)


def _content_blocks(content: Any, counts: dict) -> list[Block]:
    """Message content (a string or a list of typed parts) as blocks."""
    if isinstance(content, str):
        return [text(content)] if content else []
    blocks: list[Block] = []
    for part in as_list(content):
        if isinstance(part, str):
            if part:
                blocks.append(text(part))
            continue
        if not isinstance(part, dict):
            blocks.append(opaque(part))
            continue
        pt = part.get("type")
        s = part.get("text")
        if pt in ("input_text", "output_text", "text", "Text", "inputText") and isinstance(s, str):
            blocks.append(text(s))
        elif pt in ("summary_text", "reasoning_text") and isinstance(s, str):
            blocks.append(thinking(s))
        elif pt == "refusal" and isinstance(part.get("refusal"), str):
            b = text(part["refusal"])
            b.meta = {"refusal": True}
            blocks.append(b)
        elif pt in ("input_image", "image"):
            blocks.append(_image_block(part.get("image_url") or part.get("url"), detail=as_str(part.get("detail"))))
        elif pt == "input_file":
            blocks.append(
                attachment(
                    as_str(part.get("filename")), file_id=as_str(part.get("file_id")), url=as_str(part.get("file_url"))
                )
            )
        elif pt == "encrypted_content":
            counts["encrypted_parts"] = counts.get("encrypted_parts", 0) + 1
        elif pt == "tool_use":
            blocks.append(tool_use(as_str(part.get("id")), as_str(part.get("name")), part.get("input")))
        elif pt == "tool_result":
            out, exit_code, _extra, is_err = _output(part.get("content"))
            flag = part.get("is_error")
            b = tool_result(
                as_str(part.get("tool_use_id")) or as_str(part.get("id")),
                out,
                flag if isinstance(flag, bool) else is_err,
            )
            blocks.append(b)
        else:
            blocks.append(opaque(part))
    return blocks


def _exit_from_text(s: str) -> int | None:
    head = s[:2000]
    first = head.split("\n", 1)[0]
    m = _EXIT_FIRST_LINE.match(first)
    if m:
        return int(m.group(1))
    preamble = "\n".join(head.split("\n")[:8])
    m = _EXIT_PREAMBLE.search(preamble)
    return int(m.group(1)) if m else None


def _output(value: Any) -> tuple[str, int | None, list[Block], bool | None]:
    """Tool output in any of its shapes -> (text, exit code, extra blocks, is_error)."""
    extra: list[Block] = []
    exit_code: int | None = None
    is_error: bool | None = None
    if isinstance(value, str):
        out = value
        st = value.lstrip()
        if st.startswith("{") and '"output"' in st[:200_000]:
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get("output"), str):
                out = obj["output"]
                md = as_dict(obj.get("metadata"))
                exit_code = _int(md.get("exit_code"))
        if exit_code is None:
            exit_code = _exit_from_text(out)
    elif isinstance(value, list):
        parts: list[str] = []
        for item in value:
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(item["text"])
            elif isinstance(item, dict) and item.get("type") in ("input_image", "image"):
                extra.append(_image_block(item.get("image_url"), detail=as_str(item.get("detail"))))
            elif item is not None:
                parts.append(json_text(item))
        out = "\n".join(parts)
    elif isinstance(value, dict):
        if "content" in value and isinstance(value.get("success"), bool):
            out, exit_code, extra, _ = _output(value["content"])
            is_error = not value["success"]
        elif isinstance(value.get("text"), str):
            out = value["text"]
            if value.get("type") in ("input_image", "image"):
                extra.append(_image_block(value.get("image_url")))
        elif isinstance(value.get("output"), str):
            out, exit_code, extra, is_error = _output(value["output"])
            exit_code = _int(as_dict(value.get("metadata")).get("exit_code")) if exit_code is None else exit_code
        elif "stdout" in value or "exitCode" in value or "exit_code" in value:
            out = "\n".join(s for s in (as_str(value.get("stdout")), as_str(value.get("stderr"))) if s)
            exit_code = _int(value.get("exitCode", value.get("exit_code")))
        elif value.get("type") in ("input_image", "image"):
            out = ""
            extra.append(_image_block(value.get("image_url")))
        else:
            out = json_text(value)
    elif value is None:
        out = ""
    else:
        out = json_text(value)
    if is_error is None and exit_code is not None:
        is_error = exit_code != 0
    return out, exit_code, extra, is_error


def _parse_args(args: Any) -> Any:
    if isinstance(args, str):
        st = args.strip()
        if st[:1] in ("{", "["):
            try:
                return orjson.loads(st)
            except orjson.JSONDecodeError:
                return args
    return args


def _detail(payload: dict) -> dict:
    """The small, non-duplicated fields of a tool-detail event."""
    d = {k: v for k, v in payload.items() if k not in _BULKY and v is not None}
    d["event"] = payload.get("type")
    changes = payload.get("changes")
    if isinstance(changes, dict):
        d["changes"] = {str(p): as_dict(c).get("type") for p, c in changes.items()}
    res = payload.get("result")
    if isinstance(res, dict):
        if "Err" in res:
            d["error"] = True
        elif isinstance(res.get("Ok"), dict):
            d["error"] = bool(res["Ok"].get("isError"))
    results = payload.get("results")
    if isinstance(results, list):
        d["results"] = [
            {"title": as_str(as_dict(r).get("title")), "url": as_str(as_dict(r).get("url"))}
            for r in results
            if isinstance(r, dict)
        ]
    return d


def _detail_output(payload: dict) -> str:
    """What a tool-detail event says the tool printed (used when the output item is missing)."""
    for key in ("aggregated_output", "formatted_output"):
        if isinstance(payload.get(key), str) and payload[key]:
            return payload[key]
    parts = [s for s in (as_str(payload.get("stdout")), as_str(payload.get("stderr"))) if s]
    if parts:
        return "\n".join(parts)
    res = payload.get("result")
    if isinstance(res, dict):
        ok = res.get("Ok")
        if isinstance(ok, dict):
            return _output(ok.get("content"))[0]
        if "Err" in res:
            return json_text(res["Err"])
    if isinstance(payload.get("content_items"), list):
        return _output(payload["content_items"])[0]
    if isinstance(payload.get("results"), list):
        return "\n".join(
            " ".join(filter(None, (as_str(as_dict(r).get("title")), as_str(as_dict(r).get("url")))))
            for r in payload["results"]
        )
    return ""


_SNAP: Final = ("input", "cache_read", "cache_write", "output", "reasoning")  # a usage key's counts, in order


def _lanes(u: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for src, lane in (
        ("input_tokens", "input"),
        ("output_tokens", "output"),
        ("cached_input_tokens", "cache_read"),
        ("cache_write_input_tokens", "cache_write"),
        ("reasoning_output_tokens", "reasoning"),
    ):
        v = _int(u.get(src))
        if v is not None:
            out[lane] = v
    return out


# ---------------------------------------------------------------- state


@dataclass
class _Msg:
    line: int
    role: str
    blocks: list[Block]
    ts: datetime | None = None
    item_id: str | None = None
    context: bool = False
    model: str | None = None
    meta: dict = field(default_factory=dict)
    sub: int = 0
    keys: list = field(default_factory=list)  # dedup keys (kind, normalised text)
    copied: bool = False  # an event copy matched it


@dataclass
class _Event:
    line: int
    kind: str
    key: tuple
    payload: dict
    ts: datetime | None


class _Rollout:
    def __init__(self, ctx: ParseContext, generation: int):
        self.ctx = ctx
        self.generation = generation
        self.sid: str | None = None
        self.first_record_hash: str | None = None
        self.session: dict | None = None
        self.session_ts: datetime | None = None
        self.project: str | None = None
        self.parent: str | None = None
        self.title: str | None = None
        self.msgs: list[_Msg] = []
        self.copies: list[_Event] = []
        self.seen_ids: dict[str, int] = {}
        self.model: str | None = None
        self.models: list[str] = []
        self.model_at: list[tuple[int, str]] = []  # (line, model) of each turn_context
        self.turn_id: str | None = None
        self.meta: dict[str, Any] = {"generation": generation}
        self.events: list[dict] = []
        self.counts: dict[str, int] = {}
        self.details: dict[str, list[tuple[int, dict, datetime | None]]] = {}
        self.aborts: list[int] = []
        self.rollbacks: list[tuple[int, int]] = []
        self.task_started = False
        self.user_events = 0
        self.idless_calls: list[Block] = []
        self.records = 0
        self.unknown_records = 0
        self.adjacent: list[tuple[Block, Block]] = []  # (id-less result, the call it answers)
        # usage
        self.usage_cur: dict[str, int] | None = None
        self.usage_cur_total = -1
        self.usage_by_model: dict[str | None, dict[str, int]] = {}
        self.usage_seg = 0  # counter resets so far: a segment of the cumulative count
        # each non-zero change of the cumulative count: (line, segment, snapshot, delta)
        self.usage_deltas: list[tuple[int, int, tuple[int, ...], dict[str, int]]] = []
        self.rate_limits: list[dict] = []
        self._last_rl: Any = None

    # -- bookkeeping
    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def event(self, line: int, ts: datetime | None, etype: Any, fields: dict | None = None) -> None:
        ev: dict[str, Any] = {"type": etype, "line": line}
        if ts:
            ev["at"] = ts.isoformat()
        if fields:
            ev.update({k: v for k, v in fields.items() if k != "type" and v is not None})
        self.events.append(ev)

    def add(self, m: _Msg) -> _Msg:
        if m.model is None and m.role == ASSISTANT:
            m.model = self.model
        if self.turn_id and "turn_id" not in m.meta:
            m.meta["turn_id"] = self.turn_id
        self.msgs.append(m)
        return m

    # -- records
    def feed(self, line: int, rec: dict) -> None:
        self.records += 1
        if self.first_record_hash is None:
            self.first_record_hash = hashlib.sha1(_canonical(rec)).hexdigest()[:20]
        rtype = rec.get("type")
        payload = rec.get("payload")
        if isinstance(rtype, str) and rtype in ENVELOPE_TYPES and "payload" in rec:
            if not isinstance(payload, dict):
                self.ctx.warn(f"{rtype} record without an object payload", line)
                return
            ts = to_utc(rec.get("timestamp")) or to_utc(payload.get("timestamp"))
            if rtype == "response_item":
                self.item(payload, line, ts)
            elif rtype == "event_msg":
                self.event_msg(payload, line, ts)
            elif rtype == "session_meta":
                self.session_meta(payload, line, ts, rec.get("timestamp"))
            elif rtype == "turn_context":
                self.turn_context(payload, line, ts)
            elif rtype == "compacted":
                self.count("compactions")
                hist = payload.get("replacement_history")
                self.event(
                    line,
                    ts,
                    "compacted",
                    {
                        "message": as_str(payload.get("message")),
                        "replacement_items": len(hist) if isinstance(hist, list) else None,
                        **{
                            k: payload.get(k)
                            for k in ("window_id", "window_number", "previous_window_id", "first_window_id")
                        },
                    },
                )
            else:  # world_state, inter_agent_communication_metadata
                self.event(line, ts, rtype, payload)
            return
        if rec.get("record_type") == "state":
            self.count("state_markers")
            return
        ts = to_utc(rec.get("timestamp")) or to_utc(rec.get("created_at"))
        if rtype is None and self.records == 1 and "id" in rec and "role" not in rec and "payload" not in rec:
            self.header(rec, line, ts)
            return
        if (
            isinstance(rtype, str)
            and (rtype in BARE_ITEM_TYPES or rtype in _CALL_TYPES or rtype in _OUTPUT_TYPES or rtype == "token_count")
        ) or (rtype is None and "role" in rec):
            self.item(rec, line, ts)
            return
        self.unknown_records += 1
        self.event(line, ts, "unknown_record", {"raw": rec})

    def header(self, rec: dict, line: int, ts: datetime | None) -> None:
        """Generation 2 bare header (and generation 1 ``session``)."""
        if self.session is not None:
            self.event(line, ts, "header", rec)
            return
        self.session = rec
        self.sid = _real(rec.get("id"))
        self.session_ts = ts or to_utc(rec.get("timestamp"))
        git = rec.get("git")
        if isinstance(git, dict):
            self.meta["git"] = git
        instr = rec.get("instructions")
        if isinstance(instr, str) and instr.strip():
            self.add(
                _Msg(line, SYSTEM, [text(instr)], ts=self.session_ts, context=True, meta={"source": "instructions"})
            )

    def session_meta(self, p: dict, line: int, ts: datetime | None, raw_ts: Any) -> None:
        if self.session is not None:
            lin = {
                k: p.get(k)
                for k in (
                    "id",
                    "session_id",
                    "forked_from_id",
                    "parent_thread_id",
                    "source",
                    "timestamp",
                    "cwd",
                    "cli_version",
                    "agent_nickname",
                    "agent_role",
                )
                if p.get(k) is not None
            }
            lin["line"] = line
            self.meta.setdefault("lineage", []).append(lin)
            self.count("later_session_meta")
            return
        self.session = p
        self.sid = _real(p.get("id")) or _real(p.get("session_id"))
        self.session_ts = to_utc(p.get("timestamp")) or to_utc(raw_ts)
        self.project = _real(p.get("cwd"))
        for k in (
            "originator",
            "cli_version",
            "source",
            "thread_source",
            "model_provider",
            "git",
            "forked_from_id",
            "parent_thread_id",
            "agent_nickname",
            "agent_role",
            "memory_mode",
        ):
            if p.get(k) is not None:
                self.meta[k] = p[k]
        if p.get("session_id") is not None and p.get("session_id") != p.get("id"):
            self.meta["session_id"] = p["session_id"]
        if isinstance(p.get("dynamic_tools"), list):
            self.meta["dynamic_tools"] = [as_str(as_dict(t).get("name")) or t for t in p["dynamic_tools"]]
        src = p.get("source")
        sub = as_dict(src).get("subagent") if isinstance(src, dict) else None
        spawn = as_dict(as_dict(sub).get("thread_spawn")) if isinstance(sub, dict) else {}
        parent = (
            _real(p.get("forked_from_id")) or _real(p.get("parent_thread_id")) or _real(spawn.get("parent_thread_id"))
        )
        if parent and parent != self.sid:
            self.parent = f"{NAME}:{parent}"
        if sub is not None:
            self.meta["lineage_kind"] = "subagent"
            if spawn:
                self.meta["spawn"] = spawn
        elif _real(p.get("forked_from_id")):
            self.meta["lineage_kind"] = "fork"
        instr = p.get("instructions")
        if not isinstance(instr, str):
            instr = as_dict(p.get("base_instructions")).get("text")
        if isinstance(instr, str) and instr.strip():
            self.add(
                _Msg(
                    line,
                    SYSTEM,
                    [text(instr)],
                    ts=self.session_ts or ts,
                    context=True,
                    meta={"source": "base_instructions" if "base_instructions" in p else "instructions"},
                )
            )

    def turn_context(self, p: dict, line: int, ts: datetime | None) -> None:
        nested = p.get("turn_context")
        tc = nested if isinstance(nested, dict) else p
        cm = as_dict(tc.get("collaboration_mode"))
        model = _real(tc.get("model")) or _real(as_dict(cm.get("settings")).get("model")) or _real(cm.get("model"))
        if model:
            self.model = model
            self.model_at.append((line, model))
            if model not in self.models:
                self.models.append(model)
        if self.project is None:
            self.project = _real(tc.get("cwd"))
        tid = _real(tc.get("turn_id"))
        if tid:
            self.turn_id = tid
        self.count("turn_contexts")
        settings = {
            k: tc.get(k)
            for k in ("approval_policy", "sandbox_policy", "effort", "summary", "personality", "timezone")
            if tc.get(k) is not None
        }
        if cm.get("mode") is not None:
            settings["collaboration_mode"] = cm.get("mode")
        if settings:
            self.meta["settings"] = settings

    # -- response items
    def item(self, p: dict, line: int, ts: datetime | None) -> None:
        ptype = _typ(p)
        if ptype is None and "role" in p:
            ptype = "message"
        if ts is None:
            ts = to_utc(p.get("timestamp")) or to_utc(p.get("created_at"))
        item_id = _real(p.get("id"))
        meta: dict[str, Any] = {}
        if item_id is not None:
            h = hash(_canonical(p))
            prev = self.seen_ids.get(item_id)
            if prev is not None:
                if prev == h:
                    self.count("duplicate_items")
                    return
                meta["native_id"] = item_id
                meta["id_collision"] = True
                item_id = None
            else:
                self.seen_ids[item_id] = h
        passthrough = as_dict(p.get("internal_chat_message_metadata_passthrough")) or as_dict(p.get("metadata"))
        tid = _real(passthrough.get("turn_id"))
        if tid:
            meta["turn_id"] = tid
        if ptype == "message":
            self.message_item(p, line, ts, item_id, meta)
        elif ptype == "reasoning":
            blocks = [
                thinking(s["text"])
                for s in as_list(p.get("summary"))
                if isinstance(s, dict) and isinstance(s.get("text"), str) and s["text"]
            ]
            content = p.get("content")
            if isinstance(content, list):
                blocks += [
                    thinking(c["text"])
                    for c in content
                    if isinstance(c, dict) and isinstance(c.get("text"), str) and c["text"]
                ]
            elif isinstance(content, str) and content:
                blocks.append(thinking(content))
            if not blocks:
                self.count("reasoning_without_summary")
                return
            meta["item_type"] = "reasoning"
            m = self.add(_Msg(line, ASSISTANT, blocks, ts=ts, item_id=item_id, meta=meta))
            m.keys = [("thinking", _norm(b.text)) for b in blocks]
        elif ptype in _CALL_TYPES or (ptype == "function" and "function" in p):
            self.call_item(p, ptype, line, ts, item_id, meta)
        elif ptype in _OUTPUT_TYPES:
            self.output_item(p, ptype, line, ts, item_id, meta)
        elif ptype == "token_count":
            info = p.get("info")
            self.usage(info if isinstance(info, dict) else p, line)
        elif ptype == "ghost_snapshot":
            gc = as_dict(p.get("ghost_commit"))
            self.event(line, ts, "ghost_snapshot", {"commit": gc.get("id"), "parent": gc.get("parent")})
        elif ptype == "agent_message":
            blocks = _content_blocks(p.get("content"), self.counts)
            meta.update({"item_type": "agent_message", "author": p.get("author"), "recipient": p.get("recipient")})
            self.add(_Msg(line, USER, blocks or [opaque(p)], ts=ts, item_id=item_id, context=True, meta=meta))
        else:
            meta["item_type"] = ptype if isinstance(ptype, str) else None
            given = p.get("role")
            role = given if given in (USER, ASSISTANT) else ASSISTANT
            self.add(_Msg(line, role, [opaque(p)], ts=ts, item_id=item_id, meta=meta))

    def message_item(self, p: dict, line: int, ts: datetime | None, item_id: str | None, meta: dict) -> None:
        raw_role = p.get("role")
        content = p.get("content")
        if content is None and isinstance(p.get("message"), str):
            content = p["message"]  # drift shape {role, message}
        blocks = _content_blocks(content, self.counts)
        if not blocks:
            self.count("empty_messages")
            return
        if p.get("phase") is not None:
            meta["phase"] = p["phase"]
        if p.get("model") is not None:
            meta["model"] = p["model"]
        body = "\n".join(b.text for b in blocks if b.type == "text")
        context = False
        if raw_role in ("developer", "system"):
            role, context = SYSTEM, True
            meta["raw_role"] = raw_role
        elif raw_role == USER:
            role = USER
            if any(b.type == "text" and _is_context_text(b.text) for b in blocks):
                context = True
                meta["context_reason"] = "injected context block"
        elif raw_role == ASSISTANT:
            role = ASSISTANT
        elif raw_role == TOOL:
            role = TOOL
        else:
            role = ASSISTANT
            meta["raw_role"] = raw_role
        m = self.add(
            _Msg(
                line,
                role,
                blocks,
                ts=ts,
                item_id=item_id,
                context=context,
                meta=meta,
                model=_real(p.get("model")) if role == ASSISTANT else None,
            )
        )
        if role in (USER, ASSISTANT) and body:
            m.keys = [(role, _norm(body))]
        if context and self.project is None:
            cwd = _ENV_CWD.search(body)
            if cwd:
                self.meta.setdefault("env_cwd", cwd.group(1))

    def call_item(self, p: dict, ptype: str, line: int, ts: datetime | None, item_id: str | None, meta: dict) -> None:
        call_id = _real(p.get("call_id"))
        name = as_str(p.get("name")) or as_str(as_dict(p.get("function")).get("name"))
        bmeta: dict[str, Any] = {}
        if ptype in ("function_call", "function", "tool_call"):
            inp = _parse_args(p.get("arguments") if "arguments" in p else as_dict(p.get("function")).get("arguments"))
        elif ptype == "custom_tool_call":
            inp = p.get("input")
        elif ptype == "local_shell_call":
            name, inp = name or "local_shell", p.get("action")
        elif ptype == "web_search_call":
            name, inp = name or "web_search", p.get("action")
            call_id = call_id or _real(item_id)
        elif ptype == "tool_search_call":
            name, inp = name or "tool_search", p.get("arguments")
        else:  # image_generation_call
            name, inp = name or "image_generation", {"revised_prompt": p.get("revised_prompt")}
            call_id = call_id or _real(item_id)
            res = p.get("result")
            if isinstance(res, str) and res:
                bmeta["result_bytes"] = len(res) * 3 // 4
        for k in ("namespace", "status", "execution"):
            if p.get(k) is not None:
                bmeta[k] = p[k]
        b = tool_use(call_id, name, inp)
        if call_id is None:
            self.idless_calls.append(b)
        if bmeta:
            b.meta = bmeta
        meta["item_type"] = ptype
        self.add(_Msg(line, ASSISTANT, [b], ts=ts, item_id=item_id, meta=meta))

    def output_item(self, p: dict, ptype: str, line: int, ts: datetime | None, item_id: str | None, meta: dict) -> None:
        call_id = _real(p.get("call_id")) or _real(p.get("tool_call_id"))
        if ptype == "tool_search_output":
            value: Any = p.get("tools")
        elif ptype in ("tool_result", "function_result"):
            value = p.get("result", p.get("output", p.get("content")))
        else:
            value = p.get("output")
        out, exit_code, extra, is_error = _output(value)
        b = tool_result(call_id, out, is_error)
        if call_id is None:
            call = self._adjacent_call(as_str(p.get("name")))
            if call is not None:
                b.meta = {"paired_by": "adjacency"}
                self.adjacent.append((b, call))
        if exit_code is not None:
            b.meta = {**(b.meta or {}), "exit_code": exit_code}
        if p.get("status") is not None:
            b.meta = {**(b.meta or {}), "status": p["status"]}
        meta["item_type"] = ptype
        self.add(_Msg(line, TOOL, [b, *extra], ts=ts, item_id=item_id, meta=meta))

    def _adjacent_call(self, name: str | None) -> Block | None:
        """Pair an id-less result with the latest unanswered id-less call (same name when given)."""
        for i in range(len(self.idless_calls) - 1, -1, -1):
            call = self.idless_calls[i]
            if name is None or call.name is None or call.name == name:
                del self.idless_calls[i]
                return call  # its id is derived from its message id in finish()
        return None

    # -- events
    def event_msg(self, p: dict, line: int, ts: datetime | None) -> None:
        et = _typ(p)
        if et in _COPY_EVENTS:
            kind = _COPY_EVENTS[et]
            s = p.get("message") if kind != "thinking" else p.get("text")
            if et == "user_message":
                self.user_events += 1
            if isinstance(s, str) and s.strip():
                self.copies.append(_Event(line, kind, (kind, _norm(s)), p, ts))
            return
        if et == "token_count":
            info = p.get("info")
            if isinstance(info, dict):
                self.usage(info, line)
            elif "input_tokens" in p or "output_tokens" in p:
                self.usage(p, line)
            self.rate_limit(p.get("rate_limits"), line, ts)
            return
        if et == "account/rateLimits/updated":
            self.rate_limit(p.get("rate_limits"), line, ts)
            return
        if et in _DETAIL_EVENTS:
            cid = _real(p.get("call_id")) or _real(p.get("callId"))
            if cid:
                self.details.setdefault(cid, []).append((line, p, ts))
            else:
                self.event(line, ts, et, _detail(p))
            return
        if et in _SILENT_EVENTS:
            return
        if et == "task_started":
            self.task_started = True
            tid = _real(p.get("turn_id"))
            if tid:
                self.turn_id = tid
            mcw = _int(p.get("model_context_window"))
            if mcw:
                self.meta["model_context_window"] = mcw
        elif et == "turn_aborted":
            self.aborts.append(line)
        elif et == "thread_rolled_back":
            n = _int(p.get("num_turns"))
            if n and n > 0:
                self.rollbacks.append((line, n))
        elif et == "thread_name_updated":
            name = _real(p.get("thread_name"))
            if name:
                self.title = name
        elif et == "item_completed":
            item = as_dict(p.get("item"))
            if item.get("type") in ("UserMessage", "AgentMessage", "Reasoning"):
                p = {"item_type": item.get("type"), "item_id": item.get("id"), "turn_id": p.get("turn_id")}
        self.event(line, ts, et if isinstance(et, str) else "unknown_event", p)

    def usage(self, info: dict, line: int) -> None:
        total = info.get("total_token_usage")
        snap = _lanes(total if isinstance(total, dict) else info)
        if not snap:
            return
        given = _int(total.get("total_tokens")) if isinstance(total, dict) else None
        tot = given if given is not None else snap.get("input", 0) + snap.get("output", 0)
        mcw = _int(info.get("model_context_window"))
        if mcw:
            self.meta["model_context_window"] = mcw
        cur = self.usage_cur
        if cur is None or tot < self.usage_cur_total:
            if cur is not None:
                self.count("usage_resets")
                self.usage_seg += 1
            delta = dict(snap)
        else:
            delta = {k: max(0, v - cur.get(k, 0)) for k, v in snap.items()}
        self.usage_cur, self.usage_cur_total = snap, tot
        if any(delta.values()):
            self.usage_deltas.append((line, self.usage_seg, tuple(snap.get(k, 0) for k in _SNAP), delta))
        elif self.usage_by_model:
            return
        acc = self.usage_by_model.setdefault(self.model, {})
        for k, v in delta.items():
            acc[k] = acc.get(k, 0) + v

    def rate_limit(self, rl: Any, line: int, ts: datetime | None) -> None:
        if not isinstance(rl, dict) or rl == self._last_rl:
            return
        self._last_rl = rl
        entry = dict(rl)
        entry["line"] = line
        if ts:
            entry["at"] = ts.isoformat()
        self.rate_limits.append(entry)

    # -- the conversation
    def finish(self) -> Conversation | None:
        sid = self.sid
        if sid is None:
            sid = f"derived-{self.first_record_hash or '0'}"
            self.meta["id_derived"] = True
        msgs = self.msgs
        self._match_copies(msgs)
        if not msgs:
            self.ctx.note("rollout has no messages; skipped")
            return None
        if self.task_started and self.user_events:
            for m in msgs:
                if (
                    m.role == USER
                    and not m.context
                    and not m.copied
                    and m.meta.get("item_type") is None
                    and m.meta.get("source") is None
                ):
                    m.context = True
                    m.meta["context_reason"] = "no user_message event"
        self._tools(msgs)  # may add results supplied by detail events; sorts msgs
        used: set[str] = set()
        for m in msgs:
            mid = m.item_id
            if mid is None:
                mid = f"{sid}:{m.line}" if not m.sub else f"{sid}:{m.line}.{m.sub}"
                m.meta["id_derived"] = True
            base, n = mid, 1
            while mid in used:
                n += 1
                mid = f"{base}#{n}"
            used.add(mid)
            m.item_id = mid
        for m in msgs:  # id-less calls get an id derived from their message
            for b in m.blocks:
                if b.type == TOOL_USE and b.id is None:
                    b.id = f"{m.item_id}:call"
                    b.meta = {**(b.meta or {}), "id_derived": True}
        for res, call in self.adjacent:
            res.id = call.id
        out = self._paths(msgs, sid)
        self._attribute_usage(msgs, out, sid)
        return self._conversation(out, sid)

    def _match_copies(self, msgs: list[_Msg]) -> None:
        index: dict[tuple, list[tuple[int, int, int]]] = {}
        for i, m in enumerate(msgs):
            for j, k in enumerate(m.keys):
                index.setdefault(k, []).append((m.line, i, j))
        merged = 0
        for ev in self.copies:
            cands = index.get(ev.key, [])
            best = None
            if cands:  # sorted by line; matched entries are removed, so the nearest is a neighbour
                k = bisect.bisect_left(cands, (ev.line,))
                for idx in (k - 1, k):
                    if 0 <= idx < len(cands):
                        d = abs(cands[idx][0] - ev.line)
                        if d <= COPY_WINDOW and (best is None or d < best[0]):
                            best = (d, idx)
            if best is not None:
                _line, i, _j = cands.pop(best[1])
                m = msgs[i]
                m.copied = True
                merged += 1
                if ev.kind == USER:
                    self._merge_user_event(m, ev.payload)
                elif ev.kind == ASSISTANT and ev.payload.get("phase") is not None:
                    m.meta.setdefault("phase", ev.payload["phase"])
                continue
            msgs.append(self._gap_message(ev))
        if merged:
            self.meta["event_copies_merged"] = merged

    def _merge_user_event(self, m: _Msg, p: dict) -> None:
        local = [s for s in as_list(p.get("local_images")) if isinstance(s, str)]
        if local:
            m.meta["local_images"] = local
        if not any(b.type == IMAGE for b in m.blocks):
            for url in as_list(p.get("images")):
                if isinstance(url, str):
                    m.blocks.append(_image_block(url))
        if p.get("kind") is not None:
            m.meta["kind"] = p["kind"]

    def _gap_message(self, ev: _Event) -> _Msg:
        p = ev.payload
        meta: dict[str, Any] = {"source": f"event_msg.{p.get('type')}"}
        if ev.kind == "thinking":
            return _Msg(ev.line, ASSISTANT, [thinking(p["text"])], ts=ev.ts, meta=meta, model=self._model_at(ev.line))
        if ev.kind == ASSISTANT:
            if p.get("phase") is not None:
                meta["phase"] = p["phase"]
            return _Msg(ev.line, ASSISTANT, [text(p["message"])], ts=ev.ts, meta=meta, model=self._model_at(ev.line))
        blocks: list[Block] = [text(p["message"])]
        for url in as_list(p.get("images")):
            if isinstance(url, str):
                blocks.append(_image_block(url))
        for path in as_list(p.get("local_images")):
            if isinstance(path, str):
                blocks.append(attachment(path, kind=IMAGE, path=path))
        ctx = _is_context_text(p["message"])
        if ctx:
            meta["context_reason"] = "injected context block"
        if p.get("kind") is not None:
            meta["kind"] = p["kind"]
        m = _Msg(ev.line, USER, blocks, ts=ev.ts, meta=meta, context=ctx)
        m.copied = True
        return m

    def _model_at(self, line: int) -> str | None:
        k = bisect.bisect_right(self.model_at, (line, "\uffff"))
        return self.model_at[k - 1][1] if k else None

    def _tools(self, msgs: list[_Msg]) -> None:
        uses: dict[str, tuple[_Msg, Block]] = {}
        results: dict[str, Block] = {}
        for m in msgs:
            for b in m.blocks:
                if b.type == TOOL_USE and b.id and b.id not in uses:
                    uses[b.id] = (m, b)
                elif b.type == TOOL_RESULT and b.id and b.id not in results:
                    results[b.id] = b
        # detail events
        for cid, evs in self.details.items():
            res = results.get(cid)
            if res is None and cid in uses:
                supplied = next(((ln, pp, t) for ln, pp, t in reversed(evs) if _detail_output(pp)), None)
                if supplied is None:  # nothing printed: the detail stays on the call
                    use = uses[cid][1]
                    use.meta = {**(use.meta or {}), "detail": [_detail(p) for _, p, _ in evs]}
                    continue
                # the output item is missing: the event supplies the result
                line, p, ts = supplied
                res = tool_result(cid, _detail_output(p))
                res.meta = {"source": f"event_msg.{p.get('type')}"}
                msgs.append(_Msg(line, TOOL, [res], ts=ts, meta={"source": f"event_msg.{p.get('type')}"}, sub=1))
                results[cid] = res
            if res is None:
                for line, p, ts in evs:
                    self.event(line, ts, p.get("type"), _detail(p))
                continue
            details = [_detail(p) for _, p, _ in evs]
            meta = dict(res.meta or {})
            meta["detail"] = details
            for d in details:
                ec = _int(d.get("exit_code"))
                if ec is not None and meta.get("exit_code") is None:
                    meta["exit_code"] = ec
                if res.is_error is None:
                    if ec is not None:
                        res.is_error = ec != 0
                    elif isinstance(d.get("success"), bool):
                        res.is_error = not d["success"]
                    elif isinstance(d.get("error"), bool):
                        res.is_error = d["error"]
            res.meta = meta
        # calls that never got an output: aborted when a turn_aborted follows before the next prompt
        if self.aborts:
            prompts = sorted(m.line for m in msgs if m.role == USER and not m.context)
            for cid, (m, b) in uses.items():
                if cid in results or m.meta.get("item_type") in _INLINE_RESULT:
                    continue
                k = bisect.bisect_right(self.aborts, m.line)
                if k < len(self.aborts):
                    abort_line = self.aborts[k]
                    p = bisect.bisect_right(prompts, m.line)
                    if p >= len(prompts) or prompts[p] > abort_line:
                        b.meta = {**(b.meta or {}), "outcome": "aborted"}
        msgs.sort(key=lambda m: (m.line, m.sub))

    def _paths(self, msgs: list[_Msg], sid: str) -> list[Message]:
        out: list[Message] = []
        path: list[int] = []  # indices into out of the current active path
        turn_starts: list[int] = []  # positions in path where a user turn starts
        rollbacks = sorted(self.rollbacks)
        r = 0
        for m in msgs:
            while r < len(rollbacks) and rollbacks[r][0] < m.line:
                n = rollbacks[r][1]
                r += 1
                if not turn_starts:
                    continue
                cut = turn_starts[-n] if n <= len(turn_starts) else turn_starts[0]
                for idx in path[cut:]:
                    out[idx].active = False
                del path[cut:]
                del turn_starts[len(turn_starts) - min(n, len(turn_starts)) :]
            if m.role == USER and not m.context:
                turn_starts.append(len(path))
            meta = {k: v for k, v in m.meta.items() if v is not None} or None
            assert m.item_id is not None  # every message was given an id before this
            msg = Message(
                id=m.item_id,
                role=m.role,
                blocks=m.blocks,
                parent_id=out[path[-1]].id if path else None,
                timestamp=m.ts,
                model=m.model if m.role == ASSISTANT else None,
                context=m.context,
                meta=meta,
            )
            path.append(len(out))
            out.append(msg)
        return out

    def _attribute_usage(self, msgs: list[_Msg], out: list[Message], sid: str) -> None:
        """Each change of the cumulative count is one response's usage, on the latest assistant
        message before it (merged when two changes find the same message, e.g. a response of
        encrypted reasoning only), keyed so that a fork replaying its parent's history gives
        the replayed responses the parent's keys."""
        if not self.usage_by_model:
            return
        total: dict[str, int] = {}
        for lanes in self.usage_by_model.values():
            for k, v in lanes.items():
                total[k] = total.get(k, 0) + v
        # the session's total, informational: the messages carry it (never counted twice)
        self.meta["usage_total"] = {**total, "convention": "openai", "source": "token_count.total_token_usage"}
        if len(self.usage_by_model) > 1 or None not in self.usage_by_model:
            self.meta["usage_by_model"] = {str(k): v for k, v in self.usage_by_model.items()}
        lines = [m.line for m in msgs if m.role == ASSISTANT]
        targets = [i for i, m in enumerate(msgs) if m.role == ASSISTANT]
        if not targets:
            self.meta["usage"] = {**total, "convention": "openai"}  # no reply to carry it
            return
        ns = self._usage_namespace(sid)
        for line, seg, snap, delta in self.usage_deltas:
            pos = bisect.bisect_left(lines, line)
            target = out[targets[pos - 1 if pos else 0]]
            u = target.usage
            if u is None:
                u = target.usage = {"convention": "openai"}
            for lane, v in delta.items():
                u[lane] = u.get(lane, 0) + v
            u["key"] = f"{ns}:{seg}:" + ":".join(map(str, snap))

    def _usage_namespace(self, sid: str) -> str:
        """The thread whose cumulative count this file continues: a fork (``forked_from_id``)
        replays its parent's history, whose own session_meta (with its ``forked_from_id``) comes
        with it; the root of that chain names the counts in every file of the lineage."""
        forked = {str(x.get("id")): _real(x.get("forked_from_id")) for x in self.meta.get("lineage", [])}
        ns, up, seen = sid, _real(as_dict(self.session).get("forked_from_id")), {sid}
        while up and up not in seen:
            seen.add(up)
            ns, up = up, forked.get(up)
        return ns

    def _conversation(self, out: list[Message], sid: str) -> Conversation:
        meta = self.meta
        if self.unknown_records:
            self.counts["unknown_records"] = self.unknown_records
        if self.counts:
            meta["counts"] = dict(self.counts)
        if self.events:
            meta["events"] = self.events
        if self.rate_limits:
            meta["rate_limits"] = self.rate_limits
        stamps = [m.timestamp for m in out if m.timestamp]
        created = self.session_ts or (min(stamps) if stamps else None)
        updated = max(stamps) if stamps else created
        if created and updated and updated < created:
            updated = created
        project = self.project or meta.get("env_cwd")
        return Conversation(
            provider=NAME,
            provider_id=sid,
            title=self.title,
            created_at=created,
            updated_at=updated,
            messages=out,
            source_path=self.ctx.path,
            parent_id=self.parent,
            models=list(self.models),
            project=project,
            meta=meta,
        )


# ---------------------------------------------------------------- streams


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Conversation]:
    head = b""
    first = b""
    for _ in range(1000):  # skip leading blank lines
        first = stream.readline(_FIRST_LINE_MAX)
        head += first
        if not first or first.strip():
            break
    replayed = replay(head, stream)
    st = first.strip()
    if not st:
        return
    obj: Any = None
    try:
        obj = orjson.loads(st)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and "session" in obj and "items" in obj and "type" not in obj:
        yield from _gen1_whole(obj, ctx)
        return
    if st[:1] == b"[":
        raise ParseError("a JSON array is not a Codex rollout")
    if obj is None and (st == b"{" or _GEN1_START.match(st)):
        yield from _gen1_stream(replayed, ctx)  # a pretty-printed (or truncated) generation 1 document
        return
    if isinstance(obj, dict) and {"session_id", "ts", "text"} <= obj.keys() and "type" not in obj:
        ctx.note("Codex prompt history (history.jsonl): a side file, not a conversation; skipped")
        return
    yield from _jsonl(replayed, ctx)


def _jsonl(stream: BinaryIO, ctx: ParseContext) -> Iterator[Conversation]:
    p = _Lines(ctx)
    for lineno, rec in iter_jsonl(stream, ctx):
        p.line(lineno, rec)
    yield from p.finish()


class _Lines:
    """A JSONL rollout, fed a record at a time. The pipeline may keep this
    state after the last complete line and feed it only the lines a growing
    rollout gains (resume.py)."""

    def __init__(self, ctx: ParseContext):
        self.ctx = ctx
        self.state: _Rollout | None = None

    def bind(self, ctx: ParseContext | None) -> None:
        ctx = cast("ParseContext", ctx)  # None only while pickled (resume.py), when nothing reads it
        self.ctx = ctx
        if self.state is not None:
            self.state.ctx = ctx

    def line(self, lineno: int, rec: dict) -> None:
        if self.state is None:
            gen = 3 if _typ(rec) in ENVELOPE_TYPES and "payload" in rec else 2
            self.state = _Rollout(self.ctx, gen)
        try:
            self.state.feed(lineno, rec)
        except Exception as exc:  # one record lost (warned), unless it fails the file
            if skipped(self.ctx, exc, "record", lineno) is None:
                raise

    def finish(self) -> Iterator[Conversation]:
        state = self.state
        if state is None:
            return
        if state.unknown_records == state.records:
            raise ParseError("no Codex rollout records in this file")
        conv = _finish(state)
        if conv is not None:
            yield conv


def resumable(head) -> bool:
    """A JSONL rollout (generation 2 or 3), which ``parse`` reads line by line."""
    return head.kind == "jsonl" and "type" in head.records[0]


def start(ctx: ParseContext) -> _Lines:
    return _Lines(ctx)


def _finish(state: _Rollout) -> Conversation | None:
    conv = None
    with fail_on_error("could not assemble the rollout"):  # the file's one conversation
        conv = state.finish()
    return conv


def _gen1_whole(obj: dict, ctx: ParseContext) -> Iterator[Conversation]:
    state = _Rollout(ctx, 1)
    session = obj.get("session")
    if isinstance(session, dict):
        with skip_on_error(ctx, "session header"):
            state.header(session, 0, to_utc(session.get("timestamp")))
    items = obj.get("items")
    if not isinstance(items, list):
        raise ParseError("Codex session document without an items list")
    for i, item in enumerate(items, 1):
        _gen1_item(state, i, item, ctx)
    conv = _finish(state)
    if conv is not None:
        yield conv


def _gen1_item(state: _Rollout, i: int, item: Any, ctx: ParseContext) -> None:
    if not isinstance(item, dict):
        ctx.warn(f"item {i} is not an object", i)
        return
    with skip_on_error(ctx, "item", i):
        state.item(item, i, to_utc(item.get("timestamp")))


def _gen1_stream(stream: BinaryIO, ctx: ParseContext) -> Iterator[Conversation]:
    """Generation 1 as a (pretty-printed or large) JSON document, streamed with ijson."""
    import ijson

    state = _Rollout(ctx, 1)
    seen_items = False
    n = 0
    events = ijson.parse(stream, use_float=True)
    try:
        first = next(events, None)
        if first is None or first[1] != "start_map":
            raise ParseError("not a Codex session document")
        for prefix, event, value in events:
            if prefix == "session" and event == "start_map":
                session = _build(events, event, value)
                if isinstance(session, dict):
                    with skip_on_error(ctx, "session header"):
                        state.header(session, 0, to_utc(session.get("timestamp")))
            elif prefix == "items" and event == "start_array":
                seen_items = True
            elif prefix == "items.item":
                n += 1
                _gen1_item(state, n, _build(events, event, value), ctx)
    except ijson.JSONError as e:
        if not seen_items:
            raise ParseError(f"invalid JSON: {error_summary(e)}") from None
        reason = error_summary(e, 120)
        ctx.warn(f"JSON document ends early ({reason}); kept the {n} items before it")
    if not seen_items and state.session is None:
        raise ParseError("not a Codex session document")
    conv = _finish(state)
    if conv is not None:
        yield conv


def _build(events: Iterator, event: str, value: Any) -> Any:
    import ijson

    if event not in ("start_map", "start_array"):
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for _prefix, ev, val in events:
        builder.event(ev, val)
        if ev in ("start_map", "start_array"):
            depth += 1
        elif ev in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                break
    return builder.value


def _side_file(head: Head) -> bool:
    """``~/.codex/history.jsonl``: the prompt history, ``{session_id, ts, text}`` per line."""
    r = head.records[0] if head.kind in ("json", "jsonl") and head.records else None
    return r is not None and "ts" in r and set(r) <= {"session_id", "ts", "text"}


PROVIDER = Provider(
    name=NAME,
    display_name="Codex CLI",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=60,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=True),
    locations=(Location("~/.codex", "sessions", env="CODEX_HOME"),),
    side_file=_side_file,
    resume=Resume(applies=resumable, start=start),
)
