"""The evaluation rules, one by one, on synthetic runs and observations (docs/ASSESS.md, "Evaluation rules")."""

from __future__ import annotations

import random
from datetime import timedelta

from iotvet.assess import load_catalogue
from iotvet.assess.evaluate import EXIT_FAIL, EXIT_INCOMPLETE, EXIT_OK, evaluate, exit_code
from iotvet.assess.inputs import Observations
from iotvet.assess.result import ProvisionVerdict, Source
from tests.assess.synthetic import NOW, assess, blank, cell, finding, leak, observed, questionnaire, run

V = ProvisionVerdict


def test_a_condition_that_does_not_hold_makes_the_provision_not_applicable_even_against_a_leak() -> None:
    a = assess(questionnaire(), run(leak("id-shared-cred", relation="device")))
    r = a.result("5.1-2")  # C(2): preinstalled_passwords no
    assert r.verdict is V.NOT_APPLICABLE
    assert r.reason.startswith("not applicable: C(2) preinstalled_passwords: no")
    assert "check the condition answer" in r.reason
    assert any(e.source is Source.CATALOGUE for e in r.evidence)
    assert a.result("5.1-1").verdict is V.FAIL  # C(1) holds: the same leak fails it


def test_a_finding_fails_every_provision_it_is_mapped_to_and_is_cited_with_its_run() -> None:
    cell_, found = leak("api-bola-read")
    a = assess(questionnaire(), run(cell_, found, run_id="r-A"))
    for pid in ("5.5-5", "5.8-2"):
        r = a.result(pid)
        assert r.verdict is V.FAIL
        refs = [e for e in r.evidence if e.supports == "fail" and e.source is Source.PROBE]
        assert [(e.ref, e.run_id) for e in refs] == [(found.fingerprint, "r-A")]
        assert "api-bola-read" in r.reason and "the vendor claims it is implemented" in r.reason
    assert a.result("5.6-2").verdict is not V.FAIL  # deliberately not mapped for api-bola-read (evidence map)


def test_a_leak_cell_without_a_finding_still_fails_and_is_named_by_its_cell() -> None:
    a = assess(questionnaire(), run(cell("api-input-validation", "leak", place="GET /trips", relation="self")))
    r = a.result("5.13-1")
    assert r.verdict is V.FAIL
    assert "api-input-validation@GET /trips#self" in [e.ref for e in r.evidence if e.supports == "fail"]


def test_an_observation_problem_fails_its_provisions_and_clean_ones_support() -> None:
    bad = observed("tls-version", "problem", problems=("accepts TLSv1.0",))
    a = assess(blank(), observations=(bad, observed("tls-certificate", "ok")))
    assert a.result("5.5-1").verdict is V.FAIL
    assert a.result("5.8-1").verdict is V.FAIL
    assert a.result("5.5-7").verdict is V.PASS  # the certificate alone supports it
    fail = [e for e in a.result("5.5-1").evidence if e.supports == "fail"]
    assert [(e.source, e.ref) for e in fail] == [(Source.OBSERVATION, "tls-version:api.example:443")]


def test_a_mandatory_provision_the_vendor_answers_no_fails_without_any_probe() -> None:
    q = questionnaire(claims={"5.3-16": {"implemented": "no", "justification": "no label"}})
    r = assess(q).result("5.3-16")
    assert r.verdict is V.FAIL and "the vendor states it is not implemented" in r.reason


def test_a_recommendation_answered_no_with_a_justification_is_not_met_justified() -> None:
    r = assess(questionnaire()).result("5.11-4")
    assert r.verdict is V.NOT_MET_JUSTIFIED
    assert "emailed confirmation is planned" in r.reason
    # a justified no outranks probe support, but never a leak
    assert assess(questionnaire(), run(leak("api-plaintext", relation="self"))).result("5.8-1").verdict is V.FAIL


def test_enforced_cells_pass_a_provision_unless_a_leak_or_a_no_says_otherwise() -> None:
    enforced = cell("api-input-validation", "enforced", relation="self")
    assert assess(questionnaire(), run(enforced)).result("5.13-1").verdict is V.PASS
    r = assess(blank(), run(enforced)).result("5.13-1")  # claim unknown: the probe alone decides
    assert r.verdict is V.PASS and "supported by api-input-validation" in r.reason
    mixed = run(enforced, leak("api-mass-assign", relation="self"))
    assert assess(questionnaire(), mixed).result("5.13-1").verdict is V.FAIL
    q = questionnaire(claims={"5.13-1": {"implemented": "no"}})
    assert assess(q, run(enforced)).result("5.13-1").verdict is V.FAIL  # mandatory, answered no


def test_a_referenced_claim_passes_document_provisions_as_a_weaker_source() -> None:
    r = assess(questionnaire()).result("4-1")
    assert r.verdict is V.PASS and "source: questionnaire" in r.reason
    assert [e.supports for e in r.evidence if e.source is Source.QUESTIONNAIRE] == ["pass"]
    without = assess(questionnaire()).result("5.3-8")  # yes, but no reference
    assert without.verdict is V.INCONCLUSIVE and "cites no reference (claims.5.3-8.evidence)" in without.reason
    q = questionnaire(claims={"5.5-4": {"implemented": "yes", "evidence": ["https://x.example/doc"]}})
    probe_only = assess(q).result("5.5-4")  # automatic-test only: a document cannot decide it
    assert probe_only.verdict is V.INCONCLUSIVE and "a claim cannot decide" in probe_only.reason


def test_inconclusive_says_what_is_missing() -> None:
    a = assess(blank())
    r = a.result("5.2-2")
    assert r.verdict is V.INCONCLUSIVE
    assert r.reason == "no iotvet probe or observation tests it; the questionnaire says unknown"
    throttle = a.result("5.1-5")
    assert "no probe or observation evidence (it would come from auth-no-throttle)" in throttle.reason
    assert "whether it applies is undecided (C(5) constrained_device: unknown)" in throttle.reason
    untested = assess(questionnaire(), run(cell("auth-no-throttle", "not-tested", relation="anonymous",
                                                reason="intrusive mode only"))).result("5.1-5")
    assert untested.verdict is V.INCONCLUSIVE
    assert untested.reason.startswith("auth-no-throttle not tested (intrusive mode only)")


def test_contradictions_name_the_claim_the_evidence_and_the_affected_provisions() -> None:
    cell_, found = leak("api-bola-read")
    a = assess(questionnaire(), run(cell_, found))
    claims = [c.claim for c in a.contradictions]
    assert claims == ["access_control.tenant_segregation", "access_control.object_ownership_checks"]
    first = a.contradictions[0]
    assert first.claimed == "yes" and first.provisions == ("5.5-5", "5.8-2")
    assert [e.ref for e in first.evidence] == [found.fingerprint]
    assert "access_control.tenant_segregation: yes" in a.result("5.8-2").reason
    # a leak between roles of one customer is no tenant crossing
    lower = assess(questionnaire(), run(leak("api-bola-read", relation="lower-role")))
    assert [c.claim for c in lower.contradictions] == ["access_control.object_ownership_checks"]
    # only an answer the table lists is contradicted
    q = questionnaire(access_control={"tenant_segregation": "no", "object_ownership_checks": "unknown"})
    assert assess(q, run(cell_, found)).contradictions == ()


def test_a_contradicted_claim_cannot_carry_a_questionnaire_pass() -> None:
    q = questionnaire(claims={"5.1-3": {"implemented": "yes", "evidence": ["https://x.example/auth.pdf"]}})
    assert assess(q).result("5.1-3").verdict is V.PASS
    stale = run(leak("auth-stale-token", place="POST /auth/logout", relation="self"))
    a = assess(q, stale)
    assert [c.claim for c in a.contradictions] == ["authentication.sessions_end_on_logout"]
    r = a.result("5.1-3")  # informed by the contradicted answer, failed by nothing
    assert r.verdict is V.INCONCLUSIVE and "contradicted" in r.reason


def test_security_txt_absence_contradicts_the_claim_but_fails_nothing() -> None:
    a = assess(questionnaire(), observations=(observed("security-txt", "absent"),))
    assert [c.claim for c in a.contradictions] == ["vulnerability_disclosure.security_txt"]
    r = a.result("5.2-1")
    assert r.verdict is V.INCONCLUSIVE  # the referenced claim is contradicted, and absence proves nothing
    assert any(e.source is Source.OBSERVATION and e.supports == "context" for e in r.evidence)
    ok = assess(blank(), observations=(observed("security-txt", "ok"),)).result("5.2-1")
    assert ok.verdict is V.PASS
    broken = assess(questionnaire(), observations=(observed("security-txt", "problem", problems=("expired",)),))
    assert broken.result("5.2-1").verdict is V.FAIL


def test_hsts_is_context_only() -> None:
    for status in ("ok", "absent", "inconclusive"):
        a = assess(blank(), observations=(observed("hsts", status),))
        r = a.result("5.5-1")
        assert r.verdict is V.INCONCLUSIVE
        assert [e.supports for e in r.evidence if e.source is Source.OBSERVATION] == ["context"]
        assert a.incomplete == ()  # an HSTS answer that could not be learnt leaves the evidence complete


def test_views_take_the_worst_verdict_and_psti_follows_category_and_market() -> None:
    a = assess(questionnaire(), run(leak("id-shared-cred", relation="device")))
    psti, cop, nist = a.views
    assert psti.applicable and [i.verdict for i in psti.items] == [V.FAIL, V.PASS, V.PASS]
    assert "fail: 5.1-1" in psti.items[0].reason and "not-applicable: 5.1-2" in psti.items[0].reason
    assert len(cop.items) == 13 and len(nist.items) == 10
    assert cop.items[0].verdict is V.FAIL  # guideline 1 holds 5.1-1
    vehicle = assess(questionnaire(vendor={"product_category": "vehicle"}))
    assert not vehicle.views[0].applicable and "excepted" in vehicle.views[0].reason
    q = questionnaire(conditions={"non_updatable_software": "no"})
    only_na = [i for i in assess(q).views[2].items if set(i.provisions) <= {"5.3-14", "5.3-15"}]
    assert all(i.verdict is V.NOT_APPLICABLE for i in only_na)


def test_summary_counts_every_provision_once() -> None:
    a = assess(questionnaire(), run(leak("api-bola-read")))
    assert a.summary.mandatory.total == 33 and a.summary.recommended.total == 35
    assert sum(a.summary.mandatory.by_verdict.values()) == 33
    assert set(a.summary.recommended.by_verdict) == {v.value for v in V}
    assert a.summary.mandatory.by_verdict["fail"] == sum(r.mandatory and r.verdict is V.FAIL for r in a.results)


def test_exit_codes_fail_before_incomplete() -> None:
    assert exit_code(assess(questionnaire())) == EXIT_OK
    partial = run(cell("api-unauth", "enforced", relation="anonymous"), status="incomplete")
    a = assess(questionnaire(), partial)
    assert a.incomplete == ("run r1 is incomplete",) and exit_code(a) == EXIT_INCOMPLETE
    inconclusive = assess(questionnaire(), observations=(observed("tls-version", "inconclusive"),))
    assert exit_code(inconclusive) == EXIT_INCOMPLETE
    failing = run(leak("api-unauth", relation="anonymous"), status="incomplete")
    assert exit_code(assess(questionnaire(), failing)) == EXIT_FAIL
    only_r = assess(questionnaire(), run(leak("api-unauth", relation="anonymous")))
    assert only_r.result("5.5-4").verdict is V.FAIL  # 5.5-4 is R, but api-unauth also fails 5.6-2 (M)
    assert exit_code(only_r) == EXIT_FAIL
    q = questionnaire(claims={"5.11-2": {"implemented": "no", "justification": "later"}})
    assert exit_code(assess(q, run(leak("mq-plaintext", relation="self")))) == EXIT_FAIL


def test_unknown_checks_and_duplicate_runs_change_nothing() -> None:
    strange = cell("api-unauth", "leak").model_copy(update={"check": "api-not-in-the-map"})
    base = assess(questionnaire())
    odd = assess(questionnaire(), run(strange), run(strange))
    assert odd.runs == ("r1",)
    assert [r.verdict for r in odd.results] == [r.verdict for r in base.results]


def test_same_inputs_give_the_same_json_whatever_the_order() -> None:
    items = [*leak("api-bola-read"), *leak("mq-xtenant-read"), cell("api-unauth", "enforced", relation="anonymous"),
             cell("auth-no-throttle", "not-tested", relation="anonymous"), finding("jwt-none", relation="anonymous"),
             cell("api-bfla", "inconclusive", relation="lower-role")]
    obs = (observed("tls-version", "ok"), observed("hsts", "absent"), observed("security-txt", "ok"))
    first = evaluate(load_catalogue(), questionnaire(), [run(*items), run(run_id="r2")], Observations(items=obs),
                     now=NOW)
    shuffled = items[:]
    random.Random(7).shuffle(shuffled)
    second = evaluate(load_catalogue(), questionnaire(), [run(*shuffled), run(run_id="r2")],
                      Observations(items=obs[::-1]), now=NOW + timedelta(hours=1))
    assert first.created != second.created
    assert first.model_dump_json(exclude={"created"}) == second.model_dump_json(exclude={"created"})
