#!/usr/bin/env python3
"""Semantic search benchmark (issue 25): embedding throughput, `polylogue embed`
on a real archive, and hybrid search at scale, each beside a baseline of the
same run.

    python benchmarks/embed.py --home ARCHIVE [--seconds 120] [--vectors 1000000] [--runs 30]
    python benchmarks/embed.py --smoke

``ARCHIVE`` is written to: its vectors.db is made (use a copy of a bench
archive). Measured:

- ``throughput``: the encoder in this process on texts collected from the
  archive as `embed` collects them (docs/semantic.md, "What is embedded"), and
  on the same texts made 128 tokens long (the issue's unit); the tokenizer
  alone is the baseline (the share of the work that is not the model).
- ``embed_run``: `polylogue embed --json --foreground` in a child process for
  ``--seconds``, then SIGTERM (it stops at its next batch, resumable): texts/s,
  messages/s, peak PSS of the process tree, and the hours 1M messages would
  take at that rate.
- ``search``: ``--vectors`` codes in vectors.db (the real ones plus random
  codes on the archive's own conversations, removed afterwards), then
  ``Archive.search`` in hybrid and semantic mode against the default lexical
  mode, alternating, warm, cache off: p50/p99; the first hybrid query of a
  process (the model and the codes loaded) and `polylogue search --hybrid`
  from process start to exit beside `polylogue search`.

Prints one JSON object."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# run as a script, this folder comes first on the path, and its secrets.py would
# hide the standard library's (which the store uses): the repository instead
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from benchmarks.common import REPO, emit, polylogue_cmd  # noqa: E402

QUERIES = [
    "how do I stop the container from restarting",
    "why is my test flaky on the build server",
    "make the page load faster",
    "memory keeps growing until the process dies",
    "rename a column without losing data",
    "the login token expires too soon",
    "parse dates in different time zones",
    "speed up the database query",
    "set up continuous integration",
    "handle errors from the network call",
]
SYNTHETIC = -(10**12)  # keys below this are the benchmark's random codes


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def ms(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(xs, 50) * 1000, 1), "p99_ms": round(percentile(xs, 99) * 1000, 1)}


def collect(archive, limit: int) -> tuple[list[str], int]:
    """Up to ``limit`` texts as `embed` collects them, and the messages they came from."""
    from polylogue.semantic.collect import texts_of

    texts: list[str] = []
    messages = 0
    with archive.reader() as conn:
        for cid, n in conn.execute("SELECT id, message_count FROM conversations ORDER BY random()"):
            texts += [t.text for t in texts_of(conn, cid)]
            messages += n
            if len(texts) >= limit:
                break
    return texts[:limit], messages


def throughput(archive, limit: int) -> dict:
    from polylogue.semantic.model import WINDOW, encoder

    texts, messages = collect(archive, limit)
    t0 = time.perf_counter()
    enc = encoder()
    enc.encode(["warm up"])
    load = time.perf_counter() - t0
    out: dict = {"load_s": round(load, 2), "texts_per_message": round(len(texts) / max(messages, 1), 3)}
    long = [(t + " ") * (1 + 600 // max(len(t), 1)) for t in texts]  # each cut to the window by the tokenizer
    for name, xs in (("archive_mix", texts), ("tokens_128", long)):
        t, c = time.perf_counter(), time.process_time()
        ids = enc.token_ids(xs)
        tok = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        enc.encode(xs)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        out[name] = {
            "texts": len(xs),
            "mean_tokens": round(sum(map(len, ids)) / max(len(ids), 1), 1),
            "texts_per_s": round(len(xs) / wall, 1),
            "texts_per_cpu_s": round(len(xs) / max(cpu, 1e-9), 1),
            "baseline_tokenizer_alone_texts_per_s": round(len(xs) / max(tok, 1e-9), 1),
        }
    out["window_tokens"] = WINDOW
    return out


def embed_run(home: Path, seconds: float) -> dict:
    """`polylogue embed` for at most ``seconds``, its process tree's peak PSS sampled."""
    import psutil

    cmd = polylogue_cmd("--home", str(home), "embed", "--json", "--foreground")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    peak = [0]

    def sample() -> None:
        p = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], sum(x.memory_full_info().pss for x in [p, *p.children(recursive=True)]))
            except psutil.Error:
                pass
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    try:
        out, err = proc.communicate(timeout=seconds)
        stopped = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate()
        stopped = True
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"embed failed: {err[-2000:]}")
    import json

    r = json.loads(out)
    per_msg_s = r["messages"] / max(r["seconds"], 1e-9)
    return {
        "stopped_by_sigterm": stopped,
        "wall_s": round(wall, 1),
        "conversations": r["conversations"],
        "of": r["of"],
        "messages": r["messages"],
        "texts": r["texts"],
        "texts_per_s": r.get("rate", 0),
        "messages_per_s": round(per_msg_s, 1),
        "hours_for_1m_messages": round(1_000_000 / max(per_msg_s, 1e-9) / 3600, 2),
        "peak_pss_mb": round(peak[0] / 2**20),
        "priority": r.get("priority"),
    }


def add_synthetic(home: Path, archive, total: int) -> int:
    """Random codes on the archive's conversations until vectors.db holds ``total``."""
    import numpy as np

    from polylogue.semantic.vectors import CODE_BYTES, KIND_REPLY, bump, open_vectors, write_codes

    vconn = open_vectors(home)
    assert vconn is not None
    have = vconn.execute("SELECT count(*) FROM vectors").fetchone()[0]
    need = max(0, total - have)
    with archive.reader() as conn:
        cids = np.array([r[0] for r in conn.execute("SELECT id FROM conversations")], dtype=np.int64)
    rng = np.random.default_rng(1)
    with vconn:
        for s in range(0, need, 100_000):
            n = min(100_000, need - s)
            codes = rng.integers(0, 256, size=(n, CODE_BYTES), dtype=np.uint8)
            hashes = rng.integers(0, 2**32, size=n)  # a message hash's size in the row, as real ones have
            owners = np.sort(rng.choice(cids, size=n))
            # ascending keys and owners, as `embed` writes them (conversation by conversation): a
            # descending or random order would leave SQLite's pages half full and inflate the file
            vconn.executemany(
                "INSERT INTO vectors(key, cid, kind, hash, code) VALUES (?, ?, ?, ?, ?)",
                (
                    (SYNTHETIC - need + s + i, int(owners[i]), KIND_REPLY, int(hashes[i]), codes[i].tobytes())
                    for i in range(n)
                ),
            )
        bump(vconn)
    vconn.close()
    write_codes(home)  # as `embed` leaves it: the flat copy a process's first search reads
    return need


def drop_synthetic(home: Path) -> None:
    from polylogue.semantic.vectors import bump, open_vectors, write_codes

    vconn = open_vectors(home)
    assert vconn is not None
    with vconn:
        vconn.execute("DELETE FROM vectors WHERE key <= ?", (SYNTHETIC,))
        bump(vconn)
    vconn.execute("VACUUM")
    vconn.close()
    write_codes(home)


def search(home: Path, runs: int) -> dict:
    from polylogue.api import Archive
    from polylogue.semantic.vectors import codes_path, matrix, path_of

    a = Archive(home)
    t = time.perf_counter()
    first = a.search(QUERIES[0], mode="hybrid", cache=False)
    first_s = time.perf_counter() - t
    times: dict[str, list[float]] = {"lexical": [], "hybrid": [], "semantic": []}
    meaning_only = []
    for _ in range(runs):
        for q in QUERIES:
            for mode in times:  # alternating, so the machine's noise falls on all three alike
                t = time.perf_counter()
                res = a.search(q, mode=None if mode == "lexical" else mode, cache=False)
                times[mode].append(time.perf_counter() - t)
                if mode == "hybrid":
                    meaning_only.append(res.meaning_only)
    m = matrix(home)
    out = {
        "vectors": len(m) if m is not None else 0,
        "vectors_db_mb": round(path_of(home).stat().st_size / 2**20, 1),
        "codes_file_mb": round(codes_path(home).stat().st_size / 2**20, 1),
        "codes_in_memory_mb": round(m.codes.nbytes / 2**20, 1) if m is not None else 0,
        "first_hybrid_query_in_process_s": round(first_s, 2),
        "first_result": first.conversations[0]["id"] if first.conversations else None,
        "queries": len(QUERIES) * runs,
        "mean_meaning_only_per_page": round(statistics.mean(meaning_only), 1) if meaning_only else 0,
        **{f"{mode}": ms(xs) for mode, xs in times.items()},
    }
    a.close()
    return out


def cli(home: Path) -> dict:
    out = {}
    for name, extra in (("lexical_baseline", []), ("hybrid", ["--hybrid"])):
        t = time.perf_counter()
        r = subprocess.run(
            polylogue_cmd("--home", str(home), "search", *extra, "--json", QUERIES[1]),
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if r.returncode != 0:
            raise SystemExit(f"search failed: {r.stderr[-2000:]}")
        out[f"{name}_s"] = round(time.perf_counter() - t, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, help="an archive (its vectors.db is written: use a copy)")
    ap.add_argument("--seconds", type=float, default=120, help="how long `embed` runs before SIGTERM")
    ap.add_argument("--texts", type=int, default=1024, help="texts for the in-process throughput")
    ap.add_argument("--vectors", type=int, default=1_000_000, help="codes in vectors.db for the search timings")
    ap.add_argument("--runs", type=int, default=10, help="rounds of the query set")
    ap.add_argument("--smoke", action="store_true", help="examples/, a few texts, 2,000 vectors, 1 round")
    args = ap.parse_args()
    from polylogue import semantic
    from polylogue.api import Archive

    info = semantic.available()
    if not info["available"]:
        emit({"skipped": info["reason"]})
        return
    with tempfile.TemporaryDirectory(prefix="polylogue-embed-bench-") as tmp:
        home = args.home
        if args.smoke or home is None:
            home = Path(tmp) / "home"
            Archive(home).sync([REPO / "examples"])
            args.texts, args.vectors, args.runs, args.seconds = 64, 2000, 1, 300
        archive = Archive(home)
        result: dict = {"home": str(home), "cpus": os.cpu_count(), "throughput": throughput(archive, args.texts)}
        archive.close()
        result["embed_run"] = embed_run(home, args.seconds)
        archive = Archive(home)
        result["synthetic_vectors_added"] = add_synthetic(home, archive, args.vectors)
        archive.close()
        try:
            result["search"] = search(home, args.runs)
            result["cli"] = cli(home)
        finally:
            drop_synthetic(home)
    emit(result)


if __name__ == "__main__":
    main()
