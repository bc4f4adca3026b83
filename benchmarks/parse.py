#!/usr/bin/env python3
"""Parse cost per message of the Claude Code, Codex and ChatGPT parsers, alone.

    python benchmarks/parse.py [--data DIR] [--max-mb 48] [--rounds 3]
                               [--before REV] [--smoke]

The inputs are a generated world (``benchmarks/generate.py``; default
``bench-data/w10k``, else one is generated): Claude Code and Codex session logs
under ``home/``, the ChatGPT export's ``conversations.json``. Each provider's
files are read into memory first (at most ``--max-mb`` per provider, files in
sorted order), so only the parse is timed: the cleaning stream, the sniff and
the provider's ``parse`` to finished ``Conversation`` objects, as a sync runs
them (no encoding, no SQL), each conversation let go once made, as a sync does
(before 2026-12-07 a file's conversations were all kept until its end: for the
ChatGPT export, 1,667 conversations, the cyclic GC scanning them cost ~15 µs a
message that no sync pays).

Every figure is CPU time (``time.process_time``, so a busy machine slows it
less than wall time) per message, the best of ``--rounds``, beside a baseline
measured in the same process: ``orjson.loads`` of the same bytes (each line of
a log, the whole export). ``ratio_to_orjson`` is parse / baseline.

With ``--before REV`` the package as it was at REV (``git archive``, the
repository is not touched) is timed too, each side in a fresh process per
round, alternating which goes first, each process the best of ``--passes``;
the figures are the best over the rounds (a shared machine's noise only adds
time: with 4 jobs on 2 cores, medians of single passes swung by ±10% between
runs), ``after_over_before`` their ratio and ``after_over_before_median`` the
ratio of the medians; ``outputs_differ`` counts conversations whose parsed form
differs between the two (every field, meta key order included).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks.common import REPO, emit

PROVIDERS = ("claude-code", "codex", "chatgpt")


def inputs(data: Path, max_bytes: int) -> dict[str, list[str]]:
    """Per provider, the files (a zip member as ``zip!member``) parsed, within ``max_bytes``."""

    def within(paths: list[Path]) -> list[str]:
        out, total = [], 0
        for p in sorted(paths):
            size = p.stat().st_size
            if out and total + size > max_bytes:
                break
            out.append(str(p))
            total += size
        return out

    home = data / "home"
    found = {
        "claude-code": within(list((home / ".claude" / "projects").rglob("*.jsonl"))),
        "codex": within(list((home / ".codex" / "sessions").rglob("*.jsonl"))),
        "chatgpt": [f"{z}!conversations.json" for z in sorted((data / "chatgpt").glob("*.zip"))],
    }
    return {k: v for k, v in found.items() if v}


def read_bytes(name: str) -> bytes:
    if "!" in name:
        zpath, member = name.split("!", 1)
        with zipfile.ZipFile(zpath) as z:
            return z.read(member)
    with open(name, "rb") as f:
        return f.read()


# ----------------------------------------------------------------- the worker


def canonical(conv) -> bytes:
    """Every field of a parsed conversation, in order (dict key order kept)."""
    import dataclasses

    def default(v):
        if dataclasses.is_dataclass(v):
            return {f.name: getattr(v, f.name) for f in dataclasses.fields(v) if not f.name.startswith("_")}
        if isinstance(v, (set, frozenset)):
            return sorted(v, key=repr)
        if isinstance(v, tuple):
            return {"tuple": list(v)}
        return repr(v)

    return orjson.dumps(conv, default=default, option=orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS)


def parse_one(name: str, data: bytes, each=None) -> tuple[float, int, list[str]]:
    """Parse one input as a sync does (cleaning stream, sniff, provider parse), a
    conversation at a time: a sync encodes each one and lets it go, so none is kept
    here either (a parse that kept a whole export's conversations would time the
    cyclic GC scanning them, which no sync does). ``each(conversation)`` runs outside
    the timing. Returns (CPU seconds spent parsing, conversations, warnings)."""
    from polylogue.providers import open_clean, sniffed
    from polylogue.providers.common import ParseContext

    clock = time.process_time
    ctx = ParseContext(name)
    ctx.reopen = lambda: open_clean(io.BytesIO(data), ParseContext(name))[1]
    spent, count = 0.0, 0
    t = clock()
    with sniffed(io.BytesIO(data), ctx, name=os.path.basename(name)) as (_head, mod, source):
        if mod is None:
            return clock() - t, 0, ["unrecognised"]
        convs = iter(mod.parse(source, ctx))
        while True:
            conv = next(convs, None)
            spent += clock() - t
            if conv is None:
                break
            count += 1
            if each is not None:
                each(conv)
            del conv
            t = clock()
    return spent, count, ctx.all_warnings()


def baseline(data: bytes, jsonl: bool) -> None:
    loads = orjson.loads
    if jsonl:
        for line in data.splitlines():
            if line.strip():
                try:
                    loads(line)
                except orjson.JSONDecodeError:
                    pass
    else:
        loads(data)


def worker(spec: dict) -> dict:
    """In this process: each provider's parse and its orjson baseline, best of
    ``repeat``; with ``digests``, a digest per parsed conversation."""
    import xxhash

    out: dict = {}
    for provider, names in spec["inputs"].items():
        blobs = [(n, read_bytes(n)) for n in names]
        jsonl = provider != "chatgpt"
        messages = conversations = 0
        digests: list[str] = []
        best_parse = best_base = float("inf")
        parse_one(*blobs[0])  # warm: the first parse imports what a provider imports lazily

        def count(conv) -> None:  # outside the timing
            nonlocal messages
            messages += len(conv.messages)
            if spec["digests"]:
                digests.append(xxhash.xxh3_64_hexdigest(canonical(conv)))

        for r in range(spec["repeat"]):
            spent = 0.0
            for n, data in blobs:
                took, convs, warnings = parse_one(n, data, count if r == 0 else None)
                spent += took
                if r == 0:
                    conversations += convs
                    if spec["digests"]:
                        digests.append(xxhash.xxh3_64_hexdigest(orjson.dumps(warnings)))
            best_parse = min(best_parse, spent)
            t = time.process_time()
            for _, data in blobs:
                baseline(data, jsonl)
            best_base = min(best_base, time.process_time() - t)
        out[provider] = {
            "files": len(blobs),
            "bytes": sum(len(d) for _, d in blobs),
            "conversations": conversations,
            "messages": messages,
            "parse_us_per_message": round(best_parse / max(messages, 1) * 1e6, 2),
            "orjson_us_per_message": round(best_base / max(messages, 1) * 1e6, 2),
            "ratio_to_orjson": round(best_parse / max(best_base, 1e-9), 2),
            **({"digest": xxhash.xxh3_128_hexdigest("".join(digests).encode())} if spec["digests"] else {}),
            **({"digests": digests} if spec.get("keep_digests") else {}),
        }
    return out


# ------------------------------------------------------------------- the driver


def code_at(rev: str, dest: Path) -> Path:
    """The package as it was at a git revision (git archive: the repository is not touched)."""
    dest.mkdir(parents=True)
    tar = subprocess.run(["git", "-C", str(REPO), "archive", rev, "polylogue"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest


def run_worker(code: Path, spec: dict, work: Path) -> dict:
    path = work / "spec.json"
    path.write_bytes(orjson.dumps({**spec, "code": str(code)}))
    env = {**os.environ, "PYTHONPATH": str(code)}
    r = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(path)],
        capture_output=True,
        env=env,
        cwd=work,
    )
    if r.returncode:
        raise SystemExit(f"worker failed: {r.stderr.decode()[-3000:]}")
    return orjson.loads(r.stdout)


def generate(out: Path) -> None:
    cmd = [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(out), "--smoke"]
    cmd += ["--providers", "claude-code,codex,chatgpt"]
    subprocess.run(cmd, capture_output=True, check=True)


def compare(before: dict, after: dict) -> dict:
    out = {}
    for p in after:
        b, a = before[p], after[p]
        out[p] = {
            "before_us_per_message": b["parse_us_per_message"],
            "after_us_per_message": a["parse_us_per_message"],
            "before_ratio_to_orjson": b["ratio_to_orjson"],
            "after_ratio_to_orjson": a["ratio_to_orjson"],
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="a generated world (default bench-data/w10k, else one is generated)")
    ap.add_argument("--max-mb", type=float, default=48, help="bytes read per provider")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--passes", type=int, default=2, help="with --before: parses per process, the best kept")
    ap.add_argument("--before", help="also time the package at this git revision, and compare outputs")
    ap.add_argument("--smoke", action="store_true", help="tiny scale, for the test suite")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        spec = orjson.loads(args.worker.read_bytes())
        # the code timed comes first: the script's own folder (this repository) was put
        # before PYTHONPATH above, and until 2026-12-07 both sides ran this checkout's code
        sys.path.insert(0, spec["code"])
        import polylogue

        if not Path(polylogue.__file__).resolve().is_relative_to(Path(spec["code"]).resolve()):
            raise SystemExit(f"worker imported {polylogue.__file__}, not the code under {spec['code']}")
        result = worker(spec)
        sys.stdout.write(orjson.dumps(result).decode())
        return result
    with tempfile.TemporaryDirectory(prefix="polylogue-parse-") as tmp:
        work = Path(tmp)
        data = args.data
        if data is None and not args.smoke and (REPO / "bench-data" / "w10k").is_dir():
            data = REPO / "bench-data" / "w10k"
        if data is None:
            data = work / "data"
            generate(data)
            args.rounds = min(args.rounds, 2)
        spec = {"inputs": inputs(data, int(args.max_mb * (1 << 20))), "repeat": 1, "digests": False}
        result: dict = {"benchmark": "parse", "data": str(data), "machine": {"cpus": os.cpu_count()}}
        if not args.before:
            spec["repeat"] = args.rounds
            result["providers"] = run_worker(REPO, spec, work)
            emit(result)
            return result
        codes = {"after": REPO, "before": code_at(args.before, work / "before")}
        runs: dict[str, list[dict]] = {"after": [], "before": []}
        for r in range(args.rounds):
            for side in ("after", "before") if r % 2 == 0 else ("before", "after"):
                runs[side].append(run_worker(codes[side], {**spec, "digests": r == 0, "repeat": args.passes}, work))
        providers = {}
        for p in spec["inputs"]:
            best = {s: min(x[p]["parse_us_per_message"] for x in runs[s]) for s in runs}
            med = {s: statistics.median(x[p]["parse_us_per_message"] for x in runs[s]) for s in runs}
            base = {s: min(x[p]["orjson_us_per_message"] for x in runs[s]) for s in runs}
            first = {s: runs[s][0][p] for s in runs}
            providers[p] = {
                **{k: first["after"][k] for k in ("files", "bytes", "conversations", "messages")},
                "before_us_per_message": round(best["before"], 2),
                "after_us_per_message": round(best["after"], 2),
                "orjson_us_per_message": round(min(base.values()), 2),
                "before_ratio_to_orjson": round(best["before"] / max(base["before"], 1e-9), 2),
                "after_ratio_to_orjson": round(best["after"] / max(base["after"], 1e-9), 2),
                "after_over_before": round(best["after"] / max(best["before"], 1e-9), 3),
                "after_over_before_median": round(med["after"] / max(med["before"], 1e-9), 3),
                "rounds_us_per_message": {s: [x[p]["parse_us_per_message"] for x in runs[s]] for s in runs},
                "outputs_differ": first["after"]["digest"] != first["before"]["digest"],
                "messages_before": first["before"]["messages"],
            }
        result["before"] = args.before
        result["providers"] = providers
        emit(result)
        return result


if __name__ == "__main__":
    main()
