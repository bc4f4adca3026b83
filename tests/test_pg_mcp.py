"""`polylogue --archive URL mcp`: the MCP tools over the shared archive, through the
real protocol (the server as a subprocess over stdio, the SDK's own client), each
tool's answer compared with the same call to the server of the local archive the
data was pushed from. A real PostgreSQL (tests/pg_server.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from pg_server import pg_server  # noqa: F401

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

from polylogue.api import Archive  # noqa: E402
from polylogue.push import push  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORD = "zanzibarquux"  # planted in the examples (tests/test_mcp.py)


@pytest.fixture(scope="module")
def pushed(pg_server, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("pg-mcp")
    with Archive(tmp / "home") as a:
        assert not a.sync([REPO / "examples"]).errors
        first = a.list(limit=1)[0]["id"]
        url = pg_server.new_database("mcp_shared")
        push(a, url, machine="laptop")
    (tmp / "reader").mkdir()  # the reading machine's own (empty) home: switches and prices only
    return tmp / "home", tmp / "reader", url, first


def _calls(args: list[str], calls: list[tuple[str, dict]]) -> list[tuple[bool, object]]:
    """Start `python -m polylogue ARGS mcp`, make the calls, return (is_error, answer) each."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "polylogue", *args, "mcp"], cwd=str(REPO), env=dict(os.environ)
    )
    out: list[tuple[bool, object]] = []

    async def main() -> None:
        with anyio.fail_after(60):
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write) as s:
                    init = await s.initialize()
                    assert init.server_info.name == "polylogue"
                    for name, kw in calls:
                        r = await s.call_tool(name, kw)
                        text = r.content[0].text
                        err = getattr(r, "is_error", getattr(r, "isError", False))
                        out.append((err, text if err else json.loads(text)))

    anyio.run(main)
    return out


def _ids(answer) -> set[str]:
    return {r["id"] for r in answer["results"]}


def test_the_tools_answer_on_the_shared_archive_as_on_the_local_one(pushed):
    home, reader, url, first = pushed
    calls = [
        ("search", {"query": WORD}),
        ("search", {"query": "zanzibarq*", "limit": 2}),
        ("search", {"query": f"{WORD} -rust", "provider": "codex"}),
        ("list_conversations", {}),
        ("list_conversations", {"provider": "claude-code", "limit": 3, "offset": 1}),
        ("get_conversation", {"id": first}),
        ("get_conversation", {"id": first, "offset": 1, "limit": 2, "include_tools": True}),
        ("stats", {}),
        ("usage_summary", {"period": "model"}),
        ("usage_summary", {"period": "monthly", "group_by": "model"}),
        ("get_conversation", {"id": "nosuchconversation"}),
        ("search", {"query": "(unclosed"}),
    ]
    local = _calls(["--home", str(home)], calls)
    shared = _calls(["--home", str(reader), "--archive", url], calls)
    for (name, kw), (e1, a), (e2, b) in zip(calls, local, shared):
        assert e1 == e2, (name, kw, a, b)
        if e1:
            continue
        assert isinstance(a, dict) and isinstance(b, dict)
        if name == "search":  # ranking scores differ (ts_rank against BM25): what is found does not
            assert b["total"] == a["total"], kw
            if a["total"]["conversations"] <= kw.get("limit", 20):  # the whole result on one page
                assert _ids(b) == _ids(a), kw
            assert len(b["results"]) == len(a["results"])
        elif name == "stats":
            for k in ("database_bytes", "home"):
                a.pop(k), b.pop(k)
            assert b == a
        else:
            assert b == a, (name, kw)
    assert shared[0][1]["total"]["conversations"] == 4  # type: ignore[index]


def test_a_server_without_a_polylogue_schema_is_a_tool_error_not_a_dead_server(pg_server, tmp_path):  # noqa: F811
    url = pg_server.new_database("mcp_empty")
    (tmp_path / "reader").mkdir()
    got = _calls(["--home", str(tmp_path / "reader"), "--archive", url], [("stats", {}), ("search", {"query": "x"})])
    assert all(err for err, _ in got), got
    assert "no polylogue archive at" in str(got[0][1]) and "polylogue push" in str(got[0][1]), got
