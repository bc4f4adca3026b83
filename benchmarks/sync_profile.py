#!/usr/bin/env python3
"""Where a sync's time and memory go, process by process, and parser counts side by side.

    python benchmarks/sync_profile.py --data bench-data/w10k --workers 1,2 --rounds 2 [--every 0.5] [--smoke]

Runs `polylogue sync` into a fresh home once per (round, parser count), the
counts alternating, and samples every process of the sync's tree: PSS (split
anonymous / file-backed) and CPU time. Each process gets a role: the sync
itself ("writer": it also counts the kept totals after the import), the
indexer ("indexer", named polylogue-index), the parsers ("parser"), and what
is forked after the indexer ends ("counter": term_totals' second process).
Per run: wall and CPU seconds, CPU per role, the peak PSS of the tree with
each process's share at that moment, when the import phase ended (the last
parser gone) and the mean number of cores busy while it ran. Per parser count:
medians, and ratios to the first count. Prints one JSON object."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import emit, polylogue_cmd


def _rollup(pid: int) -> dict[str, float] | None:
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, *rest = line.split()
                if key in ("Pss:", "Pss_Anon:", "Pss_File:"):
                    out[key[:-1]] = int(rest[0]) / 1024
    except OSError:
        return None
    return out


def profile(cmd: list[str], every: float) -> dict:
    """Run ``cmd``; sample its process tree every ``every`` seconds."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    roles: dict[int, str] = {proc.pid: "writer"}
    cpu: dict[int, float] = {}
    samples: list[tuple[float, dict[int, dict[str, float]]]] = []
    indexer_seen = indexer_gone = False
    stop = threading.Event()

    def sample() -> None:
        nonlocal indexer_seen, indexer_gone
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            now: dict[int, dict[str, float]] = {}
            for p in procs:
                got = _rollup(p.pid)
                if got is None:
                    continue
                try:
                    times = p.cpu_times()
                    name = p.name()
                except psutil.Error:
                    continue
                if name == "polylogue-index":  # named once it runs: a sighting just after its fork took it for a parser
                    roles[p.pid] = "indexer"
                elif p.pid not in roles:
                    roles[p.pid] = "counter" if indexer_gone else "parser"
                cpu[p.pid] = times.user + times.system
                got["cpu"] = cpu[p.pid]
                now[p.pid] = got
            if any(roles[p] == "indexer" for p in now):
                indexer_seen = True
            elif indexer_seen:
                indexer_gone = True
            samples.append((time.perf_counter() - t0, now))
            stop.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    thread.join()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"sync failed ({proc.returncode}): {err[-2000:].decode(errors='replace')}")
    by_role: dict[str, float] = {}
    for pid, seconds in cpu.items():
        by_role[roles[pid]] = by_role.get(roles[pid], 0.0) + seconds
    peak_t, peak = max(samples, key=lambda s: sum(p["Pss"] for p in s[1].values()))
    parsing = [t for t, now in samples if any(roles[p] == "parser" for p in now)]
    busy = _cores_busy(samples, roles)
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(sum(cpu.values()), 2),
        "cpu_by_role": {r: round(s, 2) for r, s in sorted(by_role.items())},
        "peak_pss_mb": round(sum(p["Pss"] for p in peak.values()), 1),
        "peak_at_seconds": round(peak_t, 1),
        "at_peak": [
            {"role": roles[pid], "pss_mb": round(p["Pss"], 1), "anon_mb": round(p.get("Pss_Anon", 0), 1)}
            for pid, p in sorted(peak.items())
        ],
        "import_phase_ends_seconds": round(parsing[-1], 1) if parsing else None,
        "cores_busy_while_parsing": busy,
    }


def _cores_busy(samples: list, roles: dict[int, str]) -> float | None:
    """Mean CPU seconds per second of the whole tree while a parser ran."""
    spent = span = 0.0
    for (t1, before), (t2, after) in zip(samples, samples[1:]):
        if not any(roles[p] == "parser" for p in after):
            continue
        spent += sum(after[p]["cpu"] - before[p]["cpu"] for p in after if p in before)
        span += t2 - t1
    return round(spent / span, 2) if span else None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="a generated world (else a tiny one is generated)")
    ap.add_argument("--workers", default="1,2", help="parser counts to compare, comma-separated")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="polylogue-sync-profile-") as tmp:
        data = args.data
        if data is None or args.smoke:
            from benchmarks.ingest import generate

            data = Path(tmp) / "world"
            # big enough for the parallel path (8 MB of input): parsers and the indexer in processes
            generate(data, 250 if args.smoke else 2000, 50, 500, 1, [])
            args.rounds = 1 if args.smoke else args.rounds
            args.every = min(args.every, 0.1) if args.smoke else args.every
        runs: dict[str, list[dict]] = {str(w): [] for w in counts}
        for r in range(args.rounds):
            for w in counts:
                home = Path(tmp) / f"home-{r}-{w}"
                runs[str(w)].append(
                    profile(polylogue_cmd("--home", str(home), "sync", str(data), "--workers", str(w)), args.every)
                )
    first = counts[0]

    def med(w: int, key: str) -> float:
        return statistics.median(run[key] for run in runs[str(w)])

    summary = {
        str(w): {
            "wall_seconds": med(w, "wall_seconds"),
            "cpu_seconds": med(w, "cpu_seconds"),
            "peak_pss_mb": med(w, "peak_pss_mb"),
            "wall_ratio": round(med(w, "wall_seconds") / med(first, "wall_seconds"), 3),
            "cpu_ratio": round(med(w, "cpu_seconds") / med(first, "cpu_seconds"), 3),
            "pss_ratio": round(med(w, "peak_pss_mb") / med(first, "peak_pss_mb"), 3),
        }
        for w in counts
    }
    result = {"data": str(args.data or "generated"), "rounds": args.rounds, "summary": summary, "runs": runs}
    emit(result)
    return result


if __name__ == "__main__":
    main()
