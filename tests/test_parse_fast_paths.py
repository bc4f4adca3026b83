"""The parsers' fast paths give what the general code gives.

A fast path takes the usual shape of a value straight through (benchmarks/parse.py
measures what that saves); on any input, including the ones that only look usual,
the result must be the general path's.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from polylogue.providers import open_clean
from polylogue.providers.common import (
    ParseContext,
    ParseError,
    _utc_from_any_text,
    _utc_from_text,
    iter_jsonl,
    skip_on_error,
    skipped,
    to_utc,
)

# 24 characters with the fast path's markers where it looks for them, the rest drawn
# from what could fool it: digits (also non-ASCII ones), spaces, "EPOCH", signs, letters
_NOISE = st.sampled_from(list("0123456789 -:.TZE POCH+²٣[]x\t"))


@st.composite
def near_iso(draw) -> str:
    chars = draw(st.lists(_NOISE, min_size=24, max_size=24))
    chars[10], chars[19], chars[23] = "T", ".", "Z"
    return "".join(chars)


@st.composite
def real_iso(draw) -> str:
    dt = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@settings(max_examples=400)
@given(st.one_of(near_iso(), real_iso(), st.text(max_size=30)))
@example("2025-04-01T05:43:19.912Z")
@example(" 025-04-01T05:43:19.912Z")
@example("0001-01-01T00:00:00.000Z")
@example("9999-12-31T23:59:59.999Z")
@example("2025-04-01TEPOCH:19.912Z")
@example("2025-02-30T05:43:19.912Z")
def test_timestamp_fast_path_is_the_general_path(value: str) -> None:
    fast, general = _utc_from_text(value), _utc_from_any_text(value)
    assert fast == general
    assert (fast.tzinfo, fast.utcoffset()) == (general.tzinfo, general.utcoffset()) if fast and general else True


def test_timestamp_fast_path_values() -> None:
    assert to_utc("2025-04-01T05:43:19.912Z") == datetime(2025, 4, 1, 5, 43, 19, 912000, tzinfo=UTC)
    assert to_utc("2025-04-01T05:43:19.912Z").utcoffset() == timedelta(0)
    assert to_utc("2025-13-01T05:43:19.912Z") is None  # month 13
    assert to_utc("EPOCH-04-01T05:43:19.912Z") is None  # a placeholder


def test_skipped_gives_skip_on_errors_verdict() -> None:
    """The JSONL parsers catch a record's failure themselves (``skipped``): the same
    warning as ``skip_on_error``, and a ParseError still fails the file."""
    by_guard, by_call = ParseContext("f"), ParseContext("f")
    with skip_on_error(by_guard, "record", 3):
        {}["missing"]
    try:
        {}["missing"]
    except Exception as exc:
        assert skipped(by_call, exc, "record", 3) == "KeyError: 'missing'"
    assert by_call.all_warnings() == by_guard.all_warnings()
    assert "record skipped: KeyError: 'missing'" in by_call.all_warnings()[0]
    try:
        raise ParseError("the whole file")
    except Exception as exc:
        assert skipped(by_call, exc, "record", 4) is None
    assert len(by_call.all_warnings()) == 1


# JSONL lines: records (some repeated), other JSON, broken JSON, blank lines, CRLF
_LINES = st.one_of(
    st.dictionaries(st.sampled_from(["type", "a", "b"]), st.integers() | st.text(max_size=5), max_size=3).map(
        lambda d: json.dumps(d)
    ),
    st.sampled_from(['{"type": "x"}', "[1, 2]", "3", "{broken", "", "   ", '{"a": "\\u00e9"}', '{"k": [{}]}\r']),
)


def _records(data: bytes, sniffed_first: bool) -> tuple[list, list[str]]:
    ctx = ParseContext("t.jsonl")
    stream = open_clean(io.BytesIO(data), ctx)[1] if sniffed_first else io.BytesIO(data)
    return list(iter_jsonl(stream, ctx)), ctx.all_warnings()


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, max_size=70), st.booleans(), st.integers(0, 3))
def test_head_records_reused_give_the_same_records(lines: list[str], final_newline: bool, blank_first: int) -> None:
    """open_clean hands the records its sniff parsed to iter_jsonl: the same records,
    line numbers and warnings as parsing every line."""
    data = ("\n" * blank_first + "\n".join(lines) + ("\n" if final_newline else "")).encode()
    got, reference = _records(data, True), _records(data, False)
    assert got == reference


def test_head_records_are_used_and_let_go() -> None:
    data = b"".join(json.dumps({"type": "t", "n": i}).encode() + b"\n" for i in range(80))
    ctx = ParseContext("t.jsonl")
    stream = open_clean(io.BytesIO(data), ctx)[1]
    shared = [rec for _, rec in ctx.head_records]
    assert len(shared) == 50  # HEAD_LINES records sniffed
    records = [rec for _, rec in iter_jsonl(stream, ctx)]
    assert records == [{"type": "t", "n": i} for i in range(80)]
    assert all(a is b for a, b in zip(records, shared))  # not parsed a second time
    assert ctx.head_records == []  # consumed: not held for the rest of the parse
