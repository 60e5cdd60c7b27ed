"""Records of the catalogue's companions: EN 303 645 version notes and the DCMS, PSTI and NIST maps.

Targets are EN 303 645 V2.1.1 provision ids; :class:`~iotvet.assess.catalogue.Catalogue` checks
that each one resolves.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Confidence = Literal["verified", "secondary", "unverified"]
PstiStatus = Literal["in-scope", "excepted", "out-of-scope", "unknown"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Version(_Frozen):
    """One published version of the standard."""

    id: str
    published: str
    confidence: Confidence
    note: str


class VersionChange(_Frozen):
    """One known difference between V2.1.1 and V3.1.3, with how sure we are of it."""

    topic: Literal["scope", "notation", "numbering", "status"]
    change: str
    confidence: Confidence
    provision: str | None = None
    """The V2.1.1 provision concerned; None for changes to the document as a whole."""
    v2: str | None = None
    v3: str | None = None


class Versions(_Frozen):
    """The versions of EN 303 645 and what changed after V2.1.1."""

    versions: tuple[Version, ...]
    changes: tuple[VersionChange, ...]


class Guideline(_Frozen):
    """One of the 13 guidelines of the UK Code of Practice (2018)."""

    number: int = Field(ge=1, le=13)
    title: str
    provisions: tuple[str, ...] = Field(min_length=1)
    key: tuple[str, ...] = Field(min_length=1)
    """The provisions that carry the guideline; a subset of ``provisions``."""


class CodeOfPractice(_Frozen):
    """The DCMS Code of Practice for Consumer IoT Security mapped to provisions."""

    name: str
    published: str
    basis: Literal["structural"]
    guidelines: tuple[Guideline, ...] = Field(min_length=13, max_length=13)


class PstiRequirement(_Frozen):
    """A PSTI security requirement (Schedule 1 paragraph) and the provisions giving deemed compliance."""

    id: str
    paragraph: int
    title: str
    summary: str
    provisions: tuple[str, ...] = Field(min_length=1)
    alternative: str | None
    """Another route to deemed compliance, if the Regulations name one."""
    note: str | None


class PstiCategory(_Frozen):
    """A product category and whether PSTI applies to it."""

    id: str
    status: PstiStatus
    confidence: Confidence
    label: str


class Psti(_Frozen):
    """The UK PSTI regime: requirements, product categories and who carries the duty."""

    name: str
    legislation: tuple[str, ...]
    in_force: date
    standard_version: str
    regulator: str
    manufacturer_duty: str
    requirements: tuple[PstiRequirement, ...] = Field(min_length=3, max_length=3)
    categories: tuple[PstiCategory, ...]
    notes: tuple[str, ...] = ()

    def category(self, category_id: str) -> PstiCategory:
        """The category with this id; KeyError when there is none."""
        for c in self.categories:
            if c.id == category_id:
                return c
        raise KeyError(category_id)


class NistOutcome(_Frozen):
    """An IR 8425 outcome and the clauses and provisions that deal with the same topic."""

    id: str = Field(pattern=r"^8425-[PD][1-9]$")
    kind: Literal["product", "developer"]
    name: str
    clauses: tuple[str, ...]
    provisions: tuple[str, ...]
    confidence: Confidence


class Nist(_Frozen):
    """NIST IR 8425's outcomes mapped, by topic, to provisions."""

    name: str
    published: str
    basis: Literal["topic-level"]
    outcomes: tuple[NistOutcome, ...] = Field(min_length=10, max_length=10)
