"""Search on a real archive: planted words in every provider and block kind,
code identifiers, CJK substrings, operators, exact totals, the result cache."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.errors import QueryError
from polylogue.store import fts

PROVIDERS = ("chatgpt", "claude", "claude-code", "codex", "gemini", "gemini-cli")
KINDS = ("text", "thinking", "tool_use", "tool_result")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def word(provider: str, kind: str) -> str:
    return "plant" + provider.replace("-", "") + kind.replace("_", "")


def block(kind: str, w: str) -> dict:
    if kind == "text":
        return {"type": "text", "text": f"visible answer with {w} inside"}
    if kind == "thinking":
        return {"type": "thinking", "text": f"private reasoning about {w}"}
    if kind == "tool_use":
        return {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": f"grep -r {w} src/"}}
    return {"type": "tool_result", "id": "t1", "text": f"src/a.py: {w} = 1", "is_error": False}


def conv(provider: str, pid: str, messages: list[dict], title: str = "planted", updated: str = "2026-01-01T00:00:00Z"):
    return {
        "id": f"{provider}:{pid}",
        "provider": provider,
        "provider_id": pid,
        "title": title,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": updated,
        "messages": messages,
    }


def msg(i: int, role: str, blocks: list[dict], ts: str = "2026-01-01T00:00:00Z", **kw) -> dict:
    return {
        "id": f"m{i}",
        "parent_id": f"m{i - 1}" if i else None,
        "role": role,
        "timestamp": ts,
        "blocks": blocks,
        **kw,
    }


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("search")
    convs = []
    for p in PROVIDERS:
        msgs = [msg(0, "user", [{"type": "text", "text": f"question for {p}"}])]
        for i, k in enumerate(KINDS, 1):
            msgs.append(msg(i, "tool" if k == "tool_result" else "assistant", [block(k, word(p, k))]))
        convs.append(conv(p, f"planted-{p}", msgs, title=f"planted {p} conversation"))
    code = (
        "call parse_head() in polylogue/providers/__init__.py, pass --no-wait, build a CamelCaseThing "
        "and read config.store.path"
    )
    cjk = "我们的数据库连接池经常超时，需要调整。Rustの所有権について"
    convs.append(
        conv(
            "codex",
            "code-1",
            [msg(0, "user", [{"type": "text", "text": code}]), msg(1, "assistant", [{"type": "text", "text": cjk}])],
        )
    )
    # 30 messages with one frequent word over 5 conversations, of different ages
    for c in range(5):
        ms_ = [
            msg(
                i,
                "user" if i % 2 == 0 else "assistant",
                [{"type": "text", "text": f"frequentword number {i}"}],
                ts=f"2025-0{c + 1}-01T00:00:00Z",
            )
            for i in range(6)
        ]
        convs.append(conv("claude", f"freq-{c}", ms_, title=f"freq {c}", updated=f"2025-0{c + 1}-01T00:00:00Z"))
    # ranking: a user prompt and a title beat tool output
    convs.append(
        conv(
            "chatgpt",
            "rank-tool",
            [msg(0, "tool", [{"type": "tool_result", "id": "x", "text": "rankword " * 3}])],
            title="logs",
        )
    )
    convs.append(
        conv("chatgpt", "rank-user", [msg(0, "user", [{"type": "text", "text": "rankword please"}])], title="question")
    )
    # an injected context message: role:user must not see it
    convs.append(
        conv("claude-code", "ctx-1", [msg(0, "user", [{"type": "text", "text": "contextonlyword"}], context=True)])
    )
    path = d / "planted.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(c) for c in convs) + b"\n")
    a = Archive(d / "home")
    report = a.sync([path, EXAMPLES])
    assert report.errors == []
    return a


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", KINDS)
def test_planted_word_found_in_every_provider_and_kind(archive, provider, kind):
    w = word(provider, kind)
    res = archive.search(w)
    assert res.total_conversations == 1 and res.total_messages == 1
    c = res.conversations[0]
    assert c["id"] == f"{provider}:planted-{provider}"
    assert c["hits"] and w in c["hits"][0]["snippet"]
    assert archive.search(f"kind:{kind} {w}").total_messages == 1
    other = next(k for k in KINDS if k != kind)
    assert archive.search(f"kind:{other} {w}").total_messages == 0
    assert archive.search(w, provider=provider).total_messages == 1


@pytest.mark.parametrize(
    "query",
    [
        "parse_head",
        "polylogue/providers/__init__.py",
        "__init__.py",
        "--no-wait",
        "CamelCaseThing",
        "config.store.path",
        "store.path",
    ],
)
def test_code_identifiers(archive, query):
    res = archive.search(query)
    assert [c["id"] for c in res.conversations] == ["codex:code-1"], query


@pytest.mark.parametrize(
    "query,found",
    [
        ("连接池", True),
        ("池经", True),
        ("数据库连接池经常超时", True),
        ("池连", False),
        ("所有権", True),
        ("Rustの", True),
    ],
)
def test_cjk_substrings(archive, query, found):
    assert (archive.search(query).total_messages == 1) is found


@pytest.mark.parametrize(
    "query,marked",
    [("连接池", ["连接池"]), ("超时需要", ["超时，需要"]), ("所有権", ["所有権"]), ("数据 调整", ["数据", "调整"])],
)
def test_cjk_hits_show_the_text_as_written(archive, query, marked):
    """The index holds CJK one character a token; a hit shows the message as written, and its
    highlights cover the whole run, punctuation the index skipped included."""
    hit = archive.search(query).conversations[0]["hits"][0]
    assert "我们的数据库连接池经常超时，需要调整。" in hit["snippet"]
    assert sorted(hit["snippet"][a:b] for a, b in hit["highlights"]) == sorted(marked)
    assert archive.search("", regex="池经常").total_messages == 1  # a regex reads the same text


def test_operators(archive):
    assert archive.search('"number 3"').total_messages == 5
    assert archive.search('"3 number"').total_messages == 0
    assert archive.search("frequentw*").total_messages == 30
    assert archive.search("frequentword -number").total_messages == 0
    assert archive.search("rankword OR frequentword").total_messages == 32
    assert archive.search("frequentword number 0", within="message").total_messages == 5
    # whole conversations: each freq conversation holds the three words (its message 0 all of them),
    # and every one of its messages holds one of them
    whole = archive.search("frequentword number 0")
    assert (whole.total_conversations, whole.total_messages) == (5, 30)
    assert [h["message_id"] for h in whole.conversations[0]["hits"]][0].endswith("0")  # the full match first


def test_totals_are_exact_and_ranking_tiers(archive):
    res = archive.search("frequentword", limit=2)
    assert (res.total_conversations, res.total_messages) == (5, 30)
    assert len(res.conversations) == 2
    with archive.reader() as conn:  # past the ranking bound: newest first, totals still exact, and said so
        big = fts.search(conn, lang.parse("frequentword"), limit=3, rank_all=10)
    assert (big.total_conversations, big.total_messages) == (5, 30)
    assert [c["id"] for c in big.conversations] == ["claude:freq-4", "claude:freq-3", "claude:freq-2"]
    assert big.notes and "newest" in big.notes[0]
    with archive.reader() as conn:
        page2 = fts.search(conn, lang.parse("frequentword"), limit=3, offset=3, rank_all=10)
    assert [c["id"] for c in page2.conversations] == ["claude:freq-1", "claude:freq-0"]


def test_prompts_rank_above_tool_output(archive):
    ids = [c["id"] for c in archive.search("rankword").conversations]
    assert ids == ["chatgpt:rank-user", "chatgpt:rank-tool"]


def test_role_user_excludes_injected_context(archive):
    assert archive.search("contextonlyword").total_messages == 1
    assert archive.search("contextonlyword role:user").total_messages == 0
    assert archive.search("contextonlyword role:system").total_messages == 1


def test_filters_compose(archive):
    assert archive.search("frequentword since:2025-03-15").total_conversations == 2
    assert archive.search("frequentword until:2025-02-15").total_conversations == 2
    assert archive.search("frequentword title:freq").total_conversations == 5
    assert archive.search("frequentword title:nothere").total_conversations == 0
    assert archive.search("frequentword id:claude:freq-1").total_conversations == 1
    assert archive.search("zanzibarquux has:thinking").total_conversations >= 1


def test_malformed_and_unknown(archive):
    with pytest.raises(QueryError):
        archive.search('"open')
    with pytest.raises(QueryError) as e:
        archive.search("x provider:openai")
    assert "unknown provider" in str(e.value)


def test_cache_hits_and_invalidation(archive, tmp_path):
    before = archive.cache_hits
    archive.search("zanzibarquux")
    archive.search("zanzibarquux")
    assert archive.cache_hits == before + 1
    stats = archive.stats()["search_cache"]
    assert stats["hits"] >= 1 and 0 < stats["hit_rate"] <= 1
    extra = tmp_path / "more.jsonl"
    extra.write_bytes(
        orjson.dumps(conv("codex", "late", [msg(0, "user", [{"type": "text", "text": "zanzibarquux"}])])) + b"\n"
    )
    n = archive.search("zanzibarquux").total_conversations
    archive.sync([extra])  # a write changes the generation: the cached answer is not reused
    assert archive.search("zanzibarquux").total_conversations == n + 1


def test_prefix_past_the_ranking_bound_shows_real_hits(archive):
    """A huge prefix match set: totals exact, newest first, and every hit shown
    is a message that holds a word with the prefix (the probe is expanded to
    the words the conversation holds, then checked by the index)."""
    with archive.reader() as conn:
        ranked = fts.search(conn, lang.parse("frequentw*"), limit=10)
        big = fts.search(conn, lang.parse("frequentw*"), limit=3, rank_all=10)
        code = fts.search(conn, lang.parse("camelcaset*"), limit=3, rank_all=0)
    assert (
        (big.total_conversations, big.total_messages) == (ranked.total_conversations, ranked.total_messages) == (5, 30)
    )
    assert [c["id"] for c in big.conversations] == ["claude:freq-4", "claude:freq-3", "claude:freq-2"]
    assert all(h["snippet"] and "frequentword" in h["snippet"] for c in big.conversations for h in c["hits"])
    assert len(big.conversations[0]["hits"]) == fts.HITS_PER_CONVERSATION
    assert [c["id"] for c in code.conversations] == ["codex:code-1"] and code.conversations[0]["hits"]


def test_prefix_expansion_splits_identifiers_like_the_index(archive):
    """'hea*' must reach 'head' inside parse_head(): the index splits on '_'."""
    from polylogue.store.fts import _expand_prefixes

    with archive.reader() as conn:
        cid = conn.execute("SELECT id FROM conversations WHERE uid = 'codex:code-1'").fetchone()[0]
        expanded, absent, _ = _expand_prefixes(conn, lang.parse("hea*"), cid)
        res = fts.search(conn, lang.parse("hea* provider:codex"), rank_all=0)
    assert expanded == '"head"' and not absent
    hit = next(c for c in res.conversations if c["id"] == "codex:code-1")["hits"][0]
    assert "parse_head" in hit["snippet"]


def test_prefix_walk_without_the_conversation_set(tmp_path):
    """When most conversations match a prefix, the newest-first walk skips the
    extra pass and tells matches from non-matches itself: 'handsome' and
    'xsomx' hold the letters but no word starting with them. The answer must
    equal the one found with the set of matching conversations (a provider
    filter forces that path)."""
    convs = []
    texts = [
        "some words",
        "somewhere else",
        "handsome only",
        "xsomx",
        "nothing here",
        "Somalia trip",
        "some more",
        "a sombrero",
        "handsome again",
        "so me",
        "somber mood",
        "awesome",
    ]
    for i, t in enumerate(texts):
        convs.append(
            conv(
                "claude",
                f"p{i}",
                [msg(0, "user", [{"type": "text", "text": t}])],
                updated=f"2025-01-{i + 1:02d}T00:00:00Z",
            )
        )
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(c) for c in convs) + b"\n")
    a = Archive(tmp_path / "home")
    assert a.sync([path]).errors == []
    want = [f"claude:p{i}" for i in (10, 7, 6, 5, 1, 0)]  # newest first
    with a.reader() as conn:
        walk = fts.search(conn, lang.parse("som*"), limit=20, rank_all=0)
        with_set = fts.search(conn, lang.parse("som* provider:claude"), limit=20, rank_all=0)
        page2 = fts.search(conn, lang.parse("som*"), limit=2, offset=2, rank_all=0)
    assert [c["id"] for c in walk.conversations] == [c["id"] for c in with_set.conversations] == want
    assert (walk.total_conversations, walk.total_messages) == (6, 6)
    assert [c["id"] for c in page2.conversations] == want[2:4]
