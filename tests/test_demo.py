"""The README's demo command, end to end: the lab starts, every identity logs in, nothing leaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iotvet.cli import main
from iotvet.plan import load_plan

pytestmark = pytest.mark.timeout(120)


def test_demo_runs_the_lab_and_logs_every_identity_in(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capfd.readouterr()
    text = printed.out + printed.err
    loaded = load_plan(str(out / "plan.yaml"))
    assert f"{len(loaded.plan.identities)} of {len(loaded.plan.identities)}" in text
    truth = json.loads((out / "ground-truth.json").read_text())
    assert truth["flaws"] and all(f["cells"] for f in truth["flaws"])
    secrets = [value for _, value in loaded.secrets]
    assert secrets
    assert [s for s in secrets if s in text] == []
    assert "Traceback" not in text
