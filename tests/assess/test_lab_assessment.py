"""The lab assessed end to end, as ``iotvet demo`` does, against tables written before the evaluator.

The lab (REST + MQTT) is probed with its own plan (safe-writes), its TLS and security.txt observed,
and its vendor's questionnaire evaluated; every provision's verdict, the contradicted claims, the
tallies, the exit code and the UK PSTI view must equal ``tests/assess/expected/lab-all.yaml`` and
``lab-none.yaml`` exactly. The DCMS and NIST views must follow from the expected verdicts.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from iotvet.assess import load_catalogue, load_questionnaire
from iotvet.assess.evaluate import evaluate, exit_code
from iotvet.assess.inputs import Observations, RunEvidence
from iotvet.assess.result import Assessment, ProvisionVerdict
from iotvet.assess.views import worst
from iotvet.cli.assess_run import gather_observations
from iotvet.cli.probe_cmd import probe_into_store
from iotvet.lab.runner import LabConfig, lab_in_thread, resolve_flaws
from iotvet.plan import load_plan
from iotvet.store import Store

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("mosquitto") is None, reason="the lab's MQTT half needs mosquitto")]

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "tests" / "assess" / "expected" / f"{name}.yaml").read_text("utf-8"))
    return data


def _assess(flaws: str, questionnaire: str, tmp: Path) -> tuple[Assessment, Observations]:
    db = tmp / "iotvet.db"
    with lab_in_thread(LabConfig(flaws=resolve_flaws(flaws), mqtt="on", workdir=tmp / "lab")) as lab:
        plan_path = tmp / "plan.yaml"
        lab.write_plan(plan_path)
        run_id, _outcome, redactor = probe_into_store(plan_path, str(db), progress=False)
        observations = asyncio.run(gather_observations(load_plan(str(plan_path)), redactor, now=NOW))
    with Store.open(f"sqlite:///{db}", redactor=redactor) as store:
        evidence = RunEvidence.from_run(store.load_run(run_id))
    q = load_questionnaire(str(ROOT / questionnaire))
    return evaluate(load_catalogue(), q, [evidence], observations, now=NOW), observations


@pytest.fixture(scope="module", params=["lab-all", "lab-none"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> tuple[dict[str, Any], Assessment, Observations]:
    table = _expected(request.param)
    assessment, observations = _assess(table["flaws"], table["questionnaire"], tmp_path_factory.mktemp(request.param))
    return table, assessment, observations


def test_every_provision_gets_the_expected_verdict(case: tuple[dict[str, Any], Assessment, Observations]) -> None:
    table, assessment, _ = case
    want = {pid: row["verdict"] for pid, row in table["provisions"].items()}
    got = {r.provision: r.verdict.value for r in assessment.results}
    wrong = {pid: (want[pid], got[pid], assessment.result(pid).reason) for pid in want if want[pid] != got[pid]}
    assert wrong == {}, "\n".join(f"{pid}: expected {w}, got {g}: {why}" for pid, (w, g, why) in wrong.items())
    assert set(got) == set(want)


def test_the_expected_claims_are_contradicted(case: tuple[dict[str, Any], Assessment, Observations]) -> None:
    table, assessment, _ = case
    assert [c.claim for c in assessment.contradictions] == table["contradictions"]


def test_tallies_exit_code_and_views(case: tuple[dict[str, Any], Assessment, Observations]) -> None:
    table, assessment, observations = case
    assert assessment.summary.mandatory.by_verdict == table["mandatory"]
    assert assessment.summary.recommended.by_verdict == table["recommended"]
    assert exit_code(assessment) == table["exit_code"]
    assert assessment.incomplete == (), [o.summary for o in observations.items]
    psti = assessment.views[0]
    assert psti.applicable is table["views"]["psti"]["applicable"]
    assert {i.id: i.verdict.value for i in psti.items} == {k: v for k, v in table["views"]["psti"].items()
                                                           if k.startswith("psti-")}
    verdicts = {pid: ProvisionVerdict(row["verdict"]) for pid, row in table["provisions"].items()}
    for view in assessment.views[1:]:
        for item in view.items:
            assert item.verdict is worst([verdicts[p] for p in item.provisions]), (view.framework, item.id)


def test_observations_cover_the_api_and_the_broker(case: tuple[dict[str, Any], Assessment, Observations]) -> None:
    _, _, observations = case
    kinds = sorted((o.kind, o.status) for o in observations.items)
    assert kinds == [("hsts", "absent"), ("security-txt", "ok"), ("tls-certificate", "ok"), ("tls-certificate", "ok"),
                     ("tls-version", "ok"), ("tls-version", "ok")]
