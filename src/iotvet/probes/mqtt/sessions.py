"""One connection per identity, the locks that keep tests from stepping on each other, and the ledger.

Brokers that bind client ids to usernames allow one connection per identity, so every identity has
exactly one *main* session; a test that needs another connection as that identity (a will, a chosen
client id, a persistent session) first takes the identity exclusively and closes its main session.
Tests that merely publish through a session or wait on its standing subscriptions share it.
Locks are taken all at once in name order, so tests never deadlock.

The :class:`Ledger` remembers every canary the run issued (who published it, on which topic) and
every delivery of one to any of the run's connections, for evidence and for the catch-all check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Final

from iotvet.checks.oracle import CANARY_PREFIX, canaries_in, new_canary
from iotvet.core.errors import BudgetExhausted, ScopeViolation, TargetError, TargetErrorKind
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan.schema import Identity
from iotvet.probes.mqtt.topology import Subject
from iotvet.transport.governor import Governor
from iotvet.transport.mqtt import (
    FAILURE,
    ConnectResult,
    Credentials,
    Endpoint,
    MqttClient,
    Received,
    TopicGuard,
    WillMessage,
)

EXCERPT: Final = 512
MAX_SIGHTINGS: Final = 20_000
MAX_OPENS: Final = 64
MAX_FAILURES: Final = 3
CIRCUIT: Final = 6
_MARK: Final = CANARY_PREFIX.encode()


class RWLock:
    """Many sharers or one exclusive holder; a waiting exclusive holder blocks new sharers."""

    def __init__(self) -> None:
        self._sharers = 0
        self._exclusive = False
        self._waiting = 0
        self._cond = asyncio.Condition()

    async def acquire(self, exclusive: bool) -> None:
        """Take the lock in the given mode."""
        async with self._cond:
            if exclusive:
                self._waiting += 1
                try:
                    await self._cond.wait_for(lambda: not self._exclusive and self._sharers == 0)
                finally:
                    self._waiting -= 1
                self._exclusive = True
            else:
                await self._cond.wait_for(lambda: not self._exclusive and self._waiting == 0)
                self._sharers += 1

    async def release(self, exclusive: bool) -> None:
        """Give the lock back."""
        async with self._cond:
            if exclusive:
                self._exclusive = False
            else:
                self._sharers -= 1
            self._cond.notify_all()


@dataclass(frozen=True, slots=True)
class CanaryRecord:
    """A canary the run issued."""

    value: str
    kind: str
    publisher: str
    topic: str | None
    subject: Subject | None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A canary delivered to one of the run's connections."""

    observer: str
    canary: str
    topic: str
    retain: bool
    excerpt: str
    at: float


class Ledger:
    """Every canary issued and every delivery of one, bounded."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.records: dict[str, CanaryRecord] = {}
        self.sightings: list[Sighting] = []
        self.dropped = 0

    def issue(self, kind: str, publisher: str, topic: str | None = None, subject: Subject | None = None) -> str:
        """A fresh canary, remembered with who will publish it where."""
        value = new_canary()
        self.records[value] = CanaryRecord(value, kind, publisher, topic, subject)
        return value

    def excerpt(self, message: Received) -> str:
        """The payload as evidence: decoded, capped, redacted."""
        text = message.payload[:EXCERPT].decode("utf-8", "replace")
        if len(message.payload) > EXCERPT:
            text += f"... [{len(message.payload)} bytes]"
        return self.redactor.text(text)

    def observe(self, observer: str, message: Received) -> None:
        """Record any of our canaries in a delivered message (cheap for everything else)."""
        if _MARK not in message.payload:
            return
        for value in canaries_in(message.payload.decode("utf-8", "replace")):
            if value not in self.records:
                continue
            if len(self.sightings) >= MAX_SIGHTINGS:
                self.dropped += 1
                continue
            self.sightings.append(Sighting(observer, value, message.topic, message.retain, self.excerpt(message),
                                           message.at))

    def seen_by(self, observer: str, value: str) -> Sighting | None:
        """The first delivery of ``value`` to ``observer``."""
        for sighting in self.sightings:
            if sighting.observer == observer and sighting.canary == value:
                return sighting
        return None


@dataclass
class Session:
    """An identity's main connection and its standing subscriptions."""

    key: str
    identity: Identity | None
    creds: Credentials
    wanted: list[str] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    client: MqttClient | None = None
    lock: RWLock = field(default_factory=RWLock)
    failure: str = ""
    refused: ConnectResult | None = None
    opens: int = 0
    failures: int = 0

    @property
    def live(self) -> bool:
        """Connected right now."""
        return self.client is not None and self.client.connected

    def granted(self, topic_filter: str) -> bool:
        """The standing subscription to ``topic_filter`` was granted (SUBACK below 0x80)."""
        return self.codes.get(topic_filter, FAILURE) < FAILURE


@dataclass
class Counters:
    """What the run sent."""

    connects: int = 0
    publishes: int = 0


class SessionPool:
    """Main sessions by key, extra connections on demand, locks, and clean shutdown."""

    def __init__(self, endpoint: Endpoint, *, scope: Scope, governor: Governor, guard: TopicGuard, ca: str | None,
                 protocol: int, timeout: float, keepalive: int, ledger: Ledger) -> None:
        self.endpoint = endpoint
        self.scope = scope
        self.governor = governor
        self.guard = guard
        self.ca = ca
        self.protocol = protocol
        self.timeout = timeout
        self.keepalive = keepalive
        self.ledger = ledger
        self.sessions: dict[str, Session] = {}
        self.counters = Counters()
        self.unanswered = 0
        self.stalled = 0
        self._extra: set[MqttClient] = set()

    def add(self, key: str, identity: Identity | None, creds: Credentials) -> Session:
        """Register a session (not connected yet)."""
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = Session(key, identity, creds)
        return session

    def get(self, key: str) -> Session | None:
        """The session for ``key``, if the run has one."""
        return self.sessions.get(key)

    def live(self, key: str) -> bool:
        """The session exists and is connected."""
        session = self.sessions.get(key)
        return session is not None and session.live

    def client_of(self, key: str) -> MqttClient | None:
        """The main client of a live session."""
        session = self.sessions.get(key)
        return session.client if session is not None and session.live else None

    def new_client(self, key: str, *, creds: Credentials | None = None, client_id: str | None = None,
                   clean: bool = True, session_expiry: int = 0, will: WillMessage | None = None,
                   endpoint: Endpoint | None = None) -> MqttClient:
        """A connection as ``key``'s identity (or ``creds``) that reports its deliveries under ``key``."""
        base = creds or self.sessions[key].creds
        if client_id is not None:
            base = Credentials(base.username, base.password, client_id, base.cert, base.key)
        client = MqttClient(endpoint or self.endpoint, base, scope=self.scope, governor=self.governor,
                            guard=self.guard, ca=self.ca, protocol=self.protocol, clean=clean,
                            session_expiry=session_expiry, will=will, timeout=self.timeout,
                            keepalive=self.keepalive, on_message=lambda m: self.ledger.observe(key, m))
        self._extra.add(client)
        return client

    async def connect(self, client: MqttClient) -> ConnectResult:
        """Connect a client made by :meth:`new_client` (counted).

        After :data:`CIRCUIT` connects in a row that got no answer at all (unreachable, stalled or
        dropping broker), further connects fail at once instead of each waiting out its timeout.
        """
        if self.unanswered >= CIRCUIT:
            raise TargetError(TargetErrorKind.CIRCUIT_OPEN, f"{self.unanswered} connects in a row got no CONNACK; "
                                                            f"not trying again")
        self.counters.connects += 1
        try:
            result = await client.connect()
        except TargetError as exc:
            if isinstance(exc, BudgetExhausted | ScopeViolation):
                self.counters.connects -= 1  # refused before anything was sent
            else:
                self.unanswered += 1
            raise
        self.unanswered = 0
        return result

    async def send(self, client: MqttClient, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish through ``client`` (counted unless the budget refused it before sending)."""
        self.counters.publishes += 1
        try:
            return await client.publish(topic, payload, retain=retain)
        except (BudgetExhausted, ScopeViolation):
            self.counters.publishes -= 1
            raise

    async def drop(self, client: MqttClient) -> bool:
        """End ``client``'s connection without DISCONNECT (its will is a publish: counted)."""
        self.counters.publishes += 1
        try:
            return await client.drop()
        except (BudgetExhausted, ScopeViolation):
            self.counters.publishes -= 1
            raise

    def note(self, exc: TargetError) -> None:
        """An operation on an open connection got no answer; after :data:`CIRCUIT` of them, stop connecting."""
        if exc.kind is TargetErrorKind.TIMEOUT:
            self.stalled += 1
            if self.stalled >= CIRCUIT * 2:
                self.unanswered = max(self.unanswered, CIRCUIT)

    async def open(self, key: str) -> bool:
        """Connect ``key``'s main session and restore its standing subscriptions; False when it cannot."""
        session = self.sessions[key]
        if session.live:
            return True
        if session.refused is not None or session.opens >= MAX_OPENS or session.failures >= MAX_FAILURES:
            session.failure = session.failure or "the connection keeps dropping"
            return False
        session.opens += 1
        client = self.new_client(key)
        try:
            result = await self.connect(client)
        except TargetError as exc:
            session.failure = str(exc)
            session.failures += 1
            return False
        session.failures = 0
        if not result.accepted:
            session.refused = result
            session.failure = f"CONNACK refused: {result.reason}"
            return False
        session.client = client
        if session.wanted:
            try:
                codes = await client.subscribe(session.wanted)
            except TargetError as exc:
                self.note(exc)
                session.failure = f"subscribing failed: {exc}"
                session.failures += 1
                session.client = None
                await self._close_client(client)
                return False
            session.codes = dict(zip(session.wanted, codes, strict=False))
        return True

    async def close(self, key: str) -> None:
        """Close ``key``'s main session (it reopens on the next shared use)."""
        session = self.sessions.get(key)
        if session is not None and session.client is not None:
            client, session.client = session.client, None
            await self._close_client(client)

    async def _close_client(self, client: MqttClient) -> None:
        await client.close()
        self._extra.discard(client)

    async def release(self, client: MqttClient) -> None:
        """Close a connection made by :meth:`new_client`."""
        await self._close_client(client)

    async def ensure(self, key: str) -> bool:
        """The main session is connected (reconnecting if it was lost)."""
        return key in self.sessions and await self.open(key)

    async def ensure_all(self, keys: Iterable[str]) -> None:
        """:meth:`ensure` for several sessions at once."""
        await asyncio.gather(*(self.ensure(k) for k in sorted(set(keys))))

    @contextlib.asynccontextmanager
    async def use(self, exclusive: Iterable[str] = (), shared: Iterable[str] = ()) -> AsyncIterator[None]:
        """Hold sessions for one test (``exclusive`` ones alone), each reconnected first if it was lost."""
        wanted_exclusive = {k for k in exclusive if k in self.sessions}
        wanted_shared = {k for k in shared if k in self.sessions} - wanted_exclusive
        order = sorted(wanted_exclusive | wanted_shared)
        held: list[tuple[str, bool]] = []
        try:
            for key in order:
                mode = key in wanted_exclusive
                await self.sessions[key].lock.acquire(mode)
                held.append((key, mode))
            await asyncio.gather(*(self.ensure(key) for key in order))
            yield
        finally:
            for key, mode in reversed(held):
                await self.sessions[key].lock.release(mode)

    async def close_all(self) -> None:
        """Close every connection the run opened."""
        for key in list(self.sessions):
            await self.close(key)
        for client in list(self._extra):
            await self._close_client(client)
