"""Turn a Conversation into the rows the writer stores. Pure CPU work (JSON,
compression, hashing, index text), so it runs in the parse workers."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import xxhash

from .. import models as m
from ..textutil import split_cjk
from . import codec
from .usage import Response, response_of, session_of

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
    content: bytes | None  # None: "kept", the archive holds this message as it is
    hash: int
    usage_row: Response | None = None  # what the message adds to the usage ledger (store/usage.py)


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
    # a part of a conversation handed over in parts (encode_parts): more parts follow. The
    # last part (more=False, no messages) carries the conversation's own fields and hash.
    more: bool = False
    sessions: tuple[Response, ...] = ()  # session-level usage beyond what the messages carry


def _json(v: Any) -> str | None:
    return codec.dumps(v).decode() if v else None


def _first_prompt(conv: m.Conversation) -> str | None:
    for msg in conv.messages:
        t = _prompt_title(msg)
        if t:
            return t
    return None


def _prompt_title(msg: m.Message) -> str | None:
    """The title a user's prompt gives a conversation that has none."""
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
    totals = _Totals()
    rows = [totals.row(seq, msg, stored) for seq, msg in enumerate(conv.messages)]
    title = conv.title or _first_prompt(conv)
    stamps = [r.timestamp for r in rows if r.timestamp is not None]
    return _conversation_row(
        conv, title, min(stamps) if stamps else None, max(stamps) if stamps else None, totals, rows, prune
    )


def encode_parts(
    conv: m.Conversation, chunks: Iterable[list[m.Message]], prune: Callable[[], bool]
) -> Iterator[ConversationRow]:
    """``encode`` for a conversation whose messages come in chunks (a huge tree,
    providers/chatgpt_tree.py): one part per chunk (more=True), then the last part,
    with the rows' conversation fields and hash exactly as ``encode`` gives them.
    ``conv``'s own fields are read only after the last chunk (they may depend on
    every message); so is ``prune``, since converting the messages may warn."""
    totals = _Totals()
    hashes = array("q")  # the hash covers every message's: 8 bytes each are kept, not the rows
    first = last = None
    title = conv.title or None
    seq = 0
    for chunk in chunks:
        rows = []
        for msg in chunk:
            r = totals.row(seq, msg, None)
            seq += 1
            rows.append(r)
            hashes.append(r.hash)
            if r.timestamp is not None:
                first = r.timestamp if first is None else min(first, r.timestamp)
                last = r.timestamp if last is None else max(last, r.timestamp)
            if title is None:
                title = _prompt_title(msg)
        yield ConversationRow(
            conv.id, conv.provider, conv.provider_id, None, None, None, conv.parent_id, conv.project, None, None,
            0, 0, 0, 0, rows, source_path=conv.source_path, nbytes=totals.take_nbytes(), more=True,
        )  # fmt: skip
    if sys.byteorder != "little":
        hashes.byteswap()
    yield _conversation_row(conv, conv.title or title, first, last, totals, [], prune(), hashes.tobytes())


class _Totals:
    """What a conversation's rows add up to, as its messages are encoded one by one."""

    __slots__ = ("features", "tokens_in", "tokens_out", "seen", "nbytes", "usage")

    def __init__(self) -> None:
        self.features = self.tokens_in = self.tokens_out = self.nbytes = 0
        self.seen: set[str] = set()
        self.usage: dict[str, list[int]] = {}  # the messages' usage lanes per model

    def take_nbytes(self) -> int:
        n, self.nbytes = self.nbytes, 0
        return n

    def row(self, seq: int, msg: m.Message, stored: dict[str, int] | None) -> MessageRow:
        mid = msg.id
        if mid in self.seen:  # parsers should not emit duplicates; never let one break the diff
            mid = f"{mid}#{seq}"
        self.seen.add(mid)
        flags = (ACTIVE if msg.active else 0) | (CONTEXT if msg.context else 0) | (SIDECHAIN if msg.sidechain else 0)
        for b in msg.blocks:
            if b.type == m.THINKING:
                flags |= HAS_THINKING
            elif b.type in (m.TOOL_USE, m.TOOL_RESULT):
                flags |= HAS_TOOLS
            elif b.type in (m.IMAGE, m.ATTACHMENT):
                flags |= HAS_ATTACHMENTS
        if flags & (HAS_THINKING | HAS_TOOLS | HAS_ATTACHMENTS):
            self.features |= (
                (F_THINKING if flags & HAS_THINKING else 0)
                | (F_TOOLS if flags & HAS_TOOLS else 0)
                | (F_ATTACHMENTS if flags & HAS_ATTACHMENTS else 0)
            )
        if msg.usage:
            self.tokens_in += _int(msg.usage.get("input"))
            if msg.usage.get("convention") == "anthropic":  # Anthropic's input excludes the cache lanes
                self.tokens_in += _int(msg.usage.get("cache_read")) + _int(msg.usage.get("cache_write"))
            self.tokens_out += _int(msg.usage.get("output"))
        response = response_of(msg.usage, msg.model) if msg.usage else None
        if response is not None:
            have = self.usage.get(response.model)
            if have is None:
                self.usage[response.model] = list(response.lanes)
            else:
                for i, v in enumerate(response.lanes):
                    have[i] += v
        raw = codec.dumps([codec.block_to_dict(b) for b in msg.blocks])
        usage, meta = _json(msg.usage), _json(msg.meta)
        ts = ms(msg.timestamp)
        # hash the JSON, not the stored bytes: a new compression dictionary changes no hash
        h = _hash(raw, [seq, mid, msg.parent_id, msg.role, ts, flags, msg.model, usage, meta])
        if stored is not None and stored.get(mid) == h:
            return MessageRow(seq, mid, msg.parent_id, msg.role, ts, flags, msg.model, None, None, None, h)
        content = codec.encode_json(raw)
        # usage and meta JSON are stored like content (compressed with the archive's dictionary)
        # (no index text: the indexer derives it from the stored content, store/indexer.py)
        self.nbytes += len(content)
        return MessageRow(
            seq, mid, msg.parent_id, msg.role, ts, flags, msg.model, _pack(usage), _pack(meta), content, h,
            response,
        )  # fmt: skip


def _conversation_row(
    conv: m.Conversation,
    title: str | None,
    first: int | None,
    last: int | None,
    totals: _Totals,
    rows: list[MessageRow],
    prune: bool,
    row_hashes: bytes | None = None,
) -> ConversationRow:
    """The conversation's own fields; ``first``/``last``: its messages' earliest and
    latest times, which stand in for times it lacks. Its hash covers every
    message's hash, from ``rows`` or, for a conversation in parts, ``row_hashes``."""
    created = ms(conv.created_at)
    updated = ms(conv.updated_at)
    if created is None:
        created = first
    if updated is None:
        updated = last if last is not None else created
    models_json = _json(list(dict.fromkeys(conv.models)))
    meta_json = _json(conv.meta)
    header = [conv.id, title, created, updated, conv.parent_id, conv.project, models_json, meta_json]
    if row_hashes is None:
        h = _hash(header, *(r.hash.to_bytes(8, "little", signed=True) for r in rows))
    else:
        h = _hash(header, row_hashes)  # the same bytes in one piece: xxh3 streams
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
        totals.features,
        totals.tokens_in,
        totals.tokens_out,
        h,
        rows,
        prune,
        conv.source_path,
        totals.nbytes,
        sessions=session_of(conv.meta["usage"], totals.usage) if conv.meta.get("usage") else (),
    )


def _pack(text: str | None) -> bytes | None:
    return None if text is None else codec.encode_json(text.encode())


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0
