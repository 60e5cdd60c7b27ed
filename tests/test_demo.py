"""The README's demo command, end to end: lab up, probe, reports written, no planted cell missed,
no secret anywhere in the output, the reports or the evidence store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iotvet.cli import main
from iotvet.plan import load_plan

pytestmark = pytest.mark.timeout(180)


def test_demo_probes_the_lab_and_writes_clean_reports(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capfd.readouterr()
    text = printed.out + printed.err
    assert "Traceback" not in text
    rows = [line for line in text.splitlines() if line.startswith(("│ api-", "│ mqtt"))]
    assert len(rows) >= 8 and any(r.startswith("│ mqtt") for r in rows)
    for row in rows:
        _check, planted, found, missed, waiting, invented = (c.strip() for c in row.strip("│").split("│"))
        assert missed == "0" and invented == "0", row  # nothing missed, nothing invented
        assert int(found) + int(waiting) == int(planted), row  # the rest needs intrusive mode
    report = json.loads((out / "report.json").read_text())
    assert report["findings"]
    secrets = [value for _, value in load_plan(str(out / "plan.yaml")).secrets]
    assert secrets
    blobs = [text] + [(out / name).read_text() for name in ("report.html", "report.json", "report.sarif",
                                                          "report.junit.xml", "assessment.json", "assessment.html",
                                                          "assessment.oscal.json")]
    assert text.find("iotvet assessment") > text.find("iotvet demo: lab vs findings") > 0  # the scorecard comes last
    assert "Claims the evidence contradicts" in text[text.find("iotvet assessment"):]
    assessment = json.loads((out / "assessment.json").read_text())
    assert len(assessment["results"]) == 68 and assessment["contradictions"]
    blobs.append((out / "iotvet.db").read_bytes().decode("latin-1"))
    for wal in out.glob("iotvet.db-*"):
        blobs.append(wal.read_bytes().decode("latin-1"))
    assert [s for s in secrets for blob in blobs if s in blob] == []
    assert not [blob[:0] for blob in blobs if "eyJhbGci" in blob]  # no login-issued JWT either


def test_demo_with_a_relative_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's command runs with the default, relative, out/demo."""
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--flaws", "none"]) == 0
    assert (tmp_path / "out" / "demo" / "report.sarif").is_file()
