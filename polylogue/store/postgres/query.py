"""The second compiler of the query language: a typed ``Query`` (store/query.py)
as PostgreSQL SQL over the shared archive's schema (schema.py).

It means what the SQLite compiler means (store/query.py, scope.py, whole.py,
fts.py), one rule at a time, so the same data gives the same conversations
and the same matching messages (tests/test_postgres_search.py):

- a term is a tsquery: its tokens as a phrase (``a <-> b``), a prefix on the
  last token (``:*``), its English forms (store/forms.py) as alternatives, and
  ``kind:`` as weights (text A, thinking B, tool input C, tool output D);
  lexemes are encoded as the index encodes them (index_text.lexeme);
- a word group is an OR of terms; exclusions are messages that do not match;
- the conversation filters are SQL on ``conversations c``, with two more than
  SQLite knows: ``machine:`` (held by that machine) and ``user:`` (pushed by
  that PostgreSQL role), both on ``holders``.

Every value is a bound parameter (named, so a fragment may be used twice);
user text never reaches SQL or tsquery syntax: lexemes are [a-z0-9]+ only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import forms as word_forms
from ..encode import CONTEXT, FTS_COLUMNS, ms
from ..query import HAS_BITS, Query, Term, check, like_escape, time_range
from .index_text import lexeme, server_words
from .schema import WEIGHTS

# ts_rank's weights for {D, C, B, A}: dialogue above thinking above tool traffic (fts.WEIGHTS)
RANK_WEIGHTS = "{0.25,0.4,0.6,1.0}"


class Params:
    """Named parameters of one statement."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s"


def _weights(kinds: list[str]) -> str:
    return "".join(WEIGHTS[FTS_COLUMNS.index(k)] for k in sorted(set(kinds), key=FTS_COLUMNS.index))


def term_tsquery(t: Term, kinds: list[str] = (), use_forms: bool = True) -> str:  # type: ignore[assignment]
    """One term as tsquery text."""
    w = _weights(list(kinds))
    alts = [(t.tokens, t.prefix)]
    if use_forms:
        alts += [([f], False) for f in t.forms]
    out = []
    for toks, prefix in alts:
        # cut as the server's parser cut the index text (index_text.server_words: '0e0a' is two words)
        lex = [f"'{word}'" for tok in toks for word in server_words(lexeme(tok))]
        mark = ":" + ("*" if prefix else "") + w if (prefix or w) else ""
        if mark:  # the weight holds for every word of a phrase; the prefix for its last
            lex = [x + ":" + w if w else x for x in lex[:-1]] + [lex[-1] + mark]
        out.append(" <-> ".join(lex))
    return "(" + " | ".join(f"({x})" for x in out) + ")"


def with_forms(q: Query) -> Query:
    """The query's plain words with every other form of theirs (SQLite keeps only
    those its index holds; a form nobody wrote matches nothing, so the matches are the same)."""
    if not q.forms:
        return q
    from dataclasses import replace

    def expand(t: Term) -> Term:
        if not (t.may_have_forms and word_forms.expandable(t.tokens[0])):
            return t
        f = word_forms.forms(t.tokens[0])
        return replace(t, forms=f, title_forms=f)

    return replace(q, groups=[[expand(t) for t in g] for g in q.groups])


def group_tsquery(group: list[Term], kinds: list[str] = (), titles: bool = False) -> str:  # type: ignore[assignment]
    parts = []
    for t in group:
        if titles:
            from dataclasses import replace

            t = replace(t, forms=t.title_forms)
        parts.append(term_tsquery(t, kinds))
    return "(" + " | ".join(parts) + ")"


def exclude_tsquery(q: Query, kinds: list[str] = ()) -> str | None:  # type: ignore[assignment]
    return " | ".join(term_tsquery(t, kinds, use_forms=False) for t in q.exclude) if q.exclude else None


@dataclass
class Filters:
    """Conversation conditions (on ``c``) and message conditions (on ``m``, joined to ``c``)."""

    conv: list[str] = field(default_factory=list)
    msg: list[str] = field(default_factory=list)

    def conv_sql(self) -> str:
        return " AND ".join(self.conv) if self.conv else "TRUE"

    def msg_sql(self) -> str:
        return " AND ".join(self.msg) if self.msg else "TRUE"


BY_UPDATE, BY_SPAN = "updated", "span"


def compile_filters(
    q: Query,
    p: Params,
    time: str = BY_UPDATE,
    *,
    machines: list[str] = (),  # type: ignore[assignment]
    users: list[str] = (),  # type: ignore[assignment]
) -> Filters:
    """The query's filters as SQL (store/query.conversation_filters, rule by rule)."""
    check(q)
    f = Filters()
    if q.providers:
        f.conv.append(f"c.provider = ANY({p.add(list(q.providers))})")
    if q.titles:
        tsq = " & ".join(term_tsquery(t, use_forms=False) for t in q.titles)
        f.conv.append(f"c.title_tsv @@ {p.add(tsq)}::tsquery")
    # LIKE in SQLite folds ASCII case only; ILIKE folds all: the same for ASCII values
    f.conv += [f"c.project ILIKE {p.add('%' + like_escape(v) + '%')}" for v in q.projects]
    f.conv += [f"c.models ILIKE {p.add('%' + like_escape(v) + '%')}" for v in q.models]
    f.conv += [f"(c.features & {int(HAS_BITS[h])}) <> 0" for h in q.has]
    if q.ids:
        arms = []
        for v in q.ids:
            pat = p.add(like_escape(v) + "%")
            arms += [f"c.uid ILIKE {pat}", f"c.provider_id ILIKE {pat}"]
        f.conv.append("(" + " OR ".join(arms) + ")")
    if q.parent:
        f.conv.append(f"c.parent_uid = {p.add(q.parent)}")
    if machines:
        f.conv.append(
            f"EXISTS (SELECT 1 FROM holders h WHERE h.conversation_id = c.id AND h.machine = ANY({p.add(list(machines))}))"
        )
    if users:
        f.conv.append(
            f"EXISTS (SELECT 1 FROM holders h WHERE h.conversation_id = c.id AND h.owner = ANY({p.add(list(users))}))"
        )
    if time == BY_UPDATE:
        if q.since is not None:
            f.conv.append(f"c.updated_at >= {p.add(ms(q.since))}")
        if q.until is not None:
            f.conv.append(f"c.updated_at < {p.add(ms(q.until))}")
    elif (span := time_range(q)) is not None:
        lo, hi = p.add(span[0]), p.add(span[1])
        f.conv.append(f"c.first_ts < {hi} AND c.last_ts >= {lo}")
        # a message's time, else its conversation's (store/scope.py)
        f.msg.append(f"coalesce(m.timestamp, c.updated_at) >= {lo} AND coalesce(m.timestamp, c.updated_at) < {hi}")
    if q.roles:
        f.msg.append(role_condition(q.roles))
    return f


def role_condition(roles: list[str]) -> str:
    """role: on messages m; injected context counts as system, not user (store/query.role_condition)."""
    arms = [
        f"(m.role = 'system' OR (m.flags & {CONTEXT}) <> 0)"
        if r == "system"
        else f"(m.role = '{r}' AND (m.flags & {CONTEXT}) = 0)"
        for r in roles
        if r in ("user", "assistant", "system", "tool")
    ]
    return "(" + " OR ".join(arms) + ")"


def kinds_condition(kinds: list[str]) -> str:
    mask = sum(1 << FTS_COLUMNS.index(k) for k in set(kinds))
    return f"(m.kinds & {mask}) <> 0"
