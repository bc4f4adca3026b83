"""What a tool's own settings say about deleting its history, for the tools whose
provider declares ``retention=`` pointing here (providers/base.py, ``Retention``).

Only documented settings are read, and a reader never raises: a file that cannot
be read or a value the tool's documentation does not allow gives ``days=None``
("unknown"), and a tool configured to keep its files gives None (nothing to warn
about). Claude Code's reader lives in providers/claude_code.py.

Gemini CLI (its configuration reference, "general.sessionRetention"): at its
start it deletes a project's chats whose last update is older than ``maxAge``
("<n>h", "<n>d", "<n>w" or "<n>m", a month being 30 days; default "30d") when
``enabled`` (default true); ``maxCount`` keeps only the newest chats, which no
number of days can say. Its settings files, lowest precedence first: the system
defaults, the user's ``~/.gemini/settings.json``, then the system settings, which
override the user's (a project's own ``.gemini/settings.json`` is not read: it
holds for one project only)."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from .base import Retention

GEMINI_KEY = "general.sessionRetention"
GEMINI_DEFAULTS: dict[str, Any] = {"enabled": True, "maxAge": "30d"}  # the documented defaults
_PERIOD = re.compile(r"([0-9]{1,6})([hdwm])")  # Gemini CLI's pattern (ASCII digits; 6 of them is our bound)
_DAYS_PER = {"h": 1 / 24, "d": 1, "w": 7, "m": 30}
_MAX_SETTINGS_BYTES = 4 << 20  # a settings file is small; a bigger one is not read whole


def period_days(value: object) -> float | None:
    """Gemini CLI's retention period ("36h", "7d", "2w", "1m") in days, or None
    when it is not one (Gemini CLI rejects zero too)."""
    if not isinstance(value, str):
        return None
    m = _PERIOD.fullmatch(value)
    if m is None or int(m[1]) == 0:
        return None
    return int(m[1]) * _DAYS_PER[m[2]]


def read_settings(path: Path) -> dict[str, Any] | None:
    """A JSON settings file's object ({} when there is no such file: nothing is
    set), or None when it cannot be read or is not a JSON object."""
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_SETTINGS_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, ValueError):  # permissions, a folder, a bad path
        return None
    if len(raw) > _MAX_SETTINGS_BYTES:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _gemini_system_paths(environ: Mapping[str, str]) -> tuple[Path, Path]:
    """(system defaults, system settings) of Gemini CLI on this OS."""
    if sys.platform == "darwin":
        folder = Path("/Library/Application Support/GeminiCli")
    elif sys.platform == "win32":
        folder = Path(environ.get("ProgramData", r"C:\ProgramData")) / "gemini-cli"
    else:
        folder = Path("/etc/gemini-cli")
    defaults = environ.get("GEMINI_CLI_SYSTEM_DEFAULTS_PATH") or str(folder / "system-defaults.json")
    system = environ.get("GEMINI_CLI_SYSTEM_SETTINGS_PATH") or str(folder / "settings.json")
    return Path(defaults), Path(system)


def gemini_retention(environ: Mapping[str, str], user: Path) -> Retention | None:
    """How long Gemini CLI keeps its chats, from its settings files (module docstring)."""
    defaults, system = _gemini_system_paths(environ)
    merged = dict(GEMINI_DEFAULTS)
    source = user / ".gemini" / "settings.json"
    for path in (defaults, user / ".gemini" / "settings.json", system):
        doc = read_settings(path)
        if doc is None:
            return Retention(None, f"{path}: {GEMINI_KEY} (unreadable)")
        general = doc.get("general", {})
        kept = general.get("sessionRetention", {}) if isinstance(general, dict) else None
        if not isinstance(kept, dict):
            return Retention(None, f"{path}: {GEMINI_KEY} (not an object)")
        if kept:
            merged.update(kept)
            source = path
    return _gemini_days(merged, f"{source}: {GEMINI_KEY}")


def _gemini_days(kept: dict[str, Any], setting: str) -> Retention | None:
    enabled = kept.get("enabled")
    if enabled is False:
        return None  # cleanup switched off: the chats are kept
    if enabled is not True:
        return Retention(None, f"{setting} (enabled is not true or false)")
    count = kept.get("maxCount")
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            return Retention(None, f"{setting} (maxCount is not a whole number of at least 1)")
        setting = f"{setting} (maxCount {count}: a project's chats beyond its newest {count} go sooner)"
    age = kept.get("maxAge")
    if age in (None, ""):
        return Retention(None, setting) if count is not None else None
    days = period_days(age)
    if days is None:
        return Retention(None, f"{setting} (maxAge {str(age)[:40]!r} is not a period)")
    least = period_days(kept.get("minRetention")) or 1  # Gemini CLI's fallback for a missing or bad one: 1d
    if days < least:  # Gemini CLI refuses such a setting and deletes nothing
        return Retention(None, f"{setting} (maxAge is below minRetention)")
    return Retention(int(days), setting)  # whole days, rounded down: a warning comes early, never late
