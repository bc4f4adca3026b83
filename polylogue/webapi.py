"""``WebArchive``: the ``Archive`` that ``polylogue serve`` opens, with the two
reads its pages need that ``Archive`` does not offer yet. Both belong in
``Archive`` itself (polylogue/api.py); they live here, in a module of the same
layer, until they move there, and the web layer calls them only through an
archive object, never the store.
"""

from __future__ import annotations

from typing import Any

from .api import Archive, _ident


class WebArchive(Archive):
    def activity(self) -> list[dict[str, Any]]:
        """Conversations and messages per (UTC day of last update, project, first
        model), in one pass over the conversations table (store/activity.py): the
        calendar, the projects view and the message-count usage chart."""
        from .store.activity import activity

        with self.reader() as conn:
            return activity(conn)

    def message_tree(self, ident: str) -> list[tuple[str, str | None, bool]]:
        """(message id, parent id, active) of every message of a conversation in
        stored order, nothing decoded (store/tree.py): the shape the reader lays a
        branched conversation out from before it reads one page of it."""
        from .store.queries import resolve
        from .store.tree import message_tree

        with self.reader() as conn:
            return message_tree(conn, resolve(conn, _ident(ident))[0])
