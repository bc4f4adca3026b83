"""``Archive.secrets``: every secret in the archive (or some conversations), as
findings that never hold the secret: its kind, a masked preview and where it is.

Most messages hold no secret and no anchor of one: the stored JSON of a batch
of messages is tested against the detector's prefilter (gate.py, one RE2 pass
per batch) before any is parsed into blocks, so most messages cost a read, a
decompression and a few microseconds. A big scan runs in worker processes, each
over its own span of conversations, to use every core."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..store import codec, secrets
from . import gate
from .detect import find
from .redact import WHERE, block_secrets, mask

PARALLEL_MIN_MESSAGES = 50_000  # below this, starting workers costs more than it saves
TASKS_PER_WORKER = 16  # small tasks: the progress bar moves, and a slow span does not hold the end


def scan(
    db: Path,
    conn,
    cids: list[int] | None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Findings, in archive order: {"conversation", "message", "kind", "preview", "where"}.
    ``cids``: only those conversations (rowids); None: all. ``conn`` reads titles and
    plans the work; the messages are read by ``workers`` processes (each opens ``db``)."""
    total = secrets.message_total(conn, cids)
    out: list[dict[str, Any]] = []
    for _, uid, title in secrets.all_titles(conn, cids):
        out += [_finding(uid, None, s.kind, title[s.start : s.end], "title") for s in find(title)]
    if workers is None:
        workers = max(1, min(os.cpu_count() or 1, 4))
    if total < PARALLEL_MIN_MESSAGES:
        workers = 1
    tasks = secrets.conversation_ranges(conn, cids, workers * TASKS_PER_WORKER)
    done = 0
    for found, n in _run(db, conn, tasks, workers):
        out += found
        done += n
        if progress:
            progress(min(done, total), total)
    return out


def _run(db: Path, conn, tasks: list[list[tuple[int, int]]], workers: int):
    if workers <= 1:
        for t in tasks:
            yield _scan_ranges(conn, t)
        return
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(workers, initializer=_open, initargs=(str(db),)) as pool:
        yield from pool.imap(_task, tasks)


_conn: Any = None  # a worker's own reader


def _open(db: str) -> None:
    global _conn
    from ..store.db import open_reader

    _conn = open_reader(Path(db))


def _task(ranges: list[tuple[int, int]]) -> tuple[list[dict[str, Any]], int]:
    return _scan_ranges(_conn, ranges)


def _scan_ranges(conn, ranges: list[tuple[int, int]]) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    names: dict[int, str] = {}
    n = 0
    for rows in secrets.message_batches(conn, ranges):
        n += len(rows)
        raws = codec.decode_many([r[3] for r in rows])
        for i in gate.hits(raws):  # stored JSON keeps the anchors as written
            _, cid, mid, _ = rows[i]
            raw = raws[i]
            uid = names.get(cid) or _uid(conn, cid, names)
            for d in orjson.loads(raw):
                b = codec.block_from_dict(d)
                out += [_finding(uid, mid, k, v, WHERE.get(b.type, b.type)) for k, v in block_secrets(b)]
    return out, n


def _uid(conn, cid: int, names: dict[int, str]) -> str:
    got = secrets.uids(conn, [cid]).get(cid)
    names[cid] = got[0] if got else str(cid)
    return names[cid]


def _finding(uid: str, mid: str | None, kind: str, value: str, where: str) -> dict[str, Any]:
    return {"conversation": uid, "message": mid, "kind": kind, "preview": mask(value, kind), "where": where}
