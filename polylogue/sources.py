"""Finding inputs: explicit paths, folders (recursive, symlink-safe), zip
archives (read in place), and the default locations of each tool."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

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
    open: "callable[[], BinaryIO]"
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
    """Expand paths into input files. Problems go to ``errors`` as (path, reason)."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[int] = set()
    for root in paths:
        root = Path(os.path.abspath(os.path.expanduser(str(root))))
        try:
            st = root.stat()
        except OSError as e:
            errors.append((str(root), f"cannot read: {e.strerror or e}"))
            continue
        if root.is_dir():
            yield from _walk(root, seen_dirs, seen_files, errors)
        else:
            ident = (st.st_dev << 64) | st.st_ino
            if ident not in seen_files:
                seen_files.add(ident)
                yield _file(root, st, explicit=True)


def _file(path: Path, st: os.stat_result, explicit: bool) -> InputFile:
    return InputFile(str(path), st.st_size, st.st_mtime_ns, explicit)


def _walk(root: Path, seen_dirs, seen_files, errors) -> Iterator[InputFile]:
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            st = d.stat()
        except OSError as e:
            errors.append((str(d), f"cannot read: {e.strerror or e}"))
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen_dirs:  # symlink loop or the same folder twice
            continue
        seen_dirs.add(ident)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as e:
            errors.append((str(d), f"cannot list: {e.strerror or e}"))
            continue
        subdirs = []
        for e in entries:
            p = Path(e.path)
            try:
                if e.is_dir(follow_symlinks=True):
                    subdirs.append(p)
                elif e.is_file(follow_symlinks=True):
                    st = e.stat(follow_symlinks=True)
                    ident = (st.st_dev << 64) | st.st_ino  # the same file reached twice (symlinks): once
                    if ident in seen_files:
                        continue
                    seen_files.add(ident)
                    yield _file(p, st, explicit=False)
            except OSError:
                continue  # a dangling symlink or a file gone while listing
        stack.extend(reversed(subdirs))


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
