"""``bd-share-role``: a guest (the lowest share role) does what only the owner may, through the API.

The owner shares a device with a guest (see :mod:`rest_lifecycle_shares`); the guest then sends each
owner-side write below the device that can carry a canary without side effects (a no-op ``ping``
command with a nonce), and re-shares the device with a third identity through ``flows.share``. Proof
comes from the owner's own views: its command history shows the guest's canary, its share list shows
the new share. Before each, the owner's own canary must show in the same read-back (positive
control). The re-share is revoked again and read back; the canary stays in the history (a no-op).
Runs only in ``intrusive`` mode, for the reason :mod:`rest_lifecycle_shares` gives. Where guests may
command by design, a ``policy`` entry (``visible_to: lower-role``) makes the cell not-tested.
"""

from __future__ import annotations

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.checks.canary import canary_body
from iotvet.checks.oracle import canaries_in, new_canary
from iotvet.checks.registry import RunBound, registry
from iotvet.checks.rest_context import RestContext
from iotvet.checks.rest_flows import (
    RESTORED,
    flow_op,
    flow_sends,
    leak,
    plan_flow_op,
    run_flow,
    send_flow,
    settle,
    undecided,
    username_of,
)
from iotvet.checks.rest_lifecycle_devices import field, record_params
from iotvet.checks.rest_lifecycle_shares import (
    HARMLESS,
    ID_FIELDS,
    SHARE_INTRUSIVE,
    Shared,
    close_share,
    open_share,
    share_bound,
    share_id_of,
    with_value,
)
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Plan


def guest_ops(ctx: RestContext, share_op: ApiOperation) -> list[ApiOperation]:
    """Owner-side actions on the shared object: POSTs below it whose body can carry a canary, with a read-back."""
    segments = share_op.path.split("/")
    last = max((i for i, s in enumerate(segments) if s.startswith("{")), default=-1)
    if last < 0:
        return []
    prefix = "/".join(segments[:last + 1]) + "/"
    canary = new_canary()
    return [op for op in ctx.model.operations if op.method == "POST" and op.path.startswith(prefix)
            and op.path != share_op.path and ctx.model.find("GET", op.path) is not None
            and canary_body(op, canary) is not None]


def role_bound(plan: Plan, model: ApiModel) -> RunBound:
    """:func:`share_bound`, then per guest operation the owner's and the guest's canary write, each read back; the
    re-share (the owner's list before and after, the guest's share, the owner's revocation, a read-back); and
    :func:`close_share` (the revocation and the guest's listing)."""
    (share, share_writes), (unshare, unshare_writes) = flow_sends(plan, "share"), flow_sends(plan, "unshare")
    share_op = plan_flow_op(plan, model, "share")
    segments = share_op.path.split("/")
    last = max((i for i, s in enumerate(segments) if s.startswith("{")), default=-1)
    prefix, canary = "/".join(segments[:last + 1]) + "/", new_canary()
    guests = 0 if last < 0 else sum(op.method == "POST" and op.path.startswith(prefix) and op.path != share_op.path
                                    and model.find("GET", op.path) is not None and canary_body(op, canary) is not None
                                    for op in model.operations)
    return share_bound(plan, model, "share", 4 * guests + 3 + share + 2 * unshare + 1,
                       2 * guests + share_writes + 2 * unshare_writes)


@registry.register("bd-share-role", per="run", bound=role_bound)
async def share_role(ctx: RestContext) -> None:
    """A guest (the lowest share role) sends commands or re-shares the device; proven from the owner's view."""
    check, relation = "bd-share-role", Relation.LOWER_ROLE
    share_op = flow_op(ctx, "share")
    ops = [op for op in [*guest_ops(ctx, share_op), share_op] if ctx.wanted(check, op, relation)]
    if not ops:
        return
    if ctx.mode != "intrusive":
        for op in ops:
            undecided(ctx, check, op, relation, Verdict.NOT_TESTED, SHARE_INTRUSIVE)
        return
    shared = await open_share(ctx, check)
    if isinstance(shared, tuple):
        for op in ops:
            undecided(ctx, check, op, relation, *shared)
        return
    for op in ops:
        if op is share_op:
            await _reshare(ctx, shared, op)
        else:
            await _guest_write(ctx, shared, op)
    await close_share(ctx, shared)


async def _guest_write(ctx: RestContext, shared: Shared, op: ApiOperation) -> None:
    check, relation, owner, guest = "bd-share-role", Relation.LOWER_ROLE, shared.owner, shared.guest
    allowed = ctx.policy_allows(op, relation)
    readback = ctx.model.find("GET", op.path)
    params = record_params(ctx, op, owner, shared.dev.record)
    if allowed or readback is None or params is None:
        why = allowed or f"no parameters of {op.path} for {shared.dev.serial}"
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, why, guest, owner)
    marks: list[str] = []
    for who, purpose in ((owner, "control"), (guest, f"probe:{check}")):
        canary = new_canary()
        body, _ = canary_body(op, canary) or ({}, [])
        attempt, seq = await ctx.write(who, op, params, body=body, owner=owner, original=None, purpose=purpose)
        after = await ctx.call(owner, readback, params, purpose="victim-readback")
        landed = after.ok and canary in canaries_in(after.text)
        ctx.settle(seq, HARMLESS if landed else f"not verified: {after.unusable}" if after.unusable else None)
        if who == owner and not landed:
            return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE, "positive control: the owner's own "
                             f"canary ({attempt.status}) did not show in its read-back", guest, owner)
        marks.append(canary)
    if after.unusable:
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE, f"owner's read-back: {after.unusable}",
                         guest, owner)
    if not landed:
        return undecided(ctx, check, op, relation, Verdict.ENFORCED,
                         f"the guest's write answered {attempt.status}; the owner's read-back lacks its canary",
                         guest, owner)
    summary = (f"{guest}, holding a guest share of {owner}'s {shared.dev.serial}, sent {op.key} with canary "
               f"{marks[-1]}; {owner}'s own read-back shows it ({HARMLESS})")
    leak(ctx, check, op, relation, f"the owner's read-back shows the guest's canary; {HARMLESS}", guest, owner,
         summary, [("the guest's request", attempt), ("the owner's read-back", after)])


async def _reshare(ctx: RestContext, shared: Shared, op: ApiOperation) -> None:
    check, relation, owner, guest, dev = "bd-share-role", Relation.LOWER_ROLE, shared.owner, shared.guest, shared.dev
    list_op = ctx.model.find("GET", op.path)
    params = record_params(ctx, list_op, owner, dev.record) if list_op else None
    third = _third(ctx, shared)
    if list_op is None or params is None or third is None:
        why = f"no GET {op.path} to read the owner's shares" if list_op is None or params is None else (
            "no third identity in the tenant to re-share with")
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, why, guest, owner)
    name = username_of(ctx, third)
    before = await ctx.call(owner, list_op, params, purpose="control")
    if with_value(before, username_of(ctx, guest)) is None or with_value(before, name) is not None:
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE, "positive control: the owner's share list "
                         f"({before.status}) does not show its own share to {guest} alone", guest, owner)
    run = await run_flow(ctx, "share", guest, {**dev.values(), "user": name}, owner=owner,
                         original={dev.key: dev.serial, "shared_with": None}, purpose=f"probe:{check}")
    if isinstance(run, str):
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, run, guest, owner)
    after = await ctx.call(owner, list_op, params, purpose="victim-readback")
    record = with_value(after, name)
    if after.unusable or record is None:
        settle(ctx, run, f"not verified: {after.unusable}" if after.unusable else None)
        verdict, why = ((Verdict.INCONCLUSIVE, f"owner's read-back: {after.unusable}") if after.unusable else
                        (Verdict.ENFORCED, f"the guest's share answered {run.status}; the owner's share list "
                                           f"does not show {third}"))
        return undecided(ctx, check, op, relation, verdict, why, guest, owner)
    share_id = field(record, *ID_FIELDS) or share_id_of(run.last)
    if share_id is not None:
        await send_flow(ctx, ctx.sessions[owner], "unshare", {**dev.values(), "share_id": share_id})
    gone = with_value(await ctx.call(owner, list_op, params, purpose="victim-readback"), name) is None
    note = RESTORED if gone else f"NOT restored: the owner's share list still shows the share to {third}"
    settle(ctx, run, None if gone else note)
    summary = (f"{guest}, holding a guest share of {owner}'s {dev.serial}, shared it on with {third}; {owner}'s own "
               f"share list shows the new share ({note})")
    leak(ctx, check, op, relation, f"the owner's share list shows the guest's re-share; {note}", guest, owner,
         summary, [("the guest's re-share", run.last), ("the owner's share list afterwards", after),
                   ("the owner's share list before", before)])


def _third(ctx: RestContext, shared: Shared) -> str | None:
    tenant = ctx.identities[shared.owner].tenant
    people = [i for i in ctx.identities.values() if i.tenant == tenant and i.group and i.role != "device"
              and i.name not in (shared.owner, shared.guest)]
    people.sort(key=lambda i: (not i.sacrificial, i.group != ctx.identities[shared.owner].group, i.name))
    return people[0].name if people else None
