"""The MQTT seam against a real Mosquitto: credentials checked, scope enforced, budget spent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from iotvet.core.errors import ScopeViolation, TargetError
from iotvet.core.scope import Scope
from iotvet.transport import Governor
from iotvet.transport.mqtt import MQTT_5, Credentials, Endpoint, connect_check
from tests.mosquitto import mosquitto
from tests.servers import free_port

pytestmark = pytest.mark.timeout(60)


def _governor(max_requests: int = 100) -> Governor:
    return Governor(rate=50, concurrency=4, max_requests=max_requests, max_duration=60)


def test_good_and_bad_credentials(tmp_path: Path) -> None:
    with mosquitto(tmp_path, {"dev-1": "right-password"}) as broker:
        scope = Scope([broker.hostport])
        endpoint = Endpoint.parse(broker.url)
        governor = _governor()

        async def go() -> tuple[str | None, str | None]:
            good = await connect_check(endpoint, Credentials("dev-1", "right-password", "dev-1"), scope=scope,
                                       governor=governor)
            bad = await connect_check(endpoint, Credentials("dev-1", "wrong", "dev-1"), scope=scope,
                                      governor=governor)
            return good, bad

        good, bad = asyncio.run(go())
        assert good is None
        assert bad is not None and "refused" in bad
        assert governor.usage.permits == 2


def test_mqtt5_login_check(tmp_path: Path) -> None:
    """``validate --online`` speaks the plan's protocol: the broker logs a version-5 CONNECT (p5)."""
    with mosquitto(tmp_path, {"dev-1": "right-password"}) as broker:
        scope = Scope([broker.hostport])

        async def go() -> tuple[str | None, str | None]:
            good = await connect_check(Endpoint.parse(broker.url), Credentials("dev-1", "right-password", "dev-v5"),
                                       scope=scope, governor=_governor(), protocol=MQTT_5)
            bad = await connect_check(Endpoint.parse(broker.url), Credentials("dev-1", "wrong", "dev-v5b"),
                                      scope=scope, governor=_governor(), protocol=MQTT_5)
            return good, bad

        good, bad = asyncio.run(go())
        assert good is None and bad is not None and "refused" in bad
        log = (tmp_path / "mosquitto.log").read_text()
        assert any("dev-v5" in line and "p5" in line for line in log.splitlines()), log[-2000:]


def test_out_of_scope_broker_is_never_contacted() -> None:
    endpoint = Endpoint.parse(f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(ScopeViolation):
        asyncio.run(connect_check(endpoint, Credentials("u", "p"), scope=Scope(["127.0.0.1:1"]),
                                  governor=_governor()))


def test_unreachable_broker_is_a_target_error() -> None:
    port = free_port()
    endpoint = Endpoint.parse(f"mqtt://127.0.0.1:{port}")
    with pytest.raises(TargetError):
        asyncio.run(connect_check(endpoint, Credentials("u", "p"), scope=Scope([f"127.0.0.1:{port}"]),
                                  governor=_governor(), timeout=2))


def test_endpoint_parsing() -> None:
    assert Endpoint.parse("mqtts://b.example").port == 8883
    ws = Endpoint.parse("wss://b.example/mqtt")
    assert ws.tls and ws.websockets and ws.port == 443 and ws.path == "/mqtt"
    with pytest.raises(ValueError):
        Endpoint.parse("https://b.example")
