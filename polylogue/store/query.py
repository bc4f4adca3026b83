"""The typed query, and the one compiler of its conversation filters.

A ``Query`` is what the query language (polylogue/search.py) and the
library's keyword filters (api.py) both produce: terms to match and typed
filter values; no text is parsed below this line. Each conversation filter
is an object whose ``clause()`` returns SQL and its parameters (as beets'
dbcore queries do), and ``compile_filters`` is the only place that turns a
Query's filters into a WHERE: listing, filter-only search, full-text search
and regex search all call it, so one filter means one thing everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import groupby
from typing import Any

from ..errors import QueryError
from ..fmt import iso_utc
from ..textutil import is_cjk
from .encode import CONTEXT, F_ATTACHMENTS, F_THINKING, F_TOOLS, ms

HAS_BITS = {"thinking": F_THINKING, "tools": F_TOOLS, "attachments": F_ATTACHMENTS}


@dataclass
class Term:
    tokens: list[str]  # normalised index tokens (tokens.index_tokens)
    prefix: bool = False
    raw: str = ""
    exact: bool = False  # quoted: this form only, never its inflections
    # other forms of a one-token word that also match (store/forms.py); set by the
    # search, after dropping those the message index (forms) or the titles (title_forms) lack
    forms: tuple[str, ...] = ()
    title_forms: tuple[str, ...] = ()

    def fts(self) -> str:
        body = " ".join(self.tokens)
        if self.forms:
            return "(" + " OR ".join(f'"{w}"' for w in (body, *self.forms)) + ")"
        return f'"{body}"*' if self.prefix else f'"{body}"'

    def exact_fts(self) -> str:
        """This term without its other forms."""
        body = " ".join(self.tokens)
        return f'"{body}"*' if self.prefix else f'"{body}"'

    @property
    def may_have_forms(self) -> bool:
        return not (self.exact or self.prefix) and len(self.tokens) == 1


@dataclass
class Query:
    text: str = ""
    groups: list[list[Term]] = field(default_factory=list)  # AND of ORs
    exclude: list[Term] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    titles: list[Term] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    has: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    parent: str | None = None  # a conversation's children (library only, not in the language)
    regex: str | None = None
    # "conversation": every word somewhere in a conversation (messages and title);
    # "message": every word in one message (store/whole.py, docs/cli.md "search")
    within: str = "conversation"
    forms: bool = True  # plain words also find their other English forms (store/forms.py)

    @property
    def has_terms(self) -> bool:
        return bool(self.groups)

    @property
    def message_filters(self) -> bool:
        return bool(self.roles or self.kinds)

    @property
    def has_filters(self) -> bool:
        return bool(
            self.providers
            or self.roles
            or self.kinds
            or self.since
            or self.until
            or self.titles
            or self.projects
            or self.models
            or self.has
            or self.ids
            or self.parent
        )

    def copy(self) -> Query:
        """A copy whose lists can grow without touching this one (terms are never changed in place)."""
        out = replace(self)
        for name in _LISTS:
            setattr(out, name, list(getattr(self, name)))
        return out

    def and_(self, other: Query) -> Query:
        """Both queries' terms and filters; ``other``'s dates replace this one's
        (as a later since: in query text does)."""
        out = self.copy()
        out.text = " ".join(t for t in (self.text, other.text) if t)
        for name in _LISTS:
            getattr(out, name).extend(getattr(other, name))
        out.since, out.until = other.since or out.since, other.until or out.until
        out.parent, out.regex = other.parent or out.parent, other.regex or out.regex
        return out

    def match(self) -> str | None:
        """The FTS5 MATCH expression (None when the query has no positive terms)."""
        if not self.groups:
            return None
        parts = []
        for g in self.groups:
            alts = [t.fts() for t in g]
            parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
        expr = " AND ".join(parts)
        if self.kinds:
            expr = "{" + " ".join(self.kinds) + "} : (" + expr + ")"
        return expr

    def exclude_match(self) -> str | None:
        if not self.exclude:
            return None
        return " OR ".join(t.fts() for t in self.exclude)

    def tokens(self) -> list[str]:
        """Every positive token, for snippets and highlighting. Hits show text as
        written, so a run of CJK characters (indexed one by one) is one string."""
        out: list[str] = []
        for t in (t for g in self.groups for t in g):
            out += t.forms
            for cjk, run in groupby(t.tokens, key=lambda tok: len(tok) == 1 and is_cjk(tok)):
                out += ["".join(run)] if cjk else run  # noqa: B031 - one use per branch
        return out

    def cache_key(self) -> tuple:
        return (
            self.match(),
            self.exclude_match(),
            tuple(self.providers),
            tuple(self.roles),
            tuple(self.kinds),
            self.since,
            self.until,
            tuple(t.fts() for t in self.titles),
            tuple(self.projects),
            tuple(self.models),
            tuple(self.has),
            tuple(self.ids),
            self.parent,
            self.regex,
            self.within,
            self.forms,
        )


_LISTS = ("groups", "exclude", "providers", "roles", "kinds", "titles", "projects", "models", "has", "ids")


# ---------------------------------------------------------------- filters


class Filter:
    """One condition on a conversation row ``c``."""

    def clause(self) -> tuple[str, list[Any]]:
        raise NotImplementedError


def like_escape(s: str) -> str:
    """``s`` as a literal inside a LIKE pattern written with ESCAPE '\\'."""
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class OneOf(Filter):
    column: str
    values: tuple[str, ...]

    def clause(self) -> tuple[str, list[Any]]:
        return f"c.{self.column} IN ({','.join('?' * len(self.values))})", list(self.values)


@dataclass(frozen=True)
class Contains(Filter):
    """A substring, case-insensitive for ASCII (LIKE), metacharacters literal."""

    column: str
    value: str

    def clause(self) -> tuple[str, list[Any]]:
        return f"c.{self.column} LIKE ? ESCAPE '\\'", ["%" + like_escape(self.value) + "%"]


@dataclass(frozen=True)
class StartsWithAny(Filter):
    """Any of the columns starts with any of the prefixes."""

    columns: tuple[str, ...]
    prefixes: tuple[str, ...]

    def clause(self) -> tuple[str, list[Any]]:
        arms = [f"c.{col} LIKE ? ESCAPE '\\'" for _ in self.prefixes for col in self.columns]
        return "(" + " OR ".join(arms) + ")", [like_escape(p) + "%" for p in self.prefixes for _ in self.columns]


@dataclass(frozen=True)
class TitleMatches(Filter):
    expr: str  # an FTS5 expression of already quoted terms

    def clause(self) -> tuple[str, list[Any]]:
        return "c.id IN (SELECT rowid FROM titles_fts WHERE titles_fts MATCH ?)", [self.expr]


@dataclass(frozen=True)
class HasFeature(Filter):
    bit: int

    def clause(self) -> tuple[str, list[Any]]:
        return f"c.features & {int(self.bit)}", []


@dataclass(frozen=True)
class Equals(Filter):
    column: str
    value: Any

    def clause(self) -> tuple[str, list[Any]]:
        return f"c.{self.column} = ?", [self.value]


@dataclass(frozen=True)
class UpdatedWithin(Filter):
    """Last updated in [since, until): the conversation as a whole."""

    since: int | None
    until: int | None

    def clause(self) -> tuple[str, list[Any]]:
        conds, args = [], []
        if self.since is not None:
            conds.append("c.updated_at >= ?")
            args.append(self.since)
        if self.until is not None:
            conds.append("c.updated_at < ?")
            args.append(self.until)
        return " AND ".join(conds), args


@dataclass(frozen=True)
class SpanOverlaps(Filter):
    """Some message time in [lo, hi) is possible: the conversation's indexed
    first/last message times overlap the range (single messages are the
    caller's to check)."""

    lo: int
    hi: int

    def clause(self) -> tuple[str, list[Any]]:
        return "c.first_ts < ? AND c.last_ts >= ?", [self.hi, self.lo]


# how since:/until: select conversations
BY_UPDATE = "updated"  # listing: when the conversation was last updated
BY_SPAN = "span"  # message search: conversations that may hold a message in the range

FAR = 1 << 62  # an open end of a time range


def time_range(q: Query) -> tuple[int, int] | None:
    """since:/until: as [lo, hi) epoch milliseconds, open ends as -FAR / FAR."""
    if q.since is None and q.until is None:
        return None
    lo, hi = ms(q.since), ms(q.until)
    return (-FAR if lo is None else lo, FAR if hi is None else hi)


def conversation_filters(q: Query, time: str | None = BY_UPDATE) -> list[Filter]:
    """The query's conversation filters as clause objects (``time``: BY_UPDATE,
    BY_SPAN, or None to leave the dates to the caller)."""
    out: list[Filter] = []
    if q.providers:
        out.append(OneOf("provider", tuple(q.providers)))
    if q.titles:
        out.append(TitleMatches(" AND ".join(t.fts() for t in q.titles)))
    out += [Contains("project", p) for p in q.projects]
    out += [Contains("models", m) for m in q.models]
    out += [HasFeature(HAS_BITS[h]) for h in q.has]
    if q.ids:
        out.append(StartsWithAny(("uid", "provider_id"), tuple(q.ids)))
    if q.parent:
        out.append(Equals("parent_uid", q.parent))
    if time == BY_UPDATE and (q.since is not None or q.until is not None):
        out.append(UpdatedWithin(ms(q.since), ms(q.until)))
    elif time == BY_SPAN and (span := time_range(q)):
        out.append(SpanOverlaps(*span))
    return out


def cannot_match(q: Query) -> str | None:
    """Why the query's filters can match nothing in any archive, or None. The
    line (docs/cli.md, search): a filter no conversation can ever satisfy is a
    mistake, reported; a filter this archive happens to hold nothing for
    (``since:2099``, a project never synced) is an answer, 0 results. Unknown
    names and blank values are refused where they are read (search.py, with a
    pointer); what is left is what only the whole query shows."""
    if q.since is not None and q.until is not None and q.since >= q.until:
        return (
            f"since:/until: leave no time to match: from {iso_utc(q.since)} to {iso_utc(q.until)} is empty "
            "(a bare until: date ends with that day)"
        )
    for name, values in (("project", q.projects), ("model", q.models), ("id", q.ids)):
        if any(not v.strip() for v in values):  # a Query built by hand: blank would match anything
            return f"{name}: needs a value"
    return None


def check(q: Query, position: int | None = None) -> None:
    """Raise QueryError when the query can match nothing (cannot_match)."""
    reason = cannot_match(q)
    if reason:
        raise QueryError(reason, q.text, position)


MAX_COUNT = (1 << 63) - 1  # SQLite's largest integer


def check_page(limit: int, offset: int) -> None:
    """A page of results: ``limit`` and ``offset`` are whole numbers from 0
    (SQLite would read LIMIT -1 as "no limit")."""
    for name, v in (("limit", limit), ("offset", offset)):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_COUNT:
            raise QueryError(f"{name} must be a whole number from 0 to {MAX_COUNT} (got {v!r})")


def compile_filters(q: Query, time: str | None = BY_UPDATE) -> tuple[list[str], list[Any]]:
    """WHERE conditions on ``conversations c`` (to AND together) and their
    parameters. A query that can match nothing is refused here (check), so
    every path that runs one says so rather than answering "none"."""
    check(q)
    where: list[str] = []
    args: list[Any] = []
    for f in conversation_filters(q, time):
        sql, params = f.clause()
        where.append(sql)
        args += params
    return where, args


def role_condition(roles: list[str], role: str = "m.role") -> str:
    """role: as SQL on a message row ``m`` (injected context counts as system,
    not user). ``role``: how to write the column ("+m.role" keeps SQLite from
    indexing it; store/message_filters.py says why)."""
    arms = [
        f"({role} = 'system' OR m.flags & {CONTEXT})"
        if r == "system"
        else f"({role} = '{r}' AND NOT m.flags & {CONTEXT})"
        for r in roles
    ]
    return "(" + " OR ".join(arms) + ")"


def where_sql(where: list[str]) -> str:
    return (" WHERE " + " AND ".join(where)) if where else ""
