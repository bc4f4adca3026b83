"""`polylogue watch`: keep the archive current while the tools write.

The folders of the default sources, the archive's inbox and any paths named
are watched through the operating system's own file events (``watchfiles``,
over the Rust ``notify`` crate: inotify, FSEvents, ReadDirectoryChangesW). A
changed file is synced once it has been quiet for a moment (a grown session
log resumes where the last sync left off: resume.py), and only that file. A
safety rescan every few minutes, and one at once after the watcher was
stopped or suspended, catches what events missed (a kernel queue that
overflowed, files written while nobody listened). Folders are looked at every
few seconds (one ``stat`` each), so a source created after the start (a first
Codex install) or deleted and created again is watched as it appears.

Syncs run one at a time in a thread of their own at idle CPU and I/O priority
(``background_priority``): on Linux priorities belong to threads, and the
parse processes a sync forks inherit its thread's, so the loop that takes
events and signals keeps its normal priority. A second watcher of the same
archive is refused (``watch.lock``); a manual ``sync`` meanwhile waits for the
sync lock as usual, and a watcher sync that finds it taken tries again a
second later. On SIGINT or SIGTERM a running sync stops at its next
conversation (its open transaction is rolled back: SQLite keeps the archive
whole) and the watcher exits; the locks are record locks, released with the
process."""

from __future__ import annotations

import glob
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PolylogueError, SyncBusy, SyncStopped
from .paths import open_private, private_dirs

if TYPE_CHECKING:
    from .api import Archive
    from .sources import SearchRoot

SETTLE = 0.3  # a changed file is synced once it has been quiet this long (seconds) ...
MAX_WAIT = 1.5  # ... or this long after its first change (a log written without a pause)
LOOK_EVERY = 2.0  # how often the folders to watch are looked at again (one stat each)
STEP_MS = 50  # how often watchfiles checks for events and stop requests while it waits
GATHER_MS = 400  # events arriving this close together come back as one batch
PAUSE = 5.0  # a wait that overran by this much means the watcher was stopped or suspended
GRACE = 1.5  # on SIGINT/SIGTERM, what a running sync has to reach its next conversation
RESCAN_MINUTES = 10.0
DELETED = 3  # watchfiles' Change.deleted

Event = dict[str, Any]


# ------------------------------------------------------------------ priority

# ioprio_set/ioprio_get have no wrapper in libc: their syscall numbers, per machine
_IOPRIO_SYSCALLS = {
    "x86_64": (251, 252),
    "amd64": (251, 252),
    "i386": (289, 290),
    "i686": (289, 290),
    "aarch64": (30, 31),
    "arm64": (30, 31),
    "riscv64": (30, 31),
    "loongarch64": (30, 31),
    "armv7l": (314, 315),
    "armv6l": (314, 315),
    "ppc64le": (273, 274),
    "ppc64": (273, 274),
    "s390x": (282, 283),
}
_IOPRIO_WHO_PROCESS = 1  # with who=0: the calling thread
_IOPRIO_CLASS_SHIFT = 13
_IO_CLASSES = {0: "none", 1: "realtime", 2: "best-effort", 3: "idle"}


def _ioprio(call: int, *args: int) -> int | None:
    import ctypes
    import platform

    numbers = _IOPRIO_SYSCALLS.get(platform.machine().lower())
    if numbers is None:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        out = libc.syscall(numbers[call], _IOPRIO_WHO_PROCESS, 0, *args)
    except (OSError, AttributeError):
        return None
    return None if out < 0 else int(out)


def background_priority() -> dict[str, str]:
    """Idle CPU and I/O priority for the calling thread and everything it starts
    from now on (threads, forked parse processes): what a person does first.
    Linux: the SCHED_IDLE policy (it runs only on a core nobody else wants),
    nice 19 where that is refused, and the idle I/O class (honoured by the BFQ
    scheduler; others ignore it). Other POSIX systems: nice 19 (for the whole
    process there). Returns what was applied, e.g. {"cpu": "SCHED_IDLE", "io": "idle"}."""
    applied: dict[str, str] = {}
    if hasattr(os, "SCHED_IDLE") and hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            applied["cpu"] = "SCHED_IDLE"
        except OSError:
            pass
    if hasattr(os, "nice"):
        try:
            now = os.nice(0)
            if now < 19:
                os.nice(19 - now)
            applied.setdefault("cpu", "nice 19")
        except OSError:
            pass
    if sys.platform.startswith("linux") and _ioprio(0, 3 << _IOPRIO_CLASS_SHIFT) is not None:
        applied["io"] = "idle"
    return applied


def current_priority() -> dict[str, Any]:
    """The calling thread's CPU policy, nice value and (Linux) I/O class."""
    out: dict[str, Any] = {}
    if hasattr(os, "sched_getscheduler"):
        policy = os.sched_getscheduler(0)
        names = {getattr(os, n): n for n in ("SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE") if hasattr(os, n)}
        out["cpu"] = names.get(policy, str(policy))
    if hasattr(os, "nice"):
        out["nice"] = os.nice(0)
    if sys.platform.startswith("linux"):
        got = _ioprio(1)
        if got is not None:
            out["io"] = _IO_CLASSES.get(got >> _IOPRIO_CLASS_SHIFT, str(got))
    return out


# ------------------------------------------------------------------ one watcher per archive

LOCK_NAME = "watch.lock"


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).split()[0]) if hasattr(os, "pread") else None
    except (OSError, ValueError, IndexError):
        return None


class WatchLock:
    """Held while a watcher runs: a record lock on ``<home>/watch.lock`` holding
    the watcher's pid. The kernel drops it when the process ends, however it
    ends, so a killed watcher never leaves it held."""

    def __init__(self, home: Path):
        self.path = Path(home) / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> WatchLock:
        private_dirs(self.path.parent)
        fd = open_private(self.path, os.O_RDWR)
        if not _try_lock(fd):
            pid = _read_pid(fd)
            os.close(fd)
            who = f" (pid {pid})" if pid else ""
            raise SyncBusy(
                f"another `polylogue watch` is already watching {self.path.parent}{who}; "
                "one watcher per archive (`polylogue service status` says whether it runs as a service)"
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)  # no pid left behind that names a process long gone
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


def watcher_pid(home: Path) -> int | None:
    """The pid of the watcher running for this archive, or None. Asked from
    another process (a record lock tested by its own holder always looks free)."""
    path = Path(home) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if _try_lock(fd):
            return None  # closing the descriptor below releases it again
        return _read_pid(fd) or -1
    finally:
        os.close(fd)


# ------------------------------------------------------------------ what to watch


class Root:
    """One place the watcher keeps in the archive: a plain folder (every file in
    it), a ``sources.SearchRoot`` (the files its patterns match), or a file named
    on the command line. ``folders`` are the folders whose events concern it;
    empty for a root found only by the rescan."""

    def __init__(self, name: str, path: Path, named: bool = False):
        from .sources import SearchRoot

        self.name, self.path, self.named = name, path, named
        self.search = path if isinstance(path, SearchRoot) else None
        self.abs = os.path.abspath(os.path.expanduser(str(path)))
        self.folders = _folders_to_watch(self)

    def holds(self, path: str) -> bool:
        return path == self.abs or path.startswith(self.abs.rstrip(os.sep) + os.sep)


def _has_magic(part: str) -> bool:
    return any(c in part for c in "*?[")


def _folders_to_watch(root: Root) -> list[str]:
    """The folders whose events can concern ``root``: the root itself, or for a
    searched root the fixed folders each pattern starts with (an editor's
    ``globalStorage/<extension>``, not the whole editor). A pattern that starts
    with ``**`` and names a hidden file or folder, or starts at the user's home
    (Aider and SpecStory write into each project), would need a watch on every
    folder of every project: such a root is left to the rescan."""
    if root.search is None:
        return [root.abs]
    user = os.path.abspath(os.path.expanduser("~"))
    out = []
    for pattern in root.search.find:
        parts = pattern.split("/")
        lead = []
        for part in parts[:-1]:
            if _has_magic(part):
                break
            lead.append(part)
        scattered = any(p.startswith(".") for p in parts) or _inside(user, root.abs)
        if not lead and parts[0] == "**" and scattered:
            return []
        out.append(os.path.join(root.abs, *lead))
    return _outermost(out)


def _outermost(folders: Iterable[str]) -> list[str]:
    """Folders, without those inside another of them (every watch is recursive)."""
    out: list[str] = []
    for f in sorted(set(folders)):
        if not any(f == o or f.startswith(o.rstrip(os.sep) + os.sep) for o in out):
            out.append(f)
    return out


def _narrowed(root: SearchRoot, rel: list[str], is_dir: bool) -> SearchRoot | None:
    """The part of a searched root below ``rel`` (its path relative to the root):
    for a folder, a SearchRoot of the folder with the patterns' remaining parts;
    for a file, one that finds that file alone. None: no pattern reaches it."""
    from .sources import _NOT_SEARCHED, SearchRoot, _advance

    patterns = [tuple(p.split("/")) for p in root.find]
    states = frozenset((i, 0) for i in range(len(patterns)))
    folders, name = (rel, None) if is_dir else (rel[:-1], rel[-1])
    if len(folders) > root.depth:
        return None
    for part in folders:
        states = _advance(patterns, states, part, folder=True)
        if not states or part in _NOT_SEARCHED:
            return None
    here = Path(root, *folders)
    if name is None:
        rest = tuple(sorted({"/".join(patterns[i][at:]) for i, at in states}))
        return SearchRoot.of(here, rest, root.depth - len(folders))
    if not _advance(patterns, states, name, folder=False):
        return None
    return SearchRoot.of(here, (glob.escape(name),), 0)


def targets_for(roots: list[Root], changed: Iterable[str], home: Path) -> list[Path]:
    """What to sync for these changed paths: a folder as a folder, files as files
    found in their folder (so that unknown content is skipped quietly, as a
    folder sync does), only where a root's patterns reach. Paths gone since,
    and the archive's own files (its inbox apart), give nothing."""
    from .sources import SearchRoot

    own = os.path.abspath(home)
    inbox = os.path.join(own, "inbox")
    folders: dict[str, Path] = {}
    files: dict[tuple[str, int], set[str]] = {}  # (folder, how deep a search may go) -> escaped names
    searched: dict[tuple[str, tuple[str, ...]], Path] = {}
    for path in changed:
        path = os.path.abspath(path)
        if _inside(path, own) and not _inside(path, inbox):
            continue
        try:
            is_dir = os.path.isdir(path)
            if not is_dir and not os.path.isfile(path):
                continue  # gone (deleted, renamed away): nothing archived is lost
        except OSError:
            continue
        for root in roots:
            if not root.holds(path):
                continue
            if root.named and path == root.abs and not is_dir:
                folders[path] = Path(path)  # a file named on the command line: read as named
            elif root.search is None:
                if is_dir:
                    folders[path] = Path(path)
                else:
                    parent, name = os.path.split(path)
                    files.setdefault((parent, 0), set()).add(glob.escape(name))
            else:
                rel = [] if path == root.abs else os.path.relpath(path, root.abs).split(os.sep)
                narrow = _narrowed(root.search, rel, is_dir)
                if narrow is not None:
                    searched[(str(narrow), narrow.find)] = narrow
    out: list[Path] = list(folders.values())
    for (parent, depth), names in files.items():
        if not any(_inside(parent, f) for f in folders):
            out.append(SearchRoot.of(Path(parent), tuple(sorted(names)), depth))
    out += [s for s in searched.values() if not any(_inside(str(s), f) for f in folders)]
    return out


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


# ------------------------------------------------------------------ syncs, one at a time


class _StopCheck:
    """The sync's progress callbacks: each asks whether the watcher is stopping."""

    def __init__(self, stopping: threading.Event):
        self.stopping = stopping

    def _check(self, *_: Any) -> None:
        if self.stopping.is_set():
            raise SyncStopped

    start = file_done = conversation = counting = _check

    def finish(self) -> None:  # called on the way out, stopped or not
        pass


class Syncs(threading.Thread):
    """Runs the watcher's syncs one after another, in this thread, at background
    priority. What is asked while a sync runs is gathered into the next one; a
    full rescan takes in any single paths asked for too."""

    def __init__(
        self,
        archive: Archive,
        everything: list[str | os.PathLike] | None,
        emit: Callable[[Event], None],
        background: bool,
    ):
        super().__init__(name="polylogue-watch-sync", daemon=True)
        self.archive, self.everything, self.emit, self.background = archive, everything, emit, background
        self.cond = threading.Condition()
        self.targets: dict[tuple[str, tuple[str, ...]], Path] = {}
        self.reasons: list[str] = []
        self.full: str | None = None  # why a rescan is asked for
        self.stopping = threading.Event()
        self.priority: dict[str, str] = {}
        self.syncs = 0

    def ask(self, targets: Iterable[Path], reason: str) -> None:
        with self.cond:
            for t in targets:
                self.targets[(str(t), tuple(getattr(t, "find", ())))] = t
            if self.targets and reason not in self.reasons:
                self.reasons.append(reason)
            self.cond.notify()

    def rescan(self, reason: str) -> None:
        with self.cond:
            self.full = self.full or reason
            self.cond.notify()

    def stop(self, grace: float = GRACE) -> bool:
        """Ask a running sync to stop at its next conversation; True when it did in time."""
        self.stopping.set()
        with self.cond:
            self.cond.notify()
        self.join(grace)
        return not self.is_alive()

    def run(self) -> None:
        if self.background:
            self.priority = background_priority()
        waiting_said = False
        while True:
            with self.cond:
                while not self.stopping.is_set() and self.full is None and not self.targets:
                    self.cond.wait()
                if self.stopping.is_set():
                    return
                full, targets, reasons = self.full, list(self.targets.values()), self.reasons
                self.full, self.targets, self.reasons = None, {}, []
            reason = full or ", ".join(reasons)
            try:
                self._one(None if full else targets, reason)
                waiting_said = False
            except SyncStopped:
                return
            except SyncBusy:  # a manual sync holds the archive: after it, then
                if not waiting_said:
                    self.emit({"event": "waiting", "reason": "another sync is running on this archive"})
                    waiting_said = True
                self._again(full, targets, reasons)
                self.stopping.wait(1.0)
            except PolylogueError as e:  # a full disk, a damaged archive: said, and tried again later
                self.emit({"event": "error", "reason": reason, "error": str(e)})
                self.stopping.wait(5.0)
            except Exception as e:  # a bug must not end the watcher: said on one line
                self.emit({"event": "error", "reason": reason, "error": f"internal error: {type(e).__name__}: {e}"})
                self.stopping.wait(5.0)

    def _again(self, full: str | None, targets: list[Path], reasons: list[str]) -> None:
        if full:
            self.rescan(full)
        else:
            for r in reasons:
                self.ask(targets, r)

    def _one(self, targets: list[Path] | None, reason: str) -> None:
        t0 = time.time()
        paths: list[str | os.PathLike] | None = self.everything
        if targets is not None:
            paths = [*targets]
        report = self.archive.sync(paths, wait=False, progress=_StopCheck(self.stopping))
        self.syncs += 1
        event: Event = {"event": "sync", "reason": reason, "time": _now(), **report.to_json()}
        event["priority"] = self.priority
        # a file still being written (a zip being copied into the inbox) fails now and is
        # read again when it is done: its error is not news yet
        event["errors"] = [e for e in event["errors"] if not _written_since(e.get("path"), t0)]
        self.emit(event)


def _written_since(path: str | None, t0: float) -> bool:
    try:
        return path is not None and os.stat(path.split("!", 1)[0]).st_mtime >= t0 - SETTLE
    except OSError:
        return False


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


# ------------------------------------------------------------------ the loop


class Watcher:
    """Watches the roots and hands changes to ``Syncs``. ``run(stop)`` returns
    when ``stop`` is set; ``clean`` says whether the running sync (if any) had
    stopped by then."""

    def __init__(
        self,
        archive: Archive,
        paths: Iterable[str | os.PathLike] = (),
        *,
        emit: Callable[[Event], None],
        rescan_minutes: float = RESCAN_MINUTES,
        background: bool = True,
        settle: float = SETTLE,
        max_wait: float = MAX_WAIT,
    ):
        self.archive, self.emit = archive, emit
        self.rescan_every = rescan_minutes * 60
        self.settle, self.max_wait = settle, max_wait
        named = [Path(os.path.abspath(os.path.expanduser(str(p)))) for p in paths]
        self.roots = [Root(n, p) for n, p in archive.default_sources()] + [Root("named", p, True) for p in named]
        # the rescan: what `polylogue sync` reads, plus the paths named here
        self.everything: list[str | os.PathLike] | None = None
        if named:
            self.everything = [*(r.path for r in self.roots if not r.named), *named]
        self.syncs = Syncs(archive, self.everything, emit, background)
        self.clean = True
        self._notify: Any = None
        self._watched: dict[str, tuple[int, int] | None] | None = None  # None: not looked yet
        self._broken = False  # the events stopped: watch again at the next look
        self._events = True  # False once the system's limit on watches is reached

    # which folders exist now, by identity: a folder deleted and made again is a new one
    def _look(self) -> dict[str, tuple[int, int] | None]:
        state: dict[str, tuple[int, int] | None] = {}
        for folder in _outermost(f for r in self.roots for f in r.folders):
            try:
                st = os.stat(folder)
                state[folder] = (st.st_dev, st.st_ino)
            except OSError:
                state[folder] = None
        return state

    def _rewatch(self, state: dict[str, tuple[int, int] | None]) -> bool:
        """Watch the folders of ``state`` that exist. False: one went away meanwhile."""
        from watchfiles._rust_notify import RustNotify

        if self._notify is not None:
            self._notify.close()
            self._notify = None
        folders = [f for f, ident in state.items() if ident is not None]
        if not folders or not self._events:
            return True
        try:
            self._notify = RustNotify(folders, False, False, 300, True, True)
        except OSError as e:  # FileNotFoundError for every failure to add a watch
            if "limit" not in str(e).lower():
                return False
            self._limit_reached()
        return True

    def _limit_reached(self) -> None:
        self._events = False
        self.emit(
            {
                "event": "note",
                "note": "the system's limit on watched folders is reached (Linux: fs.inotify.max_user_watches); "
                f"changes are found by the rescan every {self.rescan_every / 60:g} minutes until it is raised",
            }
        )

    def describe(self) -> Event:
        state = self._look()
        return {
            "event": "watching",
            "home": str(self.archive.home),
            "folders": sorted(f for f, ident in state.items() if ident is not None),
            "waiting_for": sorted(f for f, ident in state.items() if ident is None),
            "rescan_only": sorted(r.abs for r in self.roots if not r.folders),
            "rescan_minutes": self.rescan_every / 60,
            "priority": "idle" if self.syncs.background else "normal",
        }

    def run(self, stop: threading.Event) -> None:
        private_dirs(self.archive.home / "inbox")  # where exports are dropped
        self.emit(self.describe())
        self.syncs.start()
        self.syncs.rescan("start")  # whatever was written while nobody watched
        pending: dict[str, tuple[float, float]] = {}  # path -> (first change, last change)
        next_look = 0.0
        next_rescan = time.monotonic() + self.rescan_every
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_look:
                    self._follow_folders()
                    next_look = now + LOOK_EVERY
                wait = LOOK_EVERY if not pending else max(0.05, self._next_ready(pending) - now)
                wait = min(wait, max(0.05, next_look - now), max(0.05, next_rescan - now))
                t0, w0 = time.monotonic(), time.time()
                got = self._wait(stop, wait)
                now = time.monotonic()
                overran = max(now - t0, time.time() - w0) - wait - GATHER_MS / 1000
                if isinstance(got, set):
                    for change, path in got:
                        if change == DELETED and path in (self._watched or {}):  # a watched folder went
                            next_look = 0.0
                        elif change != DELETED:
                            first = pending.get(path, (now, now))[0]
                            pending[path] = (first, now)
                if overran > PAUSE:  # stopped (SIGSTOP) or suspended: events may be lost
                    self.syncs.rescan("resumed after a pause")
                    pending.clear()
                    next_rescan = now + self.rescan_every
                    continue
                ready = [p for p, (first, last) in pending.items() if self._is_ready(first, last, now)]
                if ready:
                    for p in ready:
                        del pending[p]
                    self.syncs.ask(targets_for(self.roots, ready, self.archive.home), "change")
                if now >= next_rescan:
                    self.syncs.rescan("rescan")
                    next_rescan = now + self.rescan_every
        finally:
            self.clean = self.syncs.stop()
            if self._notify is not None:
                self._notify.close()
                self._notify = None

    def _is_ready(self, first: float, last: float, now: float) -> bool:
        return now - last >= self.settle or now - first >= self.max_wait

    def _next_ready(self, pending: dict[str, tuple[float, float]]) -> float:
        return min(min(last + self.settle, first + self.max_wait) for first, last in pending.values())

    def _wait(self, stop: threading.Event, seconds: float) -> set[tuple[int, str]] | str:
        if self._notify is None:
            return "stop" if stop.wait(seconds) else "timeout"
        try:
            return self._notify.watch(GATHER_MS, STEP_MS, max(1, int(seconds * 1000)), stop)
        except RuntimeError as e:  # the notify thread failed (a watch it could not add): start afresh
            self.emit({"event": "note", "note": f"file events: {e}; watching again"})
            self._notify.close()
            self._notify = None
            self._broken = True
            if "limit" in str(e).lower():
                self._limit_reached()
            return "timeout"

    def _follow_folders(self) -> None:
        """Watch what exists now. A folder that appeared (or was made again) since
        the last look is synced whole: files written into it before its watch
        began raised no event. (The first look needs no sync: the start's rescan
        reads everything.)"""
        state = self._look()
        if state == self._watched and not self._broken:
            return
        before = self._watched
        if not self._rewatch(state):
            return  # looked at again in a moment
        self._watched, self._broken = state, False
        if before is not None:
            appeared = [f for f, ident in state.items() if ident is not None and before.get(f) != ident]
            if appeared:
                self.syncs.ask(targets_for(self.roots, appeared, self.archive.home), "new folder")
