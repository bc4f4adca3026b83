"""Provider registry and content sniffing.

Each provider module defines::

    NAME: str                                   # the slug, e.g. "claude-code"
    KIND: "json" | "jsonl"                       # how its files are read
    def sniff(head: Head) -> bool                # decide from content only
    def parse(stream, ctx) -> Iterator[Conversation]

and never touches the database. ``detect`` picks the provider for a file from
its first bytes; the order of PROVIDERS is most-specific first.
"""

from __future__ import annotations

import importlib
import io
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from ..errors import ParseError
from .common import CleanReader, ParseContext, replay

HEAD_BYTES = 256 << 10
HEAD_LINES = 50
HEAD_EVENTS = 4000

# module names, most specific sniff first
_MODULES = ("polylogue_export", "chatgpt", "claude_ai", "gemini_aistudio", "gemini_cli", "codex", "claude_code")


@dataclass
class Head:
    """What sniffers see: the first records of a JSONL file, or the key paths
    (ijson prefixes with their first event) seen in the head of a JSON file."""

    kind: str  # "json" | "jsonl" | "empty" | "other"
    records: list[dict] = field(default_factory=list)  # jsonl objects (and a json single-line object)
    paths: dict[str, str] = field(default_factory=dict)  # json: prefix -> first event ("start_map"...)
    top: str | None = None  # json: "array" | "object"

    def has(self, prefix: str, event: str | None = None) -> bool:
        ev = self.paths.get(prefix)
        return ev is not None and (event is None or ev == event)


_LOADED: list[Any] | None = None


def providers() -> list[Any]:
    global _LOADED
    if _LOADED is None:
        _LOADED = [importlib.import_module(f".{m}", __name__) for m in _MODULES]
    return _LOADED


def by_name(name: str):
    for p in providers():
        if p.NAME == name:
            return p
    raise KeyError(name)


def read_head(data: bytes, path: str = "") -> Head:
    """Classify the first bytes of a file (already cleaned of BOM/encoding issues)."""
    s = data.lstrip()
    if not s:
        return Head("empty")
    if s[:1] == b"[":
        return _json_head(data)
    if s[:1] != b"{":
        return Head("other")
    lines = s.split(b"\n")
    complete = lines[:-1] if len(data) >= HEAD_BYTES else lines
    records: list[dict] = []
    first_ok = False
    for i, line in enumerate(complete[: HEAD_LINES * 4]):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            if i == 0:
                break
            continue
        if i == 0:
            first_ok = True
        if isinstance(obj, dict):
            records.append(obj)
        if len(records) >= HEAD_LINES:
            break
    if first_ok and len(records) >= 2:
        return Head("jsonl", records=records)
    head = _json_head(data)
    if first_ok and len(records) == 1:
        head.records = records  # a one-line file: JSON document and one-record JSONL alike
    elif not first_ok and b"\n" not in s.rstrip(b"\n"):
        # the first line is longer than the head (a JSONL record with a huge message, or
        # a one-line JSON document): give record sniffers its shallow shape to judge
        partial = _partial_record(data)
        if partial:
            head.records = [partial]
    return head


def _partial_record(data: bytes) -> dict:
    """The keys (and complete scalar values), two levels deep, of an object cut off
    mid-way. A key whose value did not fit is present with None."""
    import ijson

    root: dict = {}
    try:
        for n, (prefix, event, value) in enumerate(ijson.parse(io.BytesIO(data))):
            if n == 0 and event != "start_map":
                return {}
            parts = prefix.split(".") if prefix else []
            if event == "map_key":
                parent = root if not parts else root.get(parts[0]) if len(parts) == 1 else None
                if isinstance(parent, dict):
                    parent.setdefault(value, None)
                continue
            if not 1 <= len(parts) <= 2 or event in ("end_map", "end_array"):
                continue
            parent = root if len(parts) == 1 else root.get(parts[0])
            if isinstance(parent, dict):
                new = {} if event == "start_map" else [] if event == "start_array" else value
                if parent.get(parts[-1]) is None:
                    parent[parts[-1]] = new
    except ijson.JSONError:
        pass
    return root


def _json_head(data: bytes) -> Head:
    import ijson

    head = Head("json")
    try:
        for n, (prefix, event, _) in enumerate(ijson.parse(io.BytesIO(data))):
            if n == 0:
                head.top = "array" if event == "start_array" else "object" if event == "start_map" else None
            if event != "map_key":
                head.paths.setdefault(prefix, event)
            if n >= HEAD_EVENTS:
                break
    except ijson.JSONError:
        pass  # the head ends mid-document; what we saw is enough
    return head


def detect(head: Head):
    """The provider module whose sniff accepts this head, or None."""
    if head.kind in ("empty", "other"):
        return None
    for p in providers():
        try:
            if p.sniff(head):
                return p
        except Exception:  # a sniffer bug must not take the run down
            continue
    return None


def open_clean(raw: BinaryIO, ctx: ParseContext) -> tuple[Head, BinaryIO]:
    """Sniff the head of ``raw``; return it with a buffered stream from the start."""
    clean = CleanReader(raw, ctx, check_depth=True)
    chunks, size = [], 0
    while size < HEAD_BYTES:
        c = clean.read(HEAD_BYTES - size)
        if not c:
            break
        chunks.append(c)
        size += len(c)
    data = b"".join(chunks)
    head = read_head(data)
    clean.check_depth = head.kind == "json"  # JSONL lines are parsed by orjson, which limits depth itself
    return head, replay(data, clean)


def parse_path(path: str, provider: str | None = None) -> tuple[list, ParseContext]:
    """Parse one file completely (tests and tools). Returns (conversations, ctx).
    Raises ParseError when the format is unknown or the file is unreadable."""

    ctx = ParseContext(path)
    with open(path, "rb") as raw:
        head, stream = open_clean(raw, ctx)
        mod = by_name(provider) if provider else detect(head)
        if mod is None:
            raise ParseError(f"unrecognised format ({head.kind})")
        return list(mod.parse(stream, ctx)), ctx


__all__ = [
    "Head",
    "ParseContext",
    "ParseError",
    "detect",
    "providers",
    "by_name",
    "read_head",
    "open_clean",
    "parse_path",
]
