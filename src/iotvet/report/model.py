"""The view every format renders: a run's findings with suppression and baseline state, and its matrix."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from iotvet.checks import CATALOGUE, CheckInfo
from iotvet.core.records import Cell, Finding, Operation, Relation, Severity, Verdict
from iotvet.report.baseline import Baseline, BaselineState
from iotvet.report.ignore import IgnoreRule, expiry_warnings
from iotvet.store import RunData, place


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why a finding is not counted: an ignore entry."""

    reason: str
    source: str
    expires: dt.date | None = None
    ticket: str | None = None


@dataclass(frozen=True, slots=True)
class ReportFinding:
    """A finding as reported."""

    finding: Finding
    suppression: Suppression | None = None
    baseline: BaselineState | None = None

    @property
    def fingerprint(self) -> str:
        """The finding's stable identity across runs."""
        return self.finding.fingerprint

    @property
    def active(self) -> bool:
        """Counts for ``--fail-on``: not suppressed, not known from the baseline, not fixed."""
        return self.suppression is None and self.baseline not in (BaselineState.UNCHANGED, BaselineState.ABSENT)

    @property
    def hidden(self) -> bool:
        """Left out of human formats: unchanged since the baseline."""
        return self.baseline is BaselineState.UNCHANGED


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """One operation or topic of one check, with its verdict per relation."""

    check: str
    plane: str
    operation: Operation | None
    topic: str | None
    cells: dict[Relation, Cell]

    @property
    def place(self) -> str:
        """``GET /path`` or the topic."""
        return str(self.operation) if self.operation is not None else (self.topic or "")


@dataclass(frozen=True)
class Report:
    """Everything a format renders."""

    data: RunData
    findings: list[ReportFinding]
    matrix: list[MatrixRow]
    relations: list[Relation]
    warnings: list[str] = field(default_factory=list)
    baseline_ref: str | None = None
    generated: float = 0.0

    @property
    def active(self) -> list[ReportFinding]:
        """Findings that count for the gate."""
        return [f for f in self.findings if f.active]

    @property
    def shown(self) -> list[ReportFinding]:
        """Findings human formats list: all but those unchanged since the baseline."""
        return [f for f in self.findings if not f.hidden]

    def count(self, state: BaselineState) -> int:
        """How many findings have baseline state ``state``."""
        return sum(f.baseline is state for f in self.findings)

    def checks(self) -> list[CheckInfo]:
        """Catalogue entries of every check that appears in the findings or the matrix, by id."""
        ids = {f.finding.check for f in self.findings} | {row.check for row in self.matrix}
        return [check_info(i) for i in sorted(ids)]


def check_info(check_id: str, finding: Finding | None = None) -> CheckInfo:
    """The catalogue entry of ``check_id``; for an id the catalogue lacks, one made from the finding."""
    info = CATALOGUE.get(check_id)
    if info is not None:
        return info
    return CheckInfo(id=check_id, family="other", plane=finding.plane if finding else "http",
                     severity=finding.severity if finding else Severity.MEDIUM,
                     title=finding.title if finding else check_id,
                     remediation=finding.remediation if finding else "", standards=tuple(finding.standards)
                     if finding else ())


def remediation(finding: Finding) -> str:
    """The finding's remediation, or the catalogue's text for its check."""
    return finding.remediation or check_info(finding.check, finding).remediation


def _matrix(cells: Sequence[Cell], findings: Sequence[Finding]) -> list[MatrixRow]:
    rows: dict[tuple[str, str, str], MatrixRow] = {}
    synthetic = [Cell(check=f.check, plane=f.plane, operation=f.operation, topic=f.topic, relation=f.relation,
                      verdict=Verdict.LEAK, reason=f.title, attacker=f.attacker, victim=f.victim)
                 for f in findings if f.relation is not None]
    for cell in [*cells, *synthetic]:
        key = (cell.check, cell.plane, place(cell))
        row = rows.setdefault(key, MatrixRow(cell.check, cell.plane, cell.operation, cell.topic, {}))
        row.cells.setdefault(cell.relation, cell)  # a recorded cell wins over one made from a finding
    return [rows[k] for k in sorted(rows)]


def build_report(data: RunData, *, rules: Sequence[IgnoreRule] = (), baseline: Baseline | None = None,
                 today: dt.date | None = None, generated: float | None = None) -> Report:
    """The report of ``data`` with ignore entries and a baseline applied."""
    today = today or dt.datetime.now(dt.UTC).date()
    live = [r for r in rules if not r.expired(today)]
    out: list[ReportFinding] = []
    for finding in data.findings:
        rule = next((r for r in live if r.matches(finding)), None)
        suppression = Suppression(rule.reason, str(rule.source), rule.expires, rule.ticket) if rule else None
        state = None
        if baseline is not None:
            state = BaselineState.UNCHANGED if finding.fingerprint in baseline.findings else BaselineState.NEW
        out.append(ReportFinding(finding, suppression, state))
    if baseline is not None:
        current = {f.fingerprint for f in data.findings}
        out += [ReportFinding(f, None, BaselineState.ABSENT)
                for fp, f in baseline.findings.items() if fp not in current]
    out.sort(key=lambda i: (i.baseline is BaselineState.ABSENT, -i.finding.severity.rank, i.finding.check,
                            i.finding.target, i.finding.relation or "", i.fingerprint))
    matrix = _matrix(data.cells, data.findings)
    used = {rel for row in matrix for rel in row.cells}
    return Report(data=data, findings=out, matrix=matrix, relations=[r for r in Relation if r in used],
                  warnings=expiry_warnings(list(rules), today), baseline_ref=baseline.ref if baseline else None,
                  generated=generated if generated is not None else time.time())
