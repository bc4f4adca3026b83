"""How a parser puts a file's conversations together, where many formats do the
same: each JSONL record fed to a builder under its own guard, a conversation
built under a guard, the conversations of an export (the first of a repeated id
kept), a message tree settled (dangling parents cut, loops broken, the
current branch marked) and a message's content parts read into blocks."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

from .. import models as m
from ..models import Conversation, Message
from .common import (
    ParseContext,
    active_path,
    as_list,
    bounded,
    break_message_cycles,
    iter_jsonl,
    latest_leaf,
    skip_on_error,
)


def feed_records(stream: BinaryIO, ctx: ParseContext, feed: Callable[[int, dict], None], what: str = "record") -> int:
    """``feed(lineno, record)`` for each record of a JSONL stream, each under its own
    guard (a bad one costs itself and a warning, "<what> skipped: ..."). Returns how
    many records there were."""
    n = 0
    for lineno, rec in iter_jsonl(stream, ctx):
        n += 1
        with skip_on_error(ctx, what, lineno):
            feed(lineno, rec)
    return n


def guarded(guard: AbstractContextManager[Any], build: Callable[[], Conversation | None]) -> Iterator[Conversation]:
    """The conversation ``build()`` makes, built under ``guard`` (``skip_on_error``: a
    failure costs it and a warning; ``fail_on_error``: the file fails with one
    reason); nothing when it makes none."""
    conv = None
    with guard:
        conv = build()
    if conv is not None:
        yield conv


def export_conversations(
    items: Iterable[tuple[int, Any]],
    build: Callable[[Any, int, ParseContext], Conversation | None],
    ctx: ParseContext,
    what: str = "conversation",
) -> Generator[Conversation, None, int]:
    """The conversation ``build(item, index, ctx)`` makes of each item of an export,
    each under its own guard; of a repeated id the first is kept, with a warning.
    Returns how many items there were."""
    seen: set[str] = set()
    n = 0
    for index, item in items:
        n += 1
        conv = None
        with skip_on_error(ctx, f"{what} {index}"):
            conv = build(item, index, ctx)
        if conv is None:
            continue
        if conv.provider_id in seen:
            ctx.warn(f"{what} {index}: duplicate id {conv.provider_id} (first occurrence kept)")
            continue
        seen.add(conv.provider_id)
        yield conv
    return n


def settle_tree(messages: list[Message], meta: dict[str, Any], current: str | None = None) -> None:
    """Make ``messages`` a tree the store can walk and mark the branch shown as current:
    a parent outside them is cut (kept as the message's meta "dangling_parent"), loops
    of parents are broken, and ``active`` is set on ``current`` and its ancestors, or,
    when the source names no current message, on the latest leaf's (meta
    "active_leaf": "inferred" when that was a choice between leaves)."""
    known = {x.id for x in messages}
    for x in messages:
        if x.parent_id is not None and x.parent_id not in known:
            x.meta = {**(x.meta or {}), "dangling_parent": x.parent_id}
            x.parent_id = None
    break_message_cycles(messages)
    parents = {x.id: x.parent_id for x in messages}
    if current is not None and current in parents:
        leaf = current
    else:
        found, chosen = latest_leaf(messages)
        leaf = found.id
        if chosen:
            meta["active_leaf"] = "inferred"
    on_path = active_path(leaf, parents)
    for x in messages:
        x.active = x.id in on_path


def models_of(messages: Iterable[Message], named: Iterable[str] = ()) -> list[str]:
    """``named`` (models the source lists), then each model the messages name that is not
    among them yet, in the order they first appear."""
    models = list(named)
    for x in messages:
        if x.model and x.model not in models:
            models.append(x.model)
    return models


def content_blocks(content: Any, part: Callable[[Any, dict], list[m.Block] | None]) -> list[m.Block]:
    """The blocks of a message's content: a string, or a list of parts. A string part
    and a ``{"type": "text"}`` part are text (an empty one none); ``part(type, p)``
    reads any other object part, None meaning a type it does not know. What is left
    (an unknown type, a number, an empty string part) is kept as an opaque block."""
    if isinstance(content, str):
        return [m.text(content)] if content else []
    out: list[m.Block] = []
    for b in as_list(content):
        if not isinstance(b, dict):
            if isinstance(b, str) and b:
                out.append(m.text(b))
            elif b is not None:
                out.append(m.opaque(bounded(b)))
            continue
        t = b.get("type")
        if t == "text":
            if isinstance(b.get("text"), str) and b["text"]:
                out.append(m.text(b["text"]))
            continue
        read = part(t, b)
        out.extend(read if read is not None else [m.opaque(bounded(b))])
    return out
