"""What ``Archive.forget``, ``Archive.redact`` and a sync's replay of them do, on a
writer connection (docs/privacy.md). SQL lives in store/forget.py."""

from __future__ import annotations

import importlib
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..store import codec
from ..store import forget as store
from . import rules


def forget(conn: sqlite3.Connection, cids: list[int], home: Path, purge: bool = True) -> dict[str, Any]:
    """Delete conversations for good (store.forget), with what keeps copies of them
    outside the main tables: the usage ledger, vectors, parse states. Then ``purge``
    (the index merged, the WAL truncated). Timings in "seconds"."""
    t0 = time.perf_counter()
    out = store.forget(conn, cids, hook=_ledger_hook())
    t1 = time.perf_counter()
    _forget_vectors(home, cids)
    _forget_parse_states(home, out.pop("sources"))
    if purge and out["conversations"]:
        damage = store.purge(conn)
        if damage is not None:
            out["warnings"] = [f"the search index was damaged ({damage}): rebuilt from the archive"]
    out["seconds"] = {"delete": round(t1 - t0, 3), "purge": round(time.perf_counter() - t1, 3)}
    return out


def _ledger_hook() -> Callable[[sqlite3.Connection, list[int]], None] | None:
    """The usage ledger's own forget, inside the forget transaction (if the ledger exists)."""
    try:  # looked up by name: the ledger is another module's, and may not provide it
        usage = importlib.import_module("polylogue.store.usage")
    except ImportError:
        return None
    return getattr(usage, "forget_conversations", None)


def _forget_vectors(home: Path, cids: list[int]) -> None:
    try:
        semantic = importlib.import_module("polylogue.semantic")
    except ImportError:
        return
    fn = getattr(semantic, "forget", None)
    if fn is not None:
        fn(home, cids)


def _forget_parse_states(home: Path, sources: list[str]) -> None:
    """A resumable parse keeps the parser's state, text and all (resume.py): dropped."""
    from .. import resume

    folder = resume.state_dir(home)
    for path in set(sources):
        resume.forget(folder, path)


def redact(
    conn: sqlite3.Connection, cid: int, uid: str, mid: str | None, *, secrets: bool, pattern: str | None
) -> dict[str, Any]:
    """Mask secrets (or a pattern's matches) in a conversation (one message of it)
    in place, index included, and keep a rule per value masked. Returns
    {"messages": rewritten, "values": masked, "title": whether the title changed}."""
    finder = rules.secrets_finder() if secrets else rules.pattern_finder(re.compile(pattern or ""))
    salt = store.salt(conn)
    found: list[tuple[str | None, int, bytes, str]] = []
    changed = 0
    conn.execute("PRAGMA secure_delete = ON")
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        batch_rules: list[tuple[str | None, str, str]] = []
        for rid, content, meta, fields in store.message_rows(conn, cid, mid):
            blocks = codec.decode_blocks(content)
            meta_val = _json(meta)
            new_blocks, new_meta, values = rules.rewrite_blocks(blocks, meta_val, finder)
            if not values:
                continue
            blob, raw = rules.encoded(new_blocks)
            meta_blob = codec.encode_json(codec.dumps(new_meta)) if new_meta else meta
            batch_rules += [(mid, v, k) for v, k in values]
            store.rewrite_message(conn, rid, content, blob, meta_blob, rules.message_hash(raw, fields, meta_blob))
            changed += 1
        row = conn.execute("SELECT title, meta, hash FROM conversations WHERE id = ?", (cid,)).fetchone()
        title, conv_meta, conv_hash = row
        new_title = title
        if mid is None:
            new_title, values = rules.masked_title(title, finder)
            batch_rules += [(None, v, k) for v, k in values]
        found = [(scope, len(v), rules.digest(salt, v), k) for scope, v, k in batch_rules if len(v) >= rules.MIN_LENGTH]
        if found:
            batch = store.add_rules(conn, uid, found)
            store.rewrite_conversation(
                conn, cid, title, new_title, conv_meta, rules.chain(conv_hash, b"batch%d" % batch)
            )
            conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
    if found:
        from ..store import indexer

        indexer.sync_index(conn.execute("PRAGMA database_list").fetchone()[2])  # the index drops the old text
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"messages": changed, "values": len(found), "title": new_title != title}


def _json(blob: bytes | None) -> Any:
    import orjson

    return orjson.loads(codec.decode_json(blob)) if blob else None


class SyncFilter:
    """What a sync does with forgotten and redacted conversations, before the writer:
    a forgotten one is dropped; a redacted one has its rules replayed on the parsed
    rows (ingest.py calls ``row`` for each ConversationRow)."""

    def __init__(self, conn: sqlite3.Connection):
        self.dead = store.tombstones(conn)
        self.rules = store.rules(conn)
        self.salt = store.salt(conn) if self.rules else b""
        self.skipped = 0

    def __bool__(self) -> bool:
        return bool(self.dead or self.rules)

    def row(self, r: Any) -> Any:
        key = store.conversation_key(r.uid)
        if key in self.dead:
            self.skipped += not r.more
            return None
        batches = self.rules.get(key)
        return r if batches is None else self._replay(r, batches)

    def _replay(self, r: Any, found: list[tuple[int, str | None, int, bytes, str]]) -> Any:

        by_batch: dict[int, list[tuple[str | None, int, bytes, str]]] = {}
        for batch, mid, n, d, kind in found:
            by_batch.setdefault(batch, []).append((mid, n, d, kind))
        rows = list(r.messages)
        for batch in sorted(by_batch):
            rs = by_batch[batch]
            for i, m in enumerate(rows):
                if m.content is None:
                    continue  # kept: the archive holds it as it is (redacted already, if it was)
                values = [(n, d, k) for mid, n, d, k in rs if mid is None or mid == m.mid]
                if not values:
                    continue
                blocks = codec.decode_blocks(m.content)
                meta = _json(m.meta)
                new_blocks, new_meta, masked = rules.rewrite_blocks(
                    blocks, meta, rules.hashed_finder(self.salt, values)
                )
                if masked:
                    blob, raw = rules.encoded(new_blocks)
                    meta_blob = codec.encode_json(codec.dumps(new_meta)) if new_meta else m.meta
                    fields = (m.seq, m.mid, m.parent_mid, m.role, m.timestamp, m.flags, m.model, m.usage)
                    h = rules.message_hash(raw, fields, meta_blob)
                    rows[i] = m._replace(content=blob, meta=meta_blob, hash=h)
            if not r.more:
                whole = [(n, d, k) for mid, n, d, k in rs if mid is None]
                if whole and r.title:
                    r.title, _ = rules.masked_title(r.title, rules.hashed_finder(self.salt, whole))
                r.hash = rules.chain(r.hash, b"batch%d" % batch)
        r.messages = rows
        return r
