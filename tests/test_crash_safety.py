"""SIGKILL during sync, at random moments, 20 times: the archive always passes
`check`, nothing committed before a kill is lost, and finishing the sync gives
exactly the state of an uninterrupted run. Also: two syncs at once."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("crash") / "data"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "generate.py"),
            str(out),
            "--conversations",
            "600",
            "--messages",
            "20",
            "--seed",
            "7",
        ],
        check=True,
        capture_output=True,
    )
    return out


def sync_cmd(home: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "polylogue", "--home", str(home), "sync", str(data), "--json", *extra]


def finish(home: Path, data: Path) -> None:
    """A sync run to completion; on failure, say why."""
    r = subprocess.run(sync_cmd(home, data), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:], r.stdout[-3000:])


def state(home: Path) -> tuple[set, set]:
    conn = sqlite3.connect(f"file:{home / 'polylogue.db'}?mode=ro", uri=True)
    try:
        convs = set(conn.execute("SELECT uid, hash, message_count, title FROM conversations"))
        msgs = set(
            conn.execute("SELECT c.uid, m.mid, m.hash FROM messages m JOIN conversations c ON c.id = m.conversation_id")
        )
    finally:
        conn.close()
    return convs, msgs


def made(home: Path) -> bool:
    """Whether the archive was set up: a kill between the file's creation and its first
    migration's commit leaves a file of schema version 0, which every read takes for
    no archive yet (`check` too: exit 2, nothing on stdout), and the next sync sets up."""
    db = home / "polylogue.db"
    if not db.exists():
        return False
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0] > 0
    finally:
        conn.close()


def check(home: Path) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), "check", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["ok"], out
    return out


def test_sigkill_at_random_moments(data, tmp_path):
    ref = tmp_path / "ref"
    t0 = time.perf_counter()
    finish(ref, data)
    full = time.perf_counter() - t0
    ref_state = state(ref)
    rng = random.Random(20261126)
    kills = 0
    i = 0
    while kills < 20 and i < 40:
        i += 1
        home = tmp_path / f"h{i}"
        before: tuple[set, set] = (set(), set())
        for _ in range(2):  # two kills per home, the second landing on a partly imported archive
            proc = subprocess.Popen(sync_cmd(home, data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.1, full * 0.9))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
            if not made(home):
                continue
            check(home)
            now = state(home)
            assert before[0] <= now[0] and before[1] <= now[1], "a kill lost committed data"
            assert now[0] <= ref_state[0] and now[1] <= ref_state[1]
            before = now
        finish(home, data)
        check(home)
        assert state(home) == ref_state
    assert kills >= 20
    # no worker outlived its killed parent
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps


def test_two_syncs_at_once(data, tmp_path):
    home = tmp_path / "h"
    first = subprocess.Popen(sync_cmd(home, data), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (home / "sync.lock").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # the first now holds the lock and is importing
    assert first.poll() is None, "the first sync finished too soon to test against"
    busy = subprocess.run(sync_cmd(home, data, "--no-wait"), capture_output=True, text=True, timeout=60)
    second = subprocess.Popen(sync_cmd(home, data), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    still_running = first.poll() is None
    out1, _ = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert busy.returncode == 1 and "another polylogue sync is running" in busy.stderr
    assert first.returncode == 0 and second.returncode == 0
    r1, r2 = json.loads(out1), json.loads(out2)
    assert r1["conversations"]["new"] > 0
    if still_running:  # the second saw the first and waited for it
        assert "waiting" in err2
    assert r2["conversations"]["new"] == 0 and r2["files"]["unchanged"] == r1["files"]["seen"]
    check(home)


def test_backup_while_a_sync_runs(data, tmp_path):
    home = tmp_path / "h"
    sync = subprocess.Popen(sync_cmd(home, data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    copies = []
    deadline = time.time() + 120
    while sync.poll() is None and time.time() < deadline:
        if made(home):
            dest = tmp_path / f"copy{len(copies)}"
            dest.mkdir()
            r = subprocess.run(
                [sys.executable, "-m", "polylogue", "--home", str(home), "backup", str(dest), "--json"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert r.returncode == 0, r.stderr
            copies.append(dest)
        time.sleep(0.15)
    sync.wait(timeout=300)
    assert copies, "the sync ended before a backup could start"
    for dest in copies:
        assert (dest / "polylogue.db").stat().st_mode & 0o777 == 0o600
        check(dest)  # each copy is a consistent archive on its own
    final = tmp_path / "final"
    final.mkdir()
    subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), "backup", str(final)], check=True, capture_output=True
    )
    assert state(final) == state(home)


def test_a_killed_sync_leaves_no_lock_behind_even_if_a_child_lives_on(tmp_path):
    """Parser processes are forked while the sync lock is held; the lock is the
    sync's own (a POSIX record lock), so killing the sync frees it at once even
    when a child has not died yet."""
    from polylogue.api import Archive, SyncBusy

    home = tmp_path / "h"
    home.mkdir()
    script = (
        "import os, sys, time\n"
        "from polylogue.api import Archive\n"
        f"a = Archive({str(home)!r})\n"
        "with a._sync_lock(True):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        time.sleep(60); os._exit(0)\n"
        "    print(pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    try:
        with pytest.raises(SyncBusy):
            with Archive(home)._sync_lock(False):
                pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        os.kill(child, 0)  # the child is still alive...
        with Archive(home)._sync_lock(False):  # ...and the lock is free
            pass
    finally:
        proc.kill()
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_sigkill_while_a_growing_log_is_resumed(data, tmp_path):
    """Kills while a log that grows is parsed from its kept parser state (or
    while that state is written): every archive passes check, keeps what it
    had, and ends exactly as a fresh import of the final log."""
    sys.path.insert(0, str(REPO))
    from benchmarks.ingest import session_log

    lines = session_log(data, 400_000, "9a0b0000-0000-4000-8000-00000000000b")
    log_dir = tmp_path / "logs" / "projects" / "-src-grow"
    log_dir.mkdir(parents=True)
    log = log_dir / "9a0b0000-0000-4000-8000-00000000000b.jsonl"
    src = tmp_path / "logs"

    def write(fraction: float) -> None:
        log.write_bytes(b"".join(lines[: int(len(lines) * fraction)]))

    write(1.0)
    ref = tmp_path / "ref"
    finish(ref, src)
    ref_state = state(ref)
    rng = random.Random(7)
    kills = 0
    for k in range(5):
        home = tmp_path / f"g{k}"
        for f in (0.5, 0.6):  # the second sync sees the log grown: its state is kept
            write(f)
            finish(home, src)
        assert list((home / "parse-state").iterdir())
        before = state(home)
        for f in (0.63, 0.66, 0.7, 0.85, 1.0):
            write(f)
            time.perf_counter()
            proc = subprocess.Popen(sync_cmd(home, src), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.1, 0.6))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
            check(home)
            now = state(home)
            assert {m[:2] for m in before[1]} <= {m[:2] for m in now[1]}, "a kill lost an archived message"
            before = now
        finish(home, src)
        assert state(home) == ref_state
    assert kills >= 5


# ---------------------------------------------------------------- the indexer process (issue 27)

WORD = '"the"'


def index_view(home: Path) -> tuple[set, set, set, int]:
    """(the rowids the index finds for WORD, those of the archive's messages that hold it,
    the messages the log says are not indexed yet, the log entries left), from one
    snapshot of each file (the index's first), as every reader takes them."""
    from polylogue.store import codec
    from polylogue.store.db import open_reader, pair_snapshot
    from polylogue.store.encode import fts_values

    conn = open_reader(home / "polylogue.db")
    mem = sqlite3.connect(":memory:")
    try:
        w = pair_snapshot(conn)
        assert w is not None, "the index has no watermark"
        hits = {r for (r,) in conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (WORD,))}
        pending: set[int] = set()
        lag = 0
        for lo, n in conn.execute("SELECT lo, n FROM index_log WHERE seq > ?", (w,)):
            lag += 1
            assert n != 0, "a fresh import deletes no message"
            pending.update(range(lo, lo + max(n, 0)))  # (n = -1: a title)
        # the truth: the archive's messages indexed afresh, by the same index text
        mem.execute(
            "CREATE VIRTUAL TABLE t USING fts5(text, thinking, tool_use, tool_result, "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        for rid, blob in conn.execute("SELECT id, content FROM messages"):
            mem.execute("INSERT INTO t(rowid, text, thinking, tool_use, tool_result) VALUES (?,?,?,?,?)",
                        (rid, *fts_values(codec.decode_blocks(blob))))  # fmt: skip
        truth = {r for (r,) in mem.execute("SELECT rowid FROM t WHERE t MATCH ?", (WORD,))}
    finally:
        conn.close()
        mem.close()
    return hits, truth, pending, lag


def indexer_of(proc: subprocess.Popen):
    """The sync's indexer process (it names itself), or None."""
    import psutil

    try:
        for c in psutil.Process(proc.pid).children():
            if c.name() == "polylogue-index":
                return c
    except psutil.NoSuchProcess:
        pass
    return None


def test_sigkill_the_indexer_at_random_moments(data, tmp_path):
    """The indexer process killed at random moments of a sync (and, one run in
    three, the sync itself right after): nothing archived is lost, every archive
    passes check, search finds exactly what is indexed (the archive's messages
    but those the log has still to index), and the next sync catches up: search
    then finds everything, as an uninterrupted import does."""
    from polylogue import Archive

    ref = tmp_path / "ref"
    t0 = time.perf_counter()
    finish(ref, data)
    full = time.perf_counter() - t0
    ref_state = state(ref)
    rng = random.Random(20261207)
    killed_indexer = killed_both = 0
    i = 0
    while (killed_indexer < 6 or killed_both < 1) and i < 16:  # a sync may end before its kill: another home
        i += 1
        home = tmp_path / f"x{i}"
        proc = subprocess.Popen(sync_cmd(home, data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        both = killed_both < 1 and i % 3 == 0
        idx = None
        began = time.perf_counter()
        while proc.poll() is None and idx is None:
            idx = indexer_of(proc)
            time.sleep(0.01)
        if idx is not None:  # a moment of the indexer's life: from its start to about the sync's end
            time.sleep(rng.uniform(0.0, max(0.2, 0.8 * (full - (time.perf_counter() - began)))))
            if proc.poll() is None and idx.is_running():
                idx.send_signal(signal.SIGKILL)
                killed_indexer += 1
                if both:
                    time.sleep(rng.uniform(0.0, 0.5))
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                        killed_both += 1
        rc = proc.wait(timeout=300)
        check(home)
        now = state(home)
        assert now[0] <= ref_state[0] and now[1] <= ref_state[1]
        hits, truth, pending, lag = index_view(home)
        assert hits == truth - pending, "search must find exactly what is indexed"
        if rc == 0:  # the indexer died alone: the sync's last catch-up did its work
            assert now == ref_state and not pending and hits == truth
        a = Archive(home)
        res = a.search(WORD.strip('"'), cache=False, within="message", forms=False)
        assert res.total_messages == len(hits)
        a.close()
        finish(home, data)  # the next sync catches the index up
        out = check(home)
        assert out["index_lag"] == 0
        assert state(home) == ref_state
        hits, truth, pending, lag = index_view(home)
        assert hits == truth and not pending and lag == 0
    assert killed_indexer >= 6 and killed_both >= 1
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps
