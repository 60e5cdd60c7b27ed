"""Baselines: the findings of an earlier run (stored, or a JSON report file) to compare against."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

from pydantic import ValidationError

from iotvet.core.errors import UserError
from iotvet.core.records import Finding
from iotvet.store import RunData

_FINDING_FIELDS = set(Finding.model_fields)


class BaselineState(enum.StrEnum):
    """SARIF's ``baselineState``: how a finding stands against the baseline."""

    NEW = "new"
    UNCHANGED = "unchanged"
    ABSENT = "absent"


@dataclass(frozen=True)
class Baseline:
    """Findings of the earlier run by fingerprint; ``ref`` names it in reports."""

    ref: str
    findings: dict[str, Finding] = field(default_factory=dict)


def baseline_from_run(data: RunData) -> Baseline:
    """The findings of a stored run."""
    return Baseline(ref=data.run.id, findings={f.fingerprint: f for f in data.findings})


def baseline_from_json(raw: bytes, ref: str) -> Baseline:
    """The findings of an iotvet JSON report (absent ones, fixed by then, are left out)."""
    try:
        doc = json.loads(raw)
        items = doc["findings"]
        findings = [Finding.model_validate({k: v for k, v in item.items() if k in _FINDING_FIELDS})
                    for item in items if item.get("baseline_state") != BaselineState.ABSENT.value]
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise UserError(f"not an iotvet JSON report ({type(exc).__name__})", None) from None
    return Baseline(ref=ref, findings={f.fingerprint: f for f in findings})
