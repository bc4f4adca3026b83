"""Factory Droid sessions (docs/providers.md, "droid"): the session store and
``droid exec --output-format stream-json`` logs.

Counts were made by reading the files: in the session store each ``message``
line is one message, plus one context message per user text that starts with
``<system-reminder>`` blocks; in stream-json each ``message``, ``tool_call``,
``tool_result`` and ``error`` line is one, and ``completion.finalText`` one more
when it is not the last reply again.
"""

from __future__ import annotations

import json
from pathlib import Path

import provider_checks as checks
import pytest
from conftest import REPO, ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import claude_code, codex, droid, gemini_cli, is_side_file, read_head

SAMPLES = sample_files("other/droid")
FIXTURES = REPO / "tests" / "fixtures" / "droid"
STORE = FIXTURES / "7c2e4b1a-3d5f-4e6a-8b9c-0d1e2f3a4b5c.jsonl"
STREAM = FIXTURES / "stream-json-exec.jsonl"


parse_bytes = checks.bytes_parser(droid, "session.jsonl")


def one(path: Path) -> m.Conversation:
    convs, ctx = parse_bytes(path.read_bytes())
    assert len(convs) == 1, ctx.all_warnings()
    return convs[0]


EXPECTED = {
    "jazzyalex__agent-sessions__session_store_small.jsonl": 3,  # 3 message lines, no reminders
    # message + tool_call + tool_result, and finalText "Done" (no reply before it to repeat)
    "jazzyalex__agent-sessions__stream_json_small.jsonl": 4,
}


@pytest.mark.parametrize("path", [*SAMPLES, STORE, STREAM], ids=ids([*SAMPLES, STORE, STREAM]))
def test_detection(path):
    if not path.exists():
        pytest.skip("the shared samples are not available")
    checks.sniffed_by_only(droid, read_head(path.read_bytes()), path.name)


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample_counts(samples, path):
    count = checks.hand_count(EXPECTED, path)
    convs, ctx = parse_bytes(path.read_bytes())
    assert ctx.all_warnings() == []
    (conv,) = convs
    assert len(conv.messages) == count
    for use, res in conv.tool_calls():
        assert res is not None and res.id == use.id


def test_sample_session_store(samples):
    conv = one(samples / "other" / "droid" / "jazzyalex__agent-sessions__session_store_small.jsonl")
    assert conv.id == "droid:droid_s1" and conv.title == "Stage0 Droid Small" and conv.project == "/tmp"
    assert [x.role for x in conv.messages] == ["user", "assistant", "tool"]
    # m1's parent is the session id: the first message is a root
    assert [x.parent_id for x in conv.messages] == [None, "m1", "m2"]
    ((use, res),) = conv.tool_calls()
    assert use.name == "Execute" and use.input == {"command": "ls /nope"}
    assert res.is_error is True and res.meta == {"exit_code": 1}  # from "Command failed (exit code: 1)"
    assert conv.meta["version"] == "0.81.0"


def test_sample_stream_json(samples):
    conv = one(samples / "other" / "droid" / "jazzyalex__agent-sessions__stream_json_small.jsonl")
    assert conv.id == "droid:sid_stage0_small" and conv.meta["shape"] == "stream-json"
    assert [x.role for x in conv.messages] == ["user", "assistant", "tool", "assistant"]
    ((use, res),) = conv.tool_calls()
    assert (use.id, use.name, use.input) == ("c1", "Shell", {"command": "echo hi"})
    assert res.text == "hi\n" and res.is_error is False and res.meta == {"exit_code": 0}
    final = conv.messages[-1]
    assert final.id == "end" and final.text == "Done" and final.meta["source"] == "completion.finalText"


def test_fixture_session_store():
    conv = one(STORE)
    # 7 message lines + 2 reminder context messages (e1 and e7); e7 is only a reminder: no prompt remains
    assert [x.id for x in conv.messages] == [
        "e1#reminder",
        "e1",
        "e2",
        "e3",
        "e4",
        "e5",
        "e6",
        "e7#reminder",
    ]
    by = {x.id: x for x in conv.messages}
    assert by["e1#reminder"].context and by["e1"].text == "The date test fails on Mondays. Find out why."
    assert not by["e1"].context and by["e1"].parent_id == "e1#reminder"
    assert [b.text for b in conv.thinking()] == ["Probably a week-start assumption."]
    calls = {u.id: r for u, r in conv.tool_calls()}
    assert calls["toolu_A1"].is_error is True and calls["toolu_A2"].is_error is None  # nothing said: unknown
    assert calls["toolu_A2"].text.startswith("def week_start")
    assert conv.meta["unknown_record_types"] == {"todo_state": 1}
    assert [x.text for x in conv.substantive()][0] == "The date test fails on Mondays. Find out why."


def test_fixture_stream_json_usage_once():
    conv = one(STREAM)
    # user, tool_call, tool_result, assistant; finalText repeats the assistant reply: not added
    assert [x.role for x in conv.messages] == ["user", "assistant", "tool", "assistant"]
    assert conv.models == ["claude-sonnet-4-5-20250929"] and conv.project == "/home/ada/src/almanac"
    usage = {"input": 2100, "output": 45, "cache_read": 12000, "cache_write": 900, "convention": "anthropic"}
    assert conv.meta["usage"] == {**usage, "model": "claude-sonnet-4-5-20250929"}  # the run's total
    assert not any(x.usage for x in conv.messages)  # a session total is never on a message
    assert conv.meta["completion"] == {"numTurns": 2, "durationMs": 3100}
    assert conv.tool_calls()[0][1].text.startswith("# Almanac")


def test_settings_file_is_a_side_file():
    settings_ = {"model": "claude-sonnet-4-5", "reasoningEffort": "medium", "autonomyMode": "auto-low"}
    head = read_head(json.dumps(settings_, indent=2).encode())
    assert is_side_file(head) and not droid.sniff(head)


def test_existing_sniffers_do_not_claim_droid():
    for path in (STORE, STREAM):
        head = read_head(path.read_bytes())
        assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli)), path.name


def test_records_of_nothing_known():
    with pytest.raises(ParseError):
        parse_bytes(jsonl({"type": "hello"}, {"type": "world"}))


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "type",
    "id",
    "parentId",
    "session_id",
    "message",
    "role",
    "content",
    "text",
    "toolCallId",
    "value",
    "isError",
    "finalText",
    "usage",
    "timestamp",
    "tool_use_id",
    "input",
]
_VALUES = [
    "session_start",
    "message",
    "tool_call",
    "tool_result",
    "completion",
    "error",
    "system",
    "user",
    "assistant",
    "text",
    "tool_use",
    "thinking",
    "s1",
]
_shaped = checks.json_shaped(
    _KEYS, st.sampled_from(_VALUES) | st.integers(-5, 10**13) | st.none() | st.text(max_size=8) | st.booleans()
)


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=6), min_size=1, max_size=8), st.booleans())
def test_fuzz_shaped_records(records, store):
    first = {"type": "session_start", "id": "s"} if store else {"type": "system", "session_id": "s"}
    FUZZ.must_not_raise(jsonl(first, *records))


CORPUS = [STORE.read_bytes(), STREAM.read_bytes()] + [p.read_bytes() for p in SAMPLES]
test_fuzz_mutated_lines = FUZZ.damaged_lines(CORPUS)


HEADER = {"type": "session_start", "id": "s-oor", "cwd": "/w"}
GOOD_FIRST = {"type": "message", "id": "g1", "parentId": "s-oor", "message": {"role": "user", "content": "GOOD-ONE"}}
BAD = {
    "type": "message",
    "id": "b1",
    "parentId": "g1",
    "timestamp": "2026-02-10T08:00:04.000Z",
    "message": {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t", "name": "Read", "input": {"file_path": "a"}}],
        "usage": {"input_tokens": 3, "output_tokens": 4},
    },
}
GOOD_LAST = {
    "type": "message",
    "id": "g2",
    "parentId": "b1",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "GOOD-TWO"}]},
}


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    checks.keeps_the_good(FUZZ.must_not_raise(jsonl(HEADER, GOOD_FIRST, bad, GOOD_LAST)))
