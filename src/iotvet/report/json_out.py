"""The canonical JSON report (``schemas/report.schema.json``).

Machine-readable and complete: every finding of the run is listed, including those unchanged
since the baseline (``baseline_state: "unchanged"``) and suppressed ones (``suppression``), so
the file can itself serve as a later ``--baseline``. Findings keep the Finding fields exactly.
"""

from __future__ import annotations

from typing import Any

from iotvet import __version__
from iotvet.report.baseline import BaselineState
from iotvet.report.model import Report, ReportFinding, check_info, remediation
from iotvet.report.text import iso, json_text

SCHEMA_VERSION = 1


def finding_json(item: ReportFinding) -> dict[str, Any]:
    """A finding: the Finding fields exactly, plus fingerprint, suppression and baseline state."""
    out: dict[str, Any] = item.finding.model_dump(mode="json")
    out["remediation"] = remediation(item.finding)
    out["fingerprint"] = item.fingerprint
    sup = item.suppression
    out["suppression"] = None if sup is None else {
        "reason": sup.reason, "source": sup.source, "expires": sup.expires.isoformat() if sup.expires else None,
        "ticket": sup.ticket}
    out["baseline_state"] = item.baseline.value if item.baseline else None
    return out


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON report as plain data."""
    data, run = report.data, report.data.run
    by_severity: dict[str, int] = {}
    for f in report.active:
        by_severity[f.finding.severity.value] = by_severity.get(f.finding.severity.value, 0) + 1
    baseline = None if report.baseline_ref is None else {
        "ref": report.baseline_ref, **{s.value: report.count(s) for s in BaselineState}}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "iotvet", "version": __version__},
        "generated": iso(report.generated),
        "run": {"id": run.id, "started": iso(run.started), "finished": iso(run.finished), "status": run.status.value,
                "complete": run.complete, "reason": run.reason, "plan_digest": run.plan_digest,
                "plan_file": run.plan_file, "target": run.target, "mode": run.mode, "tool_version": run.tool_version,
                "budgets": run.budgets, "sessions": run.sessions,
                "identities": [i.model_dump(mode="json") for i in data.identities]},
        "stats": data.stats.model_dump(mode="json"),
        "summary": {"findings": len(report.findings), "active": len(report.active),
                    "suppressed": sum(f.suppression is not None for f in report.findings),
                    "by_severity": by_severity, "baseline": baseline},
        "findings": [finding_json(f) for f in report.findings],
        "matrix": [{"check": row.check, "plane": row.plane,
                    "operation": row.operation.model_dump(mode="json") if row.operation else None,
                    "topic": row.topic, "place": row.place,
                    "cells": {rel.value: {"verdict": c.verdict.value, "reason": c.reason, "attacker": c.attacker,
                                          "victim": c.victim} for rel, c in row.cells.items()}}
                   for row in report.matrix],
        "untested": [u.model_dump(mode="json") for u in data.untested],
        "checks": {c.id: {"title": c.title, "family": c.family, "plane": c.plane, "severity": c.severity.value,
                          "remediation": c.remediation, "standards": list(c.standards)}
                   for c in (check_info(i.id) for i in report.checks())},
        "warnings": list(report.warnings),
    }


def render(report: Report) -> bytes:
    """The JSON report as UTF-8 bytes."""
    return (json_text(report_dict(report)) + "\n").encode("utf-8")
