"""The provision verdicts counted, and seen through UK PSTI, the DCMS Code of Practice and NIST IR 8425.

A view item's verdict is the worst of its provisions' (FAIL > INCONCLUSIVE > NOT_MET_JUSTIFIED >
PASS); not-applicable provisions are left out, and an item is NOT_APPLICABLE only when all are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from iotvet.assess.catalogue import Catalogue
from iotvet.assess.questionnaire import Questionnaire
from iotvet.assess.result import FrameworkView, ProvisionResult, ProvisionVerdict, Summary, Tally, ViewItem

V = ProvisionVerdict
WORST_FIRST = (V.FAIL, V.INCONCLUSIVE, V.NOT_MET_JUSTIFIED, V.PASS)


def worst(verdicts: Sequence[ProvisionVerdict]) -> ProvisionVerdict:
    """The worst verdict; NOT_APPLICABLE only when every one is (or there is none)."""
    for verdict in WORST_FIRST:
        if verdict in verdicts:
            return verdict
    return V.NOT_APPLICABLE


def tally(results: Sequence[ProvisionResult]) -> Tally:
    """Counts by verdict, every verdict named (zeros included)."""
    return Tally(total=len(results), by_verdict={v.value: sum(r.verdict is v for r in results) for v in V})


def summary(results: Sequence[ProvisionResult]) -> Summary:
    """Mandatory and recommended provisions, counted by verdict."""
    return Summary(mandatory=tally([r for r in results if r.mandatory]),
                   recommended=tally([r for r in results if not r.mandatory]))


def item(item_id: str, title: str, provisions: Sequence[str], by_id: Mapping[str, ProvisionResult]) -> ViewItem:
    """One requirement of another framework, judged by its provisions."""
    verdicts = [by_id[p].verdict for p in provisions]
    verdict = worst(verdicts)
    groups = [f"{v.value}: {', '.join(p for p in provisions if by_id[p].verdict is v)}"
              for v in (*WORST_FIRST, V.NOT_APPLICABLE) if v in verdicts]
    return ViewItem(id=item_id, title=title, provisions=tuple(provisions), verdict=verdict,
                    reason=f"{verdict.value} (worst of its provisions); " + "; ".join(groups))


def psti(catalogue: Catalogue, q: Questionnaire, by_id: Mapping[str, ProvisionResult]) -> FrameworkView:
    """UK PSTI: applicability from the product category and market, and its three requirements."""
    status = q.psti_applicability()
    category = catalogue.psti.category(q.vendor.product_category)
    why = {"applies": f"applies: {category.label} ({category.id}), sold to UK consumers",
           "not-applicable": (f"does not apply: {category.label} ({category.id}) is {category.status}"
                              if category.status in ("excepted", "out-of-scope")
                              else "does not apply: not sold to UK consumers"),
           "undecided": f"undecided: category {category.id}, UK market {q.vendor.uk_market}"}[status]
    duty = "; the duty is the manufacturer's, this is evidence for its statement of compliance"
    return FrameworkView(framework=catalogue.psti.name, applicable=status == "applies", reason=why + duty,
                         items=tuple(item(r.id, r.title, r.provisions, by_id) for r in catalogue.psti.requirements))


def cop(catalogue: Catalogue, by_id: Mapping[str, ProvisionResult]) -> FrameworkView:
    """The DCMS Code of Practice's 13 guidelines."""
    return FrameworkView(framework=catalogue.cop.name, applicable=True,
                         reason="voluntary code; guideline n corresponds to EN 303 645 clause 5.n",
                         items=tuple(item(f"cop-{g.number}", g.title, g.provisions, by_id)
                                     for g in catalogue.cop.guidelines))


def nist(catalogue: Catalogue, by_id: Mapping[str, ProvisionResult]) -> FrameworkView:
    """NIST IR 8425's ten outcomes, through iotvet's topic-level map."""
    return FrameworkView(framework=catalogue.nist.name, applicable=True,
                         reason="voluntary US profile; iotvet's own topic-level map, not an official crosswalk",
                         items=tuple(item(o.id, o.name, catalogue.nist_targets(o.id), by_id)
                                     for o in catalogue.nist.outcomes))


def views(catalogue: Catalogue, q: Questionnaire, results: Sequence[ProvisionResult]) -> tuple[FrameworkView, ...]:
    """PSTI, the DCMS Code of Practice and NIST IR 8425, in that order."""
    by_id = {r.provision: r for r in results}
    return psti(catalogue, q, by_id), cop(catalogue, by_id), nist(catalogue, by_id)
