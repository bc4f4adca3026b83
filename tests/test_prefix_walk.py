"""The newest-first walk for prefix queries past the ranking bound decides
each conversation from a regex expansion of its own words, trusting an empty
probe as "no match" only where that is exact (all text read, all ASCII). Its
pages must equal what the index itself says, conversation by conversation."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.store import fts, scope

WORDS = [
    "some",
    "something",
    "sombre",
    "thin",
    "this",
    "that",
    "so",
    "somé",
    "thé",
    "handsome",
    "xsomx",
    "other",
    "some_thing",
    "SOMEONE",
    "th-is",
    "Ωsom",
    "ｓｏｍｅ",
    "x",
]
QUERIES = [
    "som*",
    "som* thi*",
    "som* OR thi*",
    "th* som*",
    "som* -this",
    "so*",
    "thé*",
    "som* provider:claude",
    "som* role:user",
]

conversations = st.lists(  # conversations of messages of words
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6), min_size=1, max_size=6), min_size=1, max_size=12
)


def _oracle(conn, q) -> list[str]:
    """Newest first, the conversations the index itself says match."""
    match = scope.match_expr(q)
    out = []
    for cid, uid in conn.execute("SELECT id, uid FROM conversations ORDER BY updated_at DESC, id DESC"):
        if conn.execute(
            "SELECT 1 FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "WHERE messages_fts MATCH ? AND messages_fts.rowid >= ? AND messages_fts.rowid < ? "
            + ("AND m.role = 'user' " if q.roles else "")
            + "LIMIT 1",
            (match, cid << 24, (cid + 1) << 24),
        ).fetchone():
            if not q.providers or uid.split(":")[0] in q.providers:
                out.append(uid)
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(convs=conversations)
def test_prefix_walk_equals_the_index(tmp_path_factory, convs):
    d = tmp_path_factory.mktemp("walk")
    lines = []
    for i, msgs in enumerate(convs):
        provider = "claude" if i % 3 else "chatgpt"
        lines.append(
            orjson.dumps(
                {
                    "id": f"{provider}:w{i}",
                    "provider": provider,
                    "provider_id": f"w{i}",
                    "title": "t",
                    "created_at": "2025-01-01T00:00:00Z",
                    "updated_at": f"2025-01-{i + 1:02d}T00:00:00Z",
                    "messages": [
                        {
                            "id": f"m{j}",
                            "parent_id": f"m{j - 1}" if j else None,
                            "role": "user" if j % 2 == 0 else "assistant",
                            "timestamp": "2025-01-01T00:00:00Z",
                            "blocks": [{"type": "text", "text": " ".join(words)}],
                        }
                        for j, words in enumerate(msgs)
                    ],
                }
            )
        )
    (d / "w.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    a = Archive(d / "home")
    assert a.sync([d / "w.jsonl"]).errors == []
    with a.reader() as conn:
        for text in QUERIES:
            q = lang.parse(text)
            q.within = "message"  # the walk of the per-message search (whole conversations: test_whole.py)
            want = _oracle(conn, q)
            res = fts.search(conn, q, limit=50, rank_all=0)
            assert [c["id"] for c in res.conversations] == want, text
            assert res.total_conversations == len(want), text
            for c in res.conversations:  # every hit shown is a real match
                for h in c["hits"]:
                    rid = conn.execute(
                        "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                        "WHERE c.uid = ? AND m.mid = ?",
                        (c["id"], h["message_id"]),
                    ).fetchone()[0]
                    assert conn.execute(
                        "SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? AND rowid = ?",
                        (scope.match_expr(q), rid),
                    ).fetchone(), (text, c["id"], h)
    a.close()
