"""What the web tests share: an archive with planted content, and `polylogue serve`
running in a real process on a free port, asked with a real HTTP client (urllib)."""

from __future__ import annotations

import http.client
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from helpers import REPO, sync_examples

from polylogue.models import Conversation, Message, text, tool_result, tool_use
from polylogue.render import json as json_render

PLANTED = "zanzibarquux"  # in the shipped Codex example: a prompt, a fork, tool calls and a subagent
PLANTED_CONV = "codex:019cf2a1-7c3e-7d41-9b8a-2f6e4c1d0a11"
LONG_ID = "claude-code:long-session"
LONG_MESSAGES = 1_000
BRANCHED = "claude-code:branched"


def long_conversation(n: int = LONG_MESSAGES) -> Conversation:
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    msgs = []
    for i in range(n):
        if i % 2 == 0:
            blocks = [text(f"step {i}: run the tests (word{i})")]
            role = "user"
        else:
            blocks = [tool_use(f"t{i}", "Bash", {"command": f"pytest -k case{i}"}), text(f"done {i}")]
            role = "assistant"
        msgs.append(
            Message(
                f"m{i:05d}", role, blocks, parent_id=f"m{i - 1:05d}" if i else None, timestamp=t0 + timedelta(seconds=i)
            )
        )
    msgs.append(Message("m-out", "user", [tool_result(f"t{n - 1}", "line\n" * 5000)], parent_id=f"m{n - 1:05d}"))
    return Conversation(
        "claude-code", "long-session", "A long session", t0, t0 + timedelta(hours=1), msgs, project="/work/long"
    )


def branched_conversation(n: int = 450, seed: int = 7) -> Conversation:
    """A main path of ``n`` messages; every 40th grows a side branch of 1-3 messages,
    stored right after its fork point (as a regenerated reply is), so a path's page
    spans other branches' rows."""
    rng = random.Random(seed)
    t0 = datetime(2026, 2, 1, tzinfo=UTC)
    msgs: list[Message] = []
    for i in range(n):
        parent = f"a{i - 1}" if i else None
        msgs.append(
            Message(
                f"a{i}",
                "user" if i % 2 == 0 else "assistant",
                [text(f"main {i}: " + "words of a reply " * 15)],
                parent_id=parent,
            )
        )
        if i % 40 == 5:
            for k in range(rng.randint(1, 3)):
                msgs.append(
                    Message(
                        f"b{i}-{k}",
                        "assistant",
                        [text(f"side {i}.{k}")],
                        parent_id=f"a{i}" if k == 0 else f"b{i}-{k - 1}",
                        active=False,
                    )
                )
    for k, m in enumerate(msgs):
        m.timestamp = t0 + timedelta(seconds=k)
    return Conversation("claude-code", "branched", "A branched session", t0, t0 + timedelta(hours=1), msgs)


def build_home(home: Path, extra: list[Conversation]) -> Path:
    """The shipped examples plus ``extra`` conversations (as Polylogue's own JSONL export)."""
    from polylogue.api import Archive

    sync_examples(home)
    feeds = []
    for k, c in enumerate(extra):  # one file each: a single huge line reads as a JSON document
        feeds.append(home.parent / f"{home.name}-extra-{k}.json")
        feeds[-1].write_text(json_render.render(c, indent=False), encoding="utf-8")
    with Archive(home) as a:
        report = a.sync(feeds)
        assert not report.errors, report.errors
    return home


@dataclass
class Server:
    proc: subprocess.Popen
    url: str  # as printed, with the token when there is one
    host: str
    port: int
    log: list[str] = field(default_factory=list)

    def get(self, path: str, *, headers: dict[str, str] | None = None, method: str = "GET", host: str | None = None):
        """(status, headers as a dict of lists, body text); redirects are not followed."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            h = {"Host": host or f"{self.host}:{self.port}", **(headers or {})}
            conn.request(method, path, headers=h)
            r = conn.getresponse()
            out: dict[str, list[str]] = {}
            for k, v in r.getheaders():
                out.setdefault(k.lower(), []).append(v)
            return r.status, out, r.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start(home: Path, *args: str, timeout: float = 60, archive: str | None = None) -> Server:
    """`polylogue --home HOME [--archive URL] serve --port 0 ARGS` in its own process; waits for its URL line."""
    shared = ["--archive", archive] if archive else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "polylogue", "--home", str(home), *shared, "serve", "--port", "0", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"at (http://\S+)", line)
        if m:
            url = m.group(1)
            parts = urlsplit(url)
            host = parts.hostname or "127.0.0.1"
            server = Server(proc, url, "127.0.0.1" if host == "localhost" else host, parts.port or 80)
            # keep reading its stderr, so a chatty server never blocks on a full pipe
            threading.Thread(target=server.log.extend, args=(proc.stderr,), daemon=True).start()
            _wait_ready(server, deadline)
            return server
    proc.kill()
    raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")


def _wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            server.get("/static/app.js")
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("serve never answered")
