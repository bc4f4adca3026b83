"""Usage reports (docs/usage.md): tokens and cost per day, week, month, session,
project or model, read from the totals the writer keeps (store/usage.py), each
API response counted once.

Days are local days of a time zone (IANA, default the local zone). The kept
totals are per UTC day and per aligned block of quarter-hours, so a local day is
its UTC days plus the few blocks between UTC midnight and local midnight (every
zone's offset is a whole number of quarter-hours): a report reads a few rows a
day, whatever the zone, DST included."""

from __future__ import annotations

import os
import sqlite3
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


def _sums(conn, span, slots, days, dims, f: _Filter) -> Iterable[tuple]:
    cols = ", ".join(dims)
    sql = (
        f"SELECT day, {cols}, {_SUMSQL} FROM usage_rollup WHERE span = ? AND slot >= ? AND slot < ?"
        f" AND day >= ? AND day <= ?{f.sql} GROUP BY day, {cols}"
    )
    return conn.execute(sql, (span, slots[0], slots[1], days[0], days[1], *f.params))


def _add(acc: dict, key: tuple, vals: Iterable[int], sign: int = 1) -> None:
    cur = acc.get(key)
    if cur is None:
        cur = acc[key] = [0] * len(SUMS)
    for i, v in enumerate(vals):
        cur[i] += sign * v


def local_days(conn, tz: tzinfo, first: date, last: date, dims: tuple[str, ...], f: _Filter) -> dict[tuple, list[int]]:
    """Totals per (local date, *dims) for local dates first..last."""
    start_ms, end_ms = _midnight_ms(first, tz), _midnight_ms(last + timedelta(days=1), tz)
    u0, u1 = start_ms // DAY_MS, (end_ms - 1) // DAY_MS
    # local midnights per UTC day: (quarter, the local date starting there)
    cuts: dict[int, list[tuple[int, date]]] = defaultdict(list)
    d = first
    while d <= last + timedelta(days=1):
        ms = _midnight_ms(d, tz)
        cuts[ms // DAY_MS].append((ms % DAY_MS // QUARTER_MS, d))
        d += timedelta(days=1)
    acc: dict[tuple, list[int]] = {}
    n = len(dims)

    def owner(u: int) -> date:  # the local date holding UTC midnight of day u
        return datetime.fromtimestamp(u * 86400, UTC).astimezone(tz).date()

    owners = {u: owner(u) for u in range(u0, u1 + 1)}
    for row in _sums(conn, 96, (0, 1), (u0, u1), dims, f):
        _add(acc, (owners[row[0]], *row[1 : 1 + n]), row[1 + n :])
    # move the part of each UTC day after a local midnight to the date starting there;
    # days sharing a cut quarter are read together, a run of consecutive days at a time
    moves: dict[int, list[tuple[int, date, date]]] = defaultdict(list)
    for u in range(u0, u1 + 1):
        prev = owners[u]
        for s, dd in sorted(cuts.get(u, ())):
            if s:
                moves[s].append((u, prev, dd))
            prev = dd
    for s, items in moves.items():
        target = {u: (src, dst) for u, src, dst in items}
        for lo_u, hi_u in _runs(sorted(target)):
            head = s <= 48  # read the smaller side: the head (then tail = day - head) or the tail
            pieces = _pieces(0, s) if head else _pieces(s, 96)
            part: dict[tuple, list[int]] = {}
            for span, a, b in pieces:
                for row in _sums(conn, span, (a, b), (lo_u, hi_u), dims, f):
                    _add(part, (row[0], *row[1 : 1 + n]), row[1 + n :])
            if head:  # tail = whole day - head
                whole: dict[tuple, list[int]] = {}
                for row in _sums(conn, 96, (0, 1), (lo_u, hi_u), dims, f):
                    _add(whole, (row[0], *row[1 : 1 + n]), row[1 + n :])
                for k, v in part.items():
                    _add(whole, k, v, -1)
                part = whole
            for (u, *rest), v in part.items():
                if u in target and any(v):
                    src, dst = target[u]
                    _add(acc, (src, *rest), v, -1)
                    _add(acc, (dst, *rest), v)
    return {k: v for k, v in acc.items() if first <= k[0] <= last and any(v)}


def _runs(days: list[int]) -> Iterable[tuple[int, int]]:
    start = prev = days[0]
    for u in days[1:]:
        if u != prev + 1:
            yield start, prev
            start = u
        prev = u
    yield start, prev


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
    total = [0] * len(SUMS)
    session = [0] * len(SUMS)
    cost: float | None = 0.0
    unknown: dict[str, str] = {}
    for (model, tier, long, level), v in parts.items():
        for i, x in enumerate(v):
            total[i] += x
            if level:
                session[i] += x
        lanes = dict(zip(SUMS, v))
        c, why = prices.cost(model, tier, long, lanes)
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
    if any(session):
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
    conn: sqlite3.Connection,
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
    ``period``, ``tz``, ``approximate`` and ``notes``."""
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
    where, params = ["1"], []
    provs = [provider] if isinstance(provider, str) else list(provider or [])
    if provs:
        where.append(f"c.provider IN ({','.join('?' * len(provs))})")
        params += provs
    if project:
        where.append("instr(lower(coalesce(c.project, '')), lower(?)) > 0")
        params.append(project)
    if model:
        where.append("instr(lower(u.model), lower(?)) > 0")
        params.append(model)
    if first:
        where.append("c.last_ts >= ?")
        params.append(_midnight_ms(first, zone_))
    if last:
        where.append("coalesce(c.first_ts, c.last_ts) < ?")
        params.append(_midnight_ms(last + timedelta(days=1), zone_))
    sql = (
        f"SELECT c.id, c.uid, c.title, c.provider, c.project, c.last_ts, u.model, u.tier, u.long_ctx, u.level,"
        f" {', '.join('u.' + s for s in SUMS)} FROM usage_conversation u JOIN conversations c ON c.id = u.conversation_id"
        f" WHERE {' AND '.join(where)}"
    )
    convs: dict[int, tuple[_Row, dict]] = {}
    total = _Row("total")
    for r in conn.execute(sql, params):
        cid = r[0]
        if cid not in convs:
            last_at = datetime.fromtimestamp(r[5] / 1000, UTC).astimezone(zone_).isoformat() if r[5] else None
            meta = {"id": r[1], "title": r[2], "provider": r[3], "project": r[4], "last_at": last_at, "_ts": r[5] or 0}
            convs[cid] = (_Row(r[1]), meta)
        convs[cid][0].add(tuple(r[6:10]), list(r[10:]))
        total.add(tuple(r[6:10]), list(r[10:]))
    ordered = sorted(convs.values(), key=lambda rm: -rm[1]["_ts"])[: limit or SESSION_LIMIT]
    rows = []
    for row, meta in ordered:
        meta.pop("_ts")
        rows.append(row.render(prices, breakdown, meta))
    return rows, total


# -- stats and MCP ---------------------------------------------------------------------
def stats_summary(conn: sqlite3.Connection, prices_home: Path | str | None = None) -> dict[str, Any]:
    """The one-line usage summary of `stats`: tokens, cost (None when a model has no
    price) and the unpriced models."""
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
