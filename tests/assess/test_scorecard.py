"""The terminal scorecard and the JSON writer: what they show, and that target text stays inert."""

from __future__ import annotations

import json

from iotvet.assess.result import Assessment
from iotvet.assess.scorecard import render, to_json
from tests.assess.synthetic import assess, leak, observed, questionnaire, run

HOSTILE = "\x1b[2J\x1b[31m[bold red]owned[/] <script>x</script>\u202e"


def _lab() -> Assessment:
    return assess(questionnaire(vendor={"name": "[bold]Acme[/bold] <b>"}), run(leak("api-bola-read")),
                  observations=(observed("tls-version", "inconclusive", subject="api:443").model_copy(
                      update={"summary": HOSTILE}),))


def test_the_scorecard_shows_tallies_psti_fails_contradictions_and_gaps() -> None:
    text = render(_lab(), width=160)
    lines = text.splitlines()
    assert lines[0].startswith("iotvet assessment [bold]Acme[/bold] <b>  ETSI EN 303 645 V2.1.1  2026-11-25T12:00")
    assert "mandatory 33: 4 pass, 2 fail, 0 not-met-justified, 24 inconclusive, 3 not-applicable" in text
    assert "UK PSTI: applies" in text and "psti-1 Passwords: INCONCLUSIVE (5.1-1, 5.1-2)" in text
    assert "│ 5.5-5" in text and "│ 5.8-2" in text and "│ 5.1-1" not in text
    assert "access_control.tenant_segregation" in text and "access_control.object_ownership_checks" in text
    assert "incomplete: tls-version api:443" in text


def test_target_text_cannot_drive_the_terminal_or_inject_markup() -> None:
    for color in (False, True):
        text = render(_lab(), color=color)
        assert "\x1b[2J" not in text and "\u202e" not in text
        assert "\\x1b[2J\\x1b[31m[bold red]owned[/] <script>x</script>\\u202e" in text
    plain = render(_lab())
    assert "\x1b" not in plain  # no colour codes unless asked for


def test_json_is_the_model_with_html_unsafe_characters_escaped() -> None:
    a = _lab()
    raw = to_json(a).decode("utf-8")
    assert "<script>" not in raw and "\\u003cscript\\u003e" in raw
    assert Assessment.model_validate(json.loads(raw)) == a
