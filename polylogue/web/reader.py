"""The conversation reader: which messages a page shows, and their HTML.

A conversation is read a page at a time (``Archive.messages(start, limit)``):
the first page of a 10,000-message session decodes PAGE_SIZE messages, never
the whole. A conversation with branches (messages off the active path) and at
most TREE_MAX messages is shown one path at a time, as chat apps show it: the
active path by default, another one chosen at a fork ("branch k of n"); the
message where the conversation forks says so. The path is laid out from the
conversation's shape (``archive.message_tree``: ids and parents, nothing decoded)
and only the stored range the page spans is read. Bigger branched conversations
are shown in stored order with the other branches' messages marked, as the export does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus, urlencode

from ..models import TOOL_USE, Message
from ..render import html

PAGE_SIZE = 200
TREE_MAX = 5_000


def conv_url(ident: str, **params: Any) -> str:
    """The reader's URL of a conversation (ids hold colons, slashes, anything)."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"/c/{quote(ident, safe=':@')}" + (f"?{query}" if query else "")


def permalink(ident: str, message_id: str) -> str:
    return conv_url(ident, m=message_id)


@dataclass
class View:
    """What one reader page shows."""

    summary: dict[str, Any]
    messages: list[tuple[int, Message]]  # (stored position, message)
    page: int
    pages: int
    total: int  # messages in this view (the path, or the whole conversation)
    all_messages: int
    branch: str  # "" (the active path), "all", or the id of the message chosen
    branched: bool
    forks: dict[str, str] = field(default_factory=dict)  # message id -> fork HTML


def find(archive, ident: str, message_id: str) -> tuple[int, Message] | None:
    """(stored position, message) of one message, read alone."""
    found = archive.message_positions(ident, message_id, limit=1)
    if not found or found[0][1] != message_id:
        return None
    pos = found[0][0]
    got = archive.messages(ident, start=pos, limit=1)
    return (pos, got[0]) if got else None


def view(archive, summary: dict[str, Any], *, page: int | None, branch: str, hit: str) -> View:
    ident = summary["id"]
    total = archive.message_count(ident)
    branched = branch == "all" or (total <= TREE_MAX and archive.message_count(ident, active_only=True) < total)
    if branched and branch != "all":
        return _path_view(archive, summary, total, page=page, branch=branch, hit=hit)
    if page is None and hit:
        at = archive.message_positions(ident, hit, limit=1)
        page = at[0][0] // PAGE_SIZE + 1 if at else 1
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page or 1), pages)
    start = (page - 1) * PAGE_SIZE
    msgs = archive.messages(ident, start=start, limit=PAGE_SIZE)
    return View(summary, list(enumerate(msgs, start)), page, pages, total, total, branch, branched)


class Node(NamedTuple):
    """A message without its content: what laying out the branches needs."""

    id: str
    parent_id: str | None
    active: bool


def _shape(archive, ident: str) -> tuple[list[Any], list[Message] | None]:
    """(every message's id, parent and active flag in stored order; the messages
    themselves when they had to be read for it). ``Archive.message_tree`` reads the
    shape without decoding any content; without it, the whole conversation is read."""
    tree = getattr(archive, "message_tree", None)
    if tree is not None:
        return [Node(*t) for t in tree(ident)], None
    msgs = archive.messages(ident)
    return msgs, msgs


def _path_view(archive, summary, total: int, *, page: int | None, branch: str, hit: str) -> View:
    nodes, msgs = _shape(archive, summary["id"])
    pos = {m.id: i for i, m in enumerate(nodes)}
    kids: dict[str | None, list[Any]] = defaultdict(list)
    for m in nodes:
        kids[m.parent_id if m.parent_id in pos else None].append(m)
    chosen = next((m for m in nodes if m.id == branch), None) if branch else None
    path = _path_through(chosen, nodes, kids) if chosen else [m for m in nodes if m.active]
    forks: dict[str, str] = {}
    if page is None and hit:
        where = next((i for i, m in enumerate(path) if m.id == hit), 0)
        page = where // PAGE_SIZE + 1
    pages = max(1, -(-len(path) // PAGE_SIZE))
    page = min(max(1, page or 1), pages)
    shown = path[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    for m in shown:
        if m.parent_id is not None and len(kids[m.parent_id]) > 1:
            forks[m.id] = _switch(summary["id"], m, kids[m.parent_id])
        if len(kids[m.id]) > 1:
            forks.setdefault(m.id, "")
            forks[m.id] += (
                f'<p class="forkpoint">The conversation forks after this message: {len(kids[m.id])} branches.</p>'
            )
    found = _page_messages(archive, summary["id"], [pos[m.id] for m in shown], msgs)
    rows = [(pos[m.id], found[m.id]) for m in shown if m.id in found]
    return View(summary, rows, page, pages, len(path), total, branch, True, forks)


def _page_messages(archive, ident: str, positions: list[int], msgs: list[Message] | None) -> dict[str, Message]:
    """The messages at ``positions`` (stored order), by id: from ``msgs`` when the whole
    conversation was read, else one read of the stored range they span (a path runs
    mostly in stored order, so the range is about the page)."""
    if not positions:
        return {}
    if msgs is not None:
        return {msgs[p].id: msgs[p] for p in positions if p < len(msgs)}
    lo, hi = min(positions), max(positions)
    wanted = set(positions)
    got = archive.messages(ident, start=lo, limit=hi - lo + 1)
    return {m.id: m for k, m in enumerate(got, lo) if k in wanted}


def _path_through(chosen, nodes: list[Any], kids: dict[str | None, list[Any]]) -> list[Any]:
    """Root to ``chosen``, then on down (the active child first, else the first)."""
    by_id = {m.id: m for m in nodes}
    up: list[Any] = []
    seen: set[str] = set()
    m = chosen
    while m is not None and m.id not in seen:
        seen.add(m.id)
        up.append(m)
        m = by_id.get(m.parent_id) if m.parent_id else None
    path = up[::-1]
    m = chosen
    while kids.get(m.id):
        nxt = next((k for k in kids[m.id] if k.active), kids[m.id][0])
        if nxt.id in seen:
            break
        seen.add(nxt.id)
        path.append(nxt)
        m = nxt
    return path


def _switch(ident: str, current: Any, siblings: list[Any]) -> str:
    links = []
    for k, s in enumerate(siblings, 1):
        if s.id == current.id:
            links.append(f'<strong aria-current="true">{k}</strong>')
        else:
            href = html.esc(conv_url(ident, branch=s.id))
            links.append(f'<a href="{href}" class="branch-link" title="Switch to branch {k}">{k}</a>')
    n = len(siblings)
    at = next(k for k, s in enumerate(siblings, 1) if s.id == current.id)
    return f'<nav class="fork" aria-label="Branches at this message">Branch {at} of {n}: {" ".join(links)}</nav>'


def messages_html(v: View, hit: str) -> str:
    ident = v.summary["id"]
    # permalink(ident, id) for every message, with the conversation's part made once
    # (urlencode per message cost a 200-message page ~10 ms)
    base = conv_url(ident) + "?m="
    names = {b.id: b.name for _, m in v.messages for b in m.blocks if b.type == TOOL_USE and b.id and b.name}
    out = []
    for i, m in v.messages:

        def raw(k: int, mid: str = m.id) -> str:
            return "/raw/" + quote(ident, safe=":@") + "?" + urlencode({"m": mid, "b": k})

        out.append(
            html.message_html(
                m,
                anchor=f"m{i + 1}",
                tool_names=names,
                mark=bool(hit) and m.id == hit,
                highlight=True,
                permalink=base + quote_plus(m.id, safe=""),
                copy=True,
                fork=v.forks.get(m.id, ""),
                raw_href=raw,
            )
        )
    return "\n".join(out)
