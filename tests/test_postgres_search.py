"""The shared archive answers like the local one: the same query, on the same
data pushed to a real PostgreSQL, finds the same conversations, the same
totals and the same hit messages as SQLite (ranking scores apart). Data: the
shipped examples and a generated world (benchmarks/generate.py, CJK included);
queries: a fixed list of every construct, then hypothesis over the archive's
own words."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_server import pg_server  # noqa: F401

from polylogue.api import Archive
from polylogue.errors import PolylogueError, QueryError
from polylogue.pg_archive import PgArchive
from polylogue.push import push
from polylogue.store.postgres.index_text import index_text, lexeme
from polylogue.store.tokens import index_tokens

REPO = Path(__file__).resolve().parent.parent
LIMIT = 10_000

FIXED = [
    "rust",
    "struct lifetime",
    "pars*",
    "fail -rust",
    '"input parser"',
    "redis OR rust",
    "(error OR fail) input",
    "role:user",
    "role:system",
    "kind:thinking",
    "kind:tool_use role:assistant",
    "provider:chatgpt",
    "has:tools",
    "since:2025-06-01",
    "until:2025-06-01 the",
    "the role:assistant kind:text",
    "title:rust",
    "project:a",
    "model:gpt",
    "id:claude",
    "tests",
    "testing",
    "the -the",
]


def _world(tmp: Path) -> Path:
    data = tmp / "world"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "generate.py"),
            str(data),
            "--conversations",
            "72",
            "--messages",
            "14",
            "--chars",
            "220",
            "--seed",
            "5",
        ],
        check=True,
        capture_output=True,
    )
    return data


@pytest.fixture(scope="module", params=["examples", "world"])
def pair(request, pg_server, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp(request.param)
    src = REPO / "examples" if request.param == "examples" else _world(tmp)
    local = Archive(tmp / "home")
    local.sync([src])
    url = pg_server.new_database(f"search_{request.param}")
    push(local, url, machine="laptop")
    shared = PgArchive(url)
    yield local, shared, _vocabulary(local)
    shared.close()
    local.close()


def _vocabulary(local: Archive) -> list[str]:
    words: dict[str, int] = {}
    for c in local.list(limit=40):
        conv = local.conversation(c["id"])
        for t in index_tokens(" ".join([conv.title or ""] + [m.text for m in conv.messages[:6]])):
            words[t] = words.get(t, 0) + 1
    return sorted(words, key=lambda w: (-words[w], w))[:300]


def same(local: Archive, shared: PgArchive, query: str, **kw) -> None:
    try:
        a = local.search(query, limit=LIMIT, cache=False, **kw)
    except QueryError:
        with pytest.raises(QueryError):
            shared.search(query, limit=LIMIT, **kw)
        return
    b = shared.search(query, limit=LIMIT, **kw)
    assert (b.total_conversations, b.total_messages) == (a.total_conversations, a.total_messages), query
    assert {c["id"] for c in b.conversations} == {c["id"] for c in a.conversations}, query
    hits_b = {c["id"]: {h["message_id"] for h in c["hits"]} for c in b.conversations}
    for c in a.conversations:
        mine = {h["message_id"] for h in c["hits"]}
        # fewer than the page's three hits: they are all the conversation's matches, whatever the ranking
        if len(mine) < 3:
            assert hits_b[c["id"]] == mine, (query, c["id"])
        else:
            assert len(hits_b[c["id"]]) == len(mine), (query, c["id"])


@pytest.mark.parametrize("within", ["conversation", "message"])
def test_fixed_queries_match_sqlite(pair, within):
    local, shared, _ = pair
    for q in FIXED:
        same(local, shared, q, within=within)
        same(local, shared, q, within=within, forms=False)


def test_conversations_and_lists_match_sqlite(pair):
    local, shared, _ = pair
    assert shared.list(limit=1000) == _kept(local.list(limit=1000))
    assert shared.list(provider="claude-code", limit=5) == _kept(local.list(provider="claude-code", limit=5))
    for c in local.list(limit=8):
        a, b = local.conversation(c["id"]), shared.conversation(c["id"])
        assert (b.title, b.provider, b.provider_id, b.created_at, b.updated_at, b.models) == (
            a.title,
            a.provider,
            a.provider_id,
            a.created_at,
            a.updated_at,
            a.models,
        )
        assert [(m.id, m.role, m.timestamp, m.blocks, m.active) for m in b.messages] == [
            (m.id, m.role, m.timestamp, m.blocks, m.active) for m in a.messages
        ]
        assert _resolved(shared, c["id"][:-2]) == _resolved(local, c["id"][:-2])
    s, t = shared.stats(), local.stats()
    assert (s["conversations"], s["messages"], s["by_provider"]) == (
        t["conversations"],
        t["messages"],
        t["by_provider"],
    )


def _resolved(archive, ident: str):
    """A prefix resolved, or the error it raises (ambiguous, not found)."""
    try:
        return _kept([archive.resolve(ident)])[0]
    except PolylogueError as e:
        return type(e).__name__


def _kept(rows: list[dict]) -> list[dict]:
    """Summaries without the local-only key: whether the source file is gone (the server cannot tell)."""
    return [{k: v for k, v in r.items() if k != "source_gone"} for r in rows]


@st.composite
def queries(draw, words):
    def term():
        w = draw(st.sampled_from(words))
        kind = draw(st.sampled_from(["plain", "plain", "prefix", "phrase"]))
        if kind == "prefix" and len(w) > 2:
            return w[: draw(st.integers(2, len(w)))] + "*"
        if kind == "phrase":
            return f'"{w} {draw(st.sampled_from(words))}"'
        return w

    groups = []
    for _ in range(draw(st.integers(1, 3))):
        alts = [term() for _ in range(draw(st.integers(1, 2)))]
        groups.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    extra = draw(
        st.lists(
            st.sampled_from(
                [
                    "-" + draw(st.sampled_from(words)),
                    "role:user",
                    "role:assistant",
                    "kind:text",
                    "kind:tool_result",
                    "provider:codex",
                    "has:thinking",
                    "since:2025-03-01",
                    "until:2026-01-01",
                ]
            ),
            max_size=2,
        )
    )
    return " ".join(groups + extra)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_queries_match_sqlite(pair, data):
    local, shared, words = pair
    q = data.draw(queries(words))
    within = data.draw(st.sampled_from(["conversation", "message"]))
    same(local, shared, q, within=within)


def test_machine_and_user_filters(pair):
    local, shared, _ = pair
    everything = shared.search("role:user", limit=LIMIT)
    assert (
        shared.search("role:user", machine="laptop", limit=LIMIT).total_conversations == everything.total_conversations
    )
    assert shared.search("role:user", machine="elsewhere", limit=LIMIT).total_conversations == 0
    assert shared.list(user="postgres", limit=3) == _kept(local.list(limit=3))
    assert shared.list(user="nobody", limit=3) == []


TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), max_codepoint=0x3100) | st.sampled_from("数据库café İß-_/. \n\t"),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_index_text_cuts_like_the_sqlite_index(text):
    assert index_text(text).split() == [lexeme(t) for t in index_tokens(text)]


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(TEXT, min_size=1, max_size=8))
def test_the_server_keeps_our_tokens_and_positions(pg_server, texts):  # noqa: F811
    import psycopg

    with psycopg.connect(pg_server.url()) as c:
        for text in texts:
            lexemes = [lexeme(t) for t in index_tokens(text)]
            want: dict[str, list[int]] = {}
            for i, w in enumerate(lexemes[:16383], 1):
                want.setdefault(w, []).append(i)
            got = c.execute(
                "SELECT lexeme, positions FROM unnest(to_tsvector('simple', %s))", (index_text(text),)
            ).fetchall()
            assert {w: list(p) for w, p in got} == {w: p[:256] for w, p in want.items()}


def test_stream_reads_in_batches_like_the_local_archive(pair):
    local, shared, _ = pair
    for c in local.list(limit=5):
        s1, m1 = local.stream(c["id"], batch=3)
        s2, m2 = shared.stream(c["id"], batch=3)
        assert _kept([s2]) == _kept([s1])
        assert [(m.id, m.blocks) for m in m2] == [(m.id, m.blocks) for m in m1]


def _cli(archive, *args: str):
    """A read command of cli.py run on ``archive`` (the object `--archive URL` hands the commands)."""
    from click.testing import CliRunner

    from polylogue import cli

    command = cli.cli.get_command(None, args[0])
    return CliRunner().invoke(command, list(args[1:]), obj={"home": str(archive.home), "archive": archive})


def test_read_commands_print_the_same_on_both(pair, tmp_path):
    local, shared, _ = pair
    pair_dir = tmp_path
    convs = local.list(limit=6)
    for c in convs:
        a, b = _cli(local, "show", c["id"]), _cli(shared, "show", c["id"])
        assert b.exit_code == 0 and b.stdout == a.stdout, c["id"]
        a, b = _cli(local, "show", c["id"], "--json"), _cli(shared, "show", c["id"], "--json")
        assert json.loads(b.stdout) == json.loads(a.stdout)
        first = local.messages(c["id"], limit=1)
        if first:
            ident = f"{c['id']}:{first[0].id}"
            a, b = _cli(local, "show", ident, "-C", "1"), _cli(shared, "show", ident, "-C", "1")
            assert b.exit_code == 0 and b.stdout == a.stdout, ident
    a, b = _cli(local, "list", "--json"), _cli(shared, "list", "--json")
    assert json.loads(b.stdout) == _kept(json.loads(a.stdout))
    a, b = _cli(local, "search", "role:user", "--json"), _cli(shared, "search", "role:user", "--json")
    assert b.exit_code == 0 and json.loads(b.stdout) == _kept(json.loads(a.stdout))
    for bad in ("nosuchconversation", "(unclosed"):
        a, b = _cli(local, "show", bad), _cli(shared, "search" if "(" in bad else "show", bad)
        assert b.exit_code == a.exit_code != 0
    for fmt in ("markdown", "json"):  # export reads through the same methods: the same files
        outs = [pair_dir / f"{fmt}-{i}" for i in range(2)]
        for archive, out in zip((local, shared), outs):
            r = _cli(archive, "export", "--format", fmt, "--out", str(out), "--yes", "--json")
            assert r.exit_code == 0, r.output
        files = [sorted(p.relative_to(o) for p in o.rglob("*") if p.is_file()) for o in outs]
        assert files[0] == files[1] and len(files[0]) > 1
        for rel in files[0]:
            if rel.name != ".polylogue-export.json":
                assert (outs[1] / rel).read_bytes() == (outs[0] / rel).read_bytes(), rel
    s = _cli(shared, "stats", "--json")
    assert s.exit_code == 0 and json.loads(s.stdout)["conversations"] == len(local.list(limit=1000))


def test_machine_and_user_in_the_query_language(pair):
    local, shared, words = pair
    word = words[0]
    every = shared.search(word, limit=LIMIT)
    assert every.total_conversations > 0
    for text in (f"{word} machine:laptop", f"machine:laptop {word} user:postgres", f'{word} machine:"laptop"'):
        got = shared.search(text, limit=LIMIT)
        assert (got.total_conversations, got.total_messages) == (every.total_conversations, every.total_messages)
    assert shared.search(f"{word} machine:desk", limit=LIMIT).total_conversations == 0
    assert shared.search(f"{word} user:nobody", limit=LIMIT).total_conversations == 0
    assert shared.search("machine:laptop", limit=5).total_conversations == len(local.list(limit=1000))
    # a quoted phrase is words, whatever it holds; a negated one is refused, as for other filters
    assert shared.search(f'"machine:laptop {word}"', limit=1).total_conversations == 0
    with pytest.raises(QueryError):
        shared.search(f"{word} -machine:laptop")
    with pytest.raises(QueryError):
        shared.search(f"{word} --regex x", regex="x")


def test_the_root_archive_option_runs_the_read_commands(pair):
    """`polylogue --archive URL ...` through the real command group: the same answers as
    `--home` on the local archive, the shared filters, and one line for the rest."""
    from click.testing import CliRunner

    from polylogue import cli

    local, shared, words = pair
    runner = CliRunner()

    def on_local(*args: str):
        return runner.invoke(cli.cli, ["--home", str(local.home), *args])

    def on_shared(*args: str, url: str = shared.url):
        return runner.invoke(cli.cli, ["--archive", url, *args])

    a, b = on_local("list", "--json", "--limit", "1000"), on_shared("list", "--json", "--limit", "1000")
    assert b.exit_code == 0, b.output
    assert json.loads(b.stdout) == _kept(json.loads(a.stdout))
    first = json.loads(a.stdout)[0]["id"]
    a, b = on_local("show", first, "--json"), on_shared("show", first, "--json")
    assert b.exit_code == 0 and json.loads(b.stdout) == json.loads(a.stdout)
    a, b = (
        on_local("search", words[0], "--json", "--limit", "500"),
        on_shared("search", words[0], "--json", "--limit", "500"),
    )
    assert (
        b.exit_code == 0 and {c["id"] for c in json.loads(b.stdout)} == {c["id"] for c in json.loads(a.stdout)} != set()
    )
    b = on_shared("search", f"{words[0]} machine:laptop user:postgres", "--json", "--limit", "500")
    assert {c["id"] for c in json.loads(b.stdout)} == {c["id"] for c in json.loads(a.stdout)}
    assert json.loads(on_shared("search", f"{words[0]} machine:elsewhere", "--json").stdout) == []
    s = on_shared("stats", "--json")
    assert s.exit_code == 0 and json.loads(s.stdout)["by_machine"] == {"laptop": len(local.list(limit=1000))}
    # what a shared archive does not answer: one line, exit 2, before any connection
    for cmd, says in (
        ("sync", "works on the local archive"),
        ("forget", "works on the local archive"),
        ("embed", "search, list, show, stats, usage, export, mcp, serve"),
    ):
        r = on_shared(cmd, url="postgresql://u:hunter2@127.0.0.1:1/x")
        assert r.exit_code == 2 and says in r.output and "hunter2" not in r.output, (cmd, r.output)
    r = on_shared("list", url="postgresql://u:hunter2@127.0.0.1:1/x")  # no server there
    assert r.exit_code == 1 and "cannot connect" in r.output and "hunter2" not in r.output and "***" in r.output
    r = on_shared("list", url="postgresql://u:hunter2@db.example.com/x?sslmode=require")
    assert r.exit_code == 1 and "refusing sslmode=require" in r.output and "hunter2" not in r.output
    assert on_shared("list", url=str(local.home)).exit_code == 2


def test_a_search_with_a_time_limit(pair):
    """Archive.search(timeout=...) on the server: the server's statement_timeout; the
    same result within it, errors.SearchTimeout past it (the web page's facets use it)."""
    from polylogue.errors import SearchTimeout

    local, shared, words = pair
    got = shared.search(words[0], limit=LIMIT, timeout=30)
    want = local.search(words[0], limit=LIMIT, cache=False)
    assert (got.total_conversations, got.total_messages) == (want.total_conversations, want.total_messages)
    with pytest.raises(SearchTimeout):
        shared.search(words[0], timeout=0)
    with shared._connection().cursor() as cur:  # a statement the server stops: the same error
        with pytest.raises(SearchTimeout):
            shared._bounded(shared._connection(), 0.001, lambda: cur.execute("SELECT pg_sleep(1)"))
    assert shared.search(words[0], limit=1).total_conversations == want.total_conversations  # usable after


def test_words_the_server_would_read_otherwise_are_found_alike(pg_server, tmp_path):  # noqa: F811
    """The server's parser cuts '12e3abc' into a number in scientific notation and a
    word ('12e3', 'abc'), in the index text as in a query: a push's tsvector and the
    query compiler cut such a token the same way (index_text.server_words). A typed
    word that begins with the hex tag ('u8x20', the separator's lexeme) is written in
    hex like a non-ASCII one. The shared archive finds what the local one finds."""
    from tests.test_whole import _conversation

    texts = [["the 12e3abc units", "a reply"], ["0e0a and 1e5e5", "x"], ["plain 7e2 here", "0e00e0 too"]]
    texts.append(["typed u8x20 and u8xe4b8ad", "中 here"])  # the separator's lexeme, a hex lexeme, typed
    lines = [orjson.dumps(_conversation(f"claude:s{i}", f"title {i}", t)) for i, t in enumerate(texts)]
    (tmp_path / "w.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    local = Archive(tmp_path / "home")
    assert local.sync([tmp_path / "w.jsonl"]).errors == []
    url = pg_server.new_database("scientific")
    push(local, url, machine="laptop")
    shared = PgArchive(url)
    try:
        for q in ["12e3abc", "0e0a", "1e5e5", "7e2", "0e00e0", "12e3ab*", "0e0*", '"12e3abc units"', "units"] + [
            "u8x20",
            "u8xe4b8ad",
            "u8x*",
            "中",
        ]:
            got = local.search(q, limit=LIMIT, cache=False)
            assert got.total_messages >= 1, q
            same(local, shared, q)
    finally:
        shared.close()
        local.close()
