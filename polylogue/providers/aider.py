"""aider chat histories: ``.aider.chat.history.md`` in a project folder
(docs/providers.md, "aider").

aider appends to one Markdown file per project. ``# aider chat started at
YYYY-MM-DD HH:MM:SS`` begins a session; lines starting ``#### `` are what the
person typed (a multi-line prompt repeats the prefix); lines starting ``> `` are
aider's own output (its start-up banner, files added, confirmations, token and
cost lines); everything else is the model's reply, edit blocks included.
These are the rules aider's own reader (``split_chat_history_markdown``) uses,
except that nothing inside a code fence of a reply is taken for a prompt.

Each session with anything typed or answered is one conversation; a session
of start-up output alone (the tool started and quit, or was interrupted
before any input) is none. Messages: prompts (role user; a ``/command`` keeps
``meta.command``), replies (assistant, with the model of the session's
``Main model:`` banner line; a reasoning model's ``► **THINKING**`` part as
thinking) and aider's output between them (system notices). ``Tokens: 2.4k
sent, 104 received. Cost: $0.0004 message, $0.0024 session.`` becomes the
preceding reply's usage (rounded counts, so ``usage.approximate``) and cost;
the session cost is a running total, kept once per conversation, never summed.

No ids: a session's id is derived from its header line and its first message
(``meta.derived_id``), which never change as the file grows. The header's time
is local with no zone: kept as written (``meta.local_time``), never as UTC.
The project is the folder holding the file. ``.aider.input.history`` and
``.aider.llm.history`` beside it are side files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from .. import models as m
from ..errors import ParseError
from .base import Head, Location, Provider, Records
from .common import ParseContext, skip_on_error

NAME = "aider"
KIND: Final = "text"
MAX_BYTES = 256 << 20  # read whole: sessions are split in memory

_HEADER = re.compile(r"^# aider chat started at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_MAIN_MODEL = re.compile(r"^(?:Main )?[Mm]odel: (\S+)")
_WEAK_MODEL = re.compile(r"^Weak model: (\S+)")
_VERSION = re.compile(r"^Aider v(\S+)")
_TOKENS = re.compile(r"^Tokens: (.+?)\.(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?\s*$")
_COUNT = re.compile(r"^([\d.,]+)([kKmM]?) (sent|received|cache write|cache hit)$")
_THINKING = "► **THINKING**"
_ANSWER = "► **ANSWER**"


def sniff(head: Head) -> bool:
    return any(_HEADER.match(line) for line in head.text.splitlines()[:200])


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ParseError(f"chat history larger than {MAX_BYTES >> 20} MB")
    lines = data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    project = _project(ctx.path)
    sessions = 0
    for start, stamp, body in _sessions(lines):
        sessions += 1
        conv = None
        with skip_on_error(ctx, f"session started at {stamp}", start):
            conv = _conversation(start, stamp, body, project)
        if conv is not None:
            yield conv
    if not sessions:
        raise ParseError("no '# aider chat started at' line: not an aider chat history")


def _project(path: str) -> str | None:
    """The folder holding ``.aider.chat.history.md`` (aider writes it at the project's root)."""
    inner = (path or "").split("!")[-1].replace("\\", "/")
    return inner.rsplit("/", 1)[0] or None if "/" in inner else None


def _sessions(lines: list[str]) -> Iterator[tuple[int, str, list[tuple[int, str]]]]:
    """(header line number, its time, the session's (line number, line)) for each session."""
    current: tuple[int, str, list[tuple[int, str]]] | None = None
    fence: str | None = None
    for n, line in enumerate(lines, 1):
        if fence is None:
            h = _HEADER.match(line)
            if h:
                if current is not None:
                    yield current
                current = (n, h.group(1), [])
                continue
        if current is None:
            continue  # text before the first session: not aider's
        f = _FENCE.match(line)
        if f and not line.startswith(("#### ", "> ")):
            mark = f.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence):
                fence = None
        current[2].append((n, line))
    if current is not None:
        yield current


def _kind(line: str, in_fence: bool) -> str:
    if not in_fence and (line.startswith("#### ") or line.rstrip() == "####"):
        return "user"
    if not in_fence and (line.startswith("> ") or line.rstrip() == ">"):
        return "output"
    return "blank" if not line.strip() else "reply"


def _chunks(body: list[tuple[int, str]]) -> Iterator[tuple[str, int, list[str]]]:
    """(kind, first line number, lines without their prefix) of each run of
    prompt, output or reply lines. A blank line ends a prompt or an output run;
    a reply keeps its blank lines."""
    kind: str | None = None
    first = 0
    run: list[str] = []
    fence: str | None = None
    for n, line in body:
        k = _kind(line, fence is not None)
        if k == "reply":
            f = _FENCE.match(line)
            if f:
                mark = f.group(1)
                if fence is None:
                    fence = mark
                elif mark[0] == fence[0] and len(mark) >= len(fence):
                    fence = None
        if k == "blank":
            if kind == "reply":
                run.append("")
            elif kind is not None:
                yield kind, first, run
                kind, run = None, []
            continue
        if k != kind:
            if kind is not None:
                yield kind, first, run
            kind, first, run = k, n, []
        if k == "user":
            run.append(line[5:].rstrip() if line.startswith("#### ") else "")
        elif k == "output":
            run.append(line[2:].rstrip() if line.startswith("> ") else "")
        else:
            run.append(line.rstrip("\n"))
    if kind is not None:
        yield kind, first, run


def _conversation(start: int, stamp: str, body: list[tuple[int, str]], project: str | None) -> m.Conversation | None:
    meta: dict[str, Any] = {"local_time": stamp}
    model: str | None = None
    messages: list[m.Message] = []
    typed = replied = False
    for kind, line, run in _chunks(body):
        text = "\n".join(run).strip("\n")
        if kind == "output":
            text, usage, cost, session_cost = _output(run, meta)
            if model is None:
                model = meta.get("model")
            last = messages[-1] if messages else None
            if usage and last is not None and last.role == m.ASSISTANT and last.usage is None:
                last.usage = usage
                if cost is not None:
                    usage["cost_reported"] = cost  # what aider printed: informational, not a price
                    last.meta = {**(last.meta or {}), "cost_usd": cost}
            if session_cost is not None:
                meta["session_cost_usd"] = session_cost  # a running total: the latest is the session's
            if "KeyboardInterrupt" in text:
                meta["interrupted"] = True
            if text.strip():
                messages.append(m.Message(f"L{line}", m.SYSTEM, [m.text(text)], meta={"kind": "output"}))
            continue
        if not text.strip():
            continue
        if kind == "user":
            typed = True
            msg = m.Message(f"L{line}", m.USER, [m.text(text)])
            if text.startswith("/"):
                msg.meta = {"command": text.split(None, 1)[0]}
            messages.append(msg)
        else:
            blocks = _reply_blocks(text)
            if blocks:  # a reply of bare markers says nothing
                replied = True
                messages.append(m.Message(f"L{line}", m.ASSISTANT, blocks, model=model))
    if not (typed or replied):
        return None  # start-up output only: an empty or aborted session
    for prev, msg in zip(messages, messages[1:]):
        msg.parent_id = prev.id
    import hashlib

    first = next(x.text for x in messages if x.role in (m.USER, m.ASSISTANT))
    key = hashlib.sha1(f"{stamp}\n{first}".encode()).hexdigest()[:24]
    meta["derived_id"] = True
    if project:
        meta["project_from_path"] = True
    prompts = [x for x in messages if x.role == m.USER]
    title = next((x.text for x in prompts if not (x.meta or {}).get("command")), prompts[0].text if prompts else None)
    return m.Conversation(
        provider=NAME,
        provider_id=key,
        title=" ".join(title.split())[:120] if title else None,
        messages=messages,
        models=[model] if model else [],
        project=project,
        meta=meta,
    )


def _reply_blocks(text: str) -> list[m.Block]:
    """A reply; a reasoning model's shown thinking (``► **THINKING**`` ... ``► **ANSWER**``) as thinking."""
    if _THINKING in text and _ANSWER in text:
        before, _, rest = text.partition(_THINKING)
        thought, _, answer = rest.partition(_ANSWER)
        thought = thought.strip().removesuffix("------------").strip()
        out = [m.text(before.strip())] if before.strip() else []
        if thought:
            out.append(m.thinking(thought))
        if answer.strip():
            out.append(m.text(answer.strip()))
        return out
    return [m.text(text)]


def _output(run: list[str], meta: dict[str, Any]) -> tuple[str, dict | None, float | None, float | None]:
    """aider's output lines: the banner read into ``meta``, the token line into usage.
    Returns (the text without the token line, usage, message cost, session cost)."""
    kept: list[str] = []
    usage: dict[str, Any] | None = None
    cost = session_cost = None
    for line in run:
        t = _TOKENS.match(line)
        if t:
            usage = _usage(t.group(1))
            cost = _float(t.group(2))
            session_cost = _float(t.group(3))
            continue
        for pattern, key in ((_MAIN_MODEL, "model"), (_WEAK_MODEL, "weak_model"), (_VERSION, "aider_version")):
            found = pattern.match(line)
            if found and key not in meta:
                meta[key] = found.group(1)
        kept.append(line)
    return "\n".join(kept).strip("\n"), usage, cost, session_cost


def _usage(counts: str) -> dict[str, Any] | None:
    usage: dict[str, Any] = {}
    rounded = False
    lanes = {"sent": "input", "received": "output", "cache write": "cache_write", "cache hit": "cache_read"}
    for part in counts.split(", "):
        c = _COUNT.match(part.strip())
        if not c:
            continue
        number = _float(c.group(1).replace(",", ""))
        if number is None:
            continue
        scale = {"k": 1e3, "m": 1e6}.get(c.group(2).lower(), 1)
        rounded = rounded or scale != 1
        usage[lanes[c.group(3)]] = int(round(number * scale))
    if not usage:
        return None
    usage["convention"] = "openai"  # "sent" is the whole prompt, cached tokens included
    if rounded:
        usage["approximate"] = True  # "2.4k": the ledger marks totals that include it as approximate
    return usage


def _float(s: str | None) -> float | None:
    try:
        return float(s) if s else None
    except ValueError:
        return None


_INPUT_STAMP = re.compile(r"^# \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\s*$")


def _side_file(head: Head) -> bool:
    """``.aider.input.history`` (``# <time>`` then ``+line``) and ``.aider.llm.history``
    (``TO LLM <time>`` / ``LLM RESPONSE <time>`` blocks): what was typed and sent, again."""
    if head.kind != "text":
        return False
    lines = [ln for ln in head.text.splitlines()[:20] if ln.strip()]
    if not lines:
        return False
    if lines[0].startswith(("TO LLM 2", "LLM RESPONSE 2")):
        return True
    return bool(_INPUT_STAMP.match(lines[0])) and len(lines) > 1 and lines[1].startswith("+")


PROVIDER = Provider(
    name=NAME,
    display_name="aider",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=81,
    records=Records(usage=True, models=True, branches=False, thinking=True, subagents=False),
    locations=(Location("~", find=("**/.aider.chat.history.md",), depth=6, env="POLYLOGUE_PROJECT_ROOTS"),),
    side_file=_side_file,
)
