"""Goose sessions in ``sessions.db`` (docs/providers.md, "goose-db"): the SQLite
database Goose 1.10 and later keep beside the legacy session files,
``~/.local/share/goose/sessions/sessions.db`` (Windows:
``%APPDATA%\\Block\\goose\\data\\sessions``), in WAL mode. On its first run the
database imports the legacy ``<id>.jsonl`` files under the same session ids.

Tables (block/goose ``crates/goose/src/session/``; the schema grows by
migrations, recorded in ``schema_version``, 13 of them known here):

- ``sessions``: ``id`` (``YYYYMMDD_N``), ``name`` (v4+; ``description`` before),
  ``user_set_name``, ``session_type`` (v5+: user, scheduled, sub_agent, hidden,
  ...), ``working_dir``, ``created_at``/``updated_at`` (text: SQLite's
  ``YYYY-MM-DD HH:MM:SS`` or RFC 3339, UTC), ``extension_data``,
  ``total_tokens``, ``input_tokens``, ``output_tokens``, ``accumulated_*``,
  ``schedule_id``, ``recipe_json``, ``user_recipe_values_json``,
  ``provider_name`` and ``model_config_json`` (v6+), ``goose_mode`` (v8+),
  ``thread_id`` (v10+), ``archived_at`` and ``project_id`` (v12+),
  ``accumulated_cost`` (v13+);
- ``messages``: ``id`` (autoincrement), ``message_id`` (v7+; migrated rows got
  ``msg_<session>_<id>``), ``session_id``, ``role``, ``content_json`` (the
  message's content list, as in the legacy files), ``created_timestamp`` (epoch
  s), ``timestamp`` (insert time), ``tokens``, ``metadata_json`` (v3+:
  ``{userVisible, agentVisible}``).

Each session's messages, in Goose's own order (``timestamp``, then ``id``), go
through the legacy reader's ``Session`` (goose.py), so both forms give the same
message shapes, and a session Goose imported from a legacy file keeps its id
(``goose:<id>``, archived once). A message without ``message_id`` gets the id
Goose's migration would give it. The session's columns are its metadata:
``name`` the title, ``working_dir`` the project, ``accumulated_*`` the session
usage (``meta.usage``, as for the files), ``model_config_json``'s
``model_name`` the conversation's model (the session's current model: Goose
does not record a model per message).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import orjson

from .. import models as m
from .base import Head, Provider, Records
from .common import ParseContext, as_dict, as_str, bounded, read_time, skip_on_error
from .goose import NAME as CONVERSATIONS_OF
from .goose import Session

if TYPE_CHECKING:
    import sqlite3

NAME = "goose-db"
KIND: Final = "sqlite"  # Final: a Literal for Provider(kind=...)

KNOWN_SCHEMA = 13
# session columns kept in meta as they are (the rest are read below or left: extension_data is tool state)
_META_COLUMNS = (
    "session_type",
    "schedule_id",
    "provider_name",
    "goose_mode",
    "thread_id",
    "project_id",
    "accumulated_cost",
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "accumulated_total_tokens",
    "accumulated_input_tokens",
    "accumulated_output_tokens",
)


def sniff(head: Head) -> bool:
    t = head.tables
    messages = t.get("messages", "")
    return (
        "working_dir" in t.get("sessions", "")
        and "content_json" in messages
        and "session_id" in messages
        and "created_timestamp" in messages
    )


def parse(conn: sqlite3.Connection, ctx: ParseContext) -> Iterator[m.Conversation]:
    version = _schema_version(conn)
    msg_columns = _columns(conn, "messages")
    order = "timestamp, id" if "timestamp" in msg_columns else "id"
    mid = "message_id" if "message_id" in msg_columns else "NULL"
    flags = "metadata_json" if "metadata_json" in msg_columns else "NULL"
    query = (
        f"SELECT id, {mid}, role, content_json, created_timestamp, {flags} "
        f"FROM messages WHERE session_id = ? ORDER BY {order}"
    )
    unknown: dict[str, int] = {}
    cur = conn.execute("SELECT * FROM sessions ORDER BY created_at, id")
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        s = dict(zip(cols, row))
        sid = as_str(s.get("id"))
        if not sid:
            ctx.warn("a session without an id skipped")
            continue
        meta: dict[str, Any] = {}
        created = read_time(s.get("created_at"), meta, "created_at")
        updated = read_time(s.get("updated_at"), meta, "updated_at") or created
        if ctx.unchanged(CONVERSATIONS_OF, sid, updated):
            continue
        rows = conn.execute(query, (sid,)).fetchall()  # a database error fails the file, one line
        conv = None
        with skip_on_error(ctx, f"session {sid}"):
            conv = _conversation(sid, s, rows, meta, created, updated, version, unknown, ctx)
        if conv is not None:
            yield conv
    if unknown:
        ctx.warn(
            "Goose sessions of an unknown version: "
            + ", ".join(f"{n} '{t}'" for t, n in sorted(unknown.items())[:5])
            + " kept as opaque blocks"
        )
    if version is not None and version > KNOWN_SCHEMA:
        ctx.warn(
            f"Goose sessions database of schema v{version} (known here: up to v{KNOWN_SCHEMA}): read what could be"
        )


def _schema_version(conn: sqlite3.Connection) -> int | None:
    if not _columns(conn, "schema_version"):
        return None
    v = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    return v if isinstance(v, int) else None


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))}


def _conversation(
    sid: str,
    s: dict[str, Any],
    rows: list[tuple],
    meta: dict[str, Any],
    created: Any,
    updated: Any,
    version: int | None,
    unknown: dict[str, int],
    ctx: ParseContext,
) -> m.Conversation | None:
    session = Session(ctx, sid)
    session.warn_unknown = False
    session.metadata = _metadata(s)
    for rowid, message_id, role, content, created_ts, flags in rows:
        mid = as_str(message_id) or f"msg_{sid}_{rowid}"  # as Goose's migration 7 names older rows
        with skip_on_error(ctx, f"session {sid} message {mid}"):
            rec = {
                "id": mid,
                "role": role,
                "created": created_ts,
                "content": _content(content),
                "metadata": _json(flags),
            }
            session.record(rowid, rec)
    conv = session.finish()
    for kind, n in session.unknown.items():
        unknown[kind] = unknown.get(kind, 0) + n
    if conv is None:
        return None
    conv.meta.update(meta)
    config = as_dict(_json(s.get("model_config_json")))
    model = as_str(config.get("model_name"))
    if model:
        conv.models = [model]
    if config:
        conv.meta["model_config"] = bounded(config, max_total=2 << 10)
    recipe = as_dict(_json(s.get("recipe_json")))
    if recipe:
        conv.meta["recipe"] = bounded({k: recipe[k] for k in ("title", "description") if k in recipe}, max_total=2000)
    if s.get("archived_at"):
        conv.meta["archived"] = True
    if s.get("user_set_name"):
        conv.meta["user_set_name"] = True
    if version is not None:
        conv.meta["schema_version"] = version
    conv.created_at = created or conv.created_at
    conv.updated_at = updated or conv.updated_at
    return conv


def _metadata(s: dict[str, Any]) -> dict[str, Any]:
    """The session row as the legacy files' metadata line (what ``Session`` reads)."""
    md = {k: s[k] for k in _META_COLUMNS if s.get(k) is not None}
    md["working_dir"] = s.get("working_dir")
    md["description"] = as_str(s.get("name")) or as_str(s.get("description"))
    return md


def _json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, (str, bytes)) or not value:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value if isinstance(value, str) else None


def _content(value: Any) -> list:
    """A message's content list; anything else costs the message (and a warning)."""
    content = _json(value)
    if not isinstance(content, list):
        raise ValueError(f"content_json is not a JSON list ({type(content).__name__})")
    return content


PROVIDER = Provider(
    name=NAME,
    display_name="Goose (sessions.db)",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=148,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=False),
    # no location of its own: the database sits in goose's sessions folder, which goose's location reads whole
    own_conversations=False,  # archived as goose, the legacy files' conversations, under the same session ids
)
