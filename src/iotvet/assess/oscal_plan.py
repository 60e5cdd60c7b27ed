"""iotvet's OSCAL assessment plan for EN 303 645 V2.1.1: what is reviewed, and by which activities.

Reviewed controls: every provision. Activities: each probe check of the check catalogue (method
TEST, related to the provisions its catalogue entry names), the passive observations (TLS,
security.txt) and the vendor questionnaire (EXAMINE, all provisions). Three tasks group them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from iotvet.assess.catalogue import load_catalogue
from iotvet.assess.oscal_base import (
    DATA_MODIFIED,
    DATA_VERSION,
    SSP_FILE,
    control_id,
    metadata,
    prop,
    scope_remarks,
    uid,
)
from iotvet.checks import CATALOGUE

if TYPE_CHECKING:
    from trestle.oscal.assessment_plan import AssessmentPlan
    from trestle.oscal.common import Activity, AssessmentSubjectAll, ReviewedControls, Task

PREFIX: Final = "EN303645:"
OBSERVATIONS: Final = {
    "tls": ("Observe TLS on in-scope endpoints",
            "Record the TLS versions, cipher, certificate and HSTS of each endpoint in scope, passively.",
            ("5.5-1", "5.5-7", "5.8-1")),
    "security-txt": ("Fetch security.txt", "Fetch the vendor's security.txt and check it against RFC 9116.",
                     ("5.2-1",)),
}
"""Passive observations the assessment cites (source ``observation``), with the provisions they inform."""


def selection(provisions: Iterable[str], description: str | None = None) -> ReviewedControls:
    """Controls selected by provision id."""
    from trestle.oscal.common import ControlSelections, ReviewedControls, SelectControlById

    return ReviewedControls(description=description, control_selections=[ControlSelections(
        include_controls=[SelectControlById(control_id=control_id(p)) for p in provisions])])


def _activity(key: str, title: str, description: str, method: str, provisions: Iterable[str],
              extra: dict[str, str] | None = None) -> Activity:
    from trestle.oscal.common import Activity

    wanted = set(provisions)
    ordered = [p.id for p in load_catalogue().provisions if p.id in wanted]
    props = [prop("method", method, ours=False), prop("activity", key)]
    props += [prop(name, value) for name, value in (extra or {}).items()]
    return Activity(uuid=uid("activity", key), title=title, description=description, props=props,
                    related_controls=selection(ordered) if ordered else None)


def activities() -> dict[str, Activity]:
    """Every activity of the plan by key: ``check:<id>``, ``observation:<name>`` and ``questionnaire``."""
    found = {"questionnaire": _activity(
        "questionnaire", "Review the vendor questionnaire",
        "Read the vendor's answers (claims, conditions and extra testing information) and the documents they cite; "
        "decide which conditional provisions apply.", "EXAMINE", (p.id for p in load_catalogue().provisions))}
    for name, (title, description, provisions) in OBSERVATIONS.items():
        found[f"observation:{name}"] = _activity(f"observation:{name}", title, description, "TEST", provisions)
    for check in CATALOGUE.values():
        targets = [s.removeprefix(PREFIX) for s in check.standards if s.startswith(PREFIX)]
        found[f"check:{check.id}"] = _activity(
            f"check:{check.id}", f"Probe check {check.id}", f"{check.title}. Remediation: {check.remediation}",
            "TEST", targets, {"check-family": check.family, "check-plane": check.plane,
                                 "check-severity": check.severity.value})
    return found


def _all_components() -> AssessmentSubjectAll:
    from trestle.oscal.common import AssessmentSubjectAll, IncludeAll

    return AssessmentSubjectAll(type="component", include_all=IncludeAll())


def _task(key: str, title: str, description: str, chosen: list[Activity]) -> Task:
    from trestle.oscal.common import AssessmentSubject, AssociatedActivity, Task, TaskValidValues

    return Task(uuid=uid("task", key), type=TaskValidValues.action, title=title, description=description,
                associated_activities=[AssociatedActivity(activity_uuid=a.uuid,
                                                          subjects=[AssessmentSubject(_all_components())])
                                       for a in chosen])


def build_plan() -> AssessmentPlan:
    """The assessment plan every iotvet assessment-results document imports."""
    from trestle.oscal.assessment_plan import AssessmentPlan, LocalDefinitions, TermsAndConditions
    from trestle.oscal.common import AssessmentPart, ImportSsp

    cat = load_catalogue()
    acts = activities()
    by_kind = {kind: [a for key, a in acts.items() if key.startswith(kind)]
               for kind in ("check:", "observation:", "questionnaire")}
    tasks = [
        _task("probe", "Probe the provider", "Run iotvet's checks against the provider's REST API and MQTT broker "
              "with the manufacturer's test accounts (iotvet probe); cite the stored runs.", by_kind["check:"]),
        _task("observe", "Observe passively", "Record TLS and security.txt facts of the endpoints in scope.",
              by_kind["observation:"]),
        _task("questionnaire", "Review the questionnaire", "Validate the vendor's questionnaire (iotvet assess "
              "validate) and weigh each claim against the probe evidence.", by_kind["questionnaire"]),
    ]
    return AssessmentPlan(
        uuid=uid("assessment-plan", cat.standard, cat.version),
        metadata=metadata(f"iotvet assessment plan: {cat.standard} {cat.version} for a third-party IoT provider",
                          DATA_MODIFIED, DATA_VERSION, remarks=scope_remarks()),
        import_ssp=ImportSsp(href=SSP_FILE, remarks="A placeholder SSP shipped with iotvet; OSCAL requires one."),
        local_definitions=LocalDefinitions(activities=list(acts.values())),
        terms_and_conditions=TermsAndConditions(parts=[AssessmentPart(
            uuid=uid("part", "methodology"), name="methodology", title="Scope and method", prose=scope_remarks())]),
        reviewed_controls=selection((p.id for p in cat.provisions), "Every provision of EN 303 645 V2.1.1."),
        assessment_subjects=[_all_components()],
        tasks=tasks)
