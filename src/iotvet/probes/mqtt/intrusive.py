"""Phase 4, intrusive mode: client-id kicks and persistent-session steals."""

from __future__ import annotations

import asyncio
import time

from iotvet.checks import mqtt as checks
from iotvet.checks.mqtt import Observation, Outcome, canary_payload
from iotvet.core.errors import TargetError
from iotvet.core.records import Evidence, Verdict
from iotvet.probes.mqtt.state import SESSION_EXPIRY, Channel, Decision, RunState
from iotvet.probes.mqtt.topology import CATCH_ALL, Pair, client_id, username


class IntrusiveChecks(RunState):
    """Phase 4, intrusive mode: client-id kicks and persistent-session steals."""

    async def kick_test(self, pair: Pair) -> None:
        victim = pair.subject.owner
        identity = self.topo.by_name[victim]
        template = pair.subject.template.text
        ids = list(dict.fromkeys([client_id(identity), username(identity)]))
        channel = self.inbound(victim)
        kicks: list[bool | None] = []
        evidence: list[Evidence] = []
        details: list[str] = []
        for chosen in ids:
            kicks = []
            for _ in range(self.options.kick_repeats):
                kicked, note = await self._kick_once(pair.attacker, victim, chosen, channel)
                kicks.append(kicked)
                details.append(note)
                if kicked is not True:
                    break
            if kicks and all(k is True for k in kicks):
                evidence.append(self.ev(f"{pair.attacker} connected with client id {chosen!r}: " + "; ".join(
                    details[-len(kicks):]), "connect", pair.attacker, reason="; ".join(details[-len(kicks):])))
                break
        judgement = checks.clientid_kick(kicks, self.options.kick_repeats, "; ".join(details[-3:]))
        summary = reproduction = ""
        if judgement.verdict is Verdict.LEAK:
            summary = (f"{pair.attacker} ({pair.relation.value}) connected with {victim}'s client id and {victim} was "
                       f"disconnected each time, within {self.options.kick_window:g}s")
            reproduction = f"Connect to {self.mqtt.url} as {pair.attacker} with {victim}'s client id."
        self.decisions.append(Decision("mq-clientid-kick", template, pair.relation, pair.attacker, victim, judgement,
                                       summary, evidence, reproduction))

    async def _kick_once(self, attacker: str, victim: str, chosen: str,
                         channel: Channel | None) -> tuple[bool | None, str]:
        if not await self.pool.ensure(victim):
            return None, f"{victim} could not connect"
        target = self.pool.client_of(victim)
        assert target is not None
        sentinel = self.ledger.issue("sentinel", channel.writer if channel else victim)
        watch = target.watch([sentinel], on={sentinel: channel.subject.topic} if channel else None)
        try:
            client, result = await self.spawn(attacker, client_id=chosen)
            connacked = time.monotonic()
            if isinstance(result, str):
                return None, f"attacker connect failed: {result}"
            if not result.accepted:
                return False, f"CONNACK {result.code}"
            sent = channel is not None and await self.publish(channel.writer, channel.subject.topic, sentinel) \
                is not None
            wait = self.options.settle if sent else self.options.kick_window
            lost = asyncio.ensure_future(target.wait_lost(wait))
            got = asyncio.ensure_future(target.first(watch, wait))
            await asyncio.wait([lost, got], return_when=asyncio.FIRST_COMPLETED)
            for task in (lost, got):
                task.cancel()
            await self.pool.release(client)
            if not target.connected and target.lost_at is not None:
                delay = target.lost_at - connacked
                if delay <= self.options.kick_window:
                    return True, f"{victim} dropped {max(delay, 0.0) * 1000:.0f} ms after the CONNACK"
                return None, f"{victim} dropped {delay:.2f}s after the CONNACK (outside the window)"
            if watch.hit is not None:
                return False, f"{victim}'s sentinel arrived; still connected"
            if not sent:  # no channel to the victim: it must still get an answer from the broker
                own = self.topo.owner_subjects(victim)
                try:
                    await target.subscribe([own[0].topic] if own else [CATCH_ALL])
                except TargetError as exc:
                    return None, f"{victim} got no answer after the attempt: {exc}"
                if target.connected:
                    return False, f"{victim} still connected and answered {self.options.kick_window:g}s later"
            return None, "neither drop nor sentinel"
        finally:
            target.unwatch(watch)

    async def steal_test(self, pair: Pair) -> None:
        victim = pair.subject.owner
        template = pair.subject.template.text
        channel = self.inbound(victim)
        attacker_writer = self.sentinel_writer(pair.attacker)

        def record(observation: Observation, evidence: list[Evidence] | None = None, summary: str = "") -> None:
            reproduction = (f"While {victim} is offline with a persistent session, connect as {pair.attacker} "
                            f"with {victim}'s client id and clean session off.") if summary else ""
            self.decide("mq-session-steal", template, pair.relation, pair.attacker, victim, observation,
                        summary=summary, evidence=evidence or [], reproduction=reproduction)

        if channel is None:
            record(Observation(Outcome.NO_CHANNEL, f"no proven channel delivers to {victim}"))
            return
        identity = self.topo.by_name[victim]
        vid = client_id(identity)
        topic = channel.subject.topic
        await self.pool.close(victim)
        try:
            first, result = await self.spawn(victim, client_id=vid, clean=False, session_expiry=SESSION_EXPIRY)
            if isinstance(result, str) or not result.accepted:
                record(Observation(Outcome.ERROR, f"{victim} could not open a persistent session"))
                return
            try:
                await first.subscribe([topic])
            finally:
                await self.pool.release(first)
            control = self.ledger.issue("canary", channel.writer, topic, channel.subject)
            await self.publish(channel.writer, topic, control)
            again = self.pool.new_client(victim, client_id=vid, clean=False, session_expiry=SESSION_EXPIRY)
            check = again.watch([control], on={control: topic})
            try:
                result = await self.pool.connect(again)
                got = await again.first(check, self.options.settle) if result.accepted else None
            except TargetError:
                got = None
            finally:
                await self.pool.release(again)
            if got is None:
                record(Observation(Outcome.NO_CHANNEL, f"the broker kept no persistent session for {victim} (a canary "
                                                       f"queued while it was offline did not arrive)"))
                return
            queued = self.ledger.issue("canary", channel.writer, topic, channel.subject)
            await self.publish(channel.writer, topic, queued)
            sentinel = self.ledger.issue("sentinel", attacker_writer or pair.attacker)
            thief = self.pool.new_client(pair.attacker, client_id=vid, clean=False, session_expiry=SESSION_EXPIRY)
            watch = thief.watch([queued, sentinel], on=self.places({queued: topic}, pair.attacker, sentinel))
            try:
                result = await self.pool.connect(thief)
                if not result.accepted:
                    record(Observation(Outcome.REFUSED, f"CONNACK {result.code}"))
                    return
                own = self.sentinels.get(pair.attacker)
                sent = False
                if own is not None and attacker_writer is not None:
                    await thief.subscribe([own.subject.topic])
                    sent = await self.send_sentinel(pair.attacker, sentinel)
                hit = await thief.first(watch, self.options.settle if sent else self.options.quiet)
            except TargetError as exc:
                record(Observation(Outcome.ERROR, str(exc)))
                return
            finally:
                await self.pool.release(thief)
            evidence = [*channel.evidence,
                        self.ev(f"{channel.writer} published canary {queued} on {topic} while {victim} was offline "
                                f"with a persistent session", "publish", channel.writer, topic=topic,
                                payload=canary_payload(queued).decode())]
            if hit is not None and hit[0] == queued:
                evidence.append(self.got(pair.attacker, hit[1], f"{victim}'s queued canary {queued}"))
                record(Observation(Outcome.CANARY, f"session present: {result.session_present}"), evidence,
                       f"{pair.attacker} ({pair.relation.value}) connected with {victim}'s client id and received "
                       f"the command queued for {victim}")
            elif hit is not None:
                record(Observation(Outcome.SENTINEL), evidence)
            else:
                record(Observation(Outcome.QUIET if not sent else Outcome.TIMEOUT), evidence)
        finally:
            for key in (pair.attacker, victim):
                cleaner, outcome = await self.spawn(key, client_id=vid, clean=True)
                if not isinstance(outcome, str):
                    await self.pool.release(cleaner)
