#!/usr/bin/env python3
"""The kept totals' recount after a big import: time and memory of the whole tree.

    python benchmarks/totals.py --home ARCHIVE_HOME [--choose] [--smoke]

Drops every kept total of the archive (derived data: `term_totals` and
`term_convs` in index.db; `--choose` also forgets which words were chosen) and
counts them again with `term_totals.refresh`, as a sync does after a first big
import, in a child process whose tree (it and what it forks) is sampled for
PSS. `--code` counts with another checkout's code (a git worktree of an older
commit, say; it uses only `indexer.open_indexer` and `term_totals.refresh`). Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import emit, polylogue_cmd, run_measured

_RECOUNT = """
import json, sys, time
if sys.argv[3]:
    sys.path.insert(0, sys.argv[3])  # another checkout's code (before the editable install's)
import polylogue
from polylogue.store import indexer, term_totals
conn = indexer.open_indexer(sys.argv[1])
with conn:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM idx.term_totals")
    conn.execute("DELETE FROM idx.term_convs")
    if sys.argv[2] == "choose":
        conn.execute("DELETE FROM idx.index_state WHERE key = 'totals_chosen_at'")
t, c = time.perf_counter(), time.process_time()
made = term_totals.refresh(conn)
print(json.dumps({"code": polylogue.__file__, "made": made, "seconds": time.perf_counter() - t, "own_cpu_seconds": time.process_time() - c,
                  "kept_words": conn.execute("SELECT count(*) FROM idx.frequent_terms").fetchone()[0]}))
"""


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, help="an archive home (its kept totals are counted again in place)")
    ap.add_argument("--choose", action="store_true", help="choose the words again too (as a first import does)")
    ap.add_argument("--code", type=Path, help="a checkout of other code to count with (say, a git worktree)")
    ap.add_argument("--smoke", action="store_true", help="a tiny archive of the examples, every word kept")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="polylogue-totals-") as tmp:
        home = args.home
        if args.smoke or home is None:
            home = Path(tmp) / "home"
            _small_archive(home)
        db = home / "polylogue.db"
        choose = "choose" if args.choose else "keep"
        r = run_measured([sys.executable, "-c", _RECOUNT, str(db), choose, str(args.code or "")])
        if r["returncode"] != 0:
            raise SystemExit(r["stderr"][-2000:])
        out = json.loads(r["stdout"].strip().splitlines()[-1])
    result = {
        "home": str(args.home or "examples"),
        "choose": args.choose,
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()},
        "tree_cpu_seconds": round(r["cpu_seconds"], 2),
        "peak_pss_mb": round(r["peak_pss_bytes"] / 2**20, 1),
        "largest_rss_mb": round(r["largest_rss_bytes"] / 2**20, 1),
    }
    emit(result)
    return result


def _small_archive(home: Path) -> None:
    """The examples, imported with every word kept and one conversation a block."""
    import sqlite3
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    data = home.parent / "data"
    shutil.copytree(repo / "examples", data)
    (home.parent / "nothing").mkdir()
    subprocess.run(
        polylogue_cmd("--home", str(home), "sync", str(home.parent / "nothing")), check=True, capture_output=True
    )
    conn = sqlite3.connect(home / "polylogue.db")
    with conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('totals_block_bits', 0), ('totals_min_messages', 1)")
    conn.close()
    subprocess.run(polylogue_cmd("--home", str(home), "sync", str(data)), check=True, capture_output=True)


if __name__ == "__main__":
    main()
