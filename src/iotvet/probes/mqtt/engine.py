"""The MQTT probe: victim-confirmed segregation tests against the plan's broker.

A run goes through fixed phases, each bounded:

1. **Sessions.** Every involved identity gets one main connection (one permit each) with standing
   subscriptions: its own topics, a catch-all ``#`` and ``$SYS/#`` (helpers get only their
   party's topics). The anonymous client tries to connect too.
2. **Channels.** For every subject the run needs, the victim's side proves it can deliver a canary
   to itself: its writers publish in order of preference (the next one only when the previous
   canary has not arrived after a short hop) until one of its readers receives one. Each
   attacker's *sentinel channel* is any proven channel whose canary it received.
3. **Reads and writes.** Per subject, the representative attackers of every relation class
   subscribe by name (xtenant-read), with wildcards (wildcard-read), or after a retained canary
   (retained-leak), or publish no-op canaries to it (xtenant-write). Every canary is followed by a
   sentinel on a channel that must deliver, so a negative is proven by order, not by waiting.
4. **Connection tricks.** Per attacker (its main session closed): wills dropped onto the victim's
   topics, client ids that widen ACL patterns (``+``; in intrusive mode also the sacrificial
   victim's own id), and in intrusive mode client-id kicks and persistent-session steals.
5. **Broker-wide checks.** ``$SYS`` against a canary client id, one device's credential as another
   device, real credentials on a plaintext listener.
6. **Catch-all.** Any canary a catch-all subscription saw that no specific finding explains.

Cells and findings are emitted at the end, sorted, so a run's output is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from iotvet.checks import mqtt as checks
from iotvet.checks.mqtt import Judgement, Observation, Outcome, canary_payload
from iotvet.checks.relations import classify
from iotvet.core.errors import TargetError, TargetErrorKind
from iotvet.core.records import Cell, Evidence, Finding, MqttEvidence, Relation, Verdict
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan.loader import LoadedPlan
from iotvet.plan.schema import Identity
from iotvet.probes.mqtt.sessions import Ledger, SessionPool
from iotvet.probes.mqtt.topology import (
    ANONYMOUS,
    CATCH_ALL,
    SYS_FILTER,
    Pair,
    Selection,
    Subject,
    Topology,
    client_id,
    is_platform,
    username,
)
from iotvet.transport.governor import Governor
from iotvet.transport.mqtt import (
    FAILURE,
    MQTT_311,
    ConnectResult,
    Credentials,
    Endpoint,
    MqttClient,
    Received,
    TopicGuard,
    Watch,
    WillMessage,
)

Action = Literal["publish", "subscribe", "receive", "connect", "disconnect"]
SESSION_EXPIRY: Final = 300
READ_CHECKS: Final = frozenset({"mq-xtenant-read", "mq-wildcard-read", "mq-retained-leak", "mq-anon",
                                "mq-idvar-inject", "mq-shadow-xtenant", "mq-session-steal"})
NOT_DONE: Final = {
    "mq-stale-authz": "needs a plan flow that revokes access and the identity it revokes, which the plan "
                      "schema has no keys for yet",
}
_JUDGES: Final[dict[str, Callable[[Observation], Judgement]]] = {
    "mq-anon": checks.anon, "mq-plaintext": checks.plaintext, "mq-wildcard-read": checks.wildcard_read,
    "mq-xtenant-read": checks.xtenant_read, "mq-xtenant-write": checks.xtenant_write,
    "mq-retained-leak": checks.retained_leak, "mq-will-inject": checks.will_inject, "mq-sys-leak": checks.sys_leak,
    "mq-session-steal": checks.session_steal, "mq-idvar-inject": checks.idvar_inject,
    "mq-shadow-xtenant": checks.shadow_xtenant, "mq-any-leak": checks.any_leak,
    "id-shared-cred": checks.shared_credential,
}


@dataclass(frozen=True)
class ProbeOptions:
    """Knobs of the engine that the plan does not (yet) carry."""

    protocol: int = MQTT_311
    """4 (MQTT 3.1.1) or 5 (MQTT 5.0)."""
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
class _Probe:
    """One canary against one attacker (or one reader), waiting for its verdict."""

    attacker: str
    client: MqttClient
    watch: Watch
    sentinel: str | None = None
    sentinel_watch: Watch | None = None
    evidence: list[Evidence] = field(default_factory=list)
    observation: Observation | None = None
    hit: Received | None = None


class _Run:
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
        self.pool = SessionPool(self.endpoint, scope=self.scope, governor=governor, guard=self.guard, ca=ca,
                                protocol=options.protocol, timeout=self.timeout, keepalive=options.keepalive,
                                ledger=self.ledger)
        self.selection = Selection()
        self.channels: dict[str, Channel] = {}
        self.no_channel: dict[str, str] = {}
        self.sentinels: dict[str, Channel] = {}
        self.decisions: list[Decision] = []
        self.anon_result: Observation | None = None
        self.notes: list[str] = []
        self.id_locks: dict[str, asyncio.Lock] = {}

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

    def decide(self, check: str, topic: str, relation: Relation, attacker: str, victim: str,
               observation: Observation, *, summary: str = "", evidence: Iterable[Evidence] = (),
               reproduction: str = "") -> None:
        judge = _JUDGES.get(check)
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

    # -- phase 1: sessions ---------------------------------------------------------------------

    def plan_sessions(self) -> list[Subject]:
        """Choose pairs, the sessions they need and the subjects whose channels must be proven."""
        self.selection = self.topo.select()
        needed: dict[str, Subject] = {}
        attackers: set[str] = set()
        for pairs in self.selection.reads.values():
            for pair in pairs.values():
                needed[pair.subject.key] = pair.subject
                attackers.add(pair.attacker)
        if self.mode == "intrusive":
            for pair in self.selection.intrusive.values():
                attackers.add(pair.attacker)
                for subject in self.topo.owner_subjects(pair.subject.owner):
                    needed[subject.key] = subject
        for name in sorted(attackers - {ANONYMOUS}):
            for subject in self.topo.own_subjects(name):
                needed.setdefault(subject.key, subject)
        if self.mode != "read-only":
            involved = attackers | {s.owner for s in needed.values()}
            groups: dict[tuple[str, ...], list[str]] = {}
            for ident in self.topo.identities:  # devices for the shared-credential test
                secret = self._secret(ident) if ident.role == "device" else None
                if secret is not None:
                    groups.setdefault(secret, []).append(ident.name)
            twins = {name for names in groups.values() if len(names) > 1 for name in names[:2]}
            for ident in self.topo.identities:
                if ident.role == "device" and ident.name in involved | twins:
                    for subject in self.topo.owner_subjects(ident.name):
                        needed.setdefault(subject.key, subject)
        members = set(attackers - {ANONYMOUS})
        for subject in needed.values():
            members.update(subject.party)
        for name in sorted(members):
            identity = self.topo.by_name[name]
            session = self.pool.add(name, identity, self.creds(identity))
            helper = is_platform(identity) or all(
                name in self.topo.helpers(self.topo.by_name[s.owner]) for s in needed.values() if name in s.party)
            own = [s.topic for s in needed.values() if name in s.party]
            session.wanted = list(dict.fromkeys(own + ([] if helper and own else [CATCH_ALL, SYS_FILTER])))
        return sorted(needed.values(), key=lambda s: (s.template.name, s.topic))

    async def open_sessions(self) -> None:
        await asyncio.gather(*(self.pool.open(key) for key in sorted(self.pool.sessions)))
        for key, session in sorted(self.pool.sessions.items()):
            if not session.live:
                self.notes.append(f"{key}: no session ({session.failure})")
        await self.open_anonymous()

    async def open_anonymous(self) -> None:
        session = self.pool.add(ANONYMOUS, None, Credentials(None, None, f"iotvet-anon-{secrets.token_hex(4)}"))
        session.wanted = [CATCH_ALL, SYS_FILTER]
        client = self.pool.new_client(ANONYMOUS)
        try:
            result = await self.pool.connect(client)
        except TargetError as exc:
            await self.pool.release(client)
            served = any(s.live for k, s in self.pool.sessions.items() if k != ANONYMOUS)
            if served and exc.kind in (TargetErrorKind.TLS, TargetErrorKind.CONNECT, TargetErrorKind.RESET):
                # the broker serves the plan's identities but hangs up on a client without credentials
                # (a listener that requires a client certificate does so during or right after the TLS handshake)
                self.anon_result = Observation(Outcome.REFUSED, f"no CONNACK without credentials ({exc.kind.value}: "
                                                                f"{exc.detail}) while identities connect")
            else:
                self.anon_result = Observation(Outcome.ERROR, str(exc))
            session.refused = ConnectResult(False, 0, str(exc))
            return
        await self.pool.release(client)
        if not result.accepted:
            self.anon_result = Observation(Outcome.REFUSED, f"CONNACK {result.code}: {result.reason}")
            session.refused = result
            return
        await self.pool.open(ANONYMOUS)

    # -- phase 2: channels ---------------------------------------------------------------------

    async def prove(self, subject: Subject) -> None:
        if self.mode == "read-only":
            self.no_channel[subject.key] = "read-only mode publishes nothing, so no canary can be delivered"
            return
        readers = [k for k in subject.party if self.pool.live(k) and self.pool.sessions[k].granted(subject.topic)]
        writers = [k for k in subject.writers if self.pool.live(k)]
        if not readers:
            self.no_channel[subject.key] = "no identity on the victim's side holds a subscription to the topic"
            return
        if not writers:
            self.no_channel[subject.key] = "no identity on the victim's side is connected to publish"
            return
        canaries = [self.ledger.issue("proof", w, subject.topic, subject) for w in writers]
        async with self.pool.use(shared=[*readers, *writers]):
            watches: dict[str, Watch] = {}
            for reader in readers:
                client = self.pool.client_of(reader)
                if client is not None:
                    watches[reader] = client.watch(canaries, on=dict.fromkeys(canaries, subject.topic))
            try:
                deadline = time.monotonic() + self.options.settle
                codes: dict[str, int | None] = {}
                for writer, canary in zip(writers, canaries, strict=True):
                    codes[writer] = code = await self.publish(writer, subject.topic, canary)
                    if code is not None and code < FAILURE:
                        await _any(watches.values(), min(self.options.hop, max(0.0, deadline - time.monotonic())))
                    if any(w.hit for w in watches.values()):
                        break
                if not any(w.hit for w in watches.values()):
                    await _any(watches.values(), max(0.0, deadline - time.monotonic()))
                hits = [(w.hit[1].at, w.hit[0]) for w in watches.values() if w.hit is not None]
                if not hits:
                    tried = ", ".join(f"{w} (PUBACK {codes.get(w)})" for w in writers if w in codes)
                    self.no_channel[subject.key] = (f"no canary published by the victim's side ({tried}) reached "
                                                    f"its readers ({', '.join(readers)}) within "
                                                    f"{self.options.settle:g}s")
                    return
                winner = min(hits)[1]
                writer = writers[canaries.index(winner)]
                end = time.monotonic() + self.options.grace
                while time.monotonic() < end and not all(winner in w.seen for w in watches.values()):
                    await asyncio.sleep(0.01)
                got = [r for r, w in watches.items() if winner in w.seen]
                first = watches[got[0]].seen[winner]
                evidence = [self.ev(f"{writer} (the victim's side) published canary {winner} on {subject.topic}",
                                    "publish", writer, topic=subject.topic,
                                    payload=canary_payload(winner).decode()),
                            self.got(got[0], first, "it: the victim's own channel works")]
                self.channels[subject.key] = Channel(subject, writer, got, winner, evidence)
            finally:
                for reader, watch in watches.items():
                    client = self.pool.client_of(reader)
                    if client is not None:
                        client.unwatch(watch)

    def choose_sentinels(self) -> None:
        """Each session's sentinel channel: a proven channel whose canary it received (own topics first)."""
        order = {t.name: i for i, t in enumerate(self.topo.templates)}
        for key in self.pool.sessions:
            own = {s.key for s in self.topo.own_subjects(key)} if key != ANONYMOUS else set()
            candidates = [c for c in self.channels.values()
                          if c.writer != key and self.ledger.seen_by(key, c.canary) is not None]
            if candidates:
                candidates.sort(key=lambda c: (c.subject.key not in own, order[c.subject.template.name],
                                               c.subject.topic))
                self.sentinels[key] = candidates[0]

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

    async def settle(self, probe: _Probe, canary: str, sent: bool) -> None:
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

    # -- phase 3: reads, writes, retained -------------------------------------------------------

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

    async def read_round(self, kind: str, subject: Subject, pairs: list[Pair]) -> None:
        """Attackers subscribe (by name or with wildcards); the victim publishes one canary; sentinels decide."""
        pairs = self.usable(pairs, kind)
        channel = self.channels.get(subject.key)
        template = subject.template.text
        if channel is None and self.mode == "read-only":
            await self.subscribe_only(kind, subject, pairs)
            return
        if channel is None:
            for pair in pairs:
                self.decide(self.read_check(kind, pair.relation, subject), template, pair.relation, pair.attacker,
                            subject.owner, Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")))
            return
        attackers = [p.attacker for p in pairs]
        shared = [channel.writer, *[self.sentinels[a].writer for a in attackers if a in self.sentinels]]
        async with self.pool.use(exclusive=attackers, shared=shared):
            canary = self.ledger.issue("canary", channel.writer, subject.topic, subject)
            probes: list[tuple[Pair, _Probe, list[str]]] = []
            for pair in pairs:
                session = self.pool.sessions[pair.attacker]
                client = session.client
                check = self.read_check(kind, pair.relation, subject)
                if client is None or not client.connected:
                    self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                                Observation(Outcome.LOST, session.failure))
                    continue
                wildcards = self.topo.wildcard_filters(subject)
                filters = [subject.topic] if kind == "exact" else [f for f in wildcards if f not in session.codes]
                try:
                    codes = await client.subscribe(filters)
                except TargetError as exc:
                    self.pool.note(exc)
                    self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                                Observation(Outcome.ERROR, str(exc)))
                    continue
                granted = [f for f, c in zip(filters, codes, strict=False) if c < FAILURE]
                standing = [f for f in wildcards if kind == "wildcard" and session.granted(f)]
                shown = ", ".join(f"{f}: 0x{c:02x}" for f, c in zip(filters, codes, strict=False))
                sub_ev = self.ev(f"{pair.attacker} subscribed {len(filters)} filter(s); SUBACK {shown}"
                                 + (f"; standing: {', '.join(standing)}" if standing else ""),
                                 "subscribe", pair.attacker, topic=", ".join(filters), reason=shown)
                if not granted and not standing:
                    self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                                Observation(Outcome.REFUSED, f"SUBACK {shown}"))
                    continue
                sentinel = self.ledger.issue("sentinel", self.sentinels[pair.attacker].writer
                                             if pair.attacker in self.sentinels else pair.attacker)
                probe = _Probe(pair.attacker, client, client.watch([canary, sentinel], on=self.places(
                    {canary: subject.topic}, pair.attacker, sentinel)), sentinel,
                               evidence=[sub_ev])
                probes.append((pair, probe, granted))
            if not probes:
                return
            try:
                code = await self.publish(channel.writer, subject.topic, canary)
                if code is None:
                    for _, probe, _ in probes:
                        probe.observation = Observation(Outcome.ERROR, f"{channel.writer} could not publish")
                else:
                    await asyncio.gather(*(self._finish_read(probe, canary) for _, probe, _ in probes))
            finally:
                for _, probe, granted in probes:
                    probe.client.unwatch(probe.watch)
                    with contextlib.suppress(TargetError):
                        await probe.client.unsubscribe(granted)
            for pair, probe, _ in probes:
                self._record_read(kind, pair, probe, channel, canary)

    async def subscribe_only(self, kind: str, subject: Subject, pairs: list[Pair]) -> None:
        """Read-only mode: a refused SUBACK still proves enforcement; a granted one proves nothing."""
        async with self.pool.use(exclusive=[p.attacker for p in pairs]):
            for pair in pairs:
                check = self.read_check(kind, pair.relation, subject)
                client = self.pool.client_of(pair.attacker)
                session = self.pool.sessions[pair.attacker]
                filters = [subject.topic] if kind == "exact" else [
                    f for f in self.topo.wildcard_filters(subject) if f not in session.codes]
                observation = Observation(Outcome.MODE, "read-only mode publishes no canary")
                if client is None:
                    observation = Observation(Outcome.LOST, session.failure)
                else:
                    try:
                        codes = await client.subscribe(filters)
                        with contextlib.suppress(TargetError):
                            await client.unsubscribe([f for f, c in zip(filters, codes, strict=False) if c < FAILURE])
                    except TargetError as exc:
                        codes = []
                        observation = Observation(Outcome.ERROR, str(exc))
                    shown = ", ".join(f"{f}: 0x{c:02x}" for f, c in zip(filters, codes, strict=False))
                    standing = kind == "wildcard" and any(session.granted(f) for f in self.topo.wildcard_filters(
                        subject))
                    if codes and all(c >= FAILURE for c in codes) and not standing:
                        observation = Observation(Outcome.REFUSED, f"SUBACK {shown}")
                    elif codes:
                        observation = Observation(Outcome.MODE, f"granted ({shown}); only a canary, which read-only "
                                                                f"mode does not publish, could show a leak")
                self.decide(check, subject.template.text, pair.relation, pair.attacker, subject.owner, observation)

    async def _finish_read(self, probe: _Probe, canary: str) -> None:
        assert probe.sentinel is not None
        sent = await self.send_sentinel(probe.attacker, probe.sentinel)
        await self.settle(probe, canary, sent)

    def _record_read(self, kind: str, pair: Pair, probe: _Probe, channel: Channel, canary: str) -> None:
        subject = pair.subject
        check = self.read_check(kind, pair.relation, subject)
        observation = probe.observation or Observation(Outcome.ERROR)
        evidence = [*channel.evidence, *probe.evidence,
                    self.ev(f"{channel.writer} published canary {canary} on {subject.topic}", "publish",
                            channel.writer, topic=subject.topic, payload=canary_payload(canary).decode())]
        summary = reproduction = ""
        if probe.hit is not None:
            evidence.append(self.got(pair.attacker, probe.hit, f"the victim's canary {canary}"))
            how = "by name" if kind == "exact" else "with wildcard filters"
            summary = (f"{pair.attacker} ({pair.relation.value}) subscribed {how} and received the canary "
                       f"{subject.owner}'s side published on {subject.topic}")
            reproduction = (f"Connect to {self.mqtt.url} as {pair.attacker}; subscribe "
                            f"{subject.topic if kind == 'exact' else 'one of the filters in the evidence'}; "
                            f"every message published on {subject.topic} arrives.")
        self.decide(check, subject.template.text, pair.relation, pair.attacker, subject.owner, observation,
                    summary=summary, evidence=evidence, reproduction=reproduction)

    async def write_round(self, subject: Subject, pairs: list[Pair]) -> None:
        """Attackers publish no-op canaries to the victim's topic; the victim's reader sees which arrive."""
        pairs = self.usable(pairs, "write")
        channel = self.channels.get(subject.key)
        template = subject.template.text
        if channel is None:
            for pair in pairs:
                self.decide(self.read_check("write", pair.relation, subject), template, pair.relation,
                            pair.attacker, subject.owner,
                            Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")))
            return
        reader = channel.readers[0]
        attackers = [p.attacker for p in pairs]
        async with self.pool.use(shared=[channel.writer, reader, *attackers]):
            client = self.pool.client_of(reader)
            if client is None:
                for pair in pairs:
                    self.decide(self.read_check("write", pair.relation, subject), template, pair.relation,
                                pair.attacker, subject.owner, Observation(Outcome.LOST, f"{reader} disconnected"))
                return
            canaries = {p.attacker: self.ledger.issue("canary", p.attacker, subject.topic, subject) for p in pairs}
            sentinel = self.ledger.issue("sentinel", channel.writer, subject.topic, subject)
            watch = client.watch([*canaries.values(), sentinel],
                                 on=dict.fromkeys([*canaries.values(), sentinel], subject.topic))
            done = client.watch([sentinel], on={sentinel: subject.topic})
            codes: dict[str, int | None] = {}
            try:
                for pair in pairs:
                    codes[pair.attacker] = await self.publish(pair.attacker, subject.topic, canaries[pair.attacker])
                sent = await self.publish(channel.writer, subject.topic, sentinel) is not None
                await client.first(done, self.options.settle if sent else self.options.quiet)
            finally:
                client.unwatch(watch)
                client.unwatch(done)
            end = watch.seen.get(sentinel)
            for pair in pairs:
                check = self.read_check("write", pair.relation, subject)
                canary = canaries[pair.attacker]
                message = watch.seen.get(canary)
                code = codes[pair.attacker]
                puback = f"PUBACK 0x{code:02x}" if code is not None else "publish failed"
                if code is None and message is None:
                    observation = Observation(Outcome.ERROR, f"{pair.attacker} could not publish")
                elif message is not None and (end is None or message.at <= end.at):
                    observation = Observation(Outcome.CANARY, puback)
                elif end is not None:
                    observation = Observation(Outcome.SENTINEL, puback)
                elif not client.connected:
                    observation = Observation(Outcome.LOST, client.lost_reason)
                else:
                    observation = Observation(Outcome.TIMEOUT if sent else Outcome.ERROR, puback)
                evidence = [*channel.evidence,
                            self.ev(f"{pair.attacker} published canary {canary} on {subject.topic}; {puback}",
                                    "publish", pair.attacker, topic=subject.topic,
                                    payload=canary_payload(canary).decode(), reason=puback)]
                summary = reproduction = ""
                if observation.outcome is Outcome.CANARY and message is not None:
                    evidence.append(self.got(reader, message, f"{pair.attacker}'s canary {canary}"))
                    summary = (f"{pair.attacker} ({pair.relation.value}) published a no-op canary on "
                               f"{subject.topic} and {reader}, on {subject.owner}'s side, received it")
                    reproduction = (f"Connect to {self.mqtt.url} as {pair.attacker} and publish on "
                                    f"{subject.topic}: {subject.owner}'s subscribers receive the message.")
                self.decide(check, template, pair.relation, pair.attacker, subject.owner, observation,
                            summary=summary, evidence=evidence, reproduction=reproduction)

    async def retained_round(self, subject: Subject, pairs: list[Pair]) -> None:
        """The victim retains a canary; its own reader proves the broker serves it back; attackers subscribe."""
        pairs = self.usable(pairs, "retained")
        channel = self.channels.get(subject.key)
        template = subject.template.text

        def all_pairs(observation: Observation) -> None:
            for pair in pairs:
                self.decide(self.read_check("retained", pair.relation, subject), template, pair.relation,
                            pair.attacker, subject.owner, observation)

        if channel is None:
            all_pairs(Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")))
            return
        reader = channel.readers[0]
        attackers = [p.attacker for p in pairs]
        shared = [channel.writer, *[self.sentinels[a].writer for a in attackers if a in self.sentinels]]
        async with self.pool.use(exclusive=[reader, *attackers], shared=shared):
            client = self.pool.client_of(reader)
            if client is None:
                all_pairs(Observation(Outcome.LOST, f"{reader} disconnected"))
                return
            canary = self.ledger.issue("retained", channel.writer, subject.topic, subject)
            if await self.publish(channel.writer, subject.topic, canary, retain=True) is None:
                all_pairs(Observation(Outcome.ERROR, f"{channel.writer} could not publish"))
                return
            try:
                proof = self.ledger.issue("sentinel", channel.writer, subject.topic, subject)
                kept = client.watch([canary], retained=True, on={canary: subject.topic})
                after = client.watch([proof], on={proof: subject.topic})
                try:
                    await client.unsubscribe([subject.topic])
                    await client.subscribe([subject.topic])
                    sent = await self.publish(channel.writer, subject.topic, proof) is not None
                    await client.first(after, self.options.settle if sent else self.options.quiet)
                finally:
                    client.unwatch(kept)
                    client.unwatch(after)
                if kept.hit is None:
                    all_pairs(Observation(Outcome.NO_CHANNEL, "the broker did not serve the victim's retained "
                                                              "canary back to the victim's own new subscription"))
                    return
                shown = [self.ev(f"{channel.writer} published canary {canary} on {subject.topic} with the retain flag",
                                 "publish", channel.writer, topic=subject.topic,
                                 payload=canary_payload(canary).decode(), retained=True),
                         self.got(reader, kept.hit[1], "the retained canary again after resubscribing")]
                for pair in pairs:
                    await self._retained_attack(pair, channel, canary, shown)
            finally:
                await self.publish(channel.writer, subject.topic, None, retain=True)  # clear the retained canary

    async def _retained_attack(self, pair: Pair, channel: Channel, canary: str, proof: list[Evidence]) -> None:
        subject = pair.subject
        check = self.read_check("retained", pair.relation, subject)
        client = self.pool.client_of(pair.attacker)
        if client is None:
            self.decide(check, subject.template.text, pair.relation, pair.attacker, subject.owner,
                        Observation(Outcome.LOST, "attacker disconnected"))
            return
        sentinel = self.ledger.issue("sentinel", pair.attacker)
        kept = client.watch([canary], retained=True, on={canary: subject.topic})
        after = client.watch([sentinel], on=self.places({}, pair.attacker, sentinel))
        try:
            codes = await client.subscribe([subject.topic])
            if codes and codes[0] >= FAILURE:
                observation = Observation(Outcome.REFUSED, f"SUBACK 0x{codes[0]:02x}")
            else:
                sent = await self.send_sentinel(pair.attacker, sentinel)
                await client.first(after, self.options.settle if sent else self.options.quiet)
                if kept.hit is not None:
                    observation = Observation(Outcome.CANARY)
                elif after.hit is not None:
                    observation = Observation(Outcome.SENTINEL)
                elif not client.connected:
                    observation = Observation(Outcome.LOST, client.lost_reason)
                else:
                    observation = Observation(Outcome.TIMEOUT if sent else Outcome.QUIET, "")
                with contextlib.suppress(TargetError):
                    await client.unsubscribe([subject.topic])
        except TargetError as exc:
            observation = Observation(Outcome.ERROR, str(exc))
        finally:
            client.unwatch(kept)
            client.unwatch(after)
        evidence = [*channel.evidence, *proof]
        summary = reproduction = ""
        if kept.hit is not None:
            evidence.append(self.got(pair.attacker, kept.hit[1], f"the victim's retained canary {canary}"))
            summary = (f"{pair.attacker} ({pair.relation.value}) subscribed to {subject.topic} and the broker "
                       f"served it {subject.owner}'s retained message")
            reproduction = f"Connect to {self.mqtt.url} as {pair.attacker} and subscribe {subject.topic}."
        self.decide(check, subject.template.text, pair.relation, pair.attacker, subject.owner, observation,
                    summary=summary, evidence=evidence, reproduction=reproduction)

    # -- phase 4: connection tricks, per attacker ----------------------------------------------

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

    async def will_test(self, pair: Pair) -> None:
        subject = pair.subject
        check = self.read_check("will", pair.relation, subject)
        template = subject.template.text
        channel = self.channels.get(subject.key)
        if channel is None:
            self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                        Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")))
            return
        reader = self.pool.client_of(channel.readers[0])
        if reader is None:
            self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                        Observation(Outcome.LOST, "the victim's reader disconnected"))
            return
        canary = self.ledger.issue("will", pair.attacker, subject.topic, subject)
        sentinel = self.ledger.issue("sentinel", channel.writer, subject.topic, subject)
        watch = reader.watch([canary, sentinel], on=dict.fromkeys([canary, sentinel], subject.topic))
        try:
            client, result = await self.spawn(pair.attacker, will=WillMessage(subject.topic, canary_payload(canary)))
            if isinstance(result, str) or not result.accepted:
                why = result if isinstance(result, str) else f"CONNACK {result.code}: {result.reason}"
                self.decide(check, template, pair.relation, pair.attacker, subject.owner,
                            Observation(Outcome.ERROR, f"the attacker could not connect with a will: {why}"))
                return
            try:
                closed = await self.pool.drop(client)
            except TargetError as exc:
                closed = False
                self.notes.append(f"will drop for {pair.attacker}: {exc}")
            await self.pool.release(client)
            sent = await self.publish(channel.writer, subject.topic, sentinel) is not None
            hit = await reader.first(watch, self.options.settle if sent else self.options.quiet)
        finally:
            reader.unwatch(watch)
        if hit is not None and hit[0] == canary:
            observation = Observation(Outcome.CANARY)
        elif hit is not None:
            observation = Observation(Outcome.SENTINEL, "" if closed else "the broker had not closed the connection")
        else:
            observation = Observation(Outcome.LOST if not reader.connected else Outcome.TIMEOUT)
        evidence = [*channel.evidence,
                    self.ev(f"{pair.attacker} connected with a will on {subject.topic} (canary {canary}) and dropped "
                            f"the connection without DISCONNECT", "connect", pair.attacker, topic=subject.topic,
                            payload=canary_payload(canary).decode())]
        summary = reproduction = ""
        if hit is not None and hit[0] == canary:
            evidence.append(self.got(channel.readers[0], hit[1], f"the attacker's will {canary}"))
            summary = (f"{pair.attacker} ({pair.relation.value}) registered a will on {subject.topic}; when its "
                       f"connection dropped, {subject.owner}'s side received the will")
            reproduction = (f"Connect as {pair.attacker} with a will on {subject.topic}, then close the TCP "
                            f"connection without DISCONNECT.")
        self.decide(check, template, pair.relation, pair.attacker, subject.owner, observation, summary=summary,
                    evidence=evidence, reproduction=reproduction)

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

    async def idvar_test(self, attacker: str, relation: Relation, subjects: list[Subject], chosen_id: str,
                         why: str) -> None:
        """Connect as the attacker with ``chosen_id``; read and write the victim's topics; compare with normal."""
        def all_subjects(observation: Observation) -> None:
            for subject in subjects:
                self.decide("mq-idvar-inject", subject.template.text, relation, attacker, subject.owner, observation)

        async with self.id_lock(chosen_id):  # two attackers with one client id would take over each other
            await self._idvar_connected(attacker, relation, subjects, chosen_id, why, all_subjects)

    def id_lock(self, chosen_id: str) -> asyncio.Lock:
        """One connection at a time per chosen client id."""
        return self.id_locks.setdefault(chosen_id, asyncio.Lock())

    async def _idvar_connected(self, attacker: str, relation: Relation, subjects: list[Subject], chosen_id: str,
                               why: str, all_subjects: Callable[[Observation], None]) -> None:
        client, result = await self.spawn(attacker, client_id=chosen_id)
        if isinstance(result, str):
            all_subjects(Observation(Outcome.ERROR, result))
            return
        if not result.accepted:
            all_subjects(Observation(Outcome.REFUSED, f"CONNACK {result.code} for client id {chosen_id!r}"))
            return
        try:
            own = self.sentinels.get(attacker)
            own_topic = [own.subject.topic] if own is not None and own.writer != attacker else []
            filters = list(dict.fromkeys([*(s.topic for s in subjects), *(self.topo.all_plus(s) for s in subjects),
                                          *own_topic]))
            try:
                await client.subscribe(filters)
            except TargetError as exc:
                all_subjects(Observation(Outcome.ERROR, str(exc)))
                return
            reads = await self._idvar_reads(client, attacker, subjects, own_topic)
            writes = await self._idvar_writes(client, attacker, subjects) if self.mode != "read-only" else {}
        finally:
            await self.pool.release(client)
        for subject in subjects:
            template = subject.template.text
            for part, observed, kinds in (("read", reads.get(subject.key), ("mq-xtenant-read", "mq-wildcard-read",
                                                                           "mq-retained-leak", "mq-anon",
                                                                           "mq-shadow-xtenant")),
                                          ("write", writes.get(subject.key), ("mq-xtenant-write", "mq-will-inject",
                                                                            "mq-anon", "mq-shadow-xtenant"))):
                if observed is None:
                    continue
                observation, evidence = observed
                if observation.outcome is Outcome.CANARY and self.normal_leak(kinds, template, relation, attacker):
                    observation = Observation(Outcome.MASKED, f"{part} with client id {chosen_id!r}")
                summary = reproduction = ""
                if observation.outcome is Outcome.CANARY:
                    summary = (f"{attacker} ({relation.value}) connected with client id {chosen_id!r} ({why}) and "
                               f"could {part} {subject.topic}, which it cannot with its own client id")
                    reproduction = (f"Connect to {self.mqtt.url} as {attacker} with client id {chosen_id!r}; "
                                    f"{'subscribe to' if part == 'read' else 'publish on'} {subject.topic}.")
                self.decide("mq-idvar-inject", template, relation, attacker, subject.owner, observation,
                            summary=summary, evidence=evidence, reproduction=reproduction)

    async def _idvar_reads(self, client: MqttClient, attacker: str, subjects: list[Subject],
                           own_topic: list[str]) -> dict[str, tuple[Observation, list[Evidence]]]:
        out: dict[str, tuple[Observation, list[Evidence]]] = {}
        targets = [s for s in subjects if s.key in self.channels]
        for subject in subjects:
            if subject.key not in self.channels:
                out[subject.key] = (Observation(Outcome.NO_CHANNEL, self.no_channel.get(subject.key, "")), [])
        if not targets:
            return out
        writers = {s.key: self.live_writer(self.channels[s.key]) for s in targets}
        canaries = {s.key: self.ledger.issue("canary", writers[s.key], s.topic, s) for s in targets}
        sentinel = self.ledger.issue("sentinel", self.sentinel_writer(attacker) or attacker)
        places = self.places({canaries[t.key]: t.topic for t in targets}, attacker, sentinel)
        watch = client.watch([*canaries.values(), sentinel], on=places)
        end = client.watch([sentinel], on=places)
        controls: dict[str, Watch] = {}
        for subject in targets:
            reader = self.pool.client_of(self.channels[subject.key].readers[0])
            if reader is not None:
                controls[subject.key] = reader.watch([canaries[subject.key]], on={canaries[subject.key]: subject.topic})
        published: dict[str, bool] = {}
        try:
            for subject in targets:
                published[subject.key] = await self.publish(writers[subject.key], subject.topic,
                                                             canaries[subject.key]) is not None
            sent = bool(own_topic) and await self.send_sentinel(attacker, sentinel)
            await client.first(end, self.options.settle if sent else self.options.quiet)
            await _any([w for w in controls.values() if w.hit is None], self.options.grace)
        finally:
            client.unwatch(watch)
            client.unwatch(end)
            for key, registered in controls.items():
                reader = self.pool.client_of(self.channels[key].readers[0])
                if reader is not None:
                    reader.unwatch(registered)
        stop = watch.seen.get(sentinel)
        for subject in targets:
            message = watch.seen.get(canaries[subject.key])
            evidence = list(self.channels[subject.key].evidence)
            control = controls.get(subject.key)
            if message is not None and (stop is None or message.at <= stop.at):
                evidence.append(self.got(attacker, message, f"the victim's canary {canaries[subject.key]}"))
                out[subject.key] = (Observation(Outcome.CANARY), evidence)
            elif not published[subject.key] or (control is not None and control.hit is None):
                out[subject.key] = (Observation(Outcome.NO_CHANNEL, "while the chosen client id was in use"),
                                    evidence)
            elif stop is not None:
                out[subject.key] = (Observation(Outcome.SENTINEL), evidence)
            elif not client.connected:
                out[subject.key] = (Observation(Outcome.LOST, client.lost_reason), evidence)
            elif sent and client.received == 0:
                out[subject.key] = (Observation(Outcome.QUIET, "the broker delivered nothing at all to this client "
                                                               "id, not even the identity's own topics"), evidence)
            else:
                out[subject.key] = (Observation(Outcome.TIMEOUT if sent else Outcome.QUIET), evidence)
        return out

    async def _idvar_writes(self, client: MqttClient, attacker: str,
                            subjects: list[Subject]) -> dict[str, tuple[Observation, list[Evidence]]]:
        out: dict[str, tuple[Observation, list[Evidence]]] = {}
        for subject in subjects:
            channel = self.channels.get(subject.key)
            if channel is None:
                continue
            reader_key = next((r for r in channel.readers if self.pool.live(r)), None)
            reader = self.pool.client_of(reader_key) if reader_key else None
            if reader is None or reader_key is None:
                out[subject.key] = (Observation(Outcome.LOST, "no reader of the victim's channel is connected"), [])
                continue
            canary = self.ledger.issue("canary", attacker, subject.topic, subject)
            writer = self.live_writer(channel)
            sentinel = self.ledger.issue("sentinel", writer, subject.topic, subject)
            watch = reader.watch([canary, sentinel], on=dict.fromkeys([canary, sentinel], subject.topic))
            try:
                try:
                    await self.pool.send(client, subject.topic, canary_payload(canary))
                except TargetError as exc:
                    out[subject.key] = (Observation(Outcome.ERROR, str(exc)), [])
                    continue
                sent = await self.publish(writer, subject.topic, sentinel) is not None
                hit = await reader.first(watch, self.options.settle if sent else self.options.quiet)
            finally:
                reader.unwatch(watch)
            evidence = list(channel.evidence)
            if hit is not None and hit[0] == canary:
                evidence.append(self.got(reader_key, hit[1], f"{attacker}'s canary {canary}"))
                out[subject.key] = (Observation(Outcome.CANARY), evidence)
            elif hit is not None:
                out[subject.key] = (Observation(Outcome.SENTINEL), evidence)
            else:
                out[subject.key] = (Observation(Outcome.TIMEOUT if sent else Outcome.QUIET), evidence)
        return out

    def inbound(self, victim: str) -> Channel | None:
        """A proven channel the victim reads (its command topic first), written by someone else."""
        command = self.topo.command_template()
        candidates = [c for c in self.channels.values() if victim in c.readers and c.writer != victim
                      and c.subject.owner == victim]
        candidates.sort(key=lambda c: (command is None or c.subject.template.name != command.name,
                                       c.subject.template.name))
        return candidates[0] if candidates else None

    async def kick_test(self, pair: Pair) -> None:
        victim = pair.subject.owner
        identity = self.topo.by_name[victim]
        template = pair.subject.template.text
        ids = list(dict.fromkeys([client_id(identity), username(identity)]))
        channel = self.inbound(victim)
        kicks: list[bool | None] = []
        evidence: list[Evidence] = []
        details: list[str] = []
        for chosen in ids:
            kicks = []
            for _ in range(self.options.kick_repeats):
                kicked, note = await self._kick_once(pair.attacker, victim, chosen, channel)
                kicks.append(kicked)
                details.append(note)
                if kicked is not True:
                    break
            if kicks and all(k is True for k in kicks):
                evidence.append(self.ev(f"{pair.attacker} connected with client id {chosen!r}: " + "; ".join(
                    details[-len(kicks):]), "connect", pair.attacker, reason="; ".join(details[-len(kicks):])))
                break
        judgement = checks.clientid_kick(kicks, self.options.kick_repeats, "; ".join(details[-3:]))
        summary = reproduction = ""
        if judgement.verdict is Verdict.LEAK:
            summary = (f"{pair.attacker} ({pair.relation.value}) connected with {victim}'s client id and {victim} was "
                       f"disconnected each time, within {self.options.kick_window:g}s")
            reproduction = f"Connect to {self.mqtt.url} as {pair.attacker} with {victim}'s client id."
        self.decisions.append(Decision("mq-clientid-kick", template, pair.relation, pair.attacker, victim, judgement,
                                       summary, evidence, reproduction))

    async def _kick_once(self, attacker: str, victim: str, chosen: str,
                         channel: Channel | None) -> tuple[bool | None, str]:
        if not await self.pool.ensure(victim):
            return None, f"{victim} could not connect"
        target = self.pool.client_of(victim)
        assert target is not None
        sentinel = self.ledger.issue("sentinel", channel.writer if channel else victim)
        watch = target.watch([sentinel], on={sentinel: channel.subject.topic} if channel else None)
        try:
            client, result = await self.spawn(attacker, client_id=chosen)
            connacked = time.monotonic()
            if isinstance(result, str):
                return None, f"attacker connect failed: {result}"
            if not result.accepted:
                return False, f"CONNACK {result.code}"
            sent = channel is not None and await self.publish(channel.writer, channel.subject.topic, sentinel) \
                is not None
            wait = self.options.settle if sent else self.options.kick_window
            lost = asyncio.ensure_future(target.wait_lost(wait))
            got = asyncio.ensure_future(target.first(watch, wait))
            await asyncio.wait([lost, got], return_when=asyncio.FIRST_COMPLETED)
            for task in (lost, got):
                task.cancel()
            await self.pool.release(client)
            if not target.connected and target.lost_at is not None:
                delay = target.lost_at - connacked
                if delay <= self.options.kick_window:
                    return True, f"{victim} dropped {max(delay, 0.0) * 1000:.0f} ms after the CONNACK"
                return None, f"{victim} dropped {delay:.2f}s after the CONNACK (outside the window)"
            if watch.hit is not None:
                return False, f"{victim}'s sentinel arrived; still connected"
            if not sent:  # no channel to the victim: it must still get an answer from the broker
                own = self.topo.owner_subjects(victim)
                try:
                    await target.subscribe([own[0].topic] if own else [CATCH_ALL])
                except TargetError as exc:
                    return None, f"{victim} got no answer after the attempt: {exc}"
                if target.connected:
                    return False, f"{victim} still connected and answered {self.options.kick_window:g}s later"
            return None, "neither drop nor sentinel"
        finally:
            target.unwatch(watch)

    async def steal_test(self, pair: Pair) -> None:
        victim = pair.subject.owner
        template = pair.subject.template.text
        channel = self.inbound(victim)
        attacker_writer = self.sentinel_writer(pair.attacker)

        def record(observation: Observation, evidence: list[Evidence] | None = None, summary: str = "") -> None:
            reproduction = (f"While {victim} is offline with a persistent session, connect as {pair.attacker} "
                            f"with {victim}'s client id and clean session off.") if summary else ""
            self.decide("mq-session-steal", template, pair.relation, pair.attacker, victim, observation,
                        summary=summary, evidence=evidence or [], reproduction=reproduction)

        if channel is None:
            record(Observation(Outcome.NO_CHANNEL, f"no proven channel delivers to {victim}"))
            return
        identity = self.topo.by_name[victim]
        vid = client_id(identity)
        topic = channel.subject.topic
        await self.pool.close(victim)
        try:
            first, result = await self.spawn(victim, client_id=vid, clean=False, session_expiry=SESSION_EXPIRY)
            if isinstance(result, str) or not result.accepted:
                record(Observation(Outcome.ERROR, f"{victim} could not open a persistent session"))
                return
            try:
                await first.subscribe([topic])
            finally:
                await self.pool.release(first)
            control = self.ledger.issue("canary", channel.writer, topic, channel.subject)
            await self.publish(channel.writer, topic, control)
            again = self.pool.new_client(victim, client_id=vid, clean=False, session_expiry=SESSION_EXPIRY)
            check = again.watch([control], on={control: topic})
            try:
                result = await self.pool.connect(again)
                got = await again.first(check, self.options.settle) if result.accepted else None
            except TargetError:
                got = None
            finally:
                await self.pool.release(again)
            if got is None:
                record(Observation(Outcome.NO_CHANNEL, f"the broker kept no persistent session for {victim} (a canary "
                                                       f"queued while it was offline did not arrive)"))
                return
            queued = self.ledger.issue("canary", channel.writer, topic, channel.subject)
            await self.publish(channel.writer, topic, queued)
            sentinel = self.ledger.issue("sentinel", attacker_writer or pair.attacker)
            thief = self.pool.new_client(pair.attacker, client_id=vid, clean=False, session_expiry=SESSION_EXPIRY)
            watch = thief.watch([queued, sentinel], on=self.places({queued: topic}, pair.attacker, sentinel))
            try:
                result = await self.pool.connect(thief)
                if not result.accepted:
                    record(Observation(Outcome.REFUSED, f"CONNACK {result.code}"))
                    return
                own = self.sentinels.get(pair.attacker)
                sent = False
                if own is not None and attacker_writer is not None:
                    await thief.subscribe([own.subject.topic])
                    sent = await self.send_sentinel(pair.attacker, sentinel)
                hit = await thief.first(watch, self.options.settle if sent else self.options.quiet)
            except TargetError as exc:
                record(Observation(Outcome.ERROR, str(exc)))
                return
            finally:
                await self.pool.release(thief)
            evidence = [*channel.evidence,
                        self.ev(f"{channel.writer} published canary {queued} on {topic} while {victim} was offline "
                                f"with a persistent session", "publish", channel.writer, topic=topic,
                                payload=canary_payload(queued).decode())]
            if hit is not None and hit[0] == queued:
                evidence.append(self.got(pair.attacker, hit[1], f"{victim}'s queued canary {queued}"))
                record(Observation(Outcome.CANARY, f"session present: {result.session_present}"), evidence,
                       f"{pair.attacker} ({pair.relation.value}) connected with {victim}'s client id and received "
                       f"the command queued for {victim}")
            elif hit is not None:
                record(Observation(Outcome.SENTINEL), evidence)
            else:
                record(Observation(Outcome.QUIET if not sent else Outcome.TIMEOUT), evidence)
        finally:
            for key in (pair.attacker, victim):
                cleaner, outcome = await self.spawn(key, client_id=vid, clean=True)
                if not isinstance(outcome, str):
                    await self.pool.release(cleaner)

    async def attacker_batch(self, attacker: str, wills: list[Pair], idvars: list[tuple[Relation, list[Subject],
                             list[tuple[str, str]]]], kicks: list[Pair], steals: list[Pair]) -> None:
        victims = {p.subject.owner for p in (*kicks, *steals)}
        for _, subjects, ids in idvars:
            if len(ids) > 1:  # the victim's own client id is among them: it takes over the victim's session
                victims.update(s.owner for s in subjects)
        shared: set[str] = set()
        for pair in wills:
            channel = self.channels.get(pair.subject.key)
            if channel is not None:
                shared.update([channel.writer, channel.readers[0]])
        for _, subjects, _ in idvars:
            for subject in subjects:
                channel = self.channels.get(subject.key)
                if channel is not None:
                    shared.update([channel.writer, *channel.readers])
        for victim in victims:
            channel = self.inbound(victim)
            if channel is not None:
                shared.add(channel.writer)
        writer = self.sentinel_writer(attacker)
        if writer is not None:
            shared.add(writer)
        others = shared | victims
        async with self.pool.use(exclusive=[attacker, *sorted(victims)], shared=shared):
            await self.pool.close(attacker)
            for pair in wills:
                await self.pool.ensure_all(others)
                await self.guarded(self.will_test(pair), self._error_cell(
                    self.read_check("will", pair.relation, pair.subject), pair))
            for relation, subjects, ids in idvars:
                for chosen, why in ids:
                    await self.pool.ensure_all(others)
                    await self.guarded(self.idvar_test(attacker, relation, subjects, chosen, why),
                                       self._error_cells("mq-idvar-inject", relation, attacker, subjects))
            for pair in steals:
                await self.pool.ensure_all(others)
                await self.guarded(self.steal_test(pair), self._error_cell("mq-session-steal", pair))
            for pair in kicks:
                await self.pool.ensure_all(others - {pair.subject.owner})
                await self.guarded(self.kick_test(pair), self._error_cell("mq-clientid-kick", pair))

    def _error_cell(self, check: str, pair: Pair) -> Callable[[str], None]:
        def record(why: str) -> None:
            self.decide(check if check in _JUDGES else "mq-anon", pair.subject.template.text, pair.relation,
                        pair.attacker, pair.subject.owner, Observation(Outcome.ERROR, why))
        return record

    def _error_cells(self, check: str, relation: Relation, attacker: str,
                     subjects: list[Subject]) -> Callable[[str], None]:
        def record(why: str) -> None:
            for subject in subjects:
                self.decide(check, subject.template.text, relation, attacker, subject.owner,
                            Observation(Outcome.ERROR, why))
        return record

    # -- phase 5: broker-wide ------------------------------------------------------------------

    async def sys_test(self, victim: str, watchers: list[Pair]) -> None:
        topic = SYS_FILTER
        active: list[Pair] = []
        for pair in watchers:
            session = self.pool.get(pair.attacker)
            if pair.attacker == ANONYMOUS and self.anon_result is not None:
                self.decide("mq-sys-leak", topic, pair.relation, ANONYMOUS, victim, self.anon_result)
            elif session is None or not (session.live or await self.pool.ensure(pair.attacker)):
                self.decide("mq-sys-leak", topic, pair.relation, pair.attacker, victim,
                            Observation(Outcome.ERROR, f"{pair.attacker} is not connected"))
            elif not session.granted(SYS_FILTER):
                self.decide("mq-sys-leak", topic, pair.relation, pair.attacker, victim,
                            Observation(Outcome.REFUSED, f"SUBACK 0x{session.codes.get(SYS_FILTER, FAILURE):02x} "
                                                         f"for {SYS_FILTER}"))
            else:
                active.append(pair)
        if not active:
            return
        shared = [w for w in (self.sentinel_writer(p.attacker) for p in active) if w is not None]
        async with self.pool.use(exclusive=[victim], shared=[*(p.attacker for p in active), *shared]):
            marker = self.ledger.issue("clientid", victim)
            probes: list[tuple[Pair, _Probe]] = []
            for pair in active:
                client = self.pool.client_of(pair.attacker)
                if client is None:
                    continue
                sentinel = self.ledger.issue("sentinel", self.sentinel_writer(pair.attacker) or pair.attacker)
                watch = client.watch([marker, sentinel], on=self.places({}, pair.attacker, sentinel))
                probes.append((pair, _Probe(pair.attacker, client, watch, sentinel)))
            try:
                await self.pool.close(victim)
                client, result = await self.spawn(victim, client_id=marker)
                if not isinstance(result, str):
                    await self.pool.release(client)
                if isinstance(result, str) or not result.accepted:
                    why = result if isinstance(result, str) else f"CONNACK {result.code}"
                    for pair, _ in probes:
                        self.decide("mq-sys-leak", topic, pair.relation, pair.attacker, victim,
                                    Observation(Outcome.ERROR, f"{victim} could not connect with a canary client id: "
                                                               f"{why}"))
                    return
                await asyncio.gather(*(self._finish_read(probe, marker) for _, probe in probes))
            finally:
                for _, probe in probes:
                    probe.client.unwatch(probe.watch)
            for pair, probe in probes:
                evidence = [self.ev(f"{victim} connected with the canary client id {marker}", "connect", victim)]
                summary = ""
                if probe.hit is not None:
                    evidence.append(self.got(pair.attacker, probe.hit, f"{victim}'s canary client id"))
                    summary = (f"{pair.attacker} ({pair.relation.value}) read {victim}'s client id from "
                               f"{probe.hit.topic}")
                self.decide("mq-sys-leak", topic, pair.relation, pair.attacker, victim,
                            probe.observation or Observation(Outcome.ERROR), summary=summary, evidence=evidence,
                            reproduction=f"Subscribe {SYS_FILTER} as {pair.attacker}." if summary else "")

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

    async def shared_cred(self) -> None:
        devices = [i for i in self.topo.identities if i.role == "device" and i.name in self.pool.sessions]
        if len(devices) < 2:
            self.notes.append("id-shared-cred: fewer than two device identities with sessions")
            return
        for index, victim in enumerate(devices):
            order = {t.name: i for i, t in enumerate(self.topo.templates)}
            own = sorted((c for c in self.channels.values() if c.subject.owner == victim.name),
                         key=lambda c: order[c.subject.template.name])
            reads = [c for c in own if victim.name in c.readers and c.writer != victim.name]
            writes = [c for c in own if c.writer == victim.name]
            targets = [(c, "read") for c in reads] + [(c, "write") for c in writes[:1]]
            if not targets:
                continue
            secret = self._secret(victim)
            twin = next((d for d in devices if d.name != victim.name and secret is not None
                         and self._secret(d) == secret), None)
            attacker = twin or devices[index - 1]
            if twin is None and (secret is None or secret[0] != "password" or self._secret(attacker) is None
                                 or self._secret(attacker)[0] != "password"):  # type: ignore[index]
                # a client certificate names its own identity: it cannot log in as another device
                continue
            if twin is not None and self.pool.live(victim.name):
                for channel, part in targets:
                    peer = channel.readers[0] if part == "write" else channel.writer
                    self.decide("id-shared-cred", channel.subject.template.text, Relation.DEVICE, attacker.name,
                                victim.name, Observation(Outcome.CANARY, f"identical secrets; {part} proven"),
                                summary=f"{attacker.name}'s secret is also {victim.name}'s: logged in as "
                                        f"{victim.name}, it {'received' if part == 'read' else 'published'} on "
                                        f"{channel.subject.topic} ({'from' if part == 'read' else 'to'} {peer})",
                                evidence=channel.evidence,
                                reproduction=f"Log in as {username(victim)} with {attacker.name}'s secret.")
                continue
            await self._cross_login(attacker, victim, targets)

    async def _cross_login(self, attacker: Identity, victim: Identity,
                           targets: list[tuple[Channel, str]]) -> None:
        theirs = self.creds(attacker)
        mine = self.creds(victim)
        creds = Credentials(mine.username, theirs.password, mine.client_id, theirs.cert, theirs.key)
        async with self.pool.use(exclusive=[victim.name], shared=[c.writer for c, _ in targets]):
            await self.pool.close(victim.name)
            client, result = await self.spawn(victim.name, creds=creds)
            if isinstance(result, str) or not result.accepted:
                why = result if isinstance(result, str) else f"CONNACK {result.code}: {result.reason}"
                outcome = Outcome.ERROR if isinstance(result, str) else Outcome.REFUSED
                for channel, _ in targets:
                    self.decide("id-shared-cred", channel.subject.template.text, Relation.DEVICE, attacker.name,
                                victim.name, Observation(outcome, why))
                return
            try:
                for channel, part in targets:
                    canary = self.ledger.issue("canary", channel.writer if part == "read" else victim.name,
                                               channel.subject.topic, channel.subject)
                    if part == "read":
                        await client.subscribe([channel.subject.topic])
                        watch = client.watch([canary], on={canary: channel.subject.topic})
                        await self.publish(channel.writer, channel.subject.topic, canary)
                        hit = await client.first(watch, self.options.settle)
                    else:
                        reader = self.pool.client_of(channel.readers[0])
                        if reader is None:
                            continue
                        watch = reader.watch([canary], on={canary: channel.subject.topic})
                        await self.publish(victim.name, channel.subject.topic, canary, client=client)
                        hit = await reader.first(watch, self.options.settle)
                        reader.unwatch(watch)
                    observation = Observation(Outcome.CANARY if hit else Outcome.TIMEOUT,
                                              f"{attacker.name}'s secret accepted for {username(victim)}")
                    self.decide("id-shared-cred", channel.subject.template.text, Relation.DEVICE, attacker.name,
                                victim.name, observation, evidence=channel.evidence,
                                summary=f"the broker accepted {attacker.name}'s secret for {victim.name} and the "
                                        f"login could {part} {channel.subject.topic}" if hit else "",
                                reproduction=f"Log in as {username(victim)} with {attacker.name}'s secret.")
            finally:
                await self.pool.release(client)

    async def plaintext(self) -> None:
        urls = [self.mqtt.url, *self.mqtt.also]
        endpoints = [Endpoint.parse(u) for u in urls]
        plain = [e for e in endpoints if not e.tls]
        topic, relation = CATCH_ALL, Relation.SELF
        people = sorted((i for i in self.topo.identities if i.mqtt and i.mqtt.password is not None),
                        key=lambda i: (not i.sacrificial, i.name))
        subject = people[0].name if people else ANONYMOUS
        if not plain:
            self.decide("mq-plaintext", topic, relation, subject, subject,
                        Observation(Outcome.ABSENT, "the plan declares no plaintext listener (mqtt:// or ws://)"))
            return
        if not (self.mqtt.require_tls or any(e.tls for e in endpoints)):
            self.decide("mq-plaintext", topic, relation, subject, subject,
                        Observation(Outcome.ABSENT, "plaintext is this provider's only listener and the plan does not "
                                                    "set require_tls"))
            return
        if not people:
            self.decide("mq-plaintext", topic, relation, subject, subject,
                        Observation(Outcome.ABSENT, "no identity has a password to try"))
            return
        identity = people[0]
        async with self.pool.use(exclusive=[identity.name]):
            await self.pool.close(identity.name)
            for endpoint in plain:
                client, result = await self.spawn(identity.name, endpoint=endpoint)
                if isinstance(result, str):
                    self.decide("mq-plaintext", topic, relation, identity.name, identity.name,
                                Observation(Outcome.ERROR, f"{endpoint.url}: {result}"))
                    continue
                await self.pool.release(client)
                if result.accepted:
                    self.decide("mq-plaintext", topic, relation, identity.name, identity.name,
                                Observation(Outcome.CANARY, endpoint.url),
                                summary=f"{endpoint.url} accepted {identity.name}'s real credentials without TLS",
                                evidence=[self.ev(f"CONNACK accepted on {endpoint.url}", "connect", identity.name,
                                                  reason="CONNACK 0")],
                                reproduction=f"Connect to {endpoint.url} with {identity.name}'s credentials.")
                else:
                    self.decide("mq-plaintext", topic, relation, identity.name, identity.name,
                                Observation(Outcome.REFUSED, f"{endpoint.url}: CONNACK {result.code}"))

    # -- phase 6: catch-all ---------------------------------------------------------------------

    def any_leak(self) -> None:
        explained = {(d.topic, d.relation) for d in self.decisions
                     if d.judgement.verdict is Verdict.LEAK and d.check in READ_CHECKS}
        unexplained: dict[tuple[str, Relation], list[tuple[str, str, str]]] = {}
        for sighting in self.ledger.sightings:
            record = self.ledger.records[sighting.canary]
            subject = record.subject
            if subject is None or record.kind == "clientid":
                continue
            observer = sighting.observer
            identity = self.identity(observer)
            if observer == record.publisher or observer in subject.party or (identity and is_platform(identity)):
                continue
            relation = classify(identity, self.topo.by_name[subject.owner])
            key = (subject.template.text, relation)
            copied = sighting.topic != record.topic
            if copied or key not in explained:
                unexplained.setdefault(key, []).append((observer, subject.owner, sighting.canary))
        listeners = {k for k, s in self.pool.sessions.items() if s.granted(CATCH_ALL)}
        for template in self.topo.templates:
            for relation, pair in self.selection.reads.get(template.name, {}).items():
                seen = unexplained.get((template.text, relation))
                if relation is Relation.ANONYMOUS and self.anon_result is not None:
                    self.decide("mq-any-leak", template.text, relation, ANONYMOUS, pair.subject.owner,
                                self.anon_result)
                elif seen:
                    observer, owner, canary = seen[0]
                    hits = [s for s in self.ledger.sightings if s.observer == observer and s.canary == canary]
                    evidence = [self.ev(f"{observer}'s catch-all received {owner}'s canary {canary} on {h.topic}",
                                        "receive", observer, topic=h.topic, payload=h.excerpt, retained=h.retain)
                                for h in hits[:1]]
                    self.decide("mq-any-leak", template.text, relation, observer, owner,
                                Observation(Outcome.CANARY, f"{len(seen)} unexplained sighting(s)"),
                                summary=f"{observer}'s catch-all subscription received a canary from {owner}'s side "
                                        f"that no specific check explains", evidence=evidence,
                                reproduction=f"Subscribe # as {observer} and watch for {owner}'s messages.")
                elif any(k in listeners for k in self._relation_members(relation, pair)):
                    self.decide("mq-any-leak", template.text, relation, pair.attacker, pair.subject.owner,
                                Observation(Outcome.SENTINEL if self.channels else Outcome.NO_CHANNEL,
                                            "catch-all subscriptions held for the whole run"))
                else:
                    self.decide("mq-any-leak", template.text, relation, pair.attacker, pair.subject.owner,
                                Observation(Outcome.ERROR, "no identity of this relation held a catch-all "
                                                           "subscription"))

    def _relation_members(self, relation: Relation, pair: Pair) -> list[str]:
        if relation is Relation.ANONYMOUS:
            return [ANONYMOUS]
        owner = self.topo.by_name[pair.subject.owner]
        return [i.name for i in self.topo.identities if i.name not in pair.subject.party
                and classify(i, owner) is relation]

    # -- the run ---------------------------------------------------------------------------------

    def mode_cells(self) -> None:
        """Cells the safety mode or the plan keeps from running, as not-tested."""
        command = self.topo.command_template()
        relations = sorted({r for pairs in self.selection.reads.values() for r in pairs}, key=lambda r: r.value)
        topic = command.text if command is not None else (self.topo.templates[0].text if self.topo.templates else "#")
        for relation in relations:
            for check in ("mq-clientid-kick", "mq-session-steal"):
                if self.mode != "intrusive":
                    why = "intrusive mode only (it disconnects or takes over the victim)"
                elif relation not in self.selection.intrusive:
                    why = f"no sacrificial victim with an attacker of relation {relation.value}; mark one sacrificial"
                else:
                    continue
                self.decide(check, topic, relation, ANONYMOUS if relation is Relation.ANONYMOUS else "", "",
                            Observation(Outcome.MODE, why))
        if self.mode == "read-only":
            for template in self.topo.templates:
                for relation, pair in self.selection.reads.get(template.name, {}).items():
                    for kind in ("write", "will", "retained"):
                        self.decide(self.read_check(kind, relation, pair.subject), template.text, relation,
                                    pair.attacker, pair.subject.owner,
                                    Observation(Outcome.MODE, "read-only mode publishes nothing"))

    async def execute(self) -> None:
        needed = self.plan_sessions()
        await self.open_sessions()
        if not any(self.topo.subjects.values()):
            self.decide("mq-anon", CATCH_ALL, Relation.ANONYMOUS, ANONYMOUS, "", self.anon_result or Observation(
                Outcome.ABSENT, "the broker accepts anonymous clients, but mqtt.topics names no topic to test them on"))
        await asyncio.gather(*(self.guarded(self.prove(s), self._proof_error(s)) for s in needed))
        await asyncio.sleep(self.options.grace if self.channels else 0)
        self.choose_sentinels()
        rounds: list[Awaitable[None]] = []
        by_subject: dict[str, tuple[Subject, list[Pair]]] = {}
        for chosen in self.selection.reads.values():
            for pair in chosen.values():
                by_subject.setdefault(pair.subject.key, (pair.subject, []))[1].append(pair)
        writes = self.mode != "read-only"
        for subject, pairs in by_subject.values():
            for kind in ("exact", "wildcard"):
                rounds.append(self.guarded(self.read_round(kind, subject, pairs),
                                           self._round_error(kind, pairs)))
            if writes:
                rounds.append(self.guarded(self.write_round(subject, pairs), self._round_error("write", pairs)))
                rounds.append(self.guarded(self.retained_round(subject, pairs), self._round_error("retained", pairs)))
        if self.mode == "read-only":
            for _, pairs in by_subject.values():
                self.usable(pairs, "exact")  # decides anonymous cells from the CONNACK
        await asyncio.gather(*rounds)
        await self.connection_tricks(by_subject)
        if writes:
            await self.broker_wide()
        await self.guarded(self.plaintext(), lambda why: self.decide(
            "mq-plaintext", CATCH_ALL, Relation.SELF, ANONYMOUS, ANONYMOUS, Observation(Outcome.ERROR, why)))
        self.any_leak()
        self.mode_cells()

    def _proof_error(self, subject: Subject) -> Callable[[str], None]:
        def record(why: str) -> None:
            self.no_channel.setdefault(subject.key, why)
        return record

    def _sys_error(self, victim: str, watchers: list[Pair]) -> Callable[[str], None]:
        def record(why: str) -> None:
            for pair in watchers:
                self.decide("mq-sys-leak", SYS_FILTER, pair.relation, pair.attacker, victim,
                            Observation(Outcome.ERROR, why))
        return record

    def _round_error(self, kind: str, pairs: list[Pair]) -> Callable[[str], None]:
        def record(why: str) -> None:
            for pair in pairs:
                self.decide(self.read_check(kind, pair.relation, pair.subject), pair.subject.template.text,
                            pair.relation, pair.attacker, pair.subject.owner, Observation(Outcome.ERROR, why))
        return record

    async def connection_tricks(self, by_subject: dict[str, tuple[Subject, list[Pair]]]) -> None:
        if self.mode == "read-only":
            return
        per_attacker: dict[str, tuple[list[Pair], list[tuple[Relation, list[Subject], list[tuple[str, str]]]],
                                      list[Pair], list[Pair]]] = {}

        def slot(key: str) -> tuple[list[Pair], list[tuple[Relation, list[Subject], list[tuple[str, str]]]],
                                    list[Pair], list[Pair]]:
            return per_attacker.setdefault(key, ([], [], [], []))

        for _, pairs in by_subject.values():
            for pair in pairs:
                if pair.attacker == ANONYMOUS and self.anon_result is not None:
                    self.decide(self.read_check("will", pair.relation, pair.subject), pair.subject.template.text,
                                pair.relation, ANONYMOUS, pair.subject.owner, self.anon_result)
                    continue
                if pair.attacker in self.pool.sessions:
                    slot(pair.attacker)[0].append(pair)
        reps: dict[tuple[str, Relation], list[Subject]] = {}
        for pairs_by_relation in self.selection.reads.values():
            for relation, pair in pairs_by_relation.items():
                if pair.attacker == ANONYMOUS:
                    continue
                reps.setdefault((pair.attacker, relation), []).append(pair.subject)
        for (attacker, relation), subjects in reps.items():
            if attacker not in self.pool.sessions:
                continue
            ids = [("+", "a single-level wildcard as client id")]
            if self.mode == "intrusive":
                owner = self.topo.by_name[subjects[0].owner]
                if owner.sacrificial:
                    ids += [(cid, f"{owner.name}'s client id") for cid in
                            dict.fromkeys([client_id(owner), username(owner)])]
            owner_name = subjects[0].owner
            slot(attacker)[1].append((relation, [s for s in subjects if s.owner == owner_name], ids))
        if self.mode == "intrusive":
            for relation, pair in self.selection.intrusive.items():
                if pair.attacker == ANONYMOUS and self.anon_result is not None:
                    for check in ("mq-clientid-kick", "mq-session-steal"):
                        self.decide(check, pair.subject.template.text, relation, ANONYMOUS, pair.subject.owner,
                                    self.anon_result)
                    continue
                if pair.attacker in self.pool.sessions:
                    slot(pair.attacker)[2].append(pair)
                    slot(pair.attacker)[3].append(pair)
        await asyncio.gather(*(self.attacker_batch(a, *work) for a, work in sorted(per_attacker.items())))

    async def broker_wide(self) -> None:
        by_victim: dict[str, list[Pair]] = {}
        seen: set[Relation] = set()
        for pairs in self.selection.reads.values():
            for relation, pair in pairs.items():
                if relation not in seen:
                    seen.add(relation)
                    by_victim.setdefault(pair.subject.owner, []).append(pair)
        for victim, watchers in sorted(by_victim.items()):
            await self.guarded(self.sys_test(victim, watchers), self._sys_error(victim, watchers))
        await self.guarded(self.shared_cred(), lambda why: self.notes.append(f"id-shared-cred: {why}"))

    # -- results ---------------------------------------------------------------------------------

    def results(self) -> tuple[list[Cell], list[Finding]]:
        grouped: dict[tuple[str, str, Relation], list[Decision]] = {}
        for decision in self.decisions:
            grouped.setdefault((decision.check, decision.topic, decision.relation), []).append(decision)
        cells: list[Cell] = []
        findings: list[Finding] = []
        for (check, topic, relation), group in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                        kv[0][2].value)):
            judgement = checks.combine(d.judgement for d in group)
            lead = next((d for d in group if d.judgement.verdict is judgement.verdict), group[0])
            cell = Cell(check=check, plane="mqtt", topic=topic, relation=relation, verdict=judgement.verdict,
                        reason=self.redactor.text(judgement.reason), attacker=lead.attacker or None,
                        victim=lead.victim or None)
            cells.append(cell)
            if judgement.verdict is Verdict.LEAK:
                findings.append(checks.finding(
                    check, topic=topic, relation=relation, attacker=lead.attacker, victim=lead.victim,
                    summary=self.redactor.text(lead.summary or judgement.reason), evidence=lead.evidence,
                    reproduction=self.redactor.text(lead.reproduction)))
        return cells, findings


async def _any(watches: Iterable[Watch], timeout: float) -> None:
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


async def probe_mqtt(loaded: LoadedPlan, governor: Governor, redactor: Redactor, *,
                     on_cell: Callable[[Cell], object], on_finding: Callable[[Finding], object],
                     options: ProbeOptions | None = None) -> MqttRunSummary:
    """Probe the plan's broker; report every cell and every finding; return what was decided and spent.

    Never raises for target behaviour: unreachable brokers, refusals, drops, stalls, floods and spent
    budgets become inconclusive cells. Every connection, subscription and publish goes through
    :class:`iotvet.transport.mqtt.MqttClient` (scope, governor, topic guard).
    """
    summary = MqttRunSummary(not_done=dict(NOT_DONE))
    started = time.monotonic()
    if loaded.plan.mqtt is None:
        summary.notes.append("the plan has no mqtt section")
        return summary
    run = _Run(loaded, governor, redactor, options or ProbeOptions())
    try:
        await run.execute()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(run.pool.close_all(), 10)
    cells, findings = run.results()
    for cell in cells:
        on_cell(cell)
    for item in findings:
        on_finding(item)
    summary.cells_decided = sum(c.verdict in (Verdict.ENFORCED, Verdict.LEAK) for c in cells)
    summary.cells_inconclusive = sum(c.verdict is Verdict.INCONCLUSIVE for c in cells)
    summary.cells_not_tested = sum(c.verdict is Verdict.NOT_TESTED for c in cells)
    summary.findings = len(findings)
    summary.messages_sent = run.pool.counters.publishes
    summary.connects = run.pool.counters.connects
    summary.untested = dict(run.selection.untested)
    shadows = [t for t in run.topo.templates if t.shadow]
    if not shadows:
        summary.notes.append("mq-shadow-xtenant: no mqtt.topics template names a shadow or twin; nothing to test")
    summary.notes += [f"template {name!r} skipped: {why}" for name, why in run.topo.skipped.items()]
    summary.notes += run.notes
    if run.ledger.dropped:
        summary.notes.append(f"{run.ledger.dropped} canary sightings beyond the cap were not kept")
    summary.duration = time.monotonic() - started
    return summary
