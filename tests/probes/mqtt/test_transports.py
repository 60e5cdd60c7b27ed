"""TLS with client certificates, MQTT over WebSockets and MQTT 5: the same ground truth on every transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotvet.core.records import Verdict
from iotvet.lab.mqtt import flaws as F
from iotvet.lab.mqtt.broker import Broker
from iotvet.lab.pki import LabPKI
from iotvet.probes.mqtt import ProbeOptions
from iotvet.transport.mqtt import MQTT_5
from tests.lab.mqtt_fixtures import lab_accounts, running_broker
from tests.probes.mqtt.harness import SHARED, Outcome, ground_truth, lab_plan, run_probe, side_by_side

pytestmark = pytest.mark.timeout(120)
V5 = ProbeOptions(**{**SHARED.__dict__, "protocol": MQTT_5})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    accounts = lab_accounts()
    tmp: Path = tmp_path_factory.mktemp("transports")

    def certificates() -> Outcome:
        pki = LabPKI(tmp / "cert" / "pki")
        with Broker(list(accounts.values()), {F.NO_ACL}, tmp / "cert" / "broker", pki) as broker:
            plan = lab_plan(broker, accounts, url=broker.cert_url)
            for ident in plan["identities"]:
                issued = pki.issue_client(ident["name"], ident["mqtt"]["username"])
                ident["mqtt"] = {"username": ident["mqtt"]["username"], "client_id": ident["mqtt"]["client_id"],
                                 "cert": str(issued.cert), "key": str(issued.key)}
            return run_probe(plan, tmp / "cert" / "run", SHARED)

    def websockets() -> Outcome:  # Mosquitto's WebSocket listener answers each step slowly: a smaller cast
        with running_broker({F.XTENANT_CMD, F.RETAINED_STATE}, tmp / "ws", accounts) as broker:
            plan = lab_plan(broker, accounts, url=broker.ws_url, mode="safe-writes",
                            names=("rh1", "cara", "ana", "dan", "backend"))
            return run_probe(plan, tmp / "ws" / "run", SHARED)

    def mqtt5() -> Outcome:
        with running_broker(set(F.MQTT_FLAWS), tmp / "v5", accounts) as broker:
            return run_probe(lab_plan(broker, accounts), tmp / "v5" / "run", V5)

    return side_by_side({"cert": certificates, "ws": websockets, "v5": mqtt5})


def test_tls_client_certificates(results: dict[str, Outcome]) -> None:
    outcome = results["cert"]
    assert outcome.leaks == ground_truth({F.NO_ACL}, outcome), outcome.table()
    anon = [c for c in outcome.cells if c.check == "mq-anon"]
    assert anon and all(c.verdict is Verdict.ENFORCED and "without credentials" in c.reason for c in anon)


def test_websockets(results: dict[str, Outcome]) -> None:
    outcome = results["ws"]
    assert outcome.leaks == ground_truth({F.XTENANT_CMD, F.RETAINED_STATE}, outcome), outcome.table()


def test_mqtt5_all_flaws(results: dict[str, Outcome]) -> None:
    outcome = results["v5"]
    assert outcome.leaks == ground_truth(set(F.MQTT_FLAWS), outcome), outcome.table()
    writes = [e.mqtt.reason for f in outcome.findings for e in f.evidence
              if e.mqtt and e.mqtt.action == "publish" and e.mqtt.reason]
    assert writes  # MQTT 5 PUBACK reason codes are recorded as evidence
