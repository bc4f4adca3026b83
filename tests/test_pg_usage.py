"""The usage ledger on the shared archive: a push carries it (migration 2,
store/postgres/load.py), and `usage` on the server is the local `usage` on the
same data: the same kept totals row for row, the same reports in every period,
time zone and filter (hypothesis), a response held by two machines counted once,
incremental and idempotent like the rest of a push. A real PostgreSQL, real
archives (the shipped examples and a generated world)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import generated_world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_server import pg_server  # noqa: F401

from polylogue.api import Archive
from polylogue.pg_archive import PgArchive
from polylogue.push import push

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'polylogue[postgres]'")

REPO = Path(__file__).resolve().parent.parent
PERIODS = ("daily", "weekly", "monthly", "session", "project", "model")
ROLLUP = "span, slot, day, model, tier, long_ctx, level, provider, project"
SUMS = "responses, approximate, input, output, cache_read, cache_write, cache_write_5m, cache_write_1h, reasoning"


def _world(tmp: Path, conversations: int = 60, seed: int = 7) -> Path:
    return generated_world(tmp, conversations, seed, chars=160)


def _tables_local(a: Archive) -> tuple[list, list]:
    with a.reader() as c:
        roll = sorted(c.execute(f"SELECT {ROLLUP}, {SUMS} FROM usage_rollup").fetchall())
        conv = sorted(
            c.execute(
                f"SELECT c.uid, u.model, u.tier, u.long_ctx, u.level, {', '.join('u.' + s for s in SUMS.split(', '))}"
                " FROM usage_conversation u JOIN conversations c ON c.id = u.conversation_id"
            ).fetchall()
        )
    return roll, conv


def _tables_server(url: str) -> tuple[list, list]:
    with psycopg.connect(url) as c:
        roll = sorted(tuple(r) for r in c.execute(f"SELECT {ROLLUP}, {SUMS} FROM usage_rollup").fetchall())
        conv = sorted(
            tuple(r)
            for r in c.execute(
                f"SELECT c.uid, u.model, u.tier, u.long_ctx, u.level, {', '.join('u.' + s for s in SUMS.split(', '))}"
                " FROM usage_conversation u JOIN conversations c ON c.id = u.conversation_id"
            ).fetchall()
        )
    return roll, conv


def _same_reports(local: Archive, shared: PgArchive, **kw) -> None:
    for period in PERIODS:
        a = local.usage(period, **kw)
        b = shared.usage(period, **kw)
        assert b == a, (period, kw)


@pytest.fixture(scope="module", params=["examples", "world"])
def pair(request, pg_server, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp(f"usage-{request.param}")
    src = REPO / "examples" if request.param == "examples" else _world(tmp)
    local = Archive(tmp / "home")
    local.sync([src])
    url = pg_server.new_database(f"usage_{request.param}")
    push(local, url, machine="laptop")
    shared = PgArchive(url)
    yield local, shared, url
    shared.close()
    local.close()


def test_the_kept_totals_are_the_local_ones(pair):
    local, _, url = pair
    roll, conv = _tables_local(local)
    assert roll and conv, "the data has usage to compare"
    assert _tables_server(url) == (roll, conv)


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
def test_every_report_is_the_local_one(pair, tz):
    local, shared, _ = pair
    assert local.usage("daily", tz=tz)["totals"]["responses"] > 0
    _same_reports(local, shared, tz=tz)
    _same_reports(local, shared, tz=tz, breakdown=True)


def _choices(local: Archive) -> dict[str, list]:
    rows = local.usage("session", tz="UTC")["rows"]
    days = sorted(r["period"] for r in local.usage("daily", tz="UTC")["rows"] if r["period"] != "unknown")
    return {
        "provider": sorted({r["provider"] for r in rows}),
        "project": sorted({(r["project"] or "")[:6] for r in rows if r["project"]}),
        "model": sorted({m[:4] for r in rows for m in r["models"] if m != "unknown"}),
        "day": days,
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_reports_match_sqlite(pair, data):
    local, shared, _ = pair
    ch = _choices(local)
    kw: dict = {"tz": data.draw(st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Tokyo"]))}
    for name in ("provider", "project", "model"):
        if ch[name] and data.draw(st.booleans()):
            kw[name] = data.draw(st.sampled_from(ch[name]))
    if ch["day"] and data.draw(st.booleans()):
        kw["since"] = data.draw(st.sampled_from(ch["day"]))
    if ch["day"] and data.draw(st.booleans()):
        kw["until"] = data.draw(st.sampled_from(ch["day"]))
    period = data.draw(st.sampled_from(PERIODS))
    breakdown = data.draw(st.booleans())
    try:
        want = local.usage(period, breakdown=breakdown, **kw)
    except Exception as e:  # --since after --until: the same refusal
        with pytest.raises(type(e)):
            shared.usage(period, breakdown=breakdown, **kw)
        return
    assert shared.usage(period, breakdown=breakdown, **kw) == want


def test_stats_and_cli_show_the_usage(pair):
    from click.testing import CliRunner

    from polylogue import cli
    from polylogue.usage import stats_line

    local, shared, url = pair
    s = shared.stats()
    assert s["usage"] == local.stats()["usage"] and s["usage"]["responses"] > 0
    runner = CliRunner()
    r = runner.invoke(cli.cli, ["--archive", url, "stats"])
    assert r.exit_code == 0 and stats_line(s["usage"]) in r.output, r.output
    for args in (["usage", "--json", "--tz", "UTC"], ["usage", "monthly", "--json", "--tz", "UTC", "--breakdown"]):
        a = runner.invoke(cli.cli, ["--home", str(local.home), *args])
        b = runner.invoke(cli.cli, ["--archive", url, *args])
        assert b.exit_code == 0 and json.loads(b.stdout) == json.loads(a.stdout), b.output
    a = runner.invoke(cli.cli, ["--home", str(local.home), "usage", "session", "--tz", "UTC"])
    b = runner.invoke(cli.cli, ["--archive", url, "usage", "session", "--tz", "UTC"])
    assert b.exit_code == 0 and b.stdout == a.stdout


def _grow(jsonl: Path, n: int) -> None:
    """A Claude Code session's log gains a few more responses, each with its usage."""
    lines = jsonl.read_text().splitlines()
    last = json.loads(lines[-1])
    for i in range(n):
        rec = dict(last)
        rec["uuid"] = f"grown-{i}-{jsonl.stem}"
        rec["parentUuid"] = last.get("uuid")
        rec["type"] = "assistant"
        rec["requestId"] = f"req-grown-{i}"
        rec["message"] = {
            "id": f"msg-grown-{i}",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": f"more {i}"}],
            "usage": {"input_tokens": 100 + i, "output_tokens": 7, "cache_read_input_tokens": 1000},
        }
        lines.append(json.dumps(rec))
        last = rec
    jsonl.write_text("\n".join(lines) + "\n")


def test_two_machines_incremental_idempotent_and_an_older_server(pg_server, tmp_path):  # noqa: F811
    """The same conversations from two machines count once (as one archive holding them
    counts them); a push after a change moves the totals exactly; a repeated push
    changes nothing; a server whose ledger is missing (pushed before migration 2)
    gets it from the next push."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "examples", src)
    laptop, desk = Archive(tmp_path / "laptop"), Archive(tmp_path / "desk")
    laptop.sync([src])
    desk.sync([src])
    url = pg_server.new_database("usage_two")
    push(laptop, url, machine="laptop")
    push(desk, url, machine="desk")
    shared = PgArchive(url)
    _same_reports(laptop, shared, tz="UTC")
    assert _tables_server(url) == _tables_local(laptop)

    logs = sorted(p for p in src.rglob("*.jsonl") if '"requestId"' in p.read_text())
    assert logs, "the examples hold a Claude Code log"
    _grow(logs[0], 3)
    before = laptop.usage("daily", tz="UTC")["totals"]["responses"]
    desk.sync([src])
    assert desk.usage("daily", tz="UTC")["totals"]["responses"] == before + 3
    got = push(desk, url, machine="desk")
    assert got["conversations"] == got["written"] == 1
    _same_reports(desk, shared, tz="UTC")
    assert _tables_server(url) == _tables_local(desk)
    # the laptop's older copy of that conversation changes nothing; a repeated push neither
    assert push(laptop, url, machine="laptop")["conversations"] == 0
    assert push(desk, url, machine="desk")["conversations"] == 0
    assert _tables_server(url) == _tables_local(desk)

    # a server from before the ledger: its tables empty, the archive not marked
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("TRUNCATE usage_ledger, usage_rollup, usage_conversation")
        c.execute("UPDATE archives SET usage_pushed = false")
    assert shared.usage("daily", tz="UTC")["totals"]["responses"] == 0
    # each archive sends the ledger of the copies it wrote (the server's label says whose)
    got = push(desk, url, machine="desk")
    assert got["conversations"] == 0  # no conversation is sent again: only its ledger
    assert 0 < shared.usage("daily", tz="UTC")["totals"]["responses"] < before
    assert push(laptop, url, machine="laptop")["conversations"] == 0
    assert _tables_server(url) == _tables_local(desk)
    _same_reports(desk, shared, tz="UTC")
    with psycopg.connect(url) as c:
        assert c.execute("SELECT count(*) FROM archives WHERE usage_pushed").fetchone()[0] >= 1
    shared.close()
    laptop.close()
    desk.close()


def test_a_server_at_schema_1_is_read_then_upgraded_by_the_next_push(pg_server, tmp_path):  # noqa: F811
    """A reader never migrates: on a server still at v1 (before the ledger), `usage` says
    what to do and `stats` reports no usage; the next push migrates it and sends every
    held conversation's ledger, no conversation again."""
    from polylogue.errors import ArchiveNeedsUpgrade

    a = Archive(tmp_path / "home")
    a.sync([REPO / "examples"])
    url = pg_server.new_database("usage_v1")
    push(a, url, machine="laptop")
    with psycopg.connect(url, autocommit=True) as c:  # back to schema 1, as a server pushed before migration 2
        c.execute("DROP TABLE usage_ledger, usage_rollup, usage_conversation")
        c.execute("ALTER TABLE archives DROP COLUMN usage_pushed")
        c.execute("UPDATE polylogue_schema SET version = 1")
    with PgArchive(url) as shared:
        with pytest.raises(ArchiveNeedsUpgrade, match="no usage ledger yet"):
            shared.usage()
        assert shared.stats()["usage"]["responses"] == 0
    got = push(a, url, machine="laptop")
    assert got["conversations"] == 0
    with PgArchive(url) as shared:
        _same_reports(a, shared, tz="UTC")
        assert shared.stats()["usage"] == a.stats()["usage"]
        assert shared.check() == {
            "ok": True,
            "messages": a.stats()["messages"],
            "indexed": a.stats()["messages"],
            "problems": [],
        }
    assert _tables_server(url) == _tables_local(a)
    a.close()
