"""What a full-text search may look at: the SQL both search modes share.

A query's conversation filters (compile_filters) and message filters (role:,
since:/until: on single messages) become one ``Scope``; ``body(match)`` is the
FROM/WHERE of a statement over the index for one MATCH expression, so the
per-message search (fts.py) and the whole-conversation search (whole.py)
filter exactly alike."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .ids import sql_conversation_of
from .query import BY_SPAN, FAR, compile_filters, role_condition, time_range

CONV = sql_conversation_of("messages_fts.rowid")  # a matching message's conversation, from the index alone

# a message's time: its own, else its conversation's updated_at
MESSAGE_TIME = (
    "(SELECT coalesce(t.timestamp, (SELECT updated_at FROM conversations WHERE id = t.conversation_id))"
    " FROM messages t WHERE t.id = messages_fts.rowid)"
)


@dataclass
class Scope:
    where: list[str]  # conversation filters, on conversations c
    args: list[Any]
    roles: list[str]  # role: as SQL on messages m
    span: tuple[int, int] | None
    mwhere: list[str] = field(default_factory=list)  # message filters: roles, then time
    margs: list[Any] = field(default_factory=list)

    @property
    def join(self) -> str:
        return " JOIN messages m ON m.id = messages_fts.rowid" if self.roles else ""

    def body(self, match: str, conversations: bool = True) -> tuple[str, list[Any]]:
        """FROM ... WHERE for the messages ``match`` finds within the filters.
        ``conversations=False`` leaves out the conversation filters (for probes of
        one conversation already known to pass them: the filter's subquery would
        be computed again by every probe)."""
        fwhere = ["messages_fts MATCH ?"]
        fargs: list[Any] = [match]
        if self.where and conversations:
            fwhere.append(f"{CONV} IN (SELECT c.id FROM conversations c WHERE " + " AND ".join(self.where) + ")")
            fargs += self.args
        return f"FROM messages_fts{self.join} WHERE " + " AND ".join(fwhere + self.mwhere), fargs + self.margs

    def probe(self, match: str, columns: str = "messages_fts.rowid", tail: str = "") -> tuple[str, list[Any]]:
        """SELECT ``columns`` of the messages ``match`` finds in one conversation:
        the caller appends the conversation's rowid range to the parameters."""
        body, args = self.body(match, conversations=False)
        sql = f"SELECT {columns} {body} AND messages_fts.rowid >= ? AND messages_fts.rowid < ? {tail}"
        return sql, args


def scope(q) -> Scope:
    where, args = compile_filters(q, BY_SPAN)
    s = Scope(where, args, list(q.roles), time_range(q))
    if q.roles:
        s.mwhere.append(role_condition(q.roles))
    if s.span:
        _time_filter(s.span, s.mwhere, s.margs)
    return s


def _time_filter(span: tuple[int, int], mwhere: list[str], margs: list) -> None:
    """since:/until: act on each message's time (a message without a timestamp has
    its conversation's updated_at; one with neither matches no range). Whole
    conversations are decided from first_ts/last_ts (indexed): those not
    overlapping the range drop out with the other conversation filters
    (query.SpanOverlaps); of the rest, only those straddling a bound (a short
    list) look at each matching message, the others keep every match without a lookup."""
    lo, hi = span
    # the straddling ones, found by the bound each crosses: "overlaps but is not wholly
    # inside" as one condition would scan the whole time index when one bound is open
    arms, sargs = ["SELECT id FROM conversations WHERE updated_at IS NULL AND first_ts < ? AND last_ts >= ?"], [hi, lo]
    for bound in (lo, hi):
        if -FAR < bound < FAR:
            arms.append("SELECT id FROM conversations WHERE first_ts < ? AND last_ts >= ?")
            sargs += [bound, bound]
    mwhere.append(f"CASE WHEN {CONV} IN ({' UNION ALL '.join(arms)}) THEN {MESSAGE_TIME} BETWEEN ? AND ? ELSE 1 END")
    margs += [*sargs, lo, hi - 1]


def match_expr(q) -> str:
    """The MATCH expression of the query's positive terms, minus its exclusions."""
    match = q.match()
    if q.exclude:
        inner = replace(q, kinds=[]).match() if q.kinds else match  # the kinds wrap the whole NOT below
        expr = f"({inner}) NOT ({q.exclude_match()})"
        match = ("{" + " ".join(q.kinds) + "} : (" + expr + ")") if q.kinds else expr
    return match


def group_expr(q, groups) -> str:
    """match_expr for some of the query's word groups only."""
    return match_expr(replace(q, groups=list(groups)))


def title_groups(groups) -> list:
    """Word groups as the titles index is asked: each word with the forms the titles hold."""
    return [[replace(t, forms=t.title_forms) for t in g] for g in groups]


def title_expr(q, groups) -> str:
    """The same words for the titles index (one column: no kind:)."""
    return match_expr(replace(q, groups=title_groups(groups), kinds=[]))
