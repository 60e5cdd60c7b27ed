"""MQTT transport (aiomqtt over paho-mqtt): the only code that talks to brokers.

Like HTTP, every connection is checked against scope before it is opened and spends a permit
from the run's governor. :func:`connect_check` is what ``validate --online`` needs (log an
identity in); :class:`MqttClient` is the seam the MQTT probe builds its oracle on:

* **connect** checks scope, spends one permit and holds it until CONNACK (or failure);
* **subscribe** returns the SUBACK reason code of every filter (0x80 and above: refused);
* **publish** is QoS 1 and spends one permit held until the PUBACK, so the broker has the
  message (and has routed it to every subscriber) when the permit's window starts;
* **drop** ends the connection without DISCONNECT, so the broker publishes the will; it
  spends a permit (the will is a publish on the client's behalf) held until the broker closed
  the connection, i.e. after the will was routed;
* messages are matched against :class:`Watch` needles as they arrive and handed to an
  ``on_message`` hook; nothing is queued, so a flooding broker costs CPU, never memory;
* every wait is bounded by the client's timeout, and every topic and filter must be allowed
  by the run's :class:`TopicGuard` (topics built from the plan, plus the probe's filters).

Library exceptions become :class:`TargetError` here; a refused CONNACK is an answer, not an
error, and comes back as :class:`ConnectResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from iotvet.core.errors import ScopeViolation, TargetError, TargetErrorKind
from iotvet.core.scope import DEFAULT_PORTS, Scope
from iotvet.transport.governor import Governor

MQTT_311: Final = 4
"""Protocol level of MQTT 3.1.1."""
MQTT_5: Final = 5
"""Protocol level of MQTT 5.0."""
T = TypeVar("T")
_LIBRARY_LOG = logging.getLogger("iotvet.transport.mqtt.library")
_LIBRARY_LOG.setLevel(logging.CRITICAL)  # paho reports every lost socket; the client records losses itself
FAILURE: Final = 0x80
"""SUBACK and PUBACK codes from here up are failures (0x80 in 3.1.1; 0x80-0xA2 in 5.0)."""

# CONNACK reason codes that mean "your credentials were refused" (3.1.1 return codes 4 and 5,
# MQTT 5 reason codes 0x86 and 0x87).
_AUTH_REFUSED = ("bad user name or password", "not authorised", "not authorized")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A broker listener: where it is and how to speak to it."""

    url: str
    host: str
    port: int
    tls: bool
    websockets: bool
    path: str | None

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Read ``mqtt://``, ``mqtts://``, ``ws://`` or ``wss://`` URLs."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or parts.scheme in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a broker URL: {url}")
        return cls(url, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme], parts.scheme in ("mqtts", "wss"),
                   parts.scheme in ("ws", "wss"), parts.path or ("/mqtt" if parts.scheme in ("ws", "wss") else None))


@dataclass(frozen=True, slots=True)
class Credentials:
    """How one identity connects."""

    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    cert: str | None = None
    key: str | None = None


def _tls_context(ca: str | None, creds: Credentials) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    if creds.cert:
        context.load_cert_chain(creds.cert, creds.key)
    return context


async def connect_check(endpoint: Endpoint, creds: Credentials, *, scope: Scope, governor: Governor,
                        ca: str | None = None, timeout: float = 10.0, protocol: int = MQTT_311) -> str | None:
    """Connect and disconnect once (MQTT 3.1.1, or 5 with ``protocol=5``); None when the broker accepted, else why not.

    Raises :class:`ScopeViolation` for a broker outside scope and :class:`TargetError` when the
    broker cannot be reached at all (so a caller can tell "dead identity" from "dead broker").
    """
    scheme = urlsplit(endpoint.url).scheme
    if not scope.allows(scheme, endpoint.host, endpoint.port):
        raise ScopeViolation(f"{endpoint.host}:{endpoint.port} is not in scope.hosts")
    client = aiomqtt.Client(
        endpoint.host, endpoint.port, username=creds.username, password=creds.password,
        identifier=creds.client_id, transport="websockets" if endpoint.websockets else "tcp",
        websocket_path=endpoint.path if endpoint.websockets else None,
        tls_context=_tls_context(ca, creds) if endpoint.tls else None,
        timeout=min(timeout, max(0.1, governor.remaining_time)),
        clean_session=None if protocol == MQTT_5 else True,
        protocol=aiomqtt.ProtocolVersion.V5 if protocol == MQTT_5 else aiomqtt.ProtocolVersion.V311,
    )
    try:
        async with governor.permit(), client:  # CONNACK arrived: the exchange is complete
            return None
    except aiomqtt.MqttCodeError as exc:
        text = str(exc).lower()
        if any(marker in text for marker in _AUTH_REFUSED):
            return f"the broker refused the credentials ({exc})"
        raise TargetError(TargetErrorKind.PROTOCOL, str(exc)) from exc
    except aiomqtt.MqttError as exc:
        text = str(exc)
        if "ssl" in text.lower() or "certificate" in text.lower():
            raise TargetError(TargetErrorKind.TLS, text) from exc
        if "timed out" in text.lower():
            raise TargetError(TargetErrorKind.TIMEOUT, text) from exc
        raise TargetError(TargetErrorKind.CONNECT, text) from exc
    except (OSError, ssl.SSLError) as exc:
        raise TargetError(TargetErrorKind.CONNECT, f"{type(exc).__name__}: {exc}") from exc


# -- the probe's client ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicGuard:
    """The topics a run may touch: concrete topics built from the plan's identities, plus filters.

    Publishing (wills included) is allowed to ``topics`` only; subscribing to ``topics`` and
    ``filters``. Anything else raises :class:`ScopeViolation` before a byte is sent.
    """

    topics: frozenset[str]
    filters: frozenset[str] = frozenset()

    def may_publish(self, topic: str) -> bool:
        """True when ``topic`` is one of the plan's concrete topics."""
        return topic in self.topics

    def may_subscribe(self, topic_filter: str) -> bool:
        """True when ``topic_filter`` is a plan topic or one of the probe's filters."""
        return topic_filter in self.topics or topic_filter in self.filters


@dataclass(frozen=True, slots=True)
class Received:
    """One PUBLISH the broker delivered to us."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    at: float
    """``time.monotonic()`` when it arrived."""

    def text(self) -> str:
        """The payload as text (undecodable bytes replaced)."""
        return self.payload.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class WillMessage:
    """A will registered at CONNECT (always QoS 1)."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """The broker's answer to CONNECT."""

    accepted: bool
    code: int
    reason: str
    session_present: bool = False


class Watch:
    """The first delivered payload holding one of ``needles`` (byte-wise substring match).

    With ``retained`` only messages the broker flagged as retained count; with ``on``, a needle
    listed there counts only on that topic (a copy elsewhere is someone else's business).
    """

    def __init__(self, needles: Iterable[str], *, retained: bool = False, on: Mapping[str, str] | None = None) -> None:
        self.needles = tuple(needles)
        self.retained = retained
        self.on = dict(on or {})
        self._raw = tuple(n.encode() for n in self.needles)
        self.hit: tuple[str, Received] | None = None
        self.seen: dict[str, Received] = {}
        self._event = asyncio.Event()

    def offer(self, message: Received) -> None:
        """Look at one message (called for every delivery while the watch is registered)."""
        if self.retained and not message.retain:
            return
        for needle, raw in zip(self.needles, self._raw, strict=True):
            if needle in self.on and message.topic != self.on[needle]:
                continue
            if needle not in self.seen and raw in message.payload:
                self.seen[needle] = message
                if self.hit is None:
                    self.hit = (needle, message)
                    self._event.set()

    async def wait(self) -> None:
        """Until the first needle arrived."""
        await self._event.wait()


class _AioClient(aiomqtt.Client):
    """aiomqtt's client with the callbacks the probe needs: every message, every PUBACK code, losses."""

    def __init__(self, owner: MqttClient, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner
        self._disconnected.add_done_callback(_retrieve)

    @property
    def paho(self) -> Any:
        """The underlying paho client."""
        return self._client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,
                    properties: Properties | None = None) -> None:
        self._owner._session_present = bool(getattr(flags, "session_present", False))
        super()._on_connect(client, userdata, flags, reason_code, properties)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,
                       properties: Properties | None = None) -> None:
        self._owner._mark_lost(str(reason_code))
        if not self._connected.done():  # closed before CONNACK: fail the connect now, not at its timeout
            self._connected.add_done_callback(_retrieve)
            self._connected.set_exception(aiomqtt.MqttError(f"connection closed before CONNACK ({reason_code})"))
        super()._on_disconnect(client, userdata, flags, reason_code, properties)
        self._disconnected.add_done_callback(_retrieve)

    def _on_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        _tune(sock)
        super()._on_socket_open(client, userdata, sock)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self._owner._deliver(Received(message.topic, bytes(message.payload), int(message.qos), bool(message.retain),
                                      time.monotonic()))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self._owner._acked(mid, int(getattr(reason_code, "value", 0) or 0))

    def force_close(self) -> None:
        """Close the socket now (no DISCONNECT); safe when already closed."""
        with contextlib.suppress(Exception):
            self._client._sock_close()
        if not self._disconnected.done():
            self._disconnected.set_result(None)
        if self._lock.locked():
            self._lock.release()


def _tune(sock: Any) -> None:
    """No Nagle, and ACK at once: a broker's small answers otherwise wait out delayed ACKs (40 ms on Linux)."""
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    if hasattr(socket, "TCP_QUICKACK"):
        options.append((socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1))
    with contextlib.suppress(OSError, ValueError, AttributeError):
        raw = socket.fromfd(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM)  # a duplicate of the socket's fd
        try:
            for level, name, value in options:
                raw.setsockopt(level, name, value)
        finally:
            raw.close()


def _code(value: Any) -> int:
    """A reason code as an int (paho gives ints in some places and ReasonCode objects in others)."""
    return int(getattr(value, "value", value) or 0)


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a future's exception as seen (a lost connection is data here, not an error)."""
    if not future.cancelled():
        future.exception()


def _target_error(exc: BaseException) -> TargetError:
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if isinstance(exc, ssl.SSLError) or "ssl" in low or "certificate" in low:
        return TargetError(TargetErrorKind.TLS, text)
    if isinstance(exc, TimeoutError) or "timed out" in low:
        return TargetError(TargetErrorKind.TIMEOUT, text)
    if isinstance(exc, ConnectionResetError) or "reset" in low:
        return TargetError(TargetErrorKind.RESET, text)
    return TargetError(TargetErrorKind.CONNECT, f"{type(exc).__name__}: {text}")


class MqttClient:
    """One connection to a broker as one identity (or anonymously), within scope, budget and guard.

    Create, :meth:`connect`, use, :meth:`close`. A client is used once: reconnecting means a new
    client. ``on_message`` sees every delivered PUBLISH, synchronously, in the event loop.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        creds: Credentials,
        *,
        scope: Scope,
        governor: Governor,
        guard: TopicGuard | None = None,
        ca: str | None = None,
        protocol: int = MQTT_311,
        clean: bool = True,
        session_expiry: int = 0,
        will: WillMessage | None = None,
        timeout: float = 10.0,
        keepalive: int = 30,
        on_message: Callable[[Received], None] | None = None,
    ) -> None:
        if protocol not in (MQTT_311, MQTT_5):
            raise ValueError("protocol is 4 (MQTT 3.1.1) or 5 (MQTT 5.0)")
        self.endpoint = endpoint
        self.creds = creds
        self.scope = scope
        self.governor = governor
        self.guard = guard
        self.ca = ca
        self.protocol = protocol
        self.clean = clean
        self.session_expiry = session_expiry
        self.will = will
        self.timeout = timeout
        self.keepalive = keepalive
        self.on_message = on_message
        self.received = 0
        self.lost_at: float | None = None
        self.lost_reason = ""
        self._session_present = False
        self._aio: _AioClient | None = None
        self._lost = asyncio.Event()
        self._watches: list[Watch] = []
        self._pubacks: dict[int, asyncio.Future[int]] = {}
        self._early: dict[int, int] = {}

    # -- state

    @property
    def connected(self) -> bool:
        """True between an accepted CONNACK and the end of the connection."""
        return self._aio is not None and not self._lost.is_set()

    @property
    def client_id(self) -> str:
        """The client id sent in CONNECT (the broker may replace it)."""
        return self.creds.client_id or ""

    def _bounded(self, timeout: float | None = None) -> float:
        wanted = self.timeout if timeout is None else timeout
        return max(0.05, min(wanted, self.governor.remaining_time))

    # -- callbacks (event loop)

    def _mark_lost(self, reason: str) -> None:
        if not self._lost.is_set():
            self.lost_at = time.monotonic()
            self.lost_reason = reason
            self._lost.set()
        for future in self._pubacks.values():
            if not future.done():
                future.set_exception(TargetError(TargetErrorKind.RESET, f"connection lost: {reason}"))

    def _deliver(self, message: Received) -> None:
        self.received += 1
        for watch in self._watches:
            watch.offer(message)
        if self.on_message is not None:
            self.on_message(message)

    def _acked(self, mid: int, code: int) -> None:
        future = self._pubacks.pop(mid, None)
        if future is None:
            self._early[mid] = code
        elif not future.done():
            future.set_result(code)

    # -- operations

    def _check_scope(self) -> None:
        scheme = urlsplit(self.endpoint.url).scheme
        if not self.scope.allows(scheme, self.endpoint.host, self.endpoint.port):
            raise ScopeViolation(f"{self.endpoint.host}:{self.endpoint.port} is not in scope.hosts")

    def _build(self) -> _AioClient:
        will = None
        if self.will is not None:
            if self.guard is None or not self.guard.may_publish(self.will.topic):
                raise ScopeViolation(f"will topic {self.will.topic!r} is not built from the plan")
            will = aiomqtt.Will(self.will.topic, self.will.payload, qos=1, retain=self.will.retain)
        properties = None
        v5 = self.protocol == MQTT_5
        if v5 and self.session_expiry > 0:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.session_expiry
        endpoint = self.endpoint
        client = _AioClient(
            self, endpoint.host, endpoint.port,
            username=self.creds.username, password=self.creds.password, identifier=self.creds.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=will, clean_session=None if v5 else self.clean,
            clean_start=self.clean if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            transport="websockets" if endpoint.websockets else "tcp",
            websocket_path=endpoint.path if endpoint.websockets else None,
            tls_context=_tls_context(self.ca, self.creds) if endpoint.tls else None,
            timeout=self._bounded(), keepalive=self.keepalive, logger=_LIBRARY_LOG,
        )
        client.paho.connect_timeout = self._bounded()
        return client

    async def connect(self) -> ConnectResult:
        """CONNECT and wait (boundedly) for CONNACK; spends one permit.

        Raises :class:`ScopeViolation` outside scope, :class:`~iotvet.core.errors.BudgetExhausted`
        when the budget is spent, and :class:`TargetError` when no CONNACK came back.
        """
        if self._aio is not None:
            raise RuntimeError("an MqttClient connects once")
        self._check_scope()
        try:
            client = self._build()
        except (OSError, ssl.SSLError) as exc:  # unreadable CA or client certificate
            raise TargetError(TargetErrorKind.TLS, f"{type(exc).__name__}: {exc}") from exc
        async with self.governor.slot(), self.governor.permit():
            try:
                await asyncio.wait_for(client.__aenter__(), self._bounded() + 1.0)
            except MqttConnectError as exc:
                client.force_close()
                rc: Any = exc.rc
                code = int(getattr(rc, "value", rc) or 0)
                return ConnectResult(False, code, str(exc))
            except (aiomqtt.MqttError, OSError, ssl.SSLError, TimeoutError) as exc:
                client.force_close()
                raise _target_error(exc) from exc
            except BaseException:
                client.force_close()
                raise
        self._aio = client
        return ConnectResult(True, 0, "accepted", self._session_present)

    def _live(self) -> _AioClient:
        if self._aio is None or self._lost.is_set():
            raise TargetError(TargetErrorKind.RESET, f"not connected ({self.lost_reason or 'never connected'})")
        return self._aio

    async def subscribe(self, filters: Sequence[str], qos: int = 1) -> list[int]:
        """One SUBSCRIBE for ``filters``; the SUBACK code of each (>= 0x80: refused). No permit."""
        for topic_filter in filters:
            if self.guard is None or not self.guard.may_subscribe(topic_filter):
                raise ScopeViolation(f"filter {topic_filter!r} is not built from the plan")
        if not filters:
            return []
        client = self._live()
        try:
            codes = await self._unless_lost(client.subscribe([(f, qos) for f in filters], timeout=self._bounded()))
        except aiomqtt.MqttError as exc:
            raise _target_error(exc) from exc
        return [_code(c) for c in codes]

    async def _unless_lost(self, operation: Awaitable[T]) -> T:
        """``operation``'s result, or TargetError as soon as the connection ends (aiomqtt waits out its timeout)."""
        task = asyncio.ensure_future(operation)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait([task, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise TargetError(TargetErrorKind.RESET, f"connection lost: {self.lost_reason}")
        return task.result()

    async def unsubscribe(self, filters: Sequence[str]) -> None:
        """UNSUBSCRIBE and wait (boundedly) for UNSUBACK; no permit."""
        if not filters or not self.connected:
            return
        try:
            await self._unless_lost(self._live().unsubscribe(list(filters), timeout=self._bounded()))
        except aiomqtt.MqttError as exc:
            raise _target_error(exc) from exc

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """PUBLISH at QoS 1 and wait for the PUBACK, within one permit; returns its reason code."""
        if self.guard is None or not self.guard.may_publish(topic):
            raise ScopeViolation(f"topic {topic!r} is not built from the plan")
        self._live()
        async with self.governor.slot(), self.governor.permit():
            client = self._live()
            info = client.paho.publish(topic, payload, qos=1, retain=retain)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise TargetError(TargetErrorKind.RESET, f"publish not sent: {paho.error_string(info.rc)}")
            if info.mid in self._early:
                return self._early.pop(info.mid)
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._pubacks[info.mid] = future
            try:
                return await asyncio.wait_for(future, self._bounded())
            except TimeoutError as exc:
                raise TargetError(TargetErrorKind.TIMEOUT, f"no PUBACK within {self._bounded():g}s") from exc
            finally:
                self._pubacks.pop(info.mid, None)

    def watch(self, needles: Iterable[str], *, retained: bool = False, on: Mapping[str, str] | None = None) -> Watch:
        """Start matching deliveries against ``needles`` (register before publishing what you wait for)."""
        watch = Watch(needles, retained=retained, on=on)
        self._watches.append(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        """Stop matching for ``watch``."""
        with contextlib.suppress(ValueError):
            self._watches.remove(watch)

    async def first(self, watch: Watch, timeout: float) -> tuple[str, Received] | None:
        """The first needle of ``watch`` to arrive, or None after ``timeout`` or when the connection ends."""
        if watch.hit is not None:
            return watch.hit
        waiters = [asyncio.ensure_future(watch.wait()), asyncio.ensure_future(self._lost.wait())]
        try:
            await asyncio.wait(waiters, timeout=self._bounded(timeout), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return watch.hit

    async def wait_lost(self, timeout: float) -> bool:
        """Wait (boundedly) until the connection ends; True when it did."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lost.wait(), self._bounded(timeout))
        return self._lost.is_set()

    async def drop(self) -> bool:
        """End the connection without DISCONNECT so the broker fires the will; True once it closed.

        Half-closes the TCP connection (FIN) and waits until the broker closes its side, which
        it does after handling the loss (and routing the will). One permit spans the exchange.
        """
        client = self._live()
        async with self.governor.slot(), self.governor.permit():
            sock = client.paho.socket()
            try:
                duplicate = socket.fromfd(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM)
                try:
                    duplicate.shutdown(socket.SHUT_WR)
                finally:
                    duplicate.close()
            except OSError:
                client.force_close()
                return False
            closed = await self.wait_lost(self.timeout)
        client.force_close()
        return closed

    async def close(self) -> None:
        """DISCONNECT (no will) and wait boundedly; never raises."""
        client, self._aio = self._aio, None
        if client is None:
            return
        if not self._lost.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.__aexit__(None, None, None), self._bounded(2.0))
        client.force_close()
        self._mark_lost("closed by iotvet")
        self._aio = client  # keep "connected" False but remember that this client was used
