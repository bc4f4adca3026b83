"""Gemini Apps activity from Google Takeout, the HTML form (docs/providers.md,
"gemini-apps-html").

There is no public sample: tests/fixtures/gemini_apps/MyActivity.html is the
activity of MyActivity.json beside it (the same 7 records) written as Takeout
writes My Activity in HTML: the card markup of public parsers' fixtures and a
user's pasted export (outer-cell / header-cell / content-cell body-1, text-right
and caption cells), ``Prompted&nbsp;``, subtitle lines before the time, times
in US Pacific time with a narrow no-break space before AM/PM, the two drafts of
the mutex answer one after the other. Counts below were read from that file by
eye."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import provider_checks as checks
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polylogue import models as m
from polylogue.api import Archive
from polylogue.errors import ParseError
from polylogue.providers import detect, gemini_apps, gemini_apps_html, read_head
from polylogue.providers.gemini_apps_html import takeout_time

FIXTURES = Path(__file__).parent / "fixtures" / "gemini_apps"
FIXTURE = FIXTURES / "MyActivity.html"

parse_bytes = checks.bytes_parser(gemini_apps_html, "MyActivity.html")
parse_json = checks.bytes_parser(gemini_apps, "MyActivity.json")


def check(convs: list[m.Conversation]) -> None:
    for c in convs:
        assert c.provider == "gemini-apps" and c.provider_id.startswith("derived-")
        assert c.messages and c.messages[0].role == m.USER
        assert len({x.id for x in c.messages}) == len(c.messages)
        assert all(x.parent_id in (None, c.messages[0].id) for x in c.messages)


CARD = (
    '<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">'
    '<div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">{header}<br></p></div>'
    '<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">{body}</div>'
    '<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1 mdl-typography--text-right"></div>'
    '<div class="content-cell mdl-cell mdl-cell--12-col mdl-typography--caption"><b>Products:</b><br>'
    "&emsp;{header}<br></div></div></div>"
)


def page(*cards: tuple[str, str]) -> bytes:
    body = "".join(CARD.format(header=h, body=b) for h, b in cards)
    return (
        f'<html><head><title>My Activity</title></head><body><div class="mdl-grid">{body}</div></body></html>'.encode()
    )


def gemini(body: str) -> tuple[str, str]:
    return ("Gemini Apps", body)


# ---------------------------------------------------------------- the fixture, counted by hand


def test_fixture_counts():
    convs, ctx = parse_bytes(FIXTURE.read_bytes())
    check(convs)
    # 7 cards: 2 without a response (feedback, draft choice), 5 with one
    assert len(convs) == 5
    assert ctx.warnings == [] and ctx.notes == [
        "2 activity record(s) without a response (feedback, draft choices) not imported"
    ]
    # the prompt and one reply each: the mutex answer's two drafts run together in the HTML
    assert [len(c.messages) for c in convs] == [2, 2, 2, 2, 2]
    assert [c.title for c in convs] == [
        "Explain the difference between a mutex and a semaphore in two sentences.",
        "What is in this picture?",
        "Quiz me on the central limit theorem",
        "Created Canvas: Weekly meal plan",
        "write a haiku about rain",
    ]
    assert all(c.meta["form"] == "html" for c in convs)


def test_the_same_conversations_as_the_json_form():
    html, _ = parse_bytes(FIXTURE.read_bytes())
    js, _ = parse_json((FIXTURES / "MyActivity.json").read_bytes())
    assert [c.provider_id for c in html] == [c.provider_id for c in js]
    # the times are the same instants, to the second (the HTML shows no milliseconds)
    assert [c.created_at for c in html] == [c.created_at.replace(microsecond=0) for c in js]
    assert [c.messages[0].text for c in html] == [c.messages[0].text for c in js]
    # a reply the JSON holds once reads the same from the HTML
    assert [c.messages[-1].text for c in html[1:]] == [c.messages[-1].text for c in js[1:]]
    drafts = html[0].messages[1].text
    assert drafts.startswith("A **mutex** lets exactly one thread") and drafts.endswith("- semaphore: `n` holders")


def test_subtitles_attachments_gem_canvas_and_bard():
    convs = parse_bytes(FIXTURE.read_bytes())[0]
    picture, quiz, canvas, bard = convs[1:]
    assert str(picture.created_at) == "2025-08-02 17:05:12+00:00"
    assert picture.meta["time_text"] == "Aug 2, 2025, 10:05:12 AM PDT"
    images = [b for b in picture.messages[0].blocks if b.type == m.IMAGE]
    # the image beside the card and the "-  image_89b1bd.png" subtitle name one file: one reference
    assert [(b.name, b.meta) for b in images] == [
        ("image_89b1bd-1e9873211d1a6157.png", {"path": "image_89b1bd-1e9873211d1a6157.png"})
    ]
    assert picture.meta["subtitles"] == [
        {"name": "Attached 1 file."},
        {"name": "-  image_89b1bd.png", "url": "image_89b1bd-1e9873211d1a6157.png"},
    ]
    assert "tabby cat (https://en.wikipedia.org/wiki/Tabby_cat)" in picture.messages[1].text
    assert quiz.meta["gem"] == "Statistics Tutor"
    assert "```\nx̄ → μ\n```" in quiz.messages[1].text and "| n | σ/√n |" in quiz.messages[1].text
    assert canvas.messages[0].context and canvas.messages[0].meta == {"kind": "activity"}
    assert bard.meta["header"] == "Bard"
    assert bard.messages[1].text == "Soft rain on the roof\nthe gutter hums its one note\ntea cools by the glass"


def test_both_forms_synced_give_each_conversation_once(tmp_path):
    takeout = tmp_path / "Takeout" / "My Activity" / "Gemini Apps"
    takeout.mkdir(parents=True)
    for name in ("MyActivity.json", "MyActivity.html"):
        (takeout / name).write_bytes((FIXTURES / name).read_bytes())
    a = Archive(tmp_path / "home")
    report = a.sync([str(tmp_path / "Takeout")])
    assert report.errors == []
    rows = a.sql("SELECT provider, count(*), sum(message_count) FROM conversations GROUP BY provider")[1]
    # the JSON copy is kept, whichever file came first: its times carry milliseconds, so it is the newer
    # (the mutex answer's two drafts: 3 messages there, 2 from the HTML)
    assert rows == [("gemini-apps", 5, 11)]


# ---------------------------------------------------------------- sniffing


def test_detected_by_content_and_other_products_are_side_files(samples):
    head = read_head(FIXTURE.read_bytes())
    assert head.kind == "text" and detect(head) is gemini_apps_html.PROVIDER
    assert checks.claimed_by_others(gemini_apps_html, head) == []
    assert checks.samples_claimed(gemini_apps_html) == []
    youtube = page(
        (
            "YouTube",
            'Watched&nbsp;<a href="https://www.youtube.com/watch?v=x">A video</a><br>'
            '<a href="https://www.youtube.com/channel/y">A channel</a><br>Sep 4, 2020, 11:01:46 AM PDT',
        )
    )
    other = read_head(youtube)
    assert not gemini_apps_html.sniff(other) and gemini_apps_html.PROVIDER.side_file(other)
    assert detect(other) is None
    for text in (b"<html><body><p>Gemini Apps</p></body></html>", b"# Gemini Apps\n\nnotes"):
        assert not gemini_apps_html.sniff(read_head(text))
        assert not gemini_apps_html.PROVIDER.side_file(read_head(text))


def test_a_page_of_other_products_parses_to_nothing_quietly():
    data = page(
        ("Search", "Searched for&nbsp;<a href='https://www.google.com/search?q=x'>x</a><br>Sep 1, 2020, 9:27:07 PM PDT")
    )
    convs, ctx = parse_bytes(data)
    assert convs == [] and ctx.warnings == [] and ctx.notes == ["1 record(s) of other Google products skipped"]


# ---------------------------------------------------------------- times


@pytest.mark.parametrize(
    "written, utc",
    [
        ("Sep 14, 2025, 1:30:41\u202fAM PDT", "2025-09-14T08:30:41"),
        ("Sep 14, 2025, 1:30:41 PM PDT", "2025-09-14T20:30:41"),
        ("Jan 1, 2024, 12:00:05 AM PST", "2024-01-01T08:00:05"),
        ("Jan 1, 2024, 12:00:05 PM UTC", "2024-01-01T12:00:05"),
        ("May 19, 2026, 7:07:02\u202fPM GMT-03:00", "2026-05-19T22:07:02"),
        ("May 19, 2026, 7:07:02 PM GMT+5:30", "2026-05-19T13:37:02"),
        ("18 Sept 2025, 12:02:52 CET", "2025-09-18T11:02:52"),
        ("4 July 2026, 09:15:00 CEST", "2026-07-04T07:15:00"),
        ("Jun 23, 2015, 2:43:45 PM", "2015-06-23T14:43:45"),  # old exports: no zone, UTC
    ],
)
def test_takeout_times(written, utc):
    assert takeout_time(written) == datetime.fromisoformat(utc).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "written",
    [
        "Feb 31, 2025, 1:00:00 AM PDT",  # no such day
        "Sep 14, 2025, 13:30:41 PM PDT",
        "Sep 14, 2025, 1:30:41 AM XYZT",  # a zone not known here
        "14.09.2025, 10:30:41 MESZ",  # another language's form
        "2026年6月19日 12:23:08 CST",
        "May 19, 2026, 7:07:02 PM GMT+19:00",
        "yesterday",
    ],
)
def test_times_not_read(written):
    assert takeout_time(written) is None


# ---------------------------------------------------------------- versions and bad input


def test_a_time_in_another_form_imports_with_one_warning():
    convs, ctx = parse_bytes(
        page(gemini("Prompted&nbsp;hallo<br>14.09.2025, 10:30:41 MESZ<br><p>Hallo!</p>")),
    )
    (conv,) = convs
    assert conv.created_at is None and conv.meta["time_text"] == "14.09.2025, 10:30:41 MESZ"
    assert conv.meta["time_raw"] == "14.09.2025, 10:30:41 MESZ" and conv.messages[1].text == "Hallo!"
    checks.warned_once(ctx, "unknown version", "1 record(s) with a time in no known form")
    again, _ = parse_bytes(page(gemini("Prompted&nbsp;hallo<br>14.09.2025, 10:30:41 MESZ<br><p>Hallo!</p>")))
    assert again[0].provider_id == conv.provider_id


def test_scripts_and_styles_are_dropped():
    body = (
        "Prompted&nbsp;GOOD-ONE<br>Sep 14, 2025, 1:30:41 AM PDT<br>"
        "<p>safe <b>text</b></p><script>steal(document.cookie)</script><style>p{color:red}</style>"
        '<p onclick="x()">more</p>'
    )
    (conv,), ctx = parse_bytes(page(gemini(body)))
    reply = conv.messages[1]
    assert reply.text == "safe **text**\n\nmore" and ctx.warnings == []
    assert "steal" not in reply.meta["html"] and "color:red" not in reply.meta["html"]


def test_a_reply_without_a_line_break_after_the_time():
    (conv,), _ = parse_bytes(page(gemini("Prompted&nbsp;hi<br>Apr 12, 2026, 3:34:31 PM EDT<p>hello</p>")))
    assert [x.text for x in conv.messages] == ["hi", "hello"]
    assert str(conv.created_at) == "2026-04-12 19:34:31+00:00"


def test_a_stray_div_in_a_reply_costs_no_later_card():
    convs, _ = parse_bytes(
        page(
            gemini("Prompted&nbsp;GOOD-ONE<br>Sep 14, 2025, 1:30:41 AM PDT<br><div><p>one, left open"),
            gemini("Prompted&nbsp;GOOD-TWO<br>Sep 14, 2025, 1:31:41 AM PDT<br><p>two</p>"),
        )
    )
    assert [(c.title, c.messages[1].text) for c in convs] == [("GOOD-ONE", "one, left open"), ("GOOD-TWO", "two")]


def test_a_page_cut_short_keeps_the_cards_before_the_cut():
    data = page(
        gemini("Prompted&nbsp;GOOD-ONE<br>Sep 14, 2025, 1:30:41 AM PDT<br><p>one</p>"),
        gemini("Prompted&nbsp;GOOD-TWO<br>Sep 14, 2025, 1:31:41 AM PDT<br><p>two, a long answer</p>"),
    )
    convs, ctx = parse_bytes(data[: data.index(b"a long answer")])
    assert [c.title for c in convs] == ["GOOD-ONE", "GOOD-TWO"]
    assert convs[1].messages[1].text == "two,"
    assert len(ctx.warnings) == 1 and "ends inside record 1" in ctx.warnings[0].reason


def test_not_a_my_activity_page_is_one_parse_error():
    for data in (b"<html><body><p>nothing here</p></body></html>", page(), b""):
        with pytest.raises(ParseError, match="no activity cards"):
            parse_bytes(data)


# ---------------------------------------------------------------- fuzzing

FUZZ = checks.ParserFuzz(parse_bytes, check)
test_fuzz_bytes = FUZZ.random_bytes(max_size=2000)
test_fuzz_truncated_and_mutated = FUZZ.truncated_and_junked([FIXTURE.read_bytes()])
test_fuzz_damaged_lines = FUZZ.damaged_lines(
    [FIXTURE.read_bytes().replace(b"</div>", b"</div>\n")], ("cut", "drop", "dup", "swap", "flip")
)

_PIECES = [
    "Prompted&nbsp;",
    "<br>",
    "Sep 14, 2025, 1:30:41 AM PDT",
    "<p>",
    "</p>",
    "<a href='x.png'>",
    "</a>",
    "<script>",
    "</script>",
    "<div>",
    "</div>",
    "<b>Details:</b>",
    "<img src='a b.png'>",
    "&amp;",
    "GOOD",
]


@FUZZ
@given(st.lists(st.lists(st.sampled_from(_PIECES) | st.text(max_size=8), max_size=12), min_size=1, max_size=4))
def test_fuzz_cards(bodies):
    convs = FUZZ.must_not_raise(page(*(gemini("".join(b)) for b in bodies)))
    assert len(convs) <= len(bodies)


def test_fixture_is_the_json_fixtures_activity():
    """The two fixtures hold the same records: a check on the fixtures themselves."""
    records = json.loads((FIXTURES / "MyActivity.json").read_text())
    html = FIXTURE.read_text()
    assert html.count('class="outer-cell') == len(records) == 7
    for r in records:
        assert r["title"].replace("Prompted ", "Prompted&nbsp;", 1) in html
