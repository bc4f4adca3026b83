"""Cursor IDE chats in SQLite (docs/providers.md, "cursor").

There is no public sample database, so ``build_global`` and ``build_workspace``
write fixture databases to the layout the public sources describe (cited in
docs/providers.md): ``ItemTable`` and ``cursorDiskKV`` key-value tables,
``composerData:<id>`` and ``bubbleId:<composer>:<bubble>`` rows in the global
database (WAL mode, as Cursor keeps it), the older inline ``conversation`` and
``capabilities[].data.bubbleDataMap`` forms, and the older ``aichat`` tabs in a
workspace database. Expected counts are counted by hand from the rows below.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import mutated

from polylogue import models as m
from polylogue.api import Archive
from polylogue.errors import ParseError
from polylogue.ingest import FileOutcome, parse_input
from polylogue.providers import by_name, parse_path
from polylogue.providers import cursor as cursor_provider
from polylogue.sources import InputFile, default_sources

TABLES = (
    "CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)",
    "CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)",
)
T0 = 1_750_000_000_000  # epoch ms

MODERN = {
    "_v": 10,
    "composerId": "c-modern",
    "name": "Fix the login bug",
    "createdAt": T0,
    "lastUpdatedAt": T0 + 60_000,
    "status": "completed",
    "unifiedMode": "agent",
    "modelConfig": {"modelName": "claude-4-sonnet-thinking", "maxMode": False},
    "fullConversationHeadersOnly": [
        {"bubbleId": "u1", "type": 1},
        {"bubbleId": "a1", "type": 2},
        {"bubbleId": "a2", "type": 2, "serverBubbleId": "s2"},
        {"bubbleId": "a3", "type": 2},
        {"bubbleId": "u2", "type": 1},
        {"bubbleId": "a4", "type": 2},
        {"bubbleId": "a5", "type": 2},
        {"bubbleId": "hidden", "type": 2, "grouping": {"isRenderable": False}},
        {"bubbleId": "gone", "type": 2},  # listed, but its row was never written
    ],
    "subComposerIds": ["c-child"],
    "usageData": {"claude-4-sonnet": {"costInCents": 12, "amount": 3}},
    "workspaceIdentifier": {"id": "ws1", "uri": {"fsPath": "/home/dev/shop"}},
}
MODERN_BUBBLES = {
    "u1": {
        "_v": 3,
        "type": 1,
        "bubbleId": "u1",
        "text": "Why does login fail wrenfallow?",
        "createdAt": "2025-06-15T15:06:40.000Z",
    },
    "a1": {"_v": 3, "type": 2, "bubbleId": "a1", "text": "", "thinking": {"text": "Check the token comparison."}},
    "a2": {
        "_v": 3,
        "type": 2,
        "bubbleId": "a2",
        "text": "",
        "capabilityType": 15,
        "toolFormerData": {
            "tool": 5,
            "name": "read_file",
            "toolCallId": "toolu_1",
            "rawArgs": '{"target_file": "src/login.ts"}',
            "result": '{"contents": "if (token != expected) allow();"}',
            "status": "completed",
        },
    },
    "a3": {
        "_v": 3,
        "type": 2,
        "bubbleId": "a3",
        "text": "The token check is inverted.",
        "tokenCount": {"inputTokens": 1200, "outputTokens": 80},
        "modelInfo": {"modelName": "claude-4-sonnet-thinking"},
        "codeBlocks": [{"content": "if (token === expected) allow();", "languageId": "typescript"}],
        "timingInfo": {"clientRpcSendTime": T0 + 5_000.5, "clientEndTime": T0 + 9_000.25},
    },
    "u2": {"_v": 3, "type": 1, "bubbleId": "u2", "text": "Fix it"},
    "a4": {
        "_v": 3,
        "type": 2,
        "bubbleId": "a4",
        "toolFormerData": {
            "name": "edit_file",
            "toolCallId": "toolu_2",
            "rawArgs": "not json {",
            "status": "error",
            "error": "file is read-only",
        },
    },
    "a5": {
        "_v": 3,
        "type": 2,
        "bubbleId": "a5",
        "toolFormerData": {
            "name": "run_terminal_cmd",
            "params": {"command": "npm test"},
            "status": "cancelled",
            "result": "",
        },
    },
    "hidden": {"_v": 3, "type": 2, "bubbleId": "hidden", "text": "not shown by Cursor"},
}
CHILD = {
    "_v": 10,
    "composerId": "c-child",
    "createdAt": T0 + 10_000,
    "lastUpdatedAt": T0 + 20_000,
    "fullConversationHeadersOnly": [{"bubbleId": "cu", "type": 1}, {"bubbleId": "ca", "type": 2}],
}
CHILD_BUBBLES = {
    "cu": {"type": 1, "bubbleId": "cu", "text": "Search for token checks"},
    "ca": {"type": 2, "bubbleId": "ca", "text": "Found two in src/auth."},
}
LEGACY = {  # bubble format 2: messages inline, tool data in the composer's capabilities
    "_v": 2,
    "composerId": "c-legacy",
    "createdAt": T0 - 86_400_000,
    "conversation": [
        {"type": 1, "bubbleId": "lu", "text": "List the files"},
        {"type": 2, "bubbleId": "lt", "text": ""},
        {"type": 2, "bubbleId": "la", "text": "Two files.", "modelType": "gpt-4o"},
    ],
    "capabilities": [
        {
            "type": 15,
            "data": {
                "bubbleDataMap": json.dumps(
                    {
                        "lt": {
                            "tool": 6,
                            "name": "list_dir",
                            "rawArgs": "{}",
                            "result": "a.py\nb.py",
                            "status": "completed",
                        }
                    }
                )
            },
        }
    ],
}
EMPTY = {
    "_v": 10,
    "composerId": "c-empty",
    "createdAt": T0,
    "fullConversationHeadersOnly": [],
    "conversationMap": {},
    "text": "",
}

LEGACY_TABS = {
    "tabs": [
        {
            "tabId": "tab-1",
            "chatTitle": "Regex help",
            "lastSendTime": T0 - 200_000_000,
            "bubbles": [
                {"type": "user", "id": "b1", "text": "How do I match digits?"},
                {"type": "ai", "id": "b2", "rawText": "Use \\d+.", "modelType": "gpt-4"},
            ],
        },
        {"tabId": "tab-2", "chatTitle": "", "bubbles": []},  # a tab opened and never used
    ]
}


def build_global(path: Path, *, wal: bool = True, extra: dict | None = None, checkpoint: bool = True) -> Path:
    """The global database: composers and their bubbles (plus rows a parser must pass over)."""
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    for sql in TABLES:
        conn.execute(sql)
    rows = {
        "composerData:c-modern": MODERN,
        "composerData:c-child": CHILD,
        "composerData:c-legacy": LEGACY,
        "composerData:c-empty": EMPTY,
        **{f"bubbleId:c-modern:{k}": v for k, v in MODERN_BUBBLES.items()},
        **{f"bubbleId:c-child:{k}": v for k, v in CHILD_BUBBLES.items()},
        "checkpointId:c-modern:x": {"files": []},
        "codeBlockDiff:c-modern:y": {"diff": "-a\n+b"},
        **(extra or {}),
    }
    conn.executemany("INSERT INTO cursorDiskKV VALUES (?, ?)", [(k, _value(v)) for k, v in rows.items()])
    conn.execute("INSERT INTO cursorDiskKV VALUES ('composerData:c-null', 'null')")
    conn.execute("INSERT INTO ItemTable VALUES ('composer.composerHeaders', '{\"allComposers\": []}')")
    conn.commit()
    if wal and checkpoint:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def _value(v) -> str | bytes:
    return v if isinstance(v, (str, bytes)) else json.dumps(v)


def build_workspace(path: Path) -> Path:
    """A workspace database (rollback journal): older aichat tabs, and the ids of its composers."""
    conn = sqlite3.connect(path)
    for sql in TABLES:
        conn.execute(sql)
    conn.execute("INSERT INTO ItemTable VALUES (?, ?)", (cursor_provider.LEGACY_CHAT_KEY, json.dumps(LEGACY_TABS)))
    conn.execute(
        "INSERT INTO ItemTable VALUES ('composer.composerData', ?)",
        (json.dumps({"allComposers": [{"composerId": "c-modern"}]}),),
    )
    conn.execute(
        'INSERT INTO ItemTable VALUES (\'aiService.prompts\', \'[{"text": "How do I match digits?", "commandType": 4}]\')'
    )
    conn.commit()
    conn.close()
    return path


def parse(path: Path):
    convs, ctx = parse_path(str(path))
    return {c.provider_id: c for c in convs}, ctx


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- hand-counted


def test_global_database(tmp_path):
    db = build_global(tmp_path / "state.vscdb")
    convs, ctx = parse(db)
    # c-empty (no messages) and c-null (a removed composer) are no conversations
    assert sorted(convs) == ["c-child", "c-legacy", "c-modern"]
    assert ctx.all_warnings() == []

    c = convs["c-modern"]
    assert c.provider == "cursor" and c.title == "Fix the login bug" and c.project == "/home/dev/shop"
    # 9 headers: "hidden" is not renderable, "gone" has no row -> 7 bubbles, all with content
    assert [x.id for x in c.messages] == ["u1", "a1", "a2", "a3", "u2", "a4", "a5"]
    assert [x.role for x in c.messages] == ["user"] + ["assistant"] * 3 + ["user"] + ["assistant"] * 2
    assert c.meta["bubbles_missing"] == 1 and c.meta["status"] == "completed"
    assert [x.parent_id for x in c.messages] == [None, "u1", "a1", "a2", "a3", "u2", "a4"]
    assert c.created_at.timestamp() * 1000 == T0 and c.updated_at.timestamp() * 1000 == T0 + 60_000
    assert c.messages[0].timestamp.isoformat() == "2025-06-15T15:06:40+00:00"
    assert c.messages[1].blocks[0].type == m.THINKING and c.messages[1].blocks[0].text == "Check the token comparison."
    (use, res) = c.messages[2].blocks
    assert (use.type, use.id, use.name, use.input) == (
        m.TOOL_USE,
        "toolu_1",
        "read_file",
        {"target_file": "src/login.ts"},
    )
    assert (res.type, res.id, res.text, res.meta["outcome"]) == (
        m.TOOL_RESULT,
        "toolu_1",
        "if (token != expected) allow();",
        "success",
    )
    a3 = c.messages[3]
    assert a3.text.startswith("The token check is inverted.") and "```typescript" in a3.text
    assert a3.usage == {"input": 1200, "output": 80} and a3.model == "claude-4-sonnet-thinking"
    assert a3.timestamp is not None and int(a3.timestamp.timestamp() * 1000) == T0 + 5000
    err = c.messages[5].blocks
    assert err[0].input == "not json {" and err[1].is_error is True and err[1].text == "file is read-only"
    assert c.messages[6].blocks[1].meta["outcome"] == "rejected"
    assert c.models == ["claude-4-sonnet-thinking"]
    assert len(c.tool_calls()) == 3 and all(r is not None for _, r in c.tool_calls())

    child = convs["c-child"]
    assert child.parent_id == "cursor:c-modern" and len(child.messages) == 2

    legacy = convs["c-legacy"]
    assert [x.role for x in legacy.messages] == ["user", "assistant", "assistant"]
    assert legacy.messages[1].blocks[0].name == "list_dir" and legacy.messages[1].blocks[1].text == "a.py\nb.py"
    assert legacy.messages[2].model == "gpt-4o"


def test_workspace_database_with_older_tabs(tmp_path):
    db = build_workspace(tmp_path / "state.vscdb")
    convs, ctx = parse(db)
    assert list(convs) == ["tab-1"] and ctx.all_warnings() == []
    tab = convs["tab-1"]
    assert tab.title == "Regex help" and [x.text for x in tab.messages] == ["How do I match digits?", "Use \\d+."]
    assert tab.messages[1].model == "gpt-4" and tab.meta["form"] == "aichat tab"


# ---------------------------------------------------------------- reading a live database safely


@pytest.mark.parametrize("wal", [False, True])
def test_never_written(tmp_path, wal):
    folder = tmp_path / "globalStorage"
    folder.mkdir()
    db = build_global(folder / "state.vscdb", wal=wal)
    before = digest(db)
    parse(db)
    assert digest(db) == before
    left = sorted(p.name for p in folder.iterdir())
    # a rollback-journal database is read from a snapshot: nothing appears beside it; reading a
    # WAL database in place is SQLite's own protocol, which may open its -wal and -shm files
    assert left == ["state.vscdb"] if not wal else set(left) <= {"state.vscdb", "state.vscdb-wal", "state.vscdb-shm"}


def test_rows_still_in_the_write_ahead_log_are_read(tmp_path):
    """Cursor's writes land in state.vscdb-wal first; the main file alone is stale."""
    db = build_global(tmp_path / "state.vscdb", checkpoint=False)
    writer = sqlite3.connect(db)  # a running Cursor: its connection keeps the log from being folded in
    writer.execute("PRAGMA wal_autocheckpoint=0")
    late = {**CHILD, "composerId": "c-late", "name": "written a moment ago"}
    writer.execute("INSERT INTO cursorDiskKV VALUES ('composerData:c-late', ?)", (json.dumps(late),))
    writer.executemany(
        "INSERT INTO cursorDiskKV VALUES (?, ?)",
        [(f"bubbleId:c-late:{k}", json.dumps(v)) for k, v in CHILD_BUBBLES.items()],
    )
    writer.commit()
    assert (tmp_path / "state.vscdb-wal").stat().st_size > 0
    convs, _ = parse(db)
    assert "c-late" in convs
    # the log file itself stands for its database: synced alone, it gives the same conversations
    ids = [o.uid for o in parse_input(_input(tmp_path / "state.vscdb-wal")) if not isinstance(o, FileOutcome)]
    assert "cursor:c-late" in ids and "cursor:c-modern" in ids
    writer.close()


def test_a_writer_in_the_middle_of_a_write_does_not_block_the_read(tmp_path):
    db = build_global(tmp_path / "state.vscdb", wal=False)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # Cursor holds the write lock
    writer.execute("INSERT INTO ItemTable VALUES ('x', 'y')")
    convs, _ = parse(db)
    assert "c-modern" in convs
    writer.execute("COMMIT")  # and its write goes through: the snapshot held no lock
    writer.close()


def test_a_database_in_a_zip_is_read_from_a_private_copy(tmp_path):
    db = build_global(tmp_path / "state.vscdb", wal=False)
    z = tmp_path / "backup.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(db, "Cursor/User/globalStorage/state.vscdb")
    items = list(parse_input(_input(z)))
    outcome = items[-1]
    assert outcome.status == "ok" and outcome.conversations == 3 and outcome.provider == "cursor"


def _input(path: Path) -> InputFile:
    st = path.stat()
    return InputFile(str(path), st.st_size, st.st_mtime_ns, True)


# ---------------------------------------------------------------- sync, re-sync, bad input


def test_sync_and_resync_skips_unchanged_composers(tmp_path):
    user = tmp_path / "Cursor" / "User"
    (user / "globalStorage").mkdir(parents=True)
    (user / "workspaceStorage" / "abc123").mkdir(parents=True)
    build_global(user / "globalStorage" / "state.vscdb")
    build_workspace(user / "workspaceStorage" / "abc123" / "state.vscdb")
    a = Archive(tmp_path / "h")
    report = a.sync([user])
    assert report.errors == [] and report.warnings == [] and report.conversations_new == 4
    assert a.search("wrenfallow").total_conversations == 1
    # the database changed (one composer touched): only that composer is converted again
    conn = sqlite3.connect(user / "globalStorage" / "state.vscdb")
    touched = {**CHILD, "lastUpdatedAt": T0 + 99_000}
    conn.execute("INSERT INTO cursorDiskKV VALUES ('composerData:c-child', ?)", (json.dumps(touched),))
    conn.commit()
    conn.close()
    again = a.sync([user])
    assert again.errors == [] and again.conversations_unchanged >= 2 and again.conversations_updated == 1


def test_default_location_finds_only_the_databases(tmp_path):
    """`polylogue sync` with no paths (the test's home is a fresh folder)."""
    root = Path.home() / ".config" / "Cursor" / "User"
    (root / "globalStorage").mkdir(parents=True)
    (root / "History" / "x").mkdir(parents=True)
    build_global(root / "globalStorage" / "state.vscdb")
    (root / "History" / "x" / "entries.json").write_text('{"version": 1, "resource": "file:///a"}')
    (root / "globalStorage" / "storage.json").write_text("{}")
    report = Archive(tmp_path / "h").sync()
    assert report.errors == [] and report.files_seen == 1 and report.conversations_new == 3


@pytest.mark.parametrize(
    "platform,where",
    [
        ("linux", ".config/Cursor/User"),
        ("darwin", "Library/Application Support/Cursor/User"),
        ("win32", "AppData/Roaming/Cursor/User"),
    ],
)
def test_default_locations_per_system(platform, where, tmp_path):
    found = dict(default_sources(tmp_path, platform=platform, environ={}, user=Path("/u")))
    assert found["cursor"] == Path("/u") / where


def test_bad_databases_fail_alone(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = build_global(folder / "good.vscdb", wal=False)
    data = good.read_bytes()
    (folder / "truncated.vscdb").write_bytes(data[: len(data) // 3])
    (folder / "garbage.vscdb").write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
    other = sqlite3.connect(folder / "notes.db")  # someone else's database: not Cursor's, skipped quietly
    other.execute("CREATE TABLE notes (t TEXT)")
    other.commit()
    other.close()
    build_global(folder / "badrow.vscdb", wal=False, extra={"composerData:c-broken": "{not json"})
    report = Archive(tmp_path / "h").sync([folder])
    failed = sorted(Path(e["path"]).name for e in report.errors)
    assert failed == ["badrow.vscdb", "garbage.vscdb", "truncated.vscdb"], report.errors
    assert all("\n" not in e["error"] for e in report.errors)
    assert [e["error"].split(":")[0] for e in report.errors if e["path"].endswith("badrow.vscdb")] == [
        "composer c-broken skipped"
    ]
    assert report.exit_code == 3 and report.conversations_new == 3  # good and badrow share ids


def test_invalid_utf8_in_a_row_costs_that_row(tmp_path):
    """A row holding invalid UTF-8 costs that row, never the database: a composer whose
    JSON it breaks is skipped with a warning; a text holding it is kept, its bytes
    replaced (one line for the file), as in a JSON file."""
    db = build_global(tmp_path / "state.vscdb", wal=False)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE cursorDiskKV SET value = CAST(x'7b22ff22' AS TEXT) WHERE key = 'composerData:c-child'")
    bad_text = json.dumps({**MODERN_BUBBLES["u1"], "text": "Why does login fail QQ?"}).encode()
    conn.execute(  # TEXT as Cursor writes it, and the same as a BLOB
        "UPDATE cursorDiskKV SET value = CAST(? AS TEXT) WHERE key = 'bubbleId:c-modern:u1'",
        (bad_text.replace(b"QQ", b"\xff\xfe"),),
    )
    conn.execute(
        "UPDATE cursorDiskKV SET value = ? WHERE key = 'bubbleId:c-modern:u2'",
        (json.dumps(MODERN_BUBBLES["u2"]).encode().replace(b"Fix it", b"Fix \xc3 it"),),
    )
    conn.execute(  # a BLOB whose invalid UTF-8 breaks its JSON too: that message only
        "UPDATE cursorDiskKV SET value = x'7b2274797065223a32ff' WHERE key = 'bubbleId:c-modern:a3'"
    )
    conn.commit()
    conn.close()
    convs, ctx = parse(db)
    assert sorted(convs) == ["c-legacy", "c-modern"] and ctx.bad_utf8
    assert [w.split(":")[0] for w in ctx.all_warnings()] == [
        "composer c-child skipped",
        "composer c-modern message a3 skipped",
    ]
    modern = convs["c-modern"]
    assert [x.id for x in modern.messages] == ["u1", "a1", "a2", "u2", "a4", "a5"]
    assert modern.messages[0].text == "Why does login fail \ufffd\ufffd?" and modern.messages[3].text == "Fix \ufffd it"
    assert modern.meta["bubbles_missing"] == 2  # "gone", and a3's unreadable row
    report = Archive(tmp_path / "h").sync([db])
    assert report.conversations_new == 2 and report.exit_code == 3
    assert sorted(e["error"].split(":")[0] for e in report.errors) == [
        "composer c-child skipped",
        "composer c-modern message a3 skipped",
        "invalid UTF-8 replaced with U+FFFD",
    ]


def test_a_named_database_of_another_tool_is_an_error(tmp_path):
    other = sqlite3.connect(tmp_path / "notes.db")
    other.execute("CREATE TABLE notes (t TEXT)")
    other.commit()
    other.close()
    report = Archive(tmp_path / "h").sync([tmp_path / "notes.db"])
    assert [e["error"] for e in report.errors] == ["not a recognised chat database (SQLite without a known schema)"]


def test_sniffer_needs_the_cursor_table():
    from polylogue.providers import Head

    assert cursor_provider.sniff(Head("sqlite", tables={"ItemTable": "", "cursorDiskKV": ""}))
    assert not cursor_provider.sniff(Head("sqlite", tables={"ItemTable": ""}))  # VS Code's own state
    assert not cursor_provider.sniff(Head("json", paths={"cursorDiskKV": "start_map"}))
    assert by_name("cursor").kind == "sqlite"


# ---------------------------------------------------------------- fuzz

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(mutated(MODERN), mutated(MODERN_BUBBLES["a2"]), mutated(LEGACY))
def test_fuzz_rows_cost_at_most_their_composer(tmp_path_factory, composer, bubble, legacy):
    d = tmp_path_factory.mktemp("fuzz")
    extra = {
        "composerData:c-modern": json.dumps(composer, default=str),
        "bubbleId:c-modern:a2": json.dumps(bubble, default=str),
        "composerData:c-legacy": json.dumps(legacy, default=str),
    }
    db = build_global(d / "state.vscdb", wal=False, extra=extra)
    try:
        convs, _ = parse(db)
    except ParseError:
        return
    assert "c-child" in convs  # an untouched composer always survives


@FUZZ
@given(st.binary(max_size=3000), st.integers(0, 20000))
def test_fuzz_damaged_files_raise_only_parse_error(tmp_path_factory, junk, cut):
    d = tmp_path_factory.mktemp("fuzz")
    good = build_global(d / "good.vscdb", wal=False).read_bytes()
    cut = cut % len(good)
    bad = d / "bad.vscdb"
    bad.write_bytes(good[:cut] + junk + good[cut + len(junk) :])
    try:
        parse(bad)
    except ParseError:
        pass


def test_tmp_copies_are_removed(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    db = build_global(tmp_path / "state.vscdb", wal=False)  # rollback journal: read from a snapshot
    parse(db)
    assert list(scratch.iterdir()) == []
    shutil.rmtree(scratch)


def test_the_committed_fixture_is_this_modules_database(tmp_path):
    """tests/fixtures/cursor/state.vscdb (what the shared bad-input corpus damages) is
    ``build_global(wal=False)``, vacuumed: the two give the same conversations."""
    from conftest import REPO

    committed, _ = parse(REPO / "tests" / "fixtures" / "cursor" / "state.vscdb")
    fresh, _ = parse(build_global(tmp_path / "state.vscdb", wal=False))
    assert {k: [x.id for x in c.messages] for k, c in committed.items()} == {
        k: [x.id for x in c.messages] for k, c in fresh.items()
    }
