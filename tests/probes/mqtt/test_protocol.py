"""``mqtt.protocol``: a plan that says ``5`` makes MQTT 5 connections, with the verdicts of MQTT 3.1.1.

The proof is the broker's own log: Mosquitto logs every CONNECT with its protocol (``p2`` is
MQTT 3.1.1, ``p5`` MQTT 5.0); with MQTT 5 every attacker publish also carries its PUBACK reason code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from iotvet.core.errors import UserError
from iotvet.plan import load_plan
from iotvet.probes.mqtt import ProbeOptions
from iotvet.transport.mqtt import MQTT_311
from tests.probes.mqtt.brokers import cast, mosquitto, plan_for, secure_acl
from tests.probes.mqtt.harness import SHARED, Outcome, run_probe, side_by_side

pytestmark = pytest.mark.timeout(60)
NAMES = ("vc1", "vc2", "rh1", "ana", "ben", "cara", "backend")
CONNECTED = re.compile(r"New client connected from \S+ as \S+ \(p(\d)")


def _job(tmp: Path, name: str, protocol: Any, options: ProbeOptions = SHARED) -> Any:
    def run() -> tuple[Outcome, str]:
        accounts = cast()
        with mosquitto(tmp / name, accounts, secure_acl(accounts)) as running:
            plan = plan_for(running, accounts, mode="safe-writes", names=NAMES)
            if protocol is not None:
                plan["mqtt"]["protocol"] = protocol
            outcome = run_probe(plan, tmp / name / "run", options)
            return outcome, running.log()
    return run


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Outcome, str]]:
    tmp = tmp_path_factory.mktemp("protocol")
    override = ProbeOptions(**{**SHARED.__dict__, "protocol": MQTT_311})
    return side_by_side({"v311": _job(tmp, "v311", None), "v5": _job(tmp, "v5", 5),
                         "v5-overridden": _job(tmp, "v5-overridden", "5.0", override)})


def _levels(log: str) -> set[str]:
    return set(CONNECTED.findall(log))


def test_protocol_5_connects_with_mqtt5(results: dict[str, tuple[Outcome, str]]) -> None:
    outcome, log = results["v5"]
    assert _levels(log) == {"5"}, log[-2000:]
    assert outcome.summary.connects >= len(NAMES)
    # a v5-only answer: the broker says "not authorized" (0x87) in the PUBACK of a refused publish
    writes = [c for c in outcome.cells if c.check == "mq-xtenant-write"]
    assert writes and all("PUBACK 0x87" in c.reason for c in writes)
    old = [c for c in results["v311"][0].cells if c.check == "mq-xtenant-write"]
    assert old and all("PUBACK 0x00" in c.reason for c in old)  # MQTT 3.1.1 has no way to say it


def test_the_default_is_mqtt_311_and_options_override_the_plan(results: dict[str, tuple[Outcome, str]]) -> None:
    assert _levels(results["v311"][1]) == {"2"}
    assert _levels(results["v5-overridden"][1]) == {"2"}


def test_mqtt5_gives_the_verdicts_of_mqtt_311_on_the_secure_config(
        results: dict[str, tuple[Outcome, str]]) -> None:
    def key(outcome: Outcome) -> list[tuple[str, str, str, str]]:
        return [(c.check, c.topic or "", c.relation.value, c.verdict.value) for c in outcome.cells]

    v311, v5 = results["v311"][0], results["v5"][0]
    assert v5.findings == [] and v311.findings == []
    assert key(v5) == key(v311)
    assert v5.summary.cells_decided == v311.summary.cells_decided > 0


@pytest.mark.parametrize(("value", "stored"), [(5, "5"), (5.0, "5"), ("5", "5"), ("5.0", "5"), ("3.1.1", "3.1.1")])
def test_the_plan_accepts_both_spellings(tmp_path: Path, value: Any, stored: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(f"mqtt: {{url: 'mqtts://127.0.0.1:8883', protocol: {value!r}}}\n"
                    "scope: {hosts: ['127.0.0.1:8883']}\nidentities: [{name: a, tenant: t, mqtt: {username: a}}]\n")
    mqtt = load_plan(str(path)).plan.mqtt
    assert mqtt is not None and mqtt.protocol == stored


def test_the_plan_refuses_other_versions(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("mqtt: {url: 'mqtts://127.0.0.1:8883', protocol: '3.1'}\nscope: {hosts: ['127.0.0.1:8883']}\n"
                    "identities: [{name: a, tenant: t, mqtt: {username: a}}]\n")
    with pytest.raises(UserError, match="protocol"):
        load_plan(str(path))
