"""Kimi CLI sessions (docs/providers.md, "kimi"): Kimi Code op journals and
kimi-cli wire logs.

Counts were made by reading the files. Op journal: one message per
``context.append_message``, one per distinct system prompt, and one per
``turn.prompt``/``turn.steer`` that no append copies. Wire log: one message per
``TurnBegin``/``SteerInput``, one reply per step that wrote text, thinking or a
call, one per ``ToolResult``; a subagent's events make a conversation of their own.
"""

from __future__ import annotations

import provider_checks as checks
import pytest
from conftest import REPO, ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue.errors import ParseError
from polylogue.providers import claude_code, codex, gemini_cli, is_side_file, kimi, read_head

SAMPLES = sample_files("other/kimi_cli")
FIXTURES = REPO / "tests" / "fixtures" / "kimi"
WIRE = FIXTURES / "wire.jsonl"
OPS = FIXTURES / "op-journal-wire.jsonl"


parse_bytes = checks.bytes_parser(kimi, "wire.jsonl")

EXPECTED = {
    # 3 appends (hi, hi, stop) + the system prompt once (config.update and profile.bind repeat it);
    # both turn.prompt lines and the turn.steer are copied by appends
    "jazzyalex__agent-sessions__small.jsonl": 4,
}


@pytest.mark.parametrize("path", [*SAMPLES, WIRE, OPS], ids=ids([*SAMPLES, WIRE, OPS]))
def test_detection(path):
    if not path.exists():
        pytest.skip("the shared samples are not available")
    head = read_head(path.read_bytes()[: 256 << 10])
    checks.sniffed_by_only(kimi, head, path.name)
    assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli))


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample(samples, path):
    count = checks.hand_count(EXPECTED, path)
    convs, ctx = parse_bytes(path.read_bytes())
    assert ctx.all_warnings() == []
    (conv,) = convs
    assert len(conv.messages) == count
    assert [(x.role, x.text[:10], x.context) for x in conv.messages] == [
        ("system", "You are Ki", True),
        ("user", "hi", False),
        ("user", "hi", False),
        ("user", "stop", False),
    ]
    assert conv.meta["protocol_version"] == "1.4" and conv.meta["form"] == "op-journal"
    assert conv.meta["events"]["turn.cancel"] == 2
    assert conv.meta["events"]["llm.request retry"] == 11  # 13 requests, 11 of them with an attempt number
    assert conv.created_at.isoformat() == "2026-07-25T03:35:09.920000+00:00"  # metadata created_at
    assert conv.project == "/private/tmp/as-agent-lab/kimi/project"
    # derived from the metadata line: the same on every parse
    assert parse_bytes(path.read_bytes())[0][0].id == conv.id and conv.meta["derived_id"]


def test_op_journal_fixture():
    (conv,), ctx = parse_bytes(OPS.read_bytes())
    assert ctx.all_warnings() == []
    # system prompt (once), 5 appends, and the second prompt: cancelled before any append
    assert [x.role for x in conv.messages] == ["system", "user", "assistant", "tool", "user", "assistant", "user"]
    last = conv.messages[-1]
    assert last.text == "and in tests/?" and last.meta["not_in_context"]
    reminder = conv.messages[4]
    assert reminder.context and reminder.meta["origin"] == "system_reminder"
    ((use, res),) = conv.tool_calls()
    assert use.input == {"pattern": "TODO", "path": "src", "count": True}  # arguments decoded
    assert res.text == "src/a.rs:3\nsrc/b.rs:1" and res.is_error is False
    assert [x.model for x in conv.messages if x.role == "assistant"] == ["kimi-k2.7-code"] * 2
    assert [b.text for b in conv.thinking()] == ["grep will do."]
    assert conv.meta["events"]["unknown future.op"] == 1
    assert conv.project == "/home/ada/src/wren"


def test_wire_fixture_with_a_subagent():
    convs, ctx = parse_bytes(WIRE.read_bytes())
    assert ctx.all_warnings() == []
    main, sub = convs
    # 2 TurnBegin, replies of steps 1, 2, 3 and of turn 2's step, 3 ToolResults
    assert len(main.messages) == 9
    assert [x.role for x in main.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
        "tool",
    ]
    first = main.messages[1]
    # streamed parts merged as the CLI merges them
    assert [(b.type, b.text) for b in first.blocks[:2]] == [
        ("thinking", "Look at the Makefile first."),
        ("text", "Let me read the Makefile."),
    ]
    calls = {u.id: (u, r) for u, r in main.tool_calls()}
    assert calls["ReadFile:0"][0].input == {"path": "Makefile"}  # ToolCallPart deltas joined
    assert calls["StrReplaceFile:0"][1].is_error is True
    assert calls["StrReplaceFile:0"][1].meta["outcome"] == "rejected"  # the approval was refused
    usage = [x.usage for x in main.messages if x.usage]
    assert [u["output"] for u in usage] == [42, 30, 25] and all(u["convention"] == "anthropic" for u in usage)
    # the subagent: its own conversation, linked to the main one
    assert sub.provider_id == f"{main.provider_id}/agent-a7" and sub.parent_id == main.id
    assert [x.role for x in sub.messages] == ["user", "assistant", "tool", "assistant"]
    assert sub.meta["parent_tool_call_id"] == "Task:1" and sub.meta["subagent_type"] == "coder"
    assert sub.messages[-1].text == "-E forces a full rebuild: 41 s versus 3 s."


def test_unknown_protocol_version_warns_once():
    data = jsonl(
        {"type": "metadata", "protocol_version": "2.0", "created_at": 1},
        {"type": "context.append_message", "message": {"role": "user", "content": "hi"}, "time": 2},
        {"type": "context.append_message", "message": {"role": "user", "content": "hi"}, "time": 3},
    )
    (conv,), ctx = parse_bytes(data)
    assert len(conv.messages) == 2
    checks.warned_once(ctx, "2.0")


def test_context_file_is_a_side_file():
    lines = [
        {"role": "_system_prompt", "content": "You are Kimi CLI."},
        {"role": "_checkpoint", "id": 0},
        {"role": "user", "content": "hi"},
        {"role": "_usage", "token_count": 1200},
    ]
    head = read_head(jsonl(*lines))
    assert is_side_file(head) and not kimi.sniff(head)


def test_metadata_only():
    convs, ctx = parse_bytes(jsonl({"type": "metadata", "protocol_version": "1.4", "created_at": 1}))
    assert convs == [] and ctx.warnings
    with pytest.raises(ParseError):
        parse_bytes(jsonl({"a": 1}))


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_TYPES = sorted(kimi.OPS | kimi.WIRE_TYPES)
_KEYS = [
    "type",
    "message",
    "payload",
    "role",
    "content",
    "toolCalls",
    "toolCallId",
    "text",
    "think",
    "id",
    "function",
    "arguments",
    "arguments_part",
    "user_input",
    "return_value",
    "token_usage",
    "event",
    "agent_id",
    "time",
    "timestamp",
    "model",
    "systemPrompt",
    "input",
]
_shaped = checks.json_shaped(
    _KEYS,
    st.sampled_from([*_TYPES, "user", "assistant", "tool", "text", "think"])
    | st.integers(-5, 10**13)
    | st.none()
    | st.text(max_size=8),
)


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=6), min_size=1, max_size=8), st.booleans())
def test_fuzz_shaped_records(records, ops):
    head = {"type": "metadata", "protocol_version": "1.4"}
    if ops:
        head["created_at"] = 1
    FUZZ.must_not_raise(jsonl(head, *records))


test_fuzz_mutated_lines = FUZZ.damaged_lines([WIRE.read_bytes(), OPS.read_bytes()])


META = {"type": "metadata", "protocol_version": "1.3"}
GOOD_FIRST = {"timestamp": 1.0, "message": {"type": "TurnBegin", "payload": {"user_input": "GOOD-ONE"}}}
BAD = {
    "timestamp": 2.0,
    "message": {
        "type": "ToolCall",
        "payload": {"type": "function", "id": "c1", "function": {"name": "Shell", "arguments": '{"command": "ls"}'}},
    },
}
GOOD_LAST = {"timestamp": 3.0, "message": {"type": "TurnBegin", "payload": {"user_input": "GOOD-TWO"}}}


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    checks.keeps_the_good(FUZZ.must_not_raise(jsonl(META, GOOD_FIRST, bad, GOOD_LAST)))
