"""Continue (continue.dev) chat sessions (docs/providers.md, "continue"):
``~/.continue/sessions/<sessionId>.json``, the IDE extensions' and the ``cn`` CLI's store.

A session is ``{sessionId, title, workspaceDirectory, history[], mode?, chatModelTitle?,
usage?}``; each history item is ``{message, contextItems[], editorState?, promptLogs?,
toolCallStates? (toolCallState in older versions), reasoning?, conversationSummary?}``.
``message.role`` is user, assistant, thinking, tool or system. Message ids are there
(``message.id``; older sessions lack them: then ``<session>:<index>``, flagged); there
are no times, except when reasoning started (``reasoning.startAt``).

Mapping: user -> user (images as image blocks; ``contextItems``, the files and snippets
attached to the prompt, as attachments by name and place, their contents not copied);
assistant -> assistant (``reasoning.text`` as thinking, ``toolCalls`` as tool_use);
thinking -> an assistant message of thinking; tool -> a tool message, paired by
``toolCallId``; system -> a system message (context). A call whose output only
``toolCallStates`` holds (no tool message follows) gets a tool message built from that
output. ``promptLogs`` repeat the whole prompt and are not dialogue: counted, not copied.
``conversationSummary`` becomes a context message. ``message.usage`` is per reply; the
session's ``usage`` is an aggregate kept in ``Conversation.meta["session_usage"]``.
``sessions.json``, the index of sessions beside them, is a side file; it is read with
each session for the one date Continue keeps (``dateCreated``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from .. import models as m
from ..errors import ParseError
from .base import Head, Location, Provider, Records, Unit
from .common import (
    ParseContext,
    as_count,
    as_dict,
    as_list,
    as_str,
    bounded,
    fail_on_error,
    from_json_text,
    iter_json_items,
    json_text,
    load_json,
    skip_on_error,
    to_utc,
    usable_str,
)

NAME = "continue"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

_ROLES = {"user": m.USER, "assistant": m.ASSISTANT, "thinking": m.ASSISTANT, "tool": m.TOOL, "system": m.SYSTEM}
_OUTCOMES = {
    "done": "success",
    "errored": "error",
    "canceled": "rejected",
    "calling": "pending",
    "generated": "pending",
}
_DATA_URL = re.compile(r"^data:([\w.+/-]+)?(;base64)?,", re.I)


# ---------------------------------------------------------------- sniffing


def sniff(head: Head) -> bool:
    return (
        head.kind == "json"
        and head.top == "object"
        and head.has("sessionId")
        and head.has("history", "start_array")
        and (
            head.has("workspaceDirectory")
            or head.has("history.item.message", "start_map")
            or head.has("history.item.contextItems")
        )
        and not head.has("projectHash")
    )


def _side_file(head: Head) -> bool:
    """``sessions.json``: ``[{sessionId, title, dateCreated, workspaceDirectory}]`` (old: snake_case)."""
    return (
        head.kind == "json"
        and head.top == "array"
        and (
            (head.has("item.sessionId") and (head.has("item.dateCreated") or head.has("item.workspaceDirectory")))
            or (head.has("item.session_id") and head.has("item.date_created"))
        )
    )


# ---------------------------------------------------------------- parsing


def _content(content: Any) -> list[m.Block]:
    """``MessageContent``: a string, or parts ``{type: "text", text}`` / ``{type: "imageUrl", imageUrl: {url}}``."""
    if isinstance(content, str):
        return [m.text(content)] if content else []
    blocks: list[m.Block] = []
    for part in as_list(content):
        p = as_dict(part)
        if p.get("type") == "text" and isinstance(p.get("text"), str):
            if p["text"]:
                blocks.append(m.text(p["text"]))
        elif p.get("type") == "imageUrl":
            url = as_str(as_dict(p.get("imageUrl")).get("url")) or ""
            hit = _DATA_URL.match(url)
            if hit:  # the image itself, inline: its type and size only
                size = (len(url) - hit.end()) * 3 // 4
                blocks.append(m.attachment(None, kind=m.IMAGE, mime=hit.group(1), size=size, inline=True))
            else:
                blocks.append(m.attachment(None, kind=m.IMAGE, url=url or None))
        elif part is not None:
            blocks.append(m.opaque(part))
    return blocks


def _text_of(content: Any) -> str:
    return "\n".join(b.text for b in _content(content) if b.type == m.TEXT)


def _context_item(item: Any) -> m.Block:
    if not isinstance(item, dict):
        return m.opaque(item)
    uri = as_dict(item.get("uri"))
    content = item.get("content")
    return m.attachment(
        as_str(item.get("name")) or as_str(item.get("description")),
        description=as_str(item.get("description")),
        uri=as_str(uri.get("value")),
        source=as_str(as_dict(item.get("id")).get("providerTitle")),
        size=len(content) if isinstance(content, str) else None,
        hidden=True if item.get("hidden") is True else None,
    )


def _usage(raw: Any, provider: str | None) -> dict | None:
    u = as_dict(raw)
    prompt, out = as_count(u.get("promptTokens")), as_count(u.get("completionTokens"))
    if prompt is None and out is None:
        return None
    details = as_dict(u.get("promptTokensDetails"))
    cache_read, cache_write = as_count(details.get("cachedTokens")), as_count(details.get("cacheWriteTokens"))
    reasoning = as_count(as_dict(u.get("completionTokensDetails")).get("reasoningTokens"))
    # Continue reports Anthropic's counts as Anthropic does: the input without the cache
    anthropic = provider == "anthropic" or cache_write is not None
    usage: dict[str, Any] = {"convention": "anthropic" if anthropic else "openai"}
    for lane, v in (
        ("input", prompt),
        ("output", out),
        ("cache_read", cache_read),
        ("cache_write", cache_write),
        ("reasoning", reasoning),
    ):
        if v is not None:
            usage[lane] = v
    return usage


def parse(source: Unit | BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    stream = source.stream if isinstance(source, Unit) else source
    doc = load_json(stream, ctx=ctx)
    if isinstance(doc, list):
        raise ParseError("a JSON array, not a Continue session (sessions.json is the index, not imported)")
    if not isinstance(doc, dict) or not isinstance(doc.get("history"), list):
        raise ParseError("not a Continue session (no history)")
    sid = usable_str(doc.get("sessionId"))
    if sid is None:
        raise ParseError("Continue session without a sessionId")
    conv = None
    with fail_on_error("malformed Continue session"):
        conv = _Session(sid, doc, ctx).build()
    if conv is not None:
        created = _created_from_index(source, sid) if isinstance(source, Unit) else None
        if created is not None:  # the session file has no dates; the index beside it has this one
            conv.created_at = created
            conv.updated_at = max(filter(None, (conv.updated_at, created)))
            conv.meta["created_from"] = "sessions.json"
        yield conv


def _created_from_index(unit: Unit, sid: str) -> Any:
    """``dateCreated`` (epoch ms as a string) of this session in ``sessions.json``, if there."""
    index = unit.sibling("sessions.json")
    if index is None:
        return None
    try:
        for entry in iter_json_items(index, "item"):
            if isinstance(entry, dict) and entry.get("sessionId") == sid:
                return to_utc(entry.get("dateCreated"))
    except ParseError:
        return None  # a damaged index costs the date, nothing else
    finally:
        index.close()
    return None


class _Session:
    def __init__(self, sid: str, doc: dict, ctx: ParseContext) -> None:
        self.sid, self.doc, self.ctx = sid, doc, ctx
        self.messages: list[m.Message] = []
        self.ids: set[str] = set()
        self.models: list[str] = []
        self.answered: set[str] = set()  # call ids a tool message answers
        self.prompt_logs = 0
        self.unknown_roles: set[str] = set()

    def build(self) -> m.Conversation | None:
        items = self.doc["history"]
        for i, item in enumerate(items):
            with skip_on_error(self.ctx, f"history[{i}]"):
                self._item(i, item)
        self._outputs_of_unanswered_calls(items)
        if self.unknown_roles:
            self.ctx.warn(f"unknown message roles {sorted(self.unknown_roles)} kept as system messages")
        if not self.messages:
            self.ctx.note(f"Continue session {self.sid} has no messages; nothing imported")
            return None
        prev: str | None = None
        for msg in self.messages:
            msg.parent_id = prev
            prev = msg.id
        doc = self.doc
        meta: dict[str, Any] = {}
        for k in ("mode", "chatModelTitle"):
            if usable_str(doc.get(k)):
                meta[k] = doc[k]
        session_usage = as_dict(doc.get("usage"))
        if session_usage:
            meta["session_usage"] = bounded(session_usage, max_str=200)  # an aggregate: never on messages
        if self.prompt_logs:
            meta["prompt_logs"] = self.prompt_logs
        stamps = [msg.timestamp for msg in self.messages if msg.timestamp]
        project = usable_str(doc.get("workspaceDirectory"))
        if project and project.startswith("file://"):
            from urllib.parse import unquote, urlparse

            project = unquote(urlparse(project).path) or project
        return m.Conversation(
            provider=NAME,
            provider_id=self.sid,
            title=usable_str(doc.get("title")),
            created_at=min(stamps) if stamps else None,
            updated_at=max(stamps) if stamps else None,
            messages=self.messages,
            source_path=self.ctx.path,
            models=self.models,
            project=project,
            meta=meta,
        )

    def _id(self, message: dict, i: int, suffix: str = "") -> tuple[str, bool]:
        mid = usable_str(message.get("id"))
        derived = mid is None or mid in self.ids
        if derived:
            mid = f"{self.sid}:{i}"
        mid = f"{mid}{suffix}"
        self.ids.add(mid)
        return mid, derived

    def _item(self, i: int, item: Any) -> None:
        if not isinstance(item, dict) or not isinstance(item.get("message"), dict):
            self.ctx.warn(f"history[{i}]: no message, skipped")
            return
        message = item["message"]
        raw_role = as_str(message.get("role")) or ""
        role = _ROLES.get(raw_role)
        meta: dict[str, Any] = {}
        if role is None:
            self.unknown_roles.add(raw_role[:40])
            role, meta["role"] = m.SYSTEM, raw_role
        mid, derived = self._id(message, i)
        if derived:
            meta["derived_id"] = True
        self.prompt_logs += len(as_list(item.get("promptLogs")))  # older sessions: [prompt, completion] pairs
        logs = [p for p in as_list(item.get("promptLogs")) if isinstance(p, dict)]
        provider = as_str(logs[-1].get("modelProvider")) if logs else None
        model = None
        if logs:
            model = usable_str(as_dict(logs[-1].get("completionOptions")).get("model")) or usable_str(
                logs[-1].get("modelTitle")
            )
        reasoning = as_dict(item.get("reasoning"))
        ts = to_utc(reasoning.get("startAt")) if reasoning else None

        blocks: list[m.Block] = []
        if raw_role == "thinking":
            blocks = [m.thinking(_text_of(message.get("content")))]
            if message.get("redactedThinking"):
                meta["redacted_thinking"] = True
        elif role == m.TOOL:
            cid = as_str(message.get("toolCallId"))
            blocks = [m.tool_result(cid, _text_of(message.get("content")) or json_text(message.get("content")))]
            if cid:
                self.answered.add(cid)
        else:
            thought = usable_str(reasoning.get("text"))
            if role == m.ASSISTANT and thought:
                blocks.append(m.thinking(thought))
            blocks += _content(message.get("content"))
            for call in as_list(message.get("toolCalls")):
                c = as_dict(call)
                fn = as_dict(c.get("function"))
                use = m.tool_use(
                    as_str(c.get("id")),
                    as_str(fn.get("name")),
                    from_json_text(fn.get("arguments"), containers_only=True),
                )
                state = _state_of(item, use.id)
                if state:
                    use.meta = {"status": state.get("status")} if as_str(state.get("status")) else None
                blocks.append(use)
        if role == m.USER:
            blocks += [_context_item(c) for c in as_list(item.get("contextItems"))]
        msg = m.Message(
            mid,
            role,
            blocks,
            timestamp=ts,
            model=model if role == m.ASSISTANT else None,
            usage=_usage(message.get("usage"), provider) if role == m.ASSISTANT else None,
            context=role == m.SYSTEM,
            meta=meta or None,
        )
        if msg.model and msg.model not in self.models:
            self.models.append(msg.model)
        self.messages.append(msg)
        summary = usable_str(item.get("conversationSummary"))
        if summary:
            sid, _ = self._id({"id": f"{mid}#summary"}, i)
            self.messages.append(
                m.Message(sid, m.SYSTEM, [m.text(summary)], context=True, meta={"kind": "summary", "derived_id": True})
            )

    def _outputs_of_unanswered_calls(self, items: list) -> None:
        """Results that only a ``toolCallStates`` entry holds, as tool messages after their call."""
        for msg_index, msg in enumerate(list(self.messages)):
            for b in msg.blocks:
                if b.type != m.TOOL_USE or not b.id or b.id in self.answered:
                    continue
                state = next(filter(None, (_state_of(it, b.id) for it in items)), None)
                if not state or "output" not in state:
                    continue
                out = [as_str(as_dict(o).get("content")) or "" for o in as_list(state.get("output"))]
                status = as_str(state.get("status"))
                is_error = True if status == "errored" else False if status == "done" else None
                res = m.tool_result(b.id, "\n".join(out), is_error)
                res.meta = {"outcome": _OUTCOMES.get(status or "", "unknown"), "from": "toolCallStates"}
                rid, _ = self._id({"id": f"{msg.id}#{b.id}"}, msg_index)
                at = self.messages.index(msg) + 1
                self.messages.insert(at, m.Message(rid, m.TOOL, [res], meta={"derived_id": True}))
                self.answered.add(b.id)


def _state_of(item: Any, call_id: str | None) -> dict | None:
    """The ``toolCallStates`` (or older ``toolCallState``) entry of one call."""
    if not call_id or not isinstance(item, dict):
        return None
    states = as_list(item.get("toolCallStates")) or [item.get("toolCallState")]
    for s in states:
        if isinstance(s, dict) and s.get("toolCallId") == call_id:
            return s
    return None


PROVIDER = Provider(
    name=NAME,
    display_name="Continue",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=66,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=False),
    locations=(Location("~/.continue", "sessions", env="CONTINUE_GLOBAL_DIR"),),
    side_file=_side_file,
    siblings=("sessions.json",),
)
