"""The check catalogue, the registry, and the Finding record's public JSON fields."""

from __future__ import annotations

import pytest

from iotvet.checks import CATALOGUE, Registry
from iotvet.core.records import Evidence, Finding, Operation, Relation, Severity, Verdict

# Ids the core issue names, plus the research catalogue's: outputs and the lab use exactly these.
REQUIRED = [
    "api-bola-read", "api-bola-write", "api-unauth", "api-hidden-route", "api-bfla", "api-xtenant-admin",
    "api-mass-assign", "jwt-none", "jwt-unverified", "jwt-weak-key", "jwt-claim-swap", "jwt-expired",
    "jwt-alg-confusion", "jwt-header-injection", "auth-stale-token", "auth-user-enum", "auth-no-throttle",
    "api-input-validation", "api-bola", "api-xbrand-token", "mq-anon", "mq-plaintext", "mq-wildcard-read",
    "mq-xtenant-read", "mq-xtenant-write", "mq-sys-leak", "mq-retained-leak", "mq-will-inject",
    "mq-clientid-kick", "mq-session-steal", "mq-idvar-inject", "mq-stale-authz", "mq-shadow-xtenant",
    "mq-any-leak", "id-static-secret", "id-dup-register", "id-shared-cred", "id-selfreg", "id-enumerable",
    "bd-bind-hijack", "bd-unbind-unauth", "bd-rebind-residual", "bd-share-revoke", "bd-share-role",
    "bd-authz-data-leak", "bd-xcloud", "dv-default-creds", "dv-exposed-svc", "dv-upnp", "dv-update-insecure",
    "dv-tls-novalidate",
]


def test_catalogue_has_every_required_id_with_text() -> None:
    missing = [i for i in REQUIRED if i not in CATALOGUE]
    assert missing == []
    for info in CATALOGUE.values():
        assert info.plane in ("http", "mqtt")
        assert info.title and info.remediation and info.standards
        assert all(s.split(":")[0] in ("EN303645", "OWASP-API") for s in info.standards)


def test_registry_refuses_unknown_and_duplicate_ids() -> None:
    reg = Registry(CATALOGUE)

    @reg.register("api-bola-read")
    def bola_read() -> None:
        """A check."""

    assert "api-bola-read" in reg and reg.get("api-bola-read").func is bola_read
    assert [c.info.id for c in reg.family("object_access")] == ["api-bola-read"]
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("api-bola-read")(bola_read)
    with pytest.raises(ValueError, match="unknown check id"):
        reg.register("api-made-up")(bola_read)


def test_finding_json_fields_are_the_public_contract() -> None:
    f = Finding(check="api-bola-read", severity=Severity.HIGH, title="t", plane="http",
                operation=Operation(method="GET", path="/vehicles/{vin}"), attacker="a", victim="b",
                relation=Relation.OTHER_TENANT, evidence=[Evidence(summary="s")], reproduction="curl ...",
                standards=["EN303645:5.5-5"], remediation="r")
    data = f.model_dump(mode="json")
    assert set(data) == {"check", "severity", "title", "plane", "operation", "topic", "attacker", "victim",
                         "relation", "evidence", "reproduction", "standards", "remediation"}
    assert data["operation"] == {"method": "GET", "path": "/vehicles/{vin}"}
    assert data["relation"] == "other-tenant" and data["severity"] == "high"
    same = Finding.model_validate(data)
    assert same.fingerprint == f.fingerprint
    other = same.model_copy(update={"victim": "c"})
    assert other.fingerprint != f.fingerprint


def test_public_enums() -> None:
    assert [r.value for r in Relation] == ["self", "same-group", "same-tenant", "other-tenant", "anonymous",
                                           "lower-role", "other-tenant-admin", "device"]
    assert [v.value for v in Verdict] == ["enforced", "leak", "inconclusive", "not-tested"]
    assert Severity.CRITICAL > Severity.HIGH >= Severity.HIGH > Severity.INFO
