"""Archive text never drives the terminal (issue: terminal injection).

A ChatGPT export and two broken files whose titles, text, model, attachment
and file names hold escape sequences (OSC 52 clipboard writes, OSC 8 links,
CSI 2J, one-byte C1 CSI/OSC, bidi overrides, rich markup, newlines that fake a
log line) are synced; then every command that prints for people runs on a
real pseudo-terminal, and its output may hold no escape sequence except rich's
own colours (SGR). JSON output keeps the characters exactly."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polylogue.render.safe import terminal_safe

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")

OSC52 = "\x1b]52;c;SGVsbG8=\x07"
OSC8 = "\x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J\x1b[H"
C1 = "\x9b2J\x9d52;c;QUFB\x07"
BIDI = "\u202egnp.exe"
FAKE_LINE = "\npolylogue: error: FAKED"
TITLE = f"zanzi title {OSC52}{CLEAR}{BIDI}{FAKE_LINE} [bold]B[/bold] [link=http://evil.example/]L[/link]"
PROMPT = f"zanzi prompt {OSC8} {CLEAR} {C1} [link=http://evil.example/]x[/link] &#x1b;[2J"
REPLY = f"zanzi reply\n\n{OSC52}\x1b[31mred\x08\x7f and a [markdown link](http://evil.example/) {CLEAR}"
MODEL = f"gpt{CLEAR}"
BAD_FILE = f"bad{OSC52}{FAKE_LINE}.json"
BAD_MEMBER = f"member{CLEAR}{FAKE_LINE}ZIP.json"

# what rich may print itself: colours and styles (SGR), nothing else
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_PROGRESS = re.compile(r"\x1b\[\?25[lh]|\x1b\[2K|\x1b\[[0-9]*A|\r")


def _node(nid, parent, children, role, text, t, model=None):
    meta = {"model_slug": model} if model else {}
    return {
        "id": nid,
        "parent": parent,
        "children": children,
        "message": {
            "id": nid,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": t,
            "content": {"content_type": "text", "parts": [text]},
            "status": "finished_successfully",
            "metadata": meta,
            "recipient": "all",
        },
    }


def _export() -> list[dict]:
    mapping = {
        "root": {"id": "root", "parent": None, "children": ["m1"], "message": None},
        "m1": _node("m1", "root", ["m2"], "user", PROMPT, 1741600010.0),
        "m2": _node("m2", "m1", [], "assistant", REPLY, 1741600015.0, model=MODEL),
    }
    return [
        {
            "id": "esc-conv-1",
            "title": TITLE,
            "create_time": 1741600000.0,
            "update_time": 1741600400.0,
            "current_node": "m2",
            "mapping": mapping,
        }
    ]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("hostile")
    src = base / "src"
    src.mkdir()
    (src / "conversations.json").write_text(json.dumps(_export()))
    (src / BAD_FILE).write_text("{not json")
    with zipfile.ZipFile(src / "export.zip", "w") as z:
        z.writestr(BAD_MEMBER, "{not json either")
    return base / "home", src


def run_tty(*args: str, env: dict | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal, as a person would."""
    master, slave = os.openpty()
    e = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50", **(env or {})}
    for k in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        e.pop(k, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "polylogue", *args], stdin=slave, stdout=slave, stderr=slave, env=e, close_fds=True
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            pytest.fail(f"polylogue {' '.join(args)} did not finish in {timeout}s")
        rc = proc.wait(timeout=10)
    finally:
        os.close(master)
    return rc, out.decode("utf-8", errors="replace").replace("\r\n", "\n")


def visible(out: str, *, progress: bool = False) -> str:
    """What is left once rich's own styling (and, from `sync`, the cursor moves
    of its progress bar) is taken out."""
    return _SGR.sub("", _PROGRESS.sub("", out) if progress else out)


def assert_inert(out: str, *, progress: bool = False, documents: bool = False) -> None:
    """Only rich's own sequences may reach the terminal: no other escape, no C1
    control, no BEL or other C0 control, no bidi control; and no line that a
    newline inside a one-line field (a title, a file name) started, unless the
    output is a whole document (Markdown, HTML), where a title may span lines."""
    bare = visible(out, progress=progress)
    bad = sorted({f"U+{ord(c):04X}" for c in bare if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F})
    assert not bad, (bad, out)
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", bare), out
    if not documents:
        assert not any(line.startswith(("polylogue: error: FAKED", "FAKED")) for line in bare.splitlines()), out


@pytest.fixture(scope="module")
def synced(hostile):
    home, src = hostile
    rc, out = run_tty("--home", str(home), "sync", str(src))
    assert rc == 3, out  # the two broken files fail, the export imports
    return home, out


def test_sync_error_lines_name_hostile_files_safely(synced):
    _, out = synced
    assert_inert(out, progress=True)
    errors = [line for line in visible(out, progress=True).splitlines() if line.startswith("polylogue: error: ")]
    assert len(errors) == 2, out  # one line per broken file: the newline in a name cannot add one
    assert any("bad␛]52;c;SGVsbG8=␇␊polylogue: error: FAKED.json" in line for line in errors), errors
    assert any("member␛[2J␛[H␊polylogue: error: FAKEDZIP.json" in line for line in errors), errors
    assert "2 problems" in out


def _cli(home: Path, *args: str, **kw) -> str:
    rc, out = run_tty("--home", str(home), *args, **kw)
    assert rc == 0, out
    return out


def test_list_and_search_are_inert(synced):
    home, _ = synced
    listed = _cli(home, "list")
    assert_inert(listed)
    assert "zanzi title ␛]52;c;SGVsbG8=␇␛[2J␛[H\\u202egnp.exe␊polylogue: error: FAKED [bold]B[/bold]" in listed
    for args in (["zanzi"], ["--title", "zanzi"], ["prompt", "--kind", "text"]):
        out = _cli(home, "search", *args)
        assert_inert(out)
        assert "[link=http://evil.example/]" in out  # markup shown as text, never a link
    assert "␛]8;;http://evil.example/␛\\click me" in _cli(home, "search", "prompt")


@pytest.mark.parametrize(
    "args",
    [
        ["--no-pager", "--all"],
        ["--format", "text", "--all"],
        ["--format", "markdown"],
        ["--format", "html"],
        ["--all"],  # through the pager: what `less -R` would be given
    ],
    ids=["no-pager", "text", "markdown", "html", "pager"],
)
def test_show_is_inert(synced, args):
    home, _ = synced
    out = _cli(home, "show", "esc-conv-1", *args, env={"PAGER": "cat"})
    assert_inert(out, documents=args[-1] in ("markdown", "html"))
    assert "zanzi reply" in out
    assert re.search(r"␛\\?\[31mred", out), out  # even a colour from the archive is shown, not obeyed
    assert "evil.example" in out  # a link's target is shown as text, not hidden behind an OSC 8 link


def test_sql_table_is_inert_and_shows_markup_as_text(synced):
    home, _ = synced
    out = _cli(
        home, "sql", "SELECT title AS '[bold]t', model FROM conversations c JOIN messages m ON m.conversation_id = c.id"
    )
    assert_inert(out)
    assert "[bold]t" in out and "[link=http://evil.example/]L[/link]" in out


def test_check_sources_and_stats_are_inert(synced):
    home, _ = synced
    for cmd in ("check", "stats", "sources"):
        assert_inert(_cli(home, cmd))


def test_json_keeps_the_characters_exactly(synced):
    home, _ = synced
    rows = json.loads(_cli(home, "list", "--json"))
    assert [r["title"] for r in rows] == [TITLE]
    conv = json.loads(_cli(home, "show", "esc-conv-1", "--json"))
    texts = [b["text"] for m in conv["messages"] for b in m["blocks"] if b.get("text")]
    assert PROMPT in texts and REPLY in texts
    hits, _ = json.JSONDecoder().raw_decode(_cli(home, "search", "zanzi", "--json"))  # then the totals line
    assert hits[0]["title"] == TITLE
    # piped, `show` writes Markdown as a file format: the text as stored
    piped = subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), "show", "esc-conv-1"], capture_output=True, text=True
    )
    assert piped.returncode == 0 and OSC52 in piped.stdout, piped


# ------------------------------------------------------------------ the function itself


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200), st.booleans())
def test_terminal_safe_leaves_no_control(text, one_line):
    out = terminal_safe(text, one_line=one_line)
    allowed = "" if one_line else "\n\t"
    assert not [c for c in out if (ord(c) < 0x20 and c not in allowed) or 0x7F <= ord(c) <= 0x9F]
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", out)
    if one_line:
        assert "\n" not in out and "\t" not in out
    if not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text):
        assert out == text  # printable text is untouched


def test_terminal_safe_is_readable():
    assert terminal_safe("a\x1b[2Jb\x07") == "a␛[2Jb␇"
    assert terminal_safe("x\r\ny\tz") == "x\ny\tz"
    assert terminal_safe("x\ny\tz", one_line=True) == "x␊y␉z"
    assert terminal_safe("\x9b2J\x7f") == "\\x9b2J␡"
    assert terminal_safe("\u202eabc", one_line=True) == "\\u202eabc"
