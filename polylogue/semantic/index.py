"""`polylogue embed`'s work: make the vectors of every conversation that is new
or changed since the last run, a batch of texts at a time, each batch committed
with the hashes of the conversations it finished. A killed run loses at most its
last batch; the next one starts from what is recorded (`done`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .collect import Text, pending, texts_of
from .model import encoder
from .vectors import bump, codes_current, open_vectors, pack, write_codes

BATCH = 512  # texts per commit: a kill costs at most this much work


def embed(
    archive,
    *,
    progress: Callable[[dict[str, Any]], None] | None = None,
    stop: Callable[[], bool] | None = None,
    batch: int = BATCH,
) -> dict[str, Any]:
    """Embed what is new or changed in ``archive`` (an Archive). ``progress`` gets
    {"conversations", "of", "messages", "messages_of", "texts", "rate", "eta"}
    after each batch; ``stop()`` true ends the run at the next batch (resumable)."""
    home = Path(archive.home)
    vconn = open_vectors(home)
    assert vconn is not None
    t0 = time.monotonic()
    try:
        done = dict(vconn.execute("SELECT cid, hash FROM done").fetchall())
        with archive.reader() as conn:
            todo = pending(conn, done)
            present = {cid for (cid,) in conn.execute("SELECT id FROM conversations")}
        gone = [cid for cid in done if cid not in present]  # removed from the archive meanwhile
        if gone:
            _drop(vconn, gone)
        total_msgs = sum(r[2] for r in todo)
        state: dict[str, Any] = {
            "conversations": 0,
            "of": len(todo),
            "messages": 0,
            "messages_of": total_msgs,
            "texts": 0,
        }
        enc = encoder() if todo else None
        chunk: list[tuple[int, int, int]] = []
        texts: list[Text] = []
        for row in todo:
            if stop is not None and stop():
                break
            with archive.reader() as conn:
                texts.extend(texts_of(conn, row[0]))
            chunk.append(row)
            if len(texts) >= batch:
                state["texts"] += _store(vconn, enc, chunk, texts)
                _advance(state, chunk, t0, progress)
                chunk, texts = [], []
        if chunk:
            state["texts"] += _store(vconn, enc, chunk, texts)
            _advance(state, chunk, t0, progress)
        state["complete"] = state["conversations"] == state["of"]
    finally:
        vconn.close()
    if not codes_current(home):  # the flat copy a process's first search reads (vectors.py)
        write_codes(home)
    state["seconds"] = round(time.monotonic() - t0, 2)
    return state


def _advance(state: dict, chunk, t0: float, progress) -> None:
    state["conversations"] += len(chunk)
    state["messages"] += sum(r[2] for r in chunk)
    elapsed = max(time.monotonic() - t0, 1e-6)
    state["rate"] = round(state["texts"] / elapsed, 1)  # texts per second
    left = state["messages_of"] - state["messages"]
    state["eta"] = round(left * elapsed / max(state["messages"], 1), 1)
    if progress is not None:
        progress(dict(state))


def _store(vconn, enc, chunk: list[tuple[int, int, int]], texts: list[Text]) -> int:
    """Encode the texts not stored as they are, replace the chunk's vectors, record
    the chunk done: one transaction. Returns how many texts were encoded."""
    cids = [r[0] for r in chunk]
    marks = ",".join("?" * len(cids))
    have = {k: h for k, h in vconn.execute(f"SELECT key, hash FROM vectors WHERE cid IN ({marks})", cids)}
    fresh = [t for t in texts if have.get(t.key) != t.hash]
    keep = {t.key for t in texts}
    codes = pack(enc.encode([t.text for t in fresh])) if fresh else None
    with vconn:
        stale = [(k,) for k in have if k not in keep]
        vconn.executemany("DELETE FROM vectors WHERE key = ?", stale)
        if codes is not None:
            vconn.executemany(
                "INSERT OR REPLACE INTO vectors(key, cid, kind, hash, code) VALUES (?, ?, ?, ?, ?)",
                [(t.key, t.cid, t.kind, t.hash, codes[i].tobytes()) for i, t in enumerate(fresh)],
            )
        vconn.executemany("INSERT OR REPLACE INTO done(cid, hash) VALUES (?, ?)", [(r[0], r[1]) for r in chunk])
        bump(vconn)
    return len(fresh)


def _drop(vconn, cids: list[int]) -> None:
    with vconn:
        for i in range(0, len(cids), 500):
            part = cids[i : i + 500]
            marks = ",".join("?" * len(part))
            vconn.execute(f"DELETE FROM vectors WHERE cid IN ({marks})", part)
            vconn.execute(f"DELETE FROM done WHERE cid IN ({marks})", part)
        bump(vconn)


def coverage(home: Path | str, archive_conn=None) -> dict[str, Any]:
    """What `stats` shows: vectors held, conversations embedded, and (given a read
    connection to the archive) how many conversations still wait."""
    from .vectors import KINDS, path_of

    vconn = open_vectors(home, create=False)
    if vconn is None:
        out: dict[str, Any] = {"vectors": 0, "conversations": 0, "bytes": 0}
        done: dict[int, int] = {}
    else:
        try:
            kinds = dict(vconn.execute("SELECT kind, count(*) FROM vectors GROUP BY kind").fetchall())
            done = dict(vconn.execute("SELECT cid, hash FROM done").fetchall())
        finally:
            vconn.close()
        out = {
            "vectors": sum(kinds.values()),
            "by_kind": {KINDS[k]: n for k, n in sorted(kinds.items())},
            "conversations": len(done),
            "bytes": path_of(home).stat().st_size,
        }
    if archive_conn is not None:
        rows = archive_conn.execute("SELECT id, hash FROM conversations").fetchall()
        out["pending"] = sum(1 for cid, h in rows if done.get(cid) != h)
        out["complete"] = out["pending"] == 0
    return out
