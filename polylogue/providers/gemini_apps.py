"""Gemini Apps activity from Google Takeout (docs/providers.md, "gemini-apps").

``Takeout/My Activity/Gemini Apps/MyActivity.json``: an array of activity
records, newest first::

    {header: "Gemini Apps", title: "Prompted <prompt>", time (ISO), products[],
     activityControls[], safeHtmlItem[{html}], subtitles[{name, url?}],
     attachedFiles?, imageFile?, details?}

The export has no conversation ids and no grouping: each record is one prompt
and its response. Each record with a response becomes a conversation of its own
(single-turn; no grouping heuristic, so a re-export never regroups them): the
prompt is the user message, each ``safeHtmlItem`` an assistant reply. Several
``safeHtmlItem`` entries are regenerations (oldest first): siblings under the
prompt, the last one active. The reply HTML is converted to text (headings,
lists, code blocks, links and tables survive as Markdown) and kept, bounded,
in ``meta.html``.

Titles: ``Prompted `` is stripped to give the prompt. ``Created ``/``Used ``
records (Canvas, Assistant features) are Google's description of an action:
kept as a context message. A record without a response (``Gave feedback``,
``Selected preferred draft``) is no conversation: counted in a note. A title in
no known form (another language, a new version) is kept whole as the prompt
and reported in one warning line per file.

Identity: ``derived-`` + sha256 of (time to the second in UTC, title with its
whitespace collapsed)[:20], flagged ``meta.derived_id``: the HTML form of the
same activity (``MyActivity.html``, read by gemini_apps_html.py through
``record_conversation``) shows times to the second and writes a no-break space
after ``Prompted``, so both forms give a record the same id and a user who
exports both gets each conversation once. The older Bard header is read the
same way.

My Activity files of other Google products share the array shape but have no
``safeHtmlItem``: they are side files here, skipped quietly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from html.parser import HTMLParser
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import guarded
from .base import Head, Provider, Records
from .common import (
    ParseContext,
    as_list,
    as_str,
    bounded,
    clip_text,
    iter_export_items,
    json_or_summary,
    read_time,
    replay,
    skip_on_error,
)

NAME = "gemini-apps"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

KNOWN_HEADERS = frozenset({"Gemini Apps", "Bard", "Gemini"})
_PROMPT = "Prompted "
_ACTIONS = ("Created ", "Used ")
_HTML_META_LIMIT = 64 << 10
_TITLE_LIMIT = 100


# ---------------------------------------------------------------- sniffing


def _activity_shape(head: Head) -> bool:
    return (
        head.kind == "json"
        and head.top == "array"
        and head.has("item.header", "string")
        and head.has("item.title", "string")
        and head.has("item.time", "string")
        and head.has("item.products", "start_array")
    )


def sniff(head: Head) -> bool:
    """A Google My Activity array whose records carry responses (``safeHtmlItem``)."""
    return _activity_shape(head) and head.has("item.safeHtmlItem", "start_array")


def _side_file(head: Head) -> bool:
    """Another Google product's My Activity file (YouTube, Search...): no responses."""
    return _activity_shape(head) and not head.has("item.safeHtmlItem")


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    first = stream.read(1)
    while first in (b" ", b"\t", b"\r", b"\n"):
        first = stream.read(1)
    if first != b"[":
        raise ParseError("not a Google My Activity export (expected a JSON array)")
    state = State()
    for index, rec in iter_export_items(replay(first, stream), ctx, what="record"):
        yield from guarded(skip_on_error(ctx, f"record {index}"), partial(record_conversation, rec, index, state, ctx))
    report(state, ctx)


class State:
    """What one file's records came to (either form), for the lines ``report`` writes."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.other_products = 0
        self.no_response = 0
        self.unknown_titles = 0
        self.unknown_headers: set[str] = set()
        self.unread_times = 0  # HTML: a time in no form read here (the id then cannot match the JSON form's)
        self.conversations = 0


def report(state: State, ctx: ParseContext) -> None:
    """The file's notes and its one warning for an unknown version."""
    if state.no_response:
        ctx.note(f"{state.no_response} activity record(s) without a response (feedback, draft choices) not imported")
    if state.other_products:
        ctx.note(f"{state.other_products} record(s) of other Google products skipped")
    unknown = []
    if state.unknown_titles:
        unknown.append(
            f"{state.unknown_titles} record(s) with a title in no known form (the whole title kept as the prompt)"
        )
    if state.unknown_headers:
        unknown.append(f"unknown header(s) {', '.join(sorted(state.unknown_headers)[:3])}")
    if state.unread_times:
        unknown.append(f"{state.unread_times} record(s) with a time in no known form (kept as text)")
    if unknown:
        ctx.warn("Gemini Apps activity of an unknown version: imported what could be read; " + "; ".join(unknown))
    if not state.conversations and not state.other_products and not state.no_response:
        ctx.warn("no Gemini Apps records in this file")


def record_conversation(rec: Any, index: int, state: State, ctx: ParseContext) -> m.Conversation | None:
    if not isinstance(rec, dict):
        ctx.warn(f"record {index}: not a JSON object ({type(rec).__name__}); skipped")
        return None
    header = as_str(rec.get("header")) or ""
    replies = [h for h in as_list(rec.get("safeHtmlItem")) if isinstance(h, dict)]
    if header not in KNOWN_HEADERS:
        if not replies:
            state.other_products += 1
            return None
        state.unknown_headers.add(header[:40] or "(none)")
    title = as_str(rec.get("title")) or ""
    if not replies:
        state.no_response += 1
        return None
    meta: dict[str, Any] = {"derived_id": True, "id_source": "time+title", "grouping": "one record per conversation"}
    ts = read_time(rec.get("time"), meta, "time")
    cid = derived_id(ts, rec.get("time"), title)
    if cid in state.seen:
        return None  # the same record twice: the first one stands
    state.seen.add(cid)
    if ctx.unchanged(NAME, cid, ts):
        return None

    prompt, kind = _prompt(title)
    if kind == "unknown":
        state.unknown_titles += 1
    user = m.Message(id=f"{cid}:prompt", role=m.USER, blocks=[m.text(prompt)], timestamp=ts)
    if kind == "action":
        user.context = True
        user.meta = {"kind": "activity"}
    elif kind == "unknown":  # most likely the prompt behind a prefix in another language: still a prompt
        user.meta = {"kind": "unknown title form"}
    user.blocks += _attachments(rec)
    messages = [user]
    for i, item in enumerate(replies):
        messages.append(_reply(cid, i, item, user.id, ts, last=i == len(replies) - 1))
    if len(replies) > 1:
        meta["regenerations"] = len(replies)
    _extra(rec, meta)
    state.conversations += 1
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=_title(prompt),
        created_at=ts,
        updated_at=ts,
        messages=messages,
        source_path=ctx.path,
        meta=meta,
    )


def derived_id(ts: datetime | None, raw_time: Any, title: str) -> str:
    """A record's id, the same from both forms of the export: its time to the second
    in UTC (the raw text when it cannot be read) and its title, whitespace collapsed."""
    when = ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else (as_str(raw_time) or "")
    material = orjson.dumps([when, " ".join(title.split())])
    return "derived-" + hashlib.sha256(material).hexdigest()[:20]


def _prompt(title: str) -> tuple[str, str]:
    if title.startswith(_PROMPT):
        return title[len(_PROMPT) :], "prompt"
    if title.startswith(_ACTIONS):
        return title, "action"
    return title, "unknown"


def _title(prompt: str) -> str | None:
    line = next((ln.strip() for ln in prompt.splitlines() if ln.strip()), "")
    return clip_text(line, _TITLE_LIMIT) or None


def _reply(cid: str, i: int, item: dict, parent: str, ts: Any, last: bool) -> m.Message:
    html = as_str(item.get("html")) or ""
    text, images = html_to_text(html)
    blocks: list[m.Block] = [m.text(text)] if text else []
    for src, alt in images:
        blocks.append(m.attachment(alt or None, kind=m.IMAGE, url=src))
    meta: dict[str, Any] = {"html": json_or_summary(html, _HTML_META_LIMIT)} if html else {}
    if not last:
        meta["regenerated"] = True
    extra = {k: v for k, v in item.items() if k != "html"}
    if extra:
        meta["extra"] = bounded(extra)
    return m.Message(
        id=f"{cid}:response-{i}",
        role=m.ASSISTANT,
        blocks=blocks,
        parent_id=parent,
        timestamp=ts,
        active=last,
        meta=meta or None,
    )


def _attachments(rec: dict) -> list[m.Block]:
    """Files named by the record: ``imageFile``, ``attachedFiles`` and the
    ``-  name`` lines of ``subtitles`` (their files sit beside the JSON in the Takeout)."""
    out: list[m.Block] = []
    named: set[str] = set()
    image = as_str(rec.get("imageFile"))
    if image:
        out.append(m.attachment(image, kind=m.IMAGE, path=image))
        named.add(image)
    for f in as_list(rec.get("attachedFiles")):
        name = as_str(f) or (as_str(f.get("name")) if isinstance(f, dict) else None)
        if name and name not in named:
            out.append(m.attachment(name, path=name))
            named.add(name)
    for s in as_list(rec.get("subtitles")):
        name = as_str(s.get("name")) if isinstance(s, dict) else None
        url = as_str(s.get("url")) if isinstance(s, dict) else None
        if name and name.startswith("-") and url and url not in named:
            out.append(m.attachment(name.lstrip("- ").strip() or url, path=url))
            named.add(url)
    return out


def _extra(rec: dict, meta: dict[str, Any]) -> None:
    if rec.get("header") != "Gemini Apps":
        meta["header"] = bounded(rec.get("header"), max_total=200)
    for key in ("subtitles", "details", "titleUrl", "attachedFiles"):
        if rec.get(key) not in (None, [], ""):
            meta[key] = bounded(rec[key], max_total=8 << 10)
    for s in as_list(rec.get("subtitles")):
        name = as_str(s.get("name")) if isinstance(s, dict) else None
        if name and " was used in this chat" in name:
            meta["gem"] = name.split(" was used in this chat", 1)[0]


# ---------------------------------------------------------------- HTML to text

_BLOCK = frozenset({"p", "div", "section", "article", "blockquote", "ul", "ol", "table", "hr", "figure"})
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SKIP = frozenset({"script", "style", "head", "title"})
_SPACES = re.compile(r"[ \t\r\f\v\n]+")
_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


class _Text(HTMLParser):
    """Sanitised reply HTML to Markdown-like text: what a reader and the index need."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.images: list[tuple[str, str]] = []
        self.pre = 0
        self.skip = 0
        self.lists: list[list[int]] = []  # one [counter] per open list; -1 for bullets
        self.href: list[str | None] = []
        self.cells = 0

    def _nl(self, n: int = 1) -> None:
        """End the current line with at least ``n`` newlines (none at the very start)."""
        have = 0
        for piece in reversed(self.out):
            bare = piece.rstrip("\n")
            have += len(piece) - len(bare)
            if bare:
                break
        else:
            return
        if have < n:
            self.out.append("\n" * (n - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in _SKIP:
            self.skip += 1
        elif tag in _HEADINGS:
            self._nl(2)
            self.out.append("#" * _HEADINGS[tag] + " ")
        elif tag == "pre":
            self._nl(2)
            self.out.append("```\n")
            self.pre += 1
        elif tag == "code" and not self.pre:
            self.out.append("`")
        elif tag == "br":
            self.out.append("\n")
        elif tag in ("ul", "ol"):
            self._nl(1 if self.lists else 2)
            self.lists.append([0 if tag == "ol" else -1])
        elif tag == "li":
            self._nl(1)
            depth = max(len(self.lists) - 1, 0)
            counter = self.lists[-1] if self.lists else [-1]
            if counter[0] >= 0:
                counter[0] += 1
                self.out.append("  " * depth + f"{counter[0]}. ")
            else:
                self.out.append("  " * depth + "- ")
        elif tag == "tr":
            self._nl(1)
            self.cells = 0
        elif tag in ("td", "th"):
            self.out.append("| " if self.cells == 0 else " | ")
            self.cells += 1
        elif tag in ("strong", "b"):
            self.out.append("**")
        elif tag in ("em", "i"):
            self.out.append("*")
        elif tag == "a":
            self.href.append(a.get("href"))
        elif tag == "img":
            src = a.get("src") or ""
            if src:
                self.images.append((src, a.get("alt") or ""))
        elif tag in _BLOCK:
            self._nl(2)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(self.skip - 1, 0)
        elif tag in _HEADINGS or tag in ("p", "blockquote", "table"):
            self._nl(2)
        elif tag == "pre":
            self._nl(1)
            self.out.append("```")
            self._nl(2)
            self.pre = max(self.pre - 1, 0)
        elif tag == "code" and not self.pre:
            self.out.append("`")
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._nl(1 if self.lists else 2)
        elif tag == "tr" and self.cells:
            self.out.append(" |")
        elif tag in ("strong", "b"):
            self.out.append("**")
        elif tag in ("em", "i"):
            self.out.append("*")
        elif tag == "a":
            href = self.href.pop() if self.href else None
            if href and href.startswith(("http://", "https://")):
                self.out.append(f" ({href})")
        elif tag in _BLOCK:
            self._nl(2)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.out.append(data)
            return
        text = _SPACES.sub(" ", data)
        if text.strip() or (self.out and not self.out[-1].endswith((" ", "\n"))):
            self.out.append(text)

    def text(self) -> str:
        s = "".join(self.out)
        s = "\n".join(line.rstrip() for line in s.split("\n"))
        return _BLANKS.sub("\n\n", s).strip()


def html_to_text(html: str) -> tuple[str, list[tuple[str, str]]]:
    """(text, [(image src, alt)]) of a fragment of sanitised HTML. Malformed
    markup is read as far as it goes; nothing here raises on bad input."""
    if "<" not in html:
        import html as _html

        return _html.unescape(html).strip(), []
    p = _Text()
    p.feed(html)
    p.close()
    return p.text(), p.images


PROVIDER = Provider(
    name=NAME,
    display_name="Gemini Apps (Takeout)",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=141,
    records=Records(usage=False, models=False, branches=True, thinking=False, subagents=False),
    side_file=_side_file,
)
