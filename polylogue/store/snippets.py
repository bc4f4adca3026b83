"""Search hits as shown: a window of a message's text around the first match,
with the spans to highlight. The text is the message as written, not as
indexed, so matches are found again here, folded like the index (tokens.py)."""

from __future__ import annotations

import functools
import re

from ..textutil import is_cjk
from .tokens import fold


@functools.lru_cache(maxsize=64)
def token_pattern(tokens: tuple[str, ...]) -> re.Pattern:
    """Where query tokens occur in text as written: case-insensitive, and a CJK
    run may have punctuation or spaces between its characters, as the index
    (one token per character) lets it."""
    alts = {r"\W*".join(map(re.escape, t)) if len(t) > 1 and is_cjk(t[0]) else re.escape(t) for t in tokens}
    return re.compile("|".join(sorted(alts, key=len, reverse=True)), re.I)


def snippet(
    text: str, tokens: list[str], width: int = 160, pattern: re.Pattern | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """A window of ``text`` around the first matching token (or match of
    ``pattern``), whitespace collapsed, with the spans of every match inside it
    (for highlighting). Only the region around the match is flattened and
    searched again, so a hit in a megabyte of tool output costs what a short one does."""
    if not text:
        return "", []
    pat = pattern or (token_pattern(tuple(tokens)) if tokens else None)
    if len(text) <= 5 * width:  # short: flatten it all, search once
        flat, more_before, more_after = " ".join(text.split()), False, False
    else:
        at = 0 if pat is None else _first_match(text, tokens, pat, pattern is None)
        lo, hi = max(0, at - width), at + 4 * width
        flat = " ".join(text[lo:hi].split())
        more_before = lo > 0 and not text[:lo].isspace()
        more_after = hi < len(text) and not text[hi:].isspace()
    m = None if pat is None else pat.search(flat)
    seen = flat  # where the matches are: the text, or its folded twin (café found by cafe)
    if m is None and pattern is None and pat is not None:
        folded = fold(flat)
        if len(folded) == len(flat):
            m = pat.search(folded)
            seen = folded if m else flat
    start = 0 if m is None else max(0, m.start() - width // 3)
    if start:
        sp = flat.rfind(" ", 0, start)
        start = sp + 1 if sp >= 0 and start - sp < 20 else start
    window = flat[start : start + width]
    pre = "…" if start or more_before else ""
    post = "…" if start + width < len(flat) or more_after else ""
    spans = (
        []
        if pat is None
        else [
            (mm.start() + len(pre), mm.end() + len(pre))
            for mm in pat.finditer(seen[start : start + width])
            if mm.end() > mm.start()
        ]
    )
    return pre + window + post, spans


def _first_match(text: str, tokens: list[str], pat: re.Pattern, fold_too: bool) -> int:
    """Where the first match starts in ``text`` (0 if none). Long text with ASCII
    tokens is lowered once and searched with str.find: a case-insensitive regex
    walks it character by character."""
    if fold_too and all(t.isascii() for t in tokens):
        low = text.lower()
        if len(low) == len(text):
            found = [p for p in map(low.find, tokens) if p >= 0]
            if found:
                return min(found)
    m = pat.search(text)
    if m is None and fold_too:
        folded = fold(text)
        if len(folded) == len(text):
            m = pat.search(folded)
    return 0 if m is None else m.start()
