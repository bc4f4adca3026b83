"""What a provider is: the typed declaration each provider module ends with.

A provider module (built-in or a plugin) declares one ``Provider`` object,
conventionally ``PROVIDER`` at the end of the module; the registry in
``providers/__init__.py`` collects them (docs/providers.md, "Writing a provider").
Nothing here touches the database or the file system.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol

if TYPE_CHECKING:
    from ..models import Conversation
    from .common import ParseContext

PLATFORMS = ("linux", "darwin", "win32")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # an archive id is "<name>:<native id>": no colon
_VAR = re.compile(r"\{([A-Z_][A-Z0-9_]*)\}")
# where these folders are when their variable is unset ("~" is the user's home)
_VAR_DEFAULTS = {
    "APPDATA": "~/AppData/Roaming",
    "LOCALAPPDATA": "~/AppData/Local",
    "XDG_CONFIG_HOME": "~/.config",
    "XDG_DATA_HOME": "~/.local/share",
}


HEAD_KINDS = ("json", "jsonl", "text", "sqlite", "sqlite-wal", "empty", "other")
ProviderKind = Literal["json", "jsonl", "text", "sqlite"]
# the heads each kind of provider is asked about: an export format ("json") is never
# shown a multi-line log; a one-line log looks like a JSON document, so log sniffers see those
ASKED: dict[str, tuple[str, ...]] = {
    "json": ("json",),
    "jsonl": ("json", "jsonl"),
    "text": ("text",),
    "sqlite": ("sqlite",),
}


@dataclass
class Head:
    """What sniffers see, by ``kind``:

    - "jsonl": ``records``, the first records of a log;
    - "json": ``paths``, the key paths (ijson prefixes with their first event) seen
      in the head of a document, and ``top``; a one-line document is also in ``records``;
    - "text": ``text``, the head decoded (UTF-8, at most 256 KB; a text file is one
      that does not start like JSON and holds no binary bytes);
    - "sqlite": ``tables``, each table's name and its CREATE statement, read from
      the database's schema (never from the file's name);
    - "empty", "other" (binary content) and "sqlite-wal" (a database's write-ahead
      log, which stands for its database): nothing to sniff.
    """

    kind: str  # one of HEAD_KINDS
    records: list[dict] = field(default_factory=list)  # jsonl objects (and a json single-line object)
    paths: dict[str, str] = field(default_factory=dict)  # json: prefix -> first event ("start_map"...)
    top: str | None = None  # json: "array" | "object"
    text: str = ""  # text: the head, decoded
    tables: dict[str, str] = field(default_factory=dict)  # sqlite: table name -> its CREATE statement

    def has(self, prefix: str, event: str | None = None) -> bool:
        ev = self.paths.get(prefix)
        return ev is not None and (event is None or ev == event)


@dataclass
class Unit:
    """What ``parse`` receives when its provider declares ``siblings``: a file
    read together with other files of its folder (a Cline task is three JSON
    files in one folder). ``stream`` is the file that was sniffed, cleaned like
    any input; ``sibling(name)`` opens another file of the same folder (also a
    zip member's folder), cleaned the same way, or returns None when there is no
    such regular file. The caller closes what it opens. Every file of a unit is an
    input of its own, so a unit is read again when any of its files changes."""

    stream: BinaryIO
    name: str  # the sniffed file's own name (where it sits in the unit, never how to read it)
    sibling: Callable[[str], BinaryIO | None]


@dataclass(frozen=True)
class Records:
    """What a provider's conversations carry (the columns of the table in docs/providers.md)."""

    usage: bool = False  # token counts
    models: bool = False  # the model of a message or of the conversation
    branches: bool = False  # more than one path through a conversation (edits, regenerations, rewinds)
    thinking: bool = False  # reasoning as thinking blocks
    subagents: bool = False  # child conversations linked to their parent (subagents, forks)


@dataclass(frozen=True)
class Location:
    """A folder a provider's tool writes its conversations to by default.

    ``root`` is the tool's own folder as a template ("~" is the user's home, ``{VAR}``
    an environment variable: APPDATA, LOCALAPPDATA, XDG_CONFIG_HOME and XDG_DATA_HOME
    fall back to their usual places when unset); ``darwin`` and ``win32`` replace it
    on those systems. ``sub`` is the folder below it that holds the conversations.
    ``env`` names a variable that, when set, is the tool's folder instead (the tool
    reads it too: CLAUDE_CONFIG_DIR, CODEX_HOME); a variable of ours may list
    several folders, separated like PATH.

    ``find`` narrows the folder to some files: glob patterns relative to it, where
    ``*`` matches within one name and ``**`` any number of folders ("**/.aider.chat.history.md",
    "globalStorage/state.vscdb"). Only folders a pattern can reach are walked, hidden
    ones only where a pattern names them, and no deeper than ``depth`` folders: a tool
    that writes into project folders (aider) is found by searching, and a folder that
    holds other files (an editor's settings) gives only the tool's. Without ``find``
    the whole folder is read, every file sniffed by content."""

    root: str
    sub: str = ""
    env: str | None = None
    darwin: str | None = None
    win32: str | None = None
    find: tuple[str, ...] = ()
    depth: int = 32

    def resolve(self, platform: str, environ: Mapping[str, str], user: Path) -> Path | None:
        """The folder on ``platform`` ("linux", "darwin", "win32"...), or None when
        its template names a variable that is unset and has no default."""
        found = self.resolve_all(platform, environ, user)
        return found[0] if found else None

    def resolve_all(self, platform: str, environ: Mapping[str, str], user: Path) -> list[Path]:
        """Every folder on ``platform``: one, or each listed in ``env`` (separated by
        ";" on Windows, ":" elsewhere); none when the template names an unset variable."""
        override = environ.get(self.env) if self.env else None
        if override:
            sep = ";" if platform == "win32" else ":"
            bases: list[Path | None] = [_expand(p, environ, user) for p in override.split(sep) if p.strip()]
        else:
            bases = [_expand(self._template(platform), environ, user)]
        return [b.joinpath(*self.sub.split("/")) if self.sub else b for b in bases if b is not None]

    def _template(self, platform: str) -> str:
        if platform == "darwin" and self.darwin:
            return self.darwin
        if platform == "win32" and self.win32:
            return self.win32
        return self.root


def _expand(template: str, environ: Mapping[str, str], user: Path) -> Path | None:
    m = _VAR.match(template)
    if m:
        start = environ.get(m.group(1)) or _VAR_DEFAULTS.get(m.group(1))
        if not start:
            return None
        template = start + template[m.end() :]
    if template == "~" or template.startswith("~/"):
        return user.joinpath(*[p for p in template[1:].split("/") if p])
    return Path(template)


class LineParser(Protocol):
    """A parser fed one JSONL record at a time: what the resume protocol keeps
    (pickled) between syncs. ``bind`` points a restored parser at this run's
    context (``None`` while it is pickled)."""

    ctx: Any

    def line(self, lineno: int, rec: dict) -> None: ...

    def finish(self) -> Iterator[Conversation]: ...

    def bind(self, ctx: ParseContext | None) -> None: ...


@dataclass(frozen=True)
class Resume:
    """The optional resume protocol (resume.py): for append-only session logs,
    parse only the lines added since the last sync. ``applies(head)`` says whether
    this file is read line by line (some of a provider's inputs may not be);
    ``start(ctx)`` returns a fresh ``LineParser``. Fed every line of a file and
    finished, the parser must give exactly what ``parse`` gives."""

    applies: Callable[[Head], bool]
    start: Callable[[ParseContext], LineParser]


@dataclass(frozen=True)
class Retention:
    """How long a tool keeps its files before deleting them itself: ``days``
    (0: at once; None: the setting could not be read, so unknown) and where
    that comes from (``setting``: the file and key, for people to check)."""

    days: int | None
    setting: str


# reads the tool's own setting from the environment and the user's home; never raises
RetentionReader = Callable[[Mapping[str, str], Path], "Retention | None"]


@dataclass(frozen=True)
class Provider:
    """One format the archive imports.

    ``sniff(head)`` decides from the file's first bytes alone (never its name);
    ``parse(stream, ctx)`` yields conversations and reports problems to ``ctx``,
    never touching the database. Sniffers are asked in ``sniff_order`` (lower
    first: the most specific formats first; docs/providers.md lists the built-ins in this order).
    ``kind`` is the form of the provider's files: "json" (one JSON document, an
    export: its sniffer never sees a multi-line JSONL head) or "jsonl" (a log of
    one record per line; a one-line log looks like a JSON document, so its
    sniffer sees those too). ``side_file(head)`` recognises files the provider's
    tool writes beside its conversations, which a sync skips quietly.
    ``own_conversations`` is False for a format that restores other providers'
    conversations (Polylogue's own export): its name is then not a ``provider:`` value.
    ``retention(environ, user)``, for a tool that deletes its own files after a
    while, reads how long it keeps them (None: the tool keeps them)."""

    name: str
    display_name: str
    kind: ProviderKind
    sniff: Callable[[Head], bool]
    # what it reads depends on ``kind`` and ``siblings`` (above): a stream, a Unit or a connection
    parse: Callable[[Any, ParseContext], Iterator[Conversation]]
    sniff_order: int = 100
    records: Records = Records()
    locations: tuple[Location, ...] = ()
    side_file: Callable[[Head], bool] | None = None
    resume: Resume | None = None
    own_conversations: bool = True
    siblings: tuple[str, ...] = ()
    retention: RetentionReader | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _SLUG.match(self.name):
            raise ValueError(f"provider name {self.name!r}: use 1-40 of a-z, 0-9 and '-'")
        if self.kind not in ASKED:
            raise ValueError(f"provider {self.name}: kind must be one of {', '.join(ASKED)}, not {self.kind!r}")
        if not (callable(self.sniff) and callable(self.parse)):
            raise ValueError(f"provider {self.name}: sniff and parse must be functions")
        if self.kind == "sqlite" and (self.siblings or self.resume is not None):
            raise ValueError(f"provider {self.name}: a database is read whole, without siblings or resume")

    def asked(self, head_kind: str) -> bool:
        """Whether this provider's sniffer is shown heads of this kind."""
        return head_kind in ASKED[self.kind]

    def code_files(self) -> list[str]:
        """The source files of the modules that define its parsing, so a kept
        parse state is never restored into changed code (resume.py)."""
        fns: list[Any] = [self.parse]
        if self.resume is not None:
            fns += [self.resume.start, self.resume.applies]
        files: list[str] = []
        for fn in fns:
            f = getattr(sys.modules.get(getattr(fn, "__module__", "") or ""), "__file__", None)
            if f and f not in files:
                files.append(f)
        return files
