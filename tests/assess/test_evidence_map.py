"""The evidence map: complete, resolving, and consistent with the check catalogue's ``standards``."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from iotvet.assess import load_catalogue
from iotvet.assess.evidence_map import OBSERVATION_KINDS, EvidenceMap, load_evidence_map
from iotvet.checks.registry import CATALOGUE

RAW: dict[str, Any] = yaml.safe_load(
    resources.files("iotvet.assess").joinpath("data", "evidence.yaml").read_text(encoding="utf-8"))

DEPARTURES = {
    ("api-bola-read", "5.6-2"): "5.6-2 is about interfaces reachable without authentication; a read by an "
                                "authenticated stranger is access control (5.5-5) and personal data (5.8-2), and "
                                "the unauthenticated case is api-unauth's, which does fail 5.6-2",
    ("id-shared-cred", "5.4-1"): "5.4-1 is about how a unit stores its parameters, which a network probe cannot see; "
                                 "a credential shared across units is what 5.4-4 (unique per unit) forbids, and the "
                                 "map fails 5.4-4 instead",
}
"""Provisions the check catalogue lists for a check that the evidence map deliberately does not fail, and why."""


def test_every_check_of_the_catalogue_is_mapped_and_every_mapped_check_exists() -> None:
    emap = load_evidence_map()
    assert sorted(emap.checks) == sorted(CATALOGUE)
    assert sorted(emap.observations) == sorted(OBSERVATION_KINDS)


def test_every_provision_named_exists_and_every_mapping_has_a_rationale() -> None:
    known = set(load_catalogue().by_id)
    for name, entry in [*RAW["checks"].items(), *RAW["observations"].items()]:
        for direction in ("fails", "supports", "context"):
            for pid, why in (entry.get(direction) or {}).items():
                assert pid in known, (name, pid)
                assert isinstance(why, str) and len(why.split()) >= 4, (name, direction, pid)


def test_the_catalogues_standards_appear_in_the_map_or_the_departure_is_explained() -> None:
    emap = load_evidence_map()
    missing = []
    for check, info in CATALOGUE.items():
        refs = {s.split(":", 1)[1] for s in info.standards if s.startswith("EN303645:")}
        missing += [(check, pid) for pid in sorted(refs - set(emap.checks[check].fails))]
    assert sorted(missing) == sorted(DEPARTURES)
    assert all(len(why) > 60 for why in DEPARTURES.values())


def test_supports_never_reach_beyond_what_a_leak_fails() -> None:
    for name, bearing in load_evidence_map().checks.items():
        assert set(bearing.supports) <= set(bearing.fails), name
        assert bearing.fails, name


def test_claims_name_questionnaire_fields_and_known_evidence() -> None:
    emap = load_evidence_map()
    assert len({r.claim for r in emap.claims}) == len(emap.claims)
    for rule in emap.claims:
        assert rule.checks or rule.observations
        assert emap.claim_provisions(rule), rule.claim  # the field informs at least one provision
    brief = {"access_control.tenant_segregation": {"api-bola-read", "api-bola-write", "api-xtenant-admin",
                                                   "api-xbrand-token", "mq-xtenant-read", "mq-xtenant-write",
                                                   "mq-wildcard-read"},
             "authentication.login_rate_limiting": {"auth-no-throttle"},
             "authentication.uniform_login_errors": {"auth-user-enum"},
             "authentication.sessions_end_on_logout": {"auth-stale-token"},
             "communications.tls_everywhere": {"api-plaintext", "mq-plaintext"},
             "credentials.per_device_service_credentials": {"id-shared-cred"},
             "attack_surface.debug_routes_disabled": {"api-hidden-route"},
             "attack_surface.input_validation": {"api-input-validation"},
             "access_control.share_revocation": {"bd-share-revoke"},
             "access_control.device_binding_proof": {"bd-bind-hijack"}}
    rules = {r.claim: r for r in emap.claims}
    for claim, checks in brief.items():
        assert checks <= set(rules[claim].checks), claim
    assert {c for c in CATALOGUE if c.startswith("jwt-")} == set(rules["authentication.tokens_verified"].checks)
    assert rules["vulnerability_disclosure.security_txt"].observations == {"security-txt": ("absent", "problem")}


@pytest.mark.parametrize(("where", "change", "message"), [
    ("checks", {"api-nope": {"fails": {"5.5-5": "a rationale of some words"}}}, "no such check"),
    ("checks", {"api-unauth": {"fails": {"5.5-55": "a rationale of some words"}}}, "unknown provision"),
    ("checks", {"api-unauth": {"fails": {"5.5-4": "x y z w"}, "supports": {"5.6-2": "x y z w"}}}, "does not fail"),
    ("checks", {"api-unauth": {"fails": {"5.5-4": " "}}}, "needs a rationale"),
    ("observations", {"tls-ciphers": {"fails": {"5.5-1": "a rationale of some words"}}}, "tls-ciphers"),
])
def test_the_loader_refuses_a_broken_map(where: str, change: dict[str, Any], message: str) -> None:
    data = yaml.safe_load(yaml.safe_dump(RAW))
    data[where].update(change)
    with pytest.raises(ValidationError, match=message):
        EvidenceMap.model_validate(data)


@pytest.mark.parametrize(("rule", "message"), [
    ({"claim": "access_control.tenant_segregaton", "observed": "x", "checks": ["api-unauth"]}, "not a questionnaire"),
    ({"claim": "access_control.role_checks", "observed": "x", "checks": ["api-unauth"]}, "appears twice"),
    ({"claim": "operations.sbom_available", "observed": "x", "checks": ["api-nope"]}, "unknown check"),
    ({"claim": "operations.sbom_available", "observed": "x"}, "names no evidence"),
])
def test_the_loader_refuses_a_broken_claim_rule(rule: dict[str, Any], message: str) -> None:
    data = yaml.safe_load(yaml.safe_dump(RAW))
    data["claims"].append(rule)
    with pytest.raises(ValidationError, match=message):
        EvidenceMap.model_validate(data)
