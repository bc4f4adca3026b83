"""A session log that grew is parsed from where the last parse left off
(polylogue/resume.py), and the result is exactly what a full parse gives."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, SHARED_SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import resume
from polylogue.api import Archive
from polylogue.providers import detect, open_clean
from polylogue.providers.common import ParseContext

LOGS = sorted(EXAMPLES.glob("claude-code/**/*.jsonl")) + sorted(EXAMPLES.glob("codex/**/*.jsonl"))
SAMPLE_LOGS = (
    sorted(SHARED_SAMPLES.glob("claude-code/*.jsonl")) + sorted(SHARED_SAMPLES.glob("codex/*.jsonl"))
    if SHARED_SAMPLES.is_dir()
    else []
)


@pytest.fixture(autouse=True)
def _small_logs_kept(monkeypatch):
    monkeypatch.setattr(resume, "MIN_BYTES", 0)  # the shipped logs are far below the production threshold


def parse(path: Path, folder: Path):
    """What parse_input does for a log that may grow: sniff, then parse through resume."""
    ctx = ParseContext(str(path))
    with open(path, "rb") as raw:
        head, _ = open_clean(raw, ctx)
        mod = detect(head)
        # None: too short yet to tell (one line); sync reads it whole
        if mod is None or mod.resume is None or not mod.resume.applies(head):
            return None, None, None
        convs = list(resume.parse(raw, str(path), path.stat().st_size, mod, ctx, folder))
    return convs, [str(w) for w in ctx.warnings], ctx.resumed_from


def full(path: Path, tmp: Path):
    """What parse_input does for any other file: the provider's own parse of the whole stream."""
    ctx = ParseContext(str(path))
    with open(path, "rb") as raw:
        head, stream = open_clean(raw, ctx)
        convs = list(detect(head).parse(stream, ctx))
    return convs, [str(w) for w in ctx.warnings]


def grow(data: bytes, cuts: list[int], log: Path, folder: Path) -> list:
    """Write ``data`` up to each cut in turn, parsing after each; the last parse's result."""
    out = None
    for c in cuts:
        log.write_bytes(data[:c])
        out = parse(log, folder)
    return out


def resumable_logs(paths: list[Path]) -> list[Path]:
    out = []
    for p in paths:
        ctx = ParseContext(str(p))
        with open(p, "rb") as raw:
            head, _ = open_clean(raw, ctx)
        mod = detect(head)
        if mod is not None and mod.resume is not None and mod.resume.applies(head):
            out.append(p)
    return out


def biggest() -> Path:
    return max(resumable_logs(LOGS), key=lambda p: p.stat().st_size)


def cut_points(data: bytes) -> list[int]:
    """Every line end, and the middle of every line."""
    ends = [i + 1 for i, b in enumerate(data) if b == 0x0A]
    mids = [(a + b) // 2 for a, b in zip([0] + ends, ends)]
    return sorted(set(ends + mids))


def resume_at_cuts(src: Path, tmp_path: Path, step: int = 1, clean: bool = True) -> int:
    """Cut ``src`` at every ``step``-th cut point, parse the cut log as one seen
    growing, then the whole log from the kept state: the same conversations and
    warnings as a full parse each time. ``clean``: no line of ``src`` is bad, so
    every cut log that sniffs as one keeps a state. The number of parses that resumed."""
    data = src.read_bytes()
    log = tmp_path / src.name
    log.write_bytes(data)
    want = full(log, tmp_path)
    resumed_count = 0
    for c in cut_points(data)[::step]:
        folder = tmp_path / f"state-{c}"
        log.write_bytes(data[:c])
        first = parse(log, folder)  # takes the state (a log seen growing)
        log.write_bytes(data)
        convs, warnings, resumed = parse(log, folder)
        assert (convs, warnings) == want, f"cut at byte {c}"
        if first[0] is not None and clean:  # long enough to tell it is a log
            assert resumed == data.rfind(b"\n", 0, c) + 1
        resumed_count += resumed is not None
    return resumed_count


@pytest.mark.parametrize("src", resumable_logs(LOGS), ids=lambda p: p.name)
def test_every_cut_of_the_shipped_logs_resumes_to_the_full_parse(src, tmp_path):
    assert resume_at_cuts(src, tmp_path)


@pytest.mark.parametrize("src", resumable_logs(SAMPLE_LOGS), ids=lambda p: p.name)
def test_real_logs_resume_to_the_full_parse(src, tmp_path):
    step = max(1, len(cut_points(src.read_bytes())) // 12)  # a dozen cuts each keeps the suite fast
    resume_at_cuts(src, tmp_path, step, clean=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_growth_in_any_steps_with_garbage_lines(tmp_path_factory, data):
    """Any sequence of appends, including garbage lines and a half-written last
    line, gives what one full parse of the final file gives."""
    srcs = resumable_logs(LOGS)
    src = data.draw(st.sampled_from(srcs))
    lines = src.read_bytes().splitlines(keepends=True)
    junk = st.sampled_from([b"not json\n", b'{"type": 5}\n', b"[1, 2]\n", b"\n", b'{"trunc', b"\xff\xfe{}\n"])
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(2, len(lines)))  # the first lines tell what the file is
        lines.insert(at, data.draw(junk))
    body = b"".join(lines)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(body)), min_size=1, max_size=5))))
    tmp = tmp_path_factory.mktemp("grow")
    log = tmp / src.name
    log.write_bytes(body)
    want = full(log, tmp)
    got = grow(body, cuts + [len(body)], log, tmp / "state")
    assert got[:2] == want


def half_kept(tmp_path: Path) -> tuple[bytes, Path, Path, int]:
    """The biggest shipped log cut at a line end near its middle, parsed as a
    log seen growing: (its bytes, the log, the state folder, the cut)."""
    src = biggest()
    data = src.read_bytes()
    log = tmp_path / src.name
    folder = tmp_path / "state"
    half = data.rfind(b"\n", 0, len(data) // 2) + 1
    log.write_bytes(data[:half])
    parse(log, folder)
    assert len(list(folder.iterdir())) == 1
    return data, log, folder, half


def test_a_rewritten_or_shortened_log_is_parsed_whole(tmp_path):
    data, log, folder, half = half_kept(tmp_path)
    # the same length and more, but an earlier byte differs: not an append
    changed = data.replace(b"a", b"e", 1)
    assert changed[:half] != data[:half]
    log.write_bytes(changed)
    convs, warnings, resumed = parse(log, folder)
    assert resumed is None and (convs, warnings) == full(log, tmp_path)
    # shorter than what the state covers
    log.write_bytes(changed[: half // 2])
    convs, warnings, resumed = parse(log, folder)
    assert resumed is None and (convs, warnings) == full(log, tmp_path)


def test_a_broken_or_foreign_state_is_ignored(tmp_path):
    data, log, folder, _ = half_kept(tmp_path)
    (state,) = folder.iterdir()
    assert state.stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o777 == 0o700
    good = state.read_bytes()
    log.write_bytes(data)
    want = full(log, tmp_path)
    for broken in (
        good[: len(good) // 2],
        b"garbage",
        good.replace(b'"version":"', b'"version":"x', 1),
        good.replace(b'"lineno":', b'"lineno":"', 1),
        b"",
    ):
        state.write_bytes(broken)
        convs, warnings, resumed = parse(log, folder)
        assert resumed is None and (convs, warnings) == want
    for mode, path in ((0o620, state), (0o707, folder)):  # writable by others: never unpickled
        state.write_bytes(good)
        os.chmod(path, mode)
        convs, warnings, resumed = parse(log, folder)
        assert resumed is None and (convs, warnings) == want
        os.chmod(path, 0o600 if path == state else 0o700)
    state.write_bytes(good)
    assert parse(log, folder)[2] is not None


def test_warnings_before_the_cut_keep_no_state(tmp_path):
    src = biggest()
    data = b"not json\n" + src.read_bytes()
    log = tmp_path / src.name
    folder = tmp_path / "state"
    log.write_bytes(data[: len(data) // 2])
    parse(log, folder)
    assert not folder.exists()  # a resumed parse could not report that line again


# ---------------------------------------------------------------- through sync


def table(home: Path) -> tuple:
    conn = sqlite3.connect(home / "polylogue.db")
    try:
        return (
            sorted(conn.execute("SELECT uid, hash, message_count, title FROM conversations")),
            sorted(conn.execute("SELECT mid, seq, hash, flags, parent_mid FROM messages")),
        )
    finally:
        conn.close()


def session(tmp_path: Path) -> tuple[list[bytes], Path, Archive]:
    """The shipped Claude Code session's lines, where its log will be written, and an archive."""
    src = EXAMPLES / "claude-code" / "projects" / "-home-dev-src-webshop" / "7c2e9a41-5b3d-4f6e-9a8c-1d2e3f4a5b6c.jsonl"
    folder = tmp_path / "projects" / "-home-dev-src-webshop"
    folder.mkdir(parents=True)
    return src.read_bytes().splitlines(keepends=True), folder / src.name, Archive(tmp_path / "home")


def test_sync_of_a_growing_session_resumes_and_matches_a_fresh_import(tmp_path):
    lines, log, a = session(tmp_path)
    reports = []
    old = time.time() - 10 * 86400
    for n in (len(lines) // 3, len(lines) // 2, 2 * len(lines) // 3, len(lines)):
        log.write_bytes(b"".join(lines[:n]))
        os.utime(log, (old, old))  # an old session: no state until it is seen growing
        old += 60
        reports.append(a.sync([tmp_path / "projects"]).to_json())
    assert [r["files"]["resumed"] for r in reports] == [0, 0, 1, 1]
    from polylogue.sources import file_hash

    conn = sqlite3.connect(tmp_path / "home" / "polylogue.db")
    assert conn.execute("SELECT hash FROM sources WHERE path = ?", (str(log),)).fetchone()[0] == file_hash(log)
    conn.close()  # the hash taken while resuming is the file's: a touched log stays unparsed
    assert sum(r["messages"]["new"] for r in reports) == table(tmp_path / "home")[0][0][2]
    fresh = tmp_path / "fresh"
    Archive(fresh).sync([tmp_path / "projects"])
    assert table(fresh) == table(tmp_path / "home")
    assert (tmp_path / "home" / "parse-state").is_dir()
    # --force parses everything again and finds nothing to change
    r = a.sync([tmp_path / "projects"], force=True)
    assert r.files_resumed == 0 and r.conversations_updated == 0


def test_a_log_written_lately_is_kept_from_its_first_sync(tmp_path):
    lines, log, a = session(tmp_path)
    log.write_bytes(b"".join(lines[: len(lines) // 2]))  # written just now: a session that may go on
    assert a.sync([tmp_path / "projects"]).files_resumed == 0
    log.write_bytes(b"".join(lines))
    assert a.sync([tmp_path / "projects"]).files_resumed == 1
    assert resume.may_grow(10, None, int((time.time() - 47 * 3600) * 1e9))
    assert not resume.may_grow(10, None, int((time.time() - 49 * 3600) * 1e9))
    assert resume.may_grow(10, 9, 0) and not resume.may_grow(10, 10, 0)


def test_a_session_rewritten_between_syncs_is_imported_as_it_now_is(tmp_path):
    lines, log, a = session(tmp_path)
    for n in (len(lines) // 3, len(lines) // 2):
        log.write_bytes(b"".join(lines[:n]))
        a.sync([tmp_path / "projects"])
    # a tool that compacts its log rewrites it: drop a line from the middle, keep growing
    rewritten = lines[:3] + lines[4:]
    log.write_bytes(b"".join(rewritten))
    r = a.sync([tmp_path / "projects"])
    assert r.files_resumed == 0
    fresh = tmp_path / "fresh"
    Archive(fresh).sync([tmp_path / "projects"])
    assert table(fresh)[0] == table(tmp_path / "home")[0]
    assert os.listdir(tmp_path / "home" / "parse-state")  # kept again for the next append


def test_tidy_drops_half_written_and_long_unused_states(tmp_path):
    data, log, folder, _ = half_kept(tmp_path)
    (state,) = folder.iterdir()
    (folder / "x.123.tmp").write_bytes(b"half")
    day = 86400
    now = time.time()
    resume.tidy(folder, now)
    assert sorted(p.name for p in folder.iterdir()) == [".tidied", state.name]
    old = now - 40 * day
    os.utime(state, (old, old))
    resume.tidy(folder, now + 3600)  # tidied less than a day ago: nothing looked at
    assert state.exists()
    log.write_bytes(data)
    assert parse(log, folder)[2] is not None  # using it makes it recent again
    resume.tidy(folder, now + day + 1)
    assert state.exists()
    os.utime(state, (old, old))
    resume.tidy(folder, now + 2 * day + 2)
    assert [p.name for p in folder.iterdir()] == [".tidied"]
