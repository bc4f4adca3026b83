"""One sync over everything at once: every registered provider's files in their
real layout, plus the bad-input corpus. Bad files are reported one by one; all the
rest imports, each conversation as whole as when its file is parsed alone.

Which files belong to which provider is the registry's decision (provider_corpus.py
sniffs every fixture and sample as a sync does), so a provider added later, with
its fixtures under tests/fixtures/, takes part without a change here."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from provider_corpus import FIXTURES, SHARED_SAMPLES, Sample, all_samples, parsed, place
from test_bad_input import build_corpus

from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.providers import by_name, is_side_file, open_clean
from polylogue.providers.common import ParseContext

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# the examples, counted by hand
EXAMPLE_CONVERSATIONS = {"chatgpt": 3, "claude": 3, "claude-code": 3, "codex": 2, "gemini": 1, "gemini-cli": 2}
# what the bad-input corpus adds: good.json + the complete half of truncated.json (chatgpt),
# and the sessions in garbage.jsonl, bad-utf8.jsonl and huge.jsonl (claude-code)
CORPUS_CONVERSATIONS = {("chatgpt", "good-1"), ("chatgpt", "t-1")} | {
    ("claude-code", s) for s in ("s-bad-1", "s-utf8", "s-huge")
}


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


def _lay_out_samples(root: Path, samples: list[Sample]) -> None:
    """Fixtures and shared samples in their folders (with the files read beside
    them); the examples are laid out by ``_layout``."""
    for s in samples:
        if EXAMPLES in s.path.parents:
            continue
        top = FIXTURES if FIXTURES in s.path.parents else SHARED_SAMPLES
        place(s, root / top.name / s.path.parent.relative_to(top))
    # the files a parse reads beside its input that are no inputs of their own (side files:
    # an OpenCode session's message and part files, in folders of their own), where they are
    tops = {
        FIXTURES if FIXTURES in s.path.parents else SHARED_SAMPLES for s in samples if EXAMPLES not in s.path.parents
    }
    for top in tops:
        for p in top.rglob("*.json"):
            if _is_side_file(p) and not (root / top.name / p.relative_to(top)).exists():
                (root / top.name / p.relative_to(top)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, root / top.name / p.relative_to(top))


def _is_side_file(path: Path) -> bool:
    with open(path, "rb") as f:
        head, _ = open_clean(f, ParseContext(str(path)))
    return is_side_file(head)


def _alone(samples: list[Sample]) -> dict[tuple[str, str], set[int]]:
    """(provider, id) -> the message counts its files give when each is parsed alone
    (more than one where two files hold versions of one conversation)."""
    out: dict[tuple[str, str], set[int]] = {}
    for s in samples:
        for c in parsed(s.path):
            out.setdefault((c.provider, c.provider_id), set()).add(len(c.messages))
    return out


def _archived(home: Path) -> dict[tuple[str, str], int]:
    rows = Archive(home).sql("SELECT provider, provider_id, message_count FROM conversations")[1]
    return {(p, i): n for p, i, n in rows}


def _lost(alone: dict[tuple[str, str], set[int]], archived: dict[tuple[str, str], int]) -> list[str]:
    return [
        f"{p}:{i}: {archived.get((p, i), 'missing')} messages, alone {sorted(counts)}"
        for (p, i), counts in sorted(alone.items())
        if archived.get((p, i)) not in counts
    ]


def test_mixed_sync(tmp_path):
    """The examples, every provider's committed fixtures and the bad-input corpus."""
    samples = [s for s in all_samples() if s.committed]
    root = tmp_path / "everything"
    root.mkdir()
    _layout(root)
    _lay_out_samples(root, samples)
    corpus = build_corpus(root / "bad")
    r = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "sync", str(root), "--json"])
    assert r.exit_code == 3, r.output
    out = json.loads(r.stdout)
    assert not [e for e in out["errors"] if "internal error" in e["error"]]
    # a text over the size limit is cut and said so (docs/providers.md, "Size limits"): huge.jsonl is reported too
    bad_names = {p.name for k, p in corpus.items() if k != "good"}
    reported = {Path(e["path"].split("!")[0]).name for e in out["errors"] if str(root / "bad") in e["path"]}
    assert reported == bad_names, reported ^ bad_names
    alone = _alone(samples)
    examples = Counter(p for p, _ in _alone([s for s in samples if EXAMPLES in s.path.parents]))
    assert examples == EXAMPLE_CONVERSATIONS
    archived = _archived(tmp_path / "h")
    assert not _lost(alone, archived)
    assert set(archived) == set(alone) | CORPUS_CONVERSATIONS
    every = {s.provider for s in samples if by_name(s.provider).own_conversations}
    assert every <= {p for p, _ in archived}  # each provider with a fixture has conversations here
    assert Archive(tmp_path / "h").search("zanzibarquux").total_conversations == 4
    assert Archive(tmp_path / "h").check()["ok"]


# Counted by hand from the fixtures and shared samples of these providers (16 files).
HAND_COUNTED = {
    "deepseek": (4, 28),
    "gemini-apps": (5, 11),
    "goose": (3, 16),
    "grok": (3, 9),
    "grok-cli": (1, 11),
    "librechat": (3, 20),
    "open-webui": (5, 12),
}


def test_every_sample_in_one_sync(samples, tmp_path):
    """Every file of every provider, committed and shared, in one sync: no internal
    error, no file lost, every conversation as whole as when its file is parsed alone."""
    found = list(all_samples())
    root = tmp_path / "all"
    root.mkdir()
    _layout(root)
    _lay_out_samples(root, found)
    report = Archive(tmp_path / "h").sync([root])
    assert [e for e in report.errors if "internal error" in e["error"]] == []
    assert report.files_failed == 0 and report.files_imported >= 150
    assert report.exit_code in (0, 3)
    archived = _archived(tmp_path / "h")
    alone = _alone(found)
    assert not _lost(alone, archived)
    assert set(archived) == set(alone)
    stats = Archive(tmp_path / "h").stats()["by_provider"]
    for name, (conversations, messages) in HAND_COUNTED.items():
        assert (stats[name]["conversations"], stats[name]["messages"]) == (conversations, messages), name
    assert Archive(tmp_path / "h").check()["ok"]
