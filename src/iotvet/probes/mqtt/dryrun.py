"""``probe --dry-run`` for the broker: the cells the MQTT probe would test, without any network I/O.

The plan's topology is selected exactly as a run selects it (same pairs, same sessions, same channels to
prove); nothing is connected. Each cell carries an upper bound of the publishes and connects its tests
spend (every publish and every connect spends one permit of the governor, like an HTTP request).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iotvet.checks.relations import classify
from iotvet.core.records import Relation
from iotvet.core.redact import Redactor
from iotvet.plan.loader import LoadedPlan
from iotvet.probes.mqtt.engine import _Run
from iotvet.probes.mqtt.stale import revoked_subjects
from iotvet.probes.mqtt.state import NOT_DONE, ProbeOptions
from iotvet.probes.mqtt.topology import ANONYMOUS, CATCH_ALL, SYS_FILTER, client_id, username
from iotvet.transport.governor import Governor
from iotvet.transport.mqtt import Endpoint


@dataclass
class MqttPlanCell:
    """One cell the probe would test: check x topic template x relation, with what it may spend."""

    check: str
    topic: str
    relation: str
    publishes: int = 0
    connects: int = 0


@dataclass
class MqttDryRun:
    """What an MQTT probe of the plan would do."""

    cells: list[MqttPlanCell] = field(default_factory=list)
    setup: dict[str, int] = field(default_factory=dict)
    """Sessions and channel proofs: ``connects`` and ``publishes`` spent before any cell."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(what, why) the mode or the plan keeps from running."""

    @property
    def publishes(self) -> int:
        return self.setup.get("publishes", 0) + sum(c.publishes for c in self.cells)

    @property
    def connects(self) -> int:
        return self.setup.get("connects", 0) + sum(c.connects for c in self.cells)


def plan_mqtt(loaded: LoadedPlan, options: ProbeOptions | None = None) -> MqttDryRun:
    """The MQTT cells ``probe_mqtt`` would test for ``loaded``, and what its mode skips; opens no connection."""
    out = MqttDryRun()
    plan = loaded.plan
    if plan.mqtt is None:
        return out
    opts = options or ProbeOptions()
    run = _Run(loaded, Governor(rate=1, concurrency=1, max_requests=1, max_duration=1), Redactor(), opts)
    needed = run.plan_sessions()  # registers sessions; connects nothing
    mode = run.mode
    cells: dict[tuple[str, str, str], MqttPlanCell] = {}

    def add(check: str, topic: str, relation: Relation, publishes: int = 0, connects: int = 0) -> None:
        cell = cells.setdefault((check, topic, relation.value), MqttPlanCell(check, topic, relation.value))
        cell.publishes += publishes
        cell.connects += connects

    writes = mode != "read-only"
    out.setup = {"connects": len(run.pool.sessions) + 2,  # every session, and the anonymous try and session
                 "publishes": sum(len(s.writers) for s in needed) if writes else 0}
    if not any(run.topo.subjects.values()):
        add("mq-anon", CATCH_ALL, Relation.ANONYMOUS)
    for _, pairs in sorted(run.selection.reads.items(), key=lambda kv: kv[0]):
        for relation, pair in pairs.items():
            subject, template = pair.subject, pair.subject.template.text
            for kind in ("exact", "wildcard"):
                add(run.read_check(kind, relation, subject), template, relation, publishes=2 if writes else 0)
            add("mq-any-leak", template, relation)
            if not writes:
                continue
            add(run.read_check("write", relation, subject), template, relation, publishes=2)
            add(run.read_check("retained", relation, subject), template, relation, publishes=4)
            add(run.read_check("will", relation, subject), template, relation, publishes=2, connects=1)
            if pair.attacker != ANONYMOUS:
                owner = run.topo.by_name[subject.owner]
                ids = 1 + (len({client_id(owner), username(owner)}) if mode == "intrusive" and owner.sacrificial
                           else 0)
                add("mq-idvar-inject", template, relation, publishes=4 * ids, connects=ids)
    if writes:
        seen: set[Relation] = set()
        for pairs in run.selection.reads.values():
            for relation in pairs:
                if relation not in seen:
                    seen.add(relation)
                    add("mq-sys-leak", SYS_FILTER, relation, publishes=1, connects=2)
        devices = [i for i in run.topo.identities if i.role == "device" and i.name in run.pool.sessions]
        if len(devices) >= 2:
            for tpl in run.topo.templates:
                owned = [s for s in run.topo.subjects.get(tpl.name, []) if s.owner in {d.name for d in devices}]
                if owned:
                    add("id-shared-cred", tpl.text, Relation.DEVICE, publishes=len(devices),
                        connects=len(devices))
    if mode == "intrusive":
        for entry in plan.mqtt.revoke:
            identity = run.topo.by_name[entry.identity]
            for subject in revoked_subjects(run.topo, entry) if identity.sacrificial else []:
                # read and write, each proven before and tried after with the held and a new session, restored
                add("mq-stale-authz", subject.template.text, classify(identity, run.topo.by_name[subject.owner]),
                    publishes=14, connects=3)
        repeats = opts.kick_repeats
        for relation, pair in run.selection.intrusive.items():
            template = pair.subject.template.text
            add("mq-clientid-kick", template, relation, publishes=2 * repeats, connects=4 * repeats)
            add("mq-session-steal", template, relation, publishes=3, connects=6)
    plain = [u for u in [plan.mqtt.url, *plan.mqtt.also] if not Endpoint.parse(u).tls]
    add("mq-plaintext", CATCH_ALL, Relation.SELF, connects=len(plain))
    out.cells = sorted(cells.values(), key=lambda c: (c.check, c.topic, c.relation))
    out.skipped = _skipped(run, mode)
    return out


def _skipped(run: _Run, mode: str) -> list[tuple[str, str]]:
    skipped: list[tuple[str, str]] = []
    relations = sorted({r for pairs in run.selection.reads.values() for r in pairs}, key=lambda r: r.value)
    for relation in relations:
        if mode != "intrusive":
            skipped.append((f"mq-clientid-kick, mq-session-steal x {relation.value}",
                            "intrusive mode only (it disconnects or takes over the victim)"))
        elif relation not in run.selection.intrusive:
            skipped.append((f"mq-clientid-kick, mq-session-steal x {relation.value}",
                            f"no sacrificial victim with an attacker of relation {relation.value}"))
    if mode == "read-only":
        skipped.append(("mq-xtenant-write, mq-will-inject, mq-retained-leak, mq-idvar-inject, mq-sys-leak, "
                        "id-shared-cred", "read-only mode publishes nothing"))
        skipped.append(("mq-xtenant-read, mq-wildcard-read", "read-only mode subscribes only: a refused SUBACK "
                        "proves enforcement, a granted one stays not tested"))
    skipped += [(f"relation {relation.value}", why) for relation, why in sorted(
        run.selection.untested.items(), key=lambda kv: kv[0].value)]
    skipped += [(f"template {name!r}", why) for name, why in sorted(run.topo.skipped.items())]
    for entry in run.mqtt.revoke:
        if mode != "intrusive":
            skipped.append((f"mq-stale-authz x {entry.identity}", "intrusive mode only (it revokes the identity's "
                                                                  "access through the plan's flows)"))
        elif not run.topo.by_name[entry.identity].sacrificial:
            skipped.append((f"mq-stale-authz x {entry.identity}", "the identity is not sacrificial"))
    if mode != "read-only" and any(i.role == "device" and not i.sacrificial for i in run.topo.identities):
        skipped.append(("id-shared-cred x non-sacrificial devices", "another device's password is a failed login; "
                                                                    "tried on sacrificial devices only"))
    skipped += sorted(NOT_DONE.items())
    return skipped
