"""ChatGPT (OpenAI data export): docs/providers.md, "chatgpt".

Input is one JSON document: ``conversations.json`` or a ``conversations-NNN.json``
shard (a top-level array of conversation objects, streamed element by element),
a single conversation object (per-conversation files written by third-party
tools), or a browser-capture envelope whose ``raw_provider_payload`` holds one.

Every mapping node that has a message becomes a Message keyed by its node id;
nodes without a message (the root) are skipped and their children re-linked to
the nearest ancestor that has one. The active path is the chain of parents from
``current_node``. Tool calls have no ids in this format: a call is an assistant
message whose ``recipient`` is a tool, and the ``tool`` messages that follow it
are its results; both carry the calling node id as the call id.

A conversation whose JSON passes ``HUGE_VALUE_BYTES`` is not built whole: the
input is read again and it is streamed node by node (chatgpt_tree.py), to the
same result.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, Final

import orjson

from ..errors import HugeValue, ParseError
from ..models import (
    ASSISTANT,
    ATTACHMENT,
    IMAGE,
    SYSTEM,
    TEXT,
    THINKING,
    TOOL,
    TOOL_RESULT,
    USER,
    Block,
    Conversation,
    Message,
    attachment,
    opaque,
    tool_use,
)
from .base import Head, Provider, Records
from .common import (
    PARENT_CYCLE,
    ParseContext,
    active_path,
    as_dict,
    as_list,
    as_str,
    bounded,
    break_parent_cycles,
    iter_json_items,
    latest,
    read_time,
    replay,
    skip_on_error,
    skipped,
    to_utc,
)

NAME = "chatgpt"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

# keys that mark an object as a ChatGPT conversation (besides ``mapping``)
_CONV_KEYS = ("id", "conversation_id", "title", "current_node", "create_time", "update_time")

_ROLES = {"user": USER, "assistant": ASSISTANT, "system": SYSTEM, "tool": TOOL, "developer": SYSTEM}

# content types that carry a tool's output, whatever the author role says
_RESULT_TYPES = frozenset(
    {
        "execution_output",
        "tether_browsing_display",
        "tether_quote",
        "system_error",
        "citable_code_output",
        "sonic_webpage",
        "computer_output",
    }
)
_CONTEXT_TYPES = frozenset({"user_editable_context", "model_editable_context"})
_NOT_A_TOOL = frozenset({"all", "assistant", "user", ""})

# conversation keys handled explicitly; every other top-level key goes to meta
_CONV_HANDLED = frozenset(
    {"mapping", "id", "title", "create_time", "update_time", "current_node", "default_model_slug"}
)
# message-metadata keys turned into fields/blocks rather than kept raw
_EMPTY: tuple = ([], {})  # only compared
_MD_HANDLED = frozenset({"model_slug", "default_model_slug", "attachments", "is_visually_hidden_from_conversation"})
# message fields left out of meta when they hold the export's default (most messages do)
_DEFAULTS = {"status": "finished_successfully", "weight": 1.0}
_NO_DEFAULT = object()

_SANDBOX = re.compile(r"sandbox:(/mnt/data/[^\s)\]\"'<>]+)")
_CITE_MARK = re.compile(" ?\ue200[^\ue200\ue201]{0,400}\ue201")

_MAX_ITEMS = 100  # citation markers kept per message


# ---------------------------------------------------------------- sniffing


def sniff(head) -> bool:
    """A conversations array (or shard), a single conversation object, or a
    browser capture wrapping one. Side files (user.json, message_feedback.json,
    shared_conversations.json, model_comparisons.json) have no ``mapping`` at
    the conversation level; DeepSeek's lookalike has ``message.fragments``."""
    if head.kind != "json":
        return False
    if head.top == "array":
        base = "item"
    elif head.top == "object":
        base = "raw_provider_payload" if head.has("raw_provider_payload.mapping", "start_map") else ""
    else:
        return False
    mapping = f"{base}.mapping" if base else "mapping"
    if not head.has(mapping, "start_map"):
        return False
    under = mapping + "."
    node_evidence = False
    for p in head.paths:
        if p.startswith(under):
            if p.endswith(".message.fragments"):
                return False  # DeepSeek bulk export
            if p.endswith((".message", ".parent", ".children")):
                node_evidence = True
    keyed = any(head.has(f"{base}.{k}" if base else k) for k in _CONV_KEYS)
    return keyed or node_evidence


# ---------------------------------------------------------------- streaming


def _first_byte(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            return b"", replay(b"", stream)
        s = chunk.lstrip(b" \t\r\n")
        if s:
            return s[:1], replay(s, stream)


# A value of the input (a conversation, or a top-level key of a single one) whose JSON
# passes this many bytes is not built as dicts (~8 bytes of memory per byte of JSON):
# the input is read again from its start and that value streamed node by node
# (chatgpt_tree.py). Real conversations stay far below it; checking costs nothing.
HUGE_VALUE_BYTES = 8 << 20


class _Watched:
    """The stream as ijson reads it, with the bytes read since the last value it
    completed. ijson completes values a buffer at a time, so this is the size of
    the value being built, give or take a buffer (64 KB)."""

    __slots__ = ("stream", "limit", "pending")

    def __init__(self, stream: BinaryIO, limit: int | None):
        self.stream, self.limit, self.pending = stream, limit, 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.pending += len(data)
        if self.limit is not None and self.pending > self.limit:
            raise HugeValue
        return data

    def completed(self) -> None:
        self.pending = 0


def _watched(stream: BinaryIO, ctx: ParseContext) -> _Watched:
    """Only an input that can be read again may give up on a value half-read."""
    return _Watched(stream, HUGE_VALUE_BYTES if ctx.reopen is not None else None)


def _reread(ctx: ParseContext, first: bytes) -> BinaryIO:
    assert ctx.reopen is not None  # _watched() gives up only when it is set
    again, src = _first_byte(ctx.reopen())
    if again != first:
        raise ParseError("the file changed while it was read")
    return src


def _array_items(stream: BinaryIO, ctx: ParseContext) -> Iterator[Any]:
    """The elements of the top-level array, built by ijson's C backend; from a huge
    one on (see HUGE_VALUE_BYTES), streamed by chatgpt_tree.array_items."""
    watched = _watched(stream, ctx)
    done = 0
    try:
        for item in iter_json_items(watched, "item"):  # type: ignore[arg-type]  # ijson only calls read()
            watched.completed()
            done += 1
            yield item
        return
    except HugeValue:  # the value passed HUGE_VALUE_BYTES
        pass
    from . import chatgpt_tree

    yield from chatgpt_tree.array_items(_reread(ctx, b"["), done, _rules())


def _rules():
    from .chatgpt_tree import Rules

    return Rules(_is_call, convert, shell, finish)


def _single(stream: BinaryIO, ctx: ParseContext) -> Iterator[Any]:
    """A top-level object: a conversation, or an envelope holding one. The first
    occurrence of a repeated top-level key wins."""
    import ijson

    obj: dict[str, Any] = {}
    watched = _watched(stream, ctx)
    try:
        for k, v in ijson.kvitems(watched, "", use_float=True):
            watched.completed()
            obj.setdefault(k, v)
    except ijson.JSONError as e:
        raise ParseError(f"invalid JSON: {str(e)[:160]}") from None
    except HugeValue:  # the value passed HUGE_VALUE_BYTES
        from . import chatgpt_tree

        obj = {}  # what was read is read again
        obj = chatgpt_tree.single_object(_reread(ctx, b"{"), _rules())
    payload = obj.get("raw_provider_payload")
    if "mapping" not in obj and isinstance(payload, dict) and "mapping" in payload:
        capture = {k: obj[k] for k in ("capture_id", "polylogue_capture_kind", "provenance", "source") if k in obj}
        payload = dict(payload)
        payload["_capture"] = capture
        yield payload
        return
    if "mapping" not in obj and not any(k in obj for k in _CONV_KEYS):
        raise ParseError("not a ChatGPT conversation (no mapping)")
    yield obj


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Conversation]:
    first, src = _first_byte(stream)
    if first == b"[":
        items = _array_items(src, ctx)
    elif first == b"{":
        items = _single(src, ctx)
    elif not first:
        raise ParseError("empty file")
    else:
        raise ParseError("not a ChatGPT export (expected a JSON array or object)")

    seen: set[str] = set()
    yielded = 0
    index = -1
    looked_like = False
    while True:
        try:
            item = next(items)
        except StopIteration:
            break
        except ParseError as e:
            if yielded:  # a truncated export: keep what came before
                ctx.warn(f"stopped after conversation {index}: {e}")
                return
            raise
        except Exception as e:  # anything else from the JSON reader is a bad file
            err = ParseError(f"invalid JSON: {type(e).__name__}: {str(e)[:120]}")
            if yielded:
                ctx.warn(f"stopped after conversation {index}: {err}")
                return
            raise err from None
        index += 1
        label = f"conversation {index}"
        if not isinstance(item, dict):
            ctx.warn(f"{label}: not a JSON object ({type(item).__name__}); skipped")
            continue
        cid = as_str(item.get("id")) or as_str(item.get("conversation_id"))
        if cid:
            label += f" ({cid})"
        if "mapping" in item:
            looked_like = True
        conv = None
        with skip_on_error(ctx, label):
            conv = _conversation(item, label, ctx)
        if conv is None:
            continue
        if conv.provider_id in seen:
            ctx.warn(f"{label}: duplicate conversation id (first occurrence kept)")
            continue
        seen.add(conv.provider_id)
        conv.source_path = ctx.path
        yielded += 1
        item = None  # the raw conversation is not held while the caller stores this one
        yield conv
    if not yielded and index >= 0 and not looked_like:
        raise ParseError("no ChatGPT conversations (no item has a mapping)")


# ---------------------------------------------------------------- one conversation


class _Node:
    __slots__ = ("key", "parent", "children", "message", "order")

    def __init__(self, key: str, parent: str | None, children: list[str], message: dict | None, order: int):
        self.key, self.parent, self.children, self.message, self.order = key, parent, children, message, order


def _conversation(obj: dict, label: str, ctx: ParseContext) -> Conversation | None:
    if ctx.unchanged(NAME, as_str(obj.get("id")) or as_str(obj.get("conversation_id")), to_utc(obj.get("update_time"))):
        return None  # the archive holds this exact version: skip the conversion
    mapping = obj.get("mapping")
    if not isinstance(mapping, dict):
        if mapping is not None and not isinstance(mapping, (str, int, float, bool, list)):
            from .chatgpt_tree import Tree

            if isinstance(mapping, Tree):  # a huge mapping, read node by node
                return mapping.conversation(obj, label, ctx)
        ctx.warn(f"{label}: no mapping; skipped")
        return None
    nodes, bad_nodes = _nodes(mapping)
    mapping.clear()  # the raw nodes: each _Node holds what is used of its node (a huge tree: ~400 B each)
    if bad_nodes:
        ctx.warn(f"{label}: {bad_nodes} malformed mapping node(s) ignored")
    parent = {k: n.parent for k, n in nodes.items()}
    cut = break_parent_cycles(nodes, parent)
    for k in cut:
        nodes[k].parent = None
    kids, roots = _children(nodes, cut)
    order = _tree_order(nodes, kids, roots)
    msg_nodes = [k for k, _, _ in order if nodes[k].message is not None]
    if not msg_nodes:
        ctx.warn(f"{label}: no messages; skipped")
        return None

    # -- active path --------------------------------------------------------
    conv_meta: dict[str, Any] = {}
    current = as_str(obj.get("current_node"))
    if current and current in nodes:
        leaf_node = current
    else:
        if current:
            conv_meta["current_node_missing"] = current
        leaves = [k for k in msg_nodes if next(_descendants_with_msg(k, kids, nodes), None) is None]
        leaf_node = (
            latest(leaves, lambda k: to_utc((nodes[k].message or {}).get("create_time"))) if leaves else msg_nodes[-1]
        )
        conv_meta["active_inferred"] = True  # no usable current_node: latest leaf chosen
    active = active_path(leaf_node, parent)
    active_leaf: str | None = leaf_node
    while active_leaf is not None and nodes[active_leaf].message is None:
        p = nodes[active_leaf].parent
        active_leaf = p if p in nodes and p in active and p != active_leaf else None

    messages, models = _messages(order, nodes, label, ctx)
    # position among siblings, where a node has several children (edits, regenerations)
    branch_of = {c: i for ks in kids.values() if len(ks) > 1 for i, c in enumerate(ks)}
    for m in messages:
        m.active = m.id in active
        if m.id == active_leaf:
            m.meta = {**(m.meta or {}), "active_leaf": True}
        _tree_meta(m, nodes[m.id], nodes, branch_of, cut)
    return _assemble(obj, messages, models, conv_meta, current, bad_nodes)


# -- nodes: the mapping's entries, malformed ones counted and dropped
def _nodes(mapping: dict) -> tuple[dict[str, _Node], int]:
    nodes: dict[str, _Node] = {}
    bad_nodes = 0
    for i, (key, raw) in enumerate(mapping.items()):
        if not isinstance(raw, dict):
            bad_nodes += 1
            continue
        msg = raw.get("message")
        if msg is not None and not isinstance(msg, dict):
            bad_nodes += 1
            msg = None
        parent = as_str(raw.get("parent"))
        if parent == key:
            parent = None
        children = [c for c in map(as_str, as_list(raw.get("children"))) if c]
        nodes[key] = _Node(key, parent, children, msg, i)
    return nodes, bad_nodes


def _children(nodes: dict[str, _Node], cut: dict[str, str]) -> tuple[dict[str, list[str]], list[str]]:
    """Children by parent link (authoritative), ordered as the parent lists them; and
    the roots, those cut out of a parent loop last (the real tree comes first)."""
    kids: dict[str, list[str]] = {k: [] for k in nodes}
    roots: list[str] = []
    for k, n in nodes.items():
        if k in cut:
            continue
        if n.parent is None or n.parent not in nodes:
            roots.append(k)
        else:
            kids[n.parent].append(k)
    roots.extend(k for k in nodes if k in cut)
    for p, ks in kids.items():
        if len(ks) > 1:
            declared: dict[str, int] = {}
            for j, c in enumerate(nodes[p].children):
                declared.setdefault(c, j)
            ks.sort(key=lambda c: (0, declared[c]) if c in declared else (1, nodes[c].order))
    return kids, roots


def _tree_order(
    nodes: dict[str, _Node], kids: dict[str, list[str]], roots: list[str]
) -> list[tuple[str, str | None, str | None]]:
    """Depth-first, parents before children, siblings in branch order: (node, message
    parent, the tool call in scope): a message-less node passes its parent on."""
    order: list[tuple[str, str | None, str | None]] = []
    visited: set[str] = set()
    for start in roots:
        stack: list[tuple[str, str | None, str | None]] = [(start, None, None)]
        while stack:
            k, mparent, call = stack.pop()
            if k in visited:
                continue
            visited.add(k)
            order.append((k, mparent, call))
            msg = nodes[k].message
            if msg is not None:
                role = as_str(as_dict(msg.get("author")).get("role"))
                if _is_call(msg, role):
                    call = k
                elif role != "tool":
                    call = None
                mparent = k
            for c in reversed(kids[k]):
                if c not in visited:
                    stack.append((c, mparent, call))
    return order


def _messages(
    order: list[tuple[str, str | None, str | None]],
    nodes: dict[str, _Node],
    label: str,
    ctx: ParseContext,
) -> tuple[list[Message], list[str]]:
    """The message of each node in tree order (a message that fails to convert is
    kept raw, since its children hang off it), and the models they name."""
    messages: list[Message] = []
    models: list[str] = []
    for k, mparent, call in order:
        n = nodes[k]
        if n.message is None:
            continue
        m = convert(k, n.message, mparent, call, label, ctx)
        n.message = None  # converted: the raw message goes as its Message comes (a huge tree holds one form)
        if m.model and m.model not in models:
            models.append(m.model)
        messages.append(m)
    return messages, models


def convert(key: str, msg: dict, mparent: str | None, call: str | None, label: str, ctx: ParseContext) -> Message:
    """One node's message. A message that fails to convert is kept raw (with a
    warning), since its children hang off it."""
    try:
        return _message(key, msg, mparent, call)
    except Exception as exc:  # caught here, not by skip_on_error: no label nor guard built per message
        error = skipped(ctx, exc, f"{label}: message {key}", outcome="kept raw")
        if error is None:
            raise
    return Message(id=key, role=ASSISTANT, blocks=[opaque(_safe(msg))], parent_id=mparent, meta={"parse_error": error})


def _tree_meta(m: Message, n: _Node, nodes: dict[str, _Node], branch_of: dict[str, int], cut: dict[str, str]) -> None:
    """Where a message sits: its position among siblings (edits, regenerations), a
    parent the export lacks, a parent link cut out of a loop."""
    if n.key in branch_of:
        m.meta = {**(m.meta or {}), "branch": branch_of[n.key]}
    if n.parent is not None and n.parent not in nodes:
        m.meta = {**(m.meta or {}), "dangling_parent": n.parent}
    if n.key in cut:
        m.meta = {**(m.meta or {}), PARENT_CYCLE: cut[n.key]}


def _assemble(
    obj: dict, messages: list[Message], models: list[str], conv_meta: dict, current: str | None, bad_nodes: int
) -> Conversation:
    """The conversation around its messages: id, title, times, and every other top-level key kept in meta."""
    conv, default_model = shell(obj, messages[0], conv_meta, current, bad_nodes)
    conv.messages = messages
    stamps = [m.timestamp for m in messages if m.timestamp]
    finish(conv, models, default_model, min(stamps) if stamps else None, max(stamps) if stamps else None)
    return conv


def shell(
    obj: dict, first: Message, conv_meta: dict, current: str | None, bad_nodes: int
) -> tuple[Conversation, str | None]:
    """The conversation without its messages (``first`` names one without an id);
    ``finish`` adds what depends on all of them. Returns it with the default model."""
    cid = as_str(obj.get("id")) or as_str(obj.get("conversation_id"))
    title = as_str(obj.get("title")) or None
    if not cid:
        cid = _derived_id(obj, first)
        conv_meta["derived_id"] = True
    default_model = as_str(obj.get("default_model_slug"))
    if default_model:
        conv_meta["default_model_slug"] = default_model
    if current:
        conv_meta["current_node"] = current
    created = read_time(obj.get("create_time"), conv_meta, "create_time")
    updated = read_time(obj.get("update_time"), conv_meta, "update_time")
    capture = obj.get("_capture")
    for key, val in obj.items():
        if key in _CONV_HANDLED or key == "_capture" or val is None or val == [] or val == {}:
            continue
        if key == "conversation_id" and val == cid:
            continue
        conv_meta[key] = bounded(val)
    if capture:
        conv_meta["capture"] = bounded(capture)
    if bad_nodes:
        conv_meta["malformed_nodes"] = bad_nodes
    conv = Conversation(
        provider=NAME, provider_id=cid, title=title, created_at=created, updated_at=updated, meta=conv_meta
    )
    return conv, default_model


def finish(
    conv: Conversation, models: list[str], default_model: str | None, first: datetime | None, last: datetime | None
) -> None:
    """What needs every message: the models they name (else the conversation's
    default) and, when the export gives none, times from the messages'."""
    if default_model and not models:
        models.append(default_model)
    conv.models = models
    conv.created_at = conv.created_at or first
    conv.updated_at = conv.updated_at or last


def _descendants_with_msg(k: str, kids: dict[str, list[str]], nodes: dict[str, _Node]) -> Iterator[str]:
    """Nearest descendants that carry a message (through message-less nodes)."""
    stack = list(kids[k])
    seen: set[str] = set()
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        if nodes[c].message is not None:
            yield c
        else:
            stack.extend(kids[c])


def _derived_id(obj: dict, first: Message) -> str:
    """A stable id for a conversation without one: title, creation time and the
    first message (which a continued conversation keeps)."""
    basis = [
        as_str(obj.get("title")) or "",
        repr(obj.get("create_time")),
        first.id,
        first.role,
        " ".join(b.text for b in first.blocks)[:4000],
    ]
    return "derived-" + hashlib.sha1("\x1f".join(basis).encode("utf-8", "replace")).hexdigest()[:20]


def _is_call(msg: dict, role: str | None) -> bool:
    recipient = as_str(msg.get("recipient"))
    return role == "assistant" and recipient is not None and recipient not in _NOT_A_TOOL


# ---------------------------------------------------------------- one message


def _message(key: str, msg: dict, mparent: str | None, call: str | None) -> Message:
    author = as_dict(msg.get("author"))
    raw_role = as_str(author.get("role"))
    role = _ROLES.get(raw_role or "", ASSISTANT)
    md = as_dict(msg.get("metadata"))
    content = msg.get("content")
    ct = as_str(content.get("content_type")) if isinstance(content, dict) else None
    recipient = as_str(msg.get("recipient"))
    status = as_str(msg.get("status"))

    blocks: list[Block] = []
    if _is_call(msg, raw_role):
        blocks.extend(_call_blocks(key, recipient, content, ct))
    elif role == TOOL or ct in _RESULT_TYPES:
        blocks.extend(_result_blocks(call, content, ct, md, status))
    else:
        blocks.extend(_content_blocks(content, ct))

    meta: dict[str, Any] = {}
    markers = _take_cite_markers(blocks)
    if markers:
        meta["cite_markers"] = markers
    if role == ASSISTANT:
        blocks.extend(_sandbox_links(blocks))
    blocks.extend(_attachment_blocks(md))

    hidden = md.get("is_visually_hidden_from_conversation") is True or (role == SYSTEM and not blocks)
    context = (
        hidden
        or role == SYSTEM
        or ct in _CONTEXT_TYPES
        or md.get("is_user_system_message") is True
        or md.get("is_contextual_answers_system_message") is True
    )

    _source_fields(meta, key, msg, author, hidden, ct)
    ts = read_time(msg.get("create_time"), meta, "create_time")
    upd = to_utc(msg.get("update_time"))
    if upd is not None:
        meta["update_time"] = upd.isoformat()
    rest = _unhandled_metadata(md, mparent)
    if rest:
        meta["metadata"] = bounded(rest)

    model = as_str(md.get("model_slug")) or as_str(md.get("default_model_slug"))
    return Message(
        id=key,
        role=role,
        blocks=blocks,
        parent_id=mparent,
        timestamp=ts,
        model=model or None,
        context=bool(context),
        meta=meta or None,
    )


def _take_cite_markers(blocks: list[Block]) -> list[str]:
    """Citations (new style) are private-use markers inside the text: cut them out, return them."""
    markers: list[str] = []
    for b in blocks:
        if b.type == TEXT and "\ue200" in b.text:
            found = _CITE_MARK.findall(b.text)
            if found:
                markers.extend(found)
                b.text = _CITE_MARK.sub("", b.text)
    return [s.strip(" \ue200\ue201").replace("\ue202", " ") for s in markers[:_MAX_ITEMS]]


def _attachment_blocks(md: dict) -> list[Block]:
    return [
        attachment(
            as_str(a.get("name")),
            id=as_str(a.get("id")),
            mime=as_str(a.get("mime_type")),
            size=_num(a.get("size")),
            file_id=as_str(a.get("file_id")),
            width=_num(a.get("width")),
            height=_num(a.get("height")),
            source="metadata.attachments",
        )
        for a in as_list(md.get("attachments"))
        if isinstance(a, dict)
    ]


def _source_fields(meta: dict[str, Any], key: str, msg: dict, author: dict, hidden: bool, ct: str | None) -> None:
    """The message fields worth keeping that are no Message attribute (defaults left out)."""
    mid = as_str(msg.get("id"))
    if mid and mid != key:
        meta["message_id"] = mid
    raw_role = as_str(author.get("role"))
    if raw_role not in _ROLES or raw_role == "developer":
        meta["raw_role"] = raw_role
    if hidden:
        meta["hidden"] = True
    name = as_str(author.get("name"))
    if name:
        meta["author_name"] = name
    if author.get("metadata"):
        meta["author_metadata"] = bounded(author["metadata"])
    recipient = as_str(msg.get("recipient"))
    if recipient and recipient != "all":
        meta["recipient"] = recipient
    for k in ("channel", "status", "end_turn", "weight"):
        v = msg.get(k)
        if v is not None and _DEFAULTS.get(k, _NO_DEFAULT) != v:
            meta[k] = bounded(v)
    if ct and ct != "text":
        meta["content_type"] = ct


def _unhandled_metadata(md: dict, mparent: str | None) -> dict:
    """Message metadata not turned into fields; empty values, a copy of the parent id
    and the default timestamp kind say nothing new."""
    return {
        k: v
        for k, v in md.items()
        if k not in _MD_HANDLED
        and v is not None
        and v not in _EMPTY  # v != [] and v != {}, without building both per value
        and not (k == "parent_id" and v == mparent)
        and not (k == "timestamp_" and v == "absolute")
    }


def _call_blocks(key: str, recipient: str | None, content: Any, ct: str | None) -> list[Block]:
    """An assistant message addressed to a tool: its payload is the call input."""
    c = as_dict(content)
    if ct == "code" or (ct is None and isinstance(c.get("text"), str) and "parts" not in c):
        b = tool_use(key, recipient, as_str(c.get("text")) or "")
        lang = as_str(c.get("language"))
        if lang and lang != "unknown":
            b.meta = {"language": lang}
        return [b]
    if ct in (None, "text") and "parts" in c:
        parts = as_list(c.get("parts"))
        strings = [p for p in parts if isinstance(p, str)]
        payload = "".join(strings)
        value: Any = payload
        s = payload.lstrip()
        if s[:1] in ("{", "["):
            try:
                value = _safe(orjson.loads(payload))
            except (orjson.JSONDecodeError, TypeError, ValueError):
                value = payload
        out = [tool_use(key, recipient, value)]
        out.extend(b for p in parts if not isinstance(p, str) for b in _part_blocks(p))
        return out
    if content is None:
        return [tool_use(key, recipient, None)]
    # some other content addressed to a tool: the call, then the content itself
    return [tool_use(key, recipient, None), *_content_blocks(content, ct)]


def _result_blocks(call: str | None, content: Any, ct: str | None, md: dict, status: str | None) -> list[Block]:
    """A tool's output: one tool_result block (answering ``call``), plus images."""
    c = as_dict(content)
    extra: list[Block] = []
    bmeta: dict[str, Any] = {}
    text = ""
    if ct in ("execution_output", "code"):
        text = as_str(c.get("text")) or ""
    elif ct == "tether_browsing_display":
        text = as_str(c.get("result")) or ""
        for k in ("summary", "tether_id"):
            if c.get(k) is not None:
                bmeta[k] = bounded(c[k])
    elif ct == "tether_quote":
        text = as_str(c.get("text")) or ""
        for k in ("url", "domain", "title", "tether_id"):
            if c.get(k) is not None:
                bmeta[k] = bounded(c[k])
    elif ct == "system_error":
        text = as_str(c.get("text")) or ""
        if as_str(c.get("name")):
            bmeta["error_name"] = c["name"]
    elif ct == "citable_code_output":
        text = as_str(c.get("output_str")) or ""
    elif ct == "sonic_webpage":
        text = as_str(c.get("text")) or ""
        for k in ("url", "title", "snippet", "domain"):
            if c.get(k) is not None:
                bmeta[k] = bounded(c[k])
    elif ct == "computer_output":
        shot = c.get("screenshot")
        if isinstance(shot, dict):
            extra.append(_image(shot))
        if c.get("state") is not None:
            bmeta["state"] = bounded(c["state"])
        for k in ("computer_id", "tether_id"):
            if c.get(k) is not None:
                bmeta[k] = bounded(c[k])
    elif ct in (None, "text", "multimodal_text") and isinstance(content, dict):
        strings: list[str] = []
        for p in as_list(c.get("parts")):
            if isinstance(p, str):
                if p:
                    strings.append(p)
            elif isinstance(p, dict) and p.get("content_type") in (None, "text") and isinstance(p.get("text"), str):
                strings.append(p["text"])
            else:
                extra.extend(_part_blocks(p))
        if not strings and isinstance(c.get("text"), str):
            strings.append(c["text"])
        text = "\n".join(strings)
    elif isinstance(content, str):
        text = content
    elif content is not None:
        extra.append(opaque(_safe(content)))  # unknown output shape: keep it whole

    agg = md.get("aggregate_result")
    if isinstance(agg, dict):  # images the code produced (the files sit in the export zip)
        for am in as_list(agg.get("messages")):
            if isinstance(am, dict) and am.get("message_type") == "image" and as_str(am.get("image_url")):
                extra.append(
                    _image({"asset_pointer": am["image_url"], "width": am.get("width"), "height": am.get("height")})
                )
    if ct and ct != "text":
        bmeta.setdefault("content_type", ct)
    is_error, outcome = _outcome(ct, md, status)
    if outcome:
        bmeta["outcome"] = outcome
    block = Block(TOOL_RESULT, text, id=call, is_error=is_error, meta=bmeta or None)
    return [block, *extra]


def _outcome(ct: str | None, md: dict, status: str | None) -> tuple[bool | None, str | None]:
    if ct == "system_error":
        return True, "error"
    agg = md.get("aggregate_result")
    if isinstance(agg, dict):
        if agg.get("in_kernel_exception"):
            return True, "error"
        st = as_str(agg.get("status"))
        if st == "success":
            return False, "success"
        if st in ("failed", "failure", "error", "timeout", "timed_out"):
            return True, "error"
        if st:
            return None, st
    if status == "finished_successfully":
        return False, "success"
    return None, None


def _content_blocks(content: Any, ct: str | None) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Block(TEXT, content)] if content else []
    if isinstance(content, list):
        return [b for p in content for b in _part_blocks(p)]
    if not isinstance(content, dict):
        return [opaque(_safe(content))]
    c = content
    if ct in (None, "text", "multimodal_text"):
        if "parts" in c:
            out = [b for p in as_list(c.get("parts")) for b in _part_blocks(p)]
            if not isinstance(c.get("parts"), list) and c.get("parts") is not None:
                out.append(opaque(_safe(c)))
            return out
        if isinstance(c.get("text"), str):
            return [Block(TEXT, c["text"])] if c["text"] else []
        if ct is None:
            return [opaque(_safe(c))] if len(c) else []
        return []
    if ct == "code":
        t = as_str(c.get("text")) or ""
        lang = as_str(c.get("language"))
        return [Block(TEXT, t, meta={"content_type": "code", **({"language": lang} if lang else {})})] if t else []
    if ct == "thoughts":
        return _thoughts(c)
    if ct == "reasoning_recap":
        out = []
        if isinstance(c.get("content"), str) and c["content"]:
            out.append(Block(THINKING, c["content"], meta={"recap": True}))
        for p in as_list(c.get("parts")):
            if isinstance(p, str) and p:
                out.append(Block(THINKING, p, meta={"recap": True}))
        return out
    if ct in _CONTEXT_TYPES:
        out = []
        other: dict[str, Any] = {}
        for k, v in c.items():
            if k == "content_type" or v is None:
                continue
            if isinstance(v, str):
                if v:
                    out.append(Block(TEXT, v, meta={"field": k}))
            else:
                other[k] = v
        if other:
            out.append(opaque(_safe(other)))
        return out
    return [opaque(_safe(c))]


def _thoughts(c: dict) -> list[Block]:
    out: list[Block] = []
    for t in as_list(c.get("thoughts")):
        if isinstance(t, str):
            if t:
                out.append(Block(THINKING, t))
            continue
        if not isinstance(t, dict):
            if t is not None:
                out.append(opaque(_safe(t)))
            continue
        body = as_str(t.get("content")) or ""
        chunks = [x for x in as_list(t.get("chunks")) if isinstance(x, str) and x]
        summary = as_str(t.get("summary")) or ""
        if not body and chunks:
            body = "\n".join(chunks)
        meta: dict[str, Any] = {}
        if summary and summary != body:
            if body:
                meta["summary"] = summary
            else:
                body = summary
        if isinstance(t.get("finished"), bool):
            meta["finished"] = t["finished"]
        if body:
            out.append(Block(THINKING, body, meta=meta or None))
    for p in as_list(c.get("parts")):  # some fixtures put the reasoning in parts
        if isinstance(p, str) and p:
            out.append(Block(THINKING, p))
    return out


def _part_blocks(part: Any) -> list[Block]:
    if isinstance(part, str):
        return [Block(TEXT, part)] if part else []
    if part is None:
        return []
    if not isinstance(part, dict):
        return [opaque(_safe(part))]
    pct = as_str(part.get("content_type"))
    if pct == "text" or (pct is None and isinstance(part.get("text"), str)):
        t = as_str(part.get("text")) or ""
        return [Block(TEXT, t)] if t else []
    if pct == "image_asset_pointer" or (pct is None and isinstance(part.get("asset_pointer"), str)):
        return [_image(part)]
    if pct == "audio_transcription":
        t = as_str(part.get("text")) or ""
        meta = {"source": "audio_transcription"}
        if as_str(part.get("direction")):
            meta["direction"] = part["direction"]
        return [Block(TEXT, t, meta=meta)] if t else []
    if pct == "audio_asset_pointer":
        return [_audio(part)]
    if pct == "real_time_user_audio_video_asset_pointer":
        out: list[Block] = []
        if isinstance(part.get("audio_asset_pointer"), dict):
            out.append(_audio(part["audio_asset_pointer"]))
        for f in as_list(part.get("frames_asset_pointers")):
            if isinstance(f, dict):
                out.append(_image(f))
        if isinstance(part.get("video_container_asset_pointer"), dict):
            out.append(_audio(part["video_container_asset_pointer"], kind="video"))
        return out or [opaque(_safe(part))]
    return [opaque(_safe(part))]


def _file_id(pointer: str | None) -> str | None:
    """``file-service://file-ABC`` / ``sediment://file_abc`` -> ``file-ABC`` / ``file_abc``."""
    if not pointer:
        return None
    return pointer.split("://", 1)[1] if "://" in pointer else pointer


def _image(part: dict) -> Block:
    ptr = as_str(part.get("asset_pointer"))
    md = as_dict(part.get("metadata"))
    dalle = as_dict(md.get("dalle"))
    gen = as_dict(md.get("generation"))
    prompt = as_str(dalle.get("prompt")) or ""
    fid = _file_id(ptr)
    return attachment(
        fid or ptr,
        kind=IMAGE,
        extracted=prompt,
        url=ptr,
        file_id=fid,
        size=_num(part.get("size_bytes")),
        width=_num(part.get("width")),
        height=_num(part.get("height")),
        dalle=bounded({k: v for k, v in dalle.items() if k != "prompt" and v is not None}) or None,
        generation=bounded({k: v for k, v in gen.items() if v is not None}) or None,
    )


def _audio(part: dict, kind: str = "audio") -> Block:
    ptr = as_str(part.get("asset_pointer"))
    fmt = as_str(part.get("format"))
    md = as_dict(part.get("metadata"))
    fid = _file_id(ptr)
    return attachment(
        fid or ptr,
        kind=ATTACHMENT,
        url=ptr,
        file_id=fid,
        size=_num(part.get("size_bytes")),
        mime=f"{kind}/{fmt}" if fmt else None,
        media=kind,
        start=_num(md.get("start")),
        end=_num(md.get("end")),
    )


def _sandbox_links(blocks: list[Block]) -> list[Block]:
    """``sandbox:/mnt/data/x`` links point at generated files the export lacks."""
    out: list[Block] = []
    seen: set[str] = set()
    for b in blocks:
        if b.type != TEXT or "sandbox:" not in b.text:
            continue
        for m in _SANDBOX.finditer(b.text):
            path = m.group(1)
            if path in seen:
                continue
            seen.add(path)
            out.append(
                attachment(path.rsplit("/", 1)[-1] or path, url=f"sandbox:{path}", source="sandbox", fetchable=False)
            )
    return out


# ---------------------------------------------------------------- values


def _num(v: Any) -> int | float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int) and abs(v) >= 1 << 63:
        return None
    return v


def _safe(v: Any) -> Any:
    """The raw value unchanged, except numbers JSON can't carry (huge ints, inf)."""
    stack = [v]
    needs = False
    while stack:  # cheap scan first: almost every value is already fine
        x = stack.pop()
        if isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, int) and not isinstance(x, bool) and abs(x) >= 1 << 63:
            needs = True
            break
        elif isinstance(x, float) and not math.isfinite(x):
            needs = True
            break
    return _fix(v) if needs else v


def _fix(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _fix(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_fix(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 1 << 63:
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


__all__ = ["KIND", "NAME", "PROVIDER", "parse", "sniff"]


def _side_file(head: Head) -> bool:
    """Files of the export that are not conversations: ``user.json``, and the
    lists in ``message_feedback.json``, ``shared_conversations.json`` and
    ``model_comparisons.json``."""
    if head.kind != "json":
        return False
    if head.top == "object":
        return head.has("email") or head.has("chatgpt_plus_user")
    return head.top == "array" and any(
        head.has(k) for k in ("item.rating", "item.is_anonymous", "item.input", "item.content.input")
    )


PROVIDER = Provider(
    name=NAME,
    display_name="ChatGPT",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=20,
    records=Records(models=True, branches=True, thinking=True),
    side_file=_side_file,
)
