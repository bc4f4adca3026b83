"""Anthropic-style content blocks (``text``, ``thinking``, ``tool_use``,
``tool_result``, ``image``) into typed blocks, for the formats that store a
conversation in that shape without being Claude Code: the Cursor agent's
transcripts and Cline/Roo Code task histories. Claude Code keeps its own,
richer converter (claude_code.py)."""

from __future__ import annotations

from typing import Any

from .. import models as m
from .common import as_dict, as_str, clip_text, json_or_summary, json_text

RAW_LIMIT = 16 << 10  # an unknown block is kept as opaque up to this much JSON


def image(item: dict, kind: str = m.IMAGE) -> m.Block:
    """An image or document block: what it is and how big, never its bytes."""
    src = as_dict(item.get("source"))
    meta: dict[str, Any] = {}
    for key, name in (("media_type", "mime"), ("type", "source"), ("url", "url")):
        v = clip_text(src.get(key), 2000)
        if v:
            meta[name] = v
    data = src.get("data")
    if isinstance(data, str) and data and src.get("type") == "base64":
        meta["bytes"] = len(data) * 3 // 4
    extracted = src["data"] if src.get("type") == "text" and isinstance(src.get("data"), str) else ""
    return m.Block(kind, extracted, name=clip_text(item.get("title") or item.get("name"), 500), meta=meta or None)


def result_text(content: Any) -> tuple[str, list[m.Block]]:
    """A tool result's content as text, plus the image blocks it carried."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return json_text(content), []
    parts: list[str] = []
    extra: list[m.Block] = []
    for it in content:
        if isinstance(it, str):
            parts.append(it)
        elif isinstance(it, dict) and it.get("type") == "image":
            extra.append(image(it))
        elif isinstance(it, dict) and isinstance(it.get("text"), str):
            parts.append(it["text"])
        elif it is not None:
            parts.append(json_text(it))
    return "\n".join(parts), extra


def blocks(content: Any) -> list[m.Block]:
    """The typed blocks of a message's ``content`` (a string or a list of blocks).
    An unknown block is kept as ``opaque``; nothing is ever stringified into text."""
    if isinstance(content, str):
        return [m.text(content)] if content else []
    if not isinstance(content, list):
        return [] if content is None else [m.opaque(json_or_summary(content, RAW_LIMIT))]
    out: list[m.Block] = []
    for item in content:
        if isinstance(item, str):
            if item:
                out.append(m.text(item))
            continue
        if not isinstance(item, dict):
            out.append(m.opaque(json_or_summary(item, RAW_LIMIT)))
            continue
        t = item.get("type")
        if t == "text" and isinstance(item.get("text"), str):
            if item["text"]:
                out.append(m.text(item["text"]))
        elif t in ("thinking", "reasoning"):
            s = item.get("thinking") if t == "thinking" else item.get("text")
            b = m.thinking(s if isinstance(s, str) else "")
            if item.get("signature"):
                b.meta = {"signed": True}  # the signature itself is an opaque blob, not kept
            if b.text or b.meta:
                out.append(b)
        elif t == "redacted_thinking":
            out.append(m.Block(m.THINKING, "", meta={"redacted": True}))
        elif t in ("tool_use", "tool-use", "tool_call", "tool-call"):
            name = as_str(item.get("name")) or as_str(item.get("tool"))
            out.append(m.tool_use(as_str(item.get("id")), clip_text(name, 200), item.get("input")))
        elif t in ("tool_result", "tool-result"):
            body, extra = result_text(item.get("content"))
            err = item.get("is_error")
            out.append(m.tool_result(as_str(item.get("tool_use_id")), body, err if isinstance(err, bool) else None))
            out.extend(extra)
        elif t == "image":
            out.append(image(item))
        elif t == "document":
            out.append(image(item, m.ATTACHMENT))
        else:
            out.append(m.opaque(json_or_summary(item, RAW_LIMIT)))
    return out
