"""Obsidian-flavoured Markdown: YAML front matter and callouts.

- front matter: id, provider, title, created, updated, models, project,
  parent, messages, tags (``polylogue``, ``polylogue/<provider>``); every
  string is a double-quoted YAML scalar with escapes, so quotes, colons,
  ``#``, ``---`` and newlines in a title cannot break it
- thinking: ``> [!abstract]- Thinking`` (collapsed)
- tool calls: ``> [!example]- Tool: Bash``; results ``> [!success]-`` /
  ``> [!failure]-``
- injected context (system prompts, environment blocks): ``> [!note]-``

Conversation content is made inert as in render/markdown.py: no HTML, no
live embed, wiki link, image or unusual link; ``Vec<T>`` or a pasted
``<script>`` shows as typed.
"""

from __future__ import annotations

import re
from typing import Any

from ..fmt import iso_utc
from ..models import ATTACHMENT, IMAGE, OPAQUE, TEXT, THINKING, TOOL_RESULT, TOOL_USE, Block, Conversation, Message
from .markdown import fence, inline_md, text_md

ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}

# "<" as an escape too: a viewer that does not know front matter renders these lines as Markdown
_YAML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "<": "\\u003c"}


def yaml_str(s: Any) -> str:
    """A double-quoted YAML scalar (valid YAML 1.1 and 1.2, and a JSON string)."""
    out = ['"']
    for ch in str(s):
        if ch in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or ch in "\u0085\u2028\u2029\ufeff" or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _tag(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_/-]+", "-", s).strip("-") or "unknown"


def front_matter(c: Conversation) -> str:
    lines = ["---", f"id: {yaml_str(c.id)}", f"provider: {yaml_str(c.provider)}", f"title: {yaml_str(c.title or c.id)}"]
    if c.created_at:
        lines.append(f"created: {iso_utc(c.created_at)}")
    if c.updated_at:
        lines.append(f"updated: {iso_utc(c.updated_at)}")
    if c.models:
        lines.append("models:")
        lines += [f"  - {yaml_str(m)}" for m in c.models]
    else:
        lines.append("models: []")
    if c.project:
        lines.append(f"project: {yaml_str(c.project)}")
    if c.parent_id:
        lines.append(f"parent: {yaml_str(c.parent_id)}")
    lines.append(f"messages: {len(c.messages)}")
    lines += ["tags:", "  - polylogue", f"  - polylogue/{_tag(c.provider)}", "---"]
    return "\n".join(lines)


def _quote(body: str) -> str:
    return "\n".join("> " + line if line else ">" for line in body.split("\n"))


def _callout(kind: str, title: str, body: str, *, folded: bool = True) -> str:
    head = f"> [!{kind}]{'-' if folded else ''} {_title(title)}"
    return head + ("\n" + _quote(body) if body.strip() else "")


def _title(s: str, limit: int = 100) -> str:
    return inline_md(s, limit)


def _json(value: Any) -> str:
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def block_md(b: Block, *, thinking: bool = True, tools: bool = True, tool_names: dict[str, str] | None = None) -> str:
    if b.type == TEXT:
        return text_md(b.text)
    if b.type == THINKING:
        return _callout("abstract", "Thinking", text_md(b.text) if thinking else "*(thinking hidden)*")
    if b.type == TOOL_USE:
        body = ""
        if tools and b.input is not None:
            body = fence(b.input, "") if isinstance(b.input, str) else fence(_json(b.input), "json")
        return _callout("example", f"Tool: {b.name or '?'}", body)
    if b.type == TOOL_RESULT:
        name = (tool_names or {}).get(b.id or "")
        title = ("Error" if b.is_error else "Result") + (f": {name}" if name else "")
        return _callout("failure" if b.is_error else "success", title, fence(b.text) if tools and b.text else "")
    if b.type in (IMAGE, ATTACHMENT):
        label = "Image" if b.type == IMAGE else "Attachment"
        parts = []
        if b.meta:
            parts.append(fence(_json(b.meta), "json"))
        if b.text:
            parts.append(fence(b.text))
        return _callout("info", f"{label}: {b.name or 'unnamed'}", "\n\n".join(parts))
    if b.type == OPAQUE:
        return _callout(
            "warning", "Unsupported block (kept in the archive)", fence(_json((b.meta or {}).get("raw")), "json")
        )
    return _callout("warning", f"Block: {b.type}", fence(_json(b.meta), "json"))


def message_md(
    m: Message, *, thinking: bool = True, tools: bool = True, tool_names: dict[str, str] | None = None
) -> str:
    label = inline_md(ROLE_TITLES.get(m.role) or m.role.title())
    bits = [label]
    if m.timestamp:
        bits.append(f"{m.timestamp:%Y-%m-%d %H:%M}")
    if m.model:
        bits.append(_title(m.model, 60))
    if not m.active:
        bits.append("(other branch)")
    if m.sidechain:
        bits.append("(sidechain)")
    head = "### " + " · ".join(bits)
    body = "\n\n".join(
        p for p in (block_md(b, thinking=thinking, tools=tools, tool_names=tool_names) for b in m.blocks) if p
    )
    if m.context:
        return head + "\n\n" + _callout("note", "Context", body)
    return head + ("\n\n" + body if body else "")


def render(c: Conversation, *, thinking: bool = True, tools: bool = True, active_only: bool = False) -> str:
    names = {b.id: b.name for _, b in c.iter_blocks() if b.type == TOOL_USE and b.id and b.name}
    parts = [front_matter(c), "", f"# {_title(c.title or c.id, 300)}", ""]
    for m in c.messages:
        if active_only and not m.active:
            continue
        parts += [message_md(m, thinking=thinking, tools=tools, tool_names=names), ""]
    return "\n".join(parts).rstrip() + "\n"
