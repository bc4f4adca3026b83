"""A sync and concurrent searches at small scale: no errors, and every result
refers to a conversation that exists."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from polylogue.api import Archive

REPO = Path(__file__).resolve().parent.parent


def test_searches_during_a_sync(tmp_path):
    data = tmp_path / "data"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "generate.py"),
            str(data),
            "--conversations",
            "400",
            "--messages",
            "20",
            "--seed",
            "3",
        ],
        check=True,
        capture_output=True,
    )
    home = tmp_path / "home"
    Archive(home).sync([tmp_path / "nothing"])  # create the archive so readers can open it at once (reads never do)
    sync = subprocess.Popen(
        [sys.executable, "-m", "polylogue", "--home", str(home), "sync", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    errors: list[str] = []
    seen: list[int] = []
    words = ["the", "and", "error", "build", "cache", "test*"]

    def reader(i: int) -> None:
        a = Archive(home, readers=2)
        n = 0
        while sync.poll() is None:
            try:
                res = a.search(words[n % len(words)], limit=10, cache=False)
                for c in res.conversations:
                    a.resolve(c["id"])  # exists, right now
                    assert c["hits"]
                n += 1
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
        seen.append(n)
        a.close()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sync.wait() == 0, sync.stderr.read()
    assert errors == []
    assert all(n > 0 for n in seen)  # no reader starved
    assert Archive(home).check()["ok"]
