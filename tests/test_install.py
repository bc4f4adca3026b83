"""`pipx install .` gives a working `polylogue` command (README, "Install the
`polylogue` command"). Slow-ish: it builds the package and installs its
dependencies from the package index into a throw-away pipx home (PyPI must be
reachable), but it runs by default: nothing else checks that the package
builds from its source tree alone."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from polylogue import __version__

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
TIMEOUT = 300  # seconds per step: the install downloads the dependencies
# what a build of the package reads; copied, so the build's build/ and egg-info
# never land in the working tree, and a stale build/ cannot hide a missing file
SOURCE = ("pyproject.toml", "README.md", "polylogue")

pytestmark = pytest.mark.slow


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The `polylogue` command pipx installed from a copy of the source tree, and the
    environment it runs in (pipx's folders, HOME and caches all in a temporary folder)."""
    if importlib.util.find_spec("pipx") is None:
        pytest.skip("pipx is not installed in this Python (pip install -e '.[dev]' brings it)")
    root = tmp_path_factory.mktemp("pipx")
    src = root / "src"
    src.mkdir()
    for name in SOURCE:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    home = root / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PIPX_HOME": str(root / "pipx-home"),
        "PIPX_BIN_DIR": str(root / "bin"),
        "PIPX_MAN_DIR": str(root / "man"),
        "PIPX_DEFAULT_PYTHON": sys.executable,
    }
    for name in (
        "POLYLOGUE_HOME",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        *(n for n in os.environ if n.startswith("PIPX_GLOBAL")),
    ):
        env.pop(name, None)
    _run([sys.executable, "-m", "pipx", "install", str(src)], env)
    exe = shutil.which("polylogue", path=str(root / "bin"))
    assert exe is not None, f"pipx put no polylogue in {root / 'bin'}: {sorted(os.listdir(root / 'bin'))}"
    return Path(exe), env


def test_the_installed_command_answers_help_and_version(installed):
    exe, env = installed
    assert "Usage: polylogue" in _run([str(exe), "--help"], env).stdout
    assert _run([str(exe), "--version"], env).stdout.split()[-1] == __version__


def test_the_installed_command_imports_and_searches(installed, tmp_path):
    exe, env = installed
    home = str(tmp_path / "archive")
    out = _run([str(exe), "--home", home, "sync", str(EXAMPLES / "claude-code")], env).stdout
    assert "3 new" in out
    found = json.loads(_run([str(exe), "--home", home, "search", "--json", "zanzibarquux"], env).stdout)
    assert [c["id"] for c in found] == ["claude-code:7c2e9a41-5b3d-4f6e-9a8c-1d2e3f4a5b6c"]
