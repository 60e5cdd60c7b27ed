"""``id-shared-cred``: one device identity's secret logs in as another device of the plan.

Only the plan's own device identities take part, never guessed accounts. For each victim device
B, the attacker A is a device whose secret the plan gives as identical to B's (a *twin*), else
another device (same tenant first). A connection with B's username and client id (the broker's
client-id rules) and A's secret (password, or client certificate for twins) is the *forged
session*; the proof is by effect on B's own proven channels: the forged session receives the
canary B's side sends to B (its inbound topics), and B's reader receives the forged session's
no-op canary on B's first outbound topic. A refused CONNACK is enforcement.

Modes: a forged login with another device's password is a failed login whenever the broker is
sound, and auth plugins may count failed logins toward a lockout. So it is sent once (never
retried) and only when B is ``sacrificial``; twins log in with B's own secret and fail nothing.
Everything publishes canaries, so the check runs in ``safe-writes`` and ``intrusive`` modes.
"""

from __future__ import annotations

from iotvet.checks.mqtt import Observation, Outcome, canary_payload
from iotvet.core.records import Evidence, Relation
from iotvet.plan.schema import Identity
from iotvet.probes.mqtt.state import Channel, RunState
from iotvet.probes.mqtt.topology import username
from iotvet.transport.mqtt import Credentials, Received

CHECK = "id-shared-cred"


class SharedCredential(RunState):
    """Phase 5: one device's secret as another device."""

    async def shared_cred(self) -> None:
        devices = [i for i in self.topo.identities if i.role == "device" and i.name in self.pool.sessions]
        if len(devices) < 2:
            self.notes.append(f"{CHECK}: fewer than two device identities with sessions")
            return
        order = {t.name: i for i, t in enumerate(self.topo.templates)}
        for victim in devices:
            own = sorted((c for c in self.channels.values() if c.subject.owner == victim.name),
                         key=lambda c: order[c.subject.template.name])
            reads = [c for c in own if victim.name in c.readers and c.writer != victim.name]
            writes = [c for c in own if c.writer == victim.name]
            targets = [(c, part) for c, part in [(c, "read") for c in reads] + [(c, "write") for c in writes[:1]]
                       if not self.is_settled(CHECK, c.subject.template.text, Relation.DEVICE)]
            secret = self._secret(victim)
            if not targets or secret is None:
                continue
            peers = [d for d in devices if d.name != victim.name and self._secret(d) is not None]
            twin = next((d for d in peers if self._secret(d) == secret), None)
            others = [d for d in peers if d.tenant == victim.tenant] or peers
            attacker = twin or (others[-1] if others else None)
            theirs = self._secret(attacker) if attacker is not None else None
            if attacker is None or (twin is None and (secret[0] != "password" or theirs is None
                                                      or theirs[0] != "password")):
                continue  # a client certificate names its own identity: it cannot log in as another device
            if twin is None and not victim.sacrificial:
                for channel, _ in targets:
                    self.decide(CHECK, channel.subject.template.text, Relation.DEVICE, attacker.name, victim.name,
                                Observation(Outcome.MODE, f"another device's password for {victim.name} is a failed "
                                                          f"login (lockout risk); tried on sacrificial devices only: "
                                                          f"mark {victim.name} sacrificial"))
                continue
            await self._forged(attacker, victim, targets, twin is not None)

    async def _forged(self, attacker: Identity, victim: Identity, targets: list[tuple[Channel, str]],
                      twin: bool) -> None:
        theirs = self.creds(attacker)
        mine = self.creds(victim)
        creds = Credentials(mine.username, theirs.password, mine.client_id, theirs.cert, theirs.key)
        how = "the identical secret the plan gives both" if twin else f"{attacker.name}'s password"
        others = {k for c, _ in targets for k in (c.writer, *c.readers)} - {victim.name}
        async with self.pool.use(exclusive=[victim.name], shared=others):
            await self.pool.close(victim.name)
            client, result = await self.spawn(victim.name, creds=creds)
            if isinstance(result, str) or not result.accepted:
                why = result if isinstance(result, str) else f"CONNACK {result.code}: {result.reason}"
                outcome = Outcome.ERROR if isinstance(result, str) else Outcome.REFUSED
                for channel, _ in targets:
                    self.decide(CHECK, channel.subject.template.text, Relation.DEVICE, attacker.name, victim.name,
                                Observation(outcome, f"{username(victim)} with {how}: {why}"))
                return
            try:
                for channel, part in targets:
                    topic = channel.subject.topic
                    canary = self.ledger.issue("canary", channel.writer if part == "read" else victim.name, topic,
                                               channel.subject)
                    # the victim's own main session is closed: a write is observed by another reader
                    observer = victim.name if part == "read" else next(
                        (r for r in channel.readers if r != victim.name and self.pool.live(r)), "")
                    watcher = client if part == "read" else self.pool.client_of(observer)
                    if watcher is None:
                        self.decide(CHECK, channel.subject.template.text, Relation.DEVICE, attacker.name,
                                    victim.name, Observation(Outcome.NO_CHANNEL, f"no reader of {topic} besides "
                                                                                 f"{victim.name} is connected"))
                        continue
                    if part == "read":
                        await client.subscribe([topic])
                    watch = watcher.watch([canary], on={canary: topic})
                    try:
                        sender = channel.writer if part == "read" else victim.name
                        code = await self.publish(sender, topic, canary, client=None if part == "read" else client)
                        hit = await watcher.first(watch, self.options.settle)
                    finally:
                        watcher.unwatch(watch)
                    self._record(attacker, victim, channel, part, canary, code, hit[1] if hit else None, how,
                                 observer, sender)
            finally:
                await self.pool.release(client)

    def _record(self, attacker: Identity, victim: Identity, channel: Channel, part: str, canary: str,
                code: int | None, hit: Received | None, how: str, observer: str, sender: str) -> None:
        topic = channel.subject.topic
        puback = f"PUBACK 0x{code:02x}" if code is not None else "publish failed"
        evidence: list[Evidence] = [
            self.ev(f"the forged session logged in as {username(victim)} with {how}", "connect", victim.name,
                    reason="CONNACK 0"),
            self.ev(f"{sender} published canary {canary} on {topic}; {puback}", "publish", sender, topic=topic,
                    payload=canary_payload(canary).decode(), reason=puback)]
        if hit is not None:
            who = "the forged session" if part == "read" else observer
            evidence.append(self.got(observer, hit, f"canary {canary} ({who})"))
        observation = Observation(Outcome.CANARY, f"{username(victim)} with {how}") if hit else Observation(
            Outcome.TIMEOUT, f"{username(victim)} with {how} was accepted, but no canary crossed {topic} within "
                             f"{self.options.settle:g}s")
        self.decide(CHECK, channel.subject.template.text, Relation.DEVICE, attacker.name, victim.name, observation,
                    evidence=[*channel.evidence, *evidence] if hit else evidence,
                    summary=f"logged in as {victim.name} with {how}, the forged session "
                            f"{'received' if part == 'read' else 'published'} a canary on {topic} "
                            f"({'from' if part == 'read' else 'to'} {observer if part == 'write' else sender})"
                    if hit else "",
                    reproduction=f"Log in to {self.mqtt.url} as {username(victim)} with {attacker.name}'s secret.")
