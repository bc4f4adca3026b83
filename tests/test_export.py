"""Export (markdown, html, json, jsonl, obsidian) and the HTML/Obsidian renderers.

The archive is built from the repo's examples/ (all six providers); XSS
payloads come from tests/xss_payloads.py and ride in Conversations built
directly from the models."""

from __future__ import annotations

import json
import re
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import EXAMPLES
from hypothesis import example, given, settings
from hypothesis import strategies as st
from xss_payloads import ACTIVE, PAYLOADS, Scan, assert_safe_html, conversation, visible

from polylogue.api import Archive
from polylogue.export import FORMATS, MANIFEST, ExportError, export, slugify
from polylogue.models import Conversation, Message, text, thinking, tool_result, tool_use
from polylogue.render import html as html_render
from polylogue.render import obsidian
from polylogue.render.json import conversation_dict
from polylogue.render.markdown import fence

PROVIDERS = ["chatgpt", "claude", "claude-code", "codex", "gemini", "gemini-cli"]
EXT = {"markdown": ".md", "obsidian": ".md", "json": ".json", "html": ".html"}
INDEX = {"markdown": "index.md", "obsidian": "index.md", "json": "index.json", "html": "index.html"}
NAME_RE = re.compile(
    r"^(?P<provider>[a-z-]+)/(?P<day>\d{4}-\d{2}-\d{2}|undated)-(?P<slug>[\w-]+)-(?P<h>[0-9a-f]{8})"
    r"(?:-p(?P<page>\d+))?(?P<ext>\.\w+)$"
)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    a = Archive(tmp_path_factory.mktemp("archive"))
    a.sync([EXAMPLES])
    yield a
    a.close()


def _ids(a: Archive, provider: str | None = None) -> list[str]:
    return [s["id"] for s in a.list(provider=provider, limit=10_000)]


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _files(manifest: dict, cid: str) -> list[str]:
    return [f["path"] for f in manifest["conversations"][cid]["files"]]


def front_matter(md: str) -> dict:
    """A YAML-ish reader for our front matter: scalars, "quoted" (JSON escapes) and - lists."""
    assert md.startswith("---\n")
    block = md[4 : md.index("\n---\n", 4)]
    out: dict = {}
    key = None
    for line in block.split("\n"):
        if line.startswith("  - "):
            out[key].append(_scalar(line[4:]))
            continue
        m = re.fullmatch(r"([a-z_]+):(?: (.*))?", line)
        assert m, f"not a YAML key line: {line!r}"
        key, value = m.group(1), m.group(2)
        out[key] = [] if value is None else _scalar(value)
    return out


def _scalar(v: str):
    if v.startswith('"'):
        assert v.endswith('"') and len(v) >= 2
        return json.loads(v)  # our double-quoted YAML is also a JSON string
    if v == "[]":
        return []
    assert not re.search(r"[:#'\"\[\]{}]\s", v + " ") or re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", v), v
    return int(v) if v.isdigit() else v


# ------------------------------------------------------------------ every format, every provider


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_export_each_format_each_provider(archive, tmp_path, fmt, provider):
    out = tmp_path / "out"
    report = export(archive, out, fmt=fmt, provider=provider)
    ids = _ids(archive, provider)
    assert ids and report["conversations"] == len(ids)
    assert report["removed"] == 0 and report["unchanged"] == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for p in out.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    assert not [p for p in out.rglob("*.tmp")]
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == fmt

    if fmt == "jsonl":
        assert report["files"] == ["conversations.jsonl"] and report["written"] == 1 and report["index"] is None
        lines = (out / "conversations.jsonl").read_text().splitlines()
        assert len(lines) == len(ids)
        got = {}
        for line in lines:
            d = json.loads(line)
            got[d["id"]] = d
        assert set(got) == set(ids)
        for cid, d in got.items():
            conv = archive.conversation(cid)
            assert d == json.loads(json.dumps(conversation_dict(conv)))  # lossless: equal to the canonical dict
            assert d["message_count"] == len(conv.messages) == len(d["messages"])
            assert [len(m["blocks"]) for m in d["messages"]] == [len(m.blocks) for m in conv.messages]
            assert [b["type"] for m in d["messages"] for b in m["blocks"]] == [b.type for _, b in conv.iter_blocks()]
        return

    assert report["written"] == len(ids) == len(report["files"])
    assert report["index"] == INDEX[fmt] and (out / INDEX[fmt]).is_file()
    index_text = (out / INDEX[fmt]).read_text()
    by_file = {}
    for rel in report["files"]:
        m = NAME_RE.match(rel)
        assert m, rel
        assert m["provider"] == provider and m["ext"] == EXT[fmt] and m["page"] is None
        assert (out / rel).is_file()
        by_file[rel] = m
    assert len(set(report["files"])) == len(ids)

    for cid in ids:
        conv = archive.conversation(cid)
        (rel,) = _files(manifest, cid)
        body = (out / rel).read_text()
        assert by_file[rel]["day"] == f"{conv.created_at:%Y-%m-%d}"
        assert by_file[rel]["slug"] == slugify(conv.title)
        if fmt == "json":
            d = json.loads(body)
            assert d["id"] == cid and d["message_count"] == len(conv.messages) == len(d["messages"])
            assert rel in [e["file"] for e in json.loads(index_text)]
        elif fmt == "markdown":
            assert body.startswith(f"# {conv.title}\n")
            assert f"`{cid}`" in body
            assert body.count("\n### ") == len(conv.messages)
            assert f"]({rel})" in index_text
        elif fmt == "obsidian":
            fm = front_matter(body)
            assert fm["id"] == cid and fm["provider"] == provider and fm["title"] == conv.title
            assert fm["messages"] == len(conv.messages)
            assert fm["tags"] == ["polylogue", f"polylogue/{provider}"]
            assert fm["models"] == conv.models
            if conv.project:
                assert fm["project"] == conv.project
            assert fm["created"] == conv.created_at.isoformat().replace("+00:00", "Z")
            assert body.count("\n### ") == len(conv.messages)
            assert body.count("> [!abstract]- Thinking") == len(conv.thinking())
            assert body.count("> [!example]- Tool: ") == len(conv.tool_calls())
            results = [b for _, b in conv.iter_blocks() if b.type == "tool_result"]
            assert body.count("> [!success]- ") + body.count("> [!failure]- ") == len(results)
            assert body.count("> [!note]- Context") == sum(m.context for m in conv.messages)
            assert f"]({rel})" in index_text
        elif fmt == "html":
            s = assert_safe_html(body, hrefs={"../index.html"})
            assert s.title.startswith(conv.title) and conv.title in s.all_text
            assert body.count('<article class="msg') == len(conv.messages)
            assert body.count('<details class="thinking">') == len(conv.thinking())
            assert body.count('<details class="tool-use">') == len(conv.tool_calls())
            assert sum(body.count(f'id="m{i}"') for i in range(1, len(conv.messages) + 1)) == len(conv.messages)
            assert f'href="{rel}"' in index_text
    if fmt == "html":
        assert_safe_html(index_text, hrefs=set(report["files"]))


def test_export_all_default_selection(archive, tmp_path):
    report = export(archive, tmp_path / "all", fmt="markdown")
    assert report["conversations"] == len(_ids(archive)) == 14
    assert {NAME_RE.match(f)["provider"] for f in report["files"]} == set(PROVIDERS)
    # index order: newest first, as the archive lists them
    manifest = json.loads((tmp_path / "all" / MANIFEST).read_text())
    assert report["files"] == [_files(manifest, cid)[0] for cid in _ids(archive)]


def test_export_by_query_pages_through_search(archive, tmp_path, monkeypatch):
    import polylogue.export as ex

    monkeypatch.setattr(ex, "PAGE_LIMIT", 2)  # force several search pages
    report = export(archive, tmp_path / "q", fmt="json", query="zanzibarquux")
    expected = {c["id"] for c in archive.search("zanzibarquux", limit=100).conversations}
    assert len(expected) >= 3
    manifest = json.loads((tmp_path / "q" / MANIFEST).read_text())
    assert set(manifest["conversations"]) == expected and report["conversations"] == len(expected)
    # a query with filters, and a filter-only selection through list() paging
    r2 = export(archive, tmp_path / "q2", fmt="json", query="zanzibarquux", provider="codex")
    assert {NAME_RE.match(f)["provider"] for f in r2["files"]} <= {"codex"}
    r3 = export(archive, tmp_path / "q3", fmt="json", provider=["claude", "chatgpt"])
    assert r3["conversations"] == len(_ids(archive, "claude")) + len(_ids(archive, "chatgpt"))
    r4 = export(archive, tmp_path / "q4", fmt="json", since="2026-01-01")
    assert r4["conversations"] == sum(1 for s in archive.list(limit=100) if s["updated_at"] >= "2026-01-01")
    r5 = export(archive, tmp_path / "q5", fmt="json", until="2025-12-31")
    assert r4["conversations"] + r5["conversations"] == 14


def test_unknown_format_and_bad_out_dir(archive, tmp_path):
    with pytest.raises(ExportError):
        export(archive, tmp_path / "x", fmt="pdf")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError):
        export(archive, tmp_path / "file", fmt="markdown")


# ------------------------------------------------------------------ incremental re-runs


@pytest.mark.parametrize("fmt", FORMATS)
def test_rerun_is_unchanged_and_keeps_mtimes(archive, tmp_path, fmt):
    out = tmp_path / "out"
    first = export(archive, out, fmt=fmt)
    before = _mtimes(out)
    again = export(archive, out, fmt=fmt)
    assert again["written"] == 0 and again["removed"] == 0
    assert again["unchanged"] == first["written"] and again["files"] == first["files"]
    assert _mtimes(out) == before  # nothing rewritten: conversation files, index and manifest


def _copy_examples(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES, src)
    return src


LEDGER = "claude-code/projects/-home-dev-src-ledgerlite/3f8d2b10-6c4e-4a7b-8e9f-0a1b2c3d4e5f.jsonl"
LEDGER_ID = "claude-code:3f8d2b10-6c4e-4a7b-8e9f-0a1b2c3d4e5f"


def _append_turn(path: Path) -> None:
    """A new user prompt and reply at the end of the ledgerlite session."""
    base = {
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/dev/src/ledgerlite",
        "sessionId": "3f8d2b10-6c4e-4a7b-8e9f-0a1b2c3d4e5f",
        "version": "1.0.95",
        "gitBranch": "main",
    }
    recs = [
        {
            **base,
            "parentUuid": "2a7e0000-0000-4000-8000-000000000004",
            "type": "user",
            "message": {"role": "user", "content": "What about tabs?"},
            "uuid": "2a7e0000-0000-4000-8000-000000000005",
            "timestamp": "2026-02-11T18:05:00.000Z",
        },
        {
            **base,
            "parentUuid": "2a7e0000-0000-4000-8000-000000000005",
            "type": "assistant",
            "message": {
                "model": "claude-sonnet-4-20250514",
                "id": "msg_01LedgerCCCC3333",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": "Use `delimiter='\\t'`."}],
                "usage": {"input_tokens": 5, "output_tokens": 9},
            },
            "uuid": "2a7e0000-0000-4000-8000-000000000006",
            "timestamp": "2026-02-11T18:05:09.000Z",
        },
    ]
    lines = path.read_text().rstrip("\n").split("\n")
    title = lines.pop()  # keep the custom-title record last
    lines += [json.dumps(r) for r in recs] + [title]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_changed_conversation_rewrites_only_its_file(tmp_path, fmt):
    src = _copy_examples(tmp_path)
    a = Archive(tmp_path / "archive")
    a.sync([src])
    out = tmp_path / "out"
    first = export(a, out, fmt=fmt)
    before = _mtimes(out)
    count = len(a.conversation(LEDGER_ID).messages)

    _append_turn(src / LEDGER)
    a.sync([src])
    assert len(a.conversation(LEDGER_ID).messages) == count + 2
    again = export(a, out, fmt=fmt)
    after = _mtimes(out)
    manifest = json.loads((out / MANIFEST).read_text())
    if fmt == "jsonl":
        assert again["written_files"] == ["conversations.jsonl"]
        changed = {"conversations.jsonl"}
        line = next(
            json.loads(x)
            for x in (out / "conversations.jsonl").read_text().splitlines()
            if json.loads(x)["id"] == LEDGER_ID
        )
        assert line["message_count"] == count + 2
    else:
        (ledger_file,) = _files(manifest, LEDGER_ID)
        assert again["written_files"] == [ledger_file] and again["written"] == 1
        assert again["unchanged"] == first["written"] - 1 and again["files"] == first["files"]
        assert "What about tabs?" in (out / ledger_file).read_text()
        changed = {ledger_file, INDEX[fmt]}  # the index shows the new message count
    assert set(after) == set(before)
    assert {k for k in after if after[k] != before[k]} - {MANIFEST} == changed
    a.close()


def test_removed_renamed_and_foreign_files(tmp_path):
    src = _copy_examples(tmp_path)
    a = Archive(tmp_path / "archive")
    a.sync([src])
    out = tmp_path / "out"
    first = export(a, out, fmt="markdown")
    mine = out / "notes.txt"
    mine.write_text("my own file")
    (out / "codex" / "keep.md").write_text("mine too")

    # narrower selection: files of the others go, files we did not write stay
    r = export(a, out, fmt="markdown", provider="codex")
    assert r["removed"] == first["written"] - r["unchanged"] and r["written"] == 0
    assert mine.read_text() == "my own file" and (out / "codex" / "keep.md").exists()
    assert not (out / "chatgpt").exists()  # emptied folders are removed
    assert sorted(p.name for p in (out / "codex").iterdir()) == sorted([Path(f).name for f in r["files"]] + ["keep.md"])

    # a renamed conversation (custom title) moves to a new file, the old one is removed
    r = export(a, out, fmt="markdown")
    path = src / LEDGER
    path.write_text(
        path.read_text().replace(
            '"customTitle":"Excel-friendly CSV export"', '"customTitle":"CSV for Excel: the sequel"'
        )
    )
    a.sync([src])
    r2 = export(a, out, fmt="markdown")
    assert r2["written"] == 1 and r2["removed"] == 1
    (old,) = r2["removed_files"]
    (new,) = r2["written_files"]
    assert "excel-friendly-csv-export" in old and "csv-for-excel-the-sequel" in new
    assert old[-11:] == new[-11:]  # same id hash
    assert not (out / old).exists() and (out / new).exists()

    # switching format into the same folder replaces the previous format's files
    r3 = export(a, out, fmt="json")
    assert r3["removed"] == r3["written"] == 14 and not list(out.rglob("index.md"))
    assert mine.exists()
    a.close()


def test_user_edited_files_are_kept_and_deleted_files_restored(archive, tmp_path):
    out = tmp_path / "out"
    r = export(archive, out, fmt="html")
    f1, f2 = out / r["files"][0], out / r["files"][1]
    original = f1.read_bytes()
    f1.write_text("edited")
    f2.unlink()
    again = export(archive, out, fmt="html")
    assert again["written_files"] == [r["files"][1]] and f2.exists()
    assert f1.read_text() == "edited"  # an edited export file is the user's now
    assert again["kept_files"] == [{"path": r["files"][0], "reason": "changed since polylogue wrote it"}]
    forced = export(archive, out, fmt="html", force=True)
    assert forced["rewritten_files"] == [r["files"][0]] and f1.read_bytes() == original


def test_missing_manifest_does_not_rewrite_identical_files(archive, tmp_path):
    out = tmp_path / "out"
    export(archive, out, fmt="obsidian")
    before = _mtimes(out)
    (out / MANIFEST).unlink()
    r = export(archive, out, fmt="obsidian")
    assert r["written"] == 0 and r["unchanged"] == 14
    after = _mtimes(out)
    assert {k: v for k, v in after.items() if k != MANIFEST} == {k: v for k, v in before.items() if k != MANIFEST}


def test_tampered_manifest_never_deletes_outside(archive, tmp_path):
    out = tmp_path / "out"
    export(archive, out, fmt="markdown")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    m = json.loads((out / MANIFEST).read_text())
    m["conversations"]["evil"] = {
        "files": [
            {"path": "../victim.txt", "sha": "0"},
            {"path": str(victim)},
            {"path": "a/../../victim.txt"},
            {"nopath": 1},
            "junk",
        ]
    }
    m["extra"]["../victim.txt"] = {"sha": "0"}
    (out / MANIFEST).write_text(json.dumps(m))
    export(archive, out, fmt="markdown")
    assert victim.read_text() == "keep"


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not json",
        b"[]",
        b'{"version": 1, "conversations": []}',
        b'{"version": 1, "format": "markdown", "conversations": {"a": 1}, "extra": 2}',
        b'{"version": 99}',
    ],
)
def test_corrupt_manifest_is_ignored(archive, tmp_path, garbage):
    out = tmp_path / "out"
    export(archive, out, fmt="markdown")
    (out / MANIFEST).write_bytes(garbage)
    r = export(archive, out, fmt="markdown")
    assert r["written"] == 0 and r["unchanged"] == 14
    assert json.loads((out / MANIFEST).read_text())["version"] == 1


def test_progress_is_reported(archive, tmp_path):
    seen = []
    export(archive, tmp_path / "out", fmt="jsonl", progress=lambda done, total, cid: seen.append((done, total, cid)))
    assert [d for d, _, _ in seen] == list(range(1, 15)) and {t for _, t, _ in seen} == {14}
    assert [c for _, _, c in seen] == _ids(archive)


def test_fast_path_uses_archive_hash_when_listed(archive, tmp_path, monkeypatch):
    """When summaries carry the archive's content hash, unchanged conversations are not even loaded."""
    real_list = Archive.list

    def list_with_hash(self, **kw):
        return [{**s, "hash": f"h-{s['id']}-{s['message_count']}"} for s in real_list(self, **kw)]

    monkeypatch.setattr(Archive, "list", list_with_hash)
    out = tmp_path / "out"
    export(archive, out, fmt="html")
    loaded = []
    real_conv = Archive.conversation
    monkeypatch.setattr(Archive, "conversation", lambda self, i, **kw: loaded.append(i) or real_conv(self, i, **kw))
    r = export(archive, out, fmt="html")
    assert r["written"] == 0 and r["unchanged"] == 14 and loaded == []
    # a file changed behind our back is noticed (size/mtime differ), re-rendered, and kept as it is
    f = out / r["files"][0]
    f.write_text("x")
    r = export(archive, out, fmt="html")
    assert r["written_files"] == [] and len(loaded) == 1 and f.read_text() == "x"
    assert [k["path"] for k in r["kept_files"]] == [r["files"][0]]


# ------------------------------------------------------------------ names


def test_slugify_and_stable_unique_names():
    assert slugify("Fix the flaky checkout_test: now!") == "fix-the-flaky-checkout-test-now"
    assert slugify("") == slugify(None) == "untitled"
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("Ünïcødé — 日本語のタイトル") == "ünïcødé-日本語のタイトル"
    assert len(slugify("word " * 100).encode()) <= 80
    assert len(slugify("x" * 500).encode()) <= 80
    assert len(slugify("日" * 500).encode()) <= 80


def test_same_title_same_day_get_distinct_files(tmp_path):
    from polylogue.export import assign_names, base_name

    s = [
        {"id": f"chatgpt:{i}", "provider": "chatgpt", "title": "Hello", "created_at": "2025-01-01T00:00:00Z"}
        for i in range(50)
    ]
    names = assign_names(s)
    assert len(set(names.values())) == 50
    assert names == assign_names(list(reversed(s)))  # stable regardless of order
    assert base_name({"id": "a:b", "provider": "../x", "title": "/etc/x", "created_at": None}).startswith(
        "x/undated-etc-x-"
    )


# ------------------------------------------------------------------ html paging


def _long_conversation(n: int) -> Conversation:
    t0 = datetime(2025, 5, 1, tzinfo=UTC)
    msgs = []
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        blocks = [text(f"message number {i + 1}")]
        if i % 10 == 1:
            blocks = [thinking(f"thought {i + 1}"), tool_use(f"c{i}", "Bash", {"command": f"echo {i + 1}"})]
        elif i % 10 == 2:
            blocks = [tool_result(f"c{i - 1}", f"out {i + 1}"), text(f"message number {i + 1}")]
        msgs.append(Message(f"id{i + 1}", role, blocks, timestamp=t0 + timedelta(seconds=i)))
    return Conversation("claude-code", "long-session", "A long session", t0, t0 + timedelta(seconds=n), msgs)


def test_html_pages_1200_messages():
    conv = _long_conversation(1200)
    pages = list(html_render.pages(conv, 500, base="long", index_href="../index.html"))
    assert [name for name, _ in pages] == ["long.html", "long-p2.html", "long-p3.html"]
    names = {name for name, _ in pages}
    seen = []
    for k, (name, doc) in enumerate(pages, 1):
        s = assert_safe_html(doc, hrefs=names | {"../index.html"})
        hrefs = [a["href"] for t, a in s.elements if t == "a"]
        assert "../index.html" in hrefs
        assert set(hrefs) - {"../index.html"} == names - {name}  # every other page, not itself
        prev_next = re.findall(r'<a href="([^"]+)">(← Previous|Next →)</a>', doc)
        expected = ([(html_render.page_name("long", k - 1), "← Previous")] if k > 1 else []) + (
            [(html_render.page_name("long", k + 1), "Next →")] if k < 3 else []
        )
        assert prev_next[: len(expected)] == expected  # top navigation
        assert doc.count("<nav") == 2 and f"page {k} of 3" in doc
        ids = [int(x) for x in re.findall(r'<article class="msg[^"]*" id="m(\d+)"', doc)]
        seen += ids
        assert len(ids) == (500 if k < 3 else 200)
        assert f"message number {ids[0]}<" in doc and f"message number {ids[-1]}<" in doc
    assert seen == list(range(1, 1201))
    # single page when it fits, and page=None renders everything
    assert len(list(html_render.pages(conv, 2000))) == 1
    whole = html_render.render(conv)
    assert whole.count('<article class="msg') == 1200 and "<nav" not in whole


def test_html_paged_export_links_resolve(archive, tmp_path):
    out = tmp_path / "out"
    r = export(archive, out, fmt="html", provider="codex", page_size=5)
    manifest = json.loads((out / MANIFEST).read_text())
    files = _files(manifest, "codex:019cf2a1-7c3e-7d41-9b8a-2f6e4c1d0a11")
    assert len(files) == 4  # 20 messages, 5 per page
    assert [NAME_RE.match(f)["page"] for f in files] == [None, "2", "3", "4"]
    for rel in r["files"]:
        doc = (out / rel).read_text()
        for href in re.findall(r'href="([^"]+)"', doc):
            assert (out / rel).parent.joinpath(href).resolve().is_file(), (rel, href)
    index = (out / "index.html").read_text()
    assert "4 pages" in index
    for href in re.findall(r'href="([^"]+)"', index):
        assert (out / href).is_file()
    assert export(archive, out, fmt="html", provider="codex", page_size=5)["written"] == 0


# ------------------------------------------------------------------ XSS: static checks

ALL_PAYLOADS = PAYLOADS + ACTIVE


@pytest.mark.parametrize("payload", ALL_PAYLOADS, ids=range(len(ALL_PAYLOADS)))
def test_html_escapes_payload_everywhere(payload):
    conv = conversation(payload)
    for doc in (
        html_render.render(conv),
        html_render.render(conv, page=1, page_size=2, base="b", index_href="../index.html"),
    ):
        s = assert_safe_html(doc, hrefs={"../index.html", "b-p2.html", "b-p3.html"})
        assert visible(payload, s.title)
        assert visible(payload, s.all_text)
        assert "<script" not in doc.lower()
        assert "javascript:" not in re.sub(r">[^<]*<", "><", doc).lower()  # only ever inside text
    # ids, call ids, parent, provider id, meta keys are shown as text too
    text_all = Scan(html_render.render(conv)).all_text
    for needle in ("call-", "m4-", "parent-", "claude-code:x-"):
        assert visible(needle + payload, text_all), needle


@pytest.mark.parametrize("payload", ALL_PAYLOADS, ids=range(len(ALL_PAYLOADS)))
def test_html_index_escapes_and_never_links_urls(payload):
    entries = [
        {
            "id": payload,
            "title": payload,
            "provider": payload,
            "updated_at": payload,
            "message_count": payload,
            "href": "chatgpt/ok.html",
            "pages": 2,
        },
        {"id": "b", "title": payload, "provider": "x", "href": payload},
        {"id": "c", "title": "js", "provider": "x", "href": "javascript:alert(1)"},
        {"id": "d", "title": "abs", "provider": "x", "href": "/etc/passwd"},
        {"id": "e", "title": "scheme", "provider": "x", "href": "http://evil.example/"},
        {"id": "f", "title": "data", "provider": "x", "href": "data:text/html,<script>alert(1)</script>"},
    ]
    doc = html_render.index(entries, title=payload)
    s = assert_safe_html(doc, hrefs={"chatgpt/ok.html"})
    assert [a["href"] for t, a in s.elements if t == "a"] == ["chatgpt/ok.html"]
    assert visible(payload, s.title) and visible(payload, s.all_text)


def test_code_blocks_and_inline_code():
    doc = html_render.render(
        Conversation(
            "x",
            "1",
            "t",
            messages=[
                Message(
                    "1", "user", [text("see `a<b>` and\n```python\nif a < b:\n    print('</code></pre>')\n```\ndone")]
                )
            ],
        )
    )
    assert "<code>a&lt;b&gt;</code>" in doc
    assert (
        '<pre><code class="language-python">if a &lt; b:\n    print(&#x27;&lt;/code&gt;&lt;/pre&gt;&#x27;)</code></pre>'
    ) in doc
    # a hostile fence language never reaches the class attribute
    doc = html_render.render(
        Conversation("x", "1", "t", messages=[Message("1", "user", [text('```x" onmouseover="alert(1)\ncode\n```')])])
    )
    assert_safe_html(doc)
    assert 'class="language-' not in doc and "<pre><code>code</code></pre>" in doc


def test_html_options_and_markers():
    conv = conversation("plain")
    doc = html_render.render(conv, thinking=False, tools=False)
    assert "(thinking hidden)" in doc and '"command"' not in doc
    doc = html_render.render(conv)
    assert '<details class="thinking">' in doc and '<details class="tool-use">' in doc
    assert '<article class="msg role-user branch sidechain"' in doc
    assert '<article class="msg role-other"' in doc  # an unknown role never reaches the class attribute
    assert "branch" in doc and "other branch" in doc and "sidechain" in doc
    assert '<details class="context">' in doc
    assert '<details class="tool-result error">' in doc
    assert "<summary>Result: <code>plain</code></summary>" in doc  # result names its call


# ------------------------------------------------------------------ Obsidian


@pytest.mark.parametrize(
    "title",
    [
        'He said "hi": then left',
        "key: value # not a comment",
        "---\nid: fake\n---",
        "- list?",
        "[x] {y} & *z* | !",
        "'single' and \\backslash\\",
        "tab\there\rcr\x00nul\x07bell",
        "\u2028line\u2029para\ufeff\x85",
        "",
        "yes",
        "null",
        "1e3",
        "@at `tick`",
        "é 日本語 🎉",
    ]
    + PAYLOADS[:12],
)
def test_obsidian_front_matter_is_safely_quoted(title):
    conv = Conversation(
        "claude",
        "p1",
        title,
        datetime(2025, 1, 1, tzinfo=UTC),
        None,
        [Message("1", "user", [text("hi")])],
        models=['m"1: x', "m2"],
        project=title,
    )
    md = obsidian.render(conv)
    fm = front_matter(md)
    assert fm["title"] == (title or "claude:p1") and fm.get("project") == (title or None)
    assert fm["models"] == ['m"1: x', "m2"] and fm["id"] == "claude:p1"
    assert md.count("\n---\n") == 1 and md.startswith("---\n")  # the front matter closes once
    head = md[: md.index("\n---\n")]
    assert all(not line.startswith("---") for line in head.split("\n")[1:])


def test_obsidian_callouts_and_escaping():
    conv = conversation("<b>x</b>: Vec<T>")
    md = obsidian.render(conv)
    assert "> [!abstract]- Thinking" in md
    assert "> [!example]- Tool: &lt;b>x&lt;/b>: Vec&lt;T>" in md and "> [!example]- Tool: Bash" in md
    assert "> [!success]- Result: &lt;b>x&lt;/b>: Vec&lt;T>" in md and "> [!failure]- Error: Bash" in md
    assert "> [!note]- Context" in md and "> [!info]- Attachment: " in md
    body = md[md.index("\n---\n") + 5 :]
    # outside code, < is an entity; inside fences and code spans the text is kept as typed
    assert "<b>" not in re.sub(r"```[\s\S]*?```|`[^`\n]*`", "", body.replace("> ", ""))
    assert "`<b>x</b>: Vec<T>`" in md
    assert '"command": "<b>x</b>: Vec<T>"' in md
    multi = obsidian.render(
        Conversation(
            "x",
            "1",
            "t",
            messages=[
                Message(
                    "1",
                    "assistant",
                    [tool_use("c1", "Evil\n> [!danger] injected\n# heading", {"a": "```\nfence\n```"})],
                )
            ],
        )
    )
    assert "> [!example]- Tool: Evil > [!danger] injected # heading" in multi
    assert "\n> ````json\n" in multi  # fence longer than the content's backtick runs
    hidden = obsidian.render(conv, thinking=False, tools=False)
    assert "*(thinking hidden)*" in hidden and '"command"' not in hidden


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="`a\n ", max_size=600), st.sampled_from(["", "json"]))
@example("a`" * 70 + "`````", "")  # the longest run after many short ones
@example("x" * 5000 + "````" + "y" * 5000, "json")
def test_fence_is_longer_than_any_backtick_run_in_the_body(body, lang):
    """Markdown and Obsidian fence code the same way: three backticks, or one
    more than the longest run inside (so no output can close its fence early)."""
    longest = max((len(r) for r in re.findall(r"`+", body)), default=0)
    out = fence(body, lang)
    ticks = "`" * max(3, longest + 1)
    assert out == f"{ticks}{lang}\n{body}\n{ticks}"
