#!/usr/bin/env python3
"""Import against a naive loader (issue 27's second baseline), in one run.

    python benchmarks/naive.py --data DIR [--rounds 3] [--smoke]

The naive loader is what a developer writes in an afternoon, and it is
independent of polylogue (it imports nothing of it): every file of DIR is
loaded whole with orjson (a JSONL file line by line, a zip's JSON members whole),
every object holding conversation text (a `text`, `content`, `parts`,
`thinking`, `output`, `arguments` or `input` string) becomes one row, rows are
inserted with `executemany`, and a standard FTS5 index (external content) is
built after all rows. No dedup, no trees, no compression, no incremental state.

Each round runs `polylogue sync DIR` into a fresh home and the naive loader into
a fresh file, alternating which goes first, each a fresh process tree. Reported:
wall and CPU seconds (process tree), peak PSS of the tree, and our / naive
ratios (medians). Prints one JSON object."""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

TEXT_KEYS = frozenset({"text", "content", "parts", "thinking", "thought", "output", "arguments", "input"})


def rows_of(doc, out: list[tuple[str, str]]) -> None:
    """One (role, text) row per object that holds text directly; everything else walked."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        texts = []
        for key, value in node.items():
            if isinstance(value, str):
                if key in TEXT_KEYS and value:
                    texts.append(value)
            elif isinstance(value, list) and key in TEXT_KEYS and value and all(isinstance(x, str) for x in value):
                texts.append("\n".join(value))
            elif isinstance(value, (dict, list)):
                stack.append(value)
        if texts:
            role = node.get("role") or node.get("type") or ""
            out.append((role if isinstance(role, str) else "", "\n".join(texts)))


def documents(path: Path):
    """The parsed JSON documents of one file (a JSONL line is one)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith(".json"):
                    yield orjson.loads(z.read(name))
        return
    data = path.read_bytes()
    if path.suffix == ".jsonl":
        for line in data.splitlines():
            if line.strip():
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
        return
    try:
        yield orjson.loads(data)
    except orjson.JSONDecodeError:
        return


def load(data: Path, db: Path) -> dict:
    """The naive import of every file under ``data`` into ``db``."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, file TEXT, role TEXT, text TEXT)")
    n = files = 0
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        rows: list[tuple[str, str]] = []
        for doc in documents(path):
            rows_of(doc, rows)
        with conn:
            conn.executemany(
                "INSERT INTO messages(file, role, text) VALUES (?, ?, ?)", [(str(path), r, t) for r, t in rows]
            )
        n += len(rows)
        files += 1
    conn.execute("CREATE VIRTUAL TABLE naive_fts USING fts5(text, content='messages', content_rowid='id')")
    with conn:
        conn.execute("INSERT INTO naive_fts(naive_fts) VALUES ('rebuild')")
    conn.close()
    return {"rows": n, "files": files}


def _median_ratio(ours: list[float], theirs: list[float]) -> float:
    return round(statistics.median(ours) / max(statistics.median(theirs), 1e-9), 3)


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="a generated world (else a tiny one is generated)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="a tiny world, one round")
    ap.add_argument("--load", type=Path, help=argparse.SUPPRESS)  # the naive loader itself, in its own process
    ap.add_argument("--into", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load:  # the loader's process imports nothing of polylogue nor of the benchmarks
        return load(args.load, args.into)
    from benchmarks.common import run_measured
    from benchmarks.ingest import generate

    work = Path(tempfile.mkdtemp(prefix="polylogue-naive-"))
    try:
        return _rounds(args, work, run_measured, generate)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _rounds(args, work: Path, run_measured, generate) -> dict:
    data = args.data
    if data is None or args.smoke:
        data = work / "world"
        generate(data, 12 if args.smoke else 2000, 6 if args.smoke else 50, 500, 1, [])
    rounds = 1 if args.smoke else args.rounds
    sides: dict[str, list[dict]] = {"polylogue": [], "naive": []}
    for i in range(rounds):
        for side in ("polylogue", "naive") if i % 2 == 0 else ("naive", "polylogue"):
            home, db = work / f"home-{i}", work / f"naive-{i}.db"
            if side == "polylogue":
                cmd = [sys.executable, "-m", "polylogue", "--home", str(home), "sync", str(data), "--json"]
            else:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--load", str(data), "--into", str(db)]
            r = run_measured(cmd)
            if r["returncode"] not in (0, 3):
                raise SystemExit(f"{side} failed: {r['stderr'][-2000:]}")
            out = orjson.loads(r["stdout"])
            count = out["rows"] if side == "naive" else out["messages"]["new"]
            sides[side].append(
                {"seconds": r["seconds"], "cpu": r["cpu_seconds"], "pss_mb": r["peak_pss_bytes"] / 2**20, "rows": count}
            )
    got = {k: {f: [round(x[f], 2) for x in v] for f in ("seconds", "cpu", "pss_mb", "rows")} for k, v in sides.items()}
    return {
        "benchmark": "naive",
        "data": str(data),
        "rounds": rounds,
        **got,
        "wall_ratio": _median_ratio(got["polylogue"]["seconds"], got["naive"]["seconds"]),
        "cpu_ratio": _median_ratio(got["polylogue"]["cpu"], got["naive"]["cpu"]),
        "pss_ratio": _median_ratio(got["polylogue"]["pss_mb"], got["naive"]["pss_mb"]),
    }


if __name__ == "__main__":
    from benchmarks.common import emit

    emit(main())
