"""`polylogue check`: SQLite integrity, FTS consistency, denormalised counts,
and that every stored message decodes and matches its hash."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from . import codec, term_totals
from . import usage as usage_ledger
from .db import open_reader, open_writer
from .encode import _hash, fts_values


def check(db: Path, *, vacuum: bool = False) -> dict[str, Any]:
    """Every check, read-only; ``vacuum`` then compacts the archive if it is sound
    (VACUUM on a damaged file could make the damage worse, or lose more)."""
    problems: list[str] = []
    messages = indexed = 0
    try:
        conn = open_reader(db)
    except sqlite3.DatabaseError as e:  # not a database at all (a damaged header)
        return _report([f"sqlite: {e}"], 0, 0, False)
    try:
        conn.execute("BEGIN")  # one consistent snapshot even while a sync writes
        problems += _sqlite_integrity(conn)
        if not problems:  # the checks below read through the b-trees SQLite just vouched for
            try:
                messages, indexed = _content(conn, problems)
                problems += usage_ledger.verify(conn)
            except sqlite3.DatabaseError as e:
                problems.append(f"sqlite: {e}")
    finally:
        conn.close()  # ends the read transaction (a COMMIT can fail on a damaged file)
    if vacuum and not problems:
        _vacuum(db)
    return _report(problems, messages, indexed, vacuum and not problems)


def _report(problems: list[str], messages: int, indexed: int, vacuumed: bool) -> dict[str, Any]:
    return {"ok": not problems, "problems": problems, "messages": messages, "indexed": indexed, "vacuumed": vacuumed}


def _vacuum(db: Path) -> None:
    w = open_writer(db)
    try:
        w.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
        w.execute("VACUUM")
        w.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        w.close()


def _sqlite_integrity(conn: sqlite3.Connection) -> list[str]:
    """What SQLite's integrity_check finds, each line as it says it."""
    try:
        rows = [msg for (msg,) in conn.execute("PRAGMA integrity_check(100)") if msg != "ok"]
    except sqlite3.DatabaseError as e:  # too damaged to walk at all
        return [f"sqlite: {e}"]
    # a row may hold several findings, one a line, under a "*** in database main ***" heading
    lines = (line.strip() for msg in rows for line in msg.splitlines())
    return [f"sqlite: {line}" for line in lines if line and not line.startswith("***")]


def _content(conn: sqlite3.Connection, problems: list[str]) -> tuple[int, int]:
    """The archive's own invariants (indexes, counts, totals, content and hashes);
    appends to ``problems``, returns (messages, indexed)."""
    for table in ("messages_fts", "titles_fts"):
        try:
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as e:
            if "readonly" in str(e).lower() or "read-only" in str(e).lower():
                pass  # checked below by counting instead
            else:
                problems.append(f"{table}: {e}")
    bad_counts = conn.execute(
        "SELECT c.uid, c.message_count, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) n "
        "FROM conversations c WHERE c.message_count != n LIMIT 20"
    ).fetchall()
    for uid, stored, actual in bad_counts:
        problems.append(f"{uid}: message_count {stored} but {actual} messages stored")
    totals = dict(
        ((p, (c, m)) for p, c, m in conn.execute("SELECT provider, conversations, messages FROM provider_totals"))
    )
    for p, c, m in conn.execute(
        "SELECT provider, count(*), coalesce(sum(message_count), 0) FROM conversations GROUP BY provider"
    ):
        if totals.get(p, (0, 0)) != (c, m):
            problems.append(f"provider totals for {p}: stored {totals.get(p)}, actual {(c, m)}")
    problems += term_totals.verify(conn)
    orphans = conn.execute(
        "SELECT count(*) FROM messages m WHERE NOT EXISTS "
        "(SELECT 1 FROM conversations c WHERE c.id = m.conversation_id)"
    ).fetchone()[0]
    if orphans:
        problems.append(f"{orphans} messages belong to no conversation")
    indexed = 0
    messages = 0
    bad_rows = 0
    for rid, seq, mid, parent, role, ts, flags, model, usage, meta, content, h in conn.execute(
        "SELECT id, seq, mid, parent_mid, role, timestamp, flags, model, usage, meta, content, hash FROM messages"
    ):
        messages += 1
        try:
            raw = codec.decode_json(content)
            blocks = [codec.block_from_dict(d) for d in orjson.loads(raw)]
        except Exception as e:
            bad_rows += 1
            if bad_rows <= 20:
                problems.append(f"message {rid}: content does not decode ({type(e).__name__})")
            continue
        if any(fts_values(blocks)):
            indexed += 1
        usage_text = codec.decode_json(usage).decode() if usage is not None else None
        meta_text = codec.decode_json(meta).decode() if meta is not None else None
        if _hash(raw, [seq, mid, parent, role, ts, flags, model, usage_text, meta_text]) != h:
            bad_rows += 1
            if bad_rows <= 20:
                problems.append(f"message {rid}: stored hash does not match its content")
    fts_rows = conn.execute("SELECT count(*) FROM messages_fts").fetchone()[0]
    if fts_rows != indexed:
        problems.append(f"full-text index has {fts_rows} rows, expected {indexed}")
    return messages, indexed
