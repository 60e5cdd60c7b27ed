"""One self-contained HTML file: Jinja2 with autoescape, a hash-pinned stylesheet, no script, no fetch.

Defences, each sufficient alone against target text: every value is autoescaped (and its
control characters made visible by ``finalize``); target data never becomes a URL, an
attribute name or markup; the CSP (``default-src 'none'``, the one stylesheet allowed by its
hash) forbids scripts, frames, images, fonts and any network fetch.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from iotvet.core.records import Severity
from iotvet.report.baseline import BaselineState
from iotvet.report.html_style import CSS
from iotvet.report.model import Report, remediation
from iotvet.report.text import iso, visible

MAX_TEXT = 20_000
LABELS = {"leak": "LEAK", "enforced": "ok", "inconclusive": "?", "not-tested": "–"}
STYLE_HASH = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
CSP = (f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'none'; font-src 'none'; "
       "connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; child-src 'none'; "
       "worker-src 'none'; manifest-src 'none'; base-uri 'none'; form-action 'none'")


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value  # our own markup (macros, the stylesheet); never built from target data
    if value is None:
        return ""
    return visible(value) if isinstance(value, str) else value


def _cut(value: str, limit: int = MAX_TEXT) -> str:
    if len(value) <= limit:
        return value
    return value[:limit] + f"\n[… {len(value) - limit} more characters in the JSON report]"


@cache
def _env() -> Environment:
    env = Environment(loader=PackageLoader("iotvet.report", "templates"), autoescape=True, finalize=_finalize,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["cut"] = _cut
    return env


def render(report: Report) -> bytes:
    """The HTML report as UTF-8 bytes."""
    data = report.data
    shown = [f for f in report.shown if f.suppression is None and f.baseline is not BaselineState.ABSENT]
    counts = {s.value: sum(f.finding.severity is s for f in shown) for s in Severity}
    html = _env().get_template("report.html").render(
        report=report, run=data.run, stats=data.stats, identities=data.identities, untested=data.untested,
        shown=shown, suppressed=[f for f in report.findings if f.suppression is not None and not f.hidden],
        absent=[f for f in report.findings if f.baseline is BaselineState.ABSENT],
        hidden=report.count(BaselineState.UNCHANGED), counts=counts,
        severities=[s.value for s in reversed(Severity)], labels=LABELS, checks=report.checks(),
        remediation=remediation, started=iso(data.run.started), finished=iso(data.run.finished),
        generated=iso(report.generated), budgets=json.dumps(data.run.budgets, sort_keys=True),
        css=Markup(CSS), csp=CSP)
    return html.encode("utf-8")
