"""OSCAL: the shipped catalog, SSP and plan are current and resolve; assessment-results re-parse with trestle."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest
from trestle.oscal.assessment_plan import AssessmentPlan
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog
from trestle.oscal.ssp import SystemSecurityPlan

from iotvet.assess import SCOPE_NOTE, load_catalogue
from iotvet.assess.oscal import main, render_data, write_oscal
from iotvet.assess.oscal_base import CATALOG_FILE, DATA_DIR, PLAN_FILE, SSP_FILE, dump
from iotvet.assess.result import Source
from iotvet.checks import CATALOGUE
from tests.assess.factory import HOSTILE, V, make

PROVISIONS = [p.id for p in load_catalogue().provisions]
MIXED = {"5.1-1": V.FAIL, "5.1-2": V.NOT_APPLICABLE, "5.2-2": V.NOT_MET_JUSTIFIED, "5.5-1": V.INCONCLUSIVE}


def _shipped(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA_DIR / name).read_bytes())
    return doc


def _controls(catalog: Catalog) -> list[Any]:
    return [c for g in catalog.groups or [] for c in g.controls or []]


def _control_ids(selections: Any) -> list[str]:
    return [c.control_id for s in selections.control_selections for c in s.include_controls]


def test_shipped_documents_are_current() -> None:
    stale = [name for name, data in render_data().items() if (DATA_DIR / name).read_bytes() != data]
    assert stale == [], "regenerate them: python -m iotvet.assess.oscal --write-data"


def test_write_data_writes_the_three_documents_elsewhere(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--write-data", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CATALOG_FILE, SSP_FILE, PLAN_FILE])
    assert capsys.readouterr().out.count("wrote ") == 3


def test_catalog_has_every_provision_once_in_its_clause_group() -> None:
    cat = load_catalogue()
    catalog = Catalog.model_validate(_shipped(CATALOG_FILE)["catalog"])
    assert [g.id for g in catalog.groups or []] == [f"en303645-{c.id}" for c in cat.clauses]
    controls = _controls(catalog)
    assert [c.id for c in controls] == [f"en303645-{p}" for p in PROVISIONS]
    for control, p in zip(controls, cat.provisions, strict=True):
        props = {(x.name, x.value) for x in control.props or []}
        assert ("label", p.id) in props and ("status", p.status) in props
        assert {("condition", str(n)) for n in p.conditions} <= props
        assert {("applies-to", a) for a in p.applies_to} | {("evidence", e) for e in p.evidence} <= props
        parts = {x.name: x for x in control.parts or []}
        assert parts["statement"].prose == p.summary
        assert parts["assessment-objective"].id == f"en303645-{p.id}_obj"
        methods = {m.value for x in control.parts or [] if x.name == "assessment-method" for m in x.props or []
                   if m.name == "method"}
        assert methods <= {"TEST", "EXAMINE"} and methods
    five_one_one = {(x.name, x.value, x.class_) for x in controls[1].props or []}
    assert {("psti-requirement", "psti-1", None), ("dcms-cop-guideline", "1", "key"),
            ("nist-ir8425-outcome", "8425-P2", None)} <= five_one_one
    text = (DATA_DIR / CATALOG_FILE).read_text(encoding="utf-8")
    assert "iotvet's own paraphrase" in text


def test_plan_imports_the_ssp_which_imports_the_catalog() -> None:
    plan = AssessmentPlan.model_validate(_shipped(PLAN_FILE)["assessment-plan"])
    ssp = SystemSecurityPlan.model_validate(_shipped(plan.import_ssp.href)["system-security-plan"])
    assert plan.import_ssp.href == SSP_FILE and ssp.import_profile.href == CATALOG_FILE
    control_ids = {c.id for c in _controls(Catalog.model_validate(_shipped(CATALOG_FILE)["catalog"]))}
    assert _control_ids(plan.reviewed_controls) == [f"en303645-{p}" for p in PROVISIONS]
    assert [r.control_id for r in ssp.control_implementation.implemented_requirements] == \
        [f"en303645-{p}" for p in PROVISIONS]
    activities = plan.local_definitions.activities if plan.local_definitions else None
    assert activities is not None
    keys = [next(p.value for p in a.props or [] if p.name == "activity") for a in activities]
    assert keys == ["questionnaire", "observation:tls", "observation:security-txt",
                    *(f"check:{c}" for c in CATALOGUE)]
    method = {k: next(p.value for p in a.props or [] if p.name == "method")
              for k, a in zip(keys, activities, strict=True)}
    assert method["questionnaire"] == "EXAMINE" and {method[f"check:{c}"] for c in CATALOGUE} == {"TEST"}
    for a in activities:
        assert set(_control_ids(a.related_controls)) <= control_ids if a.related_controls else True
    bola = activities[keys.index("check:api-bola-read")]
    assert _control_ids(bola.related_controls) == ["en303645-5.5-5", "en303645-5.6-2", "en303645-5.8-2"]
    uuids = {a.uuid for a in activities}
    linked = [aa.activity_uuid for t in plan.tasks or [] for aa in t.associated_activities or []]
    assert sorted(linked) == sorted(uuids)  # every activity in exactly one task


def _value(x: Any) -> Any:
    return getattr(x, "value", x)  # trestle parses a token that is also an enum member as either


def _results(data: bytes) -> AssessmentResults:
    return AssessmentResults.model_validate(json.loads(data)["assessment-results"])


def test_results_validate_round_trip_and_import_the_shipped_plan() -> None:
    a = make(verdicts=MIXED)
    data = write_oscal(a)
    ar = _results(data)
    assert dump(ar) == data  # re-serialised by trestle's models: byte for byte
    assert write_oscal(a) == data  # deterministic
    resource = next(r for r in ar.back_matter.resources or [] if f"#{r.uuid}" == ar.import_ap.href)  # type: ignore[union-attr]
    (rlink,) = resource.rlinks or []
    assert rlink.href == PLAN_FILE and (DATA_DIR / rlink.href).is_file()
    assert rlink.hashes and rlink.hashes[0].value == hashlib.sha256((DATA_DIR / PLAN_FILE).read_bytes()).hexdigest()
    (result,) = ar.results
    assert result.remarks == SCOPE_NOTE and ar.metadata.remarks == SCOPE_NOTE
    assert _control_ids(result.reviewed_controls) == [f"en303645-{p}" for p in PROVISIONS]


def test_one_finding_per_provision_with_its_objective_status() -> None:
    ar = _results(write_oscal(make(verdicts=MIXED)))
    findings = ar.results[0].findings or []
    assert [f.target.target_id for f in findings] == [f"en303645-{p}_obj" for p in PROVISIONS]
    objectives = {p["id"] for g in _shipped(CATALOG_FILE)["catalog"]["groups"] for c in g["controls"]
                  for p in c["parts"] if p["name"] == "assessment-objective"}
    assert {f.target.target_id for f in findings} <= objectives
    got = {f.target.target_id.removeprefix("en303645-").removesuffix("_obj"):
           (_value(f.target.status.state), _value(f.target.status.reason),  # type: ignore[union-attr]
            f.target.implementation_status.state if f.target.implementation_status else None,
            next(p.value for p in f.props or [] if p.name == "verdict")) for f in findings}
    assert got["5.1-1"] == ("not-satisfied", "fail", None, "fail")
    assert got["5.1-2"] == ("satisfied", "other", "not-applicable", "not-applicable")
    assert got["5.2-2"] == ("not-satisfied", "other", None, "not-met-justified")
    assert got["5.5-1"] == ("not-satisfied", "other", None, "inconclusive")
    assert got["5.1-3"] == ("satisfied", "pass", None, "pass")


def test_an_observation_per_evidence_ref_with_its_method() -> None:
    a = make(verdicts=MIXED)
    result = _results(write_oscal(a)).results[0]
    observations = {o.uuid: o for o in result.observations or []}
    refs = [e for r in a.results for e in r.evidence]
    assert len(observations) == len(refs) + len(a.contradictions)
    methods = {(next(p.value for p in o.props or [] if p.name == "source"), tuple(o.methods))
               for o in observations.values() if "ssp-statement-issue" not in (o.types or [])}
    assert methods == {(Source.QUESTIONNAIRE.value, ("EXAMINE",)), (Source.PROBE.value, ("TEST",))}
    for f in result.findings or []:
        provision = f.target.target_id.removeprefix("en303645-").removesuffix("_obj")
        related = [observations[r.observation_uuid] for r in f.related_observations or []]
        assert len([o for o in related if "ssp-statement-issue" not in (o.types or [])]) == \
            len(a.result(provision).evidence)
    issues = [o for o in observations.values() if "ssp-statement-issue" in (o.types or [])]
    assert len(issues) == 1 and {p.value for p in issues[0].props or [] if p.name == "provision"} == {"5.5-5", "5.8-2"}


def test_hostile_text_stays_text() -> None:
    data = write_oscal(make(verdicts=MIXED, hostile=True))
    assert b"<" not in data and b">" not in data and b"\x1b" not in data  # JSON escapes, markup escaped
    ar = _results(data)
    finding = (ar.results[0].findings or [])[0]
    assert "\\<script\\>" in finding.description and "<script" not in finding.description.replace("\\<", "")
    assert "\\x1b" in finding.description and "\\u202e" in finding.description
    assert ar.metadata.parties and HOSTILE[:8] in ar.metadata.parties[0].name  # type: ignore[union-attr]


def test_naive_creation_time_is_read_as_utc_and_views_become_an_attestation() -> None:
    a = make(created=datetime(2026, 11, 20, 9, 30))
    ar = _results(write_oscal(a))
    assert ar.metadata.last_modified.isoformat() == "2026-11-20T09:30:00+00:00"
    (attestation,) = ar.results[0].attestations or []
    assert [p.title for p in attestation.parts] == ["UK PSTI", "DCMS Code of Practice", "NIST IR 8425"]
    assert len(attestation.parts[0].parts or []) == 3


def test_incomplete_evidence_is_said_in_props_and_remarks() -> None:
    result = _results(write_oscal(make(incomplete=("run r1 is interrupted", "no TLS observation")))).results[0]
    assert [p.value for p in result.props or [] if p.name == "incomplete"] == \
        ["run r1 is interrupted", "no TLS observation"]
    assert result.remarks == f"{SCOPE_NOTE}\n\nEvidence incomplete: run r1 is interrupted\n\n" \
        "Evidence incomplete: no TLS observation"


def test_unknown_provision_is_refused() -> None:
    a = make()
    bad = a.model_copy(update={"results": (a.results[0].model_copy(update={"provision": "9.9-9"}), *a.results[1:])})
    with pytest.raises(ValueError, match="unknown provision"):
        write_oscal(bad)


def test_trestle_is_imported_only_when_oscal_is_written() -> None:
    code = ("import sys, iotvet.cli.app, iotvet.assess.oscal, iotvet.assess.html, iotvet.assess.compare; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'trestle'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
