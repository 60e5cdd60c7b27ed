"""Phase 1: choose pairs and sessions, open them; cells the mode keeps from running."""

from __future__ import annotations

import asyncio
import secrets

from iotvet.checks.mqtt import Observation, Outcome
from iotvet.core.errors import TargetError, TargetErrorKind
from iotvet.core.records import Relation
from iotvet.probes.mqtt.stale import revoked_subjects
from iotvet.probes.mqtt.state import RunState
from iotvet.probes.mqtt.topology import ANONYMOUS, CATCH_ALL, SYS_FILTER, Subject, is_platform
from iotvet.transport.mqtt import ConnectResult, Credentials


class Planning(RunState):
    """Phase 1: choose pairs and sessions, open them; cells the mode keeps from running."""

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
        if self.mode == "intrusive":  # the topics mqtt.revoke takes away, and everyone on their side
            for entry in self.mqtt.revoke:
                for subject in revoked_subjects(self.topo, entry):
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
            # helpers hold only their party's topics; an attacker (a tenant admin is both) also holds # and $SYS/#
            helper = name not in attackers and (is_platform(identity) or all(
                name in self.topo.helpers(self.topo.by_name[s.owner]) for s in needed.values() if name in s.party))
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
