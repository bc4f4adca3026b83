"""Shared helpers for the benchmark scripts: process-tree RSS sampling, timing,
and JSON output. Benchmarks print one JSON object on stdout."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent


def run_measured(
    cmd: list[str], env: dict | None = None, sample_every: float = 0.02, pss_every: float = 0.5, cwd: Path | None = None
) -> dict:
    """Run a command; return wall and CPU seconds, exit code, stdout and the peak memory
    of the whole process tree (the process and every descendant): the sum of
    RSS (counts pages the processes share once per process), the sum of PSS
    (shared pages split between their sharers: what the tree really holds;
    read less often, as it is slower to read) and the largest single RSS."""
    import resource

    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    peak = peak_pss = largest = 0
    stop = threading.Event()

    def sample():
        nonlocal peak, peak_pss, largest
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        next_pss = 0.0
        while not stop.is_set():
            total = pss = 0
            want_pss = time.perf_counter() >= next_pss
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    if want_pss:
                        mi = p.memory_full_info()
                        pss += mi.pss
                    else:
                        mi = p.memory_info()
                    total += mi.rss
                    largest = max(largest, mi.rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            peak = max(peak, total)
            if want_pss:
                peak_pss = max(peak_pss, pss)
                next_pss = time.perf_counter() + pss_every
            stop.wait(sample_every)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    stop.set()
    t.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": time.perf_counter() - t0,
        # user + system CPU of the whole tree (workers are reaped by the command, so they
        # count): on a loaded machine the steadier figure than wall time
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "returncode": proc.returncode,
        "stdout": out,
        "stderr": err,
        "peak_rss_bytes": peak,
        "peak_pss_bytes": peak_pss,
        "largest_rss_bytes": largest,
    }


def tree_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def db_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.glob("polylogue.db*"))


def emit(result: dict) -> None:
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


def polylogue_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "polylogue", *args]


def generated_archive(tmp: Path, conversations: int, messages: int) -> tuple[Path, Path]:
    """A small generated world in ``tmp/data``, synced into ``tmp/home`` (for --smoke runs):
    (home, data)."""
    data, home = tmp / "data", tmp / "home"
    gen = [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(data)]
    subprocess.run(
        [*gen, "--conversations", str(conversations), "--messages", str(messages)], check=True, capture_output=True
    )
    subprocess.run(polylogue_cmd("--home", str(home), "sync", str(data)), check=True, capture_output=True)
    return home, data
