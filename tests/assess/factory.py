"""Hand-built Assessments for the writers' tests: all 68 provisions, verdicts as chosen, optionally hostile.

``make(verdicts={"5.1-1": FAIL}, default=PASS)`` gives a valid :class:`Assessment` with evidence on
every provision (a questionnaire answer; a probe cell where iotvet tests automatically), tallies
that agree with the results, and PSTI, DCMS and NIST IR 8425 views derived from them. ``hostile``
puts attacker-style text in every free-text field a vendor or a target can reach.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from iotvet.assess import SCOPE_NOTE, load_catalogue
from iotvet.assess.result import (
    Assessment,
    Contradiction,
    EvidenceRef,
    FrameworkView,
    ProvisionResult,
    ProvisionVerdict,
    Source,
    Summary,
    Tally,
    ViewItem,
)

V = ProvisionVerdict
CREATED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HOSTILE = ("<script>window.__pwned=1</script>\"'><img src=x onerror=window.__pwned=1>"
           "<a href=\"javascript:window.__pwned=1\">x</a> javascript:window.__pwned=1 [link](javascript:alert(1)) "
           "&lt;b&gt; \x1b[31mred\x1b[0m \u202eevil")
SUPPORTS = {V.PASS: "pass", V.FAIL: "fail"}


def _worst(verdicts: Iterable[V]) -> V:
    found = set(verdicts)
    for v in (V.FAIL, V.INCONCLUSIVE, V.NOT_MET_JUSTIFIED, V.PASS):
        if v in found:
            return v
    return V.NOT_APPLICABLE


def _tally(results: list[ProvisionResult], mandatory: bool) -> Tally:
    chosen = [r for r in results if r.mandatory is mandatory]
    counts = Counter(r.verdict.value for r in chosen)
    return Tally(total=len(chosen), by_verdict={v.value: counts[v.value] for v in V})


def _views(results: list[ProvisionResult], psti_applicable: bool, tag: str) -> tuple[FrameworkView, ...]:
    cat, by = load_catalogue(), {r.provision: r.verdict for r in results}

    def item(ident: str, title: str, provisions: tuple[str, ...]) -> ViewItem:
        verdict = _worst(by[p] for p in provisions)
        return ViewItem(id=ident, title=title, provisions=provisions, verdict=verdict,
                        reason=f"{verdict.value} from {', '.join(provisions)}{tag}")

    psti = FrameworkView(framework="UK PSTI", applicable=psti_applicable,
                         reason=("camera sold in the UK" if psti_applicable else "excepted category") + tag,
                         items=tuple(item(r.id, r.title, r.provisions) for r in cat.psti.requirements))
    dcms = FrameworkView(framework="DCMS Code of Practice", applicable=True, reason="always informative",
                         items=tuple(item(f"cop-{g.number}", g.title, g.provisions) for g in cat.cop.guidelines))
    nist = FrameworkView(framework="NIST IR 8425", applicable=True, reason="topic-level map",
                         items=tuple(item(o.id, o.name, cat.nist_targets(o.id)) for o in cat.nist.outcomes))
    return psti, dcms, nist


def make(vendor: str = "Acme Cloud", verdicts: Mapping[str, V] | None = None, default: V = V.PASS, *,
         hostile: bool = False, psti_applicable: bool = True, contradictions: bool = True,
         created: datetime = CREATED, incomplete: tuple[str, ...] = ()) -> Assessment:
    """An Assessment over every provision: ``verdicts`` where given, else ``default``."""
    chosen = dict(verdicts or {})
    tag = f" {HOSTILE}" if hostile else ""
    results = []
    for p in load_catalogue().provisions:
        verdict = chosen.pop(p.id, default)
        supports = SUPPORTS.get(verdict, "context")
        evidence = [EvidenceRef(source=Source.QUESTIONNAIRE, ref=f"claims.{p.id}.implemented",
                                summary=f"the vendor answers yes{tag}",
                                supports="pass" if supports == "pass" else "context")]
        if "automatic-test" in p.evidence:
            evidence.append(EvidenceRef(source=Source.PROBE, ref=f"api-bola-read@GET /v1/devices/{{id}}#{p.id}{tag}",
                                        run_id="run-20261120-0001", summary=f"cell decided {supports}{tag}",
                                        supports=supports))
        results.append(ProvisionResult(provision=p.id, status=p.status, mandatory=p.mandatory, verdict=verdict,
                                       reason=f"{verdict.value} for {p.id}{tag}", evidence=tuple(evidence)))
    assert not chosen, f"unknown provisions {sorted(chosen)}"
    found = ()
    if contradictions:
        cited = EvidenceRef(source=Source.PROBE, ref=f"api-bola-read@GET /v1/devices/{{id}}#tenant{tag}",
                            run_id="run-20261120-0001", summary=f"tenant B read tenant A's device{tag}",
                            supports="fail")
        found = (Contradiction(claim="access_control.tenant_segregation", claimed=f"yes{tag}",
                               observed=f"another tenant's device was readable{tag}", provisions=("5.5-5", "5.8-2"),
                               evidence=(cited,)),)
    return Assessment(vendor=f"{vendor}{tag}", standard="EN 303 645 V2.1.1", scope_note=SCOPE_NOTE, created=created,
                      runs=("run-20261120-0001", *((f"run{tag}",) if hostile else ())),
                      questionnaire=f"acme.yaml sha256:{'ab12' * 16}{tag}", results=tuple(results),
                      contradictions=found,
                      summary=Summary(mandatory=_tally(results, True), recommended=_tally(results, False)),
                      views=_views(results, psti_applicable, tag), incomplete=tuple(f"{w}{tag}" for w in incomplete))
