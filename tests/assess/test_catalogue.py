"""The catalogue: 68 provisions exactly once, well-formed ids, and every reference resolving."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from iotvet.assess import load_catalogue
from iotvet.assess.catalogue import PROVISION_ID, Catalogue
from iotvet.assess.fields import Section, provisions_of
from iotvet.assess.questionnaire import Conditions, ProductCategory, Questionnaire
from iotvet.checks import CATALOGUE as CHECKS

CAT = load_catalogue()
IDS = [p.id for p in CAT.provisions]
EXPECTED_IDS = (
    ["4-1"]
    + [f"5.{c}-{n}" for c, count in zip(range(1, 14), (5, 3, 16, 4, 8, 9, 2, 3, 3, 1, 4, 3, 1), strict=True)
       for n in range(1, count + 1)]
    + [f"6-{n}" for n in range(1, 6)]
)


def test_68_provisions_each_exactly_once() -> None:
    assert len(IDS) == 68 == len(set(IDS))
    assert IDS == EXPECTED_IDS  # in the standard's order, nothing missing, nothing extra


def test_ids_are_well_formed_and_clauses_listed() -> None:
    assert all(PROVISION_ID.fullmatch(i) for i in IDS)
    assert [c.id for c in CAT.clauses] == list(dict.fromkeys(p.clause for p in CAT.provisions))


def test_33_mandatory_35_recommended_23_conditional() -> None:
    assert Counter(p.mandatory for p in CAT.provisions) == {True: 33, False: 35}
    assert sum(p.conditional for p in CAT.provisions) == 23


@pytest.mark.parametrize(("pid", "status"), [
    ("4-1", "M"), ("5.1-1", "M C(1)"), ("5.1-5", "M C(5)"), ("5.2-1", "M"), ("5.2-2", "R"), ("5.3-6", "R C(9,12)"),
    ("5.3-10", "M C(11,12)"), ("5.3-13", "M"), ("5.3-14", "R C(3,4)"), ("5.4-2", "M C(10)"), ("5.6-4", "M C(13)"),
    ("5.10-1", "R C(6)"), ("6-2", "M C(7)"), ("6-4", "R C(6)"), ("6-5", "M C(6)"),
])
def test_statuses_as_table_b1_writes_them(pid: str, status: str) -> None:
    assert CAT.provision(pid).status == status


def test_13_conditions_every_conditional_provision_resolves() -> None:
    assert [c.id for c in CAT.conditions] == list(range(1, 14))
    used = {c for p in CAT.provisions for c in p.conditions}
    assert used <= set(CAT.condition_by_id)
    assert used == set(range(1, 14))  # every condition decides at least one provision


def test_each_condition_is_decided_by_a_questionnaire_answer() -> None:
    fields = set(Conditions.model_fields)
    assert {c.question for c in CAT.conditions} == fields
    assert {(c.question, c.holds_when) for c in CAT.conditions if c.id in (4, 5)} == {
        ("constrained_device", "yes"), ("constrained_device", "no")}


def test_every_provision_has_evidence_applies_to_and_own_words() -> None:
    first = Counter(p.evidence[0] for p in CAT.provisions)
    assert first == {"tool-assisted": 28, "document": 21, "automatic-test": 11, "lab": 8}
    for p in CAT.provisions:
        assert p.applies_to and p.tags and 20 < len(p.summary) < 300, p.id
        assert "\n" not in p.summary and "shall" not in p.summary.lower(), p.id


def test_mapping_targets_resolve() -> None:
    known = set(IDS)
    for g in CAT.cop.guidelines:
        assert set(g.provisions) <= known and set(g.key) <= set(g.provisions), g.number
    for r in CAT.psti.requirements:
        assert set(r.provisions) <= known, r.id
    for o in CAT.nist.outcomes:
        assert set(o.provisions) <= known and all(CAT.in_clauses((c,)) for c in o.clauses), o.id
    for change in CAT.versions.changes:
        assert change.provision is None or change.provision in known


def test_dcms_cop_has_13_guidelines_and_leaves_three_provisions_unmapped() -> None:
    assert [g.number for g in CAT.cop.guidelines] == list(range(1, 14))
    covered = {p for g in CAT.cop.guidelines for p in g.provisions}
    assert set(IDS) - covered == {"4-1", "5.3-16", "5.8-3"}
    assert sum(len(g.provisions) for g in CAT.cop.guidelines) == 67
    for g in CAT.cop.guidelines:  # guideline n sits in clause 5.n (8 also in 6)
        clauses = {CAT.provision(p).clause for p in g.key}
        assert f"5.{g.number}" in clauses or (g.number == 8 and "6" in clauses)


def test_psti_three_requirements_and_categories() -> None:
    assert [(r.paragraph, r.provisions) for r in CAT.psti.requirements] == [
        (1, ("5.1-1", "5.1-2")), (2, ("5.2-1",)), (3, ("5.3-13",))]
    assert CAT.psti.standard_version == "EN 303 645 V2.1.1"
    assert [c.id for c in CAT.psti.categories] == list(get_args(ProductCategory))
    excepted = {c.id for c in CAT.psti.categories if c.status == "excepted"}
    assert excepted == {"ev-charge-point", "medical-device", "smart-meter", "computer", "vehicle"}
    assert "manufacturer" in CAT.psti.manufacturer_duty


def test_nist_ir8425_ten_outcomes() -> None:
    expected = [*(f"8425-P{i}" for i in range(1, 7)), *(f"8425-D{i}" for i in range(1, 5))]
    assert [o.id for o in CAT.nist.outcomes] == expected
    assert sum(len(CAT.nist_targets(o.id)) for o in CAT.nist.outcomes) == 97
    assert CAT.nist_targets("8425-P6") == ("5.7-1", "5.7-2", "5.10-1", "6-4", "6-5")


def test_v3_notes_are_marked_with_confidence() -> None:
    assert {v.id for v in CAT.versions.versions if v.confidence == "verified"} == {
        "EN 303 645 V2.1.1", "EN 303 645 V3.1.3"}
    move = [c for c in CAT.versions.changes if c.provision == "4-1"]
    assert [c.confidence for c in move] == ["unverified"]


def test_check_catalogue_references_resolve() -> None:
    refs = {s.split(":", 1)[1] for c in CHECKS.values() for s in c.standards if s.startswith("EN303645:")}
    assert refs and refs <= set(IDS)


def test_questionnaire_fields_reference_real_provisions() -> None:
    sections: list[type[Section]] = [Questionnaire]
    seen = 0
    while sections:
        model = sections.pop()
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section):
                sections.append(field.annotation)
            refs = provisions_of(model, name)
            seen += len(refs)
            assert set(refs) <= set(IDS), f"{model.__name__}.{name}"
    assert seen > 50


def _data() -> dict[str, Any]:
    return CAT.model_dump(mode="json")


@pytest.mark.parametrize(("where", "break_it", "message"), [
    ("duplicate", lambda d: d["provisions"].append(d["provisions"][0]), "appears twice"),
    ("malformed", lambda d: d["provisions"][0].update(id="5.1.1"), "malformed provision id"),
    ("condition", lambda d: d["provisions"][1].update(conditions=(14,)), "unknown condition"),
    ("cop", lambda d: d["cop"]["guidelines"][0].update(provisions=("5.1-9",), key=("5.1-9",)), "unknown provision"),
    ("psti", lambda d: d["psti"]["requirements"][0].update(provisions=("5.1-11",)), "unknown provision"),
    ("nist", lambda d: d["nist"]["outcomes"][0].update(clauses=("5.14",)), "unknown clause"),
    ("version", lambda d: d["versions"]["changes"][6].update(v2="R"), "disagrees"),
])
def test_broken_data_fails_to_load(where: str, break_it: Any, message: str) -> None:
    data = _data()
    break_it(data)
    with pytest.raises(ValidationError, match=re.escape(message)):
        Catalogue.model_validate(data)
