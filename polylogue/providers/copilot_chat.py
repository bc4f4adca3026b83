"""GitHub Copilot Chat in VS Code (docs/providers.md, "copilot-chat"): the chat sessions
VS Code keeps for Copilot (and any chat participant) under its user folder, in three forms.

- ``chatSessions/<id>.json`` (VS Code before 1.109): one document, ``ISerializableChatData``
  ``{version, sessionId, creationDate, lastMessageDate, customTitle, requests[]}``;
  VS Code's own "Export Chat" writes the same shape without the session fields.
- ``chatSessions/<id>.jsonl`` (1.109+): an operation log. ``{"kind":0,"v":<session>}``
  is the whole session; then ``kind`` 1 sets the value at path ``k``, 2 appends ``v``
  to the array at ``k`` (after truncating it at index ``i`` when given), 3 deletes ``k``.
  Replaying the lines in order gives the session (the last state wins).
- the legacy history ``{history:[{role, content|result, time}], workspacePath}``.

One request is one turn: the user message (``message.text``, attachments from
``variableData``), then the reply. When ``result.metadata.toolCallRounds`` is there it
is what the model did: each round is an assistant message (``thinking``, ``response``,
``toolCalls``) followed by a tool message with the results from
``result.metadata.toolCallResults``, paired by call id. Otherwise the reply is read
from ``response[]``: markdown parts as text, ``thinking`` parts, and each
``toolInvocationSerialized`` (the call and its result in one object) as a tool_use
with its tool_result in the tool message that follows. UI-only parts (progress,
undo stops, edit groups...) are counted in ``meta["response_parts"]``.

Token counts, where VS Code records them (``promptTokens``/``completionTokens`` on the
request, in ``result.metadata`` or on ``result``), are the request's: they go on its
last assistant message, once. Models: ``result.metadata.resolvedModel``, else
``modelId`` without its ``copilot/`` prefix.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any, BinaryIO, Final, cast
from urllib.parse import unquote, urlparse

import orjson

from .. import models as m
from ..errors import ParseError
from .base import Head, Location, Provider, Records
from .common import (
    ParseContext,
    as_count,
    as_dict,
    as_list,
    as_str,
    bounded,
    fail_on_error,
    from_json_text,
    iter_jsonl,
    json_text,
    load_json,
    read_time,
    skip_on_error,
    usable_str,
)

NAME = "copilot-chat"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)

KNOWN_VERSIONS = frozenset({1, 2, 3})  # ISerializableChatData versions
# response parts that only drive the chat view
_UI_PARTS = frozenset(
    {
        "prepareToolInvocation",
        "mcpServersStarting",
        "undoStop",
        "progressMessage",
        "progressTaskSerialized",
        "progressTask",
        "warning",
        "info",
        "confirmation",
        "command",
        "codeCitation",
        "reference",
        "extensions",
        "pullRequest",
        "hook",
        "autoModeResolution",
        "disabledClaudeHooks",
        "questionCarousel",
        "elicitationSerialized",
        "planReview",
        "systemNotification",
        "treeData",
        "multiDiffData",
    }
)
_EDIT_PARTS = frozenset({"textEditGroup", "notebookEditGroup", "codeblockUri"})


# ---------------------------------------------------------------- sniffing


def _is_session(v: Any) -> bool:
    return isinstance(v, dict) and (
        "requests" in v and ("sessionId" in v or "version" in v or "creationDate" in v or "responderUsername" in v)
    )


def sniff(head: Head) -> bool:
    recs = head.records
    if recs and recs[0].get("kind") == 0 and _is_session(recs[0].get("v")):
        return True  # the operation log's first line
    if head.kind != "json" or head.top != "object":
        return False
    if head.has("requests", "start_array"):
        return (
            head.has("requests.item.message")
            or head.has("requests.item.requestId")
            or head.has("responderUsername")
            or head.has("requesterUsername")
            or (head.has("sessionId") and head.has("creationDate"))
        )
    # the legacy history: role/content|result/time items and the workspace path
    return (
        head.has("history", "start_array")
        and head.has("history.item.role")
        and (head.has("workspacePath") or head.has("history.item.result"))
        and not head.has("folders")
    )


def _side_file(head: Head) -> bool:
    """``workspace.json`` beside ``chatSessions/``: which folder the workspace is."""
    keys = {p for p in head.paths if p and "." not in p}
    return head.kind == "json" and head.top == "object" and bool(keys) and keys <= {"folder", "workspace"}


# ---------------------------------------------------------------- reading


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    if not hasattr(stream, "peek"):
        try:
            stream = io.BufferedReader(cast(io.RawIOBase, stream))
        except (TypeError, ValueError, AttributeError) as e:
            raise ParseError(f"unreadable stream ({type(e).__name__})") from None
    head = stream.peek(1 << 16)[: 1 << 16].lstrip()
    if head[:1] != b"{":
        raise ParseError("not a VS Code chat session")
    if _is_operation_log(head):
        session = _replay(stream, ctx)
    else:
        session = load_json(stream, ctx=ctx)
    if not isinstance(session, dict):
        raise ParseError("not a VS Code chat session (no session object)")
    conv = None
    with fail_on_error("malformed VS Code chat session"):
        if "requests" in session:
            conv = _Session(session, ctx).build()
        elif isinstance(session.get("history"), list):
            conv = _legacy(session, ctx)
        else:
            raise ParseError("not a VS Code chat session (no requests)")
    if conv is not None:
        yield conv


def _is_operation_log(head: bytes) -> bool:
    nl = head.find(b"\n")
    first = head if nl < 0 else head[:nl]
    if first.startswith(b'{"kind":') or first.startswith(b'{"kind": '):
        return True
    try:
        rec = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(rec, dict) and rec.get("kind") == 0 and "v" in rec


def _replay(stream: BinaryIO, ctx: ParseContext) -> Any:
    """The session an operation log describes, its lines applied in order."""
    state: Any = None
    for lineno, op in iter_jsonl(stream, ctx):
        kind = op.get("kind")
        if kind == 0:
            state = op.get("v")  # a whole session (the first line, or a compaction of the log)
            continue
        if state is None:
            ctx.warn("an operation before the session it changes, skipped", lineno)
            continue
        if kind not in (1, 2, 3):
            ctx.warn(f"unknown operation kind {kind!r} (this parser knows 0-3), skipped", lineno)
            continue
        with skip_on_error(ctx, "operation", lineno):
            if not _apply(state, kind, op):
                ctx.warn(f"operation {kind} on a path the session does not have, skipped", lineno)
    if state is None:
        raise ParseError("VS Code chat log without its first (kind 0) line")
    return state


def _apply(state: Any, kind: Any, op: dict) -> bool:
    path = op.get("k")
    if not isinstance(path, list) or not path or not all(isinstance(p, (str, int)) for p in path):
        return False
    parent = state
    for key in path[:-1]:
        parent = _child(parent, key)
        if parent is None:
            return False
    last = path[-1]
    if kind == 1:  # set
        if isinstance(parent, dict) and isinstance(last, str):
            parent[last] = op.get("v")
            return True
        if isinstance(parent, list) and _index(last, len(parent) + 1):
            parent[last : last + 1] = [op.get("v")]
            return True
        return False
    if kind == 2:  # push, after truncating at i
        target = _child(parent, last)
        if target is None and isinstance(parent, dict) and isinstance(last, str):
            target = parent[last] = []
        if not isinstance(target, list):
            return False
        cut = op.get("i")
        if isinstance(cut, int) and not isinstance(cut, bool) and cut >= 0:
            del target[cut:]
        target.extend(as_list(op.get("v")))
        return True
    if kind == 3:  # delete
        if isinstance(parent, dict) and isinstance(last, str):
            parent.pop(last, None)
            return True
        if isinstance(parent, list) and _index(last, len(parent)):
            del parent[last]
            return True
        return False
    return False


def _index(key: Any, size: int) -> bool:
    return isinstance(key, int) and not isinstance(key, bool) and 0 <= key < size


def _child(parent: Any, key: Any) -> Any:
    if isinstance(parent, dict) and isinstance(key, str):
        return parent.get(key)
    if isinstance(parent, list) and _index(key, len(parent)):
        return parent[key]
    return None


# ---------------------------------------------------------------- helpers


def _text(value: Any) -> str:
    """A string or a MarkdownString ``{value}`` (or a list of strings)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _text(value.get("value"))
    if isinstance(value, list):
        return "".join(_text(v) for v in value)
    return ""


def _prompt(message: Any) -> str:
    """``message``: ``{text, parts}``, or a plain string in old sessions."""
    return message if isinstance(message, str) else as_str(as_dict(message).get("text")) or ""


def _path_of(uri: Any) -> str | None:
    """A file path from a URI string or VS Code's URI object."""
    if isinstance(uri, dict):
        return as_str(uri.get("fsPath")) or as_str(uri.get("path")) or as_str(uri.get("external"))
    s = as_str(uri)
    if not s:
        return None
    if s.startswith("file://"):
        path = unquote(urlparse(s).path)
        return path[1:] if len(path) > 2 and path[0] == "/" and path[2] == ":" else path  # /c:/x -> c:/x
    return s


def _model(request: dict, metadata: dict) -> str | None:
    model = usable_str(metadata.get("resolvedModel")) or usable_str(request.get("modelId"))
    return model.removeprefix("copilot/") if model else None


def _usage(request: dict, result: dict, metadata: dict) -> dict | None:
    for src in (request, metadata, result, as_dict(request.get("usage"))):
        prompt = as_count(src.get("promptTokens"))
        out = as_count(src.get("completionTokens"))
        out = out if out is not None else as_count(src.get("outputTokens"))
        if prompt is not None or out is not None:
            usage: dict[str, Any] = {"convention": "openai"}
            if prompt is not None:
                usage["input"] = prompt
            if out is not None:
                usage["output"] = out
            return usage
    return None


# ---------------------------------------------------------------- conversations


class _Session:
    def __init__(self, doc: dict, ctx: ParseContext) -> None:
        self.doc, self.ctx = doc, ctx
        self.messages: list[m.Message] = []
        self.models: list[str] = []
        self.request_ids: set[str] = set()
        self.parts: dict[str, int] = {}
        self.workspace: str | None = None  # from a request's cacheKey (the workspace URI) before 1.109

    def build(self) -> m.Conversation | None:
        doc = self.doc
        requests = as_list(doc.get("requests"))
        meta: dict[str, Any] = {}
        version = doc.get("version")
        if version is not None and version not in KNOWN_VERSIONS:
            self.ctx.warn(
                f"VS Code chat format version {version!r} is not one this parser knows; imported what it recognised"
            )
        sid = usable_str(doc.get("sessionId"))
        if sid is None:
            sid = _derived_id(requests)
            if sid is None:
                self.ctx.note("VS Code chat session with no requests; nothing imported")
                return None
            meta["derived_id"] = True
        self.sid = sid
        for i, request in enumerate(requests):
            with skip_on_error(self.ctx, f"request {i}"):
                self._request(i, request)
        if not self.messages:
            self.ctx.note(f"VS Code chat session {sid} has no messages; nothing imported")
            return None
        prev: str | None = None
        for msg in self.messages:
            msg.parent_id = prev
            prev = msg.id
        for k in ("version", "responderUsername", "requesterUsername", "initialLocation", "isImported"):
            if doc.get(k) is not None:
                meta[k] = bounded(doc[k], max_str=200)
        if self.parts:
            meta["response_parts"] = dict(sorted(self.parts.items()))
        stamps = [msg.timestamp for msg in self.messages if msg.timestamp]
        return m.Conversation(
            provider=NAME,
            provider_id=sid,
            title=usable_str(doc.get("customTitle")) or usable_str(doc.get("computedTitle")),
            created_at=read_time(doc.get("creationDate"), meta, "creationDate") or (min(stamps) if stamps else None),
            updated_at=read_time(doc.get("lastMessageDate"), meta, "lastMessageDate")
            or (max(stamps) if stamps else None),
            messages=self.messages,
            source_path=self.ctx.path,
            models=self.models,
            project=_path_of(doc.get("workingDirectory")) or self.workspace,
            meta=meta,
        )

    def _request(self, i: int, request: Any) -> None:
        if not isinstance(request, dict):
            self.ctx.warn(f"request {i}: not an object, skipped")
            return
        rid = usable_str(request.get("requestId")) or f"{self.sid}:{i}"
        if rid in self.request_ids:  # a request id twice (an edited file, a bad merge): each keeps its turn
            rid = f"{rid}#{i}"
        self.request_ids.add(rid)
        ts = read_time(request.get("timestamp"), {}, "timestamp")
        reply_ts = read_time(request.get("responseTimestamp"), {}, "responseTimestamp") or ts
        result = as_dict(request.get("result"))
        metadata = as_dict(result.get("metadata"))
        cache_key = as_str(metadata.get("cacheKey"))
        if self.workspace is None and cache_key and cache_key.startswith("file://"):
            self.workspace = _path_of(cache_key)
        model = _model(request, metadata)
        if model and model not in self.models:
            self.models.append(model)

        message = request.get("message")
        prompt = _prompt(message)
        blocks: list[m.Block] = [m.text(prompt)] if prompt else []
        blocks += [_variable(v) for v in as_list(as_dict(request.get("variableData")).get("variables"))]
        umeta: dict[str, Any] = {}
        if rid != request.get("requestId"):
            umeta["derived_id"] = True
        agent = as_dict(request.get("agent"))
        if usable_str(agent.get("id")):
            umeta["agent"] = agent["id"]
        mode = as_dict(request.get("modeInfo"))
        if usable_str(mode.get("kind")) or usable_str(mode.get("modeName")):
            umeta["mode"] = mode.get("kind") or mode.get("modeName")
        system = request.get("isSystemInitiated") is True
        self.messages.append(m.Message(rid, m.USER, blocks, timestamp=ts, context=system, meta=umeta or None))

        replies: list[m.Message] = []
        rounds = [r for r in as_list(metadata.get("toolCallRounds")) if isinstance(r, dict)]
        if rounds:
            replies = self._rounds(rid, rounds, as_dict(metadata.get("toolCallResults")), reply_ts, model)
            for part in as_list(request.get("response")):
                self._count(part)
        else:
            replies = self._response(rid, request.get("response"), reply_ts, model)
        error = as_dict(result.get("errorDetails"))
        if _text(error.get("message")):
            replies.append(
                m.Message(
                    f"{rid}#error",
                    m.SYSTEM,
                    [m.text(_text(error["message"]))],
                    timestamp=reply_ts,
                    context=True,
                    meta={"kind": "error", "derived_id": True},
                )
            )
        answers = [r for r in replies if r.role == m.ASSISTANT]
        if answers:
            last = answers[-1]
            last.usage = _usage(request, result, metadata)
            extra = {k: request[k] for k in ("isCanceled", "vote") if request.get(k) not in (None, False)}
            timings = as_dict(result.get("timings"))
            if as_count(timings.get("totalElapsed")) is not None:
                extra["elapsed_ms"] = timings["totalElapsed"]
            if extra:
                last.meta = {**(last.meta or {}), **extra}
        self.messages.extend(replies)

    def _rounds(self, rid: str, rounds: list[dict], results: dict, ts: Any, model: str | None) -> list[m.Message]:
        out: list[m.Message] = []
        for j, rnd in enumerate(rounds):
            blocks: list[m.Block] = []
            thought = rnd.get("thinking")
            thought_text = _text(as_dict(thought).get("text")) if isinstance(thought, dict) else _text(thought)
            if thought_text.strip():
                blocks.append(m.thinking(thought_text))
            if _text(rnd.get("response")):
                blocks.append(m.text(_text(rnd["response"])))
            found: list[m.Block] = []
            for call in as_list(rnd.get("toolCalls")):
                if not isinstance(call, dict):
                    blocks.append(m.opaque(call))
                    continue
                cid = as_str(call.get("id"))
                blocks.append(
                    m.tool_use(
                        cid, as_str(call.get("name")), from_json_text(call.get("arguments"), containers_only=True)
                    )
                )
                if cid and cid in results:
                    found.append(m.tool_result(cid, _result_text(results[cid])))
            meta: dict[str, Any] = {"derived_id": True, "round": j}
            if usable_str(rnd.get("id")):
                meta["round_id"] = rnd["id"]
            out.append(m.Message(f"{rid}#{j}", m.ASSISTANT, blocks, timestamp=ts, model=model, meta=meta))
            if found:
                out.append(m.Message(f"{rid}#{j}:results", m.TOOL, found, timestamp=ts, meta={"derived_id": True}))
        return out

    def _count(self, part: Any) -> None:
        kind = as_str(as_dict(part).get("kind")) or "markdown"
        self.parts[kind] = self.parts.get(kind, 0) + 1

    def _response(self, rid: str, response: Any, ts: Any, model: str | None) -> list[m.Message]:
        if isinstance(response, str):  # early versions: the reply as one string
            response = [response]
        blocks: list[m.Block] = []
        results: list[m.Block] = []
        run: list[str] = []  # consecutive markdown parts (VS Code splits one answer into many)

        def flush() -> None:
            if "".join(run).strip():
                blocks.append(m.text("".join(run)))
            run.clear()

        for part in as_list(response):
            if isinstance(part, str):
                run.append(part)
                continue
            if not isinstance(part, dict):
                continue
            kind = as_str(part.get("kind"))
            self._count(part)
            if kind in (None, "markdownContent", "markdownVuln"):
                run.append(_text(part.get("content")) if kind else _text(part))
            elif kind == "inlineReference":
                run.append(_reference_name(part))
            elif kind == "thinking":
                flush()
                text = _text(part.get("value"))
                if text.strip():
                    blocks.append(m.thinking(text))
            elif kind in ("toolInvocationSerialized", "toolInvocation"):
                flush()
                use, res = _invocation(part)
                blocks.append(use)
                if res is not None:
                    results.append(res)
            elif kind in _EDIT_PARTS:
                flush()
                path = _path_of(part.get("uri"))
                edits = sum(len(as_list(e)) for e in as_list(part.get("edits")))
                blocks.append(m.attachment(path, kind=m.ATTACHMENT, source=kind, edits=edits or None))
            elif kind not in _UI_PARTS:
                flush()
                blocks.append(m.opaque(bounded(part)))
        flush()
        if not blocks and not results:
            return []
        out = [m.Message(f"{rid}#response", m.ASSISTANT, blocks, timestamp=ts, model=model, meta={"derived_id": True})]
        if results:
            out.append(m.Message(f"{rid}#tools", m.TOOL, results, timestamp=ts, meta={"derived_id": True}))
        return out


def _derived_id(requests: list) -> str | None:
    """An id from the first request's content (an exported chat has no sessionId)."""
    for r in requests:
        if isinstance(r, dict):
            seed = orjson.dumps(
                [as_str(r.get("requestId")), _prompt(r.get("message")), as_str(r.get("timestamp"))],
                option=orjson.OPT_NON_STR_KEYS,
            )
            return "derived-" + hashlib.sha256(seed).hexdigest()[:16]
    return None


def _variable(v: Any) -> m.Block:
    """An attachment of the prompt (a file, a selection, instructions): its name and where it is."""
    if not isinstance(v, dict):
        return m.opaque(v)
    value = v.get("value")
    path = _path_of(as_dict(value).get("uri") if isinstance(value, dict) and "uri" in value else value)
    return m.attachment(
        as_str(v.get("name")) or as_str(v.get("fullName")) or path,
        kind=m.IMAGE if v.get("isImage") is True else m.ATTACHMENT,
        path=path if path and not path.startswith("{") and len(path) < 2000 else None,
        source=as_str(v.get("kind")),
        id=as_str(v.get("id")),
    )


def _reference_name(part: dict) -> str:
    ref = part.get("inlineReference")
    name = as_str(part.get("name")) or as_str(as_dict(ref).get("name"))
    if name:
        return f"`{name}`"
    path = _path_of(as_dict(ref).get("uri") if isinstance(ref, dict) and "uri" in ref else ref)
    return f"`{path.rsplit('/', 1)[-1]}`" if path else ""


def _result_text(value: Any) -> str:
    """``toolCallResults[id]``: ``{content: [{value}]}`` (a value may be structured)."""
    parts = as_list(as_dict(value).get("content")) if isinstance(value, dict) else as_list(value)
    if not parts and value is not None and not isinstance(value, dict):
        return json_text(value)
    texts = []
    for p in parts:
        v = as_dict(p).get("value", p) if isinstance(p, dict) else p
        texts.append(v if isinstance(v, str) else _text(v) or json_text(v))
    return "\n".join(texts)


def _invocation(part: dict) -> tuple[m.Block, m.Block | None]:
    """One ``toolInvocationSerialized``: the call, and its result when it completed."""
    cid = as_str(part.get("toolCallId"))
    data = as_dict(part.get("toolSpecificData"))
    details = part.get("resultDetails")
    dd = as_dict(details)
    command = data.get("commandLine")
    if isinstance(command, dict):
        args: Any = as_str(command.get("original")) or as_str(command.get("toolEdited"))
    elif "rawInput" in data:
        args = data.get("rawInput")
    elif "input" in dd:
        args = from_json_text(dd.get("input"), containers_only=True)
    else:
        args = command if command is not None else (bounded(data) if data else None)
    use = m.tool_use(cid, as_str(part.get("toolId")), args)
    umeta: dict[str, Any] = {}
    for src, key in (("invocationMessage", "invocation"), ("pastTenseMessage", "past_tense")):
        if _text(part.get(src)):
            umeta[key] = _text(part[src])[:2000]
    if usable_str(part.get("subAgentInvocationId")):
        umeta["subagent"] = part["subAgentInvocationId"]
    if data.get("kind") == "subagent":
        umeta["agent"] = bounded({k: data[k] for k in ("agentName", "description") if k in data}, max_str=500)
    use.meta = umeta or None
    complete = part.get("isComplete")
    texts: list[str] = []
    for out in as_list(dd.get("output")):
        t = _text(as_dict(out).get("value")) if isinstance(out, dict) else _text(out)
        if t:
            texts.append(t)
    terminal = as_dict(data.get("terminalCommandOutput"))
    if not texts and _text(terminal.get("text")):
        texts.append(_text(terminal["text"]))
    if not texts and data.get("kind") == "subagent" and _text(data.get("result")):
        texts.append(_text(data["result"]))
    error = part.get("resultError") or dd.get("isError") is True
    if complete is not True and not texts and not error:
        return use, None  # still running when the session was saved
    is_error = True if error else (False if complete is True else None)
    res = m.tool_result(cid, "\n".join(texts) or _text(part.get("resultError")), is_error)
    res.meta = {"outcome": "error" if is_error else "success" if complete is True else "unknown"}
    return use, res


def _legacy(doc: dict, ctx: ParseContext) -> m.Conversation | None:
    """``{history:[{role, content|result, time}], workspacePath}``: no ids, so they are derived."""
    items = [h for h in as_list(doc.get("history")) if isinstance(h, dict)]
    if not items:
        ctx.note("VS Code chat history with no messages; nothing imported")
        return None
    first = items[0]
    seed = orjson.dumps([_text(first.get("content") or first.get("result")), as_str(first.get("time"))])
    sid = "derived-" + hashlib.sha256(seed).hexdigest()[:16]
    messages: list[m.Message] = []
    for i, item in enumerate(items):
        role_raw = as_str(item.get("role")) or ""
        role = (
            m.USER
            if role_raw in ("human", "user")
            else m.ASSISTANT
            if role_raw in ("assistant", "copilot")
            else m.SYSTEM
        )
        text = _text(item.get("content")) or _text(item.get("result")) or json_text(item.get("result"))
        meta: dict[str, Any] = {"derived_id": True}
        if role == m.SYSTEM:
            meta["role"] = role_raw
        msg = m.Message(
            f"{sid}:{i}",
            role,
            [m.text(text)] if text else [],
            parent_id=messages[-1].id if messages else None,
            timestamp=read_time(item.get("time"), meta, "time"),
            context=role == m.SYSTEM,
            meta=meta,
        )
        messages.append(msg)
    stamps = [msg.timestamp for msg in messages if msg.timestamp]
    return m.Conversation(
        provider=NAME,
        provider_id=sid,
        created_at=min(stamps) if stamps else None,
        updated_at=max(stamps) if stamps else None,
        messages=messages,
        source_path=ctx.path,
        project=_path_of(doc.get("workspacePath")),
        meta={"form": "legacy history", "derived_id": True},
    )


def _editions() -> tuple[Location, ...]:
    """VS Code, Insiders and VSCodium keep chats in their user folders, per system."""
    out = []
    for app in ("Code", "Code - Insiders", "VSCodium"):
        out.append(
            Location(
                "{XDG_CONFIG_HOME}/" + app,
                "User",
                darwin=f"~/Library/Application Support/{app}",
                win32="{APPDATA}/" + app,
                find=(
                    "workspaceStorage/*/chatSessions/*.json",
                    "workspaceStorage/*/chatSessions/*.jsonl",
                    "globalStorage/emptyWindowChatSessions/*.json",
                    "globalStorage/emptyWindowChatSessions/*.jsonl",
                ),
                depth=3,
            )
        )
    return tuple(out)


PROVIDER = Provider(
    name=NAME,
    display_name="GitHub Copilot Chat (VS Code)",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=64,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=False),
    locations=_editions(),
    side_file=_side_file,
)
