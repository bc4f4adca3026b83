"""The fast paths of search at 5M messages (issue 27) give what the plain paths
give: the same conversations in the same order, the same hits with the same
scores, the same totals, on generated archives. Fast paths compared: BM25
read only for the held messages against the per-conversation probes; the page
dated only up to its end against every conversation sorted; a big group's
union counted from per-conversation counts against a pass; the kept counts
(term_totals) against a plain archive; a page at a time against one page."""

from __future__ import annotations

from array import array

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.store import fts, term_totals, whole
from tests.test_search_kept import _kept_archive
from tests.test_whole import _conversation, _query_text, queries

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VOCAB = ["run", "runs", "running", "cat", "tree", "blue", "dog"]
texts = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4).map(" ".join)
# few days: conversations tie on their date too, so the id breaks ties
archives = st.lists(
    st.tuples(
        texts,
        st.lists(st.tuples(texts, st.sampled_from(["user", "assistant"])), min_size=1, max_size=5),
        st.integers(1, 3),
    ),
    min_size=1,
    max_size=8,
)
# (cap, probe_max) in pairs taking the same path but for the part compared: read outright (the
# held messages scored in one pass either way); every group big, then counted from the groups'
# per-conversation counts and scored in one pass, against probed per conversation (a one-group
# query takes the per-message search in both)
PAIRS = (((50_000, 3_000), (50_000, 0)), ((1, 0), (1, 3_000)))
WAYS = tuple(w for pair in PAIRS for w in pair)


def _write(d, convs) -> None:
    lines = [
        orjson.dumps(_conversation(f"claude:c{i}", title, [t for t, _ in msgs], day=day, roles=[r for _, r in msgs]))
        for i, (title, msgs, day) in enumerate(convs)
    ]
    (d / "w.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def _plain(d, convs) -> Archive:
    _write(d, convs)
    a = Archive(d / "home")
    assert a.sync([d / "w.jsonl"]).errors == []
    return a


def _shown(res) -> tuple:
    """Everything a result shows: totals, conversations in order, their hits and scores."""
    return (
        res.total_conversations,
        res.total_messages,
        [(c["id"], [(h["message_id"], h["score"]) for h in c["hits"]]) for c in res.conversations],
        res.notes,
    )


def _all_ways(conn, text: str, rank_all: int, limit: int = 100, offset: int = 0) -> list[tuple]:
    q = lang.parse(text)
    return [
        _shown(fts.search(conn, q, limit=limit, offset=offset, rank_all=rank_all, cap=cap, probe_max=probe_max))
        for cap, probe_max in WAYS
    ]


def _parts(query: tuple) -> tuple[list, str] | None:
    """The query's word groups and its text; None when a word is both asked for and
    excluded (nothing to compare)."""
    groups, excluded, role = query
    if any(w == x for g in groups for w, _ in g for x in excluded):
        return None
    return groups, _query_text(groups, excluded, role)


def _same_in_pairs(got: list[tuple]) -> bool:
    return all(got[2 * i] == got[2 * i + 1] for i in range(len(PAIRS)))


@SETTINGS
@given(convs=archives, query=queries)
def test_every_way_of_reading_gives_the_same_result(tmp_path_factory, convs, query):
    parts = _parts(query)
    if parts is None:
        return
    groups, text = parts
    a = _plain(tmp_path_factory.mktemp("fast"), convs)
    with a.reader() as conn:
        for rank_all in (10_000, 0):
            got = _all_ways(conn, text, rank_all)
            assert _same_in_pairs(got), (text, rank_all)
            assert all(g[:2] == got[0][:2] for g in got), (text, rank_all)  # totals: every way
            # a page at a time gives the same list as one long page (the page's end and its ties)
            paged = [_all_ways(conn, text, rank_all, 2, off) for off in range(0, 10, 2)]
            for i in range(len(WAYS)):
                assert [c for p in paged for c in p[i][2]] == got[i][2][:10], (text, rank_all, WAYS[i])
    a.close()


@SETTINGS
@given(convs=archives, query=queries)
def test_kept_counts_give_the_plain_archives_result(tmp_path_factory, convs, query):
    parts = _parts(query)
    if parts is None:
        return
    groups, text = parts
    d = tmp_path_factory.mktemp("kept")
    same = [(t, m, i + 1) for i, (t, m, _) in enumerate(convs)]  # the days _kept_archive writes
    (d / "plain").mkdir()
    plain = _plain(d / "plain", same)
    kept = _kept_archive(d, [(t, m) for t, m, _ in convs])
    with plain.reader() as pc, kept.reader() as kc:
        for rank_all in (10_000, 0):
            want = _all_ways(pc, text, rank_all)
            got = _all_ways(kc, text, rank_all)
            if len(groups) > 1:  # the whole-conversation search either way: equal in every respect
                assert got == want, (text, rank_all)
            else:  # a kept word takes the per-message search, which breaks ties apart (as before)
                assert [g[:2] for g in got] == [w[:2] for w in want], (text, rank_all)
                assert [{c for c, _ in g[2]} for g in got] == [{c for c, _ in w[2]} for w in want], text
    plain.close()
    kept.close()


@SETTINGS
@given(convs=archives, words=st.lists(st.sampled_from(VOCAB), min_size=4, max_size=5, unique=True))
def test_four_big_groups_are_counted_in_one_streamed_pass(tmp_path_factory, convs, words):
    """More than three big groups (no inclusion-exclusion): their matches in the
    conversations holding every group are counted in one pass over the OR of the
    groups; the same totals as every other way of reading them."""
    a = _plain(tmp_path_factory.mktemp("four"), convs)
    with a.reader() as conn:
        for rank_all in (10_000, 0):
            got = _all_ways(conn, " ".join(words), rank_all)
            assert _same_in_pairs(got), (words, rank_all)
            assert all(g[:2] == got[0][:2] for g in got), (words, rank_all)
    a.close()


@SETTINGS
@given(
    convs=archives, words=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3), role=st.sampled_from([None, "user"])
)
def test_a_count_in_sqlite_equals_the_rowids_counted_in_python(tmp_path_factory, convs, words, role):
    """whole.count_in (SQLite checks each match against the listed conversations)
    against the matches' rowids read and kept by conversation in Python, for every
    subset of the archive's conversations taken in turn."""
    from polylogue.store.scope import match_expr, scope

    a = _plain(tmp_path_factory.mktemp("count"), convs)
    text = " OR ".join(words) + (f" role:{role}" if role else "")
    q = lang.parse(text)
    sc = scope(q)
    expr = match_expr(q)
    with a.reader() as conn:
        body, args = sc.body(expr)
        rowids = whole.ints(conn, f"SELECT messages_fts.rowid {body}", args)
        every = sorted({r >> whole.MESSAGE_ID_BITS for r in rowids} | {1, 2, 999})
        for k in range(len(every) + 1):
            cands = set(every[:k]) | set(every[k + 1 :: 2])
            want = len(whole.within(rowids, cands))
            assert whole.count_in(conn, sc, expr, whole._listed(cands)) == want, (text, cands)
    a.close()


@settings(max_examples=50, deadline=None)
@given(
    blocks=st.dictionaries(st.integers(0, 5), st.lists(st.integers(0, 300), max_size=8), max_size=4),
    convs=st.sets(st.integers(0, 60)),
)
def test_conversation_counts_in_bulk_equal_one_at_a_time(blocks, convs):
    kc = term_totals.ConvCounts(3, {b: array("I", a) for b, a in blocks.items()})
    assert kc.conversations() == {c for c in range(64) if kc.get(c)}
    assert kc.total_in(convs) == sum(kc.get(c) for c in convs)
    assert whole._with(kc, convs, {1, 2}) == {c for c in convs if kc.get(c) or c in {1, 2}}


def test_a_column_read_as_one_array_keeps_the_rows_order(tmp_path):
    import sqlite3

    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t(v INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in (5, 1 << 60, 3, -2)])
    assert whole.ints(conn, "SELECT v FROM t ORDER BY v DESC", ()) == [1 << 60, 5, 3, -2]
    assert whole.ints(conn, "SELECT v FROM t WHERE v > ?", (1 << 61,)) == []


def test_a_word_kept_for_its_conversations_is_recounted_lazily_and_searched_exactly(tmp_path):
    """A word under the totals' threshold, kept for its conversations' counts, is not recounted
    after a sync that drops a few of its blocks (a search counts those live, exact); once it
    misses more than LAZY_BLOCKS it is."""
    from tests.test_search_kept import _connect, _dirty

    convs = [
        (f"t{i}", [(f"common rare x{i}" if i % 3 == 0 else f"common x{i}", "user"), ("common", "assistant")])
        for i in range(12)
    ]
    _write(tmp_path, [(t, m, 1 + i % 3) for i, (t, m) in enumerate(convs)])
    a = Archive(tmp_path / "home")
    a._ensure_writable()
    conn = _connect(a.db_path)
    with conn:  # one conversation a block; 24 messages: 'common' (24) keeps totals, 'rare' (4) is lazy
        conn.execute("INSERT INTO meta(key, value) VALUES ('totals_block_bits', 0), ('totals_min_messages', 16)")
    assert a.sync([tmp_path / "w.jsonl"]).errors == []
    lazy = orjson.loads(conn.execute("SELECT value FROM idx.index_state WHERE key = 'totals_lazy'").fetchone()[0])
    assert lazy == ["rare"]

    def blocks(term: str) -> set[int]:
        return {b for (b,) in conn.execute("SELECT block FROM term_totals WHERE term = ?", (term,))}

    every = blocks("common")
    assert len(every) >= 12 and blocks("rare") == every
    _dirty(a, {3})
    a.sync([tmp_path / "w.jsonl"])
    assert blocks("common") == every and blocks("rare") == every - {3}  # not recounted: one block missing
    for text, want in (("rare", (4, 4)), ("common rare", (8, 4)), ("common", (24, 12))):
        res = a.search(text, cache=False)
        assert (res.total_messages, res.total_conversations) == want, text
    _dirty(a, {1, 2, 4, 5, 6})
    a.sync([tmp_path / "w.jsonl"])
    assert blocks("rare") == every  # six missing: recounted
    assert a.check()["problems"] == []
    conn.close()
    a.close()


def test_a_lazy_word_of_an_archive_of_few_blocks_is_counted_at_once(tmp_path):
    from tests.test_search_kept import _connect

    convs = [("a", [("common rare", "user"), ("common", "assistant")]), ("b", [("common", "user")])]
    _write(tmp_path, [(t, m, 1) for t, m in convs])
    a = Archive(tmp_path / "home")
    a._ensure_writable()
    conn = _connect(a.db_path)
    with conn:  # two blocks (fewer than LAZY_BLOCKS): 'rare' is lazy, yet counted when first kept
        conn.execute("INSERT INTO meta(key, value) VALUES ('totals_block_bits', 0), ('totals_min_messages', 3)")
    assert a.sync([tmp_path / "w.jsonl"]).errors == []
    assert orjson.loads(conn.execute("SELECT value FROM idx.index_state WHERE key = 'totals_lazy'").fetchone()[0]) == [
        "rare"
    ]
    assert conn.execute("SELECT sum(messages) FROM term_totals WHERE term = 'rare'").fetchone()[0] == 1
    assert a.search("rare", cache=False).total_messages == 1
    conn.close()
    a.close()
