"""Huge ChatGPT conversation trees (issue 18, item 14): a conversation whose JSON
passes chatgpt.HUGE_VALUE_BYTES is read again and streamed node by node
(providers/chatgpt_tree.py), converted a chunk at a time, and stored in parts
in one transaction of its own (store/writer.py ``write_part``).

The streamed path must give exactly what the fast path gives: here on generated
trees (branches, missing parents, loops, nodes without messages, hidden system
nodes, tool calls, malformed nodes, repeated keys), then through a real sync
(new, updated, pruned, partial), and a conversation in parts is stored whole or
not at all. The thresholds are lowered so that small inputs take that path."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import ingest
from polylogue.models import Conversation
from polylogue.providers import chatgpt, chatgpt_tree, open_clean
from polylogue.providers.common import ParseContext
from polylogue.sources import InputFile
from polylogue.store import codec
from polylogue.store.db import load_dictionaries, open_writer
from polylogue.store.encode import encode, encode_parts
from polylogue.store.writer import Writer


@contextlib.contextmanager
def streamed(value_bytes: int = 0, compact_after: int = 0, chunk: int | None = None):
    """Every value over ``value_bytes`` streamed; every mapping over ``compact_after`` nodes a Tree."""
    saved = chatgpt.HUGE_VALUE_BYTES, chatgpt_tree.COMPACT_AFTER, chatgpt_tree.CHUNK_MESSAGES
    chatgpt.HUGE_VALUE_BYTES, chatgpt_tree.COMPACT_AFTER = value_bytes, compact_after
    if chunk is not None:
        chatgpt_tree.CHUNK_MESSAGES = chunk
    try:
        yield
    finally:
        chatgpt.HUGE_VALUE_BYTES, chatgpt_tree.COMPACT_AFTER, chatgpt_tree.CHUNK_MESSAGES = saved


def parse(data: bytes, reopen: bool) -> tuple[list[Conversation], list[str], int]:
    """The conversations (streamed ones with their chunks read, as plain Conversations),
    the warnings, and how many came streamed."""
    ctx = ParseContext("conversations.json")
    _, stream = open_clean(io.BytesIO(data), ctx)
    if reopen:
        ctx.reopen = lambda: open_clean(io.BytesIO(data), ctx)[1]
    out, n_streamed = [], 0
    for conv in chatgpt.parse(stream, ctx):
        if isinstance(conv, chatgpt_tree.StreamedConversation):
            n_streamed += 1
            assert conv.message_chunks is not None
            messages = [m for chunk in conv.message_chunks for m in chunk]
            conv = Conversation(**{f.name: getattr(conv, f.name) for f in dataclasses.fields(Conversation)})
            conv.messages = messages
        out.append(conv)
    return out, [str(w) for w in ctx.warnings], n_streamed


def both(data: bytes, **thresholds) -> tuple[tuple, tuple, int]:
    plain = parse(data, reopen=False)[:2]
    with streamed(**thresholds):
        *got, n = parse(data, reopen=True)
    return plain, tuple(got), n


# ---------------------------------------------------------------- generated trees

KEYS = [f"n{i}" for i in range(12)]


@st.composite
def message(draw, key: str, parent: str | None) -> dict | str:
    kind = draw(st.sampled_from(["user", "assistant", "call", "result", "hidden", "system", "odd", "bad"]))
    if kind == "bad":
        return draw(st.sampled_from(["not a message", 7]))
    role = {"call": "assistant", "result": "tool", "hidden": "system", "odd": draw(st.sampled_from(["developer", "x"]))}
    msg: dict = {"id": draw(st.sampled_from([key, f"m-{key}"])), "author": {"role": role.get(kind, kind)}}
    text = draw(st.sampled_from(["hello quokka", "", "see sandbox:/mnt/data/a.png", "x" * 50]))
    if kind == "call":
        msg["recipient"] = "python"
        msg["content"] = {"content_type": "code", "language": "python", "text": text}
    elif kind == "result":
        msg["content"] = {"content_type": "execution_output", "text": text}
        msg["metadata"] = {"aggregate_result": {"status": draw(st.sampled_from(["success", "failed"]))}}
    elif kind == "hidden":
        msg["content"] = {"content_type": "text", "parts": [""]}
        msg["metadata"] = {"is_visually_hidden_from_conversation": True}
    else:
        msg["content"] = {"content_type": "text", "parts": [text]}
    md = msg.setdefault("metadata", {})
    if draw(st.booleans()):
        md["parent_id"] = draw(st.sampled_from([parent, "ghost", key]))
    if draw(st.booleans()):
        md["model_slug"] = draw(st.sampled_from(["gpt-4o", "o3"]))
    msg["create_time"] = draw(st.one_of(st.none(), st.floats(1.6e9, 1.8e9), st.just("soon"), st.just(2**62)))
    if kind == "odd" and draw(st.booleans()):
        msg["content"] = {"content_type": "mystery", "big": -(2**63) + 1, "f": 1e300}  # kept opaque
    return msg


@st.composite
def conversation(draw) -> bytes:
    """One conversation as JSON text (so a mapping key may repeat, as a file's can)."""
    n = draw(st.integers(0, 12))
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=n, max_size=n))
    pairs = []
    for key in keys:
        if draw(st.integers(0, 15)) == 0:
            pairs.append((key, draw(st.sampled_from([None, [1, 2], "node"]))))  # malformed node
            continue
        parent = draw(st.sampled_from([None, "ghost", key, *keys])) if keys else None
        children = draw(st.lists(st.sampled_from([*KEYS, "ghost"]), max_size=4))
        node = {"id": key, "parent": parent, "children": children}
        node["message"] = None if draw(st.integers(0, 4)) == 0 else draw(message(key, parent))
        pairs.append((key, node))
    head = {"title": draw(st.sampled_from(["t", "", None]))}
    if draw(st.booleans()):
        head["id"] = "c-" + draw(st.sampled_from(["a", "b"]))
    if draw(st.booleans()):
        head["default_model_slug"] = "gpt-4o"
    tail = {"current_node": draw(st.sampled_from([None, "ghost", *KEYS])), "update_time": 1.7e9}
    mapping = b"{" + b",".join(orjson.dumps(k) + b":" + json.dumps(v).encode() for k, v in pairs) + b"}"
    return orjson.dumps(head)[:-1] + b',"mapping":' + mapping + b"," + orjson.dumps(tail)[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(convs=st.lists(conversation(), min_size=1, max_size=3))
def test_streamed_trees_parse_as_the_fast_path_does(convs):
    data = b"[" + b",".join(convs) + b"]"
    plain, got, _ = both(data)
    assert got == plain


@settings(max_examples=100, deadline=None)
@given(conv=conversation(), envelope=st.booleans())
def test_a_streamed_single_conversation_file_parses_as_the_fast_path_does(conv, envelope):
    data = b'{"capture_id": "x", "raw_provider_payload": ' + conv + b"}" if envelope else conv
    try:
        plain = parse(data, reopen=False)[:2]
    except Exception as e:  # a single object without a mapping or id is no conversation
        with streamed(), pytest.raises(type(e)):
            parse(data, reopen=True)
        return
    with streamed():
        *got, _ = parse(data, reopen=True)
    assert tuple(got) == plain


def chain(n: int, cid: str = "huge", text: str = "quokka fjord", every: int = 50) -> dict:
    """A chain of ``n`` nodes under an empty root, a regenerated branch every ``every``."""
    mapping = {"root": {"id": "root", "parent": None, "children": ["n1"], "message": None}}
    for i in range(1, n):
        parent = "root" if i == 1 else f"n{i - 1 if i % every else i - 2}"
        role = "user" if i % 2 else "assistant"
        mapping[f"n{i}"] = {
            "id": f"n{i}",
            "parent": parent,
            "children": [f"n{i + 1}"] if i + 1 < n else [],
            "message": {
                "id": f"n{i}",
                "author": {"role": role},
                "create_time": 1.7e9 + i,
                "content": {"content_type": "text", "parts": [f"{text} {i}"]},
                "metadata": {"model_slug": "gpt-4o", "parent_id": parent} if role == "assistant" else {},
            },
        }
    return {"id": cid, "title": None, "update_time": 1.7e9 + n, "current_node": f"n{n - 1}", "mapping": mapping}


def small(cid: str) -> dict:
    return chain(4, cid, text=f"small {cid}")


def test_a_huge_conversation_amid_small_ones():
    """The first pass hands over the conversations before the huge one; the second
    skips them, streams the huge one, and reads those after it node by node but
    builds them as dicts (under COMPACT_AFTER nodes): all as the fast path gives."""
    convs = [small("a"), small("b"), chain(3000), small("c"), chain(2500, "big2"), small("d")]
    data = orjson.dumps(convs)
    plain, got, n_streamed = both(data, value_bytes=200 << 10, compact_after=2000, chunk=700)
    assert got == plain and n_streamed == 2
    assert [c.provider_id for c in plain[0]] == ["a", "b", "huge", "c", "big2", "d"]
    assert len(plain[0][2].messages) == 2999 and plain[0][2].title is None


def test_values_under_the_threshold_are_never_read_twice():
    data = orjson.dumps([chain(300, "x"), small("y")])
    reopened = []
    ctx = ParseContext("conversations.json")
    _, stream = open_clean(io.BytesIO(data), ctx)
    ctx.reopen = lambda: reopened.append(1) or open_clean(io.BytesIO(data), ctx)[1]
    assert [len(c.messages) for c in chatgpt.parse(stream, ctx)] == [299, 3] and not reopened


def test_a_streamed_file_cut_short_keeps_what_came_before():
    data = orjson.dumps([small("a"), chain(3000), small("c")])
    cut = data[: len(data) * 2 // 3]
    plain, got, _ = both(cut, value_bytes=100 << 10, compact_after=2000)
    assert got == plain
    assert [c.provider_id for c in plain[0]] == ["a"] and "stopped after conversation 0: invalid JSON" in plain[1][0]


# ---------------------------------------------------------------- encoding in parts


def test_parts_encode_to_the_rows_and_hash_of_one_row():
    data = orjson.dumps([chain(2600)])
    whole = encode(parse(data, reopen=False)[0][0])
    with streamed(compact_after=2000, chunk=1000):
        ctx = ParseContext("conversations.json")
        _, stream = open_clean(io.BytesIO(data), ctx)
        ctx.reopen = lambda: open_clean(io.BytesIO(data), ctx)[1]
        conv = next(chatgpt.parse(stream, ctx))
        assert conv.message_chunks is not None
        parts = list(encode_parts(conv, conv.message_chunks, lambda: True))
    assert [len(p.messages) for p in parts] == [1000, 1000, 599, 0] and [p.more for p in parts] == [1, 1, 1, 0]
    last = parts[-1]
    assert [r for p in parts for r in p.messages] == whole.messages
    for f in dataclasses.fields(whole):
        if f.name not in ("messages", "nbytes", "more"):
            assert getattr(last, f.name) == getattr(whole, f.name), f.name
    assert sum(p.nbytes for p in parts) == whole.nbytes


# ---------------------------------------------------------------- a real sync


def stored(db: Path) -> dict:
    """What the archive holds, decoded (compression dictionaries may differ)."""
    conn = sqlite3.connect(db)
    conn.execute("ATTACH DATABASE ? AS idx", (str(db.parent / "index.db"),))
    load_dictionaries(conn)
    try:

        def dec(v):
            return codec.decode_json(v) if isinstance(v, bytes) else v

        return {
            "messages": [
                tuple(dec(v) for v in r)
                for r in conn.execute(
                    "SELECT id, seq, mid, parent_mid, role, timestamp, flags, model, usage, meta, content, hash"
                    " FROM messages ORDER BY id"
                )
            ],
            "conversations": [
                tuple(dec(v) for v in r)
                for r in conn.execute(
                    "SELECT id, uid, title, created_at, updated_at, source_id, models, meta, message_count, features,"
                    " input_tokens, output_tokens, hash, next_message, first_ts, last_ts FROM conversations ORDER BY id"
                )
            ],
            "titles": conn.execute("SELECT rowid, title FROM titles_fts ORDER BY rowid").fetchall(),
            "totals": conn.execute("SELECT * FROM provider_totals").fetchall(),
            "hits": conn.execute(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'fjord' ORDER BY rowid"
            ).fetchall(),
            "sources": conn.execute("SELECT path, status, conversations FROM sources").fetchall(),
        }
    finally:
        conn.close()


def sync_both(tmp_path: Path, src: Path, steps, workers: int | None = 0) -> list[tuple[dict, dict]]:
    """Each step (a function writing ``src``, then a sync) on two archives: the fast
    path, and every mapping over 1000 nodes streamed. Returns each step's reports."""
    reports = []
    for step in steps:
        step(src)
        with streamed(value_bytes=64 << 10, compact_after=1000):
            st_ = src.stat()
            items = ingest.parse_input(InputFile(src, st_.st_size, st_.st_mtime_ns, True))
            assert sum(1 for item in items if getattr(item, "more", False)) >= 2  # it does come in parts
        out = []
        for name, thresholds in (("plain", None), ("streamed", {"value_bytes": 64 << 10, "compact_after": 1000})):
            db = tmp_path / name / "polylogue.db"
            db.parent.mkdir(exist_ok=True)
            with streamed(**thresholds) if thresholds else contextlib.nullcontext():
                out.append(ingest.sync(db, [src], workers=workers, force=True).to_json())
        reports.append(tuple(out))
        plain, got = stored(tmp_path / "plain" / "polylogue.db"), stored(tmp_path / "streamed" / "polylogue.db")
        assert got == plain
    return reports


def write(convs: list[dict]):
    return lambda src: src.write_bytes(orjson.dumps(convs))


def test_a_huge_conversation_syncs_as_the_fast_path_stores_it(tmp_path):
    """New, then updated (messages changed, added, removed: pruned), then re-read
    with a warning (removed messages kept), then unchanged: the archive after
    each sync is the same whichever path read the file."""
    src = tmp_path / "conversations.json"
    first = [small("a"), chain(3000), small("b")]
    changed = chain(3000, text="quokka fjord edited")
    del changed["mapping"]["n2999"]
    changed["current_node"] = "n2998"
    changed["mapping"]["n2998"]["children"] = []
    broken = json.loads(json.dumps(changed))
    broken["mapping"]["n5"]["message"]["content"] = {"content_type": "code", "text": 5}  # converts raw, warns
    del broken["mapping"]["n2998"]
    broken["current_node"] = "n2997"
    steps = [write(first), write([small("a"), changed, small("b")]), write([broken]), write([broken])]
    reports = sync_both(tmp_path, src, steps)
    assert reports[0][1]["messages"] == {"new": 3005, "updated": 0}
    assert reports[1][1]["conversations"] == reports[1][0]["conversations"] == {"new": 0, "updated": 1, "unchanged": 2}
    assert reports[1][1]["messages"] == reports[1][0]["messages"]
    assert reports[2][1]["conversations"]["updated"] == 1 and reports[2][1]["errors"] == reports[2][0]["errors"]
    assert reports[3][1]["conversations"] == reports[3][0]["conversations"]


def test_a_huge_conversation_through_worker_processes(tmp_path):
    """Several files in parallel: a worker's conversation in parts reaches the
    writer uninterrupted (the other workers wait), and every file is stored."""
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    for i in range(4):
        (src_dir / f"c{i}.json").write_bytes(orjson.dumps([small(f"s{i}"), chain(2500, f"huge{i}"), small(f"t{i}")]))
    db = tmp_path / "h" / "polylogue.db"
    db.parent.mkdir()
    saved = ingest.PARALLEL_MIN_BYTES
    ingest.PARALLEL_MIN_BYTES = 0
    try:
        with streamed(value_bytes=64 << 10, compact_after=1000, chunk=300):
            report = ingest.sync(db, [src_dir], workers=2)
    finally:
        ingest.PARALLEL_MIN_BYTES = saved
    assert report.errors == [] and report.conversations_new == 12
    assert report.messages_new == 4 * (2499 + 6)
    conn = sqlite3.connect(db)
    counts = dict(conn.execute("SELECT uid, message_count FROM conversations"))
    assert all(counts[f"chatgpt:huge{i}"] == 2499 for i in range(4))
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 4 * (2499 + 6)


# ---------------------------------------------------------------- whole or not at all


def parts_of(conv_dict: dict, chunk: int = 500):
    data = orjson.dumps([conv_dict])
    with streamed(compact_after=100, chunk=chunk):
        ctx = ParseContext("big.json")
        _, stream = open_clean(io.BytesIO(data), ctx)
        ctx.reopen = lambda: open_clean(io.BytesIO(data), ctx)[1]
        conv = next(chatgpt.parse(stream, ctx))
        conv.source_path = "big.json"
        return list(encode_parts(conv, conv.message_chunks, lambda: True))


def test_a_part_that_fails_leaves_no_trace_and_the_rest_is_stored(tmp_path):
    db = tmp_path / "polylogue.db"
    conn = open_writer(db)
    w = Writer(conn)
    before = encode(parse(orjson.dumps([small("before")]), reopen=False)[0][0])
    after = encode(parse(orjson.dumps([small("after")]), reopen=False)[0][0])
    parts = parts_of(chain(1600))
    bad = parts[1].messages[7]
    parts[1].messages[7] = bad._replace(role=object())  # SQLite cannot store this: the write raises
    sid = w.source_id("big.json")
    w.write(before, sid)
    with pytest.raises(sqlite3.Error):
        for p in parts:
            w.write_part(p, sid)
    assert w.parts_open == "chatgpt:huge"  # its remaining parts are ignored
    assert [w.write_part(p, sid) for p in parts[2:]] == [None] * (len(parts) - 2) and w.parts_open is None
    w.write(after, sid)
    w.commit()
    uids = [r[0] for r in conn.execute("SELECT uid FROM conversations ORDER BY id")]
    assert uids == ["chatgpt:before", "chatgpt:after"]
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 6
    assert w.stats.conversations_new == 2 and w.stats.messages_new == 6
    conn.close()


def test_a_conversation_whose_parts_stop_is_not_stored(tmp_path):
    """Its parse failed half-way: the file's outcome arrives instead of the last part."""
    db = tmp_path / "polylogue.db"
    conn = open_writer(db)
    parts = parts_of(chain(1600))
    outcome = ingest.FileOutcome(
        "big.json", "chatgpt", "partial", [("big.json", "truncated", None)], 1, [], None, 0, 1, 1, False
    )
    report = ingest.SyncReport()
    ingest._write_all(conn, iter([*parts[:2], outcome]), 0, report, ingest.Progress())
    assert conn.execute("SELECT count(*) FROM conversations").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    status, problems = conn.execute("SELECT status, error FROM sources").fetchone()
    assert status == "failed" and "chatgpt:huge: its parse stopped before its end" in problems
    conn.close()


# ---------------------------------------------------------------- a killed sync


_SYNC = (
    "from polylogue import ingest\n"
    "from polylogue.providers import chatgpt\n"
    "ingest.PARALLEL_MIN_BYTES, chatgpt.HUGE_VALUE_BYTES = 0, 256 << 10\n"
    "from polylogue.cli import cli\n"
    "cli(prog_name='polylogue')\n"
)


def _whole_or_absent(db: Path) -> dict[str, int]:
    """Each stored conversation with its messages, all of them: {uid: message count}."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT c.uid, c.message_count, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"
            " FROM conversations c"
        ).fetchall()
    finally:
        conn.close()
    assert all(declared == held for _, declared, held in rows), rows
    return {uid: n for uid, n, _ in rows}


@pytest.mark.slow
def test_a_sync_killed_while_a_conversation_comes_in_parts(tmp_path):
    """SIGKILL at random moments of a sync whose huge conversation is written in
    parts (a transaction of its own): the archive holds it whole or not at all,
    passes `check`, and the next sync completes it."""
    src = tmp_path / "conversations.json"
    src.write_bytes(orjson.dumps([small("a"), chain(20000), small("b")]))
    want = {"chatgpt:a": 3, "chatgpt:huge": 19999, "chatgpt:b": 3}

    def cmd(home: Path) -> list[str]:
        return [sys.executable, "-c", _SYNC, "--home", str(home), "sync", "--json", str(src)]

    def stored_uids(db: Path) -> set[str]:
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                return {uid for (uid,) in conn.execute("SELECT uid FROM conversations")}
            finally:
                conn.close()
        except sqlite3.Error:
            return set()  # not created yet

    def watch(proc: subprocess.Popen, db: Path, uid: str) -> float:
        """Seconds until ``uid`` is stored (or the sync ends)."""
        start, deadline = time.monotonic(), time.monotonic() + 120
        while uid not in stored_uids(db) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return time.monotonic() - start

    # One whole sync first, to time the window between the batch before the huge
    # conversation (``a``) and the huge one's commit on this machine: the kills then
    # land across that window whatever the machine's speed (a fixed delay missed it
    # on a faster machine).
    timing = tmp_path / "timing"
    proc = subprocess.Popen(cmd(timing), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watch(proc, timing / "polylogue.db", "chatgpt:a")
    window = watch(proc, timing / "polylogue.db", "chatgpt:huge")
    assert proc.wait(timeout=300) == 0
    assert _whole_or_absent(timing / "polylogue.db") == want

    rng = random.Random(18)
    stages = set()
    kills = 5
    for i in range(kills):
        home = tmp_path / f"h{i}"
        proc = subprocess.Popen(cmd(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        watch(proc, home / "polylogue.db", "chatgpt:a")
        time.sleep(window * (i + rng.random()) / kills)  # one kill in each fifth of the window
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        held = _whole_or_absent(home / "polylogue.db")
        assert "chatgpt:a" in held and all(want[uid] == n for uid, n in held.items())
        stages.add(tuple(sorted(held)))
        r = subprocess.run(
            [sys.executable, "-m", "polylogue", "--home", str(home), "check", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0 and json.loads(r.stdout)["ok"], r.stdout[-2000:]
        subprocess.run(cmd(home), check=True, capture_output=True, timeout=300)
        assert _whole_or_absent(home / "polylogue.db") == want
    assert ("chatgpt:a",) in stages  # at least one kill landed while the parts were being written
