"""Text cut into tokens exactly as the full-text index cuts it.

The index (schema.py) runs our CJK split (textutil.split_cjk) and then
SQLite's unicode61 tokenizer with remove_diacritics 2. Search terms, prefix
expansion and the frequent-word sample must produce the same tokens, so the
tokenizer's idea of a token character is asked of SQLite itself, once per
character, and remembered."""

from __future__ import annotations

import sqlite3
import threading

from ..textutil import split_cjk


def index_tokens(s: str) -> list[str]:
    """Split and fold exactly like the index: a token starts on a letter or
    digit, may go on through combining marks, and each character folds on its
    own. 'path/to/file.py' -> ['path', 'to', 'file', 'py']."""
    return cut(split_cjk(s))


def cut(text: str) -> list[str]:
    """``text`` cut into folded tokens without our CJK split (index_tokens does
    that first; PostgreSQL's title text, as SQLite's titles index, does not)."""
    out: list[str] = []
    cur: list[str] = []
    for ch in text:
        starts, goes_on, folded = _char(ch)
        if starts or (cur and goes_on):
            cur.append(folded)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return [t for t in out if t]


def fold(t: str) -> str:
    """Case and diacritics folded exactly as the index's tokenizer folds them
    (unicode61 remove_diacritics 2 folds Latin letters only: NFKD would also turn
    デ into テ and split Hangul syllables, and then find nothing)."""
    return t.lower() if t.isascii() else t.translate(_FOLD)


def _char(ch: str) -> tuple[bool, bool, str]:
    if ch.isascii():
        return (True, True, ch.lower()) if ch.isalnum() else (False, False, ch)
    return _CHARS[ord(ch)]


class _FoldTable(dict):
    """codepoint -> its folded form inside a token, or None for a separator:
    SQLite's own tokenizer is asked once per character ('a' + ch + 'a')."""

    def __missing__(self, cp: int) -> str | None:
        inside = _sqlite_tokens(f"a{chr(cp)}a")
        self[cp] = out = inside[0][1:-1] if len(inside) == 1 else None
        return out


class _FoldText(dict):
    """codepoint -> what str.translate writes for it (separators stay as they are)."""

    def __missing__(self, cp: int) -> str:
        folded = _FOLDED[cp]
        self[cp] = out = chr(cp) if folded is None else folded
        return out


class _CharTable(dict):
    """codepoint -> (starts a token, continues one, folded form); whether a
    character can start a token ('ch' + 'a') is asked only when it continues one."""

    def __missing__(self, cp: int) -> tuple[bool, bool, str]:
        folded = _FOLDED[cp]
        if folded is None:
            info = (False, False, chr(cp))
        else:
            info = (folded != "" and _sqlite_tokens(f"{chr(cp)}a") == [folded + "a"], True, folded)
        self[cp] = info
        return info


def _sqlite_tokens(text: str) -> list[str]:
    """The tokens SQLite's tokenizer (configured as the index's) cuts from ``text``."""
    global _conn
    with _lock:
        if _conn is None:
            _conn = sqlite3.connect(":memory:", check_same_thread=False)
            _conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
            _conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        _conn.execute("DELETE FROM t")
        _conn.execute("INSERT INTO t(x) VALUES (?)", (text,))
        return [r[0] for r in _conn.execute("SELECT term FROM v ORDER BY offset")]


_FOLDED = _FoldTable()
_FOLD = _FoldText()
_CHARS = _CharTable()
_lock = threading.Lock()
_conn: sqlite3.Connection | None = None
