"""Gemini Apps activity from Google Takeout, the HTML form (docs/providers.md,
"gemini-apps-html"): ``Takeout/My Activity/Gemini Apps/MyActivity.html``, what
Takeout writes unless JSON is chosen for My Activity.

One card per activity record, newest first, inside ``<div class="mdl-grid">``::

    <div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">
      <div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">Gemini Apps<br></p></div>
      <div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">
        Prompted&nbsp;<prompt><br>[<subtitle line><br>]...<time><br><the response HTML></div>
      <div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1 mdl-typography--text-right">[images]</div>
      <div class="content-cell mdl-cell mdl-cell--12-col mdl-typography--caption">
        <b>Products:</b><br>&emsp;Gemini Apps<br>[<b>Details:</b><br>&emsp;...<br>]<b>Why is this here?</b>...</div>
    </div></div>

Subtitle lines are the JSON form's ``subtitles`` (``Attached 1 file.``, ``-
<a href="file">name</a>``, a Gem's ``... was used in this chat.``). The time is
the exporting account's local time: ``Sep 14, 2025, 1:30:41 AM PDT`` (en-US;
newer exports put a narrow no-break space before AM/PM, some write
``GMT-03:00``) or ``18 Sept 2025, 12:02:52 CET`` (en-GB).

Each card is turned into the record the JSON form holds (header, title,
subtitles, time, safeHtmlItem, products, details, imageFile) and converted by
the JSON form's own code (``gemini_apps.record_conversation``): both forms give
the same conversations under the same ids (``gemini-apps:derived-...``). What
the HTML cannot tell: several drafts of one response (the JSON's several
``safeHtmlItem``) run together in one reply, and times are to the second.

The file is read as a stream, card by card (an export runs to tens of MB).
Scripts and styles are dropped; the response HTML is rebuilt from the parsed
tags and text (so ``meta.html`` holds no script either) and converted to text
like the JSON form's. A card of another Google product (its response cell holds
nothing after the time) is counted, not imported.

Sniffing is by content: the Takeout card markup with a Gemini Apps (or Bard)
header among the first cards. Other products' My Activity pages are side files,
skipped quietly.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from html import escape, unescape
from html.parser import HTMLParser
from typing import Any, BinaryIO, Final
from urllib.parse import unquote

from .. import models as m
from ..errors import ParseError
from .assemble import guarded
from .base import Head, Provider, Records
from .common import ParseContext, skip_on_error
from .gemini_apps import KNOWN_HEADERS, State, record_conversation, report

NAME = "gemini-apps-html"
KIND: Final = "text"  # Final: a Literal for Provider(kind=...)

_CHUNK = 1 << 20
_HEADER = re.compile(r'class="header-cell[^"]*"[^>]*>\s*<p[^>]*>([^<]{0,200})<br', re.I)
_VOID = frozenset({"br", "img", "hr", "input", "meta", "link", "wbr", "source", "area", "col", "embed", "param"})
_BLOCK = frozenset(
    {"p", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "blockquote", "hr", "figure", "section"}
)
_DROPPED = frozenset({"script", "style"})


# ---------------------------------------------------------------- sniffing


def _headers(head: Head) -> list[str]:
    """The card headers in the head of a My Activity page; none for any other text."""
    if head.kind != "text" or "outer-cell" not in head.text or "content-cell" not in head.text:
        return []
    return [" ".join(unescape(h).split()) for h in _HEADER.findall(head.text)]


def sniff(head: Head) -> bool:
    return any(h in KNOWN_HEADERS for h in _headers(head))


def _side_file(head: Head) -> bool:
    """Another Google product's My Activity page (YouTube, Search...)."""
    headers = _headers(head)
    return bool(headers) and not any(h in KNOWN_HEADERS for h in headers)


# ---------------------------------------------------------------- times


_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for name in names
}
_CLOCK = r"(?P<h>\d{1,2}):(?P<min>\d\d)(?::(?P<s>\d\d))?(?: ?(?P<ampm>[AaPp]\.? ?[Mm]\.?))?(?: (?P<zone>\S+))?"
_US = re.compile(r"(?P<mon>[A-Za-z]{3,9})\.? (?P<day>\d{1,2}), (?P<year>\d{4}),? " + _CLOCK)
_GB = re.compile(r"(?P<day>\d{1,2}) (?P<mon>[A-Za-z]{3,9})\.? (?P<year>\d{4}),? " + _CLOCK)
_OFFSET = re.compile(r"(?:GMT|UTC)(?:(?P<sign>[-+\u2212])(?P<oh>\d{1,2})(?::?(?P<om>\d\d))?)?")
# the zone names English exports write, each in its usual English-locale sense (CST: US
# Central, IST: India, BST: British summer time, AST: Atlantic)
_ZONES = {
    "Z": 0.0, "WET": 0.0, "WEST": 1.0, "BST": 1.0, "IST": 5.5, "CET": 1.0, "CEST": 2.0, "MET": 1.0,
    "MEST": 2.0, "EET": 2.0, "EEST": 3.0, "MSK": 3.0, "TRT": 3.0, "SAST": 2.0, "WAT": 1.0, "CAT": 2.0,
    "EAT": 3.0, "GST": 4.0, "PKT": 5.0, "NPT": 5.75, "ICT": 7.0, "WIB": 7.0, "HKT": 8.0, "SGT": 8.0,
    "PHT": 8.0, "AWST": 8.0, "JST": 9.0, "KST": 9.0, "ACST": 9.5, "ACDT": 10.5, "AEST": 10.0,
    "AEDT": 11.0, "NZST": 12.0, "NZDT": 13.0, "HST": -10.0, "HDT": -9.0, "AKST": -9.0, "AKDT": -8.0,
    "PST": -8.0, "PDT": -7.0, "MST": -7.0, "MDT": -6.0, "CST": -6.0, "CDT": -5.0, "EST": -5.0,
    "EDT": -4.0, "AST": -4.0, "ADT": -3.0, "NST": -3.5, "NDT": -2.5, "BRT": -3.0, "ART": -3.0,
    "CLT": -4.0, "CLST": -3.0,
}  # fmt: skip
_TIME_LIKE = (re.compile(r"\d{1,2}:\d\d"), re.compile(r"\d{4}"))


def takeout_time(text: str) -> datetime | None:
    """A card's time (``Sep 14, 2025, 1:30:41 AM PDT``, ``18 Sept 2025, 12:02:52 CET``,
    ``May 19, 2026, 7:07:02 PM GMT-03:00``) in UTC; None for any other form, a zone
    not known here, or a date that does not exist. No zone at all: UTC (old exports)."""
    s = " ".join(text.split())  # no-break and narrow no-break spaces too
    found = _US.fullmatch(s) or _GB.fullmatch(s)
    if found is None:
        return None
    g = found.groupdict()
    month = _MONTHS.get(g["mon"].lower())
    offset = _zone_offset(g["zone"])
    if month is None or offset is None:
        return None
    hour = int(g["h"])
    if g["ampm"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if g["ampm"][0] in "Pp" else 0)
    try:
        local = datetime(int(g["year"]), month, int(g["day"]), hour, int(g["min"]), int(g["s"] or 0), tzinfo=UTC)
        return local - offset
    except (ValueError, OverflowError):
        return None


def _zone_offset(zone: str | None) -> timedelta | None:
    if not zone:
        return timedelta(0)
    m_ = _OFFSET.fullmatch(zone)
    if m_:
        if not m_["sign"]:
            return timedelta(0)
        hours, minutes = int(m_["oh"]), int(m_["om"] or 0)
        if hours > 14 or minutes > 59:
            return None
        sign = -1 if m_["sign"] in "-\u2212" else 1
        return sign * timedelta(hours=hours, minutes=minutes)
    hours_f = _ZONES.get(zone.upper())
    return None if hours_f is None else timedelta(hours=hours_f)


def _looks_like_time(text: str) -> bool:
    s = " ".join(text.split())
    return len(s) <= 60 and all(p.search(s) for p in _TIME_LIKE)


# ---------------------------------------------------------------- the cards


class _Line:
    """One ``<br>``-separated line of a cell: its text and the first link in it."""

    __slots__ = ("text", "href", "bold")

    def __init__(self) -> None:
        self.text = ""
        self.href: str | None = None
        self.bold = ""  # the text inside <b> (a caption's "Products:")


class _Card:
    """One activity card as it is read: its header, the lines of its response cell
    up to the time, the response after it, the right-hand cell's files and the caption."""

    def __init__(self) -> None:
        self.header = ""
        self.lines: list[_Line] = [_Line()]  # the response cell up to the time: title, subtitles, time
        self.time_at: int | None = None  # the index of the time line, once seen
        self.reply: list[str] = []  # the response HTML after the time, rebuilt
        self.replied = False  # the response holds text or an image (else: no response, as in the JSON form)
        self.right: list[str] = []  # images and links of the right-hand cell
        self.caption: list[_Line] = [_Line()]
        self.bold = 0

    # the response cell

    def body_start(self, tag: str, attrs: dict[str, str | None], raw: str) -> None:
        if self.time_at is not None:
            self.reply.append(raw)
            self.replied = self.replied or tag == "img"
            return
        if tag == "br" or tag in _BLOCK:
            self._end_line()
            if self.time_at is not None and tag != "br":
                self.reply.append(raw)  # the response starts right after the time, without a <br>
        elif tag == "a" and self.lines[-1].href is None:
            self.lines[-1].href = attrs.get("href")
        elif tag == "img" and attrs.get("src"):
            self.right.append(attrs["src"] or "")

    def body_end(self, tag: str) -> None:
        if self.time_at is not None and tag not in _VOID:
            self.reply.append(f"</{tag}>")

    def body_data(self, data: str) -> None:
        if self.time_at is not None:
            self.reply.append(escape(data, quote=False))
            self.replied = self.replied or bool(data.strip())
        else:
            self.lines[-1].text += data

    def _end_line(self) -> None:
        line = self.lines[-1]
        if not line.text.strip() and line.href is None:
            return
        if len(self.lines) > 1 and _looks_like_time(line.text) and line.href is None:
            self.time_at = len(self.lines) - 1
        self.lines.append(_Line())

    # the other cells

    def caption_start(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag == "br":
            self.caption.append(_Line())
        elif tag == "b":
            self.bold += 1
        elif tag == "a" and self.caption[-1].href is None:
            self.caption[-1].href = attrs.get("href")

    def caption_data(self, data: str) -> None:
        self.caption[-1].text += data
        if self.bold:
            self.caption[-1].bold += data

    def finish(self) -> None:
        if self.time_at is None:
            self._end_line()


class _Cards(HTMLParser):
    """The cards of a My Activity page, as they close (``take()``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done: list[_Card] = []
        self.card: _Card | None = None
        self.seen_cards = False
        self.divs = 0
        self.card_at = 0
        self.cell: str | None = None
        self.cell_at = 0
        self.dropped = 0

    def take(self) -> list[_Card]:
        out, self.done = self.done, []
        return out

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            self.dropped += 1
            return
        if self.dropped:
            return
        a = dict(attrs)
        if tag == "div":
            self.divs += 1
            classes = set((a.get("class") or "").split())
            if "outer-cell" in classes:  # cards never nest: one left open by a reply's stray <div> ends here
                self._close()
                self.card, self.card_at, self.seen_cards = _Card(), self.divs, True
                return
            if self.card is None:
                return
            cell = _cell(classes)
            if self.cell is None or cell is not None:  # cells never nest either
                self.cell, self.cell_at = cell, self.divs
                return
        card, cell = self.card, self.cell
        if card is None or cell is None:
            return
        if cell == "body":
            card.body_start(tag, a, self.get_starttag_text() or f"<{tag}>")
        elif cell == "caption":
            card.caption_start(tag, a)
        elif cell == "right" and tag in ("img", "a"):
            src = a.get("src" if tag == "img" else "href")
            if src:
                card.right.append(src)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self.dropped = max(self.dropped - 1, 0)
            return
        if self.dropped:
            return
        card = self.card
        if tag == "div":
            depth, self.divs = self.divs, max(self.divs - 1, 0)
            if card is None:
                return
            if self.cell is not None and depth == self.cell_at:
                self.cell = None
                return
            if depth == self.card_at:
                self._close()
                return
        if card is None:
            return
        if self.cell == "body":
            card.body_end(tag)
        elif self.cell == "caption" and tag == "b":
            card.bold = max(card.bold - 1, 0)

    def handle_data(self, data: str) -> None:
        card = self.card
        if self.dropped or card is None or self.cell is None:
            return
        if self.cell == "body":
            card.body_data(data)
        elif self.cell == "caption":
            card.caption_data(data)
        elif self.cell == "header":
            card.header += data

    def _close(self) -> None:
        if self.card is not None:
            self.card.finish()
            self.done.append(self.card)
        self.card, self.cell = None, None

    def end(self) -> bool:
        """Close the page; True when it ended inside a card (that card is taken as it is)."""
        self.close()
        cut = self.card is not None
        self._close()
        return cut


def _cell(classes: set[str]) -> str | None:
    if "header-cell" in classes:
        return "header"
    if "content-cell" not in classes:
        return None
    if "mdl-typography--text-right" in classes:
        return "right"
    if "mdl-typography--caption" in classes:
        return "caption"
    return "body" if "mdl-typography--body-1" in classes else None


# ---------------------------------------------------------------- a card as the JSON form's record


def card_record(card: _Card) -> tuple[dict[str, Any], str | None, bool]:
    """(the JSON form's record for ``card``, the time as written, whether the time was read)."""
    lines = [ln for ln in card.lines if ln.text.strip() or ln.href]
    end = card.time_at if card.time_at is not None else len(lines)
    title_line = lines[0] if lines else _Line()
    rec: dict[str, Any] = {
        "header": " ".join(card.header.split()),
        "title": title_line.text.replace("\xa0", " ").strip(),
    }
    if title_line.href:
        rec["titleUrl"] = title_line.href
    subtitles = [_named(ln) for ln in lines[1:end]]
    if subtitles:
        rec["subtitles"] = subtitles
    written = " ".join(lines[end].text.split()) if card.time_at is not None and end < len(lines) else None
    ts = takeout_time(written) if written else None
    rec["time"] = ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else written
    if card.replied:
        rec["safeHtmlItem"] = [{"html": "".join(card.reply).strip()}]
    files = [_local(src) for src in card.right]
    if files:
        rec["imageFile"] = files[0]
        if files[1:]:
            rec["attachedFiles"] = files[1:]
    _caption(card, rec)
    return rec, written, ts is not None


def _named(line: _Line) -> dict[str, str]:
    out = {"name": line.text.replace("\xa0", " ").strip()}
    if line.href:
        out["url"] = _local(line.href)
    return out


def _local(href: str) -> str:
    """A link as the JSON form writes it: a file beside the page unquoted, a web address as it is."""
    return href if re.match(r"[a-z][a-z0-9+.-]*:", href, re.I) else unquote(href)


def _caption(card: _Card, rec: dict[str, Any]) -> None:
    key = ""
    for line in card.caption:
        text = " ".join(line.text.split())
        if not text:
            continue
        if line.bold and text == " ".join(line.bold.split()):
            key = text
        elif key == "Products:":
            rec.setdefault("products", []).append(text)
        elif key == "Details:":
            rec.setdefault("details", []).append(_named(line) | {"name": text})


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    cards = _Cards()
    state = State()
    index, cut = 0, False
    while True:
        chunk = stream.read(_CHUNK)
        cards.feed(decoder.decode(chunk, final=not chunk))
        if not chunk:
            cut = cards.end()
        for card in cards.take():
            yield from guarded(skip_on_error(ctx, f"record {index}"), partial(_conversation, card, index, state, ctx))
            index += 1
        if not chunk:
            break
    if not cards.seen_cards:
        raise ParseError("not a Google My Activity page (no activity cards)")
    if cut:
        ctx.warn(f"the page ends inside record {index - 1} (cut short?): read as far as it goes")
    report(state, ctx)


def _conversation(card: _Card, index: int, state: State, ctx: ParseContext) -> m.Conversation | None:
    rec, written, read = card_record(card)
    if written is not None and not read:
        state.unread_times += 1
    conv = record_conversation(rec, index, state, ctx)
    if conv is not None:
        conv.meta["form"] = "html"
        if written:
            conv.meta["time_text"] = written
    return conv


PROVIDER = Provider(
    name=NAME,
    display_name="Gemini Apps (Takeout HTML)",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=140,
    records=Records(usage=False, models=False, branches=False, thinking=False, subagents=False),
    side_file=_side_file,
    own_conversations=False,  # archived as gemini-apps, the JSON form's conversations, under the same ids
)
