"""Archive.search(timeout=...): a search by words stops with SearchTimeout once
its time is up, gives the very same answer when it finishes in time, and leaves
the pooled connection as it found it (the web app's facet counts rely on all three)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue.api import Archive
from polylogue.errors import QueryError, SearchTimeout

REPO = Path(__file__).resolve().parent.parent
WORDS = ["that", "the", "home", "read", "hom*", "they", '"the test"', "zzzqqq", "-that", "provider:codex", "role:user"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A generated world of 120 conversations (~6K messages), imported."""
    root = tmp_path_factory.mktemp("timeout")
    world = root / "world"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(world), "--conversations", "120"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    a = Archive(root / "home", readers=1)  # one connection: a limit left behind would hit the next search
    assert not a.sync([p for p in world.rglob("*") if p.is_file()]).errors
    yield a
    a.close()


def test_a_search_out_of_time_stops_and_the_connection_reads_on(archive):
    with pytest.raises(SearchTimeout, match="longer than"):
        archive.search("that OR the OR home", timeout=1e-9, cache=False)
    assert isinstance(SearchTimeout("x"), QueryError)  # front ends show it as one line, exit 2
    full = archive.search("that OR the OR home", cache=False)
    assert full.total_conversations > 100  # the same connection, without the limit


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
def test_in_time_the_answer_is_the_same(archive, words):
    text = " ".join(words)
    try:
        plain = archive.search(text, cache=False).to_json()
    except QueryError as e:
        with pytest.raises(QueryError, match=str(e.reason)[:20]):
            archive.search(text, cache=False, timeout=60)
        return
    assert archive.search(text, cache=False, timeout=60).to_json() == plain
