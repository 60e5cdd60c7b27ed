"""Crash safety end to end: a lab probe killed with SIGKILL at several points, then resumed, gives the
same verdicts as an uninterrupted run, loses no recorded exchange, and leaves the lab's objects as
they were seeded; ``iotvet restore`` undoes what an interrupted run left changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx  # noqa: TID251 - the test reads the lab's state directly, not through iotvet
import pytest
import yaml

from iotvet.store import Store

pytestmark = pytest.mark.timeout(300)
IOTVET = [sys.executable, "-m", "iotvet"]


def _iotvet(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IOTVET, *args], capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def lab_plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("lab")
    plan = work / "plan.yaml"
    proc = subprocess.Popen([*IOTVET, "lab", "--flaws", "all", "--mqtt", "off", "--write-plan", str(plan),
                             "--workdir", str(work / "w"), "--duration", "280"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not plan.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert plan.exists(), "the lab did not start"
        time.sleep(0.3)
        yield plan
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def _nicknames(plan_path: Path) -> dict[str, str]:
    """Every plan user's vehicles' nicknames, read with the lab's own API."""
    plan = yaml.safe_load(plan_path.read_text())
    base, ca = plan["target"]["base_url"], plan["target"]["ca"]
    out: dict[str, str] = {}
    import ssl

    with httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=ca), timeout=10) as client:
        for ident in plan["identities"]:
            auth = ident.get("auth")
            if not auth or not ident.get("devices"):
                continue
            login = client.post(auth["request"]["path"], json=auth["request"]["json"]).json()
            token = login.get("access_token") or login.get("data", {}).get("access_token")
            use = auth.get("use") or {}
            headers = {use.get("header", "Authorization"): use.get("prefix", "Bearer ") + token} \
                if not use.get("cookie") else {}
            client.cookies.clear()
            if use.get("cookie"):
                client.cookies.set(use["cookie"], token)
            for device in ident["devices"]:
                body = client.get(f"/vehicles/{device}", headers=headers).json()
                body = body.get("data", body) if isinstance(body, dict) else body
                out[device] = body.get("nickname", "") if isinstance(body, dict) else ""
    return out


def _verdicts(db: Path) -> dict[tuple[str, str, str], str]:
    with Store.open(f"sqlite:///{db}") as store:
        data = store.load_run("latest")
    return {(c.check, str(c.operation), c.relation.value): c.verdict.value for c in data.cells}


def test_kill_resume_restore(lab_plan: Path, tmp_path: Path) -> None:
    seeded = _nicknames(lab_plan)
    base = _iotvet("probe", str(lab_plan), "--db", str(tmp_path / "base.db"), "-q")
    assert base.returncode == 1, base.stderr  # the lab's flaws are findings
    expected = _verdicts(tmp_path / "base.db")
    assert _nicknames(lab_plan) == seeded
    total = _exchanges(tmp_path / "base.db")
    for kill_at in (0.15, 0.45, 0.75):
        db = tmp_path / f"k{kill_at}.db"
        proc = subprocess.Popen([*IOTVET, "probe", str(lab_plan), "--db", str(db), "-q"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120  # kill at a share of the work, however slow the machine is today
        while time.monotonic() < deadline and proc.poll() is None and _exchanges(db) < kill_at * total:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        with Store.open(f"sqlite:///{db}") as store:
            run = store.load_run("latest").run
            before = len(store.exchanges(run.id))
        assert run.status.value == "running"  # the writer died: nothing marked it finished
        resumed = _iotvet("probe", str(lab_plan), "--db", str(db), "--resume", "latest", "-q")
        assert resumed.returncode == 1, resumed.stderr
        assert _verdicts(db) == expected, kill_at
        with Store.open(f"sqlite:///{db}") as store:
            data = store.load_run("latest")
            assert len(store.exchanges(data.run.id)) >= before  # nothing recorded was lost
            assert data.run.status.value == "complete"
        assert _nicknames(lab_plan) == seeded, kill_at


def _exchanges(db: Path) -> int:
    """Exchanges stored so far (0 while the store does not exist yet)."""
    import sqlite3

    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as conn:
            row = conn.execute("select count(*) from exchanges").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


def _pending_patch(db: Path) -> bool:
    import sqlite3

    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as conn:
            row = conn.execute("select count(*) from journal where restored = 0 and method = 'PATCH' "
                               "and restore_error is null").fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def test_restore_undoes_an_interrupted_write(lab_plan: Path, tmp_path: Path) -> None:
    seeded = _nicknames(lab_plan)
    for attempt in range(6):
        db = tmp_path / f"r{attempt}.db"
        proc = subprocess.Popen([*IOTVET, "probe", str(lab_plan), "--db", str(db), "-q", "--checks",
                                 "api-bola-write"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not _pending_patch(db):
            time.sleep(0.002)
        time.sleep(0.01 * attempt)  # let the journaled write reach the lab
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if _nicknames(lab_plan) != seeded:
            break
    else:
        pytest.skip("no write was caught half-way in six attempts")
    restored = _iotvet("restore", "latest", "--db", str(db))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "restored" in restored.stdout
    assert _nicknames(lab_plan) == seeded
