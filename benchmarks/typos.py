#!/usr/bin/env python3
"""What a typo suggestion adds to a search that finds nothing (issue 19).

    python benchmarks/typos.py --home ARCHIVE [--runs 5] WORD...
    python benchmarks/typos.py --smoke

For each misspelt WORD: the median time of the search alone, and of the
search with its suggestions (Archive.search, cache off), and the suggestion.
Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from polylogue import Archive
from polylogue import search as searchlang
from polylogue.store.fts import search


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(1000 * statistics.median(times), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="the shipped examples and one known typo")
    ap.add_argument("words", nargs="*")
    args = ap.parse_args()
    if args.smoke:  # zanzibarquux is in the examples; one letter swapped
        import tempfile

        args.home = Path(tempfile.mkdtemp(prefix="polylogue-typos-")) / "home"
        Archive(args.home).sync([Path(__file__).resolve().parent.parent / "examples"])
        args.words, args.runs = ["zanzibraquux"], 1
    if args.home is None or not args.words:
        ap.error("--home and at least one WORD are needed (or --smoke)")
    a = Archive(args.home)
    out = {}
    for w in args.words:
        q = searchlang.parse(w)
        with a.reader() as conn:
            alone = _median_ms(lambda conn=conn, q=q: search(conn, q), args.runs)
        with_suggestions = _median_ms(lambda w=w: a.search(w, cache=False), args.runs)
        res = a.search(w, cache=False)
        out[w] = {"search_ms": alone, "added_ms": round(with_suggestions - alone, 1), "did_you_mean": res.did_you_mean}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
