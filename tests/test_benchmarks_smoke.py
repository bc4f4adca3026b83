"""Every benchmark runs at tiny scale (--smoke) so none of them rots. The
figures themselves are measured by hand and recorded in docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pg_server import pg_server  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


def smoke(name: str, *extra: str) -> dict:
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--smoke", *extra],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_ingest_smoke():
    out = smoke("ingest")
    assert out["full"]["messages"] > 0 and out["full"]["errors"] == 0
    assert out["resync_unchanged"]["conversations_changed"] == 0
    assert out["baseline"]["messages"] > 0 and out["speedup_vs_baseline"] > 0
    assert out["full"]["peak_rss_mb"] > 0
    log = out["growing_session_log"]
    # the smoke log is below resume.MIN_BYTES, so its syncs parse it whole; the in-process sweep does not
    assert len(log["incremental"]["resumed"]) == log["steps"] and not any(log["force"]["resumed"])
    assert all(r["resumed_from"] == r["log_bytes"] for r in log["parse_only_by_size"])


def test_search_smoke():
    out = smoke("search")
    q = out["queries"]
    assert {"common_word", "rare_word", "two_words", "prefix", "word_with_filters", "_overall"} <= set(q)
    assert q["rare_word"]["total_messages"] >= 1
    assert out["cli_end_to_end"]["p50_ms"] > 0


def test_search_memory_smoke():
    out = smoke("search_memory")
    for row in out["queries"].values():
        assert row["after_best_ms"] > 0 and row["after_peak_rss_mb"] > 0
        assert row["after_totals"][0] > 0
        if out["before"]:
            assert row["same_totals"], row


def test_storage_smoke():
    # --before times another revision's code: HEAD stands in for it, when this is a git checkout
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "HEAD"], capture_output=True)
    out = smoke("storage", *(["--before", "HEAD"] if git.returncode == 0 else []))
    for corpus in ("roadmap", "tool_heavy"):
        c = out[corpus]
        assert c["ours"]["messages"] == c["naive"]["messages"] > 0
        assert c["ratio_to_naive"] < 1
        assert c["before_after"]["show"]["outputs_differ"] == 0
        if git.returncode == 0:
            vs = c["before_after"]["versus_before"]
            assert vs["show"]["after"]["p50_ms"] > 0 and vs["search"]["overall"]["before"]["p50_ms"] > 0


def test_memory_smoke():
    out = smoke("memory")
    assert out["conversation"]["messages"] == 100
    assert out["projections"]["substantive"]["repeated_ms"] < 1
    assert out["show_first_screen"]["ms_median"] > 0


def test_concurrent_smoke():
    out = smoke("concurrency")
    assert out["summary"]["reader_errors"] == 0
    assert out["writer_alone"]["writer"]["messages"] > 0


def test_versus_smoke():
    out = smoke("versus", "--before", "HEAD")
    assert out["import"]["messages"] > 0 and out["import"]["seconds_ratio"] > 0
    assert out["search"]["same_archive"] and out["search"]["queries"]
    assert all(q["p50_ratio"] > 0 for q in out["search"]["queries"].values())


def test_hostile_memory_smoke():
    out = smoke("hostile_memory")
    line, over, tree = out["line_line"], out["over_line"], out["chatgpt_tree"]
    assert line["messages"] == out["wide_line"]["messages"] == 3 and "cut to 4 MB" in line["errors"][0]
    assert over["messages"] == 2 and over["errors"] == ["line longer than 16 MB skipped"]
    assert tree["messages"] == tree["nodes"] - 1 and tree["peak_pss_per_message_bytes"] > 0


def test_typos_smoke():
    out = smoke("typos")
    assert out["zanzibraquux"]["did_you_mean"] == "zanzibarquux"
    assert out["zanzibraquux"]["search_ms"] >= 0


def test_relevance_smoke():
    from polylogue import semantic

    out = smoke("relevance")
    meaning = ["semantic", "hybrid"] if semantic.available()["available"] else []  # issue 25's modes
    assert out["modes"] == ["per_message", "per_message_forms", "conversation", *meaning]
    assert out["corpora"]["examples"]["queries"] == 10  # 8, and 2 paraphrases
    rows = [out["overall"], *out["classes"].values()]
    assert sum(c["queries"] for c in out["classes"].values()) == out["overall"]["queries"] == 10
    for row in rows:
        for mode in out["modes"]:
            assert set(row[mode]) == {"recall@5", "recall@10", "mrr", "ndcg@10"}
            assert all(0 <= v <= 1 for v in row[mode].values())
    # an exact path is found by every search mode; an inflected word only with word forms
    assert all(out["classes"]["identifier"][m]["recall@5"] == 1 for m in out["modes"])
    assert out["classes"]["inflected"]["conversation"]["recall@5"] == 1
    assert out["classes"]["inflected"]["per_message"]["recall@5"] == 0
    # a paraphrase shares no content word with its conversation: words miss it, meaning finds it
    assert out["classes"]["paraphrase"]["conversation"]["recall@10"] == 0
    if meaning:
        assert out["classes"]["paraphrase"]["hybrid"]["recall@10"] == 1
        assert out["targets"]["paraphrase_recall@10_gain"]["met"]
    assert out["unknown_relevant_ids"] == []


def test_embed_smoke():
    """benchmarks/embed.py: the encoder's throughput, `polylogue embed` in a child process,
    and hybrid/semantic search beside lexical over 2,000 vectors (issue 25)."""
    from polylogue import semantic

    out = smoke("embed")
    if not semantic.available()["available"]:
        assert "pip install" in out["skipped"]
        return
    t = out["throughput"]
    assert t["archive_mix"]["texts_per_s"] > 0 and t["tokens_128"]["mean_tokens"] > 100
    run = out["embed_run"]
    assert run["conversations"] == run["of"] > 0 and run["texts"] > 0 and run["peak_pss_mb"] > 0
    s = out["search"]
    assert s["vectors"] == 2000 and s["first_result"] is not None
    assert all(s[m]["p99_ms"] > 0 for m in ("lexical", "hybrid", "semantic"))
    assert out["cli"]["hybrid_s"] > 0 and out["cli"]["lexical_baseline_s"] > 0


def test_quantisation_smoke():
    """benchmarks/quantisation.py: the sign-bit codes' top 10 against exact float cosine (issue 25)."""
    from polylogue import semantic

    out = smoke("quantisation")
    if not semantic.available()["available"]:
        assert "pip install" in out["skipped"]
        return
    assert out["texts"] > 10 and out["queries"] == 10
    for k in ("overlap@10_rescored_1x", "overlap@10_rescored_8x", "overlap@10_hamming_alone"):
        assert 0 < out[k] <= 1, k


def test_postgres_smoke(pg_server):  # noqa: F811 (the fixture installs PostgreSQL, or skips saying why)
    out = smoke("postgres")
    assert out["first_push"]["messages"] == out["baseline_copy"]["messages"] > 0
    assert out["repush_nothing_changed"]["messages"] == 0
    assert 0 < out["incremental_push_1pct"]["conversations"] < out["first_push"]["conversations"]
    assert out["search"]["postgres"]["p99_ms"] > 0 and out["search"]["sqlite_baseline"]["p99_ms"] > 0
    assert out["fts_choice"]["tsvector_gin"]["index_bytes"] > 0 and out["fts_choice"]["trgm_gin"]["index_bytes"] > 0


def test_web_smoke():
    """benchmarks/web.py: starts `polylogue serve`, times every page kind alone and with
    concurrent clients over loopback, and reports the server's memory."""
    out = smoke("web")
    kinds = {"search_cold", "search_warm", "browse", "projects", "usage", "conversation_first_page"}
    kinds |= {"conversation_branched_first_page", "static_baseline"}
    assert set(out["one_client"]) == kinds
    for kind, figures in out["one_client"].items():
        assert figures["errors"] == 0 and figures["n"] > 0 and figures["server_p99_ms"] > 0, kind
    assert set(out["concurrent_vs_alone_p99"]) == kinds - {"search_cold"}
    assert all(out["concurrent"][k]["errors"] == 0 for k in kinds - {"search_cold"})
    assert 0 < out["server_pss_mb"] < 1000 and out["baseline_cli_search_ms"] > 0


def test_parse_smoke():
    out = smoke("parse")
    assert set(out["providers"]) == {"claude-code", "codex", "chatgpt"}
    for name, p in out["providers"].items():
        assert p["messages"] > 0 and p["parse_us_per_message"] > 0, name
        ratio = p["parse_us_per_message"] / p["orjson_us_per_message"]  # of rounded figures: close, not equal
        assert abs(p["ratio_to_orjson"] - ratio) <= 0.01 * ratio, name


def test_naive_smoke():
    """The naive loader (issue 27's second baseline) and our import, side by side."""
    out = smoke("naive")
    assert out["polylogue"]["rows"][0] > 0 and out["naive"]["rows"][0] > 0
    assert out["cpu_ratio"] > 0 and out["wall_ratio"] > 0 and out["pss_ratio"] > 0


def test_sync_profile_smoke():
    """Each parser count's sync profiled: roles, CPU and the tree's peak memory."""
    out = smoke("sync_profile")
    for count in ("1", "2"):
        run = out["runs"][count][0]
        assert {"writer", "indexer", "parser"} <= set(run["cpu_by_role"]), run
        assert run["peak_pss_mb"] > 0 and run["cores_busy_while_parsing"] > 0
        assert sum(1 for p in run["at_peak"] if p["role"] == "parser") <= int(count)
    assert out["summary"]["1"]["wall_ratio"] == 1.0


def test_totals_smoke():
    """The kept totals counted again from nothing, as after a first import."""
    out = smoke("totals")
    assert out["made"] > 0 and out["kept_words"] > 0 and out["tree_cpu_seconds"] > 0
