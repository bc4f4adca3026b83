"""Google AI Studio saved prompts (docs/providers.md, "gemini").

A prompt is one JSON document (a Drive file, usually without an extension)::

    {runSettings{model,...}, systemInstruction{text}, chunkedPrompt{chunks[], pendingInputs[]},
     citations[], applets[]}

Each chunk becomes one message, in array order. ``isThought`` chunks become
thinking; ``executableCode`` / ``codeExecutionResult`` (on the chunk or inside
``parts``) become tool_use / tool_result paired by adjacency (the format has no
ids: each result answers the preceding code); Drive, inline and YouTube media
become attachment/image references. ``text`` is used when present, otherwise
the ``parts`` text fragments are concatenated (never both).

Identity. Real files carry no id: the Drive file id lives outside the content.
When the document has a top-level ``id`` (synthetic files, tools that wrap the
Drive metadata) it is the provider id. Otherwise the id is derived from content
that stays the same while the prompt grows and is rewritten in place:

- the ``createTime`` of the first chunk (microsecond ISO, unique per prompt);
- for a branch file, the ``branchParent.promptId``, the index of the chunk that
  carries it, and the ``createTime`` of the first chunk after it (so two
  branches of one prompt differ);
- only when the first chunk has no ``createTime`` (older files), its role and
  text plus the file's base name (the Drive file name) as a last resort.

``"derived-" + sha256(...)[:20]``; ``meta["derived_id"] = True`` and
``meta["id_source"]`` says which inputs were used. Message ids are the chunk
``id`` where present, else ``chunk-<index>`` (the system instruction is
``system-instruction``).

Tree. A fixture-style ``branchParent{id}`` naming a chunk of the same file makes
that chunk the parent; otherwise a chunk's parent is the previous chunk. The
active leaf is the latest leaf by time (ties: file order), flagged inferred.
Real ``branchParent{promptId}`` links to another prompt file: it becomes
``Conversation.parent_id`` (``gemini:<promptId>``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from . import Head
from .base import Provider, Records
from .common import (
    ParseContext,
    active_path,
    as_dict,
    as_list,
    as_str,
    break_message_cycles,
    fail_on_error,
    latest_leaf,
    load_json,
    skip_on_error,
    to_utc,
)

NAME = "gemini"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

_ROLES = {
    "user": m.USER,
    "model": m.ASSISTANT,
    "assistant": m.ASSISTANT,
    "system": m.SYSTEM,
    "tool": m.TOOL,
    "function": m.TOOL,
}
_DRIVE = ("driveDocument", "driveImage", "driveAudio", "driveVideo")
_INLINE = ("inlineFile", "inlineImage", "inlineData")
# chunk keys handled explicitly; anything else is kept raw in meta["extra"]
_KNOWN = {
    "id",
    "role",
    "text",
    "parts",
    "isThought",
    "thinkingBudget",
    "thoughtSignatures",
    "thoughtSignature",
    "tokenCount",
    "finishReason",
    "createTime",
    "executableCode",
    "codeExecutionResult",
    "grounding",
    "safetyRatings",
    "errorMessage",
    "isEdited",
    "branchParent",
    "branchChildren",
    "youtubeVideo",
    "videoMetadata",
    *_DRIVE,
    *_INLINE,
}
_TEXT_MIME_PREFIXES = ("text/", "application/json", "application/xml", "application/x-python")
_EXTRACT_LIMIT = 1 << 20


def sniff(head: Head) -> bool:
    if head.top == "object" and head.has("chunkedPrompt", "start_map"):
        return True
    return any(isinstance(r.get("chunkedPrompt"), dict) for r in head.records[:1])


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    doc = load_json(stream, ctx=ctx)
    if not isinstance(doc, dict) or not isinstance(doc.get("chunkedPrompt"), dict):
        raise ParseError("not an AI Studio prompt (no chunkedPrompt object)")
    conv = None
    with fail_on_error("malformed AI Studio prompt"):  # the file's one conversation
        conv = _conversation(doc, ctx)
    if conv is not None:
        yield conv


# ---------------------------------------------------------------- conversation


def _conversation(doc: dict, ctx: ParseContext) -> m.Conversation | None:
    prompt = as_dict(doc.get("chunkedPrompt"))
    raw_chunks = prompt.get("chunks")
    if raw_chunks is not None and not isinstance(raw_chunks, list):
        raise ParseError("chunkedPrompt.chunks is not an array")
    chunks = as_list(raw_chunks)

    meta: dict[str, Any] = {}
    pid = as_str(doc.get("id"))
    if not pid:
        pid, source = _derived_id(chunks, ctx.path)
        meta["derived_id"] = True
        meta["id_source"] = source
    title = as_str(doc.get("displayName")) or as_str(doc.get("title")) or as_str(doc.get("name"))
    if not title:
        title = _path_title(ctx.path)
        if title:
            meta["title_from_path"] = True

    settings = as_dict(doc.get("runSettings"))
    model = as_str(settings.get("model"))
    if settings:
        meta["run_settings"] = settings
    for key, out in (("citations", "citations"), ("applets", "applets")):
        if doc.get(key):
            meta[out] = doc[key]
    pending = [p for p in as_list(prompt.get("pendingInputs")) if p]
    if pending:
        meta["pending_inputs"] = pending  # an unsent draft, not a message
    for key in doc:
        if key not in (
            "id",
            "displayName",
            "title",
            "name",
            "runSettings",
            "systemInstruction",
            "chunkedPrompt",
            "citations",
            "applets",
            "createTime",
            "updateTime",
        ):
            meta.setdefault("extra", {})[key] = doc[key]

    messages = _system_instruction(doc)
    builder = _Builder(ctx)
    chunk_msgs = _chunk_messages(builder, chunks, ctx)
    if not chunk_msgs:
        ctx.warn("AI Studio prompt has no chunks; nothing imported")
        return None

    parent_link = builder.link_tree(chunk_msgs)
    if builder.inferred_leaf:
        meta["active_leaf_inferred"] = True
    messages.extend(chunk_msgs)

    stamps = [msg.timestamp for msg in messages if msg.timestamp]
    created = to_utc(doc.get("createTime")) or (min(stamps) if stamps else None)
    updated = to_utc(doc.get("updateTime")) or (max(stamps) if stamps else None)
    conv = m.Conversation(
        provider=NAME,
        provider_id=pid,
        title=title,
        created_at=created,
        updated_at=updated,
        messages=messages,
        source_path=ctx.path,
        models=[_model_slug(model)] if model else [],
        meta=meta,
    )
    if parent_link:
        conv.parent_id = f"{NAME}:{parent_link['promptId']}"
        meta["branch_parent"] = parent_link
    children = builder.branch_children
    if children:
        meta["branch_children"] = children
    return conv


def _system_instruction(doc: dict) -> list[m.Message]:
    """The prompt's system instruction as a context message (none when it is empty)."""
    sys_text = as_str(as_dict(doc.get("systemInstruction")).get("text"))
    if sys_text is None:  # some writers use parts
        sys_text = "".join(
            as_str(p.get("text")) or ""
            for p in as_list(as_dict(doc.get("systemInstruction")).get("parts"))
            if isinstance(p, dict)
        )
    if not (sys_text and sys_text.strip()):
        return []
    return [
        m.Message("system-instruction", m.SYSTEM, [m.text(sys_text)], context=True, meta={"system_instruction": True})
    ]


def _chunk_messages(builder: _Builder, chunks: list, ctx: ParseContext) -> list[m.Message]:
    """One message per usable chunk; a malformed chunk is warned about and skipped."""
    out: list[m.Message] = []
    for index, chunk in enumerate(chunks):
        if not isinstance(chunk, dict):
            ctx.warn(f"chunk {index}: not an object ({type(chunk).__name__}), skipped")
            continue
        msg = None
        with skip_on_error(ctx, f"chunk {index}"):
            msg = builder.message(index, chunk)
        if msg is not None:
            out.append(msg)
    return out


def _model_slug(model: str) -> str:
    return model[len("models/") :] if model.startswith("models/") else model


def _path_title(path: str) -> str | None:
    name = os.path.basename((path or "").split("!")[-1].replace("\\", "/").rstrip("/"))
    if name.lower().endswith(".json"):
        name = name[:-5]
    return name or None


def _chunk_plain_text(chunk: dict) -> str:
    t = chunk.get("text")
    if isinstance(t, str):
        return t
    return "".join(as_str(p.get("text")) or "" for p in as_list(chunk.get("parts")) if isinstance(p, dict))


def _derived_id(chunks: list, path: str) -> tuple[str, str]:
    """A stable id for a prompt without one (see the module docstring)."""
    dicts = [c for c in chunks if isinstance(c, dict)]
    first = dicts[0] if dicts else {}
    material: dict[str, Any] = {"v": 1}
    first_time = as_str(first.get("createTime"))
    if first_time:
        material["t"] = first_time
        source = "content"
    else:
        material["first"] = [as_str(first.get("role")), _chunk_plain_text(first)[:4096]]
        material["name"] = _path_title(path) or ""
        source = "content+path"
    for i, c in enumerate(dicts):
        bp = c.get("branchParent")
        if isinstance(bp, dict) and as_str(bp.get("promptId")):
            nxt = dicts[i + 1] if i + 1 < len(dicts) else {}
            material["branch"] = [bp["promptId"], i, as_str(nxt.get("createTime"))]
            break
    digest = hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]
    return f"derived-{digest}", source


# ---------------------------------------------------------------- chunks


class _Builder:
    def __init__(self, ctx: ParseContext):
        self.ctx = ctx
        self.used_ids: set[str] = set()
        self.chunk_ids: dict[str, str] = {}  # source chunk id -> message id
        self.pending_code: str | None = None  # call id of the last code without a result
        self.code_count: dict[str, int] = {}
        self.intra_parent: dict[str, str] = {}  # message id -> chunk id named by branchParent{id}
        self.branch_parent: dict | None = None
        self.branch_children: list = []
        self.inferred_leaf = False

    def _message_id(self, index: int, chunk: dict) -> str:
        cid = as_str(chunk.get("id"))
        mid = cid if cid and cid not in self.used_ids else f"chunk-{index}"
        while mid in self.used_ids:
            mid += "+"
        self.used_ids.add(mid)
        if cid and cid not in self.chunk_ids:
            self.chunk_ids[cid] = mid
        return mid

    def message(self, index: int, chunk: dict) -> m.Message | None:
        raw_role = as_str(chunk.get("role"))
        role = _ROLES.get((raw_role or "").lower())
        meta: dict[str, Any] = {"chunk_index": index}
        if role is None:
            self.ctx.warn(f"chunk {index}: unknown role {raw_role!r}, kept as user")
            role = m.USER
            meta["raw_role"] = raw_role
        mid = self._message_id(index, chunk)
        thought = chunk.get("isThought") is True
        blocks = self._blocks(mid, chunk, thought)

        if thought:
            meta["thought"] = True
        for key, out in (
            ("finishReason", "finish_reason"),
            ("errorMessage", "error"),
            ("grounding", "grounding"),
            ("safetyRatings", "safety_ratings"),
            ("thinkingBudget", "thinking_budget"),
            ("tokenCount", "token_count"),
            ("videoMetadata", "video_metadata"),
        ):
            v = chunk.get(key)
            if v is not None and v != [] and v != {}:
                meta[out] = v
        if chunk.get("isEdited") is True:
            meta["edited"] = True
        if as_str(chunk.get("id")):
            meta["chunk_id"] = chunk["id"]
        extra = {k: v for k, v in chunk.items() if k not in _KNOWN}
        if extra:
            meta["extra"] = extra
        if not blocks:
            meta["empty"] = True

        bp = chunk.get("branchParent")
        if isinstance(bp, dict):
            meta["branch_parent"] = bp
            if as_str(bp.get("id")):
                self.intra_parent[mid] = bp["id"]
            elif as_str(bp.get("promptId")) and self.branch_parent is None:
                self.branch_parent = {k: v for k, v in bp.items() if v is not None}
                meta["branch_point"] = True
        bc = chunk.get("branchChildren")
        if isinstance(bc, list) and bc:
            meta["branch_children"] = bc
            self.branch_children.extend(c for c in bc if isinstance(c, dict) and c.get("promptId"))

        usage = None
        count = chunk.get("tokenCount")
        if role == m.ASSISTANT and isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            usage = {"reasoning" if thought else "output": count, "convention": "gemini"}
        return m.Message(
            mid,
            role,
            blocks,
            timestamp=to_utc(chunk.get("createTime")),
            usage=usage,
            meta=meta,
            context=role == m.SYSTEM,
        )

    # -- blocks

    def _blocks(self, mid: str, chunk: dict, thought: bool) -> list[m.Block]:
        blocks: list[m.Block] = []
        seen_code: set[bytes] = set()
        kind = m.THINKING if thought else m.TEXT
        text = chunk.get("text")
        has_text = isinstance(text, str)
        if has_text and text:
            blocks.append(m.Block(kind, text))

        run: list[str] = []
        run_kind = kind

        def flush():
            if run and "".join(run):
                blocks.append(m.Block(run_kind, "".join(run)))
            run.clear()

        for p in as_list(chunk.get("parts")):
            if not isinstance(p, dict):
                if isinstance(p, str) and not has_text:
                    run.append(p)
                continue
            if "text" in p and isinstance(p["text"], str):
                if has_text:
                    continue  # the parts are the streamed fragments of `text`
                pk = m.THINKING if (thought or p.get("thought") is True) else m.TEXT
                if pk != run_kind:
                    flush()
                    run_kind = pk
                run.append(p["text"])
                continue
            flush()
            for key in ("executableCode", "codeExecutionResult"):
                if isinstance(p.get(key), dict):
                    seen_code.add(orjson.dumps(p[key], option=orjson.OPT_SORT_KEYS))
            blocks.extend(self._part_blocks(mid, p))
        flush()

        for key in ("executableCode", "codeExecutionResult"):
            v = chunk.get(key)
            if isinstance(v, dict) and orjson.dumps(v, option=orjson.OPT_SORT_KEYS) not in seen_code:
                blocks.extend(self._part_blocks(mid, {key: v}))
        for key in _DRIVE:
            v = chunk.get(key)
            if isinstance(v, dict):
                blocks.append(_drive_block(key, v))
        for key in _INLINE:
            v = chunk.get(key)
            if isinstance(v, dict):
                blocks.append(_inline_block(key, v))
        yt = chunk.get("youtubeVideo")
        if isinstance(yt, dict):
            vid = as_str(yt.get("id"))
            blocks.append(
                m.attachment(
                    None,
                    source="youtubeVideo",
                    youtube_id=vid,
                    url=f"https://www.youtube.com/watch?v={vid}" if vid else None,
                )
            )
        return blocks

    def _part_blocks(self, mid: str, p: dict) -> list[m.Block]:
        out: list[m.Block] = []
        handled = False
        code = p.get("executableCode")
        if isinstance(code, dict):
            handled = True
            n = self.code_count.get(mid, 0)
            self.code_count[mid] = n + 1
            call_id = f"{mid}:code{n}" if n else f"{mid}:code"
            inp = {k: v for k, v in code.items() if v is not None}
            out.append(m.tool_use(call_id, "code_execution", inp))
            self.pending_code = call_id
        res = p.get("codeExecutionResult")
        if isinstance(res, dict):
            handled = True
            outcome = as_str(res.get("outcome"))
            output = res.get("output")
            output = output if isinstance(output, str) else ("" if output is None else orjson.dumps(output).decode())
            is_error = None if outcome in (None, "OUTCOME_UNSPECIFIED") else outcome != "OUTCOME_OK"
            b = m.tool_result(self.pending_code, output, is_error)
            b.meta = {"outcome": "unknown" if is_error is None else "error" if is_error else "success"}
            if outcome:
                b.meta["status"] = outcome
            if self.pending_code is None:
                b.meta["unpaired"] = True
            out.append(b)
            self.pending_code = None
        for key in _INLINE:
            if isinstance(p.get(key), dict):
                handled = True
                out.append(_inline_block(key, p[key]))
        fd = p.get("fileData")
        if isinstance(fd, dict):
            handled = True
            uri = as_str(fd.get("fileUri"))
            out.append(
                m.attachment(
                    None,
                    kind=_media_kind(as_str(fd.get("mimeType"))),
                    url=uri,
                    mime=as_str(fd.get("mimeType")),
                    source="fileData",
                )
            )
        if not handled:
            keys = set(p) - {"thoughtSignature", "thought"}
            if keys:
                out.append(m.opaque(p))
        return out

    # -- tree

    def link_tree(self, msgs: list[m.Message]) -> dict | None:
        """Set parent ids and the active path; return the cross-file branch parent."""
        prev: str | None = None
        for msg in msgs:
            named = self.intra_parent.get(msg.id)
            parent = self.chunk_ids.get(named) if named else None
            if named and parent is None:
                chunk = (msg.meta or {}).get("chunk_index")
                self.ctx.warn(f"chunk {chunk}: branchParent names unknown chunk {named!r}")
            msg.parent_id = parent if parent and parent != msg.id else prev
            prev = msg.id
        break_message_cycles(msgs)  # branchParent may name a later chunk: links can loop
        leaf, chosen = latest_leaf(msgs)
        if chosen:
            self.inferred_leaf = True
        active = active_path(leaf.id, {msg.id: msg.parent_id for msg in msgs})
        for msg in msgs:
            msg.active = msg.id in active
        return self.branch_parent


def _media_kind(mime: str | None) -> str:
    return m.IMAGE if mime and mime.lower().startswith("image/") else m.ATTACHMENT


def _drive_block(key: str, v: dict) -> m.Block:
    mime = as_str(v.get("mimeType"))
    kind = m.IMAGE if key == "driveImage" or (mime or "").startswith("image/") else m.ATTACHMENT
    size = v.get("sizeBytes")
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    elif not isinstance(size, int) or isinstance(size, bool):
        size = None
    extra = {
        k: x
        for k, x in v.items()
        if k not in ("id", "name", "mimeType", "sizeBytes", "_polylogue_drive_live_bytes_b64")
    }
    fid = as_str(v.get("id"))
    b = m.attachment(
        as_str(v.get("name")),
        kind=kind,
        source=key,
        drive_id=fid,
        mime=mime,
        size=size,
        url=f"https://drive.google.com/file/d/{fid}" if fid else None,
        extra=extra or None,
    )
    data = v.get("_polylogue_drive_live_bytes_b64")  # bytes an earlier sync fetched from Drive
    if isinstance(data, str) and data:
        _attach_data(b, data, mime)
    return b


def _inline_block(key: str, v: dict) -> m.Block:
    mime = as_str(v.get("mimeType"))
    b = m.attachment(
        as_str(v.get("name")) or as_str(v.get("displayName")), kind=_media_kind(mime), source=key, mime=mime
    )
    data = v.get("data")
    if isinstance(data, str) and data:
        _attach_data(b, data, mime)
    return b


def _attach_data(b: m.Block, data: str, mime: str | None) -> None:
    """Keep embedded base64 bytes (the store may move them to a blob); extract text files for search."""
    meta = b.meta if b.meta is not None else {}
    b.meta = meta
    meta["data_b64"] = data
    meta.setdefault("size", len(data) * 3 // 4 - data[-2:].count("="))
    if mime and mime.lower().startswith(_TEXT_MIME_PREFIXES) and len(data) <= _EXTRACT_LIMIT * 4 // 3 + 4:
        try:
            b.text = base64.b64decode(data, validate=False).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            pass


PROVIDER = Provider(
    name=NAME,
    display_name="Google AI Studio",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=40,
    records=Records(usage=True, models=True, branches=True, thinking=True),
)
