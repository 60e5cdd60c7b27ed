"""Report writers: pure functions from a stored run (:class:`~iotvet.store.RunData`) to bytes.

``build_report`` applies the ignore file and a baseline; each format renders the result.
"""

from __future__ import annotations

from collections.abc import Callable

from iotvet.core.errors import UserError
from iotvet.report import html_out, json_out, junit_out, sarif_out, table_out
from iotvet.report.baseline import Baseline, BaselineState, baseline_from_json, baseline_from_run
from iotvet.report.gate import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, exit_code, failing, parse_fail_on
from iotvet.report.ignore import DEFAULT_NAME as IGNORE_FILE
from iotvet.report.ignore import IgnoreRule, parse_ignore
from iotvet.report.model import MatrixRow, Report, ReportFinding, Suppression, build_report

Renderer = Callable[[Report], bytes]
FORMATS: dict[str, Renderer] = {
    "table": table_out.render,
    "json": json_out.render,
    "sarif": sarif_out.render,
    "junit": junit_out.render,
    "html": html_out.render,
}


def render(fmt: str, report: Report) -> bytes:
    """``report`` in format ``fmt`` (one of :data:`FORMATS`)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise UserError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})") from None
    return renderer(report)


__all__ = [
    "EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_OK", "FORMATS", "IGNORE_FILE", "Baseline", "BaselineState",
    "IgnoreRule", "MatrixRow", "Report", "ReportFinding", "Suppression", "baseline_from_json", "baseline_from_run",
    "build_report", "exit_code", "failing", "parse_fail_on", "parse_ignore", "render",
]
