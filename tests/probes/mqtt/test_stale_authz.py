"""``mq-stale-authz`` through ``mqtt.revoke``: a plan flow revokes a guest's access, the probe checks both sessions.

A tiny REST provider in the test owns Mosquitto's files: ``DELETE /vehicles/{device}/shares/{user}``
rewrites the ACL without the guest's grants and sends the broker SIGHUP (Mosquitto re-reads its
ACL and password files and applies them to connected clients too), ``POST /vehicles/{device}/shares``
grants them back. Three providers, one broker each, probed side by side through
:func:`iotvet.probes.run.run_probe` (the plan's flows run over HTTP as the vehicle's owner):

* ``applied``: the revocation reaches the broker: the guest's connected session and a new one
  lose read and write access (enforced), and the share flow restores it;
* ``ignored``: the API answers 204 but the broker's grants never change (the lab's own broker
  behaves like this: its ACLs are written once from vehicle ownership): access survives (leak);
* ``password``: the flow rotates the guest's broker password: Mosquitto drops the connected
  session and refuses a new login (enforced), and the restore flow puts the password back.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from iotvet.core.errors import UserError
from iotvet.core.records import Cell, Finding, Verdict
from iotvet.core.redact import Redactor
from iotvet.lab.mqtt.broker import password_line
from iotvet.plan import load_plan
from iotvet.probes.mqtt.dryrun import plan_mqtt
from iotvet.probes.run import RunOutcome, Sinks, run_probe
from tests.probes.mqtt.brokers import TEMPLATES, VC1, Account, Running, cast, mosquitto, plan_for, secure_acl
from tests.probes.mqtt.harness import side_by_side
from tests.servers import Recorder, serve

pytestmark = pytest.mark.timeout(60)
TOKEN = "owner-token-7f3a"
TELEMETRY, COMMAND = TEMPLATES["telemetry"], TEMPLATES["command"]
SHARE = (f"topic write vistacam/{VC1}/cmd",)  # the guest may also send commands while shared


@dataclass
class Result:
    cells: list[Cell]
    findings: list[Finding]
    outcome: RunOutcome
    hits: list[tuple[str, str, str]]

    def stale(self) -> dict[str, tuple[str, str]]:
        return {c.topic or "": (c.relation.value, c.verdict.value) for c in self.cells if c.check == "mq-stale-authz"}


def _provider(running: Running, accounts: dict[str, Account], behaviour: str) -> Callable[[Recorder], web.Application]:
    guest = accounts["ana"]
    files = {"granted": ("acl", secure_acl(accounts, extra_for={"ana": SHARE})),
             "revoked": ("acl", secure_acl({**accounts, "ana": replace(guest, devices=())})),
             "rotated": ("passwd", "".join(password_line(a.username, a.password if a is not guest else "rotated-9")
                                           + "\n" for a in accounts.values())),
             "restored": ("passwd", "".join(password_line(a.username, a.password) + "\n" for a in accounts.values()))}

    def apply(state: str) -> None:
        name, text = files[state]
        (running.workdir / name).write_text(text)
        os.kill(running.pid, signal.SIGHUP)

    def build(_: Recorder) -> web.Application:
        async def unshare(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.Response(status=401)
            if behaviour == "forbidden":
                return web.Response(status=403)
            if behaviour == "applied":
                apply("revoked")
            elif behaviour == "password":
                apply("rotated")
            return web.Response(status=204)

        async def share(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.Response(status=401)
            if (await request.json()).get("username") != guest.username:
                return web.Response(status=400)
            apply("restored" if behaviour == "password" else "granted")
            return web.Response(status=201)

        app = web.Application()
        app.router.add_delete("/vehicles/{device}/shares/{user}", unshare)
        app.router.add_post("/vehicles/{device}/shares", share)
        return app
    return build


def _plan(running: Running, accounts: dict[str, Account], api: Any, mode: str = "intrusive") -> dict[str, Any]:
    plan = plan_for(running, accounts, mode=mode, names=("vc1", "ana", "backend"))
    plan["target"] = {"base_url": api.url}
    plan["scope"]["hosts"].append(api.hostport)
    plan["identities"][1]["sacrificial"] = True
    plan["identities"].append({"name": "owner", "tenant": "vistacam", "auth": {"type": "bearer", "token": TOKEN}})
    plan["flows"] = {"unshare": {"method": "DELETE", "path": "/vehicles/{device}/shares/{user}"},
                     "share": {"method": "POST", "path": "/vehicles/{device}/shares",
                               "json": {"username": "{user}", "role": "guest"}}}
    plan["mqtt"]["revoke"] = [{"identity": "ana", "by": "owner", "flow": "unshare", "restore": "share",
                               "topics": ["telemetry", "command"], "wait": "0.5s"}]
    return plan


def _job(tmp: Path, behaviour: str) -> Callable[[], Result]:
    def run() -> Result:
        accounts = cast()
        with mosquitto(tmp / behaviour, accounts, secure_acl(accounts, extra_for={"ana": SHARE})) as running, \
                serve(_provider(running, accounts, behaviour)) as api:
            path = tmp / behaviour / "plan.yaml"
            path.write_text(yaml.safe_dump(_plan(running, accounts, api), sort_keys=False))
            loaded = load_plan(str(path))
            cells: list[Cell] = []
            findings: list[Finding] = []
            outcome = asyncio.run(run_probe(loaded, Redactor(loaded.secrets),
                                            Sinks(cells.append, findings.append, lambda _: None)))
            hits = [(h.method, h.path, h.headers.get("Authorization", "")) for h in api.recorder.hits]
            return Result(cells, findings, outcome, hits)
    return run


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    tmp = tmp_path_factory.mktemp("stale")
    behaviours = ("applied", "ignored", "password", "forbidden")
    return side_by_side({b: _job(tmp, b) for b in behaviours}, workers=4)


def test_a_revocation_that_reaches_the_broker_is_enforced_and_restored(results: dict[str, Result]) -> None:
    result = results["applied"]
    assert result.findings == []
    assert result.stale() == {TELEMETRY: ("same-tenant", "enforced"), COMMAND: ("same-tenant", "enforced")}
    reasons = " ".join(c.reason for c in result.cells if c.check == "mq-stale-authz")
    assert "connected session, read" in reasons and "new session, write" in reasons
    assert [(m, p) for m, p, _ in result.hits] == [("DELETE", f"/vehicles/{VC1}/shares/ana"),
                                                    ("POST", f"/vehicles/{VC1}/shares")]
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in result.hits)  # as the owner, the plan's `by`
    assert result.outcome.mqtt is not None
    assert any("restored ana's access" in n for n in result.outcome.mqtt.notes), result.outcome.mqtt.notes


def test_a_revocation_the_broker_never_learns_of_is_a_finding(results: dict[str, Result]) -> None:
    result = results["ignored"]
    assert result.stale() == {TELEMETRY: ("same-tenant", "leak"), COMMAND: ("same-tenant", "leak")}
    assert {(f.check, f.attacker, f.victim) for f in result.findings} == {("mq-stale-authz", "ana", "vc1")}
    for finding in result.findings:
        flow = [e.http for e in finding.evidence if e.http is not None]
        assert flow and flow[0].method == "DELETE" and flow[0].status == 204
        assert any(e.mqtt and e.mqtt.action == "receive" for e in finding.evidence)
        assert TOKEN not in finding.model_dump_json()


def test_a_rotated_password_drops_the_session_and_refuses_a_new_one(results: dict[str, Result]) -> None:
    result = results["password"]
    assert result.findings == []
    assert result.stale() == {TELEMETRY: ("same-tenant", "enforced"), COMMAND: ("same-tenant", "enforced")}
    reasons = " ".join(c.reason for c in result.cells if c.check == "mq-stale-authz")
    assert "closed ana's session" in reasons and "CONNACK" in reasons
    assert result.outcome.mqtt is not None
    assert any("restored ana's access" in n for n in result.outcome.mqtt.notes), result.outcome.mqtt.notes


def test_a_revocation_the_api_refuses_decides_nothing_and_restores_nothing(results: dict[str, Result]) -> None:
    result = results["forbidden"]
    assert result.findings == []
    cells = [c for c in result.cells if c.check == "mq-stale-authz"]
    assert cells and all(c.verdict is Verdict.INCONCLUSIVE and "403" in c.reason for c in cells)
    assert [m for m, _, _ in result.hits] == ["DELETE"]  # nothing changed: no restore


def test_every_other_cell_is_decided_as_without_a_revocation(results: dict[str, Result]) -> None:
    for name, result in results.items():
        if name == "forbidden":
            continue
        undecided = [c for c in result.cells if c.verdict is Verdict.INCONCLUSIVE]
        assert undecided == [], [(c.check, c.topic, c.reason) for c in undecided]


def test_the_plan_key_is_checked_and_outside_intrusive_mode_nothing_is_revoked(tmp_path: Path) -> None:
    accounts = cast()
    running = Running(1883, None, tmp_path / "ca.pem", tmp_path)
    running.ca.write_text("")
    api = type("Api", (), {"url": "http://127.0.0.1:9", "hostport": "127.0.0.1:9"})()
    plan = _plan(running, accounts, api)
    plan["flows"]["unshare"]["path"] = "/vehicles/{vin}/shares/{user}"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    with pytest.raises(UserError, match=r"mqtt.revoke\[0\].flow: flow 'unshare' uses \{vin\}"):
        load_plan(str(tmp_path / "bad.yaml"))
    for mode, cells in (("safe-writes", 0), ("intrusive", 2)):
        path = tmp_path / f"{mode}.yaml"
        path.write_text(yaml.safe_dump(_plan(running, accounts, api, mode=mode), sort_keys=False))
        dry = plan_mqtt(load_plan(str(path)))
        assert len([c for c in dry.cells if c.check == "mq-stale-authz"]) == cells
        assert any(what.startswith("mq-stale-authz") for what, _ in dry.skipped) is (mode != "intrusive")
