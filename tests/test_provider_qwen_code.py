"""Qwen Code chats (docs/providers.md, "qwen-code"): the shared sample, our hand-made
fixtures (tests/fixtures/qwen_code/, to the ChatRecord schema of Qwen Code's
chatRecordingService: a session with a rewind, a compression, a title and a subagent
record; a forked session), sniffing and fuzzing. Counted by hand from the files."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import provider_checks as checks
import pytest
from conftest import REPO, SHARED_SAMPLES, ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import all_text, jsonl, mutated

from polylogue.models import ASSISTANT, THINKING, TOOL, USER
from polylogue.providers import detect, parse_path, qwen_code, read_head

SAMPLES = sample_files("other/qwen_code")
FIXTURES = REPO / "tests" / "fixtures" / "qwen_code"
REWIND = FIXTURES / "rewind-session.jsonl"
FORK = FIXTURES / "forked-session.jsonl"


def parse_file(path: Path):
    return parse_path(str(path), "qwen-code")


parse_bytes = checks.bytes_parser(qwen_code)


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def uid(n: int) -> str:
    return f"0197a000-0000-7000-8000-{n:012d}"


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_shared_sample(samples, path):
    (conv,), ctx = parse_file(path)
    assert ctx.all_warnings() == []
    assert conv.id == "qwen-code:019f0000-0000-7000-8000-000000000001"
    assert conv.project == "/tmp/as-qwen-fixture/project" and conv.meta["gitBranch"] == "fixture-branch"
    # 6 records: user (its hook-context part split off as context), assistant, tool_result,
    # assistant, system (ui_telemetry: not a message), user notification (context)
    roles = [(m.role, m.context) for m in conv.messages]
    assert roles == [(USER, False), (USER, True), (ASSISTANT, False), (TOOL, False), (ASSISTANT, False), (USER, True)]
    assert conv.messages[0].text == "Inspect the synthetic fixture."
    assert conv.messages[1].text.startswith("<qwen:user-prompt-submit-context>")
    assert [b.text for b in conv.thinking()] == ["I should read the synthetic file."]
    ((use, res),) = conv.tool_calls()
    assert (use.id, use.name, use.input) == (
        "synthetic-call-1",
        "read_file",
        {"path": "/tmp/as-qwen-fixture/project/README.md"},
    )
    assert res.text == "Synthetic file contents." and res.is_error is False and res.meta["outcome"] == "success"
    assert conv.messages[-1].meta["kind"] == "notification"
    # the telemetry record sits between the reply and the notification: re-linked past it
    assert conv.messages[-1].parent_id == conv.messages[-2].id
    assert conv.meta["system_records"] == {"ui_telemetry": 1}
    assert all(m.active for m in conv.messages)


def test_rewind_session():
    (conv,), ctx = parse_file(REWIND)
    assert ctx.all_warnings() == []
    assert conv.title == "Type hints for util.py"  # a custom_title record
    # records 1-6 (user, assistant, result, assistant, result, assistant) were rewound; then
    # user 8 (+ its @file expansion as context), assistant 9, the /compress command (context),
    # the subagent's record 13, user 14, assistant 15. System records 7, 11, 12, 16 give none.
    assert len(conv.messages) == 13
    inactive = [m.id for m in conv.messages if not m.active]
    assert inactive == [uid(n) for n in range(1, 7)]
    assert conv.meta["rewound_messages"] == 6
    assert all(m.meta["rewound"] for m in conv.messages if not m.active)
    active = [m.id for m in conv.messages if m.active and not m.sidechain]
    assert active == [uid(8), f"{uid(8)}#context", uid(9), uid(10), uid(14), uid(15)]
    # the path: each active message hangs off the one before it (re-linked past the system records)
    by_id = {m.id: m for m in conv.messages}
    assert [by_id[i].parent_id for i in active] == [None, *active[:-1]]
    assert by_id[uid(1)].parent_id is None  # the rewound branch has its own root
    assert by_id[f"{uid(8)}#context"].text.startswith("--- Content from referenced files ---")
    assert by_id[uid(8)].text == "Add type hints to @util.py and keep the signature"
    assert by_id[uid(10)].text == "/compress" and by_id[uid(10)].context
    side = by_id[uid(13)]
    assert side.sidechain and side.meta["agent"] == "explore-1a2b" and side.model == "qwen3-coder-flash"
    # tools: the read succeeded, the edit failed
    calls = [(u.id, r.is_error, r.meta["outcome"]) for u, r in conv.tool_calls()]
    assert calls == [("call_read_1", False, "success"), ("call_edit_1", True, "error")]
    assert by_id[uid(5)].meta["display"] == "Error: 0 occurrences found"
    # usage per reply, Gemini's lanes: 80 + 60 + 15 + 40 + 12 + 5 out, thoughts 20
    usage = [m.usage for m in conv.messages if m.usage]
    assert sum(u["output"] for u in usage) == 212
    assert sum(u["input"] for u in usage) == 12000 + 12500 + 12800 + 3000 + 800 + 3100
    assert by_id[uid(2)].usage == {
        "input": 12000,
        "output": 80,
        "cache_read": 9000,
        "reasoning": 20,
        "convention": "gemini",
    }
    assert conv.models == ["qwen3-coder-plus", "qwen3-coder-flash"]
    # the compression checkpoint's history copies earlier turns: counted, never imported
    assert "state_snapshot" not in all_text([conv])
    assert conv.meta["system_records"] == {
        "chat_compression": 1,
        "custom_title": 1,
        "rewind": 1,
        "slash_command": 1,
        "ui_telemetry": 1,
    }
    assert conv.created_at == utc("2026-06-01T08:00:00Z") and conv.updated_at == utc("2026-06-01T08:01:01Z")


def test_forked_session_and_unknown_record_type():
    (conv,), ctx = parse_file(FORK)
    assert conv.id == "qwen-code:8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"
    assert conv.parent_id == "qwen-code:7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert conv.meta["link_type"] == "fork"
    assert [m.text for m in conv.messages] == ["Add type hints to util.py", "Done."]
    # the third record's type is one this parser does not know: one warning line, the rest imported
    checks.warned_once(ctx, "checkpoint")


def test_duplicate_record_first_wins():
    lines = REWIND.read_bytes().splitlines(keepends=True)
    changed = json.loads(lines[1])
    changed["message"]["parts"] = [{"text": "a later copy"}]
    (conv,), _ = parse_bytes(b"".join([*lines[:2], json.dumps(changed).encode() + b"\n", *lines[2:]]))
    assert len(conv.messages) == 13 and "a later copy" not in all_text([conv])
    assert conv.meta["duplicate_records"] == 1


def test_bad_lines_cost_only_themselves():
    lines = REWIND.read_bytes().splitlines(keepends=True)
    data = b"".join([lines[0], b"{broken\n", b"[1, 2]\n", *lines[1:]])
    (conv,), ctx = parse_bytes(data)
    assert len(conv.messages) == 13 and [w.line for w in ctx.warnings] == [2, 3]


def test_reimport_gives_same_ids():
    a, b = parse_file(REWIND)[0][0], parse_file(REWIND)[0][0]
    assert [(m.id, m.parent_id, m.active) for m in a.messages] == [(m.id, m.parent_id, m.active) for m in b.messages]


def test_sniff(samples):
    for path in [*SAMPLES, REWIND, FORK]:
        head = checks.head_of(path)
        assert qwen_code.sniff(head) and detect(head) is qwen_code.PROVIDER, path.name
        assert checks.claimed_by_others(qwen_code, head) == [], path.name
    claude_code = jsonl(
        {
            "type": "user",
            "uuid": "a",
            "parentUuid": None,
            "sessionId": "s",
            "message": {"role": "user", "content": "hi"},
        },
        {
            "type": "assistant",
            "uuid": "b",
            "parentUuid": "a",
            "sessionId": "s",
            "message": {"role": "assistant", "content": []},
        },
    )
    assert not qwen_code.sniff(read_head(claude_code))


def test_sniffer_leaves_other_providers_samples_alone(samples):
    assert checks.samples_claimed(qwen_code, outside="qwen_code") == []


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, max_examples=150)
test_fuzz_bytes = FUZZ.random_bytes(max_size=3000)
_KEYS = [
    "role",
    "parts",
    "text",
    "thought",
    "functionCall",
    "functionResponse",
    "id",
    "name",
    "args",
    "response",
    "output",
    "error",
    "inlineData",
    "mimeType",
    "data",
    "status",
    "resultDisplay",
    "displayText",
    "customTitle",
    "parentSessionId",
    "phase",
    "rawCommand",
    "promptTokenCount",
    "candidatesTokenCount",
]
_shaped = checks.json_shaped(
    _KEYS, checks.wide_scalars(["u1", "u2", "u3", "c1", "success", "error", "invocation"]), max_leaves=25
)
_record = st.fixed_dictionaries(
    {
        "uuid": st.sampled_from(["u1", "u2", "u3", "u4", "[trimmed for fixture]"]),
        "parentUuid": st.sampled_from([None, "u1", "u2", "u3", "u4", "u9"]),
        "sessionId": st.sampled_from(["s1", "s2"]),
        "type": st.sampled_from(["user", "assistant", "tool_result", "system", "other"]),
        "message": st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "model"]), "parts": st.lists(_shaped, max_size=4)}
        ),
    },
    optional={
        "subtype": st.sampled_from(["custom_title", "rewind", "slash_command", "notification", "parent_session", None]),
        "systemPayload": _shaped,
        "toolCallResult": _shaped,
        "usageMetadata": _shaped,
        "timestamp": st.sampled_from(["2026-01-01T00:00:00Z", "[trimmed]", 10**20, None]),
        "isSidechain": st.booleans(),
        "forkedFrom": _shaped,
    },
)


@FUZZ
@given(st.lists(_record, min_size=1, max_size=10))
def test_fuzz_records(records):
    FUZZ.must_not_raise(b"\n".join(json.dumps(r).encode() for r in records))


def _corpus() -> list[bytes]:
    files = [REWIND, FORK] + (SAMPLES if SHARED_SAMPLES.is_dir() else [])
    return [p.read_bytes() for p in files]


CORPUS = _corpus()
test_fuzz_mutated_lines = FUZZ.damaged_lines(CORPUS)
test_fuzz_truncated = FUZZ.truncated(CORPUS)


_LINES = [json.loads(x) for x in REWIND.read_text().splitlines()]


@FUZZ
@given(mutated(_LINES[1]) | mutated(_LINES[2]) | mutated(_LINES[7]))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    good_one = dict(_LINES[0], uuid="g1", message={"role": "user", "parts": [{"text": "GOOD-ONE ask"}]})
    good_one.pop("systemPayload")
    good_two = dict(_LINES[14], uuid="g2", parentUuid="g1", message={"role": "model", "parts": [{"text": "GOOD-TWO"}]})
    data = jsonl(good_one, bad, good_two)
    FUZZ.must_not_raise(data)
    convs, _ = parse_bytes(data)
    checks.keeps_the_good(convs)


def test_blocks_are_typed():
    (conv,), _ = parse_file(REWIND)
    types = Counter(b.type for m in conv.messages for b in m.blocks)
    assert types == {"text": 9, THINKING: 1, "tool_use": 2, "tool_result": 2}


# ---------------------------------------------------------------- default locations


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_default_locations(platform, tmp_path):
    from polylogue.sources import default_sources, discover

    user = tmp_path / "home"
    got = dict(default_sources(tmp_path, platform=platform, environ={}, user=user))
    assert got["qwen-code"] == user / ".qwen" / "projects"
    assert dict(default_sources(tmp_path, platform=platform, environ={"QWEN_HOME": "/q"}, user=user))[
        "qwen-code"
    ] == Path("/q/projects")
    chats = user / ".qwen" / "projects" / "-home-dev-mathlib" / "chats"
    chats.mkdir(parents=True)
    (chats / "7a1b2c3d.jsonl").write_bytes(REWIND.read_bytes())
    (chats.parent / "file-history.json").write_text("{}")
    found = [f.path.name for f in discover([got["qwen-code"]], [])]
    assert found == ["7a1b2c3d.jsonl"]
