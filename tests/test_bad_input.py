"""Bad input never takes the run down: each bad file gets one clear error line,
everything else imports, the exit code is 3, and the archive keeps what it had.

The corpus of issue 3 (``build_corpus``) is hand-made ChatGPT and Claude Code
files; the same damage is also done to a file of every registered provider
(``provider_corpus.py``), so a provider added later meets it too."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import orjson
from click.testing import CliRunner
from provider_corpus import all_samples, build_provider_corpus, corpus_bases, parsed, place

from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.ingest import FileOutcome, parse_input
from polylogue.providers import providers
from polylogue.sources import discover

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CC_LINE = {
    "type": "user",
    "uuid": "u1",
    "parentUuid": None,
    "sessionId": "s-bad-1",
    "timestamp": "2025-03-01T10:00:00Z",
    "cwd": "/tmp/p",
    "message": {"role": "user", "content": "hello from a good line quokkafjord"},
}
CC_REPLY = {
    "type": "assistant",
    "uuid": "a1",
    "parentUuid": "u1",
    "sessionId": "s-bad-1",
    "timestamp": "2025-03-01T10:00:05Z",
    "cwd": "/tmp/p",
    "message": {
        "id": "msg_1",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "a good reply"}],
    },
}


def chatgpt_conv(cid: str, text: str) -> dict:
    return {
        "id": cid,
        "title": f"conv {cid}",
        "create_time": 1700000000.0,
        "update_time": 1700000100.0,
        "current_node": "n2",
        "mapping": {
            "n0": {"id": "n0", "parent": None, "children": ["n1"], "message": None},
            "n1": {
                "id": "n1",
                "parent": "n0",
                "children": ["n2"],
                "message": {
                    "id": "n1",
                    "author": {"role": "user"},
                    "create_time": 1700000000.0,
                    "content": {"content_type": "text", "parts": [text]},
                    "recipient": "all",
                },
            },
            "n2": {
                "id": "n2",
                "parent": "n1",
                "children": [],
                "message": {
                    "id": "n2",
                    "author": {"role": "assistant"},
                    "create_time": 1700000050.0,
                    "content": {"content_type": "text", "parts": ["ok"]},
                    "recipient": "all",
                    "metadata": {"model_slug": "gpt-4o"},
                },
            },
        },
    }


def build_corpus(d: Path) -> dict[str, Path]:
    """The bad inputs of issue 3, plus good files beside them."""
    d.mkdir(parents=True, exist_ok=True)
    good = d / "good.json"
    good.write_bytes(orjson.dumps([chatgpt_conv("good-1", "the good conversation wombatquill")]))
    full = orjson.dumps([chatgpt_conv("t-1", "first complete"), chatgpt_conv("t-2", "second")])
    files = {
        "good": good,
        "truncated": d / "truncated.json",
        "empty": d / "empty.json",
        "binary": d / "binary.json",
        "unknown": d / "unknown.json",
        "deep": d / "deep.json",
        "bad_utf8": d / "bad-utf8.jsonl",
        "broken_zip": d / "broken.zip",
        "garbage_lines": d / "garbage.jsonl",
        "huge_message": d / "huge.jsonl",
    }
    files["truncated"].write_bytes(full[: len(full) - 40])
    files["empty"].write_bytes(b"")
    files["binary"].write_bytes(bytes(range(256)) * 64)
    files["unknown"].write_bytes(json.dumps({"hello": "world", "items": [1, 2, 3]}).encode())
    files["deep"].write_bytes(b"[" * 200_000 + b"]" * 200_000)
    line = dict(CC_LINE, sessionId="s-utf8")
    raw = orjson.dumps(line).replace(b"quokkafjord", b"quokka\xff\xfefjord")
    files["bad_utf8"].write_bytes(raw + b"\n" + orjson.dumps(dict(CC_REPLY, sessionId="s-utf8")) + b"\n")
    files["broken_zip"].write_bytes(b"PK\x03\x04" + os.urandom(300))
    files["garbage_lines"].write_bytes(
        orjson.dumps(CC_LINE) + b"\n{not json at all\n\x00\x01\x02\n[1,2,3]\n" + orjson.dumps(CC_REPLY) + b"\n"
    )
    big = dict(CC_LINE, sessionId="s-huge", uuid="u-huge")
    big["message"] = {"role": "user", "content": "start " + "x" * (50 << 20) + " end"}
    files["huge_message"].write_bytes(orjson.dumps(big) + b"\n")
    return files


def errors_by_file(report) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in report["errors"]:
        out.setdefault(Path(e["path"].split("!")[0]).name, []).append(e)
    return out


def test_bad_input_corpus_reports_each_file_and_imports_the_rest(tmp_path):
    build_corpus(tmp_path / "corpus")
    home = tmp_path / "home"
    r = CliRunner().invoke(cli, ["--home", str(home), "sync", str(tmp_path / "corpus"), "--json"])
    assert r.exit_code == 3, r.output
    report = json.loads(r.stdout)
    errs = errors_by_file(report)
    expected = {
        "truncated.json": "invalid JSON",
        "empty.json": "empty file",
        "binary.json": "not JSON",
        "unknown.json": "unknown JSON shape",
        "deep.json": "nested deeper",
        "bad-utf8.jsonl": "invalid UTF-8",
        "broken.zip": "broken zip",
        "garbage.jsonl": "invalid JSON",
        "huge.jsonl": "cut to 16 MB",  # a 50 MB text: imported, cut to the text cap (warned)
    }
    for name, reason in expected.items():
        assert name in errs, (name, report["errors"])
        assert any(reason in e["error"] for e in errs[name]), (name, errs[name])
    assert {e["line"] for e in errs["garbage.jsonl"] if "line" in e} == {2, 3, 4}
    assert "good.json" not in errs
    # each problem is one line on stderr naming the file
    for name in expected:
        assert name in r.stderr
    a = Archive(home)
    ids = {c["id"] for c in a.list(limit=100)}
    # good files, the good lines of the garbage file, the complete conversation before
    # the truncation point, the repaired UTF-8 file and the 50 MB message (cut) all imported
    assert {"chatgpt:good-1", "chatgpt:t-1", "claude-code:s-bad-1", "claude-code:s-utf8", "claude-code:s-huge"} <= ids
    assert "chatgpt:t-2" not in ids  # cut off mid-conversation: whole or not at all
    assert a.search("wombatquill").total_conversations == 1
    assert a.search("start", provider="claude-code").total_conversations >= 1
    assert a.check()["ok"]


def test_bad_input_never_harms_what_is_archived(tmp_path):
    home = tmp_path / "home"
    a = Archive(home)
    first = tmp_path / "first.json"
    first.write_bytes(orjson.dumps([chatgpt_conv("keep-1", "precious words platypusgrail")]))
    assert a.sync([first]).exit_code == 0
    before = Archive(home).conversation("chatgpt:keep-1")
    # the same file later replaced by garbage, and a corpus of bad files
    first.write_bytes(b"\x00garbage" * 10)
    build_corpus(tmp_path / "corpus")
    report = a.sync([first, tmp_path / "corpus"])
    assert report.exit_code == 3
    after = Archive(home).conversation("chatgpt:keep-1")
    assert after == before
    assert a.search("platypusgrail").total_conversations == 1
    assert a.check()["ok"]


def test_file_that_vanishes_before_reading(tmp_path):
    f = tmp_path / "gone.jsonl"
    f.write_bytes(orjson.dumps(CC_LINE) + b"\n")
    [inp] = list(discover([f], []))
    f.unlink()
    [done] = list(parse_input(inp))
    assert isinstance(done, FileOutcome) and done.status == "failed" and done.conversations == 0
    assert "disappeared" in done.errors[0][1]


def test_a_sync_where_everything_fails_exits_1(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{truncated")
    r = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "sync", str(bad)])
    assert r.exit_code == 1
    assert "bad.json" in r.stderr


def test_zip_members_are_read_in_place_and_unsafe_names_skipped(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("nested/dir/conversations.json", orjson.dumps([chatgpt_conv("zip-1", "inside the zip")]))
        zf.writestr("user.json", orjson.dumps({"id": "user-1", "email": "a@b.c", "chatgpt_plus_user": True}))
        zf.writestr("message_feedback.json", b"[]")
        zf.writestr("../evil.json", orjson.dumps([chatgpt_conv("evil-1", "slip")]))
        zf.writestr("image.png", b"\x89PNG\r\n\x1a\n" + os.urandom(100))
    home = tmp_path / "home"
    report = Archive(home).sync([z])
    ids = {c["id"] for c in Archive(home).list()}
    assert ids == {"chatgpt:zip-1"}  # side files never become conversations
    assert any("unsafe member path" in e["error"] for e in report.errors)
    assert not (tmp_path / "evil.json").exists() and not (tmp_path.parent / "evil.json").exists()
    assert report.exit_code == 3


def test_symlink_loops_are_walked_once(tmp_path):
    d = tmp_path / "tree"
    (d / "a").mkdir(parents=True)
    shutil.copy(EXAMPLES / "claude" / "conversations.json", d / "a" / "c.json")
    os.symlink(d, d / "a" / "loop")
    files = list(discover([d], []))
    assert [f.path.name for f in files] == ["c.json"]


# ---------------------------------------------------------------- issue 18, items 8 and 9


def _sync_cli(home: Path, *paths: Path):
    r = CliRunner().invoke(cli, ["--home", str(home), "sync", *map(str, paths), "--json"])
    return r, json.loads(r.stdout) if r.stdout.strip().startswith("{") else None


def _source_status(home: Path, path: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(home / "polylogue.db")
    try:
        return conn.execute("SELECT status FROM sources WHERE path = ?", (str(path),)).fetchone()[0]
    finally:
        conn.close()


def test_out_of_range_timestamp_line_costs_nothing_else(tmp_path):
    """Item 8: this line gave `internal error: OverflowError` and none of the
    session's messages were imported."""
    odd = dict(CC_REPLY, timestamp="9999-12-31T23:59:59-14:00")
    last = dict(CC_LINE, uuid="u2", parentUuid="a1", message={"role": "user", "content": "and a last prompt"})
    f = tmp_path / "session.jsonl"
    f.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in (CC_LINE, odd, last)))
    home = tmp_path / "home"
    r, report = _sync_cli(home, f)
    assert r.exit_code == 0, r.output
    assert report["errors"] == [] and "internal error" not in r.stderr
    conv = Archive(home).conversation("claude-code:s-bad-1")
    assert [m.id for m in conv.messages] == ["u1", "a1", "u2"]


def test_one_bad_record_in_each_format_costs_that_record_only(tmp_path):
    """Item 8 end to end: in every format, a record full of out-of-range values
    between two good ones; the good ones are imported and no error is internal."""
    from out_of_range import jsonl

    big = {"n": 2**64, "f": 1e308, "t": "0000-01-01T00:00:00Z", "neg": -1e308}
    bad_cc = dict(CC_REPLY, uuid="a-bad", timestamp=1e20, message={**CC_REPLY["message"], "usage": big})
    last_cc = dict(CC_LINE, uuid="u2", parentUuid="a-bad", message={"role": "user", "content": "cc GOOD-TWO"})
    files = {
        "cc.jsonl": jsonl(dict(CC_LINE, message={"role": "user", "content": "cc GOOD-ONE"}), bad_cc, last_cc),
        "gem.jsonl": jsonl(
            {"sessionId": "g-1", "projectHash": "ph", "startTime": "9999-12-31T23:59:59-14:00"},
            {"id": "m1", "timestamp": "2026-01-01T00:00:01Z", "type": "user", "content": "gem GOOD-ONE"},
            {"id": "m2", "timestamp": 10**20, "type": "gemini", "content": [{"text": "x"}], "tokens": big},
            {"id": "m3", "timestamp": "2026-01-01T00:00:03Z", "type": "gemini", "content": "gem GOOD-TWO"},
        ),
    }
    chat = [
        chatgpt_conv("g-one", "gpt GOOD-ONE"),
        chatgpt_conv("g-bad", "middle"),
        chatgpt_conv("g-two", "gpt GOOD-TWO"),
    ]
    chat[1]["mapping"]["n2"]["message"].update(create_time=1e20, update_time="9999-12-31T23:59:59-14:00")
    in_range = dict(big, n=2**63 - 1)  # one JSON document: a number its reader refuses ends it
    chat[1]["mapping"]["n2"]["message"]["metadata"] = {"model_slug": 2**63 - 1, "finish_details": in_range}
    files["chatgpt.json"] = orjson.dumps(chat)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    home = tmp_path / "home"
    r, report = _sync_cli(home, *(tmp_path / n for n in files))
    assert r.exit_code in (0, 3), r.output
    assert not [e for e in report["errors"] if "internal error" in e["error"]], report["errors"]
    a = Archive(home)
    for prefix in ("cc", "gem", "gpt"):
        for good in ("GOOD-ONE", "GOOD-TWO"):
            assert a.search(f'"{prefix} {good}"').total_conversations == 1, (prefix, good)


def test_one_line_gemini_cli_session_is_no_error(tmp_path):
    """Item 9: a Gemini CLI session written as one JSON line was imported, yet the
    sync printed `no Gemini CLI records in this file` and exited 3 (status partial)."""
    doc = {
        "sessionId": "one-line-1",
        "projectHash": "ph",
        "startTime": "2025-01-05T14:00:00.000Z",
        "lastUpdated": "2025-01-05T14:00:30.000Z",
        "messages": [
            {"id": "g1", "timestamp": "2025-01-05T14:00:00.000Z", "type": "user", "content": "read package.json"},
            {"id": "g2", "timestamp": "2025-01-05T14:00:05.000Z", "type": "gemini", "content": "it names 3 scripts"},
        ],
    }
    f = tmp_path / "session-2025-01-05T14-00-abcd1234.json"
    f.write_bytes(orjson.dumps(doc))  # one line, no newline: as the CLI's old form may be written
    home = tmp_path / "home"
    r, report = _sync_cli(home, f)
    assert r.exit_code == 0, r.output
    assert "polylogue: error" not in r.stderr and report["errors"] == []
    assert [m.id for m in Archive(home).conversation("gemini-cli:one-line-1").messages] == ["g1", "g2"]
    assert _source_status(home, f) == "ok"


# ---------------------------------------------------------------- issue 21: every parser meets the corpus

# providers whose files no fixture holds, and why
NO_SAMPLE_NEEDED = {"polylogue": "its files are written by `polylogue export`; tests/test_export.py reads them back"}


def test_the_corpus_against_every_parser(tmp_path):
    """The damage of provider_corpus.py done to a file of every provider and form,
    synced through the CLI together with the undamaged files: each damaged file that
    must be reported is, in one-line errors, none of them internal, and the good
    files' conversations are all imported (a control conversation, whole)."""
    bases = corpus_bases()
    bad = build_provider_corpus(tmp_path / "bad", bases)
    good = [place(b, tmp_path / "good" / b.form) for b in bases]
    control = tmp_path / "good" / "control" / "control.json"
    control.parent.mkdir()
    control.write_bytes(orjson.dumps([chatgpt_conv("control-1", "the control conversation kestrelharbour")]))
    home = tmp_path / "home"
    r, report = _sync_cli(home, tmp_path / "bad", tmp_path / "good")
    assert r.exit_code == 3, r.output
    stray = [line for line in r.stderr.splitlines() if not line.startswith("polylogue: ")]
    assert not stray, stray[:5]  # no traceback, no output of a parser's own
    problems = []
    reported: dict[Path, list[str]] = {}
    for e in report["errors"]:
        where = Path(e["path"].split("!")[0])
        reported.setdefault(where.parent, []).append(e["error"])
        if "internal error" in e["error"] or "\n" in e["error"] or len(e["error"]) > 400:
            problems.append(f"{where.relative_to(tmp_path)}: not one clear line: {e['error'][:300]!r}")
    for f in bad:
        if f.must_report and f.path.parent not in reported:
            problems.append(f"{f.base.form}/{f.damage}: not reported")
        elif f.must_report and str(f.path) not in r.stderr:
            problems.append(f"{f.base.form}/{f.damage}: no error line names the file")
    ids = {(p, i) for p, i in Archive(home).sql("SELECT provider, provider_id FROM conversations")[1]}
    for g in good:
        lost = [c.id for c in parsed(g) if (c.provider, c.provider_id) not in ids]
        if lost:
            problems.append(f"{g.relative_to(tmp_path)}: lost {lost[:3]}")
    assert not problems, "\n".join(problems)
    assert len(Archive(home).conversation("chatgpt:control-1").messages) == 2
    assert Archive(home).search("kestrelharbour").total_conversations == 1
    assert Archive(home).check()["ok"]


def test_every_provider_has_a_file_for_the_corpus(samples):
    """A provider the corpus cannot reach is a provider no bad input was tried on:
    each needs a file among tests/fixtures/<name>/ or the shared samples."""
    covered = {s.provider for s in all_samples()}
    missing = [p.name for p in providers() if p.name not in covered and p.name not in NO_SAMPLE_NEEDED]
    assert not missing, f"no fixture or sample file is recognised as {missing}: commit one under tests/fixtures/"
