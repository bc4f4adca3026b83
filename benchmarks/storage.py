#!/usr/bin/env python3
"""Storage benchmark: bytes per part of the archive, against a naive layout.

    python benchmarks/storage.py [--conversations 2000] [--smoke]

Two corpora from the generator: the standard workload (~50 messages of ~500
chars) and a tool-heavy coding-agent mix (--tool-heavy). For each, the archive
is built with `polylogue sync`, and in the same run a naive layout of the same
data: a plain text column (the uncompressed block JSON) plus a standard FTS5
table that keeps its own copy of the text. Both are checkpointed before
measuring. Parts come from SQLite's dbstat: message rows, the text itself (the
content column), the full-text index, the other indexes.

Before/after compression (key "before_after" per corpus): ours is vacuumed
into a copy, and a second copy has every stored value decompressed to plain
JSON, vacuumed too (checked with SQL afterwards): the full-text index is byte
for byte the same in both, so only the storage of text differs. Then, in
the same process and interleaved so background load hits both alike, on the
compressed and the plain archive: search latency (the query set of
benchmarks/search.py, drawn from this archive, through Archive.search with the
cache off), `show` latency (what `polylogue show` does when piped: stream the
conversation and render Markdown) and load latency (Archive.conversation, the
decode alone), each as p50/p99 ms with the ratio compressed/plain.

With --before REV (key "versus_before"): the same show and search, each
configuration in a fresh process per round (benchmarks/read_worker.py), with
the package as it was at REV reading the uncompressed archive ("before": the
reading path and layout before a change) against this code reading the
compressed one ("after"); also the 20 conversations with the most stored
bytes, shown apart (key "show_heaviest": the tail by construction).
Prints one JSON object."""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, emit, polylogue_cmd
from benchmarks.read_worker import run_worker


def _with_index(db: Path) -> sqlite3.Connection:
    """The archive with its index file attached (polylogue keeps the full-text index in
    index.db beside it, store/indexer.py); a naive archive has none."""
    conn = sqlite3.connect(db)
    index = db.parent / "index.db"
    if index.exists():
        conn.execute("ATTACH DATABASE ? AS idx", (str(index),))
    return conn


def parts(db: Path, content_sql: str) -> dict:
    conn = _with_index(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    by = {name: size for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")}
    if (db.parent / "index.db").exists():
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat('idx') GROUP BY name"):
            by[name] = by.get(name, 0) + size
    n = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    content = conn.execute(content_sql).fetchone()[0] or 0
    fts = sum(v for k, v in by.items() if k.startswith(("messages_fts", "titles_fts", "naive_fts")))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    idx = sum(
        v
        for k, v in by.items()
        if k not in tables and not k.startswith(("messages_fts", "titles_fts", "naive_fts")) and k != "sqlite_schema"
    )
    msg_table = by.get("messages", 0)
    conn.close()
    total = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    if db.name == "polylogue.db":
        total += sum(p.stat().st_size for p in db.parent.glob("index.db*"))
    return {
        "file_bytes": total,
        "messages": n,
        "message_rows_bytes": msg_table - content,
        "text_bytes": content,
        "fts_bytes": fts,
        "other_index_bytes": idx,
        "per_message_bytes": round(total / max(n, 1), 1),
    }


def decode_cost(ours: Path, theirs: Path, n: int = 20000) -> dict:
    """What compression adds to reading a message: decompress + parse (ours)
    against parsing plain JSON text (naive), per message, p50/p99 in µs."""
    import time

    import orjson

    from polylogue.store import codec
    from polylogue.store.db import load_dictionaries

    def timed(db: Path, fn) -> list[float]:
        conn = sqlite3.connect(db)
        load_dictionaries(conn)
        out = []
        for (blob,) in conn.execute("SELECT content FROM messages LIMIT ?", (n,)):
            t = time.perf_counter()
            fn(blob)
            out.append((time.perf_counter() - t) * 1e6)
        conn.close()
        return sorted(out)

    a = timed(ours, lambda b: orjson.loads(codec.decode_json(b)))
    b = timed(theirs, lambda t: orjson.loads(t))
    pick = lambda xs, p: round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))], 1)
    return {
        "messages": len(a),
        "ours_p50_us": pick(a, 50),
        "ours_p99_us": pick(a, 99),
        "ours_max_us": round(a[-1], 1),
        "plain_p50_us": pick(b, 50),
        "plain_p99_us": pick(b, 99),
    }


def naive(src: Path, dest: Path) -> None:
    """The same data, laid out plainly: text as-is, FTS5 with its own copy."""
    from polylogue.store import codec
    from polylogue.store.db import load_dictionaries
    from polylogue.store.encode import fts_values

    s = sqlite3.connect(src)
    load_dictionaries(s)
    d = sqlite3.connect(dest)
    d.execute("PRAGMA journal_mode = WAL")
    d.execute("ATTACH ? AS src", (str(src),))
    d.execute("CREATE TABLE conversations AS SELECT * FROM src.conversations")
    d.execute("DETACH src")
    d.execute(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER, seq INTEGER, mid TEXT, "
        "parent_mid TEXT, role TEXT, timestamp INTEGER, flags INTEGER, model TEXT, usage TEXT, meta TEXT, "
        "content TEXT)"
    )
    d.execute("CREATE INDEX messages_conversation_seq ON messages(conversation_id, seq)")
    d.execute("CREATE VIRTUAL TABLE naive_fts USING fts5(text, thinking, tool_use, tool_result)")
    d.execute("BEGIN")
    rows = s.execute(
        "SELECT id, conversation_id, seq, mid, parent_mid, role, timestamp, flags, model, usage, meta,"
        " content FROM messages"
    )
    for r in rows:
        raw = codec.decode_json(r[11])
        plain = [codec.decode_json(v).decode() if isinstance(v, bytes) else v for v in r[9:11]]  # usage, meta
        d.execute("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (*r[:9], *plain, raw.decode()))
        d.execute(
            "INSERT INTO naive_fts(rowid, text, thinking, tool_use, tool_result) VALUES (?,?,?,?,?)",
            (r[0], *fts_values(codec.decode_blocks(r[11]))),
        )
    d.execute("COMMIT")
    d.close()
    s.close()


def timing_copies(ours: Path, compressed: Path, plain: Path) -> float:
    """Two archives to time reading on, equal in all but the storage of text:
    ours vacuumed into ``compressed``, and a copy of that with every stored value
    decompressed to the plain JSON the codec keeps when compression does not pay
    (content, usage and meta of messages, meta of conversations), vacuumed too.
    The full-text index is the very same in both: its segment layout depends on
    a sync's commit timing, and moves query times by more than compression does."""
    from polylogue.store import codec
    from polylogue.store.db import load_dictionaries

    t = time.perf_counter()
    for home in (compressed, plain):
        home.mkdir(parents=True)
    src = _with_index(ours / "polylogue.db")
    src.execute("VACUUM INTO ?", (str(compressed / "polylogue.db"),))
    src.execute("VACUUM idx INTO ?", (str(compressed / "index.db"),))
    src.close()
    shutil.copy2(compressed / "polylogue.db", plain / "polylogue.db")
    shutil.copy2(compressed / "index.db", plain / "index.db")
    conn = sqlite3.connect(plain / "polylogue.db")
    load_dictionaries(conn)
    conn.create_function("plain", 1, lambda v: None if v is None else codec.decode_json(v))
    conn.execute("UPDATE messages SET content = plain(content), usage = plain(usage), meta = plain(meta)")
    conn.execute("UPDATE conversations SET meta = plain(meta)")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()
    return time.perf_counter() - t


def check_plain(plain: Path, ours: Path) -> dict:
    """No row of the plain archive is compressed, it holds the same JSON as ours, and the same index."""
    from polylogue.store import codec
    from polylogue.store.db import load_dictionaries

    conn = _with_index(plain)
    packed = conn.execute(
        "SELECT count(*) FROM messages WHERE substr(content, 1, 1) = x'01' OR "
        "substr(usage, 1, 1) = x'01' OR substr(meta, 1, 1) = x'01'"
    ).fetchone()[0]
    dicts = conn.execute("SELECT count(*) FROM zstd_dicts").fetchone()[0]
    fts = conn.execute("SELECT count(*), sum(length(block)) FROM messages_fts_data").fetchone()
    plain_json = conn.execute(
        "SELECT count(*), sum(length(content)), sum(length(usage)), sum(length(meta)) FROM messages"
    ).fetchone()
    conn.close()
    if packed:
        raise RuntimeError(f"plain archive has {packed} compressed rows left")
    conn = _with_index(ours)
    if conn.execute("SELECT count(*), sum(length(block)) FROM messages_fts_data").fetchone() != fts:
        raise RuntimeError("the plain archive's full-text index differs from ours")
    load_dictionaries(conn)
    n, sums = 0, [0, 0, 0]
    for row in conn.execute("SELECT content, usage, meta FROM messages"):
        n += 1
        for i, v in enumerate(row):
            if v is not None:
                sums[i] += len(codec.decode_json(v))
    conn.close()
    if (n, *sums) != tuple(x or 0 for x in plain_json):
        raise RuntimeError(f"plain archive differs from ours: {(n, *sums)} vs {plain_json}")
    return {"compressed_rows": packed, "dictionaries_stored": dicts}


def _stats(xs: list[float]) -> dict:
    from benchmarks.search import percentile

    return {"p50_ms": round(percentile(xs, 50), 3), "p99_ms": round(percentile(xs, 99), 3)}


def _versus(times: dict[str, list[float]], new: str = "compressed", old: str = "plain") -> dict:
    c, p = _stats(times[new]), _stats(times[old])
    return {
        new: c,
        old: p,
        "ratio_p50": round(c["p50_ms"] / max(p["p50_ms"], 1e-9), 3),
        "ratio_p99": round(c["p99_ms"] / max(p["p99_ms"], 1e-9), 3),
    }


def _interleaved(archives: dict, fn, repeat: int, warmup: int = 0) -> tuple[dict[str, list[float]], dict]:
    """Time fn(archive) on every archive in turn, alternating which goes first."""
    times: dict[str, list[float]] = {k: [] for k in archives}
    last: dict = {}
    for i in range(warmup + repeat):
        order = list(archives.items())
        if i % 2:
            order.reverse()
        for k, a in order:
            t = time.perf_counter()
            last[k] = fn(a)
            dt = (time.perf_counter() - t) * 1000
            if i >= warmup:
                times[k].append(dt)
    return times, last


def bench_search(archives: dict, queries: dict[str, str], runs: int) -> dict:
    out: dict = {}
    every: dict[str, list[float]] = {k: [] for k in archives}
    for name, text in queries.items():
        times, res = _interleaved(archives, lambda a: a.search(text, limit=20, cache=False), runs, warmup=2)
        for k in archives:
            every[k] += times[k]
        r = res["compressed"]
        out[name] = {
            "query": text,
            "total_messages": r.total_messages,
            "same_totals": r.total_messages == res["plain"].total_messages
            and r.total_conversations == res["plain"].total_conversations,
            **_versus(times),
        }
    out["_overall"] = _versus(every)
    return out


def show_markdown(a, ident: str) -> str:
    """What `polylogue show ID` does when its output is piped (cli.show, Markdown)."""
    from polylogue.render.markdown import write_markdown

    out = io.StringIO()
    summary, messages = a.stream(ident)
    write_markdown(out, summary, messages, a.list(parent=summary["id"], limit=200))
    return out.getvalue()


def bench_show(archives: dict, idents: list[str], rounds: int) -> tuple[dict, dict]:
    show: dict[str, list[float]] = {k: [] for k in archives}
    load: dict[str, list[float]] = {k: [] for k in archives}
    differ = 0
    for ident in idents[:5]:  # warm-up: connections, dictionaries, imports
        for a in archives.values():
            show_markdown(a, ident)
            a.conversation(ident)
    for _ in range(rounds):
        for ident in idents:
            t, text = _interleaved(archives, lambda a: show_markdown(a, ident), 1)
            differ += text["compressed"] != text["plain"]
            for k in archives:
                show[k] += t[k]
            t, _ = _interleaved(archives, lambda a: a.conversation(ident), 1)
            for k in archives:
                load[k] += t[k]
    n = len(idents)
    return (
        {"format": "markdown", "conversations": n, "rounds": rounds, "outputs_differ": differ, **_versus(show)},
        {"conversations": n, "rounds": rounds, **_versus(load)},
    )


def code_at(rev: str, dest: Path) -> Path:
    """The package as it was at a git revision (git archive: the repository is not touched)."""
    dest.mkdir(parents=True)
    tar = subprocess.run(["git", "-C", str(REPO), "archive", rev, "polylogue"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest


def versus_code(
    before: Path, plain_home: Path, ours_home: Path, idents: list[str], queries: dict[str, str], rounds: int, work: Path
) -> dict:
    """Show and search with the code at --before on the uncompressed archive (the
    reading path before this change) against this code on the compressed archive
    (after it): each a fresh process per round (benchmarks/read_worker.py),
    alternating which goes first."""
    import json

    spec = work / "read-spec.json"
    conn = sqlite3.connect(ours_home / "polylogue.db")
    heavy = [
        r[0]
        for r in conn.execute(  # the tail by construction: most stored bytes
            "SELECT c.uid FROM messages m JOIN conversations c ON c.id = m.conversation_id GROUP BY c.id "
            "ORDER BY sum(length(m.content)) DESC LIMIT 20"
        )
    ]
    conn.close()
    spec.write_text(
        json.dumps({"ids": idents, "heavy_ids": heavy, "queries": queries, "warmup": 5, "search_repeat": 3})
    )
    configs = {"after": (REPO, ours_home), "before": (before, plain_home)}
    show: dict[str, list[float]] = {k: [] for k in configs}
    heaviest: dict[str, list[float]] = {k: [] for k in configs}
    search: dict[str, list[float]] = {k: [] for k in configs}
    per_query: dict[str, dict[str, list[float]]] = {q: {k: [] for k in configs} for q in queries}
    # steady: per round, a whole pass of shows and each query's best of its repeats; the
    # median of those over rounds shrugs off this machine's bursts, which move p50s by ±15%
    steady: dict[str, dict[str, list[float]]] = {x: {k: [] for k in configs} for x in ("show", "heaviest", *queries)}
    for r in range(rounds):
        for k in list(configs) if r % 2 else list(configs)[::-1]:
            code, home = configs[k]
            got = run_worker(code, home, spec, cwd=work)
            show[k] += got["show_ms"]
            heaviest[k] += got["heaviest_ms"]
            steady["show"][k].append(sum(got["show_ms"]))
            steady["heaviest"][k].append(sum(got["heaviest_ms"]))
            for q, xs in got["search_ms"].items():
                search[k] += xs
                per_query[q][k] += xs
                steady[q][k].append(min(xs))
    import statistics

    def steady_ratio(x: str) -> float:
        after, before = (statistics.median(steady[x][k]) for k in ("after", "before"))
        return round(after / max(before, 1e-9), 3)

    return {
        "rounds": rounds,
        "show": {
            "conversations": len(idents),
            **_versus(show, "after", "before"),
            "steady_ratio": steady_ratio("show"),
        },
        "show_heaviest": {
            "conversations": len(heavy),
            **_versus(heaviest, "after", "before"),
            "steady_ratio": steady_ratio("heaviest"),
        },
        "search": {
            "overall": _versus(search, "after", "before"),
            **{q: {**_versus(v, "after", "before"), "steady_ratio": steady_ratio(q)} for q, v in per_query.items()},
        },
    }


def before_after(
    ours_home: Path,
    plain_home: Path,
    search_runs: int,
    show_n: int,
    show_rounds: int,
    before: Path | None = None,
    before_rounds: int = 20,
    work: Path | None = None,
) -> dict:
    from benchmarks.search import choose_queries
    from polylogue.api import Archive

    db = ours_home / "polylogue.db"
    queries = choose_queries(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    idents = [r[0] for r in conn.execute("SELECT uid FROM conversations ORDER BY uid")]
    conn.close()
    idents = random.Random(6).sample(idents, min(show_n, len(idents)))
    archives = {"compressed": Archive(ours_home), "plain": Archive(plain_home)}
    try:
        search = bench_search(archives, queries, search_runs)
        show, load = bench_show(archives, idents, show_rounds)
    finally:
        for a in archives.values():
            a.close()
    out = {"search": {"runs": search_runs, "limit": 20, "cache": False, "queries": search}, "show": show, "load": load}
    if before is not None:
        out["versus_before"] = versus_code(before, plain_home, ours_home, idents, queries, before_rounds, work)
    return out


def corpus(work: Path, name: str, conversations: int, extra: list[str], ba: dict) -> dict:
    data = work / f"data-{name}"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "generate.py"),
            str(data),
            "--conversations",
            str(conversations),
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    home = work / f"home-{name}"
    t = time.perf_counter()
    subprocess.run(polylogue_cmd("--home", str(home), "sync", str(data)), check=True, capture_output=True)
    sync_ours = time.perf_counter() - t
    plain_home = work / f"plain-{name}"
    compressed_home = work / f"compressed-{name}"
    copies_s = timing_copies(home, compressed_home, plain_home)
    ours = parts(home / "polylogue.db", "SELECT sum(length(content)) FROM messages")
    nv = work / f"naive-{name}.db"
    naive(home / "polylogue.db", nv)
    theirs = parts(nv, "SELECT sum(length(CAST(content AS BLOB))) FROM messages")
    conn = sqlite3.connect(home / "polylogue.db")
    raw_text = theirs["text_bytes"]
    compressed = conn.execute("SELECT count(*) FROM messages WHERE substr(content, 1, 1) = x'01'").fetchone()[0]
    conn.close()
    shutil.rmtree(data, ignore_errors=True)
    decode = decode_cost(home / "polylogue.db", nv)
    plain = parts(plain_home / "polylogue.db", "SELECT sum(length(content)) FROM messages")
    plain.update(check_plain(plain_home / "polylogue.db", home / "polylogue.db"))
    comparison = {
        "plain_archive": plain,
        "file_ratio": round(ours["file_bytes"] / plain["file_bytes"], 3),
        "sync_seconds": round(sync_ours, 2),
        "timing_copies_seconds": round(copies_s, 2),
        **before_after(compressed_home, plain_home, **ba, work=work),
    }
    shutil.rmtree(plain_home, ignore_errors=True)
    shutil.rmtree(compressed_home, ignore_errors=True)
    for p in (ours, theirs):
        p["per_raw_text_byte"] = round(p["file_bytes"] / max(raw_text, 1), 3)
    return {
        "generator_args": ["--conversations", str(conversations), *extra],
        "ours": ours,
        "naive": theirs,
        "ratio_to_naive": round(ours["file_bytes"] / theirs["file_bytes"], 3),
        "text_ratio": round(ours["text_bytes"] / max(raw_text, 1), 3),
        "compressed_share": round(compressed / max(ours["messages"], 1), 3),
        "decode": decode,
        "before_after": comparison,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--search-runs", type=int, default=30, help="timed runs per query (after two warm-ups)")
    ap.add_argument("--show-conversations", type=int, default=200, help="random conversations to show")
    ap.add_argument("--show-rounds", type=int, default=3, help="times each is shown")
    ap.add_argument(
        "--before",
        metavar="REV",
        help="also time show and search with the package at this git revision on the uncompressed "
        "archive against this code on the compressed one (key versus_before)",
    )
    ap.add_argument("--before-rounds", type=int, default=20, help="fresh processes per side for --before")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    if args.smoke:
        args.conversations = 30
        args.search_runs, args.show_conversations, args.show_rounds, args.before_rounds = 3, 10, 1, 2
    work = Path(tempfile.mkdtemp(prefix="polylogue-storage-"))
    try:
        ba = {
            "search_runs": args.search_runs,
            "show_n": args.show_conversations,
            "show_rounds": args.show_rounds,
            "before": code_at(args.before, work / "before") if args.before else None,
            "before_rounds": args.before_rounds,
        }
        return {
            "benchmark": "storage",
            "roadmap": corpus(work, "roadmap", args.conversations, ["--messages", "50", "--chars", "500"], ba),
            "tool_heavy": corpus(work, "tools", args.conversations, ["--tool-heavy"], ba),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    emit(main())
