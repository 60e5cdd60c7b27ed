"""``id-shared-cred``: another device's secret under a device's username, proven by the forged session's canaries.

Three brokers side by side: two vehicles that share one password (a finding on telemetry and
commands, with no failed login), distinct passwords (the forged login is refused: enforced, one
failed login per sacrificial victim, visible in the broker's log), and distinct passwords on
devices that are not sacrificial (nothing tried: a wrong password is a failed login).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from iotvet.core.records import Verdict
from tests.probes.mqtt.brokers import TEMPLATES, VC1, VC2, cast, mosquitto, plan_for, secure_acl
from tests.probes.mqtt.harness import SHARED, Outcome, run_probe, side_by_side

pytestmark = pytest.mark.timeout(60)
NAMES = ("vc1", "vc2", "ana", "ben", "backend")
TELEMETRY, COMMAND = TEMPLATES["telemetry"], TEMPLATES["command"]
REFUSED_LOGIN = re.compile(r"Client (\S+) disconnected, not authori[sz]ed")


def failed_logins(log: str) -> list[str]:
    """Refused logins in Mosquitto's log, the anonymous client's refusal left out."""
    return [c for c in REFUSED_LOGIN.findall(log) if not c.startswith("iotvet-anon-")]


def _job(tmp: Path, name: str, *, shared: bool, sacrificial: bool = True) -> Callable[[], tuple[Outcome, str]]:
    def run() -> tuple[Outcome, str]:
        accounts = cast(shared_device_password=shared)
        with mosquitto(tmp / name, accounts, secure_acl(accounts)) as running:
            plan = plan_for(running, accounts, mode="safe-writes", names=NAMES)
            for ident in plan["identities"]:
                ident["sacrificial"] = sacrificial and ident["role"] == "device"
            return run_probe(plan, tmp / name / "run", SHARED), running.log()
    return run


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Outcome, str]]:
    tmp = tmp_path_factory.mktemp("shared")
    return side_by_side({"twins": _job(tmp, "twins", shared=True), "secure": _job(tmp, "secure", shared=False),
                         "careful": _job(tmp, "careful", shared=False, sacrificial=False)})


def _cells(outcome: Outcome) -> dict[str, tuple[str, str]]:
    return {c.topic or "": (c.relation.value, c.verdict.value) for c in outcome.cells if c.check == "id-shared-cred"}


def test_one_password_for_two_devices_is_found_by_the_forged_session(
        results: dict[str, tuple[Outcome, str]]) -> None:
    outcome, log = results["twins"]
    assert outcome.leaks == {(TELEMETRY, "device"), (COMMAND, "device")}, outcome.table()
    for finding in outcome.findings:
        assert finding.check == "id-shared-cred" and {finding.attacker, finding.victim} == {"vc1", "vc2"}
        texts = [e.summary for e in finding.evidence]
        assert any("the forged session logged in as" in t for t in texts), texts
        received = [e.mqtt for e in finding.evidence if e.mqtt and e.mqtt.action == "receive"]
        topics = {f"vistacam/{v}/{k}" for v in (VC1, VC2) for k in ("cmd", "telemetry")}
        assert received and received[-1].topic in topics
    assert failed_logins(log) == []  # twins log in with the victim's own secret: no failed login


def test_distinct_passwords_are_refused_once_per_sacrificial_victim(results: dict[str, tuple[Outcome, str]]) -> None:
    outcome, log = results["secure"]
    assert outcome.findings == [], outcome.table()
    assert _cells(outcome) == {TELEMETRY: ("device", "enforced"), COMMAND: ("device", "enforced")}, outcome.table()
    refused = [c for c in outcome.cells if c.check == "id-shared-cred"]
    assert all("CONNACK" in c.reason and "password" in c.reason for c in refused)
    assert len(failed_logins(log)) == 2  # one attempt per victim (vc1, vc2), never retried


def test_devices_that_are_not_sacrificial_get_no_wrong_password(results: dict[str, tuple[Outcome, str]]) -> None:
    outcome, log = results["careful"]
    assert outcome.findings == []
    cells = [c for c in outcome.cells if c.check == "id-shared-cred"]
    assert cells and all(c.verdict is Verdict.NOT_TESTED and "sacrificial" in c.reason for c in cells)
    assert failed_logins(log) == []
