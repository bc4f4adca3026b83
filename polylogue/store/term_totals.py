"""Exact totals for the archive's most frequent words, counted ahead of time.

A search always reports how many messages and conversations match. For a word
in a million messages that count is a pass over its whole doclist (~100 ms at
5M messages, most of it the distinct-conversation count), paid by every search
for it. So the words common enough for that to matter are counted after each
sync, per block of 2^bits conversations, and a one-word search sums the blocks.

Exact, never stale: the counts live in the index file beside what they count,
and the indexer deletes a block's counts in the same transaction that changes
any index entry of that block (indexer.py), and a word's counts are
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
the indexer drops a block's counts when a title in it changes.

Each (word, block) also keeps how many of the word's messages each of the
block's conversations holds (``term_convs``, a compressed array, ~0.3-1.5 KB):
a search that needs a frequent word's conversations, or its messages within
some conversations, reads them instead of passing over its whole doclist
(store/whole.py). A block's array counts only while its term_totals row
exists, so the indexer's delete of that row (indexer.py) makes it stale too.

Words in fewer messages, down to a WORD_SHARE-th of the threshold (50,000 at
the defaults: past that a whole-conversation search cannot read a word's
messages outright, whole.CAP), are kept too, for their conversations' counts
(issue 27: `two words` at 5M messages read a big word's conversations from
them instead of a pass over its list). Those "lazy" words (index_state
'totals_lazy') are recounted only once a sync has left more than LAZY_BLOCKS
of their blocks without counts; until then a search counts the missing blocks
live, exact as ever, and a watch's syncs, which land in the last block, cost
them nothing.

Frequent prefixes are kept the same way, under keys like 'som*' (issue 27):
counting `som*` merges the doclists of every word starting so (151 ms at 5M
messages); read from the kept blocks it costs what a kept word does. This is
the "prefix side index" of that issue in its smallest form, totals only: the
page still comes from the index (fts.py walks the newest conversations)."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import time
import zlib
from array import array
from collections import Counter
from collections.abc import Callable
from itertools import compress
from operator import itemgetter

import orjson

from .ids import MESSAGE_ID_BITS, rowid_range, sql_conversation_of
from .tokens import index_tokens

BLOCK_BITS = 11  # 2,048 conversations a block: a sync touching one recounts ~1/50 of 100K
MIN_MESSAGES = 200_000  # an archive with fewer messages keeps nothing; prefixes are kept from a PREFIX_COST-th
# words from a WORD_SHARE-th of that (50,000 messages): a whole-conversation search reads a word
# group in up to that many messages outright (whole.CAP), and a bigger one's conversations come
# from its kept counts instead of a pass over its list (issue 27: ~1,150 words at 5M messages)
WORD_SHARE = 4
WORD_MARGIN = 0.85  # sampling error: a word in 1% of 10,000 sampled messages is seen 100 +- 10 times
MAX_TERMS = 1_500  # bounds the recount after a sync: ~0.5 ms per word and block at 5M messages
# a query 'som*' merges the doclists of every word starting so (151 ms to count at 5M): frequent
# prefixes are kept too, as keys 'som*'. Shorter prefixes are counted at search time, as before.
MIN_PREFIX = 3
# a longer prefix holds few words, so FTS5 merges few doclists to count it: never worth keeping. Sampling
# only prefixes up to this length keeps choose() small (at 5M the same choice; 11 MB left allocated
# after it instead of 21, 1.3 s instead of 2.1)
MAX_PREFIX = 6
MAX_PREFIXES = 100
PREFIX_COST = 4  # a prefix's count merges doclists: ~4x a word's per message, so kept from 1/4 the messages
# recounting a prefix after a sync costs a pass over all its words' doclists (~30 ms at 1M messages,
# ~150 ms at 5M), whatever the blocks touched: a refresh spends at most this much CPU time on them
PREFIX_SECONDS = 0.5
PREFIX_SHARE = 0.5  # or half the time the refresh spent on words, if more (a full import: all blocks)
# meta 'totals_version': below it, the words are chosen again (2: prefixes too; 3: the words in
# 50K+ messages, WORD_SHARE, and prefixes of 3-6 letters). The next sync of an older archive chooses
# again; the words still chosen keep their counts, the new ones are counted (~3 s at 1M messages)
TOTALS_VERSION = 3
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


def prefix_key(token: str) -> str:
    """What the counts of the prefix query ``token*`` are kept under."""
    return token + "*"


LAZY_BLOCKS = 4  # a word under min_messages is recounted once it misses more blocks than this (refresh)
MAX_LIVE_BLOCKS = 16  # blocks without kept counts (a sync under way) counted live; more: count it all


def _snapshot(conn: sqlite3.Connection, read: Callable, term: str):
    """``read(conn, term)`` in one read transaction (the caller's own, if it is in one):
    kept and live counts from one snapshot, exact whatever a writer commits meanwhile."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        return read(conn, term)
    finally:
        if own:
            conn.execute("COMMIT")


def lookup(conn: sqlite3.Connection, term: str) -> tuple[int, int, int] | None:
    """(messages, conversations, conversations matching by title alone) for
    ``term`` (a key()), or None if it is not counted ahead. The blocks a sync
    has touched since its last recount have no kept counts: up to
    MAX_LIVE_BLOCKS of them are counted live, each bounded to its rowid range
    (~1/50 of the word's list at 100K conversations), so a search stays fast
    during a long sync. Kept and live counts are read in one read transaction:
    one snapshot, exact whatever a writer commits meanwhile."""
    return _snapshot(conn, _lookup, term)


def _lookup(conn: sqlite3.Connection, term: str) -> tuple[int, int, int] | None:
    n, msgs, convs, titled, top, bits = conn.execute(
        "SELECT count(*), sum(messages), sum(conversations), sum(title_only), (SELECT max(id) FROM conversations), "
        "(SELECT value FROM meta WHERE key = 'totals_block_bits') FROM term_totals WHERE term = ?",
        (term,),
    ).fetchone()
    if not n or top is None:
        return None
    bits = BLOCK_BITS if bits is None else int(bits)
    if n == (top >> bits) + 1:
        return msgs, convs, titled
    got = _counted(conn, term)
    return None if got is None else (got[0], got[1], len(got[2]))


def counted(conn: sqlite3.Connection, term: str) -> tuple[int, int, set[int]] | None:
    """As lookup(), with the conversations matching by title alone themselves
    rather than their number. In a block with kept counts that holds some,
    they are read from its conversations' counts (term_convs; a probe each
    without them); blocks whose kept counts say none are skipped; a block a
    sync has touched is counted live in one pass over its part of the doclist
    (its conversations' counts: messages, conversations and the title-only ones
    from one statement). One read transaction, so exact."""
    return _snapshot(conn, _counted, term)


def _counted(conn: sqlite3.Connection, term: str) -> tuple[int, int, set[int]] | None:
    top = conn.execute("SELECT max(id) FROM conversations").fetchone()[0]
    rows = conn.execute(
        "SELECT block, messages, conversations, title_only FROM term_totals WHERE term = ?", (term,)
    ).fetchall()
    if not rows or top is None:
        return None
    bits = settings(conn)[0]
    kept = {b: (m, c, t) for b, m, c, t in rows}
    missing = [b for b in range((top >> bits) + 1) if b not in kept]
    if len(missing) > MAX_LIVE_BLOCKS:
        return None
    msgs, convs = sum(v[0] for v in kept.values()), sum(v[1] for v in kept.values())
    titled: set[int] = set()
    some = [b for b, v in kept.items() if v[2]]
    arrays = {}
    if some and _has_convs(conn):
        marks = ",".join("?" * len(some))
        arrays = dict(
            conn.execute(f"SELECT block, counts FROM term_convs WHERE term = ? AND block IN ({marks})", (term, *some))
        )
    for b in some:
        lo, hi = b << bits, (b + 1) << bits
        if b in arrays:
            titled |= titled_without(conn, term, ConvCounts(bits, {b: _unpack(arrays[b])}), lo, hi)
        else:
            titled |= title_only(conn, term, lo, hi)
    for b, counts in _count_blocks(conn, term, missing, bits).items():
        msgs, convs = msgs + sum(counts), convs + sum(1 for n in counts if n)
        titled |= titled_without(conn, term, ConvCounts(bits, {b: array("I", counts)}), b << bits, (b + 1) << bits)
    return msgs, convs, titled


CONVS_TABLE = (
    "CREATE TABLE IF NOT EXISTS idx.term_convs ("
    "term TEXT NOT NULL, block INTEGER NOT NULL, counts BLOB NOT NULL, PRIMARY KEY (term, block)) WITHOUT ROWID"
)


def _has_convs(conn: sqlite3.Connection) -> bool:
    return (
        conn.execute("SELECT 1 FROM idx.sqlite_master WHERE type = 'table' AND name = 'term_convs'").fetchone()
        is not None
    )


def _pack(counts: list[int]) -> bytes:
    """Per-conversation counts of one block as stored: a typecode byte, then the
    little-endian array, compressed (mostly small numbers and zeros)."""
    code = "B" if max(counts, default=0) < 256 else "I"
    a = array(code, counts)
    if sys.byteorder == "big":
        a.byteswap()
    return code.encode() + zlib.compress(a.tobytes(), 1)  # level 1: 2x faster than 6, 13% bigger


def _unpack(blob: bytes) -> array:
    a = array(chr(blob[0]))
    a.frombytes(zlib.decompress(blob[1:]))
    if sys.byteorder == "big":
        a.byteswap()
    return a


class ConvCounts:
    """How many messages holding a kept word each conversation has (0: none):
    one array per block, indexed by the conversation id's low bits."""

    def __init__(self, bits: int, blocks: dict[int, array]):
        self.bits, self.mask, self.blocks = bits, (1 << bits) - 1, blocks
        self._flat: array | None = None

    def get(self, cid: int) -> int:
        a = self.blocks.get(cid >> self.bits)
        i = cid & self.mask
        return a[i] if a is not None and i < len(a) else 0

    def _dense(self, top: int) -> array:
        """The counts of conversations 0..``top`` (at least) as one array: looked up at C speed."""
        flat = self._flat
        if flat is None:
            end = (max(self.blocks) + 1) << self.bits if self.blocks else 0
            flat = array("I", bytes(4 * end))
            for b, a in self.blocks.items():
                base = b << self.bits
                flat[base : base + len(a)] = a if a.typecode == "I" else array("I", a)
        if len(flat) <= top:
            flat.extend(array("I", bytes(4 * (top + 1 - len(flat)))))
        self._flat = flat
        return flat

    def total_in(self, convs: set[int]) -> int:
        """The messages counted in these conversations."""
        if not convs:
            return 0
        return sum(map(self._dense(max(convs)).__getitem__, convs))

    def holding(self, convs: set[int]) -> set[int]:
        """Those of these conversations with at least one of the word's messages."""
        if not convs:
            return set()
        return set(compress(convs, map(self._dense(max(convs)).__getitem__, convs)))

    def nonzero(self) -> dict[int, int]:
        """conversation -> count, for those with any."""
        return {(b << self.bits) + i: n for b, a in self.blocks.items() for i, n in enumerate(a) if n}

    def conversations(self) -> set[int]:
        """Every conversation with at least one of the word's messages."""
        flat = self._dense(0)
        return set(compress(range(len(flat)), flat))  # C speed: 100K counts in ~2 ms


def conv_counts(conn: sqlite3.Connection, term: str) -> ConvCounts | None:
    """Per-conversation message counts of ``term`` (a key()), or None if it is
    not kept. As lookup(): blocks a sync has touched are counted live (up to
    MAX_LIVE_BLOCKS), all in one read transaction, so exact."""
    return _snapshot(conn, _conv_counts, term)


def _conv_counts(conn: sqlite3.Connection, term: str) -> ConvCounts | None:
    if not _has_convs(conn):
        return None
    top = conn.execute("SELECT max(id) FROM conversations").fetchone()[0]
    if top is None:
        return None
    bits = settings(conn)[0]
    rows = conn.execute(
        "SELECT v.block, v.counts FROM term_convs v JOIN term_totals t ON t.term = v.term AND t.block = v.block "
        "WHERE v.term = ?",
        (term,),
    ).fetchall()
    if not rows and not conn.execute("SELECT 1 FROM term_totals WHERE term = ? LIMIT 1", (term,)).fetchone():
        return None  # not a kept word at all
    have = {b: _unpack(blob) for b, blob in rows}
    missing = [b for b in range((top >> bits) + 1) if b not in have]
    if len(missing) > MAX_LIVE_BLOCKS:
        return None
    for b, counts in _count_blocks(conn, term, missing, bits).items():
        have[b] = array("I", counts)
    return ConvCounts(bits, have)


def _per_conversation(conn: sqlite3.Connection, match: str, lo: int, hi: int) -> Counter:
    """How many of the messages with rowids in [lo, hi) match, per conversation, live.
    Counted here, not by a GROUP BY: SQLite would sort every matching row first
    (measured at 5M messages: 85-110 MB for one frequent word, against 2 MB).
    Streamed: for a pass over many blocks (a prefix), where ``_convs_in``'s one
    array would hold every match (millions at 5M)."""
    rows = conn.execute(
        f"SELECT {_CONV} FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= ? AND rowid < ?", (match, lo, hi)
    )
    return Counter(map(itemgetter(0), rows))


def _convs_in(conn: sqlite3.Connection, match: str, lo: int, hi: int) -> Counter[int]:
    """How many messages ``match`` finds in each conversation with message rowids in [lo, hi):
    the conversation ids as one JSON array, counted by Counter (C), 1.8x cheaper than SQL's
    GROUP BY (a sorter) at 5M messages."""
    (got,) = conn.execute(
        f"SELECT json_group_array({_CONV}) FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= ? AND rowid < ?",
        (match, lo, hi),
    ).fetchone()
    return Counter(orjson.loads(got))


def _count_block(conn: sqlite3.Connection, match: str, b: int, bits: int) -> tuple[list[int], int, int]:
    """(per-conversation counts, messages, conversations) of one block, live."""
    shift = MESSAGE_ID_BITS + bits
    counts = [0] * (1 << bits)
    base = b << bits
    found = _convs_in(conn, match, b << shift, (b + 1) << shift)
    for c, n in found.items():
        counts[c - base] = n
    return counts, sum(found.values()), len(found)


def _count_blocks(conn: sqlite3.Connection, term: str, blocks: list[int], bits: int) -> dict[int, list[int]]:
    """Per-conversation counts of ``term`` (a key()) in each of ``blocks``, live.
    A word: block by block (its doclist is seeked to each). A prefix: one pass
    from the first block to the last, as FTS5 merges the doclists of all its
    words whatever the rowid range, so a pass per block would cost that many."""
    match = _match(term)
    if not term.endswith("*") or len(blocks) <= 1:
        return {b: _count_block(conn, match, b, bits)[0] for b in blocks}
    out = {b: [0] * (1 << bits) for b in blocks}
    shift, mask = MESSAGE_ID_BITS + bits, (1 << bits) - 1
    for c, n in _per_conversation(conn, match, min(blocks) << shift, (max(blocks) + 1) << shift).items():
        got = out.get(c >> bits)
        if got is not None:
            got[c & mask] = n
    return out


def titled_without(
    conn: sqlite3.Connection, term: str, counts: ConvCounts | dict[int, int], lo: int = 0, hi: int = 1 << 62
) -> set[int]:
    """Conversations with ids in [lo, hi) whose title matches ``term`` but none
    of whose messages does, from the kept counts (no probe of the index)."""
    return {
        c
        for (c,) in conn.execute(
            "SELECT rowid FROM titles_fts WHERE titles_fts MATCH ? AND rowid >= ? AND rowid < ?", (_match(term), lo, hi)
        )
        if not counts.get(c)
    }


def refresh(conn: sqlite3.Connection, progress: Callable[[int, int], None] | None = None, prefixes: bool = True) -> int:
    """Count what is missing (after a sync, the index caught up; ``conn`` from
    indexer.open_indexer: the counts are kept in the index file, beside what they
    count; the caller holds the sync lock, so nothing else writes). Returns how
    many (word, block) counts were made. ``prefixes`` False (a sync that changed
    nothing): the prefixes' turn waits for the next sync that does (one costs a
    pass over all its words' doclists, ~0.3-0.6 s at 5M: most of such a sync)."""
    bits, min_messages = settings(conn)
    total = conn.execute("SELECT coalesce(sum(messages), 0) FROM provider_totals").fetchone()[0]
    chosen_at = int(_state(conn, "totals_chosen_at", 0))
    if total < min_messages:
        if chosen_at:
            _replace_terms(conn, [], [], 0)
        return 0
    version = int(_state(conn, "totals_version", 1))
    if not chosen_at or total >= 2 * chosen_at or 2 * total < chosen_at or version < TOTALS_VERSION:
        _replace_terms(conn, *_chosen(conn, total, min_messages), total)
    pairs = _word_keys(conn)
    terms = [k for _, k in pairs]
    top = conn.execute("SELECT max(id) FROM conversations").fetchone()[0]
    if not terms or top is None:
        return 0
    blocks = (top >> bits) + 1
    with conn:  # counts of expansions no longer current (a form appeared, a word left the list)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(CONVS_TABLE)
        marks = ",".join("?" * len(terms))
        conn.execute(f"DELETE FROM term_totals WHERE term NOT IN ({marks})", terms)
        conn.execute(f"DELETE FROM term_convs WHERE term NOT IN ({marks})", terms)
    # a prefix's count merges the doclists of all its words whatever the rowid range (FTS5), so each
    # prefix is counted in one pass for all its missing blocks; a word, block by block (a seek each)
    done_all = set(conn.execute(_DONE).fetchall())
    # a word in fewer than min_messages messages (kept for its conversations' counts: whole.py) is
    # recounted only once more than LAZY_BLOCKS of its blocks are missing, or all of them (an archive
    # of few blocks): a search counts those live (~0.5 ms a block at 5M messages), and a watch's
    # syncs, which land in the last block, cost it nothing (~620 such words at 5M: recounting them
    # after every sync would add half to its refresh)
    lazy_words = set(orjson.loads(_state(conn, "totals_lazy", "[]")))
    lazy = {k for w, k in pairs if w in lazy_words}
    have = Counter(t for t, _ in done_all)
    words = [
        t for t in terms if not t.endswith("*") and (t not in lazy or not have[t] or blocks - have[t] > LAZY_BLOCKS)
    ]
    todo = [(b, [t for t in words if (t, b) not in done_all]) for b in range(blocks)]
    todo = [(b, missing) for b, missing in todo if missing]
    made, words_cpu = _count_words(conn, todo, bits, progress)
    # the prefixes, while the time spent on them stays within a budget (a watch's small sync touches
    # one block, and every kept prefix would cost a whole pass): from where the last refresh stopped,
    # so all get their turn; one not recounted is counted live by a search meanwhile, exact
    pending = [t for t in terms if prefixes and t.endswith("*") and any((t, b) not in done_all for b in range(blocks))]
    last = _state(conn, "totals_prefix_last", "")
    pending.sort()
    began = time.process_time()
    budget = max(PREFIX_SECONDS, PREFIX_SHARE * words_cpu)
    first = next((i for i, t in enumerate(pending) if t > str(last)), 0)
    for t in pending[first:] + pending[:first]:
        if t != pending[first] and time.process_time() - began > budget:
            break  # (one at least: each sync brings the next in turn up to date)
        last = t
        missing = [b for b in range(blocks) if (t, b) not in done_all]
        rows, arrays = [], []
        for b, counts in _count_blocks(conn, t, missing, bits).items():
            kept = ConvCounts(bits, {b: array("I", counts)})
            titled = titled_without(conn, t, kept, b << bits, (b + 1) << bits)
            rows.append((t, b, sum(counts), sum(1 for n in counts if n), len(titled)))
            arrays.append((t, b, _pack(counts)))
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            _keep(conn, rows, arrays)
        made += len(rows)
    if pending:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO idx.index_state(key, value) VALUES ('totals_prefix_last', ?)", (last,))
    if progress and todo:
        progress(len(todo), len(todo))
    return made


PARALLEL_MIN_BLOCKS = 4  # fewer (a small sync's one or two): a second process costs more than it saves


def _count_words(
    conn: sqlite3.Connection, todo: list[tuple[int, list[str]]], bits: int, progress: Callable[[int, int], None] | None
) -> tuple[int, float]:
    """Count the words missing in each block of ``todo`` and keep them, one block a
    transaction (short: readers and checkpoints go on). After a big import every
    block is missing (~35 s of CPU at 5M messages) while the import's other
    core is idle: a forked process counts every other block and hands its rows
    over, the caller writes them (one writer). Returns (counts made, CPU seconds
    spent on them in both processes)."""
    began = time.process_time()
    theirs: list[tuple[int, list[str]]] = []
    helper = None
    if len(todo) >= PARALLEL_MIN_BLOCKS and sys.platform.startswith("linux"):
        todo, theirs = todo[0::2], todo[1::2]
        helper = _WordCounter(conn, theirs, bits)
    made = done = 0
    total = len(todo) + len(theirs)
    helper_cpu = 0.0

    def keep(rows: list[tuple], arrays: list[tuple]) -> None:
        nonlocal made, done
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            _keep(conn, rows, arrays)
        made += len(rows)
        done += 1
        if progress:
            progress(done, total)

    for b, missing in todo:
        keep(*_block_rows(conn, b, missing, bits))
        if helper is not None:
            for rows, arrays in helper.ready():
                keep(rows, arrays)
    if helper is not None:
        for rows, arrays in helper.rest():
            keep(rows, arrays)
        helper_cpu = helper.cpu
        for b, missing in theirs:  # what it did not hand over (it died): counted here
            if b not in helper.handed:
                keep(*_block_rows(conn, b, missing, bits))
    return made, time.process_time() - began + helper_cpu


def _block_rows(conn: sqlite3.Connection, b: int, words: list[str], bits: int) -> tuple[list[tuple], list[tuple]]:
    """The term_totals and term_convs rows of ``words`` in block ``b``, counted live."""
    rows, arrays = [], []
    for t in words:
        counts, m, c = _count_block(conn, _match(t), b, bits)
        kept = ConvCounts(bits, {b: array("I", counts)})
        titled = titled_without(conn, t, kept, b << bits, (b + 1) << bits)
        rows.append((t, b, m, c, len(titled)))
        arrays.append((t, b, _pack(counts)))
    return rows, arrays


class _WordCounter:
    """A forked process counting words in blocks on a connection of its own (read
    only: the caller keeps what it hands over). It dies with its caller; if it
    dies first, the blocks it did not hand over are counted by the caller."""

    def __init__(self, conn: sqlite3.Connection, todo: list[tuple[int, list[str]]], bits: int):
        import multiprocessing as mp

        db = next(path for _, name, path in conn.execute("PRAGMA database_list") if name == "main")
        ctx = mp.get_context("fork")
        self.pipe, theirs = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_word_counter_main, args=(db, todo, bits, theirs, os.getpid()), daemon=True)
        self.proc.start()
        theirs.close()
        self.handed: set[int] = set()
        self.cpu = 0.0
        self.ended = False

    def _take(self, wait: bool):
        while not self.ended and (wait or self.pipe.poll()):
            try:
                msg = self.pipe.recv()
            except (EOFError, OSError):
                msg = None
            if msg is None or msg[0] is None:  # its end (with its CPU time), or it died
                self.cpu = msg[1] if msg is not None else 0.0
                self.ended = True
                self.proc.join()
                return
            b, rows, arrays = msg
            self.handed.add(b)
            yield rows, arrays

    def ready(self):
        """What it has counted so far."""
        return self._take(wait=False)

    def rest(self):
        """Everything else it counts, until it ends."""
        return self._take(wait=True)


def _word_counter_main(db: str, todo: list[tuple[int, list[str]]], bits: int, out, parent: int) -> None:
    from pathlib import Path

    from ..procs import die_with_parent
    from .db import open_reader

    die_with_parent()  # (it holds the sync lock's descriptor too, inherited)

    began = time.process_time()
    try:
        conn = open_reader(Path(db), mmap_bytes=0)  # (mapped pages would count in the sync's memory)
        conn.execute("PRAGMA cache_size = -2000")
        if not any(name == "idx" and path for _, name, path in conn.execute("PRAGMA database_list")):
            return  # the index file could not be opened here: counting an empty one would keep zeros
        for b, words in todo:
            if os.getppid() != parent:
                return
            out.send((b, *_block_rows(conn, b, words, bits)))
        out.send((None, time.process_time() - began))
    except Exception:
        return  # (the caller counts what was not handed over)


def _keep(conn: sqlite3.Connection, rows: list[tuple], arrays: list[tuple]) -> None:
    """Store (term, block) totals and their conversations' counts, inside the caller's transaction."""
    conn.executemany(
        "INSERT OR REPLACE INTO term_totals(term, block, messages, conversations, title_only) VALUES (?,?,?,?,?)",
        rows,
    )
    conn.executemany("INSERT OR REPLACE INTO term_convs(term, block, counts) VALUES (?,?,?)", arrays)


# a (word, block) is done when both its totals and its conversations' counts are there
# (_keep writes both in one transaction, the indexer drops the totals row alone, and the words
# chosen again drop a totals row kept without them, _replace_terms: so the totals row says it,
# without a join that would read every conversations' array, 37 MB at 5M messages: 0.1 s a time)
_DONE = "SELECT t.term, t.block FROM term_totals t WHERE 1"


def choose(conn: sqlite3.Connection, total: int, min_messages: int) -> list[str]:
    """The words and prefixes _chosen() keeps."""
    return _chosen(conn, total, min_messages)[0]


def _chosen(conn: sqlite3.Connection, total: int, min_messages: int) -> tuple[list[str], list[str]]:
    """The words estimated (from a sample of about SAMPLE_MESSAGES messages:
    every k-th conversation, so the same archive gives the same choice) to be
    in at least a WORD_SHARE-th of ``min_messages`` messages (up to MAX_TERMS),
    with a margin for sampling error, and the ASCII prefixes of at least
    MIN_PREFIX letters in a PREFIX_COST-th of ``min_messages`` (keys 'som*',
    prefix_key()), up to MAX_PREFIXES; then the words estimated under
    ``min_messages`` (the lazy ones, refresh())."""
    from . import codec
    from .encode import fts_values

    convs = conn.execute("SELECT id FROM conversations ORDER BY id").fetchall()
    # every k-th conversation holds about total/k messages: k = total / SAMPLE_MESSAGES
    # (this was len(convs) * SAMPLE_MESSAGES / total, which sampled 5K messages at 1M and one
    # conversation of a small archive)
    step = max(1, round(total / SAMPLE_MESSAGES))
    df: Counter[str] = Counter()
    pre: Counter[str] = Counter()  # prefixes: 'som*' counts a message holding 'some' or 'somewhat' once
    sampled = 0
    for (cid,) in convs[::step]:
        for (blob,) in conn.execute("SELECT content FROM messages WHERE id >= ? AND id < ?", rowid_range(cid)):
            words: set[str] = set()
            for v in fts_values(codec.decode_blocks(blob)):
                if v:
                    words.update(_ASCII_TOKEN.findall(v.lower()) if v.isascii() else index_tokens(v))
            df.update(words)
            pre.update(
                {w[:n] + "*" for w in words if w.isascii() for n in range(MIN_PREFIX, min(len(w), MAX_PREFIX) + 1)}
            )
            sampled += 1
    if not sampled:
        return [], []
    need = 0.7 * min_messages * sampled / total
    # words from a WORD_SHARE-th, with a narrower margin: a word under whole.CAP messages gains
    # nothing from kept counts (it is read outright) and costs every sync its recount
    word_need = WORD_MARGIN * min_messages / WORD_SHARE * sampled / total
    chosen = [(t, n) for t, n in df.most_common(MAX_TERMS) if n >= min(need, word_need)]
    terms = sorted([t for t, _ in chosen] + [p for p, n in pre.most_common(MAX_PREFIXES) if n >= need / PREFIX_COST])
    return terms, sorted(t for t, n in chosen if n < need)


def _state(conn: sqlite3.Connection, key: str, default):
    """One of the index file's own settings (indexer.py, ``index_state``)."""
    row = conn.execute("SELECT value FROM idx.index_state WHERE key = ?", (key,)).fetchone()
    return default if row is None else row[0]


def _replace_terms(conn: sqlite3.Connection, terms: list[str], lazy: list[str], chosen_at: int) -> None:
    """Keep these words and prefixes (``lazy``: the words kept for their conversations' counts,
    recounted only once they miss LAZY_BLOCKS blocks, refresh())."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        old = {t for (t,) in conn.execute("SELECT term FROM frequent_terms")}
        gone = old - set(terms)
        conn.executemany("DELETE FROM term_totals WHERE term = ?", [(t,) for t in gone])
        if _has_convs(conn):
            conn.executemany("DELETE FROM term_convs WHERE term = ?", [(t,) for t in gone])
        conn.executemany("DELETE FROM frequent_terms WHERE term = ?", [(t,) for t in gone])
        # totals kept before their conversations' counts were (an older version): counted again
        if _has_convs(conn):
            conn.execute(
                "DELETE FROM term_totals WHERE NOT EXISTS (SELECT 1 FROM term_convs v "
                "WHERE v.term = term_totals.term AND v.block = term_totals.block)"
            )
        else:
            conn.execute("DELETE FROM term_totals")
        conn.executemany("INSERT OR IGNORE INTO frequent_terms(term) VALUES (?)", [(t,) for t in terms])
        conn.execute("INSERT OR REPLACE INTO idx.index_state(key, value) VALUES ('totals_chosen_at', ?)", (chosen_at,))
        conn.execute(
            "INSERT OR REPLACE INTO idx.index_state(key, value) VALUES ('totals_lazy', ?)",
            (orjson.dumps(sorted(lazy)).decode(),),
        )
        conn.execute(
            "INSERT OR REPLACE INTO idx.index_state(key, value) VALUES ('totals_version', ?)", (TOTALS_VERSION,)
        )


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
    return [k for _, k in _word_keys(conn)]


def _word_keys(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(kept word or prefix, its key) for each."""
    from . import forms

    return [
        (w, w if w.endswith("*") else key(w, forms.held(conn, forms.forms(w))))
        for (w,) in conn.execute("SELECT term FROM frequent_terms").fetchall()
    ]


def _match(term: str) -> str:
    if term.startswith("("):
        return term
    return _quoted(term[:-1]) + "*" if term.endswith("*") else _quoted(term)


def verify(conn: sqlite3.Connection) -> list[str]:
    """Problems for `check`: counted words whose block sums, or whose
    conversations' counts, differ from a full count."""
    problems = []
    for t in _keys(conn):
        known = lookup(conn, t)
        if known is None:
            continue
        per = dict(_per_conversation(conn, _match(t), 0, 1 << 62))
        actual = (sum(per.values()), len(per), len(titled_without(conn, t, per)))
        if tuple(actual) != tuple(known):
            problems.append(f"term totals for '{t}': stored {known}, actual {tuple(actual)}")
        kept = conv_counts(conn, t)
        if kept is not None and kept.nonzero() != per:
            problems.append(f"term totals for '{t}': the per-conversation counts differ from the index")
    return problems


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'
