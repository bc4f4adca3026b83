"""Reads of the shared archive with the return types of the SQLite ones:
search (fts.SearchResult), list and resolve (conversation summaries), a
conversation (models.Conversation), stats. Every function takes a psycopg
connection and a typed Query (query.py compiles it)."""

from __future__ import annotations

from typing import Any

import orjson

from ...errors import QueryError
from ...fmt import iso_from_ms
from ...models import Block, Conversation
from .. import lookup
from ..encode import ACTIVE, CONTEXT, FTS_COLUMNS, SIDECHAIN, search_columns
from ..fts import HITS_PER_CONVERSATION, SearchResult, _hit
from ..queries import StoredMessage, _dt, conversation_head, conversation_summary
from ..query import Query, check_page, like_escape
from ..snippets import snippet
from . import query as pq

CONV_COLUMNS = (
    "c.id, c.uid, c.provider, c.provider_id, c.title, c.created_at, c.updated_at, c.parent_uid, c.project, c.models,"
    " c.meta, c.message_count, c.features, c.input_tokens, c.output_tokens"
)
_TOO_MANY = (
    "{:,} messages match: too many to rank by relevance, so the newest "
    "matching conversations come first. Add words or filters to rank by relevance."
)
RANK_ALL = 10_000  # as store/fts.py: up to this many matching messages, every one is scored


def list_conversations(conn, q: Query, *, limit: int = 50, offset: int = 0, **extra) -> list[dict]:
    """Summaries of the conversations the filters select, most recently updated first."""
    p = pq.Params()
    f = pq.compile_filters(q, p, pq.BY_UPDATE, **extra)
    sql = (
        f"SELECT {CONV_COLUMNS} FROM conversations c WHERE {f.conv_sql()}"
        f" ORDER BY c.updated_at DESC NULLS LAST, c.id DESC LIMIT {int(limit)} OFFSET {int(offset)}"
    )
    return [_summary(r) for r in conn.execute(sql, p.values)]


def _summary(row: tuple) -> dict[str, Any]:
    return conversation_summary(row)


def search(conn, q: Query, *, limit: int = 20, offset: int = 0, rank_all: int = RANK_ALL, **extra) -> SearchResult:
    """The conversations (and messages) the query matches. Totals are exact.
    Up to ``rank_all`` matching messages, best first (ts_rank; titles weighted
    as whole.py weighs them); beyond, newest matching conversations first with
    their latest matching messages, and a note says so (store/fts.py does the same)."""
    check_page(limit, offset)
    res = SearchResult(limit=limit, offset=offset)
    if not q.has_terms:
        if q.exclude:
            raise QueryError("-exclusions narrow a search: add a word to find (or leave them out)", q.text, 0)
        return _filter_only(conn, q, res, extra)
    q = pq.with_forms(q)
    p = pq.Params()
    f = pq.compile_filters(q, p, pq.BY_SPAN, **extra)
    prefix = any(t.prefix for g in q.groups for t in g)
    whole = q.within == "conversation" and not (prefix and len(q.groups) == 1)
    use_titles = whole and not (q.kinds or q.roles)
    ex = pq.exclude_tsquery(q, q.kinds)
    not_ex = f" AND NOT m.tsv @@ {p.add(ex)}::tsquery" if ex else ""
    within = f"{f.conv_sql()} AND {f.msg_sql()}{not_ex}"

    def messages_of(tsq: str) -> str:
        # only the index decides (no per-row expression): a common word is a bitmap scan, nothing detoasted
        return (
            "SELECT m.conversation_id AS cid, m.seq FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            f" WHERE m.tsv @@ {p.add(tsq)}::tsquery AND {within}"
        )

    group_q = [pq.group_tsquery(g, q.kinds) for g in q.groups]
    anyq = " | ".join(group_q) if whole else " & ".join(group_q)
    ctes = [f"hit AS MATERIALIZED ({messages_of(anyq)})"]
    conds: list[str] = []
    if whole and len(q.groups) > 1:
        for i, g in enumerate(group_q):
            ctes.append(f"g{i} AS MATERIALIZED (SELECT DISTINCT cid FROM ({messages_of(g)}) x)")
            conds.append(f"k.id IN (SELECT cid FROM g{i})")
    cands = "SELECT DISTINCT cid AS id FROM hit"
    title_q = None
    if use_titles:
        tgroups = [pq.group_tsquery(g, titles=True) for g in q.groups]
        tex = pq.exclude_tsquery(q)
        t_not_ex = f" AND NOT c.title_tsv @@ {p.add(tex)}::tsquery" if tex else ""
        title_q = p.add(" | ".join(tgroups))
        cands += f" UNION SELECT c.id FROM conversations c WHERE c.title_tsv @@ {title_q}::tsquery{t_not_ex} AND {f.conv_sql()}"
        ctes.append(
            f"titled AS MATERIALIZED (SELECT c.id, {', '.join(f'c.title_tsv @@ {p.add(t)}::tsquery AS t{i}' for i, t in enumerate(tgroups))} FROM conversations c WHERE c.title_tsv @@ {title_q}::tsquery{t_not_ex} AND {f.conv_sql()})"
        )
        if len(q.groups) == 1:
            conds = []
        else:
            conds = [f"({c} OR coalesce(t.t{i}, false))" for i, c in enumerate(conds)]
    ctes.append(f"cands AS MATERIALIZED ({cands})")
    join_t = " LEFT JOIN titled t ON t.id = k.id" if use_titles else ""
    ctes.append(f"matched AS MATERIALIZED (SELECT k.id FROM cands k{join_t} WHERE {' AND '.join(conds) or 'TRUE'})")
    # one statement: the totals, then the page of the path they choose (ranked, or newest
    # first past rank_all). A CTE is computed only when read and a CASE arm only when taken,
    # so the matches are found once and the other path costs nothing.
    rank_q = p.add(anyq)
    title_score = (
        f"3.0 * coalesce((SELECT ts_rank(c.title_tsv, {title_q}::tsquery) FROM titled t WHERE t.id = c.id), 0)"
        if use_titles
        else "0"
    )
    ranked = f"(SELECT m FROM tot) <= {int(rank_all)}"
    ctes += [
        "tot AS MATERIALIZED (SELECT (SELECT count(*) FROM matched) AS c,"
        " (SELECT count(*) FROM hit WHERE cid IN (SELECT id FROM matched)) AS m)",
        f"scored AS MATERIALIZED (SELECT h.cid, h.seq, ts_rank('{pq.RANK_WEIGHTS}', m.tsv, {rank_q}::tsquery)"
        " AS r FROM hit h JOIN messages m ON m.conversation_id = h.cid AND m.seq = h.seq"
        " WHERE h.cid IN (SELECT id FROM matched))",
        "best AS (SELECT cid, max(r) AS r FROM scored GROUP BY cid)",
        f"ranked_page AS (SELECT c.id, coalesce(b.r, 0) + {title_score} AS score, c.updated_at FROM matched k"
        " JOIN conversations c ON c.id = k.id LEFT JOIN best b ON b.cid = k.id"
        f" ORDER BY score DESC, c.updated_at DESC NULLS LAST, c.id DESC LIMIT {int(limit)} OFFSET {int(offset)})",
        "newest_page AS (SELECT c.id, c.updated_at FROM matched k JOIN conversations c ON c.id = k.id"
        f" ORDER BY c.updated_at DESC NULLS LAST, c.id DESC LIMIT {int(limit)} OFFSET {int(offset)})",
    ]
    sql = (
        "WITH " + ", ".join(ctes) + " SELECT (SELECT c FROM tot), (SELECT m FROM tot),"
        f" CASE WHEN {ranked} THEN"
        " (SELECT array_agg(id ORDER BY score DESC, updated_at DESC NULLS LAST, id DESC) FROM ranked_page)"
        " ELSE (SELECT array_agg(id ORDER BY updated_at DESC NULLS LAST, id DESC) FROM newest_page) END,"
        f" CASE WHEN {ranked} THEN"
        " (SELECT array_agg(ARRAY[x.cid, x.seq]) FROM (SELECT s.cid, s.seq, row_number() OVER"
        " (PARTITION BY s.cid ORDER BY s.r DESC, s.seq DESC) AS n FROM scored s WHERE s.cid IN"
        f" (SELECT id FROM ranked_page)) x WHERE x.n <= {HITS_PER_CONVERSATION})"
        " ELSE (SELECT array_agg(ARRAY[x.cid, x.seq]) FROM (SELECT h.cid, h.seq, row_number() OVER"
        " (PARTITION BY h.cid ORDER BY h.seq DESC) AS n FROM hit h WHERE h.cid IN (SELECT id FROM newest_page)) x"
        f" WHERE x.n <= {HITS_PER_CONVERSATION}) END"
    )
    total_c, total_m, page, hits = conn.execute(sql, p.values).fetchone()
    res.total_conversations, res.total_messages = total_c, total_m
    if total_m > rank_all:
        res.notes.append(_TOO_MANY.format(total_m))
    if page:
        res.conversations = _page(conn, q, page, hits or [], whole)
    return res


def _page(conn, q: Query, page: list[int], hits: list[list[int]], whole: bool) -> list[dict[str, Any]]:
    summaries = {
        r[0]: dict(_summary(r), hits=[])
        for r in conn.execute(f"SELECT {CONV_COLUMNS} FROM conversations c WHERE c.id = ANY(%s)", (page,))
    }
    keys = [(cid, seq) for cid, seq in hits]
    rows = {}
    if keys:
        for cid, seq, mid, role, ts, content in conn.execute(
            "SELECT conversation_id, seq, mid, role, timestamp, content FROM messages"
            " WHERE (conversation_id, seq) IN (SELECT * FROM unnest(%s::bigint[], %s::int[]))",
            ([k[0] for k in keys], [k[1] for k in keys]),
        ):
            rows[(cid, seq)] = (mid, role, ts, content)
    tokens = q.tokens()
    cols = [FTS_COLUMNS.index(k) for k in q.kinds] or [0, 1, 2, 3]
    for cid, seq in keys:
        if (cid, seq) not in rows or cid not in summaries:
            continue
        mid, role, ts, content = rows[(cid, seq)]
        vals = search_columns(_blocks(content))
        texts = [vals[i] for i in cols if vals[i]]
        text = texts[0] if texts else ""
        shown, spans = snippet(text, tokens)
        summaries[cid]["hits"].append(_hit(mid, role, ts, shown, spans))
    return [summaries[c] for c in page if c in summaries]


def _blocks(content: str) -> list[Block]:
    return [Block(**d) if set(d) <= _BLOCK_KEYS else _block(d) for d in orjson.loads(content)]


_BLOCK_KEYS = {"type", "text", "id", "name", "input", "is_error", "meta"}


def _block(d: dict) -> Block:
    from ..codec import block_from_dict

    return block_from_dict(d)


def _filter_only(conn, q: Query, res: SearchResult, extra: dict) -> SearchResult:
    p = pq.Params()
    if not q.message_filters:
        f = pq.compile_filters(q, p, pq.BY_UPDATE, **extra)
        res.total_conversations, res.total_messages = conn.execute(
            f"SELECT count(*), coalesce(sum(c.message_count), 0) FROM conversations c WHERE {f.conv_sql()}", p.values
        ).fetchone()
        res.total_messages = int(res.total_messages)
        res.conversations = [
            dict(s, hits=[]) for s in list_conversations(conn, q, limit=res.limit, offset=res.offset, **extra)
        ]
        res.notes.append("no search words: conversations matching the filters, newest first")
        return res
    f = pq.compile_filters(q, p, pq.BY_SPAN, **extra)
    mcond = f.msg + ([pq.kinds_condition(q.kinds)] if q.kinds else [])
    sql = (
        "WITH hit AS MATERIALIZED (SELECT m.conversation_id AS cid, m.seq FROM messages m JOIN conversations c"
        f" ON c.id = m.conversation_id WHERE {f.conv_sql()} AND {' AND '.join(mcond)}),"
        " per AS MATERIALIZED (SELECT h.cid, count(*) AS n, c.updated_at FROM hit h JOIN conversations c ON c.id = h.cid"
        " GROUP BY h.cid, c.updated_at),"
        f" page AS (SELECT cid FROM per ORDER BY updated_at DESC NULLS LAST, cid DESC LIMIT {int(res.limit)}"
        f" OFFSET {int(res.offset)})"
        " SELECT (SELECT count(*) FROM per), (SELECT coalesce(sum(n), 0) FROM per),"
        " (SELECT array_agg(cid) FROM (SELECT cid FROM per ORDER BY updated_at DESC NULLS LAST, cid DESC"
        f" LIMIT {int(res.limit)} OFFSET {int(res.offset)}) o),"
        " (SELECT array_agg(ARRAY[x.cid, x.seq]) FROM (SELECT h.cid, h.seq, row_number() OVER"
        " (PARTITION BY h.cid ORDER BY h.seq DESC) AS k FROM hit h WHERE h.cid IN (SELECT cid FROM page)) x"
        f" WHERE x.k <= {HITS_PER_CONVERSATION})"
    )
    total_c, total_m, page, hits = conn.execute(sql, p.values).fetchone()
    res.total_conversations, res.total_messages = total_c, int(total_m)
    if page:
        res.conversations = _page(conn, Query(kinds=q.kinds), page, hits or [], True)
    res.notes.append(
        "no search words: conversations with messages matching role:/kind:, newest first, each with its latest ones"
    )
    return res


def resolve(conn, ident: str) -> tuple:
    """A conversation row by archive id, provider id, or unique prefix of either (queries.resolve)."""
    row = conn.execute(f"SELECT {CONV_COLUMNS} FROM conversations c WHERE c.uid = %s", (ident,)).fetchone()
    if row:
        return row
    like = like_escape(ident) + "%"
    rows = conn.execute(
        f"SELECT {CONV_COLUMNS} FROM conversations c WHERE c.uid ILIKE %s OR c.provider_id ILIKE %s LIMIT 51",
        (like, like),
    ).fetchall()
    return lookup.chosen(rows, ident)


def load_conversation(
    conn, row: tuple, *, active_only: bool = False, start: int = 0, limit: int | None = None
) -> Conversation:
    """A conversation with its messages ``[start, start + limit)`` (all by default)."""
    conv = conversation_head(row, orjson.loads(row[10]) if row[10] else {})
    conv.messages.extend(iter_messages(conn, row[0], active_only=active_only, start=start, limit=limit))
    return conv


def iter_messages(conn, cid: int, *, active_only: bool = False, start: int = 0, limit: int | None = None):
    """A conversation's messages ``[start, start + limit)`` in order (queries.iter_messages)."""
    sql = (
        "SELECT mid, parent_mid, role, timestamp, flags, model, usage, meta, content FROM messages"
        " WHERE conversation_id = %s"
        + (f" AND (flags & {ACTIVE}) <> 0" if active_only else "")
        + " ORDER BY seq OFFSET %s"
        + (" LIMIT %s" if limit is not None else "")
    )
    args = (cid, start) if limit is None else (cid, start, limit)
    new = object.__new__
    for mid, parent, role, ts, flags, model, usage, meta, content in conn.execute(sql, args).fetchall():
        m = new(StoredMessage)
        m.id, m.role, m.blocks, m.parent_id, m.model = mid, role, _blocks(content), parent, model
        m.timestamp = _dt(ts)
        m.active, m.context, m.sidechain = bool(flags & ACTIVE), bool(flags & CONTEXT), bool(flags & SIDECHAIN)
        m._raw_usage, m._raw_meta = usage, meta
        yield m


def stats(conn) -> dict[str, Any]:
    by = {
        prov: {"conversations": c, "messages": int(m)}
        for prov, c, m in conn.execute(
            "SELECT provider, count(*), coalesce(sum(message_count), 0) FROM conversations GROUP BY provider"
            " ORDER BY provider"
        )
    }
    first, last = conn.execute("SELECT min(created_at), max(updated_at) FROM conversations").fetchone()
    machines = dict(conn.execute("SELECT machine, count(*) FROM holders GROUP BY machine ORDER BY machine").fetchall())
    return {
        "conversations": sum(v["conversations"] for v in by.values()),
        "messages": sum(v["messages"] for v in by.values()),
        "by_provider": by,
        "by_machine": machines,
        "first_at": iso_from_ms(first),
        "last_at": iso_from_ms(last),
        "database_bytes": conn.execute("SELECT pg_database_size(current_database())").fetchone()[0],
        "schema_version": conn.execute("SELECT version FROM polylogue_schema").fetchone()[0],
        # what changes with every pushed batch (the web pages' caches are kept per generation)
        "generation": conn.execute(
            "SELECT coalesce((extract(epoch FROM max(last_push)) * 1000000)::bigint, 0) FROM archives"
        ).fetchone()[0],
    }


def activity(conn) -> list[dict[str, Any]]:
    """Conversations and messages per (UTC day of last update, project, first model),
    as store/activity.py counts them on SQLite (an unreadable ``models`` counts under
    model ""): grouped by the server, the first model read here from each distinct
    ``models`` text."""
    acc: dict[tuple[str, str, str], list[int]] = {}
    sql = (
        "SELECT coalesce(to_char(to_timestamp(updated_at / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), ''),"
        " coalesce(project, ''), models, count(*), coalesce(sum(message_count), 0) FROM conversations GROUP BY 1, 2, 3"
    )
    for day, project, models, n, msgs in conn.execute(sql):
        k = (day, project, _first_model(models))
        cur = acc.setdefault(k, [0, 0])
        cur[0] += n
        cur[1] += int(msgs)
    return [
        {"day": d, "project": p, "model": m, "conversations": c, "messages": n} for (d, p, m), (c, n) in acc.items()
    ]


def _first_model(models: str | None) -> str:
    """``coalesce(json_extract(models, '$[0]'), '')`` of store/activity.py."""
    if not models:
        return ""
    try:
        v = orjson.loads(models)
    except orjson.JSONDecodeError:
        return ""
    first = v[0] if isinstance(v, list) and v else None
    if first is None:
        return ""
    return first if isinstance(first, str) else orjson.dumps(first).decode()


def message_tree(conn, cid: int) -> list[tuple[str, str | None, bool]]:
    """(message id, parent id, active) of every message of a conversation, in stored order (store/tree.py)."""
    sql = "SELECT mid, parent_mid, flags FROM messages WHERE conversation_id = %s ORDER BY seq"
    return [(mid, parent, bool(flags & ACTIVE)) for mid, parent, flags in conn.execute(sql, (cid,))]


def check(conn) -> dict[str, Any]:
    """What can be checked from a reading session: every conversation holds the messages
    its count says, the message index exists (a bulk push killed midway leaves it
    missing until the owner's next push builds it), and the usage totals are those of
    the ledger's first holders (load.py keeps them). Keys as store/check.py's."""
    problems: list[str] = []
    messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    bad = conn.execute(
        "SELECT c.uid, c.message_count, count(m.seq) FROM conversations c LEFT JOIN messages m"
        " ON m.conversation_id = c.id GROUP BY c.id HAVING c.message_count <> count(m.seq) LIMIT 20"
    ).fetchall()
    problems += [f"{uid}: {want:,} messages counted, {got:,} stored" for uid, want, got in bad]
    if conn.execute("SELECT to_regclass('messages_tsv')").fetchone()[0] is None:
        problems.append("the full-text index messages_tsv is missing: the database owner's next push builds it")
    kept, counted = conn.execute(
        "SELECT (SELECT coalesce(sum(responses), 0) FROM usage_rollup WHERE span = 96),"
        " (SELECT count(*) FROM usage_ledger WHERE key IS NULL)"
        " + (SELECT count(DISTINCT (provider, key)) FROM usage_ledger WHERE key IS NOT NULL)"
    ).fetchone()
    if int(kept) != counted:
        problems.append(f"usage: the kept totals count {int(kept):,} responses, the ledger {counted:,}")
    return {"ok": not problems, "messages": messages, "indexed": messages, "problems": problems}


def message_positions(conn, cid: int, mid: str, *, active_only: bool = False, limit: int = 21) -> list[tuple[int, str]]:
    """(position, id) of the message whose id is ``mid``, else of the first ``limit``
    whose id starts with it; positions 0-based in stored order (queries.message_positions)."""
    active = f" AND (flags & {ACTIVE}) <> 0" if active_only else ""
    head = f"SELECT seq, mid FROM messages WHERE conversation_id = %s{active} AND "
    rows = conn.execute(head + "mid = %s ORDER BY seq LIMIT %s", (cid, mid, limit)).fetchall()
    if not rows:
        rows = conn.execute(head + "left(mid, %s) = %s ORDER BY seq LIMIT %s", (cid, len(mid), mid, limit)).fetchall()
    before = f"SELECT count(*) FROM messages WHERE conversation_id = %s{active} AND seq < %s"
    return [(conn.execute(before, (cid, seq)).fetchone()[0], m) for seq, m in rows]


def count_messages(conn, cid: int, *, active_only: bool = False) -> int:
    active = f" AND (flags & {ACTIVE}) <> 0" if active_only else ""
    return conn.execute(f"SELECT count(*) FROM messages WHERE conversation_id = %s{active}", (cid,)).fetchone()[0]


def conversations_holding(conn, mid: str, *, limit: int = 21) -> list[str]:
    """The uids of the conversations holding a message whose id is exactly ``mid`` (a scan, the last resort)."""
    sql = "SELECT uid FROM conversations WHERE id IN (SELECT conversation_id FROM messages WHERE mid = %s LIMIT %s)"
    return [r[0] for r in conn.execute(sql, (mid, limit))]


def hit_blocks(conn, uid: str, mids: list[str]) -> dict[str, list[Block]]:
    """The blocks of a conversation's messages by id (a search page's hits, read whole)."""
    rows = conn.execute(
        "SELECT m.mid, m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.uid = %s AND m.mid = ANY(%s)",
        (uid, mids),
    )
    return {mid: _blocks(content) for mid, content in rows}
