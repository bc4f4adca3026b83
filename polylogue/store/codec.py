"""Encoding of message content (the ordered block list) for storage.

Stored bytes start with a one-byte tag: ``{`` or ``[`` (plain JSON text, kept
as-is for small messages) or ``\\x01`` + a zstd frame. The SQL function
``pl_content(blob)`` (registered on every connection) returns the JSON text,
so any SQL client with zstd can read the archive (docs/schema.md)."""
from __future__ import annotations

from typing import Any

import orjson

from ..models import Block

ZSTD_TAG = b"\x01"
COMPRESS_MIN = 512  # below this zstd framing costs more than it saves

_cctx = None
_dctx = None


def _zstd():
    global _cctx, _dctx
    if _cctx is None:
        import zstandard

        _cctx = zstandard.ZstdCompressor(level=3)
        _dctx = zstandard.ZstdDecompressor()
    return _cctx, _dctx


def block_to_dict(b: Block) -> dict[str, Any]:
    d: dict[str, Any] = {"type": b.type}
    if b.text:
        d["text"] = b.text
    if b.id is not None:
        d["id"] = b.id
    if b.name is not None:
        d["name"] = b.name
    if b.input is not None:
        d["input"] = b.input
    if b.is_error is not None:
        d["is_error"] = b.is_error
    if b.meta:
        d["meta"] = b.meta
    return d


def block_from_dict(d: dict[str, Any]) -> Block:
    return Block(
        d.get("type", "opaque"), d.get("text", ""), d.get("id"), d.get("name"), d.get("input"),
        d.get("is_error"), d.get("meta"),
    )


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def encode_blocks(blocks: list[Block]) -> bytes:
    raw = dumps([block_to_dict(b) for b in blocks])
    if len(raw) < COMPRESS_MIN:
        return raw
    packed = ZSTD_TAG + _zstd()[0].compress(raw)
    return packed if len(packed) < len(raw) else raw


def decode_json(blob: bytes) -> bytes:
    if blob[:1] == ZSTD_TAG:
        return _zstd()[1].decompress(blob[1:])
    return bytes(blob)


def decode_blocks(blob: bytes) -> list[Block]:
    return [block_from_dict(d) for d in orjson.loads(decode_json(blob))]


def sql_content(blob: bytes | None) -> str | None:
    """SQL function pl_content(content): the block list as JSON text."""
    if blob is None:
        return None
    return decode_json(blob).decode()
