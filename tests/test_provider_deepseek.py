"""DeepSeek chats (docs/providers.md, "deepseek").

Shared samples (other/deepseek_web): one real history API response (11
messages: USER 1, 4, 7, 10 and ASSISTANT 2, 3, 5, 6, 8, 9, 11; parent_id null
for 1, 4 and 10 (the first prompt edited twice); 2 and 3 answer 1, 5 and 6
answer 4, 8 and 9 answer 7; THINK fragments in 5, 9 and 11;
current_message_id 11) and the same chat as ceyaima/deepseek-exporter's tree
rewrite. tests/fixtures/deepseek/conversations.json is the official bulk
export's shape: 2 chats, the first with an edited first prompt (two roots
under the empty ``root`` node), a THINK fragment, a SEARCH fragment and an
attached file. Counts were read from the files with jq and by eye."""

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
from polylogue.providers import deepseek, detect, read_head

SAMPLES = sample_files("other/deepseek_web")
RAW = (
    SHARED_SAMPLES
    / "other"
    / "deepseek_web"
    / "ceyaima__deepseek-exporter__DeepSeek - test_chat_raw_2025-11-22T15-53-07.json"
)
TREE = (
    SHARED_SAMPLES
    / "other"
    / "deepseek_web"
    / "ceyaima__deepseek-exporter__DeepSeek - test_chat_2025-11-22T15-53-10.json"
)
FIXTURE = Path(__file__).parent / "fixtures" / "deepseek" / "conversations.json"


parse_bytes = checks.bytes_parser(deepseek, "chat.json")
check = checks.tree_of("deepseek")


def shape(conv):
    return [(x.id, x.role, x.parent_id, x.active) for x in conv.messages]


U, A = m.USER, m.ASSISTANT
EXPECTED_TREE = [
    ("1", U, None, False),
    ("2", A, "1", False),
    ("3", A, "1", False),
    ("4", U, None, False),
    ("5", A, "4", False),
    ("6", A, "4", False),
    ("7", U, "6", False),
    ("8", A, "7", False),
    ("9", A, "7", False),
    ("10", U, None, True),
    ("11", A, "10", True),
]


# ---------------------------------------------------------------- counted by hand


def test_api_response(samples):
    (conv,), ctx = parse_bytes(RAW.read_bytes())
    check([conv])
    assert ctx.warnings == []
    assert conv.provider_id == "e7196cf3-12be-4096-99c1-1c8c983f71d6" and conv.title == "test_chat"
    assert shape(conv) == EXPECTED_TREE
    assert conv.meta["roots"] == 3 and "active_leaf" not in conv.meta  # current_message_id marks it
    assert [x.id for x in conv.messages if x.has(m.THINKING)] == ["5", "9", "11"]
    assert str(conv.created_at) == "2025-11-22 15:41:50.639000+00:00"
    assert str(conv.updated_at) == "2025-11-22 15:52:46.576000+00:00"
    # running totals: 2 has 1846 after its prompt's 179; 8 has 3552 after 7's 1966
    by_id = {x.id: x for x in conv.messages}
    assert by_id["2"].usage == {"input": 179, "output": 1667, "convention": "openai"}
    assert by_id["8"].usage == {"input": 1966, "output": 1586, "convention": "openai"}
    assert by_id["7"].usage is None and by_id["7"].meta["accumulated_token_usage"] == 1966
    assert by_id["5"].blocks[0].meta == {"elapsed_secs": 10.187884330749512}
    assert by_id["5"].meta["thinking_enabled"] is True


def test_tree_rewrite(samples):
    (conv,), ctx = parse_bytes(TREE.read_bytes())
    check([conv])
    assert ctx.warnings == []
    assert shape(conv) == EXPECTED_TREE  # no marker: the last leaf in file order, as the raw file's current message
    assert conv.meta["derived_id"] and conv.meta["active_leaf"] == "inferred" and conv.created_at is None
    assert [x.id for x in conv.messages if x.has(m.THINKING)] == ["5", "9", "11"]
    raw = parse_bytes(RAW.read_bytes())[0][0]
    assert [x.text for x in conv.messages] == [x.text for x in raw.messages]


def test_bulk_export_fixture():
    convs, ctx = parse_bytes(FIXTURE.read_bytes())
    check(convs)
    assert ctx.warnings == []
    first, second = convs
    assert first.provider_id == "801e9692-c784-4402-bac6-d97a4722e943"
    assert [(x.id, x.role, x.parent_id, x.active) for x in first.messages] == [
        ("1", U, None, False),
        ("2", A, "1", False),
        ("3", U, None, True),
        ("4", A, "3", True),
    ]
    assert first.meta["roots"] == 2 and first.meta["active_leaf"] == "inferred"
    assert first.models == ["deepseek-reasoner", "deepseek-chat"]
    assert first.messages[2].blocks[1].name == "notes.txt"
    (use, result) = first.tool_calls()[0]
    assert (
        use.name == "search"
        and result.text == "DeepSeek help — https://chat.deepseek.com/help — Export your data from Settings."
    )
    assert str(first.created_at) == "2025-03-29 20:49:36.505000+00:00"
    assert [(x.role, x.text) for x in second.messages] == [(U, "Is 2027 prime?"), (A, "Yes, 2027 is prime.")]
    assert "active_leaf" not in second.meta  # one leaf: no choice made


def test_sniffer(samples):
    assert checks.samples_claimed(deepseek) == sorted(p.name for p in SAMPLES)
    for path in [*SAMPLES, FIXTURE]:
        head = read_head(path.read_bytes()[: 256 << 10])
        assert detect(head) is deepseek.PROVIDER
        assert checks.claimed_by_others(deepseek, head) == [], path.name


# ---------------------------------------------------------------- versions and bad input


def api(*messages: dict, current=None) -> dict:
    session = {
        "id": "s1",
        "title": "t",
        "current_message_id": current,
        "inserted_at": 1763826110.6,
        "updated_at": 1763826766.5,
    }
    return {
        "code": 0,
        "msg": "",
        "data": {"biz_code": 0, "biz_data": {"chat_session": session, "chat_messages": list(messages)}},
    }


def msg(mid: int, parent, role: str, *frags: tuple[str, str], **extra) -> dict:
    return {
        "message_id": mid,
        "parent_id": parent,
        "role": role,
        "model": "",
        "inserted_at": 1763826114.5 + mid,
        "fragments": [{"id": i + 1, "type": t, "content": c} for i, (t, c) in enumerate(frags)],
        **extra,
    }


def test_unknown_fragment_kept_with_one_warning():
    doc = api(
        msg(1, None, "USER", ("REQUEST", "GOOD-ONE")),
        msg(2, 1, "ASSISTANT", ("CANVAS", "draft"), ("RESPONSE", "GOOD-TWO"), ("CANVAS", "more")),
        current=2,
    )
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert [b.type for b in conv.messages[1].blocks] == [m.OPAQUE, m.TEXT, m.OPAQUE]
    checks.warned_once(ctx, "2 'CANVAS'")


def test_bad_messages_cost_only_themselves():
    doc = api(
        msg(1, None, "USER", ("REQUEST", "GOOD-ONE")),
        "junk",
        {"role": "USER"},  # no message_id
        msg(2, 1, "ASSISTANT", ("RESPONSE", "GOOD-TWO")),
        msg(2, 1, "ASSISTANT", ("RESPONSE", "a repeated id")),
        msg(3, 99, "ASSISTANT", ("RESPONSE", "dangling")),
    )
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert [x.text for x in conv.messages] == ["GOOD-ONE", "GOOD-TWO", "dangling"]
    assert conv.messages[2].parent_id is None and conv.messages[2].meta["dangling_parent"] == "99"
    checks.warned_once(ctx, "message 2")


def test_error_response_and_other_json():
    with pytest.raises(ParseError, match="code 40003"):
        parse_bytes(b'{"code": 40003, "msg": "unauthorized", "data": null}')
    with pytest.raises(ParseError):
        parse_bytes(b"[]")
    with pytest.raises(ParseError):
        parse_bytes(b'"text"')


def test_bulk_export_truncated_keeps_the_first_chat():
    data = FIXTURE.read_bytes()
    convs, ctx = parse_bytes(data[: data.index(b"5a0f3c2d") + 20])
    assert [c.provider_id for c in convs] == ["801e9692-c784-4402-bac6-d97a4722e943"]
    assert "stopped after conversation 0" in ctx.warnings[0].reason


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, check)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "message_id",
    "parent_id",
    "role",
    "fragments",
    "type",
    "content",
    "results",
    "files",
    "accumulated_token_usage",
    "inserted_at",
    "mapping",
    "message",
    "parent",
    "children",
    "id",
    "thought",
]
_json = checks.json_shaped(
    _KEYS, checks.json_scalars(st.text(max_size=12), st.integers(-5, 20)), fields=6, max_leaves=30
)


@FUZZ
@given(st.lists(_json, max_size=6), _json)
def test_fuzz_api_messages(messages, session):
    FUZZ.must_not_raise(
        json.dumps(
            {"data": {"biz_data": {"chat_session": {"id": "s", "x": session}, "chat_messages": messages}}}
        ).encode()
    )


@FUZZ
@given(st.lists(_json, min_size=1, max_size=5))
def test_fuzz_arrays(items):
    FUZZ.must_not_raise(json.dumps(items).encode())
    FUZZ.must_not_raise(json.dumps([{"id": "c", "mapping": {str(i): v for i, v in enumerate(items)}}]).encode())


test_fuzz_truncated_and_mutated = FUZZ.truncated_and_junked([FIXTURE.read_bytes()] + [p.read_bytes() for p in SAMPLES])


BAD = msg(
    2,
    1,
    "ASSISTANT",
    ("THINK", "hm"),
    ("SEARCH", "q"),
    ("RESPONSE", "mid"),
    accumulated_token_usage=50,
    files=[{"id": "f"}],
)


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad):
    FUZZ.must_not_raise(
        dumps(api(msg(1, None, "USER", ("REQUEST", "GOOD-ONE")), bad, msg(3, 1, "ASSISTANT", ("RESPONSE", "GOOD-TWO"))))
    )


@FUZZ
@given(mutated(BAD, accepted))
def test_fuzz_out_of_range_values_keep_the_good_messages(bad):
    doc = api(msg(1, None, "USER", ("REQUEST", "GOOD-ONE")), bad, msg(3, 1, "ASSISTANT", ("RESPONSE", "GOOD-TWO")))
    convs, _ = parse_bytes(dumps(doc))
    checks.keeps_the_good(convs)
