"""Cline and Roo Code tasks (and Kilo Code, a fork): one folder per task,
``<editor>/User/globalStorage/<extension>/tasks/<taskId>/`` (docs/providers.md, "cline").

A task is assembled from the files of its folder (the provider declares them as
``siblings``; each is also an input of its own, so a task is read again when
any of them changes, and every one of them gives the same conversation):

- ``api_conversation_history.json``: what the model saw, Anthropic-style
  ``[{role, content: [text | image | thinking | tool_use | tool_result]}]``; newer
  Cline adds ``metrics.tokens`` and ``modelInfo`` per message, Roo Code a ``ts``;
- ``ui_messages.json``: what the panel showed, ``[{ts (epoch ms), type: say|ask,
  say|ask, text, ...}]``; each ``say: api_req_started`` starts one model request
  (its text is JSON with ``tokensIn``, ``tokensOut``, ``cacheReads``,
  ``cacheWrites``, ``cost``);
- ``task_metadata.json``: ``files_in_context``, ``model_usage`` (which model from
  when), ``environment_history``; Roo Code's ``history_item.json``: the task's
  summary (``id``, ``ts``, ``task``, ``workspace``, ``parentTaskId``...).

Messages come from the API history. Classic Cline writes tool calls as XML in
the assistant's text (``<read_file><path>x</path></read_file>``) and the results
come back as *user text blocks* (``[read_file for 'x'] Result:`` and the output):
those are tool calls and tool results, paired by order (the oldest unanswered
call), never prompts. Native tool_use/tool_result blocks pair by id. A user
turn is split into its parts: the prompt (``<task>``, ``<feedback>``, an
``<answer>`` to a question, or plain text), tool results, and what Cline
injects (``<environment_details>``, resumption notices, its error nudges),
which is context.

Times, usage and models come from the other files: the k-th model request of
``ui_messages.json`` is the k-th assistant message (its usage, convention
"anthropic", and its time), and the user turn that request sent gets the
request's time; ``modelInfo``, else ``model_usage``, gives the model. Without an
API history (a folder holding only the panel's messages), the conversation is
built from ``ui_messages.json`` alone. The task id is the folder's name (the id
Cline gives the task), else ``history_item.json``'s ``id``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import orjson

from .. import models as m
from ..errors import ParseError
from .anthropic_blocks import blocks as content_blocks
from .base import Head, Location, Provider, Records, Unit
from .common import ParseContext, as_dict, as_list, as_str, bounded, fail_on_error, load_json, skip_on_error, to_utc

NAME = "cline"
KIND: Final = "json"

API = "api_conversation_history.json"
UI = "ui_messages.json"
METADATA = "task_metadata.json"
HISTORY_ITEM = "history_item.json"  # Roo Code
FILES = (API, UI, METADATA, HISTORY_ITEM)
EXTENSIONS = {  # VS Code extension id -> the tool
    "saoudrizwan.claude-dev": "cline",
    "rooveterinaryinc.roo-cline": "roo-code",
    "kilocode.kilo-code": "kilo-code",
}
EDITORS = ("Code", "Code - Insiders", "VSCodium", "Cursor", "Windsurf")

# a tool result as Cline sends it back: "[read_file for 'src/a.ts'] Result:" (the output may follow in the block)
_RESULT = re.compile(r"^\[([\w-]+)(?: for (['\"])(.*?)\2)?\] Result:[ \t]*\n?", re.S)
_TAG_CALL = re.compile(r"<([a-z_]+)>\s*(.*?)\s*</\1>", re.S)
_PARAM = re.compile(r"<([a-z_]+)>(.*?)</\1>", re.S)
_THINKING_TAG = re.compile(r"<thinking>\s*(.*?)\s*</thinking>", re.S)
_WRAPPED = re.compile(r"^\s*<(task|feedback|user_message|answer)>\s*(.*?)\s*</\1>\s*$", re.S)
_INNER_ANSWER = re.compile(r"<(answer|feedback)>\s*(.*?)\s*</\1>", re.S)
_CONTEXT_STARTS = (
    "<environment_details>",
    "[TASK RESUMPTION]",
    "<explicit_instructions",
    "[ERROR]",
    "[NOTE]",
    "# TODO LIST",
    "<files>",
    "<slash-command",
)
_DENIED = ("The user denied this operation", "The user has denied", "denied this operation")
TOOLS = frozenset(
    {
        "execute_command", "read_file", "write_to_file", "replace_in_file", "search_files", "list_files",
        "list_code_definition_names", "browser_action", "use_mcp_tool", "access_mcp_resource",
        "ask_followup_question", "attempt_completion", "new_task", "plan_mode_respond", "plan_mode_response",
        "load_mcp_documentation", "web_fetch", "apply_diff", "insert_content", "search_and_replace",
        "switch_mode", "codebase_search", "fetch_instructions", "update_todo_list", "new_rule", "report_bug",
        "condense", "summarize_task", "focus_chain", "generate_image", "run_slash_command", "simple_read_file",
    }
)  # fmt: skip


# ---------------------------------------------------------------- sniffing


def _ui(head: Head) -> bool:
    return (
        head.top == "array"
        and head.has("item.ts")
        and head.has("item.type")
        and (head.has("item.say") or head.has("item.ask"))
    )


def _api(head: Head) -> bool:
    """An API history with a Cline or Roo Code mark (a bare ``[{role, content}]`` is
    every chat API's shape: such a file is a side file, read with its task)."""
    return (
        head.top == "array"
        and head.has("item.role", "string")
        and head.has("item.content")
        and (head.has("item.metrics") or head.has("item.modelInfo") or head.has("item.ts", "number"))
    )


def _metadata(head: Head) -> bool:
    return head.top == "object" and (
        (head.has("files_in_context") and (head.has("model_usage") or head.has("environment_history")))
        or (head.has("model_usage", "start_array") and head.has("model_usage.item.model_id"))
    )


def _history_item(head: Head) -> bool:
    return head.top == "object" and head.has("id") and head.has("ts") and head.has("task") and head.has("tokensIn")


def sniff(head: Head) -> bool:
    return head.kind == "json" and (_ui(head) or _api(head) or _metadata(head) or _history_item(head))


def _side_file(head: Head) -> bool:
    """A classic API history without marks (read with its task through ``ui_messages.json``),
    and Cline's ``context_history.json`` (nested arrays of edit records)."""
    if head.kind != "json" or head.top != "array":
        return False
    bare_api = (
        head.has("item.role", "string")
        and head.has("item.content", "start_array")
        and len({p.split(".")[1] for p in head.paths if p.startswith("item.") and p.count(".") == 1}) <= 3
    )
    context_history = head.has("item", "start_array") and head.has("item.item", "number")
    return bare_api or context_history


# ---------------------------------------------------------------- the task


def parse(unit: Unit, ctx: ParseContext) -> Iterator[m.Conversation]:
    files: dict[str, Any] = {}
    for name in FILES:
        f = unit.stream if name == unit.name else unit.sibling(name)
        if f is None:
            continue
        try:
            if name == unit.name:
                files[name] = load_json(f, ctx=ctx)  # the sniffed file: its damage fails the file
            else:
                with skip_on_error(ctx, f"{name} beside it"):
                    files[name] = load_json(f, ctx=ctx)
        except ParseError as e:
            if name == unit.name:
                raise
            ctx.warn(f"{name} beside it: {e.reason}")
        finally:
            if f is not unit.stream:
                f.close()
    if unit.name not in FILES:  # a task file under another name: placed by its shape
        doc = load_json(unit.stream, ctx=ctx)
        files.setdefault(_place(doc), doc)
    conv = None
    with fail_on_error("malformed Cline task"):  # a task folder is one conversation
        conv = _task(files, ctx)
    if conv is not None:
        yield conv


def _place(doc: Any) -> str:
    """Which task file a document is, by its shape."""
    if isinstance(doc, list):
        first = next((x for x in doc if isinstance(x, dict)), {})
        return UI if ("say" in first or "ask" in first) else API
    d = as_dict(doc)
    return HISTORY_ITEM if "tokensIn" in d and "task" in d else METADATA


def _folder(path: str) -> tuple[str | None, str | None]:
    """(task folder name, tool) from ``.../<extension>/tasks/<taskId>/<file>``."""
    parts = (path or "").split("!")[-1].replace("\\", "/").split("/")
    task = parts[-2] if len(parts) >= 2 else None
    tool = None
    if len(parts) >= 4 and parts[-3] == "tasks":
        tool = EXTENSIONS.get(parts[-4].lower())
    return task or None, tool


def _task(files: dict[str, Any], ctx: ParseContext) -> m.Conversation | None:
    api = files.get(API)
    ui = [x for x in as_list(files.get(UI)) if isinstance(x, dict)]
    meta_file = as_dict(files.get(METADATA))
    item = as_dict(files.get(HISTORY_ITEM))
    folder, tool = _folder(ctx.path)
    task_id = folder if folder and (folder.isdigit() or len(folder) >= 8) else as_str(item.get("id"))
    meta: dict[str, Any] = {}
    if tool:
        meta["tool"] = tool
    if task_id == folder:
        meta["id_from"] = "folder name"
    if not task_id:
        first = next((x for x in ui if x.get("ts") is not None), None)
        task_id = as_str(first.get("ts")) if first else None
        if not task_id:
            raise ParseError("a task without an id: not in a task folder, and no history_item.json")
        meta["derived_id"] = True
    requests = _requests(ui)
    if isinstance(api, list) and api:
        messages = _from_api(api, requests, ctx)
    else:
        messages = _from_ui(ui)
        meta["from"] = "ui_messages"
    if not messages:
        return None
    _models(messages, meta_file)
    for prev, msg in zip(messages, messages[1:]):
        if msg.parent_id is None:
            msg.parent_id = prev.id
    created = to_utc(item.get("ts")) or (to_utc(ui[0].get("ts")) if ui else None) or to_utc(task_id)
    stamps = [x.timestamp for x in messages if x.timestamp]
    ui_stamps = [t for t in (to_utc(x.get("ts")) for x in ui) if t]
    models: list[str] = []
    for msg in messages:
        if msg.model and msg.model not in models:
            models.append(msg.model)
    title = as_str(item.get("task")) or _first_prompt(messages)
    for k in ("mode", "apiConfigName", "status", "totalCost", "tokensIn", "tokensOut", "cacheReads", "cacheWrites"):
        if item.get(k) not in (None, ""):
            meta[k] = item[k]
    if meta_file.get("files_in_context"):
        meta["files_in_context"] = bounded(
            [as_dict(f).get("path") for f in as_list(meta_file["files_in_context"])], max_total=8000
        )
    parent = as_str(item.get("parentTaskId"))
    return m.Conversation(
        provider=NAME,
        provider_id=task_id,
        title=" ".join(title.split())[:200] if title else None,
        created_at=created or (min(stamps) if stamps else None),
        updated_at=max(ui_stamps) if ui_stamps else (max(stamps) if stamps else created),
        messages=messages,
        source_path=ctx.path,
        parent_id=f"{NAME}:{parent}" if parent else None,
        models=models,
        project=as_str(item.get("workspace")) or _workspace(meta_file),
        meta=meta,
    )


def _workspace(meta_file: dict) -> str | None:
    for env in reversed(as_list(meta_file.get("environment_history"))):
        for key in ("workspace", "cwd", "workspace_path"):
            v = as_str(as_dict(env).get(key))
            if v:
                return v
    return None


def _first_prompt(messages: list[m.Message]) -> str | None:
    return next((x.text for x in messages if x.role == m.USER and not x.context and x.text.strip()), None)


# ---------------------------------------------------------------- the model requests (ui_messages)


class _Request:
    __slots__ = ("ts", "reply_ts", "usage", "cost")

    def __init__(self, ts: datetime | None, usage: dict | None, cost: Any):
        self.ts, self.usage, self.cost = ts, usage, cost
        self.reply_ts: datetime | None = None


def _requests(ui: list[dict]) -> list[_Request]:
    """One per ``say: api_req_started``, in order, with the time of what answered it."""
    out: list[_Request] = []
    for x in ui:
        if x.get("partial") is True:
            continue
        if x.get("say") == "api_req_started":
            info: dict = {}
            try:
                info = as_dict(orjson.loads(x["text"])) if isinstance(x.get("text"), str) else {}
            except orjson.JSONDecodeError:
                pass
            out.append(_Request(to_utc(x.get("ts")), _usage(info), info.get("cost")))
        elif out and out[-1].reply_ts is None and x.get("say") not in ("api_req_finished", "checkpoint_created"):
            out[-1].reply_ts = to_utc(x.get("ts"))
    return out


def _usage(info: dict) -> dict[str, Any] | None:
    usage: dict[str, Any] = {}
    for src, lane in (
        ("tokensIn", "input"),
        ("tokensOut", "output"),
        ("cacheReads", "cache_read"),
        ("cacheWrites", "cache_write"),
    ):
        v = info.get(src)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            usage[lane] = v
    if not usage:
        return None
    usage["convention"] = "anthropic"  # tokensIn counts what was not read from or written to the cache
    return usage


def _metrics_usage(entry: dict) -> dict[str, Any] | None:
    tokens = as_dict(as_dict(entry.get("metrics")).get("tokens"))
    usage: dict[str, Any] = {}
    for src, lane in (("prompt", "input"), ("completion", "output"), ("cached", "cache_read")):
        v = tokens.get(src)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            usage[lane] = v
    if usage:
        usage["convention"] = "anthropic"
    return usage or None


# ---------------------------------------------------------------- messages from the API history


def _from_api(api: list, requests: list[_Request], ctx: ParseContext) -> list[m.Message]:
    messages: list[m.Message] = []
    pending: deque[m.Block] = deque()  # tool calls not yet answered, oldest first
    replies = 0
    for i, entry in enumerate(api):
        with skip_on_error(ctx, f"{API} message {i}"):
            if not isinstance(entry, dict):
                raise ValueError(f"not an object ({type(entry).__name__})")
            role = entry.get("role")
            request = requests[replies] if replies < len(requests) else None
            if role == "assistant":
                msg = _assistant(i, entry, pending)
                if request is not None:
                    msg.timestamp = msg.timestamp or request.reply_ts or request.ts
                    msg.usage = _metrics_usage(entry) or request.usage
                    if request.cost is not None:
                        msg.meta = {**(msg.meta or {}), "cost_usd": request.cost}
                else:
                    msg.usage = _metrics_usage(entry)
                replies += 1
                messages.append(msg)
            elif role == "user":
                parts = _user(i, entry, pending)
                for p in parts:
                    p.timestamp = p.timestamp or (request.ts if request else None)
                messages.extend(parts)
            else:
                raise ValueError(f"unknown role {role!r}")
    if requests and replies != len(requests):
        ctx.note(f"{len(requests)} model requests in {UI} for {replies} replies: times and usage matched by order")
    return messages


def _assistant(i: int, entry: dict, pending: deque[m.Block]) -> m.Message:
    blocks: list[m.Block] = []
    calls = 0
    for b in content_blocks(entry.get("content")):
        if b.type == m.TEXT:
            pieces = _text_calls(b.text)
        else:
            pieces = [b]
        for p in pieces:
            if p.type == m.TOOL_USE:
                calls += 1
                if not p.id:
                    p.id = f"{i}#{calls}"
                pending.append(p)
            blocks.append(p)
    meta: dict[str, Any] = {}
    info = as_dict(entry.get("modelInfo"))
    if info.get("mode"):
        meta["mode"] = info["mode"]
    if info.get("providerId"):
        meta["model_provider"] = info["providerId"]
    if entry.get("isSummary"):
        meta["summary"] = True
    return m.Message(
        str(i),
        m.ASSISTANT,
        blocks,
        timestamp=to_utc(entry.get("ts")),
        model=as_str(info.get("modelId")),
        meta=meta or None,
    )


def _text_calls(text: str) -> list[m.Block]:
    """A classic Cline reply: ``<thinking>`` as thinking, and each XML tool call
    (a known tool's tag holding parameter tags) as a tool_use; the rest is text."""
    out: list[m.Block] = []
    pos = 0
    found = [*_THINKING_TAG.finditer(text), *(c for c in _TAG_CALL.finditer(text) if c.group(1) in TOOLS)]
    for match in sorted(found, key=lambda x: x.start()):
        if match.start() < pos:
            continue
        before = text[pos : match.start()].strip()
        if before:
            out.append(m.text(before))
        if match.re is _THINKING_TAG:
            if match.group(1):
                out.append(m.thinking(match.group(1)))
        else:
            params = {k: v.strip("\n") for k, v in _PARAM.findall(match.group(2))}
            out.append(m.tool_use(None, match.group(1), params or match.group(2)))
        pos = match.end()
    rest = text[pos:].strip()
    if rest:
        out.append(m.text(rest))
    return out


def _user(i: int, entry: dict, pending: deque[m.Block]) -> list[m.Message]:
    """A user turn split into its parts, in order: prompt, tool results, injected context."""
    parts: list[tuple[str, list[m.Block]]] = []  # (kind, blocks)

    def add(kind: str, block: m.Block) -> None:
        if parts and parts[-1][0] == kind and kind != "prompt":
            parts[-1][1].append(block)
        else:
            parts.append((kind, [block]))

    result: m.Block | None = None  # a text tool result still taking the blocks that follow it
    for b in content_blocks(entry.get("content")):
        if b.type == m.TOOL_RESULT:
            result = None
            _answer(b, pending)
            add("result", b)
            continue
        if b.type != m.TEXT:
            if result is not None:
                add("result", b)  # an image a tool returned
            else:
                add("prompt", b)
            continue
        text = b.text
        header = _RESULT.match(text)
        if header:
            result = m.tool_result(None, text[header.end() :], None)
            result.meta = {"tool": header.group(1), **({"target": header.group(3)} if header.group(3) else {})}
            _answer(result, pending, header.group(1))
            add("result", result)
            continue
        if text.lstrip().startswith(_CONTEXT_STARTS):
            result = None
            add("context", m.text(text))
            continue
        if result is not None and not _WRAPPED.match(text):
            result.text = f"{result.text}\n{text}" if result.text else text  # the output, in the next block
            continue
        result = None
        wrapped = _WRAPPED.match(text)
        add("prompt", m.text(wrapped.group(2) if wrapped else text))
    out: list[m.Message] = []
    for n, (kind, blocks) in enumerate(parts):
        for b in blocks:
            if b.type == m.TOOL_RESULT and any(d in b.text for d in _DENIED):
                b.is_error = True
                b.meta = {**(b.meta or {}), "outcome": "rejected"}
        mid = str(i) if n == 0 else f"{i}.{n}"
        msg = m.Message(
            mid, m.USER, blocks, context=kind == "context", meta={"part": kind} if kind != "prompt" else None
        )
        out.append(msg)
        if kind == "result":
            out.extend(_typed_answers(mid, blocks))
    if not out:
        out.append(m.Message(str(i), m.USER, [], meta={"empty": True}))
    return out


def _answer(result: m.Block, pending: deque[m.Block], tool: str | None = None) -> None:
    """Pair a result with its call: by id, else the oldest unanswered call (of that tool, if named)."""
    if result.id:
        for call in pending:
            if call.id == result.id:
                pending.remove(call)
                return
    match = next((c for c in pending if tool is None or c.name == tool), None)
    if match is None and pending:
        match = pending[0]
    if match is not None:
        pending.remove(match)
        if result.id and result.id != match.id:
            result.meta = {**(result.meta or {}), "source_id": result.id}
        result.id = match.id


def _typed_answers(mid: str, blocks: list[m.Block]) -> list[m.Message]:
    """What the person typed inside a result (an ``<answer>`` to a question, ``<feedback>``
    on a denied action): their words, so a prompt of its own after the result."""
    out = []
    for b in blocks:
        for k, (_, said) in enumerate(_INNER_ANSWER.findall(b.text) if b.type == m.TOOL_RESULT else []):
            if said.strip():
                out.append(
                    m.Message(f"{mid}#said{k}", m.USER, [m.text(said)], meta={"from_result": True, "derived_id": True})
                )
    return out


# ---------------------------------------------------------------- messages from the panel only


def _from_ui(ui: list[dict]) -> list[m.Message]:
    messages: list[m.Message] = []
    pending: deque[m.Block] = deque()
    usage: dict | None = None
    for n, x in enumerate(ui):
        if x.get("partial") is True:
            continue
        kind = x.get("say") if x.get("type") == "say" else x.get("ask")
        text = as_str(x.get("text")) or ""
        ts = to_utc(x.get("ts"))
        mid = f"ui{n}"
        if kind == "api_req_started":
            try:
                usage = _usage(as_dict(orjson.loads(text))) if text else None
            except orjson.JSONDecodeError:
                usage = None
            continue
        if kind in ("task", "user_feedback") and text:
            messages.append(m.Message(mid, m.USER, [m.text(text)], timestamp=ts))
        elif kind in ("text", "completion_result", "followup") and text:
            msg = m.Message(
                mid, m.ASSISTANT, [m.text(_followup(text) if kind == "followup" else text)], timestamp=ts, usage=usage
            )
            usage = None
            messages.append(msg)
        elif kind == "reasoning" and text:
            messages.append(m.Message(mid, m.ASSISTANT, [m.thinking(text)], timestamp=ts))
        elif kind in ("tool", "command", "use_mcp_server") and text and x.get("type") == "ask":
            call = m.tool_use(mid, _tool_name(kind, text), _tool_input(text))
            pending.append(call)
            messages.append(m.Message(mid, m.ASSISTANT, [call], timestamp=ts))
        elif kind in ("command_output", "mcp_server_response") and pending:
            call = pending.popleft()
            messages.append(
                m.Message(mid, m.USER, [m.tool_result(call.id, text)], timestamp=ts, meta={"part": "result"})
            )
        elif kind == "error" and text:
            messages.append(m.Message(mid, m.SYSTEM, [m.text(text)], timestamp=ts, meta={"kind": "error"}))
    return messages


def _followup(text: str) -> str:
    try:
        q = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return as_str(as_dict(q).get("question")) or text


def _tool_name(kind: str, text: str) -> str:
    if kind == "command":
        return "execute_command"
    try:
        return as_str(as_dict(orjson.loads(text)).get("tool")) or kind
    except orjson.JSONDecodeError:
        return kind


def _tool_input(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


# ---------------------------------------------------------------- models


def _models(messages: list[m.Message], meta_file: dict) -> None:
    """A reply without ``modelInfo`` takes the model ``model_usage`` says was in use at its time."""
    usage = sorted(
        ((to_utc(u.get("ts")), as_str(u.get("model_id"))) for u in map(as_dict, as_list(meta_file.get("model_usage")))),
        key=lambda p: p[0].timestamp() if p[0] else 0.0,
    )
    usage = [(t, mid) for t, mid in usage if mid]
    if not usage:
        return
    for msg in messages:
        if msg.role != m.ASSISTANT or msg.model:
            continue
        chosen = usage[0][1]
        for t, mid in usage:
            if t is not None and msg.timestamp is not None and t <= msg.timestamp:
                chosen = mid
        msg.model = chosen


def _locations() -> tuple[Location, ...]:
    finds = tuple(f"{ext}/tasks/*/{name}" for ext in EXTENSIONS for name in FILES)
    return tuple(
        Location(
            "{XDG_CONFIG_HOME}/" + editor,
            "User/globalStorage",
            darwin="~/Library/Application Support/" + editor,
            win32="{APPDATA}/" + editor,
            find=finds,
            depth=3,
        )
        for editor in EDITORS
    )


PROVIDER = Provider(
    name=NAME,
    display_name="Cline / Roo Code",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=84,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=True),
    locations=_locations(),
    side_file=_side_file,
    siblings=FILES,
)
