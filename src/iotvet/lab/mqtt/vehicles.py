"""Simulated vehicles: one real MQTT client per vehicle, so a flaw can be confirmed end to end.

Usage::

    async with Fleet(broker, device_accounts, interval=1.0) as fleet:
        fleet.connected(vin)      # is the vehicle online right now?
        fleet.received(vin)       # the commands it obeyed, oldest first
        fleet.disconnects(vin)    # when and why it lost its connection (the kick oracle)
        fleet.state(vin)          # what it last stored as its retained state

Each vehicle logs in over TLS with its own credential and client id (its VIN unless the
account says otherwise) and a persistent session, so commands sent while it is offline wait
for it. It publishes its retained state once connected and again after every command, and
telemetry every ``interval`` seconds. Commands are JSON objects with a ``cmd`` field:
``lock`` and ``unlock`` change the state, ``ping`` changes nothing but ``last_ping`` (the
canary channel), and ``locate``, ``honk`` and ``climate`` are only acknowledged. A kicked
vehicle reconnects after a second or two, as a real telematics unit would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from iotvet.lab.mqtt import topics
from iotvet.lab.mqtt.accounts import MqttAccount
from iotvet.lab.mqtt.broker import Broker

COMMANDS: Final = frozenset({"lock", "unlock", "ping", "locate", "honk", "climate"})
CONNECT_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A lost connection: when (``time.time()``) and the reason the client library gave."""

    at: float
    reason: str


@dataclass
class _Vehicle:
    account: MqttAccount
    tenant: str
    vin: str
    client: paho.Client
    online: threading.Event = field(default_factory=threading.Event)
    commands: list[dict[str, Any]] = field(default_factory=list)
    drops: list[Disconnect] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: bool = False


class Fleet:
    """The lab's vehicles, each a live MQTT client of ``broker``."""

    def __init__(self, broker: Broker, vehicles: list[MqttAccount], *, interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError("telemetry interval must be positive")
        self.broker = broker
        self.interval = interval
        self._vehicles: dict[str, _Vehicle] = {}
        for account in vehicles:
            if account.kind != "device" or not account.device or not account.tenant:
                raise ValueError(f"{account.username!r} is not a vehicle account")
            client = broker.client(account, client_id=account.client_id or account.device, clean=False)
            self._vehicles[account.device] = _Vehicle(account, account.tenant, account.device, client)
        self._telemetry: asyncio.Task[None] | None = None

    # -- what tests and the runner look at

    @property
    def vins(self) -> list[str]:
        """The fleet's vehicles."""
        return list(self._vehicles)

    def connected(self, vin: str) -> bool:
        """Whether the vehicle is online now."""
        return self._vehicles[vin].online.is_set()

    def received(self, vin: str) -> list[dict[str, Any]]:
        """The commands the vehicle received, oldest first, each with ``received_at``."""
        vehicle = self._vehicles[vin]
        with vehicle.lock:
            return [dict(c) for c in vehicle.commands]

    def disconnects(self, vin: str) -> list[Disconnect]:
        """Every connection the vehicle lost, except the fleet's own shutdown."""
        vehicle = self._vehicles[vin]
        with vehicle.lock:
            return list(vehicle.drops)

    def state(self, vin: str) -> dict[str, Any]:
        """The state the vehicle last published (retained on ``{tenant}/{vin}/state``)."""
        vehicle = self._vehicles[vin]
        with vehicle.lock:
            return dict(vehicle.state)

    async def wait_online(self, vin: str, timeout: float = CONNECT_TIMEOUT) -> None:
        """Wait (boundedly) until the vehicle is connected again."""
        deadline = time.monotonic() + timeout
        while not self.connected(vin):
            if time.monotonic() > deadline:
                raise TimeoutError(f"vehicle {vin} did not reconnect within {timeout}s")
            await asyncio.sleep(0.02)

    # -- lifecycle

    async def __aenter__(self) -> Self:
        for vehicle in self._vehicles.values():
            self._wire(vehicle)
            vehicle.client.connect_async(self.broker.host, self.broker.ports.tls, keepalive=30)
            vehicle.client.loop_start()
        try:
            for vin in self._vehicles:
                await self.wait_online(vin)
        except BaseException:
            self._close_all()
            raise
        self._telemetry = asyncio.create_task(self._publish_telemetry(), name="lab-fleet-telemetry")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._telemetry is not None:
            self._telemetry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._telemetry
        await asyncio.to_thread(self._close_all)

    def _close_all(self) -> None:
        for vehicle in self._vehicles.values():
            vehicle.closing = True
            vehicle.client.disconnect()
        for vehicle in self._vehicles.values():
            vehicle.client.loop_stop()

    # -- the vehicle's behaviour (paho's network thread)

    def _wire(self, vehicle: _Vehicle) -> None:
        client = vehicle.client
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        command_topic = topics.command(vehicle.tenant, vehicle.vin)
        vehicle.state = {"vin": vehicle.vin, "locked": True, "last_ping": None, "last_command": None}

        def on_connect(c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
            if rc.is_failure:
                return
            c.subscribe(command_topic, qos=1)
            vehicle.online.set()
            self._publish_state(vehicle)

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
            vehicle.online.clear()
            if not vehicle.closing:
                with vehicle.lock:
                    vehicle.drops.append(Disconnect(time.time(), str(rc)))

        def on_message(_c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
            if message.topic == command_topic:
                self._obey(vehicle, message.payload)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message

    def _obey(self, vehicle: _Vehicle, payload: bytes | bytearray) -> None:
        try:
            command = json.loads(payload)
        except ValueError:
            return
        if not isinstance(command, dict) or command.get("cmd") not in COMMANDS:
            return
        name = command["cmd"]
        with vehicle.lock:
            vehicle.commands.append({**command, "received_at": time.time()})
            if name in ("lock", "unlock"):
                vehicle.state["locked"] = name == "lock"
            if name == "ping":
                vehicle.state["last_ping"] = command.get("nonce") or command.get("id") or time.time()
            else:
                vehicle.state["last_command"] = name
        self._publish_state(vehicle)

    def _publish_state(self, vehicle: _Vehicle) -> None:
        with vehicle.lock:
            body = json.dumps({**vehicle.state, "updated_at": time.time()})
        vehicle.client.publish(topics.state(vehicle.tenant, vehicle.vin), body, qos=1, retain=True)

    async def _publish_telemetry(self) -> None:
        rngs = {vin: random.Random(vin) for vin in self._vehicles}  # simulated readings, not secrets
        odometer = {vin: rngs[vin].uniform(1_000, 90_000) for vin in self._vehicles}
        while True:
            for vin, vehicle in self._vehicles.items():
                if not vehicle.online.is_set():
                    continue
                rng = rngs[vin]
                odometer[vin] += rng.uniform(0, 0.5)
                reading = {
                    "vin": vin,
                    "at": time.time(),
                    "speed_kmh": round(rng.uniform(0, 120), 1),
                    "lat": round(48.1 + rng.uniform(-0.05, 0.05), 5),
                    "lon": round(11.5 + rng.uniform(-0.05, 0.05), 5),
                    "odometer_km": round(odometer[vin], 1),
                    "battery_pct": rng.randint(20, 100),
                }
                vehicle.client.publish(topics.telemetry(vehicle.tenant, vin), json.dumps(reading), qos=0)
            await asyncio.sleep(self.interval)
