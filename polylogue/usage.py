"""Usage reports (docs/usage.md): tokens and cost per day, week, month, session,
project or model, read from the totals the writer keeps (store/usage.py), each
API response counted once.

Days are local days of a time zone (IANA, default the local zone). The kept
totals are per UTC day and per aligned block of quarter-hours, so a local day is
its UTC days plus the few blocks between UTC midnight and local midnight (every
zone's offset is a whole number of quarter-hours): a report reads a few rows a
day, whatever the zone, DST included."""

from __future__ import annotations

import operator
import os
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from .errors import QueryError
from .store.usage import DAY_MS, LANES, QUARTER_MS, SPANS, SUMS, UNKNOWN_DAY

PERIODS = ("daily", "weekly", "monthly", "session", "project", "model")
_DIMS = ("model", "tier", "long_ctx", "level")
_SUMSQL = ", ".join(f"sum({s})" for s in SUMS)
SESSION_LIMIT = 10_000  # rows of a session report unless asked otherwise


# -- time zones and dates ----------------------------------------------------------
def zone(name: str | None) -> tzinfo:
    """An IANA zone by name; None: the local zone (TZ, else /etc/localtime, else the
    current fixed offset)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name is None:
        name = os.environ.get("TZ") or None
        if name is None:
            try:
                with open("/etc/localtime", "rb") as f:
                    return ZoneInfo.from_file(f, key="localtime")
            except (OSError, ValueError):
                return datetime.now().astimezone().tzinfo or UTC
    name = name.lstrip(":")
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris or Asia/Kolkata)") from None


def _local_date(value: Any, tz: tzinfo, end: bool) -> date | None:
    """A --since/--until bound as a local date (inclusive)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(tz).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    s = str(value).strip()
    try:
        return date.fromisoformat(s)
    except ValueError:
        pass
    from .search import parse_date

    d = parse_date(s, end=False)
    if d is None:
        raise QueryError(f"cannot read the date {s!r} (2025-01-31, yesterday, '3 days ago')")
    return d.astimezone(tz).date()


def _utc_day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _midnight_ms(d: date, tz: tzinfo) -> int:
    """The UTC time (ms) at which local date ``d`` starts."""
    return int(datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC).timestamp() * 1000)


# -- reading the kept totals ---------------------------------------------------------
class _Filter:
    def __init__(self, provider: Any, project: str | None, model: str | None):
        self.sql, self.params = "", []
        provs = [provider] if isinstance(provider, str) else list(provider or [])
        if provs:
            self.sql += f" AND provider IN ({','.join('?' * len(provs))})"
            self.params += provs
        if project:
            self.sql += " AND instr(lower(project), lower(?)) > 0"
            self.params.append(project)
        if model:
            self.sql += " AND instr(lower(model), lower(?)) > 0"
            self.params.append(model)


def _pieces(lo: int, hi: int) -> list[tuple[int, int, int]]:
    """The quarter range [lo, hi) of a day as aligned rollup blocks: (span, first slot, end slot)."""
    out: list[tuple[int, int, int]] = []
    while lo < hi:
        span = next(s for s in reversed(SPANS) if lo % s == 0 and lo + s <= hi)
        if out and out[-1][0] == span and out[-1][2] == lo // span:
            out[-1] = (span, out[-1][1], lo // span + 1)
        else:
            out.append((span, lo // span, lo // span + 1))
        lo += span
    return out


def _add(acc: dict, key: tuple, vals: Iterable[int], sign: int = 1) -> None:
    cur = acc.get(key)
    if cur is None:
        acc[key] = list(vals) if sign == 1 else [-v for v in vals]
    elif sign == 1:
        cur[:] = map(operator.add, cur, vals)
    else:
        cur[:] = map(operator.sub, cur, vals)


def local_days(conn, tz: tzinfo, first: date, last: date, dims: tuple[str, ...], f: _Filter) -> dict[tuple, list[int]]:
    """Totals per (local date, *dims) for local dates first..last.

    Each UTC day is cut at the local midnights within it (none in UTC, one in a
    fixed-offset zone, rarely two on a DST day). Every part of the day is summed in
    SQL and grouped there by local date: a part is read as aligned rollup blocks, or,
    for the larger side of a single cut, as the whole day minus the smaller side (one
    block and a few, instead of many). Consecutive UTC days cut alike are read by one
    statement, so a fixed-offset zone costs one statement, a DST zone a few."""
    start_ms, end_ms = _midnight_ms(first, tz), _midnight_ms(last + timedelta(days=1), tz)
    u0, u1 = start_ms // DAY_MS, (end_ms - 1) // DAY_MS
    epoch = date(1970, 1, 1)
    cuts: dict[int, list[tuple[int, int]]] = defaultdict(list)  # UTC day: (quarter, local date as a day number)
    d = first
    while d <= last + timedelta(days=1):
        ms = _midnight_ms(d, tz)
        if ms % DAY_MS:  # a local midnight at UTC midnight cuts nothing
            cuts[ms // DAY_MS].append((ms % DAY_MS // QUARTER_MS, (d - epoch).days))
        d += timedelta(days=1)
    # the shape of each UTC day: the local date holding its UTC midnight (as an
    # offset from the day) and its cuts (quarter, offset of the date starting there)
    shapes: list[tuple[int, tuple]] = []
    for u in range(u0, u1 + 1):
        owner = (datetime.fromtimestamp(u * 86400, UTC).astimezone(tz).date() - epoch).days
        shapes.append((owner - u, tuple((q, dn - u) for q, dn in sorted(cuts.get(u, ())))))
    n = len(dims)
    acc: dict[tuple, list[int]] = {}
    day_of: dict[int, date] = {}
    cols = ", ".join(dims)
    sql = (
        f"SELECT day, {cols}, {_SUMSQL} FROM usage_rollup WHERE span = ? AND slot >= ? AND slot < ?"
        f" AND day >= ? AND day <= ?{f.sql} GROUP BY day, {cols}"
    )
    i = 0
    while i < len(shapes):  # runs of consecutive UTC days of the same shape
        j = i
        while j + 1 < len(shapes) and shapes[j + 1] == shapes[i]:
            j += 1
        for span, a, b, offset, twin in _reads(shapes[i]):
            rows = conn.execute(sql, (span, a, b, u0 + i, u0 + j, *f.params)).fetchall()
            for ofs, sign in ((offset, 1),) if twin is None else ((offset, 1), (twin, -1)):
                for row in rows:
                    ld = row[0] + ofs
                    dd = day_of.get(ld)
                    if dd is None:
                        dd = day_of[ld] = epoch + timedelta(days=ld)
                    _add(acc, (dd, *row[1 : 1 + n]), row[1 + n :], sign)
        i = j + 1
    return {k: v for k, v in acc.items() if first <= k[0] <= last and any(v)}


def _reads(shape: tuple[int, tuple]) -> list[tuple[int, int, int, int, int | None]]:
    """What to read for UTC days of this shape: rollup blocks (span, first slot, end
    slot), each counted at the local date ``offset`` days from its UTC day and, with
    ``twin``, taken away from the date at ``twin`` (which counted it in a whole day).
    Each read is grouped by day in SQLite's own key order (no sort)."""
    owner, cut = shape
    if not cut:
        return [(96, 0, 1, owner, None)]
    if len(cut) == 1:  # the smaller side as blocks; the larger is the whole day minus it
        ((q, after),) = cut
        if q <= 48:
            return [(96, 0, 1, after, None), *((sp, a, b, owner, after) for sp, a, b in _pieces(0, q))]
        return [(96, 0, 1, owner, None), *((sp, a, b, after, owner) for sp, a, b in _pieces(q, 96))]
    edges = [(0, owner), *cut, (96, 0)]  # a DST day cut twice: every part as blocks
    return [(sp, a, b, offset, None) for (lo, offset), (hi, _) in zip(edges, edges[1:]) for sp, a, b in _pieces(lo, hi)]


def _all_days(conn, f: _Filter, dims: tuple[str, ...]) -> dict[tuple, list[int]]:
    cols = ", ".join(dims)
    sql = f"SELECT {cols}, {_SUMSQL} FROM usage_rollup WHERE span = 96 AND slot = 0{f.sql} GROUP BY {cols}"
    n = len(dims)
    return {tuple(r[:n]): list(r[n:]) for r in conn.execute(sql, f.params)}


def _span(conn, f: _Filter) -> tuple[int, int] | None:
    row = conn.execute(
        f"SELECT min(day), max(day) FROM usage_rollup WHERE span = 96 AND slot = 0 AND day > ?{f.sql}",
        (UNKNOWN_DAY, *f.params),
    ).fetchone()
    return None if row[0] is None else (row[0], row[1])


# -- rows, cost and totals ---------------------------------------------------------------
class _Row:
    """One report row: sums per (model, tier, long, level), priced at the end."""

    def __init__(self, label: Any):
        self.label = label
        self.parts: dict[tuple, list[int]] = {}

    def add(self, dims: tuple, vals: list[int]) -> None:
        _add(self.parts, dims, vals)

    def render(self, prices, breakdown: bool, extra: dict | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"period": self.label, **(extra or {})}
        out.update(_priced(self.parts, prices))
        if breakdown:
            by_model: dict[str, dict[tuple, list[int]]] = defaultdict(dict)
            for k, v in self.parts.items():
                _add(by_model[k[0]], k, v)
            out["breakdown"] = [
                {"model": m or "unknown", **_priced(parts, prices)} for m, parts in sorted(by_model.items())
            ]
        return out


def _priced(parts: dict[tuple, list[int]], prices) -> dict[str, Any]:
    total = [sum(col) for col in zip(*parts.values())] if parts else [0] * len(SUMS)
    levels = [v for k, v in parts.items() if k[3]]
    session = [sum(col) for col in zip(*levels)] if levels else None
    cost: float | None = 0.0
    unknown: dict[str, str] = {}
    for (model, tier, long, _level), v in parts.items():
        c, why = prices.cost(model, tier, long, dict(zip(SUMS, v)))
        if c is None:
            unknown[model or "unknown"] = why or "unknown"
        elif cost is not None:
            cost += c
    out: dict[str, Any] = dict(zip(SUMS, total))
    out["total_tokens"] = sum(out[k] for k in ("input", "output", "cache_read", "cache_write"))
    out["approximate"] = out["approximate"] > 0
    out["models"] = sorted({m or "unknown" for m, *_ in parts})
    out["cost"] = None if unknown else round(cost or 0.0, 6)
    out["cost_complete"] = not unknown
    if unknown:
        out["unknown_models"] = sorted(unknown)
        out["unpriced"] = unknown
    if session and any(session):
        # session-level usage (providers that report only per session): in the row's
        # figures above, and shown apart, never spread over messages
        out["session_level"] = {k: session[i] for i, k in enumerate(SUMS) if k in LANES or k == "responses"}
    return out


def _label(period: str, d: date | None) -> str:
    if d is None:
        return "unknown"
    if period == "weekly":
        return (d - timedelta(days=d.weekday())).isoformat()
    if period == "monthly":
        return d.strftime("%Y-%m")
    return d.isoformat()


def usage_report(
    conn: Any,
    period: str = "daily",
    *,
    since=None,
    until=None,
    provider=None,
    project: str | None = None,
    model: str | None = None,
    breakdown: bool = False,
    tz: str | None = None,
    prices_home: Path | str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The report as a dict: ``rows`` (oldest first; sessions newest first), ``totals``,
    ``period``, ``tz``, ``approximate`` and ``notes``. ``conn``: a sqlite3 connection to
    the archive, or the shared archive's (store/postgres/usage.py's ``Dialect``: this
    module's SQL is written to run on both)."""
    from . import prices as price_table

    if period not in PERIODS:
        raise QueryError(f"unknown period {period!r}: one of {', '.join(PERIODS)}")
    zone_ = zone(tz)
    first, last = _local_date(since, zone_, False), _local_date(until, zone_, True)
    if first and last and first > last:
        raise QueryError(f"--since {first} is after --until {last}")
    prices = price_table.load(prices_home)
    f = _Filter(provider, project, model)
    notes: list[str] = []
    if period == "session":
        rows, total = _sessions(conn, f, zone_, first, last, limit, prices, breakdown, provider, project, model)
    else:
        rows, total = _periods(conn, period, f, zone_, first, last, prices, breakdown, notes)
    totals = total.render(prices, False)
    totals.pop("period")
    if totals["cost"] is None:
        notes.append("cost is unknown where a model has no price (polylogue usage prices; docs/usage.md)")
    if totals["approximate"]:
        notes.append("some counts are approximate (rounded by the tool that recorded them)")
    return {
        "period": period,
        "tz": getattr(zone_, "key", None) or str(zone_),
        "since": first.isoformat() if first else None,
        "until": last.isoformat() if last else None,
        "rows": rows,
        "totals": totals,
        "approximate": totals["approximate"],
        "notes": notes,
    }


def _periods(conn, period, f, zone_, first, last, prices, breakdown, notes) -> tuple[list[dict], _Row]:
    extra = ("project",) if period == "project" else ()
    dims = _DIMS + extra
    total = _Row("total")
    grouped: dict[Any, _Row] = {}
    if period in ("project", "model") and first is None and last is None:
        found = {(None, *k): v for k, v in _all_days(conn, f, dims).items()}
    else:
        span = _span(conn, f)
        found = {}
        if span is not None:
            lo = first or datetime.fromtimestamp(span[0] * 86400, UTC).astimezone(zone_).date()
            hi = last or datetime.fromtimestamp((span[1] + 1) * 86400 - 1, UTC).astimezone(zone_).date()
            if lo <= hi:
                found = local_days(conn, zone_, lo, hi, dims, f)
        if first is None and last is None:  # responses without a time: their own row
            for k, v in _all_days(conn, _unknown_only(f), dims).items():
                found[(None, *k)] = v
    for (d, *rest), v in found.items():
        key4 = tuple(rest[:4])
        if period == "model":
            label: Any = key4[0] or "unknown"
        elif period == "project":
            label = rest[4] or "(no project)"
        else:
            label = _label(period, d)
        grouped.setdefault(label, _Row(label)).add(key4, v)
        total.add(key4, v)
    order = sorted(grouped, key=lambda x: (x == "unknown", x))
    return [grouped[k].render(prices, breakdown) for k in order], total


def _unknown_only(f: _Filter) -> _Filter:
    g = _Filter(None, None, None)
    g.sql, g.params = f.sql + " AND day = ?", [*f.params, UNKNOWN_DAY]
    return g


def _sessions(conn, f, zone_, first, last, limit, prices, breakdown, provider, project, model):
    """Per conversation, newest first, at most ``limit`` rows. The conversations are
    chosen and ordered from the conversations' indexes, and only the rows shown are
    read whole: on a 5M-message archive, reading every conversation's row to sort them
    cost seconds of disk. The totals are summed by SQLite over every matching one."""
    where, params = [], []  # on the conversation
    provs = [provider] if isinstance(provider, str) else list(provider or [])
    if provs:
        where.append(f" AND c.provider IN ({','.join('?' * len(provs))})")
        params += provs
    if project:
        where.append(" AND instr(lower(coalesce(c.project, '')), lower(?)) > 0")
        params.append(project)
    if first:
        where.append(" AND c.last_ts >= ?")
        params.append(_midnight_ms(first, zone_))
    if last:
        where.append(" AND coalesce(c.first_ts, c.last_ts) < ?")
        params.append(_midnight_ms(last + timedelta(days=1), zone_))
    on_model, model_params = ("", []) if not model else (" AND instr(lower(u.model), lower(?)) > 0", [model])
    chosen = (
        f"SELECT c.id, c.last_ts FROM conversations c WHERE true{''.join(where)}"
        f" AND EXISTS (SELECT 1 FROM usage_conversation u WHERE u.conversation_id = c.id{on_model})"
    )
    chosen_params = [*params, *model_params]
    total = _Row("total")
    sums = ", ".join(f"sum(u.{x})" for x in SUMS)
    sql = f"SELECT u.model, u.tier, u.long_ctx, u.level, {sums} FROM usage_conversation u WHERE true{on_model}"
    tparams = list(model_params)
    if where:  # else every conversation with usage counts: no need to look at them
        sql += f" AND u.conversation_id IN (SELECT id FROM ({chosen}) AS chosen)"
        tparams += chosen_params
    for r in conn.execute(sql + " GROUP BY u.model, u.tier, u.long_ctx, u.level", tparams):
        total.add(tuple(r[:4]), list(r[4:]))
    page = f"{chosen} ORDER BY coalesce(c.last_ts, 0) DESC, c.id LIMIT ?"
    sql = (
        f"SELECT p.id, c.uid, c.title, c.provider, c.project, c.last_ts, u.model, u.tier, u.long_ctx, u.level,"
        f" {', '.join('u.' + x for x in SUMS)} FROM ({page}) p JOIN conversations c ON c.id = p.id"
        f" JOIN usage_conversation u ON u.conversation_id = p.id{on_model}"
    )
    convs: dict[int, tuple[_Row, dict]] = {}
    for r in conn.execute(sql, [*chosen_params, limit or SESSION_LIMIT, *model_params]):
        cid = r[0]
        if cid not in convs:
            last_at = datetime.fromtimestamp(r[5] / 1000, UTC).astimezone(zone_).isoformat() if r[5] else None
            meta = {"id": r[1], "title": r[2], "provider": r[3], "project": r[4], "last_at": last_at}
            convs[cid] = (_Row(r[1]), meta, (-(r[5] or 0), cid))
        convs[cid][0].add(tuple(r[6:10]), list(r[10:]))
    ordered = sorted(convs.values(), key=lambda rm: rm[2])
    return [row.render(prices, breakdown, meta) for row, meta, _ in ordered], total


# -- stats and MCP ---------------------------------------------------------------------
def stats_summary(conn: Any, prices_home: Path | str | None = None) -> dict[str, Any]:
    """The usage summary of `stats`, from the kept per-day totals (a few rows per day
    and model, never the messages): responses, the four lanes, models, ``cost``
    (None when a model has no price, never 0) and ``unknown_models``."""
    from . import prices as price_table
    from .store.queries import usage_totals

    out = usage_totals(conn)
    total = _Row("total")
    for k, v in _all_days(conn, _Filter(None, None, None), _DIMS).items():
        total.add(k, v)
    priced = _priced(total.parts, price_table.load(prices_home))
    out["cost"] = priced["cost"]
    out["unknown_models"] = priced.get("unknown_models", [])
    return out


def stats_line(summary: dict[str, Any]) -> str:
    """`stats`' one line from ``stats_summary``, e.g. ``Usage: 281,272 responses,
    4.51B tokens (input 986M, output 74.1M, cache read 3.38B, cache write 62.0M),
    cost $1,234.56`` (or ``cost unknown: 3 models without a price``). Model names
    are not in it: plain text, nothing from the archive to neutralise."""
    if not summary.get("responses"):
        return "Usage: none recorded"
    lanes = ("input", "output", "cache_read", "cache_write")
    tokens = sum(summary.get(k, 0) for k in lanes)
    parts = ", ".join(f"{k.replace('_', ' ')} {_short(summary.get(k, 0))}" for k in lanes)
    if summary.get("cost") is not None:
        cost = f"cost ${summary['cost']:,.2f}"
    else:
        n = len(summary.get("unknown_models") or ()) or 1
        cost = f"cost unknown: {n} model{'s' if n != 1 else ''} without a price (polylogue usage prices)"
    n = summary["responses"]
    return f"Usage: {n:,} response{'s' if n != 1 else ''}, {_short(tokens)} tokens ({parts}), {cost}"


def _short(n: int) -> str:
    """A token count in three significant digits: 986M, 74.1M, 3.38B, 62.0M, 950."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size * 0.9995:  # 999,999 is 1.00M, not 1000K
            v = n / size
            return (f"{v:.2f}" if v < 9.995 else f"{v:.1f}" if v < 99.95 else f"{v:,.0f}") + unit
    return str(n)


def usage_summary_tool(archive, period: str = "daily", since=None, until=None, group_by: str | None = None) -> dict:
    """The MCP tool ``usage_summary``: a usage report bounded like the other tools
    (at most MCP_ROWS rows, the newest kept, with a note when rows were left out)."""
    if group_by not in (None, "", "model"):
        raise QueryError(f"unknown group_by {group_by!r}: 'model' or nothing")
    report = archive.usage(period, since=since, until=until, breakdown=group_by == "model")
    rows = report["rows"]
    if len(rows) > MCP_ROWS:
        left = len(rows) - MCP_ROWS
        report["rows"] = rows[:MCP_ROWS] if period == "session" else rows[-MCP_ROWS:]
        report["notes"].append(f"{left} more rows left out; narrow since/until")
    return report


MCP_ROWS = 100
