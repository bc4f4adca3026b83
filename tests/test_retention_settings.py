"""The tools' own retention settings, read from real files under a temporary home:
whatever a settings file holds (bad JSON, odd types, huge numbers), a reader
answers a number of days, "unknown" or "kept", and never raises."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from polylogue.providers.claude_code import retention as claude_retention
from polylogue.providers.retention import gemini_retention, period_days, read_settings

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
retention_values = st.one_of(
    json_values,
    st.sampled_from(["30d", "0d", "36h", "2w", "1m", "7 d", "7D", "-1d", "1y", "", "99999999d"]),
)


def _user() -> Path:
    return Path(os.environ["HOME"])


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.fixture
def gemini_env(tmp_path):
    """Gemini CLI's system files moved into the test's folder (never /etc)."""
    return {
        "GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(tmp_path / "etc" / "system-defaults.json"),
        "GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(tmp_path / "etc" / "settings.json"),
    }


def _gemini(env, user_doc=None, system=None, defaults=None):
    for key, doc in (("GEMINI_CLI_SYSTEM_DEFAULTS_PATH", defaults), ("GEMINI_CLI_SYSTEM_SETTINGS_PATH", system)):
        path = Path(env[key])
        if doc is None:
            path.unlink(missing_ok=True)
        else:
            _write(path, doc if isinstance(doc, str | bytes) else json.dumps(doc))
    user_file = _user() / ".gemini" / "settings.json"
    if user_doc is None:
        user_file.unlink(missing_ok=True)
    else:
        _write(user_file, user_doc if isinstance(user_doc, str | bytes) else json.dumps(user_doc))
    return gemini_retention(env, _user())


def _sr(**kept):
    return {"general": {"sessionRetention": kept}}


# ------------------------------------------------------------------ never raises


@FUZZ
@given(raw=st.binary(max_size=200))
@example(raw=b"[" * 5000)  # deeper than any JSON parser nests
@example(raw=b"\xef\xbb\xbf{}")
def test_claude_code_any_bytes(raw):
    _write(_user() / ".claude" / "settings.json", raw)
    r = claude_retention({}, _user())
    assert r.days is None or (isinstance(r.days, int) and r.days >= 1)
    assert r.setting.endswith("settings.json: cleanupPeriodDays")


@FUZZ
@given(value=retention_values, doc=json_values)
@example(value=10**30, doc={})
@example(value=7.0, doc={})
@example(value=True, doc={})
def test_claude_code_any_value(value, doc):
    _write(
        _user() / ".claude" / "settings.json",
        json.dumps({**(doc if isinstance(doc, dict) else {}), "cleanupPeriodDays": value}),
    )
    days = claude_retention({}, _user()).days
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**63:
        assert days == value
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 2**63:
        assert days is None  # past what orjson reads: the file is unreadable to us, so unknown
    else:
        assert days is None  # not a whole number of days: unknown, never a guess
    _write(_user() / ".claude" / "settings.json", json.dumps(doc))
    days = claude_retention({}, _user()).days  # whatever the document, with or without the key
    assert days is None or (isinstance(days, int) and days >= 0)


@FUZZ
@given(user=st.binary(max_size=120) | json_values.map(json.dumps), system=st.none() | json_values.map(json.dumps))
def test_gemini_any_settings(gemini_env, user, system):
    r = _gemini(gemini_env, user, system=system)
    assert r is None or r.days is None or (isinstance(r.days, int) and r.days >= 0)
    assert r is None or "general.sessionRetention" in r.setting


@FUZZ
@given(enabled=retention_values, max_age=retention_values, min_retention=retention_values, count=retention_values)
def test_gemini_any_retention_values(gemini_env, enabled, max_age, min_retention, count):
    r = _gemini(gemini_env, _sr(enabled=enabled, maxAge=max_age, minRetention=min_retention, maxCount=count))
    if enabled is False:
        assert r is None  # cleanup off: the chats are kept
    elif enabled is not True:
        assert r is not None and r.days is None  # not a switch Gemini CLI documents: unknown
    elif r is None:  # on, but neither an age nor a count: Gemini CLI refuses it and deletes nothing
        assert max_age in (None, "") and count is None
    else:
        assert r.days is None or r.days >= 0


@given(st.text(max_size=12))
@example("30d")
def test_period_days_any_text(text):
    days = period_days(text)
    assert days is None or days > 0


# ------------------------------------------------------------------ what the settings mean


def test_read_settings(tmp_path):
    assert read_settings(tmp_path / "none.json") == {}  # no file: nothing set
    assert read_settings(_write(tmp_path / "a.json", '{"a": 1}')) == {"a": 1}
    for bad in ("[1]", "{bad", "// a comment\n{}", ""):
        assert read_settings(_write(tmp_path / "b.json", bad)) is None, bad
    assert read_settings(tmp_path) is None  # a folder
    assert read_settings(_write(tmp_path / "big.json", b" " * (5 << 20) + b"{}")) is None


def test_period_days():
    assert [period_days(p) for p in ("36h", "7d", "2w", "1m", "24h")] == [1.5, 7, 14, 30, 1]
    assert [period_days(p) for p in ("0d", "7", "d", "7 d", "1y", 7, None, "-1d", "\u0667d", "07d")] == [None] * 9 + [7]


def test_gemini_defaults_and_settings(gemini_env):
    user_file = str(_user() / ".gemini" / "settings.json")
    r = _gemini(gemini_env)
    assert (r.days, r.setting) == (30, f"{user_file}: general.sessionRetention")  # documented default: 30d
    assert _gemini(gemini_env, {"ui": {"theme": "x"}}).days == 30
    assert _gemini(gemini_env, _sr(enabled=False)) is None
    assert _gemini(gemini_env, _sr(maxAge="2w")).days == 14
    assert _gemini(gemini_env, _sr(maxAge="36h")).days == 1  # rounded down: a warning comes early
    assert _gemini(gemini_env, _sr(maxAge="1m")).days == 30  # Gemini CLI's month is 30 days
    assert _gemini(gemini_env, _sr(maxAge="12h")).days is None  # under minRetention (1d): Gemini refuses it
    assert _gemini(gemini_env, _sr(maxAge="12h", minRetention="1h")).days == 0
    assert _gemini(gemini_env, _sr(maxAge="12h", minRetention="bad")).days is None  # bad minRetention: 1d
    counted = _gemini(gemini_env, _sr(maxCount=50))
    assert counted.days == 30 and "maxCount 50" in counted.setting
    assert _gemini(gemini_env, _sr(maxAge="", maxCount=50)).days is None  # by count alone: no number of days
    assert _gemini(gemini_env, _sr(maxAge="")) is None  # nothing deletes by age or count
    for bad in (_sr(maxAge="0d"), _sr(maxAge=30), _sr(enabled="yes"), _sr(maxCount=0), {"general": []}):
        r = _gemini(gemini_env, bad)
        assert r is not None and r.days is None, bad
    for text in ("{broken", "// comments\n{}", "[]"):
        r = _gemini(gemini_env, text)
        assert r.days is None and r.setting == f"{user_file}: general.sessionRetention (unreadable)"


def test_gemini_system_files_take_their_place(gemini_env):
    system = gemini_env["GEMINI_CLI_SYSTEM_SETTINGS_PATH"]
    r = _gemini(gemini_env, _sr(maxAge="7d"), system=_sr(maxAge="3d"))
    assert (r.days, r.setting) == (3, f"{system}: general.sessionRetention")  # the system file overrides
    assert _gemini(gemini_env, _sr(maxAge="7d"), defaults=_sr(maxAge="3d")).days == 7  # defaults yield
    assert _gemini(gemini_env, None, defaults=_sr(enabled=False)) is None
    assert _gemini(gemini_env, _sr(enabled=True), defaults=_sr(enabled=False)).days == 30
    assert _gemini(gemini_env, None, system="{").days is None


def test_claude_code_zero_and_config_dir(tmp_path):
    """Claude Code's documented range starts at 1 day; older versions took 0
    (see the report: the lead decides). A moved config folder is honoured."""
    other = _write(tmp_path / "cfg" / "settings.json", '{"cleanupPeriodDays": 9}').parent
    assert claude_retention({"CLAUDE_CONFIG_DIR": str(other)}, _user()).days == 9
