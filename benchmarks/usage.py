"""`polylogue usage` end to end (a CLI process, as a user runs it) on an archive,
beside baselines measured in the same run: the bare interpreter, `polylogue
--version` (the CLI's own start-up), `polylogue stats --json` (a process that
opens the archive and reads kept totals) and, with --naive, a naive report (one
GROUP BY over the messages: what a report without the ledger would at least cost).

Each round runs every case once, in turn, so a busy machine's noise falls on all
of them alike. Wall and CPU time (user + system of the process) per case: on a
loaded machine the CPU time is the steadier figure.

    nice python benchmarks/usage.py --home /tmp/me-h100k [--runs 7] [--naive]
    python benchmarks/usage.py --smoke

The archive must be at the current schema (copy a bench archive and open it with
store.db.open_writer first: migration 7 fills the ledger). Prints JSON."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ZONES = ("UTC", "America/Los_Angeles", "Asia/Kathmandu", "Pacific/Auckland")


def cases() -> dict[str, list[str]]:
    """CLI arguments per case (after --home); a None entry is the bare interpreter."""
    out: dict[str, list[str]] = {f"daily json {z}": ["usage", "daily", "--json", "--tz", z] for z in ZONES}
    out |= {
        "daily table UTC": ["usage", "daily", "--tz", "UTC"],
        "daily table Asia/Kathmandu": ["usage", "daily", "--tz", "Asia/Kathmandu"],
        "daily breakdown json": ["usage", "daily", "--breakdown", "--json", "--tz", "UTC"],
        "daily breakdown table": ["usage", "daily", "--breakdown", "--tz", "UTC"],
        "monthly table": ["usage", "monthly", "--tz", "UTC"],
        "session json": ["usage", "session", "--json", "--tz", "UTC"],
        "session table": ["usage", "session", "--tz", "UTC"],
        "model json": ["usage", "model", "--json", "--tz", "UTC"],
        "model table": ["usage", "model", "--tz", "UTC"],
        "project table": ["usage", "project", "--tz", "UTC"],
        "baseline: stats json": ["stats", "--json"],
        "baseline: polylogue --version": ["--version"],
    }
    return out


def _run(home: Path, args: list[str] | None) -> tuple[float, float, int]:
    """Wall and CPU time (ms) of one process, and the lines it printed."""
    cmd = (
        [sys.executable, "-c", "pass"]
        if args is None
        else [sys.executable, "-m", "polylogue", "--home", str(home), *args]
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "NO_COLOR": "1"})
    wall = (time.perf_counter() - t) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu, r.stdout.count("\n")


def _naive(home: Path) -> float:
    t = time.perf_counter()
    conn = sqlite3.connect(f"file:{home / 'polylogue.db'}?mode=ro", uri=True)
    conn.execute(
        "SELECT timestamp / 86400000, model, count(*) FROM messages WHERE usage IS NOT NULL GROUP BY 1, 2"
    ).fetchall()
    conn.close()
    return (time.perf_counter() - t) * 1000


def _stats(xs: list[float]) -> dict:
    return {"median": round(statistics.median(xs), 1), "min": round(min(xs), 1), "max": round(max(xs), 1)}


def _smoke_archive(root: Path) -> Path:
    """A small generated archive (real encoder and writer)."""
    from polylogue import models as m
    from polylogue.store.db import open_writer
    from polylogue.store.encode import encode
    from polylogue.store.writer import Writer

    home = root / "home"
    home.mkdir()
    conn = open_writer(home / "polylogue.db")
    w = Writer(conn)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for c in range(200):
        msgs = [
            m.Message(f"m{i}", m.ASSISTANT, [m.text("x")], timestamp=base + timedelta(hours=c * 7 + i),
                      model=f"model-{c % 5}", usage={"input": 100 + i, "output": 10, "key": f"r{c}-{i}"})
            for i in range(10)
        ]  # fmt: skip
        w.write(encode(m.Conversation("gen", f"c{c}", messages=msgs, project=f"/p{c % 3}")), None)
    w.commit()
    conn.close()
    return home


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, help="a migrated archive home (never a shared bench archive: copy it)")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--smoke", action="store_true", help="a tiny generated archive, 1 run")
    ap.add_argument("--naive", action="store_true", help="also time the naive GROUP BY over messages")
    args = ap.parse_args()
    tmp = None
    if args.smoke:
        tmp = tempfile.TemporaryDirectory()
        home, runs, naive = _smoke_archive(Path(tmp.name)), 1, True
    elif args.home:
        home, runs, naive = args.home, args.runs, args.naive
    else:
        ap.error("--home or --smoke")
    todo: dict[str, list[str] | None] = {**cases(), "baseline: python -c pass": None}
    for a in todo.values():  # warm the page cache
        _run(home, a)
    wall: dict[str, list[float]] = {k: [] for k in todo}
    cpu: dict[str, list[float]] = {k: [] for k in todo}
    lines: dict[str, int] = {}
    for i in range(runs):
        names = list(todo) if i % 2 == 0 else list(todo)[::-1]
        for name in names:
            w, c, n = _run(home, todo[name])
            wall[name].append(w)
            cpu[name].append(c)
            lines[name] = n
    out: dict = {"home": str(home), "runs": runs, "machine_load": round(os.getloadavg()[0], 1)}
    out["cases"] = {k: {"wall_ms": _stats(wall[k]), "cpu_ms": _stats(cpu[k]), "lines": lines[k]} for k in todo}
    daily = {z: out["cases"][f"daily json {z}"] for z in ZONES}
    worst = max(daily, key=lambda z: daily[z]["wall_ms"]["median"])
    out["usage_daily_ms"] = {**daily[worst]["wall_ms"], "zone": worst, "cpu_median": daily[worst]["cpu_ms"]["median"]}
    out["baseline_ms"] = {**out["cases"]["baseline: stats json"]["wall_ms"]}
    out["baseline"] = "polylogue stats --json, same archive, same run"
    if naive:
        out["naive_group_by_messages_ms"] = _stats([_naive(home) for _ in range(max(1, runs // 2))])
    conn = sqlite3.connect(f"file:{home / 'polylogue.db'}?mode=ro", uri=True)
    out["rollup_rows"] = conn.execute("SELECT count(*) FROM usage_rollup").fetchone()[0]
    out["ledger_rows"] = conn.execute("SELECT count(*) FROM usage_ledger").fetchone()[0]
    out["messages"] = conn.execute("SELECT sum(messages) FROM provider_totals").fetchone()[0]
    conn.close()
    print(json.dumps(out, indent=1))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
