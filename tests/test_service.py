"""`polylogue service`: the generated systemd unit, launchd agent and Task
Scheduler command. Units are written under the temporary HOME and
XDG_CONFIG_HOME of every test, and the commands run with a PATH that holds no
systemctl or launchctl: no test reaches the real user's service manager."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from polylogue import service


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI with no service manager on PATH (it is asked for by name only)."""
    env = {**os.environ, "PATH": ""}
    return subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), "service", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )


def unquote_systemd(line: str) -> list[str]:
    """ExecStart='s arguments as systemd reads them (double quotes, C escapes, %% and $$)."""
    out, i = [], 0
    while i < len(line):
        if line[i] == " ":
            i += 1
            continue
        assert line[i] == '"', line
        i += 1
        arg = ""
        while line[i] != '"':
            if line[i] == "\\":
                i += 1
            arg += line[i]
            i += 1
        i += 1
        out.append(arg.replace("%%", "%").replace("$$", "$"))
    return out


@pytest.fixture
def config() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"])


def test_install_writes_a_systemd_user_unit_that_runs_watch_for_this_archive(tmp_path, config, monkeypatch):
    home = tmp_path / "my archive %h $HOME"  # spaces, a systemd specifier, a variable: all taken literally
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    r = cli(home, "install", "--no-start", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    unit = Path(out["file"])
    assert unit.parent == config / "systemd" / "user"
    assert unit.name.startswith("polylogue-watch-") and unit.suffix == ".service"  # not the default archive
    text = unit.read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert unquote_systemd(exec_start[len("ExecStart=") :]) == [
        sys.executable,
        "-m",
        "polylogue",
        "--home",
        str(home),
        "watch",
    ]
    assert f'Environment="CODEX_HOME={tmp_path / "codex"}"' in text  # a service does not see the shell's variables
    assert "WantedBy=default.target" in text and "Restart=on-failure" in text
    assert "User=" not in text and "sudo" not in text  # a user unit: no root
    assert out["started"] is False
    assert out["commands"][-1] == f"systemctl --user enable --now {unit.name}"
    if shutil.which("systemd-analyze"):
        v = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
        assert v.returncode == 0, v.stderr


def test_the_default_archive_gets_the_plain_name(config):
    home = Path(os.environ["XDG_DATA_HOME"]) / "polylogue"
    p = service.plan(home)
    assert p.name == "polylogue-watch.service"
    assert p.file == config / "systemd" / "user" / "polylogue-watch.service"


def test_install_without_a_reachable_service_manager_writes_the_unit_and_says_so(tmp_path, config):
    r = cli(tmp_path / "a", "install")
    assert r.returncode == 1
    assert "could not start it" in r.stderr and "systemctl is not installed here" in r.stderr
    assert "systemctl --user enable --now" in r.stdout  # how to start it by hand
    assert len(list((config / "systemd" / "user").glob("polylogue-watch-*.service"))) == 1


def test_status_and_uninstall(tmp_path, config):
    home = tmp_path / "a"
    r = cli(home, "status", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["installed"] is False and st["watcher_running"] is False
    cli(home, "install", "--no-start")
    st = json.loads(cli(home, "status", "--json").stdout)
    assert st["installed"] is True and st["active"] is None  # no systemctl to ask
    said = cli(home, "status").stdout
    assert "installed" in said and "No watcher is running" in said
    r = cli(home, "uninstall")
    assert r.returncode == 0 and "removed" in r.stdout
    assert not list((config / "systemd" / "user").glob("*.service"))
    assert "No service installed" in cli(home, "uninstall").stdout


def test_a_launchd_agent_for_macos(tmp_path):
    home = tmp_path / "archive"
    user = tmp_path / "user"
    p = service.plan(home, ["/x/extra"], platform="darwin", environ={"HOME": str(user), "CODEX_HOME": "/c"})
    assert p.file == user / "Library" / "LaunchAgents" / f"{p.name}.plist"
    agent = plistlib.loads(p.content.encode())
    assert agent["Label"] == p.name and p.name.startswith("org.polylogue.watch")
    assert agent["ProgramArguments"] == [sys.executable, "-m", "polylogue", "--home", str(home), "watch", "/x/extra"]
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["ProcessType"] == "Background" and agent["EnvironmentVariables"] == {"CODEX_HOME": "/c"}
    assert agent["StandardErrorPath"] == str(user / "Library" / "Logs" / "polylogue" / "watch.log")
    assert p.start[-1][:2] == ["launchctl", "bootstrap"] and p.start[-1][-1] == str(p.file)


def test_windows_gets_the_task_scheduler_commands_printed(tmp_path):
    home = tmp_path / "my archive"
    p = service.plan(home, platform="win32", environ={"HOME": str(tmp_path)})
    assert p.file is None  # nothing is written
    create = p.start[0]
    assert create[:3] == ["schtasks", "/Create", "/TN"]
    tr = create[create.index("/TR") + 1]
    assert f'"{home}"' in tr and tr.endswith(" watch")  # the path with a space is quoted
    assert create[create.index("/SC") + 1] == "ONLOGON" and "/RL" in create  # at logon, as the user
    assert p.stop[-1][:2] == ["schtasks", "/Delete"]
