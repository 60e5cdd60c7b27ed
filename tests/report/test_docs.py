"""docs/REPORTS.md describes every top-level field of the JSON report and every CLI verb of this area."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "REPORTS.md").read_text(encoding="utf-8")


def test_every_json_field_and_verb_is_documented() -> None:
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    missing = [key for key in schema["properties"] if f"`{key}`" not in DOC]
    missing += [verb for verb in ("iotvet report", "iotvet runs", "iotvet diff") if verb not in DOC]
    missing += [opt for opt in ("--format", "--output", "--fail-on", "--ignore-file", "--baseline", "--db")
                if opt not in DOC]
    assert missing == []
