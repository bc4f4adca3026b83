"""What several test modules need: the CLI in a fresh process, the archive of
the shipped examples, and the version-1 archive fixture."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE_V1 = Path(__file__).resolve().parent / "fixtures" / "archive-v1.sql"


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
