"""Turn a Conversation into the rows the writer stores. Pure CPU work (JSON,
compression, hashing, index text), so it runs in the parse workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import xxhash

from .. import models as m
from ..textutil import split_cjk
from . import codec

# messages.flags bits
ACTIVE, CONTEXT, SIDECHAIN, HAS_THINKING, HAS_TOOLS, HAS_ATTACHMENTS = 1, 2, 4, 8, 16, 32
# conversations.features bits
F_THINKING, F_TOOLS, F_ATTACHMENTS = 1, 2, 4

FTS_COLUMNS = ("text", "thinking", "tool_use", "tool_result")
_KIND_COLUMN = {m.TEXT: 0, m.IMAGE: 0, m.ATTACHMENT: 0, m.THINKING: 1, m.TOOL_USE: 2, m.TOOL_RESULT: 3}
TITLE_FALLBACK_CHARS = 80


def ms(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


def search_columns(blocks: list[m.Block]) -> tuple[str, str, str, str]:
    """Each search kind's text as written: what search hits and --regex read."""
    cols: list[list[str]] = [[], [], [], []]
    for b in blocks:
        i = _KIND_COLUMN.get(b.type)
        if i is not None:
            t = b.search_text()
            if t:
                cols[i].append(t)
    return tuple("\n".join(c) for c in cols)  # type: ignore[return-value]


def fts_values(blocks: list[m.Block]) -> tuple[str, str, str, str]:
    """Index text per search kind. Must stay deterministic: contentless FTS
    deletes replay these exact values."""
    return tuple(split_cjk(c) for c in search_columns(blocks))  # type: ignore[return-value]


def _hash(*parts: Any) -> int:
    h = xxhash.xxh3_64()
    for p in parts:
        h.update(p if isinstance(p, bytes) else codec.dumps(p))
    return h.intdigest() - (1 << 63)  # fits SQLite's signed INTEGER


class MessageRow(NamedTuple):  # a NamedTuple: 4x cheaper than a dataclass to pickle between processes
    seq: int
    mid: str
    parent_mid: str | None
    role: str
    timestamp: int | None
    flags: int
    model: str | None
    usage: bytes | None  # JSON, encoded like content
    meta: bytes | None  # JSON, encoded like content
    content: bytes | None  # None (with fts None): "kept", the archive holds this message as it is
    hash: int
    fts: tuple[str, str, str, str] | None


@dataclass(slots=True)
class ConversationRow:
    uid: str
    provider: str
    provider_id: str
    title: str | None
    created_at: int | None
    updated_at: int | None
    parent_uid: str | None
    project: str | None
    models: str | None
    meta: bytes | None  # JSON, encoded like message content (a Codex session's meta can be 10 KB)
    features: int
    input_tokens: int
    output_tokens: int
    hash: int
    messages: list[MessageRow]
    prune: bool = True  # may the writer delete stored messages this parse no longer has?
    source_path: str | None = None
    nbytes: int = 0  # stored bytes plus index text: what holding this row costs in memory


def _json(v: Any) -> str | None:
    return codec.dumps(v).decode() if v else None


def _first_prompt(conv: m.Conversation) -> str | None:
    for msg in conv.messages:
        if msg.role == m.USER and not msg.context:
            t = " ".join(msg.text.split())
            if t:
                return t if len(t) <= TITLE_FALLBACK_CHARS else t[: TITLE_FALLBACK_CHARS - 1] + "…"
    return None


def encode(conv: m.Conversation, prune: bool = True, stored: dict[str, int] | None = None) -> ConversationRow:
    """The rows to store. ``stored`` (message id -> hash, as the archive holds
    this conversation) marks the messages that did not change as kept: they are
    hashed but neither compressed nor split for the index, which is most of the
    cost when a long session grew by a few messages."""
    rows: list[MessageRow] = []
    features = 0
    tokens_in = tokens_out = 0
    seen: set[str] = set()
    nbytes = 0
    for seq, msg in enumerate(conv.messages):
        mid = msg.id
        if mid in seen:  # parsers should not emit duplicates; never let one break the diff
            mid = f"{mid}#{seq}"
        seen.add(mid)
        flags = (ACTIVE if msg.active else 0) | (CONTEXT if msg.context else 0) | (SIDECHAIN if msg.sidechain else 0)
        for b in msg.blocks:
            if b.type == m.THINKING:
                flags |= HAS_THINKING
            elif b.type in (m.TOOL_USE, m.TOOL_RESULT):
                flags |= HAS_TOOLS
            elif b.type in (m.IMAGE, m.ATTACHMENT):
                flags |= HAS_ATTACHMENTS
        features |= (
            (F_THINKING if flags & HAS_THINKING else 0)
            | (F_TOOLS if flags & HAS_TOOLS else 0)
            | (F_ATTACHMENTS if flags & HAS_ATTACHMENTS else 0)
        )
        if msg.usage:
            tokens_in += _int(msg.usage.get("input"))
            if msg.usage.get("convention") == "anthropic":  # Anthropic's input excludes the cache lanes
                tokens_in += _int(msg.usage.get("cache_read")) + _int(msg.usage.get("cache_write"))
            tokens_out += _int(msg.usage.get("output"))
        raw = codec.dumps([codec.block_to_dict(b) for b in msg.blocks])
        usage, meta = _json(msg.usage), _json(msg.meta)
        ts = ms(msg.timestamp)
        # hash the JSON, not the stored bytes: a new compression dictionary changes no hash
        h = _hash(raw, [seq, mid, msg.parent_id, msg.role, ts, flags, msg.model, usage, meta])
        if stored is not None and stored.get(mid) == h:
            rows.append(MessageRow(seq, mid, msg.parent_id, msg.role, ts, flags, msg.model, None, None, None, h, None))
            continue
        content = codec.encode_json(raw)
        # usage and meta JSON are stored like content (compressed with the archive's dictionary)
        fts = fts_values(msg.blocks)
        nbytes += len(content) + len(fts[0]) + len(fts[1]) + len(fts[2]) + len(fts[3])
        rows.append(
            MessageRow(
                seq, mid, msg.parent_id, msg.role, ts, flags, msg.model, _pack(usage), _pack(meta), content, h, fts
            )
        )
    title = conv.title or _first_prompt(conv)
    created = ms(conv.created_at)
    updated = ms(conv.updated_at)
    stamps = [r.timestamp for r in rows if r.timestamp is not None]
    if created is None and stamps:
        created = min(stamps)
    if updated is None:
        updated = max(stamps) if stamps else created
    models_json = _json(list(dict.fromkeys(conv.models)))
    meta_json = _json(conv.meta)
    h = _hash(
        [conv.id, title, created, updated, conv.parent_id, conv.project, models_json, meta_json],
        *(r.hash.to_bytes(8, "little", signed=True) for r in rows),
    )
    return ConversationRow(
        conv.id,
        conv.provider,
        conv.provider_id,
        title,
        created,
        updated,
        conv.parent_id,
        conv.project,
        models_json,
        _pack(meta_json),
        features,
        tokens_in,
        tokens_out,
        h,
        rows,
        prune,
        conv.source_path,
        nbytes,
    )


def _pack(text: str | None) -> bytes | None:
    return None if text is None else codec.encode_json(text.encode())


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0
