"""Grok CLI sessions (docs/providers.md, "grok-cli").

Shared samples (other/grok_cli): one chat_history.jsonl (11 lines: system,
an environment-context user item, the prompt, reasoning, an assistant reply
with a read_file call, its result, a backend web search, an assistant call to
run_terminal_cmd, its result, reasoning, a user item with an image), two
summary.json sidecars and an ACP updates.jsonl log. Counts were read from the
files by eye."""

from __future__ import annotations

import json

import provider_checks as checks
import pytest
from conftest import SHARED_SAMPLES, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import detect, grok_cli, is_side_file, read_head

SAMPLES = sample_files("other/grok_cli")
HISTORY = SHARED_SAMPLES / "other" / "grok_cli" / "jazzyalex__agent-sessions__chat_history.jsonl"
SESSION = "019f6851-7ec4-7ef0-97d3-03f3eee38755"


parse_bytes = checks.bytes_parser(grok_cli, "chat_history.jsonl")
check = checks.chain_of("grok-cli")


def item(t: str, content=None, **extra) -> dict:
    return {"type": t, **({"content": content} if content is not None else {}), **extra}


# ---------------------------------------------------------------- counted by hand


def test_sample_counts(samples):
    (conv,), ctx = parse_bytes(HISTORY.read_bytes())
    check([conv])
    assert ctx.warnings == []
    roles = [x.role for x in conv.messages]
    assert len(roles) == 11
    assert roles.count(m.SYSTEM) == 1 and roles.count(m.USER) == 3 and roles.count(m.ASSISTANT) == 5
    assert roles.count(m.TOOL) == 2
    context = [x.id.rsplit(":", 1)[1] for x in conv.messages if x.context]
    assert context == ["1", "2"]  # the system prompt and the environment context
    assert conv.messages[1].meta == {"kind": "environment_context"}
    assert len(conv.thinking()) == 2
    pairs = conv.tool_calls()
    assert [(u.name, r is not None) for u, r in pairs] == [
        ("read_file", True),
        ("web_search", False),
        ("run_terminal_cmd", True),
    ]
    assert pairs[0][0].input == {"target_file": "/tmp/as-agent-lab/grok/project/hello.py"}
    assert pairs[0][1].text == 'print("hello from the grok fixture")\n'
    assert pairs[1][0].meta == {"status": "completed", "backend": True}
    assert conv.models == ["grok-4.5"]
    assert conv.project == "/tmp/as-agent-lab/grok/project"
    assert conv.title == "Read hello.py and summarize what it prints without editing files."
    last = conv.messages[-1]
    assert [b.type for b in last.blocks] == [m.IMAGE, m.TEXT] and last.blocks[0].meta == {
        "url": "data:image/png;base64,…"
    }


def test_session_id_from_the_session_folder(samples, tmp_path):
    folder = tmp_path / "sessions" / "%2Ftmp%2Fproj" / SESSION
    folder.mkdir(parents=True)
    (folder / "chat_history.jsonl").write_bytes(HISTORY.read_bytes())
    (conv,), _ = parse_bytes(HISTORY.read_bytes(), str(folder / "chat_history.jsonl"))
    assert conv.provider_id == SESSION and conv.meta["id_source"] == "session folder"
    assert conv.messages[0].id == f"{SESSION}:1"
    # elsewhere (the shared samples' folder is no session id): derived from the first records, stable
    (a,), _ = parse_bytes(HISTORY.read_bytes(), str(HISTORY))
    (b,), _ = parse_bytes(HISTORY.read_bytes(), "/somewhere/else/chat_history.jsonl")
    assert a.provider_id == b.provider_id and a.provider_id.startswith("derived-") and a.meta["derived_id"]


def test_project_from_the_folder_without_environment_context():
    data = jsonl(item("user", "hi"), item("assistant", "yo", model_id="grok-4"))
    (conv,), _ = parse_bytes(data, f"/h/.grok/sessions/%2Fsrv%2Fapp/{SESSION}/chat_history.jsonl")
    assert conv.project == "/srv/app"


def test_sniffing_and_side_files(samples):
    assert checks.samples_claimed(grok_cli) == [HISTORY.name]
    side = [p.name for p, head in checks.sample_heads() if grok_cli.PROVIDER.side_file(head)]
    assert side == [
        "Mai0313__VibeCodingTracker__summary.json",
        "Mai0313__VibeCodingTracker__updates.jsonl",
        "jazzyalex__agent-sessions__summary.json",
    ]
    for p in SAMPLES:
        head = read_head(p.read_bytes())
        assert detect(head) is (grok_cli.PROVIDER if p == HISTORY else None)
        assert p == HISTORY or is_side_file(head)
    assert checks.claimed_by_others(grok_cli, read_head(HISTORY.read_bytes())) == []


def test_sniffer_refuses_lookalikes():
    claude_code = jsonl({"type": "user", "uuid": "u", "sessionId": "s", "message": {"role": "user", "content": "hi"}})
    chat = jsonl({"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"})
    bare = jsonl(item("user", "hi"), item("assistant", "yo"))  # no system prompt, no marker: too generic
    for data in (claude_code, chat, bare):
        assert not grok_cli.sniff(read_head(data))
    assert grok_cli.sniff(read_head(jsonl(item("system", "s"), item("user", "hi"))))


# ---------------------------------------------------------------- versions and bad input


def test_unknown_item_type_kept_with_one_warning():
    data = jsonl(
        item("user", "GOOD-ONE", prompt_index=0),
        item("compaction", "summary"),
        item("compaction", "again"),
        item("assistant", "GOOD-TWO", model_id="g"),
    )
    (conv,), ctx = parse_bytes(data)
    assert [b.type for x in conv.messages for b in x.blocks] == [m.TEXT, m.OPAQUE, m.OPAQUE, m.TEXT]
    checks.warned_once(ctx, "2 'compaction'")
    assert conv.meta["unknown_items"] == {"compaction": 2}


def test_bad_lines_cost_only_themselves():
    data = b"\n".join(
        [
            json.dumps(item("user", "GOOD-ONE", prompt_index=0)).encode(),
            b"{broken",
            b"[1, 2]",
            json.dumps({"no": "type"}).encode(),
            json.dumps(item("assistant", "GOOD-TWO", model_id="g")).encode(),
        ]
    )
    (conv,), ctx = parse_bytes(data)
    assert [x.text for x in conv.messages] == ["GOOD-ONE", "GOOD-TWO"]
    assert [w.line for w in ctx.warnings] == [2, 3, 4]


def test_encrypted_only_reasoning_is_counted():
    data = jsonl(item("user", "q", prompt_index=0), item("reasoning", None, id="r", summary=[], encrypted_content="x"))
    (conv,), _ = parse_bytes(data)
    assert len(conv.messages) == 1 and conv.meta["encrypted_reasoning"] == 1


def test_not_a_history():
    with pytest.raises(ParseError):
        parse_bytes(b"")
    with pytest.raises(ParseError):
        parse_bytes(b'{"no": "type"}\n{"still": "none"}\n')


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, check)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_value = checks.json_shaped(
    ["type", "text", "url", "id", "name", "arguments", "action", "status", "x"],
    checks.json_scalars(st.text(max_size=20)),
    items=3,
    fields=4,
)
_items = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["system", "user", "assistant", "reasoning", "tool_result", "backend_tool_call", "other"]
        )
    },
    optional={
        "content": _value,
        "tool_calls": _value,
        "tool_call_id": _value,
        "summary": _value,
        "kind": _value,
        "model_id": _value,
        "synthetic_reason": _value,
    },
)


@FUZZ
@given(st.lists(_items, min_size=1, max_size=8))
def test_fuzz_items(items):
    FUZZ.must_not_raise(b"\n".join(json.dumps(i).encode() for i in items))


test_fuzz_truncated_and_mutated = FUZZ.truncated_and_junked([HISTORY.read_bytes() if HISTORY.is_file() else b""])


BAD = item(
    "assistant",
    [{"type": "text", "text": "mid"}],
    tool_calls=[{"id": "c", "name": "n", "arguments": "{}"}],
    model_id="grok-4",
    reasoning_effort="high",
)


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    data = jsonl(item("user", "GOOD-ONE", prompt_index=0), bad, item("assistant", "GOOD-TWO", model_id="g"))
    FUZZ.must_not_raise(data)
    convs, _ = parse_bytes(data)
    checks.keeps_the_good(convs)
