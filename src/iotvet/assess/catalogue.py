"""The assessment catalogue: EN 303 645 V2.1.1 provisions and conditions, version notes, and maps.

The data lives in ``assess/data/*.yaml`` (identifiers from the standards, prose in iotvet's own
words) and is validated here once per process: every id well-formed and unique, every condition
and every mapping target resolving to something that exists.
"""

from __future__ import annotations

import functools
import re
from functools import cached_property
from importlib import resources
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iotvet.assess.mappings import CodeOfPractice, Nist, Psti, Versions

Component = Literal["device", "associated-service", "app"]
EvidenceKind = Literal["automatic-test", "tool-assisted", "document", "lab"]
Tag = Literal[
    "reporting", "passwords", "vulnerability-disclosure", "updates", "secure-storage", "communication",
    "attack-surface", "integrity", "personal-data", "resilience", "isolation", "telemetry", "deletion", "setup",
    "input-validation",
]
PROVISION_ID: Final = re.compile(r"(4|5\.(?:[1-9]|1[0-3])|6)-[1-9][0-9]?")
CLAUSE_ID: Final = re.compile(r"4|5\.(?:[1-9]|1[0-3])|6")
PROVISION_COUNT: Final = 68

SCOPE_NOTE: Final = (
    "EN 303 645 V2.1.1 covers consumer IoT devices and the way they interact with their associated "
    "services, and leaves those services themselves outside its scope. iotvet assesses a third-party "
    "provider for its contribution to the manufacturer's product: the provisions that the provider's "
    "cloud service, app or device software makes true or false for that product. The result is evidence "
    "for the manufacturer's own conformance statement, not a certification of the provider."
)
"""Printed by every assessment report, next to the standard's version."""


class Frozen(BaseModel):
    """Base of catalogue records: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Clause(Frozen):
    """One clause of the standard (5.1 … 5.13, 4, 6), with iotvet's short title."""

    id: str = Field(pattern=CLAUSE_ID.pattern)
    title: str


class Condition(Frozen):
    """A condition of Table B.1 and the questionnaire answer that decides it."""

    id: int = Field(ge=1)
    summary: str
    question: str
    """The key under ``conditions:`` in the questionnaire."""
    holds_when: Literal["yes", "no"]


class Provision(Frozen):
    """One provision: status, conditions, where it applies and how evidence for it is obtained."""

    id: str
    mandatory: bool
    conditions: tuple[int, ...] = ()
    """Every listed condition must hold for the provision to apply (none: it always applies)."""
    applies_to: tuple[Component, ...] = Field(min_length=1)
    evidence: tuple[EvidenceKind, ...] = Field(min_length=1)
    tags: tuple[Tag, ...] = Field(min_length=1)
    summary: str
    note: str | None = None

    @field_validator("id")
    @classmethod
    def _well_formed(cls, v: str) -> str:
        if not PROVISION_ID.fullmatch(v):
            raise ValueError(f"malformed provision id {v!r}")
        return v

    @property
    def clause(self) -> str:
        """``5.3`` for ``5.3-10``; ``4`` for ``4-1``."""
        return self.id.rsplit("-", 1)[0]

    @property
    def conditional(self) -> bool:
        """True when the provision applies only under its conditions."""
        return bool(self.conditions)

    @property
    def status(self) -> str:
        """The status as Table B.1 writes it: ``M``, ``R``, ``M C(12)``, ``R C(9,12)``."""
        base = "M" if self.mandatory else "R"
        return f"{base} C({','.join(map(str, self.conditions))})" if self.conditions else base


class Catalogue(Frozen):
    """EN 303 645 V2.1.1 with its version notes and the DCMS, PSTI and NIST IR 8425 maps."""

    standard: str
    version: str
    published: str
    clauses: tuple[Clause, ...]
    conditions: tuple[Condition, ...]
    provisions: tuple[Provision, ...]
    versions: Versions
    cop: CodeOfPractice
    psti: Psti
    nist: Nist

    @cached_property
    def by_id(self) -> dict[str, Provision]:
        """Provisions by id, in catalogue order."""
        return {p.id: p for p in self.provisions}

    @cached_property
    def condition_by_id(self) -> dict[int, Condition]:
        """Conditions by number."""
        return {c.id: c for c in self.conditions}

    def provision(self, provision_id: str) -> Provision:
        """The provision with this id; KeyError when there is none."""
        return self.by_id[provision_id]

    def in_clauses(self, clauses: tuple[str, ...]) -> tuple[str, ...]:
        """Ids of every provision in these clauses, in catalogue order."""
        return tuple(p.id for p in self.provisions if p.clause in clauses)

    def nist_targets(self, outcome_id: str) -> tuple[str, ...]:
        """The provisions an IR 8425 outcome maps to (its clauses expanded), in catalogue order."""
        found = [o for o in self.nist.outcomes if o.id == outcome_id]
        if not found:
            raise KeyError(outcome_id)
        outcome = found[0]
        wanted = set(self.in_clauses(outcome.clauses)) | set(outcome.provisions)
        return tuple(p.id for p in self.provisions if p.id in wanted)

    @model_validator(mode="after")
    def _references_resolve(self) -> Catalogue:
        ids = [p.id for p in self.provisions]
        _unique("provision", ids)
        _unique("condition", [c.id for c in self.conditions])
        _unique("clause", [c.id for c in self.clauses])
        known, conditions, clauses = set(ids), {c.id for c in self.conditions}, {c.id for c in self.clauses}
        for p in self.provisions:
            if p.clause not in clauses:
                raise ValueError(f"provision {p.id}: clause {p.clause} is not listed")
            if missing := set(p.conditions) - conditions:
                raise ValueError(f"provision {p.id}: unknown condition(s) {sorted(missing)}")
        for where, targets in self._mapping_targets():
            if missing_ids := [t for t in targets if t not in known]:
                raise ValueError(f"{where}: unknown provision(s) {missing_ids}")
        for outcome in self.nist.outcomes:
            if empty := [c for c in outcome.clauses if c not in clauses]:
                raise ValueError(f"NIST {outcome.id}: unknown clause(s) {empty}")
        for change in self.versions.changes:
            if change.provision is not None and change.v2 is not None:
                if change.provision not in known:
                    raise ValueError(f"version change: unknown provision {change.provision}")
                if self.by_id[change.provision].status != change.v2:
                    raise ValueError(f"version change {change.provision}: V2.1.1 status {change.v2} disagrees "
                                     f"with the catalogue's {self.by_id[change.provision].status}")
        return self

    def _mapping_targets(self) -> list[tuple[str, tuple[str, ...]]]:
        found: list[tuple[str, tuple[str, ...]]] = []
        for g in self.cop.guidelines:
            found += [(f"CoP guideline {g.number}", g.provisions), (f"CoP guideline {g.number} key", g.key)]
            if set(g.key) - set(g.provisions):
                raise ValueError(f"CoP guideline {g.number}: a key provision is not among its provisions")
        found += [(f"PSTI {r.id}", r.provisions) for r in self.psti.requirements]
        found += [(f"NIST {o.id}", o.provisions) for o in self.nist.outcomes]
        return found


def _unique(kind: str, ids: list[Any]) -> None:
    seen: set[Any] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{kind} {i} appears twice")
        seen.add(i)


def _read(name: str) -> dict[str, Any]:
    text = resources.files("iotvet.assess").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@functools.cache
def load_catalogue() -> Catalogue:
    """The catalogue, validated; read once per process."""
    data = _read("en303645.yaml")
    data.update(versions=_read("en303645-versions.yaml"), cop=_read("dcms-cop.yaml"), psti=_read("psti.yaml"),
                nist=_read("nist-ir8425.yaml"))
    return Catalogue.model_validate(data)
