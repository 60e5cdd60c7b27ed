"""The vendor questionnaire: an ICS and IXIT in the spirit of ETSI TS 103 701, as one YAML file.

* ``vendor``: who answers, the product category and market (these decide whether UK PSTI applies);
* ``conditions``: the answers that decide EN 303 645's conditions, hence which conditional
  provisions apply;
* ``claims``: per provision, implemented yes/no/unknown with a justification (required for a
  recommendation marked ``no``, as provision 4-1 asks) and evidence references;
* the extra testing information (:mod:`iotvet.assess.ixit`): concrete claims a probe can check.

:func:`load_questionnaire` reads a file; whatever is wrong becomes one :class:`UserError` naming
file, line and field, with a suggestion for a misspelt key or provision id.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from iotvet.assess.catalogue import PROVISION_ID, Component, Provision, load_catalogue
from iotvet.assess.fields import Answer, Day, Line, QuestionnaireProblem, Section, Text, ask
from iotvet.assess.ixit import (
    AccessControl,
    AttackSurface,
    Authentication,
    Communications,
    Credentials,
    Operations,
    PersonalData,
    SupportPeriod,
    Updates,
    VulnerabilityDisclosure,
)
from iotvet.core.errors import UserError
from iotvet.plan.errors import to_user_error
from iotvet.plan.yamlsource import YamlDocument, read_yaml

STANDARD: Final = "EN 303 645 V2.1.1"
FORMAT: Final = 1
ProductCategory = Literal[
    "smart-home", "camera", "speaker-or-tv", "appliance", "wearable", "toy", "childrens-computer",
    "phone-or-cellular-tablet", "games-console", "network-equipment", "other-consumer", "ev-charge-point",
    "medical-device", "smart-meter", "computer", "vehicle", "non-consumer", "unknown",
]
Applicability = Literal["applies", "not-applicable", "undecided"]


def _known_provision(value: str) -> str:
    ids = list(load_catalogue().by_id)
    if value in ids:
        return value
    match = difflib.get_close_matches(value, ids, n=1, cutoff=0.6)
    hint = f"; did you mean {match[0]!r}?" if match else ""
    shape = "" if PROVISION_ID.fullmatch(value) else " (ids look like 5.1-1, 4-1 or 6-2)"
    raise QuestionnaireProblem(f"unknown provision {value!r}{hint}{shape}")


ProvisionId = Annotated[str, AfterValidator(_known_provision)]


def _format_version(value: int) -> int:
    if value != FORMAT:
        raise ValueError(f"this iotvet reads questionnaire format {FORMAT}, not {value}")
    return value


def _provision_names(schema: dict[str, Any]) -> None:
    """JSON Schema: claims are keyed by the catalogue's provision ids and nothing else."""
    schema["propertyNames"] = {"enum": list(load_catalogue().by_id)}


class Vendor(Section):
    """Who answers, for which product, sold where."""

    name: Line = Field(description="The vendor (provider) answering this questionnaire.")
    product: Line | None = ask("The product or service line these answers cover.", default=None)
    product_category: ProductCategory = ask(
        "Category of the manufacturer's product; it decides whether UK PSTI can apply.")
    uk_market: Answer = ask("Is the product sold to consumers in the UK (so UK PSTI may apply)?")
    supplies: list[Component] = ask(
        "Which parts of the product the vendor provides.", default=[])
    contact: Line | None = ask("Who answered, for follow-up questions (name or email).", default=None)
    answered_on: Day | None = ask("When these answers were given.", default=None)


class Conditions(Section):
    """The answers that decide EN 303 645's conditions (Table B.1); unknown leaves them undecided."""

    passwords_used: Answer = ask("Does any part of the product authenticate anyone with a password?")
    preinstalled_passwords: Answer = ask("Do units reach the user with a password already set?")
    non_updatable_software: Answer = ask("Does the product contain software components that cannot be updated?")
    constrained_device: Answer = ask(
        "Is the device constrained: too limited in energy, memory or processing for common security measures?")
    telemetry_collected: Answer = ask("Does the product collect telemetry (usage or measurement data)?")
    consent_based_processing: Answer = ask(
        "Is any personal data processed on the legal basis of the consumer's consent?")
    user_authentication: Answer = ask("Can users authenticate to the device, locally or through the service?")
    automatic_updates_or_notifications: Answer = ask(
        "Does the device offer automatic updates or update notifications?")
    hardcoded_device_identity: Answer = ask("Is a unique identity fixed into each unit and used for security?")
    network_updates: Answer = ask("Are updates delivered through a network interface?")
    update_mechanism: Answer = ask("Does the product have an update mechanism at all?")
    physical_debug_interface: Answer = ask("Can a debug interface (UART, JTAG, SWD …) be reached physically?")


class Claim(Section):
    """The vendor's claim for one provision (a row of the ICS)."""

    implemented: Answer = ask("Is the provision met for this product?")
    justification: Text = ask("How it is met, or why not; required for a recommendation marked no.", default="")
    evidence: list[Line] = ask("Documents or URLs that back the claim.", default=[])


class Questionnaire(Section):
    """One vendor's answers: conditions, per-provision claims and extra testing information."""

    iotvet_questionnaire: Annotated[int, AfterValidator(_format_version)] = Field(
        default=1, description="Format version of this file.", json_schema_extra={"const": FORMAT})
    standard: Literal["EN 303 645 V2.1.1"] = Field(default=STANDARD, description="The standard the claims answer.")
    vendor: Vendor
    conditions: Conditions = Field(default_factory=Conditions, description=Conditions.__doc__)
    claims: dict[ProvisionId, Claim] = Field(default_factory=dict, description="Claims by provision id.",
                                             json_schema_extra=_provision_names)
    vulnerability_disclosure: VulnerabilityDisclosure = Field(default_factory=VulnerabilityDisclosure)
    support_period: SupportPeriod = Field(default_factory=SupportPeriod)
    updates: Updates = Field(default_factory=Updates)
    credentials: Credentials = Field(default_factory=Credentials)
    authentication: Authentication = Field(default_factory=Authentication)
    access_control: AccessControl = Field(default_factory=AccessControl)
    communications: Communications = Field(default_factory=Communications)
    attack_surface: AttackSurface = Field(default_factory=AttackSurface)
    personal_data: PersonalData = Field(default_factory=PersonalData)
    operations: Operations = Field(default_factory=Operations)

    @model_validator(mode="after")
    def _consistent(self) -> Questionnaire:
        catalogue = load_catalogue()
        for pid, claim in self.claims.items():
            if claim.implemented == "no" and not catalogue.provision(pid).mandatory and not claim.justification.strip():
                raise QuestionnaireProblem(
                    f"{pid} is a recommendation marked not implemented: say why in justification (provision 4-1)",
                    ("claims", pid, "justification"))
        has_mechanism = self.updates.mechanism in ("automatic", "user-initiated", "both")
        if (self.conditions.update_mechanism == "no" and has_mechanism) or (
                self.conditions.update_mechanism == "yes" and self.updates.mechanism == "none"):
            raise QuestionnaireProblem(
                f"updates.mechanism {self.updates.mechanism!r} contradicts conditions.update_mechanism "
                f"{self.conditions.update_mechanism!r}", ("updates", "mechanism"))
        return self

    def claim(self, provision_id: str) -> Claim:
        """The claim for a provision; an empty (unknown) claim when the file has none."""
        return self.claims.get(provision_id, Claim())

    def condition_holds(self, condition_id: int) -> bool | None:
        """Whether a Table B.1 condition holds for this product; None while its answer is unknown."""
        condition = load_catalogue().condition_by_id[condition_id]
        answer = getattr(self.conditions, condition.question)
        return None if answer == "unknown" else answer == condition.holds_when

    def applicability(self, provision: Provision) -> Applicability:
        """Whether a provision applies: a conditional one needs all its conditions to hold."""
        holds = [self.condition_holds(c) for c in provision.conditions]
        if False in holds:
            return "not-applicable"
        return "undecided" if None in holds else "applies"

    def psti_applicability(self) -> Applicability:
        """Whether UK PSTI applies to the product, from its category and market."""
        category = load_catalogue().psti.category(self.vendor.product_category)
        if category.status in ("excepted", "out-of-scope") or self.vendor.uk_market == "no":
            return "not-applicable"
        if category.status == "unknown" or self.vendor.uk_market == "unknown":
            return "undecided"
        return "applies"


def _user_error(exc: ValidationError, doc: YamlDocument) -> UserError:
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # a typo first, as plans do
    first = errors[0]
    problem = (first.get("ctx") or {}).get("error")
    if not isinstance(problem, QuestionnaireProblem):
        found = to_user_error(exc, doc, Questionnaire)
        if first["type"] in ("model_type", "model_attributes_type", "dict_type"):  # not "instance of AccessControl"
            found = UserError(found.message.replace(first["msg"][0].lower() + first["msg"][1:],
                                                    "expected a mapping of keys and values"), found.source)
        return found
    loc = tuple(first["loc"])
    path = (*(loc[:-1] if loc and loc[-1] == "[key]" else loc), *problem.path)
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return UserError(f"{problem}{suffix}", doc.source(path))


def load_questionnaire(path: str) -> Questionnaire:
    """Read and validate a questionnaire file; any problem is one UserError with file, line and field."""
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise UserError("a questionnaire is a YAML mapping; start from: iotvet assess init --vendor NAME",
                        doc.source(()))
    try:
        return Questionnaire.model_validate(doc.data)
    except ValidationError as exc:
        raise _user_error(exc, doc) from None


__all__ = ["STANDARD", "Claim", "Conditions", "Questionnaire", "Vendor", "load_questionnaire"]
