"""Every registered provider's sample inputs, and the bad-input corpus made from them.

A sample belongs to the provider whose sniffer claims it, found as a sync finds it
(``providers.sniffed``): a provider added later, with fixtures under tests/fixtures/
or files among the shared samples, joins the mixed-sync and bad-input tests with no
line changed there. The corpus does the same damage to one file of each provider
and form (truncation, garbage, wrong types, out-of-range and huge values, deep
nesting, invalid UTF-8, repeated and reordered records), so every parser meets it.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from conftest import EXAMPLES, REPO, SHARED_SAMPLES
from out_of_range import ACCEPTED, BAD_TIMES

from polylogue.errors import ParseError
from polylogue.providers import by_name, parse_path, sniffed
from polylogue.providers.common import ParseContext, open_sibling_file, to_utc

FIXTURES = REPO / "tests" / "fixtures"
NOT_CHATS = {"schemas"}  # the JSON Schemas among the shared samples describe formats; they hold no chats
BASE_MAX_BYTES = 300 << 10  # a corpus base this size or less: the damage is done to it some 10 times over
HUGE_TEXT = 2 << 20  # a text of 2 MB; the 16 MB cap itself is met once, by huge.jsonl of the classic corpus
DEEP = 5_000  # past the depth any reader here takes (512 for documents, 1024 for a line)


@dataclass(frozen=True)
class Sample:
    path: Path
    provider: str
    kind: str  # the head's kind: json, jsonl, text, sqlite
    top: str | None  # json: "array" or "object"
    committed: bool  # in this repository, not among the shared samples

    @property
    def form(self) -> str:
        """The provider and the form of its file: "grok.json-object", "goose.jsonl"."""
        return f"{self.provider}.{self.kind}" + (f"-{self.top}" if self.top else "")


@dataclass(frozen=True)
class BadFile:
    path: Path
    base: Sample
    damage: str
    must_report: bool  # damage no parser can miss (a cut document, garbage, invalid UTF-8...)


def claimant(path: Path) -> Sample | None:
    """The sample ``path`` is, or None when no provider claims it (or it is a side file)."""
    ctx = ParseContext(str(path))
    try:
        with (
            open(path, "rb") as raw,
            sniffed(
                raw,
                ctx,
                path=str(path),
                name=path.name,
                sibling=lambda n: open_sibling_file(str(path.parent), n),
            ) as (head, found, _),
        ):
            if found is None:
                return None
            committed = SHARED_SAMPLES not in path.parents
            return Sample(path, found.name, head.kind, head.top, committed)
    except (ParseError, OSError):
        return None


@lru_cache(maxsize=1)
def all_samples() -> tuple[Sample, ...]:
    """Every file the registry claims among the committed fixtures, the examples and,
    when they are there, the shared samples."""
    roots = [FIXTURES, EXAMPLES] + ([SHARED_SAMPLES] if SHARED_SAMPLES.is_dir() else [])
    out = []
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and not NOT_CHATS & set(p.relative_to(root).parts):
                s = claimant(p)
                if s is not None:
                    out.append(s)
    return tuple(out)


def corpus_bases() -> list[Sample]:
    """One file per provider and form: a committed one where there is one (the test
    then runs without the shared samples), the largest within BASE_MAX_BYTES."""
    forms: dict[str, list[Sample]] = {}
    for s in all_samples():
        forms.setdefault(s.form, []).append(s)
    out = []
    for form in sorted(forms):
        group = [s for s in forms[form] if s.committed] or forms[form]
        small = [s for s in group if _size(s) <= BASE_MAX_BYTES]
        out.append(max(small, key=_size) if small else min(group, key=_size))
    return out


def _size(s: Sample) -> int:
    return s.path.stat().st_size


def parsed(path: Path) -> list:
    """The conversations one file gives, parsed alone; [] for a file that fails."""
    try:
        return parse_path(str(path))[0]
    except ParseError:
        return []


# ---------------------------------------------------------------- laying files out


def place(sample: Sample, folder: Path) -> Path:
    """Copy a sample into ``folder`` with the files its provider reads beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    for sib in by_name(sample.provider).siblings:
        if (sample.path.parent / sib).is_file() and sib != sample.path.name:
            shutil.copyfile(sample.path.parent / sib, folder / sib)
    dest = folder / sample.path.name
    shutil.copyfile(sample.path, dest)
    return dest


def build_provider_corpus(root: Path, bases: list[Sample]) -> list[BadFile]:
    """Each kind of damage done to each base, one file per folder:
    ``root/<form>/<damage>/<the base's own name>`` (siblings beside it)."""
    out = []
    for base in bases:
        for damage, must, make in damages(base):
            dest = place(base, root / base.form / damage)
            data = make(base.path.read_bytes(), dest)
            if data is not None:
                dest.write_bytes(data)
            if damage.startswith("zipped-"):
                dest = _zip_folder(dest.parent)
            out.append(BadFile(dest, base, damage, must))
    return out


def _zip_folder(folder: Path) -> Path:
    """The files of ``folder`` moved into one zip there: an export as it is downloaded,
    read member by member from a stream that cannot seek."""
    dest = folder / "export.zip"
    files = sorted(p for p in folder.iterdir() if p.is_file())
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f"export/{f.name}")
            f.unlink()
    return dest


# ---------------------------------------------------------------- the damage

# (name, must be reported, make): make(the base's bytes, its copy) gives the copy's new bytes,
# or None when it changed the copy in place (a database)
Damage = tuple[str, bool, Callable[[bytes, Path], bytes | None]]

_BAD_UTF8 = "\ue000"  # a marker put into a string, then replaced by invalid UTF-8 bytes
_DEEP = "\ue001"  # a marker replaced by nesting deeper than any reader takes
WRONG = {str: 7, int: "7", float: "7.5", bool: "yes", type(None): {"": None}}


def damages(base: Sample) -> list[Damage]:
    if base.kind == "json":
        return _json_damage(3)  # the fields of a conversation, a message
    if base.kind == "jsonl":
        return _jsonl_damage()
    if base.kind == "text":
        return _text_damage()
    if base.kind == "sqlite":
        return _sqlite_damage()
    return []


def _json_damage(depth: int) -> list[Damage]:
    def tree(fn: Callable[[Any], Any]) -> Callable[[bytes, Path], bytes]:
        return lambda data, _: _redone(data, fn)

    return [
        ("truncated", True, lambda d, _: _cut(d)),
        ("garbage", True, lambda d, _: d[: len(d) // 2] + b'\x00}{]",:garbage\x01' + d[len(d) // 2 + 20 :]),
        ("wrong-types", False, tree(lambda v: _wrong_types(v, depth))),
        ("nulls", False, tree(lambda v: _nulls(v, depth))),
        ("out-of-range", False, tree(lambda v: _out_of_range(v, depth))),
        ("big-number", False, lambda d, _: _big_number(d)),
        ("huge-text", False, tree(lambda v: _longest_string(v, depth, "start " + "x" * HUGE_TEXT + " end"))),
        ("deep", True, tree(lambda v: _longest_string(v, depth, _DEEP))),
        ("bad-utf8", True, tree(lambda v: _longest_string(v, depth, None))),
        ("repeated", False, tree(lambda v: v + v if isinstance(v, list) else v)),
        ("zipped-truncated", True, lambda d, _: _cut(d)),
    ]


def _jsonl_damage() -> list[Damage]:
    def each(fn: Callable[[Any], Any], start: int = 0) -> Callable[[bytes, Path], bytes]:
        def run(data: bytes, _: Path) -> bytes:
            lines = data.splitlines()
            out = [ln if i < start else _redone(ln, fn) for i, ln in enumerate(lines)]
            return b"\n".join(out) + b"\n"

        return run

    garbage = b"{not json at all\n\x00\x01\x02\n[1,2,3]\n" + b'"a string"\n'

    def with_garbage(data: bytes, _: Path) -> bytes:
        first, _, rest = data.partition(b"\n")
        return first + b"\n" + garbage + rest

    def one_line(fn: Callable[[Any], Any]) -> Callable[[bytes, Path], bytes]:
        """``fn`` applied to the longest line only: one damaged record among good ones."""

        def run(data: bytes, _: Path) -> bytes:
            lines = data.splitlines()
            i = max(range(len(lines)), key=lambda k: len(lines[k]) if _is_json(lines[k]) else -1)
            lines[i] = _redone(lines[i], fn)
            return b"\n".join(lines) + b"\n"

        return run

    return [
        ("truncated", True, lambda d, _: _cut(d)),
        ("garbage", True, with_garbage),
        ("wrong-types", False, each(lambda v: _wrong_types(v, 2))),
        ("wrong-record-fields", False, each(lambda v: _wrong_types(v, 1), start=3)),
        ("nulls", False, each(lambda v: _nulls(v, 2))),
        ("out-of-range", False, each(lambda v: _out_of_range(v, 1))),
        ("big-number", False, lambda d, _: _big_number(d)),
        ("huge-text", False, one_line(lambda v: _longest_string(v, 1, "start " + "x" * HUGE_TEXT + " end"))),
        ("deep", True, one_line(lambda v: _longest_string(v, 1, _DEEP))),
        ("bad-utf8", True, one_line(lambda v: _longest_string(v, 1, None))),
        ("reordered-repeated", False, lambda d, _: b"\n".join(2 * d.splitlines()[::-1]) + b"\n"),
        ("zipped-truncated", True, lambda d, _: _cut(d)),
    ]


def _text_damage() -> list[Damage]:
    def middle(insert: bytes) -> Callable[[bytes, Path], bytes]:
        def run(d: bytes, _: Path) -> bytes:
            at = d.find(b"\n", len(d) // 2) + 1 or len(d)
            return d[:at] + insert + d[at:]

        return run

    return [
        ("truncated", False, lambda d, _: _cut(d)),  # a text cut short is still a text
        ("garbage", False, middle(b"\x00\x01\x02 garbage \x7f\x1b[31m\n{not json\n")),
        ("bad-utf8", True, middle(b"a line \xff\xfe with invalid UTF-8\n")),
        ("huge-text", False, middle(b"start " + b"x" * HUGE_TEXT + b" end\n")),
        ("repeated", False, lambda d, _: d + b"\n" + d),
        ("zipped-bad-utf8", True, middle(b"a line \xff\xfe with invalid UTF-8\n")),
    ]


def _sqlite_damage() -> list[Damage]:
    def rows(fn: Callable[[Any], Any]) -> Callable[[bytes, Path], None]:
        """``fn`` applied to every JSON value in every table of the copy at ``dest``."""

        def run(_: bytes, dest: Path) -> None:
            conn = sqlite3.connect(dest)
            try:
                _rewrite_json_values(conn, fn)
                conn.commit()
            finally:
                conn.close()

        return run

    def garbage(d: bytes, _: Path) -> bytes:
        mid = len(d) // 2
        return d[:mid] + bytes(range(256)) * 16 + d[mid + 4096 :]

    return [
        ("truncated", True, lambda d, _: d[: max(4096, len(d) // 2)]),
        ("garbage", False, garbage),
        ("wrong-types", False, rows(lambda v: _wrong_types(v, 1))),
        ("nulls", False, rows(lambda v: _nulls(v, 1))),
        ("out-of-range", False, rows(lambda v: _out_of_range(v, 0))),
        ("bad-utf8", False, rows(lambda v: _longest_string(v, 0, None))),
        ("zipped-truncated", True, lambda d, _: d[: max(4096, len(d) // 2)]),
    ]


def _rewrite_json_values(conn: sqlite3.Connection, fn: Callable[[Any], Any]) -> None:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
        for rowid, *values in conn.execute(f'SELECT rowid, * FROM "{table}"').fetchall():
            for col, v in zip(cols, values):
                try:
                    doc = json.loads(v) if isinstance(v, (str, bytes)) else None
                except ValueError:
                    continue
                if isinstance(doc, (dict, list)):
                    new = _dump(fn(doc))
                    conn.execute(f'UPDATE "{table}" SET "{col}" = CAST(? AS TEXT) WHERE rowid = ?', (new, rowid))


def _redone(data: bytes, fn: Callable[[Any], Any]) -> bytes:
    """``data`` read as JSON, changed by ``fn`` and written again; unchanged where it
    is no JSON (a blank line, a sample's own bad line)."""
    return _dump(fn(json.loads(data))) if _is_json(data) else data


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _dump(value: Any) -> bytes:
    """JSON text; the markers become invalid UTF-8 and deep nesting, the bytes no
    writer of JSON would give."""
    data = json.dumps(value, allow_nan=True).encode()
    data = data.replace(json.dumps(_BAD_UTF8).encode()[1:-1], b"\xff\xfe")
    return data.replace(f'"{json.dumps(_DEEP)[1:-1]}"'.encode(), b"[" * DEEP + b"]" * DEEP)


def _cut(data: bytes) -> bytes:
    """The first part of ``data``, cut inside a line (not at its end)."""
    at = max(1, len(data) * 3 // 5)
    while at < len(data) - 1 and (data[at - 1 : at + 1].find(b"\n") >= 0 or data[at - 1 : at].isspace()):
        at += 1
    return data[:at]


def _big_number(data: bytes) -> bytes:
    """The last number of the file beyond what any JSON reader here takes."""
    found = list(re.finditer(rb":\s*(-?\d+(\.\d+)?)\s*[,}]", data))
    if not found:
        return data
    m = found[-1]
    return data[: m.start(1)] + b"1" + b"0" * 400 + data[m.end(1) :]


def _nodes(v: Any, depth: int = 0) -> Iterator[tuple[Any, Any, Any, int]]:
    """(container, key, value, depth of value) for every value below ``v``."""
    items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
    for k, x in list(items):
        yield v, k, x, depth + 1
        yield from _nodes(x, depth + 1)


def _wrong_types(v: Any, depth: int) -> Any:
    """Every value at ``depth`` or deeper of another type: scalars swapped, every
    third container turned inside out (a list for an object and back)."""
    n = 0
    for parent, k, x, d in list(_nodes(v)):
        if d < depth:
            continue
        if isinstance(x, (dict, list)):
            n += 1
            if n % 3 == 0:
                parent[k] = list(x.values()) if isinstance(x, dict) else {str(i): y for i, y in enumerate(x)}
        else:
            parent[k] = WRONG.get(type(x), None)
    return v


def _nulls(v: Any, depth: int) -> Any:
    """Every other value at ``depth`` or deeper null."""
    for i, (parent, k, _, d) in enumerate(list(_nodes(v))):
        if d >= depth and i % 2 == 0:
            parent[k] = None
    return v


def _out_of_range(v: Any, depth: int) -> Any:
    """Every number, and every string that reads as a time, replaced by values out of
    range or of the wrong type that every JSON reader here still takes."""
    pool = [x for x in ACCEPTED + BAD_TIMES if _readable(x)]
    n = 0
    for parent, k, x, d in list(_nodes(v)):
        timeish = isinstance(x, str) and to_utc(x) is not None
        if d >= depth and (timeish or (isinstance(x, (int, float)) and not isinstance(x, bool))):
            parent[k] = pool[n % len(pool)]
            n += 1
    return v


def _readable(x: Any) -> bool:
    try:
        json.loads(json.dumps(x, allow_nan=False))
    except ValueError:
        return False
    return not (isinstance(x, int) and not -(2**63) < x < 2**63)


def _longest_string(v: Any, depth: int, new: str | None) -> Any:
    """The longest string at ``depth`` or deeper replaced by ``new``, or (None) given
    invalid UTF-8 in its middle. No string there: the first such value."""
    found = [(p, k, x) for p, k, x, d in _nodes(v) if d >= depth and isinstance(x, str)]
    if not found:
        found = [(p, k, x) for p, k, x, d in _nodes(v) if d >= depth] or [(p, k, x) for p, k, x, _ in _nodes(v)]
    if not found:
        return v
    parent, k, x = max(found, key=lambda t: len(t[2]) if isinstance(t[2], str) else -1)
    s = x if isinstance(x, str) else "text"
    parent[k] = new if new is not None else s[: len(s) // 2] + _BAD_UTF8 + s[len(s) // 2 :]
    return v
