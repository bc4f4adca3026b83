"""A push sends each message's tsvector already made (index_text.tsvector_text):
it must be, lexeme for lexeme, position for position, weight for weight, the
tsvector the server builds itself from the same index text (load.py TSV_SQL:
to_tsvector per search kind, weighted, concatenated, the separator deleted),
so searching is unchanged. Checked against a real PostgreSQL with hypothesis,
including the server's limits: words of 2,048 bytes or more, positions past
16,383, more than 255 occurrences of a word, empty kinds."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pg_server import pg_server  # noqa: F401

from polylogue.store.postgres.index_text import _exact, index_text, message_columns, server_words, tsvector_text
from polylogue.store.postgres.load import TSV_SQL

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'polylogue[postgres]'")

WORDS = st.sampled_from(
    # "0e0a", "12e3abc5": the server's parser cuts a number in scientific notation from a word after it
    ["a", "the", "x1", "42", "u8xe4b8ad", "w" * 2046, "w" * 2047, "w" * 2048, "z" * 3000, "0x1f", "1e5", "0e0a"]
    + ["12e3abc5", "1e5e5", "e5"]
)
KIND = st.one_of(
    st.just(""),
    st.lists(WORDS | st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True), max_size=40).map(" ".join),
    # long kinds: positions clamped at 16,383, a word repeated past 255 times
    st.tuples(st.integers(0, 17_000), WORDS).map(lambda nw: " ".join([nw[1]] * nw[0])),
    st.integers(100, 9_000).map(lambda n: " ".join(f"t{i % 300}" for i in range(n))),
)


def _server(conn, cols: list[str]) -> str:
    sql = f"SELECT ({TSV_SQL})::text FROM (SELECT %s AS t0, %s AS t1, %s AS t2, %s AS t3) s"
    return conn.execute(sql, cols).fetchone()[0]


def _mine(conn, cols: list[str]) -> str:
    return conn.execute("SELECT %s::tsvector::text", (tsvector_text(cols),)).fetchone()[0]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(cols=st.lists(KIND, min_size=4, max_size=4))
def test_the_pushed_tsvector_is_the_one_the_server_builds(pg_server, cols):  # noqa: F811
    with psycopg.connect(pg_server.url()) as c:
        c.execute("SET client_min_messages = warning")  # "word is too long to be indexed" notices
        assert _mine(c, cols) == _server(c, cols)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(st.text(max_size=300), min_size=4, max_size=4))
@example(texts=["", "", "", "U8X20"])  # the separator's lexeme, typed: written in hex like any u8x word
@example(texts=["u8x", "12e3abc u8xe4b8ad", "中u8x20", "0e0a"])
def test_on_real_index_text(pg_server, texts):  # noqa: F811
    cols, _ = message_columns(tuple(texts))  # type: ignore[arg-type]
    assert [index_text(t) for t in texts][0] == cols[0]
    with psycopg.connect(pg_server.url()) as c:
        assert _mine(c, cols) == _server(c, cols)


@settings(max_examples=400, deadline=None)
@given(cols=st.lists(KIND, min_size=4, max_size=4))
def test_the_straight_numbering_agrees_with_the_exact_way(cols):
    """tsvector_text numbers a message within the limits straight through: the same
    text as applying every limit (_exact), on both sides of each limit."""
    assert tsvector_text(cols) == _exact([server_words(c) for c in cols])
