"""Codex CLI rollouts (docs/providers.md, "codex"): conformance on the shared samples, sniffing,
fuzzing, and our own example export. Expected numbers were derived by reading the
sample files (jq one-liners / by eye), not from the parser's output."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES, SHARED_SAMPLES, ids, sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import all_text, jsonl, mutated, parse_or_none

from polylogue.errors import ParseError
from polylogue.models import ASSISTANT, SYSTEM, THINKING, TOOL, TOOL_RESULT, TOOL_USE, USER
from polylogue.providers import ParseContext, codex, open_clean, read_head

SAMPLES = sample_files("codex")
EXAMPLE_DIR = EXAMPLES / "codex" / "sessions" / "2026" / "03" / "14"
MAIN_ID = "019cf2a1-7c3e-7d41-9b8a-2f6e4c1d0a11"
SUB_ID = "019cf2a3-1b07-7c55-a4e2-93d0b8f61c27"
NOT_ROLLOUT = {"madshn__localpush__manifest.json"}  # a redaction manifest, not a chat file
SIDE_FILES = {"kvsankar__agent-history__codex_history.jsonl"}  # ~/.codex/history.jsonl prompt log


def parse_file(path: Path):
    from polylogue.providers import parse_path

    return parse_path(str(path), "codex")


def parse_bytes(data: bytes):
    ctx = ParseContext("<bytes>")
    _head, stream = open_clean(io.BytesIO(data), ctx)
    return list(codex.parse(stream, ctx)), ctx


def one(path: Path):
    convs, _ctx = parse_file(path)
    assert len(convs) == 1
    return convs[0]


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def texts(conv, role):
    return [m.text for m in conv.messages if m.role == role and m.text]


# ---------------------------------------------------------------- 1. conformance

# file -> message count of its single conversation (None: no conversation). How each was derived:
EXPECTED = {
    # user item + assistant item ("text" part) + 1 agent_reasoning event that has no reasoning item
    "Dicklesworthstone__coding_agent_session_search__rollout-test.jsonl": 3,
    # user + assistant items; the event_msg `tool_call` is a fixture-only event (kept in meta.events)
    "Dicklesworthstone__coding_agent_session_search__rollout-tool-call.jsonl": 2,
    # jq: 2 user + 9 assistant messages + 18 function_call + 18 outputs + custom call + its output = 49;
    # the 10 reasoning items have summary [] (no message); 9 agent_message + 1 user_message events are copies
    "Mai0313__VibeCodingTracker__codex.jsonl": 49,
    # 8 lines, each a bare {type:"message"} item, no header
    "Sinity__polylogue__demo-00.jsonl": 8,
    "Sinity__polylogue__functions_exec_multiple.jsonl": 2,  # call + output
    "Sinity__polylogue__functions_exec_single.jsonl": 2,  # custom call + output
    # 2 user + 2 assistant + 2 calls + 2 outputs; the token_count response item is usage, not a message
    "Sinity__polylogue__interleaved_stream.jsonl": 8,
    "Sinity__polylogue__lineage-fork.jsonl": 4,  # 4 message items
    "Sinity__polylogue__lineage-parent.jsonl": 3,
    "Sinity__polylogue__lineage-subagent.jsonl": 1,
    "Sinity__polylogue__terminal-error.jsonl": 4,  # user, call, output, assistant
    "Sinity__polylogue__text_only_stream.jsonl": 3,  # session instructions + user + assistant
    "Sinity__polylogue__tool_call_stream.jsonl": 5,  # instructions + user + call + output + assistant
    "daaain__claude-code-log__rollout-44444444-4444-4444-8444-444444444444.jsonl": 2,  # header + 2 bare items
    "jazzyalex__agent-sessions__codex_050_legacy.jsonl": None,  # events only, no message item
    "jazzyalex__agent-sessions__codex_053_rate_limit.jsonl": None,  # events only
    # instructions "large" + 7 user + 7 assistant + tool_call + tool_result; event user_message "Start" is a copy
    "jazzyalex__agent-sessions__large.jsonl": 17,
    # {role,message} + function_call + function_result + {role,content}; world_state is an event
    "jazzyalex__agent-sessions__schema_drift.jsonl": 4,
    # base_instructions + 20 response items (the reasoning at line 39 has summary []) + the user_message
    # events at lines 71 and 85, which copy no user item; events at lines 4, 8, 24 copy items 6, 7, 23
    "jazzyalex__agent-sessions__small.jsonl": 23,
    "kvsankar__agent-history__codex_history.jsonl": None,  # history.jsonl side file
    # jq: 5 user + 4 assistant + 2 reasoning + 4 function_call + 2 outputs
    "kvsankar__agent-history__codex_with_escalation.jsonl": 17,
    # base_instructions + developer + 2 user (environment_context, prompt) + assistant; 2 events are copies
    "kvsankar__agent-history__session-01.jsonl": 5,
    # jq: 4 user + 6 assistant + 2 reasoning + 2 calls + 2 outputs; replacement history not imported
    "kvsankar__agent-history__session_with_compaction.jsonl": 16,
    # jq: base_instructions + 4 developer + 3 user + 17 assistant + 26 reasoning + 118 calls + 118 outputs
    "madshn__localpush__rollout-2026-02-23T12-41-04-019c8a4d-8f45-7010-8b5d-7fad920aa6f9.jsonl": 287,
    # jq: base_instructions + 4 developer + 4 user + 1 assistant + 1 reasoning + 1 call (no output)
    "madshn__localpush__rollout-2026-02-23T13-19-38-019c8a70-dda7-7f33-98ea-f30553347322.jsonl": 12,
}


ROLLOUTS = [p for p in SAMPLES if p.name not in NOT_ROLLOUT]


@pytest.mark.parametrize("path", ROLLOUTS, ids=ids(ROLLOUTS))
def test_sample_counts(samples, path):
    assert path.name in EXPECTED, "new sample: derive its counts by hand and add them"
    convs, ctx = parse_file(path)
    want = EXPECTED[path.name]
    if want is None:
        assert convs == []
        assert ctx.notes  # skipped with a reason, never silently
        return
    assert len(convs) == 1
    conv = convs[0]
    assert len(conv.messages) == want
    assert conv.provider == "codex" and conv.source_path == str(path)
    msg_ids = [m.id for m in conv.messages]
    assert len(set(msg_ids)) == len(msg_ids) and all(msg_ids)


def test_every_sample_is_listed(samples):
    assert {p.name for p in SAMPLES} - NOT_ROLLOUT == set(EXPECTED)


def test_real_039_rollout(samples):
    conv = one(samples / "codex" / "Mai0313__VibeCodingTracker__codex.jsonl")
    assert conv.provider_id == "01996135-afde-7911-97f0-d863511eca56"
    assert conv.project == "/proj/ds906659/gai/claude-code"
    assert conv.models == ["aide-gpt-5"]
    assert conv.created_at == utc("2025-09-19T09:02:12.446Z")
    users = [m for m in conv.messages if m.role == USER]
    assert users[0].context and users[0].text.startswith("<environment_context>")
    assert not users[1].context and users[1].text.startswith("# Context from my IDE setup:")
    # copies: 9 assistant messages, not 18
    assert len([m for m in conv.messages if m.role == ASSISTANT and m.text]) == 9
    pairs = conv.tool_calls()
    assert len(pairs) == 19 and all(r is not None for _, r in pairs)
    by_id = {u.id: (u, r) for u, r in pairs}
    u, r = by_id["call_xUErwgRipJt0FwomBq60pMg0"]  # JSON-string output with metadata.exit_code 0
    assert r.text.startswith("Success. Updated the following files:") and r.is_error is False
    assert r.meta["exit_code"] == 0 and isinstance(u.input, dict) and u.input["command"][0] == "bash"
    assert by_id["call_K62tgMeXmdZijajRwxYxUb2i"][1].is_error is None  # "patch rejected": no exit code given
    assert by_id["call_exec_patch_cell01"][0].name == "exec"
    # usage: the last cumulative token_count (line 104), not a sum
    assert conv.meta["usage_total"]["input"] == 270530 and conv.meta["usage_total"]["cache_read"] == 136832
    assert conv.meta["usage_total"]["output"] == 12551 and conv.meta["usage_total"]["reasoning"] == 9536
    assert sum(m.usage.get("input", 0) for m in conv.messages if m.usage) == 270530
    # patch_apply_end events name call ids no call has: kept as events
    assert [e["type"] for e in conv.meta["events"]].count("patch_apply_end") == 2


def test_real_0104_long_run(samples):
    conv = one(
        samples / "codex" / "madshn__localpush__rollout-2026-02-23T12-41-04-019c8a4d-8f45-7010-8b5d-7fad920aa6f9.jsonl"
    )
    assert conv.created_at == utc("2026-02-23T11:41:04.709Z")  # session_meta, not the file name's local time
    assert conv.models == ["gpt-5.3-codex"]
    # 17 agent_message events and 26 agent_reasoning events are copies of items
    assert len([m for m in conv.messages if m.role == ASSISTANT and m.text]) == 17
    assert len(conv.thinking()) == 26
    pairs = conv.tool_calls()
    assert len(pairs) == 118 and all(r is not None for _, r in pairs)
    # the one typed prompt (line 9, copied by the user_message event at line 10) is the only non-context user message
    prompts = [m for m in conv.messages if m.role == USER and not m.context]
    assert [m.text for m in prompts] == ["[REDACTED_TEXT len=115 sha=a83ebe6f]"]
    assert all(m.context for m in conv.messages if m.role == SYSTEM)
    # jq: last non-null total_token_usage
    u = conv.meta["usage_total"]
    assert (u["input"], u["cache_read"], u["output"], u["reasoning"]) == (1751428, 1651968, 14600, 4293)
    # jq '...rate_limits' | uniq | wc -l -> 11 distinct consecutive states
    assert len(conv.meta["rate_limits"]) == 11


def test_real_desktop_unanswered_call(samples):
    conv = one(
        samples / "codex" / "madshn__localpush__rollout-2026-02-23T13-19-38-019c8a70-dda7-7f33-98ea-f30553347322.jsonl"
    )
    users = [m for m in conv.messages if m.role == USER]
    # lines 4, 5 (before task_started) and 11 are injected; line 9 matches the user_message event
    assert [m.context for m in users] == [True, True, False, True]
    ((use, res),) = conv.tool_calls()
    assert use.id == "call_UtYwHmwWekzvq83m8Rb9K8jJ" and res is None
    assert not (use.meta or {}).get("outcome")  # no turn_aborted: outcome stays unknown
    assert use.input == "[REDACTED_ARGUMENTS len=456 sha=df6be51a]"  # unparseable arguments kept as given


def test_real_exec_session(samples):
    conv = one(samples / "codex" / "kvsankar__agent-history__session-01.jsonl")
    roles = [(m.role, m.context) for m in conv.messages]
    assert roles == [(SYSTEM, True), (SYSTEM, True), (USER, True), (USER, False), (ASSISTANT, False)]
    last = conv.messages[-1]
    assert last.meta["phase"] == "final_answer" and last.model == "gpt-5.5"
    assert last.usage == {
        "convention": "openai",
        "input": 22539,
        "cache_read": 20864,
        "output": 10,
        "reasoning": 0,
        "key": "019e9625-802f-7e91-840a-cfe88d14117a:0:22539:20864:0:10:0",  # session:segment:cumulative counts
    }
    assert conv.meta["rate_limits"][0]["plan_type"] == "pro"
    assert [e["type"] for e in conv.meta["events"]] == ["task_started", "task_complete"]
    assert conv.meta["originator"] == "codex_exec"


def test_escalation_abort(samples):
    conv = one(samples / "codex" / "kvsankar__agent-history__codex_with_escalation.jsonl")
    calls = {u.id: (u, r) for u, r in conv.tool_calls()}
    assert calls["call_esc_004"][1] is None and calls["call_esc_004"][0].meta["outcome"] == "aborted"
    assert calls["call_esc_002"][1] is None and not (calls["call_esc_002"][0].meta or {}).get("outcome")
    assert calls["call_esc_003"][1].text == "Hello World"
    assert [b.text for b in conv.thinking()] == [
        "Planning to create test.txt file",
        "Need to modify existing file - may require elevated permissions",
    ]


def test_compaction(samples):
    conv = one(samples / "codex" / "kvsankar__agent-history__session_with_compaction.jsonl")
    comp = [e for e in conv.meta["events"] if e["type"] == "compacted"]
    assert len(comp) == 1 and comp[0]["message"].startswith("**Progress + Plan Status**")
    assert all("Progress + Plan Status" not in m.text for m in conv.messages)
    assert conv.meta["usage_total"]["input"] == 85000


def test_lineage(samples):
    d = samples / "codex"
    parent = one(d / "Sinity__polylogue__lineage-parent.jsonl")
    fork = one(d / "Sinity__polylogue__lineage-fork.jsonl")
    sub = one(d / "Sinity__polylogue__lineage-subagent.jsonl")
    assert parent.parent_id is None
    assert fork.parent_id == "codex:demo-lineage-parent" and fork.meta["lineage_kind"] == "fork"
    assert sub.parent_id == "codex:demo-lineage-parent" and sub.meta["lineage_kind"] == "subagent"
    assert [m.id for m in fork.messages] == ["fork-u0", "fork-a1", "fork-u2", "fork-a3"]


def test_exit_codes(samples):
    d = samples / "codex"
    ((_, res),) = one(d / "Sinity__polylogue__terminal-error.jsonl").tool_calls()
    assert res.is_error is True and res.meta["exit_code"] == 4
    assert res.text == "ERROR: file or directory not found: tests/missing_test.py"
    ((use, res),) = one(d / "Sinity__polylogue__functions_exec_multiple.jsonl").tool_calls()
    assert use.name == "functions.exec" and isinstance(use.input, dict)
    assert res.is_error is None and "exit_code" not in (res.meta or {})  # exit_code=7 in prose is not an exit code
    assert res.text.startswith("Script completed\nWall time 0.3 seconds")


def test_minimal_envelopes(samples):
    d = samples / "codex"
    conv = one(d / "Sinity__polylogue__interleaved_stream.jsonl")
    assert conv.project == "/repo/polylogue"  # from turn_context: session_meta has no cwd
    assert conv.meta["usage_total"]["input"] == 120 and conv.meta["usage_total"]["output"] == 40
    assert [m.id for m in conv.messages][:2] == ["msg-user-1", "fc_1"]
    assert conv.messages[2].id == "interleaved-session-1:5"  # the id-less output: session id + line
    conv = one(d / "Sinity__polylogue__text_only_stream.jsonl")
    assert conv.messages[0].role == SYSTEM and conv.messages[0].context and conv.messages[0].text == "You are helpful."


def test_zoo(samples):
    conv = one(samples / "codex" / "jazzyalex__agent-sessions__small.jsonl")
    assert conv.provider_id == "019fc8be-3658-7ca3-9e29-000000000000"
    assert len(conv.meta["lineage"]) == 6  # 7 session_meta lines, the first one is the conversation
    ids_ = [m.id for m in conv.messages]
    assert ids_[1:4] == ["msg-1", "rs-1", "fc-1"] and "[trimmed for fixture]" not in ids_
    calls = {u.id: r for u, r in conv.tool_calls()}
    assert calls["call-1"].text == "a.txt\nb.txt\n" and calls["call-2"].text == "a.txt\n"
    assert conv.messages[1].has("image")
    assert conv.meta["usage_total"]["cache_write"] == 0


def test_pre_envelope_and_drift(samples):
    d = samples / "codex"
    conv = one(d / "daaain__claude-code-log__rollout-44444444-4444-4444-8444-444444444444.jsonl")
    assert conv.provider_id == "44444444-4444-4444-8444-444444444444" and conv.meta["generation"] == 2
    assert conv.created_at == utc("2026-01-04T05:06:07Z")
    assert texts(conv, ASSISTANT) == ["The synthetic legacy session is open."]
    drift = one(d / "jazzyalex__agent-sessions__schema_drift.jsonl")
    ((use, res),) = drift.tool_calls()  # no ids: paired by adjacency
    assert use.name == "translate" and use.input == {"text": "hello", "to": "es"} and res.text == "hola"
    assert drift.meta["id_derived"] is True
    assert one(d / "jazzyalex__agent-sessions__large.jsonl").tool_calls()[0][1].text == "line1\nline2\nline3\n"


# ---------------------------------------------------------------- 2. parse + sniff every sample


def _head(path: Path):
    ctx = ParseContext(str(path))
    with open(path, "rb") as raw:
        head, _stream = open_clean(raw, ctx)
    return head


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample_parses_and_sniffs(samples, path):
    head = _head(path)
    if path.name in NOT_ROLLOUT:
        assert not codex.sniff(head)
        with pytest.raises(ParseError):
            parse_file(path)
        return
    assert codex.sniff(head)
    from polylogue.providers import detect

    assert detect(head) is codex.PROVIDER
    convs, _ctx = parse_file(path)
    assert all(c.messages for c in convs)
    if path.name in SIDE_FILES:
        assert convs == []


def test_sniff_leaves_other_providers_samples_alone(samples):
    claimed = []
    for path in sorted(samples.rglob("*")):
        if not path.is_file() or path.parent.name == "codex" or "schemas" in path.parts or path.suffix == ".tsv":
            continue
        try:
            head = _head(path)
        except ParseError:
            continue
        if codex.sniff(head):
            claimed.append(path.name)
    # the only one is a genuine Codex rollout filed under other/origin-capability
    assert claimed == ["Sinity__polylogue__codex-session.jsonl"]


def test_reimport_gives_same_ids(samples):
    path = samples / "codex" / "jazzyalex__agent-sessions__small.jsonl"
    a, b = one(path), one(path)
    assert [m.id for m in a.messages] == [m.id for m in b.messages]
    assert [(m.parent_id, m.active) for m in a.messages] == [(m.parent_id, m.active) for m in b.messages]


def test_sniff_rejects_other_formats():
    claude_code = b'{"type":"summary","summary":"x","leafUuid":"u"}\n{"type":"user","uuid":"a","parentUuid":null,"sessionId":"s","message":{"role":"user","content":"hi"}}\n'
    gemini = b'{"sessionId":"s","projectHash":"h","startTime":"2026-01-01T00:00:00Z"}\n{"id":"1","type":"user","content":"hi"}\n'
    chatgpt = b'[{"id":"c","title":"t","mapping":{}}]'
    for data in (claude_code, gemini, chatgpt, b'{"a":1}\n{"b":2}\n'):
        assert not codex.sniff(read_head(data))


# ---------------------------------------------------------------- generation 1 (no sample: written here)

GEN1 = {
    "session": {
        "timestamp": "2025-04-21T16:02:11.500Z",
        "id": "3f0c8d2e-5b1a-4c7e-9f6d-2a1b0c9d8e7f",
        "instructions": "Prefer pnpm over npm.",
    },
    "items": [
        {
            "id": "msg_a1",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Rename the flumadiddle helper to parseArgs"}],
        },
        {"id": "rs_a2", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Find every import first."}]},
        {
            "id": "fc_a3",
            "type": "function_call",
            "name": "shell",
            "call_id": "call_a3",
            "arguments": json.dumps({"command": ["rg", "-l", "flumadiddle"]}),
        },
        {
            "type": "function_call_output",
            "call_id": "call_a3",
            "output": json.dumps({"output": "src/cli.ts\n", "metadata": {"exit_code": 0, "duration_seconds": 0.1}}),
        },
        {
            "id": "msg_a4",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Only src/cli.ts uses it; renamed."}],
        },
    ],
}


@pytest.mark.parametrize("indent", [None, 2])
def test_generation1_document(indent):
    data = json.dumps(GEN1, indent=indent).encode()
    head = read_head(data)
    assert head.kind == "json" and codex.sniff(head)
    (conv,), ctx = parse_bytes(data)
    assert not ctx.warnings
    assert conv.provider_id == GEN1["session"]["id"] and conv.meta["generation"] == 1
    assert [m.role for m in conv.messages] == [SYSTEM, USER, ASSISTANT, ASSISTANT, TOOL, ASSISTANT]
    assert [m.id for m in conv.messages][1:4] == ["msg_a1", "rs_a2", "fc_a3"]
    assert conv.messages[4].id == f"{GEN1['session']['id']}:4"  # item index
    ((use, res),) = conv.tool_calls()
    assert (
        use.input == {"command": ["rg", "-l", "flumadiddle"]} and res.text == "src/cli.ts\n" and res.is_error is False
    )
    assert conv.created_at == utc("2025-04-21T16:02:11.500Z")


def test_generation1_truncated_keeps_what_it_has():
    data = json.dumps(GEN1, indent=2).encode()
    cut = data[: data.index(b'"fc_a3"')]
    (conv,), ctx = parse_bytes(cut)
    assert len(conv.messages) == 3  # instructions, user, reasoning
    assert any("ends early" in w for w in ctx.all_warnings())


# ---------------------------------------------------------------- behaviours on small inline rollouts


def _env(type_, payload, ts="2026-01-02T03:04:05.000Z"):
    return json.dumps({"timestamp": ts, "type": type_, "payload": payload})


def _rollout(*lines):
    return ("\n".join([_env("session_meta", {"id": "sess-1", "cwd": "/w"}), *lines]) + "\n").encode()


def test_event_copy_first_and_gap_fill():
    data = _rollout(
        _env("event_msg", {"type": "agent_message", "message": "Answer  text"}),
        _env(
            "response_item",
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Answer text"}]},
        ),
        _env(
            "event_msg", {"type": "user_message", "message": "typed only here", "images": ["https://x.invalid/a.png"]}
        ),
    )
    (conv,), _ = parse_bytes(data)
    assert [(m.role, m.text) for m in conv.messages] == [(ASSISTANT, "Answer text"), (USER, "typed only here")]
    assert conv.messages[1].meta["source"] == "event_msg.user_message" and conv.messages[1].has("image")


def test_usage_is_never_summed_and_survives_resets():
    def tc(total, inp):
        return _env(
            "event_msg",
            {
                "type": "token_count",
                "info": {
                    "total_token_usage": {
                        "input_tokens": inp,
                        "cached_input_tokens": 0,
                        "output_tokens": total - inp,
                        "total_tokens": total,
                    }
                },
            },
        )

    asst = _env(
        "response_item", {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}
    )
    data = _rollout(
        _env("turn_context", {"model": "m1"}),
        asst,
        tc(100, 90),
        tc(100, 90),
        tc(150, 130),
        _env("turn_context", {"model": "m2"}),
        asst,
        tc(40, 30),  # a reset (new segment): 40 more tokens
    )
    (conv,), _ = parse_bytes(data)
    assert conv.meta["usage_total"]["input"] == 130 + 30 and conv.meta["usage_total"]["output"] == 20 + 10
    assert conv.models == ["m1", "m2"]
    assert [m.usage for m in conv.messages] == [
        {"convention": "openai", "input": 130, "output": 20, "cache_read": 0, "key": "sess-1:0:130:0:0:20:0"},
        {"convention": "openai", "input": 30, "output": 10, "cache_read": 0, "key": "sess-1:1:30:0:0:10:0"},
    ]


def test_duplicate_item_id_copy_and_collision():
    item = {"type": "message", "id": "m-1", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    other = dict(item, content=[{"type": "input_text", "text": "different"}])
    (conv,), _ = parse_bytes(
        _rollout(_env("response_item", item), _env("response_item", item), _env("response_item", other))
    )
    assert [m.id for m in conv.messages] == ["m-1", "sess-1:4"]
    assert conv.messages[1].meta["id_collision"] is True


def test_history_side_file_is_skipped():
    data = b'{"session_id":"s","ts":1759848400,"text":"list files"}\n{"session_id":"s","ts":1759848410,"text":"run tests"}\n'
    assert codex.sniff(read_head(data))
    convs, ctx = parse_bytes(data)
    assert convs == [] and "history" in ctx.notes[0]


# ---------------------------------------------------------------- 3. fuzzing


def _must_not_raise(data: bytes) -> None:
    try:
        convs, _ctx = parse_bytes(data)
    except ParseError:
        return
    for c in convs:
        assert c.messages
        assert len({m.id for m in c.messages}) == len(c.messages)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=3000))
def test_fuzz_bytes(data):
    _must_not_raise(data)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
_KEYS = [
    "type",
    "role",
    "content",
    "id",
    "call_id",
    "output",
    "arguments",
    "summary",
    "message",
    "text",
    "info",
    "total_token_usage",
    "input_tokens",
    "timestamp",
    "model",
    "num_turns",
    "turn_context",
    "session",
    "items",
    "source",
    "subagent",
    "thread_spawn",
    "parent_thread_id",
    "images",
    "result",
    "name",
    "input",
]
_VALUES = [
    "session_meta",
    "response_item",
    "event_msg",
    "turn_context",
    "compacted",
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "user_message",
    "agent_message",
    "agent_reasoning",
    "token_count",
    "thread_rolled_back",
    "turn_aborted",
    "task_started",
    "exec_command_end",
    "patch_apply_end",
    "user",
    "assistant",
    "developer",
    "input_text",
    "output_text",
    "input_image",
    "web_search_call",
    "tool_call",
    "tool_result",
    "local_shell_call",
]
_shaped = st.recursive(
    st.sampled_from(_VALUES)
    | st.integers(-5, 10**12)
    | st.integers(-(2**70), 2**70)
    | st.none()
    | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), kids, max_size=5),
    max_leaves=20,
)


@FUZZ
@given(st.lists(_json, max_size=6))
def test_fuzz_json_lines(values):
    _must_not_raise(b"\n".join(json.dumps(v).encode() for v in values))


@FUZZ
@given(
    st.lists(st.fixed_dictionaries({"type": st.sampled_from(_VALUES), "payload": _shaped}), min_size=1, max_size=8),
    st.booleans(),
)
def test_fuzz_envelopes(records, header):
    lines = [json.dumps(r) for r in records]
    if header:
        lines.insert(
            0, _env("session_meta", {"id": "fz", "source": {"subagent": {"thread_spawn": {"parent_thread_id": "p"}}}})
        )
    _must_not_raise("\n".join(lines).encode())


@FUZZ
@given(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=4), st.lists(_shaped, max_size=5), st.booleans())
def test_fuzz_generation1(session, items, pretty):
    _must_not_raise(json.dumps({"session": session, "items": items}, indent=2 if pretty else None).encode())


def _corpus() -> list[bytes]:
    files = [p for p in SAMPLES if p.stat().st_size < 10_000] + sorted(EXAMPLE_DIR.glob("*.jsonl"))
    return [p.read_bytes() for p in files]


CORPUS = _corpus() if SHARED_SAMPLES.is_dir() else [p.read_bytes() for p in sorted(EXAMPLE_DIR.glob("*.jsonl"))]


@FUZZ
@given(st.sampled_from(CORPUS), st.data())
def test_fuzz_mutated_real_lines(data, draw):
    lines = data.split(b"\n")
    for _ in range(draw.draw(st.integers(1, 4))):
        i = draw.draw(st.integers(0, len(lines) - 1))
        line = bytearray(lines[i])
        op = draw.draw(st.sampled_from(["cut", "flip", "drop", "dup", "swap"]))
        if op == "cut" and line:
            line = line[: draw.draw(st.integers(0, len(line)))]
        elif op == "flip" and line:
            j = draw.draw(st.integers(0, len(line) - 1))
            line[j] = draw.draw(st.integers(0, 255))
        elif op == "drop":
            line = bytearray()
        elif op == "dup":
            lines.insert(i, bytes(line))
        elif op == "swap":
            j = draw.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            continue
        lines[i] = bytes(line)
    _must_not_raise(b"\n".join(lines))


@FUZZ
@given(st.sampled_from(CORPUS), st.floats(0, 1))
def test_fuzz_truncated(data, frac):
    _must_not_raise(data[: int(len(data) * frac)])


# ---------------------------------------------------------------- out-of-range values (issue 18, item 8)


def _envelope(type_, payload, ts="2026-01-02T03:04:05.000Z"):
    return {"timestamp": ts, "type": type_, "payload": payload}


HEADER = _envelope("session_meta", {"id": "sess-oor", "cwd": "/w", "timestamp": "2026-01-02T03:04:05.000Z"})
GOOD_FIRST = _envelope(
    "response_item", {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "GOOD-ONE ask"}]}
)
BAD_TEMPLATE = _envelope(
    "response_item",
    {
        "type": "function_call",
        "name": "shell",
        "call_id": "c1",
        "arguments": '{"command": ["ls"]}',
        "id": "fc1",
        "timestamp": "2026-01-02T03:04:06.000Z",
    },
)
BAD_USAGE = _envelope(
    "event_msg",
    {
        "type": "token_count",
        "info": {"total_token_usage": {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}},
    },
)
GOOD_LAST = _envelope(
    "response_item",
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "GOOD-TWO answer"}]},
)


def test_out_of_range_values_in_a_rollout_cost_nothing_else():
    bad_time = dict(BAD_TEMPLATE, timestamp="9999-12-31T23:59:59-14:00")
    bad_usage = json.loads(json.dumps(BAD_USAGE))
    bad_usage["payload"]["info"]["total_token_usage"] = {"input_tokens": 2**64, "output_tokens": 1e308}
    (conv,), ctx = parse_bytes(jsonl(HEADER, GOOD_FIRST, bad_time, bad_usage, GOOD_LAST))
    assert "GOOD-ONE" in all_text([conv]) and "GOOD-TWO" in all_text([conv])
    assert any(b.type == TOOL_USE for m in conv.messages for b in m.blocks)  # the odd-time line too


@FUZZ
@given(mutated(BAD_TEMPLATE) | mutated(BAD_USAGE))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    data = jsonl(HEADER, GOOD_FIRST, bad, GOOD_LAST)
    _must_not_raise(data)
    convs, _ = parse_bytes(data)
    assert "GOOD-ONE" in all_text(convs) and "GOOD-TWO" in all_text(convs)


@FUZZ
@given(mutated(HEADER))
def test_fuzz_out_of_range_header_keeps_the_messages(header):
    data = jsonl(header, GOOD_FIRST, GOOD_LAST)
    _must_not_raise(data)
    parsed = parse_or_none(lambda: parse_bytes(data))
    if parsed is not None:  # a first line that is a JSON array says the file is no rollout
        assert "GOOD-ONE" in all_text(parsed[0]) and "GOOD-TWO" in all_text(parsed[0])


# ---------------------------------------------------------------- 4. our example export


def test_example_main_session():
    path = EXAMPLE_DIR / f"rollout-2026-03-14T10-00-00-{MAIN_ID}.jsonl"
    assert codex.sniff(_head(path))
    conv = one(path)
    # by eye: base_instructions, developer, AGENTS.md, environment_context, 3 prompts, 2 reasoning
    # (turns 1 and 2), 3 assistant texts, 4 calls (exec_command x2, apply_patch, spawn_agent) + 4 outputs = 20
    assert len(conv.messages) == 20
    assert conv.title == "WAL checkpoint hang in tidepool sync"
    assert conv.project == "/home/ada/src/tidepool" and conv.models == ["gpt-5.3-codex"]
    assert conv.created_at == utc("2026-03-14T09:00:00.118Z") and conv.updated_at == utc("2026-03-14T09:04:36.250Z")
    prompts = [m for m in conv.messages if m.role == USER and not m.context]
    assert len(prompts) == 3 and "zanzibarquux" in prompts[0].text
    assert sum(1 for m in conv.messages if m.context) == 4
    # the rolled-back turn (prompt, reasoning, call, output) is off the active path; the next prompt
    # hangs off the last answer before it
    inactive = [m for m in conv.messages if not m.active]
    assert [m.role for m in inactive] == [USER, ASSISTANT, ASSISTANT, TOOL]
    final_before = [m for m in conv.messages if m.meta and m.meta.get("phase") == "final_answer"][0]
    assert prompts[2].parent_id == final_before.id and prompts[2].active
    calls = {u.name: (u, r) for u, r in conv.tool_calls()}
    assert set(calls) == {"exec_command", "apply_patch", "spawn_agent"}
    _, r = calls["apply_patch"]
    assert r.is_error is False and r.meta["detail"][0]["changes"] == {"/home/ada/src/tidepool/src/sync.rs": "update"}
    failed = [r for u, r in conv.tool_calls() if r and r.is_error]
    assert len(failed) == 1 and failed[0].meta["exit_code"] == 101
    # per response (each change of the cumulative count), summing to the last cumulative count
    usage = [x.usage for x in conv.messages if x.usage]
    assert {k: sum(u.get(k, 0) for u in usage) for k in ("input", "cache_read", "output", "reasoning")} == {
        "input": 83410,
        "cache_read": 62080,
        "output": 1602,
        "reasoning": 704,
    }
    assert [b.type for b in conv.messages[5].blocks] == [THINKING]


def test_example_subagent():
    conv = one(EXAMPLE_DIR / f"rollout-2026-03-14T10-00-00-{SUB_ID}.jsonl")
    assert conv.parent_id == f"codex:{MAIN_ID}" and conv.meta["lineage_kind"] == "subagent"
    assert conv.meta["agent_nickname"] == "Noether"
    # base_instructions, developer, prompt (from the parent), reasoning, web_search_call, answer
    assert [m.role for m in conv.messages] == [SYSTEM, SYSTEM, USER, ASSISTANT, ASSISTANT, ASSISTANT]
    assert "brontofexal" in conv.messages[-1].text
    ((use, res),) = conv.tool_calls()
    assert use.name == "web_search" and res is None and use.meta["detail"][0]["event"] == "web_search_end"
    assert conv.models == ["gpt-5.3-codex-spark"]


def test_example_blocks_are_typed():
    for path in EXAMPLE_DIR.glob("*.jsonl"):
        conv = one(path)
        for _m, b in conv.iter_blocks():
            assert b.type in (TOOL_USE, TOOL_RESULT, THINKING, "text")
            if b.type == "text":
                assert not b.text.startswith(("{'", "[{'"))  # never a Python repr
