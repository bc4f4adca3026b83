"""Full-text search over the contentless FTS5 index, with filters and
conversation grouping. The query arrives already parsed and escaped
(polylogue.search); this module only turns it into SQL."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..errors import QueryError
from . import codec
from .encode import CONTEXT, F_ATTACHMENTS, F_THINKING, F_TOOLS, fts_values, ms
from .queries import CONV_COLUMNS, _iso, conversation_summary

# bm25 column weights: dialogue text above thinking above tool traffic
WEIGHTS = (1.0, 0.6, 0.4, 0.25)
ROLE_BOOST = "CASE m.role WHEN 'user' THEN 1.6 WHEN 'assistant' THEN 1.2 ELSE 1.0 END"
TITLE_BOOST = 2.0
HITS_PER_CONVERSATION = 3
KNOWN_PROVIDERS = ("chatgpt", "claude", "claude-code", "codex", "gemini", "gemini-cli")
_HAS_BITS = {"thinking": F_THINKING, "tools": F_TOOLS, "attachments": F_ATTACHMENTS}
_KIND_INDEX = {"text": 0, "thinking": 1, "tool_use": 2, "tool_result": 3}


@dataclass
class SearchResult:
    conversations: list[dict[str, Any]] = field(default_factory=list)
    total_conversations: int = 0
    total_messages: int = 0
    limit: int = 0
    offset: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"total": {"conversations": self.total_conversations, "messages": self.total_messages},
                "limit": self.limit, "offset": self.offset, "results": self.conversations, "notes": self.notes}


def _conversation_filters(q, where: list[str], args: list[Any]) -> None:
    for p in q.providers:
        if p not in KNOWN_PROVIDERS:
            raise QueryError(f"unknown provider '{p}' (known: {', '.join(KNOWN_PROVIDERS)})", q.text,
                             q.text.find(p) if p in q.text else None)
    if q.providers:
        where.append(f"c.provider IN ({','.join('?' * len(q.providers))})")
        args += q.providers
    if q.titles:
        where.append("c.id IN (SELECT rowid FROM titles_fts WHERE titles_fts MATCH ?)")
        args.append(" AND ".join(t.fts() for t in q.titles))
    for p in q.projects:
        where.append("c.project LIKE ? ESCAPE '\\'")
        args.append("%" + _like(p) + "%")
    for mdl in q.models:
        where.append("c.models LIKE ? ESCAPE '\\'")
        args.append("%" + _like(mdl) + "%")
    for h in q.has:
        where.append(f"c.features & {_HAS_BITS[h]}")
    if q.ids:
        where.append("(" + " OR ".join(["c.uid LIKE ? ESCAPE '\\' OR c.provider_id LIKE ? ESCAPE '\\'"] * len(q.ids)) + ")")
        for i in q.ids:
            args += [_like(i) + "%", _like(i) + "%"]


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


RANK_ALL = 20_000  # up to this many matching messages, every one is scored with BM25
BOOST_TOP = 2_000  # the best this many (by BM25) get the role boost; the rest cannot overtake them by much
ID_BITS = 24  # messages.id = conversation id << 24 | n (store/writer.py)


def _match_expr(q) -> str:
    match = q.match()
    if q.exclude:
        inner = match if not q.kinds else match[match.index(":") + 2 : -1]
        expr = f"({inner}) NOT ({q.exclude_match()})"
        match = ("{" + " ".join(q.kinds) + "} : (" + expr + ")") if q.kinds else expr
    return match


def search(conn: sqlite3.Connection, q, *, limit: int = 20, offset: int = 0,
           rank_all: int = RANK_ALL) -> SearchResult:
    """Totals are always exact. Ranking: with at most ``rank_all`` matching
    messages, BM25 over all of them in one pass (dialogue above tool output,
    prompts and titles boosted, ties to the newer); with more, the newest
    matching conversations first (scoring millions of rows cannot be fast), and
    a note says so."""
    res = SearchResult(limit=limit, offset=offset)
    where: list[str] = []
    args: list[Any] = []
    _conversation_filters(q, where, args)
    if not q.has_terms:
        if q.roles or q.kinds or q.exclude:
            raise QueryError("role:, kind: and -exclusions narrow a search: add a word to find", q.text, 0)
        return _filter_only(conn, q, where, args, res)

    match = _match_expr(q)
    # conversation filters act on rowid >> 24, before any join; message filters need the row
    fwhere = ["messages_fts MATCH ?"]
    fargs: list[Any] = [match]
    if where:
        fwhere.append(f"(messages_fts.rowid >> {ID_BITS}) IN (SELECT c.id FROM conversations c WHERE "
                      + " AND ".join(where) + ")")
        fargs += args
    mwhere: list[str] = []
    margs: list[Any] = []
    if q.roles:
        conds = []
        for r in q.roles:
            if r == "system":
                conds.append(f"(m.role = 'system' OR m.flags & {CONTEXT})")
            else:
                conds.append(f"(m.role = '{r}' AND NOT m.flags & {CONTEXT})")
        mwhere.append("(" + " OR ".join(conds) + ")")
    if q.since is not None:
        mwhere.append("coalesce(m.timestamp, (SELECT updated_at FROM conversations WHERE id = m.conversation_id)) >= ?")
        margs.append(ms(q.since))
    if q.until is not None:
        mwhere.append("coalesce(m.timestamp, (SELECT updated_at FROM conversations WHERE id = m.conversation_id)) < ?")
        margs.append(ms(q.until))
    fargs += margs
    join = " JOIN messages m ON m.id = messages_fts.rowid" if mwhere else ""
    body = f"FROM messages_fts{join} WHERE " + " AND ".join(fwhere + mwhere)
    score = f"bm25(messages_fts, {', '.join(map(str, WEIGHTS))})"
    try:
        res.total_messages, res.total_conversations = conn.execute(
            f"SELECT count(*), count(DISTINCT messages_fts.rowid >> {ID_BITS}) {body}", fargs).fetchone()
        if res.total_messages == 0:
            return res
        if res.total_messages <= rank_all:
            page, hit_ids = _ranked(conn, q, body, fargs, score, limit, offset)
        else:
            page, hit_ids = _newest(conn, match, where, args, mwhere, margs, limit, offset)
            res.notes.append(
                f"{res.total_messages:,} messages match: too many to rank by relevance, so the newest "
                "matching conversations come first. Add words or filters to rank by relevance.")
        if not page:
            return res
        ids = [i for cid in page for i, _ in hit_ids[cid]]
        msgs = {r[0]: r[1:] for r in conn.execute(
            f"SELECT id, mid, role, timestamp, content FROM messages WHERE id IN ({','.join('?' * len(ids))})", ids)}
        convs = {r[0]: r for r in conn.execute(
            f"SELECT {CONV_COLUMNS} FROM conversations WHERE id IN ({','.join('?' * len(page))})", page)}
    except sqlite3.OperationalError as e:
        raise QueryError(f"the search engine rejected the query: {e}", q.text) from None
    from ..search import snippet

    tokens = q.tokens()
    cols = [_KIND_INDEX[k] for k in q.kinds] or [0, 1, 2, 3]
    for cid in page:
        summary = conversation_summary(convs[cid])
        summary["hits"] = []
        for rid, sc in hit_ids[cid]:
            if rid not in msgs:
                continue
            mid, role, ts, content = msgs[rid]
            vals = fts_values(codec.decode_blocks(content))
            text = next((vals[i] for i in cols if vals[i] and _contains_any(vals[i], tokens)),
                        next((vals[i] for i in cols if vals[i]), ""))
            snip, spans = snippet(text, tokens)
            summary["hits"].append({"message_id": mid, "role": role, "timestamp": _iso(ts), "snippet": snip,
                                    "highlights": spans, "score": None if sc is None else round(-sc, 4)})
        res.conversations.append(summary)
    return res


def _ranked(conn, q, body: str, fargs: list, score: str, limit: int, offset: int):
    """One BM25 pass over every match: conversations by their best message."""
    rows = sorted((s, rid) for rid, s in conn.execute(f"SELECT messages_fts.rowid, {score} {body}", fargs))
    # the role boost needs each message's row: look it up for the best BOOST_TOP only
    top = rows[:BOOST_TOP]
    roles = {}
    for i in range(0, len(top), 500):
        chunk = [rid for _, rid in top[i : i + 500]]
        roles.update(conn.execute(f"SELECT id, {ROLE_BOOST} FROM messages m WHERE id IN ({','.join('?' * len(chunk))})",
                                  chunk))
    per: dict[int, list[tuple[float, int]]] = {}
    for s, rid in rows:
        per.setdefault(rid >> ID_BITS, []).append((s * roles.get(rid, 1.0), rid))
    title_ids = _title_matches(conn, q)
    cids = list(per)
    updated = {}
    for i in range(0, len(cids), 500):
        chunk = cids[i : i + 500]
        updated.update(conn.execute(
            f"SELECT id, updated_at FROM conversations WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    ranked = sorted((min(v)[0] * (TITLE_BOOST if cid in title_ids else 1.0), -(updated.get(cid) or 0), cid)
                    for cid, v in per.items())
    page = [cid for _, _, cid in ranked[offset : offset + limit]]
    hits = {cid: [(rid, s) for s, rid in sorted(per[cid])[:HITS_PER_CONVERSATION]] for cid in page}
    return page, hits


def _newest(conn, match: str, where: list[str], args: list, mwhere: list[str], margs: list, limit: int,
            offset: int):
    """Huge match sets: walk the conversations (filters applied) newest first and
    keep those with a match. Each probe is an index lookup bounded to one
    conversation's rowid range; hits are its latest matching messages."""
    join = " JOIN messages m ON m.id = messages_fts.rowid" if mwhere else ""
    probe = (f"SELECT messages_fts.rowid FROM messages_fts{join} WHERE messages_fts MATCH ? "
             "AND messages_fts.rowid >= ? AND messages_fts.rowid < ? "
             + "".join(f"AND {w} " for w in mwhere)
             + f"ORDER BY messages_fts.rowid DESC LIMIT {HITS_PER_CONVERSATION}")
    cw = (" WHERE " + " AND ".join(where)) if where else ""
    page: list[int] = []
    hits: dict[int, list] = {}
    skipped = 0
    for (cid,) in conn.execute(f"SELECT c.id FROM conversations c{cw} ORDER BY c.updated_at DESC, c.id DESC", args):
        found = conn.execute(probe, (match, cid << ID_BITS, (cid + 1) << ID_BITS, *margs)).fetchall()
        if not found:
            continue
        if skipped < offset:
            skipped += 1
            continue
        page.append(cid)
        hits[cid] = [(r[0], None) for r in found]
        if len(page) >= limit:
            break
    return page, hits


def _contains_any(text: str, tokens: list[str]) -> bool:
    low = text.lower()
    return any(t in low for t in tokens)


def _title_matches(conn: sqlite3.Connection, q) -> set[int]:
    """Conversations whose title contains every positive term (a ranking boost)."""
    if q.kinds:
        return set()
    expr = " AND ".join("(" + " OR ".join(t.fts() for t in g) + ")" for g in q.groups)
    return {r[0] for r in conn.execute("SELECT rowid FROM titles_fts WHERE titles_fts MATCH ? LIMIT 10000", (expr,))}


def _filter_only(conn, q, where, args, res: SearchResult) -> SearchResult:
    if q.since is not None:
        where.append("c.updated_at >= ?")
        args.append(ms(q.since))
    if q.until is not None:
        where.append("c.updated_at < ?")
        args.append(ms(q.until))
    w = (" WHERE " + " AND ".join(where)) if where else ""
    res.total_conversations, res.total_messages = conn.execute(
        f"SELECT count(*), coalesce(sum(c.message_count), 0) FROM conversations c{w}", args).fetchone()
    cols = ", ".join("c." + x.strip() for x in CONV_COLUMNS.split(","))
    for row in conn.execute(f"SELECT {cols} FROM conversations c{w} ORDER BY c.updated_at DESC LIMIT ? OFFSET ?",
                            (*args, res.limit, res.offset)):
        s = conversation_summary(row)
        s["hits"] = []
        res.conversations.append(s)
    res.notes.append("no search words: conversations matching the filters, newest first")
    return res
