"""The usage ledger (docs/usage.md): each API response's tokens once, and the totals
that usage reports read without scanning.

``usage_ledger`` holds one row per holder of a response: a message whose usage the
archive stores (id = its message rowid), or a conversation's session-level usage
(id < 0, ``session_id``). A response known by a dedup ``key`` (Claude Code's
``message.id:requestId``, a Codex response a fork replays) may be held by several
messages, in several files and conversations: exactly one holder is counted, the one
with the smallest id. When it goes (rewritten, forgotten), the next holder is
counted, so totals never depend on the order files were read in.

Counted rows are summed into two tables the writer keeps exact, as it keeps
``provider_totals``:

- ``usage_rollup``: per UTC day, per aligned block of ``span`` quarter-hours
  (1, 4, 16 or 96: the whole day) and per model, tier, context size, level
  (response or session), provider and project. Any time zone's day (offsets are
  whole quarter-hours) is a sum of UTC days and a few blocks at its edges, so a
  daily report reads a few rows per day instead of a row per quarter-hour.
- ``usage_conversation``: per conversation and model, for the per-session report.

Lanes are stored normalised (``lanes_of``): ``input`` excludes the cache lanes and
``output`` includes reasoning, whatever the source's convention."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from ..models import USAGE_CONVENTIONS
from ..models import USAGE_LANES as LANES
from .ids import MESSAGE_ID_BITS, rowid_range

# aggregated per key: responses counted, of which approximate, then the lanes
SUMS = ("responses", "approximate", *LANES)
LONG_CONTEXT = 200_000  # prompt tokens above which long-context prices apply (Claude, Gemini)
QUARTER_MS = 15 * 60 * 1000
DAY_MS = 96 * QUARTER_MS
SPANS = (1, 4, 16, 96)  # rollup block sizes, in quarter-hours
UNKNOWN_DAY = -(1 << 40)  # the day of a response whose time is unknown
SESSION_SLOTS = 8  # bits of a session row's id for the entries of one conversation
DEFAULT_TIERS = ("", "standard", "default", "auto", "on_demand")

_INT_MAX = 1 << 62


class Response(NamedTuple):
    """What one API response (or one session entry) adds to the ledger, normalised."""

    key: str | None
    model: str
    tier: str
    long: int  # 1: the prompt exceeded LONG_CONTEXT tokens
    approximate: int
    lanes: tuple[int, int, int, int, int, int, int]  # LANES


def _count(v: Any) -> int:
    if v is None:
        return 0
    return v if type(v) is int and 0 <= v < _INT_MAX else 0


def lanes_of(usage: Any) -> tuple[int, int, int, int, int, int, int] | None:
    """A Message.usage dict in normalised lanes, None when it counts nothing.
    "anthropic": input excludes the cache lanes; "openai" and "gemini": input
    includes cache reads (taken out here); "gemini" reports thoughts beside the
    output, and they are billed as output (added here)."""
    if not isinstance(usage, dict):
        return None
    # one lookup and one check per lane, inline: this runs for every message with usage (the
    # import's hot path), where a generator over LANES and a helper call cost ~3x as much
    get = usage.get
    inp, out, cr, cw = (
        _count(get("input")),
        _count(get("output")),
        _count(get("cache_read")),
        _count(get("cache_write")),
    )
    c5, c1, rs = _count(get("cache_write_5m")), _count(get("cache_write_1h")), _count(get("reasoning"))
    if not (inp or out or cr or cw or c5 or c1 or rs):
        return None
    if c5 + c1 > cw:
        cw = c5 + c1
    cache_in_input, thoughts_beside = USAGE_CONVENTIONS.get(str(usage.get("convention")), (False, False))
    if cache_in_input:
        inp = max(inp - cr, 0)
    if thoughts_beside:
        out += rs
    return (inp, out, cr, cw, c5, c1, rs)


def response_of(usage: Any, model: str | None) -> Response | None:
    lanes = lanes_of(usage)
    if lanes is None:
        return None
    key = usage.get("key")
    tier = usage.get("tier")
    tier = tier.strip().lower() if isinstance(tier, str) else ""
    return Response(
        key if isinstance(key, str) and key else None,
        model or (usage["model"] if isinstance(usage.get("model"), str) else ""),
        "" if tier in DEFAULT_TIERS else tier[:40],
        int(lanes[0] + lanes[2] + lanes[3] > LONG_CONTEXT),
        int(usage.get("approximate") is True),
        lanes,
    )


def session_of(meta_usage: Any, message_sums: dict[str, list[int]]) -> tuple[Response, ...]:
    """Session-level usage (Conversation.meta["usage"]: one dict, or one per model)
    minus what the conversation's messages already carry (per model, lane by lane):
    a provider that gives both never counts a response twice, and one that gives
    only session totals counts them whole."""
    entries = meta_usage if isinstance(meta_usage, list) else [meta_usage]
    out: list[Response] = []
    for e in entries[: 1 << SESSION_SLOTS]:
        r = response_of(e, None)
        if r is None:
            continue
        if r.model:
            have = message_sums.pop(r.model, None)
        else:
            have = [sum(col) for col in zip(*message_sums.values())] if message_sums else None
            message_sums.clear()
        lanes = r.lanes if have is None else tuple(max(a - b, 0) for a, b in zip(r.lanes, have))
        if any(lanes):
            out.append(r._replace(key=None, lanes=lanes))  # type: ignore[arg-type]
    return tuple(out)


def session_id(cid: int, j: int) -> int:
    return -((cid << SESSION_SLOTS) | j)


def _session_range(cid: int) -> tuple[int, int]:
    """[low, high) of a conversation's session row ids."""
    return -((cid << SESSION_SLOTS) | ((1 << SESSION_SLOTS) - 1)), -(cid << SESSION_SLOTS) + 1


# -- schema (migration 7) -------------------------------------------------------
TABLES = [
    f"""CREATE TABLE IF NOT EXISTS usage_ledger (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        key TEXT,
        counted INTEGER NOT NULL,
        ts INTEGER,
        model TEXT NOT NULL,
        tier TEXT NOT NULL,
        long_ctx INTEGER NOT NULL,
        project TEXT NOT NULL,
        approximate INTEGER NOT NULL,
        {", ".join(f"{lane} INTEGER NOT NULL" for lane in LANES)}
    )""",
    "CREATE INDEX IF NOT EXISTS usage_ledger_key ON usage_ledger(provider, key) WHERE key IS NOT NULL",
    # key order: what a daily report groups by comes first after the block, so SQLite
    # groups the rows as it reads them (no sort); provider and project are filters
    f"""CREATE TABLE IF NOT EXISTS usage_rollup (
        span INTEGER NOT NULL,
        slot INTEGER NOT NULL,
        day INTEGER NOT NULL,
        model TEXT NOT NULL,
        tier TEXT NOT NULL,
        long_ctx INTEGER NOT NULL,
        level INTEGER NOT NULL,
        provider TEXT NOT NULL,
        project TEXT NOT NULL,
        {", ".join(f"{s} INTEGER NOT NULL" for s in SUMS)},
        PRIMARY KEY (span, slot, day, model, tier, long_ctx, level, provider, project)
    ) WITHOUT ROWID""",
    f"""CREATE TABLE IF NOT EXISTS usage_conversation (
        conversation_id INTEGER NOT NULL,
        model TEXT NOT NULL,
        tier TEXT NOT NULL,
        long_ctx INTEGER NOT NULL,
        level INTEGER NOT NULL,
        {", ".join(f"{s} INTEGER NOT NULL" for s in SUMS)},
        PRIMARY KEY (conversation_id, model, tier, long_ctx, level)
    ) WITHOUT ROWID""",
]

_COLS = "id, provider, key, counted, ts, model, tier, long_ctx, project, approximate, " + ", ".join(LANES)
_INSERT = f"INSERT INTO usage_ledger({_COLS}) VALUES ({','.join('?' * (10 + len(LANES)))})"
_ROLLUP_KEY = ("span", "slot", "day", "model", "tier", "long_ctx", "level", "provider", "project")
_CONV_KEY = ("conversation_id", "model", "tier", "long_ctx", "level")


def _upsert(table: str, key: tuple[str, ...]) -> str:
    cols = (*key, *SUMS)
    return (
        f"INSERT INTO {table}({', '.join(cols)}) VALUES ({','.join('?' * len(cols))}) "
        f"ON CONFLICT({', '.join(key)}) DO UPDATE SET " + ", ".join(f"{s} = {s} + excluded.{s}" for s in SUMS)
    )


_UPSERT_ROLLUP = _upsert("usage_rollup", _ROLLUP_KEY)
_UPSERT_CONV = _upsert("usage_conversation", _CONV_KEY)


# a ledger row as read back: the columns of _COLS
class _Row(NamedTuple):
    id: int
    provider: str
    key: str | None
    counted: int
    ts: int | None
    model: str
    tier: str
    long_ctx: int
    project: str
    approximate: int
    lanes: tuple[int, ...]


def _row(r: tuple) -> _Row:
    return _Row._make((*r[:10], tuple(r[10:])))


class Ledger:
    """The writer's side of the ledger: rows added and removed within a transaction,
    with their effect on the totals summed in memory and written by ``flush`` (at
    commit). ``discard`` forgets what a rolled-back transaction summed."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        # per (quarter of the day or None, day, model, tier, long, level, provider, project):
        # a row is summed once here; the four block sizes are derived per quarter at flush
        self._quarters: dict[tuple, list[int]] = {}
        self._convs: dict[tuple, list[int]] = {}

    # -- totals in memory ----------------------------------------------------
    def _sum(self, r: _Row, sign: int) -> None:
        level = int(r.id < 0)
        add = (sign, sign * r.approximate, *(sign * v for v in r.lanes)) if sign != 1 else (1, r.approximate, *r.lanes)
        if r.ts is None:
            q, day = None, UNKNOWN_DAY
        else:
            day, q = divmod(r.ts, DAY_MS)
            q //= QUARTER_MS
        _acc(self._quarters, (q, day, r.model, r.tier, r.long_ctx, level, r.provider, r.project), add)
        cid = r.id >> MESSAGE_ID_BITS if r.id >= 0 else (-r.id) >> SESSION_SLOTS
        _acc(self._convs, (cid, r.model, r.tier, r.long_ctx, level), add)

    def rollup(self) -> dict[tuple, list[int]]:
        """The summed rows as usage_rollup keys: each quarter in its blocks of every size."""
        out: dict[tuple, list[int]] = {}
        for (q, day, *rest), v in self._quarters.items():
            if q is None:
                _acc(out, (96, 0, day, *rest), v)
            else:
                for span in SPANS:
                    _acc(out, (span, q // span, day, *rest), v)
        return out

    def flush(self) -> None:
        c = self.conn
        for table, key, deltas, upsert in (
            ("usage_rollup", _ROLLUP_KEY, self.rollup(), _UPSERT_ROLLUP),
            ("usage_conversation", _CONV_KEY, self._convs, _UPSERT_CONV),
        ):
            live = [(*k, *v) for k, v in deltas.items() if any(v)]
            if live:
                c.executemany(upsert, live)
            emptied = [k for k, v in deltas.items() if v[0] < 0]
            if emptied:  # a block whose last response went: no row of zeros is kept
                where = " AND ".join(f"{k} = ?" for k in key)
                c.executemany(f"DELETE FROM {table} WHERE {where} AND responses = 0", emptied)
        self.discard()

    def discard(self) -> None:
        self._quarters.clear()
        self._convs.clear()

    def pending(self) -> int:
        """Keys summed in memory, not yet flushed."""
        return len(self._quarters) + len(self._convs)

    # -- rows ------------------------------------------------------------------
    def add(self, provider: str, project: str | None, rows: Iterable[tuple[int, int | None, Response]]) -> None:
        """Holders (id, time, response) of one conversation: counted unless a holder of
        the same key with a smaller id is (then, if this one is smaller, it takes over).
        The counted holders of the batch's keys are found in one indexed read."""
        c = self.conn
        proj = project or ""
        batch = [_Row(rid, provider, r.key, 1, ts, r.model, r.tier, r.long, proj, r.approximate, r.lanes)
                 for rid, ts, r in rows]  # fmt: skip
        held = self._held(provider, {row.key for row in batch if row.key is not None})
        mine: dict[str, int] = {}  # key: position in batch of the holder counted there
        for i, row in enumerate(batch):
            if row.key is None:
                continue
            j = mine.get(row.key)
            if j is not None and batch[j].id < row.id:
                batch[i] = row._replace(counted=0)
                continue
            if j is not None:  # this one comes first: it takes over from the batch's
                batch[j] = batch[j]._replace(counted=0)
            else:
                h = held.get(row.key)
                if h is not None and h < row.id:
                    batch[i] = row._replace(counted=0)
                    continue
                if h is not None:
                    self._uncount(h)
            mine[row.key] = i
        for row in batch:
            if row.counted:
                self._sum(row, 1)
        c.executemany(_INSERT, [(*row[:10], *row.lanes) for row in batch])

    def _held(self, provider: str, keys: set[str]) -> dict[str, int]:
        """The counted holder (id) of each of these keys, where one is stored."""
        out: dict[str, int] = {}
        found = list(keys)
        for i in range(0, len(found), 500):
            chunk = found[i : i + 500]
            out.update(
                self.conn.execute(
                    f"SELECT key, id FROM usage_ledger WHERE provider = ? AND key IN ({','.join('?' * len(chunk))})"
                    " AND counted = 1",
                    (provider, *chunk),
                )
            )
        return out

    def _uncount(self, rid: int) -> None:
        old = _row(self.conn.execute(f"SELECT {_COLS} FROM usage_ledger WHERE id = ?", (rid,)).fetchone())
        self.conn.execute("UPDATE usage_ledger SET counted = 0 WHERE id = ?", (rid,))
        self._sum(old, -1)

    def remove(self, ids: list[int]) -> None:
        """Holders that go (their messages deleted or rewritten): a counted one hands
        its response over to the next holder of its key."""
        c = self.conn
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            gone = [_row(r) for r in c.execute(f"SELECT {_COLS} FROM usage_ledger WHERE id IN ({marks})", chunk)]
            if not gone:
                continue
            c.execute(f"DELETE FROM usage_ledger WHERE id IN ({marks})", chunk)
            for r in gone:
                if r.counted:
                    self._sum(r, -1)
            for provider, key in {(r.provider, r.key) for r in gone if r.counted and r.key is not None}:
                nxt = c.execute(
                    f"SELECT {_COLS} FROM usage_ledger WHERE provider = ? AND key = ? ORDER BY id LIMIT 1",
                    (provider, key),
                ).fetchone()
                if nxt is not None:
                    c.execute("UPDATE usage_ledger SET counted = 1 WHERE id = ?", (nxt[0],))
                    self._sum(_row(nxt)._replace(counted=1), 1)

    def ids_of(self, cid: int, *, messages: bool = True, sessions: bool = True) -> list[int]:
        out: list[int] = []
        for want, (lo, hi) in ((messages, rowid_range(cid)), (sessions, _session_range(cid))):
            if want:
                out += [
                    i for (i,) in self.conn.execute("SELECT id FROM usage_ledger WHERE id >= ? AND id < ?", (lo, hi))
                ]
        return out

    def set_sessions(self, cid: int, provider: str, project: str | None, ts: int | None, rows: tuple) -> None:
        """A conversation's session-level rows, replaced."""
        self.remove(self.ids_of(cid, messages=False))
        if rows:
            self.add(provider, project, [(session_id(cid, j), ts, r) for j, r in enumerate(rows)])

    def reproject(self, cid: int, project: str | None) -> None:
        """A conversation that moved to another project: its rows' totals move with it."""
        c = self.conn
        proj = project or ""
        for lo, hi in (rowid_range(cid), _session_range(cid)):
            rows = [
                _row(r)
                for r in c.execute(
                    f"SELECT {_COLS} FROM usage_ledger WHERE id >= ? AND id < ? AND project != ?", (lo, hi, proj)
                )
            ]
            for r in rows:
                if r.counted:
                    self._sum(r, -1)
                    self._sum(r._replace(project=proj), 1)
            if rows:
                c.execute("UPDATE usage_ledger SET project = ? WHERE id >= ? AND id < ?", (proj, lo, hi))


def _acc(table: dict[tuple, list[int]], key: tuple, add: Sequence[int]) -> None:
    cur = table.get(key)
    if cur is None:
        table[key] = list(add)
    else:
        cur[:] = map(operator.add, cur, add)


# -- forget, verify, backfill ---------------------------------------------------
def forget_conversations(conn: sqlite3.Connection, conversation_rowids: list[int]) -> None:
    """Remove these conversations' usage, inside the caller's transaction (privacy's
    forget): each response they counted passes to its next holder, if any."""
    ledger = Ledger(conn)
    for cid in conversation_rowids:
        ledger.remove(ledger.ids_of(cid))
    ledger.flush()
    if conversation_rowids:
        for i in range(0, len(conversation_rowids), 500):
            chunk = conversation_rowids[i : i + 500]
            conn.execute(
                f"DELETE FROM usage_conversation WHERE conversation_id IN ({','.join('?' * len(chunk))})", chunk
            )


def recount(conn: sqlite3.Connection) -> tuple[dict[tuple, list[int]], dict[tuple, list[int]]]:
    """The totals summed again from the counted ledger rows: what the kept tables must hold."""
    ledger = Ledger(conn)
    for r in conn.execute(f"SELECT {_COLS} FROM usage_ledger WHERE counted = 1"):
        ledger._sum(_row(r), 1)
    return ledger.rollup(), ledger._convs


def verify(conn: sqlite3.Connection) -> list[str]:
    """Problems of the ledger: kept totals that differ from a recount, a key counted
    other than once (by its smallest holder), a holder whose message is gone."""
    problems: list[str] = []
    rollup, convs = recount(conn)
    for table, key, want in (("usage_rollup", _ROLLUP_KEY, rollup), ("usage_conversation", _CONV_KEY, convs)):
        have = {tuple(r[: len(key)]): list(r[len(key) :]) for r in conn.execute(f"SELECT * FROM {table}")}
        want = {k: v for k, v in want.items() if any(v)}
        for k in sorted(set(have) | set(want), key=repr):
            if have.get(k) != want.get(k):
                problems.append(f"usage: {table} {k}: kept {have.get(k)}, recounted {want.get(k)}")
                if len(problems) >= 20:
                    return problems
    bad = conn.execute(
        "SELECT provider, key FROM usage_ledger WHERE key IS NOT NULL GROUP BY provider, key"
        " HAVING sum(counted) != 1 OR min(CASE WHEN counted THEN id END) != min(id) LIMIT 20"
    ).fetchall()
    problems += [f"usage: response {k!r} of {p} is not counted exactly once, by its first holder" for p, k in bad]
    orphans = conn.execute(
        "SELECT count(*) FROM usage_ledger l WHERE id >= 0 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = l.id)"
    ).fetchone()[0]
    if orphans:
        problems.append(f"usage: {orphans} ledger rows name messages the archive no longer holds")
    unkeyed = conn.execute("SELECT count(*) FROM usage_ledger WHERE key IS NULL AND counted = 0").fetchone()[0]
    if unkeyed:
        problems.append(f"usage: {unkeyed} responses without a key are not counted")
    return problems


def backfill(conn: sqlite3.Connection) -> None:
    """Migration 7 on an archive that holds conversations: the ledger from the usage
    its messages and conversations already store, in one pass over the messages
    (rowid order is conversation order). Older code stored no dedup key; a Claude
    Code message kept its response's ``message_id`` and ``request_id`` in meta, which
    give the key the parser now records (docs/usage.md)."""
    import orjson

    from . import codec

    for did, data in conn.execute("SELECT id, data FROM zstd_dicts"):
        codec.register_dictionary(did, data)
    for table in ("usage_ledger", "usage_rollup", "usage_conversation"):
        conn.execute(f"DELETE FROM {table}")
    convs = {cid: (p, proj, upd) for cid, p, proj, upd in conn.execute(
        "SELECT id, provider, project, updated_at FROM conversations")}  # fmt: skip
    sessions: dict[int, Any] = {}
    for cid, meta in conn.execute("SELECT id, meta FROM conversations WHERE meta IS NOT NULL"):
        u = orjson.loads(codec.decode_json(meta)).get("usage")
        if u:
            sessions[cid] = u
    ledger = Ledger(conn)
    sums: dict[str, list[int]] = {}
    cur_cid: int | None = None
    batch: list[tuple[int, int | None, Response]] = []

    def close(cid: int | None) -> None:
        if cid is None:
            return
        provider, project, updated = convs[cid]
        if batch:
            ledger.add(provider, project, batch)
        if cid in sessions:
            rows = session_of(sessions.pop(cid), sums)
            ledger.add(provider, project, [(session_id(cid, j), updated, r) for j, r in enumerate(rows)])
        batch.clear()
        sums.clear()
        if ledger.pending() > 200_000:
            ledger.flush()

    rows = conn.execute(
        "SELECT id, conversation_id, timestamp, model, usage, meta FROM messages WHERE usage IS NOT NULL ORDER BY id"
    )
    for rid, cid, ts, model, usage, meta in rows:
        if cid != cur_cid:
            close(cur_cid)
            cur_cid = cid
        if cid not in convs:
            continue
        u = orjson.loads(codec.decode_json(usage))
        r = response_of(u, model)
        if r is None:
            continue
        if cid in sessions:
            _acc(sums, r.model, r.lanes)  # type: ignore[arg-type]
        if r.key is None and meta is not None:  # archived before keys: the response ids in meta (Claude Code's)
            m = orjson.loads(codec.decode_json(meta))
            if isinstance(m.get("message_id"), str) and isinstance(m.get("request_id"), str):
                r = r._replace(key=f"{m['message_id']}:{m['request_id']}")
        batch.append((rid, ts if ts is not None else convs[cid][2], r))
    close(cur_cid)
    for cid in list(sessions):  # conversations with session usage and no message usage
        if cid in convs:
            close(cid)
    ledger.flush()
