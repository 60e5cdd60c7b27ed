"""Plans for the MQTT probe's tests, and one call that runs the probe and collects what it reported."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from iotvet.core.records import Cell, Finding, Verdict
from iotvet.core.redact import Redactor
from iotvet.lab.mqtt.accounts import MqttAccount
from iotvet.lab.mqtt.broker import Broker
from iotvet.lab.mqtt.topics import TEMPLATES
from iotvet.plan.loader import load_plan
from iotvet.probes.mqtt import MqttRunSummary, ProbeOptions, probe_mqtt
from iotvet.transport.governor import Governor

T = TypeVar("T")
FAST = ProbeOptions(settle=1.0, quiet=0.4, hop=0.1, grace=0.15, kick_repeats=2, kick_window=0.8)
"""Bounds for one probe at a time on a quiet machine."""
SHARED = ProbeOptions(settle=2.0, quiet=0.8, hop=0.2, grace=0.3, kick_repeats=2, kick_window=1.5)
"""Bounds for several probes running side by side (looser timing; sentinels keep negatives fast)."""


@dataclass
class Outcome:
    """What one probe run reported."""

    cells: list[Cell]
    findings: list[Finding]
    summary: MqttRunSummary
    governor: Governor
    secrets: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> set[tuple[str, str]]:
        """Findings as ground-truth cells: (topic template, relation)."""
        return {(f.topic or "", f.relation.value if f.relation else "") for f in self.findings}

    def verdicts(self, verdict: Verdict) -> list[Cell]:
        return [c for c in self.cells if c.verdict is verdict]

    def table(self) -> str:
        return "\n".join(f"{c.check:18} {c.topic or '':28} {c.relation.value:14} {c.verdict.value:12} "
                         f"{c.attacker}->{c.victim}: {c.reason[:110]}" for c in self.cells)


def ground_truth(flaws: set[str] | frozenset[str], outcome: Outcome | None = None) -> set[tuple[str, str]]:
    """The union of the lab's ground-truth cells for ``flaws``, as (topic template, relation).

    With ``outcome``, cells of relation classes the run's plan cannot cover (its summary lists them
    as untested, e.g. other-tenant-admin in a plan without admins) are left out.
    """
    from iotvet.lab.mqtt.flaws import MQTT_FLAWS

    uncoverable = {r.value for r in outcome.summary.untested} if outcome is not None else set()
    return {(c.topic or "", c.relation) for f in flaws for c in MQTT_FLAWS[f].cells(None)
            if c.relation not in uncoverable}


def identity(name: str, account: MqttAccount, *, sacrificial: bool = True, **extra: Any) -> dict[str, Any]:
    """A plan identity for a lab broker account."""
    ident: dict[str, Any] = {"name": name, "tenant": account.tenant or "platform"}
    if account.kind == "device":
        ident.update(role="device", device=account.device)
    elif account.kind in ("backend", "operator"):
        ident["role"] = "operator"
    else:
        ident.update(role="user", devices=list(account.devices))
    if sacrificial and account.kind == "device":
        ident["sacrificial"] = True
    ident["mqtt"] = {"username": account.username, "password": account.password,
                     "client_id": account.client_id or account.username}
    ident.update(extra)
    return ident


def lab_plan(broker: Broker, accounts: dict[str, MqttAccount], *, mode: str = "intrusive", url: str | None = None,
             names: tuple[str, ...] = ("vc1", "vc2", "rh1", "rh2", "ana", "ben", "cara", "dan", "backend"),
             rate: float = 2000, max_requests: int = 100_000) -> dict[str, Any]:
    """A plan for the lab broker with ``accounts`` (see tests.lab.mqtt_fixtures.lab_accounts)."""
    ports = broker.ports
    hosts = [f"127.0.0.1:{p}" for p in (ports.tls, ports.ws, ports.cert, ports.plain) if p]
    mqtt: dict[str, Any] = {"url": url or broker.tls_url, "require_tls": True, "ca": str(broker.ca),
                            "topics": dict(TEMPLATES)}
    if broker.plain_url:
        mqtt["also"] = [broker.plain_url]
    return {
        "mqtt": mqtt,
        "scope": {"hosts": hosts},
        "safety": {"mode": mode, "rate": rate, "concurrency": 16, "max_requests": max_requests,
                   "max_duration": "2m", "request_timeout": "5s"},
        "identities": [identity(n, accounts[n]) for n in names],
    }


def side_by_side(jobs: dict[str, Callable[[], T]], workers: int = 4) -> dict[str, T]:
    """Run independent probe jobs (each with its own broker and event loop) in threads."""
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def run_probe(plan: dict[str, Any], tmp: Path, options: ProbeOptions = FAST,
              governor: Governor | None = None) -> Outcome:
    """Write ``plan``, load it and run the MQTT probe on a fresh event loop."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    loaded = load_plan(str(path))
    safety = loaded.plan.safety
    gov = governor or Governor(rate=safety.rate, concurrency=safety.concurrency, max_requests=safety.max_requests,
                               max_duration=safety.max_duration)
    cells: list[Cell] = []
    findings: list[Finding] = []
    summary = asyncio.run(probe_mqtt(loaded, gov, Redactor(loaded.secrets), on_cell=cells.append,
                                     on_finding=findings.append, options=options))
    return Outcome(cells, findings, summary, gov, [v for _, v in loaded.secrets])
