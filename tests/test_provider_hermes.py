"""Hermes Agent sessions (docs/providers.md, "hermes"): session files, ATIF
trajectories, ATOF streams and Polylogue's archival export.

Counts were made by reading the files: session file, one message per element
of ``messages`` but ``session_meta``, plus the system prompt; ATIF, one per
step plus one tool message per step with ``observation.results``; ATOF, one
per LLM start with content, LLM end, tool start and tool end (marks and agent
scopes are none); export, one per element of ``messages``.
"""

from __future__ import annotations

import json

import provider_checks as checks
import pytest
from conftest import ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import accepted, jsonl, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import claude_code, codex, gemini_cli, hermes, read_head

SAMPLES = sample_files("other/hermes")
SESSIONS = [p for p in SAMPLES if p.suffix in (".json", ".jsonl")]
ORIGIN = [p for p in sample_files("other/origin-capability") if "hermes" in p.name]


parse_bytes = checks.bytes_parser(hermes, "session.json")


def one(path) -> m.Conversation:
    convs, ctx = parse_bytes(path.read_bytes())
    assert len(convs) == 1, ctx.all_warnings()
    assert ctx.all_warnings() == []
    return convs[0]


EXPECTED = {
    "Sinity__polylogue__example-session.json": 6,
    "Sinity__polylogue__nemo_relay_atif_v1.7_real_redacted.json": 7,  # 6 steps + step 6's observation
    "Sinity__polylogue__nemo_relay_atof_v0.1_real_redacted.jsonl": 5,  # llm start, llm end, tool start, tool end, llm error
    "jazzyalex__agent-sessions__large.json": 5,  # system prompt + 4 messages (session_meta: none)
    "Sinity__polylogue__hermes-session.jsonl": 2,
}


@pytest.mark.parametrize("path", [*SESSIONS, *ORIGIN], ids=ids([*SESSIONS, *ORIGIN]))
def test_samples(samples, path):
    count = checks.hand_count(EXPECTED, path)
    head = read_head(path.read_bytes()[: 256 << 10])
    checks.sniffed_by_only(hermes, head, path.name)
    assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli))
    conv = one(path)
    assert len(conv.messages) == count
    assert len({x.id for x in conv.messages}) == len(conv.messages)
    for use, res in conv.tool_calls():
        assert res is not None and res.id == use.id


def test_readmes_are_not_sessions(samples):
    for path in SAMPLES:
        if path.suffix == ".md":
            assert not hermes.sniff(read_head(path.read_bytes()))


def test_session_file(samples):
    conv = one(samples / "other" / "hermes" / "jazzyalex__agent-sessions__large.json")
    assert conv.id == "hermes:20260429_hermes_large" and conv.project == "~/Repository/Codex-History"
    assert [x.role for x in conv.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert conv.messages[0].context and conv.models == ["gpt-5.2"]
    ((use, res),) = conv.tool_calls()
    assert (use.id, use.name, use.input) == ("call_001", "shell", {"command": "pwd"})
    assert res.text == "/Users/alexm/Repository/Codex-History"
    assert [b.text for b in conv.thinking()] == ["Need a shell lookup."]
    assert conv.meta["platform"] == "telegram" and conv.meta["tools"] == ["shell"]


def test_archival_export(samples):
    conv = one(samples / "other" / "hermes" / "Sinity__polylogue__example-session.json")
    assert conv.id == "hermes:hermes-session-example-001"
    assert conv.parent_id == "hermes:hermes-session-example-000" and conv.meta["parent_relationship"] == "resume"
    assert [x.active for x in conv.messages] == [True, True, True, True, False, True]  # msg-4 was rewound
    ((use, res),) = conv.tool_calls()
    assert use.input == {"path": "tests/test_parser.py"} and res.is_error is False and res.meta["exit_code"] == 0
    usage = conv.meta["usage"]
    assert usage == {
        "input": 3120,
        "output": 640,
        "cache_read": 2100,
        "cache_write": 300,
        "reasoning": 96,
        "convention": "anthropic",
    }
    assert not any(x.usage for x in conv.messages)  # the session's usage: never on a message
    assert conv.project == "/realm/project/example-repo"


def test_atif_pairs_redacted_calls_by_order(samples):
    conv = one(samples / "other" / "hermes" / "Sinity__polylogue__nemo_relay_atif_v1.7_real_redacted.json")
    assert conv.id == "hermes:real-nemo-relay-session-redacted/atif" and conv.meta["schema_version"] == "ATIF-v1.7"
    # redacted sources: step 3 and 6 have model/metrics (agent); 1, 4, 5 carry event payloads
    assert [x.role for x in conv.messages] == ["user", "system", "assistant", "user", "system", "assistant", "tool"]
    calls = conv.tool_calls()
    assert [u.name for u, _ in calls] == ["process", "terminal", "search_files", "search_files"]
    assert all(r is not None and r.meta["paired_by_order"] for _, r in calls)
    assert conv.messages[2].usage == {"input": 8983, "output": 7, "convention": "openai"}
    assert conv.models == []  # "<redacted>" is no model name


def test_atof_stream(samples):
    conv = one(samples / "other" / "hermes" / "Sinity__polylogue__nemo_relay_atof_v0.1_real_redacted.jsonl")
    assert conv.id == "hermes:real-nemo-relay-session-redacted/atof"
    assert [x.role for x in conv.messages] == ["user", "assistant", "assistant", "tool", "system"]
    ((use, res),) = conv.tool_calls()
    assert use.id == "tool-call-1" and use.name == "terminal" and res.is_error is False
    assert conv.meta["subagents"] == ["child-session-redacted"] and conv.meta["end_reason"] == "complete"
    assert [e["name"] for e in conv.meta["events"]] == [
        "hermes.approval.request",
        "hermes.approval.response",
        "hermes.subagent.start",
        "hermes.session.end",
    ]


def test_unknown_versions_warn_once():
    doc = {
        "schema_version": "ATIF-v9.0",
        "session_id": "s",
        "steps": [{"step_id": 1, "source": "user", "message": "hi"}],
    }
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert len(conv.messages) == 1
    checks.warned_once(ctx, "ATIF-v9.0")
    ev = {
        "atof_version": "3.0",
        "kind": "scope",
        "category": "llm",
        "scope_category": "start",
        "metadata": {"session_id": "s"},
        "data": {"content": "hi"},
    }
    (conv,), ctx = parse_bytes(b"\n".join(json.dumps(ev).encode() for _ in range(2)))
    assert len(conv.messages) == 2
    checks.warned_once(ctx)


def test_not_hermes():
    with pytest.raises(ParseError):
        parse_bytes(b'{"foo": 1}')


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "role",
    "content",
    "text",
    "reasoning",
    "tool_calls",
    "tool_call_id",
    "function",
    "name",
    "arguments",
    "id",
    "message_id",
    "state",
    "tool_results",
    "action_id",
    "step_id",
    "source",
    "message",
    "observation",
    "results",
    "source_call_id",
    "metrics",
    "kind",
    "category",
    "scope_category",
    "metadata",
    "data",
    "session_id",
]
_VALUES = ["user", "assistant", "tool", "system", "agent", "rewound", "scope", "mark", "llm", "start", "end", "x"]
_shaped = checks.json_shaped(
    _KEYS, st.sampled_from(_VALUES) | st.integers(-5, 10**13) | st.none() | st.text(max_size=8) | st.booleans()
)


@FUZZ
@given(st.lists(_shaped, max_size=6), st.sampled_from(["session", "atif", "export"]))
def test_fuzz_documents(items, form):
    if form == "session":
        doc = {"session_id": "s", "platform": "cli", "messages": items}
    elif form == "atif":
        doc = {"schema_version": "ATIF-v1.7", "session_id": "s", "steps": items}
    else:
        doc = {"schema_version": 1, "producer": "hermes/0", "session_id": "s", "messages": items}
    FUZZ.must_not_raise(json.dumps(doc).encode())


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=6), min_size=1, max_size=8))
def test_fuzz_atof(records):
    lines = [{"atof_version": "0.1", "kind": "scope", **r} for r in records]
    FUZZ.must_not_raise(b"\n".join(json.dumps(r).encode() for r in lines))


GOOD_FIRST = {"role": "user", "content": "GOOD-ONE"}
BAD = {
    "role": "assistant",
    "content": "x",
    "reasoning": "r",
    "tool_calls": [{"id": "c", "function": {"name": "shell", "arguments": "{}"}}],
}
GOOD_LAST = {"role": "assistant", "content": "GOOD-TWO"}


@FUZZ
@given(mutated(BAD, accepted))
def test_fuzz_out_of_range_values_keep_the_good_messages(bad):
    doc = {"session_id": "s", "platform": "cli", "messages": [GOOD_FIRST, bad, GOOD_LAST]}
    checks.keeps_the_good(FUZZ.must_not_raise(json.dumps(doc).encode()))


ATOF_FIRST = {
    "atof_version": "0.1",
    "kind": "scope",
    "category": "llm",
    "scope_category": "start",
    "metadata": {"session_id": "s"},
    "data": {"content": "GOOD-ONE"},
}
ATOF_BAD = {
    "atof_version": "0.1",
    "kind": "scope",
    "category": "tool",
    "scope_category": "end",
    "uuid": "t",
    "timestamp": "2026-07-18T09:00:04Z",
    "metadata": {"session_id": "s", "tool_call_id": "c", "status": "completed"},
    "data": {"stdout": "o"},
}
ATOF_LAST = {
    "atof_version": "0.1",
    "kind": "scope",
    "category": "llm",
    "scope_category": "end",
    "metadata": {"session_id": "s"},
    "data": {"assistant_message": "GOOD-TWO"},
}


@FUZZ
@given(mutated(ATOF_BAD))
def test_fuzz_out_of_range_atof_keeps_the_good_events(bad):
    checks.keeps_the_good(FUZZ.must_not_raise(jsonl(ATOF_FIRST, bad, ATOF_LAST)))
