"""`polylogue usage`: tokens and cost per day, week, month, session, project or
model (docs/usage.md), and `polylogue usage prices`, the price table in effect."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..clikit import archive_of, emit_json, filter_options, safe

LANE_COLUMNS = (("input", "Input"), ("output", "Output"), ("cache_read", "Cache read"), ("cache_write", "Cache write"))
BAR_WIDTH = 30
PERIODS = ("daily", "weekly", "monthly", "session", "project", "model")
_VALUED = {"--provider", "-p", "--since", "--until", "--project", "--model", "-m", "--tz", "--limit"}


class _UsageGroup(click.Group):
    """`usage` alone, or `usage daily|weekly|...`, runs a report; `usage prices` lists prices."""

    def parse_args(self, ctx, args):
        args = list(args)
        for i, a in enumerate(args):
            if a in PERIODS and (i == 0 or args[i - 1] not in _VALUED):
                ctx.meta["usage_period"] = args.pop(i)
                break
            if a == "prices" or a == "--":
                break
        if args and not args[0].startswith("-") and args[0] != "prices" and not any(a in PERIODS for a in args[:1]):
            raise click.UsageError(f"unknown period {args[0]!r}: one of {', '.join(PERIODS)}, or prices")
        return super().parse_args(ctx, args)


@click.group(cls=_UsageGroup, invoke_without_command=True)
@filter_options
@click.option("--model", "-m", help="Only models whose name contains this.")
@click.option("--breakdown", is_flag=True, help="Split each row by model.")
@click.option("--tz", help="IANA time zone for day boundaries (default: local time).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows (sessions: the newest).")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@click.pass_context
def usage(ctx, provider, since, until, project, model, breakdown, tz, limit, as_json):
    """Tokens and cost: usage [daily|weekly|monthly|session|project|model].

    Each API response is counted once, across files, resumed sessions, forks and
    subagents. A model without a price has cost "unknown", never $0."""
    if ctx.invoked_subcommand is not None:
        return
    period = ctx.meta.get("usage_period", "daily")
    report = archive_of(ctx).usage(
        period,
        since=since,
        until=until,
        provider=list(provider) or None,
        project=project,
        model=model,
        breakdown=breakdown,
        tz=tz,
    )
    if limit and len(report["rows"]) > limit:
        report["rows"] = report["rows"][:limit] if period == "session" else report["rows"][-limit:]
    if as_json:
        emit_json(report)
        return
    _print_report(report, breakdown)


@usage.command("prices")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@click.pass_context
def prices_cmd(ctx, as_json):
    """The price table in effect: shipped rows and <home>/prices.json rows."""
    from ..prices import load, user_file

    archive = archive_of(ctx)
    # a shared archive's reports are priced from this machine's home (PgArchive.prices_home)
    home = getattr(archive, "prices_home", None) or archive.home
    table = load(home)
    rows = [
        {
            "model": p.model,
            "origin": p.origin,
            **p.rates,
            "long_context": p.long_context,
            "effective": p.effective,
            "source": p.source,
        }
        for p in table.in_effect()
    ]
    if as_json:
        emit_json({"user_file": str(user_file(home)), "prices": rows})
        return
    head = ["Model", "From", "Input", "Output", "Cache read", "Write 5m", "Write 1h", ">200K", "Effective"]
    body = [
        (
            [
                safe(r["model"]),
                r["origin"],
                *(_rate(r[k]) for k in ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")),
                "yes" if r["long_context"] else "",
                safe(r["effective"] or ""),
            ],
            "",
        )
        for r in rows
    ]
    lines = [f"Prices in effect (USD per million tokens; yours: {safe(user_file(home))})", ""]
    lines += table(head, body, None, 2, colour=_colour())
    sys.stdout.write("\n".join(lines) + "\n")


def _rate(v: float | None) -> str:
    return "unknown" if v is None else f"{v:g}"


def _cost(v: float | None) -> str:
    return "unknown" if v is None else f"${v:,.2f}"


def _print_report(report: dict[str, Any], breakdown: bool) -> None:
    rows = report["rows"]
    if not rows:
        click.echo("No usage recorded" + (" in this range." if report["since"] or report["until"] else "."))
        return
    session = report["period"] == "session"
    label = {"session": "Session", "project": "Project", "model": "Model"}.get(report["period"], "Period")
    head = [label, *(["Title"] if session else []), *(h for _, h in LANE_COLUMNS), "Cost"]
    body: list[tuple[list[str], str]] = []
    for r in rows:
        lead = [safe(r["period"]), *([_clip(safe(r.get("title") or ""), TITLE_WIDTH)] if session else [])]
        mark = "~" if r["approximate"] else ""
        body.append(([*lead, *(f"{mark}{r[k]:,}" for k, _ in LANE_COLUMNS), _cost(r["cost"])], ""))
        if breakdown:
            for b in r.get("breakdown", []):
                lead = ["  " + safe(b["model"]), *([""] if session else [])]
                body.append(([*lead, *(f"{b[k]:,}" for k, _ in LANE_COLUMNS), _cost(b["cost"])], DIM))
    tot = report["totals"]
    foot = ["Total", *([""] if session else []), *(f"{tot[k]:,}" for k, _ in LANE_COLUMNS), _cost(tot["cost"])]
    lead_cols = 2 if session else 1
    out = [f"Usage, {report['period']} ({safe(report['tz'])})", ""]
    out += table(head, body, foot, lead_cols, colour=_colour())
    if report["period"] in ("daily", "weekly", "monthly"):
        out += [""] + bars(rows)
    unknown = sorted({m for r in rows for m in r.get("unknown_models", [])})
    if unknown:
        out.append("Unpriced models (cost unknown): " + ", ".join(safe(m) for m in unknown))
    out += [f"Note: {safe(note)}" for note in report["notes"]]
    sys.stdout.write("\n".join(out) + "\n")


# -- plain aligned columns --------------------------------------------------------------
# Drawn here rather than by Rich's Table: a report of a few hundred rows costs Rich's
# layout engine most of a second of CPU; these are fixed columns of short cells, so
# padding each cell to its column's width is all the layout there is.
BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
TITLE_WIDTH = 40
RULE, BLOCK = "\u2500", "\u2588"


def _colour() -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (no-color.org)."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def width(text: str) -> int:
    """Terminal cells of a one-line string: wide (CJK) characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    from unicodedata import combining, east_asian_width

    return sum(0 if combining(c) else 2 if east_asian_width(c) in "WF" else 1 for c in text)


def _clip(text: str, cells: int) -> str:
    if width(text) <= cells:
        return text
    out, used = [], 0
    for c in text:
        w = width(c)
        if used + w > cells - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + "\u2026"


def table(
    head: list[str], body: list[tuple[list[str], str]], foot: list[str] | None, lead: int, *, colour: bool
) -> list[str]:
    """Lines of a table: the first ``lead`` columns left-aligned, the rest (figures)
    right-aligned, a rule under the header and above the footer. ``body`` rows carry
    a style (DIM or "") used only when ``colour``."""
    rows = [head, *(cells for cells, _ in body), *([foot] if foot else [])]
    widths = [max(width(r[i]) for r in rows) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        parts = []
        for i, (cell, w) in enumerate(zip(cells, widths)):
            pad = " " * (w - width(cell))
            parts.append(cell + pad if i < lead else pad + cell)
        return "  ".join(parts).rstrip()

    rule = "  ".join(RULE * w for w in widths)
    out = [f"{BOLD}{line(head)}{RESET}" if colour else line(head), rule]
    for cells, style in body:
        text = line(cells)
        out.append(f"{style}{text}{RESET}" if colour and style else text)
    if foot:
        out += [rule, f"{BOLD}{line(foot)}{RESET}" if colour else line(foot)]
    return out


def bars(rows: list[dict]) -> list[str]:
    """Total tokens per period as a bar each (the last 60 periods): plain characters, no colour needed."""
    top = max((r["total_tokens"] for r in rows), default=0)
    if not top:
        return []
    shown = rows[-60:]
    pad = max(width(safe(r["period"])) for r in shown)
    out = []
    for r in shown:
        n = round(r["total_tokens"] / top * BAR_WIDTH)
        name = safe(r["period"])
        out.append(f"{' ' * (pad - width(name))}{name} {BLOCK * n}{' ' * (BAR_WIDTH - n)} {r['total_tokens']:,}")
    return out
