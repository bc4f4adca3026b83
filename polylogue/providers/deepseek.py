"""DeepSeek chat (docs/providers.md, "deepseek"): three shapes of one chat history.

1. The web app's history API response (what browser exporters save raw)::

       {code, msg, data: {biz_code, biz_data: {chat_session: {id, title, current_message_id,
        inserted_at, updated_at, version, ...}, chat_messages: [{message_id (int), parent_id,
        role: USER|ASSISTANT, model, inserted_at, status, thinking_enabled, search_enabled,
        fragments: [{id, type: REQUEST|RESPONSE|THINK|SEARCH|..., content, ...}], files[],
        accumulated_token_usage}]}}}

   (``biz_data`` or ``{chat_session, chat_messages}`` on their own are read too).
2. The official bulk export (Settings, "Export all chats"), ChatGPT-like:
   ``[{id, title, inserted_at, updated_at, mapping: {<node>: {id, parent, children,
   message: {model, inserted_at, files, fragments[]} | null}}}]``.
3. A browser exporter's tree rewrite of one chat: ``[{id, type: user|assistant,
   content, thought, children[]}]`` (no chat id, no times).

Mapping: REQUEST fragments are the prompt, RESPONSE the reply, THINK thinking;
SEARCH (and other tool fragments) a tool_use/tool_result pair inside the reply
(results kept as text). An unknown fragment type is kept opaque and reported in
one warning line. Message ids are the (chat-local) message ids.

Tree: ``parent_id`` (``parent`` in the bulk export). Editing the first prompt
makes a new root, so a chat may have several. The active leaf is
``current_message_id``; the bulk export and the rewrite mark none (latest leaf,
flagged ``meta.active_leaf = "inferred"``).

Usage: ``accumulated_token_usage`` is the conversation's running token count
at that message (context included), never a per-message count: it is kept in
meta, and each assistant message gets ``usage.output`` = its count minus its
parent's, ``usage.input`` = the parent's (``meta.usage_derived``).

Identity: ``chat_session.id`` / the export's ``id``; the rewrite has none:
``derived-`` + sha256 of its first prompt and reply[:20], flagged ``meta.derived_id``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import chain
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import export_conversations, guarded, models_of, settle_tree
from .base import Head, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    fail_on_error,
    iter_export_items,
    json_text,
    load_json,
    read_time,
    replay,
    skip_on_error,
)

NAME = "deepseek"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

_TEXT = {"REQUEST": "request", "RESPONSE": "response"}
_THINK = frozenset({"THINK", "THINKING"})
_TOOLS = frozenset({"SEARCH", "TOOL_SEARCH", "TOOL_OPEN", "TOOL_CALL", "READ_LINK", "SEARCH_RESULT"})
_ROLES = {"USER": m.USER, "ASSISTANT": m.ASSISTANT, "SYSTEM": m.SYSTEM}
# message fields mapped explicitly; the rest is kept bounded in meta["extra"]
_KNOWN = frozenset(
    {"message_id", "parent_id", "role", "model", "inserted_at", "fragments", "files", "accumulated_token_usage"}
)


# ---------------------------------------------------------------- sniffing


def sniff(head: Head) -> bool:
    if head.kind != "json":
        return False
    if head.top == "object":
        for base in ("data.biz_data.", "biz_data.", ""):
            if head.has(base + "chat_session", "start_map") and head.has(base + "chat_messages", "start_array"):
                return True
        return False
    if head.top != "array":
        return False
    if head.has("item.mapping", "start_map"):
        return any(p.startswith("item.mapping.") and p.endswith(".message.fragments") for p in head.paths)
    return (
        head.has("item.type", "string")
        and head.has("item.content")
        and head.has("item.thought")
        and head.has("item.children", "start_array")
        and head.has("item.id", "number")
    )


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    head = stream.read(1 << 16)
    src = replay(head, stream)
    first = head.lstrip()[:1]
    if first == b"{":
        doc = load_json(src, ctx=ctx)
        yield from _api_response(doc, ctx)
    elif first == b"[":
        yield from _array(src, ctx)
    else:
        raise ParseError("not a DeepSeek chat (expected a JSON object or array)")


def _api_response(doc: Any, ctx: ParseContext) -> Iterator[m.Conversation]:
    if not isinstance(doc, dict):
        raise ParseError("not a DeepSeek chat")
    biz = as_dict(as_dict(doc.get("data")).get("biz_data")) or as_dict(doc.get("biz_data")) or doc
    session = biz.get("chat_session")
    msgs = biz.get("chat_messages")
    if not isinstance(session, dict) or not isinstance(msgs, list):
        if doc.get("code") not in (None, 0):
            raise ParseError(f"DeepSeek API error response (code {bounded(doc.get('code'), max_total=40)})")
        raise ParseError("not a DeepSeek chat (no chat_session and chat_messages)")
    yield from guarded(fail_on_error("malformed DeepSeek chat"), lambda: _api_chat(session, msgs, ctx))


def _api_chat(session: dict, msgs: list, ctx: ParseContext) -> m.Conversation | None:
    meta: dict[str, Any] = {}
    cid = as_str(session.get("id"))
    if not cid:
        raise ParseError("DeepSeek chat without a session id")
    created = read_time(session.get("inserted_at"), meta, "inserted_at")
    updated = read_time(session.get("updated_at"), meta, "updated_at")
    if ctx.unchanged(NAME, cid, updated):
        return None
    unknown: dict[str, int] = {}
    messages: list[m.Message] = []
    acc: dict[str, int] = {}
    seen: set[str] = set()
    for i, rec in enumerate(msgs):
        msg = None
        with skip_on_error(ctx, f"message {i}"):
            msg = _api_message(rec, unknown, acc)
        if msg is None or msg.id in seen:
            continue  # a bad message, or a repeated id (the first stands)
        seen.add(msg.id)
        messages.append(msg)
    for key in ("title_type", "version", "agent", "pinned", "seq_id"):
        if session.get(key) is not None:
            meta[key] = bounded(session[key], max_total=200)
    current = as_str(session.get("current_message_id"))
    return _assemble(cid, as_str(session.get("title")), created, updated, messages, current, acc, unknown, meta, ctx)


def _api_message(rec: Any, unknown: dict[str, int], acc: dict[str, int]) -> m.Message | None:
    if not isinstance(rec, dict):
        return None
    mid = as_str(rec.get("message_id"))
    if mid is None:
        raise ValueError("message without a message_id")
    meta: dict[str, Any] = {}
    raw_role = as_str(rec.get("role")) or ""
    role = _ROLES.get(raw_role.upper())
    if role is None:
        role = (
            m.USER if any(as_dict(f).get("type") == "REQUEST" for f in as_list(rec.get("fragments"))) else m.ASSISTANT
        )
        meta["raw_role"] = raw_role[:40]
    blocks = _fragments(rec.get("fragments"), mid, unknown)
    blocks += _files(rec.get("files"))
    tokens = rec.get("accumulated_token_usage")
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        acc[mid] = tokens
        meta["accumulated_token_usage"] = tokens
    for key in ("status", "thinking_enabled", "search_enabled", "feedback", "conversation_mode", "auto_continue"):
        v = rec.get(key)
        if v not in (None, False, "FINISHED", "DEFAULT"):
            meta[key] = bounded(v, max_total=400)
    ts = read_time(rec.get("inserted_at"), meta, "inserted_at")
    model = as_str(rec.get("model")) if role == m.ASSISTANT else None
    return m.Message(
        id=mid,
        role=role,
        blocks=blocks,
        parent_id=as_str(rec.get("parent_id")),
        timestamp=ts,
        model=model or None,
        meta=meta or None,
    )


def _fragments(frags: Any, mid: str, unknown: dict[str, int]) -> list[m.Block]:
    out: list[m.Block] = []
    for k, f in enumerate(as_list(frags)):
        if not isinstance(f, dict):
            continue
        kind = as_str(f.get("type")) or ""
        content = f.get("content")
        if kind in _TEXT or kind in _THINK:
            text = content if isinstance(content, str) else json_text(content)
            if text:
                block = m.thinking(text) if kind in _THINK else m.text(text)
                if kind in _THINK and f.get("elapsed_secs") is not None:
                    block.meta = {"elapsed_secs": bounded(f["elapsed_secs"], max_total=40)}
                out.append(block)
        elif kind in _TOOLS:
            call_id = f"{mid}:{kind.lower()}-{k}"
            query = f.get("queries") or f.get("query") or ({"content": content} if isinstance(content, str) else None)
            out.append(m.tool_use(call_id, kind.lower(), bounded(query, max_total=8 << 10)))
            results = f.get("results") if f.get("results") is not None else content
            out.append(m.tool_result(call_id, _results_text(results)))
        else:
            unknown[kind[:40] or "(none)"] = unknown.get(kind[:40] or "(none)", 0) + 1
            out.append(m.opaque(bounded(f)))
    return out


def _results_text(results: Any) -> str:
    """Search results as lines of "title — url — snippet"; anything else as JSON text."""
    if isinstance(results, list) and all(isinstance(r, dict) for r in results):
        lines = []
        for r in results:
            parts = [as_str(r.get(k)) for k in ("title", "url", "snippet", "summary")]
            lines.append(" — ".join(p for p in parts if p))
        return "\n".join(lines)
    return json_text(results)


def _files(files: Any) -> list[m.Block]:
    out: list[m.Block] = []
    for f in as_list(files):
        if isinstance(f, dict):
            name = as_str(f.get("file_name")) or as_str(f.get("name"))
            out.append(
                m.attachment(
                    name,
                    extracted="",
                    file_id=as_str(f.get("id")),
                    size=f.get("file_size") if isinstance(f.get("file_size"), int) else None,
                )
            )
    return out


def _assemble(
    cid: str,
    title: str | None,
    created: Any,
    updated: Any,
    messages: list[m.Message],
    current: str | None,
    acc: dict[str, int],
    unknown: dict[str, int],
    meta: dict[str, Any],
    ctx: ParseContext,
) -> m.Conversation | None:
    if not messages:
        ctx.warn(f"chat {cid}: no messages; skipped")
        return None
    settle_tree(messages, meta, current)
    roots = sum(1 for msg in messages if msg.parent_id is None)
    if roots > 1:
        meta["roots"] = roots  # an edited first prompt starts a new root
    _derive_usage(messages, acc, meta)
    if unknown:
        meta["unknown_fragments"] = unknown
        ctx.warn(
            f"chat {cid}: DeepSeek fragments of an unknown version: "
            + ", ".join(f"{n} '{t}'" for t, n in sorted(unknown.items())[:5])
            + " kept as opaque blocks"
        )
    stamps = [msg.timestamp for msg in messages if msg.timestamp]
    models = models_of(messages)
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=title or None,
        created_at=created or (min(stamps) if stamps else None),
        updated_at=updated or (max(stamps) if stamps else created),
        messages=messages,
        source_path=ctx.path,
        models=models,
        meta=meta,
    )


def _derive_usage(messages: list[m.Message], acc: dict[str, int], meta: dict[str, Any]) -> None:
    derived = False
    for msg in messages:
        if msg.role != m.ASSISTANT or msg.id not in acc:
            continue
        before = acc.get(msg.parent_id) if msg.parent_id is not None else 0
        if before is None or acc[msg.id] < before:
            continue
        msg.usage = {"input": before, "output": acc[msg.id] - before, "convention": "openai"}
        derived = True
    if derived:
        meta["usage_derived"] = "from accumulated_token_usage: output = the message's count minus its parent's"


# ---------------------------------------------------------------- arrays: bulk export, tree rewrite


def _array(src: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    items = iter_export_items(src, ctx)
    first = next(items, None)
    if first is None:
        raise ParseError("an empty array: no DeepSeek chats")
    item = first[1]
    if isinstance(item, dict) and "mapping" not in item and "children" in item:
        yield from _tree_rewrite(item, (root for _, root in items), ctx)
        return
    yield from export_conversations(chain([first], items), _bulk_conversation, ctx)


def _bulk_conversation(item: Any, index: int, ctx: ParseContext) -> m.Conversation | None:
    if not isinstance(item, dict):
        ctx.warn(f"conversation {index}: not a JSON object ({type(item).__name__}); skipped")
        return None
    mapping = item.get("mapping")
    cid = as_str(item.get("id"))
    if not isinstance(mapping, dict) or not cid:
        ctx.warn(f"conversation {index}: no id or no mapping; skipped")
        return None
    meta: dict[str, Any] = {}
    created = read_time(item.get("inserted_at"), meta, "inserted_at")
    updated = read_time(item.get("updated_at"), meta, "updated_at")
    if ctx.unchanged(NAME, cid, updated):
        return None
    unknown: dict[str, int] = {}
    acc: dict[str, int] = {}
    messages: list[m.Message] = []
    with_message = {k for k, n in mapping.items() if isinstance(n, dict) and isinstance(n.get("message"), dict)}
    for key, node in mapping.items():
        if key not in with_message:
            continue
        msg = None
        with skip_on_error(ctx, f"conversation {index}, node {str(key)[:40]}"):
            msg = _bulk_message(str(key), node, mapping, with_message, unknown, acc)
        if msg is not None:
            messages.append(msg)
    current = as_str(item.get("current_node")) or as_str(item.get("current_message_id"))
    return _assemble(cid, as_str(item.get("title")), created, updated, messages, current, acc, unknown, meta, ctx)


def _bulk_message(
    key: str, node: dict, mapping: dict, with_message: set[str], unknown: dict[str, int], acc: dict[str, int]
) -> m.Message:
    msg = node["message"]
    frags = as_list(msg.get("fragments"))
    kinds = {as_dict(f).get("type") for f in frags}
    role = m.USER if "REQUEST" in kinds else m.ASSISTANT
    meta: dict[str, Any] = {}
    # the nearest ancestor that holds a message (the root node holds none)
    parent = as_str(node.get("parent"))
    hops = 0
    while parent is not None and parent not in with_message and hops < 10_000:
        parent = as_str(as_dict(mapping.get(parent)).get("parent"))
        hops += 1
    blocks = _fragments(frags, key, unknown) + _files(msg.get("files"))
    tokens = msg.get("accumulated_token_usage")
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        acc[key] = tokens
        meta["accumulated_token_usage"] = tokens
    extra = {k: v for k, v in msg.items() if k not in _KNOWN}
    if extra:
        meta["extra"] = bounded(extra, max_total=4 << 10)
    ts = read_time(msg.get("inserted_at"), meta, "inserted_at")
    model = as_str(msg.get("model")) if role == m.ASSISTANT else None
    return m.Message(
        id=key, role=role, blocks=blocks, parent_id=parent, timestamp=ts, model=model or None, meta=meta or None
    )


def _tree_rewrite(first: dict, rest: Iterator[Any], ctx: ParseContext) -> Iterator[m.Conversation]:
    """The browser exporter's tree: roots (the first prompt and its edits), each
    node ``{id, type, content, thought, children[]}``."""
    messages: list[m.Message] = []
    seen: set[str] = set()

    def walk(node: Any, parent: str | None, depth: int) -> None:
        if not isinstance(node, dict) or depth > 10_000:
            return
        mid = as_str(node.get("id"))
        if mid is None or mid in seen:
            ctx.warn(f"tree node without an id or with a repeated id ({mid}); skipped")
            return
        seen.add(mid)
        role = m.USER if node.get("type") == "user" else m.ASSISTANT
        blocks: list[m.Block] = []
        thought = node.get("thought")
        if isinstance(thought, str) and thought:
            blocks.append(m.thinking(thought))
        content = node.get("content")
        if isinstance(content, str) and content:
            blocks.append(m.text(content))
        messages.append(m.Message(id=mid, role=role, blocks=blocks, parent_id=parent))
        for child in as_list(node.get("children")):
            walk(child, mid, depth + 1)

    walk(first, None, 0)
    for node in rest:
        walk(node, None, 0)
    if not messages:
        raise ParseError("a DeepSeek tree without messages")
    material = [[msg.role, msg.text[:4096]] for msg in messages[:2]]
    cid = "derived-" + hashlib.sha256(orjson.dumps(material)).hexdigest()[:20]
    meta = {"derived_id": True, "id_source": "first prompt and reply", "form": "exporter tree"}
    conv = _assemble(cid, None, None, None, messages, None, {}, {}, meta, ctx)
    if conv is not None:
        first_prompt = next((x.text for x in messages if x.role == m.USER and x.text), "")
        conv.title = first_prompt.strip().splitlines()[0][:100] if first_prompt.strip() else None
        yield conv


PROVIDER = Provider(
    name=NAME,
    display_name="DeepSeek",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=144,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=False),
)
