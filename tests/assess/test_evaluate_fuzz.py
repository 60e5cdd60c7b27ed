"""Property: whatever cells, verdicts, findings, observations and answers come in, ``evaluate`` answers.

It never raises, gives one result per provision, tallies that add up, views of the right size,
and the same JSON for the same inputs.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotvet.assess import load_catalogue
from iotvet.assess.evaluate import evaluate, exit_code
from iotvet.assess.inputs import Observation, Observations, RunEvidence
from iotvet.assess.result import ProvisionVerdict
from iotvet.checks.registry import CATALOGUE
from iotvet.core.records import Cell, Finding, Operation, Relation, Severity, Verdict
from tests.assess.synthetic import NOW, blank, questionnaire

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHECKS = st.sampled_from([*sorted(CATALOGUE), "api-unknown", ""])
TEXT = st.text(max_size=30)
PLACE = st.one_of(st.builds(Operation, method=st.sampled_from(["GET", "POST", "x"]), path=TEXT), st.none())


@st.composite
def cells(draw: Any) -> Cell:
    op = draw(PLACE)
    return Cell(check=draw(CHECKS), plane=draw(st.sampled_from(["http", "mqtt"])), operation=op,
                topic=None if op else draw(st.one_of(TEXT, st.none())), relation=draw(st.sampled_from(list(Relation))),
                verdict=draw(st.sampled_from(list(Verdict))), reason=draw(TEXT),
                attacker=draw(st.one_of(TEXT, st.none())), victim=draw(st.one_of(TEXT, st.none())))


@st.composite
def findings(draw: Any) -> Finding:
    op = draw(PLACE)
    return Finding(check=draw(CHECKS), severity=draw(st.sampled_from(list(Severity))), title=draw(TEXT),
                   plane=draw(st.sampled_from(["http", "mqtt"])), operation=op, topic=None if op else draw(TEXT),
                   relation=draw(st.one_of(st.none(), st.sampled_from(list(Relation)))),
                   attacker=draw(st.one_of(TEXT, st.none())), victim=draw(st.one_of(TEXT, st.none())))


RUNS = st.lists(st.builds(RunEvidence, run_id=st.sampled_from(["r1", "r2", "r3"]),
                          status=st.sampled_from(["complete", "incomplete", "running", "interrupted"]),
                          cells=st.lists(cells(), max_size=12).map(tuple),
                          findings=st.lists(findings(), max_size=6).map(tuple)), max_size=3)
OBSERVATIONS = st.lists(st.builds(
    Observation, kind=st.sampled_from(["tls-version", "tls-certificate", "hsts", "security-txt"]), subject=TEXT,
    status=st.sampled_from(["ok", "problem", "absent", "inconclusive"]), summary=TEXT,
    problems=st.lists(TEXT, max_size=2).map(tuple), notes=st.lists(TEXT, max_size=2).map(tuple)), max_size=5)
QUESTIONNAIRES = st.sampled_from([
    questionnaire(), blank(), blank(constrained_device="yes", passwords_used="no"),
    questionnaire(claims={"5.1-1": {"implemented": "no"}, "5.9-2": {"implemented": "no", "justification": "x"}},
                  access_control={"tenant_segregation": "no"}, communications={"minimum_tls_version": "tls1.3"}),
])


@FUZZ
@given(runs=RUNS, observations=OBSERVATIONS, q=QUESTIONNAIRES)
def test_evaluate_never_raises_and_stays_consistent(runs: list[RunEvidence], observations: list[Observation],
                                                    q: Any) -> None:
    catalogue = load_catalogue()
    a = evaluate(catalogue, q, runs, Observations(items=tuple(observations)), now=NOW)
    assert [r.provision for r in a.results] == [p.id for p in catalogue.provisions]
    assert a.summary.mandatory.total + a.summary.recommended.total == 68
    assert sum(a.summary.mandatory.by_verdict.values()) == a.summary.mandatory.total
    assert [len(v.items) for v in a.views] == [3, 13, 10]
    assert all(r.reason for r in a.results)
    for r in a.results:
        if r.verdict is ProvisionVerdict.FAIL:
            assert any(e.supports == "fail" for e in r.evidence)
    assert exit_code(a) in (0, 1, 3)
    again = evaluate(catalogue, q, runs, Observations(items=tuple(observations)), now=NOW)
    assert again.model_dump_json() == a.model_dump_json()
