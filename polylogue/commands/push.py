"""`polylogue push URL`: replicate this archive, one way, into a shared PostgreSQL archive (docs/postgres.md)."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..clikit import archive_of, emit_json, fail, plural, safe


@click.command()
@click.argument("url", metavar="POSTGRES_URL")
@click.option("--machine", help="This machine's name in the shared archive (default: the host name).")
@click.option(
    "--insecure",
    is_flag=True,
    help="Allow a server that is not on this machine without TLS verification (sslmode other than verify-full).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def push(ctx, url, machine, insecure, as_json):
    """Push the conversations the server lacks (new or changed since the last push).

    POSTGRES_URL is a libpq URL (postgresql://user@host/db). The password comes
    from the URL, PGPASSWORD or ~/.pgpass and is never printed. A host that is
    not this machine needs TLS (sslmode=verify-full by default) unless --insecure.
    A repeated push sends nothing; an interrupted one goes on where it stopped."""
    from ..errors import PolylogueError
    from ..push import push as run_push
    from ..store.postgres.connect import is_url, masked

    if not is_url(url):
        fail(f"not a PostgreSQL URL: {safe(masked(url))} (postgresql://user@host/dbname)", 2)
    bar = _Bar() if sys.stderr.isatty() and not as_json else None
    try:
        summary = run_push(archive_of(ctx), url, machine=machine, insecure=insecure, on_progress=bar)
    except PolylogueError as e:
        fail(safe(str(e)), e.exit_code)
    finally:
        if bar:
            bar.close()
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"pushed {plural(summary['conversations'], 'conversation')} ({plural(summary['messages'], 'message')}) "
        f"to {safe(summary['target'])} as {safe(summary['machine'])}; {summary['unchanged']:,} unchanged"
    )


class _Bar:
    """A rich progress bar on stderr, counting messages."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        from ..clikit import stderr_console

        self.progress = Progress(
            "pushing", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr_console()
        )
        self.task: Any = None  # the TaskID, once the total is known

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("push", total=total)
        self.progress.update(self.task, completed=done)

    def close(self) -> None:
        if self.task is not None:
            self.progress.stop()
