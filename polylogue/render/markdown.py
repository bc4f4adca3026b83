"""Markdown of a conversation, for reading and sharing.

Conversation content is written so that a viewer which renders Markdown (and
the HTML inside it) shows it as typed and nothing in it becomes live:

- outside code, ``<`` is written ``&lt;`` (no tag, comment or autolink) and a
  backtick is escaped (it cannot pair with the delimiter of a code span);
- a ``[`` is escaped unless it opens an ordinary link to an ``http(s)``,
  ``mailto`` or plain relative address; so ``javascript:`` and ``obsidian://``
  links, link definitions, wiki links and ``![[embeds]]`` stay text;
- an image (``![alt](https://...)``) becomes a plain link: nothing is fetched;
- code stays code: fenced blocks get a fence longer than any backtick run
  inside, inline code a span on one line; a fence language that a vault
  plugin would run (``dataviewjs``, ``query``, ...) is dropped;
- titles, names and roles are one line with the same escaping.
"""

from __future__ import annotations

import re

from ..fmt import one_line
from ..models import ATTACHMENT, IMAGE, OPAQUE, TEXT, THINKING, TOOL_RESULT, TOOL_USE, Conversation, Message
from ..textutil import dumps
from .html import inline_code, segments

ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}

# an inline link whose text, address and title hold nothing that could end it
# somewhere else than this pattern does (no brackets, backslashes or newlines)
_LINK = re.compile(
    r"\[([^\[\]\n\\]*)\]\(((?:[^()\s\\<>\[\]\"'`]|\([^()\s\\<>\[\]\"'`]*\))*)((?:[ \t]+\"[^\"\n\\]*\")?)\)"
)
_SAFE_ADDRESS = re.compile(r"(?:https?://|mailto:)\S*|[\w./#?=%+~-]*", re.I)
# "[text]" that is neither a link, a reference, a definition nor a wiki link
_PLAIN_BRACKETS = re.compile(r"\[[^\[\]\n\\]*\](?![(\[:])")
_BACKTICK = re.compile(r"(\\*)`")
_LANG_OK = re.compile(r"[A-Za-z0-9_+#.-]{1,32}")
# a line of text that a Markdown engine could still read as opening a fence (in a
# quote or a list item, or with a backtick in its info string, which
# render.html.segments leaves as text): its first fence character is escaped
_FENCE_LIKE = re.compile(r"^([ \t>*+\-0-9.)]*)(~~~|```)", re.M)
# code block languages that Obsidian or a common vault plugin runs or renders live
_LIVE_LANGS = {"dataview", "dataviewjs", "query", "tasks", "js-engine", "button", "meta-bind", "tracker", "mermaid"}


def fence(body: str, lang: str = "") -> str:
    """A Markdown code block whose fence is longer than any run of backticks in the body."""
    ticks = "```"
    if "`" in body:  # one memchr; looking for "```" walks a long tool output ~60x slower
        while ticks in body:
            ticks += "`"
    return f"{ticks}{lang}\n{body}\n{ticks}"


def code_span(p: str) -> str:
    """Inline code on one line, delimited by more backticks than any run inside."""
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", p)), default=0) + 1)
    pad = " " if p.startswith("`") or p.endswith("`") else ""
    return f"{ticks}{pad}{p}{pad}{ticks}"


def _escaped(s: str, i: int) -> bool:
    """The character at ``i`` follows an odd run of backslashes (Markdown already escapes it)."""
    n = 0
    while i - n > 0 and s[i - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def inert(s: str) -> str:
    """Plain (non-code) Markdown text with no HTML, no link that is not
    ordinary, no image, embed or wiki link (see the module docstring)."""
    s = s.replace("<", "&lt;")
    if "`" in s:  # a lone backtick could pair with a code span we write next to it
        s = _BACKTICK.sub(lambda m: m.group(0) if len(m.group(1)) % 2 else m.group(1) + "\\`", s)
    if "[" not in s:
        return s
    out: list[str] = []
    i = 0
    while (j := s.find("[", i)) >= 0:
        out.append(s[i:j])
        i = j + 1
        m = _LINK.match(s, j)
        if m and _SAFE_ADDRESS.fullmatch(m.group(2)):
            image = j > 0 and s[j - 1] == "!"
            if image:  # a link to the image instead of fetching it
                out[-1] = out[-1][:-1]
            out.append(f"[{m.group(1) or ('image' if image else '')}]({m.group(2)}{m.group(3)})")
            i = m.end()
        elif _escaped(s, j):
            out.append("[")
        elif j and s[j - 1] in "![" or not _PLAIN_BRACKETS.match(s, j):
            out.append("\\[")
        else:
            out.append("[")
    out.append(s[i:])
    return "".join(out)


def inline_md(s: object, limit: int | None = None) -> str:
    """A title, name or role as one line of inert Markdown."""
    return inert(one_line(str(s), limit))


def _code_lang(lang: str) -> str:
    return lang if _LANG_OK.fullmatch(lang) and lang.lower() not in _LIVE_LANGS else ""


def text_md(text: str) -> str:
    """Message text kept as Markdown, made inert outside code."""
    out = []
    for kind, body, lang in segments(text):
        if kind == "code":
            out.append(fence(body, _code_lang(lang)))
            continue
        pieces: list[str] = []
        for is_code, piece in inline_code(_FENCE_LIKE.sub(r"\1\\\2", body)):
            if not is_code:
                # a code span may have ended a line (its text had one): what follows starts
                # a line of its own, so it is checked for a fence again (mid-line, "\~" is harmless)
                pieces.append(inert(_FENCE_LIKE.sub(r"\1\\\2", piece)))
                continue
            if pieces and _escaped(pieces[-1] + "`", len(pieces[-1])):
                pieces[-1] += "\\"  # a backslash before the span would turn it into text
            # one span per line: a span across lines could end inside a heading or HTML block
            pieces.append("\n".join(code_span(line) if line.strip() else "" for line in piece.split("\n")))
        out.append("".join(pieces))
    return "\n".join(out).strip("\n")


def _quote(body: str) -> str:
    return "\n".join("> " + line if line else ">" for line in body.splitlines())


def message_markdown(m: Message, *, thinking: bool = True, tools: bool = True, mark: bool = False) -> str:
    t = m.timestamp  # %-formatting: a quarter of what strftime costs, and show calls this per message
    stamp = " · %04d-%02d-%02d %02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute) if t else ""
    label = inline_md(ROLE_TITLES.get(m.role) or m.role.title())
    if m.context:
        label += " (context)"
    if not m.active:
        label += " (other branch)"
    parts = [f"### {'▶ ' if mark else ''}{label}{stamp}"]
    for b in m.blocks:
        if b.type == TEXT:
            parts.append(text_md(b.text))
        elif b.type == THINKING:
            parts.append(_quote("**Thinking**\n\n" + text_md(b.text)) if thinking else "> *(thinking hidden)*")
        elif b.type == TOOL_USE:
            head = f"**Tool call** {code_span(one_line(b.name or '?'))}"
            parts.append(head + ("\n\n" + fence(dumps(b.input), "json") if tools and b.input is not None else ""))
        elif b.type == TOOL_RESULT:
            head = "**Tool result**" + (" (error)" if b.is_error else "")
            parts.append(head + ("\n\n" + fence(b.text) if tools and b.text else ""))
        elif b.type in (IMAGE, ATTACHMENT):
            parts.append(f"📎 {b.type}: {inline_md(b.name or 'unnamed')}" + (f"\n\n{fence(b.text)}" if b.text else ""))
        elif b.type == OPAQUE:
            parts.append("*(unsupported block kept in the archive)*")
    return "\n\n".join(parts)


def header_markdown(summary: dict) -> str:
    """The title and facts of a conversation, from its summary (list/search shape)."""
    lines = [
        f"# {inline_md(summary.get('title') or summary['id'])}",
        "",
        f"- **id:** {code_span(one_line(summary['id']))}",
        f"- **provider:** {inline_md(summary['provider'])}",
    ]
    for key, label in (("created_at", "created"), ("updated_at", "updated")):
        if summary.get(key):
            lines.append(f"- **{label}:** {inline_md(summary[key][:16].replace('T', ' '))} UTC")
    if summary.get("project"):
        lines.append(f"- **project:** {code_span(one_line(summary['project']))}")
    if summary.get("models"):
        lines.append(f"- **models:** {inline_md(', '.join(summary['models']))}")
    if summary.get("parent_id"):
        lines.append(f"- **parent:** {code_span(one_line(summary['parent_id']))}")
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


def write_markdown(
    out, summary: dict, messages, children: list[dict], *, mark: str | None = None, note: str | None = None
) -> None:
    """A streamed conversation as Markdown, written as it goes (what `show` pipes).
    ``mark``: the id of the message to mark (▶); ``note``: an italic line under the header."""
    out.write(header_markdown(summary))
    if note:
        out.write(f"*{inline_md(note)}*\n\n")
    for m in messages:
        out.write(message_markdown(m, mark=mark is not None and m.id == mark) + "\n\n")
    if children:
        out.write("## Subagents and linked conversations\n\n")
        for c in children:
            out.write(
                f"- {code_span(one_line(c['id']))} {inline_md(c['title'] or '(untitled)')} ({c['message_count']} messages)\n"
            )
