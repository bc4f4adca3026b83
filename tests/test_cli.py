"""Every command through Click's CliRunner, on a temporary home, against the
shipped examples (written by us, in the real formats)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from polylogue.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONV_KEYS = {"id", "provider", "provider_id", "title", "created_at", "updated_at", "message_count"}
# conversations in examples/, by provider (one per session/file/export item; subagent included)
EXPECTED = {"chatgpt": 3, "claude": 3, "claude-code": 3, "codex": 2, "gemini": 1, "gemini-cli": 2}


def run(home: Path, *args: str, ok: tuple[int, ...] = (0,)):
    r = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    assert r.exit_code in ok, (r.exit_code, r.output)
    return r


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("cli") / "archive"
    r = CliRunner().invoke(cli, ["--home", str(h), "sync", str(EXAMPLES), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return h


def test_sync_json_shape_and_counts(tmp_path):
    r = run(tmp_path / "h", "sync", str(EXAMPLES), "--json")
    out = json.loads(r.stdout)
    assert set(out) == {"files", "conversations", "messages", "errors", "warnings", "failing", "seconds"}
    assert set(out["files"]) >= {"seen", "imported", "unchanged", "failed"}
    assert set(out["conversations"]) == {"new", "updated", "unchanged"}
    assert set(out["messages"]) == {"new", "updated"}
    assert out["errors"] == [] and out["files"]["failed"] == 0
    assert out["conversations"]["new"] == sum(EXPECTED.values())
    # a second sync changes nothing, and says so
    again = json.loads(run(tmp_path / "h", "sync", str(EXAMPLES), "--json").stdout)
    assert again["files"]["unchanged"] == again["files"]["seen"] == out["files"]["seen"]
    assert again["conversations"] == {"new": 0, "updated": 0, "unchanged": 0}
    assert again["messages"] == {"new": 0, "updated": 0}
    human = run(tmp_path / "h", "sync", str(EXAMPLES))
    assert "Nothing changed" in human.stdout
    # --force re-reads every file and still finds nothing new
    forced = json.loads(run(tmp_path / "h", "sync", str(EXAMPLES), "--json", "--force").stdout)
    assert forced["conversations"]["new"] == 0 and forced["conversations"]["updated"] == 0
    assert forced["conversations"]["unchanged"] == sum(EXPECTED.values())


def test_stats(home):
    s = json.loads(run(home, "stats", "--json").stdout)
    assert {p: v["conversations"] for p, v in s["by_provider"].items()} == EXPECTED
    assert s["conversations"] == sum(EXPECTED.values())
    assert s["messages"] == sum(v["messages"] for v in s["by_provider"].values()) > 0
    assert s["database_bytes"] > 0
    assert "conversations" in run(home, "stats").stdout


def test_list_and_filters(home):
    rows = json.loads(run(home, "list", "--json").stdout)
    assert len(rows) == sum(EXPECTED.values())
    for c in rows:
        assert CONV_KEYS <= set(c)
        assert c["id"] == f"{c['provider']}:{c['provider_id']}"
    assert [c["updated_at"] for c in rows] == sorted((c["updated_at"] for c in rows), reverse=True)
    only = json.loads(run(home, "list", "--provider", "codex", "--json").stdout)
    assert {c["provider"] for c in only} == {"codex"} and len(only) == EXPECTED["codex"]
    recent = json.loads(run(home, "list", "--since", "2026-01-01", "--json").stdout)
    assert recent and all(c["updated_at"] >= "2026-01-01" for c in recent)
    assert len(json.loads(run(home, "list", "--limit", "2", "--json").stdout)) == 2


def test_search_json_shape(home):
    r = run(home, "search", "zanzibarquux", "--json")
    results = json.loads(r.stdout)
    assert results and all(CONV_KEYS <= set(c) for c in results)
    for c in results:
        assert c["hits"]
        for h in c["hits"]:
            assert set(h) >= {"message_id", "role", "timestamp", "snippet"}
            assert "zanzibarquux" in h["snippet"].lower()
    assert "matched" in r.stderr  # totals always reported
    scoped = json.loads(run(home, "search", "zanzibarquux", "--provider", "codex", "--json").stdout)
    assert {c["provider"] for c in scoped} == {"codex"}
    # the same filter written in the query language
    assert json.loads(run(home, "search", "zanzibarquux provider:codex", "--json").stdout) == scoped


def test_search_hit_message_ids_open_with_show(home):
    c = json.loads(run(home, "search", "zanzibarquux", "--json").stdout)[0]
    conv = json.loads(run(home, "show", c["id"], "--json").stdout)
    ids = {m["id"] for m in conv["messages"]}
    assert {h["message_id"] for h in c["hits"]} <= ids


def test_search_bad_query_exits_2_with_a_pointer(home):
    r = CliRunner().invoke(cli, ["--home", str(home), "search", '"unclosed'])
    assert r.exit_code == 2 and "unclosed quote" in r.stderr and "^" in r.stderr


def test_search_no_match_says_zero(home):
    r = run(home, "search", "xyzzynotthere", "--json")
    assert json.loads(r.stdout) == [] and "0 conversations, 0 messages matched" in r.stderr


def test_show_formats_and_prefix(home):
    rows = json.loads(run(home, "list", "--provider", "chatgpt", "--json").stdout)
    target = rows[0]
    md = run(home, "show", target["id"]).stdout
    assert md.startswith("# ") and target["title"] in md
    data = json.loads(run(home, "show", target["id"], "--format", "json").stdout)
    assert data["id"] == target["id"] and len(data["messages"]) == target["message_count"]
    assert all({"id", "role", "blocks", "active"} <= set(m) for m in data["messages"])
    # a unique prefix of the provider id works
    assert json.loads(run(home, "show", target["provider_id"][:-2], "--json").stdout)["id"] == target["id"]
    active = json.loads(run(home, "show", target["id"], "--json", "--branch", "active").stdout)
    assert all(m["active"] for m in active["messages"])


def test_show_ambiguous_prefix_lists_candidates(home):
    r = CliRunner().invoke(cli, ["--home", str(home), "show", "c"])
    assert r.exit_code == 1
    assert "matches" in r.stderr and "claude:" in r.stderr


def test_show_unknown_id(home):
    r = CliRunner().invoke(cli, ["--home", str(home), "show", "nope:nothing"])
    assert r.exit_code == 1 and "no conversation matches" in r.stderr


def test_check_passes_and_detects_damage(tmp_path):
    h = tmp_path / "h"
    run(h, "sync", str(EXAMPLES))
    out = json.loads(run(h, "check", "--json").stdout)
    assert out["ok"] and out["problems"] == [] and out["messages"] > 0
    import sqlite3

    conn = sqlite3.connect(h / "polylogue.db")
    conn.execute("UPDATE conversations SET message_count = message_count + 1 WHERE rowid = 1")
    conn.commit()
    conn.close()
    r = CliRunner().invoke(cli, ["--home", str(h), "check"])
    assert r.exit_code == 1 and "message_count" in r.stderr
    assert run(h, "check", "--vacuum", ok=(1,)).exit_code == 1


def test_sources_lists_defaults(tmp_path):
    user_home = Path(os.environ["HOME"])
    proj = user_home / ".claude" / "projects"
    shutil.copytree(EXAMPLES / "claude-code" / "projects", proj)
    rows = json.loads(run(tmp_path / "h", "sources", "--json").stdout)["sources"]
    by = {r["name"]: r for r in rows}
    assert {"claude-code", "codex", "gemini-cli", "inbox"} <= set(by)
    assert by["claude-code"]["exists"] and by["claude-code"]["files"] == 4
    assert not by["codex"]["exists"]
    # sync with no paths imports the default sources
    out = json.loads(run(tmp_path / "h", "sync", "--json").stdout)
    assert out["conversations"]["new"] == EXPECTED["claude-code"]


def test_home_from_environment(tmp_path, monkeypatch):
    h = tmp_path / "envhome"
    monkeypatch.setenv("POLYLOGUE_HOME", str(h))
    # reads never create an archive (tests/test_read_only.py): before the first sync, stats names the home
    r = CliRunner().invoke(cli, ["stats", "--json"], catch_exceptions=False)
    assert r.exit_code == 2 and f"no archive at {h} yet" in r.stderr and not h.exists()
    assert CliRunner().invoke(cli, ["sync"], catch_exceptions=False).exit_code in (0, 1)
    r = CliRunner().invoke(cli, ["stats", "--json"], catch_exceptions=False)
    assert r.exit_code == 0 and json.loads(r.stdout)["home"] == str(h)
    assert stat.S_IMODE(h.stat().st_mode) == 0o700


def test_default_home_is_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("POLYLOGUE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    CliRunner().invoke(cli, ["sync"], catch_exceptions=False)  # reads never create the archive; a sync does
    r = CliRunner().invoke(cli, ["stats", "--json"], catch_exceptions=False)
    assert json.loads(r.stdout)["home"] == str(tmp_path / "xdg" / "polylogue")
    assert (tmp_path / "xdg" / "polylogue" / "polylogue.db").exists()


def test_help_and_version():
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0
    for name in cli.commands:
        assert name in r.output
    assert CliRunner().invoke(cli, ["--version"]).exit_code == 0
    assert "provider:" in CliRunner().invoke(cli, ["help-query"]).output


def test_python_dash_m(tmp_path):
    import subprocess
    import sys

    for command in ("sync", "stats"):  # reads never create the archive; a sync does
        r = subprocess.run(
            [sys.executable, "-m", "polylogue", "--home", str(tmp_path / "h"), command, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert r.returncode == 0 and json.loads(r.stdout)["conversations"] == 0


def test_show_terminal_view_collapses_and_expands(home):
    cid = "claude-code:7c2e9a41-5b3d-4f6e-9a8c-1d2e3f4a5b6c"  # examples: thinking, tools, context, a subagent
    text = run(home, "show", cid, "--format", "text").stdout
    assert "💭 thinking:" in text and "--thinking)" in text  # collapsed to one line
    assert "⚙ Read:" in text and "↳ result" in text
    assert "injected context" in text
    assert "Subagents and linked conversations" in text and "/agent-" in text
    full = run(home, "show", cid, "--format", "text", "--all").stdout
    assert "--thinking)" not in full and len(full) > len(text)
    active = run(home, "show", "chatgpt:67d0a1b2-1111", "--format", "text").stdout
    assert "other branch" in active  # the edited prompt's first version is marked
    assert (
        "other branch"
        not in run(home, "show", "chatgpt:67d0a1b2-1111", "--format", "text", "--branch", "active").stdout
    )
    html = run(home, "show", cid, "--format", "html").stdout
    assert html.lstrip().lower().startswith("<!doctype html") and "<script" not in html.lower()


def test_tty_progress_shows_the_import_and_the_counting(tmp_path, monkeypatch):
    """The rich progress bar on a terminal: a real sync drives it through the
    import and the counting of frequent words (every word counts as frequent
    here), and it leaves the terminal clean (transient)."""
    import io
    import sqlite3

    from rich.console import Console

    from polylogue import cli as cli_mod
    from polylogue.api import Archive

    out = io.StringIO()
    monkeypatch.setattr(cli_mod, "_stderr_console", lambda: Console(file=out, force_terminal=True, width=100))
    a = Archive(tmp_path / "h")
    a._ensure_writable()
    conn = sqlite3.connect(a.db_path)
    with conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('totals_block_bits', 0), ('totals_min_messages', 1)")
    conn.close()
    progress = cli_mod._RichProgress()
    calls = []
    counting = progress.counting
    progress.counting = lambda done, blocks: (calls.append((done, blocks)), counting(done, blocks))
    a.sync([EXAMPLES], progress=progress)
    assert calls and calls[-1][0] == calls[-1][1] > 1
    text = out.getvalue()
    assert "importing" in text and "counting" in text


def test_sources_on_a_machine_without_the_tools_is_brief(tmp_path, monkeypatch):
    """Issue 21: with none of the ~25 tools installed, `sources` says so in two
    lines, not a wall of 'not found'; --all and --json still list every folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "bare"))
    (tmp_path / "bare").mkdir()
    out = run(tmp_path / "h", "sources").stdout.splitlines()
    assert out[0].startswith("No tool's folder found on this machine")
    assert len(out) == 2 and "other default folders not found or empty" in out[1] and "--all" in out[1]
    every = run(tmp_path / "h", "sources", "--all").stdout.splitlines()
    assert len(every) > 20 and all("not found" in line or "(0 files" in line for line in every)
    rows = json.loads(run(tmp_path / "h", "sources", "--json").stdout)["sources"]
    assert len(rows) == len(every) and not any(r["exists"] and r["files"] for r in rows)
