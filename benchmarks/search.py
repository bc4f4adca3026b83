#!/usr/bin/env python3
"""Search benchmark: a fixed query set against an archive, cache off.

    python benchmarks/search.py --home ARCHIVE [--runs 30] [--data RAW_EXPORTS] [--before REV]
    python benchmarks/search.py --smoke

The query set is chosen from the archive itself (from a sample of its
messages): a common word, a rare word, two words, a phrase, a prefix, a word
with provider and date filters, a word matching over 100K messages (when the
archive is that big), a code identifier, a CJK substring, and for issue 19 a
title word, two words of one title, a word with other forms in the archive,
two words spread over one conversation, and a typo (which finds nothing and
gets a suggestion). Each runs with snippets and limit 20; p50/p95/p99 per
query and overall, and the baseline search (one message, exact words) in
the same run, alternating. With ``--before REV`` the default search of
that commit (its tree exported to a temporary folder, run in a child
process) alternates with them too: old code against new, same archive, same
run. Also: the CLI end to
end (`polylogue search` from process start to exit), and `rg -l` over the raw
export files (when --data is given and ripgrep is installed), in the same run.
With ``--refresh N``: the kept totals' recount after a small sync, CPU, N times,
alternating with ``--before``'s (it writes the index file, as a sync would).
Prints one JSON object."""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, emit, generated_archive, polylogue_cmd

WORD = re.compile(r"[a-z]{4,}")
CODE = re.compile(r"\b[a-z]+_[a-z_]+[a-z]\b|\b[a-z]+\.[a-z]+\.[a-z]+\b")
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]{3,}")


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def choose_queries(db: Path, sample: int = 3000, seed: int = 1) -> dict[str, str]:
    from polylogue.store import codec
    from polylogue.store.db import load_dictionaries
    from polylogue.store.encode import fts_values

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    load_dictionaries(conn)
    n = conn.execute("SELECT coalesce(sum(messages), 0) FROM provider_totals").fetchone()[0]
    # a pseudo-random sample fixed by the seed: the same archive gives the same queries
    rows = conn.execute(
        "SELECT content, conversation_id FROM messages WHERE ((id % 1000003) * 7919 + ?) % ? = 0 LIMIT ?",
        (seed, max(1, n // sample), sample),
    ).fetchall()
    docs = [" ".join(fts_values(codec.decode_blocks(b))).lower() for b, _ in rows]
    df: collections.Counter = collections.Counter()
    for d in docs:
        df.update(sorted(set(WORD.findall(d))))  # sorted: ties break the same way in every process
    by_df = df.most_common()
    m = len(docs)
    q: dict[str, str] = {}
    q["stopword_like"] = by_df[0][0]
    q["common_word"] = next((w for w, c in by_df if c / m <= 0.12), by_df[len(by_df) // 50][0])
    medium = [w for w, c in by_df if 0.002 <= c / m <= 0.02]
    q["rare_word"] = next(w for w, c in reversed(by_df) if c == 1)
    mset = set(medium[:400])
    q["two_words"] = f"{by_df[5][0]} {by_df[6][0]}"
    for d in docs:  # two medium-frequency words that occur together somewhere
        both = [w for w in dict.fromkeys(WORD.findall(d)) if w in mset]
        if len(both) >= 2:
            q["two_words"] = f"{both[0]} {both[1]}"
            break
    for d in docs:  # a phrase that exists: two adjacent medium-frequency words
        ws = WORD.findall(d)
        pair = next((f'"{a} {b}"' for a, b in zip(ws, ws[1:]) if df[a] < m * 0.05 and df[b] < m * 0.3), None)
        if pair:
            q["phrase"] = pair
            break
    q["prefix"] = q["common_word"][:3] + "*"
    provider = conn.execute("SELECT provider FROM provider_totals ORDER BY messages DESC LIMIT 1").fetchone()[0]
    q["word_with_filters"] = (
        f"{medium[2] if len(medium) > 2 else q['common_word']} provider:{provider} since:2025-01-01"
    )
    if n >= 500_000:
        target = 100_000 / n
        q["over_100k_matches"] = next((w for w, c in reversed(by_df) if c / m >= target * 1.5), by_df[1][0])
    for d in docs:
        mm = CODE.search(d)
        if mm:
            q["code_identifier"] = mm.group(0)
            break
    for b, _ in rows:
        mm = CJK.search(" ".join(blk.text for blk in codec.decode_blocks(b)))  # a real run, not the index text
        if mm:
            q["cjk_substring"] = mm.group(0)[1:4]
            break
    q.update(_issue19_queries(conn, rows, docs, df, m, seed))
    conn.close()
    return q


def _issue19_queries(conn, rows, docs, df, m: int, seed: int) -> dict[str, str]:
    """Title words, a word that has other forms in the archive, and two words
    that share a conversation but no message (the whole-conversation search)."""
    from polylogue.store.forms import forms

    out: dict[str, str] = {}
    titles = [
        t.lower()
        for (t,) in conn.execute(
            "SELECT title FROM conversations WHERE ((id * 7919 + ?) % 97) = 0 AND title IS NOT NULL LIMIT 500", (seed,)
        )
    ]
    tdf: collections.Counter = collections.Counter(w for t in titles for w in sorted(set(WORD.findall(t))))
    title_words = [w for w, c in tdf.most_common() if c >= 2 and df[w] < m * 0.05]
    if title_words:
        out["title_word"] = title_words[0]
    for t in titles:
        ws = [w for w in dict.fromkeys(WORD.findall(t)) if df[w] < m * 0.05]
        if len(ws) >= 2:
            out["title_words"] = f"{ws[0]} {ws[1]}"
            break
    medium = [w for w, c in df.most_common() if 0.002 <= c / m <= 0.05]
    out["word_forms"] = next((w for w in medium if any(df[f] for f in forms(w))), medium[0] if medium else "word")
    by_conv: dict[int, list[set[str]]] = collections.defaultdict(list)
    for (_, cid), d in zip(rows, docs):
        by_conv[cid].append({w for w in WORD.findall(d) if 0.002 <= df[w] / m <= 0.05})
    for msgs in by_conv.values():  # a word of one message and a word of another that no sampled message joins
        pair = next(
            (
                (a, b)
                for x, y in zip(msgs, msgs[1:])
                for a in sorted(x - y)
                for b in sorted(y - x)
                if not any(a in d and b in d for d in msgs)
            ),
            None,
        )
        if pair:
            out["spread_words"] = f"{pair[0]} {pair[1]}"
            break
    typo_base = next((w for w in medium if len(w) >= 6), None)
    if typo_base:  # two neighbouring letters swapped: a word the index does not hold
        out["typo"] = typo_base[:2] + typo_base[3] + typo_base[2] + typo_base[4:]
    return out


BASELINE = {"within": "message", "forms": False}  # the search before whole conversations and word forms


_BEFORE_SERVER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from polylogue.api import Archive
a = Archive(sys.argv[2])
for line in sys.stdin:
    t, c = time.perf_counter(), time.process_time()
    r = a.search(json.loads(line), limit=20, cache=False)
    dt, dc = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
    print(json.dumps([dt, dc, r.total_messages, r.total_conversations]), flush=True)
"""


class Before:
    """The default search of an older commit, in a child process: one query in, its time out."""

    def __init__(self, rev: str, home: Path):
        self.tree = Path(tempfile.mkdtemp(prefix="polylogue-before-"))
        tar = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(self.tree)], input=tar, check=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BEFORE_SERVER, str(self.tree), str(home)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def search(self, text: str) -> tuple[float, float, int, int]:
        """(wall ms, CPU ms, total messages, total conversations)."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(text) + "\n")
        self.proc.stdin.flush()
        ms, cpu, m, c = json.loads(self.proc.stdout.readline())
        return ms, cpu, m, c

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        shutil.rmtree(self.tree, ignore_errors=True)


def bench_queries(home: Path, queries: dict[str, str], runs: int, before: Before | None = None) -> dict:
    from polylogue.api import Archive

    a = Archive(home)
    out = {}
    every: list[float] = []
    every_before: list[float] = []
    for name, text in queries.items():
        times, base, prev, cpu, prev_cpu = [], [], [], [], []
        prev_totals = None
        for i in range(runs + 2):  # the default search and the baseline (and --before), alternating
            t, c = time.perf_counter(), time.process_time()
            res = a.search(text, limit=20, cache=False)
            dt, dc = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
            t = time.perf_counter()
            a.search(text, limit=20, cache=False, **BASELINE)
            db = (time.perf_counter() - t) * 1000
            if before:
                dp, dpc, *prev_totals = before.search(text)
            if i >= 2:  # two warm-ups
                times.append(dt)
                cpu.append(dc)
                base.append(db)
                if before:
                    prev.append(dp)
                    prev_cpu.append(dpc)
        every += times
        every_before += prev
        out[name] = {
            "query": text,
            "total_messages": res.total_messages,
            "total_conversations": res.total_conversations,
            "shown": len(res.conversations),
            "relevance_ranked": not res.notes,
            "p50_ms": round(percentile(times, 50), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "p99_ms": round(percentile(times, 99), 2),
            "max_ms": round(max(times), 2),
            "baseline_p50_ms": round(percentile(base, 50), 2),
            "baseline_p99_ms": round(percentile(base, 99), 2),
            "suggested": res.did_you_mean,
            # CPU time of the search process: on a shared machine, less inflated by the others' load
            "cpu_p50_ms": round(percentile(cpu, 50), 2),
            "cpu_p99_ms": round(percentile(cpu, 99), 2),
            "totals_exact": res.exact,
        }
        if before:
            out[name]["before_cpu_p50_ms"] = round(percentile(prev_cpu, 50), 2)
            out[name]["before_cpu_p99_ms"] = round(percentile(prev_cpu, 99), 2)
            out[name]["before_p50_ms"] = round(percentile(prev, 50), 2)
            out[name]["before_p99_ms"] = round(percentile(prev, 99), 2)
            # the same totals as the older code: a faster search must not count differently
            out[name]["before_same_totals"] = prev_totals == [res.total_messages, res.total_conversations]
    out["_overall"] = {
        "p50_ms": round(percentile(every, 50), 2),
        "p95_ms": round(percentile(every, 95), 2),
        "p99_ms": round(percentile(every, 99), 2),
    }
    if every_before:
        out["_overall"]["before_p50_ms"] = round(percentile(every_before, 50), 2)
        out["_overall"]["before_p99_ms"] = round(percentile(every_before, 99), 2)
    a.close()
    return out


_REFRESH = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from polylogue.store import indexer, term_totals
idx = indexer.open_indexer(Path(sys.argv[2]) / "polylogue.db")
top = idx.execute("SELECT max(id) FROM conversations").fetchone()[0]
block = top >> term_totals.settings(idx)[0]
with idx:  # what a sync's indexer does to the block it writes into: its kept counts go
    idx.execute("BEGIN IMMEDIATE")
    idx.execute("DELETE FROM term_totals WHERE block = ?", (block,))
t = time.process_time()
made = term_totals.refresh(idx)
print(time.process_time() - t, made)
idx.close()
"""


def bench_refresh(home: Path, runs: int, before: str | None) -> dict:
    """CPU seconds of the kept totals' recount after a small sync (term_totals.refresh once the
    last block's counts are dropped, as a sync writing new conversations drops them), this code
    and ``before``'s tree alternating. It writes the archive's index file (as a sync would)."""
    trees = {"new": REPO}
    tmp = None
    if before:
        tmp = Path(tempfile.mkdtemp(prefix="polylogue-before-"))
        tar = subprocess.run(["git", "-C", str(REPO), "archive", before], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=tar, check=True)
        trees["before"] = tmp
    got: dict[str, list[float]] = {k: [] for k in trees}
    made: dict[str, int] = {}
    try:
        for _ in range(runs):
            for name, tree in trees.items():
                out = subprocess.run(
                    [sys.executable, "-c", _REFRESH, str(tree), str(home)], capture_output=True, text=True, check=True
                ).stdout.split()
                got[name].append(float(out[0]))
                made[name] = int(out[1])
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    out = {f"{k}_cpu_s": [round(x, 3) for x in v] for k, v in got.items()}
    out.update({f"{k}_counts_made": v for k, v in made.items()})
    if before:
        out["ratio_median"] = round(statistics.median(got["new"]) / statistics.median(got["before"]), 3)
    return out


def bench_cli(home: Path, query: str, runs: int) -> dict:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(
            polylogue_cmd("--home", str(home), "search", query, "--limit", "20", "--json"),
            capture_output=True,
            check=True,
        )
        times.append((time.perf_counter() - t) * 1000)
    return {"query": query, "p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "runs": runs}


def bench_rg(data: Path, word: str, runs: int = 3) -> dict:
    rg = shutil.which("rg")
    if not rg:
        return {"skipped": "ripgrep (rg) is not installed"}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        # --hidden --no-ignore: the session trees live in dot-folders (.claude, .codex, .gemini),
        # which rg skips by default
        subprocess.run([rg, "-l", "-z", "--hidden", "--no-ignore", word, str(data)], capture_output=True)
        times.append(time.perf_counter() - t)
    return {
        "word": word,
        "median_s": round(statistics.median(times), 3),
        "runs": runs,
        "flags": "-l -z --hidden --no-ignore",
        "note": "rg -z also searches compressed files; zip archives are not searched by rg",
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path)
    ap.add_argument("--data", type=Path, help="raw export files of the same corpus, for the rg comparison")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--cli-runs", type=int, default=10)
    ap.add_argument("--before", metavar="REV", help="also time the default search of this commit (git rev)")
    ap.add_argument(
        "--refresh",
        type=int,
        default=0,
        metavar="N",
        help="also time the kept totals' recount after a small sync N times (writes the index file, as a sync would)",
    )
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    tmp = None
    if args.smoke:
        tmp = Path(tempfile.mkdtemp(prefix="polylogue-search-"))
        home, data = generated_archive(tmp, 40, 20)
        args.home, args.data, args.runs, args.cli_runs = home, data, 3, 2
    try:
        db = args.home / "polylogue.db"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        n = conn.execute("SELECT coalesce(sum(messages), 0) FROM provider_totals").fetchone()[0]
        conn.close()
        queries = choose_queries(db)
        before = Before(args.before, args.home) if args.before else None
        try:
            timed = bench_queries(args.home, queries, args.runs, before)
        finally:
            if before:
                before.close()
        result = {
            "benchmark": "search",
            "archive": {"home": str(args.home), "messages": n, "database_bytes": db.stat().st_size},
            "before": args.before,
            "queries": timed,
            "cli_end_to_end": bench_cli(args.home, queries["rare_word"], args.cli_runs),
        }
        if args.refresh:
            result["refresh_after_small_sync"] = bench_refresh(args.home, args.refresh, args.before)
        if args.data:
            rg = bench_rg(args.data, queries["rare_word"])
            result["ripgrep"] = rg
            if "median_s" in rg:
                ours = result["queries"]["rare_word"]["p50_ms"] / 1000
                result["speedup_vs_rg"] = round(rg["median_s"] / max(ours, 1e-6), 1)
        return result
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    emit(main())
