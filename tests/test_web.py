"""`polylogue serve` over HTTP: a real server process on a free port, a real
client. Pages, partial search, permalinks, paging of a long conversation,
branches and subagents, the access rules (Host allow-list, token beyond the
default loopback address, read-only methods), the security headers, hostile
content on every page, and an archive left byte for byte as it was."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_server import LONG_ID, LONG_MESSAGES, PLANTED, PLANTED_CONV, build_home, long_conversation, start
from xss_payloads import ACTIVE, PAYLOADS, Scan, corpus_conversation, visible

from polylogue.render import html as html_render
from polylogue.web import guard
from polylogue.web.pages import marked
from polylogue.web.reader import PAGE_SIZE

pytestmark = pytest.mark.slow

XSS = corpus_conversation(ACTIVE + PAYLOADS)
PAGES = [
    "/",
    f"/search?q={PLANTED}",
    f"/facets?q={PLANTED}",
    "/browse",
    "/projects",
    "/usage",
    "/usage?period=monthly",
    "/health",
]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    from polylogue.api import Archive

    home = build_home(tmp_path_factory.mktemp("web") / "home", [XSS, long_conversation()])
    broken = home.parent / "broken<b>.json"  # a file whose sync failed: the health page lists it
    broken.write_text('{"mapping": ', encoding="utf-8")
    with Archive(home) as a:
        assert a.sync([broken]).errors
    return home


@pytest.fixture(scope="module")
def server(home):
    s = start(home)
    yield s
    s.stop()


def _files(home: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(home)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def conv_path(ident: str, **q: str) -> str:
    from urllib.parse import urlencode

    return f"/c/{quote(ident, safe=':@')}" + (f"?{urlencode(q)}" if q else "")


# ------------------------------------------------------------------ pages


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_with_the_security_headers(server, path):
    status, headers, body = server.get(path)
    assert status == 200, body[:500]
    csp = headers["content-security-policy"][0]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["referrer-policy"] == ["no-referrer"]
    assert "server" not in headers  # no version banner
    # no inline script, no handler attribute, nothing loaded from elsewhere
    s = Scan(body)
    for tag, attrs in s.elements:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs
        for key in ("src", "href", "action"):
            value = attrs.get(key) or ""
            assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", value, re.I), (tag, attrs)
    assert "<script>" not in body


def test_search_shows_totals_highlighted_hits_linking_to_their_message(server, home):
    from polylogue.api import Archive

    with Archive(home) as a:
        res = a.search(PLANTED)
    status, _, body = server.get(f"/search?q={PLANTED}&partial=1")
    assert status == 200
    assert f"{res.total_conversations} conversations,\n  {res.total_messages} messages matched" in body
    assert f"<mark>{PLANTED}</mark>" in body
    links = re.findall(rf'href="({conv_path(PLANTED_CONV)}\?m=[^"]*)"', body)
    assert links
    status, headers, _ = server.get(links[0].replace("&amp;", "&"))
    assert status == 303
    where = headers["location"][0]
    assert where.startswith(conv_path(PLANTED_CONV)) and "hit=" in where and re.search(r"#m\d+$", where)
    status, _, page = server.get(where.split("#")[0])
    anchor = where.rsplit("#", 1)[1]
    assert re.search(rf'<article class="msg [^"]*\bhit\b[^"]*" id="{anchor}"', page)


def test_facets_filter_and_a_bad_query_is_one_message(server):
    _, _, body = server.get(f"/search?q={PLANTED}&provider=gemini-cli&partial=1")
    assert "0 conversations" in body
    _, _, body = server.get(f"/search?q={PLANTED}&provider=codex&partial=1")
    assert "1 conversation," in body and conv_path(PLANTED_CONV) in body
    status, _, body = server.get("/search?q=x&since=notadate&partial=1")
    assert status == 400 and 'class="error"' in body and "Traceback" not in body


def _facet_counts(body: str) -> dict[str, dict[str, int]]:
    """{facet label: {value: count}} of a facets fragment."""
    out: dict[str, dict[str, int]] = {}
    for label, values in re.findall(r'<p class="facet"><span class="fname">(\w+)</span>(.*?)</p>', body, re.S):
        found = re.findall(r'<a href="[^"]*"[^>]*>([\w-]+) <span class="n">([\d,]+)</span></a>', values)
        out[label] = {v: int(n.replace(",", "")) for v, n in found}
    return out


def test_facets_count_what_each_filter_would_find(server, home):
    from polylogue.api import Archive

    with Archive(home) as a:
        total = a.search("the", limit=1, mode="lexical").total_conversations
        by_provider = {
            p: n
            for p in a.stats()["by_provider"]
            if (n := a.search("the", provider=p, limit=1, mode="lexical").total_conversations)
        }
    assert total > 1 and len(by_provider) > 1
    _, _, page = server.get("/search?q=the&partial=1")
    assert 'data-src="/facets?q=the&amp;partial=1"' in page  # the results ask for their counts
    status, _, body = server.get("/facets?q=the&partial=1")
    counts = _facet_counts(body)
    assert status == 200 and counts["Provider"] == by_provider
    assert sum(counts["Provider"].values()) == total  # a conversation has one provider
    assert set(counts["Role"]) <= {"user", "assistant", "system", "tool"} and counts["Role"]
    assert max(counts["Kind"].values()) <= total
    # a value links to the search with its filter, which finds what the count said
    codex = re.search(r'<a href="([^"]*provider=codex[^"]*)">', body).group(1).replace("&amp;", "&")
    _, _, found = server.get(codex + "&partial=1")
    assert f"{counts['Provider']['codex']:,} conversation" in found
    # a chosen filter shows its one value, linking back to the search without it
    _, _, body = server.get("/facets?q=the&provider=codex&partial=1")
    assert _facet_counts(body)["Provider"] == {"codex": counts["Provider"]["codex"]}
    assert 'href="/search?q=the" class="sel"' in body
    # without JavaScript the counts are a page of their own; a bad query is one message
    status, _, full = server.get("/facets?q=the")
    assert status == 200 and "<html" in full and "back to the results" in full
    status, _, bad = server.get("/facets?q=x&since=notadate&partial=1")
    assert status == 400 and 'class="error"' in bad and "Traceback" not in bad


def test_facets_out_of_time_say_so(home):
    from polylogue.api import Archive
    from polylogue.web.facets import count_facets

    with Archive(home) as a:

        def search(q, **f):
            return a.search(q, limit=1, mode="lexical", **f)

        choices = {"provider": tuple(a.stats()["by_provider"]), "role": ("user",), "kind": ("text",)}
        late = count_facets(search, "the", {}, choices, budget_s=0)
        timely = count_facets(search, "the", {}, choices, budget_s=60)
    assert [f.uncounted for f in late] == [len(choices["provider"]), 1, 1]
    assert all(v.count is None for f in late for v in f.values)
    assert all(v.count for f in timely for v in f.values) and not any(f.uncounted for f in timely)


def test_did_you_mean(server):
    _, _, body = server.get("/search?q=zanzibarqux&partial=1")
    assert "Did you mean" in body and PLANTED in body


def test_tool_calls_show_their_command_and_branches_switch(server):
    _, _, body = server.get(conv_path(PLANTED_CONV))
    assert 'Tool call: <code>exec_command</code> <code class="arg">rg -n wal_checkpoint src/</code>' in body
    assert 'class="forkpoint"' in body
    switches = re.findall(r'<a href="([^"]+)" class="branch-link"', body)
    assert switches
    _, _, other = server.get(switches[0].replace("&amp;", "&"))
    assert "the chosen branch" in other and '<strong aria-current="true">' in other
    assert other.count("<article") != body.count("<article") or other != body
    _, _, everything = server.get(conv_path(PLANTED_CONV, branch="all"))
    assert "other branch" in everything


def test_subagents_are_linked_both_ways(server, home):
    from polylogue.api import Archive

    with Archive(home) as a:
        (child,) = a.children(PLANTED_CONV)
    _, _, parent_page = server.get(conv_path(PLANTED_CONV))
    assert f'class="child" href="{conv_path(child["id"])}"' in parent_page
    _, _, child_page = server.get(conv_path(child["id"]))
    assert f'class="parent" href="{conv_path(PLANTED_CONV)}"' in child_page


def test_a_long_conversation_is_served_a_page_at_a_time(server):
    _, _, first = server.get(conv_path(LONG_ID))
    assert first.count("<article") == PAGE_SIZE
    assert 'id="m1"' in first and f'id="m{PAGE_SIZE + 1}"' not in first
    pages = -(-(LONG_MESSAGES + 1) // PAGE_SIZE)
    assert f"page 1 of {pages}" in first
    _, _, last = server.get(conv_path(LONG_ID, page=str(pages)))
    assert f'id="m{LONG_MESSAGES + 1}"' in last
    # the 5,000-line output is folded: its first lines shown; the rest, too big for the page,
    # is left out, linked as plain text and fetched by the page's script when the fold opens
    lazy = re.search(r'<details class="more" data-rest="([^"]+)" data-chars="(\d+)">', last)
    assert lazy and "line\nline" not in last[lazy.end() :]
    head, rest = html_render.fold("line\n" * 5000)
    status, headers, body = server.get(lazy.group(1).replace("&amp;", "&"))
    assert status == 200 and body == rest and int(lazy.group(2)) == len(rest)
    assert headers["content-type"][0].startswith("text/plain") and "sandbox" in headers["content-security-policy"][0]
    whole = re.search(r'<a href="(/raw/[^"]+)">the whole output</a>', last).group(1).replace("&amp;", "&")
    assert server.get(whole)[2] == "line\n" * 5000
    # a permalink to a message deep in it lands on its page
    status, headers, _ = server.get(conv_path(LONG_ID, m="m00750"))
    assert status == 303 and f"#m{751}" in headers["location"][0]
    status, _, page = server.get(headers["location"][0].split("#")[0])
    assert f"page {751 // PAGE_SIZE + 1} of" in page and 'id="m751"' in page


def test_browse_projects_usage_health(server):
    _, _, browse = server.get("/browse")
    assert '<svg class="heatmap"' in browse and "A long session" in browse
    _, _, filtered = server.get("/browse?provider=codex")
    assert "A long session" not in filtered and "tidepool" in filtered
    _, _, projects = server.get("/projects")
    assert "/work/long" in projects and "/home/ada/src/tidepool" in projects
    _, _, usage = server.get("/usage")
    assert '<svg class="bars"' in usage
    _, _, health = server.get("/health?check=1")
    assert "Check: sound" in health and "<dt>newest message</dt>" in health
    failed = re.search(
        r"<code>[^<]*broken&lt;b&gt;\.json</code> <span class=\"tag\">(\w+)</span>.*?<span class=\"dim\">([^<]*)</span>",
        health,
        re.S,
    )
    assert failed and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", failed.group(2)), failed


def test_missing_things_are_404_not_500(server):
    assert server.get("/c/nosuch:conversation")[0] == 404
    assert server.get("/nowhere")[0] == 404
    assert server.get(conv_path(PLANTED_CONV, m="no-such-message"))[0] == 400
    assert server.get("/static/nothing.js")[0] == 404


# ------------------------------------------------------------------ access


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", "localhost.evil.example"])
def test_a_foreign_host_header_is_refused(server, host):
    status, _, body = server.get("/", host=host)
    assert status == 403 and "Host" in body


def test_only_reading_methods(server):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert server.get("/", method=method)[0] == 405


def test_beyond_loopback_a_token_is_required(home):
    # 127.0.0.2 is not the default address: served with a token, as any other address would be
    s = start(home, "--host", "127.0.0.2", "--allow-host", "Tunnel.Example")
    try:
        token = re.search(r"token=([\w-]+)", s.url).group(1)
        assert len(token) >= 40
        assert s.get("/")[0] == 403
        assert s.get("/c/" + quote(PLANTED_CONV, safe=":"))[0] == 403
        assert s.get("/?token=wrong")[0] == 403
        assert s.get("/", headers={"Cookie": "polylogue_token=wrong"})[0] == 403
        status, headers, _ = s.get(f"/browse?page=1&token={token}")
        assert status == 303 and headers["location"] == ["/browse?page=1"]  # the token leaves the URL
        cookie = headers["set-cookie"][0]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert s.get("/", headers={"Cookie": cookie.split(";")[0]})[0] == 200
        assert s.get("/", headers={"Authorization": f"Bearer {token}"})[0] == 200
        assert s.get("/", host="evil.example", headers={"Cookie": cookie.split(";")[0]})[0] == 403
        assert s.get("/", host="tunnel.example:443", headers={"Cookie": cookie.split(";")[0]})[0] == 200
        assert s.get("/", host="tunnel.example")[0] == 403  # an allowed name still needs the token
    finally:
        s.stop()


def test_the_server_writes_nothing_to_the_archive(home, tmp_path):
    before = _files(home)
    s = start(home)
    try:
        for path in [*PAGES, conv_path(PLANTED_CONV), conv_path(LONG_ID, page="3"), "/health?check=1"]:
            assert s.get(path)[0] == 200, path
    finally:
        s.stop()
    assert _files(home) == before


def test_a_sync_while_serving_shows_on_the_cached_pages(tmp_path):
    """Usage charts, the calendar and the project counts are kept per archive
    generation: a sync made while the server runs reaches them (stats are at most
    app.STATS_TTL seconds old)."""
    import time
    from datetime import UTC, datetime

    from polylogue.api import Archive
    from polylogue.models import Conversation, Message, text
    from polylogue.render import json as json_render

    home = build_home(tmp_path / "home", [])
    s = start(home)
    try:
        before = {p: s.get(p)[2] for p in ("/usage", "/usage?period=monthly", "/browse", "/projects")}
        assert "2027-01-15" not in before["/usage"] + before["/browse"] and "2027-01" not in before["/usage"]
        t0 = datetime(2027, 1, 15, 10, tzinfo=UTC)
        usage = {"input": 1234, "output": 56, "convention": "anthropic"}
        msgs = [Message("u", "user", [text("hello")], timestamp=t0)]
        msgs.append(Message("a", "assistant", [text("hi")], parent_id="u", timestamp=t0, model="zeta-1", usage=usage))
        conv = Conversation("claude-code", "later", "Later", t0, t0, msgs, project="/work/newproject")
        feed = tmp_path / "later.json"
        feed.write_text(json_render.render(conv, indent=False), encoding="utf-8")
        with Archive(home) as a:
            assert not a.sync([feed]).errors
        deadline = time.monotonic() + 60
        while True:
            now = {p: s.get(p)[2] for p in before}
            if "2027-01-15" in now["/usage"] and "/work/newproject" in now["/projects"]:
                break
            assert time.monotonic() < deadline, "the pages never showed the sync"
            time.sleep(1)
        assert "2027-01" in now["/usage?period=monthly"]
        assert "since=2027-01-15" in now["/browse"]  # the calendar links the new day
    finally:
        s.stop()


GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # split: no scanner flags this file
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLQ"


def test_secrets_are_masked_unless_no_redact(tmp_path):
    """Issue 24: the server opens the archive with redact=True, so no page (the title in
    the listing, the reader, a search snippet, a long output's plain text) shows a
    secret as written; --no-redact shows them."""
    from datetime import UTC, datetime

    from polylogue.models import Conversation, Message, text, tool_result, tool_use

    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    out = "\n".join(f"line {k}" for k in range(6000)) + f"\nexport AWS_ACCESS_KEY_ID={AWS_KEY}\n"
    conv = Conversation(
        "claude-code",
        "leaky",
        f"deploy with {GITHUB_TOKEN}",
        t0,
        t0,
        [
            Message("u1", "user", [text(f"the token is {GITHUB_TOKEN} for quokkadeploy")], timestamp=t0),
            Message("a1", "assistant", [tool_use("t1", "Bash", {"command": "env"})], parent_id="u1", timestamp=t0),
            Message("r1", "user", [tool_result("t1", out)], parent_id="a1", timestamp=t0),
        ],
    )
    home = build_home(tmp_path / "home", [conv])
    raw = "/raw/claude-code:leaky?" + "m=r1&b=0"
    paths = ["/", "/search?q=quokkadeploy", "/browse", conv_path("claude-code:leaky"), raw, raw + "&part=rest"]
    cases = [((), False, "redacted (the default)"), (("--no-redact",), True, "NOT redacted"), ((), True, "NOT")]
    for i, (args, shown, says) in enumerate(cases):
        if i == 2:  # the switch MCP shares: redact_servers = false in the archive's config.toml
            (home / "config.toml").write_text("[privacy]\nredact_servers = false\n")
        s = start(home, *args)
        try:
            deadline = time.monotonic() + 10
            while not any("redacted" in line for line in s.log) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any(says in line for line in s.log), s.log  # the server says whether it masks
            seen = ""
            for path in paths:
                status, _, body = s.get(path)
                assert status == 200, (path, body[:300])
                seen += body
                if not shown:
                    assert GITHUB_TOKEN not in body and AWS_KEY not in body, path
            assert (GITHUB_TOKEN in seen) == shown and (AWS_KEY in seen) == shown
            if not shown:
                assert "REDACTED github-token" in seen and "REDACTED aws-access-key" in seen
        finally:
            s.stop()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=40))
def test_any_query_text_is_a_page_or_one_message(server, q):
    status, _, body = server.get("/search?partial=1&q=" + quote(q))
    assert status in (200, 400), body[:300]
    assert "Traceback" not in body


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    where=st.sampled_from(["/search?partial=1&q=x", "/browse?", "/usage?", f"{conv_path(PLANTED_CONV)}?"]),
    params=st.dictionaries(
        st.sampled_from(
            ["provider", "project", "model", "role", "kind", "since", "until", "page", "period", "branch", "m", "mode"]
        ),
        st.text(max_size=20) | st.integers(-(2**70), 2**70).map(str),
        max_size=4,
    ),
)
def test_any_filter_or_page_value_is_a_page_or_one_message(server, where, params):
    from urllib.parse import urlencode

    status, _, body = server.get(where + "&" + urlencode(params))
    assert status in (200, 400), (where, params, body[:300])
    assert "Traceback" not in body and "Internal" not in body


# ------------------------------------------------------------------ hostile content


def test_hostile_content_is_inert_on_every_page(server):
    """The XSS corpus (title, text, code, tool names, inputs, outputs, ids...) on the
    pages that show it: nothing becomes an element, attribute or link of its own."""
    found = []
    every = [conv_path(XSS.id, branch="all", page=str(k)) for k in range(1, -(-len(XSS.messages) // PAGE_SIZE) + 1)]
    for path in [*PAGES, "/search?q=alert", "/search?q=alert&partial=1", conv_path(XSS.id), *every]:
        status, _, body = server.get(path)
        assert status == 200, path
        s = Scan(body)
        for tag, attrs in s.elements:
            assert not any(k.startswith("on") or k.startswith("data-pw") for k in attrs), (path, tag, attrs)
            assert attrs.get("id") != "pw-injected", path
            assert (
                tag not in ("iframe", "object", "embed", "img", "base", "meta")
                or tag == "meta"
                and "http-equiv" not in attrs
            ), (path, tag)
            if tag == "form":
                assert attrs.get("action") in ("/search", "/browse", "/health"), (path, attrs)
            if tag == "script":
                assert attrs.get("src", "").startswith("/static/"), (path, attrs)
        if "branch=all" in path:
            found.append(s)
    text = "".join(s.all_text for s in found)
    for p in ACTIVE + PAYLOADS:
        assert visible(p, text), p


def test_snippet_marks_escape_everything():
    out = marked("<b>x</b> & <i>", [(3, 4), (0, 2), (50, 60), (2, 1)])
    assert str(out) == "<mark>&lt;b</mark>&gt;<mark>x</mark>&lt;/b&gt; &amp; &lt;i&gt;"


def test_guard_helpers():
    assert guard.host_name("[::1]:8765") == "::1"
    assert guard.host_name("LocalHost:80") == "localhost"
    assert guard.host_name("127.0.0.1") == "127.0.0.1"
    assert not guard.needs_token("127.0.0.1") and guard.needs_token("0.0.0.0") and guard.needs_token("127.0.0.2")


def test_export_shares_the_tool_summary_and_stays_script_free():
    doc = html_render.render(long_conversation(12))
    assert 'Tool call: <code>Bash</code> <code class="arg">pytest -k case1</code>' in doc
    assert "<button" not in doc and "<script" not in doc


def test_twenty_concurrent_clients_all_get_answers(server):
    """More pages at once than the read pool has connections (a redacted search
    holds two): every one is answered, none waits forever on the pool."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [f"/search?q={w}" for w in ("checkpoint", PLANTED, "rust", "coupon", "alert", "wal", "sqlite")]
    paths += ["/browse", "/usage", "/projects", conv_path(LONG_ID), conv_path(PLANTED_CONV)]
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda p: server.get(p)[0], paths * 4))
    assert statuses == [200] * len(paths) * 4


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@given(value=JSON)
def test_a_tool_summary_is_one_short_line_whatever_the_input(value):
    arg = html_render.tool_argument(value)
    assert "\n" not in arg and len(arg) <= html_render.SUMMARY_CHARS
    doc = html_render.block_html(html_render.Block("tool_use", id="t", name="X", input=value))
    assert doc.startswith('<details class="tool-use"><summary>Tool call: <code>X</code>')
    assert "<script" not in doc


def test_without_the_web_extra_serve_says_what_to_install(home):
    """jinja2 made unimportable in a real `polylogue serve` process: one line naming
    the pip command, exit 1, no traceback, nothing bound."""
    import subprocess
    import sys

    from helpers import REPO

    from polylogue.commands.serve import INSTALL_HINT, missing_web_stack

    assert missing_web_stack() is None
    assert missing_web_stack(("json", "polylogue_no_such_module")) == "polylogue_no_such_module"
    code = "import sys; sys.modules['jinja2'] = None; from polylogue.cli import main; main()"
    r = subprocess.run(
        [sys.executable, "-c", code, "--home", str(home), "serve", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == f"polylogue: {INSTALL_HINT} (jinja2 is missing)"


@given(
    text=st.text(alphabet=st.sampled_from("ab<&\n\r\u2028\U0001f600"), max_size=200),
    lines=st.integers(0, 60),
    pad=st.sampled_from([0, html_render.LAZY_CHARS]),
)
def test_a_fold_keeps_every_character_and_escapes_them(text, lines, pad):
    text = text + "x\n" * lines + "<&" * pad
    head, rest = html_render.fold(text)
    assert text in (head + rest, head + "\n" + rest)
    assert (len(head) <= html_render.FOLD_CHARS and head.count("\n") < html_render.FOLD_LINES) or not rest
    for href in (None, "/raw/c?m=1&b=0"):
        out = html_render.output_html(text, raw_href=href)
        assert "<" not in re.sub(r"</?(pre|code|details|summary|p|a)\b[^>]*>", "", out)
        assert ("data-rest=" in out) == (href is not None and len(rest) > html_render.LAZY_CHARS)


def test_serving_a_home_without_an_archive_is_one_line(tmp_path):
    import subprocess
    import sys

    from helpers import REPO

    r = subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(tmp_path / "none"), "serve", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    from polylogue.errors import ArchiveMissing

    assert r.returncode == ArchiveMissing.exit_code and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and "sync" in r.stderr
    assert str(tmp_path / "none") in r.stderr and not (tmp_path / "none").exists()
