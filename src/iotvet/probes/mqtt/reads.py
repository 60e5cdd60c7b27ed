"""Phase 3: attackers subscribe by name, with wildcards, or after a retained canary."""

from __future__ import annotations

import asyncio
import contextlib

from iotvet.checks.mqtt import Observation, Outcome, canary_payload
from iotvet.core.errors import TargetError
from iotvet.core.records import Evidence
from iotvet.probes.mqtt.state import Channel, Probe, RunState
from iotvet.probes.mqtt.topology import Pair, Subject
from iotvet.transport.mqtt import FAILURE


class ReadChecks(RunState):
    """Phase 3: attackers subscribe by name, with wildcards, or after a retained canary."""

    async def read_round(self, kind: str, subject: Subject, pairs: list[Pair]) -> None:
        """Attackers subscribe (by name or with wildcards); the victim publishes one canary; sentinels decide."""
        pairs = self.usable(pairs, kind)
        channel = self.channels.get(subject.key)
        template = subject.template.text
        if channel is None and self.mode == "read-only":
            await self.subscribe_only(kind, subject, pairs)
            return
        if channel is None:
            for pair in pairs:
                self.decide(self.read_check(kind, pair.relation, subject), template, pair.relation, pair.attacker,
                            subject.owner, Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")))
            return
        attackers = [p.attacker for p in pairs]
        shared = [channel.writer, *[self.sentinels[a].writer for a in attackers if a in self.sentinels]]
        async with self.pool.use(exclusive=attackers, shared=shared):
            canary = self.ledger.issue("canary", channel.writer, subject.topic, subject)
            probes: list[tuple[Pair, Probe, list[str]]] = []
            for pair in pairs:
                session = self.pool.sessions[pair.attacker]
                client = session.client
                check = self.read_check(kind, pair.relation, subject)
                if client is None or not client.connected:
                    self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                                Observation(Outcome.LOST, session.failure))
                    continue
                wildcards = self.topo.wildcard_filters(subject)
                filters = [subject.topic] if kind == "exact" else [f for f in wildcards if f not in session.codes]
                try:
                    codes = await client.subscribe(filters)
                except TargetError as exc:
                    self.pool.note(exc)
                    self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                                Observation(Outcome.ERROR, str(exc)))
                    continue
                granted = [f for f, c in zip(filters, codes, strict=False) if c < FAILURE]
                standing = [f for f in wildcards if kind == "wildcard" and session.granted(f)]
                shown = ", ".join(f"{f}: 0x{c:02x}" for f, c in zip(filters, codes, strict=False))
                sub_ev = self.ev(f"{pair.attacker} subscribed {len(filters)} filter(s); SUBACK {shown}"
                                 + (f"; standing: {', '.join(standing)}" if standing else ""),
                                 "subscribe", pair.attacker, topic=", ".join(filters), reason=shown)
                if not granted and not standing:
                    self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                                Observation(Outcome.REFUSED, f"SUBACK {shown}"))
                    continue
                sentinel = self.ledger.issue("sentinel", self.sentinels[pair.attacker].writer
                                             if pair.attacker in self.sentinels else pair.attacker)
                probe = Probe(pair.attacker, client, client.watch([canary, sentinel], on=self.places(
                    {canary: subject.topic}, pair.attacker, sentinel)), sentinel,
                               evidence=[sub_ev])
                probes.append((pair, probe, granted))
            if not probes:
                return
            try:
                code = await self.publish(channel.writer, subject.topic, canary)
                if code is None:
                    for _, probe, _ in probes:
                        probe.observation = Observation(Outcome.ERROR, f"{channel.writer} could not publish")
                else:
                    await asyncio.gather(*(self._finish_read(probe, canary) for _, probe, _ in probes))
            finally:
                for _, probe, granted in probes:
                    probe.client.unwatch(probe.watch)
                    with contextlib.suppress(TargetError):
                        await probe.client.unsubscribe(granted)
            for pair, probe, _ in probes:
                self._record_read(kind, pair, probe, channel, canary)

    async def subscribe_only(self, kind: str, subject: Subject, pairs: list[Pair]) -> None:
        """Read-only mode: a refused SUBACK still proves enforcement; a granted one proves nothing."""
        async with self.pool.use(exclusive=[p.attacker for p in pairs]):
            for pair in pairs:
                check = self.read_check(kind, pair.relation, subject)
                client = self.pool.client_of(pair.attacker)
                session = self.pool.sessions[pair.attacker]
                filters = [subject.topic] if kind == "exact" else [
                    f for f in self.topo.wildcard_filters(subject) if f not in session.codes]
                observation = Observation(Outcome.MODE, "read-only mode publishes no canary")
                if client is None:
                    observation = Observation(Outcome.LOST, session.failure)
                else:
                    try:
                        codes = await client.subscribe(filters)
                        with contextlib.suppress(TargetError):
                            await client.unsubscribe([f for f, c in zip(filters, codes, strict=False) if c < FAILURE])
                    except TargetError as exc:
                        codes = []
                        observation = Observation(Outcome.ERROR, str(exc))
                    shown = ", ".join(f"{f}: 0x{c:02x}" for f, c in zip(filters, codes, strict=False))
                    standing = kind == "wildcard" and any(session.granted(f) for f in self.topo.wildcard_filters(
                        subject))
                    if codes and all(c >= FAILURE for c in codes) and not standing:
                        observation = Observation(Outcome.REFUSED, f"SUBACK {shown}")
                    elif codes:
                        observation = Observation(Outcome.MODE, f"granted ({shown}); only a canary, which read-only "
                                                                f"mode does not publish, could show a leak")
                self.decide(check, subject.template.text, pair.relation, pair.attacker, subject.owner, observation)


    def _record_read(self, kind: str, pair: Pair, probe: Probe, channel: Channel, canary: str) -> None:
        subject = pair.subject
        check = self.read_check(kind, pair.relation, subject)
        observation = probe.observation or Observation(Outcome.ERROR)
        evidence = [*channel.evidence, *probe.evidence,
                    self.ev(f"{channel.writer} published canary {canary} on {subject.topic}", "publish",
                            channel.writer, topic=subject.topic, payload=canary_payload(canary).decode())]
        summary = reproduction = ""
        if probe.hit is not None:
            evidence.append(self.got(pair.attacker, probe.hit, f"the victim's canary {canary}"))
            how = "by name" if kind == "exact" else "with wildcard filters"
            summary = (f"{pair.attacker} ({pair.relation.value}) subscribed {how} and received the canary "
                       f"{subject.owner}'s side published on {subject.topic}")
            reproduction = (f"Connect to {self.mqtt.url} as {pair.attacker}; subscribe "
                            f"{subject.topic if kind == 'exact' else 'one of the filters in the evidence'}; "
                            f"every message published on {subject.topic} arrives.")
        self.decide(check, subject.template.text, pair.relation, pair.attacker, subject.owner, observation,
                    summary=summary, evidence=evidence, reproduction=reproduction)

    async def retained_round(self, subject: Subject, pairs: list[Pair]) -> None:
        """The victim retains a canary; its own reader proves the broker serves it back; attackers subscribe."""
        pairs = self.usable(pairs, "retained")
        channel = self.channels.get(subject.key)
        template = subject.template.text

        def all_pairs(observation: Observation) -> None:
            for pair in pairs:
                self.decide(self.read_check("retained", pair.relation, subject), template, pair.relation,
                            pair.attacker, subject.owner, observation)

        if channel is None:
            all_pairs(Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")))
            return
        reader = channel.readers[0]
        attackers = [p.attacker for p in pairs]
        shared = [channel.writer, *[self.sentinels[a].writer for a in attackers if a in self.sentinels]]
        async with self.pool.use(exclusive=[reader, *attackers], shared=shared):
            client = self.pool.client_of(reader)
            if client is None:
                all_pairs(Observation(Outcome.LOST, f"{reader} disconnected"))
                return
            canary = self.ledger.issue("retained", channel.writer, subject.topic, subject)
            if await self.publish(channel.writer, subject.topic, canary, retain=True) is None:
                all_pairs(Observation(Outcome.ERROR, f"{channel.writer} could not publish"))
                return
            try:
                proof = self.ledger.issue("sentinel", channel.writer, subject.topic, subject)
                kept = client.watch([canary], retained=True, on={canary: subject.topic})
                after = client.watch([proof], on={proof: subject.topic})
                try:
                    await client.unsubscribe([subject.topic])
                    await client.subscribe([subject.topic])
                    sent = await self.publish(channel.writer, subject.topic, proof) is not None
                    await client.first(after, self.options.settle if sent else self.options.quiet)
                finally:
                    client.unwatch(kept)
                    client.unwatch(after)
                if kept.hit is None:
                    all_pairs(Observation(Outcome.NO_CHANNEL, "the broker did not serve the victim's retained "
                                                              "canary back to the victim's own new subscription"))
                    return
                shown = [self.ev(f"{channel.writer} published canary {canary} on {subject.topic} with the retain flag",
                                 "publish", channel.writer, topic=subject.topic,
                                 payload=canary_payload(canary).decode(), retained=True),
                         self.got(reader, kept.hit[1], "the retained canary again after resubscribing")]
                for pair in pairs:
                    await self._retained_attack(pair, channel, canary, shown)
            finally:
                await self.publish(channel.writer, subject.topic, None, retain=True)  # clear the retained canary

    async def _retained_attack(self, pair: Pair, channel: Channel, canary: str, proof: list[Evidence]) -> None:
        subject = pair.subject
        check = self.read_check("retained", pair.relation, subject)
        client = self.pool.client_of(pair.attacker)
        if client is None:
            self.decide(check, subject.template.text, pair.relation, pair.attacker, subject.owner,
                        Observation(Outcome.LOST, "attacker disconnected"))
            return
        sentinel = self.ledger.issue("sentinel", pair.attacker)
        kept = client.watch([canary], retained=True, on={canary: subject.topic})
        after = client.watch([sentinel], on=self.places({}, pair.attacker, sentinel))
        try:
            codes = await client.subscribe([subject.topic])
            if codes and codes[0] >= FAILURE:
                observation = Observation(Outcome.REFUSED, f"SUBACK 0x{codes[0]:02x}")
            else:
                sent = await self.send_sentinel(pair.attacker, sentinel)
                await client.first(after, self.options.settle if sent else self.options.quiet)
                if kept.hit is not None:
                    observation = Observation(Outcome.CANARY)
                elif after.hit is not None:
                    observation = Observation(Outcome.SENTINEL)
                elif not client.connected:
                    observation = Observation(Outcome.LOST, client.lost_reason)
                else:
                    observation = Observation(Outcome.TIMEOUT if sent else Outcome.QUIET, "")
                with contextlib.suppress(TargetError):
                    await client.unsubscribe([subject.topic])
        except TargetError as exc:
            observation = Observation(Outcome.ERROR, str(exc))
        finally:
            client.unwatch(kept)
            client.unwatch(after)
        evidence = [*channel.evidence, *proof]
        summary = reproduction = ""
        if kept.hit is not None:
            evidence.append(self.got(pair.attacker, kept.hit[1], f"the victim's retained canary {canary}"))
            summary = (f"{pair.attacker} ({pair.relation.value}) subscribed to {subject.topic} and the broker "
                       f"served it {subject.owner}'s retained message")
            reproduction = f"Connect to {self.mqtt.url} as {pair.attacker} and subscribe {subject.topic}."
        self.decide(check, subject.template.text, pair.relation, pair.attacker, subject.owner, observation,
                    summary=summary, evidence=evidence, reproduction=reproduction)
