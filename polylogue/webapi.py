"""``WebArchive``: the ``Archive`` that ``polylogue serve`` opens, with the two
reads its pages need that ``Archive`` does not offer yet. Both belong in
``Archive`` itself (polylogue/api.py); they live here, in a module of the same
layer, until they move there, and the web layer calls them only through an
archive object, never the store.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any

from .api import Archive, _ident

# The server's reads do not map the database (the CLI's do, up to 2 GB: store/db.py
# MMAP_BYTES): mapped pages count in a long-lived process's memory (PSS) and grow with
# the archive, while SQLite's own page cache is bounded (8 MB a connection). Measured
# at 517K messages (docs/benchmarks.md, "Web app"): PSS 270 MB mapped, 113 MB not, pages
# as fast within the machine's noise.
MMAP_BYTES = 0


class WebArchive(Archive):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unmapped: set[int] = set()
        self._unmapped_lock = threading.Lock()

    @contextmanager
    def reader(self):
        """A read connection of the pool, set once to read without mmap (MMAP_BYTES)."""
        with super().reader() as conn:
            with self._unmapped_lock:
                first = id(conn) not in self._unmapped
                self._unmapped.add(id(conn))
            if first:
                conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            yield conn

    def activity(self) -> list[dict[str, Any]]:
        """Conversations and messages per (UTC day of last update, project, first
        model), in one pass over the conversations table (store/activity.py): the
        calendar, the projects view and the message-count usage chart."""
        from .store.activity import activity

        with self.reader() as conn:
            return activity(conn)

    def message_tree(self, ident: str) -> list[tuple[str, str | None, bool]]:
        """(message id, parent id, active) of every message of a conversation in
        stored order, nothing decoded (store/tree.py): the shape the reader lays a
        branched conversation out from before it reads one page of it."""
        from .store.queries import resolve
        from .store.tree import message_tree

        with self.reader() as conn:
            return message_tree(conn, resolve(conn, _ident(ident))[0])
