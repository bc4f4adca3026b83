"""One sync over everything at once: every provider's real layout plus the
bad-input corpus. Bad files are reported one by one; all the rest imports."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from click.testing import CliRunner
from test_bad_input import build_corpus

from polylogue.api import Archive
from polylogue.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROVIDER_DIRS = ("chatgpt", "claude-ai", "claude-code", "codex", "gemini-aistudio", "gemini-cli")


def _layout(root: Path) -> None:
    """The examples laid out as a user has them: export zips and tool folders."""
    with zipfile.ZipFile(root / "chatgpt-export.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(EXAMPLES / "chatgpt" / "conversations.json", "conversations.json")
        z.writestr("user.json", json.dumps({"id": "user-x", "email": "me@example.com", "chatgpt_plus_user": False}))
        z.writestr("message_feedback.json", "[]")
    with zipfile.ZipFile(root / "claude-export.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(EXAMPLES / "claude" / "conversations.json", "data/conversations.json")
        z.writestr("data/users.json", json.dumps([{"uuid": "u", "full_name": "Me", "email_address": "me@x"}]))
    shutil.copytree(EXAMPLES / "claude-code" / "projects", root / "home" / ".claude" / "projects")
    shutil.copytree(EXAMPLES / "codex" / "sessions", root / "home" / ".codex" / "sessions")
    shutil.copytree(EXAMPLES / "gemini-cli" / "tmp", root / "home" / ".gemini" / "tmp")
    shutil.copytree(EXAMPLES / "gemini", root / "Drive")


def test_mixed_sync(tmp_path):
    root = tmp_path / "everything"
    root.mkdir()
    _layout(root)
    corpus = build_corpus(root / "bad")
    r = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "sync", str(root), "--json"])
    assert r.exit_code == 3, r.output
    out = json.loads(r.stdout)
    # a text over the size limit is cut and said so (docs/providers.md, "Size limits"): huge.jsonl is reported too
    bad_names = {p.name for k, p in corpus.items() if k != "good"}
    reported = {Path(e["path"].split("!")[0]).name for e in out["errors"]}
    assert reported == bad_names, reported ^ bad_names
    stats = Archive(tmp_path / "h").stats()
    by = {p: v["conversations"] for p, v in stats["by_provider"].items()}
    # the examples per provider, plus the corpus: good.json + the complete half of truncated.json
    # (chatgpt), and the sessions in garbage.jsonl, bad-utf8.jsonl and huge.jsonl (claude-code)
    assert by == {"chatgpt": 3 + 2, "claude": 3, "claude-code": 3 + 3, "codex": 2, "gemini": 1, "gemini-cli": 2}
    assert Archive(tmp_path / "h").search("zanzibarquux").total_conversations == 4
    assert Archive(tmp_path / "h").check()["ok"]


def test_every_shared_sample_imports_without_a_crash(samples, tmp_path):
    """All samples of the six providers in one sync: no internal error, no lost file."""
    report = Archive(tmp_path / "h").sync([samples / d for d in PROVIDER_DIRS])
    internal = [e for e in report.errors if "internal error" in e["error"]]
    assert internal == []
    assert report.files_imported >= 80
    assert report.exit_code in (0, 3)
    assert Archive(tmp_path / "h").check()["ok"]
