"""The page handlers: search, conversation, raw block text, browse, projects,
usage, sources and health. Each takes the Site and the request and returns a
response; everything they show comes from ``Archive``."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from ..errors import PolylogueError, QueryError
from ..render.html import esc, fold, nav_pages
from . import charts, reader
from .activity import project_rows

RESULTS = 20
BROWSE = 50
FACETS = ("provider", "project", "model", "role", "kind", "since", "until")
ROLES = ("user", "assistant", "system", "tool")
KINDS = ("text", "thinking", "tool_use", "tool_result")
# how a search matches (Archive.search mode=): auto is hybrid once `polylogue embed` has
# embedded everything, words only before that, as in the CLI and MCP (docs/semantic.md)
MODES = {"auto": "Auto", "lexical": "Words", "semantic": "Meaning", "hybrid": "Words and meaning"}


def _int(value: str | None, default: int | None, low: int = 1, high: int = 1_000_000) -> int | None:
    try:
        return min(max(low, int(value)), high) if value not in (None, "") else default
    except ValueError:
        return default


def marked(snippet: str, spans: list) -> Markup:
    """A hit snippet with its matched spans in <mark>, everything escaped."""
    out, pos = [], 0
    for a, b in sorted((int(a), min(int(b), len(snippet))) for a, b in spans or []):
        if a < pos or b <= a:
            continue
        out += [esc(snippet[pos:a]), "<mark>", esc(snippet[a:b]), "</mark>"]
        pos = b
    out.append(esc(snippet[pos:]))
    return Markup("".join(out))


# ------------------------------------------------------------------ search


def _search_params(request) -> tuple[str, dict[str, str], str]:
    """(words, filters by field, match mode) of a search page's query string."""
    p = request.query_params
    mode = p.get("mode", "auto")
    return p.get("q", "").strip(), {k: p.get(k, "").strip() for k in FACETS}, mode if mode in MODES else "auto"


def search(site, request):
    p = request.query_params
    q, facets, mode = _search_params(request)
    kept = {**{k: v for k, v in facets.items() if v}, **({"mode": mode} if mode != "auto" else {})}
    page = _int(p.get("page"), 1, high=500) or 1
    res = error = recent = None
    if q or any(facets.values()):
        try:
            res = site.archive.search(
                q, limit=RESULTS, offset=(page - 1) * RESULTS, mode=mode, **{k: v for k, v in facets.items() if v}
            )
        except QueryError as e:
            error = str(e)
    else:
        recent = site.archive.list(limit=RESULTS)
    ctx = dict(
        title=f"{q} · search" if q else "Search",
        section="search",
        q=q,
        facets=facets,
        providers=sorted(site.stats().get("by_provider", {})),
        roles=ROLES,
        kinds=KINDS,
        res=res,
        error=error,
        recent=recent,
        page=page,
        per_page=RESULTS,
        marked=marked,
        mode=mode,
        modes=MODES,
        more_url=lambda k: "/search?" + urlencode({"q": q, **kept, "page": k}),
        dym_url=(
            "/search?" + urlencode({"q": res.did_you_mean, **kept}) if res is not None and res.did_you_mean else ""
        ),
        facets_url="/facets?" + urlencode({"q": q, **{k: v for k, v in facets.items() if v}}),
    )
    if p.get("partial"):
        return site.render("_results.html", status=400 if error else 200, **ctx)
    return site.render("search.html", status=400 if error else 200, **ctx)


def facets(site, request):
    """How many conversations the search finds per provider, role and kind
    (web/facets.py): the fragment the search page fetches after its results, or a
    page of its own without JavaScript."""
    q, filters, _ = _search_params(request)
    chosen = {k: v for k, v in filters.items() if v}
    counted, error = [], None
    if q or chosen:
        try:
            counted = site.facets(
                q,
                chosen,
                {"provider": tuple(sorted(site.stats().get("by_provider", {}))), "role": ROLES, "kind": KINDS},
            )
        except QueryError as e:
            error = str(e)
    ctx = dict(
        title=f"{q} · counts" if q else "Counts",
        section="search",
        q=q,
        counted=counted,
        error=error,
        back_url="/search?" + urlencode({"q": q, **chosen}),
    )
    name = "_facets.html" if request.query_params.get("partial") else "facets.html"
    return site.render(name, status=400 if error else 200, **ctx)


# ------------------------------------------------------------------ conversation


def conversation(site, request):
    from starlette.responses import RedirectResponse

    ident = request.path_params["ident"]
    p = request.query_params
    summary = site.archive.resolve(ident)
    cid = summary["id"]
    if p.get("m"):  # a permalink: to the page holding the message, at its anchor
        found = reader.find(site.archive, cid, p["m"])
        if found is None:
            raise QueryError(f"no message '{p['m']}' in conversation {cid}")
        pos, msg = found
        branch = "" if msg.active else msg.id
        return RedirectResponse(reader.conv_url(cid, hit=msg.id, branch=branch) + f"#m{pos + 1}", status_code=303)
    hit = p.get("hit", "")
    v = reader.view(site.archive, summary, page=_int(p.get("page"), None), branch=p.get("branch", ""), hit=hit)
    parent = None
    if summary.get("parent_id"):
        try:
            parent = site.archive.resolve(summary["parent_id"])
        except PolylogueError:
            parent = {"id": summary["parent_id"], "title": None}
    children = site.archive.children(cid)
    return site.render(
        "conversation.html",
        title=summary.get("title") or cid,
        section="",
        c=summary,
        v=v,
        body=Markup(reader.messages_html(v, hit)),
        parent=parent,
        children=children,
        page_url=lambda k: reader.conv_url(cid, page=k, branch=v.branch),
        all_url=reader.conv_url(cid, branch="all"),
        active_url=reader.conv_url(cid),
        nav_pages=nav_pages,
    )


def raw(site, request):
    """One block's whole text, as plain text (tool output too long for a page);
    ``part=rest``: only what its fold keeps back (render.html.fold), which the page's
    script puts in the fold when it is opened."""
    from starlette.responses import PlainTextResponse

    p = request.query_params
    summary = site.archive.resolve(request.path_params["ident"])
    found = reader.find(site.archive, summary["id"], p.get("m", ""))
    k = _int(p.get("b"), 0, low=0)
    if found is None or k is None or k >= len(found[1].blocks):
        return PlainTextResponse("no such block", status_code=404)
    block = found[1].blocks[k]
    body = fold(block.text)[1] if p.get("part") == "rest" else block.text
    return PlainTextResponse(body, headers={"content-security-policy": "sandbox", "cache-control": "no-store"})


# ------------------------------------------------------------------ browse, projects


def browse(site, request):
    p = request.query_params
    filters = {k: p.get(k, "").strip() for k in ("provider", "project", "since", "until")}
    page = _int(p.get("page"), 1, high=100_000) or 1
    error = None
    try:
        rows = site.archive.list(
            **{k: v for k, v in filters.items() if v}, limit=BROWSE + 1, offset=(page - 1) * BROWSE
        )
    except QueryError as e:
        rows, error = [], str(e)
    stats = site.stats()
    act = site.activity.get(int(stats.get("generation", 0)), wait=0.5)
    return site.render(
        "browse.html",
        status=400 if error else 200,
        title="Browse",
        section="browse",
        rows=rows[:BROWSE],
        more=len(rows) > BROWSE,
        page=page,
        filters=filters,
        error=error,
        providers=sorted(stats.get("by_provider", {})),
        stats=stats,
        heatmap=Markup(site.heatmap(act)) if act else None,
        activity=act,
        activity_error=site.activity.error,
        page_url=lambda k: "/browse?" + urlencode({**{a: b for a, b in filters.items() if b}, "page": k}),
    )


def projects(site, request):
    act = site.activity.get(site.generation(), wait=2.0)
    return site.render(
        "projects.html",
        title="Projects",
        section="projects",
        rows=project_rows(act) if act else None,
        activity=act,
        activity_error=site.activity.error,
    )


# ------------------------------------------------------------------ usage


def usage(site, request):
    p = request.query_params
    period = p.get("period", "daily") if p.get("period") in ("daily", "monthly") else "daily"
    key = ("usage", period, site.generation())
    ctx = site.memo.get(key)
    if ctx is None:
        ctx, complete = _usage_context(site, period, key[2])
        if complete:  # the charts are drawn once per archive generation
            site.memo = {k: v for k, v in site.memo.items() if k[-1] == key[2]}
            site.memo[key] = ctx
    return site.render("usage.html", **ctx)


def _usage_context(site, period: str, generation: int) -> tuple[dict[str, Any], bool]:
    """The usage page's context, and whether it is final for ``generation`` (not
    drawn from counts still being made, nor after an error)."""
    ledger, problem = _ledger(site, period)
    cost_svg = ""
    complete = problem is None
    if ledger is not None:
        periods, series, cost_series, table = ledger
        unit, source = "tokens", "ledger"
        if any(v for s_ in cost_series.values() for v in s_.values()):
            cost_svg = charts.stacked_bars(periods, cost_series, unit="USD")[0]
    else:
        act = site.activity.get(generation, wait=2.0)
        periods, series, table, unit = _message_counts(act, period) if act else ([], {}, [], "messages")
        source = "messages"
        complete = complete and act is not None and act.generation == generation
    svg, order = charts.stacked_bars(periods, series, unit=unit) if periods else ("", [])
    ctx = dict(
        title="Usage",
        section="usage",
        period=period,
        source=source,
        chart=Markup(svg),
        cost_chart=Markup(cost_svg),
        legend=order,
        table=table,
        unit=unit,
        problem=problem,
        activity_error=site.activity.error,
    )
    return ctx, complete and site.activity.error is None


LANES = ("input", "output", "cache_read", "cache_write", "reasoning")
LEDGER_PERIODS = 90


def _ledger(site, period: str):
    """(periods, tokens per model and period, cost per model and period, table rows)
    from ``Archive.usage``, or None while the ledger holds nothing; and what went
    wrong reading it, if anything (the page falls back to message counts)."""
    try:
        report = site.usage(period)
    except Exception as e:  # the ledger may be absent, older or broken: the page still shows counts
        return None, f"{type(e).__name__}: {e}"
    rows = [r for r in (report or {}).get("rows", []) if isinstance(r, dict)][-LEDGER_PERIODS:]
    if not any(_tokens(r) for r in rows):
        return None, None
    tokens: dict[str, dict[str, float]] = defaultdict(dict)
    cost: dict[str, dict[str, float]] = defaultdict(dict)
    table = []
    for r in rows:
        label = str(r.get("period") or "")
        for part in r.get("breakdown") or []:
            model = str(part.get("model") or "unknown")
            tokens[model][label] = tokens[model].get(label, 0) + _tokens(part)
            if isinstance(part.get("cost"), (int, float)):
                cost[model][label] = cost[model].get(label, 0) + part["cost"]
        table.append({"period": label, "tokens": _tokens(r), "cost": r.get("cost"), **{k: r.get(k) for k in LANES}})
    periods = [t["period"] for t in table]
    return (periods, tokens, cost, table[::-1]), None


def _tokens(row: dict[str, Any]) -> int:
    if isinstance(row.get("total_tokens"), (int, float)):
        return int(row["total_tokens"])
    return int(sum(v for k, v in row.items() if k in LANES and isinstance(v, (int, float))))


def _message_counts(act, period: str):
    """Before the ledger: messages per day (or month) and model, from the activity counts."""
    series: dict[str, dict[str, float]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for (day, model), n in act.messages_by_day_model.items():
        if not day:  # a conversation without dates
            continue
        label = day if period == "daily" else day[:7]
        series[model][label] = series[model].get(label, 0) + n
        totals[label] += n
    if not totals:
        return [], {}, [], "messages"
    last = max(totals)
    if period == "daily":
        end = date.fromisoformat(last)
        periods = [(end - timedelta(days=i)).isoformat() for i in range(59, -1, -1)]
    else:
        periods = sorted(totals)[-24:]
    table = [{"period": k, "tokens": totals.get(k, 0), "cost": None} for k in reversed(periods) if totals.get(k)]
    return periods, series, table, "messages"


# ------------------------------------------------------------------ sources and health


def health(site, request):
    a = site.archive
    check = a.check() if request.query_params.get("check") else None
    return site.render(
        "health.html",
        title="Sources & health",
        section="health",
        sources=a.sources_report(),
        failing=a.failing_sources(),
        warnings=a.retention_warnings(),
        stats=a.stats(),
        check=check,
    )
