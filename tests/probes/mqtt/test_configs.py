"""Generated Mosquitto configs: a secure one decides every cell and finds nothing; each misconfiguration
the lab does not cover ($SYS exposure, a bridge copying across tenants, a shadow topic, a shared device
password) gives exactly its own cells.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iotvet.core.records import Verdict
from tests.probes.mqtt.brokers import TEMPLATES, Account, cast, mosquitto, plan_for, secure_acl
from tests.probes.mqtt.harness import SHARED, Outcome, run_probe, side_by_side

pytestmark = pytest.mark.timeout(120)

SHADOW = {**TEMPLATES, "shadow": "{tenant}/{device}/shadow"}
TELEMETRY, COMMAND, SHADOW_T = TEMPLATES["telemetry"], TEMPLATES["command"], SHADOW["shadow"]


def _job(tmp: Path, name: str, *, mode: str = "intrusive", shared: bool = False,
         acl: Callable[[dict[str, Account]], str] = secure_acl, templates: dict[str, str] | None = None,
         **broker: Any) -> Callable[[], Outcome]:
    def run() -> Outcome:
        accounts = cast(shared_device_password=shared)
        if "bridge" in broker:
            accounts["bridge"] = Account("bridge", "bridge", "bridge-secret-7", "platform", "operator")
        with mosquitto(tmp / name, accounts, acl(accounts), **broker) as running:
            names = tuple(n for n in accounts if n != "bridge")
            return run_probe(plan_for(running, accounts, mode=mode, templates=templates, names=names),
                             tmp / name / "run", SHARED)
    return run


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    tmp = tmp_path_factory.mktemp("configs")
    bridge = ("connection copy-roadhaus", "address 127.0.0.1:{plain_port}", "remote_username bridge",
              "remote_password bridge-secret-7", "remote_clientid bridge-copy",
              "topic +/telemetry in 1 mirror/vistacam/ roadhaus/")
    jobs = {
        "secure": _job(tmp, "secure"),
        "secure-again": _job(tmp, "secure-again"),
        "sys": _job(tmp, "sys", mode="safe-writes", bind_ids=False,
                    acl=lambda a: secure_acl(a, user_extra=("topic read $SYS/#",)),
                    extra=("log_dest topic", "connection_messages true")),
        "bridge": _job(tmp, "bridge", mode="safe-writes", bridge=bridge,
                       acl=lambda a: secure_acl(a, extra_for={"ana": ("topic read mirror/vistacam/#",),
                                                              "ben": ("topic read mirror/vistacam/#",)})),
        "shadow": _job(tmp, "shadow", mode="safe-writes", templates=SHADOW,
                       acl=lambda a: secure_acl(a, extra_templates={"shadow": SHADOW_T},
                                                app_extra=("topic read +/+/shadow",))),
        "shared": _job(tmp, "shared", mode="safe-writes", shared=True),
    }
    return side_by_side(jobs)


def _key(outcome: Outcome) -> list[tuple[str, str, str, str]]:
    return [(c.check, c.topic or "", c.relation.value, c.verdict.value) for c in outcome.cells]


def test_secure_config_finds_nothing_and_decides_every_cell(results: dict[str, Outcome]) -> None:
    outcome = results["secure"]
    assert outcome.findings == [], outcome.table()
    assert outcome.verdicts(Verdict.INCONCLUSIVE) == [], outcome.table()
    assert {c.check for c in outcome.verdicts(Verdict.NOT_TESTED)} == {"mq-plaintext"}  # no plaintext listener
    checks = {c.check for c in outcome.cells}
    assert checks >= {"mq-anon", "mq-wildcard-read", "mq-xtenant-read", "mq-xtenant-write", "mq-retained-leak",
                      "mq-will-inject", "mq-sys-leak", "mq-clientid-kick", "mq-session-steal", "mq-idvar-inject",
                      "mq-any-leak", "id-shared-cred"}
    assert outcome.summary.cells_decided == len(outcome.cells) - 1


def test_verdicts_are_deterministic_across_runs(results: dict[str, Outcome]) -> None:
    assert _key(results["secure"]) == _key(results["secure-again"])


def test_sys_topics_naming_other_clients(results: dict[str, Outcome]) -> None:
    outcome = results["sys"]
    assert outcome.leaks == {("$SYS/#", r) for r in ("other-tenant", "same-tenant", "device")}, outcome.table()
    assert {f.check for f in outcome.findings} == {"mq-sys-leak"}


def test_bridge_copying_across_tenants_is_caught_by_the_catch_all(results: dict[str, Outcome]) -> None:
    outcome = results["bridge"]
    assert outcome.leaks == {(TELEMETRY, "other-tenant")}, outcome.table()
    (finding,) = outcome.findings
    assert finding.check == "mq-any-leak"
    assert any(e.mqtt and e.mqtt.topic and e.mqtt.topic.startswith("mirror/vistacam/") for e in finding.evidence)


def test_shadow_topics_readable_across_tenants(results: dict[str, Outcome]) -> None:
    outcome = results["shadow"]
    assert outcome.leaks == {(SHADOW_T, "other-tenant"), (SHADOW_T, "same-tenant")}, outcome.table()
    assert {f.check for f in outcome.findings} == {"mq-shadow-xtenant"}


def test_one_password_for_two_devices(results: dict[str, Outcome]) -> None:
    outcome = results["shared"]
    assert outcome.leaks == {(TELEMETRY, "device"), (COMMAND, "device")}, outcome.table()
    assert {(f.check, f.attacker, f.victim) for f in outcome.findings} == {("id-shared-cred", "vc2", "vc1")}
