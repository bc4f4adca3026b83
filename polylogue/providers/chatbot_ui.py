"""Chatbot UI exports (docs/providers.md, "chatbot-ui"): the JSON file Chatbot UI
(mckaywrigley/chatbot-ui, the browser-storage versions) writes from "Export data".

Versions 2 to 4 are ``{version, history[], folders[], prompts[]}``; each
conversation is ``{id, name, messages[{role, content}], model{id, name},
prompt, temperature, folderId}``. The ``prompt`` (the system prompt) becomes a
context message before the dialogue; the model is the conversation's.
Folders and saved prompts are kept in meta, not as conversations. The
messages have neither ids nor times: ids are ``<conversation>:<index>``
(``meta.derived_id``), and times are unknown. An unknown version imports what
it can, with one warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, BinaryIO, Final

from .. import models as m
from ..errors import ParseError
from .assemble import guarded
from .base import Head, Provider, Records
from .common import ParseContext, as_dict, as_str, bounded, load_json, skip_on_error

NAME = "chatbot-ui"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

KNOWN_VERSIONS = frozenset({2, 3, 4})
_ROLES = {"user": m.USER, "assistant": m.ASSISTANT, "system": m.SYSTEM}


def sniff(head: Head) -> bool:
    return (
        head.kind == "json"
        and head.top == "object"
        and head.has("history", "start_array")
        and head.has("folders")
        and (head.has("history.item.messages") or head.has("version"))
        and not head.has("mapping")
    )


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    doc = load_json(stream, ctx=ctx)
    if not isinstance(doc, dict) or not isinstance(doc.get("history"), list):
        raise ParseError("not a Chatbot UI export (no history list)")
    version = doc.get("version")
    if version not in KNOWN_VERSIONS:
        ctx.warn(
            f"Chatbot UI export version {bounded(version, max_str=40)!r} is not one this parser knows (2-4); imported what it could read"
        )
    folders = {
        as_str(as_dict(f).get("id")): as_str(as_dict(f).get("name"))
        for f in doc.get("folders") or []
        if isinstance(f, dict)
    }
    for i, raw in enumerate(doc["history"]):
        yield from guarded(skip_on_error(ctx, f"conversation {i}"), partial(_conversation, raw, ctx, folders, version))


def _conversation(raw: Any, ctx: ParseContext, folders: dict, version: Any) -> m.Conversation | None:
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    cid = as_str(raw.get("id"))
    if not cid:
        raise ValueError("a conversation without an id")
    model = as_dict(raw.get("model"))
    model_id = as_str(model.get("id"))
    msgs: list[m.Message] = []
    prompt = as_str(raw.get("prompt"))
    if prompt:
        msgs.append(m.Message(f"{cid}:prompt", m.SYSTEM, [m.text(prompt)], context=True, meta={"derived_id": True}))
    for k, msg in enumerate(raw.get("messages") or []):
        d = as_dict(msg)
        role = _ROLES.get(as_str(d.get("role")) or "")
        meta: dict[str, Any] = {"derived_id": True}
        if role is None:
            meta["role"] = bounded(d.get("role"), max_str=40)
            role = m.SYSTEM
        content = d.get("content")
        text = content if isinstance(content, str) else as_str(content) or ""
        msgs.append(
            m.Message(
                f"{cid}:{k}",
                role,
                [m.text(text)] if text else [],
                parent_id=msgs[-1].id if msgs else None,
                model=model_id if role == m.ASSISTANT else None,
                context=role == m.SYSTEM,
                meta=meta,
            )
        )
    if not any(x.role in (m.USER, m.ASSISTANT) for x in msgs):
        ctx.warn(f"Chatbot UI conversation {cid} has no messages; nothing imported")
        return None
    meta = {"version": bounded(version)}
    if raw.get("temperature") is not None:
        meta["temperature"] = bounded(raw["temperature"])
    if model:
        meta["model"] = bounded(model, max_items=10)
    folder = folders.get(as_str(raw.get("folderId")))
    if folder:
        meta["folder"] = folder
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=as_str(raw.get("name")),
        messages=msgs,
        source_path=ctx.path,
        models=[model_id] if model_id else [],
        meta=meta,
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Chatbot UI",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=293,
    records=Records(usage=False, models=True, branches=False, thinking=False, subagents=False),
)
