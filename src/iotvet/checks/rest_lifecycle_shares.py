"""Sharing checks: a revoked share still grants access; a guest share does what only the owner may.

An owner shares one of its devices with a guest of the same tenant from another group (``flows.share``,
which should grant the lowest role), the guest's own listing must then show it (positive control;
before the share it must not: a device the guest reaches anyway proves nothing about shares), and the
owner revokes it (``flows.unshare``).

Both checks run only in ``intrusive`` mode. Everything they write belongs to the plan (the owner's
own device, a share the probe creates for another plan identity, a no-op ``ping`` that stays in
the device's history), but the undo is the very operation under test: where the provider's
revocation is broken, the guest keeps its access and nothing iotvet can send takes it back. That
residue would also change what later runs see. Owners are tried sacrificial first; a re-share goes
to a member of the owner's own household where the plan has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iotvet.api.model import ApiModel
from iotvet.checks.oracle import judge_read, values
from iotvet.checks.registry import RunBound, call_cost, people, registry, send_cost
from iotvet.checks.rest_context import RestContext, View
from iotvet.checks.rest_flows import (
    RESTORED,
    FlowRun,
    flow_op,
    flow_sends,
    leak,
    plan_flow_key,
    prepare,
    run_flow,
    send_flow,
    settle,
    undecided,
    username_of,
)
from iotvet.checks.rest_lifecycle_devices import (
    MAX_TRIES,
    Device,
    device_setup,
    devices,
    dicts,
    field,
    plan_device_key,
    plan_pairs,
    record_params,
    sees,
    with_setup,
)
from iotvet.checks.rest_pairs import pairs_for
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Plan

HARMLESS = "a harmless no-op entry stays in the device's history: not undoable"
SHARE_INTRUSIVE = ("intrusive mode only: if the provider's revocation is broken, the guest's access cannot be "
                   "taken back")
ID_FIELDS = ("share_id", "id")


@dataclass
class Shared:
    """An open share: who shared which device with whom, and the guest's view while it stands."""

    owner: str
    guest: str
    dev: Device
    share_id: str | None
    run: FlowRun
    granted: View


def with_value(view: View, value: str) -> dict[str, Any] | None:
    """The first record of an answer that holds ``value`` as a field value."""
    return next((d for d in dicts(view.json) if value in {str(v) for v in d.values()}), None) if view.ok else None


async def _listed_share(ctx: RestContext, owner: str, dev: Device, guest: str) -> str | None:
    """The id of the share to ``guest`` in the owner's own share list (when the answer to sharing did not say)."""
    list_op = ctx.model.find("GET", flow_op(ctx, "share").path)
    params = record_params(ctx, list_op, owner, dev.record) if list_op else None
    if list_op is None or params is None:
        return None
    record = with_value(await ctx.call(owner, list_op, params, purpose="victim-view"), username_of(ctx, guest))
    return field(record, *ID_FIELDS) if record else None


def share_id_of(view: View) -> str | None:
    """The share id an answer names: a ``share_id`` field anywhere, else an ``id``."""
    found = dicts(view.json) if view.ok else []
    return next((f for name in ID_FIELDS for d in found if (f := field(d, name))), None)


async def _unreached(ctx: RestContext, guest: str, devs: list[Device]) -> Device | None:
    """The first device the guest does not reach before any share (its own listing, read fresh; at most MAX_TRIES)."""
    for dev in devs[:MAX_TRIES]:
        if not (await sees(ctx, guest, dev))[1]:
            return dev
    return None


async def open_share(ctx: RestContext, check: str) -> Shared | tuple[Verdict, str]:
    """Share a device with a guest and see the guest reach it; or why that could not be done."""
    pairs = [(a, v) for a, v in pairs_for(ctx, Relation.SAME_TENANT) if a is not None and a.role != "device"]
    if not pairs:
        return Verdict.NOT_TESTED, "the plan has no same-tenant pair of identities (an owner and a guest)"
    owners = sorted({v.name: v for _, v in pairs}.values(), key=lambda v: (not v.sacrificial, v.name))[:MAX_TRIES]
    held = {o.name: await devices(ctx, o.name) for o in owners}
    owners.sort(key=lambda o: (not o.sacrificial, not any(d.named_owner for d in held[o.name]), o.name))
    reasons: list[str] = []
    for owner in (o.name for o in owners if held[o.name]):
        ready = prepare(ctx, "unshare", owner, {**held[owner][0].values(), "share_id": "x"})
        if isinstance(ready, str):
            return Verdict.NOT_TESTED, ready
        for guest in [a.name for a, v in pairs if v.name == owner][:MAX_TRIES]:
            dev = await _unreached(ctx, guest, held[owner])
            if dev is None:
                reasons.append(f"{guest} already reaches every device of {owner}")
                continue
            run = await run_flow(ctx, "share", owner, {**dev.values(), "user": username_of(ctx, guest)}, owner=owner,
                                 original={dev.key: dev.serial, "shared_with": None}, purpose=f"setup:{check}")
            if isinstance(run, str):
                return Verdict.NOT_TESTED, run
            if not run.ok:
                settle(ctx, run)
                reasons.append(f"{owner}'s share answered {run.status}")
                break
            share_id = share_id_of(run.last) or await _listed_share(ctx, owner, dev, guest)
            granted, reached = await sees(ctx, guest, dev)
            shared = Shared(owner, guest, dev, share_id, run, granted)
            if reached:
                return shared
            note = await close_share(ctx, shared)
            return Verdict.INCONCLUSIVE, (f"positive control: {guest}'s own view does not show {dev.serial} after "
                                          f"{owner} shared it ({note})")
    return Verdict.NOT_TESTED, "no owner could share a device: " + (reasons[0] if reasons else "none lists one")


async def close_share(ctx: RestContext, shared: Shared) -> str:
    """The owner revokes the share; the guest's own view must no longer show the device."""
    if shared.share_id is None:
        note = "NOT restored: the share's id is unknown, so iotvet cannot revoke it"
    else:
        values_ = {**shared.dev.values(), "share_id": shared.share_id}
        run = await send_flow(ctx, ctx.sessions[shared.owner], "unshare", values_)
        _, reached = await sees(ctx, shared.guest, shared.dev)
        status = run if isinstance(run, str) else run.status
        note = f"NOT restored: {shared.guest} still lists {shared.dev.serial} ({status})" if reached else RESTORED
    settle(ctx, shared.run, None if note == RESTORED else note)
    return note


def share_bound(plan: Plan, model: ApiModel, flow: str, calls: int, writes: int) -> RunBound:
    """A sharing check: :func:`open_share`, then ``calls`` more (``writes`` of them writing), and the shared listings.

    Per owner (at most :data:`MAX_TRIES`): each guest (at most :data:`MAX_TRIES`) reads its listing once per
    device of the owner (at most :data:`MAX_TRIES`) until one it does not reach, and one share; then the
    share's id from the owner's list and the guest's view. Every call with an identity's credential (a 401:
    a login and the resend). Intrusive mode only.
    """
    place = plan_flow_key(plan, model, flow)
    if plan.safety.mode != "intrusive":
        return RunBound(skip=SHARE_INTRUSIVE, place=place)
    pairs = [(a, v) for a, v in plan_pairs(plan, Relation.SAME_TENANT) if a.role != "device"]
    if not pairs:
        return RunBound(skip="the plan has no same-tenant pair of identities (an owner and a guest)", place=place)
    if plan_device_key(plan) is None:
        return RunBound(skip="no owner could share a device: none lists one", place=place)
    owners = sorted({v.name: v for _, v in pairs}.values(), key=lambda v: (not v.sacrificial, v.name))[:MAX_TRIES]
    share, share_writes = flow_sends(plan, "share")
    looks = sum(min(MAX_TRIES, sum(v.name == o.name for _, v in pairs)) * MAX_TRIES for o in owners)
    everyone = people(plan)
    c, s = max(map(call_cost, everyone)), max(map(send_cost, everyone))
    return with_setup((looks + len(owners) * share + 2 + calls) * c, (len(owners) * share_writes + writes) * s,
                      place, device_setup(plan, model))


def revoke_bound(plan: Plan, model: ApiModel) -> RunBound:
    """:func:`share_bound` and the owner's revocation (or :func:`close_share`) and the guest's listing."""
    unshare, unshare_writes = flow_sends(plan, "unshare")
    return share_bound(plan, model, "unshare", unshare + 1, unshare_writes)


@registry.register("bd-share-revoke", per="run", bound=revoke_bound)
async def share_revoke(ctx: RestContext) -> None:
    """After the owner revokes a share, the former guest still reaches the device and its data."""
    op, relation, check = flow_op(ctx, "unshare"), Relation.SAME_TENANT, "bd-share-revoke"
    if not ctx.wanted(check, op, relation):
        return
    if ctx.mode != "intrusive":
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, SHARE_INTRUSIVE)
    shared = await open_share(ctx, check)
    if isinstance(shared, tuple):
        return undecided(ctx, check, op, relation, *shared)
    owner, guest, dev = shared.owner, shared.guest, shared.dev
    if shared.share_id is None:
        settle(ctx, shared.run, "NOT restored: the share's id is unknown, so iotvet cannot revoke it")
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE,
                         "the answer to sharing and the owner's share list name no share id", guest, owner)
    run = await run_flow(ctx, "unshare", owner, {**dev.values(), "share_id": shared.share_id}, owner=owner,
                         original={dev.key: dev.serial, "shared_with": guest}, purpose=f"probe:{check}")
    after, reached = await sees(ctx, guest, dev)
    if isinstance(run, str) or not run.ok or after.unusable:
        why = run if isinstance(run, str) else (after.unusable or f"the owner's revocation answered {run.status}")
        error = (f"NOT restored: {guest} still lists {dev.serial}" if reached
                 else f"not verified: {after.unusable}" if after.unusable else None)
        settle(ctx, shared.run, error)
        settle(ctx, None if isinstance(run, str) else run, error)
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE, why, guest, owner)
    private = values([dev.record]) - ctx.inventory.seen.get(guest, set()) - ctx.inventory.public
    decision = judge_read(after.json, private, set(), after.text)
    if not reached or not decision.leaked:
        settle(ctx, shared.run)
        settle(ctx, run)
        verdict = Verdict.ENFORCED if not reached else Verdict.INCONCLUSIVE
        return undecided(ctx, check, op, relation, verdict, f"after the revocation ({run.status}) {guest}'s own view "
                         f"{'no longer shows' if not reached else 'shows nothing private of'} {dev.serial}",
                         guest, owner)
    note = "NOT restored: the revoked share still grants access and the API offers no other way to end it"
    settle(ctx, shared.run, note)
    settle(ctx, run, note)
    summary = (f"{owner} shared {dev.serial} with {guest} ({relation.value}) and revoked the share ({run.status}); "
               f"{guest}'s own listing still shows it with {len(decision.leaked)} value(s) of {owner}'s view")
    leak(ctx, check, op, relation, f"{guest} still reaches {dev.serial} after the revocation; {note}", guest, owner,
         summary, [("the former guest's listing after the revocation", after), ("the owner's revocation", run.last),
                   ("the guest's listing while shared", shared.granted)])
