"""Open WebUI chat export (docs/providers.md, "open-webui").

The shared sample (other/openwebui, hand-made by LibreChat's importer tests)
holds 3 chats of 2 messages each, whose replies carry ``output[]`` items
(reasoning; a function call and its output; none). tests/fixtures/openwebui/
chat-export.json is built to the schema of older versions: chat 1 has a user
prompt with two replies (a regeneration; ``currentId`` picks the second, then
a follow-up), the rendered ``<details type="reasoning">`` and
``<details type="tool_calls">`` forms and a raw ``<think>`` block, Ollama and
OpenAI usage; chat 2 has only the flat ``chat.messages`` list. Counts were
read from the files by eye."""

from __future__ import annotations

import json
from pathlib import Path

import provider_checks as checks
import pytest
from conftest import SHARED_SAMPLES
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import accepted, dumps, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import detect, openwebui, read_head

SAMPLE = SHARED_SAMPLES / "other" / "openwebui" / "danny-avila__LibreChat__openwebui-export.json"
FIXTURE = Path(__file__).parent / "fixtures" / "openwebui" / "chat-export.json"


parse_bytes = checks.bytes_parser(openwebui, "chat-export.json")
check = checks.tree_of("open-webui")


def kinds(msg: m.Message) -> list[str]:
    return [b.type for b in msg.blocks]


# ---------------------------------------------------------------- counted by hand


def test_sample_output_items(samples):
    convs, ctx = parse_bytes(SAMPLE.read_bytes())
    check(convs)
    assert ctx.warnings == []
    assert [c.provider_id for c in convs] == ["reasoning-chat", "tool-chat", "simple-chat"]
    assert [len(c.messages) for c in convs] == [2, 2, 2]
    reasoning, tool, simple = convs
    assert kinds(reasoning.messages[1]) == [m.THINKING, m.TEXT]
    assert reasoning.messages[1].text == "255"  # the <details> rendering is not read: output[] is
    assert reasoning.messages[1].blocks[0].text == "15 * 17 = 15 * 10 + 15 * 7 = 150 + 105 = 255"
    assert kinds(tool.messages[1]) == [m.TOOL_USE, m.TOOL_RESULT, m.TEXT]
    use, result = tool.messages[1].blocks[:2]
    assert (use.id, use.name, use.input, result.id, result.text) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
        "call_1",
        "Paris: 18C, rain",
    )
    assert simple.messages[1].text == "Hi there!" and simple.models == ["llama3.1:latest"]
    assert str(reasoning.created_at) == "2023-11-14 22:13:20+00:00"


def test_fixture_rendered_content_and_branches():
    convs, ctx = parse_bytes(FIXTURE.read_bytes())
    check(convs)
    assert ctx.warnings == []
    weather, old = convs
    assert [(x.id, x.role, x.parent_id, x.active) for x in weather.messages] == [
        ("m1", m.USER, None, True),
        ("m2", m.ASSISTANT, "m1", False),
        ("m3", m.ASSISTANT, "m1", True),
        ("m4", m.USER, "m3", True),
    ]
    m1, m2, m3, _ = weather.messages
    assert kinds(m1) == [m.TEXT, m.ATTACHMENT] and m1.blocks[1].name == "trip.md"
    assert kinds(m2) == [m.THINKING, m.TOOL_USE, m.TOOL_RESULT, m.TEXT]
    assert m2.blocks[0].text == "The user wants Oslo's weather.\nCall get_weather."
    assert m2.blocks[1].input == {"city": "Oslo"} and m2.blocks[2].text == "Oslo: 4C, snow"
    assert m2.text == "It is 4°C and snowing in Oslo."
    assert m2.usage == {"input": 212, "output": 57, "convention": "openai"}
    assert kinds(m3) == [m.THINKING, m.TEXT] and m3.text == "Oslo is usually cold in January."
    assert m3.usage == {"input": 180, "output": 24, "cache_read": 128, "convention": "openai"}
    assert m3.meta["sources"][0]["source"]["name"] == "trip.md"
    assert weather.models == ["qwen3:8b", "gpt-4o-mini"] and weather.meta["tags"] == ["travel"]
    assert [(x.id, x.parent_id) for x in old.messages] == [("o1", None), ("o2", "o1")]
    assert old.meta["tree"] == "linear (chat.messages)" and old.messages[1].usage["output"] == 3


def test_sniffer(samples):
    assert checks.samples_claimed(openwebui) == [SAMPLE.name]
    for path in (SAMPLE, FIXTURE):
        head = read_head(path.read_bytes())
        assert detect(head) is openwebui.PROVIDER
        assert checks.claimed_by_others(openwebui, head) == [], path.name


# ---------------------------------------------------------------- versions and bad input


def chat(cid: str, messages: dict, current: str | None = None, **top) -> dict:
    return {
        "id": cid,
        "user_id": "u",
        "title": cid,
        "chat": {"models": ["x"], "history": {"currentId": current, "messages": messages}},
        "created_at": 1700000000,
        "updated_at": 1700000100,
        **top,
    }


def msg(mid: str, parent: str | None, role: str, content, **extra) -> dict:
    return {
        "id": mid,
        "parentId": parent,
        "childrenIds": [],
        "role": role,
        "content": content,
        "timestamp": 1700000000,
        **extra,
    }


def test_unknown_items_kept_with_one_warning():
    doc = [
        chat(
            "c1",
            {
                "a": msg("a", None, "user", "GOOD-ONE"),
                "b": msg(
                    "b",
                    "a",
                    "assistant",
                    '<details type="web_search" done="true"><summary>Searched</summary>3 sites</details>GOOD-TWO',
                    output=[],
                ),
                "c": msg(
                    "c",
                    "b",
                    "assistant",
                    "x",
                    output=[
                        {"type": "image_generation", "id": "i"},
                        {"type": "message", "content": [{"text": "done"}]},
                    ],
                ),
            },
            current="c",
        )
    ]
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert kinds(conv.messages[1]) == [m.TEXT, m.TEXT] and conv.messages[1].blocks[0].text == "3 sites"
    assert kinds(conv.messages[2]) == [m.OPAQUE, m.TEXT]
    checks.warned_once(ctx, "'details:web_search'", "'output:image_generation'")


def test_bad_chats_and_messages_cost_only_themselves():
    doc = [
        chat(
            "g1", {"a": msg("a", None, "user", "GOOD-ONE"), "b": "junk", "c": msg("c", "zzz", "assistant", "dangling")}
        ),
        "not a chat",
        {"id": "no-history", "chat": {}},
        chat("g2", {"a": msg("a", None, "user", "GOOD-TWO", timestamp="0000-01-01T00:00:00Z")}),
    ]
    convs, ctx = parse_bytes(json.dumps(doc).encode())
    check(convs)
    assert [c.provider_id for c in convs] == ["g1", "g2"]
    assert convs[0].messages[1].meta["dangling_parent"] == "zzz"
    assert (
        convs[1].messages[0].timestamp is None and convs[1].messages[0].meta["timestamp_raw"] == "0000-01-01T00:00:00Z"
    )
    assert len(ctx.warnings) == 2


def test_truncated_export_keeps_what_came_before():
    doc = [chat(f"c{i}", {"a": msg("a", None, "user", f"p{i}")}) for i in range(3)]
    data = json.dumps(doc).encode()
    convs, ctx = parse_bytes(data[: len(data) - 50])
    assert [c.provider_id for c in convs] == ["c0", "c1"] and "stopped after chat 1" in ctx.warnings[0].reason


def test_not_an_export():
    with pytest.raises(ParseError):
        parse_bytes(b'{"chat": {}}')


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, check)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "id",
    "parentId",
    "role",
    "content",
    "output",
    "type",
    "call_id",
    "text",
    "summary",
    "usage",
    "files",
    "timestamp",
    "x",
]
_json = checks.json_shaped(
    _KEYS,
    checks.json_scalars(
        st.sampled_from(["a", "b", '<details type="tool_calls" id="x" arguments="{">', "<think>t</think>ok", "user"])
    ),
    fields=6,
    max_leaves=30,
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), _json, max_size=3), _json)
def test_fuzz_history(messages, current):
    doc = [{"id": "c", "user_id": "u", "chat": {"history": {"currentId": current, "messages": messages}}}]
    FUZZ.must_not_raise(json.dumps(doc).encode())


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_rendered_content(content):
    doc = [chat("c", {"a": msg("a", None, "assistant", content)})]
    FUZZ.must_not_raise(json.dumps(doc).encode())


test_fuzz_truncated_and_mutated = FUZZ.truncated_and_junked(
    [FIXTURE.read_bytes(), SAMPLE.read_bytes() if SAMPLE.is_file() else b"[]"]
)


BAD = chat(
    "bad",
    {
        "a": msg("a", None, "user", "mid", files=[{"type": "file", "name": "f", "size": 3}]),
        "b": msg(
            "b",
            "a",
            "assistant",
            '<details type="reasoning">r</details>mid',
            usage={"prompt_tokens": 3, "completion_tokens": 4},
            output=[
                {"type": "function_call", "call_id": "k", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "k", "output": [{"text": "o"}]},
            ],
        ),
    },
    current="b",
)


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad):
    good = chat("g1", {"a": msg("a", None, "user", "GOOD-ONE")})
    FUZZ.must_not_raise(dumps([good, bad, chat("g2", {"a": msg("a", None, "user", "GOOD-TWO")})]))


@FUZZ
@given(mutated(BAD, accepted))
def test_fuzz_out_of_range_values_keep_the_good_chats(bad):
    good = chat("g1", {"a": msg("a", None, "user", "GOOD-ONE")})
    convs, _ = parse_bytes(dumps([good, bad, chat("g2", {"a": msg("a", None, "user", "GOOD-TWO")})]))
    checks.keeps_the_good(convs)
