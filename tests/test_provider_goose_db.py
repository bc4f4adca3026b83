"""Goose sessions in ``sessions.db`` (docs/providers.md, "goose-db").

No public sample database exists; ``build`` writes one to block/goose's schema
(crates/goose/src/session/: session_manager.rs's CREATE statements and
migrations.rs, schema v13): ``schema_version``, ``sessions``, ``messages`` and
the v10 ``threads`` tables. tests/fixtures/goose/sessions.db is ``build``'s
database, committed so the bad-input corpus reaches this parser (its journal set
back to rollback mode, so reading it in place leaves no ``-wal`` file beside it). Its sessions,
counted by hand from the rows below:

- ``20250305_143012``: the legacy file tests/fixtures/goose/20250305_143012.jsonl
  as Goose 1.10 imports it (the same 8 messages under new message ids, all
  inserted in one second: their order is their row order);
- ``20251020_1``: a newer session (model config, a required action, a system
  notification the agent does not see), 6 messages;
- ``20251020_2``: started and never used (hidden, no messages): no conversation;
- ``20251021_1``: a scheduled run, 2 messages.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import REPO
from hypothesis import HealthCheck, given, settings
from out_of_range import mutated

from polylogue import models as m
from polylogue.api import Archive
from polylogue.classify import classify
from polylogue.errors import ParseError
from polylogue.providers import Head, by_name, goose_db, parse_path

FIXTURES = REPO / "tests" / "fixtures" / "goose"
LEGACY = FIXTURES / "20250305_143012.jsonl"

SESSIONS_V13 = """CREATE TABLE sessions (
    id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
    user_set_name BOOLEAN DEFAULT FALSE, session_type TEXT NOT NULL DEFAULT 'user', working_dir TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    extension_data TEXT DEFAULT '{}', total_tokens INTEGER, input_tokens INTEGER, output_tokens INTEGER,
    accumulated_total_tokens INTEGER, accumulated_input_tokens INTEGER, accumulated_output_tokens INTEGER,
    schedule_id TEXT, recipe_json TEXT, user_recipe_values_json TEXT, provider_name TEXT, model_config_json TEXT,
    goose_mode TEXT NOT NULL DEFAULT 'auto', thread_id TEXT, archived_at TIMESTAMP, project_id TEXT,
    accumulated_cost REAL)"""
MESSAGES_V13 = """CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT, session_id TEXT NOT NULL REFERENCES sessions(id),
    role TEXT NOT NULL, content_json TEXT NOT NULL, created_timestamp INTEGER NOT NULL,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, tokens INTEGER, metadata_json TEXT)"""
OTHER_V13 = (
    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "CREATE INDEX idx_messages_session ON messages(session_id)",
    "CREATE INDEX idx_messages_timestamp ON messages(timestamp)",
    "CREATE INDEX idx_sessions_updated ON sessions(updated_at DESC)",
    "CREATE TABLE threads (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT 'New Chat', user_set_name BOOLEAN"
    " DEFAULT FALSE, working_dir TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP"
    " DEFAULT CURRENT_TIMESTAMP, archived_at TIMESTAMP, metadata_json TEXT DEFAULT '{}')",
    "CREATE TABLE thread_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL REFERENCES"
    " threads(id), session_id TEXT, message_id TEXT, role TEXT NOT NULL, content_json TEXT NOT NULL,"
    " created_timestamp INTEGER NOT NULL, metadata_json TEXT DEFAULT '{}')",
)
VISIBLE = {"userVisible": True, "agentVisible": True}
MODEL = {
    "model_name": "gpt-4.1",
    "context_limit": 1000000,
    "temperature": None,
    "max_tokens": None,
    "toolshim": False,
    "toolshim_model": None,
}


def _legacy_messages() -> list[tuple]:
    """The legacy file's messages as Goose imports them: (message id, role, content, created, inserted)."""
    lines = [json.loads(x) for x in LEGACY.read_text().splitlines()][1:]
    return [
        (f"msg_20250305_143012_{i:08x}", r["role"], r["content"], r["created"], "2025-10-20 09:00:00")
        for i, r in enumerate(lines)
    ]


def text(s: str) -> dict:
    return {"type": "text", "text": s}


NEW = [
    ("msg_a1", "user", [text("Summarise README.md in three bullet points.")], 1760970612, "2025-10-20 14:30:12"),
    (
        "msg_a2",
        "assistant",
        [
            {
                "type": "toolRequest",
                "id": "call_1",
                "toolCall": {
                    "status": "success",
                    "value": {"name": "developer__text_editor", "arguments": {"command": "view", "path": "README.md"}},
                },
                "thoughtSignature": "sig",
            }
        ],
        1760970614,
        "2025-10-20 14:30:14",
    ),
    (
        "msg_a3",
        "user",
        [
            {
                "type": "toolResponse",
                "id": "call_1",
                "toolResult": {
                    "status": "success",
                    "value": {"content": [text("# ledger\nA tiny ledger. Parses amounts. MIT.")], "isError": False},
                },
            }
        ],
        1760970615,
        "2025-10-20 14:30:15",
    ),
    (
        "msg_a4",
        "assistant",
        [
            text("I need to count its lines first."),
            {
                "type": "actionRequired",
                "data": {
                    "actionType": "toolConfirmation",
                    "id": "call_2",
                    "toolName": "developer__shell",
                    "arguments": {"command": "wc -l README.md"},
                    "prompt": "Allow?",
                },
            },
        ],
        1760970620,
        "2025-10-20 14:30:20",
    ),
    (
        "msg_a5",
        "assistant",
        [{"type": "systemNotification", "notificationType": "inlineMessage", "msg": "Compacting the conversation."}],
        1760970690,
        "2025-10-20 14:31:30",
    ),
    (
        "msg_a6",
        "assistant",
        [text("- A tiny ledger\n- Parses amounts\n- MIT licensed")],
        1760970700,
        "2025-10-20 14:31:40",
    ),
]
SCHEDULED = [
    ("msg_b1", "user", [text("Post the daily digest.")], 1761030000, "2025-10-21 07:00:00"),
    ("msg_b2", "assistant", [text("Digest posted.")], 1761030004, "2025-10-21 07:00:04"),
]
# (id, name, session_type, working_dir, created_at, updated_at, accumulated in/out/total, schedule, provider, model)
SESSIONS = [
    (
        "20250305_143012",
        "Fix failing parser test",
        "user",
        "/home/dev/projects/ledger",
        "2025-03-05T14:30:12+00:00",
        "2025-03-05T14:30:40+00:00",  # the file's last write, after its last message: this copy is the newer
        (11200, 1250, 12450),
        None,
        None,
        None,
    ),
    (
        "20251020_1",
        "README summary",
        "user",
        "/home/dev/projects/ledger",
        "2025-10-20T14:30:12.123456789+00:00",
        "2025-10-20 14:31:40",
        (3000, 200, 3200),
        None,
        "openai",
        MODEL,
    ),
    (
        "20251020_2",
        "",
        "hidden",
        "/home/dev",
        "2025-10-20 15:00:00",
        "2025-10-20 15:00:00",
        (None,) * 3,
        None,
        None,
        None,
    ),
    (
        "20251021_1",
        "Daily digest",
        "scheduled",
        "/home/dev",
        "2025-10-21 07:00:00",
        "2025-10-21 07:00:04",
        (40, 8, 48),
        "daily-digest",
        "openai",
        MODEL,
    ),
]
MESSAGES = {"20250305_143012": _legacy_messages(), "20251020_1": NEW, "20251021_1": SCHEDULED}


def build(path: Path, *, version: int = 13, extra: list[tuple] | tuple = ()) -> Path:
    """The database Goose writes, with ``extra`` (session, message id, role, content_json text, created) rows."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    for sql in (SESSIONS_V13, MESSAGES_V13, *OTHER_V13):
        conn.execute(sql)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    for sid, name, kind, wd, created, updated, (ai, ao, at), schedule, provider, model in SESSIONS:
        conn.execute(
            "INSERT INTO sessions (id, name, session_type, working_dir, created_at, updated_at,"
            " accumulated_input_tokens, accumulated_output_tokens, accumulated_total_tokens, schedule_id,"
            " provider_name, model_config_json, accumulated_cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, name, kind, wd, created, updated, ai, ao, at, schedule, provider, model and json.dumps(model), None),
        )
        for mid, role, content, ts, inserted in MESSAGES.get(sid, []):
            meta = {"userVisible": True, "agentVisible": False} if mid == "msg_a5" else VISIBLE  # shown, not sent
            conn.execute(
                "INSERT INTO messages (message_id, session_id, role, content_json, created_timestamp, timestamp,"
                " metadata_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (mid, sid, role, json.dumps(content), ts, inserted, json.dumps(meta)),
            )
    for sid, mid, role, content, ts in extra:
        conn.execute(
            "INSERT INTO messages (message_id, session_id, role, content_json, created_timestamp, timestamp)"
            " VALUES (?, ?, ?, ?, ?, '2025-10-21 07:00:09')",
            (mid, sid, role, content, ts),
        )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def convs_of(path: Path):
    convs, ctx = parse_path(str(path))
    return {c.provider_id: c for c in convs}, ctx


# ---------------------------------------------------------------- the database, counted by hand


def test_sessions_hand_counted(tmp_path):
    convs, ctx = convs_of(build(tmp_path / "sessions.db"))
    assert ctx.all_warnings() == [] and ctx.notes == []
    assert sorted(convs) == ["20250305_143012", "20251020_1", "20251021_1"]  # the unused session gives none
    assert [len(convs[k].messages) for k in sorted(convs)] == [8, 6, 2]
    assert all(c.provider == "goose" for c in convs.values())

    new = convs["20251020_1"]
    assert (new.title, new.project, new.models) == ("README summary", "/home/dev/projects/ledger", ["gpt-4.1"])
    assert [x.id for x in new.messages] == [f"msg_a{i}" for i in range(1, 7)]
    assert [classify(x) for x in new.messages] == ["prompt", "tool_call", "tool_result", "reply", "context", "reply"]
    ((use, result),) = new.tool_calls()
    assert (use.name, use.input, result.text, result.meta["outcome"]) == (
        "developer__text_editor",
        {"command": "view", "path": "README.md"},
        "# ledger\nA tiny ledger. Parses amounts. MIT.",
        "success",
    )
    asked = new.messages[3]
    assert asked.text == "I need to count its lines first."
    assert asked.meta["actions_required"][0]["toolName"] == "developer__shell"
    notice = new.messages[4]
    assert notice.context and notice.meta == {"kind": "systemNotification", "agentVisible": False}
    assert notice.text == "Compacting the conversation."
    last = new.messages[-1]
    assert last.usage is None and new.meta["usage"] == {"input": 3000, "output": 200}  # a session total
    assert new.meta["provider_name"] == "openai" and new.meta["session_type"] == "user"
    assert new.meta["model_config"]["context_limit"] == 1000000 and new.meta["schema_version"] == 13
    assert (
        str(new.created_at) == "2025-10-20 14:30:12.123456+00:00" and str(new.updated_at) == "2025-10-20 14:31:40+00:00"
    )

    digest = convs["20251021_1"]
    assert digest.meta["schedule_id"] == "daily-digest" and digest.meta["session_type"] == "scheduled"
    assert [x.text for x in digest.messages] == ["Post the daily digest.", "Digest posted."]


def test_a_session_imported_from_a_legacy_file_is_the_same_conversation(tmp_path):
    """Goose 1.10 copies its legacy files into the database under the same session ids:
    the archive gets one conversation, with the same messages whichever it read."""
    convs, _ = convs_of(build(tmp_path / "sessions.db"))
    db = convs["20250305_143012"]
    (legacy,), _ = parse_path(str(LEGACY))
    assert (db.provider, db.provider_id) == (legacy.provider, legacy.provider_id)
    assert (db.title, db.project) == (legacy.title, legacy.project)
    assert [(x.role, x.text, x.timestamp) for x in db.messages] == [
        (x.role, x.text, x.timestamp) for x in legacy.messages
    ]
    assert [(u.name, u.input, r.text, r.is_error) for u, r in db.tool_calls()] == [
        (u.name, u.input, r.text, r.is_error) for u, r in legacy.tool_calls()
    ]
    assert [b.text for b in db.thinking()] == [b.text for b in legacy.thinking()]
    assert db.meta["usage"] == legacy.meta["usage"] == {"input": 11200, "output": 1250}
    assert db.messages[0].id == "msg_20250305_143012_00000000"


def test_an_older_schema_reads_the_same(tmp_path):
    """Schema v5 (Goose 1.10): no message ids yet, no model columns; the title in ``description``."""
    path = tmp_path / "sessions.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
        INSERT INTO schema_version (version) VALUES (5);
        CREATE TABLE sessions (id TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', working_dir TEXT NOT NULL,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
            extension_data TEXT DEFAULT '{}', total_tokens INTEGER, input_tokens INTEGER, output_tokens INTEGER,
            accumulated_total_tokens INTEGER, accumulated_input_tokens INTEGER, accumulated_output_tokens INTEGER,
            schedule_id TEXT, recipe_json TEXT);
        CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, role TEXT NOT NULL,
            content_json TEXT NOT NULL, created_timestamp INTEGER NOT NULL,
            timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, tokens INTEGER);
        INSERT INTO sessions (id, description, working_dir, created_at, updated_at, recipe_json)
            VALUES ('20251001_3', 'Old one', '/w', '2025-10-01 10:00:00', '2025-10-01 10:00:05',
                    '{"title": "Triage", "description": "Triage issues", "instructions": "long"}');
        """
    )
    conn.executemany(
        "INSERT INTO messages (session_id, role, content_json, created_timestamp) VALUES ('20251001_3', ?, ?, ?)",
        [("user", json.dumps([text("hi")]), 1759312800), ("assistant", json.dumps([text("hello")]), 1759312805)],
    )
    conn.commit()
    conn.close()
    convs, ctx = convs_of(path)
    c = convs["20251001_3"]
    assert ctx.all_warnings() == [] and c.title == "Old one" and c.models == []
    assert [x.id for x in c.messages] == ["msg_20251001_3_1", "msg_20251001_3_2"]  # as Goose's migration 7 names them
    assert c.meta["recipe"] == {"title": "Triage", "description": "Triage issues"} and c.meta["schema_version"] == 5


def test_sniffer_judges_the_schema():
    tables = {"sessions": SESSIONS_V13, "messages": MESSAGES_V13}
    assert goose_db.sniff(Head("sqlite", tables=tables))
    assert not goose_db.sniff(Head("sqlite", tables={**tables, "messages": "CREATE TABLE messages (id, text)"}))
    assert not goose_db.sniff(Head("sqlite", tables={"sessions": "CREATE TABLE sessions (id, data)"}))
    assert by_name("goose-db").kind == "sqlite" and not by_name("goose-db").own_conversations


# ---------------------------------------------------------------- versions and bad input


def test_a_newer_schema_and_unknown_content_warn_once(tmp_path):
    unknown = json.dumps([{"type": "reasoningSummary", "x": 1}, text("GOOD-TWO")])
    extra = [("20251021_1", "msg_b3", "assistant", unknown, 1761030009)] * 3
    convs, ctx = convs_of(build(tmp_path / "sessions.db", version=14, extra=extra))
    assert [b.type for b in convs["20251021_1"].messages[-1].blocks] == [m.OPAQUE, m.TEXT]
    assert sorted(w.reason for w in ctx.warnings) == [
        "Goose sessions database of schema v14 (known here: up to v13): read what could be",
        "Goose sessions of an unknown version: 3 'reasoningSummary' kept as opaque blocks",
    ]


def test_a_bad_message_costs_only_itself(tmp_path):
    extra = [
        ("20251021_1", "msg_b3", "assistant", "{not json", 1761030009),
        ("20251021_1", "msg_b4", "assistant", json.dumps({"type": "text"}), 1761030010),
        ("20251021_1", "msg_b5", "assistant", json.dumps([text("GOOD-THREE")]), 1761030011),
    ]
    convs, ctx = convs_of(build(tmp_path / "sessions.db", extra=extra))
    assert [x.id for x in convs["20251021_1"].messages] == ["msg_b1", "msg_b2", "msg_b5"]
    assert [w.reason for w in ctx.warnings] == [
        "session 20251021_1 message msg_b3 skipped: ValueError: content_json is not a JSON list (str)",
        "session 20251021_1 message msg_b4 skipped: ValueError: content_json is not a JSON list (dict)",
    ]


# ---------------------------------------------------------------- where it is found


def test_found_in_gooses_folder_beside_the_legacy_files(tmp_path):
    sessions = Path.home() / ".local" / "share" / "goose" / "sessions"
    sessions.mkdir(parents=True)
    build(sessions / "sessions.db")
    (sessions / LEGACY.name).write_bytes(LEGACY.read_bytes())
    a = Archive(tmp_path / "h")
    report = a.sync()
    assert report.errors == []
    rows = a.sql("SELECT provider, provider_id, message_count FROM conversations ORDER BY provider_id")[1]
    assert rows == [("goose", "20250305_143012", 8), ("goose", "20251020_1", 6), ("goose", "20251021_1", 2)]
    # the two copies of the imported session: the database's, written after the file's last message, is kept
    assert a.conversation("goose:20250305_143012").meta["session_type"] == "user"
    assert a.sync().conversations_new == 0


# ---------------------------------------------------------------- fuzzing

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(mutated(NEW[3][2]), mutated(NEW[2][2]))
def test_fuzz_rows(tmp_path_factory, asked, answered):
    d = tmp_path_factory.mktemp("fuzz")
    extra = [
        ("20251020_1", "msg_x1", "assistant", json.dumps(asked, default=str), 1760970701),
        ("20251020_1", "msg_x2", "user", json.dumps(answered, default=str), 1760970702),
    ]
    try:
        convs, _ = convs_of(build(d / "sessions.db", extra=extra))
    except ParseError:
        return
    assert [x.text for x in convs["20251021_1"].messages] == ["Post the daily digest.", "Digest posted."]


def test_the_committed_fixture_is_this_modules_database(tmp_path):
    """tests/fixtures/goose/sessions.db (what the shared bad-input corpus damages) is ``build``'s database."""
    committed, _ = convs_of(FIXTURES / "sessions.db")
    fresh, _ = convs_of(build(tmp_path / "sessions.db"))
    assert {k: [x.id for x in c.messages] for k, c in committed.items()} == {
        k: [x.id for x in c.messages] for k, c in fresh.items()
    }
