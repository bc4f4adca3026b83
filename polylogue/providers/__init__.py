"""The provider registry: the one list of formats the archive imports.

Each provider module ends with one typed declaration, ``PROVIDER = Provider(...)``
(``providers/base.py``): its name, ``sniff(head)``, ``parse(stream, ctx)``, sniff
order, default locations, side files, what it records and the optional resume
protocol. Providers never touch the database.

Built-ins and plugins go through the same ``register``: the built-ins are the
modules of this package that declare a ``PROVIDER`` (found by listing the
package, so a source tree whose installed metadata is stale still has them all);
plugins are the ``polylogue.providers`` entry points of installed distributions
(docs/providers.md, "Writing a provider"). A plugin that fails to load, or whose
name is taken, is left out and reported by ``load_errors()``; the run goes on.

Everything that lists providers derives from here: sniffing (``detect``), the
``provider:`` names (``names``), side files (``is_side_file``), the default
sources (sources.py) and the MCP descriptions.

Opening an input is here too, in one place (``sniffed``): the head is read and
classified (JSON, JSONL, text, SQLite), the provider found, and its ``parse``
given what its kind reads: a cleaned stream, a ``Unit`` (a file with its
siblings), or a read-only connection to a database (``sqlite_input.py``).
"""

from __future__ import annotations

import importlib
import io
import os
import pkgutil
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import orjson

from ..errors import ParseError
from .base import ASKED, Head, Location, Provider, Records, Resume, Unit
from .common import MAX_JSON_DEPTH, CleanReader, ParseContext, open_sibling_file, replay

HEAD_BYTES = 256 << 10
HEAD_LINES = 50
HEAD_EVENTS = 4000
ENTRY_POINT_GROUP = "polylogue.providers"


class _Registry:
    def __init__(self) -> None:
        self.by_name: dict[str, Provider] = {}
        self.builtin: set[str] = set()
        self.errors: list[tuple[str, str]] = []  # (plugin, what went wrong)
        self.ordered: list[Provider] = []
        self.asked: dict[str, list[Provider]] = {}  # head kind -> the providers shown such heads, in order


_registry: _Registry | None = None


def register(provider: Provider, *, builtin: bool = False, origin: str = "") -> bool:
    """Add a provider to the registry. A name already taken is refused (a plugin
    never replaces a built-in, nor an earlier plugin): the refusal is recorded in
    ``load_errors()`` and False returned."""
    reg = _registry if _registry is not None else _load()
    if not isinstance(provider, Provider):
        reg.errors.append((origin or repr(provider), "not a polylogue.providers.base.Provider"))
        return False
    taken = reg.by_name.get(provider.name)
    if taken is provider:
        return True  # the same declaration reached twice (a module on sys.path twice)
    if taken is not None:
        whose = "a built-in provider" if provider.name in reg.builtin else "another plugin"
        reg.errors.append((origin or provider.name, f"refused: the name '{provider.name}' is taken by {whose}"))
        return False
    reg.by_name[provider.name] = provider
    if builtin:
        reg.builtin.add(provider.name)
    reg.ordered = sorted(reg.by_name.values(), key=lambda p: (p.sniff_order, p.name))
    reg.asked = {kind: [p for p in reg.ordered if p.asked(kind)] for kind in {k for ks in ASKED.values() for k in ks}}
    return True


def _load() -> _Registry:
    global _registry
    _registry = reg = _Registry()
    for m in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f".{m.name}", __name__)
        declared = getattr(mod, "PROVIDER", None)
        if isinstance(declared, Provider):
            register(declared, builtin=True, origin=mod.__name__)
    for origin, loaded in _plugins(reg.errors):
        register(loaded, origin=origin)
    return reg


def _plugins(errors: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    """What each ``polylogue.providers`` entry point names: a Provider, or a module
    that declares ``PROVIDER``. A plugin that fails to import is recorded, not raised."""
    from importlib.metadata import entry_points

    out: list[tuple[str, Any]] = []
    try:
        eps = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception as e:  # a broken distribution's metadata
        errors.append(("plugins", f"cannot list installed plugins: {type(e).__name__}: {e}"))
        return out
    for ep in eps:
        origin = f"plugin {ep.name} ({ep.value})"
        try:
            obj = ep.load()
        except (Exception, SystemExit) as e:  # an import-time bug: the built-ins still work
            errors.append((origin, f"failed to load: {type(e).__name__}: {e}"))
            continue
        out.append((origin, getattr(obj, "PROVIDER", obj)))
    return out


def providers() -> list[Provider]:
    """Every registered provider, in sniff order."""
    reg = _registry if _registry is not None else _load()
    return reg.ordered


def names() -> tuple[str, ...]:
    """The ``provider:`` values: every registered provider whose conversations are
    archived under its own name (all but Polylogue's own export), in sniff order."""
    return tuple(p.name for p in providers() if p.own_conversations)


def by_name(name: str) -> Provider:
    """The registered provider called ``name`` (KeyError when there is none)."""
    reg = _registry if _registry is not None else _load()
    return reg.by_name[name]


def load_errors() -> list[tuple[str, str]]:
    """(plugin, problem) for each plugin left out: it failed to load, is not a
    Provider, or its name was taken. Front ends show these as warnings."""
    reg = _registry if _registry is not None else _load()
    return list(reg.errors)


def is_side_file(head: Head) -> bool:
    """A known file that is not a conversation (a provider's side file, an empty
    list, a manifest): a sync skips it quietly."""
    if _generic_side_file(head):
        return True
    for p in providers():
        if p.side_file is None:
            continue
        try:
            if p.side_file(head):
                return True
        except Exception:  # a plugin's bug must not take the run down
            continue
    return False


def _generic_side_file(head: Head) -> bool:
    """Side files no one provider owns."""
    if head.kind != "json":
        return False
    p = head.paths
    if head.top == "array" and p.get("") == "start_array" and len(p) == 1:
        return True  # []: e.g. an empty feedback list in an export
    # a manifest of files, as export tools and sync folders write them
    return head.top == "object" and "files" in p and "session" not in p and "mapping" not in p


def read_head(data: bytes, path: str = "", parsed: list[tuple[bytes, dict]] | None = None) -> Head:
    """Classify the first bytes of a file (already cleaned of BOM/encoding issues).
    ``parsed`` receives (line, record) for each JSONL record read (iter_jsonl reuses them)."""
    s = data.lstrip()
    if not s:
        return Head("empty")
    if s[:1] == b"[":
        return _json_head(data)
    if s[:1] != b"{":
        return _text_head(data)
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
            if parsed is not None:
                parsed.append((line, obj))
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


_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")


def _text_head(data: bytes) -> Head:
    """Text (a Markdown transcript, a README) or binary content (an image). The
    bytes were cleaned: invalid UTF-8 is U+FFFD by now, so binary content shows
    as replacement and control characters; text has (almost) none."""
    text = data.decode("utf-8", "replace")
    if len(_BINARY.findall(text)) * 100 > len(text):
        return Head("other")
    return Head("text", text=text)


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


def detect(head: Head) -> Provider | None:
    """The first provider, in sniff order, whose sniffer accepts this head, or None.
    A sniffer is shown only the heads of its kind (``base.ASKED``)."""
    reg = _registry if _registry is not None else _load()
    for p in reg.asked.get(head.kind, ()):
        try:
            if p.sniff(head):
                return p
        except Exception:  # a sniffer bug must not take the run down
            continue
    return None


SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_MAGICS = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")  # a SQLite write-ahead log, either byte order


class _Prefixed:
    """``raw`` with its first bytes, already read to look for a magic number, put back."""

    def __init__(self, first: bytes, raw: BinaryIO):
        self.first, self.raw = first, raw

    def read(self, n: int = -1) -> bytes:
        if not self.first:
            return self.raw.read(n)
        first, self.first = self.first, b""
        if n is not None and 0 <= n <= len(first):
            self.first = first[n:]
            return first[:n]
        return first + self.raw.read(-1 if n is None or n < 0 else n - len(first))


def open_clean(raw: BinaryIO, ctx: ParseContext) -> tuple[Head, BinaryIO]:
    """Sniff the head of ``raw``; return it with a buffered stream from the start.
    A SQLite database is recognised by its magic number before any cleaning
    (``Head("sqlite")`` with no tables yet: ``sniffed`` opens the database)."""
    first = raw.read(len(SQLITE_MAGIC))
    if first == SQLITE_MAGIC:
        return Head("sqlite"), replay(first, raw)
    if first[:4] in WAL_MAGICS:
        return Head("sqlite-wal"), replay(first, raw)
    clean = CleanReader(_Prefixed(first, raw), ctx, check_depth=True)
    # the head's depth is checked before anything parses it, but only when it could nest too
    # deep or is a JSON document (the check's state goes on with the rest): most heads are JSONL
    clean.hold_depth_check()
    chunks, size = [], 0
    while size < HEAD_BYTES:
        c = clean.read(HEAD_BYTES - size)
        if not c:
            break
        chunks.append(c)
        size += len(c)
    data = b"".join(chunks)
    deep = clean.held_opens > MAX_JSON_DEPTH
    if deep:
        clean.release_depth_check(True)
    parsed: list[tuple[bytes, dict]] = []
    head = read_head(data, parsed=parsed)
    if head.kind == "jsonl":  # the parser reads these lines again: it takes these records
        ctx.head_records = parsed
    if not deep:
        clean.release_depth_check(head.kind == "json")
    clean.check_depth = head.kind == "json"  # JSONL lines are parsed by orjson, which limits depth itself
    return head, replay(data, clean)


@contextmanager
def sniffed(
    raw: BinaryIO,
    ctx: ParseContext,
    *,
    path: str | None = None,
    name: str = "",
    sibling: Callable[[str], BinaryIO | None] | None = None,
    provider: Provider | None = None,
) -> Iterator[tuple[Head, Provider | None, Any]]:
    """Open an input: yields (head, its provider or None, what that provider's
    ``parse`` reads). ``path`` is the file on disk (None for a zip member), ``name``
    its own name, ``sibling(name)`` opens another file of its folder. What it opened
    (a database connection, a private snapshot) is closed when the block ends.

    - JSON, JSONL and text: the cleaned stream, or a ``Unit`` for a provider that
      declares ``siblings``;
    - SQLite: a read-only connection (``sqlite_input.open_database``); the head
      lists its tables, so the providers' sniffers judge the schema;
    - a SQLite write-ahead log (``<db>-wal``) stands for its database: in WAL
      mode a database's new rows land in the log, not in the file, so a log that
      changed is the database changed (read whole, as when the file changes)."""
    head, stream = open_clean(raw, ctx)
    if head.kind not in ("sqlite", "sqlite-wal"):
        found = provider or detect(head)
        if found is not None and found.siblings:
            yield head, found, Unit(stream, name, _clean_siblings(sibling, ctx))
        else:
            yield head, found, stream
        return
    from .sqlite_input import database_of_log, open_database

    db_path = path
    if head.kind == "sqlite-wal":
        db_path = database_of_log(path)
        if db_path is None:
            yield Head("other"), None, stream  # a log without its database: nothing to read
            return
    with open_database(db_path, stream, ctx, lambda tables: provider or detect(Head("sqlite", tables=tables))) as (
        tables,
        found,
        conn,
    ):
        yield Head("sqlite", tables=tables), found, conn


def _clean_siblings(
    sibling: Callable[[str], BinaryIO | None] | None, ctx: ParseContext
) -> Callable[[str], BinaryIO | None]:
    def open_one(name: str) -> BinaryIO | None:
        raw = sibling(name) if sibling is not None else None
        return None if raw is None else _CleanFile(raw, ctx)

    return open_one


class _CleanFile(io.BufferedReader):
    """A sibling file, cleaned like any input; closing it closes the file."""

    def __init__(self, raw: BinaryIO, ctx: ParseContext):
        super().__init__(CleanReader(raw, ctx), 1 << 16)
        self._file = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._file.close()


def parse_path(path: str, provider: str | None = None) -> tuple[list, ParseContext]:
    """Parse one file completely (tests and tools). Returns (conversations, ctx).
    Raises ParseError when the format is unknown or the file is unreadable."""

    ctx = ParseContext(path)
    folder = os.path.dirname(os.path.abspath(path))
    with (
        open(path, "rb") as raw,
        sniffed(
            raw,
            ctx,
            path=path,
            name=os.path.basename(path),
            sibling=lambda n: open_sibling_file(folder, n),
            provider=by_name(provider) if provider else None,
        ) as (head, found, source),
    ):
        if found is None:
            raise ParseError(f"unrecognised format ({head.kind})")
        return list(found.parse(source, ctx)), ctx


__all__ = [
    "ENTRY_POINT_GROUP",
    "Head",
    "Location",
    "ParseContext",
    "ParseError",
    "Provider",
    "Records",
    "Resume",
    "Unit",
    "by_name",
    "detect",
    "is_side_file",
    "load_errors",
    "names",
    "open_clean",
    "open_sibling_file",
    "parse_path",
    "providers",
    "read_head",
    "register",
    "sniffed",
]
