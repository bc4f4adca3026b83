"""Who may talk to ``polylogue serve``, and what every response carries.

A plain ASGI middleware (no framework class), in front of every route:

- **Host allow-list.** A page on another site can make a browser send requests
  to 127.0.0.1 under a name it controls (DNS rebinding); such a request carries
  that name in ``Host`` and is refused (421 would invite a retry: 403).
- **Access token** (when bound beyond the default loopback address): every
  request carries it, as ``?token=`` once (answered by a redirect to the same
  URL without it, setting an HttpOnly, SameSite=Strict cookie) or in the cookie,
  or as ``Authorization: Bearer``. Compared in constant time.
- **Read-only:** only GET and HEAD.
- **Headers:** a strict Content-Security-Policy (scripts and styles from this
  server's files only, no inline script, nothing from anywhere else, no framing),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``Cross-Origin-Opener-Policy``/``-Resource-Policy: same-origin``, and
  ``Server-Timing`` (the server's own time, for benchmarks/web.py).
"""

from __future__ import annotations

import hmac
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
COOKIE = "polylogue_token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def host_name(header: str) -> str:
    """The name part of a Host header, lower case: ``[::1]:8765`` -> ``::1``."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def needs_token(host: str) -> bool:
    """Any address but the default loopback one is reachable by others (or by
    other users of this machine on 127.0.0.2 and up): a token is required."""
    return host not in LOOPBACK_NAMES


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Host names a request may carry: the loopback names, the bound address
    and, for a wildcard bind, this machine's names and addresses."""
    import socket

    names = {*LOOPBACK_NAMES, host.lower(), *(e.lower() for e in extra)}
    if host in ("0.0.0.0", "::", ""):
        hostname = socket.gethostname()
        names |= {hostname.lower(), socket.getfqdn().lower()}
        try:
            names |= {str(info[4][0]).lower() for info in socket.getaddrinfo(hostname, None)}
        except OSError:
            pass
    return frozenset(n for n in names if n)


class Guard:
    """The ASGI middleware; ``token`` None: no token asked (the default loopback bind)."""

    def __init__(self, app: Any, *, hosts: frozenset[str], token: str | None):
        self.app = app
        self.hosts = hosts
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            return await _plain(send, *refusal)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if self.token is not None and "token" in query:
            # the token leaves the URL (history, logs, Referer) at once, for a cookie
            rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
            where = scope.get("path", "/") + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            return await _plain(send, 303, "", [(b"location", where.encode()), (b"set-cookie", cookie.encode())])

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    *HEADERS,
                    (b"server-timing", f"app;dur={took:.2f}".encode()),
                ]
            await send(message)

        return await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[int, str] | None:
        if host_name(headers.get("host", "")) not in self.hosts:
            return 403, "This server answers only to its own address (Host header refused)."
        if scope.get("method") not in ("GET", "HEAD"):
            return 405, "This server is read-only."
        if self.token is not None and not self._authorised(scope, headers):
            return 403, "An access token is required: open the URL `polylogue serve` printed."
        return None

    def _authorised(self, scope, headers: dict[str, str]) -> bool:
        assert self.token is not None
        offered = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        if "cookie" in headers:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except Exception:  # a malformed Cookie header is no token, not a crash
                jar = SimpleCookie()
            if COOKIE in jar:
                offered.append(jar[COOKIE].value)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "token" in query:
            offered.append(query["token"])
        return any(hmac.compare_digest(o.encode(), self.token.encode()) for o in offered)


async def _plain(send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *HEADERS,
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
