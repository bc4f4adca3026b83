"""SillyTavern chats (docs/providers.md, "sillytavern"): one JSONL file per chat,
``data/<user>/chats/<character>/<character> - <date>.jsonl`` in the SillyTavern
folder (group chats under ``data/<user>/group chats/``; installs before 1.12 kept
them in ``public/chats/``).

Line 1 is the header ``{user_name, character_name, create_date, chat_metadata{}}``;
every later line is a message ``{name, is_user, is_system, send_date, mes,
extra{}, swipes[], swipe_id, swipe_info[], gen_started, gen_finished}``.

- Roles: ``is_user`` is the person; otherwise the character (assistant).
  ``is_system`` on a narrator or system note (``extra.type``) makes a system
  message; on any other message it means hidden from the prompt (``/hide``),
  kept with ``meta.hidden``.
- ``extra.reasoning`` is thinking; ``extra.model``/``extra.api`` name the model;
  ``extra.token_count`` (the message's length in tokens) is kept in meta, not as
  usage (nothing was metered).
- Swipes are alternative replies: ``mes`` is ``swipes[swipe_id]``, the active
  one; each other swipe is an inactive sibling ``<id>.swipe<k>`` with the same
  parent (a branch).
- Times: ``send_date`` is epoch ms, ISO, or (newer files) a local display time
  with no zone ("May 5, 2024 3:14pm"), which is not read as UTC: it is kept as
  ``meta.local_time`` and the message takes ``gen_started`` (UTC) when there is one.

Identity: ``chat_metadata.integrity`` (a UUID SillyTavern gives each chat), else an
id derived from the header (``meta.derived_id``). Message ids are ``L<line>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import feed_records, guarded
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    is_placeholder,
    skip_on_error,
    to_utc,
)

NAME = "sillytavern"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

_LOCAL_FORMATS = ("%B %d, %Y %I:%M%p", "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M%p", "%B %d, %Y %H:%M")
_SYSTEM_KINDS = frozenset({"narrator", "comment", "generic", "assistant_note", "system"})
_HEADER_KEYS = ("user_name", "character_name", "create_date")


# ---------------------------------------------------------------- sniffing


def _is_header(r: dict) -> bool:
    return isinstance(r.get("chat_metadata"), dict) and "mes" not in r


def _is_message(r: dict) -> bool:
    return isinstance(r.get("mes"), str) and isinstance(r.get("is_user"), bool) and "name" in r


def sniff(head: Head) -> bool:
    recs = head.records
    if not recs:
        return False
    if _is_header(recs[0]) and any(k in recs[0] for k in _HEADER_KEYS):
        return len(recs) == 1 or any(_is_message(r) for r in recs[1:])
    return sum(1 for r in recs if _is_message(r)) >= 2


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    chat = _Chat(ctx)
    if not feed_records(stream, ctx, chat.feed, "message"):
        raise ParseError("no SillyTavern chat lines in this file")
    if chat.header is None and not chat.msgs:
        raise ParseError("no SillyTavern header or messages in this file")
    yield from guarded(skip_on_error(ctx, "SillyTavern chat"), chat.build)


class _Chat:
    def __init__(self, ctx: ParseContext):
        self.ctx = ctx
        self.header: dict | None = None
        self.first: dict | None = None
        self.msgs: list[m.Message] = []
        self.last_active: str | None = None

    def feed(self, line: int, rec: dict) -> None:
        if self.header is None and not self.msgs and _is_header(rec):
            self.header = rec
            return
        if self.first is None:
            self.first = rec
        if not _is_message(rec):
            self.ctx.warn("not a SillyTavern message (no mes/is_user), skipped", line)
            return
        mid = f"L{line}"
        parent = self.last_active
        active = _message(mid, rec, rec["mes"], as_dict(rec.get("extra")), rec, rec.get("send_date"))
        active.parent_id = parent
        self.msgs.append(active)
        self.last_active = mid
        swipes = as_list(rec.get("swipes"))
        chosen = rec.get("swipe_id")
        if len(swipes) > 1 and isinstance(chosen, int) and not isinstance(chosen, bool):
            active.meta = {**(active.meta or {}), "swipe": chosen, "swipes": len(swipes)}
            infos = as_list(rec.get("swipe_info"))
            for k, text in enumerate(swipes):
                if k == chosen or not isinstance(text, str):
                    continue
                info = as_dict(infos[k]) if k < len(infos) else {}
                alt = _message(f"{mid}.swipe{k}", rec, text, as_dict(info.get("extra")), info, info.get("send_date"))
                alt.parent_id, alt.active = parent, False
                alt.meta = {**(alt.meta or {}), "swipe": k, "derived_id": True}
                self.msgs.append(alt)

    def build(self) -> m.Conversation | None:
        header = self.header or {}
        if not self.msgs:
            self.ctx.warn("SillyTavern chat has no messages; nothing imported")
            return None
        meta: dict[str, Any] = {}
        for k in _HEADER_KEYS:
            if header.get(k) is not None:
                meta[k] = bounded(header[k], max_str=500)
        cm = as_dict(header.get("chat_metadata"))
        cid = as_str(cm.get("integrity"))
        if not cid or is_placeholder(cid):
            seed = orjson.dumps(header or self.first or {}, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
            cid = "derived-" + hashlib.sha1(seed).hexdigest()[:20]
            meta["derived_id"] = True
        kept = {
            k: bounded(v, max_str=2000)
            for k, v in cm.items()
            if k not in ("integrity",) and v not in (None, "", {}, [])
        }
        if kept:
            meta["chat_metadata"] = bounded(kept, max_items=50)
        character = as_str(header.get("character_name"))
        if character == "unused":  # group chats write this placeholder
            character = None
        title = character
        created_raw = as_str(header.get("create_date"))
        if title and created_raw:
            title = f"{title} — {created_raw}"
        stamps = [x.timestamp for x in self.msgs if x.timestamp]
        return m.Conversation(
            provider=NAME,
            provider_id=cid,
            title=title,
            created_at=min(stamps) if stamps else None,
            updated_at=max(stamps) if stamps else None,
            messages=self.msgs,
            source_path=self.ctx.path,
            models=list(dict.fromkeys(x.model for x in self.msgs if x.model)),
            meta=meta,
        )


def _message(mid: str, rec: dict, text: str, extra: dict, timing: dict, send_date: Any) -> m.Message:
    meta: dict[str, Any] = {}
    name = as_str(rec.get("name"))
    if name:
        meta["name"] = bounded(name, max_str=200)
    is_user = rec.get("is_user") is True
    role = m.USER if is_user else m.ASSISTANT
    context = False
    if rec.get("is_system") is True:
        if not is_user and (extra.get("type") in _SYSTEM_KINDS or name in ("System", "SillyTavern System")):
            role, context = m.SYSTEM, True
            meta["kind"] = bounded(extra.get("type") or "system", max_str=80)
        else:
            meta["hidden"] = True
    blocks: list[m.Block] = []
    reasoning = as_str(extra.get("reasoning"))
    if reasoning:
        blocks.append(m.thinking(reasoning))
    if text:
        blocks.append(m.text(text))
    for item in as_list(extra.get("files")) + ([extra["file"]] if isinstance(extra.get("file"), dict) else []):
        f = as_dict(item)
        blocks.append(m.attachment(as_str(f.get("name")), url=as_str(f.get("url")), size=f.get("size")))
    image = as_str(extra.get("image"))
    if image:
        inline = image.startswith("data:")
        blocks.append(m.attachment(None, kind=m.IMAGE, url=None if inline else image, inline=inline or None))
    ts = _time(send_date, meta)
    if ts is None:
        ts = to_utc(timing.get("gen_started")) or to_utc(timing.get("gen_finished"))
    for k in ("api", "token_count", "reasoning_duration", "bias"):
        if extra.get(k) is not None:
            meta[k] = bounded(extra[k], max_str=200)
    if timing.get("gen_finished") is not None:
        meta["gen_finished"] = bounded(timing["gen_finished"], max_str=80)
    model = as_str(extra.get("model"))
    return m.Message(
        mid,
        role,
        blocks,
        timestamp=ts,
        model=model if role == m.ASSISTANT else None,
        context=context,
        meta=meta or None,
    )


def _time(raw: Any, meta: dict) -> Any:
    """UTC from an epoch or ISO value; a local display time is kept as ``meta.local_time``."""
    ts = to_utc(raw)
    if ts is not None or raw is None:
        return ts
    if isinstance(raw, str) and not is_placeholder(raw):
        s = raw.strip()
        for fmt in _LOCAL_FORMATS:
            try:
                meta["local_time"] = datetime.strptime(s, fmt).isoformat()
                meta["timezone"] = "unknown"
                return None
            except ValueError:
                continue
        meta["send_date_raw"] = bounded(raw, max_str=200)
    return None


PROVIDER = Provider(
    name=NAME,
    display_name="SillyTavern",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=263,
    records=Records(usage=False, models=True, branches=True, thinking=True, subagents=False),
    locations=(
        Location("~/SillyTavern", "data/default-user/chats", find=("*/*.jsonl",), depth=1),
        Location("~/SillyTavern", "data/default-user/group chats", find=("*.jsonl",), depth=0),
    ),
)
