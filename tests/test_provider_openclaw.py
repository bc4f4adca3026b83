"""OpenClaw sessions (docs/providers.md, "openclaw"): pi session files with
OpenClaw's own records, parsed by pi's parser under OpenClaw's name.

The sample was counted by reading it: ``custom_message`` and the six ``message``
entries are messages (7); ``session``, ``model_change``,
``thinking_level_change`` and ``custom`` are none.
"""

from __future__ import annotations

import json

import provider_checks as checks
import pytest
from conftest import ids, sample_files
from hypothesis import given
from out_of_range import jsonl, mutated

from polylogue import models as m
from polylogue.providers import claude_code, codex, gemini_cli, is_side_file, openclaw, read_head
from polylogue.providers import pi_agent as pi

SAMPLES = sample_files("other/openclaw")


parse_bytes = checks.bytes_parser(openclaw, "session.jsonl")

EXPECTED = {"jazzyalex__agent-sessions__large.jsonl": 7}


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample_counts_and_detection(samples, path):
    count = checks.hand_count(EXPECTED, path)
    checks.sniffed_by_only(openclaw, read_head(path.read_bytes()), path.name)
    convs, ctx = parse_bytes(path.read_bytes())
    assert ctx.all_warnings() == []
    (conv,) = convs
    assert len(conv.messages) == count


def test_sample_fields(samples):
    (conv,), _ = parse_bytes((samples / "other" / "openclaw" / "jazzyalex__agent-sessions__large.jsonl").read_bytes())
    assert conv.id == "openclaw:openclaw-stage0-large" and conv.project == "/tmp/large"
    by = {x.id: x for x in conv.messages}
    # the runtime context hangs off the custom entry, under the session root; m1 starts another
    # root, and the session ends (m6) in m1's tree: the context message is off the active path
    runtime = by["oc-custom-message-1"]
    assert runtime.context and runtime.role == m.USER and not runtime.active
    assert runtime.meta["customType"] == "openclaw.runtime-context"
    assert [x.id for x in conv.messages if x.active] == ["m1", "m2", "m3", "m4", "m5", "m6"]
    # m3 and m6 name tool-call ids as parents, not entries: read as the entry before them
    assert by["m3"].parent_id == "m2" and by["m3"].meta["parent_missing"] == "tc-status"
    assert by["m6"].parent_id == "m5" and by["m6"].meta["parent_missing"] == "tc-write"
    calls = {u.id: r for u, r in conv.tool_calls()}
    assert set(calls) == {"tc-status", "tc-write"}
    assert calls["tc-status"].text == "M file1\nM file2" and calls["tc-status"].is_error is False
    assert by["m2"].model == "openclaw-large"  # on the message
    assert by["m4"].model == "openclaw-large"  # from the model_change
    assert conv.meta["thinking_level"] == "high"


def test_pi_and_openclaw_split_by_openclaw_records():
    header = {"type": "session", "version": 3, "id": "s", "timestamp": "2026-01-01T00:00:00Z", "cwd": "/w"}
    user = {"type": "message", "id": "u", "parentId": None, "message": {"role": "user", "content": "hi"}}
    plain = read_head(jsonl(header, user))
    assert pi.sniff(plain) and not openclaw.sniff(plain)
    snap = {"type": "custom", "id": "c", "parentId": "u", "customType": "model-snapshot", "data": {}}
    marked = read_head(jsonl(header, user, snap))
    assert openclaw.sniff(marked) and not pi.sniff(marked)
    (conv,), _ = parse_bytes(jsonl(header, user, snap))
    assert conv.provider == "openclaw" and len(conv.messages) == 1


def test_sessions_index_is_a_side_file():
    index = {"agent:main:main": {"sessionId": "08ef1", "updatedAt": 1706745600000, "totalTokens": 4700}}
    head = read_head(json.dumps(index, indent=2).encode())
    assert is_side_file(head) and openclaw.PROVIDER.side_file is not None and openclaw.PROVIDER.side_file(head)


def test_existing_sniffers_do_not_claim_openclaw(samples):
    head = read_head((samples / "other" / "openclaw" / "jazzyalex__agent-sessions__large.jsonl").read_bytes())
    assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli))


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes, max_examples=100)
HEADER = {"type": "session", "version": 3, "id": "oc", "timestamp": "2026-01-01T00:00:00Z", "cwd": "/w"}
MARK = {"type": "custom", "id": "k", "parentId": None, "customType": "openclaw.cache-ttl", "data": {}}
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


GOOD_FIRST = {"type": "message", "id": "g1", "parentId": "k", "message": {"role": "user", "content": "GOOD-ONE"}}
BAD = {
    "type": "message",
    "id": "b1",
    "parentId": "g1",
    "timestamp": "2026-01-01T00:00:02Z",
    "message": {"role": "toolResult", "toolCallId": "c1", "toolName": "x", "content": [{"type": "text", "text": "o"}]},
}
GOOD_LAST = {
    "type": "message",
    "id": "g2",
    "parentId": "b1",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "GOOD-TWO"}]},
}


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    checks.keeps_the_good(FUZZ.must_not_raise(jsonl(HEADER, MARK, GOOD_FIRST, bad, GOOD_LAST)))
