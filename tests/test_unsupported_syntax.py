"""No silent zero (issue 19): syntax of other search engines is either read
exactly or refused with a pointer; it never quietly becomes words that match nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polylogue.api import Archive
from polylogue.errors import QueryError
from polylogue.search import parse
from tests.helpers import run_cli, sync_examples


def _shape(text: str):
    q = parse(text)
    return [[t.fts() for t in g] for g in q.groups], [t.fts() for t in q.exclude]


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("NEAR(wal checkpoint)", 0, "NEAR is not supported"),
        ("wal NEAR/3 checkpoint", 4, "NEAR is not supported"),
        ("wal NEAR checkpoint", 4, "NEAR is not supported"),
        ("check*point", 0, "not wildcards"),
        ("a check?point", 2, "not wildcards"),
        ("^start", 0, "'^'"),
        ("x /retr(y|ies)/", 2, "--regex"),
        ("(a b) OR c", 0, "parentheses group only alternatives"),
        ("x OR (a b)", 5, "parentheses group only alternatives"),
        ("(a -b) OR c", 0, "parentheses group only alternatives"),
        ("((a OR b))", 0, "nested"),
        ("(a OR b", 0, "never closed"),
        ("a OR b)", 5, "closes no"),
        ("NOT (a OR b)", 4, "cannot be excluded"),
        ("x -(a OR b)", 2, "cannot be excluded"),
        ("a AND", 5, "AND needs a term"),
        ("AND a", 0, "AND needs a term"),
        ("a NOT", 2, "NOT needs a term"),
        ("a AND OR b", 6, "OR needs a term"),
        ("a NOT provider:codex", 6, "cannot be negated"),
    ],
)
def test_refused_with_a_pointer(text, where, says):
    with pytest.raises(QueryError) as e:
        parse(text)
    assert says in e.value.reason and e.value.position == where, (e.value.reason, e.value.position)
    assert str(e.value).endswith(" " * where + "^")


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("wal AND checkpoint", "wal checkpoint"),
        ("wal NOT checkpoint", "wal -checkpoint"),
        ('wal NOT "old api"', 'wal -"old api"'),
        ("(redis OR memcached) cache", "redis OR memcached cache"),
        ("cache (redis OR memcached)", "cache redis OR memcached"),
        ("x OR (a OR b)", "x OR a OR b"),
        ("(a b) c", "a b c"),
        ("( a OR b )", "a OR b"),
        ("+must", "must"),
        ("f(x) (optional)", "f(x) optional"),
        ("why?", "why"),
        ("/usr/local/", "usr/local"),
        ('"check*point"', '"check point"'),
        ('"NEAR" wal', "near wal"),
        ("near(x)", '"near x"'),
    ],
)
def test_read_exactly(text, same_as):
    assert _shape(text) == _shape(same_as)


def test_lowercase_operators_are_words():
    assert _shape("redis or memcached") == ([['"redis"'], ['"or"'], ['"memcached"']], [])
    assert _shape("a and not b") == ([['"a"'], ['"and"'], ['"not"'], ['"b"']], [])


PIECES = [
    "wal", "checkpoint", '"wal checkpoint"', "pars*", "-java", "OR", "AND", "NOT", "NEAR", "NEAR(", "NEAR/3",
    "(", ")", "(a", "b)", "a*b", "a?b", "^x", "+y", "/a|b/", "or", "f(x)", "provider:codex", "-", "*", "?",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=7), st.sampled_from([" ", "  "]))
def test_any_mix_parses_or_points_inside_the_text(pieces, sep):
    text = sep.join(pieces)
    try:
        q = parse(text)
    except QueryError as e:
        assert e.position is not None and 0 <= e.position <= len(text), (text, e.position)
        return
    # what parsed holds none of the refused forms
    assert not any(p in pieces for p in ("NEAR", "NEAR(", "NEAR/3", "a*b", "a?b", "^x", "/a|b/")), text
    assert q.groups or q.has_filters


def test_near_on_the_examples_errors_rather_than_finding_nothing(tmp_path):
    home = sync_examples(tmp_path / "home")
    with Archive(home) as a, pytest.raises(QueryError, match="NEAR is not supported"):
        a.search("NEAR(wal checkpoint)")
    r = run_cli(home, "search", "NEAR(wal checkpoint)")
    assert r.returncode == 2 and "NEAR is not supported" in r.stderr and "^" in r.stderr


@pytest.mark.parametrize(("grouped", "plain"), [("sqlite (-wal)", "sqlite -wal"), ("x (-y z)", "x -y z")])
def test_an_exclusion_inside_brackets_stays_an_exclusion(grouped, plain):
    g, p = parse(grouped), parse(plain)
    assert [[t.tokens for t in grp] for grp in g.groups] == [[t.tokens for t in grp] for grp in p.groups]
    assert [t.tokens for t in g.exclude] == [t.tokens for t in p.exclude] != []
