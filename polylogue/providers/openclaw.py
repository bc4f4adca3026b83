"""OpenClaw agent sessions (docs/providers.md, "openclaw"):
``~/.openclaw/agents/<agent>/sessions/<session>.jsonl`` (``~/.clawdbot`` before the rename).

OpenClaw runs pi's agent and session manager, so its transcripts are pi session
files (providers/pi_agent.py has the format and the mapping). What tells them
apart is content OpenClaw adds: its ``custom`` entries and messages
(``customType`` ``openclaw.*``, ``model-snapshot``) and ``session-meta`` records.
An OpenClaw session whose first records carry none of these is read as a pi
session. ``sessions.json`` (the index of session keys) is a side file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

from .. import models as m
from .base import Head, Location, Provider, Records
from .common import ParseContext
from .pi_agent import looks_like_pi, openclaw_marked, parse_session

NAME = "openclaw"
KIND: Final = "jsonl"  # Final: a Literal for Provider(kind=...)


def sniff(head: Head) -> bool:
    return looks_like_pi(head) and openclaw_marked(head)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[m.Conversation]:
    yield from parse_session(stream, ctx, NAME, "OpenClaw")


def _side_file(head: Head) -> bool:
    """``sessions.json``: ``{"agent:<id>:<key>": {sessionId, updatedAt, ...}}``, an index, not a chat."""
    if head.kind != "json" or head.top != "object":
        return False
    keys = [p for p in head.paths if p and "." not in p]
    return (
        bool(keys) and all(k.startswith("agent:") for k in keys) and any(p.endswith(".sessionId") for p in head.paths)
    )


PROVIDER = Provider(
    name=NAME,
    display_name="OpenClaw",
    kind=KIND,
    sniff=sniff,
    parse=parse,
    sniff_order=237,
    records=Records(usage=True, models=True, branches=True, thinking=True, subagents=False),
    locations=(
        # agents/<agent>/sessions/<session>.jsonl; sessions.json is the index
        Location("~/.openclaw", "agents", env="OPENCLAW_STATE_DIR", find=("*/sessions/*.jsonl",), depth=2),
        Location("~/.clawdbot", "agents", find=("*/sessions/*.jsonl",), depth=2),
    ),
    side_file=_side_file,
)
