"""Grok CLI sessions (docs/providers.md, "grok-cli"):
``~/.grok/sessions/<percent-encoded cwd>/<session id>/chat_history.jsonl``.

``chat_history.jsonl`` is the model's history, one item per line::

    {type: "system", content}
    {type: "user", content: str | [{type: text, text} | {type: image, url}],
     synthetic_reason?, prompt_index?, prior_turn_interrupt?}
    {type: "reasoning", id, summary: [{type: summary_text, text}], content?, encrypted_content?, status}
    {type: "assistant", content, tool_calls: [{id, name, arguments (JSON text)}],
     model_id, model_fingerprint?, reasoning_effort?}
    {type: "tool_result", tool_call_id, content}
    {type: "backend_tool_call", kind: {tool_type, action, id, status}}

Mapping, one message per line in file order, each the child of the one before:
system as a context system message; a user item with ``synthetic_reason``
(``environment_context``...) as context; reasoning summaries and raw reasoning
as thinking (encrypted-only reasoning gives no message, counted in meta);
``tool_calls`` as tool_use blocks and ``tool_result`` as role-tool results
paired by id; a ``backend_tool_call`` (server-side web search) as a tool_use
carrying its action and status. An unknown item type is kept as an opaque
block and reported in one warning line.

The file has no times and no session id: the session id is the name of the
folder holding the file when it is a UUID (the CLI's own layout), else
``derived-`` + sha256 of the first records[:20] (flagged ``meta.derived_id``);
the project is the ``Workspace Path`` of the environment context, else the
percent-decoded parent folder. Message ids are ``<session>:<line>``.
``summary.json`` (title, times, model) and ``updates.jsonl`` (the ACP event
log, with times and usage) sit beside it: recognised as side files, not read
(a parse reads one stream), so conversations carry no times or usage yet.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final
from urllib.parse import unquote

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
    fail_on_error,
    from_json_text,
    json_text,
    skip_on_error,
)

NAME = "grok-cli"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

# the keys each item type has (beyond "type" and "content"): what the sniffer accepts
_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "user": frozenset({"synthetic_reason", "prompt_index", "prior_turn_interrupt", "id"}),
    "assistant": frozenset({"tool_calls", "model_id", "model_fingerprint", "reasoning_effort", "id"}),
    "reasoning": frozenset({"id", "summary", "encrypted_content", "status"}),
    "tool_result": frozenset({"tool_call_id", "id", "status"}),
    "backend_tool_call": frozenset({"kind", "id"}),
}
_MARKERS = frozenset(
    {"synthetic_reason", "prompt_index", "model_id", "model_fingerprint", "tool_call_id", "encrypted_content", "kind"}
)
_FOREIGN = frozenset({"uuid", "sessionId", "session_id", "message", "payload", "role", "data", "parentId", "timestamp"})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_WORKSPACE = re.compile(r"^Workspace Path:\s*(.+?)\s*$", re.M)


# ---------------------------------------------------------------- sniffing


def _is_item(r: dict) -> bool:
    t = r.get("type")
    allowed = _KEYS.get(t) if isinstance(t, str) else None
    return allowed is not None and not (r.keys() & _FOREIGN) and r.keys() <= allowed | {"type", "content"}


def sniff(head: Head) -> bool:
    recs = head.records
    if not recs or not all(_is_item(r) for r in recs):
        return False
    if any(r.keys() & _MARKERS for r in recs):
        return True
    # marker-free items: a system prompt and a typed turn, nothing else
    return len(recs) >= 2 and recs[0].get("type") == "system" and any(r["type"] in ("user", "assistant") for r in recs)


def _side_file(head: Head) -> bool:
    """``summary.json`` (``info{id, cwd}`` and the CLI's own fields) and
    ``updates.jsonl`` (the ACP ``session/update`` log) beside each history."""
    if head.kind == "json" and head.top == "object":
        if head.has("info.id") and head.has("info.cwd"):
            return any(
                head.has(k) for k in ("current_model_id", "chat_format_version", "last_active_at", "git_remotes")
            )
    recs = head.records
    if recs and head.kind in ("json", "jsonl"):
        return all(
            isinstance(r.get("method"), str)
            and r["method"].endswith("session/update")
            and isinstance(as_dict(r.get("params")).get("update"), dict)
            for r in recs[:5]
        )
    return False


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    s = _Session(ctx)
    if not feed_records(stream, ctx, s.item):
        raise ParseError("no Grok CLI records in this file")
    if not s.items:
        raise ParseError("no Grok CLI history items in this file")
    yield from guarded(fail_on_error("malformed Grok CLI history"), s.finish)  # the file's one conversation


class _Session:
    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.items: list[tuple[int, dict]] = []
        self.first: list[bytes] = []  # the first records, for a derived id

    def item(self, lineno: int, rec: dict) -> None:
        if not isinstance(rec.get("type"), str):
            self.ctx.warn("not a history item (no type); skipped", lineno)
            return
        if len(self.first) < 3:
            self.first.append(orjson.dumps(rec, option=orjson.OPT_SORT_KEYS))
        self.items.append((lineno, rec))

    def finish(self) -> m.Conversation | None:
        sid, meta = self._identity()
        messages: list[m.Message] = []
        unknown: dict[str, int] = {}
        encrypted = 0
        models: list[str] = []
        project = None
        for lineno, rec in self.items:
            msg = None
            with skip_on_error(self.ctx, "record", lineno):
                msg = _message(sid, lineno, rec, unknown)
            if msg is None:
                if rec.get("type") == "reasoning":
                    encrypted += 1
                continue
            if messages:
                msg.parent_id = messages[-1].id
            messages.append(msg)
            if msg.model and msg.model not in models:
                models.append(msg.model)
            if project is None and msg.context and msg.role == m.USER:
                found = _WORKSPACE.search(msg.text)
                project = found.group(1) if found else None
        _fill_reasoning_models(messages)
        if encrypted:
            meta["encrypted_reasoning"] = encrypted
        if unknown:
            meta["unknown_items"] = unknown
            self.ctx.warn(
                "Grok CLI history of an unknown version: "
                + ", ".join(f"{n} '{t}' item(s)" for t, n in sorted(unknown.items())[:5])
                + " kept as opaque blocks"
            )
        if not messages:
            self.ctx.warn("no messages in this Grok CLI history")
            return None
        first_prompt = next((x for x in messages if x.role == m.USER and not x.context and x.text), None)
        title = first_prompt.text.strip().splitlines()[0][:100] if first_prompt else None
        return m.Conversation(
            provider=NAME,
            provider_id=sid,
            title=title,
            messages=messages,
            source_path=self.ctx.path,
            models=models,
            project=project or meta.pop("path_project", None),
            meta=meta,
        )

    def _identity(self) -> tuple[str, dict[str, Any]]:
        """The session folder's name (a UUID in the CLI's layout), else an id derived from the first records."""
        path = (self.ctx.path or "").split("!")[-1].replace("\\", "/")
        folder = os.path.dirname(path)
        name = os.path.basename(folder)
        meta: dict[str, Any] = {}
        if _UUID.match(name):
            meta["id_source"] = "session folder"
            bucket = os.path.basename(os.path.dirname(folder))
            if "%" in bucket:
                meta["path_project"] = unquote(bucket)
            return name, meta
        digest = hashlib.sha256(b"\n".join(self.first)).hexdigest()[:20]
        meta.update(derived_id=True, id_source="first records")
        return f"derived-{digest}", meta


def _message(sid: str, lineno: int, rec: dict, unknown: dict[str, int]) -> m.Message | None:
    t = rec["type"]
    mid = f"{sid}:{lineno}"
    meta: dict[str, Any] = {}
    if t == "system":
        return m.Message(id=mid, role=m.SYSTEM, blocks=_content(rec.get("content")), context=True)
    if t == "user":
        msg = m.Message(id=mid, role=m.USER, blocks=_content(rec.get("content")))
        reason = as_str(rec.get("synthetic_reason"))
        if reason:
            msg.context = True
            meta["kind"] = reason
        for key in ("prompt_index", "prior_turn_interrupt"):
            if rec.get(key) is not None:
                meta[key] = bounded(rec[key], max_total=200)
        msg.meta = meta or None
        return msg
    if t == "reasoning":
        parts = as_list(rec.get("summary")) + as_list(rec.get("content"))
        said = [as_str(p.get("text")) for p in parts if isinstance(p, dict)]
        blocks = [m.thinking(s) for s in said if s]  # as_str: a number written as the text is still text
        if not blocks:
            return None
        if as_str(rec.get("id")):
            meta["item_id"] = rec["id"]
        return m.Message(id=mid, role=m.ASSISTANT, blocks=blocks, meta=meta or None)
    if t == "assistant":
        blocks = _content(rec.get("content"))
        for call in as_list(rec.get("tool_calls")):
            if isinstance(call, dict):
                blocks.append(
                    m.tool_use(as_str(call.get("id")), as_str(call.get("name")), from_json_text(call.get("arguments")))
                )
        for key in ("model_fingerprint", "reasoning_effort"):
            if rec.get(key) is not None:
                meta[key] = bounded(rec[key], max_total=200)
        model = as_str(rec.get("model_id"))
        return m.Message(id=mid, role=m.ASSISTANT, blocks=blocks, model=model or None, meta=meta or None)
    if t == "tool_result":
        out = rec.get("content")
        text = out if isinstance(out, str) else "\n".join(b.text for b in _content(out) if b.text) or json_text(out)
        return m.Message(id=mid, role=m.TOOL, blocks=[m.tool_result(as_str(rec.get("tool_call_id")), text)])
    if t == "backend_tool_call":
        kind = as_dict(rec.get("kind"))
        use = m.tool_use(as_str(kind.get("id")), as_str(kind.get("tool_type")) or "backend_tool", kind.get("action"))
        if kind.get("status") is not None:
            use.meta = {"status": bounded(kind["status"], max_total=200), "backend": True}
        return m.Message(id=mid, role=m.ASSISTANT, blocks=[use])
    unknown[t[:40]] = unknown.get(t[:40], 0) + 1
    return m.Message(id=mid, role=m.ASSISTANT, blocks=[m.opaque(bounded(rec))], meta={"item_type": t[:40]})


def _content(value: Any) -> list[m.Block]:
    if isinstance(value, str):
        return [m.text(value)] if value else []
    out: list[m.Block] = []
    for part in as_list(value):
        if isinstance(part, str):
            out.append(m.text(part))
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind in ("text", "input_text", "output_text") and isinstance(part.get("text"), str):
                out.append(m.text(part["text"]))
            elif kind in ("image", "image_url", "input_image"):
                url = as_str(part.get("url")) or as_str(as_dict(part.get("image_url")).get("url"))
                out.append(m.attachment(None, kind=m.IMAGE, url=_short_url(url)))
            else:
                out.append(m.opaque(bounded(part)))
    return out


def _short_url(url: str | None) -> str | None:
    """A data: URL is the image itself: keep its header, not the bytes."""
    if url and url.startswith("data:"):
        return url.split(",", 1)[0] + ",…"
    return url


def _fill_reasoning_models(messages: list[m.Message]) -> None:
    """Reasoning items carry no model: they take the model of the reply that
    follows them (the last ones, with no reply after them, the one before)."""
    for order in (reversed(messages), messages):
        model: str | None = None
        for msg in order:
            if msg.role != m.ASSISTANT:
                continue
            if msg.model and not _thinking_only(msg):
                model = msg.model
            elif model and not msg.model and _thinking_only(msg):
                msg.model = model


def _thinking_only(msg: m.Message) -> bool:
    return bool(msg.blocks) and all(b.type == m.THINKING for b in msg.blocks)


PROVIDER = Provider(
    name=NAME,
    display_name="Grok CLI",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=143,
    records=Records(usage=False, models=True, branches=False, thinking=True, subagents=False),
    locations=(Location("~/.grok", "sessions", env="GROK_HOME"),),
    side_file=_side_file,
)
