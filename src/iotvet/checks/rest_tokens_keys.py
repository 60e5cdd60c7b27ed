"""Token checks that attack key selection: RS/ES-to-HS confusion and kid/jwk header injection.

Requests: jwt-alg-confusion fetches at most ``MAX_KEY_FETCHES`` in-scope key documents (the
token header's jku/x5u, key-like operations of the API, the issuer's OpenID configuration,
``/.well-known/jwks.json``), then presents at most ``MAX_KEYS`` x 3 HS256 tokens keyed with a
public key's PEM forms, plus 1 attribution control; jwt-header-injection presents 3 tokens and
1 control. Nothing is fetched or named outside scope: jku/x5u would have to point at a key
server the tester controls inside scope, which a plan cannot name, so they are not sent.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from iotvet.api.model import ApiModel
from iotvet.checks.registry import RunBound, registry
from iotvet.checks.rest_context import RestContext, View
from iotvet.checks.rest_tokens_bench import Bench, bench_bound
from iotvet.checks.rest_tokens_forge import (
    WRONG_KEY,
    hmac_by_hand,
    hmac_secrets,
    jwk_injected,
    kid_tokens,
    public_keys,
    sign,
)
from iotvet.checks.rest_tokens_try import KEY_PATH, Try, attempt, decide_cell, forged, leak, masked, run_check
from iotvet.core.records import Verdict
from iotvet.plan.schema import Plan

MAX_KEY_FETCHES = 4
MAX_KEYS = 2
PEM_FORMS = 3
"""HMAC secrets tried per public key (its PEM forms, see ``hmac_secrets``)."""
_ASYMMETRIC = ("RS", "PS", "ES")
_NO_JKU = ("jku/x5u not sent: they would have to name a key server the tester controls inside scope, and the "
           "plan names none")


def _in_scope(ctx: RestContext, url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("http://", "https://")) and \
        ctx.sessions["anonymous"].http.scope.allows_url(url)


def key_urls(ctx: RestContext, b: Bench) -> list[str]:
    """In-scope places a public key may be published, most specific first."""
    urls: list[str] = []
    for token in (b.attacker_jwt, b.victim_jwt):
        urls += [token.header[h] for h in ("jku", "x5u") if _in_scope(ctx, token.header.get(h))]
    base = ctx.sessions["anonymous"].base_url
    urls += [base + op.path for op in ctx.model.operations
             if op.method == "GET" and not op.path_params and KEY_PATH.search(op.path)]
    issuer = b.attacker_jwt.claims.get("iss")
    if _in_scope(ctx, issuer):
        urls.append(str(issuer).rstrip("/") + "/.well-known/openid-configuration")
    if base:
        parts = urlsplit(base)
        urls += [f"{parts.scheme}://{parts.netloc}/.well-known/jwks.json", base + "/.well-known/jwks.json"]
    return list(dict.fromkeys(u for u in urls if _in_scope(ctx, u)))


async def _fetch(ctx: RestContext, url: str) -> View:
    return View(await ctx.sessions["anonymous"].request("GET", url, purpose="probe:jwt-alg-confusion"))


async def find_keys(ctx: RestContext, b: Bench) -> tuple[list[tuple[Any, bytes | None]], list[str]]:
    """Public keys from at most MAX_KEY_FETCHES in-scope documents, and the URLs tried."""
    queue = key_urls(ctx, b)
    tried: list[str] = []
    kid = b.attacker_jwt.header.get("kid")
    while queue and len(tried) < MAX_KEY_FETCHES:
        url = queue.pop(0)
        tried.append(url)
        view = await _fetch(ctx, url)
        if not view.ok:
            continue
        doc = view.json
        if isinstance(doc, dict) and _in_scope(ctx, doc.get("jwks_uri")) and doc["jwks_uri"] not in tried:
            queue.insert(0, str(doc["jwks_uri"]))
            continue
        keys = public_keys(view.text, str(kid) if kid is not None else None)
        if keys:
            return keys[:MAX_KEYS], tried
    return [], tried


def _form(secret: bytes, raw: bytes | None) -> str:
    if secret == raw:
        return "its PEM as published"
    kind = "PKCS#1 PEM" if b"RSA PUBLIC KEY" in secret else "PEM"
    return kind if secret.endswith(b"\n") else f"{kind} without its final newline"


def confusion_bound(plan: Plan, model: ApiModel) -> RunBound:
    """The bench, the key fetches (anonymous), an HS256 token per key and PEM form, and 1 attribution control."""
    return bench_bound(plan, model, MAX_KEY_FETCHES + MAX_KEYS * PEM_FORMS + 1)


def injection_bound(plan: Plan, model: ApiModel) -> RunBound:
    """The bench, the kid tokens (the SQL-ish one in intrusive mode only), the jwk token and 1 control."""
    return bench_bound(plan, model, (3 if plan.safety.mode == "intrusive" else 2) + 1)


@registry.register("jwt-alg-confusion", per="run", bound=confusion_bound)
async def jwt_alg_confusion(ctx: RestContext) -> None:
    """An RS/ES-signed target accepts HS256 tokens keyed with its own public key."""
    check = "jwt-alg-confusion"

    async def body(b: Bench) -> None:
        alg = b.attacker_jwt.alg
        if not alg.upper().startswith(_ASYMMETRIC):
            decide_cell(ctx, b, check, Verdict.NOT_TESTED,
                        f"tokens are signed with {alg or 'no algorithm'}: there is no public key to confuse with an "
                        "HMAC secret")
            return
        keys, tried = await find_keys(ctx, b)
        if not keys:
            where = ", ".join(tried) if tried else "no in-scope URL"
            decide_cell(ctx, b, check, Verdict.NOT_TESTED, f"no public key found (tried {where})")
            return
        claims, how = forged(b, check)
        head: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
        if "kid" in b.attacker_jwt.header:
            head["kid"] = b.attacker_jwt.header["kid"]
        tries = [Try(f"HS256 token keyed with public key #{n + 1} ({_form(secret, raw)})",
                     hmac_by_hand(head, claims, secret), claims)
                 for n, (key, raw) in enumerate(keys) for secret in hmac_secrets(key, raw)]
        out = await attempt(ctx, b, check, tries)
        if out.verdict is Verdict.LEAK and out.hit:
            control = Try("HS256 token keyed with a wrong secret", hmac_by_hand(head, claims, WRONG_KEY), claims)
            if await masked(ctx, b, check, control):
                decide_cell(ctx, b, check, Verdict.NOT_TESTED,
                            "masked: an HS256 token keyed with a wrong secret is accepted too (the signature is not "
                            "checked: reported under jwt-unverified)")
                return
            leak(ctx, b, check, out, f"The target signs with {alg}, yet an {out.hit.label} carrying {how} was "
                                     f"accepted as {b.victim}.")
        else:
            decide_cell(ctx, b, check, out.verdict, out.reason)

    await run_check(ctx, check, body)


@registry.register("jwt-header-injection", per="run", bound=injection_bound)
async def jwt_header_injection(ctx: RestContext) -> None:
    """A token's own header (kid, jwk) chooses the key that verifies it."""
    check = "jwt-header-injection"

    async def body(b: Bench) -> None:
        claims, how = forged(b, check)
        tries: list[Try] = []
        controls: dict[str, Try] = {}
        for label, header, key in kid_tokens(claims):
            if "UNION" in label and ctx.mode != "intrusive":
                continue  # an injection string reaches the provider's key lookup: intrusive mode only
            tries.append(Try(label, sign(header, claims, key), claims))
            controls[label] = Try(f"{label.split(',')[0]}, signed with a wrong key", sign(header, claims, WRONG_KEY),
                                  claims)
        jwk_label = "ES256 token carrying its own public key in the jwk header"
        tries.append(Try(jwk_label, jwk_injected(claims), claims))
        controls[jwk_label] = Try(f"{jwk_label}, signed with another key", jwk_injected(claims, honest=False),
                                  claims)
        out = await attempt(ctx, b, check, tries)
        if out.verdict is Verdict.LEAK and out.hit:
            if await masked(ctx, b, check, controls[out.hit.label]):
                decide_cell(ctx, b, check, Verdict.NOT_TESTED,
                            f"masked: the {out.hit.label.split(',')[0]} is accepted with a wrong signature too (the "
                            "signature is not checked: reported under jwt-unverified)")
                return
            leak(ctx, b, check, out, f"A {out.hit.label}, carrying {how}, was accepted as {b.victim}.")
        else:
            decide_cell(ctx, b, check, out.verdict, f"{out.reason}; {_NO_JKU}")

    await run_check(ctx, check, body)


__all__ = ["MAX_KEYS", "MAX_KEY_FETCHES", "find_keys", "jwt_alg_confusion", "jwt_header_injection", "key_urls"]
