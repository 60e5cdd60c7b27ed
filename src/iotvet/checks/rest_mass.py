"""api-mass-assign: protected fields (role, owner, flags, tenant, customer) set through a write body.

An identity writes its *own* object (its profile, its vehicle) with protected fields added that
the write schema does not offer, then reads the object back. The write leaks when a protected
field now holds the value sent; it is restored at once.

Two rounds, by what a change can cost:

* **Escalation** (safe-writes and up): a higher role seen in another identity's profile, the
  identity's own user id as owner, an unset boolean flag (``is_admin``, ``verified``) switched on.
  The identity keeps its access, so it can always restore the field itself.
* **Moving** (intrusive mode, sacrificial identity only): the tenant, brand, customer or org field
  set to the value another plan identity holds. The object may leave the identity's reach, so the
  change is also looked for, and undone, from the receiving identity's side.
"""

from __future__ import annotations

from typing import Any

from iotvet.api.model import ApiOperation
from iotvet.checks.registry import registry
from iotvet.checks.rest_context import Params, RestContext, View, norm
from iotvet.checks.rest_writes import find_key, readback_op
from iotvet.core.records import Relation, Verdict

CHECK = "api-mass-assign"
ESCALATING = ("role", "roles", "ownerid", "owner", "userid")
FLAGS = ("isadmin", "admin", "verified", "issuperuser", "superuser", "staff", "isstaff")
MOVING = ("customerid", "customer", "tenant", "tenantid", "brand", "brandid", "org", "orgid", "groupid")


def _flat(view: dict[str, Any]) -> dict[str, Any]:
    if len(view) == 1 and isinstance(next(iter(view.values())), dict):
        return dict(next(iter(view.values())))
    return view


def escalation(ctx: RestContext, who: str, view: dict[str, Any], writable: set[str]) -> dict[str, Any]:
    """New values for escalating fields and flags the write schema does not offer; the identity keeps access."""
    inv = ctx.inventory
    own = inv.profile.get(who, {})
    body: dict[str, Any] = {}
    for key, current in _flat(view).items():
        k = norm(key)
        if k in writable:
            continue
        if k in FLAGS and current is False:
            body[key] = True
        elif k in ("ownerid", "owner") and isinstance(current, str) and own.get("userid"):
            new = sorted(own["userid"])[0]
            if new != current:
                body[key] = new
        elif k in ("role", "roles") and isinstance(current, str):
            seen = {v for name, prof in inv.profile.items() if name != who for v in prof.get("role", set())}
            higher = sorted(v for v in seen if v != current and "admin" in v.lower()) or sorted(seen - {current})
            if higher:
                body[key] = higher[0]
    return body


def moving(ctx: RestContext, who: str, view: dict[str, Any], writable: set[str]) -> tuple[dict[str, Any], str | None]:
    """Tenant-like fields set to another identity's value, and that identity (who would receive the object)."""
    body: dict[str, Any] = {}
    receiver: str | None = None
    for key, current in _flat(view).items():
        k = norm(key)
        if k not in MOVING or k in writable or not isinstance(current, str):
            continue
        for other in sorted(ctx.identities):
            values = sorted(ctx.inventory.profile.get(other, {}).get(k, set()) - {current})
            if other != who and values and receiver in (None, other):
                body[key], receiver = values[0], other
                break
    return body, receiver


async def _changed(ctx: RestContext, who: str, readback: ApiOperation, params: Params,
                   body: dict[str, Any]) -> tuple[dict[str, Any], View]:
    after = await ctx.call(who, readback, params, purpose="victim-readback")
    doc = after.json if after.ok else None
    return {k: v for k, v in body.items() if find_key(doc, k) == v}, after


async def _attempt(ctx: RestContext, op: ApiOperation, who: str, params: Params, before: View,
                   body: dict[str, Any], receiver: str | None) -> bool:
    """One round: write, read back (as the identity, else as the receiver), restore; True when decided."""
    readback = readback_op(ctx, op)
    assert readback is not None
    undo = {k: find_key(before.json, k) for k in body}
    attempt, seq = await ctx.write(who, op, params, body=body, owner=who, original=undo, purpose=f"probe:{CHECK}")
    changed, after = await _changed(ctx, who, readback, params, body)
    seen_by = who
    if not changed and receiver is not None and not after.ok:
        changed, after = await _changed(ctx, receiver, readback, params, body)
        seen_by = receiver
    if not changed:
        ctx.settle(seq)
        return False
    state = "NOT restored"
    for fixer in dict.fromkeys((who, seen_by)):
        fix = await ctx.call(fixer, op, params, body={k: undo[k] for k in changed}, purpose="restore")
        back, _ = await _changed(ctx, who, readback, params, {k: undo[k] for k in changed})
        if fix.ok and len(back) == len(changed):
            state = "restored" if fixer == who else f"restored by {fixer}"
            break
    ctx.settle(seq, None if state.startswith("restored") else state)
    fields = ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    cell = ctx.cell(CHECK, op, Relation.SELF, Verdict.LEAK,
                    f"set {', '.join(sorted(changed))} through the body; {state}", who, who)
    where = "its own read-back" if seen_by == who else f"{seen_by}'s read-back (the object moved to it)"
    summary = (f"{who} changed protected field(s) {fields} of {op.fill(params)} by adding them to the body; "
               f"shown by {where} ({state})")
    ctx.decide(cell, ctx.finding(cell, summary, [("the write with protected fields", attempt), ("read-back", after)]))
    return True


@registry.register(CHECK)
async def mass_assign(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    """Protected fields (role, owner, flags; tenant and customer in intrusive mode) set through the body."""
    relation = Relation.SELF
    if ctx.mode == "read-only":
        ctx.decide(ctx.cell(CHECK, op, relation, Verdict.NOT_TESTED, "read-only mode sends no write"))
        return
    readback = readback_op(ctx, op)
    if readback is None:
        ctx.decide(ctx.cell(CHECK, op, relation, Verdict.NOT_TESTED, f"no GET {op.path} to read the fields back"))
        return
    writable = {norm(n) for n in (op.body_schema or {}).get("properties", {})}
    tried: list[str] = []
    who_tried: str | None = None
    rounds = ["escalation", "moving"] if ctx.mode == "intrusive" else ["escalation"]
    for round_ in rounds:
        for who in sorted(ctx.identities):
            ident = ctx.identity(who)
            params = _own_params(ctx, op, who)
            if params is None or (round_ == "moving" and not (ident and ident.sacrificial)):
                continue
            before = await ctx.call(who, readback, params, purpose="victim-view", cache=True)
            if not before.ok or not isinstance(before.json, dict):
                continue
            body, receiver = (escalation(ctx, who, before.json, writable), None) if round_ == "escalation" \
                else moving(ctx, who, before.json, writable)
            if not body:
                continue
            tried.append(f"{', '.join(sorted(body))} as {who}")
            who_tried = who
            if await _attempt(ctx, op, who, params, before, body, receiver):
                return
            break  # one identity per round: the same code path serves every identity
    if tried:
        note = "" if ctx.mode == "intrusive" else "; tenant and customer fields are tried in intrusive mode only"
        ctx.decide(ctx.cell(CHECK, op, relation, Verdict.ENFORCED,
                            f"protected fields unchanged after writing {'; '.join(tried)}{note}", who_tried, who_tried))
        return
    reason = "no identity's view shows a protected field the write schema does not offer"
    if ctx.mode != "intrusive":
        reason += " (tenant and customer fields are tried in intrusive mode, on sacrificial identities)"
    ctx.decide(ctx.cell(CHECK, op, relation, Verdict.NOT_TESTED, reason))


def _own_params(ctx: RestContext, op: ApiOperation, who: str) -> Params | None:
    params: Params = {}
    for name in op.path_params:
        values, _ = ctx.inventory.candidates(who, name, op.param_resource(name), ctx.model.aliases(op).get(name))
        if not values:
            return None
        params[name] = values[0]
    return params
