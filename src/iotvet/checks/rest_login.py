"""Login checks: does the login (or password reset) tell accounts apart, and does it throttle guessing?

Lockout is the risk: EN 303 645 5.1-5 asks a provider to limit guessing, so a correct provider
locks the account we guess against. Both checks therefore guess only against ``sacrificial``
identities, and otherwise only against random names that belong to no one.

- ``auth-user-enum`` runs only in ``intrusive`` mode: a failed login moves the account's failure
  counter (server state) and may mail its owner, and failures from runs repeated within a
  provider's lockout window add up (the lab locks after five in fifteen minutes; successful
  logins need not reset the count). It sends a wrong password for the first sacrificial identity
  once, and a second time only to prove a difference stable: at most two failures per run.
  Three seeded random names (18 random letters,
  shaped like the identity's name; numeric names are never invented, they could be someone's
  phone) get the same wrong password. Answers are compared by status and body with the names
  stripped. Timing is not judged: a gap worth trusting needs tens of samples on the real
  account, which is exactly what a lockout counts. A plan flow ``password_reset`` is compared
  the same way.
- ``auth-no-throttle`` runs only in ``intrusive`` mode, as the last sacrificial identity by name
  (another one than auth-user-enum's when the plan has two): at most ``safety.login_attempts``
  wrong passwords, stopping at the first sign of throttling, then one correct login. The
  figures (attempts until throttled, or none) are the evidence for EN 303 645 5.1-5.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.checks.logins import (
    NAMES,
    THROTTLED,
    Login,
    any_login_op,
    figures,
    fingerprint,
    plan_login_key,
    plan_sacrificial_logins,
    plan_spec_key,
    random_names,
    sacrificial_logins,
    slowed,
    spec_op,
    throttle_sign,
)
from iotvet.checks.registry import RunBound, call_cost, registry, send_cost, writing
from iotvet.checks.rest_context import RestContext, View
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Plan, RequestSpec

ENUM, THROTTLE = "auth-user-enum", "auth-no-throttle"


def _fill(value: Any, user: str) -> Any:
    """A flow's value with ``{user}``, ``{username}`` and ``{email}`` replaced by the name tried."""
    if isinstance(value, str):
        return re.sub(r"\{(user|username|email)\}", lambda _: user, value)
    if isinstance(value, dict):
        return {k: _fill(v, user) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, user) for v in value]
    return value


async def _compare(ctx: RestContext, op: ApiOperation, login: Login, known: str, names: list[str], wrong: str,
                   send: Callable[[str], Awaitable[View]]) -> None:
    """Decide one enumeration cell from the answers for random names and for the real account."""
    who = login.ident.name

    def decide(verdict: Verdict, reason: str) -> None:
        ctx.decide(ctx.cell(ENUM, op, Relation.ANONYMOUS, verdict, reason, "anonymous", who))

    unknown = [await send(n) for n in names]
    first = await send(known)
    views = [*unknown, first]
    missing = next((v for v in views if v.exchange.response is None), None)
    if missing is not None:
        return decide(Verdict.INCONCLUSIVE, f"no usable answer: {missing.exchange.error}")
    if any(v.status in THROTTLED or (v.exchange.response and v.exchange.response.header("Retry-After"))
           for v in views):
        return decide(Verdict.INCONCLUSIVE, "throttled or locked answers (HTTP 429/423/503 or Retry-After): the "
                                            "account may be locked by an earlier test; nothing to compare")
    prints = [fingerprint(v, [n, wrong]) for v, n in zip(unknown, names, strict=True)]
    mine = fingerprint(first, [known, wrong])
    if len({p[0] for p in prints}) > 1:
        return decide(Verdict.INCONCLUSIVE, "random names get different statuses: the answers are not stable")
    bodies = len(set(prints)) == 1
    if mine[0] == prints[0][0] and (not bodies or mine == prints[0]):
        how = "and the same body" if bodies else "(bodies vary even between random names, so only statuses count)"
        return decide(Verdict.ENFORCED, f"indistinguishable: HTTP {mine[0]} {how} for {who} and {len(names)} "
                                        "random names; timing not judged")
    second = await send(known)
    again = fingerprint(second, [known, wrong])
    if (again if bodies else again[0]) != (mine if bodies else mine[0]):
        return decide(Verdict.INCONCLUSIVE, f"the answer for {who} changed between two identical requests")
    what = (f"HTTP {mine[0]} for {who} but HTTP {prints[0][0]} for random names" if mine[0] != prints[0][0]
            else f"HTTP {mine[0]} for all, but a different body for {who} than for random names")
    cell = ctx.cell(ENUM, op, Relation.ANONYMOUS, Verdict.LEAK, f"{what}, the same twice", "anonymous", who)
    summary = (f"{op.key} answers {what} (same wrong password, names and echoes masked; {len(names)} random names, "
               f"{who} twice): anyone can tell which accounts exist")
    ctx.decide(cell, ctx.finding(cell, summary, [(f"existing account {who}", first),
                                                 ("random name, same password", unknown[0])]))


def _reset_spec(plan: Plan) -> RequestSpec | None:
    """The password_reset request :func:`_reset` compares, when it names the user."""
    flow = plan.flows.get("password_reset")
    spec = flow[0] if isinstance(flow, list) and flow else flow
    named = isinstance(spec, RequestSpec) and re.search(r"\{(user|username|email)\}",
                                                         json.dumps(spec.model_dump(by_alias=True)))
    return spec if named and isinstance(spec, RequestSpec) else None


def user_enum_bound(plan: Plan, model: ApiModel) -> RunBound:
    """:data:`NAMES` random names, the account once and, to prove a difference, twice (anonymous, no retry);
    as many again on a ``password_reset`` flow that names the user. Intrusive mode and a sacrificial login only."""
    logins = plan_sacrificial_logins(plan)
    place = plan_spec_key(plan, logins[0].spec, model) if logins else plan_login_key(plan, model)
    if place is None:
        return RunBound(skip="no identity logs in: no login to compare answers on")
    why = ("intrusive mode only: failed logins add up towards the account's lockout" if plan.safety.mode != "intrusive"
           else None if logins else "needs a sacrificial identity whose login body names a user and a password")
    if logins and random_names(logins[0].username, random.Random(0)) is None:
        why = "the user name is a number: a random one could be someone's account"
    if why or not logins:
        return RunBound(skip=why or "no login", place=place)
    each = NAMES + 2
    reset = _reset_spec(plan)
    requests = each + (each if reset else 0)
    writes = each * writing(logins[0].spec) + (each * writing(reset) if reset else 0)
    return RunBound(requests, writes, place=place)


def no_throttle_bound(plan: Plan, model: ApiModel) -> RunBound:
    """``safety.login_attempts`` wrong passwords (anonymous, no retry), then a re-login and one request in the
    identity's session (a 401 there: a login and the resend). Intrusive mode and a sacrificial login only."""
    logins = plan_sacrificial_logins(plan)
    place = plan_spec_key(plan, logins[-1].spec, model) if logins else plan_login_key(plan, model)
    if place is None:
        return RunBound(skip="no identity logs in: no login to guess on")
    if plan.safety.mode != "intrusive" or not logins:
        return RunBound(skip=("intrusive mode only: repeated failed logins may lock the account"
                              if plan.safety.mode != "intrusive"
                              else "needs a sacrificial identity whose login body names a user and a password"),
                        place=place)
    login, limit = logins[-1], plan.safety.login_attempts
    verify = login.ident.verify
    return RunBound(limit + 1 + call_cost(login.ident),
                    limit * writing(login.spec) + (send_cost(login.ident) if verify and writing(verify) else 0),
                    place=place)


@registry.register(ENUM, per="run", bound=user_enum_bound)
async def user_enum(ctx: RestContext) -> None:
    """Login (and password reset) answers tell an existing account from a random name."""
    logins = sacrificial_logins(ctx)
    op = spec_op(ctx, logins[0].spec) if logins else any_login_op(ctx)
    if op is None or not ctx.wanted(ENUM, op, Relation.ANONYMOUS):
        return
    why = ("intrusive mode only: failed logins add up towards the account's lockout" if ctx.mode != "intrusive"
           else None if logins else "needs a sacrificial identity whose login body names a user and a password")
    login = logins[0] if logins else None
    names = random_names(login.username, random.Random(f"iotvet:{ENUM}:{ctx.plan.safety.seed}")) if login else None
    if login is not None and names is None:
        why = "the user name is a number: a random one could be someone's account"
    if why or login is None or names is None:
        ctx.decide(ctx.cell(ENUM, op, Relation.ANONYMOUS, Verdict.NOT_TESTED, why or "no login"))
        return
    wrong = f"iotvet-{random.Random(f'iotvet:{ENUM}:pw:{ctx.plan.safety.seed}').randrange(16**12):012x}"

    async def by_login(user: str) -> View:
        return await login.attempt(ctx, user, wrong, f"probe:{ENUM}")

    await _compare(ctx, op, login, login.username, names, wrong, by_login)
    await _reset(ctx, login, wrong)


async def _reset(ctx: RestContext, login: Login, wrong: str) -> None:
    flow = ctx.plan.flows.get("password_reset")
    spec = flow[0] if isinstance(flow, list) and flow else flow
    if not isinstance(spec, RequestSpec):
        return
    op = spec_op(ctx, spec)
    if not ctx.wanted(ENUM, op, Relation.ANONYMOUS):
        return
    text = json.dumps(spec.model_dump(by_alias=True))
    known = login.username
    if "{email}" in text and "@" not in known:
        emails = sorted(ctx.inventory.profile.get(login.ident.name, {}).get("email", set()))
        known = emails[0] if emails else ""
    names = random_names(known, random.Random(f"iotvet:{ENUM}:reset:{ctx.plan.safety.seed}")) if known else None
    if not re.search(r"\{(user|username|email)\}", text) or names is None:
        ctx.decide(ctx.cell(ENUM, op, Relation.ANONYMOUS, Verdict.NOT_TESTED,
                            "the password_reset flow names no {user} (or no e-mail of the identity is known)"))
        return

    async def by_reset(user: str) -> View:
        return View(await ctx.sessions["anonymous"].request(
            spec.method, _fill(spec.path, quote(user, safe="@")),
            json_body=_fill(spec.json_body, user), form=_fill(spec.form, user), headers=dict(spec.headers) or None,
            query=_fill(dict(spec.query), user) or None, purpose=f"probe:{ENUM}", retry=False))

    await _compare(ctx, op, login, known, names, wrong, by_reset)


async def _session_works(ctx: RestContext, login: Login) -> View | None:
    """The identity's verify request (else its first plain read) with its current session, or None."""
    ident, session = login.ident, ctx.sessions[login.ident.name]
    if ident.verify is not None:
        v = ident.verify
        view = View(await session.request(v.method, v.path, json_body=v.json_body, form=v.form,
                                          headers=dict(v.headers) or None, query=dict(v.query) or None,
                                          purpose=f"control:{THROTTLE}"))
        return view if view.status == v.status else None
    for op in ctx.model.operations:
        if op.method == "GET" and not op.path_params and op.secured:
            view = await ctx.call(ident.name, op, {}, purpose=f"control:{THROTTLE}")
            return view if view.ok else None
    return None


def _until(view: View | None) -> str:
    after = view.exchange.response.header("Retry-After") if view and view.exchange.response else None
    if after and after.strip().isdigit():
        when = datetime.fromtimestamp(time.time() + int(after), UTC).strftime("%H:%M:%SZ")
        return f" until about {when} (Retry-After: {after.strip()} s)"
    return " for as long as the provider's lockout lasts"


@registry.register(THROTTLE, per="run", bound=no_throttle_bound)
async def no_throttle(ctx: RestContext) -> None:
    """Failed logins for one account are never slowed down, refused or locked (intrusive, sacrificial)."""
    logins = sacrificial_logins(ctx)
    login = logins[-1] if logins else None
    op = spec_op(ctx, login.spec) if login else any_login_op(ctx)
    if op is None or not ctx.wanted(THROTTLE, op, Relation.ANONYMOUS):
        return
    if ctx.mode != "intrusive" or login is None:
        why = ("intrusive mode only: repeated failed logins may lock the account" if ctx.mode != "intrusive"
               else "needs a sacrificial identity whose login body names a user and a password")
        ctx.decide(ctx.cell(THROTTLE, op, Relation.ANONYMOUS, Verdict.NOT_TESTED, why))
        return
    who, limit = login.ident.name, ctx.plan.safety.login_attempts
    rng = random.Random(f"iotvet:{THROTTLE}:{ctx.plan.safety.seed}")
    statuses: Counter[str] = Counter()
    elapsed: list[float] = []
    first: tuple[int | None, str] | None = None
    sign, last = None, None
    for attempt in range(1, limit + 1):
        wrong = f"iotvet-{rng.randrange(16**12):012x}"
        last = await login.attempt(ctx, login.username, wrong, f"probe:{THROTTLE}")
        if last.exchange.response is None:
            sign = f"no answer at failed login {attempt} ({last.exchange.error})"
            break
        statuses[f"HTTP {last.status}"] += 1
        elapsed.append(last.exchange.elapsed)
        mine = fingerprint(last, [login.username, wrong])
        first = first or mine
        if (found := throttle_sign(last, mine, first)) is not None:
            sign = f"failed login {attempt} of at most {limit}: {found}"
            break
    sign = sign or (f"after {len(elapsed)} failed logins: {slow}" if (slow := slowed(elapsed)) else None)
    measured = figures(statuses, elapsed)

    def decide(verdict: Verdict, reason: str) -> None:
        ctx.decide(ctx.cell(THROTTLE, op, Relation.ANONYMOUS, verdict, reason, "anonymous", who))

    if sign is not None:
        live = await _session_works(ctx, login)
        state = "still works" if live else f"no longer works: {who} is reported locked"
        ctx.memo[("locked", who)] = sign
        verdict = Verdict.INCONCLUSIVE if sign.startswith("no answer") else Verdict.ENFORCED
        return decide(verdict, f"throttled at {sign} ({measured}). The sacrificial account {who} may now be "
                               f"locked{_until(last)}; its current session {state}")
    refused = await ctx.sessions[who].relogin()
    proof = None if refused else await _session_works(ctx, login)
    if refused or proof is None:
        ctx.memo[("locked", who)] = refused or "login refused"
        return decide(Verdict.ENFORCED, f"{limit} failed logins showed no throttling ({measured}), but the correct "
                                        f"password was then refused ({refused or 'its session does not work'}): "
                                        f"the account is locked without saying so; {who} is reported locked")
    cell = ctx.cell(THROTTLE, op, Relation.ANONYMOUS, Verdict.LEAK,
                    f"{limit} failed logins, none throttled ({measured}); the correct password still logged in",
                    "anonymous", who)
    summary = (f"EN 303 645 5.1-5 figures: {limit} wrong passwords for {who} in a row, none throttled, refused as "
               f"locked or slowed down ({measured}); then the correct password logged in and the new session works "
               f"(HTTP {proof.status}): nothing stops password guessing")
    ctx.decide(cell, ctx.finding(cell, summary, [(f"failed login {limit}", last or proof),
                                                 ("the new session after the correct login", proof)]))
