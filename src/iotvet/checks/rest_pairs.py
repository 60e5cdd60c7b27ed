"""Choosing who attacks whom, and with which object, for one operation and relation class.

Deterministic: identities, pairs and parameter values are tried in sorted order, and the first
combination that gives a usable victim view is used, so every run tests the same cell the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

from iotvet.api.model import ApiOperation
from iotvet.checks.canary import canary_body
from iotvet.checks.oracle import new_canary
from iotvet.checks.relations import candidate_pairs, is_admin, role_rank
from iotvet.checks.rest_context import Params, RestContext, View
from iotvet.core.records import Relation
from iotvet.plan.schema import Identity

MAX_PAIRS = 6
MAX_VALUES = 3


@dataclass
class Setup:
    """A chosen attacker (None: anonymous), victim, parameters and the victim's own answer."""

    attacker: Identity | None
    victim: Identity
    params: Params
    victim_view: View
    scope_op: bool
    canaries: set[str] = field(default_factory=set)

    @property
    def attacker_name(self) -> str | None:
        """Attacker name (None for anonymous)."""
        return self.attacker.name if self.attacker else None


def pairs_for(ctx: RestContext, relation: Relation) -> list[tuple[Identity | None, Identity]]:
    """Attacker-victim pairs of a relation class, in order.

    A platform operator is never a victim: everything it sees belongs to some tenant, so another
    identity reading the same thing proves nothing about the operator's own data.
    """
    people = sorted(ctx.identities.values(), key=lambda i: i.name)
    victims = [v for v in people if role_rank(v) < 4]
    if relation is Relation.LOWER_ROLE:
        return [(a, v) for v in victims if is_admin(v) for a in people
                if a.tenant == v.tenant and a.role != "device" and role_rank(a) < role_rank(v)
                and (v.group is None or a.group == v.group)]
    if relation is Relation.OTHER_TENANT_ADMIN:
        return [(a, v) for v in victims for a in people if a.tenant != v.tenant and is_admin(a)
                and a.role != "device" and "platform" not in a.tenant and "operator" not in a.role.lower()]
    found = candidate_pairs(people, victims).get(relation, [])
    return [(p.attacker, p.victim) for p in found]


def _assignments(ctx: RestContext, op: ApiOperation, victim: str) -> tuple[list[Params], bool]:
    choices: list[list[str]] = []
    scope = False
    for param in op.path_params:
        alias = ctx.model.aliases(op).get(param)
        values, from_profile = ctx.inventory.candidates(victim, param, op.param_resource(param), alias)
        if not values:
            return [], False
        scope = scope or from_profile
        choices.append(values[:MAX_VALUES])
    return [dict(zip(op.path_params, combo, strict=True)) for combo in product(*choices)][:MAX_VALUES], scope


async def seed(ctx: RestContext, read_op: ApiOperation, victim: str, params: Params) -> tuple[View, str] | None:
    """Give an empty collection something private: the victim creates one harmless canary object in it.

    Only where the mode allows writes and the API has a create operation (POST on the same path)
    whose body can carry a canary without side effects (e.g. a ``ping`` command). Done once per
    object; the created entry stays (a no-op the victim itself made).
    """
    key = ("seed", read_op.path, victim, tuple(sorted(params.items())))
    if key in ctx.memo:
        cached = ctx.memo[key]
        return cached if isinstance(cached, tuple) else None
    create = ctx.model.find("POST", read_op.path)
    canary = new_canary()
    body = canary_body(create, canary) if create is not None else None
    result: tuple[View, str] | None = None
    if ctx.mode != "read-only" and create is not None and body is not None:
        made, seq = await ctx.write(victim, create, params, body=body[0], owner=victim, original=None,
                                    purpose="seed")
        ctx.settle(seq, "a harmless entry (a no-op) the victim created stays in its history: not undoable")
        if made.ok:
            view = await ctx.call(victim, read_op, params, purpose="victim-view")
            if view.ok and canary in view.text:
                result = (view, canary)
    ctx.memo[key] = result
    return result


async def choose(ctx: RestContext, op: ApiOperation, relation: Relation, *, readback: ApiOperation | None = None,
                 need_hidden: bool = True, need_values: bool = True) -> Setup | str:
    """The first pair and object that can test this cell, or why there is none.

    ``need_hidden``: the object must be one the attacker cannot legitimately see (object reads
    and writes); function-level tests use the victim's own scope instead. ``need_values``: the
    victim's view must hold something private (reads); an empty collection is seeded with a canary
    where the mode allows.
    """
    read_op = readback or op
    tried = 0
    wanted_skip = ctx.memo.get(("skip-pairs", op.key, relation), 0)
    skip = wanted_skip if isinstance(wanted_skip, int) else 0
    skipped = 0
    reasons: list[str] = []
    pairs = pairs_for(ctx, relation)
    if any(_assignments(ctx, op, name)[1] for name in ctx.identities):
        # A function on a scope (a customer, a brand): its users are the higher roles, so try them first.
        pairs.sort(key=lambda pair: -role_rank(pair[1]))
    for attacker, victim in pairs:
        if tried >= MAX_PAIRS:
            break
        assignments, scope = _assignments(ctx, op, victim.name)
        if not assignments:
            continue
        tried += 1
        for params in assignments:
            if need_hidden and attacker is not None and (not scope or relation is Relation.OTHER_TENANT_ADMIN) and any(
                    ctx.inventory.visible(attacker.name, p, v) for p, v in params.items()):
                continue
            view = await ctx.call(victim.name, read_op, params, purpose="victim-view", cache=True)
            found: Setup | None = None
            if view.ok and (view.values() or not need_values):
                found = Setup(attacker, victim, params, view, scope)
            elif view.ok:
                seeded = await seed(ctx, read_op, victim.name, params)
                if seeded is not None:
                    found = Setup(attacker, victim, params, seeded[0], scope, {seeded[1]})
            if found is not None:
                if skipped == skip:
                    return found
                skipped += 1  # a second opinion: this pair already spoke, go on to the next one
                break
            if view.ok:
                reasons.append(f"{victim.name}'s own view of {read_op.fill(params)} holds nothing private")
            else:
                reasons.append(f"{victim.name}'s own request answered {view.status or view.exchange.error}")
    if not pairs:
        return f"the plan has no {relation.value} pair of identities"
    if reasons:
        return "no victim object gave a usable view: " + reasons[0]
    return "every object of the victims in this class is also visible to the attacker"
