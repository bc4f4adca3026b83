#!/usr/bin/env python3
"""Concurrency benchmark: one writer, four readers.

(Issue 7 calls it benchmarks/concurrent.py; that name would shadow the standard
library's `concurrent` package for every script in this folder.)

    python benchmarks/concurrency.py --home ARCHIVE [--conversations 2000] [--seconds 12] [--smoke] [--background]

ARCHIVE (1M messages or more) is copied first; the copy is what runs. In one run:
  - readers alone: 1 process, 4 threads, 4 processes (unpaced random FTS
    searches from the search benchmark's query set, limit 20, cache off);
  - the writer alone: `polylogue sync` of a fresh generated export;
  - the writer with 4 paced reader processes (one search every 200 ms each);
  - the writer with 4 saturating reader processes, and with 4 saturating threads.
With --background (issue 20) the phases are instead: 4 paced readers alone; the
writer alone, in the foreground and as `sync --background` (idle CPU and I/O
priority); and each of the two with the 4 paced readers. It reports the
readers' p99 and how much longer the background sync takes beside them than
alone. Every phase records the machine's load average, as the machine may be
shared. Readers are long-lived, as an MCP server or an open search session is: each
runs one untimed search (imports, connection) before timing starts, and the
same readers stay for the whole writer phase. Reports reader p50/p99, queries/s, per-reader counts per second (starvation),
errors, writer msg/s, and the largest WAL size seen. Prints one JSON object."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks.common import REPO, emit, polylogue_cmd
from benchmarks.search import choose_queries, percentile


def reader_loop(home: str, queries: list[str], go, stop, seconds: float, pace: float, seed: int, ready, out) -> None:
    """One long-lived reader (like an MCP server that has been up): one untimed
    search to load the modules and open the pool, then timed searches from
    ``go`` until ``stop`` is set or ``seconds`` have passed."""
    from polylogue.api import Archive

    rng = random.Random(seed)
    a = Archive(home, readers=1)
    a.search(queries[0], limit=20, cache=False)
    ready.put(seed)
    go.wait()
    lat, stamps, errors, asked = [], [], [], []
    stop_at = time.perf_counter() + seconds
    next_at = time.perf_counter()
    while time.perf_counter() < stop_at and not stop.is_set():
        if pace:
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += pace
        t = time.perf_counter()
        q = rng.choice(queries)
        try:
            res = a.search(q, limit=20, cache=False)
            for c in res.conversations:  # consistency: every result refers to a conversation that exists
                assert c["id"] and c["message_count"] >= 0
        except Exception as e:  # any error is a failure of the benchmark's target
            errors.append(f"{type(e).__name__}: {e}")
            continue
        lat.append((time.perf_counter() - t) * 1000)
        stamps.append(time.perf_counter())
        asked.append(q)
    a.close()
    out.put({"latencies": lat, "stamps": stamps, "queries": asked, "errors": errors[:5], "error_count": len(errors)})


class Readers:
    """n readers, as processes or threads: started and warmed up by ``start``,
    timed from ``go`` until ``finish``."""

    def __init__(self, home: Path, queries: list[str], n: int, mode: str, seconds: float, pace: float):
        if mode == "process":
            ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            self.go, self.stop, self.ready, self.out = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Queue()
            make = ctx.Process
        else:
            import queue

            self.go, self.stop, self.ready, self.out = (
                threading.Event(),
                threading.Event(),
                queue.Queue(),
                queue.Queue(),
            )
            make = threading.Thread
        self.workers = [
            make(
                target=reader_loop,
                args=(str(home), queries, self.go, self.stop, seconds, pace, i, self.ready, self.out),
            )
            for i in range(n)
        ]

    def start(self) -> None:
        for w in self.workers:
            w.start()
        for _ in self.workers:
            self.ready.get()
        self.go.set()

    def finish(self) -> list[dict]:
        self.stop.set()
        results = [self.out.get() for _ in self.workers]
        for w in self.workers:
            w.join()
        return results


def run_readers(home: Path, queries: list[str], n: int, mode: str, seconds: float, pace: float) -> list[dict]:
    r = Readers(home, queries, n, mode, seconds, pace)
    r.start()
    time.sleep(seconds)
    return r.finish()


def summarize(results: list[dict], seconds: float, start: float) -> dict:
    lat = [x for r in results for x in r["latencies"]]
    per_reader = [len(r["latencies"]) for r in results]
    # starvation: the longest gap between two completed queries of any one reader
    gaps = []
    for r in results:
        s = [start] + r["stamps"]
        gaps.append(max((b - a for a, b in zip(s, s[1:])), default=seconds))
    by_query: dict[str, list[float]] = {}
    for r in results:
        for q, ms in zip(r.get("queries", []), r["latencies"]):
            by_query.setdefault(q, []).append(ms)
    return {
        "per_query_p50_p99_ms": {
            q: [round(percentile(v, 50), 1), round(percentile(v, 99), 1)] for q, v in sorted(by_query.items())
        },
        "queries": len(lat),
        "qps": round(len(lat) / seconds, 1),
        "p50_ms": round(percentile(lat, 50), 1) if lat else None,
        "p99_ms": round(percentile(lat, 99), 1) if lat else None,
        "per_reader": per_reader,
        "longest_gap_s": round(max(gaps), 2),
        "errors": sum(r["error_count"] for r in results),
        "error_samples": [e for r in results for e in r["errors"]][:3],
    }


class WalWatch:
    def __init__(self, db: Path):
        self.path, self.max, self._stop = Path(str(db) + "-wal"), 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.max = max(self.max, self.path.stat().st_size)
            except OSError:
                pass
            self._stop.wait(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def total_messages(home: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{home / 'polylogue.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT coalesce(sum(messages), 0) FROM provider_totals").fetchone()[0]
    finally:
        conn.close()


def writer(home: Path, data: Path, background: bool = False, limit: float | None = None) -> dict:
    """`polylogue sync` of ``data``; stopped (SIGTERM) after ``limit`` seconds, if
    given: a background sync on a busy machine may get almost no CPU. Messages
    are counted in the archive (what was committed)."""
    before = total_messages(home)
    t = time.perf_counter()
    extra = ["--background"] if background else []
    proc = subprocess.Popen(
        polylogue_cmd("--home", str(home), "sync", str(data), "--json", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    cut = False
    try:
        proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.communicate()
        cut = True
    secs = time.perf_counter() - t
    n = total_messages(home) - before
    return {
        "messages": n,
        "seconds": round(secs, 2),
        "messages_per_second": round(n / secs, 1),
        "exit": proc.returncode,
        "cut_short": cut,
    }


def phase(
    home: Path,
    data: Path | None,
    queries: list[str],
    readers: int,
    mode: str,
    pace: float,
    seconds: float,
    background: bool = False,
    limit: float | None = None,
) -> dict:
    out: dict = {"readers": readers, "mode": mode, "pace_s": pace, "background": background}
    out["load_before"] = [round(x, 2) for x in os.getloadavg()]
    with WalWatch(home / "polylogue.db") as wal:
        if data is None:
            start = time.perf_counter()
            res = run_readers(home, queries, readers, mode, seconds, pace)
            out["reader"] = summarize(res, seconds, start)
        else:
            holder: dict = {}
            w = threading.Thread(target=lambda: holder.update(writer(home, data, background, limit)))
            readers_ = Readers(home, queries, readers, mode, float("inf"), pace) if readers else None
            if readers_:
                readers_.start()  # warmed up before the writer starts; timed for as long as it runs
            start = time.perf_counter()
            w.start()
            w.join()
            span = time.perf_counter() - start
            out["writer"] = holder
            if readers_:
                out["reader"] = summarize(readers_.finish(), span, start)
    out["max_wal_mb"] = round(wal.max / 1e6, 1)
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path)
    ap.add_argument("--conversations", type=int, default=2000, help="per writer phase")
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--background", action="store_true", help="the background-sync phases (issue 20) instead")
    ap.add_argument("--limit", type=float, help="with --background: stop a writer after this many seconds")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="polylogue-conc-"))
    try:
        home = work / "home"
        if args.smoke:
            data = work / "base"
            subprocess.run(
                [
                    sys.executable,
                    str(REPO / "benchmarks" / "generate.py"),
                    str(data),
                    "--conversations",
                    "60",
                    "--messages",
                    "20",
                ],
                check=True,
                capture_output=True,
            )
            subprocess.run(polylogue_cmd("--home", str(home), "sync", str(data)), check=True, capture_output=True)
            args.conversations, args.seconds = 30, 1.0
        else:
            subprocess.run(
                polylogue_cmd("--home", str(args.home), "backup", str(work)), check=True, capture_output=True
            )
            (work / "polylogue.db").rename(work / "tmp.db")
            home.mkdir()
            (work / "tmp.db").rename(home / "polylogue.db")
        queries = list(choose_queries(home / "polylogue.db").values())
        datasets = []
        for seed in range(101, 105):
            d = work / f"w{seed}"
            subprocess.run(
                [
                    sys.executable,
                    str(REPO / "benchmarks" / "generate.py"),
                    str(d),
                    "--conversations",
                    str(args.conversations),
                    "--seed",
                    str(seed),
                ],
                check=True,
                capture_output=True,
            )
            datasets.append(d)
        conn_msgs = (
            __import__("sqlite3")
            .connect(home / "polylogue.db")
            .execute("SELECT sum(messages) FROM provider_totals")
            .fetchone()[0]
        )
        r: dict = {
            "benchmark": "concurrent",
            "machine": {"cpus": os.cpu_count()},
            "archive_messages": conn_msgs,
            "queries": queries,
        }
        if args.background:
            r.update(background_phases(home, datasets, queries, args.seconds, args.limit))
            return r
        r["readers_alone"] = {
            "1_process": phase(home, None, queries, 1, "process", 0, args.seconds),
            "4_threads": phase(home, None, queries, 4, "thread", 0, args.seconds),
            "4_processes": phase(home, None, queries, 4, "process", 0, args.seconds),
        }
        r["writer_alone"] = phase(home, datasets[0], queries, 0, "process", 0, args.seconds)
        r["writer_paced_processes"] = phase(home, datasets[1], queries, 4, "process", 0.2, args.seconds)
        r["writer_saturating_processes"] = phase(home, datasets[2], queries, 4, "process", 0, args.seconds)
        r["writer_saturating_threads"] = phase(home, datasets[3], queries, 4, "thread", 0, args.seconds)
        solo = r["writer_alone"]["writer"]["messages_per_second"]
        one = r["readers_alone"]["1_process"]["reader"]["qps"]
        r["summary"] = {
            "writer_kept_paced": round(r["writer_paced_processes"]["writer"]["messages_per_second"] / solo, 2),
            "writer_kept_saturating": round(
                r["writer_saturating_processes"]["writer"]["messages_per_second"] / solo, 2
            ),
            "reader_p99_ms_paced_with_writer": r["writer_paced_processes"]["reader"]["p99_ms"],
            "qps_4_processes_vs_1": round(r["readers_alone"]["4_processes"]["reader"]["qps"] / max(one, 1e-9), 2),
            "qps_4_threads_vs_1": round(r["readers_alone"]["4_threads"]["reader"]["qps"] / max(one, 1e-9), 2),
            "max_wal_mb": max(v["max_wal_mb"] for k, v in r.items() if isinstance(v, dict) and "max_wal_mb" in v),
            "reader_errors": sum(v.get("reader", {}).get("errors", 0) for v in r.values() if isinstance(v, dict)),
        }
        return r
    finally:
        shutil.rmtree(work, ignore_errors=True)


def background_phases(
    home: Path, datasets: list[Path], queries: list[str], seconds: float, limit: float | None
) -> dict:
    """Search during a background sync: 4 paced readers (5 queries/s each).
    Each phase is printed to stderr as it ends (a starved sync can take long)."""
    r: dict = {}
    for name, data, readers, pace, background in (
        ("readers_alone_paced", None, 4, 0.2, False),
        ("writer_alone", datasets[0], 0, 0, False),
        ("writer_alone_background", datasets[1], 0, 0, True),
        ("writer_paced_processes", datasets[2], 4, 0.2, False),
        ("writer_paced_background", datasets[3], 4, 0.2, True),
    ):
        r[name] = phase(home, data, queries, readers, "process", pace, seconds, background, limit)
        print(orjson.dumps({name: r[name]}).decode(), file=sys.stderr, flush=True)
    rate = {k: r[k]["writer"]["messages_per_second"] for k in r if k.startswith("writer")}
    r["summary"] = {
        "reader_p99_ms_paced_alone": r["readers_alone_paced"]["reader"]["p99_ms"],
        "reader_p99_ms_paced_with_writer": r["writer_paced_processes"]["reader"]["p99_ms"],
        "reader_p99_ms_paced_with_background_writer": r["writer_paced_background"]["reader"]["p99_ms"],
        "writer_msg_per_s": rate,
        # how much longer the background sync takes beside the readers than alone (rates: a phase may be cut short)
        "background_sync_slower_with_readers": round(
            rate["writer_alone_background"] / max(rate["writer_paced_background"], 1e-9), 2
        ),
        "background_vs_foreground_alone": round(rate["writer_alone"] / max(rate["writer_alone_background"], 1e-9), 2),
        "reader_errors": sum(v.get("reader", {}).get("errors", 0) for v in r.values() if isinstance(v, dict)),
    }
    return r


if __name__ == "__main__":
    emit(main())
