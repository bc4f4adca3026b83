"""The provider registry is the one list of providers: sniffing order, the
`provider:` names, default locations, side files and the docs derive from it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import orjson
import pytest
from conftest import REPO

from polylogue import Archive
from polylogue.errors import QueryError
from polylogue.providers import (
    Location,
    Provider,
    Records,
    by_name,
    detect,
    is_side_file,
    load_errors,
    names,
    providers,
    read_head,
)
from polylogue.sources import default_sources

DOC = (REPO / "docs" / "providers.md").read_text()
FLAGS = ("usage", "models", "branches", "thinking", "subagents")


def _table_rows() -> dict[str, list[str]]:
    """The rows of the table under "## The providers", keyed by provider name."""
    section = DOC.split("## The providers", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`([a-z0-9-]+)`", cells[0]) if cells else None
        if m:
            rows[m.group(1)] = cells
    return rows


def test_no_plugin_failed_in_this_environment():
    assert load_errors() == []


@pytest.mark.parametrize("provider", providers(), ids=lambda p: p.name)
def test_every_provider_has_a_docs_row_true_to_its_declaration(provider: Provider):
    rows = _table_rows()
    assert provider.name in rows, f"docs/providers.md: no row for {provider.name} in 'The providers'"
    name, display, kind, *flags, folders = rows[provider.name]
    assert display == provider.display_name
    assert kind == provider.kind
    declared = ["yes" if getattr(provider.records, f) else "no" for f in FLAGS]
    assert [f.split()[0] for f in flags] == declared, f"{provider.name}: {FLAGS}"
    for loc in provider.locations:
        assert f"`{loc.root}/{loc.sub}`" in folders if loc.sub else f"`{loc.root}`" in folders
        assert not loc.env or f"`{loc.env}`" in folders
    if not provider.locations:
        assert folders == "—"


def test_every_provider_has_a_docs_section():
    for p in providers():
        assert re.search(rf"^## {re.escape(p.name)} — ", DOC, re.M), f"docs/providers.md: no section for {p.name}"


def test_docs_table_lists_no_unregistered_provider():
    assert set(_table_rows()) == {p.name for p in providers()}


def test_sniff_order_is_what_providers_declare():
    ps = providers()
    assert [p.name for p in ps] == [p.name for p in sorted(ps, key=lambda p: (p.sniff_order, p.name))]
    assert len({p.sniff_order for p in ps}) == len(ps), "two built-ins with one sniff_order: the order is a tie"
    # the most specific first: Polylogue's own export carries fields every other format has
    assert ps[0].name == "polylogue"


def test_detect_asks_in_sniff_order():
    """A head two sniffers accept goes to the one declared earlier."""
    both = {"id": "x", "title": "t", "mapping": {"n": {"id": "n", "children": []}}, "chat_messages": []}
    head = read_head(orjson.dumps(both))
    accepting = [p for p in providers() if p.sniff(head)]
    assert [p.name for p in accepting] == ["chatgpt", "claude"]
    assert by_name("chatgpt").sniff_order < by_name("claude").sniff_order
    assert detect(head) is by_name("chatgpt")


def test_an_export_format_never_sees_a_log():
    """kind "json": its sniffer is not asked about a multi-line JSONL head."""
    rec = {"chunkedPrompt": {"chunks": []}, "runSettings": {}}
    log = read_head(orjson.dumps(rec) + b"\n" + orjson.dumps(rec) + b"\n")
    assert log.kind == "jsonl" and by_name("gemini").kind == "json"
    assert by_name("gemini").sniff(log) and detect(log) is None
    assert detect(read_head(orjson.dumps(rec))) is by_name("gemini")


def test_provider_filter_names_are_the_registry_names(tmp_path):
    assert names() == tuple(p.name for p in providers() if p.own_conversations)
    assert "polylogue" not in names()  # its conversations are stored under their own provider
    a = Archive(tmp_path / "h")
    a.sync([tmp_path / "nothing"])  # reads need an archive; a sync makes it
    for name in names():
        a.search(f"provider:{name}")  # accepted
    with pytest.raises(QueryError):
        a.search("provider:no-such-provider")


def test_no_module_outside_providers_lists_provider_names():
    """Adding a provider is one module: no other module may spell a provider's
    name as a string of its own (examples in docstrings and prose are fine). The
    one exception is models.USAGE_CONVENTIONS, whose keys name APIs (a Message.usage
    "convention"), and one of them is spelled like a provider."""
    from polylogue.models import USAGE_CONVENTIONS

    pkg = REPO / "polylogue"
    offenders = []
    for path in pkg.rglob("*.py"):
        if path.parent.name == "providers" and path.stem != "__init__":
            continue
        tree = ast.parse(path.read_text())
        if path == pkg / "models.py":
            api_names = {id(k) for n in ast.walk(tree) if isinstance(n, ast.Dict) for k in n.keys if k is not None}
        else:
            api_names = set()
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if id(node) in api_names and node.value in USAGE_CONVENTIONS:
                continue
            if isinstance(node, ast.Constant) and node.value in names() and id(node) not in docstrings:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


# ---------------------------------------------------------------- default locations

USER = Path("/u")


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_default_sources_per_platform(platform, tmp_path):
    got = default_sources(tmp_path, platform=platform, environ={}, user=USER)
    for expected in [
        ("claude-code", USER / ".claude" / "projects"),
        ("codex", USER / ".codex" / "sessions"),
        ("gemini-cli", USER / ".gemini" / "tmp"),
        ("cursor-agent", USER / ".cursor" / "projects"),
    ]:
        assert expected in got
    config = {"linux": ".config", "darwin": "Library/Application Support", "win32": "AppData/Roaming"}[platform]
    assert ("cursor", USER / config / "Cursor" / "User") in got
    assert got[-1] == ("inbox", tmp_path / "inbox")
    names = [n.split(", ")[0] for n, _ in got[:-1]]
    assert names == sorted(names), "by provider name"


def test_search_locations_are_search_roots(tmp_path):
    """A location with ``find`` is searched for its files only; two providers searching
    the same folder as deep share one walk."""
    from polylogue.sources import SearchRoot

    got = default_sources(tmp_path, platform="linux", environ={}, user=USER)
    roots = {n: p for n, p in got if isinstance(p, SearchRoot)}
    assert roots["aider, specstory"] == USER and roots["aider, specstory"].depth == 6
    assert roots["cursor"].find == (
        "globalStorage/state.vscdb",
        "globalStorage/state.vscdb-wal",
        "workspaceStorage/*/state.vscdb",
        "workspaceStorage/*/state.vscdb-wal",
    )
    plain = [p for n, p in got if n in ("claude-code", "codex")]
    assert plain and not any(isinstance(p, SearchRoot) for p in plain)


def test_location_lists_several_folders_from_its_variable():
    loc = Location("~", find=("**/x",), env="ROOTS")
    assert loc.resolve_all("linux", {"ROOTS": "/a:/b::~/c"}, USER) == [Path("/a"), Path("/b"), USER / "c"]
    assert loc.resolve_all("win32", {"ROOTS": "C:/a;D:/b"}, USER) == [Path("C:/a"), Path("D:/b")]
    assert loc.resolve("linux", {}, USER) == USER


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_tool_folders_named_by_the_environment(platform, tmp_path):
    env = {"CLAUDE_CONFIG_DIR": "/cfg/claude", "CODEX_HOME": "/cfg/codex", "GEMINI_HOME": "/ignored"}
    got = dict(default_sources(tmp_path, platform=platform, environ=env, user=USER))
    assert got["claude-code"] == Path("/cfg/claude/projects")
    assert got["codex"] == Path("/cfg/codex/sessions")
    assert got["gemini-cli"] == USER / ".gemini" / "tmp"
    empty = dict(default_sources(tmp_path, platform=platform, environ={"CODEX_HOME": ""}, user=USER))
    assert empty["codex"] == USER / ".codex" / "sessions"  # set but empty: as unset, like the tool


def test_default_sources_follow_the_real_environment(monkeypatch, tmp_path):
    """What `polylogue sync` with no paths reads (HOME is a tmp folder in every test)."""
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
    got = dict(default_sources(tmp_path / "archive"))
    assert got["codex"] == tmp_path / "codex-home" / "sessions"
    assert got["claude-code"] == Path.home() / ".claude" / "projects"


def test_location_templates_per_platform():
    loc = Location(
        "{XDG_CONFIG_HOME}/Tool",
        "User/logs",
        darwin="~/Library/Application Support/Tool",
        win32="{APPDATA}/Tool",
    )
    assert loc.resolve("linux", {}, USER) == USER / ".config" / "Tool" / "User" / "logs"
    assert loc.resolve("linux", {"XDG_CONFIG_HOME": "/x"}, USER) == Path("/x/Tool/User/logs")
    assert loc.resolve("darwin", {}, USER) == USER / "Library" / "Application Support" / "Tool" / "User" / "logs"
    assert loc.resolve("win32", {}, USER) == USER / "AppData" / "Roaming" / "Tool" / "User" / "logs"
    assert loc.resolve("win32", {"APPDATA": "/r"}, USER) == Path("/r/Tool/User/logs")
    assert loc.resolve("freebsd", {}, USER) == USER / ".config" / "Tool" / "User" / "logs"
    assert Location("{NO_SUCH_VAR}/x").resolve("linux", {}, USER) is None


# ---------------------------------------------------------------- side files

SIDE_FILES = {  # shapes of the files each tool writes beside its conversations -> the provider owning them
    "chatgpt user.json": ({"id": "user-1", "email": "a@b.c", "chatgpt_plus_user": True}, "chatgpt"),
    "chatgpt message_feedback.json": ([{"id": "f", "conversation_id": "c", "rating": "thumbs_up"}], "chatgpt"),
    "chatgpt shared_conversations.json": ([{"id": "s", "conversation_id": "c", "is_anonymous": True}], "chatgpt"),
    "chatgpt model_comparisons.json": ([{"id": "m", "input": {"prompt_convo": {}}}], "chatgpt"),
    "claude users.json": ([{"uuid": "u", "full_name": "A", "email_address": "a@b.c"}], "claude"),
    "claude memories.json": ([{"account_uuid": "u", "conversations_memory": "likes Rust"}], "claude"),
    "claude projects.json": ([{"uuid": "p", "name": "Web", "docs": [], "prompt_template": ""}], "claude"),
    "claude-code agent meta": ({"agentType": "general-purpose", "spawnDepth": 1}, "claude-code"),
    "claude-code sessions-index.json": ({"version": 1, "entries": [], "originalPath": "/p"}, "claude-code"),
    "gemini-cli logs.json": ([{"sessionId": "s", "messageId": 0, "type": "user", "message": "hi"}], "gemini-cli"),
    "empty list": ([], None),
    "manifest": ({"manifest_version": 1, "files": [{"path": "a.jsonl"}]}, None),
}
JSONL_SIDE_FILES = {
    "claude-code history.jsonl": ({"display": "fix it", "pastedContents": {}, "timestamp": 1}, "claude-code"),
    # with all three keys Codex's own sniffer takes it, and its parse skips it with a note
    "codex history.jsonl, older lines": ({"ts": 1759848400, "text": "list files"}, "codex"),
}


def _head_bytes(name: str) -> bytes:
    if name in JSONL_SIDE_FILES:
        rec = JSONL_SIDE_FILES[name][0]
        return orjson.dumps(rec) + b"\n" + orjson.dumps(rec) + b"\n"
    return orjson.dumps(SIDE_FILES[name][0], option=orjson.OPT_INDENT_2)


@pytest.mark.parametrize("name", [*SIDE_FILES, *JSONL_SIDE_FILES])
def test_side_files_belong_to_their_provider(name):
    head = read_head(_head_bytes(name))
    owner = {**SIDE_FILES, **JSONL_SIDE_FILES}[name][1]
    assert detect(head) is None and is_side_file(head)
    claimed = [p.name for p in providers() if p.side_file is not None and p.side_file(head)]
    assert claimed == ([owner] if owner else [])


def test_a_sync_skips_side_files_quietly(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    for i, name in enumerate([*SIDE_FILES, *JSONL_SIDE_FILES]):
        suffix = ".jsonl" if name in JSONL_SIDE_FILES else ".json"
        (folder / f"side-{i}{suffix}").write_bytes(_head_bytes(name))
    (folder / "unknown.json").write_bytes(b'{"what": "no provider knows this"}')
    report = Archive(tmp_path / "h").sync([folder])
    assert [e["path"] for e in report.errors] == [str(folder / "unknown.json")]
    assert report.conversations_new == 0


SIDE_SAMPLES = {
    "claude-code/jazzyalex__agent-sessions__agent-a0ad4f44468bdf20d.meta.json": "claude-code",
    "claude-code/kvsankar__agent-history__claude_history.jsonl": "claude-code",
    "gemini-cli/kvsankar__agent-history__gemini_logs.json": "gemini-cli",
    "claude-ai/noo-bass__context-carry__projects.json": "claude",
}


@pytest.mark.parametrize("rel", sorted(SIDE_SAMPLES))
def test_real_side_files(samples, rel):
    head = read_head((samples / rel).read_bytes()[: 256 << 10])
    owner = SIDE_SAMPLES[rel]
    assert detect(head) is None and is_side_file(head)
    assert [p.name for p in providers() if p.side_file is not None and p.side_file(head)] == ([owner] if owner else [])


# ---------------------------------------------------------------- the declaration


def test_resume_protocol_is_declared_not_probed():
    resumable = {p.name for p in providers() if p.resume is not None}
    assert resumable == {"claude-code", "codex"}
    for name in resumable:
        p = by_name(name)
        assert any(f.endswith(f"{name.replace('-', '_')}.py") for f in p.code_files())


def test_builtin_modules_keep_their_attributes():
    import polylogue.providers.claude_code as cc

    assert cc.PROVIDER is by_name("claude-code")
    assert (cc.NAME, cc.sniff, cc.parse) == (cc.PROVIDER.name, cc.PROVIDER.sniff, cc.PROVIDER.parse)
    for p in providers():
        module = __import__(p.parse.__module__, fromlist=["KIND"])
        assert module.KIND == p.kind and module.NAME == p.name


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Bad Name"},
        {"name": "has:colon"},
        {"name": ""},
        {"kind": "xml"},
        {"sniff": None},
    ],
)
def test_a_bad_declaration_is_refused(bad):
    args = {
        "name": "ok",
        "display_name": "OK",
        "kind": "json",
        "sniff": lambda h: False,
        "parse": lambda s, c: iter(()),
    }
    with pytest.raises(ValueError):
        Provider(**{**args, **bad})


def test_records_default_to_nothing():
    assert Records() == Records(False, False, False, False, False)


# ---------------------------------------------------------------- input kinds (text, SQLite, units)


def test_each_kind_of_sniffer_sees_only_its_heads():
    """A text sniffer is never shown JSON, a JSON sniffer never text or a database."""
    from polylogue.providers.base import ASKED

    heads = {
        "json": read_head(b'{"a": 1}'),
        "jsonl": read_head(b'{"a": 1}\n{"a": 2}\n'),
        "text": read_head(b"# Notes\n\nplain text\n"),
        "other": read_head(bytes(range(256)) * 8),
        "empty": read_head(b"  \n"),
    }
    assert {k: h.kind for k, h in heads.items()} == {k: k for k in heads}
    shown: dict[str, list[str]] = {}

    def spy(name):
        def sniff(head):
            shown.setdefault(name, []).append(head.kind)
            return False

        return sniff

    from polylogue.providers import _registry

    for kind in ASKED:
        p = Provider(name=f"spy-{kind}", display_name="Spy", kind=kind, sniff=spy(kind), parse=lambda s, c: iter(()))
        assert [k for k in heads if p.asked(heads[k].kind)] == [k for k in heads if k in ASKED[kind]]
    assert _registry is not None
    for head in heads.values():
        detect(head)  # the built-ins: none raises, whatever it is shown


def test_text_heads_tell_text_from_binary():
    assert read_head("# Überschrift\n\nText mit Umlauten, 中文 und Emoji 🙂\n".encode()).kind == "text"
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    assert read_head(png.decode("utf-8", "replace").encode()).kind == "other"  # as cleaned: U+FFFD everywhere
    assert read_head(b"<!-- html -->\n<p>hi</p>").text.startswith("<!-- html -->")


def test_a_database_is_recognised_by_its_magic_number(tmp_path):
    import sqlite3

    from polylogue.providers import open_clean
    from polylogue.providers.common import ParseContext

    db = tmp_path / "x.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (a)")
    conn.commit()
    conn.close()
    with open(db, "rb") as f:
        head, _ = open_clean(f, ParseContext(str(db)))
    assert head.kind == "sqlite"
    from polylogue.providers import sniffed

    with open(db, "rb") as f, sniffed(f, ParseContext(str(db)), path=str(db)) as (head, found, conn):
        # no provider claims it: its schema was read, nothing opened for a parse (nor copied)
        assert head.tables == {"t": "CREATE TABLE t (a)"} and found is None and conn is None
    reader = Provider(
        name="t-reader", display_name="T", kind="sqlite", sniff=lambda h: "t" in h.tables, parse=lambda c, x: iter(())
    )
    with open(db, "rb") as f, sniffed(f, ParseContext(str(db)), path=str(db), provider=reader) as (head, found, conn):
        assert found is reader and conn.execute("PRAGMA query_only").fetchone() == (1,)
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("INSERT INTO t VALUES (1)")


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "sqlite", "siblings": ("a.json",)},
        {"kind": "markdown"},
    ],
)
def test_input_kinds_are_checked(bad):
    args = {
        "name": "ok",
        "display_name": "OK",
        "kind": "json",
        "sniff": lambda h: False,
        "parse": lambda s, c: iter(()),
    }
    with pytest.raises(ValueError):
        Provider(**{**args, **bad})


def test_a_unit_reads_its_siblings(tmp_path):
    """A provider that declares siblings gets a Unit: the file sniffed and an opener for
    the other files of its folder (cleaned like any input)."""
    from polylogue.providers import Unit, sniffed
    from polylogue.providers.common import ParseContext

    seen = {}

    def parse(unit, ctx):
        assert isinstance(unit, Unit)
        seen["name"] = unit.name
        with unit.sibling("b.txt") as f:
            seen["b"] = f.read()
        seen["none"] = (unit.sibling("missing.txt"), unit.sibling("../a.json"), unit.sibling("sub"))
        return iter(())

    unit_provider = Provider(
        name="unit-test", display_name="U", kind="json", sniff=lambda h: True, parse=parse, siblings=("b.txt",)
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.json").write_text('{"x": 1}')
    (tmp_path / "b.txt").write_bytes("\ufeffbeside".encode())  # a BOM: cleaned away
    ctx = ParseContext(str(tmp_path / "a.json"))
    from polylogue.providers import open_sibling_file

    with (
        open(tmp_path / "a.json", "rb") as raw,
        sniffed(
            raw,
            ctx,
            path=str(tmp_path / "a.json"),
            name="a.json",
            sibling=lambda n: open_sibling_file(str(tmp_path), n),
            provider=unit_provider,
        ) as (_, found, source),
    ):
        list(found.parse(source, ctx))
    assert seen == {"name": "a.json", "b": b"beside", "none": (None, None, None)}
