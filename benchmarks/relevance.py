#!/usr/bin/env python3
"""Relevance of search over a judged query set (issue 19).

    python benchmarks/relevance.py [--queries FILE] [--samples DIR] [--seed S] [--conversations N]
    python benchmarks/relevance.py --smoke

Three corpora, each synced into a fresh temporary home: the shipped
``examples/``, the shared samples (``../shared/samples``; skipped with a note
when absent) and a generated world (``benchmarks/generate.py``, deterministic
for its seed) with a few hand-written conversations planted beside it, whose
ids, titles and words are known (``PLANTED`` below). Every query of
``benchmarks/relevance_queries.json`` names its corpus, its class and the
conversations that should come back; each search mode runs every query
(limit 10, cache off) and is scored per class and overall with recall@5,
recall@10, MRR and nDCG@10 (binary relevance, over distinct conversations in
rank order). A query the search refuses (QueryError) counts as returning nothing.

With the [semantic] extra installed (docs/semantic.md), each corpus is also
embedded after its sync and two more modes run: ``semantic`` (vectors alone)
and ``hybrid`` (BM25 and vectors fused); ``targets`` compares hybrid with the
default lexical mode (``conversation``): recall@10 on the paraphrase class
(goal: +30 points) and the nDCG@10 each other class loses (goal: <= 2 points).

Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# run as a script, this folder comes first on the path, and its secrets.py would
# hide the standard library's (which the store uses): the repository instead
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from polylogue import Archive  # noqa: E402
from polylogue.errors import QueryError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
QUERIES = REPO / "benchmarks" / "relevance_queries.json"
SAMPLES = REPO.parent / "shared" / "samples"
SMOKE_QUERIES = 8

# A search mode: (archive, query) -> conversation ids, best first. Later modes
# (a whole-conversation search) are added here and get their own column.
Mode = Callable[[Archive, str], list[str]]


def _mode(**how) -> Mode:
    def run(archive: Archive, query: str) -> list[str]:
        try:
            res = archive.search(query, limit=10, cache=False, **how)
        except QueryError:
            return []
        return [c["id"] for c in res.conversations]

    return run


def _meaning(mode: str) -> Mode:
    """Semantic or hybrid search (issue 25), as Archive.search(mode=...) runs it."""
    from polylogue import search as searchlang
    from polylogue import semantic

    def run(archive: Archive, query: str) -> list[str]:
        try:
            q = searchlang.with_filters(searchlang.parse(query), {})
            res = semantic.search(archive, q, mode=mode, limit=10)
        except QueryError:
            return []
        return [c["id"] for c in res.conversations]

    return run


MODES: dict[str, Mode] = {
    # the baseline, as search was before issue 19: every word in one message, exactly as written
    "per_message": _mode(within="message", forms=False),
    "per_message_forms": _mode(within="message"),
    "conversation": _mode(within="conversation"),  # the default
}
LEXICAL = "conversation"


def semantic_ready() -> bool:
    try:
        from polylogue import semantic
    except ImportError:  # a tree without issue 25's package
        return False
    return bool(semantic.available()["available"])


if semantic_ready():
    MODES["semantic"] = _meaning("semantic")
    MODES["hybrid"] = _meaning("hybrid")


# --- the planted conversations of the generated world --------------------------------------
# Each: (uuid, title, turns). A turn is (role, text) on the main path, with role one of
# user, assistant, thinking (an assistant's reasoning), tool_call (python code the
# assistant runs) and tool (its output); ("branch", [turns]) is an edited prompt: its
# turns hang off the previous turn's parent as an inactive side branch.
PLANTED: list[tuple[str, str, list]] = [
    (
        "5e1ec7ed-0000-4000-8000-000000000001",
        "Sourdough starter schedule",
        [
            ("user", "My levain doubles in four hours but the loaf comes out flat. When should I feed it?"),
            ("assistant", "Feed it at a 1:5:5 ratio the night before baking, so it peaks in the morning."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000002",
        "Greenhouse tomato blight",
        [
            ("user", "The lower leaves have brown spots with yellow rings, and it spread after a humid week."),
            ("assistant", "That is early blight (Alternaria). Remove the lower leaves and water at the base."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000003",
        "Kayak rudder repair",
        [
            ("user", "The pedal cable snapped on the left side. Can I splice it or must I replace it?"),
            ("assistant", "Replace it: a spliced steel cable frays at the crimp. Buy 1.6 mm stainless wire."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000004",
        "Mortgage refinancing options",
        [
            ("user", "Rates dropped a full point. Should I refinance my loan with nine years left?"),
            ("assistant", "Compare the closing costs with the interest saved; the amortization table shows it."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000005",
        "Violin bow rehair",
        [
            ("user", "The horsehair is worn thin and the stick will not hold tension any more."),
            ("assistant", "A luthier can rehair it in a day; ask for Mongolian stallion hair."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000006",
        "Wedding toast draft",
        [
            ("user", "Help me write three minutes for my sister and her groom, funny but kind."),
            ("assistant", "Open with the camping story, then raise a glass to the couple."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000007",
        "Nightly backup plan",
        [
            ("user", "How should I rotate the archive snapshot every night?"),
            ("assistant", "Compress each snapshot with zstd and keep fourteen of them."),
            ("user", "And the old ones?"),
            ("assistant", "Prune anything older than two weeks with a cron job."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000008",
        "Garden irrigation",
        [
            ("user", "The drip emitter keeps clogging near the roses."),
            ("assistant", "Flush the line monthly and fit a filter before the first emitter."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000009",
        "Race preparation",
        [
            ("user", "I run my first marathon in October. When do I taper?"),
            ("assistant", "Taper over the last three weeks: cut the weekly distance by a fifth each week."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000010",
        "Letter to my grandmother",
        [
            ("user", "Please translate this paragraph into German for my grandmother."),
            ("assistant", "Liebe Oma, ich vermisse dich und komme im Sommer zu Besuch."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000011",
        "Cat health",
        [
            ("user", "My cat vomits after she eats dry kibble too fast."),
            ("assistant", "Try a slow feeder bowl and smaller portions; see a vet if it persists."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000012",
        "Trip planning",
        [
            ("user", "We land in Lisbon on Friday evening."),
            ("assistant", "Take the metro from the airport to Baixa; it runs until one in the morning."),
            ("user", "On Sunday we go north to Porto."),
            ("assistant", "Book the Alfa Pendular train a week ahead; it takes under three hours."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000013",
        "Home network",
        [
            ("user", "My router reboots every night at about two."),
            ("assistant", "Check whether an automatic firmware update is scheduled."),
            ("user", "The mesh satellite upstairs drops too."),
            ("assistant", "Pair it again after the update, and keep it within two rooms."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000014",
        "Birthday party",
        [
            ("user", "Twelve kids are coming. What cake is easy?"),
            ("assistant", "A sheet cake with fruit: it feeds everyone and travels well."),
            ("user", "And decorations?"),
            ("assistant", "A balloon arch by the door and a pinata in the yard."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000015",
        "PDF invoices render blank",
        [
            ("user", "src/billing/invoice_renderer.py returns an empty page since the upgrade."),
            (
                "assistant",
                "InvoiceRenderer.render_pdf now needs font_dir; node also fails with ERR_TLS_CERT_ALTNAME_INVALID.",
            ),
            ("user", "The build runs out of memory too."),
            ("assistant", "Raise the heap with NODE_OPTIONS=--max-old-space-size=4096."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000016",
        "東京の天気",
        [
            ("user", "明日の東京の天気予報を教えてください。"),
            ("assistant", "明日は午後から雨の予報です。傘を持って行ってください。"),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000017",
        "连接池配置",
        [
            ("user", "我们的服务在高峰期数据库连接池耗尽，应该怎么配置？"),
            ("assistant", "把最大连接数设为核心数的两倍，并设置获取连接的超时时间。"),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000018",
        "Thumbnail job crashes",
        [
            ("user", "The nightly thumbnail job dies. What does the log say?"),
            ("tool_call", "print(open('/var/log/thumbs.log').read()[-400:])"),
            ("tool", "worker 3: SIGSEGV in vipsthumbnail while decoding IMG_4471.HEIC\nquota: 98% of /mnt/scratch"),
            ("assistant", "A worker crashed decoding one photo; upgrade the image library and skip that file."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000019",
        "Survey results",
        [
            ("user", "Ice cream sales and drownings rise together. Does one cause the other?"),
            (
                "thinking",
                "The user probably conflates covariance with causation; a confounder, summer heat, drives both.",
            ),
            ("assistant", "No: both follow the weather. Control for temperature and the link disappears."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000020",
        "Piano practice",
        [
            ("user", "How long should I practise scales each day?"),
            ("assistant", "Ten minutes, slowly, with a metronome."),
            (
                "branch",
                [
                    ("user", "How often should a harpsichord be tuned before a concert?"),
                    ("assistant", "Tune the harpsichord on the day; quills and gut shift with humidity."),
                ],
            ),
            ("user", "And arpeggios?"),
            ("assistant", "The same ten minutes, alternating hands."),
        ],
    ),
    (
        "5e1ec7ed-0000-4000-8000-000000000021",
        "Bookshelf build",
        [
            ("user", "I want a bookshelf from oak boards, two metres tall."),
            (
                "thinking",
                "Two metres of oak sags under books unless the span stays short; suggest a dado joint.",
            ),
            ("assistant", "Keep each shelf span under 80 cm and cut a dado joint for every shelf."),
            ("tool_call", "print(2000 / 5)"),
            ("tool", "400.0 mm between shelves; sagulator estimate 1.2 mm"),
        ],
    ),
]


def _node(nid: str, role: str, text: str, t: float, parent: str | None) -> dict:
    if role == "thinking":
        content = {"content_type": "thoughts", "thoughts": [{"summary": "Thinking", "content": text}]}
        author, recipient = "assistant", "all"
    elif role == "tool_call":
        content, author, recipient = {"content_type": "code", "language": "python", "text": text}, "assistant", "python"
    elif role == "tool":
        content, author, recipient = {"content_type": "execution_output", "text": text}, "tool", "all"
    else:
        content, author, recipient = {"content_type": "text", "parts": [text]}, role, "all"
    msg = {
        "id": nid,
        "author": {"role": author, "name": "python" if role == "tool" else None, "metadata": {}},
        "create_time": t,
        "content": content,
        "status": "finished_successfully",
        "weight": 1.0,
        "metadata": {},
        "recipient": recipient,
    }
    return {"id": nid, "message": msg, "parent": parent, "children": []}


def _planted_conversation(n: int, uuid: str, title: str, turns: list) -> dict:
    """One ChatGPT export conversation: its main path, and any side branch off it."""
    t0 = 1_700_000_000.0 + n * 86_400
    mapping: dict[str, dict] = {}
    root = f"{uuid}-root"
    mapping[root] = {"id": root, "message": None, "parent": None, "children": []}
    path = [root]
    k = 0

    def add(role: str, text: str, parent: str) -> str:
        nonlocal k
        k += 1
        nid = f"{uuid}-{k:02d}"
        mapping[nid] = _node(nid, role, text, t0 + k, parent)
        mapping[parent]["children"].append(nid)
        return nid

    for role, body in turns:
        if role == "branch":  # an edit of the next prompt: off the same parent, left inactive
            parent = path[-1]
            for r, text in body:
                parent = add(r, text, parent)
            continue
        path.append(add(role, body, path[-1]))
    return {
        "id": uuid,
        "title": title,
        "create_time": t0,
        "update_time": t0 + k,
        "mapping": mapping,
        "current_node": path[-1],
    }


def write_planted(folder: Path) -> None:
    convs = [_planted_conversation(i, u, t, turns) for i, (u, t, turns) in enumerate(PLANTED)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conversations.json").write_text(json.dumps(convs, ensure_ascii=False))


# --- corpora ---------------------------------------------------------------------------------
def build_corpora(tmp: Path, names: set[str], samples: Path, seed: int, conversations: int) -> tuple[dict, dict]:
    """Sync each corpus into its own home. Returns ({name: Archive}, {name: note of a skipped corpus})."""
    homes: dict[str, Archive] = {}
    skipped: dict[str, str] = {}
    if "examples" in names:
        homes["examples"] = _synced(tmp / "examples", [REPO / "examples"])
    if "samples" in names:
        if samples.is_dir():
            homes["samples"] = _synced(tmp / "samples", [samples])
        else:
            skipped["samples"] = f"{samples} is absent: its queries were not run"
    if "world" in names:
        src = tmp / "world-src"
        gen = [sys.executable, str(REPO / "benchmarks" / "generate.py"), str(src)]
        gen += ["--conversations", str(conversations), "--seed", str(seed)]
        subprocess.run(gen, check=True, capture_output=True)
        write_planted(src / "planted" / "chatgpt")
        homes["world"] = _synced(tmp / "world", [src])
    return homes, skipped


def _synced(home: Path, sources: list[Path]) -> Archive:
    a = Archive(home)
    a.sync(sources)
    if "hybrid" in MODES:
        from polylogue import semantic

        semantic.embed(a)
    return a


# --- metrics ---------------------------------------------------------------------------------
def score(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    """recall@5, recall@10, reciprocal rank and nDCG@10 of one query, binary relevance."""
    seen: list[str] = []
    for cid in ranked:  # a conversation counts once, at its best rank
        if cid not in seen:
            seen.append(cid)
    recall5 = len(relevant & set(seen[:5])) / len(relevant)
    recall10 = len(relevant & set(seen[:10])) / len(relevant)
    rr = next((1 / (i + 1) for i, c in enumerate(seen) if c in relevant), 0.0)
    dcg = sum(1 / math.log2(i + 2) for i, c in enumerate(seen[:10]) if c in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return {"recall@5": recall5, "recall@10": recall10, "mrr": rr, "ndcg@10": dcg / ideal}


def mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(sum(r[k] for r in rows) / len(rows), 3) for k in ("recall@5", "recall@10", "mrr", "ndcg@10")}


def run(queries: list[dict], homes: dict[str, Archive]) -> dict:
    by_class: dict[str, dict[str, list]] = {}
    misses: dict[str, list] = {m: [] for m in MODES}
    unknown: list[str] = []
    timing = dict.fromkeys(MODES, 0.0)
    for q in queries:
        archive = homes[q["corpus"]]
        relevant = set(q["relevant"])
        unknown += [c for c in relevant if c not in _ids(archive)]
        for name, mode in MODES.items():
            t = time.perf_counter()
            ranked = mode(archive, q["query"])
            timing[name] += time.perf_counter() - t
            s = score(ranked, relevant)
            by_class.setdefault(q["class"], {}).setdefault(name, []).append(s)
            if s["recall@5"] < 1:
                misses[name].append(
                    {"class": q["class"], "query": q["query"], "corpus": q["corpus"], "got": ranked[:5]}
                )
    classes = {
        c: {"queries": len(next(iter(per_mode.values()))), **{m: mean(rows) for m, rows in per_mode.items()}}
        for c, per_mode in sorted(by_class.items())
    }
    overall = {m: mean([r for per_mode in by_class.values() for r in per_mode[m]]) for m in MODES}
    return {
        "classes": classes,
        "overall": {"queries": sum(c["queries"] for c in classes.values()), **overall},
        "targets": targets(classes),
        "seconds": {m: round(s, 2) for m, s in timing.items()},
        "misses": misses,
        "unknown_relevant_ids": sorted(set(unknown)),
    }


def targets(classes: dict) -> dict:
    """Issue 25's goals, hybrid against the default lexical mode, in points (x100)."""
    if "hybrid" not in MODES:
        return {"note": "the [semantic] extra is not installed: semantic and hybrid were not run"}
    out: dict = {}
    para = classes.get("paraphrase")
    if para:
        gain = round(100 * (para["hybrid"]["recall@10"] - para[LEXICAL]["recall@10"]), 1)
        out["paraphrase_recall@10_gain"] = {"points": gain, "goal": 30, "met": gain >= 30}
    losses = {
        c: round(100 * (v[LEXICAL]["ndcg@10"] - v["hybrid"]["ndcg@10"]), 1)
        for c, v in classes.items()
        if c != "paraphrase"
    }
    worst = max(losses.values(), default=0.0)
    out["other_classes_ndcg@10_loss"] = {"points": losses, "worst": worst, "goal": 2, "met": worst <= 2}
    return out


_ID_CACHE: dict[int, set[str]] = {}


def _ids(archive: Archive) -> set[str]:
    """Every conversation id of an archive: a judged id that is missing means the corpus changed."""
    key = id(archive)
    if key not in _ID_CACHE:
        _ID_CACHE[key] = {c["id"] for c in archive.list(limit=1_000_000)}
    return _ID_CACHE[key]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=Path, default=QUERIES)
    ap.add_argument("--samples", type=Path, default=SAMPLES)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--conversations", type=int, default=200, help="size of the generated world")
    ap.add_argument("--misses", action="store_true", help="list each query a mode misses (recall@5 < 1)")
    ap.add_argument("--smoke", action="store_true", help=f"examples only, the first {SMOKE_QUERIES} of its queries")
    args = ap.parse_args()
    spec = json.loads(args.queries.read_text())
    queries = spec["queries"]
    if args.smoke:  # the first examples queries, and the first paraphrases there
        ex = [q for q in queries if q["corpus"] == "examples"]
        queries = ex[:SMOKE_QUERIES] + [q for q in ex if q["class"] == "paraphrase"][:2]
    with tempfile.TemporaryDirectory(prefix="polylogue-relevance-") as tmp:
        homes, skipped = build_corpora(
            Path(tmp), {q["corpus"] for q in queries}, args.samples, args.seed, args.conversations
        )
        ran = [q for q in queries if q["corpus"] in homes]
        out = run(ran, homes)
        for a in homes.values():
            a.close()
    out["corpora"] = {
        name: {"queries": sum(q["corpus"] == name for q in ran), "conversations": len(_ids(a))}
        for name, a in homes.items()
    }
    out["skipped"] = skipped
    out["modes"] = list(MODES)
    if not args.misses:
        out["misses"] = {m: len(v) for m, v in out["misses"].items()}
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
