#!/usr/bin/env python3
"""Peak memory of a sync on hostile inputs: one huge line, one line over the
line cap, one huge conversation tree.

    python benchmarks/hostile_memory.py [--line-mb 240] [--over-mb 300] [--nodes 300000 ...]
                                        [--only CASE ...] [--before REV] [--smoke]

Builds, in a temporary folder:

1. a Claude Code log whose one user message is a ``--line-mb`` MB line (under
   the line cap), between two ordinary lines; and the same text starting with
   an emoji ("wide": Python then holds it at 4 bytes per character);
2. the same with a ``--over-mb`` MB line (over the cap: skipped with a warning);
3. a ChatGPT export holding one conversation of ``--nodes`` mapping nodes
   (``--nodes`` may be given several times: one export per size).

Each is imported by ``polylogue sync`` in a fresh process into a fresh home;
the peak RSS and PSS of the whole process tree (parse workers and writer) are
reported beside the input's size, and for (3) per message. With ``--before
REV``, each input is also imported by the code at that git revision, in the
same run and alternating which goes first, and reported beside it ("before")
with the ratios after / before. ``--smoke`` scales everything down and lowers
the caps for the run (lines 16 MB, texts 4 MB, a ChatGPT value streamed past
256 KB), so an over-cap line stays small and the tree takes the streamed path.
Prints one JSON object."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks.common import emit, run_measured
from benchmarks.storage import code_at

MB = 1 << 20
WORDS = (
    "the build fails when the cache is cold and the index is rebuilt from scratch while "
    "requests keep arriving at the gateway so we retry with backoff quokka fjord zanzibar"
).split()

# The sync, in a fresh interpreter; with caps, the line and text caps and the size past which
# a ChatGPT value is streamed lowered first (smoke runs; older code just ignores the last)
_RUN = """
import sys
line_cap, text_cap, huge = int(sys.argv.pop(1)), int(sys.argv.pop(1)), int(sys.argv.pop(1))
if line_cap:
    from polylogue.providers import chatgpt, common
    common.MAX_LINE_BYTES, common.MAX_TEXT_BYTES, chatgpt.HUGE_VALUE_BYTES = line_cap, text_cap, huge
from polylogue.cli import cli
cli(prog_name="polylogue")
"""


def words(rng: random.Random, nbytes: int) -> str:
    """``nbytes`` of text: a 1 MB block of random words, repeated (cheap to build at 300 MB)."""
    block = " ".join(rng.choice(WORDS) for _ in range(min(nbytes, MB) // 5))
    reps = nbytes // len(block) + 1
    return (block + " ") * reps if reps > 1 else block


def write_huge_line_log(path: Path, text_bytes: int, session: str, wide: bool = False) -> int:
    """A Claude Code log: a prompt, a user message of ``text_bytes`` on one line, a reply.
    Written piecewise, so building it never holds a second copy of the text. ``wide``:
    the text starts with an emoji, so Python holds it at 4 bytes per character."""
    rng = random.Random(7)
    base = {"sessionId": session, "cwd": "/tmp/p", "timestamp": "2025-03-01T10:00:00Z"}
    first = dict(base, type="user", uuid="u1", parentUuid=None, message={"role": "user", "content": "hello quokka"})
    reply = dict(
        base,
        type="assistant",
        uuid="a2",
        parentUuid="u-big",
        message={"id": "m2", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": "ok"}]},
    )
    big_head = orjson.dumps(
        dict(base, type="user", uuid="u-big", parentUuid="u1", message={"role": "user", "content": "@@"})
    )
    pre, post = big_head.split(b"@@")
    block = words(rng, min(text_bytes, MB)).encode()
    with path.open("wb") as f:
        f.write(orjson.dumps(first) + b"\n")
        f.write(pre)
        if wide:
            f.write("\U0001f600 ".encode())
        left = text_bytes
        while left > 0:
            piece = block[:left]
            f.write(piece)
            left -= len(piece)
        f.write(post + b"\n")
        f.write(orjson.dumps(reply) + b"\n")
    return path.stat().st_size


def write_tree_export(path: Path, nodes: int) -> int:
    """A ChatGPT export with one conversation of ``nodes`` nodes: a chain with a
    regenerated branch every 50 nodes, short texts (what a long chat looks like)."""
    rng = random.Random(11)
    with path.open("wb") as f:
        f.write(b'[{"id":"huge-tree","title":"huge tree","create_time":1700000000.0,')
        f.write(b'"update_time":1700000500.0,"current_node":"n%d","mapping":{' % (nodes - 1))
        f.write(b'"n0":{"id":"n0","parent":null,"children":["n1"],"message":null}')
        for i in range(1, nodes):
            parent = i - 1 if i % 50 else i - 2  # every 50th node: a sibling of its predecessor
            role = "user" if i % 2 else "assistant"
            node = {
                "id": f"n{i}",
                "parent": f"n{parent}",
                "children": [f"n{i + 1}"] if i + 1 < nodes else [],
                "message": {
                    "id": f"n{i}",
                    "author": {"role": role, "name": None, "metadata": {}},
                    "create_time": 1700000000.0 + i,
                    "update_time": None,
                    "content": {"content_type": "text", "parts": [words(rng, 80)]},
                    "status": "finished_successfully",
                    "end_turn": None if role == "user" else True,
                    "weight": 1.0,
                    "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                    "recipient": "all",
                },
            }
            f.write(b',"n%d":' % i + orjson.dumps(node))
        f.write(b"}}]")
    return path.stat().st_size


def sync(tmp: Path, name: str, src: Path, caps: tuple[int, ...], code: Path | None = None) -> dict:
    """One import in a fresh process tree: with ``code``, the package in that folder
    (run from there, so that `python -c` imports that copy)."""
    home = tmp / f"home-{name}"
    shutil.rmtree(home, ignore_errors=True)
    cmd = [sys.executable, "-c", _RUN, *map(str, caps), "--home", str(home), "sync", "--json", str(src)]
    env = None
    if code is not None:
        env = dict(os.environ, PYTHONPATH=str(code))
    r = run_measured(cmd, env=env, cwd=code)
    shutil.rmtree(home, ignore_errors=True)
    out: dict = {"returncode": r["returncode"], "seconds": round(r["seconds"], 1)}
    try:
        report = orjson.loads(r["stdout"])
        out["messages"] = report["messages"]["new"]
        out["errors"] = [e.get("error") for e in report["errors"]][:3]
    except orjson.JSONDecodeError:
        out["stderr"] = r["stderr"].decode(errors="replace")[-500:]
    out["peak_rss_mb"] = round(r["peak_rss_bytes"] / MB, 1)
    out["peak_pss_mb"] = round(r["peak_pss_bytes"] / MB, 1)
    out["largest_rss_mb"] = round(r["largest_rss_bytes"] / MB, 1)
    return out


def per_message(r: dict) -> dict:
    msgs = r.get("messages") or 0
    return {
        **r,
        "peak_rss_per_message_bytes": round(r["peak_rss_mb"] * MB / msgs) if msgs else None,
        "peak_pss_per_message_bytes": round(r["peak_pss_mb"] * MB / msgs) if msgs else None,
    }


def side_by_side(run, before: Path | None, turn: int) -> dict:
    """``run(code)`` for the code here and, with ``before``, the code there (in
    alternating order): the code here's figures, its baseline under "before",
    and the ratios after / before of the peaks and seconds."""
    if before is None:
        return run(None)
    order = [None, before] if turn % 2 == 0 else [before, None]
    got = {("before" if code else "after"): run(code) for code in order}
    after, base = got["after"], got["before"]
    ratios = {
        f"{k}_ratio": round(after[k] / base[k], 3) if base.get(k) else None
        for k in ("peak_rss_mb", "peak_pss_mb", "largest_rss_mb", "seconds")
    }
    return {**after, "before": base, **ratios}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--line-mb", type=float, default=240)
    ap.add_argument("--over-mb", type=float, default=300)
    ap.add_argument("--nodes", type=int, action="append", help="nodes of the tree (default 300000; repeatable)")
    ap.add_argument("--only", choices=("line", "wide", "over", "tree"), action="append", help="run only these cases")
    ap.add_argument("--before", help="git revision of a baseline, imported side by side in the same run")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    caps: tuple[int, ...] = (0, 0, 0)
    nodes = args.nodes or [300_000]
    if args.smoke:
        args.line_mb, args.over_mb, nodes, caps = 8, 20, [5_000], (16 * MB, 4 * MB, 256 << 10)
    only = set(args.only or ("line", "wide", "over", "tree"))
    tmp = Path(tempfile.mkdtemp(prefix="polylogue-hostile-"))
    line_cap, text_cap = (caps[0], caps[1]) if caps[0] else _default_caps()
    result: dict = {"benchmark": "hostile_memory", "line_cap_mb": line_cap / MB, "text_cap_mb": text_cap / MB}
    turn = 0
    try:
        before = code_at(args.before, tmp / "before") if args.before else None
        if before is not None:
            result["before"] = args.before
        for case, mb in (("line", args.line_mb), ("wide", args.line_mb), ("over", args.over_mb)):
            if case not in only:
                continue
            src = tmp / f"{case}.jsonl"
            size = write_huge_line_log(src, int(mb * MB), f"s-{case}", wide=case == "wide")
            got = side_by_side(lambda code, c=case, s=src: sync(tmp, c, s, caps, code), before, turn)
            result[f"{case}_line"] = {"input_mb": round(size / MB, 1), **got}
            turn += 1
            src.unlink()
        if "tree" in only:
            trees = []
            for n in nodes:
                src = tmp / "conversations.json"
                size = write_tree_export(src, n)
                got = side_by_side(lambda code, s=src: per_message(sync(tmp, "tree", s, caps, code)), before, turn)
                trees.append({"nodes": n, "input_mb": round(size / MB, 1), **got})
                turn += 1
                src.unlink()
            result["chatgpt_tree"] = trees[0]  # the first size (the smoke test reads it)
            if len(trees) > 1:
                result["chatgpt_trees"] = trees
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _default_caps() -> tuple[int, int]:
    from polylogue.providers.common import MAX_LINE_BYTES, MAX_TEXT_BYTES

    return MAX_LINE_BYTES, MAX_TEXT_BYTES


if __name__ == "__main__":
    emit(main())
