"""Did you mean: the indexed words closest to the words of a query that found little.

Only a word the index does not hold at all is corrected (a word it holds is
spelled as someone wrote it; the query found little for another reason).

Two steps, cheapest first. Every word one edit away (a letter dropped, added,
changed, or two neighbours swapped: ~50 per letter) is looked up in the index
(one seek each, never a doclist read), so a one-edit typo is corrected
wherever it is, the first letters included. Only when none exists, and the
word is longer than 4 letters, the index's own vocabulary (an ``fts5vocab``
table) is read over the words that start with the same two letters, or with
those two swapped, for words two edits away: reading a range costs time in
proportion to how many messages hold its words, so that read is bounded in
time (``RANGE_SECONDS``) and suggests from what it read by then
(docs/benchmarks.md, "Typo suggestions").

Ranked by Damerau-Levenshtein distance (at most 1 for words of up to 4
letters, else 2), then the same first letter, then how many messages hold
the word (counted up to ``COUNT_UP_TO``)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

MAX_SUGGESTIONS = 3
RANGE_SECONDS = 0.02
COUNT_UP_TO = 1000
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
MIN_LENGTH = 3  # 'of' -> 'on', 'a' -> 'i': corrections of very short words are noise
_VOCAB = "temp.polylogue_vocab"


MAX_WORDS = 5  # unknown words of one query that get suggestions


@dataclass
class Suggestion:
    term: str  # the query's word, as the index folds it
    instead: list[str]  # the closest indexed words, best first

    def to_json(self) -> dict[str, object]:
        return {"term": self.term, "instead": self.instead}


def suggest(conn: sqlite3.Connection, words: list[str]) -> list[Suggestion]:
    """For each word (an index token) that the index does not hold, the closest
    words it does hold; words with no close word are left out."""
    out = []
    tried = 0
    for w in dict.fromkeys(words):
        if len(w) < MIN_LENGTH or not w.isascii() or not w.isalpha() or _held(conn, w):
            continue
        tried += 1
        if tried > MAX_WORDS:  # each costs a read of a vocabulary range: a long query stays bounded
            break
        near = closest(w, _one_edit(conn, w))
        if not near and len(w) > 4:
            near = closest(w, _candidates(conn, w))
        if near:
            out.append(Suggestion(w, near))
    return out


def closest(word: str, candidates: dict[str, int]) -> list[str]:
    """The best ``MAX_SUGGESTIONS`` of ``candidates`` (word -> messages holding
    it) within reach of ``word``: nearest first, then same first letter, then
    the more frequent."""
    reach = 1 if len(word) <= 4 else 2
    scored = []
    for cand, docs in candidates.items():
        if cand == word or abs(len(cand) - len(word)) > reach:
            continue
        d = distance(word, cand, reach)
        if d <= reach:
            scored.append((d, cand[0] != word[0], -docs, cand))
    return [c for *_, c in sorted(scored)[:MAX_SUGGESTIONS]]


def distance(a: str, b: str, bound: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment: a swap of two
    neighbours is one edit), or ``bound + 1`` once it must exceed ``bound``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > bound:
            return bound + 1
        prev2, prev = prev, cur
    return min(prev[-1], bound + 1)


def _held(conn: sqlite3.Connection, word: str) -> bool:
    # MATCH ... LIMIT 1 reads one entry per index segment; the vocabulary table
    # would walk the word's whole list of messages to count them
    return (
        conn.execute("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT 1", (f'"{word}"',)).fetchone()
        is not None
    )


def edits1(word: str) -> set[str]:
    """Every word one edit from ``word`` (over a-z)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    out |= {a + c + b for a, b in splits for c in _LETTERS}
    out.discard(word)
    return out


def _one_edit(conn: sqlite3.Connection, word: str) -> dict[str, int]:
    """The words one edit from ``word`` that the index holds (-> messages holding each, up to COUNT_UP_TO)."""
    held = [w for w in sorted(edits1(word)) if len(w) >= MIN_LENGTH - 1 and _held(conn, w)]
    return {
        w: conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT {COUNT_UP_TO})",
            (f'"{w}"',),
        ).fetchone()[0]
        for w in held
    }


def _candidates(conn: sqlite3.Connection, word: str) -> dict[str, int]:
    """Indexed words (-> messages holding each) starting with ``word``'s first
    two letters or those two swapped, of a length within reach."""
    _vocabulary(conn)
    out: dict[str, int] = {}
    deadline = time.monotonic() + RANGE_SECONDS
    # the read stops at the deadline (SQLite calls the handler every 1,000 steps; a true
    # return interrupts the statement), keeping the words read so far
    conn.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
    try:
        for start in dict.fromkeys((word[:2], word[1] + word[0])):
            rows = conn.execute(
                f"SELECT term, doc FROM {_VOCAB} WHERE term >= ? AND term < ? AND length(term) BETWEEN ? AND ?",
                (start, start[:-1] + chr(ord(start[-1]) + 1), len(word) - 2, len(word) + 2),
            )
            for term, doc in rows:
                out[term] = doc
    except sqlite3.OperationalError as e:
        if "interrupt" not in str(e):
            raise
    finally:
        conn.set_progress_handler(None, 0)
    return out


def _vocabulary(conn: sqlite3.Connection) -> None:
    """The vocabulary table, made once per connection in its temporary schema.
    Readers run with query_only (no write reaches the archive); a table in
    ``temp`` lives in this connection's memory, never in the archive file, so
    query_only is lifted for that one statement."""
    if conn.execute("SELECT 1 FROM temp.sqlite_master WHERE name = 'polylogue_vocab'").fetchone():
        return
    query_only = conn.execute("PRAGMA query_only").fetchone()[0]
    conn.execute("PRAGMA query_only = OFF")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE {_VOCAB} USING fts5vocab(idx, messages_fts, row)")
    finally:
        conn.execute(f"PRAGMA query_only = {int(query_only)}")
