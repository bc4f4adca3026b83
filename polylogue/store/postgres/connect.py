"""Connections to the shared archive: where the credentials come from, the TLS
rule, and URLs shown with the password masked.

Credentials come from the URL, libpq's environment (PGPASSWORD, PGUSER, ...)
or ~/.pgpass, all read by libpq itself: polylogue never prints, logs or stores
a password (``masked`` is what every message shows). TLS is required for any
host but loopback and a unix socket: ``sslmode=verify-full`` unless the URL
asks for another mode; a mode that would let the connection go unencrypted or
unverified (disable, allow, prefer, require, verify-ca) is refused before any
connection is tried, unless the caller says ``insecure``."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ...errors import PolylogueError

SECURE_MODES = ("verify-full",)
CONNECT_TIMEOUT = 10


def is_url(text: str | None) -> bool:
    """Does ``text`` name a PostgreSQL server (rather than an archive folder)?"""
    return bool(text) and str(text).startswith(("postgresql://", "postgres://"))


_PASSWORD = re.compile(r"(?P<head>^[a-z]+://[^:/@?#]*:)(?P<pw>[^@/?#]*)(?=@)", re.I)
_PARAM_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#]*)", re.I)


def masked(url: str) -> str:
    """The URL with any password replaced by ***: the only form shown to people."""
    out = _PASSWORD.sub(lambda m: m.group("head") + "***", url)
    return _PARAM_PASSWORD.sub(lambda m: m.group("head") + "***", out)


def driver():
    """The psycopg module, or one clear line saying how to get it."""
    try:
        import psycopg
    except ImportError:
        raise PolylogueError(
            "a shared PostgreSQL archive needs the psycopg driver: pip install 'polylogue[postgres]'"
        ) from None
    return psycopg


def params(url: str) -> dict[str, Any]:
    """libpq's parameters of the URL (its own parser); a bad URL is one clear line."""
    driver()
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        return dict(conninfo_to_dict(url))
    except ProgrammingError:
        raise PolylogueError(f"cannot read the PostgreSQL URL {masked(url)}") from None


def target(url: str) -> str:
    """The server and database a URL names, without credentials: host:port/dbname."""
    p = params(url)
    return f"{p.get('host') or 'localhost'}:{p.get('port') or 5432}/{p.get('dbname') or p.get('user') or ''}"


def is_loopback(host: str | None) -> bool:
    """A unix socket (no host, or a path) or a loopback address: traffic never leaves the machine."""
    if not host or host.startswith("/") or host.startswith("@"):
        return True
    hosts = host.split(",")
    return all(_loopback_one(h.strip()) for h in hosts)


def _loopback_one(h: str) -> bool:
    if h == "localhost" or h.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(h.strip("[]")).is_loopback
    except ValueError:
        return False


def secured(url: str, *, insecure: bool = False) -> dict[str, Any]:
    """The connection parameters with the TLS rule applied (raises before connecting)."""
    p = params(url)
    if is_loopback(p.get("host")) or insecure:
        return p
    mode = p.get("sslmode")
    if mode is None:
        p["sslmode"] = "verify-full"
    elif mode not in SECURE_MODES:
        raise PolylogueError(
            f"refusing sslmode={mode} for {masked(url)}: a server that is not on this machine needs TLS with a "
            "verified certificate (sslmode=verify-full, the default); pass --insecure to connect anyway"
        )
    return p


def connect(url: str, *, insecure: bool = False, autocommit: bool = False, **kwargs: Any):
    """A psycopg connection; its failure is one line naming the masked URL."""
    psycopg = driver()
    p = secured(url, insecure=insecure)
    p.setdefault("connect_timeout", CONNECT_TIMEOUT)
    p.setdefault("application_name", "polylogue")
    try:
        return psycopg.connect(autocommit=autocommit, **p, **kwargs)
    except psycopg.Error as e:
        raise PolylogueError(f"cannot connect to {masked(url)}: {_reason(e)}") from None


def _reason(e: Exception) -> str:
    """The first line of a driver error, with any password it quotes masked."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return re.sub(r"password=\S+", "password=***", masked(text))
