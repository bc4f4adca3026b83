"""Index text for PostgreSQL's full-text search, cut exactly as SQLite's index cuts it.

The server's own parser would cut text its own way ('file.py' one token, a
hyphenated word three, non-ASCII letters by the server's locale), and then a
search would find other things than on SQLite. So a push sends each search
column already cut by our tokenizer (store/tokens.py), as tokens joined by
spaces, and the server only turns that into a tsvector with ``to_tsvector('simple', ...)``.
ASCII tokens ([a-z0-9]+) pass the parser unchanged whatever the server's locale
(but for numbers in scientific notation: ``server_words``);
a token with other characters, or one that begins with ``u8x`` itself, is written as ``u8x`` + the hex of its UTF-8
bytes, which is ASCII too, and keeps prefixes (a prefix of a word is a prefix
of its bytes). The query compiler (query.py) encodes its terms the same way."""

from __future__ import annotations

import re
from functools import lru_cache

from ..tokens import cut, index_tokens

HEX_TAG = "u8x"
# What one message may put into the index: PostgreSQL refuses a tsvector over 1 MB
# and counts word positions only up to 16,383, so a column's index text stops here
# (docs/postgres.md, "Differences from SQLite").
MAX_CHARS = 200_000

# bytes.translate is a table lookup per byte in C (5x a regex substitution): ASCII letters
# folded, digits kept, every other ASCII character a separator
_ASCII = bytes(c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(128)) + bytes(
    range(128, 256)
)
# runs of anything but ASCII separators: an ASCII separator always ends a token (store/tokens.py),
# so each run is cut on its own, and only runs with other characters take the slow path
_RUN = re.compile(r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+")


# an ASCII token that begins with the tag is written in hex too: else a word someone typed ('u8x20')
# would be the lexeme of another ('u8x20' is a space's, the separator load.py deletes)
_TAGGED = re.compile(rf"(?<![a-z0-9]){HEX_TAG}[a-z0-9]*")


def lexeme(token: str) -> str:
    """One index token as the lexeme PostgreSQL holds."""
    if token.isascii() and not token.startswith(HEX_TAG):
        return token
    return HEX_TAG + token.encode().hex()


def _tagged_lexeme(m: re.Match) -> str:
    return lexeme(m.group())


def index_text(text: str, budget: int = MAX_CHARS) -> str:
    """``text`` as space-separated lexemes (at most ``budget`` characters, whole tokens)."""
    if not text:
        return ""
    if text.isascii():
        out = text.encode("ascii").translate(_ASCII).decode("ascii")
        if out.isspace():
            return ""
        if HEX_TAG in out:
            out = _TAGGED.sub(_tagged_lexeme, out)
    else:
        out = " ".join(lexeme(run.lower()) if run.isascii() else _run_lexemes(run) for run in _RUN.findall(text))
    if len(out) > budget:
        cut = out.rfind(" ", 0, budget + 1)
        out = out[: cut if cut > 0 else 0]
    return out


@lru_cache(maxsize=65_536)
def _run_lexemes(run: str) -> str:
    """A run with non-ASCII characters as lexemes (words repeat: the cache saves the per-character cut)."""
    return " ".join(lexeme(t) for t in index_tokens(run))


def message_columns(columns: tuple[str, str, str, str]) -> tuple[list[str], int]:
    """The four search columns' index text (sharing MAX_CHARS) and the kinds bit
    mask: bit i when column i holds a word (kind: without words, as SQLite's
    per-column token counts say: store/message_filters.py)."""
    out, kinds, left = [], 0, MAX_CHARS
    for i, col in enumerate(columns):
        t = index_text(col, left) if left > 0 else ""
        if t:
            kinds |= 1 << i
            left -= len(t) + 1
        out.append(t)
    return out, kinds


def title_text(title: str) -> str:
    """A title's index text. SQLite's titles index reads the title as written,
    without our CJK split (store/writer.py ``_retitle``), so a run of CJK
    characters is one token there: the same here, so titles match alike."""
    if title.isascii():
        return index_text(title)
    return " ".join(lexeme(t) for t in cut(title))


# What the server's to_tsvector and tsvector || tsvector do to positions (PostgreSQL's
# tsearch limits): a word of MAX_WORD bytes or more is not indexed (nor counted); a position is at most
# MAX_POS; to_tsvector keeps at most MAX_POSITIONS - 1 positions of a word, a concatenation
# at most MAX_POSITIONS, and stops at a word's first position clamped to MAX_POS.
MAX_WORD = 2047
MAX_POS = 16383
MAX_POSITIONS = 256
SEP = "u8x20"  # the separator lexeme of store/postgres/load.py (a space, hex-encoded: never a word of ours)
# The server's parser reads a token of digits, "e", digits and then a letter as a number in scientific
# notation and a word after it ('0e0a': '0e0' and 'a', two positions); it cuts no other [a-z0-9]+ token
# (20K random tokens of digits, "e" and letters checked against ts_debug on a PostgreSQL 15 server)
_SCIENTIFIC = re.compile(r"(?<![a-z0-9])([0-9]+e[0-9]+)(?=[a-z])")


def server_words(column: str) -> list[str]:
    """A column's index text cut into words as the server's parser cuts it."""
    if _SCIENTIFIC.search(column) is None:
        return column.split()
    return _SCIENTIFIC.sub(r"\1 ", column).split()


def tsvector_text(columns: list[str]) -> str:
    """The tsvector the server would build from the four search columns' index text
    (load.py TSV_SQL: each column with a separator word appended, to_tsvector('simple'),
    weights A to D, concatenated, the separator deleted), as tsvector input text: the
    server only reads it, which costs it a quarter of building it (docs/benchmarks.md).
    Lexemes are [a-z0-9]+ (index_text), so they need no quoting.

    A message within the server's limits (fewer than 16,383 words, none of 2,047 bytes,
    none 256 times) is numbered straight through, the usual case; any other goes the
    exact way, limit by limit (``_exact``)."""
    splits = [server_words(c) for c in columns]
    if (
        sum(map(len, splits)) + len(splits) >= MAX_POS
        or max(map(len, columns)) >= MAX_WORD
        and any(len(t) >= MAX_WORD for toks in splits for t in toks)
    ):
        return _exact(splits)
    merged: dict[str, list[str]] = {}
    get = merged.get
    shift = 0
    for w, toks in enumerate(splits):
        shown = _SHOWN[w]
        for p, tok in enumerate(toks, shift + 1):
            got = get(tok)
            if got is None:
                merged[tok] = [shown[p]]
            else:
                got.append(shown[p])
        shift += len(toks) + 1  # the separator word after each column
    if merged and max(map(len, merged.values())) >= MAX_POSITIONS - 1:
        return _exact(splits)
    return " ".join([f"{tok}:{','.join(ps)}" for tok, ps in merged.items()])


# a position as tsvector text, per weight: "12A"
_SHOWN = [[f"{p}{w}" for p in range(MAX_POS + 1)] for w in "ABCD"]


def _exact(splits: list[list[str]]) -> str:
    """tsvector_text with every limit of the server applied as the server applies it."""
    merged: dict[str, list[int]] = {}  # lexeme -> positions (each pos << 2 | weight index)
    shift = 0  # the left operand's largest position, by which a concatenation moves the right's
    for w, toks in enumerate(splits):
        mine: dict[str, list[int]] = {}
        pos = 0
        for tok in toks:
            if len(tok) >= MAX_WORD:
                continue
            pos += 1
            p = pos if pos < MAX_POS else MAX_POS
            got = mine.get(tok)
            if got is None:
                mine[tok] = [p]
            elif len(got) < MAX_POSITIONS - 1 and got[-1] != p:
                got.append(p)
        top = min(pos + 1, MAX_POS)  # the separator word's position
        for tok, ps in mine.items():
            out = merged.get(tok)
            if out is None:
                out = merged[tok] = []
            for p in ps:
                if len(out) >= MAX_POSITIONS or (out and out[-1] >> 2 == MAX_POS):
                    break
                q = p + shift
                out.append((q if q < MAX_POS else MAX_POS) << 2 | w)
        # the left operand's largest position is now its separator's, the column's last word
        shift = min(shift + top, MAX_POS)
    weights = "ABCD"
    return " ".join(f"{tok}:" + ",".join(f"{p >> 2}{weights[p & 3]}" for p in ps) for tok, ps in merged.items() if ps)
