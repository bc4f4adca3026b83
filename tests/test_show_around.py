"""`show ID --around MESSAGE_ID [-C N]` and `show MESSAGE_ID` (docs/cli.md, "show"):
a search hit's message id, as `search --json` prints it, opens the conversation
around that message, in every format, on real archives (the shipped examples and
a long Claude Code session written in its real format)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue.api import Archive
from polylogue.cli import cli
from tests.helpers import run_cli, sync_examples

LONG = 300  # messages in the long session
SESSION = "5a1e0000-0000-4000-8000-00000000a11c"
OTHER = "5a1e0000-0000-4000-8000-00000000b0b0"
SHARED_ID = "shared-message-0001"  # a message id both sessions hold
HOSTILE_ID = "evil-\x1b[31m-0001"  # an id with an escape sequence in it


def _mid(i: int) -> str:
    return f"5a1e{i:04d}-0000-4000-8000-000000000000"


def _record(session: str, uuid: str, parent: str | None, i: int) -> dict:
    role = "user" if i % 2 == 0 else "assistant"
    record: dict = {
        "type": role,
        "sessionId": session,
        "cwd": "/home/dev/src/long",
        "uuid": uuid,
        "parentUuid": parent,
        "isSidechain": False,
        "timestamp": f"2026-01-0{1 + i // 3600}T{i // 60 % 60:02d}:{i % 60:02d}:00.000Z",
    }
    if role == "user":
        record["message"] = {"role": "user", "content": f"question number {i}: what about marker{i}?"}
    else:
        record["message"] = {
            "id": f"msg_{session[-4:]}_{i}",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [{"type": "text", "text": f"answer number {i} about marker{i}"}],
        }
    return record


def _write_session(folder: Path, session: str, ids: list[str]) -> None:
    lines, parent = [], None
    for i, uuid in enumerate(ids):
        lines.append(json.dumps(_record(session, uuid, parent, i)))
        parent = uuid
    (folder / f"{session}.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def examples_home(tmp_path_factory) -> Path:
    return sync_examples(tmp_path_factory.mktemp("examples") / "archive")


@pytest.fixture(scope="module")
def long_home(tmp_path_factory) -> Path:
    """A Claude Code session of LONG messages, and a short one sharing a message id with it."""
    root = tmp_path_factory.mktemp("long")
    folder = root / "projects" / "-home-dev-src-long"
    folder.mkdir(parents=True)
    ids = [_mid(i) for i in range(LONG)]
    ids[7], ids[8], ids[9] = SHARED_ID, HOSTILE_ID, HOSTILE_ID.replace("31m", "32m")
    _write_session(folder, SESSION, ids)
    _write_session(folder, OTHER, ["5a1eb0b0-0000-4000-8000-000000000001", SHARED_ID])
    home = root / "archive"
    with Archive(home) as a:
        report = a.sync([root / "projects"])
        assert not report.errors
        assert a.message_count(f"claude-code:{SESSION}") == LONG
    return home


@pytest.fixture(scope="module")
def long_ids(long_home) -> list[str]:
    with Archive(long_home) as a:
        return [m.id for m in a.messages(f"claude-code:{SESSION}")]


def _show(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), "show", *args])


def _window(home: Path, *args: str) -> dict:
    r = _show(home, *args, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# ------------------------------------------------------------------ the ids search prints


def test_every_search_hit_id_opens_its_message(examples_home):
    r = CliRunner().invoke(cli, ["--home", str(examples_home), "search", "zanzibarquux", "--json"])
    assert r.exit_code == 0, r.stderr
    hits = [(c["id"], h["message_id"]) for c in json.loads(r.stdout) for h in c["hits"]]
    assert len(hits) >= 5 and any(cid.startswith("codex:") for cid, _ in hits)
    for cid, mid in hits:
        for args in ([mid], [f"{cid}:{mid}"], [cid, "--around", mid]):
            d = _window(examples_home, *args)
            w = d["window"]
            assert d["id"] == cid and w["message_id"] == mid, args
            assert d["messages"][w["position"] - w["start"]]["id"] == mid
            assert "zanzibarquux" in json.dumps(d["messages"][w["position"] - w["start"]])


def test_the_codex_id_in_the_issue_works_in_a_real_process(examples_home):
    """`show <conversation>:<n>` said "no conversation matches" (a Codex message id is `<session>:<n>`)."""
    conv = "codex:019cf2a1-7c3e-7d41-9b8a-2f6e4c1d0a11"
    for ident in (f"{conv}:42", "019cf2a1-7c3e-7d41-9b8a-2f6e4c1d0a11:42", "codex:019cf2a1:42"):
        r = run_cli(examples_home, "show", ident, "--format", "text", "-C", "1")
        assert r.returncode == 0, (ident, r.stderr)
        assert "around 019cf2a1-7c3e-7d41-9b8a-2f6e4c1d0a11:42" in r.stdout
        assert len(re.findall(r"^▶ user", r.stdout, re.M)) == 1
        assert "TRUNCATE fixes the zanzibarquux hang" in r.stdout


def test_a_plain_conversation_id_still_shows_it_whole(examples_home):
    d = _window(examples_home, "codex:019cf2a1")
    assert "window" not in d and len(d["messages"]) == d["message_count"] == 20


# ------------------------------------------------------------------ windows


@pytest.mark.parametrize("position", [0, 1, 150, LONG - 2, LONG - 1])
@pytest.mark.parametrize("context", [0, 1, 5])
def test_window_is_the_slice_around_the_message(long_home, long_ids, position, context):
    d = _window(long_home, f"claude-code:{SESSION}", "--around", long_ids[position], "-C", str(context))
    start, end = max(0, position - context), min(LONG, position + context + 1)
    assert [m["id"] for m in d["messages"]] == long_ids[start:end]
    assert d["window"] == {
        "message_id": long_ids[position],
        "position": position,
        "start": start,
        "end": end,
        "total": LONG,
        "active_only": False,
    }
    assert d["message_count"] == LONG


def test_default_context_is_three(long_home, long_ids):
    d = _window(long_home, long_ids[100])
    assert [m["id"] for m in d["messages"]] == long_ids[97:104]


def test_text_markdown_and_html_show_the_window_and_mark_the_message(long_home, long_ids):
    conv, mid = f"claude-code:{SESSION}", long_ids[150]
    text = _show(long_home, conv, "--around", mid, "-C", "2", "--format", "text").stdout
    assert "messages 149–153 of 300, around " + mid in text
    assert len(re.findall(r"^▶ user", text, re.M)) == 1  # message 150 is a question
    body = text.split("around " + mid, 1)[1]  # the title is the first question
    assert [int(n) for n in re.findall(r"number (\d+)", body)] == [148, 149, 150, 151, 152]

    md = _show(long_home, conv, "--around", mid, "-C", "2").stdout  # piped: Markdown
    heads = re.findall(r"^### (.*)$", md, re.M)
    assert len(heads) == 5 and [h.startswith("▶ ") for h in heads] == [False, False, True, False, False]
    assert "messages 149–153 of 300, around" in md and "number 147" not in md and "number 153" not in md

    html = _show(long_home, conv, "--around", mid, "-C", "2", "--format", "html").stdout
    assert len(re.findall(r'<article class="msg [^"]*\bhit\b[^"]*" id="m151"', html)) == 1
    assert html.count(" hit") == 1 and html.count("<article ") == 5
    assert 'id="m151"' in html and "<dd>300</dd>" in html  # anchors and counts are the conversation's
    assert "messages 149–153 of 300" in html


def test_one_message_window_says_so(long_home, long_ids):
    text = _show(long_home, long_ids[0], "-C", "0", "--format", "text").stdout
    assert "message 1 of 300, around" in text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, LONG - 1), context=st.integers(0, LONG + 5), active_only=st.booleans())
def test_window_equals_the_slice_of_the_whole(long_home, long_ids, position, context, active_only):
    with Archive(long_home) as a:
        w = a.window(f"claude-code:{SESSION}", long_ids[position], context=context, active_only=active_only)
        whole = [m.id for m in a.messages(f"claude-code:{SESSION}", active_only=active_only)]
    start, end = max(0, position - context), min(len(whole), position + context + 1)
    assert [m.id for m in w.conversation.messages] == whole[start:end]
    assert (w.position, w.start, w.end, w.total) == (position, start, end, len(whole))


def test_only_the_window_is_read(long_home, long_ids, tmp_path):
    """A message outside the window that cannot be decoded does not matter: it is never read."""
    home = tmp_path / "damaged"
    home.mkdir()
    src = sqlite3.connect(long_home / "polylogue.db")
    dst = sqlite3.connect(home / "polylogue.db")
    src.backup(dst)
    src.close()
    dst.execute("UPDATE messages SET content = x'ff00ff00ff00' WHERE mid = ?", (long_ids[0],))
    dst.commit()
    dst.close()
    assert _show(home, f"claude-code:{SESSION}", "--json").exit_code != 0  # the whole reads it, and fails
    d = _window(home, f"claude-code:{SESSION}", "--around", long_ids[200], "-C", "5")
    assert [m["id"] for m in d["messages"]] == long_ids[195:206]


# ------------------------------------------------------------------ branches


CHATGPT = "chatgpt:67d0a1b2-1111-8000-9000-0000000000c1"
SIDE = "a1000000-0000-4000-8000-000000000003"  # the edited prompt's first version: another branch


def test_around_a_message_of_another_branch(examples_home):
    d = _window(examples_home, CHATGPT, "--around", SIDE, "-C", "1")
    with Archive(examples_home) as a:
        whole = a.messages(CHATGPT)
    at = [m.id for m in whole].index(SIDE)
    assert [m["id"] for m in d["messages"]] == [m.id for m in whole[at - 1 : at + 2]]
    assert d["messages"][1]["active"] is False
    text = _show(examples_home, CHATGPT, "--around", SIDE, "--format", "text").stdout
    assert re.search(r"^▶ user · other branch", text, re.M)


def test_branch_active_counts_the_active_path_and_refuses_a_side_message(examples_home):
    with Archive(examples_home) as a:
        active = [m.id for m in a.messages(CHATGPT, active_only=True)]
    d = _window(examples_home, CHATGPT, "--around", active[-1], "-C", "1", "--branch", "active")
    assert [m["id"] for m in d["messages"]] == active[-2:]
    assert d["window"]["total"] == len(active) and d["window"]["active_only"] is True
    r = _show(examples_home, CHATGPT, "--around", SIDE, "--branch", "active")
    assert r.exit_code == 1 and "another branch" in r.stderr


# ------------------------------------------------------------------ bad ids


@pytest.mark.parametrize(
    "args,code,says",
    [
        ([CHATGPT, "--around", "nope"], 1, "no message 'nope' in conversation " + CHATGPT),
        ([CHATGPT, "--around", "a1"], 1, "'a1' matches 6 messages in " + CHATGPT),
        ([f"{CHATGPT}:nope"], 1, "no message 'nope' in conversation " + CHATGPT),
        (["no-such-thing"], 1, "no conversation matches 'no-such-thing', and no message has that id"),
        (["claude-code:7c2e:5e1c0000-0000-4000-8000-000000000005"], 1, "'claude-code:7c2e' matches 2 conversations"),
        ([CHATGPT, "--around", ""], 2, "the message id is empty"),
        ([CHATGPT, "-C", "2"], 2, "-C/--context needs --around"),
        ([CHATGPT, "--around", SIDE, "-C", "-1"], 2, "-1 is not in the range"),
    ],
)
def test_bad_message_ids_are_one_clear_line(examples_home, args, code, says):
    r = _show(examples_home, *args)
    assert r.exit_code == code and says in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_an_id_two_conversations_hold_lists_both(long_home):
    r = _show(long_home, SHARED_ID)
    assert r.exit_code == 1
    assert f"claude-code:{SESSION}:{SHARED_ID}" in r.stderr and f"claude-code:{OTHER}:{SHARED_ID}" in r.stderr
    d = _window(long_home, f"claude-code:{OTHER}:{SHARED_ID}")
    assert d["id"] == f"claude-code:{OTHER}" and d["window"]["position"] == 1


def test_a_hostile_message_id_never_drives_the_terminal(long_home):
    text = _show(long_home, HOSTILE_ID, "-C", "0", "--format", "text").stdout
    assert "\x1b" not in text and "evil-␛[31m-0001" in text
    r = _show(long_home, f"claude-code:{SESSION}", "--around", "evil-\x1b[31", "--format", "text")  # a unique prefix
    assert r.exit_code == 0 and "\x1b" not in r.stdout and "around evil-␛[31m-0001" in r.stdout
    r = _show(long_home, f"claude-code:{SESSION}", "--around", "evil-")  # not unique: the candidates, made safe
    assert r.exit_code == 1 and "\x1b" not in r.stderr
    assert "evil-␛[31m-0001" in r.stderr and "evil-␛[32m-0001" in r.stderr
