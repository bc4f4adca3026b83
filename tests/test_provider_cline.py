"""Cline and Roo Code tasks (docs/providers.md, "cline"): a conversation
assembled from the files of a task folder.

The shared Cline sample is a hand-made stub that is not Cline's schema, so the
task folders below are written here to the real schema (the shared formats
reference, section 6): a classic Cline task (XML tool calls, results sent back
as user text blocks), a Roo Code task with native tool_use/tool_result blocks
and ``history_item.json``, and a task that kept only its panel messages.
Expected counts are counted by hand from these records.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from conftest import sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import mutated

from polylogue import models as m
from polylogue.api import Archive
from polylogue.classify import classify
from polylogue.errors import ParseError
from polylogue.providers import by_name, cline, detect, is_side_file, parse_path, read_head
from polylogue.sources import default_sources

T = 1_700_000_000_000
ENV = {"type": "text", "text": "<environment_details>\n# VSCode Visible Files\nsrc/app.ts\n</environment_details>"}


def _req(ts, tokens_in, tokens_out, cost):
    info = {
        "request": "...",
        "tokensIn": tokens_in,
        "tokensOut": tokens_out,
        "cacheWrites": 50,
        "cacheReads": 10,
        "cost": cost,
    }
    return {"ts": ts, "type": "say", "say": "api_req_started", "text": json.dumps(info)}


def txt(s):
    return {"type": "text", "text": s}


CLASSIC_API = [
    {"role": "user", "content": [txt("<task>\nAdd a health check endpoint\n</task>"), ENV]},
    {
        "role": "assistant",
        "content": [
            txt(
                "<thinking>\nI should read app.ts first.\n</thinking>\n\n<read_file>\n<path>src/app.ts</path>\n</read_file>"
            )
        ],
    },
    {
        "role": "user",
        "content": [
            txt("[read_file for 'src/app.ts'] Result:"),
            txt("import express from 'express';\nconst app = express();"),
            ENV,
        ],
    },
    {
        "role": "assistant",
        "content": [
            txt(
                "I'll add the route.\n\n<replace_in_file>\n<path>src/app.ts</path>\n<diff>\n------- SEARCH\nconst app = express();\n=======\nconst app = express();\napp.get('/health', ok);\n+++++++ REPLACE\n</diff>\n</replace_in_file>"
            )
        ],
    },
    {
        "role": "user",
        "content": [
            txt("[replace_in_file for 'src/app.ts'] Result:"),
            txt(
                "The user denied this operation and provided the following feedback:\n<feedback>\nuse /healthz instead\n</feedback>"
            ),
            ENV,
        ],
    },
    {
        "role": "assistant",
        "content": [
            txt(
                "<execute_command>\n<command>npm test</command>\n<requires_approval>false</requires_approval>\n</execute_command>"
            )
        ],
    },
    {
        "role": "user",
        "content": [txt("[execute_command for 'npm test'] Result:\nCommand executed.\nOutput:\n3 passing"), ENV],
    },
    {
        "role": "assistant",
        "content": [txt("<attempt_completion>\n<result>\nAdded /healthz.\n</result>\n</attempt_completion>")],
    },
    {
        "role": "user",
        "content": [
            txt("[attempt_completion] Result:"),
            txt(
                "The user has provided feedback on the results. Consider their input to continue the task, and then attempt completion again.\n<feedback>\nthanks marlinquay\n</feedback>"
            ),
            ENV,
        ],
    },
    {"role": "assistant", "content": [txt("You're welcome!")]},
]
CLASSIC_UI = [
    {"ts": T, "type": "say", "say": "task", "text": "Add a health check endpoint"},
    _req(T + 1000, 100, 20, 0.01),
    {"ts": T + 2000, "type": "say", "say": "text", "text": "I should read app.ts first.", "partial": False},
    {"ts": T + 2500, "type": "ask", "ask": "tool", "text": json.dumps({"tool": "readFile", "path": "src/app.ts"})},
    _req(T + 3000, 200, 40, 0.02),
    {"ts": T + 4000, "type": "say", "say": "text", "text": "I'll add the route."},
    {
        "ts": T + 4500,
        "type": "ask",
        "ask": "tool",
        "text": json.dumps({"tool": "editedExistingFile", "path": "src/app.ts"}),
    },
    _req(T + 6000, 300, 10, 0.03),
    {"ts": T + 7000, "type": "ask", "ask": "command", "text": "npm test"},
    {"ts": T + 8000, "type": "say", "say": "command_output", "text": "3 passing"},
    _req(T + 9000, 400, 15, 0.04),
    {"ts": T + 10000, "type": "say", "say": "completion_result", "text": "Added /healthz."},
    {"ts": T + 10500, "type": "ask", "ask": "completion_result", "text": ""},
    {"ts": T + 11000, "type": "say", "say": "user_feedback", "text": "thanks marlinquay"},
    _req(T + 12000, 500, 5, 0.05),
    {"ts": T + 13000, "type": "say", "say": "text", "text": "You're welcome!"},
]
CLASSIC_META = {
    "files_in_context": [
        {"path": "src/app.ts", "record_state": "active", "record_source": "read_tool", "cline_read_date": T + 2600}
    ],
    "model_usage": [
        {"ts": T + 500, "model_id": "claude-sonnet-4-20250514", "model_provider_id": "anthropic", "mode": "act"}
    ],
    "environment_history": [],
}

ROO_ID = "0198a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"
ROO_API = [
    {"role": "user", "content": [txt("<task>\nfix the typo\n</task>"), ENV], "ts": T},
    {
        "role": "assistant",
        "content": [
            txt("Reading."),
            {"type": "tool_use", "id": "toolu_a", "name": "read_file", "input": {"path": "README.md"}},
        ],
        "ts": T + 2000,
    },
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": [txt("Helo world")]}, ENV],
        "ts": T + 3000,
    },
    {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_b",
                "name": "apply_diff",
                "input": {"path": "README.md", "diff": "-Helo\n+Hello"},
            }
        ],
        "ts": T + 4000,
    },
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_b", "content": "ok"}], "ts": T + 5000},
    {"role": "assistant", "content": [txt("Fixed.")], "ts": T + 6000},
]
ROO_UI = [
    {"ts": T, "type": "say", "say": "text", "text": "fix the typo"},
    _req(T + 1000, 10, 5, 0.001),
    _req(T + 3500, 20, 5, 0.002),
    _req(T + 5500, 30, 5, 0.003),
]
ROO_ITEM = {
    "id": ROO_ID,
    "number": 3,
    "ts": T,
    "task": "fix the typo",
    "tokensIn": 60,
    "tokensOut": 15,
    "cacheWrites": 150,
    "cacheReads": 30,
    "totalCost": 0.006,
    "workspace": "/home/dev/site",
    "mode": "code",
    "parentTaskId": "0198parent-task",
}

UI_ONLY = [
    {"ts": T, "type": "say", "say": "task", "text": "count the lines"},
    _req(T + 1000, 10, 5, 0.001),
    {"ts": T + 2000, "type": "say", "say": "text", "text": "I'll run wc."},
    {"ts": T + 3000, "type": "ask", "ask": "command", "text": "wc -l *.py"},
    {"ts": T + 4000, "type": "say", "say": "command_output", "text": "42 total"},
    {"ts": T + 5000, "type": "say", "say": "text", "text": "partial...", "partial": True},
    {"ts": T + 6000, "type": "say", "say": "completion_result", "text": "42 lines."},
]


def write_task(root: Path, ext: str, task_id: str, files: dict[str, object], compact: bool = True) -> Path:
    folder = root / ext / "tasks" / task_id
    folder.mkdir(parents=True)
    for name, doc in files.items():
        (folder / name).write_text(json.dumps(doc, indent=None if compact else 2))
    return folder


def storage(tmp_path: Path) -> Path:
    """A VS Code globalStorage folder with one task of each kind."""
    gs = tmp_path / "globalStorage"
    write_task(
        gs,
        "saoudrizwan.claude-dev",
        str(T),
        {cline.API: CLASSIC_API, cline.UI: CLASSIC_UI, cline.METADATA: CLASSIC_META},
    )
    write_task(
        gs, "rooveterinaryinc.roo-cline", ROO_ID, {cline.API: ROO_API, cline.UI: ROO_UI, cline.HISTORY_ITEM: ROO_ITEM}
    )
    write_task(gs, "saoudrizwan.claude-dev", str(T + 99_999), {cline.UI: UI_ONLY})
    return gs


def one(path: Path, provider: str | None = None) -> m.Conversation:
    convs, ctx = parse_path(str(path), provider)
    assert len(convs) == 1 and ctx.all_warnings() == [], ctx.all_warnings()
    return convs[0]


# ---------------------------------------------------------------- hand-counted


def test_classic_task(tmp_path):
    folder = write_task(
        tmp_path,
        "saoudrizwan.claude-dev",
        str(T),
        {cline.API: CLASSIC_API, cline.UI: CLASSIC_UI, cline.METADATA: CLASSIC_META},
    )
    c = one(folder / cline.UI)
    assert (c.provider, c.provider_id, c.meta["tool"], c.meta["id_from"]) == ("cline", str(T), "cline", "folder name")
    # 10 API messages; user turns split into their parts (prompt / results / injected context), and the
    # words typed inside two results (feedback on a denial, feedback on the completion) as prompts of their own
    assert [x.id for x in c.messages] == [
        "0",
        "0.1",
        "1",
        "2",
        "2.1",
        "3",
        "4",
        "4#said0",
        "4.1",
        "5",
        "6",
        "6.1",
        "7",
        "8",
        "8#said0",
        "8.1",
        "9",
    ]
    assert [classify(x) for x in c.messages] == [
        "prompt", "context", "tool_call", "tool_result", "context", "reply", "tool_result", "prompt", "context",
        "tool_call", "tool_result", "context", "tool_call", "tool_result", "prompt", "context", "reply",
    ]  # fmt: skip
    prompts = [x.text for x in c.messages if classify(x) == "prompt"]
    assert prompts == ["Add a health check endpoint", "use /healthz instead", "thanks marlinquay"]
    assert c.title == "Add a health check endpoint"
    # XML tool calls with their parameters; results paired by order, never prompts
    calls = c.tool_calls()
    assert [(u.name, r is not None) for u, r in calls] == [
        ("read_file", True), ("replace_in_file", True), ("execute_command", True), ("attempt_completion", True)
    ]  # fmt: skip
    assert calls[0][0].input == {"path": "src/app.ts"} and calls[0][1].text.startswith("import express")
    assert calls[1][1].is_error is True and calls[1][1].meta["outcome"] == "rejected"
    assert calls[2][1].text == "Command executed.\nOutput:\n3 passing"
    assert c.messages[2].blocks[0].type == m.THINKING and c.messages[2].blocks[0].text == "I should read app.ts first."
    # the k-th model request is the k-th reply: usage, cost and time
    replies = [x for x in c.messages if x.role == m.ASSISTANT]
    assert [x.usage["input"] for x in replies] == [100, 200, 300, 400, 500]
    assert replies[0].usage == {
        "input": 100,
        "output": 20,
        "cache_read": 10,
        "cache_write": 50,
        "convention": "anthropic",
    }
    assert replies[0].meta["cost_usd"] == 0.01 and int(replies[0].timestamp.timestamp() * 1000) == T + 2000
    assert int(c.messages[3].timestamp.timestamp() * 1000) == T + 3000  # a result: the time of the request that sent it
    assert {x.model for x in replies} == {"claude-sonnet-4-20250514"} and c.models == ["claude-sonnet-4-20250514"]
    assert int(c.created_at.timestamp() * 1000) == T and int(c.updated_at.timestamp() * 1000) == T + 13000
    assert c.meta["files_in_context"] == ["src/app.ts"]


def test_every_file_of_a_task_gives_the_same_conversation(tmp_path):
    folder = write_task(
        tmp_path,
        "saoudrizwan.claude-dev",
        str(T),
        {cline.API: CLASSIC_API, cline.UI: CLASSIC_UI, cline.METADATA: CLASSIC_META},
    )
    convs = [one(folder / name, "cline") for name in (cline.API, cline.UI, cline.METADATA)]
    from polylogue.store.encode import encode

    assert len({encode(c).uid for c in convs}) == 1
    assert len({encode(c).hash for c in convs}) == 1  # the same content, whichever file was read


def test_roo_code_task_with_native_tools(tmp_path):
    folder = write_task(
        tmp_path,
        "rooveterinaryinc.roo-cline",
        ROO_ID,
        {cline.API: ROO_API, cline.UI: ROO_UI, cline.HISTORY_ITEM: ROO_ITEM},
    )
    c = one(folder / cline.HISTORY_ITEM)
    assert (c.provider_id, c.meta["tool"], c.project, c.parent_id) == (
        ROO_ID,
        "roo-code",
        "/home/dev/site",
        "cline:0198parent-task",
    )
    assert [x.id for x in c.messages] == ["0", "0.1", "1", "2", "2.1", "3", "4", "5"]
    assert [(u.id, r.text) for u, r in c.tool_calls()] == [("toolu_a", "Helo world"), ("toolu_b", "ok")]
    assert int(c.messages[2].timestamp.timestamp() * 1000) == T + 2000  # Roo's own ts wins
    assert [x.usage["input"] for x in c.messages if x.role == m.ASSISTANT] == [10, 20, 30]
    assert c.meta["mode"] == "code" and c.meta["totalCost"] == 0.006 and c.title == "fix the typo"


def test_task_with_panel_messages_only(tmp_path):
    folder = write_task(tmp_path, "saoudrizwan.claude-dev", str(T + 99_999), {cline.UI: UI_ONLY})
    c = one(folder / cline.UI)
    assert c.meta["from"] == "ui_messages"
    assert [(x.role, classify(x)) for x in c.messages] == [
        ("user", "prompt"), ("assistant", "reply"), ("assistant", "tool_call"), ("user", "tool_result"), ("assistant", "reply")
    ]  # fmt: skip
    (use, res) = c.tool_calls()[0]
    assert (use.name, use.input, res.text) == ("execute_command", "wc -l *.py", "42 total")
    assert c.messages[1].usage["input"] == 10


def test_sniffing_by_content(tmp_path):
    gs = storage(tmp_path)
    task = gs / "saoudrizwan.claude-dev" / "tasks" / str(T)
    for name in (cline.UI, cline.METADATA):
        assert detect(read_head((task / name).read_bytes())) is by_name("cline")
    # a classic API history is every chat API's bare shape: a side file, read with its task
    head = read_head((task / cline.API).read_bytes())
    assert detect(head) is None and is_side_file(head)
    roo = gs / "rooveterinaryinc.roo-cline" / "tasks" / ROO_ID
    assert detect(read_head((roo / cline.API).read_bytes())) is by_name("cline")  # Roo's "ts" marks it
    assert detect(read_head((roo / cline.HISTORY_ITEM).read_bytes())) is by_name("cline")
    ctx_history = [[0, ["edit", [[0, [[T, "read_tool", [], {}]]]]]]]
    assert is_side_file(read_head(json.dumps(ctx_history).encode()))


@pytest.mark.parametrize("path", sample_files("other/cline"), ids=lambda p: p.name)
def test_shared_stub_is_not_claimed(path):
    """The shared sample is a hand-made stub, not Cline's schema: not taken for a task."""
    head = read_head(path.read_bytes())
    assert detect(head) is None


# ---------------------------------------------------------------- sync: the unit and its change detection


def test_sync_a_storage_folder(tmp_path):
    gs = storage(tmp_path)
    (gs / "saoudrizwan.claude-dev" / "tasks" / str(T) / "context_history.json").write_text('[[0,["edit",[]]]]')
    a = Archive(tmp_path / "h")
    report = a.sync([gs])
    assert report.errors == [] and report.warnings == [] and report.conversations_new == 3
    # each file of a task gives it again, unchanged the second time: classic: ui + metadata (its bare
    # API history is a side file); Roo: API history + ui + history item; the panel-only task: its one file
    assert report.conversations_unchanged == 1 + 2 and report.files_skipped == 2  # the API side file, context_history
    assert a.search("marlinquay").total_conversations == 1


def test_a_change_to_a_sibling_alone_is_seen(tmp_path):
    gs = storage(tmp_path)
    a = Archive(tmp_path / "h")
    a.sync([gs])
    ui = gs / "saoudrizwan.claude-dev" / "tasks" / str(T) / cline.UI
    later = [*CLASSIC_UI[:-1], {**CLASSIC_UI[-1], "ts": T + 20_000}, _req(T + 21_000, 600, 7, 0.06)]
    ui.write_text(json.dumps(later))  # only the panel file changed: a new model request, a later time
    report = a.sync([gs])
    assert report.errors == [] and report.files_imported == 1 and report.conversations_updated == 1
    conv = a.conversation(f"cline:{T}")
    assert int(conv.updated_at.timestamp() * 1000) == T + 21_000


def test_a_task_in_a_zip(tmp_path):
    gs = storage(tmp_path)
    z = tmp_path / "tasks.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(gs.rglob("*.json")):
            zf.write(p, str(p.relative_to(gs)))
    report = Archive(tmp_path / "h").sync([z])
    assert report.errors == [] and report.conversations_new == 3


def test_default_locations_per_system(tmp_path):
    for platform, base in (
        ("linux", ".config"),
        ("darwin", "Library/Application Support"),
        ("win32", "AppData/Roaming"),
    ):
        roots = [
            p
            for name, p in default_sources(tmp_path, platform=platform, environ={}, user=Path("/u"))
            if name == "cline"
        ]
        assert Path("/u") / base / "Code" / "User" / "globalStorage" in roots
        assert Path("/u") / base / "VSCodium" / "User" / "globalStorage" in roots
        assert all("saoudrizwan.claude-dev/tasks/*/ui_messages.json" in r.find for r in roots)


def test_default_location_reads_only_task_files(tmp_path):
    gs = Path.home() / ".config" / "Code" / "User" / "globalStorage"
    storage(gs.parent / "tmp")  # build, then move under globalStorage
    os.rename(gs.parent / "tmp" / "globalStorage", gs)
    (gs / "storage.json").write_text('{"theme": "dark"}')
    (gs / "saoudrizwan.claude-dev" / "settings").mkdir()
    (gs / "saoudrizwan.claude-dev" / "settings" / "cline_mcp_settings.json").write_text('{"mcpServers": {}}')
    report = Archive(tmp_path / "h").sync()
    assert report.errors == [] and report.conversations_new == 3


# ---------------------------------------------------------------- bad input


def test_a_damaged_task_file_fails_alone(tmp_path):
    gs = storage(tmp_path)
    task = gs / "saoudrizwan.claude-dev" / "tasks" / str(T)
    (task / cline.UI).write_text(json.dumps(CLASSIC_UI)[:-40])  # cut mid-way
    report = Archive(tmp_path / "h").sync([gs])
    bad = [e for e in report.errors if e["path"].endswith(f"{T}/{cline.UI}")]
    assert len(bad) == 1 and bad[0]["error"].startswith("invalid JSON")
    # the other files of that task still give it, saying its panel file could not be read
    assert report.conversations_new == 3 and report.exit_code == 3


def test_one_bad_api_message_costs_that_message(tmp_path):
    api = [*ROO_API[:3], {"role": "robot", "content": []}, *ROO_API[3:]]
    folder = write_task(tmp_path, "rooveterinaryinc.roo-cline", ROO_ID, {cline.API: api, cline.HISTORY_ITEM: ROO_ITEM})
    convs, ctx = parse_path(str(folder / cline.API))
    assert len(convs[0].messages) == 8 and len(ctx.warnings) == 1 and "message 3 skipped" in ctx.warnings[0].reason


FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def _parse_files(root: Path, files: dict) -> list:
    d = root / f"t{len(list(root.iterdir()))}" / "saoudrizwan.claude-dev" / "tasks" / "1700000000001"
    d.mkdir(parents=True)
    for name, doc in files.items():
        (d / name).write_text(json.dumps(doc, default=str))
    first = next(iter(files))
    try:
        return parse_path(str(d / first))[0]
    except ParseError:
        return []


@FUZZ
@given(mutated(CLASSIC_API[3]), mutated(CLASSIC_UI[4]), mutated(CLASSIC_META))
def test_fuzz_classic_values(tmp_path_factory, entry, request, metadata):
    root = tmp_path_factory.mktemp("fuzz")
    api = [*CLASSIC_API[:3], entry, *CLASSIC_API[4:]]
    ui = [*CLASSIC_UI[:4], request, *CLASSIC_UI[5:]]
    convs = _parse_files(root, {cline.UI: ui, cline.API: api, cline.METADATA: metadata})
    if convs:
        assert "Add a health check endpoint" in convs[0].messages[0].text  # the untouched first turn survives


@FUZZ
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                ["role", "content", "ts", "type", "say", "ask", "text", "tool_use_id", "id", "name", "input"]
            ),
            st.none()
            | st.text(max_size=20)
            | st.integers()
            | st.lists(
                st.dictionaries(
                    st.sampled_from(["type", "text", "id", "name", "content", "tool_use_id"]),
                    st.text(max_size=15),
                    max_size=3,
                ),
                max_size=3,
            ),
            max_size=5,
        ),
        max_size=6,
    )
)
def test_fuzz_structures(tmp_path_factory, items):
    root = tmp_path_factory.mktemp("fuzz")
    _parse_files(root, {cline.UI: items, cline.API: items})
    _parse_files(root, {cline.API: items})


@FUZZ
@given(st.binary(max_size=1500))
def test_fuzz_bytes(tmp_path_factory, junk):
    root = tmp_path_factory.mktemp("fuzz")
    d = root / "tasks" / "1700000000002"
    d.mkdir(parents=True)
    (d / cline.UI).write_bytes(b'[{"ts": 1, "type": "say", "say": "task", "text": "x"}' + junk)
    try:
        parse_path(str(d / cline.UI), "cline")
    except ParseError:
        pass


def test_the_committed_fixtures_are_this_modules_tasks():
    """tests/fixtures/cline/ holds the classic and the Roo Code task above (for the shared bad-input corpus)."""
    from conftest import REPO

    root = REPO / "tests" / "fixtures" / "cline"
    classic = one(root / "saoudrizwan.claude-dev" / "tasks" / str(T) / cline.UI)
    roo = one(root / "rooveterinaryinc.roo-cline" / "tasks" / ROO_ID / cline.HISTORY_ITEM)
    assert len(classic.messages) == 17 and len(roo.messages) == 8
