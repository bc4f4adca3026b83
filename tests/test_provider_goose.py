"""Goose sessions (docs/providers.md, "goose"): the JSONL files of Goose before 1.10.

There is no public sample: tests/fixtures/goose/20250305_143012.jsonl is
built to block/goose's schema (session/storage.rs, message.rs,
tool_result_serde.rs): a metadata line, then 8 messages: the prompt, 4
assistant messages (3 with a tool request, the first with thinking), 3 tool
responses (the second an error; the first carries its text twice, for the
model and for the user). Counts were read from the file by eye."""

from __future__ import annotations

import json
from pathlib import Path

import provider_checks as checks
import pytest
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import detect, goose, read_head

FIXTURE = Path(__file__).parent / "fixtures" / "goose" / "20250305_143012.jsonl"
META = {"working_dir": "/w", "description": "d", "schedule_id": None, "message_count": 2}


parse_bytes = checks.bytes_parser(goose, "/home/u/.local/share/goose/sessions/abc123.jsonl")
check = checks.chain_of("goose")


def message(role: str, *content: dict, created: int = 1741185012, **extra) -> dict:
    return {"id": None, "role": role, "created": created, "content": list(content), **extra}


def text(s: str) -> dict:
    return {"type": "text", "text": s}


# ---------------------------------------------------------------- the fixture, counted by hand


def test_fixture_counts():
    (conv,), ctx = parse_bytes(FIXTURE.read_bytes(), str(FIXTURE))
    check([conv])
    assert ctx.warnings == []
    assert conv.provider_id == "20250305_143012"  # the file's name: Goose's session id
    roles = [x.role for x in conv.messages]
    assert len(roles) == 8 and roles.count(m.USER) == 1 and roles.count(m.ASSISTANT) == 4 and roles.count(m.TOOL) == 3
    assert conv.title == "Fix failing parser test" and conv.project == "/home/dev/projects/ledger"
    pairs = conv.tool_calls()
    assert [(u.name, r.is_error) for u, r in pairs] == [
        ("developer__shell", None),
        ("developer__text_editor", True),
        ("developer__text_editor", None),
    ]
    assert pairs[0][0].input == {"command": "pytest -x tests/test_parse.py::test_parse_amounts"}
    # the same text for the model and for the user: kept once
    assert pairs[0][1].text == "FAILED tests/test_parse.py::test_parse_amounts - ValueError: '1,200.50'"
    assert pairs[1][1].text == "Execution failed: old_str not found in parse.py"
    assert [b.text for b in conv.thinking()] == ["Run the test first to see the failure."]
    assert str(conv.created_at) == "2025-03-05 14:30:12+00:00" and str(conv.updated_at) == "2025-03-05 14:30:36+00:00"
    assert conv.messages[0].id == "20250305_143012:2"


def test_session_usage_is_counted_once():
    (conv,), _ = parse_bytes(FIXTURE.read_bytes(), str(FIXTURE))
    assert not any(x.usage for x in conv.messages)  # session totals: never on a message
    assert conv.meta["usage"] == {"input": 11200, "output": 1250} and conv.meta["total_tokens"] == 5120


def test_sniffer(samples):
    head = read_head(FIXTURE.read_bytes())
    assert goose.sniff(head) and detect(head) is goose.PROVIDER
    assert checks.claimed_by_others(goose, head) == []
    assert checks.samples_claimed(goose) == []


def test_sniffer_without_metadata_and_lookalikes():
    assert goose.sniff(read_head(jsonl(message("user", text("hi")), message("assistant", text("yo")))))
    amp_like = jsonl({"role": "user", "text": "hi", "createdAt": 1700000000000})
    chat = jsonl({"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "assistant", "content": "yo"})
    for data in (amp_like, chat):
        assert not goose.sniff(read_head(data))


# ---------------------------------------------------------------- identity and shapes


def test_session_id_from_the_file_name_and_a_derived_one():
    data = jsonl(META, message("user", text("hi")))
    (a,), _ = parse_bytes(data, "/x/sessions/ccK9OTmS.jsonl")
    assert a.provider_id == "ccK9OTmS"
    (b,), _ = parse_bytes(data, "archive.zip!goose/sessions/ccK9OTmS.jsonl")
    assert b.provider_id == "ccK9OTmS"
    (c,), _ = parse_bytes(data, "<bytes>")
    (d,), _ = parse_bytes(data, "<bytes>")
    assert c.provider_id == d.provider_id and c.provider_id.startswith("derived-") and c.meta["derived_id"]


def test_message_ids_kept_and_repeats_made_unique():
    data = jsonl(
        META, {**message("user", text("a")), "id": "msg_1"}, {**message("assistant", text("b")), "id": "msg_1"}
    )
    (conv,), _ = parse_bytes(data)
    assert [x.id for x in conv.messages] == ["msg_1", "msg_1#3"]


def test_content_types():
    data = jsonl(
        META,
        message(
            "user",
            text("look"),
            {"type": "image", "data": "aGVsbG8gd29ybGQh", "mimeType": "image/png"},
        ),
        message(
            "assistant",
            {"type": "redactedThinking", "data": "xyz"},
            {"type": "toolConfirmationRequest", "id": "t1", "toolName": "shell", "arguments": {}, "prompt": "ok?"},
            {"type": "frontendToolRequest", "id": "t2", "toolCall": {"status": "error", "error": "bad args"}},
        ),
        message(
            "user",
            {
                "type": "toolResponse",
                "id": "t2",
                "toolResult": {"status": "success", "value": {"content": [text("x")], "isError": True}},
            },
        ),
        message("assistant", {"type": "contextLengthExceeded", "msg": "Context too long; summarizing."}),
    )
    (conv,), ctx = parse_bytes(data)
    assert ctx.warnings == []
    look, call, result, notice = conv.messages
    assert look.blocks[1].type == m.IMAGE and look.blocks[1].meta == {"mime": "image/png", "size": 12}
    assert call.meta["redacted_thinking"] == 1 and call.meta["confirmations"][0]["prompt"] == "ok?"
    assert call.blocks[0].meta == {"error": "bad args", "outcome": "error", "frontend": True}
    assert result.role == m.TOOL and result.blocks[0].is_error is True
    assert notice.context and notice.meta["kind"] == "contextLengthExceeded"


def test_unknown_content_kept_with_one_warning():
    data = jsonl(
        META,
        message("user", text("GOOD-ONE")),
        message("assistant", {"type": "reasoningSummary", "x": 1}, text("GOOD-TWO")),
    )
    (conv,), ctx = parse_bytes(data)
    assert [b.type for b in conv.messages[1].blocks] == [m.OPAQUE, m.TEXT]
    checks.warned_once(ctx, "1 'reasoningSummary'")


def test_empty_session_is_no_conversation():
    convs, ctx = parse_bytes(jsonl(META))
    assert convs == [] and ctx.warnings == []


def test_bad_lines_cost_only_themselves():
    data = b"\n".join(
        [
            json.dumps(META).encode(),
            json.dumps(message("user", text("GOOD-ONE"))).encode(),
            b"{nope",
            json.dumps({"unrelated": True}).encode(),
            json.dumps(message("assistant", text("GOOD-TWO"), created=10**20)).encode(),
        ]
    )
    (conv,), ctx = parse_bytes(data)
    assert [x.text for x in conv.messages] == ["GOOD-ONE", "GOOD-TWO"]
    assert conv.messages[1].timestamp is None
    assert [w.line for w in ctx.warnings] == [3, 4]


def test_not_a_session():
    with pytest.raises(ParseError):
        parse_bytes(b"")


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, check)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_value = checks.json_shaped(
    ["status", "value", "error", "name", "arguments", "content", "text", "type", "x"],
    checks.json_scalars(st.text(max_size=12)),
    items=3,
    fields=4,
)
_content = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(goose._CONTENT_TYPES) + ["other"])},
    optional={
        "id": _value,
        "text": _value,
        "thinking": _value,
        "toolCall": _value,
        "toolResult": _value,
        "data": _value,
        "msg": _value,
    },
)
_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system"]),
        "created": st.integers(-5, 2**40),
        "content": st.lists(_content, max_size=4),
    },
    optional={"id": _value, "metadata": _value},
)


@FUZZ
@given(st.lists(_message, min_size=1, max_size=6), st.booleans())
def test_fuzz_messages(messages, with_meta):
    lines = ([META] if with_meta else []) + messages
    FUZZ.must_not_raise(b"\n".join(json.dumps(x).encode() for x in lines))


test_fuzz_truncated_and_mutated = FUZZ.truncated_and_junked([FIXTURE.read_bytes()])


BAD = message(
    "assistant",
    {
        "type": "toolRequest",
        "id": "t",
        "toolCall": {"status": "success", "value": {"name": "n", "arguments": {"a": 1}}},
    },
    {"type": "thinking", "thinking": "t", "signature": "s"},
    created=1741185015,
)


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    data = jsonl(META, message("user", text("GOOD-ONE")), bad, message("assistant", text("GOOD-TWO")))
    FUZZ.must_not_raise(data)
    convs, _ = parse_bytes(data)
    checks.keeps_the_good(convs)
