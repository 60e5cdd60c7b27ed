"""REST probe I against the lab over real HTTPS: every ground-truth cell found, nothing on traps,
everything enforced with the flaws off, the same verdicts on every run, in three API shapes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from iotvet.api.fetch import transport_fetcher
from iotvet.api.openapi import load_openapi
from iotvet.auth import open_sessions
from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.lab.runner import LabConfig, lab_in_thread, resolve_flaws
from iotvet.plan import load_plan
from iotvet.probes.rest.engine import RestSummary, probe_rest
from iotvet.transport import Governor, HttpTransport

pytestmark = pytest.mark.timeout(180)

CHECKS = {"api-bola-read", "api-bola-write", "api-unauth", "api-bfla", "api-xtenant-admin", "api-mass-assign",
          "api-xbrand-token"}
SHAPES = (0, 3, 174)
Key = tuple[str, str, str, str]


@dataclass
class Run:
    cells: list[Cell] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    summary: RestSummary | None = None
    permits: int = 0
    truth: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def leaks(self) -> set[Key]:
        return {_key(c) for c in self.cells if c.verdict.value == "leak"}

    def verdicts(self) -> dict[Key, str]:
        return {_key(c): c.verdict.value for c in self.cells}


def _key(c: Cell) -> Key:
    assert c.operation is not None
    return (c.check, c.operation.method, c.operation.path, c.relation.value)


def _truth_cells(truth: dict[str, Any], section: str) -> set[Key]:
    out: set[Key] = set()
    for entry in truth[section]:
        for cell in entry["cells"]:
            if "operation" in cell and (section == "traps" or entry["check"] in CHECKS):
                op = cell["operation"]
                out.add((entry.get("check", "*"), op["method"], op["path"], cell["relation"]))
    return out


def probe_lab(flaws: str, shape: int, tmp: Path, runs: int = 1, *, mode: str | None = None,
              only: set[str] | None = None) -> list[Run]:
    """Probe a fresh lab ``runs`` times (the plan's safety mode replaced by ``mode`` when given)."""
    results: list[Run] = []
    with lab_in_thread(LabConfig(flaws=resolve_flaws(flaws), shape_seed=shape, mqtt="off", workdir=tmp)) as lab:
        plan_path = tmp / "plan.yaml"
        lab.write_plan(plan_path)
        if mode is not None:
            doc = yaml.safe_load(plan_path.read_text())
            doc["safety"]["mode"] = mode
            plan_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        loaded = load_plan(str(plan_path))
        plan = loaded.plan
        assert plan.target is not None and plan.target.openapi and plan.target.ca
        for _ in range(runs):
            run = Run(truth=lab.ground_truth(), secrets=[v for _, v in loaded.secrets])

            async def go(run: Run = run) -> None:
                redactor = Redactor(loaded.secrets)
                governor = Governor(rate=plan.safety.rate * 20, concurrency=plan.safety.concurrency,
                                    max_requests=plan.safety.max_requests, max_duration=plan.safety.max_duration)
                async with HttpTransport(Scope(plan.scope.hosts), governor, run_id="r-lab",
                                         ca=str(loaded.resolve(plan.target.ca))) as http:  # type: ignore[union-attr]
                    sessions = await open_sessions(loaded, http, redactor)
                    model = await load_openapi(plan.target.openapi, transport_fetcher(http))  # type: ignore[union-attr,arg-type]
                    run.summary = await probe_rest(plan, model, sessions, redactor, on_cell=run.cells.append,
                                                   on_finding=run.findings.append, only=only)
                run.permits = governor.usage.permits

            asyncio.run(go())
            results.append(run)
    return results


@pytest.fixture(scope="module", params=SHAPES)
def shape(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(scope="module")
def runs_all(shape: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    yield probe_lab("all", shape, tmp_path_factory.mktemp(f"all{shape}"), only=CHECKS)[0]


@pytest.fixture(scope="module")
def runs_none(shape: int, tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    return probe_lab("none", shape, tmp_path_factory.mktemp(f"none{shape}"), runs=5, only=CHECKS)


def test_every_ground_truth_cell_leaks_with_a_finding(runs_all: Run) -> None:
    want = _truth_cells(runs_all.truth, "flaws")
    assert want, "the lab declares cells for this issue's checks"
    assert want - runs_all.leaks() == set()
    assert runs_all.leaks() - want == set()  # no leak the lab did not plant
    found = {(f.check, f.operation.method, f.operation.path, f.relation.value)  # type: ignore[union-attr]
             for f in runs_all.findings}
    assert found == runs_all.leaks()


def test_no_finding_on_traps(runs_all: Run) -> None:
    traps = {k[1:] for k in _truth_cells(runs_all.truth, "traps")}
    assert {k for k in runs_all.leaks() if k[1:] in traps} == set()


def test_findings_carry_evidence_and_no_secret(runs_all: Run) -> None:
    for finding in runs_all.findings:
        assert finding.evidence and finding.reproduction and finding.remediation and finding.standards
        text = finding.model_dump_json()
        assert [s for s in runs_all.secrets if s in text] == []
        assert "Bearer eyJ" not in text


def test_flaws_off_zero_findings_decided_and_deterministic(runs_none: list[Run], runs_all: Run) -> None:
    first = runs_none[0]
    assert first.findings == []
    verdicts = first.verdicts()
    for key in runs_all.leaks():
        assert verdicts.get(key) == "enforced", key
    assert first.summary is not None and first.summary.decided_share >= 0.95
    for other in runs_none[1:]:
        assert other.verdicts() == verdicts


def test_requests_per_cell(runs_all: Run) -> None:
    assert runs_all.summary is not None
    tested = runs_all.summary.cells - runs_all.summary.by_verdict.get("not-tested", 0)
    assert runs_all.permits / tested < 10  # discovery included; see benchmarks/ for the precise figures


@pytest.mark.parametrize("flaw", ["bola-read-cross-brand", "bola-read-cross-customer", "bola-command-foreign-vehicle",
                                  "unauth-location", "bfla-admin-functions", "cross-brand-admin", "mass-assignment",
                                  "brand-from-header"])
def test_each_flaw_alone_gives_exactly_its_cells(flaw: str, tmp_path: Path) -> None:
    """Attribution: with one flaw on, every leak is one of that flaw's cells, under that flaw's check."""
    run = probe_lab(flaw, 3, tmp_path, only=CHECKS)[0]
    assert run.leaks() == _truth_cells(run.truth, "flaws")
