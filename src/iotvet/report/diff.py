"""``iotvet diff RUN_A RUN_B``: what changed between two runs of the same provider.

New findings and cells that went from ``enforced`` to ``leak`` are regressions; findings gone
and cells that went from ``leak`` to ``enforced`` are fixes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from iotvet.core.records import Cell, Finding, Severity, Verdict
from iotvet.report.text import json_text, one_line
from iotvet.store import RunData, RunInfo, cell_key


@dataclass(frozen=True)
class CellChange:
    """One cell whose verdict differs between the runs."""

    key: tuple[str, str, str, str]
    before: Verdict | None
    after: Verdict | None

    @property
    def regression(self) -> bool:
        """The cell leaks now and did not before."""
        return self.after is Verdict.LEAK and self.before is not Verdict.LEAK


@dataclass(frozen=True)
class RunDiff:
    """Findings and verdicts of run ``b`` compared with run ``a``."""

    a: RunInfo
    b: RunInfo
    new: list[Finding]
    fixed: list[Finding]
    unchanged: list[Finding]
    cells: list[CellChange]

    def regressions(self, fail_on: Severity | None) -> int:
        """New findings at or above ``fail_on`` (none when ``fail_on`` is None)."""
        return 0 if fail_on is None else sum(f.severity >= fail_on for f in self.new)


def diff_runs(a: RunData, b: RunData) -> RunDiff:
    """Compare two runs by finding fingerprint and by cell key."""
    fa = {f.fingerprint: f for f in a.findings}
    fb = {f.fingerprint: f for f in b.findings}
    ca: dict[tuple[str, str, str, str], Cell] = {cell_key(c): c for c in a.cells}
    cb: dict[tuple[str, str, str, str], Cell] = {cell_key(c): c for c in b.cells}
    changes = [CellChange(k, ca[k].verdict if k in ca else None, cb[k].verdict if k in cb else None)
               for k in sorted(set(ca) | set(cb))
               if (ca[k].verdict if k in ca else None) != (cb[k].verdict if k in cb else None)]
    return RunDiff(a=a.run, b=b.run, new=[f for fp, f in fb.items() if fp not in fa],
                   fixed=[f for fp, f in fa.items() if fp not in fb],
                   unchanged=[f for fp, f in fb.items() if fp in fa], cells=changes)


def _finding(f: Finding) -> dict[str, Any]:
    return {"fingerprint": f.fingerprint, "check": f.check, "severity": f.severity.value, "title": f.title,
            "place": f.target, "relation": f.relation.value if f.relation else None, "attacker": f.attacker,
            "victim": f.victim}


def render_json(diff: RunDiff) -> bytes:
    """The diff as JSON."""
    doc = {"a": diff.a.id, "b": diff.b.id, "new": [_finding(f) for f in diff.new],
           "fixed": [_finding(f) for f in diff.fixed], "unchanged": len(diff.unchanged),
           "cells": [{"check": c.key[0], "plane": c.key[1], "place": c.key[2], "relation": c.key[3],
                      "before": c.before.value if c.before else None, "after": c.after.value if c.after else None,
                      "regression": c.regression} for c in diff.cells]}
    return (json_text(doc) + "\n").encode("utf-8")


def render_table(diff: RunDiff, *, color: bool = False, width: int = 140) -> bytes:
    """The diff for the terminal."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False, emoji=False, markup=False)
    console.print(Text(f"{one_line(diff.a.id)} -> {one_line(diff.b.id)}: {len(diff.new)} new, {len(diff.fixed)} "
                       f"fixed, {len(diff.unchanged)} unchanged findings; {sum(c.regression for c in diff.cells)} "
                       "cells regressed", style="bold"))
    for title, items, style in (("New findings", diff.new, "bold red"), ("Fixed findings", diff.fixed, "green")):
        if items:
            table = Table(title=title, title_justify="left", title_style=style)
            for col in ("severity", "check", "operation / topic", "relation", "attacker → victim"):
                table.add_column(col, overflow="fold")
            for f in items:
                table.add_row(f.severity.value.upper(), one_line(f.check), one_line(f.target, 80),
                              f.relation.value if f.relation else "-", one_line(f"{f.attacker} → {f.victim}", 60))
            console.print(table)
    if diff.cells:
        table = Table(title="Verdicts that changed", title_justify="left")
        for col in ("check", "operation / topic", "relation", "before", "after"):
            table.add_column(col, overflow="fold")
        for c in diff.cells:
            style = "bold red" if c.regression else ""
            table.add_row(one_line(c.key[0]), one_line(c.key[2], 80), c.key[3],
                          c.before.value if c.before else "-", Text(c.after.value if c.after else "-", style=style))
        console.print(table)
    return buf.getvalue().encode("utf-8")
