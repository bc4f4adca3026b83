"""Parse only the new bytes of a session log that grew by appending.

Claude Code and Codex append to a session's JSONL file as the session goes
on. For a log seen growing, or written in the last two days, the parse keeps its parser's state
after the last complete line (a *parse state*: the pickled parser, zstd, in
``<archive home>/parse-state/``, with the xxh3 of the bytes it has read). The
next sync checks those bytes are unchanged, restores the parser and feeds it
only the lines after them. The parser then assembles the whole conversation as
a full parse would (an appended line can change earlier messages: a tool
call's outcome, the active branch), and the writer stores only what differs
from the archive, as for any re-read file.

A rewritten file (shorter, or different bytes before the kept offset), a
parse state from another version of the parser, or a missing or unreadable one
mean a full parse: the state is a cache, never the only copy of anything, and
deleting the folder is always safe. A file whose lines before the offset
raised a warning or held invalid UTF-8 is not kept, so a resumed parse reports
and stores exactly what a full one would (tests/test_resume.py checks this at
every cut point of real logs)."""

from __future__ import annotations

import gc
import io
import os
import pickle
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .models import Conversation
from .paths import open_private, private_dirs
from .providers.base import Provider
from .providers.common import ByteSource, CleanReader, ParseContext, iter_jsonl

MIN_BYTES = 64 << 10  # a smaller log parses whole in ~2 ms: a state file would save ~1 ms a sync
# A state is taken again once the lines fed after it exceed 1/8 of what it covers:
# pickling costs about 0.4x a full parse, so rewriting it on every sync would eat the gain.
REWRITE_FRACTION = 8
MAGIC = b"polylogue-parse-state 1\n"
STATE_DIR = "parse-state"
UNUSED_DAYS = 30  # a state is touched each time it is used
LIVE_HOURS = 48
_CHUNK = 1 << 20


def state_dir(home: Path) -> Path:
    return home / STATE_DIR


def may_grow(size: int, known_size: int | None, mtime_ns: int, now: float | None = None) -> bool:
    """Worth keeping a parse state for: a log the archive read before, shorter,
    or one written in the last LIVE_HOURS (a session that may still be going on;
    a first import of old logs keeps none)."""
    now = time.time() if now is None else now
    return (known_size is not None and size > known_size) or now - mtime_ns / 1e9 < LIVE_HOURS * 3600


# ---------------------------------------------------------------- the state files


def _name(key: str) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(key.encode()) + ".state"


_versions: dict[str, str] = {}


def _version(provider: Provider) -> str:
    """Changes with the parser's code (and Python's): an old state is never restored into new code."""
    v = _versions.get(provider.name)
    if v is None:
        import xxhash

        from . import models
        from .providers import common

        h = xxhash.xxh3_64(sys.version.encode())
        for f in (*provider.code_files(), common.__file__, models.__file__, __file__):
            h.update(Path(f).read_bytes())
        v = _versions[provider.name] = h.hexdigest()
    return v


def _ours(path: Path) -> bool:
    """Only unpickle what no one else could have written."""
    st = os.stat(path)
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _load(folder: Path, key: str) -> tuple[dict, bytes] | None:
    path = folder / _name(key)
    try:
        if not (_ours(folder) and _ours(path)):
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(MAGIC):
        return None
    nl = data.find(b"\n", len(MAGIC))
    try:
        header = orjson.loads(data[len(MAGIC) : nl])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(header, dict) or header.get("key") != key:
        return None
    return header, data[nl + 1 :]


@contextmanager
def _collector_paused():
    """The cyclic GC, run over ~10 objects per message while (un)pickling, is most of its cost."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _save(folder: Path, key: str, header: dict, parser: Any) -> None:
    import zstandard

    ctx = parser.ctx
    parser.bind(None)  # the context holds this run's warnings and a database handle
    try:
        with _collector_paused():
            blob = zstandard.ZstdCompressor(level=1).compress(pickle.dumps(parser, protocol=5))
    finally:
        parser.bind(ctx)
    private_dirs(folder)
    path = folder / _name(key)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)  # it holds conversation text
    with os.fdopen(fd, "wb") as f:
        f.write(MAGIC + orjson.dumps(header) + b"\n" + blob)
    os.replace(tmp, path)


def _restore(blob: bytes, ctx: ParseContext) -> Any:
    import zstandard

    with _collector_paused():
        parser = pickle.loads(zstandard.ZstdDecompressor().decompress(blob))
    parser.bind(ctx)
    return parser


def tidy(folder: Path, now: float | None = None) -> None:
    """Drop what a killed sync left half-written, and states unused for UNUSED_DAYS
    (a finished session's log no longer grows). At most once a day: it stats every state."""
    now = time.time() if now is None else now
    mark = folder / ".tidied"
    try:
        if now - mark.stat().st_mtime < 86400:
            return
    except OSError:
        pass
    try:
        entries = list(os.scandir(folder))
        os.close(open_private(mark))
        os.utime(mark, (now, now))
    except OSError:
        return
    for e in entries:
        if e.name == ".tidied":
            continue
        try:
            if e.name.endswith(".tmp") or now - e.stat().st_mtime > UNUSED_DAYS * 86400:
                os.unlink(e.path)
        except OSError:
            pass


def forget(folder: Path, key: str) -> None:
    try:
        (folder / _name(key)).unlink()
    except OSError:
        pass


# ---------------------------------------------------------------- reading a byte range


class _Range(ByteSource):
    """Bytes [start, end) of a file, hashed and their newlines counted as they pass."""

    def __init__(self, raw: BinaryIO, start: int, end: int, hasher):
        raw.seek(start)
        self.raw, self.left, self.hasher, self.newlines = raw, end - start, hasher, 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.raw.read(n) if n else b""
        self.left -= len(data)
        if len(data) < n:
            self.left = 0  # the file shrank while we read: stop here
        self.hasher.update(data)
        self.newlines += data.count(b"\n")
        return data


def _feed(parser: Any, raw: BinaryIO, start: int, end: int, lineno: int, hasher, ctx: ParseContext) -> int:
    """Feed the lines of [start, end) to ``parser``; the line count after them."""
    rng = _Range(raw, start, end, hasher)
    clean = CleanReader(rng, ctx)
    clean._first = start == 0  # a byte-order mark can only open the file
    for n, rec in iter_jsonl(io.BufferedReader(clean, 1 << 16), ctx, lineno):
        parser.line(n, rec)
    return lineno + rng.newlines


def _last_line_end(raw: BinaryIO, start: int, size: int) -> int:
    """The offset after the last newline in [start, size), or ``start``."""
    pos = size
    while pos > start:
        lo = max(start, pos - (64 << 10))
        raw.seek(lo)
        i = raw.read(pos - lo).rfind(b"\n")
        if i >= 0:
            return lo + i + 1
        pos = lo
    return start


def _prefix_matches(raw: BinaryIO, offset: int, want: str, hasher) -> bool:
    raw.seek(0)
    left = offset
    while left:
        data = raw.read(min(_CHUNK, left))
        if not data:
            return False
        hasher.update(data)
        left -= len(data)
    return hasher.hexdigest() == want


# ---------------------------------------------------------------- the parse


def parse(
    raw: BinaryIO, key: str, size: int, provider: Provider, ctx: ParseContext, folder: Path
) -> Iterator[Conversation]:
    """Parse a JSONL log that may grow (``may_grow``) with ``provider`` (one with
    the resume protocol): from its kept state when the bytes it covers are
    unchanged, else whole; either way a state is kept for the next sync."""
    import xxhash

    if provider.resume is None:
        raise ValueError(f"{provider.name} has no resume protocol")
    hasher = xxhash.xxh3_128()
    version = _version(provider)
    parser, start, lineno, kept = None, 0, 0, None
    stored = _load(folder, key)
    if stored is not None:
        header, blob = stored
        offset, prefix = header.get("offset"), header.get("prefix")
        if (
            header.get("version") == version
            and header.get("provider") == provider.name
            and isinstance(offset, int)
            and isinstance(header.get("lineno"), int)
            and 0 < offset <= size
            and isinstance(prefix, str)
            and _prefix_matches(raw, offset, prefix, hasher)
        ):
            try:
                parser = _restore(blob, ctx)
                start, lineno, kept = offset, header["lineno"], offset
                os.utime(folder / _name(key))  # in use: tidy() keeps it
            except Exception:  # an unreadable state is only a lost shortcut
                parser = None
        if parser is None:
            hasher.reset()
            forget(folder, key)
        del blob
    if parser is None:
        parser = provider.resume.start(ctx)
    end = _last_line_end(raw, start, size)
    lineno = _feed(parser, raw, start, end, lineno, hasher, ctx)
    clean = not (ctx.warnings or ctx.suppressed or ctx.bad_utf8)
    if clean and end and end >= MIN_BYTES and (kept is None or (end - kept) * REWRITE_FRACTION >= kept):
        header = {
            "key": key,
            "provider": provider.name,
            "version": version,
            "offset": end,
            "lineno": lineno,
            "prefix": hasher.hexdigest(),
        }
        try:
            _save(folder, key, header, parser)
        except Exception:  # a full disk, a read-only home: the next sync parses the whole file
            pass
    if end < size:  # a partial last line: a live session mid-write
        _feed(parser, raw, end, size, lineno, hasher, ctx)
    ctx.resumed_from = kept
    ctx.digest = hasher.digest()  # every byte passed through it: the sources row needs no second read
    yield from parser.finish()
