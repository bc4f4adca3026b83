"""The claude.ai provider (docs/providers.md, "claude"): conformance on the shared samples,
sniffing, fuzzing and our own example export."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, ids, other_providers, sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import accepted, all_text, dumps, mutated

from polylogue.errors import ParseError
from polylogue.models import ATTACHMENT, OPAQUE, TEXT, THINKING, TOOL_RESULT, TOOL_USE
from polylogue.providers import ParseContext, claude_ai, open_clean

SAMPLES = sample_files("claude-ai")
SIDE_FILES = {  # in the samples folder, but not conversations
    "noo-bass__context-carry__projects.json",  # projects.json side file
    "osteele__claude-chat-viewer__simple-invalid.json",  # {"invalid": "..."}
}
CONV_SAMPLES = [p for p in SAMPLES if p.name not in SIDE_FILES]
EXAMPLE = EXAMPLES / "claude" / "conversations.json"


# ---------------------------------------------------------------- helpers


def parse_bytes(data: bytes, path: str = "<memory>"):
    """The pipeline's path: clean the stream, sniff the head, parse with our module."""
    ctx = ParseContext(path)
    head, stream = open_clean(io.BytesIO(data), ctx)
    return list(claude_ai.parse(stream, ctx)), ctx


def parse_file(path: Path):
    return parse_bytes(path.read_bytes(), str(path))


def head_of(data: bytes):
    ctx = ParseContext("<memory>")
    head, _ = open_clean(io.BytesIO(data), ctx)
    return head


def msg(conv, mid):
    return next(m for m in conv.messages if m.id == mid)


# ---------------------------------------------------------------- conformance

# file -> [(conversation uuid, number of chat_messages)], derived with
#   jq -c 'if type=="array" then [.[] | [.uuid, (.chat_messages|length)]] else [[.uuid, (.chat_messages|length)]] end' FILE
# Every message object in these files is kept (none is malformed beyond repair).
EXPECTED = {
    "Sinity__polylogue__temporary-demo.json": [("demo-temporary-claude-ai", 2)],
    "osteele__claude-chat-viewer__claude-bakery-chat.json": [("8006a434-8b0b-43df-8e6d-c0a7aeb2e6b3", 4)],
    "osteele__claude-chat-viewer__conversation-rendering-tests.json": [("test-conv-render-errors", 10)],
    "osteele__claude-chat-viewer__conversation-with-errors.json": [("test-conv-with-errors", 10)],
    "osteele__claude-chat-viewer__conversations.json": [("test-conv-1", 2), ("test-conv-2", 4)],
    "osteele__claude-chat-viewer__history.json": [("sample-history", 6)],
    "yanndebray__claude-history-2__conversations.json": [
        ("11111111-1111-1111-1111-111111111111", 4),
        ("22222222-2222-2222-2222-222222222222", 2),
        ("33333333-3333-3333-3333-333333333333", 2),
    ],
}


def test_expected_covers_every_sample(samples):
    assert {p.name for p in CONV_SAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("path", CONV_SAMPLES, ids=ids(CONV_SAMPLES))
def test_sample_counts(samples, path):
    convs, ctx = parse_file(path)
    assert [(c.provider_id, len(c.messages)) for c in convs] == EXPECTED[path.name]
    for c in convs:
        assert c.provider == "claude" and c.id == f"claude:{c.provider_id}"
        assert len({m.id for m in c.messages}) == len(c.messages)
        assert all(m.role in ("user", "assistant") for m in c.messages)
        # no message text is a Python repr of a structure
        assert not any(b.text.startswith(("{'", "[{'")) for _, b in c.iter_blocks())


def test_bakery_web_api_shape(samples):
    # text:"" on every message, so everything must come from content[]
    (c,), _ = parse_file(samples / "claude-ai" / "osteele__claude-chat-viewer__claude-bakery-chat.json")
    assert c.title == "Interactive Bakery Comparison Visualization"
    assert c.models == ["claude-3-5-sonnet-20240620"]  # top-level "model"
    assert c.created_at.isoformat() == "2024-10-29T15:59:18.774635+00:00"
    assert [m.role for m in c.messages] == ["user", "assistant", "user", "assistant"]  # sender human/assistant
    assert all(m.text for m in c.messages)
    # active path: jq walk from current_leaf_message_uuid up to the sentinel visits all 4 messages
    assert all(m.active for m in c.messages)
    first = c.messages[0]
    assert first.parent_id is None  # parent is the 00000000-... sentinel
    assert [m.parent_id for m in c.messages[1:]] == [m.id for m in c.messages[:-1]]
    # files[] and files_v2[] describe the same image (same file_uuid): one reference block
    files = [b for b in first.blocks if b.type == ATTACHMENT]
    assert len(files) == 1 and files[0].name == "image" and files[0].text == ""
    assert files[0].meta["file_id"] == "0e0981c2-1224-4b1c-aeab-42529485a35e"
    assert files[0].meta["file_kind"] == "image"
    # both assistant answers hold one inline <antThinking> aside (grep): split into thinking
    for m in c.messages[1::2]:
        assert [b.type for b in m.blocks].count(THINKING) == 1
        assert "<antThinking>" not in m.text
        assert "<antArtifact" in m.text  # artifacts stay in the text for now


def test_conversation_with_errors(samples):
    (c,), ctx = parse_file(samples / "claude-ai" / "osteele__claude-chat-viewer__conversation-with-errors.json")
    # msg-3: content null -> the flattened text is used
    assert msg(c, "msg-3").text.startswith("This message has null content array")
    # msg-4: content [{type:text, text:null}] -> no usable block -> flattened text
    assert msg(c, "msg-4").text == "This message has null text in content item"
    # msg-6: content is a plain string -> a text block from it
    assert msg(c, "msg-6").text == "This should be an array but it's a string"
    # msg-7: unknown_type -> opaque block with the raw JSON, no repr in text
    b = msg(c, "msg-7").blocks[0]
    assert b.type == OPAQUE and b.meta["raw"]["data"] == "This has an unknown content type"
    # msg-8: text is the number 12345
    assert msg(c, "msg-8").text == "12345"
    # msg-9: tool_use without id and without any result
    (use,) = msg(c, "msg-9").blocks
    assert use.type == TOOL_USE and use.name == "create_artifact" and use.id is None
    assert use.input["id"] == "broken-artifact"
    assert c.tool_calls() == [(use, None)]
    # msg-10: content [] -> flattened text
    assert msg(c, "msg-10").text == "Empty content array"
    # no parent_message_uuid anywhere: linear, all on the active path
    assert c.meta["tree"] == "linear" and all(m.active for m in c.messages)


def test_rendering_tests_sample(samples):
    (c,), _ = parse_file(samples / "claude-ai" / "osteele__claude-chat-viewer__conversation-rendering-tests.json")
    # roles by eye: h a h a a a a h a a
    assert [m.role[0] for m in c.messages] == list("uauaaaauaa")
    assert msg(c, "msg-3").text.startswith("This message has empty content array")  # content [] -> text
    (use,) = [b for b in msg(c, "msg-7").blocks]
    assert use.type == TOOL_USE and use.name == "create_artifact"
    assert msg(c, "msg-7").meta["flat_text"] == "Tool use message with JavaScript artifact"


def test_bulk_export_osteele(samples):
    convs, _ = parse_file(samples / "claude-ai" / "osteele__claude-chat-viewer__conversations.json")
    assert [c.title for c in convs] == ["Test Conversation 1", "Test Conversation 2"]
    assert all(c.meta["account_uuid"] == "test-account-1" for c in convs)
    assert convs[0].messages[0].text == "Hello, Claude!"
    assert convs[1].messages[0].meta["index"] == 0


def test_yanndebray_thinking_and_artifacts(samples):
    convs, _ = parse_file(samples / "claude-ai" / "yanndebray__claude-history-2__conversations.json")
    c = convs[0]
    m2 = msg(c, "m2")
    assert [b.type for b in m2.blocks] == [THINKING, TEXT, TOOL_USE]  # content[] of m2 (jq)
    assert "useState" in m2.blocks[0].text and "useState" not in m2.text.split("Here's")[0]
    art = m2.blocks[2]
    assert art.name == "artifacts" and art.id is None and art.input["command"] == "create"
    assert msg(c, "m4").blocks[-1].input["command"] == "update"
    # messages with text:null still have their content
    assert msg(c, "m3").text.startswith("Nice.")
    assert [c.title for c in convs][1] == "Explain async/await vs Promises"


def test_temporary_and_token_budget(samples):
    (c,), _ = parse_file(samples / "claude-ai" / "Sinity__polylogue__temporary-demo.json")
    assert c.meta["is_temporary"] is True
    a = c.messages[1]
    assert [b.type for b in a.blocks] == [TEXT]  # token_budget is not content...
    assert a.meta["token_budget"] == 2048  # ...but kept
    assert a.usage is None  # and never usage


def test_origin_capability_claude_files(samples):
    """The text-only claude.ai shape and the Claude Design shape in samples/other."""
    d = samples / "other" / "origin-capability"
    (c,), _ = parse_file(d / "Sinity__polylogue__claude-ai-export.json")
    assert c.title == "Origin capability matrix"  # from "title" (third-party key)
    assert [m.text for m in c.messages] == ["Prove the parser claim."]
    (c,), _ = parse_file(d / "Sinity__polylogue__claude-design-session.json")
    assert c.meta["origin"] == "claude-design" and c.project == "Polylogue"
    assert [(m.role, m.text) for m in c.messages] == [("user", "Prove the parser claim.")]
    assert c.messages[0].timestamp.isoformat() == "2026-08-01T10:00:01+00:00"


# ---------------------------------------------------------------- sniffing / parse_path


@pytest.mark.parametrize("path", CONV_SAMPLES, ids=ids(CONV_SAMPLES))
def test_sample_sniffed_and_parsed(samples, path):
    data = path.read_bytes()
    head = head_of(data)
    assert claude_ai.sniff(head)
    for other in other_providers("claude_ai"):
        assert not other.sniff(head), other.NAME
    from polylogue.providers import detect, parse_path

    assert detect(head) is claude_ai.PROVIDER
    convs, _ = parse_path(str(path))
    assert convs


@pytest.mark.parametrize("name", sorted(SIDE_FILES))
def test_side_samples_rejected(samples, name):
    data = (samples / "claude-ai" / name).read_bytes()
    head = head_of(data)
    assert not claude_ai.sniff(head)
    from polylogue.providers import detect

    assert detect(head) is None  # no provider turns them into empty conversations
    with pytest.raises(ParseError):
        parse_bytes(data)  # even when forced, they are not conversations


SIDE_SHAPES = {
    "projects.json": [
        {"uuid": "p1", "name": "Web", "description": "", "is_private": True, "docs": [], "prompt_template": ""}
    ],
    "users.json": [
        {
            "uuid": "u1",
            "full_name": "Ada Example",
            "email_address": "ada@example.invalid",
            "verified_phone_number": None,
        }
    ],
    "memories.json": [{"account_uuid": "u1", "conversations_memory": "Ada likes Rust.", "project_memories": {}}],
    "empty list": [],
}


@pytest.mark.parametrize("name", sorted(SIDE_SHAPES))
def test_side_file_shapes_not_sniffed(name):
    assert not claude_ai.sniff(head_of(json.dumps(SIDE_SHAPES[name]).encode()))


def test_other_formats_not_claimed(samples):
    for d in ("chatgpt", "claude-code", "codex", "gemini-aistudio", "gemini-cli"):
        for p in sample_files(d):
            assert not claude_ai.sniff(head_of(p.read_bytes()[: 256 << 10])), p.name


def test_minified_one_line_export_sniffed():
    data = EXAMPLE.read_bytes()
    one_line = json.dumps(json.loads(data), separators=(",", ":")).encode()
    assert claude_ai.sniff(head_of(one_line))
    assert len(parse_bytes(one_line)[0]) == 3


# ---------------------------------------------------------------- our example export


def test_example_export():
    head = head_of(EXAMPLE.read_bytes())
    assert claude_ai.sniff(head)
    convs, ctx = parse_file(EXAMPLE)
    assert ctx.all_warnings() == []
    # written by us: 3 conversations with 4, 6 and 4 chat_messages
    assert [(c.title, len(c.messages)) for c in convs] == [
        ("Rust lifetimes in an iterator adapter", 4),
        ("Ranking SQLite FTS5 results", 6),
        ("pyproject.toml dynamic version", 4),
    ]
    # one made-up word per conversation, found only in its own conversation
    words = ["zanzibarquux", "quillfrobnicate", "marzipanotron"]
    for c, w in zip(convs, words):
        for other in words:
            found = any(other in b.search_text() for _, b in c.iter_blocks())
            assert found == (other == w), (c.title, other)

    rust, fts, pkg = convs
    # thinking is its own block and not part of the visible answer
    a = rust.messages[1]
    assert [b.type for b in a.blocks] == [THINKING, TEXT]
    assert "dropped at the end" in a.blocks[0].text and "dropped at the end" not in a.text
    assert a.blocks[0].meta["summaries"] == [{"summary": "Spotting a borrow of a local Vec"}]
    # pasted file: attachment with its extracted_content as searchable text
    att = rust.messages[0].blocks[1]
    assert att.type == ATTACHMENT and att.name == "lib.rs" and "struct Windows" in att.text
    assert att.meta == {"mime": "txt", "size": 214}

    # branch: the edited follow-up (...205) is a sibling of ...203; no current leaf
    # in a bulk export -> latest leaf (...206, 19:12:46) wins
    active = [m.id[-3:] for m in fts.messages if m.active]
    assert active == ["201", "202", "205", "206"]
    assert (
        msg(fts, "7e2d9a10-4b3c-4f61-8d25-000000000203").parent_id
        == msg(fts, "7e2d9a10-4b3c-4f61-8d25-000000000205").parent_id
    )
    assert fts.meta["active_leaf_inferred"] is True
    assert fts.messages[0].parent_id is None

    # server-side tool: tool_use and tool_result in one assistant message, paired by id
    a = pkg.messages[1]
    assert [b.type for b in a.blocks] == [THINKING, TOOL_USE, TOOL_RESULT, TEXT]
    ((use, res),) = pkg.tool_calls()
    assert use.id == res.id == "toolu_01MarzpNtRn7a2vQ9xk4Lw3E"
    assert use.name == "web_search" and use.input == {"query": "pyproject.toml dynamic version setuptools"}
    assert res.is_error is False and "dynamic" in res.text and "packaging.python.org" in res.text
    assert a.blocks[3].meta["citations"][0]["details"]["type"] == "web_search_citation"
    # image upload: files + files_v2 are the same file -> one reference, no text
    refs = [b for b in pkg.messages[0].blocks if b.type == ATTACHMENT]
    assert len(refs) == 1 and refs[0].text == "" and refs[0].meta["file_kind"] == "image"
    assert pkg.created_at.isoformat() == "2025-09-20T10:39:55.002318+00:00"


def test_example_ids_are_deterministic():
    a, _ = parse_file(EXAMPLE)
    b, _ = parse_file(EXAMPLE)
    assert [[m.id for m in c.messages] for c in a] == [[m.id for m in c.messages] for c in b]


# ---------------------------------------------------------------- tree, ids, pairing (small inline inputs)


def conv_doc(messages, **kw):
    return {"uuid": "conv-1", "name": "t", "created_at": "2025-01-01T00:00:00Z", "chat_messages": messages, **kw}


def m(uuid, sender, text_, parent=None, created="2025-01-01T00:00:01Z", **kw):
    d = {
        "uuid": uuid,
        "sender": sender,
        "text": text_,
        "content": [{"type": "text", "text": text_}],
        "created_at": created,
    }
    if parent is not None:
        d["parent_message_uuid"] = parent
    d.update(kw)
    return d


def parse_obj(obj):
    return parse_bytes(json.dumps(obj).encode())


def test_current_leaf_selects_branch():
    S = claude_ai.ROOT_SENTINEL
    doc = conv_doc(
        [
            m("u1", "human", "q", S),
            m("a1", "assistant", "first", "u1", "2025-01-01T00:00:05Z"),
            m("a2", "assistant", "retry", "u1", "2025-01-01T00:00:09Z"),
        ],
        current_leaf_message_uuid="a1",
    )
    (c,), _ = parse_obj(doc)
    assert [(x.id, x.active) for x in c.messages] == [("u1", True), ("a1", True), ("a2", False)]
    assert "active_leaf_inferred" not in c.meta
    # unknown leaf -> latest leaf (a2), flagged
    doc["current_leaf_message_uuid"] = "nope"
    (c,), _ = parse_obj(doc)
    assert [x.active for x in c.messages] == [True, False, True] and c.meta["active_leaf_inferred"]
    # equal timestamps -> the later one in array order
    doc["chat_messages"][2]["created_at"] = doc["chat_messages"][1]["created_at"]
    (c,), _ = parse_obj(doc)
    assert [x.active for x in c.messages] == [True, False, True]


def test_dangling_parent_cycles_and_duplicates():
    doc = conv_doc(
        [
            m("x", "human", "orphan", "ghost"),
            m("y", "assistant", "loop1", "z"),
            m("z", "human", "loop2", "y"),
            m("x", "human", "copy of x"),
        ]
    )
    (c,), ctx = parse_obj(doc)
    assert [x.id for x in c.messages] == ["x", "y", "z"]
    assert msg(c, "x").text == "orphan"  # first occurrence wins
    assert msg(c, "x").parent_id is None and msg(c, "x").meta["parent_missing"] == "ghost"
    # the loop y <-> z is cut where it closes (walking up from y); the cut link is kept in meta
    assert msg(c, "z").parent_id is None and msg(c, "z").meta["parent_cycle"] == "y"
    assert msg(c, "y").parent_id == "z"
    # the store can walk parents from any message and terminate
    for start in c.messages:
        seen, cur = set(), start.id
        while cur is not None:
            assert cur not in seen
            seen.add(cur)
            cur = msg(c, cur).parent_id
    assert any("duplicate message x" in w for w in ctx.all_warnings())


def test_missing_ids_are_derived_deterministically():
    doc = {
        "name": "no ids",
        "chat_messages": [{"sender": "human", "text": "hello"}, {"sender": "assistant", "text": "hi"}],
    }
    (c1,), _ = parse_obj(doc)
    (c2,), _ = parse_obj(doc)
    assert c1.provider_id == c2.provider_id and c1.provider_id.startswith("derived-")
    assert [x.id for x in c1.messages] == [x.id for x in c2.messages]
    assert len({x.id for x in c1.messages}) == 2
    assert c1.meta["id_derived"] and c1.messages[0].meta["id_derived"]


def test_tool_pairing_by_adjacency_when_ids_are_null():
    content = [
        {"type": "tool_use", "id": None, "name": "web_search", "input": {"query": "a"}},
        {"type": "tool_use", "id": None, "name": "web_fetch", "input": {"url": "b"}},
        {
            "type": "tool_result",
            "tool_use_id": None,
            "name": "web_fetch",
            "content": [{"type": "text", "text": "page"}],
        },
        {
            "type": "tool_result",
            "tool_use_id": None,
            "name": "web_search",
            "content": [{"type": "text", "text": "hits"}],
            "is_error": True,
        },
        {"type": "tool_use", "id": "t9", "name": "repl", "input": {}},
    ]
    doc = conv_doc([m("u", "human", "go"), {"uuid": "a", "sender": "assistant", "content": content}])
    (c,), _ = parse_obj(doc)
    pairs = {u.name: (u.id, r.text if r else None, r.is_error if r else None) for u, r in c.tool_calls()}
    assert pairs["web_search"][1:] == ("hits", True)
    assert pairs["web_fetch"][1:] == ("page", None)  # is_error absent -> unknown
    assert pairs["repl"] == ("t9", None, None)
    assert pairs["web_search"][0] and pairs["web_search"][0] != pairs["web_fetch"][0]
    # deterministic derived ids
    (c2,), _ = parse_obj(doc)
    assert [u.id for u, _ in c2.tool_calls()] == [u.id for u, _ in c.tool_calls()]


def test_tool_result_knowledge_items_and_string_content():
    content = [
        {"type": "tool_use", "id": "t1", "name": "web_search", "input": {"query": "q"}},
        {
            "type": "tool_result",
            "tool_use_id": "t1",
            "name": "web_search",
            "content": [
                {"type": "knowledge", "title": "T", "url": "https://e.example/x", "text": "body"},
                {"type": "image", "source": {}},
            ],
        },
        {"type": "tool_use", "id": "t2", "name": "calc", "input": {}},
        {"type": "tool_result", "tool_use_id": "t2", "content": "42"},
    ]
    doc = conv_doc([m("u", "human", "go"), {"uuid": "a", "sender": "assistant", "content": content}])
    (c,), _ = parse_obj(doc)
    (u1, r1), (u2, r2) = c.tool_calls()
    assert r1.text.startswith("T https://e.example/x\nbody")
    assert '"type":"image"' in r1.text  # a structured item rendered as JSON, not a repr
    assert r2.text == "42"


def test_skips_and_warnings():
    docs = [
        conv_doc([], uuid="empty"),  # no messages: skipped, warned
        conv_doc([m("a", "human", "ok")], uuid="good"),
        {"uuid": "notconv", "name": "project"},  # not a conversation
        conv_doc("garbage", uuid="bad"),  # chat_messages not a list
        conv_doc([m("b", "human", "again")], uuid="good"),  # repeated conversation
    ]
    convs, ctx = parse_obj(docs)
    assert [c.provider_id for c in convs] == ["good", "good"]
    w = " | ".join(ctx.all_warnings())
    assert "empty: no messages" in w and "not a conversation" in w and "repeated" in w and "bad" in w


def test_whole_file_problems_raise_parse_error():
    with pytest.raises(ParseError):
        parse_bytes(b'[{"uuid": "a", "chat_messages": [')  # truncated
    with pytest.raises(ParseError):
        parse_obj([{"uuid": "p", "docs": []}])  # no conversation at all
    with pytest.raises(ParseError):
        parse_obj({"invalid": "x"})
    with pytest.raises(ParseError):
        parse_bytes(b'"just a string"')
    with pytest.raises(ParseError):
        parse_bytes(b"")


def test_capture_wrapper_unwrapped():
    inner = conv_doc([m("a", "human", "wrapped hello")], uuid="inner-1")
    obj = {"capture_id": "cap-1", "source": "browser-extension", "raw_provider_payload": inner, "title": "x"}
    data = json.dumps(obj).encode()
    assert claude_ai.sniff(head_of(data))
    (c,), _ = parse_bytes(data)
    assert c.provider_id == "inner-1" and c.meta["capture"]["capture_id"] == "cap-1"


def test_design_chat_tool_calls():
    obj = {
        "uuid": "d1",
        "project": {"uuid": "p", "name": "Site"},
        "messages": [
            {
                "uuid": "m1",
                "role": "user",
                "created_at": "2026-01-01T00:00:00Z",
                "content": {
                    "role": "user",
                    "content": "make it blue",
                    "attachments": [{"id": "f", "name": "a.css", "type": "text", "content": "body{}"}],
                },
            },
            {
                "uuid": "m2",
                "role": "assistant",
                "content": {
                    "role": "assistant",
                    "content": "done",
                    "turnInputTokens": 1200,
                    "contentBlocks": [
                        {"type": "thinking", "text": "css"},
                        {
                            "type": "tool_call",
                            "toolCall": {
                                "id": "c1",
                                "name": "edit",
                                "input": {"path": "a.css"},
                                "output": "ok",
                                "serverSide": False,
                            },
                        },
                        {"type": "text", "text": "Done."},
                    ],
                },
            },
        ],
    }
    data = json.dumps(obj).encode()
    assert claude_ai.sniff(head_of(data))
    (c,), _ = parse_bytes(data)
    u, a = c.messages
    assert u.text == "make it blue" and u.blocks[1].text == "body{}"
    assert [b.type for b in a.blocks] == [THINKING, TOOL_USE, TOOL_RESULT, TEXT]
    ((use, res),) = c.tool_calls()
    assert use.id == res.id == "c1" and res.text == "ok"
    assert a.usage == {"input": 1200, "convention": "anthropic"}
    assert a.parent_id == "m1"


# ---------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "human",
            "assistant",
            "text",
            "tool_use",
            "tool_result",
            "thinking",
            claude_ai.ROOT_SENTINEL,
            "2025-01-01T00:00:00Z",
            "u1",
            "u2",
        ]
    ),
    lambda kids: (
        st.lists(kids, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "uuid",
                    "sender",
                    "text",
                    "content",
                    "type",
                    "thinking",
                    "id",
                    "tool_use_id",
                    "name",
                    "input",
                    "parent_message_uuid",
                    "created_at",
                    "attachments",
                    "files",
                    "files_v2",
                    "chat_messages",
                    "current_leaf_message_uuid",
                    "extracted_content",
                    "file_name",
                    "file_uuid",
                    "is_error",
                    "summaries",
                    "messages",
                    "contentBlocks",
                    "toolCall",
                    "raw_provider_payload",
                    "project",
                ]
            )
            | st.text(max_size=8),
            kids,
            max_size=6,
        )
    ),
    max_leaves=30,
)


def only_parse_errors(data: bytes) -> None:
    try:
        parse_bytes(data)
    except ParseError:
        pass
    # and with a plain stream, as a caller that skipped open_clean would pass it
    try:
        list(claude_ai.parse(io.BytesIO(data), ParseContext("<raw>")))
    except ParseError:
        pass


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(data):
    only_parse_errors(data)


@FUZZ
@given(json_values, st.sampled_from(["bare", "object", "array", "messages"]))
def test_fuzz_structured_garbage(value, shape):
    if shape == "object":
        value = {"uuid": "c", "chat_messages": value}
    elif shape == "array":
        value = [{"uuid": "c", "chat_messages": value}, value]
    elif shape == "messages":
        value = {
            "uuid": "c",
            "current_leaf_message_uuid": "u2",
            "chat_messages": value if isinstance(value, list) else [value, value],
        }
    only_parse_errors(json.dumps(value).encode())


def _real_docs():
    paths = CONV_SAMPLES + ([EXAMPLE] if EXAMPLE.exists() else [])
    return [p.read_bytes() for p in paths]


REAL = _real_docs()


@pytest.mark.skipif(not REAL, reason="no samples")
@FUZZ
@given(st.data())
def test_fuzz_truncated_real(data):
    doc = data.draw(st.sampled_from(REAL))
    cut = data.draw(st.integers(0, len(doc)))
    only_parse_errors(doc[:cut])


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@pytest.mark.skipif(not REAL, reason="no samples")
@FUZZ
@given(st.data())
def test_fuzz_mutated_real(data):
    doc = json.loads(data.draw(st.sampled_from(REAL)))
    paths = [p for p in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(paths))
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced an ancestor
    only_parse_errors(json.dumps(doc).encode())


# ---------------------------------------------------------------- out-of-range values (issue 18, item 8)

MIDDLE = m(
    "b",
    "assistant",
    "middle",
    parent="a",
    content=[
        {"type": "text", "text": "middle", "start_timestamp": "2025-01-01T00:00:02Z", "citations": []},
        {"type": "tool_use", "id": "t1", "name": "web_search", "input": {"query": "q"}},
        {"type": "tool_result", "tool_use_id": "t1", "name": "web_search", "content": [{"type": "text", "text": "r"}]},
    ],
    attachments=[{"file_name": "a.txt", "file_size": 12, "extracted_content": "x"}],
    files=[{"file_name": "img.png"}],
)


def _oor_conv(cid: str, middle: dict | None = None, **kw) -> dict:
    """GOOD-ONE prompt -> middle (a tool round) -> GOOD-TWO answer."""
    msgs = [
        m("a", "human", f"GOOD-ONE {cid}"),
        middle if middle is not None else MIDDLE,
        m("c", "assistant", f"GOOD-TWO {cid}", parent="b", created="2025-01-01T00:00:03Z"),
    ]
    return conv_doc(msgs, **{"uuid": cid, "updated_at": "2025-01-01T00:00:04Z", **kw})


def test_out_of_range_values_cost_nothing_else():
    bad = dict(MIDDLE, created_at="9999-12-31T23:59:59-14:00", updated_at=1e20)
    bad["attachments"] = [{"file_name": "a.txt", "file_size": 2**63 - 1}]
    conv_bad = _oor_conv("c2", bad, created_at="0000-01-01T00:00:00Z", updated_at=-1e308)
    convs, ctx = parse_bytes(dumps([_oor_conv("c1"), conv_bad, _oor_conv("c3")]))
    assert [(c.provider_id, len(c.messages)) for c in convs] == [("c1", 3), ("c2", 3), ("c3", 3)]


@FUZZ
@given(mutated(MIDDLE, accepted))
def test_fuzz_out_of_range_message_keeps_the_good_ones(bad):
    convs, _ = parse_bytes(dumps(_oor_conv("c1", bad)))
    assert "GOOD-ONE" in all_text(convs) and "GOOD-TWO" in all_text(convs)


@FUZZ
@given(mutated(_oor_conv("c2"), accepted))
def test_fuzz_out_of_range_conversation_keeps_the_good_ones(bad):
    convs, _ = parse_bytes(dumps([_oor_conv("c1"), bad, _oor_conv("c3")]))
    assert {"c1", "c3"} <= {c.provider_id for c in convs}


@FUZZ
@given(mutated(_oor_conv("c2")))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad):
    """Numbers the JSON reader refuses (beyond 64 bits, NaN) end the document there."""
    only_parse_errors(dumps([_oor_conv("c1"), bad, _oor_conv("c3")]))
    only_parse_errors(dumps(bad))
