"""Making target text inert: every writer passes target data through one of these.

Target data (bodies, headers, reasons, topics, payloads) is untrusted. Control characters
(ANSI escapes, C1 codes such as CSI 0x9b, NUL, bell), bidirectional overrides and zero-width
characters are written out as visible escapes (``\\x1b``, ``\\u202e``) so they can neither
drive a terminal nor disguise text; XML-illegal characters likewise.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

# C0 (but tab and newline), DEL, C1, zero-width and bidi controls, line/paragraph separators,
# BOM, lone surrogates (from undecodable bytes) and the XML non-characters.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069"
                        "\ufeff\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\n\t]")
# characters JSON may carry raw but that are unsafe when the JSON is printed or embedded in HTML
_JSON_UNSAFE = re.compile("[<>&\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: str) -> str:
    """``value`` with every control or invisible character written as an escape; newlines and tabs kept."""
    return _INVISIBLE.sub(_escape, value)


def one_line(value: str, limit: int | None = None) -> str:
    """Like :func:`visible`, newlines and tabs escaped too, cut to ``limit`` characters."""
    out = _LINE_BREAKS.sub(_escape, visible(value))
    if limit is not None and len(out) > limit:
        out = out[: max(0, limit - 1)] + "…"
    return out


def json_text(value: Any, indent: int | None = 2) -> str:
    """JSON whose every string is safe to print on a terminal or embed in HTML.

    Identical data to ``json.dumps``: the only difference is that ``< > &``, C1 controls and
    bidi/line-separator characters are written as ``\\uXXXX`` escapes.
    """
    raw = json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", raw)


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp (``2026-11-25T10:00:00Z``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
