"""Cursor agent transcripts (docs/providers.md, "cursor-agent").

Hand count on the shared sample (other/cursor_cli, a schema-coverage fixture):
``wc -l`` = 10 lines, each one message (5 user, 5 assistant); ``grep -o
'"type":"tool_use"' | wc -l`` = 2 calls, ``"tool_result"`` = 2 results (their
``tool_use_id`` name no call, so they pair by order); one thinking block.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import other_providers, sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import mutated

from polylogue.api import Archive
from polylogue.classify import classify
from polylogue.errors import ParseError
from polylogue.providers import by_name, cursor_agent, detect, open_clean, parse_path, read_head
from polylogue.providers.common import ParseContext

SAMPLE = sample_files("other/cursor_cli")
PARENT = "e13fc9ba-0fe8-455e-b069-a0eb0b374502"
CHILD = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6"


def line(role, *content):
    return {"role": role, "message": {"content": list(content)}}


TRANSCRIPT = [
    line(
        "user",
        {
            "type": "text",
            "text": "<user_info>\nOS Version: linux 6.8\nShell: bash\n</user_info>\n\n<user_query>\nwhy is the quokkafjord build red?\n</user_query>",
        },
    ),
    line(
        "assistant",
        {"type": "thinking", "thinking": "Look at CI first."},
        {"type": "tool_use", "id": "toolu_9", "name": "Shell", "input": {"command": "gh run view"}},
        {"type": "tool_use", "name": "Task", "input": {"prompt": "read the logs", "subagent_type": "explore"}},
    ),
    line(
        "user",
        {"type": "tool_result", "tool_use_id": "toolu_9", "content": "failed: lint"},
        {"type": "tool_result", "content": [{"type": "text", "text": "lint: E501"}]},
    ),
    line("assistant", {"type": "text", "text": "A line is too long."}),
]


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def parse_bytes(data: bytes, path: str):
    ctx = ParseContext(path)
    _, stream = open_clean(io.BytesIO(data), ctx)
    return list(cursor_agent.parse(stream, ctx)), ctx


@pytest.mark.parametrize("path", SAMPLE, ids=lambda p: p.name)
def test_shared_sample_hand_counted(path):
    (conv,), ctx = parse_path(str(path))
    assert ctx.all_warnings() == [] and conv.provider == "cursor-agent"
    assert len(conv.messages) == 10 and [x.role for x in conv.messages] == ["user", "assistant"] * 5
    calls = conv.tool_calls()
    assert [(u.name, r.text) for u, r in calls] == [("Bash", "file1.txt\nfile2.txt"), ("Read", "hello world")]
    assert [r.meta["source_id"] for _, r in calls] == ["t1", "t2"]  # their ids named no call: paired by order
    assert len(conv.thinking()) == 1 and conv.title == "What files are here?"
    assert conv.meta["derived_id"] is True  # not named after a chat id


@pytest.mark.parametrize("path", SAMPLE, ids=lambda p: p.name)
def test_no_other_sniffer_claims_the_sample(path):
    head = read_head(path.read_bytes())
    assert detect(head) is by_name("cursor-agent")
    assert [
        mod.NAME for mod in other_providers("cursor_agent") if mod.PROVIDER.asked(head.kind) and mod.sniff(head)
    ] == []


def test_user_query_context_subagents_and_ids(tmp_path):
    path = f"/home/u/.cursor/projects/home-u-shop/agent-transcripts/{PARENT}/subagents/{CHILD}.jsonl"
    (conv,), ctx = parse_bytes(jsonl(TRANSCRIPT), path)
    assert ctx.all_warnings() == []
    assert (conv.provider_id, conv.meta["id_from"], conv.parent_id) == (CHILD, "file name", f"cursor-agent:{PARENT}")
    assert conv.project == "home-u-shop"
    assert [(x.id, classify(x)) for x in conv.messages] == [
        ("L1", "prompt"), ("L1#context", "context"), ("L2", "tool_call"), ("L3", "tool_result"), ("L4", "reply")
    ]  # fmt: skip
    assert conv.messages[0].text == "why is the quokkafjord build red?" and "OS Version" in conv.messages[1].text
    calls = conv.tool_calls()
    assert [(u.id, r.text) for u, r in calls] == [("toolu_9", "failed: lint"), ("L2#2", "lint: E501")]


def test_bad_lines_cost_one_line():
    data = (
        jsonl(TRANSCRIPT[:2])
        + b"{not json\n"
        + b'{"role": "robot", "message": {"content": []}}\n'
        + jsonl(TRANSCRIPT[2:])
    )
    (conv,), ctx = parse_bytes(data, "x.jsonl")
    assert len(conv.messages) == 5 and [w.line for w in ctx.warnings] == [3, 4]


def test_sniffer_refuses_lookalikes():
    claude_code = {
        "type": "user",
        "uuid": "u",
        "sessionId": "s",
        "message": {"role": "user", "content": [{"type": "text", "text": "x"}]},
        "role": "user",
    }
    assert not cursor_agent.sniff(read_head(jsonl([claude_code, claude_code])))
    assert not cursor_agent.sniff(read_head(jsonl([{"role": "user", "content": "hi"}] * 2)))  # no message envelope
    assert cursor_agent.sniff(read_head(jsonl(TRANSCRIPT)))


def test_default_location(tmp_path):
    root = Path.home() / ".cursor" / "projects" / "home-u-shop"
    (root / "agent-transcripts" / PARENT / "subagents").mkdir(parents=True)
    (root / "agent-transcripts" / PARENT / f"{PARENT}.jsonl").write_bytes(jsonl(TRANSCRIPT))
    (root / "agent-transcripts" / PARENT / "subagents" / f"{CHILD}.jsonl").write_bytes(jsonl(TRANSCRIPT[:2]))
    (root / "mcps" / "server" / "tools").mkdir(parents=True)
    (root / "mcps" / "server" / "tools" / "search.json").write_text('{"name": "search", "inputSchema": {}}')
    report = Archive(tmp_path / "h").sync()
    assert report.errors == [] and report.conversations_new == 2
    child = Archive(tmp_path / "h").conversation(f"cursor-agent:{CHILD}")
    assert child.parent_id == f"cursor-agent:{PARENT}"


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated(TRANSCRIPT[1]), mutated(TRANSCRIPT[2]))
def test_fuzz_values(call, result):
    data = jsonl([TRANSCRIPT[0], call, result, TRANSCRIPT[3]])
    try:
        convs, _ = parse_bytes(data, "x.jsonl")
    except ParseError:
        return
    assert convs and convs[0].messages[0].text == "why is the quokkafjord build red?"


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_bytes(data):
    try:
        parse_bytes(jsonl(TRANSCRIPT[:1]) + data, "x.jsonl")
    except ParseError:
        pass
