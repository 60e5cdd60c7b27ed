"""Writers of an assessment: the JSON document and the terminal scorecard (rich, rendered to text).

Both are pure functions of an :class:`~iotvet.assess.result.Assessment`. Every string from the
evidence goes through :func:`~iotvet.report.text.one_line` into a :class:`rich.text.Text`, never
parsed as markup, so nothing a target said can drive the terminal.
"""

from __future__ import annotations

import io
import json

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from iotvet.assess.result import Assessment, FrameworkView, ProvisionVerdict, Tally
from iotvet.report.text import json_text, one_line

V = ProvisionVerdict
STYLE = {V.FAIL: "bold white on red", V.INCONCLUSIVE: "yellow", V.NOT_MET_JUSTIFIED: "cyan", V.PASS: "green",
         V.NOT_APPLICABLE: "dim"}
ORDER = (V.PASS, V.FAIL, V.NOT_MET_JUSTIFIED, V.INCONCLUSIVE, V.NOT_APPLICABLE)


def to_json(assessment: Assessment) -> bytes:
    """The assessment as JSON (the public contract, ``schemas/assessment.schema.json``)."""
    return (json_text(json.loads(assessment.model_dump_json())) + "\n").encode("utf-8")


def _t(value: str, limit: int | None = 200, style: str = "") -> Text:
    return Text(one_line(value, limit), style=style)


def _tally(label: str, tally: Tally) -> Text:
    out = Text(f"{label} {tally.total}: ", style="bold")
    parts = [(v, tally.by_verdict.get(v.value, 0)) for v in ORDER]
    for i, (verdict, n) in enumerate(parts):
        out.append(f"{n} {verdict.value}", style=STYLE[verdict] if n else "dim")
        out.append(", " if i < len(parts) - 1 else "")
    return out


def _psti(view: FrameworkView) -> Text:
    out = Text("UK PSTI: ", style="bold")
    out.append_text(_t(view.reason, 240))
    if view.applicable:
        for item in view.items:
            out.append(f"\n  {item.id} {item.title}: ")
            out.append(item.verdict.value.upper(), style=STYLE[item.verdict])
            out.append(f" ({', '.join(item.provisions)})")
    return out


def _fails(assessment: Assessment, width: int) -> Table:
    table = Table(title="FAIL: provisions the evidence shows are not met", title_justify="left", expand=False)
    table.add_column("provision", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("why", overflow="fold", max_width=max(40, width - 40))
    for r in assessment.results:
        if r.verdict is V.FAIL:
            table.add_row(_t(r.provision), _t(r.status), _t(r.reason, 400))
    return table


def _contradictions(assessment: Assessment, width: int) -> Table:
    table = Table(title="Claims the evidence contradicts", title_justify="left", expand=False)
    table.add_column("claim", no_wrap=True)
    table.add_column("claimed", no_wrap=True)
    table.add_column("observed", overflow="fold", max_width=max(30, width - 70))
    table.add_column("provisions", overflow="fold")
    for c in assessment.contradictions:
        table.add_row(_t(c.claim), _t(c.claimed), _t(f"{c.observed}; {len(c.evidence)} item(s) of evidence", 300),
                      _t(", ".join(c.provisions)))
    return table


def renderables(assessment: Assessment, width: int = 140) -> list[RenderableType]:
    """The scorecard's parts, in order."""
    head = Text("iotvet assessment ", style="bold")
    head.append_text(_t(assessment.vendor, 80, "bold"))
    head.append(f"  {assessment.standard}  {assessment.created.isoformat(timespec='seconds')}")
    head.append("\nruns: ")
    head.append_text(_t(", ".join(assessment.runs) or "none (no probe evidence)", 300))
    head.append("\nquestionnaire: ")
    head.append_text(_t(assessment.questionnaire, 120))
    parts: list[RenderableType] = [head, _t(assessment.scope_note, None, "dim"),
                                   _tally("mandatory", assessment.summary.mandatory),
                                   _tally("recommended", assessment.summary.recommended)]
    if assessment.views:
        parts.append(_psti(assessment.views[0]))
    if any(r.verdict is V.FAIL for r in assessment.results):
        parts.append(_fails(assessment, width))
    else:
        parts.append(Text("no provision fails on the evidence", style="green"))
    if assessment.contradictions:
        parts.append(_contradictions(assessment, width))
    for why in assessment.incomplete:
        parts.append(Text("incomplete: ", style="bold yellow") + _t(why, 300))
    return parts


def scorecard(assessment: Assessment, width: int = 140) -> Group:
    """The scorecard as one rich renderable, for a console of ``width`` columns."""
    return Group(*renderables(assessment, width))


def render(assessment: Assessment, *, color: bool = False, width: int = 140) -> str:
    """The terminal scorecard as text (ANSI colours only with ``color``)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system="standard" if color else None, force_terminal=color,
                      highlight=False, soft_wrap=False)
    console.print(scorecard(assessment, width))
    return buffer.getvalue()
