"""The MQTT probe: victim-confirmed segregation tests against the plan's broker.

A run goes through fixed phases, each bounded:

1. **Sessions.** Every involved identity gets one main connection (one permit each) with standing
   subscriptions: its own topics, a catch-all ``#`` and ``$SYS/#`` (helpers get only their
   party's topics). The anonymous client tries to connect too.
2. **Channels.** For every subject the run needs, the victim's side proves it can deliver a canary
   to itself: its writers publish in order of preference (the next one only when the previous
   canary has not arrived after a short hop) until one of its readers receives one. Each
   attacker's *sentinel channel* is any proven channel whose canary it received.
3. **Reads and writes.** Per subject, the representative attackers of every relation class
   subscribe by name (xtenant-read), with wildcards (wildcard-read), or after a retained canary
   (retained-leak), or publish no-op canaries to it (xtenant-write). Every canary is followed by a
   sentinel on a channel that must deliver, so a negative is proven by order, not by waiting.
4. **Connection tricks.** Per attacker (its main session closed): wills dropped onto the victim's
   topics, client ids that widen ACL patterns (``+``; in intrusive mode also the sacrificial
   victim's own id), and in intrusive mode client-id kicks and persistent-session steals.
5. **Broker-wide checks.** ``$SYS`` against a canary client id, one device's credential as another
   device, real credentials on a plaintext listener; then, in intrusive mode, the plan's
   revocations (``mqtt.revoke``), each followed by its restore flow.
6. **Catch-all.** Any canary a catch-all subscription saw that no specific finding explains.

Cells and findings are emitted at the end, sorted, so a run's output is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from iotvet.checks.mqtt import Observation, Outcome
from iotvet.core.records import Cell, Finding, Relation, Verdict
from iotvet.core.redact import Redactor
from iotvet.plan.loader import LoadedPlan
from iotvet.probes.mqtt.broker import BrokerWide
from iotvet.probes.mqtt.catchall import CatchAll
from iotvet.probes.mqtt.channels import Channels
from iotvet.probes.mqtt.flows import FlowRunner
from iotvet.probes.mqtt.planning import Planning
from iotvet.probes.mqtt.reads import ReadChecks
from iotvet.probes.mqtt.results import Results
from iotvet.probes.mqtt.stale import StaleAuthz
from iotvet.probes.mqtt.state import NOT_DONE, MqttRunSummary, ProbeOptions
from iotvet.probes.mqtt.topology import ANONYMOUS, CATCH_ALL, Pair, Subject
from iotvet.probes.mqtt.tricks import ConnectionTricks
from iotvet.transport.governor import Governor


class _Run(Planning, Channels, ReadChecks, ConnectionTricks, BrokerWide, StaleAuthz, CatchAll, Results):
    """One run: the phases in order."""

    async def execute(self) -> None:
        needed = self.plan_sessions()
        await self.open_sessions()
        if not any(self.topo.subjects.values()):
            self.decide("mq-anon", CATCH_ALL, Relation.ANONYMOUS, ANONYMOUS, "", self.anon_result or Observation(
                Outcome.ABSENT, "the broker accepts anonymous clients, but mqtt.topics names no topic to test them on"))
        await asyncio.gather(*(self.guarded(self.prove(s), self._proof_error(s)) for s in needed))
        await asyncio.sleep(self.options.grace if self.channels else 0)
        self.choose_sentinels()
        rounds: list[Awaitable[None]] = []
        by_subject: dict[str, tuple[Subject, list[Pair]]] = {}
        for chosen in self.selection.reads.values():
            for pair in chosen.values():
                by_subject.setdefault(pair.subject.key, (pair.subject, []))[1].append(pair)
        writes = self.mode != "read-only"
        for subject, pairs in by_subject.values():
            for kind in ("exact", "wildcard"):
                rounds.append(self.guarded(self.read_round(kind, subject, pairs),
                                           self._round_error(kind, pairs)))
            if writes:
                rounds.append(self.guarded(self.write_round(subject, pairs), self._round_error("write", pairs)))
                rounds.append(self.guarded(self.retained_round(subject, pairs), self._round_error("retained", pairs)))
        if self.mode == "read-only":
            for _, pairs in by_subject.values():
                self.usable(pairs, "exact")  # decides anonymous cells from the CONNACK
        await asyncio.gather(*rounds)
        await self.connection_tricks(by_subject)
        if writes:
            await self.broker_wide()
        await self.guarded(self.plaintext(), lambda why: self.decide(
            "mq-plaintext", CATCH_ALL, Relation.SELF, ANONYMOUS, ANONYMOUS, Observation(Outcome.ERROR, why)))
        await self.stale_authz()
        self.any_leak()
        self.mode_cells()

    def _proof_error(self, subject: Subject) -> Callable[[str], None]:
        def record(why: str) -> None:
            self.no_channel.setdefault(subject.key, why)
        return record


    def _round_error(self, kind: str, pairs: list[Pair]) -> Callable[[str], None]:
        def record(why: str) -> None:
            for pair in pairs:
                self.decide(self.read_check(kind, pair.relation, pair.subject), pair.subject.template.text,
                            pair.relation, pair.attacker, pair.subject.owner, Observation(Outcome.ERROR, why))
        return record



async def probe_mqtt(loaded: LoadedPlan, governor: Governor, redactor: Redactor, *,
                     on_cell: Callable[[Cell], object], on_finding: Callable[[Finding], object],
                     options: ProbeOptions | None = None,
                     settled: set[tuple[str, str, str, str]] | None = None,
                     flows: FlowRunner | None = None) -> MqttRunSummary:
    """Probe the plan's broker; report every cell and every finding; return what was decided and spent.

    Never raises for target behaviour: unreachable brokers, refusals, drops, stalls, floods and spent
    budgets become inconclusive cells. Every connection, subscription and publish goes through
    :class:`iotvet.transport.mqtt.MqttClient` (scope, governor, topic guard). ``settled`` cells (check,
    ``"mqtt"``, topic template, relation), which the run being resumed decided, are neither tested nor
    reported again. ``flows`` runs the plan's flows over HTTP (``mq-stale-authz``; see
    :class:`iotvet.probes.mqtt.flows.RestFlows`); without it revocations are not tested.
    """
    summary = MqttRunSummary(not_done=dict(NOT_DONE))
    started = time.monotonic()
    if loaded.plan.mqtt is None:
        summary.notes.append("the plan has no mqtt section")
        return summary
    run = _Run(loaded, governor, redactor, options or ProbeOptions())
    run.settled = set(settled or ())
    run.flows = flows
    try:
        await run.execute()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(run.pool.close_all(), 10)
    cells, findings = run.results()
    for cell in cells:
        on_cell(cell)
    for item in findings:
        on_finding(item)
    summary.cells_decided = sum(c.verdict in (Verdict.ENFORCED, Verdict.LEAK) for c in cells)
    summary.cells_inconclusive = sum(c.verdict is Verdict.INCONCLUSIVE for c in cells)
    summary.cells_not_tested = sum(c.verdict is Verdict.NOT_TESTED for c in cells)
    summary.findings = len(findings)
    summary.messages_sent = run.pool.counters.publishes
    summary.connects = run.pool.counters.connects
    summary.untested = dict(run.selection.untested)
    shadows = [t for t in run.topo.templates if t.shadow]
    if not shadows:
        summary.notes.append("mq-shadow-xtenant: no mqtt.topics template names a shadow or twin; nothing to test")
    summary.notes += [f"template {name!r} skipped: {why}" for name, why in run.topo.skipped.items()]
    summary.notes += run.notes
    if run.ledger.dropped:
        summary.notes.append(f"{run.ledger.dropped} canary sightings beyond the cap were not kept")
    summary.duration = time.monotonic() - started
    return summary


__all__ = ["MqttRunSummary", "ProbeOptions", "probe_mqtt"]
