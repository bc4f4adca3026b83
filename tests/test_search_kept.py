"""Search read from the kept counts (store/term_totals.py: each frequent word's
messages per conversation, per block) equals a brute-force scan: whole
conversations with a big word group, a word matching by title alone, blocks a
sync has touched (counted live), and prefixes of a frequent word (totals then
a lower bound, marked as such; docs/cli.md, search)."""

from __future__ import annotations

import re
import sqlite3

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.store import fts, term_totals
from tests.test_whole import _brute, _conversation, _query_text, archives, queries

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# (cap, probe_max, rank_all): a group is "big" past cap, so every kept word is read from its counts
WAYS = ((50_000, 3_000, 10_000), (1, 3_000, 10_000), (1, 0, 0), (1, 0, 10_000), (2, 1, 1))


def _connect(db):
    """The archive with its index file attached, as polylogue's own connections see them."""
    conn = sqlite3.connect(db)
    conn.execute("ATTACH DATABASE ? AS idx", (str(db.parent / "index.db"),))
    return conn


def _kept_archive(d, convs, block_bits: int = 1) -> Archive:
    """An archive whose every word is kept (two conversations a block by default)."""
    lines = [
        orjson.dumps(_conversation(f"claude:c{i}", title, [t for t, _ in msgs], day=i + 1, roles=[r for _, r in msgs]))
        for i, (title, msgs) in enumerate(convs)
    ]
    (d / "w.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    a = Archive(d / "home")
    a._ensure_writable()
    conn = _connect(a.db_path)
    with conn:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('totals_block_bits', ?), ('totals_min_messages', 1)", (block_bits,)
        )
    conn.close()
    assert a.sync([d / "w.jsonl"]).errors == []
    return a


def _dirty(a: Archive, blocks: set[int]) -> None:
    """What the writer does in the transaction that changes a block: its counts go."""
    conn = _connect(a.db_path)
    with conn:
        conn.executemany("DELETE FROM term_totals WHERE block = ?", [(b,) for b in blocks])
    conn.close()


@SETTINGS
@given(convs=archives, query=queries, dirty=st.sets(st.integers(0, 4), max_size=2))
@example(
    convs=[("tree", [("run", "user")]), ("run", [("tree", "user")])], query=([[("run", False)]], [], None), dirty=set()
)
@example(
    convs=[("blue", [("run cat", "user"), ("dog", "assistant")]), ("x", [("run", "user"), ("cat run", "user")])],
    query=([[("run", False)], [("cat", True)]], [], None),
    dirty={1},
)
@example(  # a form only a title holds ('runs'): the kept title-only conversations would miss it
    convs=[("run", [("run", "user")]), ("runs", [("cat", "user")])], query=([[("run", False)]], [], None), dirty=set()
)
def test_kept_counts_equal_a_brute_force_scan(tmp_path_factory, convs, query, dirty):
    groups, excluded, role = query
    if any(w == x for g in groups for w, _ in g for x in excluded):
        return
    a = _kept_archive(tmp_path_factory.mktemp("kept"), convs)
    _dirty(a, dirty)  # those blocks are counted live
    text = _query_text(groups, excluded, role)
    want, want_messages = _brute(convs, groups, excluded, role)
    with a.reader() as conn:
        for cap, probe_max, rank_all in WAYS:
            res = fts.search(conn, lang.parse(text), limit=100, rank_all=rank_all, cap=cap, probe_max=probe_max)
            assert {c["id"] for c in res.conversations} == want, (text, cap, probe_max, rank_all)
            assert (res.total_conversations, res.total_messages) == (len(want), want_messages), text
            assert res.exact
    a.close()


@SETTINGS
@given(convs=archives, dirty=st.sets(st.integers(0, 4), max_size=2))
def test_kept_conversation_counts_equal_the_index(tmp_path_factory, convs, dirty):
    a = _kept_archive(tmp_path_factory.mktemp("counts"), convs)
    _dirty(a, dirty)
    with a.reader() as conn:
        keys = term_totals._keys(conn)
        assert keys
        for k in keys:
            counts = term_totals.conv_counts(conn, k)
            if counts is None:  # no block kept at all (every one dirty): not counted ahead, as lookup()
                assert term_totals.lookup(conn, k) is None and len(dirty) * 2 >= len(convs), k
                continue
            live = dict(
                conn.execute(
                    "SELECT rowid >> 24, count(*) FROM messages_fts WHERE messages_fts MATCH ? GROUP BY 1",
                    (term_totals._match(k),),
                )
            )
            assert {c: counts.get(c) for c in range(len(convs) + 2) if counts.get(c)} == live, k
            assert counts.conversations() == set(live)
    assert a.check()["problems"] == []
    a.close()


PREFIXES = ["r", "ru", "run", "runn", "c", "ca", "cat", "t", "tr", "tre", "b", "bl", "blu", "d", "re", "z"]


@SETTINGS
@given(
    convs=archives, prefix=st.sampled_from(PREFIXES), kept=st.booleans(), dirty=st.sets(st.integers(0, 4), max_size=2)
)
@example(convs=[("run", [("tree", "user")])], prefix="tre", kept=True, dirty={0})  # its only block touched
def test_a_prefix_finds_every_conversation_with_exact_totals(tmp_path_factory, convs, prefix, kept, dirty):
    d = tmp_path_factory.mktemp("prefix")
    a = _kept_archive(d, convs) if kept else _plain_archive(d, convs)
    _dirty(a, dirty)  # those blocks are counted live
    words = [[set(t.split()) for t, _ in msgs] for _, msgs in convs]
    hit = [[any(w.startswith(prefix) for w in m) for m in c] for c in words]
    want = {f"claude:c{i}" for i, c in enumerate(hit) if any(c)}
    want_messages = sum(map(sum, hit))
    with a.reader() as conn:
        blocks = set(range(((len(convs) - 1) >> 1) + 1))  # two conversations a block (_kept_archive)
        counted_ahead = blocks - dirty  # with every block touched, nothing is counted ahead: lookup says None
        if (
            kept
            and len(prefix) >= term_totals.MIN_PREFIX
            and want
            and counted_ahead
            and len(dirty) <= term_totals.MAX_LIVE_BLOCKS
        ):
            # a prefix in the archive's words is kept (every word is, here), and its kept totals are exact
            got = term_totals.lookup(conn, term_totals.prefix_key(prefix))
            assert got is not None and got[:2] == (want_messages, len(want)), prefix
        for rank_all in (10_000, 0):
            res = fts.search(conn, lang.parse(prefix + "*"), limit=100, rank_all=rank_all)
            assert {c["id"] for c in res.conversations} == want, prefix
            assert (res.total_conversations, res.total_messages) == (len(want), want_messages), prefix
            assert res.exact and res.to_json()["total"]["exact"] is True
            for c in res.conversations:  # every hit shown is a message holding the prefix
                assert c["hits"] and all(
                    any(w.startswith(prefix) for w in re.findall(r"[a-z]+", h["snippet"].lower())) for h in c["hits"]
                ), (prefix, c)
    if kept:
        assert a.check()["problems"] == []
    a.close()


def _plain_archive(d, convs) -> Archive:
    lines = [
        orjson.dumps(_conversation(f"claude:c{i}", title, [t for t, _ in msgs], day=i + 1, roles=[r for _, r in msgs]))
        for i, (title, msgs) in enumerate(convs)
    ]
    (d / "w.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    a = Archive(d / "home")
    assert a.sync([d / "w.jsonl"]).errors == []
    return a


def test_check_finds_wrong_conversation_counts_and_a_sync_recounts_a_dirty_block(tmp_path):
    convs = [("run", [("run cat", "user"), ("cat", "assistant")]), ("dog", [("run run", "user")])]
    a = _kept_archive(tmp_path, convs, block_bits=0)  # one conversation a block
    assert a.check()["problems"] == []
    conn = _connect(a.db_path)
    with conn:  # the blob of one block says 5 where the index has 1
        conn.execute(
            "UPDATE term_convs SET counts = ? WHERE term = (SELECT term FROM term_convs WHERE term LIKE '%run%' "
            "LIMIT 1) AND block = 1",
            (term_totals._pack([5]),),
        )
    assert any("per-conversation counts differ" in p for p in a.check()["problems"])
    _dirty(a, {1})  # as the writer does: the block's counts stop being used, then a sync counts it again
    assert a.check()["problems"] == []
    a.sync([tmp_path / "w.jsonl"])
    assert conn.execute("SELECT count(*) FROM term_totals WHERE block = 1").fetchone()[0] > 0
    assert a.check()["problems"] == []
    conn.close()
    a.close()


def test_a_kept_prefix_is_counted_from_its_kept_totals_and_check_catches_a_wrong_one(tmp_path):
    # 'run*' is in 2 messages ('run runner', 'runs') of 2 conversations; 'rust' is not one of them
    convs = [("x", [("run runner", "user"), ("rust", "assistant")]), ("y", [("runs", "user")])]
    a = _kept_archive(tmp_path, convs)
    with a.reader() as conn:
        assert "run*" in {t for (t,) in conn.execute("SELECT term FROM frequent_terms")}
        assert term_totals.lookup(conn, "run*") == (2, 2, 0)
        for rank_all in (10_000, 0):  # ranked, and newest first past rank_all: the same exact totals
            res = fts.search(conn, lang.parse("run*"), limit=10, rank_all=rank_all)
            assert (res.total_messages, res.total_conversations) == (2, 2) and res.exact
            assert {c["id"] for c in res.conversations} == {"claude:c0", "claude:c1"}
    conn = _connect(a.db_path)
    with conn:  # a wrong kept count: the search reports it (so the kept path is the one taken), check finds it
        conn.execute("UPDATE term_totals SET messages = messages + 7 WHERE term = 'run*' AND block = 0")
    conn.close()
    with a.reader() as conn:
        assert fts.search(conn, lang.parse("run*"), limit=10).total_messages == 9
    assert any("'run*'" in p for p in a.check()["problems"])
    _dirty(a, {0})  # as the writer does: the block is counted live, then a sync counts it again
    with a.reader() as conn:
        assert fts.search(conn, lang.parse("run*"), limit=10).total_messages == 2
    a.sync([tmp_path / "w.jsonl"])
    assert a.check()["problems"] == []
    a.close()


@SETTINGS
@given(convs=archives, query=queries)
def test_title_only_conversations_are_counted_alike_by_probes_and_by_one_pass(tmp_path_factory, convs, query):
    """fts._count finds the conversations matching by title alone either with a
    probe each or with one pass over the matches (PROBE_MATCHES decides which):
    both give the brute-force totals, on the path a big word group takes
    (cap 1: not read outright) and without kept totals."""
    groups, excluded, role = query
    if any(w == x for g in groups for w, _ in g for x in excluded):
        return
    a = _plain_archive(tmp_path_factory.mktemp("probes"), convs)
    text = _query_text(groups, excluded, role)
    want, want_messages = _brute(convs, groups, excluded, role)
    old = fts.PROBE_MATCHES
    try:
        with a.reader() as conn:
            for probe_matches in (0, 10**9):  # a probe each; one pass
                fts.PROBE_MATCHES = probe_matches
                for cap, probe_max, rank_all in WAYS:
                    res = fts.search(conn, lang.parse(text), limit=100, rank_all=rank_all, cap=cap, probe_max=probe_max)
                    assert {c["id"] for c in res.conversations} == want, (text, probe_matches, cap)
                    assert (res.total_conversations, res.total_messages) == (len(want), want_messages), text
    finally:
        fts.PROBE_MATCHES = old
    a.close()


def test_a_search_leaves_no_read_transaction_open_and_keeps_the_callers(tmp_path):
    # a read transaction left open would stop every WAL checkpoint of a running sync
    convs = [("run", [("run cat", "user"), ("cat", "assistant")]), ("dog", [("run run", "user")])]
    a = _kept_archive(tmp_path, convs)
    with a.reader() as conn:
        for text in ("run", "ru*", "run cat", "run*", "nothing", "dog OR cat"):
            assert not conn.in_transaction
            res = fts.search(conn, lang.parse(text), limit=10)
            assert not conn.in_transaction, text
            assert all(c["hits"] or c["id"] == "claude:c1" for c in res.conversations)  # snippets made after it
        conn.execute("BEGIN")  # the caller's own snapshot: left to the caller
        fts.search(conn, lang.parse("run"), limit=10)
        assert conn.in_transaction
        conn.execute("COMMIT")
    a.close()
