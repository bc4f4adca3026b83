"""LibreChat conversation export (docs/providers.md, "librechat"): the JSON a
conversation's "Export" menu writes, one conversation per file::

    {conversationId, endpoint, title, exportAt, branches, recursive, options{},
     messages: [{messageId, parentMessageId, conversationId, sender, isCreatedByUser,
                 text, content?[], model, endpoint, error, unfinished, createdAt,
                 updatedAt, tokenCount?, promptTokens?, finish_reason?, files?[],
                 attachments?[], children?[]}]}

With ``recursive: true`` the messages nest through ``children[]``; otherwise
they are a flat list. Either way every message is read, with its children.

Mapping: the role comes from ``isCreatedByUser`` (``sender`` is a display or
persona name: "User", "Software Engineer"; kept in meta). ``content[]`` parts
(agents and assistants endpoints) come first: ``text``, ``think`` (thinking),
``tool_call`` (a tool_use and, when it has ``output``, its tool_result, paired
by the call id), ``image_file``/``image_url`` (image references), ``error``;
``text`` is used only when ``content`` gives nothing. An unknown part type is
kept opaque and reported in one warning line. ``options.promptPrefix`` (the
preset's system prompt) becomes a context system message.

Tree: ``parentMessageId``; the root's parent is the all-zero UUID. The export
marks no active leaf: the latest leaf by ``createdAt`` is active (ties: file
order, which is the order the UI shows siblings in), flagged
``meta.active_leaf = "inferred"``. ``exportAt`` is a time of day without a date
or reliable zone: kept raw, never read as a time.

Usage: an assistant message's ``tokenCount`` is its completion and
``promptTokens`` its prompt (``usage.output`` / ``usage.input``); a user
message's ``tokenCount`` is the size of the prompt itself (meta only).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import guarded, models_of, settle_tree
from .base import Head, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    fail_on_error,
    json_text,
    load_json,
    read_time,
    skip_on_error,
)

NAME = "librechat"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

ROOT = "00000000-0000-0000-0000-000000000000"
_MAX_DEPTH = 100_000
# message fields mapped explicitly; the rest is kept bounded in meta["extra"]
_KNOWN = frozenset(
    {
        "_id",
        "__v",
        "messageId",
        "parentMessageId",
        "conversationId",
        "sender",
        "isCreatedByUser",
        "text",
        "content",
        "model",
        "createdAt",
        "updatedAt",
        "tokenCount",
        "promptTokens",
        "children",
        "files",
        "attachments",
        "user",
        "endpoint",
        "error",
        "unfinished",
    }
)


# ---------------------------------------------------------------- sniffing


def sniff(head: Head) -> bool:
    return (
        head.kind == "json"
        and head.top == "object"
        and head.has("conversationId", "string")
        and head.has("messages", "start_array")
        and (
            head.has("messages.item.messageId")
            or head.has("messages.item.parentMessageId")
            or head.has("messages.item.isCreatedByUser")
        )
    )


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    doc = load_json(stream, ctx=ctx)
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        raise ParseError("not a LibreChat export (no messages array)")
    cid = as_str(doc.get("conversationId"))
    if not cid:
        raise ParseError("LibreChat export without a conversationId")
    yield from guarded(fail_on_error("malformed LibreChat export"), lambda: _conversation(doc, cid, ctx))


def _conversation(doc: dict, cid: str, ctx: ParseContext) -> m.Conversation | None:
    meta: dict[str, Any] = {}
    unknown: dict[str, int] = {}
    messages: list[m.Message] = []
    seen: set[str] = set()
    # depth-first, iteratively: a deep reply chain nests one level per message
    stack: list[tuple[Any, str | None]] = [(rec, None) for rec in reversed(doc["messages"])]
    n = 0
    while stack:
        rec, nesting_parent = stack.pop()
        n += 1
        if n > _MAX_DEPTH:
            ctx.warn(f"more than {_MAX_DEPTH} messages; the rest skipped")
            break
        if not isinstance(rec, dict):
            ctx.warn(f"message {n}: not a JSON object ({type(rec).__name__}); skipped")
            continue
        msg = None
        with skip_on_error(ctx, f"message {n}"):
            msg = _message(rec, nesting_parent, unknown)
        if msg is None:
            continue
        if msg.id in seen:
            continue  # a repeated message: the first one stands
        seen.add(msg.id)
        messages.append(msg)
        for child in reversed(as_list(rec.get("children"))):
            stack.append((child, msg.id))
    if not messages:
        ctx.warn(f"conversation {cid}: no messages; skipped")
        return None
    options = as_dict(doc.get("options"))
    prefix = as_str(options.get("promptPrefix"))
    if prefix:
        roots = [x for x in messages if x.parent_id is None]
        system = m.Message(id=f"{cid}:promptPrefix", role=m.SYSTEM, blocks=[m.text(prefix)], context=True)
        system.meta = {"source": "options.promptPrefix"}
        for r in roots:
            r.parent_id = system.id
        messages.insert(0, system)
    settle_tree(messages, meta)
    if unknown:
        meta["unknown_parts"] = unknown
        ctx.warn(
            "LibreChat content of an unknown version: "
            + ", ".join(f"{n} '{t}' part(s)" for t, n in sorted(unknown.items())[:5])
            + " kept as opaque blocks"
        )
    for key in ("endpoint", "exportAt", "branches", "recursive"):
        if doc.get(key) is not None:
            meta[key] = bounded(doc[key], max_total=400)
    if options:
        meta["options"] = bounded(options, max_total=8 << 10)
    stamps = [x.timestamp for x in messages if x.timestamp]
    models = models_of(messages)
    if not models and as_str(options.get("model")):
        models.append(options["model"])
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=as_str(doc.get("title")) or None,
        created_at=min(stamps) if stamps else None,
        updated_at=max(stamps) if stamps else None,
        messages=messages,
        source_path=ctx.path,
        models=models,
        meta=meta,
    )


def _message(rec: dict, nesting_parent: str | None, unknown: dict[str, int]) -> m.Message:
    mid = as_str(rec.get("messageId"))
    if not mid:
        raise ValueError("message without a messageId")
    meta: dict[str, Any] = {}
    by_user = rec.get("isCreatedByUser")
    sender = as_str(rec.get("sender"))
    if isinstance(by_user, bool):
        role = m.USER if by_user else m.ASSISTANT
    else:
        role = m.USER if (sender or "").lower() in ("user", "human") else m.ASSISTANT
        meta["role_from"] = "sender"
    if sender:
        meta["sender"] = sender[:200]
    parent = as_str(rec.get("parentMessageId"))
    if parent in (None, "", ROOT):
        parent = nesting_parent if parent is None else None
    blocks = _content(rec.get("content"), unknown)
    if not any(b.type in (m.TEXT, m.THINKING) for b in blocks):
        text = rec.get("text")
        if isinstance(text, str) and text:
            blocks.insert(0, m.text(text))
    blocks += _files(rec.get("files"), m.ATTACHMENT) + _files(rec.get("attachments"), m.ATTACHMENT)
    usage: dict[str, Any] | None = None
    tokens, prompt = _int(rec.get("tokenCount")), _int(rec.get("promptTokens"))
    if role == m.ASSISTANT and (tokens is not None or prompt is not None):
        usage = {k: v for k, v in (("input", prompt), ("output", tokens)) if v is not None}
        usage["convention"] = "openai"
    elif tokens is not None:
        meta["tokenCount"] = tokens
    if rec.get("error") is True:
        meta["error"] = True
    if rec.get("unfinished") is True:
        meta["unfinished"] = True
    if as_str(rec.get("endpoint")):
        meta["endpoint"] = rec["endpoint"][:80]
    extra = {k: v for k, v in rec.items() if k not in _KNOWN}
    if extra:
        meta["extra"] = bounded(extra, max_total=8 << 10)
    ts = read_time(rec.get("createdAt"), meta, "createdAt")
    model = as_str(rec.get("model")) if role == m.ASSISTANT else None
    return m.Message(
        id=mid,
        role=role,
        blocks=blocks,
        parent_id=parent,
        timestamp=ts,
        model=model or None,
        usage=usage,
        meta=meta or None,
    )


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _value(v: Any) -> str | None:
    """A part's text: a string, or ``{value}`` (the assistants API's shape)."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return as_str(v.get("value"))
    return None


def _content(parts: Any, unknown: dict[str, int]) -> list[m.Block]:
    out: list[m.Block] = []
    for part in as_list(parts):
        if not isinstance(part, dict):
            continue
        kind = as_str(part.get("type")) or ""
        if kind in ("text", "text_delta"):
            text = _value(part.get("text"))
            if text:
                out.append(m.text(text))
        elif kind == "think":
            text = _value(part.get("think"))
            if text:
                out.append(m.thinking(text))
        elif kind == "tool_call":
            out += _tool_call(as_dict(part.get("tool_call")))
        elif kind == "image_file":
            f = as_dict(part.get("image_file"))
            out.append(
                m.attachment(
                    as_str(f.get("filename")),
                    kind=m.IMAGE,
                    file_id=as_str(f.get("file_id")),
                    path=as_str(f.get("filepath")),
                )
            )
        elif kind == "image_url":
            url = as_str(as_dict(part.get("image_url")).get("url"))
            out.append(m.attachment(None, kind=m.IMAGE, url=url if url and not url.startswith("data:") else None))
        elif kind == "error":
            err = part.get("error")
            block = m.text(err if isinstance(err, str) else json_text(err))
            block.meta = {"error": True}
            out.append(block)
        else:
            unknown[kind[:40] or "(none)"] = unknown.get(kind[:40] or "(none)", 0) + 1
            out.append(m.opaque(bounded(part)))
    return out


def _tool_call(call: dict) -> list[m.Block]:
    cid = as_str(call.get("id"))
    name = as_str(call.get("name")) or as_str(call.get("type")) or "tool"
    args: Any = call.get("args")
    if args is None and isinstance(call.get("code_interpreter"), dict):  # the assistants API's code interpreter
        args = call["code_interpreter"].get("input")
    if isinstance(args, str):
        try:
            args = orjson.loads(args)
        except orjson.JSONDecodeError:
            pass
    use = m.tool_use(cid, name, args)
    out = [use]
    output = call.get("output")
    if output is None and isinstance(call.get("code_interpreter"), dict):
        output = call["code_interpreter"].get("outputs")
    if output is not None:
        out.append(m.tool_result(cid, output if isinstance(output, str) else json_text(output)))
    return out


def _files(files: Any, kind: str) -> list[m.Block]:
    out: list[m.Block] = []
    for f in as_list(files):
        if not isinstance(f, dict):
            continue
        mime = as_str(f.get("type"))
        out.append(
            m.attachment(
                as_str(f.get("filename")),
                kind=m.IMAGE if mime and mime.startswith("image/") else kind,
                file_id=as_str(f.get("file_id")),
                mime=mime,
                path=as_str(f.get("filepath")),
            )
        )
    return out


PROVIDER = Provider(
    name=NAME,
    display_name="LibreChat",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=145,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=False),
)
