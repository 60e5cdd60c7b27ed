"""``mq-stale-authz``: access that survives the plan's revocation flow (intrusive mode, sacrificial identity).

For each ``mqtt.revoke`` entry: a connection as the identity proves it reads (the victim's side
delivers a canary to it) and writes (its canary reaches the victim's reader) each named topic;
the revocation flow runs over HTTP as ``by``; after ``wait`` the still-connected session and then
a new connection try again. A canary that still crosses is a leak; a refusal, a dropped session,
or a canary the victim's own reader got while the identity did not (sentinel or quiet window) is
enforcement. The restore flow then grants the access back, and a new session proves it did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from iotvet.checks.mqtt import Observation, Outcome
from iotvet.checks.relations import classify
from iotvet.core.records import Evidence, Relation
from iotvet.plan.schema import MqttRevoke
from iotvet.probes.mqtt.crossing import Crossing
from iotvet.probes.mqtt.flows import FlowResult
from iotvet.probes.mqtt.topology import Subject, Topology, username
from iotvet.transport.mqtt import MqttClient

CHECK = "mq-stale-authz"
REFUSED = "CONNACK"


def revoked_subjects(topo: Topology, entry: MqttRevoke) -> list[Subject]:
    """The topics an ``mqtt.revoke`` entry takes from its identity: its own subjects of the named templates."""
    out: list[Subject] = []
    for template in topo.templates:
        if template.name not in entry.topics:
            continue
        for subject in topo.subjects.get(template.name, []):
            owner = topo.by_name[subject.owner]
            if entry.identity not in subject.party or entry.identity in topo.helpers(owner):
                continue
            if entry.device is not None and dict(subject.values).get("device", entry.device) != entry.device:
                continue
            out.append(subject)
    return out


class StaleAuthz(Crossing):
    """Phase 5b: the plan's revocations, each proven before and tested after with the connected and a new session."""

    async def stale_authz(self) -> None:
        if not self.mqtt.revoke:
            self.notes.append(f"{CHECK}: the plan names no mqtt.revoke entry; nothing to test")
        for entry in self.mqtt.revoke:
            subjects = [s for s in revoked_subjects(self.topo, entry)
                        if not self.is_settled(CHECK, s.template.text, self._relation(entry, s))]
            identity = self.topo.by_name[entry.identity]
            why = ""
            if self.mode != "intrusive":
                why = "intrusive mode only (it revokes the identity's access through the plan's flows)"
            elif not identity.sacrificial:
                why = f"{identity.name} is not sacrificial; mark it sacrificial to let a flow revoke its access"
            elif self.flows is None:
                why = "no REST session to run the plan's flows (the probe was started without one)"
            if not subjects:
                self.notes.append(f"{CHECK}: {entry.identity} stands on the owner's side of no topic of "
                                  f"{', '.join(entry.topics)} (or they are settled); nothing to revoke")
            elif why:
                self._all(entry, subjects, Observation(Outcome.MODE, why))
            else:
                await self.guarded(self._revoke(entry, subjects), self._failed(entry, subjects))

    def _failed(self, entry: MqttRevoke, subjects: list[Subject]) -> Callable[[str], None]:
        return lambda why: self._all(entry, subjects, Observation(Outcome.ERROR, why))

    def _relation(self, entry: MqttRevoke, subject: Subject) -> Relation:
        return classify(self.topo.by_name[entry.identity], self.topo.by_name[subject.owner])

    def _all(self, entry: MqttRevoke, subjects: list[Subject], observation: Observation) -> None:
        for subject in subjects:
            self.decide(CHECK, subject.template.text, self._relation(entry, subject), entry.identity, subject.owner,
                        observation)

    def _values(self, entry: MqttRevoke) -> dict[str, str]:
        identity = self.topo.by_name[entry.identity]
        devices = [*([identity.device] if identity.device else []), *identity.devices]
        return {"device": entry.device or (devices[0] if devices else ""), "tenant": identity.tenant,
                "user": username(identity)}

    async def _revoke(self, entry: MqttRevoke, subjects: list[Subject]) -> None:
        assert self.flows is not None
        name = entry.identity
        party = sorted({k for s in subjects for k in s.party} - {name})
        async with self.pool.use(exclusive=[name], shared=party):
            await self.pool.close(name)
            held, why = await self._connect(name, subjects)
            if held is None:
                self._all(entry, subjects, Observation(Outcome.ERROR, f"{name} could not connect: {why}"))
                return
            before: dict[str, list[tuple[str, list[Evidence]]]] = {}
            revoked: FlowResult | None = None
            try:
                before = await self._before(entry, subjects, held)
                if before:
                    revoked = await self.flows(entry.by or name, entry.flow, self._values(entry))
                    if revoked.ok:
                        await asyncio.sleep(entry.wait)
                        await self._after(entry, subjects, before, held, "connected", revoked.evidence)
                        await self.pool.release(held)  # one connection per identity: then a new one
                        await self._fresh(entry, subjects, before, revoked.evidence)
                    else:
                        self._all(entry, [s for s in subjects if s.key in before], Observation(
                            Outcome.ERROR, f"the revocation did not run: {revoked.detail}"))
            finally:
                await self.pool.release(held)
                # whatever happened after the revocation (or after its first steps), grant the access back
                if revoked is not None and (revoked.ok or len(revoked.evidence) > 1):
                    await self._restore(entry, subjects, before)

    async def _before(self, entry: MqttRevoke, subjects: list[Subject],
                      held: MqttClient) -> dict[str, list[tuple[str, list[Evidence]]]]:
        """What the identity reads and writes before the revocation (only that is tested after it)."""
        name = entry.identity
        before: dict[str, list[tuple[str, list[Evidence]]]] = {}
        for subject in subjects:
            for part in ("read", "write"):
                outcome, evidence = await self.cross(subject, name, held, part, self.options.settle)
                if outcome.outcome is Outcome.CANARY:
                    before.setdefault(subject.key, []).append((part, evidence))
            if subject.key not in before:
                self.decide(CHECK, subject.template.text, self._relation(entry, subject), name, subject.owner,
                            Observation(Outcome.NO_CHANNEL, f"{name} neither read nor wrote {subject.topic} before "
                                                            f"the revocation: nothing to take away"))
        return before

    async def _fresh(self, entry: MqttRevoke, subjects: list[Subject],
                     before: dict[str, list[tuple[str, list[Evidence]]]], flow: list[Evidence]) -> None:
        name = entry.identity
        fresh, why = await self._connect(name, subjects)
        if fresh is None:
            refused = why.startswith(REFUSED)
            for subject in (s for s in subjects if s.key in before):
                self.decide(CHECK, subject.template.text, self._relation(entry, subject), name, subject.owner,
                            Observation(Outcome.REFUSED if refused else Outcome.ERROR,
                                        f"a new connection as {name} after the revocation: {why}"))
            return
        try:
            await self._after(entry, subjects, before, fresh, "new", flow)
        finally:
            await self.pool.release(fresh)

    async def _connect(self, name: str, subjects: list[Subject]) -> tuple[MqttClient | None, str]:
        client, result = await self.spawn(name)
        if isinstance(result, str) or not result.accepted:
            return None, result if isinstance(result, str) else f"{REFUSED} {result.code}: {result.reason}"
        try:
            await client.subscribe([s.topic for s in subjects])
        except BaseException:
            await self.pool.release(client)
            raise
        return client, ""

    async def _after(self, entry: MqttRevoke, subjects: list[Subject], before: dict[str, list[tuple[str, list[
            Evidence]]]], client: MqttClient, which: str, flow: list[Evidence]) -> None:
        name = entry.identity
        for subject in subjects:
            for part, proof in before.get(subject.key, []):
                observation, evidence = await self.cross(subject, name, client, part, self.options.quiet)
                summary = reproduction = ""
                if observation.outcome is Outcome.CANARY:
                    session = ("its session connected before the revocation" if which == "connected"
                               else "a new session after the revocation")
                    summary = (f"after {entry.flow} revoked {name}'s access to {subject.topic} (and {entry.wait:g}s "
                               f"passed), {session} still {'received' if part == 'read' else 'published'} a canary "
                               f"{'from' if part == 'read' else 'to'} {subject.owner}'s side")
                    reproduction = (f"Keep {name} connected (or reconnect it), run flow {entry.flow} as "
                                    f"{entry.by or name}, then {'watch' if part == 'read' else 'publish on'} "
                                    f"{subject.topic}.")
                detail = f"{which} session, {part}: {observation.detail}".rstrip(": ")
                self.decide(CHECK, subject.template.text, self._relation(entry, subject), name, subject.owner,
                            Observation(observation.outcome, detail), summary=summary,
                            evidence=[*proof, *flow, *evidence], reproduction=reproduction)

    async def _restore(self, entry: MqttRevoke, subjects: list[Subject],
                       before: dict[str, list[tuple[str, list[Evidence]]]]) -> None:
        assert self.flows is not None
        name, topics = entry.identity, ", ".join(s.topic for s in subjects)
        if entry.restore is None:
            self.notes.append(f"{CHECK}: {name}'s access to {topics} stays revoked (mqtt.revoke names no restore flow)")
            return
        restored = await self.flows(entry.by or name, entry.restore, self._values(entry))
        if not restored.ok:
            self.notes.append(f"{CHECK}: {name}'s access to {topics} could not be restored: {restored.detail}")
            return
        await asyncio.sleep(entry.wait)
        client, why = await self._connect(name, subjects)
        if client is None:
            self.notes.append(f"{CHECK}: after {entry.restore}, {name} could not connect ({why}): not restored")
            return
        try:
            back = [(await self.cross(s, name, client, part, self.options.quiet))[0].outcome
                    for s in subjects for part, _ in before.get(s.key, [])]
        finally:
            await self.pool.release(client)
        if all(outcome is Outcome.CANARY for outcome in back):
            self.notes.append(f"{CHECK}: {entry.restore} restored {name}'s access to {topics} (proven by a canary)")
        else:
            self.notes.append(f"{CHECK}: {entry.restore} answered 2xx but {name} does not reach {topics} again: "
                              f"not restored")
