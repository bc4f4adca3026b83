"""The ASGI application of ``polylogue serve``: routes, templates, static files.

Every page reads through ``Archive`` (no SQL here; tests/test_layers.py keeps
it so). Handlers are plain functions: Starlette runs them in its thread pool,
and the Archive's read pool serves them concurrently. Templates are Jinja2 with
autoescaping on: archive text reaches a page escaped unless it is HTML that
polylogue/render/html.py built (and escaped) itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import USAGE, Ambiguous, NotFound, PolylogueError
from ..fmt import iso_from_ms
from ..render import html as render_html
from ..render.highlight import css as highlight_css
from . import charts, pages, reader
from .activity import ActivityCache
from .guard import Guard

HERE = Path(__file__).resolve().parent
STATS_TTL = 5.0
# Pages wait their turn at one of two gates, so the light ones (search, browse: a few
# ms each) never queue behind the heavy ones (a conversation page decodes 200
# messages; a raw block may be megabytes), and on two cores neither kind can take
# every thread. A search may hold two of the read pool's connections at once
# (Archive.search reads the redacted hits inside its own read); every other page
# holds one at a time, so a pool of 2 * GATE + HEAVY + the background readers
# (counts, stats, usage) never runs dry, and a page outside the gates (one drawn
# from the per-generation caches, or /health) waits for a connection, never deadlocks.
GATE = 3
HEAVY = 2
READERS = 2 * GATE + HEAVY + 2


class Site:
    """What the handlers share: the archive, the templates, the cached counts."""

    def __init__(self, archive: Any) -> None:
        import jinja2

        self.archive = archive
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.globals.update(conv_url=reader.conv_url, permalink=reader.permalink)
        self.env.filters["num"] = lambda n: f"{int(n or 0):,}"
        self.env.filters["ms_time"] = _ms_time
        self.activity = ActivityCache(archive)
        self.gate = threading.BoundedSemaphore(GATE)
        self.heavy = threading.BoundedSemaphore(HEAVY)
        self._stats: tuple[float, dict[str, Any]] | None = None
        self._stats_lock = threading.Lock()
        self._stats_refreshing = False
        self._usage: dict[tuple[str, int], Any] = {}
        self._heatmap: tuple[int, str] | None = None
        # facet counts (web/facets.py) cost a search per value: one page counts at a time,
        # beside the gates, so counting never takes the threads the pages need
        self._facets: dict[tuple, Any] = {}
        self.counting = threading.Lock()
        self._ticket, self._ticket_lock = 0, threading.Lock()
        # pages drawn once per archive generation (usage): key (..., generation) -> context
        self.memo: dict[tuple, dict[str, Any]] = {}
        self.static = _static_files()
        self.version = hashlib.sha256(b"".join(body for _, body in self.static.values())).hexdigest()[:10]

    def render(self, template: str, status: int = 200, **context: Any):
        from starlette.responses import HTMLResponse

        page = self.env.get_template(template).render(asset_v=self.version, **context)
        return HTMLResponse(page, status_code=status, headers={"cache-control": "no-store"})

    def stats(self) -> dict[str, Any]:
        """Archive.stats, served from memory and refreshed in the background once
        older than STATS_TTL seconds: every page wants the providers and the archive
        generation, and stats reads far more (half a second at 1M messages)."""
        with self._stats_lock:
            current = self._stats
            stale = current is None or time.monotonic() - current[0] > STATS_TTL
            refresh = stale and not self._stats_refreshing and current is not None
            if refresh:
                self._stats_refreshing = True
        if current is None:
            current = (time.monotonic(), self.archive.stats())
            self._stats = current
        elif refresh:
            threading.Thread(target=self._refresh_stats, daemon=True).start()
        return current[1]

    def _refresh_stats(self) -> None:
        try:
            self._stats = (time.monotonic(), self.archive.stats())
        except Exception:  # the next page asks again; this one keeps the last figures
            pass
        finally:
            self._stats_refreshing = False

    def usage(self, period: str) -> Any:
        """Archive.usage(period, breakdown=True) for the current generation: the ledger
        changes only with a sync, and a report takes a second at 1M messages."""
        key = (period, self.generation())
        hit = self._usage.get(key)
        if hit is None:
            hit = self._usage[key] = self.archive.usage(period, breakdown=True)
            for old in [k for k in self._usage if k[1] != key[1]]:
                self._usage.pop(old, None)
        return hit

    def facets(self, q: str, filters: dict[str, str], choices: dict[str, tuple[str, ...]]) -> Any:
        """The search's facet counts (web/facets.py), kept for the archive's generation;
        None when a newer request came while this one waited (as-you-type searches
        would otherwise queue a count for every prefix typed)."""
        from .facets import count_facets, facet_key

        key = facet_key(q, filters, self.generation())
        with self._ticket_lock:
            self._ticket += 1
            ticket = self._ticket
        with self.counting:
            hit = self._facets.get(key)
            if hit is None and ticket != self._ticket:
                return None  # a newer search asked while this one waited: its counts come first
            if hit is None:

                def search(words: str, timeout: float, **f: str) -> Any:
                    return self.archive.search(words, limit=1, mode="lexical", timeout=timeout, **f)

                hit = count_facets(search, q, filters, choices)
                if len(self._facets) >= 256:
                    self._facets.clear()
                self._facets[key] = hit
        return hit

    def heatmap(self, act: Any) -> str:
        """The calendar of ``act`` (an Activity) as SVG, drawn once per archive generation
        (drawing it took a browse page 15 ms of its 22 at 517K messages)."""
        key = act.generation
        cached = self._heatmap
        if cached is None or cached[0] != key:
            cached = self._heatmap = (key, charts.heatmap(act.conversations_by_day))
        return cached[1]

    def generation(self) -> int:
        return int(self.stats().get("generation", 0))


def _ms_time(ms: Any) -> str:
    """A stored time (milliseconds since the epoch) as ``YYYY-MM-DD HH:MM:SS UTC``."""
    iso = iso_from_ms(ms) if isinstance(ms, int) else None
    return f"{iso[:19].replace('T', ' ')} UTC" if iso else ""


def _static_files() -> dict[str, tuple[str, bytes]]:
    """name -> (content type, bytes). The stylesheet is ours plus the export's
    (one look for both) plus Pygments' token colours."""
    static = HERE / "static"
    css = render_html.CSS + "\n" + highlight_css() + "\n" + (static / "app.css").read_text(encoding="utf-8")
    return {
        "app.css": ("text/css; charset=utf-8", css.encode()),
        "app.js": ("text/javascript; charset=utf-8", (static / "app.js").read_bytes()),
    }


def create_app(archive, *, hosts: frozenset[str], token: str | None):
    """The application, wrapped in the access guard (polylogue/web/guard.py)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    site = Site(archive)

    async def static(request: Request):
        # on the event loop itself: a file in memory needs no worker thread, so it is
        # answered at once even while every worker thread renders a page
        item = site.static.get(request.path_params["name"])
        if item is None:
            return PlainTextResponse("not found", status_code=404)
        kind, body = item
        return Response(body, media_type=kind, headers={"cache-control": "public, max-age=86400"})

    def wrap(handler, gate: str | None = "light"):
        """``gate``: which queue the page waits in (see GATE, HEAVY); None for a page
        drawn from the per-generation caches (projects, usage) or one that may take
        minutes (/health?check=1), which would hold a place in a queue all that time."""
        sem = {"light": site.gate, "heavy": site.heavy, None: None}[gate]

        def endpoint(request: Request):
            try:
                with sem if sem is not None else contextlib.nullcontext():
                    return handler(site, request)
            except PolylogueError as e:
                status = 404 if isinstance(e, (NotFound, Ambiguous)) else 400 if e.exit_code == USAGE else 500
                return site.render("error.html", status=status, title="Error", message=str(e), section="")

        return endpoint

    routes = [
        Route("/", wrap(pages.search)),
        Route("/search", wrap(pages.search)),
        Route("/c/{ident:path}", wrap(pages.conversation, "heavy")),
        Route("/raw/{ident:path}", wrap(pages.raw, "heavy")),
        Route("/facets", wrap(pages.facets, None)),
        Route("/browse", wrap(pages.browse)),
        Route("/projects", wrap(pages.projects, None)),
        Route("/usage", wrap(pages.usage, None)),
        Route("/health", wrap(pages.health, None)),
        Route("/static/{name}", static),
    ]
    app = Starlette(routes=routes)
    threading.Thread(target=_warm, args=(site,), daemon=True).start()
    return Guard(app, hosts=hosts, token=token)


def _warm(site: Site) -> None:
    """The slow first answers (stats, the activity counts, the usage reports), computed
    while nobody waits, so the first visitor of each page does not pay for them."""
    try:
        site.activity.get(site.generation())
        for period in ("daily", "monthly"):
            site.usage(period)
    except Exception:  # the page asking later shows what is wrong
        pass
