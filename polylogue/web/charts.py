"""Server-side SVG charts: the activity calendar and stacked bars per period.

Every label is escaped; colours are CSS classes (the stylesheet says what they
are, in light and dark), so the page needs no inline style and no script.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from urllib.parse import urlencode

from ..render.html import esc

CELL, GAP = 11, 2
SERIES = 6  # the biggest series get a colour each; the rest are "other"


def _level(n: int, top: int) -> int:
    if n <= 0 or top <= 0:
        return 0
    return min(4, 1 + (4 * n - 1) // top)


def heatmap(per_day: Mapping[str, int], *, end: date | None = None, weeks: int = 53, noun: str = "conversation") -> str:
    """A GitHub-style calendar of ``per_day`` ("YYYY-MM-DD" -> count), ``weeks`` columns
    ending with the week of ``end`` (default: the last day with a count). Each day
    links to the conversations of that day (browse)."""
    if end is None:
        days = [d for d, n in per_day.items() if n and d]
        end = date.fromisoformat(max(days)) if days else date.today()
    first = end - timedelta(days=end.weekday() + 7 * (weeks - 1))
    counts = [per_day.get((first + timedelta(days=i)).isoformat(), 0) for i in range((end - first).days + 1)]
    top = sorted(counts)[int(len(counts) * 0.95)] if counts else 0
    width, height = weeks * (CELL + GAP) + 30, 7 * (CELL + GAP) + 18
    out = [
        f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-label="{esc(noun)}s per day, {esc(first.isoformat())} to {esc(end.isoformat())}">'
    ]
    month = -1
    for i, n in enumerate(counts):
        d = first + timedelta(days=i)
        x, y = 28 + (i // 7) * (CELL + GAP), 16 + (i % 7) * (CELL + GAP)
        if d.month != month and d.day <= 7:
            month = d.month
            out.append(f'<text x="{x}" y="10" class="lbl">{d:%b}</text>')
        tip = f"{d.isoformat()}: {n:,} {noun}{'' if n == 1 else 's'}"
        rect = f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="2" class="l{_level(n, top)}"><title>{esc(tip)}</title></rect>'
        if n:
            href = "/browse?" + urlencode({"since": d.isoformat(), "until": d.isoformat()})
            rect = f'<a href="{esc(href)}">{rect}</a>'
        out.append(rect)
    for row, name in ((1, "Mon"), (3, "Wed"), (5, "Fri")):
        out.append(f'<text x="0" y="{16 + row * (CELL + GAP) + 9}" class="lbl">{name}</text>')
    out.append("</svg>")
    return "".join(out)


def stacked_bars(
    periods: list[str], series: Mapping[str, Mapping[str, float]], *, unit: str = "", height: int = 220
) -> tuple[str, list[str]]:
    """Bars per period, stacked by series (``series[name][period] = value``).
    Returns (svg, the series names in legend order, "other" last)."""
    totals = {s: sum(v.values()) for s, v in series.items()}
    named = sorted(totals, key=lambda s: -totals[s])[:SERIES]
    rest = [s for s in series if s not in named]
    stacks: dict[str, dict[str, float]] = {s: dict(series[s]) for s in named}
    if rest:
        other: dict[str, float] = {}
        for s in rest:
            for p, v in series[s].items():
                other[p] = other.get(p, 0) + v
        stacks["other"] = other
    order = list(stacks)
    top = max((sum(stacks[s].get(p, 0) for s in order) for p in periods), default=0) or 1
    bar = max(3, min(24, 720 // max(1, len(periods))))
    width = 60 + len(periods) * (bar + 2) + 50  # room for the last label
    chart_h = height - 30
    out = [
        f'<svg class="bars" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-label="{esc(unit)} per period">',
        f'<text x="0" y="12" class="lbl">{esc(_short(top))}</text>',
        f'<line x1="56" y1="{chart_h}" x2="{width}" y2="{chart_h}" class="axis"/>',
    ]
    for i, p in enumerate(periods):
        x, y = 58 + i * (bar + 2), float(chart_h)
        for k, s in enumerate(order):
            v = stacks[s].get(p, 0)
            if v <= 0:
                continue
            h = v / top * (chart_h - 16)
            y -= h
            tip = f"{p} · {s}: {_short(v)} {unit}"
            out.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{max(h, 0.5):.1f}" class="s{k if s != "other" else "o"}">'
                f"<title>{esc(tip)}</title></rect>"
            )
        if i == 0 or i == len(periods) - 1 or (len(periods) > 8 and i % max(1, len(periods) // 6) == 0):
            out.append(f'<text x="{x}" y="{height - 6}" class="lbl">{esc(p)}</text>')
    out.append("</svg>")
    return "".join(out), order


def _short(v: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.1f}{suffix}"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
