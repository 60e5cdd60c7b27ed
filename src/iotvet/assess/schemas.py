"""JSON Schemas of the questionnaire and the catalogue, as shipped in the repository's ``schemas/`` folder.

Regenerate after changing a model: ``python -c "from iotvet.assess.schemas import write; write('schemas')"``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from iotvet.assess.catalogue import Catalogue
from iotvet.assess.questionnaire import Questionnaire
from iotvet.assess.result import Assessment

SCHEMAS: dict[str, type[BaseModel]] = {
    "questionnaire.schema.json": Questionnaire,
    "assess-catalogue.schema.json": Catalogue,
    "assessment.schema.json": Assessment,
}
_IDS = {
    "questionnaire.schema.json": "an iotvet vendor questionnaire (iotvet assess init / validate)",
    "assess-catalogue.schema.json": "iotvet's assessment catalogue: EN 303 645 V2.1.1, DCMS, PSTI and NIST maps",
    "assessment.schema.json": "an iotvet assessment (iotvet assess run -o json=FILE)",
}


def render(name: str) -> str:
    """The schema file ``name`` as it should read (JSON Schema 2020-12, sorted keys, trailing newline)."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$comment": f"Schema of {_IDS[name]}.",
              **SCHEMAS[name].model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(folder: str) -> None:
    """Write every schema into ``folder``."""
    for name in SCHEMAS:
        (Path(folder) / name).write_text(render(name), encoding="utf-8")
