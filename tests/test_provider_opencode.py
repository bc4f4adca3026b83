"""OpenCode sessions in SQLite (docs/providers.md, "opencode").

No public sample database exists; ``build`` writes one to the schema public
references of OpenCode 1.2 describe (cited in docs/providers.md): ``project``,
``session``, ``message`` and ``part`` tables, message and part bodies as JSON in
``data``. Expected counts are counted by hand from the rows below.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from out_of_range import mutated

from polylogue.api import Archive
from polylogue.classify import classify
from polylogue.errors import ParseError
from polylogue.providers import Head, by_name, opencode, parse_path
from polylogue.sources import default_sources

SCHEMA = (
    "CREATE TABLE project (id text PRIMARY KEY, worktree text NOT NULL, vcs text, name text, time_created integer, time_updated integer)",
    "CREATE TABLE session (id text PRIMARY KEY, project_id text NOT NULL, parent_id text, slug text, directory text NOT NULL, title text NOT NULL, version text, share_url text, summary_additions integer, summary_deletions integer, summary_files integer, revert text, time_created integer NOT NULL, time_updated integer NOT NULL, time_archived integer)",
    "CREATE TABLE message (id text PRIMARY KEY, session_id text NOT NULL, time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL)",
    "CREATE TABLE part (id text PRIMARY KEY, message_id text NOT NULL, session_id text NOT NULL, time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL)",
)
T = 1_770_000_000_000
S1, S2 = "ses_01main", "ses_02child"
MESSAGES = [  # (session, id, offset, data)
    (S1, "msg_01", 0, {"role": "user", "time": {"created": T}, "agent": "build"}),
    (
        S1,
        "msg_02",
        1000,
        {
            "role": "assistant",
            "parentID": "msg_01",
            "modelID": "claude-sonnet-4-5",
            "providerID": "anthropic",
            "mode": "build",
            "cost": 0.012,
            "time": {"created": T + 1000},
            "tokens": {"input": 50, "output": 20, "reasoning": 5, "cache": {"read": 400, "write": 100}},
        },
    ),
    (
        S1,
        "msg_03",
        2000,
        {
            "role": "assistant",
            "parentID": "msg_01",
            "modelID": "claude-sonnet-4-5",
            "time": {"created": T + 2000},
            "tokens": {"input": 10, "output": 30, "reasoning": 0, "cache": {"read": 450, "write": 0}},
        },
    ),
    (S1, "msg_04", 3000, {"role": "user", "time": {"created": T + 3000}}),
    (
        S1,
        "msg_05",
        4000,
        {
            "role": "assistant",
            "parentID": "msg_04",
            "modelID": "claude-sonnet-4-5",
            "time": {"created": T + 4000},
            "error": {"name": "MessageAbortedError"},
        },
    ),
    (S2, "msg_10", 500, {"role": "user", "time": {"created": T + 500}}),
    (S2, "msg_11", 600, {"role": "assistant", "modelID": "claude-haiku-4-5", "time": {"created": T + 600}}),
]
PARTS = [  # (message, id, data)
    ("msg_01", "prt_01", {"type": "text", "text": "why does the tamarindcove test fail?"}),
    (
        "msg_01",
        "prt_02",
        {
            "type": "text",
            "text": 'Called the Read tool with the following input: {"filePath": "a.py"}',
            "synthetic": True,
        },
    ),
    ("msg_01", "prt_03", {"type": "file", "mime": "text/x-python", "filename": "a.py", "url": "file:///w/a.py"}),
    ("msg_02", "prt_04", {"type": "step-start"}),
    ("msg_02", "prt_05", {"type": "reasoning", "text": "Run the test first."}),
    (
        "msg_02",
        "prt_06",
        {
            "type": "tool",
            "tool": "bash",
            "callID": "toolu_1",
            "state": {
                "status": "completed",
                "input": {"command": "pytest -q"},
                "output": "1 failed",
                "title": "pytest -q",
            },
        },
    ),
    (
        "msg_02",
        "prt_07",
        {
            "type": "tool",
            "tool": "read",
            "callID": "toolu_2",
            "state": {"status": "error", "input": {"filePath": "/w/missing.py"}, "error": "File not found"},
        },
    ),
    ("msg_02", "prt_08", {"type": "step-finish", "tokens": {"input": 50, "output": 20}, "cost": 0.012}),
    ("msg_03", "prt_09", {"type": "text", "text": "The fixture is stale."}),
    ("msg_04", "prt_10", {"type": "text", "text": "fix it"}),
    (
        "msg_05",
        "prt_11",
        {
            "type": "tool",
            "tool": "edit",
            "callID": "toolu_3",
            "state": {"status": "running", "input": {"filePath": "a.py"}},
        },
    ),
    ("msg_10", "prt_20", {"type": "text", "text": "find the fixture"}),
    ("msg_11", "prt_21", {"type": "text", "text": "It is in tests/conftest.py."}),
]


def build(
    path: Path,
    *,
    revert: dict | None = None,
    extra_parts: list | None = None,
    sessions: list | None = None,
    messages: list = MESSAGES,
) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    for sql in SCHEMA:
        conn.execute(sql)
    conn.execute("INSERT INTO project VALUES ('abc123', '/w', 'git', NULL, ?, ?)", (T, T))
    rows = sessions or [
        (
            S1,
            "abc123",
            None,
            "brave-otter",
            "/w",
            "Fix the tamarindcove test",
            "1.2.3",
            None,
            3,
            1,
            1,
            json.dumps(revert) if revert else None,
            T,
            T + 5000,
            None,
        ),
        (
            S2,
            "abc123",
            S1,
            "calm-fox",
            "/w",
            "Find the fixture (@explore subagent)",
            "1.2.3",
            None,
            None,
            None,
            None,
            None,
            T + 400,
            T + 700,
            None,
        ),
    ]
    conn.executemany("INSERT INTO session VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
        [(mid, sid, T + off, T + off, json.dumps(d, default=str)) for sid, mid, off, d in messages],
    )
    session_of = {mid: sid for sid, mid, _, _ in messages}
    conn.executemany(
        "INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)",
        [
            (pid, mid, session_of[mid], T, T, d if isinstance(d, str) else json.dumps(d))
            for mid, pid, d in [*PARTS, *(extra_parts or [])]
        ],
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def convs_of(path: Path):
    convs, ctx = parse_path(str(path))
    return {c.provider_id: c for c in convs}, ctx


def test_sessions_hand_counted(tmp_path):
    convs, ctx = convs_of(build(tmp_path / "opencode.db"))
    assert ctx.all_warnings() == [] and sorted(convs) == [S1, S2]
    c = convs[S1]
    assert (c.title, c.project, c.meta["version"], c.meta["slug"]) == (
        "Fix the tamarindcove test",
        "/w",
        "1.2.3",
        "brave-otter",
    )
    # 5 messages, plus the synthetic text of msg_01 as a context message after it
    assert [x.id for x in c.messages] == ["msg_01", "msg_01#context", "msg_02", "msg_03", "msg_04", "msg_05"]
    assert [classify(x) for x in c.messages] == ["prompt", "context", "tool_call", "reply", "prompt", "tool_call"]
    assert c.messages[0].text == "why does the tamarindcove test fail?" and c.messages[0].blocks[1].name == "a.py"
    step = c.messages[2]
    assert [b.type for b in step.blocks] == ["thinking", "tool_use", "tool_result", "tool_use", "tool_result"]
    assert step.usage == {
        "input": 50,
        "output": 20,
        "reasoning": 5,
        "cache_read": 400,
        "cache_write": 100,
        "convention": "anthropic",
    }
    assert step.model == "claude-sonnet-4-5" and step.meta["cost"] == 0.012 and step.meta["answers"] == "msg_01"
    calls = c.tool_calls()
    assert [(u.name, u.input, r.text if r else None, r.meta["outcome"] if r else None) for u, r in calls] == [
        ("bash", {"command": "pytest -q"}, "1 failed", "success"),
        ("read", {"filePath": "/w/missing.py"}, "File not found", "error"),
        ("edit", {"filePath": "a.py"}, None, None),  # still running: no result yet
    ]
    assert c.meta["parts"] == {"step-start": 1, "step-finish": 1} and c.messages[5].meta["error"] == {
        "name": "MessageAbortedError"
    }
    assert int(c.created_at.timestamp() * 1000) == T and int(c.updated_at.timestamp() * 1000) == T + 5000
    child = convs[S2]
    assert child.parent_id == f"opencode:{S1}" and len(child.messages) == 2 and child.models == ["claude-haiku-4-5"]


def test_a_revert_keeps_the_undone_messages_inactive(tmp_path):
    convs, _ = convs_of(build(tmp_path / "opencode.db", revert={"messageID": "msg_04", "snapshot": "abc"}))
    c = convs[S1]
    assert [(x.id, x.active) for x in c.messages][-2:] == [("msg_04", False), ("msg_05", False)]
    assert all(x.active for x in c.messages[:-2])


def test_bad_rows_cost_what_they_hold(tmp_path):
    convs, ctx = convs_of(build(tmp_path / "opencode.db", extra_parts=[("msg_03", "prt_99", "{not json")]))
    assert convs[S1].meta["parts_unreadable"] == 1 and len(convs[S1].messages) == 6
    bad_session = [
        (S1, "abc123", None, None, "/w", "t", None, None, None, None, None, None, T, T, None),
        ("", "abc123", None, None, "/w", "no id", None, None, None, None, None, None, T, T, None),
    ]
    db2 = tmp_path / "two.db"
    convs, ctx = convs_of(build(db2, sessions=bad_session))
    assert list(convs) == [S1] and len(ctx.warnings) == 1


def test_invalid_utf8_in_a_row_costs_that_row(tmp_path):
    """Invalid UTF-8 in one row never fails the database: a text holding it is kept,
    its bytes replaced (one line for the file); a row whose JSON it breaks costs that
    row and a warning."""
    db = build(tmp_path / "opencode.db")
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE part SET data = CAST(? AS TEXT) WHERE id = 'prt_10'",
        (json.dumps({"type": "text", "text": "fix QQ"}).encode().replace(b"QQ", b"\xff\xfe"),),
    )
    conn.execute("UPDATE message SET data = CAST(x'7b22726f6c65223a22ff' AS TEXT) WHERE id = 'msg_03'")
    conn.execute("UPDATE part SET data = x'7b2274797065223aff' WHERE id = 'prt_21'")  # a BLOB, broken
    conn.commit()
    conn.close()
    convs, ctx = convs_of(db)
    assert sorted(convs) == [S1, S2] and ctx.bad_utf8
    assert [x.id for x in convs[S1].messages] == ["msg_01", "msg_01#context", "msg_02", "msg_04", "msg_05"]
    assert convs[S1].messages[3].text == "fix \ufffd\ufffd"
    assert convs[S2].meta["parts_unreadable"] == 1 and [len(x.blocks) for x in convs[S2].messages] == [1, 0]
    assert sorted(w.split(":")[0] for w in ctx.all_warnings()) == [
        f"session {S1} message msg_03 skipped",
        f"session {S2}",  # "...: 1 unreadable part skipped"
    ]
    report = Archive(tmp_path / "h").sync([db])
    assert report.conversations_new == 2 and "invalid UTF-8 replaced with U+FFFD" in [e["error"] for e in report.errors]


def test_sniffer_judges_the_schema():
    tables = dict(zip(["project", "session", "message", "part"], SCHEMA))
    assert opencode.sniff(Head("sqlite", tables=tables))
    assert not opencode.sniff(Head("sqlite", tables={**tables, "part": "CREATE TABLE part (id, text)"}))
    assert by_name("opencode").kind == "sqlite"


def test_default_location_and_resync(tmp_path):
    """The folder is shared with the storage folder's provider (tests/test_provider_opencode_storage.py)."""
    found = dict(default_sources(tmp_path, platform="linux", environ={"XDG_DATA_HOME": "/x"}, user=Path("/u")))
    root = found["opencode, opencode-storage"]
    assert root == Path("/x/opencode") and root.find[:2] == ("opencode.db", "opencode.db-wal")
    assert dict(default_sources(tmp_path, platform="darwin", environ={}, user=Path("/u")))[
        "opencode, opencode-storage"
    ] == Path("/u/.local/share/opencode")
    data = Path.home() / ".local" / "share" / "opencode"
    data.mkdir(parents=True)
    build(data / "opencode.db")
    (data / "auth.json").write_text('{"anthropic": {"type": "oauth"}}')
    a = Archive(tmp_path / "h")
    report = a.sync()
    assert report.errors == [] and report.conversations_new == 2
    assert a.search("tamarindcove").total_conversations == 1
    again = a.sync()
    assert again.conversations_new == 0


FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(mutated(PARTS[5][2]), mutated(MESSAGES[1][3]))
def test_fuzz_rows(tmp_path_factory, part, message):
    d = tmp_path_factory.mktemp("fuzz")
    messages = [*MESSAGES[:1], (S1, "msg_02", 1000, message), *MESSAGES[2:]]
    db = build(d / "opencode.db", extra_parts=[("msg_03", "prt_98", json.dumps(part, default=str))], messages=messages)
    try:
        convs, _ = convs_of(db)
    except ParseError:
        return
    assert S2 in convs  # the untouched session survives


def test_the_committed_fixture_is_this_modules_database(tmp_path):
    """tests/fixtures/opencode/opencode.db (what the shared bad-input corpus damages) is ``build``'s database."""
    from conftest import REPO

    committed, _ = convs_of(REPO / "tests" / "fixtures" / "opencode" / "opencode.db")
    fresh, _ = convs_of(build(tmp_path / "opencode.db"))
    assert {k: [x.id for x in c.messages] for k, c in committed.items()} == {
        k: [x.id for x in c.messages] for k, c in fresh.items()
    }
