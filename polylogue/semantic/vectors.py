"""<home>/vectors.db: one binary code per embedded text, beside the archive.

A vector is stored as its 384 sign bits (48 bytes: 1M vectors take ~70 MB with
SQLite's row overhead, under the 200 MB the issue allows). Search scans the
codes by Hamming distance, then rescores the best candidates with the float
query against their ±1 codes (asymmetric rescoring), which recovers most of
what the sign cut loses (docs/semantic.md, "Vectors").

Keys: a message's vector has its messages.id (conversation id << 24 | n); a
conversation's title vector is -2·cid and its whole-conversation vector
-2·cid - 1, so one integer key names every vector and ``cid`` is a column.
``done`` records each conversation's hash when its vectors were last made:
a conversation whose archive hash differs is embedded again (only its new or
changed messages: ``vectors.hash`` is the message hash)."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np

from ..paths import open_private, private_dirs
from .model import DIM

CODE_BYTES = DIM // 8
KIND_PROMPT, KIND_REPLY, KIND_TITLE, KIND_CONVERSATION = 0, 1, 2, 3
KINDS = {KIND_PROMPT: "prompt", KIND_REPLY: "reply", KIND_TITLE: "title", KIND_CONVERSATION: "conversation"}
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS vectors (
        key INTEGER PRIMARY KEY,
        cid INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        hash INTEGER NOT NULL,
        code BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS vectors_cid ON vectors(cid)",
    "CREATE TABLE IF NOT EXISTS done (cid INTEGER PRIMARY KEY, hash INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta VALUES ('generation', 0)",
    "INSERT OR IGNORE INTO meta VALUES ('model', 'all-MiniLM-L6-v2 binary-384')",
]


def path_of(home: Path | str) -> Path:
    return Path(home) / "vectors.db"


def open_vectors(home: Path | str, *, create: bool = True) -> sqlite3.Connection | None:
    """The vectors database (created 0600 in a 0700 home), None if absent and not ``create``."""
    p = path_of(home)
    if not p.exists():
        if not create:
            return None
        private_dirs(p.parent)
        os.close(open_private(p, os.O_RDWR))
    conn = sqlite3.connect(p, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for s in SCHEMA:
        conn.execute(s)
    conn.commit()
    for side in ("-wal", "-shm"):  # SQLite creates them with the umask's mode
        if os.path.exists(str(p) + side):
            os.chmod(str(p) + side, 0o600)
    return conn


def pack(vectors: np.ndarray) -> np.ndarray:
    """Float vectors (n, 384) to sign bits (n, 48) uint8."""
    return np.packbits(vectors > 0, axis=1)


def bump(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")


def generation(home: Path | str) -> int:
    """Changes whenever vectors are added or removed (search caches key on it)."""
    conn = open_vectors(home, create=False)
    if conn is None:
        return -1
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
    finally:
        conn.close()


def forget(home: Path | str, conversation_rowids: list[int]) -> int:
    """Remove every vector of these conversations (privacy's forget and redact
    call this). Returns how many vectors went."""
    conn = open_vectors(home, create=False)
    if conn is None or not conversation_rowids:
        return 0
    try:
        gone = 0
        conn.execute("PRAGMA secure_delete = ON")  # the freed pages are zeroed, not left readable
        with conn:
            for i in range(0, len(conversation_rowids), 500):
                chunk = [int(c) for c in conversation_rowids[i : i + 500]]
                marks = ",".join("?" * len(chunk))
                gone += conn.execute(f"DELETE FROM vectors WHERE cid IN ({marks})", chunk).rowcount
                conn.execute(f"DELETE FROM done WHERE cid IN ({marks})", chunk)
            bump(conn)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nor is the old content kept in the WAL
        return gone
    finally:
        conn.close()


class Matrix:
    """All codes of a vectors.db in memory: keys, conversation ids, kinds and the
    (n, 48) code matrix, read once per generation and shared by searches."""

    def __init__(self, conn: sqlite3.Connection):
        rows = conn.execute("SELECT key, cid, kind, code FROM vectors").fetchall()
        n = len(rows)
        self.keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        self.cids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
        self.kinds = np.fromiter((r[2] for r in rows), dtype=np.int8, count=n)
        self.codes = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.uint8).reshape(n, CODE_BYTES)
        # the codes as 64-bit words: XOR and popcount over 6 words per vector
        self.words = self.codes.view(np.uint64).reshape(n, CODE_BYTES // 8)

    def __len__(self) -> int:
        return len(self.keys)

    def nearest(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, rescore: int = 8):
        """Indices and scores of the ``k`` best vectors for a float query (384,):
        Hamming distance picks ``k * rescore`` candidates, the float query's dot
        product with their ±1 codes orders them (cosine up to a constant)."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        qwords = pack(query[None, :]).view(np.uint64)
        dist = np.bitwise_count(self.words ^ qwords).sum(axis=1, dtype=np.int32)
        if allowed is not None:
            dist = np.where(allowed, dist, DIM + 1)
        m = min(len(dist), k * rescore)
        cand = np.argpartition(dist, m - 1)[:m] if m < len(dist) else np.arange(len(dist))
        if allowed is not None:
            cand = cand[dist[cand] <= DIM]
        signs = np.unpackbits(self.codes[cand], axis=1).astype(np.float32) * 2.0 - 1.0
        scores = signs @ query / np.float32(np.sqrt(DIM))
        order = np.argsort(-scores)[:k]
        return cand[order], scores[order]


_CACHE: dict[str, tuple[int, Matrix]] = {}
_CACHE_LOCK = threading.Lock()


def matrix(home: Path | str) -> Matrix | None:
    """The codes of ``home``'s vectors.db, cached until its generation changes."""
    conn = open_vectors(home, create=False)
    if conn is None:
        return None
    try:
        gen = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        key = str(path_of(home))
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None and hit[0] == gen:
                return hit[1]
            m = Matrix(conn)
            _CACHE[key] = (gen, m)
            return m
    finally:
        conn.close()
