"""Polylogue's own export read back (docs/providers.md, "polylogue"): one bad
conversation line costs that line, whatever it holds (issue 18, item 8); a
one-conversation document that cannot be read fails with ParseError only."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from out_of_range import all_text, jsonl, mutated, parse_or_none

from polylogue.providers import ParseContext, open_clean
from polylogue.providers import polylogue_export as export

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_bytes(data: bytes):
    ctx = ParseContext("<memory>")
    _head, stream = open_clean(io.BytesIO(data), ctx)
    return list(export.parse(stream, ctx)), ctx


def conv(pid: str, text: str, **kw) -> dict:
    return {
        "id": f"claude-code:{pid}",
        "provider": "claude-code",
        "provider_id": pid,
        "title": pid,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:09Z",
        "models": ["claude-x"],
        "meta": {"session_id": pid},
        "messages": [
            {
                "id": "m1",
                "role": "user",
                "timestamp": "2026-01-01T00:00:01Z",
                "blocks": [{"type": "text", "text": text}],
                "usage": {"input": 3, "output": 4},
                "active": True,
            },
            {
                "id": "m2",
                "role": "assistant",
                "parent_id": "m1",
                "timestamp": "2026-01-01T00:00:02Z",
                "blocks": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}],
            },
        ],
        **kw,
    }


GOOD_FIRST, GOOD_LAST = conv("s1", "GOOD-ONE"), conv("s3", "GOOD-TWO")


def test_out_of_range_values_cost_nothing_else():
    bad = conv("s2", "middle", created_at="9999-12-31T23:59:59-14:00", updated_at=1e20)
    bad["messages"][0]["timestamp"] = "0000-01-01T00:00:00Z"
    convs, ctx = parse_bytes(jsonl(GOOD_FIRST, bad, GOOD_LAST))
    assert [c.provider_id for c in convs] == ["s1", "s2", "s3"]
    assert convs[1].created_at is None and convs[1].messages[0].timestamp is None


@FUZZ
@given(mutated(conv("s2", "middle")))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    data = jsonl(GOOD_FIRST, bad, GOOD_LAST)
    parsed = parse_or_none(lambda: parse_bytes(data))
    assert parsed is not None  # a log of lines never fails whole for one line
    assert "GOOD-ONE" in all_text(parsed[0]) and "GOOD-TWO" in all_text(parsed[0])
