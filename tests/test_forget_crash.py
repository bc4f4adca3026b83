"""forget killed with SIGKILL at random moments (the crash-safety harness's way,
tests/test_crash_safety.py): the archive always passes check, and each
conversation is either whole or gone, its tombstone with it."""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polylogue import Archive

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    base = tmp_path_factory.mktemp("forget-crash")
    data = base / "data"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(data), "--conversations", "300",
         "--messages", "20", "--seed", "11"],
        check=True, capture_output=True,
    )  # fmt: skip
    home = base / "home"
    Archive(home).sync([data])
    return home


def _state(home: Path) -> tuple[set[str], int]:
    conn = sqlite3.connect(f"file:{home / 'polylogue.db'}?mode=ro", uri=True)
    try:
        uids = {u for (u,) in conn.execute("SELECT uid FROM conversations")}
        dead = conn.execute("SELECT count(*) FROM forgotten").fetchone()[0]
    finally:
        conn.close()
    return uids, dead


def test_forget_killed_at_random_moments(archive, tmp_path):
    rng = random.Random(5)
    before, _ = _state(archive)
    victims = sorted(before)[:40]
    killed = 0
    for i in range(8):
        home = tmp_path / f"h{i}"
        shutil.copytree(archive, home)
        code = f"from polylogue import Archive; Archive({str(home)!r}).forget({victims!r})"
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 1.2))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
        a = Archive(home)
        assert a.check()["ok"]
        uids, dead = _state(home)
        gone = before - uids
        assert gone in (set(), set(victims)), len(gone)  # one transaction: all or nothing
        assert dead == (len(victims) if gone else 0)
        a.close()
    assert killed, "no run was killed: the harness must interrupt forget at least once"
