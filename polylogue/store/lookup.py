"""What an id names, decided the same way on both backends: the SQLite archive
(queries.py) and the shared PostgreSQL one (postgres/reads.py). Each backend
reads its candidate rows its own way and hands them, or its own ``resolve`` and
``message_positions``, to these functions. Conversation rows have the shape of
queries.CONV_COLUMNS (row[0] the rowid, row[1] the uid, row[3] the provider id)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import Ambiguous, NotFound

Resolve = Callable[[Any, str], tuple]
Positions = Callable[..., list[tuple[int, str]]]
Holding = Callable[..., list[str]]


def chosen(rows: Sequence[tuple], ident: str) -> tuple:
    """The conversation ``ident`` names among the rows whose uid or provider id
    starts with it: the one whose provider id is exactly ``ident``, else the only
    one; none or several: NotFound or Ambiguous."""
    if not rows:
        raise NotFound(f"no conversation matches '{ident}'")
    exact = [r for r in rows if r[3] == ident]
    if len(exact) == 1:
        return exact[0]
    if len(rows) > 1:
        raise Ambiguous(ident, [r[1] for r in rows])
    return rows[0]


def message_after_a_colon(
    conn, ident: str, resolve: Resolve, message_positions: Positions
) -> tuple[str, str] | Exception | None:
    """``CONVERSATION:MESSAGE``, read at each colon in turn (ids hold colons), each side
    an id or a unique prefix. A message id may begin with its conversation's provider
    id (Codex's are ``<session id>:<n>``): ``<session id>:<n>`` as a whole, and
    ``CONVERSATION:<n>``, name that message too.
    Nothing found: what to say if nothing else matches (no such message in a conversation
    found, else a conversation prefix that is ambiguous), if anything."""
    colons = [i for i, ch in enumerate(ident) if ch == ":" and 0 < i < len(ident) - 1]
    problem: Exception | None = None
    for i in colons:
        try:
            row = resolve(conn, ident[:i])
        except NotFound:
            continue
        except Ambiguous as e:
            problem = problem if isinstance(problem, NotFound) else e
            continue
        for mid in (ident, f"{row[3]}:{ident[i + 1 :]}"):
            found = message_positions(conn, row[0], mid, limit=1)
            if found and found[0][1] == mid:
                return row[1], mid
        if message_positions(conn, row[0], ident[i + 1 :], limit=1):
            return row[1], ident[i + 1 :]
        problem = NotFound(f"no message '{ident[i + 1 :]}' in conversation {row[1]}")
    return problem


def locate(
    conn, ident: str, resolve: Resolve, message_positions: Positions, conversations_holding: Holding
) -> tuple[str, str | None]:
    """What ``show IDENT`` names: ``(conversation id, None)`` for a conversation (an
    id, provider id or unique prefix), ``(conversation id, message id)`` for a
    message: ``CONVERSATION:MESSAGE`` (each an id or unique prefix), a message id
    holding its conversation's id (Codex's ``<session id>:<n>``, as search hits
    give it), or else a message id that one conversation alone holds."""
    try:
        return resolve(conn, ident)[1], None
    except NotFound:
        pass
    found = message_after_a_colon(conn, ident, resolve, message_positions)
    if isinstance(found, tuple):
        return found
    owners = conversations_holding(conn, ident)  # the last resort: it reads every message id
    if len(owners) == 1:
        return owners[0], ident
    if owners:
        raise Ambiguous(ident, [f"{o}:{ident}" for o in owners], "messages")
    if found is not None:
        raise found
    raise NotFound(f"no conversation matches '{ident}', and no message has that id")


def message_in(
    conn, row: tuple, message_id: str, asked: str, message_positions: Positions, *, active_only: bool
) -> tuple[int, str]:
    """(position, id) of the message ``message_id`` (an id or unique prefix; ``asked``
    is the id as typed, for the exact match) in the conversation ``row``."""
    found = message_positions(conn, row[0], message_id, active_only=active_only, limit=21)
    exact = [f for f in found if f[1] == asked]
    if len(found) > 1 and not exact:
        raise Ambiguous(asked, [m for _, m in found], f"messages in {row[1]}")
    if not found:
        elsewhere = active_only and message_positions(conn, row[0], asked, limit=1)
        hint = ": it is on another branch (--branch all shows it)" if elsewhere else ""
        raise NotFound(f"no message '{asked}' in conversation {row[1]}{hint}")
    return (exact or found)[0]
