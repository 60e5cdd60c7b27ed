"""Phase 4: client ids that widen ACL patterns (``+``, the victim's own id)."""

from __future__ import annotations

from collections.abc import Callable

from iotvet.checks.mqtt import Observation, Outcome, canary_payload
from iotvet.core.errors import TargetError
from iotvet.core.records import Evidence, Relation
from iotvet.probes.mqtt.state import RunState, wait_any
from iotvet.probes.mqtt.topology import Subject
from iotvet.transport.mqtt import MqttClient, Watch


class IdvarChecks(RunState):
    """Phase 4: client ids that widen ACL patterns (``+``, the victim's own id)."""

    async def idvar_test(self, attacker: str, relation: Relation, subjects: list[Subject], chosen_id: str,
                         why: str) -> None:
        """Connect as the attacker with ``chosen_id``; read and write the victim's topics; compare with normal."""
        def all_subjects(observation: Observation) -> None:
            for subject in subjects:
                self.decide("mq-idvar-inject", subject.template.text, relation, attacker, subject.owner, observation)

        async with self.id_lock(chosen_id):  # two attackers with one client id would take over each other
            await self._idvar_connected(attacker, relation, subjects, chosen_id, why, all_subjects)

    async def _idvar_connected(self, attacker: str, relation: Relation, subjects: list[Subject], chosen_id: str,
                               why: str, all_subjects: Callable[[Observation], None]) -> None:
        client, result = await self.spawn(attacker, client_id=chosen_id)
        if isinstance(result, str):
            all_subjects(Observation(Outcome.ERROR, result))
            return
        if not result.accepted:
            all_subjects(Observation(Outcome.REFUSED, f"CONNACK {result.code} for client id {chosen_id!r}"))
            return
        try:
            own = self.sentinels.get(attacker)
            own_topic = [own.subject.topic] if own is not None and own.writer != attacker else []
            filters = list(dict.fromkeys([*(s.topic for s in subjects), *(self.topo.all_plus(s) for s in subjects),
                                          *own_topic]))
            try:
                await client.subscribe(filters)
            except TargetError as exc:
                all_subjects(Observation(Outcome.ERROR, str(exc)))
                return
            reads = await self._idvar_reads(client, attacker, subjects, own_topic)
            writes = await self._idvar_writes(client, attacker, subjects) if self.mode != "read-only" else {}
        finally:
            await self.pool.release(client)
        for subject in subjects:
            template = subject.template.text
            for part, observed, kinds in (("read", reads.get(subject.key), ("mq-xtenant-read", "mq-wildcard-read",
                                                                           "mq-retained-leak", "mq-anon",
                                                                           "mq-shadow-xtenant")),
                                          ("write", writes.get(subject.key), ("mq-xtenant-write", "mq-will-inject",
                                                                            "mq-anon", "mq-shadow-xtenant"))):
                if observed is None:
                    continue
                observation, evidence = observed
                if observation.outcome is Outcome.CANARY and self.normal_leak(kinds, template, relation, attacker):
                    observation = Observation(Outcome.MASKED, f"{part} with client id {chosen_id!r}")
                summary = reproduction = ""
                if observation.outcome is Outcome.CANARY:
                    summary = (f"{attacker} ({relation.value}) connected with client id {chosen_id!r} ({why}) and "
                               f"could {part} {subject.topic}, which it cannot with its own client id")
                    reproduction = (f"Connect to {self.mqtt.url} as {attacker} with client id {chosen_id!r}; "
                                    f"{'subscribe to' if part == 'read' else 'publish on'} {subject.topic}.")
                self.decide("mq-idvar-inject", template, relation, attacker, subject.owner, observation,
                            summary=summary, evidence=evidence, reproduction=reproduction)

    async def _idvar_reads(self, client: MqttClient, attacker: str, subjects: list[Subject],
                           own_topic: list[str]) -> dict[str, tuple[Observation, list[Evidence]]]:
        out: dict[str, tuple[Observation, list[Evidence]]] = {}
        targets = [s for s in subjects if s.key in self.channels]
        for subject in subjects:
            if subject.key not in self.channels:
                out[subject.key] = (Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")), [])
        if not targets:
            return out
        writers = {s.key: self.live_writer(self.channels[s.key]) for s in targets}
        canaries = {s.key: self.ledger.issue("canary", writers[s.key], s.topic, s) for s in targets}
        sentinel = self.ledger.issue("sentinel", self.sentinel_writer(attacker) or attacker)
        places = self.places({canaries[t.key]: t.topic for t in targets}, attacker, sentinel)
        watch = client.watch([*canaries.values(), sentinel], on=places)
        end = client.watch([sentinel], on=places)
        controls: dict[str, Watch] = {}
        for subject in targets:
            reader = self.pool.client_of(self.channels[subject.key].readers[0])
            if reader is not None:
                controls[subject.key] = reader.watch([canaries[subject.key]], on={canaries[subject.key]: subject.topic})
        published: dict[str, bool] = {}
        try:
            for subject in targets:
                published[subject.key] = await self.publish(writers[subject.key], subject.topic,
                                                             canaries[subject.key]) is not None
            sent = bool(own_topic) and await self.send_sentinel(attacker, sentinel)
            await client.first(end, self.options.settle if sent else self.options.quiet)
            await wait_any([w for w in controls.values() if w.hit is None], self.options.grace)
        finally:
            client.unwatch(watch)
            client.unwatch(end)
            for key, registered in controls.items():
                reader = self.pool.client_of(self.channels[key].readers[0])
                if reader is not None:
                    reader.unwatch(registered)
        stop = watch.seen.get(sentinel)
        for subject in targets:
            message = watch.seen.get(canaries[subject.key])
            evidence = list(self.channels[subject.key].evidence)
            control = controls.get(subject.key)
            if message is not None and (stop is None or message.at <= stop.at):
                evidence.append(self.got(attacker, message, f"the victim's canary {canaries[subject.key]}"))
                out[subject.key] = (Observation(Outcome.CANARY), evidence)
            elif not published[subject.key] or (control is not None and control.hit is None):
                out[subject.key] = (Observation(Outcome.NO_CHANNEL, "while the chosen client id was in use"),
                                    evidence)
            elif stop is not None:
                out[subject.key] = (Observation(Outcome.SENTINEL), evidence)
            elif not client.connected:
                out[subject.key] = (Observation(Outcome.LOST, client.lost_reason), evidence)
            elif sent and client.received == 0:
                out[subject.key] = (Observation(Outcome.QUIET, "the broker delivered nothing at all to this client "
                                                               "id, not even the identity's own topics"), evidence)
            else:
                out[subject.key] = (Observation(Outcome.TIMEOUT if sent else Outcome.QUIET), evidence)
        return out

    async def _idvar_writes(self, client: MqttClient, attacker: str,
                            subjects: list[Subject]) -> dict[str, tuple[Observation, list[Evidence]]]:
        out: dict[str, tuple[Observation, list[Evidence]]] = {}
        for subject in subjects:
            channel = self.channels.get(subject.key)
            if channel is None:
                continue
            reader_key = next((r for r in channel.readers if self.pool.live(r)), None)
            reader = self.pool.client_of(reader_key) if reader_key else None
            if reader is None or reader_key is None:
                out[subject.key] = (Observation(Outcome.LOST, "no reader of the victim's channel is connected"), [])
                continue
            canary = self.ledger.issue("canary", attacker, subject.topic, subject)
            writer = self.live_writer(channel)
            sentinel = self.ledger.issue("sentinel", writer, subject.topic, subject)
            watch = reader.watch([canary, sentinel], on=dict.fromkeys([canary, sentinel], subject.topic))
            try:
                try:
                    await self.pool.send(client, subject.topic, canary_payload(canary))
                except TargetError as exc:
                    out[subject.key] = (Observation(Outcome.ERROR, str(exc)), [])
                    continue
                sent = await self.publish(writer, subject.topic, sentinel) is not None
                hit = await reader.first(watch, self.options.settle if sent else self.options.quiet)
            finally:
                reader.unwatch(watch)
            evidence = list(channel.evidence)
            if hit is not None and hit[0] == canary:
                evidence.append(self.got(reader_key, hit[1], f"{attacker}'s canary {canary}"))
                out[subject.key] = (Observation(Outcome.CANARY), evidence)
            elif hit is not None:
                out[subject.key] = (Observation(Outcome.SENTINEL), evidence)
            else:
                out[subject.key] = (Observation(Outcome.TIMEOUT if sent else Outcome.QUIET), evidence)
        return out
