"""Report test helpers: the two JSON Schemas, loaded once."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@cache
def _validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_report(doc: Any) -> None:
    """Raise unless ``doc`` is a valid iotvet JSON report."""
    _validator("report.schema.json").validate(doc)


def validate_sarif(doc: Any) -> None:
    """Raise unless ``doc`` is valid SARIF 2.1.0 (the official OASIS schema)."""
    _validator("sarif-schema-2.1.0.json").validate(doc)
