"""How long the MQTT probe's full catalogue takes, what it sends, and how that grows with identities.

Every run starts the lab's Mosquitto (``iotvet.lab.mqtt.broker.Broker``: TLS, generated password
file and ACL) on free 127.0.0.1 ports, writes a plan for a generated cast and runs
``iotvet.probes.mqtt.probe_mqtt`` in intrusive mode (every check, vehicles sacrificial), then
stops the broker. Nothing talks to anything but 127.0.0.1.

* **catalogue**: one tenant pair (two brands, two vehicles and two app users each, plus the
  backend), on the secure broker and with every lab MQTT flaw on, at several plan rates.
* **growth**: the secure broker with more brands and more vehicles per brand, at a high rate, so
  the figures show the work itself (messages, connects, wall time) rather than the rate limit.

Run:  .venv/bin/python benchmarks/mqtt_probe.py [--rates 10,50,1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.lab.mqtt import flaws as F
from iotvet.lab.mqtt.accounts import MqttAccount
from iotvet.lab.mqtt.broker import Broker
from iotvet.lab.mqtt.topics import TEMPLATES
from iotvet.lab.pki import LabPKI
from iotvet.plan.loader import load_plan
from iotvet.probes.mqtt import ProbeOptions, probe_mqtt
from iotvet.transport.governor import Governor

BRANDS = ("vistacam", "roadhaus", "nordvik", "castellan", "lumacam", "auralis", "kestrel", "meridia")


def cast(brands: int, vehicles: int) -> tuple[list[MqttAccount], list[dict[str, Any]]]:
    """Accounts for the broker and identities for the plan: per brand ``vehicles`` vehicles, one app user each."""
    accounts: list[MqttAccount] = []
    identities: list[dict[str, Any]] = []
    for b in range(brands):
        tenant = BRANDS[b]
        for v in range(vehicles):
            vin = f"{tenant[:3].upper()}{b}BENCH{v:08d}"
            device = MqttAccount(f"tcu-{vin.lower()}", secrets.token_urlsafe(12), "device", tenant, device=vin,
                                 client_id=vin)
            app = MqttAccount(f"user{v}.{tenant}", secrets.token_urlsafe(12), "app", tenant, devices=(vin,))
            accounts += [device, app]
            identities.append({"name": f"dev.{vin}", "tenant": tenant, "role": "device", "device": vin,
                               "sacrificial": True, "mqtt": {"username": device.username,
                                                             "password": device.password, "client_id": vin}})
            identities.append({"name": app.username, "tenant": tenant, "role": "user", "devices": [vin],
                               "mqtt": {"username": app.username, "password": app.password,
                                        "client_id": app.username}})
    backend = MqttAccount("backend", secrets.token_urlsafe(12), "backend", None, client_id="backend")
    accounts.append(backend)
    identities.append({"name": "backend", "tenant": "platform", "role": "operator",
                       "mqtt": {"username": "backend", "password": backend.password, "client_id": "backend"}})
    return accounts, identities


async def one_run(brands: int, vehicles: int, flaws: set[str], rate: float, workdir: Path) -> dict[str, Any]:
    accounts, identities = cast(brands, vehicles)
    with Broker(accounts, flaws, workdir / "broker", LabPKI(workdir / "pki")) as broker:
        plan = {"mqtt": {"url": broker.tls_url, "require_tls": True, "ca": str(broker.ca), "topics": dict(TEMPLATES)},
                "scope": {"hosts": [f"127.0.0.1:{broker.ports.tls}"]},
                "safety": {"mode": "intrusive", "rate": rate, "concurrency": 16, "max_requests": 100_000,
                           "max_duration": "10m"},
                "identities": identities}
        path = workdir / "plan.yaml"
        path.write_text(yaml.safe_dump(plan, sort_keys=False))
        loaded = load_plan(str(path))
        governor = Governor(rate=rate, concurrency=16, max_requests=100_000, max_duration=600)
        cells: list[Cell] = []
        findings: list[Finding] = []
        started = time.monotonic()
        summary = await probe_mqtt(loaded, governor, Redactor(loaded.secrets), on_cell=cells.append,
                                   on_finding=findings.append, options=ProbeOptions())
        elapsed = time.monotonic() - started
    return {"brands": brands, "vehicles_per_brand": vehicles, "identities": len(identities),
            "flaws": "all" if flaws else "none", "rate": rate, "seconds": round(elapsed, 2),
            "messages": summary.messages_sent, "connects": summary.connects, "permits": governor.usage.permits,
            "cells": len(cells), "decided": summary.cells_decided, "inconclusive": summary.cells_inconclusive,
            "findings": len(findings),
            "leak_cells": sorted({(f.topic, f.relation.value) for f in findings if f.relation}).__len__()}


def table(rows: list[dict[str, Any]], title: str) -> str:
    cols = ["identities", "brands", "vehicles_per_brand", "flaws", "rate", "seconds", "messages", "connects",
            "permits", "cells", "decided", "inconclusive", "findings"]
    lines = [title, "| " + " | ".join(cols) + " |", "|" + "---:|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,50,1000", help="plan rates for the catalogue runs")
    parser.add_argument("--growth", default="2x2,2x4,2x8,4x2,6x2,8x2",
                        help="BRANDSxVEHICLES sizes for the growth runs (at rate 1000)")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout, tables on stderr")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.growth.split(",") if s]
    catalogue: list[dict[str, Any]] = []
    growth: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="iotvet-bench-mqtt-") as tmp:
        base = Path(tmp)
        n = 0
        for flaws in (set(), set(F.MQTT_FLAWS)):
            for rate in rates:
                n += 1
                catalogue.append(asyncio.run(one_run(2, 2, flaws, rate, base / f"c{n}")))
        for brands, vehicles in sizes:
            n += 1
            growth.append(asyncio.run(one_run(brands, vehicles, set(), 1000, base / f"g{n}")))
    out = sys.stderr if args.json else sys.stdout
    print(table(catalogue, "Full catalogue, one tenant pair (2 brands x 2 vehicles + 2 app users, + backend)"),
          file=out)
    print(file=out)
    print(table(growth, "Growth with identities (secure broker, rate 1000)"), file=out)
    if args.json:
        record = {"benchmark": "mqtt_probe", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "machine": {"platform": platform.platform(), "python": platform.python_version()},
                  "catalogue": catalogue, "growth": growth}
        print(json.dumps(record))
    bad = [r for r in catalogue if r["flaws"] == "none" and (r["findings"] or r["inconclusive"])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
