"""docs/ASSESS.md documents every questionnaire key and category; the shipped JSON Schemas are current."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from iotvet.assess import SCOPE_NOTE, load_catalogue
from iotvet.assess.fields import Section
from iotvet.assess.questionnaire import Questionnaire
from iotvet.assess.schemas import SCHEMAS, render

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "ASSESS.md").read_text(encoding="utf-8")


def _keys(model: type[Section]) -> set[str]:
    found = set(model.model_fields)
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, Section):
            found |= _keys(field.annotation)
    return found


def test_every_questionnaire_key_is_documented() -> None:
    documented = set(re.findall(r"`([a-z0-9_]+)`", DOC))
    keys = _keys(Questionnaire) | {"implemented", "justification", "evidence"}
    assert sorted(keys - documented) == []


def test_every_product_category_is_documented() -> None:
    documented = set(re.findall(r"`([a-z0-9-]+)`", DOC))
    assert sorted({c.id for c in load_catalogue().psti.categories} - documented) == []


def test_the_scope_note_is_quoted_verbatim() -> None:
    assert f"> {SCOPE_NOTE}\n" in DOC


def test_architecture_lists_the_layer() -> None:
    assert "| assess | `iotvet.assess` |" in (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_shipped_schema_is_current(name: str) -> None:
    shipped = (ROOT / "schemas" / name).read_text(encoding="utf-8")
    assert shipped == render(name), (
        "stale schema: python -c \"from iotvet.assess.schemas import write; write('schemas')\"")


@pytest.mark.parametrize("name", ["lab-questionnaire.yaml", "lab-questionnaire-vehicle.yaml"])
def test_lab_questionnaires_match_the_json_schema(name: str) -> None:
    schema = json.loads((ROOT / "schemas" / "questionnaire.schema.json").read_text(encoding="utf-8"))
    data = yaml.safe_load((ROOT / "src" / "iotvet" / "assess" / "data" / name).read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(json.dumps(data, default=str)), schema)
    data["claims"]["5.1-11"] = {}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(json.dumps(data, default=str)), schema)
