"""The query language, shared by the CLI, the library and MCP.

    oauth refresh                 both words (AND)
    "exact phrase"                a phrase
    pars*                         a prefix
    redis OR memcached            either
    -java  -"old api"             exclude
    provider:claude-code role:user kind:thinking since:2025-01-01 until:yesterday
    title:deploy project:webshop model:opus has:tools id:claude-code:4f2

With --regex PATTERN (regex= in the library and MCP), a Python regular
expression must also match the message text; it is tried on the messages the
words match (or all that the filters allow), with a bound on the work.

User text never reaches FTS5 as syntax: every term is re-tokenised and quoted.
A query that cannot be parsed raises QueryError pointing at the problem."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .errors import QueryError

ROLES = ("user", "assistant", "system", "tool")
KINDS = ("text", "thinking", "tool_use", "tool_result")
HAS = ("thinking", "tools", "attachments")
FIELDS = ("provider", "role", "kind", "since", "until", "title", "project", "model", "has", "id")


@dataclass
class Term:
    tokens: list[str]  # normalised index tokens
    prefix: bool = False
    raw: str = ""

    def fts(self) -> str:
        body = " ".join(self.tokens)
        return f'"{body}"*' if self.prefix else f'"{body}"'


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
    regex: str | None = None

    @property
    def has_terms(self) -> bool:
        return bool(self.groups)

    @property
    def message_filters(self) -> bool:
        return bool(self.roles or self.kinds)

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
        from itertools import groupby

        from .textutil import is_cjk

        out: list[str] = []
        for t in (t for g in self.groups for t in g):
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
            self.regex,
        )


# ---------------------------------------------------------------- tokenising


def index_tokens(s: str) -> list[str]:
    """Split and fold exactly like the index: our CJK split (textutil.split_cjk),
    then SQLite's unicode61 tokenizer with remove_diacritics 2, whose idea of a
    token character comes from its own tables (a token starts on a letter or
    digit, may go on through combining marks, and each character folds on its
    own). 'path/to/file.py' -> ['path', 'to', 'file', 'py']."""
    from .textutil import split_cjk

    out: list[str] = []
    cur: list[str] = []
    for ch in split_cjk(s):
        starts, goes_on, folded = _char(ch)
        if starts or (cur and goes_on):
            cur.append(folded)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return [t for t in out if t]


def _char(ch: str) -> tuple[bool, bool, str]:
    if ch.isascii():
        return (True, True, ch.lower()) if ch.isalnum() else (False, False, ch)
    return _CHARS[ord(ch)]


def fold(t: str) -> str:
    """Case and diacritics folded exactly as the index's tokenizer folds them
    (unicode61 remove_diacritics 2 folds Latin letters only: NFKD would also turn
    デ into テ and split Hangul syllables, and then find nothing)."""
    return t.lower() if t.isascii() else t.translate(_FOLD)


class _FoldTable(dict):
    """codepoint -> its folded form inside a token, or None for a separator:
    SQLite's own tokenizer is asked once per character ('a' + ch + 'a')."""

    def __missing__(self, cp: int) -> str | None:
        inside = _sqlite_tokens(f"a{chr(cp)}a")
        self[cp] = out = inside[0][1:-1] if len(inside) == 1 else None
        return out


class _FoldText(dict):
    """codepoint -> what str.translate writes for it (separators stay as they are)."""

    def __missing__(self, cp: int) -> str:
        folded = _FOLDED[cp]
        self[cp] = out = chr(cp) if folded is None else folded
        return out


class _CharTable(dict):
    """codepoint -> (starts a token, continues one, folded form); whether a
    character can start a token ('ch' + 'a') is asked only when it continues one."""

    def __missing__(self, cp: int) -> tuple[bool, bool, str]:
        folded = _FOLDED[cp]
        if folded is None:
            info = (False, False, chr(cp))
        else:
            info = (folded != "" and _sqlite_tokens(f"{chr(cp)}a") == [folded + "a"], True, folded)
        self[cp] = info
        return info


def _sqlite_tokens(text: str) -> list[str]:
    import sqlite3

    global _fold_conn
    with _fold_lock:
        if _fold_conn is None:
            _fold_conn = sqlite3.connect(":memory:", check_same_thread=False)
            _fold_conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
            _fold_conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        c = _fold_conn
        c.execute("DELETE FROM t")
        c.execute("INSERT INTO t(x) VALUES (?)", (text,))
        return [r[0] for r in c.execute("SELECT term FROM v ORDER BY offset")]


_FOLDED = _FoldTable()
_FOLD = _FoldText()
_CHARS = _CharTable()
_fold_lock = threading.Lock()
_fold_conn = None


_LEX = re.compile(r'\s+|(?P<neg>-(?!-))?(?:(?P<field>[a-z_]+):)?(?:"(?P<phrase>[^"]*)(?P<close>"?)|(?P<word>[^\s"]+))')


def parse(text: str, *, now: datetime | None = None) -> Query:
    q = Query(text=text)
    pos = 0
    pending_or = False
    n = len(text)
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
            if neg:
                raise QueryError(f"'-{fld}:' is not supported; filters cannot be negated", text, start)
            value = phrase if phrase is not None else word
            if not value:
                raise QueryError(f"'{fld}:' needs a value", text, start)
            _apply_filter(q, fld, value, text, start, now)
            continue
        if word == "OR" and not neg:
            if not q.groups or pending_or:
                raise QueryError("OR needs a term on each side", text, start)
            pending_or = True
            continue
        raw = phrase if phrase is not None else word
        prefix = False
        if phrase is None and raw.endswith("*"):
            raw, prefix = raw.rstrip("*"), True
        toks = index_tokens(raw)
        if not toks:
            if phrase is not None:
                raise QueryError("empty phrase", text, start)
            raise QueryError(f"'{m.group(0)}' has nothing searchable in it", text, start)
        term = Term(toks, prefix, raw)
        if neg:
            if pending_or:
                raise QueryError("OR cannot join an excluded term", text, start)
            q.exclude.append(term)
        elif pending_or:
            q.groups[-1].append(term)
            pending_or = False
        else:
            q.groups.append([term])
    if pending_or:
        raise QueryError("OR needs a term on each side", text, len(text))
    if q.exclude and not q.groups and not _has_filters(q):
        raise QueryError("a query needs something to find, not only exclusions", text, 0)
    return q


def _near_field(name: str) -> str | None:
    """A known filter one or two edits away from a typo ('projct' -> 'project')."""
    import difflib

    hits = difflib.get_close_matches(name, FIELDS + ("roles", "kinds", "providers", "models"), n=1, cutoff=0.75)
    return hits[0].rstrip("s") if hits and hits[0] not in ("has",) else (hits[0] if hits else None)


def _has_filters(q: Query) -> bool:
    return bool(
        q.providers or q.roles or q.kinds or q.since or q.until or q.titles or q.projects or q.models or q.has or q.ids
    )


def _apply_filter(q: Query, fld: str, value: str, text: str, pos: int, now: datetime | None) -> None:
    v = value.strip()
    low = v.lower()
    if fld == "provider":
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


_REL = re.compile(r"^(\d+)\s*(minute|hour|day|week|month|year)s?\s+ago$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


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
        return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", low):
            d = datetime.fromisoformat(low).replace(tzinfo=UTC)
            return d + day if end else d
        if re.fullmatch(r"\d{4}-\d{2}", low):
            d = datetime.fromisoformat(low + "-01").replace(tzinfo=UTC)
            if end:
                d = (d + timedelta(days=32)).replace(day=1)
            return d
        if re.fullmatch(r"\d{4}", low):
            return datetime(int(low) + (1 if end else 0), 1, 1, tzinfo=UTC)
        d = datetime.fromisoformat(s.strip().replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    except ValueError:
        return None


# ---------------------------------------------------------------- snippets


@functools.lru_cache(maxsize=64)
def token_pattern(tokens: tuple[str, ...]) -> re.Pattern:
    """Where query tokens occur in text as written: case-insensitive, and a CJK
    run may have punctuation or spaces between its characters, as the index
    (one token per character) lets it."""
    from .textutil import is_cjk

    alts = {r"\W*".join(map(re.escape, t)) if len(t) > 1 and is_cjk(t[0]) else re.escape(t) for t in tokens}
    return re.compile("|".join(sorted(alts, key=len, reverse=True)), re.I)


def snippet(
    text: str, tokens: list[str], width: int = 160, pattern: re.Pattern | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """A window of ``text`` around the first matching token (or match of
    ``pattern``), whitespace collapsed, with the spans of every match inside it
    (for highlighting). Only the region around the match is flattened and
    searched again, so a hit in a megabyte of tool output costs what a short one does."""
    if not text:
        return "", []
    pat = pattern or (token_pattern(tuple(tokens)) if tokens else None)
    if len(text) <= 5 * width:  # short: flatten it all, search once
        flat, more_before, more_after = " ".join(text.split()), False, False
    else:
        at = 0 if pat is None else _first_match(text, tokens, pat, pattern is None)
        lo, hi = max(0, at - width), at + 4 * width
        flat = " ".join(text[lo:hi].split())
        more_before = lo > 0 and not text[:lo].isspace()
        more_after = hi < len(text) and not text[hi:].isspace()
    m = None if pat is None else pat.search(flat)
    seen = flat  # where the matches are: the text, or its folded twin (café found by cafe)
    if m is None and pattern is None and pat is not None:
        folded = fold(flat)
        if len(folded) == len(flat):
            m = pat.search(folded)
            seen = folded if m else flat
    start = 0 if m is None else max(0, m.start() - width // 3)
    if start:
        sp = flat.rfind(" ", 0, start)
        start = sp + 1 if sp >= 0 and start - sp < 20 else start
    window = flat[start : start + width]
    pre = "…" if start or more_before else ""
    post = "…" if start + width < len(flat) or more_after else ""
    spans = (
        []
        if pat is None
        else [
            (mm.start() + len(pre), mm.end() + len(pre))
            for mm in pat.finditer(seen[start : start + width])
            if mm.end() > mm.start()
        ]
    )
    return pre + window + post, spans


def _first_match(text: str, tokens: list[str], pat: re.Pattern, fold_too: bool) -> int:
    """Where the first match starts in ``text`` (0 if none). Long text with ASCII
    tokens is lowered once and searched with str.find: a case-insensitive regex
    walks it character by character."""
    if fold_too and all(t.isascii() for t in tokens):
        low = text.lower()
        if len(low) == len(text):
            found = [p for p in map(low.find, tokens) if p >= 0]
            if found:
                return min(found)
    m = pat.search(text)
    if m is None and fold_too:
        folded = fold(text)
        if len(folded) == len(text):
            m = pat.search(folded)
    return 0 if m is None else m.start()
