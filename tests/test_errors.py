"""Errors: every class in polylogue/errors.py with its exit code, the CLI exits
with that code and one line, a bug never shows a traceback (unless asked), and
the library reports a wait through a callback instead of printing."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from polylogue import errors
from polylogue.api import Archive
from polylogue.cli import cli

ROOT = Path(__file__).resolve().parent.parent / "polylogue"


def _error_classes() -> list[type]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]


def test_every_error_class_has_a_documented_exit_code():
    doc = (ROOT.parent / "docs" / "cli.md").read_text()
    for cls in _error_classes():
        assert issubclass(cls, errors.PolylogueError), cls
        assert cls.exit_code in (errors.FAILURE, errors.USAGE), cls
        assert f"| `{cls.exit_code}` |" in doc
    assert errors.QueryError.exit_code == 2 and errors.NotFound.exit_code == 1 and errors.SyncBusy.exit_code == 1


def test_exception_classes_live_only_in_errors_py():
    """An exception class defined anywhere else would escape the exit-code mapping."""
    ours = {c.__name__ for c in _error_classes()}
    stray = []
    for path in ROOT.rglob("*.py"):
        if path.name == "errors.py" and path.parent == ROOT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if bases & ours or any(b.endswith(("Error", "Exception")) or b == "Exception" for b in bases):
                stray.append(f"{path.relative_to(ROOT.parent)}: class {node.name}")
    assert not stray, stray


def _corrupt_home(tmp_path: Path) -> Path:
    """An archive that says it is current but has no tables: no error of ours
    describes that (a damaged file is ArchiveDamaged), so a read fails as a bug would."""
    import sqlite3

    from polylogue.store.schema import SCHEMA_VERSION

    home = tmp_path / "h"
    home.mkdir()
    conn = sqlite3.connect(home / "polylogue.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.close()
    return home


def test_an_unexpected_error_is_one_line_and_exit_1(tmp_path):
    home = _corrupt_home(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "POLYLOGUE_DEBUG"}
    r = subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), "stats"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.startswith("polylogue: internal error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_polylogue_debug_shows_the_traceback(tmp_path):
    home = _corrupt_home(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), "stats"],
        capture_output=True,
        text=True,
        env={**os.environ, "POLYLOGUE_DEBUG": "1"},
        timeout=60,
    )
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_our_errors_exit_with_their_own_code(tmp_path):
    home = str(tmp_path / "h")
    Archive(home).sync([tmp_path / "nothing"])  # reads need an archive (ArchiveMissing, exit 2)
    runner = CliRunner()
    bad_query = runner.invoke(cli, ["--home", home, "search", 'a "unclosed'])
    missing = runner.invoke(cli, ["--home", home, "show", "no-such-conversation"])
    bad_sql = runner.invoke(cli, ["--home", home, "sql", "SELEC nonsense"])
    assert bad_query.exit_code == errors.QueryError.exit_code == 2
    assert missing.exit_code == errors.NotFound.exit_code == 1 and "no conversation matches" in missing.stderr
    assert bad_sql.exit_code == errors.SqlError.exit_code == 1 and bad_sql.stderr.startswith("polylogue: SQL error")
    for r in (bad_query, missing, bad_sql):
        assert r.exception is None or isinstance(r.exception, SystemExit)


def test_a_waiting_sync_reports_through_its_callback_not_stderr(tmp_path, capfd):
    """Another process holds the sync lock: Archive.sync calls on_wait once and
    waits; the library itself writes nothing to stderr."""
    home = tmp_path / "h"
    home.mkdir()
    script = (
        "import sys, time\n"
        "from polylogue.api import Archive\n"
        f"with Archive({str(home)!r})._sync_lock(True):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(1.0)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        waits = []
        t0 = time.perf_counter()
        with Archive(home) as a:
            report = a.sync([tmp_path / "nothing-here"], on_wait=lambda: waits.append(time.perf_counter() - t0))
        assert waits and len(waits) == 1 and waits[0] < 0.9  # told before the wait, not after
        assert time.perf_counter() - t0 > 0.3  # and it did wait for the holder
        assert report.files_seen == 0
    finally:
        holder.wait(timeout=30)
    assert capfd.readouterr().err == ""


def test_a_lock_file_that_cannot_be_made_does_not_leave_the_sync_lock_held(tmp_path):
    """The first sync fails to make its lock file; the second must fail the same
    way, not find the first one's in-process lock still held (SyncBusy)."""
    from polylogue.api import Archive
    from polylogue.errors import SyncBusy

    home = tmp_path / "h"
    with Archive(home) as a:
        a.sync([])  # the archive exists
    (home / "sync.lock").unlink(missing_ok=True)
    (home / "sync.lock").mkdir()  # a folder where the lock file goes
    outcomes = []
    for _ in range(2):
        with Archive(home) as a:
            try:
                a.sync([], wait=False)
            except Exception as e:  # which error it is, is the point
                outcomes.append(type(e))
    assert len(outcomes) == 2 and SyncBusy not in outcomes, outcomes


def test_a_parse_error_is_one_line_whatever_its_library_said():
    from polylogue.errors import ParseError

    e = ParseError('invalid JSON: parse error: premature EOF\n   {"a": \x01\n   (right here) ------^\n', line=3)
    assert str(e) == "line 3: invalid JSON: parse error: premature EOF"
    assert ParseError("\n").reason == "unreadable input"
