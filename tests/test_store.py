"""The store on real SQLite files: schema, pragmas, permissions, indexes used
by the hot queries, incremental writes and the full-text index."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest

from polylogue import models as m
from polylogue.api import Archive
from polylogue.store import codec, indexer
from polylogue.store.db import ensure_home, open_reader, open_writer
from polylogue.store.encode import encode
from polylogue.store.writer import Writer


def conv(
    pid="c1", texts=("hello world", "hi there"), title="T", provider="claude-code", updated=None
) -> m.Conversation:
    msgs = []
    for i, t in enumerate(texts):
        role = m.USER if i % 2 == 0 else m.ASSISTANT
        msgs.append(
            m.Message(
                id=f"m{i}",
                role=role,
                blocks=[m.text(t)],
                parent_id=f"m{i - 1}" if i else None,
                timestamp=datetime(2025, 1, 1, 12, i, tzinfo=UTC),
            )
        )
    return m.Conversation(provider=provider, provider_id=pid, title=title, messages=msgs, updated_at=updated)


@pytest.fixture
def db(tmp_path):
    path = ensure_home(tmp_path / "home")
    conn = open_writer(path)
    yield path, conn
    conn.close()


def _path(conn):
    return conn.execute("PRAGMA database_list").fetchone()[2]


def write(conn, *convs, prune=True):
    """As a sync writes: the writer's batch, then the index brought up to it (store/indexer.py)."""
    w = Writer(conn)
    out = [w.write(encode(c, prune=prune), None) for c in convs]
    w.commit()
    indexer.sync_index(_path(conn))
    return out, w.stats


def fts_ids(conn, term):
    r = open_reader(_path(conn))
    try:
        return {x[0] for x in r.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (term,))}
    finally:
        r.close()


def test_home_and_files_are_private(tmp_path):
    home = tmp_path / "h"
    a = Archive(home)
    a.sync([home / "nothing"])  # a sync makes the archive (reads never do)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    db = home / "polylogue.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    a.sync([])
    for p in home.iterdir():
        if p.is_file():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_schema_version_and_wal(db):
    path, conn = db
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    r = open_reader(path)
    assert r.execute("PRAGMA query_only").fetchone()[0] == 1
    with pytest.raises(Exception):
        r.execute("DELETE FROM conversations")


def _plan(conn, sql, args=()):
    return " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))


def test_hot_queries_use_indexes(db):
    _, conn = db
    write(conn, conv("a"), conv("b"))
    # ordered load of one conversation
    plan = _plan(conn, "SELECT id, content FROM messages WHERE conversation_id = ? ORDER BY seq", (1,))
    assert "messages_conversation" in plan and "TEMP B-TREE" not in plan
    # re-import dedupe: an unchanged conversation is one lookup in the
    # uid index, never a scan of its messages; a changed one is diffed by index
    plan = _plan(conn, "SELECT id, hash, title, message_count, updated_at FROM conversations WHERE uid = ?", ("x",))
    assert "USING INDEX sqlite_autoindex_conversations" in plan and "SCAN" not in plan
    plan = _plan(conn, "SELECT id, mid, hash FROM messages WHERE conversation_id = ?", (1,))
    assert "USING INDEX messages_conversation" in plan and "SCAN" not in plan
    # newest-first listing, with and without a provider
    plan = _plan(conn, "SELECT id FROM conversations ORDER BY updated_at DESC LIMIT 10")
    assert "conversations_updated" in plan and "TEMP B-TREE" not in plan
    plan = _plan(conn, "SELECT id FROM conversations WHERE provider = ? ORDER BY updated_at DESC LIMIT 10", ("x",))
    assert "conversations_provider_updated" in plan and "TEMP B-TREE" not in plan
    # lookups by archive id
    assert "USING INDEX" in _plan(conn, "SELECT id, hash FROM conversations WHERE uid = ?", ("x",))


def test_unchanged_conversation_is_skipped(db):
    _, conn = db
    assert write(conn, conv())[0] == ["new"]
    assert write(conn, conv())[0] == ["unchanged"]
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2


def test_only_changed_messages_are_rewritten_and_reindexed(db):
    _, conn = db
    write(conn, conv(texts=("alpha one", "beta two", "gamma three")))
    before = dict(conn.execute("SELECT mid, id FROM messages"))
    status, stats = write(conn, conv(texts=("alpha one", "beta CHANGED", "gamma three", "delta four")))
    assert status == ["updated"]
    after = dict(conn.execute("SELECT mid, id FROM messages"))
    assert after["m0"] == before["m0"] and after["m2"] == before["m2"]  # untouched rows keep their rowid
    assert after["m1"] != before["m1"]
    assert stats.messages_updated == 1 and stats.messages_new == 1
    assert fts_ids(conn, "beta") == {after["m1"]}
    assert fts_ids(conn, "two") == set()  # the old text left the index
    assert fts_ids(conn, "delta") == {after["m3"]}
    assert conn.execute("SELECT message_count FROM conversations").fetchone()[0] == 4


def test_prune_removes_vanished_messages_only_when_allowed(db):
    _, conn = db
    write(conn, conv(texts=("one", "two", "three")))
    write(conn, conv(texts=("one", "two")), prune=False)  # a partial parse keeps what it no longer shows
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 3
    assert conn.execute("SELECT message_count FROM conversations").fetchone()[0] == 3
    write(conn, conv(texts=("one", "two")))  # an older state of the conversation never replaces a newer one
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 3
    write(conn, conv(texts=("one", "two"), updated=datetime(2026, 1, 1, tzinfo=UTC)))
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2
    assert fts_ids(conn, "three") == set()
    assert conn.execute("SELECT messages FROM provider_totals").fetchone()[0] == 2


def test_title_index_follows_title_changes(db):
    path, conn = db
    write(conn, conv(title="first title"))
    write(conn, conv(title="second title"))
    r = open_reader(path)
    assert not list(r.execute("SELECT rowid FROM titles_fts WHERE titles_fts MATCH 'first'"))
    assert list(r.execute("SELECT rowid FROM titles_fts WHERE titles_fts MATCH 'second'"))
    r.close()


def test_failed_conversation_leaves_nothing_behind(db):
    _, conn = db
    w = Writer(conn)
    good = encode(conv("good"))
    bad = encode(conv("bad"))
    bad.messages[1] = bad.messages[1]._replace(content=object())  # not bindable: the insert fails mid-conversation
    w.write(good, None)
    with pytest.raises(Exception):
        w.write(bad, None)
    w.commit()
    uids = [r[0] for r in conn.execute("SELECT uid FROM conversations")]
    assert uids == ["claude-code:good"]
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2


def test_blocks_round_trip_through_compression(db):
    _, conn = db
    big = "x = compute(y)\n" * 2000
    blocks = [
        m.text("short"),
        m.thinking("deep thought"),
        m.tool_use("t1", "Bash", {"command": "ls -la"}),
        m.tool_result("t1", big, is_error=False),
        m.attachment("a.png", kind=m.IMAGE, mime="image/png"),
        m.opaque({"type": "future", "x": [1, 2]}),
    ]
    c = m.Conversation("codex", "z", messages=[m.Message("m0", m.ASSISTANT, blocks)])
    write(conn, c)
    blob = conn.execute("SELECT content FROM messages").fetchone()[0]
    assert blob[:1] == codec.ZSTD_TAG and len(blob) < len(big) / 10
    assert codec.decode_blocks(blob) == blocks
    # the documented way out: pl_content() gives the JSON text to any SQL client
    text = conn.execute("SELECT pl_content(content) FROM messages").fetchone()[0]
    assert '"tool_result"' in text and "compute" in text
    assert fts_ids(conn, "compute") and fts_ids(conn, "Bash") and fts_ids(conn, "thought")
    assert fts_ids(conn, "{thinking} : thought") and not fts_ids(conn, "{text} : thought")


def test_frames_of_several_dictionaries_interleaved_decode_right():
    """The decoder tries the last frame's decompressor first; a frame of another
    dictionary (or of none) must still come out right, in any order."""
    import random

    texts = [
        f'[{{"type":"text","text":"message {i} about {"parsers " * (i % 7)}and the writer {i * i}"}}]'.encode()
        for i in range(60)
    ]
    samples = [t.replace(b"message", w) for t in texts for w in (b"note", b"reply", b"prompt", b"answer")] * 8
    a, b = codec.new_dictionary_id(), codec.new_dictionary_id()
    for did in (a, b):
        codec.register_dictionary(did, codec.train(samples, did))
    frames = []
    try:
        for did in (a, b, None):
            codec.use_dictionary(did)
            for t in texts:
                blob = codec.encode_json(t * 12)  # long enough to compress without a dictionary too
                assert blob[:1] == codec.ZSTD_TAG
                frames.append((blob, t * 12))
    finally:
        codec.use_dictionary(None)
    assert len({codec._dict_id(f) for f, _ in frames}) == 3
    random.Random(3).shuffle(frames)
    assert [codec.decode_json(f) for f, _ in frames] == [t for _, t in frames]


def test_new_archive_layout_and_free_pages_given_back(tmp_path):
    """8 KB pages and incremental auto-vacuum: after a sync that rewrote
    conversations (freeing index pages), the file holds no free pages."""
    import orjson

    a = Archive(tmp_path / "home")
    src = tmp_path / "a.jsonl"

    import random

    rnd = random.Random(1)

    def export(word: str, filler: int) -> None:  # random words: neither compression nor the index can fold them
        convs = [
            {
                "id": f"claude:c{i}",
                "provider": "claude",
                "provider_id": f"c{i}",
                "title": f"t{i}",
                "messages": [
                    {
                        "id": f"m{j}",
                        "role": "user",
                        "timestamp": "2025-01-01T00:00:00Z",
                        "blocks": [
                            {
                                "type": "text",
                                "text": f"{word} {i} {j} "
                                + " ".join(f"w{rnd.randrange(10**6)}" for _ in range(filler)),
                            }
                        ],
                    }
                    for j in range(20)
                ],
            }
            for i in range(60)
        ]
        src.write_bytes(b"\n".join(orjson.dumps(c) for c in convs) + b"\n")

    export("first", 300)
    a.sync([src])
    export("second", 1)  # every message changes and shrinks: pages are freed
    a.sync([src])
    with a.reader() as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 8192
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert a.search("second").total_messages == 1200 and a.search("first").total_messages == 0


def test_batches_know_their_weight(db):
    """The sync commits a batch early when it grows heavy (ingest.BATCH_BYTES):
    the writer counts the stored bytes of what it holds (the index text is the
    indexer's, derived from them)."""
    import random

    path, conn = db
    rng = random.Random(9)
    text = " ".join(f"{rng.getrandbits(64):x}" for _ in range(60_000))  # ~1 MB that stays big compressed
    big = conv("big", texts=(text, "small"))
    w = Writer(conn)
    w.write(encode(big), None)
    assert w.pending_bytes >= 400_000
    w.commit()
    assert w.pending_bytes == 0


def test_the_wal_is_restarted_past_its_target_without_waiting_for_a_reader(db, monkeypatch):
    """Past WAL_TARGET the writer restarts the WAL when no reader holds old frames;
    while one does (the indexer reading a batch), it does not wait for it but tries
    again after the next batch; past WAL_CAP it waits (a reader that never ends
    would otherwise let the WAL grow for the whole import)."""
    import os
    import sqlite3
    import time

    from polylogue.store import writer as writer_module

    path, conn = db
    wal = f"{path}-wal"
    monkeypatch.setattr(writer_module, "WAL_TARGET", 64 << 10)  # (a small archive's batches: the same rule)
    monkeypatch.setattr(writer_module, "WAL_CAP", 1 << 40)
    w = Writer(conn)
    big = ("x " * 4000,) * 20

    def batch(i: int) -> float:
        t = time.perf_counter()
        w.begin()
        w.write(encode(conv(f"c{i}", texts=big), prune=True), None)
        w.commit()
        return time.perf_counter() - t

    batch(0)
    done = w.checkpoints
    reader = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM messages").fetchone()  # holds a snapshot: old frames stay needed
    slow = [batch(i) for i in range(1, 6)]
    assert max(slow) < 1.0, slow  # never waited for the reader (busy_timeout is 30 s)
    assert os.path.getsize(wal) > 64 << 10 and w.checkpoints == done
    reader.execute("COMMIT")
    batch(6)  # the reader is gone: the next batch restarts the WAL
    assert w.checkpoints == done + 1 and os.path.getsize(wal) == 0
    # past the cap, the writer waits for the reader to end (here: a reader that ends in 0.5 s)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM messages").fetchone()
    batch(7)
    monkeypatch.setattr(writer_module, "WAL_CAP", 64 << 10)
    import threading

    threading.Timer(0.5, lambda: reader.execute("COMMIT")).start()
    t = time.perf_counter()
    batch(8)
    assert time.perf_counter() - t >= 0.4 and os.path.getsize(wal) == 0
    reader.close()
