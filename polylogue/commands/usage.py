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

    home = archive_of(ctx).home
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
    from rich.table import Table

    t = Table(title=f"Prices in effect (USD per million tokens; yours: {safe(user_file(home))})")
    for col in ("Model", "From", "Input", "Output", "Cache read", "Write 5m", "Write 1h", ">200K", "Effective"):
        t.add_column(col, justify="left" if col in ("Model", "From", "Effective") else "right")
    for r in rows:
        t.add_row(
            safe(r["model"]),
            r["origin"],
            *(_rate(r[k]) for k in ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")),
            "yes" if r["long_context"] else "",
            safe(r["effective"] or ""),
        )
    _console().print(t)


def _rate(v: float | None) -> str:
    return "unknown" if v is None else f"{v:g}"


def _console():
    from rich.console import Console

    plain = not sys.stdout.isatty() or "NO_COLOR" in os.environ
    return Console(no_color=plain, highlight=False, force_terminal=False if plain else None, soft_wrap=plain)


def _cost(v: float | None) -> str:
    return "unknown" if v is None else f"${v:,.2f}"


def _print_report(report: dict[str, Any], breakdown: bool) -> None:
    from rich.table import Table

    console = _console()
    rows = report["rows"]
    if not rows:
        click.echo("No usage recorded" + (" in this range." if report["since"] or report["until"] else "."))
        return
    label = {"session": "Session", "project": "Project", "model": "Model"}.get(report["period"], "Period")
    t = Table(title=f"Usage, {report['period']} ({safe(report['tz'])})", show_footer=True)
    tot = report["totals"]
    t.add_column(label, footer="Total")
    if report["period"] == "session":
        t.add_column("Title")
    for key, head in LANE_COLUMNS:
        t.add_column(head, justify="right", footer=f"{tot[key]:,}")
    t.add_column("Cost", justify="right", footer=_cost(tot["cost"]))
    for r in rows:
        lead = [safe(r["period"])] + ([safe(r.get("title") or "")[:40]] if report["period"] == "session" else [])
        mark = "~" if r["approximate"] else ""
        t.add_row(*lead, *(f"{mark}{r[k]:,}" for k, _ in LANE_COLUMNS), _cost(r["cost"]))
        if breakdown:
            for b in r.get("breakdown", []):
                pad = [""] if report["period"] == "session" else []
                t.add_row(
                    "  " + safe(b["model"]),
                    *pad,
                    *(f"{b[k]:,}" for k, _ in LANE_COLUMNS),
                    _cost(b["cost"]),
                    style="dim",
                )
    console.print(t)
    if report["period"] in ("daily", "weekly", "monthly"):
        _bars(console, rows)
    unknown = sorted({m for r in rows for m in r.get("unknown_models", [])})
    if unknown:
        console.print("Unpriced models (cost unknown): " + ", ".join(safe(m) for m in unknown))
    for note in report["notes"]:
        console.print(f"Note: {safe(note)}")


def _bars(console, rows: list[dict]) -> None:
    """Total tokens per period as a bar each: plain characters, no colour needed."""
    top = max((r["total_tokens"] for r in rows), default=0)
    if not top:
        return
    for r in rows[-60:]:
        n = round(r["total_tokens"] / top * BAR_WIDTH)
        console.print(f"{safe(r['period']):>10} {'█' * n}{' ' * (BAR_WIDTH - n)} {r['total_tokens']:,}")
