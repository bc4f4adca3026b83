"""Markdown of a conversation, for reading and sharing."""
from __future__ import annotations

from ..models import ATTACHMENT, IMAGE, OPAQUE, TEXT, THINKING, TOOL_RESULT, TOOL_USE, Conversation, Message
from ..textutil import dumps

ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def _fence(body: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in body:
        ticks += "`"
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _quote(body: str) -> str:
    return "\n".join("> " + line if line else ">" for line in body.splitlines())


def message_markdown(m: Message, *, thinking: bool = True, tools: bool = True) -> str:
    stamp = f" · {m.timestamp:%Y-%m-%d %H:%M}" if m.timestamp else ""
    label = ROLE_TITLES.get(m.role, m.role.title())
    if m.context:
        label += " (context)"
    if not m.active:
        label += " (other branch)"
    parts = [f"### {label}{stamp}"]
    for b in m.blocks:
        if b.type == TEXT:
            parts.append(b.text)
        elif b.type == THINKING:
            parts.append(_quote("**Thinking**\n\n" + b.text) if thinking else "> *(thinking hidden)*")
        elif b.type == TOOL_USE:
            head = f"**Tool call** `{b.name or '?'}`"
            parts.append(head + ("\n\n" + _fence(dumps(b.input), "json") if tools and b.input is not None else ""))
        elif b.type == TOOL_RESULT:
            head = "**Tool result**" + (" (error)" if b.is_error else "")
            parts.append(head + ("\n\n" + _fence(b.text) if tools and b.text else ""))
        elif b.type in (IMAGE, ATTACHMENT):
            parts.append(f"📎 {b.type}: {b.name or 'unnamed'}" + (f"\n\n{_fence(b.text)}" if b.text else ""))
        elif b.type == OPAQUE:
            parts.append("*(unsupported block kept in the archive)*")
    return "\n\n".join(parts)


def render(c: Conversation, *, thinking: bool = True, tools: bool = True, active_only: bool = False) -> str:
    lines = [f"# {c.title or c.id}", ""]
    meta = [f"- **id:** `{c.id}`", f"- **provider:** {c.provider}"]
    if c.created_at:
        meta.append(f"- **created:** {c.created_at:%Y-%m-%d %H:%M} UTC")
    if c.updated_at:
        meta.append(f"- **updated:** {c.updated_at:%Y-%m-%d %H:%M} UTC")
    if c.project:
        meta.append(f"- **project:** `{c.project}`")
    if c.models:
        meta.append(f"- **models:** {', '.join(c.models)}")
    if c.parent_id:
        meta.append(f"- **parent:** `{c.parent_id}`")
    lines += meta + [""]
    for m in c.messages:
        if active_only and not m.active:
            continue
        lines += [message_markdown(m, thinking=thinking, tools=tools), ""]
    return "\n".join(lines).rstrip() + "\n"
