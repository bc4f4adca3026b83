"""GitHub Copilot CLI sessions (docs/providers.md, "copilot-cli"): the shared samples,
our hand-made fixtures (tests/fixtures/copilot_cli/), sniffing and fuzzing. Expected
numbers were counted from the files by hand (jq/grep), not taken from the parser."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import provider_checks as checks
import pytest
from conftest import REPO, SHARED_SAMPLES, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue.models import ASSISTANT, SYSTEM, THINKING, TOOL, TOOL_RESULT, TOOL_USE, USER
from polylogue.providers import copilot_cli, detect, parse_path, read_head

SAMPLES = sample_files("other/copilot_cli")
FIXTURES = REPO / "tests" / "fixtures" / "copilot_cli"
REAL_EVENTS = "Mai0313__VibeCodingTracker__copilot.jsonl"
REAL_HISTORY = "Mai0313__VibeCodingTracker__test_conversation_copilot.json"


def parse_file(path: Path):
    return parse_path(str(path), "copilot-cli")


parse_bytes = checks.bytes_parser(copilot_cli)


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def roles(conv) -> Counter:
    return Counter(m.role for m in conv.messages)


def pairs(conv) -> list[tuple]:
    return [(u.id, u.name, r is not None, r.is_error if r else None) for u, r in conv.tool_calls()]


# ---------------------------------------------------------------- the shared samples

# file -> messages of each conversation, as counted by hand
EXPECTED = {
    # 1 session.info + 2 system.message + 2 user.message + 6 assistant.message
    # + 2 tool.execution_start whose call no assistant message requested + 13 tool.execution_complete
    REAL_EVENTS: [26],
    # timeline: 2 info + 1 user + 5 copilot + 15 tool_call_completed x (call + result); chatMessages is []
    REAL_HISTORY: [38],
    "jazzyalex__agent-sessions__events.jsonl": [4],  # user, assistant (call), result, assistant
    # info, error, system, user, 2 assistant, 1 result (turn 1); then trimmed events: 2 results,
    # 3 assistant, notification, user; the trimmed assistant.reasoning repeats a reasoningText: dropped
    "jazzyalex__agent-sessions__small.jsonl": [15],
}


test_sample_counts, test_every_sample_is_listed = checks.counted_samples(parse_file, SAMPLES, EXPECTED)


def test_real_events_log(samples):
    (conv,), _ = parse_file(samples / "other" / "copilot_cli" / REAL_EVENTS)
    assert conv.id == "copilot-cli:96ef38f0-9d09-45c3-8124-6448c36090ed"
    assert conv.project == "/home/wei/repo/VibeCodingTracker"
    assert conv.models == ["claude-sonnet-4.6"]
    assert conv.created_at == utc("2026-04-23T17:08:08.893Z")  # session.start startTime
    assert conv.updated_at == utc("2026-04-23T17:18:20.178Z")  # the shutdown event
    # 6 assistant messages + the 2 calls only tool.execution_start records (glob, web_fetch)
    assert roles(conv) == {ASSISTANT: 8, TOOL: 13, SYSTEM: 3, USER: 2}
    prompts = [m for m in conv.messages if m.role == USER and not m.context]
    assert len(prompts) == 1 and prompts[0].text.startswith("請不要修改任何代碼")
    assert prompts[0].meta["transformed_content"].startswith("<current_datetime>")
    injected = [m for m in conv.messages if m.role == USER and m.context]
    assert len(injected) == 1 and "task_complete" in injected[0].text  # the autopilot nudge, typed by no one
    # 11 toolRequests + 2 calls from tool.execution_start; every one has its result, all successful
    calls = pairs(conv)
    assert len(calls) == 13 and all(found and err is False for _, _, found, err in calls)
    assert Counter(name for _, name, _, _ in calls) == {
        "view": 4,
        "web_search": 3,
        "bash": 2,
        "report_intent": 1,
        "glob": 1,
        "web_fetch": 1,
        "task_complete": 1,
    }
    # reasoningText on 4 of the 6 assistant messages
    assert len(conv.thinking()) == 4
    # outputTokens per message: 311 + 170 + 141 + 153 + 1379 + 694 = 2848, the shutdown total
    assert sum(m.meta.get("output_tokens", 0) for m in conv.messages if m.meta) == 2848
    assert conv.meta["usage"] == {
        "input": 186809,
        "output": 2848,
        "cache_read": 151738,
        "cache_write": 0,
        "reasoning": 1024,
        "model": "claude-sonnet-4.6",
        "convention": "openai",
    }
    usage = conv.meta["session_usage"]["models"]["claude-sonnet-4.6"]
    assert usage == {
        "input": 186809,
        "output": 2848,
        "cache_read": 151738,
        "cache_write": 0,
        "reasoning": 1024,
        "requests": 6,
    }
    assert all(m.usage is None for m in conv.messages)  # the session aggregate: never on messages
    # one path in file order
    assert [m.parent_id for m in conv.messages[1:]] == [m.id for m in conv.messages[:-1]]
    assert conv.messages[-1].text == "" and conv.messages[-1].role == TOOL


def test_real_history_document(samples):
    (conv,), _ = parse_file(samples / "other" / "copilot_cli" / REAL_HISTORY)
    assert conv.id == "copilot-cli:0b2a81da-02cf-4cbb-ae14-07c597b84f4e"
    assert conv.created_at == utc("2025-10-11T12:54:52.206Z")
    assert roles(conv) == {ASSISTANT: 20, TOOL: 15, SYSTEM: 2, USER: 1}
    calls = pairs(conv)
    assert len(calls) == 15 and all(found and err is False for _, _, found, err in calls)
    assert Counter(name for _, name, _, _ in calls) == {
        "str_replace_editor": 10,
        "bash": 4,
        "github-mcp-server-web_search": 1,
    }
    assert [m.text for m in conv.messages if m.role == SYSTEM] == [
        "Connected to GitHub MCP Server",
        "Logged in as user: Mai0313",
    ]
    assert all(m.context for m in conv.messages if m.role == SYSTEM)
    assert conv.messages[-1].text.startswith("Excellent! All tasks completed")


def test_synthetic_small_log(samples):
    (conv,), _ = parse_file(samples / "other" / "copilot_cli" / "jazzyalex__agent-sessions__small.jsonl")
    assert conv.id == "copilot-cli:copilot_stage0_small"
    assert conv.models == ["gpt-5-mini"]  # "[trimmed for fixture]" models are placeholders, not models
    assert conv.meta["session_usage"]["models"] == {"gpt-5-mini": {"requests": 2}}
    assert conv.meta["reasoning_copies_dropped"] == 1
    # the subagent's events carry a placeholder parentToolCallId: kept in the session, marked
    assert sum(m.sidechain for m in conv.messages) == 2
    errors = [m for m in conv.messages if (m.meta or {}).get("event") == "session.error"]
    assert errors[0].text == "Example model error" and errors[0].meta["statusCode"] == 400


# ---------------------------------------------------------------- our fixtures


def test_fixture_subagent_session():
    main, child = parse_file(FIXTURES / "subagent-session.jsonl")[0]
    sid = "5d0c6b1e-2f3a-4b5c-8d9e-0a1b2c3d4e5f"
    assert main.id == f"copilot-cli:{sid}"
    # system, user, assistant(task), task result, assistant(bash), user, reasoning r2, assistant,
    # session.error, compaction summary; reasoning r1 repeats m4's reasoningText and is dropped
    assert len(main.messages) == 10
    assert roles(main) == {ASSISTANT: 4, SYSTEM: 3, USER: 2, TOOL: 1}
    assert main.meta["reasoning_copies_dropped"] == 1
    assert [b.text for b in main.thinking()] == [
        "The user wants a diagnosis, not a fix.",
        "Exact float equality explains the failure.",
        "Answer in one line.",
    ]
    assert main.messages[1].blocks[1].name == "test_checkout.py"  # the attached file
    # the task call is answered; the bash call was aborted before it returned
    assert pairs(main) == [("toolu_task1", "task", True, False), ("toolu_bash1", "bash", False, None)]
    bash = main.tool_calls()[1][0]
    assert bash.meta["outcome"] == "aborted" and bash.input["command"] == "pytest -q tests/test_checkout.py"
    assert main.meta["abort_reasons"] == ["user initiated"]
    summary = main.messages[-1]
    assert summary.role == SYSTEM and summary.context and summary.meta["kind"] == "compaction_summary"
    # per-message output: 40 + 30 + 12 here, 20 + 15 in the subagent: the shutdown's 82 and 35
    assert sum(m.meta.get("output_tokens", 0) for m in main.messages if m.meta) == 82
    assert sum(m.meta.get("output_tokens", 0) for m in child.messages if m.meta) == 35
    assert not any(m.usage for m in (*main.messages, *child.messages))  # the shutdown holds them
    assert main.meta["usage"]["by_model"]["claude-haiku-4.5"]["output"] == 35
    assert main.meta["session_usage"]["models"]["claude-haiku-4.5"]["output"] == 35
    assert main.updated_at == utc("2026-05-02T09:01:30Z")  # the shutdown
    # the subagent: its own conversation, linked to the session and the task call
    assert child.id == f"copilot-cli:{sid}/agent-toolu_task1"
    assert child.parent_id == main.id
    assert child.title == "Explore checkout tests"
    assert child.models == ["claude-haiku-4.5"]
    assert [m.role for m in child.messages] == [ASSISTANT, TOOL, ASSISTANT]
    assert pairs(child) == [("toolu_grep1", "grep", True, False)]
    assert child.tool_calls()[0][0].input == {"pattern": "def test_checkout"}  # arguments given as a JSON string
    assert child.meta["agent"]["totalToolCalls"] == 1


def test_fixture_history_with_chat_messages_only():
    (conv,), _ = parse_file(FIXTURES / "history-chat-messages.json")
    assert conv.id == "copilot-cli:8c1f2e3d-4b5a-4697-a8b9-c0d1e2f3a4b5"
    # the timeline holds only an info line: the 5 chat messages are the dialogue
    assert [m.role for m in conv.messages] == [SYSTEM, USER, ASSISTANT, TOOL, ASSISTANT]
    assert conv.messages[0].context
    assert pairs(conv) == [("call_1", "str_replace_editor", True, None)]
    assert all(m.meta["derived_id"] for m in conv.messages)
    assert conv.meta["timeline_items"] == 1


def test_history_with_both_keeps_the_timeline_only():
    doc = {
        "sessionId": "s-both",
        "startTime": "2025-10-01T10:00:00Z",
        "chatMessages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        "timeline": [
            {"id": "t1", "timestamp": "2025-10-01T10:00:01Z", "type": "user", "text": "hi"},
            {"id": "t2", "timestamp": "2025-10-01T10:00:02Z", "type": "copilot", "text": "hello"},
        ],
    }
    (conv,), _ = parse_bytes(json.dumps(doc, indent=2).encode())
    assert [m.id for m in conv.messages] == ["t1", "t2"]
    assert conv.meta["chat_messages_not_imported"] == 2


# ---------------------------------------------------------------- rules for all providers

START = {
    "type": "session.start",
    "data": {"sessionId": "s-v", "version": 1, "producer": "copilot-agent", "startTime": "2026-01-01T00:00:00Z"},
    "id": "e1",
    "timestamp": "2026-01-01T00:00:00Z",
    "parentId": None,
}
USER_EVENT = {
    "type": "user.message",
    "data": {"content": "GOOD-ONE ask"},
    "id": "e2",
    "timestamp": "2026-01-01T00:00:01Z",
    "parentId": "e1",
}
REPLY = {
    "type": "assistant.message",
    "data": {"messageId": "m", "content": "GOOD-TWO answer", "toolRequests": [], "outputTokens": 3},
    "id": "e4",
    "timestamp": "2026-01-01T00:00:03Z",
    "parentId": "e3",
}
TOOL_EVENT = {
    "type": "tool.execution_complete",
    "data": {"toolCallId": "c1", "success": False, "result": {"content": "boom"}, "error": {"message": "boom"}},
    "id": "e3",
    "timestamp": "2026-01-01T00:00:02Z",
    "parentId": "e2",
}


def test_unknown_version_imports_and_says_so_once():
    newer = json.loads(json.dumps(START))
    newer["data"]["version"] = 7
    (conv,), ctx = parse_bytes(jsonl(newer, USER_EVENT, REPLY, newer))
    assert [m.text for m in conv.messages] == ["GOOD-ONE ask", "GOOD-TWO answer"]
    checks.warned_once(ctx, "version 7")


def test_bad_lines_cost_only_themselves():
    data = jsonl(START, USER_EVENT) + b"{not json\n" + jsonl({"type": "user.message", "data": "x"}, TOOL_EVENT, REPLY)
    (conv,), ctx = parse_bytes(data)
    assert [m.role for m in conv.messages] == [USER, TOOL, ASSISTANT]
    assert conv.messages[1].blocks[0].is_error is True and conv.messages[1].meta["outcome"] == "error"
    assert [w.line for w in ctx.warnings] == [3, 4]


def test_reimport_gives_same_ids():
    a = parse_file(FIXTURES / "subagent-session.jsonl")[0]
    b = parse_file(FIXTURES / "subagent-session.jsonl")[0]
    assert [[m.id for m in c.messages] for c in a] == [[m.id for m in c.messages] for c in b]


def test_sniff_takes_both_layouts(samples):
    for path in [*SAMPLES, *FIXTURES.iterdir()]:
        head = checks.head_of(path)
        assert copilot_cli.sniff(head), path.name
        assert detect(head) is copilot_cli.PROVIDER, path.name


def test_other_sniffers_leave_these_files_alone(samples):
    for path in [*SAMPLES, *FIXTURES.iterdir()]:
        assert checks.claimed_by_others(copilot_cli, checks.head_of(path)) == [], path.name


def test_sniffer_leaves_other_providers_samples_alone(samples):
    assert checks.samples_claimed(copilot_cli, outside="copilot_cli") == []


def test_sniff_refuses_lookalikes():
    claude_code = (
        b'{"type":"user","uuid":"a","parentUuid":null,"sessionId":"s","message":{"role":"user","content":"hi"}}\n'
    )
    codex = b'{"timestamp":"t","type":"session_meta","payload":{"id":"x"}}\n{"timestamp":"t","type":"event_msg","payload":{}}\n'
    dotted_other = b'{"type":"conversation.item","data":{},"id":"1"}\n{"type":"conversation.item","data":{},"id":"2"}\n'
    for data in (claude_code, codex, dotted_other, b'{"sessionId":"s","projectHash":"p","messages":[]}'):
        assert not copilot_cli.sniff(read_head(data))


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes, max_examples=150)
test_fuzz_bytes = FUZZ.random_bytes(max_size=3000)

_TYPES = [
    "session.start",
    "session.resume",
    "session.shutdown",
    "session.info",
    "session.error",
    "session.model_change",
    "session.compaction_complete",
    "session.title_changed",
    "system.message",
    "system.notification",
    "user.message",
    "assistant.message",
    "assistant.reasoning",
    "assistant.turn_start",
    "tool.execution_start",
    "tool.execution_complete",
    "tool.user_requested",
    "subagent.started",
    "subagent.completed",
    "abort",
]
_KEYS = [
    "sessionId",
    "version",
    "content",
    "transformedContent",
    "attachments",
    "toolRequests",
    "toolCallId",
    "name",
    "arguments",
    "result",
    "success",
    "error",
    "parentToolCallId",
    "outputTokens",
    "reasoningText",
    "modelMetrics",
    "usage",
    "inputTokens",
    "requests",
    "model",
    "newModel",
    "summaryContent",
    "message",
    "context",
    "cwd",
    "reason",
]
_shaped = checks.json_shaped(_KEYS, checks.wide_scalars(["c1", "c2", "[trimmed for fixture]", '{"a": 1}'], 10**12))
_event = st.fixed_dictionaries(
    {"type": st.sampled_from(_TYPES), "data": st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=6)},
    optional={
        "id": st.sampled_from(["e1", "e2", "e3", None, 5]),
        "timestamp": st.sampled_from(["2026-01-01T00:00:00Z", "x", None, 10**20]),
        "agentId": st.sampled_from(["a1", None]),
    },
)


@FUZZ
@given(st.lists(_event, min_size=1, max_size=10))
def test_fuzz_events(events):
    FUZZ.must_not_raise(b"\n".join(json.dumps(e).encode() for e in events))


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["sessionId", "startTime", "timeline", "chatMessages"]), _shaped | st.lists(_shaped), max_size=4
    ),
    st.booleans(),
)
def test_fuzz_history(doc, pretty):
    doc.setdefault("timeline", [])
    FUZZ.must_not_raise(json.dumps(doc, indent=2 if pretty else None).encode())


def _corpus() -> list[bytes]:
    files = [*FIXTURES.iterdir()]
    if SHARED_SAMPLES.is_dir():
        files += [p for p in SAMPLES if p.stat().st_size < 20_000]
    return [p.read_bytes() for p in sorted(files)]


CORPUS = _corpus()
test_fuzz_mutated_real_lines = FUZZ.damaged_lines(CORPUS, ops=("cut", "flip", "drop", "dup", "swap"))
test_fuzz_truncated = FUZZ.truncated(CORPUS)


@FUZZ
@given(mutated(TOOL_EVENT) | mutated(USER_EVENT) | mutated(REPLY))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    good_one = dict(USER_EVENT, id="g1")
    good_two = dict(REPLY, id="g2")
    data = jsonl(START, good_one, bad, good_two)
    FUZZ.must_not_raise(data)
    convs, _ = parse_bytes(data)
    checks.keeps_the_good(convs)


def test_blocks_are_typed():
    (conv, _child), _ = parse_file(FIXTURES / "subagent-session.jsonl")
    types = Counter(b.type for m in conv.messages for b in m.blocks)
    assert types[THINKING] == 3 and types[TOOL_USE] == 2 and types[TOOL_RESULT] == 1


# ---------------------------------------------------------------- default locations


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_default_locations(platform, tmp_path):
    from polylogue.sources import default_sources, discover

    user = tmp_path / "home"
    got = [
        path
        for name, path in default_sources(tmp_path, platform=platform, environ={}, user=user)
        if name == "copilot-cli"
    ]
    assert got == [user / ".copilot" / "session-state", user / ".copilot" / "history-session-state"]
    moved = [
        p
        for n, p in default_sources(tmp_path, platform=platform, environ={"COPILOT_HOME": "/c"}, user=user)
        if n == "copilot-cli"
    ]
    assert moved == [Path("/c/session-state"), Path("/c/history-session-state")]
    # a session folder also holds files the agent wrote: only the log is read
    session = user / ".copilot" / "session-state" / "5d0c6b1e"
    (session / "files").mkdir(parents=True)
    (session / "events.jsonl").write_bytes((FIXTURES / "subagent-session.jsonl").read_bytes())
    (session / "files" / "notes.json").write_text('{"not": "a chat"}')
    (session / "workspace.yaml").write_text("id: 5d0c6b1e\n")
    (user / ".copilot" / "history-session-state").mkdir()
    (user / ".copilot" / "history-session-state" / "s.json").write_text("{}")
    (user / ".copilot" / "config.json").write_text("{}")
    found = sorted(f.path.relative_to(user).as_posix() for f in discover(got, []))
    assert found == [".copilot/history-session-state/s.json", ".copilot/session-state/5d0c6b1e/events.jsonl"]


def test_old_session_on_one_long_line(samples):
    doc = json.loads((samples / "other" / "copilot_cli" / REAL_HISTORY).read_text())
    doc["timeline"][3]["text"] += " and more" * 40_000  # the first line is longer than any peek
    data = json.dumps(doc).encode()
    assert copilot_cli.sniff(read_head(data[: 256 << 10]))
    (conv,), ctx = parse_bytes(data)
    assert len(conv.messages) == 38 and ctx.all_warnings() == []
