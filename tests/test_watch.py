"""`polylogue watch`: real watchers (the command, in a process of its own) on
real folders under a temporary home, read back through the archive; the pure
parts (what to watch, what a change syncs) on real files."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from helpers import REPO, run_cli

from polylogue.api import Archive
from polylogue.sources import SearchRoot
from polylogue.watch import Root, _folders_to_watch, background_priority, current_priority, targets_for, watcher_pid

SESSION = "5a1e0000-0000-4000-8000-00000000abcd"


def claude_line(n: int, text: str, session: str = SESSION) -> str:
    """Line ``n`` of a Claude Code session log (user and assistant in turn), as the tool writes it."""
    role = "user" if n % 2 == 0 else "assistant"
    content = text if role == "user" else [{"type": "text", "text": text}]
    rec = {
        "type": role,
        "sessionId": session,
        "cwd": "/home/dev/src/watched",
        "uuid": f"{session[:-6]}{n:06d}",
        "parentUuid": f"{session[:-6]}{n - 1:06d}" if n else None,
        "timestamp": f"2026-03-04T09:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
        "message": {"role": role, "content": content},
    }
    return json.dumps(rec) + "\n"


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(lines)
        f.flush()


class WatchProcess:
    """`polylogue watch --json` in its own process; its events read as they come."""

    def __init__(self, home: Path, *args: str, env: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "polylogue", "--home", str(home), "watch", "--json", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(orjson.loads(line))

    def wait_for(self, want, timeout: float = 30.0) -> dict:
        """The next event (or one seen already) for which ``want(event)`` holds."""
        for e in self.seen:
            if want(e):
                self.seen.remove(e)
                return e
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such event within {timeout}s; seen: {self.seen[-5:]}")
            try:
                e = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if want(e):
                return e
            self.seen.append(e)

    def synced(self, timeout: float = 30.0, reason: str | None = None) -> dict:
        return self.wait_for(lambda e: e["event"] == "sync" and (reason is None or reason in e["reason"]), timeout)

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Signal it; the seconds it took to exit."""
        t = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(timeout=10)
        return time.monotonic() - t

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def user() -> Path:
    return Path(os.environ["HOME"])


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def watcher(home):
    made: list[WatchProcess] = []

    def start(*args: str) -> WatchProcess:
        w = WatchProcess(home, *args)
        made.append(w)
        w.wait_for(lambda e: e["event"] == "watching")
        w.synced(reason="start", timeout=60)
        return w

    yield start
    for w in made:
        w.close()


def found(home: Path, words: str) -> int:
    with Archive(home) as a:
        return a.search(words, cache=False).total_conversations


def eventually(check, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "not within the time allowed"
        time.sleep(0.1)


# ------------------------------------------------------------------ what to watch, what to sync


def test_plain_folders_are_watched_whole_and_searches_at_their_fixed_folders(tmp_path, user):
    plain = Root("claude-code", user / ".claude" / "projects")
    assert plain.folders == [str(user / ".claude" / "projects")]
    editor = SearchRoot.of(
        user / ".config" / "Code" / "User",
        ("workspaceStorage/*/chatSessions/*.json", "globalStorage/emptyWindowChatSessions/*.json"),
        32,
    )
    assert Root("copilot-chat", editor).folders == [
        str(editor / "globalStorage" / "emptyWindowChatSessions"),
        str(editor / "workspaceStorage"),
    ]
    # files the tool drops into every project, anywhere below the home: left to the rescan
    assert _folders_to_watch(Root("aider", SearchRoot.of(user, ("**/.aider.chat.history.md",), 6))) == []
    # a tool's own folder searched at any depth is still watched
    droid = SearchRoot.of(user / ".factory" / "sessions", ("**/*.jsonl",), 32)
    assert Root("droid", droid).folders == [str(droid)]


def test_a_change_syncs_only_what_its_root_would_read(tmp_path, user, home):
    projects = user / ".claude" / "projects" / "p"
    projects.mkdir(parents=True)
    log, notes = projects / "s.jsonl", projects / "notes[1].txt"
    log.write_text(claude_line(0, "hello"))
    notes.write_text("not a log")
    editor = user / ".config" / "Code" / "User"
    chats = editor / "workspaceStorage" / "abc" / "chatSessions"
    chats.mkdir(parents=True)
    (chats / "c.json").write_text("{}")
    (editor / "settings.json").write_text("{}")
    roots = [
        Root("claude-code", user / ".claude" / "projects"),
        Root("copilot-chat", SearchRoot.of(editor, ("workspaceStorage/*/chatSessions/*.json",), 32)),
    ]
    got = targets_for(roots, [str(log), str(notes), str(chats / "c.json"), str(editor / "settings.json")], home)
    by_folder = {str(t): tuple(getattr(t, "find", ())) for t in got}
    # files are found in their folder (unknown content is skipped quietly there), names matched literally
    assert by_folder[str(projects)] == ("notes[[]1].txt", "s.jsonl")
    assert by_folder[str(chats)] == ("c.json",)
    assert str(editor) not in by_folder  # settings.json: no pattern of the root reaches it
    # a folder that appears is synced whole, narrowed to what the patterns reach below it
    (editor / "workspaceStorage" / "new" / "chatSessions").mkdir(parents=True)
    (folder,) = targets_for(roots, [str(editor / "workspaceStorage" / "new")], home)
    assert folder.find == ("chatSessions/*.json",)
    # gone files and the archive's own files give nothing
    (home / "inbox").mkdir(parents=True)
    assert targets_for(roots, [str(projects / "gone.jsonl"), str(home / "polylogue.db")], home) == []


def test_the_targets_import_exactly_the_changed_files(tmp_path, user, home):
    projects = user / ".claude" / "projects" / "p"
    projects.mkdir(parents=True)
    (projects / "a.jsonl").write_text(claude_line(0, "alphaword"))
    (projects / "b.jsonl").write_text(claude_line(0, "betaword", session=SESSION[:-4] + "beef"))
    (projects / "junk.txt").write_text("plain text, no transcript")
    roots = [Root("claude-code", user / ".claude" / "projects")]
    with Archive(home) as a:
        r = a.sync(targets_for(roots, [str(projects / "a.jsonl"), str(projects / "junk.txt")], home))
    assert r.files_seen == 2 and not r.errors  # junk.txt is skipped quietly, as a folder sync does
    assert found(home, "alphaword") == 1 and found(home, "betaword") == 0


# ------------------------------------------------------------------ priority


def test_background_priority_belongs_to_the_thread_and_what_it_starts():
    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread priorities are Linux's")
    main_before = current_priority()
    seen: dict = {}

    def sync_thread():
        seen["applied"] = background_priority()
        seen["thread"] = current_priority()
        code = "from polylogue.watch import current_priority as c; import json; print(json.dumps(c()))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
        seen["child"] = json.loads(out.stdout)

    t = threading.Thread(target=sync_thread)
    t.start()
    t.join()
    assert seen["applied"]["cpu"] in ("SCHED_IDLE", "nice 19")
    assert seen["thread"]["nice"] == 19 and seen["child"]["nice"] == 19  # a parse process inherits it
    if seen["applied"]["cpu"] == "SCHED_IDLE":
        assert seen["thread"]["cpu"] == seen["child"]["cpu"] == "SCHED_IDLE"
    if seen["applied"].get("io"):
        assert seen["thread"]["io"] == seen["child"]["io"] == "idle"
    assert current_priority() == main_before  # the thread that takes events and signals keeps its own


def test_sync_background_imports_like_a_sync(tmp_path, home, examples):
    r = run_cli(home, "sync", "--background", "--json", str(examples))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["messages"]["new"] > 0


# ------------------------------------------------------------------ the watcher


@pytest.mark.slow
def test_an_appended_log_line_is_searchable_and_a_grown_log_resumes(user, home, watcher):
    projects = user / ".claude" / "projects" / "-home-dev-src-watched"
    projects.mkdir(parents=True)
    log = projects / f"{SESSION}.jsonl"
    # big enough (64 KB) that its parser state is kept: growth is then read from the cut
    append(log, [claude_line(n, f"filler line {n} " + "lorem ipsum " * 30) for n in range(200)])
    w = watcher()  # its first sync reads the log whole
    assert found(home, "lorem") == 1
    for i, word in enumerate(["quokkaflux", "zebrinthe", "marmotide"]):
        t = time.monotonic()
        append(log, [claude_line(200 + i, f"now the word {word}")])
        eventually(lambda word=word: found(home, word) == 1, timeout=15)
        assert time.monotonic() - t < 10
    resumed = 0
    while True:
        try:
            resumed += w.wait_for(lambda e: e["event"] == "sync", timeout=2)["files"]["resumed"]
        except AssertionError:
            break
    assert resumed >= 1  # the grown log was parsed from where the last sync left off
    assert w.stop() < 2.0
    assert w.proc.returncode == 0


@pytest.mark.slow
def test_a_log_written_without_a_pause_is_synced_as_it_goes(user, home, watcher):
    """A session log written for hours never goes quiet: it is synced at most every
    MAX_WAIT seconds meanwhile, not once per line and not only when it stops."""
    projects = user / ".claude" / "projects" / "-busy"
    projects.mkdir(parents=True)
    log = projects / f"{SESSION}.jsonl"
    w = watcher()
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 6.0:  # a line every 50 ms for 6 s
        append(log, [claude_line(n, f"steady line {n} busyword{n}x")])
        n += 1
        time.sleep(0.05)
    eventually(lambda: found(home, f"busyword{n - 1}x") == 1)
    syncs = []
    while True:
        try:
            syncs.append(w.wait_for(lambda e: e["event"] == "sync", timeout=1.0))
        except AssertionError:
            break
    synced = [e for e in syncs if e["messages"]["new"]]
    assert 2 <= len(synced) <= n // 5  # while it was being written, a few syncs, not one per line
    assert found(home, "busyword0x") == 1
    w.stop()


@pytest.mark.slow
def test_folders_created_deleted_and_made_again_and_renamed_files(user, home, watcher):
    w = watcher()
    # a source that did not exist when the watcher started (a first Codex install)
    day = user / ".codex" / "sessions" / "2026" / "03" / "14"
    day.mkdir(parents=True)
    src = REPO / "examples" / "codex" / "sessions" / "2026" / "03" / "14"
    for f in src.iterdir():
        (day / f.name).write_bytes(f.read_bytes())
    eventually(lambda: found(home, "provider:codex") >= 1)
    # the Claude Code folder deleted, then made again with a new session in it
    projects = user / ".claude" / "projects"
    (projects / "p").mkdir(parents=True)
    append(projects / "p" / "one.jsonl", [claude_line(0, "firstfolderword")])
    eventually(lambda: found(home, "firstfolderword") == 1)
    import shutil

    shutil.rmtree(projects)
    time.sleep(0.5)
    (projects / "q").mkdir(parents=True)
    append(projects / "q" / "two.jsonl", [claude_line(0, "secondfolderword", session=SESSION[:-4] + "2222")])
    eventually(lambda: found(home, "secondfolderword") == 1)
    assert found(home, "firstfolderword") == 1  # nothing archived is lost when its source goes
    # a log renamed (rotated) and a new one started under the old name
    os.rename(projects / "q" / "two.jsonl", projects / "q" / "two.jsonl.1")
    append(projects / "q" / "two.jsonl", [claude_line(0, "rotatedword", session=SESSION[:-4] + "3333")])
    eventually(lambda: found(home, "rotatedword") == 1)
    assert found(home, "secondfolderword") == 1  # the renamed file is the same conversation, not a second
    assert w.stop(signal.SIGINT) < 2.0


@pytest.mark.slow
def test_a_zip_dropped_in_the_inbox_is_imported(home, watcher, examples, tmp_path):
    import zipfile

    w = watcher()
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(examples / "chatgpt" / "conversations.json", "conversations.json")
    os.rename(z, home / "inbox" / "export.zip")  # a download finishing
    e = w.wait_for(lambda e: e["event"] == "sync" and e["conversations"]["new"] > 0)
    assert not e["errors"]
    if sys.platform.startswith("linux"):  # the watcher's syncs ran at background priority
        assert e["priority"]["cpu"] in ("SCHED_IDLE", "nice 19")
    assert found(home, "provider:chatgpt") >= 1
    w.stop()


@pytest.mark.slow
def test_one_watcher_per_archive_and_a_manual_sync_meanwhile(home, watcher, examples):
    w = watcher()
    assert watcher_pid(home) == w.proc.pid
    second = run_cli(home, "watch", timeout=30)
    assert second.returncode == 1
    assert "another `polylogue watch` is already watching" in second.stderr
    assert "Traceback" not in second.stderr
    manual = run_cli(home, "sync", str(examples))
    assert manual.returncode == 0, manual.stderr
    assert w.stop() < 2.0
    # nothing held after it: a new watcher starts, a sync that will not wait runs
    assert watcher_pid(home) is None
    assert run_cli(home, "sync", "--no-wait").returncode in (0, 1)
    w2 = watcher()
    assert w2.stop() < 2.0


@pytest.mark.slow
def test_stopped_during_a_big_sync_it_exits_in_time_and_leaves_the_archive_whole(user, home, watcher, tmp_path):
    w = watcher()
    projects = user / ".claude" / "projects" / "big"
    projects.mkdir(parents=True)
    for s in range(400):
        sid = f"{s:08d}-0000-4000-8000-000000000000"
        append(projects / f"{sid}.jsonl", [claude_line(n, f"bulk {s} {n} " + "words " * 40, sid) for n in range(60)])

    def imported() -> int:
        with Archive(home) as a:
            return a.stats()["conversations"]

    eventually(lambda: imported() > 0, timeout=30)  # its first batch is committed: the sync is under way
    took = w.stop()
    assert took < 2.0, took
    assert imported() < 400  # cut short, at a conversation's end
    r = run_cli(home, "check", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert watcher_pid(home) is None
    assert run_cli(home, "sync", "--no-wait", "--json").returncode == 0  # the sync lock is free too


@pytest.mark.slow
def test_nothing_written_while_the_watcher_was_stopped_is_missed(user, home, watcher):
    """1,000 files written in bursts while the watcher is paused (SIGSTOP): all
    imported after it resumes (the pause is noticed and everything rescanned)."""
    w = watcher("--rescan", "0.5")
    root = user / ".claude" / "projects"
    os.kill(w.proc.pid, signal.SIGSTOP)
    try:
        for burst in range(10):
            d = root / f"burst{burst}"
            d.mkdir(parents=True)
            for i in range(100):
                sid = f"{burst:04d}{i:04d}-0000-4000-8000-000000000000"
                append(d / f"{sid}.jsonl", [claude_line(0, f"paused {burst} {i}", sid)])
            time.sleep(0.2)
        time.sleep(PAUSE_FOR_TEST)
    finally:
        os.kill(w.proc.pid, signal.SIGCONT)

    def all_in() -> bool:
        with Archive(home) as a:
            return a.stats()["conversations"] >= 1000

    eventually(all_in, timeout=45)
    assert w.wait_for(lambda e: e["event"] == "sync" and e["reason"] == "resumed after a pause", timeout=5)
    assert w.stop() < 2.0


PAUSE_FOR_TEST = 6.0  # longer than the watcher's PAUSE: it notices it was stopped


@pytest.mark.slow
def test_watch_benchmark_smoke():
    """benchmarks/watch.py at tiny scale, so it does not rot (its figures are measured by hand)."""
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "watch.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["catch_up"]["messages"] > 0
    assert out["append_latency"]["appends"] == 3 and out["append_latency"]["max_s"] < 60
    assert out["inbox_zip"]["conversations"] > 0
    assert out["nothing_missed"]["imported"] == out["nothing_missed"]["files"] == 50
    assert out["stop"]["exit"] == 0 and out["stop"]["lock_free"]
    assert out["idle"]["cpu_seconds"] >= 0 and out["pss_mb"]["idle"] > 0
