"""Claude.ai (Anthropic data export): docs/providers.md, "claude".

Accepted inputs (all sniffed from content):

- the export's ``conversations.json``: a top-level array of conversations,
  streamed element by element;
- a single conversation object in the web-API shape (``chat_messages[]`` plus
  ``current_leaf_message_uuid``, ``settings``, ``model``...);
- a browser-capture wrapper ``{raw_provider_payload: <conversation>, ...}``;
- a Claude Design chat (``design_chats/*.json``):
  ``{uuid, project{uuid,name}, messages[{uuid, role, content{...}}]}``.

Side files of the export (``projects.json``, ``users.json``, ``memories.json``)
have no ``chat_messages`` and are never sniffed as conversations.

``content[]`` blocks are the source of truth; the flattened ``text`` is used
only when a message has no usable blocks. The tree comes from
``parent_message_uuid``; the active path from ``current_leaf_message_uuid``,
else the latest leaf. Without any parent links the conversation is linear in
array order (parents are then inferred from the order and flagged).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final, Literal

import orjson

from ..errors import ParseError
from ..models import (
    ASSISTANT,
    ATTACHMENT,
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
    attachment,
    opaque,
    text,
    thinking,
    tool_result,
    tool_use,
)
from .base import Head, Provider, Records
from .common import (
    ParseContext,
    active_path,
    as_dict,
    as_list,
    as_str,
    break_message_cycles,
    error_summary,
    json_text,
    latest_leaf,
    skip_on_error,
    to_utc,
)

NAME = "claude"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

ROOT_SENTINEL = "00000000-0000-4000-8000-000000000000"

_ROLES = {
    "human": USER,
    "user": USER,
    "assistant": ASSISTANT,
    "claude": ASSISTANT,
    "model": ASSISTANT,
    "system": SYSTEM,
    "tool": TOOL,
}

# keys read into typed fields; everything else non-empty is kept in meta
_CONV_KEYS = {"uuid", "id", "conversation_id", "name", "title", "created_at", "updated_at", "chat_messages", "account"}
_MSG_KEYS = {
    "uuid",
    "sender",
    "text",
    "content",
    "created_at",
    "parent_message_uuid",
    "attachments",
    "files",
    "files_v2",
}
_BLOCK_KEYS = {
    TEXT: {"type", "text"},
    THINKING: {"type", "thinking", "signature"},  # signature: an opaque verification blob, no user value
    TOOL_USE: {"type", "id", "name", "input"},
    TOOL_RESULT: {"type", "tool_use_id", "name", "content", "is_error"},
}
_ANT_THINKING = re.compile(r"<antThinking>(.*?)</antThinking>", re.S)


# ---------------------------------------------------------------- sniffing


def sniff(head) -> bool:
    if head.kind != "json":
        return False
    if head.top == "array":
        # conversations.json: items with chat_messages[] (projects/users/memories have none)
        return head.has("item.chat_messages")
    if head.top == "object":
        if head.has("chat_messages") or head.has("raw_provider_payload.chat_messages", "start_array"):
            return True
        return _is_design_head(head)
    return False


def _is_design_head(head) -> bool:
    return (
        head.has("uuid", "string")
        and head.has("messages", "start_array")
        and head.has("messages.item.uuid", "string")
        and head.has("messages.item.content", "start_map")
        and (
            head.has("project", "start_map")
            or head.has("messages.item.content.authorAccountUuid")
            or head.has("messages.item.content.contentBlocks")
        )
    )


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Conversation]:
    import ijson

    events = ijson.parse(stream, use_float=True)
    first = _next_event(events)
    if first is None:
        raise ParseError("empty document")
    _, event, _ = first
    if event == "start_map":
        obj = _next_item(ijson.items(itertools.chain([first], events), ""))
        if obj is _END:
            raise ParseError("empty document")
        conv = _any_conversation(obj, ctx, None)
        if conv is False:
            raise ParseError("not a Claude.ai conversation (no chat_messages)")
        if conv is not None:
            yield conv
        return
    if event != "start_array":
        raise ParseError("not a Claude.ai export: top level is neither an array nor an object")

    items = ijson.items(itertools.chain([first], events), "item")
    seen: set[str] = set()
    n_ok = n_other = 0
    index = 0
    while True:
        obj = _next_item(items, index)
        if obj is _END:
            break
        index += 1
        if not isinstance(obj, dict):
            n_other += 1
            ctx.warn(f"item {index}: not a conversation object ({type(obj).__name__})")
            continue
        conv = _any_conversation(obj, ctx, index)
        if conv is False:
            n_other += 1
            ctx.warn(f"item {index}: not a conversation (no chat_messages)")
            continue
        if conv is None:
            n_ok += 1  # a conversation, skipped with a warning (no messages / malformed)
            continue
        n_ok += 1
        if conv.provider_id in seen:
            ctx.warn(f"item {index}: conversation {conv.provider_id} repeated; the later copy replaces the earlier")
        seen.add(conv.provider_id)
        yield conv
    if n_other and not n_ok:
        raise ParseError("no Claude.ai conversations in this array (a side file such as projects.json?)")


_END = object()


def _next_event(events):
    import ijson

    try:
        return next(events)
    except StopIteration:
        return None
    except (ijson.JSONError, UnicodeDecodeError, ValueError, OverflowError, RecursionError) as e:
        raise ParseError(f"invalid JSON: {error_summary(e)}") from None


def _next_item(items, index: int | None = None):
    import ijson

    try:
        return next(items)
    except StopIteration:
        return _END
    except (ijson.JSONError, UnicodeDecodeError, ValueError, OverflowError, RecursionError) as e:
        where = f" after {index} items" if index else ""
        raise ParseError(f"invalid JSON{where}: {error_summary(e)}") from None


def _any_conversation(obj: Any, ctx: ParseContext, index: int | None) -> Conversation | None | Literal[False]:
    """A Conversation; None when it was one but is skipped (warned); False when
    the object is not a conversation at all."""
    if not isinstance(obj, dict):
        return False
    where = f"item {index}: " if index else ""
    with skip_on_error(ctx, f"{where}conversation"):  # a malformed conversation never takes the file down
        return _shaped_conversation(obj, ctx, where)
    return None  # it raised: skipped with a warning


def _shaped_conversation(obj: dict, ctx: ParseContext, where: str) -> Conversation | None | Literal[False]:
    """``_any_conversation`` by the object's shape: a chat, a captured chat, a Claude Design chat."""
    if "chat_messages" in obj:
        return _conversation(obj, ctx, where)
    payload = obj.get("raw_provider_payload")
    if isinstance(payload, dict) and "chat_messages" in payload:
        conv = _conversation(payload, ctx, where)
        if conv is not None:
            capture = {k: obj[k] for k in ("capture_id", "source", "polylogue_capture_kind") if _keep(obj.get(k))}
            prov = as_dict(obj.get("provenance"))
            for k in ("captured_at", "source_url", "adapter_name"):
                if _keep(prov.get(k)):
                    capture[k] = prov[k]
            if capture:
                conv.meta["capture"] = capture
        return conv
    if isinstance(obj.get("messages"), list) and any(
        isinstance(m, dict) and isinstance(m.get("content"), dict) for m in obj["messages"]
    ):
        return _design_conversation(obj, ctx, where)
    return False


# ---------------------------------------------------------------- claude.ai conversation


def _conversation(obj: dict, ctx: ParseContext, where: str) -> Conversation | None:
    cid = as_str(obj.get("uuid")) or as_str(obj.get("id")) or as_str(obj.get("conversation_id"))
    if ctx.unchanged(NAME, cid, to_utc(obj.get("updated_at"))):
        return None  # the archive holds this exact version: skip the conversion
    meta: dict[str, Any] = {}
    raw_msgs = obj.get("chat_messages")
    if not isinstance(raw_msgs, list):
        ctx.warn(f"{where}conversation {cid or '?'}: chat_messages is not a list; skipped")
        return None
    if not cid:
        cid = _derived_conv_id(obj, raw_msgs)
        meta["id_derived"] = True
    title = as_str(obj.get("name")) or as_str(obj.get("title")) or None

    messages: list[Message] = []
    raw_parent: dict[str, Any] = {}  # message id -> raw parent_message_uuid (absent key -> _MISSING)
    by_id: dict[str, Message] = {}
    for i, rm in enumerate(raw_msgs):
        if not isinstance(rm, dict):
            ctx.warn(f"{where}conversation {cid}: message {i} is not an object; skipped")
            continue
        m = None
        with skip_on_error(ctx, f"{where}conversation {cid}: message {i}"):
            m = _message(rm, cid, i)
        if m is None:
            continue
        if m.id in by_id:
            ctx.warn(f"{where}conversation {cid}: duplicate message {m.id}; first occurrence kept")
            continue
        by_id[m.id] = m
        raw_parent[m.id] = rm.get("parent_message_uuid", _MISSING)
        messages.append(m)
    if not messages:
        ctx.warn(f"{where}conversation {cid}: no messages; skipped")
        return None

    leaf = as_str(obj.get("current_leaf_message_uuid"))
    _build_tree(messages, raw_parent, leaf, meta)
    _pair_tools(messages)

    models: list[str] = []
    model = as_str(obj.get("model"))
    if model:
        models.append(model)
    account = as_dict(obj.get("account"))
    if as_str(account.get("uuid")):
        meta["account_uuid"] = account["uuid"]
    for k, v in obj.items():
        if k not in _CONV_KEYS and k not in meta and _keep(v):
            meta[k] = v
    project = as_dict(obj.get("project"))
    project_name = as_str(project.get("name")) or as_str(project.get("uuid")) or as_str(obj.get("project_uuid"))

    stamps = [m.timestamp for m in messages if m.timestamp]
    return Conversation(
        provider=NAME,
        provider_id=cid,
        title=title,
        created_at=to_utc(obj.get("created_at")) or (min(stamps) if stamps else None),
        updated_at=to_utc(obj.get("updated_at")) or (max(stamps) if stamps else None),
        messages=messages,
        models=models,
        project=project_name,
        meta=meta,
    )


_MISSING = object()


def _derived_conv_id(obj: dict, raw_msgs: list) -> str:
    """No uuid: a stable id from content that does not change as the chat grows."""
    first = next((m for m in raw_msgs if isinstance(m, dict)), {})
    basis = [
        as_str(obj.get("created_at")),
        as_str(first.get("uuid")),
        as_str(first.get("created_at")),
        as_str(first.get("text")),
    ]
    return "derived-" + hashlib.sha1(orjson.dumps(basis)).hexdigest()[:20]


def _message(rm: dict, cid: str, index: int) -> Message:
    meta: dict[str, Any] = {}
    mid = as_str(rm.get("uuid"))
    if not mid:
        mid = f"{cid}#{index}"
        meta["id_derived"] = True
    sender = as_str(rm.get("sender"))
    role = _ROLES.get((sender or "").lower())
    if role is None:
        meta["sender"] = rm.get("sender")
        role = _infer_role(rm)
        meta["role_inferred"] = True

    blocks = _content_blocks(rm.get("content"), role, meta)
    flat = as_str(rm.get("text"))
    if not blocks and flat:
        blocks = _split_ant_thinking(flat) if role == ASSISTANT else [text(flat)]
        meta["from_text"] = True  # no usable content[]: the flattened text was used
    elif flat and flat.strip() and not any(b.type in (TEXT, THINKING) for b in blocks):
        meta["flat_text"] = flat  # content[] has only tools/unknown blocks: keep the summary text

    for a in as_list(rm.get("attachments")):
        if isinstance(a, dict):
            blocks.append(_attachment_block(a))
    seen_files: set[str] = set()
    for f in itertools.chain(as_list(rm.get("files")), as_list(rm.get("files_v2"))):
        if not isinstance(f, dict):
            continue
        key = as_str(f.get("file_uuid")) or as_str(f.get("uuid")) or json_text(f)
        if key in seen_files:  # files_v2 repeats files
            continue
        seen_files.add(key)
        blocks.append(_file_block(f))

    ts = to_utc(rm.get("created_at"))
    for k, v in rm.items():
        if k in _MSG_KEYS or not _keep(v):
            continue
        if k == "updated_at" and v == rm.get("created_at"):
            continue
        meta[k] = v
    return Message(
        id=mid,
        role=role,
        blocks=blocks,
        timestamp=ts,
        context=role == SYSTEM,
        meta=meta or None,
    )


def _infer_role(rm: dict) -> str:
    for b in as_list(rm.get("content")):
        if isinstance(b, dict) and b.get("type") in ("thinking", "tool_use", "tool_result"):
            return ASSISTANT
    return USER


def _content_blocks(content: Any, role: str, mmeta: dict) -> list[Block]:
    if isinstance(content, str):  # third-party shape: content as a plain string
        return _split_ant_thinking(content) if role == ASSISTANT else ([text(content)] if content else [])
    out: list[Block] = []
    for b in as_list(content):
        if isinstance(b, str):
            if b:
                out.append(text(b))
            continue
        if not isinstance(b, dict):
            if b is not None:
                out.append(opaque(b))
            continue
        kind = b.get("type")
        if kind == "text":
            s = as_str(b.get("text"))
            if not s:
                continue  # empty or null text carries nothing
            extra = _extra(b, _BLOCK_KEYS[TEXT])
            if role == ASSISTANT and "citations" not in extra and "<antThinking>" in s:
                out.extend(_split_ant_thinking(s))
            else:
                blk = text(s)
                blk.meta = extra or None
                out.append(blk)
        elif kind == "thinking":
            s = as_str(b.get("thinking")) or ""
            if not s:
                s = "\n\n".join(
                    x for x in (as_str(as_dict(y).get("summary")) for y in as_list(b.get("summaries"))) if x
                )
            blk = thinking(s)
            blk.meta = _extra(b, _BLOCK_KEYS[THINKING]) or None
            out.append(blk)
        elif kind == "tool_use":
            blk = tool_use(as_str(b.get("id")) or None, as_str(b.get("name")), b.get("input"))
            blk.meta = _extra(b, _BLOCK_KEYS[TOOL_USE]) or None
            out.append(blk)
        elif kind == "tool_result":
            is_error = b.get("is_error")
            output = _result_text(b.get("content"))
            if not output and b.get("structured_content") is not None:
                output = json_text(b.get("structured_content"))
            blk = tool_result(
                as_str(b.get("tool_use_id")) or None, output, is_error if isinstance(is_error, bool) else None
            )
            blk.name = as_str(b.get("name"))
            blk.meta = _extra(b, _BLOCK_KEYS[TOOL_RESULT]) or None
            out.append(blk)
        elif kind == "token_budget":
            mmeta["token_budget"] = b.get("remaining")  # a budget marker, not usage
        else:
            out.append(opaque(b))
    return out


def _split_ant_thinking(s: str) -> list[Block]:
    """2024 captures put model asides inline as <antThinking>…</antThinking>:
    those become thinking blocks so they never count as the visible answer."""
    if "<antThinking>" not in s:
        return [text(s)] if s else []
    out: list[Block] = []
    pos = 0
    for m in _ANT_THINKING.finditer(s):
        before = s[pos : m.start()].strip()
        if before:
            out.append(text(before))
        blk = thinking(m.group(1).strip())
        blk.meta = {"inline": "antThinking"}
        out.append(blk)
        pos = m.end()
    after = s[pos:].strip()
    if after:
        out.append(text(after))
    return out


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for item in as_list(content):
        if isinstance(item, str):
            parts.append(item)
            continue
        if not isinstance(item, dict):
            if item is not None:
                parts.append(json_text(item))
            continue
        body = as_str(item.get("text"))
        if item.get("type") == "text" and body is not None:
            parts.append(body)
            continue
        head = " ".join(x for x in (as_str(item.get("title")), as_str(item.get("url"))) if x)
        if head or body:
            parts.append("\n".join(x for x in (head, body) if x))
        else:
            parts.append(json_text(item))
    return "\n\n".join(p for p in parts if p)


def _attachment_block(a: dict) -> Block:
    """Pasted or uploaded text: extracted_content is inline and searchable."""
    return attachment(
        as_str(a.get("file_name")) or as_str(a.get("name")),
        extracted=as_str(a.get("extracted_content")) or "",
        mime=as_str(a.get("file_type")),
        size=a.get("file_size") if isinstance(a.get("file_size"), int) else None,
        file_id=as_str(a.get("id")),
        created_at=as_str(a.get("created_at")),
    )


def _file_block(f: dict) -> Block:
    """An uploaded image or binary: a reference only, the bytes are not in the export."""
    return attachment(
        as_str(f.get("file_name")),
        kind=ATTACHMENT,
        file_id=as_str(f.get("file_uuid")) or as_str(f.get("uuid")),
        file_kind=as_str(f.get("file_kind")),
        size=f.get("size_bytes") if isinstance(f.get("size_bytes"), int) else None,
        created_at=as_str(f.get("created_at")),
        url=as_str(f.get("preview_url")) or as_str(as_dict(f.get("preview_asset")).get("url")),
        thumbnail_url=as_str(f.get("thumbnail_url")),
        path=as_str(f.get("path")),
    )


def _keep(v: Any) -> bool:
    return v is not None and v is not False and v != "" and v != [] and v != {}


def _extra(d: dict, consumed: set[str]) -> dict:
    return {k: v for k, v in d.items() if k not in consumed and _keep(v)}


# ---------------------------------------------------------------- tree and tools


def _build_tree(messages: list[Message], raw_parent: dict[str, Any], leaf: str | None, meta: dict) -> None:
    ids = {m.id for m in messages}
    has_links = any(isinstance(p, str) and p for p in raw_parent.values())
    if leaf:
        meta["current_leaf_message_uuid"] = leaf
    if not has_links:
        # linear in array order: parents inferred, every message on the active path
        prev = None
        for m in messages:
            m.parent_id = prev
            m.active = True
            prev = m.id
        meta["tree"] = "linear"
        meta["active_leaf"] = messages[-1].id
        return

    parent: dict[str, str | None] = {}
    prev = None
    for m in messages:
        p = raw_parent.get(m.id)
        if p is _MISSING or p is None:
            if prev is not None:
                parent[m.id] = prev
                m.meta = {**(m.meta or {}), "parent_inferred": True}
            else:
                parent[m.id] = None
        elif not isinstance(p, str) or not p or p == ROOT_SENTINEL or p == m.id:
            parent[m.id] = None
        elif p not in ids:
            parent[m.id] = None
            m.meta = {**(m.meta or {}), "parent_missing": p}
        else:
            parent[m.id] = p
        prev = m.id
    for m in messages:
        m.parent_id = parent[m.id]
    break_message_cycles(messages)  # no real export has loops; a store walking parents must terminate

    if leaf not in ids:
        best, chosen = latest_leaf(messages)
        leaf = best.id
        if chosen:
            meta["active_leaf_inferred"] = True  # no marker and a real choice between branches
    meta["active_leaf"] = leaf
    active = active_path(leaf, {m.id: m.parent_id for m in messages})
    for m in messages:
        m.active = m.id in active


def _pair_tools(messages: list[Message]) -> None:
    """Pair by id <-> tool_use_id when both exist; otherwise by adjacency: a
    result without an id answers the earliest unanswered call of the same name."""
    result_ids = {b.id for m in messages for b in m.blocks if b.type == TOOL_RESULT and b.id}
    pending: list[tuple[Message, int, Block]] = []
    for m in messages:
        for k, b in enumerate(m.blocks):
            if b.type == TOOL_USE:
                if not b.id or b.id not in result_ids:
                    pending.append((m, k, b))
            elif b.type == TOOL_RESULT and not b.id:
                for j, (cm, ck, call) in enumerate(pending):
                    if b.name is None or call.name is None or call.name == b.name:
                        if not call.id:
                            call.id = f"{cm.id}:tool:{ck}"
                            call.meta = {**(call.meta or {}), "id_derived": True}
                        b.id = call.id
                        b.meta = {**(b.meta or {}), "paired_by": "adjacency"}
                        del pending[j]
                        break


# ---------------------------------------------------------------- Claude Design


def _design_conversation(obj: dict, ctx: ParseContext, where: str) -> Conversation | None:
    cid = as_str(obj.get("uuid")) or as_str(obj.get("id"))
    meta: dict[str, Any] = {"origin": "claude-design"}
    if not cid:
        cid = _derived_conv_id(obj, as_list(obj.get("messages")))
        meta["id_derived"] = True
    messages: list[Message] = []
    seen: set[str] = set()
    prev: str | None = None
    for i, rm in enumerate(as_list(obj.get("messages"))):
        if not isinstance(rm, dict):
            ctx.warn(f"{where}design chat {cid}: message {i} is not an object; skipped")
            continue
        m = None
        with skip_on_error(ctx, f"{where}design chat {cid}: message {i}"):
            m = _design_message(rm, cid, i)
        if m is None:
            continue
        if m.id in seen:
            ctx.warn(f"{where}design chat {cid}: duplicate message {m.id}; first occurrence kept")
            continue
        seen.add(m.id)
        m.parent_id = prev
        prev = m.id
        messages.append(m)
    if not messages:
        ctx.warn(f"{where}design chat {cid}: no messages; skipped")
        return None
    meta["tree"] = "linear"
    meta["active_leaf"] = messages[-1].id
    _pair_tools(messages)
    project = as_dict(obj.get("project"))
    if as_str(project.get("uuid")):
        meta["project_uuid"] = project["uuid"]
    for k, v in obj.items():
        if k not in ("uuid", "id", "messages", "project", "name", "title", "created_at", "updated_at") and _keep(v):
            meta[k] = v
    stamps = [m.timestamp for m in messages if m.timestamp]
    return Conversation(
        provider=NAME,
        provider_id=cid,
        title=as_str(obj.get("name")) or as_str(obj.get("title")) or None,
        created_at=to_utc(obj.get("created_at")) or (min(stamps) if stamps else None),
        updated_at=to_utc(obj.get("updated_at")) or (max(stamps) if stamps else None),
        messages=messages,
        project=as_str(project.get("name")) or as_str(project.get("uuid")),
        meta=meta,
    )


def _design_message(rm: dict, cid: str, index: int) -> Message:
    meta: dict[str, Any] = {}
    c = as_dict(rm.get("content"))
    mid = as_str(rm.get("uuid")) or as_str(c.get("id"))
    if not mid:
        mid = f"{cid}#{index}"
        meta["id_derived"] = True
    raw_role = as_str(rm.get("role")) or as_str(c.get("role"))
    role = _ROLES.get((raw_role or "").lower())
    if role is None:
        meta["role"] = raw_role
        role = USER
        meta["role_inferred"] = True
    blocks: list[Block] = []
    for b in as_list(c.get("contentBlocks")):
        if not isinstance(b, dict):
            if b is not None:
                blocks.append(opaque(b))
            continue
        kind = b.get("type")
        if kind == "text" and as_str(b.get("text")):
            blocks.append(text(b["text"]))
        elif kind == "thinking" and as_str(b.get("text") or b.get("thinking")):
            blocks.append(thinking(as_str(b.get("text") or b.get("thinking")) or ""))
        elif kind == "tool_call" and isinstance(b.get("toolCall"), dict):
            call = b["toolCall"]
            call_id = as_str(call.get("id")) or f"{mid}:tool:{len(blocks)}"
            use = tool_use(call_id, as_str(call.get("name")), call.get("input"))
            use.meta = _extra(call, {"id", "name", "input", "output"}) or None
            if not as_str(call.get("id")):
                use.meta = {**(use.meta or {}), "id_derived": True}
            blocks.append(use)
            if "output" in call and call["output"] is not None:
                res = tool_result(call_id, json_text(call["output"]))
                res.name = use.name
                blocks.append(res)
        elif kind in ("text", "thinking"):
            continue  # empty
        else:
            blocks.append(opaque(b))
    if not any(b.type == TEXT for b in blocks):
        body = as_str(c.get("content"))
        if body:
            blocks.insert(0, text(body))
    for a in as_list(c.get("attachments")):
        if not isinstance(a, dict):
            continue
        blk = attachment(
            as_str(a.get("name")),
            extracted=as_str(a.get("content")) or "",
            file_id=as_str(a.get("id")),
            path=as_str(a.get("path")),
            attachment_type=as_str(a.get("type")),
            hidden=a.get("hidden") if a.get("hidden") is True else None,
        )
        blocks.append(blk)
    usage = None
    tokens = c.get("turnInputTokens")
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        usage = {"input": tokens, "convention": "anthropic"}
    for k in ("authorAccountUuid", "authorName", "pill"):
        if _keep(c.get(k)):
            meta[k] = c[k]
    ts = to_utc(rm.get("created_at")) or to_utc(c.get("timestamp"))
    return Message(
        id=mid, role=role, blocks=blocks, timestamp=ts, usage=usage, context=role == SYSTEM, meta=meta or None
    )


def _side_file(head: Head) -> bool:
    """The export's ``users.json``, ``memories.json`` and ``projects.json``."""
    return (
        head.kind == "json"
        and head.top == "array"
        and any(
            head.has(k)
            for k in ("item.email_address", "item.conversations_memory", "item.prompt_template", "item.docs")
        )
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Claude",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=30,
    records=Records(usage=True, models=True, branches=True, thinking=True),  # usage: Claude Design chats only
    side_file=_side_file,
)
