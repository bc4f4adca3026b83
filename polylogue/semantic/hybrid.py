"""Search by meaning (``semantic``) and by words and meaning fused (``hybrid``).

Hybrid: the lexical ranking (store/fts.py, BM25) and the vector ranking, fused
by reciprocal rank fusion (score = sum of 1 / (K + rank) over the two lists).
Filters are the same conversation filters (compile_filters) applied to the
vector candidates; totals stay the lexical totals, exact as ever, and
``meaning_only`` (with a note) says how many fused results no query word found."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import QueryError
from ..fmt import iso_from_ms
from ..store import codec
from ..store import fts as lexical
from ..store.encode import search_columns
from ..store.ids import MESSAGE_ID_BITS
from ..store.queries import CONV_COLUMNS, conversation_summary
from ..store.query import Query, compile_filters, where_sql
from ..store.snippets import snippet
from .model import encoder
from .vectors import KIND_PROMPT, KIND_REPLY, matrix

RRF_K = 60
SEMANTIC_WEIGHT = 1.0  # the vector list's weight in the fusion (the lexical list's is 1)
VECTORS = 400  # nearest vectors read per query; their conversations make the vector ranking
POOL = 50  # lexical results fused at least (more when the page asks for more)
HITS = 3  # message hits shown per conversation found by meaning
MODES = ("semantic", "hybrid")


@dataclass
class SemanticResult(lexical.SearchResult):
    """A SearchResult that also says how it was found: ``mode``, and how many of
    the fused conversations came from meaning alone (not in the totals)."""

    mode: str = "hybrid"
    meaning_only: int = 0

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["mode"], out["meaning_only"] = self.mode, self.meaning_only
        return out


def query_text(q: Query) -> str:
    """The words of the query, as typed, without filters: what is embedded."""
    return " ".join(t.raw or " ".join(t.tokens) for g in q.groups for t in g)


def search(archive, query: Query, mode: str = "hybrid", limit: int = 20, offset: int = 0) -> SemanticResult:
    """``archive``: an Archive (its home and read pool). ``query``: a typed Query
    with its filters already applied (Archive.search does that)."""
    if mode not in MODES:
        raise QueryError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if query.regex:
        raise QueryError("--regex searches words, not meaning: leave out --semantic/--hybrid")
    text = query_text(query)
    res = SemanticResult(limit=limit, offset=offset, mode=mode)
    with archive.reader() as conn:
        pool = max(POOL, 2 * (offset + limit))
        lex = lexical.search(conn, query, limit=pool if mode == "hybrid" else 1, offset=0)
        res.total_conversations, res.total_messages, res.exact = (
            lex.total_conversations,
            lex.total_messages,
            lex.exact,
        )
        res.notes, res.suggestions, res.did_you_mean = list(lex.notes), lex.suggestions, lex.did_you_mean
        if not text.strip():  # no words: nothing to mean; the filters' listing stands
            res.conversations = lex.conversations[offset : offset + limit] if mode == "hybrid" else []
            return res
        mat = matrix(archive.home)
        if mat is None or len(mat) == 0:
            if mode == "semantic":
                raise QueryError("no vectors yet: run `polylogue embed` first (docs/semantic.md)")
            res.conversations = lex.conversations[offset : offset + limit]
            res.notes.append("no vectors yet (`polylogue embed`): words only")
            return res
        ranked, best = _by_meaning(conn, mat, query, text)
        lex_order = _lexical_ids(conn, lex)
        fused = _fuse(lex_order, ranked) if mode == "hybrid" else ranked
        matched = _lexically_matching(conn, query, lex, lex_order, [c for c in ranked if c not in set(lex_order)])
        res.meaning_only = sum(1 for c in fused if c not in matched)
        page = fused[offset : offset + limit]
        by_id = dict(zip(lex_order, lex.conversations))
        res.conversations = _page(conn, page, by_id, best, query, matched)
    if res.meaning_only:
        res.notes.append(
            f"{res.meaning_only} of these {len(fused)} ranked conversations were found by meaning alone"
            " (no query word): the totals count word matches only"
        )
    return res


def _lexical_ids(conn: sqlite3.Connection, lex) -> list[int]:
    uids = [c["id"] for c in lex.conversations]
    if not uids:
        return []
    marks = ",".join("?" * len(uids))
    found = dict(conn.execute(f"SELECT uid, id FROM conversations WHERE uid IN ({marks})", uids).fetchall())
    return [found[u] for u in uids if u in found]


def _allowed(conn: sqlite3.Connection, mat, q: Query) -> np.ndarray | None:
    """Which vectors the query's filters allow (None: all of them)."""
    mask = None
    conv = q.copy()
    conv.roles, conv.kinds = [], []
    if conv.has_filters:
        where, args = compile_filters(conv)
        cids = np.fromiter(
            (r[0] for r in conn.execute(f"SELECT c.id FROM conversations c{where_sql(where)}", args)), np.int64
        )
        mask = np.isin(mat.cids, cids)
    if q.roles:
        kinds = [KIND_PROMPT] * ("user" in q.roles) + [KIND_REPLY] * ("assistant" in q.roles)
        ok = np.isin(mat.kinds, kinds)
        mask = ok if mask is None else mask & ok
    if q.kinds and "text" not in q.kinds:  # only dialogue text is embedded
        mask = np.zeros(len(mat), dtype=bool)
    return mask


def _by_meaning(conn: sqlite3.Connection, mat, q: Query, text: str) -> tuple[list[int], dict[int, list]]:
    """Conversation ids by their best vector's score, and each one's best
    (key, score) pairs."""
    qv = encoder().encode([text])[0]
    idx, scores = mat.nearest(qv, VECTORS, _allowed(conn, mat, q))
    best: dict[int, list] = {}
    for i, s in zip(idx.tolist(), scores.tolist()):
        best.setdefault(int(mat.cids[i]), []).append((int(mat.keys[i]), float(s)))
    if q.exclude:
        best = _without_excluded(conn, q, best)
    return list(best), best  # dicts keep insertion order: best score first


def _without_excluded(conn: sqlite3.Connection, q: Query, best: dict[int, list]) -> dict[int, list]:
    expr = q.exclude_match()
    out = {}
    for cid, hits in best.items():
        lo, hi = cid << MESSAGE_ID_BITS, (cid + 1) << MESSAGE_ID_BITS
        row = conn.execute(
            "SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= ? AND rowid < ? LIMIT 1",
            (expr, lo, hi),
        ).fetchone()
        if row is None:
            out[cid] = hits
    return out


def _fuse(lexical_ids: list[int], semantic_ids: list[int]) -> list[int]:
    score: dict[int, float] = {}
    for r, cid in enumerate(lexical_ids):
        score[cid] = score.get(cid, 0.0) + 1.0 / (RRF_K + r + 1)
    for r, cid in enumerate(semantic_ids):
        score[cid] = score.get(cid, 0.0) + SEMANTIC_WEIGHT / (RRF_K + r + 1)
    return sorted(score, key=lambda c: -score[c])


def _lexically_matching(conn, q: Query, lex, lex_order: list[int], others: list[int]) -> set[int]:
    """Which conversations match the query's words: the lexical pool, and among
    the vector ranking's others, those a lexical search limited to them finds
    (only needed when the lexical pool did not hold every match)."""
    matched = set(lex_order)
    if not others or lex.total_conversations <= len(lex_order) or not q.has_terms:
        return matched
    marks = ",".join("?" * len(others))
    uids = dict(conn.execute(f"SELECT uid, id FROM conversations WHERE id IN ({marks})", others).fetchall())
    probe = q.copy()
    probe.ids = list(uids)
    found = lexical.search(conn, probe, limit=len(others), offset=0)
    return matched | {uids[c["id"]] for c in found.conversations if c["id"] in uids}


def _page(conn, page: list[int], by_id: dict[int, dict], best: dict[int, list], q: Query, matched: set[int]):
    need = [cid for cid in page if cid not in by_id]
    summaries = {}
    if need:
        marks = ",".join("?" * len(need))
        for row in conn.execute(f"SELECT {CONV_COLUMNS} FROM conversations WHERE id IN ({marks})", need):
            summaries[row[0]] = dict(conversation_summary(row), hits=_hits(conn, best.get(row[0], []), q))
    out = []
    for cid in page:
        s = by_id.get(cid) or summaries.get(cid)
        if s is None:
            continue
        s = dict(s)
        s["matched_by"] = ("words+meaning" if cid in best else "words") if cid in matched else "meaning"
        out.append(s)
    return out


def _hits(conn, pairs: list[tuple[int, float]], q: Query) -> list[dict[str, Any]]:
    """The best-scoring messages of a conversation found by meaning, each shown
    from its start (no word of the query need be in it)."""
    keys = [(k, s) for k, s in pairs if k >= 0][:HITS]
    if not keys:
        return []
    marks = ",".join("?" * len(keys))
    rows = {
        r[0]: r
        for r in conn.execute(
            f"SELECT id, mid, role, timestamp, content FROM messages WHERE id IN ({marks})", [k for k, _ in keys]
        )
    }
    got = [rows[k] for k, _ in keys if k in rows]
    tokens = q.tokens()
    out = []
    for (rid, mid, role, ts, _), blocks in zip(got, codec.decode_contents([r[4] for r in got])):
        snip, spans = snippet(search_columns(blocks)[0], tokens)
        score = next(s for k, s in keys if k == rid)
        # the shape of store/fts.py's hits, with the vector's score (a cosine estimate)
        out.append(
            {
                "message_id": mid,
                "role": role,
                "timestamp": iso_from_ms(ts),
                "snippet": snip,
                "highlights": spans,
                "score": round(score, 4),
            }
        )
    return out
