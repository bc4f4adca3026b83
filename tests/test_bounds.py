"""Bounded work (issue 18, items 11 and 14): a regex search stops at its time
bound even inside one message, a hostile pattern is refused before it is
compiled, the MCP server answers other calls while a slow one runs,
get_conversation reads only the window it was asked for, and an HTML export's
navigation does not grow with its page count.

Part of the hostile-input tests: every run that could hang has a deadline (a
SIGALRM in-process, a timeout on a subprocess or an MCP session), so a
regression fails instead of stalling the suite."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import tracemalloc
from collections import deque
from pathlib import Path

import anyio
import orjson
import pytest
from helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polylogue
from polylogue import search as lang
from polylogue.api import Archive
from polylogue.export import export
from polylogue.mcp_server import _Tools
from polylogue.render import html as html_render
from polylogue.store import fts

REPO = Path(__file__).resolve().parent.parent
CODE_ROOT = Path(polylogue.__file__).resolve().parent.parent  # the polylogue these tests import
TIMEOUT = 30  # seconds, for a subprocess: each run below takes about one
BOUND = 1.0  # seconds: the regex bound the in-process tests pass
BIG = 20_000  # messages of the conversation get_conversation pages through
PAGED = 2_000  # messages of the conversation exported one per page


def session(path: Path, sid: str, texts: list[str]) -> Path:
    """A real-format Claude Code session: ``texts`` alternate user and assistant."""
    lines, parent = [], None
    for i, text in enumerate(texts):
        uid = f"{sid}-{i:06d}"
        ts = f"2025-03-01T{10 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        head = {"uuid": uid, "parentUuid": parent, "sessionId": sid, "timestamp": ts, "cwd": "/tmp/p"}
        if i % 2 == 0:
            rec = {"type": "user", **head, "message": {"role": "user", "content": text}}
        else:
            msg = {"id": f"r{i}", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": text}]}
            rec = {"type": "assistant", **head, "message": msg}
        lines.append(orjson.dumps(rec))
        parent = uid
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def dialogue(n: int) -> list[str]:
    return [f"question {i} about the quokka" if i % 2 == 0 else f"answer {i}: on Rottnest" for i in range(n)]


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory) -> Path:
    """Messages that make a backtracking regex take exponential or quadratic time."""
    d = tmp_path_factory.mktemp("rx")
    session(d / "short.jsonl", "short", ["a" * 33 + "!", "x" * 40, "nothing to see"])
    session(d / "long.jsonl", "long", [("zanzi " + "x" * 50) * 150_000])  # one 8 MB line, "zanzi" 150,000 times
    home = d / "home"
    with Archive(home) as a:
        assert a.sync([d]).errors == []
    return home


@pytest.fixture(scope="module")
def big_home(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("big")
    session(d / "big.jsonl", "big", dialogue(BIG))
    session(d / "paged.jsonl", "paged", dialogue(PAGED))
    session(d / "small.jsonl", "small", dialogue(20))
    home = d / "home"
    with Archive(home) as a:
        assert a.sync([d]).errors == []
    return home


@pytest.fixture
def deadline():
    """In-process runs that could spin fail after 20 s (`re` and `regex` both check signals)."""

    def expired(*_):
        pytest.fail("no answer within 20 s: the bound did not hold")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(home, *args, timeout=TIMEOUT)


# ---------------------------------------------------------------- item 11: the regex bound


@pytest.mark.parametrize(
    "pattern, where",
    [(r"(a+)+$", "short"), (r"(x+x+)+y", "short"), (r"zanzi.*NOTFOUND", "long")],
    ids=["nested-plus-34-chars", "exponential", "quadratic-8MB-line"],
)
def test_the_regex_bound_holds_inside_one_message(hostile_home, deadline, pattern, where):
    with Archive(hostile_home) as a, a.reader() as conn:
        cpu, wall = time.process_time(), time.monotonic()
        res = fts.regex_search(conn, lang.parse(f"id:claude-code:{where}"), re.compile(pattern), max_seconds=BOUND)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    # the search's own work stays within 1.5x the bound. `regex` counts its timeout in
    # CPU seconds, so the wall clock also counts what other processes took from this
    # one: on this 2-core machine shared by a test run, several times the bound
    assert cpu <= 1.5 * BOUND, f"{pattern}: {cpu:.1f} s of CPU for a bound of {BOUND} s"
    assert wall <= 10 * BOUND, f"{pattern}: {wall:.1f} s for a bound of {BOUND} s"
    assert res.total_messages == 0
    assert len(res.notes) == 1
    assert "stopped at its bound of 1 seconds" in res.notes[0] or "tried on all 3" in res.notes[0]


def test_a_match_found_before_the_bound_is_reported_with_its_snippet(hostile_home, deadline):
    with Archive(hostile_home) as a:
        res = a.search("", regex=r"zanzi x{50}zanzi", cache=False)
    assert res.total_messages == 1 and res.notes == ["the regex was tried on all 4 candidate messages"]
    hit = res.conversations[0]["hits"][0]
    a_, b = hit["highlights"][0]
    assert hit["snippet"].startswith("zanzi") and hit["snippet"].endswith("…")
    assert re.fullmatch(r"zanzi x{50}zanzi", hit["snippet"][a_:b])


@pytest.mark.parametrize(
    "pattern, says",
    [
        ("(((ab|cd){100}){100}){100}", "multiply to over 20,000 copies"),  # crashed `regex`'s compiler
        ("a{100000000}", "multiply to over 20,000 copies"),  # took minutes to compile
        ("(" * 3000 + "a" + ")" * 3000, "nested too deeply"),
        (r"\p{L}+", "bad escape \\p"),  # `regex` syntax that Python `re` does not have
        ("E(\\d", "missing ), unterminated subpattern"),
    ],
    ids=["nested-counts", "huge-count", "deep-groups", "not-re-syntax", "unbalanced"],
)
def test_a_pattern_too_costly_to_compile_is_refused_at_once(hostile_home, pattern, says):
    proc = cli(hostile_home, "search", "--regex", pattern)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert "bad regex" in proc.stderr and says in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- item 11: MCP stays responsive


def test_mcp_answers_stats_while_a_slow_regex_search_runs(hostile_home):
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "polylogue.mcp_server", "--home", str(hostile_home)], cwd=str(CODE_ROOT)
    )
    done: list[tuple[str, float, dict]] = []

    async def call(s: ClientSession, name: str, args: dict, wait: float = 0.0) -> None:
        await anyio.sleep(wait)
        r = await s.call_tool(name, args)
        assert not getattr(r, "is_error", getattr(r, "isError", False)), r.content
        done.append((name, time.monotonic(), orjson.loads(r.content[0].text)))

    async def main() -> None:
        with anyio.fail_after(60):  # the search takes its bound of 5 s of CPU: more on a busy machine
            async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
                await s.initialize()
                started = time.monotonic()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call, s, "search", {"query": "", "regex": "(x+x+)+y"})
                    tg.start_soon(call, s, "stats", {}, 0.5)
                assert [name for name, _, _ in done] == ["stats", "search"]
                assert done[0][1] - started < 10, "stats waited for the search"
                assert done[0][2]["messages"] == 4
                assert any("stopped at its bound of 5 seconds" in n for n in done[1][2]["notes"])

    anyio.run(main)


# ---------------------------------------------------------------- item 14: get_conversation reads its window


def _peak(fn) -> tuple[int, float, object]:
    """(peak bytes allocated, seconds, result) of one call."""
    tracemalloc.start()
    t = time.monotonic()
    out = fn()
    t = time.monotonic() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, t, out


def _best_time(fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.monotonic()
        fn()
        best = min(best, time.monotonic() - t)
    return best


GET = dict(
    around=None,
    before=0,
    after=0,
    offset=0,
    limit=1,
    tail=False,
    include_thinking=False,
    include_tools=False,
    active_only=False,
    max_chars=4000,
    char_offset=0,
)


@pytest.mark.parametrize(
    "args, position",
    [({}, 0), ({"tail": True}, BIG - 1), ({"around": f"big-{BIG - 10:06d}"}, BIG - 10), ({"offset": 12_345}, 12_345)],
    ids=["head", "tail", "around", "offset"],
)
def test_get_conversation_with_limit_1_reads_one_message(big_home, args, position):
    with Archive(big_home) as a:
        tools = _Tools(a)
        full_peak, _, conv = _peak(lambda: a.conversation("claude-code:big"))
        assert len(conv.messages) == BIG
        peak, _, out = _peak(lambda: tools.get("claude-code:big", **{**GET, **args}))
        assert out["message_count"] == BIG
        assert [(m["i"], m["id"]) for m in out["messages"]] == [(position, f"big-{position:06d}")]
        assert peak < min(full_peak / 20, 1_000_000), (peak, full_peak)
        full_time = _best_time(lambda: a.conversation("claude-code:big"))
        window_time = _best_time(lambda: tools.get("claude-code:big", **{**GET, **args}))
        assert window_time < full_time / 5, (window_time, full_time)


@pytest.fixture(scope="module")
def branchy(tmp_path_factory):
    """The shipped examples: conversations with branches, sidechains and tool traffic."""
    a = Archive(tmp_path_factory.mktemp("examples") / "archive")
    assert a.sync([REPO / "examples"]).errors == []
    yield a
    a.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_message_windows_agree_with_the_whole_conversation(branchy, data):
    summaries = branchy.list(limit=100)
    cid = data.draw(st.sampled_from([c["id"] for c in summaries]))
    active_only = data.draw(st.booleans())
    whole = branchy.conversation(cid, active_only=active_only).messages
    n = len(whole)
    start = data.draw(st.integers(0, n + 2))
    limit = data.draw(st.integers(-1, n + 2))
    window = branchy.messages(cid, start=start, limit=limit, active_only=active_only)
    expected = whole[start:] if limit < 0 else whole[start : start + limit]
    assert [m.id for m in window] == [m.id for m in expected]
    assert [m.blocks for m in window] == [m.blocks for m in expected]
    assert branchy.message_count(cid, active_only=active_only) == n
    if n:
        k = data.draw(st.integers(0, n - 1))
        first = next(i for i, m in enumerate(whole) if m.id == whole[k].id)
        assert branchy.message_positions(cid, whole[k].id, active_only=active_only)[0] == (first, whole[k].id)
        prefix = whole[k].id[: data.draw(st.integers(1, len(whole[k].id)))]
        found = branchy.message_positions(cid, prefix, active_only=active_only, limit=5)
        starting = [(i, m.id) for i, m in enumerate(whole) if m.id.startswith(prefix)]
        exact = [(i, m.id) for i, m in enumerate(whole) if m.id == prefix]
        assert found == (exact or starting)[:5]


# ---------------------------------------------------------------- item 14: HTML navigation


def _links(doc: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', doc)


def test_html_pages_do_not_grow_with_the_page_count(big_home, tmp_path):
    with Archive(big_home) as a:
        r = export(a, tmp_path / "many", fmt="html", query="id:claude-code:paged", page_size=1)
        export(a, tmp_path / "few", fmt="html", query="id:claude-code:small", page_size=1)
    many_pages = sorted((tmp_path / "many").glob("*/*.html"))
    few_pages = sorted((tmp_path / "few").glob("*/*.html"))
    assert (len(many_pages), len(few_pages)) == (PAGED, 20), r
    biggest_few = max(p.stat().st_size for p in few_pages)
    docs = {p.name: p.read_text() for p in many_pages}
    for name, doc in docs.items():
        assert len(doc.encode()) < 1.25 * biggest_few, name
        assert len(_links(doc)) <= 2 * (1 + len(html_render.nav_pages(1234, PAGED)) + 2), name
    # every page is still reachable from the first, in a few clicks, and every link resolves
    first = next(n for n in docs if "-p" not in n)
    clicks = {first: 0}
    todo = deque([first])
    while todo:
        name = todo.popleft()
        for href in _links(docs[name]):
            assert href == "../index.html" or href in docs, (name, href)
            if href in docs and href not in clicks:
                clicks[href] = clicks[name] + 1
                todo.append(href)
    assert len(clicks) == PAGED and max(clicks.values()) <= 4 * len(str(PAGED))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**7).flatmap(lambda total: st.tuples(st.just(total), st.integers(1, total))))
def test_nav_pages_are_few_and_lead_anywhere(pair):
    total, page = pair
    links = html_render.nav_pages(page, total)
    assert links == sorted(set(links)) and all(1 <= k <= total for k in links)
    assert {1, total, page} | {k for k in (page - 1, page + 1) if 1 <= k <= total} <= set(links)
    digits = len(str(total))
    assert len(links) <= 2 * html_render.NAV_NEAR + 3 + 2 * digits
    # following the link nearest to a target page reaches it in a few clicks per digit
    target, here, clicks = (page * 7919) % total + 1, page, 0
    while here != target:
        here = min(html_render.nav_pages(here, total), key=lambda k: abs(k - target))
        clicks += 1
        assert clicks <= 6 * digits + 3, (page, target, total)
