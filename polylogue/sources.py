"""Finding inputs: explicit paths, folders (recursive, symlink-safe), zip
archives (read in place), and the default locations of each tool."""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_MEMBER_BYTES = 8 << 30  # a single zip member larger than this is refused
MAX_RATIO = 400  # compression ratio beyond which a large member is treated as a bomb
RATIO_MIN_BYTES = 64 << 20
JSONISH = (".json", ".jsonl", ".ndjson")


@dataclass(slots=True)
class InputFile:
    """One file to import: a plain file, or a zip archive whose members are read in place."""

    key: str  # identity in the sources table: absolute path
    size: int
    mtime_ns: int
    explicit: bool  # named on the command line (unknown content is then an error)
    known_size: int | None = None  # its size when the archive last read it

    @property
    def path(self) -> Path:
        return Path(self.key)

    @property
    def is_zip(self) -> bool:
        """Read from the content, and only when the file is opened: a re-sync of
        unchanged files must not open them."""
        return _is_zip(self.path)


@dataclass
class Member:
    """A readable unit: a file, or one member of a zip."""

    display: str
    open: callable[[], BinaryIO]
    name: str
    in_zip: bool
    explicit: bool

    @property
    def jsonish(self) -> bool:
        """Worth reporting when its content is not a known format."""
        if self.explicit:
            return True
        name = self.name.lower()
        suffix = os.path.splitext(name)[1]
        return suffix in JSONISH or name.endswith(".jsonl.txt")


def default_sources(home: Path) -> list[tuple[str, Path]]:
    user = Path(os.path.expanduser("~"))
    claude = Path(os.environ.get("CLAUDE_CONFIG_DIR") or user / ".claude")
    codex = Path(os.environ.get("CODEX_HOME") or user / ".codex")
    return [
        ("claude-code", claude / "projects"),
        ("codex", codex / "sessions"),
        ("gemini-cli", user / ".gemini" / "tmp"),
        ("inbox", home / "inbox"),
    ]


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def discover(paths: list[Path], errors: list[tuple[str, str]]) -> Iterator[InputFile]:
    """Expand paths into input files, each real file once. Problems go to
    ``errors`` as (path, reason)."""
    roots = [Path(os.path.abspath(os.path.expanduser(str(p)))) for p in paths]
    folders = []
    seen = _Seen([os.path.realpath(r) for r in roots if r.is_dir()])
    for root in roots:  # named files first: they stay "named" (explicit) when a folder holds them too
        try:
            st = root.stat()
        except OSError as e:
            errors.append((str(root), f"cannot read: {e.strerror or e}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            folders.append(root)
        elif seen.named_once(st):
            yield _file(root, st, explicit=True)
    for root in folders:
        yield from _walk(root, seen, errors)


class _Seen:
    """Each folder is walked once (by device and inode), so a file can be listed
    twice only through a file symlink, a hard link, or a file named beside its
    folder; only those are remembered (a 100K-file walk keeps no per-file set).
    A symlinked file whose real path lies in a walked real folder is skipped:
    it is listed there."""

    def __init__(self, real_dirs: list[str]):
        self.real_dirs = real_dirs
        self.dirs: set[tuple[int, int]] = set()
        self.files: set[tuple[int, int]] = set()

    def dir_once(self, path: str, st: os.stat_result, linked: bool) -> bool:
        ident = (st.st_dev, st.st_ino)
        if ident in self.dirs:  # a symlink loop or the same folder twice
            return False
        self.dirs.add(ident)
        if linked:
            real = os.path.realpath(path)
            if not self._covered(real):
                self.real_dirs.append(real)
        return True

    def _covered(self, real: str) -> bool:
        return any(real == d or real.startswith(d.rstrip(os.sep) + os.sep) for d in self.real_dirs)

    def named_once(self, st: os.stat_result) -> bool:
        """A file named on the command line: always remembered."""
        ident = (st.st_dev, st.st_ino)
        if ident in self.files:
            return False
        self.files.add(ident)
        return True

    def file_once(self, path: str, st: os.stat_result, linked: bool) -> bool:
        if linked:
            if self._covered(os.path.dirname(os.path.realpath(path))):
                return False  # listed under its real path
        elif st.st_nlink < 2:
            return (st.st_dev, st.st_ino) not in self.files  # reachable again only through a remembered file
        return self.named_once(st)


def _file(path: Path, st: os.stat_result, explicit: bool) -> InputFile:
    return InputFile(str(path), st.st_size, st.st_mtime_ns, explicit)


def _walk(root: Path, seen: _Seen, errors) -> Iterator[InputFile]:
    stack = [(str(root), True)]
    while stack:
        d, linked = stack.pop()
        try:
            st = os.stat(d)
        except OSError as e:
            errors.append((d, f"cannot read: {e.strerror or e}"))
            continue
        if not seen.dir_once(d, st, linked):
            continue
        try:
            # names and types only: a folder of 17K sessions would otherwise hold 17K DirEntry objects
            with os.scandir(d) as it:
                entries = sorted((e.name, _is_dir(e), e.is_symlink()) for e in it)
        except OSError as e:
            errors.append((d, f"cannot list: {e.strerror or e}"))
            continue
        subdirs = []
        for name, is_dir, link in entries:
            p = os.path.join(d, name)
            if is_dir:
                subdirs.append((p, link))
                continue
            try:
                st = os.stat(p)
            except OSError:
                continue  # a dangling symlink or a file gone while listing
            if stat.S_ISREG(st.st_mode) and seen.file_once(p, st, link):
                yield _file(Path(p), st, explicit=False)
        stack.extend(reversed(subdirs))


def _is_dir(e: os.DirEntry) -> bool:
    try:
        return e.is_dir(follow_symlinks=True)
    except OSError:
        return False


def members(f: InputFile, warn) -> Iterator[Member]:
    """The readable units of an input file. ``warn(display, reason)`` reports skips."""
    if not f.is_zip:
        yield Member(f.key, lambda: open(f.path, "rb"), f.path.name, False, f.explicit)
        return
    try:
        zf = zipfile.ZipFile(f.path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ZipProblem(f"broken zip: {e}") from None
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            display = f"{f.key}!{name}"
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                warn(display, "unsafe member path skipped")
                continue
            if info.file_size > MAX_MEMBER_BYTES or (
                info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1)
            ):
                warn(display, f"member skipped: {info.file_size} bytes uncompressed (zip bomb limits)")
                continue
            if name.lower().endswith(".zip"):
                warn(display, "nested zip skipped (extract it and sync the inner zip)")
                continue
            yield Member(display, lambda info=info: zf.open(info), name.rsplit("/", 1)[-1], True, False)


class ZipProblem(Exception):
    pass


def file_hash(path: Path) -> bytes | None:
    """xxh3-128 of a file's bytes (about 1.7 GB/s): tells a touched file from a changed one."""
    import xxhash

    h = xxhash.xxh3_128()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.digest()
