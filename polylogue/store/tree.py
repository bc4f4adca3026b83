"""The shape of a conversation without its content: each message's id, parent
and whether it is on the active branch, in stored order, read from the row
columns alone (nothing decoded). The web reader lays out a branched
conversation from it, then decodes only the messages of the page it shows."""

from __future__ import annotations

import sqlite3

from .encode import ACTIVE


def message_tree(conn: sqlite3.Connection, cid: int) -> list[tuple[str, str | None, bool]]:
    """(message id, parent id, active) of every message of conversation ``cid``, in stored order."""
    sql = "SELECT mid, parent_mid, flags FROM messages WHERE conversation_id = ? ORDER BY seq"
    return [(mid, parent, bool(flags & ACTIVE)) for mid, parent, flags in conn.execute(sql, (cid,))]
