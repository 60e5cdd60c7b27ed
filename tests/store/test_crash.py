"""Crash safety: a writer SIGKILLed mid-run loses nothing it had reported as recorded."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from iotvet.store import RunStatus, Store

ROOT = Path(__file__).resolve().parents[2]


def _kill_after(url: str, run_id: str, steps: int) -> int:
    """Start the writer, SIGKILL it once it has reported ``steps`` commits; the last step it reported."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.store.crash_writer", url, run_id], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    last = 0
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= steps:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # Anything printed after our decision may also have been committed. Read through the same text
        # stream: its read-ahead buffer may already hold lines that communicate() would skip.
        rest = proc.stdout.read()
        err = proc.stderr.read() if proc.stderr is not None else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert last >= steps, f"writer died early: {err[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    return max([last, *(int(x) for x in rest.split())])


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_loses_nothing_recorded(db_url: str, seed: int) -> None:
    steps = random.Random(seed).randint(15, 60)
    run_id = f"crash-{seed}"
    last = _kill_after(db_url, run_id, steps)
    store = Store.open(db_url)
    try:
        data = store.load_run(run_id)
        exchanges = store.exchanges(run_id)
        assert data.run.status is RunStatus.RUNNING and data.run.finished is None  # the writer died mid-run
        ids = {e.id for e in exchanges}
        assert {f"h{n}" for n in range(1, last + 1)} <= ids  # every promised exchange is there
        assert len(ids) in (last, last + 1)  # plus at most the step cut short between commit and print
        assert sorted(e.seq for e in exchanges) == list(range(1, len(exchanges) + 1))
        places = {c.operation.path for c in data.cells if c.operation}
        assert {f"/v1/vehicles/{n}" for n in range(1, last + 1)} <= places
        assert len(data.findings) >= last // 5
        assert all(e.response_body and e.response_body.endswith("}") for e in exchanges)  # no torn rows
        with store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        store.resume_run(run_id)  # and the run can be continued
        store.finish_run(RunStatus.COMPLETE)
    finally:
        store.close()
