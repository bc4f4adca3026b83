"""Encoding of message content (the ordered block list) for storage.

Stored bytes are either plain JSON text (starting with ``[``), kept as-is when
compression does not pay, or ``\\x01`` + a zstd frame. Frames are compressed
with a dictionary trained on the archive's own messages (table ``zstd_dicts``),
which makes even short messages smaller; each frame names its dictionary id, so
rows written with an older dictionary stay readable after retraining. The SQL
function ``pl_content(blob)`` (registered on every connection) returns the JSON
text, so any SQL client can read the archive (docs/schema.md)."""

from __future__ import annotations

import threading
from typing import Any

import orjson

from ..models import Block
from ..paths import sqlite_uri

ZSTD_TAG = b"\x01"
COMPRESS_MIN = 512  # without a dictionary, shorter JSON rarely shrinks
COMPRESS_MIN_DICT = 48  # with one, almost everything does
LEVEL = 3
# Long texts (tool output, mostly) at level 1: they decode ~25% faster, which is most of
# what showing a conversation of them costs, for ~15% more bytes on them (~2% of the text)
LEVEL_LONG, LONG_BYTES = 1, 32 << 10
DICT_BYTES = 64 << 10
DICT_ID_BASE = 32768  # zstd reserves lower ids for a public registry

_lock = threading.Lock()
_dicts: dict[int, bytes] = {}  # dict id -> dictionary bytes
_local = threading.local()  # zstd (de)compressors are not thread-safe: one set per thread
_active: int = 0  # dict id used for new rows (0 = none)


def _zstd():
    import zstandard

    return zstandard


def register_dictionary(dict_id: int, data: bytes) -> None:
    """Make a stored dictionary available for decoding."""
    with _lock:
        _dicts[dict_id] = bytes(data)


def use_dictionary(dict_id: int | None) -> None:
    """Compress new rows with this (registered) dictionary; None/0: no dictionary."""
    global _active
    if dict_id and dict_id not in _dicts:
        raise KeyError(f"zstd dictionary {dict_id} is not registered")
    _active = dict_id or 0


def active_dictionary() -> tuple[int, bytes] | None:
    return (_active, _dicts[_active]) if _active else None


def train(samples: list[bytes], dict_id: int) -> bytes:
    """A dictionary trained on sample contents (JSON block lists)."""
    z = _zstd()
    return z.train_dictionary(DICT_BYTES, samples, dict_id=dict_id, level=LEVEL).as_bytes()


def _compressor(level: int = LEVEL):
    """This thread's compressor for the active dictionary, at a level."""
    cache = getattr(_local, "cctx", None)
    if cache is None or _local.cctx_id != _active:
        cache = _local.cctx = {}
        _local.cctx_id = _active
    c = cache.get(level)
    if c is None:
        z = _zstd()
        if _active:
            d = z.ZstdCompressionDict(_dicts[_active])
            c = z.ZstdCompressor(level=level, dict_data=d, write_checksum=False, write_dict_id=True)
        else:
            c = z.ZstdCompressor(level=level, write_checksum=False)
        cache[level] = c
    return c


_sources: set[str] = set()  # database files whose zstd_dicts may hold a dictionary we have not seen


def add_source(db_path: str) -> None:
    _sources.add(str(db_path))


def new_dictionary_id() -> int:
    """Random, so dictionaries of different archives never share an id in one process."""
    import secrets

    return DICT_ID_BASE + secrets.randbelow((1 << 31) - DICT_ID_BASE)


def _lookup(dict_id: int) -> bytes | None:
    """A dictionary trained after our connection opened (by another process's sync)."""
    import sqlite3

    for path in list(_sources):
        try:
            conn = sqlite3.connect(sqlite_uri(path), uri=True)
            try:
                row = conn.execute("SELECT data FROM zstd_dicts WHERE id = ?", (dict_id,)).fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            continue
        if row:
            register_dictionary(dict_id, row[0])
            return row[0]
    return None


def _decompressor(dict_id: int):
    try:
        d = _local.dctx.get(dict_id)
    except AttributeError:
        _local.dctx = {}
        d = None
    if d is None:
        cache = _local.dctx
        z = _zstd()
        if dict_id:
            data = _dicts.get(dict_id) or _lookup(dict_id)
            if data is None:
                raise KeyError(f"zstd dictionary {dict_id} is not in this archive")
            d = z.ZstdDecompressor(dict_data=z.ZstdCompressionDict(data))
        else:
            d = z.ZstdDecompressor()
        cache[dict_id] = d
    return d


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
        d.get("type", "opaque"),
        d.get("text", ""),
        d.get("id"),
        d.get("name"),
        d.get("input"),
        d.get("is_error"),
        d.get("meta"),
    )


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def encode_json(raw: bytes) -> bytes:
    if len(raw) < (COMPRESS_MIN_DICT if _active else COMPRESS_MIN):
        return _right_sized(raw)
    packed = ZSTD_TAG + _compressor(LEVEL_LONG if len(raw) >= LONG_BYTES else LEVEL).compress(raw)
    return packed if len(packed) < len(raw) else _right_sized(raw)


def _right_sized(raw: bytes) -> bytes:
    """A copy of ``raw`` that holds only its bytes. orjson.dumps keeps the buffer it
    wrote into (4 KB at least, several times the JSON for long values): a stored
    row that kept it cost 4 KB per short message while a sync held it (measured:
    a 300K-message conversation, benchmarks/hostile_memory.py)."""
    return memoryview(raw).tobytes()


def encode_blocks(blocks: list[Block]) -> bytes:
    return encode_json(dumps([block_to_dict(b) for b in blocks]))


def decode_json(blob: bytes | str) -> bytes:
    return decode_many((blob,))[0]


def decode_many(blobs) -> list[bytes]:
    """The JSON text of each stored value (plain, or tag + zstd frame), in order."""
    out = []
    # The decompressor that served the last frame first: almost every row names the same
    # dictionary, and zstd refuses a frame whose dictionary id differs (measured: 35% of
    # the per-message cost was finding the decompressor, mostly reading the frame header).
    last: Any = getattr(_local, "last", None)  # a ZstdDecompressor, or None before the first frame
    for blob in blobs:
        if isinstance(blob, str):  # plain JSON text (how usage and meta were first stored)
            out.append(blob.encode())
        elif blob[:1] != ZSTD_TAG:
            out.append(bytes(blob))
        else:
            try:
                out.append(last.decompress(blob[1:]))  # a bytes slice is cheaper than a memoryview here
            except Exception:  # AttributeError (None: first in this thread) or ZstdError (another dictionary)
                last = _local.last = _decompressor(_dict_id(blob))
                out.append(last.decompress(blob[1:]))
    return out


_DID_BYTES = (0, 1, 2, 4)


def _dict_id(blob: bytes) -> int:
    """The dictionary id from a frame's header (RFC 8878 3.1.1.1), read directly:
    cheaper than asking zstd for every message."""
    fhd = blob[5]  # blob = tag + magic(4) + frame header descriptor
    n = _DID_BYTES[fhd & 3]
    if not n:
        return 0
    start = 6 if fhd & 0x20 else 7  # a window descriptor byte unless single-segment
    return int.from_bytes(blob[start : start + n], "little")


def decode_blocks(blob: bytes) -> list[Block]:
    return decode_contents((blob,))[0]


def decode_contents(blobs) -> list[list[Block]]:
    """Stored contents to block lists, a batch at a time (showing a conversation
    decodes its messages in one tight loop)."""
    out = []
    loads = orjson.loads
    for raw in decode_many(blobs):
        ds = loads(raw)
        try:  # stored dicts use exactly Block's field names (block_to_dict): keywords are the fast path
            out.append([Block(**d) for d in ds])
        except TypeError:  # a missing type or a key from elsewhere
            out.append([block_from_dict(d) for d in ds])
    return out


def sql_content(blob: bytes | None) -> str | None:
    """SQL function pl_content(content): the block list as JSON text."""
    if blob is None:
        return None
    return decode_json(blob).decode()
