"""Phase 2: prove the victim's own delivery paths and pick every session's sentinel channel."""

from __future__ import annotations

import asyncio
import time

from iotvet.checks.mqtt import canary_payload
from iotvet.probes.mqtt.state import Channel, RunState, wait_any
from iotvet.probes.mqtt.topology import ANONYMOUS, Subject
from iotvet.transport.mqtt import FAILURE, Watch


class Channels(RunState):
    """Phase 2: prove the victim's own delivery paths and pick every session's sentinel channel."""

    async def prove(self, subject: Subject) -> None:
        if self.mode == "read-only":
            self.no_channel[subject.key] = "read-only mode publishes nothing, so no canary can be delivered"
            return
        readers = [k for k in subject.party if self.pool.live(k) and self.pool.sessions[k].granted(subject.topic)]
        writers = [k for k in subject.writers if self.pool.live(k)]
        if not readers:
            self.no_channel[subject.key] = "no identity on the victim's side holds a subscription to the topic"
            return
        if not writers:
            self.no_channel[subject.key] = "no identity on the victim's side is connected to publish"
            return
        canaries = [self.ledger.issue("proof", w, subject.topic, subject) for w in writers]
        async with self.pool.use(shared=[*readers, *writers]):
            watches: dict[str, Watch] = {}
            for reader in readers:
                client = self.pool.client_of(reader)
                if client is not None:
                    watches[reader] = client.watch(canaries, on=dict.fromkeys(canaries, subject.topic))
            try:
                deadline = time.monotonic() + self.options.settle
                codes: dict[str, int | None] = {}
                for writer, canary in zip(writers, canaries, strict=True):
                    codes[writer] = code = await self.publish(writer, subject.topic, canary)
                    if code is not None and code < FAILURE:
                        await wait_any(watches.values(), min(self.options.hop, max(0.0, deadline - time.monotonic())))
                    if any(w.hit for w in watches.values()):
                        break
                if not any(w.hit for w in watches.values()):
                    await wait_any(watches.values(), max(0.0, deadline - time.monotonic()))
                hits = [(w.hit[1].at, w.hit[0]) for w in watches.values() if w.hit is not None]
                if not hits:
                    tried = ", ".join(f"{w} (PUBACK {codes.get(w)})" for w in writers if w in codes)
                    self.no_channel[subject.key] = (f"no canary published by the victim's side ({tried}) reached "
                                                    f"its readers ({', '.join(readers)}) within "
                                                    f"{self.options.settle:g}s")
                    return
                winner = min(hits)[1]
                writer = writers[canaries.index(winner)]
                end = time.monotonic() + self.options.grace
                while time.monotonic() < end and not all(winner in w.seen for w in watches.values()):
                    await asyncio.sleep(0.01)
                got = [r for r, w in watches.items() if winner in w.seen]
                first = watches[got[0]].seen[winner]
                evidence = [self.ev(f"{writer} (the victim's side) published canary {winner} on {subject.topic}",
                                    "publish", writer, topic=subject.topic,
                                    payload=canary_payload(winner).decode()),
                            self.got(got[0], first, "it: the victim's own channel works")]
                self.channels[subject.key] = Channel(subject, writer, got, winner, evidence)
            finally:
                for reader, watch in watches.items():
                    client = self.pool.client_of(reader)
                    if client is not None:
                        client.unwatch(watch)

    def choose_sentinels(self) -> None:
        """Each session's sentinel channel: a proven channel whose canary it received (own topics first)."""
        order = {t.name: i for i, t in enumerate(self.topo.templates)}
        for key in self.pool.sessions:
            own = {s.key for s in self.topo.own_subjects(key)} if key != ANONYMOUS else set()
            candidates = [c for c in self.channels.values()
                          if c.writer != key and self.ledger.seen_by(key, c.canary) is not None]
            if candidates:
                candidates.sort(key=lambda c: (c.subject.key not in own, order[c.subject.template.name],
                                               c.subject.topic))
                self.sentinels[key] = candidates[0]
