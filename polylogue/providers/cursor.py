"""Cursor IDE chats: the ``state.vscdb`` SQLite databases under Cursor's
``User/globalStorage`` (and ``User/workspaceStorage/<id>``) folder
(docs/providers.md, "cursor", which cites the public sources for this layout).

Both databases are key-value tables (``key TEXT UNIQUE, value BLOB``, the value
JSON text). The chats are in the global database's ``cursorDiskKV`` table:

- ``composerData:<composerId>``: one conversation ("composer"): ``name``,
  ``createdAt``/``lastUpdatedAt`` (epoch ms), ``modelConfig.modelName``,
  ``status``, ``unifiedMode``, ``subComposerIds``, ``workspaceIdentifier`` (Cursor
  3.12+), and the ordered message list: ``fullConversationHeadersOnly``
  (``[{bubbleId, type}]``, the messages in their own rows) or, in older
  versions, ``conversation`` (the messages inline);
- ``bubbleId:<composerId>:<bubbleId>``: one message ("bubble"): ``type`` 1 user /
  2 assistant, ``text``, ``thinking`` (``{text}``), ``toolFormerData`` (one tool
  call and its result: ``name``, ``rawArgs``/``params``, ``result``, ``status``,
  ``toolCallId``), ``codeBlocks``, ``tokenCount`` (``{inputTokens, outputTokens}``),
  ``modelInfo.modelName``, ``createdAt`` (ISO) and ``timingInfo`` (epoch ms).
  Before bubble format 3, a tool call's data is in the composer's
  ``capabilities[].data.bubbleDataMap`` (sometimes a JSON string), by bubble id.

Older Cursor kept chats in a workspace database's ``ItemTable`` under
``workbench.panel.aichat.view.aichat.chatdata`` (``{tabs: [{tabId, chatTitle,
bubbles: [{type: "user"|"ai", text, modelType}]}]}``): read too, one
conversation per tab.

A composer whose ``lastUpdatedAt`` the archive already holds is not converted
again (``ctx.unchanged``): a re-sync of a big database reads its composers'
headers, not their messages. A composer row that is no JSON costs that
conversation and a warning, a bubble row its message and a warning; invalid
UTF-8 in a row is replaced (``sqlite_input.loads``), one line for the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import orjson

from .. import models as m
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_dict,
    as_list,
    as_str,
    bounded,
    error_summary,
    json_or_summary,
    json_text,
    read_time,
    skip_on_error,
    to_utc,
)
from .sqlite_input import loads

if TYPE_CHECKING:
    import sqlite3

NAME = "cursor"
KIND: Final = "sqlite"

LEGACY_CHAT_KEY = "workbench.panel.aichat.view.aichat.chatdata"
_STATUS_ERROR = {"error", "failed"}
_STATUS_REJECTED = {"cancelled", "canceled", "rejected", "aborted"}
_DEFAULT_MODELS = {"default", "auto", ""}


def sniff(head: Head) -> bool:
    return head.kind == "sqlite" and "cursorDiskKV" in head.tables


def parse(conn: sqlite3.Connection, ctx: ParseContext) -> Iterator[m.Conversation]:
    parents = _parents(conn, ctx)
    for key, value in conn.execute(
        "SELECT key, value FROM cursorDiskKV WHERE key >= 'composerData:' AND key < 'composerData;' ORDER BY key"
    ):
        cid = str(key)[len("composerData:") :]
        conv = None
        with skip_on_error(ctx, f"composer {cid}"):
            conv = _composer(conn, cid, value, parents, ctx)
        if conv is not None:
            yield conv
    yield from _legacy_tabs(conn, ctx)


# ---------------------------------------------------------------- composers


def _json(value: Any, ctx: ParseContext) -> Any:
    return None if value is None else loads(value, ctx)


def _parents(conn: sqlite3.Connection, ctx: ParseContext) -> dict[str, str]:
    """child composer id -> parent composer id, from every composer's ``subComposerIds``
    (read by SQLite's JSON functions: a child may come before its parent)."""
    import sqlite3

    out: dict[str, str] = {}
    try:
        rows = conn.execute(
            "SELECT substr(key, 14), json_extract(value, '$.subComposerIds') FROM cursorDiskKV "
            "WHERE key >= 'composerData:' AND key < 'composerData;' AND json_valid(value)"
        ).fetchall()
    except sqlite3.OperationalError:  # a SQLite built without JSON functions
        return out
    for parent, children in rows:
        try:
            kids = orjson.loads(children) if children else []
        except orjson.JSONDecodeError:
            continue
        for kid in kids if isinstance(kids, list) else []:
            if isinstance(kid, str) and kid and kid != parent:
                out.setdefault(kid, str(parent))
    return out


def _composer(
    conn: sqlite3.Connection, cid: str, value: Any, parents: dict[str, str], ctx: ParseContext
) -> m.Conversation | None:
    c = _json(value, ctx)
    if not isinstance(c, dict):
        return None  # a null row: a composer Cursor removed
    cid = as_str(c.get("composerId")) or cid
    meta: dict[str, Any] = {}
    created = read_time(c.get("createdAt"), meta, "created_at")
    updated = read_time(c.get("lastUpdatedAt"), meta, "updated_at") or created
    if ctx.unchanged(NAME, cid, updated):
        return None
    headers = [h for h in as_list(c.get("fullConversationHeadersOnly")) if isinstance(h, dict)]
    if headers:
        stored = _bubbles(conn, cid, ctx)
        bubbles = []
        missing = 0
        for h in headers:
            grouping = h.get("grouping")
            if isinstance(grouping, dict) and grouping.get("isRenderable") is False:
                continue  # a bubble Cursor itself does not show
            b = stored.get(as_str(h.get("bubbleId")) or "")
            if b is None:
                missing += 1
                continue
            bubbles.append(b)
        if missing:
            meta["bubbles_missing"] = missing
    else:
        bubbles = [b for b in as_list(c.get("conversation")) if isinstance(b, dict)]
        if not bubbles:
            bubbles = [b for b in as_dict(c.get("conversationMap")).values() if isinstance(b, dict)]
    tool_data = _capability_tool_data(c)
    default_model = as_str(as_dict(c.get("modelConfig")).get("modelName"))
    if default_model in _DEFAULT_MODELS:
        meta["model_config"] = default_model
        default_model = None
    messages: list[m.Message] = []
    for i, b in enumerate(bubbles):
        msg = None
        with skip_on_error(ctx, f"composer {cid} message {i}"):
            msg = _bubble(b, i, tool_data, default_model)
        if msg is not None:
            msg.parent_id = messages[-1].id if messages else None
            messages.append(msg)
    if not messages:
        return None  # opened and never used: not a conversation
    for k in ("status", "unifiedMode", "forceMode", "isAgentic", "_v", "isArchived", "createdOnBranch"):
        if c.get(k) not in (None, ""):
            meta[k.lstrip("_")] = c[k]
    if c.get("usageData"):
        meta["usage_data"] = bounded(c["usageData"], max_total=8000)
    summary = as_dict(c.get("latestConversationSummary")).get("summary")
    if isinstance(summary, str) and summary:
        meta["summary"] = summary[:20000]
    models: list[str] = []
    for msg in messages:
        if msg.model and msg.model not in models:
            models.append(msg.model)
    workspace = as_dict(c.get("workspaceIdentifier"))
    project = as_str(as_dict(workspace.get("uri")).get("fsPath")) or as_str(as_dict(workspace.get("uri")).get("path"))
    stamps = [x.timestamp for x in messages if x.timestamp]
    return m.Conversation(
        provider=NAME,
        provider_id=cid,
        title=as_str(c.get("name")) or as_str(c.get("subtitle")) or _first_prompt(messages),
        created_at=created or (min(stamps) if stamps else None),
        updated_at=updated or (max(stamps) if stamps else None),
        messages=messages,
        source_path=ctx.path,
        parent_id=f"{NAME}:{parents[cid]}" if cid in parents else None,
        models=models,
        project=project,
        meta=meta,
    )


def _bubbles(conn: sqlite3.Connection, cid: str, ctx: ParseContext) -> dict[str, dict]:
    """This composer's bubble rows by bubble id (a key range: the table's unique index finds them).
    A row that is no JSON costs that message: a warning, and ``bubbles_missing`` where it is listed."""
    prefix = f"bubbleId:{cid}:"
    out: dict[str, dict] = {}
    for key, value in conn.execute(
        "SELECT key, value FROM cursorDiskKV WHERE key >= ? AND key < ?", (prefix, prefix[:-1] + ";")
    ):
        try:
            b = _json(value, ctx)
        except orjson.JSONDecodeError as e:
            ctx.warn(f"composer {cid} message {str(key)[len(prefix) :]} skipped: {error_summary(e, 120)}")
            continue
        if isinstance(b, dict):
            out[as_str(b.get("bubbleId")) or str(key)[len(prefix) :]] = b
    return out


def _capability_tool_data(c: dict) -> dict[str, dict]:
    """Tool calls of the older bubble formats: ``capabilities[].data.bubbleDataMap``."""
    out: dict[str, dict] = {}
    for cap in as_list(c.get("capabilities")):
        data = as_dict(as_dict(cap).get("data")).get("bubbleDataMap")
        if isinstance(data, str):
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
        for bid, tool in as_dict(data).items():
            if isinstance(tool, dict):
                out.setdefault(str(bid), tool)
    return out


def _first_prompt(messages: list[m.Message]) -> str | None:
    text = next((x.text for x in messages if x.role == m.USER and x.text.strip()), None)
    return " ".join(text.split())[:120] if text else None


# ---------------------------------------------------------------- one bubble


def _bubble(b: dict, i: int, tool_data: dict[str, dict], default_model: str | None) -> m.Message | None:
    t = b.get("type")
    role = m.USER if t in (1, "user") else m.ASSISTANT if t in (2, "ai", "assistant") else None
    bid = as_str(b.get("bubbleId")) or as_str(b.get("id")) or f"bubble-{i}"
    meta: dict[str, Any] = {}
    if role is None:
        meta["type"] = t
        role = m.SYSTEM
    blocks: list[m.Block] = []
    for thought in _thinking(b):
        blocks.append(m.thinking(thought))
    text = as_str(b.get("text")) or as_str(b.get("rawText")) or ""
    if text.strip():
        blocks.append(m.text(text))
    for code in as_list(b.get("codeBlocks")):
        content = as_str(as_dict(code).get("content"))
        if content and content not in text:
            lang = as_str(as_dict(code).get("languageId")) or ""
            blocks.append(m.text(f"```{lang}\n{content}\n```"))
    tool = b.get("toolFormerData") if isinstance(b.get("toolFormerData"), dict) else tool_data.get(bid)
    if isinstance(tool, dict) and (tool.get("name") or tool.get("tool") is not None):
        blocks.extend(_tool(tool, bid))
    for img in as_list(b.get("images")):
        d = as_dict(img)
        blocks.append(m.attachment(as_str(d.get("path")) or as_str(d.get("uuid")), kind=m.IMAGE, source="cursor"))
    if not blocks:
        return None
    ts = to_utc(b.get("createdAt")) or to_utc(as_dict(b.get("timingInfo")).get("clientRpcSendTime"))
    model = as_str(as_dict(b.get("modelInfo")).get("modelName")) or as_str(b.get("modelType"))
    if model in _DEFAULT_MODELS:
        model = None
    usage = _usage(b.get("tokenCount"))
    for k in ("capabilityType", "unifiedMode", "isAgentic", "requestId", "serverBubbleId"):
        if b.get(k) not in (None, ""):
            meta[k] = b[k]
    return m.Message(
        bid,
        role,
        blocks,
        timestamp=ts,
        model=(model or default_model) if role == m.ASSISTANT else None,
        usage=usage if role == m.ASSISTANT else None,
        meta=meta or None,
    )


def _thinking(b: dict) -> list[str]:
    out: list[str] = []
    th = b.get("thinking")
    if isinstance(th, dict) and isinstance(th.get("text"), str) and th["text"].strip():
        out.append(th["text"])
    elif isinstance(th, str) and th.strip():
        out.append(th)
    for blk in as_list(b.get("allThinkingBlocks")):
        s = as_str(as_dict(blk).get("thinking")) or as_str(as_dict(blk).get("text"))
        if s and s.strip() and s not in out:
            out.append(s)
    return out


def _tool(tool: dict, bid: str) -> list[m.Block]:
    call_id = as_str(tool.get("toolCallId")) or f"{bid}#tool"
    name = as_str(tool.get("name")) or f"tool-{tool.get('tool')}"
    args: Any = tool.get("rawArgs") if tool.get("rawArgs") not in (None, "") else tool.get("params")
    if isinstance(args, str):
        try:
            args = orjson.loads(args)
        except orjson.JSONDecodeError:
            pass  # kept as the text Cursor stored
    use = m.tool_use(call_id, name, json_or_summary(args))
    if tool.get("tool") is not None:
        use.meta = {"tool": tool["tool"]}
    out = [use]
    status = as_str(tool.get("status"))
    result = tool.get("result")
    error = tool.get("error")
    if result in (None, "") and error in (None, "") and status in (None, "", "loading", "pending"):
        return out  # still running when the database was written
    body = json_text(result) if result not in (None, "") else json_text(error)
    if isinstance(result, str):
        try:  # Cursor stores most results as JSON text: readable text where it holds one
            parsed = orjson.loads(result)
            if isinstance(parsed, dict) and isinstance(parsed.get("contents"), str):
                body = parsed["contents"]
        except orjson.JSONDecodeError:
            pass
    is_error = True if status in _STATUS_ERROR or error not in (None, "") else None
    outcome = "error" if is_error else "rejected" if status in _STATUS_REJECTED else "success" if status else "unknown"
    res = m.tool_result(call_id, body, is_error)
    res.meta = {"outcome": outcome, **({"status": status} if status else {})}
    if tool.get("userDecision"):
        res.meta["user_decision"] = tool["userDecision"]
    out.append(res)
    return out


def _usage(tc: Any) -> dict[str, Any] | None:
    d = as_dict(tc)
    usage: dict[str, Any] = {}
    for src, lane in (("inputTokens", "input"), ("outputTokens", "output")):
        v = d.get(src)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            usage[lane] = v
    return usage or None


# ---------------------------------------------------------------- older chats


def _legacy_tabs(conn: sqlite3.Connection, ctx: ParseContext) -> Iterator[m.Conversation]:
    import sqlite3

    try:
        row = conn.execute("SELECT value FROM ItemTable WHERE key = ?", (LEGACY_CHAT_KEY,)).fetchone()
    except sqlite3.OperationalError:
        return  # no ItemTable
    if row is None:
        return
    data = None
    with skip_on_error(ctx, LEGACY_CHAT_KEY):
        data = _json(row[0], ctx)
    for i, tab in enumerate(as_list(as_dict(data).get("tabs"))):
        conv = None
        with skip_on_error(ctx, f"chat tab {i}"):
            conv = _tab(tab, i, ctx)
        if conv is not None:
            yield conv


def _tab(tab: Any, i: int, ctx: ParseContext) -> m.Conversation | None:
    tab = as_dict(tab)
    tid = as_str(tab.get("tabId"))
    if not tid:
        ctx.warn(f"chat tab {i} has no tabId, skipped")
        return None
    meta: dict[str, Any] = {"form": "aichat tab"}
    updated = read_time(tab.get("lastSendTime"), meta, "last_send_time")
    if ctx.unchanged(NAME, tid, updated):
        return None
    messages: list[m.Message] = []
    for j, b in enumerate(as_list(tab.get("bubbles"))):
        msg = _bubble(as_dict(b), j, {}, None) if isinstance(b, dict) else None
        if msg is not None:
            msg.parent_id = messages[-1].id if messages else None
            messages.append(msg)
    if not messages:
        return None
    models = []
    for msg in messages:
        if msg.model and msg.model not in models:
            models.append(msg.model)
    return m.Conversation(
        provider=NAME,
        provider_id=tid,
        title=as_str(tab.get("chatTitle")) or _first_prompt(messages),
        updated_at=updated,
        messages=messages,
        source_path=ctx.path,
        models=models,
        meta=meta,
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Cursor",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=83,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=True),
    locations=(
        Location(
            "{XDG_CONFIG_HOME}/Cursor",
            "User",
            darwin="~/Library/Application Support/Cursor",
            win32="{APPDATA}/Cursor",
            # the databases only: the folder also holds settings, file history and extensions' data
            find=(
                "globalStorage/state.vscdb",
                "globalStorage/state.vscdb-wal",
                "workspaceStorage/*/state.vscdb",
                "workspaceStorage/*/state.vscdb-wal",
            ),
            depth=2,
        ),
    ),
)
