"""The query language, shared by the CLI, the library and MCP.

    oauth refresh                 both words, anywhere in a conversation (AND)
    "exact phrase"                a phrase
    checkpointing                 also checkpoint, checkpoints, checkpointed
    "checkpointing"               only this form
    pars*                         a prefix
    redis OR memcached            either
    (redis OR memcached) cache    parentheses group alternatives
    -java  -"old api"             exclude (also: NOT java)
    provider:claude-code role:user kind:thinking since:2025-01-01 until:yesterday
    title:deploy project:webshop model:opus has:tools id:claude-code:4f2

Each word may be in any message of a conversation, or in its title; with
--within message (within= in the library and MCP) every word must be in one
message. A plain English word also finds its other forms; --exact (forms=False)
or quotes turn that off.

With --regex PATTERN (regex= in the library and MCP), a Python regular
expression must also match the message text; it is tried on the messages the
words match (or all that the filters allow), with a bound on the work.

Filters alone, with no words, list the conversations they match, newest
first; role: and kind: alone, those holding such messages.

AND between words is what a space means already. NEAR(...), '^', '*' or '?'
inside a word and /regex/ are refused with a pointer rather than read as
words; quote them ("a*b") to find the text as written. Lowercase and, or and
not are words. A search that finds little suggests the closest indexed words
(did you mean).

User text never reaches FTS5 as syntax: every term is re-tokenised and quoted.
A query that cannot be parsed, or whose filters no conversation could ever
match (since: not before until:, a blank value), raises QueryError pointing
at the problem."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import QueryError
from .store.query import Query, Term, check
from .store.snippets import snippet, token_pattern
from .store.tokens import fold, index_tokens

__all__ = [
    "Query",
    "QueryError",
    "Term",
    "fold",
    "index_tokens",
    "corrected",
    "parse",
    "parse_date",
    "plain_words",
    "snippet",
    "token_pattern",
    "with_filters",
]

ROLES = ("user", "assistant", "system", "tool")
KINDS = ("text", "thinking", "tool_use", "tool_result")
HAS = ("thinking", "tools", "attachments")
FIELDS = ("provider", "role", "kind", "since", "until", "title", "project", "model", "has", "id")


_LEX = re.compile(r'\s+|(?P<neg>-(?!-))?(?:(?P<field>[a-z_]+):)?(?:"(?P<phrase>[^"]*)(?P<close>"?)|(?P<word>[^\s"]+))')


def parse(text: str, *, now: datetime | None = None) -> Query:
    q = Query(text=text)
    pos = 0
    pending_or = False
    pending_and = pending_not = None  # where an AND / NOT waiting for its term was written
    group = None  # an open '(': where, and how many groups, exclusions and filters there were before it
    after_group = None  # where a parenthesised group of ANDed words closed: no OR may follow it
    last_date = None  # where the last since:/until: was written: a range that cannot hold a time points there
    n = len(text)
    filters = 0
    while pos < n:
        m = _LEX.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-space run
            raise QueryError("cannot read the query here", text, pos)
        start, pos = m.start(), m.end()
        if not m.group(0).strip():
            continue
        neg, fld, phrase, word = m.group("neg"), m.group("field"), m.group("phrase"), m.group("word")
        if phrase is not None and not m.group("close"):
            raise QueryError("unclosed quote", text, start)
        if fld is None and word and word.endswith(":") and word[:-1].lstrip("-") in FIELDS:
            raise QueryError(f"'{word}' needs a value", text, start)
        if fld and fld not in FIELDS:
            near = _near_field(fld)
            if near:
                raise QueryError(f"unknown filter '{fld}:' (did you mean {near}:?)", text, start)
            if phrase is None and word is not None:  # 'http://x', 'std::vector', 'display:none': a term
                fld, word = None, f"{fld}:{word}"
            else:
                raise QueryError(f"unknown filter '{fld}:' (known: {', '.join(f + ':' for f in FIELDS)})", text, start)
        if fld:
            if neg or pending_not is not None:
                raise QueryError(f"'-{fld}:' is not supported; filters cannot be negated", text, start)
            pending_and = None
            filters += 1
            value = phrase if phrase is not None else word
            if not value:
                raise QueryError(f"'{fld}:' needs a value", text, start)
            _apply_filter(q, fld, value, text, start, now)
            if fld in ("since", "until"):
                last_date = start
            continue
        closes = 0
        if word is not None:
            _refuse_unsupported(word, text, m.start("word"))
            if not neg and len(word) > 3 and word.startswith("(-") and word.endswith(")") and word.count("(") == 1:
                neg, word = "-", word[2:-1]  # "(-wal)" excludes wal, as "-wal" does
            if word.count("(") != word.count(")"):  # parentheses that group words, not 'f(x)' or '(optional)'
                opens, closes = len(word) - len(word.lstrip("(")), len(word) - len(word.rstrip(")"))
                if opens:
                    if group is not None or opens > 1:
                        raise QueryError("parentheses cannot be nested", text, start)
                    if neg or pending_not is not None:
                        raise QueryError(
                            "a group cannot be excluded: exclude each word (-redis -memcached)", text, start
                        )
                    terms = sum(map(len, q.groups))
                    group = (start, len(q.groups) + (not pending_or), len(q.exclude), filters, pending_or, terms)
                word = word.strip("(") if opens else word.rstrip(")")
                if opens and word.startswith("-") and len(word) > 1 and not neg:
                    neg, word = "-", word[1:]  # "(-wal)": the exclusion is inside the bracket
                if not word:
                    if closes:
                        group, after_group = _close_group(q, group, filters, text, start)
                    continue
        if word in ("OR", "AND", "NOT") and not neg:
            if word == "OR" and after_group is not None:
                raise QueryError(_GROUP_HINT, text, after_group)
            if pending_or or pending_and is not None or pending_not is not None or (word != "NOT" and not q.groups):
                raise QueryError(
                    f"{word} needs a term on each side" if word != "NOT" else "NOT needs a term", text, start
                )
            if word == "OR":
                pending_or = True
            elif word == "AND":
                pending_and = start
            else:
                pending_not = start
            continue
        after_group = None
        if pending_not is not None:
            neg, pending_not = "-", None
        pending_and = None
        raw = phrase if phrase is not None else word
        prefix = False
        if phrase is None and raw.endswith("*"):
            raw, prefix = raw.rstrip("*"), True
        toks = index_tokens(raw)
        if not toks:
            if phrase is not None:
                raise QueryError("empty phrase", text, start)
            raise QueryError(f"'{m.group(0)}' has nothing searchable in it", text, start)
        term = Term(toks, prefix, raw, exact=phrase is not None)
        if neg:
            if pending_or:
                raise QueryError("OR cannot join an excluded term", text, start)
            q.exclude.append(term)
        elif pending_or:
            q.groups[-1].append(term)
            pending_or = False
        else:
            q.groups.append([term])
        if closes:
            group, after_group = _close_group(q, group, filters, text, start)
    if pending_or or pending_and is not None:
        raise QueryError(f"{'OR' if pending_or else 'AND'} needs a term on each side", text, len(text))
    if pending_not is not None:
        raise QueryError("NOT needs a term after it", text, pending_not)
    if group is not None:
        raise QueryError("'(' is never closed", text, group[0])
    if q.exclude and not q.groups and not q.has_filters:
        raise QueryError("a query needs something to find, not only exclusions", text, 0)
    check(q, last_date)
    return q


_GROUP_HINT = (
    "parentheses group only alternatives joined by OR, as in (redis OR memcached) cache; "
    "a group of words next to OR is not supported: write two searches, or the words without parentheses"
)
_NEAR = re.compile(r"NEAR(?:\(|/\d*|$)")
_INNER_WILDCARD = re.compile(r"\w+(?:[*?]+\w+)+[*?]*")
_REGEX_CHARS = re.compile(r"[*+?|()\[\]{}\\^$]")


def _refuse_unsupported(word: str, text: str, pos: int) -> None:
    """Syntax of other search engines that the language would otherwise read as
    plain words and quietly find nothing for (docs/cli.md, search)."""
    bare = word.lstrip("-")
    pos += len(word) - len(bare)
    if _NEAR.match(bare):
        raise QueryError(
            'NEAR is not supported: use a phrase ("wal checkpoint") or both words (wal checkpoint); '
            'to find the word itself, quote it: "NEAR"',
            text,
            pos,
        )
    if len(bare) > 2 and bare[0] == bare[-1] == "/" and _REGEX_CHARS.search(bare):
        raise QueryError(
            "this looks like a regular expression: use --regex PATTERN (regex= in the library and MCP)", text, pos
        )
    if bare.startswith("^") and bare[1:2].isalnum():
        raise QueryError("'^' (start of the text) is not supported: write the word without it", text, pos)
    if _INNER_WILDCARD.fullmatch(bare.strip("()")):
        raise QueryError(
            "'*' and '?' inside a word are not wildcards ('pars*', at the end, is a prefix); "
            f'to find the text as written, quote it: "{bare.strip("()")}"',
            text,
            pos,
        )


def _close_group(q: Query, group, filters: int, text: str, pos: int) -> tuple[None, int | None]:
    """A ')' closes the open group: (no group, where a group of ANDed words ended,
    if it was one). OR binds tighter than the words' AND, so a group of
    alternatives means what it says without parentheses; a group of ANDed words
    is the same too, unless OR stands next to it."""
    if group is None:
        raise QueryError("')' closes no '('", text, pos)
    start, groups, excluded, filters_before, or_before, terms_before = group
    if sum(map(len, q.groups)) == terms_before and len(q.exclude) == excluded and filters == filters_before:
        raise QueryError("empty parentheses: put words inside, or leave them out", text, start)
    alternatives = len(q.groups) <= groups and len(q.exclude) == excluded and filters == filters_before
    if alternatives:
        return None, None
    if or_before:
        raise QueryError(_GROUP_HINT, text, start)
    return None, start


def plain_words(q: Query) -> list[str]:
    """The query's positive single words (no phrases, prefixes or filters): the
    ones a typo suggestion may replace."""
    return [t.tokens[0] for g in q.groups for t in g if len(t.tokens) == 1 and not t.prefix]


def corrected(text: str, fixes: Mapping[str, str]) -> str | None:
    """``text`` with each word whose folded form is a key of ``fixes`` replaced
    by its value (quoted phrases and filters kept as written); None when no
    word was replaced."""
    out, pos, changed = [], 0, False
    for m in _LEX.finditer(text):
        word = m.group("word")
        if word and not m.group("field") and not m.group("neg") and (fix := fixes.get(fold(word.strip(_EDGE)))):
            lead = len(word) - len(word.lstrip(_EDGE))
            body = word.strip(_EDGE)
            start = m.start("word") + lead
            out += [text[pos:start], fix]
            pos, changed = start + len(body), True
    return "".join(out) + text[pos:] if changed else None


_EDGE = "()[]{}.,;:!?'"  # punctuation around a word that is not part of it


def _near_field(name: str) -> str | None:
    """A known filter one or two edits away from a typo ('projct' -> 'project')."""
    import difflib

    hits = difflib.get_close_matches(name, FIELDS + ("roles", "kinds", "providers", "models"), n=1, cutoff=0.75)
    return hits[0].rstrip("s") if hits and hits[0] not in ("has",) else (hits[0] if hits else None)


def with_filters(q: Query, filters: Mapping[str, Any], *, now: datetime | None = None) -> Query:
    """``q`` and the library's keyword filters (provider=..., since=...), ANDed,
    as a new Query. Each value (or each item of a list) becomes a typed filter
    directly, validated as the same filter in query text is; None, empty lists
    and blank strings are no filter. A date may be a datetime (naive means UTC);
    a keyword date replaces one in ``q``."""
    out = q.copy()
    for key, value in filters.items():
        if key not in FIELDS:
            raise QueryError(f"unknown filter '{key}' (known: {', '.join(FIELDS)})")
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, datetime):
                if key not in ("since", "until"):
                    raise QueryError(f"{key} takes text, not a date")
                setattr(out, key, v if v.tzinfo else v.replace(tzinfo=UTC))
            elif v is not None and str(v).strip():
                _apply_filter(out, key, str(v), "", None, now)
    check(out)
    return out


def _apply_filter(q: Query, fld: str, value: str, text: str, pos: int | None, now: datetime | None) -> None:
    """One filter's value, checked and typed, added to ``q`` (``text`` and
    ``pos``: where it was written, for the error)."""
    v = value.strip()
    low = v.lower()
    if not v:  # project:" " would match every project, id:" " every conversation
        raise QueryError(f"'{fld}:' needs a value (it is blank)", text, pos)
    if fld == "provider":
        known = _providers()
        if low not in known:
            raise QueryError(f"unknown provider '{low}' (known: {', '.join(sorted(known))})", text, pos)
        q.providers.append(low)
    elif fld == "role":
        if low not in ROLES:
            raise QueryError(f"role must be one of {', '.join(ROLES)}", text, pos)
        q.roles.append(low)
    elif fld == "kind":
        low = low.replace("-", "_")
        if low not in KINDS:
            raise QueryError(f"kind must be one of {', '.join(KINDS)}", text, pos)
        q.kinds.append(low)
    elif fld == "has":
        low = {"tool": "tools", "attachment": "attachments"}.get(low, low)
        if low not in HAS:
            raise QueryError(f"has: must be one of {', '.join(HAS)}", text, pos)
        q.has.append(low)
    elif fld in ("since", "until"):
        dt = parse_date(v, now=now, end=fld == "until")
        if dt is None:
            raise QueryError(
                f"cannot read the date '{v}' (use 2025-01-31, today, yesterday, last week, 3 days ago)", text, pos
            )
        setattr(q, fld, dt)
    elif fld == "title":
        toks = index_tokens(v)
        if not toks:
            raise QueryError("title: needs a word", text, pos)
        q.titles.append(Term(toks, v.endswith("*"), v))
    elif fld == "project":
        q.projects.append(v)
    elif fld == "model":
        q.models.append(low)
    elif fld == "id":
        q.ids.append(v)


def _providers() -> tuple[str, ...]:
    """The provider names the archive can hold: the provider registry's."""
    from .providers import names

    return names()


_REL = re.compile(r"^(\d+)\s*(minute|hour|day|week|month|year)s?\s+ago$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


# the ends of time a datetime can hold: a date beyond them is clamped, never an overflow
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def _day_after(d: datetime) -> datetime:
    """The start of the next day (the end of an inclusive date); the last day's end is LATEST."""
    return d + timedelta(days=1) if d.date() < LATEST.date() else LATEST


def parse_date(s: str, *, now: datetime | None = None, end: bool = False) -> datetime | None:
    """ISO dates/times or relative words, as aware UTC. ``end`` makes a bare
    date inclusive (until:2025-01-31 includes that whole day)."""
    now = now or datetime.now(UTC)
    low = " ".join(s.lower().replace("_", " ").split())
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    if low in ("today", "now"):
        return now if low == "now" else (today + day if end else today)
    if low == "yesterday":
        return today if end else today - day
    if low in ("last week", "this week"):
        return now - timedelta(days=7)
    if low in ("last month",):
        return now - timedelta(days=30)
    if low in ("last year",):
        return now - timedelta(days=365)
    m = _REL.match(low)
    if m:
        try:
            return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
        except OverflowError:  # further back than a datetime reaches: from the beginning of time
            return EARLIEST
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", low):
            d = datetime.fromisoformat(low).replace(tzinfo=UTC)
            return _day_after(d) if end else d
        if re.fullmatch(r"\d{4}-\d{2}", low):
            d = datetime.fromisoformat(low + "-01").replace(tzinfo=UTC)
            if end:
                d = LATEST if d.month == 12 and d.year == LATEST.year else (d + timedelta(days=32)).replace(day=1)
            return d
        if re.fullmatch(r"\d{4}", low):
            return LATEST if end and low == "9999" else datetime(int(low) + (1 if end else 0), 1, 1, tzinfo=UTC)
        d = datetime.fromisoformat(s.strip().replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    except ValueError:
        return None
