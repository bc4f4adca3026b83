"""Search that finds what a person means (docs/cli.md, search: "Whole
conversations", "Word forms"): titles are searched, the words of a query may
be spread over a conversation, a word finds its English inflections, a typo
gets a suggestion. The user-facing cases run through the CLI; the semantics
are compared with a brute-force scan of a small archive, whatever the read
strategy (read outright, probed per conversation, or read whole)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from polylogue import search as lang
from polylogue.api import Archive
from polylogue.store import forms as word_forms
from polylogue.store import fts
from tests.helpers import run_cli


def _conversation(cid: str, title: str, texts: list[str], day: int = 1, roles: list[str] | None = None) -> dict:
    provider, pid = cid.split(":")
    return {
        "id": cid,
        "provider": provider,
        "provider_id": pid,
        "title": title,
        "created_at": f"2025-01-{day:02d}T00:00:00Z",
        "updated_at": f"2025-01-{day:02d}T00:00:00Z",
        "messages": [
            {
                "id": f"m{j}",
                "parent_id": f"m{j - 1}" if j else None,
                "role": (roles[j] if roles else ("user" if j % 2 == 0 else "assistant")),
                "timestamp": f"2025-01-{day:02d}T00:00:00Z",
                "blocks": [{"type": "text", "text": t}],
            }
            for j, t in enumerate(texts)
        ],
    }


EVERYDAY = [
    _conversation(
        "chatgpt:pasta", "Weeknight pasta", ["what can I cook tonight with garlic and tomatoes", "Try this."]
    ),
    _conversation("claude:fixture", "Debug a failing pytest fixture", ["my conftest breaks", "Scope it per module."]),
    *[
        _conversation(
            f"chatgpt:rust{i}",
            f"Rust lifetimes, part {i}",
            ["I am learning Rust this month", "The borrow checker wants an explicit lifetime here", "ok"],
            day=2 + i,
        )
        for i in range(3)
    ],
    _conversation("codex:wal", "Database tuning", ["when does the WAL checkpoint run?", "After 1000 pages."], day=6),
    _conversation("codex:walexact", "More tuning", ["checkpointing is slow", "Use a passive one."], day=7),
    _conversation("claude:other", "Gardening", ["rust on the leaves of my roses", "Remove them."], day=8),
]


@pytest.fixture(scope="module")
def everyday(tmp_path_factory):
    d = tmp_path_factory.mktemp("everyday")
    (d / "convs.jsonl").write_bytes(b"\n".join(orjson.dumps(c) for c in EVERYDAY) + b"\n")
    home = d / "home"
    with Archive(home) as a:
        assert a.sync([d / "convs.jsonl"]).errors == []
    return home


def _ids(home, *args: str) -> list[str]:
    r = run_cli(home, "search", *args, "--json")
    assert r.returncode == 0, r.stderr
    return [c["id"] for c in orjson.loads(r.stdout)]


def test_a_title_word_finds_the_conversation(everyday):
    assert _ids(everyday, "pasta") == ["chatgpt:pasta"]
    assert _ids(everyday, "pytest") == ["claude:fixture"]
    assert _ids(everyday, "pasta", "--within", "message") == []  # the old search: messages only


def test_words_spread_over_a_conversation_find_it(everyday):
    # no message holds both words; the title or another message holds the other
    assert sorted(_ids(everyday, "rust", "lifetimes")[:3]) == ["chatgpt:rust0", "chatgpt:rust1", "chatgpt:rust2"]
    assert "claude:other" not in _ids(everyday, "rust", "lifetimes")  # rust, but no lifetime
    assert _ids(everyday, "rust", "lifetimes", "--within", "message") == []
    r = run_cli(everyday, "search", "rust", "lifetimes", "--json")
    hits = orjson.loads(r.stdout)[0]["hits"]
    assert {h["message_id"] for h in hits} == {"m0", "m1"}  # the hits are the messages holding a word


def test_word_forms_and_exact_forms(everyday):
    # checkpointing finds checkpoint; the message with the form typed ranks first
    assert _ids(everyday, "checkpointing") == ["codex:walexact", "codex:wal"]
    assert _ids(everyday, "checkpoint") == ["codex:wal", "codex:walexact"]
    assert _ids(everyday, '"checkpointing"') == ["codex:walexact"]  # quotes: this form only
    assert _ids(everyday, "checkpointing", "--exact") == ["codex:walexact"]


def test_a_typo_gets_a_suggestion(everyday):
    r = run_cli(everyday, "search", "checkpiont")
    assert r.returncode == 0
    assert "did you mean checkpoint" in r.stderr
    r = run_cli(everyday, "search", "checkpiont", "--json")
    assert orjson.loads(r.stdout) == [] and "did you mean: checkpoint" in r.stderr


def test_near_is_an_error_not_a_silent_zero(everyday):
    r = run_cli(everyday, "search", "NEAR(wal checkpoint)")
    assert r.returncode == 2
    assert "NEAR is not supported" in r.stderr and "^" in r.stderr


def test_totals_and_mcp_agree(everyday):
    with Archive(everyday) as a:
        res = a.search("rust lifetimes")
        assert (res.total_conversations, res.total_messages) == (3, 6)
        assert a.search("rust lifetimes", within="message").total_conversations == 0
        with pytest.raises(Exception, match="within"):
            a.search("rust", within="everywhere")


# --- the semantics against a brute-force scan -------------------------------------------------

VOCAB = ["run", "runs", "running", "cat", "cats", "dog", "tree", "trees", "blue", "red", "ran", "runner"]
texts = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4).map(" ".join)
archives = st.lists(
    st.tuples(texts, st.lists(st.tuples(texts, st.sampled_from(["user", "assistant"])), min_size=1, max_size=5)),
    min_size=1,
    max_size=8,
)
terms = st.tuples(st.sampled_from(VOCAB), st.booleans())  # (word, quoted)
queries = st.tuples(
    st.lists(st.lists(terms, min_size=1, max_size=2), min_size=1, max_size=3),  # groups of ORed terms
    st.lists(st.sampled_from(VOCAB), max_size=1),  # exclusions
    st.sampled_from([None, "user"]),  # role:
)


def _query_text(groups, excluded, role) -> str:
    parts = []
    for g in groups:
        alts = [f'"{w}"' if quoted else w for w, quoted in g]
        parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    parts += [f"-{w}" for w in excluded]
    if role:
        parts.append(f"role:{role}")
    return " ".join(parts)


def _brute(convs, groups, excluded, role) -> tuple[set[str], int]:
    """Which conversations match and how many of their messages hold a word group."""

    def holds(words: set[str], term) -> bool:
        w, quoted = term
        return w in words or (not quoted and any(f in words for f in word_forms.forms(w)))

    def group_in(words: set[str], g) -> bool:
        return any(holds(words, t) for t in g)

    def counts(words: set[str]) -> bool:
        return not any(x in words for x in excluded)

    found, messages = set(), 0
    for i, (title, msgs) in enumerate(convs):
        usable = [set(t.split()) for t, r in msgs if role is None or r == role]
        usable = [w for w in usable if counts(w)]
        title_words = set(title.split()) if role is None and counts(set(title.split())) else set()
        if all(any(group_in(w, g) for w in usable) or group_in(title_words, g) for g in groups):
            found.add(f"claude:c{i}")
            messages += sum(1 for w in usable if any(group_in(w, g) for g in groups))
    return found, messages


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(convs=archives, query=queries)
# a form only a title holds: "trees" finds the conversation titled "tree"
@example(convs=[("tree", [("run", "user")])], query=([[("trees", False)]], [], None))
def test_whole_conversations_equal_a_brute_force_scan(tmp_path_factory, convs, query):
    d = tmp_path_factory.mktemp("whole")
    lines = [
        orjson.dumps(_conversation(f"claude:c{i}", title, [t for t, _ in msgs], day=i + 1, roles=[r for _, r in msgs]))
        for i, (title, msgs) in enumerate(convs)
    ]
    (d / "w.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    groups, excluded, role = query
    if any(w == x for g in groups for w, _ in g for x in excluded):
        return  # a word both wanted and excluded: valid, but says nothing here
    text = _query_text(groups, excluded, role)
    want, want_messages = _brute(convs, groups, excluded, role)
    with Archive(d / "home") as a:
        assert a.sync([d / "w.jsonl"]).errors == []
        with a.reader() as conn:
            # every way of reading: outright, a big group probed per conversation, read whole; ranked or newest
            for cap, probe_max, rank_all in (
                (50_000, 3_000, 10_000),
                (1, 3_000, 10_000),
                (1, 0, 0),
                (1, 0, 10_000),
                (2, 1, 1),
            ):
                res = fts.search(conn, lang.parse(text), limit=100, rank_all=rank_all, cap=cap, probe_max=probe_max)
                got = {c["id"] for c in res.conversations}
                assert got == want, (text, cap, probe_max)
                assert (res.total_conversations, res.total_messages) == (len(want), want_messages), text


def test_the_form_typed_ranks_first_searching_messages_too(everyday):
    assert _ids(everyday, "checkpoint", "--within", "message") == ["codex:wal", "codex:walexact"]
    assert _ids(everyday, "checkpointing", "--within", "message") == ["codex:walexact", "codex:wal"]


def test_a_typo_in_the_first_letters_and_a_search_that_finds_little(everyday):
    with Archive(everyday) as a:
        assert a.search("hceckpoint").did_you_mean == "checkpoint"  # the first two letters swapped
        assert a.search("xheckpoint").did_you_mean == "checkpoint"  # the first letter wrong
        res = a.search("garlic OR tomatos")  # finds one conversation: the unknown word still gets a suggestion
        assert res.total_conversations == 1
        assert res.did_you_mean == "garlic OR tomatoes"


def test_titles_obey_the_conversation_filters(everyday):
    assert _ids(everyday, "pasta", "provider:chatgpt") == ["chatgpt:pasta"]
    assert _ids(everyday, "pasta", "provider:claude") == []
    assert _ids(everyday, "pasta", "--since", "2025-01-02") == []
    assert _ids(everyday, "rust", "lifetimes", "until:2025-01-02") == ["chatgpt:rust0"]  # a bare date: that day too


def test_the_form_typed_ranks_first_however_rare_the_other_form(tmp_path):
    """BM25 gives a rarer form the higher weight; the form typed still comes first,
    and a hit's score is its BM25, not the tier."""
    convs = [
        _conversation("claude:many", "A", ["checkpoint here", "checkpoint there", "checkpoint again"], day=1),
        _conversation("claude:rare", "B", ["Both checkpoints finished quickly"], day=2),
        _conversation("claude:long", "C", ["the checkpoint we ran after the long migration of the tables " * 5], day=3),
    ]
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(orjson.dumps(c) for c in convs) + b"\n")
    with Archive(tmp_path / "h") as a:
        a.sync([tmp_path / "c.jsonl"])
        for within in ("conversation", "message"):
            res = a.search("checkpoint", within=within)
            assert [c["id"] for c in res.conversations][-1] == "claude:rare", within
            assert all(0 <= h["score"] < 100 for c in res.conversations for h in c["hits"]), within
            assert [c["id"] for c in a.search("checkpoints", within=within).conversations][0] == "claude:rare"


@pytest.mark.parametrize(
    "word,form",
    [
        ("checkpointing", "checkpoint"),
        ("lifetimes", "lifetime"),
        ("decorating", "decorated"),
        ("emitters", "emitter"),
        ("refinanced", "refinance"),  # Snowball stems these two apart
        ("stopped", "stopping"),
        ("tries", "try"),
    ],
)
def test_word_forms_of_english_inflections(word, form):
    assert form in word_forms.forms(word)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=20))
def test_word_forms_never_fail_and_are_plain_other_words(word):
    got = word_forms.forms(word)
    assert word not in got and len(set(got)) == len(got)
    assert all(f.isascii() and f.isalpha() and f.islower() for f in got)
    assert not got or word_forms.expandable(word)
