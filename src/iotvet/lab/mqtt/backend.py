"""The backend's side of the broker: it sends vehicles their commands and follows their state.

Usage::

    async with CommandBus(broker, backend_account) as bus:
        bus.on_state(lambda tenant, vin, state: ...)   # called in the event loop
        await bus.publish_command("vistacam", vin, {"cmd": "lock", "id": "c-17"})

The REST half calls :meth:`CommandBus.publish_command` when an app user queues a remote
command, so a command accepted by the API reaches the vehicle for real. The bus subscribes to
``+/+/state`` and keeps the latest state per vehicle in :attr:`CommandBus.states`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Self

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from iotvet.lab.mqtt import topics
from iotvet.lab.mqtt.accounts import MqttAccount
from iotvet.lab.mqtt.broker import Broker

StateCallback = Callable[[str, str, dict[str, Any]], None]
TIMEOUT: Final = 10.0
_STATES: Final = topics.state("+", "+")


class CommandBus:
    """A backend MQTT session: publishes commands, collects vehicles' retained state."""

    def __init__(self, broker: Broker, backend: MqttAccount, *, timeout: float = TIMEOUT) -> None:
        if backend.kind != "backend":
            raise ValueError(f"{backend.username!r} is not a backend account")
        self.broker = broker
        self.timeout = timeout
        self.states: dict[tuple[str, str], dict[str, Any]] = {}
        self._client = broker.client(backend)
        self._callbacks: list[StateCallback] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected: asyncio.Future[ReasonCode] | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._early_acks: set[int] = set()
        self._lock = threading.Lock()

    def on_state(self, callback: StateCallback) -> None:
        """Call ``callback(tenant, vin, state)`` for every state update (in the event loop)."""
        self._callbacks.append(callback)

    async def publish_command(self, tenant: str, vin: str, payload: dict[str, Any]) -> None:
        """Send ``payload`` to the vehicle's command topic at QoS 1 and wait for the broker's PUBACK."""
        loop = self._running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._lock:
            info = self._client.publish(topics.command(tenant, vin), json.dumps(payload), qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise ConnectionError(f"command to {tenant}/{vin} not sent: {paho.error_string(info.rc)}")
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                done.set_result(None)
            else:
                self._pending[info.mid] = done
        await asyncio.wait_for(done, self.timeout)

    # -- lifecycle

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.connect_async(self.broker.host, self.broker.ports.tls, keepalive=30)
        self._client.loop_start()
        try:
            rc = await asyncio.wait_for(asyncio.shield(self._connected), self.timeout)
        except BaseException:
            await asyncio.to_thread(self._close)
            raise
        if rc.is_failure:
            await asyncio.to_thread(self._close)
            raise ConnectionError(f"backend login refused by the broker: {rc}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("use the command bus inside 'async with'")
        return self._loop

    # -- paho's network thread

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if not rc.is_failure:
            client.subscribe(_STATES, qos=1)
        connected = self._connected
        if connected is not None:
            self._running_loop().call_soon_threadsafe(_settle, connected, rc)

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._lock:
            done = self._pending.pop(mid, None)
            if done is None:
                self._early_acks.add(mid)
                return
        self._running_loop().call_soon_threadsafe(_settle, done, None)

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        parts = message.topic.split("/")
        if len(parts) != 3 or parts[2] != "state" or not message.payload:
            return
        try:
            state = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(state, dict):
            self._running_loop().call_soon_threadsafe(self._deliver, parts[0], parts[1], state)

    def _deliver(self, tenant: str, vin: str, state: dict[str, Any]) -> None:
        self.states[(tenant, vin)] = state
        for callback in self._callbacks:
            callback(tenant, vin, state)


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
