"""Migration 8: privacy tombstones (docs/privacy.md). Steps as in schema.MIGRATIONS."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

STEPS: list[str | Callable[[sqlite3.Connection], None]] = []
