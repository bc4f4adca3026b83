"""Before the source deletes it: each tool's retention setting, the files it will
delete soon that no sync has archived, and conversations whose source file is gone.
Real files under a temporary home, real syncs, old mtimes set with os.utime."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.mcp_server import _Tools
from polylogue.providers.claude_code import retention

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DAY = 86_400


def run(home: Path, *args: str):
    r = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    assert r.exit_code == 0, (r.exit_code, r.output)
    return r


def _user() -> Path:
    return Path(os.environ["HOME"])


def _settings(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(text)


def _age(path: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(path, (t, t))


# ------------------------------------------------------------------ the setting


def test_claude_code_retention_default_setting_and_unreadable(tmp_path):
    user = _user()
    r = retention({}, user)
    assert (r.days, r.setting) == (30, f"{user / '.claude' / 'settings.json'}: cleanupPeriodDays")
    _settings(user / ".claude", '{"theme": "dark"}')
    assert retention({}, user).days == 30  # the key unset: Claude Code's default
    _settings(user / ".claude", '{"cleanupPeriodDays": 5}')
    assert retention({}, user).days == 5
    _settings(user / ".claude", '{"cleanupPeriodDays": 0}')
    assert retention({}, user).days is None  # under the documented minimum (1 day): unknown
    for bad in ("{not json", '{"cleanupPeriodDays": "ten"}', '{"cleanupPeriodDays": -1}', "[1]"):
        _settings(user / ".claude", bad)
        assert retention({}, user).days is None, bad  # unknown, never an exception
    other = tmp_path / "cfg"
    _settings(other, '{"cleanupPeriodDays": 9}')
    assert retention({"CLAUDE_CONFIG_DIR": str(other)}, user).days == 9


def test_unreadable_settings_is_unknown(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    _settings(_user() / ".claude", '{"cleanupPeriodDays": 5}')
    (_user() / ".claude" / "settings.json").chmod(0)
    assert retention({}, _user()).days is None


# ------------------------------------------------------------------ sources and stats


@pytest.fixture
def claude_home():
    """A user home with Claude Code's example logs and cleanupPeriodDays 5; one
    log 4 days old (deleted within a day), one 1 day old."""
    user = _user()
    shutil.copytree(EXAMPLES / "claude-code" / "projects", user / ".claude" / "projects")
    _settings(user / ".claude", '{"cleanupPeriodDays": 5}')
    logs = sorted((user / ".claude" / "projects").rglob("*.jsonl"))
    old = next(p for p in logs if "ledgerlite" in str(p))
    for p in logs:
        _age(p, 1)
    _age(old, 4)
    return old


def test_sources_reports_retention_and_warns_until_synced(tmp_path, claude_home):
    home = tmp_path / "h"
    r = run(home, "sources", "--json")
    doc = json.loads(r.stdout)
    cc = next(s for s in doc["sources"] if s["name"] == "claude-code")
    assert cc["retention_days"] == 5
    assert cc["retention_setting"].endswith("settings.json: cleanupPeriodDays")
    assert cc["days_left"] == 0  # 5 days minus 4 days and a little: not one whole day left
    assert cc["oldest"][:10] == time.strftime("%Y-%m-%d", time.gmtime(claude_home.stat().st_mtime))
    assert cc["not_archived"] is None  # no archive yet: nothing can be told archived
    assert cc["at_risk"] == 1 and cc["at_risk_paths"] == [str(claude_home)]
    assert doc["warnings"] == [cc["warning"]]
    assert "Claude Code will delete 1 file within 3 days" in r.stderr
    assert r.stderr.count("\n") == 1
    text = run(home, "sources").stdout
    assert "deleted after 5 days: 0 days left; none archived yet" in text

    run(home, "sync")
    r = run(home, "sources", "--json")
    cc = next(s for s in json.loads(r.stdout)["sources"] if s["name"] == "claude-code")
    assert (cc["not_archived"], cc["at_risk"], cc["at_risk_paths"]) == (0, 0, [])
    assert "warning" not in cc and r.stderr == ""
    assert "all archived" in run(home, "sources").stdout

    # the log grows after the sync: not archived again, and it is due for deletion
    with claude_home.open("a") as f:
        f.write("\n")
    _age(claude_home, 4)
    s = run(home, "stats", "--json")
    assert json.loads(s.stdout)["warnings"] == [
        "Claude Code will delete 1 file within 3 days that the archive does not hold: run `polylogue sync`"
    ]
    assert s.stderr.startswith("polylogue: warning: Claude Code will delete 1 file")
    cc = next(s for s in Archive(home).sources_report() if s["name"] == "claude-code")
    assert cc["not_archived"] == 1 and "1 not archived" in run(home, "sources").stdout


def test_stats_quiet_when_nothing_is_due(tmp_path, claude_home):
    home = tmp_path / "h"
    _age(claude_home, 1)  # deleted in 4 days: beyond the 3-day warning
    run(home, "sync", str(EXAMPLES / "codex"))
    s = run(home, "stats", "--json")
    assert json.loads(s.stdout)["warnings"] == [] and s.stderr == ""


def test_unknown_retention_is_reported_not_raised(tmp_path, claude_home):
    _settings(_user() / ".claude", "{broken")
    home = tmp_path / "h"
    cc = next(s for s in json.loads(run(home, "sources", "--json").stdout)["sources"] if s["name"] == "claude-code")
    assert cc["retention_days"] is None and "days_left" not in cc and "at_risk" not in cc
    assert "unknown number of days" in run(home, "sources").stdout


# ------------------------------------------------------------------ a source gone


def test_conversation_whose_source_is_gone_stays_marked(tmp_path):
    home = tmp_path / "h"
    folder = tmp_path / "in"
    shutil.copytree(EXAMPLES / "codex", folder)
    run(home, "sync", str(folder))
    a = Archive(home)
    rows = a.list()
    assert rows and not any(r["source_gone"] for r in rows)
    victim = sorted(p for p in folder.rglob("*") if p.is_file())[0]
    kept = victim.read_bytes()
    victim.unlink()
    rows = a.list()
    gone = [r["id"] for r in rows if r["source_gone"]]
    assert len(gone) == 1 and len(rows) == len(a.list())

    listed = json.loads(run(home, "list", "--json").stdout)
    assert [r["id"] for r in listed if r["source_gone"]] == gone
    assert any(line.endswith("(source gone)") for line in run(home, "list").stdout.splitlines())
    assert json.loads(run(home, "show", gone[0], "--json").stdout)["source_gone"] is True
    assert "source file is gone" in run(home, "show", gone[0], "--format", "markdown").stdout
    others = [r["id"] for r in rows if not r["source_gone"]]
    assert json.loads(run(home, "show", others[0], "--json").stdout)["source_gone"] is False

    tools = _Tools(Archive(home))
    by_id = {c["id"]: c for c in tools.list(50, 0, {})["results"]}
    assert by_id[gone[0]].get("source_gone") is True and "source_gone" not in by_id[others[0]]

    run(home, "sync", str(folder))  # a sync of the folder it was in never deletes it
    assert gone[0] in {r["id"] for r in Archive(home).list() if r["source_gone"]}

    victim.write_bytes(kept)
    assert not any(r["source_gone"] for r in Archive(home).list())


def test_default_sync_after_the_tool_deleted_a_log_keeps_it(tmp_path, claude_home):
    """What the tool does: it deletes an old log; the next sync of the default
    sources keeps the conversation, and list, show, stats and MCP say its source is gone."""
    home = tmp_path / "h"
    run(home, "sync")
    before = {r["id"] for r in Archive(home).list(limit=500)}
    count = json.loads(run(home, "stats", "--json").stdout)["conversations"]
    claude_home.unlink()  # Claude Code's cleanup
    run(home, "sync")
    a = Archive(home)
    rows = a.list(limit=500)
    assert {r["id"] for r in rows} == before
    assert json.loads(run(home, "stats", "--json").stdout)["conversations"] == count
    gone = [r["id"] for r in rows if r["source_gone"]]
    assert len(gone) == 1 and a.gone(gone) == set(gone)
    out = _Tools(a).get(
        gone[0], around=None, before=0, after=0, offset=0, limit=5, tail=False,
        include_thinking=False, include_tools=False, active_only=False, max_chars=2000, char_offset=0,
    )  # fmt: skip
    assert out["source_gone"] is True and out["messages"]
    kept = next(r["id"] for r in rows if not r["source_gone"])
    out = _Tools(a).get(
        kept, around=None, before=0, after=0, offset=0, limit=5, tail=False,
        include_thinking=False, include_tools=False, active_only=False, max_chars=2000, char_offset=0,
    )  # fmt: skip
    assert "source_gone" not in out
    text = run(home, "show", gone[0], "--format", "text").stdout
    assert "source file is gone" in text
    assert "source file is gone" not in run(home, "show", kept, "--format", "text").stdout


def test_sources_names_the_oldest_file(tmp_path, claude_home):
    doc = json.loads(run(tmp_path / "h", "sources", "--json").stdout)
    cc = next(s for s in doc["sources"] if s["name"] == "claude-code")
    assert cc["oldest_path"] == str(claude_home)
    assert f"({claude_home.name})" in run(tmp_path / "h", "sources").stdout


def test_gemini_cli_retention_in_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_CLI_SYSTEM_DEFAULTS_PATH", str(tmp_path / "none.json"))
    monkeypatch.setenv("GEMINI_CLI_SYSTEM_SETTINGS_PATH", str(tmp_path / "none.json"))
    user = _user()
    shutil.copytree(EXAMPLES / "gemini-cli" / "tmp", user / ".gemini" / "tmp")
    chats = sorted((user / ".gemini" / "tmp").rglob("*.json"))
    for p in chats:
        _age(p, 1)
    _age(chats[0], 29)
    home = tmp_path / "h"

    def gemini():
        doc = json.loads(run(home, "sources", "--json").stdout)
        return next(s for s in doc["sources"] if "gemini-cli" in s["name"].split(", ")), doc

    g, doc = gemini()
    assert (g["retention_days"], g["days_left"], g["at_risk"]) == (30, 0, 1)
    assert g["retention_setting"].endswith("settings.json: general.sessionRetention")
    assert g["warning"] in doc["warnings"]
    _settings(user / ".gemini", '{"general": {"sessionRetention": {"enabled": false}}}')
    g, doc = gemini()  # cleanup off: nothing is deleted, nothing to warn about
    assert "retention_days" not in g and "at_risk" not in g and doc["warnings"] == []


KEEPER = """\
from polylogue.providers import Location, Provider


def retention(environ, user):
    raise RuntimeError("a reader that breaks its promise")


PROVIDER = Provider(
    name="keeper", display_name="Keeper", kind="json", sniff=lambda h: False, parse=lambda s, c: iter(()),
    locations=(Location("~/.keeper", "logs"),), retention=retention,
)
"""


def test_a_plugin_retention_reader_that_raises_is_unknown(tmp_path):
    """A third-party provider's reader is not ours: if it raises, its source's
    retention is unknown and `sources` still answers, with no traceback."""
    site = tmp_path / "site"
    dist = site / "polylogue_keeper-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "polylogue_keeper.py").write_text(KEEPER)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: polylogue-keeper\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[polylogue.providers]\nkeeper = polylogue_keeper:PROVIDER\n")
    (_user() / ".keeper" / "logs").mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    cmd = [sys.executable, "-m", "polylogue", "--home", str(tmp_path / "h"), "sources", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    row = next(s for s in json.loads(r.stdout)["sources"] if s["name"] == "keeper")
    assert row["retention_days"] is None and row["retention_setting"] == "keeper retention setting (RuntimeError)"
    assert "days_left" not in row and "at_risk" not in row


def test_a_moved_file_is_not_gone(tmp_path):
    """Its conversations were last read from the old path; a sync of the new one
    finds them unchanged and makes the new file their source."""
    a_dir, b_dir = tmp_path / "A", tmp_path / "B"
    shutil.copytree(EXAMPLES / "codex", a_dir)
    home = tmp_path / "h"
    run(home, "sync", str(a_dir))
    a_dir.rename(b_dir)
    assert all(r["source_gone"] for r in Archive(home).list())
    run(home, "sync", str(b_dir))
    assert not any(r["source_gone"] for r in Archive(home).list())
