"""Conversations and messages per day, project and first model: the counts
behind the web app's calendar, projects view and message-count usage chart
(polylogue/web/activity.py), in one pass over the conversations table.

A conversation counts on the UTC day of its last update, with all its messages,
under the first model it names; one without an update time counts under day "".
"""

from __future__ import annotations

import sqlite3
from typing import Any

_SQL = (
    "SELECT coalesce(date(updated_at / 1000, 'unixepoch'), ''), coalesce(project, ''),"
    " coalesce(json_extract(models, '$[0]'), ''), count(*), coalesce(sum(message_count), 0)"
    " FROM conversations WHERE json_valid(coalesce(models, '[]')) GROUP BY 1, 2, 3"
    " UNION ALL SELECT coalesce(date(updated_at / 1000, 'unixepoch'), ''), coalesce(project, ''), '', count(*),"
    " coalesce(sum(message_count), 0) FROM conversations WHERE NOT json_valid(coalesce(models, '[]')) GROUP BY 1, 2"
)


def activity(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """One row per (day, project, model): ``day`` ("YYYY-MM-DD" or ""), ``project``
    ("" for none), ``model`` ("" for none), ``conversations``, ``messages``."""
    return [
        {"day": d, "project": p, "model": m, "conversations": c, "messages": n} for d, p, m, c, n in conn.execute(_SQL)
    ]
