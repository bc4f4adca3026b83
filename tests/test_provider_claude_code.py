"""Claude Code provider (docs/providers.md, "claude-code"): conformance on the shared samples,
robustness (hypothesis), and the repository's own example export.

Every expected number below was counted from the sample files themselves with
jq / python one-liners that do not use the parser; each comment says how."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import orjson
import pytest
from conftest import EXAMPLES, SHARED_SAMPLES, ids, sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from out_of_range import accepted, all_text, dumps, mutated

from polylogue.errors import ParseError
from polylogue.models import ASSISTANT, SYSTEM, THINKING, TOOL, TOOL_RESULT, TOOL_USE, USER
from polylogue.providers import claude_code as cc
from polylogue.providers import open_clean, parse_path, read_head
from polylogue.providers.common import ParseContext

CC = SHARED_SAMPLES / "claude-code"
SIDE_FILES = {
    "jazzyalex__agent-sessions__agent-a0ad4f44468bdf20d.meta.json",  # agent-<id>.meta.json sidecar
    "kvsankar__agent-history__claude_history.jsonl",  # ~/.claude/history.jsonl
}
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_file(path: Path):
    """Parse with this provider directly (independent of the other providers' sniffers)."""
    ctx = ParseContext(str(path))
    with open(path, "rb") as raw:
        head, stream = open_clean(raw, ctx)
        return list(cc.parse(stream, ctx)), ctx


def parse_bytes(data: bytes, path: str = "mem.jsonl"):
    ctx = ParseContext(path)
    head, stream = open_clean(io.BytesIO(data), ctx)
    return list(cc.parse(stream, ctx)), ctx


def head_of(path: Path):
    with open(path, "rb") as f:
        return read_head(f.read(256 << 10))


def by_pid(convs):
    return {c.provider_id: c for c in convs}


def msg(conv, mid):
    return next(m for m in conv.messages if m.id == mid)


def storable(conv) -> None:
    """Everything the store serialises is plain JSON that orjson accepts (no huge ints, not too deep)."""
    opt = orjson.OPT_NON_STR_KEYS
    orjson.dumps(conv.meta, option=opt)
    for m in conv.messages:
        orjson.dumps([m.meta, m.usage], option=opt)
        for b in m.blocks:
            orjson.dumps([b.input, b.meta], option=opt)


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


# ---------------------------------------------------------------- conformance: shared samples


def test_marot_short(samples):
    convs, ctx = parse_file(samples / "claude-code/marot__spotter__short.jsonl")
    # one sessionId (jq '.sessionId' | sort -u: 55604662-… plus null on the snapshot record)
    assert [c.provider_id for c in convs] == ["55604662-cf2a-4331-851a-ec234028f8ca"]
    c = convs[0]
    # 4 user records (prompt, 2 tool results, interrupt) + 5 assistant records sharing one
    # message.id (jq: .message.id -> 1 distinct) + 2 system/local_command records = 7
    assert len(c.messages) == 7
    roles = [m.role for m in c.messages]
    assert roles == [USER, ASSISTANT, TOOL, TOOL, USER, SYSTEM, SYSTEM]
    a = c.messages[1]
    # the five fragments in file order: text "\n\n", thinking, text, tool_use, tool_use
    assert [b.type for b in a.blocks] == ["text", THINKING, "text", TOOL_USE, TOOL_USE]
    assert a.meta["fragments"][0] == a.id and len(a.meta["fragments"]) == 5
    # usage is repeated on all five records with output_tokens 13 (jq): counted once
    assert a.usage == {
        "input": 3,
        "output": 13,
        "cache_read": 11515,
        "cache_write": 13835,
        "cache_write_5m": 0,  # usage.cache_creation tells the two cache lifetimes apart
        "cache_write_1h": 13835,
        "tier": "standard",
        "key": "msg_01MKH1ccEGrZGNPvu8pYiiQa:req_011CY15QS2LGwAeBxdfa6e1V",  # message.id:requestId
        "convention": "anthropic",
    }
    # both tool results answer tool_use blocks of the merged response (parallel calls)
    # and were rejected (toolUseResult "User rejected tool use", is_error true)
    calls = c.tool_calls()
    assert len(calls) == 2 and all(r is not None for _, r in calls)
    assert all(u.meta["outcome"] == "rejected" and r.is_error for u, r in calls)
    assert c.messages[2].parent_id == a.id and c.messages[3].parent_id == a.id
    # the first user record's parent is a hook_progress record (re-linked to nothing: a root)
    assert c.messages[0].parent_id is None
    # active path: every message (the sibling tool result of the parallel call included)
    assert all(m.active for m in c.messages)
    assert [m.meta.get("kind") for m in c.messages[4:]] == ["interrupt", "slash_command", "command_output"]
    assert all(m.context for m in c.messages[4:])
    assert "\x1b[1m" in c.messages[6].text  # ANSI kept verbatim
    assert c.project == "/home/marco/projects/spotter"
    assert c.models == ["claude-opus-4-6"]
    assert not ctx.warnings


def test_sinity_normalization_main(samples):
    convs, ctx = parse_file(samples / "claude-code/Sinity__polylogue__claude-normalization-main.jsonl")
    # sessionIds (jq -r .sessionId | sort | uniq -c): main 11 records, other 2
    convs = by_pid(convs)
    assert set(convs) == {"claude-normalization-main", "claude-normalization-other"}
    main, other = convs["claude-normalization-main"], convs["claude-normalization-other"]
    # main: 11 records - 1 duplicate uuid main-u1 (line 6) - 1 queue-operation (line 11) = 9
    assert len(main.messages) == 9
    assert len(other.messages) == 2  # other-u1, other-a1
    # first occurrence of main-u1 wins (line 1), the conflicting copy is dropped
    assert msg(main, "main-u1").text == "Review the parser."
    assert main.meta["duplicates"] == 1
    assert msg(main, "main-command").context and msg(main, "main-command").meta["kind"] == "slash_command"
    assert msg(main, "main-context").context  # isMeta
    interrupt = next(m for m in main.messages if m.text == "[Request interrupted by user]")
    assert interrupt.context and interrupt.meta["kind"] == "interrupt" and interrupt.parent_id == "main-context"
    side = next(m for m in main.messages if m.sidechain)  # line 13, isSidechain, no uuid
    assert side.role == ASSISTANT and not side.active and side.text == "Normalization complete."
    # active leaf: last non-sidechain chat record = main-fg-result (line 10); walking up:
    # main-a2, main-context, main-command, main-bg-start, main-a1, main-u1 -> 7 active;
    # the interrupt (a sibling of main-a2) and the sidechain are off the path
    assert sum(m.active for m in main.messages) == 7
    assert not interrupt.active
    # tools: tool-bg went to the background and its <task-notification> says failed;
    # tool-missing has no result at all; tool-fg failed with is_error
    outcome = {u.id: u.meta["outcome"] for u, _ in main.tool_calls()}
    assert outcome == {"tool-bg": "error", "tool-missing": "unknown", "tool-fg": "error"}
    results = {u.id: r for u, r in main.tool_calls()}
    assert results["tool-bg"].meta["task_status"] == "failed"
    assert results["tool-missing"] is None
    a1 = msg(main, "main-a1")
    assert [b.type for b in a1.blocks] == [THINKING, "text", TOOL_USE, TOOL_USE]
    assert a1.meta["cost_usd"] == 0.125 and main.meta["cost_usd"] == 0.15  # 0.125 + 0.025
    assert main.models == ["claude-sonnet-4-5-20250929", "claude-opus-4-6"]
    assert other.models == ["claude-haiku-4-5-20251001"]
    assert main.project == "/workspace/polylogue"
    assert not ctx.warnings


def test_mai0313_two_sessions_and_resume_copy(samples):
    convs, ctx = parse_file(samples / "claude-code/Mai0313__VibeCodingTracker__claude_code.jsonl")
    # python: per sessionId, first-occurrence user records + distinct assistant message.id
    #   e9f146fa: 22 users + 18 ids = 40;  b162b1ae: 21 users (line 49 repeats uuid 562d6805
    #   of line 48, so it is not counted) + 14 ids = 35
    convs = by_pid(convs)
    first = convs["e9f146fa-3b20-48d0-9be4-d99ca901cae4"]
    second = convs["b162b1ae-97bc-475f-9b5f-ffbf55ca5b3f"]
    assert len(convs) == 2
    assert len(first.messages) == 40 and len(second.messages) == 35
    assert "562d6805-363d-4bf4-aba6-7c6ec68a291d" in {m.id for m in first.messages}
    assert "562d6805-363d-4bf4-aba6-7c6ec68a291d" not in {m.id for m in second.messages}
    assert second.meta["resumed_copies"] == 1
    assert second.parent_id == first.id and second.meta["link_type"] == "continuation"
    # line 50's parent is the copied record: kept as an external reference, a root here
    head = second.messages[0]
    assert head.parent_id is None and head.meta["parent_external"] == "562d6805-363d-4bf4-aba6-7c6ec68a291d"
    # usage once per message.id: jq group_by(.message.id) | max(output_tokens) summed = 3860 over 32 ids
    total = sum(m.usage["output"] for c in (first, second) for m in c.messages if m.usage)
    assert total == 3860
    assert sum(1 for c in (first, second) for m in c.messages if m.role == ASSISTANT) == 32
    # CJK prompt, isMeta caveat, /mcp echo and its stdout in the second session
    assert first.messages[0].text.startswith("幫我檢查一下 go.mod")
    kinds = [m.meta.get("kind") for m in second.messages[1:4]]
    assert kinds == ["caveat", "slash_command", "command_output"]
    assert first.models == ["claude-sonnet-4-20250514"]
    assert first.project == "/home/wei/repo/claude-code"
    assert second.meta["events"] == {"file-history-delta": 1}
    assert not ctx.warnings


def test_kvsankar_forked_session(samples):
    convs, _ = parse_file(samples / "claude-code/kvsankar__agent-history__claude_forked_session.jsonl")
    assert len(convs) == 1
    c = convs[0]
    assert len(c.messages) == 14  # 7 user + 7 assistant records, distinct uuids and message ids
    # two human prompts share the parent fa1-fork (lines 3 and 7): a real fork
    assert msg(c, "fu2a-fork").parent_id == msg(c, "fu2b-fork").parent_id == "fa1-fork"
    # active leaf = last record (fa5b-fork); its ancestors: fu5b fa4b fu4b fa3b fu3b fa2b fu2b fa1 fu1
    inactive = {m.id for m in c.messages if not m.active}
    assert inactive == {"fu2a-fork", "fa2a-fork", "fu3a-fork", "fa3a-fork"}
    assert c.meta["active_leaf"] == "fa5b-fork"
    # 3 tool_use blocks, each answered by is_error-less results with no toolUseResult
    assert len(c.tool_calls()) == 3 and all(r is not None for _, r in c.tool_calls())


def test_daaain_edge_cases(samples):
    convs, ctx = parse_file(samples / "claude-code/daaain__claude-code-log__edge_cases.jsonl")
    convs = by_pid(convs)
    # sessionIds: edge_cases (lines 1-12, 18), todowrite_session (line 17)
    assert set(convs) == {"edge_cases", "todowrite_session"}
    edge = convs["edge_cases"]
    # valid records of edge_cases: lines 1-9, 12 (edge_011) and 18 (edge_010) = 11;
    # line 10 has only the misspelt "contenst", line 11 has message "error" (a string):
    # both fail validation and do not reserve their uuid
    assert len(edge.messages) == 11
    assert msg(edge, "edge_011").text.startswith("Testing special characters: café")
    assert msg(edge, "edge_010").text == "wow error"
    assert len(convs["todowrite_session"].messages) == 1
    # all parentUuid null: linear in file order, everything active
    assert [m.parent_id for m in edge.messages[1:]] == [m.id for m in edge.messages[:-1]]
    assert all(m.active for m in edge.messages)
    # summary leafUuid edge_011 is in this session -> title
    assert edge.title.startswith("Tested various edge cases")
    assert convs["todowrite_session"].title is None
    fail = next(r for u, r in edge.tool_calls() if u.id == "tool_edge_001")
    assert fail.is_error and fail.meta["outcome"] == "error"
    assert [m.meta.get("kind") for m in edge.messages[5:8]] == ["caveat", "slash_command", "command_output"]
    # bad lines: 10, 11 (invalid records), 13, 15, 16 (not objects), 14 (no type)
    assert sorted(w.line for w in ctx.warnings) == [10, 11, 13, 14, 15, 16]
    # TodoWrite input mixing a string and objects is kept as given
    todo = convs["todowrite_session"].messages[0].blocks[0]
    assert todo.type == TOOL_USE and todo.input["todos"][0] == "broken_todo"


def test_compaction_boundary(samples):
    convs, _ = parse_file(samples / "claude-code/kvsankar__agent-history__session_with_compaction.jsonl")
    c = convs[0]
    # 6 user + 6 assistant + 1 summary record with a message = 13 (boundary is an event)
    assert len(c.messages) == 13
    # the boundary (parentUuid null, logicalParentUuid ca4-compact) is walked through
    assert msg(c, "summary-001").parent_id == "ca4-compact"
    assert msg(c, "summary-001").context
    assert all(m.active for m in c.messages)
    assert c.meta["compactions"][0]["trigger"] == "auto"


def test_rejections(samples):
    convs, _ = parse_file(samples / "claude-code/kvsankar__agent-history__claude_with_rejection.jsonl")
    c = convs[0]
    assert len(c.messages) == 12  # 6 user + 6 assistant
    outcomes = {u.id: u.meta["outcome"] for u, _ in c.tool_calls()}
    # jq: toolu_r002 and toolu_r004 results have is_error true + "doesn't want to proceed"
    assert outcomes["toolu_r002"] == outcomes["toolu_r004"] == "rejected"
    assert outcomes["toolu_r001"] == outcomes["toolu_r003"] == "unknown"  # no flag, no toolUseResult


def test_usage_once_per_message_id(samples):
    convs, _ = parse_file(samples / "claude-code/marot__spotter__258c7280-ae70-4798-800f-63464d01a85d.jsonl")
    c = convs[0]
    # python: 91 user records + 69 distinct assistant message.id (148 assistant records) = 160
    assert len(c.messages) == 160
    # jq -s 'group_by(.message.id) | map(max output_tokens) | add' = 19861 (a naive sum is 20251)
    assert sum(m.usage["output"] for m in c.messages if m.usage) == 19861
    assert sum(1 for m in c.messages if m.role == ASSISTANT) == 69


def test_agent_progress_embeds_are_not_messages(samples):
    convs, _ = parse_file(samples / "claude-code/marot__spotter__subagent.jsonl")
    assert len(convs) == 1
    c = convs[0]
    # 20 user records + 12 assistant message ids = 32; the 19 agent_progress records embed
    # copies of subagent records (their own uuids, message ids and usage) and add nothing
    assert len(c.messages) == 32
    assert sum(m.usage["output"] for m in c.messages if m.usage) == 1586  # jq, top-level records only
    task = next(u for u, _ in c.tool_calls() if u.name == "Task")
    # agent_progress data.agentId / toolUseResult.agentId = afb92ff, parentToolUseID = the Task id
    assert task.meta["agent_id"] == "afb92ff"
    assert task.meta["child"] == "claude-code:491e126e-1e71-469c-ade2-fcc8af567c74/agent-afb92ff"
    assert c.meta["subagents"] == [task.meta["child"]]
    assert c.meta["events"]["progress/agent_progress"] == 19


def test_subagent_current_layout(samples):
    sid = "258c7280-ae70-4798-800f-63464d01a85d"
    (agent,), _ = parse_file(samples / "claude-code/marot__spotter__agent-a881341.jsonl")
    assert agent.provider_id == f"{sid}/agent-a881341"
    assert agent.parent_id == f"claude-code:{sid}"
    assert agent.meta["agent_kind"] == "subagent"
    # 3 user records + 3 assistant message ids (5 records) = 6
    assert len(agent.messages) == 6
    assert all(not m.sidechain and m.active for m in agent.messages)
    assert agent.messages[0].meta["kind"] == "agent_prompt"
    (compact,), _ = parse_file(samples / "claude-code/marot__spotter__agent-acompact-fffbd0.jsonl")
    assert compact.provider_id == f"{sid}/agent-acompact-fffbd0"
    assert compact.parent_id == f"claude-code:{sid}"
    assert compact.meta["agent_kind"] == "compaction" and compact.meta["link_type"] == "compaction"
    assert len(compact.messages) == 4  # 2 isMeta reminders, the summary prompt, the summary
    # first records point into the parent session's chain: roots with the reference kept
    assert compact.messages[0].parent_id is None and compact.messages[0].meta["parent_missing"]


def test_subagent_fixture_pair(samples, tmp_path):
    (parent,), _ = parse_file(
        samples / "claude-code/jazzyalex__agent-sessions__0a1b2c3d-4e5f-4061-8071-2a3b4c5d6e7f.jsonl"
    )
    assert len(parent.messages) == 2  # pu1, pa1 (the session_start system record is an event)
    task = parent.messages[1].blocks[1]
    assert task.name == "Task" and task.id is None and task.meta["outcome"] == "unknown"
    child_file = samples / "claude-code/jazzyalex__agent-sessions__agent-a0ad4f44468bdf20d.jsonl"
    (child,), _ = parse_file(child_file)
    # this fixture writes sessionId "agent-<id>" instead of the parent's id
    assert child.provider_id == "agent-a0ad4f44468bdf20d" and child.parent_id is None
    assert len(child.messages) == 3  # cu1, ca1, cu2 (+ an attachment event)
    # placed in the real layout, the parent session comes from <session>/subagents/
    d = tmp_path / parent.provider_id / "subagents"
    d.mkdir(parents=True)
    shutil.copy(child_file, d / "agent-a0ad4f44468bdf20d.jsonl")
    (child,), _ = parse_file(d / "agent-a0ad4f44468bdf20d.jsonl")
    assert child.provider_id == f"{parent.provider_id}/agent-a0ad4f44468bdf20d"
    assert child.parent_id == parent.id


def test_subagent_flat_layout_warmup(samples):
    (c,), _ = parse_file(samples / "claude-code/neilberkman__ccrider__agent-session.jsonl")
    assert c.provider_id == "test-session-123/agent-ffdd9610"
    assert c.parent_id == "claude-code:test-session-123"
    assert len(c.messages) == 2
    assert c.messages[0].context and c.messages[0].meta["kind"] == "warmup" and c.meta["warmup"]


def test_lineage_fixtures(samples):
    (sub,), _ = parse_file(samples / "claude-code/Sinity__polylogue__normalization-lineage-subagent-acompact.jsonl")
    assert sub.provider_id == "claude-lineage-parent/agent-task-agent-12-change-proof"
    assert sub.parent_id == "claude-code:claude-lineage-parent"
    assert len(sub.messages) == 3  # user, assistant, summary-with-message (context)
    assert sub.messages[2].context and sub.messages[2].meta["kind"] == "summary"
    (side,), _ = parse_file(samples / "claude-code/Sinity__polylogue__lineage-sidechain.jsonl")
    # a file made only of sidechain records: they are its dialogue (no parentUuid -> linear)
    assert len(side.messages) == 2 and all(m.sidechain and m.active for m in side.messages)
    assert side.messages[1].parent_id == side.messages[0].id


def test_titles_and_placeholders(samples):
    convs, ctx = parse_file(samples / "claude-code/jazzyalex__agent-sessions__small.jsonl")
    # sessionIds: ses_stage0_small, stage0-session (only relocated/worktree-state records:
    # no messages -> skipped with a note) and "[trimmed for fixture]" placeholders, which
    # are not ids and stay with the session being read
    assert [c.provider_id for c in convs] == ["ses_stage0_small"]
    c = convs[0]
    # custom-title > ai-title > agent-name > summary
    assert c.title == "Stage0 small fixture" and c.meta["title_source"] == "custom-title"
    # 10 user + 10 assistant records + 4 queued_command attachments = 24; placeholder uuids
    # and message ids are not ids, so none of them collapse into one another
    assert len(c.messages) == 24
    assert len({m.id for m in c.messages}) == 24
    assert any(m.meta and m.meta.get("kind") == "compact_summary" for m in c.messages)
    assert "<synthetic>" not in c.models and "claude-opus-5" in c.models
    assert any("stage0-session" in n for n in ctx.notes) and not ctx.warnings  # a note, not a failure


def test_summary_title_via_leaf(samples):
    (c,), _ = parse_file(samples / "claude-code/daaain__claude-code-log__representative_messages.jsonl")
    assert len(c.messages) == 11  # 6 user + 5 assistant, parentUuid all null -> linear
    assert c.title.startswith("User learned about Python decorators")
    (c,), _ = parse_file(samples / "claude-code/simonw__claude-code-transcripts__sample_session.jsonl")
    assert len(c.messages) == 7 and c.title == "Test session for JSONL parsing"
    # records have no parentUuid key at all: linear in file order
    assert [m.parent_id for m in c.messages[1:]] == [m.id for m in c.messages[:-1]]


def test_web_loglines_and_cowork(samples):
    web = samples / "other/claude-code-web/simonw__claude-code-transcripts__sample_session.json"
    assert cc.sniff(head_of(web))
    (c,), ctx = parse_file(web)
    # jq '.loglines | length' = 33, all user/assistant, no uuid/sessionId anywhere
    assert len(c.messages) == 33 and c.provider_id.startswith("derived-")
    assert c.provider_id == parse_file(web)[0][0].provider_id  # deterministic
    assert sum(1 for m in c.messages if m.meta and m.meta.get("kind") == "compact_summary") == 1
    assert not ctx.warnings
    origin = samples / "other/origin-capability/Sinity__polylogue__claude-code-session.jsonl"
    assert cc.sniff(head_of(origin))
    (c,), _ = parse_file(origin)
    assert c.provider_id == "origin-matrix-claude-code" and len(c.messages) == 2  # 2 lines, 2 records
    cowork = samples / "other/claude_cowork/noo-bass__context-carry__session-cw-001.jsonl"
    assert cc.sniff(head_of(cowork))
    (c,), _ = parse_file(cowork)
    assert c.provider_id == "session-cw-001" and len(c.messages) == 4
    assert c.project == "/sessions/friendly-helpful-pasteur"


# ---------------------------------------------------------------- every sample


@pytest.mark.parametrize("path", sample_files("claude-code"), ids=ids(sample_files("claude-code")))
def test_every_sample(path, samples):
    head = head_of(path)
    if path.name in SIDE_FILES:
        assert not cc.sniff(head)
        convs, _ = parse_file(path)  # even when forced through the parser: nothing
        assert convs == []
        return
    assert cc.sniff(head)
    try:
        from polylogue.providers import detect

        mod = detect(head)
    except ImportError:  # another provider module not importable yet
        mod = cc
    assert mod is not None and mod.name == "claude-code"
    convs, ctx = parse_path(str(path), "claude-code")
    assert convs
    for c in convs:
        assert c.provider == "claude-code" and c.messages
        mids = [m.id for m in c.messages]
        assert len(set(mids)) == len(mids)
        assert any(m.active for m in c.messages)
        known = set(mids)
        assert all(m.parent_id is None or m.parent_id in known for m in c.messages)
        assert all(b.meta and b.meta.get("outcome") for _, b in c.iter_blocks() if b.type in (TOOL_USE, TOOL_RESULT))
        storable(c)
    again, _ = parse_path(str(path), "claude-code")  # re-import: same ids
    assert [[m.id for m in c.messages] for c in again] == [[m.id for m in c.messages] for c in convs]


def test_sniff_rejects_other_formats(samples):
    """Other providers' samples are not claimed (Qwen Code, Codex, Gemini CLI...)."""
    claimed = []
    for d in ("chatgpt", "claude-ai", "codex", "gemini-cli", "gemini-aistudio"):
        for p in sample_files(d):
            if cc.sniff(head_of(p)):
                claimed.append(p.name)
    for p in sorted((samples / "other").rglob("*")):
        if p.is_file() and p.parent.name not in ("claude-code-web", "claude_cowork") and "claude-code" not in p.name:
            if cc.sniff(head_of(p)):
                claimed.append(p.name)
    assert claimed == []


# ---------------------------------------------------------------- small synthetic streams


def _rec(t, uuid, parent, sid="s1", **kw):
    r = {"type": t, "uuid": uuid, "parentUuid": parent, "sessionId": sid, "timestamp": "2026-01-01T00:00:00Z"}
    if t == "user":
        r["message"] = {"role": "user", "content": kw.pop("content", "hi")}
    elif t == "assistant":
        r["message"] = {
            "role": "assistant",
            "id": kw.pop("mid", None),
            "model": "claude-x",
            "content": kw.pop("content", [{"type": "text", "text": "ok"}]),
        }
    r.update(kw)
    return r


def test_interleaved_sessions_split():
    data = jsonl(
        _rec("user", "a1", None, "A"),
        _rec("user", "b1", None, "B"),
        _rec("assistant", "a2", "a1", "A", mid="m1"),
        _rec("assistant", "b2", "b1", "B", mid="m2"),
    )
    convs, _ = parse_bytes(data)
    assert {c.provider_id: [m.id for m in c.messages] for c in convs} == {"A": ["a1", "a2"], "B": ["b1", "b2"]}


def test_garbage_line_warns_once_and_rest_imports():
    data = jsonl(_rec("user", "u1", None)) + b"{not json at all\n" + jsonl(_rec("assistant", "a1", "u1"))
    (c,), ctx = parse_bytes(data)
    assert [m.id for m in c.messages] == ["u1", "a1"]
    assert [(w.line) for w in ctx.warnings] == [2]


def test_unknown_record_type_and_block_kept_out_or_opaque():
    data = jsonl(
        _rec("user", "u1", None),
        {"type": "hologram-sync", "uuid": "h1", "parentUuid": "u1", "sessionId": "s1"},
        _rec("assistant", "a1", "h1", content=[{"type": "sparkle", "x": 1}, {"type": "text", "text": "t"}]),
    )
    (c,), ctx = parse_bytes(data)
    assert [m.id for m in c.messages] == ["u1", "a1"]
    assert msg(c, "a1").parent_id == "u1"  # re-linked through the unknown record
    assert [b.type for b in msg(c, "a1").blocks] == ["opaque", "text"]
    assert msg(c, "a1").blocks[0].meta["raw"] == {"type": "sparkle", "x": 1}
    assert c.meta["events"] == {"hologram-sync": 1} and not ctx.warnings
    assert c.meta["unknown_record_types"] == ["hologram-sync"]


def test_fragments_merge_without_double_counting():
    u = lambda o: {"input_tokens": 5, "output_tokens": o, "cache_read_input_tokens": 7}
    frag = lambda uuid, parent, block, o: (
        {**_rec("assistant", uuid, parent, mid="msg_A", content=[block]), "requestId": "req_A"}
        | {"message": {"id": "msg_A", "role": "assistant", "model": "claude-x", "content": [block], "usage": u(o)}}
    )
    data = jsonl(
        _rec("user", "u1", None),
        frag("r1", "u1", {"type": "thinking", "thinking": "hmm"}, 3),
        frag("r2", "r1", {"type": "text", "text": "answer"}, 9),
        frag("r3", "r2", {"type": "text", "text": "answer"}, 12),  # a repeated block is not doubled
        _rec("user", "u2", "r3", content="next"),
    )
    (c,), _ = parse_bytes(data)
    a = msg(c, "r1")
    assert [b.type for b in a.blocks] == [THINKING, "text"] and a.text == "answer"
    assert a.usage == {"input": 5, "output": 12, "cache_read": 7, "key": "msg_A:req_A", "convention": "anthropic"}
    assert msg(c, "u2").parent_id == "r1"


def test_last_prompt_leaf_sets_active_branch():
    data = jsonl(
        _rec("user", "u1", None),
        _rec("assistant", "a1", "u1"),
        _rec("user", "u2", "a1", content="first try"),
        _rec("user", "u3", "a1", content="second try"),
        {"type": "last-prompt", "leafUuid": "u2", "sessionId": "s1", "lastPrompt": "first try"},
    )
    (c,), _ = parse_bytes(data)
    assert [m.id for m in c.messages if m.active] == ["u1", "a1", "u2"]
    assert "active_leaf_inferred" not in c.meta


def test_unstorable_values_are_replaced():
    deep = {"k": None}
    for _ in range(300):  # orjson reads 1024 levels but writes only 254
        deep = {"k": deep}
    data = jsonl(
        _rec("user", "u1", None),
        _rec(
            "assistant",
            "a1",
            "u1",
            content=[{"type": "tool_use", "id": "t1", "name": "Deep", "input": deep}, {"type": "mystery", "v": deep}],
        ),
    )
    (c,), ctx = parse_bytes(data)
    storable(c)
    assert msg(c, "a1").blocks[0].input == {"omitted": True, "reason": "not representable as JSON"}
    assert not ctx.warnings


def test_parse_raises_only_parse_error_on_bad_json_document():
    with pytest.raises(ParseError):
        parse_bytes(b'{"loglines": [ {"type": "user", "message": ')


# ---------------------------------------------------------------- fuzzing


def _real_lines() -> list[bytes]:
    out: list[bytes] = []
    for name in (
        "marot__spotter__short.jsonl",
        "Sinity__polylogue__claude-normalization-main.jsonl",
        "daaain__claude-code-log__edge_cases.jsonl",
        "jazzyalex__agent-sessions__small.jsonl",
    ):
        p = CC / name
        if p.is_file():
            out.extend(line for line in p.read_bytes().splitlines() if line.strip())
    if not out:  # no shared samples: fall back to the repository's own example
        for p in sorted((EXAMPLES / "claude-code").rglob("*.jsonl")):
            out.extend(line for line in p.read_bytes().splitlines() if line.strip())
    return out


REAL = _real_lines()
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "user",
            "assistant",
            "summary",
            "system",
            "progress",
            "attachment",
            "tool_use",
            "tool_result",
            "text",
            "thinking",
            "[trimmed for fixture]",
            "u1",
            "s1",
        ]
    ),
)
json_value = st.recursive(
    json_leaf,
    lambda ch: (
        st.lists(ch, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "uuid",
                    "parentUuid",
                    "sessionId",
                    "message",
                    "content",
                    "role",
                    "id",
                    "text",
                    "tool_use_id",
                    "is_error",
                    "usage",
                    "output_tokens",
                    "isSidechain",
                    "agentId",
                    "isMeta",
                    "leafUuid",
                    "summary",
                    "toolUseResult",
                    "subtype",
                    "data",
                    "attachment",
                    "timestamp",
                    "logicalParentUuid",
                    "loglines",
                    "input",
                    "name",
                ]
            )
            | st.text(max_size=8),
            ch,
            max_size=6,
        )
    ),
    max_leaves=12,
)
small = st.one_of(
    json_leaf, st.lists(json_leaf, max_size=3), st.dictionaries(st.text(max_size=5), json_leaf, max_size=3)
)
block = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "text",
                "thinking",
                "tool_use",
                "tool_result",
                "image",
                "fallback",
                "redacted_thinking",
                "document",
                "web_search_tool_result",
            ]
        )
    },
    optional={
        "text": json_leaf,
        "thinking": json_leaf,
        "id": json_leaf,
        "name": json_leaf,
        "input": small,
        "tool_use_id": st.sampled_from(["t1", "t2"]) | json_leaf,
        "content": small,
        "is_error": json_leaf,
        "source": small,
    },
)
cc_record = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "user",
                "assistant",
                "summary",
                "system",
                "progress",
                "attachment",
                "last-prompt",
                "custom-title",
                "queue-operation",
                "x-future",
            ]
        )
    },
    optional={
        "uuid": st.sampled_from(["u1", "u2", "u3", "[trimmed for fixture]"]) | json_leaf,
        "parentUuid": st.sampled_from(["u1", "u2", "u3", None]) | json_leaf,
        "logicalParentUuid": st.sampled_from(["u1", "u2"]),
        "sessionId": st.sampled_from(["s1", "s2"]) | json_leaf,
        "isSidechain": st.booleans(),
        "agentId": st.sampled_from(["a1", "acompact-1"]) | json_leaf,
        "isMeta": json_leaf,
        "leafUuid": st.sampled_from(["u1", "u2", "u3"]),
        "summary": json_leaf,
        "toolUseResult": small,
        "subtype": st.sampled_from(["local_command", "compact_boundary", "api_error"]),
        "content": small,
        "data": small,
        "attachment": small,
        "timestamp": json_leaf,
        "message": st.fixed_dictionaries(
            {},
            optional={
                "id": st.sampled_from(["m1", "m2"]) | json_leaf,
                "role": json_leaf,
                "model": json_leaf,
                "content": st.lists(block | json_leaf, max_size=4) | json_leaf,
                "usage": st.dictionaries(st.sampled_from(["input_tokens", "output_tokens"]), json_leaf),
            },
        )
        | json_leaf,
    },
)


def _run(data: bytes) -> None:
    cc.sniff(read_head(data[: 256 << 10]))  # sniffing never raises either
    try:
        convs, _ = parse_bytes(data)
    except ParseError:
        return
    for c in convs:
        assert c.messages
        assert len({m.id for m in c.messages}) == len(c.messages)
        storable(c)


@FAST
@given(st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(data):
    _run(data)


@FAST
@given(st.lists(cc_record | json_value, max_size=10), st.sampled_from(["jsonl", "loglines", "pretty"]))
def test_fuzz_random_json_lines(values, shape):
    if shape == "jsonl":
        _run(b"\n".join(json.dumps(v).encode() for v in values))
    else:  # the Claude-Code-on-the-web wrapper, one line or pretty-printed
        _run(json.dumps({"loglines": values}, indent=2 if shape == "pretty" else None).encode())


@FAST
@given(st.data())
def test_fuzz_mutated_real_lines(data):
    lines = data.draw(st.lists(st.sampled_from(REAL), min_size=1, max_size=8))
    out = []
    for line in lines:
        how = data.draw(st.integers(0, 4))
        if how == 0:
            out.append(line)
        elif how == 1:  # truncated
            out.append(line[: data.draw(st.integers(0, len(line)))])
        else:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not obj:
                out.append(line)
                continue
            target = obj
            for _ in range(data.draw(st.integers(0, 3))):  # walk into a nested object
                kids = [k for k, v in target.items() if isinstance(v, dict) and v]
                if not kids:
                    break
                target = target[data.draw(st.sampled_from(sorted(kids)))]
            key = data.draw(st.sampled_from(sorted(target)))
            if how == 2:
                del target[key]
            else:
                target[key] = data.draw(json_value)
            out.append(json.dumps(obj).encode())
    _run(b"\n".join(out))


# ---------------------------------------------------------------- the repository's example export

EX = EXAMPLES / "claude-code" / "projects"
MAIN_SID = "7c2e9a41-5b3d-4f6e-9a8c-1d2e3f4a5b6c"
MAIN = EX / "-home-dev-src-webshop" / f"{MAIN_SID}.jsonl"
AGENT = EX / "-home-dev-src-webshop" / MAIN_SID / "subagents" / "agent-a7f3c21.jsonl"
AGENT_META = EX / "-home-dev-src-webshop" / MAIN_SID / "subagents" / "agent-a7f3c21.meta.json"
LEDGER = EX / "-home-dev-src-ledgerlite" / "3f8d2b10-6c4e-4a7b-8e9f-0a1b2c3d4e5f.jsonl"


def _words(conv) -> str:
    return " ".join(b.search_text() for _, b in conv.iter_blocks())


def test_example_main_session():
    assert cc.sniff(head_of(MAIN))
    (c,), ctx = parse_file(MAIN)
    assert c.provider_id == MAIN_SID and c.project == "/home/dev/src/webshop"
    # 9 user records (isMeta reminder, 2 prompts, 6 tool results) + 6 assistant message ids
    # (msg_…AAAA1111 spans 4 records, …DDDD4444 spans 2) + 2 local_command records = 17
    assert len(c.messages) == 17
    assert c.title == "Fix coupon stacking on sale items in checkout"  # ai-title beats the summary
    assert c.meta["summary"] == "Coupon applied to list price instead of sale price"
    assert c.messages[0].context and c.messages[0].meta["kind"] == "system_reminder"
    prompts = [m for m in c.messages if m.role == USER and not m.context]
    assert len(prompts) == 2 and "zanzibarquux" in prompts[0].text
    first = c.messages[2]
    assert [b.type for b in first.blocks] == [THINKING, "text", TOOL_USE, TOOL_USE]
    assert first.usage["output"] == 187  # the last fragment, not 11 + 11 + 11 + 187
    assert first.blocks[0].meta == {"signed": True}
    outcomes = {u.name + ":" + u.id[-4:]: u.meta["outcome"] for u, _ in c.tool_calls()}
    assert outcomes == {
        "Read:0001": "success",
        "Grep:0002": "success",
        "Task:0003": "success",
        "Edit:0004": "rejected",
        "Edit:0005": "success",
        "Bash:0006": "success",
    }
    # the Edit result's toolUseResult keeps small fields and names the large ones it dropped
    edit = dict((u.id, r) for u, r in c.tool_calls())["toolu_01WSEdit0005"]
    assert edit.meta["result"]["filePath"].endswith("pricing.py") and "originalFile" in edit.meta["result"]["omitted"]
    # the agent_progress copy of a subagent record is not a message here
    assert all(m.meta.get("message_id") != "msg_01AgentCCCC3333" for m in c.messages if m.meta)
    assert all(m.active for m in c.messages)
    task = next(u for u, _ in c.tool_calls() if u.name == "Task")
    assert task.meta["child"] == f"claude-code:{MAIN_SID}/agent-a7f3c21"
    assert [m.meta["kind"] for m in c.messages[-2:]] == ["slash_command", "command_output"]
    assert c.models == ["claude-opus-4-6"]
    assert "zanzibarquux" in _words(c) and "quorvexine" not in _words(c) and "plumbagorix" not in _words(c)
    assert not ctx.warnings


def test_example_subagent_and_sidecar():
    assert not cc.sniff(head_of(AGENT_META))
    (a,), ctx = parse_file(AGENT)
    assert a.provider_id == f"{MAIN_SID}/agent-a7f3c21" and a.parent_id == f"claude-code:{MAIN_SID}"
    assert len(a.messages) == 4  # Task prompt, merged 2-record response, tool result, answer
    assert "quorvexine" in _words(a) and "zanzibarquux" not in _words(a)
    assert a.models == ["claude-sonnet-4-5-20250929"]
    assert not ctx.warnings


def test_example_second_project():
    (c,), ctx = parse_file(LEDGER)
    assert c.project == "/home/dev/src/ledgerlite" and c.title == "Excel-friendly CSV export"
    assert len(c.messages) == 4 and [m.role for m in c.messages] == [USER, ASSISTANT, USER, ASSISTANT]
    assert "plumbagorix" in _words(c) and "zanzibarquux" not in _words(c)
    assert c.messages[1].has(THINKING)


def test_example_tree_is_complete():
    """All example files together: one main session, its child, one other session."""
    convs = [c for p in (MAIN, AGENT, LEDGER) for c in parse_file(p)[0]]
    ids_ = {c.id for c in convs}
    assert len(convs) == 3
    assert all(c.parent_id is None or c.parent_id in ids_ for c in convs)


# ---------------------------------------------------------------- out-of-range values (issue 18, item 8)

GOOD_FIRST = _rec("user", "u1", None, content="GOOD-ONE first prompt")
BAD_TEMPLATE = _rec(
    "assistant",
    "a1",
    "u1",
    mid="m1",
    content=[{"type": "text", "text": "middle"}, {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"n": 1}}],
    message_usage=None,
)
BAD_TEMPLATE.pop("message_usage")
BAD_TEMPLATE["message"]["usage"] = {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 1}
BAD_TEMPLATE["toolUseResult"] = {"stdout": "x", "interrupted": False}
GOOD_LAST = _rec("user", "u2", "a1", content="GOOD-TWO second prompt")


def test_out_of_range_timestamp_costs_nothing_else():
    """The report's line: a time that leaves year 9999 once made UTC. It raised
    OverflowError and the whole session was lost; now the line imports (its odd
    time kept raw) and so does every other line."""
    bad = dict(BAD_TEMPLATE, timestamp="9999-12-31T23:59:59-14:00")
    (conv,), ctx = parse_bytes(jsonl(GOOD_FIRST, bad, GOOD_LAST))
    assert [m.id for m in conv.messages] == ["u1", "a1", "u2"]
    assert msg(conv, "a1").timestamp is None
    assert msg(conv, "a1").meta["timestamp_raw"] == "9999-12-31T23:59:59-14:00"
    assert not ctx.warnings


@FAST
@given(mutated(BAD_TEMPLATE))
def test_fuzz_out_of_range_values_keep_the_good_lines(bad):
    data = jsonl(GOOD_FIRST, bad, GOOD_LAST)
    _run(data)
    convs, _ = parse_bytes(data)
    text = all_text(convs)
    assert "GOOD-ONE" in text and "GOOD-TWO" in text


@FAST
@given(mutated(BAD_TEMPLATE, accepted))
def test_fuzz_out_of_range_loglines_keep_the_good_ones(bad):
    """The web wrapper is one JSON document: a number its reader refuses ends it
    (tested by test_fuzz_random_json_lines); any value it reads costs one logline at most."""
    data = dumps({"loglines": [GOOD_FIRST, bad, GOOD_LAST]})
    _run(data)
    convs, _ = parse_bytes(data)
    text = all_text(convs)
    assert "GOOD-ONE" in text and "GOOD-TWO" in text
