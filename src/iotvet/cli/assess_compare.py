"""``iotvet assess compare``: several assessment JSON files side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from iotvet.assess.compare import compare, load_assessment, render_table, write_compare_html
from iotvet.cli.assess_cmd import assess
from iotvet.cli.files import write_atomic
from iotvet.cli.report_cmds import parse_outputs, term_width, use_color
from iotvet.core.errors import UserError

FORMATS = ("html",)


@assess.command("compare")
def compare_cmd(
    files: list[Path] = typer.Argument(..., metavar="A.json B.json [C.json ...]",
                                       help="Assessment JSON files, two or more."),
    outputs: list[str] = typer.Option([], "--output", "-o", metavar="FORMAT=PATH",
                                      help="Also write FORMAT to PATH; repeatable (html=compare.html)."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours in the table (also: NO_COLOR)."),
) -> int:
    """Compare vendors side by side: verdict per provision (rows that differ are marked), tallies, UK PSTI.

    Exit codes: 0 compared, 2 a file is missing, not JSON or not a valid assessment.
    """
    targets = parse_outputs(outputs, FORMATS, "html=compare.html")
    if len(files) < 2:
        raise UserError("compare needs two or more assessment files")
    try:
        comparison = compare([load_assessment(str(f)) for f in files])
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for _fmt, path in targets:
        write_atomic(path, write_compare_html(comparison))
    typer.echo(render_table(comparison, color=use_color(no_color), width=term_width()).decode("utf-8"), nl=False)
    return 0
