"""Migration steps that need more than SQL (see ``schema.MIGRATIONS``).

An archive written by schema-version-1 code (tests/fixtures/archive-v1.sql)
differs from what migration 1 creates today in three ways: message rowids were
numbered 1, 2, 3... instead of following the rule in ``ids.py``;
``conversations.next_message`` did not exist; and a message's hash was taken
over its stored bytes, not its JSON. Search (which reads the conversation from
the rowid), the writer and ``check`` all need today's form. (An archive taken
to version 2 by the code of that time, before the rowid rule existed, is not
repaired: that code was never released.)"""

from __future__ import annotations

import sqlite3

import orjson

from . import codec
from .encode import _hash, fts_values
from .ids import message_rowid, sql_conversation_of


def adopt_v1_archive(conn: sqlite3.Connection) -> None:
    """Renumber messages whose rowid does not carry their conversation, then
    rebuild the full-text index and the hashes. A no-op on an archive that
    migration 1 made as it stands today."""
    if "next_message" not in {row[1] for row in conn.execute("PRAGMA table_info(conversations)")}:
        conn.execute("ALTER TABLE conversations ADD COLUMN next_message INTEGER NOT NULL DEFAULT 0")
    stray = conn.execute(
        f"SELECT id, conversation_id FROM messages WHERE {sql_conversation_of('id')} != conversation_id "
        "ORDER BY conversation_id, seq"
    ).fetchall()
    if not stray:
        return
    # Negative first, so no new rowid collides with an old one still in place.
    conn.execute(f"UPDATE messages SET id = -id WHERE {sql_conversation_of('id')} != conversation_id")
    next_slot = dict(conn.execute("SELECT id, next_message FROM conversations"))
    renumbered = []
    for old, cid in stray:
        renumbered.append((message_rowid(cid, next_slot[cid]), -old))
        next_slot[cid] += 1
    conn.executemany("UPDATE messages SET id = ? WHERE id = ?", renumbered)
    conn.executemany("UPDATE conversations SET next_message = ? WHERE id = ?", [(n, c) for c, n in next_slot.items()])
    _reindex(conn)


def _reindex(conn: sqlite3.Connection) -> None:
    """Index text and hashes as today's encoder makes them (version 1's index text
    cannot be replayed to delete single entries, so the index is rebuilt whole)."""
    conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('delete-all')")
    rows = conn.execute(
        "SELECT id, seq, mid, parent_mid, role, timestamp, flags, model, usage, meta, content FROM messages"
    ).fetchall()
    for rid, seq, mid, parent, role, ts, flags, model, usage, meta, content in rows:
        raw = codec.decode_json(content)
        values = fts_values([codec.block_from_dict(d) for d in orjson.loads(raw)])
        if any(values):
            conn.execute(
                "INSERT INTO messages_fts(rowid, text, thinking, tool_use, tool_result) VALUES (?,?,?,?,?)",
                (rid, *values),
            )
        usage_text = codec.decode_json(usage).decode() if usage is not None else None
        meta_text = codec.decode_json(meta).decode() if meta is not None else None
        digest = _hash(raw, [seq, mid, parent, role, ts, flags, model, usage_text, meta_text])
        conn.execute("UPDATE messages SET hash = ? WHERE id = ?", (digest, rid))
