"""The assessment scorecard: complete, ordered, and inert in a real browser with hostile vendor and evidence text."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import escape

from iotvet.assess import load_catalogue
from iotvet.assess.html import CSP, STYLE_HASH, write_html
from tests.assess.factory import HOSTILE, V, make
from tests.report.test_html_browser import browser, visit  # noqa: F401 - the Chromium fixture, shared

VERDICTS = {"5.1-1": V.FAIL, "5.1-2": V.NOT_APPLICABLE, "5.2-2": V.NOT_MET_JUSTIFIED, "5.5-1": V.INCONCLUSIVE}


def _rows(page: str) -> list[tuple[str, str, str]]:
    """(provision, status, verdict label) of each row of the provisions table."""
    table = page[page.index("<h2>Provisions"):]
    return re.findall(r'<tr><td class="id">([^<]+)</td><td>([^<]+)</td><td class="v [^"]+">([^<]+)</td>', table)


def test_scorecard_lists_every_provision_with_its_verdict() -> None:
    page = write_html(make(verdicts=VERDICTS)).decode("utf-8")
    rows = _rows(page)
    assert [r[0] for r in rows] == [p.id for p in load_catalogue().provisions]
    labels = {r[0]: r[2] for r in rows}
    assert (labels["5.1-1"], labels["5.1-2"], labels["5.2-2"], labels["5.5-1"], labels["5.1-3"]) == \
        ("FAIL", "N/A", "NOT MET, JUSTIFIED", "INCONCLUSIVE", "PASS")
    assert dict((r[0], r[1]) for r in rows)["5.3-6"] == "R C(9,12)"
    assert f'content="{escape(CSP)}"' in page and STYLE_HASH in CSP and "<script" not in page and "<a " not in page


def test_contradictions_come_first_then_tallies_and_the_three_views() -> None:
    page = write_html(make(verdicts=VERDICTS)).decode("utf-8")
    order = [page.index(h) for h in ("<h2>Claims contradicted by evidence (1)</h2>", "<h2>Tallies</h2>",
                                     "<h2>UK PSTI</h2>", "<h2>DCMS Code of Practice</h2>", "<h2>NIST IR 8425</h2>",
                                     "<h2>Provisions (68)</h2>")]
    assert order == sorted(order)
    psti = page[order[2]:order[3]]
    assert "Applies." in psti and "camera sold in the UK" in psti
    assert re.findall(r'<td class="id">(psti-\d)</td>', psti) == ["psti-1", "psti-2", "psti-3"]
    tallies = page[order[1]:order[2]]
    assert '<tr><th>Mandatory (M)</th><td class="num">33</td><td class="num">30</td><td class="num">1</td>' in tallies


def test_no_contradiction_section_without_contradictions_and_psti_not_applying() -> None:
    page = write_html(make(contradictions=False, psti_applicable=False)).decode("utf-8")
    assert "Claims contradicted" not in page and "Does not apply." in page and "Evidence incomplete" not in page


def test_incomplete_evidence_is_a_warning_above_everything() -> None:
    page = write_html(make(incomplete=("run r1 is interrupted",))).decode("utf-8")
    warning = page.index('<div class="warn"><b>Evidence incomplete:</b> run r1 is interrupted</div>')
    assert warning < page.index("<h2>Claims contradicted")


def _assert_inert(seen: dict[str, Any]) -> None:
    assert seen["pwned"] is None
    assert seen["dialogs"] == [] and seen["errors"] == [] and seen["popups"] == []
    assert seen["requests"] == []  # nothing but the page itself was requested
    assert seen["active"] == 0 and seen["handlers"] == []
    text = seen["text"]
    assert "<script>window.__pwned=1</script>" in text and 'href="javascript:window.__pwned=1"' in text
    assert "Acme Cloud <script>" in text and "\\x1b[31mred" in text and "\\u202eevil" in text


def test_hostile_scorecard_executes_and_loads_nothing(browser: Any) -> None:  # noqa: F811
    seen = visit(browser, write_html(make(verdicts=VERDICTS, hostile=True)))
    _assert_inert(seen)
    assert seen["console"] == []  # no CSP report: the one stylesheet is allowed by its hash
    assert seen["leak_bg"] == "rgb(198, 40, 40)"  # and it applied (a FAIL cell is red)


def test_escaping_alone_suffices_without_the_csp(browser: Any) -> None:  # noqa: F811
    page = write_html(make(verdicts=VERDICTS, hostile=True)).decode("utf-8")
    without_csp = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    assert without_csp != page
    _assert_inert(visit(browser, without_csp.encode("utf-8")))


def test_hostile_text_never_leaves_text_context() -> None:
    page = write_html(make(verdicts=VERDICTS, hostile=True)).decode("utf-8")
    assert HOSTILE[:8] not in page  # "<script>" appears only escaped
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&#34;&#39;&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page
