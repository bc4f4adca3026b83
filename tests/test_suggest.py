"""Typo suggestions (issue 19): a search that finds nothing offers the closest
indexed words, in the library, the CLI and MCP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polylogue.api import Archive
from polylogue.search import corrected
from polylogue.store.suggest import closest, distance
from tests.helpers import run_cli

SESSION = "0b8c1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"


def _line(n: int, role: str, text: str) -> str:
    return json.dumps(
        {
            "type": role,
            "sessionId": SESSION,
            "cwd": "/home/dev/src/db",
            "uuid": f"00000000-0000-4000-8000-{n:012d}",
            "parentUuid": f"00000000-0000-4000-8000-{n - 1:012d}" if n > 1 else None,
            "timestamp": f"2026-03-04T09:{n:02d}:00.000Z",
            "message": {"role": role, "content": text}
            if role == "user"
            else {"role": role, "model": "claude-opus-4", "content": [{"type": "text", "text": text}]},
        }
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A Claude Code session that talks about WAL checkpoints (the examples do not)."""
    root = tmp_path_factory.mktemp("suggest")
    folder = root / "src" / "projects" / "-home-dev-src-db"
    folder.mkdir(parents=True)
    lines = [
        _line(1, "user", "Why does the WAL checkpoint stall while readers hold snapshots?"),
        _line(2, "assistant", "A checkpoint cannot pass a reader's snapshot; the checkpoint waits for the reader."),
        _line(3, "user", "Then schedule the checkpoint after the backup finishes."),
    ]
    (folder / f"{SESSION}.jsonl").write_text("\n".join(lines) + "\n")
    with Archive(root / "home") as a:
        assert not a.sync([root / "src"]).errors
    return root / "home"


def test_the_issues_typo_suggests_checkpoint(home):
    with Archive(home) as a:
        res = a.search("checkpiont")
        assert res.total_conversations == 0
        assert [s.to_json() for s in res.suggestions] == [{"term": "checkpiont", "instead": ["checkpoint"]}]
        assert res.did_you_mean == "checkpoint"
        assert res.to_json()["did_you_mean"] == "checkpoint"
        # the suggestion finds what was meant
        assert a.search(res.did_you_mean).total_conversations == 1


def test_only_unknown_words_are_corrected_and_filters_kept(home):
    with Archive(home) as a:
        res = a.search('"wal checkpoint" snapshots redaers provider:claude-code')
        assert res.total_conversations == 0
        assert [s.term for s in res.suggestions] == ["redaers"]
        assert res.did_you_mean == '"wal checkpoint" snapshots readers provider:claude-code'
        # a query that matches gets no suggestion; nor do words the index holds
        assert a.search("checkpoint").suggestions == []
        assert a.search("checkpoint backup snapshots readers stall zzzz").suggestions == []


def test_nothing_close_means_no_suggestion(home):
    with Archive(home) as a:
        res = a.search("qwertyuiop")
        assert res.total_conversations == 0 and res.suggestions == [] and res.did_you_mean is None
        assert res.to_json()["suggestions"] == []


def test_cli_prints_did_you_mean_and_json_keeps_its_list(home):
    r = run_cli(home, "search", "checkpiont")
    assert r.returncode == 0, r.stderr
    assert "checkpiont: did you mean checkpoint?" in r.stderr and "did you mean: checkpoint" in r.stderr
    j = run_cli(home, "search", "checkpiont", "--json")
    assert j.returncode == 0 and json.loads(j.stdout) == []
    assert "did you mean: checkpoint" in j.stderr


def test_mcp_returns_the_suggestions(home):
    from polylogue.mcp_server import _Tools as Tools

    out = Tools(Archive(home)).search("checkpiont", 10, 0, {})
    assert out["suggestions"] == [{"term": "checkpiont", "instead": ["checkpoint"]}]
    assert out["did_you_mean"] == "checkpoint"
    assert "suggestions" not in Tools(Archive(home)).search("checkpoint", 10, 0, {})


def test_ranking_nearest_then_first_letter_then_frequency():
    cands = {"change": 50, "chance": 900, "hcange": 5, "charge": 10, "orange": 1000, "chan": 3}
    assert closest("chnage", cands)[0] == "change"  # one swap beats two substitutions, however frequent
    assert closest("chang", {"chant": 1, "change": 2, "khang": 99}) == ["change", "chant", "khang"]
    assert closest("teh", {"the": 5, "tea": 1, "ten": 9, "eth": 99}) == ["ten", "the", "tea"]  # 'eth' starts otherwise


def _reference(a: str, b: str) -> int:
    """Optimal string alignment distance, the textbook table."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


@settings(max_examples=300, deadline=None)
@given(st.text("abcd", max_size=8), st.text("abcd", max_size=8), st.integers(0, 3))
def test_distance_matches_the_table_up_to_its_bound(a, b, bound):
    assert distance(a, b, bound) == min(_reference(a, b), bound + 1)


def test_corrected_replaces_words_only():
    assert corrected("Checkpiont (wal)", {"checkpiont": "checkpoint"}) == "checkpoint (wal)"
    assert corrected('"checkpiont" -checkpiont title:checkpiont', {"checkpiont": "checkpoint"}) is None
