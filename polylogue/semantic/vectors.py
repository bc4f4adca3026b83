"""<home>/vectors.db: one binary code per embedded text, beside the archive.

A vector is stored as its 384 sign bits (48 bytes: 1M vectors take 89 MB with
SQLite's row overhead, and 62 MB more in vectors.codes, under the 200 MB the
issue allows). Search scans the codes by Hamming distance, then rescores the
best candidates with the float query against their ±1 codes (asymmetric
rescoring), which wins back part of what the sign cut loses
(benchmarks/quantisation.py; docs/semantic.md, "Vectors").

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
    # names this file: a vectors.db made anew restarts its generation, and must not match an old codes file
    "INSERT OR IGNORE INTO meta VALUES ('instance', lower(hex(randomblob(8))))",
]
CODES_MAGIC = b"PLYVEC01"


def path_of(home: Path | str) -> Path:
    return Path(home) / "vectors.db"


def codes_path(home: Path | str) -> Path:
    """A flat copy of every code, written by `embed` when it ends (write_codes): a
    process's first search reads it in one read instead of a million SQLite rows."""
    return Path(home) / "vectors.codes"


def open_vectors(home: Path | str, *, create: bool = True) -> sqlite3.Connection | None:
    """The vectors database (created 0600 in a 0700 home), None if absent and not ``create``."""
    p = path_of(home)
    if not p.exists() and not create:
        return None
    try:
        if not p.exists():
            private_dirs(p.parent)
            os.close(open_private(p, os.O_RDWR))
        conn = sqlite3.connect(p, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for s in SCHEMA:
            conn.execute(s)
        conn.commit()
    except (OSError, sqlite3.Error) as e:  # a read-only home, a full disk, a damaged file: one line
        from ..store.db import storage_error

        found = storage_error(e, p)
        if found is None:
            raise
        raise found from None
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
        codes_path(home).unlink(missing_ok=True)  # nor in the flat copy: the next embed writes it anew
        return gone
    finally:
        conn.close()


def _stamp(conn: sqlite3.Connection) -> tuple[str, int]:
    """(instance, generation) of a vectors.db: what a codes file must carry to be current."""
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('instance', 'generation')").fetchall())
    return str(meta.get("instance", "")), int(meta["generation"])


class Matrix:
    """All codes of a vectors.db in memory: keys, conversation ids, kinds and the
    (n, 48) code matrix, read once per generation and shared by searches."""

    def __init__(self, keys: np.ndarray, cids: np.ndarray, kinds: np.ndarray, codes: np.ndarray):
        self.keys, self.cids, self.kinds, self.codes = keys, cids, kinds, codes
        # the codes as 64-bit words: XOR and popcount over 6 words per vector
        self.words = np.ascontiguousarray(codes).view(np.uint64).reshape(len(keys), CODE_BYTES // 8)

    @classmethod
    def from_db(cls, conn: sqlite3.Connection) -> Matrix:
        rows = conn.execute("SELECT key, cid, kind, code FROM vectors ORDER BY key").fetchall()
        n = len(rows)
        return cls(
            np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
            np.fromiter((r[1] for r in rows), dtype=np.int64, count=n),
            np.fromiter((r[2] for r in rows), dtype=np.int8, count=n),
            np.frombuffer(b"".join(r[3] for r in rows), dtype=np.uint8).reshape(n, CODE_BYTES),
        )

    @classmethod
    def from_codes_file(cls, path: Path, stamp: tuple[str, int]) -> Matrix | None:
        """The codes file's matrix if it was written for this ``stamp``, else None.
        Layout: magic, instance (16 hex characters), generation and n (int64), then
        keys and cids (int64), kinds (int8, padded to 8 bytes), codes (n x 48)."""
        try:
            with open(path, "rb") as f:
                head = f.read(40)
                if len(head) < 40 or head[:8] != CODES_MAGIC:
                    return None
                instance, gen = head[8:24].decode("ascii", "replace"), int.from_bytes(head[24:32], "little")
                n = int.from_bytes(head[32:40], "little")
                if (instance, gen) != stamp:
                    return None
                raw = f.read()
        except OSError:
            return None
        pad = -n % 8
        if len(raw) != n * (8 + 8 + 1 + CODE_BYTES) + pad:
            return None
        keys = np.frombuffer(raw, dtype="<i8", count=n, offset=0).astype(np.int64)
        cids = np.frombuffer(raw, dtype="<i8", count=n, offset=8 * n).astype(np.int64)
        kinds = np.frombuffer(raw, dtype=np.int8, count=n, offset=16 * n)
        codes = np.frombuffer(raw, dtype=np.uint8, count=n * CODE_BYTES, offset=17 * n + pad)
        return cls(keys, cids, kinds, codes.reshape(n, CODE_BYTES))

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


_CACHE: dict[str, tuple[tuple[str, int], Matrix]] = {}
_CACHE_LOCK = threading.Lock()


def write_codes(home: Path | str) -> int:
    """Write the codes file for the vectors.db as it is now (embed does, when it
    ends); 0600, replaced atomically. Returns the vectors written."""
    conn = open_vectors(home, create=False)
    if conn is None:
        return 0
    try:
        conn.execute("BEGIN")  # one read snapshot: the stamp and the rows agree
        stamp = _stamp(conn)
        m = Matrix.from_db(conn)
        conn.rollback()
    finally:
        conn.close()
    n = len(m)
    instance = stamp[0].encode("ascii")[:16].ljust(16, b"0")
    head = CODES_MAGIC + instance + stamp[1].to_bytes(8, "little") + n.to_bytes(8, "little")
    path = codes_path(home)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = open_private(tmp, os.O_WRONLY, exclusive=True)
    with os.fdopen(fd, "wb") as f:
        f.write(head)
        for part in (m.keys.astype("<i8"), m.cids.astype("<i8"), m.kinds, np.zeros(-n % 8, np.int8), m.codes):
            f.write(part.tobytes())
    os.replace(tmp, path)
    return n


def codes_current(home: Path | str) -> bool:
    """Whether the codes file was written for the vectors.db as it is (its header alone)."""
    conn = open_vectors(home, create=False)
    if conn is None:
        return False
    try:
        stamp = _stamp(conn)
    finally:
        conn.close()
    try:
        with open(codes_path(home), "rb") as f:
            head = f.read(32)
    except OSError:
        return False
    return (
        head[:8] == CODES_MAGIC
        and (head[8:24].decode("ascii", "replace"), int.from_bytes(head[24:32], "little")) == stamp
    )


def matrix(home: Path | str) -> Matrix | None:
    """The codes of ``home``'s vectors.db, cached in memory until its generation
    changes; read from the codes file when it is current, else from the rows."""
    conn = open_vectors(home, create=False)
    if conn is None:
        return None
    try:
        stamp = _stamp(conn)
        key = str(path_of(home))
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]
            m = Matrix.from_codes_file(codes_path(home), stamp) or Matrix.from_db(conn)
            _CACHE[key] = (stamp, m)
            return m
    finally:
        conn.close()
