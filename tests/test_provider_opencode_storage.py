"""OpenCode's storage folder, before 1.2 (docs/providers.md, "opencode-storage").

No public sample exists; ``build_storage`` writes one to the layout OpenCode's
own source reads and migrates (``packages/opencode/src/storage/json-migration.ts``,
cited in docs/providers.md): ``session/<projectID>/<sessionID>.json``,
``message/<sessionID>/<messageID>.json``, ``part/<messageID>/<partID>.json``, and
the project, todo and diff files beside them, each written as OpenCode writes it
(``JSON.stringify(value, null, 2)``). tests/fixtures/opencode/storage is its
output. Expected counts are counted by hand from the records below.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import mutated
from test_provider_opencode import SCHEMA

from polylogue.api import Archive
from polylogue.classify import classify
from polylogue.errors import ParseError
from polylogue.providers import by_name, is_side_file, names, opencode_storage, parse_path, read_head
from polylogue.sources import default_sources

T = 1_760_000_000_000  # epoch ms
PROJECT = "4b0ea68d7af9a6031a7ffda7ad66e0cb83315750"  # the repository's first commit
MAIN, CHILD = "ses_5a1f0c2e7ffeAbCdEfGhIjKlMn", "ses_5a1f0b9a1ffeQrStUvWxYz0123"
M = [f"msg_a5e0f3d1{i:04x}Kq8Rw2Lp5Zt7Vn" for i in range(1, 8)]  # ascending: creation order
C = [f"msg_a5e0f4c0{i:04x}Hb3Jd6Fg9Xs1Qm" for i in range(1, 3)]

SESSIONS = {
    MAIN: {
        "id": MAIN,
        "slug": "quiet-harbor",
        "version": "1.1.36",
        "projectID": PROJECT,
        "directory": "/home/dev/shop",
        "title": "Fix the flaky checkout test",
        "time": {"created": T, "updated": T + 70_000},
        "summary": {"additions": 4, "deletions": 1, "files": 1},
        "revert": {"messageID": M[5], "snapshot": "9f2c1e0"},
    },
    CHILD: {
        "id": CHILD,
        "slug": "brisk-otter",
        "version": "1.1.36",
        "projectID": PROJECT,
        "directory": "/home/dev/shop",
        "parentID": MAIN,
        "title": "Find where the clock is read (@general subagent)",
        "time": {"created": T + 31_000, "updated": T + 36_000},
    },
}


def _user(mid: str, sid: str, at: int) -> dict:
    return {
        "id": mid,
        "sessionID": sid,
        "role": "user",
        "time": {"created": T + at},
        "agent": "build",
        "model": {"providerID": "anthropic", "modelID": "claude-sonnet-4-5"},
    }


def _assistant(mid: str, sid: str, at: int, parent: str, **extra) -> dict:
    return {
        "id": mid,
        "sessionID": sid,
        "role": "assistant",
        "time": {"created": T + at, "completed": T + at + 900},
        "parentID": parent,
        "modelID": "claude-sonnet-4-5",
        "providerID": "anthropic",
        "mode": "build",
        "agent": "build",
        "path": {"cwd": "/home/dev/shop", "root": "/home/dev/shop"},
        "cost": 0,
        "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        **extra,
    }


MESSAGES = {
    MAIN: [
        _user(M[0], MAIN, 0),
        _assistant(
            M[1],
            MAIN,
            1000,
            M[0],
            cost=0.0123,
            finish="tool-calls",
            tokens={"input": 52, "output": 31, "reasoning": 7, "cache": {"read": 4100, "write": 260}},
        ),
        _assistant(
            M[2],
            MAIN,
            9000,
            M[0],
            finish="stop",
            tokens={"input": 12, "output": 40, "reasoning": 0, "cache": {"read": 4400, "write": 0}},
        ),
        _user(M[3], MAIN, 20_000),
        _assistant(M[4], MAIN, 21_000, M[3], finish="stop"),
        _user(M[5], MAIN, 50_000),  # reverted, with the reply below
        _assistant(M[6], MAIN, 51_000, M[5], error={"name": "MessageAbortedError", "data": {"message": "aborted"}}),
    ],
    CHILD: [_user(C[0], CHILD, 32_000), _assistant(C[1], CHILD, 33_000, C[0], finish="stop")],
}


def _tool(call: str, tool: str, status: str, inp: dict, **state) -> dict:
    return {"type": "tool", "callID": call, "tool": tool, "state": {"status": status, "input": inp, **state}}


PARTS = {  # message -> its parts in order (ids are given when written)
    M[0]: [
        {"type": "text", "text": "why is test_checkout flaky saffronquay?"},
        {
            "type": "text",
            "synthetic": True,
            "text": 'Called the Read tool with the following input: {"filePath":"/home/dev/shop/tests/test_checkout.py"}',
        },
        {
            "type": "file",
            "mime": "text/plain",
            "filename": "test_checkout.py",
            "url": "file:///home/dev/shop/tests/test_checkout.py",
        },
    ],
    M[1]: [
        {"type": "step-start", "snapshot": "5d0c7a1"},
        {"type": "reasoning", "text": "Run it a few times first.", "time": {"start": T + 1100, "end": T + 1500}},
        _tool(
            "toolu_01",
            "bash",
            "completed",
            {"command": "pytest tests/test_checkout.py -q --count 5"},
            output="1 failed, 4 passed",
            title="pytest tests/test_checkout.py -q --count 5",
            metadata={"exit": 1},
            time={"start": T + 1600, "end": T + 7000},
        ),
        _tool(
            "toolu_02",
            "read",
            "error",
            {"filePath": "/home/dev/shop/tests/conftest.py"},
            error="File not found: /home/dev/shop/tests/conftest.py",
            time={"start": T + 7100, "end": T + 7200},
        ),
        {
            "type": "step-finish",
            "reason": "tool-calls",
            "snapshot": "5d0c7a1",
            "cost": 0.0123,
            "tokens": {"input": 52, "output": 31, "reasoning": 7, "cache": {"read": 4100, "write": 260}},
        },
    ],
    M[2]: [
        {"type": "step-start"},
        {
            "type": "text",
            "text": "The clock is not frozen: the test reads the time twice.",
            "time": {"start": T + 9100, "end": T + 9800},
        },
        {
            "type": "step-finish",
            "reason": "stop",
            "cost": 0,
            "tokens": {"input": 12, "output": 40, "reasoning": 0, "cache": {"read": 4400, "write": 0}},
        },
    ],
    M[3]: [{"type": "text", "text": "freeze it"}],
    M[4]: [
        {"type": "step-start"},
        _tool(
            "toolu_03",
            "task",
            "completed",
            {"description": "Find clock reads", "prompt": "Find where the clock is read", "subagent_type": "general"},
            output="Two places: checkout.py and receipts.py.",
            title="Find clock reads",
            metadata={"sessionId": CHILD},
            time={"start": T + 30_000, "end": T + 37_000},
        ),
        _tool(
            "toolu_04",
            "edit",
            "completed",
            {"filePath": "/home/dev/shop/checkout.py", "oldString": "now()", "newString": "clock.now()"},
            output="",
            title="checkout.py",
            metadata={"diff": "-now()\n+clock.now()"},
            time={"start": T + 38_000, "end": T + 38_500},
        ),
        {"type": "patch", "hash": "5d0c7a1", "files": ["/home/dev/shop/checkout.py"]},
        {"type": "text", "text": "Done: the test now freezes the clock."},
        {
            "type": "step-finish",
            "reason": "stop",
            "cost": 0,
            "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        },
    ],
    M[5]: [{"type": "text", "text": "also run the linter"}],
    M[6]: [
        {"type": "step-start"},
        _tool("toolu_05", "bash", "running", {"command": "ruff check ."}, time={"start": T + 52_000}),
    ],
    C[0]: [{"type": "text", "text": "Find where the clock is read"}],
    C[1]: [{"type": "text", "text": "Two places: checkout.py and receipts.py."}],
}


def _write(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))


def build_storage(root: Path) -> Path:
    """The storage folder ``root`` (``.../opencode/storage``), as OpenCode 1.1 leaves it."""
    _write(
        root / "project" / f"{PROJECT}.json",
        {"id": PROJECT, "worktree": "/home/dev/shop", "vcs": "git", "time": {"created": T, "initialized": T}},
    )
    for sid, s in SESSIONS.items():
        _write(root / "session" / PROJECT / f"{sid}.json", s)
        for msg in MESSAGES[sid]:
            _write(root / "message" / sid / f"{msg['id']}.json", msg)
            for i, part in enumerate(PARTS[msg["id"]]):
                pid = f"prt_{msg['id'][4:16]}{i:02x}Pa7Wc4Ny"
                _write(
                    root / "part" / msg["id"] / f"{pid}.json",
                    {"id": pid, "sessionID": sid, "messageID": msg["id"], **part},
                )
    _write(
        root / "session_diff" / f"{MAIN}.json",
        [{"file": "checkout.py", "before": "now()", "after": "clock.now()", "additions": 1, "deletions": 1}],
    )
    _write(
        root / "todo" / f"{MAIN}.json",
        [{"id": "1", "content": "freeze the clock", "status": "completed", "priority": "high"}],
    )
    (root / "migration").write_text("2")
    return root


FIXTURE = Path(__file__).parent / "fixtures" / "opencode" / "storage"


def session_file(root: Path, sid: str = MAIN) -> Path:
    return root / "session" / PROJECT / f"{sid}.json"


def convs_of(path: Path):
    convs, ctx = parse_path(str(path))
    return {c.provider_id: c for c in convs}, ctx


# ---------------------------------------------------------------- hand-counted


def test_storage_folder_hand_counted(tmp_path):
    root = build_storage(tmp_path / "storage")
    convs, ctx = convs_of(session_file(root))
    assert list(convs) == [MAIN] and ctx.all_warnings() == [] and ctx.notes == []
    c = convs[MAIN]
    assert (c.provider, c.id, c.title, c.project) == (
        "opencode",
        f"opencode:{MAIN}",
        "Fix the flaky checkout test",
        "/home/dev/shop",
    )
    assert (c.meta["slug"], c.meta["version"], c.meta["summary_additions"]) == ("quiet-harbor", "1.1.36", 4)
    # 7 message files, plus the synthetic text of the first prompt as a context message after it
    assert [x.id for x in c.messages] == [M[0], f"{M[0]}#context", *M[1:]]
    assert [classify(x) for x in c.messages] == [
        "prompt",
        "context",
        "tool_call",
        "reply",
        "prompt",
        "reply",  # its tool calls, then its text
        "prompt",
        "tool_call",
    ]
    assert (
        c.messages[0].text == "why is test_checkout flaky saffronquay?"
        and c.messages[0].blocks[1].name == "test_checkout.py"
    )
    step = c.messages[2]
    assert [b.type for b in step.blocks] == ["thinking", "tool_use", "tool_result", "tool_use", "tool_result"]
    assert step.usage == {
        "input": 52,
        "output": 31,
        "reasoning": 7,
        "cache_read": 4100,
        "cache_write": 260,
        "convention": "anthropic",
    }
    assert (step.model, step.meta["cost"], step.meta["answers"]) == ("claude-sonnet-4-5", 0.0123, M[0])
    calls = [(u.name, r.meta["outcome"] if r else None) for u, r in c.tool_calls()]
    assert calls == [("bash", "success"), ("read", "error"), ("task", "success"), ("edit", "success"), ("bash", None)]
    assert c.messages[3].text == "The clock is not frozen: the test reads the time twice."
    # the revert undid the last prompt and its reply: kept, inactive
    assert [x.active for x in c.messages] == [True] * 6 + [False] * 2 and c.meta["revert"]["messageID"] == M[5]
    assert c.messages[-1].meta["error"]["name"] == "MessageAbortedError"
    assert c.meta["parts"] == {"step-start": 4, "step-finish": 3, "patch": 1}
    assert int(c.created_at.timestamp() * 1000) == T and int(c.updated_at.timestamp() * 1000) == T + 70_000
    assert [x.parent_id for x in c.messages][:3] == [None, M[0], f"{M[0]}#context"]

    child, _ = convs_of(session_file(root, CHILD))
    assert child[CHILD].parent_id == f"opencode:{MAIN}" and [x.text for x in child[CHILD].messages] == [
        "Find where the clock is read",
        "Two places: checkout.py and receipts.py.",
    ]


def test_both_forms_give_one_conversation(tmp_path):
    """OpenCode 1.2 copies these files into opencode.db (its own migration's mapping,
    redone here): the database gives the very same conversations."""
    root = build_storage(tmp_path / "storage")
    db = _migrate(root, tmp_path / "opencode.db")
    from_db, _ = convs_of(db)
    for sid in SESSIONS:
        from_files, _ = convs_of(session_file(root, sid))
        a, b = from_files[sid], from_db[sid]
        assert (a.id, a.title, a.project, a.parent_id, a.models, a.meta, a.created_at, a.updated_at) == (
            b.id,
            b.title,
            b.project,
            b.parent_id,
            b.models,
            b.meta,
            b.created_at,
            b.updated_at,
        )
        assert a.messages == b.messages


def _migrate(root: Path, db: Path) -> Path:
    """What OpenCode 1.2 does on its first run: the files into the database, ids from the
    file names, ``id``/``sessionID``/``messageID`` dropped from the records."""
    conn = sqlite3.connect(db)
    for sql in SCHEMA:
        conn.execute(sql)
    for f in sorted((root / "session").glob("*/*.json")):
        s = json.loads(f.read_text())
        summary = s.get("summary", {})
        conn.execute(
            "INSERT INTO session VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f.stem, f.parent.name, s.get("parentID"), s.get("slug", ""), s.get("directory", ""), s.get("title", ""),
             s.get("version", ""), None, summary.get("additions"), summary.get("deletions"), summary.get("files"),
             json.dumps(s["revert"]) if s.get("revert") else None, s["time"]["created"], s["time"]["updated"], None),
        )  # fmt: skip
    for f in sorted((root / "message").glob("*/*.json")):
        d = json.loads(f.read_text())
        sid = d.pop("sessionID")
        d.pop("id")
        conn.execute(
            "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
            (f.stem, sid, d["time"]["created"], d["time"]["created"], json.dumps(d)),
        )
        for p in sorted((root / "part" / f.stem).glob("*.json")):
            pd = json.loads(p.read_text())
            for k in ("id", "sessionID", "messageID"):
                pd.pop(k)
            conn.execute("INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)", (p.stem, f.stem, sid, T, T, json.dumps(pd)))
    conn.commit()
    conn.close()
    return db


def test_the_committed_fixture_is_this_modules_storage(tmp_path):
    """tests/fixtures/opencode/storage (what the shared bad-input corpus reaches) is ``build_storage``'s."""
    built = build_storage(tmp_path / "storage")
    committed = sorted(p.relative_to(FIXTURE) for p in FIXTURE.rglob("*") if p.is_file())
    assert committed == sorted(p.relative_to(built) for p in built.rglob("*") if p.is_file())
    for rel in committed:
        assert (FIXTURE / rel).read_bytes() == (built / rel).read_bytes(), rel


# ---------------------------------------------------------------- sniffing and side files


def test_only_the_session_files_are_inputs():
    heads = {p.relative_to(FIXTURE).parts[0]: read_head(p.read_bytes()) for p in FIXTURE.rglob("*.json")}
    assert opencode_storage.sniff(heads["session"])
    for kind in ("message", "part", "project", "todo", "session_diff"):
        assert not opencode_storage.sniff(heads[kind]), kind
        assert is_side_file(heads[kind]), kind
    assert not opencode_storage.sniff(read_head(b'{"id": "ses_x"}'))
    p = by_name("opencode-storage")
    assert p.kind == "json" and "opencode-storage" not in names() and "opencode" in names()


# ---------------------------------------------------------------- where it is, sync and re-sync


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_default_location_is_shared_with_the_database(tmp_path, platform):
    found = dict(default_sources(tmp_path, platform=platform, environ={}, user=Path("/u")))
    root = found["opencode, opencode-storage"]
    assert root == Path("/u/.local/share/opencode")
    assert root.find == ("opencode.db", "opencode.db-wal", "storage/session/*/*.json")
    assert dict(default_sources(tmp_path, platform="linux", environ={"XDG_DATA_HOME": "/x"}, user=Path("/u")))[
        "opencode, opencode-storage"
    ] == Path("/x/opencode")


def test_sync_of_the_default_location_and_resync(tmp_path):
    data = Path.home() / ".local" / "share" / "opencode"
    root = build_storage(data / "storage")
    (data / "auth.json").write_text('{"anthropic": {"type": "oauth"}}')  # not in the default location's files
    (data / "log").mkdir()
    (data / "log" / "2025-10-09T081500.log").write_text("INFO service=server\n")
    a = Archive(tmp_path / "h")
    report = a.sync()
    assert report.errors == [] and report.warnings == [] and report.conversations_new == 2
    assert report.files_seen == 2  # the two session files: messages and parts are read through them
    assert a.search("saffronquay").total_conversations == 1
    assert a.search("provider:opencode").total_conversations == 2
    assert a.conversation(f"opencode:{MAIN}").messages[-1].active is False
    again = a.sync()
    assert again.conversations_new == 0 and again.conversations_updated == 0
    # OpenCode answers again: new message and part files, and the session file rewritten
    mid = "msg_a5e0f3d10008Kq8Rw2Lp5Zt7Vn"
    _write(root / "message" / MAIN / f"{mid}.json", _user(mid, MAIN, 60_000))
    _write(
        root / "part" / mid / "prt_a5e0f3d1000800Pa7Wc4Ny.json",
        {"id": "prt_a5e0f3d1000800Pa7Wc4Ny", "sessionID": MAIN, "messageID": mid, "type": "text", "text": "thanks"},
    )
    _write(session_file(root), {**SESSIONS[MAIN], "revert": None, "time": {"created": T, "updated": T + 80_000}})
    later = a.sync()
    assert later.errors == [] and later.conversations_updated == 1
    c = a.conversation(f"opencode:{MAIN}")
    assert len(c.messages) == 9 and c.messages[-1].text == "thanks" and all(x.active for x in c.messages)


def test_the_database_and_the_files_hold_one_session_once(tmp_path):
    """After OpenCode 1.2's migration both forms are there: one conversation per session,
    the newer copy (the database's, where the session went on) kept."""
    data = Path.home() / ".local" / "share" / "opencode"
    root = build_storage(data / "storage")
    db = _migrate(root, data / "opencode.db")
    conn = sqlite3.connect(db)
    mid = "msg_a5e0f3d10009Kq8Rw2Lp5Zt7Vn"
    conn.execute(
        "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
        (mid, MAIN, T + 90_000, T + 90_000, json.dumps(_user(mid, MAIN, 90_000))),
    )
    conn.execute(
        "INSERT INTO part VALUES ('prt_z', ?, ?, ?, ?, ?)",
        (mid, MAIN, T, T, json.dumps({"type": "text", "text": "after the upgrade"})),
    )
    conn.execute("UPDATE session SET time_updated = ? WHERE id = ?", (T + 90_000, MAIN))
    conn.commit()
    conn.close()
    a = Archive(tmp_path / "h")
    report = a.sync()
    assert report.errors == [] and report.conversations_new == 2
    assert a.search("provider:opencode").total_conversations == 2
    assert a.conversation(f"opencode:{MAIN}").messages[-1].text == "after the upgrade"
    for order in ([root, db], [db, root]):  # whichever is read last
        b = Archive(tmp_path / f"h-{order[0].name}")
        for path in order:
            b.sync([path])
        assert b.search("provider:opencode").total_conversations == 2
        assert b.conversation(f"opencode:{MAIN}").messages[-1].text == "after the upgrade"


# ---------------------------------------------------------------- bad input


def test_bad_record_files_cost_what_they_hold(tmp_path):
    root = build_storage(tmp_path / "storage")
    msg = root / "message" / MAIN / f"{M[2]}.json"
    msg.write_bytes(msg.read_bytes()[:40])  # cut short, as if read while written
    part = next((root / "part" / M[3]).glob("*.json"))
    part.write_bytes(b"\x00garbage{")
    text = next((root / "part" / M[0]).glob("*.json"))
    text.write_bytes(text.read_bytes().replace(b"saffronquay", b"saffron\xff\xfequay"))
    (root / "message" / MAIN / "notes.txt").write_text("not a record")
    (root / "message" / MAIN / "..json").write_text("{}")  # no record id: passed over
    convs, ctx = convs_of(session_file(root))
    c = convs[MAIN]
    assert M[2] not in [x.id for x in c.messages] and len(c.messages) == 7
    assert [x.blocks for x in c.messages if x.id == M[3]] == [[]]  # its only part unreadable
    assert c.messages[0].text == "why is test_checkout flaky saffron\ufffd\ufffdquay?" and ctx.bad_utf8
    assert [w.split(":")[0] for w in ctx.all_warnings()] == [
        f"session {MAIN} message {M[2]} skipped",
        f"session {MAIN}",
    ]
    assert c.meta["parts_unreadable"] == 1


def test_bad_session_files_fail_alone(tmp_path):
    root = build_storage(tmp_path / "storage")
    good = session_file(root, CHILD)
    bad = session_file(root)
    bad.write_bytes(bad.read_bytes()[:100])
    report = Archive(tmp_path / "h").sync([root])
    assert [Path(e["path"]).name for e in report.errors] == [bad.name] and "\n" not in report.errors[0]["error"]
    assert report.conversations_new == 1 and report.exit_code == 3 and good.exists()
    with pytest.raises(ParseError):
        parse_path(str(bad))
    lone = tmp_path / "elsewhere" / good.name
    lone.parent.mkdir()
    shutil.copyfile(good, lone)
    convs, ctx = convs_of(lone)
    assert convs == {} and ctx.notes == [
        f"session {CHILD} not read: its messages are in the OpenCode storage folder it was taken from"
    ]


def test_a_session_never_used_is_no_conversation(tmp_path):
    root = build_storage(tmp_path / "storage")
    empty = {**SESSIONS[CHILD], "id": "ses_5a1f0a000ffeEmptyEmpty0000", "parentID": None}
    _write(session_file(root, empty["id"]), empty)
    convs, ctx = convs_of(session_file(root, empty["id"]))
    assert convs == {} and ctx.all_warnings() == []


def test_a_session_id_is_never_a_path(tmp_path):
    root = build_storage(tmp_path / "storage")
    _write(session_file(root, "evil"), {**SESSIONS[CHILD], "id": "../../message/" + MAIN})
    with pytest.raises(ParseError, match="usable id"):
        parse_path(str(session_file(root, "evil")))


# ---------------------------------------------------------------- fuzz

FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(st.data())
def test_fuzz_records(tmp_path_factory, data):
    """Any of the main session's files damaged: the parse raises ParseError at most
    (the session file itself), and the child session is untouched."""
    root = build_storage(tmp_path_factory.mktemp("fuzz") / "storage")
    files = sorted(p for p in root.rglob("*.json") if not any(k in str(p) for k in (CHILD, *C)))
    target = data.draw(st.sampled_from(files))
    value = json.loads(target.read_text())
    target.write_text(json.dumps(data.draw(mutated(value)), default=str))
    try:
        convs_of(session_file(root))
    except ParseError:
        pass
    child, _ = convs_of(session_file(root, CHILD))
    assert len(child[CHILD].messages) == 2


@FUZZ
@given(st.binary(max_size=400), st.integers(0, 3000))
def test_fuzz_bytes(tmp_path_factory, junk, cut):
    root = build_storage(tmp_path_factory.mktemp("fuzz") / "storage")
    for f in (session_file(root), next((root / "part" / M[1]).glob("*.json"))):
        good = f.read_bytes()
        f.write_bytes(good[: cut % len(good)] + junk)
    try:
        convs_of(session_file(root))
    except ParseError:
        pass
    assert os.path.exists(session_file(root, CHILD))
