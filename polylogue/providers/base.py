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


@dataclass
class Head:
    """What sniffers see: the first records of a JSONL file, or the key paths
    (ijson prefixes with their first event) seen in the head of a JSON file."""

    kind: str  # "json" | "jsonl" | "empty" | "other"
    records: list[dict] = field(default_factory=list)  # jsonl objects (and a json single-line object)
    paths: dict[str, str] = field(default_factory=dict)  # json: prefix -> first event ("start_map"...)
    top: str | None = None  # json: "array" | "object"

    def has(self, prefix: str, event: str | None = None) -> bool:
        ev = self.paths.get(prefix)
        return ev is not None and (event is None or ev == event)


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
    reads it too: CLAUDE_CONFIG_DIR, CODEX_HOME)."""

    root: str
    sub: str = ""
    env: str | None = None
    darwin: str | None = None
    win32: str | None = None

    def resolve(self, platform: str, environ: Mapping[str, str], user: Path) -> Path | None:
        """The folder on ``platform`` ("linux", "darwin", "win32"...), or None when
        its template names a variable that is unset and has no default."""
        override = environ.get(self.env) if self.env else None
        base = Path(override) if override else _expand(self._template(platform), environ, user)
        if base is None:
            return None
        return base.joinpath(*self.sub.split("/")) if self.sub else base

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
class Provider:
    """One format the archive imports.

    ``sniff(head)`` decides from the file's first bytes alone (never its name);
    ``parse(stream, ctx)`` yields conversations and reports problems to ``ctx``,
    never touching the database. Sniffers are asked in ``sniff_order`` (lower
    first: the most specific formats first; the built-ins use 10-70).
    ``kind`` is the form of the provider's files: "json" (one JSON document, an
    export: its sniffer never sees a multi-line JSONL head) or "jsonl" (a log of
    one record per line; a one-line log looks like a JSON document, so its
    sniffer sees those too). ``side_file(head)`` recognises files the provider's
    tool writes beside its conversations, which a sync skips quietly.
    ``own_conversations`` is False for a format that restores other providers'
    conversations (Polylogue's own export): its name is then not a ``provider:`` value."""

    name: str
    display_name: str
    kind: Literal["json", "jsonl"]
    sniff: Callable[[Head], bool]
    parse: Callable[[BinaryIO, ParseContext], Iterator[Conversation]]
    sniff_order: int = 100
    records: Records = Records()
    locations: tuple[Location, ...] = ()
    side_file: Callable[[Head], bool] | None = None
    resume: Resume | None = None
    own_conversations: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _SLUG.match(self.name):
            raise ValueError(f"provider name {self.name!r}: use 1-40 of a-z, 0-9 and '-'")
        if self.kind not in ("json", "jsonl"):
            raise ValueError(f"provider {self.name}: kind must be 'json' or 'jsonl', not {self.kind!r}")
        if not (callable(self.sniff) and callable(self.parse)):
            raise ValueError(f"provider {self.name}: sniff and parse must be functions")

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
