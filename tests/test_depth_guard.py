"""CleanReader's JSON depth guard, against a character-by-character reference.

The guard works on whole chunks with byte operations (it is on the parse path of
every JSON document and every file's head); the reference walks the same bytes
one at a time. The guard judges a chunk's brackets at once (the pairs it closes,
then what stays open), so near the limit where it says "too deep" depends on
where chunks end; however the input is cut, it must pass whatever nests at most
MAX_JSON_DEPTH deep and reject whatever nests more than twice that.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polylogue.providers import open_clean
from polylogue.providers.common import MAX_JSON_DEPTH, CleanReader, ParseContext, ParseError


def reference_depth(data: bytes) -> int:
    """The deepest nesting of brackets outside strings (escapes honoured), a close without an open ignored."""
    depth = deepest = 0
    in_string = escape = False
    for c in data:
        if escape:
            escape = False
        elif c == 0x5C:  # backslash
            escape = True
        elif in_string:
            in_string = c != 0x22
        elif c == 0x22:
            in_string = True
        elif c in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in b"]}":
            depth = max(0, depth - 1)
    return deepest


class Chunked:
    """A raw stream that hands out ``data`` in the given chunk sizes."""

    def __init__(self, data: bytes, sizes: list[int]):
        self.data, self.sizes, self.pos = data, sizes, 0

    def read(self, n: int = -1) -> bytes:
        size = self.sizes.pop(0) if self.sizes else max(n, 1)
        out = self.data[self.pos : self.pos + size]
        self.pos += len(out)
        return out


def guard_too_deep(data: bytes, sizes: list[int]) -> bool:
    reader = CleanReader(Chunked(data, list(sizes)), ParseContext("t"), check_depth=True)
    try:
        while reader.read(1 << 20):
            pass
    except ParseError as e:
        assert "nested deeper" in str(e)
        return True
    return False


# runs of one byte make deep nesting and long escape runs likely
pieces = st.tuples(st.sampled_from(list(b'"\\[]{}a')), st.integers(1, 1100)).map(lambda t: bytes([t[0]]) * t[1])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(pieces | st.sampled_from([b'"', b"\\", b'\\"', b"\\\\", b'""', b"[", b"}"]), max_size=40),
    st.lists(st.integers(1, 700), max_size=20),
)
def test_guard_agrees_with_reference(parts: list[bytes], sizes: list[int]) -> None:
    data = b"".join(parts)
    depth = reference_depth(data)
    if depth <= MAX_JSON_DEPTH:
        assert not guard_too_deep(data, sizes)
    elif depth > 2 * MAX_JSON_DEPTH:
        assert guard_too_deep(data, sizes)


@pytest.mark.parametrize(
    ("data", "deep"),
    [
        (b"[" * (MAX_JSON_DEPTH + 1), True),
        (b"[" * MAX_JSON_DEPTH, False),
        (b'["' + b"[" * 1000 + b'"]', False),  # inside a string
        (b'["\\"' + b"[" * 1000 + b'"]', False),  # an escaped quote does not end the string
        (b'["\\\\"' + b"[" * 1000, True),  # an escaped backslash does not escape the quote
        (b'""' + b"{" * 600, True),  # an empty string
        (b"[]" * 5000, False),  # wide, not deep
    ],
)
def test_guard_cases(data: bytes, deep: bool) -> None:
    assert (reference_depth(data) > MAX_JSON_DEPTH) == deep
    for size in (1, 7, 4096, len(data)):
        assert guard_too_deep(data, [size] * (len(data) // size + 1)) == deep


def test_guard_through_a_buffered_stream() -> None:
    """As open_clean uses it: the reader behind a BufferedReader."""
    data = b'{"a": "' + b"[" * 2000 + b'", "b": ' + b"[" * 600 + b"]" * 600 + b"}"
    reader = io.BufferedReader(CleanReader(io.BytesIO(data), ParseContext("t"), check_depth=True))
    with pytest.raises(ParseError, match="nested deeper"):
        reader.read()


def read_all(data: bytes, chunk: int = 1 << 16) -> bytes:
    """Open ``data`` as a sync does (head sniffed, then the rest streamed)."""
    head, stream = open_clean(io.BytesIO(data), ParseContext("t"))
    out = bytearray()
    while piece := stream.read(chunk):
        out += piece
    return bytes(out)


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 600,  # a JSON document, deep within its head
        b'{"a": 1}\n{"b": ' + b"[" * 600 + b"]" * 600 + b"}\n",  # JSONL: a deep line in the head
        b'[{"t": "' + b"x" * 300_000 + b'"}, ' + b"[" * 600,  # deep after the head: the check goes on
        b'[{"t": "' + b"[" * 300_000 + b'", "u": ' + b"{" * 600,  # after a head of brackets in a string
    ],
)
def test_open_clean_rejects_deep_nesting(data: bytes) -> None:
    with pytest.raises(ParseError, match="nested deeper"):
        read_all(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}\n' * 40_000
        + b'{"b": '
        + b"[" * 600
        + b"]" * 600
        + b"}\n",  # JSONL: orjson bounds lines past the head
        b'[{"t": "' + b"[" * 300_000 + b'"}, [[[]]]]',  # brackets in a string
        b'{"a": [' + b"[]," * 200_000 + b"[]]}",  # wide, not deep
    ],
)
def test_open_clean_passes_shallow_json(data: bytes) -> None:
    assert read_all(data) == data
