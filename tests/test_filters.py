"""Filters that can never match are errors everywhere; role: and kind: alone
list the conversations holding such messages (docs/cli.md, search).

On a real archive of the shipped examples (tests/test_cli.py describes them):
the CLI's `search`, `list` and `export --dry-run`, the library and the MCP
server all refuse a filter no conversation could ever satisfy, while a filter
this archive merely holds nothing for answers 0. A search whose only filters
are role:/kind: is checked against a brute-force scan of every message."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.errors import QueryError
from polylogue.store import codec
from polylogue.store.encode import CONTEXT, FTS_COLUMNS, fts_values
from polylogue.store.message_filters import _has_kind, kinds_in
from polylogue.store.query import Query
from polylogue.store.tokens import index_tokens

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    h = tmp_path_factory.mktemp("filters") / "archive"
    with Archive(h) as a:
        assert not a.sync([EXAMPLES]).errors
    return h


@pytest.fixture(scope="module")
def archive(home):
    with Archive(home) as a:
        yield a


def run(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


# ---------------------------------------------------------------- cannot match: an error, pointing at the value

# (query text, what the error says, where its caret points)
NEVER = [
    ("oauth since:2026-03 until:2026-01", "leave no time to match", 20),
    ("since:2026-02-14 until:2026-02-13", "leave no time to match", 17),
    ("until:2025 oauth since:now", "leave no time to match", 17),
    ('project:" "', "'project:' needs a value", 0),
    ('oauth model:"  "', "'model:' needs a value", 6),
    ('id:" "', "'id:' needs a value", 0),
    ('provider:"  "', "'provider:' needs a value", 0),
    ("provider:claude-ai", "unknown provider 'claude-ai'", 0),
]


@pytest.mark.parametrize("text,reason,at", NEVER)
def test_cli_search_refuses_a_query_that_cannot_match(home, text, reason, at):
    r = run(home, "search", text)
    assert r.exit_code == 2 and r.stdout == "", r.output
    lines = r.stderr.splitlines()
    assert reason in lines[0]
    assert lines[-1].index("^") - lines[-2].index(text) == at  # the caret under the value


@pytest.mark.parametrize(
    "cmd",
    [
        ["search", "--since", "2026-02", "--until", "2026-01"],
        ["search", "coupon", "--since", "2026-02", "--until", "2026-01"],
        ["search", "--project", "web", "--since", "tomorrow", "--until", "today"],
        ["list", "--since", "2026-02", "--until", "2026-01"],
        ["export", "--since", "2026-02", "--until", "2026-01", "--dry-run", "--out", "OUT"],
        ["export", "since:2026-02 until:2026-01", "--dry-run", "--out", "OUT"],
        ["export", "--provider", "claude-ai", "--format", "markdown", "--dry-run", "--out", "OUT"],
        ["export", 'project:" "', "--dry-run", "--out", "OUT"],
    ],
    ids=["search", "search-words", "search-relative", "list", "export", "export-query", "export-provider", "blank"],
)
def test_every_command_refuses_filters_that_cannot_match(home, tmp_path, cmd):
    out = tmp_path / "out"
    r = run(home, *[str(out) if a == "OUT" else a for a in cmd])
    assert r.exit_code == 2, r.output
    assert r.stdout == "" and r.stderr.startswith("polylogue: ")
    assert not out.exists()


def test_a_mistyped_filter_never_touches_an_existing_export(home, tmp_path):
    """Item 3's repro: a filter that cannot match used to select 0 conversations
    and remove the whole export."""
    out = tmp_path / "out"
    assert run(home, "export", "--format", "markdown", "--out", str(out)).exit_code == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    for bad in (["--provider", "claude-ai"], ["--since", "2026-03", "--until", "2026-02"], ["until:2020 since:2021"]):
        r = run(home, "export", *bad, "--format", "markdown", "--out", str(out), "--yes")
        assert r.exit_code == 2, r.output
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


@pytest.mark.parametrize("cmd", [["search", "coupon"], ["search", "--title", "coupon"], ["list"]])
@pytest.mark.parametrize("limit", ["-1", "-5"])
def test_a_negative_limit_is_an_error(home, cmd, limit):
    r = run(home, *cmd, "--limit", limit)
    assert r.exit_code == 2 and "limit must be a whole number from 0" in r.stderr, r.output


def test_the_library_refuses_what_cannot_match(archive):
    calls = [
        lambda: archive.list(limit=-1),  # SQLite reads LIMIT -1 as "no limit": every conversation
        lambda: archive.list(offset=-1),
        lambda: archive.list(limit=1 << 63),
        lambda: archive.search("coupon", limit=-1),
        lambda: archive.search("", provider="codex", offset=-3),
        lambda: archive.search("coupon", offset=True),
        lambda: archive.list(since="2026-02", until="2026-01"),
        lambda: archive.search("coupon", since=datetime(2026, 2, 1), until=datetime(2026, 1, 1)),
        lambda: archive.search("since:2026-02 coupon", until="2026-01"),
        lambda: list(archive.conversations().since("2026-02").until("2026-01")),
        lambda: list(archive.conversations().since("2026-02").containing("until:2026-01")),  # ANDed queries
        lambda: archive.search(Query(projects=[" "])),  # a Query built by hand
        lambda: archive.search(Query(ids=[""])),
        lambda: archive.search("", role="robot"),
        lambda: archive.search("", provider=["codex", "openai"]),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(QueryError):
            call()
            pytest.fail(f"call {i} did not raise")


def test_a_keyword_date_replaces_the_one_in_the_text_before_the_range_is_judged(archive):
    """since:2030 in the text, replaced by the keyword since=2020: the range is 2020-2025, fine."""
    res = archive.search("since:2030 coupon", since="2020", until="2025")
    assert res.total_conversations == 0


@pytest.mark.parametrize(
    "text",
    [
        "since:2099",
        "until:1990",
        "project:nowhere-at-all",
        "model:no-such-model",
        "id:zzzz",
        "title:zzzzqq",
        "role:user since:2099",
    ],
)
def test_a_filter_this_archive_holds_nothing_for_answers_zero(home, archive, text):
    """The line: nothing here matches, but something could (a later sync): not an error."""
    r = run(home, "search", text, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [] and "0 conversations, 0 messages matched" in r.stderr
    assert archive.search(text, cache=False).total_conversations == 0


def test_mcp_refuses_what_cannot_match(home):
    pytest.importorskip("mcp")
    from test_mcp import Session
    from test_mcp import run as run_mcp

    async def body(s: Session):
        for args in (
            {"query": "coupon", "since": "2026-02", "until": "2026-01"},
            {"query": "since:2026-02 until:2026-01"},
            {"query": 'project:" "'},
            {"query": "", "provider": "claude-ai"},
        ):
            err = await s.error("search", **args)
            assert "leave no time" in err or "needs a value" in err or "unknown provider" in err, err
        err = await s.error("list_conversations", since="2026-02", until="2026-01")
        assert "leave no time to match" in err
        assert (await s.ok("search", query="since:2099"))["total"] == {"conversations": 0, "messages": 0}
        # role:/kind: alone list conversations, with the library's totals
        with Archive(home) as a:
            want = a.search("kind:thinking", cache=False)
        got = await s.ok("search", query="", kind="thinking", limit=50)
        assert got["total"] == {"conversations": want.total_conversations, "messages": want.total_messages}
        assert [c["id"] for c in got["results"]] == [c["id"] for c in want.conversations][:50]
        both = await s.ok("search", query="role:user")
        assert both["total"]["conversations"] > 0
        # ... and each listed conversation names its matching messages, to read around
        assert all(r["hits"] and all(h["role"] == "user" for h in r["hits"]) for r in both["results"])

    run_mcp(home, body)


# ---------------------------------------------------------------- role: and kind: alone


def _messages(archive) -> list[dict]:
    """Every stored message, read and judged in Python: role as role: means it,
    kinds as the index holds them (the tokens of each column), and its time."""
    out = []
    with archive.reader() as conn:
        rows = conn.execute(
            "SELECT m.id, m.mid, m.role, m.flags, coalesce(m.timestamp, c.updated_at), m.content, c.id, c.uid,"
            " c.provider, c.updated_at FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        ).fetchall()
    for rid, mid, role, flags, t, content, cid, uid, provider, updated in rows:
        vals = fts_values(codec.decode_blocks(content))
        out.append(
            {
                "rowid": rid,
                "mid": mid,
                "role": "system" if flags & CONTEXT else role,
                "stored_role": role,
                "kinds": {k for k, v in zip(FTS_COLUMNS, vals) if index_tokens(v)},
                "time": t,
                "conversation": (cid, uid, provider, updated),
            }
        )
    return out


@pytest.fixture(scope="module")
def messages(archive):
    return _messages(archive)


def _ms(text: str | None, end: bool = False) -> int | None:
    d = lang.parse_date(text, end=end) if text else None
    return None if d is None else int(d.timestamp() * 1000)


def _expected(messages, roles, kinds, providers, since, until):
    lo, hi = _ms(since), _ms(until, end=True)
    hits: dict[tuple, list] = {}
    for m in messages:
        if roles and m["role"] not in roles:
            continue
        if kinds and not m["kinds"] & set(kinds):
            continue
        if providers and m["conversation"][2] not in providers:
            continue
        if lo is not None or hi is not None:
            if m["time"] is None or (lo is not None and m["time"] < lo) or (hi is not None and m["time"] >= hi):
                continue
        hits.setdefault(m["conversation"], []).append(m)
    order = sorted(hits, key=lambda c: (-(c[3] if c[3] is not None else -(1 << 62)), -c[0]))
    return order, hits


def _times(archive) -> list[str]:
    with archive.reader() as conn:
        stamps = sorted({t for (t,) in conn.execute("SELECT timestamp FROM messages WHERE timestamp IS NOT NULL")})
    picks = stamps[:: max(1, len(stamps) // 6)] + stamps[-1:]
    return [datetime.fromtimestamp(t / 1000, UTC).isoformat().replace("+00:00", "Z") for t in picks]


_ROLES = st.lists(st.sampled_from(lang.ROLES), max_size=2, unique=True)
_KINDS = st.lists(st.sampled_from(lang.KINDS), max_size=2, unique=True)
_PROVIDERS = st.lists(
    st.sampled_from(["chatgpt", "claude", "claude-code", "codex", "gemini", "gemini-cli"]), max_size=2
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(roles=_ROLES, kinds=_KINDS, providers=_PROVIDERS, data=st.data())
@example(roles=["user"], kinds=[], providers=[], data=None)
@example(roles=[], kinds=["tool_use"], providers=[], data=None)
@example(roles=["system"], kinds=["text"], providers=["claude-code"], data=None)
def test_message_filters_alone_match_a_scan_of_every_message(archive, messages, roles, kinds, providers, data):
    if not (roles or kinds):
        roles = ["assistant"]
    times = _times(archive)
    since = data.draw(st.none() | st.sampled_from(times)) if data else None
    until = data.draw(st.none() | st.sampled_from(times)) if data else None
    if since and until and _ms(since) >= _ms(until, end=True):
        with pytest.raises(QueryError, match="leave no time"):
            archive.search("", role=roles, kind=kinds, provider=providers, since=since, until=until)
        return
    order, hits = _expected(messages, roles, kinds, providers, since, until)
    res = archive.search(
        "", role=roles, kind=kinds, provider=providers, since=since, until=until, limit=100, cache=False
    )
    assert [c["id"] for c in res.conversations] == [c[1] for c in order]
    assert res.total_conversations == len(order)
    assert res.total_messages == sum(len(v) for v in hits.values())
    for c, summary in zip(order, res.conversations):  # hits: the latest matching messages
        latest = sorted(hits[c], key=lambda m: -m["rowid"])[:3]
        assert [h["message_id"] for h in summary["hits"]] == [m["mid"] for m in latest]
        assert [h["role"] for h in summary["hits"]] == [m["stored_role"] for m in latest]
    # the same written as query text, and a page of it
    text = " ".join([f"role:{r}" for r in roles] + [f"kind:{k}" for k in kinds] + [f"provider:{p}" for p in providers])
    text += (f" since:{since}" if since else "") + (f" until:{until}" if until else "")
    by_text = archive.search(text, limit=100, cache=False)
    assert [c["id"] for c in by_text.conversations] == [c[1] for c in order]
    page = archive.search(text, limit=2, offset=1, cache=False)
    assert [c["id"] for c in page.conversations] == [c[1] for c in order][1:3]
    assert (page.total_conversations, page.total_messages) == (res.total_conversations, res.total_messages)


def test_message_filters_and_other_filters_together(archive, messages):
    """role:/kind: with conversation filters (has:, title:) narrow within them."""
    res = archive.search("kind:thinking has:tools", limit=100, cache=False)
    tools = {c["id"] for c in archive.search("has:tools", limit=100, cache=False).conversations}
    order, hits = _expected(messages, [], ["thinking"], [], None, None)
    assert {c["id"] for c in res.conversations} == {c[1] for c in order} & tools
    assert res.total_conversations > 0


def test_exclusions_alone_still_need_a_word(archive):
    for text in ("-coupon", "-coupon role:user", "-coupon kind:text provider:codex", "-coupon provider:codex"):
        with pytest.raises(QueryError, match="add a word|something to find"):
            archive.search(text)


# ---------------------------------------------------------------- the docsize decoding


def _varint(v: int) -> bytes:
    """SQLite's varint: 7 bits a byte, most significant first, the high bit on
    all but the last; past 56 bits the 9th byte holds 8."""
    if v >> 56:
        out = [v & 0xFF]
        v >>= 8
        for _ in range(8):
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        return bytes(reversed(out))
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    return bytes(reversed(out))


_COUNT = st.one_of(st.just(0), st.integers(1, 127), st.integers(128, 1 << 20), st.integers(0, (1 << 64) - 1))


@settings(max_examples=400, deadline=None)
@given(counts=st.lists(_COUNT, min_size=4, max_size=4))
@example(counts=[0, 0, 0, 0])
@example(counts=[128, 0, 5, 0])
@example(counts=[1 << 63, 0, 0, 1])
@example(counts=[300, 1 << 56, 0, 2])
def test_kinds_are_read_from_docsize_blobs_in_python_and_in_sql(counts):
    blob = b"".join(_varint(c) for c in counts)
    want = sum(1 << i for i, c in enumerate(counts) if c)
    assert kinds_in(blob) == want
    conn = sqlite3.connect(":memory:")
    conn.create_function("pl_kinds", 1, kinds_in, deterministic=True)
    conn.execute("CREATE TABLE d (id INTEGER PRIMARY KEY, sz BLOB)")
    conn.execute("INSERT INTO d VALUES (1, ?)", (blob,))
    for col in range(4):
        (got,) = conn.execute(f"SELECT count(*) FROM d WHERE {_has_kind(col)}").fetchone()
        assert got == bool(counts[col]), (counts, col)


def test_the_index_keeps_docsize_rows_to_read(archive):
    """kind: alone reads FTS5's docsize table: an archive must have it (columnsize on)."""
    with archive.reader() as conn:
        n = conn.execute("SELECT count(*) FROM messages_fts_docsize").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM messages_fts_docsize WHERE length(sz) >= 4").fetchone()[0]
    assert n == indexed > 0


_WORDS = ["the", "rust", "python", "error", "zanzibarquux", "a", "lifetime"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    word=st.sampled_from(_WORDS),
    out=st.sampled_from(_WORDS),
    kinds=st.lists(st.sampled_from(lang.KINDS), min_size=1, max_size=2, unique=True),
)
@example(word="the", out="the", kinds=["text"])  # once an fts5 syntax error: kind: and -word together
def test_an_exclusion_with_kinds_removes_exactly_the_messages_holding_it(archive, word, out, kinds):
    """Per message, `W -X kind:K` holds the messages of `W kind:K` that lack X: its count
    is the difference of the two counts the search gives without an exclusion."""
    kind = " ".join(f"kind:{k}" for k in kinds)

    def total(text: str) -> int:
        return archive.search(text, within="message", forms=False, limit=0, cache=False).total_messages

    expected = total(f"{word} {kind}") - (total(f"{word} {out} {kind}") if out != word else total(f"{word} {kind}"))
    assert total(f"{word} -{out} {kind}") == expected
