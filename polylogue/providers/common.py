"""Helpers every provider shares: the parse context, safe byte streams, JSON
and JSONL readers, timestamp normalisation, bounded copies of raw values for
meta, and message-tree logic (breaking parent loops, the active path). When two
providers need the same rule, it lives here once. Nothing here touches the store."""

from __future__ import annotations

import codecs
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol, TypeVar

import orjson

from ..errors import ParseError
from ..models import Message

MAX_JSON_DEPTH = 512  # real exports nest < 30 deep; a bomb is rejected, not recursed into
MAX_LINE_BYTES = 256 << 20  # one JSONL record; longer lines are skipped, streamed past, never held
# One JSON string (a message's text, a tool's output, an image's base64). A longer one is
# cut to this size, with a marker, before it is parsed: the sync of a huge text holds ~5
# copies of it on its way to the index, at up to 4 bytes a character as a Python str
# (measured, docs/providers.md "Common to all"); at 32 MB one emoji took the sync past 300 MB.
MAX_TEXT_BYTES = 16 << 20
MAX_RECORD_BYTES = 64 << 20  # what is left of one line once its long strings are cut; more: skipped
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
    # The input again from its start, cleaned like the stream the parser was given; set by
    # the pipeline. A parser may give up on building a huge value and stream it on a second
    # read (chatgpt_tree.py); None (tests, tools): the input is read once, whatever it holds.
    reopen: Callable[[], BinaryIO] | None = None
    # (line, record): what the sniff already parsed of a JSONL head (set by open_clean).
    # iter_jsonl takes a line's record from here when the line is those same bytes.
    head_records: list[tuple[bytes, dict]] = field(default_factory=list)

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
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'"[]{}')
_BRACKETS = bytes.maketrans(b"[]{}", b"()()")


class Readable(Protocol):
    """What the readers below need of their input: a file, or another ByteSource."""

    def read(self, n: int = -1, /) -> bytes: ...


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

    def __init__(self, raw: Readable, ctx: ParseContext, *, check_depth: bool = False):
        self.raw, self.ctx, self.check_depth = raw, ctx, check_depth
        self._pending = b""  # incomplete UTF-8 sequence carried to the next chunk
        self._first = True
        self._transcoder: codecs.IncrementalDecoder | None = None
        # depth-guard state
        self._in_string = False
        self._escape_carry = False
        self._open = b""  # unmatched '(' carried across chunks
        self._eof = False
        self._out = b""  # cleaned bytes not yet handed out
        self._held: list[bytes] | None = None  # chunks whose depth check waits (hold_depth_check)
        self.held_opens = 0  # their opening brackets (strings included)

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

    def hold_depth_check(self) -> None:
        """Keep the chunks read from now on instead of checking their depth, until
        ``release_depth_check``: the head of a file is read before anyone knows
        whether it is a JSON document (checked) or JSONL (whose lines orjson bounds)."""
        self._held = []

    def release_depth_check(self, check: bool) -> None:
        """Check the held chunks, in order, as if they had been checked as they came
        (the same chunks, so the same verdict), when ``check`` or when they hold more
        opening brackets than MAX_JSON_DEPTH; else drop them (fewer cannot nest too deep)."""
        held, self._held = self._held or [], None
        if check or self.held_opens > MAX_JSON_DEPTH:
            for chunk in held:
                self._guard(chunk)

    def _guard(self, data: bytes) -> None:
        if not self.check_depth or not data:
            return
        if self._held is not None:
            self._held.append(data)
            self.held_opens += data.count(b"[") + data.count(b"{")
            return
        if self._escape_carry:
            data = data[1:]
            self._escape_carry = False
        # an odd run of trailing backslashes escapes the first byte of the next chunk
        stripped = data.rstrip(b"\\")
        if (len(data) - len(stripped)) % 2:
            self._escape_carry = True
            data = stripped + b"\\" * (len(data) - len(stripped) - 1)
        s = (
            _ESCAPE.sub(b"", data).translate(None, _NOT_STRUCTURAL)
            if b"\\" in data
            else data.translate(None, _NOT_STRUCTURAL)
        )
        if self._in_string:
            q = s.find(b'"')
            if q < 0:
                return
            s = s[q + 1 :]
            self._in_string = False
        # two adjacent quotes (an empty string, or two strings with nothing structural between
        # them) can go: what lies outside strings is the same without them
        s = s.replace(b'""', b"")
        if b'"' in s:  # the even pieces lie outside strings; an even count of pieces ends in one
            pieces = s.split(b'"')
            self._in_string = len(pieces) % 2 == 0
            s = b"".join(pieces[::2])
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

    def __init__(self, head: bytes, rest: Readable):
        self._head: memoryview | None = memoryview(head) if head else None
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head is not None:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            # an empty view still holds the whole head: let it go once replayed
            self._head = self._head[n:] if n < len(self._head) else None
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def replay(head: bytes, rest: Readable) -> io.BufferedReader:
    """A buffered stream that yields ``head`` again, then the rest of ``rest``."""
    return io.BufferedReader(_Replay(head, rest), 1 << 16)


# ---------------------------------------------------------------- JSON / JSONL


_READ = 1 << 20  # a long line is read (and, past MAX_TEXT_BYTES, scanned) this much at a time
_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_CUT_MARK = " [... {} bytes cut]"  # ASCII: one non-ASCII character would double a str's size


class _TextCutter:
    """Copies JSON text into ``out`` chunk by chunk, cutting every string longer
    than ``limit`` bytes (as written, escapes included) to its first ``limit``
    bytes plus a marker. The cut never splits an escape, a surrogate pair or a
    UTF-8 character, so the result parses. ``cuts``: the full size of each cut
    string. Runs only on text already longer than ``limit`` (the scan costs a
    search for quotes plus a Python step per string and per escaped quote)."""

    __slots__ = ("limit", "in_string", "escape", "start", "dropped", "cuts")

    def __init__(self, limit: int):
        self.limit = limit
        self.in_string = False
        self.escape = False  # the last chunk ended on a backslash: the next byte is escaped
        self.start = 0  # where the current string's body starts in ``out``
        self.dropped = 0  # bytes of the current string dropped so far
        self.cuts: list[int] = []

    def feed(self, chunk: bytes | bytearray, out: bytearray) -> None:
        view, i, n = memoryview(chunk), 0, len(chunk)
        while i < n:
            if not self.in_string:
                j = chunk.find(b'"', i)
                if j < 0:
                    out += view[i:]
                    return
                out += view[i : j + 1]
                self.in_string, self.start, self.dropped, i = True, len(out), 0, j + 1
                continue
            j = i + 1 if self.escape else i  # a backslash ended the last chunk: this byte is escaped
            fresh = min(j, n)  # backslash runs are counted from here (what precedes is whole escapes)
            while True:  # the closing quote: the first one no odd run of backslashes escapes
                e = chunk.find(b'"', j, n)
                if e < 0 or _backslashes_before(chunk, fresh, e) % 2 == 0:
                    break
                j = e + 1
            if e < 0:
                e = n
                self.escape = _backslashes_before(chunk, fresh, n) % 2 == 1
            else:
                self.escape = False
            self._body(view[i:e], out)
            i = e
            if i < n:  # the closing quote
                if self.dropped:
                    self.cuts.append(len(out) - self.start + self.dropped)
                    out += _CUT_MARK.format(self.dropped).encode()
                out += b'"'
                self.in_string, i = False, i + 1

    def _body(self, piece: memoryview, out: bytearray) -> None:
        if self.dropped:
            self.dropped += len(piece)
            return
        out += piece
        if len(out) - self.start > self.limit:
            q = _cut_point(out, self.start, self.start + self.limit)
            self.dropped = len(out) - q
            del out[q:]


def _cut_point(buf: bytearray, start: int, p: int) -> int:
    """The last position <= ``p`` (in the string body that starts at ``start``)
    that splits no UTF-8 character, no escape and no surrogate pair."""
    tail = bytes(buf[max(start, p - 4) : p])
    p -= len(tail) - _utf8_safe_cut(tail)
    for i in range(p - 1, max(start, p - 6) - 1, -1):  # an escape is at most 6 bytes: \uXXXX
        if buf[i] == 0x5C:  # the nearest backslash decides
            if _starts_escape(buf, start, i) and i + (6 if buf[i + 1] == 0x75 else 2) > p:
                p = i
            break
    if p - 6 >= start and _HIGH_SURROGATE.fullmatch(buf, p - 6, p) and _starts_escape(buf, start, p - 6):
        p -= 6  # its low half is cut off, and a lone surrogate is no JSON
    return p


def _starts_escape(buf: bytearray, start: int, i: int) -> bool:
    """Is the backslash at ``i`` an escape's first byte (an odd run of backslashes ends at it)?"""
    return _backslashes_before(buf, start, i + 1) % 2 == 1


def _backslashes_before(buf: bytes | bytearray, start: int, end: int) -> int:
    """The length of the run of backslashes that ends at ``end`` (not before ``start``)."""
    run, j = 0, end
    while j > start:  # in steps of 64 bytes: a string of backslashes costs little
        seg = bytes(buf[max(start, j - 64) : j])
        rest = seg.rstrip(b"\\")
        run += len(seg) - len(rest)
        if rest:
            break
        j -= len(seg)
    return run


@dataclass(slots=True)
class _Line:
    data: bytes | bytearray | None  # None: skipped (``reason`` says why)
    cuts: list[int]
    reason: str = ""


def _long_line(stream: BinaryIO, piece: bytes | bytearray) -> _Line:
    """A line whose first ``piece`` (a MB read, or the end of the stream) has no
    newline. The rest is read a MB at a time: over MAX_LINE_BYTES the line is
    drained without being kept; past MAX_TEXT_BYTES its long strings are cut as it
    is read, so a huge line costs what its cut form does."""
    buf, total, cutter = bytearray(piece), len(piece), None
    while True:
        piece = stream.readline(_READ)
        if not piece:
            break
        total += len(piece)
        if total > MAX_LINE_BYTES:
            del buf
            _drain(stream, piece)
            return _Line(None, [], f"line longer than {MAX_LINE_BYTES >> 20} MB skipped")
        if cutter is None:
            buf += piece
            if len(buf) > MAX_TEXT_BYTES:  # from here on, long strings are cut as they arrive
                cutter, whole, buf = _TextCutter(MAX_TEXT_BYTES), buf, bytearray()
                cutter.feed(whole, buf)
                del whole
        else:
            cutter.feed(piece, buf)
        if len(buf) > MAX_RECORD_BYTES:
            del buf
            _drain(stream, piece)
            return _Line(
                None, [], f"line holds more than {MAX_RECORD_BYTES >> 20} MB of JSON besides long texts; skipped"
            )
        if piece.endswith(b"\n"):
            break
    return _Line(buf, cutter.cuts if cutter else [])


def _drain(stream: BinaryIO, piece: bytes) -> None:
    """Read past the rest of the line ``piece`` belongs to, holding a MB at most."""
    while piece and not piece.endswith(b"\n"):
        piece = stream.readline(_READ)


def _cut_warning(cuts: list[int]) -> str:
    sizes = ", ".join(f"{n / (1 << 20):.0f} MB" for n in cuts[:3]) + (" ..." if len(cuts) > 3 else "")
    return f"{len(cuts)} text(s) over {MAX_TEXT_BYTES >> 20} MB cut to {MAX_TEXT_BYTES >> 20} MB ({sizes})"


def iter_jsonl(stream: BinaryIO, ctx: ParseContext, lineno: int = 0) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each JSON-object line; warn and skip the rest.

    Blank lines are ignored silently. A partial last line (a live file being
    written) is reported like any other bad line. ``lineno``: lines before the
    stream's start (a resumed parse reads from the middle of a file). A line
    over MAX_LINE_BYTES is skipped; a string over MAX_TEXT_BYTES is cut (both warned)."""
    readline = stream.readline
    head, h = ctx.head_records, 0
    while True:
        data: bytes | bytearray | None = readline(_READ)
        if not data:
            return
        lineno += 1
        if h < len(head):  # the sniff parsed these very bytes: its record, not a second parse
            seen, rec = head[h]
            if len(data) == len(seen) + 1 and data.startswith(seen) and data.endswith(b"\n"):
                h += 1
                if h == len(head):
                    head = ctx.head_records = []
                del data
                yield lineno, rec
                continue
        if not data.endswith(b"\n"):  # a line of a MB or more, or a last line without newline
            line = _long_line(stream, data)
            data, cuts, reason = line.data, line.cuts, line.reason
            del line  # ``data`` is dropped before the yield: a huge line is never held beside its object
            if data is None:
                ctx.warn(reason, lineno)
                continue
            if cuts:
                ctx.warn(_cut_warning(cuts), lineno)
        if not data or data.isspace():
            continue
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            try:  # invalid UTF-8 the stream let through (no CleanReader): replaced
                obj = orjson.loads(bytes(data).decode("utf-8", "replace")) if "UTF-8" in str(e) else None
            except orjson.JSONDecodeError:
                obj = None
            if obj is not None:
                ctx.bad_utf8 = True
            if obj is None:
                ctx.warn(f"invalid JSON ({error_summary(e)})", lineno)
                continue
        del data
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
        raise ParseError(f"invalid JSON: {error_summary(e)}") from None


def load_json(stream: BinaryIO, max_bytes: int = 256 << 20, ctx: ParseContext | None = None) -> Any:
    """Parse a whole (small) JSON document: AI Studio prompts, Gemini CLI chats.
    Read a MB at a time; past MAX_TEXT_BYTES, strings over it are cut as they
    arrive (warned in ``ctx`` when given), so a huge text is never held whole."""
    buf, total, cutter = bytearray(), 0, None
    while piece := stream.read(_READ):
        total += len(piece)
        if total > max_bytes:
            raise ParseError(f"JSON document larger than {max_bytes >> 20} MB")
        if cutter is None:
            buf += piece
            if len(buf) > MAX_TEXT_BYTES:
                cutter, whole, buf = _TextCutter(MAX_TEXT_BYTES), buf, bytearray()
                cutter.feed(whole, buf)
                del whole
        else:
            cutter.feed(piece, buf)
    if cutter and cutter.cuts and ctx is not None:
        ctx.warn(_cut_warning(cutter.cuts))
    try:
        return orjson.loads(buf)
    except orjson.JSONDecodeError as e:
        raise ParseError(f"invalid JSON: {error_summary(e)}") from None


def error_summary(e: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (its type name when it has none), cut to ``limit``."""
    s = str(e).splitlines()[0] if str(e) else type(e).__name__
    return s[:limit]


# ---------------------------------------------------------------- one bad record


class _Guard:
    """The context manager behind ``skip_on_error`` and ``fail_on_error``.
    Entering and leaving costs ~0.5 µs, about 1% of what parsing a message costs."""

    __slots__ = ("ctx", "what", "line", "outcome", "error")

    def __init__(self, ctx: ParseContext | None, what: str, line: int | None, outcome: str = "skipped") -> None:
        self.ctx, self.what, self.line, self.outcome = ctx, what, line, outcome
        self.error: str | None = None  # "<type>: <message>" of what the body raised

    def __enter__(self) -> _Guard:
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, (ParseError, MemoryError)):
            return False  # success; Ctrl-C; the parser's verdict on the whole file; out of memory
        self.error = f"{type(exc).__name__}: {error_summary(exc, 120)}"
        if self.ctx is None:  # fail_on_error: this record is the whole file
            raise ParseError(f"{self.what}: {self.error}", line=self.line) from None
        self.ctx.warn(f"{self.what} {self.outcome}: {self.error}", self.line)
        return True


def skip_on_error(ctx: ParseContext, what: str = "record", line: int | None = None, outcome: str = "skipped") -> _Guard:
    """``with skip_on_error(ctx, "record", line) as guard:`` converts one record
    (a JSONL line, a conversation of an export, a message). Whatever the body
    raises (a shape no one foresaw, a value out of range) costs that record and
    one warning ("<what> <outcome>: <error>"), never the rest of the file
    (docs/providers.md, "Common to all"); ``guard.error`` says what was lost and
    why. ParseError and MemoryError still fail the file."""
    return _Guard(ctx, what, line, outcome)


def skipped(
    ctx: ParseContext, exc: Exception, what: str = "record", line: int | None = None, outcome: str = "skipped"
) -> str | None:
    """``skip_on_error``'s verdict on ``exc``, caught by the caller's own ``try``
    (which costs nothing while nothing fails; the context manager ~0.5 µs a record):
    what was lost and why ("<type>: <message>", warned) when it cost only the
    record, None when it must propagate."""
    guard = _Guard(ctx, what, line, outcome)
    return guard.error if guard.__exit__(type(exc), exc, exc.__traceback__) else None


def fail_on_error(what: str, line: int | None = None) -> _Guard:
    """Like ``skip_on_error``, for a record that is the whole file (the one
    conversation of a session file): whatever the body raises becomes a
    ParseError ("<what>: <error>"), so the file fails with one clear reason."""
    return _Guard(None, what, line)


# ---------------------------------------------------------------- timestamps

_PLACEHOLDER = re.compile(r"^\[.*\]$|EPOCH", re.S)  # "[REDACTED]", "[trimmed for fixture]", "EPOCH+5"
_LONG_FRACTION = re.compile(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$")
_EPOCH_DIGITS = re.compile(r"-?[0-9]+(\.[0-9]*)?|-?\.[0-9]+")  # ASCII only: str.isdigit() accepts "²"


def to_utc(value: Any) -> datetime | None:
    """Normalise an epoch (s, ms or µs, number or digit string) or ISO 8601 string
    to an aware UTC datetime. Unknown, zero, negative, placeholder or out-of-range
    values (year 0, "9999-12-31T23:59:59-14:00", 1e30) -> None; never raises."""
    if isinstance(value, dict):  # Mongo {"$date": {"$numberLong": "..."}} / {"$date": "..."}
        value = value.get("$date")
        if isinstance(value, dict):
            value = value.get("$numberLong")
    if isinstance(value, str):
        return _utc_from_text(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _utc_from_epoch(value)
    return None


def _utc_from_text(value: str) -> datetime | None:
    # the usual shape, "2025-04-01T05:43:19.912Z", straight to fromisoformat: no placeholder
    # ("EPOCH", "[...]"), no epoch digits, no spaces to strip, no more than 6 fraction digits
    # (tests/test_parse_fast_paths.py holds it to the general path)
    if (
        len(value) == 24
        and value[23] == "Z"
        and value[19] == "."
        and value[10] == "T"
        and not value[0].isspace()
        and "EPOCH" not in value
    ):
        try:
            return datetime.fromisoformat(value[:23] + "+00:00").astimezone(UTC)
        except (ValueError, OverflowError):
            return None
    return _utc_from_any_text(value)


def _utc_from_any_text(value: str) -> datetime | None:
    s = value.strip()
    if not s or _PLACEHOLDER.search(s):
        return None
    if _EPOCH_DIGITS.fullmatch(s):
        return _utc_from_epoch(float(s))
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python 3.11 accepts 1-6 fractional digits; trim nanoseconds
    m = _LONG_FRACTION.match(s)
    if m and len(m.group(2)) > 6:
        s = f"{m.group(1)}.{m.group(2)[:6]}{m.group(3)}"
    try:
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            return dt.replace(tzinfo=UTC)  # exports write naive ISO in UTC
        return dt.astimezone(UTC)  # OverflowError: an offset that leaves years 1-9999
    except (ValueError, OverflowError):
        return None


def _utc_from_epoch(value: float) -> datetime | None:
    try:
        v = float(value)
    except OverflowError:  # an int beyond any float
        return None
    if not 0 < v < float("inf"):  # also NaN
        return None
    if v > 1e14:  # microseconds
        v /= 1e6
    elif v > 1e11:  # milliseconds
        v /= 1e3
    try:
        return datetime.fromtimestamp(v, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def is_placeholder(value: Any) -> bool:
    """A stand-in the source (or a redacted fixture) wrote instead of a value: "[REDACTED]"."""
    return isinstance(value, str) and _PLACEHOLDER.search(value.strip()) is not None


def read_time(raw: Any, meta: dict[str, Any], field: str) -> datetime | None:
    """``to_utc(raw)``. A value the source gave that is no readable time (and no
    placeholder) is kept, bounded, as ``meta[field + "_raw"]``: an odd clock is
    reported, not silently dropped. One rule and one key pattern for every provider."""
    ts = to_utc(raw)
    if ts is None and raw is not None and not is_placeholder(raw):
        meta[f"{field}_raw"] = bounded(raw, max_str=200, max_total=2000)  # a time is short: more is noise
    return ts


# ---------------------------------------------------------------- bounded values

UNREPRESENTABLE = {"omitted": True, "reason": "not representable as JSON"}
_INT64 = 1 << 63


def bounded(
    value: Any, *, max_str: int = 4000, max_items: int = 100, max_depth: int = 10, max_total: int = 64 << 10
) -> Any:
    """A copy of a raw JSON value small enough for meta: strings, lists and dicts are
    cut (and say so: "…[+N chars]") within an overall budget of about ``max_total``
    characters; integers beyond 64 bits become strings, NaN and infinities None."""
    return _cut(value, 0, [max_total], (max_str, max_items, max_depth))


def _cut(v: Any, depth: int, budget: list[int], limits: tuple[int, int, int]) -> Any:
    max_str, max_items, max_depth = limits
    if isinstance(v, str):
        keep = max(0, min(len(v), max_str, budget[0]))
        budget[0] -= keep
        return v if keep == len(v) else v[:keep] + f"…[+{len(v) - keep} chars]"
    budget[0] -= 8
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return v if -_INT64 <= v < _INT64 else str(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if depth >= max_depth:
        return "…[nested too deep]"
    if isinstance(v, dict):
        out: dict[str, Any] = {}
        for i, (k, x) in enumerate(v.items()):
            if i >= max_items or budget[0] <= 0:
                out["…"] = f"+{len(v) - i} keys"
                break
            out[str(k)] = _cut(x, depth + 1, budget, limits)
        return out
    if isinstance(v, list):
        out_l: list[Any] = []
        for i, x in enumerate(v):
            if i >= max_items or budget[0] <= 0:
                out_l.append(f"…[+{len(v) - i} items]")
                break
            out_l.append(_cut(x, depth + 1, budget, limits))
        return out_l
    return str(v)


def json_or_summary(value: Any, limit: int = 16 << 10) -> Any:
    """The value itself when its JSON fits in ``limit`` bytes (a string: cut to
    ``limit`` characters); otherwise a description of it: {"omitted", "bytes", "type"}."""
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, str):
        return clip_text(value, limit)
    try:
        size = len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return dict(UNREPRESENTABLE)
    if size <= limit:
        return value
    out: dict[str, Any] = {"omitted": True, "bytes": size}
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        out["type"] = value["type"]
    return out


def clip_text(value: Any, limit: int) -> str | None:
    """A string cut to ``limit`` characters (marked with "…"); None for anything else."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[:limit] + "…"


# ---------------------------------------------------------------- message trees

# Message meta key: set on a message whose parent link was cut to break a loop of
# parent links; the value is the parent id the source gave.
PARENT_CYCLE = "parent_cycle"

T = TypeVar("T")


def break_parent_cycles(ids: Iterable[str], parent: dict[str, str | None]) -> dict[str, str]:
    """Cut every loop in the child -> parent links of ``parent`` (changed in place),
    so a walk up from any id ends (the store walks parents). Walks up from each id
    in ``ids`` order and cuts the link that closes a loop; a link to an id outside
    ``parent`` ends a walk (a dangling parent, not a loop). Returns {cut id: its former parent}."""
    state: dict[str, int] = {}  # 1 on the current walk, 2 done
    cut: dict[str, str] = {}
    for start in ids:
        walk: list[str] = []
        cur: str | None = start
        while cur is not None and cur in parent and cur not in state:
            state[cur] = 1
            walk.append(cur)
            nxt = parent[cur]
            if nxt is not None and state.get(nxt) == 1:
                cut[cur], parent[cur], nxt = nxt, None, None
            cur = nxt
        for k in walk:
            state[k] = 2
    return cut


def break_message_cycles(messages: Sequence[Message]) -> None:
    """``break_parent_cycles`` over messages with unique ids, in their order; a cut
    message records its former parent in meta[PARENT_CYCLE]."""
    parent = {m.id: m.parent_id for m in messages}
    cut = break_parent_cycles(parent, parent)
    if cut:
        for m in messages:
            if m.id in cut:
                m.parent_id = None
                m.meta = {**(m.meta or {}), PARENT_CYCLE: cut[m.id]}


def active_path(leaf: str | None, parent: Mapping[str, str | None]) -> set[str]:
    """``leaf`` and its ancestors: the branch a provider shows as current. An id
    outside ``parent`` ends the walk, as does a repeat."""
    path: set[str] = set()
    cur = leaf
    while cur is not None and cur in parent and cur not in path:
        path.add(cur)
        cur = parent[cur]
    return path


def latest(items: Sequence[T], stamp: Callable[[T], datetime | None]) -> T:
    """The item with the latest time; an unknown time counts as earliest, ties go to the later item."""
    return max(enumerate(items), key=lambda p: _sort_time(stamp(p[1])) + (p[0],))[1]


def _sort_time(t: datetime | None) -> tuple[float]:
    return (t.timestamp() if t is not None else float("-inf"),)


def latest_leaf(messages: Sequence[Message]) -> tuple[Message, bool]:
    """The current branch's end when the source marks none: the latest message no
    other message answers. True when that was a real choice between several leaves."""
    has_child = {m.parent_id for m in messages if m.parent_id is not None}
    leaves = [m for m in messages if m.id not in has_child] or list(messages)
    return latest(leaves, lambda m: m.timestamp), len(leaves) > 1


# ---------------------------------------------------------------- values


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


# ---------------------------------------------------------------- files beside a file


def open_sibling_file(folder: str, name: str) -> BinaryIO | None:
    """``folder/name`` opened for reading when it is a regular file (never
    blocking on a FIFO: opened non-blocking, checked from its descriptor), else None.
    ``name`` is one file name, never a path."""
    import os
    import stat

    if not name or os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
        return None
    try:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# ---------------------------------------------------------------- the items of an export


def iter_export_items(
    stream: BinaryIO, ctx: ParseContext, prefix: str = "item", what: str = "conversation"
) -> Iterator[tuple[int, Any]]:
    """(index, value) for each value at ``prefix`` of an export (the conversations of
    a top-level array), streamed by ``iter_json_items``. A JSON error after the first
    value ends the items with one warning, "stopped after <what> <N>: ...": a truncated
    export keeps what came before it. Before the first value, the error is the file's."""
    index = -1
    try:
        for index, item in enumerate(iter_json_items(stream, prefix)):
            yield index, item
    except ParseError as e:
        if index < 0:
            raise
        ctx.warn(f"stopped after {what} {index}: {e}")


# ---------------------------------------------------------------- values the chat formats share


def usable_str(value: Any) -> str | None:
    """A usable id or name: a non-empty string that is no placeholder ("[REDACTED]")."""
    s = as_str(value)
    return s if s and s.strip() and not is_placeholder(s) else None


def as_count(value: Any) -> int | None:
    """A count (tokens, a size): a number from 0 up, a float cut to a whole one; None for
    anything else (a boolean, NaN, a float past 1e18)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (value == value and abs(value) < 1e18):
        return None
    return int(value) if value >= 0 else None


def from_json_text(value: Any, containers_only: bool = False) -> Any:
    """``value`` decoded when it is JSON text (tool arguments often arrive so); a string
    that does not parse, and anything not a string, as it is. ``containers_only``: only
    text that opens an object or array is decoded ("5" stays a string)."""
    if not isinstance(value, str) or (containers_only and value.lstrip()[:1] not in ("{", "[")):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def token_usage(raw: Any, lanes: Iterable[tuple[str, str]], convention: str) -> dict[str, Any] | None:
    """A message's usage: the counts ``raw``'s fields hold, in our lanes ((field, lane)
    pairs; of two fields of one lane the later wins), and the source's ``convention``
    ("anthropic": input without the cache; "openai": with it). None when no field
    holds a count (a whole number from 0 to 2**62)."""
    if not isinstance(raw, dict):
        return None
    out: dict[str, Any] = {}
    for src, lane in lanes:
        v = raw.get(src)
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 62:
            out[lane] = v
    if not out:
        return None
    out["convention"] = convention
    return out
