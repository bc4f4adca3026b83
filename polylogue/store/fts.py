"""Full-text search over the contentless FTS5 index, with filters and
conversation grouping. The query arrives already parsed and escaped (a
store/query.py Query); its conversation filters compile through
query.compile_filters, and this module adds the index's part: MATCH
expressions, message filters, ranking and hits."""

from __future__ import annotations

import operator
import re
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import QueryError
from ..fmt import iso_from_ms
from ..textutil import is_cjk
from . import codec, forms, message_filters, term_totals, whole
from .encode import fts_values, search_columns
from .ids import MESSAGE_ID_BITS, rowid_range
from .index_file import unindexed
from .queries import CONV_COLUMNS, conversation_summary, count_conversations, list_conversations
from .query import BY_SPAN, Term, compile_filters, role_condition, time_range, where_sql
from .scope import CONV, MESSAGE_TIME, Scope, match_expr, scope, title_groups
from .snippets import snippet
from .suggest import Suggestion
from .tokens import index_tokens

# bm25 column weights: dialogue text above thinking above tool traffic
WEIGHTS = (1.0, 0.6, 0.4, 0.25)
ROLE_BOOST = "CASE m.role WHEN 'user' THEN 1.6 WHEN 'assistant' THEN 1.2 ELSE 1.0 END"
TITLE_BOOST = 2.0
HITS_PER_CONVERSATION = 3
_KIND_INDEX = {"text": 0, "thinking": 1, "tool_use": 2, "tool_result": 3}


@dataclass
class SearchResult:
    conversations: list[dict[str, Any]] = field(default_factory=list)
    total_conversations: int = 0
    total_messages: int = 0
    limit: int = 0
    offset: int = 0
    notes: list[str] = field(default_factory=list)
    # when little matched: the closest indexed words to the query's unknown words
    # (store/suggest.py), and the query with each replaced by the best of them
    suggestions: list[Suggestion] = field(default_factory=list)
    did_you_mean: str | None = None
    # always True here (the totals are exact, kept ahead or counted); a hybrid search may estimate
    exact: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "total": {"conversations": self.total_conversations, "messages": self.total_messages, "exact": self.exact},
            "limit": self.limit,
            "offset": self.offset,
            "results": self.conversations,
            "notes": self.notes,
            "suggestions": [s.to_json() for s in self.suggestions],
            "did_you_mean": self.did_you_mean,
        }


_TOO_MANY = (
    "{:,} messages match: too many to rank by relevance, so the newest "
    "matching conversations come first. Add words or filters to rank by relevance."
)
RANK_ALL = 10_000  # up to this many matching messages, every one is scored with BM25
BOOST_TOP = 500  # the best this many (by BM25) get the role boost; the rest rarely overtake them


def search(
    conn: sqlite3.Connection,
    q,
    *,
    limit: int = 20,
    offset: int = 0,
    rank_all: int = RANK_ALL,
    cap: int = whole.CAP,
    probe_max: int = whole.PROBE_MAX,
) -> SearchResult:
    """Totals are always exact. Ranking: with at most ``rank_all`` matching
    messages, BM25 over all of them in one pass (dialogue above tool output,
    prompts and titles boosted, ties to the newer); with more, the newest
    matching conversations first (scoring millions of rows cannot be fast), and
    a note says so. ``cap`` and ``probe_max``: how a whole-conversation search
    reads each word group (store/whole.py)."""
    # one read transaction: the kept counts and every pass see one snapshot, so totals combined
    # from both (store/whole.py) stay exact while a sync commits. It ends before the snippets are
    # made (Python, the longest part): a sync's WAL checkpoint waits for open read transactions
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        got = _search(conn, q, limit, offset, rank_all, cap, probe_max)
        behind = unindexed(conn) if q.has_terms else 0
    finally:
        if own and conn.in_transaction:
            conn.execute("COMMIT")
    res = got if isinstance(got, SearchResult) else _snippets(*got)
    if behind:  # search hides a message until it is indexed (store/indexer.py): say how many it cannot see
        res.notes.append(
            f"{behind:,} messages are not in the search index yet, so this search does not see them: "
            "a sync running now indexes them, else `polylogue sync` does"
        )
    return res


def _search(
    conn: sqlite3.Connection, q, limit: int, offset: int, rank_all: int, cap: int, probe_max: int
) -> SearchResult | tuple:
    res = SearchResult(limit=limit, offset=offset)
    if not q.has_terms:
        if q.exclude:
            raise QueryError("-exclusions narrow a search: add a word to find (or leave them out)", q.text, 0)
        return _filter_only(conn, q, res)
    q = _with_forms(conn, q)
    sc = scope(q)
    where, args, span = sc.where, sc.args, sc.span
    match = match_expr(q)
    join = sc.join
    rwhere: list[str] = _role_conditions(q)  # the role filters alone (probes decide time per conversation)
    body, fargs = sc.body(match)
    weights = ", ".join(map(str, WEIGHTS))
    score = f"bm25(messages_fts, {weights})"
    matched = None
    prefix = any(t.prefix for g in q.groups for t in g)
    whole_mode = q.within == "conversation" and not (prefix and len(q.groups) == 1)
    try:
        # a frequent word's totals are kept (term_totals): then the per-message count stands
        counted = _counted_ahead(conn, q) if not (where or sc.mwhere) else None
        with_titles = whole_mode and not (q.kinds or q.roles)
        titled: set[int] = set()  # matching by title (alone, or perhaps: see _count)
        # one word group with more matches than can be ranked: whole conversations add only the
        # titles to the per-message search, so its messages need no reading outright
        first = None
        if whole_mode and counted is None and len(q.groups) == 1:
            # read as one JSON array: 2x cheaper than a row at a time (whole.ints)
            first = whole.ints(conn, f"SELECT messages_fts.rowid {body} ORDER BY 1 LIMIT {cap + 1}", fargs)
        wanted = whole_mode and counted is None and (first is None or len(first) <= cap)
        found = whole.match(conn, q, sc, cap, probe_max, rank_all, first) if wanted else None
        if found is not None:
            res.total_messages, res.total_conversations = found.count, len(found.conversations)
            if not found.conversations:
                return res
            if res.total_messages <= rank_all:
                page, hit_ids = whole.rank(conn, q, sc, found, weights, _role_boosts(conn), limit, offset)
            else:
                page, hit_ids = whole.newest(conn, q, sc, found, limit, offset)
                res.notes.append(_TOO_MANY.format(res.total_messages))
        else:
            # one word group too big to read outright or to rank (or a prefix): counted from the
            # index alone, plus, searching whole conversations, those matching by title
            if counted:
                titled = counted[2] if with_titles else set()
                res.total_messages, res.total_conversations = counted[0], counted[1] + len(titled)
            else:
                titled = whole.titles(conn, q, q.groups, sc) if with_titles else set()
                res.total_messages, res.total_conversations = _count(conn, sc, match, titled, first)
            if res.total_conversations == 0:
                return res
            if res.total_messages <= rank_all:
                if titled and not counted:  # ranking scores title-only conversations apart: find them
                    titled = _title_only(conn, q, sc, probe_max)
                page, hit_ids = _ranked(conn, q, body, fargs, score, limit, offset, titled)
            else:
                if matched is None and res.total_conversations * 2 < _conversation_count(conn, where, args):
                    # few conversations match: one more pass finds them all, so the walk probes
                    # only those (a prefix would merge the doclists of all its words at each probe)
                    matched = {cid for (cid,) in conn.execute(f"SELECT DISTINCT {CONV} {body}", fargs)}
                page, hit_ids = _newest(
                    conn, q, match, where, args, join, rwhere, [], span, limit, offset, matched, prefix, titled
                )
                res.notes.append(_TOO_MANY.format(res.total_messages))
    except sqlite3.OperationalError as e:
        raise QueryError(f"the search engine rejected the query: {e}", q.text) from None
    return _finish(conn, q, res, page, hit_ids)


def _finish(conn: sqlite3.Connection, q, res: SearchResult, page: list[int], hit_ids) -> SearchResult | tuple:
    """What the page's snippets are made from (its messages and conversations,
    read in the search's snapshot), for _snippets."""
    if not page:
        return res
    try:
        ids = [i for cid in page for i, _ in hit_ids[cid]]
        rows = list(_by_ids(conn, "SELECT id, mid, role, timestamp, content FROM messages WHERE id IN ({})", ids))
        msgs = {r[0]: (*r[1:4], blocks) for r, blocks in zip(rows, codec.decode_contents([r[4] for r in rows]))}
        summaries = _summaries(conn, page)
    except sqlite3.OperationalError as e:
        raise QueryError(f"the search engine rejected the query: {e}", q.text) from None
    return q, res, page, hit_ids, msgs, summaries


def _snippets(q, res: SearchResult, page: list[int], hit_ids, msgs, summaries) -> SearchResult:
    """The page's conversations with their hits' snippets (no database access)."""
    tokens = q.tokens()
    probes = [t[0] if is_cjk(t[0]) else t for t in tokens]  # a CJK run may have punctuation inside
    cols = [_KIND_INDEX[k] for k in q.kinds] or [0, 1, 2, 3]
    for cid in page:
        summary = summaries[cid]
        for rid, hit_score in hit_ids[cid]:
            if rid not in msgs:
                continue
            mid, role, ts, blocks = msgs[rid]
            vals = search_columns(blocks)  # as written: the index's CJK split is not for reading
            texts = [vals[i] for i in cols if vals[i]]
            # the first column holding a query word (most messages have one column: no need to look)
            text = (
                texts[0]
                if len(texts) == 1
                else next((t for t in texts if _contains_any(t, probes)), texts[0] if texts else "")
            )
            summary["hits"].append(
                _hit(
                    mid,
                    role,
                    ts,
                    *snippet(text, tokens),
                    None if hit_score is None else round(-whole.untiered(hit_score), 4),
                )
            )
        res.conversations.append(summary)
    return res


def _role_conditions(q) -> list[str]:
    """role: as SQL on messages m (query.role_condition)."""
    return [role_condition(q.roles)] if q.roles else []


REGEX_MESSAGES = 20_000  # messages one --regex search reads at most (decoding each costs ~3 µs plus the regex)
REGEX_SECONDS = 5.0  # ... and the time it spends, enforced inside each match too (a costly pattern, a huge message)
# `regex` compiles a counted repeat by copying its body (a{3} is aaa), so nested
# counts multiply: (((ab|cd){100}){100}){100} took minutes or crashed the process.
# Up to this many copied items it compiles in well under a second.
REGEX_UNROLLED = 20_000
_REGEX_FLAGS = ((re.I, "I"), (re.M, "M"), (re.S, "S"), (re.X, "X"), (re.A, "A"))


def bounded_regex(pattern: str | re.Pattern):
    """``pattern`` (Python `re` syntax) compiled by the `regex` package, which
    unlike `re` checks a timeout inside the matcher and can release the GIL: one
    message cannot carry a search past its deadline nor stall the MCP server's
    other calls (docs/cli.md, search). The pattern is first checked by `re`
    itself, so what `re` rejects is rejected here with its message, and what
    `regex` would take long to compile is refused. Raises QueryError."""
    import regex

    text, re_flags = (pattern.pattern, pattern.flags) if isinstance(pattern, re.Pattern) else (pattern, 0)
    try:
        re.compile(text, re_flags)
        unrolled = _unrolled(re._parser.parse(text, re_flags))  # type: ignore[attr-defined]
    except re.error as e:
        raise QueryError(f"bad regex: {e.msg}", text, e.pos) from None
    except RecursionError:
        raise QueryError("bad regex: its groups are nested too deeply", text, 0) from None
    if unrolled > REGEX_UNROLLED:
        raise QueryError(
            f"bad regex: its counted repeats ({{n}} inside {{n}}) multiply to over {REGEX_UNROLLED:,} copies; "
            "use smaller counts, or + and *",
            text,
            0,
        )
    flags = 0
    for bit, name in _REGEX_FLAGS:
        if re_flags & bit:
            flags |= getattr(regex, name)
    try:
        return regex.compile(text, flags)
    except regex.error as e:
        raise QueryError(f"bad regex: {e.msg}", text, e.pos) from None


def _unrolled(parsed) -> int:
    """How many items a pattern parsed by `re` becomes once each counted repeat's
    body is copied its minimum number of times (as `regex` compiles it)."""
    from re import _constants as op_names  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    repeats = (op_names.MAX_REPEAT, op_names.MIN_REPEAT, op_names.POSSESSIVE_REPEAT)

    def size(node) -> int:
        if isinstance(node, _parser.SubPattern):
            return sum(item(op, av) for op, av in node.data)
        if isinstance(node, list | tuple):
            return sum(size(x) for x in node)
        return 0  # a literal, a flag, a group number

    def item(op, av) -> int:
        if op in repeats:
            low, _high, body = av
            return 1 + max(low, 1) * size(body)
        if op is op_names.IN:  # a character class is one item however it is spelled
            return 1
        return 1 + size(av)

    return size(parsed)


class _Deadline:
    """A compiled `regex` pattern whose searches stop at a deadline (time.monotonic()).
    `regex` counts the timeout in this process's CPU seconds: on an idle machine
    that is the wall time; on a busy one a match runs later by what others took."""

    def __init__(self, pattern, deadline: float):
        self.pattern, self.deadline = pattern, deadline

    def _left(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)  # 0 would mean no timeout at all

    def search(self, text: str):
        """The first match, None if there is none; TimeoutError at the deadline."""
        return self.pattern.search(text, timeout=self._left(), concurrent=True)

    def finditer(self, text: str):
        """The matches found before the deadline (for highlighting: a partial list is fine)."""
        try:
            yield from self.pattern.finditer(text, timeout=self._left(), concurrent=True)
        except TimeoutError:
            return


class _SnippetPattern(_Deadline):
    """For snippet(): a search that times out found nothing (the hit shows unhighlighted)."""

    def search(self, text: str):
        try:
            return super().search(text)
        except TimeoutError:
            return None


def regex_search(
    conn: sqlite3.Connection,
    q,
    pattern,
    *,
    limit: int = 20,
    offset: int = 0,
    max_messages: int = REGEX_MESSAGES,
    max_seconds: float = REGEX_SECONDS,
) -> SearchResult:
    """Messages whose text (in the ``kind:`` columns, each on its own) the
    regular expression matches, among the candidates: the messages the
    query's words match, or with no words every message its filters allow.
    ``pattern`` is a bounded_regex() (an `re` pattern or text is compiled so).
    Candidates are read most recently imported first, at most
    ``max_messages`` of them for at most ``max_seconds``, a bound that also
    stops a match inside one message; when a bound stops the scan, the totals
    count what was read and a note says so. Conversations come newest first."""
    if q.exclude and not q.has_terms:
        raise QueryError("-exclusions narrow a search: add a word to find (or leave them out)", q.text, 0)
    deadline = time.monotonic() + max_seconds
    if isinstance(pattern, str | re.Pattern):
        pattern = bounded_regex(pattern)
    bounded = _Deadline(pattern, deadline)
    res = SearchResult(limit=limit, offset=offset)
    rows = _regex_candidates(conn, q)
    span = time_range(q)
    cols = [_KIND_INDEX[k] for k in q.kinds] or [0, 1, 2, 3]
    updated: dict[int, int | None] = {}
    hits: dict[int, list] = {}
    read = 0
    stopped = False
    for rid, mid, role, ts, content in rows:
        cid = rid >> MESSAGE_ID_BITS
        if span:
            if cid not in updated:
                updated[cid] = conn.execute("SELECT updated_at FROM conversations WHERE id = ?", (cid,)).fetchone()[0]
            t = ts if ts is not None else updated[cid]
            if t is None or not span[0] <= t < span[1]:
                continue
        if read >= max_messages or time.monotonic() > deadline:
            stopped = True
            break
        read += 1
        vals = search_columns(codec.decode_blocks(content))
        try:
            found = _first_regex_match(bounded, vals, cols)
        except TimeoutError:  # the deadline passed inside this message
            stopped = True
            break
        if found is not None:
            hits.setdefault(cid, []).append((mid, role, ts, *found))
    res.total_conversations = len(hits)
    res.total_messages = sum(len(v) for v in hits.values())
    if hits:
        marks = ",".join("?" * len(hits))
        order = [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM conversations WHERE id IN ({marks}) ORDER BY updated_at DESC, id DESC", list(hits)
            )
        ]
        page = order[offset : offset + limit]
        summaries = _summaries(conn, page)
        shown = _SnippetPattern(pattern, deadline)
        for cid in page:
            summary = summaries[cid]
            summary["hits"] = [
                _hit(mid, role, ts, *_regex_snippet(text, at, shown), None)
                for mid, role, ts, text, at in hits[cid][:HITS_PER_CONVERSATION]
            ]
            res.conversations.append(summary)
    if stopped:
        bound = f"{max_messages:,} messages" if read >= max_messages else f"{max_seconds:g} seconds"
        res.notes.append(
            f"the regex search stopped at its bound of {bound}: it tried {read:,} candidate messages (the most "
            "recently imported), and the totals count only those. Add words or filters to narrow the candidates."
        )
    else:
        res.notes.append(f"the regex was tried on all {read:,} candidate messages")
    return res


def _regex_candidates(conn: sqlite3.Connection, q):
    """(rowid, mid, role, timestamp, content) of the messages a regex search tries,
    most recently imported first: those the words match, else all the filters allow."""
    where, args = compile_filters(q, BY_SPAN)
    cw = where_sql(where)
    rw = "".join(f" AND {r}" for r in _role_conditions(q))
    if q.has_terms:
        # one pass over the index (a prefix merges its doclists once), newest rowids first
        cond = f" AND {CONV} IN (SELECT c.id FROM conversations c{cw})" if where else ""
        ids = (
            r[0]
            for r in conn.execute(
                f"SELECT messages_fts.rowid FROM messages_fts WHERE messages_fts MATCH ?"
                f"{cond} ORDER BY messages_fts.rowid DESC",
                (match_expr(q), *args),
            )
        )
        return _rows_by_id(conn, ids, rw)
    convs = (r[0] for r in conn.execute(f"SELECT c.id FROM conversations c{cw} ORDER BY c.id DESC", args))
    return (
        row
        for cid in convs
        for row in conn.execute(
            f"SELECT id, mid, role, timestamp, content FROM messages m WHERE id >= ? AND id < ?{rw} ORDER BY id DESC",
            rowid_range(cid),
        )
    )


def _first_regex_match(bounded: _Deadline, vals, cols: list[int]) -> tuple[str, int] | None:
    """(the column's text, where the match starts) for the first column that matches."""
    for i in cols:
        if vals[i]:
            m = bounded.search(vals[i])
            if m is not None:
                return vals[i], m.start()
    return None


SNIPPET_WIDTH = 160  # snippet()'s default width


def _regex_snippet(text: str, at: int, pattern: _SnippetPattern) -> tuple[str, list]:
    """A hit's snippet around the match the scan found at ``at``: the pattern runs
    again only on that window (as snippet() windows long text), never on the whole
    message, and within the search's deadline."""
    lo, hi = max(0, at - SNIPPET_WIDTH), at + 4 * SNIPPET_WIDTH
    # snippet() asks only for search() and finditer(), which the deadline wrapper provides
    shown, spans = snippet(text[lo:hi], [], SNIPPET_WIDTH, pattern=cast(re.Pattern, pattern))
    if lo > 0 and not shown.startswith("…") and not text[:lo].isspace():
        shown, spans = "…" + shown, [(a + 1, b + 1) for a, b in spans]
    if hi < len(text) and not shown.endswith("…") and not text[hi:].isspace():
        shown += "…"
    return shown, spans


def _summaries(conn, page: list[int]) -> dict[int, dict[str, Any]]:
    """The page's conversation summaries, each with an empty ``hits`` list."""
    out = {}
    for row in _by_ids(conn, f"SELECT {CONV_COLUMNS} FROM conversations WHERE id IN ({{}})", page):
        out[row[0]] = conversation_summary(row)
        out[row[0]]["hits"] = []
    return out


def _hit(mid: str, role: str, ts: int | None, snip: str, spans: list, score: float | None = None) -> dict[str, Any]:
    """A search hit's JSON shape (postgres/reads.py gives its hits the same)."""
    return {
        "message_id": mid,
        "role": role,
        "timestamp": iso_from_ms(ts),
        "snippet": snip,
        "highlights": spans,
        "score": score,
    }


def _rows_by_id(conn, ids, role_sql: str):
    """Message rows for a stream of ids, in that order, read 500 at a time."""
    chunk: list[int] = []

    def flush():
        got = {
            r[0]: r
            for r in _by_ids(
                conn, f"SELECT id, mid, role, timestamp, content FROM messages m WHERE id IN ({{}}){role_sql}", chunk
            )
        }
        return [got[i] for i in chunk if i in got]

    for i in ids:
        chunk.append(i)
        if len(chunk) >= 500:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def _counted_ahead(conn, q) -> tuple[int, int, set[int]] | None:
    """Totals of a one-word query, and the conversations matching it by title
    alone, if that word is one whose totals are kept (store/term_totals.py:
    exact, or absent)."""
    if q.exclude or q.kinds or len(q.groups) != 1 or len(q.groups[0]) != 1:
        return None
    t = q.groups[0][0]
    if len(t.tokens) != 1:
        return None
    if set(t.title_forms) - set(t.forms):
        # a form only titles hold ('runs' in a title, never in a message): the kept title-only
        # conversations are counted for the messages' forms alone, so they would miss it
        return None
    # a frequent prefix ('som*', term_totals.choose): without its kept totals, counting merges the
    # doclists of every word it starts
    return term_totals.counted(conn, term_totals.prefix_key(t.tokens[0]) if t.prefix else _totals_key(t))


def _totals_key(t: Term) -> str:
    return term_totals.key(t.tokens[0], t.forms)


_first = operator.itemgetter(0)


def _ranked(
    conn,
    q,
    body: str,
    fargs: list,
    score: str,
    limit: int,
    offset: int,
    titled: set[int] | frozenset[int] = frozenset(),
):
    """One BM25 pass over every match: conversations by their best message.
    ``titled``: conversations matching by title alone, scored by their title as
    a whole-conversation search scores titles (store/whole.py)."""
    rows = conn.execute(f"SELECT {score}, messages_fts.rowid {body}", fargs).fetchall()
    if any(t.forms for g in q.groups for t in g):  # the form typed ranks above the other forms
        exact = {r for (r,) in conn.execute(f"SELECT messages_fts.rowid {body}", [whole.exact_expr(q), *fargs[1:]])}
        rows = [(s + whole.EXACT_TIER if rid in exact else s, rid) for s, rid in rows]
    # by score alone: float keys sort twice as fast as tuples, and the sort is stable, so
    # ties stay in rowid order (the order the index returns them in), as comparing tuples would
    rows.sort(key=_first)
    # the role boost needs each message's row: look it up for the best BOOST_TOP only
    top, tail = rows[:BOOST_TOP], rows[BOOST_TOP:]
    roles = dict(_by_ids(conn, f"SELECT id, {ROLE_BOOST} FROM messages m WHERE id IN ({{}})", [rid for _, rid in top]))
    top = [(whole.untiered(s) * roles.get(rid, 1.0) + (s - whole.untiered(s)), rid) for s, rid in top]
    # each conversation's best score: the tail is sorted, so walking it backwards the last
    # write per conversation is its best (a dict comprehension: this runs once per match)
    conv_best = {rid >> MESSAGE_ID_BITS: s for s, rid in reversed(tail)}
    for s, rid in reversed(top):
        conv_best[rid >> MESSAGE_ID_BITS] = min(s, conv_best.get(rid >> MESSAGE_ID_BITS, s))
    if titled:
        for cid, s in whole.title_scores(conn, q, titled).items():
            conv_best[cid] = whole.TITLE_WEIGHT * s
    title_ids = _title_matches(conn, q)
    best = sorted((v * (TITLE_BOOST if cid in title_ids else 1.0), cid) for cid, v in conv_best.items())
    # recency breaks ties: only the page's candidates and whatever ties with the last of them need a date
    end = offset + limit
    if end < len(best):
        edge = best[end - 1][0]
        while end < len(best) and best[end][0] == edge:
            end += 1
    head = best[:end]
    updated = dict(_by_ids(conn, "SELECT id, updated_at FROM conversations WHERE id IN ({})", [c for _, c in head]))
    ranked = sorted((sc, -(updated.get(cid) or 0), cid) for sc, cid in head)
    page = [cid for _, _, cid in ranked[offset : offset + limit]]
    on_page = set(page)
    hits: dict[int, list[tuple[float, int]]] = {cid: [] for cid in page}
    for s, rid in [r for part in (top, tail) for r in part if r[1] >> MESSAGE_ID_BITS in on_page]:
        hits[rid >> MESSAGE_ID_BITS].append((s, rid))
    best_hits = {cid: [(rid, s) for s, rid in sorted(v)[:HITS_PER_CONVERSATION]] for cid, v in hits.items()}
    return page, best_hits


def _by_ids(conn, sql: str, ids: list[int]):
    """Rows for many ids, in chunks that stay under SQLite's variable limit."""
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        yield from conn.execute(sql.format(",".join("?" * len(chunk))), chunk)


def _newest(
    conn,
    q,
    match: str,
    where: list[str],
    args: list,
    join: str,
    mwhere: list[str],
    margs: list,
    span: tuple[int, int] | None,
    limit: int,
    offset: int,
    matched: set[int] | None = None,
    expand: bool = False,
    titled: set[int] | frozenset[int] = frozenset(),
):
    """Huge match sets: walk the conversations (filters applied) newest first and
    keep those with a match. Each probe is an index lookup bounded to one
    conversation's rowid range; hits are its latest matching messages. With
    ``matched`` (the matching conversations, known already) the others are
    skipped unprobed. With ``expand`` (a prefix query) each conversation's
    prefixes are first expanded to the words it really holds, so the probe needs
    no doclist merge; a conversation whose folded text does not even contain a
    required prefix cannot match and is skipped. A time range is decided per
    conversation from its first_ts/last_ts. ``titled``: conversations whose
    title matches (whole-conversation search), listed in their place with or
    without hits."""

    def probe_sql(extra: list[str]) -> str:
        return (
            f"SELECT messages_fts.rowid FROM messages_fts{join} WHERE messages_fts MATCH ? "
            "AND messages_fts.rowid >= ? AND messages_fts.rowid < ? "
            + "".join(f"AND {w} " for w in mwhere + extra)
            + "ORDER BY messages_fts.rowid"  # the last ones kept: FTS5 reads a doclist backwards slowly
        )

    probe, probe_timed = probe_sql([]), probe_sql([f"{MESSAGE_TIME} BETWEEN ? AND ?"])
    cw = where_sql(where)
    page: list[int] = []
    hits: dict[int, list] = {}
    skipped = 0
    for cid, first, last, updated in conn.execute(
        f"SELECT c.id, c.first_ts, c.last_ts, c.updated_at FROM conversations c{cw} "
        "ORDER BY c.updated_at DESC, c.id DESC",
        args,
    ):
        if matched is not None and cid not in matched and cid not in titled:
            continue
        sql, params = probe, margs
        if span:  # as in _time_filter
            if updated is None or first < span[0] or last >= span[1]:
                sql, params = probe_timed, [*margs, span[0], span[1] - 1]
        bounds = (*rowid_range(cid), *params)
        found = []
        if expand:
            expanded, absent, exact = _expand_prefixes(conn, q, cid)
            if absent:
                continue
            if expanded:
                found = conn.execute(sql, (expanded, *bounds)).fetchall()
                if not found and exact:
                    continue
        if not found:
            found = conn.execute(sql, (match, *bounds)).fetchall()
        if not found and cid not in titled:
            continue
        if skipped < offset:
            skipped += 1
            continue
        page.append(cid)
        hits[cid] = [(r[0], None) for r in reversed(found[-HITS_PER_CONVERSATION:])]
        if len(page) >= limit:
            break
    return page, hits


def _conversation_count(conn, where: list[str], args: list) -> int:
    """How many conversations the filters leave (the walk's length if none matched)."""
    if not where:
        return conn.execute("SELECT coalesce(sum(conversations), 0) FROM provider_totals").fetchone()[0]
    return conn.execute(f"SELECT count(*) FROM conversations c WHERE {' AND '.join(where)}", args).fetchone()[0]


def _expand_prefixes(conn, q, cid: int) -> tuple[str | None, bool, bool]:
    """The query with each one-token prefix replaced by the words starting with
    it in this conversation (found by a regex; the probe then checks them
    against the index); whether the conversation cannot match at all: a
    required prefix (a term of its own, not one of ORed alternatives) occurs
    nowhere in its text folded exactly as the index folds it; and whether the
    expansion is exact: every message was read, so the words are all of the
    conversation's index tokens with the prefixes and a probe that finds
    nothing proves there is no match."""
    from dataclasses import replace

    prefixes = sorted({t.tokens[0] for g in q.groups for t in g if t.prefix and len(t.tokens) == 1}, key=len)
    if not prefixes:
        return None, False, False
    required = [g[0].tokens[0] for g in q.groups if len(g) == 1 and g[0].prefix and len(g[0].tokens) == 1]
    present: set[str] = set()
    complete = True
    # token characters are letters and digits (unicode61 splits on "_" too): the regex engine
    # finds only the words that start with a prefix
    pattern = re.compile(r"(?<![^\W_])(?:" + "|".join(re.escape(p) for p in reversed(prefixes)) + r")[^\W_]*")
    words: set[str] = set()
    starts = tuple(prefixes)
    # newest first, stopping at the first message that could match on its own (a word for each
    # all-prefix group): the probe then finds the latest messages holding the words, the first
    # of them the latest match (reading on, to be sure of the next two, cost a third of a search)
    pure = [[t.tokens[0] for t in g] for g in q.groups if all(t.prefix and len(t.tokens) == 1 for t in g)]
    for (blob,) in conn.execute(
        "SELECT content FROM messages WHERE id >= ? AND id < ? ORDER BY id DESC", rowid_range(cid)
    ):
        found = set()
        for v in fts_values(codec.decode_blocks(blob)):
            if v:
                if v.isascii():  # ASCII letters and digits are the index's only token characters
                    v = v.lower()
                    found.update(pattern.findall(v))
                else:  # elsewhere, cut exactly as the index cuts (slower, so only here)
                    toks = index_tokens(v)
                    found.update(t for t in toks if t.startswith(starts))
                    v = " ".join(toks)
                present.update(p for p in required if p in v)
        if found:
            words |= found
            if all(any(w.startswith(p) for w in found for p in g) for g in pure):
                complete = False  # stopped early: the rest of the conversation is unread
                break
    if complete and any(p not in present for p in required):
        return None, True, False
    groups = []
    for g in q.groups:
        alts: list = []
        for t in g:
            if t.prefix and len(t.tokens) == 1:
                these = sorted(w for w in words if w.startswith(t.tokens[0]))
                if len(these) > 50:
                    these, complete = these[:50], False
                alts += [Term([w]) for w in these]
            else:
                alts.append(t)
        if not alts:  # an all-prefix group none of whose prefixes starts a word read
            return None, complete, False
        groups.append(alts)
    return match_expr(replace(q, groups=groups)), False, complete


def _with_forms(conn: sqlite3.Connection, q):
    """The query with each plain word's other forms that the index holds (store/forms.py)."""
    if not q.forms or not any(t.may_have_forms and forms.expandable(t.tokens[0]) for g in q.groups for t in g):
        return q
    from dataclasses import replace

    def expand(t: Term) -> Term:
        if not (t.may_have_forms and forms.expandable(t.tokens[0])):
            return t
        candidates = forms.forms(t.tokens[0])
        return replace(t, forms=forms.held(conn, candidates), title_forms=forms.held(conn, candidates, "titles_fts"))

    return replace(q, groups=[[expand(t) for t in g] for g in q.groups])


def _title_only(conn: sqlite3.Connection, q, sc: Scope, probe_max: int) -> set[int]:
    """Conversations (within the filters) whose title holds the words, but none
    of whose messages does: a whole-conversation search lists them too."""
    titled = whole.titles(conn, q, q.groups, sc)
    if len(titled) <= probe_max:
        sql, args = sc.probe(match_expr(q), tail="LIMIT 1")
        return {c for c in titled if not conn.execute(sql, (*args, *rowid_range(c))).fetchone()}
    body, args = sc.body(match_expr(q))
    return titled - {c for (c,) in conn.execute(f"SELECT DISTINCT {CONV} {body}", args)}


# a probe for one titled conversation's matching message costs about as much as reading this many
# matches' conversations in a pass (5M messages, `high` in 131K: 50 µs a probe against 23 ms for
# the pass; 2,000 was measured at 1M on a loaded machine): past that, one pass reads them all
PROBE_MATCHES = 400


def _count(conn: sqlite3.Connection, sc: Scope, match: str, titled: set[int], first) -> tuple[int, int]:
    """(messages, conversations) matching, the conversations of ``titled`` (those
    whose title matches) included. ``first``: the first matching messages, read
    already (rowid order): the count reads on from the last of them. A message's
    rowid orders it within its conversation, so the conversations of the two
    parts share at most the one at the seam."""
    first = first or []
    body, fargs = sc.body(match)
    after = " AND messages_fts.rowid > ?" if first else ""
    last = max(first) if first else None  # the last read (whatever order the array came in)
    tail = [last] if first else []
    m, c, low = conn.execute(
        f"SELECT count(*), count(DISTINCT {CONV}), min(messages_fts.rowid) {body}{after}", [*fargs, *tail]
    ).fetchone()
    seen = set(map(MESSAGE_ID_BITS.__rrshift__, first))
    c += len(seen) - (
        1 if low is not None and first and last is not None and low >> MESSAGE_ID_BITS == last >> MESSAGE_ID_BITS else 0
    )
    unsure = sorted(titled - seen)  # titled conversations not known to hold a matching message
    if not unsure:
        return m + len(first), c
    if len(unsure) * PROBE_MATCHES <= m:  # a probe each
        sql, args = sc.probe(match, tail="LIMIT 1")
        held = sum(1 for t in unsure if conn.execute(sql, (*args, *rowid_range(t))).fetchone())
    else:  # the conversations of the matches after ``first`` (those of ``first`` are not unsure)
        rest = {x for (x,) in conn.execute(f"SELECT DISTINCT {CONV} {body}{after}", [*fargs, *tail])}
        held = len(rest & set(unsure))
    return m + len(first), c + len(unsure) - held


def _role_boosts(conn: sqlite3.Connection):
    def boosts(ids: list[int]) -> dict[int, float]:
        return dict(_by_ids(conn, f"SELECT id, {ROLE_BOOST} FROM messages m WHERE id IN ({{}})", ids))

    return boosts


def _contains_any(text: str, tokens: list[str]) -> bool:
    low = text.lower()
    return any(t in low for t in tokens)


def _title_matches(conn: sqlite3.Connection, q) -> set[int]:
    """Conversations whose title contains every positive term (a ranking boost)."""
    if q.kinds:
        return set()
    expr = " AND ".join("(" + " OR ".join(t.fts() for t in g) + ")" for g in title_groups(q.groups))
    return {r[0] for r in conn.execute("SELECT rowid FROM titles_fts WHERE titles_fts MATCH ? LIMIT 10000", (expr,))}


def _filter_only(conn, q, res: SearchResult) -> SearchResult:
    """No words: the conversations the filters select, exactly as listing selects
    them (queries.list_conversations), with the totals. With role: or kind:,
    those holding such messages (store/message_filters.py), with each one's
    latest matching messages as hits."""
    if q.message_filters:
        return _with_messages(conn, q, res)
    res.total_conversations, res.total_messages = count_conversations(conn, q)
    res.conversations = [dict(s, hits=[]) for s in list_conversations(conn, q, limit=res.limit, offset=res.offset)]
    res.notes.append("no search words: conversations matching the filters, newest first")
    return res


def _with_messages(conn, q, res: SearchResult) -> SearchResult:
    total_c, total_m, page, found = message_filters.conversations_with(
        conn, q, limit=res.limit, offset=res.offset, hits=HITS_PER_CONVERSATION
    )
    res.total_conversations, res.total_messages = total_c, total_m
    summaries = _summaries(conn, page)
    cols = [_KIND_INDEX[k] for k in q.kinds] or [0, 1, 2, 3]
    for cid in page:
        rows = found[cid]
        for (_, mid, role, ts, _), blocks in zip(rows, codec.decode_contents([r[4] for r in rows])):
            vals = search_columns(blocks)
            text = next((vals[i] for i in cols if vals[i]), "")  # the start of its text of the kind asked for
            summaries[cid]["hits"].append(_hit(mid, role, ts, *snippet(text, []), None))
        res.conversations.append(summaries[cid])
    res.notes.append(
        "no search words: conversations with messages matching role:/kind:, newest first, each with its latest ones"
    )
    return res
