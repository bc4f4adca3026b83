"""Migration 8: privacy tombstones (docs/privacy.md). Steps as in schema.MIGRATIONS.

``forgotten``: one row per forgotten conversation, keyed by a hash of its archive
id (provider and provider id), never its text: a sync skips what it names.
``redactions``: one row per value ``polylogue redact`` masked: the conversation
(hashed as above), the message id (NULL: every message), the value's length and
a keyed hash of it (the key, ``privacy_salt`` in meta, is this archive's own), the
kind shown in its mask, and the batch (one run of ``redact``: runs are replayed
in order). A sync masks those values again before the writer sees them."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable


def _salt(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('privacy_salt', ?)", (os.urandom(16),))


STEPS: list[str | Callable[[sqlite3.Connection], None]] = [
    "CREATE TABLE IF NOT EXISTS forgotten (key BLOB PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS redactions (
        id INTEGER PRIMARY KEY,
        batch INTEGER NOT NULL,
        conversation BLOB NOT NULL,
        mid TEXT,
        length INTEGER NOT NULL,
        digest BLOB NOT NULL,
        kind TEXT NOT NULL,
        at INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS redactions_conversation ON redactions(conversation)",
    _salt,
]
