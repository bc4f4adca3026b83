"""--regex: a Python regular expression tried on the candidate messages (those
the words match, or all the filters allow), with a bound on the work that is
reported, never silent."""

from __future__ import annotations

import re

import orjson
import pytest
from click.testing import CliRunner

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.errors import QueryError
from polylogue.store import fts


def _msg(i, role, blocks, ts):
    return {"id": f"m{i}", "parent_id": f"m{i - 1}" if i else None, "role": role, "timestamp": ts, "blocks": blocks}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("rx")
    convs = []
    for c in range(5):  # 6 messages each, alternating user / assistant, one month apart
        msgs = [
            _msg(
                i,
                "user" if i % 2 == 0 else "assistant",
                [{"type": "text", "text": f"retried {i} times after error E{c}{i:02d}"}],
                f"2025-0{c + 1}-01T00:00:00Z",
            )
            for i in range(6)
        ]
        convs.append(
            {
                "id": f"claude:r{c}",
                "provider": "claude",
                "provider_id": f"r{c}",
                "title": f"retries {c}",
                "created_at": f"2025-0{c + 1}-01T00:00:00Z",
                "updated_at": f"2025-0{c + 1}-01T00:00:00Z",
                "messages": msgs,
            }
        )
    tool = [
        _msg(0, "user", [{"type": "text", "text": "run the build"}], "2025-06-01T00:00:00Z"),
        _msg(
            1,
            "assistant",
            [{"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "make build-42"}}],
            "2025-06-01T00:00:01Z",
        ),
        _msg(
            2,
            "tool",
            [{"type": "tool_result", "id": "t", "text": "error: build-42 failed at step 7"}],
            "2025-06-01T00:00:02Z",
        ),
    ]
    convs.append(
        {
            "id": "codex:b1",
            "provider": "codex",
            "provider_id": "b1",
            "title": "build",
            "created_at": "2025-06-01T00:00:00Z",
            "updated_at": "2025-06-01T00:00:02Z",
            "messages": tool,
        }
    )
    path = d / "rx.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(c) for c in convs) + b"\n")
    a = Archive(d / "home")
    assert a.sync([path]).errors == []
    return a


def test_regex_narrows_the_words_matches(archive):
    res = archive.search("retried", regex=r"retried [24] times", cache=False)
    assert (res.total_conversations, res.total_messages) == (5, 10)
    assert [c["id"] for c in res.conversations] == [f"claude:r{c}" for c in (4, 3, 2, 1, 0)]  # newest first
    for c in res.conversations:
        for h in c["hits"]:
            assert re.search(r"retried [24] times", h["snippet"])
            a, b = h["highlights"][0]
            assert re.fullmatch(r"retried [24] times", h["snippet"][a:b])
    assert res.notes == ["the regex was tried on all 30 candidate messages"]


def test_regex_without_words_reads_what_the_filters_allow(archive):
    res = archive.search("", regex=r"E\d{3}", provider="claude", role="user", since="2025-03-01", cache=False)
    # users' messages (i even) of the conversations from March on
    assert (res.total_conversations, res.total_messages) == (3, 9)
    assert archive.search("", regex=r"E\d{3}", provider="codex", cache=False).total_messages == 0
    assert archive.search("", regex=r"E\d{3}", cache=False).total_messages == 30


def test_regex_respects_kind_and_sees_tool_traffic(archive):
    assert archive.search("", regex=r"build-\d+", cache=False).total_messages == 2
    only_use = archive.search("", regex=r"build-\d+", kind="tool_use", cache=False)
    assert only_use.total_messages == 1 and only_use.conversations[0]["hits"][0]["role"] == "assistant"
    assert archive.search("", regex=r"step \d", kind="tool_result", cache=False).total_messages == 1
    assert archive.search("", regex=r"step \d", kind="text", cache=False).total_messages == 0


def test_the_bound_stops_the_scan_and_says_so(archive):
    with archive.reader() as conn:
        res = fts.regex_search(conn, lang.parse(""), re.compile(r"E\d{3}"), max_messages=7)
        slow = fts.regex_search(conn, lang.parse(""), re.compile(r"E\d{3}"), max_seconds=0)
    # the build conversation, imported last, is read first: 3 messages without a match, then 4 of claude:r4
    assert res.total_messages == 4 and "bound of 7 messages" in res.notes[0] and "tried 7 candidate" in res.notes[0]
    assert "count only those" in res.notes[0]
    assert slow.total_messages == 0 and "bound of 0 seconds" in slow.notes[0]


def test_a_bad_regex_is_a_clear_error(archive):
    with pytest.raises(QueryError) as e:
        archive.search("retried", regex="E(\\d")
    assert "bad regex" in str(e.value) and e.value.position == 1
    r = CliRunner().invoke(cli, ["--home", str(archive.home), "search", "--regex", "E(\\d"])
    assert r.exit_code == 2 and "bad regex" in r.output
    with pytest.raises(QueryError):  # an exclusion alone cannot be evaluated: said, not ignored
        archive.search("-retried", regex="E")
    r = CliRunner().invoke(cli, ["--home", str(archive.home), "search"])
    assert r.exit_code == 2 and "--regex" in r.output


def test_cli_regex_title_and_id_options(archive):
    r = CliRunner().invoke(cli, ["--home", str(archive.home), "search", "--regex", r"step \d", "--json"])
    assert r.exit_code == 0, r.output
    assert "note: the regex was tried on all" in r.output
    assert '"codex:b1"' in r.output
    r = CliRunner().invoke(cli, ["--home", str(archive.home), "search", "retried", "--title", "retries 3", "--json"])
    assert r.exit_code == 0 and '"claude:r3"' in r.output and '"claude:r2"' not in r.output
    r = CliRunner().invoke(cli, ["--home", str(archive.home), "search", "retried", "--id", "claude:r1", "--json"])
    assert r.exit_code == 0 and '"claude:r1"' in r.output and '"claude:r0"' not in r.output


def test_regex_results_are_cached_apart(archive):
    a = archive.search("retried", regex="retried 1 ")
    b = archive.search("retried", regex="retried 3 ")
    assert a.total_messages == b.total_messages == 5
    assert a.conversations[0]["hits"][0]["snippet"] != b.conversations[0]["hits"][0]["snippet"]
