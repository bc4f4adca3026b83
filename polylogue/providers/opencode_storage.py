"""OpenCode sessions before 1.2: the JSON files of its storage folder,
``$XDG_DATA_HOME/opencode/storage/`` (docs/providers.md, "opencode-storage").

One file per record, each in a folder named by the record it belongs to:

- ``session/<projectID>/<sessionID>.json``: ``id``, ``slug``, ``projectID``,
  ``directory``, ``parentID`` (a subagent's session), ``title``, ``version``,
  ``share.url``, ``summary`` (``additions``, ``deletions``, ``files``),
  ``revert``, ``time`` (``created``, ``updated``, ``archived``; epoch ms);
- ``message/<sessionID>/<messageID>.json``: one message, what the database's
  ``message.data`` holds (``role``, ``time``, ``modelID``, ``tokens``...) plus
  ``id`` and ``sessionID``;
- ``part/<messageID>/<partID>.json``: one part, the database's ``part.data``
  plus ``id``, ``sessionID`` and ``messageID``;
- ``project/``, ``session_diff/``, ``todo/``, ``session_share/``: no dialogue
  (side files).

Message and part ids come from their file names, as OpenCode's own migration
to its database takes them (they sort in creation order); the session's from
its file's content. The session file is the input: its parse reads the
session's message and part files from the storage folder around it and gives
the conversation the database form gives (``opencode.conversation``), as
``opencode:<session id>``: 1.2 copies these files into its database and keeps
them, and the archive keeps the newer copy. Message and part files are side
files. OpenCode rewrites the session file at
every prompt and after every reply (its update time, its diff summary), so a
session that went on is read again through it.

A unit of siblings reaches only its file's own folder, and a session spans
three folder trees: the files are read from the disk around the session file.
A session file away from its storage folder (copied alone, inside a zip) gives
nothing, with a note.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final, cast

from .. import models as m
from ..errors import ParseError
from . import opencode
from .base import Head, Location, Provider, Records
from .common import (
    CleanReader,
    ParseContext,
    as_dict,
    as_str,
    error_summary,
    load_json,
    open_sibling_file,
    read_time,
)

NAME = "opencode-storage"
KIND: Final = "json"

_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")  # "ses_...", "msg_...", "prt_...": a name, never a path
MAX_RECORD_BYTES = 64 << 20  # one message or part file


def sniff(head: Head) -> bool:
    """A session file: an id, a title and OpenCode's version, creation and update
    times in ``time``, and the project it belongs to."""
    return (
        head.kind == "json"
        and head.top == "object"
        and head.has("id", "string")
        and head.has("title", "string")
        and head.has("version", "string")
        and head.has("time.created", "number")
        and head.has("time.updated", "number")
        and (head.has("projectID", "string") or head.has("directory", "string"))
    )


def _side_file(head: Head) -> bool:
    """The storage folder's other files: messages and parts (read with their
    session), projects, todo lists, diffs and shares."""
    if head.kind != "json":
        return False
    if head.top == "object":
        record = head.has("id", "string") and head.has("sessionID", "string")
        message = record and head.has("role", "string") and head.has("time.created", "number")
        part = record and head.has("messageID", "string") and head.has("type", "string")
        project = head.has("id", "string") and head.has("worktree", "string") and head.has("time.created", "number")
        share = head.has("id", "string") and head.has("secret", "string") and head.has("url", "string")
        return message or part or project or share
    todo = head.has("item.content", "string") and head.has("item.status") and head.has("item.priority")
    diff = head.has("item.file", "string") and head.has("item.additions") and head.has("item.deletions")
    return head.top == "array" and (todo or diff)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    s = load_json(stream, ctx=ctx)
    if not isinstance(s, dict):
        raise ParseError("an OpenCode session file that holds no object")
    sid = as_str(s.get("id"))
    if not sid or not _ID.match(sid):
        raise ParseError("an OpenCode session file without a usable id")
    storage = _storage_of(ctx.path)
    if storage is None:
        ctx.note(f"session {sid} not read: its messages are in the OpenCode storage folder it was taken from")
        return
    meta: dict[str, Any] = {}
    times = as_dict(s.get("time"))
    created = read_time(times.get("created"), meta, "time_created")
    updated = read_time(times.get("updated"), meta, "time_updated") or created
    if ctx.unchanged(opencode.NAME, sid, updated):
        return
    messages = _messages(storage, sid, ctx)
    parts = {mid: _parts(storage, mid, meta, ctx) for mid, _, _ in messages}
    conv = opencode.conversation(sid, _fields(s), created, updated, meta, messages, parts, ctx)
    if conv is not None:
        yield conv


def _storage_of(path: str) -> str | None:
    """The storage folder of the session file at ``path``
    (``<storage>/session/<projectID>/<sessionID>.json``), or None when it sits elsewhere."""
    project = os.path.dirname(os.path.abspath(path))
    sessions = os.path.dirname(project)
    storage = os.path.dirname(sessions)
    if os.path.basename(sessions) != "session" or not os.path.isdir(storage):
        return None
    return storage


def _fields(s: dict) -> dict[str, Any]:
    """The session's own fields, named as the database's columns (``opencode.conversation``)."""
    summary = as_dict(s.get("summary"))
    return {
        "title": s.get("title"),
        "directory": s.get("directory"),
        "parent_id": s.get("parentID"),
        "revert": s.get("revert"),
        "slug": _scalar(s.get("slug")),
        "version": _scalar(s.get("version")),
        "share_url": _scalar(as_dict(s.get("share")).get("url")),
        "summary_additions": _scalar(summary.get("additions")),
        "summary_deletions": _scalar(summary.get("deletions")),
        "summary_files": _scalar(summary.get("files")),
        "time_archived": as_dict(s.get("time")).get("archived"),
    }


def _scalar(value: Any) -> Any:
    """What a column of the database form could hold: a text or a number, else nothing."""
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


def _messages(storage: str, sid: str, ctx: ParseContext) -> list[tuple[str, Any, dict]]:
    """(id, creation time, data) of each message file of the session, in creation
    order; a file that cannot be read costs that message and a warning."""
    folder = os.path.join(storage, "message", sid)
    out = []
    for mid, name in _records(folder):
        try:
            d = _read(folder, name, ctx)
        except (ParseError, OSError) as e:
            ctx.warn(f"session {sid} message {mid} skipped: {_reason(e)}")
            continue
        if not isinstance(d, dict):
            ctx.warn(f"session {sid} message {mid} skipped: not a JSON object")
            continue
        d.pop("id", None)
        d.pop("sessionID", None)
        created = as_dict(d.get("time")).get("created")
        out.append((mid, created, d))
    out.sort(key=lambda r: (_number(r[1]), r[0]))
    return out


def _parts(storage: str, mid: str, meta: dict[str, Any], ctx: ParseContext) -> list[dict]:
    """The parts of one message in order; one that cannot be read is counted in
    ``meta.parts_unreadable`` (one warning for the session, as in the database form)."""
    folder = os.path.join(storage, "part", mid)
    out = []
    for _, name in _records(folder):
        try:
            p = _read(folder, name, ctx)
        except (ParseError, OSError):
            p = None
        if not isinstance(p, dict):
            meta["parts_unreadable"] = meta.get("parts_unreadable", 0) + 1
            continue
        for k in ("id", "sessionID", "messageID"):
            p.pop(k, None)
        out.append(p)
    return out


def _records(folder: str) -> list[tuple[str, str]]:
    """(id, file name) of each ``<id>.json`` in ``folder``, by id; none when the
    folder does not exist (a session never used, a message without parts)."""
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it]
    except OSError:
        return []
    found = [(n[: -len(".json")], n) for n in names if n.endswith(".json")]
    return sorted((rid, n) for rid, n in found if _ID.match(rid))


def _read(folder: str, name: str, ctx: ParseContext) -> Any:
    """One record file, cleaned like any input (a BOM, invalid UTF-8 noted in ``ctx``).
    A file gone since the folder was listed reads as None."""
    raw = open_sibling_file(folder, name)
    if raw is None:
        return None
    with raw:
        return load_json(cast(BinaryIO, CleanReader(raw, ctx)), MAX_RECORD_BYTES, ctx)  # load_json only reads


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _reason(e: BaseException) -> str:
    return e.reason if isinstance(e, ParseError) else f"cannot read: {error_summary(e)}"


PROVIDER = Provider(
    name=NAME,
    display_name="OpenCode (storage folder)",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=86,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=True),
    locations=(
        Location(
            "{XDG_DATA_HOME}/opencode",
            darwin="~/.local/share/opencode",  # OpenCode keeps to XDG on every system
            win32="~/.local/share/opencode",
            find=("storage/session/*/*.json",),
            depth=3,  # shared with the database's location: one walk of the folder
        ),
    ),
    side_file=_side_file,
    own_conversations=False,  # its sessions are OpenCode's, as the database form gives them
)
