"""Exact totals for the archive's most frequent words, counted ahead of time.

A search always reports how many messages and conversations match. For a word
in a million messages that count is a pass over its whole doclist (~100 ms at
5M messages, most of it the distinct-conversation count), paid by every search
for it. So the words common enough for that to matter are counted after each
sync, per block of 2^bits conversations, and a one-word search sums the blocks.

Exact, never stale: the writer deletes a block's counts in the same transaction
that changes any message of that block (writer.py), and a word's counts are
used only when every block has them (all in one statement, one snapshot);
otherwise the search counts as before. A sync then recounts only the blocks it
touched: new conversations land in the last block, an edit in one or two.

Which words: estimated from a fixed sample of the archive's messages, chosen
again when the archive has doubled. A wrong guess costs speed, never accuracy."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable

from .ids import MESSAGE_ID_BITS, rowid_range, sql_conversation_of
from .tokens import index_tokens

BLOCK_BITS = 11  # 2,048 conversations a block: a sync touching one recounts ~1/50 of 100K
MIN_MESSAGES = 200_000  # a word in fewer messages counts in ~20 ms: not worth keeping
MAX_TERMS = 300  # bounds the recount after a sync: ~1 ms per word and block at 5M messages
SAMPLE_MESSAGES = 10_000

_ASCII_TOKEN = re.compile(r"[0-9a-z]+")
_CONV = sql_conversation_of("rowid")


def settings(conn: sqlite3.Connection) -> tuple[int, int]:
    """(block bits, minimum messages): meta keys 'totals_block_bits' and
    'totals_min_messages' override the defaults (tests use small archives)."""
    got = dict(
        conn.execute("SELECT key, value FROM meta WHERE key IN ('totals_block_bits', 'totals_min_messages')").fetchall()
    )
    return int(got.get("totals_block_bits", BLOCK_BITS)), int(got.get("totals_min_messages", MIN_MESSAGES))


def block_shift(conn: sqlite3.Connection) -> int:
    """Shift from a message id to its block."""
    return MESSAGE_ID_BITS + settings(conn)[0]


def lookup(conn: sqlite3.Connection, term: str) -> tuple[int, int] | None:
    """(messages, conversations) holding ``term`` (an index token), or None if
    it is not counted ahead or a block lacks its count."""
    n, msgs, convs, top, bits = conn.execute(
        "SELECT count(*), sum(messages), sum(conversations), (SELECT max(id) FROM conversations), "
        "(SELECT value FROM meta WHERE key = 'totals_block_bits') FROM term_totals WHERE term = ?",
        (term,),
    ).fetchone()
    if not n or top is None:
        return None
    bits = BLOCK_BITS if bits is None else int(bits)
    return (msgs, convs) if n == (top >> bits) + 1 else None


def refresh(conn: sqlite3.Connection, progress: Callable[[int, int], None] | None = None) -> int:
    """Count what is missing (after a sync; the caller holds the sync lock, so
    nothing else writes). Returns how many (word, block) counts were made."""
    bits, min_messages = settings(conn)
    total = conn.execute("SELECT coalesce(sum(messages), 0) FROM provider_totals").fetchone()[0]
    chosen_at = int((conn.execute("SELECT value FROM meta WHERE key = 'totals_chosen_at'").fetchone() or (0,))[0])
    if total < min_messages:
        if chosen_at:
            _replace_terms(conn, [], 0)
        return 0
    if not chosen_at or total >= 2 * chosen_at or 2 * total < chosen_at:
        _replace_terms(conn, choose(conn, total, min_messages), total)
    terms = [t for (t,) in conn.execute("SELECT term FROM frequent_terms")]
    top = conn.execute("SELECT max(id) FROM conversations").fetchone()[0]
    if not terms or top is None:
        return 0
    blocks = (top >> bits) + 1
    have = Counter(b for (b,) in conn.execute("SELECT block FROM term_totals"))
    todo = [b for b in range(blocks) if have[b] < len(terms)]
    shift = MESSAGE_ID_BITS + bits
    made = 0
    for i, b in enumerate(todo):
        if progress:
            progress(i, len(todo))
        with conn:  # one block a transaction: short, so readers and checkpoints go on
            conn.execute("BEGIN IMMEDIATE")
            done = {t for (t,) in conn.execute("SELECT term FROM term_totals WHERE block = ?", (b,))}
            rows = []
            for t in terms:
                if t not in done:
                    m, c = conn.execute(
                        f"SELECT count(*), count(DISTINCT {_CONV}) FROM messages_fts "
                        "WHERE messages_fts MATCH ? AND rowid >= ? AND rowid < ?",
                        (_quoted(t), b << shift, (b + 1) << shift),
                    ).fetchone()
                    rows.append((t, b, m, c))
            conn.executemany("INSERT INTO term_totals(term, block, messages, conversations) VALUES (?,?,?,?)", rows)
        made += len(rows)
    if progress and todo:
        progress(len(todo), len(todo))
    return made


def choose(conn: sqlite3.Connection, total: int, min_messages: int) -> list[str]:
    """The words estimated (from a sample of about SAMPLE_MESSAGES messages:
    every k-th conversation, so the same archive gives the same choice) to be
    in at least ``min_messages`` messages, with a margin for sampling error."""
    from . import codec
    from .encode import fts_values

    convs = conn.execute("SELECT id FROM conversations ORDER BY id").fetchall()
    step = max(1, round(len(convs) * SAMPLE_MESSAGES / max(total, 1)))
    df: Counter[str] = Counter()
    sampled = 0
    for (cid,) in convs[::step]:
        for (blob,) in conn.execute("SELECT content FROM messages WHERE id >= ? AND id < ?", rowid_range(cid)):
            words: set[str] = set()
            for v in fts_values(codec.decode_blocks(blob)):
                if v:
                    words.update(_ASCII_TOKEN.findall(v.lower()) if v.isascii() else index_tokens(v))
            df.update(words)
            sampled += 1
    if not sampled:
        return []
    need = 0.7 * min_messages * sampled / total
    return sorted(t for t, n in df.most_common(MAX_TERMS) if n >= need)


def _replace_terms(conn: sqlite3.Connection, terms: list[str], chosen_at: int) -> None:
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        old = {t for (t,) in conn.execute("SELECT term FROM frequent_terms")}
        gone = old - set(terms)
        conn.executemany("DELETE FROM term_totals WHERE term = ?", [(t,) for t in gone])
        conn.executemany("DELETE FROM frequent_terms WHERE term = ?", [(t,) for t in gone])
        conn.executemany("INSERT OR IGNORE INTO frequent_terms(term) VALUES (?)", [(t,) for t in terms])
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('totals_chosen_at', ?)", (chosen_at,))


def verify(conn: sqlite3.Connection) -> list[str]:
    """Problems for `check`: counted words whose block sums differ from a full count."""
    problems = []
    for (t,) in conn.execute("SELECT term FROM frequent_terms").fetchall():
        known = lookup(conn, t)
        if known is None:
            continue
        actual = conn.execute(
            f"SELECT count(*), count(DISTINCT {_CONV}) FROM messages_fts WHERE messages_fts MATCH ?", (_quoted(t),)
        ).fetchone()
        if tuple(actual) != tuple(known):
            problems.append(f"term totals for '{t}': stored {known}, actual {tuple(actual)}")
    return problems


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'
