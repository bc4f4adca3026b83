"""The usage reports of the shared archive: polylogue/usage.py's own code (the
periods, time zones, pricing and totals), run on the server's copy of the kept
totals (``usage_rollup``, ``usage_conversation``: migration 2, kept by every push,
load.py), so a report on the server is the local report on the same data.

usage.py's SQL is written for SQLite: ``?`` placeholders and ``instr``. ``Dialect``
hands it a psycopg connection that reads them as PostgreSQL spells them (``%s``,
``strpos``, which takes its arguments in the same order and also answers 0 for
"absent"), and loads ``sum()`` of bigint (numeric on PostgreSQL) as the int SQLite
gives."""

from __future__ import annotations

import re
from typing import Any

_INSTR = re.compile(r"\binstr\(")


def translate(sql: str) -> str:
    """SQLite-spelled SQL of usage.py as PostgreSQL SQL (no ``?`` of ours is ever quoted)."""
    return _INSTR.sub("strpos(", sql.replace("%", "%%").replace("?", "%s"))


class Dialect:
    """A psycopg connection with the ``execute`` usage.py calls (see the module's doc)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Any = ()) -> Any:
        from psycopg.types.numeric import IntLoader

        cur = self.conn.cursor()
        cur.adapters.register_loader("numeric", IntLoader)  # this cursor only
        return cur.execute(translate(sql), tuple(params))
