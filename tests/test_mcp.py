"""The MCP server, end to end: a real archive, the server as a subprocess over
stdio, and the SDK's own client (docs/mcp.md)."""

from __future__ import annotations

import json
import sys
import threading
import warnings
from pathlib import Path

import anyio
import pytest

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402
from mcp import types as mt  # noqa: E402

from polylogue.api import Archive  # noqa: E402
from polylogue.mcp_server import MAX_RESPONSE_BYTES  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORD = "zanzibarquux"
WORD_PROVIDERS = {"chatgpt", "claude", "claude-code", "codex"}


# ------------------------------------------------------------------ harness


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """An archive of the shipped examples, built once for this module."""
    h = tmp_path_factory.mktemp("mcp") / "archive"
    with Archive(h) as a:
        report = a.sync([REPO / "examples"])
    assert not report.errors, report.errors
    return h


def _params(home: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "polylogue.mcp_server", "--home", str(home)], cwd=str(REPO)
    )


class Session:
    """A thin wrapper: call a tool, get (is_error, parsed JSON or error text)."""

    def __init__(self, s: ClientSession):
        self.s = s

    async def call(self, name: str, **args):
        r = await self.s.call_tool(name, args)
        assert len(r.content) == 1 and r.content[0].type == "text"
        text = r.content[0].text
        assert len(text.encode()) <= MAX_RESPONSE_BYTES, f"{name} answered {len(text.encode())} bytes"
        is_error = getattr(r, "is_error", getattr(r, "isError", False))
        return is_error, (text if is_error else json.loads(text))

    async def ok(self, name: str, **args) -> dict:
        err, out = await self.call(name, **args)
        assert not err, out
        return out

    async def error(self, name: str, **args) -> str:
        err, out = await self.call(name, **args)
        assert err, f"{name}({args}) should have failed: {out}"
        return out


def run(home: Path, body) -> list:
    """Start the server, initialize, run ``body(Session)``; returns transport-level problems seen."""
    problems: list = []

    async def on_message(message) -> None:
        if isinstance(message, Exception):  # e.g. a non-JSON line on the server's stdout
            problems.append(message)

    async def main() -> None:
        with anyio.fail_after(25):
            async with stdio_client(_params(home)) as (read, write):
                async with ClientSession(read, write, message_handler=on_message) as s:
                    init = await s.initialize()  # also sends notifications/initialized
                    assert init.server_info.name == "polylogue"
                    await body(Session(s))

    anyio.run(main)
    assert not problems, problems
    return problems


def _schema(tool) -> dict:
    return getattr(tool, "input_schema", None) or tool.inputSchema


# ------------------------------------------------------------------ tests


def test_tools_are_listed_with_fixed_parameters_and_teaching_descriptions(home):
    async def body(s: Session):
        tools = {t.name: t for t in (await s.s.list_tools()).tools}
        assert set(tools) == {"search", "get_conversation", "list_conversations", "stats", "usage_summary"}
        props = {n: set(_schema(t)["properties"]) for n, t in tools.items()}
        assert {"query", "limit", "offset", "provider", "since", "until", "role", "kind", "project", "regex"} <= props[
            "search"
        ]
        assert {"id", "around", "before", "after", "offset", "limit", "include_thinking", "include_tools"} <= props[
            "get_conversation"
        ]
        assert {"limit", "offset", "provider", "since", "until", "project"} <= props["list_conversations"]
        assert props["stats"] == set()
        assert props["usage_summary"] == {"period", "since", "until", "group_by"}
        assert _schema(tools["search"])["required"] == ["query"]
        assert _schema(tools["get_conversation"])["required"] == ["id"]
        assert not _schema(tools["list_conversations"]).get("required")
        desc = tools["search"].description
        for example in (
            '"connection reset" provider:codex since:"last week"',
            "pars*",
            "-java",
            "kind:thinking",
            "offset",
        ):
            assert example in desc
        assert "include_tools" in tools["get_conversation"].description
        for t in tools.values():
            assert t.description and len(t.description) > 80
            assert (
                t.annotations.read_only_hint if hasattr(t.annotations, "read_only_hint") else t.annotations.readOnlyHint
            )

    run(home, body)


def test_search_is_cited_counted_and_paginated(home):
    with Archive(home) as a:
        expected = {c["id"] for c in a.search(WORD, limit=50).conversations}
        prefix_total = a.search("zanzibarq*", limit=1).total_conversations
        excl_total = a.search(f"{WORD} -rust", limit=1).total_conversations
    assert len(expected) == 4

    async def body(s: Session):
        out = await s.ok("search", query=WORD)
        assert out["total"]["conversations"] == 4 and out["total"]["messages"] >= 4
        assert "1-4 of 4" in out["showing"]
        assert {r["provider"] for r in out["results"]} == WORD_PROVIDERS
        for r in out["results"]:
            assert r["id"] and r["title"] and r["created_at"] and r["updated_at"]
            assert r["hits"], r
            for h in r["hits"]:
                assert h["message_id"] and WORD in h["snippet"].lower()

        # a limit that cuts the list says so; the pages together give every result
        p1 = await s.ok("search", query=WORD, limit=3)
        assert p1["total"]["conversations"] == 4 and len(p1["results"]) == 3
        assert "showing conversations 1-3 of 4" in p1["showing"] and "offset=3" in p1["showing"]
        p2 = await s.ok("search", query=WORD, limit=3, offset=3)
        assert len(p2["results"]) == 1 and "4-4 of 4" in p2["showing"]
        assert {r["id"] for r in p1["results"] + p2["results"]} == expected

        # a huge limit is clamped, and the answer says so
        big = await s.ok("search", query=WORD, limit=100000)
        assert big["total"]["conversations"] == 4 and len(big["results"]) == 4
        assert any("clamped to 50" in n for n in big["notes"])

        # counts only, the query language, and keyword filters
        zero = await s.ok("search", query=WORD, limit=0)
        assert zero["results"] == [] and zero["total"]["conversations"] == 4 and "counts only" in zero["showing"]
        assert (await s.ok("search", query="zanzibarq*"))["total"]["conversations"] == prefix_total == 4
        assert (await s.ok("search", query=f"{WORD} -rust"))["total"]["conversations"] == excl_total
        only = await s.ok("search", query=WORD, provider="codex")
        assert only["total"]["conversations"] == 1 and only["results"][0]["provider"] == "codex"
        assert (await s.ok("search", query=f"{WORD} provider:codex"))["total"] == only["total"]
        two = await s.ok("search", query=WORD, provider="claude,claude-code")
        assert {r["provider"] for r in two["results"]} == {"claude", "claude-code"}
        assert (await s.ok("search", query=WORD, role="user"))["total"]["conversations"] >= 1
        assert (await s.ok("search", query=WORD, since="2030-01-01"))["total"]["conversations"] == 0
        past = await s.ok("search", query=WORD, offset=10)
        assert past["results"] == [] and "there are 4" in past["showing"]

    run(home, body)


def test_search_regex_narrows_and_reports_its_scan(home):
    async def body(s: Session):
        every = await s.ok("search", query=WORD)
        rx = await s.ok("search", query=WORD, regex=WORD + r"\b")
        assert 1 <= rx["total"]["messages"] <= every["total"]["messages"]
        assert any("regex was tried on all" in n for n in rx["notes"])
        for r in rx["results"]:
            assert r["hits"] and all(WORD in h["snippet"].lower() for h in r["hits"])
        alone = await s.ok("search", query="", regex=WORD + r"\b", provider="codex")
        assert alone["total"]["conversations"] == 1 and alone["results"][0]["hits"]
        bad = await s.error("search", query=WORD, regex="(")
        assert "bad regex" in bad

    run(home, body)


def test_get_conversation_windows_pages_and_summaries(home):
    with Archive(home) as a:
        hits = {c["id"]: c["hits"] for c in a.search(WORD, limit=50).conversations}
        codex = a.list(provider="codex", limit=10)
        full = {c["id"]: a.conversation(c["id"]) for c in a.list(limit=100)}
    big = max(codex, key=lambda c: c["message_count"])
    n = big["message_count"]
    assert n >= 10

    async def body(s: Session):
        # around every search hit: the window holds that message
        for cid, hs in hits.items():
            for h in hs:
                out = await s.ok("get_conversation", id=cid, around=h["message_id"], before=2, after=2)
                assert out["id"] == cid and out["message_count"] == len(full[cid].messages)
                ids = [m["id"] for m in out["messages"]]
                assert h["message_id"] in ids and len(ids) <= 5
                target = next(m for m in out["messages"] if m["id"] == h["message_id"])
                assert WORD in target["text"].lower()
                assert f"of {len(full[cid].messages)}" in out["showing"]
        # a unique prefix of the conversation id works
        cid = big["id"]
        assert (await s.ok("get_conversation", id=cid[:-6], limit=1))["id"] == cid

        # head, pages, tail
        head = await s.ok("get_conversation", id=cid, limit=5)
        assert [m["i"] for m in head["messages"]] == list(range(5))
        assert f"messages 0-4 of {n}" in head["showing"] and "later: offset=5" in head["showing"]
        page = await s.ok("get_conversation", id=cid, offset=5, limit=5)
        assert [m["i"] for m in page["messages"]] == list(range(5, 10)) and "earlier: offset=0" in page["showing"]
        tail = await s.ok("get_conversation", id=cid, tail=True, limit=3)
        assert [m["i"] for m in tail["messages"]] == [n - 3, n - 2, n - 1]
        assert [m["id"] for m in tail["messages"]] == [m.id for m in full[cid].messages[-3:]]
        empty = await s.ok("get_conversation", id=cid, offset=n + 5)
        assert empty["messages"] == [] and f"has {n}" in empty["showing"]
        clamped = await s.ok("get_conversation", id=cid, limit=100000)
        assert any("clamped to 100" in x for x in clamped["notes"]) and len(clamped["messages"]) == n

        # thinking and tool traffic: one line by default, in full on request
        short = (await s.ok("get_conversation", id=cid, limit=100))["messages"]
        texts = "\n".join(m["text"] for m in short)
        assert "[tool call: " in texts and "[tool result" in texts
        for m in short:
            for line in m["text"].splitlines():
                if line.startswith("[tool result"):
                    assert line.endswith("chars]")
        conv = full[cid]
        tool_out = next(b.text for m in conv.messages for b in m.blocks if b.type == "tool_result" and b.text)
        assert tool_out[:40] not in texts
        long = (
            await s.ok(
                "get_conversation", id=cid, limit=100, include_tools=True, include_thinking=True, max_chars=20000
            )
        )["messages"]
        assert tool_out[:40] in "\n".join(m["text"] for m in long)

        # a long message is cut at max_chars, says so, and char_offset reads the rest
        longest = max(long, key=lambda m: len(m["text"]))
        first = (
            await s.ok(
                "get_conversation",
                id=cid,
                around=longest["id"],
                before=0,
                after=0,
                include_tools=True,
                include_thinking=True,
                max_chars=30,
            )
        )["messages"][0]
        assert len(first["text"]) == 30 and "char_offset=30" in first["truncated"]
        rest = (
            await s.ok(
                "get_conversation",
                id=cid,
                around=longest["id"],
                before=0,
                after=0,
                include_tools=True,
                include_thinking=True,
                char_offset=30,
            )
        )["messages"][0]
        assert first["text"] + rest["text"] == longest["text"]

    run(home, body)


def test_list_conversations_and_stats(home):
    with Archive(home) as a:
        st = a.stats()
        cc = {c["id"] for c in a.list(provider="claude-code", limit=100)}
        recent = {c["id"] for c in a.list(since="2026-01-01", limit=100)}
        web = {c["id"] for c in a.list(project="webshop", limit=100)}
    assert cc and recent and web

    async def body(s: Session):
        out = await s.ok("list_conversations")
        assert out["total"] == st["conversations"]
        dates = [r["updated_at"] for r in out["results"]]
        assert dates == sorted(dates, reverse=True)
        got = await s.ok("list_conversations", provider="claude-code")
        assert {r["id"] for r in got["results"]} == cc and got["total"] == len(cc)
        assert {r["provider"] for r in got["results"]} == {"claude-code"}
        assert {r["id"] for r in (await s.ok("list_conversations", since="2026-01-01"))["results"]} == recent
        assert {r["id"] for r in (await s.ok("list_conversations", project="webshop"))["results"]} == web
        p = await s.ok("list_conversations", limit=5, offset=5)
        assert len(p["results"]) == 5 and f"6-10 of {st['conversations']}" in p["showing"]
        assert "offset=10" in p["showing"]
        huge = await s.ok("list_conversations", limit=100000)
        assert any("clamped to 200" in x for x in huge["notes"]) and len(huge["results"]) == st["conversations"]

        stats = await s.ok("stats")
        assert stats["conversations"] == st["conversations"] == 14
        assert stats["messages"] == st["messages"]
        assert set(stats["by_provider"]) == {"chatgpt", "claude", "claude-code", "codex", "gemini", "gemini-cli"}
        assert sum(v["conversations"] for v in stats["by_provider"].values()) == stats["conversations"]
        assert stats["first_at"] < stats["last_at"]

    run(home, body)


def test_errors_are_tool_errors_and_the_server_survives(home):
    async def body(s: Session):
        assert "no conversation matches 'nope-" in await s.error("get_conversation", id="nope-1234")
        amb = await s.error("get_conversation", id="c")
        assert "matches" in amb and "chatgpt:" in amb and "claude-code:" in amb
        assert "unclosed quote" in await s.error("search", query='"unclosed')
        assert "did you mean provider" in await s.error("search", query="x provder:codex")
        assert "unknown provider" in await s.error("search", query="x", provider="nosuch")
        assert "cannot read the date" in await s.error("list_conversations", since="someday maybe")
        assert "OR needs a term" in await s.error("search", query="redis OR")
        cid = (await s.ok("list_conversations", limit=1))["results"][0]["id"]
        assert "no message 'no-such-message'" in await s.error("get_conversation", id=cid, around="no-such-message")
        assert "offset must be 0 or more" in await s.error("search", query=WORD, offset=-1)
        assert "limit must be at least 1" in await s.error("get_conversation", id=cid, limit=0)
        assert await s.error("search", query=WORD, limit="lots")  # fails the input schema
        assert await s.error("search")  # query is required
        try:
            unknown = await s.error("no_such_tool")
        except mcp.MCPError as e:  # some SDK versions answer an unknown tool with a protocol error
            unknown = str(e)
        assert "no_such_tool" in unknown
        # still serving
        assert (await s.ok("search", query=WORD))["total"]["conversations"] == 4

    run(home, body)


def test_protocol_notifications_ping_and_concurrent_calls(home):
    async def body(s: Session):
        await s.s.send_ping()
        # a cancel for a request that is not running, and a progress notification: ignored
        await s.s.send_notification(
            mt.CancelledNotification(params=mt.CancelledNotificationParams(request_id=987654, reason="test"))
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await s.s.send_progress_notification("tok-1", 0.5, 1.0, "halfway")
        await s.s.send_ping()
        results: list = []

        async def one(q: str) -> None:
            results.append((await s.ok("search", query=q))["total"]["conversations"])

        async with anyio.create_task_group() as tg:
            for q in (WORD, "zanzibarq*", WORD, "rust", WORD):
                tg.start_soon(one, q)
        assert len(results) == 5 and results.count(4) >= 3
        assert (await s.ok("stats"))["conversations"] == 14

    run(home, body)


def test_missing_archive_is_a_clear_error_and_nothing_is_created(tmp_path):
    nowhere = tmp_path / "no-archive"

    async def body(s: Session):
        assert "no polylogue archive" in await s.error("stats")
        assert "polylogue sync" in await s.error("search", query=WORD)

    run(nowhere, body)
    assert not nowhere.exists()


def test_real_claude_code_sessions_bounded_and_live_during_sync(samples, tmp_path):
    home = tmp_path / "samples-archive"
    with Archive(home) as a:
        a.sync([samples / "claude-code"])
        convs = a.list(limit=1000)
        big = max(convs, key=lambda c: c["message_count"])
        total = a.stats()["conversations"]
        the = a.search("the", limit=1)
    assert big["message_count"] > 50

    async def body(s: Session):
        # every page of the biggest session within the size bound, and together every message exactly once
        seen: list[int] = []
        offset = 0
        cut = False
        while offset < big["message_count"]:
            out = await s.ok(
                "get_conversation",
                id=big["id"],
                offset=offset,
                limit=100,
                include_tools=True,
                include_thinking=True,
                max_chars=20000,
            )
            idx = [m["i"] for m in out["messages"]]
            assert idx and idx[0] == offset
            cut |= any("response size limit" in x for x in out.get("notes", []))
            seen += idx
            offset = idx[-1] + 1
        assert seen == list(range(big["message_count"]))
        assert cut  # this session is big enough that the 60 KB bound had to cut a page

        # a cut window keeps what was asked for: the around target, the end of a tail page
        n = big["message_count"]
        mid = (await s.ok("get_conversation", id=big["id"], offset=n // 2, limit=1))["messages"][0]["id"]
        win = await s.ok(
            "get_conversation",
            id=big["id"],
            around=mid,
            before=50,
            after=50,
            include_tools=True,
            include_thinking=True,
            max_chars=20000,
        )
        assert mid in [m["id"] for m in win["messages"]]
        assert any("cut this window" in x for x in win["notes"])
        tail = await s.ok(
            "get_conversation",
            id=big["id"],
            tail=True,
            limit=100,
            include_tools=True,
            include_thinking=True,
            max_chars=20000,
        )
        assert tail["messages"][-1]["i"] == n - 1 and len(tail["messages"]) < 100
        assert "earlier: offset=" in tail["showing"]

        res = await s.ok("search", query="the", limit=50)
        assert res["total"] == {"conversations": the.total_conversations, "messages": the.total_messages}
        listed = sum(len(r["hits"]) for r in res["results"])
        if listed < the.total_messages:
            assert any("at most its 3 best-matching" in x for x in res["notes"])

        # a sync runs in another process-like writer while the server keeps answering
        assert (await s.ok("search", query=WORD))["total"]["conversations"] == 0
        done = threading.Event()
        errors: list = []

        def syncer() -> None:
            try:
                with Archive(home) as w:
                    w.sync([REPO / "examples"])
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
            finally:
                done.set()

        t = threading.Thread(target=syncer)
        t.start()
        while not done.is_set():
            assert (await s.ok("stats"))["conversations"] >= total
            await anyio.sleep(0.01)
        t.join()
        assert not errors
        assert (await s.ok("search", query=WORD))["total"]["conversations"] == 4
        assert (await s.ok("list_conversations"))["total"] == total + 14

    run(home, body)


def test_usage_summary_agrees_with_the_library(home):
    with Archive(home) as a:
        daily = a.usage("daily", tz="UTC")
        by_model = a.usage("model")

    async def body(s: Session):
        out = await s.ok("usage_summary", period="model")
        assert out["totals"] == by_model["totals"]
        assert {r["period"] for r in out["rows"]} == {r["period"] for r in by_model["rows"]}
        split = await s.ok("usage_summary", period="monthly", group_by="model")
        assert split["totals"]["output"] == daily["totals"]["output"]
        await s.error("usage_summary", group_by="project")  # only "model" splits rows

    run(home, body)


def test_secrets_are_redacted_by_default_and_the_switch_turns_it_off(tmp_path):
    from tests.privacy_corpus import assert_no_secret, write_claude_code

    src, home = tmp_path / "src", tmp_path / "home"
    src.mkdir()
    write_claude_code(src)
    with Archive(home) as a:
        a.sync([src])
        cid = a.list(limit=1)[0]["id"]

    async def body(s: Session):
        for name, args in (
            ("search", {"query": "", "provider": "claude-code", "limit": 5}),
            ("get_conversation", {"id": cid, "limit": 50, "include_tools": True, "include_thinking": True}),
            ("list_conversations", {}),
        ):
            assert_no_secret(json.dumps(await s.ok(name, **args)))
        assert (await s.ok("stats"))["secrets_redacted"] is True

    run(home, body)
    (home / "config.toml").write_text("[privacy]\nredact_servers = false\n")

    async def unredacted(s: Session):
        out = json.dumps(await s.ok("get_conversation", id=cid, limit=50, include_tools=True, include_thinking=True))
        with pytest.raises(AssertionError):
            assert_no_secret(out)
        assert (await s.ok("stats"))["secrets_redacted"] is False

    run(home, unredacted)
