"""The assessment: every provision weighed against probe runs, observations and the vendor's questionnaire.

:func:`evaluate` is deterministic: the same catalogue, questionnaire, runs and observations give the
same :class:`~iotvet.assess.result.Assessment`, ``created`` aside. It never raises for what the
evidence holds (unknown checks, odd verdicts, empty runs): those only change verdicts and reasons.
The rules are in :mod:`iotvet.assess.rules`, the evidence map in ``assess/data/evidence.yaml``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from iotvet.assess.catalogue import SCOPE_NOTE, Catalogue
from iotvet.assess.contradictions import contradictions
from iotvet.assess.evidence_map import EvidenceMap, load_evidence_map
from iotvet.assess.gather import Pile, gather
from iotvet.assess.inputs import Observations, RunEvidence
from iotvet.assess.questionnaire import Questionnaire
from iotvet.assess.result import Assessment, ProvisionResult, ProvisionVerdict
from iotvet.assess.rules import Inputs, decide
from iotvet.assess.views import summary, views
from iotvet.report.text import one_line

EXIT_OK, EXIT_FAIL, EXIT_INCOMPLETE = 0, 1, 3


def _mapped(emap: EvidenceMap) -> dict[str, list[str]]:
    """Provision -> the checks and observation kinds that can pass or fail it."""
    out: dict[str, list[str]] = {}
    for name, bearing in [*emap.checks.items(), *emap.observations.items()]:
        for pid in sorted(set(bearing.fails) | set(bearing.supports)):
            out.setdefault(pid, []).append(name)
    return out


def _incomplete(runs: Sequence[RunEvidence], observations: Observations) -> tuple[str, ...]:
    found = [one_line(f"run {r.run_id} is {r.status}" + (f": {r.reason}" if r.reason else ""), 300)
             for r in runs if r.status != "complete"]
    found += [one_line(f"{o.kind} {o.subject}: {o.summary}", 300)
              for o in observations.items if o.status == "inconclusive" and o.kind != "hsts"]
    return tuple(found)


def questionnaire_ref(q: Questionnaire, name: str = "(questionnaire)") -> str:
    """``name sha256:…`` of the questionnaire's answers (of the model, so any rendering of them agrees)."""
    digest = hashlib.sha256(q.model_dump_json().encode("utf-8")).hexdigest()
    return f"{name} sha256:{digest}"


def evaluate(catalogue: Catalogue, questionnaire: Questionnaire, runs: Sequence[RunEvidence],
             observations: Observations, *, now: datetime, source: str | None = None,
             evidence_map: EvidenceMap | None = None) -> Assessment:
    """Weigh every provision of ``catalogue``; ``source`` names the questionnaire file (``name sha256:…``)."""
    emap = evidence_map or load_evidence_map()
    unique: dict[str, RunEvidence] = {}
    for run in runs:
        unique.setdefault(run.run_id, run)
    cited = list(unique.values())
    piles = gather(emap, cited, observations)
    found = contradictions(emap, questionnaire, cited, observations)
    mapped = _mapped(emap)
    results: list[ProvisionResult] = []
    for provision in catalogue.provisions:
        touching = [c for c in found if provision.id in c.provisions]
        results.append(decide(Inputs(provision=provision, questionnaire=questionnaire,
                                     pile=piles.get(provision.id, Pile()), mapped=mapped.get(provision.id, []),
                                     contradictions=touching, runs=len(cited))))
    return Assessment(
        vendor=questionnaire.vendor.name, standard=f"{catalogue.standard} {catalogue.version}", scope_note=SCOPE_NOTE,
        created=now, runs=tuple(unique), questionnaire=source or questionnaire_ref(questionnaire),
        results=tuple(results), contradictions=found, summary=summary(results),
        views=views(catalogue, questionnaire, results), incomplete=_incomplete(cited, observations))


def exit_code(assessment: Assessment) -> int:
    """1 when an applicable mandatory provision fails; else 3 when the evidence is incomplete; else 0."""
    if any(r.mandatory and r.verdict is ProvisionVerdict.FAIL for r in assessment.results):
        return EXIT_FAIL
    return EXIT_INCOMPLETE if assessment.incomplete else EXIT_OK
