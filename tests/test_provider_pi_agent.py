"""pi coding agent sessions (docs/providers.md, "pi").

Counts were made by reading the files line by line: a ``message``,
``compaction``, ``branch_summary`` or ``custom_message`` entry is one message;
``session``, ``model_change``, ``thinking_level_change``, ``label``,
``session_info`` and ``custom`` entries are none.
"""

from __future__ import annotations

from pathlib import Path

import provider_checks as checks
import pytest
from conftest import REPO, ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import claude_code, codex, gemini_cli, read_head
from polylogue.providers import pi_agent as pi

SAMPLES = sample_files("other/pi_agent")
FIXTURE = next((REPO / "tests" / "fixtures" / "pi_agent").glob("*.jsonl"))


parse_bytes = checks.bytes_parser(pi, "session.jsonl")


def one(path: Path) -> m.Conversation:
    convs, ctx = parse_bytes(path.read_bytes())
    assert len(convs) == 1, ctx.all_warnings()
    return convs[0]


def head_of(path: Path):
    return read_head(path.read_bytes()[: 256 << 10])


# ---------------------------------------------------------------- the shared sample


EXPECTED = {
    # 2 user + 2 assistant messages + 2 compaction entries (header, model_change, thinking_level_change: none)
    "jazzyalex__agent-sessions__small.jsonl": 6,
}


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample_counts_and_detection(samples, path):
    count = checks.hand_count(EXPECTED, path)
    checks.sniffed_by_only(pi, head_of(path), path.name)
    convs, ctx = parse_bytes(path.read_bytes())
    assert ctx.all_warnings() == []
    (conv,) = convs
    assert len(conv.messages) == count
    assert len({x.id for x in conv.messages}) == len(conv.messages)


def test_sample_fields(samples):
    conv = one(samples / "other" / "pi_agent" / "jazzyalex__agent-sessions__small.jsonl")
    assert conv.id == "pi:019e19b4-eb48-746a-aa6b-8dfcfa37954b"
    assert conv.project == "/tmp/as-agent-fixture/project"
    assert conv.created_at.isoformat() == "2026-05-12T01:02:27.657000+00:00"
    assert conv.updated_at.isoformat() == "2026-05-12T01:02:45.843000+00:00"  # the last compaction entry
    assert [x.role for x in conv.messages] == ["user", "assistant", "system", "user", "assistant", "system"]
    assert [x.context for x in conv.messages] == [False, False, True, False, False, True]
    assert all(x.active for x in conv.messages)  # one chain: every entry is an ancestor of the last
    # each message's parent is the message entry before it (the compactions sit in the chain)
    assert [x.parent_id for x in conv.messages] == [None, "30c6a75f", "22a2720e", "c139a627", "ddd2179a", "4a666296"]
    reply = conv.messages[1]
    assert reply.model == "pi-fixture-model" and conv.models == ["pi-fixture-model"]
    assert reply.usage == {"input": 12, "output": 7, "cache_read": 0, "cache_write": 0, "convention": "anthropic"}
    assert conv.meta["thinking_level"] == "off"
    assert conv.messages[2].meta["kind"] == "compaction" and conv.messages[2].meta["tokensBefore"] == 19
    assert conv.title == "Read hello.py and summarize what it prints without editing files."


# ---------------------------------------------------------------- the hand-made fixture (real schema)


def test_fixture_tree_branches_and_blocks():
    checks.sniffed_by_only(pi, head_of(FIXTURE), FIXTURE.name)
    conv = one(FIXTURE)
    # 18 lines: header + 17 entries; 12 of them are messages (3 user, 4 assistant, 2 toolResult,
    # 1 bashExecution, 1 branch_summary, 1 compaction); 2 model_change, thinking, label, session_info, custom: none
    assert len(conv.messages) == 12
    by = {x.id: x for x in conv.messages}
    # a0000007-9 branch off a0000006; the session ends on the other branch (a0000010 onwards)
    assert [x.id for x in conv.messages if not x.active] == ["a0000007", "a0000008", "a0000009"]
    assert by["a0000010"].parent_id == "a0000006" and by["a0000007"].parent_id == "a0000006"
    assert by["a0000013"].parent_id == "a0000011"  # through the model_change entry
    assert conv.title == "CI linker fix"  # session_info
    assert conv.models == ["claude-sonnet-4-5", "gpt-5"]
    assert by["a0000014"].meta["label"] == "fixed"
    # tool calls paired by toolCallId; the failed edit is an error; the user's ! command is a call of its own
    calls = {use.id: res for use, res in conv.tool_calls()}
    assert set(calls) == {"toolu_01", "toolu_02", "bash:a0000011"}
    assert calls["toolu_01"].is_error is False and calls["toolu_02"].is_error is True
    assert calls["bash:a0000011"].text == "1:FROM rust:1.80-slim\n" and calls["bash:a0000011"].is_error is False
    assert by["a0000011"].meta["kind"] == "bash_execution"
    assert [b.text for b in conv.thinking()] == ["Check the CI log first."]
    assert by["a0000004"].usage == {
        "input": 1200,
        "output": 80,
        "cache_read": 3000,
        "cache_write": 400,
        "convention": "anthropic",
    }
    assert by["a0000004"].meta["cost"]["total"] == 0.0072
    assert by["a0000010"].context and by["a0000010"].meta["kind"] == "branch_summary"
    assert by["a0000015"].context and by["a0000015"].meta["firstKeptEntryId"] == "a0000013"
    image = [b for b in by["a0000013"].blocks if b.type == m.IMAGE]
    assert image and image[0].meta == {"mime": "image/png", "size": 9}
    assert conv.meta["events"][-1] == {"type": "custom", "customType": "todo-extension"}


# ---------------------------------------------------------------- rules


HEADER = {"type": "session", "version": 3, "id": "s-1", "timestamp": "2026-01-01T00:00:00Z", "cwd": "/w"}


def msg(eid, parent, role, content, **kw):
    return {
        "type": "message",
        "id": eid,
        "parentId": parent,
        "timestamp": "2026-01-01T00:00:01Z",
        "message": {"role": role, "content": content, **kw},
    }


def test_unknown_version_imports_with_one_warning():
    header = dict(HEADER, version=9)
    convs, ctx = parse_bytes(jsonl(header, msg("u1", None, "user", "hi"), msg("u2", "u1", "user", "again")))
    assert [len(c.messages) for c in convs] == [2]
    checks.warned_once(ctx, "version 9")


def test_version_1_linear_entries_without_ids():
    lines = [dict(HEADER, version=1)]
    for i, role in enumerate(["user", "assistant", "user"]):
        lines.append(
            {"type": "message", "timestamp": f"2026-01-01T00:00:0{i}Z", "message": {"role": role, "content": f"t{i}"}}
        )
    (conv,), _ = parse_bytes(jsonl(*lines))
    assert [x.id for x in conv.messages] == ["line-2", "line-3", "line-4"]
    assert [x.parent_id for x in conv.messages] == [None, "line-2", "line-3"]
    assert all(x.active and x.meta["derived_id"] for x in conv.messages)


def test_missing_header_derives_an_id_and_says_so():
    data = jsonl(msg("u1", None, "user", "hi"), msg("a1", "u1", "assistant", [{"type": "text", "text": "yo"}]))
    (conv,), ctx = parse_bytes(data)
    assert conv.meta["derived_id"] and conv.provider_id.startswith("derived-")
    assert any("no pi session header" in w.reason for w in ctx.warnings)
    assert parse_bytes(data)[0][0].provider_id == conv.provider_id  # deterministic


def test_reused_id_and_parent_loop():
    a = msg("x", "y", "user", "first")
    b = msg("y", "x", "user", "second")
    copy = dict(a)
    other = msg("x", None, "user", "a different entry reusing x")
    (conv,), _ = parse_bytes(jsonl(HEADER, a, b, copy, other))
    assert [x.id for x in conv.messages] == ["x", "y", "x#line-5"]  # the exact copy dropped
    assert sum(1 for x in conv.messages if x.parent_id is None) >= 1  # the loop is cut


def test_bad_lines_cost_only_themselves():
    data = (
        jsonl(HEADER, msg("u1", None, "user", "GOOD-ONE"))
        + b"{not json\n"
        + jsonl(
            {"type": "message", "id": "z", "parentId": "u1", "message": "not an object"},
            msg("a1", "u1", "assistant", [{"type": "text", "text": "GOOD-TWO"}]),
        )
    )
    (conv,), ctx = parse_bytes(data)
    checks.keeps_the_good([conv])
    assert len(ctx.warnings) == 2


def test_not_a_session():
    with pytest.raises(ParseError):
        parse_bytes(b"")


def test_existing_sniffers_do_not_claim_pi():
    head = head_of(FIXTURE)
    assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli))


# ---------------------------------------------------------------- fuzzing


def _linked(convs: list[m.Conversation]) -> None:
    """Distinct ids, and every parent among them."""
    checks.distinct_ids(convs)
    for c in convs:
        ids_ = {x.id for x in c.messages}
        assert all(x.parent_id is None or x.parent_id in ids_ for x in c.messages)


FUZZ = checks.ParserFuzz(parse_bytes, _linked)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = ["type", "id", "parentId", "timestamp", "message", "role", "content", "text", "summary", "version", "usage"]
_VALUES = [
    "session",
    "message",
    "compaction",
    "branch_summary",
    "custom_message",
    "model_change",
    "label",
    "user",
    "assistant",
    "toolResult",
    "bashExecution",
    "toolCall",
    "thinking",
    "text",
    "image",
    "x",
    "y",
]
_shaped = checks.json_shaped(
    _KEYS, st.sampled_from(_VALUES) | st.integers(-5, 10**13) | st.none() | st.text(max_size=8)
)


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=6), min_size=1, max_size=8))
def test_fuzz_shaped_entries(records):
    FUZZ.must_not_raise(jsonl(HEADER, *records))


test_fuzz_mutated_lines = FUZZ.damaged_lines([FIXTURE.read_bytes()] + [p.read_bytes() for p in SAMPLES])


GOOD_FIRST = msg("g1", None, "user", "GOOD-ONE ask")
BAD = msg(
    "b1",
    "g1",
    "assistant",
    [{"type": "toolCall", "id": "c1", "name": "bash", "arguments": {"command": "ls"}}],
    usage={"input": 1, "output": 2},
    timestamp=1772442009000,
)
GOOD_LAST = msg("g2", "b1", "assistant", [{"type": "text", "text": "GOOD-TWO answer"}])


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    checks.keeps_the_good(FUZZ.must_not_raise(jsonl(HEADER, GOOD_FIRST, bad, GOOD_LAST)))
