"""Qwen Code chats (docs/providers.md, "qwen-code"): ``~/.qwen/projects/<project>/chats/<sessionId>.jsonl``.

Qwen Code is a Gemini CLI fork that records like Claude Code: every line is a
``ChatRecord`` ``{uuid, parentUuid, sessionId, timestamp, type, subtype?, cwd, version,
gitBranch?, message?: {role, parts[]}, model?, usageMetadata?, toolCallResult?,
systemPayload?, isSidechain?, agentId?, forkedFrom?}``. ``message`` is the Gemini API
``Content`` that was sent or received (``parts`` of text, ``thought`` text,
``functionCall``, ``functionResponse``, ``inlineData``...).

Mapping: ``user`` -> user; its ``systemPayload.displayText`` is what was typed, and
parts beyond it (hook context, expanded ``@file`` text) follow as a context message
``<uuid>#context``; user records of subtype ``notification``/``cron``/``goal_runtime``/
``background_task_completed`` are injected, context. ``assistant`` -> assistant (thought
parts as thinking, ``functionCall`` as tool_use, ``usageMetadata`` as usage, convention
"gemini"); ``tool_result`` -> a tool message, paired by the ``functionResponse`` id,
with the outcome from ``toolCallResult.status``. ``system`` records are not dialogue:
``custom_title`` gives the title (the last wins), ``parent_session`` and ``forkedFrom``
link the conversation to the one it came from, a ``slash_command`` invocation is kept as
a context message; the rest (telemetry, compression checkpoints whose history copies
earlier messages, file snapshots) are counted in ``meta["system_records"]``.

The tree is the ``parentUuid`` links, re-linked past system records; a rewind re-roots
the next record at an earlier one, so the active path is the last message's ancestors
and the rewound messages stay as an inactive branch. Subagent records
(``isSidechain``) are marked ``sidechain``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from .. import models as m
from .assemble import feed_records
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    active_path,
    as_count,
    as_dict,
    as_list,
    as_str,
    bounded,
    break_message_cycles,
    json_text,
    read_time,
    usable_str,
)

NAME = "qwen-code"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

_TYPES = frozenset({"user", "assistant", "tool_result", "system"})
_INJECTED = frozenset({"notification", "cron", "goal_runtime", "background_task_completed", "agent_launch_prompt"})
_OUTCOMES = {"success": "success", "error": "error", "cancelled": "rejected", "canceled": "rejected"}


# ---------------------------------------------------------------- sniffing


def _verdict(r: dict) -> bool | None:
    """True: a Qwen Code record; False: another format's; None: cannot tell."""
    if not (isinstance(r.get("uuid"), str) and isinstance(r.get("sessionId"), str) and "parentUuid" in r):
        return None
    if r.get("type") not in _TYPES:
        return None
    msg = r.get("message")
    if isinstance(msg, dict):
        if isinstance(msg.get("parts"), list):
            return True
        if "content" in msg:
            return False  # Claude Code keeps Anthropic content, not Gemini parts
    return None


def sniff(head: Head) -> bool:
    for r in head.records[:20]:
        v = _verdict(r)
        if v is not None:
            return v
    return False


# ---------------------------------------------------------------- helpers


def _usage(raw: Any) -> dict | None:
    u = as_dict(raw)
    usage: dict[str, Any] = {}
    for src, lane in (
        ("promptTokenCount", "input"),
        ("candidatesTokenCount", "output"),
        ("cachedContentTokenCount", "cache_read"),
        ("thoughtsTokenCount", "reasoning"),
    ):
        v = as_count(u.get(src))
        if v is not None:
            usage[lane] = v
    if not usage:
        return None
    usage["convention"] = "gemini"  # the counts arrive as Gemini's usageMetadata: cached is part of the prompt
    return usage


def _response_text(resp: Any) -> tuple[str, bool]:
    """(output, is it an error) of a ``functionResponse.response``."""
    if isinstance(resp, dict):
        if "output" in resp and not resp.get("error"):
            return json_text(resp["output"]), False
        if resp.get("error"):
            return json_text(resp["error"]), True
        return json_text(resp), False
    return json_text(resp), False


def _part(p: Any) -> list[m.Block]:
    if isinstance(p, str):
        return [m.text(p)] if p else []
    if not isinstance(p, dict):
        return [m.opaque(p)] if p is not None else []
    if isinstance(p.get("text"), str):
        if not p["text"]:
            return []
        return [m.thinking(p["text"]) if p.get("thought") is True else m.text(p["text"])]
    call = p.get("functionCall")
    if isinstance(call, dict):
        return [m.tool_use(as_str(call.get("id")), as_str(call.get("name")), call.get("args"))]
    resp = p.get("functionResponse")
    if isinstance(resp, dict):
        text, err = _response_text(resp.get("response"))
        return [m.tool_result(as_str(resp.get("id")), text, True if err else None)]
    for key in ("inlineData", "fileData"):
        data = p.get(key)
        if isinstance(data, dict):
            mime = as_str(data.get("mimeType"))
            kind = m.IMAGE if mime and mime.startswith("image/") else m.ATTACHMENT
            raw = data.get("data")
            size = len(raw) * 3 // 4 if isinstance(raw, str) else None
            name = as_str(data.get("displayName")) or as_str(data.get("fileUri"))
            return [m.attachment(name, kind=kind, mime=mime, size=size, url=as_str(data.get("fileUri")), source=key)]
    if p.get("thought") is True and not p.get("text"):
        return []  # an empty thought marker (a signature only)
    return [m.opaque(p)]


def _parts(message: Any) -> list[Any]:
    return as_list(as_dict(message).get("parts"))


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    chat = _Chat(ctx)
    feed_records(stream, ctx, chat.record)
    conv = chat.build()
    if conv is not None:
        yield conv


class _Chat:
    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.sid: str | None = None
        self.other_sids: list[str] = []
        self.messages: list[m.Message] = []
        self.parent_of: dict[str, str | None] = {}  # every record's uuid -> its parentUuid
        self.msg_of: dict[str, list[str]] = {}  # record uuid -> the message ids it gave
        self.title: str | None = None
        self.link: tuple[str, str] | None = None  # (parent session, how)
        self.first: dict = {}
        self.models: list[str] = []
        self.system: dict[str, int] = {}
        self.unknown: set[str] = set()
        self.copies = 0

    def record(self, lineno: int, rec: dict) -> None:
        typ = rec.get("type")
        if typ not in _TYPES:
            self.unknown.add(str(typ)[:40])
            return
        sid = usable_str(rec.get("sessionId"))
        if sid and self.sid is None:
            self.sid, self.first = sid, rec
        elif sid and sid != self.sid and sid not in self.other_sids:
            self.other_sids.append(sid)
        uuid = usable_str(rec.get("uuid"))
        if uuid is None:
            uuid = f"{self.sid or 'qwen'}:{lineno}"
        elif uuid in self.parent_of:
            self.copies += 1  # the first occurrence of a record wins
            return
        self.parent_of[uuid] = usable_str(rec.get("parentUuid"))
        forked = usable_str(as_dict(rec.get("forkedFrom")).get("sessionId"))
        if forked and self.link is None:
            self.link = (forked, "fork")
        if typ == "system":
            self._system(uuid, rec)
            return
        msgs = self._messages(uuid, rec, derived=uuid != rec.get("uuid"))
        self.msg_of[uuid] = [msg.id for msg in msgs]
        self.messages.extend(msgs)

    def _system(self, uuid: str, rec: dict) -> None:
        subtype = as_str(rec.get("subtype")) or "system"
        self.system[subtype] = self.system.get(subtype, 0) + 1
        payload = as_dict(rec.get("systemPayload"))
        title, parent, command = (
            usable_str(payload.get("customTitle")),
            usable_str(payload.get("parentSessionId")),
            usable_str(payload.get("rawCommand")),
        )
        if subtype == "custom_title" and title:
            self.title = title
        elif subtype == "parent_session" and parent:
            self.link = (parent, "sub_session")
        elif subtype == "slash_command" and payload.get("phase") == "invocation" and command:
            meta = {"kind": "slash_command"}
            ts = read_time(rec.get("timestamp"), meta, "timestamp")
            msg = m.Message(uuid, m.USER, [m.text(command)], timestamp=ts, context=True, meta=meta)
            self.msg_of[uuid] = [msg.id]
            self.messages.append(msg)

    def _messages(self, uuid: str, rec: dict, derived: bool) -> list[m.Message]:
        typ = rec["type"]
        subtype = as_str(rec.get("subtype"))
        meta: dict[str, Any] = {}
        if derived:
            meta["derived_id"] = True
        if subtype:
            meta["subtype"] = subtype
        ts = read_time(rec.get("timestamp"), meta, "timestamp")
        side = rec.get("isSidechain") is True
        if side and usable_str(rec.get("agentId")):
            meta["agent"] = rec["agentId"]
            if usable_str(rec.get("agentName")):
                meta["agent_name"] = rec["agentName"]
        parts = _parts(rec.get("message"))
        blocks = [b for p in parts for b in _part(p)]

        if typ == "assistant":
            model = usable_str(rec.get("model"))
            if model and model not in self.models:
                self.models.append(model)
            msg = m.Message(
                uuid, m.ASSISTANT, blocks, timestamp=ts, model=model, usage=_usage(rec.get("usageMetadata")), meta=meta
            )
            msg.sidechain = side
            return [msg]

        if typ == "tool_result":
            result = as_dict(rec.get("toolCallResult"))
            status = as_str(result.get("status"))
            for b in blocks:
                if b.type == m.TOOL_RESULT:
                    if status == "error" or result.get("error"):
                        b.is_error = True
                    elif status == "success" and b.is_error is None:
                        b.is_error = False
                    b.meta = {"outcome": _OUTCOMES.get(status or "", "error" if b.is_error else "unknown")}
            display = result.get("resultDisplay")
            texts = {b.text for b in blocks}
            if display not in (None, "", [], {}) and not (isinstance(display, str) and display in texts):
                meta["display"] = bounded(display, max_str=4000, max_total=16 << 10)
            if result.get("error"):
                meta["error"] = bounded(result["error"], max_str=1000)
            msg = m.Message(uuid, m.TOOL, blocks, timestamp=ts, meta=meta)
            msg.sidechain = side
            return [msg]

        # user
        injected = subtype in _INJECTED
        payload = as_dict(rec.get("systemPayload"))
        shown = as_str(payload.get("displayText"))
        extra: list[m.Block] = []
        if shown is not None and not injected:
            typed = [b for b in blocks if b.type == m.TEXT and b.text.strip() == shown.strip()]
            if typed:  # the typed part is one of the parts: the others are what was added to it
                keep = typed[0]
                extra = [b for b in blocks if b is not keep and b.type in (m.TEXT, m.OPAQUE)]
                blocks = [b for b in blocks if b is keep or b.type not in (m.TEXT, m.OPAQUE)]
            elif blocks and shown:
                extra = [b for b in blocks if b.type in (m.TEXT, m.OPAQUE)]
                blocks = [m.text(shown), *[b for b in blocks if b.type not in (m.TEXT, m.OPAQUE)]]
        if injected:
            meta["kind"] = subtype
        msg = m.Message(uuid, m.USER, blocks, timestamp=ts, context=injected, meta=meta)
        msg.sidechain = side
        out = [msg]
        if extra:
            cmeta = {"expanded_from": uuid, "derived_id": True}
            if payload.get("hookContext"):
                cmeta["kind"] = "hook_context"
            ctx_msg = m.Message(f"{uuid}#context", m.USER, extra, timestamp=ts, context=True, meta=cmeta)
            ctx_msg.sidechain = side
            out.append(ctx_msg)
        return out

    # -- the conversation

    def _message_parent(self, uuid: str) -> str | None:
        """The last message of the nearest ancestor record that gave messages."""
        seen = {uuid}
        cur = self.parent_of.get(uuid)
        while cur is not None and cur not in seen:
            seen.add(cur)
            ids = self.msg_of.get(cur)
            if ids:
                return ids[-1]
            cur = self.parent_of.get(cur)
        return None

    def build(self) -> m.Conversation | None:
        if self.unknown:
            self.ctx.warn(f"unknown Qwen Code record types {sorted(self.unknown)[:5]}: skipped, the rest imported")
        if self.sid is None or not self.messages:
            if self.sid is not None:
                self.ctx.note(f"Qwen Code session {self.sid} has no messages; nothing imported")
            elif self.parent_of:
                self.ctx.warn("no sessionId in any record: not a Qwen Code chat, skipped")
            return None
        by_id = {msg.id: msg for msg in self.messages}
        for uuid, ids in self.msg_of.items():
            parent = self._message_parent(uuid)
            for mid in ids:  # a record's own messages chain: the prompt, then what was added to it
                by_id[mid].parent_id = parent
                parent = mid
        break_message_cycles(self.messages)
        parents = {msg.id: msg.parent_id for msg in self.messages}
        last = next((msg for msg in reversed(self.messages) if not msg.sidechain), self.messages[-1])
        path = active_path(last.id, parents)
        rewound = 0
        for msg in self.messages:
            if msg.id not in path and not msg.sidechain:
                msg.active = False
                msg.meta = {**(msg.meta or {}), "rewound": True}
                rewound += 1
        first = self.first
        meta: dict[str, Any] = {}
        for key in ("version", "gitBranch"):
            if usable_str(first.get(key)):
                meta[key] = first[key]
        if self.system:
            meta["system_records"] = dict(sorted(self.system.items()))
        if rewound:
            meta["rewound_messages"] = rewound
        if self.copies:
            meta["duplicate_records"] = self.copies
        if self.other_sids:
            meta["other_session_ids"] = self.other_sids[:20]
        parent_id = None
        if self.link and self.link[0] != self.sid:
            parent_id = f"{NAME}:{self.link[0]}"
            meta["link_type"] = self.link[1]
        stamps = [msg.timestamp for msg in self.messages if msg.timestamp]
        return m.Conversation(
            provider=NAME,
            provider_id=self.sid,
            title=self.title,
            created_at=min(stamps) if stamps else None,
            updated_at=max(stamps) if stamps else None,
            messages=self.messages,
            source_path=self.ctx.path,
            parent_id=parent_id,
            models=self.models,
            project=usable_str(first.get("cwd")),
            meta=meta,
        )


PROVIDER = Provider(
    name=NAME,
    display_name="Qwen Code",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=68,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=True),
    locations=(Location("~/.qwen", "projects", env="QWEN_HOME", find=("*/chats/*.jsonl",), depth=2),),
)
