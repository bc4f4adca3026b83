"""Usage as the providers give it (models.py, "Usage"; docs/providers.md, "Usage"): the lanes,
the dedup key of one API response, and the traps each format sets for a usage ledger. The
ledger counts one row per (provider, key) across every file, so these tests check what it
will see: the union of every file's usage, one value per key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue.models import USAGE_LANES
from polylogue.providers import parse_path

FIXTURES = Path(__file__).parent / "fixtures" / "usage"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONVENTIONS = ("anthropic", "openai", "gemini")  # models.py, "Usage"
EXTRAS = {"convention", "key", "tier", "approximate", "cost_reported", "model", "by_model"}


def usages(paths) -> list[tuple[str, dict]]:
    """(conversation id, usage) of every message of every file, in file order."""
    out = []
    for p in paths:
        convs, _ = parse_path(str(p))
        out += [(c.id, m.usage) for c in convs for m in c.messages if m.usage]
    return out


def ledger(paths) -> dict[str, dict]:
    """What a usage ledger keeps: one usage per key (all copies of a key must agree)."""
    kept: dict[str, dict] = {}
    for _, u in usages(paths):
        assert u.get("key"), u
        assert kept.setdefault(u["key"], u) == u, f"one key, two values: {u['key']}"
    return kept


def total(rows, lane: str) -> int:
    return sum(u.get(lane, 0) for u in rows)


# ---------------------------------------------------------------- Claude Code


def _final_outputs(files: list[Path]) -> dict[tuple, int]:
    """Independent of our parser: plain JSON reading. The output_tokens of the LAST record of
    each response, by (file, message.id, requestId); a record without both ids: (file, line)."""
    final: dict[tuple, int] = {}
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            msg = r.get("message") if isinstance(r, dict) and r.get("type") == "assistant" else None
            if not isinstance(msg, dict) or not isinstance(msg.get("usage"), dict):
                continue
            mid, rid = msg.get("id"), r.get("requestId")
            ok = all(isinstance(x, str) and x for x in (mid, rid))
            final[(f.name, mid, rid) if ok else (f.name, n)] = msg["usage"].get("output_tokens") or 0
    return final


def test_claude_code_samples_output_total(samples):
    files = sorted((samples / "claude-code").glob("*.jsonl"))
    final = _final_outputs(files)
    keyed = {k: v for k, v in final.items() if len(k) == 3}
    # The 28,758: the final record per (message.id, requestId) within each file, records
    # without both ids left out. Two differences from counting each response once:
    assert sum(keyed.values()) == 28758
    # - msg_004/req_004 is in two files (daaain edge_cases.jsonl line 17, todowrite_examples.jsonl
    #   line 6): one response, 85 output tokens, counted twice per file;
    once = {(mid, rid): v for (_, mid, rid), v in keyed.items()}
    assert sum(keyed.values()) - sum(once.values()) == 85
    # - two responses have no message.id/requestId (Sinity claude-normalization-main.jsonl lines
    #   2 and 13: 40 + 8 output tokens): each is a response, left out per file.
    unkeyed = {k: v for k, v in final.items() if len(k) == 2}
    assert sorted(unkeyed.values()) == [0, 0, 8, 40]  # and two trimmed fixture records with 0
    assert sum(once.values()) + sum(unkeyed.values()) == 28721 == 28758 - 85 + 48  # 28758 - 37
    # our parse, one row per key plus the unkeyed messages, gives the same 28,721
    rows = [u for _, u in usages(f for f in files if not f.name.endswith("claude_history.jsonl"))]  # a prompt log
    by_key = {u["key"]: u["output"] for u in rows if u.get("key")}
    assert sum(by_key.values()) + sum(u["output"] for u in rows if not u.get("key")) == 28721
    # our parser does not take a "[REDACTED_MESSAGE_ID]" placeholder for an id: no key, counted once
    assert len(by_key) == len([k for k in once if not k[0].startswith("[")])


def test_claude_code_final_record_and_lanes():
    (conv,) = parse_path(str(FIXTURES / "claude-code-session.jsonl"))[0]
    first = conv.messages[1]
    # three records of one response: outputs 8, 8, 441: the final record's, never a sum or the first
    assert first.usage == {
        "input": 3,
        "output": 441,
        "cache_read": 11515,
        "cache_write": 120,
        "cache_write_5m": 0,
        "cache_write_1h": 120,
        "tier": "standard",
        "convention": "anthropic",
        "key": "msg_01A:req_01A",
    }
    assert first.model == "claude-opus-4-6"


def test_claude_code_resumed_and_subagent_files_count_once():
    files = [FIXTURES / f"claude-code-{n}.jsonl" for n in ("session", "resumed", "agent-a77")]
    rows = usages(files)
    assert len(rows) == 6  # a1, a4 / their copies in the resumed file, a5 / the subagent's s2
    kept = ledger(files)
    assert sorted(kept) == ["msg_01A:req_01A", "msg_01B:req_01B", "msg_01C:req_01C", "msg_01S:req_01S"]
    assert total(kept.values(), "output") == 441 + 19 + 23 + 7
    assert total(kept.values(), "cache_write") == sum(
        total(kept.values(), lane) for lane in ("cache_write_5m", "cache_write_1h")
    )


_RESPONSE = st.lists(st.integers(0, 5000), min_size=1, max_size=4)  # output_tokens of each streamed record


@FAST
@given(
    responses=st.lists(_RESPONSE, min_size=1, max_size=6),
    cut=st.integers(0, 6),
    resume=st.booleans(),
)
def test_claude_code_generated_streams_key_once(tmp_path_factory, responses, cut, resume):
    """Responses streamed over records, the session split over a first file and a resumed one
    (which repeats the first file's records): one key per response, its final output."""
    records, parent = [], None
    for i, outs in enumerate(responses):
        for j, o in enumerate(outs):
            uuid = f"r{i}-{j}"
            records.append(
                {
                    "type": "assistant",
                    "uuid": uuid,
                    "parentUuid": parent,
                    "sessionId": "s1",
                    "requestId": f"req_{i}",
                    "timestamp": f"2026-01-01T00:{i:02d}:{j:02d}Z",
                    "message": {
                        "id": f"msg_{i}",
                        "role": "assistant",
                        "model": "claude-x",
                        "content": [{"type": "text", "text": f"part {j}"}],
                        "usage": {"input_tokens": 1, "output_tokens": o},
                    },
                }
            )
            parent = uuid
    d = tmp_path_factory.mktemp("cc")
    cut = min(cut, len(records))
    a, b = records[:cut] or records[:1], records
    if resume:  # the resumed file: every record again under a new session id, then nothing new
        b = [dict(r, sessionId="s2") for r in records]
    (d / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in a))
    (d / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b))
    kept = ledger([d / "b.jsonl"])
    assert sorted(kept) == sorted(f"msg_{i}:req_{i}" for i in range(len(responses)))
    assert total(kept.values(), "output") == sum(outs[-1] for outs in responses)
    # the first file alone may hold a response only in part: the full file's value is final
    both = {u["key"]: u for _, u in usages([d / "a.jsonl"])} | kept
    assert set(both) == set(kept)


# ---------------------------------------------------------------- Codex


def test_codex_fork_replay_counts_once():
    parent, fork, grand = (FIXTURES / f"codex-{n}.jsonl" for n in ("parent", "fork", "fork-of-fork"))
    kept = ledger([parent, fork, grand])
    # the parent's 3 responses, the fork's own one, the fork-of-fork's own one
    assert len(kept) == 5
    # the parent's last cumulative count, then what each fork added past the count it continued
    assert total(kept.values(), "output") == 520 + (650 - 401) + (700 - 650)
    assert total(kept.values(), "input") == 55000 + (54900 - 36500) + (73800 - 54900)
    assert total(kept.values(), "reasoning") == 90 + (120 - 70) + 0
    # replayed responses carry the parent's key (the lineage root's id): one namespace
    assert {k.split(":")[0] for k in kept} == {"019c8a4d-8f45-7010-8b5d-7fad920aa6f9"}
    # every file alone sums to its own last cumulative count
    for f, last in ((parent, 520), (fork, 650), (grand, 700)):
        assert total([u for _, u in usages([f])], "output") == last
    (c,), _ = parse_path(str(parent))
    assert "usage" not in c.meta and c.meta["usage_total"]["output"] == 520  # never counted twice


def test_codex_real_rollout_deltas(samples):
    path = (
        samples / "codex" / "madshn__localpush__rollout-2026-02-23T12-41-04-019c8a4d-8f45-7010-8b5d-7fad920aa6f9.jsonl"
    )
    (conv,), _ = parse_path(str(path))
    rows = [m.usage for m in conv.messages if m.usage]
    # jq: the last non-null total_token_usage; 56 token_count events, written in identical pairs
    assert {lane: total(rows, lane) for lane in ("input", "cache_read", "output", "reasoning")} == {
        "input": 1751428,
        "cache_read": 1651968,
        "output": 14600,
        "reasoning": 4293,
    }
    # python: 28 distinct total_token_usage values among the 56 events: 28 responses, 28 keys
    assert len({u["key"] for u in rows}) == len(rows) == 28
    assert all(m.model == "gpt-5.3-codex" for m in conv.messages if m.usage)


_SNAP = st.tuples(st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 10**4))


@FAST
@given(segments=st.lists(st.lists(_SNAP, min_size=1, max_size=5), min_size=1, max_size=4))
def test_codex_cumulative_deltas(tmp_path_factory, segments):
    """Cumulative counts that grow, repeat and reset: the deltas are never negative and sum to
    the sum of each segment's last count; every key is distinct within the file."""
    lines = [{"type": "session_meta", "payload": {"id": "sess-h", "timestamp": "2026-01-01T00:00:00Z"}}]
    finals = []
    for seg in segments:
        run, cum = [], (0, 0, 0)
        for add in seg:
            cum = (cum[0] + add[0], cum[1] + add[1], cum[2] + add[2])  # input, output, reasoning
            run.append(cum)
        if finals and sum(run[0][:2]) >= sum(finals[-1][:2]):
            run = [(0, 0, 0), *run]  # start the segment below the last total: a reset is a drop
        for inp, out, reas in run:
            lines.append(
                {
                    "type": "response_item",
                    "payload": {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "."}],
                    },
                }
            )
            usage = {"input_tokens": inp, "output_tokens": out, "reasoning_output_tokens": min(reas, out)}
            lines.append(
                {"type": "event_msg", "payload": {"type": "token_count", "info": {"total_token_usage": usage}}}
            )
        finals.append(run[-1])
    f = tmp_path_factory.mktemp("cx") / "rollout.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (conv,), _ = parse_path(str(f))
    rows = [m.usage for m in conv.messages if m.usage]
    assert all(v >= 0 for u in rows for k, v in u.items() if k in USAGE_LANES)
    assert total(rows, "input") == sum(x[0] for x in finals)
    assert total(rows, "output") == sum(x[1] for x in finals)
    assert len({u["key"] for u in rows}) == len(rows)


# ---------------------------------------------------------------- session-only, per-message, approximate


def test_copilot_cli_session_aggregate_only(samples):
    (conv,), _ = parse_path(str(samples / "other" / "copilot_cli" / "Mai0313__VibeCodingTracker__copilot.jsonl"))
    assert not any(m.usage for m in conv.messages)
    u = conv.meta["usage"]
    assert (u["input"], u["output"], u["cache_read"], u["model"]) == (186809, 2848, 151738, "claude-sonnet-4.6")


def test_gemini_cli_per_message(samples):
    (conv,), _ = parse_path(str(samples / "gemini-cli" / "kvsankar__agent-history__gemini_golden.json"))
    rows = [m for m in conv.messages if m.usage]
    assert rows and all(m.usage["convention"] == "gemini" and m.model for m in rows)
    assert "usage" not in conv.meta


def test_aider_rounded_counts_are_approximate():
    (conv,), _ = parse_path(str(FIXTURES / "aider.chat.history.md"))
    edit, thanks = (m.usage for m in conv.messages if m.usage)
    # "4.7k sent, 2.1k cache write, 312 received": rounded by aider, so approximate
    assert edit == {
        "input": 4700,
        "cache_write": 2100,
        "output": 312,
        "convention": "openai",
        "approximate": True,
        "cost_reported": 0.02,  # as printed: informational, never a price
    }
    # "985 sent, 6 received": exact below 1,000
    assert thanks == {"input": 985, "output": 6, "convention": "openai", "cost_reported": 0.003}
    assert conv.meta["session_cost_usd"] == 0.03  # a running total, never summed


# ---------------------------------------------------------------- the contract, over every sample


def _sample_files() -> list[Path]:
    if not SHARED_SAMPLES.is_dir():
        return []
    return sorted(p for p in SHARED_SAMPLES.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".md"))


@pytest.mark.parametrize("path", _sample_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_usage_contract(path, samples):
    try:
        convs, _ = parse_path(str(path))
    except Exception:  # not a conversation file (a README, a side file): nothing to check
        return
    for c in convs:
        on_messages = [m.usage for m in c.messages if m.usage]
        session = c.meta.get("usage") if isinstance(c.meta, dict) else None
        assert not (on_messages and session), "session usage beside per-message usage counts twice"
        for u in [*on_messages, *([session] if session else [])]:
            assert set(u) <= set(USAGE_LANES) | EXTRAS, set(u) - set(USAGE_LANES) - EXTRAS
            assert all(isinstance(u[k], int) and u[k] >= 0 for k in USAGE_LANES if k in u)
            assert u.get("convention") in (None, *CONVENTIONS)
            if "cache_write_5m" in u:
                assert u["cache_write"] == u["cache_write_5m"] + u["cache_write_1h"]
