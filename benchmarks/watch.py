#!/usr/bin/env python3
"""Watch benchmark (issue 20): what `polylogue watch` costs, and how fast it follows.

    python benchmarks/watch.py [--conversations 10000] [--world DIR] [--idle-seconds 60]
                               [--appends 20] [--files 1000] [--presync] [--priority idle|normal] [--smoke]

A generated world (benchmarks/generate.py; its home/ holds Claude Code, Codex
and Gemini CLI folders) is laid out as a user's home (hard links: nothing in
the world is changed, only new files are written) and watched by
`polylogue watch --json` with HOME pointing there, into a new archive:

- catch-up: the watcher's first sync imports the world's default sources
  (at idle priority): its time and the watcher tree's peak PSS (with
  --presync, a foreground `polylogue sync` imports them first, and the
  watcher's first sync only checks them: on a machine kept busy by others an
  idle-priority import of the whole world would take very long);
- idle: CPU time (user + system, the whole tree) and PSS over --idle-seconds
  with nothing written;
- latency: --appends lines appended one at a time to a Claude Code log of
  ~100 KB (so a sync resumes it), each timed from the write to the line being
  found by a search (polled every 20 ms);
- inbox: a ChatGPT export zip (another generated set) moved into inbox/, timed
  until all its conversations are in, against the sync's own time;
- nothing missed: the watcher paused with SIGSTOP while --files new logs are
  written in 10 bursts, then resumed: time until all are imported;
- stop: SIGTERM to exit, and the watcher lock free after it.

Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks.common import REPO, emit, polylogue_cmd
from benchmarks.search import percentile

SESSION = "b3c40000-0000-4000-8000-0000000{:05d}"


def claude_line(n: int, text: str, session: str) -> str:
    role = "user" if n % 2 == 0 else "assistant"
    content = text if role == "user" else [{"type": "text", "text": text}]
    rec = {
        "type": role,
        "sessionId": session,
        "cwd": "/home/bench/watched",
        "uuid": f"{session[:-6]}{n:06d}",
        "parentUuid": f"{session[:-6]}{n - 1:06d}" if n else None,
        "timestamp": f"2026-03-04T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
        "message": {"role": role, "content": content},
    }
    return json.dumps(rec) + "\n"


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(lines)


class Tree:
    """The watcher's process tree: CPU time and PSS, sampled in the background
    with the phase it was taken in."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.phase = "start"
        self.peak: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def procs(self) -> list:
        import psutil

        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def pss(self) -> int:
        import psutil

        total = 0
        for p in self.procs():
            try:
                total += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def cpu(self) -> float:
        import psutil

        total = 0.0
        for p in self.procs():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def _sample(self) -> None:
        while not self.stop.wait(0.5):
            pss = self.pss()
            self.peak[self.phase] = max(self.peak.get(self.phase, 0), pss)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class Watch:
    def __init__(self, home: Path, env: dict, priority: str = "idle"):
        self.proc = subprocess.Popen(
            polylogue_cmd("--home", str(home), "watch", "--json", "--priority", priority),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
        )
        self.events: list[dict] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.events.append(orjson.loads(line))
                self.cond.notify_all()

    def wait_for(self, want, timeout: float, start: int = 0) -> dict:
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events[start:]:
                    if want(e):
                        return e
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no such event in {timeout}s")
                self.cond.wait(left)


def generate(out: Path, conversations: int, *extra: str) -> dict:
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "generate.py"),
            str(out),
            "--conversations",
            str(conversations),
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    return json.loads(r.stdout)


def searchable(home: Path, word: str, timeout: float, poll: float = 0.02) -> float | None:
    """Seconds until a search finds ``word`` (None: not within ``timeout``)."""
    from polylogue.api import Archive

    t0 = time.monotonic()
    with Archive(home, readers=1) as a:
        while time.monotonic() - t0 < timeout:
            try:
                if a.search(word, cache=False).total_conversations:
                    return time.monotonic() - t0
            except Exception:  # the archive may not exist yet
                pass
            time.sleep(poll)
    return None


def conversations(home: Path, provider: str | None = None) -> int:
    from polylogue.api import Archive

    with Archive(home, readers=1) as a:
        s = a.stats()
    if provider is None:
        return s["conversations"]
    return s["by_provider"].get(provider, {}).get("conversations", 0)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=10000, help="size of the generated world")
    ap.add_argument("--world", type=Path, help="a world generated before (its home/ is used)")
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--appends", type=int, default=20)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--zip-conversations", type=int, default=300)
    ap.add_argument("--presync", action="store_true", help="import the world in the foreground first")
    ap.add_argument("--priority", choices=("idle", "normal"), default="idle", help="the watcher's --priority")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    if args.smoke:
        args.conversations, args.idle_seconds, args.appends, args.files, args.zip_conversations = 30, 3, 3, 50, 12
    work = Path(tempfile.mkdtemp(prefix="polylogue-watch-"))
    out: dict = {"benchmark": "watch", "machine": {"cpus": os.cpu_count()}}
    watch = tree = None
    try:
        world = args.world
        if world is None:
            world = work / "world"
            generate(world, args.conversations)
        user, home = work / "user", work / "archive"
        shutil.copytree(world / "home", user, copy_function=os.link)  # hard links: the world stays as it is
        projects = user / ".claude" / "projects" / "-home-bench-watched"
        projects.mkdir(parents=True, exist_ok=True)
        log = projects / f"{SESSION.format(0)}.jsonl"
        append(log, [claude_line(n, f"line {n} " + "filler words " * 30, SESSION.format(0)) for n in range(240)])
        out["world"] = {"conversations": args.conversations, "files": sum(len(f) for _, _, f in os.walk(user))}
        env = {**os.environ, "HOME": str(user), "XDG_CONFIG_HOME": str(user / ".config")}
        env.update({"XDG_DATA_HOME": str(user / ".local" / "share")})
        env.pop("CLAUDE_CONFIG_DIR", None)
        env.pop("CODEX_HOME", None)
        out["load_before"] = [round(x, 2) for x in os.getloadavg()]
        out["priority"] = args.priority
        if args.presync:
            t0 = time.monotonic()
            subprocess.run(polylogue_cmd("--home", str(home), "sync"), env=env, check=True, capture_output=True)
            out["presync_seconds"] = round(time.monotonic() - t0, 2)

        # --- catch-up
        t0 = time.monotonic()
        watch = Watch(home, env, args.priority)
        tree = Tree(watch.proc.pid)
        tree.phase = "catch_up"
        first = watch.wait_for(lambda e: e["event"] == "sync", timeout=3600)
        out["catch_up"] = {
            "seconds": round(time.monotonic() - t0, 2),
            "sync_seconds": first["seconds"],
            "messages": first["messages"]["new"],
            "files": first["files"]["imported"],
        }

        # --- idle
        tree.phase = "idle"
        time.sleep(1.0)  # the last sync's processes gone
        c0, t0 = tree.cpu(), time.monotonic()
        time.sleep(args.idle_seconds)
        span = time.monotonic() - t0
        out["idle"] = {"seconds": round(span, 1), "cpu_seconds": round(tree.cpu() - c0, 3)}
        out["idle"]["cpu_percent_of_a_core"] = round(100 * out["idle"]["cpu_seconds"] / span, 3)
        out["idle"]["pss_mb"] = round(tree.pss() / 1e6, 1)

        # --- latency of an appended log line
        tree.phase = "syncing"
        lat = []
        for i in range(args.appends):
            word = f"watchlatency{i}q"
            seen = len(watch.events)
            append(log, [claude_line(240 + i, f"appended {word}", SESSION.format(0))])
            got = searchable(home, word, timeout=60)
            lat.append(got if got is not None else float("inf"))
            watch.wait_for(lambda e: e["event"] == "sync", timeout=60, start=seen)
            time.sleep(0.5)
        resumed = sum(e.get("files", {}).get("resumed", 0) for e in watch.events if e["event"] == "sync")
        out["append_latency"] = {
            "appends": len(lat),
            "p50_s": round(percentile(lat, 50), 3),
            "p95_s": round(percentile(lat, 95), 3),
            "max_s": round(max(lat), 3),
            "syncs_resumed": resumed,
        }

        # --- a zip dropped into the inbox
        z = generate(work / "zipset", args.zip_conversations, "--providers", "chatgpt", "--seed", "7")
        want = z["by_provider"]["chatgpt"]["conversations"]
        staged = work / "export.zip"
        shutil.copy(work / "zipset" / "chatgpt" / "chatgpt-export.zip", staged)
        seen = len(watch.events)
        t0 = time.monotonic()
        os.rename(staged, home / "inbox" / "chatgpt-export.zip")  # a download finishing
        while conversations(home, "chatgpt") < want and time.monotonic() - t0 < 600:
            time.sleep(0.05)
        took = time.monotonic() - t0
        ev = watch.wait_for(lambda e: e["event"] == "sync" and e["conversations"]["new"] > 0, 60, seen)
        out["inbox_zip"] = {
            "conversations": want,
            "bytes": os.path.getsize(home / "inbox" / "chatgpt-export.zip"),
            "searchable_s": round(took, 2),
            "sync_seconds": ev["seconds"],
            "beyond_sync_s": round(took - ev["seconds"], 2),
        }

        # --- nothing missed while the watcher was stopped
        before = conversations(home)
        os.kill(watch.proc.pid, signal.SIGSTOP)
        bursts = 10
        for b in range(bursts):
            d = user / ".claude" / "projects" / f"-paused-{b}"
            d.mkdir(parents=True)
            for i in range(args.files // bursts):
                sid = SESSION.format(1 + b * 10000 + i)
                append(d / f"{sid}.jsonl", [claude_line(0, f"paused {b} {i}", sid)])
            time.sleep(0.2)
        time.sleep(6.0)  # longer than the watcher's pause threshold
        seen = len(watch.events)
        t0 = time.monotonic()
        os.kill(watch.proc.pid, signal.SIGCONT)
        want_total = before + (args.files // bursts) * bursts
        while conversations(home) < want_total and time.monotonic() - t0 < 600:
            time.sleep(0.2)
        out["nothing_missed"] = {
            "files": (args.files // bursts) * bursts,
            "imported": conversations(home) - before,
            "seconds_after_resume": round(time.monotonic() - t0, 2),
            "reasons": sorted({e["reason"] for e in watch.events[seen:] if e["event"] == "sync"}),
        }

        # --- stop
        t0 = time.monotonic()
        watch.proc.send_signal(signal.SIGTERM)
        watch.proc.wait(timeout=30)
        out["stop"] = {"seconds": round(time.monotonic() - t0, 3), "exit": watch.proc.returncode}
        from polylogue.watch import watcher_pid

        out["stop"]["lock_free"] = watcher_pid(home) is None
        tree.close()
        out["pss_mb"] = {k: round(v / 1e6, 1) for k, v in tree.peak.items()}
        out["load_after"] = [round(x, 2) for x in os.getloadavg()]
        out["targets"] = {
            "idle_cpu_s_per_60s": round(out["idle"]["cpu_seconds"] * 60 / out["idle"]["seconds"], 3),
            "idle_cpu_ok": out["idle"]["cpu_seconds"] * 60 / out["idle"]["seconds"] <= 0.5,
            "pss_idle_ok": out["pss_mb"].get("idle", 0) <= 60,
            "pss_syncing_ok": max(out["pss_mb"].get("catch_up", 0), out["pss_mb"].get("syncing", 0)) <= 100,
            "append_p95_ok": out["append_latency"]["p95_s"] <= 2.0,
            "zip_ok": out["inbox_zip"]["beyond_sync_s"] <= 2.0,
            "nothing_missed_ok": out["nothing_missed"]["imported"] == out["nothing_missed"]["files"],
            "stop_ok": out["stop"]["seconds"] <= 2.0 and out["stop"]["lock_free"],
        }
        return out
    finally:
        if tree is not None:
            tree.close()
        if watch is not None and watch.proc.poll() is None:
            watch.proc.kill()
            watch.proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    emit(main())
