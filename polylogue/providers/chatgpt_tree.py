"""Huge ChatGPT conversations, streamed (docs/providers.md, "chatgpt"; issue 18).

ijson builds a conversation as dicts at ~3 KB a mapping node, so a 300K-node
conversation took gigabytes. chatgpt.py builds every value with ijson's C
backend (the fast path) but gives up on one whose JSON passes
``HUGE_VALUE_BYTES``, and reads the input again from its start: from that
conversation on, each ``mapping`` is read node by node here (the rest of a
conversation object is still built whole; it is small).

- A mapping of up to ``COMPACT_AFTER`` nodes is kept as the dict ijson would
  have built, and converted exactly as on the fast path.
- A bigger one becomes a ``Tree``: per node its key, parent and declared
  children (as slots, shared ints), a few flags, and its message as compact
  JSON (orjson), compressed with zstd 32 KB at a time (the keys repeat from one
  message to the next; the raw dict is kept only when JSON cannot carry it):
  ~270 bytes a node on benchmarks/hostile_memory.py's tree, instead of ~3 KB.
- Once the mapping ends, the tree is settled (parent loops cut, children
  ordered, depth-first order, active path) with the rules of chatgpt.py over
  flat arrays (chatgpt.py hands its conversion in as ``Rules``), and its
  messages are converted in tree order a chunk at a time:
  the parser yields a ``StreamedConversation`` whose ``message_chunks`` the
  pipeline encodes and stores chunk by chunk (store/encode.py ``encode_parts``,
  store/writer.py ``write_part``). No stage holds the whole conversation.

tests/test_huge_tree.py holds the two paths to the same result on generated
trees (branches, missing parents, loops, nodes without messages, hidden
system nodes, duplicate keys)."""

from __future__ import annotations

import collections
import functools
import itertools
import operator
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, NamedTuple

import ijson
import orjson
import zstandard

from ..errors import ParseError
from ..models import Conversation, Message
from .common import PARENT_CYCLE, ParseContext, as_dict, as_list, as_str, error_summary, latest, to_utc

COMPACT_AFTER = 2000  # nodes of one mapping held as parsed dicts before it becomes a Tree
CHUNK_MESSAGES = 1000  # messages handed over at a time
CHUNK_BYTES = 4 << 20  # ... or fewer, when their JSON passes this
_EVENTS = 16384  # parser events fed to the node builder between looks at what it built
_BLOCK = 32 << 10  # bytes of messages' JSON compressed together

# Tree.flags bits
_HAS_MESSAGE, _CALL, _TOOL, _BAD_MESSAGE = 1, 2, 4, 8
_NOT_A_NODE = object()  # Tree.messages[slot] of a mapping value that is no object (malformed)
_MARK = "\x00polylogue:mapping streamed\x00"  # stands in for a streamed mapping in the value around it


class Rules(NamedTuple):
    """What chatgpt.py knows of a conversation, handed in (this module never imports it)."""

    is_call: Callable[[dict, str | None], bool]  # a message addressed to a tool
    convert: Callable[..., Message]  # (key, message, message parent, call in scope, label, ctx)
    shell: Callable[..., tuple[Conversation, str | None]]  # (obj, first message, meta, current node, bad nodes)
    finish: Callable[..., None]  # (conversation, models, default model, first time, last time)


class _Sink(list):
    send = list.append  # what ijson's coroutines push their results into


@dataclass(slots=True, eq=False)
class StreamedConversation(Conversation):
    """A conversation whose messages come in chunks, in order: ``messages`` stays
    empty; ``created_at``, ``updated_at`` and ``models`` are final only once
    ``message_chunks`` is exhausted (they may depend on every message)."""

    message_chunks: Iterator[list[Message]] | None = None


# ---------------------------------------------------------------- reading


def _backend():
    return ijson.get_backend(ijson.backend)


def array_items(stream: BinaryIO, skip: int, rules: Rules) -> Iterator[Any]:
    """The elements of a top-level array from the ``skip``-th on (those before were
    read already), each ``item.mapping`` read node by node."""
    b = _backend()
    events = b.parse(stream, use_float=True)
    try:
        _skip_items(events, skip)
        sink = _Sink()
        top = b.items_basecoro(sink, "item")
        tree: Any = None
        for ev in events:
            if ev[1] == "start_map" and ev[0] == "item.mapping":
                tree = _read_mapping(b, events, ev, rules)
                top.send(("item.mapping", "string", _MARK))  # the item is built around a stand-in
                continue
            top.send(ev)
            if sink:
                for item in sink:
                    if isinstance(item, dict) and item.get("mapping") is _MARK:
                        item["mapping"] = tree  # a repeated key: the last one, as ijson would
                    yield item
                sink.clear()
                tree = None
    except ijson.JSONError as e:
        raise ParseError(f"invalid JSON: {error_summary(e)}") from None


def single_object(stream: BinaryIO, rules: Rules) -> dict[str, Any]:
    """A top-level object (first occurrence of a repeated key wins, as in
    chatgpt._single), its ``mapping`` or ``raw_provider_payload.mapping`` read
    node by node."""
    b = _backend()
    events = b.parse(stream, use_float=True)
    sink = _Sink()
    top = b.kvitems_basecoro(sink, "")
    trees: dict[str, Any] = {}
    obj: dict[str, Any] = {}
    try:
        for ev in events:
            if ev[1] == "start_map" and ev[0] in ("mapping", "raw_provider_payload.mapping"):
                trees[ev[0]] = _read_mapping(b, events, ev, rules)
                top.send((ev[0], "string", _MARK))
                continue
            top.send(ev)
            for k, v in sink:
                if k == "mapping" and v is _MARK:
                    v = trees.pop("mapping")
                elif k == "raw_provider_payload" and isinstance(v, dict) and v.get("mapping") is _MARK:
                    v["mapping"] = trees.pop("raw_provider_payload.mapping")
                obj.setdefault(k, v)
            sink.clear()
    except ijson.JSONError as e:
        raise ParseError(f"invalid JSON: {str(e)[:160]}") from None
    return obj


_ITEM_ENDS = frozenset(("item", e) for e in ("end_map", "end_array", "string", "number", "boolean", "null"))


def _skip_items(events: Iterator[tuple], n: int) -> None:
    """Read past the first ``n`` elements of the top-level array, in C (no value is built)."""
    if n:
        ends = filter(_ITEM_ENDS.__contains__, map(operator.itemgetter(0, 1), events))
        collections.deque(itertools.islice(ends, n), maxlen=0)


def _read_mapping(b: Any, events: Iterator[tuple], start: tuple, rules: Rules) -> Any:
    """The mapping that ``start`` opens, node by node: the dict ijson would have
    built when it is small, else a Tree. Events are fed to ijson's C node builder
    in batches, so the Python loop runs per node, not per event."""
    prefix = start[0]
    nodes = _Sink()
    send = b.kvitems_basecoro(nodes, prefix).send
    send(start)
    end = (prefix, "end_map", None)
    rest = itertools.takewhile(functools.partial(operator.ne, end), events)  # consumes ``end`` itself
    tree = Tree(rules)
    while True:
        fed = itertools.count()
        collections.deque(zip(map(send, itertools.islice(rest, _EVENTS)), fed), maxlen=0)
        more = next(fed) == _EVENTS
        if not more:
            send(end)
        for key, node in nodes:
            tree.add(key, node)
        nodes.clear()
        if not more:
            return tree.raw if tree.raw is not None else tree


# ---------------------------------------------------------------- the compact tree


class Tree:
    """A mapping read node by node. Until COMPACT_AFTER nodes, ``raw`` is the dict
    ijson would have built; from then on, flat per-slot lists (a slot per key, in
    first-seen order: a repeated key replaces its value in place, as in a dict)."""

    __slots__ = ("rules", "raw", "slots", "keys", "parents", "children", "messages", "flags", "store")

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.raw: dict[str, Any] | None = {}
        self.slots: dict[str, int] = {}
        self.keys: list[str] = []
        # the parent's slot (an int shared with ``slots``), its key while not seen yet, or None
        self.parents: list[int | str | None] = []
        # declared children: None, one child, or a list; each by slot once seen, else by key
        self.children: list[Any] = []
        # where the message's JSON is in ``store`` (an int), its dict (what JSON cannot carry),
        # None, or _NOT_A_NODE
        self.messages: list[Any] = []
        self.flags = bytearray()
        self.store: _Store | None = None  # made when the mapping turns out big

    def add(self, key: str, node: Any) -> None:
        if self.raw is not None:
            self.raw[key] = node
            if len(self.raw) > COMPACT_AFTER:
                raw, self.raw, self.store = self.raw, None, _Store()
                for k, v in raw.items():
                    self._add(k, v)
            return
        self._add(key, node)

    def _add(self, key: str, node: Any) -> None:
        """One mapping entry, read as chatgpt._nodes reads it."""
        slots = self.slots
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = len(self.keys)
            self.keys.append(key)
            self.parents.append(None)
            self.children.append(None)
            self.messages.append(None)
            self.flags.append(0)
        if not isinstance(node, dict):
            self.parents[slot] = self.children[slot] = None
            self.messages[slot], self.flags[slot] = _NOT_A_NODE, 0
            return
        msg = node.get("message")
        flags = 0
        if msg is not None and not isinstance(msg, dict):
            msg, flags = None, _BAD_MESSAGE
        named = as_str(node.get("parent"))
        parent: int | str | None = None if named is None or named == key else slots.get(named, named)
        self.parents[slot] = parent
        kids = [slots.get(c, c) for c in (as_str(x) for x in as_list(node.get("children"))) if c]
        self.children[slot] = None if not kids else kids[0] if len(kids) == 1 else kids
        if msg is not None:
            role = as_str(as_dict(msg.get("author")).get("role"))
            flags |= _HAS_MESSAGE | (_CALL if self.rules.is_call(msg, role) else 0) | (_TOOL if role == "tool" else 0)
            try:
                msg = self._store().put(orjson.dumps(msg))
            except TypeError:  # what JSON cannot carry (ijson gives none today): kept as parsed
                pass
        self.messages[slot], self.flags[slot] = msg, flags
        if isinstance(parent, int):  # the parent names this node by key: by its (shared) slot from now on
            declared = self.children[parent]
            if declared == key:
                self.children[parent] = slot
            elif isinstance(declared, list) and len(declared) <= 8 and key in declared:
                declared[declared.index(key)] = slot

    def _valid(self, slot: int) -> bool:
        return self.messages[slot] is not _NOT_A_NODE

    def _message(self, slot: int) -> dict:
        raw = self.messages[slot]
        return orjson.loads(self._store().get(raw)) if isinstance(raw, int) else raw

    def _store(self) -> _Store:
        assert self.store is not None  # made with the first compacted node
        return self.store

    # -- settling the tree: chatgpt._conversation's rules over slots ------------

    def conversation(self, obj: dict, label: str, ctx: ParseContext) -> StreamedConversation | None:
        n = len(self.keys)
        valid = [self._valid(s) for s in range(n)]
        bad_nodes = valid.count(False) + sum(1 for f in self.flags if f & _BAD_MESSAGE)
        if bad_nodes:
            ctx.warn(f"{label}: {bad_nodes} malformed mapping node(s) ignored")
        parent, dangling = self._parent_slots(valid)
        cut = _break_cycles(parent, valid)
        roots, first_kid, more_kids = self._children(parent, valid, cut)
        order, mparents, calls = self._tree_order(roots, first_kid, more_kids)
        has = self._has_message
        first_pos = next((i for i, k in enumerate(order) if has(k)), -1)
        if first_pos < 0:
            ctx.warn(f"{label}: no messages; skipped")
            return None

        conv_meta: dict[str, Any] = {}
        current = as_str(obj.get("current_node"))
        current_slot = self.slots.get(current, -1) if current else -1
        if current_slot >= 0 and valid[current_slot]:
            leaf = current_slot
        else:
            if current:
                conv_meta["current_node_missing"] = current
            leaves = self._leaves(order, first_kid, more_kids)
            leaf = latest(leaves, self._created) if leaves else next(k for k in reversed(order) if has(k))
            conv_meta["active_inferred"] = True  # no usable current_node: latest leaf chosen
        active = bytearray(n)
        k = leaf
        while k >= 0 and not active[k]:
            active[k] = 1
            k = parent[k]
        active_leaf = leaf
        while active_leaf >= 0 and not has(active_leaf):
            p = parent[active_leaf]
            active_leaf = p if p >= 0 and active[p] and p != active_leaf else -1

        branch = {c: i for ks in more_kids.values() for i, c in enumerate(ks)}
        place = _Placement(active, active_leaf, branch, dangling, {k: self.keys[p] for k, p in cut.items()})
        first = self._convert(order[first_pos], mparents[first_pos], calls[first_pos], place, label, ctx)
        conv, default_model = self.rules.shell(obj, first, conv_meta, current, bad_nodes)
        out = StreamedConversation(
            provider=conv.provider,
            provider_id=conv.provider_id,
            title=conv.title,
            created_at=conv.created_at,
            updated_at=conv.updated_at,
            meta=conv.meta,
        )
        out.message_chunks = self._chunks(
            out, first, first_pos, (order, mparents, calls), place, default_model, label, ctx
        )
        return out

    def _has_message(self, slot: int) -> bool:
        return bool(self.flags[slot] & _HAS_MESSAGE)

    def _parent_slots(self, valid: list[bool]) -> tuple[array[int], dict[int, str]]:
        """Each node's parent slot (-1: none), and the parents the mapping lacks, by key."""
        parent = array("i", [-1]) * len(self.keys)
        dangling: dict[int, str] = {}
        for s, p in enumerate(self.parents):
            if p is None or not valid[s]:
                continue
            q = p if isinstance(p, int) else self.slots.get(p, -1)
            if q >= 0 and valid[q]:
                parent[s] = q
            else:
                dangling[s] = p if isinstance(p, str) else self.keys[p]
        return parent, dangling

    def _children(
        self, parent: array[int], valid: list[bool], cut: dict[int, int]
    ) -> tuple[list[int], array[int], dict[int, list[int]]]:
        """chatgpt._children: the roots (those cut out of a loop last), and each node's
        children by parent link, ordered as the parent declares them, then by mapping order."""
        n = len(self.keys)
        first_kid = array("i", [-1]) * n
        more_kids: dict[int, list[int]] = {}
        roots: list[int] = []
        for s in range(n):
            if not valid[s] or s in cut:
                continue
            p = parent[s]
            if p < 0:
                roots.append(s)
            elif first_kid[p] < 0:
                first_kid[p] = s
            else:
                more_kids.setdefault(p, [first_kid[p]]).append(s)
        roots.extend(s for s in range(n) if s in cut)
        for p, ks in more_kids.items():
            declared: dict[int, int] = {}
            listed = self.children[p]
            for j, c in enumerate(listed if isinstance(listed, list) else [] if listed is None else [listed]):
                declared.setdefault(c if isinstance(c, int) else self.slots.get(c, -1), j)
            ks.sort(key=lambda c: (0, declared[c]) if c in declared else (1, c))
            first_kid[p] = ks[0]
        return roots, first_kid, more_kids

    def _tree_order(
        self, roots: list[int], first_kid: array[int], more_kids: dict[int, list[int]]
    ) -> tuple[array[int], array[int], array[int]]:
        """chatgpt._tree_order: depth-first, siblings in branch order; per node its
        message parent and the tool call in scope (slots, -1 for none)."""
        order, mparents, calls = array("i"), array("i"), array("i")
        visited = bytearray(len(self.keys))
        flags = self.flags
        for start in roots:
            stack = [(start, -1, -1)]
            while stack:
                k, mparent, call = stack.pop()
                if visited[k]:
                    continue
                visited[k] = 1
                order.append(k)
                mparents.append(mparent)
                calls.append(call)
                f = flags[k]
                if f & _HAS_MESSAGE:
                    if f & _CALL:
                        call = k
                    elif not f & _TOOL:
                        call = -1
                    mparent = k
                kids = more_kids.get(k)
                if kids is None:
                    if first_kid[k] >= 0 and not visited[first_kid[k]]:
                        stack.append((first_kid[k], mparent, call))
                    continue
                for c in reversed(kids):
                    if not visited[c]:
                        stack.append((c, mparent, call))
        return order, mparents, calls

    def _leaves(self, order: array[int], first_kid: array[int], more_kids: dict[int, list[int]]) -> list[int]:
        """Nodes with a message and no descendant with one, in tree order."""
        below = bytearray(len(self.keys))  # a descendant has a message
        has = self._has_message
        for k in reversed(order):  # children come after their parent in ``order``
            kids = more_kids.get(k) or ([first_kid[k]] if first_kid[k] >= 0 else [])
            if any(has(c) or below[c] for c in kids):
                below[k] = 1
        return [k for k in order if has(k) and not below[k]]

    def _created(self, slot: int) -> datetime | None:
        return to_utc(self._message(slot).get("create_time"))

    # -- messages, a chunk at a time -----------------------------------------------

    def _convert(self, slot: int, mparent: int, call: int, place: _Placement, label: str, ctx: ParseContext) -> Message:
        keys = self.keys
        raw = self._message(slot)
        self.messages[slot] = None  # converted: its JSON goes as its Message comes
        m = self.rules.convert(
            keys[slot], raw, keys[mparent] if mparent >= 0 else None, keys[call] if call >= 0 else None, label, ctx
        )
        place.apply(m, slot)
        return m

    def _chunks(
        self,
        conv: StreamedConversation,
        first: Message,
        first_pos: int,
        walk: tuple[array[int], array[int], array[int]],
        place: _Placement,
        default_model: str | None,
        label: str,
        ctx: ParseContext,
    ) -> Iterator[list[Message]]:
        order, mparents, calls = walk
        models: list[str] = []
        lo: datetime | None = None
        hi: datetime | None = None
        chunk: list[Message] = []
        size = 0
        for pos in range(first_pos, len(order)):
            k = order[pos]
            if not self.flags[k] & _HAS_MESSAGE:
                continue
            raw = self.messages[k]
            size += raw & 0xFFFFFFFF if isinstance(raw, int) else 0
            m = first if pos == first_pos else self._convert(k, mparents[pos], calls[pos], place, label, ctx)
            if m.model and m.model not in models:
                models.append(m.model)
            if m.timestamp:
                lo = m.timestamp if lo is None or m.timestamp < lo else lo
                hi = m.timestamp if hi is None or m.timestamp > hi else hi
            chunk.append(m)
            if len(chunk) >= CHUNK_MESSAGES or size >= CHUNK_BYTES:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk
        self.rules.finish(conv, models, default_model, lo, hi)


class _Store:
    """Messages' JSON, appended, compressed a block at a time, read back by
    reference (block << 64 | offset << 32 | length). Read in tree order, which
    mostly follows the mapping's, so the last block read is kept decompressed."""

    __slots__ = ("blocks", "pending", "last", "_zc", "_zd")

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.pending = bytearray()
        self.last: tuple[int, bytes] = (-1, b"")
        self._zc = zstandard.ZstdCompressor(level=1)
        self._zd = zstandard.ZstdDecompressor()

    def put(self, data: bytes) -> int:
        if self.pending and len(self.pending) + len(data) > _BLOCK:
            # a copy: the compressor's own result keeps its worst-case buffer (as big as the input)
            self.blocks.append(memoryview(self._zc.compress(self.pending)).tobytes())
            self.pending = bytearray()
        ref = len(self.blocks) << 64 | len(self.pending) << 32 | len(data)
        self.pending += data
        return ref

    def get(self, ref: int) -> bytes:
        block, start, n = ref >> 64, ref >> 32 & 0xFFFFFFFF, ref & 0xFFFFFFFF
        if block == len(self.blocks):
            return bytes(self.pending[start : start + n])
        if self.last[0] != block:
            self.last = (block, self._zd.decompress(self.blocks[block]))
        return self.last[1][start : start + n]


class _Placement:
    """Where each message sits (chatgpt._conversation and _tree_meta): on the active
    path, the active leaf, its branch among siblings, a parent the export lacks, a
    parent link cut out of a loop."""

    __slots__ = ("active", "active_leaf", "branch", "dangling", "cut")

    def __init__(
        self, active: bytearray, active_leaf: int, branch: dict[int, int], dangling: dict[int, str], cut: dict[int, str]
    ):
        self.active, self.active_leaf, self.branch, self.dangling, self.cut = (
            active,
            active_leaf,
            branch,
            dangling,
            cut,
        )

    def apply(self, m: Message, slot: int) -> None:
        m.active = bool(self.active[slot])
        if slot == self.active_leaf:
            m.meta = {**(m.meta or {}), "active_leaf": True}
        if slot in self.branch:
            m.meta = {**(m.meta or {}), "branch": self.branch[slot]}
        if slot in self.dangling:
            m.meta = {**(m.meta or {}), "dangling_parent": self.dangling[slot]}
        if slot in self.cut:
            m.meta = {**(m.meta or {}), PARENT_CYCLE: self.cut[slot]}


def _break_cycles(parent: array[int], valid: list[bool]) -> dict[int, int]:
    """common.break_parent_cycles over slots: walks up from each node in mapping
    order and cuts the link that closes a loop. Returns {cut slot: its former parent}."""
    state = bytearray(len(parent))  # 1 on the current walk, 2 done
    cut: dict[int, int] = {}
    for start in range(len(parent)):
        if not valid[start]:
            continue
        walk = []
        cur = start
        while cur >= 0 and not state[cur]:
            state[cur] = 1
            walk.append(cur)
            nxt = parent[cur]
            if nxt >= 0 and state[nxt] == 1:
                cut[cur] = nxt
                parent[cur] = nxt = -1
            cur = nxt
        for k in walk:
            state[k] = 2
    return cut
