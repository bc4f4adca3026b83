#!/usr/bin/env python3
"""Import benchmark: `polylogue sync` on a generated tree, against a baseline.

    python benchmarks/ingest.py [--data DIR | --conversations N --messages M --chars C]
                                [--change 0.01] [--no-baseline] [--smoke]

Steps, all in one run on the same data:
  1. full import into a fresh home (CLI subprocess; peak RSS of the whole
     process tree, workers included, sampled every 20 ms);
  2. re-sync with nothing changed;
  3. a new export of the same account where --change of the conversations
     changed (JSONL sessions get a new message appended; JSON documents and
     export zips are rewritten with those conversations edited);
  4. the baseline: a plain single-process loader that parses with the same
     provider modules and inserts into the same schema with executemany
     (no dedupe, no hashing, no incremental state, no parallelism);
  5. a growing session log: one Claude Code session of --log-mb built from
     the generated sessions, synced, then appended to five times (1% of its
     lines each) with a sync after each append; the same again with
     `sync --force` after each append (every message converted again), for
     the ratio. The first append is parsed whole (the log is then seen
     growing and its parser state kept); the next ones parse only the new
     lines ("resumed" counts them).
Prints one JSON object."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks.common import REPO, db_bytes, emit, polylogue_cmd, run_measured, tree_bytes


def generate(out: Path, conversations: int, messages: int, chars: int, seed: int, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "generate.py"),
        str(out),
        "--conversations",
        str(conversations),
        "--messages",
        str(messages),
        "--chars",
        str(chars),
        "--seed",
        str(seed),
        *extra,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return orjson.loads(r.stdout.strip().splitlines()[-1])


def sync(home: Path, data: Path, *extra: str) -> dict:
    r = run_measured(polylogue_cmd("--home", str(home), "sync", str(data), "--json", *extra))
    if r["returncode"] not in (0, 3):
        raise SystemExit(f"sync failed ({r['returncode']}): {r['stderr'][-2000:]}")
    report = orjson.loads(r["stdout"])
    return {
        "seconds": r["seconds"],
        "peak_rss_bytes": r["peak_rss_bytes"],
        "peak_pss_bytes": r["peak_pss_bytes"],
        "largest_rss_bytes": r["largest_rss_bytes"],
        "report": report,
    }


# ---------------------------------------------------------------- a growing session log


def session_log(data: Path, size: float, session_id: str) -> list[bytes]:
    """One long Claude Code session: the generated sessions' lines, under one
    session id, until they reach ``size`` bytes."""
    lines: list[bytes] = []
    total = 0
    for path in sorted(data.glob("**/.claude/projects/*/*.jsonl")):
        for line in path.read_bytes().splitlines():
            rec = orjson.loads(line)
            if "sessionId" in rec:
                rec["sessionId"] = session_id
            lines.append(orjson.dumps(rec) + b"\n")
            total += len(lines[-1])
        if total >= size:
            break
    return lines


def growing_log(data: Path, work: Path, mb: float, steps: int = 5) -> dict:
    """Sync a big session log after each of ``steps`` appends: as sync does it
    (unchanged messages are hashed, not encoded or written again), and, on the
    same appends, with --force (everything converted again)."""
    lines = session_log(data, mb * 1e6, "9a0b0000-0000-4000-8000-00000000000a")
    size = sum(map(len, lines))
    head = len(lines) * 95 // 100
    per = max(1, (len(lines) - head) // steps)
    out: dict = {"log_bytes": size, "log_lines": len(lines), "appended_lines_per_step": per, "steps": steps}
    for mode, extra in (("incremental", ()), ("force", ("--force",))):
        folder = work / f"log-{mode}" / "projects" / "-src-growing"
        folder.mkdir(parents=True)
        log = folder / "9a0b0000-0000-4000-8000-00000000000a.jsonl"
        log.write_bytes(b"".join(lines[:head]))
        home = work / f"log-home-{mode}"
        first = sync(home, folder.parent)
        times, new, updated, resumed = [], 0, 0, []
        for i in range(steps):
            with open(log, "ab") as f:
                f.write(b"".join(lines[head + i * per : head + (i + 1) * per]))
            r = sync(home, folder.parent, *extra)
            times.append(r["seconds"])
            new += r["report"]["messages"]["new"]
            updated += r["report"]["messages"]["updated"]
            resumed.append(r["report"]["files"]["resumed"])
        out[mode] = {
            "first_sync_seconds": round(first["seconds"], 3),
            "append_sync_seconds": [round(t, 3) for t in times],
            "median_append_sync_seconds": round(sorted(times)[len(times) // 2], 3),
            "messages_new": new,
            "messages_updated": updated,
            "resumed": resumed,
        }
    out["speedup_vs_force"] = round(
        out["force"]["median_append_sync_seconds"] / out["incremental"]["median_append_sync_seconds"], 2
    )
    out["parse_only_by_size"] = parse_by_size(b"".join(lines), work / "by-size")
    out["append_vs_first_sync"] = round(
        out["incremental"]["median_append_sync_seconds"] / out["incremental"]["first_sync_seconds"], 3
    )
    return out


def parse_by_size(data: bytes, work: Path) -> list[dict]:
    """The parse alone (in this process, ms): a log of each size parsed whole,
    parsed whole while keeping its parser state, and, after 1% more lines,
    resumed from that state and parsed whole again."""
    from polylogue import resume
    from polylogue.providers import detect, open_clean
    from polylogue.providers.common import ParseContext

    resume.MIN_BYTES = 0  # the smoke run's log is tiny
    work.mkdir(parents=True)
    log = work / "log.jsonl"

    def run(folder: Path | None) -> tuple[float, int | None]:
        """ms to parse the log: through resume with ``folder``, else as any other file."""
        ctx = ParseContext(str(log))
        with open(log, "rb") as raw:
            t = time.perf_counter()
            head, stream = open_clean(raw, ctx)
            mod = detect(head)
            convs = (
                resume.parse(raw, str(log), log.stat().st_size, mod, ctx, folder) if folder else mod.parse(stream, ctx)
            )
            for _ in convs:
                pass
            return (time.perf_counter() - t) * 1000, ctx.resumed_from

    sizes = [kb << 10 for kb in (64, 256, 1024, 4096, 16384) if kb << 10 <= len(data) // 1.05] or [len(data) // 2]
    out = []
    for size in sizes:
        n = data.rfind(b"\n", 0, size) + 1
        grown = data.rfind(b"\n", 0, n + max(n // 100, 1)) + 1
        if grown <= n:
            grown = data.find(b"\n", n) + 1
        states = work / f"states-{size}"
        log.write_bytes(data[:n])
        whole = min(run(None)[0] for _ in range(3))
        keeping = run(states)[0]
        log.write_bytes(data[:grown])
        resumed, at = run(states)
        whole_grown = min(run(None)[0] for _ in range(3))
        out.append(
            {
                "log_bytes": n,
                "appended_bytes": grown - n,
                "whole_ms": round(whole, 1),
                "whole_keeping_state_ms": round(keeping, 1),
                "resumed_ms": round(resumed, 1),
                "resumed_from": at,
                "whole_after_append_ms": round(whole_grown, 1),
            }
        )
    return out


# ---------------------------------------------------------------- 1% change


def mutate(data: Path, fraction: float, seed: int) -> int:
    """Change about ``fraction`` of the conversations, as a newer export would."""
    rng = random.Random(seed)
    changed = 0
    stamp = "2026-11-01T12:00:00.000Z"
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        name = path.name
        if path.suffix == ".jsonl" and rng.random() < fraction:
            changed += _append_jsonl(path, stamp)
        elif path.suffix == ".zip":
            changed += _mutate_zip(path, fraction, rng)
        elif path.parent.name == "aistudio" and rng.random() < fraction:
            doc = orjson.loads(path.read_bytes())
            doc["chunkedPrompt"]["chunks"].append({"text": "a follow-up question, changed", "role": "user"})
            path.write_bytes(orjson.dumps(doc))
            changed += 1
        elif name.endswith(".json") and "chats" in path.parts and rng.random() < fraction:
            doc = orjson.loads(path.read_bytes())
            doc["messages"].append({"id": "mutated-1", "timestamp": stamp, "type": "user", "content": "changed"})
            doc["lastUpdated"] = stamp
            path.write_bytes(orjson.dumps(doc))
            changed += 1
    return changed


def _append_jsonl(path: Path, stamp: str) -> int:
    lines = path.read_bytes().splitlines()
    recs = [orjson.loads(x) for x in lines[-5:] if x.strip()]
    last = recs[-1]
    if "payload" in last:  # codex envelope
        new = {
            "timestamp": stamp,
            "type": "response_item",
            "payload": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "one more question"}],
            },
        }
    elif "sessionId" in last and "uuid" in last:  # claude code
        new = {
            "type": "user",
            "uuid": "mutated-" + last["uuid"],
            "parentUuid": last["uuid"],
            "sessionId": last["sessionId"],
            "timestamp": stamp,
            "cwd": last.get("cwd"),
            "message": {"role": "user", "content": "one more question"},
        }
    else:
        return 0
    with open(path, "ab") as f:
        f.write(orjson.dumps(new) + b"\n")
    return 1


def _mutate_zip(path: Path, fraction: float, rng: random.Random) -> int:
    import ijson

    tmp = path.with_suffix(".tmp")
    changed = 0
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            if info.filename != "conversations.json":
                dst.writestr(info, src.read(info))
                continue
            with src.open(info) as fin, dst.open("conversations.json", "w", force_zip64=True) as fout:
                fout.write(b"[")
                for i, conv in enumerate(ijson.items(fin, "item", use_float=True)):
                    if rng.random() < fraction:
                        changed += 1
                        if "mapping" in conv:
                            conv["title"] = (conv.get("title") or "") + " (edited)"
                            conv["update_time"] = (conv.get("update_time") or 0) + 86400
                        elif "chat_messages" in conv:
                            conv["name"] = (conv.get("name") or "") + " (edited)"
                            conv["updated_at"] = "2026-11-01T12:00:00.000000Z"
                    fout.write((b"," if i else b"") + orjson.dumps(conv))
                fout.write(b"]")
    os.replace(tmp, path)
    return changed


# ---------------------------------------------------------------- baseline


def baseline(data: Path, home: Path) -> dict:
    """Parse with the same providers, insert with executemany into the same schema."""
    from polylogue.providers import detect, open_clean
    from polylogue.providers.common import ParseContext
    from polylogue.sources import discover, members
    from polylogue.store import indexer
    from polylogue.store.codec import block_to_dict
    from polylogue.store.db import ensure_home, open_writer
    from polylogue.store.encode import fts_values

    db = ensure_home(home)
    conn = open_writer(db)
    indexer.attach(conn, db, writable=True)  # the same schema: the index in its own file
    conn.execute("PRAGMA synchronous = NORMAL")
    t0 = time.perf_counter()
    msgs = convs = 0
    next_id = 1
    conn.execute("BEGIN")
    for f in discover([data], []):
        for member in members(f, lambda *a: None):
            ctx = ParseContext(member.display)
            try:
                with member.open() as raw:
                    head, stream = open_clean(raw, ctx)
                    mod = detect(head)
                    if mod is None:
                        continue
                    for c in mod.parse(stream, ctx):
                        cur = conn.execute(
                            "INSERT OR REPLACE INTO conversations(uid, provider, provider_id, title, hash, imported_at,"
                            " message_count) VALUES (?,?,?,?,0,0,?)",
                            (c.id, c.provider, c.provider_id, c.title, len(c.messages)),
                        )
                        cid = cur.lastrowid
                        rows, fts = [], []
                        for seq, m in enumerate(c.messages):
                            rows.append(
                                (
                                    next_id,
                                    cid,
                                    seq,
                                    m.id,
                                    m.parent_id,
                                    m.role,
                                    orjson.dumps([block_to_dict(b) for b in m.blocks], option=orjson.OPT_NON_STR_KEYS),
                                )
                            )
                            fts.append((next_id, *fts_values(m.blocks)))
                            next_id += 1
                        conn.executemany(
                            "INSERT INTO messages(id, conversation_id, seq, mid, parent_mid, role, "
                            "content, hash) VALUES (?,?,?,?,?,?,?,0)",
                            rows,
                        )
                        conn.executemany(
                            "INSERT INTO messages_fts(rowid, text, thinking, tool_use, tool_result) VALUES (?,?,?,?,?)",
                            fts,
                        )
                        convs += 1
                        msgs += len(rows)
            except Exception:
                continue
    conn.execute("COMMIT")
    secs = time.perf_counter() - t0
    conn.close()
    return {"seconds": secs, "conversations": convs, "messages": msgs, "messages_per_second": msgs / secs}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="an existing generated tree (else one is generated)")
    ap.add_argument("--conversations", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=50)
    ap.add_argument("--chars", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--change", type=float, default=0.01, help="fraction of conversations changed for step 3")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--log-mb", type=float, default=32, help="size of the growing session log of step 5 (0: skip)")
    ap.add_argument("--keep", type=Path, help="keep the archive in this folder")
    ap.add_argument("--smoke", action="store_true", help="tiny scale, for the test suite")
    ap.add_argument("--generator-args", default="", help="extra arguments for generate.py")
    args = ap.parse_args(argv)
    if args.smoke:
        args.conversations, args.messages, args.log_mb = 24, 8, 0.05
    work = Path(tempfile.mkdtemp(prefix="polylogue-bench-"))
    try:
        result: dict = {"benchmark": "ingest", "machine": {"cpus": os.cpu_count()}}
        if args.data:
            data = Path(args.data)
            if args.change > 0:  # step 3 edits files: work on a copy, never on the caller's dataset
                # -a keeps the generated mtimes (months old, as a real home's would be)
                subprocess.run(["cp", "-a", str(data), str(work / "data")], check=True)
                data = work / "data"
            result["dataset"] = {"path": str(args.data)}
        else:
            data = work / "data"
            gen = generate(data, args.conversations, args.messages, args.chars, args.seed, args.generator_args.split())
            result["dataset"] = {k: gen[k] for k in ("conversations", "messages", "files", "bytes") if k in gen}
            result["dataset"]["params"] = {
                "conversations": args.conversations,
                "messages": args.messages,
                "chars": args.chars,
                "seed": args.seed,
            }
        input_bytes = tree_bytes(data)
        result["dataset"]["input_bytes"] = input_bytes
        home = args.keep or work / "home"
        if home.exists():
            shutil.rmtree(home)
        full = sync(home, data)
        rep = full["report"]
        n_msgs = rep["messages"]["new"]
        result["full"] = {
            "conversations": rep["conversations"]["new"],
            "messages": n_msgs,
            "seconds": round(full["seconds"], 3),
            "messages_per_second": round(n_msgs / full["seconds"], 1),
            "input_mb_per_second": round(input_bytes / 1e6 / full["seconds"], 2),
            "peak_rss_mb": round(full["peak_rss_bytes"] / 1e6, 1),
            "peak_pss_mb": round(full["peak_pss_bytes"] / 1e6, 1),
            "largest_process_rss_mb": round(full["largest_rss_bytes"] / 1e6, 1),
            "database_bytes": db_bytes(home),
            "errors": len(rep["errors"]),
        }
        again = sync(home, data)
        result["resync_unchanged"] = {
            "seconds": round(again["seconds"], 3),
            "files_unchanged": again["report"]["files"]["unchanged"],
            "conversations_changed": again["report"]["conversations"]["new"]
            + again["report"]["conversations"]["updated"],
        }
        if args.log_mb > 0:
            result["growing_session_log"] = growing_log(data, work, args.log_mb)
        if args.change > 0:
            changed = mutate(data, args.change, args.seed)
            inc = sync(home, data)
            r = inc["report"]
            result["changed_export"] = {
                "fraction": args.change,
                "conversations_changed_in_input": changed,
                "seconds": round(inc["seconds"], 3),
                "ratio_to_full": round(inc["seconds"] / full["seconds"], 3),
                "conversations": r["conversations"],
                "messages": r["messages"],
                "peak_rss_mb": round(inc["peak_rss_bytes"] / 1e6, 1),
            }
        if not args.no_baseline:
            b = baseline(data, work / "baseline")
            result["baseline"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in b.items()}
            result["speedup_vs_baseline"] = round(b["seconds"] / full["seconds"], 3)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    emit(main())
