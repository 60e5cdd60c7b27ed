"""JUnit XML for CI test tabs: one testcase per check x operation-or-topic.

A testcase fails when any relation leaks there (a counted finding), errors when a cell is
inconclusive, is skipped when nothing could be tested (or every leak is suppressed or known
from the baseline), and passes otherwise. One suite per check family, plus ``iotvet.run``
whose single testcase errors when the run is incomplete.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field

from iotvet.core.records import Verdict
from iotvet.report.baseline import BaselineState
from iotvet.report.model import Report, ReportFinding, check_info, remediation
from iotvet.report.text import iso, one_line, visible


@dataclass
class _Case:
    check: str
    place: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    findings: list[ReportFinding] = field(default_factory=list)


def _cases(report: Report) -> list[_Case]:
    cases: dict[tuple[str, str], _Case] = {}
    for row in report.matrix:
        case = cases.setdefault((row.check, row.place), _Case(row.check, row.place))
        for rel, cell in row.cells.items():
            case.verdicts[rel.value] = cell.verdict
            case.reasons[rel.value] = cell.reason
    for item in report.findings:
        if item.baseline is BaselineState.ABSENT:
            continue
        f = item.finding
        cases.setdefault((f.check, f.target), _Case(f.check, f.target)).findings.append(item)
    return [cases[k] for k in sorted(cases)]


def _finding_text(item: ReportFinding) -> str:
    f = item.finding
    lines = [f"{f.title}", f"relation: {f.relation.value if f.relation else '-'}; attacker: {f.attacker or '-'}; "
             f"victim: {f.victim or '-'}; fingerprint: {item.fingerprint}"]
    for ev in f.evidence:
        lines.append(f"evidence: {ev.summary}")
        if ev.http is not None:
            lines.append(f"  {ev.http.method} {ev.http.url} -> {ev.http.status}")
            if ev.http.response_body:
                lines.append("  " + ev.http.response_body[:2000])
        if ev.mqtt is not None:
            lines.append(f"  {ev.mqtt.action} {ev.mqtt.topic or ''}: {(ev.mqtt.payload or '')[:2000]}")
    if f.reproduction:
        lines.append(f"reproduction:\n{f.reproduction}")
    lines.append(f"remediation: {remediation(f)}")
    return visible("\n".join(lines))


def _testcase(suite: ET.Element, case: _Case) -> str:
    info = check_info(case.check, case.findings[0].finding if case.findings else None)
    el = ET.SubElement(suite, "testcase", classname=one_line(f"iotvet.{info.family}.{case.check}"),
                       name=one_line(f"[{info.severity.value.upper()}] {case.check} {case.place}"), time="0")
    counted = [i for i in case.findings if i.active]
    quiet = [i for i in case.findings if not i.active]
    inconclusive = sorted(r for r, v in case.verdicts.items() if v is Verdict.INCONCLUSIVE)
    if counted:
        rels = sorted({i.finding.relation.value for i in counted if i.finding.relation})
        node = ET.SubElement(el, "failure", type="leak", message=one_line(f"{info.title} ({', '.join(rels)})", 500))
        node.text = "\n\n".join(_finding_text(i) for i in counted)
        return "failure"
    if inconclusive:
        node = ET.SubElement(el, "error", type="inconclusive", message=one_line(
            "inconclusive for " + ", ".join(f"{r}: {case.reasons.get(r, '')}" for r in inconclusive), 500))
        node.text = visible("\n".join(f"{r}: {case.reasons.get(r, '')}" for r in inconclusive))
        return "error"
    if quiet:
        why = "; ".join(f"suppressed: {i.suppression.reason}" if i.suppression else "unchanged since the baseline"
                        for i in quiet)
        ET.SubElement(el, "skipped", message=one_line(why, 500))
        return "skipped"
    if case.verdicts and all(v is Verdict.NOT_TESTED for v in case.verdicts.values()):
        ET.SubElement(el, "skipped", message=one_line("not tested: " + "; ".join(
            f"{r}: {case.reasons.get(r, '')}" for r in sorted(case.verdicts)), 500))
        return "skipped"
    return "passed"


def _suite(root: ET.Element, name: str, timestamp: str) -> ET.Element:
    return ET.SubElement(root, "testsuite", name=name, timestamp=timestamp, time="0")


def render(report: Report) -> bytes:
    """The JUnit XML document as UTF-8 bytes."""
    run = report.data.run
    stamp = iso(run.started) or ""
    root = ET.Element("testsuites", name=f"iotvet {one_line(run.id)}")
    totals: dict[str, int] = defaultdict(int)
    suites: dict[str, tuple[ET.Element, dict[str, int]]] = {}
    for case in _cases(report):
        family = check_info(case.check).family
        if family not in suites:
            suites[family] = (_suite(root, f"iotvet.{family}", stamp), defaultdict(int))
        suite, counts = suites[family]
        outcome = _testcase(suite, case)
        counts[outcome] += 1
        counts["tests"] += 1
    run_suite = _suite(root, "iotvet.run", stamp)
    run_case = ET.SubElement(run_suite, "testcase", classname="iotvet.run", name=one_line(f"run {run.id}"), time="0")
    run_counts = {"tests": 1, "error": 0}
    if not run.complete:
        ET.SubElement(run_case, "error", type=run.status.value,
                      message=one_line(f"run {run.status.value}: {run.reason or 'no reason recorded'}", 500))
        run_counts["error"] = 1
    for suite, counts in [*suites.values(), (run_suite, run_counts)]:
        for attr, key in (("tests", "tests"), ("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            suite.set(attr, str(counts.get(key, 0)))
            totals[attr] += counts.get(key, 0)
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(totals[attr]))
    root.set("time", "0")
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"
