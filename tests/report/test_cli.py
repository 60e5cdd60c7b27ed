"""``iotvet report``, ``runs`` and ``diff`` end to end on a SQLite store."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import iotvet.cli.report_cmds  # noqa: F401  (registers the verbs until app.py lists the module)
from iotvet.cli import main
from iotvet.store import RunData, RunStatus, Store
from tests.report import sample
from tests.report.conftest import validate_report, validate_sarif

OLD, NEW = "r20261101T100000-aaaaaa", "r20261125T100000-bbbbbb"


def store_run(store: Store, data: RunData, run_id: str, started: float) -> None:
    store.start_run(run_id=run_id, started=started, target=data.run.target, plan_file=data.run.plan_file,
                    identities=data.identities, untested=data.untested)
    for f in data.findings:
        store.record_finding(f)
    for c in data.cells:
        store.record_cell(c)
    store.finish_run(data.run.status, reason=data.run.reason)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IOTVET_DB", raising=False)
    path = str(tmp_path / "iotvet.db")
    with Store.open(path) as store:
        old = sample.run_data().model_copy(update={"findings": sample.findings()[:2], "cells": sample.cells()[:2]})
        store_run(store, old, OLD, 1_000.0)
        store_run(store, sample.run_data(drop=1), NEW, 2_000.0)
    return path


def test_report_writes_every_format_and_gates(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["report", "latest", "--db", db, "-o", f"json={out}/r.json", "-o", f"sarif={out}/r.sarif",
                 "-o", f"junit={out}/r.xml", "-o", f"html={out}/r.html", "-o", f"table={out}/r.txt"])
    assert code == 1
    captured = capsys.readouterr()
    assert "Findings" in captured.out and "exit 1: findings at or above high" in captured.err
    validate_report(json.loads((out / "r.json").read_bytes()))
    validate_sarif(json.loads((out / "r.sarif").read_bytes()))
    ET.fromstring((out / "r.xml").read_bytes())
    assert (out / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "Access matrix" in (out / "r.txt").read_text()
    assert not list(out.glob(".*"))  # no temporary files left behind
    assert main(["report", NEW[:12], "--db", db, "--fail-on", "none", "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_format_on_stdout_and_incomplete_runs(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Store.open(db) as store:
        store.resume_run(OLD)
        store.finish_run(RunStatus.INTERRUPTED, reason="SIGINT")
    assert main(["report", OLD, "--db", db, "-f", "json", "--fail-on", "none"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["run"]["status"] == "interrupted" and doc["run"]["sessions"] == 2


def test_ignore_file_default_and_explicit(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".iotvetignore.yaml").write_text(
        "ignore:\n  - check: '*'\n    reason: accepted for the pilot\n    expires: 2099-01-01\n")
    assert main(["report", NEW, "--db", db, "-f", "json"]) == 0  # everything suppressed
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["active"] == 0 and doc["summary"]["suppressed"] == 3
    expired = tmp_path / "expired.yaml"
    expired.write_text("ignore:\n  - check: '*'\n    reason: old\n    expires: 2020-01-01\n")
    assert main(["report", NEW, "--db", db, "--ignore-file", str(expired), "-q"]) == 1
    assert "expired on 2020-01-01; it no longer suppresses" in capsys.readouterr().err
    impossible = tmp_path / "impossible.yaml"
    impossible.write_text("ignore:\n  - check: api-bola-read\n    reason: x\n    expires: 2026-02-30\n")
    assert main(["report", NEW, "--db", db, "--ignore-file", str(impossible)]) == 2
    assert f"{impossible}" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("ignore:\n  - check: api-bola-read\n    reson: typo\n")
    assert main(["report", NEW, "--db", db, "--ignore-file", str(bad)]) == 2
    assert f"{bad}:3: ignore[0].reson: unknown field" in capsys.readouterr().err


def test_baseline_by_run_and_by_file(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", NEW, "--db", db, "--baseline", OLD, "-f", "json", "--fail-on", "critical"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["baseline"] == {"ref": OLD, "new": 2, "unchanged": 1, "absent": 1}
    old_json = tmp_path / "old.json"
    assert main(["report", OLD, "--db", db, "-o", f"json={old_json}", "-q", "--fail-on", "none"]) == 0
    assert main(["report", NEW, "--db", db, "--baseline", str(old_json), "-q", "--fail-on", "critical"]) == 1
    assert main(["report", OLD, "--db", db, "--baseline", OLD, "-q"]) == 0  # nothing new: clean
    capsys.readouterr()


@pytest.mark.parametrize(("argv", "message"), [
    (["report", "nope"], "no run 'nope'"),
    (["report", NEW, "-f", "pdf"], "unknown format 'pdf'"),
    (["report", NEW, "-o", "sarif"], "write it as FORMAT=PATH"),
    (["report", NEW, "-o", "csv=x.csv"], "unknown format 'csv'"),
    (["report", NEW, "--fail-on", "severe"], "unknown severity"),
    (["report", NEW, "--ignore-file", "missing.yaml"], "missing.yaml: file not found"),
    (["diff", OLD, NEW, "-f", "html"], "not one of table, json"),
])
def test_usage_errors_exit_2_and_write_nothing(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               argv: list[str], message: str) -> None:
    assert main([*argv, "--db", db]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_unwritable_output_leaves_nothing_behind(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").mkdir()
    assert main(["report", NEW, "--db", db, "-q", "-o", f"json={tmp_path / 'taken'}"]) == 2
    assert "taken: cannot write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iotvet.db", "taken"]


def test_missing_store_is_an_error_not_a_new_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", str(tmp_path / "none.db")]) == 2
    assert "no store at" in capsys.readouterr().err and not (tmp_path / "none.db").exists()


def test_runs_and_diff(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert listing.index(NEW) < listing.index(OLD)
    assert main(["diff", OLD, NEW, "--db", db, "-f", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["new"]) == 2 and len(doc["fixed"]) == 1 and doc["unchanged"] == 1
    assert any(c["regression"] for c in doc["cells"])
    assert main(["diff", OLD, NEW, "--db", db, "--fail-on", "none"]) == 0
    assert "New findings" in capsys.readouterr().out
    assert main(["diff", NEW, NEW, "--db", db]) == 0
