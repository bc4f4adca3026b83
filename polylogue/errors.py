"""Every error we raise on purpose, in one place, each with the exit code the
CLI returns for it (docs/cli.md, "Exit codes"). The CLI maps an error to its
code through ``exit_code`` alone.

Parsers raise only ParseError; nothing else escapes them. ZipProblem and
StaleRows never leave the import: it records them against their file."""

# the exit codes (docs/cli.md): 1 a failure, 2 a bad query or usage, 3 a partial import
FAILURE = 1
USAGE = 2
PARTIAL = 3


class PolylogueError(Exception):
    """Base class for every error we raise on purpose."""

    exit_code = FAILURE


class ParseError(PolylogueError):
    """An input could not be parsed. The message says why; ``line`` where known."""

    def __init__(self, reason: str, *, line: int | None = None):
        # one line, whatever a library put in its message (yajl appends a caret drawing
        # and raw bytes of the file on later lines): reports and `sources` keep it as one
        reason = " ".join(reason.split("\n", 1)[0].split()) or "unreadable input"
        super().__init__(reason)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


class QueryError(PolylogueError):
    """A search query (or a regex, a date) could not be read; ``position`` points at the problem."""

    exit_code = USAGE

    def __init__(self, reason: str, query: str = "", position: int | None = None):
        super().__init__(reason)
        self.reason, self.query, self.position = reason, query, position

    def __str__(self) -> str:
        if self.position is None or not self.query:
            return self.reason
        return f"{self.reason}\n  {self.query}\n  {' ' * self.position}^"


class SearchTimeout(QueryError):
    """A search given a time limit (Archive.search(timeout=...)) did not finish within it."""


class SemanticUnavailable(QueryError):
    """Semantic or hybrid search (or `embed`) was asked for where the [semantic]
    extra or its model package is not installed; the message gives the two pip
    commands (docs/semantic.md, "Install"). A QueryError, so every front end that
    shows a bad search as one line shows this so, with the usage exit code."""

    def __init__(self, hint: str):
        super().__init__(hint)


class NotFound(PolylogueError):
    """No conversation matches an id or prefix."""


class Ambiguous(PolylogueError):
    """A prefix matches several conversations (or messages: ``what``); ``candidates`` lists them."""

    LISTED = 20  # candidates named; the lookups fetch a few more, to know there are more

    def __init__(self, prefix: str, candidates: list[str], what: str = "conversations"):
        n = len(candidates)
        count = str(n) if n <= self.LISTED else f"more than {self.LISTED}"
        super().__init__(f"'{prefix}' matches {count} {what}: " + ", ".join(candidates[: self.LISTED]))
        self.candidates = candidates


class SyncBusy(PolylogueError):
    """Another sync holds the archive and the caller asked not to wait."""


class ExportError(PolylogueError, ValueError):
    """A bad export format or output folder."""


class ExportRefused(ExportError):
    """The run would drop more than half of the conversations an existing export
    holds, and ``confirm`` said no (the CLI: no --yes and no terminal to ask)."""

    exit_code = USAGE

    def __init__(self, dropped: int, held: int, out: object):
        super().__init__(
            f"this export would remove {dropped} of the {held} conversations in {out}; "
            "nothing was changed (check the filters, see the list with --dry-run, or confirm with --yes)"
        )
        self.dropped, self.held = dropped, held


class SqlError(PolylogueError):
    """Read-only SQL that SQLite rejected (a syntax error, a write, a missing table)."""


class NotRegularFile(PolylogueError, OSError):
    """A FIFO, device or socket where a file was expected: reading one could block
    or never end. An OSError too, so a reader's ``except OSError`` reports it."""


class ZipProblem(PolylogueError):
    """A zip that cannot be opened at all; recorded against the zip, the sync goes on."""


class SyncStopped(BaseException):
    """Not an error: raised inside a sync (from its progress callbacks) when
    ``watch`` stops. A BaseException, like KeyboardInterrupt, so no handler of
    ordinary errors takes it for a bad file; the writer rolls the open
    transaction back (polylogue/watch.py)."""


class HugeValue(PolylogueError):
    """Not an error: raised from inside a JSON reader when the value being built
    passes a parser's size bound, so the parser reads it again another way
    (providers/chatgpt.py). It never leaves the parser."""


class StaleRows(PolylogueError):
    """Rows marked kept (encode's ``stored``) that the archive no longer holds as
    they were: the conversation changed since the parser looked (the same
    conversation in two files of one sync). The import converts it again in full."""


class ArchiveMissing(PolylogueError):
    """A read found no archive at the home folder (a first run, or a mistyped
    --home): reads never create one; `polylogue sync` does."""

    exit_code = USAGE

    def __init__(self, home: object):
        super().__init__(f"no archive at {home} yet: run `polylogue sync` to make one (or pass the right --home)")
        self.home = home


class ArchiveNeedsUpgrade(PolylogueError):
    """The archive was written by an older polylogue: reads never migrate it; `polylogue sync` does."""

    exit_code = USAGE

    def __init__(self, home: object, version: int, current: int):
        super().__init__(
            f"the archive at {home} has schema v{version}; this polylogue reads v{current}: "
            "run `polylogue sync` to upgrade it"
        )
        self.home, self.version = home, version


class ArchiveTooNew(PolylogueError):
    """The archive was written by a newer polylogue than this one."""


class ArchiveDamaged(PolylogueError):
    """SQLite found the database file damaged (not a database, a malformed page):
    sync does not write into it, backup does not copy it; `polylogue check` lists what it found."""


class IndexDamaged(PolylogueError):
    """SQLite found the search index file (index.db) damaged. It is derived from the
    archive, which is intact: the next sync rebuilds it."""


class StorageError(PolylogueError):
    """The disk or the file system said no, for a reason outside polylogue: a
    full disk, a read-only file system, a folder the user may not write."""
