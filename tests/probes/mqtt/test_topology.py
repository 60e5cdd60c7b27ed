"""Who owns which topic, who stands on the victim's side, which pairs are tested: pure logic, no broker."""

from __future__ import annotations

from typing import Any

import pytest

from iotvet.checks.mqtt import Observation, Outcome, canary_payload, clientid_kick, combine, judge
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Plan
from iotvet.probes.mqtt.topology import ANONYMOUS, Topology

pytestmark = pytest.mark.timeout(10)


def _plan(identities: list[dict[str, Any]], topics: dict[str, str] | None = None) -> Plan:
    return Plan.model_validate({
        "mqtt": {"url": "mqtts://127.0.0.1:8883", "topics": topics or {
            "telemetry": "{tenant}/{device}/telemetry", "command": "{tenant}/{device}/cmd"}},
        "scope": {"hosts": ["127.0.0.1:8883"]},
        "identities": identities,
    })


def _ident(name: str, tenant: str, role: str = "user", **extra: Any) -> dict[str, Any]:
    return {"name": name, "tenant": tenant, "role": role, "mqtt": {"username": name, "password": "pw-" + name},
            **extra}


CAST = [
    _ident("vc1", "vista", "device", device="V1", sacrificial=True),
    _ident("vc2", "vista", "device", device="V2"),
    _ident("rh1", "road", "device", device="R1", sacrificial=True),
    _ident("ana", "vista", devices=["V1"]),
    _ident("ben", "vista", devices=["V2"]),
    _ident("cara", "road", devices=["R1"]),
    _ident("vadmin", "vista", "admin"),
    _ident("radmin", "road", "admin"),
    _ident("ops", "platform", "operator"),
]


def test_subjects_parties_and_helpers() -> None:
    topo = Topology(_plan(CAST))
    telemetry = {s.topic: s for s in topo.subjects["telemetry"]}
    v1 = telemetry["vista/V1/telemetry"]
    assert v1.owner == "vc1"
    assert set(v1.party) == {"vc1", "ana", "vadmin", "ops"}  # device, its owner, its tenant's admin, the operator
    assert v1.writers == ("vc1", "ana", "ops", "vadmin")  # the owner first, helpers last
    assert [s.owner for s in topo.subjects["telemetry"]][:2] == ["rh1", "vc1"]  # sacrificial devices first


def test_relation_classes_and_representatives() -> None:
    topo = Topology(_plan(CAST))
    v1 = next(s for s in topo.subjects["command"] if s.owner == "vc1")
    attackers = topo.attackers(v1)
    assert attackers[Relation.OTHER_TENANT] == ["cara"]
    assert attackers[Relation.OTHER_TENANT_ADMIN] == ["radmin"]
    assert attackers[Relation.SAME_TENANT] == ["ben"]  # the tenant admin is a helper, not an attacker
    assert attackers[Relation.DEVICE] == ["vc2", "rh1"]  # same-brand devices first
    assert attackers[Relation.ANONYMOUS] == [ANONYMOUS]
    assert "ops" not in {a for names in attackers.values() for a in names}
    selection = topo.select()
    assert set(selection.reads["telemetry"]) == {Relation.OTHER_TENANT, Relation.OTHER_TENANT_ADMIN,
                                                 Relation.SAME_TENANT, Relation.DEVICE, Relation.ANONYMOUS}
    assert Relation.SAME_GROUP in selection.untested
    assert selection.intrusive[Relation.OTHER_TENANT].subject.template.name == "command"


def test_wildcard_filters_and_guard() -> None:
    topo = Topology(_plan(CAST))
    r1 = next(s for s in topo.subjects["telemetry"] if s.owner == "rh1")
    filters = topo.wildcard_filters(r1)
    for expected in ("#", "+/#", "+/+/telemetry", "road/+/telemetry", "road/#", "/road/R1/telemetry",
                     "$share/iotvet/road/R1/telemetry", "$share/iotvet/+/+/telemetry"):
        assert expected in filters
    assert r1.topic not in filters
    topics, allowed = topo.guard_sets()
    assert "road/R1/telemetry" in topics and "#" in allowed and "$SYS/#" in allowed
    assert not any("+" in t or "#" in t for t in topics)


def test_templates_without_placeholders_are_skipped() -> None:
    topo = Topology(_plan(CAST, {"broadcast": "all/news", "user": "{tenant}/users/{user}/inbox"}))
    assert "broadcast" in topo.skipped
    inbox = {s.topic: s for s in topo.subjects["user"]}
    assert inbox["vista/users/ana/inbox"].party[0] == "ana"


def test_verdicts() -> None:
    assert judge("mq-xtenant-read", Observation(Outcome.CANARY)).verdict is Verdict.LEAK
    assert judge("mq-xtenant-read", Observation(Outcome.SENTINEL)).verdict is Verdict.ENFORCED
    assert judge("mq-xtenant-read", Observation(Outcome.REFUSED, "SUBACK 0x80")).verdict is Verdict.ENFORCED
    for undecided in (Outcome.NO_CHANNEL, Outcome.LOST, Outcome.TIMEOUT, Outcome.ERROR, Outcome.MASKED):
        assert judge("mq-anon", Observation(undecided)).verdict is Verdict.INCONCLUSIVE
    assert judge("mq-anon", Observation(Outcome.MODE, "read-only")).verdict is Verdict.NOT_TESTED
    enforced, leak = (judge("mq-anon", Observation(o)) for o in (Outcome.SENTINEL, Outcome.CANARY))
    assert combine([enforced, leak]).verdict is Verdict.LEAK
    assert combine([enforced, judge("mq-anon", Observation(Outcome.LOST))]).verdict is Verdict.INCONCLUSIVE
    assert clientid_kick([True, True, True], 3).verdict is Verdict.LEAK
    assert clientid_kick([True, False], 3).verdict is Verdict.INCONCLUSIVE  # coincidence is not a kick
    assert clientid_kick([False], 3).verdict is Verdict.ENFORCED
    assert b'"cmd": "ping"' in canary_payload("iotvet0123456789abcdef0123")
