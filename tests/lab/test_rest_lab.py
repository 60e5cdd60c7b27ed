"""Running the lab: the written plan, the HAR recording, the command sink and a clean stop."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx  # noqa: TID251 - tests talk to the lab directly
import pytest
from jsonpath_ng import parse as jsonpath

from iotvet.lab.rest import flaws as F
from iotvet.lab.rest.har import write_har
from iotvet.lab.runner import LabConfig, lab_in_thread
from iotvet.plan.loader import load_plan
from iotvet.plan.schema import Plan
from tests.lab.rest_fixtures import SHAPES, LabClient, lab_fixture

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=SHAPES, ids=lambda s: f"shape{s}")
def lab(request: pytest.FixtureRequest) -> Iterator[LabClient]:
    yield from lab_fixture("none", request.param)


def test_written_plan_loads_and_covers_the_cast(lab: LabClient, tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    lab.lab.write_plan(path)
    assert "&id" not in path.read_text()
    plan = load_plan(str(path)).plan
    assert plan.target is not None and plan.target.base_url == lab.lab.base_url
    idents = plan.identities
    tenants = {i.tenant for i in idents if i.role == "user"}
    assert len(tenants) >= 2
    groups_a = {i.group for i in idents if i.tenant == lab.cast.a and i.group and not i.sacrificial}
    assert len(groups_a) >= 2
    assert {i.tenant for i in idents if i.role == "admin" and i.group is None} >= {lab.cast.a, lab.cast.b}
    assert any(i.role == "admin" and i.group for i in idents)
    assert any(i.role == "operator" for i in idents)
    assert sum(i.sacrificial for i in idents) >= 4
    assert all(i.devices for i in idents if i.group and i.role != "device")
    assert set(plan.flows) >= {"logout", "password_change", "bind", "unbind", "share", "unshare"}


def test_every_plan_login_works(lab: LabClient) -> None:
    plan = Plan.model_validate(lab.lab.plan)
    for ident in plan.identities:
        auth = ident.auth
        assert auth is not None and auth.type == "login"
        lab.http.cookies.clear()
        r = lab.http.request(auth.request.method, auth.request.path, json=auth.request.json_body)
        assert r.status_code == 200, ident.name
        token = jsonpath(auth.token).find(r.json())[0].value
        use = auth.use
        if use.cookie:
            headers = {"Cookie": f"{use.cookie}={token}"}
        else:
            headers = {use.header or "Authorization": f"{use.prefix}{token}"}
        lab.http.cookies.clear()
        assert ident.verify is not None
        me = lab.http.get(ident.verify.path, headers=headers)
        assert me.status_code == ident.verify.status and ident.name in me.text


def test_har_records_a_real_session(lab: LabClient, tmp_path: Path) -> None:
    path = tmp_path / "session.har"
    count = asyncio.run(write_har(path, lab.lab.base_url, lab.lab.ca, lab.lab.world))
    har = json.loads(path.read_text())["log"]
    assert har["version"] == "1.2" and len(har["entries"]) == count >= 12
    for entry in har["entries"]:
        assert entry["request"]["url"].startswith(lab.lab.base_url)
        assert 200 <= entry["response"]["status"] < 300, entry["request"]["url"]
        assert {"startedDateTime", "time", "timings", "cache"} <= set(entry)
    sent = json.dumps(har["entries"][3]["request"]["headers"]).lower()
    assert lab.shape.token_name.lower() in sent or "cookie" in sent


def test_commands_reach_the_sink(lab: LabClient) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    async def sink(tenant: str, device: str, payload: dict[str, Any]) -> None:
        seen.append((tenant, device, payload))

    lab.lab.api.state.sink = sink
    owner = lab.cast.owner(lab.cast.a)
    car = lab.cast.vehicle(owner)
    r = lab.call("POST", lab.path("vehicle.commands.send", car), owner,
                 json={"command": "climate", "args": {"temperature_c": 21}})
    assert r.status_code == 202, r.text
    assert seen == [(car.tenant, car.id, {**seen[0][2], "cmd": "climate", "args": {"temperature_c": 21}})]
    listed = lab.body(lab.get(lab.path("vehicle.commands.list", car), owner))
    assert listed[-1][lab.shape.field("status")] == "sent"
    bad = lab.call("POST", lab.path("vehicle.commands.send", car), owner, json={"command": "climate", "args": {}})
    assert bad.status_code == 422


def _refused(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


@pytest.mark.timeout(30)
def test_fixed_ports_plaintext_and_clean_stop(tmp_path: Path) -> None:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        api_port, plain_port = a.getsockname()[1], b.getsockname()[1]
    config = LabConfig(flaws=frozenset({F.PLAINTEXT}), api_port=api_port, plain_port=plain_port, mqtt="off",
                       workdir=tmp_path)
    with lab_in_thread(config) as lab:
        assert lab.base_url == f"https://127.0.0.1:{api_port}/api/v2"
        assert lab.plain_base_url == f"http://127.0.0.1:{plain_port}/api/v2"
        assert lab.mqtt_url is None and lab.mqtt_note
        verify = ssl.create_default_context(cafile=str(lab.ca))
        assert httpx.get(lab.base_url + "/status", verify=verify).status_code == 200
        assert httpx.get(lab.plain_base_url + "/status").status_code == 200
        assert (tmp_path / "pki" / "ca.pem").is_file()
        assert lab.plan["scope"]["hosts"] == [f"127.0.0.1:{api_port}", f"127.0.0.1:{plain_port}"]
    assert _refused("127.0.0.1", api_port) and _refused("127.0.0.1", plain_port)
    with lab_in_thread(LabConfig(mqtt="off")) as clean:
        assert clean.plain_base_url is None and "plaintext" not in json.dumps(clean.urls())


@pytest.mark.timeout(60)
def test_cli_runs_writes_plan_and_har_then_stops(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from iotvet.cli.app import app

    plan, har = tmp_path / "plan.yaml", tmp_path / "s.har"
    result = CliRunner().invoke(app, ["lab", "--mqtt", "off", "--duration", "0.2", "--shape-seed", "3",
                                      "--write-plan", str(plan), "--record-har", str(har), "--workdir",
                                      str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    assert "https://127.0.0.1:" in result.output and "stopped" in result.output
    assert load_plan(str(plan)).plan.identities and json.loads(har.read_text())["log"]["entries"]


@pytest.mark.timeout(60)
def test_foreign_command_reaches_the_victims_vehicle_over_mqtt(tmp_path: Path) -> None:
    """End to end with the MQTT half (skipped where Mosquitto or that half is missing)."""
    import shutil

    pytest.importorskip("iotvet.lab.mqtt.vehicles")
    pytest.importorskip("iotvet.lab.mqtt.backend")
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed")
    import uuid

    for flaws, expect in ((frozenset({F.BOLA_COMMAND}), True), (frozenset(), False)):
        with lab_in_thread(LabConfig(flaws=flaws, mqtt="on", workdir=tmp_path / str(expect))) as running:
            client = LabClient(running)
            try:
                cast = client.cast
                car = cast.vehicle(cast.owner(cast.b))
                nonce = uuid.uuid4().hex
                client.call("POST", client.path("vehicle.commands.send", car), cast.driver(cast.a),
                            json={"command": "ping", "args": {"nonce": nonce}})
                fleet = running.fleet
                import time

                deadline = time.monotonic() + (5 if expect else 1)
                while time.monotonic() < deadline and nonce not in json.dumps(fleet.received(car.id)):
                    time.sleep(0.05)
                assert (nonce in json.dumps(fleet.received(car.id))) is expect
                assert running.plan["mqtt"]["url"].startswith("mqtts://")
                assert any(i["role"] == "device" for i in running.plan["identities"])
            finally:
                client.close()
