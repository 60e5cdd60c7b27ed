"""One canary across a topic to or from a given connection, with the victim's side as the control.

What ``mq-stale-authz`` measures before and after a revocation: *read*, a writer on the victim's
side publishes a canary and the connection under test must receive it (a reader on the victim's
side that receives it while the connection does not, within the quiet window, is the negative);
*write*, the connection publishes a no-op canary and a reader on the victim's side must receive
it (the victim's sentinel arriving first, or a refusing PUBACK, is the negative).
"""

from __future__ import annotations

from iotvet.checks.mqtt import Observation, Outcome, canary_payload
from iotvet.core.records import Evidence
from iotvet.probes.mqtt.state import RunState, wait_any
from iotvet.probes.mqtt.topology import Subject
from iotvet.transport.mqtt import FAILURE, MqttClient, Watch


class Crossing(RunState):
    """One canary across a topic to or from a given connection, with the victim's side as the control."""

    def _writers(self, subject: Subject) -> list[str]:
        """The victim's side's writers, best first: the channel's, any whose canary on the topic reached
        someone else on that side, the owner's helpers (often the only ones allowed to send commands), the rest."""
        proven = self.channels.get(subject.key)
        delivered = [self.ledger.records[s.canary].publisher for s in self.ledger.sightings
                     if s.topic == subject.topic and s.observer in subject.party
                     and self.ledger.records[s.canary].topic == subject.topic
                     and self.ledger.records[s.canary].publisher not in (s.observer, "")]
        helpers = self.topo.helpers(self.topo.by_name[subject.owner])
        ordered = [*([proven.writer] if proven else []), *delivered, *(w for w in subject.writers if w in helpers),
                   *subject.writers]
        return [w for w in dict.fromkeys(ordered) if w in subject.writers]

    async def cross(self, subject: Subject, name: str, client: MqttClient, part: str,
                     quiet: float) -> tuple[Observation, list[Evidence]]:
        """One canary across the topic: to ``name``'s client (read) or from it (write); the victim's side controls."""
        topic = subject.topic
        proven = self.channels.get(subject.key)  # its writer and readers first: they are known to work
        writer = next((w for w in self._writers(subject) if w != name and self.pool.live(w)), None)
        party = list(dict.fromkeys([*(proven.readers if proven else []), *subject.party]))
        readers = [(k, c) for k in party if k != name and self.pool.sessions[k].granted(topic)
                   and (c := self.pool.client_of(k)) is not None]
        if part == "read" and writer is None:
            return Observation(Outcome.NO_CHANNEL, "no one on the victim's side is connected to publish"), []
        if part == "write" and not readers:
            return Observation(Outcome.NO_CHANNEL, "no one on the victim's side reads the topic"), []
        canary = self.ledger.issue("canary", writer if part == "read" and writer else name, topic, subject)
        sentinel = self.ledger.issue("sentinel", writer, topic, subject) if part == "write" and writer else ""
        needles = [n for n in (canary, sentinel) if n]
        on = dict.fromkeys(needles, topic)
        mine = client.watch([canary], on=on)
        theirs = [(k, c, c.watch(needles, on=on)) for k, c in readers]
        try:
            if part == "read":
                assert writer is not None
                code = await self.publish(writer, topic, canary)
                await wait_any([mine, *(w for _, _, w in theirs)], self.options.settle)
                if mine.hit is None and any(w.hit for _, _, w in theirs):
                    await client.first(mine, quiet)
            else:
                code = await self.publish(name, topic, canary, client=client)
                sent = writer is not None and code is not None and code < FAILURE and \
                    await self.publish(writer, topic, sentinel) is not None
                await wait_any([w for _, _, w in theirs], self.options.settle if sent else quiet)
            return self._observe(subject, name, client, part, canary, code, mine, theirs, quiet)
        finally:
            client.unwatch(mine)
            for _, c, w in theirs:
                c.unwatch(w)

    def _observe(self, subject: Subject, name: str, client: MqttClient, part: str, canary: str, code: int | None,
                 mine: Watch, theirs: list[tuple[str, MqttClient, Watch]],
                 quiet: float) -> tuple[Observation, list[Evidence]]:
        topic = subject.topic
        puback = f"PUBACK 0x{code:02x}" if code is not None else "publish failed"
        publisher = name if part == "write" else self.ledger.records[canary].publisher
        evidence = [self.ev(f"{publisher} published canary {canary} on {topic}; {puback}", "publish", publisher,
                            topic=topic, payload=canary_payload(canary).decode(), reason=puback)]
        got = [(k, w.seen[canary]) for k, _, w in theirs if canary in w.seen]
        if part == "read":
            if mine.hit is not None:
                evidence.append(self.got(name, mine.hit[1], f"canary {canary}"))
                return Observation(Outcome.CANARY, f"{name} received it"), evidence
            if not client.connected:
                return Observation(Outcome.LOST, f"the broker closed {name}'s session ({client.lost_reason})"), evidence
            if got:
                return Observation(Outcome.QUIET, f"{got[0][0]} received it, {name} not within {quiet:g}s"), evidence
            return Observation(Outcome.TIMEOUT, "no reader on the victim's side received it either"), evidence
        if got:
            evidence.append(self.got(got[0][0], got[0][1], f"{name}'s canary {canary}"))
            return Observation(Outcome.CANARY, f"{got[0][0]} received it; {puback}"), evidence
        if code is not None and code >= FAILURE:
            return Observation(Outcome.REFUSED, puback), evidence
        if not client.connected:
            return Observation(Outcome.LOST, f"the broker closed {name}'s session ({client.lost_reason})"), evidence
        if any(w.hit for _, _, w in theirs):
            return Observation(Outcome.SENTINEL, puback), evidence
        if code is None:
            return Observation(Outcome.ERROR, puback), evidence
        return Observation(Outcome.QUIET, f"{puback}; not received on the victim's side within {quiet:g}s"), evidence
