"""Helpers for the lab's MQTT tests: a two-brand account set and a small synchronous paho client.

The client does not reconnect, so a kicked connection stays visibly kicked, and it waits for
every acknowledgement it asks for, so a test can rely on Mosquitto's per-client ordering: a
sentinel published after a canary's PUBACK reaches each subscriber after the canary, if the
canary reaches it at all.
"""

from __future__ import annotations

import json
import queue
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from iotvet.lab.mqtt.accounts import MqttAccount
from iotvet.lab.mqtt.broker import WS_PATH, Broker
from iotvet.lab.pki import LabPKI

WAIT = 5.0

VC1, VC2 = "VC1AAA00000000001", "VC1AAA00000000002"
RH1, RH2 = "RH2BBB00000000001", "RH2BBB00000000002"


def _device(tenant: str, vin: str) -> MqttAccount:
    return MqttAccount(f"tcu-{vin.lower()}", secrets.token_urlsafe(12), "device", tenant, device=vin, client_id=vin)


def _app(name: str, tenant: str, *vins: str) -> MqttAccount:
    return MqttAccount(f"{name}.{tenant}", secrets.token_urlsafe(12), "app", tenant, devices=vins)


def lab_accounts() -> dict[str, MqttAccount]:
    """Two brands with two vehicles each, one app user per vehicle, a backend and an operator."""
    return {
        "vc1": _device("vistacam", VC1),
        "vc2": _device("vistacam", VC2),
        "rh1": _device("roadhaus", RH1),
        "rh2": _device("roadhaus", RH2),
        "ana": _app("ana", "vistacam", VC1),
        "ben": _app("ben", "vistacam", VC2),
        "cara": _app("cara", "roadhaus", RH1),
        "dan": _app("dan", "roadhaus", RH2),
        "backend": MqttAccount("backend", secrets.token_urlsafe(12), "backend", None),
        "operator": MqttAccount("operator", secrets.token_urlsafe(12), "operator", None),
    }


def nonce() -> str:
    """A unique canary value."""
    return f"canary-{secrets.token_hex(8)}"


@dataclass
class Message:
    """One PUBLISH a test client received."""

    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode(errors="replace")


@dataclass
class Client:
    """A synchronous paho client for tests; every call waits (boundedly) for the broker's answer."""

    broker: Broker
    account: MqttAccount | None = None
    client_id: str = ""
    listener: str = "tls"
    clean: bool = True
    version: int = paho.MQTTv311
    cert: tuple[Path, Path] | None = None
    messages: queue.Queue[Message] = field(default_factory=queue.Queue)
    disconnected: threading.Event = field(default_factory=threading.Event)
    connack: ReasonCode | None = None
    session_present: bool = False

    def __post_init__(self) -> None:
        transport = "websockets" if self.listener == "ws" else "tcp"
        if not self.client_id and self.account is not None:
            self.client_id = self.account.client_id or self.account.username
        self._mqtt = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=self.clean if self.version != paho.MQTTv5 else None,
            protocol=self.version,
            transport=transport,
            reconnect_on_failure=False,
        )
        if transport == "websockets":
            self._mqtt.ws_set_options(path=WS_PATH)
        if self.listener != "plain":
            certfile, keyfile = self.cert if self.cert else (None, None)
            self._mqtt.tls_set(
                ca_certs=str(self.broker.ca),
                certfile=str(certfile) if certfile else None,
                keyfile=str(keyfile) if keyfile else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if self.account is not None:
            self._mqtt.username_pw_set(self.account.username, self.account.password)
        self._acks: dict[int, threading.Event] = {}
        self._suback: dict[int, list[ReasonCode]] = {}
        self._connected = threading.Event()
        self._mqtt.on_connect = self._on_connect
        self._mqtt.on_message = self._on_message
        self._mqtt.on_subscribe = self._on_subscribe
        self._mqtt.on_publish = self._on_publish
        self._mqtt.on_disconnect = self._on_disconnect

    # -- callbacks (paho's network thread)

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        self.connack = rc
        self.session_present = bool(flags.session_present)
        self._connected.set()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        self.messages.put(Message(msg.topic, msg.payload, bool(msg.retain)))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        self._suback[mid] = codes
        self._acks.setdefault(mid, threading.Event()).set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        self._acks.setdefault(mid, threading.Event()).set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        self.disconnected.set()
        self._connected.set()

    # -- calls

    def connect(self) -> ReasonCode | None:
        """Connect and wait for CONNACK; returns its reason code (None if the broker hung up)."""
        ports = self.broker.ports
        port = {"tls": ports.tls, "ws": ports.ws, "cert": ports.cert, "plain": ports.plain}[self.listener]
        assert port is not None, f"no {self.listener} listener"
        props = None
        if self.version == paho.MQTTv5 and not self.clean:
            props = Properties(paho.PacketTypes.CONNECT)
            props.SessionExpiryInterval = 300
        self._mqtt.connect(
            self.broker.host,
            port,
            keepalive=30,
            clean_start=self.clean if self.version == paho.MQTTv5 else 3,
            properties=props,
        )
        self._mqtt.loop_start()
        assert self._connected.wait(WAIT), "no CONNACK"
        return self.connack

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure and not self.disconnected.is_set()

    def subscribe(self, *filters: str, qos: int = 1) -> list[ReasonCode]:
        """Subscribe to each filter in turn (one SUBSCRIBE each) and wait for every SUBACK."""
        codes: list[ReasonCode] = []
        for topic_filter in filters:
            _rc, mid = self._mqtt.subscribe(topic_filter, qos)
            self._wait_ack(mid)
            codes += self._suback[mid]
        return codes

    def publish(self, topic: str, payload: str | bytes | dict[str, Any], *, retain: bool = False, qos: int = 1) -> None:
        """Publish and, at QoS 1, wait for the PUBACK (so the broker has routed the message)."""
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        info = self._mqtt.publish(topic, data, qos=qos, retain=retain)
        if qos:
            self._wait_ack(info.mid)

    def _wait_ack(self, mid: int) -> None:
        event = self._acks.setdefault(mid, threading.Event())
        assert event.wait(WAIT), f"no acknowledgement for message id {mid}"

    def first_of(self, *needles: str, timeout: float = WAIT) -> tuple[str, Message]:
        """The first needle seen in a received payload, and its message; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                break
            for needle in needles:
                if needle in message.text:
                    return needle, message
        raise AssertionError(f"none of {needles} arrived within {timeout}s")

    def close(self) -> None:
        """Disconnect and stop the loop thread."""
        self._mqtt.disconnect()
        self._mqtt.loop_stop()


@contextmanager
def connected(broker: Broker, account: MqttAccount | None, **options: Any) -> Iterator[Client]:
    """A connected test client, closed afterwards; fails if the broker refuses it."""
    client = Client(broker, account, **options)
    client.connect()
    try:
        assert client.accepted, f"connect refused: {client.connack}"
        yield client
    finally:
        client.close()


@contextmanager
def attempt(broker: Broker, account: MqttAccount | None, **options: Any) -> Iterator[Client]:
    """A client that may be refused; the test looks at ``client.accepted``."""
    client = Client(broker, account, **options)
    client.connect()
    try:
        yield client
    finally:
        client.close()


@contextmanager
def running_broker(flaws: set[str], tmp: Path, accounts: dict[str, MqttAccount]) -> Iterator[Broker]:
    """A started broker for ``accounts`` with ``flaws`` on, stopped afterwards."""
    with Broker(list(accounts.values()), flaws, tmp / "broker", LabPKI(tmp / "pki")) as broker:
        yield broker


Exploit = Callable[[Broker, dict[str, MqttAccount]], bool]
