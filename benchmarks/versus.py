#!/usr/bin/env python3
"""Old code against new, in one run: import and search with the package as it
was at a git revision ("before") and as it is now ("after": the working tree,
or --after REV).

    python benchmarks/versus.py --before REV [--after REV] [--data DIR | --conversations N]
                                [--rounds 3] [--search-rounds 6] [--search-repeat 3] [--smoke]

A refactor must not slow anything down, and this machine is noisy, so both
sides run on the same data in the same run, in fresh processes, alternating
which goes first:

  1. import: `polylogue sync DATA` into a fresh home, per side per round
     (wall seconds and the peak PSS of the process tree, workers included);
  2. search: benchmarks/search.py's query set, chosen from the archive; each
     side searches a copy of the same archive (when both code versions read
     the same schema; else each its own), in a fresh process per round
     (benchmarks/read_worker.py), each query run --search-repeat times,
     cache off, limit 20.

Ratios are after / before of medians (below 1: the new code is faster), and
the "steady" ratio is the median over rounds of each round's best. Prints one
JSON object."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, emit, run_measured
from benchmarks.ingest import generate
from benchmarks.read_worker import run_worker
from benchmarks.search import choose_queries, percentile
from benchmarks.storage import code_at


def _env(code: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code)
    return env


def import_once(code: Path, data: Path, home: Path) -> dict:
    """One full import with the code in ``code`` (a fresh process tree). It runs in
    that folder: `python -m` puts the working directory first on sys.path, so from
    anywhere else it could import another copy of the package."""
    shutil.rmtree(home, ignore_errors=True)
    cmd = [sys.executable, "-m", "polylogue", "--home", str(home), "sync", str(data), "--json"]
    r = run_measured(cmd, env=_env(code), cwd=code)
    if r["returncode"] not in (0, 3):
        raise SystemExit(f"sync failed with {code}: {r['stderr'][-2000:]!r}")
    report = json.loads(r["stdout"])
    return {
        "seconds": r["seconds"],
        "cpu_seconds": r["cpu_seconds"],
        "peak_pss_mb": r["peak_pss_bytes"] / 2**20,
        "messages": report["messages"]["new"],
    }


def schema_version(home: Path) -> int:
    conn = sqlite3.connect(f"file:{home / 'polylogue.db'}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def search_once(code: Path, home: Path, queries: dict[str, str], repeat: int, work: Path) -> dict[str, list[float]]:
    spec = work / "spec.json"
    spec.write_text(json.dumps({"ids": [], "queries": queries, "warmup": 0, "search_repeat": repeat}))
    return run_worker(code, home, spec, cwd=code)["search_ms"]


def _ratio(after: list[float], before: list[float]) -> float:
    return round(statistics.median(after) / max(statistics.median(before), 1e-9), 3)


def _side(xs: list[float]) -> dict:
    return {"p50": round(statistics.median(xs), 3), "p99": round(percentile(xs, 99), 3), "n": len(xs)}


def versus_import(codes: dict[str, Path], data: Path, rounds: int, work: Path) -> tuple[dict, dict[str, Path]]:
    runs: dict[str, list[dict]] = {k: [] for k in codes}
    homes = {k: work / f"home-{k}" for k in codes}
    order = list(codes)
    for i in range(rounds):
        for side in order if i % 2 == 0 else order[::-1]:
            runs[side].append(import_once(codes[side], data, homes[side]))
    seconds = {k: [r["seconds"] for r in v] for k, v in runs.items()}
    cpu = {k: [r["cpu_seconds"] for r in v] for k, v in runs.items()}
    pss = {k: [r["peak_pss_mb"] for r in v] for k, v in runs.items()}
    return {
        "rounds": rounds,
        "messages": runs["after"][-1]["messages"],
        "seconds": {k: [round(s, 2) for s in v] for k, v in seconds.items()},
        "peak_pss_mb": {k: [round(s, 1) for s in v] for k, v in pss.items()},
        "seconds_ratio": _ratio(seconds["after"], seconds["before"]),
        "best_seconds_ratio": round(min(seconds["after"]) / min(seconds["before"]), 3),
        "cpu_seconds": {k: [round(s, 1) for s in v] for k, v in cpu.items()},
        "cpu_ratio": _ratio(cpu["after"], cpu["before"]),
        "peak_pss_ratio": _ratio(pss["after"], pss["before"]),
    }, homes


def versus_search(codes: dict[str, Path], homes: dict[str, Path], rounds: int, repeat: int, work: Path) -> dict:
    same = schema_version(homes["after"]) == schema_version(homes["before"])
    if same:  # the very same index: only the code differs
        for side in codes:
            if side != "after":
                shutil.rmtree(homes[side])
                shutil.copytree(homes["after"], homes[side])
    queries = choose_queries(homes["after"] / "polylogue.db")
    times: dict[str, dict[str, list[float]]] = {k: {q: [] for q in queries} for k in codes}
    best: dict[str, dict[str, list[float]]] = {k: {q: [] for q in queries} for k in codes}
    order = list(codes)
    for i in range(rounds):
        for side in order if i % 2 == 0 else order[::-1]:
            got = search_once(codes[side], homes[side], queries, repeat, work)
            for q, ms in got.items():
                times[side][q] += ms
                best[side][q].append(min(ms))
    per_query = {
        q: {
            "query": text,
            "after": _side(times["after"][q]),
            "before": _side(times["before"][q]),
            "p50_ratio": _ratio(times["after"][q], times["before"][q]),
            "steady_ratio": _ratio(best["after"][q], best["before"][q]),
        }
        for q, text in queries.items()
    }
    every = {k: [t for q in queries for t in times[k][q]] for k in codes}
    return {
        "same_archive": same,
        "rounds": rounds,
        "repeat": repeat,
        "overall": {
            "after": _side(every["after"]),
            "before": _side(every["before"]),
            "p50_ratio": _ratio(every["after"], every["before"]),
            "p99_ratio": round(percentile(every["after"], 99) / max(percentile(every["before"], 99), 1e-9), 3),
        },
        "queries": per_query,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="git revision of the old code")
    ap.add_argument("--after", help="git revision of the new code (default: the working tree)")
    ap.add_argument("--data", type=Path, help="an existing generated tree (else one is generated)")
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=50)
    ap.add_argument("--chars", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3, help="imports per side")
    ap.add_argument("--search-rounds", type=int, default=6, help="fresh search processes per side")
    ap.add_argument("--search-repeat", type=int, default=3, help="runs of each query per process")
    ap.add_argument("--smoke", action="store_true", help="tiny scale, for the test suite")
    args = ap.parse_args(argv)
    if args.smoke:
        args.conversations, args.messages, args.rounds, args.search_rounds, args.search_repeat = 20, 10, 1, 1, 1
    work = Path(tempfile.mkdtemp(prefix="polylogue-versus-"))
    try:
        after = code_at(args.after, work / "after") if args.after else REPO
        codes = {"after": after, "before": code_at(args.before, work / "before")}
        data = args.data.resolve() if args.data else None
        if data is None:
            data = work / "data"
            generate(data, args.conversations, args.messages, args.chars, 1, [])
        imported, homes = versus_import(codes, data, args.rounds, work)
        result = {
            "before": args.before,
            "after": args.after or "working tree",
            "data": str(args.data) if args.data else f"generated: {args.conversations} conversations",
            "import": imported,
            "search": versus_search(codes, homes, args.search_rounds, args.search_repeat, work),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(result)
    return result


if __name__ == "__main__":
    main()
