"""What login checks share: an identity's login request with its name and password swapped, random
names that belong to no one, answers compared without echoes, and signs of throttling.

Pure except :meth:`Login.attempt`, which sends through the anonymous session (the transport's
scope, rate and budget apply).
"""

from __future__ import annotations

import random
import re
import statistics
import string
from collections import Counter
from dataclasses import dataclass

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.checks.registry import people
from iotvet.checks.rest_context import RestContext, View, norm
from iotvet.plan.schema import Identity, LoginAuth, Plan, RequestSpec

NAMES = 3
_USER_KEYS = ("username", "user", "email", "login", "loginname", "account", "accountname", "userid", "mail", "phone")
_PASS_HINTS = ("password", "passwd", "pass", "pwd", "secret", "pin")
_VOLATILE = re.compile(r"\d{4}-\d\d-\d\d[T ][\d:.]+(?:Z|[+-]\d\d:?\d\d)?|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}"
                       r"|\b[0-9a-fA-F]{16,}\b|\b\d{5,}\b")
_LOCK_WORDS = re.compile(r"too many|locked|lock ?out|try again|temporar|rate.?limit|throttl|captcha|slow down|blocked"
                         r"|suspend", re.IGNORECASE)
THROTTLED = (423, 429, 503)
"""Statuses that say "slow down" or "locked"."""
Fingerprint = tuple[int | None, str]


@dataclass(frozen=True)
class Login:
    """An identity's login request and the body fields that carry its name and password."""

    ident: Identity
    spec: RequestSpec
    user_field: str
    pass_field: str
    username: str

    async def attempt(self, ctx: RestContext, user: str, password: str, purpose: str) -> View:
        """The login request with ``user`` and ``password`` in place, sent without credentials."""
        body = dict(self.spec.json_body if isinstance(self.spec.json_body, dict) else self.spec.form or {})
        body[self.user_field], body[self.pass_field] = user, password
        as_json = isinstance(self.spec.json_body, dict)
        return View(await ctx.sessions["anonymous"].request(
            self.spec.method, self.spec.path, json_body=body if as_json else None,
            form=None if as_json else {k: str(v) for k, v in body.items()}, headers=dict(self.spec.headers) or None,
            query=dict(self.spec.query) or None, purpose=purpose, retry=False))


def find_login(ident: Identity) -> Login | None:
    """The identity's login with recognisable name and password fields in a flat body, or None."""
    auth = ident.auth
    if not isinstance(auth, LoginAuth):
        return None
    body = auth.request.json_body if isinstance(auth.request.json_body, dict) else auth.request.form
    if not body:
        return None
    secret = next((k for k in body if any(h in norm(k) for h in _PASS_HINTS)), None)
    user = next((k for k in body if norm(k) in _USER_KEYS and isinstance(body[k], str) and k != secret), None)
    if secret is None or user is None:
        return None
    return Login(ident, auth.request, user, secret, str(body[user]))


def random_names(username: str, rng: random.Random, count: int = NAMES) -> list[str] | None:
    """Names shaped like ``username`` (an e-mail keeps its domain) that belong to no one; None for numbers."""
    if re.fullmatch(r"[+\d\s().-]+", username):
        return None
    out = []
    for _ in range(count):
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(18))
        if "@" in username:
            out.append(f"{word}@{username.rsplit('@', 1)[1]}")
        else:
            out.append(f"{word[:9]}.{word[9:]}" if "." in username else word)
    return out


def fingerprint(view: View, echoes: list[str]) -> Fingerprint:
    """Status and body, with the names and password sent and volatile values (ids, times) masked."""
    text = view.text
    for echo in sorted({e for e in echoes if len(e) >= 3}, key=len, reverse=True):
        text = re.sub(re.escape(echo), "<echo>", text, flags=re.IGNORECASE)
    return view.status, _VOLATILE.sub("<v>", text)[:4096]


def spec_op(ctx: RestContext, spec: RequestSpec) -> ApiOperation:
    """The API operation a plan request names (its path relative to ``target.base_url``)."""
    base, path = ctx.sessions["anonymous"].base_url, spec.path
    if base and path.startswith(base):
        path = path[len(base):] or "/"
    return ctx.model.find(spec.method, path) or ApiOperation(method=spec.method, path=path)


def sacrificial_logins(ctx: RestContext) -> list[Login]:
    """Logins of sacrificial identities, by name."""
    found = [find_login(i) for i in sorted(ctx.identities.values(), key=lambda i: i.name) if i.sacrificial]
    return [x for x in found if x is not None]


def any_login_op(ctx: RestContext) -> ApiOperation | None:
    """The login operation of the first identity (by name) that logs in, for not-tested cells."""
    for ident in sorted(ctx.identities.values(), key=lambda i: i.name):
        if isinstance(ident.auth, LoginAuth):
            return spec_op(ctx, ident.auth.request)
    return None


def slowed(elapsed: list[float]) -> str | None:
    """A growing delay (tarpit): the last answers at least 4x and 1 s slower than the first ones."""
    if len(elapsed) < 6:
        return None
    early, late = statistics.median(elapsed[:3]), statistics.median(elapsed[-3:])
    return f"answers slowed from {early:.2f}s to {late:.2f}s" if late >= max(1.0, 4 * early) else None


def throttle_sign(view: View, mine: Fingerprint, first: Fingerprint) -> str | None:
    """What in one failed-login answer shows throttling or a lock, or None."""
    resp = view.exchange.response
    if resp is None:
        return None
    if resp.status in THROTTLED:
        return f"HTTP {resp.status}"
    if resp.header("Retry-After"):
        return f"Retry-After: {resp.header('Retry-After')}"
    if view.exchange.parent is not None:
        return "the transport was told to retry (HTTP 429/503)"
    if mine != first:
        return "a lockout message" if _LOCK_WORDS.search(view.text) else f"the answer changed at HTTP {resp.status}"
    return None


def figures(statuses: Counter[str], elapsed: list[float]) -> str:
    """Counts and latencies of the failed logins, as evidence."""
    seen = ", ".join(f"{k} x{n}" for k, n in sorted(statuses.items()))
    if not elapsed:
        return f"answers {seen}"
    return (f"answers {seen}; median latency {statistics.median(elapsed[:3]):.3f}s (first 3), "
            f"{statistics.median(elapsed[-3:]):.3f}s (last 3), {sum(elapsed):.1f}s in all")


def plan_sacrificial_logins(plan: Plan) -> list[Login]:
    """:func:`sacrificial_logins` from the plan alone (for the dry run)."""
    found = [find_login(i) for i in people(plan) if i.sacrificial]
    return [x for x in found if x is not None]


def plan_spec_key(plan: Plan, spec: RequestSpec, model: ApiModel) -> str:
    """The operation key :func:`spec_op` gives a plan request, from the plan alone."""
    base, path = plan.target.base_url if plan.target else "", spec.path
    if base and path.startswith(base):
        path = path[len(base):] or "/"
    op = model.find(spec.method, path)
    return op.key if op is not None else f"{spec.method} {path}"


def plan_login_key(plan: Plan, model: ApiModel) -> str | None:
    """The operation key :func:`any_login_op` gives, from the plan alone (None: no identity logs in)."""
    ident = next((i for i in people(plan) if isinstance(i.auth, LoginAuth)), None)
    return plan_spec_key(plan, ident.auth.request, model) if ident is not None and isinstance(
        ident.auth, LoginAuth) else None
