"""What is embedded, read from the archive (docs/semantic.md, "What is embedded"):

- each conversation's title;
- each user prompt (a user message's text; injected context is not a prompt);
- the first part of each assistant reply (its text, without thinking or tools);
- for a short conversation (at most SHORT such messages), one vector of the
  title and its prompts together: a question asked in two turns is found whole.

Never tool calls, tool output, thinking, or system text. Each text is cut to
the model's window (model.WINDOW tokens; CHARS first, so a megabyte message
costs the tokenizer what a short one does)."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from ..store import codec
from ..store.encode import CONTEXT, search_columns
from ..store.ids import MESSAGE_ID_BITS
from .vectors import KIND_CONVERSATION, KIND_PROMPT, KIND_REPLY, KIND_TITLE

CHARS = 1500  # ~3x what 128 tokens of English hold; CJK is a token a character
SHORT = 6


@dataclass
class Text:
    key: int
    cid: int
    kind: int
    hash: int
    text: str


def _crc(s: str) -> int:
    return zlib.crc32(s.encode("utf-8", "surrogatepass"))


def pending(conn: sqlite3.Connection, done: dict[int, int]) -> list[tuple[int, int, int]]:
    """(cid, hash, message_count) of the conversations whose vectors are missing or
    stale: never embedded, or changed since (their hash moved), oldest id first."""
    rows = conn.execute("SELECT id, hash, message_count FROM conversations ORDER BY id").fetchall()
    return [r for r in rows if done.get(r[0]) != r[1]]


def texts_of(conn: sqlite3.Connection, cid: int) -> Iterator[Text]:
    """The texts of one conversation to embed (keys and hashes as vectors.py says)."""
    row = conn.execute("SELECT title FROM conversations WHERE id = ?", (cid,)).fetchone()
    if row is None:
        return
    title = (row[0] or "").strip()
    if title:
        yield Text(-2 * cid, cid, KIND_TITLE, _crc(title), title[:CHARS])
    lo, hi = cid << MESSAGE_ID_BITS, (cid + 1) << MESSAGE_ID_BITS
    rows = conn.execute(
        "SELECT id, role, flags, hash, content FROM messages WHERE id >= ? AND id < ? "
        "AND role IN ('user', 'assistant') ORDER BY seq",
        (lo, hi),
    ).fetchall()
    prompts: list[str] = []
    n = 0
    for (mid, role, flags, h, _), blocks in zip(rows, codec.decode_contents([r[4] for r in rows])):
        if role == "user" and flags & CONTEXT:
            continue  # injected context (instructions files, reminders): not what anyone asked
        text = search_columns(blocks)[0].strip()
        if not text:
            continue  # a tool result carried by a user message, a reply that only called tools
        n += 1
        if role == "user":
            prompts.append(text[:CHARS])
        yield Text(mid, cid, KIND_PROMPT if role == "user" else KIND_REPLY, h, text[:CHARS])
    if 0 < n <= SHORT and prompts:
        whole = "\n".join([title, *prompts]).strip()[:CHARS]
        yield Text(-2 * cid - 1, cid, KIND_CONVERSATION, _crc(whole), whole)
