"""The HTML renderer against a real browser: render the XSS corpus, open the
pages in headless Chromium (``--dump-dom``, no Selenium) and check that no
payload ran or injected an element, while its text is visibly there.

Each payload in ``xss_payloads.ACTIVE`` builds its marker at run time, so the
marker shows up in the DOM (an attribute ``data-pwned-*`` on <body>, the title
``PWNED42``, a console line ``PWNED-console``, an element ``#pw-injected``)
only if the browser executed or parsed it as markup. Two controls prove the
harness: the same payloads pasted raw (unescaped) into a page without the CSP
do leave every marker, and with the CSP no script runs.

Chromium comes from the Debian packages ``chromium`` / ``chromium-driver``;
when missing and running as root, the session fixture installs them with
apt-get; otherwise the tests skip with the reason. ``POLYLOGUE_CHROMIUM``
points at another binary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import apt_install, root_with_apt
from xss_payloads import (
    ACTIVE,
    ALLOWED_TAGS,
    MARKER_ATTR_PREFIX,
    MARKER_CONSOLE,
    MARKER_ID,
    MARKER_TITLE,
    PAYLOADS,
    Scan,
    corpus_conversation,
    visible,
)

from polylogue.render import html as html_render

CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{html_render.CSP}">'
# the attribute markers the ACTIVE payloads try to set: 'data-pw'+'ned-img' -> data-pwned-img
ATTR_MARKERS = {"data-pw" + m for m in re.findall(r"'data-pw'\+'(ned-[a-z]+)'", "".join(ACTIVE))}
PAGE_TIMEOUT = 45


def _find_chromium() -> str | None:
    override = os.environ.get("POLYLOGUE_CHROMIUM")
    if override:
        return shutil.which(override) or (override if os.access(override, os.X_OK) else None)
    for name in ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = _find_chromium()
    notes = []
    if path is None and root_with_apt():
        notes = apt_install("chromium", "chromium-driver")
        path = _find_chromium()
    if path is None:
        why = " ".join(notes) or (
            "not root, so it was not installed"
            if hasattr(os, "geteuid") and os.geteuid()
            else "apt-get is not available"
        )
        pytest.skip(
            f"headless Chromium is not available ({why}); install the Debian packages chromium and "
            "chromium-driver, or set POLYLOGUE_CHROMIUM"
        )
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"{path} does not start: {e}")
    if r.returncode:
        pytest.skip(f"{path} --version failed: {r.stderr.strip()[-300:]}")
    return path


def dump_dom(chromium: str, page: Path, work: Path) -> tuple[str, str]:
    """(serialised DOM after load and 2 s of virtual time, Chromium's stderr log)."""
    profile = work / f"profile-{page.stem}"
    profile.mkdir()
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=2000",
        "--dump-dom",
        page.as_uri(),
    ]
    try:
        r = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PAGE_TIMEOUT, env={**os.environ, "HOME": str(work)}
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"Chromium did not finish {page.name} within {PAGE_TIMEOUT} s: a payload is probably running "
            "(an alert() or a refresh loop blocks the page)"
        )
    assert r.returncode == 0 and "<html" in r.stdout, f"chromium failed ({r.returncode}): {r.stderr[-2000:]}"
    return r.stdout, r.stderr


def _console(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line]


def markers(dom: str, log: str) -> set[str]:
    """Every trace of a payload having run or been parsed as markup."""
    s = Scan(dom)
    found = set()
    for _tag, attrs in s.elements:
        found |= {k for k in attrs if k.startswith(MARKER_ATTR_PREFIX)}
        if attrs.get("id") == MARKER_ID:
            found.add(MARKER_ID)
    if MARKER_TITLE in s.title:
        found.add(MARKER_TITLE)
    if any(MARKER_CONSOLE in line for line in _console(log)):
        found.add(MARKER_CONSOLE)
    return found


ALL_MARKERS = ATTR_MARKERS | {MARKER_TITLE, MARKER_CONSOLE, MARKER_ID}


@pytest.fixture(scope="module")
def browsed(chromium, tmp_path_factory):
    """Render every page once, open them all in parallel; {name: (html, dom, log)}."""
    work = tmp_path_factory.mktemp("xss-browser")
    conv = corpus_conversation(ACTIVE + PAYLOADS)
    pages: dict[str, str] = {}
    pages["conversation"] = html_render.render(conv)
    pages["conversation-nocsp"] = pages["conversation"].replace(CSP_META, "")
    paged = dict(html_render.pages(conv, 40, base="paged", index_href="index.html"))
    assert len(paged) > 2
    for name in ("paged.html", "paged-p2.html"):  # the first page and a middle one
        pages[name[:-5]] = paged[name].replace(CSP_META, "")
    entries = [
        {
            "id": f"x:{i}",
            "title": p,
            "provider": p,
            "updated_at": p,
            "message_count": p,
            "href": "paged.html",
            "pages": 2,
        }
        for i, p in enumerate(ACTIVE + PAYLOADS)
    ]
    entries.append({"id": "y", "title": "js link", "provider": "x", "href": "javascript:alert(1)"})
    pages["index"] = html_render.index(entries, title=" | ".join(ACTIVE)).replace(CSP_META, "")
    raw = "\n".join(f"<div>{p}</div>" for p in ACTIVE)  # the controls: payloads NOT escaped
    control = html_render.index([], title="control").replace("<main>", "<main>" + raw)
    pages["control-raw-csp"] = control
    pages["control-raw-nocsp"] = control.replace(CSP_META, "")
    assert CSP_META in pages["conversation"] and CSP_META not in pages["control-raw-nocsp"]

    files = []
    for name, doc in pages.items():
        path = work / f"{name}.html"
        path.write_text(doc, encoding="utf-8")
        files.append((name, path))
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda item: (item[0], dump_dom(chromium, item[1], work)), files))
    return conv, {name: (pages[name], dom, log) for name, (dom, log) in results}


def test_controls_prove_the_harness_detects_execution(browsed):
    _, out = browsed
    _, dom, log = out["control-raw-nocsp"]
    assert markers(dom, log) == ALL_MARKERS  # every vector fires when pasted raw
    _, dom, log = out["control-raw-csp"]
    assert markers(dom, log) == {MARKER_ID}  # the CSP alone stops every script and handler
    assert any("Content Security Policy" in line for line in _console(log))


@pytest.mark.parametrize("name", ["conversation", "conversation-nocsp", "paged", "paged-p2", "index"])
def test_no_payload_runs_or_injects(browsed, name):
    conv, out = browsed
    source, dom, log = out[name]
    assert markers(dom, log) == set(), name
    assert "PWNED" not in log
    # nothing even tried to run (the CSP would have logged a blocked script)
    assert not [line for line in _console(log) if "Content Security Policy" in line or "Uncaught" in line]
    s = Scan(dom)
    tags = {t for t, _ in s.elements}
    assert tags <= ALLOWED_TAGS | {"tbody"}, tags - ALLOWED_TAGS
    for tag, attrs in s.elements:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        assert "src" not in attrs and "style" not in attrs, (tag, attrs)
        if "href" in attrs:
            assert ":" not in attrs["href"], attrs
    text = s.all_text
    if name.startswith("conversation"):
        assert dom.count("<article ") == len(conv.messages)  # no payload closed or opened an element
        for p in ACTIVE + PAYLOADS:
            assert visible(p, text), p
            assert visible(p, s.title)
    elif name == "index":
        for p in ACTIVE + PAYLOADS:
            assert visible(p, text), p
        assert [a["href"] for t, a in s.elements if t == "a"] == ["paged.html"] * len(ACTIVE + PAYLOADS)
    else:
        assert dom.count("<article ") == 40 and "<nav" in dom
        assert any(visible(p, text) for p in ACTIVE)
