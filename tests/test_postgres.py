"""`polylogue push` into a real PostgreSQL (tests/pg_server.py): push, re-push,
push after changes, a push killed with SIGKILL then resumed, two machines at
once, the TLS rule, credentials never shown, and the roles of docs/postgres.md."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import generated_world
from pg_server import pg_server  # noqa: F401

from polylogue.api import Archive
from polylogue.commands.push import push as push_cmd
from polylogue.errors import PolylogueError
from polylogue.push import push
from polylogue.store.postgres import access
from polylogue.store.postgres.connect import masked, secured

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install 'polylogue[postgres]' (psycopg[binary]) to run these tests"
)
REPO = Path(__file__).resolve().parent.parent


def _copy_examples(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(REPO / "examples", src)
    return src


def _archive(tmp: Path, name: str = "home") -> Archive:
    a = Archive(tmp / name)
    return a


def _counts(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),"
            " (SELECT count(*) FROM holders)"
        ).fetchone()


def _local_counts(a: Archive) -> tuple[int, int]:
    s = a.stats()
    return s["conversations"], s["messages"]


def _grow(jsonl: Path, text: str) -> None:
    """One more user message at the end of a Claude Code session."""
    last = [json.loads(line) for line in jsonl.read_text().splitlines() if '"uuid"' in line][-1]
    jsonl.open("a").write(
        json.dumps(
            {
                "parentUuid": last["uuid"],
                "isSidechain": False,
                "type": "user",
                "sessionId": last["sessionId"],
                "cwd": last.get("cwd", "/"),
                "message": {"role": "user", "content": text},
                "uuid": "2a7e0000-0000-4000-8000-0000000000ff",
                "timestamp": "2026-02-12T10:00:00.000Z",
            }
        )
        + "\n"
    )


def test_push_repush_and_changes(pg_server, tmp_path):  # noqa: F811
    src = _copy_examples(tmp_path)
    a = _archive(tmp_path)
    a.sync([src])
    url = pg_server.new_database("push_basic")
    first = push(a, url, machine="laptop")
    local_c, local_m = _local_counts(a)
    assert (first["conversations"], first["messages"], first["written"]) == (local_c, local_m, local_c)
    assert _counts(url) == (local_c, local_m, local_c)
    again = push(a, url, machine="laptop")
    assert (again["conversations"], again["messages"], again["unchanged"]) == (0, 0, local_c)
    assert _counts(url) == (local_c, local_m, local_c)

    session = next((src / "claude-code").rglob("3f8d2b10-*.jsonl"))
    _grow(session, "zorblaxian follow-up question")
    a.sync([src])
    after = push(a, url, machine="laptop")
    assert (after["conversations"], after["written"]) == (1, 1)
    assert _counts(url) == (local_c, local_m + 1, local_c)
    with psycopg.connect(url) as c:
        assert c.execute("SELECT count(*) FROM messages WHERE content LIKE '%zorblaxian%'").fetchone() == (1,)


def test_cli_push_json_and_masked_errors(pg_server, tmp_path):  # noqa: F811
    a = _archive(tmp_path)
    a.sync([REPO / "examples" / "claude"])
    url = pg_server.new_database("push_cli")
    r = CliRunner().invoke(push_cmd, [url, "--json", "--machine", "ci"], obj={"home": str(a.home), "archive": None})
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["machine"] == "ci" and out["conversations"] == _local_counts(a)[0]
    bad = url.replace("postgres@", "postgres:hunter2@").replace(f":{pg_server.port}/", ":1/")
    r = CliRunner().invoke(push_cmd, [bad], obj={"home": str(a.home), "archive": None})
    assert r.exit_code == 1 and "hunter2" not in r.output and "***" in r.output


def test_tls_is_required_off_this_machine(tmp_path):
    # refused before connecting: no DNS lookup of example.invalid happens, so the message is the refusal
    for mode in ("disable", "allow", "prefer", "require", "verify-ca"):
        with pytest.raises(PolylogueError, match="refusing sslmode"):
            secured(f"postgresql://u:pw@example.invalid/db?sslmode={mode}")
    assert secured("postgresql://u@example.invalid/db")["sslmode"] == "verify-full"
    assert secured("postgresql://u@db.example.com/db?sslmode=verify-full")["sslmode"] == "verify-full"
    assert secured("postgresql://u@example.invalid/db?sslmode=disable", insecure=True)["sslmode"] == "disable"
    for local in (
        "postgresql://u@127.0.0.1/db",
        "postgresql://u@localhost/db",
        "postgresql://u@[::1]/db",
        "postgresql:///db?host=/var/run/postgresql",
    ):
        assert "sslmode" not in secured(local)
    a = _archive(tmp_path)
    a.sync([REPO / "examples" / "claude"])
    r = CliRunner().invoke(
        push_cmd, ["postgresql://u:pw@example.invalid/db?sslmode=disable"], obj={"home": str(a.home), "archive": None}
    )
    assert r.exit_code == 1 and "refusing sslmode=disable" in r.output and ":pw@" not in r.output
    assert masked("postgresql://u:s3cret@h/db?password=x") == "postgresql://u:***@h/db?password=***"


KILLED_PUSH = """
import sys, time
from polylogue.api import Archive
from polylogue.push import push
def slow(done, total):
    print(done, flush=True)
    time.sleep(0.3)
push(Archive(sys.argv[1]), sys.argv[2], machine="laptop", on_progress=slow, batch_messages=60)
"""


def _world(tmp: Path, conversations: int, seed: int) -> Path:
    return generated_world(tmp, conversations, seed, chars=200)


def test_push_killed_then_resumed(pg_server, tmp_path):  # noqa: F811
    a = _archive(tmp_path)
    a.sync([_world(tmp_path, 60, 7)])
    url = pg_server.new_database("push_killed")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PUSH, str(a.home), url], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _counts(url)[0] == 0 if _schema_ready(url) else True:  # some batches committed, not all
        assert proc.poll() is None and time.monotonic() < deadline, "the push ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    local_c, local_m = _local_counts(a)
    partial = _counts(url)
    assert 0 < partial[0] < local_c
    resumed = push(a, url, machine="laptop")
    assert resumed["conversations"] == local_c - partial[0]  # only what the killed push did not commit
    assert _counts(url) == (local_c, local_m, local_c)
    with psycopg.connect(url) as c:
        per = dict(c.execute("SELECT uid, message_count FROM conversations").fetchall())
        got = dict(
            c.execute(
                "SELECT c.uid, count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id GROUP BY c.uid"
            ).fetchall()
        )
    assert {u: n for u, n in per.items() if n} == got  # no conversation lost or doubled a message
    from polylogue.pg_archive import PgArchive

    with PgArchive(url) as pg:  # nor a response of its usage
        assert a.usage("daily", tz="UTC")["totals"]["responses"] > 0
        assert pg.usage("daily", tz="UTC") == a.usage("daily", tz="UTC")
        assert pg.check()["ok"]


def _schema_ready(url: str) -> bool:
    with psycopg.connect(url) as c:
        return c.execute("SELECT to_regclass('holders') IS NOT NULL").fetchone()[0]


def test_two_machines_at_once(pg_server, tmp_path):  # noqa: F811
    shared = _world(tmp_path, 24, 11)
    laptop, desk = _archive(tmp_path, "laptop"), _archive(tmp_path, "desk")
    laptop.sync([shared, REPO / "examples" / "chatgpt"])
    desk.sync([shared, REPO / "examples" / "codex"])
    url = pg_server.new_database("push_two")
    errors: list[BaseException] = []

    def run(a: Archive, name: str) -> None:
        try:
            push(a, url, machine=name, batch_messages=40)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=x) for x in ((laptop, "laptop"), (desk, "desk"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with laptop.reader() as c1, desk.reader() as c2:
        u1 = {r[0]: r[1] for r in c1.execute("SELECT uid, message_count FROM conversations")}
        u2 = {r[0]: r[1] for r in c2.execute("SELECT uid, message_count FROM conversations")}
    union = {**u1, **u2}
    with psycopg.connect(url) as c:
        assert c.execute("SELECT count(*), sum(message_count) FROM conversations").fetchone() == (
            len(union),
            sum(union.values()),
        )
        assert c.execute("SELECT count(*) FROM messages").fetchone()[0] == sum(union.values())
        both = c.execute("SELECT count(*) FROM (SELECT conversation_id FROM holders GROUP BY 1 HAVING count(*) = 2) x")
        assert both.fetchone()[0] == len(set(u1) & set(u2)) > 0
    assert push(laptop, url, machine="laptop")["conversations"] == 0
    assert push(desk, url, machine="desk")["conversations"] == 0
    # the usage pushed at once from both counts each response once: as one archive holding both
    from polylogue.pg_archive import PgArchive

    one = _archive(tmp_path, "one")
    one.sync([shared, REPO / "examples" / "chatgpt", REPO / "examples" / "codex"])
    with PgArchive(url) as pg:
        assert one.usage("daily", tz="UTC")["totals"]["responses"] > 0
        for period in ("daily", "monthly", "project", "model"):
            assert pg.usage(period, tz="UTC", breakdown=True) == one.usage(period, tz="UTC", breakdown=True)
        key = lambda r: r["id"]  # sessions of equal last times may come in either order
        assert sorted(pg.usage("session", tz="UTC")["rows"], key=key) == sorted(
            one.usage("session", tz="UTC")["rows"], key=key
        )
        assert pg.check()["ok"]


def test_roles(pg_server, tmp_path):  # noqa: F811
    a = _archive(tmp_path)
    a.sync([REPO / "examples"])
    url = pg_server.new_database("push_roles")
    push(a, url, machine="admin-box")  # the administrator's first push makes the schema
    with psycopg.connect(url, autocommit=True) as c:
        for stmt in access.ACCESS_SQL:
            c.execute(stmt)
        for stmt in (
            "DROP ROLE IF EXISTS ann",
            "DROP ROLE IF EXISTS bob",
            "DROP ROLE IF EXISTS rita",
            "CREATE ROLE ann LOGIN IN ROLE polylogue_pusher",
            "CREATE ROLE bob LOGIN IN ROLE polylogue_pusher",
            "CREATE ROLE rita LOGIN IN ROLE polylogue_reader",
            "INSERT INTO machine_roles VALUES ('ann-laptop', 'ann'), ('bob-desk', 'bob')",
        ):
            c.execute(stmt)
    as_ = {u: url.replace("postgres@", f"{u}@") for u in ("ann", "bob", "rita")}

    # ann pushes her own archive as her machine
    ann_home = _archive(tmp_path, "ann")
    ann_home.sync([_world(tmp_path, 8, 21)])
    got = push(ann_home, as_["ann"], machine="ann-laptop")
    assert got["conversations"] == got["written"] == _local_counts(ann_home)[0]
    # ... and cannot push as bob's machine
    with pytest.raises(PolylogueError, match="row-level security"):
        push(ann_home, as_["ann"], machine="bob-desk")
    with psycopg.connect(as_["ann"]) as c:
        # cannot relabel a conversation as another machine, nor delete another machine's messages
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE conversations SET machine = 'bob-desk' WHERE machine = 'ann-laptop'")
        c.rollback()
        assert c.execute("DELETE FROM messages WHERE machine = 'admin-box'").rowcount == 0
        c.rollback()
        assert c.execute("UPDATE holders SET hash = 0 WHERE machine = 'admin-box'").rowcount == 0
        c.rollback()
    with psycopg.connect(as_["rita"]) as c:
        assert c.execute("SELECT count(*) FROM conversations").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM messages")
        c.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("INSERT INTO machine_roles VALUES ('x', 'rita')")
    # optional per-user privacy: an own-reader sees only what it pushed
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("GRANT polylogue_own_reader TO ann")
        c.execute("REVOKE polylogue_pusher FROM ann")
    with psycopg.connect(as_["ann"]) as c:
        mine = c.execute("SELECT count(*), count(*) FILTER (WHERE owner = 'ann') FROM conversations").fetchone()
        assert mine[0] == mine[1] == _local_counts(ann_home)[0]
        assert c.execute("SELECT count(DISTINCT owner) FROM messages").fetchone()[0] == 1


def test_bulk_first_push_builds_the_index_and_a_killed_one_is_repaired(pg_server, tmp_path, monkeypatch):  # noqa: F811
    from polylogue.store.postgres import load

    monkeypatch.setattr(load, "BULK_MIN", 10)  # the examples are a "big" first push here
    a = _archive(tmp_path)
    a.sync([REPO / "examples"])
    url = pg_server.new_database("push_bulk")
    push(a, url, machine="laptop")
    with psycopg.connect(url, autocommit=True) as c:
        assert c.execute("SELECT to_regclass('messages_tsv') IS NOT NULL").fetchone()[0]
        c.execute("DROP INDEX messages_tsv")  # what a bulk push killed before its end leaves
    assert push(a, url, machine="laptop")["conversations"] == 0
    with psycopg.connect(url) as c:
        assert c.execute("SELECT to_regclass('messages_tsv') IS NOT NULL").fetchone()[0]


def test_watch_push_after_each_sync(pg_server, tmp_path):  # noqa: F811
    from polylogue.push import AfterSync

    src = _copy_examples(tmp_path)
    a = _archive(tmp_path)
    url = pg_server.new_database("push_watch")
    events: list[dict] = []
    after = AfterSync(url, machine="watcher")
    after(a, a.sync([src / "claude"]).to_json(), events.append)  # the watcher's first sync
    assert [e["event"] for e in events] == ["push"] and events[0]["conversations"] == _local_counts(a)[0]
    after(a, a.sync([src / "claude"]).to_json(), events.append)  # nothing changed: nothing to push
    assert len(events) == 1
    after(a, a.sync([src / "codex"]).to_json(), events.append)
    assert events[-1]["event"] == "push" and events[-1]["conversations"] > 0
    assert _counts(url)[:2] == _local_counts(a)
    # a failing push is an event, the password masked, and the next sync's push catches up
    after.url = url.replace("postgres@", "postgres:hunter2@").replace(f":{pg_server.port}/", ":1/")  # server down
    after(a, a.sync([src / "chatgpt"]).to_json(), events.append)
    assert events[-1]["event"] == "error" and "hunter2" not in events[-1]["error"] and "***" in events[-1]["error"]
    after.url = url
    after(a, a.sync([src / "chatgpt"]).to_json(), events.append)  # unchanged, but the last push failed
    assert events[-1]["event"] == "push" and _counts(url)[:2] == _local_counts(a)
    with pytest.raises(PolylogueError, match="refusing sslmode"):
        AfterSync("postgresql://u@example.invalid/db?sslmode=require")


def test_without_the_driver_one_line_says_how_to_get_it(tmp_path):
    """psycopg is optional: without it, push and --archive URL fail with the pip command, and --help is unmoved."""
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from click.testing import CliRunner\n"
        "from polylogue.commands.push import push\n"
        "from polylogue.pg_archive import PgArchive\n"
        "from polylogue.errors import PolylogueError\n"
        "r = CliRunner().invoke(push, ['postgresql://u@127.0.0.1/db'], obj={'home': sys.argv[1], 'archive': None})\n"
        "print(r.exit_code, r.output.strip())\n"
        "try:\n    PgArchive('postgresql://u@127.0.0.1/db').list()\n"
        "except PolylogueError as e:\n    print(e)\n"
    )
    a = _archive(tmp_path)
    a.sync([REPO / "examples" / "claude"])
    r = subprocess.run([sys.executable, "-c", code, str(a.home)], capture_output=True, text=True, timeout=60)
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("1 ") and "pip install 'polylogue[postgres]'" in lines[0], r.stdout + r.stderr
    assert len(lines) == 2 and "pip install 'polylogue[postgres]'" in lines[1]
    help_ = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "polylogue", "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_.returncode == 0 and "push" in help_.stdout
    assert "psycopg" not in help_.stderr and "polylogue.push" not in help_.stderr  # nothing of ours loaded


def test_watch_push_command(pg_server, tmp_path):  # noqa: F811
    """`polylogue watch --push URL`, the real command in its own process: its first sync is
    pushed, and so is a session that grows while it watches."""
    from test_watch import WatchProcess, append, claude_line

    url = pg_server.new_database("watch_cmd")
    folder = tmp_path / "sessions"
    folder.mkdir()
    log = folder / "5a1e0000-0000-4000-8000-00000000abcd.jsonl"
    append(log, [claude_line(n, f"line {n} about quuxotic things") for n in range(4)])
    w = WatchProcess(tmp_path / "home", str(folder), "--push", url, "--rescan", "30")
    try:
        first = w.wait_for(lambda e: e["event"] in ("push", "error"), timeout=60)
        assert first["event"] == "push" and first["messages"] == 4, first
        append(log, [claude_line(n, f"line {n} later") for n in range(4, 6)])
        second = w.wait_for(lambda e: e["event"] in ("push", "error"), timeout=60)
        assert second["event"] == "push" and second["conversations"] == 1, second
        assert _counts(url)[:2] == (1, 6)
        w.stop()
    finally:
        w.close()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "polylogue",
            "--home",
            str(tmp_path / "home"),
            "watch",
            "--push",
            "postgresql://u:pw@db.example.com/x?sslmode=prefer",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert r.returncode == 1 and "refusing sslmode=prefer" in r.stderr and ":pw@" not in r.stderr


def test_roles_made_before_the_usage_ledger(pg_server, tmp_path):  # noqa: F811
    """A server whose roles were set up at schema 1: after the upgrade a pusher may not
    write the usage ledger until the owner runs access.USAGE_ACCESS_SQL; then it pushes,
    and a reader reads the usage."""
    from polylogue.pg_archive import PgArchive

    a = _archive(tmp_path)
    a.sync([REPO / "examples"])
    url = pg_server.new_database("push_roles_v1")
    push(a, url, machine="admin-box")
    with psycopg.connect(url, autocommit=True) as c:
        for stmt in [s for s in access.ACCESS_SQL if s not in access.USAGE_ACCESS_SQL]:
            try:
                c.execute(stmt)
            except psycopg.errors.DuplicateObject:  # the roles are the cluster's: made by another test
                assert stmt.startswith("CREATE ROLE")
        for stmt in (
            "DROP ROLE IF EXISTS carl",
            "DROP ROLE IF EXISTS vera",
            "CREATE ROLE carl LOGIN IN ROLE polylogue_pusher",
            "CREATE ROLE vera LOGIN IN ROLE polylogue_reader",
            "INSERT INTO machine_roles VALUES ('carl-box', 'carl')",
        ):
            c.execute(stmt)
    carl, vera = url.replace("postgres@", "carl@"), url.replace("postgres@", "vera@")
    mine = _archive(tmp_path, "carl")
    mine.sync([_world(tmp_path, 6, 31)])
    with pytest.raises(PolylogueError, match="permission denied"):
        push(mine, carl, machine="carl-box")
    with psycopg.connect(url, autocommit=True) as c:
        for stmt in access.USAGE_ACCESS_SQL:
            c.execute(stmt)
    push(mine, carl, machine="carl-box")
    with psycopg.connect(carl) as c:  # still only its own machine's ledger rows
        assert c.execute("DELETE FROM usage_ledger WHERE machine = 'admin-box'").rowcount == 0
        c.rollback()
    with PgArchive(vera) as shared:
        want = a.usage("model")["totals"]["responses"] + mine.usage("model")["totals"]["responses"]
        assert shared.usage("model")["totals"]["responses"] == want > 0


def test_a_progress_callback_that_raises_stops_the_push(pg_server, tmp_path):  # noqa: F811
    """The callback runs on the sender thread: its error ends the push with that error
    (before, the producer waited forever on the sender that died); the next push resumes."""

    class Enough(Exception):
        pass

    def stop(done: int, total: int) -> None:
        if done:
            raise Enough

    a = _archive(tmp_path)
    a.sync([_world(tmp_path, 30, 5)])
    url = pg_server.new_database("push_callback")
    got: list = []
    t = threading.Thread(target=lambda: got.append(_raised(lambda: push(a, url, machine="m", on_progress=stop,
                                                                          batch_messages=20))))  # fmt: skip
    t.start()
    t.join(60)
    assert not t.is_alive(), "the push hung"
    assert isinstance(got[0], Enough)
    assert 0 < _counts(url)[0] < _local_counts(a)[0]
    push(a, url, machine="m")
    assert _counts(url)[:2] == _local_counts(a)


def _raised(fn):
    try:
        fn()
    except Exception as e:
        return e
    return None
