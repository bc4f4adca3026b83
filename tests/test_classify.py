"""Message classification on real samples: prompts, replies, thinking, tool
traffic and injected context are told apart."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from polylogue import models as pm
from polylogue.classify import CLASSES, classify, is_substantive
from polylogue.providers import parse_path


def classes(path):
    convs, _ = parse_path(str(path))
    return convs, [Counter(classify(m) for m in c.messages) for c in convs]


def test_claude_code_real_session(samples):
    # marot short.jsonl (real 2.1.38), read by hand: 4 user records = 1 prompt, 2 carrying only
    # tool results, 1 "[Request interrupted by user for tool use]" marker; 2 system/local_command
    # records (the /model echo and its stdout); one response written as 5 records = 1 reply
    convs, counts = classes(samples / "claude-code" / "marot__spotter__short.jsonl")
    c = counts[0]
    assert c == {"prompt": 1, "reply": 1, "tool_result": 2, "context": 3}
    assert sum(c.values()) == len(convs[0].messages) == 7


def test_claude_code_injected_context(samples):
    # the normalization fixture: isMeta, a slash-command echo and an interrupt marker are context
    convs, counts = classes(samples / "claude-code" / "Sinity__polylogue__claude-normalization-main.jsonl")
    main = max(zip(convs, counts), key=lambda x: len(x[0].messages))
    conv, c = main
    assert c["context"] >= 2
    for m in conv.messages:
        if m.context:
            assert classify(m) == "context" and not is_substantive(m)


def test_codex_environment_is_context_not_prompt(samples):
    convs, counts = classes(samples / "codex" / "Mai0313__VibeCodingTracker__codex.jsonl")
    conv = convs[0]
    prompts = [m for m in conv.messages if classify(m) == "prompt"]
    assert prompts and all("<environment_context>" not in m.text for m in prompts)
    assert counts[0]["context"] >= 1
    assert counts[0]["tool_call"] >= 1 and counts[0]["tool_result"] >= 1


def test_chatgpt_thinking_and_tools(samples):
    convs, counts = classes(samples / "chatgpt" / "minhyeong112__h20__chatgpt-export.json")
    total = sum(counts, Counter())
    assert total["prompt"] >= 2 and total["reply"] >= 2
    assert total["tool_call"] + total["tool_result"] >= 2


def test_every_class_is_known(samples):
    for d in ("claude-code", "codex", "chatgpt", "claude-ai", "gemini-cli", "gemini-aistudio"):
        for p in sorted((samples / d).iterdir())[:6]:
            try:
                convs, counts = classes(p)
            except Exception:
                continue  # side files are not conversations
            for c in counts:
                assert set(c) <= set(CLASSES)


def test_substantive_projection_matches_classification(samples):
    convs, _ = classes(samples / "claude-code" / "marot__spotter__258c7280-ae70-4798-800f-63464d01a85d.jsonl")
    conv = convs[0]
    sub = conv.substantive()
    assert sub and all(classify(m) in ("prompt", "reply") for m in sub)
    assert conv.substantive() is sub  # cached
    conv.invalidate()
    assert conv.substantive() is not sub and conv.substantive() == sub
    for prompt, reply in conv.pairs():
        assert classify(prompt) == "prompt" and (reply is None or classify(reply) == "reply")


_blocks = st.lists(
    st.one_of(
        st.builds(pm.text, st.sampled_from(["", " ", "\n", "hi", "a reply"])),
        st.builds(pm.thinking, st.sampled_from(["", "hmm"])),
        st.builds(pm.tool_use, st.just("c1"), st.just("Bash"), st.just({"command": "ls"})),
        st.builds(pm.tool_result, st.just("c1"), st.sampled_from(["", "out"])),
        st.builds(pm.attachment, st.just("a.png")),
        st.builds(pm.opaque, st.just({"x": 1})),
    ),
    max_size=4,
)


@given(role=st.sampled_from([*pm.ROLES, "other"]), blocks=_blocks, context=st.booleans())
def test_the_models_substantive_rule_is_the_classifiers(role, blocks, context):
    """Message.is_substantive (the model's own rule, no classifier needed) says
    exactly "a prompt or a reply with visible text"."""
    msg = pm.Message("x", role, blocks, context=context)
    visible = any(b.type == pm.TEXT and b.text.strip() for b in blocks)
    assert msg.is_substantive == (classify(msg) in ("prompt", "reply") and visible)
    assert is_substantive(msg) == msg.is_substantive
