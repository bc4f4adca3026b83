"""Grok web export (docs/providers.md, "grok"): ``prod-grok-backend.json`` from
grok.com's "Download your data".

Shape::

    {conversations: [{conversation: {id, title, create_time, modify_time, summary?,
                                     user_id?, starred?, system_prompt_name?, ...},
                      responses: [{response: {_id, conversation_id, parent_response_id?,
                                              sender, message, create_time, model?,
                                              thinking_trace?, web_search_results[]?,
                                              cited_web_search_results[]?, generated_image_urls[]?,
                                              file_attachments[]?, image_attachments[]?, ...},
                                   share_link?}]}],
     projects?, tasks?, media_generations?}

A response may also be flat (``{sender, message, create_time}``, tools that
rewrite the export). ``create_time`` is ISO or Mongo ``{"$date": {"$numberLong":
"<ms>"}}``. ``sender`` casing varies (``human``, ``ASSISTANT``): ``human``/``user``
are the user, anything else the assistant (an unknown sender is kept in meta).

Tree: ``parent_response_id`` where present (edits and regenerations are
branches); otherwise each response follows the previous one. The export marks
no active leaf: the latest leaf by time is active, flagged ``meta.active_leaf =
"inferred"``. ``thinking_trace`` becomes a thinking block; ``<grok:render>``
citation cards are cut from the text (counted in ``meta.render_tags``); search
results and citations are kept bounded in meta; generated images and attached
files become image/attachment blocks.

Identity: ``conversation.id`` and ``response._id``. Without them (the flat
shape): ``derived-`` + sha256 of (create_time, title, first message)[:20] and
``<conversation>:<index>``, flagged ``meta.derived_id``/``meta.id_derived``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import export_conversations, models_of, settle_tree
from .base import Head, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    iter_export_items,
    load_json,
    read_time,
    replay,
    skip_on_error,
)

NAME = "grok"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

_USER_SENDERS = frozenset({"human", "user"})
_ASSISTANT_SENDERS = frozenset({"assistant", "grok", "model"})
_RENDER = re.compile(r"<grok:render\b[^>]*>.*?</grok:render>|<grok:render\b[^>]*/>|</?xai:[^>]*>", re.S)
# response fields mapped explicitly; the rest is kept bounded in meta["extra"]
_KNOWN = frozenset(
    {
        "_id",
        "id",
        "conversation_id",
        "parent_response_id",
        "sender",
        "message",
        "create_time",
        "model",
        "thinking_trace",
        "web_search_results",
        "cited_web_search_results",
        "generated_image_urls",
        "file_attachments",
        "image_attachments",
        "metadata",
    }
)


# ---------------------------------------------------------------- sniffing


def sniff(head: Head) -> bool:
    if head.kind != "json" or head.top != "object":
        return False
    if head.has("conversations", "start_array"):
        return head.has("conversations.item.conversation", "start_map") and head.has(
            "conversations.item.responses", "start_array"
        )
    # one conversation entry on its own (tools that split the export)
    return head.has("conversation", "start_map") and head.has("responses", "start_array")


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    head = stream.read(1 << 16)
    src = replay(head, stream)
    if head.lstrip()[:1] != b"{":
        raise ParseError("not a Grok export (expected a JSON object)")
    if _single_entry(head):
        doc = load_json(src, ctx=ctx)
        if not isinstance(doc, dict) or not isinstance(doc.get("responses"), list):
            raise ParseError("not a Grok export (no conversations)")
        yield from export_conversations([(0, doc)], _conversation, ctx)
        return
    count = yield from export_conversations(iter_export_items(src, ctx, "conversations.item"), _conversation, ctx)
    if not count:
        raise ParseError("not a Grok export (no conversations array)")


def _single_entry(head: bytes) -> bool:
    """True when the document is one ``{conversation, responses}`` entry, not the export."""
    import io

    import ijson

    try:
        for prefix, event, value in ijson.parse(io.BytesIO(head)):
            if prefix == "" and event == "map_key":
                if value == "conversations":
                    return False
                if value in ("conversation", "responses"):
                    return True
    except ijson.JSONError:
        pass
    return False


def _conversation(item: Any, index: int, ctx: ParseContext) -> m.Conversation | None:
    if not isinstance(item, dict):
        ctx.warn(f"conversation {index}: not a JSON object ({type(item).__name__}); skipped")
        return None
    info = as_dict(item.get("conversation"))
    responses = item.get("responses")
    if not isinstance(responses, list):
        ctx.warn(f"conversation {index}: no responses array; skipped")
        return None
    meta: dict[str, Any] = {}
    created = read_time(info.get("create_time"), meta, "create_time")
    updated = read_time(info.get("modify_time"), meta, "modify_time")
    cid = as_str(info.get("id"))
    entries = [_unwrap(r) for r in responses]
    if not cid:
        cid = _derived_id(info, entries)
        meta.update(derived_id=True, id_source="create_time+title+first message")
    if ctx.unchanged(NAME, cid, updated):
        return None
    messages: list[m.Message] = []
    parents: dict[str, str | None] = {}
    explicit = False
    unknown_shape = 0
    render_tags = 0
    prev: str | None = None
    seen: set[str] = set()
    for i, (resp, share) in enumerate(entries):
        if resp is None:
            unknown_shape += 1
            continue
        msg = None
        with skip_on_error(ctx, f"conversation {index}, response {i}"):
            msg, tags = _message(resp, share, cid, i)
            render_tags += tags
        if msg is None:
            continue
        if msg.id in seen:
            continue  # a repeated response: the first one stands
        seen.add(msg.id)
        parent = as_str(resp.get("parent_response_id"))
        if parent:
            explicit = True
        msg.parent_id = parent if parent else prev
        parents[msg.id] = msg.parent_id
        prev = msg.id
        messages.append(msg)
    if unknown_shape:
        ctx.warn(
            f"conversation {index}: {unknown_shape} response(s) of an unknown shape (no message, no response object) skipped"
        )
    if not messages:
        if not responses:
            return None  # an empty conversation: nothing to keep
        ctx.warn(f"conversation {index}: no messages; skipped")
        return None
    settle_tree(messages, meta)
    if not explicit:
        meta["tree"] = "linear"
    if render_tags:
        meta["render_tags"] = render_tags
    for key in ("summary", "user_id", "starred", "system_prompt_name", "temporary", "model"):
        if info.get(key) not in (None, ""):
            meta[key] = bounded(info[key], max_total=4 << 10)
    stamps = [msg.timestamp for msg in messages if msg.timestamp]
    models = models_of(messages)
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=as_str(info.get("title")) or None,
        created_at=created or (min(stamps) if stamps else None),
        updated_at=updated or (max(stamps) if stamps else created),
        messages=messages,
        source_path=ctx.path,
        models=models,
        meta=meta,
    )


def _unwrap(entry: Any) -> tuple[dict | None, Any]:
    """(the response fields, its share_link) of a wrapped or flat response; None for neither."""
    if not isinstance(entry, dict):
        return None, None
    inner = entry.get("response")
    if isinstance(inner, dict):
        return inner, entry.get("share_link")
    if "message" in entry or "sender" in entry:
        return entry, None
    return None, None


def _derived_id(info: dict, entries: list[tuple[dict | None, Any]]) -> str:
    first = next((r for r, _ in entries if r is not None), {})
    material = [
        bounded(info.get("create_time"), max_total=200),
        as_str(info.get("title")),
        bounded(first.get("create_time"), max_total=200),
        (as_str(first.get("message")) or "")[:4096],
    ]
    return "derived-" + hashlib.sha256(orjson.dumps(material)).hexdigest()[:20]


def _message(resp: dict, share: Any, cid: str, i: int) -> tuple[m.Message | None, int]:
    meta: dict[str, Any] = {}
    sender = as_str(resp.get("sender")) or ""
    low = sender.lower()
    role = m.USER if low in _USER_SENDERS else m.ASSISTANT
    if low not in _USER_SENDERS and low not in _ASSISTANT_SENDERS:
        meta["sender"] = sender[:80]
    mid = as_str(resp.get("_id")) or as_str(resp.get("id"))
    if not mid:
        mid = f"{cid}:{i}"
        meta["id_derived"] = True
    raw = resp.get("message")
    text = raw if isinstance(raw, str) else ""
    text, tags = _RENDER.subn("", text)
    blocks: list[m.Block] = []
    trace = resp.get("thinking_trace")
    if isinstance(trace, str) and trace.strip():
        blocks.append(m.thinking(trace))
    if text.strip():
        blocks.append(m.text(text.strip()))
    for url in as_list(resp.get("generated_image_urls")):
        if isinstance(url, str) and url:
            blocks.append(m.attachment(None, kind=m.IMAGE, url=url, generated=True))
    for key, kind in (("image_attachments", m.IMAGE), ("file_attachments", m.ATTACHMENT)):
        for ref in as_list(resp.get(key)):
            name = as_str(ref) or (as_str(ref.get("name")) if isinstance(ref, dict) else None)
            if name:
                blocks.append(m.attachment(name, kind=kind, file_id=name))
    if not blocks:
        if raw is not None and not isinstance(raw, str):
            blocks.append(m.opaque(bounded(raw)))
        else:
            meta["empty"] = True
    for key in ("web_search_results", "cited_web_search_results", "metadata"):
        if resp.get(key) not in (None, [], {}):
            meta[key] = bounded(resp[key], max_total=16 << 10)
    if share not in (None, "", {}):
        meta["share_link"] = bounded(share, max_total=1 << 10)
    extra = {k: v for k, v in resp.items() if k not in _KNOWN}
    if extra:
        meta["extra"] = bounded(extra, max_total=8 << 10)
    ts = read_time(resp.get("create_time"), meta, "create_time")
    model = as_str(resp.get("model")) if role == m.ASSISTANT else None
    return (
        m.Message(id=mid, role=role, blocks=blocks, timestamp=ts, model=model or None, meta=meta or None),
        tags,
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Grok",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=142,
    records=Records(usage=False, models=True, branches=True, thinking=True, subagents=False),
)
