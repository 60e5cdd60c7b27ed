"""The evidence map (``assess/data/evidence.yaml``): what each check and observation says about which provision.

Validated once per process: every check id exists in the check catalogue, every provision in the
assessment catalogue, every claim path names a questionnaire field, and ``supports`` never reaches
beyond what the same evidence can fail (observations aside, which may only support or inform).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from iotvet.assess.catalogue import load_catalogue
from iotvet.assess.fields import Section, provisions_of
from iotvet.assess.questionnaire import Questionnaire
from iotvet.checks.registry import CATALOGUE
from iotvet.core.records import Relation

ObservationKind = Literal["tls-version", "tls-certificate", "hsts", "security-txt"]
ObservationStatus = Literal["ok", "problem", "absent", "inconclusive"]
OBSERVATION_KINDS: Final[tuple[ObservationKind, ...]] = ("tls-version", "tls-certificate", "hsts", "security-txt")
Rationales = dict[str, str]
"""Provision id -> one line saying why the evidence bears on it."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bearing(_Frozen):
    """What one check's or observation's outcome means for provisions."""

    fails: Rationales = Field(default_factory=dict)
    supports: Rationales = Field(default_factory=dict)
    context: Rationales = Field(default_factory=dict)

    def provisions(self) -> set[str]:
        """Every provision this evidence bears on, in any direction."""
        return set(self.fails) | set(self.supports) | set(self.context)


class ClaimRule(_Frozen):
    """A questionnaire answer and the evidence that contradicts it."""

    claim: str
    """``section.field`` of the questionnaire."""
    claimed: tuple[str, ...] = ("yes",)
    observed: str
    checks: tuple[str, ...] = ()
    relations: tuple[Relation, ...] = ()
    """Only leaks of these relation classes contradict (empty: any)."""
    observations: dict[ObservationKind, tuple[ObservationStatus, ...]] = Field(default_factory=dict)

    @property
    def section(self) -> str:
        return self.claim.split(".", 1)[0]

    @property
    def field(self) -> str:
        return self.claim.split(".", 1)[1]


class EvidenceMap(_Frozen):
    """Checks and observations -> provisions, and claims -> contradicting evidence."""

    checks: dict[str, Bearing]
    observations: dict[ObservationKind, Bearing]
    claims: tuple[ClaimRule, ...]

    @model_validator(mode="after")
    def _resolve(self) -> EvidenceMap:
        known = set(load_catalogue().by_id)
        for name, bearing in [*self.checks.items(), *self.observations.items()]:
            if name in self.checks and name not in CATALOGUE:
                raise ValueError(f"checks.{name}: no such check in checks/catalogue.yaml")
            if unknown := sorted(bearing.provisions() - known):
                raise ValueError(f"{name}: unknown provision(s) {unknown}")
            if name in self.checks and (wider := sorted(set(bearing.supports) - set(bearing.fails))):
                raise ValueError(f"checks.{name}: supports {wider} but does not fail them")
            if not all(r.strip() for r in [*bearing.fails.values(), *bearing.supports.values()]):
                raise ValueError(f"{name}: every mapping needs a rationale")
        seen: set[str] = set()
        for rule in self.claims:
            if rule.claim in seen:
                raise ValueError(f"claims: {rule.claim} appears twice")
            seen.add(rule.claim)
            _claim_field(rule.claim)
            if missing := [c for c in rule.checks if c not in self.checks]:
                raise ValueError(f"claims.{rule.claim}: unknown check(s) {missing}")
            if not rule.checks and not rule.observations:
                raise ValueError(f"claims.{rule.claim}: names no evidence")
        return self

    def failing(self, check: str) -> tuple[str, ...]:
        """Provisions a leak of ``check`` counts against (none for a check the map does not know)."""
        bearing = self.checks.get(check)
        return tuple(bearing.fails) if bearing else ()

    def claim_provisions(self, rule: ClaimRule) -> tuple[str, ...]:
        """The provisions the questionnaire field of ``rule`` informs."""
        section = Questionnaire.model_fields[rule.section].annotation
        assert isinstance(section, type) and issubclass(section, Section)
        return provisions_of(section, rule.field)


def _claim_field(path: str) -> None:
    section, _, name = path.partition(".")
    field = Questionnaire.model_fields.get(section)
    model = field.annotation if field is not None else None
    if not (isinstance(model, type) and issubclass(model, Section) and name in model.model_fields):
        raise ValueError(f"claims: {path} is not a questionnaire field")


@functools.cache
def load_evidence_map() -> EvidenceMap:
    """The evidence map, validated; read once per process."""
    text = resources.files("iotvet.assess").joinpath("data", "evidence.yaml").read_text(encoding="utf-8")
    return EvidenceMap.model_validate(yaml.safe_load(text))
