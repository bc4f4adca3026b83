"""Where the archive lives (--home, $POLYLOGUE_HOME, or $XDG_DATA_HOME/polylogue),
how SQLite is pointed at a file, and how every folder and file Polylogue creates
is made private (0700 and 0600)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote


def default_home() -> Path:
    env = os.environ.get("POLYLOGUE_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(xdg) / "polylogue"


def sqlite_uri(path: Path | str, mode: str = "ro") -> str:
    """A ``file:`` URI for SQLite. The path is percent-quoted: a '#', '?' or '%'
    in it would otherwise end the path, start the parameters (dropping mode=ro)
    or be decoded."""
    return f"file:{quote(os.fsencode(os.path.abspath(path)))}?mode={mode}"  # bytes: any file name quotes


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dirs(path: Path) -> Path:
    """Create ``path`` and every missing parent, each 0700 whatever the umask
    (archives and exports hold private conversations). Existing folders are left as they are."""
    path = Path(os.path.abspath(path))
    missing = []
    d = path
    while not os.path.isdir(d) and d.parent != d:
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, PRIVATE_DIR)
        except FileExistsError:
            if os.path.isdir(d):
                continue  # made meanwhile by another process: not ours to change
            raise
        os.chmod(d, PRIVATE_DIR)  # the umask may have cleared bits mkdir asked for
    return path


def open_private(path: Path, flags: int = os.O_WRONLY, *, exclusive: bool = False) -> int:
    """Open ``path`` (a file descriptor), creating it 0600 whatever the umask. An
    existing file keeps its mode; with ``exclusive`` an existing file is an error."""
    flags |= os.O_CLOEXEC
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        if exclusive:
            raise
        return os.open(path, flags)
    os.fchmod(fd, PRIVATE_FILE)
    return fd
