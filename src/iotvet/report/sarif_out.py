"""SARIF 2.1.0 (validated against the OASIS schema in tests) for GitHub code scanning and other viewers.

Findings are not in code: each result points at the plan file (GitHub needs a physical
location), names the operation or topic as a logical location, and carries the HTTP evidence
in ``webRequest``/``webResponse``. ``partialFingerprints`` hold the finding's stable
fingerprint. Suppressed findings stay in as ``suppressions``; with a baseline every result
has a ``baselineState`` and unchanged results stay in, so viewers keep tracking them.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from iotvet import __version__
from iotvet.checks import CheckInfo
from iotvet.core.records import Finding, HttpEvidence, Severity
from iotvet.report.baseline import BaselineState
from iotvet.report.model import Report, ReportFinding, remediation
from iotvet.report.text import iso, json_text

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFO_URI = "https://github.com/iotvet/iotvet"
LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note",
         Severity.INFO: "note"}
# GitHub: > 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, <= 3.9 low
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "2.0",
                     Severity.INFO: "0.0"}
TAXONOMIES = {
    "EN303645": {"name": "ETSI EN 303 645", "organization": "ETSI",
                 "informationUri": "https://www.etsi.org/deliver/etsi_en/303600_303699/303645/",
                 "shortDescription": {"text": "Cyber Security for Consumer Internet of Things: Baseline Requirements"}},
    "OWASP-API": {"name": "OWASP API Security Top 10", "organization": "OWASP", "version": "2023",
                  "informationUri": "https://owasp.org/API-Security/editions/2023/en/0x11-t10/",
                  "shortDescription": {"text": "OWASP Top 10 API Security Risks, 2023 edition"}},
}


def _standard(ref: str) -> tuple[str, str] | None:
    prefix, _, taxon = ref.partition(":")
    return (prefix, taxon) if prefix in TAXONOMIES and taxon else None


def _rule(info: CheckInfo) -> dict[str, Any]:
    refs = [s for s in (_standard(r) for r in info.standards) if s]
    return {
        "id": info.id,
        "name": "".join(part.capitalize() for part in info.id.split("-")),
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": f"{info.title}. Checked on the {info.plane.upper()} plane ({info.family})."},
        "help": {"text": info.remediation,
                 "markdown": f"**Remediation.** {info.remediation}\n\n**Standards:** {', '.join(info.standards)}"},
        "defaultConfiguration": {"level": LEVEL[info.severity]},
        "relationships": [{"target": {"id": taxon, "toolComponent": {"name": TAXONOMIES[prefix]["name"]}},
                           "kinds": ["relevant"]} for prefix, taxon in refs],
        "properties": {"tags": list(dict.fromkeys(["security", "iot", info.family, info.plane,
                                                            *info.standards]))[:20],
                       "security-severity": SECURITY_SEVERITY[info.severity], "precision": "high",
                       "standards": list(info.standards)},
    }


def _web(http: HttpEvidence) -> dict[str, Any]:
    request: dict[str, Any] = {"protocol": "HTTP", "version": "1.1", "target": http.url, "method": http.method,
                               "headers": dict(http.request_headers)}
    if http.request_body is not None:
        request["body"] = {"text": http.request_body}
    if http.status is None:
        return {"webRequest": request, "webResponse": {"noResponseReceived": True}}
    response: dict[str, Any] = {"protocol": "HTTP", "version": "1.1", "statusCode": http.status,
                                "headers": dict(http.response_headers)}
    if http.response_body is not None:
        response["body"] = {"text": http.response_body}
    return {"webRequest": request, "webResponse": response}


def _artifact(plan_file: str) -> str:
    path = PurePosixPath(plan_file or "iotvet.yaml")
    return quote(str(path.name if path.is_absolute() else path), safe="/._-~")


def _message(f: Finding, place: str) -> str:
    who = f"{f.attacker or 'an anonymous client'} ({f.relation.value if f.relation else 'n/a'})"
    victim = f" on {f.victim}'s data" if f.victim else ""
    return f"{f.title}: {who} at {place}{victim}."


def _result(item: ReportFinding, index: dict[str, int], artifact: str) -> dict[str, Any]:
    f = item.finding
    place = f.target
    absent = item.baseline is BaselineState.ABSENT
    result: dict[str, Any] = {
        "ruleId": f.check, "ruleIndex": index[f.check],
        "kind": "pass" if absent else "fail", "level": "none" if absent else LEVEL[f.severity],
        "message": {"text": _message(f, place)},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact}, "region": {"startLine": 1}},
                       "logicalLocations": [{"name": place, "kind": "resource",
                                             "fullyQualifiedName": f"{f.plane}:{place}"}]}],
        "partialFingerprints": {"iotvetFingerprint/v1": item.fingerprint, "primaryLocationLineHash": item.fingerprint},
        "properties": {"severity": f.severity.value, "security-severity": SECURITY_SEVERITY[f.severity],
                       "plane": f.plane, "relation": f.relation.value if f.relation else None,
                       "attacker": f.attacker, "victim": f.victim, "remediation": remediation(f),
                       "reproduction": f.reproduction, "standards": list(f.standards),
                       "evidence": [e.model_dump(mode="json") for e in f.evidence]},
    }
    http = next((e.http for e in f.evidence if e.http is not None), None)
    if http is not None:
        result.update(_web(http))
    if item.suppression is not None:
        sup = item.suppression
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": sup.reason,
                                   "properties": {"source": sup.source, "ticket": sup.ticket,
                                                  "expires": sup.expires.isoformat() if sup.expires else None}}]
    if item.baseline is not None:
        result["baselineState"] = item.baseline.value
    return result


def sarif_dict(report: Report) -> dict[str, Any]:
    """The SARIF log as plain data."""
    run = report.data.run
    checks = report.checks()
    index = {c.id: i for i, c in enumerate(checks)}
    used = sorted({p for c in checks for p, _ in filter(None, map(_standard, c.standards))})
    taxonomies = [{**TAXONOMIES[p], "isComprehensive": False,
                   "taxa": [{"id": t} for t in sorted({t for c in checks for q, t in
                                                       filter(None, map(_standard, c.standards)) if q == p})]}
                  for p in used]
    invocation: dict[str, Any] = {"executionSuccessful": run.complete, "startTimeUtc": iso(run.started)}
    if run.finished is not None:
        invocation["endTimeUtc"] = iso(run.finished)
    if not run.complete:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": f"run {run.status.value}: {run.reason or 'no reason recorded'}"}}]
    if report.warnings:
        invocation["toolConfigurationNotifications"] = [{"level": "warning", "message": {"text": w}}
                                                        for w in report.warnings]
    host = (urlsplit(run.target).hostname or "target") if "://" in run.target else "target"
    return {
        "$schema": SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "iotvet", "semanticVersion": __version__, "version": __version__,
                                "informationUri": INFO_URI, "rules": [_rule(c) for c in checks],
                                "supportedTaxonomies": [{"name": TAXONOMIES[p]["name"]} for p in used]}},
            "taxonomies": taxonomies,
            "automationDetails": {"id": f"iotvet/{host}/{run.id}"},
            "invocations": [invocation],
            "results": [_result(item, index, _artifact(run.plan_file)) for item in report.findings],
            "properties": {"run": run.id, "status": run.status.value, "target": run.target,
                           "untested": [u.model_dump(mode="json") for u in report.data.untested],
                           "stats": report.data.stats.model_dump(mode="json")},
        }],
    }


def render(report: Report) -> bytes:
    """The SARIF log as UTF-8 bytes."""
    return (json_text(sarif_dict(report)) + "\n").encode("utf-8")
