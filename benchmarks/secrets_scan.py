"""Secrets scan and forget, timed beside baselines measured in the same run.

    python benchmarks/secrets_scan.py [HOME]         # default bench-data/privacy/h20k (a migrated copy of h20k)
    python benchmarks/secrets_scan.py --smoke        # a tiny generated archive: the script still works

Prints JSON:
- scan: ``Archive.secrets()`` over every message (workers as the CLI uses them),
  beside ``baseline_decode``: one pass reading and decoding every message's
  content (what any scan must cost), and ``scan_1_worker``.
- forget: one conversation forgotten in a copy of the archive (``--forget-copy``
  copies HOME first; the smoke archive is scratch): the delete (``delete_s``,
  the figure the 1 s target is about), and the purge (index merged, WAL
  truncated: ``purge_s``), beside ``baseline_integrity_s``, a read of one conversation."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from polylogue import Archive  # noqa: E402
from polylogue.store import codec, secrets  # noqa: E402


def baseline_decode(a: Archive) -> dict:
    import orjson

    t = time.perf_counter()
    n = 0
    with a.reader() as conn:
        for ranges in secrets.conversation_ranges(conn, None, 1):
            for rows in secrets.message_batches(conn, ranges):
                for raw in codec.decode_many([r[3] for r in rows]):
                    orjson.loads(raw)
                n += len(rows)
    return {"messages": n, "seconds": round(time.perf_counter() - t, 2)}


def scan(a: Archive, workers: int | None) -> dict:
    t = time.perf_counter()
    found = a.secrets(workers=workers)
    return {"findings": len(found), "seconds": round(time.perf_counter() - t, 2)}


def forget_one(home: Path) -> dict:
    a = Archive(home)
    victim = a.list(limit=1, offset=a.stats()["conversations"] // 2 if "conversations" in a.stats() else 0)[0]
    t = time.perf_counter()
    a.conversation(victim["id"])
    read_s = time.perf_counter() - t
    a.close()
    out = Archive(home).forget([victim["id"]])
    return {
        "messages": out["messages"],
        "delete_s": out["seconds"]["delete"],
        "purge_s": out["seconds"]["purge"],
        "baseline_read_one_s": round(read_s, 3),
    }


def smoke_home(tmp: Path) -> Path:
    data = tmp / "data"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(data), "--conversations", "40",
         "--messages", "10", "--seed", "3"],
        check=True, capture_output=True,
    )  # fmt: skip
    home = tmp / "home"
    Archive(home).sync([data])
    return home


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("home", nargs="?", default=str(REPO / "bench-data" / "privacy" / "h20k"))
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--forget-copy", action="store_true", help="copy HOME to a scratch folder and forget there")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="polylogue-secrets-") as tmp:
        home = smoke_home(Path(tmp)) if args.smoke else Path(args.home)
        a = Archive(home)
        out = {
            "home": str(home),
            "baseline_decode": baseline_decode(a),
            "scan": scan(a, args.workers),
            "scan_1_worker": scan(a, 1),
        }
        a.close()
        out["scan_vs_baseline"] = round(out["scan"]["seconds"] / max(out["baseline_decode"]["seconds"], 1e-3), 2)
        target = home
        if args.forget_copy and not args.smoke:
            target = Path(tmp) / "copy"
            target.mkdir()
            Archive(home).backup(target / "polylogue.db")
        if args.smoke or args.forget_copy:
            out["forget"] = forget_one(target)
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
