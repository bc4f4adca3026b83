"""Open WebUI chat export (docs/providers.md, "open-webui"): "Export chats" (all,
or one chat) writes an array of chats::

    [{id, user_id, title, created_at, updated_at (epoch s), archived, pinned, share_id,
      folder_id, meta{tags...}, chat: {title, models[], params?, history: {currentId,
      messages: {<id>: {id, parentId, childrenIds[], role, content, timestamp (epoch s),
                        model?, modelName?, done?, output?[], usage?, info?, files?[],
                        sources?[], statusHistory?[], error?}}}, messages?[]}}]

Tree: ``history.messages`` with ``parentId``; ``history.currentId`` is the
active leaf. A chat without ``history`` but with the flat ``chat.messages``
list (old versions) is read as a linear chat.

Content: when ``output[]`` is present it holds the typed items and is used:
``message`` (text), ``reasoning`` (thinking: summary, else content),
``function_call`` and ``function_call_output`` (a tool_use and its tool_result,
paired by ``call_id``), ``open_webui:code_interpreter`` (code and its output).
Otherwise ``content`` is read, where the same things are rendered as
``<details type="reasoning">`` (thinking), ``<details type="tool_calls" id name
arguments result>`` (a tool_use and tool_result from the attributes),
``<details type="code_interpreter">`` and ``<think>`` blocks: those are cut from
the text into their own blocks. An unknown output item or details type is kept
(opaque, or as text) and reported in one warning line.

Usage: ``usage`` (or the older ``info``): OpenAI counts (``prompt_tokens``,
``completion_tokens``, cached and reasoning details) or Ollama's
(``prompt_eval_count``, ``eval_count``). ``files`` are attachment references;
``sources`` (retrieval citations) are kept bounded in meta.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .assemble import export_conversations, models_of, settle_tree
from .base import Head, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    iter_export_items,
    json_text,
    read_time,
    replay,
    skip_on_error,
)

NAME = "open-webui"
KIND: Final = "json"  # Final: a Literal for Provider(kind=...)

_ROLES = {"user": m.USER, "assistant": m.ASSISTANT, "system": m.SYSTEM, "tool": m.TOOL}
# a rendered <details> block, or a raw <think> block some models stream into the text
_BLOCKS = re.compile(
    r"<details\b(?P<attrs>[^>]*)>(?P<body>.*?)</details>\s*"
    r"|<(?P<tag>think|thinking|reasoning)>(?P<inner>.*?)</(?P=tag)>\s*",
    re.S | re.I,
)
_ATTR = re.compile(r'([\w:-]+)="([^"]*)"')
_SUMMARY = re.compile(r"<summary>.*?</summary>\s*", re.S | re.I)
# message fields mapped explicitly; the rest is kept bounded in meta["extra"]
_KNOWN = frozenset(
    {
        "id",
        "parentId",
        "childrenIds",
        "role",
        "content",
        "timestamp",
        "model",
        "models",
        "output",
        "usage",
        "info",
        "files",
        "sources",
        "citations",
        "done",
    }
)


# ---------------------------------------------------------------- sniffing


def sniff(head: Head) -> bool:
    if head.kind != "json" or head.top != "array":
        return False
    return (
        head.has("item.chat", "start_map")
        and (head.has("item.chat.history", "start_map") or head.has("item.chat.messages", "start_array"))
        and (head.has("item.user_id") or head.has("item.chat.models") or head.has("item.chat.history.currentId"))
    )


# ---------------------------------------------------------------- parsing


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    head = stream.read(1 << 16)
    if head.lstrip()[:1] != b"[":
        raise ParseError("not an Open WebUI export (expected a JSON array)")
    yield from export_conversations(iter_export_items(replay(head, stream), ctx, what="chat"), _chat, ctx, "chat")


class _Unknown:
    def __init__(self) -> None:
        self.kinds: dict[str, int] = {}

    def add(self, kind: str) -> None:
        k = kind[:40] or "(none)"
        self.kinds[k] = self.kinds.get(k, 0) + 1


def _chat(item: Any, index: int, ctx: ParseContext) -> m.Conversation | None:
    if not isinstance(item, dict):
        ctx.warn(f"chat {index}: not a JSON object ({type(item).__name__}); skipped")
        return None
    chat = as_dict(item.get("chat"))
    cid = as_str(item.get("id")) or as_str(chat.get("id"))
    if not cid:
        ctx.warn(f"chat {index}: no id; skipped")
        return None
    meta: dict[str, Any] = {}
    created = read_time(item.get("created_at"), meta, "created_at")
    updated = read_time(item.get("updated_at"), meta, "updated_at")
    if ctx.unchanged(NAME, cid, updated):
        return None
    history = as_dict(chat.get("history"))
    raw = history.get("messages")
    linear = False
    if isinstance(raw, dict):
        records = [(str(k), v) for k, v in raw.items()]
    elif isinstance(chat.get("messages"), list):
        records = [(as_str(as_dict(v).get("id")) or f"{cid}:{i}", v) for i, v in enumerate(chat["messages"])]
        linear = True
        meta["tree"] = "linear (chat.messages)"
    else:
        ctx.warn(f"chat {index}: no history messages; skipped")
        return None
    unknown = _Unknown()
    messages: list[m.Message] = []
    seen: set[str] = set()
    for key, rec in records:
        msg = None
        with skip_on_error(ctx, f"chat {index}, message {key[:40]}"):
            msg = _message(key, rec, unknown)
        if msg is None or msg.id in seen:
            continue
        if linear:
            msg.parent_id = messages[-1].id if messages else None
        seen.add(msg.id)
        messages.append(msg)
    if not messages:
        if not records:
            return None  # an empty chat
        ctx.warn(f"chat {index}: no messages; skipped")
        return None
    settle_tree(messages, meta, as_str(history.get("currentId")))
    if unknown.kinds:
        meta["unknown_items"] = unknown.kinds
        ctx.warn(
            f"chat {index}: Open WebUI content of an unknown version: "
            + ", ".join(f"{n} '{t}'" for t, n in sorted(unknown.kinds.items())[:5])
            + " kept as they were"
        )
    for key in ("archived", "pinned", "share_id", "folder_id", "user_id"):
        if item.get(key) not in (None, False, ""):
            meta[key] = bounded(item[key], max_total=400)
    tags = as_dict(item.get("meta")).get("tags") or chat.get("tags")
    if tags:
        meta["tags"] = bounded(tags, max_total=2 << 10)
    if chat.get("params"):
        meta["params"] = bounded(chat["params"], max_total=4 << 10)
    stamps = [x.timestamp for x in messages if x.timestamp]
    models = models_of(messages, (s for s in as_list(chat.get("models")) if isinstance(s, str) and s))
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=as_str(item.get("title")) or as_str(chat.get("title")) or None,
        created_at=created or (min(stamps) if stamps else None),
        updated_at=updated or (max(stamps) if stamps else created),
        messages=messages,
        source_path=ctx.path,
        models=models,
        meta=meta,
    )


def _message(key: str, rec: Any, unknown: _Unknown) -> m.Message | None:
    if not isinstance(rec, dict):
        return None
    mid = as_str(rec.get("id")) or key
    raw_role = as_str(rec.get("role")) or ""
    role = _ROLES.get(raw_role.lower(), m.ASSISTANT)
    meta: dict[str, Any] = {}
    if raw_role.lower() not in _ROLES:
        meta["raw_role"] = raw_role[:40]
    output = rec.get("output")
    if isinstance(output, list) and output:
        blocks = _output(output, unknown)
        meta["from"] = "output"
    else:
        blocks = _rendered(rec.get("content"), unknown)
    blocks += _files(rec.get("files"))
    for url in as_list(rec.get("images")):
        if isinstance(url, str):
            blocks.append(m.attachment(None, kind=m.IMAGE, url=None if url.startswith("data:") else url))
    usage = _usage(rec.get("usage")) or _usage(rec.get("info"))
    for k in ("sources", "citations"):
        if rec.get(k):
            meta[k] = bounded(rec[k], max_total=16 << 10)
    if rec.get("done") is False:
        meta["done"] = False
    extra = {k: v for k, v in rec.items() if k not in _KNOWN and v not in (None, [], {}, "")}
    if extra:
        meta["extra"] = bounded(extra, max_total=8 << 10)
    ts = read_time(rec.get("timestamp"), meta, "timestamp")
    model = as_str(rec.get("model")) if role == m.ASSISTANT else None
    return m.Message(
        id=mid,
        role=role,
        blocks=blocks,
        parent_id=as_str(rec.get("parentId")),
        timestamp=ts,
        model=model or None,
        usage=usage if role == m.ASSISTANT else None,
        meta=meta or None,
    )


def _output(items: list, unknown: _Unknown) -> list[m.Block]:
    out: list[m.Block] = []
    results = {
        as_str(it.get("call_id")): it
        for it in items
        if isinstance(it, dict) and it.get("type") == "function_call_output"
    }
    paired: set[str] = set()
    for it in items:
        if not isinstance(it, dict):
            continue
        kind = as_str(it.get("type")) or ""
        if kind == "message":
            text = "".join(as_str(p.get("text")) or "" for p in as_list(it.get("content")) if isinstance(p, dict))
            if text.strip():
                out.append(m.text(text.strip()))
        elif kind == "reasoning":
            parts = as_list(it.get("summary")) or as_list(it.get("content"))
            text = "".join(as_str(p.get("text")) or "" for p in parts if isinstance(p, dict)).strip()
            if text:
                block = m.thinking(text)
                if it.get("duration") is not None:
                    block.meta = {"duration": bounded(it["duration"], max_total=40)}
                out.append(block)
        elif kind == "function_call":
            call_id = as_str(it.get("call_id")) or as_str(it.get("id"))
            out.append(m.tool_use(call_id, as_str(it.get("name")), _json_value(it.get("arguments"))))
            res = results.get(call_id)
            if res is not None and call_id is not None:
                out.append(m.tool_result(call_id, _output_text(res.get("output"))))
                paired.add(call_id)
        elif kind == "function_call_output":
            call_id = as_str(it.get("call_id"))
            if call_id not in paired:  # an output whose call is not in this message
                out.append(m.tool_result(call_id, _output_text(it.get("output"))))
        elif kind == "open_webui:code_interpreter":
            call_id = as_str(it.get("id"))
            out.append(m.tool_use(call_id, "code_interpreter", {"lang": it.get("lang"), "code": it.get("code")}))
            if it.get("output") is not None:
                out.append(m.tool_result(call_id, json_text(it.get("output"))))
        else:
            unknown.add(f"output:{kind}")
            out.append(m.opaque(bounded(it)))
    return out


def _output_text(value: Any) -> str:
    if isinstance(value, list):
        texts = [as_str(p.get("text")) for p in value if isinstance(p, dict)]
        if all(t is not None for t in texts):
            return "".join(t or "" for t in texts)
    return value if isinstance(value, str) else json_text(value)


def _json_value(raw: Any) -> Any:
    """A JSON text's value; Open WebUI writes the arguments attribute as the JSON of
    a JSON text, so a decoded string that is itself an object or array is read once more."""
    for _ in range(2):
        if not isinstance(raw, str) or not raw.strip():
            return raw
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
        if not (isinstance(value, str) and value.lstrip()[:1] in ("{", "[")):
            return value
        raw = value
    return raw


def _rendered(content: Any, unknown: _Unknown) -> list[m.Block]:
    """``content`` as the UI renders it: ``<details>`` and ``<think>`` blocks cut into
    their own blocks, in order, with the prose between them as text."""
    if not isinstance(content, str):
        if isinstance(content, list):  # a multimodal user message: [{type: text|image_url}]
            return [_part(p) for p in content if isinstance(p, dict)]
        return []
    out: list[m.Block] = []
    pos = 0
    for match in _BLOCKS.finditer(content):
        before = content[pos : match.start()].strip()
        if before:
            out.append(m.text(before))
        pos = match.end()
        if match.group("attrs") is not None:
            out += _details(match.group("attrs"), match.group("body"), unknown)
        else:
            inner = match.group("inner").strip()
            if inner:
                out.append(m.thinking(inner))
    rest = content[pos:].strip()
    if rest:
        out.append(m.text(rest))
    return out


def _details(attrs_text: str, body: str, unknown: _Unknown) -> list[m.Block]:
    attrs = {k: html.unescape(v) for k, v in _ATTR.findall(attrs_text)}
    kind = attrs.get("type", "")
    inner = _SUMMARY.sub("", body, count=1).strip()
    if kind == "reasoning":
        lines = [ln[1:].lstrip() if ln.startswith(">") else ln for ln in html.unescape(inner).splitlines()]
        text = "\n".join(lines).strip()
        return [m.thinking(text)] if text else []
    if kind == "tool_calls":
        call_id = attrs.get("id") or None
        out = [m.tool_use(call_id, attrs.get("name"), _json_value(attrs.get("arguments", "")))]
        if "result" in attrs:
            result = _json_value(attrs["result"])
            out.append(m.tool_result(call_id, result if isinstance(result, str) else json_text(result)))
        return out
    if kind == "code_interpreter":
        use = m.tool_use(None, "code_interpreter", {"code": html.unescape(inner)})
        out = [use]
        if attrs.get("output"):
            out.append(m.tool_result(None, json_text(_json_value(attrs["output"]))))
        return out
    unknown.add(f"details:{kind}")
    text = html.unescape(inner)
    return [m.text(text)] if text else []


def _part(p: dict) -> m.Block:
    if p.get("type") == "text" and isinstance(p.get("text"), str):
        return m.text(p["text"])
    if p.get("type") == "image_url":
        url = as_str(as_dict(p.get("image_url")).get("url"))
        return m.attachment(None, kind=m.IMAGE, url=None if not url or url.startswith("data:") else url)
    return m.opaque(bounded(p))


def _files(files: Any) -> list[m.Block]:
    out: list[m.Block] = []
    for f in as_list(files):
        if not isinstance(f, dict):
            continue
        inner = as_dict(f.get("file"))
        name = as_str(f.get("name")) or as_str(inner.get("filename")) or as_str(as_dict(inner.get("meta")).get("name"))
        kind = m.IMAGE if f.get("type") == "image" else m.ATTACHMENT
        url = as_str(f.get("url"))
        out.append(
            m.attachment(
                name,
                kind=kind,
                file_id=as_str(f.get("id")) or as_str(inner.get("id")),
                url=None if not url or url.startswith("data:") else url,
                size=f.get("size") if isinstance(f.get("size"), int) else None,
            )
        )
    return out


def _usage(u: Any) -> dict[str, Any] | None:
    if not isinstance(u, dict):
        return None
    out: dict[str, Any] = {}
    for lane, keys in (
        ("input", ("prompt_tokens", "input_tokens", "prompt_eval_count")),
        ("output", ("completion_tokens", "output_tokens", "eval_count")),
    ):
        for k in keys:
            v = u.get(k)
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                out[lane] = v
                break
    cached = as_dict(u.get("prompt_tokens_details")).get("cached_tokens")
    if isinstance(cached, int) and not isinstance(cached, bool) and cached > 0:
        out["cache_read"] = cached
    reasoning = as_dict(u.get("completion_tokens_details")).get("reasoning_tokens")
    if isinstance(reasoning, int) and not isinstance(reasoning, bool) and reasoning > 0:
        out["reasoning"] = reasoning
    if not out:
        return None
    out["convention"] = "openai"
    return out


PROVIDER = Provider(
    name=NAME,
    display_name="Open WebUI",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=146,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=False),
)
