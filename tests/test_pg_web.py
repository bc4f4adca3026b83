"""`polylogue --archive URL serve`: the web pages over the shared archive. A real
server process on a free port, a real HTTP client (tests/web_server.py), a real
PostgreSQL (tests/pg_server.py) holding the web tests' archive (the examples, a
long conversation, a branched one) pushed from a local archive. Every page
answers 200 with the content the local server shows, a conversation page is
the local one byte for byte, a push made while serving reaches the cached pages,
and serving writes nothing: not to the server, not to the reader's home."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from pg_server import pg_server  # noqa: F401
from web_server import (
    BRANCHED,
    LONG_ID,
    PLANTED,
    PLANTED_CONV,
    Server,
    branched_conversation,
    build_home,
    long_conversation,
    start,
)

from polylogue.push import push

pytest.importorskip("starlette", reason="the web extra is not installed: pip install 'polylogue[web]'")
psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'polylogue[postgres]'")

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

PAGES = [
    "/",
    f"/search?q={PLANTED}",
    f"/facets?q={PLANTED}",
    "/browse",
    "/browse?provider=codex",
    "/projects",
    "/usage",
    "/usage?period=monthly",
    "/health",
    "/health?check=1",
]


def conv_path(ident: str, **q: str) -> str:
    from urllib.parse import urlencode

    return f"/c/{quote(ident, safe=':@')}" + (f"?{urlencode(q)}" if q else "")


def start_shared(reader: Path, url: str, *args: str, timeout: float = 60) -> Server:
    """`polylogue --home READER --archive URL serve --port 0 ARGS` in its own process."""
    return start(reader, *args, timeout=timeout, archive=url)


def _server_state(url: str) -> dict[str, tuple]:
    """Every table of the shared archive: its rows' count and a checksum of their text."""
    with psycopg.connect(url) as c:
        tables = [
            r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ]
        return {
            t: c.execute(f"SELECT count(*), coalesce(sum(hashtext(x::text)::bigint), 0) FROM {t} x").fetchone()
            for t in tables
        }


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def served(pg_server, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("pg-web")
    home = build_home(tmp / "home", [long_conversation(), branched_conversation()])
    url = pg_server.new_database("web_shared")
    from polylogue.api import Archive

    with Archive(home) as a:
        push(a, url, machine="laptop")
    reader = tmp / "reader"
    reader.mkdir()
    shared = start_shared(reader, url)
    local = start(home)
    yield shared, local, url, reader
    shared.stop()
    local.stop()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers(served, path):
    shared, _, _, _ = served
    status, headers, body = shared.get(path)
    assert status == 200, body[:800]
    assert "default-src 'self'" in headers["content-security-policy"][0]


def test_the_pages_show_what_the_local_server_shows(served):
    shared, local, _, _ = served
    _, _, search = shared.get(f"/search?q={PLANTED}")
    assert re.search(r"\b4\b[^<]*conversation", search), search[:2000]
    assert f'href="{conv_path(PLANTED_CONV)}' in search and "<mark>" in search
    _, _, browse = shared.get("/browse")
    assert '<svg class="heatmap"' in browse and "A long session" in browse
    _, _, filtered = shared.get("/browse?provider=codex")
    assert "A long session" not in filtered and "tidepool" in filtered
    _, _, projects = shared.get("/projects")
    assert "/work/long" in projects and "/home/ada/src/tidepool" in projects
    for period in ("", "?period=monthly"):
        _, _, usage = shared.get("/usage" + period)
        assert '<svg class="bars"' in usage
        # the ledger's table (periods, tokens, cost) is the local one's
        table = re.compile(r"<table.*?</table>", re.S)
        assert table.findall(usage) == table.findall(local.get("/usage" + period)[2])
    _, _, health = shared.get("/health?check=1")
    assert "Check: sound" in health and "<dt>newest message</dt>" in health
    # a conversation page is the local one, byte for byte: plain, paged, branched, a permalink
    for path in (
        conv_path(PLANTED_CONV),
        conv_path(PLANTED_CONV, branch="all"),
        conv_path(LONG_ID, page="3"),
        conv_path(BRANCHED),
        conv_path(BRANCHED, branch="all"),
    ):
        a, b = local.get(path), shared.get(path)
        assert b[0] == a[0] == 200 and b[2] == a[2], path
    a, b = local.get(conv_path(LONG_ID, m="m00750")), shared.get(conv_path(LONG_ID, m="m00750"))
    assert b[0] == a[0] == 303 and b[1]["location"] == a[1]["location"]
    status, _, _ = shared.get(conv_path("claude-code:nosuchthing"))
    assert status == 404


def test_serving_writes_nothing(served):
    shared, _, url, reader = served
    before, files = _server_state(url), _files(reader)
    for path in [*PAGES, conv_path(PLANTED_CONV), conv_path(LONG_ID, page="2")]:
        assert shared.get(path)[0] == 200, path
    assert _server_state(url) == before
    assert _files(reader) == files
    for method in ("POST", "PUT", "DELETE"):
        assert shared.get("/", method=method)[0] == 405


def test_a_push_while_serving_reaches_the_cached_pages(pg_server, tmp_path):  # noqa: F811
    from datetime import UTC, datetime

    from polylogue.api import Archive
    from polylogue.models import Conversation, Message, text
    from polylogue.render import json as json_render

    home = build_home(tmp_path / "home", [])
    url = pg_server.new_database("web_later")
    with Archive(home) as a:
        push(a, url, machine="laptop")
    (tmp_path / "reader").mkdir()
    s = start_shared(tmp_path / "reader", url)
    try:
        before = {p: s.get(p)[2] for p in ("/usage", "/projects")}
        assert "2027-01-15" not in before["/usage"] and "/work/newproject" not in before["/projects"]
        t0 = datetime(2027, 1, 15, 10, tzinfo=UTC)
        usage = {"input": 1234, "output": 56, "convention": "anthropic"}
        msgs = [Message("u", "user", [text("hello")], timestamp=t0)]
        msgs.append(Message("a", "assistant", [text("hi")], parent_id="u", timestamp=t0, model="zeta-1", usage=usage))
        conv = Conversation("claude-code", "later", "Later", t0, t0, msgs, project="/work/newproject")
        feed = tmp_path / "later.json"
        feed.write_text(json_render.render(conv, indent=False), encoding="utf-8")
        with Archive(home) as a:
            assert not a.sync([feed]).errors
            push(a, url, machine="laptop")
        deadline = time.monotonic() + 60
        while True:
            now = {p: s.get(p)[2] for p in before}
            if "2027-01-15" in now["/usage"] and "/work/newproject" in now["/projects"]:
                break
            assert time.monotonic() < deadline, "the pages never showed the push"
            time.sleep(1)
    finally:
        s.stop()
