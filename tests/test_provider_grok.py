"""Grok web export (docs/providers.md, "grok").

The one shared sample is the flat shape (other/origin-capability, 2 responses,
no ids). tests/fixtures/grok/prod-grok-backend.json is built to the real
wrapped schema: 3 conversations, one of them empty; the first has 5 responses
(2 human, 3 assistant) where responses 2 and 3 both answer response 1 (a
regeneration), a thinking trace, a citation card, a generated image and an
attached file. Counts below were read from the files by eye."""

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
from polylogue.providers import detect, grok, read_head

FIXTURE = Path(__file__).parent / "fixtures" / "grok" / "prod-grok-backend.json"
FLAT = SHARED_SAMPLES / "other" / "origin-capability" / "Sinity__polylogue__grok-export.json"


parse_bytes = checks.bytes_parser(grok, "prod-grok-backend.json")
check = checks.tree_of("grok")


def response(rid: str, sender: str, text: str, ms: int, parent: str | None = None, **extra) -> dict:
    r = {"_id": rid, "sender": sender, "message": text, "create_time": {"$date": {"$numberLong": str(ms)}}, **extra}
    if parent:
        r["parent_response_id"] = parent
    return {"response": r, "share_link": None}


def export(*convs: dict) -> dict:
    return {"conversations": list(convs), "projects": [], "tasks": []}


def conversation(cid: str, *responses: dict, title: str = "t") -> dict:
    return {
        "conversation": {"id": cid, "title": title, "create_time": "2025-01-01T00:00:00Z"},
        "responses": list(responses),
    }


# ---------------------------------------------------------------- counted by hand


def test_flat_sample(samples):
    data = FLAT.read_bytes()
    head = read_head(data)
    assert grok.sniff(head) and detect(head) is grok.PROVIDER
    (conv,), ctx = parse_bytes(data)
    check([conv])
    assert ctx.warnings == []
    assert [(x.role, x.text) for x in conv.messages] == [
        (m.USER, "Prove the parser claim."),
        (m.ASSISTANT, "The production route parsed this witness."),
    ]
    # no ids in the flat shape: derived, flagged, stable
    assert conv.provider_id.startswith("derived-") and conv.meta["derived_id"] and conv.meta["tree"] == "linear"
    assert conv.messages[1].parent_id == conv.messages[0].id and conv.messages[0].meta["id_derived"]
    assert conv.title == "Origin capability matrix" and str(conv.created_at) == "2026-08-01 10:00:00+00:00"
    assert parse_bytes(data)[0][0].provider_id == conv.provider_id


def test_fixture_counts_and_branches():
    convs, ctx = parse_bytes(FIXTURE.read_bytes())
    check(convs)
    assert ctx.warnings == []
    assert [c.provider_id for c in convs] == [
        "7b1f0c2e-4d8a-4a53-9b61-0e2f7c9d1a10",
        "5d8e2f10-7a4b-4c6d-9e1f-2a3b4c5d6e70",
    ]  # the empty conversation is skipped
    rust, capital = convs
    assert [x.role for x in rust.messages] == [m.USER, m.ASSISTANT, m.ASSISTANT, m.USER, m.ASSISTANT]
    short = [x.id[-2:] for x in rust.messages]
    assert short == ["01", "02", "03", "04", "05"]
    assert [x.parent_id and x.parent_id[-2:] for x in rust.messages] == [None, "01", "01", "03", "04"]
    assert [x.active for x in rust.messages] == [True, False, True, True, True]
    assert rust.meta["active_leaf"] == "inferred" and rust.meta["render_tags"] == 1
    assert rust.models == ["grok-3"] and capital.models == ["grok-4"]
    assert len(capital.messages) == 2 and capital.messages[1].text == "Canberra."


def test_fixture_blocks():
    rust = parse_bytes(FIXTURE.read_bytes())[0][0]
    ask, first, _second, _draw, crab = rust.messages
    assert [b.type for b in ask.blocks] == [m.TEXT, m.ATTACHMENT]
    assert ask.blocks[1].meta == {"file_id": "0a7c61d2-9f3e-4b8a-a5c4-12d3e4f5a6b7"}
    assert [b.type for b in first.blocks] == [m.THINKING, m.TEXT]
    assert "<grok:render" not in first.text and first.text.endswith("points into.")
    assert first.meta["cited_web_search_results"][0]["title"] == "References and Borrowing"
    assert str(first.timestamp) == "2025-05-10 14:02:25.120000+00:00"
    assert crab.blocks[1].type == m.IMAGE and crab.blocks[1].meta["generated"] is True
    assert crab.meta["share_link"]["share_link_id"] == "c2FtcGxl"
    assert str(rust.updated_at) == "2025-05-10 14:09:47.002114+00:00"


def test_sniffer_claims_only_grok_exports(samples):
    assert checks.samples_claimed(grok) == ["Sinity__polylogue__grok-export.json"]
    for path in (FLAT, FIXTURE):
        assert checks.claimed_by_others(grok, read_head(path.read_bytes())) == [], path.name


# ---------------------------------------------------------------- shapes and bad input


def test_single_conversation_entry():
    doc = conversation(
        "c1", response("r1", "human", "hi", 1700000000000), response("r2", "ASSISTANT", "yo", 1700000001000, "r1")
    )
    assert grok.sniff(read_head(json.dumps(doc, indent=1).encode()))
    (conv,), _ = parse_bytes(json.dumps(doc).encode())
    assert conv.provider_id == "c1" and [x.text for x in conv.messages] == ["hi", "yo"]


def test_unknown_sender_and_shape():
    doc = export(
        conversation(
            "c1",
            response("r1", "human", "GOOD-ONE", 1700000000000),
            {"weird": True},
            response("r2", "Narrator", "aside", 1700000001000, "r1"),
        )
    )
    (conv,), ctx = parse_bytes(json.dumps(doc).encode())
    assert [x.text for x in conv.messages] == ["GOOD-ONE", "aside"]
    assert conv.messages[1].role == m.ASSISTANT and conv.messages[1].meta["sender"] == "Narrator"
    checks.warned_once(ctx, "unknown shape")


def test_bad_conversations_cost_only_themselves():
    good = conversation("g1", response("r1", "human", "GOOD-ONE", 1700000000000))
    doc = export(
        good,
        "nope",
        {"conversation": {"id": "b"}, "responses": 5},
        conversation("g2", response("r9", "human", "GOOD-TWO", 1)),
    )
    convs, ctx = parse_bytes(json.dumps(doc).encode())
    assert [c.provider_id for c in convs] == ["g1", "g2"] and len(ctx.warnings) == 2


def test_truncated_export_keeps_what_came_before():
    doc = export(*(conversation(f"c{i}", response(f"r{i}", "human", f"p{i}", 1700000000000)) for i in range(3)))
    data = json.dumps(doc).encode()
    convs, ctx = parse_bytes(data[: len(data) - 60])
    assert [c.provider_id for c in convs] == ["c0", "c1"] and "stopped after conversation 1" in ctx.warnings[0].reason


def test_parent_cycle_is_cut():
    doc = export(conversation("c", response("a", "human", "x", 1, "b"), response("b", "assistant", "y", 2, "a")))
    (conv,), _ = parse_bytes(json.dumps(doc).encode())
    check([conv])
    assert any(x.meta and "parent_cycle" in x.meta for x in conv.messages)


def test_not_an_export():
    with pytest.raises(ParseError):
        parse_bytes(b'{"conversations": 3}')
    with pytest.raises(ParseError):
        parse_bytes(b"[1, 2]")


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, check)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "conversation",
    "responses",
    "response",
    "_id",
    "id",
    "sender",
    "message",
    "create_time",
    "parent_response_id",
    "$date",
    "$numberLong",
    "thinking_trace",
    "generated_image_urls",
    "file_attachments",
    "model",
    "x",
]
_json = checks.json_shaped(_KEYS, checks.json_scalars(st.text(max_size=20)), fields=6, max_leaves=30)


@FUZZ
@given(st.lists(_json, max_size=5))
def test_fuzz_conversations(items):
    FUZZ.must_not_raise(json.dumps({"conversations": items}).encode())


test_fuzz_truncated_and_mutated = FUZZ.truncated_and_junked([FIXTURE.read_bytes()])


GOOD_FIRST = conversation("good-1", response("g1", "human", "GOOD-ONE", 1700000000000))
BAD = conversation(
    "bad",
    response("b1", "human", "mid", 1700000000000, file_attachments=["f"]),
    response(
        "b2", "ASSISTANT", "mid<grok:render x>y</grok:render>", 1700000001000, "b1", thinking_trace="t", model="m"
    ),
)
GOOD_LAST = conversation("good-2", response("g2", "human", "GOOD-TWO", 1700000000000))


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad):
    FUZZ.must_not_raise(dumps(export(GOOD_FIRST, bad, GOOD_LAST)))


@FUZZ
@given(mutated(BAD, accepted))
def test_fuzz_out_of_range_values_keep_the_good_conversations(bad):
    convs, _ = parse_bytes(dumps(export(GOOD_FIRST, bad, GOOD_LAST)))
    checks.keeps_the_good(convs)
