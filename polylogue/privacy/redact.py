"""Masking secrets in what the archive hands out (``Archive(redact=True)``) and
in what ``polylogue redact`` rewrites. A masked value keeps its kind and, when
long enough that 4 characters give nothing away, its last 4:
``[REDACTED aws-access-key …7Q2D]``. Objects are copied, never changed in place."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from ..models import ATTACHMENT, IMAGE, TEXT, THINKING, TOOL_RESULT, TOOL_USE, Block, Conversation, Message
from .detect import Span, find

TAIL_MIN = 12  # shorter values show no tail: 4 of 8 characters would be half the secret
MASK = re.compile(r"\[REDACTED [a-z0-9\-]+(?: …[^\]\s]{1,4})?\]")

# where a block's text is, as findings report it
WHERE = {TEXT: "text", THINKING: "thinking", TOOL_USE: "tool input", TOOL_RESULT: "tool output"}
WHERE.update({IMAGE: "attachment", ATTACHMENT: "attachment"})


def mask(value: str, kind: str) -> str:
    tail = f" …{value[-4:]}" if len(value) >= TAIL_MIN else ""
    return f"[REDACTED {kind}{tail}]"


def apply(text: str, spans: list[Span]) -> str:
    """``text`` with each span replaced by its mask (spans in order, not overlapping)."""
    if not spans:
        return text
    out, at = [], 0
    for s in spans:
        out += [text[at : s.start], mask(text[s.start : s.end], s.kind)]
        at = s.end
    out.append(text[at:])
    return "".join(out)


Finder = Callable[[str], list[Span]]
Sub = Callable[[str, list[Span]], str]


def redact_text(text: str, finder: Finder = find) -> str:
    return apply(text, finder(text)) if text else text


class Walker:
    """Applies ``sub`` to the spans ``finder`` sees in every string of a block,
    message or conversation (tool input JSON included); ``redact_*`` below are
    its uses with ``apply``. A string under a key of a JSON object is read as
    ``key: value`` by the detector, so a name like API_KEY tells it what the value is."""

    def __init__(self, finder: Finder = find, sub: Sub = apply):
        self.finder, self.sub = finder, sub

    def text(self, s: str) -> str:
        if not s:
            return s
        spans = self.finder(s)
        return self.sub(s, spans) if spans else s  # the same object: callers tell "unchanged" by identity

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {k: self._keyed(k, x) for k, x in v.items()}
        return v

    def _keyed(self, key: Any, v: Any) -> Any:
        if not isinstance(v, str) or not isinstance(key, str) or self.finder is not find or not v:
            return self.value(v)
        head = len(key) + 2
        spans = [Span(s.start - head, s.end - head, s.kind) for s in find(f"{key}: {v}") if s.start >= head]
        return self.sub(v, spans)

    # A block or message with nothing to mask is handed back as it is: a copy per object
    # (dataclasses.replace) was most of the cost of a redacted page of 200 messages.
    def block(self, b: Block) -> Block:
        text = self.text(b.text)
        name = self.text(b.name) if b.name else b.name
        data = self.value(b.input) if b.input is not None else None
        meta = self.value(b.meta) if b.meta else b.meta
        if text is b.text and name is b.name and data == b.input and meta == b.meta:
            return b
        return dataclasses.replace(b, text=text, name=name, input=data, meta=meta)

    def message(self, m: Message) -> Message:
        blocks = [self.block(b) for b in m.blocks]
        meta = self.value(m.meta) if m.meta else m.meta
        if meta == m.meta and all(new is old for new, old in zip(blocks, m.blocks)):
            return m
        return dataclasses.replace(m, blocks=blocks, meta=meta)

    def conversation(self, c: Conversation) -> Conversation:
        out = dataclasses.replace(
            c,
            title=self.text(c.title) if c.title else c.title,
            messages=[self.message(m) for m in c.messages],
            meta=self.value(c.meta) if c.meta else c.meta,
        )
        out.invalidate()
        return out


_REDACT = Walker()


def redact_value(value: Any) -> Any:
    return _REDACT.value(value)


def redact_block(b: Block) -> Block:
    return _REDACT.block(b)


def redact_message(m: Message) -> Message:
    return _REDACT.message(m)


def redact_conversation(c: Conversation) -> Conversation:
    return _REDACT.conversation(c)


def block_secrets(b: Block) -> list[tuple[str, str]]:
    """(kind, value) of each secret in a block, as redaction finds them."""
    found: list[tuple[str, str]] = []

    def collect(s: str, spans: list[Span]) -> str:
        found.extend((sp.kind, s[sp.start : sp.end]) for sp in spans)
        return s

    Walker(find, collect).block(b)
    return found


def redact_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A conversation summary (list, search) with its title and hits' snippets redacted."""
    out = dict(summary)
    if isinstance(out.get("title"), str):
        out["title"] = redact_text(out["title"])
    return out


def redact_snippet(snippet: str, highlights: list, values: list[tuple[str, str]]) -> tuple[str, list]:
    """A search hit's snippet with every secret of its message masked: ``values`` are
    (secret, kind) found in the whole message, so a secret cut by the snippet's edge
    (a window of the text) is masked too. Highlight spans are moved to match."""
    cuts: list[tuple[int, int, str]] = []  # (start, end, mask) in the snippet
    for value, kind in values:
        for a, b in _occurrences(snippet, value):
            cuts.append((a, b, mask(value, kind)))
    for s in find(snippet):  # what the message scan saw differently (flattened whitespace)
        cuts.append((s.start, s.end, mask(snippet[s.start : s.end], s.kind)))
    cuts = _disjoint(cuts)
    if not cuts:
        return snippet, highlights
    out, at, moved = [], 0, []
    shift: list[tuple[int, int, int, int]] = []  # (old start, old end, new start, new end)
    pos = 0
    for a, b, m in cuts:
        out.append(snippet[at:a])
        pos += a - at
        shift.append((a, b, pos, pos + len(m)))
        out.append(m)
        pos += len(m)
        at = b
    out.append(snippet[at:])
    for h0, h1 in highlights:
        moved.append((_moved(h0, shift, True), _moved(h1, shift, False)))
    return "".join(out), [h for h in moved if h[1] > h[0]]


def _occurrences(snippet: str, value: str) -> list[tuple[int, int]]:
    """Where ``value`` is in the snippet, whole or cut by the snippet's first or last
    character (after or before its ``…``): 4 or more characters of it."""
    found = []
    i = snippet.find(value)
    while i >= 0:
        found.append((i, i + len(value)))
        i = snippet.find(value, i + 1)
    body0 = 1 if snippet.startswith("…") else 0
    body1 = len(snippet) - (1 if snippet.endswith("…") else 0)
    for k in range(len(value) - 1, 3, -1):
        if snippet.startswith(value[-k:], body0):
            found.append((body0, body0 + k))
            break
    for k in range(len(value) - 1, 3, -1):
        if snippet.endswith(value[:k], 0, body1):
            found.append((body1 - k, body1))
            break
    return found


def _disjoint(cuts: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for a, b, m in sorted(cuts, key=lambda c: (c[0], -c[1])):
        if out and a < out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b, out[-1][2])
            continue
        out.append((a, b, m))
    return out


def _moved(x: int, shift: list[tuple[int, int, int, int]], start: bool) -> int:
    delta = 0
    for a, b, na, nb in shift:
        if x <= a:
            break
        if x < b:  # inside a mask: the highlight covers the mask
            return na if start else nb
        delta = nb - b
    return x + delta


def message_values(blocks: list[Block]) -> list[tuple[str, str]]:
    """(secret, kind) of every secret in a message's searchable text."""
    from ..store.encode import search_columns

    out = []
    for col in search_columns(blocks):
        out += [(col[s.start : s.end], s.kind) for s in find(col)]
    return out
