"""The lab's MQTT flaws, each switched on alone, all together and none: the probe's cells are the ground truth.

Each configuration is a real lab Mosquitto (``iotvet.lab.mqtt.broker``) with the two-brand cast of
``tests.lab.mqtt_fixtures`` and the backend as a platform identity, probed in intrusive mode with
sacrificial vehicles so client-id takeovers are tested too. The configurations run side by side.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iotvet.core.records import Verdict
from iotvet.lab.mqtt import flaws as F
from tests.lab.mqtt_fixtures import lab_accounts, running_broker
from tests.probes.mqtt.harness import SHARED, Outcome, ground_truth, lab_plan, run_probe, side_by_side

pytestmark = pytest.mark.timeout(120)

CONFIGS = ["none", *sorted(F.MQTT_FLAWS), "all"]


def _flaws(name: str) -> set[str]:
    return set() if name == "none" else set(F.MQTT_FLAWS) if name == "all" else {name}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    accounts = lab_accounts()

    def job(name: str) -> Outcome:
        tmp: Path = tmp_path_factory.mktemp(name)
        with running_broker(_flaws(name), tmp, accounts) as broker:
            return run_probe(lab_plan(broker, accounts), tmp / "run", SHARED)

    return side_by_side({name: (lambda n=name: job(n)) for name in CONFIGS})


@pytest.mark.parametrize("name", CONFIGS)
def test_cells_are_the_ground_truth(results: dict[str, Outcome], name: str) -> None:
    outcome = results[name]
    assert outcome.leaks == ground_truth(_flaws(name), outcome), outcome.table()


@pytest.mark.parametrize("name", sorted(F.MQTT_FLAWS))
def test_the_flaws_own_check_fires(results: dict[str, Outcome], name: str) -> None:
    assert F.MQTT_FLAWS[name].check in {f.check for f in results[name].findings}


@pytest.mark.parametrize("name", CONFIGS)
def test_every_finding_names_its_cell_and_proof(results: dict[str, Outcome], name: str) -> None:
    cells = {(c.check, c.topic, c.relation): c for c in results[name].cells}
    for finding in results[name].findings:
        assert finding.relation is not None and finding.attacker and finding.victim and finding.topic
        cell = cells[(finding.check, finding.topic, finding.relation)]
        assert cell.verdict is Verdict.LEAK and (cell.attacker, cell.victim) == (finding.attacker, finding.victim)
        assert finding.evidence and finding.evidence[0].summary
        for item in finding.evidence:
            if item.mqtt is not None and item.mqtt.action == "publish" and item.mqtt.payload:
                assert '"cmd": "ping"' in item.mqtt.payload  # canaries are no-op commands


def test_no_flaw_decides_every_cell(results: dict[str, Outcome]) -> None:
    outcome = results["none"]
    assert not outcome.findings
    undecided = [c for c in outcome.cells if c.verdict is Verdict.INCONCLUSIVE]
    assert undecided == [], outcome.table()
    assert {c.check for c in outcome.verdicts(Verdict.NOT_TESTED)} <= {"mq-plaintext"}
    assert outcome.summary.untested  # same-group and other-tenant-admin, with advice
