"""Word forms: a query word also finds its English inflections.

``checkpointing`` finds ``checkpoint``, ``lifetimes`` finds ``lifetime``. The
index itself stays exact (one unstemmed vocabulary: no second index, no
porter tokenizer, so identifiers, paths and CJK are untouched and quotes can
still ask for the exact form). Instead a plain word of the query is expanded
into the forms that share its Snowball (Porter 2) stem: the regular
inflections are generated from the stem (-s, -es, -ed, -ing, a dropped e, a
doubled consonant, y to i) and kept when they stem back to the same stem;
those the index does not hold are dropped at search time (``held``), so a word
with no other form in the archive searches exactly as before.
docs/benchmarks.md ("Word forms") has the measurements behind this choice."""

from __future__ import annotations

import sqlite3
from functools import lru_cache

MIN_LENGTH = 3  # 'is' -> 'i': forms of very short words are noise
_VOWELS = frozenset("aeiou")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: the Snowball project's C stemmers

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def expandable(token: str) -> bool:
    """Only plain lower-case English words get forms: not identifiers with
    digits, not CJK or other scripts, not very short words."""
    return len(token) >= MIN_LENGTH and token.isascii() and token.isalpha() and token.islower()


@lru_cache(maxsize=4096)
def forms(word: str) -> tuple[str, ...]:
    """The other inflections of ``word`` (an index token) that share its stem,
    in a fixed order; empty when it has none or is not expandable."""
    if not expandable(word):
        return ()
    s = stem(word)
    bases = dict.fromkeys([word, *_lemmas(word), s, s + "e"])
    if s.endswith("i"):
        bases[s[:-1] + "y"] = None
    out: dict[str, None] = {}
    for b in bases:
        for f in _inflections(b):
            if f != word and f not in out and f.isalpha() and stem(f) == s:
                out[f] = None
    # Snowball stems some inflections apart from their base (refinanced -> refinanc,
    # refinance -> refin): a base recovered by putting back the e that -ed/-ing drop
    # brings its own forms too
    for lemma in _e_restored(word):
        own = stem(lemma)
        for f in _inflections(lemma):
            if f != word and f not in out and stem(f) in (s, own):
                out[f] = None
    return tuple(out)


def _e_restored(word: str) -> list[str]:
    """refinanced, refinancing -> refinance (a base of at least MIN_LENGTH + 1 letters)."""
    return [
        word[: -len(suffix)] + "e"
        for suffix in ("ed", "ing")
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_LENGTH and word[-len(suffix) - 1] not in _VOWELS
    ]


def _lemmas(word: str) -> list[str]:
    """What ``word`` may be an inflection of: the stem alone can be shorter than
    the word's other forms (decorating -> decor, but decorated, decorate)."""
    out = []
    if word.endswith(("ies", "ied")):
        out.append(word[:-3] + "y")
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_LENGTH:
            b = word[: -len(suffix)]
            out += [b, b + "e"]
            if len(b) > 2 and b[-1] == b[-2] and b[-1] not in _VOWELS:
                out.append(b[:-1])  # stopped -> stop
    return out


def _inflections(b: str) -> list[str]:
    out = [b, b + "s", b + "es", b + "ed", b + "ing"]
    if b.endswith("e"):
        out += [b + "d", b[:-1] + "ing"]
    if b.endswith("y") and len(b) > 2 and b[-2] not in _VOWELS:
        out += [b[:-1] + "ies", b[:-1] + "ied"]
    if len(b) >= 3 and b[-1] not in _VOWELS and b[-1] not in "wxy" and b[-2] in _VOWELS and b[-3] not in _VOWELS:
        out += [b + b[-1] + "ed", b + b[-1] + "ing"]  # stop -> stopped, stopping
    return out


def held(conn: sqlite3.Connection, words: tuple[str, ...], index: str = "messages_fts") -> tuple[str, ...]:
    """The words an index holds (one index lookup each, never a doclist read).
    Messages and titles are asked apart: a title cut at 80 characters ends in
    a fragment ('togeth', 'peopl') that is often a stem, which would only add an
    empty term to every message search for the word; a form only a title
    holds still finds that title."""
    assert index in ("messages_fts", "titles_fts")
    return tuple(
        w for w in words if conn.execute(f"SELECT 1 FROM {index} WHERE {index} MATCH ? LIMIT 1", (f'"{w}"',)).fetchone()
    )
