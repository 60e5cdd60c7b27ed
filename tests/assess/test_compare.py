"""``compare`` and ``iotvet assess compare``: differences marked exactly, vendor text inert, input errors exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from iotvet.assess.compare import compare, render_table, write_compare_html
from iotvet.assess.result import Assessment
from iotvet.cli import EXIT_OK, EXIT_USAGE
from tests.assess.console import run
from tests.assess.factory import V, make
from tests.report.test_html_browser import browser, visit  # noqa: F401 - the Chromium fixture, shared

ACME = make("Acme Cloud", {"5.1-1": V.FAIL, "5.3-4": V.NOT_APPLICABLE})
BOREALIS = make("Borealis IoT", {"5.1-1": V.PASS, "5.2-2": V.NOT_MET_JUSTIFIED, "5.5-1": V.INCONCLUSIVE,
                                 "5.3-4": V.NOT_APPLICABLE}, psti_applicable=False)

def _write(folder: Path, name: str, a: Assessment | str) -> str:
    path = folder / name
    path.write_text(a if isinstance(a, str) else a.model_dump_json(indent=2), encoding="utf-8")
    return str(path)


def test_two_vendors_differ_exactly_where_their_verdicts_do() -> None:
    c = compare([ACME, BOREALIS])
    assert c.vendors == ("Acme Cloud", "Borealis IoT") and len(c.rows) == 68
    assert c.differing == ("5.1-1", "5.2-2", "5.5-1")  # 5.3-4 is n/a for both: the same
    row = {r.provision: r for r in c.rows}
    assert row["5.1-1"].verdicts == (V.FAIL, V.PASS) and row["5.3-4"].verdicts == (V.NOT_APPLICABLE,) * 2
    assert not row["5.3-4"].differs and row["5.3-4"].status == "R C(12)"
    tallies = {t.label: t.counts for t in c.tallies if t.differs}
    assert tallies == {"mandatory fail": (1, 0), "mandatory inconclusive": (0, 1),
                       "recommended pass": (34, 33), "recommended not-met-justified": (0, 1)}
    assert [v.applicable if v else None for v in c.psti] == [True, False]


def test_three_vendors_same_names_and_missing_provisions() -> None:
    later = make("Acme Cloud", {"5.1-1": V.PASS}, created=ACME.created.replace(month=12))
    partial = BOREALIS.model_copy(update={"results": BOREALIS.results[1:]})  # no 4-1
    c = compare([ACME, later, partial])
    assert c.vendors == ("Acme Cloud (2026-11-20)", "Acme Cloud (2026-12-20)", "Borealis IoT")
    assert c.rows[0].provision == "4-1" and c.rows[0].verdicts == (V.PASS, V.PASS, None) and c.rows[0].differs
    twins = compare([ACME, ACME]).vendors
    assert twins == ("Acme Cloud (2026-11-20) #1", "Acme Cloud (2026-11-20) #2")


def test_compare_refuses_one_assessment_or_different_standards() -> None:
    with pytest.raises(ValueError, match="at least two"):
        compare([ACME])
    with pytest.raises(ValueError, match="different standards"):
        compare([ACME, BOREALIS.model_copy(update={"standard": "EN 303 645 V3.1.3"})])


def test_table_marks_differences_and_keeps_vendor_text_inert() -> None:
    hostile = make("[bold red]Evil[/bold red] \x1b[2J\x1b[31mCorp\u202e", {"5.1-1": V.PASS, "5.3-4": V.NOT_APPLICABLE})
    out = render_table(compare([ACME, hostile]), width=160).decode("utf-8")
    assert "\x1b" not in out and "\u202e" not in out  # no colour asked, none sent; controls made visible
    assert "[bold red]Evil[/bold red]" in out and "\\x1b[2J" in out  # rich markup stays text
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "≠" in lines["5.1-1"] and "FAIL" in lines["5.1-1"] and "≠" not in lines["5.1-2"]
    assert out.rstrip().endswith("1 of 68 provisions differ: 5.1-1")
    assert "evidence complete" in out and out.count(" yes ") >= 2


def test_incomplete_evidence_shows_per_vendor() -> None:
    late = make("Borealis IoT", incomplete=("run r2 is interrupted",))
    out = render_table(compare([ACME, late]), width=200).decode("utf-8")
    row = next(line for line in out.splitlines() if "evidence complete" in line)
    assert "yes" in row and "no: run r2 is interrupted" in row
    page = write_compare_html(compare([ACME, late])).decode("utf-8")
    assert '<td>complete</td>' in page and '<span class="ok-no">incomplete:</span> run r2 is interrupted' in page


def test_html_marks_differing_rows_and_is_inert(browser: Any) -> None:  # noqa: F811
    hostile = make("Borealis", {"5.1-1": V.PASS, "5.3-4": V.NOT_APPLICABLE}, hostile=True)
    page = write_compare_html(compare([ACME, hostile]))
    text = page.decode("utf-8")
    assert text.count('<tr class="differs"><td class="id">5.1-1 ≠</td>') == 1
    assert re.findall(r'<tr class="differs"><td class="id">([^<]+) ≠</td>', text) == \
        ["mandatory pass", "mandatory fail", "5.1-1"]  # the tallies 5.1-1 moves, and 5.1-1
    seen = visit(browser, page)
    assert seen["pwned"] is None and seen["dialogs"] == [] and seen["errors"] == [] and seen["requests"] == []
    assert seen["active"] == 0 and seen["handlers"] == [] and seen["console"] == []
    assert "Borealis <script>window.__pwned=1</script>" in seen["text"]
    assert seen["leak_bg"] == "rgb(198, 40, 40)"


def test_cli_prints_the_table_and_writes_html(tmp_path: Path) -> None:
    a, b = _write(tmp_path, "a.json", ACME), _write(tmp_path, "b.json", BOREALIS)
    out = tmp_path / "cmp.html"
    result = run("assess", "compare", a, b, "-o", f"html={out}")
    assert result.exit_code == EXIT_OK and result.stderr == ""
    assert "Acme Cloud" in result.stdout and "3 of 68 provisions differ: 5.1-1, 5.2-2, 5.5-1" in result.stdout
    assert out.read_bytes() == write_compare_html(compare([ACME, BOREALIS]))


@pytest.mark.parametrize(("content", "message"), [
    (None, "{f}: cannot read: No such file or directory"),
    ("{\n  \"vendor\": \n", "{f}:3: not JSON: Expecting value"),
    ("[1, 2]", "{f}: not an iotvet assessment: expected a JSON object"),
    ("verdict", "{f}: results.2.verdict: Input should be 'pass', 'fail', 'not-applicable', 'not-met-justified' or "
                "'inconclusive'"),
    ("vendor", "{f}: vendor: Field required"),
])
def test_cli_bad_input_is_one_line_naming_the_file(tmp_path: Path, content: str | None, message: str) -> None:
    good = _write(tmp_path, "good.json", ACME)
    bad = str(tmp_path / "bad.json")
    if content == "verdict":
        doc = json.loads(ACME.model_dump_json())
        doc["results"][2]["verdict"] = "maybe"
        _write(tmp_path, "bad.json", json.dumps(doc))
    elif content == "vendor":
        doc = json.loads(ACME.model_dump_json())
        del doc["vendor"]
        _write(tmp_path, "bad.json", json.dumps(doc))
    elif content is not None:
        _write(tmp_path, "bad.json", content)
    result = run("assess", "compare", good, bad, "-o", f"html={tmp_path / 'never.html'}")
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    assert result.stderr == f"iotvet: error: {message.format(f=bad)}\n"
    assert not (tmp_path / "never.html").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["ONE"], "compare needs two or more assessment files"),
    (["ONE", "TWO", "-o", "pdf=x.pdf"], "--output 'pdf=x.pdf': unknown format 'pdf' (one of html)"),
    (["ONE", "TWO", "-o", "html"], "--output 'html': write it as FORMAT=PATH, e.g. html=compare.html"),
    (["ONE", "V3"], "the assessments are against different standards: EN 303 645 V2.1.1, EN 303 645 V3.1.3"),
])
def test_cli_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    files = {"ONE": _write(tmp_path, "a.json", ACME), "TWO": _write(tmp_path, "b.json", BOREALIS),
             "V3": _write(tmp_path, "c.json", BOREALIS.model_copy(update={"standard": "EN 303 645 V3.1.3"}))}
    result = run("assess", "compare", *(files.get(a, a) for a in args))
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    assert result.stderr == f"iotvet: error: {message}\n"


def test_cli_needs_at_least_one_file() -> None:
    result = run("assess", "compare")
    assert result.exit_code == EXIT_USAGE and "Missing argument" in result.stderr
