"""Amp (Sourcegraph) threads (docs/providers.md, "amp"): one JSON document per thread,
``~/.local/share/amp/threads/T-<uuid>.json`` (older VS Code installs:
``globalStorage/sourcegraph.amp/threads3/``).

A thread is ``{v, id, created (epoch ms), title?, messages[], env{initial{cwd,
trees}}, relationships?}``. Each message is ``{role: user|assistant|info,
messageId, content[], meta{sentAt}, state{type, stopReason}, usage?}`` with
Anthropic-shaped blocks: ``text``, ``thinking``, ``redacted_thinking``,
``tool_use``, ``image``, and in user messages ``tool_result`` blocks
``{toolUseID, run{status, result|progress|error}}``: those messages are tool
messages, paired to their call by ``toolUseID``; the run status gives the
outcome (``done`` success, ``error`` error, ``cancelled``/``rejected-by-user``
rejected, ``in-progress`` pending). ``info`` messages hold compaction
summaries: context. ``usage`` (``inputTokens`` without the cache lanes:
convention ``anthropic``, with the model) is per assistant message.
``relationships`` name handoff and fork threads: a thread named as this one's
``parent`` becomes ``Conversation.parent_id``.

The minimal shape some tools write, ``{id, title, messages[{role, text,
createdAt}]}``, is read too.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, BinaryIO, Final

from .. import models as m
from ..errors import ParseError
from .assemble import content_blocks, guarded
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    json_or_summary,
    json_text,
    load_json,
    read_time,
    skip_on_error,
    token_usage,
)

NAME = "amp"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

_OUTCOMES = {
    "done": ("success", False),
    "error": ("error", True),
    "cancelled": ("rejected", True),
    "rejected-by-user": ("rejected", True),
    "in-progress": ("pending", None),
}
_ROLES = {"user": m.USER, "assistant": m.ASSISTANT, "info": m.SYSTEM, "system": m.SYSTEM}
_MINIMAL_TOP = frozenset({"", "id", "title", "messages", "created", "createdAt", "updatedAt"})
_TITLE_CHARS = 100


def sniff(head: Head) -> bool:
    if head.kind != "json" or head.top != "object" or not head.has("messages", "start_array"):
        return False
    if head.has("messages.item.meta.sentAt") or head.has("messages.item.content.item.toolUseID"):
        return True
    if head.has("v") and head.has("created") and (head.has("env") or head.has("messages.item.messageId")):
        return True
    top = {p for p in head.paths if "." not in p}
    return (
        top <= _MINIMAL_TOP
        and head.has("id")
        and head.has("messages.item.role")
        and head.has("messages.item.text")
        and head.has("messages.item.createdAt")
    )


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    doc = load_json(stream, ctx=ctx)
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        raise ParseError("not an Amp thread (no messages array)")
    yield from guarded(skip_on_error(ctx, "Amp thread"), lambda: _thread(doc, ctx))


def _thread(doc: dict, ctx: ParseContext) -> m.Conversation | None:
    meta: dict[str, Any] = {}
    tid = as_str(doc.get("id"))
    if not tid:
        raise ParseError("Amp thread without an id")
    created = read_time(doc.get("created", doc.get("createdAt")), meta, "created")
    messages: list[m.Message] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["messages"]):
        msg = None
        with skip_on_error(ctx, f"message {i}"):
            msg = _message(i, raw, ctx, seen)
        if msg is None:
            continue
        msg.parent_id = messages[-1].id if messages else None
        seen.add(msg.id)
        messages.append(msg)
    if not messages:
        ctx.warn(f"Amp thread {tid} has no messages; nothing imported")
        return None
    v = doc.get("v")
    if v is not None:
        meta["v"] = bounded(v)
    rels = as_list(doc.get("relationships"))
    parent = None
    for r in rels:
        if isinstance(r, dict) and r.get("role") == "parent" and as_str(r.get("threadID")):
            parent = f"{NAME}:{r['threadID']}"
            meta["link_type"] = bounded(r.get("type"), max_str=40)
    if rels:
        meta["relationships"] = bounded(rels, max_items=50)
    for k in ("agentMode", "mainThreadID"):
        if doc.get(k) is not None:
            meta[k] = bounded(doc[k], max_str=200)
    title = as_str(doc.get("title"))
    if not title:
        first = next((x for x in messages if x.role == m.USER and not x.context and x.text.strip()), None)
        title = first.text.strip().split("\n", 1)[0][:_TITLE_CHARS] if first else None
    stamps = [x.timestamp for x in messages if x.timestamp]
    created = created or (min(stamps) if stamps else None)
    updated = max(stamps) if stamps else created
    if created and updated and updated < created:
        updated = created
    return m.Conversation(
        provider=NAME,
        provider_id=tid,
        title=title,
        created_at=created,
        updated_at=updated,
        messages=messages,
        source_path=ctx.path,
        parent_id=parent,
        models=list(dict.fromkeys(x.model for x in messages if x.model)),
        project=_project(as_dict(as_dict(doc.get("env")).get("initial"))),
        meta=meta,
    )


def _message(i: int, raw: Any, ctx: ParseContext, seen: set[str]) -> m.Message | None:
    if not isinstance(raw, dict):
        ctx.warn(f"message {i}: not an object, skipped")
        return None
    meta: dict[str, Any] = {}
    raw_id = raw.get("messageId", raw.get("id"))
    mid = as_str(raw_id) if not isinstance(raw_id, bool) else None
    if not mid or mid in seen:
        mid = f"msg-{i}"
        meta["derived_id"] = True
        while mid in seen:
            mid += "'"
    role_raw = raw.get("role")
    role = _ROLES.get(role_raw if isinstance(role_raw, str) else "")
    if role is None:
        ctx.warn(f"message {i}: unknown role {bounded(role_raw, max_str=40)!r}, kept as a system notice")
        role = m.SYSTEM
        meta["role"] = bounded(role_raw, max_str=40)
    sent = as_dict(raw.get("meta")).get("sentAt", raw.get("createdAt"))
    # a reply has no sentAt; its usage records when it was metered
    ts = read_time(sent if sent is not None else as_dict(raw.get("usage")).get("timestamp"), meta, "timestamp")
    content = raw.get("content")
    blocks = content_blocks(content if content is not None else raw.get("text"), partial(_part, meta=meta))
    context = role == m.SYSTEM
    if role == m.USER and any(b.type == m.TOOL_RESULT for b in blocks):
        role = m.TOOL
    state = as_dict(raw.get("state"))
    if state:
        meta["state"] = bounded(state, max_items=10, max_str=500)
    usage, model = _usage(raw.get("usage"))
    return m.Message(
        mid,
        role,
        blocks,
        timestamp=ts,
        model=model if role == m.ASSISTANT else None,
        usage=usage if role == m.ASSISTANT else None,
        context=context,
        meta=meta or None,
    )


def _part(t: Any, b: dict, meta: dict) -> list[m.Block] | None:
    """The blocks of one content part of a type other than text; None for a type Amp does not write."""
    if t == "thinking":
        return [m.thinking(b["thinking"])] if isinstance(b.get("thinking"), str) and b["thinking"] else []
    if t == "redacted_thinking":
        meta["redacted_thinking"] = meta.get("redacted_thinking", 0) + 1
        return []
    if t == "tool_use":
        use = m.tool_use(as_str(b.get("id")), as_str(b.get("name")), b.get("input"))
        if b.get("complete") is False:
            use.meta = {"complete": False}
        return [use]
    if t == "tool_result":
        return [_result(b)]
    if t == "summary":
        summary = as_dict(b.get("summary"))
        text = as_str(summary.get("summary"))
        if text:
            meta["kind"] = "summary"
            return [m.text(text)]
        if summary.get("thread") is not None:
            meta["summary_thread"] = bounded(summary["thread"], max_str=200)
        return []
    if t == "image":
        src = as_dict(b.get("source"))
        return [m.attachment(None, kind=m.IMAGE, mime=as_str(src.get("mediaType", src.get("media_type"))))]
    return None


def _result(b: dict) -> m.Block:
    run = as_dict(b.get("run"))
    status = as_str(run.get("status"))
    outcome, is_error = _OUTCOMES.get(status or "", ("unknown", None))
    body: Any = run.get("result")
    if body is None:
        body = run.get("progress")
    if body is None:
        body = run.get("error")
    if body is None:
        body = b.get("content")
    res = m.tool_result(as_str(b.get("toolUseID")) or as_str(b.get("tool_use_id")), _text_of(body), is_error)
    rmeta: dict[str, Any] = {"outcome": outcome}
    if status:
        rmeta["status"] = status
    if run.get("error") is not None and body is not run.get("error"):
        rmeta["error"] = json_or_summary(run["error"], 2000)
    res.meta = rmeta
    return res


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("output"), str):
        return value["output"]
    if isinstance(value, list) and value and all(isinstance(x, dict) and x.get("type") == "text" for x in value):
        return "\n".join(as_str(x.get("text")) or "" for x in value)
    return json_text(json_or_summary(value))


_USAGE_FIELDS = (
    ("inputTokens", "input"),
    ("outputTokens", "output"),
    ("cacheReadInputTokens", "cache_read"),
    ("cacheCreationInputTokens", "cache_write"),
)


def _usage(u: Any) -> tuple[dict | None, str | None]:
    return token_usage(u, _USAGE_FIELDS, "anthropic"), as_str(as_dict(u).get("model"))


def _project(initial: dict) -> str | None:
    cwd = as_str(initial.get("cwd"))
    if cwd:
        return cwd
    for tree in as_list(initial.get("trees")):
        uri = as_dict(tree).get("uri")
        if isinstance(uri, dict):
            uri = uri.get("fsPath") or uri.get("path")
        if isinstance(uri, str) and uri:
            return uri[len("file://") :] if uri.startswith("file://") else uri
    return None


PROVIDER = Provider(
    name=NAME,
    display_name="Amp",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=233,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=True),
    locations=(
        Location(
            "{XDG_DATA_HOME}/amp",
            "threads",
            find=("T-*.json",),
            depth=0,
            darwin="~/.local/share/amp",
            win32="~/.local/share/amp",
        ),
    ),
)
