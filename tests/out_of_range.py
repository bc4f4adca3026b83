"""Out-of-range and wrong-typed values for the parsers' fuzz tests, and the one
property every parser keeps (docs/providers.md, "Common to all"): parsing never
raises anything but ParseError, and one bad record among good ones costs that
record only, never the good ones around it.

``HOSTILE`` values are written as JSON text by the standard library, so the
numbers are real JSON numbers (``2**64``, ``10**400``, ``1e308``) and NaN and
the infinities are the ``NaN``/``Infinity`` tokens; whether the JSON reader
accepts them is part of what is tested. ``mutated(value)`` replaces one to three
nodes of a real-shaped record (at any depth, the record itself included) with
such values. The guards themselves (``skip_on_error``, ``fail_on_error``) are
tested directly in tests/test_provider_common.py with errors of every kind."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import strategies as st

from polylogue.errors import ParseError

NAN, INF = float("nan"), float("inf")

# times no calendar holds: year 0, an offset that leaves year 9999, epochs far out
BAD_TIMES = [
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "99999-01-01T00:00:00Z",
    1e20,  # epoch "ms" beyond year 9999
    10**20,
    -1,
    0,
    {"$date": 10**30},
    {"$date": {"$numberLong": "99999999999999999999"}},
    "NaN",
    "1e400",
]
# numbers beyond 64 bits or doubles, which some JSON readers refuse
BIG_NUMBERS = [2**63, 2**64, -(2**63) - 1, 10**400, -(10**400), INF, -INF, NAN]
# within what every JSON reader here accepts (64-bit integers, finite doubles)
EDGE_NUMBERS = [2**63 - 1, -(2**63), 1e308, -1e308, 5e-324, -0.0, 1.5]
WRONG_TYPES = [None, True, False, "", "x", "\x00\u202e", [], {}, [[[]]], {"": {"": None}}, [1, "a", None]]

HOSTILE = BAD_TIMES + BIG_NUMBERS + EDGE_NUMBERS + WRONG_TYPES


def _reader_accepts(v: Any) -> bool:
    """Whether every JSON reader used here (orjson, ijson's C backend) reads ``v``."""
    if isinstance(v, float):
        return v == v and abs(v) != INF
    if isinstance(v, int) and not isinstance(v, bool):
        return -(2**63) < v < 2**63  # yajl refuses -2**63 too
    if isinstance(v, dict):
        return all(_reader_accepts(x) for x in v.values())
    if isinstance(v, list):
        return all(_reader_accepts(x) for x in v)
    return True


ACCEPTED = [v for v in HOSTILE if _reader_accepts(v)]

hostile = st.sampled_from(HOSTILE)
accepted = st.sampled_from(ACCEPTED)


def dumps(value: Any) -> bytes:
    """JSON text with big integers as digits and NaN/Infinity as tokens."""
    return json.dumps(value, allow_nan=True).encode()


def jsonl(*records: Any) -> bytes:
    return b"".join(dumps(r) + b"\n" for r in records)


def _paths(v: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _paths(x, (*path, i))


def _replace(v: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    parent = v
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = new
    return v


@st.composite
def mutated(draw: Callable, value: Any, values: st.SearchStrategy = hostile) -> Any:
    """``value`` with one to three of its nodes replaced by ``values``."""
    v = copy.deepcopy(value)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(v))))
        v = _replace(v, path, copy.deepcopy(draw(values)))
    return v


def all_text(convs: list) -> str:
    """Every text a parse produced, for finding the good records' markers."""
    return "\n".join(b.text or "" for c in convs for m in c.messages for b in m.blocks)


def parse_or_none(parse: Callable[[], tuple[list, Any]]) -> tuple[list, Any] | None:
    """``parse()``; None when it raised ParseError, the one exception a parser may raise."""
    try:
        return parse()
    except ParseError:
        return None
