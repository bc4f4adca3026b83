"""Google Antigravity (docs/providers.md, "antigravity"): the CLI's step log and
language-server captures.

Counts were made by reading the files. Step log: each step is one message but
``CONVERSATION_HISTORY`` markers without content (none), and a ``USER_INPUT`` with
text outside ``<USER_REQUEST>`` adds a context message. Capture: one message per
``###`` section of the markdown.
"""

from __future__ import annotations

import json

import provider_checks as checks
import pytest
from conftest import ids, sample_files
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import jsonl, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import antigravity, claude_code, codex, gemini_cli, read_head

STEPS = sample_files("other/antigravity")
CAPTURES = [p for p in sample_files("other/origin-capability") if "antigravity" in p.name]


parse_bytes = checks.bytes_parser(antigravity, "transcript.jsonl")

EXPECTED = {
    # 19 steps - 1 empty CONVERSATION_HISTORY + 1 context message for the settings change of step 0
    "jazzyalex__agent-sessions__cli_small.jsonl": 19,
    "Sinity__polylogue__antigravity-session.json": 2,  # "### User Input", "### Planner Response"
}


@pytest.mark.parametrize("path", [*STEPS, *CAPTURES], ids=ids([*STEPS, *CAPTURES]))
def test_samples(samples, path):
    count = checks.hand_count(EXPECTED, path)
    head = read_head(path.read_bytes())
    checks.sniffed_by_only(antigravity, head, path.name)
    assert not any(mod.sniff(head) for mod in (claude_code, codex, gemini_cli))
    convs, ctx = parse_bytes(path.read_bytes())
    assert ctx.all_warnings() == []
    (conv,) = convs
    assert len(conv.messages) == count
    assert len({x.id for x in conv.messages}) == len(conv.messages)


def test_step_log(samples):
    (conv,), _ = parse_bytes(
        (samples / "other" / "antigravity" / "jazzyalex__agent-sessions__cli_small.jsonl").read_bytes()
    )
    first, note = conv.messages[0], conv.messages[1]
    assert first.text == "List the files." and not first.context
    assert note.context and note.text.startswith("<USER_SETTINGS_CHANGE>")
    assert conv.models == ["Gemini 3.5 Flash (Medium)"] and conv.messages[2].model == "Gemini 3.5 Flash (Medium)"
    assert conv.title == "List the files." and conv.meta["derived_id"]
    # announced calls: list_dir (step 2) answered by LIST_DIRECTORY, write_file (step 8) by CODE_ACTION
    by_name = {u.name: (u, r) for u, r in conv.tool_calls()}
    use, res = by_name["list_dir"]
    assert use.input == {"DirectoryPath": "/tmp/repo", "toolSummary": "Listing contents"}
    assert res.text == '{"name":"a.txt"}\n{"name":"b.txt"}\n'
    assert by_name["write_file"][1].text.startswith("Created At:")
    # VIEW_FILE, RUN_COMMAND (x2), SEARCH_WEB, GREP_SEARCH (x2), GENERIC (x2) had no announced call
    inferred = [u.name for u, _ in conv.tool_calls() if (u.meta or {}).get("inferred_call")]
    assert sorted(inferred) == sorted(
        ["view_file", "run_command", "search_web", "generic", "run_command", "grep_search", "grep_search", "generic"]
    )
    assert all(r is not None and r.id == u.id for u, r in conv.tool_calls())
    assert [b.text for b in conv.thinking()] == [
        "Listing the directory.",
        "Summarizing the result.",
        "Writing a note, then checking the docs.",
    ]
    assert sum(1 for x in conv.messages if (x.meta or {}).get("truncated")) == 8  # truncated_fields: content
    assert [x.meta["step_type"] for x in conv.messages if x.context and x.role == m.SYSTEM] == [
        "CHECKPOINT",
        "SYSTEM_MESSAGE",
        "SYSTEM_MESSAGE",
    ]
    assert conv.created_at.isoformat() == "2026-06-26T21:16:16+00:00"
    assert conv.updated_at.isoformat() == "2026-06-26T21:16:26+00:00"  # placeholder times are unknown


def test_capture(samples):
    path = samples / "other" / "origin-capability" / "Sinity__polylogue__antigravity-session.json"
    (conv,), _ = parse_bytes(path.read_bytes())
    assert conv.id == "antigravity:origin-matrix-antigravity" and conv.title == "Origin capability matrix"
    assert [(x.role, x.text) for x in conv.messages] == [
        ("user", "Prove the parser claim."),
        ("assistant", "The production route parsed this witness."),
    ]
    assert conv.project == "polylogue" and conv.updated_at.isoformat() == "2026-08-01T10:00:02+00:00"


def test_ids_are_stable_and_derived_from_the_first_step():
    a = {
        "step_index": 0,
        "source": "USER_EXPLICIT",
        "type": "USER_INPUT",
        "created_at": "2026-01-01T00:00:00Z",
        "content": "<USER_REQUEST>\nhi\n</USER_REQUEST>",
    }
    b = {
        "step_index": 1,
        "source": "MODEL",
        "type": "PLANNER_RESPONSE",
        "created_at": "2026-01-01T00:00:01Z",
        "content": "hello",
    }
    (one,), _ = parse_bytes(jsonl(a))
    (two,), _ = parse_bytes(jsonl(a, b))
    assert one.provider_id == two.provider_id  # the log grew; its id did not change
    assert [x.text for x in two.messages] == ["hi", "hello"]


def test_not_antigravity():
    with pytest.raises(ParseError):
        parse_bytes(b'{"cascadeId": "x"}')
    with pytest.raises(ParseError):
        parse_bytes(b"")


# ---------------------------------------------------------------- fuzzing


FUZZ = checks.ParserFuzz(parse_bytes)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "step_index",
    "source",
    "type",
    "status",
    "created_at",
    "content",
    "thinking",
    "tool_calls",
    "name",
    "args",
    "truncated_fields",
    "markdown",
    "cascadeId",
]
_VALUES = [
    "USER_INPUT",
    "PLANNER_RESPONSE",
    "RUN_COMMAND",
    "SYSTEM_MESSAGE",
    "MODEL",
    "SYSTEM",
    "USER_EXPLICIT",
    "content",
    "### User Input\nx",
    "<USER_REQUEST>a</USER_REQUEST>",
]
_shaped = checks.json_shaped(
    _KEYS, st.sampled_from(_VALUES) | st.integers(-5, 10**13) | st.none() | st.text(max_size=8)
)


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=6), min_size=1, max_size=8))
def test_fuzz_shaped_steps(records):
    FUZZ.must_not_raise(jsonl({"step_index": 0, "source": "SYSTEM", "type": "X"}, *records))


@FUZZ
@given(st.dictionaries(st.sampled_from(_KEYS), _shaped, max_size=6), st.text(max_size=200))
def test_fuzz_captures(doc, markdown):
    FUZZ.must_not_raise(json.dumps({**doc, "cascadeId": "c", "markdown": markdown}).encode())


GOOD_FIRST = {"step_index": 0, "source": "USER_EXPLICIT", "type": "USER_INPUT", "content": "GOOD-ONE"}
BAD = {
    "step_index": 1,
    "source": "MODEL",
    "type": "PLANNER_RESPONSE",
    "status": "DONE",
    "created_at": "2026-06-26T21:16:17Z",
    "thinking": "t",
    "tool_calls": [{"name": "list_dir", "args": {"DirectoryPath": '"/tmp"'}}],
}
GOOD_LAST = {"step_index": 2, "source": "MODEL", "type": "PLANNER_RESPONSE", "content": "GOOD-TWO"}


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_keep_the_good_steps(bad):
    checks.keeps_the_good(FUZZ.must_not_raise(jsonl(GOOD_FIRST, bad, GOOD_LAST)))
