"""``polylogue serve``: the archive in a browser, read-only (docs/web.md).

Only click is imported at module level: the web stack (Starlette, uvicorn,
Jinja2, Pygments) loads inside the command, so ``polylogue --help`` and every
other command start as fast as before.
"""

from __future__ import annotations

from typing import Any

import click

from ..clikit import fail, safe

# the optional packages the server needs (the `web` extra), by import name
WEB_STACK = ("starlette", "uvicorn", "jinja2", "markupsafe", "pygments")
INSTALL_HINT = "polylogue serve needs the web extra: pip install 'polylogue[web]'"


def missing_web_stack(names: tuple[str, ...] = WEB_STACK) -> str | None:
    """The first of ``names`` that cannot be imported, found without importing any
    (a module search only), so the answer costs nothing when all are there."""
    from importlib.util import find_spec

    for name in names:
        try:
            if find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


@click.command()
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Anything but 127.0.0.1/localhost/::1 prints an access token that every request must carry.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option(
    "--allow-host",
    multiple=True,
    help="Another name the server may be reached by (the Host header), e.g. behind a tunnel. Repeatable.",
)
@click.option("--no-redact", is_flag=True, help="Show secrets as written (by default they are masked).")
@click.pass_context
def serve(ctx, port, host, open_browser, allow_host, no_redact):
    """Browse, search and read the archive in a web browser (read-only).

    Binds 127.0.0.1 by default. Binding another address needs --host and
    prints a random access token: open the printed URL once, the browser
    then keeps the token in a cookie."""
    import secrets
    import socket

    missing = missing_web_stack()
    if missing:
        fail(f"{INSTALL_HINT} ({missing} is missing)")
        return
    from pathlib import Path

    from ..paths import default_home
    from ..privacy import server_redaction
    from ..web.app import READERS
    from ..web.guard import needs_token
    from ..webapi import WebArchive

    obj = ctx.find_root().obj
    home = obj.get("home")
    folder = Path(home).expanduser() if home else default_home()
    # as the MCP server: on by default, off by the shared switch ($POLYLOGUE_REDACT_SERVERS,
    # config.toml) or by --no-redact for this run; the server says which
    redact, note = server_redaction(folder)
    if no_redact:
        redact, note = False, "secrets are NOT redacted: redaction is off (--no-redact)"
    archive: Any
    if obj.get("url"):  # `polylogue --archive URL serve`: the shared archive (its home: prices, switch)
        from ..pg_archive import PgArchive

        archive = PgArchive(obj["url"], insecure=bool(obj.get("insecure")), redact=redact, prices_home=folder)
    else:
        archive = WebArchive(folder, readers=READERS, redact=redact)
    archive.stats()  # a missing or old archive is one clear line now, not an error page later
    token = secrets.token_urlsafe(32) if needs_token(host) else None
    try:
        sock = _bind(host, port)
    except OSError as e:
        fail(f"cannot listen on {safe(host)}:{port}: {e.strerror or e}")
        return
    bound = sock.getsockname()[1]
    shown = "localhost" if host in ("127.0.0.1", "localhost") else (f"[{host}]" if ":" in host else host)
    if host in ("0.0.0.0", "::"):
        shown = socket.gethostname()
    url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
    click.echo(f"polylogue: serving {safe(str(archive.home))} at {url}", err=True)
    click.echo(f"polylogue: {safe(note)}", err=True)
    if token:
        click.echo("polylogue: anyone with this URL can read the archive; Ctrl-C stops the server", err=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    _run(archive, sock, host, allow_host, token)


def _bind(host: str, port: int):
    """A listening socket made here, so a busy port is a one-line error and port 0 is known before the URL is printed."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _run(archive, sock, host: str, allow_host: tuple[str, ...], token: str | None) -> None:
    import uvicorn

    from ..web.app import create_app
    from ..web.guard import allowed_hosts

    app = create_app(archive, hosts=allowed_hosts(host, allow_host), token=token)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # X-Forwarded-* from a client is never trusted
        lifespan="off",
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        archive.close()
