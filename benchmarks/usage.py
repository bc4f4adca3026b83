"""`polylogue usage daily` end to end (a CLI process, as a user runs it) on an
archive, beside baselines measured in the same run: `polylogue stats` (a process
that opens the archive and reads kept totals) and a naive report, one GROUP BY
over the messages (what a report without the ledger would at least cost).

    python benchmarks/usage.py --home /tmp/me-h100k [--runs 7]
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


CPU: dict[str, list[float]] = {}  # CPU time (user + system) of each CLI process, per label


def _cli(home: Path, *args: str, label: str | None = None) -> float:
    """Wall time (ms) of one CLI process; its CPU time goes to CPU[label] (on a busy
    machine the CPU time is the steadier figure)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
    )
    if r.returncode:
        raise SystemExit(f"polylogue {' '.join(args)} failed: {r.stderr.strip()}")
    wall = (time.perf_counter() - t) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    CPU.setdefault(label or " ".join(args), []).append(cpu)
    return wall


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
    ap.add_argument("--smoke", action="store_true", help="a tiny generated archive, 2 runs")
    ap.add_argument("--naive", action="store_true", help="also time the naive GROUP BY over messages")
    args = ap.parse_args()
    tmp = None
    if args.smoke:
        tmp = tempfile.TemporaryDirectory()
        home, runs, naive = _smoke_archive(Path(tmp.name)), 2, True
    elif args.home:
        home, runs, naive = args.home, args.runs, args.naive
    else:
        ap.error("--home or --smoke")
    out: dict = {"home": str(home), "runs": runs}
    _cli(home, "usage", "daily", "--json", "--tz", "UTC")  # warm the page cache
    by_zone = {}
    for zone in ZONES:
        by_zone[zone] = _stats([_cli(home, "usage", "daily", "--json", "--tz", zone, label=zone) for _ in range(runs)])
    out["usage_daily_by_zone_ms"] = by_zone
    out["usage_daily_ms"] = max(by_zone.values(), key=lambda s: s["median"])
    out["usage_daily_table_ms"] = _stats([_cli(home, "usage", "daily", label="table") for _ in range(runs)])
    out["baseline_ms"] = _stats([_cli(home, "stats", "--json", label="stats") for _ in range(runs)])
    out["cpu_ms"] = {k: _stats(v) for k, v in CPU.items()}
    out["baseline"] = "polylogue stats --json, same archive, same run"
    if naive:
        out["naive_group_by_messages_ms"] = _stats([_naive(home) for _ in range(max(1, runs // 2))])
    conn = sqlite3.connect(f"file:{home / 'polylogue.db'}?mode=ro", uri=True)
    out["rollup_rows"] = conn.execute("SELECT count(*) FROM usage_rollup").fetchone()[0]
    out["ledger_rows"] = conn.execute("SELECT count(*) FROM usage_ledger").fetchone()[0]
    conn.close()
    print(json.dumps(out, indent=1))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
