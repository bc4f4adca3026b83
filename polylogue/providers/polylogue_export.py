"""Polylogue's own lossless export (`export --format jsonl`, `show --format json`):
re-importing it restores each conversation under its original provider and id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from ..errors import ParseError
from ..models import Block, Conversation, Message
from .base import Head, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    fail_on_error,
    iter_jsonl,
    load_json,
    skip_on_error,
    to_utc,
)

NAME = "polylogue"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)
_KEYS = ("provider", "provider_id", "messages")


def _is_export(r: dict) -> bool:
    return all(k in r for k in _KEYS) and isinstance(r.get("messages"), list) and "id" in r


def sniff(head) -> bool:
    if head.records:
        return _is_export(head.records[0])
    return (
        head.kind == "json"
        and head.top == "object"
        and all(head.has(k) for k in _KEYS)
        and head.has("messages", "start_array")
    )


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Conversation]:
    first = stream.peek(1)[:1] if hasattr(stream, "peek") else b""
    if first == b"{" and not _one_object_per_line(stream):
        doc = load_json(stream, ctx=ctx)
        if not isinstance(doc, dict) or not _is_export(doc):
            raise ParseError("not a polylogue export")
        with fail_on_error("bad conversation"):  # the file's one conversation
            conv = _conversation(doc)
        yield conv
        return
    for line, rec in iter_jsonl(stream, ctx):
        if not _is_export(rec):
            ctx.warn("not a polylogue conversation object", line)
            continue
        with skip_on_error(ctx, "conversation", line) as guard:
            conv = _conversation(rec)
        if guard.error is None:
            yield conv


def _one_object_per_line(stream) -> bool:
    head = stream.peek(1 << 16)
    nl = head.find(b"\n")
    return nl > 0 and head[:nl].rstrip().endswith(b"}")


def _block(d: Any) -> Block:
    d = as_dict(d)
    return Block(
        as_str(d.get("type")) or "opaque",
        as_str(d.get("text")) or "",
        as_str(d.get("id")),
        as_str(d.get("name")),
        d.get("input"),
        d.get("is_error") if isinstance(d.get("is_error"), bool) else None,
        d.get("meta") if isinstance(d.get("meta"), dict) else None,
    )


def _conversation(d: dict) -> Conversation:
    provider, pid = as_str(d.get("provider")), as_str(d.get("provider_id"))
    if not provider or not pid:
        raise ValueError("missing provider or provider_id")
    msgs: list[Message] = []
    for m in as_list(d.get("messages")):
        m = as_dict(m)
        msgs.append(
            Message(
                id=as_str(m.get("id")) or str(len(msgs)),
                role=as_str(m.get("role")) or "user",
                blocks=[_block(b) for b in as_list(m.get("blocks"))],
                parent_id=as_str(m.get("parent_id")),
                timestamp=to_utc(m.get("timestamp")),
                model=as_str(m.get("model")),
                usage=m.get("usage") if isinstance(m.get("usage"), dict) else None,
                active=bool(m.get("active", True)),
                context=bool(m.get("context", False)),
                sidechain=bool(m.get("sidechain", False)),
                meta=m.get("meta") if isinstance(m.get("meta"), dict) else None,
            )
        )
    return Conversation(
        provider=provider,
        provider_id=pid,
        title=as_str(d.get("title")),
        created_at=to_utc(d.get("created_at")),
        updated_at=to_utc(d.get("updated_at")),
        messages=msgs,
        parent_id=as_str(d.get("parent_id")),
        models=[x for x in as_list(d.get("models")) if isinstance(x, str)],
        project=as_str(d.get("project")),
        meta=as_dict(d.get("meta")),
    )


def _side_file(head: Head) -> bool:
    """The files ``polylogue export`` writes beside its conversations, so an
    export folder syncs cleanly: its manifest (``.polylogue-export.json``: each
    conversation's files with their hashes, then ``format``, ``generator``...)
    and the ``index.json`` of ``--format json`` (a list of conversation summaries,
    each naming its ``file``). Known by their shape: an export may be renamed."""
    if head.kind != "json":
        return False
    if head.top == "object":
        return head.has("conversations", "start_map") and (
            head.has("generator")
            or any(p.startswith("conversations.") and p.endswith(".files.item.sha") for p in head.paths)
        )
    return (
        head.top == "array"
        and all(head.has(f"item.{k}") for k in ("id", "provider", "provider_id", "file"))
        and not head.has("item.messages")
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Polylogue export",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=10,  # its records carry every field a source format has: asked first
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=True),
    side_file=_side_file,
    own_conversations=False,  # each conversation returns under its original provider
)
