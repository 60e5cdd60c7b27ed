"""Claims vs evidence: questionnaire answers that what iotvet observed contradicts.

Each rule of the evidence map's ``claims`` names a questionnaire field, the answers it contradicts,
and the checks (optionally only some relation classes) and observation statuses that contradict
them. A contradiction names every piece of contradicting evidence and the provisions it affects:
those the field informs and those the contradicting evidence fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from iotvet.assess.catalogue import load_catalogue
from iotvet.assess.evidence_map import ClaimRule, EvidenceMap
from iotvet.assess.gather import leaks
from iotvet.assess.inputs import Observations, RunEvidence
from iotvet.assess.questionnaire import Questionnaire
from iotvet.assess.result import Contradiction, EvidenceRef, Source
from iotvet.report.text import one_line


def _answer(q: Questionnaire, rule: ClaimRule) -> str:
    value = getattr(getattr(q, rule.section), rule.field)
    return str(value)


def _one(emap: EvidenceMap, rule: ClaimRule, q: Questionnaire, runs: Sequence[RunEvidence],
         observations: Observations) -> Contradiction | None:
    claimed = _answer(q, rule)
    if claimed not in rule.claimed:
        return None
    refs: list[EvidenceRef] = []
    failing: set[str] = set()
    sources: set[str] = set()
    for run in runs:
        for leak in leaks(run):
            if leak.check in rule.checks and (not rule.relations or leak.relation in rule.relations):
                refs.append(leak.ref)
                failing |= set(emap.failing(leak.check))
                sources.add(leak.check)
    for obs in observations.items:
        if obs.status in rule.observations.get(obs.kind, ()):
            text = one_line(f"{obs.kind} {obs.subject}: {obs.summary}"
                            + (f" ({'; '.join(obs.problems)})" if obs.problems else ""), 400)
            refs.append(EvidenceRef(source=Source.OBSERVATION, ref=obs.ref, summary=text, supports="fail"))
            bearing = emap.observations.get(obs.kind)
            failing |= set(bearing.fails) if bearing and obs.status == "problem" else set()
            sources.add(obs.kind)
    if not refs:
        return None
    order = list(load_catalogue().by_id)
    affected = set(emap.claim_provisions(rule)) | failing
    unique = {(r.source.value, r.run_id or "", r.ref): r for r in refs}
    return Contradiction(claim=rule.claim, claimed=claimed,
                         observed=f"{rule.observed} ({', '.join(sorted(sources))})",
                         provisions=tuple(sorted(affected, key=order.index)),
                         evidence=tuple(unique[k] for k in sorted(unique)))


def contradictions(emap: EvidenceMap, q: Questionnaire, runs: Sequence[RunEvidence],
                   observations: Observations) -> tuple[Contradiction, ...]:
    """Every contradicted claim, in the order of the evidence map's claims table."""
    found = (_one(emap, rule, q, runs, observations) for rule in emap.claims)
    return tuple(c for c in found if c is not None)
