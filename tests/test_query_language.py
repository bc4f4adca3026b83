"""The query language: every operator, escaping, dates and malformed input."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polylogue.errors import QueryError
from polylogue.search import index_tokens, parse, parse_date, snippet

NOW = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


def test_bare_words_are_anded():
    assert parse("oauth refresh").match() == '"oauth" AND "refresh"'


def test_phrase_prefix_or_and_exclusion():
    q = parse('"exact phrase" pars* redis OR memcached -java -"old api"')
    assert q.match() == '"exact phrase" AND "pars"* AND ("redis" OR "memcached")'
    assert q.exclude_match() == '"java" OR "old api"'


@pytest.mark.parametrize(
    "term,tokens",
    [
        ("snake_case", ["snake", "case"]),
        ("dotted.names", ["dotted", "names"]),
        ("path/to/file.py", ["path", "to", "file", "py"]),
        ("--flags", ["flags"]),
        ("CamelCase", ["camelcase"]),
        ("Café", ["cafe"]),
    ],
)
def test_code_identifiers_become_phrases(term, tokens):
    q = parse(term)
    assert q.groups[0][0].tokens == tokens
    assert not q.exclude  # '--flags' is a term, not an exclusion


def test_fts_syntax_in_user_input_is_neutralised():
    q = parse('"NEAR(a b)" "AND NOT" x col:y "^start" and')
    expr = q.match()
    # every token is quoted: FTS operators and column filters typed by a user are just words
    # (written bare, NEAR and ^ are refused and AND / NOT are read: tests/test_unsupported_syntax.py)
    assert expr == '"near a b" AND "and not" AND "x" AND "col y" AND "start" AND "and"'


def test_filters():
    q = parse(
        "bug provider:codex role:user kind:thinking since:2025-01-01 until:2025-02 title:deploy "
        "project:webshop model:opus has:tools id:codex:019",
        now=NOW,
    )
    assert q.providers == ["codex"] and q.roles == ["user"] and q.kinds == ["thinking"]
    assert q.since == datetime(2025, 1, 1, tzinfo=UTC)
    assert q.until == datetime(2025, 3, 1, tzinfo=UTC)  # a bare month is inclusive
    assert q.titles[0].tokens == ["deploy"] and q.projects == ["webshop"] and q.models == ["opus"]
    assert q.has == ["tools"] and q.ids == ["codex:019"]
    assert q.match() == '{thinking} : ("bug")'


def test_quoted_filter_values():
    q = parse('project:"my project" since:"3 days ago" x', now=NOW)
    assert q.projects == ["my project"]
    assert q.since == datetime(2026, 11, 23, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("today", datetime(2026, 11, 26, tzinfo=UTC)),
        ("yesterday", datetime(2026, 11, 25, tzinfo=UTC)),
        ("last week", datetime(2026, 11, 19, 15, 30, tzinfo=UTC)),
        ("3 days ago", datetime(2026, 11, 23, 15, 30, tzinfo=UTC)),
        ("2 hours ago", datetime(2026, 11, 26, 13, 30, tzinfo=UTC)),
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=UTC)),
        ("2025-06-01T10:00:00+02:00", datetime(2025, 6, 1, 8, tzinfo=UTC)),
    ],
)
def test_dates(text, expected):
    assert parse_date(text, now=NOW) == expected


def test_until_a_day_includes_the_day():
    assert parse_date("2025-06-01", now=NOW, end=True) == datetime(2025, 6, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,reason,pos",
    [
        ('"unclosed', "unclosed quote", 0),
        ("OR foo", "OR needs a term", 0),
        ("foo OR", "OR needs a term", 6),
        ("foo OR OR bar", "OR needs a term", 7),
        ("projct:webshop", "did you mean project:", 0),
        ('x colour:"red"', "unknown filter", 2),
        ("x role:robot", "role must be", 2),
        ("x kind:image", "kind must be", 2),
        ("x has:cats", "has: must be", 2),
        ("x since:someday", "cannot read the date", 2),
        ("x -provider:codex", "cannot be negated", 2),
        ("-alone", "not only exclusions", 0),
        ('""', "empty phrase", 0),
        ("!!!", "nothing searchable", 0),
        ("x provider:", "needs a value", 2),
    ],
)
def test_malformed_queries_say_where(text, reason, pos):
    with pytest.raises(QueryError) as e:
        parse(text)
    assert reason in e.value.reason
    assert e.value.position == pos
    assert "^" in str(e.value)  # the message points at the problem


def test_colons_in_terms_are_not_filters():
    assert parse("display:none").groups[0][0].tokens == ["display", "none"]
    assert parse("std::vector").groups[0][0].tokens == ["std", "vector"]
    assert parse("http://example.com").groups[0][0].tokens == ["http", "example", "com"]


def test_cjk_is_searched_character_by_character():
    # a CJK substring becomes a phrase of its characters: any substring matches, in order
    assert index_tokens("数据库连接池") == ["数", "据", "库", "连", "接", "池"]
    assert parse("据库连").match() == '"据 库 连"'
    assert index_tokens("Rustの所有権") == ["rust", "の", "所", "有", "権"]


def test_snippet_highlights_every_match():
    text = "The refresh token expired. " + "filler " * 50 + "Another refresh happened."
    snip, spans = snippet(text, ["refresh"], width=60)
    assert spans and all(snip[a:b].lower() == "refresh" for a, b in spans)


def reference_snippet(text, tokens, width=160):
    """The whole-text snippet: flatten everything, find the first match, cut a window."""
    flat = " ".join(text.split())
    pat = re.compile("|".join(sorted({re.escape(t) for t in tokens}, key=len, reverse=True)), re.I)
    m = pat.search(flat)
    start = 0 if m is None else max(0, m.start() - width // 3)
    if start:
        sp = flat.rfind(" ", 0, start)
        start = sp + 1 if sp >= 0 and start - sp < 20 else start
    window = flat[start : start + width]
    pre, post = "…" if start else "", "…" if start + width < len(flat) else ""
    return pre + window + post, [(a.start() + len(pre), a.end() + len(pre)) for a in pat.finditer(window)]


_SEPARATORS = [" ", "\n", "  ", "\n\n", "\t"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="abcfgk0", min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 600), st.integers(0, 2), st.booleans()), min_size=0, max_size=4),
    st.randoms(use_true_random=False),
)
def test_snippet_of_long_text_equals_flattening_it_all(tokens, plants, rnd):
    """Only the region around the first match is flattened; the snippet and its
    highlights are those of flattening the whole text. Tokens are planted (in
    either case, inside longer words) after up to 600 filler words that hold
    none of their letters."""
    words = []
    for gap, which, upper in plants:
        words += ["".join(rnd.choice("deèhLMN_") for _ in range(rnd.randint(1, 9))) for _ in range(gap)]
        t = tokens[which % len(tokens)]
        words.append(rnd.choice(["", "x", "é"]) + (t.upper() if upper else t) + rnd.choice(["", "y"]))
    words += ["tail"] * rnd.randint(0, 300)
    text = "".join(w + rnd.choice(_SEPARATORS) for w in words)
    assert snippet(text, tokens) == reference_snippet(text, tokens)


def test_snippet_deep_in_long_text_and_folded_highlights():
    text = "filler words here " * 20000 + "the Café answer " + "tail words " * 20000
    snip, spans = snippet(text, ["cafe"])
    assert snip.startswith("…") and snip.endswith("…") and "the Café answer" in snip
    assert [snip[a:b] for a, b in spans] == ["Café"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000), st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3))
def test_snippet_of_any_text_is_bounded_and_highlights_lie_inside(text, tokens):
    snip, spans = snippet(text, tokens, width=100)
    assert len(snip) <= 102
    assert all(0 <= a < b <= len(snip) for a, b in spans)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parser_never_fails_except_with_query_error(text):
    try:
        q = parse(text)
    except QueryError:
        return
    expr = q.match()
    if expr is not None:
        # whatever the user typed, every term in the expression is a quoted string
        assert expr.count('"') % 2 == 0
