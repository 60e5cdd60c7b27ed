"""The ignore file: entries suppress matching findings until they expire; errors name file, line and field."""

from __future__ import annotations

import datetime as dt

import pytest

from iotvet.core.errors import UserError
from iotvet.core.records import Severity
from iotvet.plan.yamlsource import load_yaml
from iotvet.report import build_report, exit_code, parse_ignore
from iotvet.report.gate import EXIT_FINDINGS, EXIT_OK
from tests.report import sample

GOOD = """\
ignore:
  - check: api-bola-read
    operation: "GET /v1/vehicles/*/trips"
    reason: drivers of one fleet may see each other's trips (product decision, SEC-12)
    expires: 2026-12-31
    ticket: SEC-12
  - check: "mq-*"
    topic: "nordvik/*/telemetry"
    relation: other-tenant
    reason: broker migration in progress
    expires: "2026-06-30"
  - check: api-bola-write
    reason: accepted permanently
"""


def rules(text: str) -> list:  # type: ignore[type-arg]
    return parse_ignore(load_yaml(text, ".iotvetignore.yaml"))


def test_entries_parse_with_their_lines() -> None:
    parsed = rules(GOOD)
    assert [r.check for r in parsed] == ["api-bola-read", "mq-*", "api-bola-write"]
    assert parsed[0].expires == dt.date(2026, 12, 31) and parsed[1].expires == dt.date(2026, 6, 30)
    assert parsed[2].expires is None and parsed[0].ticket == "SEC-12"
    assert str(parsed[1].source) == ".iotvetignore.yaml:7: ignore[1]"
    assert rules("") == [] and rules("ignore: []\n") == []


def test_live_entries_suppress_and_expired_ones_stop_and_warn() -> None:
    parsed = rules(GOOD)
    data = sample.run_data()
    before = build_report(data, rules=parsed, today=dt.date(2026, 6, 30))  # the last day of entry 2
    suppressed = {i.finding.check: i.suppression for i in before.findings if i.suppression}
    assert set(suppressed) == {"api-bola-read", "mq-xtenant-read", "api-bola-write"}
    assert before.warnings == []
    assert [i.finding.target for i in before.findings if i.finding.check == "api-bola-read" and i.suppression] == \
        ["GET /v1/vehicles/{vin}/trips"]  # the glob matched the trips operation only
    after = build_report(data, rules=parsed, today=dt.date(2026, 7, 1))
    assert {i.finding.check for i in after.findings if i.suppression} == {"api-bola-read", "api-bola-write"}
    assert after.warnings == [".iotvetignore.yaml:7: ignore[1]: ignore entry for mq-* expired on 2026-06-30; "
                              "it no longer suppresses"]
    assert exit_code(before, Severity.CRITICAL) == EXIT_OK
    assert exit_code(after, Severity.CRITICAL) == EXIT_FINDINGS  # the expired entry's critical counts again


@pytest.mark.parametrize(("text", "where", "message"), [
    ("ignore:\n  - check: api-bola-read\n", ".iotvetignore.yaml:2: ignore[0]", "'reason' is required"),
    ("ignore:\n  - check: api-bola-read\n    reason: ''\n", ".iotvetignore.yaml:3: ignore[0].reason",
     "must be a non-empty string"),
    ("ignore:\n  - check: api-bola-read\n    reason: x\n    expires: 31/12/2026\n",
     ".iotvetignore.yaml:4: ignore[0].expires", "yyyy-mm-dd"),
    ("ignore:\n  - check: api-bola-reed\n    reason: x\n", ".iotvetignore.yaml:2: ignore[0].check", "no check id"),
    ("ignore:\n  - check: api-bola-read\n    reason: x\n    path: /x\n", ".iotvetignore.yaml:4: ignore[0].path",
     "unknown field"),
    ("ignore:\n  - check: api-bola-read\n    reason: x\n    relation: neighbour\n",
     ".iotvetignore.yaml:4: ignore[0].relation", "unknown relation"),
    ("ignore:\n  - check: mq-anon\n    reason: x\n    topic: a\n    operation: GET /\n",
     ".iotvetignore.yaml:4: ignore[0].topic", "not both"),
    ("ignore:\n  - just a string\n", ".iotvetignore.yaml:2: ignore[0]", "must be a mapping"),
    ("ignore: {check: x}\n", ".iotvetignore.yaml:1: ignore", "must be a list"),
    ("- check: x\n", ".iotvetignore.yaml:1", "one key, 'ignore'"),
    ("ignore:\n  - check: [api\n", ".iotvetignore.yaml:", "not valid YAML"),
])
def test_errors_name_file_line_and_field(text: str, where: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        rules(text)
    assert str(info.value).startswith(where) and message in str(info.value), str(info.value)


def test_expired_entries_are_reported_in_machine_formats() -> None:
    import json

    from iotvet.report import render

    report = build_report(sample.run_data(), rules=rules(GOOD), today=dt.date(2027, 1, 1))
    assert [i.finding.check for i in report.findings if i.suppression] == ["api-bola-write"]  # never expires
    sarif = json.loads(render("sarif", report))
    notes = sarif["runs"][0]["invocations"][0]["toolConfigurationNotifications"]
    assert len(notes) == 2 and all("expired" in n["message"]["text"] for n in notes)
    assert len(json.loads(render("json", report))["warnings"]) == 2
