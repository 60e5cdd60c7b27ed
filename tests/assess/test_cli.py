"""``iotvet assess init`` and ``iotvet assess validate`` through the console entry point, run by typer's CliRunner."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import pytest

from iotvet.assess import load_questionnaire
from iotvet.cli import EXIT_OK, EXIT_USAGE
from tests.assess.console import run

LAB = str(resources.files("iotvet.assess").joinpath("data", "lab-questionnaire.yaml"))


def test_init_writes_a_blank_questionnaire_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "acme.yaml"
    result = run("assess", "init", "--vendor", "Acme Cloud", "--output", str(out))
    assert result.exit_code == EXIT_OK and result.stderr == ""
    assert result.stdout == f"wrote {out}; send it to Acme Cloud, then run: iotvet assess validate {out}\n"
    assert sorted(os.listdir(tmp_path)) == ["acme.yaml"]  # atomic: no temporary file left
    q = load_questionnaire(str(out))
    assert q.vendor.name == "Acme Cloud" and len(q.claims) == 68
    assert {c.implemented for c in q.claims.values()} == {"unknown"}
    text = out.read_text(encoding="utf-8")
    assert "# Check the file with: iotvet assess validate FILE" in text and "[5.1-5]" in text

    checked = run("assess", "validate", str(out))
    assert checked.exit_code == EXIT_OK, checked.output
    assert checked.stdout == (f"{out}: ok: Acme Cloud; 68 provisions: 45 apply, 0 not applicable, 23 undecided; "
                              "claims: 0 yes, 0 no, 68 unknown; UK PSTI: undecided (unknown)\n")


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "q.yaml"
    out.write_text("mine\n", encoding="utf-8")
    refused = run("assess", "init", "--vendor", "Acme", "-o", str(out))
    assert refused.exit_code == EXIT_USAGE and refused.stdout == ""
    assert refused.stderr == f"iotvet: error: {out}: exists already; use --force to overwrite it\n"
    assert out.read_text(encoding="utf-8") == "mine\n"
    forced = run("assess", "init", "--vendor", "Acme", "-o", str(out), "--force")
    assert forced.exit_code == EXIT_OK and load_questionnaire(str(out)).vendor.name == "Acme"


def test_init_default_output_and_bad_vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("assess", "init", "--vendor", "Acme").exit_code == EXIT_OK
    assert (tmp_path / "questionnaire.yaml").is_file()
    bad = run("assess", "init", "--vendor", "  ", "-o", "other.yaml")
    assert bad.exit_code == EXIT_USAGE and bad.stderr == "iotvet: error: --vendor: must not be empty\n"
    assert not (tmp_path / "other.yaml").exists()
    missing = run("assess", "init")
    assert missing.exit_code == EXIT_USAGE and "--vendor" in missing.stderr


def test_validate_the_lab_questionnaire() -> None:
    result = run("assess", "validate", LAB)
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout == (f"{LAB}: ok: Lab Provider; 68 provisions: 63 apply, 5 not applicable, 0 undecided; "
                             "claims: 53 yes, 1 no, 14 unknown; UK PSTI: applies (camera)\n")


@pytest.mark.parametrize(("edit", "expected"), [
    (("conditions:", "condtions:"), "condtions: unknown key 'condtions'; did you mean 'conditions'?"),
    (('"5.1-1":', '"5.1-11":'), "claims.5.1-11: unknown provision '5.1-11'; did you mean '5.1-1'?"),
    (("  security_txt: unknown", "  security_txt: perhaps"),
     "vulnerability_disclosure.security_txt: 'perhaps' is not one of yes, no, unknown"),
])
def test_validate_reports_one_line_and_exits_2(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    out = tmp_path / "q.yaml"
    assert run("assess", "init", "--vendor", "Acme", "-o", str(out)).exit_code == EXIT_OK
    text = out.read_text(encoding="utf-8").replace(*edit, 1)
    out.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if edit[1] in row)
    result = run("assess", "validate", str(out))
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    assert result.stderr == f"iotvet: error: {out}:{line}: {expected}\n"


def test_validate_missing_file_and_help(tmp_path: Path) -> None:
    missing = run("assess", "validate", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == EXIT_USAGE and "file not found" in missing.stderr
    shown = run("assess", "--help")
    assert shown.exit_code == EXIT_OK and "init" in shown.stdout and "validate" in shown.stdout
