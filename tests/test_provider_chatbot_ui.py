"""Chatbot UI exports (docs/providers.md, "chatbot-ui").

The sample was counted by reading it: two conversations of 4 and 2 messages,
each with a system prompt (one more, context, per conversation).
"""

from __future__ import annotations

import json

import provider_checks as checks
import pytest
from conftest import ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import accepted, mutated

from polylogue.errors import ParseError
from polylogue.providers import chatbot_ui, read_head

SAMPLES = sample_files("other/chatbot_ui")


parse_bytes = checks.bytes_parser(chatbot_ui, "export.json")


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample(samples, path):
    checks.sniffed_by_only(chatbot_ui, read_head(path.read_bytes()), path.name)
    convs, ctx = parse_bytes(path.read_bytes())
    assert ctx.all_warnings() == []
    assert [len(c.messages) for c in convs] == [5, 3]
    first, second = convs
    assert first.id == "chatbot-ui:493cb218-9ebb-4d35-af8b-5aded3f351be"
    assert first.title == "Hello what are you able to do?" and first.models == ["gpt-4-1106-preview"]
    assert first.messages[0].context and first.messages[0].text.startswith("You are ChatGPT")
    assert [x.role for x in first.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert [x.parent_id for x in first.messages][1:] == [x.id for x in first.messages][:-1]
    assert second.models == ["gpt-3.5-turbo"] and second.meta["temperature"] == 0.5
    assert all(x.timestamp is None for c in convs for x in c.messages)


def test_unknown_version_and_a_bad_conversation():
    doc = {
        "version": 9,
        "history": [{"id": "a", "messages": [{"role": "user", "content": "hi"}]}, "junk", {"name": "no id"}],
        "folders": [],
    }
    convs, ctx = parse_bytes(json.dumps(doc).encode())
    assert [c.provider_id for c in convs] == ["a"]
    assert len(ctx.warnings) == 3 and "version 9" in ctx.warnings[0].reason


def test_not_an_export():
    with pytest.raises(ParseError):
        parse_bytes(b'{"history": 1}')


FUZZ = checks.ParserFuzz(parse_bytes)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = ["id", "name", "messages", "role", "content", "model", "prompt", "temperature", "folderId", "type"]
_shaped = checks.json_shaped(
    _KEYS,
    st.sampled_from(["user", "assistant", "system", "text", "x"])
    | st.integers(-5, 10)
    | st.none()
    | st.text(max_size=8),
)


@FUZZ
@given(st.lists(_shaped, max_size=5))
def test_fuzz_history(history):
    FUZZ.must_not_raise(json.dumps({"version": 4, "history": history, "folders": [], "prompts": []}).encode())


GOOD = {
    "id": "g",
    "name": "n",
    "messages": [{"role": "user", "content": "GOOD-ONE"}, {"role": "assistant", "content": "GOOD-TWO"}],
}
BAD = {
    "id": "b",
    "name": "b",
    "messages": [{"role": "user", "type": "text", "content": "x"}],
    "model": {"id": "m"},
    "prompt": "p",
    "temperature": 1,
    "folderId": None,
}


@FUZZ
@given(mutated(BAD, accepted))
def test_fuzz_out_of_range_values_keep_the_good_conversation(bad):
    checks.keeps_the_good(
        FUZZ.must_not_raise(json.dumps({"version": 4, "history": [GOOD, bad], "folders": []}).encode())
    )
