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
            if not (home / "polylogue.db").exists():
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
        if (home / "polylogue.db").exists():
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
