"""Lifecycle checks (run once per probe): stale tokens here; binding and sharing in their own modules.

``auth-stale-token`` takes the token T a sacrificial identity holds, shows that T returns the
identity's own data on its ``verify`` request (positive control), runs the plan's ``logout`` or
``password_change`` flow, and presents T again: the cell leaks when T still returns that data.
Then it puts things back: after a logout the identity logs in again; after a password change it
logs in with the generated password in a separate session, changes the password back through that
session, and only then logs the run's own session in again with the plan's password, which proves
the restore. Logging out and changing passwords cannot be undone from outside, so the check needs
intrusive mode and a sacrificial identity; otherwise its cells are not-tested and nothing is sent.

New passwords are generated, not random: HMAC-SHA256 keyed with the current password over
``iotvet:<identity>:<n>`` (the n-th change in the run), formatted ``Iv-<12 hex>-<6 HEX>-9!``. They
are unique, known to the redactor before they are sent, and whoever holds the plan's password can
recompute one if a restore ever fails.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.auth.session import Session
from iotvet.checks import rest_lifecycle_bind, rest_lifecycle_roles, rest_lifecycle_shares
from iotvet.checks.oracle import judge_read
from iotvet.checks.registry import RunBound, call_cost, people, refreshable, registry, send_cost
from iotvet.checks.rest_context import RestContext, View
from iotvet.checks.rest_flows import (
    FlowRun,
    flow_op,
    flow_sends,
    leak,
    password_of,
    plan_flow_key,
    run_flow,
    send_flow,
    settle,
    steps,
    undecided,
)
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Identity, LoginAuth, Plan, RequestSpec

CHECK = "auth-stale-token"
STALE_FLOWS = ("logout", "password_change")
NEEDS = "needs intrusive mode (safety.mode: intrusive) and a sacrificial identity"
__all__ = ["rest_lifecycle_bind", "rest_lifecycle_roles", "rest_lifecycle_shares", "stale_token"]


def new_password(ctx: RestContext, who: str, current: str) -> str:
    """A new password for ``who`` (see the module docstring), taught to the redactor before it is used."""
    key = ("new-password", who)
    count = int(str(ctx.memo.get(key, 0))) + 1
    ctx.memo[key] = count
    digest = hmac.new(current.encode(), f"iotvet:{who}:{count}".encode(), hashlib.sha256).hexdigest()
    value = f"Iv-{digest[:12]}-{digest[12:18].upper()}-9!"
    ctx.redactor.add(value, f"{who}.new_password")
    return value


def changeable(ident: Identity) -> bool:
    """True when iotvet can log the identity in with a changed password (a login request that sends one)."""
    return isinstance(ident.auth, LoginAuth) and password_of(ident) is not None


def session_with(ctx: RestContext, who: str, password: str) -> Session | None:
    """A separate session for ``who`` that logs in with ``password`` instead of the plan's (login auth only).

    The run's own session is left alone: its token and its login state stay as they are.
    """
    ident = ctx.identities[who]
    auth, old = ident.auth, password_of(ident)
    if not isinstance(auth, LoginAuth) or old is None:
        return None

    def swap(body: Any) -> Any:
        return {k: (password if v == old else v) for k, v in body.items()} if isinstance(body, dict) else body

    request = auth.request.model_copy(update={"json_body": swap(auth.request.json_body),
                                              "form": swap(auth.request.form)})
    changed = ident.model_copy(update={"auth": auth.model_copy(update={"request": request})})
    base = ctx.sessions[who]
    return Session(changed, base.loaded, base.http, base.redactor)


def _probe_request(ctx: RestContext, who: str) -> RequestSpec | None:
    ident = ctx.identities[who]
    if ident.verify is not None:
        return ident.verify
    op = next((o for o in ctx.model.operations if o.method == "GET" and not o.path_params and o.secured), None)
    return RequestSpec(path=op.path) if op is not None else None


async def _present(ctx: RestContext, who: str, token: str, spec: RequestSpec, purpose: str) -> View:
    return View(await ctx.sessions[who].request(spec.method, spec.path, json_body=spec.json_body, form=spec.form,
                                                headers=spec.headers or None, query=spec.query or None,
                                                purpose=purpose, token=token))


def _candidate(ctx: RestContext, flow: str) -> str | None:
    for name in sorted(ctx.identities):
        if not ctx.identities[name].sacrificial or not ctx.sessions[name].refreshable:
            continue
        if flow == "password_change" and not changeable(ctx.identities[name]):
            continue
        return name
    return None


def _stale_flow_bound(plan: Plan, model: ApiModel, flow: str) -> RunBound:
    """One flow of :func:`stale_token`: its token (a login if it expired), the control, the flow, the old token,
    the re-login; a password change adds the new password's login and the change back through that session."""
    if plan.safety.mode != "intrusive" or not flow_sends(plan, flow)[0]:
        return RunBound(skip=NEEDS if plan.safety.mode != "intrusive" else f"the plan has no flows.{flow}")
    who = next((i for i in people(plan) if i.sacrificial and refreshable(i)
                and (flow != "password_change" or changeable(i))), None)
    if who is None:
        return RunBound(skip="no sacrificial identity with a login credential" + (
            " and a password in its login request" if flow == "password_change" else ""))
    if who.verify is None and not any(o.method == "GET" and not o.path_params and o.secured for o in model.operations):
        return RunBound(skip="no request to present the token on")
    sent, written = flow_sends(plan, flow)
    fixed, times = (4, 1) if flow == "logout" else (5, 2)  # a password change is sent, then sent back
    return RunBound(fixed + times * sent * call_cost(who), times * written * send_cost(who))


def stale_bound(plan: Plan, model: ApiModel) -> RunBound:
    """Both flows (``logout``, ``password_change``) as :func:`_stale_flow_bound` says; intrusive mode only."""
    parts = [_stale_flow_bound(plan, model, flow) for flow in STALE_FLOWS]
    place = ", ".join(plan_flow_key(plan, model, flow) for flow in STALE_FLOWS)
    if all(p.skip for p in parts):
        return RunBound(skip="; ".join(dict.fromkeys(p.skip for p in parts if p.skip)), place=place)
    return RunBound(sum(p.requests for p in parts), sum(p.writes for p in parts), place=place)


@registry.register(CHECK, per="run", bound=stale_bound)
async def stale_token(ctx: RestContext) -> None:
    """An identity's token still works after its logout or password change."""
    for flow in STALE_FLOWS:
        op = flow_op(ctx, flow)
        if not ctx.wanted(CHECK, op, Relation.SELF):
            continue
        if ctx.mode != "intrusive" or not steps(ctx, flow):
            why = NEEDS if ctx.mode != "intrusive" else f"the plan has no flows.{flow}"
            undecided(ctx, CHECK, op, Relation.SELF, Verdict.NOT_TESTED, why)
            continue
        who = _candidate(ctx, flow)
        spec = _probe_request(ctx, who) if who else None
        if who is None or spec is None:
            why = ("no sacrificial identity with a login credential" + (" and a password in its login request"
                   if flow == "password_change" else "")) if who is None else "no request to present the token on"
            undecided(ctx, CHECK, op, Relation.SELF, Verdict.NOT_TESTED, why)
            continue
        await _stale(ctx, flow, op, who, spec)


async def _stale(ctx: RestContext, flow: str, op: ApiOperation, who: str, spec: RequestSpec) -> None:
    relation = Relation.SELF
    token = await ctx.sessions[who].token()
    if token is None:
        return undecided(ctx, CHECK, op, relation, Verdict.INCONCLUSIVE, f"{who} holds no token", who, who)
    control = await _present(ctx, who, token, spec, "control")
    private = control.values() - ctx.inventory.public - ctx.inventory.seen.get("anonymous", set())
    if control.unusable or not control.ok or not private:
        why = control.unusable or f"HTTP {control.status} with nothing private"
        return undecided(ctx, CHECK, op, relation, Verdict.INCONCLUSIVE,
                         f"positive control: {who}'s current token on {spec.path}: {why}", who, who)
    outcome = await (_logout(ctx, who, token, spec) if flow == "logout" else _password(ctx, who, token, spec))
    if isinstance(outcome, str):
        verdict = Verdict.NOT_TESTED if outcome.startswith("flows.") or "no flows." in outcome else Verdict.INCONCLUSIVE
        return undecided(ctx, CHECK, op, relation, verdict, outcome, who, who)
    run, stale, restored = outcome
    label = "logout" if flow == "logout" else "password change"
    if stale.unusable:
        return undecided(ctx, CHECK, op, relation, Verdict.INCONCLUSIVE,
                         f"the old token after the {label}: {stale.unusable}; {restored}", who, who)
    decision = judge_read(stale.json, private, set(), stale.text)
    if not decision.leaked:
        return undecided(ctx, CHECK, op, relation, Verdict.ENFORCED,
                         f"after the {label} ({run.status}) the old token answered HTTP {stale.status}: "
                         f"{decision.reason}; {restored}", who, who)
    summary = (f"after {who}'s {label} ({run.status}), its old token still returned {len(decision.leaked)} value(s) "
               f"of {who}'s own data on {spec.method} {spec.path} ({restored})")
    leak(ctx, CHECK, op, relation, f"the old token still works after the {label}; {restored}", who, who, summary,
         [("the old token after the " + label, stale), ("the " + label, run.last), ("the same token before", control)])


async def _logout(ctx: RestContext, who: str, token: str, spec: RequestSpec) -> tuple[FlowRun, View, str] | str:
    run = await run_flow(ctx, "logout", who, {}, owner=who, original={"session": f"{who}'s login session"},
                         purpose=f"probe:{CHECK}")
    if isinstance(run, str):
        return run
    stale = await _present(ctx, who, token, spec, f"probe:{CHECK}")
    failed = await ctx.sessions[who].relogin()
    restored = "logged in again" if failed is None else f"NOT restored: {who} cannot log in again ({failed})"
    settle(ctx, run, None if failed is None else restored)
    if not run.ok:
        return f"the logout answered {run.status}: no session was ended; {restored}"
    return run, stale, restored


async def _password(ctx: RestContext, who: str, token: str, spec: RequestSpec) -> tuple[FlowRun, View, str] | str:
    current = password_of(ctx.identities[who]) or ""
    fresh = new_password(ctx, who, current)
    run = await run_flow(ctx, "password_change", who, {"password": current, "new_password": fresh}, owner=who,
                         original={"password": f"the plan's password of {who}"}, purpose=f"probe:{CHECK}")
    if isinstance(run, str):
        return run
    changed = session_with(ctx, who, fresh)
    assert changed is not None  # _candidate chose an identity whose login sends a password
    if run.ok and await changed.login() is None:
        stale = await _present(ctx, who, token, spec, f"probe:{CHECK}")
        await send_flow(ctx, changed, "password_change", {"password": fresh, "new_password": current})
        failed = await ctx.sessions[who].relogin()  # the plan's password again: proves the restore
        restored = "password changed back and logged in again" if failed is None else (
            f"NOT restored: {who} cannot log in with the plan's password ({failed}); its password is the generated "
            "one (docs/REST.md, Lifecycle flows, says how to recompute it)")
        settle(ctx, run, None if failed is None else restored)
        return run, stale, restored
    untouched = session_with(ctx, who, current)
    assert untouched is not None
    failed = await untouched.login()
    restored = "the password is unchanged" if failed is None else (
        "NOT restored: neither the plan's password nor the generated one logs in")
    settle(ctx, run, None if failed is None else restored)
    return f"the password change answered {run.status} and the new password does not log in; {restored}"
