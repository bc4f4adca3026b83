"""The command line: a thin Click layer over polylogue.Archive.

Heavy modules are imported inside commands so `polylogue --help` and
`polylogue search` start fast."""

from __future__ import annotations

import sys
from typing import Any

import click

from . import __version__
from .clikit import archive_of as _archive
from .clikit import emit_json as _emit_json
from .clikit import fail as _fail
from .clikit import filter_options as _filter_options
from .clikit import noun as _noun
from .clikit import plural as _plural
from .clikit import safe as _safe
from .clikit import stderr_console as _stderr_console

# Commands kept in polylogue/commands/, imported only when run or listed: name -> "module:attribute"
# (a module not written yet is simply not listed)
COMMAND_MODULES: dict[str, str] = {
    "usage": "polylogue.commands.usage:usage",
    "secrets": "polylogue.commands.privacy:secrets",
    "forget": "polylogue.commands.privacy:forget",
    "redact": "polylogue.commands.privacy:redact",
    "serve": "polylogue.commands.serve:serve",
    "embed": "polylogue.commands.embed:embed",
    "push": "polylogue.commands.push:push",
}


def _command_module_exists(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(COMMAND_MODULES[name].partition(":")[0]) is not None


class _Group(click.Group):
    """Errors become one line and an exit code (docs/cli.md, "Exit codes"): ours by
    their ``exit_code``; anything else is a bug, reported as an internal error
    without a traceback unless POLYLOGUE_DEBUG=1 asks for one."""

    def list_commands(self, ctx):
        return sorted(
            {*super().list_commands(ctx), *(n for n in COMMAND_MODULES if self is cli and _command_module_exists(n))}
        )

    def get_command(self, ctx, name):
        found = super().get_command(ctx, name)
        if found is None and name in COMMAND_MODULES and self is cli and _command_module_exists(name):
            import importlib

            module, _, attr = COMMAND_MODULES[name].partition(":")
            found = getattr(importlib.import_module(module), attr)
            self.add_command(found, name)
        return found

    def invoke(self, ctx):
        from .errors import PolylogueError

        try:
            return super().invoke(ctx)
        except PolylogueError as e:
            from .render.safe import terminal_safe

            _fail(terminal_safe(str(e)), e.exit_code)  # it may quote archive ids (candidates of a prefix)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors, --help, Ctrl-C at a prompt: Click reports them itself
        except BrokenPipeError:
            _quiet_stdout()  # the reader went away (`polylogue list | head`): nothing to say
            sys.exit(1)
        except Exception as e:
            import os

            if os.environ.get("POLYLOGUE_DEBUG") == "1":
                raise
            detail = " ".join(str(e).split())  # one line, whatever the exception says
            _fail(f"internal error: {type(e).__name__}: {detail} (POLYLOGUE_DEBUG=1 shows the traceback)", 1)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush into the closed pipe stays silent."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="POLYLOGUE_HOME",
    help="Archive folder (default: $POLYLOGUE_HOME or $XDG_DATA_HOME/polylogue).",
)
@click.option(
    "--archive",
    "archive_url",
    metavar="POSTGRES_URL",
    help="Read a shared PostgreSQL archive (docs/postgres.md) instead of the local one: "
    "search, list, show, stats, usage, export, mcp and serve.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="With --archive: allow a server that is not on this machine without verified TLS.",
)
@click.version_option(__version__, prog_name="polylogue")
@click.pass_context
def cli(ctx: click.Context, home: str | None, archive_url: str | None, insecure: bool) -> None:
    """Polylogue: one local, searchable archive of your AI conversations.

    Import ChatGPT, Claude, Claude Code, Codex and Gemini exports and session
    logs into a SQLite archive, then search, read and export them.
    """
    ctx.obj = {"home": home, "archive": None}
    if archive_url is not None:
        from .clikit import shared_archive_check

        ctx.obj.update(url=archive_url, insecure=insecure)
        shared_archive_check(archive_url, ctx.invoked_subcommand)


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


def _say_waiting() -> None:
    click.echo("polylogue: another sync is running on this archive; waiting for it to finish...", err=True)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--force", is_flag=True, help="Re-read every file, even those unchanged since the last sync.")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Parser processes (default: one per core, 1 to 3, less one when much is new to index; 0 parses in-process).",
)
@click.option("--no-wait", is_flag=True, help="Exit instead of waiting when another sync is running.")
@click.option(
    "--background",
    is_flag=True,
    help="Run at idle CPU and I/O priority, yielding to everything else (as `watch` does).",
)
@click.pass_context
def sync(ctx, paths, as_json, force, workers, no_wait, background):
    """Import files, folders or zips (default: the standard locations).

    With no PATHS, imports ~/.claude/projects, ~/.codex/sessions, ~/.gemini/tmp
    and the archive's inbox folder. The format of each file is detected from its
    content. Exit code: 0 all well, 3 some files failed, 1 nothing imported.
    """
    if background:
        from .watch import background_priority

        background_priority()  # this process, and the parse processes it forks
    a = _archive(ctx)
    progress = _RichProgress() if sys.stderr.isatty() else None
    report = a.sync(
        list(paths) or None, progress=progress, workers=workers, force=force, wait=not no_wait, on_wait=_say_waiting
    )
    for e in report.errors:
        _say_problem(e)
    for failing in report.failing:  # unchanged since a sync found them: still problems
        for e in failing["errors"]:
            _say_problem(e, " (found by an earlier sync; the file is unchanged)")
    for w in report.warnings:
        click.echo(f"polylogue: warning: {_safe(w['path'])}: {_safe(w['warning'])}", err=True)
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
            click.echo(
                f"Nothing changed: {_plural(f['seen'], 'file')} checked, {f['unchanged']} unchanged ({j['seconds']:.2f}s)."
            )
        else:
            click.echo(
                f"Files: {f['seen']} seen, {f['imported']} imported, {f['unchanged']} unchanged, "
                f"{f['failed']} failed" + (f", {f['skipped']} skipped" if f["skipped"] else "")
            )
            click.echo(f"Conversations: {c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged")
            click.echo(f"Messages: {m['new']} new, {m['updated']} updated  ({j['seconds']:.2f}s)")
            if report.errors:
                click.echo(f"{_plural(len(report.errors), 'problem')} (listed above).")
        if report.failing:
            n = len(report.failing)
            click.echo(
                f"{_plural(n, 'unchanged file')} still {'has' if n == 1 else 'have'} problems"
                " from an earlier sync (listed above; `polylogue sources` lists them too)."
            )
    sys.exit(report.exit_code)


def _say_problem(e: dict, note: str = "") -> None:
    loc = f"{e['path']}:{e['line']}" if e.get("line") else e["path"]
    click.echo(f"polylogue: error: {_safe(loc)}: {_safe(e['error'])}{note}", err=True)


@cli.command()
@click.option("--all", "all_", is_flag=True, help="Also list the default folders that do not exist here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every default folder, found or not).")
@click.pass_context
def sources(ctx, all_, as_json):
    """List the default sources found here and the files with problems.

    For each default source folder that exists: how many files and bytes are
    there (`--all` adds the tools' folders not found on this machine, as one
    line each). Then each file whose last sync failed or imported it only in
    part, with its problems (a failed file is read again by every sync)."""
    a = _archive(ctx)
    rows, failing = a.sources_report(), a.failing_sources()
    warnings = [r["warning"] for r in rows if r.get("warning")]
    _say_warnings(warnings)
    if as_json:
        _emit_json({"sources": rows, "failing": failing, "warnings": warnings})
        return
    # a folder searched for some files (the home, for aider and SpecStory) counts when they are there
    found = [r for r in rows if r["exists"] and (r["files"] or not r.get("searched_for"))]
    shown = rows if all_ else found
    for r in shown:
        state = f"{_plural(r['files'], 'file')}, {r['bytes'] / 1e6:.1f} MB" if r["exists"] else "not found"
        searched = f" (searched for {', '.join(r['searched_for'])})" if r.get("searched_for") else ""
        click.echo(f"{_safe(r['name']):<12} {_safe(r['path'])}  ({state}{_ages(r)}){_safe(searched)}")
    missing = len(rows) - len(found)
    if not found and not all_:
        click.echo("No tool's folder found on this machine: `polylogue sync PATH` imports exports and folders.")
    if not all_ and missing:
        tools = sorted({r["name"] for r in rows if r not in found})
        click.echo(
            f"{_plural(missing, 'other default folder')} not found or empty ({len(tools)} tools; "
            "`polylogue sources --all` lists them)"
        )
    if failing:
        click.echo(f"\n{_plural(len(failing), 'file')} with problems at the last sync:")
    for f in failing:
        got = f", {_plural(f['conversations'], 'conversation')} imported" if f["conversations"] else ""
        click.echo(f"  {_safe(f['path'])}  ({f['status']}{got})")
        for e in f["errors"]:
            where = "" if e["path"] == f["path"] else f"{_safe(e['path'])}: "  # a zip member
            line = f"line {e['line']}: " if e.get("line") else ""
            click.echo(f"    {where}{line}{_safe(e['error'])}")


def _ages(r: dict) -> str:
    """The retention part of a `sources` line: the oldest file, when the tool
    deletes it, and what a sync has not archived yet."""
    import os

    out = ""
    if r.get("oldest"):
        out += f"; oldest {r['oldest'][:10]} ({_safe(os.path.basename(r['oldest_path']))})"
    if "retention_days" in r:
        if r["retention_days"] is None:
            out += f"; deleted after an unknown number of days, see {_safe(r['retention_setting'])}"
        else:
            out += f"; deleted after {_plural(r['retention_days'], 'day')}"
            if r.get("days_left") is not None:
                out += f": {_plural(r['days_left'], 'day')} left"
    if r.get("not_archived") is not None:
        out += f"; {r['not_archived']:,} not archived" if r["not_archived"] else "; all archived"
    elif r.get("files"):  # no archive this version reads: nothing here is archived yet
        out += "; none archived yet"
    return out


def _say_warnings(warnings: list[str]) -> None:
    for w in warnings:
        click.echo(f"polylogue: warning: {_safe(w)}", err=True)


# ------------------------------------------------------------------ keeping the archive current


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--rescan",
    "rescan_minutes",
    type=click.FloatRange(min=0.05),
    metavar="MINUTES",
    default=10.0,
    show_default=True,
    help="Minutes between safety rescans of every source (they find what file events missed).",
)
@click.option(
    "--priority",
    type=click.Choice(["idle", "normal"]),
    default="idle",
    show_default=True,
    help="CPU and I/O priority of the watcher's syncs: idle yields to everything else.",
)
@click.option(
    "--push",
    "push_url",
    metavar="POSTGRES_URL",
    help="After each sync that changed the archive, push it to this shared PostgreSQL archive (docs/postgres.md).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="With --push: allow a server that is not on this machine without verified TLS.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each event (each sync...) as one JSON object per line.")
@click.pass_context
def watch(ctx, paths, rescan_minutes, priority, push_url, insecure, as_json):
    """Keep the archive current: sync what the tools write, as they write it.

    Watches the default sources, the archive's inbox and PATHS with the
    system's file events, and syncs each changed file once it has been quiet
    for a moment (a growing session log is read from where it was left).
    Rescans everything at the start, every --rescan minutes, and after the
    watcher was suspended. Once `polylogue embed` has run, what the syncs
    bring is embedded too. One line per sync on stderr. Stops on Ctrl-C or
    SIGTERM. One watcher per archive; `polylogue service install` runs it
    for you."""
    import os
    import threading

    from .semantic import EmbedAfterSync
    from .watch import Watcher, WatchLock

    a = _archive(ctx)
    say = _WatchOutput(as_json)
    stop = threading.Event()
    # after each sync, on the sync thread (never beside a sync): embed what is new once the
    # archive has vectors, and push to a shared archive when asked
    after: list = [EmbedAfterSync(stop.is_set)]
    if push_url:
        from .push import AfterSync

        after.append(AfterSync(push_url, insecure=insecure))  # a URL the TLS rule refuses is refused now

    def emit(event: dict) -> None:
        say(event)
        if event.get("event") == "sync":
            for step in after:
                step(a, event, say)

    with WatchLock(a.home):
        watcher = Watcher(a, paths, emit=emit, rescan_minutes=rescan_minutes, background=priority == "idle")
        with _stopped_by_signals(stop):
            watcher.run(stop)
        say({"event": "stopped", "syncs": watcher.syncs.syncs, "clean": watcher.clean})
    if not watcher.clean:  # a sync inside one long SQL statement: the OS ends it (SQLite keeps the archive whole)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


class _WatchOutput:
    """The watcher's events: JSON lines on stdout, or one line each on stderr."""

    def __init__(self, as_json: bool):
        import threading

        self.as_json = as_json
        self.lock = threading.Lock()  # events come from the watcher and from its sync thread

    def __call__(self, event: dict) -> None:
        with self.lock:
            if self.as_json:
                import orjson

                sys.stdout.write(orjson.dumps(event).decode() + "\n")
                sys.stdout.flush()
                return
            for line in _watch_lines(event):
                click.echo(line, err=True)


def _watch_lines(e: dict) -> list[str]:
    import time

    kind = e["event"]
    if kind == "watching":
        lines = [f"Watching {_plural(len(e['folders']), 'folder')} for {_safe(e['home'])}:"]
        lines += [f"  {_safe(f)}" for f in e["folders"]]
        if e["waiting_for"]:
            lines.append(f"  (and {_plural(len(e['waiting_for']), 'more folder')} when they appear)")
        if e["rescan_only"]:
            lines.append(f"  (found by the rescan only: {', '.join(_safe(r) for r in e['rescan_only'])})")
        lines.append(f"Rescan every {e['rescan_minutes']:g} min; syncs at {e['priority']} priority. Ctrl-C stops.")
        return lines
    clock = time.strftime("%H:%M:%S")
    if kind == "sync":
        f, m = e["files"], e["messages"]
        line = f"{clock} {e['reason']}: {f['imported']} of {_plural(f['seen'], 'file')} read, {m['new']:,} new messages"
        if m["updated"]:
            line += f", {m['updated']:,} updated"
        if f["failed"]:
            line += f", {f['failed']} failed"
        lines = [line + f" ({e['seconds']:.2f}s)"]
        for err in e["errors"]:
            loc = f"{err['path']}:{err['line']}" if err.get("line") else err["path"]
            lines.append(f"polylogue: error: {_safe(loc)}: {_safe(err['error'])}")
        return lines
    if kind == "stopped":
        return [f"{clock} stopped after {_plural(e['syncs'], 'sync')}."]
    if kind == "embed":
        rest = "" if e["complete"] else " (more at the next sync)"
        return [
            f"{clock} embedded {_plural(e['texts'], 'text')} of {_plural(e['conversations'], 'conversation')}{rest}"
        ]
    if kind == "push":
        return [
            f"{clock} pushed {_plural(e['conversations'], 'conversation')} ({_plural(e['messages'], 'message')})"
            f" to {_safe(e['target'])}"
        ]
    detail = e.get("error") or e.get("note") or e.get("reason") or ""
    return [f"{clock} {kind}: {_safe(detail)}"]


class _stopped_by_signals:
    """SIGINT and SIGTERM set ``stop`` (a second one ends the process at once)."""

    def __init__(self, stop):
        self.stop, self.old = stop, {}

    def __enter__(self):
        import os
        import signal

        def handler(signum, frame):
            if self.stop.is_set():
                os._exit(130)
            self.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            self.old[sig] = signal.signal(sig, handler)
        return self

    def __exit__(self, *exc):
        import signal

        for sig, old in self.old.items():
            signal.signal(sig, old)


@cli.group()
def service():
    """Run `polylogue watch` as a service of your user (no root).

    Linux: a systemd user unit; macOS: a launchd agent; Windows: prints the
    Task Scheduler commands to run. The service watches the current archive
    (--home)."""


@service.command("install")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--no-start", is_flag=True, help="Write the unit or agent but do not enable or start it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def service_install(ctx, paths, no_start, as_json):
    """Install and start the watcher service (PATHS are watched too)."""
    from . import service as svc

    r = svc.install(_archive(ctx).home, list(paths), start=not no_start)
    if as_json:
        _emit_json(r)
        return
    if r["file"] is None:
        _print_task_commands(r["commands"])
        return
    click.echo(f"Wrote {_safe(r['file'])}.")
    if r["started"]:
        click.echo(f"Started {_safe(r['name'])}: it runs `{' '.join(r['command'][2:])}` from now on, at every login.")
    else:
        if r.get("problem"):
            click.echo(f"polylogue: could not start it: {_safe(r['problem'])}", err=True)
        click.echo("Start it with:")
        for c in r["commands"]:
            click.echo(f"  {c}")
    if r.get("problem"):
        sys.exit(1)


def _print_task_commands(commands: list[str]) -> None:
    """Windows: the Task Scheduler commands a person runs (nothing is changed for them)."""
    click.echo("Run these in a terminal (Task Scheduler; nothing was changed):")
    for c in commands:
        click.echo(f"  {_safe(c)}")


@service.command("uninstall")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def service_uninstall(ctx, as_json):
    """Stop the watcher service and remove it."""
    from . import service as svc

    r = svc.uninstall(_archive(ctx).home)
    if as_json:
        _emit_json(r)
    elif r["file"] is None:
        _print_task_commands(r["commands"])
    elif r["removed"]:
        click.echo(f"Stopped {_safe(r['name'])} and removed {_safe(r['file'])}.")
    else:
        click.echo(f"No service installed for this archive ({_safe(r['file'])} does not exist).")


@service.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def service_status(ctx, as_json):
    """Whether the service is installed and running, and whether a watcher runs."""
    from . import service as svc

    r = svc.status(_archive(ctx).home)
    if as_json:
        _emit_json(r)
        return
    if r["system"] == "schtasks":
        click.echo(f"Task Scheduler: ask with `{r['commands'][0]}`.")
    elif r["installed"]:
        state = {True: "running", False: "not running", None: "state unknown"}[r["active"]]
        click.echo(f"Service {_safe(r['name'])}: installed ({_safe(r['file'])}), {state}.")
    else:
        click.echo(f"Service {_safe(r['name'])}: not installed (`polylogue service install` installs it).")
    if r["watcher_running"]:
        pid = f" (pid {r['watcher_pid']})" if r["watcher_pid"] else ""
        click.echo(f"A watcher is running for this archive{pid}.")
    else:
        click.echo("No watcher is running for this archive.")


# ------------------------------------------------------------------ reading


class _WordsCommand(click.Command):
    """A command whose arguments are search words. A word that looks like an
    option (`--force`) is taken for one; the error says how to search for it."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as e:
            e.message = (
                f"{e.message.rstrip('.')}; to search for it, put it after --: "
                f"polylogue {ctx.info_name} -- {e.option_name}"
            )
            raise


@cli.command(cls=_WordsCommand)
@click.argument("query", nargs=-1)
@click.option("--limit", "-n", default=10, show_default=True, help="Conversations to show.")
@click.option("--offset", default=0, type=click.IntRange(min=0), help="Skip this many conversations (paging).")
@_filter_options
@click.option(
    "--role",
    multiple=True,
    type=click.Choice(["user", "assistant", "system", "tool"]),
    help="Only messages from this role (repeatable); user is what a person typed.",
)
@click.option(
    "--kind",
    multiple=True,
    type=click.Choice(["text", "thinking", "tool_use", "tool_result"]),
    help="Only words found in this kind of content (repeatable): text, thinking, tool calls, tool output.",
)
@click.option("--model", help="Model name contains this.")
@click.option(
    "--has",
    "has_",
    multiple=True,
    type=click.Choice(["thinking", "tools", "attachments"]),
    help="Only conversations that have this (repeatable).",
)
@click.option("--title", multiple=True, help="Title contains these words (repeatable).")
@click.option("--id", "ids", multiple=True, help="Conversation id starts with this (repeatable).")
@click.option(
    "--regex",
    metavar="PATTERN",
    help="Python regular expression the message text must match, tried on the messages QUERY "
    "matches (or all that the filters allow); bounded work, with a note when it stops early.",
)
@click.option(
    "--within",
    type=click.Choice(["conversation", "message"]),
    default="conversation",
    show_default=True,
    help="Where all the words must be: anywhere in a conversation (its messages and title), or in one message.",
)
@click.option(
    "--exact",
    is_flag=True,
    help="Words match only as written (by default a word also finds its English forms: "
    "checkpointing finds checkpoint; a quoted word is always exact).",
)
@click.option(
    "--mode",
    type=click.Choice(["lexical", "semantic", "hybrid", "auto"]),
    help="lexical: words only; semantic: by meaning alone; hybrid: words and meaning fused; "
    "auto (the default): hybrid once `polylogue embed` has embedded every conversation, else lexical. "
    "Meaning needs the [semantic] extra.",
)
@click.option("--semantic", "mode", flag_value="semantic", help="Same as --mode semantic.")
@click.option("--hybrid", "mode", flag_value="hybrid", help="Same as --mode hybrid.")
@click.option("--lexical", "mode", flag_value="lexical", help="Same as --mode lexical: words only, even when embedded.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of conversations with their hits.")
@click.pass_context
def search(
    ctx,
    query,
    limit,
    offset,
    provider,
    since,
    until,
    project,
    role,
    kind,
    model,
    has_,
    title,
    ids,
    regex,
    within,
    exact,
    mode,
    as_json,
):
    """Search the archive. See `polylogue help-query` for the query language.

    \b
    Examples:
      polylogue search oauth refresh
      polylogue search '"connection reset"' provider:codex since:'last week'
      polylogue search 'pars*' --kind thinking
      polylogue search timeout --regex 'retr(y|ies) \\d+ times'
      polylogue search --hybrid stop the container restarting
      polylogue search -- --force          (words after -- are never options)
    """
    # --role/--kind alone reach the query, which answers as it does for role:/kind: alone
    filters = (provider, since, until, project, role, kind, model, has_, title, ids)
    if not (query or regex is not None or any(filters)):
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
        within=within,
        forms=not exact,
        mode=mode or "auto",  # hybrid once `embed` has embedded everything (a stat of vectors.db before that)
    )
    shown = len(res.conversations)
    summary = (
        f"{_plural(res.total_conversations, 'conversation')}, {_plural(res.total_messages, 'message')} matched"
        + (f"; showing {offset + 1}-{offset + shown}" if shown else "")
    )
    for note in res.notes:  # e.g. newest first past the ranking bound, a regex stopped by its bound
        click.echo(f"note: {_safe(note)}", err=True)
    if as_json:
        _emit_json(res.conversations)
        click.echo(summary, err=True)
        _print_suggestions(res)
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
                (_safe(c["title"] or "(untitled)"), "bold"),
                "  ",
                (_safe(c["id"]), "cyan"),
                "  ",
                (f"{_safe(c['provider'])} · {date} · {c['message_count']} msgs", "dim"),
                # found with no query word in it (--semantic/--hybrid): not in the word totals
                (" · by meaning" if c.get("matched_by") == "meaning" else "", "dim"),
            )
        )
        for h in c["hits"]:
            t = Text(f"  {_safe(h['role']):>9} │ ", style="dim")
            con.print(t + _highlighted(h["snippet"], h["highlights"]))
            con.print(Text(f"            message {_safe(h['message_id'])}", style="dim"))
        con.print()
    click.echo(summary, err=not sys.stdout.isatty())
    _print_suggestions(res)


def _print_suggestions(res) -> None:
    """Nothing matched: the closest indexed words, to stderr (docs/cli.md, search)."""
    if not res.did_you_mean:
        return
    for s in res.suggestions:
        click.echo(f"{_safe(s.term)}: did you mean {', '.join(_safe(w) for w in s.instead)}?", err=True)
    click.echo(f"did you mean: {_safe(res.did_you_mean)}", err=True)


def _highlighted(snippet: str, spans: list) -> Any:
    """The snippet made safe piece by piece, so that the highlight spans (offsets
    into the snippet as stored) still fall on the matched words."""
    from rich.text import Text

    out, pos = Text(), 0
    for a, b in sorted(spans):
        a = max(a, pos)
        if b <= a:
            continue
        out.append(_safe(snippet[pos:a]))
        out.append(_safe(snippet[a:b]), "bold yellow")
        pos = b
    out.append(_safe(snippet[pos:]))
    return out


def _for_terminal(text: str) -> str:
    """Whole-document output (Markdown, HTML) stays exact when piped, and is
    made safe when it is shown on a terminal."""
    from .render.safe import terminal_safe

    return terminal_safe(text) if sys.stdout.isatty() else text


@cli.command("list")
@_filter_options
@click.option("--limit", "-n", default=50, show_default=True)
@click.option("--offset", default=0, type=click.IntRange(min=0), help="Skip this many conversations (paging).")
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
            f"{(c['updated_at'] or '')[:16]:<16}  {_safe(c['provider']):<11} {c['message_count']:>6}  "
            f"{_safe(c['id'])}  {_safe(c['title'] or '(untitled)')}{'  (source gone)' if c['source_gone'] else ''}"
        )


DEFAULT_CONTEXT = 3  # messages shown before and after the one `show --around` names


@cli.command()
@click.argument("ident")
@click.option(
    "--around",
    metavar="MESSAGE_ID",
    help="Show only the messages around this one (its id or a unique prefix), marked.",
)
@click.option(
    "-C",
    "--context",
    type=click.IntRange(min=0),
    default=None,
    help=f"Messages before and after the one shown around (default {DEFAULT_CONTEXT}).",
)
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
@click.option("--redact", is_flag=True, help="Mask secrets (keys, tokens, passwords): docs/privacy.md.")
@click.pass_context
def show(ctx, ident, around, context, fmt, as_json, branch, thinking, tools, all_, no_pager, redact):
    """Show one conversation by id, provider id or a unique prefix.

    On a terminal: a rich view in a pager, thinking and tool traffic collapsed.
    Piped: Markdown. Subagents and other linked conversations are listed at the end.

    \b
    A search hit's message: the messages around it, it marked (▶):
      polylogue show CONVERSATION_ID --around MESSAGE_ID [-C N]
      polylogue show CONVERSATION_ID:MESSAGE_ID
      polylogue show MESSAGE_ID            (an id that one conversation holds)
    """
    a = _archive(ctx)
    a.redacted = a.redacted or redact
    fmt = "json" if as_json else fmt
    active_only = branch == "active"
    thinking, tools = thinking or all_, tools or all_
    cid, mid = a.locate(ident)
    mid = around if around is not None else mid
    if mid is None and context is not None:
        raise click.UsageError("-C/--context needs --around MESSAGE_ID (or an ID that names a message)")
    win = None
    if mid is not None:
        win = a.window(cid, mid, context=DEFAULT_CONTEXT if context is None else context, active_only=active_only)
    if fmt == "json":
        _show_json(a, cid, win, active_only)
        return
    if fmt == "html":
        from .render.html import render

        conv = win.conversation if win else a.conversation(cid, active_only=active_only)
        click.echo(_for_terminal(render(conv, window=(win.start, win.total, win.message_id) if win else None)))
        return
    if win:
        summary, messages = win.summary, iter(win.conversation.messages)
        mark, note = win.message_id, _window_note(win, active_only)
    else:
        summary, messages = a.stream(cid, active_only=active_only)
        mark = note = None
    if summary.get("source_gone"):
        gone = "its source file is gone (deleted or moved); the archive keeps this conversation"
        note = f"{note}; {gone}" if note else gone
    children = a.list(parent=summary["id"], limit=200)
    if fmt == "markdown" or (fmt is None and not sys.stdout.isatty()):
        from .render.markdown import write_markdown
        from .render.safe import SafeWriter

        out = SafeWriter(sys.stdout) if sys.stdout.isatty() else sys.stdout
        write_markdown(out, summary, messages, children, mark=mark, note=note)
        return
    from rich.console import Console

    from .render import terminal

    def draw(con):
        terminal.render(con, summary, messages, children, thinking=thinking, tools=tools, mark=mark, note=note)

    if fmt == "text" or no_pager or not sys.stdout.isatty():
        draw(Console(no_color=fmt == "text", highlight=False, force_terminal=False if fmt == "text" else None))
        return
    _paged(draw)


def _window_note(win, active_only: bool) -> str:
    """Which messages a window shows, for people: positions counted from 1."""
    where = " on the active branch" if active_only else ""
    shown = f"message {win.end}" if win.end - win.start == 1 else f"messages {win.start + 1}–{win.end}"
    return f"{shown} of {win.total}{where}, around {win.message_id}"


def _show_json(a, cid: str, win, active_only: bool) -> None:
    """The lossless conversation; for a window, only its messages, with where they are
    (0-based ``start``, exclusive ``end``, ``position`` of the message asked for) so a
    script can read on."""
    from .render.json import conversation_dict

    if win is None:
        d = conversation_dict(a.conversation(cid, active_only=active_only))
        d["source_gone"] = bool(a.gone([d["id"]]))
        _emit_json(d)
        return
    d = conversation_dict(win.conversation)
    d["source_gone"] = win.summary["source_gone"]
    messages = d.pop("messages")
    d["message_count"] = win.total
    d["window"] = {
        "message_id": win.message_id,
        "position": win.position,
        "start": win.start,
        "end": win.end,
        "total": win.total,
        "active_only": active_only,
    }
    d["messages"] = messages
    _emit_json(d)


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
    pipe = proc.stdin
    assert pipe is not None  # stdin=PIPE above
    try:
        draw(Console(file=pipe, force_terminal=True, width=width))
    except BrokenPipeError:
        pass  # the reader quit the pager early
    finally:
        try:
            pipe.close()
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
@click.option(
    "--page-size", type=click.IntRange(min=1), default=500, show_default=True, help="HTML: messages per page."
)
@click.option("--dry-run", is_flag=True, help="Say what would be written, rewritten, removed and kept; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before dropping more than half of an existing export.")
@click.option("--force", is_flag=True, help="Also replace or remove export files that were edited or are not ours.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--redact", is_flag=True, help="Mask secrets (keys, tokens, passwords) in what is written.")
@click.pass_context
def export_(ctx, query, provider, since, until, project, fmt, out, page_size, dry_run, yes, force, as_json, redact):
    """Export conversations (all, or those matching QUERY and filters) to files.

    One file per conversation plus an index; re-running rewrites only what
    changed. --format jsonl writes one lossless conversations.jsonl. Files
    edited since, or not written by polylogue, are kept (--force replaces
    them); nothing is written outside --out.
    """
    from .export import export

    a = _archive(ctx)
    a.redacted = a.redacted or redact
    r = export(
        a,
        out,
        fmt=fmt,
        query=" ".join(query) or None,
        provider=list(provider),
        since=since,
        until=until,
        project=project,
        page_size=page_size,
        dry_run=dry_run,
        force=force,
        confirm=_confirm_drop(yes),
    )
    if as_json:
        _emit_json(r)
        return
    _export_report(r)


def _confirm_drop(yes: bool):
    """Asks on a terminal before an export drops more than half of the one in
    its folder; without one (a script, a pipe) only --yes lets it go on."""

    def confirm(dropped: int, held: int) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        return click.confirm(
            f"This export would remove {dropped} of the {held} conversations in the output folder. Go on?",
            default=False,
            err=True,
        )

    return confirm


def _export_report(r: dict) -> None:
    for w in r["warnings"]:
        click.echo(f"polylogue: {_safe(w)}", err=True)
    written = set(r["written_files"]) - set(r["rewritten_files"])
    if r["dry_run"]:
        for label, paths in (
            ("new", [p for p in r["written_files"] if p in written]),
            ("rewrite", r["rewritten_files"]),
            ("remove", r["removed_files"]),
        ):
            for p in paths:
                click.echo(f"{label:<8} {_safe(p)}")
    for k in r["kept_files"]:
        if r["dry_run"]:
            click.echo(f"keep     {_safe(k['path'])} ({_safe(k['reason'])})")
        else:
            click.echo(f"polylogue: kept {_safe(k['path'])}: {_safe(k['reason'])}", err=True)
    counts = (
        f"{len(written)} new, {len(r['rewritten_files'])} rewritten, {r['unchanged']} unchanged, "
        f"{r['removed']} removed, {r['kept']} kept"
    )
    head = f"{_plural(r['conversations'], 'conversation')} -> {_safe(r['out'])}"
    if r["dry_run"]:
        click.echo(f"Dry run: {head}: would be {counts}; nothing was changed", err=True)
    else:
        click.echo(f"{head}: {counts}", err=True)
    if r["kept"] and not r["dry_run"]:
        click.echo("polylogue: kept files were left as they are (--force replaces or removes them)", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def stats(ctx, as_json):
    """Counts by provider, date range and archive size.

    Warns when a tool will delete, within 3 days, files the archive does not hold."""
    a = _archive(ctx)
    s = a.stats()
    s["warnings"] = a.retention_warnings()
    _say_warnings(s["warnings"])
    if as_json:
        _emit_json(s)
        return
    click.echo(f"Archive: {_safe(s['home'])}")
    click.echo(
        f"{_plural(s['conversations'], 'conversation')}, {_plural(s['messages'], 'message')}, "
        f"{s['database_bytes'] / 1e6:.1f} MB"
    )
    if s["first_at"]:
        click.echo(f"From {s['first_at'][:10]} to {s['last_at'][:10]}")
    from .usage import stats_line

    click.echo(stats_line(s["usage"]))
    sem = s.get("semantic") or {}
    if sem.get("vectors"):  # once `polylogue embed` has run: how much of the archive search finds by meaning
        waiting = f", {sem['pending']:,} waiting for `polylogue embed`" if sem.get("pending") else ""
        click.echo(
            f"Semantic: {_plural(sem['vectors'], 'vector')} ({sem['bytes'] / 1e6:.1f} MB), "
            f"{s['conversations'] - sem.get('pending', 0):,} of {s['conversations']:,} conversations embedded{waiting}"
        )
    for p, v in s["by_provider"].items():
        c, m = v["conversations"], v["messages"]
        click.echo(f"  {p:<12} {c:>8,} {_noun(c, 'conversation'):<13}  {m:>10,} {_noun(m, 'message')}")


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
            click.echo(f"problem: {_safe(p)}", err=True)
        damaged = [p for p in r["problems"] if p.startswith("sqlite: ")]
        if damaged:
            if all(p.startswith("sqlite: index.db: ") for p in damaged):
                click.echo(
                    "FAILED: SQLite found the search index (index.db) damaged (above): the archive's own checks"
                    " read it too; `polylogue sync` rebuilds it from the archive"
                )
            else:
                click.echo(
                    "FAILED: SQLite found the database file damaged (above); the archive's own checks need a sound file"
                )
            sys.exit(1)
        # the two counts differ by the messages with nothing to search (an image, an empty turn)
        none = r["messages"] - r["indexed"]
        click.echo(
            f"{'OK' if r['ok'] else 'FAILED'}: {_plural(r['messages'], 'message')} checked (each decodes and matches "
            f"its hash): {r['indexed']:,} with searchable text, each needing one full-text index row"
            + (
                f", and {none:,} with nothing to search (empty, or only images, attachments or unknown blocks)."
                if none
                else "."
            )
        )
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
    from rich.text import Text

    from .render.safe import terminal_safe

    # Text cells: a value is shown as stored, never read as rich markup ([bold], [link=...])
    t = Table()
    for c in cols:
        t.add_column(Text(_safe(c)))
    for r in rows:
        t.add_row(*(Text("" if v is None else terminal_safe(str(_plain(v)))) for v in r))
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

    obj = ctx.find_root().obj
    serve(obj.get("home"), url=obj.get("url"), insecure=bool(obj.get("insecure")))


@cli.command("help-query")
def help_query():
    """Explain the search query language."""
    from . import search as s

    click.echo(s.__doc__)


def main() -> None:
    cli(prog_name="polylogue")


if __name__ == "__main__":  # pragma: no cover
    main()
