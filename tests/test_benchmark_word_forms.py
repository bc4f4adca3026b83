"""benchmarks/word_forms.py at tiny scale (--smoke), so it does not rot. Its
figures are measured by hand and recorded in docs/benchmarks.md ("Word forms");
what is asserted here are the properties that hold at any scale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DESIGNS = ("expansion", "porter", "two_indexes")


def test_word_forms_smoke():
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "word_forms.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["data"]["messages"] > 0
    d = out["designs"]
    # the same messages in every design: two indexes hold twice what one does
    assert d["expansion"]["message_index_bytes"] > 0 and d["expansion"]["build_seconds"] > 0
    assert d["two_indexes"]["message_index_bytes"] > d["expansion"]["message_index_bytes"]
    assert d["porter"]["tables"]["messages_fts"]["terms"] <= d["expansion"]["tables"]["messages_fts"]["terms"]
    assert d["two_indexes"]["vs_expansion"]["index_bytes"] > 1
    lat = out["latency"]["all"]
    assert all(lat[k]["p50_ms"] > 0 for k in DESIGNS) and lat["porter"]["p50_ratio"] > 0
    assert out["queries"]["one_word"] and out["summary"]

    checks = {(c["property"], c["query"]): c for c in out["probes"]["checks"]}
    # every design finds the other forms of a word
    assert all(checks[("an inflection finds its base form", "checkpointing")][k]["ok"] for k in DESIGNS)
    # porter alone cannot tell checkpointing from checkpoint, nor keep an identifier or path exact
    quoted = checks[("a quoted word finds its exact form only", '"checkpointing"')]
    assert quoted["expansion"]["ok"] and quoted["two_indexes"]["ok"] and not quoted["porter"]["ok"]
    for key in (
        ("an identifier finds only itself", "running_total"),
        ("an identifier finds only itself", "wal_checkpoint"),
        ("a path finds only itself", "src/handlers/checkpointing.py"),
    ):
        assert checks[key]["expansion"]["ok"] and not checks[key]["porter"]["ok"], key
    first = checks[("the exact form ranks above the other forms", "checkpointing")]
    assert first["expansion"]["exact_first_possible"] and not first["porter"]["exact_first_possible"]
    assert all(checks[("CJK finds its substring", "检查点")][k]["ok"] for k in DESIGNS)
    # on the data: a quoted word in today's index finds exactly its form
    n = len(out["queries"]["one_word"])
    assert out["correctness"]["quoted_finds_exactly_the_form"]["expansion"] == f"{n}/{n}"
