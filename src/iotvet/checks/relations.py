"""Relation classes between identities, and the representative pairs a probe tests.

A probe tests one representative attacker-victim pair per relation class for each operation
or topic, so the number of requests grows with the API surface, not with the number of
identities or objects. Which classes a plan cannot cover is reported with the identity to add.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from iotvet.core.records import Relation
from iotvet.plan.schema import Identity

OBJECT_CLASSES = (
    Relation.SAME_GROUP,
    Relation.SAME_TENANT,
    Relation.OTHER_TENANT,
    Relation.OTHER_TENANT_ADMIN,
    Relation.DEVICE,
    Relation.ANONYMOUS,
)


def role_rank(identity: Identity) -> float:
    """Privilege order: device 0 < guest 0.5 < user 1 < group admin 2 < tenant admin 3 < operator 4."""
    role = identity.role.lower()
    if role == "device":
        return 0
    if "operator" in role or "platform" in role:
        return 4
    if "admin" in role:
        return 2 if identity.group is not None else 3
    if any(word in role for word in ("guest", "viewer", "readonly", "read-only")):
        return 0.5
    return 1


def is_admin(identity: Identity) -> bool:
    """True for group admins, tenant admins and operators."""
    return role_rank(identity) >= 2


def classify(attacker: Identity | None, victim: Identity) -> Relation:
    """How ``attacker`` stands to ``victim`` (None is the anonymous caller)."""
    if attacker is None:
        return Relation.ANONYMOUS
    if attacker.name == victim.name:
        return Relation.SELF
    if attacker.role == "device":
        return Relation.DEVICE
    if attacker.tenant != victim.tenant:
        return Relation.OTHER_TENANT_ADMIN if is_admin(attacker) else Relation.OTHER_TENANT
    if attacker.group is not None and attacker.group == victim.group:
        return Relation.SAME_GROUP
    return Relation.SAME_TENANT


@dataclass(frozen=True, slots=True)
class Pair:
    """One attacker (None: anonymous) against one victim, and their relation."""

    relation: Relation
    attacker: Identity | None
    victim: Identity

    @property
    def attacker_name(self) -> str:
        """The attacker's name, or ``anonymous``."""
        return self.attacker.name if self.attacker else "anonymous"


def _ordered(identities: Iterable[Identity]) -> list[Identity]:
    return sorted(identities, key=lambda i: i.name)


def candidate_pairs(identities: Iterable[Identity], victims: Iterable[Identity]) -> dict[Relation, list[Pair]]:
    """Every attacker-victim pair per relation class, in a deterministic order.

    Admins are kept out of peer classes (same-group, same-tenant): an admin reading a member's
    object is usually intended, and function-level checks test roles separately. A device may
    attack only objects that are not its own.
    """
    everyone = _ordered(identities)
    out: dict[Relation, list[Pair]] = {r: [] for r in OBJECT_CLASSES}
    for victim in _ordered(victims):
        out[Relation.ANONYMOUS].append(Pair(Relation.ANONYMOUS, None, victim))
        for attacker in everyone:
            relation = classify(attacker, victim)
            if relation is Relation.SELF or relation not in out:
                continue
            if relation in (Relation.SAME_GROUP, Relation.SAME_TENANT) and is_admin(attacker):
                continue
            if relation is Relation.DEVICE and attacker.device in victim.devices:
                continue
            out[relation].append(Pair(relation, attacker, victim))
    return out


def representatives(identities: Iterable[Identity], victims: Iterable[Identity]) -> dict[Relation, Pair]:
    """The first candidate pair of each class the plan can cover."""
    return {r: pairs[0] for r, pairs in candidate_pairs(identities, victims).items() if pairs}


def missing_advice(identities: Iterable[Identity], covered: Iterable[Relation]) -> dict[Relation, str]:
    """For each object class no pair covers, what identity would let the probe test it."""
    people = list(identities)
    have = set(covered)
    tenants = sorted({i.tenant for i in people})
    first = tenants[0] if tenants else "your-brand"
    groups = sorted({i.group for i in people if i.group and i.tenant == first})
    advice = {
        Relation.SAME_GROUP: f"a second user in group {groups[0] if groups else 'X'} of tenant {first}",
        Relation.SAME_TENANT: f"a user in another group (customer) of tenant {first}",
        Relation.OTHER_TENANT: "a user of a second tenant (brand) on the same provider",
        Relation.OTHER_TENANT_ADMIN: "an admin of a second tenant (brand)",
        Relation.DEVICE: "a device identity (role: device) with API or broker credentials",
        Relation.ANONYMOUS: "a victim identity that owns at least one object",
    }
    return {r: advice[r] for r in OBJECT_CLASSES if r not in have}
