"""Phase 4: per attacker (its main session closed), wills, client-id tricks, kicks and steals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from iotvet.checks.mqtt import Observation, Outcome
from iotvet.core.records import Relation
from iotvet.probes.mqtt.idvar import IdvarChecks
from iotvet.probes.mqtt.intrusive import IntrusiveChecks
from iotvet.probes.mqtt.state import JUDGES
from iotvet.probes.mqtt.topology import ANONYMOUS, Pair, Subject, client_id, username
from iotvet.probes.mqtt.writes import WriteChecks


class ConnectionTricks(WriteChecks, IdvarChecks, IntrusiveChecks):
    """Phase 4: per attacker (its main session closed), wills, client-id tricks, kicks and steals."""

    async def connection_tricks(self, by_subject: dict[str, tuple[Subject, list[Pair]]]) -> None:
        if self.mode == "read-only":
            return
        per_attacker: dict[str, tuple[list[Pair], list[tuple[Relation, list[Subject], list[tuple[str, str]]]],
                                      list[Pair], list[Pair]]] = {}

        def slot(key: str) -> tuple[list[Pair], list[tuple[Relation, list[Subject], list[tuple[str, str]]]],
                                    list[Pair], list[Pair]]:
            return per_attacker.setdefault(key, ([], [], [], []))

        for _, pairs in by_subject.values():
            for pair in pairs:
                if self.is_settled(self.read_check("will", pair.relation, pair.subject), pair.subject.template.text,
                                   pair.relation):
                    continue
                if pair.attacker == ANONYMOUS and self.anon_result is not None:
                    self.decide(self.read_check("will", pair.relation, pair.subject), pair.subject.template.text,
                                pair.relation, ANONYMOUS, pair.subject.owner, self.anon_result)
                    continue
                if pair.attacker in self.pool.sessions:
                    slot(pair.attacker)[0].append(pair)
        reps: dict[tuple[str, Relation], list[Subject]] = {}
        for pairs_by_relation in self.selection.reads.values():
            for relation, pair in pairs_by_relation.items():
                if pair.attacker == ANONYMOUS:
                    continue
                reps.setdefault((pair.attacker, relation), []).append(pair.subject)
        for (attacker, relation), subjects in reps.items():
            if attacker not in self.pool.sessions:
                continue
            ids = [("+", "a single-level wildcard as client id")]
            if self.mode == "intrusive":
                owner = self.topo.by_name[subjects[0].owner]
                if owner.sacrificial:
                    ids += [(cid, f"{owner.name}'s client id") for cid in
                            dict.fromkeys([client_id(owner), username(owner)])]
            owner_name = subjects[0].owner
            open_subjects = [s for s in subjects if s.owner == owner_name
                             and not self.is_settled("mq-idvar-inject", s.template.text, relation)]
            if open_subjects:
                slot(attacker)[1].append((relation, open_subjects, ids))
        if self.mode == "intrusive":
            for relation, pair in self.selection.intrusive.items():
                if pair.attacker == ANONYMOUS and self.anon_result is not None:
                    for check in ("mq-clientid-kick", "mq-session-steal"):
                        self.decide(check, pair.subject.template.text, relation, ANONYMOUS, pair.subject.owner,
                                    self.anon_result)
                    continue
                if pair.attacker in self.pool.sessions:
                    template = pair.subject.template.text
                    if not self.is_settled("mq-clientid-kick", template, relation):
                        slot(pair.attacker)[2].append(pair)
                    if not self.is_settled("mq-session-steal", template, relation):
                        slot(pair.attacker)[3].append(pair)
        await asyncio.gather(*(self.attacker_batch(a, *work) for a, work in sorted(per_attacker.items())))

    async def attacker_batch(self, attacker: str, wills: list[Pair], idvars: list[tuple[Relation, list[Subject],
                             list[tuple[str, str]]]], kicks: list[Pair], steals: list[Pair]) -> None:
        victims = {p.subject.owner for p in (*kicks, *steals)}
        for _, subjects, ids in idvars:
            if len(ids) > 1:  # the victim's own client id is among them: it takes over the victim's session
                victims.update(s.owner for s in subjects)
        shared: set[str] = set()
        for pair in wills:
            channel = self.channels.get(pair.subject.key)
            if channel is not None:
                shared.update([channel.writer, channel.readers[0]])
        for _, subjects, _ in idvars:
            for subject in subjects:
                channel = self.channels.get(subject.key)
                if channel is not None:
                    shared.update([channel.writer, *channel.readers])
        for victim in victims:
            channel = self.inbound(victim)
            if channel is not None:
                shared.add(channel.writer)
        writer = self.sentinel_writer(attacker)
        if writer is not None:
            shared.add(writer)
        others = shared | victims
        async with self.pool.use(exclusive=[attacker, *sorted(victims)], shared=shared):
            await self.pool.close(attacker)
            for pair in wills:
                await self.pool.ensure_all(others)
                await self.guarded(self.will_test(pair), self._error_cell(
                    self.read_check("will", pair.relation, pair.subject), pair))
            for relation, subjects, ids in idvars:
                for chosen, why in ids:
                    await self.pool.ensure_all(others)
                    await self.guarded(self.idvar_test(attacker, relation, subjects, chosen, why),
                                       self._error_cells("mq-idvar-inject", relation, attacker, subjects))
            for pair in steals:
                await self.pool.ensure_all(others)
                await self.guarded(self.steal_test(pair), self._error_cell("mq-session-steal", pair))
            for pair in kicks:
                await self.pool.ensure_all(others - {pair.subject.owner})
                await self.guarded(self.kick_test(pair), self._error_cell("mq-clientid-kick", pair))

    def _error_cell(self, check: str, pair: Pair) -> Callable[[str], None]:
        def record(why: str) -> None:
            self.decide(check if check in JUDGES else "mq-anon", pair.subject.template.text, pair.relation,
                        pair.attacker, pair.subject.owner, Observation(Outcome.ERROR, why))
        return record

    def _error_cells(self, check: str, relation: Relation, attacker: str,
                     subjects: list[Subject]) -> Callable[[str], None]:
        def record(why: str) -> None:
            for subject in subjects:
                self.decide(check, subject.template.text, relation, attacker, subject.owner,
                            Observation(Outcome.ERROR, why))
        return record
