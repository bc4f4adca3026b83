"""``WebArchive``: the ``Archive`` that ``polylogue serve`` opens, whose reads do
not map the database (MMAP_BYTES); everything else, the pages' own reads
(``activity()``, ``message_tree()``) included, is ``Archive``'s."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any

from .api import Archive

# The server's reads do not map the database (the CLI's do, up to 2 GB: store/db.py
# MMAP_BYTES): mapped pages count in a long-lived process's memory (PSS) and grow with
# the archive, while SQLite's own page cache is bounded (8 MB a connection). Measured
# at 517K messages (docs/benchmarks.md, "Web app"): PSS 270 MB mapped, 113 MB not, pages
# as fast within the machine's noise.
MMAP_BYTES = 0
# ... and each of its (READERS) connections keeps a smaller page cache than the CLI's 8 MB:
# the cache is private memory, and at 5M messages ten full 8 MB caches made the server's
# PSS 154 MB (target 150); the kernel's page cache still holds the file, so a page
# missing here costs a read() copy, not a disk read (docs/benchmarks.md, "Web app").
CACHE_KIB = 3000


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
                conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            yield conn
