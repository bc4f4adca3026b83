"""The reader's branch layout (polylogue/web/reader.py) read two ways: from the
conversation's shape alone (``message_tree``: ids, parents, active flags, no
content decoded; then only the page's stored range) and from the whole
conversation. Every page of every branch must come out the same."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web_server import BRANCHED, PLANTED_CONV, branched_conversation, build_home

from polylogue.api import Archive
from polylogue.web import reader
from polylogue.webapi import WebArchive


class WithoutTree:
    """A real archive with ``message_tree`` hidden: the reader's path for an Archive without it."""

    def __init__(self, archive: Archive):
        self._archive = archive

    def __getattr__(self, name: str):
        if name == "message_tree":
            raise AttributeError(name)
        return getattr(self._archive, name)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return build_home(tmp_path_factory.mktemp("reader") / "home", [branched_conversation()])


def _layout(v: reader.View):
    return (v.page, v.pages, v.total, v.all_messages, [(p, m.id, m.blocks[0].text) for p, m in v.messages], v.forks)


@pytest.mark.parametrize("ident", [BRANCHED, PLANTED_CONV])
def test_the_shape_alone_lays_out_every_branch_as_the_whole_does(home, ident):
    with WebArchive(home) as shaped, WebArchive(home) as whole:
        summary = shaped.resolve(ident)
        nodes = shaped.message_tree(ident)
        assert [n[0] for n in nodes] == [m.id for m in whole.messages(ident)]
        side = [n[0] for n in nodes if not n[2]]
        assert side  # both conversations have branches off the active path
        choices = ["", *random.Random(3).sample([n[0] for n in nodes], min(8, len(nodes))), *side[:6]]
        for branch in choices:
            seen: set[str] = set()
            first = reader.view(shaped, summary, page=None, branch=branch, hit="")
            for page in range(1, first.pages + 1):
                a = reader.view(shaped, summary, page=page, branch=branch, hit="")
                b = reader.view(WithoutTree(whole), summary, page=page, branch=branch, hit="")
                assert _layout(a) == _layout(b), (branch, page)
                assert a.messages and (branch or all(m.active for _, m in a.messages))
                seen.update(m.id for _, m in a.messages)
            assert not branch or branch in seen  # the chosen message is on its own path
        # a hit deep in the main path opens on its page
        hit = nodes[-1][0]
        v = reader.view(shaped, summary, page=None, branch="", hit=hit)
        assert v.messages[-1][1].id == hit and v.page == v.pages


@settings(max_examples=200, deadline=None)
@given(ident=st.text(min_size=1, max_size=30), mids=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=5))
def test_every_message_links_to_its_permalink(ident, mids):
    """The reader builds each message's permalink from one prefix per page; it must be
    exactly ``reader.permalink`` (the URL /c/ID?m=... resolves), escaped in the page."""
    from html import unescape

    from polylogue.models import Message, text

    msgs = [(k, Message(mid, "user", [text("x")])) for k, mid in enumerate(mids)]
    v = reader.View({"id": ident}, msgs, 1, 1, len(msgs), len(msgs), "", False)
    hrefs = re.findall(r'<a class="perma" href="([^"]*)"', reader.messages_html(v, ""))
    assert [unescape(h) for h in hrefs] == [reader.permalink(ident, mid) for mid in mids]
