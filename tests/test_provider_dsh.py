"""DeepSeek Harness (dsh) session logs (docs/providers.md, "dsh").

The sample was counted by reading it: one message per ``user/message``,
``assistant/message``, ``tool/call`` and ``tool/result`` (2 + 7 + 7 = 16);
chunks, ``request/context``, turns and the permission preset are none.
"""

from __future__ import annotations

import provider_checks as checks
import pytest
from conftest import ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue.errors import ParseError
from polylogue.providers import claude_code, codex, dsh, gemini_cli, read_head
from polylogue.providers import pi_agent as pi

SAMPLES = sample_files("other/dsh_agent")


parse_bytes = checks.bytes_parser(dsh, "session.jsonl")

EXPECTED = {"Mai0313__VibeCodingTracker__session.jsonl": 16}
HEADER = {"type": "session", "version": 0, "id": "s-1", "createdAt": 1786728845574, "cwd": "/w"}


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample(samples, path):
    count = checks.hand_count(EXPECTED, path)
    head = read_head(path.read_bytes())
    checks.sniffed_by_only(dsh, head, path.name)
    assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli, pi))
    (conv,), ctx = parse_bytes(path.read_bytes())
    assert ctx.all_warnings() == []
    assert len(conv.messages) == count
    assert conv.id == "dsh:session-fixture" and conv.project == "/repo/demo"
    assert conv.created_at.isoformat() == "2026-08-14T17:34:05.574000+00:00"
    first = conv.messages[0]
    assert first.text == "abc"  # assembled from the text chunks its sourceEventSeqs name
    assert first.usage == {"input": 10, "output": 100, "cache_read": 200, "cache_write": 50, "convention": "anthropic"}
    last = conv.messages[-1]
    # reasoning split out of outputTokens (80 = 50 + 30)
    assert last.usage == {
        "input": 5,
        "output": 50,
        "reasoning": 30,
        "cache_read": 400,
        "cache_write": 0,
        "convention": "anthropic",
    }
    assert conv.models == ["demo-model", "demo-reasoner"]
    calls = conv.tool_calls()
    assert [u.id for u, _ in calls] == ["c1", "c2", "c3", "c4", "c5", "c6", "c7"]
    assert all(r is not None and r.id == u.id for u, r in calls)
    assert calls[0][0].input == {"file_path": "src/main.rs"}
    assert calls[6][1].is_error is True and calls[6][1].meta["error"]["code"] == "ENOENT"
    assert [r.is_error for _, r in calls[:6]] == [None] * 6  # the log says nothing: unknown


def test_prompt_and_usage_reported_twice():
    lines = [
        HEADER,
        {
            "type": "user/message",
            "seq": 1,
            "time": 1786728846000,
            "data": {"turn": 1, "message": {"role": "user", "content": [{"type": "text", "text": "hello"}]}},
        },
        {
            "type": "assistant/chunk",
            "seq": 2,
            "time": 1786728847000,
            "data": {"turn": 1, "step": 1, "chunk": {"type": "usage", "usage": {"inputTokens": 1, "outputTokens": 1}}},
        },
        {
            "type": "assistant/message",
            "seq": 3,
            "time": 1786728848000,
            "data": {
                "turn": 1,
                "step": 1,
                "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
                "usage": {"inputTokens": 7, "outputTokens": 9},
            },
        },
        {
            "type": "assistant/chunk",
            "seq": 4,
            "time": 1786728849000,
            "data": {"turn": 1, "step": 1, "chunk": {"type": "usage", "usage": {"inputTokens": 7, "outputTokens": 11}}},
        },
    ]
    (conv,), _ = parse_bytes(jsonl(*lines))
    assert [(x.role, x.text) for x in conv.messages] == [("user", "hello"), ("assistant", "hi")]
    assert conv.title == "hello"
    assert conv.messages[1].usage == {
        "input": 7,
        "output": 11,
        "convention": "anthropic",
    }  # last report of the step wins


def test_unknown_version_warns_once():
    (conv,), ctx = parse_bytes(
        jsonl(dict(HEADER, version=3), {"type": "user/message", "seq": 1, "data": {"message": {"content": "x"}}})
    )
    assert len(conv.messages) == 1
    checks.warned_once(ctx, "version 3")


def test_no_header():
    with pytest.raises(ParseError):
        parse_bytes(jsonl({"type": "user/message", "seq": 1, "data": {"message": {"content": "x"}}}))


FUZZ = checks.ParserFuzz(parse_bytes)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "type",
    "seq",
    "time",
    "data",
    "turn",
    "step",
    "message",
    "content",
    "texts",
    "usage",
    "callId",
    "name",
    "arguments",
    "sourceEventSeqs",
    "error",
    "meta",
    "chunk",
    "model",
    "text",
]
_VALUES = [
    "user/message",
    "assistant/message",
    "assistant/chunk",
    "tool/call",
    "tool/result",
    "text-chunks",
    "reasoning-chunks",
    "request/context",
    "usage",
    "text",
    "x",
]
_shaped = checks.json_shaped(_KEYS, st.sampled_from(_VALUES) | st.integers(-5, 40) | st.none() | st.text(max_size=8))


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=6), min_size=1, max_size=8))
def test_fuzz_events(records):
    FUZZ.must_not_raise(jsonl(HEADER, *records))


GOOD_FIRST = {"type": "user/message", "seq": 1, "data": {"message": {"content": "GOOD-ONE"}}}
BAD = {
    "type": "tool/call",
    "seq": 2,
    "time": 1786728851574,
    "data": {"turn": 1, "step": 2, "callId": "c1", "name": "read", "arguments": '{"file_path": "a"}'},
}
GOOD_LAST = {
    "type": "assistant/message",
    "seq": 3,
    "data": {"message": {"content": [{"type": "text", "text": "GOOD-TWO"}]}},
}


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    checks.keeps_the_good(FUZZ.must_not_raise(jsonl(HEADER, GOOD_FIRST, bad, GOOD_LAST)))
