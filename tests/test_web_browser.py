"""`polylogue serve` in a real browser: Debian's Chromium driven by Selenium
(chromium-driver), found or installed (apt-get, when missing and running as
root) by tests/test_xss_browser.py's ``chromium`` fixture.

The flow: search a planted word (typed: the results come from the debounced
live search), click the hit, land on the highlighted message, expand a tool
call, switch branch, open the usage page; a screenshot of each page is kept in
the test's temporary folder (and, with POLYLOGUE_SCREENSHOTS=DIR, copied there:
docs/img/ holds the README's). Then every page with the XSS corpus: no payload
runs (no marker in the DOM, the title or the console) and the CSP reports nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_xss_browser import chromium  # noqa: F401 (the fixture: finds Chromium, installs it when missing)
from web_server import LONG_ID, PLANTED, PLANTED_CONV, build_home, long_conversation, start
from xss_payloads import ACTIVE, MARKER_CONSOLE, MARKER_ID, MARKER_TITLE, PAYLOADS, corpus_conversation

pytestmark = pytest.mark.slow
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")

XSS = corpus_conversation(ACTIVE + PAYLOADS)


@pytest.fixture(scope="module")
def driver(chromium, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """Selenium on the Chromium that tests/test_xss_browser.py's ``chromium`` fixture
    finds, or installs with apt-get (chromium and chromium-driver) when missing."""
    chromedriver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if os.access(p, os.X_OK)), None
    )
    if chromedriver is None:
        pytest.skip("chromium-driver is not installed (the Debian package chromium-driver)")
    browser = chromium
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        opts.add_argument(arg)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts, service=Service(chromedriver))
    d.set_page_load_timeout(60)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = build_home(tmp_path_factory.mktemp("webb") / "home", [XSS, long_conversation(20)])
    s = start(home)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _shot(driver, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    assert driver.save_screenshot(str(path))
    keep = os.environ.get("POLYLOGUE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def _wait(driver, predicate, timeout: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(predicate)


def test_search_read_expand_switch_usage(driver, server, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base = f"http://localhost:{server.port}"
    driver.get(base + "/")
    box = driver.find_element(By.ID, "q")
    box.send_keys(PLANTED)  # no Enter: the live search fills the results
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results ul.hits mark"))
    assert PLANTED in driver.current_url  # the URL follows the query
    # the facet counts arrive after the results, each value a filter link with its count
    counted = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .facet-counts p.facet a"))
    assert any(a.text.startswith("codex") and a.text.split()[-1].isdigit() for a in counted)
    _shot(driver, shots, "1-search")

    hit = next(
        a
        for a in driver.find_elements(By.CSS_SELECTOR, "#results ul.hits a.open")
        if PLANTED_CONV.split(":")[1] in (a.get_attribute("href") or "")
    )
    hit.click()
    marked = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "article.msg.hit"))
    assert PLANTED in marked[0].text
    assert driver.current_url.endswith("#" + marked[0].get_attribute("id"))
    _shot(driver, shots, "2-message")

    call = driver.find_element(By.CSS_SELECTOR, "details.tool-use")
    assert call.get_attribute("open") is None
    call.find_element(By.TAG_NAME, "summary").click()
    assert call.get_attribute("open") is not None
    assert "rg -n wal_checkpoint" in call.text
    _shot(driver, shots, "3-tool-call")

    before = [a.get_attribute("id") for a in driver.find_elements(By.CSS_SELECTOR, "article.msg")]
    driver.find_element(By.CSS_SELECTOR, "nav.fork a.branch-link").click()
    _wait(driver, lambda d: "branch=" in d.current_url)
    after = [a.get_attribute("id") for a in driver.find_elements(By.CSS_SELECTOR, "article.msg")]
    assert after != before and "the chosen branch" in driver.find_element(By.CSS_SELECTOR, "p.branches").text
    _shot(driver, shots, "4-branch")

    # the keyboard: j moves the cursor, / focuses the search box
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("j")
    assert driver.find_elements(By.CSS_SELECTOR, "article.msg.cur")
    body.send_keys("/")
    assert driver.switch_to.active_element.get_attribute("id") == "q"
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)

    driver.find_element(By.LINK_TEXT, "Usage").click()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "svg.bars"))
    _shot(driver, shots, "5-usage")
    for name, path in (("6-browse", "/browse"), ("7-health", "/health")):
        driver.get(base + path)
        _shot(driver, shots, name)
    assert not _csp_reports(driver)


def test_a_long_output_loads_when_opened_and_pages_fit_a_phone(driver, server, shots):
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    from polylogue.render.html import fold

    base = f"http://localhost:{server.port}"
    conv = f"/c/{quote(LONG_ID, safe=':')}"
    driver.get(base + conv)
    lazy = driver.find_element(By.CSS_SELECTOR, "details.more[data-rest]")
    driver.execute_script("arguments[0].closest('details.tool-result').open = true", lazy)
    lazy.find_element(By.TAG_NAME, "summary").click()
    _wait(driver, lambda d: lazy.find_elements(By.CSS_SELECTOR, "pre code"))
    shown = driver.execute_script("return arguments[0].querySelector('pre code').textContent", lazy)
    assert shown == fold("line\n" * 5000)[1]
    # a phone-width window: no page is wider than the screen (wide tables and charts scroll inside)
    driver.set_window_size(390, 844)
    try:
        for path in ("/", f"/search?q={PLANTED}", conv, "/browse", "/projects", "/usage", "/health"):
            driver.get(base + path)
            over = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert over <= 1, (path, over)
        _shot(driver, shots, "8-phone-health")
    finally:
        driver.set_window_size(1280, 1000)
    assert not _csp_reports(driver)


def _csp_reports(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_no_payload_runs_on_any_page(driver, server):
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    base = f"http://localhost:{server.port}"
    conv = f"/c/{quote(XSS.id, safe=':')}"
    driver.get_log("browser")  # start from an empty console
    for path in (
        "/",
        "/search?q=alert",
        "/browse",
        "/projects",
        "/usage",
        "/health",
        conv,
        conv + "?branch=all&page=2",
    ):
        driver.get(base + path)
        driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")  # ontoggle tries
        assert MARKER_TITLE not in driver.title, path
        assert not driver.find_elements(By.ID, MARKER_ID), path
        attrs = driver.execute_script(
            "return Array.from(document.querySelectorAll('*')).flatMap(e => e.getAttributeNames())"
            ".filter(n => n.startsWith('data-pwned'))"
        )
        assert attrs == [], (path, attrs)
    log = [e["message"] for e in driver.get_log("browser")]
    assert not [m for m in log if MARKER_CONSOLE in m or "PWNED" in m]
    # nothing even tried to run: an inline script in the content would be reported by the CSP
    assert not [m for m in log if "Content Security Policy" in m or "Uncaught" in m], log
