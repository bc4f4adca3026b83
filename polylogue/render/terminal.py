"""Terminal rendering with rich: role headers, timestamps, Markdown and code
highlighted; thinking and tool traffic collapsed to one line unless asked for.
Messages are rendered one at a time so huge conversations stream.

Every piece of archive text passes through `safe.terminal_safe` before rich
sees it, and only as Text or Markdown (never as rich markup), so a
conversation cannot send escape sequences or rich markup to the terminal; the
only escapes printed are rich's own styles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..fmt import clip, one_line
from ..models import ATTACHMENT, IMAGE, OPAQUE, TEXT, THINKING, TOOL_RESULT, TOOL_USE, Message
from ..textutil import dumps, tool_input_text
from .safe import terminal_safe

ROLE_STYLE = {"user": "bold green", "assistant": "bold cyan", "system": "bold magenta", "tool": "bold yellow"}
EXPANDED_OUTPUT_LINES = 200


def header(summary: dict[str, Any]):
    from rich.text import Text

    t = Text()
    t.append(_field(summary.get("title") or "(untitled)"), "bold")
    t.append(f"\n{_field(summary['id'])}", "cyan")
    bits = [
        summary["provider"],
        (summary.get("updated_at") or "")[:16].replace("T", " "),
        f"{summary['message_count']} messages",
    ]
    if summary.get("project"):
        bits.append(summary["project"])
    if summary.get("models"):
        bits.append(", ".join(summary["models"]))
    t.append("\n" + " · ".join(_field(str(b)) for b in bits if b), "dim")
    return t


def _field(s: str) -> str:
    return terminal_safe(s, one_line=True)


_CODE = __import__("re").compile(r"(```.*?(?:```|$)|~~~.*?(?:~~~|$)|`[^`\n]*`)", __import__("re").S)


def markdown_safe(text: str) -> str:
    """rich's Markdown drops raw HTML; conversation text is full of <tags> that must
    show. Escape '<' outside code (where Markdown shows it literally anyway)."""
    parts = _CODE.split(text)
    return "".join(p if i % 2 else p.replace("&", "&amp;").replace("<", "&lt;") for i, p in enumerate(parts))


def _safe_line(s: str, width: int = 100) -> str:
    """One line of archive text, safe for a terminal, clipped to ``width``."""
    return clip(terminal_safe(one_line(s), one_line=True), width) or ""


def message(m: Message, *, thinking: bool = False, tools: bool = False, mark: bool = False) -> list:
    """Renderables for one message; ``mark``: the one `show --around` was asked for."""
    from rich.markdown import Markdown
    from rich.padding import Padding
    from rich.rule import Rule
    from rich.syntax import Syntax
    from rich.text import Text

    label = Text("▶ ", "bold reverse") if mark else Text()
    label.append(_field(m.role), ROLE_STYLE.get(m.role, "bold"))
    if m.context:
        label.append(" · context", "dim")
    if m.sidechain:
        label.append(" · sidechain", "dim")
    if not m.active:
        label.append(" · other branch", "bold red")
    if m.timestamp:
        label.append(f"  {m.timestamp:%Y-%m-%d %H:%M:%S}", "dim")
    if m.model:
        label.append(f"  {_field(m.model)}", "dim")
    out: list = [Rule(label, align="left", style="dim")]
    if m.context and not (thinking and tools):
        body = " ".join(b.text for b in m.blocks if b.text)
        out.append(Text(f"  ⤷ injected context: {_safe_line(body, 90)}  (--all)", style="dim"))
        return out
    for b in m.blocks:
        if b.type == TEXT and b.text.strip():
            # hyperlinks=False: a link shows its target as text, never as an OSC 8 link
            out.append(Markdown(markdown_safe(terminal_safe(b.text)), hyperlinks=False))
        elif b.type == THINKING:
            if thinking:
                out.append(Padding(Text(terminal_safe(b.text), style="italic dim"), (0, 0, 0, 2)))
            else:
                out.append(
                    Text(f"  💭 thinking: {_safe_line(b.text, 80)}  ({len(b.text):,} chars, --thinking)", style="dim")
                )
        elif b.type == TOOL_USE:
            if tools:
                out.append(Text(f"  ⚙ {_field(b.name or 'tool')}", style="bold yellow"))
                if b.input is not None:
                    out.append(Padding(Syntax(terminal_safe(dumps(b.input)), "json", word_wrap=True), (0, 0, 0, 4)))
            else:
                out.append(
                    Text(f"  ⚙ {_field(b.name or 'tool')}: {_safe_line(tool_input_text(b.input), 90)}", style="yellow")
                )
        elif b.type == TOOL_RESULT:
            lines = b.text.count("\n") + 1 if b.text else 0
            state = " error" if b.is_error else ""
            if tools:
                shown = "\n".join(b.text.splitlines()[:EXPANDED_OUTPUT_LINES])
                more = lines - EXPANDED_OUTPUT_LINES
                out.append(Text(f"  ↳ result{state}", style="red" if b.is_error else "yellow"))
                out.append(
                    Padding(
                        Text(
                            terminal_safe(shown)
                            + (f"\n… {more} more lines (show --format markdown for all)" if more > 0 else "")
                        ),
                        (0, 0, 0, 4),
                    )
                )
            else:
                out.append(
                    Text(
                        f"  ↳ result{state}: {lines} lines, {len(b.text):,} chars  (--tools)",
                        style="red" if b.is_error else "dim",
                    )
                )
        elif b.type in (IMAGE, ATTACHMENT):
            out.append(Text(f"  📎 {b.type}: {_field(b.name or 'unnamed')}", style="blue"))
        elif b.type == OPAQUE:
            out.append(Text("  (a block kind polylogue does not display; kept in the archive)", style="dim"))
    return out


def render(
    console,
    summary: dict[str, Any],
    messages: Iterable[Message],
    children: list[dict] | None = None,
    *,
    thinking: bool = False,
    tools: bool = False,
    mark: str | None = None,
    note: str | None = None,
) -> None:
    """``mark``: the id of the message to mark; ``note``: a line under the header
    (which messages a window shows)."""
    console.print(header(summary))
    if note:
        from rich.text import Text

        console.print(Text(_field(note), "dim"))
    for m in messages:
        for r in message(m, thinking=thinking, tools=tools, mark=mark is not None and m.id == mark):
            console.print(r)
    if children:
        from rich.text import Text

        console.print()
        console.print(Text("Subagents and linked conversations:", style="bold"))
        for c in children:
            console.print(
                Text(f"  {_field(c['id'])}  ", style="cyan")
                + Text(f"{_field(c['title'] or '(untitled)')} · {c['message_count']} messages", style="dim")
            )
