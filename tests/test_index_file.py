"""The full-text index in its own file (store/indexer.py, issue 27), on real
archives: the indexer brings it exactly to the archive from the writer's log
(inserts, changes, deletions, titles, forget, redact), check verifies the pair
and catches a wrong one, a lost index.db is rebuilt, a backup copies both, and
search never finds more or less than the index holds."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import Archive
from polylogue import models as m
from polylogue.store import codec, indexer
from polylogue.store.db import ensure_home, open_reader, open_writer
from polylogue.store.encode import encode, fts_values
from polylogue.store.writer import Writer


def _conv(pid: str, texts: list[str], title: str | None) -> m.Conversation:
    msgs = [
        m.Message(id=f"m{i}", role=m.USER if i % 2 == 0 else m.ASSISTANT, blocks=[m.text(t)])
        for i, t in enumerate(texts)
    ]
    return m.Conversation(provider="claude-code", provider_id=pid, title=title, messages=msgs)


def _words(conn: sqlite3.Connection, schema: str) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """word -> rowids of messages_fts and titles_fts in ``schema``, every word of their vocabulary."""
    out = []
    for table in ("messages_fts", "titles_fts"):
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.v_{table} USING fts5vocab({schema}, {table}, row)")
        words = [w for (w,) in conn.execute(f"SELECT term FROM temp.v_{table}")]
        found = {
            w: {x for (x,) in conn.execute(f"SELECT rowid FROM {schema}.{table} WHERE {table} MATCH ?", (f'"{w}"',))}
            for w in words
        }
        out.append({w: rows for w, rows in found.items() if rows})
    return out[0], out[1]


def _index(db: Path) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """What the index file holds, as search reads it."""
    r = open_reader(db)
    try:
        r.execute("PRAGMA query_only = OFF")  # (temp tables only)
        return _words(r, "idx")
    finally:
        r.close()


def _truth(db: Path) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """What it must hold: the archive's rows indexed afresh, with the same index text."""
    r = open_reader(db)
    try:
        r.execute("PRAGMA query_only = OFF")
        r.execute("ATTACH DATABASE ':memory:' AS fresh")
        r.execute(
            "CREATE VIRTUAL TABLE fresh.messages_fts USING fts5(text, thinking, tool_use, tool_result, "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        r.execute("CREATE VIRTUAL TABLE fresh.titles_fts USING fts5(title, tokenize='unicode61 remove_diacritics 2')")
        for rid, blob in r.execute("SELECT id, content FROM main.messages").fetchall():
            r.execute(
                "INSERT INTO fresh.messages_fts(rowid, text, thinking, tool_use, tool_result) VALUES (?,?,?,?,?)",
                (rid, *fts_values(codec.decode_blocks(blob))),
            )
        r.execute(
            "INSERT INTO fresh.titles_fts(rowid, title) SELECT id, title FROM main.conversations WHERE title != ''"
        )
        return _words(r, "fresh")
    finally:
        r.close()


WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "kiwi", "plum"])
TEXTS = st.lists(st.lists(WORDS, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=4)
STEP = st.tuples(st.sampled_from(["c1", "c2", "c3"]), TEXTS, st.none() | WORDS, st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=6), cut=st.integers(0, 6))
def test_the_index_follows_any_sequence_of_writes_exactly(tmp_path_factory, steps, cut):
    """Conversations written, rewritten (messages changed, added, pruned; titles
    changed), the index caught up after some of the writes only: at every catch-up
    the index holds exactly what the archive holds, and check agrees, lag or not."""
    home = tmp_path_factory.mktemp("seq")
    db = ensure_home(home)
    conn = open_writer(db)
    try:
        for i, (pid, texts, title, prune) in enumerate(steps):
            w = Writer(conn)
            w.write(encode(_conv(pid, texts, title), prune=prune), None)
            w.commit()
            if i == cut:
                indexer.sync_index(db)
                assert _index(db) == _truth(db)
            a = Archive(home)
            out = a.check()
            a.close()
            assert out["problems"] == [], out
        indexer.sync_index(db)
        assert _index(db) == _truth(db)
        a = Archive(home)
        assert a.check()["index_lag"] == 0
        a.close()
    finally:
        conn.close()


def test_check_catches_an_index_that_differs_from_the_archive(tmp_path, examples):
    a = Archive(tmp_path / "h")
    a.sync([examples])
    assert a.check()["problems"] == []
    conn = sqlite3.connect(tmp_path / "h" / "index.db")
    rid = conn.execute("SELECT id FROM messages_fts_docsize LIMIT 1").fetchone()[0]
    conn.execute("DELETE FROM messages_fts_docsize WHERE id = ?", (rid,))  # an entry lost
    conn.commit()
    conn.close()
    assert any("full-text index has" in p for p in a.check()["problems"])


def test_a_lost_index_file_is_rebuilt_by_the_next_sync(tmp_path, examples):
    a = Archive(tmp_path / "h")
    a.sync([examples])
    before = a.search("the", cache=False)
    a.close()
    for p in (tmp_path / "h").glob("index.db*"):
        p.unlink()
    b = Archive(tmp_path / "h")
    assert b.search("the", cache=False).total_messages == 0  # read never writes: nothing found, no error
    assert b.check()["index_lag"] is None
    b.close()
    c = Archive(tmp_path / "h")
    c.sync([])
    again = c.search("the", cache=False)
    assert (again.total_messages, again.total_conversations) == (before.total_messages, before.total_conversations)
    assert c.check()["problems"] == []


def test_a_backup_holds_both_files_and_reads_as_the_archive(tmp_path, examples):
    a = Archive(tmp_path / "h")
    a.sync([examples])
    dest = tmp_path / "copy"
    dest.mkdir()
    a.backup(dest)
    assert sorted(p.name for p in dest.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "index.db",
        "polylogue.db",
    ]
    for p in ("index.db", "polylogue.db"):
        assert (dest / p).stat().st_mode & 0o777 == 0o600
    b = Archive(dest)
    assert b.check()["problems"] == []
    x, y = a.search("the", cache=False), b.search("the", cache=False)
    assert (x.total_messages, x.total_conversations) == (y.total_messages, y.total_conversations) != (0, 0)


def test_forget_and_redact_leave_nothing_in_the_index(tmp_path, examples):
    home = tmp_path / "h"
    shutil.copytree(examples, tmp_path / "data")
    a = Archive(home)
    a.sync([tmp_path / "data"])
    first = a.search("the", cache=False).conversations[0]["id"]
    a.forget([first])
    db = home / "polylogue.db"
    assert _index(db) == _truth(db)
    other = a.search("the", cache=False).conversations[0]["id"]
    a.redact(other, pattern=r"\bthe\b")
    assert _index(db) == _truth(db)
    assert a.check()["problems"] == [] and a.check()["index_lag"] == 0
