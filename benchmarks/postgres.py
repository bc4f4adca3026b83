#!/usr/bin/env python3
"""The shared archive on PostgreSQL: push and search speed (issue 26).

    python benchmarks/postgres.py --home ARCHIVE_HOME [--url POSTGRES_URL] [--runs N]
        [--against REV ...] [--push-only]
    python benchmarks/postgres.py --smoke

ARCHIVE_HOME is a local archive at the current schema (bench-data/h20k copied
and migrated: CONTEXT.md). It is changed: the 1% change marks 1% of the
conversations as changed (their stored hash), so use a copy. Without --url a
throwaway server is started (tests/pg_server.py) with its settings printed.

Figures, each beside its baseline from the same run:
- first push: messages/s; baseline: a plain COPY of the same messages' text
  into an unindexed table (what the wire and the server's heap cost alone);
  with ``--against REV``, the first push of the same archive as that git
  revision makes it, into another database of the same server, in the same run;
- incremental push after 1% of the conversations changed, and a push with
  nothing to send, as a share of the first push;
- search: the search benchmark's query set (benchmarks/search.py
  choose_queries) on PostgreSQL, p50/p99, beside the same queries on the
  local SQLite archive."""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from polylogue.api import Archive  # noqa: E402
from polylogue.pg_archive import PgArchive  # noqa: E402
from polylogue.push import push  # noqa: E402


def _baseline_copy(home: Path, url: str, server=None) -> dict:
    """The same messages' JSON text COPYed into a table with no index: the floor a push stands on."""
    import psycopg

    from polylogue.store import codec

    a = Archive(home)
    s0, c0, t0 = _cluster_cpu(server), time.process_time(), time.perf_counter()
    n = 0
    with psycopg.connect(url, autocommit=True) as pg, a.reader() as local:
        pg.execute("DROP TABLE IF EXISTS baseline_copy")
        pg.execute("CREATE UNLOGGED TABLE baseline_copy (conversation_id bigint, seq int, content text)")
        cur = local.execute("SELECT conversation_id, seq, content FROM messages")
        with pg.cursor().copy("COPY baseline_copy FROM STDIN") as cp:
            while rows := cur.fetchmany(5000):
                for (cid, seq, _), raw in zip(rows, codec.decode_many([r[2] for r in rows])):
                    cp.write_row((cid, seq, raw.decode()))
                n += len(rows)
        pg.execute("DROP TABLE baseline_copy")
    s, client = time.perf_counter() - t0, time.process_time() - c0
    a.close()
    out = {"messages": n, "seconds": round(s, 2), "messages_per_s": round(n / s), "client_cpu_s": round(client, 2)}
    s1 = _cluster_cpu(server)
    if s0 is not None and s1 is not None:
        out["server_cpu_s"] = round(s1 - s0, 2)
        out["messages_per_s_cpu_bound"] = round(n / max(client, s1 - s0))
    return out


def _zombie(proc) -> bool:
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cluster_cpu(server) -> float | None:
    """CPU seconds the throwaway cluster has used: the postmaster, its live processes and the
    ones it reaped (a push's backend ends with the push). None for a server of --url."""
    if server is None:
        return None
    import psutil

    pid = int((server.data / "postmaster.pid").read_text().split()[0])
    pm = psutil.Process(pid)
    # a backend that just ended is a zombie until the postmaster reaps it: its CPU is in
    # neither sum meanwhile (a whole push's, for the backend of a push that just returned)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_zombie(c) for c in pm.children()):
        time.sleep(0.05)
    t = pm.cpu_times()
    live = 0.0
    for c in pm.children(recursive=True):
        try:
            ct = c.cpu_times()
            live += ct.user + ct.system
        except psutil.NoSuchProcess:
            pass
    return t.user + t.system + t.children_user + t.children_system + live


def _timed_push(home: Path, url: str, server=None, machine: str = "bench") -> dict:
    """Wall time, and the CPU seconds of this process (reading, encoding) and of the server:
    on a shared, loaded machine the wall time says little, and the larger of the two CPU
    figures bounds what a machine with a core for each would do."""
    a = Archive(home)
    s0, c0, t0 = _cluster_cpu(server), time.process_time(), time.perf_counter()
    out = push(a, url, machine=machine)
    s, client = time.perf_counter() - t0, time.process_time() - c0
    s1 = _cluster_cpu(server)
    a.close()
    n = out["messages"]
    res = {
        "conversations": out["conversations"],
        "messages": n,
        "seconds": round(s, 2),
        "messages_per_s": round(n / s) if n else None,
        "client_cpu_s": round(client, 2),
    }
    if s0 is not None and s1 is not None:
        res["server_cpu_s"] = round(s1 - s0, 2)
        res["messages_per_s_cpu_bound"] = round(n / max(client, s1 - s0)) if n else None
    return res


def _timed_push_at(rev: str, home: Path, url: str, server, tmp: Path) -> dict:
    """The first push as revision ``rev`` of polylogue makes it (its package exported from git
    into a folder of its own, run in a child process): the same measures as _timed_push, in
    the same run, against another database of the same server."""
    import os
    import resource

    src = tmp / f"rev-{rev}"
    if not src.exists():
        src.mkdir()
        tar = subprocess.run(["git", "-C", str(REPO), "archive", rev, "polylogue"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(src)], input=tar.stdout, check=True)
    code = (
        "import sys, json; from polylogue.api import Archive; from polylogue.push import push; "
        "print(json.dumps(push(Archive(sys.argv[1]), sys.argv[2], machine='bench')))"
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0, t0 = _cluster_cpu(server), time.perf_counter()
    got = subprocess.run([sys.executable, "-c", code, str(home), url], env=env, capture_output=True, text=True)
    s = time.perf_counter() - t0
    if got.returncode:
        return {"revision": rev, "error": got.stderr[-2000:]}
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    s1 = _cluster_cpu(server)
    n = orjson.loads(got.stdout.splitlines()[-1])["messages"]
    res = {"revision": rev, "messages": n, "seconds": round(s, 2), "messages_per_s": round(n / s) if n else None,
           "client_cpu_s": round(client, 2)}  # fmt: skip
    if s0 is not None and s1 is not None:
        res["server_cpu_s"] = round(s1 - s0, 2)
        res["messages_per_s_cpu_bound"] = round(n / max(client, s1 - s0)) if n else None
    return res


def _change_one_percent(home: Path) -> int:
    """Mark 1% of the conversations changed (a new hash: a push re-sends them whole, as after a sync)."""
    import sqlite3

    conn = sqlite3.connect(home / "polylogue.db")
    with conn:
        n = conn.execute(
            "UPDATE conversations SET hash = CASE WHEN hash < 0 THEN hash + 1 ELSE hash - 1 END"
            " WHERE id % 100 = (SELECT min(id) FROM conversations) % 100"
        ).rowcount
    conn.close()
    return n


def _times(fn, queries: dict[str, str], runs: int) -> dict:
    per: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, q in queries.items():
            t0 = time.perf_counter()
            fn(q)
            per.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
    every = sorted(x for v in per.values() for x in v)
    return {
        "p50_ms": round(statistics.median(every), 1),
        "p99_ms": round(every[min(len(every) - 1, int(len(every) * 0.99))], 1),
        "per_query_median_ms": {k: round(statistics.median(v), 1) for k, v in per.items()},
    }


def _search(home: Path, url: str, runs: int) -> dict:
    from benchmarks.search import choose_queries

    queries = choose_queries(home / "polylogue.db")
    local, shared = Archive(home), PgArchive(url)
    out = {
        "queries": queries,
        "postgres": _times(lambda q: shared.search(q, limit=20), queries, runs),
        "sqlite_baseline": _times(lambda q: local.search(q, limit=20, cache=False), queries, runs),
    }
    local.close()
    shared.close()
    return out


def _fts_choice(home: Path, url: str, queries: dict[str, str], n: int) -> dict:
    """tsvector + GIN (our tokens) against pg_trgm + GIN (the text as written, ILIKE) on the
    same ``n`` messages: build time, index size, and the time to count each query's matches."""
    import psycopg

    from polylogue.search import parse
    from polylogue.store import codec
    from polylogue.store.encode import search_columns
    from polylogue.store.postgres.index_text import message_columns
    from polylogue.store.postgres.query import term_tsquery

    a = Archive(home)
    with a.reader() as local:
        rows = local.execute("SELECT content FROM messages ORDER BY id DESC LIMIT ?", (n,)).fetchall()
    a.close()
    texts = [search_columns(b) for b in codec.decode_contents([r[0] for r in rows])]
    out: dict = {"messages": len(texts)}
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS choice_tsv, choice_trgm")
        pg.execute("CREATE TABLE choice_tsv (id int, body text, tsv tsvector)")
        pg.execute("CREATE TABLE choice_trgm (id int, body text)")
        with pg.cursor().copy("COPY choice_tsv (id, body) FROM STDIN") as cp:
            for i, cols in enumerate(texts):
                cp.write_row((i, " ".join(t for t in message_columns(cols)[0] if t)))
        with pg.cursor().copy("COPY choice_trgm FROM STDIN") as cp:
            for i, cols in enumerate(texts):
                cp.write_row((i, "\n".join(c for c in cols if c)))
        pg.execute("UPDATE choice_tsv SET tsv = to_tsvector('simple', body), body = NULL")
        for name, sql in (
            ("tsvector_gin", "CREATE INDEX choice_tsv_i ON choice_tsv USING gin(tsv)"),
            ("trgm_gin", "CREATE INDEX choice_trgm_i ON choice_trgm USING gin(body gin_trgm_ops)"),
        ):
            t0 = time.perf_counter()
            pg.execute(sql)
            index = "choice_tsv_i" if name == "tsvector_gin" else "choice_trgm_i"
            size = pg.execute(f"SELECT pg_relation_size('{index}')").fetchone()[0]
            out[name] = {"build_s": round(time.perf_counter() - t0, 2), "index_bytes": size, "queries_ms": {}}
        pg.execute("ANALYZE choice_tsv")
        pg.execute("ANALYZE choice_trgm")
        for name, text in queries.items():
            q = parse(text)
            if not q.groups or len(q.groups) != 1 or len(q.groups[0]) != 1:
                continue
            t = q.groups[0][0]
            for kind, sql, arg in (
                ("tsvector_gin", "SELECT count(*) FROM choice_tsv WHERE tsv @@ %s::tsquery", term_tsquery(t)),
                ("trgm_gin", "SELECT count(*) FROM choice_trgm WHERE body ILIKE %s", "%" + t.raw.strip('"*') + "%"),
            ):
                t0 = time.perf_counter()
                got = pg.execute(sql, (arg,)).fetchone()[0]
                out[kind]["queries_ms"][name] = [round((time.perf_counter() - t0) * 1000, 1), got]
        pg.execute("DROP TABLE choice_tsv, choice_trgm")
    return out


def _server_settings(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as c:
        names = (
            "server_version",
            "shared_buffers",
            "work_mem",
            "maintenance_work_mem",
            "effective_cache_size",
            "synchronous_commit",
            "fsync",
            "max_parallel_workers_per_gather",
            "jit",
        )
        return {n: c.execute(f"SHOW {n}").fetchone()[0] for n in names}


def _smoke_home(tmp: Path) -> Path:
    data = tmp / "data"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(data), "--smoke"],
        check=True,
        capture_output=True,
    )
    home = tmp / "home"
    Archive(home).sync([data])
    return home


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path)
    ap.add_argument("--url", help="an empty database to push into (default: a throwaway local server)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--choice", type=int, default=100_000, help="messages of the tsvector/pg_trgm comparison")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--keep", action="store_true", help="leave the throwaway server running (its URL is printed)")
    ap.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="REV",
        help="also time the first push as this git revision makes it, in the same run (repeatable)",
    )
    ap.add_argument("--push-only", action="store_true", help="the pushes only (no search, no index comparison)")
    args = ap.parse_args(argv)
    # a SIGTERM (timeout, a stopped run) still stops the throwaway server: the finally below runs
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="polylogue-pgbench-"))
    server = None
    try:
        home = _smoke_home(tmp) if args.smoke else args.home
        if home is None:
            ap.error("--home is required (or --smoke)")
        url = args.url
        if url is None:
            import pg_server

            server = pg_server.start_server()
            pg_server._wait_ready(server)
            url = server.new_database("bench")
            if args.keep:
                stop = " ".join(server._cmd(str(server.bin / "pg_ctl"), "-D", str(server.data), "stop"))
                print(f"kept server: {url}; stop it with: {stop}", file=sys.stderr)
        out: dict = {"home": str(home), "server": _server_settings(url)}
        if server is not None:
            out["server"]["cluster"] = "throwaway (tests/pg_server.py: fsync=off, synchronous_commit=off)"
        if args.against and server is not None:
            # the revisions' pushes are compared by the server's CPU: a background vacuum or
            # analyze of one push's tables landing in another's window would blur it
            server.sql("ALTER SYSTEM SET autovacuum = off")
            server.sql("SELECT pg_reload_conf()")
            out["server"]["autovacuum"] = "off (--against: pushes compared by CPU)"
        out["baseline_copy"] = _baseline_copy(home, url, server)
        for rev in args.against:  # each into a database of its own, before this revision's push
            other = server.new_database(f"bench_{len(out.get('first_push_at', []))}") if server else None
            if other is None:
                ap.error("--against needs the throwaway server (no --url)")
            out.setdefault("first_push_at", []).append(_timed_push_at(rev, home, other, server, tmp))
            server.sql(f"DROP DATABASE {other.rsplit('/', 1)[1]}")
        first = out["first_push"] = _timed_push(home, url, server)
        out["repush_nothing_changed"] = _timed_push(home, url, server)
        changed = _change_one_percent(home)
        inc = out["incremental_push_1pct"] = _timed_push(home, url, server)
        inc["changed_conversations"] = changed
        out["incremental_share_of_first"] = round(inc["seconds"] / first["seconds"], 3)
        out["first_push_vs_plain_copy"] = round(first["seconds"] / out["baseline_copy"]["seconds"], 2)
        base = out["baseline_copy"]
        if first.get("messages_per_s_cpu_bound") and base.get("messages_per_s_cpu_bound"):
            out["first_push_vs_plain_copy_cpu_bound"] = round(
                base["messages_per_s_cpu_bound"] / first["messages_per_s_cpu_bound"], 2
            )
        if args.push_only:
            return out
        out["search"] = _search(home, url, 1 if args.smoke else args.runs)
        out["fts_choice"] = _fts_choice(home, url, out["search"]["queries"], 2_000 if args.smoke else args.choice)
        if server is not None:
            import psycopg

            with psycopg.connect(url) as c:
                out["database_bytes"] = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        out["sqlite_bytes"] = (home / "polylogue.db").stat().st_size
        return out
    finally:
        if server is not None and not args.keep:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(main(), option=orjson.OPT_INDENT_2).decode() + "\n")
