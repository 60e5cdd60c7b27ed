"""Write-side REST checks: changing or commanding another identity's object, and mass assignment.

A write leaks only when the victim's own view afterwards shows the attacker's canary; a 2xx that
changed nothing the victim can see is no finding. Before judging, the victim's own write of a
canary must show up in its view (the positive control), else the cell is inconclusive. Every
change is restored as soon as it is observed; what cannot be restored is said so.
"""

from __future__ import annotations

from typing import Any

from iotvet.api.model import ApiOperation
from iotvet.checks.canary import canary_body
from iotvet.checks.oracle import canaries_in, new_canary
from iotvet.checks.registry import registry
from iotvet.checks.rest_context import Params, RestContext, View
from iotvet.checks.rest_pairs import choose
from iotvet.core.records import Relation, Verdict


def readback_op(ctx: RestContext, op: ApiOperation) -> ApiOperation | None:
    """The GET on the same path: how the victim sees what a write did."""
    return ctx.model.find("GET", op.path)


def find_key(doc: Any, key: str) -> Any:
    """The first value stored under ``key`` anywhere in a JSON document (None if absent)."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if key in node:
                return node[key]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _original(before: View, fields: list[str]) -> dict[str, Any]:
    return {f: find_key(before.json, f) for f in fields}


async def _restore(ctx: RestContext, op: ApiOperation, who: str, params: Params, before: View,
                   fields: list[str], seq: int | None) -> str:
    """Put the victim's fields back, settle the journal entry, and say what happened."""
    if op.method not in ("PATCH", "PUT"):
        note = "the no-op write stays in the object's history (not undoable, harmless)"
        ctx.settle(seq, note)
        return note
    view = await ctx.call(who, op, params, body=_original(before, fields), purpose="restore")
    if view.ok:
        ctx.settle(seq)
        return "restored"
    error = f"NOT restored (HTTP {view.status or view.exchange.error})"
    ctx.settle(seq, error)
    return error


async def decide_write(ctx: RestContext, op: ApiOperation, relation: Relation, check: str) -> None:
    """Decide one write cell: the attacker writes a canary into the victim's object; the victim looks."""
    def undecided(verdict: Verdict, reason: str, a: str | None = None, v: str | None = None) -> None:
        ctx.decide(ctx.cell(check, op, relation, verdict, reason, a, v))

    if ctx.mode == "read-only":
        return undecided(Verdict.NOT_TESTED, "read-only mode sends no write")
    if op.method == "DELETE" and ctx.mode != "intrusive":
        return undecided(Verdict.NOT_TESTED, "deletes run only in intrusive mode")
    if not op.path_params:
        return undecided(Verdict.NOT_TESTED, "no object in the path: a lifecycle check's business")
    allowed = ctx.policy_allows(op, relation)
    if allowed:
        return undecided(Verdict.NOT_TESTED, allowed)
    readback = readback_op(ctx, op)
    if readback is None:
        return undecided(Verdict.NOT_TESTED, f"no GET {op.path} to confirm a write from the victim's side")
    if canary_body(op, new_canary()) is None:
        return undecided(Verdict.NOT_TESTED, "no field can carry a canary without side effects")
    setup = await choose(ctx, op, relation, readback=readback, need_values=False)
    if isinstance(setup, str):
        return undecided(Verdict.NOT_TESTED, setup)
    victim, attacker = setup.victim.name, setup.attacker_name
    control = await _control(ctx, op, readback, victim, setup.params, setup.victim_view)
    if control is not None:
        verdict = Verdict.NOT_TESTED if control.startswith("no valid") else Verdict.INCONCLUSIVE
        return undecided(verdict, control, attacker or "anonymous", victim)
    canary = new_canary()
    body, carriers = canary_body(op, canary) or ({}, [])
    attempt, seq = await ctx.write(attacker, op, setup.params, body=body, owner=victim,
                                   original=_original(setup.victim_view, carriers), purpose=f"probe:{check}")
    after = await ctx.call(victim, readback, setup.params, purpose="victim-readback")
    if after.unusable:
        await _restore(ctx, op, victim, setup.params, setup.victim_view, carriers, seq)
        return undecided(Verdict.INCONCLUSIVE, f"victim read-back: {after.unusable}", attacker or "anonymous", victim)
    if canary not in canaries_in(after.text):
        ctx.settle(seq)  # the victim's view is unchanged: nothing to undo
        status = attempt.status or attempt.exchange.error
        return undecided(Verdict.ENFORCED, f"attacker's write answered {status}; the victim's view is unchanged",
                         attacker or "anonymous", victim)
    restored = await _restore(ctx, op, victim, setup.params, setup.victim_view, carriers, seq)
    cell = ctx.cell(check, op, relation, Verdict.LEAK, f"the victim's view shows the attacker's canary; {restored}",
                    attacker or "anonymous", victim)
    summary = (f"{attacker or 'anonymous'} ({relation.value}) wrote canary {canary} into {victim}'s "
               f"{op.fill(setup.params)}; {victim}'s own read-back shows it ({restored})")
    ctx.decide(cell, ctx.finding(cell, summary, [("attacker's write", attempt), ("victim's read-back", after)]))


async def _control(ctx: RestContext, op: ApiOperation, readback: ApiOperation, victim: str, params: Params,
                   before: View) -> str | None:
    """The victim's own canary write must show up in its view; cached per object. None when it does."""
    key = ("control", op.key, victim, tuple(sorted(params.items())))
    if key in ctx.memo:
        cached = ctx.memo[key]
        return cached if isinstance(cached, str) else None
    canary = new_canary()
    body, carriers = canary_body(op, canary) or ({}, [])
    own, seq = await ctx.write(victim, op, params, body=body, owner=victim, original=_original(before, carriers),
                               purpose="control")
    after = await ctx.call(victim, readback, params, purpose="control-readback")
    if canary in canaries_in(after.text):
        await _restore(ctx, op, victim, params, before, carriers, seq)
        result = None
    elif own.status is not None and 400 <= own.status < 500:
        ctx.settle(seq)  # refused: nothing changed
        result = (f"no valid canary write could be built: the victim's own attempt answered {own.status} "
                  "(the operation needs values iotvet does not invent)")
    else:
        await _restore(ctx, op, victim, params, before, carriers, seq)
        result = (f"positive control failed: the victim's own write answered {own.status or own.exchange.error} "
                  "and did not show up in its view")
    ctx.memo[key] = result
    return result


@registry.register("api-bola-write")
async def bola_write(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    """Another identity's object can be changed or commanded (read back as the victim)."""
    await decide_write(ctx, op, relation, "api-bola-write")
