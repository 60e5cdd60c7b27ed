"""Read-side REST checks: object reads across relations, anonymous access, role and tenant functions.

The verdict comes from the victim's own data: the attacker's answer leaks when it holds a value
that only the victim's view of the object has (or a canary the victim planted). Status codes,
soft denies and error bodies decide nothing by themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from iotvet.api.model import ApiOperation
from iotvet.checks.oracle import judge_read
from iotvet.checks.registry import registry
from iotvet.checks.rest_context import RestContext, View, norm
from iotvet.checks.rest_pairs import Setup, choose
from iotvet.checks.rest_writes import decide_write
from iotvet.core.records import Relation, Verdict

_TENANT_HINTS = ("brand", "tenant", "org", "oem", "app")
Forged = tuple[dict[str, str] | None, dict[str, str] | None]
"""Headers and query parameters an attacker adds to name another tenant."""


def _private(ctx: RestContext, setup: Setup, extra_seen: frozenset[str] = frozenset()) -> set[str]:
    inv = ctx.inventory
    seen = inv.seen.get(setup.attacker_name or "anonymous", set())
    sent = set(setup.params.values())
    return setup.victim_view.values() - seen - inv.public - sent - extra_seen


async def decide_read(ctx: RestContext, op: ApiOperation, relation: Relation, check: str, *,
                      forge: Callable[[Setup], Forged] | None = None, need_hidden: bool = True) -> None:
    """Decide one read cell: pick a pair and object, ask as the attacker, judge by the victim's data."""
    allowed = ctx.policy_allows(op, relation)
    if allowed:
        ctx.decide(ctx.cell(check, op, relation, Verdict.NOT_TESTED, allowed))
        return
    setup = await choose(ctx, op, relation, need_hidden=need_hidden)
    if isinstance(setup, str):
        ctx.decide(ctx.cell(check, op, relation, Verdict.NOT_TESTED, setup))
        return
    hdrs, query = forge(setup) if forge else (None, None)
    answer = await ctx.call(setup.attacker_name, op, setup.params, headers=hdrs, query=query,
                            purpose=f"probe:{check}")
    attacker, victim = setup.attacker_name or "anonymous", setup.victim.name
    if answer.unusable:
        ctx.decide(ctx.cell(check, op, relation, Verdict.INCONCLUSIVE, answer.unusable, attacker, victim))
        return
    private = _private(ctx, setup, frozenset({**(hdrs or {}), **(query or {})}.values()))
    decision = judge_read(answer.json, private, setup.canaries, answer.text)
    if not decision.decided:
        ctx.decide(ctx.cell(check, op, relation, Verdict.INCONCLUSIVE, decision.reason, attacker, victim))
        return
    if not decision.leaked:
        ctx.decide(ctx.cell(check, op, relation, Verdict.ENFORCED,
                            f"HTTP {answer.status}: {decision.reason}", attacker, victim))
        return
    if forge is not None:
        # Attribution: the forged tenant is the cause only if the same request without it is refused.
        plain = await ctx.call(setup.attacker_name, op, setup.params, purpose=f"control:{check}")
        if plain.unusable is None and judge_read(plain.json, private, setup.canaries, plain.text).leaked:
            ctx.decide(ctx.cell(check, op, relation, Verdict.NOT_TESTED,
                                "masked: the object leaks to this attacker without the forged tenant too "
                                "(an object-level flaw, reported under api-bola-read)", attacker, victim))
            return
    cell = ctx.cell(check, op, relation, Verdict.LEAK, f"HTTP {answer.status}: {decision.reason}", attacker, victim)
    sample = ", ".join(sorted(decision.leaked)[:3])
    summary = (f"{attacker} ({relation.value}) received {len(decision.leaked)} value(s) that only {victim}'s own "
               f"view of {op.fill(setup.params)} holds, e.g. {sample}")
    ctx.decide(cell, ctx.finding(cell, summary, [("attacker's request and answer", answer),
                                                 ("the victim's own view", setup.victim_view)]))


async def _read_or_write(ctx: RestContext, op: ApiOperation, relation: Relation, check: str) -> None:
    if op.method == "GET":
        await decide_read(ctx, op, relation, check, need_hidden=relation is not Relation.LOWER_ROLE)
    else:
        await decide_write(ctx, op, relation, check)


@registry.register("api-bola-read")
async def bola_read(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    """Another identity's object (same group or tenant, other tenant or its admin, device) is readable."""
    await decide_read(ctx, op, relation, "api-bola-read")


@registry.register("api-unauth")
async def unauth(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    """The anonymous caller reads (or changes) an identity's private data."""
    if not op.path_params and op.method == "GET":
        await _singleton_unauth(ctx, op)
        return
    await _read_or_write(ctx, op, Relation.ANONYMOUS, "api-unauth")


async def _singleton_unauth(ctx: RestContext, op: ApiOperation) -> None:
    """Parameterless reads (``GET /me``): the anonymous answer against an identity's own answer."""
    relation = Relation.ANONYMOUS
    allowed = ctx.policy_allows(op, relation)
    if allowed:
        ctx.decide(ctx.cell("api-unauth", op, relation, Verdict.NOT_TESTED, allowed))
        return
    victim_view: View | None = None
    victim = None
    for name in sorted(ctx.identities):
        view = await ctx.call(name, op, {}, purpose="victim-view", cache=True)
        if view.ok and view.values() - ctx.inventory.public:
            victim_view, victim = view, name
            break
    if victim_view is None:
        ctx.decide(ctx.cell("api-unauth", op, relation, Verdict.NOT_TESTED, "no identity's own answer holds data"))
        return
    answer = await ctx.call(None, op, {}, purpose="probe:api-unauth", cache=True)
    if answer.unusable:
        ctx.decide(ctx.cell("api-unauth", op, relation, Verdict.INCONCLUSIVE, answer.unusable, "anonymous", victim))
        return
    private = victim_view.values() - ctx.inventory.public - ctx.inventory.seen.get("anonymous", set())
    decision = judge_read(answer.json, private, set())
    verdict = Verdict.LEAK if decision.leaked else (Verdict.ENFORCED if decision.decided else Verdict.INCONCLUSIVE)
    cell = ctx.cell("api-unauth", op, relation, verdict, f"HTTP {answer.status}: {decision.reason}", "anonymous",
                    victim)
    finding = None
    if verdict is Verdict.LEAK:
        finding = ctx.finding(cell, f"without credentials, {op.key} returned data of {victim}",
                              [("anonymous request and answer", answer), ("the identity's own view", victim_view)])
    ctx.decide(cell, finding)


@registry.register("api-bfla")
async def bfla(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    """A lower role obtains what only a higher role's own view shows."""
    await _read_or_write(ctx, op, Relation.LOWER_ROLE, "api-bfla")


@registry.register("api-xtenant-admin")
async def xtenant_admin(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    """An admin of one tenant reads or administers another tenant's objects or functions."""
    await _read_or_write(ctx, op, Relation.OTHER_TENANT_ADMIN, "api-xtenant-admin")


def tenant_params(op: ApiOperation) -> list[tuple[str, str]]:
    """Header and query parameters that look like a client-chosen tenant (``X-Brand``, ``tenant_id``)."""
    return [(p.location, p.name) for p in op.params if p.location in ("header", "query")
            and any(h in norm(p.name) for h in _TENANT_HINTS)]


def tenant_hosts(ctx: RestContext) -> dict[str, str]:
    """The plan's tenant -> Host header map (providers that tell brands apart by virtual host)."""
    target = ctx.plan.target
    return dict(target.tenant_hosts) if target else {}


@registry.register("api-xbrand-token")
async def xbrand_token(ctx: RestContext, op: ApiOperation, relation: Relation) -> None:
    """Another tenant's user names the victim's tenant in a header or parameter and is believed."""
    relation = Relation.OTHER_TENANT
    spots = tenant_params(op)
    hosts = tenant_hosts(ctx)
    if not spots and not hosts:
        ctx.decide(ctx.cell("api-xbrand-token", op, relation, Verdict.NOT_TESTED,
                            "the operation takes no tenant header or parameter, and the plan names no tenant_hosts"))
        return

    def forged(setup: Setup) -> Forged:
        profile = ctx.inventory.profile.get(setup.victim.name, {})
        tenant = sorted(profile.get("brand", set()) | profile.get("tenant", set())) or [setup.victim.tenant]
        headers = {name: tenant[0] for loc, name in spots if loc == "header"}
        query = {name: tenant[0] for loc, name in spots if loc == "query"}
        if setup.victim.tenant in hosts:
            headers["Host"] = hosts[setup.victim.tenant]  # the victim's virtual host, the attacker's token
        return headers or None, query or None

    await decide_read(ctx, op, relation, "api-xbrand-token", forge=forged)


__all__ = ["bfla", "bola_read", "decide_read", "unauth", "xbrand_token", "xtenant_admin"]
