"""Hostile inputs (issue 18, items 12, 13 and 17), part of the bad-input corpus:
special files, NUL-filled and sparse files, zip bombs, and an archive folder
whose name breaks a SQLite URI. Each CLI run is a subprocess with a timeout, so
a hang fails the test instead of stalling the suite."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest
import xxhash

from polylogue.errors import ParseError, ZipProblem
from polylogue.paths import sqlite_uri
from polylogue.sources import InputFile, ZipLimits, discover, file_hash, members

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 30  # seconds: each run below takes about one; the bugs it guards against took minutes or forever


def run(home: Path, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def session_lines(session: str, word: str) -> bytes:
    """A small, real-format Claude Code session whose prompt holds ``word``."""
    user = {
        "type": "user",
        "uuid": f"{session}-u",
        "parentUuid": None,
        "sessionId": session,
        "timestamp": "2025-03-01T10:00:00Z",
        "cwd": "/tmp/p",
        "message": {"role": "user", "content": f"a prompt about {word}"},
    }
    reply = {
        "type": "assistant",
        "uuid": f"{session}-a",
        "parentUuid": f"{session}-u",
        "sessionId": session,
        "timestamp": "2025-03-01T10:00:05Z",
        "cwd": "/tmp/p",
        "message": {"id": "m1", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": "ok"}]},
    }
    return orjson.dumps(user) + b"\n" + orjson.dumps(reply) + b"\n"


def good_session(folder: Path, word: str = "quokkafjord") -> Path:
    path = folder / "good.jsonl"
    path.write_bytes(session_lines("s-good", word))
    return path


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("polylogue: error:")]


@pytest.fixture
def deadline():
    """In-process tests that could block on a FIFO fail after 10 s instead of hanging."""

    def expired(*_):
        pytest.fail("blocked: a special file was opened")  # a BaseException: no `except OSError` hides it

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def input_file(path: Path, explicit: bool = True) -> InputFile:
    st = path.stat()
    return InputFile(str(path), st.st_size, st.st_mtime_ns, explicit)


# ---------------------------------------------------------------- item 12: special and empty files


def test_a_fifo_named_on_the_command_line_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "session.jsonl"
    os.mkfifo(fifo)
    proc = run(tmp_path / "home", "sync", str(fifo), str(good_session(tmp_path)))
    assert proc.returncode == 3, proc.stderr
    assert error_lines(proc) == [f"polylogue: error: {fifo}: not a regular file (a FIFO): skipped"]


def test_dev_zero_is_refused_at_once(tmp_path):
    proc = run(tmp_path / "home", "sync", "/dev/zero", str(good_session(tmp_path)))
    assert proc.returncode == 3, proc.stderr
    assert error_lines(proc) == ["polylogue: error: /dev/zero: not a regular file (a character device): skipped"]


def test_special_files_in_folders(tmp_path):
    """Where a chat log was expected (a .jsonl name) a FIFO is an error line;
    other special files in a folder are skipped quietly, like a PNG."""
    folder = tmp_path / "logs"
    folder.mkdir()
    good_session(folder)
    os.mkfifo(folder / "live.jsonl")
    os.mkfifo(folder / "ipc.sock")
    proc = run(tmp_path / "home", "sync", str(folder))
    assert proc.returncode == 3, proc.stderr
    assert error_lines(proc) == [f"polylogue: error: {folder / 'live.jsonl'}: not a regular file (a FIFO): skipped"]


def test_discover_never_lists_a_special_file(tmp_path, deadline):
    fifo = tmp_path / "a.json"
    os.mkfifo(fifo)
    errors: list = []
    assert list(discover([fifo, Path("/dev/null")], errors)) == []
    assert [e[0] for e in errors] == [str(fifo), "/dev/null"]


def test_a_file_swapped_for_a_fifo_after_listing_is_not_opened(tmp_path, deadline):
    """The race: listed as a file, a FIFO by the time it is read."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(session_lines("s1", "x"))
    (f,) = discover([path], [])
    path.unlink()
    os.mkfifo(path)
    (member,) = members(f, lambda *a: None)
    with pytest.raises(OSError, match="not a regular file"):
        member.open()
    assert file_hash(path) is None


def test_a_sparse_nul_file_is_refused_after_its_first_megabyte(tmp_path):
    sparse = tmp_path / "zeros.jsonl"
    with open(sparse, "wb") as f:
        f.truncate(2 << 30)  # 2 GB of NUL bytes, no disk used: reading it whole took a minute
    proc = run(tmp_path / "home", "sync", str(sparse), str(good_session(tmp_path)))
    assert proc.returncode == 3, proc.stderr
    assert error_lines(proc) == [
        f"polylogue: error: {sparse}: binary or empty content: the first 1 MB hold only NUL bytes"
    ]


def test_nul_head_refused_content_after_a_short_nul_run_read(tmp_path):
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\xef\xbb\xbf" + bytes(2 << 20) + session_lines("s1", "x"))
    (member,) = members(input_file(blank), lambda *a: None)
    with pytest.raises(ParseError, match="binary or empty content"):
        member.open()
    ok = tmp_path / "ok.jsonl"
    ok.write_bytes(bytes(1000) + session_lines("s2", "x"))  # a few NULs: the reader drops them
    (member,) = members(input_file(ok), lambda *a: None)
    with member.open() as raw:
        assert raw.read() == ok.read_bytes()  # rewound: nothing of the head is lost


def test_file_hash_of_a_sparse_file_is_the_hash_of_its_bytes(tmp_path):
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.write(b"head")
        f.seek(5 << 20)
        f.write(b"middle")
        f.truncate(12 << 20)  # a hole at the end too
    assert file_hash(path) == xxhash.xxh3_128(path.read_bytes()).digest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_hash(empty) == xxhash.xxh3_128(b"").digest()


# ---------------------------------------------------------------- item 13: zip bombs


def overlapping_zip(path: Path, data: bytes, copies: int) -> Path:
    """The classic overlapping-entries bomb: ``copies`` central-directory
    entries all pointing at one member's compressed bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.jsonl", data)
    raw = buf.getvalue()
    eocd = raw.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", raw[eocd + 12 : eocd + 20])
    entry = raw[cd_offset : cd_offset + cd_size]
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, copies, copies, len(entry) * copies, cd_offset, 0)
    path.write_bytes(raw[:cd_offset] + entry * copies + end)
    return path


def test_overlapping_entries_are_bounded_per_archive(tmp_path):
    data = b'{"type":"user","message":"same line again"}\n' * 50_000  # ~2 MB, each member alone is fine
    bomb = overlapping_zip(tmp_path / "bomb.zip", data, 20)
    limits = ZipLimits(ratio_min_bytes=4 << 20)  # 2 MB members pass on their own; 40 MB from a few KB does not
    assert len(zipfile.ZipFile(bomb).infolist()) == 20
    with pytest.raises(ZipProblem, match="zip bomb limits.*times its size"):
        list(members(input_file(bomb), lambda *a: None, limits))
    one = overlapping_zip(tmp_path / "one.zip", data, 1)
    assert len(list(members(input_file(one), lambda *a: None, limits))) == 1


def test_total_uncompressed_bytes_are_bounded_per_archive(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(3):
            zf.writestr(f"m{i}.json", os.urandom(300_000))  # incompressible: no ratio to catch
    with pytest.raises(ZipProblem, match="more than 800000"):
        list(members(input_file(path), lambda *a: None, ZipLimits(archive_bytes=800_000)))
    assert len(list(members(input_file(path), lambda *a: None, ZipLimits(archive_bytes=900_000)))) == 3


def test_per_member_limits_still_skip_one_member(tmp_path):
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.json", b" " * 300_000)
        zf.writestr("small.json", b"{}")
    warned: list = []
    got = list(members(input_file(path), lambda d, r: warned.append((d, r)), ZipLimits(member_bytes=100_000)))
    assert [m.name for m in got] == ["small.json"]
    assert warned == [(f"{path}!big.json", "member skipped: 300000 bytes uncompressed (zip bomb limits)")]


def test_a_zip_bomb_is_one_error_line_and_the_sync_goes_on(tmp_path):
    """At the real limits: 20 entries of 64 MB (each under the per-member
    limits) over 64 KB of compressed zeros took ~22 s of CPU."""
    bomb = overlapping_zip(tmp_path / "bomb.zip", bytes(64 << 20), 20)
    proc = run(tmp_path / "home", "sync", "--json", str(bomb), str(good_session(tmp_path)))
    assert proc.returncode == 3, proc.stderr
    (line,) = error_lines(proc)
    assert line.startswith(f"polylogue: error: {bomb}: zip bomb limits: members hold {20 * (64 << 20)} bytes")
    assert orjson.loads(proc.stdout)["files"]["imported"] == 1


# ---------------------------------------------------------------- item 17: a home that breaks a URI


def test_sqlite_uri_keeps_read_only_for_any_path(tmp_path):
    folder = tmp_path / "a#b?c%d"
    folder.mkdir()
    db = folder / "x.db"
    sqlite3.connect(db).close()
    conn = sqlite3.connect(sqlite_uri(db), uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("CREATE TABLE t(x)")
    conn.close()
    with pytest.raises(sqlite3.OperationalError):
        sqlite3.connect(sqlite_uri(folder / "missing.db"), uri=True).execute("SELECT 1")
    assert sorted(p.name for p in folder.parent.rglob("*") if "userhome" not in p.parts) == ["a#b?c%d", "x.db"]


def test_a_home_named_with_uri_characters_works_end_to_end(tmp_path):
    home = tmp_path / "a#b?c%d"
    proc = run(home, "sync", str(good_session(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    found = run(home, "search", "quokkafjord", "--json")
    assert found.returncode == 0, found.stderr
    assert "quokkafjord" in found.stdout
    stats = run(home, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert orjson.loads(stats.stdout)["conversations"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a#b?c%d", "good.jsonl", "userhome"]
    assert not (tmp_path / "a").exists()
