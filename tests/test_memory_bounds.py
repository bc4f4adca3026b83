"""Memory stays bounded on huge inputs (docs/providers.md, "Common to all"): a
line over the line cap is streamed past, never held; a string over the text cap
is cut (with a marker and a warning) as it is read, so a huge text costs what
its cut form does; a ChatGPT tree is not held twice (raw and converted), a huge
one is streamed node by node and stored in parts (providers/chatgpt_tree.py),
and stored rows hold only their bytes. The caps are lowered here so that each
test reads a few tens of MB; tracemalloc measures what the Python heap held at its
peak (orjson's parse buffers count there at their full size, ~12x the JSON: the
bounds below leave room for parsing the cut 1 MB form, not the whole line), and
one test measures the RSS of a real sync's process tree.
benchmarks/hostile_memory.py measures the same at full size, in a real sync."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polylogue.providers import chatgpt, claude_code, common, open_clean
from polylogue.providers.common import ParseContext, iter_jsonl, load_json
from polylogue.store import codec
from polylogue.store.encode import encode

MB = 1 << 20


@pytest.fixture
def small_caps(monkeypatch):
    """Caps a test can reach in a few MB: lines 32 MB, texts 1 MB, records 4 MB."""
    monkeypatch.setattr(common, "MAX_LINE_BYTES", 32 * MB)
    monkeypatch.setattr(claude_code, "MAX_LINE_BYTES", 32 * MB, raising=False)  # older code imported it by name
    monkeypatch.setattr(common, "MAX_TEXT_BYTES", 1 * MB, raising=False)
    monkeypatch.setattr(common, "MAX_RECORD_BYTES", 4 * MB, raising=False)


def _cc_line(uuid: str, text: str) -> bytes:
    rec = {
        "type": "user",
        "uuid": uuid,
        "parentUuid": None,
        "sessionId": "s-mem",
        "timestamp": "2025-03-01T10:00:00Z",
        "message": {"role": "user", "content": text},
    }
    return orjson.dumps(rec) + b"\n"


def _big_line(uuid: str, nbytes: int) -> bytes:
    head, tail = _cc_line(uuid, "@@").split(b"@@")
    return head + b"word " * (nbytes // 5) + tail


def _peak(fn):
    """(fn's result, the peak bytes the Python heap held above where it started)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_line_over_the_cap_is_streamed_past_not_held(small_caps):
    data = _cc_line("u1", "before") + _big_line("u2", 40 * MB) + _cc_line("u3", "after")
    ctx = ParseContext("t.jsonl")
    stream = io.BufferedReader(io.BytesIO(data), 1 << 16)
    got, peak = _peak(lambda: [(n, rec["uuid"]) for n, rec in iter_jsonl(stream, ctx)])
    assert got == [(1, "u1"), (3, "u3")]
    assert [(w.line, w.reason) for w in ctx.warnings] == [(2, "line longer than 32 MB skipped")]
    assert peak < 8 * MB  # the old reader held the whole 32 MB cap


def test_huge_first_line_of_a_claude_code_log_is_not_held(small_caps):
    """The log reader peeks at the first line to tell JSONL from a document: a
    peek, not a copy of a line of any length."""
    data = _big_line("u1", 40 * MB) + _cc_line("u2", "after")
    ctx = ParseContext("t.jsonl")
    convs, peak = _peak(lambda: list(claude_code.parse(io.BufferedReader(io.BytesIO(data), 1 << 16), ctx)))
    assert [m.id for c in convs for m in c.messages] == ["u2"]
    assert [w.line for w in ctx.warnings] == [1]
    assert peak < 8 * MB  # the old reader held 32 MB of it, twice


def test_text_over_the_text_cap_is_cut_as_it_is_read(small_caps):
    data = _big_line("u1", 24 * MB) + _cc_line("u2", "after")
    ctx = ParseContext("t.jsonl")
    stream = io.BufferedReader(io.BytesIO(data), 1 << 16)
    got, peak = _peak(lambda: list(iter_jsonl(stream, ctx)))
    assert [rec["uuid"] for _, rec in got] == ["u1", "u2"]
    text = got[0][1]["message"]["content"]
    kept, _, mark = text.partition(" [... ")
    assert len(kept) <= MB and kept.startswith("word word") and mark.endswith(" bytes cut]")
    assert len(kept) + int(mark.split()[0]) == 24 * MB // 5 * 5  # the marker says what was cut
    assert text.isascii()  # a non-ASCII marker would double the size of the str
    assert [w.line for w in ctx.warnings] == [1] and "cut to 1 MB" in ctx.warnings[0].reason
    assert peak < 24 * MB  # the old reader held the 24 MB line, then parsed all of it


def test_line_of_json_beyond_long_texts_is_skipped(small_caps):
    """What is left of a line once its long strings are cut is bounded too."""
    many = _cc_line("u1", "x").replace(b'"x"', b"[" + b'"ab",' * (MB) + b'"a"]')
    data = many + _cc_line("u2", "after")
    ctx = ParseContext("t.jsonl")
    got = list(iter_jsonl(io.BufferedReader(io.BytesIO(data), 1 << 16), ctx))
    assert [rec["uuid"] for _, rec in got] == ["u2"]
    assert "more than 4 MB of JSON" in ctx.warnings[0].reason


def test_load_json_cuts_a_huge_text(small_caps):
    doc = b'{"messages": [{"text": "' + b"a" * (24 * MB) + b'"}, {"text": "short"}]}'
    ctx = ParseContext("t.json")
    got, peak = _peak(lambda: load_json(io.BytesIO(doc), ctx=ctx))
    first, second = got["messages"]
    assert len(first["text"]) < MB + 100 and second == {"text": "short"}
    assert "cut to 1 MB" in ctx.warnings[0].reason
    assert peak < 24 * MB


# ---------------------------------------------------------------- the cutter

_CHARS = st.sampled_from(["a", " ", "\n", '"', "\\", "é", "\U0001f600", "\u2028", "\x01", "数", "/"])


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(_CHARS, max_size=80).map("".join),
    limit=st.integers(1, 40),
    step=st.integers(1, 17),
    ascii_only=st.booleans(),
)
def test_cut_json_still_parses_and_keeps_a_prefix(text, limit, step, ascii_only):
    """Whatever the chunking, escapes (\\uXXXX, surrogate pairs, \\\\, \\") and UTF-8
    characters are never split; a short string is kept whole."""
    doc = json.dumps({"k": text, "o": [text[:3], "x"]}, ensure_ascii=ascii_only).encode()  # keys fit any limit
    cutter, out = common._TextCutter(limit), bytearray()
    for i in range(0, len(doc), step):
        cutter.feed(doc[i : i + step], out)
    got = orjson.loads(out)

    def size(s: str) -> int:  # bytes of its JSON string body
        return len(json.dumps(s, ensure_ascii=ascii_only).encode()) - 2

    body = size(text)
    if body <= limit:
        assert got["k"] == text and body not in cutter.cuts
    else:
        kept, _, mark = got["k"].partition(" [... ")
        assert text.startswith(kept) and mark.endswith(" bytes cut]")
        assert size(kept) <= limit
        assert body in cutter.cuts
    assert got["o"] == [text[:3], "x"] or size(text[:3]) > limit


# ---------------------------------------------------------------- huge trees and stored rows


def test_stored_rows_hold_only_their_bytes():
    """orjson keeps the buffer it wrote into: a short row must not keep 4 KB."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = codec.encode_json(codec.dumps([{"type": "text", "text": "hello"}]))
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert out == b'[{"type":"text","text":"hello"}]' and held < 512


def _tree_export(nodes: int) -> bytes:
    mapping = {"n0": {"id": "n0", "parent": None, "children": ["n1"], "message": None}}
    for i in range(1, nodes):
        mapping[f"n{i}"] = {
            "id": f"n{i}",
            "parent": f"n{i - 1}",
            "children": [f"n{i + 1}"] if i + 1 < nodes else [],
            "message": {
                "id": f"n{i}",
                "author": {"role": "user" if i % 2 else "assistant", "name": None, "metadata": {}},
                "create_time": 1700000000.0 + i,
                "content": {"content_type": "text", "parts": [f"message {i} about the quokka fjord"]},
                "status": "finished_successfully",
                "weight": 1.0,
                "metadata": {"model_slug": "gpt-4o"} if i % 2 == 0 else {},
                "recipient": "all",
            },
        }
    conv = {"id": "tree", "title": "t", "create_time": 1.7e9, "update_time": 1.7e9, "mapping": mapping}
    return orjson.dumps([conv])


def test_huge_tree_is_not_held_twice():
    """While a parsed conversation is being stored, neither its raw mapping nor
    the JSON buffers of its rows are held: per message, what the conversation
    and its encoded rows cost together stays under 2 KB (it was ~8 KB)."""
    n = 4000
    data = _tree_export(n)
    ctx = ParseContext("conversations.json")

    def parse_and_encode():
        convs = chatgpt.parse(io.BufferedReader(io.BytesIO(data), 1 << 16), ctx)
        conv = next(convs)  # the parser is suspended at its yield, as during a sync
        row = encode(conv)
        held = tracemalloc.get_traced_memory()[0]
        return conv, row, held

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        conv, row, held = parse_and_encode()
    finally:
        tracemalloc.stop()
    assert len(conv.messages) == len(row.messages) == n - 1
    assert (held - base) / (n - 1) < 2048


def _peak_parsing(data: bytes, streamed: bool) -> tuple[int, int]:
    """(messages, the peak bytes the Python heap held) while a tree is parsed and
    encoded as a sync does: a huge one streamed and stored a part at a time."""
    from polylogue.ingest import _encoded

    ctx = ParseContext("conversations.json")

    def run() -> int:
        _, stream = open_clean(io.BufferedReader(io.BytesIO(data), 1 << 16), ctx)
        if streamed:
            ctx.reopen = lambda: open_clean(io.BufferedReader(io.BytesIO(data), 1 << 16), ctx)[1]
        return sum(len(row.messages) for conv in chatgpt.parse(stream, ctx) for row in _encoded(conv, ctx, None))

    saved = chatgpt.HUGE_VALUE_BYTES
    chatgpt.HUGE_VALUE_BYTES = 256 << 10
    try:
        return _peak(run)
    finally:
        chatgpt.HUGE_VALUE_BYTES = saved


@pytest.mark.slow
def test_a_huge_tree_is_streamed_node_by_node():
    """Past HUGE_VALUE_BYTES a conversation is read again node by node (its
    messages' JSON kept compressed), converted and encoded a chunk at a time:
    the heap's peak per message is a fraction of what building it whole costs
    (~3 KB), whatever the tree's size."""
    n = 12000
    data = _tree_export(n)
    msgs, streamed_peak = _peak_parsing(data, streamed=True)
    whole_msgs, whole_peak = _peak_parsing(data, streamed=False)
    assert msgs == whole_msgs == n - 1
    assert streamed_peak / msgs < 1024 and streamed_peak < whole_peak / 3, (streamed_peak / msgs, whole_peak / msgs)


def _sync_peak_rss(tmp_path: Path, nodes: int) -> tuple[int, int]:
    """(messages imported, peak RSS of the whole process tree) of a real `polylogue
    sync` of a one-conversation export of ``nodes`` nodes, in a fresh process with
    parse workers (whatever the input's size) and the streamed path past 256 KB."""
    import sys

    repo = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(repo))
    from benchmarks.common import run_measured
    from benchmarks.hostile_memory import write_tree_export

    src = tmp_path / f"tree-{nodes}.json"
    write_tree_export(src, nodes)
    script = (
        "from polylogue import ingest\n"
        "from polylogue.providers import chatgpt\n"
        "ingest.PARALLEL_MIN_BYTES, chatgpt.HUGE_VALUE_BYTES = 0, 256 << 10\n"
        "from polylogue.cli import cli\n"
        "cli(prog_name='polylogue')\n"
    )
    home = tmp_path / f"home-{nodes}"
    r = run_measured([sys.executable, "-c", script, "--home", str(home), "sync", "--json", str(src)])
    assert r["returncode"] == 0, r["stderr"][-2000:]
    return orjson.loads(r["stdout"])["messages"]["new"], r["peak_rss_bytes"]


@pytest.mark.slow
def test_a_huge_tree_sync_grows_under_2_kb_per_message(tmp_path):
    """Issue 18, item 14: a real sync (parse workers and writer) of a conversation
    tree 4x bigger than another needs under 2 KB more RSS per added message
    (building it whole took ~5 KB; the difference of two sizes cancels what any
    sync costs: the interpreters, the imports, SQLite's cache)."""
    small_msgs, small_peak = _sync_peak_rss(tmp_path, 8000)
    big_msgs, big_peak = _sync_peak_rss(tmp_path, 32000)
    assert (small_msgs, big_msgs) == (7999, 31999)
    assert (big_peak - small_peak) / (big_msgs - small_msgs) < 2048
