"""Lifecycle flows: the plan's named requests (``flows``), filled in and sent for the lifecycle checks.

A flow is one request or a list of them. Placeholders ``{name}`` in its path, JSON body, form,
query and headers are filled from, in this order: the values the check passes (``{vin}``,
``{bind_code}``, ``{user}``, ``{new_password}``, ``{share_id}`` and the fields of the object the
check chose, matched loosely, so ``{bind_code}`` takes a ``bindCode`` field and ``{id}`` the object's
``id``), then the acting identity (``{name}``, ``{tenant}``, ``{group}``, ``{role}``, ``{device}``,
each string field of its login request such as ``{username}``, and ``{password}``). A placeholder
nothing fills leaves the cell not-tested with its name in the reason: iotvet never guesses a value.

Writing steps go through :meth:`RestContext.write`, journaled before they are sent; restores go
straight through a session and settle the entry they undo.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.auth.session import Session
from iotvet.checks.registry import writing
from iotvet.checks.rest_context import RestContext, View, norm
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Identity, LoginAuth, Plan, RequestSpec

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
READS = frozenset({"GET", "HEAD", "OPTIONS"})
PASSWORD_KEYS = ("pass", "pwd", "secret")
INTRUSIVE = "needs intrusive mode (safety.mode: intrusive) and a sacrificial victim"
READ_ONLY = "read-only mode sends no write"
RESTORED = "restored"


@dataclass
class FlowRun:
    """The answers to a flow's steps, and the journal entries of its writes."""

    views: list[View] = field(default_factory=list)
    seqs: list[int | None] = field(default_factory=list)

    @property
    def last(self) -> View:
        """The answer to the last step sent."""
        return self.views[-1]

    @property
    def ok(self) -> bool:
        """Every step answered 2xx."""
        return bool(self.views) and all(v.ok for v in self.views)

    @property
    def status(self) -> str:
        """The last answer's status (or why there was none), for reason lines."""
        last = self.last
        return f"HTTP {last.status}" if last.status is not None else str(last.exchange.error)


def steps(ctx: RestContext, name: str) -> list[RequestSpec]:
    """The requests of flow ``name`` (empty when the plan has none)."""
    flow = ctx.plan.flows.get(name)
    if flow is None:
        return []
    return list(flow) if isinstance(flow, list) else [flow]


def _relative(ctx: RestContext, path: str) -> str:
    base = ctx.sessions["anonymous"].base_url
    return path[len(base):] if base and path.startswith(base + "/") else path


def flow_op(ctx: RestContext, name: str) -> ApiOperation:
    """The operation a flow exists for (its last writing step), as the API description names it."""
    specs = steps(ctx, name)
    if not specs:
        return ApiOperation("FLOW", f"flows.{name}")
    main = next((s for s in reversed(specs) if s.method not in READS), specs[-1])
    path = _relative(ctx, main.path)
    return ctx.model.find(main.method, path) or ApiOperation(main.method, path)


def placeholders(spec: RequestSpec) -> list[str]:
    """Every placeholder a request names, in order of appearance."""
    found: list[str] = []
    for text in _strings([spec.path, spec.json_body, spec.form, spec.query, spec.headers]):
        found += [n for n in PLACEHOLDER.findall(text) if n not in found]
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _lookup(values: Mapping[str, str], name: str) -> str | None:
    if name in values:
        return values[name]
    return next((v for k, v in values.items() if norm(k) == norm(name)), None)


def fill(spec: RequestSpec, values: Mapping[str, str]) -> RequestSpec | str:
    """``spec`` with its placeholders filled, or why not (the placeholders nothing fills)."""
    missing = [n for n in placeholders(spec) if _lookup(values, n) is None]
    if missing:
        return "no value for placeholder(s) " + ", ".join("{" + n + "}" for n in missing)

    def sub(text: str, in_path: bool = False) -> str:
        return PLACEHOLDER.sub(lambda m: quote(str(_lookup(values, m[1])), safe="") if in_path
                               else str(_lookup(values, m[1])), text)

    def deep(value: Any) -> Any:
        if isinstance(value, str):
            return sub(value)
        if isinstance(value, dict):
            return {k: deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [deep(v) for v in value]
        return value

    return spec.model_copy(update={"path": sub(spec.path, True), "json_body": deep(spec.json_body),
                                   "form": deep(spec.form), "query": deep(spec.query), "headers": deep(spec.headers)})


def login_fields(ident: Identity) -> dict[str, str]:
    """String fields of the identity's login request body (``username``, ``password`` ...)."""
    auth = ident.auth
    if not isinstance(auth, LoginAuth):
        return {}
    out: dict[str, str] = {}
    for body in (auth.request.json_body, auth.request.form):
        if isinstance(body, dict):
            out.update({str(k): v for k, v in body.items() if isinstance(v, str)})
    return out


def password_of(ident: Identity) -> str | None:
    """The password the identity's login request sends (None for other credentials)."""
    return next((v for k, v in login_fields(ident).items() if any(m in k.lower() for m in PASSWORD_KEYS)), None)


def username_of(ctx: RestContext, who: str) -> str:
    """The name another user gives to share with ``who``: its login name, else its profile's, else its plan name."""
    fields = login_fields(ctx.identities[who])
    for key in ("username", "user", "login", "email"):
        if fields.get(key):
            return fields[key]
    listed = sorted(ctx.inventory.profile.get(who, {}).get("username", set()))
    return listed[0] if listed else who


def identity_values(ctx: RestContext, who: str) -> dict[str, str]:
    """What an identity fills in a flow by itself."""
    ident = ctx.identities[who]
    out = {"name": ident.name, "tenant": ident.tenant, "role": ident.role}
    out.update({k: v for k, v in (("group", ident.group), ("device", ident.device)) if v})
    out.update(login_fields(ident))
    password = password_of(ident)
    if password is not None:
        out["password"] = password
    return out


def prepare(ctx: RestContext, name: str, who: str, values: Mapping[str, str]) -> list[RequestSpec] | str:
    """The flow's requests filled for ``who``, or why they cannot be sent."""
    specs = steps(ctx, name)
    if not specs:
        return f"the plan has no flows.{name}"
    merged = {**identity_values(ctx, who), **values}
    out: list[RequestSpec] = []
    for spec in specs:
        filled = fill(spec, merged)
        if isinstance(filled, str):
            return f"flows.{name}: {filled}"
        if filled.form is not None or (filled.headers and filled.method not in READS):
            return f"flows.{name}: form bodies and headers on writing steps are not supported yet"
        out.append(filled)
    return out


def _path(spec: RequestSpec) -> str:
    if not spec.query:
        return spec.path
    return spec.path + ("&" if "?" in spec.path else "?") + urlencode(spec.query)


async def run_flow(ctx: RestContext, name: str, who: str, values: Mapping[str, str], *, owner: str,
                   original: Any, purpose: str) -> FlowRun | str:
    """Send flow ``name`` as ``who``; writing steps are journaled (``owner`` can undo them). Stops at a non-2xx."""
    specs = prepare(ctx, name, who, values)
    if isinstance(specs, str):
        return specs
    run = FlowRun()
    for spec in specs:
        op = ApiOperation(spec.method, _path(spec))
        if spec.method in READS:
            view = await ctx.call(who, op, {}, headers=spec.headers or None, purpose=purpose)
        else:
            view, seq = await ctx.write(who, op, {}, body=spec.json_body, owner=owner, original=original,
                                        purpose=purpose)
            run.seqs.append(seq)
        run.views.append(view)
        if not view.ok:
            break
    return run


async def send_flow(ctx: RestContext, session: Session, name: str, values: Mapping[str, str], *,
                    purpose: str = "restore") -> FlowRun | str:
    """Send flow ``name`` through ``session`` without journaling it (restores undo a journaled write)."""
    specs = prepare(ctx, name, session.name, values)
    if isinstance(specs, str):
        return specs
    run = FlowRun()
    for spec in specs:
        run.views.append(View(await session.request(spec.method, spec.path, json_body=spec.json_body,
                                                    headers=spec.headers or None, query=spec.query or None,
                                                    purpose=purpose)))
        if not run.last.ok:
            break
    return run


def settle(ctx: RestContext, run: FlowRun | None, error: str | None = None) -> None:
    """Settle every journal entry of a flow run: undone (``error`` None) or why not."""
    for seq in run.seqs if run else ():
        ctx.settle(seq, error)


def undecided(ctx: RestContext, check: str, op: ApiOperation, relation: Relation, verdict: Verdict, reason: str,
              attacker: str | None = None, victim: str | None = None) -> None:
    """Decide a cell that has no finding."""
    ctx.decide(ctx.cell(check, op, relation, verdict, reason, attacker, victim))


def leak(ctx: RestContext, check: str, op: ApiOperation, relation: Relation, reason: str, attacker: str,
         victim: str, summary: str, views: list[tuple[str, View]]) -> None:
    """Decide a leaking cell with its finding (the first view is the attack, for the reproduction)."""
    cell = ctx.cell(check, op, relation, Verdict.LEAK, reason, attacker, victim)
    ctx.decide(cell, ctx.finding(cell, summary, views))


def plan_steps(plan: Plan, name: str) -> list[RequestSpec]:
    """:func:`steps` from the plan alone (for the dry run)."""
    flow = plan.flows.get(name)
    return [] if flow is None else list(flow) if isinstance(flow, list) else [flow]


def plan_flow_op(plan: Plan, model: ApiModel, name: str) -> ApiOperation:
    """The operation :func:`flow_op` gives, from the plan alone."""
    specs = plan_steps(plan, name)
    if not specs:
        return ApiOperation("FLOW", f"flows.{name}")
    main = next((s for s in reversed(specs) if s.method not in READS), specs[-1])
    base = plan.target.base_url if plan.target else ""
    path = main.path[len(base):] if base and main.path.startswith(base + "/") else main.path
    return model.find(main.method, path) or ApiOperation(main.method, path)


def plan_flow_key(plan: Plan, model: ApiModel, name: str) -> str:
    """The key of :func:`plan_flow_op`."""
    return plan_flow_op(plan, model, name).key


def flow_sends(plan: Plan, name: str) -> tuple[int, int]:
    """(steps, writing steps) of a flow: a run sends at most one request per step."""
    specs = plan_steps(plan, name)
    return len(specs), sum(writing(s) for s in specs)
