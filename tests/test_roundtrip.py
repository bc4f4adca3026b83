"""The archive is never a trap: export everything as JSONL, re-import it into a
fresh home, and get identical conversations (same ids, same content hashes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.render.json import conversation_dict

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROVIDER_DIRS = ("chatgpt", "claude-ai", "claude-code", "codex", "gemini-aistudio", "gemini-cli")


def fingerprint(home: Path) -> tuple[set, set]:
    conn = sqlite3.connect(home / "polylogue.db")
    try:
        convs = set(
            conn.execute(
                "SELECT uid, title, created_at, updated_at, parent_uid, project, models, meta, message_count, hash "
                "FROM conversations"
            )
        )
        msgs = set(
            conn.execute(
                "SELECT c.uid, m.seq, m.mid, m.hash FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            )
        )
    finally:
        conn.close()
    return convs, msgs


def roundtrip(tmp_path: Path, sources: list[Path]) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    Archive(first).sync(sources)
    out = tmp_path / "export"
    r = CliRunner().invoke(cli, ["--home", str(first), "export", "--format", "jsonl", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    lines = (out / "conversations.jsonl").read_text().splitlines()
    assert len(lines) == Archive(first).stats()["conversations"]
    report = Archive(second).sync([out / "conversations.jsonl"])
    assert report.errors == []
    assert fingerprint(first) == fingerprint(second)
    a, b = Archive(first), Archive(second)
    for c in a.list(limit=10_000):
        assert conversation_dict(a.conversation(c["id"])) == conversation_dict(b.conversation(c["id"]))
    assert json.loads(lines[0])["messages"][0]["blocks"] is not None


def test_examples_round_trip(tmp_path):
    roundtrip(tmp_path, [EXAMPLES])


def test_every_sample_round_trips(samples, tmp_path):
    roundtrip(tmp_path, [samples / d for d in PROVIDER_DIRS])


def test_single_conversation_json_reimports(tmp_path):
    a = Archive(tmp_path / "a")
    a.sync([EXAMPLES / "claude-code"])
    cid = a.list(limit=1)[0]["id"]
    out = tmp_path / "one.json"
    r = CliRunner().invoke(cli, ["--home", str(tmp_path / "a"), "show", cid, "--json"])
    out.write_text(r.stdout)
    b = Archive(tmp_path / "b")
    assert b.sync([out]).errors == []
    assert conversation_dict(b.conversation(cid)) == conversation_dict(a.conversation(cid))
