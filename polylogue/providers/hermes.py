"""Hermes Agent sessions (docs/providers.md, "hermes"), in the four forms found:

1. Hermes' own session files, ``~/.hermes/sessions/session_<id>.json``:
   ``{session_id, model, platform, session_start, last_updated, system_prompt,
   tools[], messages[]}`` with OpenAI-shaped messages (``role``, ``content``,
   ``reasoning``, ``tool_calls[{id, function{name, arguments}}]``,
   ``tool_call_id``). The system prompt becomes a context message;
   ``session_meta`` entries are not messages.
2. NeMo Relay ATIF trajectories (``schema_version: "ATIF-v1.x"``,
   ``~/.hermes/observability/nemo-relay/atif/trajectory-*.json``): ``steps[]``
   with ``source`` (user, agent, system), ``message``, ``reasoning_content``,
   ``tool_calls[{tool_call_id, function_name, arguments}]``,
   ``observation.results[{source_call_id, content}]`` and ``metrics``. A step whose
   source is redacted is an agent step when it has a model or metrics, a user
   step when its event payload carries the user's message, else context.
3. NeMo Relay ATOF streams (JSONL, ``atof_version``): ``scope`` start/end events
   of the agent, LLM calls and tools, and ``mark`` events. An LLM start's
   ``data.content`` is the request (a prompt), its end's ``assistant_message``
   the reply (``data.error``: an error notice); a tool's start is the call
   (``metadata.tool_call_id``), its end the result (``status``); approvals,
   subagent starts and the session end are kept in meta. One conversation per
   ``metadata.session_id``.
4. Polylogue's archival export of a Hermes session (``producer: "hermes/..."``,
   ``schema_version``): ``messages[{message_id, role, state, text, reasoning,
   tool_calls[{action_id, tool_name, arguments_json}], tool_results[{action_id,
   is_error, exit_code, output_preview}]}]``; ``state: rewound`` is an inactive
   branch; the session's usage is ``meta.usage`` (never on a message); the parent session
   becomes ``parent_id``.

Tool calls without unique ids (a redacted trajectory) get ids derived from their
step and position, and results pair with them in order (``meta.paired_by_order``).
A schema version this parser does not know imports what it can, with one warning.
"""

from __future__ import annotations

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
    json_text,
    load_json,
    read_time,
    replay,
    skip_on_error,
    to_utc,
    token_usage,
)

NAME = "hermes"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

ATIF_MAJOR = "ATIF-v1"
ATOF_MAJOR = "0"
EXPORT_VERSIONS = frozenset({1})
_ROLES = {"user": m.USER, "assistant": m.ASSISTANT, "tool": m.TOOL, "system": m.SYSTEM}
_TITLE_CHARS = 100


# ---------------------------------------------------------------- sniffing


def _is_atof(r: dict) -> bool:
    return "atof_version" in r and r.get("kind") in ("scope", "mark")


def sniff(head: Head) -> bool:
    recs = head.records
    if recs and sum(1 for r in recs if _is_atof(r)) >= max(1, min(2, len(recs))):
        return True
    if head.kind != "json" or head.top != "object":
        return False
    if (
        head.has("steps", "start_array")
        and head.has("schema_version")
        and (head.has("steps.item.step_id") or head.has("trajectory_id"))
    ):
        return True  # an ATIF trajectory
    if not (head.has("session_id") and head.has("messages", "start_array")):
        return False
    if head.has("producer") and head.has("messages.item.message_id"):
        return True  # Polylogue's archival export
    return head.has("messages.item.role") and (head.has("platform") or head.has("session_start"))


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    head = stream.read(1 << 16)
    body = replay(head, stream)
    first = head.lstrip().split(b"\n", 1)[0]
    try:
        rec = orjson.loads(first)
    except orjson.JSONDecodeError:
        rec = None
    if isinstance(rec, dict) and _is_atof(rec):
        yield from _atof(body, ctx)
        return
    doc = load_json(body, ctx=ctx)
    if not isinstance(doc, dict):
        raise ParseError("not a Hermes session (not a JSON object)")
    convs: list[m.Conversation] = []
    with skip_on_error(ctx, "Hermes session"):
        if isinstance(doc.get("steps"), list):
            convs = _atif(doc, ctx)
        elif isinstance(doc.get("producer"), str) and isinstance(doc.get("messages"), list):
            convs = _export(doc, ctx)
        elif isinstance(doc.get("messages"), list):
            convs = _session(doc, ctx)
        else:
            raise ParseError("not a Hermes session (no messages and no steps)")
    yield from convs


def _conversation(sid: str, msgs: list[m.Message], ctx: ParseContext, meta: dict, **kw: Any) -> list[m.Conversation]:
    if not msgs:
        ctx.warn(f"Hermes session {sid} has no messages; nothing imported")
        return []
    for k, x in enumerate(msgs):
        if x.parent_id is None and k:
            x.parent_id = msgs[k - 1].id
    stamps = [x.timestamp for x in msgs if x.timestamp]
    first = next((x for x in msgs if x.role == m.USER and not x.context and x.text.strip()), None)
    fallback_models = kw.pop("models", None) or []
    created = kw.pop("created", None) or (min(stamps) if stamps else None)
    updated = kw.pop("updated", None) or (max(stamps) if stamps else None)
    return [
        m.Conversation(
            provider=NAME,
            provider_id=sid,
            title=kw.pop("title", None) or (first.text.strip().split("\n", 1)[0][:_TITLE_CHARS] if first else None),
            created_at=created,
            updated_at=updated,
            messages=msgs,
            source_path=ctx.path,
            models=list(dict.fromkeys(x.model for x in msgs if x.model)) or fallback_models,
            meta=meta,
            **kw,
        )
    ]


class _Ids:
    """Message ids unique within one conversation: a repeat gets a primed copy."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, raw: Any, fallback: str) -> tuple[str, bool]:
        mid = as_str(raw) if not isinstance(raw, bool) else None
        derived = not mid
        mid = mid or fallback
        while mid in self.seen:
            mid, derived = mid + "'", True
        self.seen.add(mid)
        return mid, derived


def _tool_pairs(calls: list[Any], ids_of: str, prefix: str) -> tuple[list[str], bool]:
    """The ids of a step's calls: theirs when present and unique, else derived by position."""
    raw = [as_str(as_dict(c).get(ids_of)) for c in calls]
    if all(r and r != "<redacted>" for r in raw) and len(set(raw)) == len(raw):
        return [r or "" for r in raw], False
    return [f"{prefix}.t{k}" for k in range(len(calls))], True


# -- 1. Hermes session files


def _session(doc: dict, ctx: ParseContext) -> list[m.Conversation]:
    sid = as_str(doc.get("session_id"))
    if not sid:
        raise ParseError("Hermes session without a session_id")
    meta: dict[str, Any] = {"form": "session"}
    created = read_time(doc.get("session_start"), meta, "session_start")
    updated = read_time(doc.get("last_updated"), meta, "last_updated")
    model = as_str(doc.get("model"))
    ids = _Ids()
    msgs: list[m.Message] = []
    prompt = as_str(doc.get("system_prompt"))
    if prompt:
        mid, _ = ids(None, "system-prompt")
        msgs.append(
            m.Message(mid, m.SYSTEM, [m.text(prompt)], timestamp=created, context=True, meta={"derived_id": True})
        )
    for i, raw in enumerate(doc["messages"]):
        with skip_on_error(ctx, f"message {i}"):
            msg = _session_message(i, raw, ids, model, ctx)
            if msg is not None:
                msgs.append(msg)
    for k in ("platform", "base_url", "message_count"):
        if doc.get(k) is not None:
            meta[k] = bounded(doc[k], max_str=500)
    if isinstance(doc.get("tools"), list):
        meta["tools"] = [as_str(as_dict(t).get("name")) for t in doc["tools"][:200]]
    cwd = as_str(as_dict(doc.get("model_config")).get("cwd"))
    return _conversation(
        sid, msgs, ctx, meta, created=created, updated=updated, project=cwd, models=[model] if model else []
    )


def _session_message(i: int, raw: Any, ids: _Ids, model: str | None, ctx: ParseContext) -> m.Message | None:
    if not isinstance(raw, dict):
        ctx.warn(f"message {i}: not an object, skipped")
        return None
    role = raw.get("role")
    if role == "session_meta":
        return None
    meta: dict[str, Any] = {}
    mid, derived = ids(raw.get("id"), f"msg-{i}")
    if derived:
        meta["derived_id"] = True
    ts = read_time(raw.get("timestamp"), meta, "timestamp")
    blocks: list[m.Block] = []
    reasoning = as_str(raw.get("reasoning")) or as_str(raw.get("reasoning_content"))
    if reasoning:
        blocks.append(m.thinking(reasoning))
    if role == "tool":
        res = m.tool_result(as_str(raw.get("tool_call_id")), _text(raw.get("content")))
        if raw.get("tool_name") is not None:
            res.meta = {"tool_name": bounded(raw["tool_name"], max_str=200)}
        blocks.append(res)
    else:
        text = _text(raw.get("content"))
        if text:
            blocks.append(m.text(text))
    for call in as_list(raw.get("tool_calls")):
        c = as_dict(call)
        fn = as_dict(c.get("function"))
        blocks.append(
            m.tool_use(
                as_str(c.get("id")) or as_str(c.get("call_id")),
                as_str(fn.get("name")),
                from_json_text(fn.get("arguments")),
            )
        )
    if raw.get("finish_reason") is not None:
        meta["finish_reason"] = bounded(raw["finish_reason"], max_str=80)
    r = _ROLES.get(role if isinstance(role, str) else "")
    if r is None:
        ctx.warn(f"message {i}: unknown role {bounded(role, max_str=40)!r}, kept as a system notice")
        meta["role"] = bounded(role, max_str=40)
        r = m.SYSTEM
    return m.Message(
        mid,
        r,
        blocks,
        timestamp=ts,
        model=model if r == m.ASSISTANT else None,
        context=r == m.SYSTEM,
        meta=meta or None,
    )


# -- 2. ATIF trajectories


def _atif(doc: dict, ctx: ParseContext) -> list[m.Conversation]:
    sid = as_str(doc.get("session_id")) or as_str(doc.get("trajectory_id"))
    if not sid:
        raise ParseError("ATIF trajectory without a session_id")
    version = as_str(doc.get("schema_version")) or ""
    if not version.startswith(ATIF_MAJOR):
        ctx.warn(
            f"ATIF schema version {bounded(version, max_str=40)!r} is not one this parser knows ({ATIF_MAJOR}.x); imported what it could read"
        )
    ids = _Ids()
    msgs: list[m.Message] = []
    agent = as_dict(doc.get("agent"))
    for i, step in enumerate(doc["steps"]):
        with skip_on_error(ctx, f"step {i}"):
            msgs.extend(_atif_step(i, step, ids, agent))
    meta: dict[str, Any] = {"form": "atif", "session_id": sid, "schema_version": bounded(version, max_str=40)}
    if doc.get("final_metrics") is not None:
        meta["final_metrics"] = bounded(doc["final_metrics"], max_items=20)
    if doc.get("trajectory_id") is not None:
        meta["trajectory_id"] = bounded(doc["trajectory_id"], max_str=200)
    return _conversation(f"{sid}/atif", msgs, ctx, meta)


def _atif_step(i: int, step: Any, ids: _Ids, agent: dict) -> list[m.Message]:
    if not isinstance(step, dict):
        raise ValueError("a step that is not an object")
    meta: dict[str, Any] = {"step_id": bounded(step.get("step_id"))}
    ts = read_time(step.get("timestamp"), meta, "timestamp")
    source = step.get("source")
    extra = as_dict(step.get("extra"))
    calls = as_list(step.get("tool_calls"))
    if source not in ("user", "agent", "system"):
        meta["source"] = bounded(source, max_str=80)
        if calls or step.get("metrics") is not None or step.get("model_name") is not None:
            source = "agent"
        elif "user_message" in as_dict(extra.get("event_payload")):
            source = "user"
        else:
            source = "system"
    mid, derived = ids(None, f"step-{step.get('step_id', i)}")
    blocks: list[m.Block] = []
    reasoning = as_str(step.get("reasoning_content"))
    if reasoning:
        blocks.append(m.thinking(reasoning))
    text = _text(step.get("message"))
    if text:
        blocks.append(m.text(text))
    call_ids, by_order = _tool_pairs(calls, "tool_call_id", mid)
    for cid, call in zip(call_ids, calls, strict=True):
        c = as_dict(call)
        use = m.tool_use(cid, as_str(c.get("function_name")), from_json_text(c.get("arguments")))
        if by_order:
            use.meta = {"derived_id": True}
        blocks.append(use)
    if source == "agent":
        model = _real(step.get("model_name")) or _real(agent.get("model_name"))
        usage = token_usage(step.get("metrics"), _ATIF_USAGE, "openai")  # prompt_tokens include the cached ones
        msg = m.Message(mid, m.ASSISTANT, blocks, timestamp=ts, model=model, usage=usage, meta=meta)
    elif source == "user":
        msg = m.Message(mid, m.USER, blocks, timestamp=ts, meta=meta)
    else:
        msg = m.Message(mid, m.SYSTEM, blocks, timestamp=ts, context=True, meta=meta)
    out = [msg]
    results = as_list(as_dict(step.get("observation")).get("results"))
    if results:
        raw = [as_str(as_dict(r).get("source_call_id")) for r in results]
        keyed = not by_order and all(r in call_ids for r in raw)
        res_blocks = []
        for k, r in enumerate(results):
            rd = as_dict(r)
            answers = raw[k] if keyed else (call_ids[k] if k < len(call_ids) else f"{mid}.r{k}")
            res = m.tool_result(answers, _text(rd.get("content")))
            rmeta = (
                {"status": bounded(as_dict(rd.get("extra")).get("status"), max_str=80)}
                if as_dict(rd.get("extra"))
                else {}
            )
            if not keyed:
                rmeta["paired_by_order"] = True
            res.meta = rmeta or None
            res_blocks.append(res)
        rid, _ = ids(None, f"{mid}.observation")
        out.append(m.Message(rid, m.TOOL, res_blocks, timestamp=ts, meta={"derived_id": True}))
    return out


_ATIF_USAGE = (("prompt_tokens", "input"), ("completion_tokens", "output"), ("cached_tokens", "cache_read"))


# -- 3. ATOF streams


def _atof(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    sessions: dict[str, _Atof] = {}
    warned = False
    n = 0
    for lineno, rec in iter_jsonl(stream, ctx):
        n += 1
        if not _is_atof(rec):
            ctx.warn("not an ATOF event, skipped", lineno)
            continue
        version = as_str(rec.get("atof_version")) or ""
        if version.split(".", 1)[0] != ATOF_MAJOR and not warned:
            warned = True
            ctx.warn(
                f"ATOF version {bounded(version, max_str=40)!r} is not one this parser knows ({ATOF_MAJOR}.x); imported what it could read",
                lineno,
            )
        sid = as_str(as_dict(rec.get("metadata")).get("session_id")) or "session"
        s = sessions.get(sid)
        if s is None:
            s = sessions[sid] = _Atof(sid)
        with skip_on_error(ctx, "event", lineno):
            s.event(lineno, rec)
    if not n:
        raise ParseError("no ATOF events in this file")
    for s in sessions.values():
        convs: list[m.Conversation] = []
        with skip_on_error(ctx, f"ATOF session {s.sid!r}"):
            convs = _conversation(f"{s.sid}/atof", s.msgs, ctx, {**s.meta, "session_id": s.sid})
        yield from convs


class _Atof:
    def __init__(self, sid: str):
        self.sid = sid
        self.msgs: list[m.Message] = []
        self.ids = _Ids()
        self.meta: dict[str, Any] = {"form": "atof"}
        self.calls: dict[str, str] = {}  # tool scope uuid -> its call id

    def _add(self, line: int, role: str, blocks: list[m.Block], ts: Any, model: str | None = None, **kw: Any) -> None:
        mid, _ = self.ids(None, f"L{line}")
        self.msgs.append(m.Message(mid, role, blocks, timestamp=ts, model=model, **kw))

    def event(self, line: int, rec: dict) -> None:
        md, data = as_dict(rec.get("metadata")), as_dict(rec.get("data"))
        ts = to_utc(rec.get("timestamp"))
        category, phase = rec.get("category"), rec.get("scope_category")
        model = _real(md.get("model"))
        if rec.get("kind") == "mark":
            name = as_str(rec.get("name")) or "mark"
            events = self.meta.setdefault("events", [])
            if len(events) < 200:
                events.append({"name": name, "data": bounded(data, max_items=20, max_str=500)})
            if name.endswith("subagent.start") and as_str(data.get("child_session_id")):
                self.meta.setdefault("subagents", []).append(data["child_session_id"])
            return
        if category == "llm" and phase == "start":
            text = _text(data.get("content"))
            if text:
                self._add(line, m.USER, [m.text(text)], ts, meta={"event": "llm.start"})
        elif category == "llm" and phase == "end":
            if data.get("error") is not None:
                self._add(line, m.SYSTEM, [m.text(_text(data["error"]))], ts, context=True, meta={"kind": "error"})
            else:
                self._add(line, m.ASSISTANT, [m.text(_text(data.get("assistant_message")))], ts, model)
        elif category == "tool" and phase == "start":
            cid = as_str(md.get("tool_call_id")) or as_str(rec.get("uuid")) or f"L{line}"
            self.calls[as_str(rec.get("uuid")) or cid] = cid
            self._add(line, m.ASSISTANT, [m.tool_use(cid, as_str(rec.get("name")), data or None)], ts, model)
        elif category == "tool" and phase == "end":
            found = as_str(md.get("tool_call_id")) or self.calls.get(as_str(rec.get("uuid")) or "")
            status = as_str(md.get("status"))
            body = data.get("stdout", data.get("output", data))
            res = m.tool_result(
                found, _text(body), {"completed": False, "error": True, "failed": True}.get(status or "")
            )
            res.meta = {"status": status} if status else None
            self._add(line, m.TOOL, [res], ts)
        elif category == "agent":
            key = "started" if phase == "start" else "ended"
            self.meta[key] = bounded(rec.get("timestamp"), max_str=80)
            if phase == "end" and data.get("reason") is not None:
                self.meta["end_reason"] = bounded(data["reason"], max_str=200)


# -- 4. Polylogue's archival export


def _export(doc: dict, ctx: ParseContext) -> list[m.Conversation]:
    sid = as_str(doc.get("session_id"))
    if not sid:
        raise ParseError("Hermes export without a session_id")
    version = doc.get("schema_version")
    if version not in EXPORT_VERSIONS:
        ctx.warn(
            f"Hermes export schema version {bounded(version, max_str=40)!r} is not one this parser knows; imported what it could read"
        )
    ids = _Ids()
    msgs: list[m.Message] = []
    for i, raw in enumerate(doc["messages"]):
        with skip_on_error(ctx, f"message {i}"):
            msgs.extend(_export_message(i, raw, ids))
    meta: dict[str, Any] = {"form": "polylogue-export"}
    for k in (
        "producer",
        "profile_id",
        "session_revision_hash",
        "end_reason",
        "finalized",
        "archive_state",
        "handoff_platform",
        "git_branch",
        "git_repo_root",
        "cost",
        "parent_relationship",
    ):
        if doc.get(k) is not None:
            meta[k] = bounded(doc[k], max_str=500, max_items=20)
    usage = token_usage(doc.get("usage"), _EXPORT_USAGE, "anthropic")
    if usage:  # the session's total: never on a message (models.py, "Usage")
        models = {x.model for x in msgs if x.model}
        if len(models) == 1:
            usage["model"] = models.pop()
        meta["usage"] = usage
    parent = as_str(doc.get("parent_session_id"))
    return _conversation(
        sid,
        msgs,
        ctx,
        meta,
        created=to_utc(doc.get("created_at")),
        updated=to_utc(doc.get("ended_at")),
        project=as_str(doc.get("repository_cwd")),
        parent_id=f"{NAME}:{parent}" if parent else None,
    )


def _export_message(i: int, raw: Any, ids: _Ids) -> list[m.Message]:
    if not isinstance(raw, dict):
        raise ValueError("a message that is not an object")
    meta: dict[str, Any] = {}
    mid, derived = ids(raw.get("message_id"), f"msg-{i}")
    if derived:
        meta["derived_id"] = True
    ts = read_time(raw.get("timestamp"), meta, "timestamp")
    state = as_str(raw.get("state"))
    if state:
        meta["state"] = state
    if raw.get("token_count") is not None:
        meta["token_count"] = bounded(raw["token_count"])
    blocks: list[m.Block] = []
    reasoning = as_str(raw.get("reasoning"))
    if reasoning:
        blocks.append(m.thinking(reasoning))
    text = as_str(raw.get("text"))
    if text:
        blocks.append(m.text(text))
    for c in as_list(raw.get("tool_calls")):
        cd = as_dict(c)
        blocks.append(
            m.tool_use(
                as_str(cd.get("action_id")), as_str(cd.get("tool_name")), from_json_text(cd.get("arguments_json"))
            )
        )
    for r in as_list(raw.get("tool_results")):
        rd = as_dict(r)
        err = rd.get("is_error")
        res = m.tool_result(
            as_str(rd.get("action_id")), _text(rd.get("output_preview")), err if isinstance(err, bool) else None
        )
        code = rd.get("exit_code")
        if isinstance(code, int) and not isinstance(code, bool):
            res.meta = {"exit_code": code, "preview": True}
        blocks.append(res)
    role = _ROLES.get(as_str(raw.get("role")) or "", m.SYSTEM)
    msg = m.Message(mid, role, blocks, timestamp=ts, context=role == m.SYSTEM, meta=meta or None)
    msg.active = state != "rewound"
    return [msg]


_EXPORT_USAGE = (
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_tokens", "cache_read"),
    ("cache_write_tokens", "cache_write"),
    ("reasoning_tokens", "reasoning"),
)


# ---------------------------------------------------------------- values


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, dict) and isinstance(x.get("text"), str) for x in value):
        return "\n".join(x["text"] for x in value)
    return json_text(bounded(value)) if value is not None else ""


def _real(value: Any) -> str | None:
    """A name the source gave, unless redaction replaced it."""
    s = as_str(value)
    return s if s and s not in ("<redacted>", "redacted-model") else None


PROVIDER = Provider(
    name=NAME,
    display_name="Hermes Agent",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=273,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=True),
    locations=(
        Location("~/.hermes", "sessions", env="HERMES_HOME", find=("session_*.json",), depth=0),
        Location(
            "~/.hermes",
            "observability/nemo-relay",
            env="HERMES_HOME",
            find=("atif/*.json", "atof/*.jsonl"),
            depth=1,
        ),
    ),
)
