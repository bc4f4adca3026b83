"""Migration 7: the usage ledger (docs/usage.md, store/usage.py). Steps as in
schema.MIGRATIONS: the tables, then the ledger filled from the usage the archive
already stores (an archive written by older code)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from . import usage

STEPS: list[str | Callable[[sqlite3.Connection], None]] = [*usage.TABLES, usage.backfill]
