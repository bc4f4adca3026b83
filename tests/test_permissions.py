"""Every folder Polylogue creates is 0700 and every file 0600, whatever the
umask (issue 18, item 19): the archive, backups, exports and parse states hold
private conversations. The CLI runs in a subprocess under umask 000."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import orjson

from polylogue.paths import open_private, private_dirs

REPO = Path(__file__).resolve().parent.parent


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0),
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def session_log(path: Path, turns: range) -> None:
    """Claude Code lines, appended: past 64 KB and written now, so a sync keeps its parse state."""
    with open(path, "ab") as f:
        for i in turns:
            user = {
                "type": "user",
                "uuid": f"u{i}",
                "parentUuid": f"a{i - 1}" if i else None,
                "sessionId": "s-perm",
                "timestamp": f"2025-03-01T10:{i // 60 % 60:02}:{i % 60:02}Z",
                "cwd": "/tmp/p",
                "message": {"role": "user", "content": f"question {i} " + "about permissions " * 12},
            }
            reply = {
                "type": "assistant",
                "uuid": f"a{i}",
                "parentUuid": f"u{i}",
                "sessionId": "s-perm",
                "timestamp": f"2025-03-01T10:{i // 60 % 60:02}:{i % 60:02}Z",
                "cwd": "/tmp/p",
                "message": {
                    "id": f"m{i}",
                    "role": "assistant",
                    "model": "claude-x",
                    "content": [{"type": "text", "text": "noted " * 20}],
                },
            }
            f.write(orjson.dumps(user) + b"\n" + orjson.dumps(reply) + b"\n")


def modes(*roots: Path) -> dict[str, str]:
    """Every path under each root (and the root itself) whose mode is not private."""
    bad = {}
    for root in roots:
        paths = [root, *root.rglob("*")]
        for p in paths:
            mode = stat.S_IMODE(p.lstat().st_mode)
            want = 0o700 if p.is_dir() else 0o600
            if mode != want:
                bad[str(p)] = oct(mode)
    return bad


def test_everything_created_is_private_under_umask_000(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "session.jsonl"
    session_log(log, range(150))
    home = tmp_path / "h1" / "h2" / "home"  # its parents are created too

    run(home, "sync", str(logs))
    session_log(log, range(150, 200))  # the session goes on: the next sync resumes from the kept state
    run(home, "sync", str(logs))
    states = home / "parse-state"
    assert any(p.suffix == ".state" for p in states.iterdir())
    assert (states / ".tidied").exists()

    run(home, "backup", str(tmp_path / "b1" / "b2" / "copy.db"))
    run(home, "export", "--format", "markdown", "--out", str(tmp_path / "e1" / "e2" / "out"))
    assert any((tmp_path / "e1" / "e2" / "out").rglob("*.md"))

    assert modes(tmp_path / "h1", tmp_path / "b1", tmp_path / "e1") == {}


def test_the_helpers_ignore_the_umask(tmp_path):
    old = os.umask(0o277)  # even a umask that takes the owner's own write bit
    try:
        folder = private_dirs(tmp_path / "x" / "y")
        os.close(open_private(folder / "f"))
    finally:
        os.umask(old)
    assert modes(tmp_path / "x") == {}
    existing = tmp_path / "mine"
    existing.write_bytes(b"")
    existing.chmod(0o644)
    os.close(open_private(existing))  # a file it did not create keeps its mode
    assert stat.S_IMODE(existing.stat().st_mode) == 0o644
