"""Message classification: what a message *is*, beyond its role.

| class         | meaning                                                               |
|---------------|-----------------------------------------------------------------------|
| `prompt`      | typed by a person (role user, not injected context)                   |
| `reply`       | an assistant message with visible text                                |
| `thinking`    | an assistant message that only thinks (no visible text, no tool call) |
| `tool_call`   | an assistant message whose content is tool calls (maybe with thinking)|
| `tool_result` | tool output (role tool, or a user record carrying only results)       |
| `context`     | injected context: system prompts, isMeta, environment blocks,         |
|               | slash-command echoes, compaction summaries, hidden system messages    |
| `system`      | other system notices                                                  |

Parsers decide `context` (they know their format's markers); everything else
follows from role and blocks, so the rules live here once."""

from __future__ import annotations

from .models import ASSISTANT, SYSTEM, TEXT, THINKING, TOOL, TOOL_RESULT, TOOL_USE, USER, Message

CLASSES = ("prompt", "reply", "thinking", "tool_call", "tool_result", "context", "system")


def classify(m: Message) -> str:
    if m.context:
        return "context"
    types = {b.type for b in m.blocks}
    has_text = any(b.type == TEXT and b.text.strip() for b in m.blocks)
    if m.role == TOOL or (types and types <= {TOOL_RESULT}):
        return "tool_result"
    if m.role == USER:
        return "prompt" if has_text or not (types & {TOOL_RESULT}) else "tool_result"
    if m.role == ASSISTANT:
        if has_text:
            return "reply"
        if TOOL_USE in types:
            return "tool_call"
        if THINKING in types:
            return "thinking"
        return "reply"
    if m.role == SYSTEM:
        return "system"
    return "system"


def is_substantive(m: Message) -> bool:
    """Real dialogue: a person's prompt or an assistant's visible answer. The rule
    lives on the model (``Message.is_substantive``), which needs no classifier;
    it equals "prompt or reply, with visible text" (tests/test_classify.py)."""
    return m.is_substantive
