"""Markdown of a conversation, for reading and sharing."""

from __future__ import annotations

from ..models import ATTACHMENT, IMAGE, OPAQUE, TEXT, THINKING, TOOL_RESULT, TOOL_USE, Conversation, Message
from ..textutil import dumps

ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def fence(body: str, lang: str = "") -> str:
    """A Markdown code block whose fence is longer than any run of backticks in the body."""
    ticks = "```"
    if "`" in body:  # one memchr; looking for "```" walks a long tool output ~60x slower
        while ticks in body:
            ticks += "`"
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _quote(body: str) -> str:
    return "\n".join("> " + line if line else ">" for line in body.splitlines())


def message_markdown(m: Message, *, thinking: bool = True, tools: bool = True) -> str:
    t = m.timestamp  # %-formatting: a quarter of what strftime costs, and show calls this per message
    stamp = " · %04d-%02d-%02d %02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute) if t else ""
    label = ROLE_TITLES.get(m.role) or m.role.title()
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
            parts.append(head + ("\n\n" + fence(dumps(b.input), "json") if tools and b.input is not None else ""))
        elif b.type == TOOL_RESULT:
            head = "**Tool result**" + (" (error)" if b.is_error else "")
            parts.append(head + ("\n\n" + fence(b.text) if tools and b.text else ""))
        elif b.type in (IMAGE, ATTACHMENT):
            parts.append(f"📎 {b.type}: {b.name or 'unnamed'}" + (f"\n\n{fence(b.text)}" if b.text else ""))
        elif b.type == OPAQUE:
            parts.append("*(unsupported block kept in the archive)*")
    return "\n\n".join(parts)


def header_markdown(summary: dict) -> str:
    """The title and facts of a conversation, from its summary (list/search shape)."""
    lines = [
        f"# {summary.get('title') or summary['id']}",
        "",
        f"- **id:** `{summary['id']}`",
        f"- **provider:** {summary['provider']}",
    ]
    for key, label in (("created_at", "created"), ("updated_at", "updated")):
        if summary.get(key):
            lines.append(f"- **{label}:** {summary[key][:16].replace('T', ' ')} UTC")
    if summary.get("project"):
        lines.append(f"- **project:** `{summary['project']}`")
    if summary.get("models"):
        lines.append(f"- **models:** {', '.join(summary['models'])}")
    if summary.get("parent_id"):
        lines.append(f"- **parent:** `{summary['parent_id']}`")
    return "\n".join(lines) + "\n\n"


def _summary(c: Conversation) -> dict:
    iso = lambda d: d.isoformat() if d else None
    return {
        "id": c.id,
        "title": c.title,
        "provider": c.provider,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "project": c.project,
        "models": c.models,
        "parent_id": c.parent_id,
    }


def render(c: Conversation, *, thinking: bool = True, tools: bool = True, active_only: bool = False) -> str:
    lines = [header_markdown(_summary(c))]
    for m in c.messages:
        if active_only and not m.active:
            continue
        lines += [message_markdown(m, thinking=thinking, tools=tools), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(out, summary: dict, messages, children: list[dict]) -> None:
    """A streamed conversation as Markdown, written as it goes (what `show` pipes)."""
    out.write(header_markdown(summary))
    for m in messages:
        out.write(message_markdown(m) + "\n\n")
    if children:
        out.write("## Subagents and linked conversations\n\n")
        for c in children:
            out.write(f"- `{c['id']}` {c['title'] or '(untitled)'} ({c['message_count']} messages)\n")
