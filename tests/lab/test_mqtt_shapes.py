"""The lab's MQTT flaws exploited directly with paho through the lab's own plan, in three API shapes
(ids, and so device topics, differ by shape), and gone when switched off."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from iotvet.lab.mqtt.topics import TEMPLATES
from iotvet.lab.runner import LabConfig, lab_in_thread

pytestmark = pytest.mark.timeout(120)

FLAWS = frozenset({"mqtt-xtenant-cmd", "mqtt-no-acl"})


def _client(lab: Any, ident: dict[str, Any]) -> tuple[paho.Client, list[tuple[str, bytes, bool]]]:
    got: list[tuple[str, bytes, bool]] = []
    creds = ident["mqtt"]
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{creds['client_id']}-t{uuid.uuid4().hex[:6]}")
    client.username_pw_set(creds["username"], creds["password"])
    client.tls_set(ca_certs=str(lab.ca), cert_reqs=ssl.CERT_REQUIRED)
    client.on_message = lambda c, u, m: got.append((m.topic, m.payload, bool(m.retain)))
    url = lab.mqtt_url.removeprefix("mqtts://")
    host, port = url.rsplit(":", 1)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p=None: connected.set()
    client.connect(host, int(port))
    client.loop_start()
    assert connected.wait(10)
    return client, got


def _wait(cond: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def _topic(name: str, tenant: str, device: str) -> str:
    return TEMPLATES[name].format(tenant=tenant, device=device)


@pytest.mark.parametrize("shape", [0, 3, 174])
@pytest.mark.parametrize("flaws", [FLAWS, frozenset()], ids=["flaws-on", "flaws-off"])
def test_cross_brand_read_and_command_injection(shape: int, flaws: frozenset[str], tmp_path: Path) -> None:
    with lab_in_thread(LabConfig(flaws=flaws, shape_seed=shape, mqtt="on", workdir=tmp_path)) as lab:
        people = lab.plan["identities"]
        attacker = next(i for i in people if i.get("mqtt") and i["role"] == "user" and i.get("devices"))
        # the victim is a live simulated vehicle (another brand's user's); the plan's own device
        # identities are bench devices without a live client, so they keep no retained state
        owner = next(i for i in people if i.get("mqtt") and i["role"] == "user" and i.get("devices")
                     and i["tenant"] != attacker["tenant"])
        victim = {"tenant": owner["tenant"], "device": owner["devices"][0]}
        own_device = attacker["devices"][0]
        client, got = _client(lab, attacker)
        try:
            # Read: the victim's retained state, then a sentinel the attacker may read (its own vehicle's state).
            foreign = _topic("state", victim["tenant"], victim["device"])
            sentinel = _topic("state", attacker["tenant"], own_device)
            client.subscribe(foreign, qos=1)
            client.subscribe(sentinel, qos=1)
            assert _wait(lambda: any(t == sentinel for t, _, _ in got), 10), "the sentinel must arrive"
            leaked = any(t == foreign for t, _, _ in got)
            assert leaked is bool(flaws), (shape, foreign)
            # Write: a no-op ping with a nonce on the victim's command topic, observed by the vehicle itself.
            nonce = uuid.uuid4().hex
            info = client.publish(_topic("command", victim["tenant"], victim["device"]),
                                  json.dumps({"cmd": "ping", "nonce": nonce}), qos=1)
            info.wait_for_publish(5)
            arrived = _wait(lambda: nonce in json.dumps(lab.fleet.received(victim["device"])), 5 if flaws else 1.5)
            assert arrived is bool(flaws), (shape, victim["device"])
        finally:
            client.loop_stop()
            client.disconnect()
