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


def search(conn: sqlite3.Connection, q, *, limit: int = 20, offset: int = 0) -> SearchResult:
    res = SearchResult(limit=limit, offset=offset)
    where: list[str] = []
    args: list[Any] = []
    _conversation_filters(q, where, args)
    if not q.has_terms:
        if q.roles or q.kinds or q.exclude:
            raise QueryError("role:, kind: and -exclusions narrow a search: add a word to find", q.text, 0)
        return _filter_only(conn, q, where, args, res)

    match = q.match()
    if q.exclude:
        inner = match if not q.kinds else match[match.index(":") + 2 : -1]
        expr = f"({inner}) NOT ({q.exclude_match()})"
        match = ("{" + " ".join(q.kinds) + "} : (" + expr + ")") if q.kinds else expr
    mwhere = ["messages_fts MATCH ?"]
    margs: list[Any] = [match]
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
    all_where = " AND ".join(mwhere + where)
    all_args = margs + args
    base = (f"FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            f"JOIN conversations c ON c.id = m.conversation_id WHERE {all_where}")
    try:
        res.total_messages, res.total_conversations = conn.execute(
            f"SELECT count(*), count(DISTINCT m.conversation_id) {base}", all_args).fetchone()
        score = f"bm25(messages_fts, {', '.join(map(str, WEIGHTS))}) * {ROLE_BOOST}"
        # bm25() cannot sit inside an aggregate: score every hit in a materialised CTE first
        scored = (f"WITH hits AS MATERIALIZED (SELECT m.conversation_id AS cid, {score} AS s, "
                  f"c.updated_at AS upd {base}) ")
        title_ids = _title_matches(conn, q)
        rows = conn.execute(f"{scored} SELECT cid, min(s), max(upd) FROM hits GROUP BY cid", all_args).fetchall()
        ranked = sorted((best * (TITLE_BOOST if cid in title_ids else 1.0), -(upd or 0), cid)
                        for cid, best, upd in rows)
        page = [cid for _, _, cid in ranked[offset : offset + limit]]
        if not page:
            return res
        marks = ",".join("?" * len(page))
        hits: dict[int, list[tuple]] = {cid: [] for cid in page}
        for row in conn.execute(
                f"SELECT m.conversation_id, m.mid, m.role, m.timestamp, m.content, {score} AS s {base} "
                f"AND m.conversation_id IN ({marks}) ORDER BY s", (*all_args, *page)):
            lst = hits[row[0]]
            if len(lst) < HITS_PER_CONVERSATION:
                lst.append(row)
        convs = {r[0]: r for r in conn.execute(f"SELECT {CONV_COLUMNS} FROM conversations WHERE id IN ({marks})",
                                                page)}
    except sqlite3.OperationalError as e:
        raise QueryError(f"the search engine rejected the query: {e}", q.text) from None
    from ..search import snippet

    tokens = q.tokens()
    cols = [_KIND_INDEX[k] for k in q.kinds] or [0, 1, 2, 3]
    for cid in page:
        summary = conversation_summary(convs[cid])
        summary["hits"] = []
        for _, mid, role, ts, content, s in hits[cid]:
            vals = fts_values(codec.decode_blocks(content))
            text = next((vals[i] for i in cols if vals[i] and _contains_any(vals[i], tokens)),
                        next((vals[i] for i in cols if vals[i]), ""))
            snip, spans = snippet(text, tokens)
            summary["hits"].append({"message_id": mid, "role": role, "timestamp": _iso(ts), "snippet": snip,
                                    "highlights": spans, "score": round(-s, 4)})
        res.conversations.append(summary)
    return res


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
