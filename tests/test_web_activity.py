"""The counts behind the calendar, the projects view and the message-count
usage chart: store/activity.py's one SQL pass agrees with the web app's
fallback, which lists every conversation through Archive."""

from __future__ import annotations

from collections import Counter

from helpers import sync_examples

from polylogue.api import Archive
from polylogue.store.activity import activity
from polylogue.store.db import open_reader
from polylogue.web.activity import _from_archive, _from_list, project_rows
from polylogue.web.charts import heatmap, stacked_bars
from polylogue.webapi import WebArchive


def test_sql_counts_match_the_listing(tmp_path):
    home = sync_examples(tmp_path / "home")
    with Archive(home) as a:
        listed = _from_list(a)
    conn = open_reader(home / "polylogue.db")
    try:
        rows = activity(conn)
    finally:
        conn.close()
    per_day: Counter = Counter()
    per_project: Counter = Counter()
    for r in rows:
        if r["day"]:
            per_day[r["day"]] += r["conversations"]
        per_project[r["project"]] += r["conversations"]
    assert per_day == listed.conversations_by_day
    assert per_project == Counter({p: v[0] for p, v in listed.projects.items()})
    assert sum(r["conversations"] for r in rows) == listed.conversations == 14
    assert {r["project"] for r in project_rows(listed)} == set(per_project)


def test_charts_escape_labels_and_link_days():
    svg = heatmap({"2026-03-14": 3, "2026-03-01": 1, "": 5})
    # 52 full weeks and the last one up to Saturday 2026-03-14; the dateless "" is no day
    assert svg.count("<rect") == 52 * 7 + 6 and 'href="/browse?since=2026-03-14&amp;until=2026-03-14"' in svg
    bars, order = stacked_bars(["d1", "d2"], {"<m>": {"d1": 2.0}, "x": {"d2": 1.0}}, unit="tokens")
    assert "&lt;m&gt;" in bars and "<m>" not in bars and order == ["<m>", "x"]


def test_the_archive_counts_agree_with_the_listing(tmp_path):
    home = sync_examples(tmp_path / "home")
    with WebArchive(home) as a:
        listed = _from_list(a)
        counted = _from_archive(a)
    assert counted is not None and counted.exact and not listed.exact
    assert counted.conversations_by_day == listed.conversations_by_day
    assert counted.messages_by_day == listed.messages_by_day
    assert counted.conversations == listed.conversations
    assert {p: v[:2] for p, v in counted.projects.items()} == {p: v[:2] for p, v in listed.projects.items()}
    # the message-count chart: per day and first model
    assert counted.messages_by_day_model == listed.messages_by_day_model


def test_the_server_reads_without_mapping_the_database(tmp_path):
    """The server's memory must not grow with the archive: its read connections do not
    mmap the file (the CLI's do), every one of them, also under threads."""
    from concurrent.futures import ThreadPoolExecutor

    home = sync_examples(tmp_path / "home")
    with Archive(home) as cli_side, cli_side.reader() as conn:
        assert conn.execute("PRAGMA mmap_size").fetchone()[0] > 0
    with WebArchive(home, readers=4) as a:

        def size(_):
            with a.reader() as c:
                return c.execute("PRAGMA mmap_size").fetchone()[0]

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(size, range(64))) == {0}
