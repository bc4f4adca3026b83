"""An archive written by schema-version-1 code opens with today's code: it is
upgraded to the current schema with every conversation and message intact,
searchable, passing `check`, and writable by the next sync.

The fixture (tests/fixtures/archive-v1.sql, made by make_v1_archive.py) is
what polylogue wrote at version 1: message rowids 1, 2, 3..., no
`conversations.next_message`, content stored as-is or as a dictionary-less
zstd frame, and hashes over the stored bytes. The expected data is read from
the fixture's own rows, decoded here without polylogue's codec."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
import zstandard
from helpers import load_v1_archive

from polylogue import Archive
from polylogue.store import term_totals, upgrade
from polylogue.store.db import open_writer
from polylogue.store.ids import message_rowid
from polylogue.store.schema import SCHEMA_VERSION, migrate

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "archive-v1.sql"
ZSTD_TAG = b"\x01"  # version 1's content: JSON as-is, or this byte and a zstd frame


_load = load_v1_archive  # the fixture as a database file in a home


def _v1_blocks(content: bytes) -> list[dict]:
    raw = zstandard.ZstdDecompressor().decompress(content[1:]) if content[:1] == ZSTD_TAG else content
    return json.loads(raw)


@pytest.fixture(scope="module")
def expected() -> dict[str, dict]:
    """What the fixture holds, read straight from its rows: {uid: {title, messages: [(mid, role, texts)]}}."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(FIXTURE.read_text())
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    out = {}
    for cid, uid, title, count in conn.execute("SELECT id, uid, title, message_count FROM conversations"):
        rows = conn.execute("SELECT mid, role, content FROM messages WHERE conversation_id = ? ORDER BY seq", (cid,))
        messages = [(mid, role, [b.get("text", "") for b in _v1_blocks(c)]) for mid, role, c in rows]
        assert len(messages) == count
        out[uid] = {"title": title, "messages": messages}
    return out


def test_fixture_is_what_version_1_wrote(expected):
    """Guards the fixture itself: the old rowids and both content encodings are there."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(FIXTURE.read_text())
    ids = [r[0] for r in conn.execute("SELECT id FROM messages ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1))
    assert "next_message" not in {r[1] for r in conn.execute("PRAGMA table_info(conversations)")}
    heads = {c[:1] == ZSTD_TAG for (c,) in conn.execute("SELECT content FROM messages")}
    assert heads == {True, False}
    assert len(expected) >= 5 and {uid.split(":")[0] for uid in expected} >= {"chatgpt", "claude-code", "codex"}


def test_upgrade_keeps_every_message(tmp_path, expected):
    archive = Archive(_load(tmp_path / "home"))
    archive.sync([tmp_path / "nothing"])  # reads never migrate (tests/test_read_only.py); a sync does
    stats = archive.stats()
    assert stats["schema_version"] == SCHEMA_VERSION
    assert stats["conversations"] == len(expected)
    assert stats["messages"] == sum(len(c["messages"]) for c in expected.values())
    for uid, want in expected.items():
        conv = archive.conversation(uid)
        assert conv.title == want["title"]
        got = [(m.id, m.role, [b.text for b in m.blocks]) for m in conv.messages]
        assert got == want["messages"], uid
    assert archive.check()["problems"] == []


def _words(texts: list[str]) -> list[str]:
    return re.findall(r"\b[a-z]{7,}\b", " ".join(texts).lower())


def test_upgraded_archive_is_searchable(tmp_path, expected):
    archive = Archive(_load(tmp_path / "home"))
    archive.sync([tmp_path / "nothing"])
    for uid, want in expected.items():
        words = [w for _, role, texts in want["messages"] if role in ("user", "assistant") for w in _words(texts)]
        if not words:
            continue
        res = archive.search(f"{words[0]} id:{uid}")
        assert [c["id"] for c in res.conversations] == [uid], (uid, words[0])
        assert res.total_messages >= 1
    title_word = next(w for c in expected.values() for w in _words([c["title"] or ""]))
    assert archive.search(f"title:{title_word}").total_conversations >= 1


def test_upgraded_archive_takes_the_next_sync(tmp_path, expected, examples):
    """The next sync writes into the upgraded archive (new messages get rowids after the old ones)."""
    archive = Archive(_load(tmp_path / "home"))
    report = archive.sync([str(examples / "chatgpt"), str(examples / "codex")])
    assert report.errors == [] and report.exit_code == 0, report.to_json()
    assert archive.check()["problems"] == []
    for uid in expected:
        assert archive.conversation(uid).messages
    report = archive.sync([str(examples / "chatgpt"), str(examples / "codex")])
    assert report.to_json()["conversations"]["new"] == 0


def test_a_newer_archive_is_refused(tmp_path):
    from polylogue.errors import PolylogueError

    home = _load(tmp_path / "home")
    conn = sqlite3.connect(home / "polylogue.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(PolylogueError, match="newer than this polylogue"):
        Archive(home).stats()


def test_an_archive_begun_today_is_left_alone(tmp_path):
    """The version-1 repair is a no-op on an archive that today's migration 1 made."""
    conn = sqlite3.connect(tmp_path / "new.db")
    conn.isolation_level = None
    migrate(conn)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO conversations(id, uid, provider, provider_id, hash, imported_at) VALUES (3, 'x:1', 'x', '1', 0, 0)"
    )
    conn.execute(
        "INSERT INTO messages(id, conversation_id, seq, mid, role, content, hash) VALUES (?, 3, 0, 'm', 'user', '[]', 7)",
        (message_rowid(3, 0),),
    )
    conn.execute("COMMIT")
    upgrade.adopt_v1_archive(conn)
    assert conn.execute("SELECT id, hash FROM messages").fetchall() == [(message_rowid(3, 0), 7)]


# ---------------------------------------------------------------- version 8: the index moves to index.db

FIXTURE_V8 = Path(__file__).resolve().parent / "fixtures" / "archive-v8.sql"


def _load_v8(home: Path) -> Path:
    """An archive written by schema-version-8 code (tests/fixtures/make_v8_archive.py): the
    full-text index, its kept word totals and their settings inside polylogue.db."""
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / "polylogue.db")
    conn.executescript(FIXTURE_V8.read_text())
    conn.close()
    return home


def _v8_index(db: Path) -> dict:
    """What the version-8 archive's index answers, read from the archive itself."""
    conn = sqlite3.connect(db)
    try:
        words = sorted({t for (t,) in conn.execute("SELECT term FROM frequent_terms") if not t.endswith("*")})
        return {
            "hits": {
                w: conn.execute(
                    "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid", (f'"{w}"',)
                ).fetchall()
                for w in words[:: max(1, len(words) // 40)]
            },
            "titles": conn.execute(
                "SELECT rowid FROM titles_fts WHERE titles_fts MATCH 'the' ORDER BY rowid"
            ).fetchall(),
            "totals": conn.execute("SELECT * FROM term_totals ORDER BY term, block").fetchall(),
            "convs": conn.execute("SELECT * FROM term_convs ORDER BY term, block").fetchall(),
            "terms": conn.execute("SELECT term FROM frequent_terms ORDER BY term").fetchall(),
            "chosen": conn.execute("SELECT value FROM meta WHERE key = 'totals_chosen_at'").fetchone(),
        }
    finally:
        conn.close()


def test_a_version_8_archive_moves_its_index_into_its_own_file(tmp_path):
    """Migration 9 on an archive written by version-8 code: the index, the kept totals and
    their settings move to index.db as they are (nothing indexed again), the archive keeps
    none of them, search answers exactly as before, check passes, and the next sync works."""
    home = _load_v8(tmp_path / "home")
    before = _v8_index(home / "polylogue.db")
    assert len(before["hits"]) >= 20 and before["totals"] and before["convs"] and before["chosen"]
    archive = Archive(home)
    open_writer(home / "polylogue.db").close()  # migration 9 alone: a sync runs it, then counts (below)
    assert archive.stats()["schema_version"] == SCHEMA_VERSION
    index = home / "index.db"
    assert index.stat().st_mode & 0o777 == 0o600
    conn = sqlite3.connect(home / "polylogue.db")
    left = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert not left & {"messages_fts", "titles_fts", "term_totals", "term_convs", "frequent_terms"}
    assert not conn.execute("SELECT 1 FROM meta WHERE key LIKE 'totals_chosen%'").fetchone()
    conn.execute("ATTACH DATABASE ? AS idx", (str(index),))
    for w, hits in before["hits"].items():
        got = conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid", (f'"{w}"',))
        assert got.fetchall() == hits, w
    assert (
        conn.execute("SELECT rowid FROM titles_fts WHERE titles_fts MATCH 'the' ORDER BY rowid").fetchall()
        == (before["titles"])
    )
    assert conn.execute("SELECT * FROM term_totals ORDER BY term, block").fetchall() == before["totals"]
    assert conn.execute("SELECT * FROM term_convs ORDER BY term, block").fetchall() == before["convs"]
    assert conn.execute("SELECT term FROM frequent_terms ORDER BY term").fetchall() == before["terms"]
    assert conn.execute("SELECT value FROM index_state WHERE key = 'totals_chosen_at'").fetchone() == before["chosen"]
    assert conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    conn.close()
    # the next sync chooses the words again (TOTALS_VERSION 3: the words in 50K+ messages, prefixes of
    # 3-6 letters): the words chosen before stay, and every term still chosen keeps its counts as they
    # were (only the newly chosen are counted)
    archive.sync([tmp_path / "nothing"])
    conn = sqlite3.connect(index)
    terms = {t for (t,) in conn.execute("SELECT term FROM frequent_terms")}
    assert {t for (t,) in before["terms"] if not t.endswith("*")} <= terms
    assert len(terms) > len(before["terms"])
    totals = set(conn.execute("SELECT * FROM term_totals"))
    convs = set(conn.execute("SELECT * FROM term_convs"))
    still = {row for row in before["totals"] if row[0] in terms}
    assert len(still) * 2 > len(before["totals"]) and still <= totals
    still = {row for row in before["convs"] if row[0] in terms}
    assert still and still <= convs
    version = conn.execute("SELECT value FROM index_state WHERE key = 'totals_version'").fetchone()
    assert version == (term_totals.TOTALS_VERSION,)
    conn.close()
    out = archive.check()
    assert out["problems"] == [] and out["index_lag"] == 0
    w = next(iter(before["hits"]))
    res = archive.search(w, cache=False, within="message", forms=False)
    assert res.total_messages == len(before["hits"][w])


def test_a_migration_cut_short_between_the_two_files_is_finished_or_rebuilt(tmp_path, examples):
    """Migration 9 writes two files, which WAL does not commit as one: run again after
    the index file committed alone, it starts over; an index file lost (or left without
    its watermark) is rebuilt whole from the archive by the next sync."""
    home = _load_v8(tmp_path / "home")
    conn = sqlite3.connect(home / "polylogue.db", isolation_level=None)
    from polylogue.store import index_file

    index_file.attach(conn, home / "polylogue.db", writable=True)
    conn.execute("BEGIN")
    index_file.move_index(conn)
    conn.execute("PRAGMA user_version = 9")
    conn.execute("COMMIT")  # the archive's half committed...
    conn.close()
    (home / "index.db").unlink()  # ...and the index file's lost
    for side in ("-wal", "-shm"):
        Path(f"{home / 'index.db'}{side}").unlink(missing_ok=True)
    archive = Archive(home)
    archive.sync([str(examples / "codex")])
    out = archive.check()
    assert out["problems"] == [] and out["index_lag"] == 0
    assert archive.search("the", cache=False).total_messages > 0
    # the other way: the index file committed alone (here: one made from a copy), the archive
    # still at version 8 with its index; the sync runs the migration again, from the start
    again = _load_v8(tmp_path / "again")
    copy = _load_v8(tmp_path / "copy")
    Archive(copy).sync([tmp_path / "nothing"])
    shutil.copy2(copy / "index.db", again / "index.db")
    before = _v8_index(again / "polylogue.db")
    a2 = Archive(again)
    a2.sync([tmp_path / "nothing"])
    out = a2.check()
    assert out["problems"] == [] and out["index_lag"] == 0
    w = next(iter(before["hits"]))
    assert a2.search(w, cache=False, within="message", forms=False).total_messages == len(before["hits"][w])
