"""The assessment scorecard: one self-contained HTML page, built like the probe's HTML report.

Everything from the questionnaire and from probe evidence (vendor, reasons, claims, evidence refs
and summaries) is untrusted: Jinja2 autoescapes every value and ``finalize`` makes control and
bidi characters visible; no value ever becomes a URL, an attribute name or markup (``|safe`` is
used on nothing but our own stylesheet). The CSP (``default-src 'none'``, the one stylesheet
allowed by its hash) forbids scripts, frames, images, fonts and any fetch. The page needs no script.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from iotvet.assess.result import Assessment, ProvisionVerdict
from iotvet.report.html_style import CSS as REPORT_CSS
from iotvet.report.text import visible

MAX_TEXT: Final = 4_000
VERDICTS: Final = tuple(v.value for v in ProvisionVerdict)
LABELS: Final = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "not-applicable": "N/A",
                 "not-met-justified": "NOT MET, JUSTIFIED"}
CLASSES: Final = {"pass": "v-enforced", "fail": "v-leak", "inconclusive": "v-inconclusive",
                  "not-applicable": "v-not-tested", "not-met-justified": "v-justified"}
"""Verdict → the report's matrix colours (red, green, yellow, grey), plus violet for a justified R."""
CSS: Final = REPORT_CSS + """
.v-justified{background:#e8def8;color:#4a2a7a}
.scope{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--low);border-radius:4px;
padding:8px 12px;margin:10px 0}
.finding.contradiction{border-left-color:var(--crit)}
td.num,th.num{text-align:right;white-space:nowrap}
td.id{white-space:nowrap;font-weight:600}
ul.ev{margin:0;padding-left:16px}ul.ev li{margin:2px 0}
.src{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;background:#eceff1;color:#37474f}
tr.differs td.id{border-left:4px solid var(--crit)}tr.differs td:not(.v){background:#fff8e1}
.ok-yes{color:var(--ok);font-weight:600}.ok-no{color:var(--muted);font-weight:600}
"""
STYLE_HASH: Final = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
CSP: Final = (f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'none'; font-src 'none'; "
              "connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; child-src 'none'; "
              "worker-src 'none'; manifest-src 'none'; base-uri 'none'; form-action 'none'")


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value  # our own stylesheet; never built from assessment data
    if value is None:
        return ""
    return visible(value) if isinstance(value, str) else value


def _cut(value: str, limit: int = MAX_TEXT) -> str:
    return value if len(value) <= limit else value[:limit] + f" [… {len(value) - limit} more characters in the JSON]"


@cache
def env() -> Environment:
    """The Jinja2 environment of the scorecard and the comparison page."""
    jinja = Environment(loader=PackageLoader("iotvet.assess", "templates"), autoescape=True, finalize=_finalize,
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    jinja.filters["cut"] = _cut
    jinja.globals.update(labels=LABELS, classes=CLASSES, verdicts=VERDICTS, css=Markup(CSS), csp=CSP)
    return jinja


def when(moment: datetime) -> str:
    """An ISO 8601 UTC timestamp; a naive time is taken to be UTC already."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_html(assessment: Assessment) -> bytes:
    """The scorecard of ``assessment`` as UTF-8 HTML."""
    a = assessment
    tallies = [("Mandatory (M)", a.summary.mandatory), ("Recommended (R)", a.summary.recommended)]
    html = env().get_template("scorecard.html").render(a=a, created=when(a.created), tallies=tallies)
    return html.encode("utf-8")
