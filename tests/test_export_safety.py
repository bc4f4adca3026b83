"""Exports that cannot hurt the user (issue 18, items 1-4 and 22).

- nothing is written or removed outside --out: a symlinked folder is never
  followed, the manifest is untrusted input;
- only files the manifest recorded, still holding the recorded bytes, are
  replaced or removed; edited and foreign files are kept and reported;
- --dry-run changes nothing; dropping more than half of an export asks first
  (refused without a terminal unless --yes); --page-size below 1 is rejected;
- Markdown and Obsidian output carries no live HTML, link, image or embed from
  a conversation: the XSS corpus (tests/xss_payloads.py) is rendered by a
  real Markdown engine that lets every link through, and the HTML it makes is
  checked element by element.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from xss_payloads import ACTIVE, PAYLOADS, Scan, conversation

from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.export import MANIFEST, ExportError, ExportRefused, _index, export
from polylogue.models import Conversation, Message, text, thinking, tool_use
from polylogue.render import markdown, obsidian

CHANGED = "changed since polylogue wrote it"
FOREIGN = "not written by polylogue"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("safety") / "archive"
    a = Archive(h)
    a.sync([EXAMPLES])
    a.close()
    return h


@pytest.fixture
def archive(home):
    a = Archive(home)
    yield a
    a.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under root (symlinks not followed): bytes, mtime, mode."""
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            st = os.lstat(p)
            data = os.readlink(p).encode() if stat.S_ISLNK(st.st_mode) else p.read_bytes()
            out[str(p.relative_to(root))] = (data, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return out


def _cli(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), *args])


# ------------------------------------------------------------------ item 1: never outside --out


def test_symlinked_folder_is_not_followed_and_its_files_survive(archive, tmp_path):
    """The issue's repro: o/claude-code -> v, a manifest listing claude-code/secret."""
    out, v = tmp_path / "o", tmp_path / "v"
    out.mkdir()
    v.mkdir()
    (v / "secret").write_text("s\n")
    (out / "claude-code").symlink_to(v)
    manifest = {
        "version": 1,
        "format": "markdown",
        "conversations": {"x": {"files": [{"path": "claude-code/secret", "sha": _sha(b"s\n")}], "key": None}},
        "extra": {},
    }
    (out / MANIFEST).write_text(json.dumps(manifest))
    r = export(archive, out, fmt="markdown", provider="claude-code")
    assert sorted(p.name for p in v.iterdir()) == ["secret"] and (v / "secret").read_text() == "s\n"
    assert r["removed_files"] == [] and r["written_files"] == []
    # the manifest names a file no export writes, so it is ignored whole: the secret is
    # never a candidate; the three conversation files inside the link are kept unwritten
    assert r["conversations"] == 3 and r["kept"] == 3
    assert {k["reason"] for k in r["kept_files"]} == {"inside a symlinked folder (claude-code)"}
    assert (out / "index.md").is_file()  # what is safe is still written
    # the manifest no longer claims the secret
    assert "claude-code/secret" not in (out / MANIFEST).read_text()


def test_symlinked_file_and_manifest_are_not_followed(archive, tmp_path):
    out = tmp_path / "out"
    first = export(archive, out, fmt="markdown", provider="codex")
    outside = tmp_path / "outside.md"
    outside.write_text("outside")
    target = out / first["files"][0]
    target.unlink()
    target.symlink_to(outside)
    r = export(archive, out, fmt="markdown", provider="codex", force=True)  # not even with --force
    assert outside.read_text() == "outside" and target.is_symlink()
    assert r["kept_files"] == [{"path": first["files"][0], "reason": "a symlink (not followed)"}]
    # a manifest that is a symlink is not read
    real = out / MANIFEST
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(real.read_bytes())
    real.unlink()
    real.symlink_to(elsewhere)
    r = export(archive, out, fmt="markdown", provider="codex")
    assert any("not a regular file" in w for w in r["warnings"])


def test_a_bad_manifest_is_ignored_whole_and_never_used_for_deletions(archive, tmp_path):
    """One bad entry makes the whole manifest untrusted: the good-looking entry
    naming the user's own file (with its right hash) removes nothing."""
    out = tmp_path / "out"
    export(archive, out, fmt="markdown", provider="codex")
    mine = out / "notes.md"
    mine.write_text("my notes")
    m = json.loads((out / MANIFEST).read_text())
    m["conversations"]["gone"] = {"files": [{"path": "notes.md", "sha": _sha(b"my notes")}], "key": None}
    m["conversations"]["evil"] = {"files": [{"path": "../victim.txt", "sha": "0" * 64}], "key": None}
    (out / MANIFEST).write_text(json.dumps(m))
    r = export(archive, out, fmt="markdown", provider="codex")
    assert mine.read_text() == "my notes" and r["removed_files"] == []
    assert r["warnings"] and "ignored .polylogue-export.json" in r["warnings"][0]
    assert r["unchanged"] == 2  # the conversation files are identical to the export: adopted, not rewritten


@pytest.mark.parametrize(
    "entry",
    [
        {"path": "/etc/passwd", "sha": "0" * 64},
        {"path": "a/../../x", "sha": "0" * 64},
        {"path": "..", "sha": "0" * 64},
        {"path": "a\\..\\x", "sha": "0" * 64},
        {"path": "a/\x1b]52;c;x\x07", "sha": "0" * 64},
        {"path": "codex/x.md"},
        {"path": "codex/x.md", "sha": "zz"},
        {"path": 3, "sha": "0" * 64},
        "codex/x.md",
    ],
)
def test_manifest_entries_must_be_plain_relative_paths_with_a_hash(archive, tmp_path, entry):
    out = tmp_path / "out"
    export(archive, out, fmt="markdown", provider="codex")
    m = json.loads((out / MANIFEST).read_text())
    m["conversations"]["bad"] = {"files": [entry]}
    (out / MANIFEST).write_text(json.dumps(m))
    r = export(archive, out, fmt="markdown", provider="codex")
    assert len(r["warnings"]) == 1 and "ignored" in r["warnings"][0]
    assert "\x1b" not in r["warnings"][0]


# ------------------------------------------------------------------ item 2: only our own, unchanged files


def test_users_index_md_in_a_vault_is_kept_with_its_mode(archive, tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir()
    index = vault / "index.md"
    index.write_text("mine\n")
    index.chmod(0o644)
    r = export(archive, vault, fmt="obsidian")
    assert index.read_text() == "mine\n" and stat.S_IMODE(index.stat().st_mode) == 0o644
    assert {"path": "index.md", "reason": FOREIGN} in r["kept_files"]
    assert r["written"] == 14
    again = export(archive, vault, fmt="obsidian")  # still the user's on every run
    assert index.read_text() == "mine\n" and again["kept_files"] == [{"path": "index.md", "reason": FOREIGN}]


def test_note_appended_to_an_obsidian_export_survives_a_rerun(archive, tmp_path):
    vault = tmp_path / "vault"
    first = export(archive, vault, fmt="obsidian")
    note = vault / first["files"][0]
    note.write_text(note.read_text() + "\nmy own thoughts\n")
    r = export(archive, vault, fmt="obsidian")
    assert note.read_text().endswith("my own thoughts\n")
    assert r["kept_files"] == [{"path": first["files"][0], "reason": CHANGED}] and r["written"] == 0
    forced = export(archive, vault, fmt="obsidian", force=True)
    assert "my own thoughts" not in note.read_text() and forced["rewritten_files"] == [first["files"][0]]


def test_edited_file_is_not_removed_when_its_conversation_leaves(archive, tmp_path):
    out = tmp_path / "out"
    first = export(archive, out, fmt="markdown", provider=["codex", "claude"])
    codex = [f for f in first["files"] if f.startswith("codex/")]
    edited = out / codex[0]
    edited.write_text("edited")
    r = export(archive, out, fmt="markdown", provider="claude")
    assert edited.read_text() == "edited" and not (out / codex[1]).exists()
    assert r["removed_files"] == [codex[1]] and r["kept_files"] == [{"path": codex[0], "reason": CHANGED}]
    r = export(archive, out, fmt="markdown", provider="claude", force=True)
    assert r["removed_files"] == [codex[0]] and not edited.exists()


def test_foreign_file_where_an_export_file_goes_is_kept(archive, tmp_path):
    out = tmp_path / "out"
    names = export(archive, tmp_path / "probe", fmt="json", provider="codex")["files"]
    (out / "codex").mkdir(parents=True)
    (out / names[0]).write_text("not ours")
    r = export(archive, out, fmt="json", provider="codex")
    assert (out / names[0]).read_text() == "not ours"
    assert r["kept_files"] == [{"path": names[0], "reason": FOREIGN}] and r["written_files"] == [names[1]]


def test_jsonl_edited_by_the_user_is_kept(archive, tmp_path):
    out = tmp_path / "out"
    export(archive, out, fmt="jsonl")
    f = out / "conversations.jsonl"
    f.write_text(f.read_text() + "{}\n")
    r = export(archive, out, fmt="jsonl")
    assert f.read_text().endswith("{}\n") and r["kept_files"] == [{"path": "conversations.jsonl", "reason": CHANGED}]
    assert not list(out.glob(".*.tmp"))


# ------------------------------------------------------------------ item 3: --dry-run and confirmation


def test_dry_run_changes_nothing_and_says_what_would_happen(archive, tmp_path):
    out = tmp_path / "out"
    r = export(archive, out, fmt="html", dry_run=True)
    assert not out.exists() and r["dry_run"] and r["written"] == 14 and r["rewritten_files"] == []
    export(archive, out, fmt="markdown", provider=["codex", "claude"])
    codex = sorted((out / "codex").iterdir())
    codex[0].write_text("edited")
    (out / "claude" / os.listdir(out / "claude")[0]).write_text("edited too")
    before = _snapshot(out)
    r = export(archive, out, fmt="markdown", provider=["claude", "gemini"], dry_run=True)
    assert _snapshot(out) == before
    assert r["removed_files"] == [f"codex/{codex[1].name}"]
    assert [k["path"] for k in r["kept_files"]] == [f"claude/{os.listdir(out / 'claude')[0]}", f"codex/{codex[0].name}"]
    assert len(r["written_files"]) == 1 and r["written_files"][0].startswith("gemini/")


def test_dropping_more_than_half_asks_first(archive, tmp_path):
    out = tmp_path / "out"
    export(archive, out, fmt="markdown")
    before = _snapshot(out)
    asked = []

    def no(dropped, held):
        asked.append((dropped, held))
        return False

    with pytest.raises(ExportRefused) as e:
        export(archive, out, fmt="markdown", provider="codex", confirm=no)
    assert asked == [(12, 14)] and _snapshot(out) == before and "12 of the 14" in str(e.value)
    # at most half: not asked
    export(archive, out, fmt="markdown", provider=["chatgpt", "claude", "claude-code", "codex"], confirm=no)
    assert asked == [(12, 14)]
    r = export(archive, out, fmt="markdown", provider="codex", confirm=lambda d, h: True)
    assert r["dropped"] == 9 and r["removed"] == 9
    # a jsonl export knows its conversations too
    jl = tmp_path / "jl"
    export(archive, jl, fmt="jsonl")
    with pytest.raises(ExportRefused):
        export(archive, jl, fmt="jsonl", since="2999-01-01", confirm=no)
    assert len((jl / "conversations.jsonl").read_text().splitlines()) == 14


def test_cli_without_a_terminal_refuses_to_drop_an_export_unless_yes(home, tmp_path):
    out = tmp_path / "out"
    assert _cli(home, "export", "--format", "markdown", "--out", str(out)).exit_code == 0
    before = _snapshot(out)
    r = _cli(home, "export", "--provider", "codex", "--format", "markdown", "--out", str(out))
    assert r.exit_code == 2 and _snapshot(out) == before
    assert "would remove 12 of the 14 conversations" in r.output and "--yes" in r.output
    r = _cli(home, "export", "--provider", "codex", "--format", "markdown", "--out", str(out), "--yes")
    assert r.exit_code == 0 and "12 removed" in r.output
    assert sorted(os.listdir(out / "codex")) == sorted(p.name for p in (out / "codex").iterdir())


def test_cli_mistyped_provider_removes_nothing(home, tmp_path):
    """`--provider claude-ai` (the provider is `claude`) on a full export."""
    out = tmp_path / "out"
    assert _cli(home, "export", "--format", "markdown", "--out", str(out)).exit_code == 0
    before = _snapshot(out)
    r = _cli(home, "export", "--provider", "claude-ai", "--format", "markdown", "--out", str(out))
    assert r.exit_code == 2 and _snapshot(out) == before


def test_cli_unknown_provider_is_an_error_even_with_yes(home, tmp_path):
    """An unknown provider is a usage error in the query path (Archive), so
    export gets it too: exit 2 before anything is touched or created."""
    out = tmp_path / "out"
    assert _cli(home, "export", "--format", "markdown", "--out", str(out)).exit_code == 0
    before = _snapshot(out)
    r = _cli(home, "export", "--provider", "claude-ai", "--format", "markdown", "--out", str(out), "--yes")
    assert r.exit_code == 2 and _snapshot(out) == before
    assert "claude-ai" in r.output
    fresh = tmp_path / "fresh"
    r = _cli(home, "export", "--provider", "claude-ai", "--out", str(fresh), "--yes")
    assert r.exit_code == 2 and not fresh.exists()


def test_cli_dry_run_lists_and_writes_nothing(home, tmp_path):
    out = tmp_path / "out"
    assert _cli(home, "export", "--format", "json", "--out", str(out)).exit_code == 0
    edited = next((out / "codex").iterdir())
    edited.write_text("edited")
    before = _snapshot(out)
    r = _cli(home, "export", "--provider", "claude", "--format", "json", "--out", str(out), "--dry-run")
    assert r.exit_code == 0 and _snapshot(out) == before  # a dry run never asks: it changes nothing
    lines = r.stdout.splitlines()
    assert sum(1 for line in lines if line.startswith("remove ")) == 10
    assert f"keep     codex/{edited.name} ({CHANGED})" in lines
    assert "Dry run: 3 conversations" in r.stderr and "nothing was changed" in r.stderr
    r = _cli(home, "export", "--provider", "claude", "--format", "json", "--out", str(out), "--dry-run", "--json")
    report = json.loads(r.stdout)
    assert report["dry_run"] and report["removed"] == 10 and report["kept_files"][0]["reason"] == CHANGED


def test_cli_reports_kept_files(home, tmp_path):
    out = tmp_path / "vault"
    out.mkdir()
    (out / "index.md").write_text("mine")
    r = _cli(home, "export", "--format", "obsidian", "--out", str(out))
    assert r.exit_code == 0 and f"kept index.md: {FOREIGN}" in r.stderr and "--force" in r.stderr
    assert (out / "index.md").read_text() == "mine"


# ------------------------------------------------------------------ item 4: --page-size


@pytest.mark.parametrize("size", ["0", "-5"])
def test_page_size_below_one_is_rejected(home, archive, tmp_path, size):
    out = tmp_path / "out"
    r = _cli(home, "export", "--format", "html", "--page-size", size, "--out", str(out))
    assert r.exit_code == 2 and "page-size" in r.output and not out.exists()
    with pytest.raises(ExportError):
        export(archive, out, fmt="html", page_size=int(size))
    assert not out.exists()


# ------------------------------------------------------------------ item 22: inert Markdown and Obsidian

MD_TAGS = {
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "code",
    "em",
    "strong",
    "a",
    "ul",
    "ol",
    "li",
    "hr",
    "br",
}
MD_TAGS |= {"table", "thead", "tbody", "tr", "th", "td"}
SAFE_HREF = re.compile(r"(?:https?://|mailto:)[^\s]*|[^:]*", re.I)

MD_PAYLOADS = [
    "![[secret note]]",
    "![[private.pdf]] and ![[image.png|400]]",
    "[[wiki link]] and [[other|alias]]",
    "![tracker](https://evil.example/t.png)",
    '![](http://evil.example/t.png "title")',
    "![local](attachments/x.png)",
    "![ref][r]\n\n[r]: https://evil.example/r.png",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[obsidian](obsidian://open?vault=v&file=f)",
    "[file](file:///etc/passwd)",
    "[js](javascript&#58;alert(1))",
    "[js](JAVASCRIPT:alert(1) 'x')",
    "[a [nested] label](javascript:alert(1))",
    "[multi\nline](javascript:alert(1))",
    "[esc\\](https://ok.example) x](javascript:alert(1))",
    "\\[x](javascript:alert(1))",
    "\\\\[x](javascript:alert(1))",
    "<https://autolink.example> <javascript:alert(1)>",
    "`a\n\n<img src=x onerror=alert(1)>`",
    "`a\n# <img src=x onerror=alert(1)>`",
    "\\`<img src=x onerror=alert(1)>`",
    "```dataviewjs\napp.vault.delete()\n```",
    "~~~query\nsecret\n~~~",
    "<!-- comment --> <?php x ?> <![CDATA[x]]>",
]


def _md_engine() -> MarkdownIt:
    """CommonMark with raw HTML on and every link allowed: the most trusting viewer."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.validateLink = lambda url: True
    return md


def _assert_inert(source: str) -> Scan:
    doc = _md_engine().render(source)
    s = Scan(doc)
    assert not s.others, s.others
    for tag, attrs in s.elements:
        assert tag in MD_TAGS, (tag, attrs)
        allowed = {"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}.get(
            tag, set()
        )
        assert set(attrs) <= allowed, (tag, attrs)
        if "style" in attrs:
            assert attrs["style"] in ("text-align:left", "text-align:right", "text-align:center"), attrs
        if tag == "a":
            assert SAFE_HREF.fullmatch(attrs["href"] or ""), attrs
        if tag == "code" and "class" in attrs:
            assert re.fullmatch(r"language-[A-Za-z0-9_+#.-]+", attrs["class"] or ""), attrs
    # what Obsidian reads itself: no embed, wiki link or image outside code. The
    # engine's own tokens say what is code and which brackets are escaped (a
    # regex over the source cannot tell "\\`" from a code span's delimiter).
    assert not _live_brackets(source), source
    return s


def _live_brackets(source: str) -> list[str]:
    """Runs of unescaped text, outside code, holding "[[" or "![" (wiki links, embeds)."""
    found = []
    for block in MarkdownIt("commonmark").disable("text_join").parse(source):
        if block.type != "inline":
            continue
        text = "".join(c.content if c.type == "text" else "\0" for c in block.children or [])
        found += [m.group(0) for m in re.finditer(r"!\[|\[\[", text)]
    return found


def _body(doc: str) -> str:
    """An Obsidian note without its YAML front matter (a Markdown document as is)."""
    return doc[doc.index("\n---\n", 4) + 5 :] if doc.startswith("---\n") else doc


def _md_corpus() -> list[str]:
    return PAYLOADS + ACTIVE + MD_PAYLOADS


@pytest.mark.parametrize("payload", _md_corpus(), ids=range(len(_md_corpus())))
def test_markdown_and_obsidian_are_inert_for_the_corpus(payload):
    conv = conversation(payload)
    for doc in (markdown.render(conv), obsidian.render(conv), obsidian.render(conv, thinking=False, tools=False)):
        _assert_inert(_body(doc))
    # Obsidian reads the front matter as YAML; a viewer that does not renders it as Markdown: no HTML there
    assert "<" not in obsidian.front_matter(conv)
    # the streamed Markdown of `show`, with a hostile linked conversation
    import io

    buf = io.StringIO()
    summary = {"id": payload, "title": payload, "provider": payload, "project": payload, "models": [payload]}
    markdown.write_markdown(buf, summary, conv.messages, [{"id": payload, "title": payload, "message_count": 1}])
    _assert_inert(buf.getvalue())


@pytest.mark.parametrize("payload", _md_corpus()[::3])
def test_markdown_index_is_inert(payload):
    entries = [{"id": payload, "title": payload, "provider": payload, "updated_at": payload, "file": "x/y.md"}]
    s = _assert_inert(_index("markdown", entries).decode())
    assert [a["href"] for t, a in s.elements if t == "a"] == ["x/y.md"]


def test_embeds_and_images_become_text_and_links_ordinary_text_stays_readable():
    conv = Conversation(
        "claude",
        "c1",
        "Vec<T> & [WIP] notes",
        messages=[
            Message(
                "1",
                "user",
                [
                    text(
                        "see ![[secret]] and ![chart](https://evil.example/c.png), read [the docs](https://docs.example/a_(b)),"
                        " mail [me](mailto:a@b.example); `Vec<T>` and Vec<T>; - [ ] todo; [1] cite\n"
                        "```python\nif a < b: print('[[x]]')\n```"
                    ),
                    thinking("think [[x]]"),
                ],
            ),
            Message("2", "<b>role</b>", [tool_use("t1", "<i>tool</i>", {"a": 1})]),
        ],
    )
    for doc in (markdown.render(conv), _body(obsidian.render(conv))):
        s = _assert_inert(doc)
        hrefs = [a["href"] for t, a in s.elements if t == "a"]
        assert hrefs == ["https://evil.example/c.png", "https://docs.example/a_(b)", "mailto:a@b.example"]
        shown = s.all_text
        assert "![[secret]]" in shown and "the docs" in shown and "chart" in shown
        assert "Vec<T> & [WIP] notes" in shown and "[ ] todo; [1] cite" in shown
        assert "if a < b: print('[[x]]')" in shown and "<b>role</b>".title() in shown and "<i>tool</i>" in shown
        assert "- [ ] todo; [1] cite" in doc  # plain brackets are written as typed
        assert "`Vec<T>`" in doc and "Vec&lt;T>;" in doc


_MD_TOKENS = [
    "[", "]", "(", ")", "!", "<", ">", "\\", "`", "``", "\n", "\n\n", " ", "a", ":", '"', "'", "#", "> ",
    "[[", "]]", "![", "](", "javascript:alert(1)", "https://x.example/p", "obsidian://o", "mailto:m@x.example",
    "img src=x onerror=alert(1)", "script", "&#58;", "```", "~~~", "dataviewjs", "x.png",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_MD_TOKENS), max_size=40).map("".join))
@example("`\n`~~~[")  # a code span holding a newline ended the line: "~~~[" then opened a fence
def test_any_text_made_of_markdown_syntax_stays_inert(s):
    """Whatever a message, title or tool name holds, the most trusting viewer
    makes no element, attribute or link of it that we did not mean."""
    conv = Conversation(
        "claude",
        "c1",
        s,
        messages=[Message("1", "user", [text(s), thinking(s)]), Message("2", s, [tool_use("t", s, {"k": s})])],
    )
    _assert_inert(markdown.render(conv))
    _assert_inert(_body(obsidian.render(conv)))


def test_a_planted_manifest_cannot_remove_files_an_export_never_writes(archive, tmp_path):
    """A manifest whose extra and kept tables name a user's own files, with their
    true hashes and no conversations (so no prompt), removes nothing."""
    out = tmp_path / "repo"
    (out / "src").mkdir(parents=True)
    (out / "README.md").write_text("# mine\n")
    (out / "src" / "main.py").write_text("print('mine')\n")
    manifest = {
        "version": 1,
        "format": "markdown",
        "conversations": {},
        "extra": {"README.md": {"sha": _sha(b"# mine\n")}},
        "kept": {"src/main.py": {"sha": _sha(b"print('mine')\n")}},
    }
    (out / MANIFEST).write_text(json.dumps(manifest))
    r = export(archive, out, fmt="markdown", provider="codex")
    assert (out / "README.md").read_text() == "# mine\n"
    assert (out / "src" / "main.py").read_text() == "print('mine')\n"
    assert r["removed_files"] == []
