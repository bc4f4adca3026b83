"""Usage reports against an oracle, and their terminal output: each day of any time
zone (odd offsets, DST days) holds exactly what its messages' local dates say; the
per-session page is the newest conversations; `stats`' line; the plain table
(aligned, wide characters, escapes neutralised). Real SQLite archives written by
the real encoder and writer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import models as m
from polylogue.commands.usage import _clip, table, width
from polylogue.store.db import open_writer
from polylogue.store.encode import encode
from polylogue.store.writer import Writer
from polylogue.usage import _short, stats_line, stats_summary, usage_report

REPO = Path(__file__).resolve().parent.parent
# 2025-03-28 .. 2025-04-09 holds DST ends and starts: Europe (Mar 30), Auckland and
# Chatham (Apr 6), Lord Howe (a half-hour change, Apr 6); the others have odd offsets
BASE = datetime(2025, 3, 28, tzinfo=UTC)
ZONES = ("UTC", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe", "Pacific/Chatham",
         "Europe/London", "Pacific/Auckland", "America/Los_Angeles", "Pacific/Kiritimati")  # fmt: skip


def _store(db: Path, convs) -> None:
    conn = open_writer(db)
    w = Writer(conn)
    for conv in convs:
        w.write(encode(conv), None)
    w.commit()
    conn.close()


@st.composite
def _timed(draw):
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 12), min_size=1, max_size=30))
    stamps = [BASE + timedelta(minutes=x, seconds=draw(st.integers(0, 59))) for x in minutes]
    return stamps, draw(st.sampled_from(ZONES)), draw(st.sampled_from(["daily", "weekly", "monthly"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_timed())
def test_every_local_day_holds_what_its_messages_local_dates_say(tmp_path_factory, case):
    stamps, tz, period = case
    home = tmp_path_factory.mktemp("oracle")
    msgs = [m.Message(f"m{i}", m.ASSISTANT, [m.text("x")], timestamp=ts, model="claude-sonnet-4-5",
                      usage={"input": 1, "output": 1000 + i, "convention": "anthropic"})
            for i, ts in enumerate(stamps)]  # fmt: skip
    # two conversations, so the rows also pass through more than one ledger batch
    half = len(msgs) // 2
    _store(home / "polylogue.db", [m.Conversation("gen", "a", messages=msgs[:half], updated_at=BASE),
                                   m.Conversation("gen", "b", messages=msgs[half:], updated_at=BASE)])  # fmt: skip
    want: dict[str, int] = defaultdict(int)
    for i, ts in enumerate(stamps):
        d = ts.astimezone(ZoneInfo(tz) if tz != "UTC" else UTC).date()
        label = {"daily": d, "weekly": d - timedelta(days=d.weekday()), "monthly": d}[period]
        want[label.strftime("%Y-%m") if period == "monthly" else label.isoformat()] += 1000 + i
    conn = open_writer(home / "polylogue.db")
    try:
        got = {r["period"]: r["output"] for r in usage_report(conn, period, tz=tz)["rows"]}
        assert got == dict(want)
        # a bounded range: the same days, cut at its ends
        days = sorted(ts.astimezone(ZoneInfo(tz) if tz != "UTC" else UTC).date() for ts in stamps)
        lo = days[len(days) // 2]
        ranged = usage_report(conn, "daily", tz=tz, since=lo.isoformat())
        assert ranged["totals"]["output"] == sum(
            1000 + i for i, ts in enumerate(stamps) if ts.astimezone(ZoneInfo(tz) if tz != "UTC" else UTC).date() >= lo
        )
    finally:
        conn.close()


def test_session_page_is_the_newest_and_totals_count_every_session(tmp_path):
    convs = [
        m.Conversation("gen", f"c{c}", updated_at=BASE + timedelta(hours=c), messages=[
            m.Message("a", m.ASSISTANT, [m.text("x")], timestamp=BASE + timedelta(hours=c), model="gpt-5",
                      usage={"input": 10, "output": c, "convention": "openai"})])
        for c in range(1, 13)
    ]  # fmt: skip
    _store(tmp_path / "polylogue.db", convs)
    conn = open_writer(tmp_path / "polylogue.db")
    try:
        r = usage_report(conn, "session", tz="UTC", limit=5)
        assert [row["output"] for row in r["rows"]] == [12, 11, 10, 9, 8]
        assert r["totals"]["output"] == sum(range(1, 13)) and r["totals"]["responses"] == 12
        r = usage_report(conn, "session", tz="UTC", since="2025-03-28", until="2025-03-28", limit=3)
        hours = [c for c in range(1, 13) if (BASE + timedelta(hours=c)).date() == BASE.date()]
        assert r["totals"]["output"] == sum(hours)
        assert [row["output"] for row in r["rows"]] == sorted(hours, reverse=True)[:3]
    finally:
        conn.close()


@given(st.integers(0, 10**16))
def test_short_counts_keep_three_significant_digits(n):
    s = _short(n)
    if n < 1000:
        assert s == str(n)
        return
    units = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
    value = float(s[:-1].replace(",", "")) * units[s[-1]]
    assert abs(value - n) <= n * 0.006  # rounded to three digits
    assert not s.startswith("1000") and "e" not in s


def test_stats_line_says_unknown_never_zero(tmp_path):
    _store(tmp_path / "polylogue.db", [m.Conversation("gen", "a", updated_at=BASE, messages=[
        m.Message("a", m.ASSISTANT, [m.text("x")], timestamp=BASE, model="mystery-model-9",
                  usage={"input": 1_500_000, "output": 2_000, "convention": "anthropic"})])])  # fmt: skip
    conn = open_writer(tmp_path / "polylogue.db")
    try:
        line = stats_line(stats_summary(conn))
    finally:
        conn.close()
    assert line == (
        "Usage: 1 response, 1.50M tokens (input 1.50M, output 2.00K, cache read 0, cache write 0), "
        "cost unknown: 1 model without a price (polylogue usage prices)"
    )
    assert stats_line({"responses": 0}) == "Usage: none recorded"
    assert stats_line({"responses": 2, "input": 3, "output": 4, "cache_read": 0, "cache_write": 0, "cost": 0.004}) == (
        "Usage: 2 responses, 7 tokens (input 3, output 4, cache read 0, cache write 0), cost $0.00"
    )


# -- the terminal table ---------------------------------------------------------------
def test_table_aligns_wide_characters_and_right_aligns_figures():
    body = [(["日本語のタイトル", "1,234"], ""), (["plain", "5"], "\x1b[2m")]
    lines = table(["Title", "Input"], body, ["Total", "1,239"], 1, colour=False)
    ends = {width(line) for line in lines if not line.startswith("\u2500")}
    assert len(ends) == 1  # every figure ends in the same column
    assert "\x1b" not in "".join(lines)  # no colour asked: no escapes, even a row's style
    assert width("日本") == 4 and width("e\u0301") == 1
    assert width(_clip("日本語のタイトルです", 7)) <= 7 and _clip("short", 7) == "short"


@given(st.text(min_size=0, max_size=30))
def test_clip_never_exceeds_its_width(text):
    assert width(_clip(text, 10)) <= 10


def _cli(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "polylogue", "--home", str(home), "usage", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60, env=env)  # fmt: skip


def test_terminal_report_neutralises_archive_text_and_keeps_totals_and_bars(tmp_path):
    hostile = "evil\x1b]52;c;aGk=\x07model"
    title = "\x1b[2Jwiped 日本"
    _store(tmp_path / "polylogue.db", [m.Conversation("gen", "a", title=title, updated_at=BASE, messages=[
        m.Message("a", m.ASSISTANT, [m.text("x")], timestamp=BASE, model=hostile,
                  usage={"input": 100, "output": 20, "convention": "anthropic"})])])  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1"}
    for args in (["daily", "--breakdown", "--tz", "UTC"], ["session", "--tz", "UTC"], ["model", "--tz", "UTC"]):
        r = _cli(tmp_path, *args, env=env)
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout and "\x07" not in r.stdout
        assert "Total" in r.stdout and "unknown" in r.stdout
    daily = _cli(tmp_path, "daily", "--tz", "UTC", env=env).stdout
    assert "2025-03-28 \u2588" in daily  # the bar chart of the period
    assert "2025-03-28" in daily.splitlines()[4] and daily.splitlines()[4].split()[1:3] == ["100", "20"]
