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
again when the archive has doubled. A wrong guess costs speed, never accuracy.

What is counted is the word as a search asks for it: with its other forms
that the index holds (store/forms.py), keyed by that MATCH expression (the
bare word when it has none), so a form appearing later changes the key and
the old counts simply stop being used until the next sync counts the new
key. Each block also counts the conversations whose title holds the word but
none of whose messages does (a whole-conversation search lists those too);
the writer drops a block's counts when a title in it changes."""

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


def key(word: str, held_forms: tuple[str, ...]) -> str:
    """What the counts of ``word`` searched with these other forms are kept under."""
    return word if not held_forms else "(" + " OR ".join(_quoted(w) for w in (word, *held_forms)) + ")"


MAX_LIVE_BLOCKS = 16  # blocks without kept counts (a sync under way) counted live; more: count it all


def lookup(conn: sqlite3.Connection, term: str) -> tuple[int, int, int] | None:
    """(messages, conversations, conversations matching by title alone) for
    ``term`` (a key()), or None if it is not counted ahead. The blocks a sync
    has touched since its last recount have no kept counts: up to
    MAX_LIVE_BLOCKS of them are counted live, each bounded to its rowid range
    (~1/50 of the word's list at 100K conversations), so a search stays fast
    during a long sync. Kept and live counts are read in one read transaction:
    one snapshot, exact whatever a writer commits meanwhile."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        return _lookup(conn, term)
    finally:
        if own:
            conn.execute("COMMIT")


def _lookup(conn: sqlite3.Connection, term: str) -> tuple[int, int, int] | None:
    n, msgs, convs, titled, top, bits = conn.execute(
        "SELECT count(*), sum(messages), sum(conversations), sum(title_only), (SELECT max(id) FROM conversations), "
        "(SELECT value FROM meta WHERE key = 'totals_block_bits') FROM term_totals WHERE term = ?",
        (term,),
    ).fetchone()
    if not n or top is None:
        return None
    bits = BLOCK_BITS if bits is None else int(bits)
    blocks = (top >> bits) + 1
    if n == blocks:
        return msgs, convs, titled
    if blocks - n > MAX_LIVE_BLOCKS:
        return None
    kept = {b for (b,) in conn.execute("SELECT block FROM term_totals WHERE term = ?", (term,))}
    shift, match = MESSAGE_ID_BITS + bits, _match(term)
    for b in range(blocks):
        if b in kept:
            continue
        m, c = conn.execute(
            f"SELECT count(*), count(DISTINCT {_CONV}) FROM messages_fts "
            "WHERE messages_fts MATCH ? AND rowid >= ? AND rowid < ?",
            (match, b << shift, (b + 1) << shift),
        ).fetchone()
        msgs, convs = msgs + m, convs + c
        titled += len(title_only(conn, term, b << bits, (b + 1) << bits))
    return msgs, convs, titled


def title_only_blocks(conn: sqlite3.Connection, term: str) -> list[tuple[int, int]]:
    """The conversation id ranges [lo, hi) of the blocks where ``term`` has, or
    may have (no kept count), conversations matching by title alone."""
    bits = settings(conn)[0]
    top = conn.execute("SELECT max(id) FROM conversations").fetchone()[0] or 0
    kept = dict(conn.execute("SELECT block, title_only FROM term_totals WHERE term = ?", (term,)).fetchall())
    return [(b << bits, (b + 1) << bits) for b in range((top >> bits) + 1) if kept.get(b, 1)]


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
    terms = _keys(conn)
    top = conn.execute("SELECT max(id) FROM conversations").fetchone()[0]
    if not terms or top is None:
        return 0
    blocks = (top >> bits) + 1
    with conn:  # counts of expansions no longer current (a form appeared, a word left the list)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"DELETE FROM term_totals WHERE term NOT IN ({','.join('?' * len(terms))})", terms)
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
                        (_match(t), b << shift, (b + 1) << shift),
                    ).fetchone()
                    rows.append((t, b, m, c, len(title_only(conn, t, b << bits, (b + 1) << bits))))
            conn.executemany(
                "INSERT INTO term_totals(term, block, messages, conversations, title_only) VALUES (?,?,?,?,?)", rows
            )
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


def title_only(conn: sqlite3.Connection, term: str, lo: int, hi: int) -> set[int]:
    """Conversations with ids in [lo, hi) whose title matches ``term`` (a key())
    but none of whose messages does."""
    match = _match(term)
    return {
        cid
        for (cid,) in conn.execute(
            "SELECT rowid FROM titles_fts WHERE titles_fts MATCH ? AND rowid >= ? AND rowid < ?", (match, lo, hi)
        ).fetchall()
        if not conn.execute(
            "SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= ? AND rowid < ? LIMIT 1",
            (match, *rowid_range(cid)),
        ).fetchone()
    }


def _keys(conn: sqlite3.Connection) -> list[str]:
    """The kept words' keys: each with the other forms the index holds now."""
    from . import forms

    return [
        key(w, forms.held(conn, forms.forms(w))) for (w,) in conn.execute("SELECT term FROM frequent_terms").fetchall()
    ]


def _match(term: str) -> str:
    return term if term.startswith("(") else _quoted(term)


def verify(conn: sqlite3.Connection) -> list[str]:
    """Problems for `check`: counted words whose block sums differ from a full count."""
    problems = []
    for t in _keys(conn):
        known = lookup(conn, t)
        if known is None:
            continue
        actual = conn.execute(
            f"SELECT count(*), count(DISTINCT {_CONV}) FROM messages_fts WHERE messages_fts MATCH ?", (_match(t),)
        ).fetchone()
        actual = (*actual, len(title_only(conn, t, 0, 1 << 62)))
        if tuple(actual) != tuple(known):
            problems.append(f"term totals for '{t}': stored {known}, actual {tuple(actual)}")
    return problems


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'
