"""The library facade. The CLI, the MCP server and scripts all go through
``Archive``; nothing above this layer touches SQL.

    from polylogue import Archive
    a = Archive()                                   # default home
    report = a.sync()                               # default sources
    res = a.search("oauth provider:claude-code", limit=5)
    conv = a.conversation("claude-code:4f2a")       # id or unique prefix
    for c in a.conversations().provider("claude").since("2025-01-01").containing("oauth").limit(10):
        print(c["title"])
"""

from __future__ import annotations

import builtins
import errno
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import search as searchlang
from .errors import QueryError, SyncBusy
from .models import Block, Conversation, Message
from .paths import default_home, open_private
from .store.query import check_page

if TYPE_CHECKING:
    from .store.db import ReadPool

CACHE_SIZE = 256


_SYNC_THREAD_LOCKS: dict[str, threading.Lock] = {}


class Redacting:
    """What an archive hands out, with its secrets masked when ``redacted`` is set
    (docs/privacy.md): Archive's, and PgArchive's (pg_archive.py), which differ only
    in how they read a search hit's message whole (``_hit_blocks``)."""

    redacted: bool

    def _redacted(self, conv: Conversation) -> Conversation:
        if not self.redacted:
            return conv
        from .privacy.redact import redact_conversation

        return redact_conversation(conv)

    def _redacted_message(self, m: Message) -> Message:
        if not self.redacted:
            return m
        from .privacy.redact import redact_message

        return redact_message(m)

    def _shown(self, summaries: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
        if not self.redacted:
            return summaries
        from .privacy.redact import redact_summary

        return [redact_summary(s) for s in summaries]

    def _redacted_result(self, res):
        """A search result with titles and snippets masked: a copy (the cache keeps the
        result as found). Each hit's message is read whole, so a secret the snippet's
        window cuts is still recognised (privacy/redact.py, redact_snippet)."""
        if not self.redacted:
            return res
        import copy

        from .privacy.redact import message_values, redact_snippet

        out = copy.copy(res)
        out.conversations = self._shown(res.conversations)
        for s, blocks in zip(out.conversations, self._hit_blocks(out.conversations), strict=True):
            shown = []
            for h in s.get("hits") or []:
                values = message_values(blocks[h["message_id"]]) if h["message_id"] in blocks else []
                snip, spans = redact_snippet(h.get("snippet") or "", h.get("highlights") or [], values)
                shown.append({**h, "snippet": snip, "highlights": spans})
            s["hits"] = shown
        return out

    def _hit_blocks(self, summaries: builtins.list[dict[str, Any]]) -> Iterator[dict[str, builtins.list[Block]]]:
        """For each summary in turn: its hits' messages' blocks by message id."""
        raise NotImplementedError


class Archive(Redacting):
    def __init__(self, home: str | os.PathLike | None = None, *, readers: int = 4, redact: bool = False):
        """``redact=True``: every text this archive hands out has its secrets masked
        (docs/privacy.md); the MCP server and ``serve`` open it so by default."""
        from .store.db import DB_NAME

        self.redacted = redact  # (the method redact() rewrites the archive; this masks what it hands out)
        self.home = Path(home).expanduser() if home else default_home()
        self.db_path = self.home / DB_NAME
        self._readers = readers
        self._pool: ReadPool | None = None
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._pool_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    # ------------------------------------------------------------ plumbing
    def _ensure_writable(self) -> None:
        """For sync alone: create the home and database, or migrate an older one.
        A damaged database, a full disk or a home this user cannot write is one
        clear error (store/db.py, storage_error)."""
        from .store.db import ensure_home, open_writer

        with self._storage_errors():
            ensure_home(self.home)
            open_writer(self.db_path).close()

    def _open_readonly(self) -> None:
        """For every read: open the archive as it is. Reads never create, migrate
        or write anything: a missing archive is ArchiveMissing, an older one
        ArchiveNeedsUpgrade (a sync upgrades it)."""
        if self._pool is not None:
            return
        from .store.db import ReadPool

        with self._pool_lock:  # MCP tools run in threads: two first calls must not open two pools
            if self._pool is None:
                self._require_readable()
                self._pool = ReadPool(self.db_path, self._readers)

    def _require_readable(self) -> None:
        from .errors import ArchiveMissing
        from .store.db import archive_version
        from .store.schema import require_readable

        if not self.db_path.exists():
            raise ArchiveMissing(self.home)
        with self._storage_errors():
            version = archive_version(self.db_path)
        require_readable(version, self.home)

    @contextmanager
    def _storage_errors(self):
        """A failure of the disk or the database file becomes one of our errors, naming the file."""
        import sqlite3

        from .store.db import storage_error

        try:
            yield
        except (sqlite3.Error, OSError) as e:
            ours = storage_error(e, self.db_path)
            if ours is None:
                raise
            raise ours from None

    @contextmanager
    def reader(self):
        self._open_readonly()
        assert self._pool is not None
        with self._storage_errors(), self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ import
    @staticmethod
    def providers() -> dict[str, str]:
        """Every provider a ``provider:`` filter accepts: name -> display name."""
        from .providers import by_name, names

        return {n: by_name(n).display_name for n in sorted(names())}

    def default_sources(self) -> list[tuple[str, Path]]:
        from .sources import default_sources

        return default_sources(self.home)

    def sources_report(self) -> list[dict[str, Any]]:
        """Each default source: where, whether it exists, and what is there
        (``searched_for``: the file patterns, for a folder searched for some files only).
        For a tool that deletes its own files (``retention_days``, read from
        ``retention_setting``): the ``oldest`` file, the ``days_left`` before the tool
        deletes it, and the files it will delete within WARN_DAYS that no sync
        has archived (``at_risk``). ``not_archived``: the files a sync would read
        (None when there is no readable archive)."""
        from .sources import discover, source_retention

        out = []
        with self._known() as conn:
            for name, path in self.default_sources():
                entry: dict[str, Any] = {"name": name, "path": str(path), "exists": path.is_dir()}
                find = getattr(path, "find", ())  # a folder searched for some files only (sources.SearchRoot)
                if find:
                    entry["searched_for"] = list(find)
                kept = source_retention(name)
                if kept is not None:
                    entry["retention_days"], entry["retention_setting"] = kept[1].days, kept[1].setting
                if entry["exists"]:
                    files = list(discover([path], []))
                    entry["files"] = len(files)
                    entry["bytes"] = sum(f.size for f in files)
                    entry.update(_ages(files, kept[1].days if kept else None, conn))
                    if kept and entry.get("at_risk"):
                        entry["warning"] = _risk_line(kept[0], entry["at_risk"])
                out.append(entry)
        return out

    def retention_warnings(self) -> builtins.list[str]:
        """One line per source whose tool will delete files within WARN_DAYS
        that no sync has archived. Only sources whose tool deletes its files are
        walked, and only files that old are looked up in the archive."""
        from .sources import default_sources, discover, source_retention

        warnings = []
        with self._known() as conn:
            for name, path in default_sources(self.home):
                kept = source_retention(name)
                if kept is None or kept[1].days is None or not path.is_dir():
                    continue
                cutoff = _deadline_cutoff(kept[1].days)
                old = [f for f in discover([path], []) if f.mtime_ns <= cutoff]
                risky = _not_archived(conn, old)
                if risky:
                    warnings.append(_risk_line(kept[0], len(risky)))
        return warnings

    @contextmanager
    def _known(self):
        """A reader of the archive for "is this file archived?", or None when
        there is no archive this version can read (then nothing is archived)."""
        from .errors import PolylogueError

        if not self.db_path.exists():
            yield None
            return
        try:
            self._open_readonly()
        except PolylogueError:  # an archive of another version: it holds nothing this one can tell
            yield None
            return
        with self.reader() as conn:
            yield conn

    def failing_sources(self) -> builtins.list[dict[str, Any]]:
        """The input files whose last sync failed or found problems: {"path",
        "provider", "status", "conversations", "synced_at", "errors"}, each error
        as sync reports it. A failed file is read again by every sync."""
        from .store.known import failing_sources

        if not self.db_path.exists():  # no archive yet: nothing has failed (and none is made)
            return []
        with self.reader() as conn:
            rows = failing_sources(conn)
        return [r for r in rows if os.path.exists(r["path"])]  # a file deleted since is nothing to fix

    def sync(
        self,
        paths: list[str | os.PathLike] | None = None,
        *,
        progress=None,
        workers: int | None = None,
        force: bool = False,
        wait: bool = True,
        on_wait: Callable[[], None] | None = None,
    ):
        """Import files/folders (or the default sources). Returns a SyncReport.
        Another sync of this archive makes this one wait (``on_wait`` is called
        once, before waiting), or raise SyncBusy when ``wait`` is false."""
        from .ingest import sync

        self._ensure_writable()
        if paths:
            # a Path is kept as it is: a sources.SearchRoot (a folder searched for some files) stays one
            targets = [p if isinstance(p, Path) else Path(p) for p in paths]
        else:
            targets = [p for _, p in self.default_sources() if p.exists()]
        with self._storage_errors(), self._sync_lock(wait, on_wait):
            report = sync(self.db_path, targets, progress=progress, workers=workers, force=force)
        self._cache_clear()
        return report

    @contextmanager
    def _sync_lock(self, wait: bool, on_wait: Callable[[], None] | None = None):
        """One sync at a time per archive: the second waits (or fails fast)."""
        path = self.home / "sync.lock"
        # a POSIX record lock belongs to this process alone: parser processes forked
        # during the sync do not inherit it, so a killed sync never leaves it held;
        # the thread lock keeps two syncs of one process apart
        busy = "another polylogue sync is running on this archive"
        local = _SYNC_THREAD_LOCKS.setdefault(str(path), threading.Lock())
        if not local.acquire(blocking=wait):
            raise SyncBusy(busy)
        try:
            fd = open_private(path, os.O_RDWR)
        except BaseException:  # the lock file cannot be made: later syncs must not find this one held
            local.release()
            raise
        try:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - non-POSIX: SQLite's own locking still protects the file
                yield
                return
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
                if not wait:
                    raise SyncBusy(busy) from None
                if on_wait is not None:
                    on_wait()
                fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
            local.release()

    # ------------------------------------------------------------ reading
    def stats(self) -> dict[str, Any]:
        from .store.queries import stats
        from .usage import stats_summary

        with self.reader() as conn:
            s = stats(conn)
            s["usage"] = stats_summary(conn, self.home)  # tokens and cost, each response once
            s["semantic"] = self._semantic_coverage(conn)
        total = self.cache_hits + self.cache_misses
        s["search_cache"] = {
            "hits": self.cache_hits,
            "misses": self.cache_misses,
            "hit_rate": round(self.cache_hits / total, 3) if total else None,
        }
        s["home"] = str(self.home)
        return s

    def _semantic_coverage(self, conn) -> dict[str, Any]:
        """Vectors held and conversations embedded or waiting (docs/semantic.md); without
        the [semantic] extra, what there is to see: whether vectors exist, and why not more."""
        from . import semantic
        from .errors import SemanticUnavailable

        try:
            return semantic.coverage(self.home, conn)
        except SemanticUnavailable as e:
            return {"vectors": None, "available": False, "reason": str(e)}

    def list(
        self,
        *,
        provider: str | list[str] | None = None,
        since=None,
        until=None,
        project: str | None = None,
        limit: int = 50,
        offset: int = 0,
        parent: str | None = None,
    ) -> list[dict[str, Any]]:
        """Conversation summaries, most recently updated first. The filters mean
        what the same filters of a search without words mean (both compile
        through store/query.py)."""
        from .store.queries import list_conversations

        q = searchlang.with_filters(
            searchlang.Query(), {"provider": provider, "since": since, "until": until, "project": project}
        )
        q.parent = parent
        check_page(limit, offset)
        with self.reader() as conn:
            return self._shown(_mark_gone(conn, list_conversations(conn, q, limit=limit, offset=offset)))

    def resolve(self, ident: str) -> dict[str, Any]:
        from .store.queries import conversation_summary, resolve

        with self.reader() as conn:
            return self._shown(_mark_gone(conn, [conversation_summary(resolve(conn, _ident(ident)))]))[0]

    def gone(self, ids: builtins.list[str]) -> set[str]:
        """Which of these conversations (archive ids) were last read from a file
        that no longer exists. They stay in the archive: a source going away
        never deletes what was read from it."""
        from .store.queries import source_paths

        with self.reader() as conn:
            paths = source_paths(conn, ids)
        return {uid for uid, path in paths.items() if _is_gone(path)}

    def conversation(self, ident: str, *, active_only: bool = False) -> Conversation:
        """Load a whole conversation by id, provider id or unique prefix."""
        from .store.queries import load_conversation, resolve

        with self.reader() as conn:
            conv = load_conversation(conn, resolve(conn, _ident(ident)), active_only=active_only)
        return self._redacted(conv)

    def stream(self, ident: str, *, active_only: bool = False, batch: int = 200):
        """(summary, lazy message iterator): for showing huge conversations
        without loading them whole. The iterator reads in batches."""
        from .store.queries import conversation_summary, iter_messages, resolve

        with self.reader() as conn:
            row = resolve(conn, _ident(ident))
            summary = self._shown(_mark_gone(conn, [conversation_summary(row)]))[0]

        def messages():
            start = 0
            while True:
                with self.reader() as conn:
                    chunk = list(iter_messages(conn, row[0], active_only=active_only, start=start, limit=batch))
                yield from map(self._redacted_message, chunk)
                if len(chunk) < batch:
                    return
                start += batch

        return summary, messages()

    def messages(
        self, ident: str, *, start: int = 0, limit: int = -1, active_only: bool = False
    ) -> builtins.list[Message]:
        """Messages ``[start, start + limit)`` of a conversation in stored order
        (``limit=-1``: to the end; positions among the active branch's messages
        with ``active_only``). Only those messages are read and decoded."""
        from .store.queries import iter_messages, resolve

        with self.reader() as conn:
            cid = resolve(conn, _ident(ident))[0]
            found = builtins.list(iter_messages(conn, cid, active_only=active_only, start=start, limit=limit))
        return [self._redacted_message(m) for m in found]

    def message_count(self, ident: str, *, active_only: bool = False) -> int:
        """How many messages a conversation holds (on its active branch with ``active_only``)."""
        from .store.queries import count_messages, resolve

        with self.reader() as conn:
            return count_messages(conn, resolve(conn, _ident(ident))[0], active_only=active_only)

    def message_positions(
        self, ident: str, message_id: str, *, active_only: bool = False, limit: int = 21
    ) -> builtins.list[tuple[int, str]]:
        """(position, id) of the message whose id is ``message_id``, else of the first
        ``limit`` whose id starts with it: where to read around a search hit
        (``messages(start=position)``) without loading the conversation."""
        from .store.queries import message_positions, resolve

        with self.reader() as conn:
            cid = resolve(conn, _ident(ident))[0]
            return message_positions(conn, cid, _ident(message_id), active_only=active_only, limit=limit)

    def activity(self) -> builtins.list[dict[str, Any]]:
        """Conversations and messages per (UTC day of last update, project, first
        model), in one pass over the conversations table (store/activity.py): what
        `serve` draws its calendar, projects view and message-count chart from."""
        from .store.activity import activity

        with self.reader() as conn:
            return activity(conn)

    def message_tree(self, ident: str) -> builtins.list[tuple[str, str | None, bool]]:
        """(message id, parent id, active) of every message of a conversation in
        stored order, nothing decoded (store/tree.py): the shape a reader lays a
        branched conversation out from before it reads one page of it."""
        from .store.queries import resolve
        from .store.tree import message_tree

        with self.reader() as conn:
            return message_tree(conn, resolve(conn, _ident(ident))[0])

    def locate(self, ident: str) -> tuple[str, str | None]:
        """What ``show IDENT`` names: ``(conversation id, None)`` for a conversation (an
        id, provider id or unique prefix), ``(conversation id, message id)`` for a
        message: ``CONVERSATION:MESSAGE`` (each an id or unique prefix), a message id
        holding its conversation's id (Codex's ``<session id>:<n>``, as search hits
        give it), or else a message id that one conversation alone holds."""
        from .store.lookup import locate
        from .store.queries import conversations_holding, message_positions, resolve

        ident = _ident(ident)
        with self.reader() as conn:
            return locate(conn, ident, resolve, message_positions, conversations_holding)

    def window(self, ident: str, message_id: str, *, context: int = 3, active_only: bool = False) -> MessageWindow:
        """The messages around one message of a conversation: ``context`` before and
        after it, in stored order (on the active branch with ``active_only``). The
        message is named by its id or a unique prefix. Only the window is read."""
        from .errors import QueryError
        from .store.lookup import message_in
        from .store.queries import conversation_summary, count_messages, load_conversation, message_positions, resolve

        if context < 0:
            raise QueryError(f"the context must be 0 or more, not {context}")
        if not message_id.strip():
            raise QueryError("the message id is empty")
        with self.reader() as conn:
            row = resolve(conn, _ident(ident))
            position, mid = message_in(
                conn, row, _ident(message_id), message_id, message_positions, active_only=active_only
            )
            total = count_messages(conn, row[0], active_only=active_only)
            start, end = max(0, position - context), min(total, position + context + 1)
            conv = load_conversation(conn, row, active_only=active_only, start=start, limit=end - start)
            summary = _mark_gone(conn, [conversation_summary(row)])[0]
        # a sync between the count and the read may have shortened it
        end = start + len(conv.messages)
        return MessageWindow(self._redacted(conv), self._shown([summary])[0], mid, position, start, end, total)

    def children(self, ident: str) -> builtins.list[dict[str, Any]]:  # `list` here is the method above
        """Conversations whose parent is this one (subagents, forks)."""
        return self.list(parent=self.resolve(ident)["id"], limit=1000)

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
        **filters,
    ):
        """Search with the query language; keyword filters (provider=..., since=...) are ANDed in.
        ``within``: "conversation" (the default) finds conversations holding every word
        somewhere in their messages or title; "message" needs every word in one message.
        ``forms=False``: words match only as written (a quoted word always does).
        ``regex``: a Python regular expression the message text must match, tried on the
        messages the query matches (all messages its filters allow if it has no words),
        with a bound on the work (a note says when it stopped the scan).
        ``mode``: None or "lexical" (words only, as ever), "semantic" (vectors alone),
        "hybrid" (words and vectors fused), "auto" (hybrid once every conversation is
        embedded, else lexical); the last three need the [semantic] extra
        (docs/semantic.md). ``timeout``: seconds a search by words may read the
        archive before it stops with errors.SearchTimeout (None: no limit)."""
        from .store.fts import regex_search, search
        from .store.queries import search_generation

        # the keyword filters become typed filters of a copy (never text to parse again)
        q = searchlang.with_filters(query if isinstance(query, searchlang.Query) else searchlang.parse(query), filters)
        check_page(limit, offset)
        if within not in ("conversation", "message"):
            from .errors import QueryError

            raise QueryError(f"within must be 'conversation' or 'message', not {within!r}")
        pattern = _regex(regex) if regex is not None else None
        q.regex, q.within, q.forms = regex, within, forms
        mode = self._search_mode(mode, regex)
        if mode != "lexical":
            return self._search_by_meaning(q, mode, limit, offset, cache)
        with self.reader() as conn:
            key = (q.cache_key(), limit, offset, search_generation(conn))
            hit = self._cached(key) if cache else None
            if hit is not None:
                return self._redacted_result(hit)
            with _time_limit(conn, timeout):
                if pattern is not None:
                    res = regex_search(conn, q, pattern, limit=limit, offset=offset)
                else:
                    res = search(conn, q, limit=limit, offset=offset)
                    if res.total_conversations < FEW_RESULTS and q.groups:
                        _add_suggestions(conn, q, res)
        if cache:
            self._keep(key, res)
        return self._redacted_result(res)

    def _cached(self, key):
        """The result kept for ``key`` (None: not kept), counted as a hit or a miss."""
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is None:
                self.cache_misses += 1
                return None
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return hit

    def _keep(self, key, res) -> None:
        """Keep a result as found (redaction is applied on the way out), the oldest dropped past CACHE_SIZE."""
        with self._cache_lock:
            self._cache[key] = res
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def _search_mode(self, mode: str | None, regex: str | None) -> str:
        """The mode a search runs in: "auto" is hybrid once the archive is fully
        embedded (a regex, or no vectors.db, keeps it lexical at the cost of a stat)."""
        if mode is None or mode == "lexical":
            return "lexical"
        if mode not in ("semantic", "hybrid", "auto"):
            from .errors import QueryError

            raise QueryError(f"mode must be lexical, semantic, hybrid or auto, not {mode!r}")
        from . import semantic

        if mode != "auto":
            info = semantic.available()  # asked for by name: say how to install what it needs, first
            if not info["available"]:
                from .errors import SemanticUnavailable

                raise SemanticUnavailable(info["reason"])
            return mode
        if regex is not None or not (self.home / "vectors.db").exists():
            return "lexical"

        with self.reader() as conn:
            return "hybrid" if semantic.fully_embedded(self.home, conn) else "lexical"

    def _search_by_meaning(self, q: searchlang.Query, mode: str, limit: int, offset: int, cache: bool):
        """Semantic or hybrid search (polylogue.semantic), cached like a lexical one and
        keyed also on the vectors' generation."""
        from . import semantic
        from .store.queries import search_generation

        with self.reader() as conn:
            words = tuple(t.raw for g in q.groups for t in g)  # what is embedded, as typed
            key = (q.cache_key(), words, limit, offset, search_generation(conn), mode, semantic.generation(self.home))
        hit = self._cached(key) if cache else None
        if hit is not None:
            return self._redacted_result(hit)
        res = semantic.search(self, q, mode=mode, limit=limit, offset=offset)
        if cache:
            self._keep(key, res)
        return self._redacted_result(res)

    # ------------------------------------------------------------ privacy
    def _hit_blocks(self, summaries: builtins.list[dict[str, Any]]) -> Iterator[dict[str, builtins.list[Block]]]:
        from .store.codec import decode_contents
        from .store.secrets import hit_contents

        with self.reader() as conn:
            for s in summaries:
                blobs = hit_contents(conn, s["id"], [h["message_id"] for h in s.get("hits") or []])
                yield {mid: decode_contents([blob])[0] for mid, blob in blobs.items() if blob is not None}

    def secrets(
        self, query: str | searchlang.Query = "", *, progress=None, workers: int | None = None, **filters
    ) -> builtins.list[dict[str, Any]]:
        """Every secret in the archive, or in the conversations a query and keyword
        filters match: {"conversation", "message", "kind", "preview", "where"}. The
        preview is a mask (``[REDACTED aws-access-key …7Q2D]``), never the secret.
        ``progress(done, total)`` is called as messages are scanned."""
        from .privacy.scan import scan

        with self.reader() as conn:
            cids = self._matching(conn, query, filters)
            return scan(self.db_path, conn, cids, progress, workers)

    def _matching(self, conn, query, filters: dict[str, Any]) -> builtins.list[int] | None:
        """Conversation rowids a query and filters match (None: no query, no filter: all)."""
        q = searchlang.with_filters(query if isinstance(query, searchlang.Query) else searchlang.parse(query), filters)
        if q.cache_key() == searchlang.Query().cache_key():
            return None
        ids: builtins.list[int] = []
        offset = 0
        while True:
            res = self.search(q, limit=1000, offset=offset, cache=False)
            uids = [c["id"] for c in res.conversations]
            ids += self._rowids(conn, uids)
            offset += 1000
            if len(uids) < 1000:
                return ids

    @staticmethod
    def _rowids(conn, uids: builtins.list[str]) -> builtins.list[int]:
        from .store.queries import resolve

        return [resolve(conn, u)[0] for u in uids]

    def forget(
        self, idents: builtins.list[str] | None = None, *, query: str | None = None, **filters
    ) -> dict[str, Any]:
        """Delete conversations for good (ids or unique prefixes, or those a query
        matches): rows, index entries, kept totals, usage, vectors, parse states; the
        index is merged and the WAL truncated so their text is nowhere in the archive's
        files, and a tombstone keeps sync from bringing them back (docs/privacy.md).
        Returns {"conversations", "messages", "ids", "seconds": {"delete", "purge"}}."""
        from .privacy.ops import forget
        from .store.db import open_writer

        with self.reader() as conn:
            cids = self._rowids(conn, [self.resolve(i)["id"] for i in idents or []])
            if query is not None or filters:
                found = self._matching(conn, query or "", filters)
                cids += found or []
        cids = builtins.list(dict.fromkeys(cids))
        self.close()  # no reader of ours may hold the WAL open while it is truncated
        with self._storage_errors(), self._sync_lock(True):
            conn = open_writer(self.db_path)
            try:
                out = forget(conn, cids, self.home)
            finally:
                conn.close()
        self._cache_clear()
        out["ids"] = out.pop("uids")
        return out

    def unforget(self, ids: builtins.list[str]) -> int:
        """Lift the tombstones of forgotten conversations (their full archive ids):
        the next sync imports them again if their files still hold them."""
        from .store.db import open_writer
        from .store.forget import unforget

        with self._storage_errors(), self._sync_lock(True):
            conn = open_writer(self.db_path)
            try:
                return unforget(conn, ids)
            finally:
                conn.close()

    def redact(
        self, ident: str, *, message: str | None = None, secrets: bool = False, pattern: str | None = None
    ) -> dict[str, Any]:
        """Mask, in the archive itself, the secrets (``secrets=True``) or a regular
        expression's matches (``pattern``) in a conversation, or one of its messages;
        the index follows, the rest is kept. A rule per masked value (a keyed hash,
        never the text) keeps a sync from restoring it. Returns {"messages", "values", "title"}."""
        import re

        from .errors import QueryError
        from .privacy.ops import redact
        from .store.db import open_writer

        if secrets == (pattern is not None):
            raise QueryError("redact needs either secrets=True or a pattern")
        if pattern is not None:
            if not pattern:
                raise QueryError("the pattern is empty")
            try:
                re.compile(pattern)
            except re.error as e:
                raise QueryError(f"bad pattern: {e}") from None
        summary = self.resolve(ident)
        with self.reader() as conn:
            cid = self._rowids(conn, [summary["id"]])[0]
            if message is not None:
                found = self.message_positions(summary["id"], message, limit=2)
                exact = [m for _, m in found if m == message]
                if not exact and len(found) != 1:
                    from .errors import NotFound

                    raise NotFound(f"no single message '{message}' in conversation {summary['id']}")
                message = exact[0] if exact else found[0][1]
        self.close()
        with self._storage_errors(), self._sync_lock(True):
            conn = open_writer(self.db_path)
            try:
                out = redact(conn, cid, summary["id"], message, secrets=secrets, pattern=pattern)
            finally:
                conn.close()
        if out["values"]:  # the vectors of the text as it was go too; `embed` makes the masked text's
            from . import semantic

            semantic.forget(self.home, [cid])
        self._cache_clear()
        return out

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
        """Tokens and cost per period ("daily", "weekly", "monthly") or per "session",
        "project" or "model", each API response counted once (docs/usage.md).
        ``breakdown``: each row split by model; ``tz``: an IANA zone for the day
        boundaries (default: local time)."""
        from .usage import usage_report

        with self.reader() as conn:
            return usage_report(
                conn,
                period,
                since=since,
                until=until,
                provider=provider,
                project=project,
                model=model,
                breakdown=breakdown,
                tz=tz,
                prices_home=self.home,
            )

    def _cache_clear(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def conversations(self) -> ConversationQuery:
        """A chainable query: archive.conversations().provider("claude").since("2025-01-01").containing("x")."""
        return ConversationQuery(self)

    def sql(self, query: str, params: tuple | dict = ()) -> tuple[builtins.list[str], builtins.list[tuple]]:
        """Run read-only SQL (pl_content() decodes message content). Returns (columns, rows);
        SQL that SQLite rejects raises SqlError."""
        from .store.db import run_sql

        with self.reader() as conn:
            return run_sql(conn, query, params)

    def backup(self, dest: str | os.PathLike) -> dict[str, Any]:
        """An online, consistent copy of the archive (safe while a sync runs). The
        archive is copied as it is (an older schema too, untouched); a damaged one is refused."""
        from .errors import ArchiveMissing
        from .store.db import backup

        if not self.db_path.exists():
            raise ArchiveMissing(self.home)
        with self._storage_errors():
            return backup(self.db_path, Path(dest))

    def check(self, *, vacuum: bool = False) -> dict[str, Any]:
        """Integrity of the archive, read-only unless ``vacuum`` (which compacts a sound archive)."""
        from .errors import ArchiveDamaged
        from .store.check import check

        try:
            self._require_readable()
        except ArchiveDamaged:
            pass  # saying what SQLite finds wrong is check's own job
        with self._storage_errors():
            return check(self.db_path, vacuum=vacuum)


@dataclass
class MessageWindow:
    """Messages ``[start, end)`` of a conversation's ``total`` (its active branch's with
    ``active_only``) around the message ``message_id`` at ``position`` (0-based)."""

    conversation: Conversation  # the conversation, holding only the window's messages
    summary: dict[str, Any]  # its summary, as list and search give it
    message_id: str
    position: int
    start: int
    end: int
    total: int


MAX_ID_CHARS = 4096  # far past any real id; a longer one is a mistake (a pasted file?)


def _ident(ident: str) -> str:
    """A conversation id as asked for. One longer than any id is refused at once:
    its lookup, and the message saying it matched nothing, would carry megabytes."""
    from .errors import QueryError

    if len(ident) > MAX_ID_CHARS:
        raise QueryError(f"that id is {len(ident):,} characters long; an id is at most {MAX_ID_CHARS:,}")
    return ident


def _regex(pattern: str):
    """The pattern compiled for a bounded search (store/fts.py, bounded_regex)."""
    from .errors import QueryError
    from .store.fts import bounded_regex

    if not pattern:
        raise QueryError("the regex is empty")
    return bounded_regex(pattern)


FEW_RESULTS = 3  # a search finding fewer conversations than this suggests spellings for its unknown words


def _add_suggestions(conn, q: searchlang.Query, res) -> None:
    """A search that found little: the closest indexed words to the query's
    unknown words, and the query with each replaced by the best (docs/cli.md, search)."""
    from .store.suggest import suggest

    res.suggestions = suggest(conn, searchlang.plain_words(q))
    if res.suggestions:
        res.did_you_mean = searchlang.corrected(q.text, {s.term: s.instead[0] for s in res.suggestions})


class ConversationQuery:
    """Chainable, lazy; iterate it to get conversation summaries. Each step
    returns a new ConversationQuery holding a typed Query (search.Query)."""

    def __init__(self, archive: Archive, query: searchlang.Query | None = None, limit: int = 50):
        self._a = archive
        self._q = query if query is not None else searchlang.Query()
        self._limit = limit

    def _with(self, **filters: Any) -> ConversationQuery:
        return ConversationQuery(self._a, searchlang.with_filters(self._q, filters), self._limit)

    def provider(self, name: str):
        return self._with(provider=name)

    def since(self, date):
        return self._with(since=date)

    def until(self, date):
        return self._with(until=date)

    def project(self, name: str):
        return self._with(project=name)

    def model(self, name: str):
        return self._with(model=name)

    def has(self, what: str):
        return self._with(has=what)

    def containing(self, text: str):
        """Query-language text (words, phrases, filters), ANDed in."""
        return ConversationQuery(self._a, self._q.and_(searchlang.parse(text)), self._limit)

    def limit(self, n: int):
        return ConversationQuery(self._a, self._q, n)

    def query(self) -> searchlang.Query:
        return self._q.copy()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._a.search(self._q, limit=self._limit).conversations)


WARN_DAYS = 3  # a file the tool deletes within this many days and no sync archived is warned about
AT_RISK_LISTED = 20  # at most this many such paths in sources_report's ``at_risk_paths``
_DAY_NS = 86_400 * 10**9


@contextmanager
def _time_limit(conn, seconds: float | None):
    """Stop SQLite's work on ``conn`` once ``seconds`` have passed (errors.SearchTimeout)."""
    if seconds is None:
        yield
        return
    import sqlite3

    from .errors import SearchTimeout

    stop_at = time.monotonic() + seconds
    conn.set_progress_handler(lambda: time.monotonic() > stop_at, 20_000)
    try:
        yield
    except (sqlite3.OperationalError, QueryError) as e:
        if "interrupted" not in str(e):
            raise
        raise SearchTimeout(f"the search took longer than {seconds:g} s and was stopped") from None
    finally:
        conn.set_progress_handler(None, 0)


def _deadline_cutoff(days: int) -> int:
    """The mtime (ns) at or before which a file is deleted within WARN_DAYS by a
    tool that keeps files ``days`` days."""
    import time

    return time.time_ns() - max(days - WARN_DAYS, 0) * _DAY_NS


def _not_archived(conn, files) -> builtins.list[str]:
    from .store.known import not_archived

    if conn is None:
        return [f.key for f in files]
    return not_archived(conn, ((f.key, f.size, f.mtime_ns) for f in files))


def _ages(files, days: int | None, conn) -> dict[str, Any]:
    """The retention fields of sources_report for one source's files."""
    import time

    from .fmt import iso_from_ms

    first = min(files, key=lambda f: f.mtime_ns, default=None)
    oldest = first.mtime_ns if first is not None else None
    out: dict[str, Any] = {
        "oldest": iso_from_ms(oldest // 10**6) if oldest is not None else None,
        "oldest_path": first.key if first is not None else None,
        "not_archived": None if conn is None else len(_not_archived(conn, files)),
    }
    if days is None:
        return out
    now = time.time_ns()
    out["days_left"] = None if oldest is None else max(0, (oldest + days * _DAY_NS - now) // _DAY_NS)
    cutoff = _deadline_cutoff(days)
    risky = _not_archived(conn, [f for f in files if f.mtime_ns <= cutoff])
    out["at_risk"] = len(risky)
    out["at_risk_paths"] = risky[:AT_RISK_LISTED]
    return out


def _risk_line(tool: str, n: int) -> str:
    files = "1 file" if n == 1 else f"{n:,} files"
    return f"{tool} will delete {files} within {WARN_DAYS} days that the archive does not hold: run `polylogue sync`"


def _is_gone(path: str) -> bool:
    """Whether an input file no longer exists (a zip stands for its members). A
    file that cannot be looked at (a folder without permission) is not gone."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _mark_gone(conn, rows: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
    """Adds ``source_gone`` to conversation summaries: one stat per conversation,
    at read time, so it is true as soon as the file is deleted (no sync needed)."""
    from .store.queries import source_paths

    paths = source_paths(conn, [r["id"] for r in rows]) if rows else {}
    for r in rows:
        path = paths.get(r["id"])
        r["source_gone"] = path is not None and _is_gone(path)
    return rows
