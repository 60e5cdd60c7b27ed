"""Several assessments side by side: verdict per vendor for each provision, tallies and PSTI applicability.

:func:`compare` builds a :class:`Comparison` (rows where the verdicts differ are marked);
:func:`render_table` writes it for a terminal (rich, every vendor string passed through
``one_line`` and never parsed as markup) and :func:`write_compare_html` as a self-contained page
built like the scorecard. :func:`load_assessment` reads an assessment JSON file, or raises a
one-line :class:`UserError` naming the file (and the field, for a validation error).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Final

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from iotvet.assess.catalogue import load_catalogue
from iotvet.assess.html import VERDICTS, env, when
from iotvet.assess.result import Assessment, FrameworkView, ProvisionVerdict, Tally
from iotvet.core.errors import Source, UserError
from iotvet.report.text import one_line

SHORT: Final = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive", "not-applicable": "n/a",
                "not-met-justified": "justified"}
STYLE: Final = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "not-applicable": "dim",
                "not-met-justified": "magenta"}


@dataclass(frozen=True, slots=True)
class Row:
    """One provision across the vendors; a verdict is None where an assessment lacks the provision."""

    provision: str
    status: str
    verdicts: tuple[ProvisionVerdict | None, ...]

    @property
    def differs(self) -> bool:
        """True when the vendors' verdicts are not all the same."""
        return len(set(self.verdicts)) > 1


@dataclass(frozen=True, slots=True)
class TallyRow:
    """How many mandatory (or recommended) provisions each vendor has with one verdict."""

    label: str
    counts: tuple[int, ...]

    @property
    def differs(self) -> bool:
        """True when the counts are not all the same."""
        return len(set(self.counts)) > 1


@dataclass(frozen=True, slots=True)
class Comparison:
    """Assessments side by side, in the order given."""

    vendors: tuple[str, ...]
    """Column labels: the vendor, with the assessment's date (and a number) where names repeat."""
    assessments: tuple[Assessment, ...]
    rows: tuple[Row, ...]
    tallies: tuple[TallyRow, ...]
    psti: tuple[FrameworkView | None, ...]

    @property
    def differing(self) -> tuple[str, ...]:
        """Provisions whose verdicts differ."""
        return tuple(r.provision for r in self.rows if r.differs)


def _labels(assessments: list[Assessment]) -> tuple[str, ...]:
    labels = [one_line(a.vendor, 80) for a in assessments]
    labels = [f"{label} ({when(a.created)[:10]})" if labels.count(label) > 1 else label
              for label, a in zip(labels, assessments, strict=True)]
    seen: Counter[str] = Counter()
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return tuple(out)


def _count(tally: Tally, verdict: str) -> int:
    return tally.by_verdict.get(verdict, 0)


def compare(assessments: list[Assessment]) -> Comparison:
    """The assessments side by side; ValueError for fewer than two, or for different standards."""
    if len(assessments) < 2:
        raise ValueError("compare needs at least two assessments")
    if len({a.standard for a in assessments}) > 1:
        standards = ", ".join(sorted({one_line(a.standard, 80) for a in assessments}))
        raise ValueError(f"the assessments are against different standards: {standards}")
    ids = [p.id for p in load_catalogue().provisions]
    ids += list(dict.fromkeys(r.provision for a in assessments for r in a.results if r.provision not in ids))
    rows = []
    for pid in ids:
        found = [next((r for r in a.results if r.provision == pid), None) for a in assessments]
        status = next((r.status for r in found if r is not None), "")
        rows.append(Row(pid, status, tuple(r.verdict if r else None for r in found)))
    tallies = [TallyRow(f"{kind} {v}", tuple(_count(getattr(a.summary, kind), v) for a in assessments))
               for kind in ("mandatory", "recommended") for v in VERDICTS]
    psti = tuple(next((v for v in a.views if "psti" in v.framework.lower()), None) for a in assessments)
    return Comparison(_labels(assessments), tuple(assessments), tuple(r for r in rows if any(r.verdicts)),
                      tuple(tallies), psti)


def _cell(verdict: ProvisionVerdict | None) -> Text:
    return Text(SHORT[verdict.value], style=STYLE[verdict.value]) if verdict else Text("–", style="dim")


def render_table(c: Comparison, *, color: bool = False, width: int = 140) -> bytes:
    """The comparison for a terminal; ANSI colours only when ``color``."""
    table = Table(show_lines=False)
    table.add_column("provision", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for vendor in c.vendors:
        table.add_column(Text(vendor), overflow="fold")
    table.add_column("≠", no_wrap=True)
    for r in c.rows:
        table.add_row(Text(one_line(r.provision, 20), style="bold" if r.differs else ""), Text(one_line(r.status, 20)),
                      *map(_cell, r.verdicts), Text("≠" if r.differs else "", style="bold red"))
    table.add_section()
    for t in c.tallies:
        table.add_row(Text(t.label), Text(""), *(Text(str(n)) for n in t.counts), Text("≠" if t.differs else ""))
    table.add_section()
    psti_differs = len({v.applicable if v else None for v in c.psti}) > 1
    table.add_row(Text("UK PSTI applies"), Text(""), *(Text(_psti(v)) for v in c.psti),
                  Text("≠" if psti_differs else "", style="bold red"))
    table.add_row(Text("evidence complete"), Text(""),
                  *(Text(one_line(f"no: {'; '.join(a.incomplete)}", 120) if a.incomplete else "yes")
                    for a in c.assessments), Text(""))
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False, emoji=False, markup=False, soft_wrap=False)
    console.print(table)
    console.print(Text(f"{len(c.differing)} of {len(c.rows)} provisions differ"
                       + (f": {', '.join(map(one_line, c.differing))}" if c.differing else "")))
    return buf.getvalue().encode("utf-8")


def _psti(view: FrameworkView | None) -> str:
    if view is None:
        return "no PSTI view"
    return one_line(f"{'yes' if view.applicable else 'no'}: {view.reason}", 120)


def write_compare_html(c: Comparison) -> bytes:
    """The comparison as one self-contained HTML page (same escaping and CSP as the scorecard)."""
    created = [when(a.created) for a in c.assessments]
    return env().get_template("compare.html").render(c=c, created=created).encode("utf-8")


def load_assessment(path: str) -> Assessment:
    """An assessment JSON file; UserError (file, line or field) when it cannot be read or is not valid."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", Source(path)) from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise UserError(f"not JSON: {getattr(exc, 'msg', exc)}", Source(path, line)) from None
    try:
        return Assessment.model_validate(data)
    except ValidationError as exc:
        first, more = exc.errors()[0], len(exc.errors()) - 1
        field = ".".join(str(part) for part in first["loc"]) or None
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        message = "not an iotvet assessment: expected a JSON object" if field is None else first["msg"]
        raise UserError(f"{message}{suffix}", Source(path, field=field)) from None
