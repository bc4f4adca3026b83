"""benchmarks/generate.py: layout, determinism, parseability, message counts."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "generate.py"


def run_gen(out: Path, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return orjson.loads(proc.stdout.strip().splitlines()[-1])


def tree_hashes(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "a"
    return out, run_gen(out, "--smoke")


# --- independent message counting, following the rules in generate.py's docstring ---


def count_chatgpt(convs) -> int:
    n = 0
    for c in convs:
        mapping = c["mapping"]
        assert c["current_node"] in mapping
        for nid, node in mapping.items():
            assert node["id"] == nid
            for ch in node["children"]:
                assert mapping[ch]["parent"] == nid
            if node["parent"] is not None:
                assert nid in mapping[node["parent"]]["children"]
            m = node["message"]
            if m is None or m["metadata"].get("is_visually_hidden_from_conversation"):
                continue
            assert m["author"]["role"] in ("user", "assistant", "tool")
            n += 1
        # the active path reaches the root
        node, seen = c["current_node"], 0
        while mapping[node]["parent"] is not None:
            node = mapping[node]["parent"]
            seen += 1
        assert seen >= 2
    return n


def count_claude(convs) -> int:
    n = 0
    for c in convs:
        ids = {"00000000-0000-4000-8000-000000000000"}
        for m in c["chat_messages"]:
            assert m["sender"] in ("human", "assistant")
            assert m["parent_message_uuid"] in ids
            assert m["content"] and m["content"][-1]["type"] == "text"
            ids.add(m["uuid"])
            n += 1
    return n


def count_claude_code(path: Path) -> int:
    uuids, tool_ids, msg_ids, n = set(), set(), set(), 0
    for line in path.read_bytes().splitlines():
        r = orjson.loads(line)
        if r["type"] not in ("user", "assistant"):
            assert r["type"] in ("summary", "file-history-snapshot", "last-prompt")
            continue
        assert r["parentUuid"] is None or r["parentUuid"] in uuids
        uuids.add(r["uuid"])
        assert r["timestamp"].endswith("Z")
        content = r["message"]["content"]
        if r["type"] == "assistant":
            for b in content:
                if b["type"] == "tool_use":
                    tool_ids.add(b["id"])
            if r["message"]["id"] not in msg_ids:
                msg_ids.add(r["message"]["id"])
                n += 1
        elif isinstance(content, list) and content[0]["type"] == "tool_result":
            assert all(b["tool_use_id"] in tool_ids for b in content)
            n += 1
        else:
            assert isinstance(content, str)
            n += 1
    return n


def count_codex(path: Path) -> tuple:
    calls, n, ctx = set(), 0, 0
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert lines[0]["type"] == "session_meta" and lines[0]["payload"]["id"] in path.name
    for r in lines:
        assert set(r) == {"timestamp", "type", "payload"}
        if r["type"] != "response_item":
            continue
        p = r["payload"]
        if p["type"] == "message":
            body = p["content"][0]["text"]
            if p["role"] == "developer" or body.startswith("<environment_context>"):
                ctx += 1
                continue
            n += 1
        elif p["type"] == "function_call":
            orjson.loads(p["arguments"])
            calls.add(p["call_id"])
            n += 1
        elif p["type"] == "function_call_output":
            assert p["call_id"] in calls
            n += 1
        elif p["type"] == "reasoning":
            n += 1
    return n, ctx


def test_summary_and_layout(smoke):
    out, s = smoke
    assert s["out"] == str(out)
    assert s["conversations"] == 12
    assert set(s["by_provider"]) == {"chatgpt", "claude", "claude-code", "codex", "gemini", "gemini-cli"}
    assert s["messages"] == sum(v["messages"] for v in s["by_provider"].values()) > 12 * 2
    assert s["files"] == sum(1 for p in out.rglob("*") if p.is_file())
    assert s["bytes"] == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert s["seconds"] >= 0
    assert (out / "chatgpt" / "chatgpt-export.zip").is_file()
    assert (out / "claude" / "claude-export.zip").is_file()
    assert list((out / "home" / ".claude" / "projects").glob("*/*.jsonl"))
    assert list((out / "home" / ".codex" / "sessions").glob("20*/[01]*/[0-3]*/rollout-*.jsonl"))
    assert list((out / "home" / ".gemini" / "tmp").glob("*/chats/session-*.json"))
    assert [p for p in (out / "aistudio").iterdir() if not p.suffix]


def test_everything_parses_and_counts_match(smoke):
    out, s = smoke
    bp = s["by_provider"]
    with zipfile.ZipFile(out / "chatgpt" / "chatgpt-export.zip") as z:
        assert {"conversations.json", "user.json", "message_feedback.json"} <= set(z.namelist())
        convs = orjson.loads(z.read("conversations.json"))
        orjson.loads(z.read("user.json")), orjson.loads(z.read("message_feedback.json"))
    assert len(convs) == bp["chatgpt"]["conversations"]
    assert count_chatgpt(convs) == bp["chatgpt"]["messages"]
    with zipfile.ZipFile(out / "claude" / "claude-export.zip") as z:
        assert {"conversations.json", "users.json", "projects.json"} <= set(z.namelist())
        convs = orjson.loads(z.read("conversations.json"))
        orjson.loads(z.read("users.json")), orjson.loads(z.read("projects.json"))
    assert len(convs) == bp["claude"]["conversations"]
    assert count_claude(convs) == bp["claude"]["messages"]

    cc = sorted((out / "home" / ".claude" / "projects").rglob("*.jsonl"))
    assert len(cc) == bp["claude-code"]["conversations"]  # subagents are conversations too
    assert sum(count_claude_code(p) for p in cc) == bp["claude-code"]["messages"]
    for p in (out / "home" / ".claude" / "projects").rglob("*.meta.json"):
        orjson.loads(p.read_bytes())

    rollouts = sorted((out / "home" / ".codex" / "sessions").rglob("*.jsonl"))
    assert len(rollouts) == bp["codex"]["conversations"]
    counted = [count_codex(p) for p in rollouts]
    assert sum(n for n, _ in counted) == bp["codex"]["messages"]
    assert sum(c for _, c in counted) == bp["codex"]["kinds"]["context"]

    chats = sorted((out / "home" / ".gemini" / "tmp").rglob("*.json"))
    assert len(chats) == bp["gemini-cli"]["conversations"]
    n = 0
    for p in chats:
        d = orjson.loads(p.read_bytes())
        assert {"sessionId", "projectHash", "startTime", "lastUpdated", "messages"} <= set(d)
        assert p.parent.parent.name == d["projectHash"]
        assert all(m["type"] in ("user", "gemini") for m in d["messages"])
        n += len(d["messages"])
    assert n == bp["gemini-cli"]["messages"]

    prompts = sorted((out / "aistudio").iterdir())
    assert len(prompts) == bp["gemini"]["conversations"]
    n = 0
    for p in prompts:
        d = orjson.loads(p.read_bytes())
        assert {"runSettings", "systemInstruction", "chunkedPrompt"} <= set(d)
        n += len(d["chunkedPrompt"]["chunks"])
    assert n == bp["gemini"]["messages"]


def test_deterministic(smoke, tmp_path):
    out, s = smoke
    same = run_gen(tmp_path / "b", "--smoke", "--workers", "1")
    assert tree_hashes(out) == tree_hashes(tmp_path / "b")
    assert {k: v for k, v in same.items() if k not in ("out", "seconds")} == {
        k: v for k, v in s.items() if k not in ("out", "seconds")
    }
    other = run_gen(tmp_path / "c", "--smoke", "--seed", "2")
    ha, hc = tree_hashes(out), tree_hashes(tmp_path / "c")
    assert ha != hc
    # zip members are named identically; their content differs
    assert ha["chatgpt/chatgpt-export.zip"] != hc["chatgpt/chatgpt-export.zip"]
    assert other["conversations"] == 12


def test_provider_subset_and_tool_heavy(tmp_path):
    s = run_gen(
        tmp_path / "d", "--conversations", "20", "--messages", "12", "--tool-heavy", "--providers", "claude-code,codex"
    )
    assert set(s["by_provider"]) == {"claude-code", "codex"}
    assert s["conversations"] == 20
    assert not (tmp_path / "d" / "chatgpt").exists()
    cc = s["by_provider"]["claude-code"]
    assert cc["kinds"]["tool_result"] > 0
