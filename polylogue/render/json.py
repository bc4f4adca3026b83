"""Lossless JSON of a conversation: every message and block."""

from __future__ import annotations

from typing import Any

import orjson

from ..fmt import iso_utc
from ..models import Conversation, Message
from ..store.codec import block_to_dict


def message_dict(m: Message) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": m.role,
        "timestamp": iso_utc(m.timestamp),
        "active": m.active,
        "context": m.context,
        "sidechain": m.sidechain,
        "blocks": [block_to_dict(b) for b in m.blocks],
    }
    if m.model:
        d["model"] = m.model
    if m.usage:
        d["usage"] = m.usage
    if m.meta:
        d["meta"] = m.meta
    return d


def conversation_dict(c: Conversation) -> dict[str, Any]:
    meta = {k: v for k, v in c.meta.items() if k != "archive_rowid"}
    return {
        "id": c.id,
        "provider": c.provider,
        "provider_id": c.provider_id,
        "title": c.title,
        "created_at": iso_utc(c.created_at),
        "updated_at": iso_utc(c.updated_at),
        "message_count": len(c.messages),
        "parent_id": c.parent_id,
        "project": c.project,
        "models": c.models,
        "source_path": c.source_path,
        "meta": meta,
        "messages": [message_dict(m) for m in c.messages],
    }


def render(c: Conversation, *, indent: bool = True) -> str:
    opt = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(conversation_dict(c), option=opt).decode()
