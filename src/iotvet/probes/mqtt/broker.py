"""Phase 5: ``$SYS`` against a canary client id, shared device credentials, plaintext listeners."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from iotvet.checks.mqtt import Observation, Outcome
from iotvet.core.records import Relation
from iotvet.probes.mqtt.sharedcred import SharedCredential
from iotvet.probes.mqtt.state import Probe
from iotvet.probes.mqtt.topology import ANONYMOUS, CATCH_ALL, SYS_FILTER, Pair
from iotvet.transport.mqtt import FAILURE, Endpoint


class BrokerWide(SharedCredential):
    """Phase 5: ``$SYS`` against a canary client id, shared device credentials, plaintext listeners."""

    async def broker_wide(self) -> None:
        by_victim: dict[str, list[Pair]] = {}
        seen: set[Relation] = set()
        for pairs in self.selection.reads.values():
            for relation, pair in pairs.items():
                if relation not in seen and not self.is_settled("mq-sys-leak", SYS_FILTER, relation):
                    seen.add(relation)
                    by_victim.setdefault(pair.subject.owner, []).append(pair)
        for victim, watchers in sorted(by_victim.items()):
            await self.guarded(self.sys_test(victim, watchers), self._sys_error(victim, watchers))
        await self.guarded(self.shared_cred(), lambda why: self.notes.append(f"id-shared-cred: {why}"))

    def _sys_error(self, victim: str, watchers: list[Pair]) -> Callable[[str], None]:
        def record(why: str) -> None:
            for pair in watchers:
                self.decide("mq-sys-leak", SYS_FILTER, pair.relation, pair.attacker, victim,
                            Observation(Outcome.ERROR, why))
        return record

    async def sys_test(self, victim: str, watchers: list[Pair]) -> None:
        topic = SYS_FILTER
        active: list[Pair] = []
        for pair in watchers:
            session = self.pool.get(pair.attacker)
            if pair.attacker == ANONYMOUS and self.anon_result is not None:
                self.decide("mq-sys-leak", topic, pair.relation, ANONYMOUS, victim, self.anon_result)
            elif session is None or not (session.live or await self.pool.ensure(pair.attacker)):
                self.decide("mq-sys-leak", topic, pair.relation, pair.attacker, victim,
                            Observation(Outcome.ERROR, f"{pair.attacker} is not connected"))
            elif not session.granted(SYS_FILTER):
                self.decide("mq-sys-leak", topic, pair.relation, pair.attacker, victim,
                            Observation(Outcome.REFUSED, f"SUBACK 0x{session.codes.get(SYS_FILTER, FAILURE):02x} "
                                                         f"for {SYS_FILTER}"))
            else:
                active.append(pair)
        if not active:
            return
        shared = [w for w in (self.sentinel_writer(p.attacker) for p in active) if w is not None]
        async with self.pool.use(exclusive=[victim], shared=[*(p.attacker for p in active), *shared]):
            marker = self.ledger.issue("clientid", victim)
            probes: list[tuple[Pair, Probe]] = []
            for pair in active:
                client = self.pool.client_of(pair.attacker)
                if client is None:
                    continue
                sentinel = self.ledger.issue("sentinel", self.sentinel_writer(pair.attacker) or pair.attacker)
                watch = client.watch([marker, sentinel], on=self.places({}, pair.attacker, sentinel))
                probes.append((pair, Probe(pair.attacker, client, watch, sentinel)))
            try:
                await self.pool.close(victim)
                client, result = await self.spawn(victim, client_id=marker)
                if not isinstance(result, str):
                    await self.pool.release(client)
                if isinstance(result, str) or not result.accepted:
                    why = result if isinstance(result, str) else f"CONNACK {result.code}"
                    for pair, _ in probes:
                        self.decide("mq-sys-leak", topic, pair.relation, pair.attacker, victim,
                                    Observation(Outcome.ERROR, f"{victim} could not connect with a canary client id: "
                                                               f"{why}"))
                    return
                await asyncio.gather(*(self._finish_read(probe, marker) for _, probe in probes))
            finally:
                for _, probe in probes:
                    probe.client.unwatch(probe.watch)
            for pair, probe in probes:
                evidence = [self.ev(f"{victim} connected with the canary client id {marker}", "connect", victim)]
                summary = ""
                if probe.hit is not None:
                    evidence.append(self.got(pair.attacker, probe.hit, f"{victim}'s canary client id"))
                    summary = (f"{pair.attacker} ({pair.relation.value}) read {victim}'s client id from "
                               f"{probe.hit.topic}")
                self.decide("mq-sys-leak", topic, pair.relation, pair.attacker, victim,
                            probe.observation or Observation(Outcome.ERROR), summary=summary, evidence=evidence,
                            reproduction=f"Subscribe {SYS_FILTER} as {pair.attacker}." if summary else "")

    async def plaintext(self) -> None:
        if self.is_settled("mq-plaintext", CATCH_ALL, Relation.SELF):
            return
        urls = [self.mqtt.url, *self.mqtt.also]
        endpoints = [Endpoint.parse(u) for u in urls]
        plain = [e for e in endpoints if not e.tls]
        topic, relation = CATCH_ALL, Relation.SELF
        people = sorted((i for i in self.topo.identities if i.mqtt and i.mqtt.password is not None),
                        key=lambda i: (not i.sacrificial, i.name))
        subject = people[0].name if people else ANONYMOUS
        if not plain:
            self.decide("mq-plaintext", topic, relation, subject, subject,
                        Observation(Outcome.ABSENT, "the plan declares no plaintext listener (mqtt:// or ws://)"))
            return
        if not (self.mqtt.require_tls or any(e.tls for e in endpoints)):
            self.decide("mq-plaintext", topic, relation, subject, subject,
                        Observation(Outcome.ABSENT, "plaintext is this provider's only listener and the plan does not "
                                                    "set require_tls"))
            return
        if not people:
            self.decide("mq-plaintext", topic, relation, subject, subject,
                        Observation(Outcome.ABSENT, "no identity has a password to try"))
            return
        identity = people[0]
        async with self.pool.use(exclusive=[identity.name]):
            await self.pool.close(identity.name)
            for endpoint in plain:
                client, result = await self.spawn(identity.name, endpoint=endpoint)
                if isinstance(result, str):
                    self.decide("mq-plaintext", topic, relation, identity.name, identity.name,
                                Observation(Outcome.ERROR, f"{endpoint.url}: {result}"))
                    continue
                await self.pool.release(client)
                if result.accepted:
                    self.decide("mq-plaintext", topic, relation, identity.name, identity.name,
                                Observation(Outcome.CANARY, endpoint.url),
                                summary=f"{endpoint.url} accepted {identity.name}'s real credentials without TLS",
                                evidence=[self.ev(f"CONNACK accepted on {endpoint.url}", "connect", identity.name,
                                                  reason="CONNACK 0")],
                                reproduction=f"Connect to {endpoint.url} with {identity.name}'s credentials.")
                else:
                    self.decide("mq-plaintext", topic, relation, identity.name, identity.name,
                                Observation(Outcome.REFUSED, f"{endpoint.url}: CONNACK {result.code}"))
