"""The terminal report (rich): summary, findings, the access matrix, what the plan could not test.

Every piece of target data is wrapped in a :class:`rich.text.Text` (never parsed as markup)
after :func:`~iotvet.report.text.one_line` has turned ANSI and other control characters into
visible escapes, so a hostile body can neither colour, move nor clear the terminal.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from iotvet.core.records import Severity, Verdict
from iotvet.report.baseline import BaselineState
from iotvet.report.model import Report, remediation
from iotvet.report.text import iso, one_line

SEVERITY_STYLE = {Severity.CRITICAL: "bold white on red", Severity.HIGH: "bold red", Severity.MEDIUM: "yellow",
                  Severity.LOW: "cyan", Severity.INFO: "dim"}
VERDICT = {Verdict.LEAK: ("LEAK", "bold white on red"), Verdict.ENFORCED: ("ok", "green"),
           Verdict.INCONCLUSIVE: ("??", "yellow"), Verdict.NOT_TESTED: ("--", "dim")}


def _t(value: object, limit: int | None = 160, style: str = "") -> Text:
    return Text(one_line(str(value) if value is not None else "", limit), style=style)


def _summary(report: Report) -> Text:
    run = report.data.run
    out = Text()
    out.append("iotvet report ", style="bold")
    out.append_text(_t(run.id))
    out.append("  target ")
    out.append_text(_t(run.target, 80))
    status_style = "green" if run.complete else "bold yellow"
    out.append(f"\nstatus {run.status.value}", style=status_style)
    if run.reason:
        out.append(" (")
        out.append_text(_t(run.reason, 120))
        out.append(")")
    out.append(f"  started {iso(run.started)}  finished {iso(run.finished) or '-'}  mode {one_line(run.mode) or '-'}")
    stats = report.data.stats
    out.append(f"\n{stats.sent} requests sent, {stats.mqtt_messages} MQTT messages, "
               f"{sum(stats.cells.values())} cells decided; {len(report.active)} findings count, "
               f"{sum(f.suppression is not None for f in report.findings)} suppressed")
    if report.baseline_ref is not None:
        out.append(f"\nbaseline {one_line(report.baseline_ref)}: {report.count(BaselineState.NEW)} new, "
                   f"{report.count(BaselineState.UNCHANGED)} unchanged (hidden), "
                   f"{report.count(BaselineState.ABSENT)} absent (fixed)")
    return out


def _findings(report: Report) -> Table:
    table = Table(title="Findings", title_justify="left", show_lines=False, expand=False)
    for col in ("severity", "check", "operation / topic", "relation", "attacker → victim", "state"):
        table.add_column(col, overflow="fold")
    for item in report.shown:
        f = item.finding
        state = "suppressed" if item.suppression else (item.baseline.value if item.baseline else "")
        table.add_row(Text(f.severity.value.upper(), style=SEVERITY_STYLE[f.severity]), _t(f.check), _t(f.target, 80),
                      _t(f.relation.value if f.relation else "-"), _t(f"{f.attacker or '-'} → {f.victim or '-'}", 60),
                      _t(state))
    return table


def _matrix(report: Report) -> Table:
    table = Table(title="Access matrix (rows: check x operation/topic; columns: relation)", title_justify="left")
    table.add_column("check")
    table.add_column("operation / topic", overflow="fold")
    for rel in report.relations:
        table.add_column(rel.value, justify="center")
    for row in report.matrix:
        cells = []
        for rel in report.relations:
            cell = row.cells.get(rel)
            label, style = VERDICT[cell.verdict] if cell else ("", "")
            cells.append(Text(label, style=style))
        table.add_row(_t(row.check), _t(row.place, 70), *cells)
    return table


def render(report: Report, *, color: bool = False, width: int = 140) -> bytes:
    """The terminal report; ANSI colours only when ``color``."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False, emoji=False, markup=False, soft_wrap=False)
    console.print(_summary(report))
    for warning in report.warnings:
        console.print(_t("warning: " + warning, None, "yellow"))
    console.print(_findings(report) if report.shown else Text("No findings.", style="green"))
    checks = sorted({i.finding.check for i in report.shown})
    if checks:
        console.print(Text("Remediation", style="bold"))
        for check in checks:
            first = next(i.finding for i in report.shown if i.finding.check == check)
            console.print(Text.assemble(Text(f"  {check}: ", style="bold"), _t(remediation(first), None)))
    if report.matrix:
        console.print(_matrix(report))
        console.print(Text("LEAK = leaked   ok = enforced   ?? = inconclusive   -- = not tested", style="dim"))
    if report.data.untested:
        console.print(Text("Relations the plan's identities cannot test", style="bold"))
        for u in report.data.untested:
            console.print(Text.assemble(Text(f"  {u.relation.value}: ", style="bold"), _t(u.reason, None),
                                        Text(" — add: "), _t(u.add, None)))
    return buf.getvalue().encode("utf-8")
