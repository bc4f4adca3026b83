#!/usr/bin/env python3
"""`polylogue serve` speed over loopback, with a real HTTP client (http.client).

    python benchmarks/web.py --home HOME --long ID [--branched ID] [--rounds N] [--clients 20]
    python benchmarks/web.py --smoke

Starts `polylogue --home HOME serve --port 0` in its own process and measures,
per page kind, the server's own time (its Server-Timing header) and the
client's wall time, p50/p99:

- search: distinct queries (each first asked: the Archive's result cache is
  cold), then the same again (warm);
- browse (pages 1..5), projects, usage (daily, monthly);
- conversation: the first page of the conversation ``--long`` (in the smoke run, a
  2,000-message one made here), and of the branched conversation ``--branched``
  (laid out from its shape: the smoke run makes a 1,000-message one);
- the same mix from ``--clients`` threads at once (p99 beside the one-client p99);
- baselines in the same run: a static file from the same server, and
  `polylogue search` (the CLI, a fresh process) for the first query;
- the server's PSS after the runs (psutil), and its peak sampled during them.

The archive is only read. A benchmark archive of an older schema must be a
migrated copy (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import http.client
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlencode

# this folder is sys.path[0] when run as a script: its modules must not shadow the standard library's
# (benchmarks/secrets.py would stand for `secrets`)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import REPO, emit  # noqa: E402

QUERIES = ["error", "database", "checkpoint", "migration plan", "provider:codex test", "timeout retry", "cache"]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))], 2) if xs else 0.0


class Client:
    def __init__(self, port: int):
        self.port = port

    def get(self, path: str) -> tuple[float, float, int]:
        """(server ms, wall ms, status) for one request on a fresh connection, as a browser's first would be."""
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("GET", path, headers={"Host": f"127.0.0.1:{self.port}"})
            r = conn.getresponse()
            r.read()
            timing = r.getheader("server-timing") or ""
        finally:
            conn.close()
        wall = (time.perf_counter() - t0) * 1000
        m = re.search(r"dur=([\d.]+)", timing)
        return (float(m.group(1)) if m else wall), wall, r.status


def start(home: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "polylogue", "--home", str(home), "serve", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    m = re.search(r":(\d+)/", line)
    if not m:
        proc.kill()
        raise SystemExit(f"serve did not start: {line}{proc.stderr.read()}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    port = int(m.group(1))
    for _ in range(200):
        try:
            Client(port).get("/static/app.js")
            break
        except OSError:
            time.sleep(0.05)
    return proc, port


def conv_path(ident: str) -> str:
    return f"/c/{quote(ident, safe=':@')}"


def summary(samples: list[tuple[float, float, int]]) -> dict:
    server = [s for s, _, _ in samples]
    wall = [w for _, w, _ in samples]
    return {
        "n": len(samples),
        "server_p50_ms": pct(server, 0.5),
        "server_p99_ms": pct(server, 0.99),
        "wall_p50_ms": pct(wall, 0.5),
        "wall_p99_ms": pct(wall, 0.99),
        "errors": sum(1 for _, _, st in samples if st >= 400),
    }


def mix(long_id: str, rounds: int, branched_id: str | None = None) -> dict[str, list[str]]:
    search = [f"/search?{urlencode({'q': q})}" for q in QUERIES]
    branched = {"conversation_branched_first_page": [conv_path(branched_id)] * rounds} if branched_id else {}
    return {
        **branched,
        "search_cold": search,
        "search_warm": search * rounds,
        "browse": [f"/browse?page={k}" for k in range(1, 6)] * rounds,
        "projects": ["/projects"] * rounds,
        "usage": ["/usage", "/usage?period=monthly"] * rounds,
        "conversation_first_page": [conv_path(long_id)] * rounds,
        "static_baseline": ["/static/app.css"] * rounds,
    }


def run(home: Path, long_id: str, rounds: int, clients: int, branched_id: str | None = None) -> dict:
    import psutil

    proc, port = start(home)
    ps = psutil.Process(proc.pid)
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], ps.memory_full_info().pss)
            except psutil.Error:
                return
            stop.wait(0.25)

    threading.Thread(target=sample, daemon=True).start()
    c = Client(port)
    try:
        # the first calls: stats, activity counts and usage reports are computed once per archive generation
        first_calls = {path: round(c.get(path)[0], 1) for path in ("/", "/browse", "/projects", "/usage")}
        ready = activity_ready(port)
        pages = mix(long_id, rounds, branched_id)
        alone = {kind: summary([c.get(p) for p in paths]) for kind, paths in pages.items()}
        flat = [(k, p) for k, paths in pages.items() if k != "search_cold" for p in paths]
        together: dict[str, list] = {k: [] for k in pages if k != "search_cold"}
        alone_started = time.perf_counter()
        for _, p in flat:
            c.get(p)
        alone_rps = len(flat) / (time.perf_counter() - alone_started)
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            for kind, res in pool.map(lambda kp: (kp[0], c.get(kp[1])), flat * max(1, clients // 4)):
                together[kind].append(res)
        concurrent_s = time.perf_counter() - started
        pss_after = ps.memory_full_info().pss
        rollup = smaps_rollup(proc.pid)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(10)
    cli = cli_search(home, QUERIES[0])
    return {
        "one_client": alone,
        "concurrent": {
            "clients": clients,
            "seconds": round(concurrent_s, 2),
            "requests_per_s": round(len(flat) * max(1, clients // 4) / concurrent_s, 1),
            "one_client_requests_per_s": round(alone_rps, 1),
            **{k: summary(v) for k, v in together.items()},
        },
        "concurrent_vs_alone_p99": {
            k: round(summary(v)["server_p99_ms"] / max(0.01, alone[k]["server_p99_ms"]), 2) for k, v in together.items()
        },
        "first_calls_server_ms": first_calls,
        "activity_counts_ready_s": ready,
        "server_pss_mb": round(pss_after / 2**20, 1),
        # Pss_File: the archive's pages SQLite reads through mmap (store/db.py MMAP_BYTES), the
        # OS page cache mapped in, reclaimable; Pss_Anon: the server's own memory
        "server_pss_anon_mb": round(rollup.get("Pss_Anon", 0) / 1024, 1),
        "server_pss_file_mb": round(rollup.get("Pss_File", 0) / 1024, 1),
        "server_peak_pss_mb": round(peak[0] / 2**20, 1),
        "baseline_cli_search_ms": cli,
    }


def activity_ready(port: int, timeout: float = 900) -> float:
    """Seconds until the server's activity counts (computed in the background once per
    archive generation) are ready: the steady state the figures are about."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/projects", headers={"Host": f"127.0.0.1:{port}"})
        body = conn.getresponse().read()
        conn.close()
        if b"Counting" not in body:
            break
        time.sleep(0.5)
    return round(time.perf_counter() - t0, 1)


def smaps_rollup(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup in kB ({} where there is none)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            out[key] = int(rest.split()[0])
    return out


def cli_search(home: Path, q: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), "search", q],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    return round((time.perf_counter() - t0) * 1000, 1)


def smoke_home(tmp: Path) -> tuple[Path, str, str]:
    """The shipped examples plus a 2,000-message conversation and a branched one of 1,000."""
    sys.path.insert(0, str(REPO / "tests"))
    from web_server import branched_conversation, build_home, long_conversation

    conv, tree = long_conversation(2_000), branched_conversation(1_000)
    return build_home(tmp / "home", [conv, tree]), conv.id, tree.id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path)
    ap.add_argument("--long", help="id of a long conversation (its first page is timed)")
    ap.add_argument("--branched", help="id of a long branched conversation (its first page is timed too)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            home, long_id, branched_id = smoke_home(Path(tmp))
            out = run(home, long_id, rounds=2, clients=4, branched_id=branched_id)
    else:
        if a.home is None or a.long is None:
            ap.error("--home and --long are needed (or --smoke)")
        out = run(a.home, a.long, a.rounds, a.clients, a.branched)
    from polylogue.api import Archive

    if not a.smoke:
        with Archive(a.home) as arch:
            s = arch.stats()
        out["archive"] = {"conversations": s["conversations"], "messages": s["messages"]}
    emit({"benchmark": "web", "smoke": a.smoke, **out})


if __name__ == "__main__":
    main()
