#!/usr/bin/env python3
"""Memory and projection benchmark, and time to first screen.

    python benchmarks/memory.py [--messages 1000] [--big 100000] [--smoke]

1. A 1,000-message conversation with heavy tool output (5% of outputs 10-100
   KB) is imported, then loaded with Archive.conversation() under tracemalloc:
   the memory it holds, its peak, and the overhead per message beyond the text.
2. Projections (substantive, thinking, tool_calls, pairs): first and repeated
   call times.
3. `polylogue show` on a --big-message conversation: time from process start to
   its first screen (50 lines) of output.
Prints one JSON object."""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks.common import emit, polylogue_cmd

WORDS = (
    "the build fails when the cache is cold and the index is rebuilt from scratch while "
    "requests keep arriving at the gateway so we retry with backoff"
).split()


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n // 6)))


def conversation(n: int, seed: int, pid: str) -> dict:
    rng = random.Random(seed)
    msgs = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            role, blocks = "user", [{"type": "text", "text": text(rng, 300)}]
        elif kind == 1:
            role, blocks = (
                "assistant",
                [
                    {"type": "thinking", "text": text(rng, 200)},
                    {"type": "tool_use", "id": f"t{i}", "name": "Bash", "input": {"command": "pytest -q tests/"}},
                ],
            )
        elif kind == 2:
            size = rng.randint(10_000, 100_000) if rng.random() < 0.05 else rng.randint(500, 3000)
            role, blocks = "tool", [{"type": "tool_result", "id": f"t{i - 1}", "text": text(rng, size)}]
        else:
            role, blocks = "assistant", [{"type": "text", "text": text(rng, 600)}]
        msgs.append(
            {
                "id": f"m{i}",
                "parent_id": f"m{i - 1}" if i else None,
                "role": role,
                "timestamp": f"2026-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                "blocks": blocks,
            }
        )
    return {
        "id": f"claude-code:{pid}",
        "provider": "claude-code",
        "provider_id": pid,
        "title": "memory benchmark",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T01:00:00Z",
        "messages": msgs,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--screens", type=int, default=7, help="first-screen timings per archive")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    if args.smoke:
        args.messages, args.big, args.repeat = 100, 2000, 20
        args.screens = 1
    tmp = Path(tempfile.mkdtemp(prefix="polylogue-mem-"))
    try:
        from polylogue.api import Archive

        src = tmp / "conv.jsonl"
        src.write_bytes(orjson.dumps(conversation(args.messages, 1, "mem-1")) + b"\n")
        home = tmp / "home"
        a = Archive(home)
        a.sync([src])
        a.conversation("claude-code:mem-1")  # warm: imports, dictionaries, statement cache
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        conv = a.conversation("claude-code:mem-1")
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        held -= base
        peak -= base
        text_bytes = sum(len(b.text.encode()) for m in conv.messages for b in m.blocks) + sum(
            len(orjson.dumps(b.input)) for m in conv.messages for b in m.blocks if b.input is not None
        )
        memory = {
            "messages": len(conv.messages),
            "held_bytes": held,
            "peak_bytes": peak,
            "text_bytes": text_bytes,
            "overhead_per_message_bytes": round((held - text_bytes) / len(conv.messages)),
            "held_mb": round(held / 1e6, 2),
            "peak_mb": round(peak / 1e6, 2),
        }
        projections = {}
        for name in ("substantive", "thinking", "tool_calls", "pairs"):
            conv.invalidate()
            t = time.perf_counter()
            first = getattr(conv, name)()
            t1 = time.perf_counter()
            for _ in range(args.repeat):
                getattr(conv, name)()
            t2 = time.perf_counter()
            projections[name] = {
                "items": len(first),
                "first_ms": round((t1 - t) * 1000, 3),
                "repeated_ms": round((t2 - t1) * 1000 / args.repeat, 5),
            }
        a.close()
        big = tmp / "big.jsonl"
        big.write_bytes(orjson.dumps(conversation(args.big, 2, "big-1")) + b"\n")
        Archive(home).sync([big])
        # the same session in an archive without compression (issue 6: show no slower than before)
        from polylogue.store import codec

        plain_home = tmp / "plain"
        saved = codec.COMPRESS_MIN, codec.COMPRESS_MIN_DICT
        codec.COMPRESS_MIN = codec.COMPRESS_MIN_DICT = 1 << 62
        try:
            Archive(plain_home).sync([big], workers=0)
        finally:
            codec.COMPRESS_MIN, codec.COMPRESS_MIN_DICT = saved
        times: dict[str, list[float]] = {"compressed": [], "plain": []}
        for _ in range(args.screens):
            for name, h in (("compressed", home), ("plain", plain_home)):  # interleaved: same background load
                t = time.perf_counter()
                p = subprocess.Popen(
                    polylogue_cmd("--home", str(h), "show", "claude-code:big-1", "--format", "text"),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
                lines = 0
                while lines < 50 and p.stdout.readline():
                    lines += 1
                times[name].append((time.perf_counter() - t) * 1000)
                p.kill()
                p.wait()
        first_screen = times["compressed"]
        return {
            "benchmark": "memory",
            "conversation": memory,
            "projections": projections,
            "show_first_screen": {
                "messages": args.big,
                "lines": 50,
                "ms_median": round(statistics.median(first_screen), 1),
                "ms_all": [round(x, 1) for x in first_screen],
                "plain_archive_ms_median": round(statistics.median(times["plain"]), 1),
                "ratio_to_plain": round(statistics.median(first_screen) / statistics.median(times["plain"]), 3),
            },
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    emit(main())
