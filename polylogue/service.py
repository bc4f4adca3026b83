"""`polylogue service`: run `polylogue watch` as a service of the user, no root.

Linux: a systemd user unit in ``$XDG_CONFIG_HOME/systemd/user/``, enabled and
started with ``systemctl --user``. macOS: a launchd agent in
``~/Library/LaunchAgents/``, loaded with ``launchctl bootstrap``. Windows: the
Task Scheduler commands are printed, not run. The service runs ``watch`` for
one archive (``--home``), with the Python running now, and keeps the variables
that move a tool's folder (CODEX_HOME, CLAUDE_CONFIG_DIR, the XDG folders...)
as they are set now: a service does not see a login shell's environment."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = "polylogue-watch"  # systemd unit, Task Scheduler task
LABEL = "org.polylogue.watch"  # launchd label


@dataclass
class Plan:
    """What ``install`` writes and runs on this system (``file`` None: nothing is
    written, the commands are only shown: Windows)."""

    system: str  # systemd | launchd | schtasks
    name: str
    command: list[str]  # the watcher's command line
    file: Path | None
    content: str
    start: list[list[str]] = field(default_factory=list)
    stop: list[list[str]] = field(default_factory=list)
    query: list[str] = field(default_factory=list)


def _system(platform: str) -> str:
    if platform.startswith("linux"):
        return "systemd"
    if platform == "darwin":
        return "launchd"
    if platform.startswith("win"):
        return "schtasks"
    return "systemd"  # the BSDs with systemd do not exist; the unit is still the clearest text to show


def _suffix(home: Path, environ: dict[str, str]) -> str:
    """'' for the archive at its usual place; '-<8 hex>' for any other, so two
    archives get two services."""
    data = environ.get("XDG_DATA_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "share"
    )
    if os.path.abspath(home) == os.path.abspath(os.path.join(data, "polylogue")):
        return ""
    return "-" + hashlib.sha256(os.fsencode(os.path.abspath(home))).hexdigest()[:8]


def _python(system: str) -> str:
    exe = sys.executable
    if system == "schtasks":  # no console window for a task that runs all day
        quiet = Path(exe).with_name("pythonw.exe")
        if quiet.exists():
            return str(quiet)
    return exe


def kept_variables(environ: dict[str, str]) -> dict[str, str]:
    """The variables set now that decide where the tools' folders are: each
    provider location's own (CODEX_HOME...) and those its templates name."""
    from .providers import providers

    names = {"XDG_CONFIG_HOME", "XDG_DATA_HOME"}
    for p in providers():
        for loc in p.locations:
            if loc.env:
                names.add(loc.env)
            for template in (loc.root, loc.darwin, loc.win32):
                names.update(re.findall(r"\{(\w+)\}", template or ""))
    return {n: environ[n] for n in sorted(names) if environ.get(n)}


def plan(
    home: Path,
    paths: Sequence[str] = (),
    *,
    platform: str | None = None,
    environ: dict[str, str] | None = None,
) -> Plan:
    platform = platform or sys.platform
    environ = dict(os.environ if environ is None else environ)
    system = _system(platform)
    home = Path(os.path.abspath(home))
    suffix = _suffix(home, environ)
    command = [_python(system), "-m", "polylogue", "--home", str(home), "watch", *map(os.path.abspath, paths)]
    keep = kept_variables(environ)
    user = Path(environ.get("HOME") or os.path.expanduser("~"))
    if system == "launchd":
        label = LABEL + suffix
        file = user / "Library" / "LaunchAgents" / f"{label}.plist"
        domain = f"gui/{os.getuid() if hasattr(os, 'getuid') else 0}"
        return Plan(
            system,
            label,
            command,
            file,
            _launchd(label, command, keep, user),
            start=[["launchctl", "bootout", f"{domain}/{label}"], ["launchctl", "bootstrap", domain, str(file)]],
            stop=[["launchctl", "bootout", f"{domain}/{label}"]],
            query=["launchctl", "print", f"{domain}/{label}"],
        )
    if system == "schtasks":
        name = "Polylogue watch" + suffix
        line = subprocess.list2cmdline(command)
        return Plan(
            system,
            name,
            command,
            None,
            "",
            start=[["schtasks", "/Create", "/TN", name, "/TR", line, "/SC", "ONLOGON", "/RL", "LIMITED", "/F"]],
            stop=[["schtasks", "/End", "/TN", name], ["schtasks", "/Delete", "/TN", name, "/F"]],
            query=["schtasks", "/Query", "/TN", name],
        )
    unit = NAME + suffix + ".service"
    config = Path(environ.get("XDG_CONFIG_HOME") or user / ".config")
    return Plan(
        system,
        unit,
        command,
        config / "systemd" / "user" / unit,
        _systemd(home, command, keep),
        start=[["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", unit]],
        stop=[["systemctl", "--user", "disable", "--now", unit]],
        query=["systemctl", "--user", "is-active", unit],
    )


def _systemd_quote(arg: str, *, dollars: bool = True) -> str:
    """One argument of ExecStart= (or, without ``dollars``, one Environment=
    assignment): double-quoted, with ``\\`` and ``"`` escaped, ``%`` (a
    specifier) doubled, and ``$`` (a variable in ExecStart=) doubled."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return '"' + (escaped.replace("$", "$$") if dollars else escaped) + '"'


def _systemd(home: Path, command: list[str], keep: dict[str, str]) -> str:
    env = "".join(f"Environment={_systemd_quote(f'{k}={v}', dollars=False)}\n" for k, v in keep.items())
    description = str(home).replace("%", "%%")
    return (
        "# Written by `polylogue service install`; `polylogue service uninstall` removes it.\n"
        "[Unit]\n"
        f"Description=Polylogue: keep the archive {description} current\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(_systemd_quote(a) for a in command)}\n"
        f"{env}"
        "Restart=on-failure\n"
        "RestartSec=30\n"
        "# the watcher stops its own sync and parse processes on SIGTERM, within 2 s\n"
        "KillMode=mixed\n"
        "TimeoutStopSec=10\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _launchd(label: str, command: list[str], keep: dict[str, str], user: Path) -> str:
    import plistlib

    logs = user / "Library" / "Logs" / "polylogue"
    spec: dict[str, Any] = {
        "Label": label,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restarted after a crash, not after a stop
        "ProcessType": "Background",  # launchd's own background class: throttled CPU and I/O
        "LowPriorityIO": True,
        "ThrottleInterval": 30,
        "StandardErrorPath": str(logs / "watch.log"),
        "StandardOutPath": str(logs / "watch.log"),
    }
    if keep:
        spec["EnvironmentVariables"] = keep
    return plistlib.dumps(spec).decode()


def _run(cmd: list[str]) -> tuple[bool, str]:
    if shutil.which(cmd[0]) is None:
        return False, f"{cmd[0]} is not installed here"
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return r.returncode == 0, " ".join((r.stderr or r.stdout).split())


def install(home: Path, paths: Sequence[str] = (), *, start: bool = True) -> dict[str, Any]:
    """Write the unit (or agent) and, with ``start``, enable and start it.
    On Windows nothing is run: the report holds the commands to run."""
    from .paths import private_dirs

    p = plan(home, paths)
    out: dict[str, Any] = {"system": p.system, "name": p.name, "command": p.command, "file": None, "started": False}
    out["commands"] = [subprocess.list2cmdline(c) for c in p.start]
    if p.file is None:
        return out
    private_dirs(p.file.parent)
    tmp = p.file.with_name(p.file.name + ".tmp")
    tmp.write_text(p.content, encoding="utf-8")
    os.replace(tmp, p.file)
    out["file"] = str(p.file)
    if p.system == "launchd":
        private_dirs(Path(os.path.expanduser("~")) / "Library" / "Logs" / "polylogue")
    if start:
        steps = p.start[1:] if p.system == "launchd" else p.start
        if p.system == "launchd":
            _run(p.start[0])  # an agent loaded before is replaced: its unloading may fail quietly
        for cmd in steps:
            ok, said = _run(cmd)
            if not ok:
                out["problem"] = f"`{subprocess.list2cmdline(cmd)}` failed: {said}"
                return out
        out["started"] = True
    return out


def uninstall(home: Path, *, stop: bool = True) -> dict[str, Any]:
    """Stop and disable the service, and remove its file."""
    p = plan(home)
    out: dict[str, Any] = {"system": p.system, "name": p.name, "file": None, "removed": False}
    out["commands"] = [subprocess.list2cmdline(c) for c in p.stop]
    if p.file is None:
        return out
    if stop and p.file.exists():
        for cmd in p.stop:
            _run(cmd)  # a service that was never started cannot be stopped: not a problem
    if p.file.exists():
        p.file.unlink()
        out["removed"] = True
        if stop and p.system == "systemd":
            _run(["systemctl", "--user", "daemon-reload"])
    out["file"] = str(p.file)
    return out


_SYSTEMD_STATES = {"active", "inactive", "failed", "activating", "deactivating", "reloading"}


def status(home: Path) -> dict[str, Any]:
    """Whether the service is installed and running, and whether a watcher runs
    for this archive (as a service or by hand)."""
    from .watch import watcher_pid

    p = plan(home)
    out: dict[str, Any] = {"system": p.system, "name": p.name, "file": str(p.file) if p.file else None}
    out["installed"] = bool(p.file and p.file.exists())
    out["active"] = None  # unknown: the service manager cannot be asked here
    if out["installed"] and shutil.which(p.query[0]):
        ok, said = _run(p.query)
        out["active"] = ok
        if p.system == "systemd":  # is-active prints a state; anything else means the manager was not reached
            out["active"] = said == "active" if said in _SYSTEMD_STATES else None
    if p.system == "schtasks":
        out["commands"] = [subprocess.list2cmdline(p.query)]
    pid = watcher_pid(Path(home))
    out["watcher_pid"] = pid if pid and pid > 0 else None
    out["watcher_running"] = pid is not None
    return out
