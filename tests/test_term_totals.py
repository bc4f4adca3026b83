"""Totals counted ahead for frequent words (store/term_totals.py) are exact
after every kind of sync, are really what a search reports, and never outlive
a change: whatever the writer touches is counted again or counted live."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.store import fts

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _home(tmp_path: Path, name: str, block_bits: int = 0, min_messages: int = 1) -> Archive:
    """An archive whose every word counts as frequent, one conversation per block."""
    a = Archive(tmp_path / name)
    a._ensure_writable()
    conn = sqlite3.connect(a.db_path)  # (the archive's own settings)
    with conn:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('totals_block_bits', ?), ('totals_min_messages', ?)",
            (block_bits, min_messages),
        )
    conn.close()
    return a


def _connect(db: Path, **kw) -> sqlite3.Connection:
    """The archive with its index file attached, as polylogue's own connections see them."""
    conn = sqlite3.connect(db, **kw)
    conn.execute("ATTACH DATABASE ? AS idx", (str(db.parent / "index.db"),))
    return conn


def _scan(db: Path, term: str) -> tuple[int, int]:
    """A full count of a kept word, or of a kept prefix ('bac*', a query of its own)."""
    match = f'"{term[:-1]}"*' if term.endswith("*") else f'"{term}"'
    conn = _connect(db)
    try:
        return conn.execute(
            "SELECT count(*), count(DISTINCT rowid >> 24) FROM messages_fts WHERE messages_fts MATCH ?", (match,)
        ).fetchone()
    finally:
        conn.close()


def _table(db: Path, sql: str) -> list[tuple]:
    conn = _connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _assert_exact(a: Archive) -> list[str]:
    terms = [t for (t,) in _table(a.db_path, "SELECT term FROM frequent_terms")]
    assert len(terms) > 20
    for t in terms:
        res = a.search(t, cache=False, within="message", forms=False)
        assert (res.total_messages, res.total_conversations) == _scan(a.db_path, t), t
    return terms


def _mutate(data: Path) -> None:
    """A new ChatGPT export with one message reworded,
    and a Claude Code session that grew."""
    src = data / "chatgpt" / "conversations.json"
    convs = json.loads(src.read_text())
    node = next(
        n for n in convs[0]["mapping"].values() if n.get("message") and n["message"].get("content", {}).get("parts")
    )
    node["message"]["content"]["parts"] = ["the totals must follow this rewording of the message"]
    convs[0]["update_time"] = (convs[0].get("update_time") or 0) + 3600
    src.write_text(json.dumps(convs))
    session = next((data / "claude-code").rglob("3f8d2b10-*.jsonl"))
    last = [json.loads(x) for x in session.read_text().splitlines() if '"uuid"' in x][-1]
    with open(session, "a") as f:
        for i in range(3):
            f.write(
                json.dumps(
                    {
                        "type": "user",
                        "uuid": f"grown-{i}",
                        "parentUuid": last["uuid"] if i == 0 else f"grown-{i - 1}",
                        "sessionId": last["sessionId"],
                        "timestamp": f"2026-03-0{i + 1}T00:00:00Z",
                        "cwd": last.get("cwd"),
                        "message": {"role": "user", "content": "and the test of the totals again"},
                    }
                )
                + "\n"
            )


def test_totals_stay_exact_and_match_a_fresh_import(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES, data)
    a = _home(tmp_path, "h")
    a.sync([data])
    before = _assert_exact(a)
    assert "the" in before
    _mutate(data)
    r = a.sync([data])
    assert r.conversations_updated >= 2
    _assert_exact(a)
    # the counts kept up to date equal those of one import of the final data
    fresh = _home(tmp_path, "fresh")
    fresh.sync([data])
    q = "SELECT term, block, messages, conversations FROM term_totals ORDER BY term, block"

    # block numbers follow conversation ids, which differ between the two archives: compare per word
    def per_word(db):
        out: dict[str, tuple[int, int]] = {}
        for t, _, m, c in _table(db, q):
            out[t] = (out.get(t, (0, 0))[0] + m, out.get(t, (0, 0))[1] + c)
        return out

    kept, once = per_word(a.db_path), per_word(fresh.db_path)
    assert {t: kept[t] for t in once if t in kept} == {t: once[t] for t in once if t in kept}
    assert len(set(kept) & set(once)) > 20


def test_a_search_reports_the_kept_totals_and_check_verifies_them(tmp_path):
    a = _home(tmp_path, "h")
    a.sync([EXAMPLES])
    exact = _scan(a.db_path, "the")
    conn = _connect(a.db_path)
    with conn:
        conn.execute("UPDATE term_totals SET messages = messages + 1000 WHERE term = 'the' AND block = 1")
    res = a.search("the", cache=False)
    assert (res.total_messages, res.total_conversations) == (exact[0] + 1000, exact[1])
    assert any("term totals for 'the'" in p for p in a.check()["problems"])
    # a block without its count: the search counts live, and the next sync counts the block again
    with conn:
        conn.execute("UPDATE term_totals SET messages = messages - 1000 WHERE term = 'the' AND block = 1")
        conn.execute(
            "DELETE FROM term_totals WHERE term = 'the' AND block = (SELECT max(block) FROM term_totals "
            "WHERE term = 'the' AND messages > 0)"
        )
    res = a.search("the", cache=False)
    assert (res.total_messages, res.total_conversations) == exact
    conn.close()
    a.sync([EXAMPLES])
    assert _table(a.db_path, "SELECT sum(messages) FROM term_totals WHERE term = 'the'") == [(exact[0],)]
    assert a.check()["problems"] == []


def test_only_touched_blocks_are_counted_again(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES, data)
    a = _home(tmp_path, "h")  # one conversation a block
    a.sync([data])
    hashes = dict(_table(a.db_path, "SELECT id, hash FROM conversations"))
    conn = _connect(a.db_path)
    with conn:  # a wrong value in every block: the blocks the sync leaves alone keep it
        conn.execute("UPDATE term_totals SET messages = messages + 7")
    _mutate(data)
    a.sync([data])
    touched = {cid for cid, h in _table(a.db_path, "SELECT id, hash FROM conversations") if hashes.get(cid) != h}
    assert len(touched) == 2
    live = dict(
        conn.execute("SELECT rowid >> 24, count(*) FROM messages_fts WHERE messages_fts MATCH '\"the\"' GROUP BY 1")
    )
    rows = conn.execute("SELECT block, messages FROM term_totals WHERE term = 'the'").fetchall()
    assert {b for b, _ in rows} == set(range(max(hashes) + 1))  # every block, empty ones too
    for b, m in rows:
        assert m == live.get(b, 0) + (0 if b in touched else 7), b
    conn.close()


def test_small_archives_keep_no_totals(tmp_path):
    a = _home(tmp_path, "h", min_messages=10**9)
    a.sync([EXAMPLES])
    assert _table(a.db_path, "SELECT count(*) FROM frequent_terms") == [(0,)]
    assert _table(a.db_path, "SELECT count(*) FROM term_totals") == [(0,)]
    res = a.search("the", cache=False)
    assert (res.total_messages, res.total_conversations) == _scan(a.db_path, "the")


WORDS = ["alpha", "beta", "gamma", "delta", "the", "of", "zeta", "eta"]
_convs = st.lists(
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5), min_size=1, max_size=5), min_size=1, max_size=8
)


def _export(path: Path, convs: list[list[list[str]]], stamp: int) -> None:
    lines = [
        orjson.dumps(
            {
                "id": f"claude:p{i}",
                "provider": "claude",
                "provider_id": f"p{i}",
                "title": "t",
                "created_at": "2025-01-01T00:00:00Z",
                "updated_at": f"2025-02-{stamp + 1:02d}T00:00:00Z",
                "messages": [
                    {
                        "id": f"m{j}",
                        "parent_id": f"m{j - 1}" if j else None,
                        "role": "user",
                        "timestamp": "2025-01-01T00:00:00Z",
                        "blocks": [{"type": "text", "text": " ".join(ws)}],
                    }
                    for j, ws in enumerate(msgs)
                ],
            }
        )
        for i, msgs in enumerate(convs)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(versions=st.lists(_convs, min_size=2, max_size=4), bits=st.sampled_from([0, 1, 11]))
def test_kept_totals_equal_a_full_count_after_any_sequence_of_exports(tmp_path_factory, versions, bits):
    """Each new export rewrites, grows, shrinks or adds conversations; after
    every sync each kept word's totals equal a full count of the index."""
    d = tmp_path_factory.mktemp("seq")
    a = _home(d, "h", block_bits=bits)
    src = d / "export.jsonl"
    # and last, the final export with each conversation's last message gone: deletions alone
    versions = versions + [[msgs[:-1] or msgs for msgs in versions[-1]]]
    for n, convs in enumerate(versions):
        _export(src, convs, n)
        assert a.sync([src]).errors == []
        kept = [t for (t,) in _table(a.db_path, "SELECT term FROM frequent_terms")]
        assert kept
        for t in kept:
            res = a.search(t, cache=False, within="message", forms=False)
            assert (res.total_messages, res.total_conversations) == _scan(a.db_path, t), (n, t)
        assert _table(a.db_path, "SELECT count(*) FROM term_totals")[0][0] == len(kept) * (
            (_table(a.db_path, "SELECT max(id) FROM conversations")[0][0] >> bits) + 1
        )
    a.close()


def test_kept_totals_count_word_forms_and_titles_alone(tmp_path):
    """A kept word is counted with its other forms, under the key a search
    asks for, and with the conversations whose title alone holds it; a search
    that uses them reports what a live count reports, and a retitled
    conversation drops its block's counts."""

    def conv(cid: str, title: str, texts: list[str]) -> dict:
        msgs = [
            {
                "id": f"m{j}",
                "role": "user",
                "timestamp": "2025-01-01T00:00:00Z",
                "blocks": [{"type": "text", "text": t}],
            }
            for j, t in enumerate(texts)
        ]
        return {
            "id": f"claude:{cid}",
            "provider": "claude",
            "provider_id": cid,
            "title": title,
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "messages": msgs,
        }

    convs = [
        conv("a", "morning", ["we run fast", "runs daily"]),
        conv("b", "running club", ["weather"]),
        conv("c", "tea", ["running late", "tea"]),
    ]
    src = tmp_path / "c.jsonl"
    src.write_bytes(b"\n".join(orjson.dumps(c) for c in convs) + b"\n")
    a = _home(tmp_path, "h")
    a.sync([src])
    keys = {t for (t,) in _table(a.db_path, "SELECT DISTINCT term FROM term_totals")}
    assert '("run" OR "runs" OR "running")' in keys and "fast" in keys
    counted = {
        r[0]: r[1:]
        for r in _table(
            a.db_path, "SELECT term, sum(messages), sum(conversations), sum(title_only) FROM term_totals GROUP BY term"
        )
    }
    assert counted['("run" OR "runs" OR "running")'] == (3, 2, 1)  # b matches by its title alone
    res = a.search("run", cache=False)
    assert (res.total_conversations, res.total_messages) == (3, 3)
    assert {c["id"] for c in res.conversations} == {"claude:a", "claude:b", "claude:c"}
    assert a.search("run", cache=False, within="message").total_conversations == 2
    with a.reader() as conn:  # two words, each known big from its kept totals (cap 0), are never read outright
        for cap in (0, 50_000):
            two = fts.search(conn, lang.parse("run fast"), cap=cap)
            assert (two.total_conversations, two.total_messages) == (1, 2), cap
    assert a.check()["problems"] == []
    # a new title in a block: its counts go, and the next sync counts them again
    assert a.search("fast", cache=False).total_conversations == 1
    convs[2]["title"], convs[2]["updated_at"] = "fast tea", "2025-01-02T00:00:00Z"
    src.write_bytes(b"\n".join(orjson.dumps(c) for c in convs) + b"\n")
    a.sync([src])
    assert a.search("fast", cache=False).total_conversations == 2
    assert a.check()["problems"] == []


def test_blocks_without_kept_counts_are_counted_live_and_exact(tmp_path):
    """During a sync the blocks it touched have no kept counts until its end:
    a search counts only those live (term_totals.lookup), exact, instead of
    giving up the kept ones."""
    from polylogue.store import term_totals

    a = _home(tmp_path, "h")
    a.sync([EXAMPLES])
    conn = _connect(a.db_path, isolation_level=None)
    blocks = [b for (b,) in conn.execute("SELECT DISTINCT block FROM term_totals WHERE term = 'the' ORDER BY block")]
    assert len(blocks) > 3
    conn.execute("DELETE FROM term_totals WHERE block IN (?, ?)", (blocks[0], blocks[-1]))
    kept = term_totals.lookup(conn, "the")
    assert kept is not None and kept[:2] == _scan(a.db_path, "the")
    res = a.search("the", cache=False, within="message", forms=False)
    assert (res.total_messages, res.total_conversations) == _scan(a.db_path, "the")
    conn.execute("DELETE FROM term_totals")  # no block kept at all: not a kept word, the search counts live
    assert term_totals.lookup(conn, "the") is None
    conn.close()


def test_prefixes_past_the_recount_budget_stay_exact_and_get_their_turn(tmp_path, monkeypatch):
    """A refresh spends a bounded CPU time on kept prefixes (each costs a pass
    over all its words' doclists): those it leaves are counted live by a search,
    exact, and later refreshes carry on from where it stopped."""
    from polylogue.store import term_totals

    data = tmp_path / "data"
    shutil.copytree(EXAMPLES, data)
    a = _home(tmp_path, "h")
    monkeypatch.setattr(term_totals, "PREFIX_SECONDS", -1.0)  # no time for prefixes: one a refresh
    monkeypatch.setattr(term_totals, "PREFIX_SHARE", 0.0)
    monkeypatch.setattr(term_totals, "MAX_PREFIXES", 6)
    a.sync([data])
    prefixes = [t for (t,) in _table(a.db_path, "SELECT term FROM frequent_terms WHERE term LIKE '%*'")]
    assert len(prefixes) == 6
    counted = [t for (t,) in _table(a.db_path, "SELECT DISTINCT term FROM term_totals WHERE term LIKE '%*'")]
    assert counted == sorted(prefixes)[:1]
    for t in prefixes:  # the others not counted ahead: counted by the search, exact
        res = a.search(t, cache=False, within="message", forms=False)
        assert (res.total_messages, res.total_conversations) == _scan(a.db_path, t), t
    # one prefix a refresh (the budget is spent after the first): each in turn, none twice; a sync
    # that changed nothing leaves their turn to the next that does (a no-op sync stays cheap)
    monkeypatch.setattr(term_totals, "PREFIX_SECONDS", 0.0)
    monkeypatch.setattr(term_totals, "time", _Clock())
    a.sync([data])
    assert [t for (t,) in _table(a.db_path, "SELECT DISTINCT term FROM term_totals WHERE term LIKE '%*'")] == counted
    some = sorted(p for p in data.rglob("*") if p.is_file())[0]
    for i, _ in enumerate(prefixes[1:]):
        shutil.copy(some, data / f"again-{i}{some.suffix}")  # a new file: the sync reads it
        a.sync([data])
        now = {t for (t,) in _table(a.db_path, "SELECT DISTINCT term FROM term_totals WHERE term LIKE '%*'")}
        assert len(now) == len(counted) + 1
        counted += sorted(now - set(counted))
    assert sorted(counted) == sorted(prefixes)
    _assert_exact(a)
    # a sync that touches blocks leaves their prefix counts to the search until a refresh has time again
    _mutate(data)
    a.sync([data])
    _assert_exact(a)
    a.close()


class _Clock:
    """time, for term_totals: each CPU-time reading a second after the last."""

    def __init__(self):
        self.t = 0.0

    def process_time(self) -> float:
        self.t += 1.0
        return self.t
