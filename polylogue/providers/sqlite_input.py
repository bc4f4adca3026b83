"""Opening a tool's own SQLite database for its provider (kind "sqlite"):
read-only, never written, and never in a way that could stall the tool.

Its schema is read first (``Head.tables``, what the sniffers judge), in one
short read; only a database a provider claims is opened for parsing, so an
unrelated database in a synced folder is never copied. A running tool (Cursor)
keeps writing to its database while a sync reads it, so how a claimed one is
opened depends on the database's journal, read from its header:

- **WAL mode** (Cursor's ``state.vscdb``): readers never block the writer, so the
  file is read in place through a ``mode=ro`` URI, in one read transaction (a
  consistent snapshot). New rows land in ``<db>-wal`` first, which is why a
  changed log stands for its database (``providers.sniffed``).
- **Rollback journal**: a reader's lock would hold the tool's next write back
  for as long as the parse takes, so the database is first copied with SQLite's
  backup API in one step (one short read lock, a consistent copy) into a private
  temporary folder (0700), and the copy is read.
- **In place fails** (a read-only folder where SQLite cannot make the ``-shm``
  file it needs to read a WAL database): the database and its log are copied
  as files into the private folder and the copy is read.
- **A zip member**: its bytes are written to the private folder first.

The temporary folder is removed when the parse ends. A file that is no
readable database fails with one line (``ParseError``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from ..errors import ParseError
from ..paths import sqlite_uri
from .common import ParseContext, error_summary, open_sibling_file

if TYPE_CHECKING:
    import sqlite3

MAGIC = b"SQLite format 3\x00"
BUSY_MS = 10_000  # a tool's write in progress: wait this long for it, then fail the file (read again next sync)
_COPY = 1 << 20


def database_of_log(path: str | None) -> str | None:
    """The database whose write-ahead log ``path`` is (``<db>-wal``), when that
    database is a regular file that starts like a SQLite database; else None."""
    if not path or not path.endswith("-wal"):
        return None
    db = path[: -len("-wal")]
    f = open_sibling_file(os.path.dirname(db) or ".", os.path.basename(db))
    if f is None:
        return None
    with f:
        try:
            return db if f.read(len(MAGIC)) == MAGIC else None
        except OSError:
            return None


@contextmanager
def open_database(
    path: str | None, stream: BinaryIO, ctx: ParseContext, claim: Callable[[dict[str, str]], Any]
) -> Iterator[tuple[dict[str, str], Any, sqlite3.Connection | None]]:
    """Yields (tables: name -> CREATE statement, ``claim(tables)``, a read-only
    connection or None) for the database at ``path`` (or, for a zip member, in
    ``stream``). ``claim`` says which provider reads it (None: no one). The schema
    is read first and cheaply; a database no one claims gets no connection, so an
    unrelated database in a synced folder is never copied. See the module
    docstring for how a claimed one is opened."""
    import shutil
    import sqlite3

    scratch: str | None = None
    conn: sqlite3.Connection | None = None
    try:
        try:
            if path is None:
                scratch = _scratch()
                conn = _connect_copy(_spool(stream, scratch))
                tables = _tables(conn)
            elif _is_wal(path):
                try:
                    conn = _connect_in_place(path)
                except (sqlite3.Error, UnicodeDecodeError):
                    scratch = _scratch()
                    conn = _connect_copy(_copy_files(path, scratch))
                tables = _tables(conn)
            else:
                tables = _schema_in_place(path)  # one short read: the tool's writes wait at most this long
            claimed = claim(tables)
            if claimed is not None and conn is None:
                scratch = _scratch()
                conn = _snapshot(path or "", scratch)
        except (sqlite3.Error, UnicodeDecodeError) as e:  # SQLite's message may quote a damaged page's bytes
            raise ParseError(f"not a readable SQLite database: {error_summary(e)}") from None
        if conn is not None and claimed is not None:
            conn.text_factory = _noting(ctx)  # the parser's rows: a bad value costs that value, not the file
        try:
            yield tables, claimed, conn if claimed is not None else None
        except (sqlite3.Error, UnicodeDecodeError) as e:  # the parser's queries: a damaged page, a lock held too long
            raise ParseError(f"SQLite database unreadable while parsing: {error_summary(e)}") from None
    finally:
        if conn is not None:
            conn.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _tables(conn: sqlite3.Connection) -> dict[str, str]:
    return {str(n): str(s or "") for n, s in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}


def _schema_in_place(path: str) -> dict[str, str]:
    import sqlite3

    conn = sqlite3.connect(sqlite_uri(path, "ro"), uri=True, timeout=BUSY_MS / 1000)
    try:
        conn.text_factory = _text
        conn.execute("PRAGMA query_only = ON")
        return _tables(conn)
    finally:
        conn.close()


def _is_wal(path: str) -> bool:
    """Header bytes 18 and 19 (the file format's write and read versions) are 2 in
    WAL mode. Read from the database itself: the input may be its ``-wal`` log."""
    f = open_sibling_file(os.path.dirname(path) or ".", os.path.basename(path))
    if f is None:
        return False
    with f:
        header = f.read(100)
    return len(header) >= 20 and header[18] == 2 and header[19] == 2


def _scratch() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="polylogue-db-")  # 0700: the copy holds private conversations


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")  # a damaged page's bytes are no reason to fail the file


def _noting(ctx: ParseContext) -> Callable[[bytes], str]:
    """A TEXT value decoded; invalid UTF-8 is replaced with U+FFFD and noted in
    ``ctx`` (one line for the file, as for any input), never raised: sqlite3's
    own decoding fails the whole query, so one bad row would cost every row."""

    def text(value: bytes) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            ctx.bad_utf8 = True
            return value.decode("utf-8", "replace")

    return text


def loads(value: Any, ctx: ParseContext) -> Any:
    """A JSON value read from a column: TEXT (decoded by the connection) or a
    BLOB of JSON text, whose invalid UTF-8 is replaced and noted like TEXT's.
    Other damage raises ``orjson.JSONDecodeError`` (it costs the caller's record)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            value = _noting(ctx)(value)  # valid UTF-8 but no JSON: raises again below
    return orjson.loads(value)


def _readonly(conn: sqlite3.Connection) -> sqlite3.Connection:
    conn.text_factory = _text
    conn.execute("PRAGMA query_only = ON")
    conn.execute("BEGIN")  # one read transaction: every query sees the same snapshot
    return conn


def _connect_in_place(path: str) -> sqlite3.Connection:
    import sqlite3

    conn = sqlite3.connect(sqlite_uri(path, "ro"), uri=True, timeout=BUSY_MS / 1000, isolation_level=None)
    try:
        _readonly(conn)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the log now, not mid-parse
        return conn
    except BaseException:
        conn.close()
        raise


def _snapshot(path: str, scratch: str) -> sqlite3.Connection:
    """A consistent copy through the backup API, in one step (one read lock)."""
    import sqlite3

    copy = os.path.join(scratch, "snapshot.db")
    src = sqlite3.connect(sqlite_uri(path, "ro"), uri=True, timeout=BUSY_MS / 1000)
    try:
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return _connect_copy(copy)


def _copy_files(path: str, scratch: str) -> str:
    import shutil

    copy = os.path.join(scratch, "copy.db")
    shutil.copyfile(path, copy)
    if os.path.isfile(path + "-wal"):
        shutil.copyfile(path + "-wal", copy + "-wal")
    return copy


def _spool(stream: BinaryIO, scratch: str) -> str:
    copy = os.path.join(scratch, "member.db")
    with open(copy, "wb") as out:
        while chunk := stream.read(_COPY):
            out.write(chunk)
    return copy


def _connect_copy(copy: str) -> sqlite3.Connection:
    """Our own private copy: opened normally, so SQLite may replay a copied log into it."""
    import sqlite3

    conn = sqlite3.connect(copy, isolation_level=None)
    try:
        return _readonly(conn)
    except BaseException:
        conn.close()
        raise
