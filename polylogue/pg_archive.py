"""``PgArchive``: the shared archive on PostgreSQL behind the read methods of
``Archive`` (search, list, resolve, locate, window, conversation, stream,
messages, message_positions, message_tree, activity, stats, usage), with the
same return types, so the front ends (`search`, `list`, `show`, `stats`,
`usage`, `export`, `mcp`, `serve`) run on it: the same query language through
the second compiler (store/postgres/query.py), the same usage reports
(polylogue/usage.py over the totals a push keeps, store/postgres/usage.py).

Two filters exist only here: ``machine:`` (conversations a machine holds) and
``user:`` (pushed by that PostgreSQL role). They are taken out of the query
text before the query language reads it (``shared_filters``), and are keyword
arguments (``machine=``, ``user=``) of search and list too."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import search as searchlang
from .api import Redacting
from .errors import ArchiveNeedsUpgrade, QueryError
from .models import Block, Conversation, Message
from .store.query import check_page

# This session's settings (any role may set them): reads only; no JIT, whose compile time
# (hundreds of ms) is paid on every big count and never won back on queries this short;
# enough memory for a common word's bitmap to stay exact, so matches are not rechecked
# against their (compressed) tsvectors (docs/postgres.md, "Server settings").
READER_SETTINGS = (
    "SET default_transaction_read_only = on",
    "SET jit = off",
    "SET work_mem = '64MB'",
)
SHARED_FIELDS = ("machine", "user")
USAGE_SCHEMA = 2  # the server migration that brought the usage ledger (store/postgres/schema.py)


def shared_filters(text: str) -> tuple[str, builtins.list[str], builtins.list[str]]:
    """``machine:X`` and ``user:X`` taken out of query text, lexed as the query
    language lexes it (a quoted phrase holding ``machine:x`` stays a phrase):
    (the rest of the text, machines, users)."""
    machines: builtins.list[str] = []
    users: builtins.list[str] = []
    keep: builtins.list[str] = []
    pos = 0
    for m in searchlang._LEX.finditer(text):
        fld = m.group("field")
        if fld not in SHARED_FIELDS:
            continue
        value = m.group("phrase") if m.group("phrase") is not None else m.group("word")
        if m.group("neg"):
            raise QueryError(f"'-{fld}:' is not supported; filters cannot be negated", text, m.start())
        if not value or (m.group("phrase") is not None and not m.group("close")):
            raise QueryError(f"'{fld}:' needs a value", text, m.start())
        (machines if fld == "machine" else users).append(value)
        keep.append(text[pos : m.start()])
        pos = m.end()
    keep.append(text[pos:])
    return " ".join(x.strip() for x in keep if x.strip()), machines, users


class PgArchive(Redacting):
    def __init__(
        self, url: str, *, insecure: bool = False, redact: bool = False, prices_home: str | Path | None = None
    ):
        """``prices_home``: the local archive folder whose prices.json (if any) overrides
        the shipped price table in usage reports (docs/usage.md), as it does locally."""
        self.url, self.insecure = url, insecure
        self.redacted = redact  # as Archive(redact=True): secrets masked in what is handed out
        self.prices_home = prices_home
        self._conn = None
        self._version = 0  # the server's schema version, read on connecting
        self._lock = threading.Lock()

    @property
    def home(self) -> str:
        """Where the archive is, for people: the URL with its password masked."""
        from .store.postgres.connect import masked

        return masked(self.url)

    def _connection(self):
        if self._conn is None:
            from .errors import ArchiveMissing
            from .store.postgres import schema
            from .store.postgres.connect import connect, masked

            conn = connect(self.url, insecure=self.insecure, autocommit=True)
            for setting in READER_SETTINGS:
                conn.execute(setting)
            self._version = schema.version(conn)
            if self._version == 0:
                conn.close()
                e = ArchiveMissing(masked(self.url))
                e.args = (f"no polylogue archive at {masked(self.url)} yet: `polylogue push URL` makes one",)
                raise e
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> PgArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _listed(v) -> builtins.list[str]:
        return [] if v is None else [v] if isinstance(v, str) else [x for x in v if x]

    # ------------------------------------------------------------ search and list
    def search(
        self,
        query: str | searchlang.Query = "",
        *,
        limit: int = 20,
        offset: int = 0,
        cache: bool = True,
        regex: str | None = None,
        within: str = "conversation",
        forms: bool = True,
        mode: str | None = None,
        timeout: float | None = None,
        machine: str | builtins.list[str] | None = None,
        user: str | builtins.list[str] | None = None,
        **filters: Any,
    ):
        """Archive.search on the shared archive. ``cache`` is accepted and ignored (the
        server's own buffers cache); ``--regex`` and search by meaning are not supported
        here ("auto" is lexical, as on an archive without vectors). ``timeout``: seconds
        each of the search's statements may run (the server's statement_timeout) before
        it stops with errors.SearchTimeout."""
        from .store.postgres.reads import search

        if regex is not None:
            raise QueryError("--regex is not supported on a shared PostgreSQL archive (yet)")
        if mode not in (None, "lexical", "auto"):
            raise QueryError(f"--mode {mode} is not supported on a shared PostgreSQL archive (yet): words only")
        machines, users = self._listed(machine), self._listed(user)
        if isinstance(query, str):
            query, more_m, more_u = shared_filters(query)
            machines, users = machines + more_m, users + more_u
        q = searchlang.with_filters(query if isinstance(query, searchlang.Query) else searchlang.parse(query), filters)
        check_page(limit, offset)
        if within not in ("conversation", "message"):
            raise QueryError(f"within must be 'conversation' or 'message', not {within!r}")
        q.within, q.forms = within, forms
        with self._lock:
            conn = self._connection()
            if timeout is None:
                res = search(conn, q, limit=limit, offset=offset, machines=machines, users=users)
            else:
                res = self._bounded(conn, timeout, lambda: search(conn, q, limit=limit, offset=offset,
                                                                  machines=machines, users=users))  # fmt: skip
        return self._redacted_result(res)

    @staticmethod
    def _bounded(conn, seconds: float, run):
        """``run()`` in a transaction whose statements stop after ``seconds`` (SearchTimeout)."""
        import psycopg

        from .errors import SearchTimeout

        stopped = SearchTimeout(f"the search took longer than {seconds:g} s and was stopped")
        if seconds <= 0:
            raise stopped
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
                return run()
        except psycopg.errors.QueryCanceled:
            raise stopped from None

    def list(
        self,
        *,
        provider: str | builtins.list[str] | None = None,
        since=None,
        until=None,
        project: str | None = None,
        limit: int = 50,
        offset: int = 0,
        parent: str | None = None,
        machine: str | builtins.list[str] | None = None,
        user: str | builtins.list[str] | None = None,
    ) -> builtins.list[dict[str, Any]]:
        from .store.postgres.reads import list_conversations

        q = searchlang.with_filters(
            searchlang.Query(), {"provider": provider, "since": since, "until": until, "project": project}
        )
        q.parent = parent
        check_page(limit, offset)
        with self._lock:
            rows = list_conversations(
                self._connection(),
                q,
                limit=limit,
                offset=offset,
                machines=self._listed(machine),
                users=self._listed(user),
            )
        return self._shown(rows)

    def children(self, ident: str) -> builtins.list[dict[str, Any]]:
        return self.list(parent=self.resolve(ident)["id"], limit=1000)

    # ------------------------------------------------------------ one conversation
    def resolve(self, ident: str) -> dict[str, Any]:
        from .store.postgres.reads import _summary, resolve

        with self._lock:
            return self._shown([_summary(resolve(self._connection(), _ident(ident)))])[0]

    def locate(self, ident: str) -> tuple[str, str | None]:
        """What ``show IDENT`` names (Archive.locate): a conversation, or one of its messages."""
        from .store.lookup import locate
        from .store.postgres import reads

        ident = _ident(ident)
        with self._lock:
            return locate(
                self._connection(), ident, reads.resolve, reads.message_positions, reads.conversations_holding
            )

    def window(self, ident: str, message_id: str, *, context: int = 3, active_only: bool = False):
        """The messages around one message (Archive.window); only the window is read."""
        from .api import MessageWindow
        from .store.lookup import message_in
        from .store.postgres import reads

        if context < 0:
            raise QueryError(f"the context must be 0 or more, not {context}")
        if not message_id.strip():
            raise QueryError("the message id is empty")
        with self._lock:
            conn = self._connection()
            row = reads.resolve(conn, _ident(ident))
            position, mid = message_in(
                conn, row, _ident(message_id), message_id, reads.message_positions, active_only=active_only
            )
            total = reads.count_messages(conn, row[0], active_only=active_only)
            start, end = max(0, position - context), min(total, position + context + 1)
            conv = reads.load_conversation(conn, row, active_only=active_only, start=start, limit=end - start)
        summary = dict(reads._summary(row), source_gone=False)
        end = start + len(conv.messages)
        return MessageWindow(self._redacted(conv), self._shown([summary])[0], mid, position, start, end, total)

    def conversation(self, ident: str, *, active_only: bool = False) -> Conversation:
        from .store.postgres.reads import load_conversation, resolve

        with self._lock:
            conn = self._connection()
            return self._redacted(load_conversation(conn, resolve(conn, _ident(ident)), active_only=active_only))

    def messages(
        self, ident: str, *, start: int = 0, limit: int = -1, active_only: bool = False
    ) -> builtins.list[Message]:
        from .store.postgres.reads import iter_messages, resolve

        with self._lock:
            conn = self._connection()
            cid = resolve(conn, _ident(ident))[0]
            got = builtins.list(
                iter_messages(conn, cid, active_only=active_only, start=start, limit=None if limit < 0 else limit)
            )
        return [self._redacted_message(m) for m in got]

    def message_positions(
        self, ident: str, message_id: str, *, active_only: bool = False, limit: int = 21
    ) -> builtins.list[tuple[int, str]]:
        """(position, id) of the message whose id is ``message_id``, else of the first
        ``limit`` whose id starts with it (Archive.message_positions)."""
        from .store.postgres.reads import message_positions, resolve

        with self._lock:
            conn = self._connection()
            cid = resolve(conn, _ident(ident))[0]
            return message_positions(conn, cid, _ident(message_id), active_only=active_only, limit=limit)

    def message_tree(self, ident: str) -> builtins.list[tuple[str, str | None, bool]]:
        """(message id, parent id, active) of every message, in stored order (Archive.message_tree)."""
        from .store.postgres.reads import message_tree, resolve

        with self._lock:
            conn = self._connection()
            return message_tree(conn, resolve(conn, _ident(ident))[0])

    def activity(self) -> builtins.list[dict[str, Any]]:
        """Conversations and messages per (UTC day of last update, project, first model) (Archive.activity)."""
        from .store.postgres.reads import activity

        with self._lock:
            return activity(self._connection())

    def message_count(self, ident: str, *, active_only: bool = False) -> int:
        from .store.postgres.reads import count_messages, resolve

        with self._lock:
            conn = self._connection()
            return count_messages(conn, resolve(conn, _ident(ident))[0], active_only=active_only)

    def stream(self, ident: str, *, active_only: bool = False, batch: int = 200):
        """(summary, lazy message iterator), as Archive.stream: read ``batch`` messages at a time."""
        from .store.postgres.reads import _summary, iter_messages, resolve

        with self._lock:
            row = resolve(self._connection(), _ident(ident))
        summary = self._shown([dict(_summary(row), source_gone=False)])[0]

        def messages():
            start = 0
            while True:
                with self._lock:
                    chunk = builtins.list(
                        iter_messages(self._connection(), row[0], active_only=active_only, start=start, limit=batch)
                    )
                yield from map(self._redacted_message, chunk)
                if len(chunk) < batch:
                    return
                start += batch

        return summary, messages()

    def gone(self, ids: builtins.list[str]) -> set[str]:
        """Whether a source file is gone is a question for the machine that read it: none here."""
        return set()

    # ------------------------------------------------------------ the archive
    def stats(self) -> dict[str, Any]:
        from .store.postgres.reads import stats
        from .store.postgres.usage import Dialect
        from .usage import stats_summary

        with self._lock, self._snapshot() as conn:
            s = stats(conn)
            if self._version >= USAGE_SCHEMA:  # tokens and cost, each response once
                s["usage"] = stats_summary(Dialect(conn), self.prices_home)
            else:
                s["usage"] = {"responses": 0, "on_server": False}
        s["home"] = self.home
        return s

    def usage(
        self,
        period: str = "daily",
        *,
        since=None,
        until=None,
        provider: str | builtins.list[str] | None = None,
        project: str | None = None,
        model: str | None = None,
        breakdown: bool = False,
        tz: str | None = None,
    ) -> dict[str, Any]:
        """Archive.usage on the shared archive: polylogue/usage.py's report over the
        totals every push keeps on the server (store/postgres/load.py), each response
        counted once across machines; prices as locally (``prices_home``)."""
        from .store.postgres.usage import Dialect
        from .usage import usage_report

        with self._lock, self._snapshot() as conn:
            if self._version < USAGE_SCHEMA:
                e = ArchiveNeedsUpgrade(self.home, self._version, USAGE_SCHEMA)
                e.args = (
                    f"the server's schema (v{self._version}) has no usage ledger yet: a push by this polylogue adds it",
                )
                raise e
            return usage_report(
                Dialect(conn),
                period,
                since=since,
                until=until,
                provider=provider,
                project=project,
                model=model,
                breakdown=breakdown,
                tz=tz,
                prices_home=self.prices_home,
            )

    @contextmanager
    def _snapshot(self):
        """The connection inside one read transaction that sees one state of the server
        (a report's several statements never straddle a push's batch)."""
        conn = self._connection()
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield conn

    def retention_warnings(self) -> builtins.list[str]:
        """Source retention is each pushing machine's business (its local `stats` warns)."""
        return []

    def sources_report(self) -> builtins.list[dict[str, Any]]:
        """The default sources are each pushing machine's folders: none here (its own `serve` shows them)."""
        return []

    def failing_sources(self) -> builtins.list[dict[str, Any]]:
        """A file that failed to sync is the business of the machine that read it: none here."""
        return []

    def check(self) -> dict[str, Any]:
        """What a reader can check on the server (store/postgres/reads.py ``check``)."""
        from .store.postgres.reads import check

        with self._lock, self._snapshot() as conn:
            return check(conn)

    # ------------------------------------------------------------ privacy (api.Redacting)
    def _hit_blocks(self, summaries: builtins.list[dict[str, Any]]) -> Iterator[dict[str, builtins.list[Block]]]:
        from .store.postgres.reads import hit_blocks

        for s in summaries:
            with self._lock:
                blocks = hit_blocks(self._connection(), s["id"], [h["message_id"] for h in s.get("hits") or []])
            yield blocks


def _ident(ident: str) -> str:
    from .api import _ident as checked

    return checked(ident.strip())
