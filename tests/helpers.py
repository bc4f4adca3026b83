"""What several test modules need: the CLI in a fresh process, the archive of
the shipped examples, the version-1 archive fixture, and installing a missing
Debian package (PostgreSQL, Chromium) when running as root."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE_V1 = Path(__file__).resolve().parent / "fixtures" / "archive-v1.sql"
INSTALL_TIMEOUT = 900  # seconds for each apt-get step


def root_with_apt() -> bool:
    """Whether missing Debian packages can be installed here: root, with apt-get."""
    return bool(hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"))


def apt_install(*packages: str) -> list[str]:
    """`apt-get update`, then `apt-get install -y PACKAGES` (the caller checks
    root_with_apt first); the problems met, if any."""
    notes: list[str] = []
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env)
            if r.returncode:
                notes.append(f"`{' '.join(cmd)}` failed: {(r.stderr or r.stdout).strip()[-300:]}")
                break
    except (OSError, subprocess.TimeoutExpired) as e:
        notes.append(f"apt-get failed: {e}")
    return notes


def run_cli(home: Path, *args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """`python -m polylogue --home HOME ARGS...` in a fresh process, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def sync_examples(home: Path) -> Path:
    """A current archive of the shipped examples at ``home``."""
    from polylogue.api import Archive

    with Archive(home) as a:
        assert not a.sync([REPO / "examples"]).errors
    return home


def load_v1_archive(home: Path) -> Path:
    """An archive written by schema-version-1 code (tests/fixtures/archive-v1.sql) in ``home``."""
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / "polylogue.db")
    conn.executescript(FIXTURE_V1.read_text())
    conn.close()
    return home


def generated_world(tmp: Path, conversations: int, seed: int, chars: int) -> Path:
    """A small world from benchmarks/generate.py (12 messages a conversation) in ``tmp``."""
    data = tmp / f"world{seed}"
    cmd = [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(data), "--conversations", str(conversations),
           "--messages", "12", "--chars", str(chars), "--seed", str(seed)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return data
