"""The usage ledger (store/usage.py), reports (usage.py), prices (prices.py) and
`polylogue usage`: real SQLite archives built by sync from Claude Code logs, or
by the real encoder and writer from generated conversations."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import Archive
from polylogue import models as m
from polylogue.store.db import open_writer
from polylogue.store.encode import encode
from polylogue.store.usage import forget_conversations, verify
from polylogue.store.writer import Writer
from polylogue.usage import usage_report

REPO = Path(__file__).resolve().parent.parent
LANES4 = ("responses", "input", "output", "cache_read", "cache_write")


# -- Claude Code logs --------------------------------------------------------------
def _user(uuid, parent, session, text, ts):
    return {"type": "user", "uuid": uuid, "parentUuid": parent, "sessionId": session, "cwd": "/work/proj",
            "timestamp": ts, "message": {"role": "user", "content": text}}  # fmt: skip


def _assistant(uuid, parent, session, mid, req, out, ts, text="ok", model="claude-sonnet-4-5-20250929"):
    usage = {"input_tokens": 10, "output_tokens": out, "cache_read_input_tokens": 1000,
             "cache_creation_input_tokens": 200}  # fmt: skip
    return {"type": "assistant", "uuid": uuid, "parentUuid": parent, "sessionId": session, "cwd": "/work/proj",
            "requestId": req, "timestamp": ts,
            "message": {"id": mid, "role": "assistant", "model": model, "content": [{"type": "text", "text": text}],
                        "usage": usage}}  # fmt: skip


def _write(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _session_a(session="s-a"):
    # one response streamed as two records: the first carries a partial output count
    return [
        _user("u1", None, session, "hello", "2025-09-01T10:00:00Z"),
        _assistant("a1", "u1", session, "msg_1", "req_1", 3, "2025-09-01T10:00:01Z", "thinking about it"),
        _assistant("a2", "a1", session, "msg_1", "req_1", 50, "2025-09-01T10:00:02Z", "the answer"),
    ]


def _totals(home: Path, **kw) -> dict:
    with Archive(home) as a:
        return {k: a.usage("daily", tz="UTC", **kw)["totals"][k] for k in LANES4}


def _problems(home: Path) -> list[str]:
    conn = open_writer(home / "polylogue.db")
    try:
        return verify(conn)
    finally:
        conn.close()


def test_claude_code_response_counted_once_across_records_resumed_files_and_subagents(tmp_path):
    logs = tmp_path / "projects" / "-work-proj"
    _write(logs / "s-a.jsonl", _session_a())
    # a resumed session repeats the earlier records in a new file, then goes on
    resumed = [dict(r, sessionId="s-b") for r in _session_a()] + [
        _user("u2", "a2", "s-b", "more", "2025-09-01T11:00:00Z"),
        _assistant("a3", "u2", "s-b", "msg_2", "req_2", 7, "2025-09-01T11:00:01Z"),
    ]
    _write(logs / "s-b.jsonl", resumed)
    # a subagent's own response, in its file under the session
    _write(logs / "s-a" / "subagents" / "agent-x.jsonl", [
        dict(_user("x1", None, "s-a", "task", "2025-09-01T10:05:00Z"), isSidechain=True, agentId="x"),
        dict(_assistant("x2", "x1", "s-a", "msg_3", "req_3", 11, "2025-09-01T10:05:01Z"), isSidechain=True, agentId="x"),
    ])  # fmt: skip
    home = tmp_path / "home"
    with Archive(home) as a:
        assert not a.sync([tmp_path / "projects"]).errors
    t = _totals(home)
    # three responses: msg_1 (once, with the final record's 50 output tokens), msg_2, msg_3
    assert t == {"responses": 3, "input": 30, "output": 50 + 7 + 11, "cache_read": 3000, "cache_write": 600}
    assert _problems(home) == []


def test_rewritten_or_forgotten_holder_hands_over(tmp_path):
    logs = tmp_path / "projects" / "-work-proj"
    _write(logs / "s-a.jsonl", _session_a("s-a"))
    _write(logs / "s-b.jsonl", [dict(r, sessionId="s-b") for r in _session_a()])
    home = tmp_path / "home"
    with Archive(home) as a:
        a.sync([tmp_path / "projects"])
    assert _totals(home)["responses"] == 1
    conn = open_writer(home / "polylogue.db")
    try:
        cid = conn.execute("SELECT id FROM conversations WHERE provider_id = 's-a'").fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        forget_conversations(conn, [cid])
        conn.execute(f"DELETE FROM messages WHERE id >> 24 = {cid}")
        conn.execute("COMMIT")
        assert verify(conn) == []
        # the other file's copy of the response now counts it: still once
        row = conn.execute("SELECT sum(responses), sum(output) FROM usage_rollup WHERE span = 96").fetchone()
        assert row == (1, 50)
    finally:
        conn.close()


def test_incremental_sync_keeps_totals_exact(tmp_path):
    logs = tmp_path / "projects" / "-work-proj"
    log = logs / "s-a.jsonl"
    records = _session_a()
    _write(log, records)
    home = tmp_path / "home"
    with Archive(home) as a:
        a.sync([tmp_path / "projects"])
    more = [
        _user("u2", "a2", "s-a", "again", "2025-09-02T23:50:00Z"),
        _assistant("a3", "u2", "s-a", "msg_2", "req_2", 5, "2025-09-02T23:59:00Z", "partial"),
        _assistant("a4", "a3", "s-a", "msg_2", "req_2", 70, "2025-09-03T00:01:00Z", "final"),
    ]
    _write(log, records + more)
    with Archive(home) as a:
        a.sync([tmp_path / "projects"])
    fresh = tmp_path / "fresh"
    with Archive(fresh) as a:
        a.sync([tmp_path / "projects"])
    for tz in ("UTC", "Asia/Kathmandu", "America/Los_Angeles"):
        with Archive(home) as a, Archive(fresh) as b:
            assert a.usage("daily", tz=tz) == b.usage("daily", tz=tz)
    assert _problems(home) == []
    assert _totals(home)["output"] == 50 + 70


def test_migration_backfills_an_archive_without_the_ledger(tmp_path):
    logs = tmp_path / "projects" / "-work-proj"
    _write(logs / "s-a.jsonl", _session_a())
    _write(logs / "s-b.jsonl", [dict(r, sessionId="s-b") for r in _session_a()])
    home = tmp_path / "home"
    with Archive(home) as a:
        a.sync([tmp_path / "projects"])
        before = {p: a.usage(p, tz="UTC")["totals"] for p in ("daily", "session", "model", "project")}
    conn = sqlite3.connect(home / "polylogue.db")
    for t in ("usage_ledger", "usage_rollup", "usage_conversation"):
        conn.execute(f"DROP TABLE {t}")
    conn.execute("PRAGMA user_version = 6")  # what code before migration 7 left
    conn.commit()
    conn.close()
    open_writer(home / "polylogue.db").close()  # migrations 7 and 8 run
    with Archive(home) as a:
        assert {p: a.usage(p, tz="UTC")["totals"] for p in before} == before
    assert _problems(home) == []


# -- generated archives ------------------------------------------------------------------
MODELS = ("claude-sonnet-4-5-20250929", "gpt-5-codex", "mystery-model-9", "")
BASE = datetime(2025, 3, 29, tzinfo=UTC)  # a DST change in Europe follows


@st.composite
def _archives(draw):
    convs = []
    for c in range(draw(st.integers(1, 5))):
        msgs = []
        for i in range(draw(st.integers(0, 6))):
            usage = {
                "input": draw(st.integers(0, 300_000)),
                "output": draw(st.integers(0, 5000)),
                "cache_read": draw(st.integers(0, 5000)),
                "convention": draw(st.sampled_from(["anthropic", "openai", "gemini"])),
            }
            if draw(st.booleans()):
                usage["key"] = f"k{draw(st.integers(0, 6))}"  # responses shared between conversations
            ts = BASE + timedelta(minutes=draw(st.integers(0, 60 * 24 * 4)))
            msgs.append(m.Message(f"m{i}", m.ASSISTANT, [m.text("x")], timestamp=ts,
                                  model=draw(st.sampled_from(MODELS)) or None, usage=usage))  # fmt: skip
        meta = {"usage": {"input": 1000, "output": 10, "convention": "openai"}} if draw(st.booleans()) else {}
        convs.append(m.Conversation("gen", f"c{c}", messages=msgs, project=draw(st.sampled_from([None, "/a", "/b"])),
                                    updated_at=BASE, meta=meta))  # fmt: skip
    return convs, draw(st.sampled_from(["UTC", "Asia/Kathmandu", "Asia/Kolkata", "America/New_York", "Europe/Paris"]))


def _store(db: Path, convs) -> None:
    conn = open_writer(db)
    w = Writer(conn)
    for conv in convs:
        w.write(encode(conv), None)
    w.commit()
    conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_archives())
def test_totals_agree_by_day_session_model_and_project(tmp_path_factory, case):
    convs, tz = case
    home = tmp_path_factory.mktemp("gen")
    db = home / "polylogue.db"
    _store(db, convs)
    # rewrite one conversation: its responses may pass to another holder and back
    if convs and convs[0].messages:
        convs[0].messages = convs[0].messages[1:]
        convs[0].updated_at = BASE + timedelta(days=1)
        _store(db, convs[:1])
    conn = open_writer(db)
    try:
        assert verify(conn) == []
        totals = [
            {k: usage_report(conn, p, tz=tz)["totals"][k] for k in LANES4}
            for p in ("daily", "weekly", "monthly", "session", "model", "project")
        ]
        assert all(t == totals[0] for t in totals)
        daily = usage_report(conn, "daily", tz=tz)
        assert sum(r["output"] for r in daily["rows"]) == daily["totals"]["output"]
    finally:
        conn.close()


# -- prices and cost ------------------------------------------------------------------------
def _priced_archive(tmp_path: Path, model: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    conv = m.Conversation("gen", "one", messages=[
        m.Message("a", m.ASSISTANT, [m.text("x")], timestamp=BASE, model=model,
                  usage={"input": 100_000, "output": 1_000_000, "convention": "anthropic"})])  # fmt: skip
    _store(home / "polylogue.db", [conv])
    return home


def test_unknown_model_costs_null_never_zero(tmp_path):
    home = _priced_archive(tmp_path, "claude-sonnet-4-5-turbo-x")  # a known prefix, an unknown model
    with Archive(home) as a:
        r = a.usage("model", tz="UTC")
    row = r["rows"][0]
    assert row["cost"] is None and row["cost_complete"] is False
    assert row["unknown_models"] == ["claude-sonnet-4-5-turbo-x"]
    assert r["totals"]["cost"] is None


def test_dated_model_name_is_priced_and_user_table_overrides(tmp_path):
    home = _priced_archive(tmp_path, "claude-sonnet-4-5-20250929")
    with Archive(home) as a:
        assert a.usage("daily", tz="UTC")["totals"]["cost"] == pytest.approx(0.1 * 3 + 15)
    (home / "prices.json").write_text(json.dumps({"models": [{"model": "claude-sonnet-4-5", "input": 1, "output": 2}]}))
    with Archive(home) as a:
        assert a.usage("daily", tz="UTC")["totals"]["cost"] == pytest.approx(0.1 * 1 + 2)


def test_long_prompt_priced_at_long_context_rates(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    conv = m.Conversation("gen", "one", messages=[
        m.Message("a", m.ASSISTANT, [m.text("x")], timestamp=BASE, model="claude-sonnet-4-5",
                  usage={"input": 300_000, "output": 1_000_000, "convention": "anthropic"})])  # fmt: skip
    _store(home / "polylogue.db", [conv])
    with Archive(home) as a:
        assert a.usage("daily", tz="UTC")["totals"]["cost"] == pytest.approx(0.3 * 6 + 22.5)


# -- the command --------------------------------------------------------------------------
def _cli(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "polylogue", "--home", str(home), "usage", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60, env=env)  # fmt: skip


def test_cli_report_plain_when_piped_and_clear_errors(tmp_path):
    home = _priced_archive(tmp_path, "mystery-model-9")
    r = _cli(home, "daily", "--tz", "Asia/Kathmandu")
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stdout and "unknown" in r.stdout and "2025-03-29" in r.stdout
    j = json.loads(_cli(home, "--json", "--tz", "UTC", "model").stdout)
    assert j["period"] == "model" and j["rows"][0]["cost"] is None
    bad = _cli(home, "--tz", "Mars/Olympus")
    assert bad.returncode == 2 and "unknown time zone" in bad.stderr and "Traceback" not in bad.stderr
    bad = _cli(home, "yearly")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    prices = _cli(home, "prices", "--json")
    assert any(p["model"] == "claude-sonnet-4-5" for p in json.loads(prices.stdout)["prices"])


def test_prices_of_a_shared_archive_are_this_machines(tmp_path):
    """`--archive URL usage prices` lists the table the shared archive's reports are priced
    with: this machine's home's prices.json over the shipped rows (no server is asked)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "prices.json").write_text(json.dumps({"models": [{"model": "my-own-model", "input": 1, "output": 2}]}))
    r = subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), "--archive", "postgresql://u@127.0.0.1:1/db",
         "usage", "prices", "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["user_file"] == str(home / "prices.json")
    assert any(p["model"] == "my-own-model" for p in out["prices"])


def test_benchmark_smoke():
    r = subprocess.run([sys.executable, "benchmarks/usage.py", "--smoke"], capture_output=True, text=True,
                       cwd=REPO, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["usage_daily_ms"]["median"] > 0 and out["baseline_ms"]["median"] > 0
