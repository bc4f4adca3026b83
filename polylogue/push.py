"""`polylogue push URL`: the local archive, one way, into a shared PostgreSQL archive.

What is sent: every conversation the server does not hold in this archive's
version (the server's ``holders`` rows say which uid it holds at which hash,
so a push needs no local state but the archive's id, and a lost or killed
push simply goes on where the server stands). Each batch of conversations is
one transaction on the server (store/postgres/load.py): COPY into staging
tables, then upsert. Reading and encoding the next batch (here, in Python)
overlaps the server's work on the previous one (a sender thread).

Nothing of the sync path is touched: a push reads the archive through the
read pool, as search does."""

from __future__ import annotations

import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .api import Archive
from .errors import PolylogueError
from .models import Block
from .paths import open_private
from .store import codec
from .store.encode import search_columns
from .store.ids import rowid_range
from .store.postgres import connect as pgconnect
from .store.postgres import load, schema
from .store.postgres.index_text import message_columns, title_text, tsvector_text
from .store.usage import SESSION_SLOTS
from .store.usage import _session_range as session_range

STATE_FILE = "push.json"  # in the archive's home: this archive's id (0600)
BATCH_MESSAGES = 5_000  # messages per transaction (a conversation is never split)
BATCH_CONVERSATIONS = 500


def archive_id(home: Path) -> str:
    """This archive's id, made once and kept in <home>/push.json."""
    path = Path(home) / STATE_FILE
    try:
        got = orjson.loads(path.read_bytes()).get("archive_id")
        if isinstance(got, str) and got:
            return got
    except (OSError, ValueError, AttributeError):
        pass
    new = str(uuid.uuid4())
    fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps({"archive_id": new}))
    return new


def push(
    archive: Archive,
    url: str,
    *,
    machine: str | None = None,
    insecure: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    batch_messages: int = BATCH_MESSAGES,
) -> dict[str, Any]:
    """Push what the server lacks; a summary (conversations and messages sent,
    conversations written, the server's target without credentials)."""
    machine = machine or socket.gethostname()
    aid = archive_id(archive.home)
    conn = pgconnect.connect(url, insecure=insecure, autocommit=True)
    try:
        schema.migrate(conn)
        held, usage_there = load.register(conn, machine, aid)
        with archive.reader() as local:
            todo = [
                (cid, n)
                for cid, uid, h, n in local.execute(
                    "SELECT id, uid, hash, message_count FROM conversations ORDER BY id"
                )
                if held.get(uid) != h
            ]
            local_total = local.execute("SELECT count(*) FROM conversations").fetchone()[0]
            total = sum(n for _, n in todo)
            if on_progress:
                on_progress(0, total)
            bulk = load.bulk_begin(conn, total)
            try:
                sent, written = _send(conn, machine, aid, local, todo, total, on_progress, batch_messages)
            finally:
                if bulk:
                    load.bulk_end(conn)
            if not usage_there:  # a server older than its ledger: what it holds goes once more, its ledger only
                _send_usage(conn, machine, aid, local, held, {cid for cid, _ in todo})
                load.usage_pushed(conn, aid)
            if todo:
                sources = local.execute(
                    "SELECT path, provider, size, mtime_ns, status, conversations, synced_at FROM sources"
                ).fetchall()
                load.push_sources(conn, machine, aid, [(_clean(p), *rest) for p, *rest in sources])
    except PolylogueError:
        raise
    except Exception as e:
        import psycopg

        if isinstance(e, psycopg.Error):
            raise PolylogueError(f"push to {pgconnect.masked(url)} failed: {pgconnect._reason(e)}") from None
        raise
    finally:
        conn.close()
    return {
        "target": pgconnect.target(url),
        "machine": machine,
        "archive_id": aid,
        "conversations": len(todo),
        "messages": sent,
        "written": written,
        "unchanged": local_total - len(todo),
    }


def _send(conn, machine, aid, local, todo, total, on_progress, batch_messages) -> tuple[int, int]:
    """Batches built here, sent by a thread of their own (the server works while we encode)."""
    batches: queue.Queue = queue.Queue(maxsize=2)
    done = {"messages": 0, "written": 0}
    failed: list[BaseException] = []

    def sender() -> None:
        while (item := batches.get()) is not None:
            if failed:
                continue  # drain: the producer stops at its next put
            convs, msgs, usage = item
            try:
                done["written"] += load.push_batch(conn, machine, aid, convs, msgs, usage)
                done["messages"] += len(msgs)
                if on_progress:  # a callback that raises stops the push like a failed batch (never a hang)
                    on_progress(done["messages"], total)
            except BaseException as e:
                failed.append(e)

    t = threading.Thread(target=sender, name="polylogue-push", daemon=True)
    t.start()
    try:
        for batch in _batches(todo, batch_messages):
            if failed:
                break
            batches.put(_rows(local, batch))
    finally:
        batches.put(None)
        t.join()
    if failed:
        raise failed[0]
    return done["messages"], done["written"]


def _send_usage(conn, machine, aid, local, held: dict[str, int], sending: set[int]) -> None:
    """The ledger of the conversations the server already holds at this archive's hash
    (those not being sent whole), a batch at a time."""
    pairs = [
        (cid, uid, h)
        for cid, uid, h in local.execute("SELECT id, uid, hash FROM conversations ORDER BY id")
        if cid not in sending and held.get(uid) == h
    ]
    for i in range(0, len(pairs), BATCH_CONVERSATIONS):
        chunk = pairs[i : i + BATCH_CONVERSATIONS]
        uids = {cid: uid for cid, uid, _ in chunk}
        load.push_usage(conn, machine, aid, [(uid, h) for _, uid, h in chunk], _usage_rows(local, uids))


def _batches(todo: list[tuple[int, int]], batch_messages: int) -> Iterator[list[int]]:
    cur: list[int] = []
    n = 0
    for cid, count in todo:
        if cur and (n + count > batch_messages or len(cur) >= BATCH_CONVERSATIONS):
            yield cur
            cur, n = [], 0
        cur.append(cid)
        n += count
    if cur:
        yield cur


_CONV_SQL = (
    "SELECT c.id, c.uid, c.provider, c.provider_id, c.title, c.created_at, c.updated_at, c.parent_uid, c.project,"
    " c.models, c.meta, c.message_count, c.features, c.input_tokens, c.output_tokens, c.hash, c.first_ts, c.last_ts,"
    " s.path FROM conversations c LEFT JOIN sources s ON s.id = c.source_id WHERE c.id IN ({})"
)
_MSG_SQL = (
    "SELECT conversation_id, seq, mid, parent_mid, role, timestamp, flags, model, usage, meta, content"
    " FROM messages WHERE conversation_id IN ({}) ORDER BY conversation_id, seq"
)


def _usage_rows(local, uids: dict[int, str]) -> list[tuple]:
    """The local ledger rows (store/usage.py) of these conversations, as staged: (uid,
    *load.USAGE_FIELDS), ``pos`` the holder's place in its conversation (a message's
    slot, the low bits of its rowid; a session entry j as -(j + 1)), so holders of a
    response sort on the server as they do locally."""
    out: list[tuple] = []
    sql = f"SELECT id, {', '.join(load.USAGE_FIELDS[1:])} FROM usage_ledger WHERE id >= ? AND id < ?"
    for cid, uid in uids.items():
        lo, hi = rowid_range(cid)
        for rid, *rest in local.execute(sql, (lo, hi)):
            out.append((uid, rid - lo, *rest))
        slo, shi = session_range(cid)
        for rid, *rest in local.execute(sql, (slo, shi)):
            out.append((uid, -(((-rid) & ((1 << SESSION_SLOTS) - 1)) + 1), *rest))
    return out


def _rows(local, cids: list[int]) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """One batch as staging rows: text as plain text (our codec decoded), index text cut by our tokenizer."""
    marks = ",".join("?" * len(cids))
    uids: dict[int, str] = {}
    convs = []
    for cid, uid, *rest, path in local.execute(_CONV_SQL.format(marks), cids):
        uids[cid] = uid
        r = list(rest)
        r[2] = _clean(r[2])  # title
        r[5] = _clean(r[5])  # parent uid
        r[6] = _clean(r[6])  # project
        r[8] = _json_text(r[8])  # meta
        convs.append((uid, *r, _clean(path), title_text(r[2] or "")))
    msgs = []
    rows = local.execute(_MSG_SQL.format(marks), cids).fetchall()
    loads = orjson.loads
    for row, raw in zip(rows, codec.decode_many([r[10] for r in rows])):
        cid, seq, mid, parent, role, ts, flags, model, usage, meta, _ = row
        ds = loads(raw)
        try:
            blocks = [Block(**d) for d in ds]
        except TypeError:
            blocks = [codec.block_from_dict(d) for d in ds]
        cols, kinds = message_columns(search_columns(blocks))
        msgs.append(
            (
                uids[cid],
                seq,
                _clean(mid),
                _clean(parent),
                role,
                ts,
                flags,
                _clean(model),
                _json_text(usage),
                _json_text(meta),
                raw.decode(),
                kinds,
                tsvector_text(cols),
            )
        )
    return convs, msgs, _usage_rows(local, uids)


def _clean(v: str | None) -> str | None:
    """PostgreSQL text holds no NUL character."""
    return v.replace("\x00", "\ufffd") if v and "\x00" in v else v


def _json_text(v: bytes | str | None) -> str | None:
    if v is None:
        return None
    return codec.decode_json(v).decode()


class AfterSync:
    """`watch --push URL`: a push after each sync that changed the archive, on the
    watcher's sync thread (so a push never overlaps a sync of the same archive).
    A failed push never stops the watcher: it is one ``error`` event, and the next
    sync's push sends what this one missed (the server's holders say what it lacks)."""

    def __init__(self, url: str, *, machine: str | None = None, insecure: bool = False):
        pgconnect.secured(url, insecure=insecure)  # a URL refused by the TLS rule is refused at the start
        self.url, self.machine, self.insecure = url, machine, insecure
        self.pending = True  # the first sync (the rescan at the start) always pushes

    def __call__(self, archive: Archive, report: dict[str, Any], emit: Callable[[dict], None]) -> None:
        changed = [report.get(k) or {} for k in ("conversations", "messages")]
        self.pending = self.pending or any(c.get("new") or c.get("updated") for c in changed)
        if not self.pending:
            return
        try:
            got = push(archive, self.url, machine=self.machine, insecure=self.insecure)
        except PolylogueError as e:  # already one line, the password masked
            emit({"event": "error", "reason": "push", "error": str(e)})
            return
        self.pending = False
        emit({"event": "push", **got})
