"""What every command module shares: the archive of the invocation, JSON and
one-line output, failures as one line and an exit code, the common filters.

cli.py holds the core commands; polylogue/commands/ holds the others, loaded
only when run (cli.py, COMMAND_MODULES), so they import from here, not from
cli.py (which would make an import cycle)."""

from __future__ import annotations

import sys
from typing import Any

import click


def archive_of(ctx: click.Context):
    """The Archive of this invocation (--home), opened once and shared by nested calls."""
    from .api import Archive

    obj = ctx.find_root().obj
    if obj.get("archive") is None:
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
