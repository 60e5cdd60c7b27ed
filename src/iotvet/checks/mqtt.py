"""The MQTT family: verdicts from what the victim's side observed, and the findings they make.

The engine (:mod:`iotvet.probes.mqtt`) runs each test over real connections and reports what
happened as an :class:`Observation`; the check registered under the catalogue id turns it into a
verdict. The oracle is the same everywhere:

* a finding needs the *other side* to observe a unique canary (:data:`Outcome.CANARY`): the
  attacker receives the victim's, or the victim's subscriber receives the attacker's;
* a negative is proven by a sentinel that followed the canary on a channel that must deliver
  (:data:`Outcome.SENTINEL`: the broker keeps per-client order, so a canary it routed arrives
  first), or by a refusal code (SUBACK or CONNACK 0x80 and up); a granted SUBACK or a PUBACK
  proves nothing;
* a test whose victim could not deliver a canary to itself, whose connection was lost, or whose
  sentinel never came back is inconclusive.

Every canary payload is the no-op command ``{"cmd": "ping", "canary": ...}``: devices (the lab's
vehicles included) treat ``ping`` as a no-op, so a canary that lands on a command topic triggers
nothing.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from iotvet.checks.registry import CATALOGUE, registry
from iotvet.core.records import Evidence, Finding, Relation, Verdict

NOOP_COMMAND: Final = "ping"


def canary_payload(canary: str) -> bytes:
    """The only payload the probe publishes: a no-op ``ping`` command carrying the canary."""
    return json.dumps({"cmd": NOOP_COMMAND, "canary": canary, "by": "iotvet"}).encode()


class Outcome(enum.StrEnum):
    """What one test observed."""

    CANARY = "canary"
    """The other side observed the unique canary (before the sentinel): proof of a leak."""
    SENTINEL = "sentinel"
    """The sentinel arrived and the canary had not: the broker did not deliver it."""
    QUIET = "quiet"
    """Nothing arrived within the quiet window and no sentinel channel existed: not observed."""
    REFUSED = "refused"
    """The broker refused with a failure code (CONNACK, SUBACK 0x80 and up)."""
    NO_CHANNEL = "no-channel"
    """The victim's side could not deliver a canary to itself, so nothing could be seen."""
    LOST = "lost"
    """A connection ended before the answer."""
    TIMEOUT = "timeout"
    """The sentinel did not come back in time."""
    ERROR = "error"
    """The transport or a budget stopped the test."""
    MODE = "mode"
    """The safety mode (or the plan: no sacrificial victim) forbids the test."""
    MASKED = "masked"
    """The identity reaches the topic anyway, so the trick under test cannot be told apart."""
    ABSENT = "absent"
    """The plan gives nothing to test (no such listener, topic or identity)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """An outcome and what made it so (codes, topics, timings), in words."""

    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict and its reason."""

    verdict: Verdict
    reason: str


# (what a leak means, what a proven negative means) per check
_WORDS: Final[dict[str, tuple[str, str]]] = {
    "mq-anon": ("a client without credentials reached the victim's topic",
                "the anonymous client did not reach the victim's topic"),
    "mq-plaintext": ("the plaintext listener accepted real credentials",
                     "the plaintext listener refused the credentials"),
    "mq-wildcard-read": ("a wildcard subscription delivered the victim's canary",
                         "no wildcard subscription delivered the victim's canary"),
    "mq-xtenant-read": ("a subscription to the victim's topic by name delivered the victim's canary",
                        "the subscription to the victim's topic delivered nothing"),
    "mq-xtenant-write": ("the victim's subscriber received the attacker's canary",
                         "the attacker's publish did not reach the victim's subscriber"),
    "mq-retained-leak": ("a new subscription was served the victim's retained canary",
                         "the victim's retained canary was not served to the attacker"),
    "mq-will-inject": ("the attacker's will message reached the victim's subscriber",
                       "the attacker's will message did not reach the victim's subscriber"),
    "mq-sys-leak": ("a broker-internal topic named the victim's canary client id",
                    "no broker-internal topic named the victim's canary client id"),
    "mq-clientid-kick": ("connecting with the victim's client id disconnected the victim",
                         "the victim stayed connected when the attacker used its client id"),
    "mq-session-steal": ("the attacker inherited the victim's persistent session and its queued canary",
                         "the victim's queued canary did not reach the attacker"),
    "mq-idvar-inject": ("a chosen client id widened the attacker's access to the victim's topic",
                        "the chosen client id widened nothing"),
    "mq-shadow-xtenant": ("the victim's shadow or twin topic was reached from outside its tenant",
                          "the victim's shadow or twin topic stayed closed"),
    "mq-any-leak": ("a catch-all subscription saw another identity's canary that no specific check explains",
                    "every canary the catch-all subscriptions saw is explained by a specific finding, or none was "
                    "seen"),
    "id-shared-cred": ("one device's credential logged in as another device and reached its topics",
                       "one device's credential did not log in as another device"),
    "mq-stale-authz": ("access survived the revocation flow",
                       "the revocation flow took the access away"),
}


def judge(check: str, observation: Observation) -> Judgement:
    """The generic oracle: canary first is a leak; sentinel first or a refusal is enforced; else undecided."""
    leak, enforced = _WORDS[check]
    detail = f" ({observation.detail})" if observation.detail else ""
    outcome = observation.outcome
    if outcome is Outcome.CANARY:
        return Judgement(Verdict.LEAK, leak + detail)
    if outcome is Outcome.SENTINEL:
        return Judgement(Verdict.ENFORCED, f"{enforced}: a sentinel published after the canary arrived "
                                           f"first{detail}")
    if outcome is Outcome.QUIET:
        return Judgement(Verdict.ENFORCED, f"{enforced}: not observed within the quiet window and no sentinel "
                                           f"channel exists{detail}")
    if outcome is Outcome.REFUSED:
        return Judgement(Verdict.ENFORCED, f"{enforced}: refused by the broker{detail}")
    if outcome in (Outcome.MODE, Outcome.ABSENT):
        return Judgement(Verdict.NOT_TESTED, observation.detail or outcome.value)
    words = {
        Outcome.NO_CHANNEL: "the victim's side could not deliver a canary to itself",
        Outcome.LOST: "a connection was lost before the answer",
        Outcome.TIMEOUT: "the sentinel did not come back in time",
        Outcome.ERROR: "the test could not run",
        Outcome.MASKED: "masked: the identity reaches the topic without the trick",
    }
    return Judgement(Verdict.INCONCLUSIVE, words[outcome] + detail)


def combine(judgements: Iterable[Judgement]) -> Judgement:
    """One cell from several tests: any leak wins, then any undecided test, then enforced."""
    items = list(judgements)
    for verdict in (Verdict.LEAK, Verdict.INCONCLUSIVE, Verdict.ENFORCED, Verdict.NOT_TESTED):
        chosen = [j for j in items if j.verdict is verdict]
        if chosen:
            reasons = list(dict.fromkeys(j.reason for j in chosen))
            return Judgement(verdict, reasons[0] if verdict is Verdict.LEAK else "; ".join(reasons))
    return Judgement(Verdict.NOT_TESTED, "no test ran")


# -- the registered checks ---------------------------------------------------------------------------


@registry.register("mq-anon")
def anon(observation: Observation) -> Judgement:
    """Anonymous client: CONNACK refusal proves enforcement; otherwise it must read or write tenant data."""
    return judge("mq-anon", observation)


@registry.register("mq-plaintext")
def plaintext(observation: Observation) -> Judgement:
    """A real identity's login over a plaintext listener (tested only when TLS is required or also offered)."""
    return judge("mq-plaintext", observation)


@registry.register("mq-wildcard-read")
def wildcard_read(observation: Observation) -> Judgement:
    """``#``, ``+/#``, template-wide, tenant-prefix, leading-slash and ``$share`` filters."""
    return judge("mq-wildcard-read", observation)


@registry.register("mq-xtenant-read")
def xtenant_read(observation: Observation) -> Judgement:
    """A subscription to the victim's concrete topic."""
    return judge("mq-xtenant-read", observation)


@registry.register("mq-xtenant-write")
def xtenant_write(observation: Observation) -> Judgement:
    """A no-op canary published to the victim's topic reaches the victim's subscriber."""
    return judge("mq-xtenant-write", observation)


@registry.register("mq-retained-leak")
def retained_leak(observation: Observation) -> Judgement:
    """The victim's retained canary served to a new subscription of the attacker."""
    return judge("mq-retained-leak", observation)


@registry.register("mq-will-inject")
def will_inject(observation: Observation) -> Judgement:
    """A will on the victim's topic, fired by dropping the connection."""
    return judge("mq-will-inject", observation)


@registry.register("mq-sys-leak")
def sys_leak(observation: Observation) -> Judgement:
    """``$SYS`` carries the victim's canary client id to the attacker."""
    return judge("mq-sys-leak", observation)


@registry.register("mq-clientid-kick")
def clientid_kick(kicks: Sequence[bool | None], needed: int, detail: str = "") -> Judgement:
    """Repeated, timing-correlated: every attempt must drop the victim within the window.

    ``kicks`` holds one entry per attempt: True (the victim dropped within the window), False (the
    victim's sentinel arrived: still connected) or None (neither).
    """
    suffix = f" ({detail})" if detail else ""
    leak, enforced = _WORDS["mq-clientid-kick"]
    if kicks and kicks[0] is False:
        return Judgement(Verdict.ENFORCED, f"{enforced}: its sentinel arrived after the attacker's CONNACK{suffix}")
    if len(kicks) >= needed and all(k is True for k in kicks):
        return Judgement(Verdict.LEAK, f"{leak}, {len(kicks)} times out of {len(kicks)}, each within the "
                                       f"window after the attacker's CONNACK{suffix}")
    shown = ", ".join({True: "dropped", False: "stayed", None: "unclear"}[k] for k in kicks)
    return Judgement(Verdict.INCONCLUSIVE, f"no consistent pattern over {len(kicks)} attempt(s): {shown}{suffix}")


@registry.register("mq-session-steal")
def session_steal(observation: Observation) -> Judgement:
    """A canary queued for the victim's offline persistent session, delivered to the attacker's login."""
    return judge("mq-session-steal", observation)


@registry.register("mq-idvar-inject")
def idvar_inject(observation: Observation) -> Judgement:
    """Another identity's client id, or one holding ``+``/``#``, widening a client-id ACL pattern."""
    return judge("mq-idvar-inject", observation)


@registry.register("mq-shadow-xtenant")
def shadow_xtenant(observation: Observation) -> Judgement:
    """Read and write tests on templates the plan names as a shadow or twin."""
    return judge("mq-shadow-xtenant", observation)


@registry.register("mq-any-leak")
def any_leak(observation: Observation) -> Judgement:
    """The catch-all listeners: any other identity's canary seen during the whole run."""
    return judge("mq-any-leak", observation)


@registry.register("id-shared-cred")
def shared_credential(observation: Observation) -> Judgement:
    """One device's secret logs in as another device; the forged session's canary on its channels proves it."""
    if observation.outcome is Outcome.TIMEOUT:
        return Judgement(Verdict.INCONCLUSIVE, f"the forged login was accepted but proved nothing "
                                               f"({observation.detail})")
    return judge("id-shared-cred", observation)


@registry.register("mq-stale-authz")
def stale_authz(observation: Observation) -> Judgement:
    """After the plan's revocation flow, the still-connected session and a new one must lose the topic.

    One observation per session and direction (read or write); the cell combines them, so the
    connected session alone still receiving is a leak even when a new connection is refused. After
    the revocation, a session the broker closed and a canary the victim's own reader received while
    the identity's session did not (within the quiet window) both prove the access is gone.
    """
    if observation.outcome in (Outcome.QUIET, Outcome.LOST):
        return Judgement(Verdict.ENFORCED, f"{_WORDS['mq-stale-authz'][1]} ({observation.detail})")
    return judge("mq-stale-authz", observation)


def finding(check: str, *, topic: str, relation: Relation, attacker: str, victim: str, summary: str,
            evidence: list[Evidence], reproduction: str) -> Finding:
    """A finding for one leaking MQTT cell, with the catalogue's severity, title and remediation."""
    info = CATALOGUE[check]
    return Finding(check=check, severity=info.severity, title=info.title, plane="mqtt", topic=topic,
                   attacker=attacker, victim=victim, relation=relation,
                   evidence=[Evidence(summary=summary), *evidence], reproduction=reproduction,
                   standards=list(info.standards), remediation=info.remediation)
