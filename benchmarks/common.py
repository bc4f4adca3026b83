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


def run_measured(cmd: list[str], env: dict | None = None, sample_every: float = 0.02) -> dict:
    """Run a command; return wall seconds, exit code, stdout and the peak RSS of
    the whole process tree (the process and every descendant, summed)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak = max(peak, total)
            stop.wait(sample_every)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    stop.set()
    t.join()
    return {"seconds": time.perf_counter() - t0, "returncode": proc.returncode, "stdout": out, "stderr": err,
            "peak_rss_bytes": peak}


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
