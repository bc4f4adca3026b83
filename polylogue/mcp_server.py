"""The MCP server: read-only tools over the archive, for agents (docs/mcp.md).

    polylogue mcp                                   # stdio; what MCP hosts launch
    python -m polylogue.mcp_server --home DIR       # the same, without the CLI

Four tools: ``search``, ``get_conversation``, ``list_conversations`` and
``stats``. Everything goes through ``polylogue.api.Archive`` (a pool of
query_only readers), so the server never writes and keeps working while a sync
runs. Every answer is bounded (see the limits below) and says what it left
out and how to get the rest; a bad id or query is a tool error (isError) with a
clear message, never a crash of the server.
"""

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import anyio
import orjson
from pydantic import Field

from . import __version__
from . import search as searchlang
from .api import Archive
from .errors import PolylogueError
from .fmt import clip, iso_utc, one_line

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError

    _MCP2 = True
except ImportError:  # pragma: no cover - mcp 1.x, where MCPServer was called FastMCP
    # mypy checks against mcp 2.x (pyproject.toml), which has neither name
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[attr-defined,no-redef]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]

    _MCP2 = False
from mcp.types import ToolAnnotations

log = logging.getLogger("polylogue.mcp")

# ------------------------------------------------------------------ bounds (docs/mcp.md)
MAX_SEARCH_LIMIT = 50  # conversations per search call
MAX_LIST_LIMIT = 200  # conversations per list_conversations call
MAX_MESSAGES = 100  # messages per get_conversation call (limit)
MAX_BEFORE_AFTER = 50  # each of before/after around a message
DEFAULT_MAX_CHARS = 4000  # characters of one message's text
MAX_MAX_CHARS = 20_000
MAX_RESPONSE_BYTES = 60_000  # one tool result, as UTF-8 JSON
MAX_TITLE_CHARS = 200
MAX_QUERY_CHARS = 2000
MAX_CHILDREN = 20  # child conversation ids listed in get_conversation
MAX_LISTED_IDS = 20  # message ids an ambiguous `around` prefix lists
MAX_OFFSET = 2**31 - 1  # offset, char_offset, before/after: past any real archive, within SQLite's integers
TOOL_PREVIEW_CHARS = 100  # the input shown on a summarised tool-call line

# the provider: values, from the registry (providers/__init__.py): a new provider appears here by itself
PROVIDER_NAMES = ", ".join(Archive.providers())
PROVIDER_DISPLAY_NAMES = ", ".join(Archive.providers().values())

QUERY_SYNTAX = f"""\
Query language (the same as `polylogue search`):
  oauth refresh              both words, anywhere in one message (AND)
  "connection reset"         an exact phrase
  pars*                      a prefix (parse, parser, parsing...)
  redis OR memcached         either word
  -java   -"old api"         exclude messages containing it
  provider:codex             {PROVIDER_NAMES}
  role:user                  user (typed by a person), assistant, tool, system
  kind:thinking              text, thinking, tool_use, tool_result (which part of a message)
  since:2025-01-01  until:yesterday   ISO dates or today, yesterday, "last week", "3 days ago"
  title:deploy  project:webshop  model:opus  has:tools (thinking|tools|attachments)
  id:claude-code:4f2         a conversation id prefix
Code identifiers work as typed: snake_case, dotted.names, path/to/file.py, --flags.
Examples:
  "connection reset" provider:codex since:"last week"
  pars* -java kind:thinking
  title:deploy role:user until:2025-06-30"""

INSTRUCTIONS = f"""\
Polylogue is a local, read-only archive of the user's past AI conversations
({PROVIDER_DISPLAY_NAMES}). Use `search` to find
where something was discussed, `get_conversation` to read around a hit (pass the
conversation id and the hit's message_id as `around`), `list_conversations` to
browse recent ones, and `stats` for what the archive holds. Answers are bounded
and paginated: each says how many things matched and which slice it returned.

{QUERY_SYNTAX}"""


# ------------------------------------------------------------------ helpers


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _size(value: Any) -> int:
    return len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def _clamp(name: str, value: int, low: int, high: int, notes: list[str]) -> int:
    if value < low:
        raise ToolError(f"{name} must be at least {low} (got {_number(value)})")
    if value > high:
        notes.append(f"{name}={_number(value)} is above the maximum of {high}; clamped to {high}")
        return high
    return value


def _number(value: int) -> str:
    """An argument as the answer quotes it: str() of a huge int is slow, or refused past 4,300 digits."""
    return str(value) if value.bit_length() <= 256 else f"a {value.bit_length():,}-bit number"


def _nonneg(name: str, value: int) -> int:
    if value < 0:
        raise ToolError(f"{name} must be 0 or more (got {_number(value)})")
    if value > MAX_OFFSET:  # SQLite's integers end at 2^63; no archive holds this many of anything
        raise ToolError(f"{name} must be at most {MAX_OFFSET:,} (got {_number(value)})")
    return value


def _split(value: str | None) -> list[str] | None:
    """'claude,codex' -> ['claude', 'codex'] for the enumerated filters."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts or None


def _conv_brief(c: dict[str, Any]) -> dict[str, Any]:
    """A conversation summary, compact: the fields an agent cites."""
    out: dict[str, Any] = {
        "id": c["id"],
        "title": clip(c.get("title"), MAX_TITLE_CHARS),
        "provider": c["provider"],
        "created_at": c.get("created_at"),
        "updated_at": c.get("updated_at"),
        "messages": c.get("message_count"),
    }
    if c.get("project"):
        out["project"] = c["project"]
    if c.get("parent_id"):
        out["parent_id"] = c["parent_id"]
    return out


def _fit(items: list[dict[str, Any]], envelope: dict[str, Any], budget: int = MAX_RESPONSE_BYTES) -> int:
    """How many of ``items`` fit in the response budget next to ``envelope``."""
    used = _size(envelope) + 1500  # room for the showing line and notes added afterwards
    for i, item in enumerate(items):
        used += _size(item) + 1
        if used > budget:
            return i
    return len(items)


# ------------------------------------------------------------------ message rendering


def _message_text(m, *, include_thinking: bool, include_tools: bool) -> str:
    from .models import ATTACHMENT, IMAGE, OPAQUE, TEXT, THINKING, TOOL_RESULT, TOOL_USE
    from .textutil import dumps, tool_input_text

    parts: list[str] = []
    for b in m.blocks:
        if b.type == TEXT:
            if b.text:
                parts.append(b.text)
        elif b.type == THINKING:
            if include_thinking:
                parts.append("[thinking]\n" + b.text)
            else:
                parts.append(f"[thinking: {len(b.text):,} chars hidden]")
        elif b.type == TOOL_USE:
            name = b.name or "?"
            if include_tools:
                parts.append(f"[tool call: {name}]" + ("" if b.input is None else "\n" + dumps(b.input)))
            else:
                preview = one_line(tool_input_text(b.input, limit=TOOL_PREVIEW_CHARS * 4))
                parts.append(f"[tool call: {name}]" + (f" {clip(preview, TOOL_PREVIEW_CHARS)}" if preview else ""))
        elif b.type == TOOL_RESULT:
            err = " (error)" if b.is_error else ""
            if include_tools:
                parts.append(f"[tool result{err}]\n{b.text}")
            else:
                parts.append(f"[tool result{err}: {len(b.text):,} chars]")
        elif b.type in (IMAGE, ATTACHMENT):
            parts.append(f"[{b.type}: {b.name or 'unnamed'}]" + (f"\n{b.text}" if b.text else ""))
        elif b.type == OPAQUE:
            parts.append("[unsupported block kept in the archive]")
    return "\n\n".join(parts)


# ------------------------------------------------------------------ the tools' logic


class _Tools:
    """Plain functions over an Archive; each returns a JSON-able dict."""

    def __init__(self, archive):
        self.archive = archive

    def _check_home(self) -> None:
        # a local archive is a file; a shared one (PgArchive) says at its first read what is missing
        db_path = getattr(self.archive, "db_path", None)
        if db_path is not None and not db_path.exists():
            raise ToolError(
                f"there is no polylogue archive at {self.archive.home} yet: run `polylogue sync` (or pass --home) first"
            )

    # -------------------------------------------------------------- search
    def search(
        self,
        query: str,
        limit: int,
        offset: int,
        filters: dict[str, Any],
        regex: str | None = None,
        within: str = "conversation",
        mode: str = "auto",
    ) -> dict[str, Any]:
        self._check_home()
        notes: list[str] = []
        limit = _clamp("limit", limit, 0, MAX_SEARCH_LIMIT, notes)
        offset = _nonneg("offset", offset)
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(f"the query is too long ({len(query):,} characters; at most {MAX_QUERY_CHARS:,})")
        if regex is not None and len(regex) > MAX_QUERY_CHARS:
            raise ToolError(f"the regex is too long ({len(regex):,} characters; at most {MAX_QUERY_CHARS:,})")
        q = searchlang.parse(query or "")
        res = self.archive.search(
            q, limit=limit, offset=offset, regex=regex or None, within=within, mode=mode, **filters
        )
        total_c, total_m = res.total_conversations, res.total_messages
        # words, a regex, or role:/kind: alone: each conversation comes with its matching messages
        has_terms = q.has_terms or bool(regex) or any(c.get("hits") for c in res.conversations)
        results = []
        for c in res.conversations:
            brief = _conv_brief(c)
            if has_terms:
                brief["hits"] = [
                    {
                        "message_id": h["message_id"],
                        "role": h["role"],
                        "timestamp": h["timestamp"],
                        "snippet": h["snippet"],
                    }
                    for h in c.get("hits", [])
                ]
            results.append(brief)
        out: dict[str, Any] = {"query": query, "total": {"conversations": total_c, "messages": total_m}}
        if hasattr(res, "meaning_only"):  # meaning ran (asked for, or "auto" on an embedded archive)
            out["mode"], out["meaning_only"] = res.mode, res.meaning_only
        n = _fit(results, out)
        if n < len(results):
            notes.append(
                f"the response size limit ({MAX_RESPONSE_BYTES:,} bytes) cut this page to {n} "
                f"conversations; pass offset={offset + n} for the next ones"
            )
        results = results[:n]
        out["showing"] = _showing("conversations", offset, len(results), total_c, limit)
        if has_terms and results:
            listed = sum(len(r["hits"]) for r in results)
            if listed < total_m:
                notes.append(
                    "each conversation lists at most its 3 best-matching messages "
                    f"({listed} listed here; {total_m} messages match in all). Read around a hit with "
                    "get_conversation(id=<conversation id>, around=<message_id>)."
                )
        notes.extend(res.notes)
        if notes:
            out["notes"] = notes
        if res.did_you_mean:  # little matched: the closest indexed words (docs/mcp.md)
            out["suggestions"] = [s.to_json() for s in res.suggestions]
            out["did_you_mean"] = res.did_you_mean
        out["results"] = results
        return out

    # -------------------------------------------------------------- list
    def list(self, limit: int, offset: int, filters: dict[str, Any]) -> dict[str, Any]:
        self._check_home()
        notes: list[str] = []
        limit = _clamp("limit", limit, 0, MAX_LIST_LIMIT, notes)
        offset = _nonneg("offset", offset)
        # a search without words lists exactly what Archive.list (the CLI's `list`) lists, plus the total
        res = self.archive.search("", limit=limit, offset=offset, **filters)
        results = [_conv_brief(c) for c in res.conversations]
        gone = self.archive.gone([c["id"] for c in results])
        for c in results:
            if c["id"] in gone:
                c["source_gone"] = True  # its file was deleted: the archive holds the only copy
        out: dict[str, Any] = {"total": res.total_conversations}
        n = _fit(results, out)
        if n < len(results):
            notes.append(
                f"the response size limit ({MAX_RESPONSE_BYTES:,} bytes) cut this page to {n} "
                f"conversations; pass offset={offset + n} for the next ones"
            )
        results = results[:n]
        out["showing"] = _showing(
            "conversations", offset, len(results), res.total_conversations, limit, order="most recently updated first"
        )
        if notes:
            out["notes"] = notes
        out["results"] = results
        return out

    # -------------------------------------------------------------- stats
    def stats(self) -> dict[str, Any]:
        self._check_home()
        s = self.archive.stats()
        return {
            "conversations": s["conversations"],
            "messages": s["messages"],
            "by_provider": s["by_provider"],
            "first_at": s["first_at"],
            "last_at": s["last_at"],
            "database_bytes": s["database_bytes"],
            "home": s["home"],
            # whether secrets in what the tools return are masked (docs/privacy.md)
            "secrets_redacted": bool(getattr(self.archive, "redacted", False)),
        }

    # -------------------------------------------------------------- usage_summary
    def usage_summary(self, period: str, since: str | None, until: str | None, group_by: str | None) -> dict[str, Any]:
        from .usage import usage_summary_tool

        self._check_home()
        return usage_summary_tool(self.archive, period, since, until, group_by)

    # -------------------------------------------------------------- get_conversation
    def get(
        self,
        ident: str,
        *,
        around: str | None,
        before: int,
        after: int,
        offset: int,
        limit: int,
        tail: bool,
        include_thinking: bool,
        include_tools: bool,
        active_only: bool,
        max_chars: int,
        char_offset: int,
    ) -> dict[str, Any]:
        self._check_home()
        notes: list[str] = []
        # only the window asked for is read: the count and a message's position come from the index
        conv = self.archive.resolve(ident)
        cid = conv["id"]
        total = self.archive.message_count(cid, active_only=active_only)
        max_chars = _clamp("max_chars", max_chars, 1, MAX_MAX_CHARS, notes)
        char_offset = _nonneg("char_offset", char_offset)
        if around:
            before = _clamp("before", _nonneg("before", before), 0, MAX_BEFORE_AFTER, notes)
            after = _clamp("after", _nonneg("after", after), 0, MAX_BEFORE_AFTER, notes)
            w = _around_window(total, self._find_message(cid, around, active_only), before, after)
        else:
            limit = _clamp("limit", limit, 1, MAX_MESSAGES, notes)
            w = _page_window(total, _nonneg("offset", offset), limit, tail)
        msgs = self.archive.messages(cid, start=w.start, limit=w.end - w.start, active_only=active_only)
        if len(msgs) < w.end - w.start:  # a sync shortened it since it was counted
            end = w.start + len(msgs)
            w = w._replace(end=end, target=w.target if w.target is not None and w.target < end else None)
        out = self._header(conv, total)
        render = _message_renderer(msgs, w.start, cid, include_thinking, include_tools, char_offset)
        kept = _fill_budget(render, _fill_order(w, tail), _size(out) + 1500, max_chars)  # 1500: the showing line, notes
        start, shown_end = (min(kept), max(kept) + 1) if kept else (w.start, w.start)
        rendered = [kept[i] for i in range(start, shown_end)]
        if rendered and len(rendered) < w.end - w.start:
            notes.append(
                f"the response size limit ({MAX_RESPONSE_BYTES:,} bytes) cut this window to messages "
                f"{start}-{shown_end - 1} (asked for {w.start}-{w.end - 1}); the showing line gives "
                "the offsets of the messages before and after"
            )
        if around:
            out["around"] = clip(around, MAX_TITLE_CHARS)
        out["showing"] = _messages_showing(start, shown_end, total, w.page, bool(rendered))
        shown_msgs = msgs[start - w.start : shown_end - w.start]
        notes += _collapsed_notes(shown_msgs, rendered, include_thinking, include_tools, max_chars)
        if notes:
            out["notes"] = notes
        out["messages"] = rendered
        return out

    def _header(self, conv: dict[str, Any], total: int) -> dict[str, Any]:
        """What a get_conversation answer says about the conversation (its summary) itself."""
        header: dict[str, Any] = {
            "id": conv["id"],
            "title": clip(conv["title"], MAX_TITLE_CHARS),
            "provider": conv["provider"],
            "created_at": conv["created_at"],
            "updated_at": conv["updated_at"],
        }
        for key in ("project", "models", "parent_id", "source_gone"):
            if conv.get(key):
                header[key] = conv[key]
        children = self.archive.children(conv["id"])
        if children:
            header["children"] = [c["id"] for c in children[:MAX_CHILDREN]]
            if len(children) > MAX_CHILDREN:
                header["children_total"] = len(children)
        header["message_count"] = total
        return header

    def _find_message(self, cid: str, around: str, active_only: bool) -> int:
        """The position of the message ``around`` names (its id or a unique prefix)."""
        found = self.archive.message_positions(cid, around, active_only=active_only, limit=MAX_LISTED_IDS + 1)
        if len(found) == 1 or (found and found[0][1] == around):
            return found[0][0]
        if found:
            count = f"{len(found)}" if len(found) <= MAX_LISTED_IDS else f"more than {MAX_LISTED_IDS}"
            ids = ", ".join(m for _, m in found[:MAX_LISTED_IDS])
            raise ToolError(f"message id prefix '{around}' matches {count} messages in {cid}: {ids}")
        hint = " (active_only=true hides other branches; try active_only=false)" if active_only else ""
        raise ToolError(
            f"no message '{around}' in conversation {cid}{hint}. Message ids come from search hits "
            "(message_id) or from get_conversation's messages (id)."
        )


class _Window(NamedTuple):
    """The messages a get_conversation call asks for: positions [start, end)."""

    start: int
    end: int
    page: int  # the page size the showing line offers for the next call
    target: int | None = None  # the message `around` names


def _around_window(total: int, idx: int, before: int, after: int) -> _Window:
    return _Window(max(0, idx - before), min(total, idx + after + 1), before + after + 1, idx)


def _page_window(total: int, offset: int, limit: int, tail: bool) -> _Window:
    if tail:  # offset counts back from the end
        end = max(0, total - offset)
        return _Window(max(0, end - limit), end, limit)
    start = min(offset, total)
    return _Window(start, min(total, start + limit), limit)


def _fill_order(w: _Window, tail: bool) -> list[int]:
    """The size budget fills from the message that matters most outwards: the
    target of `around`, the first message of a head page, the last of a tail page."""
    if w.target is None:
        return list(range(w.end - 1, w.start - 1, -1)) if tail else list(range(w.start, w.end))
    idx = w.target
    order = [idx]
    for k in range(1, max(idx - w.start, w.end - 1 - idx) + 1):
        order += [j for j in (idx - k, idx + k) if w.start <= j < w.end]
    return order


def _message_renderer(
    msgs, first: int, conv_id: str, include_thinking: bool, include_tools: bool, char_offset: int
) -> Callable[[int, int], dict[str, Any]]:
    """(position, max_chars) -> the message as get_conversation shows it; ``msgs``
    are the window's messages, the first at position ``first``."""

    def more_hint(mid: str, next_char: int) -> str:
        extra = "".join(
            f", {k}=true" for k, v in (("include_thinking", include_thinking), ("include_tools", include_tools)) if v
        )
        return f"get_conversation(id={conv_id!r}, around={mid!r}, before=0, after=0, char_offset={next_char}{extra})"

    def render(i: int, chars: int) -> dict[str, Any]:
        return _message_dict(
            msgs[i - first],
            i,
            include_thinking=include_thinking,
            include_tools=include_tools,
            max_chars=chars,
            char_offset=char_offset,
            hint=more_hint,
        )

    return render


def _fill_budget(
    render: Callable[[int, int], dict[str, Any]], order: list[int], used: int, max_chars: int
) -> dict[int, dict[str, Any]]:
    """Rendered messages by position, in ``order`` while they fit MAX_RESPONSE_BYTES
    (``used`` already spent). The first one always shows: shortened until it fits."""
    kept: dict[int, dict[str, Any]] = {}
    for i in order:
        d = render(i, max_chars)
        if not kept:
            chars = max_chars
            while used + _size(d) > MAX_RESPONSE_BYTES and chars > 100:
                chars //= 2
                d = render(i, chars)
        elif used + _size(d) > MAX_RESPONSE_BYTES:
            break
        kept[i] = d
        used += _size(d) + 1
    return kept


def _messages_showing(start: int, shown_end: int, total: int, page: int, shown: bool) -> str:
    """The showing line: which messages these are, and the calls for those around them."""
    if shown:
        span = f"messages {start}-{shown_end - 1} of {total} (0-based positions)"
    elif total == 0:
        span = "this conversation has no messages"
    else:
        span = f"no messages in this range: the conversation has {total} (positions 0-{total - 1})"
    page = min(page, MAX_MESSAGES)
    more = []
    if shown and start > 0:
        prev = max(0, start - page)
        more.append(f"earlier: offset={prev}, limit={start - prev}")
    if shown and shown_end < total:
        more.append(f"later: offset={shown_end}, limit={page}")
    return span + ("; " + "; ".join(more) if more else "")


def _collapsed_notes(
    shown_msgs, rendered: list[dict[str, Any]], include_thinking: bool, include_tools: bool, max_chars: int
) -> list[str]:
    """Notes on what the shown messages leave out, and how to see it."""
    notes = []
    if not (include_thinking and include_tools) and any(
        b.type in ("thinking", "tool_use", "tool_result") for m in shown_msgs for b in m.blocks
    ):
        notes.append(
            "thinking and tool calls/results are summarised to one line; pass include_thinking=true "
            "and/or include_tools=true to see them"
        )
    if any("truncated" in r for r in rendered):
        notes.append(
            f"long messages are cut at max_chars={max_chars:,} characters; each cut message says how to read the rest"
        )
    return notes


def _showing(what: str, offset: int, shown: int, total: int, limit: int, order: str = "") -> str:
    if total == 0:
        return f"no {what} matched"
    if limit == 0:
        return f"{total} {what} matched; limit=0 returns counts only"
    if shown == 0:
        return f"nothing at offset={offset}: there are {total} {what} (offsets 0-{total - 1})"
    text = f"showing {what} {offset + 1}-{offset + shown} of {total}"
    if offset == 0 and shown == total:
        text += " (all)"
    if order:
        text += f", {order}"
    if offset + shown < total:
        text += f"; pass offset={offset + shown} for more"
    return text


def _message_dict(
    m,
    i: int,
    *,
    include_thinking: bool,
    include_tools: bool,
    max_chars: int,
    char_offset: int,
    hint: Callable[[str, int], str],
) -> dict[str, Any]:
    text = _message_text(m, include_thinking=include_thinking, include_tools=include_tools)
    d: dict[str, Any] = {"i": i, "id": m.id, "role": m.role, "timestamp": iso_utc(m.timestamp)}
    if m.context:
        d["context"] = True  # injected (system prompt, environment...), not typed by a person
    if not m.active:
        d["branch"] = "other"  # not on the active path
    if m.sidechain:
        d["sidechain"] = True
    if m.model and m.role == "assistant":
        d["model"] = m.model
    piece = text[char_offset : char_offset + max_chars]
    d["text"] = piece
    end = char_offset + len(piece)
    if char_offset or end < len(text):
        cut = f"characters {char_offset:,}-{end:,} of {len(text):,}"
        d["truncated"] = cut + (f"; the rest: {hint(m.id, end)}" if end < len(text) else "")
    return d


# ------------------------------------------------------------------ the server

SEARCH_DOC = f"""Full-text search over every archived AI conversation (all branches, thinking, tool calls and \
tool output). Results are grouped by conversation, best first, and are cited: conversation id, title, \
provider, dates, and for each conversation up to 3 matching messages (message_id, role, timestamp, snippet). \
The answer ALWAYS gives the total number of matching conversations and messages and says which slice it \
returned ("showing conversations 1-10 of 57; pass offset=10 for more"). limit is at most {MAX_SEARCH_LIMIT} \
(larger values are clamped, and the answer says so); limit=0 returns only the counts. A query with only \
filters (no words) lists the matching conversations, newest first. To read around a hit, call \
get_conversation(id=<conversation id>, around=<message_id>). A query that cannot be parsed is an error that \
points at the problem.

{QUERY_SYNTAX}

The keyword filters (provider, since, until, role, kind, project, model, has) are ANDed with the query; \
provider, role, kind and has take comma-separated alternatives (provider="claude,claude-code")."""

GET_DOC = f"""Read messages of one archived conversation. id is a conversation id ("claude-code:5c1e0f2a-..."), \
a provider id, or a unique prefix (an ambiguous prefix is an error listing the candidates). Three ways to \
pick messages: around=<message_id> (from a search hit) returns that message with `before`/`after` neighbours \
(each at most {MAX_BEFORE_AFTER}); otherwise offset/limit page from the start (limit at most {MAX_MESSAGES}), \
or from the end with tail=true (tail=true, offset=0 gives the last `limit` messages). The answer gives the \
conversation's total message_count and which positions it returned (0-based, with the offsets for the \
previous/next page). Each message's text is cut at max_chars (default {DEFAULT_MAX_CHARS:,}, at most \
{MAX_MAX_CHARS:,}); a cut message says how to read the rest with char_offset. By default thinking and tool \
calls/results are summarised to one line ("[tool call: Bash] pytest -q", "[tool result: 5,120 chars]", \
"[thinking: 800 chars hidden]"); pass include_thinking=true / include_tools=true to see them in full. \
Messages are in stored order and include every branch; messages off the active path carry branch="other" \
(active_only=true drops them). context=true marks injected context (system prompts, environment), not text \
typed by a person. One answer is at most about {MAX_RESPONSE_BYTES // 1000} KB; a window cut by that limit \
says so."""

LIST_DOC = f"""List archived conversations, most recently updated first, optionally filtered by provider \
({PROVIDER_NAMES}; comma-separated for several), date (since/until: \
2025-01-31, today, yesterday, "last week", "3 days ago"; compared with the last update) or project \
(a substring of the working directory / project name). Returns the total number of matching conversations \
and the page shown (limit at most {MAX_LIST_LIMIT}, clamped with a note; offset to page on). Each entry \
has id, title, provider, created_at, updated_at, message count and project. To find conversations by \
content use `search`; to read one use `get_conversation`."""

STATS_DOC = """What the archive holds: conversation and message counts in total and by provider, the date \
range (first_at, last_at), the database size and the archive folder; secrets_redacted says whether secrets \
in the text the tools return are masked ([REDACTED kind …last4])."""

USAGE_DOC = """Tokens and cost, each API response counted once (forks, resumed sessions and streamed \
records are not counted twice). period: daily, weekly, monthly, session, project or model; since/until: dates \
as in search; group_by="model" splits each row by model. A cost is null (unknown) when a model has no price, \
never 0. At most 100 rows; a note says when rows were left out."""

# by the wire (camelCase) names: mcp 1.x knows only those, 2.x accepts both (its stubs show snake_case only)
_RO = ToolAnnotations.model_validate(
    {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}
)


def build_server(archive) -> Any:
    """An MCP server (SDK MCPServer / FastMCP) exposing read-only tools over ``archive``."""
    tools = _Tools(archive)
    kwargs: dict[str, Any] = {"instructions": INSTRUCTIONS, "log_level": "WARNING"}
    if _MCP2:
        kwargs["version"] = __version__
    server = _Server("polylogue", **kwargs)

    async def guarded(fn: Callable[[], dict[str, Any]]) -> str:
        # the archive is read in a worker thread, so the event loop answers other calls
        # meanwhile (a search stopped by its regex bound takes seconds; store/fts.py)
        return await anyio.to_thread.run_sync(lambda: _answer(fn))

    def _answer(fn: Callable[[], dict[str, Any]]) -> str:
        try:
            return _dumps(fn())
        except ToolError:
            raise
        except PolylogueError as e:  # QueryError, NotFound, Ambiguous...
            raise ToolError(str(e)) from None
        except Exception as e:  # a bug or a broken database: an error result, never a dead server
            log.exception("polylogue MCP tool failed")
            raise ToolError(f"internal error: {type(e).__name__}: {e}") from None

    async def search(
        query: Annotated[
            str,
            Field(description="The search query, in the query language above. May be empty when filters are given."),
        ],
        limit: Annotated[
            int, Field(description=f"Conversations per page, 0-{MAX_SEARCH_LIMIT} (0 = counts only).")
        ] = 10,
        offset: Annotated[int, Field(description="Conversations to skip (for the next page).")] = 0,
        provider: Annotated[
            str | None,
            Field(description=f"{PROVIDER_NAMES}; comma-separated for several."),
        ] = None,
        since: Annotated[
            str | None, Field(description='From this date: 2025-01-31, yesterday, "last week", "3 days ago".')
        ] = None,
        until: Annotated[str | None, Field(description="Up to this date (a bare date includes that day).")] = None,
        role: Annotated[
            str | None, Field(description="user, assistant, tool, system; comma-separated for several.")
        ] = None,
        kind: Annotated[
            str | None, Field(description="text, thinking, tool_use, tool_result; comma-separated for several.")
        ] = None,
        project: Annotated[str | None, Field(description="Substring of the project / working directory.")] = None,
        model: Annotated[str | None, Field(description="Substring of the model name (opus, gpt-4o...).")] = None,
        has: Annotated[str | None, Field(description="thinking, tools, attachments.")] = None,
        regex: Annotated[
            str | None,
            Field(
                description="A Python regular expression the message text must "
                "match, tried on the messages the query matches (or, "
                "with no words, every message the filters allow). The "
                "work is bounded; a note says when it stopped early "
                "and the totals then count what was tried."
            ),
        ] = None,
        within: Annotated[
            Literal["conversation", "message"],
            Field(
                description="conversation (default): every word somewhere in a conversation, its messages "
                "or title; message: every word in one message."
            ),
        ] = "conversation",
        mode: Annotated[
            Literal["lexical", "semantic", "hybrid", "auto"],
            Field(
                description="auto (default): hybrid once the archive is fully embedded (`polylogue embed`), "
                "else lexical; lexical: words only; semantic: by meaning (finds a conversation sharing no word "
                "with the query); hybrid: words and meaning fused. Totals always count word matches."
            ),
        ] = "auto",
    ) -> str:
        filters = {
            "provider": _split(provider),
            "since": since,
            "until": until,
            "role": _split(role),
            "kind": _split(kind),
            "project": project,
            "model": model,
            "has": _split(has),
        }
        return await guarded(lambda: tools.search(query, limit, offset, filters, regex, within, mode))

    async def get_conversation(
        id: Annotated[
            str, Field(description="Conversation id (provider:provider_id), provider id, or a unique prefix.")
        ],
        around: Annotated[
            str | None, Field(description="A message id (e.g. a search hit's message_id): return the window around it.")
        ] = None,
        before: Annotated[int, Field(description=f"With around: messages before it (0-{MAX_BEFORE_AFTER}).")] = 5,
        after: Annotated[int, Field(description=f"With around: messages after it (0-{MAX_BEFORE_AFTER}).")] = 5,
        offset: Annotated[
            int, Field(description="Without around: messages to skip from the start (or from the end with tail=true).")
        ] = 0,
        limit: Annotated[int, Field(description=f"Without around: messages to return (1-{MAX_MESSAGES}).")] = 20,
        tail: Annotated[bool, Field(description="Page from the end: the last `limit` messages.")] = False,
        include_thinking: Annotated[
            bool, Field(description="Show thinking in full instead of a one-line summary.")
        ] = False,
        include_tools: Annotated[
            bool, Field(description="Show tool call inputs and tool output in full instead of one-line summaries.")
        ] = False,
        active_only: Annotated[bool, Field(description="Only messages on the active branch.")] = False,
        max_chars: Annotated[
            int, Field(description=f"Characters of each message's text (1-{MAX_MAX_CHARS:,}).")
        ] = DEFAULT_MAX_CHARS,
        char_offset: Annotated[
            int, Field(description="Start each message's text at this character (to read the rest of a long message).")
        ] = 0,
    ) -> str:
        return await guarded(
            lambda: tools.get(
                id,
                around=around,
                before=before,
                after=after,
                offset=offset,
                limit=limit,
                tail=tail,
                include_thinking=include_thinking,
                include_tools=include_tools,
                active_only=active_only,
                max_chars=max_chars,
                char_offset=char_offset,
            )
        )

    async def list_conversations(
        limit: Annotated[int, Field(description=f"Conversations per page, 0-{MAX_LIST_LIMIT}.")] = 20,
        offset: Annotated[int, Field(description="Conversations to skip (for the next page).")] = 0,
        provider: Annotated[
            str | None,
            Field(description=f"{PROVIDER_NAMES}; comma-separated for several."),
        ] = None,
        since: Annotated[
            str | None, Field(description='Updated on or after: 2025-01-31, yesterday, "last week".')
        ] = None,
        until: Annotated[str | None, Field(description="Updated before the end of this date.")] = None,
        project: Annotated[str | None, Field(description="Substring of the project / working directory.")] = None,
    ) -> str:
        filters = {"provider": _split(provider), "since": since, "until": until, "project": project}
        return await guarded(lambda: tools.list(limit, offset, filters))

    async def stats() -> str:
        return await guarded(tools.stats)

    async def usage_summary(
        period: Annotated[
            Literal["daily", "weekly", "monthly", "session", "project", "model"],
            Field(description="How to group: by day, week, month, session, project or model."),
        ] = "daily",
        since: Annotated[str | None, Field(description='From this date: 2025-01-31, "last month".')] = None,
        until: Annotated[str | None, Field(description="Up to this date (a bare date includes that day).")] = None,
        group_by: Annotated[Literal["model"] | None, Field(description='"model": split each row by model.')] = None,
    ) -> str:
        return await guarded(lambda: tools.usage_summary(period, since, until, group_by))

    for fn, title, doc in (
        (search, "Search archived AI conversations", SEARCH_DOC),
        (get_conversation, "Read an archived conversation", GET_DOC),
        (list_conversations, "List archived conversations", LIST_DOC),
        (stats, "Archive statistics", STATS_DOC),
        (usage_summary, "Token usage and cost", USAGE_DOC),
    ):
        server.add_tool(fn, title=title, description=doc, annotations=_RO, structured_output=False)
    return server


def serve(home: str | None = None, *, url: str | None = None, insecure: bool = False) -> None:
    """Run the MCP server over stdio until the client closes it (blocking). With
    ``url``, over the shared PostgreSQL archive (polylogue.pg_archive.PgArchive);
    the local ``home`` still gives the redaction switch and the price table."""
    from .paths import default_home
    from .privacy import server_redaction

    folder = Path(home).expanduser() if home else default_home()
    redact, note = server_redaction(folder)
    print(f"polylogue mcp: {note}", file=sys.stderr)  # stderr: stdout carries the protocol
    archive: Any
    if url:
        from .pg_archive import PgArchive

        archive = PgArchive(url, insecure=insecure, redact=redact, prices_home=folder)
    else:
        archive = Archive(folder, redact=redact)
    try:
        build_server(archive).run("stdio")
    finally:
        archive.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m polylogue.mcp_server", description="Polylogue's read-only MCP server, over stdio."
    )
    p.add_argument(
        "--home",
        default=os.environ.get("POLYLOGUE_HOME"),
        help="Archive folder (default: $POLYLOGUE_HOME or $XDG_DATA_HOME/polylogue).",
    )
    args = p.parse_args(argv)
    serve(args.home)


if __name__ == "__main__":
    main()
