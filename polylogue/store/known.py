"""What the archive already holds, as an import asks it: the reads that let a
sync skip work. Files: a source's size, mtime, hash and status, and the problems
its last read found (reported again while it is unchanged). Conversations: their
update time and their messages' hashes, so a parser skips converting an
unchanged conversation and the encoder skips compressing an unchanged message."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import NamedTuple

from ..paths import sqlite_uri
from .ids import sql_in_conversation


class SourceState(NamedTuple):
    """What the archive recorded when it last read an input file."""

    id: int
    size: int | None
    mtime_ns: int | None  # NULL: read again at the next sync (it changed while it was read)
    hash: bytes | None
    status: str


def source_state(conn: sqlite3.Connection, path: str) -> SourceState | None:
    row = conn.execute("SELECT id, size, mtime_ns, hash, status FROM sources WHERE path = ?", (path,)).fetchone()
    return SourceState(*row) if row else None


def not_archived(conn: sqlite3.Connection, files: Iterable[tuple[str, int, int]]) -> list[str]:
    """The paths of ``files`` (path, size, mtime_ns) that a sync would read: no
    sources row, a failed last read, or another size or mtime (sync's pass 1 test,
    without hashing a touched file)."""
    out = []
    for path, size, mtime_ns in files:
        row = source_state(conn, path)
        if row is None or row.status == "failed" or (row.size, row.mtime_ns) != (size, mtime_ns):
            out.append(path)
    return out


Problem = tuple[str, str, int | None]  # (path: the file or zip member, what went wrong, line or None)


def source_problems(conn: sqlite3.Connection, source_id: int) -> list[Problem]:
    """The problems the last read of an input file found, in the order found."""
    return conn.execute(
        "SELECT path, problem, line FROM source_problems WHERE source_id = ? ORDER BY seq", (source_id,)
    ).fetchall()


def failing_sources(conn: sqlite3.Connection) -> list[dict]:
    """The input files whose last read failed or found problems, with those problems."""
    rows = conn.execute(
        "SELECT id, path, provider, status, conversations, synced_at FROM sources"
        " WHERE status IN ('failed', 'partial') ORDER BY path"
    ).fetchall()
    return [
        {
            "path": path,
            "provider": provider,
            "status": status,
            "conversations": conversations,
            "synced_at": synced_at,
            "errors": [problem_dict(p) for p in source_problems(conn, sid)],
        }
        for sid, path, provider, status, conversations, synced_at in rows
    ]


def problem_dict(p: Problem) -> dict:
    """A problem as sync reports it: {"path", "error"} and "line" when it is on one."""
    path, reason, line = p
    return {"path": path, "error": reason, "line": line} if line else {"path": path, "error": reason}


def archive_is_empty(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM conversations LIMIT 1").fetchone() is None


def has_dictionary(conn: sqlite3.Connection) -> bool:
    """Whether the archive has a trained compression dictionary yet."""
    return conn.execute("SELECT 1 FROM zstd_dicts LIMIT 1").fetchone() is not None


_HASHES = (
    "SELECT m.mid, m.hash FROM conversations c JOIN messages m "
    f"ON {sql_in_conversation('m.id', 'c.id')} WHERE c.uid = ?"
)


class KnownConversations:
    """Lookups for parsers, one read-only connection per process (opened on first
    use): a conversation's updated_at, and its messages' hashes. An archive that
    cannot be read answers "unknown" (None): the import then converts everything."""

    def __init__(self, db: str):
        self.db = db
        self.conn: sqlite3.Connection | None = None

    def _query(self, sql: str, args: tuple) -> list | None:
        try:
            if self.conn is None:
                self.conn = sqlite3.connect(sqlite_uri(self.db), uri=True, check_same_thread=False)
                self.conn.execute("PRAGMA query_only = ON")
                self.conn.execute("PRAGMA cache_size = -500")
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error:
            return None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __call__(self, provider: str, provider_id: str) -> int | None:
        """The stored updated_at of a conversation (ParseContext.known's contract)."""
        rows = self._query("SELECT updated_at FROM conversations WHERE uid = ?", (f"{provider}:{provider_id}",))
        return rows[0][0] if rows else None

    def hashes(self, uid: str) -> dict[str, int] | None:
        """The archived messages of a conversation (id -> hash), for encode's ``stored``."""
        rows = self._query(_HASHES, (uid,))
        return dict(rows) if rows else None
