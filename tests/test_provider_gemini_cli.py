"""Gemini CLI chats (docs/providers.md, "gemini-cli"): old single-JSON
documents and new JSONL logs with $set patches and re-emitted (revised) messages.

Expected numbers were derived from the files with jq, independently of the parser:
- JSON form: ``jq '.messages|length'`` (+1 for each user message whose
  ``displayContent`` text differs from ``content``: it becomes a context message);
- JSONL form: ``jq -r 'select(.id!=null)|.id' | sort -u | wc -l`` (revisions count
  once) + the same displayContent rule.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, ids, sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import accepted, all_text, dumps, hostile, mutated
from out_of_range import jsonl as jsonl_text

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import gemini_aistudio, open_clean, read_head
from polylogue.providers import gemini_cli as cli
from polylogue.providers.common import ParseContext

CLI = sample_files("gemini-cli")
CHATS = [p for p in CLI if "logs" not in p.name]
CHAT_DIR = next((EXAMPLES / "gemini-cli" / "tmp").glob("*/chats"))
EX_JSON = next(CHAT_DIR.glob("session-*.json"))
EX_JSONL = next(CHAT_DIR.glob("session-*.jsonl"))


def parse_bytes(data: bytes, path: str = "session.jsonl") -> tuple[list[m.Conversation], ParseContext]:
    ctx = ParseContext(path)
    head, stream = open_clean(io.BytesIO(data), ctx)
    return list(cli.parse(stream, ctx)), ctx


def parse_file(path: Path) -> tuple[list[m.Conversation], ParseContext]:
    ctx = ParseContext(str(path))
    with open(path, "rb") as raw:
        head, stream = open_clean(raw, ctx)
        return list(cli.parse(stream, ctx)), ctx


def one(path: Path) -> m.Conversation:
    convs, ctx = parse_file(path)
    assert len(convs) == 1, ctx.all_warnings()
    return convs[0]


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def head_of(path: Path):
    return read_head(path.read_bytes()[: 256 << 10])


HDR = {
    "sessionId": "s-1",
    "projectHash": "ph",
    "startTime": "2026-01-01T00:00:00Z",
    "lastUpdated": "2026-01-01T00:00:00Z",
}


def msg(i, typ="user", text=None, **kw):
    return {"id": f"m{i}", "timestamp": f"2026-01-01T00:00:{i:02d}Z", "type": typ, "content": text or f"t{i}", **kw}


# ---------------------------------------------------------------- conformance

EXPECTED = {
    # 11 distinct ids in 16 id lines (5 re-emitted) + 1 context message for the /init expansion
    "Mai0313__VibeCodingTracker__gemini.jsonl": 12,
    "jazzyalex__agent-sessions__jsonl_v040.jsonl": 3,  # 3 ids, none repeated
    "jazzyalex__agent-sessions__large.json": 7,  # .messages|length
    "jazzyalex__agent-sessions__small.json": 2,  # displayContent "Hello" == content: no extra message
    "kvsankar__agent-history__gemini_golden.json": 4,
    "kvsankar__agent-history__gemini_with_tool_error.jsonl": 9,  # 9 distinct ids
}


@pytest.mark.parametrize("path", CHATS, ids=ids(CHATS))
def test_message_counts(samples, path):
    assert path.name in EXPECTED, "new sample: add its hand-checked count"
    convs, ctx = parse_file(path)
    assert len(convs) == 1
    conv = convs[0]
    assert len(conv.messages) == EXPECTED[path.name]
    assert len({x.id for x in conv.messages}) == len(conv.messages)
    assert all(x.active for x in conv.messages)
    assert ctx.all_warnings() == []
    # every tool_use has its result, paired by call id
    for use, res in conv.tool_calls():
        assert res is not None and res.id == use.id


def test_real_jsonl_revisions_and_patches(samples):
    conv = one(samples / "gemini-cli" / "Mai0313__VibeCodingTracker__gemini.jsonl")
    assert conv.provider_id == "0ab84937-9fe7-4284-986a-33c832af0b6a"
    assert conv.meta["form"] == "jsonl" and conv.meta["kind"] == "main"
    assert conv.meta["projectHash"].startswith("9da8b3df")
    assert conv.models == ["gemini-3-flash-preview", "gemini-3.1-pro-preview"]  # first-seen order
    # the last $set lastUpdated (line 28)
    assert conv.updated_at.isoformat() == "2026-04-23T12:58:35.591000+00:00"
    assert conv.created_at.isoformat() == "2026-04-23T12:52:52.759000+00:00"
    # 5 re-emitted ids: last state wins (their tool calls), and each stays at its first position
    by = {x.id: x for x in conv.messages}
    first_tools = by["52e62e67-5d6b-4a2c-b12d-11b87fe3e4a4"]
    assert first_tools.meta["revisions"] == 2 and first_tools.has(m.TOOL_USE)
    # jq (last state per id): 12 tool calls, all status "success"; 7 thoughts
    calls = conv.tool_calls()
    assert len(calls) == 12 and all(r is not None and r.is_error is False for _, r in calls)
    assert len(conv.thinking()) == 7
    # tokens counted once per id: jq sum of .tokens.input over last state per id = 202586 (365050 over all lines)
    assert sum(x.usage["input"] for x in conv.messages if x.usage) == 202586
    assert sum(x.usage["cache_read"] for x in conv.messages if x.usage) == 48951
    assert all(x.usage["convention"] == "gemini" for x in conv.messages if x.usage)
    # /init: the typed command is the prompt, the generated prompt is context
    init = by["8828dd6a-d778-464f-8160-eb2e1604a122"]
    assert init.role == "user" and init.text == "/init" and not init.context
    expanded = by["8828dd6a-d778-464f-8160-eb2e1604a122#content"]
    assert expanded.context and expanded.parent_id == init.id
    assert expanded.text.startswith("\nYou are an AI agent that brings the power of Gemini")
    # "System: Please continue." shown as a functionResponse: automatic, context
    cont = by["1b8df650-1638-435e-b736-1f1f42357da9"]
    assert cont.context and cont.text == "System: Please continue."
    assert cont.meta["display_content"][0]["functionResponse"]["id"] == "jyi4d5mc"
    # info notices are system messages
    assert [x.text for x in conv.messages if x.role == "system"] == [
        "Empty GEMINI.md created. Now analyzing the project to populate it.",
        "Request cancelled.",
    ]
    # write_file diff kept with the result
    (res,) = [r for u, r in calls if u.name == "write_file"]
    assert "fileDiff" in res.meta["display"]
    # linear chain
    assert conv.messages[1].parent_id == conv.messages[0].id


def test_large_json(samples):
    conv = one(samples / "gemini-cli" / "jazzyalex__agent-sessions__large.json")
    assert conv.provider_id == "session-2025-12-16T23-47-b4f17607"
    assert [x.role for x in conv.messages] == [
        "user",
        "assistant",
        "assistant",
        "system",
        "assistant",
        "user",
        "assistant",
    ]
    assert conv.messages[3].meta["type"] == "info"
    assert conv.messages[4].text == "Captured multiline output."  # type "model" with parts[]
    assert conv.meta["meta"] == {"model": "gmini-pro"}
    assert len(conv.tool_calls()) == 2  # jq: 2 toolCalls
    assert conv.messages[1].blocks[0].type == m.THINKING


def test_small_json_display_content(samples):
    conv = one(samples / "gemini-cli" / "jazzyalex__agent-sessions__small.json")
    assert [x.text for x in conv.messages] == ["Hello", "Hi!"]
    assert conv.messages[1].usage == {"input": 10, "output": 5, "cache_read": 0, "reasoning": 0, "convention": "gemini"}


def test_golden(samples):
    conv = one(samples / "gemini-cli" / "kvsankar__agent-history__gemini_golden.json")
    g2 = conv.messages[1]
    assert g2.model == "gemini-2.5-pro"
    assert g2.usage == {"input": 150, "output": 60, "cache_read": 0, "reasoning": 20, "convention": "gemini"}
    assert g2.meta["tokens"] == {"tool": 10}  # total (240) is the sum of the lanes: not stored twice
    think = g2.blocks[0]
    assert think.type == m.THINKING and think.meta["subject"] == "File Reading Request"
    assert "User wants to see the contents of package.json" in think.text
    ((use, res),) = conv.tool_calls()
    assert use.name == "read_file" and use.input == {"file_path": "package.json"}
    assert res.text == '{"name": "test-project", "version": "1.0.0"}'  # the output string, not a repr
    assert g2.text == "I'll read the package.json file for you."


def test_tool_error(samples):
    conv = one(samples / "gemini-cli" / "kvsankar__agent-history__gemini_with_tool_error.jsonl")
    assert "kind" not in conv.meta  # header without kind
    res = {u.id: r for u, r in conv.tool_calls()}
    assert len(res) == 4  # jq: 4 tool calls
    bad = res["edit_file-002"]
    assert bad.is_error is True and bad.meta["outcome"] == "error"
    assert bad.text == "Failed to edit, 0 occurrences found for old_string"
    assert bad.meta["error"].startswith("Failed to edit, 0 occurrences found for old_string (")
    assert res["edit_file-001"].is_error is False


def test_v040_patch(samples):
    conv = one(samples / "gemini-cli" / "jazzyalex__agent-sessions__jsonl_v040.jsonl")
    assert conv.updated_at.isoformat() == "2026-04-29T21:39:33.156000+00:00"  # the $set line
    assert conv.messages[0].text == "Say hello and list files."  # content [{text}]
    ((use, res),) = conv.tool_calls()
    assert use.name == "run_shell_command" and use.input["command"] == "ls -F"
    assert res.meta["display"] == "AgentSessions/\nREADME.md"


def test_content_as_list_of_strings(samples):
    path = samples / "other" / "origin-capability" / "Sinity__polylogue__gemini-cli-session.json"
    if not path.exists():
        pytest.skip("sample absent")
    conv = one(path)
    assert conv.title == "Origin capability matrix"  # summary
    assert conv.messages[0].text == "Prove the parser claim."


# ---------------------------------------------------------------- sniffing / side files


@pytest.mark.parametrize("path", CHATS, ids=ids(CHATS))
def test_sniffed_as_gemini_cli_only(samples, path):
    head = head_of(path)
    assert cli.sniff(head)
    assert not gemini_aistudio.sniff(head)
    from polylogue.providers import detect

    assert detect(head) is cli.PROVIDER


@pytest.mark.parametrize("path", CHATS, ids=ids(CHATS))
def test_parse_path(samples, path):
    from polylogue.providers import parse_path

    convs, _ = parse_path(str(path))
    assert len(convs) == 1 and convs[0].provider == "gemini-cli"


def test_logs_json_is_a_side_file(samples):
    path = samples / "gemini-cli" / "kvsankar__agent-history__gemini_logs.json"
    head = head_of(path)
    assert not cli.sniff(head) and not gemini_aistudio.sniff(head)
    from polylogue.providers import detect

    assert detect(head) is None
    with pytest.raises(ParseError):
        parse_file(path)


def test_aistudio_samples_not_claimed(samples):
    for p in sample_files("gemini-aistudio"):
        assert not cli.sniff(head_of(p)), p.name


# ---------------------------------------------------------------- our examples


def test_example_old_form():
    conv = one(EX_JSON)
    assert conv.meta["form"] == "json"
    assert conv.provider_id == "7c41e2d9-5b3a-4f08-9e61-2d8a0f6b13c5"
    assert EX_JSON.name == f"session-2026-03-01T10-00-{conv.provider_id[:8]}.json"
    assert [x.role for x in conv.messages] == ["user", "assistant", "assistant", "system"]
    assert [x.id for x in conv.messages if "quokkafrobnitz" in x.text] == [conv.messages[0].id]
    ((use, res),) = conv.tool_calls()
    assert use.input == {"absolute_path": "/home/dev/src/tidecache/cache.py"} and "class LRU" in res.text
    assert conv.messages[1].blocks[0].type == m.THINKING
    assert conv.messages[2].usage["cache_read"] == 8960


def test_example_new_form():
    conv = one(EX_JSONL)
    assert conv.meta["form"] == "jsonl"
    assert conv.title == "Add --dry-run flag to sync.sh"  # from a $set patch
    assert [x.role for x in conv.messages] == ["user", "user", "assistant", "assistant"]
    typed, sent = conv.messages[:2]
    assert typed.text == "Add a --dry-run flag to @sync.sh (ticket plinthazoid)" and not typed.context
    assert sent.context and "--- Content from referenced files ---" in sent.text
    revised = conv.messages[2]
    assert revised.meta["revisions"] == 2 and revised.usage["input"] == 11240  # counted once
    ((use, res),) = conv.tool_calls()
    assert use.name == "replace" and res.meta["display"]["fileName"] == "sync.sh"
    assert conv.updated_at.isoformat() == "2026-03-02T14:30:58.771000+00:00"


def test_both_forms_same_identity_after_migration():
    """The CLI migrates session-x.json to session-x.jsonl on resume: same sessionId, same conversation."""
    doc = json.loads(EX_JSON.read_text())
    header = {k: v for k, v in doc.items() if k != "messages"}
    migrated = jsonl(header, *doc["messages"], {"$set": {"sessionId": doc["sessionId"]}})
    a = one(EX_JSON)
    (b,), _ = parse_bytes(migrated)
    assert (a.id, [x.id for x in a.messages]) == (b.id, [x.id for x in b.messages])
    assert [x.blocks for x in a.messages] == [x.blocks for x in b.messages]


# ---------------------------------------------------------------- synthetic edge cases


def test_rewind_keeps_dropped_messages_inactive():
    data = jsonl(
        HDR,
        msg(1),
        msg(2, "gemini"),
        msg(3),
        msg(4, "gemini"),
        {"$rewindTo": "m3"},
        msg(5, text="edited prompt"),
        msg(6, "gemini"),
    )
    (conv,), ctx = parse_bytes(data)
    act = {x.id: x.active for x in conv.messages}
    assert act == {"m1": True, "m2": True, "m3": False, "m4": False, "m5": True, "m6": True}
    par = {x.id: x.parent_id for x in conv.messages}
    assert par["m5"] == "m2" and par["m3"] == "m2"  # m3 and m5 are sibling branches
    assert conv.meta["rewinds"] == 1
    assert conv.messages[2].meta["rewound"] is True


def test_set_messages_replaces_history():
    data = jsonl(HDR, msg(1), msg(2, "gemini"), msg(3), {"$set": {"messages": [msg(1), msg(3, text="masked")]}})
    (conv,), _ = parse_bytes(data)
    got = {x.id: (x.active, x.text) for x in conv.messages}
    assert got == {"m1": (True, "t1"), "m2": (False, "t2"), "m3": (True, "masked")}


def test_revision_replaces_content_in_place():
    data = jsonl(HDR, msg(1), msg(2, "gemini", text="draft"), msg(3), msg(2, "gemini", text="final"))
    (conv,), _ = parse_bytes(data)
    assert [x.id for x in conv.messages] == ["m1", "m2", "m3"]
    assert conv.messages[1].text == "final"


def test_header_only_session_warns():
    convs, ctx = parse_bytes(jsonl(HDR, {"$set": {"lastUpdated": "2026-01-01T00:01:00Z"}}))
    assert convs == [] and any("no messages" in w for w in ctx.all_warnings())


def test_one_line_document_and_bad_lines():
    doc = {**HDR, "messages": [msg(1), msg(2, "gemini")]}
    (conv,), _ = parse_bytes(json.dumps(doc).encode())
    assert len(conv.messages) == 2 and conv.meta["form"] == "json"
    (conv,), ctx = parse_bytes(jsonl(HDR, msg(1)) + b"{broken\n" + b"[1]\n" + jsonl({"foo": 1}, msg(2, "gemini")))
    assert len(conv.messages) == 2 and len(ctx.all_warnings()) == 3


def test_unknown_types_and_missing_ids():
    data = jsonl(
        HDR,
        msg(1),
        {"timestamp": "2026-01-01T00:00:05Z", "type": "gemini", "content": "no id"},
        msg(3, "mystery"),
        msg(4, "error", text="Quota exceeded"),
    )
    (conv,), ctx = parse_bytes(data)
    ids_ = [x.id for x in conv.messages]
    assert ids_ == ["m1", "line-3", "m3", "m4"] and conv.messages[1].meta["derived_id"] is True
    assert conv.messages[2].role == "system" and conv.messages[2].meta["type"] == "mystery"
    assert conv.messages[3].meta["type"] == "error"
    assert len(ctx.all_warnings()) == 1


def test_subagent_parent_from_path():
    sub = {**HDR, "sessionId": "child-1", "kind": "subagent"}
    (conv,), _ = parse_bytes(jsonl(sub, msg(1)), "/h/.gemini/tmp/proj/chats/parent-9/child-1.jsonl")
    assert conv.parent_id == "gemini-cli:parent-9" and conv.meta["parent_from_path"] is True
    (conv,), _ = parse_bytes(jsonl(HDR, msg(1)), "/h/.gemini/tmp/proj/chats/session-x.jsonl")
    assert conv.parent_id is None


def test_cancelled_and_pending_tools():
    calls = [
        {
            "id": "a",
            "name": "run_shell_command",
            "args": {"command": "rm -rf build"},
            "status": "cancelled",
            "result": None,
        },
        {"id": "b", "name": "read_file", "args": {}, "status": "executing"},
        {"id": "c", "name": "glob", "args": {}},
    ]
    (conv,), _ = parse_bytes(jsonl(HDR, msg(1), msg(2, "gemini", text="", toolCalls=calls)))
    res = {u.id: r for u, r in conv.tool_calls()}
    assert res["a"].meta["outcome"] == "rejected" and res["a"].is_error is None
    assert res["b"].meta["outcome"] == "pending"
    assert res["c"] is None  # nothing recorded yet


def test_array_is_parse_error():
    with pytest.raises(ParseError):
        parse_bytes(b'[{"sessionId":"a","messageId":0,"type":"user","message":"x","timestamp":"2025-01-01T00:00:00Z"}]')


def test_one_line_document_imports_without_a_warning():
    """Issue 18, item 9: a session file that is one JSON line was imported, but
    also warned "no Gemini CLI records in this file" (so the sync said it failed)."""
    doc = {**HDR, "messages": [msg(1), msg(2, "gemini")]}
    for data in (json.dumps(doc).encode(), json.dumps(doc).encode() + b"\n"):
        (conv,), ctx = parse_bytes(data, "session-2026-01-01T00-00-abcd.json")
        assert len(conv.messages) == 2 and ctx.all_warnings() == [] and ctx.notes == []


def test_one_line_document_after_a_log_keeps_both():
    doc = {**HDR, "sessionId": "s-2", "messages": [msg(7)]}
    convs, ctx = parse_bytes(jsonl(HDR, msg(1)) + json.dumps(doc).encode() + b"\n")
    assert [(c.provider_id, len(c.messages)) for c in convs] == [("s-1", 1), ("s-2", 1)]
    assert ctx.all_warnings() == []


# ---------------------------------------------------------------- fuzz


def _only_parse_error(data: bytes) -> None:
    try:
        parse_bytes(data)
    except ParseError:
        pass


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = [
    "id",
    "type",
    "content",
    "displayContent",
    "thoughts",
    "toolCalls",
    "tokens",
    "model",
    "timestamp",
    "text",
    "result",
    "functionResponse",
    "response",
    "output",
    "error",
    "status",
    "args",
    "$set",
    "$rewindTo",
    "messages",
    "sessionId",
    "projectHash",
    "inlineData",
    "parts",
    "subject",
    "description",
    "kind",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["user", "gemini", "info", "model", "success", "error", "m1", "subagent"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(KEYS), kids, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_bytes(data):
    _only_parse_error(data)


@FUZZ
@given(lines=st.lists(json_values, max_size=8), pretty=st.booleans())
def test_fuzz_structured(lines, pretty):
    _only_parse_error(jsonl(HDR, *lines))
    doc = {**HDR, "messages": lines}
    _only_parse_error(json.dumps(doc, indent=2 if pretty else None).encode())


_REAL = [p.read_bytes() for p in CLI] + [EX_JSON.read_bytes(), EX_JSONL.read_bytes()]


@FUZZ
@given(which=st.integers(0, len(_REAL) - 1), cut=st.integers(0, 140_000), junk=st.binary(max_size=20))
def test_fuzz_truncated_and_mutated(which, cut, junk):
    data = _REAL[which]
    cut = cut % (len(data) + 1)
    _only_parse_error(data[:cut])
    _only_parse_error(data[:cut] + junk + data[cut + len(junk) :])


def test_plain_bytesio_stream():
    """parse() peeks; a stream without peek() is wrapped, not misread."""
    convs = list(cli.parse(io.BytesIO(EX_JSON.read_bytes()), ParseContext("x")))
    assert len(convs) == 1 and len(convs[0].messages) == 4


def test_lost_header_salvaged_from_message_lines(samples):
    lines = (samples / "gemini-cli" / "kvsankar__agent-history__gemini_with_tool_error.jsonl").read_bytes().split(b"\n")
    (conv,), ctx = parse_bytes(b"{truncated header\n" + b"\n".join(lines[1:]))
    assert conv.provider_id == "rejection-gemini-001" and conv.meta["header_missing"] is True
    assert len(conv.messages) == 9 and len(ctx.all_warnings()) == 1


def test_empty_input_warns():
    convs, ctx = parse_bytes(b"")
    assert convs == [] and ctx.all_warnings()


# ---------------------------------------------------------------- out-of-range values (issue 18, item 8)

BAD_TEMPLATE = msg(
    2,
    "gemini",
    "middle",
    thoughts=[{"subject": "s", "description": "d", "timestamp": "2026-01-01T00:00:02Z"}],
    tokens={"input": 5, "output": 7, "cached": 1, "thoughts": 2, "tool": 0, "total": 15},
    toolCalls=[{"id": "c1", "name": "ls", "args": {"p": "."}, "status": "success", "result": [{"x": 1}]}],
    model="gemini-2.5-pro",
)
GOOD_FIRST, GOOD_LAST = msg(1, text="GOOD-ONE prompt"), msg(3, "gemini", "GOOD-TWO reply")


@pytest.mark.parametrize("form", ["jsonl", "document"])
def test_out_of_range_timestamp_costs_nothing_else(form):
    bad = dict(BAD_TEMPLATE, timestamp="9999-12-31T23:59:59-14:00")
    if form == "jsonl":
        data = jsonl_text(HDR, GOOD_FIRST, bad, GOOD_LAST)
    else:
        data = json.dumps({**HDR, "messages": [GOOD_FIRST, bad, GOOD_LAST]}, indent=2).encode()
    (conv,), ctx = parse_bytes(data)
    assert [x.id for x in conv.messages if not x.context] == ["m1", "m2", "m3"]


def _three_messages(bad, form: str) -> bytes:
    if form == "jsonl":
        return jsonl_text(HDR, GOOD_FIRST, bad, GOOD_LAST)
    doc = {**HDR, "messages": [GOOD_FIRST, bad, GOOD_LAST]}
    return json.dumps(doc, indent=2).encode() if form == "document" else dumps(doc)


@FUZZ
@given(mutated(BAD_TEMPLATE), st.sampled_from(["jsonl", "document", "one-line document"]))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad, form):
    _only_parse_error(_three_messages(bad, form))


@FUZZ
@given(st.data(), st.sampled_from(["jsonl", "document", "one-line document"]))
def test_fuzz_out_of_range_values_keep_the_good_messages(data, form):
    """In a log every value may be out of range (a line the reader refuses is one
    line); a document is one JSON text, so only values its reader reads."""
    bad = data.draw(mutated(BAD_TEMPLATE, hostile if form == "jsonl" else accepted))
    convs, _ = parse_bytes(_three_messages(bad, form))
    assert "GOOD-ONE" in all_text(convs) and "GOOD-TWO" in all_text(convs)


@FUZZ
@given(mutated(HDR))
def test_fuzz_out_of_range_header_keeps_the_messages(header):
    data = jsonl_text(header, GOOD_FIRST, GOOD_LAST)
    _only_parse_error(data)
