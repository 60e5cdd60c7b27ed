"""Hostile target content is inert in every format (conventions §3.5 h).

Script tags, event handlers, ``javascript:`` URLs, ANSI and C1 escapes, bidi overrides, CSV
formulas and template syntax travel through findings, cells, headers, URLs, topics, payloads
and the run's target. Machine formats keep them exactly (as data); human formats show them
as visible text.
"""

from __future__ import annotations

import html.parser
import json
import re
import xml.etree.ElementTree as ET

from iotvet.report import build_report, render, table_out
from tests.report import sample

REPORT = build_report(sample.run_data(hostile=True), generated=1_795_000_900.0)
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_json_and_sarif_keep_hostile_text_exactly_but_print_safely() -> None:
    for fmt in ("json", "sarif"):
        raw = render(fmt, REPORT).decode("utf-8")
        assert not RAW_CONTROL.search(raw.replace("\n", "")), fmt  # safe to cat on a terminal
        assert "<" not in raw and ">" not in raw and "&" not in raw, fmt  # safe to embed in HTML
        strings = _strings(json.loads(raw))
        assert sample.HOSTILE_TEXT in strings, fmt  # nothing lost or altered
        assert any(sample.HOSTILE[0] in s for s in strings), fmt


def test_junit_is_well_formed_xml_with_visible_escapes() -> None:
    raw = render("junit", REPORT)
    root = ET.fromstring(raw)  # XML-illegal characters would make this raise
    text = raw.decode("utf-8")
    assert not RAW_CONTROL.search(text.replace("\n", ""))
    assert "<script" not in text and "&lt;script&gt;" in text
    assert not [el for el in root.iter() if el.tag not in {"testsuites", "testsuite", "testcase", "failure", "error",
                                                          "skipped"}]
    failures = " ".join(f.text or "" for f in root.iter("failure"))
    assert "\\x1b[2J" in failures and "=cmd|' /C calc'!A0" in failures and "\\u202e" in failures


def test_table_cannot_drive_the_terminal() -> None:
    plain = table_out.render(REPORT, color=False).decode("utf-8")
    assert not RAW_CONTROL.search(plain.replace("\n", ""))
    assert "\\x1b[2J" in plain  # shown as a visible escape
    coloured = table_out.render(REPORT, color=True).decode("utf-8")
    ours_removed = re.sub(r"\x1b\[[0-9;]*m", "", coloured)  # only our own SGR colour codes may remain
    assert not RAW_CONTROL.search(ours_removed.replace("\n", ""))


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs |= {name for name, _ in attrs}

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_contains_only_our_markup() -> None:
    page = render("html", REPORT).decode("utf-8")
    parser = _Tags()
    parser.feed(page)
    assert parser.tags <= {"html", "head", "meta", "title", "style", "body", "header", "main", "footer", "h1", "h2",
                           "h3", "div", "span", "b", "code", "section", "dl", "dt", "dd", "p", "details", "summary",
                           "pre", "table", "thead", "tbody", "tr", "th", "td"}
    assert parser.attrs <= {"lang", "charset", "http-equiv", "content", "name", "class", "id", "title", "open"}
    text = "".join(parser.text)
    assert sample.HOSTILE[0] in text and "javascript:window.__pwned=1" in text  # shown, as text
    assert "\\x1b[2J" in text and "\\u202e" in text and "\x1b" not in page
