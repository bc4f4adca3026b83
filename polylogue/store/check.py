"""`polylogue check`: SQLite integrity of both files, the index consistent with
the archive (at its watermark: store/indexer.py), denormalised counts, and that
every stored message decodes and matches its hash."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from . import codec, index_file, term_totals
from . import usage as usage_ledger
from .db import index_damage, open_reader, open_writer, pair_snapshot
from .encode import _hash, fts_values


def check(db: Path, *, vacuum: bool = False) -> dict[str, Any]:
    """Every check, read-only; ``vacuum`` then compacts the archive if it is sound
    (VACUUM on a damaged file could make the damage worse, or lose more)."""
    problems: list[str] = []
    messages = indexed = 0
    lag: int | None = 0
    try:
        conn = open_reader(db)
    except sqlite3.DatabaseError as e:  # not a database at all (a damaged header)
        return _report([f"sqlite: {e}"], 0, 0, False)
    try:
        index_lost = index_file.fell_back(conn, db)  # it could not be opened: the archive is checked alone
        try:
            w = pair_snapshot(conn)  # one consistent snapshot of each file even while a sync writes
        except sqlite3.DatabaseError as e:
            problems.append(f"sqlite: {e}")
            w = None
        problems += _sqlite_integrity(conn)
        if not problems:  # the checks below read through the b-trees SQLite just vouched for
            try:
                messages, indexed, lag = _content(conn, problems, w)
                problems += usage_ledger.verify(conn)
            except sqlite3.DatabaseError as e:
                problems.append(f"sqlite: {e}")
    finally:
        conn.close()  # ends the read transaction (a COMMIT can fail on a damaged file)
    if index_lost:
        problems.append(_index_problem(db))
    else:
        problems = _index_named(db, problems)
    if vacuum and not problems:
        _vacuum(db)
    return _report(problems, messages, indexed, vacuum and not problems, lag)


def _index_named(db: Path, problems: list[str]) -> list[str]:
    """SQLite's findings with the index file's named as such (derived data, which the
    next sync rebuilds: it is told to read every page of it), and a line saying so.
    A damage met before integrity_check could name its file is the index's if the
    index alone shows damage and the archive alone does not."""
    index = f"sqlite: {index_file.INDEX_NAME}: "
    unnamed = [p for p in problems if p.startswith("sqlite: ") and not p.startswith(index)]
    if unnamed and index_damage(db) is not None and _archive_damage(db) is None:
        problems = [index + p.removeprefix("sqlite: ") if p in unnamed else p for p in problems]
    if not any(p.startswith(index) for p in problems):
        return problems
    index_file.mark_damaged(db)
    return [*problems, _index_problem(db, "is damaged (above)")]


def _archive_damage(db: Path) -> str | None:
    """What quick_check finds in the archive file read alone (its index not attached)."""
    from .db import connect_readonly, first_damage

    try:
        conn = connect_readonly(db)
    except sqlite3.DatabaseError as e:
        return str(e)
    try:
        return first_damage(conn)
    finally:
        conn.close()


def _index_problem(db: Path, what: str = "") -> str:
    if not what:
        found = index_damage(db)
        if found is None:  # not SQLite's damage: a file this user may not read, a folder in its place
            return (
                f"{index_file.INDEX_NAME}: the search index cannot be opened (is it a file this user can read"
                " and write?); nothing archived is lost"
            )
        what = f"is damaged ({found})"
    return (
        f"{index_file.INDEX_NAME}: the search index {what}; nothing archived is lost: "
        "`polylogue sync` rebuilds it from the archive"
    )


def _report(problems: list[str], messages: int, indexed: int, vacuumed: bool, lag: int | None = 0) -> dict[str, Any]:
    return {
        "ok": not problems,
        "problems": problems,
        "messages": messages,
        "indexed": indexed,
        "index_lag": lag,  # log entries the index file has still to apply (None: it is to be rebuilt)
        "vacuumed": vacuumed,
    }


def _vacuum(db: Path) -> None:
    from . import indexer

    idx = indexer.open_indexer(db)
    try:
        indexer.catch_up(idx)
        idx.execute("INSERT INTO idx.messages_fts(messages_fts) VALUES ('optimize')")
        idx.execute("VACUUM idx")
        idx.execute("PRAGMA idx.wal_checkpoint(TRUNCATE)")
    finally:
        idx.close()
    w = open_writer(db)
    try:
        indexer.trim(w, db)
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
    # a row may hold several findings, one a line, under a "*** in database idx ***" heading: the
    # index file's are named as such (derived data, which the next sync rebuilds)
    out, where = [], "sqlite"
    for line in (line.strip() for msg in rows for line in msg.splitlines()):
        if line.startswith("***"):
            where = f"sqlite: {index_file.INDEX_NAME}" if f"database {index_file.SCHEMA} " in line else "sqlite"
        elif line:
            out.append(f"{where}: {line}")
    return out


def _pending(conn: sqlite3.Connection, w: int | None) -> tuple[dict[int, bytes | None], int]:
    """What the log says after the index's watermark: for each message it touches,
    the content the index holds of it (a first entry that deletes: its old content;
    one that inserts: None, not indexed yet); and how many entries."""
    first: dict[int, bytes | None] = {}
    n_entries = 0
    if w is None:
        return first, 0
    for lo, n, gone in conn.execute("SELECT lo, n, gone FROM main.index_log WHERE seq > ? ORDER BY seq", (w,)):
        n_entries += 1
        if n == 0:
            first.setdefault(lo, gone)
        elif n > 0:
            for rid in range(lo, lo + n):
                first.setdefault(rid, None)
    return first, n_entries


def _content(conn: sqlite3.Connection, problems: list[str], w: int | None = 0) -> tuple[int, int, int | None]:
    """The archive's own invariants (indexes, counts, totals, content and hashes),
    and the index's: it holds exactly the messages as of its watermark; appends to
    ``problems``, returns (messages, indexed, log entries still to index)."""
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
    pending, lag = _pending(conn, w)
    expected = sum(1 for blob in pending.values() if blob is not None and any(fts_values(codec.decode_blocks(blob))))
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
            expected += rid not in pending
        usage_text = codec.decode_json(usage).decode() if usage is not None else None
        meta_text = codec.decode_json(meta).decode() if meta is not None else None
        if _hash(raw, [seq, mid, parent, role, ts, flags, model, usage_text, meta_text]) != h:
            bad_rows += 1
            if bad_rows <= 20:
                problems.append(f"message {rid}: stored hash does not match its content")
    if w is None:
        return messages, indexed, None  # an index to be rebuilt whole by the next sync: nothing to compare
    fts_rows = conn.execute("SELECT count(*) FROM idx.messages_fts_docsize").fetchone()[0]
    if fts_rows != expected:
        problems.append(f"full-text index has {fts_rows} rows, expected {expected}")
    ghosts = [
        rid
        for (rid,) in conn.execute(
            "SELECT d.id FROM idx.messages_fts_docsize d WHERE NOT EXISTS (SELECT 1 FROM main.messages m WHERE m.id = d.id)"
        )
        if pending.get(rid) is None
    ]
    if ghosts:
        problems.append(f"full-text index holds {len(ghosts)} messages the archive does not (first: {ghosts[0]})")
    return messages, indexed, lag
