"""The batched writer: the only code that writes what was imported (conversations,
messages, ``sources``). It never touches the full-text index: with each batch it
logs what the index must follow (``index_log``), and the indexer (indexer.py, a
process of its own during a big sync) brings the index file up to it. Outside it,
only derived data is written: compression dictionaries (db.py), the index and
frequent-word counts (indexer.py, term_totals.py) and schema migrations (schema.py).

One transaction per batch. A conversation is written whole or not at all: if
one fails half-way, the batch is rolled back and replayed without it (no
per-conversation SAVEPOINT: one was measured to cost much when FTS5 lived in
this transaction). Unchanged conversations (same content
hash) cost one indexed lookup; changed ones rewrite and re-index only the
messages whose hash changed. A huge conversation comes in parts
(``write_part``), written in a transaction of its own, committed with its last
part: whole or not at all too, and never held whole."""

from __future__ import annotations

import copy
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..errors import StaleRows
from .encode import ConversationRow, MessageRow
from .ids import MESSAGE_ID_SPAN, message_rowid
from .schema import TIME_BOUNDS
from .usage import Ledger

T = TypeVar("T")

WAL_TARGET = 32 << 20  # bytes of WAL before a deliberate, restarting checkpoint (if no reader is in the way)
WAL_CAP = 4 * WAL_TARGET  # ... and past this, one that waits for the readers

_INSERT_MSG = (
    "INSERT INTO messages(id, conversation_id, seq, mid, parent_mid, role, timestamp, flags, model, usage, meta,"
    " content, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
# what the index must follow (indexer.py): messages inserted, a message deleted with its old content,
# a title changed with the old title
_LOG_INSERT = "INSERT INTO index_log(lo, n) VALUES (?, ?)"
_LOG_TITLE = "INSERT INTO index_log(lo, n, gone) VALUES (?, -1, ?)"
_CONV_COLS = (
    "uid, provider, provider_id, title, created_at, updated_at, source_id, parent_uid, project, models, meta,"
    " message_count, features, input_tokens, output_tokens, hash, imported_at"
)


@dataclass
class _Parts:
    """A conversation being written in parts: where it stands."""

    uid: str
    cid: int = 0
    new: bool = True
    failed: bool = False
    stored: tuple = ()  # the stored conversation's (hash, title, message_count, updated_at)
    next: int = 0  # its next message number (store/ids.py)
    count: int = 0  # messages this parse holds
    fresh: int = 0  # messages written (new or changed)
    replaced: int = 0  # ... of which replaced a stored version
    first: int | None = None  # earliest and latest message time
    last: int | None = None
    untimed: bool = False  # a message without a time: the conversation's update time stands in
    project: str | None = None  # the stored conversation's project


@dataclass
class WriteStats:
    conversations_new: int = 0
    conversations_updated: int = 0
    conversations_unchanged: int = 0
    messages_new: int = 0
    messages_updated: int = 0
    messages_removed: int = 0
    provider_delta: dict[str, list[int]] = field(default_factory=dict)


def _bounds(conv: ConversationRow) -> tuple[int | None, int | None]:
    """first_ts/last_ts (schema.TIME_BOUNDS) of a new conversation."""
    times = [
        t for t in (r.timestamp if r.timestamp is not None else conv.updated_at for r in conv.messages) if t is not None
    ]
    return (min(times), max(times)) if times else (None, None)


def _older(incoming: int | None, stored: int | None) -> bool:
    return incoming is not None and stored is not None and incoming < stored


class Writer:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.stats = WriteStats()
        self._pending = self._pending_bytes = 0
        self._wal: str | None = None
        self.checkpoints = 0
        self._log: list[Callable[[], object]] = []  # this batch's writes, to replay after a rollback
        self._stats_at_begin = copy.deepcopy(self.stats)
        self._parts: _Parts | None = None  # a conversation being written in parts
        self._usage = Ledger(conn)  # the usage ledger and its totals, kept with the messages

    # -- transactions ------------------------------------------------------
    def begin(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self._log.clear()
            self._stats_at_begin = copy.deepcopy(self.stats)

    def commit(self) -> None:
        if self.conn.in_transaction:
            self._flush_totals()
            self.conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            self.conn.execute("COMMIT")
            self._bound_wal()
        self._pending = self._pending_bytes = 0
        self._log.clear()

    def _bound_wal(self) -> None:
        """Automatic checkpoints never restart the WAL while readers keep arriving,
        so it would grow for the whole import. Past WAL_TARGET, start it over if
        no reader holds old frames; else try again after the next batch (the
        indexer process reads each batch in a transaction of ~0.2-0.5 s: waiting
        for it stalled the writer, and the parsers behind it, ~7% of a 10K
        import). Past WAL_CAP, wait for the readers (briefly: they are short)."""
        from .db import BUSY_TIMEOUT_MS

        if self._wal is None:
            path = self.conn.execute("PRAGMA database_list").fetchone()[2]
            self._wal = path + "-wal" if path else ""
        try:
            size = os.path.getsize(self._wal) if self._wal else 0
        except OSError:
            return
        if size <= WAL_TARGET:
            return
        wait = size > WAL_CAP
        if not wait:
            self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            if not wait:
                self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not busy:
            self.checkpoints += 1

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.stats = copy.deepcopy(self._stats_at_begin)
        self._usage.discard()
        self._log.clear()
        self._pending = self._pending_bytes = 0

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def pending_bytes(self) -> int:
        """What this batch holds in memory (its replay log keeps the rows)."""
        return self._pending_bytes

    def _logged(self, fn: Callable[[], T]) -> T:
        """Run one write of this batch; if it fails, roll the batch back, replay
        the writes before it, and re-raise: the failed one leaves no trace."""
        self.begin()
        try:
            result = fn()
        except BaseException:
            done = list(self._log)
            self.rollback()
            self.begin()
            for earlier in done:
                earlier()
                self._log.append(earlier)
            raise
        self._log.append(fn)
        return result

    # -- conversations -----------------------------------------------------
    def write(self, conv: ConversationRow, source_id: int | None) -> str:
        """Store one conversation; returns 'new', 'updated' or 'unchanged'."""
        status = self._logged(lambda: self._write(conv, source_id))
        self._pending += len(conv.messages) + 1
        self._pending_bytes += conv.nbytes
        return status

    # -- a conversation in parts (encode.encode_parts) ------------------------
    @property
    def parts_open(self) -> str | None:
        """The uid of the conversation being written in parts, if one is."""
        return self._parts.uid if self._parts is not None else None

    def write_part(self, part: ConversationRow, source_id: int | None) -> str | None:
        """One part of a conversation handed over in parts. The batch so far is
        committed at its first part; the conversation gets a transaction of its
        own, committed with its last part (its status returned then: 'new',
        'updated' or 'unchanged'). If a part fails, the conversation is rolled
        back, the error raised, and its later parts ignored."""
        st = self._parts
        if st is None or st.uid != part.uid:
            self.abandon_parts()
            self.commit()
            st = self._parts = _Parts(part.uid)
            self.begin()
            try:
                self._open_parts(st, part, source_id)
            except BaseException:
                self._fail_parts(st, part)
                raise
        if st.failed:
            if not part.more:
                self._parts = None
            return None
        try:
            if part.messages:
                self._part_rows(st, part.messages, part)
            if part.more:
                return None
            status = self._close_parts(st, part, source_id)
        except BaseException:
            self._fail_parts(st, part)
            raise
        self._parts = None
        self.commit()
        return status

    def abandon_parts(self) -> None:
        """A conversation whose parts stopped coming (its parse failed): not stored."""
        st, self._parts = self._parts, None
        if st is not None and not st.failed:
            self.rollback()

    def _fail_parts(self, st: _Parts, part: ConversationRow) -> None:
        self.rollback()
        st.failed = True
        if not part.more:
            self._parts = None

    def _open_parts(self, st: _Parts, part: ConversationRow, source_id: int | None) -> None:
        c = self.conn
        row = c.execute(
            "SELECT id, hash, title, message_count, updated_at, next_message, project FROM conversations WHERE uid = ?",
            (part.uid,),
        ).fetchone()
        if row is None:  # the row is completed with the last part
            cur = c.execute(
                f"INSERT INTO conversations({_CONV_COLS}) VALUES ({','.join('?' * 17)})",
                self._conv_values(part, source_id, 0),
            )
            assert cur.lastrowid is not None  # set by every INSERT
            st.cid = cur.lastrowid
            return
        st.cid, st.new, st.stored, st.next, st.project = row[0], False, row[1:5], row[5], row[6]
        # the stored messages still to be matched, by id: in SQLite (a temporary table), not in memory
        c.execute("CREATE TEMP TABLE IF NOT EXISTS parts_stored(mid TEXT PRIMARY KEY, id INTEGER, hash INTEGER)")
        c.execute("DELETE FROM parts_stored")
        c.execute(
            "INSERT OR REPLACE INTO parts_stored SELECT mid, id, hash FROM messages WHERE conversation_id = ?",
            (st.cid,),
        )

    def _part_rows(self, st: _Parts, rows: list[MessageRow], part: ConversationRow) -> None:
        """A part's messages: inserted, or for a stored conversation, diffed by id
        and hash as ``_update`` does (only changed messages are rewritten)."""
        if any(r.content is None for r in rows):
            raise StaleRows(st.uid)  # encode_parts never keeps rows: a caller's mistake
        st.count += len(rows)
        for r in rows:
            if r.timestamp is None:
                st.untimed = True
            else:
                st.first = r.timestamp if st.first is None else min(st.first, r.timestamp)
                st.last = r.timestamp if st.last is None else max(st.last, r.timestamp)
        fresh = rows
        if not st.new:
            c = self.conn
            stored: dict[str, tuple[int, int]] = {}
            for i in range(0, len(rows), 500):
                mids = [r.mid for r in rows[i : i + 500]]
                marks = ",".join("?" * len(mids))
                for mid, rid, h in c.execute(f"SELECT mid, id, hash FROM parts_stored WHERE mid IN ({marks})", mids):
                    stored[mid] = (rid, h)
                c.execute(f"DELETE FROM parts_stored WHERE mid IN ({marks})", mids)
            fresh = [r for r in rows if stored.get(r.mid, (None, None))[1] != r.hash]
            stale = [stored[r.mid][0] for r in fresh if r.mid in stored]
            self._delete_messages(stale)
            st.replaced += len(stale)
        self._insert_messages(st.cid, fresh, st.next, part, counted=True)
        st.next += len(fresh)
        st.fresh += len(fresh)

    def _close_parts(self, st: _Parts, conv: ConversationRow, source_id: int | None) -> str:
        """The last part: the conversation's own fields, as ``_insert`` or ``_update`` write them."""
        c = self.conn
        if not st.new:
            stored_hash, old_title, old_count, old_updated = st.stored
            if stored_hash == conv.hash or _older(conv.updated_at, old_updated):
                self.rollback()  # as ``_write``: keep what the archive holds (an older copy may have differed)
                self.begin()
                self.stats.conversations_unchanged += 1
                return "unchanged"
        count, stored_as = st.count, conv.hash
        removed = 0
        if not st.new:
            left = [rid for (rid,) in c.execute("SELECT id FROM parts_stored")]
            if conv.prune:
                self._delete_messages(left)
                removed = len(left)
            elif left:  # a partial parse keeps what it no longer shows; the next whole parse must not look unchanged
                count += len(left)
                stored_as = conv.hash ^ 0x5BD1E995
            c.execute("DELETE FROM parts_stored")
        times = [t for t in (st.first, st.last, conv.updated_at if st.untimed else None) if t is not None]
        c.execute(
            "UPDATE conversations SET uid=?, provider=?, provider_id=?, title=?, created_at=?, updated_at=?, "
            "source_id=coalesce(?, source_id), parent_uid=?, project=?, models=?, meta=?, message_count=?, "
            "features=?, input_tokens=?, output_tokens=?, hash=?, imported_at=?, next_message=? WHERE id=?",
            (*self._conv_values(conv, source_id, count, stored_as), st.next, st.cid),
        )
        if not st.new and st.project != conv.project:
            self._usage.reproject(st.cid, conv.project)
        if conv.sessions or not st.new:
            self._usage.set_sessions(st.cid, conv.provider, conv.project, conv.updated_at, conv.sessions)
        if st.new:
            c.execute(
                "UPDATE conversations SET first_ts = ?, last_ts = ? WHERE id = ?",
                (min(times) if times else None, max(times) if times else None, st.cid),
            )
            self._retitle(st.cid, None, conv.title)
            self.stats.conversations_new += 1
            self.stats.messages_new += count
            self._delta(conv.provider, 1, count)
            return "new"
        c.execute(f"UPDATE conversations SET {TIME_BOUNDS} WHERE id = ?", (st.cid,))
        old_title, old_count = st.stored[1], st.stored[2]
        self._retitle(st.cid, old_title, conv.title)
        self.stats.conversations_updated += 1
        self.stats.messages_new += st.fresh - st.replaced
        self.stats.messages_updated += st.replaced
        self.stats.messages_removed += removed
        self._delta(conv.provider, 0, count - old_count)
        return "updated"

    def _write(self, conv: ConversationRow, source_id: int | None) -> str:
        row = self.conn.execute(
            "SELECT id, hash, title, message_count, updated_at, project FROM conversations WHERE uid = ?", (conv.uid,)
        ).fetchone()
        if row is not None and (row[1] == conv.hash or _older(conv.updated_at, row[4])):
            # same content, or an older copy of it (an earlier export, a stale sibling file): keep what we have
            if row[1] == conv.hash and source_id is not None:
                # this file holds it as it is: it is the source now (a moved file leaves no conversation "gone")
                self.conn.execute(
                    "UPDATE conversations SET source_id = ? WHERE id = ? AND source_id IS NOT ?",
                    (source_id, row[0], source_id),
                )
            self.stats.conversations_unchanged += 1
            return "unchanged"
        if row is None:
            if any(r.content is None for r in conv.messages):
                raise StaleRows(conv.uid)
            return self._insert(conv, source_id)
        return self._update(conv, source_id, row[0], row[2], row[3], row[5])

    def _conv_values(self, conv: ConversationRow, source_id, count: int, hash_: int | None = None) -> tuple:
        return (
            conv.uid,
            conv.provider,
            conv.provider_id,
            conv.title,
            conv.created_at,
            conv.updated_at,
            source_id,
            conv.parent_uid,
            conv.project,
            conv.models,
            conv.meta,
            count,
            conv.features,
            conv.input_tokens,
            conv.output_tokens,
            conv.hash if hash_ is None else hash_,
            int(time.time() * 1000),
        )

    def _insert(self, conv: ConversationRow, source_id) -> str:
        c = self.conn
        cur = c.execute(
            f"INSERT INTO conversations({_CONV_COLS}, next_message, first_ts, last_ts) VALUES ({','.join('?' * 20)})",
            (*self._conv_values(conv, source_id, len(conv.messages)), len(conv.messages), *_bounds(conv)),
        )
        cid = cur.lastrowid
        assert cid is not None  # set by every INSERT
        self._retitle(cid, None, conv.title)
        self._insert_messages(cid, conv.messages, 0, conv, counted=True)
        if conv.sessions:
            self._usage.set_sessions(cid, conv.provider, conv.project, conv.updated_at, conv.sessions)
        self.stats.conversations_new += 1
        self.stats.messages_new += len(conv.messages)
        self._delta(conv.provider, 1, len(conv.messages))
        return "new"

    def _update(
        self, conv: ConversationRow, source_id, cid: int, old_title: str | None, old_count: int, old_project: str | None
    ) -> str:
        c = self.conn
        stored_hash = conv.hash
        existing = {
            mid: (rid, h)
            for rid, mid, h in c.execute("SELECT id, mid, hash FROM messages WHERE conversation_id = ?", (cid,))
        }
        new_mids = {r.mid for r in conv.messages}
        fresh = [r for r in conv.messages if existing.get(r.mid, (None, None))[1] != r.hash]
        if any(r.content is None for r in fresh):
            raise StaleRows(conv.uid)
        stale = [existing[r.mid][0] for r in fresh if r.mid in existing]
        if conv.prune:
            stale += [rid for mid, (rid, _) in existing.items() if mid not in new_mids]
        else:  # a partial parse: keep what it no longer shows
            keep = [mid for mid in existing if mid not in new_mids]
            new_mids.update(keep)
            if keep:  # stored rows now differ from this parse: the next whole parse must not look unchanged
                stored_hash = conv.hash ^ 0x5BD1E995
        self._delete_messages(stale)
        first = c.execute("SELECT next_message FROM conversations WHERE id = ?", (cid,)).fetchone()[0]
        self._insert_messages(cid, fresh, first, conv)
        if old_project != conv.project:
            self._usage.reproject(cid, conv.project)
        self._usage.set_sessions(cid, conv.provider, conv.project, conv.updated_at, conv.sessions)
        count = len(new_mids)
        c.execute(
            "UPDATE conversations SET uid=?, provider=?, provider_id=?, title=?, created_at=?, updated_at=?, "
            "source_id=coalesce(?, source_id), parent_uid=?, project=?, models=?, meta=?, message_count=?, "
            "features=?, input_tokens=?, output_tokens=?, hash=?, imported_at=? WHERE id=?",
            (*self._conv_values(conv, source_id, count, stored_hash), cid),
        )
        c.execute(f"UPDATE conversations SET {TIME_BOUNDS} WHERE id = ?", (cid,))
        self._retitle(cid, old_title, conv.title)
        replaced = sum(1 for r in fresh if r.mid in existing)
        self.stats.conversations_updated += 1
        self.stats.messages_new += len(fresh) - replaced
        self.stats.messages_updated += replaced
        self.stats.messages_removed += len(stale) - replaced
        self._delta(conv.provider, 0, count - old_count)
        return "updated"

    def _retitle(self, cid: int, old: str | None, new: str | None) -> None:
        """A changed title: logged for the indexer with the old one (it re-indexes the
        title and drops its block's kept totals, which count the conversations
        matching by title alone, term_totals.py)."""
        if old != new:
            self.conn.execute(_LOG_TITLE, (message_rowid(cid, 0), old or None))

    def _insert_messages(
        self, cid: int, rows: list[MessageRow], start: int, conv: ConversationRow, counted: bool = False
    ) -> None:
        """Message rowids follow store/ids.py, n counting up per conversation and
        never reused: the full-text index then knows each hit's conversation
        without a join (exact conversation totals at any scale)."""
        if not rows:
            return
        if start + len(rows) >= MESSAGE_ID_SPAN:
            raise OverflowError(f"conversation {cid} has had more than {MESSAGE_ID_SPAN} message versions")
        first = message_rowid(cid, start)
        if not counted:
            self.conn.execute("UPDATE conversations SET next_message = ? WHERE id = ?", (start + len(rows), cid))
        self.conn.executemany(
            _INSERT_MSG,
            [
                (
                    first + i,
                    cid,
                    r.seq,
                    r.mid,
                    r.parent_mid,
                    r.role,
                    r.timestamp,
                    r.flags,
                    r.model,
                    r.usage,
                    r.meta,
                    r.content,
                    r.hash,
                )
                for i, r in enumerate(rows)
            ],
        )
        self.conn.execute(_LOG_INSERT, (first, len(rows)))
        responses = [
            (first + i, conv.updated_at if r.timestamp is None else r.timestamp, r.usage_row)
            for i, r in enumerate(rows)
            if r.usage_row is not None
        ]
        if responses:
            self._usage.add(conv.provider, conv.project, responses)

    def _delete_messages(self, ids: list[int]) -> None:
        if not ids:
            return
        c = self.conn
        self._usage.remove(ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            # the index holds what the old content says: the indexer deletes it with these values
            c.execute(
                f"INSERT INTO index_log(lo, n, gone) SELECT id, 0, content FROM messages WHERE id IN ({marks})",
                chunk,
            )
            c.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)

    # -- totals and sources --------------------------------------------------
    def _delta(self, provider: str, convs: int, msgs: int) -> None:
        d = self.stats.provider_delta.setdefault(provider, [0, 0])
        d[0] += convs
        d[1] += msgs

    def _flush_totals(self) -> None:
        self._usage.flush()
        for provider, (convs, msgs) in self.stats.provider_delta.items():
            self.conn.execute(
                "INSERT INTO provider_totals(provider, conversations, messages) VALUES (?,?,?) "
                "ON CONFLICT(provider) DO UPDATE SET conversations = conversations + excluded.conversations, "
                "messages = messages + excluded.messages",
                (provider, convs, msgs),
            )
        self.stats.provider_delta.clear()

    def source_id(self, path: str) -> int:
        def get() -> int:
            row = self.conn.execute("SELECT id FROM sources WHERE path = ?", (path,)).fetchone()
            if row:
                return row[0]
            rowid = self.conn.execute("INSERT INTO sources(path, status) VALUES (?, 'new')", (path,)).lastrowid
            assert rowid is not None  # set by every INSERT
            return rowid

        return self._logged(get)

    def record_source(
        self,
        path: str,
        *,
        provider: str | None,
        size: int | None,
        mtime_ns: int | None,
        status: str,
        problems: list[tuple[str, str, int | None]],
        conversations: int,
        hash: bytes | None = None,
    ) -> None:
        """A file's ``sources`` row and the problems of this read of it (path, what, line),
        in one write: the row never names problems other than its own."""

        def record() -> None:
            c = self.conn
            # no RETURNING + fetchone(): the unfinished statement stayed active, and every
            # later write of the sync then kept a statement journal (~3 ms a file, 4 s of a
            # 100K-message import, measured); the id is read back with a plain SELECT
            c.execute(
                "INSERT INTO sources(path, provider, size, mtime_ns, hash, status, error, conversations, synced_at) "
                "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET provider=excluded.provider, "
                "size=excluded.size, mtime_ns=excluded.mtime_ns, hash=excluded.hash, status=excluded.status, "
                "error=excluded.error, conversations=excluded.conversations, synced_at=excluded.synced_at",
                (
                    path,
                    provider,
                    size,
                    mtime_ns,
                    hash,
                    status,
                    "; ".join(p[1] for p in problems[:3]) or None,
                    conversations,
                    int(time.time() * 1000),
                ),
            )
            sid = c.execute("SELECT id FROM sources WHERE path = ?", (path,)).fetchone()[0]
            c.execute("DELETE FROM source_problems WHERE source_id = ?", (sid,))
            c.executemany(
                "INSERT INTO source_problems(source_id, seq, path, line, problem) VALUES (?,?,?,?,?)",
                [(sid, i, where, line, what) for i, (where, what, line) in enumerate(_kept(problems, path))],
            )

        self._logged(record)


MAX_PROBLEMS = 100  # kept per file: a zip of broken members, say, must not fill the archive


def _kept(problems: list[tuple[str, str, int | None]], path: str) -> list[tuple[str, str, int | None]]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], (path, f"... and {len(problems) - MAX_PROBLEMS} more problems", None)]


def remember_mtimes(conn: sqlite3.Connection, touched: list[tuple[int, str]]) -> None:
    """(mtime_ns, path) of files touched but not changed (same size and hash): the
    next sync then skips them on size and mtime alone, without hashing them again."""
    with conn:
        conn.executemany("UPDATE sources SET mtime_ns = ? WHERE path = ?", touched)
