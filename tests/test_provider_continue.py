"""Continue sessions (docs/providers.md, "continue"). The shared samples hold none: our
hand-made fixtures (tests/fixtures/continue/) follow Continue's own types
(``Session``/``ChatHistoryItem`` in its core/index.d.ts): an agent session of today, an
early one without message ids, and the ``sessions.json`` index. Counted by hand."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import provider_checks as checks
from conftest import REPO, SHARED_SAMPLES
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import all_text, mutated

from polylogue.errors import ParseError
from polylogue.models import ASSISTANT, IMAGE, SYSTEM, THINKING, TOOL, USER
from polylogue.providers import continue_dev, detect, is_side_file, parse_path, read_head

FIXTURES = REPO / "tests" / "fixtures" / "continue"
AGENT = FIXTURES / "session-agent.json"
OLD = FIXTURES / "session-old.json"
INDEX = FIXTURES / "sessions.json"


def parse_file(path: Path):
    return parse_path(str(path), "continue")


parse_bytes = checks.bytes_parser(continue_dev)


def ms(n: int) -> datetime:
    return datetime.fromtimestamp(n / 1000, tz=UTC)


def test_agent_session():
    (conv,), ctx = parse_file(AGENT)
    assert ctx.all_warnings() == []
    assert conv.id == "continue:6f1d2c3b-5a49-4e8f-9d7c-1b2a3c4d5e6f"
    assert conv.title == "Rename foo to bar"
    assert conv.project == "/home/u/proj"  # workspaceDirectory, a file URI
    # 8 history items; + the result only toolCallStates holds (call 2) + the conversationSummary
    assert [m.id for m in conv.messages] == [
        "u1",
        "a1",
        "t1",
        "a2",
        "u2",
        "th1",
        "a3",
        "a3#toolu_call2",
        "a4",
        "a4#summary",
    ]
    assert Counter(m.role for m in conv.messages) == {ASSISTANT: 5, USER: 2, TOOL: 2, SYSTEM: 1}
    prompt = conv.messages[0]
    assert prompt.text == "Rename foo to bar in utils.py"
    image, item = prompt.blocks[1], prompt.blocks[2]
    assert image.type == IMAGE and image.meta["mime"] == "image/png" and image.meta["inline"] is True
    # the attached file: named and placed, its contents not copied into the archive
    assert (
        item.name == "utils.py" and item.meta["uri"] == "file:///home/u/proj/src/utils.py" and item.meta["size"] == 24
    )
    assert "return 1" not in all_text([conv])
    # reasoning.text on a1 and the thinking-role message th1
    assert [b.text for b in conv.thinking()] == ["I need to edit the file.", "Run pytest on the whole suite."]
    calls = [(u.id, u.name, r is not None, r.is_error if r else None) for u, r in conv.tool_calls()]
    assert calls == [
        ("toolu_call1", "edit_existing_file", True, None),
        ("toolu_call2", "run_terminal_command", True, True),
    ]
    assert conv.tool_calls()[0][0].input["filepath"] == "src/utils.py"
    built = conv.messages[7]
    assert built.blocks[0].text == "1 failed, 4 passed" and built.blocks[0].meta["outcome"] == "error"
    # usage per reply (Anthropic counts: input without the cache); the session's total stays in meta
    assert conv.messages[1].usage == {
        "convention": "anthropic",
        "input": 1500,
        "output": 60,
        "cache_read": 1000,
        "cache_write": 200,
    }
    assert sum(m.usage["output"] for m in conv.messages if m.usage) == 80
    assert conv.meta["session_usage"] == {"promptTokens": 3200, "completionTokens": 80, "totalCost": 0.0123}
    assert conv.models == ["claude-sonnet-4-20250514"]  # promptLogs' completionOptions.model, not the title
    assert conv.meta["prompt_logs"] == 2 and "<system>" not in all_text([conv])  # prompt logs are not dialogue
    summary = conv.messages[-1]
    assert summary.context and summary.meta["kind"] == "summary"
    assert conv.messages[1].timestamp == ms(1759400001000)  # reasoning.startAt, the only time per message
    # the one date Continue keeps: sessions.json, beside the session
    assert conv.created_at == ms(1759400000000) and conv.meta["created_from"] == "sessions.json"
    assert [m.parent_id for m in conv.messages[1:]] == [m.id for m in conv.messages[:-1]]


def test_early_session_without_ids():
    (conv,), _ = parse_file(OLD)
    sid = "0b9f8e7d-1c2b-4a39-8d7e-6f5a4b3c2d1e"
    assert [m.id for m in conv.messages] == [f"{sid}:{i}" for i in range(4)]
    assert all(m.meta["derived_id"] for m in conv.messages)
    assert [m.role for m in conv.messages] == [USER, ASSISTANT, USER, ASSISTANT]
    assert conv.meta["prompt_logs"] == 1  # the old [prompt, completion] pair
    assert conv.created_at == ms(1718000000000)  # from the index
    assert conv.project == "/home/u/site"


def test_without_the_index_there_is_no_date():
    (conv,), _ = parse_bytes(OLD.read_bytes())
    assert conv.created_at is None and "created_from" not in conv.meta


def test_index_is_a_side_file():
    head = checks.head_of(INDEX)
    assert not continue_dev.sniff(head) and detect(head) is None and is_side_file(head)
    old = b'[{"session_id": "x", "title": "t", "date_created": "1700000000000", "workspace_directory": "/w"}]'
    assert is_side_file(read_head(old))
    with __import__("pytest").raises(ParseError, match="index"):
        parse_bytes(INDEX.read_bytes())


def test_unknown_role_imports_and_says_so_once():
    doc = {
        "sessionId": "s-role",
        "title": "t",
        "workspaceDirectory": "/w",
        "history": [
            {"message": {"role": "user", "content": "GOOD-ONE"}, "contextItems": []},
            {"message": {"role": "critic", "content": "hmm"}, "contextItems": []},
            {"message": {"role": "critic", "content": "hmm again"}, "contextItems": []},
            {"message": {"role": "assistant", "content": "GOOD-TWO"}, "contextItems": []},
        ],
    }
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert [m.role for m in conv.messages] == [USER, SYSTEM, SYSTEM, ASSISTANT]
    checks.warned_once(ctx, "critic")


def test_bad_items_cost_only_themselves():
    doc = json.loads(OLD.read_text())
    doc["history"][1:1] = [5, {"contextItems": []}, {"message": "x"}]
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert len(conv.messages) == 4 and len(ctx.warnings) == 3


def test_sniff():
    for path in (AGENT, OLD):
        head = checks.head_of(path)
        assert continue_dev.sniff(head) and detect(head) is continue_dev.PROVIDER
        assert checks.claimed_by_others(continue_dev, head) == []
    gemini = b'{"sessionId": "s", "projectHash": "p", "history": [], "messages": []}'
    copilot = b'{"sessionId": "s", "startTime": "t", "chatMessages": [], "timeline": []}'
    for data in (gemini, copilot, b'{"history": [{"message": {}}]}'):
        assert not continue_dev.sniff(read_head(data))


def test_sniffer_leaves_other_providers_samples_alone():
    if not SHARED_SAMPLES.is_dir():
        return
    assert checks.samples_claimed(continue_dev) == []


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, max_examples=150)
test_fuzz_bytes = FUZZ.random_bytes(max_size=3000)
_KEYS = [
    "message",
    "role",
    "content",
    "id",
    "toolCalls",
    "function",
    "name",
    "arguments",
    "toolCallId",
    "toolCallStates",
    "toolCallState",
    "status",
    "output",
    "contextItems",
    "reasoning",
    "text",
    "startAt",
    "promptLogs",
    "usage",
    "promptTokens",
    "completionTokens",
    "type",
    "imageUrl",
    "url",
    "conversationSummary",
]
_VALUES = ["user", "assistant", "thinking", "tool", "system", "text", "imageUrl", "done", "errored", "c1"]
_shaped = checks.json_shaped(_KEYS, checks.wide_scalars(_VALUES), max_leaves=25)


@FUZZ
@given(st.lists(_shaped, max_size=6), _shaped, st.booleans())
def test_fuzz_sessions(history, usage, pretty):
    doc = {"sessionId": "fz", "title": "t", "workspaceDirectory": "/w", "history": history, "usage": usage}
    FUZZ.must_not_raise(json.dumps(doc, indent=2 if pretty else None).encode())


CORPUS = [AGENT.read_bytes(), OLD.read_bytes()]
test_fuzz_truncated = FUZZ.truncated(CORPUS)
test_fuzz_flipped_byte = FUZZ.flipped_byte(CORPUS)


TEMPLATE = json.loads(AGENT.read_text())["history"][1]


@FUZZ
@given(mutated(TEMPLATE))
def test_fuzz_out_of_range_values_keep_the_good_items(bad):
    doc = {
        "sessionId": "s-oor",
        "title": "t",
        "workspaceDirectory": "/w",
        "history": [
            {"message": {"role": "user", "content": "GOOD-ONE ask"}, "contextItems": []},
            bad,
            {"message": {"role": "assistant", "content": "GOOD-TWO answer"}, "contextItems": []},
        ],
    }
    data = json.dumps(doc, allow_nan=True).encode()
    FUZZ.must_not_raise(data)
    try:
        convs, _ = parse_bytes(data)
    except ParseError:
        return  # a number the JSON reader refuses ends the document (docs/providers.md)
    checks.keeps_the_good(convs)


def test_blocks_are_typed():
    (conv,), _ = parse_file(AGENT)
    types = Counter(b.type for m in conv.messages for b in m.blocks)
    # text: u1, a2, u2, a4 and the summary (a1 and a3 have empty content)
    assert types == {"text": 5, THINKING: 2, "tool_use": 2, "tool_result": 2, IMAGE: 1, "attachment": 1}


# ---------------------------------------------------------------- default locations


def test_default_locations(tmp_path):
    from polylogue.sources import default_sources

    user = tmp_path / "home"
    for platform in ("linux", "darwin", "win32"):
        got = dict(default_sources(tmp_path, platform=platform, environ={}, user=user))
        assert got["continue"] == user / ".continue" / "sessions"
        moved = dict(default_sources(tmp_path, platform=platform, environ={"CONTINUE_GLOBAL_DIR": "/g"}, user=user))
        assert moved["continue"] == __import__("pathlib").Path("/g/sessions")


def test_a_sync_of_the_sessions_folder(tmp_path):
    """The session files import with their dates; the index beside them is skipped quietly."""
    from polylogue import Archive

    folder = tmp_path / "sessions"
    folder.mkdir()
    for p in (AGENT, OLD, INDEX):
        (folder / p.name).write_bytes(p.read_bytes())
    archive = Archive(tmp_path / "archive")
    report = archive.sync([folder])
    assert report.errors == [] and report.exit_code == 0
    listed = archive.list(provider="continue")
    assert sorted(c["id"] for c in listed) == [
        "continue:0b9f8e7d-1c2b-4a39-8d7e-6f5a4b3c2d1e",
        "continue:6f1d2c3b-5a49-4e8f-9d7c-1b2a3c4d5e6f",
    ]
