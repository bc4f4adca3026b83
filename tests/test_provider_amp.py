"""Amp threads (docs/providers.md, "amp").

Counts were made by reading the files: each element of ``messages`` is one message.
"""

from __future__ import annotations

import json

import provider_checks as checks
import pytest
from conftest import REPO, ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import accepted, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import amp, claude_code, codex, gemini_cli, read_head

SAMPLES = sample_files("other/amp")
FIXTURE = REPO / "tests" / "fixtures" / "amp" / "T-4f9a2b7c-1d3e-4a5b-8c6d-9e0f1a2b3c4d.json"


parse_bytes = checks.bytes_parser(amp, "thread.json")


def one(data: bytes) -> m.Conversation:
    convs, ctx = parse_bytes(data)
    assert len(convs) == 1, ctx.all_warnings()
    return convs[0]


EXPECTED = {"Dicklesworthstone__coding_agent_session_search__thread-001.json": 2}


@pytest.mark.parametrize("path", [*SAMPLES, FIXTURE], ids=ids([*SAMPLES, FIXTURE]))
def test_detection(path):
    head = read_head(path.read_bytes())
    checks.sniffed_by_only(amp, head, path.name)
    assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli))


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample(samples, path):
    count = checks.hand_count(EXPECTED, path)
    conv = one(path.read_bytes())
    assert len(conv.messages) == count
    assert conv.id == "amp:thread-001" and conv.title == "Amp sample thread"
    assert [(x.role, x.text) for x in conv.messages] == [("user", "Hello"), ("assistant", "Hi there")]
    assert [x.timestamp.isoformat() for x in conv.messages] == [
        "2023-11-14T22:13:20+00:00",
        "2023-11-14T22:13:25+00:00",
    ]
    assert all(x.meta["derived_id"] for x in conv.messages)  # the minimal shape has no message ids


def test_fixture_thread():
    conv = one(FIXTURE.read_bytes())
    assert conv.id == "amp:T-4f9a2b7c-1d3e-4a5b-8c6d-9e0f1a2b3c4d"
    assert len(conv.messages) == 8  # 8 elements of messages
    assert [x.role for x in conv.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "user",
        "system",
        "assistant",
    ]
    assert conv.project == "/home/ada/src/lantern"  # the first workspace tree
    assert conv.parent_id == "amp:T-0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d" and conv.meta["link_type"] == "handoff"
    assert conv.created_at.isoformat() == "2026-02-11T08:53:20+00:00"
    calls = {u.id: r for u, r in conv.tool_calls()}
    assert calls["toolu_01Xy"].text == "38.12s call test_search_reindexes_every_time"
    assert calls["toolu_01Xy"].is_error is False and calls["toolu_01Xy"].meta["outcome"] == "success"
    assert calls["toolu_02Ab"].is_error is True and calls["toolu_02Ab"].meta["outcome"] == "rejected"
    by = {x.id: x for x in conv.messages}
    assert by["1"].usage == {
        "input": 12,
        "output": 95,
        "cache_read": 18000,
        "cache_write": 2400,
        "convention": "anthropic",
    }
    assert by["1"].timestamp.isoformat() == "2026-02-11T09:33:25+00:00"  # from its usage: replies have no sentAt
    assert sum(x.usage["output"] for x in conv.messages if x.usage) == 95 + 60 + 40
    assert by["6"].context and by["6"].text.startswith("The user wants")
    assert by["7"].meta["redacted_thinking"] == 1 and [b.text for b in conv.thinking()] == [
        "Profile the test before guessing."
    ]
    assert [x.text for x in conv.substantive() if x.role == "user"] == [
        "test_search takes 40 s. Make it faster without losing coverage.",
        "Don't share the index between tests; build it once per module.",
    ]


def test_bad_messages_cost_only_themselves():
    doc = json.loads(FIXTURE.read_bytes())
    doc["messages"].insert(1, "not a message")
    doc["messages"].insert(3, {"role": "wizard", "content": [{"type": "text", "text": "odd"}]})
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert len(conv.messages) == 9 and len(ctx.warnings) == 2


def test_not_a_thread():
    with pytest.raises(ParseError):
        parse_bytes(b'{"messages": 3}')
    with pytest.raises(ParseError):
        parse_bytes(b'{"messages": [], "title": "no id"}')


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "role",
    "content",
    "type",
    "text",
    "id",
    "messageId",
    "meta",
    "sentAt",
    "toolUseID",
    "run",
    "status",
    "result",
    "usage",
    "inputTokens",
    "model",
    "summary",
    "thinking",
    "input",
    "name",
]
_VALUES = ["user", "assistant", "info", "text", "thinking", "tool_use", "tool_result", "done", "error", "summary"]
_shaped = checks.json_shaped(
    _KEYS, st.sampled_from(_VALUES) | st.integers(-5, 10**13) | st.none() | st.text(max_size=8) | st.booleans()
)


@FUZZ
@given(st.lists(_shaped, max_size=8), st.booleans())
def test_fuzz_shaped_messages(messages, pretty):
    doc = {"v": 1, "id": "T-fz", "created": 1770800000000, "messages": messages}
    FUZZ.must_not_raise(json.dumps(doc, indent=2 if pretty else None).encode())


test_fuzz_truncated = FUZZ.truncated([FIXTURE.read_bytes()])


GOOD_FIRST = {"role": "user", "messageId": 0, "content": [{"type": "text", "text": "GOOD-ONE"}], "meta": {"sentAt": 1}}
BAD = json.loads(FIXTURE.read_bytes())["messages"][1]
GOOD_LAST = {"role": "assistant", "messageId": 9, "content": [{"type": "text", "text": "GOOD-TWO"}]}


@FUZZ
@given(mutated(BAD, accepted))
def test_fuzz_out_of_range_values_keep_the_good_messages(bad):
    doc = {"v": 1, "id": "T-oor", "created": 1770800000000, "messages": [GOOD_FIRST, bad, GOOD_LAST]}
    checks.keeps_the_good(FUZZ.must_not_raise(json.dumps(doc).encode()))
