#!/usr/bin/env python3
"""Storage benchmark: bytes per part of the archive, against a naive layout.

    python benchmarks/storage.py [--conversations 2000] [--smoke]

Two corpora from the generator: the roadmap workload (~50 messages of ~500
chars) and a tool-heavy coding-agent mix (--tool-heavy). For each, the archive
is built with `polylogue sync`, and in the same run a naive layout of the same
data: a plain text column (the uncompressed block JSON) plus a standard FTS5
table that keeps its own copy of the text. Both are checkpointed before
measuring. Parts come from SQLite's dbstat: message rows, the text itself (the
content column), the full-text index, the other indexes. Prints one JSON object."""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, emit, polylogue_cmd  # noqa: E402


def parts(db: Path, content_sql: str) -> dict:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    by = {name: size for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")}
    n = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    content = conn.execute(content_sql).fetchone()[0] or 0
    fts = sum(v for k, v in by.items() if k.startswith(("messages_fts", "titles_fts", "naive_fts")))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    idx = sum(v for k, v in by.items() if k not in tables and not k.startswith(("messages_fts", "titles_fts", "naive_fts"))
              and k != "sqlite_schema")
    msg_table = by.get("messages", 0)
    conn.close()
    total = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return {"file_bytes": total, "messages": n, "message_rows_bytes": msg_table - content, "text_bytes": content,
            "fts_bytes": fts, "other_index_bytes": idx, "per_message_bytes": round(total / max(n, 1), 1)}


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
    pick = lambda xs, p: round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))], 1)  # noqa: E731
    return {"messages": len(a), "ours_p50_us": pick(a, 50), "ours_p99_us": pick(a, 99), "ours_max_us": round(a[-1], 1),
            "plain_p50_us": pick(b, 50), "plain_p99_us": pick(b, 99)}


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
    d.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER, seq INTEGER, mid TEXT, "
              "parent_mid TEXT, role TEXT, timestamp INTEGER, flags INTEGER, model TEXT, usage TEXT, meta TEXT, "
              "content TEXT)")
    d.execute("CREATE INDEX messages_conversation_seq ON messages(conversation_id, seq)")
    d.execute("CREATE VIRTUAL TABLE naive_fts USING fts5(text, thinking, tool_use, tool_result)")
    d.execute("BEGIN")
    rows = s.execute("SELECT id, conversation_id, seq, mid, parent_mid, role, timestamp, flags, model, usage, meta,"
                     " content FROM messages")
    for r in rows:
        raw = codec.decode_json(r[11])
        plain = [codec.decode_json(v).decode() if isinstance(v, bytes) else v for v in r[9:11]]  # usage, meta
        d.execute("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (*r[:9], *plain, raw.decode()))
        d.execute("INSERT INTO naive_fts(rowid, text, thinking, tool_use, tool_result) VALUES (?,?,?,?,?)",
                  (r[0], *fts_values(codec.decode_blocks(r[11]))))
    d.execute("COMMIT")
    d.close()
    s.close()


def corpus(work: Path, name: str, conversations: int, extra: list[str]) -> dict:
    data = work / f"data-{name}"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "generate.py"), str(data), "--conversations",
                    str(conversations), *extra], check=True, capture_output=True)
    home = work / f"home-{name}"
    subprocess.run(polylogue_cmd("--home", str(home), "sync", str(data)), check=True, capture_output=True)
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
    for p in (ours, theirs):
        p["per_raw_text_byte"] = round(p["file_bytes"] / max(raw_text, 1), 3)
    return {"generator_args": ["--conversations", str(conversations), *extra], "ours": ours, "naive": theirs,
            "ratio_to_naive": round(ours["file_bytes"] / theirs["file_bytes"], 3),
            "text_ratio": round(ours["text_bytes"] / max(raw_text, 1), 3),
            "compressed_share": round(compressed / max(ours["messages"], 1), 3), "decode": decode}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    if args.smoke:
        args.conversations = 30
    work = Path(tempfile.mkdtemp(prefix="polylogue-storage-"))
    try:
        return {"benchmark": "storage",
                "roadmap": corpus(work, "roadmap", args.conversations, ["--messages", "50", "--chars", "500"]),
                "tool_heavy": corpus(work, "tools", args.conversations, ["--tool-heavy"])}
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    emit(main())
