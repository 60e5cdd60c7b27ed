"""Attackers' no-op canaries onto the victim's topics: plain publishes and wills."""

from __future__ import annotations

from iotvet.checks.mqtt import Observation, Outcome, canary_payload
from iotvet.core.errors import TargetError
from iotvet.probes.mqtt.state import RunState
from iotvet.probes.mqtt.topology import Pair, Subject
from iotvet.transport.mqtt import WillMessage


class WriteChecks(RunState):
    """Attackers' no-op canaries onto the victim's topics: plain publishes and wills."""

    async def write_round(self, subject: Subject, pairs: list[Pair]) -> None:
        """Attackers publish no-op canaries to the victim's topic; the victim's reader sees which arrive."""
        pairs = self.usable(pairs, "write")
        channel = self.channels.get(subject.key)
        template = subject.template.text
        if channel is None:
            for pair in pairs:
                self.decide(self.read_check("write", pair.relation, subject), template, pair.relation,
                            pair.attacker, subject.owner,
                            Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")))
            return
        reader = channel.readers[0]
        attackers = [p.attacker for p in pairs]
        async with self.pool.use(shared=[channel.writer, reader, *attackers]):
            client = self.pool.client_of(reader)
            if client is None:
                for pair in pairs:
                    self.decide(self.read_check("write", pair.relation, subject), template, pair.relation,
                                pair.attacker, subject.owner, Observation(Outcome.LOST, f"{reader} disconnected"))
                return
            canaries = {p.attacker: self.ledger.issue("canary", p.attacker, subject.topic, subject) for p in pairs}
            sentinel = self.ledger.issue("sentinel", channel.writer, subject.topic, subject)
            watch = client.watch([*canaries.values(), sentinel],
                                 on=dict.fromkeys([*canaries.values(), sentinel], subject.topic))
            done = client.watch([sentinel], on={sentinel: subject.topic})
            codes: dict[str, int | None] = {}
            try:
                for pair in pairs:
                    codes[pair.attacker] = await self.publish(pair.attacker, subject.topic, canaries[pair.attacker])
                sent = await self.publish(channel.writer, subject.topic, sentinel) is not None
                await client.first(done, self.options.settle if sent else self.options.quiet)
            finally:
                client.unwatch(watch)
                client.unwatch(done)
            end = watch.seen.get(sentinel)
            for pair in pairs:
                check = self.read_check("write", pair.relation, subject)
                canary = canaries[pair.attacker]
                message = watch.seen.get(canary)
                code = codes[pair.attacker]
                puback = f"PUBACK 0x{code:02x}" if code is not None else "publish failed"
                if code is None and message is None:
                    observation = Observation(Outcome.ERROR, f"{pair.attacker} could not publish")
                elif message is not None and (end is None or message.at <= end.at):
                    observation = Observation(Outcome.CANARY, puback)
                elif end is not None:
                    observation = Observation(Outcome.SENTINEL, puback)
                elif not client.connected:
                    observation = Observation(Outcome.LOST, client.lost_reason)
                else:
                    observation = Observation(Outcome.TIMEOUT if sent else Outcome.ERROR, puback)
                evidence = [*channel.evidence,
                            self.ev(f"{pair.attacker} published canary {canary} on {subject.topic}; {puback}",
                                    "publish", pair.attacker, topic=subject.topic,
                                    payload=canary_payload(canary).decode(), reason=puback)]
                summary = reproduction = ""
                if observation.outcome is Outcome.CANARY and message is not None:
                    evidence.append(self.got(reader, message, f"{pair.attacker}'s canary {canary}"))
                    summary = (f"{pair.attacker} ({pair.relation.value}) published a no-op canary on "
                               f"{subject.topic} and {reader}, on {subject.owner}'s side, received it")
                    reproduction = (f"Connect to {self.mqtt.url} as {pair.attacker} and publish on "
                                    f"{subject.topic}: {subject.owner}'s subscribers receive the message.")
                self.decide(check, template, pair.relation, pair.attacker, subject.owner, observation,
                            summary=summary, evidence=evidence, reproduction=reproduction)

    async def will_test(self, pair: Pair) -> None:
        subject = pair.subject
        check = self.read_check("will", pair.relation, subject)
        template = subject.template.text
        channel = self.channels.get(subject.key)
        if channel is None:
            self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                        Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")))
            return
        reader = self.pool.client_of(channel.readers[0])
        if reader is None:
            self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                        Observation(Outcome.LOST, "the victim's reader disconnected"))
            return
        canary = self.ledger.issue("will", pair.attacker, subject.topic, subject)
        sentinel = self.ledger.issue("sentinel", channel.writer, subject.topic, subject)
        watch = reader.watch([canary, sentinel], on=dict.fromkeys([canary, sentinel], subject.topic))
        try:
            client, result = await self.spawn(pair.attacker, will=WillMessage(subject.topic, canary_payload(canary)))
            if isinstance(result, str) or not result.accepted:
                why = result if isinstance(result, str) else f"CONNACK {result.code}: {result.reason}"
                self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                            Observation(Outcome.ERROR, f"the attacker could not connect with a will: {why}"))
                return
            try:
                closed = await self.pool.drop(client)
            except TargetError as exc:
                closed = False
                self.notes.append(f"will drop for {pair.attacker}: {exc}")
            await self.pool.release(client)
            sent = await self.publish(channel.writer, subject.topic, sentinel) is not None
            hit = await reader.first(watch, self.options.settle if sent else self.options.quiet)
        finally:
            reader.unwatch(watch)
        if hit is not None and hit[0] == canary:
            observation = Observation(Outcome.CANARY)
        elif hit is not None:
            observation = Observation(Outcome.SENTINEL, "" if closed else "the broker had not closed the connection")
        else:
            observation = Observation(Outcome.LOST if not reader.connected else Outcome.TIMEOUT)
        evidence = [*channel.evidence,
                    self.ev(f"{pair.attacker} connected with a will on {subject.topic} (canary {canary}) and dropped "
                            f"the connection without DISCONNECT", "connect", pair.attacker, topic=subject.topic,
                            payload=canary_payload(canary).decode())]
        summary = reproduction = ""
        if hit is not None and hit[0] == canary:
            evidence.append(self.got(channel.readers[0], hit[1], f"the attacker's will {canary}"))
            summary = (f"{pair.attacker} ({pair.relation.value}) registered a will on {subject.topic}; when its "
                       f"connection dropped, {subject.owner}'s side received the will")
            reproduction = (f"Connect as {pair.attacker} with a will on {subject.topic}, then close the TCP "
                            f"connection without DISCONNECT.")
        self.decide(check, template, pair.relation, pair.attacker, subject.owner, observation, summary=summary,
                    evidence=evidence, reproduction=reproduction)
