"""Synthetic evidence for the evaluator's tests: cells, findings, runs, observations and questionnaires."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import yaml

from iotvet.assess import Questionnaire, load_catalogue
from iotvet.assess.evaluate import evaluate
from iotvet.assess.inputs import Observation, Observations, RunEvidence
from iotvet.assess.result import Assessment
from iotvet.checks.registry import CATALOGUE
from iotvet.core.records import Cell, Finding, Operation, Relation, Verdict

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LAB = yaml.safe_load(resources.files("iotvet.assess").joinpath("data", "lab-questionnaire.yaml").read_text("utf-8"))


def questionnaire(**changes: Any) -> Questionnaire:
    """The lab questionnaire with top-level sections or single claims changed.

    ``claims={"5.1-5": {...}}`` replaces those claims; any other key replaces (a mapping: updates)
    that section.
    """
    data = yaml.safe_load(yaml.safe_dump(LAB))
    for key, value in changes.items():
        if key == "claims":
            data["claims"].update(value)
        elif isinstance(value, dict):
            data[key].update(value)
        else:
            data[key] = value
    return Questionnaire.model_validate(data)


def blank(**conditions: str) -> Questionnaire:
    """A questionnaire with every claim unknown (and the given condition answers)."""
    return Questionnaire.model_validate({"vendor": {"name": "Blank"}, "conditions": conditions})


def _place(check: str, place: str | None) -> dict[str, Any]:
    if CATALOGUE[check].plane == "mqtt":
        return {"plane": "mqtt", "topic": place or "{tenant}/{device}/telemetry"}
    method, _, path = (place or "GET /vehicles/{vin}").partition(" ")
    return {"plane": "http", "operation": Operation(method=method, path=path)}


def cell(check: str, verdict: str, *, place: str | None = None, relation: str = "other-tenant",
         reason: str = "synthetic") -> Cell:
    return Cell(check=check, relation=Relation(relation), verdict=Verdict(verdict), reason=reason,
                attacker="mallory", victim="alice", **_place(check, place))


def finding(check: str, *, place: str | None = None, relation: str = "other-tenant") -> Finding:
    info = CATALOGUE[check]
    return Finding(check=check, severity=info.severity, title=info.title, relation=Relation(relation),
                   attacker="mallory", victim="alice", standards=list(info.standards), **_place(check, place))


def leak(check: str, **kw: Any) -> tuple[Cell, Finding]:
    """A leak cell and its finding."""
    return cell(check, "leak", **kw), finding(check, **kw)


def run(*items: Cell | Finding | tuple[Cell, Finding], run_id: str = "r1", status: str = "complete") -> RunEvidence:
    cells: list[Cell] = []
    findings: list[Finding] = []
    for item in items:
        for one in item if isinstance(item, tuple) else (item,):
            (cells if isinstance(one, Cell) else findings).append(one)
    return RunEvidence(run_id=run_id, status=status, mode="safe-writes", cells=tuple(cells), findings=tuple(findings))


def observed(kind: str, status: str, subject: str = "api.example:443", **kw: Any) -> Observation:
    return Observation(kind=kind, subject=subject, status=status, summary=f"{kind} {status}", **kw)  # type: ignore[arg-type]


def assess(q: Questionnaire | None = None, *runs: RunEvidence, observations: tuple[Observation, ...] = (),
           ) -> Assessment:
    return evaluate(load_catalogue(), q if q is not None else questionnaire(), list(runs),
                    Observations(items=observations), now=NOW)
