"""``iotvet assess run`` and ``iotvet assess show`` through the console entry point: exit codes, files, the store."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import types
from pathlib import Path

import jsonschema
import pytest

from iotvet.cli import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE
from iotvet.core.redact import Redactor
from iotvet.store import Store
from tests.assess.synthetic import cell, leak
from tests.assess.test_cli import LAB, run

ROOT = Path(__file__).resolve().parents[2]
NONE_Q = str(ROOT / "tests" / "assess" / "data" / "lab-none-questionnaire.yaml")
SCHEMA = json.loads((ROOT / "schemas" / "assessment.schema.json").read_text(encoding="utf-8"))
TOKEN = "tok-Secret-0123456789"
PLAN = f"""\
target: {{base_url: "https://127.0.0.1:9/api"}}
scope: {{hosts: ["127.0.0.1:9"]}}
safety: {{request_timeout: 2, max_requests: 50}}
identities:
  - {{name: ana, tenant: t1, auth: {{type: bearer, token: "{TOKEN}"}}}}
"""


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN, encoding="utf-8")
    return path


def _store(tmp_path: Path, plan: Path, *cells_and_findings: object, status: str = "complete",
           digest: str | None = None) -> str:
    """A store with one run of ``plan`` holding the given cells and findings; returns the run id."""
    with Store.open(f"sqlite:///{tmp_path / 'iotvet.db'}", redactor=Redactor()) as store:
        digest = digest or hashlib.sha256(plan.read_bytes()).hexdigest()
        run_id = store.start_run(mode="safe-writes", plan_digest=digest)
        for item in cells_and_findings:
            for one in item if isinstance(item, tuple) else (item,):
                (store.record_finding if hasattr(one, "severity") else store.record_cell)(one)  # type: ignore[operator]
        store.finish_run(status)
    return run_id


def _assessments(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, vendor, runs FROM assessments ORDER BY created").fetchall()


def test_run_writes_json_stores_it_and_show_reads_it_back(tmp_path: Path, plan: Path) -> None:
    run_id = _store(tmp_path, plan, leak("api-bola-read"), cell("api-unauth", "enforced", relation="anonymous"))
    db, out = tmp_path / "iotvet.db", tmp_path / "a.json"
    result = run("assess", "run", LAB, "--plan", str(plan), "--run", "latest", "--db", str(db), "--no-observe",
                 "-o", f"json={out}", "-o", "table")
    assert result.exit_code == EXIT_FINDINGS, result.output
    assert "iotvet assessment Lab Provider" in result.stdout and "5.5-5" in result.stdout
    assert "access_control.tenant_segregation" in result.stdout
    stored = _assessments(db)
    assert [(v, json.loads(r)) for _, v, r in stored] == [("Lab Provider", [run_id])]
    assert result.stderr.startswith(f"iotvet: assessment {stored[0][0]} of Lab Provider; 2 contradicted claim(s); "
                                    "exit 1:")
    document = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(document, SCHEMA)
    assert document["runs"] == [run_id] and document["questionnaire"].startswith("lab-questionnaire.yaml sha256:")
    assert document["incomplete"] == []

    again = tmp_path / "again.json"
    shown = run("assess", "show", stored[0][0][:12], "--db", str(db), "-o", f"json={again}")
    assert shown.exit_code == EXIT_FINDINGS and shown.stdout == ""  # only a file was asked for
    assert json.loads(again.read_text(encoding="utf-8")) == document
    latest = run("assess", "show", "--db", str(db))
    assert latest.exit_code == EXIT_FINDINGS and "iotvet assessment Lab Provider" in latest.stdout


def test_without_run_the_latest_run_of_the_plan_is_cited(tmp_path: Path, plan: Path) -> None:
    db = tmp_path / "iotvet.db"
    mine = _store(tmp_path, plan, cell("api-unauth", "enforced", relation="anonymous"))
    _store(tmp_path, plan, leak("api-unauth", relation="anonymous"), digest="another plan")
    result = run("assess", "run", NONE_Q, "--plan", str(plan), "--db", str(db), "--no-observe")
    assert result.exit_code == EXIT_OK, result.output
    assert [json.loads(r) for _, _, r in _assessments(db)] == [[mine]]
    assert "no provision fails on the evidence" in result.stdout


def test_no_run_of_the_plan_means_no_probe_evidence(tmp_path: Path, plan: Path) -> None:
    db = tmp_path / "fresh.db"
    result = run("assess", "run", NONE_Q, "--plan", str(plan), "--db", str(db), "--no-observe")
    assert result.exit_code == EXIT_OK, result.output
    assert f"no stored run of {plan}: assessing without probe evidence" in result.stderr
    assert "runs: none (no probe evidence)" in result.stdout
    assert [json.loads(r) for _, _, r in _assessments(db)] == [[]]


def test_an_incomplete_run_exits_3_unless_a_mandatory_provision_fails(tmp_path: Path, plan: Path) -> None:
    _store(tmp_path, plan, cell("api-unauth", "enforced", relation="anonymous"), status="incomplete")
    db = tmp_path / "iotvet.db"
    result = run("assess", "run", NONE_Q, "--plan", str(plan), "--db", str(db), "--no-observe")
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert "incomplete: run r" in result.stdout
    _store(tmp_path, plan, leak("api-unauth", relation="anonymous"), status="incomplete")
    assert run("assess", "run", NONE_Q, "--plan", str(plan), "--db", str(db), "--no-observe").exit_code == 1


def test_observations_that_cannot_be_made_leave_the_evidence_incomplete(tmp_path: Path, plan: Path) -> None:
    db, out = tmp_path / "iotvet.db", tmp_path / "a.json"
    _store(tmp_path, plan, cell("api-unauth", "enforced", relation="anonymous"))
    result = run("assess", "run", NONE_Q, "--plan", str(plan), "--db", str(db), "-o", f"json={out}")
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert [i.split(":")[0] for i in document["incomplete"]] == ["tls-version 127.0.0.1", "security-txt https"]
    assert TOKEN not in out.read_text(encoding="utf-8") + result.output


@pytest.mark.parametrize(("argv", "message"), [
    (["-o", "pdf=x.pdf"], "--output 'pdf=x.pdf': unknown kind 'pdf'"),
    (["-o", "json"], "--output 'json': write it as json=PATH"),
    (["--run", "r-nope"], "no run 'r-nope' in the store"),
])
def test_bad_options_exit_2_and_write_nothing(tmp_path: Path, plan: Path, argv: list[str], message: str) -> None:
    _store(tmp_path, plan)
    db = tmp_path / "iotvet.db"
    result = run("assess", "run", LAB, "--plan", str(plan), "--db", str(db), "--no-observe",
                 "-o", f"json={tmp_path / 'a.json'}", *argv)
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "a.json").exists() and _assessments(db) == []


def test_a_bad_questionnaire_names_file_line_and_field_and_nothing_is_written(tmp_path: Path, plan: Path) -> None:
    bad = tmp_path / "q.yaml"
    bad.write_text(Path(LAB).read_text(encoding="utf-8").replace("  uk_market: \"yes\"", "  uk_markt: \"yes\""),
                   encoding="utf-8")
    db, out = tmp_path / "never.db", tmp_path / "a.json"
    result = run("assess", "run", str(bad), "--plan", str(plan), "--db", str(db), "-o", f"json={out}")
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    assert result.stderr.startswith(f"iotvet: error: {bad}:") and "uk_markt" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not db.exists() and not out.exists()


def test_html_and_oscal_kinds_dispatch_to_their_writers(tmp_path: Path, plan: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for kind in ("html", "oscal"):
        module = types.ModuleType(f"iotvet.assess.{kind}")

        def write(assessment: object, kind: str = kind) -> bytes:
            calls.append(kind)
            return f"{kind} of {assessment.vendor}".encode()  # type: ignore[attr-defined]

        setattr(module, f"write_{kind}", write)
        monkeypatch.setitem(sys.modules, f"iotvet.assess.{kind}", module)
    result = run("assess", "run", LAB, "--plan", str(plan), "--db", str(tmp_path / "s.db"), "--no-observe",
                 "-o", f"html={tmp_path / 'a.html'}", "-o", f"oscal={tmp_path / 'a.oscal.json'}")
    assert result.exit_code == EXIT_OK and result.stdout == ""
    assert calls == ["html", "oscal"]
    assert (tmp_path / "a.html").read_text() == "html of Lab Provider"
    monkeypatch.setitem(sys.modules, "iotvet.assess.oscal", None)  # the module is missing
    missing = run("assess", "run", LAB, "--plan", str(plan), "--no-observe", "-o", f"oscal={tmp_path / 'b.json'}")
    assert missing.exit_code == EXIT_USAGE and "no oscal writer yet" in missing.stderr


def test_show_without_any_assessment_is_a_user_error(tmp_path: Path, plan: Path) -> None:
    _store(tmp_path, plan)
    result = run("assess", "show", "latest", "--db", str(tmp_path / "iotvet.db"))
    assert result.exit_code == EXIT_USAGE
    assert "the store holds no assessment yet" in result.stderr


def test_an_unwritable_output_stores_nothing(tmp_path: Path, plan: Path) -> None:
    _store(tmp_path, plan, leak("api-bola-read"))
    db, blocker = tmp_path / "iotvet.db", tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = run("assess", "run", LAB, "--plan", str(plan), "--db", str(db), "--no-observe",
                 "-o", f"json={blocker / 'a.json'}")
    assert result.exit_code == EXIT_USAGE and "cannot write" in result.stderr
    assert _assessments(db) == []
