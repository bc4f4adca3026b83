"""Counts per day, per project and per model, for the browse, projects and usage pages.

They come from ``archive.activity()`` (``Archive.activity``: one SQL pass,
store/activity.py), or, for an archive object without it (PgArchive), from
listing every conversation through ``list``; either way once per archive
generation (a sync bumps it), in a thread of their own, so a page
never waits for more than the first pass.
A conversation counts on the day of its last update, with all its messages,
under its first model: close for the sessions of one day, rough for a chat
resumed weeks later (the page says so).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

PAGE = 1000


@dataclass
class Activity:
    generation: int = -1
    conversations_by_day: Counter = field(default_factory=Counter)  # "YYYY-MM-DD" -> conversations
    messages_by_day: Counter = field(default_factory=Counter)
    messages_by_day_model: Counter = field(default_factory=Counter)  # (day, model) -> messages
    projects: dict[str, list] = field(default_factory=dict)  # project -> [conversations, messages, last update]
    conversations: int = 0
    seconds: float = 0.0
    exact: bool = False  # True when the archive counted it (Archive.activity), False for the estimate here


def _from_list(archive) -> Activity:
    out = Activity()
    projects: dict[str, list] = defaultdict(lambda: [0, 0, ""])
    offset = 0
    while True:
        rows = archive.list(limit=PAGE, offset=offset)
        for r in rows:
            day = (r.get("updated_at") or r.get("created_at") or "")[:10]
            n = int(r.get("message_count") or 0)
            model = (r.get("models") or ["(unknown)"])[0] or "(unknown)"
            if day:
                out.conversations_by_day[day] += 1
                out.messages_by_day[day] += n
                out.messages_by_day_model[(day, model)] += n
            p = projects[r.get("project") or ""]
            p[0] += 1
            p[1] += n
            p[2] = max(p[2], r.get("updated_at") or "")
        out.conversations += len(rows)
        if len(rows) < PAGE:
            break
        offset += PAGE
    out.projects = dict(projects)
    return out


def _from_archive(archive) -> Activity | None:
    """The archive's own counts, when it offers ``activity()`` (see the module doc)."""
    method = getattr(archive, "activity", None)
    if method is None:
        return None
    out = Activity(exact=True)
    for row in method():
        day, model, conv, msgs, project = (
            row.get("day", ""),
            row.get("model") or "(unknown)",
            int(row.get("conversations", 0)),
            int(row.get("messages", 0)),
            row.get("project") or "",
        )
        if day:
            out.conversations_by_day[day] += conv
            out.messages_by_day[day] += msgs
            out.messages_by_day_model[(day, model)] += msgs
        p = out.projects.setdefault(project, [0, 0, ""])
        p[0] += conv
        p[1] += msgs
        p[2] = max(p[2], day)
        out.conversations += conv
    return out


class ActivityCache:
    """The latest Activity, recomputed in a background thread when the generation moves."""

    def __init__(self, archive) -> None:
        self.archive = archive
        self._lock = threading.Lock()
        self._current: Activity | None = None
        self._running: threading.Thread | None = None
        self.error: str | None = None

    def get(self, generation: int, wait: float = 0.0) -> Activity | None:
        """The counts for ``generation`` if ready (waiting up to ``wait`` s), else the
        last ones computed (maybe of an older generation), else None."""
        with self._lock:
            cur = self._current
            if (cur is None or cur.generation != generation) and self._running is None:
                self._running = threading.Thread(target=self._compute, args=(generation,), daemon=True)
                self._running.start()
            running = self._running
        if running is not None and wait > 0 and (cur is None or cur.generation != generation):
            running.join(wait)
        return self._current

    def _compute(self, generation: int) -> None:
        started = time.perf_counter()
        try:
            act = _from_archive(self.archive) or _from_list(self.archive)
            act.generation = generation
            act.seconds = time.perf_counter() - started
            self._current = act
            self.error = None
        except Exception as e:  # a page shows the error; the server goes on
            self.error = f"{type(e).__name__}: {e}"
        finally:
            with self._lock:
                self._running = None


def project_rows(act: Activity, limit: int = 500) -> list[dict[str, Any]]:
    rows = [{"project": p, "conversations": c, "messages": m, "last": last} for p, (c, m, last) in act.projects.items()]
    rows.sort(key=lambda r: (-r["conversations"], r["project"]))
    return rows[:limit]
