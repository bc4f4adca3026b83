"""Shared fixtures. No test touches the real home: HOME, XDG dirs and
POLYLOGUE_HOME point into tmp_path for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI (.ci/run) runs the property tests with fixed examples, derived from each test, so
# a clean clone's run gives what the same run gave here; `make test` keeps drawing new
# ones each run (that is how CI met '0e0a': store/postgres/index_text.py)
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("POLYLOGUE_HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SHARED_SAMPLES = REPO.parent / "shared" / "samples"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "userhome"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("POLYLOGUE_HOME", str(tmp_path / "archive"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("CODEX_HOME", raising=False)
    yield


@pytest.fixture
def samples() -> Path:
    """../shared/samples, or skip cleanly where it is absent."""
    if not SHARED_SAMPLES.is_dir():
        pytest.skip("../shared/samples is not available")
    return SHARED_SAMPLES


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


def sample_files(provider_dir: str) -> list[Path]:
    """For parametrising: the sample files of one provider folder (empty if absent)."""
    d = SHARED_SAMPLES / provider_dir
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file())


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def other_providers(module_name: str) -> list:
    """Every provider module except ``module_name`` (e.g. "chatgpt"), to check
    that no other sniffer claims a sample."""
    import sys

    from polylogue.providers import providers

    modules = [sys.modules[p.parse.__module__] for p in providers()]
    return [m for m in modules if m.__name__.rsplit(".", 1)[-1] != module_name]


os.environ.setdefault("HYPOTHESIS_PROFILE", "default")
