"""An :class:`~iotvet.assess.result.Assessment` as OSCAL assessment-results importing iotvet's plan.

One result; per provision one finding whose target is the provision's assessment objective; per
evidence reference one observation (TEST for probe runs and passive observations, EXAMINE for the
questionnaire and the catalogue); per contradiction one ``ssp-statement-issue`` observation. OSCAL
knows only ``satisfied`` and ``not-satisfied``: see :data:`STATUS` for the other verdicts.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Final

from iotvet import __version__
from iotvet.assess.catalogue import load_catalogue
from iotvet.assess.oscal_base import NS, PLAN_FILE, line, md, metadata, objective_id, prop, uid
from iotvet.assess.oscal_plan import selection
from iotvet.assess.result import Assessment, EvidenceRef, ProvisionResult, ProvisionVerdict, Source

if TYPE_CHECKING:
    from trestle.oscal.assessment_results import AssessmentResults, Attestation
    from trestle.oscal.common import Finding, Observation, Origin

V = ProvisionVerdict
STATUS: Final = {
    V.PASS: ("satisfied", "pass", None),
    V.FAIL: ("not-satisfied", "fail", None),
    V.NOT_APPLICABLE: ("satisfied", "other", "Not applicable: a condition of the provision does not hold for the "
                       "product, so it asks nothing (implementation-status not-applicable)."),
    V.NOT_MET_JUSTIFIED: ("not-satisfied", "other", "A recommendation the vendor does not follow and justifies, as "
                          "EN 303 645 4-1 allows; it does not count against conformance."),
    V.INCONCLUSIVE: ("not-satisfied", "other", "Inconclusive: the evidence decides neither way, so the objective is "
                     "not shown to be satisfied."),
}
"""Verdict → (objective state, reason, remarks). The exact verdict is also the ``verdict`` prop."""
METHOD: Final = {Source.PROBE: "TEST", Source.OBSERVATION: "TEST", Source.QUESTIONNAIRE: "EXAMINE",
                 Source.CATALOGUE: "EXAMINE"}


def plan_digest() -> str:
    """SHA-256 (hex) of the shipped assessment plan, which the results pin."""
    plan = resources.files("iotvet.assess").joinpath("data", "oscal", PLAN_FILE)
    return hashlib.sha256(plan.read_bytes()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _Builder:
    def __init__(self, a: Assessment) -> None:
        self.a = a
        self.when = _aware(a.created)
        self.key = uid("results", a.vendor, self.when.isoformat(), a.questionnaire)
        self.tool = uid(self.key, "tool")
        self.vendor = uid(self.key, "vendor")
        self.observations: list[Observation] = []
        self.related: dict[str, list[str]] = {}

    def origin(self, source: Source) -> Origin:
        from trestle.oscal.common import Origin, OriginActor, OriginActorValidValues

        if source is Source.QUESTIONNAIRE:
            return Origin(actors=[OriginActor(type=OriginActorValidValues.party, actor_uuid=self.vendor)])
        return Origin(actors=[OriginActor(type=OriginActorValidValues.tool, actor_uuid=self.tool)])

    def evidence(self, provision: str, index: int, ref: EvidenceRef) -> None:
        from trestle.oscal.common import Observation, RelevantEvidence

        run = f" (run {ref.run_id})" if ref.run_id else ""
        props = [prop("provision", provision), prop("source", ref.source.value), prop("ref", ref.ref),
                 prop("supports", ref.supports)] + ([prop("run-id", ref.run_id)] if ref.run_id else [])
        obs = Observation(
            uuid=uid(self.key, "evidence", provision, str(index)), title=md(line(f"{ref.source.value}: {ref.ref}")),
            description=md(ref.summary) or "-", props=props, methods=[METHOD[ref.source]],
            types=["finding" if ref.supports == "fail" else "control-objective"], origins=[self.origin(ref.source)],
            relevant_evidence=[RelevantEvidence(description=md(f"{ref.ref}{run}") or "-")], collected=self.when)
        self.observations.append(obs)
        self.related.setdefault(provision, []).append(obs.uuid)

    def contradictions(self) -> None:
        from trestle.oscal.common import Observation

        for i, c in enumerate(self.a.contradictions):
            obs = Observation(
                uuid=uid(self.key, "contradiction", str(i)), title=md(line(f"Claim contradicted: {c.claim}")),
                description=md(f"The vendor claims {c.claim} = {c.claimed}; iotvet observed: {c.observed}"),
                props=[prop("claim", c.claim), prop("claimed", c.claimed)]
                + [prop("provision", p) for p in c.provisions] + [prop("ref", e.ref) for e in c.evidence],
                methods=["EXAMINE", "TEST"], types=["ssp-statement-issue"],
                origins=[self.origin(Source.PROBE)], collected=self.when)
            self.observations.append(obs)
            for p in c.provisions:
                self.related.setdefault(p, []).append(obs.uuid)

    def finding(self, r: ProvisionResult) -> Finding:
        from trestle.oscal.common import (
            Finding,
            FindingTarget,
            FindingTargetTypeValidValues,
            ImplementationStatus,
            ObjectiveStatus,
            ObjectiveStatusStateValidValues,
            Reason,
            RelatedObservation,
        )

        state, reason, remarks = STATUS[r.verdict]
        verdict = [prop("verdict", r.verdict.value)]
        status = ObjectiveStatus(state=ObjectiveStatusStateValidValues(state), reason=Reason(reason), remarks=remarks)
        not_applicable = ImplementationStatus(state="not-applicable") if r.verdict is V.NOT_APPLICABLE else None
        target = FindingTarget(type=FindingTargetTypeValidValues.objective_id, target_id=objective_id(r.provision),
                               props=verdict, status=status, implementation_status=not_applicable)
        related = [RelatedObservation(observation_uuid=o) for o in self.related.get(r.provision, [])]
        title = md(line(f"{r.provision} ({r.status}): {r.verdict.value}"))
        props = [*verdict, prop("status", r.status), prop("mandatory", str(r.mandatory).lower())]
        return Finding(uuid=uid(self.key, "finding", r.provision), title=title, description=md(r.reason) or "-",
                       target=target, props=props, related_observations=related or None)

    def attestation(self) -> Attestation | None:
        from trestle.oscal.assessment_results import Attestation
        from trestle.oscal.common import AssessmentPart

        parts = [AssessmentPart(
            name="framework-view", ns=NS, title=md(line(v.framework)),
            prose=md(v.reason) or "-", props=[prop("applicable", str(v.applicable).lower())],
            parts=[AssessmentPart(name="view-item", ns=NS, title=md(line(f"{i.id}: {i.title}")),
                                  prose=md(i.reason) or "-", props=[prop("verdict", i.verdict.value)]
                                  + [prop("provision", p) for p in i.provisions]) for i in v.items] or None)
            for v in self.a.views]
        return Attestation(parts=parts) if parts else None


def _remarks(a: Assessment) -> str:
    incomplete = "".join(f"\n\nEvidence incomplete: {md(why)}" for why in a.incomplete)
    return md(a.scope_note) + incomplete


def build_results(a: Assessment) -> AssessmentResults:
    """The assessment as an OSCAL assessment-results model; ValueError for a provision iotvet does not know."""
    from trestle.oscal.assessment_results import AssessmentResults, ImportAp, LocalDefinitions1, Result
    from trestle.oscal.common import BackMatter, Hash, Parties1, Resource, Rlink, Status, SystemComponent
    from trestle.oscal.common import SystemComponentOperationalStateValidValues as OpState

    known = load_catalogue().by_id
    if unknown := [r.provision for r in a.results if r.provision not in known]:
        raise ValueError(f"unknown provision(s) in the assessment: {', '.join(map(line, unknown))}")
    b = _Builder(a)
    for r in a.results:
        for i, ref in enumerate(r.evidence):
            b.evidence(r.provision, i, ref)
    b.contradictions()
    findings = [b.finding(r) for r in a.results]
    tallies = [prop(f"{kind}-{verdict}", str(n)) for kind, tally in (("mandatory", a.summary.mandatory),
                                                                        ("recommended", a.summary.recommended))
               for verdict, n in tally.by_verdict.items() if verdict in {v.value for v in V}]
    tool = SystemComponent(uuid=b.tool, type="software", title=f"iotvet {__version__}",
                           description="iotvet: probes and assesses the third-party provider behind an IoT product.",
                           status=Status(state=OpState.operational))
    attestation = b.attestation()
    result = Result(
        uuid=uid(b.key, "result"), title="EN 303 645 V2.1.1 assessment", start=b.when, end=b.when,
        description=md(f"{a.vendor} assessed against {a.standard}. Questionnaire: {a.questionnaire}. "
                       f"Runs cited: {', '.join(a.runs) or 'none'}."),
        props=[prop("run", run) for run in a.runs] + tallies + [prop("incomplete", w) for w in a.incomplete] or None,
        local_definitions=LocalDefinitions1(components=[tool]),
        reviewed_controls=selection(r.provision for r in a.results),
        attestations=[attestation] if attestation else None,
        observations=b.observations or None, findings=findings or None, remarks=_remarks(a))
    plan = Resource(uuid=uid(b.key, "plan"), title="iotvet assessment plan for EN 303 645 V2.1.1",
                    description=f"Shipped with iotvet as {PLAN_FILE}; put it next to this file to resolve the import.",
                    rlinks=[Rlink(href=PLAN_FILE, media_type="application/oscal.ap+json",
                                  hashes=[Hash(algorithm="SHA-256", value=plan_digest())])])
    meta = metadata(md(line(f"EN 303 645 assessment: {a.vendor}")), b.when, f"iotvet-{a.schema_version}",
                    remarks=md(a.scope_note), props=[prop("vendor", a.vendor), prop("questionnaire", a.questionnaire),
                                                      prop("tool", f"iotvet {__version__}")],
                    parties=[Parties1(uuid=b.vendor, type="organization", name=line(a.vendor))])
    return AssessmentResults(uuid=b.key, metadata=meta, import_ap=ImportAp(href=f"#{plan.uuid}"), results=[result],
                             back_matter=BackMatter(resources=[plan]))
