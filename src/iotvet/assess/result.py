"""The assessment's result: one record per provision, the views derived from it, and the claims it contradicts.

This is the public JSON contract of ``iotvet assess`` (``schemas/assessment.schema.json`` is
generated from it): evaluators produce an :class:`Assessment`, every writer (JSON, HTML scorecard,
OSCAL assessment-results, terminal summary, compare) reads one. Fields are only ever added.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1"


class Frozen(BaseModel):
    """Immutable, strict records."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProvisionVerdict(StrEnum):
    """What the assessment concludes for one provision."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"
    """A conditional provision whose condition the questionnaire says does not hold."""
    NOT_MET_JUSTIFIED = "not-met-justified"
    """A recommendation the vendor does not meet and justifies (EN 303 645 4-1)."""
    INCONCLUSIVE = "inconclusive"


class Source(StrEnum):
    """Where a piece of evidence comes from, strongest first."""

    PROBE = "probe"  # a decided cell or finding of a stored run
    OBSERVATION = "observation"  # TLS, security.txt and other passive observations
    QUESTIONNAIRE = "questionnaire"  # the vendor's own answer (a claim, not a proof)
    CATALOGUE = "catalogue"  # applicability derived from the catalogue and the answers


class EvidenceRef(Frozen):
    """One piece of evidence behind a verdict, pointing to where it is kept."""

    source: Source
    ref: str
    """A finding id, ``check@place#relation`` for a cell, an observation name, or a questionnaire path."""
    run_id: str | None = None
    summary: str
    supports: Literal["pass", "fail", "context"]


class ProvisionResult(Frozen):
    """The verdict for one provision, why, and on what evidence."""

    provision: str
    status: str
    """As Table B.1 writes it: ``M``, ``R``, ``M C(12)``."""
    mandatory: bool
    verdict: ProvisionVerdict
    reason: str
    evidence: tuple[EvidenceRef, ...] = ()


class Contradiction(Frozen):
    """A questionnaire answer that what iotvet observed contradicts."""

    claim: str
    """The questionnaire path of the claim, e.g. ``access_control.tenant_segregation``."""
    claimed: str
    observed: str
    provisions: tuple[str, ...]
    evidence: tuple[EvidenceRef, ...]


class Tally(Frozen):
    """Counts of verdicts among a set of provisions."""

    total: int
    by_verdict: dict[str, int]


class Summary(Frozen):
    """Mandatory and recommended provisions, counted by verdict."""

    mandatory: Tally
    recommended: Tally


class ViewItem(Frozen):
    """One requirement of another framework (a PSTI paragraph, a DCMS guideline, an IR 8425 outcome)."""

    id: str
    title: str
    provisions: tuple[str, ...]
    verdict: ProvisionVerdict
    reason: str


class FrameworkView(Frozen):
    """The assessment seen through another framework's requirements."""

    framework: str
    applicable: bool
    reason: str
    items: tuple[ViewItem, ...]


class Assessment(Frozen):
    """A vendor assessed against EN 303 645 with probe results and observations as evidence."""

    schema_version: str = SCHEMA_VERSION
    vendor: str
    standard: str
    scope_note: str
    created: datetime
    runs: tuple[str, ...] = Field(description="stored probe runs cited as evidence")
    questionnaire: str
    """The questionnaire file (name only) and its sha256, e.g. ``lab.yaml sha256:ab12…``."""
    results: tuple[ProvisionResult, ...]
    contradictions: tuple[Contradiction, ...] = ()
    summary: Summary
    views: tuple[FrameworkView, ...] = ()
    """PSTI, DCMS Code of Practice and NIST IR 8425, in that order."""
    incomplete: tuple[str, ...] = ()
    """Why the evidence is incomplete (a cited run not complete, an observation that could not be made);
    empty when it is complete. ``iotvet assess`` exits 3 when it is not empty (and no mandatory
    provision fails)."""

    def result(self, provision: str) -> ProvisionResult:
        """The result for one provision; KeyError when the assessment has none."""
        for r in self.results:
            if r.provision == provision:
                return r
        raise KeyError(provision)
