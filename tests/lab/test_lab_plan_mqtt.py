"""The real MQTT probe through the lab's own written plan: its leak cells are the lab's ground truth.

Each configuration starts a whole lab (REST, Mosquitto, live vehicles, backend), writes and loads
the plan ``iotvet lab`` prints, and runs :func:`iotvet.probes.mqtt.probe_mqtt` with it. The plan's
device identities are bench devices (broker accounts without a live client) and its
``backend.probe`` identity proves command channels, so no cell is lost to a fight with a running
vehicle. Client-id kicks and session steals only run in intrusive mode; the tests that expect
those cells switch the plan to intrusive, the "no flaw" run keeps the written plan's mode.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from iotvet.core.records import Cell, Finding, Verdict
from iotvet.core.redact import Redactor
from iotvet.lab.mqtt import flaws as F
from iotvet.lab.runner import LabConfig, lab_in_thread, resolve_flaws
from iotvet.plan import load_plan
from iotvet.probes.mqtt import MqttRunSummary, ProbeOptions, probe_mqtt
from iotvet.transport.governor import Governor

pytestmark = pytest.mark.timeout(150)

OPTIONS = ProbeOptions(settle=2.0, quiet=0.8, hop=0.2, grace=0.3, kick_repeats=2, kick_window=1.5)
"""Bounds for several labs probed side by side."""
INTRUSIVE = frozenset({F.ANON, F.CLIENTID_KICK, F.SESSION_STEAL, F.CLIENTID_ACL})
"""Flaws with cells that only client-id kicks, session steals or the victim's own client id show."""


@dataclass
class Run:
    """One lab, probed through its own plan."""

    flaws: frozenset[str]
    shape: int
    mode: str
    plan: dict[str, Any]
    cells: list[Cell]
    findings: list[Finding]
    summary: MqttRunSummary
    truth: set[tuple[str, str]]
    seconds: float

    @property
    def leaks(self) -> set[tuple[str, str]]:
        return {(f.topic or "", f.relation.value if f.relation else "") for f in self.findings}

    @property
    def decided(self) -> int:
        return sum(c.verdict in (Verdict.ENFORCED, Verdict.LEAK) for c in self.cells)

    def table(self) -> str:
        return "\n".join(f"{c.check:18} {c.topic or '':28} {c.relation.value:18} {c.verdict.value:12} "
                         f"{c.attacker}->{c.victim}: {c.reason[:100]}" for c in self.cells)


def probe_lab(spec: str, shape: int, tmp: Path, *, mode: str | None = None) -> Run:
    """Start the lab, write its plan (rate raised, mode optionally overridden) and probe its broker."""
    flaws = resolve_flaws(spec)
    started = time.monotonic()
    with lab_in_thread(LabConfig(flaws=flaws, shape_seed=shape, mqtt="on", workdir=tmp)) as lab:
        plan = lab.plan
        plan["safety"]["rate"] = 500
        if mode is not None:
            plan["safety"]["mode"] = mode
        path = tmp / "plan.yaml"
        path.write_text(yaml.safe_dump(plan, sort_keys=False, width=120), encoding="utf-8")
        loaded = load_plan(str(path))
        safety = loaded.plan.safety
        governor = Governor(rate=safety.rate, concurrency=safety.concurrency, max_requests=safety.max_requests,
                            max_duration=safety.max_duration)
        cells: list[Cell] = []
        findings: list[Finding] = []
        summary = asyncio.run(probe_mqtt(loaded, governor, Redactor(loaded.secrets), on_cell=cells.append,
                                         on_finding=findings.append, options=OPTIONS))
        truth = {(c["topic"], c["relation"]) for f in lab.ground_truth()["flaws"] if f["plane"] == "mqtt"
                 for c in f["cells"]}
    return Run(flaws, shape, safety.mode, plan, cells, findings, summary, truth, time.monotonic() - started)


def _side_by_side(jobs: dict[str, Any], workers: int) -> dict[str, Run]:
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    configs = {"all-0": ("all", 0, "intrusive"), "none-0": ("none", 0, None),
               "all-3": ("all", 3, "intrusive"), "none-3": ("none", 3, None)}
    dirs = {name: tmp_path_factory.mktemp(name) for name in configs}  # here: mktemp is not thread-safe
    return _side_by_side({name: (lambda n=name, c=c: probe_lab(c[0], c[1], dirs[n], mode=c[2]))
                          for name, c in configs.items()}, workers=4)


def test_the_plan_names_bench_devices_and_a_probe_backend(runs: dict[str, Run]) -> None:
    plan = runs["none-0"].plan
    assert plan["safety"]["mode"] == "safe-writes"  # the written plan stays non-intrusive
    devices = [i for i in plan["identities"] if i["role"] == "device"]
    assert devices and all(i["sacrificial"] for i in devices)
    users = {i["mqtt"]["username"] for i in devices}
    assert len(users) == len(devices) and "backend" not in users
    backend = [i for i in plan["identities"] if i["name"] == "backend.probe"]
    assert backend and backend[0]["role"] == "operator" and backend[0]["mqtt"]["username"] != "backend"
    assert backend[0]["mqtt"]["client_id"] != "backend"


@pytest.mark.parametrize("name", ["all-0", "all-3"])
def test_all_flaws_are_found_and_nothing_else(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    print(f"\n{name}: found {len(run.truth & run.leaks)}/{len(run.truth)}, missed {sorted(run.truth - run.leaks)}, "
          f"extra {sorted(run.leaks - run.truth)}, {run.seconds:.1f}s")
    assert run.truth - run.leaks == set(), run.table()
    assert run.leaks - run.truth == set(), run.table()
    # the REST plane's shared-device-credential flaw names MQTT cells: the forged device login finds them
    shared = {(f.topic, f.relation.value if f.relation else "") for f in run.findings if f.check == "id-shared-cred"}
    assert shared == {("{tenant}/{device}/telemetry", "device"), ("{tenant}/{device}/cmd", "device")}, run.table()


@pytest.mark.parametrize("name", ["none-0", "none-3"])
def test_no_flaw_no_finding_and_most_cells_decided(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    share = run.decided / len(run.cells)
    print(f"\n{name} ({run.mode}): {run.decided}/{len(run.cells)} decided ({share:.0%}), "
          f"{run.summary.cells_inconclusive} inconclusive, {run.summary.cells_not_tested} not tested, "
          f"{run.seconds:.1f}s")
    assert run.findings == [], run.table()
    assert share >= 0.8, run.table()
    # safe-writes: only the intrusive checks (and the absent plaintext listener) stay untested, and
    # no cell is lost to a fight with a live vehicle
    untested = {c.check for c in run.cells if c.verdict is Verdict.NOT_TESTED}
    assert untested <= {"mq-clientid-kick", "mq-session-steal", "mq-plaintext"}, run.table()
    # every cell decided: brand admins (other-tenant-admin attackers) hold the catch-all too
    assert [c for c in run.cells if c.verdict is Verdict.INCONCLUSIVE] == [], run.table()
    forged = [c for c in run.cells if c.check == "id-shared-cred"]
    assert forged and all(c.verdict is Verdict.ENFORCED and "CONNACK" in c.reason for c in forged), run.table()


@pytest.fixture(scope="module")
def singles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    dirs = {name: tmp_path_factory.mktemp(name) for name in sorted(F.MQTT_FLAWS)}
    jobs = {name: (lambda n=name: probe_lab(n, 0, dirs[n], mode="intrusive" if n in INTRUSIVE else None))
            for name in sorted(F.MQTT_FLAWS)}
    return _side_by_side(jobs, workers=5)


@pytest.mark.parametrize("name", sorted(F.MQTT_FLAWS))
def test_each_mqtt_flaw_alone_is_its_ground_truth(singles: dict[str, Run], name: str) -> None:
    run = singles[name]
    assert run.truth - run.leaks == set(), run.table()
    assert run.leaks - run.truth == set(), run.table()
    assert F.MQTT_FLAWS[name].check in {f.check for f in run.findings}
