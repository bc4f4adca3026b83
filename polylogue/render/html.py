"""Self-contained HTML of a conversation: inline CSS, no JavaScript, no
external resources, a strict Content-Security-Policy.

Every piece of conversation content (titles, text, code, tool names and
inputs, outputs, attachment names, ids, models, meta) goes through
``html.escape(quote=True)``. Nothing from a conversation ever becomes an
``href`` or ``src``: links point only at page files this module names itself.

Long conversations split into pages (``pages()``) so a browser opens a
10,000-message session quickly; each page links to the previous and next page,
to a bounded set of others (``nav_pages``) and to the export's index.

``polylogue serve`` (polylogue/web/) renders its conversation pages with the
same ``message_html``, adding what a page with a script can offer (copy buttons,
permalinks, branch switches) through keyword options; the export stays script-free.
Fenced code with a language is highlighted by Pygments (``highlight=True``: serve
always, the export when it asks; Pygments comes with rich): its output is
escaped text in ``<span class="hl-…">`` elements, never markup from the content.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote as _urlquote

from ..fmt import one_line
from ..models import ATTACHMENT, IMAGE, OPAQUE, TEXT, THINKING, TOOL_RESULT, TOOL_USE, Block, Conversation, Message

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
PAGE_SIZE = 500
ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}

CSS = """
:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--dim:#6b6b70;--line:#e3e3e6;--code:#f5f5f7;
--user:#eef4ff;--asst:#fff;--tool:#f7f7f9;--ctx:#fbf8ef;--err:#b3261e;--ok:#1b6e3a;--accent:#3454d1}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e9;--bg:#161618;--dim:#9a9aa2;--line:#2e2e33;--code:#1f1f23;
--user:#1c2333;--asst:#161618;--tool:#1b1b1f;--ctx:#23211a;--err:#ff8a80;--ok:#7fd69a;--accent:#8fa5ff}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:60rem;padding:1rem 1.25rem 4rem;font:15px/1.55 system-ui,-apple-system,"Segoe UI",
Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.45rem;line-height:1.3;margin:.5rem 0;overflow-wrap:anywhere}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:.5rem 0 1rem;color:var(--dim);
font-size:.88rem}
dl.meta dt{font-weight:600}dl.meta dd{margin:0;overflow-wrap:anywhere}
nav.pager{display:flex;gap:1rem;flex-wrap:wrap;align-items:center;margin:1rem 0;padding:.5rem 0;
border-top:1px solid var(--line);border-bottom:1px solid var(--line);font-size:.9rem}
nav.pager .cur{font-weight:600}nav.pager .off{color:var(--dim)}
a{color:var(--accent)}
article.msg{border:1px solid var(--line);border-radius:8px;padding:.6rem .9rem;margin:.8rem 0;background:var(--asst)}
article.role-user{background:var(--user)}
article.role-tool,article.role-system{background:var(--tool)}
article.context{background:var(--ctx)}
article.branch{opacity:.72;border-style:dashed}
article.hit{outline:3px solid #d08700;outline-offset:2px}
article.sidechain{margin-left:1.5rem}
.head{display:flex;flex-wrap:wrap;gap:.3rem .7rem;align-items:baseline;font-size:.85rem;color:var(--dim)}
.head .role{font-weight:700;color:var(--fg);font-size:.95rem}
.tag{border:1px solid var(--line);border-radius:4px;padding:0 .35rem;font-size:.78rem}
.mid{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.75rem}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.45rem 0}
pre{background:var(--code);border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;overflow:auto;
margin:.45rem 0;font-size:.85rem;line-height:1.45}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.text code{background:var(--code);border-radius:3px;padding:0 .2rem}
pre code{white-space:pre;background:none;padding:0}
pre.wrap,pre.wrap code{white-space:pre-wrap;overflow-wrap:anywhere}
summary code.arg{color:var(--fg);font-size:.85em;overflow-wrap:anywhere}
details.more>summary{font-size:.8rem}
p.clip{font-size:.85rem;color:var(--dim)}
details{border-left:3px solid var(--line);margin:.45rem 0;padding:.1rem 0 .1rem .7rem}
details>summary{cursor:pointer;color:var(--dim);font-size:.88rem}
details.thinking{border-left-color:#9b7fd1}
details.tool-use{border-left-color:var(--accent)}
details.tool-result{border-left-color:var(--ok)}
details.tool-result.error{border-left-color:var(--err)}
details.tool-result.error>summary{color:var(--err)}
.attachment{font-size:.9rem;margin:.45rem 0}
table.index{border-collapse:collapse;width:100%;font-size:.92rem}
table.index th,table.index td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;
vertical-align:top}
table.index td.num{text-align:right;font-variant-numeric:tabular-nums}
table.index td.nw{white-space:nowrap}
table.index td.title{overflow-wrap:anywhere}
footer{margin-top:2rem;color:var(--dim);font-size:.8rem}
"""


def esc(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute value."""
    if value is None:
        return ""
    out = _html.escape(value if isinstance(value, str) else str(value), quote=True)
    return out.replace("\0", "\ufffd") if "\0" in out else out  # as a browser would show it


# --------------------------------------------------------------- text segments

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([^\n`]*?)[ \t]*$")
_INLINE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)


def segments(text: str) -> Iterator[tuple[str, str, str]]:
    """Split message text into ``("text", body, "")`` and ``("code", body, lang)``
    parts at Markdown code fences. An unclosed fence runs to the end."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    plain: list[str] = []
    code: list[str] | None = None
    marker, lang = "", ""
    for line in text.split("\n"):
        if code is None:
            m = _FENCE.match(line)
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                if plain:
                    yield "text", "\n".join(plain), ""
                    plain = []
                code, marker, lang = [], m.group(1), m.group(2).split()[0] if m.group(2).split() else ""
            else:
                plain.append(line)
        else:
            stripped = line.strip()
            if stripped and stripped[0] == marker[0] and set(stripped) == {marker[0]} and len(stripped) >= len(marker):
                yield "code", "\n".join(code), lang
                code = None
            else:
                code.append(line)
    if code is not None:
        yield "code", "\n".join(code), lang
    elif plain:
        yield "text", "\n".join(plain), ""


def inline_code(text: str) -> Iterator[tuple[bool, str]]:
    """Split plain text at inline code spans: (is_code, piece)."""
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            yield False, text[pos : m.start()]
        yield True, m.group(2)
        pos = m.end()
    if pos < len(text):
        yield False, text[pos:]


_LANG_OK = re.compile(r"[A-Za-z0-9_+#.-]{1,32}")


def _code_html(body: str, lang: str = "", highlight: bool = False, wrap: bool = False) -> str:
    """A code block; ``highlight``: coloured by Pygments when it knows ``lang``;
    ``wrap``: long lines wrap (tool output) instead of scrolling sideways."""
    ok = bool(lang) and _LANG_OK.fullmatch(lang) is not None
    code_cls = f' class="language-{esc(lang)}"' if ok else ""
    inner = None
    if highlight and ok:
        from .highlight import highlighted

        inner = highlighted(body, lang)
    pre_cls = " ".join(c for c, on in (("wrap", wrap), ("hl", inner is not None)) if on)
    pre = f'<pre class="{pre_cls}">' if pre_cls else "<pre>"
    return f"{pre}<code{code_cls}>{inner if inner is not None else esc(body)}</code></pre>"


def text_html(text: str, highlight: bool = False) -> str:
    """Message text as HTML: fenced code in <pre><code>, inline code in <code>,
    everything else as escaped pre-wrapped text."""
    out: list[str] = []
    for kind, body, lang in segments(text):
        if kind == "code":
            out.append(_code_html(body, lang, highlight))
            continue
        body = body.strip("\n")
        if not body.strip():
            continue
        inner = "".join(f"<code>{esc(p)}</code>" if is_code else esc(p) for is_code, p in inline_code(body))
        out.append(f'<div class="text">{inner}</div>')
    return "".join(out)


def _json(value: Any) -> str:
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def _stamp(dt: datetime | None) -> str:
    if dt is None:
        return ""
    iso = dt.isoformat().replace("+00:00", "Z")
    return f'<time datetime="{esc(iso)}">{esc(f"{dt:%Y-%m-%d %H:%M:%S}")} UTC</time>'


# --------------------------------------------------------------- blocks and messages


ARG_KEYS = (
    "command",
    "cmd",
    "pattern",
    "query",
    "file_path",
    "filePath",
    "notebook_path",
    "path",
    "url",
    "description",
)
SUMMARY_CHARS = 120
FOLD_LINES = 30  # a longer output shows its first lines, the rest one click away
FOLD_CHARS = 3_000
# past this, a page with a server behind it (serve) leaves the rest out: it is fetched when
# the fold is opened (or read as plain text without a script), so a page of 200 messages
# with big tool outputs stays small; the export, with no server, holds everything
LAZY_CHARS = 20_000


def tool_argument(value: Any) -> str:
    """What a tool call acts on, for its one-line summary: the command, path,
    pattern or query when the input names one, else its first text argument."""
    if isinstance(value, str):
        return one_line(value, SUMMARY_CHARS)
    if isinstance(value, Mapping):
        named = [value.get(k) for k in ARG_KEYS if k in value]
        for v in (*named, *value.values()):
            if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
                v = " ".join(v)  # Codex: ["bash", "-lc", "ls -la"]
            if isinstance(v, str) and v.strip():
                return one_line(v, SUMMARY_CHARS)
    return ""


def _lines(n: int) -> str:
    return f"{n:,} line" + ("" if n == 1 else "s")


def fold(text: str) -> tuple[str, str]:
    """(the first lines shown, the rest folded away) of a tool output; the rest is
    "" when the output is short. serve's ``/raw?part=rest`` answers the same rest."""
    lines = text.split("\n", FOLD_LINES)
    if len(lines) <= FOLD_LINES and len(text) <= FOLD_CHARS:
        return text, ""
    head = "\n".join(lines[:FOLD_LINES])[:FOLD_CHARS]
    return head, text[len(head) :].removeprefix("\n")


def output_html(text: str, *, raw_href: str | None = None) -> str:
    """Tool output: wrapped; a long one shows its first FOLD_LINES lines and keeps the
    rest in a closed <details>. With ``raw_href`` (a URL of the whole text, which the
    caller built) a rest over LAZY_CHARS is not in the page: the fold links to it, and
    the page's script loads it there when the fold is opened."""
    head, rest = fold(text)
    if not rest:
        return _code_html(text, wrap=True)
    more = f"{_lines(rest.count(chr(10)) + 1)} more"
    if raw_href and len(rest) > LAZY_CHARS:
        href = esc(raw_href)
        link = f'<a href="{href}">the whole output</a> ({len(text):,} characters, as plain text)'
        return (
            _code_html(head, wrap=True)
            + f'<details class="more" data-rest="{esc(raw_href + "&part=rest")}" data-chars="{len(rest)}">'
            f'<summary>{more}</summary><p class="clip">Not in this page: {link}.</p></details>'
        )
    return (
        _code_html(head, wrap=True)
        + f'<details class="more"><summary>{more}</summary>{_code_html(rest, wrap=True)}</details>'
    )


def block_html(
    b: Block,
    *,
    thinking: bool = True,
    tools: bool = True,
    tool_names: Mapping[str, str] | None = None,
    highlight: bool = False,
    raw_href: str | None = None,
) -> str:
    """One block. ``raw_href``: a URL of this block's whole text (serve), for output too long to inline."""
    if b.type == TEXT:
        return text_html(b.text, highlight)
    if b.type == THINKING:
        if not thinking:
            return '<p class="attachment"><em>(thinking hidden)</em></p>'
        hint = one_line(b.text, 90)
        label = f"Thinking — {esc(hint)}" if hint else "Thinking"
        return f'<details class="thinking"><summary>{label}</summary>{text_html(b.text, highlight)}</details>'
    if b.type == TOOL_USE:
        name = esc(b.name or "?")
        arg = tool_argument(b.input)
        summary = f"Tool call: <code>{name}</code>" + (f' <code class="arg">{esc(arg)}</code>' if arg else "")
        body = ""
        if tools:
            if b.input is not None:
                raw = isinstance(b.input, str)
                # plain: colouring every call's JSON cost a 200-message page 40% of its time, for little
                body = _code_html(b.input if raw else _json(b.input), "" if raw else "json", wrap=True)
            if b.id:
                body += f'<div class="head"><span class="mid">call {esc(b.id)}</span></div>'
        return f'<details class="tool-use"><summary>{summary}</summary>{body}</details>'
    if b.type == TOOL_RESULT:
        tool_name = (tool_names or {}).get(b.id or "")
        label = ("Error" if b.is_error else "Result") + (": " if tool_name else "")
        summary = f"{label}<code>{esc(tool_name)}</code>" if tool_name else esc(label)
        cls = "tool-result error" if b.is_error else "tool-result"
        body = (
            output_html(b.text, raw_href=raw_href)
            if tools and b.text
            else ("" if tools else "<p><em>(output hidden)</em></p>")
        )
        return f'<details class="{cls}"><summary>{summary}</summary>{body}</details>'
    if b.type in (IMAGE, ATTACHMENT):
        label = "Image" if b.type == IMAGE else "Attachment"
        head = f'<div class="attachment">📎 {label}: <strong>{esc(b.name or "unnamed")}</strong></div>'
        inner = ""
        if b.meta:
            # shown as text only: a url here (javascript:, sediment:, /api/...) never becomes a link
            inner += _code_html(_json(b.meta), "json")
        if b.text:
            inner += _code_html(b.text, wrap=True)
        if not inner:
            return head
        return f'{head}<details class="attachment-meta"><summary>Details</summary>{inner}</details>'
    if b.type == OPAQUE:
        original = (b.meta or {}).get("raw")
        return (
            '<details class="opaque"><summary>Unsupported block (kept in the archive)</summary>'
            f"{_code_html(_json(original), 'json')}</details>"
        )
    return f'<details class="opaque"><summary>Block: {esc(b.type)}</summary>{_code_html(_json(b.meta))}</details>'


def message_html(
    m: Message,
    *,
    anchor: str = "",
    thinking: bool = True,
    tools: bool = True,
    tool_names: Mapping[str, str] | None = None,
    mark: bool = False,
    highlight: bool = False,
    permalink: str | None = None,
    copy: bool = False,
    fork: str = "",
    raw_href: Callable[[int], str] | None = None,
) -> str:
    """One message as an <article>. For pages that offer more than the export
    (serve): ``permalink`` (a URL the caller built), ``copy`` (a copy button, which
    the page's script shows), ``fork`` (HTML the caller built: the branch switch at
    a fork), ``raw_href(block index)`` (a page of a block's whole text)."""
    classes = ["msg", f"role-{m.role if m.role in ROLE_TITLES else 'other'}"]
    tags: list[str] = []
    if mark:  # the message `show --around` was asked for
        classes.append("hit")
        tags.append("around")
    if m.context:
        classes.append("context")
        tags.append("context")
    if not m.active:
        classes.append("branch")
        tags.append("other branch")
    if m.sidechain:
        classes.append("sidechain")
        tags.append("sidechain")
    head = [f'<span class="role">{esc(ROLE_TITLES.get(m.role, m.role.title()))}</span>']
    if m.timestamp:
        head.append(_stamp(m.timestamp))
    if m.model:
        head.append(f'<span class="model">{esc(m.model)}</span>')
    head += [f'<span class="tag">{esc(t)}</span>' for t in tags]
    if m.usage:
        parts = [f"{k} {v}" for k, v in m.usage.items() if k != "convention" and isinstance(v, (int, float))]
        if parts:
            head.append(f'<span class="usage">{esc(" · ".join(parts))}</span>')
    head.append(f'<span class="mid">{esc(m.id)}</span>')
    if permalink:
        head.append(f'<a class="perma" href="{esc(permalink)}" title="Link to this message">#</a>')
    if copy:
        head.append('<button type="button" class="copy" hidden>Copy</button>')
    body = "".join(
        block_html(
            b,
            thinking=thinking,
            tools=tools,
            tool_names=tool_names,
            highlight=highlight,
            raw_href=raw_href(k) if raw_href and b.type == TOOL_RESULT and len(b.text) > LAZY_CHARS else None,
        )
        for k, b in enumerate(m.blocks)
    )
    if m.context:
        first = next((b.text for b in m.blocks if b.type == TEXT and b.text.strip()), "")
        hint = f" — {esc(one_line(first, 90))}" if first else ""
        body = f'<details class="context"><summary>Injected context{hint}</summary>{body}</details>'
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return (
        f'<article class="{" ".join(classes)}"{ident}><div class="head">{"".join(head)}</div>{fork}'
        f'<div class="body">{body}</div></article>'
    )


# --------------------------------------------------------------- pages


def page_count(conv: Conversation, page_size: int = PAGE_SIZE) -> int:
    return max(1, -(-len(conv.messages) // max(1, page_size)))


def page_name(base: str, page: int) -> str:
    """File name of a page: ``base.html``, ``base-p2.html``, ..."""
    return f"{base}.html" if page <= 1 else f"{base}-p{page}.html"


_SAFE_PATH = re.compile(r"(?:\.\./)*[\w~-][\w.~-]*(?:/[\w~-][\w.~-]*)*")


def _href(path: str) -> str | None:
    """A link to a file this package named (``provider/2025-01-02-slug-1a2b3c4d.html``,
    ``../index.html``), or None: never a scheme, an absolute path, a query or
    anything else that could come from conversation content."""
    if not path or not _SAFE_PATH.fullmatch(path):
        return None
    return esc(_urlquote(path, safe="/-._~"))


def _link(path: str | None, label: str, cls: str = "") -> str:
    href = _href(path) if path else None
    c = f' class="{cls}"' if cls else ""
    if href is None:
        return f'<span class="off">{esc(label)}</span>'
    return f'<a href="{href}"{c}>{esc(label)}</a>'


NAV_NEAR = 2  # pages linked by number on each side of the current one


def nav_pages(page: int, total: int) -> list[int]:
    """The pages a page links to by number: the first and the last, NAV_NEAR on
    each side, and the round pages on either side at every power of ten (1230,
    1240; 1200, 1300; 1000, 2000), so any page is a few clicks away while a page's
    navigation grows only with the digits of ``total`` (a link to every page
    made an export of N pages write N² links)."""
    shown = {1, total, *range(max(1, page - NAV_NEAR), min(total, page + NAV_NEAR) + 1)}
    step = 10
    while step < total:
        below, above = (page - 1) // step * step, (page // step + 1) * step  # never the page itself
        shown.update(k for k in (below, above) if 1 <= k <= total)
        step *= 10
    return sorted(shown)


def _nav(page: int, total: int, base: str, index_href: str | None) -> str:
    if total <= 1 and not index_href:
        return ""
    parts = []
    if index_href:
        parts.append(_link(index_href, "↑ Index"))
    if total > 1:
        parts.append(_link(page_name(base, page - 1) if page > 1 else None, "← Previous"))
        last = 0
        for k in nav_pages(page, total):
            if k > last + 1:
                parts.append('<span class="off">…</span>')
            parts.append(f'<span class="cur">{k}</span>' if k == page else _link(page_name(base, k), str(k)))
            last = k
        parts.append(_link(page_name(base, page + 1) if page < total else None, "Next →"))
        parts.append(f'<span class="off">page {page} of {total}</span>')
    return f'<nav class="pager">{"".join(parts)}</nav>'


def _document(title: str, body: str, highlight: bool = False) -> str:
    style = CSS
    if highlight:
        from .highlight import css

        style += css()
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="polylogue">\n'
        f"<title>{title}</title>\n<style>{style}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _meta_html(c: Conversation, count: int) -> str:
    rows: list[tuple[str, str]] = [("id", f"<code>{esc(c.id)}</code>"), ("provider", esc(c.provider))]
    if c.created_at:
        rows.append(("created", _stamp(c.created_at)))
    if c.updated_at:
        rows.append(("updated", _stamp(c.updated_at)))
    if c.project:
        rows.append(("project", f"<code>{esc(c.project)}</code>"))
    if c.models:
        rows.append(("models", esc(", ".join(map(str, c.models)))))
    if c.parent_id:
        rows.append(("parent", f"<code>{esc(c.parent_id)}</code>"))
    rows.append(("messages", esc(count)))
    return '<dl class="meta">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _tool_names(c: Conversation) -> dict[str, str]:
    return {b.id: b.name for _, b in c.iter_blocks() if b.type == TOOL_USE and b.id and b.name}


def render(
    conv: Conversation,
    *,
    page: int | None = None,
    page_size: int = PAGE_SIZE,
    thinking: bool = True,
    tools: bool = True,
    base: str = "conversation",
    index_href: str | None = None,
    _names: Mapping[str, str] | None = None,
    window: tuple[int, int, str] | None = None,
    highlight: bool = False,
) -> str:
    """One HTML page. ``page=None``: every message on one page; ``page=k``
    (1-based): messages ``[(k-1)*page_size, k*page_size)`` with links to the
    sibling pages (named by ``page_name(base, k)``) and to ``index_href``.
    ``window=(first, total, message id)``: ``conv`` holds only the messages from
    position ``first`` of ``total`` around that message (`show --around`), marked."""
    names = _names if _names is not None else _tool_names(conv)
    title = conv.title or conv.id
    if page is None:
        start, msgs, total, page_no = 0, conv.messages, 1, 1
    else:
        total = page_count(conv, page_size)
        page_no = min(max(1, page), total)
        start = (page_no - 1) * page_size
        msgs = conv.messages[start : start + page_size]
    nav = _nav(page_no, total, base, index_href)
    first, count, mark = window if window else (0, len(conv.messages), None)
    parts = [f"<header><h1>{esc(title)}</h1>", _meta_html(conv, count), "</header>", nav, "<main>"]
    for i, m in enumerate(msgs, start + first + 1):
        parts.append(
            message_html(
                m,
                anchor=f"m{i}",
                thinking=thinking,
                tools=tools,
                tool_names=names,
                mark=m.id == mark,
                highlight=highlight,
            )
        )
    parts += ["</main>", nav]
    if window:
        parts.append(f"<footer>messages {first + 1}–{first + len(msgs)} of {count}, around {esc(mark)}</footer>")
    elif total > 1:
        end = start + len(msgs)
        parts.append(f"<footer>messages {start + 1}–{end} of {len(conv.messages)}</footer>")
    suffix = f" (page {page_no} of {total})" if total > 1 else ""
    return _document(esc(title) + esc(suffix) + " · polylogue", "\n".join(parts), highlight)


def pages(
    conv: Conversation,
    page_size: int = PAGE_SIZE,
    *,
    base: str = "conversation",
    index_href: str | None = None,
    thinking: bool = True,
    tools: bool = True,
    highlight: bool = False,
) -> Iterator[tuple[str, str]]:
    """Every page of a conversation as ``(file name, html)``: ``base.html``,
    ``base-p2.html``, ... (one page when it fits)."""
    names = _tool_names(conv)
    total = page_count(conv, page_size)
    for k in range(1, total + 1):
        yield (
            page_name(base, k),
            render(
                conv,
                page=k,
                page_size=page_size,
                thinking=thinking,
                tools=tools,
                base=base,
                index_href=index_href,
                _names=names,
                highlight=highlight,
            ),
        )


# --------------------------------------------------------------- index


def _date(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return f"{v:%Y-%m-%d}"
    return str(v)[:10]


def index(entries: Iterable[Mapping[str, Any]], *, title: str = "Polylogue archive") -> str:
    """An index page listing conversations. Each entry: ``title``, ``id``,
    ``provider``, ``created_at``/``updated_at`` (ISO text or datetime),
    ``message_count``, ``href`` (a relative path to the file; anything else,
    such as a URL with a scheme, is shown as plain text, never linked) and
    optionally ``pages``."""
    rows = []
    n = 0
    for e in entries:
        n += 1
        label = e.get("title") or e.get("id") or "(untitled)"
        href = _href(str(e.get("href") or ""))
        cell = f'<a href="{href}">{esc(label)}</a>' if href else esc(label)
        if e.get("pages") and int(e["pages"]) > 1:
            cell += f' <span class="tag">{esc(int(e["pages"]))} pages</span>'
        cell += f'<div class="mid">{esc(e.get("id"))}</div>'
        rows.append(
            f'<tr><td class="nw">{esc(_date(e.get("updated_at") or e.get("created_at")))}</td>'
            f'<td class="nw">{esc(e.get("provider"))}</td><td class="title">{cell}</td>'
            f'<td class="num">{esc(e.get("message_count", ""))}</td></tr>'
        )
    table = (
        '<table class="index"><thead><tr><th>Updated</th><th>Provider</th><th>Title</th><th>Messages</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    body = f"<header><h1>{esc(title)}</h1><p>{n} conversation{'s' if n != 1 else ''}</p></header><main>{table}</main>"
    return _document(esc(title), body)
