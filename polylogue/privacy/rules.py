"""Redaction rules: ``polylogue redact`` rewrites stored text and keeps, per masked
value, a rule (conversation, message, length, keyed hash: never the text) that a
sync replays before the writer, so a re-read of the unchanged source (even
``--force``) does not bring the text back.

Hashes: a rewritten message gets the hash of its new content, as the encoder
computes it (``message_hash``; ``check`` verifies it), and a sync that masks the
same values in the parsed message computes the same, so the writer leaves it
alone. A conversation's hash is chained once per batch (``chain``), in the
archive and at sync alike, for the same reason: batches replay in order."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import xxhash

from ..models import Block
from ..store import codec
from .detect import Span, find
from .redact import Walker, apply, mask

MIN_LENGTH = 4  # a shorter match is refused: hashing every 3-character window finds noise


def digest(salt: bytes, value: str) -> bytes:
    return hashlib.blake2b(value.encode(), key=salt, digest_size=16).digest()


def chain(h: int, extra: bytes) -> int:
    """A hash following ``h``, in the signed 64-bit range the store keeps."""
    return xxhash.xxh3_64(h.to_bytes(8, "little", signed=True) + extra).intdigest() - (1 << 63)


def message_hash(raw: bytes, fields: tuple, meta: bytes | None) -> int:
    """A message's hash as store/encode.py computes it (``check`` verifies it): its
    JSON content and fields (seq, mid, parent, role, timestamp, flags, model, stored usage),
    with ``meta`` (stored) for the stored meta."""
    from ..store.encode import _hash

    seq, mid, parent, role, ts, flags, model, usage = fields
    text = [codec.decode_json(x).decode() if x is not None else None for x in (usage, meta)]
    return _hash(raw, [seq, mid, parent, role, ts, flags, model, text[0], text[1]])


def pattern_finder(rx: re.Pattern[str]) -> Callable[[str], list[Span]]:
    def finder(text: str) -> list[Span]:
        return [Span(m.start(), m.end(), "pattern") for m in rx.finditer(text) if m.end() - m.start() >= MIN_LENGTH]

    return finder


def hashed_finder(salt: bytes, values: list[tuple[int, bytes, str]]) -> Callable[[str], list[Span]]:
    """Finds the values whose (length, digest) a rule holds, by hashing every window
    of each length (only a conversation with rules pays this, only when re-read)."""
    by_len: dict[int, dict[bytes, str]] = {}
    for n, d, kind in values:
        by_len.setdefault(n, {})[d] = kind

    def finder(text: str) -> list[Span]:
        spans = []
        for n, wanted in by_len.items():
            for i in range(len(text) - n + 1):
                kind = wanted.get(digest(salt, text[i : i + n]))
                if kind is not None:
                    spans.append(Span(i, i + n, kind))
        spans.sort(key=lambda s: (s.start, -(s.end - s.start)))
        out: list[Span] = []
        for s in spans:
            if not out or s.start >= out[-1].end:
                out.append(s)
        return out

    return finder


class Recorder:
    """A Walker's substitution that masks and remembers each value it masked."""

    def __init__(self) -> None:
        self.values: list[tuple[str, str]] = []

    def __call__(self, text: str, spans: list[Span]) -> str:
        self.values += [(text[s.start : s.end], s.kind) for s in spans]
        return apply(text, spans)


def rewrite_blocks(
    blocks: list[Block], meta: Any, finder: Callable[[str], list[Span]]
) -> tuple[list[Block], Any, list[tuple[str, str]]]:
    """A message's blocks and meta with what ``finder`` sees masked, and the values masked."""
    rec = Recorder()
    w = Walker(finder, rec)
    return [w.block(b) for b in blocks], (w.value(meta) if meta else meta), rec.values


def secrets_finder() -> Callable[[str], list[Span]]:
    return find


def masked_title(title: str | None, finder: Callable[[str], list[Span]]) -> tuple[str | None, list[tuple[str, str]]]:
    if not title:
        return title, []
    rec = Recorder()
    return rec(title, finder(title)), rec.values


def encoded(blocks: list[Block]) -> tuple[bytes, bytes]:
    """(stored content, its JSON) of a block list, as store/encode.py writes it."""
    raw = codec.dumps([codec.block_to_dict(b) for b in blocks])
    return codec.encode_json(raw), raw


__all__ = ["chain", "digest", "encoded", "hashed_finder", "mask", "pattern_finder", "rewrite_blocks"]
