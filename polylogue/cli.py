"""The command line: a thin Click layer over polylogue.Archive.

Heavy modules are imported inside commands so `polylogue --help` and
`polylogue search` start fast."""

from __future__ import annotations

import sys
from typing import Any

import click

from . import __version__


def _archive(ctx: click.Context):
    from .api import Archive

    obj = ctx.find_root().obj
    if obj.get("archive") is None:
        obj["archive"] = Archive(obj.get("home"))
    return obj["archive"]


def _emit_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"polylogue: {message}", err=True)
    sys.exit(code)


class _Group(click.Group):
    def invoke(self, ctx):
        from .errors import PolylogueError

        try:
            return super().invoke(ctx)
        except PolylogueError as e:
            _fail(str(e), 2 if type(e).__name__ == "QueryError" else 1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="POLYLOGUE_HOME",
    help="Archive folder (default: $POLYLOGUE_HOME or $XDG_DATA_HOME/polylogue).",
)
@click.version_option(__version__, prog_name="polylogue")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Polylogue: one local, searchable archive of your AI conversations.

    Import ChatGPT, Claude, Claude Code, Codex and Gemini exports and session
    logs into a SQLite archive, then search, read and export them.
    """
    ctx.obj = {"home": home, "archive": None}


# ------------------------------------------------------------------ sync


class _RichProgress:
    def __init__(self):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.p = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.percentage:>3.0f}% {task.fields[detail]}"),
            TimeRemainingColumn(),
            transient=True,
            console=_stderr_console(),
        )
        self.files = self.done_files = self.convs = self.msgs = 0
        self.task = self.counts = None
        import time

        self._t0 = time.perf_counter()
        self._time = time.perf_counter

    def _fields(self) -> dict:
        rate = self.msgs / max(self._time() - self._t0, 1e-6)
        return {"detail": f"{self.done_files:,}/{self.files:,} files · {self.msgs:,} msgs · {rate:,.0f}/s"}

    def start(self, files: int, total_bytes: int) -> None:
        self.files = files
        self.p.start()
        self.task = self.p.add_task("importing", total=max(total_bytes, 1), **self._fields())

    def file_done(self, size: int) -> None:
        self.done_files += 1
        self.p.update(self.task, advance=size, **self._fields())

    def conversation(self, messages: int) -> None:
        self.convs += 1
        self.msgs += messages
        if self.convs % 50 == 0:
            self.p.update(self.task, **self._fields())

    def counting(self, done: int, blocks: int) -> None:
        if self.counts is None:
            if self.task is not None:
                self.p.update(self.task, visible=False)
            self.counts = self.p.add_task("counting", total=blocks, detail="frequent words, per block")
        self.p.update(self.counts, completed=done)

    def finish(self) -> None:
        self.p.stop()


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--force", is_flag=True, help="Re-read every file, even those unchanged since the last sync.")
@click.option(
    "--workers", type=int, default=None, help="Parser processes (default: one per core, up to 3; 0 parses in-process)."
)
@click.option("--no-wait", is_flag=True, help="Exit instead of waiting when another sync is running.")
@click.pass_context
def sync(ctx, paths, as_json, force, workers, no_wait):
    """Import files, folders or zips (default: the standard locations).

    With no PATHS, imports ~/.claude/projects, ~/.codex/sessions, ~/.gemini/tmp
    and the archive's inbox folder. The format of each file is detected from its
    content. Exit code: 0 all well, 3 some files failed, 1 nothing imported.
    """
    a = _archive(ctx)
    progress = _RichProgress() if sys.stderr.isatty() else None
    report = a.sync(list(paths) or None, progress=progress, workers=workers, force=force, wait=not no_wait)
    for e in report.errors:
        loc = f"{e['path']}:{e['line']}" if e.get("line") else e["path"]
        click.echo(f"polylogue: error: {loc}: {e['error']}", err=True)
    for w in report.warnings:
        click.echo(f"polylogue: warning: {w['path']}: {w['warning']}", err=True)
    if as_json:
        _emit_json(report.to_json())
    else:
        j = report.to_json()
        f, c, m = j["files"], j["conversations"], j["messages"]
        if not f["seen"]:
            click.echo(
                "No input files found."
                + ("" if paths else " Drop exports into " + str(a.home / "inbox") + " or pass paths to sync.")
            )
        elif not (c["new"] or c["updated"] or m["new"] or report.errors):
            click.echo(f"Nothing changed: {f['seen']} files checked, {f['unchanged']} unchanged ({j['seconds']:.2f}s).")
        else:
            click.echo(
                f"Files: {f['seen']} seen, {f['imported']} imported, {f['unchanged']} unchanged, "
                f"{f['failed']} failed" + (f", {f['skipped']} skipped" if f["skipped"] else "")
            )
            click.echo(f"Conversations: {c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged")
            click.echo(f"Messages: {m['new']} new, {m['updated']} updated  ({j['seconds']:.2f}s)")
            if report.errors:
                click.echo(f"{len(report.errors)} problems (listed above).")
    sys.exit(report.exit_code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sources(ctx, as_json):
    """List the default sources, whether they exist, and what is there."""
    rows = _archive(ctx).sources_report()
    if as_json:
        _emit_json(rows)
        return
    for r in rows:
        state = f"{r['files']} files, {r['bytes'] / 1e6:.1f} MB" if r["exists"] else "not found"
        click.echo(f"{r['name']:<12} {r['path']}  ({state})")


# ------------------------------------------------------------------ reading


def _filter_options(f):
    for opt in reversed(
        [
            click.option("--provider", "-p", multiple=True, help="Only this provider (repeatable)."),
            click.option("--since", help="Only after this date (2025-01-31, yesterday, '3 days ago')."),
            click.option("--until", help="Only before this date (inclusive for a bare date)."),
            click.option("--project", help="Working directory / project contains this."),
        ]
    ):
        f = opt(f)
    return f


@cli.command()
@click.argument("query", nargs=-1)
@click.option("--limit", "-n", default=10, show_default=True, help="Conversations to show.")
@click.option("--offset", default=0, help="Skip this many conversations (paging).")
@_filter_options
@click.option("--role", multiple=True, type=click.Choice(["user", "assistant", "system", "tool"]))
@click.option("--kind", multiple=True, type=click.Choice(["text", "thinking", "tool_use", "tool_result"]))
@click.option("--model", help="Model name contains this.")
@click.option("--has", "has_", multiple=True, type=click.Choice(["thinking", "tools", "attachments"]))
@click.option("--title", multiple=True, help="Title contains these words (repeatable).")
@click.option("--id", "ids", multiple=True, help="Conversation id starts with this (repeatable).")
@click.option(
    "--regex",
    metavar="PATTERN",
    help="Python regular expression the message text must match, tried on the messages QUERY "
    "matches (or all that the filters allow); bounded work, with a note when it stops early.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of conversations with their hits.")
@click.pass_context
def search(
    ctx, query, limit, offset, provider, since, until, project, role, kind, model, has_, title, ids, regex, as_json
):
    """Search the archive. See `polylogue help-query` for the query language.

    \b
    Examples:
      polylogue search oauth refresh
      polylogue search '"connection reset"' provider:codex since:'last week'
      polylogue search 'pars*' --kind thinking
      polylogue search timeout --regex 'retr(y|ies) \\d+ times'
    """
    if not (query or regex is not None or provider or since or until or project or model or has_ or title or ids):
        raise click.UsageError("give words to search for, filters, or --regex PATTERN")
    a = _archive(ctx)
    res = a.search(
        " ".join(query),
        limit=limit,
        offset=offset,
        provider=list(provider),
        since=since,
        until=until,
        project=project,
        role=list(role),
        kind=list(kind),
        model=model,
        has=list(has_),
        title=list(title),
        id=list(ids),
        regex=regex,
    )
    shown = len(res.conversations)
    summary = f"{res.total_conversations} conversations, {res.total_messages} messages matched" + (
        f"; showing {offset + 1}-{offset + shown}" if shown else ""
    )
    for note in res.notes:  # e.g. newest first past the ranking bound, a regex stopped by its bound
        click.echo(f"note: {note}", err=True)
    if as_json:
        _emit_json(res.conversations)
        click.echo(summary, err=True)
        return
    _print_results(res, summary)


def _print_results(res, summary: str) -> None:
    from rich.console import Console
    from rich.text import Text

    con = Console(highlight=False)
    for c in res.conversations:
        date = (c["updated_at"] or "")[:10]
        con.print(
            Text.assemble(
                (c["title"] or "(untitled)", "bold"),
                "  ",
                (c["id"], "cyan"),
                "  ",
                (f"{c['provider']} · {date} · {c['message_count']} msgs", "dim"),
            )
        )
        for h in c["hits"]:
            t = Text(f"  {h['role']:>9} │ ", style="dim")
            snip = Text(h["snippet"])
            for a, b in h["highlights"]:
                snip.stylize("bold yellow", a, b)
            con.print(t + snip)
            con.print(Text(f"            message {h['message_id']}", style="dim"))
        con.print()
    click.echo(summary, err=not sys.stdout.isatty())


@cli.command("list")
@_filter_options
@click.option("--limit", "-n", default=50, show_default=True)
@click.option("--offset", default=0)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of conversations.")
@click.pass_context
def list_(ctx, provider, since, until, project, limit, offset, as_json):
    """List conversations, newest first."""
    rows = _archive(ctx).list(
        provider=list(provider), since=since, until=until, project=project, limit=limit, offset=offset
    )
    if as_json:
        _emit_json(rows)
        return
    for c in rows:
        click.echo(
            f"{(c['updated_at'] or '')[:16]:<16}  {c['provider']:<11} {c['message_count']:>6}  "
            f"{c['id']}  {c['title'] or '(untitled)'}"
        )


@cli.command()
@click.argument("ident")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html", "json", "text"]),
    default=None,
    help="Print this format instead of the terminal view.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--branch",
    type=click.Choice(["active", "all"]),
    default="all",
    show_default=True,
    help="Only the active path, or every branch (others marked).",
)
@click.option("--thinking", is_flag=True, help="Expand thinking (collapsed to one line by default).")
@click.option("--tools", is_flag=True, help="Expand tool calls and results (collapsed by default).")
@click.option("--all", "all_", is_flag=True, help="Expand everything (--thinking --tools).")
@click.option("--no-pager", is_flag=True, help="Never page, even on a terminal.")
@click.pass_context
def show(ctx, ident, fmt, as_json, branch, thinking, tools, all_, no_pager):
    """Show one conversation by id, provider id or a unique prefix.

    On a terminal: a rich view in a pager, thinking and tool traffic collapsed.
    Piped: Markdown. Subagents and other linked conversations are listed at the end.
    """
    a = _archive(ctx)
    fmt = "json" if as_json else fmt
    active_only = branch == "active"
    thinking, tools = thinking or all_, tools or all_
    if fmt == "json":
        from .render.json import render

        click.echo(render(a.conversation(ident, active_only=active_only)))
        return
    if fmt == "html":
        from .render.html import render

        click.echo(render(a.conversation(ident, active_only=active_only)))
        return
    summary, messages = a.stream(ident, active_only=active_only)
    children = a.list(parent=summary["id"], limit=200)
    if fmt == "markdown" or (fmt is None and not sys.stdout.isatty()):
        from .render.markdown import write_markdown

        write_markdown(sys.stdout, summary, messages, children)
        return
    from rich.console import Console

    from .render import terminal

    if fmt == "text" or no_pager or not sys.stdout.isatty():
        con = Console(no_color=fmt == "text", highlight=False, force_terminal=False if fmt == "text" else None)
        terminal.render(con, summary, messages, children, thinking=thinking, tools=tools)
        return
    _paged(lambda con: terminal.render(con, summary, messages, children, thinking=thinking, tools=tools))


def _paged(draw) -> None:
    """Stream rich output into a pager (less), so the first screen shows at once."""
    import os
    import shlex
    import shutil
    import subprocess

    from rich.console import Console

    pager = os.environ.get("PAGER") or ("less" if shutil.which("less") else "")
    cmd = shlex.split(pager) if pager else []
    if cmd and os.path.basename(cmd[0]) == "less" and len(cmd) == 1:
        cmd += ["-R", "-F", "-X"]
    if not cmd:
        draw(Console())
        return
    width = shutil.get_terminal_size().columns
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
    try:
        draw(Console(file=proc.stdin, force_terminal=True, width=width))
    except BrokenPipeError:
        pass  # the reader quit the pager early
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        proc.wait()


@cli.command("export")
@click.argument("query", nargs=-1)
@_filter_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html", "json", "jsonl", "obsidian"]),
    default="markdown",
    show_default=True,
)
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--page-size", default=500, show_default=True, help="HTML: messages per page.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def export_(ctx, query, provider, since, until, project, fmt, out, page_size, as_json):
    """Export conversations (all, or those matching QUERY and filters) to files.

    One file per conversation plus an index; re-running rewrites only what
    changed. --format jsonl writes one lossless conversations.jsonl.
    """
    from .export import export

    r = export(
        _archive(ctx),
        out,
        fmt=fmt,
        query=" ".join(query) or None,
        provider=list(provider),
        since=since,
        until=until,
        project=project,
        page_size=page_size,
    )
    if as_json:
        _emit_json(r)
        return
    click.echo(
        f"{r['conversations']} conversations -> {r['out']}: {r['written']} written, "
        f"{r['unchanged']} unchanged, {r['removed']} removed",
        err=True,
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx, as_json):
    """Counts by provider, date range and archive size."""
    s = _archive(ctx).stats()
    if as_json:
        _emit_json(s)
        return
    click.echo(f"Archive: {s['home']}")
    click.echo(f"{s['conversations']:,} conversations, {s['messages']:,} messages, {s['database_bytes'] / 1e6:.1f} MB")
    if s["first_at"]:
        click.echo(f"From {s['first_at'][:10]} to {s['last_at'][:10]}")
    for p, v in s["by_provider"].items():
        click.echo(f"  {p:<12} {v['conversations']:>8,} conversations  {v['messages']:>10,} messages")


@cli.command()
@click.option("--vacuum", is_flag=True, help="Also compact the database (needs no sync running).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def check(ctx, vacuum, as_json):
    """Verify integrity: SQLite, full-text index, stored counts and totals, content hashes."""
    r = _archive(ctx).check(vacuum=vacuum)
    if as_json:
        _emit_json(r)
    else:
        for p in r["problems"]:
            click.echo(f"problem: {p}", err=True)
        click.echo(f"{'OK' if r['ok'] else 'FAILED'}: {r['messages']} messages checked, {r['indexed']} indexed.")
    sys.exit(0 if r["ok"] else 1)


@cli.command("sql")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of row objects.")
@click.pass_context
def sql_(ctx, query, as_json):
    """Run read-only SQL on the archive (see docs/schema.md).

    pl_content(messages.content) returns a message's blocks as JSON text.

    \b
    Example:
      polylogue sql "SELECT provider, count(*) FROM conversations GROUP BY provider"
    """
    cols, rows = _archive(ctx).sql(query)
    if as_json:
        _emit_json([dict(zip(cols, [_plain(v) for v in r])) for r in rows])
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(*cols)
    for r in rows:
        t.add_row(*("" if v is None else str(_plain(v)) for v in r))
    Console().print(t)


def _plain(v):
    return v.hex() if isinstance(v, (bytes, memoryview)) else v


@cli.command()
@click.argument("dest", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def backup(ctx, dest, as_json):
    """Write an online, consistent copy of the archive to DEST (safe during a sync)."""
    r = _archive(ctx).backup(dest)
    if as_json:
        _emit_json(r)
    else:
        click.echo(f"Backed up to {r['path']} ({r['bytes'] / 1e6:.1f} MB, {r['seconds']:.2f}s).")


@cli.command()
@click.pass_context
def mcp(ctx):
    """Run the read-only MCP server over stdio (for agents; see docs/mcp.md)."""
    from .mcp_server import serve

    serve(ctx.find_root().obj.get("home"))


@cli.command("help-query")
def help_query():
    """Explain the search query language."""
    from . import search as s

    click.echo(s.__doc__)


def main() -> None:
    cli(prog_name="polylogue")


if __name__ == "__main__":  # pragma: no cover
    main()
