"""ChatGPT export parser (docs/providers.md, "chatgpt"): conformance on the shared samples,
sniffing (and not sniffing side files / lookalikes), our example export, and
fuzzing. No mocks: every test parses real bytes through the real reader."""

from __future__ import annotations

import copy
import io
import json
import os
import tracemalloc
from pathlib import Path

import orjson
import pytest
from conftest import EXAMPLES, SHARED_SAMPLES, ids, other_providers, sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import accepted, all_text, dumps, mutated

from polylogue.errors import ParseError
from polylogue.models import BLOCK_TYPES, ROLES
from polylogue.providers import ParseContext, chatgpt, open_clean

SAMPLES = sample_files("chatgpt")
REPRESENTATIVES = (
    sorted((SHARED_SAMPLES / "schemas" / "chatgpt" / "representatives").glob("sample-*.json"))
    if SHARED_SAMPLES.is_dir()
    else []
)
EXAMPLE = EXAMPLES / "chatgpt" / "conversations.json"


def parse_file(path: Path):
    """parse_path, but with this provider forced (other providers may not exist yet)."""
    ctx = ParseContext(str(path))
    with open(path, "rb") as raw:
        head, stream = open_clean(raw, ctx)
        return list(chatgpt.parse(stream, ctx)), ctx


def parse_bytes(data: bytes):
    ctx = ParseContext("<memory>")
    head, stream = open_clean(io.BytesIO(data), ctx)
    return list(chatgpt.parse(stream, ctx)), ctx


def head_of(data: bytes):
    ctx = ParseContext("<memory>")
    head, _ = open_clean(io.BytesIO(data), ctx)
    return head


def check_invariants(convs):
    """What every parsed conversation must satisfy, whatever the input."""
    for c in convs:
        assert c.provider == "chatgpt" and c.provider_id
        assert c.messages, "no empty conversations"
        seen = set()
        for m in c.messages:
            assert m.id not in seen
            seen.add(m.id)
            assert m.role in ROLES
            assert m.parent_id is None or m.parent_id in seen  # parents come first
            for b in m.blocks:
                assert b.type in BLOCK_TYPES
                assert isinstance(b.text, str)
                assert "{'" not in b.text and "'content_type':" not in b.text  # never a Python repr
        assert len(set(c.models)) == len(c.models)
        # everything kept must be storable as JSON
        orjson.dumps(c.meta)
        for m in c.messages:
            orjson.dumps(m.meta)
            for b in m.blocks:
                orjson.dumps([b.meta, b.input])


# ---------------------------------------------------------------- conformance

# Expected (provider_id, number of messages) per sample file. Derived by hand with
# jq, independent of the parser: a conversation's messages are its mapping nodes
# whose "message" is not null,
#   jq 'map({id, n: ([.mapping[] | select(.message != null)] | length)})'
# (for single-object files without map(); for the browser capture on
# .raw_provider_payload). Conversations without a mapping are skipped.
EXPECTED = {
    "Dicklesworthstone__coding_agent_session_search__conv-multipart.json": [("chatgpt-multipart-001", 1)],
    "Dicklesworthstone__coding_agent_session_search__conv-structured-parts.json": [("chatgpt-structured-parts-001", 2)],
    "Sinity__polylogue__demo-00.json": [("dc13ca54-0bba-4298-a38f-09068c2ef2c5", 3)],
    "Sinity__polylogue__native-browser-capture-v1.json": [
        ("chatgpt-fixture-conversation", 8)
    ],  # 9 nodes, root has no message
    "Sinity__polylogue__native-conversation-v1.json": [("chatgpt-fixture-conversation", 8)],
    # 3 items; the 2nd ("Corrupted entry") has no mapping and is skipped with a warning
    "danny-avila__LibreChat__chatgpt-modern-export.json": [
        ("6b0f0d9c-0000-4000-8000-000000000001", 5),
        ("6b0f0d9c-0000-4000-8000-000000000003", 2),
    ],
    "mikegraham__looselips__conversations.json": [
        ("conv-employment", 2),
        ("conv-medical", 2),
        ("conv-legal", 2),
        ("conv-family", 2),
        ("conv-benign", 2),
    ],
    "minhyeong112__h20__chatgpt-citations.json": [("d6523d1e-7ec3-474f-a363-0e9dffdb3d93", 2)],
    "minhyeong112__h20__chatgpt-export.json": [
        ("d6523d1e-7ec3-474f-a363-0e9dffdb3d93", 16),
        ("7c5ab593-dbab-43bd-862d-2c3c1eeebf6a", 5),
    ],
    "minhyeong112__h20__chatgpt-tree.json": [("d5dc5307-6807-41a0-8b04-4acee626eeb7", 12)],
}


def test_every_sample_has_expectations(samples):
    assert {p.name for p in SAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("path", SAMPLES, ids=ids(SAMPLES))
def test_sample_counts(samples, path):
    convs, ctx = parse_file(path)
    assert [(c.provider_id, len(c.messages)) for c in convs] == EXPECTED[path.name]
    check_invariants(convs)


@pytest.mark.parametrize("path", SAMPLES + REPRESENTATIVES, ids=ids(SAMPLES + REPRESENTATIVES))
def test_sample_sniffed_as_chatgpt_only(samples, path):
    head = head_of(path.read_bytes())
    assert chatgpt.sniff(head)
    for mod in other_providers("chatgpt"):
        assert not mod.sniff(head), f"{mod.NAME} also claims {path.name}"
    from polylogue.providers import detect, parse_path

    assert detect(head) is chatgpt.PROVIDER
    convs, _ = parse_path(str(path))
    assert len(convs) == len(EXPECTED.get(path.name, [None]))


@pytest.mark.parametrize("path", REPRESENTATIVES, ids=ids(REPRESENTATIVES))
def test_representatives_parse(samples, path):
    # synthetic stress documents: every field filled, random enum values.
    # sample-00: 3 nodes all with messages; sample-01: 4 (jq as above)
    convs, ctx = parse_file(path)
    assert len(convs) == 1
    assert len(convs[0].messages) == {"sample-00.json": 3, "sample-01.json": 4}[path.name]
    check_invariants(convs)
    # random content_type values are unknown: kept as opaque blocks, never as text
    assert all(b.type in ("opaque", "tool_use") for m in convs[0].messages for b in m.blocks)


def test_tree_sample_branches_and_active_path(samples):
    # chatgpt-tree.json: bda8a275 has children [aaa24023, aaa236a3] (a regenerated
    # prompt), aaa20127 has [d0d2a7df, f63b8e17]; current_node = f63b8e17. Walking
    # parents from it by hand: f63b8e17 aaa20127 db88eddf aaa236a3 bda8a275 aaa297ba
    # d38605d2 (then the message-less root aaa1f70c): 7 active of 12.
    (c,), _ = parse_file(SHARED_SAMPLES / "chatgpt" / "minhyeong112__h20__chatgpt-tree.json")
    by_id = {m.id[:8]: m for m in c.messages}
    active = [m.id[:8] for m in c.messages if m.active]
    assert active == ["d38605d2", "aaa297ba", "bda8a275", "aaa236a3", "db88eddf", "aaa20127", "f63b8e17"]
    assert not by_id["ada93f81"].active and by_id["ada93f81"].meta["status"] == "in_progress"
    assert by_id["f63b8e17"].meta["active_leaf"] is True and by_id["f63b8e17"].meta["branch"] == 1
    assert by_id["d0d2a7df"].meta["branch"] == 0
    # the root node has no message: its child is re-linked to nothing
    assert by_id["d38605d2"].parent_id is None
    assert by_id["aaa297ba"].parent_id == by_id["d38605d2"].id
    # hidden system node with parts [""]: context, hidden, no blocks
    sysm = by_id["d38605d2"]
    assert sysm.role == "system" and sysm.context and sysm.meta["hidden"] is True and sysm.blocks == []
    assert c.models == ["text-davinci-002-render-sha"]
    assert c.title == "Assist user with summary"


def test_native_fixture_blocks(samples):
    # native-conversation-v1.json by eye: context(user_editable_context), user
    # (multimodal_text + image pointer + 1 metadata attachment), answer-inactive,
    # thought-active (thoughts), tool-call (recipient browser.search), tool-result
    # (execution_output), recap-active (reasoning_recap), answer-active (image + sandbox link)
    (c,), _ = parse_file(SHARED_SAMPLES / "chatgpt" / "Sinity__polylogue__native-conversation-v1.json")
    m = {x.id: x for x in c.messages}
    assert list(m) == [
        "context",
        "user",
        "answer-inactive",
        "thought-active",
        "tool-call",
        "tool-result",
        "recap-active",
        "answer-active",
    ]
    assert [x.id for x in c.messages if not x.active] == ["answer-inactive"]
    # keyed by node id; message.id kept as a secondary id
    assert m["user"].meta["message_id"] == "user-message"
    assert m["context"].context and m["context"].role == "system"
    assert [b.text for b in m["context"].blocks] == [
        "Privacy-safe fixture profile.",
        "Preserve structured provider evidence.",
    ]
    assert [b.type for b in m["user"].blocks] == ["text", "image", "attachment"]
    img = m["user"].blocks[1]
    assert img.name == "fixture-input-image" and img.meta["url"] == "file-service://fixture-input-image"
    assert img.meta["size"] == 128 and img.meta["width"] == 8
    att = m["user"].blocks[2]
    assert att.name == "input.txt" and att.meta["mime"] == "text/plain" and att.meta["size"] == 42
    assert att.meta["id"] == "fixture-upload-1"
    assert m["user"].text == "Analyze the attached fixture and create an artifact."
    assert [b.type for b in m["thought-active"].blocks] == ["thinking"]
    assert m["thought-active"].text == ""  # thinking is never answer text
    (call,) = m["tool-call"].blocks
    assert (call.type, call.id, call.name, call.input) == (
        "tool_use",
        "tool-call",
        "browser.search",
        {"query": "fixture evidence"},
    )
    (res,) = m["tool-result"].blocks
    assert (res.type, res.id, res.text) == ("tool_result", "tool-call", "Privacy-safe tool result.")
    assert m["tool-result"].role == "tool"
    assert c.tool_calls() == [(call, res)]
    assert m["recap-active"].blocks[0].type == "thinking"
    final = m["answer-active"]
    assert [b.type for b in final.blocks] == ["text", "image", "attachment"]
    assert (
        final.blocks[2].name == "fixture-result.zip"
        and final.blocks[2].meta["url"] == "sandbox:/mnt/data/fixture-result.zip"
    )
    assert final.model == "gpt-5-6-pro" and c.models == ["gpt-5-6-pro"]
    assert final.meta["active_leaf"] is True
    assert c.created_at.year == 2026 and c.updated_at > c.created_at


def test_browser_capture_envelope_uses_native_payload(samples):
    (c,), _ = parse_file(SHARED_SAMPLES / "chatgpt" / "Sinity__polylogue__native-browser-capture-v1.json")
    assert c.title == "Privacy-safe ChatGPT native fixture"  # not the DOM fallback title
    assert "DOM fallback" not in " ".join(m.text for m in c.messages)
    assert c.meta["capture"]["capture_id"] == "chatgpt:chatgpt-fixture-conversation"


def test_export_sample_browsing_tools(samples):
    # chatgpt-export.json conv 1 (jq): 4 assistant messages with recipient "browser"
    # (code: search/mclick), 5 tool messages (2 tether_browsing_display, 3 tether_quote),
    # the 2nd call (36b62905 mclick) is followed by two tether_quote tool messages.
    convs, _ = parse_file(SHARED_SAMPLES / "chatgpt" / "minhyeong112__h20__chatgpt-export.json")
    c = convs[0]
    calls = [b for _, b in c.iter_blocks() if b.type == "tool_use"]
    results = [b for _, b in c.iter_blocks() if b.type == "tool_result"]
    assert len(calls) == 4 and len(results) == 5
    assert {b.name for b in calls} == {"browser"}
    assert calls[0].input == 'search("Volkswagen Transporter fuel consumption with 8 people l/km")'
    assert [r.id[:8] for r in results] == ["412dd50f", "36b62905", "36b62905", "bea0c246", "bdad1960"]
    assert results[1].meta["domain"] == "www.ultimatespecs.com"
    # every call id is its calling node's id
    assert {b.id for b in calls} == {m.id for m in c.messages if m.has("tool_use")}
    assert c.messages[0].context and c.messages[0].meta["hidden"]
    # citations are kept (bounded) in meta, not in text
    final = c.messages[7]
    assert final.meta["metadata"]["citations"][0]["metadata"]["url"].startswith("https://")
    assert convs[1].title == "Conversation 2" and all(m.active for m in convs[1].messages)


def test_citations_sample_dangling_parent_and_missing_current(samples):
    # citations.json: 2 nodes; 9e874379's parent 5cc5e87b is not in the mapping;
    # current_node 88a0cf9f is not in the mapping either -> inferred active leaf.
    (c,), _ = parse_file(SHARED_SAMPLES / "chatgpt" / "minhyeong112__h20__chatgpt-citations.json")
    first, second = c.messages
    assert first.parent_id is None and first.meta["dangling_parent"].startswith("5cc5e87b")
    assert second.parent_id == first.id
    assert c.meta["current_node_missing"].startswith("88a0cf9f")
    assert first.active and second.active
    assert first.blocks[0].type == "tool_result" and first.blocks[0].id is None  # no call to answer


def test_modern_export_hidden_context_and_missing_mapping(samples):
    convs, ctx = parse_file(SHARED_SAMPLES / "chatgpt" / "danny-avila__LibreChat__chatgpt-modern-export.json")
    assert any("conversation 1" in w and "000000000002" in w for w in ctx.all_warnings())
    c = convs[0]
    ctxm = c.messages[0]
    assert ctxm.role == "user" and ctxm.context and ctxm.meta["hidden"]
    assert ctxm.parent_id is None  # client-created-root has no message
    assert [m.context for m in c.messages] == [True, False, False, False, False]
    assert c.messages[2].meta["channel"] == "final"
    assert c.models == ["o4-mini"] and c.meta["default_model_slug"] == "gpt-5-thinking"
    assert c.meta["memory_scope"] == "global_enabled"


def test_structured_parts_no_repr(samples):
    # conv-structured-parts.json: parts = [str, {text}, {image_asset_pointer}, str]
    (c,), _ = parse_file(
        SHARED_SAMPLES / "chatgpt" / "Dicklesworthstone__coding_agent_session_search__conv-structured-parts.json"
    )
    u, a = c.messages
    assert [b.type for b in u.blocks] == ["text", "text", "image", "text"]
    assert u.blocks[2].meta["url"] == "file-service://asset-structured-001"
    assert "asset_pointer" not in u.text
    assert a.text == "Assistant structured-only block currently drops." and a.model == "gpt-4o"


# ---------------------------------------------------------------- sniffing side files and lookalikes

SIDE_FILES = {
    "user.json": {"id": "user-abc", "email": "someone@example.com", "phone_number": None, "chatgpt_plus_user": True},
    "message_feedback.json": [
        {
            "id": "fb1",
            "conversation_id": "c1",
            "user_id": "u1",
            "rating": "thumbs_up",
            "content": '{"text": "good"}',
            "create_time": "2024-01-01T00:00:00Z",
        }
    ],
    "empty_feedback.json": [],
    "shared_conversations.json": [{"id": "s1", "conversation_id": "c1", "title": "Shared", "is_anonymous": True}],
    "model_comparisons.json": [
        {
            "id": "mc1",
            "user_id": "u1",
            "input": {
                "prompt_convo": {
                    "id": "c1",
                    "title": "t",
                    "current_node": "n1",
                    "mapping": {
                        "n1": {
                            "id": "n1",
                            "parent": None,
                            "children": [],
                            "message": {
                                "id": "n1",
                                "author": {"role": "user"},
                                "content": {"content_type": "text", "parts": ["copy"]},
                            },
                        }
                    },
                }
            },
            "output": {"feedback_step_2": {}},
        }
    ],
    "claude_ai.json": [{"uuid": "u", "name": "x", "chat_messages": [{"uuid": "m", "text": "hi", "sender": "human"}]}],
}


@pytest.mark.parametrize("name", sorted(SIDE_FILES))
def test_side_files_not_claimed(name):
    data = json.dumps(SIDE_FILES[name]).encode()
    assert not chatgpt.sniff(head_of(data))


def test_chat_html_not_claimed():
    html = b'<html><body><script>var jsonData = [{"title": "t", "mapping": {}}];</script></body></html>'
    head = head_of(html)
    # HTML is text now (the Gemini Takeout form and Markdown transcripts are read as text): no text provider takes it
    from polylogue.providers import detect

    assert head.kind == "text" and not chatgpt.sniff(head) and detect(head) is None


def test_forced_parse_of_side_files_yields_no_conversation():
    with pytest.raises(ParseError):
        parse_bytes(json.dumps(SIDE_FILES["user.json"]).encode())
    with pytest.raises(ParseError):
        parse_bytes(json.dumps(SIDE_FILES["shared_conversations.json"]).encode())
    assert parse_bytes(b"[]")[0] == []


def test_deepseek_lookalike_not_claimed():
    deepseek = [
        {
            "id": "ds1",
            "title": "DeepSeek chat",
            "inserted_at": "2025-01-01T00:00:00Z",
            "mapping": {
                "root": {"id": "root", "parent": None, "children": ["1"], "message": None},
                "1": {
                    "id": "1",
                    "parent": "root",
                    "children": [],
                    "message": {
                        "files": [],
                        "model": "deepseek-chat",
                        "inserted_at": "2025-01-01T00:00:00Z",
                        "fragments": [{"type": "REQUEST", "content": "hello"}],
                    },
                },
            },
        }
    ]
    assert not chatgpt.sniff(head_of(json.dumps(deepseek).encode()))
    # and ChatGPT with the same tree does get claimed
    chatgpt_like = copy.deepcopy(deepseek)
    chatgpt_like[0]["mapping"]["1"]["message"] = {
        "author": {"role": "user"},
        "content": {"content_type": "text", "parts": ["hello"]},
    }
    assert chatgpt.sniff(head_of(json.dumps(chatgpt_like).encode()))


def test_other_providers_samples_not_claimed(samples):
    # everything outside chatgpt/ except the two files that really are ChatGPT
    # payloads (a browser capture wrapping one, and a one-conversation file)
    claimed = []
    for p in sorted(samples.rglob("*")):
        if not p.is_file() or p.suffix == ".gz" or p.parent.name == "chatgpt" or "representatives" in p.parts:
            continue
        with open(p, "rb") as f:
            data = f.read(256 << 10)
        if chatgpt.sniff(head_of(data)):
            claimed.append(p.name)
    assert sorted(claimed) == ["Sinity__polylogue__chatgpt-export.json", "Sinity__polylogue__chatgpt-raw-provider.json"]


# ---------------------------------------------------------------- behaviour on crafted inputs


def _node(nid, parent, children, role=None, content=None, **extra):
    msg = None
    if role is not None:
        msg = {
            "id": nid,
            "author": {"role": role},
            "content": content or {"content_type": "text", "parts": [nid]},
            **extra,
        }
    return {"id": nid, "parent": parent, "children": children, "message": msg}


def _conv(cid, nodes, current=None, **extra):
    return {"id": cid, "title": cid, "mapping": {n["id"]: n for n in nodes}, "current_node": current, **extra}


def test_bad_conversation_skipped_rest_continue():
    good = _conv("good", [_node("r", None, ["a"]), _node("a", "r", [], "user")], "a")
    data = json.dumps(
        [good, 42, {"id": "nomap", "title": "x"}, _conv("good2", [_node("a", None, [], "user")])]
    ).encode()
    convs, ctx = parse_bytes(data)
    assert [c.provider_id for c in convs] == ["good", "good2"]
    warnings = " | ".join(ctx.all_warnings())
    assert "conversation 1" in warnings and "conversation 2 (nomap)" in warnings


def test_duplicate_conversation_first_wins():
    a = _conv("same", [_node("a", None, [], "user", {"content_type": "text", "parts": ["first"]})])
    b = _conv("same", [_node("a", None, [], "user", {"content_type": "text", "parts": ["second"]})])
    convs, ctx = parse_bytes(json.dumps([a, b]).encode())
    assert len(convs) == 1 and convs[0].messages[0].text == "first"
    assert any("duplicate" in w for w in ctx.all_warnings())


def test_truncated_array_keeps_complete_conversations():
    convs_in = [_conv(f"c{i}", [_node("a", None, [], "user")]) for i in range(3)]
    data = json.dumps(convs_in).encode()
    cut = data[: data.index(b'"c2"') + 2]
    convs, ctx = parse_bytes(cut)
    assert [c.provider_id for c in convs] == ["c0", "c1"]
    assert any("stopped after conversation" in w for w in ctx.all_warnings())
    with pytest.raises(ParseError):
        parse_bytes(data[:20])


def test_no_current_node_picks_latest_leaf_and_flags_it():
    nodes = [
        _node("u", None, ["a1", "a2"], "user", create_time=100),
        _node("a1", "u", [], "assistant", create_time=300),
        _node("a2", "u", [], "assistant", create_time=200),
    ]
    (c,), _ = parse_bytes(json.dumps([_conv("x", nodes)]).encode())
    assert [m.id for m in c.messages if m.active] == ["u", "a1"]
    assert c.meta["active_inferred"] is True


def test_children_order_and_relinking_through_messageless_nodes():
    nodes = [
        _node("root", None, ["mid"]),
        _node("mid", "root", ["b", "a"]),  # a message-less node in the middle
        _node("a", "mid", [], "user"),
        _node("b", "mid", [], "user"),
    ]
    (c,), _ = parse_bytes(json.dumps([_conv("x", nodes, "a")]).encode())
    assert [m.id for m in c.messages] == ["b", "a"]  # branch order from children[]
    assert all(m.parent_id is None for m in c.messages)
    assert [m.active for m in c.messages] == [False, True]


def test_parent_cycle_does_not_hang():
    nodes = [_node("a", "b", ["b"], "user"), _node("b", "a", ["a"], "assistant")]
    (c,), _ = parse_bytes(json.dumps([_conv("cyc", nodes, "b")]).encode())
    assert sorted(m.id for m in c.messages) == ["a", "b"]
    check_invariants([c])


def test_content_types():
    img = {
        "content_type": "image_asset_pointer",
        "asset_pointer": "sediment://file_abc",
        "size_bytes": 10,
        "width": 2,
        "height": 3,
        "metadata": {"dalle": {"prompt": "a red fox", "gen_id": "g1"}},
    }
    nodes = [
        _node(
            "u",
            None,
            ["c"],
            "user",
            {
                "content_type": "multimodal_text",
                "parts": [
                    img,
                    {"content_type": "audio_transcription", "text": "spoken words", "direction": "in"},
                    {
                        "content_type": "audio_asset_pointer",
                        "asset_pointer": "sediment://file_aud",
                        "format": "wav",
                        "size_bytes": 5,
                    },
                    {"content_type": "mystery_part", "x": 1},
                    7,
                    None,
                    "",
                ],
            },
        ),
        _node(
            "c",
            "u",
            ["t"],
            "assistant",
            {"content_type": "text", "parts": ['{"updates": [{"replacement": "x"}]}']},
            recipient="canmore.update_textdoc",
        ),
        _node("t", "c", ["e"], "tool", {"content_type": "text", "parts": ["Successfully updated"]}),
        _node("e", "t", ["k"], "tool", {"content_type": "system_error", "name": "tool_error", "text": "boom"}),
        _node("k", "e", ["z"], "assistant", {"content_type": "brand_new_type", "payload": {"a": [1, 2]}}),
        _node(
            "z",
            "k",
            [],
            "system",
            {
                "content_type": "model_editable_context",
                "model_set_context": "remembered",
                "structured_context": {"k": 1},
            },
        ),
    ]
    (c,), _ = parse_bytes(json.dumps([_conv("ct", nodes, "z")]).encode())
    m = {x.id: x for x in c.messages}
    assert [b.type for b in m["u"].blocks] == ["image", "text", "attachment", "opaque", "opaque"]
    assert m["u"].blocks[0].text == "a red fox" and m["u"].blocks[0].name == "file_abc"
    assert m["u"].blocks[1].text == "spoken words"
    assert m["u"].blocks[2].meta["mime"] == "audio/wav"
    assert m["u"].blocks[3].meta["raw"] == {"content_type": "mystery_part", "x": 1}
    call = m["c"].blocks[0]
    assert call.name == "canmore.update_textdoc" and call.input == {"updates": [{"replacement": "x"}]}
    assert m["t"].blocks[0].id == "c" and m["t"].blocks[0].text == "Successfully updated"
    err = m["e"].blocks[0]
    assert err.type == "tool_result" and err.is_error is True and err.id == "c" and err.text == "boom"
    assert m["k"].blocks[0].type == "opaque" and m["k"].blocks[0].meta["raw"]["payload"] == {"a": [1, 2]}
    assert m["z"].context and [b.type for b in m["z"].blocks] == ["text", "opaque"]


def test_code_interpreter_outcome_from_aggregate_result():
    nodes = [
        _node(
            "c",
            None,
            ["r"],
            "assistant",
            {"content_type": "code", "language": "python", "text": "1/0"},
            recipient="python",
        ),
        _node(
            "r",
            "c",
            [],
            "tool",
            {"content_type": "execution_output", "text": "ZeroDivisionError"},
            status="finished_successfully",
            metadata={"aggregate_result": {"status": "failed", "in_kernel_exception": {"name": "ZeroDivisionError"}}},
        ),
    ]
    nodes += [
        _node(
            "c2",
            "r",
            ["r2"],
            "assistant",
            {"content_type": "code", "language": "unknown", "text": "plt.show()"},
            recipient="python",
        ),
        _node(
            "r2",
            "c2",
            [],
            "tool",
            {"content_type": "execution_output", "text": ""},
            metadata={
                "aggregate_result": {
                    "status": "success",
                    "messages": [
                        {"message_type": "image", "image_url": "file-service://file-Plot1", "width": 640, "height": 480}
                    ],
                }
            },
        ),
    ]
    (c,), _ = parse_bytes(json.dumps([_conv("ci", nodes, "r2")]).encode())
    (call, res), (call2, res2) = c.tool_calls()
    assert call.input == "1/0" and call.meta == {"language": "python"}
    assert res.is_error is True and res.text == "ZeroDivisionError"
    assert call2.meta is None and res2.is_error is False
    plot = c.messages[-1].blocks[1]
    assert plot.type == "image" and plot.name == "file-Plot1" and plot.meta["width"] == 640


def test_kept_metadata_is_bounded():
    cites = [
        {"start_ix": i, "end_ix": i + 1, "metadata": {"url": f"https://example.com/{i}", "text": "y" * 5000}}
        for i in range(3000)
    ]
    nodes = [_node("a", None, [], "assistant", metadata={"citations": cites, "model_slug": "gpt-4o"})]
    (c,), _ = parse_bytes(json.dumps([_conv("big", nodes, "a")]).encode())
    m = c.messages[0]
    kept = m.meta["metadata"]["citations"]
    assert kept[0]["metadata"]["url"] == "https://example.com/0"
    assert isinstance(kept[-1], str) and kept[-1].startswith("…")  # says it was cut
    assert len(orjson.dumps(m.meta)) < 100_000


def test_derived_id_is_stable():
    conv = {"title": "no id", "mapping": {"a": _node("a", None, [], "user")}}
    data = json.dumps([conv]).encode()
    (c1,), _ = parse_bytes(data)
    (c2,), _ = parse_bytes(data)
    assert c1.provider_id == c2.provider_id and c1.provider_id.startswith("derived-")
    assert c1.meta["derived_id"] is True


def test_streaming_memory_is_bounded():
    """A large conversations.json is streamed: peak Python memory stays far below its size."""
    one = _conv(
        "c",
        [
            _node("r", None, ["a"]),
            _node("a", "r", ["b"], "user"),
            _node("b", "a", [], "assistant", {"content_type": "text", "parts": ["x" * 3000]}),
        ],
        "b",
    )
    n = 1500

    class Gen(io.RawIOBase):  # produces the array on the fly, never held whole
        def __init__(self):
            self.i, self.buf = -1, b"["

        def readable(self):
            return True

        def readinto(self, b):
            while len(self.buf) < len(b) and self.i < n:
                self.i += 1
                if self.i < n:
                    one["id"] = f"c{self.i}"
                    self.buf += (b"," if self.i else b"") + json.dumps(one).encode()
                else:
                    self.buf += b"]"
            k = min(len(b), len(self.buf))
            b[:k], self.buf = self.buf[:k], self.buf[k:]
            return k

    ctx = ParseContext("<gen>")
    tracemalloc.start()
    try:
        _, stream = open_clean(io.BufferedReader(Gen()), ctx)
        count = sum(1 for _ in chatgpt.parse(stream, ctx))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 1.5 * (1 << 20), peak  # the document is ~5 MB


# ---------------------------------------------------------------- our example export


def test_example_export():
    # examples/chatgpt/conversations.json (ours). By jq: 3 conversations with 7, 7
    # and 7 nodes, 6 of them with a message each; active path from current_node:
    # 4 / 6 / 6 messages; assistant messages with recipient != "all": 0 / 1 / 2;
    # tool messages 0 / 1 / 2; hidden nodes 2 / 0 / 0.
    convs, ctx = parse_file(EXAMPLE)
    assert not ctx.all_warnings()
    assert [(c.title, len(c.messages), sum(m.active for m in c.messages)) for c in convs] == [
        ("Rust lifetimes in a struct", 6, 4),
        ("Plot latency percentiles", 6, 6),
        ("SQLite WAL checkpoints", 6, 6),
    ]
    check_invariants(convs)
    assert chatgpt.sniff(head_of(EXAMPLE.read_bytes()))
    rust, plot, sql = convs

    # one unique searchable word per conversation
    def words(c):
        return " ".join(b.search_text() for _, b in c.iter_blocks())

    for word, conv in (("zanzibarquux", rust), ("quokkaflux", plot), ("marzipanotter", sql)):
        assert [c.title for c in convs if word in words(c)] == [conv.title]

    # rust: hidden system + hidden custom instructions; an edited prompt (branch)
    assert [(m.role, m.context, (m.meta or {}).get("hidden")) for m in rust.messages[:2]] == [
        ("system", True, True),
        ("user", True, True),
    ]
    branch = [m for m in rust.messages if (m.meta or {}).get("branch") is not None]
    assert [(m.meta["branch"], m.active) for m in branch] == [(0, False), (1, True)]
    assert branch[0].parent_id == branch[1].parent_id == rust.messages[1].id

    # plot: image upload + attachments, thinking, python call -> execution_output
    up = plot.messages[0]
    assert [b.type for b in up.blocks] == ["image", "text", "attachment", "attachment"]
    assert up.blocks[0].meta["url"].startswith("sediment://") and "asset_pointer" not in up.text
    assert [b.name for b in up.blocks[2:]] == ["latency.csv", "dashboard.png"]
    assert [b.type for m in plot.messages[1:3] for b in m.blocks] == ["thinking", "thinking"]
    assert plot.messages[1].blocks[0].meta["summary"] == "Planning the analysis"
    ((call, res),) = plot.tool_calls()
    assert call.name == "python" and "quantile" in call.input and res.is_error is False and "/search" in res.text
    assert res.id == call.id == plot.messages[3].id
    final = plot.messages[-1]
    assert final.blocks[-1].type == "attachment" and final.blocks[-1].meta["fetchable"] is False
    assert plot.models == ["o3"]

    # sql: two browser calls, each answered by the following tool message; a new-style cite marker stripped
    pairs = sql.tool_calls()
    assert [(u.input, r.meta["content_type"]) for u, r in pairs] == [
        ('search("sqlite wal_autocheckpoint default pages")', "tether_browsing_display"),
        ("mclick([0])", "tether_quote"),
    ]
    answer = sql.messages[-1]
    assert "\ue200" not in answer.text and "1000 pages; change it" in answer.text
    assert answer.meta["cite_markers"] == ["cite turn0view0"]
    assert answer.meta["metadata"]["content_references"][0]["type"] == "grouped_webpages"


# ---------------------------------------------------------------- fuzzing

_N = int(os.environ.get("POLYLOGUE_FUZZ_EXAMPLES", "200"))  # raise it for a long local run
FUZZ = settings(max_examples=_N, deadline=None, suppress_health_check=list(HealthCheck))


def _only_parse_error(data: bytes):
    try:
        convs, _ = parse_bytes(data)
    except ParseError:
        return
    check_invariants(convs)


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(data):
    _only_parse_error(data)


KEYS = [
    "mapping",
    "message",
    "parent",
    "children",
    "content",
    "content_type",
    "parts",
    "author",
    "role",
    "recipient",
    "current_node",
    "id",
    "title",
    "text",
    "thoughts",
    "metadata",
    "attachments",
    "asset_pointer",
    "create_time",
    "aggregate_result",
    "raw_provider_payload",
]
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 70), max_value=1 << 70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "user",
            "assistant",
            "tool",
            "system",
            "all",
            "python",
            "text",
            "code",
            "multimodal_text",
            "execution_output",
            "thoughts",
            "image_asset_pointer",
            "a",
            "b",
        ]
    )
)
json_values = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=30,
)


@FUZZ
@given(json_values)
def test_fuzz_random_json(value):
    _only_parse_error(json.dumps(value).encode())
    _only_parse_error(json.dumps([value]).encode())


ROLES_S = st.sampled_from(["user", "assistant", "tool", "system", "developer", "critic", None, 3])
CTYPES = st.sampled_from(
    [
        "text",
        "code",
        "multimodal_text",
        "execution_output",
        "thoughts",
        "reasoning_recap",
        "user_editable_context",
        "tether_quote",
        "tether_browsing_display",
        "system_error",
        "computer_output",
        "weird",
        None,
        5,
    ]
)
NODE_IDS = st.sampled_from(["n0", "n1", "n2", "n3", "n4", "missing"])
small_json = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=5,
)


@st.composite
def conversations(draw):
    mapping = {}
    for nid in draw(st.lists(NODE_IDS, max_size=6, unique=True)):
        content = {"content_type": draw(CTYPES)}
        for k in draw(
            st.lists(
                st.sampled_from(
                    ["parts", "text", "thoughts", "result", "content", "language", "screenshot", "user_profile"]
                ),
                max_size=3,
                unique=True,
            )
        ):
            content[k] = draw(small_json)
        message = draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "id": st.none() | NODE_IDS,
                    "author": st.fixed_dictionaries({"role": ROLES_S, "name": st.none() | st.text(max_size=5)})
                    | small_json,
                    "content": st.just(content) | small_json,
                    "recipient": st.sampled_from(["all", "python", "browser", "assistant", None, 1]),
                    "metadata": st.fixed_dictionaries(
                        {},
                        optional={
                            "attachments": small_json,
                            "aggregate_result": small_json,
                            "model_slug": small_json,
                            "is_visually_hidden_from_conversation": small_json,
                            "citations": small_json,
                        },
                    )
                    | small_json,
                    "create_time": small_json,
                    "status": st.sampled_from(["finished_successfully", "in_progress", None]),
                }
            )
        )
        mapping[nid] = {
            "id": nid,
            "parent": draw(st.none() | NODE_IDS | small_json),
            "children": draw(st.lists(NODE_IDS, max_size=3) | small_json),
            "message": message,
        }
    return {
        "id": draw(st.none() | st.text(max_size=6) | small_json),
        "title": draw(small_json),
        "current_node": draw(st.none() | NODE_IDS | small_json),
        "create_time": draw(small_json),
        "mapping": mapping if draw(st.booleans()) or not mapping else draw(small_json),
    }


@settings(FUZZ, max_examples=max(1, _N // 2))
@given(st.lists(conversations(), max_size=3), st.booleans())
def test_fuzz_structured_conversations(convs, single):
    if single and convs:
        _only_parse_error(json.dumps(convs[0]).encode())
    else:
        _only_parse_error(json.dumps(convs).encode())


_SAMPLE_BYTES = [p.read_bytes() for p in SAMPLES + REPRESENTATIVES] + (
    [EXAMPLE.read_bytes()] if EXAMPLE.exists() else []
)


@FUZZ
@given(st.sampled_from(_SAMPLE_BYTES) if _SAMPLE_BYTES else st.just(b"[]"), st.data())
def test_fuzz_truncated_samples(data, draw):
    cut = draw.draw(st.integers(min_value=0, max_value=len(data)))
    _only_parse_error(data[:cut])


def _slots(value, out, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(path + (k,))
            _slots(v, out, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append(path + (i,))
            _slots(v, out, path + (i,))
    return out


_SAMPLE_VALUES = [json.loads(b) for b in _SAMPLE_BYTES]


@FUZZ
@given(st.sampled_from(_SAMPLE_VALUES) if _SAMPLE_VALUES else st.just([]), st.data())
def test_fuzz_mutated_samples(value, draw):
    value = copy.deepcopy(value)
    slots = _slots(value, [])
    for _ in range(draw.draw(st.integers(min_value=1, max_value=4))):
        if not slots:
            break
        path = slots[draw.draw(st.integers(min_value=0, max_value=len(slots) - 1))]
        target = value
        try:
            for k in path[:-1]:
                target = target[k]
            target[path[-1]] = draw.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced this branch
    _only_parse_error(json.dumps(value).encode())


# ---------------------------------------------------------------- out-of-range values (issue 18, item 8)


def _text(s: str) -> dict:
    return {"content_type": "text", "parts": [s]}


def _oor_conv(cid: str, middle: dict | None = None, **extra) -> dict:
    """root -> GOOD-ONE prompt -> middle (a tool call) -> GOOD-TWO answer."""
    mid = middle or {
        "id": "b",
        "author": {"role": "assistant", "name": None, "metadata": {}},
        "create_time": 1700000001.5,
        "update_time": 1700000002,
        "content": {"content_type": "code", "language": "python", "text": "print(1)"},
        "recipient": "python",
        "weight": 1.0,
        "metadata": {"model_slug": "gpt-4o", "finish_details": {"type": "stop"}, "citations": []},
    }
    return _conv(
        cid,
        [
            _node("r", None, ["a"]),
            _node("a", "r", ["b"], "user", _text(f"GOOD-ONE {cid}"), create_time=1700000000),
            {"id": "b", "parent": "a", "children": ["c"], "message": mid},
            _node("c", "b", [], "assistant", _text(f"GOOD-TWO {cid}"), create_time=1700000003),
        ],
        "c",
        **{"create_time": 1700000000.25, "update_time": 1700000003.5, **extra},
    )


MIDDLE = _oor_conv("x")["mapping"]["b"]["message"]


def test_out_of_range_values_cost_nothing_else():
    bad = json.loads(json.dumps(MIDDLE))
    bad.update(create_time=1e20, update_time="9999-12-31T23:59:59-14:00")
    bad["metadata"]["finish_details"] = {"type": 2**63 - 1}
    conv_bad = _oor_conv("c2", bad, create_time="0000-01-01T00:00:00Z", update_time=-1e308)
    convs, ctx = parse_bytes(dumps([_oor_conv("c1"), conv_bad, _oor_conv("c3")]))
    assert [(c.provider_id, len(c.messages)) for c in convs] == [("c1", 3), ("c2", 3), ("c3", 3)]


@FUZZ
@given(mutated(MIDDLE, accepted))
def test_fuzz_out_of_range_message_keeps_the_good_ones(bad):
    convs, _ = parse_bytes(dumps([_oor_conv("c1", bad)]))
    check_invariants(convs)
    assert "GOOD-ONE" in all_text(convs) and "GOOD-TWO" in all_text(convs)


@FUZZ
@given(mutated(_oor_conv("c2"), accepted))
def test_fuzz_out_of_range_conversation_keeps_the_good_ones(bad):
    convs, _ = parse_bytes(dumps([_oor_conv("c1"), bad, _oor_conv("c3")]))
    check_invariants(convs)
    kept = {c.provider_id for c in convs}
    assert {"c1", "c3"} <= kept


@FUZZ
@given(mutated(_oor_conv("c2")))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad):
    """Numbers the JSON reader refuses (beyond 64 bits, NaN) end the document
    there: the conversations before them are kept, with a warning."""
    _only_parse_error(dumps([_oor_conv("c1"), bad, _oor_conv("c3")]))
    _only_parse_error(dumps(bad))
