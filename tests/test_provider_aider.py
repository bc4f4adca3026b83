"""aider chat histories (docs/providers.md, "aider"): a text provider.

Hand count on the real sample (the shared aider folder), per session with awk:
runs of ``#### `` lines (prompts) and runs of ``>`` lines (aider's output),
a blank line ending a run:

| session             | prompts | output runs | conversation |
|---------------------|---------|-------------|--------------|
| 2025-10-20 21:49:17 | 0       | 1           | no (start-up output only) |
| 2025-10-20 21:49:22 | 1       | 2           | 3 messages   |
| 2025-10-22 09:29:12 | 0       | 1           | no (interrupted before any input) |
| 2025-10-23 17:04:56 | 7       | 8           | 15 messages  |
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import sample_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polylogue import models as m
from polylogue.api import Archive
from polylogue.classify import classify
from polylogue.errors import ParseError
from polylogue.providers import aider, by_name, detect, is_side_file, open_clean, parse_path, read_head
from polylogue.providers.common import ParseContext

SAMPLE = sample_files("other/aider")

HISTORY = """
# aider chat started at 2025-03-01 10:00:00

> /usr/bin/aider --model sonnet
> Aider v0.80.0
> Main model: anthropic/claude-3-7-sonnet-20250219 with diff edit format, infinite output
> Weak model: anthropic/claude-3-5-haiku-20241022
> Git repo: .git with 12 files

#### add a quokkafjord greeting to hello.py<sp>
#### and keep it short<sp>

hello.py
```python
<<<<<<< SEARCH
print("hi")
=======
print("hello, quokkafjord")
#### not a prompt: inside a fence
>>>>>>> REPLACE
```

> Tokens: 2.4k sent, 104 received. Cost: $0.0004 message, $0.0024 session.<sp>
> Applied edit to hello.py<sp>
> Commit 1a2b3c4 feat: greet<sp>

#### /ask why?<sp>

► **THINKING**

The user asks why.

------------
► **ANSWER**

Because you asked.

> Tokens: 13k sent, 2.5k cache write, 1.1k cache hit, 52 received. Cost: $0.02 message, $0.0224 session.<sp>

# aider chat started at 2025-03-01 11:00:00

> Aider v0.80.0
> ^C KeyboardInterrupt
""".replace("<sp>", "  ")  # aider ends its lines with two spaces (a Markdown line break)


def parse_text(text: str, path: str = "/home/dev/proj/.aider.chat.history.md"):
    ctx = ParseContext(path)
    _, stream = open_clean(io.BytesIO(text.encode()), ctx)
    return list(aider.parse(stream, ctx)), ctx


@pytest.mark.parametrize("path", SAMPLE, ids=lambda p: p.name)
def test_real_sample_hand_counted(path):
    convs, ctx = parse_path(str(path))
    assert ctx.all_warnings() == []
    assert [len(c.messages) for c in convs] == [3, 15]
    assert [c.meta["local_time"] for c in convs] == ["2025-10-20 21:49:22", "2025-10-23 17:04:56"]
    assert all(c.created_at is None for c in convs)  # a local time with no zone is never presented as UTC
    first, second = convs
    assert [x.role for x in first.messages] == ["system", "user", "system"] and first.meta["interrupted"] is True
    assert sum(x.role == m.USER for x in second.messages) == 7 and sum(x.role == m.SYSTEM for x in second.messages) == 8
    assert second.models == ["gemini/gemini-2.5-pro-preview-06-05"] and second.meta["aider_version"] == "0.86.1"
    assert second.messages[1].meta == {"command": "/add"} and second.messages[1].text.count("\n") == 7
    assert second.title.startswith(
        "/add /home/dragonfsky/git/github/zen-mcp-server/utils/file_utils.py"
    )  # commands only
    assert all(c.meta["derived_id"] for c in convs) and len({c.provider_id for c in convs}) == 2
    assert parse_path(str(path))[0][1].provider_id == second.provider_id  # stable


def test_replies_usage_and_thinking():
    (conv,), ctx = parse_text(HISTORY)
    assert ctx.all_warnings() == []  # the second session (interrupted before any input) is none
    assert (conv.project, conv.models) == ("/home/dev/proj", ["anthropic/claude-3-7-sonnet-20250219"])
    assert [(x.role, classify(x)) for x in conv.messages] == [
        ("system", "system"), ("user", "prompt"), ("assistant", "reply"), ("system", "system"),
        ("user", "prompt"), ("assistant", "reply"),
    ]  # fmt: skip
    assert conv.messages[1].text == "add a quokkafjord greeting to hello.py\nand keep it short"
    edit = conv.messages[2]
    assert "#### not a prompt: inside a fence" in edit.text and edit.model == "anthropic/claude-3-7-sonnet-20250219"
    assert edit.usage == {
        "input": 2400,
        "output": 104,
        "convention": "openai",
        "approximate": True,  # "2.4k sent"
        "cost_reported": 0.0004,
    }
    assert edit.meta == {"cost_usd": 0.0004}
    assert (
        conv.messages[3].text == "Applied edit to hello.py\nCommit 1a2b3c4 feat: greet"
    )  # the token line became usage
    why = conv.messages[5]
    assert [b.type for b in why.blocks] == ["thinking", "text"] and why.text == "Because you asked."
    assert why.usage == {
        "input": 13000,
        "output": 52,
        "cache_write": 2500,
        "cache_read": 1100,
        "convention": "openai",
        "approximate": True,
        "cost_reported": 0.02,
    }
    assert conv.meta["session_cost_usd"] == 0.0224  # a running total: the latest, never a sum
    assert conv.title == "add a quokkafjord greeting to hello.py and keep it short"


def test_sniffing_and_side_files():
    assert detect(read_head(HISTORY.encode())) is by_name("aider")
    assert not aider.sniff(read_head(b"# My notes\n\naider chat started at noon\n"))
    inputs = read_head(b"\n# 2025-10-23 17:05:01.123456\n+/add server.py\n\n# 2025-10-23 17:06:10.5\n+hello\n")
    llm = read_head(
        b"TO LLM 2025-10-23T17:05:01\n-------\nSYSTEM Act as an expert\n\nLLM RESPONSE 2025-10-23T17:05:09\n"
    )
    for head in (inputs, llm):
        assert head.kind == "text" and detect(head) is None and is_side_file(head)


def test_empty_file_and_sessionless_text():
    with pytest.raises(ParseError):
        parse_text("just some markdown\n")
    assert parse_text("\n# aider chat started at 2025-01-01 00:00:00\n\n")[0] == []


def test_default_search_finds_histories_in_projects(tmp_path):
    home = Path.home()
    proj = home / "code" / "zen"
    (proj / ".git").mkdir(parents=True)
    (proj / ".aider.chat.history.md").write_text(HISTORY)
    (proj / ".aider.input.history").write_text("\n# 2025-03-01 10:00:05.1\n+add a greeting\n")
    (proj / "src" / "deep").mkdir(parents=True)
    (proj / "src" / "deep" / ".aider.chat.history.md").write_text(HISTORY)  # inside a project: not searched
    (home / ".cache" / "x").mkdir(parents=True)
    (home / ".cache" / "x" / ".aider.chat.history.md").write_text(HISTORY)  # hidden folders: not searched
    report = Archive(tmp_path / "h").sync()
    assert report.errors == [] and report.files_seen == 1 and report.conversations_new == 1
    # a folder named on the command line is read whole: both histories, the side file skipped quietly
    report = Archive(tmp_path / "h2").sync([proj])
    assert report.errors == [] and report.conversations_new == 1 and report.files_seen == 3  # same session twice
    assert report.files_skipped == 1


def test_search_roots_from_the_environment(tmp_path, monkeypatch):
    work = tmp_path / "work" / "proj"
    work.mkdir(parents=True)
    (work / ".aider.chat.history.md").write_text(HISTORY)
    monkeypatch.setenv("POLYLOGUE_PROJECT_ROOTS", str(tmp_path / "work"))
    report = Archive(tmp_path / "h").sync()
    assert report.conversations_new == 1


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINES = [
    "# aider chat started at 2025-01-01 00:00:00", "#### hi", "####", "> out", ">", "> Tokens: 1k sent, 2 received.",
    "> Tokens: x sent, 1.5M received. Cost: $0.1 message, $0.2 session.", "```", "~~~", "► **THINKING**",
    "► **ANSWER**", "------------", "reply text", "", "> Main model: m", "#### /add x",
]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(LINES) | st.text(max_size=20), max_size=40))
def test_fuzz_lines(lines):
    try:
        convs, _ = parse_text("# aider chat started at 2025-01-01 00:00:00\n" + "\n".join(lines))
    except ParseError:
        return
    for c in convs:
        assert c.messages and all(x.blocks for x in c.messages)


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_bytes(data):
    ctx = ParseContext("h.md")
    _, stream = open_clean(io.BytesIO(b"# aider chat started at 2025-01-01 00:00:00\n" + data), ctx)
    try:
        list(aider.parse(stream, ctx))
    except ParseError:
        pass
