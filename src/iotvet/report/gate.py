"""Exit codes for CI (public): 0 clean, 1 findings at or above ``--fail-on``, 3 incomplete run."""

from __future__ import annotations

from iotvet.core.errors import UserError
from iotvet.core.records import Severity
from iotvet.report.model import Report

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
NEVER = "none"


def parse_fail_on(value: str) -> Severity | None:
    """``--fail-on``: a severity, or ``none`` to never fail on findings."""
    if value.lower() == NEVER:
        return None
    try:
        return Severity(value.lower())
    except ValueError:
        choices = ", ".join([*(s.value for s in Severity), NEVER])
        raise UserError(f"--fail-on: unknown severity {value!r} (one of {choices})") from None


def failing(report: Report, fail_on: Severity | None) -> int:
    """How many active findings are at or above ``fail_on``."""
    if fail_on is None:
        return 0
    return sum(f.finding.severity >= fail_on for f in report.active)


def exit_code(report: Report, fail_on: Severity | None) -> int:
    """1 when an active finding reaches ``fail_on``; else 3 when the run is not complete; else 0.

    Proven findings take precedence: an incomplete run that already found something fails as 1.
    """
    if failing(report, fail_on):
        return EXIT_FINDINGS
    if not report.data.run.complete:
        return EXIT_INCOMPLETE
    return EXIT_OK
