"""Phase 6: canaries a catch-all subscription saw that no specific finding explains."""

from __future__ import annotations

from iotvet.checks.mqtt import Observation, Outcome
from iotvet.checks.relations import classify
from iotvet.core.records import Relation, Verdict
from iotvet.probes.mqtt.state import READ_CHECKS, RunState
from iotvet.probes.mqtt.topology import ANONYMOUS, CATCH_ALL, Pair, is_platform


class CatchAll(RunState):
    """Phase 6: canaries a catch-all subscription saw that no specific finding explains."""

    def any_leak(self) -> None:
        explained = {(d.topic, d.relation) for d in self.decisions
                     if d.judgement.verdict is Verdict.LEAK and d.check in READ_CHECKS}
        unexplained: dict[tuple[str, Relation], list[tuple[str, str, str]]] = {}
        for sighting in self.ledger.sightings:
            record = self.ledger.records[sighting.canary]
            subject = record.subject
            if subject is None or record.kind == "clientid":
                continue
            observer = sighting.observer
            identity = self.identity(observer)
            if observer == record.publisher or observer in subject.party or (identity and is_platform(identity)):
                continue
            relation = classify(identity, self.topo.by_name[subject.owner])
            key = (subject.template.text, relation)
            copied = sighting.topic != record.topic
            if copied or key not in explained:
                unexplained.setdefault(key, []).append((observer, subject.owner, sighting.canary))
        listeners = {k for k, s in self.pool.sessions.items() if s.granted(CATCH_ALL)}
        for template in self.topo.templates:
            for relation, pair in self.selection.reads.get(template.name, {}).items():
                seen = unexplained.get((template.text, relation))
                if relation is Relation.ANONYMOUS and self.anon_result is not None:
                    self.decide("mq-any-leak", template.text, relation, ANONYMOUS, pair.subject.owner,
                                self.anon_result)
                elif seen:
                    observer, owner, canary = seen[0]
                    hits = [s for s in self.ledger.sightings if s.observer == observer and s.canary == canary]
                    evidence = [self.ev(f"{observer}'s catch-all received {owner}'s canary {canary} on {h.topic}",
                                        "receive", observer, topic=h.topic, payload=h.excerpt, retained=h.retain)
                                for h in hits[:1]]
                    self.decide("mq-any-leak", template.text, relation, observer, owner,
                                Observation(Outcome.CANARY, f"{len(seen)} unexplained sighting(s)"),
                                summary=f"{observer}'s catch-all subscription received a canary from {owner}'s side "
                                        f"that no specific check explains", evidence=evidence,
                                reproduction=f"Subscribe # as {observer} and watch for {owner}'s messages.")
                elif any(k in listeners for k in self._relation_members(relation, pair)):
                    self.decide("mq-any-leak", template.text, relation, pair.attacker, pair.subject.owner,
                                Observation(Outcome.SENTINEL if self.channels else Outcome.NO_CHANNEL,
                                            "catch-all subscriptions held for the whole run"))
                else:
                    self.decide("mq-any-leak", template.text, relation, pair.attacker, pair.subject.owner,
                                Observation(Outcome.ERROR, "no identity of this relation held a catch-all "
                                                           "subscription"))

    def _relation_members(self, relation: Relation, pair: Pair) -> list[str]:
        if relation is Relation.ANONYMOUS:
            return [ANONYMOUS]
        owner = self.topo.by_name[pair.subject.owner]
        return [i.name for i in self.topo.identities if i.name not in pair.subject.party
                and classify(i, owner) is relation]
