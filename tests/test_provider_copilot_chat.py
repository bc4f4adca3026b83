"""GitHub Copilot Chat in VS Code (docs/providers.md, "copilot-chat"): the shared samples,
our hand-made fixtures (tests/fixtures/copilot_chat/: a v3 session document, a 1.109+
operation log, a workspace.json), sniffing and fuzzing. Numbers are counted by hand."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import provider_checks as checks
import pytest
from conftest import REPO, SHARED_SAMPLES, sample_files
from hypothesis import example, given
from hypothesis import strategies as st
from out_of_range import all_text, jsonl, mutated

from polylogue.errors import ParseError
from polylogue.models import ASSISTANT, ATTACHMENT, SYSTEM, THINKING, TOOL, USER
from polylogue.providers import copilot_chat, detect, is_side_file, parse_path, read_head

SAMPLES = sample_files("other/copilot_vscode")
FIXTURES = REPO / "tests" / "fixtures" / "copilot_chat"
LEGACY = "Dicklesworthstone__coding_agent_session_search__legacy_history_human.json"
REQUESTS = "rajbos__github-copilot-token-usage__session-01-today.json"
CHATS = [FIXTURES / "session-v3.json", FIXTURES / "agent-log.jsonl"]


def parse_file(path: Path):
    return parse_path(str(path), "copilot-chat")


parse_bytes = checks.bytes_parser(copilot_chat)


def ms(n: int) -> datetime:
    return datetime.fromtimestamp(n / 1000, tz=UTC)


def pairs(conv) -> list[tuple]:
    return [(u.id, u.name, r is not None, r.is_error if r else None) for u, r in conv.tool_calls()]


# ---------------------------------------------------------------- the shared samples (both hand-made / synthetic)

EXPECTED = {LEGACY: [2], REQUESTS: [10]}  # 2 history items; 5 requests x (prompt + reply)


test_sample_counts, test_every_sample_is_listed = checks.counted_samples(parse_file, SAMPLES, EXPECTED)


def test_legacy_history(samples):
    (conv,), _ = parse_file(samples / "other" / "copilot_vscode" / LEGACY)
    assert conv.id.startswith("copilot-chat:derived-") and conv.meta["derived_id"]
    assert [(m.role, m.text) for m in conv.messages] == [
        (USER, "Summarize unicode Ω handling 🚀"),
        (ASSISTANT, "Unicode stays normalized and searchable."),  # "result", not "content"
    ]
    assert [m.timestamp for m in conv.messages] == [ms(1700003000000), ms(1700003001000)]
    assert conv.project == "/workspaces/legacy-copilot"


def test_requests_without_session_fields(samples):
    (conv,), _ = parse_file(samples / "other" / "copilot_vscode" / REQUESTS)
    assert conv.meta["derived_id"] is True  # no sessionId: derived from the first request
    assert [m.role for m in conv.messages] == [USER, ASSISTANT] * 5
    assert conv.messages[0].id == "req_today_001"
    assert conv.models == ["claude-sonnet-4.5", "gpt-4o", "o3-mini"]  # modelId without "copilot/"
    # result.promptTokens / result.outputTokens per request, on its reply
    assert sum(m.usage["input"] for m in conv.messages if m.usage) == 42 + 58 + 47 + 35 + 44
    assert sum(m.usage["output"] for m in conv.messages if m.usage) == 312 + 428 + 356 + 389 + 498
    assert conv.messages[1].text.startswith("## Token Estimation in Copilot Token Tracker")
    a, b = parse_file(samples / "other" / "copilot_vscode" / REQUESTS)[0][0], conv
    assert a.id == b.id  # the derived id is stable


# ---------------------------------------------------------------- our fixtures


def test_fixture_session_document():
    (conv,), ctx = parse_file(FIXTURES / "session-v3.json")
    assert ctx.all_warnings() == []
    assert conv.id == "copilot-chat:5b1e0c2a-3333-4a5b-9c8d-0000000000aa"
    assert conv.title == "Build failure in app.ts"
    assert conv.created_at == ms(1775000000000) and conv.updated_at == ms(1775000120000)
    # request 1: prompt, reply (thinking, the terminal call, text), its tool result;
    # request 2: prompt, reply (the edit, text); request 3: prompt, the error notice
    assert [m.role for m in conv.messages] == [USER, ASSISTANT, TOOL, USER, ASSISTANT, USER, SYSTEM]
    prompt = conv.messages[0]
    assert prompt.text == "Why does the build fail?"
    assert prompt.blocks[1].type == ATTACHMENT and prompt.blocks[1].meta["path"] == "/home/u/web/src/app.ts"
    reply = conv.messages[1]
    assert [b.type for b in reply.blocks] == [THINKING, "tool_use", "text"]
    # three markdown parts and an inline reference are one text
    assert reply.text == "The build fails on an undefined name in `app.ts`: declare `foo` before line 12."
    assert reply.timestamp == ms(1775000009000)  # responseTimestamp
    assert reply.usage == {"convention": "openai", "input": 1200, "output": 80}
    assert reply.model == "gpt-4.1"
    call = reply.blocks[1]
    assert call.name == "run_in_terminal" and call.input == "npm run build"
    assert call.meta["invocation"] == "Running `npm run build`"
    assert pairs(conv) == [(call.id, "run_in_terminal", True, True)]  # resultDetails.isError
    assert "TS2304" in conv.tool_calls()[0][1].text
    edit = conv.messages[4].blocks[0]
    assert edit.type == ATTACHMENT and edit.name == "/home/u/web/src/app.ts" and edit.meta["edits"] == 1
    assert conv.messages[4].meta["vote"] == 1
    assert conv.messages[-1].context and conv.messages[-1].text.startswith("Sorry, your request failed")
    assert conv.meta["response_parts"]["prepareToolInvocation"] == 1


def test_fixture_operation_log():
    (conv,), ctx = parse_file(FIXTURES / "agent-log.jsonl")
    assert ctx.all_warnings() == []
    assert conv.id == "copilot-chat:9c4d2e1f-4444-4b5c-8d9e-0000000000bb"
    assert conv.title == "Health endpoint"  # set by a later line
    assert conv.project == "/home/u/shop"  # workingDirectory, a file URI
    assert conv.updated_at == ms(1775000091000)
    # request 1 (agent mode): 3 tool-call rounds (assistant + results, assistant + results, answer);
    # request 2: prompt + reply. The "partial answer" push was truncated away (i: 0).
    assert [m.role for m in conv.messages] == [USER, ASSISTANT, TOOL, ASSISTANT, TOOL, ASSISTANT, USER, ASSISTANT]
    assert "partial answer" not in all_text([conv])
    assert pairs(conv) == [
        ("toolu_01read", "read_file", True, None),
        ("toolu_02edit", "replace_string_in_file", True, None),
        ("toolu_03test", "run_in_terminal", True, None),
    ]
    assert conv.tool_calls()[2][1].text == "3 passed in 0.41s"
    assert conv.tool_calls()[0][0].input == {"filePath": "/home/u/shop/app.py"}
    assert [b.text for b in conv.thinking()] == ["Look at the router first."]
    # the rounds are what the model did: the response[] parts are counted, not imported twice
    assert all_text([conv]).count("Added `/health`; the 3 tests pass.") == 1
    usage = [m.usage for m in conv.messages if m.usage]
    assert usage == [{"convention": "openai", "input": 15200, "output": 310}]
    assert conv.models == ["claude-sonnet-4.5"]  # resolvedModel
    assert conv.messages[0].meta["mode"] == "agent"


def test_workspace_json_is_a_side_file():
    head = checks.head_of(FIXTURES / "workspace.json")
    assert not copilot_chat.sniff(head) and detect(head) is None
    assert is_side_file(head)


# ---------------------------------------------------------------- rules for all providers


def _log(*ops) -> bytes:
    return jsonl(*ops)


BASE = {"kind": 0, "v": {"version": 3, "sessionId": "s-ops", "creationDate": 1775000000000, "requests": []}}


def _request(rid: str, text: str, answer: str) -> dict:
    return {"requestId": rid, "timestamp": 1775000001000, "message": {"text": text}, "response": [{"value": answer}]}


def test_unknown_version_imports_and_says_so_once():
    doc = {"version": 9, "sessionId": "s9", "requests": [_request("r1", "GOOD-ONE", "GOOD-TWO")]}
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert [m.text for m in conv.messages] == ["GOOD-ONE", "GOOD-TWO"]
    checks.warned_once(ctx, "version 9")


def test_bad_operations_cost_only_themselves():
    data = (
        _log(
            BASE,
            {"kind": 2, "k": ["requests"], "v": [_request("r1", "GOOD-ONE ask", "GOOD-TWO answer")]},
            {"kind": 1, "k": ["nowhere", 3, "x"], "v": 1},
            {"kind": 7, "k": ["requests"], "v": []},
        )
        + b"{broken\n"
        + _log({"kind": 3, "k": ["requests", 0, "result"]})
    )
    (conv,), ctx = parse_bytes(data)
    assert [m.text for m in conv.messages] == ["GOOD-ONE ask", "GOOD-TWO answer"]
    assert [w.line for w in ctx.warnings] == [3, 4, 5]


def test_a_log_without_its_first_line_fails_clearly():
    with pytest.raises(ParseError, match="kind 0"):
        parse_bytes(_log({"kind": 1, "k": ["customTitle"], "v": "x"}, {"kind": 1, "k": ["customTitle"], "v": "y"}))


def test_empty_session_is_a_note_not_a_conversation():
    convs, ctx = parse_bytes(_log(BASE))
    assert convs == [] and ctx.notes


def test_sniff_takes_every_form(samples):
    for path in [*SAMPLES, *CHATS]:
        head = checks.head_of(path)
        assert copilot_chat.sniff(head), path.name
        assert detect(head) is copilot_chat.PROVIDER, path.name


def test_other_sniffers_leave_these_files_alone(samples):
    for path in [*SAMPLES, *CHATS]:
        assert checks.claimed_by_others(copilot_chat, checks.head_of(path)) == [], path.name


def test_sniffer_leaves_other_providers_samples_alone(samples):
    assert checks.samples_claimed(copilot_chat, outside="copilot_vscode") == []


def test_sniff_refuses_lookalikes():
    chatbot_ui = b'{"version": 4, "history": [{"id": "1", "name": "c", "messages": []}], "folders": [], "prompts": []}'
    har = b'{"log": {"entries": [{"request": {}, "response": {}}]}}'
    other_ops = b'{"kind": 0, "v": {"items": []}}\n{"kind": 1, "k": ["x"], "v": 1}\n'
    for data in (chatbot_ui, har, other_ops, b'{"requests": [1, 2]}'):
        assert not copilot_chat.sniff(read_head(data)), data


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes, max_examples=150)
test_fuzz_bytes = FUZZ.random_bytes(max_size=3000)

_KEYS = [
    "requestId",
    "message",
    "text",
    "response",
    "kind",
    "value",
    "content",
    "result",
    "metadata",
    "toolCallRounds",
    "toolCallResults",
    "toolCalls",
    "id",
    "name",
    "arguments",
    "thinking",
    "toolCallId",
    "toolId",
    "resultDetails",
    "output",
    "isComplete",
    "toolSpecificData",
    "commandLine",
    "variableData",
    "variables",
    "uri",
    "timestamp",
    "promptTokens",
    "completionTokens",
    "modelId",
    "errorDetails",
]
_VALUES = ["thinking", "toolInvocationSerialized", "markdownContent", "inlineReference", "textEditGroup", "undoStop"]
_shaped = checks.json_shaped(_KEYS, checks.wide_scalars(_VALUES), max_leaves=25)
_path = st.lists(st.sampled_from(["requests", "response", "result", "customTitle", 0, 1, -1, 5]), max_size=4)
_op = st.fixed_dictionaries(
    {"kind": st.sampled_from([0, 1, 2, 3, 4, None, "1"]), "k": _path | _shaped, "v": _shaped},
    optional={"i": st.sampled_from([0, 1, -1, 10**20, None, "x"])},
)


@FUZZ
@given(st.lists(_shaped, max_size=4), st.lists(_op, max_size=10))
def test_fuzz_operation_logs(requests, ops):
    first = {"kind": 0, "v": {"version": 3, "sessionId": "fz", "requests": requests}}
    FUZZ.must_not_raise(b"\n".join(json.dumps(o).encode() for o in [first, *ops]))


@FUZZ
@given(
    st.dictionaries(st.sampled_from(["sessionId", "version", "customTitle", "creationDate"]), _shaped),
    st.lists(_shaped, max_size=5),
    st.booleans(),
)
@example({}, [{"requestId": 0}, {"requestId": 0}], False)  # one request id twice: two turns, two ids
def test_fuzz_documents(fields, requests, pretty):
    doc = {**fields, "requests": requests}
    FUZZ.must_not_raise(json.dumps(doc, indent=2 if pretty else None).encode())


@FUZZ
@given(st.lists(_shaped, max_size=5), _shaped)
def test_fuzz_legacy(history, workspace):
    FUZZ.must_not_raise(json.dumps({"history": history, "workspacePath": workspace}).encode())


def _corpus() -> list[bytes]:
    files = list(CHATS)
    if SHARED_SAMPLES.is_dir():
        files += SAMPLES
    return [p.read_bytes() for p in files]


CORPUS = _corpus()
test_fuzz_truncated = FUZZ.truncated(CORPUS)
test_fuzz_flipped_byte = FUZZ.flipped_byte(CORPUS)


GOOD = [_request("g1", "GOOD-ONE ask", "first answer"), _request("g2", "second", "GOOD-TWO answer")]
TEMPLATE = json.loads((FIXTURES / "session-v3.json").read_text())["requests"][0]


@FUZZ
@given(mutated(TEMPLATE))
def test_fuzz_out_of_range_values_keep_the_good_requests(bad):
    doc = {"version": 3, "sessionId": "s-oor", "requests": [GOOD[0], bad, GOOD[1]]}
    data = json.dumps(doc, allow_nan=True).encode()
    FUZZ.must_not_raise(data)
    try:
        convs, _ = parse_bytes(data)
    except ParseError:
        return  # a number the JSON reader refuses ends the document there (docs/providers.md)
    checks.keeps_the_good(convs)


def test_roles_of_fixtures_by_hand():
    counts = Counter(m.role for p in CHATS for c in parse_file(p)[0] for m in c.messages)
    assert counts == {USER: 5, ASSISTANT: 6, TOOL: 3, SYSTEM: 1}


# ---------------------------------------------------------------- default locations


@pytest.mark.parametrize(
    ("platform", "environ", "user_dir"),
    [
        ("linux", {}, ".config/{app}/User"),
        ("linux", {"XDG_CONFIG_HOME": "/x"}, "/x/{app}/User"),
        ("darwin", {}, "Library/Application Support/{app}/User"),
        ("win32", {}, "AppData/Roaming/{app}/User"),
        ("win32", {"APPDATA": "/r"}, "/r/{app}/User"),
    ],
)
def test_default_locations(platform, environ, user_dir, tmp_path):
    from polylogue.sources import default_sources

    user = tmp_path / "home"
    got = [
        p
        for name, p in default_sources(tmp_path, platform=platform, environ=environ, user=user)
        if name == "copilot-chat"
    ]
    apps = ("Code", "Code - Insiders", "VSCodium")
    assert got == [user / user_dir.format(app=app) for app in apps]  # an absolute template ignores the home


def test_default_location_reads_only_chat_sessions(tmp_path):
    from polylogue.sources import default_sources, discover

    user = tmp_path / "home"
    roots = [
        p for name, p in default_sources(tmp_path, platform="linux", environ={}, user=user) if name == "copilot-chat"
    ]
    code = user / ".config" / "Code" / "User"
    ws = code / "workspaceStorage" / "0a1b2c"
    (ws / "chatSessions").mkdir(parents=True)
    (ws / "chatSessions" / "a.json").write_bytes((FIXTURES / "session-v3.json").read_bytes())
    (ws / "chatSessions" / "b.jsonl").write_bytes((FIXTURES / "agent-log.jsonl").read_bytes())
    (ws / "workspace.json").write_text('{"folder": "file:///home/u/web"}')
    (ws / "ms-python.python").mkdir()
    (ws / "ms-python.python" / "cache.json").write_text('{"other": "extension"}')
    (ws / "chatEditingSessions" / "a").mkdir(parents=True)
    (ws / "chatEditingSessions" / "a" / "state.json").write_text("{}")
    (code / "globalStorage" / "emptyWindowChatSessions").mkdir(parents=True)
    (code / "globalStorage" / "emptyWindowChatSessions" / "c.json").write_text("{}")
    (code / "settings.json").write_text("{}")
    found = sorted(f.path.relative_to(code).as_posix() for f in discover(roots, []))
    assert found == [
        "globalStorage/emptyWindowChatSessions/c.json",
        "workspaceStorage/0a1b2c/chatSessions/a.json",
        "workspaceStorage/0a1b2c/chatSessions/b.jsonl",
    ]
