"""One typed query path: the library's keyword filters, the query language,
`list`, a search without words, a search with words and a regex search all
select conversations through one compiler (store/query.py), on a real archive
of the shipped examples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from polylogue import providers
from polylogue import search as lang
from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.errors import QueryError
from polylogue.mcp_server import _Tools
from polylogue.store import fts, queries
from polylogue.store.query import BY_SPAN, BY_UPDATE, compile_filters, where_sql

REPO = Path(__file__).resolve().parent.parent
STORED = ("chatgpt", "claude", "claude-code", "codex", "gemini", "gemini-cli")  # providers in examples/


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    h = tmp_path_factory.mktemp("querypath") / "archive"
    with Archive(h) as a:
        assert not a.sync([REPO / "examples"]).errors
    return h


@pytest.fixture(scope="module")
def archive(home):
    with Archive(home) as a:
        yield a


def _ids(rows) -> list[str]:
    return [c["id"] for c in rows]


# ---------------------------------------------------------------- the two bugs


def test_project_like_metacharacters_are_literal_in_list_as_in_search(archive):
    """Regression: list's LIKE was not escaped, so project="_" matched every
    conversation with a project (5 on the examples) while search found none."""
    assert any(c["project"] for c in archive.list(limit=100))
    assert archive.list(project="_") == []
    assert archive.search("", project="_").total_conversations == 0
    assert archive.list(project="%") == []
    assert _ids(archive.list(project="/src/")) == _ids(archive.search("", project="/src/", limit=100).conversations)
    assert archive.list(project="/src/")


def test_a_keyword_filter_value_is_a_value_not_query_text(archive):
    """Regression: keyword filters were written out as query text and parsed
    again, so a quote in a value ended it and the rest became filters: this
    project filter also asked for provider:codex (and found the codex
    sessions under /src)."""
    value = 'src" provider:"codex'
    res = archive.search("", project=value)
    assert res.total_conversations == 0  # no project contains that text
    assert archive.list(project=value) == []
    q = lang.with_filters(lang.Query(), {"project": value, "title": 'a" provider:"claude'})
    assert q.providers == [] and q.projects == [value]
    assert [t.tokens for t in q.titles] == [["a", "provider", "claude"]]


def test_cli_list_and_mcp_list_conversations_agree(home, archive):
    tools = _Tools(archive)
    for filters in ({"project": "_"}, {"project": "webshop"}, {"provider": ["codex"]}, {"since": "2026-03-01"}, {}):
        args = []
        for key, value in filters.items():
            for v in value if isinstance(value, list) else [value]:
                args += [f"--{key}", v]
        r = CliRunner().invoke(cli, ["--home", str(home), "list", "--json", *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        mcp = tools.list(200, 0, filters)
        assert [c["id"] for c in json.loads(r.stdout)] == [c["id"] for c in mcp["results"]], filters
        assert mcp["total"] == len(mcp["results"])


# ---------------------------------------------------------------- list == search without words

_VALUE = st.text(alphabet="%_\\\"' /-srcwebshopldgtXY", min_size=1, max_size=6)
_DATES = st.sampled_from([None, "2025-03-11", "2025-06", "2026-02-14", "2026-03-04T09:16:00Z", "2030"])


def _expected(rows: list[dict], f: dict) -> list[str]:
    """What the filters select, written out in Python: substring (ASCII case
    folded, as LIKE does), provider set, last update within [since, until)."""
    since = lang.parse_date(f["since"]) if f["since"] else None
    until = lang.parse_date(f["until"], end=True) if f["until"] else None
    out = []
    for c in rows:
        updated = datetime.fromisoformat(c["updated_at"].replace("Z", "+00:00")).astimezone(UTC)
        if f["provider"] and c["provider"] not in f["provider"]:
            continue
        needle = (f["project"] or "").strip().lower()
        if needle and needle not in (c["project"] or "\0").lower():
            continue
        if (since and updated < since) or (until and updated >= until):
            continue
        out.append(c["id"])
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    provider=st.lists(st.sampled_from(STORED), max_size=2, unique=True),
    project=st.none() | _VALUE,
    since=_DATES,
    until=_DATES,
)
@example(provider=[], project="_", since=None, until=None)
@example(provider=[], project="\\", since=None, until=None)
@example(provider=["codex"], project='" provider:"claude', since=None, until=None)
def test_list_and_search_without_words_select_the_same(archive, provider, project, since, until):
    f = {"provider": provider, "project": project, "since": since, "until": until}
    if since and until and lang.parse_date(since) >= lang.parse_date(until, end=True):
        for call in (lambda: archive.list(**f), lambda: archive.search("", **f, cache=False)):
            with pytest.raises(QueryError, match="leave no time to match"):  # tests/test_filters.py
                call()
        return
    listed = archive.list(**f, limit=1000)
    searched = archive.search("", **f, limit=1000, cache=False)
    assert _ids(listed) == _ids(searched.conversations)
    assert searched.total_conversations == len(listed)
    assert sorted(_ids(listed)) == sorted(_expected(archive.list(limit=1000), f))
    # and the same page of each
    assert _ids(archive.list(**f, limit=2, offset=1)) == _ids(archive.search("", **f, limit=2, offset=1).conversations)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(project=_VALUE, provider=st.sampled_from(STORED))
def test_keyword_filters_and_the_same_filters_in_query_text_agree(archive, project, provider):
    """A filter given as a keyword and the same filter written in the language
    (quoted, where the value can be written at all) select the same conversations."""
    if '"' in project or not project.strip():
        return
    text = f'provider:{provider} project:"{project}"'
    by_text = archive.search(text, limit=100, cache=False)
    by_keyword = archive.search("", provider=provider, project=project, limit=100, cache=False)
    assert _ids(by_text.conversations) == _ids(by_keyword.conversations)


def test_children_and_parent_filter(archive):
    parents = {c["parent_id"] for c in archive.list(limit=100) if c["parent_id"]}
    assert parents  # the examples hold a Claude Code subagent
    for parent in parents:
        kids = archive.list(parent=parent)
        assert kids and all(c["parent_id"] == parent for c in kids)
        assert _ids(archive.children(parent)) == _ids(kids)


# ---------------------------------------------------------------- one compiler


def _statements(archive, run) -> list[str]:
    seen: list[str] = []
    with archive.reader() as conn:
        conn.set_trace_callback(seen.append)
        try:
            run(conn)
        finally:
            conn.set_trace_callback(None)
    return seen


def test_every_path_runs_the_filters_the_compiler_wrote(archive):
    """The WHERE that store/query.py compiles for a query is, verbatim, in the
    statements that listing, a search without words, a search with words and
    a regex search execute."""
    q = lang.parse('provider:claude-code project:"web_shop%" model:opus has:tools id:claude title:x since:2026-01-01')

    def compiled(time) -> tuple[str, str]:
        """The compiled WHERE, as written and with its parameters bound (the
        trace shows statements expanded where SQLite can)."""
        where, args = compile_filters(q, time)
        written = bound = where_sql(where)[len(" WHERE ") :]
        for a in args:
            bound = bound.replace("?", "'" + a.replace("'", "''") + "'" if isinstance(a, str) else str(a), 1)
        return written, bound

    by_update, by_span = compiled(BY_UPDATE), compiled(BY_SPAN)
    assert "c.project LIKE '%web\\_shop\\%%' ESCAPE '\\'" in by_update[1]
    paths = {
        "list": (lambda c: queries.list_conversations(c, q), by_update),
        "search without words": (lambda c: fts.search(c, q), by_update),
        "search": (lambda c: fts.search(c, lang.parse("oauth").and_(q)), by_span),
        "regex": (lambda c: fts.regex_search(c, q, re.compile("x")), by_span),
    }
    for name, (run, forms) in paths.items():
        statements = _statements(archive, run)
        assert any(form in s for s in statements for form in forms), (name, forms, statements)


# ---------------------------------------------------------------- validation at the edge


def test_providers_are_validated_from_the_registry(archive):
    for name in providers.names():
        assert lang.parse(f"provider:{name}").providers == [name]
        assert lang.with_filters(lang.Query(), {"provider": name.upper()}).providers == [name]
    with pytest.raises(QueryError, match="unknown provider 'openai'") as e:
        lang.parse("x provider:openai")
    assert e.value.position == 2
    for call in (
        lambda: archive.list(provider="openai"),
        lambda: archive.search("x", provider=["codex", "openai"]),
        lambda: list(archive.conversations().provider("openai")),
    ):
        with pytest.raises(QueryError, match="unknown provider"):
            call()


def test_keyword_filters_are_checked_like_the_language(archive):
    with pytest.raises(QueryError, match="cannot read the date"):
        archive.list(since="someday")
    with pytest.raises(QueryError, match="role must be one of"):
        archive.search("x", role="robot")
    with pytest.raises(QueryError, match="unknown filter"):
        archive.search("x", colour="red")
    q = lang.with_filters(lang.Query(), {"since": datetime(2026, 1, 1), "has": "tool", "kind": "tool-use"})
    assert q.since == datetime(2026, 1, 1, tzinfo=UTC) and q.has == ["tools"] and q.kinds == ["tool_use"]
    assert lang.with_filters(lang.Query(), {"project": "", "provider": None, "model": []}).has_filters is False


def test_a_query_object_passed_in_is_not_changed(archive):
    q = lang.parse("oauth")
    archive.search(q, provider="codex", regex="x")
    assert q.providers == [] and q.regex is None


def test_chained_queries_build_a_typed_query(archive):
    chain = archive.conversations().provider("claude-code").project('web" provider:"codex').containing("since:2026-01")
    q = chain.query()
    assert q.providers == ["claude-code"] and q.projects == ['web" provider:"codex']
    assert q.since == datetime(2026, 1, 1, tzinfo=UTC)
    assert list(chain) == []
    newest = list(archive.conversations().provider("codex").limit(1))
    assert _ids(newest) == _ids(archive.list(provider="codex", limit=1))


def test_the_store_does_not_import_the_query_language():
    code = (
        "import sys, polylogue.store.fts, polylogue.store.term_totals, polylogue.store.queries;"
        "assert 'polylogue.search' not in sys.modules, 'the store imported polylogue.search'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
