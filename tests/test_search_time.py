"""since:/until: decide whole conversations from their time span (first_ts,
last_ts) and look at single messages only where a conversation straddles a
bound. Every answer is checked against a plain per-message count."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson
import pytest

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.store import fts

DAY = 86_400_000
BASE = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)


def iso(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def build(tmp_path, seed: int = 7):
    """40 conversations: some within a day, some spanning months, some with
    untimed messages (their time is the conversation's), some with no time at all."""
    rnd = random.Random(seed)
    convs = []
    for c in range(40):
        start = BASE + rnd.randrange(0, 200) * DAY
        span = rnd.choice([0, DAY, 30 * DAY, 120 * DAY])
        untimed = c % 7 == 3
        timeless = c % 11 == 5
        msgs = []
        for i in range(rnd.randrange(1, 12)):
            t = start + (span * i // 10)
            m = {
                "id": f"m{i}",
                "parent_id": f"m{i - 1}" if i else None,
                "role": "user" if i % 2 == 0 else "assistant",
                "blocks": [{"type": "text", "text": f"timeword{'' if i % 3 else ' rarer'} item {i}"}],
            }
            if not timeless and not (untimed and i % 2):
                m["timestamp"] = iso(t)
            msgs.append(m)
        conv = {"id": f"claude:t{c}", "provider": "claude", "provider_id": f"t{c}", "title": f"t{c}", "messages": msgs}
        if not timeless:
            conv["created_at"], conv["updated_at"] = iso(start), iso(start + span + DAY)
        convs.append(conv)
    path = tmp_path / "timed.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(c) for c in convs) + b"\n")
    return path


def oracle(archive: Archive, word: str, lo: int | None, hi: int | None) -> tuple[int, int]:
    """Messages whose text holds ``word`` and whose time (own, else the conversation's) is in [lo, hi)."""
    sql = (
        "SELECT m.conversation_id FROM messages_fts f JOIN messages m ON m.id = f.rowid "
        "JOIN conversations c ON c.id = m.conversation_id WHERE messages_fts MATCH ?"
    )
    args: list = [word]
    if lo is not None or hi is not None:  # no filter: timeless messages count too
        sql += " AND coalesce(m.timestamp, c.updated_at) >= ? AND coalesce(m.timestamp, c.updated_at) < ?"
        args += [-(1 << 62) if lo is None else lo, (1 << 62) if hi is None else hi]
    with archive.reader() as conn:
        rows = conn.execute(sql, args).fetchall()
    return len(rows), len({r[0] for r in rows})


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("time")
    a = Archive(d / "home")
    assert a.sync([build(d)]).errors == []
    return a


BOUNDS = [(None, 30), (30, None), (10, 60), (55, 56), (0, 300), (None, None), (150, 151), (-50, 0), (199, 400)]


@pytest.mark.parametrize("lo,hi", BOUNDS)
@pytest.mark.parametrize("word", ["timeword", "rarer", "timew*"])
@pytest.mark.parametrize("rank_all", [10_000, 1])  # relevance ranking, and the newest-first walk
def test_time_filters_match_a_per_message_count(archive, lo, hi, word, rank_all):
    lo_ms = None if lo is None else BASE + lo * DAY
    hi_ms = None if hi is None else BASE + hi * DAY
    text = (
        word + (f" since:{iso(lo_ms)}" if lo is not None else "") + (f" until:{iso(hi_ms)}" if hi is not None else "")
    )
    with archive.reader() as conn:
        res = fts.search(conn, lang.parse(text), limit=100, rank_all=rank_all)
    want = oracle(archive, word, lo_ms, hi_ms)
    assert (res.total_messages, res.total_conversations) == want, text
    shown = {c["id"] for c in res.conversations}
    assert len(shown) == min(100, want[1])
    for c in res.conversations:  # every hit shown is inside the range
        for h in c["hits"]:
            t = (
                int(datetime.fromisoformat(h["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
                if h["timestamp"]
                else None
            )
            if t is not None:
                assert (lo_ms is None or t >= lo_ms) and (hi_ms is None or t < hi_ms), (text, h)


def test_spans_follow_updates(tmp_path):
    """A conversation that grows later widens its span; a since: that only the
    new messages satisfy must find them."""
    a = Archive(tmp_path / "home")
    first = {
        "id": "claude:g",
        "provider": "claude",
        "provider_id": "g",
        "title": "g",
        "created_at": iso(BASE),
        "updated_at": iso(BASE),
        "messages": [
            {"id": "m0", "role": "user", "timestamp": iso(BASE), "blocks": [{"type": "text", "text": "growword old"}]}
        ],
    }
    p = tmp_path / "g.jsonl"
    p.write_bytes(orjson.dumps(first) + b"\n")
    a.sync([p])
    later = dict(
        first,
        updated_at=iso(BASE + 90 * DAY),
        messages=first["messages"]
        + [
            {
                "id": "m1",
                "parent_id": "m0",
                "role": "assistant",
                "timestamp": iso(BASE + 90 * DAY),
                "blocks": [{"type": "text", "text": "growword new"}],
            }
        ],
    )
    p.write_bytes(orjson.dumps(later) + b"\n")
    a.sync([p])
    assert a.search(f"growword since:{iso(BASE + 30 * DAY)}").total_messages == 1
    assert a.search(f"growword until:{iso(BASE + 30 * DAY)}").total_messages == 1
    assert a.search("growword").total_messages == 2
    with a.reader() as conn:
        assert conn.execute("SELECT first_ts, last_ts FROM conversations").fetchone() == (BASE, BASE + 90 * DAY)
