"""Read commands never create, migrate or write anything, anywhere (docs/cli.md,
"Exit codes"). A mistyped --home is an error naming the path, and leaves no
folder behind; an archive made by an older polylogue is left as it is, with
"run `polylogue sync` to upgrade"; `sql` cannot create files with ATTACH or
VACUUM INTO. Only sync (and backup's destination, check --vacuum, export's
output folder) write. Each subprocess is bounded by a timeout."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from pathlib import Path

import anyio
import pytest
from helpers import load_v1_archive, run_cli, sync_examples

from polylogue.api import Archive
from polylogue.store.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parent.parent
FIXTURE_V1 = Path(__file__).resolve().parent / "fixtures" / "archive-v1.sql"
TIMEOUT = 60


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(home, *args, timeout=TIMEOUT)


def one_error_line(r: subprocess.CompletedProcess) -> str:
    """The whole of stderr, which must be exactly one `polylogue: ...` line."""
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("polylogue: "), r.stderr
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Path:
    """A current archive of the shipped examples."""
    return sync_examples(tmp_path_factory.mktemp("ro") / "archive")


_v1_archive = load_v1_archive


def _user_version(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


READS = [
    ["stats"],
    ["search", "oauth"],
    ["list"],
    ["show", "claude-code:abc"],
    ["sql", "SELECT 1"],
    ["check"],
]


@pytest.mark.parametrize("args", READS + [["backup", "BACKUP"], ["export", "--out", "OUT"]], ids=lambda a: a[0])
def test_a_mistyped_home_is_an_error_and_creates_nothing(tmp_path, args):
    home = tmp_path / "typo" / "deeper" / "archive"
    args = [str(tmp_path / a) if a in ("BACKUP", "OUT") else a for a in args]
    r = run(home, *args)
    line = one_error_line(r)
    assert r.returncode == 2, r.stderr
    assert line == f"polylogue: no archive at {home} yet: run `polylogue sync` to make one (or pass the right --home)"
    assert not (tmp_path / "typo").exists()
    assert not (tmp_path / "BACKUP").exists() and not (tmp_path / "OUT").exists()


@pytest.mark.parametrize("args", READS + [["export", "--out", "OUT"]], ids=lambda a: a[0])
def test_reads_leave_an_old_archive_unmigrated(tmp_path, args):
    home = _v1_archive(tmp_path / "v1")
    db = home / "polylogue.db"
    before = _digest(db)
    args = [str(tmp_path / a) if a == "OUT" else a for a in args]
    r = run(home, *args)
    line = one_error_line(r)
    assert r.returncode == 2
    assert "has schema v1" in line and line.endswith("run `polylogue sync` to upgrade it"), line
    assert _user_version(db) == 1 and _digest(db) == before
    assert not (tmp_path / "OUT").exists()


def test_sync_upgrades_what_reads_left_alone(tmp_path):
    home = _v1_archive(tmp_path / "v1")
    assert run(home, "stats").returncode == 2
    r = run(home, "sync", str(tmp_path / "nothing-here"))
    assert r.returncode in (0, 1), r.stderr  # nothing to import; the archive itself is upgraded
    assert _user_version(home / "polylogue.db") == SCHEMA_VERSION
    assert run(home, "stats").returncode == 0


def test_backup_copies_an_old_archive_as_it_is(tmp_path):
    """A backup before upgrading is what a careful user does: it neither refuses nor migrates."""
    home = _v1_archive(tmp_path / "v1")
    before = _digest(home / "polylogue.db")
    r = run(home, "backup", str(tmp_path / "copy.db"))
    assert r.returncode == 0, r.stderr
    assert _user_version(tmp_path / "copy.db") == 1 and _user_version(home / "polylogue.db") == 1
    assert _digest(home / "polylogue.db") == before


def test_the_mcp_server_does_not_migrate_an_old_archive(tmp_path):
    from test_mcp import Session
    from test_mcp import run as run_mcp

    home = _v1_archive(tmp_path / "v1")
    before = _digest(home / "polylogue.db")
    seen = []

    async def body(s: Session):
        for tool, args in (("stats", {}), ("search", {"query": "oauth"}), ("list_conversations", {})):
            with anyio.fail_after(20):
                seen.append(await s.error(tool, **args))

    run_mcp(home, body)
    assert len(seen) == 3 and all("run `polylogue sync` to upgrade it" in e for e in seen), seen
    assert _user_version(home / "polylogue.db") == 1 and _digest(home / "polylogue.db") == before


def test_the_library_reads_never_create_the_home(tmp_path):
    from polylogue.errors import ArchiveMissing

    home = tmp_path / "nowhere"
    a = Archive(home)
    for read in (a.stats, lambda: a.search("x"), a.list, lambda: a.sql("SELECT 1"), a.check):
        with pytest.raises(ArchiveMissing) as e:
            read()
        assert e.value.exit_code == 2 and str(home) in str(e.value)
    assert not home.exists()


@pytest.mark.parametrize(
    "statement",
    [
        "ATTACH '{target}' AS a",
        "VACUUM INTO '{target}'",
        "attach database 'file:{target}?mode=rwc' as a",
    ],
    ids=["attach", "vacuum-into", "attach-uri"],
)
def test_sql_cannot_create_a_file(synced, tmp_path, statement):
    target = tmp_path / "made" / "new.db"
    target.parent.mkdir()
    r = run(synced, "sql", statement.format(target=target))
    line = one_error_line(r)
    assert r.returncode == 1 and "not allowed" in line, line
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_sql_cannot_change_settings_but_reads_pragmas(synced):
    r = run(synced, "sql", "PRAGMA query_only = 0")
    assert r.returncode == 1 and "PRAGMA query_only" in one_error_line(r)
    r = run(synced, "sql", "PRAGMA journal_mode = DELETE")
    assert r.returncode == 1 and "not allowed" in one_error_line(r)
    # reading pragmas still answers, as a statement or as a table-valued function
    with Archive(synced) as a:
        cols, rows = a.sql("PRAGMA table_info(conversations)")
        assert "name" in cols and any(r[cols.index("name")] == "uid" for r in rows)
        _, rows = a.sql("SELECT count(*) FROM pragma_table_info('messages')")
        assert rows[0][0] > 5
        _, rows = a.sql("PRAGMA user_version")
        assert rows == [(SCHEMA_VERSION,)]
        # the authorizer is lifted after the caller's statement: the archive's own reads go on
        assert a.stats()["conversations"] > 0


def test_sources_on_a_mistyped_home_creates_nothing(tmp_path):
    home = tmp_path / "typo" / "archive"
    r = run(home, "sources", "--json")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "typo").exists()
