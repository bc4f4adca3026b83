"""The helpers every provider shares (polylogue/providers/common.py): timestamps,
bounded copies of raw values, and message-tree rules (parent loops, the active path)."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polylogue.errors import ParseError
from polylogue.models import Message
from polylogue.providers import chatgpt, claude_code, open_clean
from polylogue.providers.common import (
    PARENT_CYCLE,
    ParseContext,
    active_path,
    bounded,
    break_message_cycles,
    break_parent_cycles,
    clip_text,
    error_summary,
    is_placeholder,
    json_or_summary,
    latest,
    latest_leaf,
    read_time,
    to_utc,
)

# ---------------------------------------------------------------- timestamps


def _utc_or_none(v) -> None:
    """to_utc never raises and returns None or an aware UTC datetime."""
    out = to_utc(v)
    assert out is None or (isinstance(out, datetime) and out.utcoffset() == timedelta(0))


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-14:00",  # UTC would be year 10000
        "0001-01-01T00:00:00+14:00",  # UTC would be year 0
        "0000-01-01T00:00:00Z",
        "10000-01-01",
        10**30,
        10**400,  # beyond any float
        "1" * 400,
        -1,
        0,
        float("inf"),
        float("nan"),
        "²",  # str.isdigit() says yes, float() says no
        "--5",
        "",
        "[REDACTED]",
        "EPOCH+5",
        True,
        [1700000000],
        {"$date": {"$date": "2024-01-01"}},
    ],
)
def test_to_utc_unreadable_or_out_of_range_is_none(value):
    assert to_utc(value) is None


_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)), _OFFSETS)
def test_to_utc_any_iso_time_with_any_offset(naive, tz):
    dt = naive.replace(tzinfo=tz)
    try:
        expected = dt.astimezone(UTC)
    except OverflowError:  # the instant lies outside years 1-9999 in UTC
        expected = None
    assert to_utc(dt.isoformat()) == expected
    assert to_utc(dt.isoformat().replace("+00:00", "Z")) == expected


@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.text(alphabet="0123456789.-+:TZ ", max_size=40),
        st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{0,9})?", fullmatch=True),
        st.from_regex(
            r"[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?([+-][0-9]{2}:[0-9]{2}|Z)?"
        ),
        st.fixed_dictionaries({"$date": st.one_of(st.integers(), st.text(max_size=30))}),
    )
)
def test_to_utc_never_raises(value):
    _utc_or_none(value)


@given(st.floats(min_value=1, max_value=1e11 - 1))
def test_epoch_seconds_and_milliseconds_agree(seconds):
    s = to_utc(seconds)
    assert s == datetime.fromtimestamp(seconds, tz=UTC)
    if seconds * 1000 > 1e11:  # below that a number reads as seconds
        ms = to_utc(seconds * 1000)
        assert ms is not None and abs((ms - s).total_seconds()) < 0.01


def test_to_utc_readable_forms():
    want = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    for v in (
        "2024-03-01T12:00:00Z",
        "2024-03-01T12:00:00",  # naive ISO is UTC
        "2024-03-01T14:00:00+02:00",
        "2024-03-01T12:00:00.000000000Z",  # nanoseconds trimmed
        1709294400,
        1709294400000,
        1709294400000000,
        "1709294400",
        {"$date": {"$numberLong": "1709294400000"}},
    ):
        assert to_utc(v) == want, v


def test_read_time_keeps_what_it_cannot_read():
    meta: dict = {}
    assert read_time("2024-03-01T12:00:00Z", meta, "timestamp") is not None and meta == {}
    assert read_time(None, meta, "timestamp") is None and meta == {}
    assert read_time("[REDACTED]", meta, "timestamp") is None and meta == {}  # a placeholder says nothing
    assert read_time("9999-12-31T23:59:59-14:00", meta, "timestamp") is None
    assert meta == {"timestamp_raw": "9999-12-31T23:59:59-14:00"}
    read_time("x" * 10_000, meta, "create_time")
    assert len(meta["create_time_raw"]) < 300  # bounded


def test_placeholders():
    assert is_placeholder("[trimmed for fixture]") and is_placeholder(" [a\nb] ")
    assert not is_placeholder("2024-01-01") and not is_placeholder(None)


def _claude_code_session(timestamp) -> bytes:
    base = {"sessionId": "s1", "cwd": "/p", "version": "2.0.0"}
    recs = [
        {**base, "type": "user", "uuid": "u1", "parentUuid": None, "timestamp": "2024-03-01T12:00:00Z",
         "message": {"role": "user", "content": "hello"}},
        {**base, "type": "assistant", "uuid": "a1", "parentUuid": "u1", "timestamp": timestamp,
         "message": {"id": "m1", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": "hi"}]}},
    ]  # fmt: skip
    return b"".join(json.dumps(r).encode() + b"\n" for r in recs)


@pytest.mark.parametrize(
    ("timestamp", "kept"),
    [
        ("9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59-14:00"),
        ("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00+14:00"),
        (10**30, 1e30),  # orjson reads an integer beyond 64 bits as a float
        ("²", "²"),
    ],
)
def test_an_out_of_range_time_costs_one_timestamp_not_the_session(timestamp, kept):
    ctx = ParseContext("mem.jsonl")
    _, stream = open_clean(io.BytesIO(_claude_code_session(timestamp)), ctx)
    (conv,) = claude_code.parse(stream, ctx)
    reply = conv.messages[1]
    assert reply.text == "hi" and reply.timestamp is None
    assert reply.meta["timestamp_raw"] == kept
    assert conv.created_at == conv.updated_at == datetime(2024, 3, 1, 12, tzinfo=UTC)


# ---------------------------------------------------------------- bounded values

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda kids: st.lists(kids, max_size=8) | st.dictionaries(st.text(max_size=8), kids, max_size=8),
    max_leaves=60,
)


@given(_JSON)
def test_bounded_is_storable_and_small(value):
    out = bounded(value, max_str=20, max_items=5, max_depth=4, max_total=200)
    assert len(orjson.dumps(out).decode()) < 2000  # raises on an integer beyond 64 bits
    assert not any(isinstance(x, float) and not math.isfinite(x) for x in _leaves(out))  # orjson would write null


def _leaves(v):
    if isinstance(v, dict):
        v = list(v.values())
    if isinstance(v, list):
        for x in v:
            yield from _leaves(x)
    else:
        yield v


@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
                    lambda kids: st.lists(kids, max_size=3), max_leaves=10))  # fmt: skip
def test_bounded_keeps_what_fits(value):
    assert bounded(value) == value


def test_bounded_says_what_it_cut():
    assert bounded("x" * 10, max_str=4) == "xxxx…[+6 chars]"
    assert bounded(list(range(5)), max_items=2) == [0, 1, "…[+3 items]"]
    assert bounded({"a": 1, "b": 2, "c": 3}, max_items=1) == {"a": 1, "…": "+2 keys"}
    assert bounded([[[1]]], max_depth=2) == [["…[nested too deep]"]]
    assert bounded(2**70) == str(2**70) and bounded(float("inf")) is None


@given(_JSON)
def test_json_or_summary_is_the_value_or_a_summary(value):
    out = json_or_summary(value, 100)
    orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS)
    if isinstance(value, dict | list) and out != value:
        assert out["omitted"] is True


def test_json_or_summary_and_clip_text():
    big = {"type": "image", "data": "x" * 500}
    assert json_or_summary(big, 100) == {"omitted": True, "bytes": len(orjson.dumps(big)), "type": "image"}
    assert json_or_summary({"a": 1}, 100) == {"a": 1}
    assert json_or_summary("abcdef", 3) == "abc…"
    assert json_or_summary([2**70], 100) == {"omitted": True, "reason": "not representable as JSON"}
    assert clip_text("abcdef", 3) == "abc…" and clip_text("abc", 3) == "abc" and clip_text(5, 3) is None


def test_error_summary():
    assert error_summary(ValueError("first\nsecond")) == "first"
    assert error_summary(KeyError()) == "KeyError"
    assert error_summary(ValueError("x" * 500), 10) == "x" * 10


# ---------------------------------------------------------------- message trees

_IDS = st.sampled_from("abcdefgh")
_PARENT_MAPS = st.dictionaries(_IDS, st.none() | _IDS | st.just("dangling"), max_size=8)


def _cycles(parent: dict) -> int:
    """Loops in a child -> parent map (each id has at most one parent), counted independently."""
    seen: set = set()
    loops = 0
    for start in parent:
        walk: list = []
        cur = start
        while cur in parent and cur not in seen and cur not in walk:
            walk.append(cur)
            cur = parent[cur]
        if cur in walk:
            loops += 1
        seen.update(walk)
    return loops


@given(_PARENT_MAPS)
def test_break_parent_cycles_cuts_one_link_per_loop(parent):
    before = dict(parent)
    cut = break_parent_cycles(list(parent), parent)
    assert len(cut) == _cycles(before)
    for k in before:
        if k in cut:
            assert parent[k] is None and cut[k] == before[k]
        else:
            assert parent[k] == before[k]
    for start in parent:  # every walk up ends
        walk, cur = set(), start
        while cur in parent and cur is not None:
            assert cur not in walk
            walk.add(cur)
            cur = parent[cur]


@given(_PARENT_MAPS, _IDS)
def test_active_path_is_the_leaf_and_its_ancestors(parent, leaf):
    break_parent_cycles(list(parent), parent)
    path = active_path(leaf, parent)
    expected, cur = set(), leaf
    while cur in parent:
        expected.add(cur)
        cur = parent[cur]
    assert path == expected


def test_active_path_stops_on_a_loop():
    assert active_path("a", {"a": "b", "b": "a"}) == {"a", "b"}
    assert active_path("x", {"a": None}) == set()


def _msg(mid, parent=None, ts=None, meta=None) -> Message:
    t = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=ts) if ts is not None else None
    return Message(id=mid, role="user", parent_id=parent, timestamp=t, meta=meta)


def test_break_message_cycles_records_the_cut_parent():
    msgs = [_msg("r"), _msg("y", "z", meta={"k": 1}), _msg("z", "y"), _msg("w", "w")]
    break_message_cycles(msgs)
    by = {m.id: m for m in msgs}
    # walking up from y reaches z, whose parent y closes the loop: z's link is cut
    assert by["z"].parent_id is None and by["z"].meta == {PARENT_CYCLE: "y"}
    assert by["y"].parent_id == "z" and by["y"].meta == {"k": 1}
    assert by["w"].parent_id is None and by["w"].meta == {PARENT_CYCLE: "w"}
    assert by["r"].meta is None


def test_latest_and_latest_leaf():
    assert latest(["a", "b", "c"], {"a": None, "b": None, "c": None}.get) == "c"  # ties: the later one
    stamps = {"a": datetime(2024, 1, 2, tzinfo=UTC), "b": None, "c": datetime(2024, 1, 1, tzinfo=UTC)}
    assert latest(["a", "b", "c"], stamps.get) == "a"  # unknown counts as earliest
    root, old, new = _msg("r", ts=0), _msg("o", "r", ts=5), _msg("n", "r", ts=9)
    assert latest_leaf([root, new, old]) == (new, True)
    assert latest_leaf([root, _msg("c", "r")]) == (_msg("c", "r"), False)


@settings(max_examples=50)
@given(st.lists(st.tuples(_IDS, st.none() | _IDS, st.none() | st.integers(0, 5)), max_size=8, unique_by=lambda t: t[0]))
def test_latest_leaf_is_a_leaf_when_there_is_one(rows):
    msgs = [_msg(i, p, ts) for i, p, ts in rows]
    if not msgs:
        return
    break_message_cycles(msgs)
    leaf, chosen = latest_leaf(msgs)
    assert all(m.parent_id != leaf.id for m in msgs)
    leaves = [m for m in msgs if all(o.parent_id != m.id for o in msgs)]
    assert chosen == (len(leaves) > 1)


def _parse(data: bytes, provider) -> list:
    ctx = ParseContext("mem")
    _, stream = open_clean(io.BytesIO(data), ctx)
    return list(provider.parse(stream, ctx))


def test_providers_record_a_broken_parent_loop_under_one_key():
    def node(k, parent, role):
        content = {"content_type": "text", "parts": [k]}
        return {
            "id": k,
            "parent": parent,
            "children": [parent],
            "message": {"id": k, "author": {"role": role}, "content": content},
        }

    export = [
        {
            "id": "c",
            "title": "t",
            "current_node": "b",
            "mapping": {"a": node("a", "b", "user"), "b": node("b", "a", "assistant")},
        }
    ]
    (gpt,) = _parse(json.dumps(export).encode(), chatgpt)
    base = {"sessionId": "s1", "cwd": "/p", "timestamp": "2024-03-01T12:00:00Z"}
    session = [
        {**base, "type": "user", "uuid": "u1", "parentUuid": "a1", "message": {"role": "user", "content": "q"}},
        {**base, "type": "assistant", "uuid": "a1", "parentUuid": "u1",
         "message": {"id": "m1", "role": "assistant", "content": [{"type": "text", "text": "r"}]}},
    ]  # fmt: skip
    (code,) = _parse(b"".join(json.dumps(r).encode() + b"\n" for r in session), claude_code)
    # walking up from the first message, the loop closes at the second: its link is cut
    for conv, first, second in ((gpt, "a", "b"), (code, "u1", "a1")):
        by = {m.id: m for m in conv.messages}
        assert by[second].parent_id is None and by[second].meta[PARENT_CYCLE] == first
        assert by[first].parent_id == second


# ---------------------------------------------------------------- one bad record


class _Unforeseen(Exception):
    """An error no parser names: what a record's conversion may raise one day."""


@pytest.mark.parametrize("error", [OverflowError, TypeError, KeyError, RecursionError, _Unforeseen])
def test_skip_on_error_costs_one_record_and_one_warning(error):
    from polylogue.providers.common import ParseContext, skip_on_error

    ctx = ParseContext("f.jsonl")
    kept = []
    for n in range(3):
        with skip_on_error(ctx, "line", n + 1) as guard:
            if n == 1:
                raise error("boom")
            kept.append(n)
    assert kept == [0, 2]
    assert guard.error is None  # the last record went through
    assert len(ctx.warnings) == 1 and ctx.warnings[0].line == 2
    assert ctx.warnings[0].reason.startswith("line skipped:") and error.__name__ in ctx.warnings[0].reason


@pytest.mark.parametrize("error", [MemoryError, ParseError])
def test_skip_on_error_lets_what_must_fail_the_file_through(error):
    from polylogue.providers.common import ParseContext, skip_on_error

    ctx = ParseContext("f.jsonl")
    with pytest.raises(error), skip_on_error(ctx, "line", 1):
        raise error("stop") if error is not ParseError else ParseError("stop")
    assert not ctx.warnings


@pytest.mark.parametrize("error", [OverflowError, ValueError, _Unforeseen])
def test_fail_on_error_turns_anything_into_one_parse_error(error):
    from polylogue.providers.common import fail_on_error

    with pytest.raises(ParseError) as info, fail_on_error("session"):
        raise error("bad value")
    assert info.value.reason.startswith("session:") and "bad value" in info.value.reason
