"""Shared state of one MQTT probe run: options, records of decisions, and the helpers every phase uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from iotvet.checks import mqtt as checks
from iotvet.checks.mqtt import Judgement, Observation, Outcome, canary_payload
from iotvet.core.errors import TargetError
from iotvet.core.records import Evidence, MqttEvidence, Relation, Verdict
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan.loader import LoadedPlan
from iotvet.plan.schema import Identity
from iotvet.probes.mqtt.flows import FlowRunner
from iotvet.probes.mqtt.sessions import Ledger, SessionPool
from iotvet.probes.mqtt.topology import ANONYMOUS, Pair, Selection, Subject, Topology, client_id
from iotvet.transport.governor import Governor
from iotvet.transport.mqtt import (
    MQTT_5,
    MQTT_311,
    ConnectResult,
    Credentials,
    Endpoint,
    MqttClient,
    Received,
    TopicGuard,
    Watch,
)

Action = Literal["publish", "subscribe", "receive", "connect", "disconnect"]
SESSION_EXPIRY: Final = 300
READ_CHECKS: Final = frozenset({"mq-xtenant-read", "mq-wildcard-read", "mq-retained-leak", "mq-anon",
                                "mq-idvar-inject", "mq-shadow-xtenant", "mq-session-steal"})
NOT_DONE: Final[dict[str, str]] = {}
PROTOCOLS: Final = {"3.1.1": MQTT_311, "5": MQTT_5}
"""``mqtt.protocol`` values and the protocol levels they stand for."""
JUDGES: Final[dict[str, Callable[[Observation], Judgement]]] = {
    "mq-anon": checks.anon, "mq-plaintext": checks.plaintext, "mq-wildcard-read": checks.wildcard_read,
    "mq-xtenant-read": checks.xtenant_read, "mq-xtenant-write": checks.xtenant_write,
    "mq-retained-leak": checks.retained_leak, "mq-will-inject": checks.will_inject, "mq-sys-leak": checks.sys_leak,
    "mq-session-steal": checks.session_steal, "mq-idvar-inject": checks.idvar_inject,
    "mq-shadow-xtenant": checks.shadow_xtenant, "mq-any-leak": checks.any_leak,
    "id-shared-cred": checks.shared_credential, "mq-stale-authz": checks.stale_authz,
}


@dataclass(frozen=True)
class ProbeOptions:
    """Knobs of the engine that the plan does not carry (and the protocol, to override the plan's)."""

    protocol: int | None = None
    """4 (MQTT 3.1.1) or 5 (MQTT 5.0); None: the plan's ``mqtt.protocol``."""
    settle: float = 2.0
    """Longest wait for a sentinel or a canary that must arrive."""
    quiet: float = 1.0
    """How long "nothing arrived" counts as a negative when an attacker has no sentinel channel."""
    hop: float = 0.2
    """Channel proof: try the next writer when the previous canary has not arrived after this long."""
    grace: float = 0.3
    """After a channel's first delivery, how long other readers get to receive it too."""
    kick_repeats: int = 3
    kick_window: float = 1.0
    keepalive: int = 30


@dataclass
class MqttRunSummary:
    """What one MQTT probe run decided and spent."""

    cells_decided: int = 0
    cells_inconclusive: int = 0
    cells_not_tested: int = 0
    findings: int = 0
    messages_sent: int = 0
    connects: int = 0
    untested: dict[Relation, str] = field(default_factory=dict)
    not_done: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0


@dataclass
class Channel:
    """A proven delivery path on the victim's side: ``writer`` published, ``readers`` received."""

    subject: Subject
    writer: str
    readers: list[str]
    canary: str
    evidence: list[Evidence]


@dataclass
class Decision:
    """One test's contribution to a cell."""

    check: str
    topic: str
    relation: Relation
    attacker: str
    victim: str
    judgement: Judgement
    summary: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    reproduction: str = ""


@dataclass
class Probe:
    """One canary against one attacker (or one reader), waiting for its verdict."""

    attacker: str
    client: MqttClient
    watch: Watch
    sentinel: str | None = None
    sentinel_watch: Watch | None = None
    evidence: list[Evidence] = field(default_factory=list)
    observation: Observation | None = None
    hit: Received | None = None


class RunState:
    """What one MQTT probe run knows: the plan, the pool of sessions, proven channels and decisions so far."""

    def __init__(self, loaded: LoadedPlan, governor: Governor, redactor: Redactor, options: ProbeOptions) -> None:
        plan = loaded.plan
        assert plan.mqtt is not None
        self.loaded = loaded
        self.mqtt = plan.mqtt
        self.mode = plan.safety.mode
        self.governor = governor
        self.redactor = redactor
        self.options = options
        self.topo = Topology(plan)
        self.endpoint = Endpoint.parse(plan.mqtt.url)
        self.scope = Scope(plan.scope.hosts)
        topics, filters = self.topo.guard_sets()
        self.guard = TopicGuard(topics, filters)
        self.ledger = Ledger(redactor)
        self.timeout = min(plan.safety.request_timeout, max(2.0, options.settle * 2))
        ca = loaded.resolve(plan.mqtt.ca).as_posix() if plan.mqtt.ca else None
        self.protocol = options.protocol or PROTOCOLS[plan.mqtt.protocol]
        self.pool = SessionPool(self.endpoint, scope=self.scope, governor=governor, guard=self.guard, ca=ca,
                                protocol=self.protocol, timeout=self.timeout, keepalive=options.keepalive,
                                ledger=self.ledger)
        self.flows: FlowRunner | None = None
        self.selection = Selection()
        self.channels: dict[str, Channel] = {}
        self.no_channel: dict[str, str] = {}
        self.sentinels: dict[str, Channel] = {}
        self.decisions: list[Decision] = []
        self.anon_result: Observation | None = None
        self.notes: list[str] = []
        self.id_locks: dict[str, asyncio.Lock] = {}
        self.settled: set[tuple[str, str, str, str]] = set()

    # -- helpers --------------------------------------------------------------------------------

    def identity(self, key: str) -> Identity | None:
        return self.topo.by_name.get(key)

    def creds(self, identity: Identity) -> Credentials:
        m = identity.mqtt
        assert m is not None
        password = m.password.get_secret_value() if m.password is not None else None
        cert = self.loaded.resolve(m.cert).as_posix() if m.cert else None
        key = self.loaded.resolve(m.key).as_posix() if m.key else None
        return Credentials(m.username, password, client_id(identity), cert, key)

    def is_settled(self, check: str, topic: str, relation: Relation) -> bool:
        """Whether an earlier (resumed) run settled this cell: it is neither tested nor reported again."""
        return (check, "mqtt", topic, relation.value) in self.settled

    def decide(self, check: str, topic: str, relation: Relation, attacker: str, victim: str,
               observation: Observation, *, summary: str = "", evidence: Iterable[Evidence] = (),
               reproduction: str = "") -> None:
        judge = JUDGES.get(check)
        judgement = judge(observation) if judge is not None else checks.judge(check, observation)
        self.decisions.append(Decision(check, topic, relation, attacker, victim, judgement, summary,
                                       list(evidence), reproduction))

    def ev(self, summary: str, action: Action, client: str, *, topic: str | None = None, payload: str | None = None,
           retained: bool | None = None, reason: str | None = None) -> Evidence:
        text = None if payload is None else self.redactor.text(payload)
        return Evidence(summary=self.redactor.text(summary), mqtt=MqttEvidence(
            broker=self.mqtt.url, client=client, action=action,
            topic=topic, payload=text, qos=1 if action in ("publish", "receive") else None, retained=retained,
            reason=reason))

    def got(self, observer: str, message: Received, what: str) -> Evidence:
        return self.ev(f"{observer} received {what} on {message.topic}", "receive", observer, topic=message.topic,
                       payload=self.ledger.excerpt(message), retained=message.retain)

    async def publish(self, key: str, topic: str, canary: str | None, *, retain: bool = False,
                      client: MqttClient | None = None) -> int | None:
        """Publish a no-op canary (or, with ``canary`` None, an empty retained clear); None when it failed."""
        target = client or self.pool.client_of(key)
        if target is None:
            return None
        payload = canary_payload(canary) if canary is not None else b""
        try:
            return await self.pool.send(target, topic, payload, retain=retain)
        except TargetError as exc:
            self.pool.note(exc)
            return None

    async def guarded(self, work: Awaitable[None], on_error: Callable[[str], None]) -> None:
        """Run one test; whatever escapes becomes an inconclusive cell, never a crashed run."""
        try:
            await work
        except (TargetError, OSError, RuntimeError, ValueError) as exc:
            on_error(f"{type(exc).__name__}: {exc}")

    # -- sentinels and settling -----------------------------------------------------------------

    def places(self, canaries: dict[str, str], attacker: str, sentinel: str) -> dict[str, str]:
        """Where each needle must arrive: canaries on their topics, the sentinel on the attacker's channel."""
        out = dict(canaries)
        channel = self.sentinels.get(attacker)
        if channel is not None:
            out[sentinel] = channel.subject.topic
        return out

    async def send_sentinel(self, attacker: str, value: str) -> bool:
        """Publish ``value`` on the attacker's sentinel channel; False when it has none or it failed."""
        channel = self.sentinels.get(attacker)
        if channel is None:
            return False
        return await self.publish(channel.writer, channel.subject.topic, value) is not None

    async def settle(self, probe: Probe, canary: str, sent: bool) -> None:
        """Wait for the canary or the sentinel and turn what came first into an observation."""
        client = probe.client
        timeout = self.options.settle if sent else self.options.quiet
        hit = await client.first(probe.watch, timeout)
        if hit is not None and hit[0] == canary:
            probe.observation, probe.hit = Observation(Outcome.CANARY), hit[1]
        elif hit is not None:
            probe.observation = Observation(Outcome.SENTINEL)
        elif not client.connected:
            probe.observation = Observation(Outcome.LOST, client.lost_reason)
        elif sent:
            probe.observation = Observation(Outcome.TIMEOUT)
        else:
            probe.observation = Observation(Outcome.QUIET, f"{self.options.quiet:g}s")

    # -- shared by the read, write and trick checks ---------------------------------------------

    def read_check(self, kind: str, relation: Relation, subject: Subject) -> str:
        if relation is Relation.ANONYMOUS:
            return "mq-anon"
        if subject.template.shadow:
            return "mq-shadow-xtenant"
        return {"exact": "mq-xtenant-read", "wildcard": "mq-wildcard-read", "retained": "mq-retained-leak",
                "write": "mq-xtenant-write", "will": "mq-will-inject"}[kind]

    def usable(self, pairs: list[Pair], check_kind: str) -> list[Pair]:
        """Pairs whose attacker can take part; the others are decided here (refused or lost)."""
        out = []
        for pair in pairs:
            check = self.read_check(check_kind, pair.relation, pair.subject)
            session = self.pool.get(pair.attacker)
            if self.is_settled(check, pair.subject.template.text, pair.relation):
                continue
            if pair.attacker == ANONYMOUS and self.anon_result is not None:
                self.decide(check, pair.subject.template.text, pair.relation, ANONYMOUS, pair.subject.owner,
                            self.anon_result)
            elif session is None or not self.pool.live(pair.attacker):
                why = session.failure if session is not None else "no session"
                self.decide(check, pair.subject.template.text, pair.relation, pair.attacker, pair.subject.owner,
                            Observation(Outcome.ERROR, f"{pair.attacker} is not connected: {why}"))
            else:
                out.append(pair)
        return out

    async def _finish_read(self, probe: Probe, canary: str) -> None:
        assert probe.sentinel is not None
        sent = await self.send_sentinel(probe.attacker, probe.sentinel)
        await self.settle(probe, canary, sent)

    def sentinel_writer(self, attacker: str) -> str | None:
        channel = self.sentinels.get(attacker)
        return channel.writer if channel is not None and channel.writer != attacker else None

    async def spawn(self, key: str, **kwargs: object) -> tuple[MqttClient, ConnectResult | str]:
        """A connection as ``key`` (a refusal or an error as text comes back instead of raising)."""
        client = self.pool.new_client(key, **kwargs)  # type: ignore[arg-type]
        try:
            return client, await self.pool.connect(client)
        except TargetError as exc:
            await self.pool.release(client)
            return client, str(exc)

    def live_writer(self, channel: Channel) -> str:
        """The channel's writer, else (its session taken over by a test) another of the victim's side, helpers first."""
        if self.pool.live(channel.writer):
            return channel.writer
        subject = channel.subject
        helpers = set(self.topo.helpers(self.topo.by_name[subject.owner]))
        others = sorted((w for w in subject.writers if w != subject.owner and self.pool.live(w)),
                        key=lambda w: w not in helpers)
        return others[0] if others else channel.writer

    def normal_leak(self, kinds: Iterable[str], template: str, relation: Relation, attacker: str) -> bool:
        wanted = set(kinds)
        return any(d.judgement.verdict is Verdict.LEAK and d.check in wanted and d.topic == template
                   and d.relation is relation and d.attacker == attacker for d in self.decisions)

    def id_lock(self, chosen_id: str) -> asyncio.Lock:
        """One connection at a time per chosen client id."""
        return self.id_locks.setdefault(chosen_id, asyncio.Lock())

    def inbound(self, victim: str) -> Channel | None:
        """A proven channel the victim reads (its command topic first), written by someone else."""
        command = self.topo.command_template()
        candidates = [c for c in self.channels.values() if victim in c.readers and c.writer != victim
                      and c.subject.owner == victim]
        candidates.sort(key=lambda c: (command is None or c.subject.template.name != command.name,
                                       c.subject.template.name))
        return candidates[0] if candidates else None

    def _secret(self, identity: Identity) -> tuple[str, ...] | None:
        m = identity.mqtt
        if m is None:
            return None
        if m.cert and m.key:
            try:
                return ("cert", self.loaded.resolve(m.cert).read_text(), self.loaded.resolve(m.key).read_text())
            except OSError:
                return None
        if m.password is not None:
            return ("password", m.password.get_secret_value())
        return None


async def wait_any(watches: Iterable[Watch], timeout: float) -> None:
    """Until any watch has a hit, at most ``timeout`` seconds."""
    pending = [w for w in watches]
    if not pending or timeout <= 0 or any(w.hit for w in pending):
        return
    tasks = [asyncio.ensure_future(w.wait()) for w in pending]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
