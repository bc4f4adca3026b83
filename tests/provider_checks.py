"""What the provider tests share (docs/providers.md, "Common to all"): a parser run
on bytes as a sync runs it, the sniffing checks (no other sniffer claims a
provider's files; its sniffer claims no other provider's samples), the shapes a
parse must keep, and the fuzz tests every parser meets: random bytes and cut,
damaged copies of real files never raise anything but ParseError."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import SHARED_SAMPLES, ids, other_providers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import all_text

from polylogue.errors import ParseError
from polylogue.models import Conversation
from polylogue.providers import Head, ParseContext, open_clean

Parsed = tuple[list[Conversation], ParseContext]
Check = Callable[[list[Conversation]], None]

# ---------------------------------------------------------------- parsing


def bytes_parser(module: ModuleType, path: str = "<bytes>") -> Callable[..., Parsed]:
    """``parse_bytes(data, path=path)``: ``module``'s parser on ``data``, cleaned and
    sniffed as a sync opens a file, with the context it warned into."""

    def parse_bytes(data: bytes, path: str = path) -> Parsed:
        ctx = ParseContext(path)
        _head, stream = open_clean(io.BytesIO(data), ctx)
        return list(module.parse(stream, ctx)), ctx

    return parse_bytes


def head_of(path: Path) -> Head:
    """The head a sync sniffs for the file at ``path``."""
    ctx = ParseContext(str(path))
    with open(path, "rb") as raw:
        head, _ = open_clean(raw, ctx)
    return head


def warned_once(ctx: ParseContext, *phrases: str) -> None:
    """One warning, saying all of ``phrases`` (an unknown version imports what it can and says so once)."""
    assert len(ctx.warnings) == 1, [w.reason for w in ctx.warnings]
    assert all(p in ctx.warnings[0].reason for p in phrases), ctx.warnings[0].reason


def keeps_the_good(convs: list[Conversation]) -> None:
    """The records marked GOOD-ONE and GOOD-TWO around a damaged one were imported."""
    assert "GOOD-ONE" in all_text(convs) and "GOOD-TWO" in all_text(convs)


# ---------------------------------------------------------------- sniffing


def name_of(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def claimed_by_others(module: ModuleType, head: Head) -> list[str]:
    """The provider modules but ``module`` whose sniffer claims ``head``."""
    return [mod.__name__ for mod in other_providers(name_of(module)) if mod.sniff(head)]


def sniffed_by_only(module: ModuleType, head: Head, label: str) -> None:
    """``module``'s sniffer claims ``head`` and no other provider's does."""
    assert module.sniff(head), label
    assert claimed_by_others(module, head) == [], label


@lru_cache(maxsize=1)
def sample_heads() -> tuple[tuple[Path, Head], ...]:
    """Every shared sample (but the compressed schemas and the manifest) with the
    head a sync sniffs for it; read once per run."""
    out = []
    for p in sorted(SHARED_SAMPLES.rglob("*")):
        if not p.is_file() or p.suffix in (".gz", ".tsv"):
            continue
        try:
            out.append((p, head_of(p)))
        except ParseError:
            continue
    return tuple(out)


def samples_claimed(module: ModuleType, outside: str | None = None) -> list[str]:
    """The names of the shared samples ``module``'s sniffer claims, those in the
    folders named ``outside`` left out."""
    return [p.name for p, head in sample_heads() if p.parent.name != outside and module.sniff(head)]


def hand_count(expected: dict[str, Any], path: Path) -> Any:
    """The hand-made count for a sample; a new sample fails until it has one."""
    assert path.name in expected, "new sample: add its hand-counted message count"
    return expected[path.name]


def counted_samples(parse_file: Callable[[Path], Parsed], paths: list[Path], expected: dict[str, list[int]]):
    """Two tests: each sample gives the conversations of ``expected[name]`` messages
    with no warning, and every sample has its count."""

    @pytest.mark.parametrize("path", paths, ids=ids(paths))
    def test_sample_counts(samples: Path, path: Path) -> None:
        convs, ctx = parse_file(path)
        assert [len(c.messages) for c in convs] == expected[path.name]
        assert ctx.all_warnings() == []

    def test_every_sample_is_listed(samples: Path) -> None:
        assert {p.name for p in paths} == set(expected)

    return test_sample_counts, test_every_sample_is_listed


# ---------------------------------------------------------------- shapes a parse keeps


def distinct_ids(convs: list[Conversation]) -> None:
    """No empty conversation; no message id twice in one."""
    for c in convs:
        assert c.messages and len({x.id for x in c.messages}) == len(c.messages)


def tree_of(provider: str) -> Check:
    """``provider``'s conversations, each a tree of distinct ids whose parents are
    among them, with exactly one active leaf (the branch shown as current)."""

    def check(convs: list[Conversation]) -> None:
        for c in convs:
            assert c.provider == provider and c.provider_id and c.messages
            mids = [x.id for x in c.messages]
            assert len(set(mids)) == len(mids)
            known = set(mids)
            assert all(x.parent_id is None or x.parent_id in known for x in c.messages)
            active = [x for x in c.messages if x.active]
            assert sum(1 for x in active if not any(y.parent_id == x.id for y in active)) == 1

    return check


def chain_of(provider: str) -> Check:
    """``provider``'s conversations, each one path: every message answers the one before it."""

    def check(convs: list[Conversation]) -> None:
        for c in convs:
            assert c.provider == provider and c.provider_id and c.messages
            mids = [x.id for x in c.messages]
            assert len(set(mids)) == len(mids)
            assert all(x.parent_id == (mids[i - 1] if i else None) for i, x in enumerate(c.messages))

    return check


# ---------------------------------------------------------------- fuzzing

LINE_DAMAGE = ("cut", "drop", "dup", "swap")


def json_shaped(
    keys: Sequence[str], leaves: st.SearchStrategy, *, items: int = 4, fields: int = 5, max_leaves: int = 20
) -> st.SearchStrategy:
    """JSON values of ``leaves`` in lists of up to ``items`` and objects of up to
    ``fields`` fields named from ``keys``: a parser's own records, nested and filled wrongly."""
    return st.recursive(
        leaves,
        lambda kids: st.lists(kids, max_size=items) | st.dictionaries(st.sampled_from(keys), kids, max_size=fields),
        max_leaves=max_leaves,
    )


def json_scalars(strings: st.SearchStrategy, ints: st.SearchStrategy | None = None) -> st.SearchStrategy:
    """Leaves: None, booleans, integers (any, or ``ints``), floats but NaN, and ``strings``."""
    return st.none() | st.booleans() | (st.integers() if ints is None else ints) | st.floats(allow_nan=False) | strings


def wide_scalars(values: Sequence[Any], max_int: int = 10**13) -> st.SearchStrategy:
    """Leaves: None, booleans, counts and epochs up to ``max_int``, integers past 64
    bits, short text and ``values``, the strings a parser looks for."""
    return (
        st.none()
        | st.booleans()
        | st.integers(-5, max_int)
        | st.integers(-(2**70), 2**70)
        | st.text(max_size=10)
        | st.sampled_from(values)
    )


@st.composite
def damaged_lines(draw: Callable, corpus: Sequence[bytes], ops: Sequence[str] = LINE_DAMAGE) -> bytes:
    """One of ``corpus``'s files with one to four of its lines cut short, emptied,
    doubled, swapped with another or (``"flip"``) given one wrong byte."""
    lines = draw(st.sampled_from(corpus)).split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(ops))
        if op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "flip" and lines[i]:
            line = bytearray(lines[i])
            line[draw(st.integers(0, len(line) - 1))] = draw(st.integers(0, 255))
            lines[i] = bytes(line)
        elif op == "drop":
            lines[i] = b""
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


@st.composite
def cut_and_junked(draw: Callable, corpus: Sequence[bytes]) -> tuple[bytes, bytes]:
    """One of ``corpus``'s files cut at a point, and the same with up to 20 bytes of junk written over it there."""
    data = draw(st.sampled_from(corpus))
    cut = draw(st.integers(0, len(data)))
    junk = draw(st.binary(max_size=20))
    return data[:cut], data[:cut] + junk + data[cut + len(junk) :]


class ParserFuzz:
    """The fuzz tests of one parser. ``@FUZZ`` applies the settings to a test of the
    module's own; the methods make the tests every parser shares, each checking
    with ``must_not_raise`` that a parse gives conversations ``check`` accepts or
    raises ParseError, the one exception a parser may raise."""

    def __init__(self, parse_bytes: Callable[[bytes], Parsed], check: Check = distinct_ids, max_examples: int = 120):
        self.parse_bytes, self.check = parse_bytes, check
        self.settings = settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])

    def __call__(self, test: Callable) -> Callable:
        return self.settings(test)

    def must_not_raise(self, data: bytes) -> list[Conversation]:
        """The conversations ``data`` gives, checked; [] when the parser refused it."""
        try:
            convs, _ = self.parse_bytes(data)
        except ParseError:
            return []
        self.check(convs)
        return convs

    def random_bytes(self, max_size: int = 2000) -> Callable:
        @self
        @given(st.binary(max_size=max_size))
        def test(data: bytes) -> None:
            self.must_not_raise(data)

        return test

    def truncated(self, corpus: Sequence[bytes]) -> Callable:
        @self
        @given(st.sampled_from(corpus), st.floats(0, 1))
        def test(data: bytes, frac: float) -> None:
            self.must_not_raise(data[: int(len(data) * frac)])

        return test

    def flipped_byte(self, corpus: Sequence[bytes]) -> Callable:
        @self
        @given(st.sampled_from(corpus), st.integers(0, 10**6), st.integers(0, 255))
        def test(data: bytes, at: int, value: int) -> None:
            b = bytearray(data)
            b[at % len(b)] = value
            self.must_not_raise(bytes(b))

        return test

    def damaged_lines(self, corpus: Sequence[bytes], ops: Sequence[str] = LINE_DAMAGE) -> Callable:
        @self
        @given(damaged_lines(corpus, ops))
        def test(data: bytes) -> None:
            self.must_not_raise(data)

        return test

    def truncated_and_junked(self, corpus: Sequence[bytes]) -> Callable:
        @self
        @given(cut_and_junked(corpus))
        def test(versions: tuple[bytes, bytes]) -> None:
            for data in versions:
                self.must_not_raise(data)

        return test
