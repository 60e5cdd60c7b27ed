"""How a token check presents its forgeries and turns answers into cells and findings.

Shared by :mod:`iotvet.checks.rest_tokens` and :mod:`iotvet.checks.rest_tokens_keys`: each try is
taught to the redactor before it is sent; the first that returns the victim's private data
decides a leak; an attribution control (the same token signed with a wrong key) tells a flaw of
key selection from a server that checks no signature at all.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from iotvet.checks.oracle import ReadDecision
from iotvet.checks.rest_context import RestContext, View
from iotvet.checks.rest_tokens_bench import Bench, Skip, bench, describe, judge, oracle, present, unusable
from iotvet.checks.rest_tokens_forge import Claims, crack, impersonate, wordlist
from iotvet.core.records import Relation, Verdict

ANON = Relation.ANONYMOUS
KEY_PATH = re.compile(r"jwks|/\.well-known/|/keys/?$|/certs/?$|public[-_]?key|\.pem$", re.IGNORECASE)
"""Paths of an API that publish public keys."""


@dataclass(frozen=True, slots=True)
class Try:
    """One token to present: what it is (for reasons and evidence), the token, and the claims it carries."""

    label: str
    token: str
    claims: Claims


@dataclass
class Outcome:
    """The first accepted try, or the reason no try was."""

    verdict: Verdict
    reason: str
    hit: Try | None = None
    view: View | None = None
    decision: ReadDecision | None = None


async def attempt(ctx: RestContext, b: Bench, check: str, tries: list[Try]) -> Outcome:
    """Teach the redactor each token, present it, and stop at the first that returns V's data."""
    refused: list[str] = []
    unclear: list[str] = []
    for t in tries:
        ctx.redactor.add(t.token, f"forged.{check}")
        view = await present(ctx, b.victim, b.ask, t.token, f"probe:{check}")
        why = unusable(view)
        if why:
            unclear.append(f"{t.label}: {why}")
            continue
        decision = judge(b, view, t.claims)
        if decision.leaked:
            return Outcome(Verdict.LEAK, f"HTTP {view.status} for {t.label}: {decision.reason}", t, view, decision)
        if not decision.decided:
            unclear.append(f"{t.label}: {decision.reason}")
            continue
        refused.append(f"HTTP {view.status} for {t.label}")
    if unclear:
        return Outcome(Verdict.INCONCLUSIVE, "; ".join(unclear))
    return Outcome(Verdict.ENFORCED, "; ".join(refused) + f"; no value private to {b.victim} in the answer")


def decide_cell(ctx: RestContext, b: Bench, check: str, verdict: Verdict, reason: str) -> None:
    """Report the check's cell (no finding) on the bench's operation."""
    ctx.decide(ctx.cell(check, b.op, ANON, verdict, reason, b.attacker, b.victim))


def leak(ctx: RestContext, b: Bench, check: str, out: Outcome, summary: str) -> None:
    """Report a leaking cell with its finding: the forged exchange and the victim's own view as evidence."""
    assert out.view is not None and out.decision is not None
    cell = ctx.cell(check, b.op, ANON, Verdict.LEAK, out.reason, b.attacker, b.victim)
    text = (f"{summary} The answer holds {len(out.decision.leaked)} value(s) that only {b.victim}'s own view of "
            f"{b.ask.method} {b.ask.path} has, e.g. {describe(out.decision.leaked)}.")
    ctx.decide(cell, ctx.finding(cell, text, [("forged token: request and answer", out.view),
                                              (f"{b.victim}'s own view (its real token)", b.own_view)]))


async def masked(ctx: RestContext, b: Bench, check: str, control: Try) -> bool:
    """Attribution: True when the same token signed with a wrong key is accepted too."""
    ctx.redactor.add(control.token, f"forged.{check}.control")
    view = await present(ctx, b.victim, b.ask, control.token, f"control:{check}")
    return unusable(view) is None and bool(judge(b, view, control.claims).leaked)


async def run_check(ctx: RestContext, check: str, body: Callable[[Bench], Awaitable[None]]) -> None:
    """Skip settled cells, honour the plan's policy, build the bench (once per run), then run ``body``."""
    op, _ = oracle(ctx)
    if not ctx.wanted(check, op, ANON):
        return
    allowed = ctx.policy_allows(op, ANON)
    if allowed:
        ctx.decide(ctx.cell(check, op, ANON, Verdict.NOT_TESTED, allowed))
        return
    b = await bench(ctx)
    if isinstance(b, Skip):
        ctx.decide(ctx.cell(check, op, ANON, b.verdict, b.reason))
        return
    await body(b)


def forged(b: Bench, check: str) -> tuple[Claims, str]:
    """A's claims naming V, and how they were made (for summaries)."""
    claims, changed = impersonate(b.attacker_jwt.claims, b.victim_jwt.claims, check)
    if b.attacker == b.victim:
        return claims, f"{b.victim}'s own claims (the plan has no second identity with a token)"
    return claims, f"{b.attacker}'s claims with {', '.join(changed) or 'nothing'} set to {b.victim}'s"


def cracked(ctx: RestContext, b: Bench) -> int | None:
    """The wordlist index of the HMAC key of A's token (offline, computed once per run)."""
    key = ("jwt-crack", b.attacker)
    if key not in ctx.memo:
        ctx.memo[key] = crack(b.attacker_jwt, wordlist())
    found = ctx.memo[key]
    return found if isinstance(found, int) else None


def signing_key(ctx: RestContext, b: Bench) -> bytes | None:
    """The cracked key, taught to the redactor before any token it signs is sent; None when not found."""
    index = cracked(ctx, b)
    if index is None:
        return None
    word = wordlist()[index]
    ctx.redactor.add(word, "cracked.jwt-key")
    return word.encode()


def no_key(b: Bench) -> str:
    """Why no signing key is known (a reason clause)."""
    alg = b.attacker_jwt.alg
    if b.attacker_jwt.symmetric:
        return f"no signing key is known (the {alg} key is none of the {len(wordlist())} built-in wordlist entries)"
    return f"no signing key is known (tokens are signed with {alg}, an asymmetric algorithm)"


def header_of(b: Bench) -> dict[str, object]:
    """The header of a re-signed token: A's algorithm and key id."""
    head: dict[str, object] = {"alg": b.attacker_jwt.alg, "typ": "JWT"}
    if "kid" in b.attacker_jwt.header:
        head["kid"] = b.attacker_jwt.header["kid"]
    return head


