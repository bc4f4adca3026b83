"""The query side must cut and fold words exactly as the index's tokenizer
(unicode61 remove_diacritics 2, after our CJK split) does, or searches find
nothing: NFKD folding once turned デ into テ and split Hangul syllables."""

from __future__ import annotations

import sqlite3

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polylogue.api import Archive
from polylogue.search import index_tokens
from polylogue.textutil import split_cjk

ALPHABET = "abcXYZ019 _-./éÉèçñÅßøœæİıΣσςΩЖжデータコードバーヴぱ한국어검색漢字数据库ﬁ\u0301\u3099,;:!?()\"'"


def sqlite_tokens(text: str) -> list[str]:
    c = sqlite3.connect(":memory:")
    c.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    c.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    c.execute("INSERT INTO t(x) VALUES (?)", (split_cjk(text),))
    return [r[0] for r in c.execute("SELECT term FROM v ORDER BY offset")]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_query_tokens_are_index_tokens(text):
    assert index_tokens(text) == sqlite_tokens(text)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=16))
def test_any_unicode_tokenizes_like_the_index(text):
    """Devanagari vowel signs end a token for unicode61, emoji are token characters..."""
    assert index_tokens(text) == sqlite_tokens(text)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("intl")
    texts = [
        "データベースのバージョンを更新した",
        "한국어 검색 테스트입니다",
        "un café à Zürich",
        "ΣΟΦΙΑ σοφία",
        "नमस्ते मनीष",
    ]
    conv = {
        "id": "claude:intl",
        "provider": "claude",
        "provider_id": "intl",
        "title": "intl",
        "messages": [
            {
                "id": f"m{i}",
                "role": "user",
                "timestamp": "2025-01-01T00:00:00Z",
                "blocks": [{"type": "text", "text": t}],
            }
            for i, t in enumerate(texts)
        ],
    }
    p = d / "intl.jsonl"
    p.write_bytes(orjson.dumps(conv) + b"\n")
    a = Archive(d / "home")
    assert a.sync([p]).errors == []
    return a


@pytest.mark.parametrize(
    "query,found",
    [
        ("データ", 1),
        ("バージョン", 1),
        ("ベース", 1),
        ("ータベ", 1),
        ("テータ", 0),
        ("국어", 1),
        ("검색", 1),
        ("테스트입", 1),
        ("한국어 검색", 1),
        ("café", 1),
        ("cafe", 1),
        ("CAFÉ", 1),
        ("zurich", 1),
        ("σοφια", 1),
        ("मनीष", 1),
    ],
)
def test_japanese_korean_and_accents_are_found(archive, query, found):
    assert archive.search(query).total_messages == found, query
