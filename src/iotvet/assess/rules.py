"""The verdict rules for one provision, applied in order (docs/ASSESS.md, "Evaluation rules").

1. NOT APPLICABLE: a condition of a conditional provision does not hold (questionnaire).
2. FAIL: a mapped finding, leak or observation problem exists; or the vendor answers a mandatory
   provision ``no``.
3. NOT MET WITH JUSTIFICATION: a recommendation the vendor answers ``no`` (with its justification).
4. PASS: mapped cells or observations support it and nothing counts against it; or, for a provision
   that takes documents (evidence kind document or lab), the vendor claims ``yes`` with a reference
   and no contradicted claim touches it (source: questionnaire, weaker than a probe).
5. INCONCLUSIVE otherwise, saying what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iotvet.assess.catalogue import Provision, load_catalogue
from iotvet.assess.gather import Pile
from iotvet.assess.questionnaire import Claim, Questionnaire
from iotvet.assess.result import Contradiction, EvidenceRef, ProvisionResult, ProvisionVerdict, Source
from iotvet.report.text import one_line

DOCUMENT_KINDS = frozenset({"document", "lab"})


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the rules read for one provision."""

    provision: Provision
    questionnaire: Questionnaire
    pile: Pile
    mapped: Sequence[str]
    """Checks and observation kinds the evidence map relates to the provision."""
    contradictions: Sequence[Contradiction]
    runs: int


def origin(ref: EvidenceRef) -> str:
    """The check or observation kind an evidence reference comes from."""
    if ref.source is Source.OBSERVATION:
        return ref.ref.split(":", 1)[0]
    if "@" in ref.ref:
        return ref.ref.split("@", 1)[0]
    return ref.summary.split(" ", 1)[0].rstrip(":")


def _names(refs: Sequence[EvidenceRef]) -> str:
    names = sorted({origin(r) for r in refs})
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    runs = sorted({r.run_id for r in refs if r.run_id})
    where = f", run {', '.join(runs)}" if runs else ""
    return f"{shown} ({len(refs)} item{'s' if len(refs) != 1 else ''}{where})"


def _conditions(i: Inputs, wanted: bool | None) -> str:
    catalogue = load_catalogue()
    parts = []
    for cid in i.provision.conditions:
        if i.questionnaire.condition_holds(cid) is wanted:
            cond = catalogue.condition_by_id[cid]
            parts.append(f"C({cid}) {cond.question}: {getattr(i.questionnaire.conditions, cond.question)}")
    return "; ".join(parts)


def _claim_ref(pid: str, claim: Claim, mandatory: bool) -> EvidenceRef | None:
    if claim.implemented == "unknown":
        return None
    parts = [f"implemented: {claim.implemented}"]
    if claim.evidence:
        parts.append("evidence: " + ", ".join(claim.evidence))
    if claim.justification.strip():
        parts.append("justification: " + claim.justification.strip())
    supports = "pass" if claim.implemented == "yes" else ("fail" if mandatory else "context")
    return EvidenceRef(source=Source.QUESTIONNAIRE, ref=f"claims.{pid}", summary=one_line("; ".join(parts), 600),
                       supports=supports)


def _contradiction_refs(i: Inputs) -> list[EvidenceRef]:
    return [EvidenceRef(source=Source.QUESTIONNAIRE, ref=c.claim, supports="fail",
                        summary=one_line(f"claimed {c.claimed}; observed: {c.observed}", 400))
            for c in i.contradictions]


def _contradicted(i: Inputs) -> str:
    if not i.contradictions:
        return ""
    return "the evidence contradicts the vendor's " + ", ".join(f"{c.claim}: {c.claimed}" for c in i.contradictions)


def _probe_gap(i: Inputs) -> str:
    """What the probes and observations left open, in words (checks that decided something are no gap)."""
    pile = i.pile
    parts = [f"{name} not tested ({why})" for name, why in sorted(pile.untested.items()) if name not in pile.decided]
    parts += [f"{name} undecided ({why})" for name, why in sorted(pile.undecided.items()) if name not in pile.decided]
    if parts:
        return "; ".join(parts)
    if not i.mapped:
        return "no iotvet probe or observation tests it"
    if not i.runs and not pile.seen:
        return f"no probe or observation evidence (it would come from {', '.join(i.mapped)})"
    return f"no probe or observation evidence ({', '.join(i.mapped)} produced nothing for it)"


def _claim_gap(i: Inputs, claim: Claim, document: bool) -> str:
    pid = i.provision.id
    if claim.implemented == "unknown":
        return "the questionnaire says unknown"
    if not document:
        kinds = ", ".join(i.provision.evidence)
        return f"the vendor claims yes, but a claim cannot decide a provision tested only by {kinds}"
    if not claim.evidence:
        return f"the vendor claims yes but cites no reference (claims.{pid}.evidence)"
    return "the vendor's referenced claim is contradicted by what iotvet observed"


def decide(i: Inputs) -> ProvisionResult:
    """The verdict for one provision, with its reason and evidence."""
    p, q, pile = i.provision, i.questionnaire, i.pile
    claim = q.claim(p.id)
    claim_ref = _claim_ref(p.id, claim, p.mandatory)
    evidence = [*pile.fails, *pile.supports, *_contradiction_refs(i), *pile.context]
    evidence += [claim_ref] if claim_ref else []

    def result(verdict: ProvisionVerdict, *reasons: str) -> ProvisionResult:
        text = "; ".join(r for r in reasons if r)
        return ProvisionResult(provision=p.id, status=p.status, mandatory=p.mandatory, verdict=verdict,
                               reason=one_line(text, 2000), evidence=tuple(evidence))

    applies = q.applicability(p)
    undecided = (f"whether it applies is undecided ({_conditions(i, None)})" if applies == "undecided" else "")
    if applies == "not-applicable":
        evidence.append(EvidenceRef(source=Source.CATALOGUE, ref=f"conditions.{p.id}", supports="context",
                                    summary=f"condition not met: {_conditions(i, False)}"))
        noted = (f"although evidence from {_names(pile.fails)} counts against it: check the condition answer"
                 if pile.fails else "")
        return result(ProvisionVerdict.NOT_APPLICABLE, f"not applicable: {_conditions(i, False)}", noted)
    said = {"yes": "the vendor claims it is implemented", "no": "the vendor answers no", "unknown": ""}
    if pile.fails or (p.mandatory and claim.implemented == "no"):
        against = f"evidence against it from {_names(pile.fails)}" if pile.fails else ""
        stated = ("the vendor states it is not implemented (mandatory)" if claim.implemented == "no"
                  else said[claim.implemented])
        return result(ProvisionVerdict.FAIL, against, stated, _contradicted(i), undecided)
    if claim.implemented == "no":
        return result(ProvisionVerdict.NOT_MET_JUSTIFIED,
                      f"recommendation not met; the vendor's justification: {claim.justification.strip()}")
    if pile.supports:
        gap = _probe_gap(i) if (set(pile.untested) | set(pile.undecided)) - pile.decided else ""
        return result(ProvisionVerdict.PASS, f"supported by {_names(pile.supports)}, nothing against it",
                      said[claim.implemented], f"also: {gap}" if gap else "", _contradicted(i), undecided)
    document = bool(DOCUMENT_KINDS & set(p.evidence))
    if document and claim.implemented == "yes" and claim.evidence and not i.contradictions:
        return result(ProvisionVerdict.PASS,
                      f"source: questionnaire (a claim, weaker than a probe): the vendor claims it is "
                      f"implemented and cites {len(claim.evidence)} reference(s)", _probe_gap(i), undecided)
    return result(ProvisionVerdict.INCONCLUSIVE, _probe_gap(i), _claim_gap(i, claim, document),
                  _contradicted(i), undecided)
