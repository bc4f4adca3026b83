"""Google Antigravity conversations (docs/providers.md, "antigravity"), in the two
readable forms there are.

1. The Antigravity CLI's step log,
   ``~/.gemini/antigravity-cli/brain/<conversation>/.system_generated/logs/transcript.jsonl``:
   one record per agent step ``{step_index, source: USER_EXPLICIT|MODEL|SYSTEM,
   type, status, created_at, content?, thinking?, tool_calls?, truncated_fields?}``.
   ``USER_INPUT`` is a prompt: the text inside ``<USER_REQUEST>`` is what the
   person typed, the rest (``<USER_SETTINGS_CHANGE>``, ``<ADDITIONAL_METADATA>``)
   follows as a context message ``<id>#context``; a model named by a settings
   change is the model of the replies after it. ``PLANNER_RESPONSE`` is a
   reply: ``thinking``, ``content`` and ``tool_calls[{name, args}]`` (argument
   values are JSON-encoded strings, decoded). The model's other steps
   (``RUN_COMMAND``, ``VIEW_FILE``, ``LIST_DIRECTORY``, ``CODE_ACTION``,
   ``SEARCH_WEB``, ``GREP_SEARCH``...) are tool output, paired in order with
   the calls announced before them (the log has no call ids); a step no call
   announced gets a call named after its type (``meta.inferred_call``).
   ``SYSTEM_MESSAGE`` and ``CHECKPOINT`` steps are context; ``CONVERSATION_HISTORY``
   markers carry nothing. ``truncated_fields`` (the CLI clipped the text) is kept.
2. A capture of the Antigravity language server's conversation (as the original
   Polylogue saved it): ``{source:"antigravity_language_server", cascadeId,
   title, workspaceName, lastModifiedTime, markdown}`` whose markdown has
   ``### User Input`` and ``### Planner Response`` sections.

The step log does not name its conversation (the folder does): its id is derived
from the first record (``meta.derived_id``). The IDE's own store
(``~/.gemini/antigravity/conversations/*.pb``) is protobuf and is not read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
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
    from_json_text,
    load_json,
    read_time,
    replay,
    skip_on_error,
    to_utc,
)

NAME = "antigravity"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

CAPTURE_SOURCE = "antigravity_language_server"
_REQUEST = re.compile(r"<USER_REQUEST>\s*(.*?)\s*</USER_REQUEST>", re.S)
_MODEL = re.compile(r"Model Selection`?\s+from\s+.+?\s+to\s+(.+?)\.?\s*$", re.M)
_SECTION = re.compile(r"^###\s+(.+?)\s*$", re.M)
_SECTION_ROLES = {"user input": m.USER, "planner response": m.ASSISTANT}
_CONTEXT_STEPS = frozenset({"SYSTEM_MESSAGE", "CHECKPOINT", "EPHEMERAL_MESSAGE"})
_SILENT_STEPS = frozenset({"CONVERSATION_HISTORY"})
_TITLE_CHARS = 100


# ---------------------------------------------------------------- sniffing


def _is_step(r: dict) -> bool:
    return "step_index" in r and isinstance(r.get("type"), str) and "source" in r


def sniff(head: Head) -> bool:
    recs = head.records
    if recs and recs[0].get("source") == CAPTURE_SOURCE and "markdown" in recs[0]:
        return True
    if head.kind == "json" and head.top == "object" and head.has("cascadeId") and head.has("markdown"):
        return True
    return bool(recs) and sum(1 for r in recs if _is_step(r)) >= max(1, min(2, len(recs)))


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    head = stream.read(1 << 16)
    body = replay(head, stream)
    first_line = head.lstrip().split(b"\n", 1)[0]
    try:
        first = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        first = None
    if head.lstrip()[:1] == b"{" and (first is None or "step_index" not in first):
        doc = load_json(body, ctx=ctx)
        if not isinstance(doc, dict) or not isinstance(doc.get("markdown"), str):
            raise ParseError("not an Antigravity conversation (no markdown and no steps)")
        yield from guarded(skip_on_error(ctx, "Antigravity capture"), lambda: _capture(doc, ctx))
        return
    log = _StepLog(ctx)
    if not feed_records(body, ctx, log.step, "step"):
        raise ParseError("no Antigravity steps in this file")
    yield from guarded(skip_on_error(ctx, "Antigravity conversation"), log.build)


class _StepLog:
    def __init__(self, ctx: ParseContext):
        self.ctx = ctx
        self.first: dict | None = None
        self.msgs: list[m.Message] = []
        self.pending: list[m.Block] = []  # announced calls without output yet, in order
        self.model: str | None = None
        self.counts: dict[str, int] = {}

    def _add(self, msg: m.Message) -> None:
        msg.parent_id = self.msgs[-1].id if self.msgs else None
        self.msgs.append(msg)

    def step(self, line: int, rec: dict) -> None:
        if not _is_step(rec):
            self.ctx.warn("not an Antigravity step record, skipped", line)
            return
        if self.first is None:
            self.first = rec
        t = rec["type"]
        self.counts[t] = self.counts.get(t, 0) + 1
        meta: dict[str, Any] = {"step_type": t}
        ts = read_time(rec.get("created_at"), meta, "timestamp")
        if rec.get("status") not in (None, "DONE"):
            meta["status"] = bounded(rec.get("status"), max_str=80)
        if "content" in as_list(rec.get("truncated_fields")):
            meta["truncated"] = True
        if rec.get("step_index") is not None:
            meta["step_index"] = bounded(rec["step_index"])
        content = as_str(rec.get("content")) or ""
        mid = f"L{line}"
        if t in _SILENT_STEPS and not content:
            return
        if t == "USER_INPUT":
            self._user(mid, content, ts, meta)
        elif t == "PLANNER_RESPONSE":
            self._reply(mid, rec, content, ts, meta)
        elif rec.get("source") == "SYSTEM" or t in _CONTEXT_STEPS:
            self._add(
                m.Message(mid, m.SYSTEM, [m.text(content)] if content else [], timestamp=ts, context=True, meta=meta)
            )
        else:
            self._tool(mid, t, content, ts, meta)

    def _user(self, mid: str, content: str, ts: Any, meta: dict) -> None:
        hit = _REQUEST.search(content)
        prompt = hit.group(1) if hit else content
        rest = (content[: hit.start()] + content[hit.end() :]).strip() if hit else ""
        model = _MODEL.search(content)
        if model:
            self.model = model.group(1).strip()
        self._add(m.Message(mid, m.USER, [m.text(prompt)] if prompt else [], timestamp=ts, meta=meta))
        if rest:
            note = {"kind": "injected", "derived_id": True}
            self._add(m.Message(f"{mid}#context", m.USER, [m.text(rest)], timestamp=ts, context=True, meta=note))

    def _reply(self, mid: str, rec: dict, content: str, ts: Any, meta: dict) -> None:
        blocks: list[m.Block] = []
        thought = as_str(rec.get("thinking"))
        if thought:
            blocks.append(m.thinking(thought))
        if content:
            blocks.append(m.text(content))
        for k, call in enumerate(as_list(rec.get("tool_calls"))):
            c = as_dict(call)
            use = m.tool_use(f"{mid}.t{k}", as_str(c.get("name")), _args(c.get("args")))
            use.meta = {"derived_id": True}
            blocks.append(use)
            self.pending.append(use)
        self._add(m.Message(mid, m.ASSISTANT, blocks, timestamp=ts, model=self.model, meta=meta))

    def _tool(self, mid: str, t: str, content: str, ts: Any, meta: dict) -> None:
        blocks: list[m.Block] = []
        if self.pending:
            call_id = self.pending.pop(0).id
        else:  # output no call announced: name the call after the step
            call_id = f"{mid}.call"
            use = m.tool_use(call_id, t.lower(), None)
            use.meta = {"inferred_call": True}
            blocks.append(use)
        blocks.append(m.tool_result(call_id, content))
        self._add(m.Message(mid, m.TOOL, blocks, timestamp=ts, meta=meta))

    def build(self) -> m.Conversation | None:
        if self.first is None or not self.msgs:
            self.ctx.warn("Antigravity step log has no messages; nothing imported")
            return None
        seed = orjson.dumps(self.first, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        stamps = [x.timestamp for x in self.msgs if x.timestamp]
        return m.Conversation(
            provider=NAME,
            provider_id=hashlib.sha1(seed).hexdigest()[:20],
            title=_title(self.msgs),
            created_at=min(stamps) if stamps else None,
            updated_at=max(stamps) if stamps else None,
            messages=self.msgs,
            source_path=self.ctx.path,
            models=[self.model] if self.model and any(x.model for x in self.msgs) else [],
            meta={"form": "cli-steps", "derived_id": True, "steps": dict(self.counts)},
        )


def _args(args: Any) -> Any:
    """Argument values arrive JSON-encoded (``"\\"/tmp/repo\\""``): decode those that parse."""
    if not isinstance(args, dict):
        return args
    return {k: from_json_text(v) for k, v in args.items()}


def _title(msgs: list[m.Message]) -> str | None:
    first = next((x for x in msgs if x.role == m.USER and not x.context and x.text.strip()), None)
    return first.text.strip().split("\n", 1)[0][:_TITLE_CHARS] if first else None


def _capture(doc: dict, ctx: ParseContext) -> m.Conversation | None:
    cid = as_str(doc.get("cascadeId")) or as_str(doc.get("id"))
    if not cid:
        raise ParseError("Antigravity capture without a cascadeId")
    msgs: list[m.Message] = []
    text = doc["markdown"]
    heads = list(_SECTION.finditer(text))
    for k, h in enumerate(heads):
        body = text[h.end() : heads[k + 1].start() if k + 1 < len(heads) else len(text)].strip()
        name = h.group(1)
        role = _SECTION_ROLES.get(name.lower(), m.SYSTEM)
        note = {"section": name, "derived_id": True}
        msg = m.Message(f"section-{k}", role, [m.text(body)] if body else [], context=role == m.SYSTEM, meta=note)
        msg.parent_id = msgs[-1].id if msgs else None
        msgs.append(msg)
    if not msgs:
        ctx.warn(f"Antigravity capture {cid} has no sections; nothing imported")
        return None
    meta: dict[str, Any] = {"form": "language-server-capture"}
    updated = read_time(doc.get("lastModifiedTime"), meta, "updated")
    for key in ("snippet", "workspaceName", "source"):
        if doc.get(key) is not None:
            meta[key] = bounded(doc[key], max_str=500)
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=as_str(doc.get("title")) or _title(msgs),
        created_at=to_utc(doc.get("createdTime")) or updated,
        updated_at=updated,
        messages=msgs,
        source_path=ctx.path,
        project=as_str(doc.get("workspaceName")),
        meta=meta,
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Antigravity",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=253,
    records=Records(usage=False, models=True, branches=False, thinking=True, subagents=False),
    locations=(
        Location(
            "~/.gemini/antigravity-cli",
            "brain",
            find=("*/.system_generated/logs/transcript.jsonl",),
            depth=3,
        ),
    ),
)
