#!/usr/bin/env python3
"""How much the sign-bit codes of polylogue/semantic/vectors.py lose (issue 25):
texts collected from an archive as `embed` collects them, embedded in float;
each query (the first 80 characters of a random one of those texts, a
half-remembered start) ranks them by exact float cosine (the baseline) and by
Matrix.nearest (Hamming distance, then rescoring with the float query against
the ±1 codes, 1x/4x/8x candidates) and by Hamming distance alone. Reports the
mean overlap of each top 10 with the exact top 10.

    python benchmarks/quantisation.py --home ARCHIVE [--texts 3000] [--queries 100]
    python benchmarks/quantisation.py --smoke

Prints one JSON object."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# run as a script, this folder comes first on the path, and its secrets.py would
# hide the standard library's (which the store uses): the repository instead
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from benchmarks.common import REPO, emit  # noqa: E402


def measure(home: Path, n_texts: int, n_queries: int) -> dict:
    import numpy as np

    from polylogue.api import Archive
    from polylogue.semantic.collect import texts_of
    from polylogue.semantic.model import encoder
    from polylogue.semantic.vectors import Matrix, pack

    a = Archive(home)
    texts: list[str] = []
    with a.reader() as conn:
        for (cid,) in conn.execute("SELECT id FROM conversations ORDER BY random()"):
            texts += [t.text for t in texts_of(conn, cid)]
            if len(texts) >= n_texts:
                break
    a.close()
    texts = texts[:n_texts]
    enc = encoder()
    t = time.perf_counter()
    x = enc.encode(texts)
    encode_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    picked = rng.choice(len(texts), min(n_queries, len(texts)), replace=False)
    queries = enc.encode([texts[i][:80] for i in picked])
    codes = pack(x)
    n = len(x)
    m = Matrix(np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64), np.zeros(n, np.int8), codes)
    exact = [set(np.argsort(-(x @ q))[:10].tolist()) for q in queries]
    out: dict = {"texts": n, "queries": len(queries), "encode_s": round(encode_s, 1)}
    for rescore in (1, 4, 8):
        got = [set(m.nearest(q, 10, rescore=rescore)[0].tolist()) for q in queries]
        out[f"overlap@10_rescored_{rescore}x"] = round(float(np.mean([len(e & g) / 10 for e, g in zip(exact, got)])), 3)
    ham = []
    for q, e in zip(queries, exact):
        d = np.unpackbits(codes ^ pack(q[None, :]), axis=1).sum(1)
        ham.append(len(e & set(np.argsort(d, kind="stable")[:10].tolist())) / 10)
    out["overlap@10_hamming_alone"] = round(float(np.mean(ham)), 3)
    out["baseline"] = "exact float cosine top 10 (overlap 1.0 by definition)"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, help="an archive (read only)")
    ap.add_argument("--texts", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--smoke", action="store_true", help="examples/, all their texts, 10 queries")
    args = ap.parse_args()
    from polylogue import semantic

    info = semantic.available()
    if not info["available"]:
        emit({"skipped": info["reason"]})
        return
    with tempfile.TemporaryDirectory(prefix="polylogue-quant-bench-") as tmp:
        home = args.home
        if args.smoke or home is None:
            from polylogue.api import Archive

            home = Path(tmp) / "home"
            with Archive(home) as a:
                a.sync([REPO / "examples"])
            args.texts, args.queries = 1000, 10
        emit(measure(home, args.texts, args.queries))


if __name__ == "__main__":
    main()
