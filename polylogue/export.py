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
renamed, deleted, or outside the new filters) are removed; files polylogue did
not write are never touched. The output folder mirrors the selection.

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

from .errors import PolylogueError

FORMATS = ("markdown", "html", "json", "jsonl", "obsidian")
EXTENSIONS = {"markdown": ".md", "obsidian": ".md", "json": ".json", "html": ".html"}
INDEX_NAMES = {"markdown": "index.md", "obsidian": "index.md", "json": "index.json", "html": "index.html"}
JSONL_NAME = "conversations.jsonl"
MANIFEST = ".polylogue-export.json"
MANIFEST_VERSION = 1
# bump when a renderer's output changes in a way the fast path (archive hash) must not hide
RENDER_VERSION = 1
PAGE_LIMIT = 500  # summaries fetched per Archive.list / Archive.search call

Progress = Callable[[int, int, str], None]


class ExportError(PolylogueError, ValueError):
    """A bad format or output folder (the CLI turns it into exit code 1)."""


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


def _mkdirs(root: Path, rel_dir: Path) -> None:
    d = root
    for part in rel_dir.parts:
        d = d / part
        if not d.is_dir():
            d.mkdir(mode=0o700)


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


def _tmp_in(directory: Path, name: str) -> tuple[int, str]:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    os.fchmod(fd, 0o600)
    return fd, tmp


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = _tmp_in(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class _Files:
    """Writes files under ``root`` only when their content changed."""

    def __init__(self, root: Path, old: dict[str, dict[str, Any]]):
        self.root = root
        self.old = old  # rel -> {"sha", "size", "mtime_ns"}
        self.new: dict[str, dict[str, Any]] = {}
        self.written: list[str] = []
        self.unchanged: list[str] = []

    def _stat(self, rel: str) -> dict[str, Any] | None:
        try:
            st = os.lstat(self.root / rel)
        except OSError:
            return None
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns} if stat.S_ISREG(st.st_mode) else None

    def intact(self, rel: str) -> bool:
        """The file is still what the last run wrote (same size and mtime)."""
        rec, st = self.old.get(rel), self._stat(rel)
        return bool(rec and st and rec.get("size") == st["size"] and rec.get("mtime_ns") == st["mtime_ns"])

    def keep(self, rel: str) -> None:
        self.new[rel] = self.old[rel]
        self.unchanged.append(rel)

    def put(self, rel: str, data: bytes, *, count: bool = True) -> bool:
        sha = _sha(data)
        path = self.root / rel
        rec = self.old.get(rel)
        same = (rec and rec.get("sha") == sha and self.intact(rel)) or (
            self._stat(rel) is not None and self._stat(rel)["size"] == len(data) and _file_sha(path) == sha
        )
        if not same:
            _mkdirs(self.root, Path(rel).parent)
            write_atomic(path, data)
        st = self._stat(rel) or {}
        self.new[rel] = {"sha": sha, **st}
        if count:
            (self.unchanged if same else self.written).append(rel)
        return not same

    def put_stream(self, rel: str, chunks: Iterator[bytes]) -> bool:
        """Stream to a temp file, then keep it only when it differs."""
        path = self.root / rel
        _mkdirs(self.root, Path(rel).parent)
        fd, tmp = _tmp_in(path.parent, path.name)
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
            sha = h.hexdigest()
            rec = self.old.get(rel)
            st = self._stat(rel)
            same = (rec and rec.get("sha") == sha and self.intact(rel)) or (
                st is not None and st["size"] == size and _file_sha(path) == sha
            )
            if same:
                os.unlink(tmp)
            else:
                os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.new[rel] = {"sha": sha, **(self._stat(rel) or {})}
        (self.unchanged if same else self.written).append(rel)
        return not same


def _inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` when rel is a plain relative path that stays inside root."""
    if not rel or rel.startswith(("/", "\\")) or "\\" in rel or "\0" in rel:
        return None
    parts = Path(rel).parts
    if any(p in ("..", ".", "") for p in parts) or Path(rel).is_absolute():
        return None
    return root.joinpath(*parts)


def _recorded(rec: Any) -> list[dict[str, Any]]:
    """The well-formed file records of a manifest entry (a hand-edited manifest
    cannot point outside the export)."""
    files = rec.get("files") if isinstance(rec, dict) else None
    return (
        [
            f
            for f in files or []
            if isinstance(f, dict) and isinstance(f.get("path"), str) and _inside(Path("/x"), f["path"]) is not None
        ]
        if isinstance(files, list)
        else []
    )


def _remove_stale(root: Path, stale: list[str]) -> list[str]:
    removed = []
    dirs: set[Path] = set()
    for rel in stale:
        path = _inside(root, rel)
        if path is None:
            continue
        try:
            if path.is_symlink() or not path.is_file():
                continue
            path.unlink()
            removed.append(rel)
            dirs.add(path.parent)
        except OSError:
            continue
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        while d != root and root in d.parents:
            try:
                d.rmdir()  # only when empty
            except OSError:
                break
            d = d.parent
    return removed


def _load_manifest(root: Path) -> dict[str, Any]:
    try:
        m = orjson.loads((root / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(m, dict) or m.get("version") != MANIFEST_VERSION:
        return {}
    return m


# ------------------------------------------------------------------ rendering


def _conversation_files(fmt: str, conv, base: str, *, page_size: int) -> list[tuple[str, bytes]]:
    if fmt == "markdown":
        from .render.markdown import render

        return [(base + ".md", render(conv).encode())]
    if fmt == "obsidian":
        from .render.obsidian import render

        return [(base + ".md", render(conv).encode())]
    if fmt == "json":
        from .render.json import render

        return [(base + ".json", (render(conv) + "\n").encode())]
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
            f"| {(e.get('updated_at') or e.get('created_at') or '')[:10]} | {_md_cell(e['provider'])} | "
            f"[{title}]({quote(e['file'], safe='/-._~')}) | {e.get('message_count', '')} |"
        )
    return ("\n".join(lines) + "\n").encode()


# ------------------------------------------------------------------ export


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
) -> dict[str, Any]:
    """Export the selected conversations (all when no filter) into ``out_dir``.

    Returns ``{"format", "out", "conversations", "written", "unchanged",
    "removed", "files", "written_files", "removed_files", "index", "seconds"}``:
    ``written``/``unchanged``/``removed`` count conversation files (html pages
    each count; the index is not counted); ``files`` lists every conversation
    file (relative to ``out_dir``) in index order; ``index`` is the index file
    (``None`` for jsonl)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    t0 = time.monotonic()
    root = Path(out_dir).expanduser()
    if not root.exists():
        root.mkdir(mode=0o700, parents=True)
    elif not root.is_dir():
        raise ExportError(f"{root} exists and is not a folder")
    root = root.resolve()

    summaries = select(archive, query=query, provider=provider, since=since, until=until, project=project)
    manifest = _load_manifest(root)
    all_convs = manifest.get("conversations") if isinstance(manifest.get("conversations"), dict) else {}
    old_convs: dict[str, Any] = all_convs if manifest.get("format") == fmt else {}
    old_files: dict[str, dict[str, Any]] = {}
    for rec in all_convs.values():
        for f in _recorded(rec):
            old_files[f["path"]] = f
    extra = manifest.get("extra") if isinstance(manifest.get("extra"), dict) else {}
    old_extra = {k: v for k, v in extra.items() if isinstance(v, dict) and _inside(root, k) is not None}
    files = _Files(root, {**old_files, **old_extra})
    new_convs: dict[str, Any] = {}
    total = len(summaries)
    entries: list[dict[str, Any]] = []

    if fmt == "jsonl":
        from .render.json import conversation_dict

        def lines() -> Iterator[bytes]:
            for i, s in enumerate(summaries, 1):
                conv = archive.conversation(s["id"])
                yield orjson.dumps(conversation_dict(conv), option=orjson.OPT_NON_STR_KEYS) + b"\n"
                if progress:
                    progress(i, total, s["id"])

        files.put_stream(JSONL_NAME, lines())
        extra_rel = JSONL_NAME
        listed = [JSONL_NAME]
        index_rel = None
    else:
        names = assign_names(summaries)
        listed = []
        for i, s in enumerate(summaries, 1):
            cid = s["id"]
            base = names[cid]
            key = _fast_key(fmt, s, base, page_size)
            rec = old_convs.get(cid)
            rec = rec if isinstance(rec, dict) else {}
            old_paths = [f["path"] for f in _recorded(rec)]
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
            new_convs[cid] = {"files": [{"path": rel, **files.new[rel]} for rel in conv_files], "key": key}
            listed += conv_files
            entries.append({**s, "file": conv_files[0], "href": conv_files[0], "pages": len(conv_files)})
            if progress:
                progress(i, total, cid)
        index_rel = extra_rel = INDEX_NAMES[fmt]
        files.put(index_rel, _index(fmt, entries), count=False)

    # what earlier runs wrote and this one did not: remove (only files we recorded)
    keep = set(files.new)
    stale = sorted(rel for rel in {**old_files, **old_extra} if rel not in keep and rel != MANIFEST)
    removed = _remove_stale(root, stale)
    old_indexes = set(old_extra) - {JSONL_NAME}

    new_manifest = {
        "version": MANIFEST_VERSION,
        "generator": "polylogue export",
        "format": fmt,
        "render_version": RENDER_VERSION,
        "page_size": page_size,
        "conversations": new_convs,
        "extra": {extra_rel: files.new[extra_rel]},
    }
    data = orjson.dumps(new_manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    if _file_sha(root / MANIFEST) != _sha(data):  # an unchanged export leaves the manifest alone too
        write_atomic(root / MANIFEST, data)

    return {
        "format": fmt,
        "out": str(root),
        "conversations": total,
        "written": len(files.written),
        "unchanged": len(files.unchanged),
        "removed": sum(1 for r in removed if r not in old_indexes),
        "files": listed,
        "written_files": files.written,
        "removed_files": removed,
        "index": index_rel,
        "seconds": round(time.monotonic() - t0, 3),
    }


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
