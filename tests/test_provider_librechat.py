"""LibreChat conversation export (docs/providers.md, "librechat").

Shared samples (other/librechat, LibreChat's own test data):
- librechat-export.json: 1 root message nesting a linear chain of 6 (3 user,
  3 "GPT-3.5" replies), no model on the messages, options.model gpt-3.5-turbo;
- librechat-tree.json: 9 messages (4 user, 5 "Software Engineer" replies);
  the first reply (4c395510) has two children ("thanks" 6e4c95ca and "lol"
  d3e12088) and "thanks" has two replies (5da2cdce, 64ed7568), one of which
  has a follow-up; options.promptPrefix is a system prompt.
tests/fixtures/librechat/agents-flat.json is a flat (recursive: false) export
of the agents endpoint: 4 messages with think, tool_call, image_file and
error parts. Counts were read from the files by eye."""

from __future__ import annotations

import json
from pathlib import Path

import provider_checks as checks
import pytest
from conftest import SHARED_SAMPLES, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import accepted, dumps, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import detect, librechat, read_head

SAMPLES = sample_files("other/librechat")
EXPORT = SHARED_SAMPLES / "other" / "librechat" / "minhyeong112__h20__librechat-export.json"
TREE = SHARED_SAMPLES / "other" / "librechat" / "minhyeong112__h20__librechat-tree.json"
FIXTURE = Path(__file__).parent / "fixtures" / "librechat" / "agents-flat.json"
ROOT = "00000000-0000-0000-0000-000000000000"


parse_bytes = checks.bytes_parser(librechat, "export.json")
check = checks.tree_of("librechat")


# ---------------------------------------------------------------- counted by hand


def test_linear_export(samples):
    (conv,), ctx = parse_bytes(EXPORT.read_bytes())
    check([conv])
    assert ctx.warnings == []
    assert conv.provider_id == "af1ea676-f525-444f-a9ed-7c8dbf062733"
    assert [x.role for x in conv.messages] == [m.USER, m.ASSISTANT] * 3
    assert all(x.active for x in conv.messages) and "active_leaf" not in conv.meta
    assert [x.parent_id for x in conv.messages[1:]] == [x.id for x in conv.messages[:-1]]
    assert conv.messages[1].meta["sender"] == "GPT-3.5"
    assert conv.models == ["gpt-3.5-turbo"]  # from options: the messages name no model
    assert conv.meta["exportAt"] == "16:33:32 GMT+0200 (Central European Summer Time)"
    assert str(conv.created_at) == "2024-04-09 14:32:05.230000+00:00"


def test_tree_export(samples):
    (conv,), ctx = parse_bytes(TREE.read_bytes())
    check([conv])
    assert ctx.warnings == []
    system, *rest = conv.messages
    assert system.role == m.SYSTEM and system.context and system.text == "You are an expert software engineer."
    assert len(rest) == 9
    assert sum(x.role == m.USER for x in rest) == 4 and sum(x.role == m.ASSISTANT for x in rest) == 5
    short = {x.id[:8]: x for x in rest}
    children: dict[str, list[str]] = {}
    for x in rest:
        children.setdefault((x.parent_id or "")[:8], []).append(x.id[:8])
    assert children["4c395510"] == ["6e4c95ca", "d3e12088"]
    assert children["6e4c95ca"] == ["5da2cdce", "64ed7568"]
    assert short["9501f99d"].parent_id == system.id
    # no active marker and no times on the later messages: the last leaf in file order
    assert [x.id[:8] for x in conv.messages if x.active] == [
        system.id[:8],
        "9501f99d",
        "4c395510",
        "d3e12088",
        "1f062c99",
    ]
    assert conv.meta["active_leaf"] == "inferred"
    assert short["4c395510"].usage == {"output": 504, "convention": "openai"}
    assert short["5da2cdce"].usage == {"input": 586, "convention": "openai"}
    assert short["9501f99d"].usage is None and short["9501f99d"].meta["tokenCount"] == 59
    assert conv.models == ["gpt-4-turbo"]


def test_flat_agents_fixture():
    (conv,), ctx = parse_bytes(FIXTURE.read_bytes())
    check([conv])
    assert ctx.warnings == []
    ask, reply, draw, chart = conv.messages
    assert [b.type for b in ask.blocks] == [m.TEXT, m.ATTACHMENT] and ask.blocks[1].name == "itinerary.pdf"
    assert [b.type for b in reply.blocks] == [m.THINKING, m.TOOL_USE, m.TOOL_RESULT, m.TEXT]
    use, result = reply.blocks[1], reply.blocks[2]
    assert use.id == result.id == "toolu_01Lis" and use.input == {"city": "Lisbon", "day": "tomorrow"}
    assert reply.usage == {"input": 412, "output": 61, "convention": "openai"} and reply.model == "claude-sonnet-4"
    assert draw.parent_id == reply.id
    assert [b.type for b in chart.blocks] == [m.TEXT, m.IMAGE, m.TEXT] and chart.blocks[2].meta == {"error": True}
    assert chart.text.startswith("Here is the chart.")


def test_sniffer(samples):
    assert checks.samples_claimed(librechat) == sorted(p.name for p in SAMPLES)
    for path in [*SAMPLES, FIXTURE]:
        head = read_head(path.read_bytes())
        assert detect(head) is librechat.PROVIDER
        assert checks.claimed_by_others(librechat, head) == [], path.name


# ---------------------------------------------------------------- versions and bad input


def message(mid: str, parent: str, user: bool, text: str, **extra) -> dict:
    return {"messageId": mid, "parentMessageId": parent, "isCreatedByUser": user, "text": text, **extra}


def export(*messages: dict, **top) -> bytes:
    return json.dumps({"conversationId": "c1", "title": "t", "messages": list(messages), **top}).encode()


def test_unknown_part_kept_with_one_warning():
    data = export(
        message("u", ROOT, True, "GOOD-ONE"),
        message(
            "a",
            "u",
            False,
            "",
            content=[{"type": "agent_update", "agent_update": {"x": 1}}, {"type": "text", "text": "GOOD-TWO"}],
        ),
    )
    (conv,), ctx = parse_bytes(data)
    assert [b.type for b in conv.messages[1].blocks] == [m.OPAQUE, m.TEXT]
    checks.warned_once(ctx, "1 'agent_update'")


def test_bad_messages_cost_only_themselves():
    data = export(
        message("u", ROOT, True, "GOOD-ONE"),
        "junk",
        {"text": "no id"},
        message("a", "u", False, "GOOD-TWO", createdAt="9999-12-31T23:59:59-14:00"),
        message("a", "u", False, "a repeated id"),
        message("orphan", "missing", False, "dangling"),
    )
    (conv,), ctx = parse_bytes(data)
    check([conv])
    assert [x.text for x in conv.messages] == ["GOOD-ONE", "GOOD-TWO", "dangling"]
    assert conv.messages[1].meta["createdAt_raw"] == "9999-12-31T23:59:59-14:00"
    assert conv.messages[2].meta["dangling_parent"] == "missing"
    assert len(ctx.warnings) == 2


def test_role_from_sender_when_the_flag_is_missing():
    data = export({"messageId": "u", "parentMessageId": ROOT, "sender": "User", "text": "hi"})
    (conv,), _ = parse_bytes(data)
    assert conv.messages[0].role == m.USER and conv.messages[0].meta["role_from"] == "sender"


def test_deep_nesting_is_not_recursion():
    """A reply chain nests a level per message (recursive: true); 240 levels read
    iteratively (the cleaning reader refuses JSON nested past 512)."""
    n = 240
    opens = [json.dumps(message(f"m{i}", f"m{i - 1}" if i else ROOT, i % 2 == 0, f"t{i}"))[:-1] for i in range(n)]
    nested = ', "children": ['.join(opens) + "}" + "]}" * (n - 1)
    data = '{"conversationId": "c1", "recursive": true, "messages": [' + nested + "]}"
    (conv,), _ = parse_bytes(data.encode())
    assert len(conv.messages) == n and conv.messages[-1].active and conv.messages[-1].parent_id == f"m{n - 2}"


def test_not_an_export():
    with pytest.raises(ParseError):
        parse_bytes(b'{"conversationId": "c", "messages": 3}')
    with pytest.raises(ParseError):
        parse_bytes(b'{"messages": []}')


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, check)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "messageId",
    "parentMessageId",
    "isCreatedByUser",
    "text",
    "content",
    "type",
    "think",
    "tool_call",
    "children",
    "createdAt",
    "tokenCount",
    "files",
    "x",
]
_json = checks.json_shaped(
    _KEYS, checks.json_scalars(st.sampled_from(["a", "b", ROOT, "text"])), fields=6, max_leaves=30
)


@FUZZ
@given(st.lists(_json, max_size=6), _json)
def test_fuzz_messages(messages, options):
    FUZZ.must_not_raise(json.dumps({"conversationId": "c", "messages": messages, "options": options}).encode())


test_fuzz_truncated_and_mutated = FUZZ.truncated_and_junked([FIXTURE.read_bytes()] + [p.read_bytes() for p in SAMPLES])


BAD = message(
    "mid",
    "g1",
    False,
    "",
    content=[
        {"type": "think", "think": "t"},
        {"type": "tool_call", "tool_call": {"id": "c", "args": "{}", "output": "o"}},
    ],
    tokenCount=5,
    promptTokens=9,
    createdAt="2025-01-01T00:00:00Z",
    files=[{"file_id": "f", "type": "image/png"}],
)


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad):
    FUZZ.must_not_raise(dumps({"conversationId": "c", "messages": [message("g1", ROOT, True, "GOOD-ONE"), bad]}))


@FUZZ
@given(mutated(BAD, accepted))
def test_fuzz_out_of_range_values_keep_the_good_messages(bad):
    doc = {
        "conversationId": "c",
        "messages": [message("g1", ROOT, True, "GOOD-ONE"), bad, message("g2", "g1", False, "GOOD-TWO")],
    }
    convs, _ = parse_bytes(dumps(doc))
    checks.keeps_the_good(convs)
