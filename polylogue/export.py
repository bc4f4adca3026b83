"""Export conversations to files: markdown, html, json, jsonl, obsidian.

    from polylogue import Archive
    from polylogue.export import export
    report = export(Archive(), "out", fmt="html", provider="claude-code", since="2025-01-01")

Layout (``out_dir``):

- markdown / obsidian / json: one file per conversation,
  ``<provider>/<YYYY-MM-DD>-<slug of the title>-<8 hex of the id hash>.<ext>``
  (the date is when the conversation started), plus ``index.md`` (``index.json``
  for json) listing them, newest first;
- html: the same names with ``.html``; a conversation longer than ``page_size``
  messages splits into ``<name>.html``, ``<name>-p2.html``, ...; ``index.html``;
- jsonl: a single ``conversations.jsonl``, one lossless conversation object
  (``render.json.conversation_dict``) per line: the lossless export format.

Names are stable across runs (they depend only on the provider, the start
date, the title and the id) and unique (the id hash; lengthened on a clash).

Re-running updates only what changed. ``.polylogue-export.json`` in ``out_dir``
records, per conversation, its files and the SHA-256 of each; a file whose
rendered bytes are unchanged is not rewritten (its mtime stays). Files a
previous run wrote that are no longer part of the export (a conversation
renamed, deleted, or outside the new filters) are removed. The output folder
mirrors the selection, within these rules (docs/cli.md, "export"):

- only a file the manifest recorded, still holding the bytes recorded, is ever
  replaced or removed; a file edited since, or one polylogue did not write, is
  kept and reported (``force`` replaces or removes those too);
- nothing is written or removed outside ``out_dir``: paths are checked part by
  part and a symlink on the way is never followed (not even with ``force``);
- the manifest is untrusted input: a malformed one is reported and ignored
  whole, and then nothing is removed;
- ``dry_run`` decides everything and writes nothing; ``confirm`` is asked
  before a run drops more than half of the conversations an export holds.

Files are written atomically (temp file + rename) with mode 0600; folders
polylogue creates get mode 0700: the export holds private conversations.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from .errors import ExportError, ExportRefused
from .paths import private_dirs

FORMATS = ("markdown", "html", "json", "jsonl", "obsidian")
EXTENSIONS = {"markdown": ".md", "obsidian": ".md", "json": ".json", "html": ".html"}
INDEX_NAMES = {"markdown": "index.md", "obsidian": "index.md", "json": "index.json", "html": "index.html"}
JSONL_NAME = "conversations.jsonl"
MANIFEST = ".polylogue-export.json"
MANIFEST_VERSION = 1
# bump when a renderer's output changes in a way the fast path (archive hash) must not hide
RENDER_VERSION = 2  # 2: Markdown and Obsidian content made inert (render/markdown.py)
PAGE_LIMIT = 500  # summaries fetched per Archive.list / Archive.search call

Progress = Callable[[int, int, str], None]


# ------------------------------------------------------------------ names


def slugify(title: str | None, max_bytes: int = 80) -> str:
    """Lower-case words joined by '-': letters and digits of any script, nothing
    a shell, a URL or a file system treats specially. Empty -> 'untitled'."""
    s = unicodedata.normalize("NFKC", title or "").lower()
    s = re.sub(r"[^\w]+|_+", "-", s).strip("-")
    out = ""
    for word in s.split("-"):
        cand = f"{out}-{word}" if out else word
        if len(cand.encode()) > max_bytes:
            if not out:  # one very long word: cut it
                out = word.encode()[:max_bytes].decode(errors="ignore")
            break
        out = cand
    return out or "untitled"


def id_hash(cid: str, n: int = 8) -> str:
    return hashlib.sha256(cid.encode()).hexdigest()[:n]


def _day(summary: dict[str, Any]) -> str:
    v = summary.get("created_at") or summary.get("updated_at")
    if isinstance(v, datetime):
        return f"{v:%Y-%m-%d}"
    if isinstance(v, str) and re.match(r"\d{4}-\d{2}-\d{2}", v):
        return v[:10]
    return "undated"


def base_name(summary: dict[str, Any], hash_len: int = 8) -> str:
    """``<provider>/<date>-<slug>-<hash>`` without extension."""
    provider = slugify(summary.get("provider"), 40)
    return f"{provider}/{_day(summary)}-{slugify(summary.get('title'))}-{id_hash(summary['id'], hash_len)}"


def assign_names(summaries: list[dict[str, Any]]) -> dict[str, str]:
    """Stable, unique base names for a selection (a clash of the short hash,
    case-insensitively, lengthens it for every member of the clash)."""
    names = {s["id"]: base_name(s) for s in summaries}
    by_name: dict[str, list[str]] = {}
    for cid, n in names.items():
        by_name.setdefault(n.lower(), []).append(cid)
    for group in by_name.values():
        if len(group) > 1:
            for cid in group:
                summary = next(s for s in summaries if s["id"] == cid)
                names[cid] = base_name(summary, 64)
    return names


# ------------------------------------------------------------------ selection


def _date_arg(v):
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)


def select(
    archive,
    *,
    query: str | None = None,
    provider: str | list[str] | None = None,
    since=None,
    until=None,
    project: str | None = None,
) -> list[dict[str, Any]]:
    """Summaries of every conversation the filters select, newest first
    (ties by id), fetched page by page."""
    providers = [provider] if isinstance(provider, str) else list(provider or [])
    seen: dict[str, dict[str, Any]] = {}
    offset = 0
    if query and query.strip():
        while True:
            res = archive.search(
                query,
                limit=PAGE_LIMIT,
                offset=offset,
                cache=False,
                provider=providers,
                since=_date_arg(since),
                until=_date_arg(until),
                project=project,
            )
            if not res.conversations:
                break
            for s in res.conversations:
                s = {k: v for k, v in s.items() if k != "hits"}
                seen.setdefault(s["id"], s)
            offset += len(res.conversations)
    else:
        while True:
            rows = archive.list(
                provider=providers, since=since, until=until, project=project, limit=PAGE_LIMIT, offset=offset
            )
            for s in rows:
                seen.setdefault(s["id"], s)
            if len(rows) < PAGE_LIMIT:
                break
            offset += len(rows)
    out = sorted(seen.values(), key=lambda s: s["id"])
    out.sort(key=lambda s: s.get("updated_at") or "", reverse=True)
    return out


# ------------------------------------------------------------------ files
#
# The output folder is treated as hostile ground: a folder in it may be a
# symlink to anywhere, the manifest may have been edited, a file may be the
# user's. Every path is checked component by component before it is written or
# removed (_unsafe), and a file is replaced or removed only when it still holds
# exactly the bytes the manifest says we wrote (or --force says so).

CHANGED = "changed since polylogue wrote it"
FOREIGN = "not written by polylogue"
_SHA_HEX = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def _inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` when rel is a plain relative path (no ``..``, not absolute,
    no control characters) that stays inside root by its spelling."""
    if not rel or rel.startswith(("/", "\\")) or "\\" in rel or _CONTROL.search(rel):
        return None
    parts = Path(rel).parts
    if any(p in ("..", ".", "") for p in parts) or Path(rel).is_absolute() or rel.endswith("/"):
        return None
    return root.joinpath(*parts)


def _unsafe(root: Path, rel: str) -> str | None:
    """Why ``root/rel`` must not be written or removed, or None when it may.

    Each existing component is looked at without following it: a symlinked
    folder could lead anywhere, so any symlink on the way is refused (this is
    stricter than resolving the path and checking it stays under root)."""
    if _inside(root, rel) is None:
        return "not a plain path inside the output folder"
    d = root
    parts = Path(rel).parts
    for k, part in enumerate(parts, 1):
        d = d / part
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            return None  # the rest does not exist yet: we create it
        except OSError as e:
            return f"cannot be checked ({e.strerror})"
        here = "/".join(parts[:k])
        if stat.S_ISLNK(st.st_mode):
            return "a symlink (not followed)" if k == len(parts) else f"inside a symlinked folder ({here})"
        if k == len(parts):
            return None if stat.S_ISREG(st.st_mode) else "not a regular file"
        if not stat.S_ISDIR(st.st_mode):
            return f"{here} is not a folder"
    return None


def _mkdirs(root: Path, rel_dir: Path) -> None:
    """Create the missing folders of ``rel_dir`` (already checked by _unsafe)."""
    d = root
    for part in rel_dir.parts:
        d = d / part
        if not os.path.lexists(d):
            private_dirs(d)


def _tmp_in(directory: Path, name: str) -> tuple[int, str]:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    os.fchmod(fd, 0o600)
    return fd, tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = _tmp_in(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


class _Files:
    """The files of one run under ``root``: written only when their content
    changed, and only over a file the manifest vouches for (or with force)."""

    def __init__(self, root: Path, old: dict[str, dict[str, Any]], *, force: bool, dry_run: bool):
        self.root = root
        self.old = old  # rel -> {"sha", "size", "mtime_ns"} from the manifest
        self.force, self.dry_run = force, dry_run
        self.new: dict[str, dict[str, Any]] = {}  # what this run vouches for
        self.targets: set[str] = set()
        self.written: list[str] = []
        self.rewritten: list[str] = []
        self.unchanged: list[str] = []
        self.kept: list[dict[str, str]] = []
        self.carried: dict[str, dict[str, Any]] = {}  # records of kept files we wrote once (--force may act later)

    def _stat(self, rel: str) -> dict[str, Any] | None:
        try:
            st = os.lstat(self.root / rel)
        except OSError:
            return None
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns} if stat.S_ISREG(st.st_mode) else None

    def intact(self, rel: str) -> bool:
        """The file is still what the last run wrote (same size and mtime, a safe path)."""
        rec, st = self.old.get(rel), self._stat(rel)
        ok = bool(rec and st and rec.get("size") == st["size"] and rec.get("mtime_ns") == st["mtime_ns"])
        return ok and _unsafe(self.root, rel) is None

    def keep(self, rel: str) -> None:
        self.targets.add(rel)
        self.new[rel] = self.old[rel]
        self.unchanged.append(rel)

    def _verdict(self, rel: str, sha: str) -> str:
        """'new', 'same', 'rewrite', or why the file there is kept as it is."""
        problem = _unsafe(self.root, rel)
        if problem:
            return problem
        path = self.root / rel
        if not os.path.lexists(path):
            return "new"
        rec = self.old.get(rel)
        if rec and rec["sha"] == sha and self.intact(rel):
            return "same"
        current = _file_sha(path)
        if current == sha:
            return "same"  # already what we would write: ours from now on
        if (rec and current == rec["sha"]) or self.force:
            return "rewrite"
        return CHANGED if rec else FOREIGN

    def _keep_as_is(self, rel: str, reason: str) -> None:
        self.kept.append({"path": rel, "reason": reason})
        if reason == CHANGED:
            self.carried[rel] = self.old[rel]

    def _settle(self, rel: str, sha: str, verdict: str, count: bool) -> bool:
        if verdict not in ("new", "same", "rewrite"):
            self._keep_as_is(rel, verdict)
            return False
        self.new[rel] = {"sha": sha, **(self._stat(rel) or {})}
        if count:
            (self.unchanged if verdict == "same" else self.written).append(rel)
            if verdict == "rewrite":
                self.rewritten.append(rel)
        return verdict != "same"

    def put(self, rel: str, data: bytes, *, count: bool = True) -> bool:
        self.targets.add(rel)
        sha = _sha(data)
        verdict = self._verdict(rel, sha)
        if verdict in ("new", "rewrite") and not self.dry_run:
            try:
                _mkdirs(self.root, Path(rel).parent)
                write_atomic(self.root / rel, data)
            except OSError as e:
                raise ExportError(f"cannot write {self.root / rel}: {e.strerror or e}") from e
        return self._settle(rel, sha, verdict, count)

    def put_stream(self, rel: str, chunks: Iterator[bytes]) -> bool:
        """Stream to a temp file (only hash, in a dry run), then keep it only when it may replace the file there."""
        self.targets.add(rel)
        problem = _unsafe(self.root, rel)
        if problem:
            return self._settle(rel, "", problem, True)
        h = hashlib.sha256()
        if self.dry_run:
            for chunk in chunks:
                h.update(chunk)
            return self._settle(rel, h.hexdigest(), self._verdict(rel, h.hexdigest()), True)
        path = self.root / rel
        try:
            _mkdirs(self.root, Path(rel).parent)
            fd, tmp = _tmp_in(path.parent, path.name)
        except OSError as e:
            raise ExportError(f"cannot write {path}: {e.strerror or e}") from e
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
            sha = h.hexdigest()
            verdict = self._verdict(rel, sha)
            if verdict in ("new", "rewrite"):
                os.replace(tmp, path)
            else:
                _discard(tmp)
        except BaseException:
            _discard(tmp)
            raise
        return self._settle(rel, sha, verdict, True)

    def remove(self, stale: list[str]) -> list[str]:
        """Remove files an earlier run wrote that this one does not, when they
        still hold what was written; then the folders that became empty."""
        removed = []
        dirs: set[Path] = set()
        for rel in stale:
            problem = _unsafe(self.root, rel)
            path = self.root / rel
            if problem:
                self._keep_as_is(rel, problem)
                continue
            if not os.path.lexists(path):
                continue
            if _file_sha(path) != self.old[rel]["sha"] and not self.force:
                self._keep_as_is(rel, CHANGED)
                continue
            if not self.dry_run:
                try:
                    path.unlink()
                except OSError:
                    continue
                dirs.add(path.parent)
            removed.append(rel)
        for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            while d != self.root and self.root in d.parents:
                try:
                    d.rmdir()  # only when empty
                except OSError:
                    break
                d = d.parent
        return removed


# ------------------------------------------------------------------ the manifest (untrusted input)


def _file_record_ok(rec: Any) -> bool:
    return (
        isinstance(rec, dict)
        and isinstance(rec.get("sha"), str)
        and _SHA_HEX.fullmatch(rec["sha"]) is not None
        and all(isinstance(rec[k], int) and not isinstance(rec[k], bool) for k in ("size", "mtime_ns") if k in rec)
    )


# the only files an export writes: an index (or the JSONL file), and conversation files named
# by base_name (``<provider>/<date>-<slug>-<hash>``, pages ``-pN``); a manifest naming any
# other file is not ours, so a planted one cannot make an export remove a user's file
_EXPORT_FILE = re.compile(r"[^/]+/(?:\d{4}-\d{2}-\d{2}|undated)-[^/]*-[0-9a-f]{8,64}(?:-p\d+)?\.(?:md|json|html)")
_TOP_FILES = frozenset(INDEX_NAMES.values()) | {JSONL_NAME}


def _manifest_problem(m: Any) -> str | None:
    """What is wrong with a manifest's shape, or None. Every path must be a
    plain relative path inside the export; every file must carry a SHA-256."""
    if not isinstance(m, dict):
        return "not a JSON object"
    if m.get("version") != MANIFEST_VERSION:
        return "an unknown version"
    if m.get("format") not in FORMATS:
        return "an unknown format"
    convs, extra, kept = m.get("conversations"), m.get("extra", {}), m.get("kept", {})
    if not isinstance(convs, dict) or not isinstance(extra, dict) or not isinstance(kept, dict):
        return "no conversations, extra or kept table"
    for rec in convs.values():
        if not isinstance(rec, dict) or not isinstance(rec.get("files"), list):
            return "a conversation entry without a file list"
        if not isinstance(rec.get("key"), str | None):
            return "a conversation entry with a bad key"
        for f in rec["files"]:
            if not (_file_record_ok(f) and isinstance(f.get("path"), str) and _export_file(f["path"])):
                return "a file entry that is not one of an export's own files, with a SHA-256"
    for rel, f in extra.items():
        if not (_file_record_ok(f) and rel in _TOP_FILES):
            return "an extra entry that is not an export's index, with a SHA-256"
    for rel, f in kept.items():
        if not (_file_record_ok(f) and _export_file(rel)):
            return "a kept entry that is not one of an export's own files, with a SHA-256"
    return None


def _export_file(rel: str) -> bool:
    return _EXPORT_FILE.fullmatch(rel) is not None and _inside(Path("."), rel) is not None


def _load_manifest(root: Path) -> tuple[dict[str, Any], list[str]]:
    """The manifest of an earlier run and warnings; a bad one is ignored whole
    (then nothing is removed and no existing file is replaced unless identical)."""
    path = root / MANIFEST
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {}, []
    except OSError as e:
        return {}, [f"ignored {MANIFEST}: {e.strerror}"]
    if not stat.S_ISREG(st.st_mode):
        return {}, [f"ignored {MANIFEST}: not a regular file"]
    try:
        m = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}, [f"ignored {MANIFEST}: not readable JSON"]
    problem = _manifest_problem(m)
    if problem:
        return {}, [f"ignored {MANIFEST}: it has {problem}; files already there are kept"]
    return m, []


# ------------------------------------------------------------------ rendering


def _conversation_files(fmt: str, conv, base: str, *, page_size: int) -> list[tuple[str, bytes]]:
    if fmt == "markdown":
        from .render.markdown import render

        return [(base + ".md", render(conv).encode())]
    if fmt == "obsidian":
        from .render.obsidian import render

        return [(base + ".md", render(conv).encode())]
    if fmt == "json":
        from .render.json import render as render_json

        return [(base + ".json", (render_json(conv) + "\n").encode())]
    if fmt == "html":
        from .render.html import pages

        folder, _, stem = base.rpartition("/")
        up = "../" * (base.count("/"))
        return [
            ((folder + "/" if folder else "") + name, page.encode())
            for name, page in pages(conv, page_size, base=stem, index_href=up + INDEX_NAMES["html"])
        ]
    raise ExportError(f"unknown format '{fmt}'")


def _md_cell(s: Any) -> str:
    s = " ".join(str(s or "").split())
    s = s.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([|\[\]*_`#~!])", r"\\\1", s)


def _index(fmt: str, entries: list[dict[str, Any]]) -> bytes:
    if fmt == "html":
        from .render.html import index

        return index(entries, title="Polylogue export").encode()
    if fmt == "json":
        keys = (
            "id",
            "provider",
            "provider_id",
            "title",
            "created_at",
            "updated_at",
            "message_count",
            "parent_id",
            "project",
            "models",
            "file",
        )
        return orjson.dumps([{k: e.get(k) for k in keys} for e in entries], option=orjson.OPT_INDENT_2) + b"\n"
    from urllib.parse import quote

    lines = [
        "# Polylogue export",
        "",
        f"{len(entries)} conversation{'s' if len(entries) != 1 else ''}.",
        "",
        "| Updated | Provider | Title | Messages |",
        "|---|---|---|---:|",
    ]
    for e in entries:
        title = _md_cell(e.get("title") or e["id"])
        lines.append(
            f"| {_md_cell((e.get('updated_at') or e.get('created_at') or '')[:10])} | {_md_cell(e['provider'])} | "
            f"[{title}]({quote(e['file'], safe='/-._~')}) | {_md_cell(e.get('message_count', ''))} |"
        )
    return ("\n".join(lines) + "\n").encode()


# ------------------------------------------------------------------ export

Confirm = Callable[[int, int], bool]


def export(
    archive,
    out_dir: str | os.PathLike,
    *,
    fmt: str,
    query: str | None = None,
    provider: str | list[str] | None = None,
    since=None,
    until=None,
    project: str | None = None,
    page_size: int = 500,
    progress: Progress | None = None,
    dry_run: bool = False,
    force: bool = False,
    confirm: Confirm | None = None,
) -> dict[str, Any]:
    """Export the selected conversations (all when no filter) into ``out_dir``.

    Returns ``{"format", "out", "conversations", "written", "unchanged",
    "removed", "kept", "files", "written_files", "rewritten_files",
    "removed_files", "kept_files", "warnings", "dropped", "dry_run", "index",
    "seconds"}``: ``written``/``unchanged``/``removed``/``kept`` count
    conversation files (html pages each count; the index is not counted except
    in ``kept``); ``files`` lists every conversation file (relative to
    ``out_dir``) in index order; ``written_files`` holds new and rewritten
    files, ``rewritten_files`` those that replaced a file; ``kept_files`` is a
    list of ``{"path", "reason"}``: files left as they were (edited, not ours,
    a symlink); ``dropped`` counts conversations of the earlier export that
    this one no longer selects; ``index`` is the index file (``None`` for jsonl).

    ``dry_run``: decide everything, write and remove nothing. ``force``:
    replace or remove edited or unknown files too (never through a symlink).
    ``confirm(dropped, held)`` is asked before a run that would drop more than
    half of the conversations an earlier export holds; False raises
    ExportRefused with nothing changed."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ExportError(f"page size must be 1 or more, not {page_size!r}")
    t0 = time.monotonic()
    root = Path(out_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise ExportError(f"{root} exists and is not a folder")
    # select first: a filter the archive rejects leaves no trace, not even the folder
    summaries = select(archive, query=query, provider=provider, since=since, until=until, project=project)
    root = root.resolve()

    manifest, warnings = _load_manifest(root) if root.is_dir() else ({}, [])
    all_convs: dict[str, Any] = manifest.get("conversations", {})
    old_convs = all_convs if manifest.get("format") == fmt else {}
    old_extra: dict[str, dict[str, Any]] = manifest.get("extra", {})
    old_files = {f["path"]: f for rec in all_convs.values() for f in rec["files"]}
    old_files.update(old_extra)
    old_files.update(manifest.get("kept", {}))

    selected = {s["id"] for s in summaries}
    dropped = sum(1 for cid in all_convs if cid not in selected)
    if 2 * dropped > len(all_convs) and not dry_run and confirm is not None and not confirm(dropped, len(all_convs)):
        raise ExportRefused(dropped, len(all_convs), root)
    if not dry_run and not root.exists():
        try:
            private_dirs(root)
        except OSError as e:
            raise ExportError(f"cannot create {root}: {e.strerror or e}") from e

    files = _Files(root, old_files, force=force, dry_run=dry_run)
    if fmt == "jsonl":
        new_convs, listed, index_rel = _export_jsonl(archive, files, summaries, progress)
    else:
        new_convs, listed, index_rel = _export_files(archive, files, summaries, fmt, old_convs, page_size, progress)

    # what earlier runs wrote and this one does not: remove (only files recorded, unchanged)
    removed = files.remove(sorted(rel for rel in old_files if rel not in files.targets and rel != MANIFEST))
    extra_rel = index_rel or JSONL_NAME
    new_manifest = {
        "version": MANIFEST_VERSION,
        "generator": "polylogue export",
        "format": fmt,
        "render_version": RENDER_VERSION,
        "page_size": page_size,
        "conversations": new_convs,
        "extra": {extra_rel: files.new[extra_rel]} if extra_rel in files.new else {},
        "kept": files.carried,
    }
    if not dry_run:
        warnings += _write_manifest(root, new_manifest)

    old_indexes = set(old_extra) - {JSONL_NAME}
    return {
        "format": fmt,
        "out": str(root),
        "dry_run": dry_run,
        "conversations": len(summaries),
        "written": len(files.written),
        "unchanged": len(files.unchanged),
        "removed": sum(1 for r in removed if r not in old_indexes),
        "kept": len(files.kept),
        "dropped": dropped,
        "files": listed,
        "written_files": files.written,
        "rewritten_files": files.rewritten,
        "removed_files": removed,
        "kept_files": files.kept,
        "warnings": warnings,
        "index": index_rel,
        "seconds": round(time.monotonic() - t0, 3),
    }


def _export_jsonl(archive, files: _Files, summaries, progress) -> tuple[dict, list[str], None]:
    from .render.json import conversation_dict

    total = len(summaries)

    def lines() -> Iterator[bytes]:
        for i, s in enumerate(summaries, 1):
            conv = archive.conversation(s["id"])
            yield orjson.dumps(conversation_dict(conv), option=orjson.OPT_NON_STR_KEYS) + b"\n"
            if progress:
                progress(i, total, s["id"])

    files.put_stream(JSONL_NAME, lines())
    # the ids are recorded so that a later run knows what share of the export it would drop
    return {s["id"]: {"files": []} for s in summaries}, [JSONL_NAME], None


def _export_files(archive, files: _Files, summaries, fmt, old_convs, page_size, progress):
    names = assign_names(summaries)
    new_convs: dict[str, Any] = {}
    listed: list[str] = []
    entries: list[dict[str, Any]] = []
    for i, s in enumerate(summaries, 1):
        cid = s["id"]
        base = names[cid]
        key = _fast_key(fmt, s, base, page_size)
        rec = old_convs.get(cid) or {}
        old_paths = [f["path"] for f in rec.get("files", [])]
        if key and rec.get("key") == key and old_paths and all(files.intact(rel) for rel in old_paths):
            for rel in old_paths:
                files.keep(rel)
            conv_files = old_paths
        else:
            conv = archive.conversation(cid)
            conv_files = []
            for rel, data in _conversation_files(fmt, conv, base, page_size=page_size):
                files.put(rel, data)
                conv_files.append(rel)
        ours = [{"path": rel, **files.new[rel]} for rel in conv_files if rel in files.new]
        # a kept file is not ours: no fast path for this conversation until it is again
        new_convs[cid] = {"files": ours, "key": key if len(ours) == len(conv_files) else None}
        listed += conv_files
        entries.append({**s, "file": conv_files[0], "href": conv_files[0], "pages": len(conv_files)})
        if progress:
            progress(i, len(summaries), cid)
    index_rel = INDEX_NAMES[fmt]
    files.put(index_rel, _index(fmt, entries), count=False)
    return new_convs, listed, index_rel


def _write_manifest(root: Path, manifest: dict[str, Any]) -> list[str]:
    problem = _unsafe(root, MANIFEST)
    if problem:
        return [f"did not record the export in {MANIFEST}: {problem}"]
    data = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    if _file_sha(root / MANIFEST) != _sha(data):  # an unchanged export leaves the manifest alone too
        try:
            write_atomic(root / MANIFEST, data)
        except OSError as e:
            raise ExportError(f"cannot write {root / MANIFEST}: {e.strerror or e}") from e
    return []


def _fast_key(fmt: str, summary: dict[str, Any], base: str, page_size: int) -> str | None:
    """A key that changes whenever the rendered files could: only when the
    archive gives a content hash for the conversation (summary ``hash``)."""
    h = summary.get("hash")
    if h is None:
        return None
    parts = (
        RENDER_VERSION,
        fmt,
        page_size if fmt == "html" else "",
        base,
        h,
        summary.get("updated_at"),
        summary.get("title"),
        summary.get("message_count"),
    )
    return _sha(orjson.dumps(parts, option=orjson.OPT_NON_STR_KEYS, default=str))
