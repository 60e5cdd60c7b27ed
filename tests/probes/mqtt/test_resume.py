"""Resume: cells an interrupted run settled are neither tested nor reported again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from iotvet.core.records import Cell, Finding, Verdict
from iotvet.core.redact import Redactor
from iotvet.lab.mqtt import flaws as F
from iotvet.plan.loader import load_plan
from iotvet.probes.mqtt import probe_mqtt
from iotvet.transport.governor import Governor
from tests.lab.mqtt_fixtures import lab_accounts, running_broker
from tests.probes.mqtt.harness import FAST, Outcome, lab_plan, run_probe

pytestmark = pytest.mark.timeout(120)

Key = tuple[str, str, str, str]


def _key(cell: Cell) -> Key:
    return cell.check, "mqtt", cell.topic or "", cell.relation.value


def _resume(plan: dict[str, object], tmp: Path, settled: set[Key]) -> tuple[list[Cell], list[Finding], int]:
    path = tmp / "resume.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    loaded = load_plan(str(path))
    governor = Governor(rate=2000, concurrency=16, max_requests=100_000, max_duration=120)
    cells: list[Cell] = []
    findings: list[Finding] = []
    summary = asyncio.run(probe_mqtt(loaded, governor, Redactor(loaded.secrets), on_cell=cells.append,
                                     on_finding=findings.append, options=FAST, settled=settled))
    return cells, findings, summary.messages_sent


def test_settled_cells_are_not_tested_again(tmp_path: Path) -> None:
    accounts = lab_accounts()
    with running_broker(set(F.MQTT_FLAWS), tmp_path, accounts) as broker:
        plan = lab_plan(broker, accounts, mode="safe-writes")
        first: Outcome = run_probe(plan, tmp_path / "first", FAST)
        settled = {_key(c) for c in first.cells if c.verdict is not Verdict.INCONCLUSIVE}
        keep = next(c for c in first.cells if c.check == "mq-xtenant-read" and c.verdict is Verdict.LEAK)
        settled.discard(_key(keep))
        cells, findings, sent = _resume(plan, tmp_path, settled)
    assert not {_key(c) for c in cells} & settled
    assert _key(keep) in {_key(c) for c in cells}
    assert {(f.check, f.topic, f.relation) for f in findings} >= {(keep.check, keep.topic, keep.relation)}
    assert all(_key(c) not in settled for c in cells)
    assert sent < first.summary.messages_sent / 2  # the settled tests published nothing
