"""Helpers every provider shares: the parse context, safe byte streams, JSON
and JSONL readers, and timestamp normalisation. Nothing here touches the store."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

from ..errors import ParseError

MAX_JSON_DEPTH = 512  # real exports nest < 30 deep; a bomb is rejected, not recursed into
MAX_LINE_BYTES = 256 << 20  # one JSONL record; longer lines are skipped, not buffered
MAX_WARNINGS_PER_FILE = 20


@dataclass
class Warning_:
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


@dataclass
class ParseContext:
    """What a parser knows about its input, and where it reports local problems."""

    path: str  # display path (zip members as archive.zip!member)
    warnings: list[Warning_] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    suppressed: int = 0
    bad_utf8: bool = False
    # (provider, provider id) -> the archived conversation's updated_at (ms), or None.
    # Set by the pipeline on re-syncs; lets a parser skip converting a conversation
    # an export still holds unchanged (same id, same update time).
    known: Any = None
    skipped_unchanged: int = 0
    resumed_from: int | None = None  # a grown log parsed from this byte offset on (resume.py)
    digest: bytes | None = None  # xxh3-128 of the whole file, when the parse hashed it on the way

    def unchanged(self, provider: str, provider_id: str | None, updated: datetime | None) -> bool:
        """True (and counted) when the archive already holds this version."""
        if self.known is None or not provider_id or updated is None:
            return False
        stored = self.known(provider, provider_id)
        if stored is not None and stored == int(updated.timestamp() * 1000):
            self.skipped_unchanged += 1
            return True
        return False

    def note(self, reason: str) -> None:
        """Something worth telling that is not a failure (a file with nothing to import)."""
        if len(self.notes) < MAX_WARNINGS_PER_FILE:
            self.notes.append(reason)

    def warn(self, reason: str, line: int | None = None) -> None:
        if len(self.warnings) < MAX_WARNINGS_PER_FILE:
            self.warnings.append(Warning_(reason, line))
        else:
            self.suppressed += 1

    def all_warnings(self) -> list[str]:
        out = [str(w) for w in self.warnings]
        if self.suppressed:
            out.append(f"... and {self.suppressed} more problems")
        return out


# ---------------------------------------------------------------- byte streams

_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'"[]{}')
_BRACKETS = bytes.maketrans(b"[]{}", b"()()")


class ByteSource(io.RawIOBase):
    """A raw stream defined by its ``read(n)``: what io.BufferedReader needs."""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class CleanReader(ByteSource):
    """Wraps a binary stream: strips a UTF-8 BOM, transcodes UTF-16/32, replaces
    invalid UTF-8 (noting it in ctx), and, for JSON, rejects nesting deeper than
    MAX_JSON_DEPTH before the parser sees it (deep nesting makes incremental JSON
    parsers quadratic in time and memory)."""

    def __init__(self, raw: BinaryIO, ctx: ParseContext, *, check_depth: bool = False):
        self.raw, self.ctx, self.check_depth = raw, ctx, check_depth
        self._pending = b""  # incomplete UTF-8 sequence carried to the next chunk
        self._first = True
        self._transcoder = None
        # depth-guard state
        self._in_string = False
        self._escape_carry = False
        self._open = b""  # unmatched '(' carried across chunks
        self._eof = False
        self._out = b""  # cleaned bytes not yet handed out

    def read(self, n: int = -1) -> bytes:
        """At most ``n`` bytes (everything cleaned so far for n < 0)."""
        while not self._out and not self._eof:
            self._out = self._fill(n if n and n > 0 else 1 << 20)
        if n is None or n < 0 or len(self._out) <= n:
            data, self._out = self._out, b""
            return data
        data, self._out = self._out[:n], self._out[n:]
        return data

    def _fill(self, n: int) -> bytes:
        chunk = self.raw.read(max(n, 4096))
        if self._first:
            chunk = self._sniff_encoding(chunk)
        if self._transcoder is not None:
            chunk = self._transcoder.decode(chunk, final=not chunk).encode()
        if not chunk:
            self._eof = True
            tail, self._pending = self._pending, b""
            if tail:
                self.ctx.bad_utf8 = True
                tail = tail.decode("utf-8", "replace").encode()
                self._guard(tail)
            return tail
        data = self._pending + chunk
        cut = _utf8_safe_cut(data)
        data, self._pending = data[:cut], data[cut:]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            self.ctx.bad_utf8 = True
            data = data.decode("utf-8", "replace").encode()
        if b"\x00" in data:
            data = data.replace(b"\x00", b"")
        self._guard(data)
        return data

    def _sniff_encoding(self, chunk: bytes) -> bytes:
        import codecs

        self._first = False
        for bom, enc in (
            (codecs.BOM_UTF32_LE, "utf-32"),
            (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16"),
        ):
            if chunk.startswith(bom):
                self._transcoder = codecs.getincrementaldecoder(enc)("replace")
                return chunk
        if chunk.startswith(codecs.BOM_UTF8):
            return chunk[3:]
        return chunk

    def _guard(self, data: bytes) -> None:
        if not self.check_depth or not data:
            return
        if self._escape_carry:
            data = data[1:]
            self._escape_carry = False
        # an odd run of trailing backslashes escapes the first byte of the next chunk
        stripped = data.rstrip(b"\\")
        if (len(data) - len(stripped)) % 2:
            self._escape_carry = True
            data = stripped + b"\\" * (len(data) - len(stripped) - 1)
        s = _ESCAPE.sub(b"", data).translate(None, _NOT_STRUCTURAL)
        if self._in_string:
            q = s.find(b'"')
            if q < 0:
                return
            s = s[q + 1 :]
            self._in_string = False
        s = _STRING.sub(b"", s)
        q = s.find(b'"')
        if q >= 0:
            s, self._in_string = s[:q], True
        s = self._open + s.translate(_BRACKETS)
        for _ in range(MAX_JSON_DEPTH + 1):
            r = s.replace(b"()", b"")
            if r == s:
                break
            s = r
        else:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        self._open = s.lstrip(b")")
        if len(self._open) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def _utf8_safe_cut(data: bytes) -> int:
    """Index after the last complete UTF-8 character (at most 3 bytes are held back)."""
    n = len(data)
    for i in range(1, min(4, n) + 1):
        c = data[n - i]
        if c < 0x80:
            return n
        if c >= 0xC0:  # lead byte: complete if the sequence fits
            need = 2 if c < 0xE0 else 3 if c < 0xF0 else 4
            return n if i >= need else n - i
    return n


class _Replay(io.RawIOBase):
    """Replays bytes already read, then continues with the stream."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def replay(head: bytes, rest: BinaryIO) -> io.BufferedReader:
    """A buffered stream that yields ``head`` again, then the rest of ``rest``."""
    return io.BufferedReader(_Replay(head, rest), 1 << 16)


# ---------------------------------------------------------------- JSON / JSONL


def iter_jsonl(stream: BinaryIO, ctx: ParseContext, lineno: int = 0) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each JSON-object line; warn and skip the rest.

    Blank lines are ignored silently. A partial last line (a live file being
    written) is reported like any other bad line. ``lineno``: lines before the
    stream's start (a resumed parse reads from the middle of a file)."""
    while True:
        line = stream.readline(MAX_LINE_BYTES)
        if not line:
            return
        lineno += 1
        if len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:  # drain the oversized line without holding it
                more = stream.readline(MAX_LINE_BYTES)
                if not more or more.endswith(b"\n"):
                    break
            ctx.warn(f"line longer than {MAX_LINE_BYTES >> 20} MB skipped", lineno)
            continue
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            try:
                obj = orjson.loads(line.decode("utf-8", "replace"))
                ctx.bad_utf8 = True
            except orjson.JSONDecodeError:
                ctx.warn(f"invalid JSON ({_short(e)})", lineno)
                continue
        if not isinstance(obj, dict):
            ctx.warn(f"not a JSON object ({type(obj).__name__})", lineno)
            continue
        yield lineno, obj


def iter_json_items(stream: BinaryIO, prefix: str = "item") -> Iterator[Any]:
    """Stream the values at ``prefix`` of a JSON document with ijson (C backend)."""
    import ijson

    try:
        yield from ijson.items(stream, prefix, use_float=True)
    except ijson.JSONError as e:
        raise ParseError(f"invalid JSON: {_short(e)}") from None


def load_json(stream: BinaryIO, max_bytes: int = 256 << 20) -> Any:
    """Parse a whole (small) JSON document: AI Studio prompts, Gemini CLI chats."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ParseError(f"JSON document larger than {max_bytes >> 20} MB")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ParseError(f"invalid JSON: {_short(e)}") from None


def _short(e: Exception) -> str:
    s = str(e).splitlines()[0] if str(e) else type(e).__name__
    return s[:160]


# ---------------------------------------------------------------- values

_PLACEHOLDER = re.compile(r"^\[.*\]$|EPOCH")
_LONG_FRACTION = re.compile(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$")


def to_utc(value: Any) -> datetime | None:
    """Normalise an epoch (s, ms or µs, number or digit string) or ISO 8601 string
    to an aware UTC datetime. Unknown, zero, negative or placeholder values -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dict):  # Mongo {"$date": {"$numberLong": "..."}} / {"$date": "..."}
        inner = value.get("$date")
        if isinstance(inner, dict):
            inner = inner.get("$numberLong")
        return to_utc(inner)
    if isinstance(value, str):
        s = value.strip()
        if not s or _PLACEHOLDER.search(s):
            return None
        if s.lstrip("-").replace(".", "", 1).isdigit():
            return to_utc(float(s))
        try:
            if s.endswith(("Z", "z")):
                s = s[:-1] + "+00:00"
            # Python 3.11 accepts 1-6 fractional digits; trim nanoseconds
            m = _LONG_FRACTION.match(s)
            if m and len(m.group(2)) > 6:
                s = f"{m.group(1)}.{m.group(2)[:6]}{m.group(3)}"
            dt = datetime.fromisoformat(s)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)  # exports write naive ISO in UTC
        return dt.astimezone(UTC)
    if isinstance(value, (int, float)):
        v = float(value)
        if v <= 0 or v != v:
            return None
        if v > 1e14:
            v /= 1e6
        elif v > 1e11:
            v /= 1e3
        try:
            return datetime.fromtimestamp(v, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def json_text(value: Any) -> str:
    """Render a JSON value as text (for tool output that arrives structured)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # e.g. integers beyond 64 bits: the stdlib encoder still writes JSON, never a repr
        import json

        return json.dumps(value, ensure_ascii=False, default=lambda o: None)
