#!/usr/bin/env python3
"""Time show and search on one archive with one copy of polylogue's code.

    python benchmarks/read_worker.py --code DIR --home HOME --spec SPEC.json

SPEC holds {"ids": [...], "heavy_ids": [...], "queries": {name: text},
"warmup": N, "search_repeat": N}. The package
is imported from DIR (another revision's tree works as long as its Archive has
stream/list/search), so the storage benchmark can time the code before a
change and after it, in the same run, on the same machine. Show is what
`polylogue show ID` does when piped (stream the conversation, render
Markdown); search goes through Archive.search with the cache off, limit 20.
Prints {"show_ms": [...], "heaviest_ms": [...], "search_ms": {name: [...]}}:
one pass, ms per call."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--spec", required=True)
    args = ap.parse_args()
    sys.path.insert(0, args.code)
    import polylogue.render.markdown
    from polylogue.api import Archive

    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
    from benchmarks.storage import show_markdown

    code = Path(polylogue.__file__).resolve().parent.parent
    if code != Path(args.code).resolve():
        raise SystemExit(f"polylogue was imported from {code}, not {args.code}")
    with open(args.spec) as f:
        spec = json.load(f)
    a = Archive(args.home)

    def show(ident: str) -> str:
        return show_markdown(a, ident)

    for ident in spec["ids"][: spec.get("warmup", 5)]:  # connections, dictionaries, imports
        show(ident)
    for text in spec["queries"].values():
        a.search(text, limit=20, cache=False)
    shows = []
    for ident in spec["ids"]:
        t = time.perf_counter()
        show(ident)
        shows.append((time.perf_counter() - t) * 1000)
    heaviest = []
    for ident in spec.get("heavy_ids", []):
        t = time.perf_counter()
        show(ident)
        heaviest.append((time.perf_counter() - t) * 1000)
    searches: dict[str, list[float]] = {}
    for name, text in spec["queries"].items():
        searches[name] = []
        for _ in range(spec.get("search_repeat", 1)):
            t = time.perf_counter()
            a.search(text, limit=20, cache=False)
            searches[name].append((time.perf_counter() - t) * 1000)
    a.close()
    json.dump({"show_ms": shows, "heaviest_ms": heaviest, "search_ms": searches}, sys.stdout)


def run_worker(code: Path, home: Path, spec: Path, cwd: Path) -> dict:
    """One pass of this script in a fresh process, with the package from ``code``."""
    import subprocess

    cmd = [sys.executable, __file__, "--code", str(code), "--home", str(home), "--spec", str(spec)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if out.returncode:
        raise SystemExit(f"the read worker failed with {code}: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


if __name__ == "__main__":
    main()
