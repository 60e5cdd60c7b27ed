"""Stored assessments: written redacted with the runs they cite, found again by latest, id or prefix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iotvet.core.errors import UserError
from iotvet.core.redact import Redactor
from iotvet.store import Store
from iotvet.store.assessments import load_assessment, record_assessment

SECRET = "pa55word-for-the-plan"


def test_record_and_load_by_latest_id_and_prefix(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}", redactor=Redactor([("ana.password", SECRET)])) as store:
        with pytest.raises(UserError, match="no assessment yet"):
            load_assessment(store, "latest")
        first = record_assessment(store, vendor="Acme", runs=["r1"], created=100.0, assessment_id="a1-x",
                                  document=json.dumps({"reason": f"leaked {SECRET}", "n": 1}))
        second = record_assessment(store, vendor="Acme", runs=["r1", "r2"], created=200.0, assessment_id="a1-y",
                                   document=json.dumps({"n": 2}))
        latest = load_assessment(store, "latest")
        assert (latest.id, latest.runs, json.loads(latest.document)) == (second, ("r1", "r2"), {"n": 2})
        stored = load_assessment(store, "a1-x")
        assert stored.id == first and SECRET not in stored.document
        assert json.loads(stored.document)["reason"] == "leaked [REDACTED:ana.password]"
        with pytest.raises(UserError, match="ambiguous"):
            load_assessment(store, "a1")
        with pytest.raises(UserError, match="no assessment 'zz'"):
            load_assessment(store, "zz")
        own = record_assessment(store, vendor="Acme", runs=[], document=json.dumps({"s": SECRET}),
                                redactor=Redactor())  # the caller's redactor wins over the store's
        assert SECRET in load_assessment(store, own).document
        assert own.startswith("a") and load_assessment(store, own[:8]).id == own
