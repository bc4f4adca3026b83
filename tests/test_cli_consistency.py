"""The CLI behaves the same way for the same thing (issue: inconsistent behaviour):
paging bounds, words that look like options, filter-only searches, grammar,
the `check` summary and the help of every search option. Run on the shipped
examples (tests/test_cli.py describes them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from polylogue.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("consistency") / "archive"
    r = run(h, "sync", str(EXAMPLES), "--json")
    assert r.exit_code == 0, r.output
    return h


@pytest.mark.parametrize("cmd", [["search", "coupon"], ["list"]], ids=["search", "list"])
def test_negative_offset_is_a_usage_error(home, cmd):
    r = run(home, *cmd, "--offset", "-1")
    assert r.exit_code == 2 and "--offset" in r.stderr, r.output
    assert r.stdout == ""


def test_words_that_look_like_options_go_after_a_double_dash(home):
    found = run(home, "search", "--json", "--", "--dry-run")
    assert found.exit_code == 0, found.output
    assert [c["provider"] for c in json.loads(found.stdout)] == ["gemini-cli"]  # the one session that says it
    rejected = run(home, "search", "--dry-run")
    assert rejected.exit_code == 2
    assert "polylogue search -- --dry-run" in rejected.stderr  # the error says how to search for it
    assert "polylogue search -- --force" in run(home, "search", "--help").stdout


@pytest.mark.parametrize("kind", [["--kind", "tool_use"], ["--role", "user"]], ids=["kind", "role"])
def test_message_filters_alone_answer_like_the_query_form(home, kind):
    """`--kind tool_use` alone is what `kind:tool_use` alone is, and both answer
    as `--title x` alone does: the conversations that hold such messages, newest
    first, with their totals (tests/test_filters.py checks them against a scan)."""
    option = run(home, "search", *kind, "--json", "--limit", "100")
    query = run(home, "search", f"{kind[0][2:]}:{kind[1]}", "--json", "--limit", "100")
    assert option.exit_code == query.exit_code == 0, option.output + query.output
    assert option.stdout == query.stdout and option.stderr == query.stderr
    found = json.loads(query.stdout)
    assert found and all(h["role"] for c in found for h in c["hits"])
    assert [c["updated_at"] for c in found] == sorted((c["updated_at"] for c in found), reverse=True)
    assert "messages matched" in query.stderr and "no search words" in query.stderr
    alone = run(home, "search", "--", "-coupon", f"{kind[0][2:]}:{kind[1]}")  # exclusions still need a word
    assert alone.exit_code == 2 and "add a word" in alone.stderr


def test_conversation_filters_alone_list_conversations(home):
    r = run(home, "search", "--title", "coupon", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 1
    assert "1 conversation, " in r.stderr  # not "1 conversations"


def test_one_is_singular(home, tmp_path):
    assert "1 conversation, 17 messages matched" in run(home, "search", "--title", "coupon").stderr
    src = tmp_path / "src"
    src.mkdir()
    (src / "broken.json").write_text("{not json")
    first = run(tmp_path / "h", "sync", str(src))
    assert "1 problem (listed above)" in first.stdout, first.output
    one = tmp_path / "one"
    one.mkdir()
    (one / "conversations.json").write_text((EXAMPLES / "chatgpt" / "conversations.json").read_text())
    run(tmp_path / "h1", "sync", str(one / "conversations.json"))
    again = run(tmp_path / "h1", "sync", str(one / "conversations.json"))
    assert "Nothing changed: 1 file checked" in again.stdout, again.output


def test_check_explains_its_two_counts(home):
    r = run(home, "check")
    out = json.loads(run(home, "check", "--json").stdout)
    assert out["messages"] > out["indexed"]  # the examples hold a message with nothing to search
    line = r.stdout.strip()
    assert line.startswith("OK: ")
    assert f"{out['messages']} messages checked" in line and f"{out['indexed']} with searchable text" in line
    assert f"{out['messages'] - out['indexed']} with nothing to search" in line


def test_every_search_option_has_help():
    search = cli.commands["search"]
    for p in search.params:
        if p.param_type_name == "option" and "--help" not in p.opts:
            assert p.help, f"search {p.opts[-1]} has no help text"
