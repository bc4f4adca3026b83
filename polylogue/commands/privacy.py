"""``polylogue secrets``, ``forget`` and ``redact`` (docs/privacy.md)."""

from __future__ import annotations

import sys

import click

from ..clikit import archive_of, emit_json, fail, filter_options, plural, safe, stderr_console


@click.command("secrets")
@click.argument("query", nargs=-1)
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def secrets(ctx, query, provider, since, until, project, as_json):
    """Find secrets (cloud and API keys, tokens, private keys, passwords in URLs...)
    in the archive, or in the conversations QUERY and filters match. Each finding
    shows its kind and a masked preview, never the secret itself."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    a = archive_of(ctx)
    filters = {"provider": list(provider) or None, "since": since, "until": until, "project": project}
    with Progress(
        TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr_console(), transient=True, disable=not sys.stderr.isatty(),
    ) as bar:  # fmt: skip
        task = bar.add_task("scan", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        found = a.secrets(" ".join(query), progress=progress, **{k: v for k, v in filters.items() if v})
    if as_json:
        emit_json({"findings": found, "total": len(found)})
        return
    for f in found:
        where = f"{f['conversation']}:{f['message']}" if f["message"] else f["conversation"]
        click.echo(f"{safe(where)}  {safe(f['where'])}  {safe(f['preview'])}")
    click.echo(f"{plural(len(found), 'secret')} found", err=True)


@click.command("forget")
@click.argument("ids", nargs=-1)
@click.option("--query", "query", help="Forget every conversation this query matches.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--unforget", "unforget", multiple=True, help="Lift the tombstone of a forgotten conversation id.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def forget(ctx, ids, query, yes, unforget, as_json):
    """Delete conversations permanently: their rows, index entries, totals and parse
    states; their text is overwritten in the archive's files, and a tombstone keeps
    sync from importing them again. Backups and exports you made are yours to delete."""
    a = archive_of(ctx)
    if unforget:
        n = a.unforget(list(unforget))
        emit_json({"unforgotten": n}) if as_json else click.echo(f"{plural(n, 'tombstone')} lifted")
        return
    if not ids and query is None:
        raise click.UsageError("name conversations to forget, or --query")
    targets = [a.resolve(i)["id"] for i in ids]
    if query is not None:
        targets += _every_match(a, query)
    targets = list(dict.fromkeys(targets))
    if not targets:
        fail("nothing matches: nothing forgotten", 1)
    if not yes:
        if not sys.stdin.isatty():
            fail(f"forget would delete {plural(len(targets), 'conversation')} for good: add --yes", 2)
        for t in targets[:20]:
            click.echo(f"  {safe(t)}", err=True)
        click.confirm(f"Delete {plural(len(targets), 'conversation')} for good?", abort=True, err=True)
    out = a.forget(targets)
    for w in out.get("warnings", []):
        click.echo(f"polylogue: warning: {safe(w)}", err=True)
    if as_json:
        emit_json(out)
        return
    click.echo(
        f"forgot {plural(out['conversations'], 'conversation')} ({plural(out['messages'], 'message')});"
        " backups and exports you made still hold them"
    )


@click.command("redact")
@click.argument("ident")
@click.option("--message", "message", help="Only this message of the conversation.")
@click.option("--secrets", "secrets_", is_flag=True, help="Mask every secret the detector finds.")
@click.option("--pattern", help="Mask every match of this regular expression.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def redact(ctx, ident, message, secrets_, pattern, as_json):
    """Rewrite a conversation (or one message) in the archive with secrets, or a
    pattern's matches, masked; the next sync does not bring them back."""
    if secrets_ == (pattern is not None):
        raise click.UsageError("give one of --secrets or --pattern")
    out = archive_of(ctx).redact(ident, message=message, secrets=secrets_, pattern=pattern)
    if as_json:
        emit_json(out)
        return
    click.echo(f"masked {plural(out['values'], 'value')} in {plural(out['messages'], 'message')}")


def _every_match(a, query: str, page: int = 1000) -> list[str]:
    """Every conversation the query matches, page by page (forget must not stop at a page)."""
    found: list[str] = []
    while True:
        ids = [c["id"] for c in a.search(query, limit=page, offset=len(found)).conversations]
        found += ids
        if len(ids) < page:
            return found
