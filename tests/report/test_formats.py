"""Every format renders every kind of run; JSON and SARIF validate against their schemas."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

import pytest

from iotvet.checks import CATALOGUE
from iotvet.core.errors import Source, UserError
from iotvet.core.records import Finding
from iotvet.report import FORMATS, BaselineState, IgnoreRule, baseline_from_run, build_report, render
from iotvet.report.sarif_out import SECURITY_SEVERITY
from iotvet.store import RunData, RunStatus
from tests.report import sample
from tests.report.conftest import validate_report, validate_sarif

TODAY = dt.date(2026, 11, 25)
RULE = IgnoreRule(check="api-bola-read", operation="GET /v1/vehicles/*/trips", reason="fleet drivers share trips",
                  source=Source(".iotvetignore.yaml", 3, "ignore[0]"), expires=dt.date(2027, 1, 31), ticket="SEC-7")


def variants() -> dict[str, tuple[RunData, dict[str, object]]]:
    """Runs covering the states a report can be in."""
    empty = sample.run_data().model_copy(update={"findings": [], "cells": [], "untested": []})
    running = sample.run_data(status=RunStatus.RUNNING)
    running = running.model_copy(update={"run": running.run.model_copy(update={"finished": None})})
    old = sample.run_data(run_id="r-old").model_copy(update={"findings": sample.findings()[:2]})
    return {
        "plain": (sample.run_data(), {}),
        "hostile": (sample.run_data(hostile=True), {}),
        "incomplete": (sample.run_data(status=RunStatus.INCOMPLETE), {}),
        "running": (running, {}),
        "empty": (empty, {}),
        "suppressed": (sample.run_data(), {"rules": [RULE]}),
        "baseline": (sample.run_data(drop=1), {"baseline": baseline_from_run(old)}),
    }


@pytest.mark.parametrize("name", list(variants()))
def test_json_validates_and_keeps_finding_fields(name: str) -> None:
    data, options = variants()[name]
    report = build_report(data, today=TODAY, generated=1_795_000_900.0, **options)  # type: ignore[arg-type]
    doc = json.loads(render("json", report))
    validate_report(doc)
    assert doc["summary"]["findings"] == len(report.findings)
    for item, out in zip(report.findings, doc["findings"], strict=True):
        fields = {k: out[k] for k in Finding.model_fields}
        assert Finding.model_validate(fields) == item.finding  # the Finding fields exactly
        assert out["fingerprint"] == item.fingerprint and out["remediation"]
    assert len(doc["matrix"]) == len(report.matrix)
    assert doc["run"]["complete"] is (data.run.status is RunStatus.COMPLETE)


@pytest.mark.parametrize("name", list(variants()))
def test_sarif_validates_against_the_official_schema(name: str) -> None:
    data, options = variants()[name]
    report = build_report(data, today=TODAY, generated=1_795_000_900.0, **options)  # type: ignore[arg-type]
    doc = json.loads(render("sarif", report))
    validate_sarif(doc)
    [run] = doc["runs"]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    for result in run["results"]:
        rule = rules[result["ruleId"]]
        assert run["tool"]["driver"]["rules"].index(rule) == result["ruleIndex"]
        assert rule["help"]["text"] == CATALOGUE[result["ruleId"]].remediation
        assert "security" in rule["properties"]["tags"]
        assert result["partialFingerprints"]["iotvetFingerprint/v1"] in {f.fingerprint for f in report.findings} | \
            set(options["baseline"].findings if "baseline" in options else ())  # type: ignore[attr-defined]
    assert run["invocations"][0]["executionSuccessful"] is (data.run.status is RunStatus.COMPLETE)


def test_sarif_carries_web_evidence_suppressions_and_taxonomies() -> None:
    report = build_report(sample.run_data(), rules=[RULE], today=TODAY)
    [run] = json.loads(render("sarif", report))["runs"]
    by_rule = {}
    for r in run["results"]:
        by_rule.setdefault(r["ruleId"], []).append(r)
    bola = next(r for r in by_rule["api-bola-read"] if r["locations"][0]["logicalLocations"][0]["name"]
                == "GET /v1/vehicles/{vin}")
    assert bola["webRequest"]["method"] == "GET" and bola["webRequest"]["target"].startswith("https://api.nordvik")
    assert bola["webResponse"]["statusCode"] == 200 and "YV9A1B2C3D4E5F601" in bola["webResponse"]["body"]["text"]
    assert bola["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "plans/nordvik.yaml"
    assert "suppressions" not in bola and bola["level"] == "error"
    trips = next(r for r in by_rule["api-bola-read"] if r is not bola)
    assert trips["suppressions"] == [{"kind": "external", "status": "accepted", "justification": RULE.reason,
                                      "properties": {"source": str(RULE.source), "ticket": "SEC-7",
                                                     "expires": "2027-01-31"}}]
    mqtt = by_rule["mq-xtenant-read"][0]
    assert "webRequest" not in mqtt and mqtt["properties"]["evidence"][0]["mqtt"]["action"] == "receive"
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "api-bola-read")
    assert rule["properties"]["security-severity"] == SECURITY_SEVERITY[CATALOGUE["api-bola-read"].severity]
    assert {"target": {"id": "API1", "toolComponent": {"name": "OWASP API Security Top 10"}},
            "kinds": ["relevant"]} in rule["relationships"]
    taxa = {t["name"]: {x["id"] for x in t["taxa"]} for t in run["taxonomies"]}
    assert "5.5-5" in taxa["ETSI EN 303 645"] and "API1" in taxa["OWASP API Security Top 10"]


def test_sarif_fingerprints_are_stable_across_runs_and_renders() -> None:
    def prints(data: RunData, generated: float) -> list[str]:
        doc = json.loads(render("sarif", build_report(data, generated=generated)))
        return sorted(r["partialFingerprints"]["primaryLocationLineHash"] for r in doc["runs"][0]["results"])

    assert prints(sample.run_data(run_id="r-1"), 1.0) == prints(sample.run_data(run_id="r-2"), 2.0)


def test_junit_one_testcase_per_check_and_place() -> None:
    report = build_report(sample.run_data(status=RunStatus.INCOMPLETE), rules=[RULE], today=TODAY)
    root = ET.fromstring(render("junit", report))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    outcome = {name: (c[0].tag if len(c) else "passed") for name, c in cases.items()}
    assert outcome == {
        "[HIGH] api-bola-read GET /v1/vehicles/{vin}": "failure",
        "[HIGH] api-bola-read GET /v1/vehicles/{vin}/trips": "error",  # leak suppressed, other-tenant inconclusive
        f"[{CATALOGUE['api-bola-write'].severity.value.upper()}] api-bola-write POST /v1/vehicles/{{vin}}/commands":
            "failure",
        f"[{CATALOGUE['api-unauth'].severity.value.upper()}] api-unauth GET /v1/vehicles/{{vin}}": "passed",
        f"[{CATALOGUE['api-unauth'].severity.value.upper()}] api-unauth GET /v1/vehicles/{{vin}}/trips": "skipped",
        f"[{CATALOGUE['mq-xtenant-read'].severity.value.upper()}] mq-xtenant-read castellan/+/telemetry": "error",
        f"[{CATALOGUE['mq-xtenant-read'].severity.value.upper()}] mq-xtenant-read "
        "nordvik/YV9A1B2C3D4E5F601/telemetry": "failure",
        f"run {report.data.run.id}": "error",
    }
    assert root.get("tests") == "8" and root.get("failures") == "3" and root.get("errors") == "3"
    assert root.get("skipped") == "1"
    failure = cases["[HIGH] api-bola-read GET /v1/vehicles/{vin}"].find("failure")
    assert failure is not None and CATALOGUE["api-bola-read"].remediation in (failure.text or "")
    assert "iotvet retest" in (failure.text or "")


def test_table_shows_findings_matrix_remediation_and_untested() -> None:
    text = render("table", build_report(sample.run_data(status=RunStatus.INCOMPLETE))).decode()
    assert "status incomplete" in text and "max_requests (5000) spent" in text
    assert "GET /v1/vehicles/{vin}" in text and "LEAK" in text and "??" in text
    assert CATALOGUE["api-bola-write"].remediation[:60] in text.replace("\n", " ")
    assert "other-tenant-admin" in text and "add: a tenant-admin identity" in text
    assert "\x1b" not in text


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_remediation_text_is_in_every_format(fmt: str) -> None:
    out = render(fmt, build_report(sample.run_data())).decode()
    flat = " ".join(out.split())
    for check in ("api-bola-read", "api-bola-write", "mq-xtenant-read"):
        assert CATALOGUE[check].remediation[:50] in flat.replace("'", "'").replace("&#39;", "'"), (fmt, check)


def test_outputs_are_deterministic() -> None:
    for fmt in FORMATS:
        one = render(fmt, build_report(sample.run_data(), generated=5.0))
        two = render(fmt, build_report(sample.run_data(), generated=5.0))
        assert one == two, fmt


def test_unknown_format_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown format 'csv'"):
        render("csv", build_report(sample.run_data()))


def test_baseline_states_in_the_view() -> None:
    old = sample.run_data(run_id="r-old").model_copy(update={"findings": sample.findings()[:2]})
    report = build_report(sample.run_data(drop=1), baseline=baseline_from_run(old))
    states = {i.finding.fingerprint: i.baseline for i in report.findings}
    fps = [f.fingerprint for f in sample.findings()]
    assert states == {fps[0]: BaselineState.ABSENT, fps[1]: BaselineState.UNCHANGED, fps[2]: BaselineState.NEW,
                      fps[3]: BaselineState.NEW}
    assert {i.fingerprint for i in report.active} == {fps[2], fps[3]}


def test_the_schema_tracks_the_finding_record() -> None:
    from tests.report.conftest import SCHEMAS

    schema = json.loads((SCHEMAS / "report.schema.json").read_text())
    finding = schema["$defs"]["finding"]
    assert set(finding["properties"]) == set(Finding.model_fields) | {"fingerprint", "suppression", "baseline_state"}
    assert set(finding["required"]) == set(finding["properties"])
