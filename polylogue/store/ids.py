"""The one rule for message rowids: ``conversation id << 24 | n``.

A message's rowid carries its conversation, so exact conversation totals come
from the full-text index alone (``rowid >> 24``, no join), and one
conversation's messages are one contiguous rowid range. Every module that
builds or reads such a rowid uses these names; no other place spells the
shift."""

from __future__ import annotations

MESSAGE_ID_BITS = 24
MESSAGE_ID_SPAN = 1 << MESSAGE_ID_BITS  # messages one conversation can ever number


def message_rowid(conversation_id: int, n: int) -> int:
    """The rowid of the ``n``-th message slot of a conversation."""
    return (conversation_id << MESSAGE_ID_BITS) | n


def conversation_of(rowid: int) -> int:
    """The conversation a message rowid belongs to."""
    return rowid >> MESSAGE_ID_BITS


def rowid_range(conversation_id: int) -> tuple[int, int]:
    """[low, high): every message rowid a conversation can hold."""
    return conversation_id << MESSAGE_ID_BITS, (conversation_id + 1) << MESSAGE_ID_BITS


def sql_conversation_of(column: str) -> str:
    """SQL for the conversation of a message rowid column."""
    return f"({column} >> {MESSAGE_ID_BITS})"


def sql_in_conversation(rowid_column: str, conversation_column: str) -> str:
    """SQL: the message rowid column lies in the conversation's rowid range. A
    range on the rowid is an index seek; ``sql_conversation_of(...) = id`` would
    compute the shift for every row."""
    return (
        f"{rowid_column} >= {conversation_column} << {MESSAGE_ID_BITS}"
        f" AND {rowid_column} < ({conversation_column} + 1) << {MESSAGE_ID_BITS}"
    )
