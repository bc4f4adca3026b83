"""Gemini Apps activity from Google Takeout (docs/providers.md, "gemini-apps").

There is no public sample: tests/fixtures/gemini_apps/MyActivity.json is built
to the real schema (records newest first; a feedback record and a draft choice
without responses; two regenerations; an attached image; a Gem; a Canvas
record; an old Bard record). Counts below were read from that file by eye."""

from __future__ import annotations

import json
from pathlib import Path

import provider_checks as checks
import pytest
from hypothesis import given
from hypothesis import strategies as st
from out_of_range import accepted, dumps, mutated

from polylogue import models as m
from polylogue.errors import ParseError
from polylogue.providers import detect, gemini_apps, read_head

FIXTURE = Path(__file__).parent / "fixtures" / "gemini_apps" / "MyActivity.json"


parse_bytes = checks.bytes_parser(gemini_apps, "MyActivity.json")


def record(title: str, time: str, *replies: str, **extra) -> dict:
    rec = {
        "header": "Gemini Apps",
        "title": title,
        "time": time,
        "products": ["Gemini Apps"],
        "activityControls": ["Gemini Apps Activity"],
        **extra,
    }
    if replies:
        rec["safeHtmlItem"] = [{"html": r} for r in replies]
    return rec


def check(convs: list[m.Conversation]) -> None:
    for c in convs:
        assert c.provider == "gemini-apps" and c.provider_id.startswith("derived-")
        assert c.messages and c.messages[0].role == m.USER
        ids = [x.id for x in c.messages]
        assert len(set(ids)) == len(ids)
        assert all(x.parent_id in (None, c.messages[0].id) for x in c.messages)
        assert sum(x.active for x in c.messages if x.role == m.ASSISTANT) == 1


# ---------------------------------------------------------------- the fixture, counted by hand


def test_fixture_counts():
    convs, ctx = parse_bytes(FIXTURE.read_bytes())
    check(convs)
    # 7 records: 2 without a response (feedback, draft choice), 5 with one
    assert len(convs) == 5
    assert ctx.warnings == [] and ctx.notes == [
        "2 activity record(s) without a response (feedback, draft choices) not imported"
    ]
    # messages per conversation: prompt + replies (the mutex prompt has 2 regenerations)
    assert [len(c.messages) for c in convs] == [3, 2, 2, 2, 2]
    assert [c.title for c in convs] == [
        "Explain the difference between a mutex and a semaphore in two sentences.",
        "What is in this picture?",
        "Quiz me on the central limit theorem",
        "Created Canvas: Weekly meal plan",
        "write a haiku about rain",
    ]
    assert sum(1 for c in convs for x in c.messages if x.role == m.USER) == 5
    assert sum(1 for c in convs for x in c.messages if x.role == m.ASSISTANT) == 6


def test_regenerations_are_siblings_and_the_last_is_active():
    conv = parse_bytes(FIXTURE.read_bytes())[0][0]
    prompt, first, second = conv.messages
    assert prompt.text.startswith("Explain the difference")
    assert first.parent_id == second.parent_id == prompt.id
    assert (first.active, second.active) == (False, True)
    assert first.meta["regenerated"] is True and conv.meta["regenerations"] == 2
    assert first.text == (
        "A **mutex** lets exactly one thread hold a lock.\n\nA semaphore counts permits, so several threads may pass at once."
    )
    assert second.text.endswith("- mutex: one holder\n- semaphore: `n` holders")
    assert second.meta["html"].startswith("<p>A mutex is a lock")
    assert str(conv.created_at) == "2025-09-14 08:30:41.907000+00:00"


def test_attachments_gem_canvas_and_bard():
    convs = parse_bytes(FIXTURE.read_bytes())[0]
    picture, quiz, canvas, bard = convs[1:]
    images = [b for b in picture.messages[0].blocks if b.type == m.IMAGE]
    # imageFile and the "-  image_89b1bd.png" subtitle name the same file: one reference
    assert [(b.name, b.meta) for b in images] == [
        ("image_89b1bd-1e9873211d1a6157.png", {"path": "image_89b1bd-1e9873211d1a6157.png"})
    ]
    assert "tabby cat (https://en.wikipedia.org/wiki/Tabby_cat)" in picture.messages[1].text
    assert picture.messages[1].text.startswith("### A tabby cat")
    assert quiz.meta["gem"] == "Statistics Tutor"
    assert "```\nx̄ → μ\n```" in quiz.messages[1].text and "| n | σ/√n |" in quiz.messages[1].text
    assert canvas.messages[0].context and canvas.messages[0].meta == {"kind": "activity"}
    assert bard.meta["header"] == "Bard"
    assert bard.messages[1].text == "Soft rain on the roof\nthe gutter hums its one note\ntea cools by the glass"


def test_ids_are_stable_and_independent_of_order_and_path():
    data = FIXTURE.read_bytes()
    a = parse_bytes(data)[0]
    doc = json.loads(data)
    b = parse_bytes(json.dumps(list(reversed(doc))).encode(), path="elsewhere/other.json")[0]
    assert sorted(c.provider_id for c in a) == sorted(c.provider_id for c in b)
    assert [x.id for x in a[0].messages] == [x.id for x in parse_bytes(data)[0][0].messages]


def test_detected_and_side_files():
    head = read_head(FIXTURE.read_bytes())
    assert gemini_apps.sniff(head) and detect(head) is gemini_apps.PROVIDER
    assert checks.claimed_by_others(gemini_apps, head) == []
    youtube = [
        {
            "header": "YouTube",
            "title": "Watched a video",
            "titleUrl": "https://youtube.com/x",
            "time": "2025-01-01T00:00:00Z",
            "products": ["YouTube"],
            "activityControls": ["YouTube watch history"],
        }
    ]
    other = read_head(json.dumps(youtube, indent=1).encode())
    assert not gemini_apps.sniff(other) and gemini_apps.PROVIDER.side_file(other)


def test_no_shared_sample_is_claimed(samples):
    assert checks.samples_claimed(gemini_apps) == []


# ---------------------------------------------------------------- versions and bad input


def test_unknown_title_form_imports_with_one_warning():
    doc = [
        record("Eingegebener Prompt: Wie spät ist es?", "2025-01-02T00:00:00Z", "<p>Mittag.</p>"),
        record("Prompted hi", "2025-01-01T00:00:00Z", "<p>hello</p>"),
        {**record("Asked something", "2025-01-03T00:00:00Z", "<p>ok</p>"), "header": "Gemini Advanced"},
    ]
    convs, ctx = parse_bytes(json.dumps(doc).encode())
    assert len(convs) == 3
    first = convs[0].messages[0]
    assert first.text == "Eingegebener Prompt: Wie spät ist es?" and not first.context
    assert first.meta == {"kind": "unknown title form"}
    checks.warned_once(ctx, "unknown version", "2 record(s)", "Gemini Advanced")


def test_bad_records_cost_only_themselves():
    doc = [
        record("Prompted GOOD-ONE", "2025-01-01T00:00:00Z", "<p>a</p>"),
        "not a record",
        record("Prompted odd replies", "2025-01-01T00:00:01Z", "<p>b</p>", safeHtmlItem=[{"html": 5}, 7]),
        record("Prompted GOOD-TWO", "2025-01-01T00:00:02Z", "<p>c</p>"),
    ]
    convs, ctx = parse_bytes(json.dumps(doc).encode())
    assert [c.title for c in convs] == ["GOOD-ONE", "odd replies", "GOOD-TWO"]
    checks.warned_once(ctx, "record 1")


def test_truncated_export_keeps_the_records_before_the_cut():
    data = json.dumps([record(f"Prompted p{i}", f"2025-01-01T00:00:0{i}Z", "<p>r</p>") for i in range(3)]).encode()
    convs, ctx = parse_bytes(data[: len(data) - 40])
    assert [c.title for c in convs] == ["p0", "p1"] and "stopped after record 1" in ctx.warnings[0].reason


def test_not_my_activity_is_one_parse_error():
    with pytest.raises(ParseError):
        parse_bytes(b'{"header": "Gemini Apps"}')
    convs, ctx = parse_bytes(b"[]")
    assert convs == [] and ctx.warnings[0].reason == "no Gemini Apps records in this file"


def test_html_to_text_handles_broken_markup():
    text, images = gemini_apps.html_to_text(
        '<p>a <b>b<i>c</p><ol><li>one<li>two</ol><img src="x.png" alt="X"><script>evil()</script>'
    )
    assert "evil" not in text and "1. one" in text and "2. two" in text and images == [("x.png", "X")]
    assert gemini_apps.html_to_text("plain &amp; simple")[0] == "plain & simple"


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, check)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)


_KEYS = [
    "header",
    "title",
    "time",
    "safeHtmlItem",
    "html",
    "subtitles",
    "name",
    "url",
    "imageFile",
    "attachedFiles",
    "x",
]
_json = checks.json_shaped(_KEYS, checks.json_scalars(st.text(max_size=30)), fields=6, max_leaves=30)


@FUZZ
@given(st.lists(_json, max_size=6))
def test_fuzz_records(items):
    FUZZ.must_not_raise(json.dumps(items).encode())


@FUZZ
@given(st.text(max_size=300))
def test_fuzz_html(html):
    text, images = gemini_apps.html_to_text(html)
    assert isinstance(text, str) and all(isinstance(s, str) for s, _ in images)


test_fuzz_truncated_and_mutated = FUZZ.truncated_and_junked([FIXTURE.read_bytes()])


BAD = record(
    "Prompted middle",
    "2025-01-01T00:00:01Z",
    "<p>x</p>",
    subtitles=[{"name": "-  f.png", "url": "f.png"}],
    imageFile="f.png",
    attachedFiles=["a.pdf"],
)
GOOD_FIRST = record("Prompted GOOD-ONE", "2025-01-01T00:00:00Z", "<p>one</p>")
GOOD_LAST = record("Prompted GOOD-TWO", "2025-01-01T00:00:02Z", "<p>two</p>")


@FUZZ
@given(mutated(BAD))
def test_fuzz_out_of_range_values_raise_only_parse_error(bad):
    FUZZ.must_not_raise(dumps([GOOD_FIRST, bad, GOOD_LAST]))


@FUZZ
@given(mutated(BAD, accepted))
def test_fuzz_out_of_range_values_keep_the_good_records(bad):
    convs, _ = parse_bytes(dumps([GOOD_FIRST, bad, GOOD_LAST]))
    checks.keeps_the_good(convs)
