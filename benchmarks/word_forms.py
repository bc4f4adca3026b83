#!/usr/bin/env python3
"""Word forms (issue 19): query-side expansion against the porter tokenizer, on the same messages.

    python benchmarks/word_forms.py [--home ARCHIVE | --data EXPORTS | --conversations N]
        [--messages N] [--runs R] [--scratch DIR]
    python benchmarks/word_forms.py --smoke

Three designs, each built from the same index texts into its own scratch database:

  expansion    today's index (unicode61 remove_diacritics 2); a plain query word
               becomes the OR of its forms the index holds (store/forms.py, as
               store/fts.py's _with_forms builds it). The shipped design.
  porter       the same index with the FTS5 tokenizer 'porter unicode61
               remove_diacritics 2' instead: one index, a plain MATCH.
  two_indexes  today's index plus a porter index beside it: plain words go to
               the porter one, quoted words, identifiers, paths and CJK to today's.

The messages come from an existing archive (``--home``, read only: a
deterministic sample of whole conversations up to ``--messages``), or from
exports synced into a temporary home (``--data``), or from a world that
benchmarks/generate.py makes (``--conversations``, the default). Their index
text is encode.fts_values of the decoded blocks, written once to a scratch
table that every build reads (the titles of their conversations too).

Measured for each design: the index's bytes (dbstat: the pages of the FTS
shadow tables), its build time (inserting the same texts, 10,000 messages a
transaction with the import's bulk settings; the median of ``--build-rounds``
builds, the designs interleaved), its vocabulary, and the latency
p50/p99 of inflected one- and two-word queries chosen from the index (each
query runs what search runs for it: the count, then up to 10,000 matches every
match scored with BM25, beyond that the newest matches read; expansion first
looks up which forms the index holds, and expansion and two_indexes then find
the messages holding the exact forms, which rank a tier above the rest: EXACT_TIER). Correctness, on the data: which messages
each design finds, the share of the top 10 holding the typed form, whether a
quoted word finds only its form, whether identifiers, paths and CJK find the
same messages as today; on a fixed set of probe messages: the properties of
issue 19, each a query. Every figure of porter and two_indexes is also given
as a ratio to expansion, measured in the same run. Prints one JSON object."""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, emit
from benchmarks.search import percentile
from polylogue.search import parse
from polylogue.store import codec, forms, whole
from polylogue.store.db import PAGE_SIZE, open_reader
from polylogue.store.encode import FTS_COLUMNS, fts_values
from polylogue.store.fts import RANK_ALL, WEIGHTS, _with_forms
from polylogue.store.ids import rowid_range
from polylogue.store.indexer import FTS_BULK, FTS_NORMAL

UNICODE = "unicode61 remove_diacritics 2"
PORTER = "porter unicode61 remove_diacritics 2"
# each design's FTS tables: (messages table, titles table, tokenizer)
DESIGNS = {
    "expansion": [("messages_fts", "titles_fts", UNICODE)],
    "porter": [("messages_fts", "titles_fts", PORTER)],
    "two_indexes": [("messages_fts", "titles_fts", UNICODE), ("messages_stem", "titles_stem", PORTER)],
}
CHUNK = 10_000
EXACT_QUERIES = 20  # identifiers, paths and CJK runs each
COLS = ", ".join(FTS_COLUMNS)
SCORE = ", ".join(map(str, WEIGHTS))
WORD = re.compile(r"[a-z]{4,}")
IDENT = re.compile(r"\b[a-z]+_[a-z_]+[a-z]\b|\b[a-z]+\.[a-z]+\.[a-z]+\b")
PATH = re.compile(r"(?<![\w/])(?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_-]+\.[a-z]{1,5}\b")
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]{3,}")


# --- the messages -------------------------------------------------------------------------------


def sample_archive(db: Path, src: sqlite3.Connection, messages: int) -> dict:
    """Whole conversations of an archive, in an order fixed by their ids, until
    ``messages``; their index texts and titles go to ``src``. Read only."""
    conn = open_reader(db)
    try:
        total = conn.execute("SELECT coalesce(sum(messages), 0) FROM provider_totals").fetchone()[0]
        chosen, n = [], 0
        for cid, title, count in conn.execute(
            "SELECT id, title, message_count FROM conversations ORDER BY (id * 2654435761) % 4294967296, id"
        ):
            if n >= messages:
                break
            chosen.append((cid, title))
            n += count
        chosen.sort()
        text_bytes = 0
        for cid, title in chosen:
            rows = []
            for rid, blob in conn.execute(
                "SELECT id, content FROM messages WHERE id >= ? AND id < ?", rowid_range(cid)
            ):
                vals = fts_values(codec.decode_blocks(blob))
                text_bytes += sum(len(v) for v in vals)
                rows.append((rid, *vals))
            src.executemany("INSERT INTO texts VALUES (?,?,?,?,?)", rows)
            src.execute("INSERT INTO titles VALUES (?,?)", (cid, title or ""))
        src.commit()
        return {
            "archive_messages": total,
            "archive_database_bytes": db.stat().st_size,
            "conversations": len(chosen),
            "messages": src.execute("SELECT count(*) FROM texts").fetchone()[0],
            "index_text_chars": text_bytes,
        }
    finally:
        conn.close()


def make_source(path: Path) -> sqlite3.Connection:
    src = sqlite3.connect(path)
    src.execute("PRAGMA journal_mode = OFF")
    src.execute("PRAGMA synchronous = OFF")
    src.execute(f"CREATE TABLE texts (id INTEGER PRIMARY KEY, {COLS})")
    src.execute("CREATE TABLE titles (id INTEGER PRIMARY KEY, title)")
    return src


def synced_home(tmp: Path, data: Path | None, conversations: int, messages_per: int | None) -> tuple[Path, dict]:
    """A temporary home with ``data`` synced, or a generated world."""
    from polylogue.api import Archive

    info: dict = {}
    if data is None:
        data = tmp / "world"
        cmd = [
            sys.executable,
            str(REPO / "benchmarks" / "generate.py"),
            str(data),
            "--conversations",
            str(conversations),
        ]
        if messages_per:
            cmd += ["--messages", str(messages_per)]
        subprocess.run(cmd, check=True, capture_output=True)
        info["generated"] = {"conversations": conversations, "messages_per_conversation": messages_per or 50}
    home = tmp / "home"
    a = Archive(home)
    t = time.perf_counter()
    a.sync([data])
    info["sync_seconds"] = round(time.perf_counter() - t, 1)
    a.close()
    info["data"] = str(data)
    return home, info


# --- building the designs ---------------------------------------------------------------------


def create(conn: sqlite3.Connection, design: str) -> None:
    for messages, titles, tok in DESIGNS[design]:
        conn.execute(f"CREATE VIRTUAL TABLE {messages} USING fts5({COLS}, content='', tokenize='{tok}')")
        conn.execute(f"CREATE VIRTUAL TABLE {titles} USING fts5(title, content='', tokenize='{tok}')")


def build(path: Path, design: str, src_path: Path) -> dict:
    """The design's indexes from the source texts, timed; then their size."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # an archive's first import (store/db.py set_bulk)
    conn.execute("PRAGMA wal_autocheckpoint = 4000")
    conn.execute("PRAGMA cache_size = -8000")
    create(conn, design)
    tables = DESIGNS[design]
    for messages, _, _ in tables:
        for option, value in FTS_BULK.items():
            conn.execute(f"INSERT INTO {messages}({messages}, rank) VALUES ('{option}', {value})")
    conn.execute("ATTACH ? AS src", (str(src_path),))
    t, cpu = time.perf_counter(), time.process_time()
    last = -1
    while True:
        conn.execute("BEGIN")
        top = conn.execute(
            "SELECT max(id), count(*) FROM (SELECT id FROM src.texts WHERE id > ? ORDER BY id LIMIT ?)", (last, CHUNK)
        ).fetchone()
        if not top[1]:
            conn.execute("COMMIT")
            break
        for messages, _, _ in tables:
            conn.execute(
                f"INSERT INTO {messages}(rowid, {COLS}) SELECT id, {COLS} FROM src.texts WHERE id > ? AND id <= ?",
                (last, top[0]),
            )
        conn.execute("COMMIT")
        last = top[0]
    for _, titles, _ in tables:
        conn.execute(f"INSERT INTO {titles}(rowid, title) SELECT id, title FROM src.titles")
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    for messages, _, _ in tables:
        for option, value in FTS_NORMAL.items():
            conn.execute(f"INSERT INTO {messages}({messages}, rank) VALUES ('{option}', {value})")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("DETACH src")
    sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    out: dict = {"build_seconds": round(seconds, 2), "build_cpu_seconds": round(cpu, 2), "tables": {}}
    for messages, titles, tok in tables:
        for name in (messages, titles):
            b = sum(v for k, v in sizes.items() if k.startswith(name + "_"))
            out["tables"][name] = {"tokenizer": tok, "bytes": b}
        conn.execute(f"CREATE VIRTUAL TABLE temp.v_{messages} USING fts5vocab(main, {messages}, row)")
        out["tables"][messages]["terms"] = conn.execute(f"SELECT count(*) FROM temp.v_{messages}").fetchone()[0]
    out["index_bytes"] = sum(t["bytes"] for t in out["tables"].values())
    out["message_index_bytes"] = sum(out["tables"][m]["bytes"] for m, _, _ in tables)
    conn.close()
    return out


def build_all(tmp: Path, src_path: Path, rounds: int) -> dict:
    """Each design built ``rounds`` times, the designs interleaved in each round
    (the machine's speed drifts); the median time, the last build kept."""
    out: dict = {}
    each: dict = defaultdict(lambda: defaultdict(list))
    for _ in range(rounds):
        for d in DESIGNS:
            for f in tmp.glob(f"{d}.db*"):
                f.unlink()
            out[d] = build(tmp / f"{d}.db", d, src_path)
            for k in ("build_seconds", "build_cpu_seconds"):
                each[d][k].append(out[d][k])
    for d, times in each.items():
        for k, xs in times.items():
            out[d][k] = round(percentile(xs, 50), 2)
            out[d][k + "_each"] = xs
    return out


def reader(path: Path) -> sqlite3.Connection:
    """As store/db.py open_reader opens an archive for searching."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA cache_size = -8000")
    conn.execute(f"PRAGMA mmap_size = {1 << 31}")
    return conn


# --- choosing the queries ---------------------------------------------------------------------


def vocabulary(path: Path) -> dict[str, int]:
    """Every term of today's message index with its message count, titles' terms with 0."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # read only, but temp tables allowed
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vm USING fts5vocab(main, messages_fts, row)")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vt USING fts5vocab(main, titles_fts, row)")
    vocab = dict(conn.execute("SELECT term, doc FROM temp.vm"))
    for (t,) in conn.execute("SELECT term FROM temp.vt"):
        vocab.setdefault(t, 0)
    conn.close()
    return vocab


def choose_queries(vocab: dict[str, int], src: sqlite3.Connection, ones: int, twos: int) -> dict[str, list[str]]:
    """Inflected words (not their own stem) with another form in the index,
    spread over message counts from common to rare; pairs of them found
    together in a message; identifiers, paths and CJK runs from the texts."""
    inflected = sorted(
        (df, w)
        for w, df in vocab.items()
        if df >= 2 and WORD.fullmatch(w) and forms.stem(w) != w and any(f in vocab for f in forms.forms(w))
    )
    step = max(1, len(inflected) // ones) if inflected else 1
    one = [w for _, w in inflected[::step]][-ones:] if inflected else []
    pool = {w for _, w in inflected}
    two: list[str] = []
    ident: list[str] = []
    paths: list[str] = []
    cjk: list[str] = []
    seen_pairs: set[frozenset] = set()
    for _rid, *vals in src.execute(f"SELECT id, {COLS} FROM texts WHERE id % 7 = 0 ORDER BY id LIMIT 50000"):
        text = "\n".join(v for v in vals if v)
        low = text.lower()
        if len(two) < twos:
            ws = [w for w in dict.fromkeys(WORD.findall(low)) if w in pool]
            pair = frozenset(ws[:2])
            if len(pair) == 2 and pair not in seen_pairs:
                seen_pairs.add(pair)
                two.append(" ".join(sorted(pair)))
        for rx, bucket in ((IDENT, ident), (PATH, paths)):
            m = rx.search(low)
            if m and len(bucket) < EXACT_QUERIES and m.group(0) not in bucket:
                bucket.append(m.group(0))
        m = CJK.search(text.replace(" ", ""))  # the index text has a space between CJK characters
        if m and len(cjk) < EXACT_QUERIES and m.group(0)[:3] not in cjk:
            cjk.append(m.group(0)[:3])
        if len(two) >= twos and min(len(ident), len(paths), len(cjk)) >= EXACT_QUERIES:
            break
    return {"one_word": one, "two_words": two, "identifier": ident, "path": paths, "cjk": cjk}


# --- running a query in each design ------------------------------------------------------------


def count_and_rank(conn: sqlite3.Connection, table: str, expr: str) -> tuple[int, list]:
    """What search does with the words: count the matches; score them all with
    BM25 when there are at most RANK_ALL, else read the newest (a page of 20
    conversations with 3 hits each, as its newest-first walk does, by rowid)."""
    n = conn.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (expr,)).fetchone()[0]
    if n > RANK_ALL:
        newest = f"SELECT 0.0, rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid DESC LIMIT 60"
        return n, conn.execute(newest, (expr,)).fetchall()
    return n, conn.execute(
        f"SELECT bm25({table}, {SCORE}), rowid FROM {table} WHERE {table} MATCH ?", (expr,)
    ).fetchall()


def rowids(conn: sqlite3.Connection, table: str, expr: str) -> set[int]:
    return {r for (r,) in conn.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (expr,))}


def stemmed_route(q) -> bool:
    """two_indexes: a query of plain words goes to the porter index, anything
    else (quoted, identifiers, paths, CJK, prefixes) to today's."""
    return all(t.may_have_forms and forms.expandable(t.tokens[0]) for g in q.groups for t in g)


def run_expansion(conn, q):
    qa = _with_forms(conn, q)  # the held forms: index lookups, as every search does them
    n, rows = count_and_rank(conn, "messages_fts", qa.match())
    held = any(t.forms for g in qa.groups for t in g)
    exact = rowids(conn, "messages_fts", whole._exact(qa).match()) if held and n <= RANK_ALL else None
    return n, rows, exact


def run_expansion_message_forms(conn, q):
    """A variant of expansion, not shipped: the same lookups, but only the forms
    the message index holds go into the message MATCH. A form held only by a
    title (a fallback title cut mid-word holds 'togeth', the stem of 'together')
    otherwise adds an empty term and the exact-form pass to every search."""
    from dataclasses import replace

    def expand(t):
        if not (t.may_have_forms and forms.expandable(t.tokens[0])):
            return t
        kept = []
        for f in forms.forms(t.tokens[0]):
            if conn.execute("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT 1", (f'"{f}"',)).fetchone():
                kept.append(f)
            else:  # as forms.held: the title index next (its forms would serve the title match)
                conn.execute("SELECT 1 FROM titles_fts WHERE titles_fts MATCH ? LIMIT 1", (f'"{f}"',)).fetchone()
        return replace(t, forms=tuple(kept))

    qa = replace(q, groups=[[expand(t) for t in g] for g in q.groups])
    n, rows = count_and_rank(conn, "messages_fts", qa.match())
    held = any(t.forms for g in qa.groups for t in g)
    exact = rowids(conn, "messages_fts", whole._exact(qa).match()) if held and n <= RANK_ALL else None
    return n, rows, exact


def run_porter(conn, q):
    n, rows = count_and_rank(conn, "messages_fts", q.match())
    return n, rows, None


def run_two(conn, q):
    if not stemmed_route(q):
        n, rows = count_and_rank(conn, "messages_fts", q.match())
        return n, rows, None
    n, rows = count_and_rank(conn, "messages_stem", q.match())
    exact = rowids(conn, "messages_fts", q.match()) if n <= RANK_ALL else None
    return n, rows, exact


def run_exact_only(conn, q):
    """Today's search without word forms (the cost forms add, for reference)."""
    n, rows = count_and_rank(conn, "messages_fts", q.match())
    return n, rows, None


RUNNERS = {"expansion": run_expansion, "porter": run_porter, "two_indexes": run_two}


def ranked(rows, exact, strict: bool = False) -> list[int]:
    """Best first: BM25, the messages holding the typed forms a tier above (EXACT_TIER)
    (as store/whole.py ranks), or with ``strict`` all of them before the rest."""
    exact = exact or set()
    if strict:
        return [rid for _, _, rid in sorted((rid not in exact, s, rid) for s, rid in rows)]
    return [rid for _, rid in sorted((s + (whole.EXACT_TIER if rid in exact else 0.0), rid) for s, rid in rows)]


def latency(conns: dict, queries: dict[str, list[str]], runs: int) -> dict:
    """Every query in every design, the designs interleaved within each run so
    they share the machine's drift; two warm-up runs."""
    designs = {
        "exact_only": (conns["expansion"], run_exact_only),
        "forms_lookup": (conns["expansion"], _with_forms),  # expansion's part that finds the held forms
        "expansion_message_forms": (conns["expansion"], run_expansion_message_forms),
        **{d: (conns[d], RUNNERS[d]) for d in RUNNERS},
    }
    times: dict = {d: defaultdict(list) for d in designs}
    for i in range(runs + 2):
        for cls in ("one_word", "two_words"):
            for text in queries[cls]:
                q = parse(text)
                for d, (conn, run) in designs.items():
                    t = time.perf_counter()
                    run(conn, q)
                    if i >= 2:
                        times[d][(cls, text)].append((time.perf_counter() - t) * 1000)
    out: dict = {}
    for cls in ("one_word", "two_words", "all"):
        row = {}
        for d in designs:
            xs = [x for (c, _), v in times[d].items() if cls in ("all", c) for x in v]
            row[d] = {"p50_ms": round(percentile(xs, 50), 3), "p99_ms": round(percentile(xs, 99), 3)} if xs else {}
        base = row["expansion"]
        for d in ("exact_only", "forms_lookup", "expansion_message_forms", "porter", "two_indexes"):
            if base and row[d]:
                row[d]["p50_ratio"] = ratio(row[d]["p50_ms"], base["p50_ms"])
                row[d]["p99_ratio"] = ratio(row[d]["p99_ms"], base["p99_ms"])
        out[cls] = row
    out["per_query_p50_ms"] = {
        text: {d: round(percentile(times[d][(c, text)], 50), 3) for d in designs} for (c, text) in times["expansion"]
    }
    return out


def archive_forms_lookup(db: Path, queries: dict[str, list[str]], runs: int) -> dict:
    """Expansion's fixed cost, finding the held forms, on the whole archive's
    own index (its segments as syncs left them), not the sample's."""
    conn = open_reader(db)
    try:
        times = []
        for i in range(runs + 2):
            for text in queries["one_word"] + queries["two_words"]:
                q = parse(text)
                t = time.perf_counter()
                _with_forms(conn, q)
                if i >= 2:
                    times.append((time.perf_counter() - t) * 1000)
        return {"p50_ms": round(percentile(times, 50), 3), "p99_ms": round(percentile(times, 99), 3)} if times else {}
    finally:
        conn.close()


# --- correctness on the data -------------------------------------------------------------------


def judged(conns: dict, queries: dict[str, list[str]]) -> dict:
    """Per inflected query: messages found by each design, the share of the top
    10 that hold the typed form, and what the quoted word finds in each."""
    ca, cp, c2 = conns["expansion"], conns["porter"], conns["two_indexes"]
    per = {}
    shares: dict = defaultdict(list)
    quoted_exact = defaultdict(int)
    for cls in ("one_word", "two_words"):
        for text in queries[cls]:
            q = parse(text)
            qa = _with_forms(ca, q)
            a_rows = ca.execute(
                f"SELECT bm25(messages_fts, {SCORE}), rowid FROM messages_fts WHERE messages_fts MATCH ?", (qa.match(),)
            ).fetchall()
            p_rows = cp.execute(
                f"SELECT bm25(messages_fts, {SCORE}), rowid FROM messages_fts WHERE messages_fts MATCH ?", (q.match(),)
            ).fetchall()
            s_rows = c2.execute(
                f"SELECT bm25(messages_stem, {SCORE}), rowid FROM messages_stem WHERE messages_stem MATCH ?",
                (q.match(),),
            ).fetchall()
            exact = rowids(ca, "messages_fts", q.match())
            a_set, p_set = {r for _, r in a_rows}, {r for _, r in p_rows}
            row = {
                "forms_held": {t.tokens[0]: list(t.forms) for g in qa.groups for t in g},
                "messages": {"exact_form": len(exact), "expansion": len(a_set), "porter": len(p_set)},
                "porter_not_expansion": len(p_set - a_set),
                "expansion_not_porter": len(a_set - p_set),
            }
            k = min(10, len(exact))
            if k and len(a_set) > len(exact):  # some matches hold only another form: the order matters
                for d, order in (
                    ("expansion", ranked(a_rows, exact)),
                    ("porter", ranked(p_rows, None)),
                    ("two_indexes", ranked(s_rows, exact)),
                ):
                    share = round(len(set(order[:k]) & exact) / k, 3)
                    row.setdefault("exact_share_of_top", {})[d] = share
                    shares[d].append(share)
            if cls == "one_word":
                quoted = parse(f'"{text}"')
                found = {
                    "expansion": rowids(ca, "messages_fts", _with_forms(ca, quoted).match()),
                    "porter": rowids(cp, "messages_fts", quoted.match()),
                    "two_indexes": rowids(
                        c2, "messages_stem" if stemmed_route(quoted) else "messages_fts", quoted.match()
                    ),
                }
                row["quoted_finds"] = {d: len(v) for d, v in found.items()}
                for d, v in found.items():
                    quoted_exact[d] += v == exact
            per[text] = row
    n_one = len(queries["one_word"])
    return {
        "queries": per,
        "exact_share_of_top10_mean": {d: round(sum(v) / len(v), 3) for d, v in shares.items() if v},
        "queries_ranked_for_share": len(shares["expansion"]),
        "quoted_finds_exactly_the_form": {d: f"{v}/{n_one}" for d, v in quoted_exact.items()},
        "messages_found_total": {
            d: sum(r["messages"][d] for r in per.values()) for d in ("exact_form", "expansion", "porter")
        },
        "porter_not_expansion_total": sum(r["porter_not_expansion"] for r in per.values()),
        "expansion_not_porter_total": sum(r["expansion_not_porter"] for r in per.values()),
    }


def exact_classes(conns: dict, queries: dict[str, list[str]]) -> dict:
    """Identifiers, paths and CJK: each design against today's exact result."""
    ca, cp, c2 = conns["expansion"], conns["porter"], conns["two_indexes"]
    out = {}
    for cls in ("identifier", "path", "cjk"):
        differ: dict = {"expansion": [], "porter": [], "two_indexes": []}
        for text in queries[cls]:
            q = parse(text)
            today = rowids(ca, "messages_fts", q.match())
            found = {
                "expansion": rowids(ca, "messages_fts", _with_forms(ca, q).match()),
                "porter": rowids(cp, "messages_fts", q.match()),
                "two_indexes": rowids(c2, "messages_stem" if stemmed_route(q) else "messages_fts", q.match()),
            }
            for d, v in found.items():
                if v != today:
                    differ[d].append({"query": text, "today": len(today), "found": len(v)})
        out[cls] = {
            "queries": queries[cls],
            "same_as_today": {d: f"{len(queries[cls]) - len(v)}/{len(queries[cls])}" for d, v in differ.items()},
            "differing": {d: v[:5] for d, v in differ.items() if v},
        }
    return out


def conflation(vocab: dict[str, int]) -> dict:
    """Which indexed words each design treats as one: expansion a word with its
    held forms (forms.forms), porter every word with the same porter stem."""
    words = sorted(w for w in vocab if forms.expandable(w))
    mem = sqlite3.connect(":memory:")
    mem.execute(f"CREATE VIRTUAL TABLE w USING fts5(x, tokenize='{PORTER}')")
    mem.executemany("INSERT INTO w(rowid, x) VALUES (?, ?)", enumerate(words))
    mem.execute("CREATE VIRTUAL TABLE temp.wi USING fts5vocab(main, w, instance)")
    porter_stem = {words[doc]: term for term, doc in mem.execute("SELECT term, doc FROM temp.wi")}
    mem.close()
    by_stem: dict[str, set[str]] = defaultdict(set)
    for w, s in porter_stem.items():
        by_stem[s].add(w)
    joined_by_porter_only: dict[tuple[str, str], int] = {}
    joined_by_expansion_only: dict[tuple[str, str], int] = {}
    exp_sizes, por_sizes = [], []
    for w in words:
        mine = {w, *(f for f in forms.forms(w) if f in vocab)}
        theirs = by_stem.get(porter_stem.get(w, w), {w})
        exp_sizes.append(len(mine))
        por_sizes.append(len(theirs))
        for o in theirs - mine:
            joined_by_porter_only[tuple(sorted((w, o)))] = min(vocab[w], vocab[o])  # type: ignore[index]
        for o in mine - theirs:
            joined_by_expansion_only[tuple(sorted((w, o)))] = min(vocab[w], vocab[o])  # type: ignore[index]

    def top(d):
        return [" = ".join(p) for p, _ in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:12]]

    return {
        "words": len(words),
        "words_with_other_forms": {
            "expansion": sum(s > 1 for s in exp_sizes),
            "porter": sum(s > 1 for s in por_sizes),
        },
        "pairs_joined_only_by_porter": len(joined_by_porter_only),
        "pairs_joined_only_by_expansion": len(joined_by_expansion_only),
        "examples_porter_only_most_common": top(joined_by_porter_only),
        "examples_expansion_only_most_common": top(joined_by_expansion_only),
    }


# --- the properties, on fixed probe messages ----------------------------------------------------

PROBES = {
    1: "We take a checkpoint of the database every hour.",
    2: "Checkpointing the database every hour keeps the log small.",
    3: "Both checkpoints finished before the deploy.",
    4: "PRAGMA wal_checkpoint(TRUNCATE) runs after the import.",
    5: "The WAL checkpointing thread is idle.",
    6: "running_total += amount",
    7: "run_total = 0  # reset before the loop",
    8: "Two runs; total time five seconds.",
    9: "Open src/handlers/checkpointing.py first.",
    10: "Then src/handler/checkpoint.py and the tests.",
    11: "数据库检查点已完成",
    12: "チェックポイントを作成しました",
    13: "The general settings page.",
    14: "Generate the config file again.",
}
# (property, query, the probe ids it must find exactly; for "first": those that must rank above the rest)
CHECKS = [
    ("an inflection finds its base form", "checkpointing", {1, 2, 3, 4, 5, 9, 10}),
    ("the exact form ranks above the other forms", "checkpointing", {2, 5, 9}),
    ("a quoted word finds its exact form only", '"checkpointing"', {2, 5, 9}),
    ("an identifier finds only itself", "wal_checkpoint", {4}),
    ("an identifier finds only itself", "running_total", {6}),
    ("a path finds only itself", "src/handlers/checkpointing.py", {9}),
    ("CJK finds its substring", "检查点", {11}),
    ("CJK finds its substring", "チェックポイント", {12}),
    ("a word does not find an unrelated word", "general", {13}),
]


def probes() -> dict:
    from polylogue.textutil import split_cjk

    conns = {}
    for d in DESIGNS:
        c = sqlite3.connect(":memory:")
        create(c, d)
        for messages, _, _ in DESIGNS[d]:
            c.executemany(
                f"INSERT INTO {messages}(rowid, text) VALUES (?, ?)",
                [(i, split_cjk(t)) for i, t in PROBES.items()],  # as encode.fts_values writes text
            )
        conns[d] = c
    out = []
    for name, text, want in CHECKS:
        q = parse(text)
        row: dict = {"property": name, "query": text, "expected": sorted(want)}
        for d, c in conns.items():
            n, rows, exact = RUNNERS[d](c, q)
            order = ranked(rows, exact)
            if name.startswith("the exact form ranks"):
                # ok: as search ranks today (EXACT_TIER); exact_first: ranking those messages first,
                # which a design can only do when it knows them (porter alone does not)
                first = ranked(rows, exact, strict=True)
                row[d] = {"order": order, "ok": set(order[: len(want)]) == want}
                row[d]["exact_first_possible"] = exact is not None and set(first[: len(want)]) == want
            else:
                row[d] = {"found": sorted(order), "ok": set(order) == want}
        out.append(row)
    for c in conns.values():
        c.close()
    return {
        "checks": out,
        "passed": {d: f"{sum(r[d]['ok'] for r in out)}/{len(out)}" for d in DESIGNS},
    }


# --- the run ------------------------------------------------------------------------------------


def ratio(x: float, base: float) -> float | None:
    return round(x / base, 3) if base else None


def summary(r: dict) -> list[dict]:
    """One row per measure: each design's figure, and porter's and two_indexes' ratio to expansion's."""
    d, lat, cor, exa = r["designs"], r["latency"], r["correctness"], r["exact_classes"]
    rows: list[tuple[str, dict]] = [
        ("message index, MB", {k: round(v["message_index_bytes"] / 1e6, 2) for k, v in d.items()}),
        ("message index, bytes per message", {k: v["message_index_bytes_per_message"] for k, v in d.items()}),
        ("all indexes (with titles), MB", {k: round(v["index_bytes"] / 1e6, 2) for k, v in d.items()}),
        ("build, seconds (median)", {k: v["build_seconds"] for k, v in d.items()}),
        ("build, CPU seconds (median)", {k: v["build_cpu_seconds"] for k, v in d.items()}),
    ]
    data = r["data"]
    # the archive with each design's index instead of today's (the sample's bytes scaled to the whole archive)
    scale = data["archive_messages"] / max(1, data["messages"])
    a_bytes = d["expansion"]["index_bytes"]
    rows.append(
        (
            "archive size, estimated, x today",
            {
                k: round(1 + (v["index_bytes"] - a_bytes) * scale / data["archive_database_bytes"], 3)
                for k, v in d.items()
            },
        )
    )
    if "sync_seconds" in data:  # the import measured in this run: what the extra index time would add (at most)
        a_build = d["expansion"]["build_seconds"]
        rows.append(
            (
                "import time, estimated, x today",
                {k: round(1 + (v["build_seconds"] - a_build) / data["sync_seconds"], 3) for k, v in d.items()},
            )
        )
    for cls, label in (("one_word", "one word"), ("two_words", "two words"), ("all", "all")):
        for p in ("p50_ms", "p99_ms"):
            if lat[cls]["expansion"]:
                rows.append((f"query, {label}, {p[:3]} ms", {k: lat[cls][k][p] for k in DESIGNS}))
    if cor["exact_share_of_top10_mean"]:
        rows.append(("typed form's share of the top 10 (EXACT_TIER ranking)", cor["exact_share_of_top10_mean"]))
    rows.append(("quoted word finds only its form", cor["quoted_finds_exactly_the_form"]))
    for cls in ("identifier", "path", "cjk"):
        rows.append((f"{cls} queries finding what today finds", exa[cls]["same_as_today"]))
    rows.append(("probe properties held", r["probes"]["passed"]))
    out = []
    for name, vals in rows:
        row = {"measure": name, **vals}
        if all(isinstance(vals.get(k), int | float) for k in DESIGNS):
            for k in ("porter", "two_indexes"):
                row[f"{k}_ratio"] = ratio(vals[k], vals["expansion"])
        out.append(row)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src_group = ap.add_mutually_exclusive_group()
    src_group.add_argument("--home", type=Path, help="an existing archive (read only)")
    src_group.add_argument("--data", type=Path, help="exports to sync into a temporary home")
    ap.add_argument("--conversations", type=int, default=2000, help="the generated world's size (default 2000)")
    ap.add_argument("--messages", type=int, default=500_000, help="at most this many messages (whole conversations)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--build-rounds", type=int, default=3, help="times each design is built (median)")
    ap.add_argument("--one-word", type=int, default=24, help="inflected one-word queries")
    ap.add_argument("--two-words", type=int, default=12, help="two-word queries")
    ap.add_argument("--scratch", type=Path, help="where the scratch databases go (default: a temp dir)")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    messages_per = None
    if args.smoke:
        args.home = args.data = None
        args.conversations, messages_per, args.runs, args.one_word, args.two_words = 40, 20, 2, 6, 3
        args.build_rounds = 1
    tmp = Path(tempfile.mkdtemp(prefix="polylogue-word-forms-", dir=args.scratch))
    try:
        result: dict = {"benchmark": "word_forms", "sqlite": sqlite3.sqlite_version}
        home = args.home
        source: dict = {}
        if home is None:
            home, source = synced_home(tmp, args.data, args.conversations, messages_per)
        else:
            source["home"] = str(home)
        src_path = tmp / "source.db"
        src = make_source(src_path)
        t = time.perf_counter()
        source |= sample_archive(home / "polylogue.db", src, args.messages)
        source["sample_seconds"] = round(time.perf_counter() - t, 1)
        result["data"] = source
        src.close()
        designs = build_all(tmp, src_path, args.build_rounds)
        base = designs["expansion"]
        for d in ("porter", "two_indexes"):
            v = designs[d]
            v["vs_expansion"] = {
                "index_bytes": ratio(v["index_bytes"], base["index_bytes"]),
                "message_index_bytes": ratio(v["message_index_bytes"], base["message_index_bytes"]),
                "build_seconds": ratio(v["build_seconds"], base["build_seconds"]),
                "build_cpu_seconds": ratio(v["build_cpu_seconds"], base["build_cpu_seconds"]),
            }
        for v in designs.values():
            v["message_index_bytes_per_message"] = round(v["message_index_bytes"] / max(1, source["messages"]), 1)
        result["designs"] = designs
        conns = {d: reader(tmp / f"{d}.db") for d in DESIGNS}
        src = sqlite3.connect(src_path)
        vocab = vocabulary(tmp / "expansion.db")
        queries = choose_queries(vocab, src, args.one_word, args.two_words)
        src.close()
        result["queries"] = queries
        result["latency"] = latency(conns, queries, args.runs)
        if args.home:
            result["latency"]["forms_lookup_on_whole_archive"] = archive_forms_lookup(
                home / "polylogue.db", queries, args.runs
            )
        result["correctness"] = judged(conns, queries)
        result["exact_classes"] = exact_classes(conns, queries)
        result["vocabulary"] = conflation(vocab)
        result["probes"] = probes()
        for c in conns.values():
            c.close()
        result["summary"] = summary(result)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    emit(main())
