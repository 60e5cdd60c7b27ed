"""The HTML report in a real browser (Debian's Chromium via Playwright): nothing executes, nothing loads.

The page is served through Playwright's router at a fake origin, so every request the page
makes, for any reason, passes through our handler and is recorded. A positive control (a page
that *is* vulnerable) proves the harness would notice execution.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from iotvet.report import build_report, render
from tests.report import sample

CHROMIUM = os.environ.get("IOTVET_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
URL = "http://report.iotvet.test/report.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed (pip install playwright)"
    else:
        problem = "" if shutil.which(CHROMIUM) else f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        yield browser
        browser.close()


def visit(browser: Any, page_html: bytes) -> dict[str, Any]:
    """Load ``page_html`` at :data:`URL`; report what it ran, asked for and showed."""
    seen: dict[str, Any] = {"requests": [], "dialogs": [], "console": [], "errors": [], "popups": []}
    context = browser.new_context(java_script_enabled=True, service_workers="block")
    context.set_default_timeout(10_000)

    def route(r: Any) -> None:
        if r.request.url == URL and not seen.get("served"):
            seen["served"] = True
            r.fulfill(status=200, content_type="text/html; charset=utf-8", body=page_html)
        else:
            seen["requests"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("console", lambda m: seen["console"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("popup", lambda p: seen["popups"].append(p.url))
    page.goto(URL, wait_until="load")
    page.wait_for_timeout(300)  # time for a meta refresh or a late handler to fire
    seen["pwned"] = page.evaluate("() => window.__pwned")
    seen["url"] = page.url
    seen["active"] = page.evaluate("""() => document.querySelectorAll(
        'script,iframe,frame,img,svg,link,base,object,embed,form,a,input,button,video,audio,meta[http-equiv=refresh]'
    ).length""")
    seen["handlers"] = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(
        el => [...el.attributes].map(a => a.name)).filter(n => n.startsWith('on'))""")
    seen["text"] = page.inner_text("body")
    seen["leak_bg"] = page.evaluate("() => getComputedStyle(document.querySelector('td.v-leak')).backgroundColor")
    context.close()
    return seen


def _assert_inert(seen: dict[str, Any]) -> None:
    assert seen["pwned"] is None
    assert seen["dialogs"] == [] and seen["errors"] == [] and seen["popups"] == []
    assert seen["requests"] == []  # nothing but the report itself was requested
    assert seen["url"] == URL
    assert seen["active"] == 0 and seen["handlers"] == []
    assert sample.HOSTILE[0] in seen["text"] and "javascript:window.__pwned=1" in seen["text"]


def test_hostile_report_executes_and_loads_nothing(browser: Any) -> None:
    page = render("html", build_report(sample.run_data(hostile=True)))
    seen = visit(browser, page)
    _assert_inert(seen)
    assert seen["console"] == []  # in particular no CSP report: our one stylesheet is allowed by its hash
    assert seen["leak_bg"] == "rgb(198, 40, 40)"  # and it did apply


def test_escaping_alone_suffices_without_the_csp(browser: Any) -> None:
    page = render("html", build_report(sample.run_data(hostile=True))).decode("utf-8")
    without_csp = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    assert without_csp != page
    _assert_inert(visit(browser, without_csp.encode("utf-8")))


def test_the_harness_notices_a_vulnerable_page(browser: Any) -> None:
    vulnerable = (b"<!DOCTYPE html><html><body><table><tr><td class='v-leak'>x</td></tr></table>"
                  b"<img src=x onerror='window.__pwned=1'><link rel=stylesheet href='https://evil.example/x.css'>"
                  b"</body></html>")
    seen = visit(browser, vulnerable)
    assert seen["pwned"] == 1
    assert any("evil.example" in u for u in seen["requests"])
