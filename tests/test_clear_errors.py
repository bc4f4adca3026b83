"""No traceback reaches a user: each failure below is one `polylogue: ...` line
and the exit code docs/cli.md ("Exit codes") gives for it. Real disks, real
permissions, real damaged SQLite files; every subprocess has a timeout.

A full disk is a 1 MB tmpfs where mounting is allowed (root), and otherwise a
file size limit (RLIMIT_FSIZE) on the child. A folder the user cannot write is
a read-only bind mount where mounting is allowed, and a folder owned by
another user otherwise (root's children drop the capabilities that let root
write anywhere; other users' children get a folder they do not own)."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import orjson
import pytest
from click.testing import CliRunner
from helpers import sync_examples

from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.errors import IndexDamaged

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 90
ROOT = os.geteuid() == 0
NOBODY = 65534


# ------------------------------------------------------------------ helpers


def run(home: Path, *args: str, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=preexec,
    )


def one_error_line(r: subprocess.CompletedProcess | str) -> str:
    """The whole of stderr, which must be exactly one `polylogue: ...` line."""
    err = r if isinstance(r, str) else r.stderr
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("polylogue: "), err
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def session(folder: Path, name: str, messages: int = 2, chars: int = 40, seed: int = 1) -> Path:
    """A real-format Claude Code session: ``messages`` turns of random words."""
    rnd = random.Random(seed)
    lines, parent = [], None
    for i in range(messages):
        words = " ".join(
            "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 11)))
            for _ in range(chars // 8)
        )
        uuid = f"{name}-{i}"
        role = "user" if i % 2 == 0 else "assistant"
        message: dict = {"role": role, "content": f"{name} {words}"}
        if role == "assistant":
            message = {"id": f"m{i}", "role": role, "model": "claude-x", "content": [{"type": "text", "text": words}]}
        lines.append(
            orjson.dumps(
                {
                    "type": role,
                    "uuid": uuid,
                    "parentUuid": parent,
                    "sessionId": name,
                    "timestamp": f"2025-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
                    "cwd": "/tmp/p",
                    "message": message,
                }
            )
        )
        parent = uuid
    path = folder / f"{name}.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Path:
    """A current archive of the shipped examples (copy it before changing it)."""
    return sync_examples(tmp_path_factory.mktemp("clear") / "archive")


def copy_archive(synced: Path, dest: Path) -> Path:
    shutil.copytree(synced, dest)
    return dest


def _mount(*args: str) -> bool:
    if not ROOT or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", *args], capture_output=True, timeout=30).returncode == 0


@contextlib.contextmanager
def mounted(*args: str, target: Path) -> Iterator[None]:
    if not _mount(*args, str(target)):
        pytest.skip("mounting is not permitted here")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


# ------------------------------------------------------------------ a full disk


def _limit_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing the child
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize("how", ["tmpfs", "file-size-limit"])
def test_a_full_disk_is_one_line(tmp_path, how):
    big = session(tmp_path / "in", "bigsession", messages=3000, chars=400)
    home = tmp_path / "home"
    home.mkdir()
    with contextlib.ExitStack() as stack:
        preexec = None
        if how == "tmpfs":
            stack.enter_context(mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", target=home))
        else:
            preexec = _limit_file_size(1 << 20)
        r = run(home, "sync", str(big), preexec=preexec)
        line = one_error_line(r)
        assert r.returncode == 1
        assert ("disk is full" in line or "file size limit" in line) and str(home) in line, line
        # nothing half-written: what the archive holds still passes check
        if how == "tmpfs":
            assert run(home, "check").returncode == 0


# ------------------------------------------------------------------ a home this user cannot write

_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def _without_root_powers() -> None:
    """In the child: root without the capabilities that ignore file permissions, so
    a folder it does not own is as closed to it as to anyone else."""
    assert _LIBC is not None
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if _LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@contextlib.contextmanager
def unwritable(home: Path, how: str) -> Iterator[Callable[[], None] | None]:
    """``home`` read-only for the child run with the preexec this yields."""
    if how == "read-only-mount":
        with mounted("--bind", str(home), target=home):
            if not _mount("-o", "remount,ro,bind", str(home)):
                pytest.skip("remounting read-only is not permitted here")
            yield None
        return
    paths = [home, *home.rglob("*")]
    if ROOT:
        if _LIBC is None:
            pytest.skip("needs Linux capabilities")
        # owned by nobody, readable by all: closed to writes for root without its powers
        for p in paths:
            os.chown(p, NOBODY, NOBODY)
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        yield _without_root_powers
    else:
        for p in paths:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        try:
            yield None
        finally:
            for p in paths:
                os.chmod(p, 0o700 if p.is_dir() else 0o600)


UNWRITABLE = ["read-only-mount", "not-owned"]


@pytest.mark.parametrize("how", UNWRITABLE)
def test_sync_into_a_home_it_cannot_write_is_one_line(synced, tmp_path, how):
    home = copy_archive(synced, tmp_path / "home")
    new = session(tmp_path / "in", "newsession")
    before = digest(home / "polylogue.db")
    with unwritable(home, how) as preexec:
        r = run(home, "sync", str(new), preexec=preexec)
        line = one_error_line(r)
        assert r.returncode == 1 and line.startswith("polylogue: cannot write"), line
        assert str(home) in line
        # reading it still works
        r = run(home, "search", "tidepool", preexec=preexec)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert digest(home / "polylogue.db") == before


@pytest.mark.parametrize("how", UNWRITABLE)
def test_a_first_sync_into_a_read_only_folder_is_one_line(tmp_path, how):
    home = tmp_path / "home"
    home.mkdir()
    new = session(tmp_path / "in", "newsession")
    with unwritable(home, how) as preexec:
        r = run(home, "sync", str(new), preexec=preexec)
        line = one_error_line(r)
        assert r.returncode == 1 and line.startswith("polylogue: cannot write") and str(home) in line, line
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("how", UNWRITABLE)
def test_a_wal_archive_in_a_read_only_folder_without_shm_is_read(synced, tmp_path, how):
    """SQLite cannot create the WAL index (-shm) there; the archive is read from the main
    file, which a sync leaves holding everything (an empty WAL)."""
    home = copy_archive(synced, tmp_path / "home")
    wal, shm = home / "polylogue.db-wal", home / "polylogue.db-shm"
    assert not wal.exists() or wal.stat().st_size == 0  # the sync checkpointed all of it
    wal.unlink(missing_ok=True)
    shm.unlink(missing_ok=True)
    listing = sorted(p.name for p in home.iterdir())
    with unwritable(home, how) as preexec:
        for args in (["stats"], ["search", "tidepool"], ["list"], ["sql", "SELECT count(*) FROM conversations"]):
            r = run(home, *args, preexec=preexec)
            assert r.returncode == 0 and not r.stderr.strip().startswith("polylogue:"), (args, r.stderr)
            assert "Traceback" not in r.stderr
        r = run(home, "search", "tidepool", "--json", preexec=preexec)
        assert orjson.loads(r.stdout), "the search found nothing"
    assert sorted(p.name for p in home.iterdir()) == listing


# ------------------------------------------------------------------ a damaged database


def break_header(db: Path) -> None:
    with open(db, "r+b") as f:
        f.write(b"this is not the SQLite header" * 4)


def root_page(db: Path, table: str) -> tuple[int, int]:
    """(the file offset of ``table``'s root page, the page size)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    finally:
        conn.close()
    return (root - 1) * page_size, page_size


def damage(db: Path, how: str) -> None:
    """Damage the archive as a bad disk sector would. "cell-pointers": the first cell
    pointers of the messages table's root page (an interior page) out of range;
    "right-child": its right child pointer, which every appended message is reached
    through; "header": the file's first bytes."""
    if how == "header":
        break_header(db)
        return
    at, _ = root_page(db, "messages")
    with open(db, "r+b") as f:
        f.seek(at)
        assert f.read(1) == b"\x05"  # an interior table page
        f.seek(at + (12 if how == "cell-pointers" else 8))
        f.write(b"\xff\xf0\xff\xf0")


def damaged_copy(synced: Path, dest: Path, how: str) -> Path:
    home = copy_archive(synced, dest)
    damage(home / "polylogue.db", how)
    return home


@pytest.mark.parametrize("how", ["cell-pointers", "header"])
def test_check_prints_what_integrity_check_found(synced, tmp_path, how):
    damaged = damaged_copy(synced, tmp_path / "home", how)
    r = run(damaged, "check")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    problems = r.stderr.splitlines()
    assert problems and all(p.startswith("problem: sqlite: ") for p in problems), r.stderr
    said = " ".join(problems)
    assert ("On page" in said and "out of range" in said) if how != "header" else "not a database" in said, said
    assert r.stdout.startswith("FAILED: SQLite found the database file damaged")
    r = run(damaged, "check", "--json")
    assert r.returncode == 1 and orjson.loads(r.stdout)["problems"]


@pytest.mark.parametrize("how", ["right-child", "header"])
def test_sync_refuses_to_write_into_a_damaged_archive(synced, tmp_path, how):
    """Refused as soon as SQLite meets the damage (here at once: every new message is
    reached through the damaged pointer), keeping nothing of the batch; damage in pages
    a sync never reads is for `check` to find."""
    damaged = damaged_copy(synced, tmp_path / "home", how)
    db = damaged / "polylogue.db"
    before = digest(db)
    r = run(damaged, "sync", str(session(tmp_path / "in", "newsession", messages=40)))
    line = one_error_line(r)
    assert r.returncode == 1 and "is damaged" in line and "polylogue check" in line, line
    assert digest(db) == before
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


@pytest.mark.parametrize("how", ["cell-pointers", "right-child", "header"])
def test_backup_refuses_to_copy_a_damaged_archive(synced, tmp_path, how):
    damaged = damaged_copy(synced, tmp_path / "home", how)
    dest = tmp_path / "backups" / "copy.db"
    r = run(damaged, "backup", str(dest))
    line = one_error_line(r)
    assert r.returncode == 1 and "is damaged" in line, line
    assert not dest.exists()


# ------------------------------------------------------------------ a damaged index file


def damage_index(home: Path, how: str) -> None:
    """Damage the index file (derived data) as a bad sector would. "header": its first
    bytes; "fts-root": the whole root page of the full-text index's data table, which
    every search reads but a sync's first look (the schema, the watermark) does not."""
    path = home / "index.db"
    if how == "header":
        break_header(path)
        return
    at, page_size = root_page(path, "messages_fts_data")
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(b"\xff" * page_size)


def archived(home: Path) -> list:
    """Every stored message, as the archive holds it."""
    import sqlite3

    conn = sqlite3.connect(f"file:{home / 'polylogue.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, conversation_id, hash, content FROM messages ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["header", "fts-root"])
def test_a_damaged_index_is_named_and_the_next_sync_rebuilds_it(synced, tmp_path, how):
    """The index file is derived from the archive: its damage is reported as its own
    (never as the archive's), nothing archived is touched, and the next sync rebuilds
    it, saying so in one warning line; search and check are whole again after."""
    home = copy_archive(synced, tmp_path / "home")
    found = orjson.loads(run(home, "search", "tidepool", "--json").stdout)
    assert found
    messages = archived(home)
    damage_index(home, how)
    r = run(home, "search", "tidepool", "--json")
    if how == "header":  # the index cannot be opened at all: searches see nothing, and say so
        assert r.returncode == 0 and orjson.loads(r.stdout) == [], r.stderr
        assert "not in the search index yet" in r.stderr and "polylogue sync" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    else:  # met in the middle of a search: one line naming the index, not the archive
        line = one_error_line(r)
        assert r.returncode == 1 and "search index" in line and "index.db is damaged" in line, line
        assert "polylogue.db" not in line and "polylogue sync" in line, line
    r = run(home, "check")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "index.db: the search index" in r.stderr and "rebuilds it" in r.stderr, r.stderr
    assert not r.stdout.startswith("FAILED: SQLite found the database file damaged"), r.stdout
    r = run(home, "sync", str(REPO / "examples"))
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "search index was damaged" in line]
    assert len(warnings) == 1 and "rebuilt from the archive" in warnings[0], r.stderr
    assert archived(home) == messages  # nothing archived changed
    assert orjson.loads(run(home, "search", "tidepool", "--json").stdout) == found
    r = run(home, "check", "--json")
    assert r.returncode == 0 and orjson.loads(r.stdout)["ok"], r.stdout
    r = run(home, "sync", str(REPO / "examples"))  # once rebuilt, nothing more is said
    assert r.returncode == 0 and "damaged" not in r.stderr, r.stderr


@pytest.mark.parametrize("how", ["header", "fts-root"])
def test_forget_rebuilds_a_damaged_index_without_the_forgotten_text(synced, tmp_path, how):
    """forget must leave none of a conversation's text in the index: a damaged index
    (which it cannot merge) is rebuilt from the archive, with one warning line."""
    home = copy_archive(synced, tmp_path / "home")
    found = orjson.loads(run(home, "search", "tidepool", "--json").stdout)
    victim = found[0]["id"]
    damage_index(home, how)
    r = run(home, "forget", victim, "--yes")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    warnings = r.stderr.splitlines()
    assert len(warnings) == 1 and "search index was damaged" in warnings[0] and "rebuilt" in warnings[0], r.stderr
    left = orjson.loads(run(home, "search", "tidepool", "--json").stdout)
    assert [c["id"] for c in left] == [c["id"] for c in found[1:]]
    r = run(home, "check", "--json")
    assert r.returncode == 0 and orjson.loads(r.stdout)["ok"], r.stdout


def test_an_index_the_sync_rebuilt_while_a_reader_held_the_old_one(synced, tmp_path):
    """A reader that opened the damaged index before the sync replaced it: the sync
    neither waits for it nor fails, and the reader's next search reads the new index."""
    home = copy_archive(synced, tmp_path / "home")
    damage_index(home, "fts-root")
    with Archive(home) as before:
        with pytest.raises(IndexDamaged, match="rebuilds it"):  # and leaves word for the next sync
            before.search("tidepool")
        before.list(limit=1)  # a pooled reader, holding the damaged file open
        r = run(home, "sync", str(REPO / "examples"))
        assert r.returncode == 0 and "search index was damaged" in r.stderr, r.stderr
        # the same Archive (a server's, a watch's): its readers open the new index
        assert before.search("tidepool", cache=False).total_messages > 0
    with Archive(home) as after:
        assert after.search("tidepool").total_messages > 0


# ------------------------------------------------------------------ dates past the ends of time


@pytest.mark.parametrize(
    "query",
    ["until:9999-12-31", "until:9999-12", "until:9999", 'since:"99999999999 days ago"', "since:0001-01-01"],
)
def test_dates_at_the_ends_of_time_are_clamped(synced, query):
    r = run(synced, "search", query, "--json", "-n", "50")
    assert r.returncode == 0 and "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    with Archive(synced) as a:
        assert len(orjson.loads(r.stdout)) == len(a.list(limit=50)) > 0


def test_list_options_at_the_ends_of_time(synced):
    r = run(synced, "list", "--since", "99999999999 days ago", "--until", "9999-12-31", "--json")
    assert r.returncode == 0 and "internal error" not in r.stderr, r.stderr
    assert orjson.loads(r.stdout)
    r = run(synced, "list", "--since", "99999999999 years ago", "--json")
    assert r.returncode == 0 and "internal error" not in r.stderr, r.stderr


# ------------------------------------------------------------------ an encrypted zip


def _encrypted_zip(path: Path, members: dict[str, bytes], encrypted: set[str]) -> Path:
    """A zip whose ``encrypted`` members carry the format's encryption flag (bit 0 of
    the general purpose flags, in the local header and the central directory) as a
    password-protected zip's do."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    for name in encrypted:
        raw[infos[name].header_offset + 6] |= 0x01
    at = raw.find(b"PK\x01\x02")
    while at != -1:
        name_len = int.from_bytes(raw[at + 28 : at + 30], "little")
        if raw[at + 46 : at + 46 + name_len].decode() in encrypted:
            raw[at + 8] |= 0x01
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))
    return path


def test_an_encrypted_zip_member_is_one_clear_line(tmp_path):
    plain = session(tmp_path / "src", "plainsession").read_bytes()
    locked = session(tmp_path / "src", "lockedsession").read_bytes()
    z = _encrypted_zip(tmp_path / "export.zip", {"plain.jsonl": plain, "locked.jsonl": locked}, {"locked.jsonl"})
    home = tmp_path / "home"
    r = run(home, "sync", str(z))
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("polylogue: error:")]
    assert len(errors) == 1 and "locked.jsonl" in errors[0] and "encrypted" in errors[0], r.stderr
    assert run(home, "search", "plainsession").returncode == 0


def test_a_zip_with_only_encrypted_members_fails_with_a_line_each(tmp_path):
    members = {f"s{i}.jsonl": session(tmp_path / "src", f"s{i}").read_bytes() for i in range(2)}
    z = _encrypted_zip(tmp_path / "locked.zip", members, set(members))
    r = run(tmp_path / "home", "sync", str(z))
    assert r.returncode == 1 and "internal error" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("polylogue: error:")]
    assert len(errors) == 2 and all("encrypted" in e for e in errors), r.stderr


# ------------------------------------------------------------------ backup to a dangling symlink


def test_backup_to_a_dangling_symlink_is_refused(synced, tmp_path):
    target = tmp_path / "elsewhere" / "stolen.db"
    link = tmp_path / "backup.db"
    link.symlink_to(target)
    r = run(synced, "backup", str(link))
    line = one_error_line(r)
    assert r.returncode == 1 and "already exists" in line and "symbolic link" in line, line
    assert not target.exists() and not target.parent.exists()


# ------------------------------------------------------------------ huge numbers and ids


def test_a_5mb_id_is_a_clear_error_fast(synced):
    huge = "claude-code:" + "x" * (5 << 20)
    t0 = time.perf_counter()
    r = CliRunner().invoke(cli, ["--home", str(synced), "show", huge])
    assert time.perf_counter() - t0 < 5
    assert r.exit_code == 2, r.output
    line = one_error_line(r.stderr)
    assert len(line) < 200 and "characters long" in line, line[:300]


def test_mcp_huge_offsets_limits_and_ids_are_tool_errors(synced):
    from test_mcp import Session
    from test_mcp import run as run_mcp

    with Archive(synced) as a:
        conv_id = a.list(limit=1)[0]["id"]
    big = 2**64
    answers: dict[str, object] = {}

    async def body(s: Session):
        with anyio.fail_after(60):
            answers["search"] = await s.error("search", query="tidepool", offset=big)
            answers["list"] = await s.error("list_conversations", offset=big)
            answers["get"] = await s.error("get_conversation", id=conv_id, offset=big)
            answers["get_chars"] = await s.error("get_conversation", id=conv_id, char_offset=big)
            answers["limit"] = await s.ok("search", query="tidepool", limit=big)
            t0 = time.perf_counter()
            answers["id"] = await s.error("get_conversation", id="x" * (5 << 20))
            answers["id_seconds"] = time.perf_counter() - t0

    run_mcp(synced, body)
    for key in ("search", "list", "get", "get_chars"):
        assert "must be at most" in str(answers[key]) and "internal error" not in str(answers[key]), answers[key]
    assert any("clamped" in n for n in answers["limit"]["notes"])  # type: ignore[index]
    assert "characters long" in str(answers["id"]) and len(str(answers["id"])) < 300
    assert answers["id_seconds"] < 10  # type: ignore[operator]
