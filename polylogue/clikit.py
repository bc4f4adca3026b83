"""What every command module shares: the archive of the invocation, JSON and
one-line output, failures as one line and an exit code, the common filters.

cli.py holds the core commands; polylogue/commands/ holds the others, loaded
only when run (cli.py, COMMAND_MODULES), so they import from here, not from
cli.py (which would make an import cycle)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

# The commands that read a shared PostgreSQL archive (`polylogue --archive URL ...`):
# they call only the read methods polylogue.pg_archive.PgArchive has
SHARED_READS = ("search", "list", "show", "stats", "usage", "export", "mcp", "serve", "help-query")


def shared_archive_check(url: str, command: str | None) -> None:
    """`--archive URL` names a PostgreSQL server and a command that reads one (else one line, exit 2)."""
    from .store.postgres.connect import is_url, masked

    if not is_url(url):
        fail(f"--archive takes a PostgreSQL URL (postgresql://user@host/dbname), not {safe(masked(url))}", 2)
    if command is not None and command not in SHARED_READS:
        why = f"`{command}` works on the local archive (push it with `polylogue push URL`)"
        fail(f"--archive: {why}; a shared archive answers {', '.join(SHARED_READS[:-1])}", 2)


def archive_of(ctx: click.Context):
    """The Archive of this invocation (--home), opened once and shared by nested calls;
    with `--archive URL`, the shared PostgreSQL archive (polylogue.pg_archive.PgArchive)."""
    obj = ctx.find_root().obj
    if obj.get("archive") is None:
        if obj.get("url"):
            from .paths import default_home
            from .pg_archive import PgArchive

            # the local home's prices.json prices the shared archive's usage too (docs/usage.md)
            home = obj.get("home")
            prices = Path(home).expanduser() if home else default_home()
            obj["archive"] = PgArchive(obj["url"], insecure=bool(obj.get("insecure")), prices_home=prices)
        else:
            from .api import Archive

            obj["archive"] = Archive(obj.get("home"))
    return obj["archive"]


def emit_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")


def safe(text: Any) -> str:
    """One field of archive data (a title, an id, a file name, an error) as a
    single line that cannot drive the terminal (see render/safe.py)."""
    from .render.safe import terminal_safe

    return terminal_safe(str(text), one_line=True)


def noun(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def plural(n: int, word: str) -> str:
    """'1 conversation', '2 conversations', '1,204 messages': every count printed for people."""
    return f"{n:,} {noun(n, word)}"


def fail(message: str, code: int = 1) -> None:
    click.echo(f"polylogue: {message}", err=True)
    sys.exit(code)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def filter_options(f):
    """--provider/--since/--until/--project, as every listing command spells them."""
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
