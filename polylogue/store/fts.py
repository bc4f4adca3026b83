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
ID_BITS = 24  # messages.id = conversation id << 24 | n (store/writer.py)


def _match_expr(q) -> str:
    match = q.match()
    if q.exclude:
        inner = match if not q.kinds else match[match.index(":") + 2 : -1]
        expr = f"({inner}) NOT ({q.exclude_match()})"
        match = ("{" + " ".join(q.kinds) + "} : (" + expr + ")") if q.kinds else expr
    return match


def search(conn: sqlite3.Connection, q, *, limit: int = 20, offset: int = 0, rank_all: int = RANK_ALL) -> SearchResult:
    """Totals are always exact. Ranking: with at most RANK_ALL matching messages,
    BM25 over all of them (dialogue above tool output, prompts and titles
    boosted, ties to the newer); with more, the newest conversations that match,
    newest first (scoring millions of rows cannot be fast), and a note says so."""
    res = SearchResult(limit=limit, offset=offset)
    where: list[str] = []
    args: list[Any] = []
    _conversation_filters(q, where, args)
    if not q.has_terms:
        if q.roles or q.kinds or q.exclude:
            raise QueryError("role:, kind: and -exclusions narrow a search: add a word to find", q.text, 0)
        return _filter_only(conn, q, where, args, res)

    match = _match_expr(q)
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
        mwhere.append("coalesce(m.timestamp, c.updated_at) >= ?")
        margs.append(ms(q.since))
    if q.until is not None:
        mwhere.append("coalesce(m.timestamp, c.updated_at) < ?")
        margs.append(ms(q.until))
    filtered = bool(mwhere or where)
    join_where = " AND ".join(["messages_fts MATCH ?"] + mwhere + where)
    join_args = [match] + margs + args
    joined = (f"FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
              f"JOIN conversations c ON c.id = m.conversation_id WHERE {join_where}")
    score = f"bm25(messages_fts, {', '.join(map(str, WEIGHTS))}) * {ROLE_BOOST}"
    try:
        if filtered:
            res.total_messages, res.total_conversations = conn.execute(
                f"SELECT count(*), count(DISTINCT m.conversation_id) {joined}", join_args).fetchone()
        else:  # the index alone knows each hit's conversation (rowid >> 24): no join
            res.total_messages, res.total_conversations = conn.execute(
                f"SELECT count(*), count(DISTINCT rowid >> {ID_BITS}) FROM messages_fts WHERE messages_fts MATCH ?",
                (match,)).fetchone()
        if res.total_messages == 0:
            return res
        if res.total_messages <= rank_all:
            title_ids = _title_matches(conn, q)
            rows = conn.execute(
                f"WITH hits AS MATERIALIZED (SELECT m.conversation_id AS cid, {score} AS s, c.updated_at AS upd "
                f"{joined}) SELECT cid, min(s), max(upd) FROM hits GROUP BY cid", join_args).fetchall()
            ranked = sorted((best * (TITLE_BOOST if cid in title_ids else 1.0), -(upd or 0), cid)
                            for cid, best, upd in rows)
            page = [cid for _, _, cid in ranked[offset : offset + limit]]
        else:
            page = _newest_matching(conn, match, where, args, mwhere, margs, limit, offset)
            res.notes.append(
                f"{res.total_messages:,} messages match: too many to rank by relevance, so the newest "
                "matching conversations come first. Add words or filters to rank by relevance.")
        if not page:
            return res
        hits = _hits(conn, page, score, join_where, join_args)
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
        for mid, role, ts, content, sc in hits.get(cid, []):
            vals = fts_values(codec.decode_blocks(content))
            text = next((vals[i] for i in cols if vals[i] and _contains_any(vals[i], tokens)),
                        next((vals[i] for i in cols if vals[i]), ""))
            snip, spans = snippet(text, tokens)
            summary["hits"].append({"message_id": mid, "role": role, "timestamp": _iso(ts), "snippet": snip,
                                    "highlights": spans, "score": round(-sc, 4)})
        res.conversations.append(summary)
    return res


def _hits(conn, page: list[int], score: str, join_where: str, join_args: list) -> dict[int, list[tuple]]:
    """The best few messages of each conversation on the page (each one a small,
    rowid-bounded index lookup)."""
    out: dict[int, list[tuple]] = {}
    for cid in page:
        lo, hi = cid << ID_BITS, (cid + 1) << ID_BITS
        out[cid] = conn.execute(
            f"SELECT m.mid, m.role, m.timestamp, m.content, {score} AS s FROM messages_fts "
            f"JOIN messages m ON m.id = messages_fts.rowid JOIN conversations c ON c.id = m.conversation_id "
            f"WHERE {join_where} AND messages_fts.rowid >= ? AND messages_fts.rowid < ? "
            f"ORDER BY s LIMIT {HITS_PER_CONVERSATION}", (*join_args, lo, hi)).fetchall()
    return out


def _newest_matching(conn, match: str, where: list[str], args: list, mwhere: list[str], margs: list,
                     limit: int, offset: int) -> list[int]:
    """Walk conversations newest first; keep those with a matching message.
    Each probe is an FTS lookup bounded to one conversation's rowid range."""
    cw = (" WHERE " + " AND ".join(where)) if where else ""
    probe = ("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? AND rowid >= ? AND rowid < ? LIMIT 1"
             if not mwhere else
             "SELECT 1 FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid JOIN conversations c "
             "ON c.id = m.conversation_id WHERE messages_fts MATCH ? AND messages_fts.rowid >= ? "
             "AND messages_fts.rowid < ? AND " + " AND ".join(mwhere) + " LIMIT 1")
    page: list[int] = []
    skipped = 0
    for (cid,) in conn.execute(f"SELECT c.id FROM conversations c{cw} ORDER BY c.updated_at DESC, c.id DESC", args):
        if conn.execute(probe, (match, cid << ID_BITS, (cid + 1) << ID_BITS, *margs)).fetchone():
            if skipped < offset:
                skipped += 1
                continue
            page.append(cid)
            if len(page) >= limit:
                break
    return page


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
