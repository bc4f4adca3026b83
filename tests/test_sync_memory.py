"""A sync never forgets a failure and never loses a change (issue 18, items 5,
6, 7 and 10): a file that failed is read again on every sync until it succeeds;
problems found before are still reported (summary, exit code, `sources`) while
their file is unchanged; a file written while it was read is read again by the
next sync; an export folder syncs again without errors about its own manifests."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from polylogue.api import Archive
from polylogue.cli import cli
from polylogue.ingest import FileOutcome, Progress, SyncReport, _write_all, parse_input
from polylogue.providers import detect, is_side_file, providers, read_head
from polylogue.sources import InputFile, file_hash
from polylogue.store.db import open_writer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CHATGPT = EXAMPLES / "chatgpt" / "conversations.json"


def cli_run(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def sync_json(home: Path, *paths: Path) -> tuple[int, dict, str]:
    r = cli_run(home, "sync", "--json", *map(str, paths))
    return r.exit_code, json.loads(r.stdout), r.stderr


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("polylogue: error:")]


def write_keeping_mtime(path: Path, data: bytes, mtime_ns: int) -> None:
    """Rewrite a file and put its old mtime back (as `chmod`, `cp -p` or a restore
    leave it): only its content, or its readability, changed."""
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def session_line(uuid: str, parent: str | None, text: str) -> dict:
    return {
        "type": "user",
        "uuid": uuid,
        "parentUuid": parent,
        "sessionId": "s-memory-1",
        "timestamp": "2025-03-01T10:00:00Z",
        "cwd": "/tmp/p",
        "message": {"role": "user", "content": text},
    }


def partial_session(folder: Path) -> Path:
    """A Claude Code session with one broken line: imported in part, with a problem on line 2."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s-memory-1.jsonl"
    lines = [
        json.dumps(session_line("u1", None, "first line quillwort")),
        '{"type": "user", "uuid": "u2", broken',
        json.dumps(session_line("u3", "u1", "third line quillwort")),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def failing_folder(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "unknown.json": b'{"what": "no provider knows this"}',
        "broken.json": b'{"mapping": {"a": [1, 2',
        "empty.json": b"",
        "binary.jsonl": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return sorted(folder / name for name in files)


# ---------------------------------------------------------------- item 5: a failed file is read again


def test_a_failed_file_is_read_again_once_fixed_without_a_new_mtime(tmp_path):
    good = CHATGPT.read_bytes()
    src = tmp_path / "conversations.json"
    src.write_bytes(b"x" + good[1:])  # same size, not JSON: fails
    mtime = src.stat().st_mtime_ns
    home = tmp_path / "h"
    code, first, _ = sync_json(home, src)
    assert (code, first["files"]["failed"]) == (1, 1)
    write_keeping_mtime(src, good, mtime)  # fixed; size and mtime as they were
    code, again, stderr = sync_json(home, src)
    assert code == 0 and error_lines(stderr) == []
    assert again["files"]["imported"] == 1 and again["conversations"]["new"] == 3
    # it succeeded: from now on it is unchanged, and not read again
    code, third, _ = sync_json(home, src)
    assert code == 0 and third["files"]["unchanged"] == 1 and third["files"]["imported"] == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_a_file_that_could_not_be_read_is_read_again_after_chmod(tmp_path):
    src = tmp_path / "conversations.json"
    src.write_bytes(CHATGPT.read_bytes())
    src.chmod(0)
    home = tmp_path / "h"
    code, first, stderr = sync_json(home, src)
    assert code == 1 and "Permission denied" in stderr
    src.chmod(0o600)  # chmod leaves the mtime alone
    code, again, _ = sync_json(home, src)
    assert code == 0 and again["conversations"]["new"] == 3


def test_a_failed_file_keeps_no_hash(tmp_path):
    src = tmp_path / "unknown.json"
    src.write_bytes(b'{"what": "no provider knows this"}')
    home = tmp_path / "h"
    sync_json(home, src)
    conn = sqlite3.connect(home / "polylogue.db")
    assert conn.execute("SELECT status, hash FROM sources").fetchall() == [("failed", None)]


# ---------------------------------------------------------------- item 6: failures are not forgotten


def test_failed_files_are_reported_by_every_sync(tmp_path):
    bad = failing_folder(tmp_path / "bad")
    home = tmp_path / "h"
    code, first, stderr = sync_json(home, tmp_path / "bad")
    assert code == 1 and first["files"]["failed"] == len(bad)
    for _ in range(2):
        code, again, stderr_again = sync_json(home, tmp_path / "bad")
        assert code == 1, again
        assert again["files"]["failed"] == len(bad) and again["files"]["unchanged"] == 0
        assert error_lines(stderr_again) == error_lines(stderr)
    human = cli_run(home, "sync", str(tmp_path / "bad"))
    assert human.exit_code == 1 and "Nothing changed" not in human.stdout
    assert f"{len(bad)} failed" in human.stdout


def test_a_partial_file_is_not_read_again_but_its_problems_still_count(tmp_path):
    session = partial_session(tmp_path / "logs")
    home = tmp_path / "h"
    code, first, stderr = sync_json(home, session)
    assert code == 3 and first["conversations"]["new"] == 1
    (problem,) = first["errors"]
    assert problem["line"] == 2
    code, again, stderr_again = sync_json(home, session)
    assert code == 3, again  # as for the first sync: the file is imported in part
    assert again["files"]["unchanged"] == 1 and again["files"]["imported"] == 0  # not read again
    assert again["errors"] == [] and again["files"]["failing"] == 1
    assert again["failing"] == [{"path": str(session), "status": "partial", "errors": [problem]}]
    (line,) = error_lines(stderr_again)
    assert line.startswith(f"polylogue: error: {session}:2: ") and "earlier sync" in line
    human = cli_run(home, "sync", str(session))
    assert human.exit_code == 3 and "1 unchanged file still has problems" in human.stdout
    # fixed: read again, and the problem is gone from the next syncs
    broken = '{"type": "user", "uuid": "u2", broken'
    session.write_text(session.read_text().replace(broken, json.dumps(session_line("u2", "u1", "mended"))))
    code, fixed, _ = sync_json(home, session)
    assert fixed["files"]["imported"] == 1 and fixed["errors"] == []
    code, last, _ = sync_json(home, session)
    assert code == 0 and last["failing"] == [] and last["files"]["failing"] == 0


def test_sources_lists_failing_files_with_their_problems(tmp_path):
    bad = failing_folder(tmp_path / "bad")
    session = partial_session(tmp_path / "logs")
    home = tmp_path / "h"
    cli_run(home, "sync", str(tmp_path / "bad"), str(session))
    r = cli_run(home, "sources", "--json")
    assert r.exit_code == 0
    failing = {f["path"]: f for f in json.loads(r.stdout)["failing"]}
    assert set(failing) == {str(p) for p in [*bad, session]}
    assert failing[str(session)]["status"] == "partial" and failing[str(session)]["conversations"] == 1
    assert failing[str(session)]["errors"][0]["line"] == 2
    assert failing[str(bad[0])]["status"] == "failed"
    assert all(f["errors"] and all(e["error"] for e in f["errors"]) for f in failing.values())
    text = cli_run(home, "sources").stdout
    assert "5 files with problems at the last sync:" in text
    for f in failing.values():
        assert f["path"] in text and f["errors"][0]["error"] in text
    assert "line 2: " in text
    bad[0].unlink()  # deleted since: nothing left to fix
    listed = [f["path"] for f in json.loads(cli_run(home, "sources", "--json").stdout)["failing"]]
    assert str(bad[0]) not in listed and len(listed) == 4


def test_sources_without_an_archive_lists_no_failures_and_makes_none(tmp_path):
    home = tmp_path / "none"
    r = cli_run(home, "sources", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["failing"] == []
    assert not (home / "polylogue.db").exists()


def test_problems_kept_by_older_code_survive_the_upgrade(tmp_path):
    """An archive from before source_problems: the joined `error` of a partial
    file is still reported after the migration."""
    session = partial_session(tmp_path / "logs")
    home = tmp_path / "h"
    sync_json(home, session)
    conn = sqlite3.connect(home / "polylogue.db")
    conn.execute("DROP TABLE source_problems")
    conn.execute("UPDATE sources SET error = 'an old problem'")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    code, again, _ = sync_json(home, session)
    assert code == 3 and again["failing"] == [
        {"path": str(session), "status": "partial", "errors": [{"path": str(session), "error": "an old problem"}]}
    ]


def test_problems_kept_per_file_are_bounded(tmp_path):
    from polylogue.store.writer import MAX_PROBLEMS

    folder = tmp_path / "many"
    folder.mkdir()
    lines = [json.dumps(session_line("u0", None, "a good line"))]
    lines += [f'{{"broken {i}' for i in range(MAX_PROBLEMS + 50)]
    (folder / "s.jsonl").write_text("\n".join(lines) + "\n")
    home = tmp_path / "h"
    sync_json(home, folder)
    (failing,) = Archive(home).failing_sources()
    assert len(failing["errors"]) <= MAX_PROBLEMS + 1


# ---------------------------------------------------------------- item 7: a change during a sync


def _outcome(items: list) -> FileOutcome:
    assert isinstance(items[-1], FileOutcome)
    return items[-1]


@pytest.mark.parametrize("mtime_put_back", [False, True], ids=["new-mtime", "old-mtime-put-back"])
def test_a_file_rewritten_while_it_is_parsed_is_read_again(tmp_path, mtime_put_back):
    src = tmp_path / "conversations.json"
    convs = json.loads(CHATGPT.read_text())
    src.write_text(json.dumps(convs))
    st = src.stat()
    f = InputFile(str(src), st.st_size, st.st_mtime_ns, True)
    parsing = parse_input(f)
    first = next(parsing)  # the parser is paused after its first conversation
    assert not isinstance(first, FileOutcome)
    time.sleep(0.02)  # past the file system's timestamp granularity
    title = convs[2]["title"]
    convs[2]["title"] = title[::-1] if title[::-1] != title else title.upper()
    convs[2]["update_time"] += 3600  # a newer version of it (unchanged times are skipped unread)
    src.write_text(json.dumps(convs))  # rewritten, same size
    assert src.stat().st_size == st.st_size
    if mtime_put_back:
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    items = [first, *parsing]
    out = _outcome(items)
    now = src.stat()
    # the identity recorded does not claim the new bytes were read
    assert (out.size, out.mtime_ns) != (now.st_size, now.st_mtime_ns)
    assert out.digest != file_hash(src)
    assert any("changed while it was read" in note for _, note in out.notes)

    # recorded in an archive, the next sync reads the file again and gets the new title
    home = tmp_path / "h"
    home.mkdir()
    conn = open_writer(home / "polylogue.db")  # a new archive, as sync opens it
    try:
        _write_all(conn, iter(items), 0, SyncReport(), Progress())
    finally:
        conn.close()
    report = Archive(home).sync([src])
    assert report.files_imported == 1 and report.conversations_updated == 1
    titles = {c["title"] for c in Archive(home).list(limit=10)}
    assert convs[2]["title"] in titles and title not in titles


def test_the_identity_is_that_of_the_bytes_read(tmp_path):
    """Unchanged during the parse: size and mtime as opened, the hash of the bytes read."""
    src = tmp_path / "conversations.json"
    src.write_bytes(CHATGPT.read_bytes())
    st = src.stat()
    out = _outcome(list(parse_input(InputFile(str(src), st.st_size, st.st_mtime_ns, True))))
    assert (out.size, out.mtime_ns, out.digest) == (st.st_size, st.st_mtime_ns, file_hash(src))
    assert out.notes == []


def test_a_file_changed_between_listing_and_reading_records_what_was_read(tmp_path):
    src = tmp_path / "conversations.json"
    src.write_bytes(CHATGPT.read_bytes())
    listed = src.stat()
    time.sleep(0.02)
    src.write_bytes(CHATGPT.read_bytes() + b"\n")  # grown before the parse opened it
    out = _outcome(list(parse_input(InputFile(str(src), listed.st_size, listed.st_mtime_ns, True))))
    now = src.stat()
    assert (out.size, out.mtime_ns, out.digest) == (now.st_size, now.st_mtime_ns, file_hash(src))


# ---------------------------------------------------------------- item 10: an export folder syncs again


def test_an_export_folder_syncs_without_errors(tmp_path):
    home = tmp_path / "h"
    assert cli_run(home, "sync", str(EXAMPLES)).exit_code == 0
    out = tmp_path / "exports"
    for fmt in ("markdown", "jsonl", "html", "json", "obsidian"):
        r = cli_run(home, "export", "--format", fmt, "--out", str(out / fmt))
        assert r.exit_code == 0, r.output
    assert len(list(out.glob("*/.polylogue-export.json"))) == 5
    for target in (tmp_path / "again", home):  # a new archive, and the one exported from
        r = cli_run(target, "sync", str(out))
        assert r.exit_code == 0, r.output
        assert error_lines(r.stderr) == [] and ".polylogue-export.json" not in r.stderr
        assert "index.json" not in r.stderr
    assert cli_run(tmp_path / "again", "sync", str(out)).exit_code == 0  # and again: nothing failing


def _manifest_head(data: bytes):
    head = read_head(data[: 64 << 10])
    assert detect(head) is None
    return head


def test_export_manifests_are_the_polylogue_provider_side_files(tmp_path):
    home = tmp_path / "h"
    cli_run(home, "sync", str(EXAMPLES))
    cli_run(home, "export", "--format", "json", "--out", str(tmp_path / "e"))
    manifest = json.loads((tmp_path / "e" / ".polylogue-export.json").read_text())
    # a manifest far longer than the head a sniffer sees: `generator` is out of sight
    entry = next(iter(manifest["conversations"].values()))
    big = dict(manifest, conversations={f"chatgpt:{i:06d}": entry for i in range(3000)})
    for data in (
        (tmp_path / "e" / ".polylogue-export.json").read_bytes(),
        json.dumps(big, indent=2, sort_keys=True).encode(),
        json.dumps(dict(manifest, conversations={}), indent=2, sort_keys=True).encode(),
        (tmp_path / "e" / "index.json").read_bytes(),
    ):
        head = _manifest_head(data)
        assert is_side_file(head)
        assert [p.name for p in providers() if p.side_file is not None and p.side_file(head)] == ["polylogue"]
    # what is not ours stays an error: a chat export's conversation list is not an index
    other = read_head(b'{"conversations": {"a": {"title": "x"}}}')
    assert not is_side_file(other)
