"""Google AI Studio saved prompts (docs/providers.md, "gemini").

Expected numbers below were read from the sample files by hand / with jq, not
from the parser: one conversation per file; messages = number of
``chunkedPrompt.chunks`` (``jq '.chunkedPrompt.chunks|length'``) plus one when
``systemInstruction.text`` is non-empty (none of the shared samples has one).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, ids, sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import accepted, all_text, dumps, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import gemini_aistudio as gem
from polylogue.providers import gemini_cli, open_clean, read_head
from polylogue.providers.common import ParseContext

AISTUDIO = sample_files("gemini-aistudio")
EXAMPLE = EXAMPLES / "gemini" / "AI Studio" / "Rust lifetimes question"


def parse_bytes(data: bytes, path: str = "prompt") -> tuple[list[m.Conversation], ParseContext]:
    ctx = ParseContext(path)
    head, stream = open_clean(io.BytesIO(data), ctx)
    return list(gem.parse(stream, ctx)), ctx


def parse_file(path: Path) -> tuple[list[m.Conversation], ParseContext]:
    """Like providers.parse_path, but independent of the other provider modules."""
    ctx = ParseContext(str(path))
    with open(path, "rb") as raw:
        head, stream = open_clean(raw, ctx)
        assert gem.sniff(head)
        return list(gem.parse(stream, ctx)), ctx


def head_of(path: Path):
    return read_head(path.read_bytes()[: 256 << 10])


def one(path: Path) -> m.Conversation:
    convs, ctx = parse_file(path)
    assert len(convs) == 1, ctx.all_warnings()
    return convs[0]


def blocks(conv: m.Conversation, kind: str) -> list[m.Block]:
    return [b for _, b in conv.iter_blocks() if b.type == kind]


# ---------------------------------------------------------------- conformance

# file -> message count (jq '.chunkedPrompt.chunks|length'; no systemInstruction text in any sample)
EXPECTED = {
    "Sinity__polylogue__branching_session.json": 5,  # user, model x4 (edit-1, edit-2, empty, error)
    "Sinity__polylogue__code_execution_prompt.json": 5,  # user, thought, code, result, answer
    "Sinity__polylogue__code_execution_session.json": 4,  # user, thought, code+result chunk, answer
    "Sinity__polylogue__demo-00.json": 4,  # user, model, user, model
    "Sinity__polylogue__multi_turn_prompt.json": 5,  # user, thought, model, user, model
    "Sinity__polylogue__multimodal_session.json": 4,  # user x3 (doc, inline png, youtube), model
    "Sinity__polylogue__text_only_prompt.json": 4,
    "Sinity__polylogue__text_only_session.json": 2,
}


@pytest.mark.parametrize("path", AISTUDIO, ids=ids(AISTUDIO))
def test_message_counts(samples, path):
    assert path.name in EXPECTED, "new sample: add its hand-checked count"
    conv = one(path)
    assert len(conv.messages) == EXPECTED[path.name]
    assert conv.provider == "gemini"
    # roles follow the chunk roles (user / model -> assistant)
    raw = json.loads(path.read_text())
    want = ["user" if c["role"] == "user" else "assistant" for c in raw["chunkedPrompt"]["chunks"]]
    assert [msg.role for msg in conv.messages] == want
    # ids unique and deterministic
    assert len({msg.id for msg in conv.messages}) == len(conv.messages)
    assert [x.id for x in one(path).messages] == [msg.id for msg in conv.messages]
    # never a Python repr in text
    for _, b in conv.iter_blocks():
        assert "{'" not in b.text and "'text':" not in b.text


def test_branching_session(samples):
    conv = one(samples / "gemini-aistudio" / "Sinity__polylogue__branching_session.json")
    assert conv.provider_id == "gemini-branching-1"  # top-level "id"
    assert conv.title == "Branching Gemini session"  # displayName
    by = {msg.id: msg for msg in conv.messages}
    # both model answers name chunk-user-1 as branchParent -> siblings
    assert by["chunk-model-edit-1"].parent_id == "chunk-user-1"
    assert by["chunk-model-edit-2"].parent_id == "chunk-user-1"
    # no active marker: the latest leaf (chunk-error-1, 13:00:30) wins; edit-1 is the abandoned branch
    assert [msg.id for msg in conv.messages if msg.active] == [
        "chunk-user-1",
        "chunk-model-edit-2",
        "chunk-empty-1",
        "chunk-error-1",
    ]
    assert by["chunk-model-edit-1"].active is False
    assert conv.meta.get("active_leaf_inferred") is True
    assert by["chunk-model-edit-1"].meta["edited"] is True
    assert (
        by["chunk-model-edit-2"].meta["grounding"]["groundingChunks"][0]["web"]["uri"] == "https://example.com/source"
    )
    assert by["chunk-empty-1"].blocks == [] and by["chunk-empty-1"].meta["empty"] is True
    err = by["chunk-error-1"]
    assert err.meta["error"] == "Stream interrupted" and err.meta["finish_reason"] == "OTHER"
    assert err.text == "Partial response cut off."
    # per-chunk times, not the document's createTime
    assert by["chunk-model-edit-2"].timestamp.isoformat() == "2025-02-01T13:00:12+00:00"
    assert conv.created_at.isoformat() == "2025-02-01T13:00:00+00:00"
    assert conv.updated_at.isoformat() == "2025-02-01T13:00:40+00:00"


def test_code_execution_separate_chunks(samples):
    conv = one(samples / "gemini-aistudio" / "Sinity__polylogue__code_execution_prompt.json")
    assert conv.title == "Code interpreter run"  # "title"
    msgs = conv.messages
    assert msgs[1].has(m.THINKING) and msgs[1].text == ""  # isThought: thinking, never answer text
    assert msgs[1].blocks[0].text == "I should use code execution."
    ((use, res),) = conv.tool_calls()
    assert use.name == "code_execution" and use.input == {"language": "PYTHON", "code": "print(2+2)"}
    assert res is not None and res.text == "4\n" and res.is_error is False
    assert res.meta["outcome"] == "success" and res.meta["status"] == "OUTCOME_OK"
    assert msgs[2].blocks == [use] and msgs[3].blocks == [res]  # paired across chunks by adjacency
    assert msgs[4].usage == {"output": 5, "convention": "gemini"}  # tokenCount 5
    assert msgs[4].meta["finish_reason"] == "STOP"


def test_code_execution_in_one_chunk(samples):
    conv = one(samples / "gemini-aistudio" / "Sinity__polylogue__code_execution_session.json")
    code = conv.messages[2]
    assert [b.type for b in code.blocks] == ["text", "tool_use", "tool_result"]
    assert code.blocks[0].text == "Here is the computation:"  # from parts (no chunk text)
    assert code.blocks[2].id == code.blocks[1].id and code.blocks[2].text == "55"
    assert conv.messages[0].text == "Compute the sum of the first 10 integers."  # parts-only user chunk


def test_multi_turn_drive_document(samples):
    conv = one(samples / "gemini-aistudio" / "Sinity__polylogue__multi_turn_prompt.json")
    (att,) = blocks(conv, m.ATTACHMENT)
    assert att.name == "report.pdf" and att.meta["drive_id"] == "doc-abc"
    assert conv.messages[1].blocks[0].type == m.THINKING
    assert conv.messages[1].meta["thinking_budget"] == 1024
    assert conv.messages[2].meta["safety_ratings"][0]["probability"] == "NEGLIGIBLE"
    assert [msg.text for msg in conv.messages if msg.role == "user"] == ["Summarize this doc.", "And the risks?"]


def test_multimodal(samples):
    conv = one(samples / "gemini-aistudio" / "Sinity__polylogue__multimodal_session.json")
    doc, img, yt = (msg.blocks[-1] for msg in conv.messages[:3])
    assert doc.type == m.ATTACHMENT and doc.meta["size"] == 2048  # sizeBytes "2048" (a string)
    assert doc.meta["mime"] == "application/pdf" and doc.name == "spec.pdf"
    assert img.type == m.IMAGE and img.meta["mime"] == "image/png" and img.meta["data_b64"] == "iVBORw0KGgo="
    assert yt.meta["youtube_id"] == "abc123"


def test_demo_without_id(samples):
    path = samples / "gemini-aistudio" / "Sinity__polylogue__demo-00.json"
    conv = one(path)
    # no id inside: a derived, flagged id; title falls back to the file name
    assert conv.provider_id.startswith("derived-") and conv.meta["derived_id"] is True
    assert conv.meta["id_source"] == "content"  # the first chunk has createTime
    assert conv.title == "Sinity__polylogue__demo-00"
    assert conv.models == ["gemini-2.5-pro"]
    assert conv.meta["run_settings"]["topK"] == 54
    att = conv.messages[0].blocks[1]
    assert att.meta["mime"] == "text/plain"
    assert att.text == "demo attachment bytes for Polylogue fixture coverage\n"  # decoded, searchable
    # created/updated from chunk times (no document times)
    assert conv.created_at.isoformat() == "2024-02-03T04:29:36.990973+00:00"
    assert conv.updated_at.isoformat() == "2024-02-03T04:32:36.990973+00:00"


# ---------------------------------------------------------------- every sample


@pytest.mark.parametrize("path", AISTUDIO, ids=ids(AISTUDIO))
def test_sniffed_as_aistudio_only(samples, path):
    head = head_of(path)
    assert gem.sniff(head)
    assert not gemini_cli.sniff(head)
    from polylogue.providers import detect

    assert detect(head) is gem.PROVIDER


@pytest.mark.parametrize("path", AISTUDIO, ids=ids(AISTUDIO))
def test_parse_path(samples, path):
    from polylogue.providers import parse_path

    convs, ctx = parse_path(str(path))
    assert len(convs) == 1 and convs[0].provider == "gemini"
    assert ctx.all_warnings() == []


def test_side_files_not_claimed(samples):
    for p in sample_files("gemini-cli"):
        assert not gem.sniff(head_of(p)), p.name


# ---------------------------------------------------------------- our example


def test_example_prompt():
    conv = one(EXAMPLE)
    assert conv.title == "Rust lifetimes question"  # the Drive file name
    assert conv.meta["derived_id"] is True and conv.provider_id.startswith("derived-")
    assert conv.models == ["gemini-2.5-pro"]
    roles = [msg.role for msg in conv.messages]
    assert roles == ["system", "user", "assistant", "assistant", "user", "assistant", "assistant", "assistant"]
    sysmsg = conv.messages[0]
    assert sysmsg.context is True and "Rust tutor" in sysmsg.text
    # thinking chunk: text and its thought parts are the same content, kept once
    think = conv.messages[2]
    assert [b.type for b in think.blocks] == ["thinking"] and think.blocks[0].text.count("Examining the borrow") == 1
    answer = conv.messages[3]
    assert answer.text.count("lifetimoraxe") == 1  # text used, streamed parts not appended
    ((use, res),) = conv.tool_calls()
    assert res.text == "8 8\n" and res.id == use.id
    att = conv.messages[1].blocks[-1]
    assert att.type == m.ATTACHMENT and att.meta["drive_id"].startswith("1qFxk3VZ")
    assert conv.meta["pending_inputs"][0]["text"] == "And what about 'héllo'?"  # a draft, not a message
    assert conv.messages[2].usage == {"reasoning": 41, "convention": "gemini"}
    hits = [msg.id for msg in conv.messages if "lifetimoraxe" in msg.text]
    assert hits == [answer.id]


def test_example_id_is_stable_and_path_independent(tmp_path):
    data = EXAMPLE.read_bytes()
    a, _ = parse_bytes(data, "/drive/AI Studio/Rust lifetimes question")
    b, _ = parse_bytes(data, "/elsewhere/renamed copy")
    assert a[0].provider_id == b[0].provider_id
    # the prompt grows (rewritten in place): the id stays
    doc = json.loads(data)
    doc["chunkedPrompt"]["chunks"].append({"role": "user", "text": "more", "createTime": "2026-02-14T09:20:00Z"})
    c, _ = parse_bytes(json.dumps(doc).encode(), "x")
    assert c[0].provider_id == a[0].provider_id and len(c[0].messages) == len(a[0].messages) + 1
    # a branch file of it (branchParent to another prompt) gets its own id and a parent link
    doc["chunkedPrompt"]["chunks"][3]["branchParent"] = {"promptId": "1AbCfictionalParent", "displayName": "Rust"}
    d, _ = parse_bytes(json.dumps(doc).encode(), "x")
    assert d[0].provider_id != a[0].provider_id
    assert d[0].parent_id == "gemini:1AbCfictionalParent"


def test_id_without_times_uses_path_as_last_resort():
    doc = {"chunkedPrompt": {"chunks": [{"role": "user", "text": "hi"}, {"role": "model", "text": "hello"}]}}
    data = json.dumps(doc).encode()
    a, _ = parse_bytes(data, "/d/one")
    b, _ = parse_bytes(data, "/d/two")
    assert a[0].provider_id != b[0].provider_id
    assert a[0].meta["id_source"] == "content+path"
    assert a[0].title == "one"


def test_empty_prompt_warns_and_yields_nothing():
    convs, ctx = parse_bytes(b'{"runSettings":{}, "chunkedPrompt":{"chunks":[]}}')
    assert convs == [] and any("no chunks" in w for w in ctx.all_warnings())


def test_not_a_prompt_is_parse_error():
    with pytest.raises(ParseError):
        parse_bytes(b'{"sessionId":"x","projectHash":"y","messages":[]}')
    with pytest.raises(ParseError):
        parse_bytes(b"[1,2,3]")


def test_bad_chunks_are_skipped_with_warnings():
    doc = {
        "chunkedPrompt": {
            "chunks": [
                {"role": "user", "text": "ok", "createTime": "2026-01-01T00:00:00Z"},
                7,
                None,
                {"role": "model", "parts": [{"text": 5}, {"weird": True}, "frag"], "text": None},
                {"role": "model", "text": "fine", "driveImage": {"id": "img1"}, "codeExecutionResult": {"output": 3}},
            ]
        }
    }
    convs, ctx = parse_bytes(json.dumps(doc).encode())
    (conv,) = convs
    assert len(conv.messages) == 3
    assert len(ctx.all_warnings()) == 2
    assert [b.type for b in conv.messages[1].blocks] == [m.OPAQUE, m.OPAQUE, m.TEXT]
    assert conv.messages[1].blocks[0].meta["raw"] == {"text": 5} and conv.messages[1].text == "frag"
    last = conv.messages[2]
    assert [b.type for b in last.blocks] == [m.TEXT, m.TOOL_RESULT, m.IMAGE]
    res = last.blocks[1]
    assert res.id is None and res.text == "3" and res.is_error is None and res.meta["outcome"] == "unknown"
    assert last.blocks[2].meta["drive_id"] == "img1"


# ---------------------------------------------------------------- fuzz


def _only_parse_error(data: bytes) -> None:
    try:
        parse_bytes(data)
    except ParseError:
        pass


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "text",
                    "role",
                    "parts",
                    "isThought",
                    "createTime",
                    "executableCode",
                    "codeExecutionResult",
                    "driveDocument",
                    "inlineFile",
                    "branchParent",
                    "id",
                    "promptId",
                    "data",
                    "mimeType",
                    "tokenCount",
                    "thought",
                    "output",
                    "outcome",
                    "code",
                    "x",
                ]
            ),
            kids,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_bytes(data):
    _only_parse_error(data)


@FUZZ
@given(chunks=st.lists(json_values, max_size=6), top=json_values)
def test_fuzz_structured(chunks, top):
    doc = {
        "chunkedPrompt": {"chunks": chunks, "pendingInputs": top},
        "runSettings": top,
        "systemInstruction": top,
        "id": top if isinstance(top, (str, int)) else None,
    }
    _only_parse_error(json.dumps(doc).encode())
    _only_parse_error(json.dumps({"chunkedPrompt": top}).encode())


_REAL = [p.read_bytes() for p in AISTUDIO] + [EXAMPLE.read_bytes()]


@FUZZ
@given(which=st.integers(0, len(_REAL) - 1), cut=st.integers(0, 5000), junk=st.binary(max_size=20))
def test_fuzz_truncated_and_mutated(which, cut, junk):
    data = _REAL[which]
    _only_parse_error(data[:cut])
    pos = cut % max(len(data), 1)
    _only_parse_error(data[:pos] + junk + data[pos + len(junk) :])


def test_parts_are_streamed_fragments():
    doc = {
        "chunkedPrompt": {
            "chunks": [
                {"role": "user", "parts": [{"text": "Hel"}, {"text": "lo"}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "Plan ", "thought": True},
                        {"text": "it.", "thought": True},
                        {"text": "Ans", "thoughtSignature": "c2ln"},
                        {"text": "wer"},
                        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    ],
                },
            ]
        }
    }
    (conv,), _ = parse_bytes(json.dumps(doc).encode())
    assert conv.messages[0].text == "Hello"
    b = conv.messages[1].blocks
    assert [(x.type, x.text) for x in b[:2]] == [("thinking", "Plan it."), ("text", "Answer")]
    assert b[2].type == m.IMAGE and b[2].meta["source"] == "inlineData"


# ---------------------------------------------------------------- out-of-range values (issue 18, item 8)

GOOD_FIRST = {"role": "user", "text": "GOOD-ONE prompt", "createTime": "2026-01-01T00:00:00Z", "tokenCount": 3}
BAD_TEMPLATE = {
    "role": "model",
    "text": "middle",
    "createTime": "2026-01-01T00:00:01Z",
    "tokenCount": 12,
    "finishReason": "STOP",
    "parts": [{"text": "mid"}, {"thought": True, "text": "hmm"}],
    "driveImage": {"id": "img1"},
    "codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "3"},
}
GOOD_LAST = {"role": "model", "text": "GOOD-TWO answer", "createTime": "2026-01-01T00:00:02Z"}


def _prompt(*chunks, **top) -> dict:
    return {
        "id": "p-oor",
        "runSettings": {"model": "models/gemini-2.5-pro"},
        "chunkedPrompt": {"chunks": list(chunks)},
        **top,
    }


def test_out_of_range_values_cost_nothing_else():
    """Times no calendar holds, counts beyond 64 bits: the prompt imports whole
    (these raised OverflowError and the file failed)."""
    bad = dict(BAD_TEMPLATE, createTime="9999-12-31T23:59:59-14:00", tokenCount=2**63 - 1)
    (conv,), ctx = parse_bytes(dumps(_prompt(GOOD_FIRST, bad, GOOD_LAST, createTime="0000-01-01T00:00:00Z")))
    assert len(conv.messages) == 3 and conv.messages[1].timestamp is None


@FUZZ
@given(mutated(BAD_TEMPLATE))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad):
    _only_parse_error(dumps(_prompt(GOOD_FIRST, bad, GOOD_LAST)))


@FUZZ
@given(mutated(BAD_TEMPLATE, accepted))
def test_fuzz_out_of_range_values_keep_the_good_chunks(bad):
    """One JSON document: every value its reader reads costs one chunk at most."""
    convs, _ = parse_bytes(dumps(_prompt(GOOD_FIRST, bad, GOOD_LAST)))
    assert "GOOD-ONE" in all_text(convs) and "GOOD-TWO" in all_text(convs)


@FUZZ
@given(mutated(_prompt(GOOD_FIRST, GOOD_LAST, createTime="2026-01-01T00:00:00Z", citations=[{"uri": "u"}])))
def test_fuzz_out_of_range_prompt_fields(doc):
    _only_parse_error(dumps(doc))
