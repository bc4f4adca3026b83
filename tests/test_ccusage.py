"""Cross-check against ccusage 18 (docs/usage.md, "Against ccusage"): the shared
Claude Code samples laid out as a Claude config folder, `ccusage daily --json
--offline` beside `polylogue usage daily` in UTC.

Input, cache-read and cache-creation tokens must agree day by day, except for one
named record. Output tokens differ, and the test says why from the logs
themselves: a streamed response is written as several records sharing
``message.id`` + ``requestId``; the first record's ``output_tokens`` is a partial
count, the last one the response's. ccusage keeps the first record of each
response; we keep the response's final count."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from polylogue import Archive

# An assistant record with usage but no message.id, requestId or uuid
# (Sinity__polylogue__claude-normalization-main.jsonl, line 13, 2026-07-01): ccusage
# drops it; we count it as its own response (nothing can repeat it: it has no id).
IDLESS = {"2026-07-01": {"input": 25, "cache_read": 75, "cache_write": 5, "output": 8}}
IDLESS_RECORD = ("Sinity__polylogue__claude-normalization-main.jsonl", 13)


def _records(folder: Path):
    for f in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("type") == "assistant" and isinstance(rec.get("message"), dict):
                yield f.name, n, rec


def _streamed_outputs(folder: Path) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Per UTC day: output of each response's first record, and of its last; and
    the responses whose first and last records differ, named by file and line."""
    groups: dict[tuple, list] = defaultdict(list)
    for name, n, rec in _records(folder):
        msg = rec["message"]
        usage = msg.get("usage")
        if not isinstance(usage, dict) or msg.get("model") == "<synthetic>":
            continue
        if (name, n) == IDLESS_RECORD:
            continue
        mid, req = msg.get("id"), rec.get("requestId")
        # a record without both ids is a response of its own, for ccusage as for us
        groups[(mid, req) if mid and req else (name, n)].append(
            (name, n, rec["timestamp"][:10], usage.get("output_tokens") or 0)
        )
    first: dict[str, int] = defaultdict(int)
    last: dict[str, int] = defaultdict(int)
    named = []
    for (mid, _req), recs in groups.items():
        first[recs[0][2]] += recs[0][3]
        last[recs[0][2]] += max(r[3] for r in recs)
        if recs[0][3] != max(r[3] for r in recs):
            named.append(f"{recs[0][0]}:{recs[0][1]} {mid}: first record {recs[0][3]}, final {max(r[3] for r in recs)}")
    return first, last, named


@pytest.fixture
def config_dir(samples, tmp_path) -> Path:
    proj = tmp_path / "claude" / "projects" / "samples"
    proj.mkdir(parents=True)
    for f in (samples / "claude-code").glob("*.jsonl"):
        shutil.copy(f, proj / f.name)
    return tmp_path / "claude"


def _ccusage(config: Path) -> dict:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed: the ccusage cross-check cannot run (docs/usage.md has its last results)")
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config), "TZ": "UTC"}
    r = subprocess.run([npx, "-y", "ccusage@18", "daily", "--json", "--offline"], capture_output=True, text=True,
                       env=env, timeout=600, cwd=config)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"ccusage did not run (no npm registry?): {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout)


@pytest.mark.slow
def test_daily_totals_agree_with_ccusage(config_dir, tmp_path):
    cc = {d["date"]: d for d in _ccusage(config_dir)["daily"]}
    with Archive(tmp_path / "home") as a:
        a.sync([config_dir / "projects"])
        ours = {r["period"]: r for r in a.usage("daily", tz="UTC", provider="claude-code")["rows"]}
    assert set(ours) == set(cc)
    for day, theirs in cc.items():
        mine, idless = ours[day], IDLESS.get(day, {})
        assert mine["input"] - idless.get("input", 0) == theirs["inputTokens"], day
        assert mine["cache_read"] - idless.get("cache_read", 0) == theirs["cacheReadTokens"], day
        assert mine["cache_write"] - idless.get("cache_write", 0) == theirs["cacheCreationTokens"], day
    first, last, named = _streamed_outputs(config_dir / "projects" / "samples")
    for day, theirs in cc.items():
        # ccusage: each response's first streamed record; we: its final count
        assert theirs["outputTokens"] == first[day], day
        assert ours[day]["output"] - IDLESS.get(day, {}).get("output", 0) == last[day], (day, named)
    assert sum(d["outputTokens"] for d in cc.values()) < sum(r["output"] for r in ours.values()), named
