"""Cursor agent transcripts: ``~/.cursor/projects/<project>/agent-transcripts/``
(docs/providers.md, "cursor-agent"), written by the ``cursor-agent`` CLI and by
the Cursor IDE's agent, as ``<id>.jsonl`` or ``<id>/<id>.jsonl``, with
subagents under ``<id>/subagents/<child>.jsonl``.

One JSON object per line, ``{role, message: {content: [...]}}``, the content in
Anthropic's block shape (text, thinking, tool_use, tool_result). The format
records no ids, times or models. What the person typed is the text inside
``<user_query>`` tags; the rest of a user turn (``<user_info>``, rules, open
files) is what Cursor added, kept as a context message after the prompt.

Tool results come back in user lines; they are paired with their call by id
when the call has one, else by order (the oldest unanswered call). Message ids
are ``L<line>`` (the file only grows). The conversation id is the transcript's
file name when that is a UUID (Cursor names it after the chat; the content
holds no id), flagged ``meta.id_from``; otherwise it is derived from the first
line (``meta.derived_id``). The project is the ``projects/<project>`` folder
name (Cursor's lossy encoding of the workspace path, kept as written).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from .anthropic_blocks import blocks as content_blocks
from .base import Head, Location, Provider, Records
from .common import ParseContext, as_dict, iter_jsonl, skip_on_error

NAME = "cursor-agent"
KIND: Final = "jsonl"

_ROLES = {"user": m.USER, "human": m.USER, "assistant": m.ASSISTANT, "model": m.ASSISTANT, "system": m.SYSTEM}
_FOREIGN = ("uuid", "sessionId", "parentUuid", "parentId", "id", "timestamp", "type", "payload", "parts")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_QUERY = re.compile(r"<user_query>\s*(.*?)\s*</user_query>", re.S)


def _is_line(r: dict) -> bool:
    msg = r.get("message")
    return (
        isinstance(r.get("role"), str)
        and r["role"] in _ROLES
        and isinstance(msg, dict)
        and isinstance(msg.get("content"), (list, str))
        and not any(k in r for k in _FOREIGN)
    )


def sniff(head: Head) -> bool:
    recs = head.records
    if not recs:
        return False
    lines = [r for r in recs if "role" in r or "message" in r]
    return bool(lines) and all(_is_line(r) for r in lines) and len(lines) * 2 >= len(recs)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    messages: list[m.Message] = []
    pending: deque[m.Block] = deque()  # tool calls not yet answered, oldest first
    first_line: bytes | None = None
    lines = 0
    for lineno, rec in iter_jsonl(stream, ctx):
        lines += 1
        if first_line is None:
            first_line = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        if not _is_line(rec):
            ctx.warn(f"not a transcript line (keys {', '.join(sorted(rec)[:6])}), skipped", lineno)
            continue
        with skip_on_error(ctx, "line", lineno):
            messages.extend(_messages(lineno, rec, pending))
    if not messages:
        if not lines:
            ctx.warn("no transcript lines in this file")
        return
    for prev, msg in zip(messages, messages[1:]):
        msg.parent_id = prev.id
    yield _conversation(messages, first_line or b"", ctx)


def _messages(lineno: int, rec: dict, pending: deque[m.Block]) -> list[m.Message]:
    role = _ROLES[rec["role"]]
    msg_id = f"L{lineno}"
    blocks = content_blocks(as_dict(rec.get("message")).get("content"))
    calls = 0
    for b in blocks:
        if b.type == m.TOOL_USE:
            calls += 1
            if not b.id:
                b.id = f"{msg_id}#{calls}"
                b.meta = {**(b.meta or {}), "derived_id": True}
            pending.append(b)
        elif b.type == m.TOOL_RESULT:
            _pair(b, pending)
    out = [m.Message(msg_id, role, blocks)]
    if role == m.USER:
        out.extend(_split_query(out[0]))
    return out


def _pair(result: m.Block, pending: deque[m.Block]) -> None:
    """Answer a call: the one with the result's id, else the oldest unanswered one."""
    for call in pending:
        if result.id and call.id == result.id:
            pending.remove(call)
            return
    if pending:
        call = pending.popleft()
        if result.id:
            result.meta = {**(result.meta or {}), "source_id": result.id}
        result.id = call.id


def _split_query(msg: m.Message) -> list[m.Message]:
    """Keep only the ``<user_query>`` text as the prompt; what Cursor wrapped
    around it becomes a context message after it. Returns the extra message."""
    texts = [b for b in msg.blocks if b.type == m.TEXT]
    whole = "\n\n".join(b.text for b in texts)
    queries = _QUERY.findall(whole)
    if not queries:
        return []
    rest = _QUERY.sub("", whole).strip()
    msg.blocks = [m.text("\n\n".join(queries))] + [b for b in msg.blocks if b.type != m.TEXT]
    if not rest:
        return []
    return [
        m.Message(
            f"{msg.id}#context", m.USER, [m.text(rest)], parent_id=msg.id, context=True, meta={"derived_id": True}
        )
    ]


def _conversation(messages: list[m.Message], first_line: bytes, ctx: ParseContext) -> m.Conversation:
    parts = (ctx.path or "").split("!")[-1].replace("\\", "/").split("/")
    stem = parts[-1].rsplit(".", 1)[0] if parts else ""
    meta: dict[str, Any] = {}
    if _UUID.match(stem):
        cid = stem.lower()
        meta["id_from"] = "file name"
    else:
        import hashlib

        cid = hashlib.sha1(first_line).hexdigest()[:24]
        meta["derived_id"] = True
    parent = None
    if len(parts) >= 3 and parts[-2] == "subagents" and _UUID.match(parts[-3]):
        parent = f"{NAME}:{parts[-3].lower()}"
        meta["parent_from_path"] = True
    project = None
    if "agent-transcripts" in parts:
        at = parts.index("agent-transcripts")
        if at >= 2 and parts[at - 2] == "projects":
            project = parts[at - 1]
    title = next((x.text for x in messages if x.role == m.USER and not x.context and x.text.strip()), None)
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=" ".join(title.split())[:120] if title else None,
        messages=messages,
        source_path=ctx.path,
        parent_id=parent,
        project=project,
        meta=meta,
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Cursor agent transcripts",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=82,
    records=Records(usage=False, models=False, branches=False, thinking=True, subagents=True),
    locations=(
        Location(
            "~/.cursor",
            "projects",
            find=(
                "*/agent-transcripts/*.jsonl",
                "*/agent-transcripts/*/*.jsonl",
                "*/agent-transcripts/*/subagents/*.jsonl",
            ),
            depth=5,
        ),
    ),
)
