"""Binding checks: another identity binds or unbinds a device, or keeps access after it changed hands.

Each moves a device between accounts, so each needs intrusive mode and a ``sacrificial`` victim;
otherwise its cells are not-tested and nothing is sent. Proof always comes from the victim's own
listing: the device it held is gone after the attacker's request. Before that, the victim shows it
can bind its own device (and, for unbind, that its own unbind and re-bind work), so every move can
be undone: the attacker releases the device and the victim binds it again with the code its own view
shows; the read-back decides whether the journal entry is settled or reported as not restorable.
"""

from __future__ import annotations

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.checks.canary import canary_body
from iotvet.checks.oracle import judge_read, new_canary
from iotvet.checks.registry import RunBound, call_cost, people, registry, send_cost
from iotvet.checks.rest_context import RestContext, View
from iotvet.checks.rest_flows import (
    INTRUSIVE,
    RESTORED,
    flow_op,
    flow_sends,
    leak,
    plan_flow_key,
    run_flow,
    settle,
    undecided,
)
from iotvet.checks.rest_lifecycle_devices import (
    Device,
    choose_pair,
    device_setup,
    object_ops,
    plan_device_key,
    plan_pairs,
    rebind,
    sees,
    shows_canary,
    unbind_control,
    with_setup,
)
from iotvet.checks.rest_pairs import pairs_for
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Plan

FOREIGN = (Relation.SAME_TENANT, Relation.OTHER_TENANT)


def other_code(code: str) -> str:
    """A bind code of the same shape that is certainly not ``code`` (the attacker does not know the real one)."""
    def shift(ch: str) -> str:
        if ch.isdigit():
            return str((int(ch) + 1) % 10)
        if ch.isalpha():
            base = ord("a") if ch.islower() else ord("A")
            return chr(base + (ord(ch) - base + 1) % 26)
        return ch

    return "".join(shift(c) for c in code) if any(c.isalnum() for c in code) else code + "0"


def _gate(ctx: RestContext, check: str, op: ApiOperation, relation: Relation) -> bool:
    """True when the cell is to be decided here and the mode allows it; decides it not-tested otherwise."""
    if not ctx.wanted(check, op, relation):
        return False
    if ctx.mode != "intrusive":
        undecided(ctx, check, op, relation, Verdict.NOT_TESTED, INTRUSIVE)
        return False
    return True


def _move_bound(plan: Plan, model: ApiModel, flow: str, relations: tuple[Relation, ...], unbinds: bool,
                per_pair: tuple[int, int]) -> RunBound:
    """A bd-* check that moves a device: ``per_pair`` (calls, writing calls) for each relation with a pair of
    a sacrificial victim, every call with an identity's credential (a 401: a login and the resend)."""
    place = plan_flow_key(plan, model, flow)
    if plan.safety.mode != "intrusive":
        return RunBound(skip=INTRUSIVE, place=place)
    if plan_device_key(plan) is None:
        return RunBound(skip="no attacker-victim pair passed its controls: the victim lists no device", place=place)
    tested = [r for r in relations if any(v.sacrificial and a.role != "device" for a, v in plan_pairs(plan, r))]
    if not tested:
        return RunBound(skip=f"the plan has no {relations[0].value} pair of identities with a sacrificial victim",
                        place=place)
    everyone = people(plan)
    calls, writes = per_pair[0] * len(tested), per_pair[1] * len(tested)
    return with_setup(calls * max(map(call_cost, everyone)), writes * max(map(send_cost, everyone)), place,
                      device_setup(plan, model, binds=True, unbinds=unbinds))


def hijack_bound(plan: Plan, model: ApiModel) -> RunBound:
    """Per relation: the victim's listing, the attacker's bind, the victim's and the attacker's listings, and the
    attacker's unbind and the victim's re-bind with two read-backs (:func:`rebind`); plus the shared listings and
    bind controls."""
    (bind, bind_writes), (unbind, unbind_writes) = flow_sends(plan, "bind"), flow_sends(plan, "unbind")
    return _move_bound(plan, model, "bind", FOREIGN, False, (2 * bind + unbind + 5, 2 * bind_writes + unbind_writes))


def unbind_bound(plan: Plan, model: ApiModel) -> RunBound:
    """Per relation: the victim's listing, the attacker's unbind, the listing again and the victim's re-bind with
    two read-backs; plus the shared listings, bind and unbind controls."""
    (bind, bind_writes), (unbind, unbind_writes) = flow_sends(plan, "bind"), flow_sends(plan, "unbind")
    return _move_bound(plan, model, "unbind", FOREIGN, True, (unbind + bind + 4, unbind_writes + bind_writes))


def residual_bound(plan: Plan, model: ApiModel) -> RunBound:
    """The old owner's unbind, the new owner's bind and listing, a canary per POST below an object with a read-back
    (write and read-back), 2 reads each by the new owner, the old owner and a bystander, and the give-back
    (an unbind, a bind, two read-backs); plus the shared listings, bind and unbind controls."""
    (bind, bind_writes), (unbind, unbind_writes) = flow_sends(plan, "bind"), flow_sends(plan, "unbind")
    canary = new_canary()
    posts = sum(op.method == "POST" and bool(op.path_params) and model.find("GET", op.path) is not None
                and canary_body(op, canary) is not None for op in model.operations)
    return _move_bound(plan, model, "unbind", (Relation.SAME_TENANT,), True,
                       (2 * unbind + 2 * bind + 2 * posts + 9, 2 * unbind_writes + 2 * bind_writes + posts))


@registry.register("bd-bind-hijack", per="run", bound=hijack_bound)
async def bind_hijack(ctx: RestContext) -> None:
    """A device bound to the victim moves to the attacker, who binds it by its id without the victim's code."""
    op = flow_op(ctx, "bind")
    for relation in FOREIGN:
        if _gate(ctx, "bd-bind-hijack", op, relation):
            await _hijack(ctx, op, relation)


async def _hijack(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    check = "bd-bind-hijack"
    picked = await choose_pair(ctx, relation, attacker_binds=True)
    if isinstance(picked, str):
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, picked)
    attacker, dev, _ = picked
    victim = dev.holder
    before, held = await sees(ctx, victim, dev)
    if not held:
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE,
                         f"{victim}'s own view does not list {dev.serial} before the attempt", attacker, victim)
    run = await run_flow(ctx, "bind", attacker, {dev.key: dev.serial, "bind_code": other_code(dev.code or "")},
                         owner=victim, original=dev.original(), purpose=f"probe:{check}")
    if isinstance(run, str):
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, run, attacker, victim)
    after, still = await sees(ctx, victim, dev)
    if after.unusable or still:
        restored = RESTORED if still else await rebind(ctx, dev, attacker)
        settle(ctx, run, None if restored == RESTORED else restored)
        verdict = Verdict.ENFORCED if still else Verdict.INCONCLUSIVE
        why = (f"{attacker}'s bind with a wrong code answered {run.status}; {victim} still holds {dev.serial}" if still
               else f"victim read-back: {after.unusable}; {restored}")
        return undecided(ctx, check, op, relation, verdict, why, attacker, victim)
    taken, listed = await sees(ctx, attacker, dev)
    restored = await rebind(ctx, dev, attacker)
    settle(ctx, run, None if restored == RESTORED else restored)
    moved = f" and {attacker} now lists it" if listed else ""
    summary = (f"{attacker} ({relation.value}) bound {victim}'s {dev.serial} with a bind code that is not the "
               f"device's; {victim}'s own listing no longer shows it{moved} ({restored})")
    leak(ctx, check, op, relation, f"{victim}'s own view lost {dev.serial}{moved}; {restored}", attacker, victim,
         summary, [("the attacker's bind", run.last), ("the victim's own listing afterwards", after),
                   ("the victim's own listing before", before), ("the attacker's listing afterwards", taken)])


@registry.register("bd-unbind-unauth", per="run", bound=unbind_bound)
async def unbind_unauth(ctx: RestContext) -> None:
    """Another identity releases the victim's device from the victim's account."""
    op = flow_op(ctx, "unbind")
    for relation in FOREIGN:
        if _gate(ctx, "bd-unbind-unauth", op, relation):
            await _unbind(ctx, op, relation)


async def _unbind(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    check = "bd-unbind-unauth"
    picked = await choose_pair(ctx, relation, attacker_binds=False)
    if isinstance(picked, str):
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, picked)
    attacker, dev, _ = picked
    victim = dev.holder
    control = await unbind_control(ctx, dev)
    if control is not None:
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE, control, attacker, victim)
    before, held = await sees(ctx, victim, dev)
    if not held:
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE,
                         f"{victim}'s own view does not list {dev.serial} before the attempt", attacker, victim)
    run = await run_flow(ctx, "unbind", attacker, {dev.key: dev.serial}, owner=victim, original=dev.original(),
                         purpose=f"probe:{check}")
    if isinstance(run, str):
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, run, attacker, victim)
    after, still = await sees(ctx, victim, dev)
    if after.unusable or still:
        restored = RESTORED if still else await rebind(ctx, dev)
        settle(ctx, run, None if restored == RESTORED else restored)
        verdict = Verdict.ENFORCED if still else Verdict.INCONCLUSIVE
        why = (f"{attacker}'s unbind answered {run.status}; {victim} still holds {dev.serial}" if still
               else f"victim read-back: {after.unusable}; {restored}")
        return undecided(ctx, check, op, relation, verdict, why, attacker, victim)
    restored = await rebind(ctx, dev)
    settle(ctx, run, None if restored == RESTORED else restored)
    summary = (f"{attacker} ({relation.value}) released {victim}'s {dev.serial}; {victim}'s own listing no longer "
               f"shows it ({restored})")
    leak(ctx, check, op, relation, f"{victim}'s own view lost {dev.serial}; {restored}", attacker, victim, summary,
         [("the attacker's unbind", run.last), ("the victim's own listing afterwards", after),
          ("the victim's own listing before", before)])


@registry.register("bd-rebind-residual", per="run", bound=residual_bound)
async def rebind_residual(ctx: RestContext) -> None:
    """After the victim's device is unbound and bound by a new owner, the old owner still reads the new owner's data."""
    op, relation, check = flow_op(ctx, "unbind"), Relation.SAME_TENANT, "bd-rebind-residual"
    if not _gate(ctx, check, op, relation):
        return
    picked = await choose_pair(ctx, relation, attacker_binds=True)
    if isinstance(picked, str):
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, picked)
    new, dev, _ = picked
    old = dev.holder
    control = await unbind_control(ctx, dev)
    reads = object_ops(ctx, dev, "GET")
    if control is not None or not reads:
        why = control or f"no read operation of {dev.serial} in the API description"
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE if control else Verdict.NOT_TESTED, why,
                         old, new)
    released = await run_flow(ctx, "unbind", old, {dev.key: dev.serial}, owner=old, original=dev.original(),
                              purpose=f"setup:{check}")
    if isinstance(released, str):
        return undecided(ctx, check, op, relation, Verdict.NOT_TESTED, released, old, new)
    bound = await run_flow(ctx, "bind", new, dev.values(dev.code), owner=old, original=dev.original(),
                           purpose=f"setup:{check}")
    moved_view, moved = await sees(ctx, new, dev)
    runs = [released] + ([] if isinstance(bound, str) else [bound])
    if not moved:
        restored = await rebind(ctx, dev, new)
        for run in runs:
            settle(ctx, run, None if restored == RESTORED else restored)
        why = bound if isinstance(bound, str) else f"the transfer to {new} did not happen ({bound.status}); {restored}"
        return undecided(ctx, check, op, relation, Verdict.INCONCLUSIVE, why, old, new)
    verdict, why, views = await _residual_read(ctx, dev, old, new, reads)
    restored = await rebind(ctx, dev, new)
    for run in runs:
        settle(ctx, run, None if restored == RESTORED else restored)
    if verdict is not Verdict.LEAK:
        return undecided(ctx, check, op, relation, verdict, f"{why}; {restored}", old, new)
    summary = (f"after {dev.serial} moved from {old} to {new} (unbind, then bind), {old} still read the new owner's "
               f"data: {why} ({restored})")
    leak(ctx, check, op, relation, f"{why}; {restored}", old, new, summary, [*views, ("the transfer", moved_view)])


Probe = tuple[ApiOperation, dict[str, str], set[str]]
Judged = tuple[Verdict, str, list[tuple[str, View]]]


async def _residual_read(ctx: RestContext, dev: Device, old: str, new: str,
                         reads: list[tuple[ApiOperation, dict[str, str]]]) -> Judged:
    """The old owner reads the device (and the new owner's canary, where one can be planted) after the transfer."""
    canary = new_canary()
    planted = await _plant(ctx, dev, new, canary)
    probes: list[Probe] = []
    for op, params in reads[:1] + ([planted] if planted else []):
        mine = await ctx.call(new, op, params, purpose="victim-view")
        probes.append((op, params, mine.values() - ctx.inventory.public - set(params.values())))
    findings: list[tuple[str, View]] = []
    for op, params, private in probes:
        answer = await ctx.call(old, op, params, purpose="probe:bd-rebind-residual")
        if answer.unusable:
            return Verdict.INCONCLUSIVE, f"old owner's read: {answer.unusable}", []
        if judge_read(answer.json, private - ctx.inventory.seen.get(old, set()), {canary}, answer.text).leaked:
            findings.append((f"{old}'s read of {op.fill(params)} after the transfer", answer))
    if not findings:
        return Verdict.ENFORCED, f"{old} reads nothing of {new}'s after the transfer", []
    masked = await _bystander(ctx, old, new, probes, canary)
    if masked:
        return Verdict.NOT_TESTED, masked, []
    return Verdict.LEAK, f"{old} read values only {new}'s view holds", findings


async def _plant(ctx: RestContext, dev: Device, new: str, canary: str) -> tuple[ApiOperation, dict[str, str]] | None:
    """The new owner leaves a harmless canary entry on the device (a no-op command); its read-back op."""
    for op, params in object_ops(ctx, dev, "POST"):
        readback = ctx.model.find("GET", op.path)
        body = canary_body(op, canary)
        if readback is None or body is None:
            continue
        _, seq = await ctx.write(new, op, params, body=body[0], owner=new, original=None, purpose="seed")
        ctx.settle(seq, "a harmless entry (a no-op) the new owner made stays in the device's history: not undoable")
        if shows_canary(await ctx.call(new, readback, params, purpose="victim-readback"), canary):
            return readback, params
    return None


async def _bystander(ctx: RestContext, old: str, new: str, probes: list[Probe], canary: str) -> str | None:
    """Attribution: an identity of the same class that never held the device must not read the same."""
    for attacker, victim in pairs_for(ctx, Relation.SAME_TENANT):
        if attacker is None or victim.name != new or attacker.name in (old, new) or attacker.role == "device":
            continue
        for op, params, private in probes:
            answer = await ctx.call(attacker.name, op, params, purpose="control")
            seen = ctx.inventory.seen.get(attacker.name, set())
            if judge_read(answer.json, private - seen, {canary}, answer.text).leaked:
                return (f"masked: {attacker.name}, which never held the device, reads the same "
                        "(an object-level flaw, reported under api-bola-read)")
        return None
    return None
