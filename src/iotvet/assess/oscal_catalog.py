"""iotvet's OSCAL catalog of EN 303 645 V2.1.1, and the placeholder SSP the assessment plan imports.

The catalog holds one group per clause and one control per provision, generated from
:func:`~iotvet.assess.catalogue.load_catalogue`: only ids, statuses and condition numbers come from
ETSI; statements, objectives and titles are iotvet's own words. The DCMS, PSTI and NIST IR 8425
maps are props on each control.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotvet.assess.catalogue import Catalogue, Provision, load_catalogue
from iotvet.assess.oscal_base import (
    CATALOG_FILE,
    DATA_MODIFIED,
    DATA_VERSION,
    KINDS,
    METHODS,
    NS,
    control_id,
    metadata,
    objective_id,
    prop,
    scope_remarks,
    uid,
)

if TYPE_CHECKING:
    from trestle.oscal.catalog import Catalog, Control
    from trestle.oscal.common import Property
    from trestle.oscal.ssp import SystemSecurityPlan

ETSI_PDF = "https://www.etsi.org/deliver/etsi_en/303600_303699/303645/02.01.01_60/en_303645v020101p.pdf"
REMARKS = ("Only the identifiers, statuses and condition numbers come from ETSI EN 303 645 V2.1.1. Every statement, "
           "objective and title is iotvet's own paraphrase, not the standard's text (ETSI copyright): read the "
           "free PDF for the real provisions. Props in iotvet's namespace: status (as Table B.1 writes it), "
           "mandatory, condition, applies-to, evidence (strongest first), tag, v3-status, dcms-cop-guideline "
           "(class key where the provision carries the guideline), psti-requirement and nist-ir8425-outcome.")


def _sort_id(provision: str) -> str:
    clause, _, number = provision.rpartition("-")
    return ".".join(f"{int(n):02d}" for n in clause.split(".")) + f"-{int(number):02d}"


def _map_props(cat: Catalogue, p: Provision) -> list[Property]:
    props = [prop("dcms-cop-guideline", str(g.number), cls="key" if p.id in g.key else None)
             for g in cat.cop.guidelines if p.id in g.provisions]
    props += [prop("psti-requirement", r.id) for r in cat.psti.requirements if p.id in r.provisions]
    props += [prop("nist-ir8425-outcome", o.id) for o in cat.nist.outcomes if p.id in cat.nist_targets(o.id)]
    return props


def _control(cat: Catalogue, p: Provision) -> Control:
    from trestle.oscal.catalog import Control
    from trestle.oscal.common import Part

    cid = control_id(p.id)
    props = [prop("label", p.id, ours=False), prop("sort-id", _sort_id(p.id), ours=False),
             prop("status", p.status), prop("mandatory", str(p.mandatory).lower())]
    props += [prop("condition", str(c), remarks=cat.condition_by_id[c].summary) for c in p.conditions]
    props += [prop("applies-to", a) for a in p.applies_to]
    props += [prop("evidence", e) for e in p.evidence] + [prop("tag", t) for t in p.tags]
    props += [prop("v3-status", ch.v3, remarks=f"{ch.change} Confidence: {ch.confidence}.")
              for ch in cat.versions.changes if ch.provision == p.id and ch.v3]
    applies = " where its conditions hold" if p.conditions else ""
    parts = [Part(id=f"{cid}_smt", name="statement", prose=p.summary),
             Part(id=objective_id(p.id), name="assessment-objective",
                  prose=f"Determine whether the provision holds for the product{applies}, as far as the assessed "
                        "provider's service, app or device software makes it true or false.")]
    parts += [Part(id=f"{cid}_asm.{kind}", name="assessment-method", prose=KINDS[kind],
                   props=[prop("method", METHODS[kind], ours=False), prop("evidence", kind)]) for kind in p.evidence]
    if p.note:
        parts.append(Part(id=f"{cid}_note", name="note", ns=NS, prose=p.note))
    clause = next(c.title for c in cat.clauses if c.id == p.clause)
    return Control(id=cid, class_="provision", title=f"{clause}: provision {p.id}",
                   props=props + _map_props(cat, p), parts=parts)


def build_catalog() -> Catalog:
    """The catalog: clauses as groups (4, 5.1 … 5.13, 6), provisions as controls."""
    from trestle.oscal.catalog import Catalog, Group2
    from trestle.oscal.common import BackMatter, Link, Resource, Rlink

    cat = load_catalogue()
    groups = [Group2(id=f"en303645-{c.id}", class_="clause", title=c.title,
                     props=[prop("label", c.id, ours=False)],
                     controls=[_control(cat, p) for p in cat.provisions if p.clause == c.id])
              for c in cat.clauses]
    frameworks = [(cat.cop.name, "https://www.gov.uk/government/publications/code-of-practice-for-consumer-iot-security"),
                  (cat.psti.name, "https://www.legislation.gov.uk/uksi/2023/1007"),
                  (cat.nist.name, "https://csrc.nist.gov/pubs/ir/8425/final")]
    resources = [Resource(uuid=uid("resource", "etsi"), title=f"{cat.standard} {cat.version} ({cat.published})",
                          rlinks=[Rlink(href=ETSI_PDF, media_type="application/pdf")])]
    resources += [Resource(uuid=uid("resource", name), title=name, rlinks=[Rlink(href=href)])
                  for name, href in frameworks]
    meta = metadata(f"{cat.standard} {cat.version}: consumer IoT baseline provisions (iotvet paraphrase)",
                    DATA_MODIFIED, DATA_VERSION, remarks=REMARKS,
                    links=[Link(href=f"#{r.uuid}", rel="reference", text=r.title) for r in resources])
    return Catalog(uuid=uid("catalog", cat.standard, cat.version), metadata=meta, groups=groups,
                   back_matter=BackMatter(resources=resources))


def build_ssp() -> SystemSecurityPlan:
    """A placeholder SSP: the provider under assessment as one component, every provision listed.

    OSCAL's assessment plan must import an SSP. The provider's own system is not described here:
    the manufacturer may replace this file with its SSP for the product, keeping the control ids.
    """
    from trestle.oscal.common import Status, SystemComponent, SystemComponentTypeValidValues, SystemId
    from trestle.oscal.common import SystemComponentOperationalStateValidValues as OpState
    from trestle.oscal.ssp import (
        AuthorizationBoundary,
        ControlImplementation,
        ImplementedRequirement,
        ImportProfile,
        InformationType,
        OperationalStateValidValues,
        Status1,
        SystemCharacteristics,
        SystemImplementation,
        SystemInformation,
        SystemSecurityPlan,
    )

    cat = load_catalogue()
    what = "The third-party provider (cloud service, app or device software) behind a consumer IoT product"
    component = SystemComponent(uuid=uid("component", "provider"), type=SystemComponentTypeValidValues.this_system,
                                title="Provider under assessment", description=f"{what}.",
                                status=Status(state=OpState.operational))
    characteristics = SystemCharacteristics(
        system_ids=[SystemId(id="iotvet-provider-under-assessment")], system_name="Provider under assessment",
        description=f"{what}. A placeholder: iotvet assesses the provider from outside and with the vendor's "
                    "answers, and does not describe its system.",
        system_information=SystemInformation(information_types=[InformationType(
            uuid=uid("information-type", "product-data"), title="Consumer IoT product data",
            description="Account, device, telemetry and personal data the provider handles for the product.")]),
        status=Status1(state=OperationalStateValidValues.operational),
        authorization_boundary=AuthorizationBoundary(description="Not described: see the scope remarks."))
    requirements = [ImplementedRequirement(uuid=uid("implemented-requirement", p.id), control_id=control_id(p.id))
                    for p in cat.provisions]
    return SystemSecurityPlan(
        uuid=uid("ssp", "placeholder"),
        metadata=metadata("Placeholder SSP: the provider under assessment", DATA_MODIFIED, DATA_VERSION,
                          remarks=scope_remarks()),
        import_profile=ImportProfile(href=CATALOG_FILE, remarks="iotvet's catalog, used directly as the baseline."),
        system_characteristics=characteristics,
        system_implementation=SystemImplementation(components=[component]),
        control_implementation=ControlImplementation(
            description="The provider's implementation is what the assessment examines; it is not described here.",
            implemented_requirements=requirements))
