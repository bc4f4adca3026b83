"""SillyTavern chats (docs/providers.md, "sillytavern").

There is no shared sample: the fixtures are hand-made to the schema SillyTavern
writes (header line, then one message per line). Counts were made by reading
them: one message per line after the header, plus one inactive message per
swipe that is not the chosen one.
"""

from __future__ import annotations

import json

import provider_checks as checks
import pytest
from conftest import REPO
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import claude_code, codex, gemini_cli, read_head, sillytavern

FIXTURES = REPO / "tests" / "fixtures" / "sillytavern"
MODERN = FIXTURES / "Seraphina - 2024-05-05@15h14m02s.jsonl"
OLDER = FIXTURES / "Coding Buddy - 2023-8-12 @14h 30m 12s 123ms.jsonl"


parse_bytes = checks.bytes_parser(sillytavern, "chat.jsonl")


@pytest.mark.parametrize("path", [MODERN, OLDER], ids=["modern", "older"])
def test_detection(path):
    head = read_head(path.read_bytes())
    checks.sniffed_by_only(sillytavern, head, path.name)
    assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli))


def test_modern_chat():
    (conv,), ctx = parse_bytes(MODERN.read_bytes())
    assert ctx.all_warnings() == []
    # 7 message lines + 1 other swipe of the greeting + 2 other swipes of the last reply
    assert len(conv.messages) == 10
    assert conv.id == "sillytavern:3f1c2a7e-9b4d-4c1e-8a2f-6d5e4b3c2a10"  # chat_metadata.integrity
    assert conv.title == "Seraphina — 2024-05-05@15h14m02s"
    active = [x for x in conv.messages if x.active]
    assert [x.id for x in active] == ["L2", "L3", "L4", "L5", "L6", "L7", "L8"]
    assert [x.parent_id for x in active] == [None, "L2", "L3", "L4", "L5", "L6", "L7"]
    by = {x.id: x for x in conv.messages}
    # swipes: siblings of the chosen reply, with the same parent, inactive
    assert by["L2"].text.startswith("*You wake") and by["L2"].meta["swipe"] == 1
    assert by["L2.swipe0"].text == "*A lantern flickers.* Who goes there?" and not by["L2.swipe0"].active
    assert by["L8.swipe0"].parent_id == by["L8"].parent_id == "L7"
    assert by["L8.swipe1"].model == "gpt-4o-mini"  # from its swipe_info
    assert [b.text for b in by["L8.swipe0"].blocks if b.type == m.THINKING] == ["First try: wary."]
    # roles: narrator note is context; a hidden user note keeps its role
    assert by["L5"].role == m.SYSTEM and by["L5"].context and by["L5"].meta["kind"] == "narrator"
    assert by["L6"].role == m.USER and by["L6"].meta["hidden"]
    assert [b.text for b in by["L4"].blocks if b.type == m.THINKING] == [
        "She was found unconscious; reassure her and place her geographically."
    ]
    assert by["L4"].model == "gpt-4o-2024-05-13" and by["L4"].usage is None
    assert by["L4"].meta["token_count"] == 21
    # local display times are not UTC: kept as local_time; the reply is timed by gen_started
    assert by["L3"].timestamp is None and by["L3"].meta["local_time"] == "2024-05-05T15:15:00"
    assert by["L4"].timestamp.isoformat() == "2024-05-05T13:15:20.101000+00:00"
    assert conv.models == ["gpt-4o-2024-05-13", "gpt-4o-mini"]
    assert [x.text for x in conv.substantive() if x.role == m.USER] == [
        "Where am I? The last thing I remember is the marsh road.",
        "(OOC: keep replies short please)",
        "Thank you. Can I rest here tonight?",
    ]


def test_older_chat_with_epoch_times_and_no_integrity():
    (conv,), ctx = parse_bytes(OLDER.read_bytes())
    assert ctx.all_warnings() == []
    assert len(conv.messages) == 3  # 3 message lines; the one swipe is the message itself
    assert conv.meta["derived_id"] and conv.provider_id.startswith("derived-")
    assert parse_bytes(OLDER.read_bytes())[0][0].provider_id == conv.provider_id
    assert conv.messages[0].role == m.ASSISTANT  # the character's greeting comes first
    assert conv.messages[0].timestamp.isoformat() == "2023-08-12T12:30:12.123000+00:00"  # epoch ms
    assert conv.updated_at.isoformat() == "2023-08-12T12:31:15.500000+00:00"


def test_greeting_only_chat():
    header = {"user_name": "U", "character_name": "C", "create_date": "2024-01-01@00h00m00s", "chat_metadata": {}}
    greet = {"name": "C", "is_user": False, "is_system": False, "send_date": "January 1, 2024 12:00am", "mes": "Hello."}
    (conv,), _ = parse_bytes(jsonl(header, greet))
    assert [x.text for x in conv.messages] == ["Hello."]
    assert conv.messages[0].meta["local_time"] == "2024-01-01T00:00:00"


def test_header_only_and_garbage():
    header = {"user_name": "U", "character_name": "C", "create_date": "x", "chat_metadata": {}}
    convs, ctx = parse_bytes(jsonl(header))
    assert convs == [] and ctx.warnings
    with pytest.raises(ParseError):
        parse_bytes(b"")


def test_last_line_without_newline_and_a_bad_line():
    data = MODERN.read_bytes().rstrip(b"\n")
    lines = data.split(b"\n")
    lines.insert(3, b'{"mes": 1}')
    (conv,), ctx = parse_bytes(b"\n".join(lines))
    assert len(conv.messages) == 10 and len(ctx.warnings) == 1


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "name",
    "is_user",
    "is_system",
    "send_date",
    "mes",
    "extra",
    "swipes",
    "swipe_id",
    "swipe_info",
    "reasoning",
    "model",
    "type",
    "gen_started",
    "chat_metadata",
    "integrity",
    "image",
    "files",
]
_shaped = checks.json_shaped(
    _KEYS,
    st.sampled_from(["narrator", "May 5, 2024 3:14pm", "2024-05-05T13:14:02.000Z", "x"])
    | st.integers(-5, 10**13)
    | st.none()
    | st.booleans()
    | st.text(max_size=8),
)


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=7), min_size=1, max_size=8))
def test_fuzz_shaped_lines(records):
    header = {"user_name": "U", "character_name": "C", "create_date": "d", "chat_metadata": {}}
    FUZZ.must_not_raise(jsonl(header, *records))


test_fuzz_truncated = FUZZ.truncated([MODERN.read_bytes(), OLDER.read_bytes()])


HEADER = {"user_name": "U", "character_name": "C", "create_date": "d", "chat_metadata": {"integrity": "i-1"}}
GOOD_FIRST = {"name": "U", "is_user": True, "is_system": False, "send_date": 1, "mes": "GOOD-ONE"}
BAD = json.loads(MODERN.read_bytes().split(b"\n")[7])  # the reply with three swipes
GOOD_LAST = {"name": "C", "is_user": False, "is_system": False, "send_date": 2, "mes": "GOOD-TWO"}


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    checks.keeps_the_good(FUZZ.must_not_raise(jsonl(HEADER, GOOD_FIRST, bad, GOOD_LAST)))
