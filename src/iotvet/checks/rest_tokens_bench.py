"""The proving ground the token checks share: one request, one victim's data, two controls.

The request is an identity's ``verify`` request from the plan (a ``GET``; else the API's
profile-like operation), so its answer holds that identity's own private values and only an
authenticated identity can read it. Cells are reported on the operation it matches.

The victim V is a plan identity that presents a JWT; the attacker A, whose token is the forger's
raw material, is another one (another tenant when the plan has one). Before any forgery:

* positive control: V's real token, placed where V's credential goes, returns V's data
  (1 request; after a refused answer, one fresh login and 1 more);
* negative control: a token naming nobody, with a garbage signature of the wrong length, must
  not return V's data (1 request), or the request is not authenticated by its token at all.

A forged answer leaks only when it holds values of V's own answer that A's own answers, the
anonymous answers, public data and the forged token itself do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.checks.oracle import ReadDecision, judge_read
from iotvet.checks.registry import RunBound, bears_token, people, refreshable
from iotvet.checks.relations import role_rank
from iotvet.checks.rest_context import RestContext, View
from iotvet.checks.rest_tokens_forge import Claims, Jwt, claim_values, nobody_token, parse
from iotvet.core.records import Verdict
from iotvet.plan.schema import Identity, Plan

MAX_VICTIMS = 2
_PROFILE = re.compile(r"/(me|self|profile|user|account|userinfo|whoami|current[-_]?user)/?$", re.IGNORECASE)
_MEMO = "jwt-bench"


@dataclass(frozen=True, slots=True)
class Ask:
    """The oracle request: method, path, query and headers (the verify request's own)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Skip:
    """Why the token checks cannot be decided on this target, and the verdict that says so."""

    verdict: Verdict
    reason: str


@dataclass
class Bench:
    """Everything a token check needs to forge, present and judge."""

    op: ApiOperation
    ask: Ask
    victim: str
    attacker: str
    victim_token: str
    victim_jwt: Jwt
    attacker_jwt: Jwt
    own_view: View
    private: set[str]


def _verify_ask(ident: Identity) -> Ask | None:
    spec = ident.verify
    if spec is None or spec.method != "GET" or spec.json_body is not None or spec.form is not None:
        return None
    return Ask(spec.method, spec.path, dict(spec.query), dict(spec.headers))


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _match(ctx: RestContext, ask: Ask) -> ApiOperation:
    path = ask.path.split("?", 1)[0]
    base = ctx.sessions["anonymous"].base_url
    if base and path.startswith(base):
        path = path[len(base):] or "/"
    for op in ctx.model.operations:
        if op.method == ask.method and _template(op.path).fullmatch(path):
            return op
    return ApiOperation(method=ask.method, path=path)


def oracle(ctx: RestContext) -> tuple[ApiOperation, Ask | None]:
    """The operation token cells are reported on, and the request that decides them (no request sent)."""
    for name in sorted(ctx.identities):
        ask = _verify_ask(ctx.identities[name])
        if ask is not None:
            return _match(ctx, ask), ask
    reads = [op for op in ctx.model.operations if op.method == "GET" and not op.path_params]
    for op in reads:
        if _PROFILE.search(op.path):
            return op, Ask("GET", op.path)
    return (reads[0] if reads else ApiOperation(method="GET", path="/")), None


def _ask_for(ctx: RestContext, ident: Identity, chosen: Ask) -> Ask:
    own = _verify_ask(ident)
    return own if own is not None and (own.method, own.path) == (chosen.method, chosen.path) else chosen


def unusable(view: View) -> str | None:
    """Why a forged or control answer cannot be judged; a redirect (to a login page) is a refusal."""
    if view.status is not None and 300 <= view.status < 400:
        return None
    return view.unusable


async def present(ctx: RestContext, victim: str, ask: Ask, token: str, purpose: str) -> View:
    """Send the oracle request with ``token`` placed where ``victim``'s credential goes (no login, no retry)."""
    exchange = await ctx.sessions[victim].request(ask.method, ask.path, query=ask.query or None,
                                                  headers=ask.headers or None, token=token, purpose=purpose)
    return View(exchange)


def judge(bench: Bench, view: View, claims: Claims | None) -> ReadDecision:
    """Whether ``view`` holds V's private values (those the forged claims themselves carry excluded)."""
    private = bench.private - claim_values(claims) if claims else bench.private
    return judge_read(view.json, private, set(), view.text)


async def _jwt_of(ctx: RestContext, name: str) -> tuple[str, Jwt] | None:
    token = await ctx.sessions[name].token()
    parsed = parse(token)
    return (token, parsed) if token and parsed else None


async def _own_view(ctx: RestContext, name: str, ask: Ask, token: str) -> tuple[View, str]:
    view = await present(ctx, name, ask, token, "control:jwt-own-token")
    session = ctx.sessions[name]
    refused = (not view.ok or not view.values()) and view.status in (401, 403)
    if refused and session.refreshable and await session.relogin() is None:  # revoked by an earlier flow?
        fresh = await session.token()
        if fresh and fresh != token:
            return await present(ctx, name, ask, fresh, "control:jwt-own-token"), fresh
    return view, token


async def bench(ctx: RestContext) -> Bench | Skip:
    """The shared setup, built once per run (memoised in ``ctx.memo``)."""
    cached = ctx.memo.get(_MEMO)
    if isinstance(cached, Bench | Skip):
        return cached
    made = await _build(ctx)
    ctx.memo[_MEMO] = made
    return made


async def _build(ctx: RestContext) -> Bench | Skip:
    op, chosen = oracle(ctx)
    if chosen is None:
        return Skip(Verdict.NOT_TESTED, "no identity has a GET verify request and the API has no profile-like "
                                        "read (/me, /profile ...) to present forged tokens to")
    people = sorted(ctx.identities.values(), key=lambda i: (i.sacrificial, i.name))
    tokens: dict[str, tuple[str, Jwt]] = {}
    opaque = []
    for ident in people:
        found = await _jwt_of(ctx, ident.name)
        if found is not None:
            tokens[ident.name] = found
        elif await ctx.sessions[ident.name].token():
            opaque.append(ident.name)
    if not tokens:
        why = (f"identities present opaque (non-JWT) tokens ({', '.join(opaque)})" if opaque
               else "no identity presents a token (login, OAuth2 or bearer credential)")
        return Skip(Verdict.NOT_TESTED, why)
    victims = [v for v in people if v.name in tokens and role_rank(v) < 4 and v.role != "device"]
    last = Skip(Verdict.NOT_TESTED, f"no identity's own answer to {chosen.method} {chosen.path} holds data "
                                    "private to it")
    for victim in victims[:MAX_VICTIMS]:
        ask = _ask_for(ctx, victim, chosen)
        others = [a for a in people if a.name in tokens and a.name != victim.name]
        attacker = next((a for a in others if a.tenant != victim.tenant), others[0] if others else victim)
        view, token = await _own_view(ctx, victim.name, ask, tokens[victim.name][0])
        if view.unusable or not view.ok:
            last = Skip(Verdict.INCONCLUSIVE, f"{victim.name}'s own token, presented the way forged tokens are, did "
                                              f"not return its data ({view.unusable or f'HTTP {view.status}'})")
            continue
        inv = ctx.inventory
        seen = inv.seen.get(attacker.name, set()) if attacker.name != victim.name else set()
        sent = set(ask.query.values()) | set(ask.headers.values())
        private = view.values() - seen - inv.seen.get("anonymous", set()) - inv.public - sent
        if not private:
            continue
        parsed = parse(token) or tokens[victim.name][1]
        made = Bench(op, ask, victim.name, attacker.name, token, parsed, tokens[attacker.name][1], view, private)
        return await _negative_control(ctx, made)
    return last


async def _negative_control(ctx: RestContext, made: Bench) -> Bench | Skip:
    nobody = nobody_token()
    ctx.redactor.add(nobody, "forged.control")  # no credential, but token-shaped: nothing token-shaped is stored
    view = await present(ctx, made.victim, made.ask, nobody, "control:jwt-invalid-token")
    why = unusable(view)
    if why:
        return Skip(Verdict.INCONCLUSIVE, f"negative control (a token naming nobody): {why}")
    if judge(made, view, None).leaked:
        return Skip(Verdict.INCONCLUSIVE,
                    f"{made.ask.method} {made.ask.path} answered {made.victim}'s data to a token naming nobody with a "
                    f"garbage signature (HTTP {view.status}): the request is not authenticated by its token")
    return made


def describe(values: Any) -> str:
    """A short sample of leaked values for a summary line."""
    return ", ".join(sorted(str(v) for v in values)[:3])


def oracle_place(plan: Plan, model: ApiModel) -> str | None:
    """Where token cells go (the operation :func:`oracle` picks, found without a context); None: no oracle."""
    for ident in people(plan):
        ask = _verify_ask(ident)
        if ask is not None:
            path, base = ask.path.split("?", 1)[0], plan.target.base_url if plan.target else ""
            path = (path[len(base):] or "/") if base and path.startswith(base) else path
            op = next((op for op in model.operations if op.method == ask.method and _template(op.path).fullmatch(path)),
                      None)
            return op.key if op is not None else f"{ask.method} {path}"
    reads = [op for op in model.operations if op.method == "GET" and not op.path_params]
    return next((op.key for op in reads if _PROFILE.search(op.path)), None)


def bench_bound(plan: Plan, model: ApiModel, tries: int) -> RunBound:
    """A token check's worst case: the shared bench (see the module docstring) and ``tries`` presentations.

    Bench: a login per login or OAuth2 identity (its token, when it expired), then per victim (at
    most :data:`MAX_VICTIMS`) its own token, a re-login and its fresh token, then 1 negative control.
    Forged tokens go out with ``token=``: no login, no resend after a 401.
    """
    place = oracle_place(plan, model)
    if place is None:
        return RunBound(skip="no identity has a GET verify request and the API has no profile-like read (/me, "
                             "/profile ...) to present forged tokens to")
    holders = [i for i in people(plan) if bears_token(i)]
    if not holders:
        return RunBound(skip="no identity presents a token (login, OAuth2 or bearer credential)", place=place)
    victims = min(MAX_VICTIMS, sum(role_rank(i) < 4 and i.role != "device" for i in holders))
    bench_cost = sum(refreshable(i) for i in holders) + (3 * victims + 1 if victims else 0)
    return RunBound(bench_cost + (tries if victims else 0), place=place, shared=(("jwt-* bench", bench_cost, 0),))
