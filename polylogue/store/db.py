"""Connections: one writer, a pool of read-only readers, and the pragmas for
normal and bulk-import modes."""

from __future__ import annotations

import errno
import os
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..paths import open_private, private_dirs, sqlite_uri
from . import codec
from .schema import migrate

DB_NAME = "polylogue.db"
BUSY_TIMEOUT_MS = 30_000
MMAP_BYTES = 1 << 31  # searches: SQLite's own ceiling (~2 GB); measured 10-35% faster at 5M than 256 MB
SCAN_MMAP_BYTES = 256 << 20  # a sync's own reader: its mapped pages would count in the import's memory
WAL_LIMIT_BYTES = 64 << 20
PAGE_SIZE = 8192

_NORMAL = (
    "PRAGMA synchronous = FULL",
    "PRAGMA wal_autocheckpoint = 1000",
    "PRAGMA cache_size = -8000",
)
# relaxed durability during big imports; WAL mode keeps the file consistent
_BULK = (
    "PRAGMA synchronous = NORMAL",
    "PRAGMA wal_autocheckpoint = 4000",
    "PRAGMA cache_size = -4000",
)


def ensure_home(home: Path) -> Path:
    """Create the archive folder and its missing parents (0700) and an empty
    database file (0600: SQLite gives its -wal and -shm files the same mode)."""
    private_dirs(home)
    db = home / DB_NAME
    if not db.exists():
        os.close(open_private(db))
    return db


def _register(conn: sqlite3.Connection) -> None:
    conn.create_function("pl_content", 1, codec.sql_content, deterministic=True)


def load_dictionaries(conn: sqlite3.Connection) -> int:
    """Register the archive's zstd dictionaries; returns the newest id (0: none)."""
    newest = 0
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    if path:
        codec.add_source(path)
    try:
        for did, data in conn.execute("SELECT id, data FROM zstd_dicts ORDER BY id"):
            codec.register_dictionary(did, data)
            newest = did
    except sqlite3.OperationalError:  # an archive older than migration 2, opened read-only
        pass
    return newest


def _common(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA temp_store = MEMORY")
    _register(conn)


def open_writer(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    _common(conn)
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
        # a new archive: 8 KB pages pack variable-size message rows ~2% tighter, and
        # incremental auto-vacuum lets a sync hand back the pages index merges free
        # (both can only be chosen before the first table and before WAL mode)
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
    for p in _NORMAL:
        conn.execute(p)
    migrate(conn)
    codec.use_dictionary(load_dictionaries(conn))
    return conn


def connect_readonly(db: Path) -> sqlite3.Connection:
    """A read-only connection that never creates the file. A WAL archive in a
    folder this user cannot write has no -shm (SQLite's WAL index) and cannot get
    one, so SQLite refuses to open it; with no WAL file beside it either, the
    main file holds everything and nobody can write there, so it is read as
    unchanging (``immutable=1``)."""
    if not os.path.exists(db):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(db))
    conn = sqlite3.connect(sqlite_uri(db), uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA schema_version").fetchone()  # opens the file (and the WAL index) now
        return conn
    except sqlite3.OperationalError as e:
        conn.close()
        if _code(e) not in (SQLITE_CANTOPEN, SQLITE_READONLY):  # READONLY_CANTINIT: a -shm it may not write
            raise
        wal = Path(f"{db}-wal")
        if wal.exists() and wal.stat().st_size:
            from ..errors import StorageError

            raise StorageError(
                f"cannot read {db}: its folder is read-only and its WAL file holds changes that SQLite can "
                "only read with a WAL index (-shm) it cannot create there; run any polylogue command once "
                "where the folder is writable"
            ) from None
    return sqlite3.connect(sqlite_uri(db) + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)


def archive_version(db: Path) -> int:
    """The schema version of an existing archive file, read without writing."""
    conn = connect_readonly(db)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def open_reader(db: Path, mmap_bytes: int = MMAP_BYTES) -> sqlite3.Connection:
    """A read-only connection to the archive with its index file attached (``idx``):
    a search reads words from the index, everything else from the archive."""
    from . import index_file

    conn = connect_readonly(db)
    _common(conn)
    try:
        index_file.attach(conn, db, writable=False)
    except sqlite3.DatabaseError as e:
        if not (isinstance(e, sqlite3.OperationalError) or is_damage(e)):
            raise
        # an index this user cannot open, or a damaged one (derived data: the next sync rebuilds it):
        # searches find nothing until then, and say so (store/fts.py, the unindexed note)
        index_file.detach(conn)
        index_file.attach_empty(conn)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA cache_size = -8000")
    # readers map the file (fast page access, shared with the OS cache); the writer
    # does not, so an import's RSS stays small
    conn.execute(f"PRAGMA mmap_size = {mmap_bytes}")
    load_dictionaries(conn)
    return conn


def set_bulk(conn: sqlite3.Connection, on: bool, *, first_import: bool = False) -> None:
    """Bulk pragmas for a big import. On an archive's first import there is
    nothing yet to protect, so SQLite skips fsync entirely (a killed process is
    still safe; a power cut mid-import means re-running the import); leaving
    bulk mode restores full durability and checkpoints with fsync."""
    for p in _BULK if on else _NORMAL:
        conn.execute(p)
    # (the index file's own bulk settings are the indexer's: indexer.FTS_BULK)
    if on and first_import:
        conn.execute("PRAGMA synchronous = OFF")
    if not on:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def release_free_pages(conn: sqlite3.Connection) -> int:
    """Truncate the file by its free pages (archives made with incremental
    auto-vacuum); returns how many pages were released."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if not free:
        return 0
    conn.executescript("PRAGMA incremental_vacuum")  # run to completion: each step frees one page
    return free


class ReadPool:
    """A small pool of reused read-only connections (never one per call). A
    connection is opened again once the index file it attached was replaced (a
    sync that rebuilt a damaged index, or made a missing one): it would go on
    reading the old file, or finding nothing."""

    def __init__(self, db: Path, size: int = 4):
        from .index_file import index_path

        self.db, self.size = db, size
        self._index = index_path(db)
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._created = 0
        self._opened_with: dict[sqlite3.Connection, tuple[int, int] | None] = {}

    def _index_file(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._index)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _open(self) -> sqlite3.Connection:
        seen = self._index_file()  # before opening: a file replaced in between is caught at the next use
        conn = open_reader(self.db)
        self._opened_with[conn] = seen
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._created < self.size
                if grow:
                    self._created += 1
            conn = self._open() if grow else self._idle.get()
        if self._opened_with.get(conn) != self._index_file():
            del self._opened_with[conn]
            conn.close()
            conn = self._open()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._idle.put(conn)

    def close(self) -> None:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            self._opened_with.pop(conn, None)
            conn.close()


def backup(db: Path, dest: Path) -> dict:
    """Copy the database with SQLite's backup API from one read snapshot: the
    copy is consistent even while a sync writes. ``dest`` may be a file or a
    folder. A damaged archive is not copied (the copy would carry the damage
    and look like a good backup)."""
    import time

    from ..errors import ArchiveDamaged, PolylogueError
    from .index_file import index_path

    if dest.is_dir():
        dest = dest / DB_NAME
    dest_index = index_path(dest)
    for path in (dest, dest_index):
        if os.path.lexists(path):  # a dangling symlink too: never write through one
            what = "a symbolic link" if path.is_symlink() else "a file"
            raise PolylogueError(f"{path} already exists ({what}); choose a new file")
    t0 = time.perf_counter()
    src = open_reader(db)
    try:
        pair_snapshot(src)  # the check and the copies read one snapshot of each file
        damage = first_damage(src)
        if damage:
            raise ArchiveDamaged(f"not backed up: the archive {db} is damaged ({damage}); `polylogue check` lists it")
        private_dirs(dest.parent)
        # the index file too, from its snapshot: it lags the archive's at most by the log the archive
        # holds, which the next sync of the copy applies (store/indexer.py)
        copies = [("main", dest)] + ([("idx", dest_index)] if _attached_file(src, "idx") else [])
        for name, path in copies:
            os.close(open_private(path, exclusive=True))
            dst = sqlite3.connect(path)
            try:
                src.backup(dst, name=name)  # one step: the whole copy comes from the snapshot above
                dst.execute("PRAGMA journal_mode = WAL")
            finally:
                dst.close()
    finally:
        src.close()
    return {"path": str(dest), "bytes": dest.stat().st_size, "seconds": round(time.perf_counter() - t0, 3)}


def _attached_file(conn: sqlite3.Connection, name: str) -> str:
    return next((f for _, n, f in conn.execute("PRAGMA database_list") if n == name), "") or ""


def pair_snapshot(conn: sqlite3.Connection, tries: int = 20) -> int | None:
    """Open one read transaction on a reader (archive and index file) that sees a
    consistent pair: the index's snapshot first, then the archive's, so the archive
    is at least as new as the index; and taken again if a sync trimmed the log
    past the index's watermark in between (the log entries after it must be in
    the archive's snapshot). Returns the index's watermark (None: none)."""
    for _ in range(tries):
        conn.execute("BEGIN")
        row = conn.execute("SELECT value FROM idx.index_state WHERE key = 'watermark'").fetchone()
        w = None if row is None else int(row[0])
        try:
            trimmed = conn.execute("SELECT value FROM main.meta WHERE key = 'index_trimmed'").fetchone()
        except sqlite3.OperationalError:  # an archive too old to have meta at all
            return w
        if w is None or trimmed is None or int(trimmed[0]) <= w:
            return w
        conn.execute("ROLLBACK")
    raise sqlite3.OperationalError("the index kept moving while its snapshot was taken")


def first_damage(conn: sqlite3.Connection) -> str | None:
    """What SQLite's quick_check finds first (None: nothing). Reads every page."""
    try:
        found = [m for (m,) in conn.execute("PRAGMA quick_check(5)") if m != "ok"]
    except sqlite3.DatabaseError as e:  # too damaged to walk
        return str(e)
    # a finding may be several lines under a "*** in database main ***" heading: the first says enough
    lines = [line.strip() for m in found for line in m.splitlines() if line.strip() and not line.startswith("***")]
    return lines[0] if lines else None


# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xff) that are about the
# file or the disk, not the statement
SQLITE_PERM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 3, 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def _code(e: sqlite3.Error) -> int:
    return (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF


def is_damage(e: BaseException) -> bool:
    """Whether SQLite raised ``e`` because a database file is damaged."""
    return isinstance(e, sqlite3.Error) and _code(e) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def storage_failure(e: BaseException) -> bool:
    """Whether ``e`` is about the disk or the database file (which no other
    statement would get past), not about the statement or its values."""
    if isinstance(e, sqlite3.Error):
        return _code(e) in (
            SQLITE_PERM,
            SQLITE_READONLY,
            SQLITE_IOERR,
            SQLITE_CORRUPT,
            SQLITE_FULL,
            SQLITE_CANTOPEN,
            SQLITE_NOTADB,
        )
    return isinstance(e, OSError) and e.errno in _DISK_FULL + _NOT_WRITABLE


def storage_error(e: BaseException, db: Path) -> Exception | None:
    """The error to show for a failure of the disk or the database file (None:
    not one of those). One line, naming the file and what to do."""
    from ..errors import ArchiveDamaged, IndexDamaged, StorageError
    from .index_file import index_path

    if isinstance(e, sqlite3.Error):
        code = _code(e)
        if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
            index_damage = _blame_index(db)
            if index_damage is not None:  # derived data: the archive itself is not the damaged file
                return IndexDamaged(
                    f"the search index {index_path(db)} is damaged ({index_damage}); nothing archived is lost: "
                    "`polylogue sync` rebuilds it from the archive"
                )
            return ArchiveDamaged(
                f"the archive {db} is damaged ({e}): polylogue does not write into it; "
                "`polylogue check` lists what is wrong"
            )
        if code == SQLITE_FULL:
            return StorageError(f"the disk is full: could not write {db} (the interrupted batch was not kept)")
        if code in (SQLITE_READONLY, SQLITE_PERM):
            return StorageError(f"cannot write {db}: {e} (a read-only file system or folder?)")
        if code == SQLITE_IOERR:
            return StorageError(f"could not write {db}: {e} (a full disk, a file size limit or a failing device)")
        if code == SQLITE_CANTOPEN:
            return StorageError(f"cannot open {db}: {e} (a folder this user cannot write?)")
        return None
    if isinstance(e, OSError) and e.errno in _DISK_FULL + _NOT_WRITABLE:
        where = e.filename or db
        if e.errno in _DISK_FULL:
            return StorageError(f"the disk is full: could not write {where} ({e.strerror})")
        return StorageError(f"cannot write {where}: {e.strerror}")
    return None


def index_damage(db: Path | str, *, thorough: bool = True) -> str | None:
    """What is wrong with the index file of the archive ``db``, read alone (None:
    nothing found, or no file). ``thorough``: SQLite's quick_check, which reads
    every page (seconds for a big index: only where a damage is suspected); else
    the schema and the watermark alone, which a damaged header or first page fails."""
    from .index_file import index_path

    path = index_path(db)
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(sqlite_uri(path, "ro"), uri=True)
    except sqlite3.Error as e:
        return str(e) if is_damage(e) else None
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'index_state'").fetchone():
            conn.execute("SELECT value FROM index_state WHERE key = 'watermark'").fetchone()
        return first_damage(conn) if thorough else None
    except sqlite3.Error as e:
        return str(e) if is_damage(e) else None  # (a lock or a folder it cannot read: not damage)
    finally:
        conn.close()


def reset_damaged_index(db: Path | str, *, thorough: bool = False) -> str | None:
    """At the start of a sync (under its lock): an index file SQLite cannot read
    is removed, so that this sync rebuilds it instead of refusing the archive.
    Every page is read if ``thorough`` or a reader left word of a damage
    (``mark_damaged``). Returns what was wrong (None: nothing found)."""
    from .index_file import damage_mark, discard

    mark = damage_mark(db)
    found = index_damage(db, thorough=thorough or mark.exists())
    if found is not None:
        discard(db)
    mark.unlink(missing_ok=True)
    return found


def _blame_index(db: Path) -> str | None:
    """The damage found in the archive's index file, read alone (None: none), for an
    error SQLite raised while both files were open. The index is checked first:
    it is the one polylogue can rebuild."""
    from .index_file import mark_damaged

    try:
        found = index_damage(db)
    except Exception:  # (the error path itself: never hide the first error behind a second)
        return None
    if found is not None:
        mark_damaged(db)  # the next sync reads every page of it, finds the damage and rebuilds it
    return found


TRAIN_MIN_MESSAGES = 1000
TRAIN_SAMPLES = 4000


def train_dictionary(conn: sqlite3.Connection, samples: list[bytes]) -> int:
    """Store a dictionary trained on ``samples`` (JSON block lists) and compress
    new rows with it. Returns its id."""
    import time

    did = codec.new_dictionary_id()
    data = codec.train(samples, did)
    with conn:
        conn.execute(
            "INSERT INTO zstd_dicts(id, data, samples, created_at) VALUES (?,?,?,?)",
            (did, data, len(samples), int(time.time() * 1000)),
        )
    codec.register_dictionary(did, data)
    codec.use_dictionary(did)
    return did


def train_from_archive(conn: sqlite3.Connection) -> int | None:
    """Train the first dictionary from stored messages once there are enough."""
    if conn.execute("SELECT 1 FROM zstd_dicts LIMIT 1").fetchone():
        return None
    n = conn.execute("SELECT coalesce(sum(messages), 0) FROM provider_totals").fetchone()[0]
    if n < TRAIN_MIN_MESSAGES:
        return None
    order = "ORDER BY random()" if n <= 200_000 else ""  # a random sample where that is cheap
    samples = [
        codec.decode_json(b) for (b,) in conn.execute(f"SELECT content FROM messages {order} LIMIT ?", (TRAIN_SAMPLES,))
    ]
    return train_dictionary(conn, samples) if len(samples) >= TRAIN_MIN_MESSAGES // 2 else None


def finish_import(conn: sqlite3.Connection) -> None:
    """After a sync that imported something: a small archive's first dictionary
    once it has enough text, free pages handed back, the planner's statistics."""
    train_from_archive(conn)
    release_free_pages(conn)
    conn.execute("PRAGMA optimize")
    # the whole archive back in the main file, the WAL emptied: a folder that later turns
    # read-only can still be read (connect_readonly). Best effort: it never waits on readers.
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


# pragmas that only read, allowed in a caller's SQL; those with an argument take a table or index name
_READ_PRAGMAS_WITH_ARG = {
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
}  # fmt: skip
_READ_PRAGMAS = {
    "database_list", "collation_list", "function_list", "module_list", "pragma_list", "compile_options",
    "user_version", "schema_version", "application_id", "page_count", "page_size", "freelist_count",
    "encoding", "journal_mode", "auto_vacuum", "data_version", "stats",
}  # fmt: skip


def _read_only_authorizer(refused: list[str]):
    """query_only stops writes to the archive, but not ATTACH (and VACUUM INTO,
    which attaches its target): both create a database file at any path they
    name. Those, and pragmas that change a setting, are refused."""

    def authorize(action: int, arg1, arg2, _db, _trigger) -> int:
        if action == sqlite3.SQLITE_ATTACH:
            refused.append("ATTACH (or VACUUM INTO, which attaches its target)")
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in _READ_PRAGMAS_WITH_ARG or (name in _READ_PRAGMAS and arg2 is None):
                return sqlite3.SQLITE_OK
            refused.append(f"PRAGMA {name}" + (" with a value" if arg2 is not None else ""))
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return authorize


def run_sql(conn: sqlite3.Connection, query: str, params: tuple | dict = ()) -> tuple[list[str], list[tuple]]:
    """A caller's own SQL on a read-only connection: (columns, rows); SQLite's
    complaint (a syntax error, a write, a refused statement) becomes SqlError."""
    from ..errors import SqlError

    refused: list[str] = []
    conn.set_authorizer(_read_only_authorizer(refused))
    try:
        cur = conn.execute(query, params)
        return [d[0] for d in cur.description or ()], cur.fetchall()
    except sqlite3.Error as e:
        if refused:
            raise SqlError(f"SQL error: {refused[0]} is not allowed (polylogue sql only reads)") from None
        raise SqlError(f"SQL error: {e}") from None
    finally:
        conn.set_authorizer(None)
