"""Baselines hide only unchanged findings; the gate counts only what is new, live and unsuppressed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from iotvet.core.errors import UserError
from iotvet.core.records import Severity
from iotvet.report import (
    BaselineState,
    baseline_from_json,
    baseline_from_run,
    build_report,
    exit_code,
    parse_fail_on,
    render,
)
from iotvet.report.gate import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from iotvet.store import RunStatus
from tests.report import sample

FPS = [f.fingerprint for f in sample.findings()]
OLD = sample.run_data(run_id="r-old").model_copy(update={"findings": sample.findings()[:2]})  # fps 0, 1
NEW = sample.run_data(drop=1)  # fps 1, 2, 3: 0 was fixed, 1 unchanged, 2 and 3 are new


def test_baseline_hides_only_unchanged_findings_in_human_formats() -> None:
    report = build_report(NEW, baseline=baseline_from_run(OLD))
    assert {i.fingerprint for i in report.shown} == {FPS[0], FPS[2], FPS[3]}
    table = render("table", report).decode()
    assert "1 new" not in table and "2 new, 1 unchanged (hidden), 1 absent (fixed)" in table
    html = render("html", report).decode()
    assert f'id="f-{FPS[1]}"' not in html and f'id="f-{FPS[2]}"' in html and f'id="f-{FPS[0]}"' in html
    junit = ET.fromstring(render("junit", report))
    skipped = [c.get("name") for c in junit.iter("testcase") if c.find("skipped") is not None]
    assert "[CRITICAL] api-bola-write POST /v1/vehicles/{vin}/commands" in skipped  # the unchanged one


def test_machine_formats_keep_every_finding_with_its_state() -> None:
    report = build_report(NEW, baseline=baseline_from_run(OLD))
    doc = json.loads(render("json", report))
    assert {f["fingerprint"]: f["baseline_state"] for f in doc["findings"]} == {
        FPS[0]: "absent", FPS[1]: "unchanged", FPS[2]: "new", FPS[3]: "new"}
    assert doc["summary"]["baseline"] == {"ref": "r-old", "new": 2, "unchanged": 1, "absent": 1}
    sarif = json.loads(render("sarif", report))
    states = {r["partialFingerprints"]["iotvetFingerprint/v1"]: (r["baselineState"], r["kind"])
              for r in sarif["runs"][0]["results"]}
    assert states[FPS[0]] == ("absent", "pass") and states[FPS[1]] == ("unchanged", "fail")


def test_a_json_report_serves_as_baseline_even_one_made_with_a_baseline() -> None:
    first = render("json", build_report(OLD))
    assert set(baseline_from_json(first, "old.json").findings) == {FPS[0], FPS[1]}
    chained = render("json", build_report(NEW, baseline=baseline_from_json(first, "old.json")))
    assert set(baseline_from_json(chained, "b.json").findings) == {FPS[1], FPS[2], FPS[3]}  # absent left out
    with pytest.raises(UserError, match="not an iotvet JSON report"):
        baseline_from_json(b'{"runs": []}', "x.sarif")
    with pytest.raises(UserError, match="not an iotvet JSON report"):
        baseline_from_json(b"\xff", "x")


@pytest.mark.parametrize(("status", "fail_on", "baseline", "code"), [
    (RunStatus.COMPLETE, "high", False, EXIT_FINDINGS),
    (RunStatus.COMPLETE, "critical", False, EXIT_FINDINGS),
    (RunStatus.COMPLETE, "none", False, EXIT_OK),
    (RunStatus.INCOMPLETE, "none", False, EXIT_INCOMPLETE),
    (RunStatus.INTERRUPTED, "high", False, EXIT_FINDINGS),  # proven findings outrank incompleteness
    (RunStatus.RUNNING, "none", False, EXIT_INCOMPLETE),  # a writer that died mid-run
    (RunStatus.COMPLETE, "critical", True, EXIT_FINDINGS),  # mq-xtenant-read (critical) is new
])
def test_exit_codes(status: RunStatus, fail_on: str, baseline: bool, code: int) -> None:
    report = build_report(sample.run_data(status=status, drop=1),
                          baseline=baseline_from_run(OLD) if baseline else None)
    assert exit_code(report, parse_fail_on(fail_on)) == code


def test_only_new_findings_count_against_a_baseline() -> None:
    same = build_report(sample.run_data(), baseline=baseline_from_run(sample.run_data(run_id="r-old")))
    assert all(i.baseline is BaselineState.UNCHANGED for i in same.findings)
    assert exit_code(same, Severity.INFO) == EXIT_OK
    with pytest.raises(UserError, match="unknown severity 'severe'"):
        parse_fail_on("severe")
