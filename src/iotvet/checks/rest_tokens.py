"""Token checks (run once per probe): forged, altered, re-signed and expired JWTs.

Every forgery names a victim V (a plan identity) and is built from the attacker A's own token;
it is presented on V's verify request, placed where V's credential goes, and judged by V's own
data (see :mod:`iotvet.checks.rest_tokens_bench` for the request and its two controls). Every
token that could work is taught to the redactor before it is sent; a cracked key too, and no
output names it (findings give its wordlist entry number). The checks only read.

Requests, at most. The shared bench, sent once per run: V's own token (1, or 2 when it was
revoked and a fresh login is needed) for each of up to 2 victims, then 1 negative control: 5.

=====================  =================================================================
jwt-none               3: alg ``none``, ``None``, ``NONE``; stops at the first accepted
jwt-unverified         2: A's signature transplanted onto V's claims; signature stripped
jwt-weak-key           1: none per guess (offline over a built-in wordlist), 1 to confirm
jwt-claim-swap         1: A's subject with V's tenant/role/group claims, re-signed
jwt-expired            1: V's claims with exp an hour ago, re-signed with the cracked key; or,
                       with no key, V's own token ``EXPIRY_SKEW`` s after its exp when that
                       is at most ``EXPIRY_WAIT`` s away
jwt-alg-confusion      4 key fetches (in scope only) + 6 HS256 tokens keyed with the public
                       key's PEM forms + 1 attribution control
jwt-header-injection   3: kid traversal to /dev/null, embedded jwk, kid SQL-ish (intrusive only); + 1 control
=====================  =================================================================

The whole family therefore sends at most 28 requests (logins aside), whatever the wordlist's
length; against the lab it sends 9 to 13.
"""

from __future__ import annotations

import asyncio
import time

from iotvet.api.model import ApiModel
from iotvet.checks import rest_tokens_keys  # registers jwt-alg-confusion and jwt-header-injection
from iotvet.checks.registry import RunBound, registry
from iotvet.checks.rest_context import RestContext
from iotvet.checks.rest_tokens_bench import Bench, bench_bound
from iotvet.checks.rest_tokens_forge import (
    NONE_SPELLINGS,
    expired,
    none_token,
    sign,
    swap_security,
    transplant,
    unsigned,
    wordlist,
)
from iotvet.checks.rest_tokens_try import (
    Try,
    attempt,
    cracked,
    decide_cell,
    forged,
    header_of,
    leak,
    no_key,
    run_check,
    signing_key,
)
from iotvet.core.records import Verdict
from iotvet.plan.schema import Plan

EXPIRY_WAIT = 90.0
"""Longest wait (s) for a token of V to expire when no key can re-sign an expired one."""
EXPIRY_SKEW = 60.0
"""Clock skew (s) a server may allow past exp: an expired token is presented only after it."""


def none_bound(plan: Plan, model: ApiModel) -> RunBound:
    """jwt-none: the bench and one token per spelling of ``none``."""
    return bench_bound(plan, model, len(NONE_SPELLINGS))


def unverified_bound(plan: Plan, model: ApiModel) -> RunBound:
    """jwt-unverified: the bench, a transplanted and a stripped signature."""
    return bench_bound(plan, model, 2)


def one_try_bound(plan: Plan, model: ApiModel) -> RunBound:
    """jwt-weak-key, jwt-claim-swap, jwt-expired: the bench and one re-signed (or expired) token."""
    return bench_bound(plan, model, 1)


@registry.register("jwt-none", per="run", bound=none_bound)
async def jwt_none(ctx: RestContext) -> None:
    """An unsigned token (alg none) naming the victim is accepted."""
    check = "jwt-none"

    async def body(b: Bench) -> None:
        claims, how = forged(b, check)
        tries = [Try(f"alg={s} token", none_token(claims, s), claims) for s in NONE_SPELLINGS]
        out = await attempt(ctx, b, check, tries)
        if out.verdict is Verdict.LEAK and out.hit:
            leak(ctx, b, check, out,
                 f"An unsigned token ({out.hit.label}, no signature) carrying {how} was accepted as {b.victim}.")
        else:
            decide_cell(ctx, b, check, out.verdict, out.reason)

    await run_check(ctx, check, body)


@registry.register("jwt-unverified", per="run", bound=unverified_bound)
async def jwt_unverified(ctx: RestContext) -> None:
    """A token naming the victim with an altered or stripped signature is accepted."""
    check = "jwt-unverified"

    async def body(b: Bench) -> None:
        claims, how = forged(b, check)
        head, alg = dict(b.attacker_jwt.header), b.attacker_jwt.alg
        signature = b.attacker_jwt.signature or bytes(32)
        tries = [Try(f"{alg} token with another token's signature", transplant(head, claims, signature), claims),
                 Try(f"{alg} token with its signature stripped", unsigned(head, claims), claims)]
        out = await attempt(ctx, b, check, tries)
        if out.verdict is Verdict.LEAK and out.hit:
            leak(ctx, b, check, out, f"An {out.hit.label}, carrying {how}, was accepted as {b.victim}.")
        else:
            decide_cell(ctx, b, check, out.verdict, out.reason)

    await run_check(ctx, check, body)


@registry.register("jwt-weak-key", per="run", bound=one_try_bound)
async def jwt_weak_key(ctx: RestContext) -> None:
    """The HMAC signing key is in a wordlist (found offline); a token it signs for the victim is accepted."""
    check = "jwt-weak-key"

    async def body(b: Bench) -> None:
        alg = b.attacker_jwt.alg
        if not b.attacker_jwt.symmetric:
            decide_cell(ctx, b, check, Verdict.NOT_TESTED,
                        f"tokens are signed with {alg}: a wordlist applies to HMAC keys only")
            return
        key, index = signing_key(ctx, b), cracked(ctx, b)
        if key is None or index is None:
            decide_cell(ctx, b, check, Verdict.ENFORCED,
                        f"the {alg} key of {b.attacker}'s token is none of the {len(wordlist())} entries of the "
                        "built-in wordlist (checked offline, no request per guess)")
            return
        claims, how = forged(b, check)
        tries = [Try(f"{alg} token signed with the wordlist key", sign(header_of(b), claims, key), claims)]
        out = await attempt(ctx, b, check, tries)
        entry = f"entry #{index + 1} of the built-in wordlist"
        if out.verdict is Verdict.LEAK:
            leak(ctx, b, check, out,
                 f"The {alg} signing key is {entry} (found offline from {b.attacker}'s own token; the key is not "
                 f"shown). A token carrying {how}, signed with it, was accepted as {b.victim}.")
        elif out.verdict is Verdict.ENFORCED:  # the key is proven weak, its use is not
            decide_cell(ctx, b, check, Verdict.INCONCLUSIVE,
                        f"the {alg} key is {entry}, but a token for {b.victim} signed with it was refused "
                        f"({out.reason})")
        else:
            decide_cell(ctx, b, check, out.verdict, f"the {alg} key is {entry}; {out.reason}")

    await run_check(ctx, check, body)


@registry.register("jwt-claim-swap", per="run", bound=one_try_bound)
async def jwt_claim_swap(ctx: RestContext) -> None:
    """With the key known: the attacker's own subject with the victim's tenant/role/group claims is honoured.

    A token for another *subject* signed with a known key is the jwt-weak-key finding itself; this
    check asks whether the server takes security claims from the token over its own record.
    """
    check = "jwt-claim-swap"

    async def body(b: Bench) -> None:
        key = signing_key(ctx, b)
        if key is None:
            decide_cell(ctx, b, check, Verdict.NOT_TESTED, no_key(b))
            return
        if b.attacker == b.victim:
            decide_cell(ctx, b, check, Verdict.NOT_TESTED, "needs a second identity with a token")
            return
        claims, changed = swap_security(b.attacker_jwt.claims, b.victim_jwt.claims, check)
        if not changed:
            decide_cell(ctx, b, check, Verdict.NOT_TESTED,
                        f"{b.attacker}'s and {b.victim}'s tokens carry no tenant, role or group claim that differs")
            return
        what = f"{b.attacker}'s subject with {', '.join(changed)} set to {b.victim}'s, re-signed with the known key"
        out = await attempt(ctx, b, check, [Try(what, sign(header_of(b), claims, key), claims)])
        if out.verdict is Verdict.LEAK:
            leak(ctx, b, check, out, f"A token with {what} returned {b.victim}'s data: the server authorizes from "
                                     "the token's claims, not from its own record of the account.")
        else:
            decide_cell(ctx, b, check, out.verdict, out.reason)

    await run_check(ctx, check, body)


def _lifetime(claims: dict[str, object]) -> str:
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, int | float) and isinstance(iat, int | float):
        return f"live {int(exp - iat)} s"
    return f"expire more than {int(EXPIRY_WAIT)} s after they are issued"


@registry.register("jwt-expired", per="run", bound=one_try_bound)
async def jwt_expired(ctx: RestContext) -> None:
    """The victim's token is still accepted after its exp."""
    check = "jwt-expired"

    async def body(b: Bench) -> None:
        key = signing_key(ctx, b)
        if key is not None:
            claims = expired(b.victim_jwt.claims, int(time.time()), check)
            tries = [Try(f"{b.victim}'s claims with exp an hour ago, re-signed with the known key",
                         sign(header_of(b), claims, key), claims)]
        else:
            exp = b.victim_jwt.claims.get("exp")
            if not isinstance(exp, int | float):
                decide_cell(ctx, b, check, Verdict.NOT_TESTED,
                            f"{b.victim}'s token carries no exp claim, and {no_key(b)}")
                return
            wait = float(exp) + EXPIRY_SKEW - time.time()
            if wait > EXPIRY_WAIT:
                decide_cell(ctx, b, check, Verdict.NOT_TESTED,
                            f"{b.victim}'s tokens {_lifetime(b.victim_jwt.claims)}, longer than the check waits "
                            f"({int(EXPIRY_WAIT)} s); {no_key(b)}, so none can be re-signed with a past exp")
                return
            await asyncio.sleep(max(0.0, wait))
            tries = [Try(f"{b.victim}'s own token {int(EXPIRY_SKEW)} s after its exp", b.victim_token,
                         b.victim_jwt.claims)]
        out = await attempt(ctx, b, check, tries)
        if out.verdict is Verdict.LEAK and out.hit:
            leak(ctx, b, check, out, f"An expired token ({out.hit.label}) was accepted.")
        else:
            decide_cell(ctx, b, check, out.verdict, out.reason)

    await run_check(ctx, check, body)


__all__ = ["jwt_claim_swap", "jwt_expired", "jwt_none", "jwt_unverified", "jwt_weak_key", "rest_tokens_keys"]
