"""The import pipeline: sources -> parse (worker processes) -> skip unchanged ->
batched writes, with progress. Failures stay local to the file or line."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from .errors import ParseError, StaleRows, ZipProblem
from .procs import die_with_parent, trim_heap
from .sources import InputFile, discover, file_hash, members

if TYPE_CHECKING:
    from .store.known import SourceState

BATCH_MESSAGES = 5000  # one transaction per batch: readers see progress, checkpoints can run
BATCH_BYTES = 32 << 20  # ... or sooner when big tool outputs make a batch heavy (its rows stay in memory)
CHUNK_MESSAGES = 1000  # what a worker hands over at a time (small: chunks in flight are memory)
CHUNK_BYTES = 4 << 20
PARALLEL_MIN_BYTES = 8 << 20  # below this, worker start-up costs more than it saves
BULK_MIN_BYTES = 64 << 20
TRIM_EVERY = 8  # parser chunks handed over / writer commits between malloc_trim calls


@dataclass
class SyncReport:
    files_seen: int = 0
    files_imported: int = 0
    files_unchanged: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    files_resumed: int = 0  # grown session logs parsed from where the last sync left off
    conversations_new: int = 0
    conversations_updated: int = 0
    conversations_unchanged: int = 0
    messages_new: int = 0
    messages_updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # unchanged files whose last read found problems, not read again: {"path", "status", "errors"}
    failing: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        if not self.errors and not self.failing:  # a problem found before is still one
            return 0
        imported = self.files_imported or self.files_unchanged or self.conversations_new or self.conversations_updated
        return 3 if imported else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "files": {
                "seen": self.files_seen,
                "imported": self.files_imported,
                "unchanged": self.files_unchanged,
                "failed": self.files_failed,
                "skipped": self.files_skipped,
                "resumed": self.files_resumed,
                "failing": len(self.failing),
            },
            "conversations": {
                "new": self.conversations_new,
                "updated": self.conversations_updated,
                "unchanged": self.conversations_unchanged,
            },
            "messages": {"new": self.messages_new, "updated": self.messages_updated},
            "errors": self.errors,
            "warnings": self.warnings,
            "failing": self.failing,
            "seconds": round(self.seconds, 3),
        }


# ---------------------------------------------------------------- parse stage (workers)


class FileOutcome(NamedTuple):
    """What parsing one input file came to: the last item ``parse_input`` yields
    for it. It crosses the worker queue once per file, so it stays a small tuple."""

    key: str  # the file (a zip, not its members); sources.path
    provider: str | None  # providers recognised, comma-separated
    status: str  # ok | partial | failed | skipped
    errors: list[tuple[str, str, int | None]]  # (path, reason, line)
    conversations: int
    notes: list[tuple[str, str]]  # (path, note): warnings that are not failures
    digest: bytes | None  # xxh3-128 of the bytes parsed; None for a failed file or one written while read
    skipped_unchanged: int  # conversations a parser skipped: the archive holds them as they are
    size: int  # size and mtime of the file as it was read (see parse_input)
    mtime_ns: int | None  # None: it changed while it was read, so the next sync reads it again
    resumed: bool  # parsed from where the last sync left off (resume.py)


_known_cache: dict[str, Any] = {}


def _forget_known() -> None:
    """Close the parsers' lookups of earlier syncs: the archive may have been replaced
    since (an open connection would still read the old file, and parsers would skip
    conversations the new one lacks), and a forked worker must not inherit one."""
    for known in _known_cache.values():
        known.close()
    _known_cache.clear()


def parse_input(
    f: InputFile, db: str | None = None, states: Path | None = None, sampling: bool = False
) -> Iterator[Any]:
    """Parse one input file. Yields its conversations as ConversationRows (encoded,
    ready for the writer; a huge one as several parts, see store/encode.py
    ``encode_parts``), then one FileOutcome. With ``db``, parsers may skip
    conversations the archive already holds in the same version. With ``states``
    (a folder), a session log that grew is parsed from where the last parse left off.
    ``sampling``: only the first messages are wanted (``_dictionary_samples``), so
    a huge conversation is not read at all.

    The outcome names exactly the bytes parsed: the size and mtime of the file as
    opened, the xxh3 of the bytes as they were read. A file written while it was
    read gets no mtime (and a warning): the next sync reads it again."""
    from . import resume
    from .providers import is_side_file, sniffed
    from .providers.common import ParseContext
    from .store.known import KnownConversations

    errors: list[tuple[str, str, int | None]] = []
    notes: list[tuple[str, str]] = []
    providers: list[str] = []
    count = 0
    skipped = 0
    resumed = False
    digest = None
    read: _ReadIdentity | None = None  # the plain file being read (a zip's members are read in place)
    known = None
    if db:
        known = _known_cache.get(db) or _known_cache.setdefault(db, KnownConversations(db))

    def warn(display: str, reason: str) -> None:
        errors.append((display, reason, None))

    try:
        for member in members(f, warn):
            ctx = ParseContext(member.display)
            ctx.known = known
            reopened: list[BinaryIO] = []
            ctx.reopen = _cannot_reopen if sampling else _reopener(member.open, ctx, reopened)
            produced = 0
            mod = None
            try:
                with member.open() as opened, ExitStack() as opening:
                    raw: Any = opened
                    if not member.in_zip:
                        raw = read = _ReadIdentity(opened)
                    # the head read and classified, the provider found, and what its parse reads
                    # (a stream, a file with its siblings, a database) opened until the parse ends
                    where = None if member.in_zip else f.key
                    head, mod, source = opening.enter_context(
                        sniffed(raw, ctx, path=where, name=member.name, sibling=member.sibling)
                    )
                    if mod is None:
                        if is_side_file(head):
                            pass  # a known side file (user.json, agent meta...): skipped quietly
                        elif head.kind == "empty" and member.jsonish:
                            errors.append((member.display, "empty file", None))
                        elif head.kind in ("json", "jsonl"):
                            errors.append((member.display, "not a recognised chat export (unknown JSON shape)", None))
                        elif member.jsonish and not member.in_zip:
                            errors.append((member.display, _unrecognised(head.kind, member.json_named), None))
                        continue
                    if mod.name not in providers:
                        providers.append(mod.name)
                    if (
                        states is not None
                        and not member.in_zip
                        and mod.resume is not None
                        and mod.resume.applies(head)
                        and resume.may_grow(f.size, f.known_size, f.mtime_ns)
                    ):
                        convs = resume.parse(raw, f.key, raw.size, mod, ctx, states)
                    else:
                        convs = mod.parse(source, ctx)
                    for conv in convs:
                        conv.source_path = member.display
                        produced += 1
                        yield from _encoded(conv, ctx, known)
            except ParseError as e:
                errors.append((member.display, e.reason, e.line))
            except FileNotFoundError:
                errors.append((member.display, "file disappeared before it could be read", None))
            except OSError as e:
                errors.append((member.display, f"cannot read: {e.strerror or e}", None))
            except MemoryError:
                errors.append((member.display, "out of memory while parsing", None))
            except Exception as e:  # a parser bug must not take the run down
                errors.append((member.display, f"internal error: {type(e).__name__}: {e}", None))
            for again in reopened:
                again.close()
            for w in ctx.warnings:
                errors.append((member.display, w.reason, w.line))
            if ctx.suppressed:
                errors.append((member.display, f"... and {ctx.suppressed} more problems", None))
            if ctx.bad_utf8:
                errors.append((member.display, "invalid UTF-8 replaced with U+FFFD", None))
            notes += [(member.display, n) for n in ctx.notes]
            skipped += ctx.skipped_unchanged
            resumed = resumed or ctx.resumed_from is not None
            if not member.in_zip:
                digest = ctx.digest
            if (
                mod is not None
                and mod.kind != "sqlite"  # a tool's database holds its other state too: no chats is normal
                and produced == 0
                and not ctx.skipped_unchanged
                and not ctx.notes
                and not any(e[0] == member.display for e in errors)
            ):
                notes.append((member.display, f"recognised as {mod.name} but holds no conversations"))
            count += produced
    except ZipProblem as e:
        errors.append((f.key, str(e), None))
    except Exception as e:
        errors.append((f.key, f"internal error: {type(e).__name__}: {e}", None))
    if errors:
        status = "partial" if count else "failed"
    else:
        status = "ok" if count or skipped else "skipped"
    size, mtime_ns, digest = _identity(f, read, digest, status, notes)
    yield FileOutcome(
        f.key, ",".join(providers) or None, status, errors, count, notes, digest, skipped, size, mtime_ns, resumed
    )


def _encoded(conv: Any, ctx: Any, known: Any) -> Iterator[Any]:
    """A parsed conversation as rows: one ConversationRow, or, for one whose messages
    come in chunks (a huge tree: ``message_chunks``), a part per chunk. Stored
    messages are skipped by hash only for the first kind (a part keeps no rows)."""
    from .store.encode import encode, encode_parts

    chunks = getattr(conv, "message_chunks", None)
    if chunks is not None:
        yield from encode_parts(conv, chunks, lambda: not ctx.warnings and not ctx.bad_utf8)
        return
    stored = known.hashes(conv.id) if known else None
    yield encode(conv, prune=not ctx.warnings and not ctx.bad_utf8, stored=stored)


def _reopener(open_member: Callable[[], BinaryIO], ctx: Any, opened: list[BinaryIO]) -> Callable[[], BinaryIO]:
    """ParseContext.reopen: the input again, cleaned as at first; closed with the parse."""
    from .providers import open_clean

    def reopen() -> BinaryIO:
        raw = open_member()
        opened.append(raw)
        return open_clean(raw, ctx)[1]

    return reopen


def _cannot_reopen() -> BinaryIO:
    raise ParseError("a huge conversation: not read for samples")


def _unrecognised(head_kind: str, json_named: bool) -> str:
    """The error line for a file named on the command line (or named like JSON) that no provider reads."""
    if head_kind == "text" and not json_named:
        return "not a recognised chat transcript (text of an unknown form)"
    if head_kind == "sqlite":
        return "not a recognised chat database (SQLite without a known schema)"
    return "not JSON: unrecognised or binary content"


class _ReadIdentity:
    """A plain input file as its parser reads it: its identity when opened, and
    the xxh3 of the bytes read, in order from the start (a resumed parse seeks,
    and hashes what it reads itself: ParseContext.digest)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        st = os.fstat(raw.fileno())
        self.size, self.mtime_ns = st.st_size, st.st_mtime_ns
        self.opened = _stat_key(st)
        import xxhash

        self.hasher = xxhash.xxh3_128()
        self.in_order = True
        self.at_end = False

    def read(self, n: int | None = -1) -> bytes:
        data = self.raw.read(-1 if n is None else n)
        if self.in_order:
            self.hasher.update(data)
            self.at_end = self.at_end or not data or n is None or n < 0
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self.in_order = False
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def digest(self) -> bytes | None:
        """The xxh3 of the whole file as read, if the parse read it all in order."""
        return self.hasher.digest() if self.in_order and self.at_end else None


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    """What changes when a file is written or replaced: ctime too, since a
    rewrite can put the old mtime back, but never the old ctime."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _identity(
    f: InputFile, read: _ReadIdentity | None, digest: bytes | None, status: str, notes: list[tuple[str, str]]
) -> tuple[int, int | None, bytes | None]:
    """(size, mtime_ns, hash) for the file's sources row: those of the bytes parsed.
    A failed file gets no hash: ``_changed`` reads it again anyway."""
    if read is None:  # a zip, read in place (or a file that could not be opened): as listed

        def same() -> bool:
            return _now(f.path, lambda st: (st.st_size, st.st_mtime_ns)) == (f.size, f.mtime_ns)

        size, mtime_ns = f.size, f.mtime_ns
    else:

        def same() -> bool:
            return _now(f.path, _stat_key) == read.opened

        size, mtime_ns, digest = read.size, read.mtime_ns, digest or read.digest
    if status == "failed":
        return size, mtime_ns, None
    if digest is None and same():
        digest = file_hash(f.path)  # the parse stopped before the end (a side file's head, say)
    if not same():
        notes.append((f.key, "changed while it was read: it is read again at the next sync"))
        return size, None, None
    return size, mtime_ns, digest


def _now(path: Path, key: Callable[[os.stat_result], tuple[int, ...]]) -> tuple[int, ...] | None:
    try:
        return key(os.stat(path))
    except OSError:
        return None


def _changed(
    db, paths: list[Path], force: bool, errors: list, report: SyncReport | None, touched: list[InputFile] | None
) -> Iterator[InputFile]:
    """The input files to read: those whose size or mtime differ from what the
    archive last read (at the same size and content hash, a touched file is
    unchanged, and goes to ``touched``), and those whose last read failed. An
    unchanged file whose last read found problems goes to ``report.failing``.
    ``db`` is the writer connection in pass 1, the database path in pass 2 (a
    reader of its own, in the feeding thread)."""
    from .store.db import SCAN_MMAP_BYTES, open_reader
    from .store.known import source_state

    conn = open_reader(db, SCAN_MMAP_BYTES) if isinstance(db, Path) else db
    try:
        for f in discover(paths, errors):
            if report:
                report.files_seen += 1
            if not force:
                row = source_state(conn, f.key)
                if row:
                    f.known_size = row.size
                if row and _unchanged(row, f, touched):
                    if report:
                        report.files_unchanged += 1
                        if row.status == "partial":
                            report.failing.append(_still_failing(conn, f.key, row))
                    continue
            yield f
    finally:
        if conn is not db:
            conn.close()


def _unchanged(row: SourceState, f: InputFile, touched: list[InputFile] | None) -> bool:
    """Whether the archive read ``f`` as it is now. A file whose last read failed
    never is: it is read again on every sync until it succeeds (the cause, a
    permission say, may be fixed without the file's size or mtime changing)."""
    if row.status == "failed" or row.size != f.size:
        return False
    if row.mtime_ns == f.mtime_ns:
        return True
    if row.hash is not None and touched is not None and file_hash(f.path) == row.hash:
        touched.append(f)  # touched, not changed: remember the new mtime
        return True
    return False


def _still_failing(conn, key: str, row: SourceState) -> dict[str, Any]:
    """An unchanged file's problems, as its last read found them."""
    from .store.known import problem_dict, source_problems

    return {"path": key, "status": row.status, "errors": [problem_dict(p) for p in source_problems(conn, row.id)]}


def _dictionary_samples(files: list[InputFile], want: int = 4000, per_file: int = 200) -> list[bytes]:
    """Message contents from files spread over the whole input, to train the
    archive's first compression dictionary before the bulk of an import."""
    from .store.codec import decode_json

    samples: list[bytes] = []
    for f in files:
        taken = 0
        for item in parse_input(f, sampling=True):
            if isinstance(item, FileOutcome):
                continue
            for r in item.messages:
                samples.append(decode_json(r.content))
                samples += [decode_json(x) for x in (r.usage, r.meta) if x]  # stored the same way
                taken += 1
            if taken >= per_file:
                break
        if len(samples) >= want:
            break
    return samples


def _worker(
    tasks,
    results,
    parent: int,
    dictionary: tuple[int, bytes] | None = None,
    db: str | None = None,
    states: Path | None = None,
    me: int = 0,
    pinned: Any = None,
) -> None:
    """Worker process: parse files, hand rows over in bounded chunks, each as
    (``me``, chunk). Exits on its own if the parent dies (a killed sync must not
    leave workers behind). While another worker's conversation comes in parts
    (``pinned`` holds its number), it waits: the writer takes a conversation in
    parts in a transaction of its own, so nothing else may come in between."""
    import queue

    def orphaned() -> None:
        if os.getppid() != parent:
            os._exit(0)

    die_with_parent()
    orphaned()  # killed between the fork and the line above
    if dictionary:
        from .store import codec

        codec.register_dictionary(*dictionary)
        codec.use_dictionary(dictionary[0])

    def put(chunk) -> None:
        while pinned is not None and pinned.value not in (-1, me):
            time.sleep(0.02)
            orphaned()
        while True:
            try:
                results.put((me, chunk), timeout=1.0)
                return
            except queue.Full:
                orphaned()

    handed = 0
    while True:
        try:
            f = tasks.get(timeout=1.0)
        except queue.Empty:
            orphaned()
            continue
        if f is None:
            put(None)
            return
        chunk: list[tuple] = []
        size = nbytes = 0
        for item in parse_input(f, db, states):
            done = isinstance(item, FileOutcome)
            if not done:  # plain tuples pickle ~10x faster than NamedTuples (one per message)
                item.messages = [tuple(r) for r in item.messages]
                size += len(item.messages)
                nbytes += item.nbytes
            chunk.append(item)
            size += 1
            if size >= CHUNK_MESSAGES or nbytes >= CHUNK_BYTES or done:
                put(chunk)
                chunk, size, nbytes = [], 0, 0
                handed += 1
                if handed % TRIM_EVERY == 0:
                    trim_heap()


def _parallel(
    files: Iterator[InputFile], workers: int, db: str | None = None, states: Path | None = None
) -> Iterator[Any]:
    ctx = mp.get_context("fork") if sys.platform.startswith("linux") else mp.get_context("spawn")
    import threading

    tasks = ctx.Queue(maxsize=workers * 8)  # fed as workers take them: 100K paths never sit in memory twice
    results = ctx.Queue(maxsize=workers * 2)  # backpressure keeps memory flat

    def feed() -> None:
        for f in files:
            tasks.put(f)
        for _ in range(workers):
            tasks.put(None)

    feeder = threading.Thread(target=feed, daemon=True)
    from .store import codec

    dictionary = codec.active_dictionary()
    # the worker whose conversation is coming in parts (-1: none); the others wait meanwhile
    pinned = ctx.Value("i", -1, lock=False)
    procs = [
        ctx.Process(target=_worker, args=(tasks, results, os.getpid(), dictionary, db, states, i, pinned), daemon=True)
        for i in range(workers)
    ]
    import gc

    # the parsers share the parent's pages until something writes to them, and the cyclic
    # GC writes to every object it scans: frozen, neither side scans the old objects during
    # the import (measured: 4-6 MB less PSS at 10K conversations)
    gc.freeze()
    for p in procs:
        p.start()
    feeder.start()  # after the forks: a child must not inherit a thread mid-put
    from .store.encode import MessageRow

    as_row = tuple.__new__
    live = workers
    # chunks put before their worker saw another pinned (a few at most), in the order they came
    held: list[tuple[int, list | None]] = []

    def next_chunk() -> tuple[int, list | None]:
        """The next chunk to write: any while none is pinned, else the pinned worker's."""
        for i, (me, chunk) in enumerate(held):
            if pinned.value in (-1, me):
                del held[i]
                return me, chunk
        while True:
            me, chunk = results.get()
            if pinned.value in (-1, me):
                return me, chunk
            held.append((me, chunk))

    try:
        while live:
            me, chunk = next_chunk()
            if chunk is None:
                live -= 1
                continue
            for item in chunk:
                if isinstance(item, FileOutcome):
                    if pinned.value == me:
                        pinned.value = -1  # its file ended: a conversation in parts, cut short
                    continue
                item.messages = [as_row(MessageRow, t) for t in item.messages]
                if item.more:
                    pinned.value = me
                elif pinned.value == me:
                    pinned.value = -1
            yield from chunk
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
        gc.unfreeze()  # a long-lived caller's garbage from before the sync can be collected again


# ---------------------------------------------------------------- write stage


class Progress:
    """Callbacks the CLI turns into a progress bar; the default does nothing."""

    def start(self, files: int, total_bytes: int) -> None: ...
    def file_done(self, size: int) -> None: ...
    def conversation(self, messages: int) -> None: ...
    def counting(self, done: int, blocks: int) -> None: ...  # after the import: term_totals blocks
    def finish(self) -> None: ...


def sync(
    db_path: Path,
    paths: list[Path],
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    force: bool = False,
) -> SyncReport:
    from . import providers, resume
    from .store import indexer
    from .store.db import finish_import, open_writer, reset_damaged_index

    t0 = time.perf_counter()
    progress = progress or Progress()
    report = SyncReport()
    # loaded here, before any worker forks: each plugin problem is reported once
    report.warnings += [{"path": where, "warning": what} for where, what in providers.load_errors()]
    _forget_known()
    # an index file SQLite cannot open would stop the sync before anything is written: removed, and
    # rebuilt by this sync (store/db.py reset_damaged_index)
    _warn_rebuilt(db_path, report, reset_damaged_index(db_path))
    conn = open_writer(db_path)
    try:
        # pass 1 counts what changed (no file list is kept: 100K paths would cost the memory
        # budget); pass 2 walks the folders again and feeds the changed files to the parsers
        count, total, fresh = _count_changed(conn, paths, force, report)
        todo = _changed(db_path, paths, force, [], None, None) if count else iter(())
        progress.start(count, total)
        known_db = None if force else str(db_path)  # --force converts everything again
        states = None if force else resume.state_dir(db_path.parent)
        # a big import is indexed by a process of its own, beside the writer (store/indexer.py)
        beside = _Indexer(db_path, total >= BULK_MIN_BYTES) if total >= PARALLEL_MIN_BYTES else None
        try:
            parsed = _parsed(todo, total, workers, known_db, states, indexing=fresh >= BULK_MIN_BYTES)
            _write_all(conn, parsed, total, report, progress)
        except BaseException:
            if beside is not None:
                beside.stop(wait=False)  # (the next sync catches the index up)
            raise
        if beside is not None:
            beside.stop()
        if states is not None:
            resume.tidy(states)
        # a damage deeper in the index file than the first check reads (a page of the full-text
        # index) is met here: the index alone is checked, and if it is the damaged file, rebuilt
        was_bulk = beside is not None and beside.bulk
        _, found = indexer.repairing(db_path, lambda idx: _index_and_count(idx, was_bulk, progress, bool(count)))
        _warn_rebuilt(db_path, report, found)
        indexer.trim(conn, db_path)
        if count:
            finish_import(conn)
    finally:
        progress.finish()
        conn.close()
        _forget_known()
    report.seconds = time.perf_counter() - t0
    return report


def _index_and_count(idx: Any, was_bulk: bool, progress: Any, changed: bool) -> None:
    """What the indexer process left (none, unless it died), or a small sync's all; any
    lag of an earlier sync too. Then the kept totals, counted from the index, stored beside it."""
    from .store import indexer, term_totals

    if was_bulk:
        with idx:
            idx.execute("BEGIN IMMEDIATE")
            indexer.set_fts_options(idx, indexer.FTS_NORMAL)
    indexer.catch_up(idx)
    # only what this sync touched (and, if it changed something, the next prefixes in turn)
    term_totals.refresh(idx, getattr(progress, "counting", None), prefixes=changed)
    indexer.checkpoint(idx)


def _warn_rebuilt(db_path: Path, report: SyncReport, found: str | None) -> None:
    """The report says that a damaged index file (derived data) was rebuilt."""
    from .store.index_file import index_path

    if found is not None:
        report.warnings.append(
            {
                "path": str(index_path(db_path)),
                "warning": f"the search index was damaged ({found}): rebuilt from the archive; "
                "nothing archived was lost",
            }
        )


class _Indexer:
    """The indexer process of a big sync (store/indexer.py ``run``): forked beside
    the writer, it indexes each batch the writer commits while the next is written.
    It dies with the sync; if it dies alone, the sync's last catch-up does its work."""

    def __init__(self, db: Path, bulk: bool):
        ctx = mp.get_context("fork") if sys.platform.startswith("linux") else mp.get_context("spawn")
        self.bulk = bulk
        self.done = ctx.Event()
        self.proc = ctx.Process(target=_indexer_main, args=(str(db), self.done, os.getpid(), bulk), daemon=True)
        self.proc.start()

    def stop(self, wait: bool = True) -> None:
        """The writer is done: the indexer catches up with its last commit and exits
        (``wait`` False: it is stopped where it is, its open transaction lost)."""
        self.done.set()
        self.proc.join(timeout=600 if wait else 0)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()


def _indexer_main(db: str, done: Any, parent: int, bulk: bool) -> None:
    import gc

    die_with_parent()
    if os.getppid() != parent:  # killed between the fork and the line above
        os._exit(0)
    gc.freeze()  # the parent's objects are never scanned here: their pages stay shared (as _parallel's workers)
    from .store import indexer

    try:
        indexer.run(db, done.is_set, parent, bulk)
    except BaseException:  # no traceback of its own: the sync's last catch-up does the work again, and
        os._exit(1)  # reports what fails there as one line (a full disk, a damaged file)


def _count_changed(conn, paths: list[Path], force: bool, report: SyncReport) -> tuple[int, int, int]:
    """Pass 1: the number of changed files, their bytes, and the bytes of those the
    archive never read (new messages, mostly: the indexer's work). Touched files
    (same bytes, new mtime) get their mtime remembered; files that cannot be
    listed are failures; a big first import gets its compression dictionary first."""
    from .store.writer import remember_mtimes

    count = total = fresh = 0
    touched: list[InputFile] = []
    discover_errors: list[tuple[str, str]] = []
    spread: list[InputFile] = []  # <= 64 changed files, evenly spread: the dictionary's samples
    stride = 1
    for f in _changed(conn, paths, force, discover_errors, report, touched):
        if count % stride == 0:
            spread.append(f)
            if len(spread) > 64:
                spread, stride = spread[::2], stride * 2
        count += 1
        total += f.size
        if f.known_size is None:
            fresh += f.size
    if touched:
        remember_mtimes(conn, [(f.mtime_ns, f.key) for f in touched])
    for path, reason in discover_errors:
        report.errors.append({"path": path, "error": reason})
        report.files_failed += 1
    if total >= PARALLEL_MIN_BYTES:
        _first_dictionary(conn, spread)
    return count, total, fresh


def _first_dictionary(conn, spread: list[InputFile]) -> None:
    """Train the archive's first compression dictionary on messages from files
    spread over the input, so the bulk of a big import is compressed with it."""
    from .store.db import train_dictionary
    from .store.known import has_dictionary

    if has_dictionary(conn):
        return
    samples = _dictionary_samples(spread)
    if len(samples) >= 500:
        train_dictionary(conn, samples)


def _parsed(
    todo: Iterator[InputFile],
    total: int,
    workers: int | None,
    known_db: str | None,
    states: Path | None,
    indexing: bool = True,
) -> Iterator[Any]:
    """Pass 2's parse side: ConversationRows and FileOutcomes, from worker
    processes when the job is big enough to repay starting them. ``indexing``:
    the index has much to do (new files), so the indexer process takes a core."""
    if workers is None:
        workers = default_parsers(indexing)
    if workers >= 1 and total >= PARALLEL_MIN_BYTES:
        return _parallel(todo, workers, known_db, states)
    return (item for f in todo for item in parse_input(f, known_db, states))


def default_parsers(indexing: bool = True) -> int:
    """Parser processes for a big sync: one per core the sync may use, up to 3, less
    the one the indexer process takes when it has much to do (``indexing``: 64 MB
    or more of files the archive never read). Measured on 2 cores (docs/benchmarks.md,
    "One parser on two cores"): for a first import one parser instead of two costs
    0-11% of wall time and saves ~17 MB (a process), which keeps the import under
    100 MB; a re-sync of changed exports re-reads them whole and indexes little,
    so there every core parses."""
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may run on (a container's, a taskset's)
    except (AttributeError, OSError):
        cores = os.cpu_count() or 2
    return max(1, min(cores - 1 if indexing else cores, 3))


def _write_all(conn, items: Iterator[Any], total: int, report: SyncReport, progress: Progress) -> None:
    """Pass 2's write side: every parsed item into the archive, one transaction per
    batch; a big import runs in bulk mode (relaxed durability, bigger index segments)."""
    from .store.db import set_bulk
    from .store.known import archive_is_empty
    from .store.writer import Writer

    bulk = total >= BULK_MIN_BYTES
    if bulk:
        set_bulk(conn, True, first_import=archive_is_empty(conn))
    from .privacy.ops import SyncFilter

    writer = Writer(conn)
    # forgotten conversations are dropped and redacted ones masked again before the writer
    batches = _Batches(writer, report, progress, SyncFilter(conn))
    try:
        for item in items:
            if isinstance(item, FileOutcome):
                batches.file_done(item)
            else:
                batches.conversation(item)
            batches.commit_if_full()
        batches.parts_cut_short()
        writer.commit()
    except BaseException:
        writer.rollback()
        raise
    finally:
        if bulk:
            set_bulk(conn, False)
    s = writer.stats
    report.conversations_new = s.conversations_new
    report.conversations_updated = s.conversations_updated
    report.conversations_unchanged += s.conversations_unchanged
    report.messages_new = s.messages_new
    report.messages_updated = s.messages_updated


class _Batches:
    """Feeds the writer: conversations as they come, each file's outcome into its
    ``sources`` row and the report, a commit whenever a batch is full."""

    def __init__(self, writer, report: SyncReport, progress: Progress, privacy=None):
        self.writer, self.report, self.progress = writer, report, progress
        self.privacy = privacy or None  # privacy.ops.SyncFilter; None when nothing was forgotten or redacted
        self.source_ids: dict[str, int] = {}  # dropped when the file is done: memory stays flat
        self.failed_writes: dict[str, list[tuple[str, str, int | None]]] = {}
        self.commits = 0
        self.in_parts = 0  # messages so far of the conversation coming in parts
        self.parts_key = ""  # ... and its input file

    def conversation(self, row) -> None:
        from .store.db import storage_failure

        if self.privacy is not None:
            row = self.privacy.row(row)
            if row is None:  # forgotten (docs/privacy.md): never stored again
                return
        key = row_source_key(row)
        if self.writer.parts_open not in (None, row.uid):
            self.parts_cut_short()
        sid = self.source_ids.get(key)
        if sid is None:
            sid = self.source_ids[key] = self.writer.source_id(key)
        try:
            try:
                if row.more or self.writer.parts_open:  # a huge conversation, in parts (encode_parts)
                    self.in_parts += len(row.messages)
                    self.parts_key = key
                    self.writer.write_part(row, sid)
                else:
                    self.writer.write(row, sid)
            except StaleRows:  # changed since its parser looked: convert it again in full
                again = _reconverted(key, row.uid)
                self.writer.write(again if self.privacy is None else self.privacy.row(again), sid)
        except Exception as e:  # e.g. a value SQLite cannot store: lose this one, not the run
            if storage_failure(e):
                raise  # a full disk, a damaged file: no later write would do better (store/db.py)
            self._failed(key, row.source_path or key, row.uid, str(e))
        if not row.more:
            self.progress.conversation(len(row.messages) + self.in_parts)
            self.in_parts = 0

    def _failed(self, key: str, where: str, uid: str, why: str) -> None:
        self.failed_writes.setdefault(key, []).append((where, f"could not store conversation {uid}: {why}", None))

    def parts_cut_short(self) -> None:
        """The parts of a conversation stopped before its last (its parse failed): it is not stored."""
        uid = self.writer.parts_open
        if uid is not None:
            self.writer.abandon_parts()
            self.in_parts = 0
            self._failed(self.parts_key, self.parts_key, uid, "its parse stopped before its end")

    def file_done(self, out: FileOutcome) -> None:
        from .store.known import problem_dict

        report = self.report
        self.parts_cut_short()
        self.source_ids.pop(out.key, None)
        report.files_resumed += out.resumed
        report.conversations_unchanged += out.skipped_unchanged
        errors, count, status = out.errors, out.conversations, out.status
        if out.key in self.failed_writes:
            errors = errors + self.failed_writes.pop(out.key)
            count -= sum(1 for e in errors if e[1].startswith("could not store"))
            status = "partial" if count > 0 else "failed"
        self.writer.record_source(
            out.key,
            provider=out.provider,
            size=out.size,
            mtime_ns=out.mtime_ns,
            status=status,
            problems=errors,
            conversations=count,
            hash=None if status == "failed" else out.digest,
        )
        report.errors += [problem_dict(p) for p in errors]
        report.warnings += [{"path": p, "warning": w} for p, w in out.notes]
        if status == "failed":
            report.files_failed += 1
        elif status == "skipped":
            report.files_skipped += 1
        else:
            report.files_imported += 1
        self.progress.file_done(out.size)

    def commit_if_full(self) -> None:
        if self.writer.parts_open:
            return  # a conversation in parts commits with its last part
        if self.writer.pending >= BATCH_MESSAGES or self.writer.pending_bytes >= BATCH_BYTES:
            self.writer.commit()
            self.commits += 1
            if self.commits % TRIM_EVERY == 0:
                trim_heap()


def _reconverted(key: str, uid: str):
    """One conversation of an input file, parsed and encoded again with every row."""
    st = os.stat(key)
    for item in parse_input(InputFile(key, st.st_size, st.st_mtime_ns, True)):
        if not isinstance(item, FileOutcome) and item.uid == uid:
            return item
    raise ParseError(f"conversation {uid} is no longer in this file")


def row_source_key(row) -> str:
    """The input file a conversation came from (zip members map to their zip)."""
    path = row.source_path or ""
    return path.split("!", 1)[0]
