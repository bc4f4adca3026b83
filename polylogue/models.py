"""Pure data: conversations, messages and typed blocks. No I/O lives here.

Every provider parser produces these objects; the store persists them and the
renderers read them. Timestamps are timezone-aware UTC or None (unknown).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Block types (docs/providers.md, "Common to all"). Search kinds map onto the first four.
TEXT = "text"
THINKING = "thinking"
TOOL_USE = "tool_use"
TOOL_RESULT = "tool_result"
IMAGE = "image"
ATTACHMENT = "attachment"
OPAQUE = "opaque"  # an unknown block type, raw JSON kept in meta["raw"]
BLOCK_TYPES = (TEXT, THINKING, TOOL_USE, TOOL_RESULT, IMAGE, ATTACHMENT, OPAQUE)

# Roles. Injected context keeps its nominal role and sets Message.context.
USER, ASSISTANT, SYSTEM, TOOL = "user", "assistant", "system", "tool"
ROLES = (USER, ASSISTANT, SYSTEM, TOOL)

# Usage (docs/providers.md, "Usage"). A Message.usage dict holds one API response's counts:
# - int lanes, USAGE_LANES; cache_write_5m/_1h only where the source tells the two cache
#   lifetimes apart (cache_write is then their sum);
# - "convention" ("anthropic" | "openai" | "gemini"): whether input includes the cached tokens
#   (openai, gemini: yes) and output the reasoning ones (openai: yes);
# - optional "key": the response's dedup key; a usage ledger counts one (provider, key) once,
#   whichever files or conversations repeat it (Claude Code "message.id:requestId"; Codex
#   "<lineage root>:<segment>:<cumulative counts>"). No key: the message row is the unit.
# - optional "tier" (service tier), "approximate": True (rounded counts, aider),
#   "cost_reported" (float, a cost the tool printed: informational).
# Usage known only per session is Conversation.meta["usage"] (same shape, plus "model" when
# one, or "by_model": {model: lanes} when several), and then no message carries usage.
USAGE_LANES = ("input", "output", "cache_read", "cache_write", "cache_write_5m", "cache_write_1h", "reasoning")
# What each "convention" means, as (input includes cache reads, thoughts are reported beside
# the output and billed as output). Conventions are named after the API whose counting they
# follow, so a name here may also be a provider's name: that is the API, not the provider.
USAGE_CONVENTIONS: dict[str, tuple[bool, bool]] = {
    "anthropic": (False, False),
    "openai": (True, False),
    "gemini": (True, True),
}


@dataclass(slots=True)
class Block:
    """One typed piece of a message, in order.

    - text / thinking: ``text``
    - tool_use: ``id`` (call id), ``name``, ``input`` (any JSON value)
    - tool_result: ``id`` (the tool_use id it answers), ``text`` (output), ``is_error``
    - image / attachment: ``name``, ``meta`` (mime, url, size, file id...);
      ``text`` holds extracted content when the source gives it (searchable)
    - opaque: ``meta["raw"]`` keeps the unknown block as the source had it
    """

    type: str
    text: str = ""
    id: str | None = None
    name: str | None = None
    input: Any = None
    is_error: bool | None = None
    meta: dict[str, Any] | None = None

    def search_text(self) -> str:
        """The text this block contributes to the full-text index."""
        if self.type == TOOL_USE:
            from .textutil import tool_input_text  # local: keeps models import-light

            return " ".join(filter(None, (self.name, tool_input_text(self.input))))
        if self.type in (IMAGE, ATTACHMENT):
            return " ".join(filter(None, (self.name, self.text)))
        return self.text


def text(s: str) -> Block:
    return Block(TEXT, s)


def thinking(s: str) -> Block:
    return Block(THINKING, s)


def tool_use(call_id: str | None, name: str | None, input: Any = None) -> Block:
    return Block(TOOL_USE, id=call_id, name=name, input=input)


def tool_result(call_id: str | None, output: str, is_error: bool | None = None) -> Block:
    return Block(TOOL_RESULT, output, id=call_id, is_error=is_error)


def attachment(name: str | None, *, kind: str = ATTACHMENT, extracted: str = "", **meta: Any) -> Block:
    return Block(kind, extracted, name=name, meta={k: v for k, v in meta.items() if v is not None} or None)


def opaque(raw: Any) -> Block:
    return Block(OPAQUE, meta={"raw": raw})


@dataclass(slots=True)
class Message:
    id: str
    role: str
    blocks: list[Block] = field(default_factory=list)
    parent_id: str | None = None
    timestamp: datetime | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None
    active: bool = True  # on the active path of the tree
    context: bool = False  # injected context (system prompt, isMeta, env block...), not typed by a person
    sidechain: bool = False
    meta: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """Visible text: text blocks only (thinking never counts as answer text)."""
        return "\n\n".join(b.text for b in self.blocks if b.type == TEXT and b.text)

    def has(self, block_type: str) -> bool:
        return any(b.type == block_type for b in self.blocks)

    @property
    def is_substantive(self) -> bool:
        """Real dialogue: typed by a person, or an assistant's visible answer (not
        injected context, not a bare tool result). classify.py's "prompt" and
        "reply" messages that have visible text; tests hold the two to agreement."""
        return (
            not self.context
            and self.role in (USER, ASSISTANT)
            and any(b.type == TEXT and b.text.strip() for b in self.blocks)
        )


@dataclass(slots=True)
class Conversation:
    provider: str
    provider_id: str
    title: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    messages: list[Message] = field(default_factory=list)
    source_path: str | None = None
    parent_id: str | None = None  # archive id of the parent (subagents, forks)
    models: list[str] = field(default_factory=list)
    project: str | None = None  # working directory or project name
    meta: dict[str, Any] = field(default_factory=dict)
    _proj: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.provider_id}"

    def iter_blocks(self) -> Iterator[tuple[Message, Block]]:
        for m in self.messages:
            for b in m.blocks:
                yield m, b

    # -- projections (computed once, cached; invalidate() after mutating) --
    def invalidate(self) -> None:
        self._proj = None

    def _cached(self, key: str, fn) -> list:
        if self._proj is None:
            self._proj = {}
        hit = self._proj.get(key)
        if hit is None:
            hit = self._proj[key] = fn()
        return hit

    def substantive(self) -> list[Message]:
        """Real dialogue: user prompts and assistant replies with visible text."""
        return self._cached("substantive", lambda: [m for m in self.messages if m.is_substantive])

    def thinking(self) -> list[Block]:
        return self._cached("thinking", lambda: [b for _, b in self.iter_blocks() if b.type == THINKING])

    def tool_calls(self) -> list[tuple[Block, Block | None]]:
        """Each tool_use paired with its tool_result (None when the source has none)."""

        def build():
            results = {b.id: b for _, b in self.iter_blocks() if b.type == TOOL_RESULT and b.id}
            return [(b, results.get(b.id)) for _, b in self.iter_blocks() if b.type == TOOL_USE]

        return self._cached("tool_calls", build)

    def pairs(self) -> list[tuple[Message, Message | None]]:
        """(user prompt, the assistant reply that follows it) turns of the substantive dialogue."""

        def build() -> list[tuple[Message, Message | None]]:
            out: list[tuple[Message, Message | None]] = []
            for m in self.substantive():
                if m.role == USER:
                    out.append((m, None))
                elif m.role == ASSISTANT and out and out[-1][1] is None:
                    out[-1] = (out[-1][0], m)
            return out

        return self._cached("pairs", build)
