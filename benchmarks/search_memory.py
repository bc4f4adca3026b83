#!/usr/bin/env python3
"""Time and peak memory of single searches, each in a fresh process: the code
as it is against ``--before REV``, alternating, on the same archive.

    python benchmarks/search_memory.py --home ARCHIVE --query "that with this have"
                                       [--query ...] [--before REV] [--rounds 3] [--runs 4]
    python benchmarks/search_memory.py --smoke

For each query, side and round a new process opens the archive and runs the
search ``--runs`` times (cache off, limit 20); it reports each run's wall ms
and its own peak RSS (``ru_maxrss``). The archive's pages that a search maps
(readers map the file) count in that RSS, the same pages for both sides: the
difference between the sides is what each allocates (a SQLite sorter, Python
sets). Per query: the median over rounds of each side's best run, the largest
peak RSS of each side, and whether both sides gave the same totals. Prints one
JSON object."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, emit, generated_archive

_CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from polylogue.api import Archive
a = Archive(sys.argv[2])
times = []
for _ in range(int(sys.argv[4])):
    t = time.perf_counter()
    r = a.search(sys.argv[3], limit=20, cache=False)
    times.append((time.perf_counter() - t) * 1000)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"ms": times, "peak_rss_mb": peak, "totals": [r.total_messages, r.total_conversations]}))
"""


def _tree_of(rev: str) -> Path:
    tree = Path(tempfile.mkdtemp(prefix="polylogue-before-"))
    tar = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=tar, check=True)
    return tree


def _one(tree: Path, home: Path, query: str, runs: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tree), str(home.resolve()), query, str(runs)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # not the repository: its package would come first on sys.path
    ).stdout
    return json.loads(out)


def bench(home: Path, queries: list[str], before: str | None, rounds: int, runs: int) -> dict:
    sides = {"after": REPO}
    old = _tree_of(before) if before else None
    if old:
        sides["before"] = old
    try:
        out = {}
        for q in queries:
            got: dict[str, list[dict]] = {name: [] for name in sides}
            for r in range(rounds):
                order = list(sides) if r % 2 == 0 else list(reversed(sides))  # alternate who goes first
                for name in order:
                    got[name].append(_one(sides[name], home, q, runs))
            row: dict = {}
            for name, results in got.items():
                row[f"{name}_best_ms"] = round(statistics.median(min(x["ms"]) for x in results), 1)
                row[f"{name}_peak_rss_mb"] = max(x["peak_rss_mb"] for x in results)
                row[f"{name}_totals"] = results[0]["totals"]
            if old:
                row["time_ratio"] = round(row["after_best_ms"] / max(row["before_best_ms"], 1e-6), 3)
                row["peak_rss_ratio"] = round(row["after_peak_rss_mb"] / max(row["before_peak_rss_mb"], 1), 3)
                row["same_totals"] = row["after_totals"] == row["before_totals"]
            out[q] = row
        return out
    finally:
        if old:
            shutil.rmtree(old, ignore_errors=True)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path)
    ap.add_argument("--query", action="append", default=[], help="a search to time (repeatable)")
    ap.add_argument("--before", metavar="REV", help="also time this commit's code (git rev), alternating")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=4, help="searches per process (the first reads a cold cache)")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    tmp = None
    if args.smoke:
        tmp = Path(tempfile.mkdtemp(prefix="polylogue-searchmem-"))
        args.home, _ = generated_archive(tmp, 30, 10)
        args.rounds, args.runs = 2, 2
        args.query = args.query or ["the", "the and of to"]
        if not args.before:  # HEAD stands in for an older commit, when this is a git checkout
            git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "HEAD"], capture_output=True)
            args.before = "HEAD" if git.returncode == 0 else None
    if not args.home or not args.query:
        ap.error("--home and at least one --query (or --smoke)")
    try:
        return {
            "benchmark": "search_memory",
            "home": str(args.home),
            "before": args.before,
            "rounds": args.rounds,
            "runs": args.runs,
            "queries": bench(args.home, args.query, args.before, args.rounds, args.runs),
        }
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    emit(main())
