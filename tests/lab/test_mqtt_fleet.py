"""Simulated vehicles and the backend's command bus, over a real Mosquitto."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from iotvet.lab.mqtt import topics
from iotvet.lab.mqtt.accounts import MqttAccount
from iotvet.lab.mqtt.backend import CommandBus
from iotvet.lab.mqtt.broker import Broker
from iotvet.lab.mqtt.vehicles import Fleet
from tests.lab.mqtt_fixtures import RH1, VC1, attempt, connected, lab_accounts, nonce, running_broker

pytestmark = pytest.mark.timeout(60)

Accounts = dict[str, MqttAccount]


@pytest.fixture(scope="module")
def accounts() -> Accounts:
    return lab_accounts()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, accounts: Accounts) -> Iterator[Broker]:
    with running_broker(set(), tmp_path_factory.mktemp("fleet"), accounts) as running:
        yield running


def _vehicles(accounts: Accounts) -> list[MqttAccount]:
    return [a for a in accounts.values() if a.kind == "device"]


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_vehicles_obey_commands_from_the_bus(broker: Broker, accounts: Accounts) -> None:
    async def scenario() -> None:
        states: list[tuple[str, str, dict[str, Any]]] = []
        async with (
            Fleet(broker, _vehicles(accounts), interval=0.5) as fleet,
            CommandBus(broker, accounts["backend"]) as bus,
        ):
            bus.on_state(lambda tenant, vin, state: states.append((tenant, vin, state)))
            assert all(fleet.connected(vin) for vin in fleet.vins)
            await bus.publish_command("vistacam", VC1, {"cmd": "unlock", "id": "c-1"})
            await _until(lambda: fleet.state(VC1)["locked"] is False)
            canary = nonce()
            await bus.publish_command("vistacam", VC1, {"cmd": "ping", "nonce": canary})
            await _until(lambda: bus.states.get(("vistacam", VC1), {}).get("last_ping") == canary)
            assert [c["cmd"] for c in fleet.received(VC1)] == ["unlock", "ping"]
            assert fleet.state(VC1)["locked"] is False, "ping changes nothing but last_ping"
            assert fleet.received(RH1) == [], "a command reaches only its own vehicle"
            assert ("roadhaus", RH1, bus.states[("roadhaus", RH1)]) in states

    asyncio.run(scenario())


def test_unknown_commands_are_ignored(broker: Broker, accounts: Accounts) -> None:
    async def scenario() -> None:
        async with Fleet(broker, _vehicles(accounts)) as fleet, CommandBus(broker, accounts["backend"]) as bus:
            await bus.publish_command("vistacam", VC1, {"cmd": "self-destruct"})
            await bus.publish_command("vistacam", VC1, {"cmd": "lock"})
            await _until(lambda: len(fleet.received(VC1)) == 1)
            assert fleet.received(VC1)[0]["cmd"] == "lock"

    asyncio.run(scenario())


def test_vehicles_publish_telemetry_and_retained_state(broker: Broker, accounts: Accounts) -> None:
    def owner_sees_own_vehicle() -> None:
        with connected(broker, accounts["ana"]) as app:
            app.subscribe(topics.state("vistacam", VC1), topics.telemetry("vistacam", VC1))
            _, state = app.first_of('"locked"')
            assert state.retain and state.topic == topics.state("vistacam", VC1)
            _, reading = app.first_of('"speed_kmh"', timeout=3)
            assert reading.topic == topics.telemetry("vistacam", VC1)

    async def scenario() -> None:
        async with Fleet(broker, _vehicles(accounts), interval=0.2):
            await asyncio.to_thread(owner_sees_own_vehicle)

    asyncio.run(scenario())


def _steal_id(broker: Broker, account: MqttAccount, client_id: str) -> None:
    with attempt(broker, account, client_id=client_id):
        time.sleep(0.2)


@pytest.mark.parametrize("flaws", [set(), {"mqtt-clientid-kick"}], ids=["secure", "mqtt-clientid-kick"])
def test_kicks_are_recorded_with_their_time(
    flaws: set[str], accounts: Accounts, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async def scenario(broker: Broker) -> None:
        async with Fleet(broker, _vehicles(accounts)) as fleet:
            before = time.time()
            await asyncio.to_thread(_steal_id, broker, accounts["ana"], RH1)
            if flaws:
                await _until(lambda: fleet.disconnects(RH1) != [])
                assert before <= fleet.disconnects(RH1)[0].at <= time.time()
                await fleet.wait_online(RH1)
            else:
                async with CommandBus(broker, accounts["backend"]) as bus:  # the vehicle still hears commands
                    await bus.publish_command("roadhaus", RH1, {"cmd": "ping", "nonce": "still-here"})
                    await _until(lambda: fleet.state(RH1).get("last_ping") == "still-here")
                assert fleet.disconnects(RH1) == []
            assert fleet.disconnects(VC1) == []

    with running_broker(flaws, tmp_path_factory.mktemp("kick"), accounts) as broker:
        asyncio.run(scenario(broker))


def test_fleet_rejects_non_vehicle_accounts(broker: Broker, accounts: Accounts) -> None:
    with pytest.raises(ValueError, match="not a vehicle"):
        Fleet(broker, [accounts["ana"]])
    with pytest.raises(ValueError, match="not a backend"):
        CommandBus(broker, accounts["ana"])
