"""Observations reduced to what the evaluator weighs (TLS versions, certificate, HSTS, security.txt); stored runs."""

from __future__ import annotations

import dataclasses

from iotvet.assess.inputs import RunEvidence, security_txt_observation, tls_observations
from iotvet.checks.observe import SecurityTxtObservation
from iotvet.checks.securitytxt import Flag, parse
from iotvet.core.redact import Redactor
from iotvet.store import Store
from iotvet.transport.certfacts import CertificateFacts
from iotvet.transport.tls import Support, TlsObservation, VersionResult
from tests.assess.synthetic import cell, leak

CERT = CertificateFacts(subject="CN=api", issuer="CN=ca", names=("api.example",), not_before="2026-01-01T00:00:00Z",
                        not_after="2027-01-01T00:00:00Z", expired=False, not_yet_valid=False, hostname_matches=True,
                        self_signed=False, key_type="EC", key_bits=256, key_curve="secp256r1",
                        signature_hash="sha256", chain_length=2)
MODERN = (VersionResult("TLSv1.3", Support.ACCEPTED, cipher="TLS_AES_256_GCM_SHA384"),
          VersionResult("TLSv1.2", Support.ACCEPTED, cipher="ECDHE-ECDSA-AES256-GCM-SHA384"),
          VersionResult("TLSv1.1", Support.REFUSED), VersionResult("TLSv1.0", Support.UNTESTABLE))
GOOD = TlsObservation(host="api.example", port=443, versions=MODERN, best_version="TLSv1.3",
                      cipher="TLS_AES_256_GCM_SHA384", certificate=CERT, trusted=True, hsts="max-age=31536000",
                      hsts_inconclusive=None, connections=4)


def _statuses(obs: TlsObservation) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {o.kind: (o.status, o.problems) for o in tls_observations(obs.to_json())}


def test_a_modern_endpoint_is_clean_on_every_count() -> None:
    found = tls_observations(GOOD.to_json())
    assert [(o.kind, o.subject, o.status) for o in found] == [
        ("tls-version", "api.example:443", "ok"), ("tls-certificate", "api.example:443", "ok"),
        ("hsts", "api.example:443", "ok")]
    assert "accepts TLSv1.3, TLSv1.2; refuses TLSv1.1" in found[0].summary


def test_legacy_versions_and_bad_certificates_are_problems() -> None:
    legacy = dataclasses.replace(GOOD, versions=(*MODERN[:2], VersionResult("TLSv1.1", Support.ACCEPTED)))
    assert _statuses(legacy)["tls-version"] == ("problem", ("accepts TLSv1.1",))
    for change, problem in [({"expired": True}, "expired on 2027-01-01T00:00:00Z"),
                            ({"self_signed": True}, "self-signed"),
                            ({"hostname_matches": False}, "names api.example, not this host"),
                            ({"key_type": "RSA", "key_bits": 1024}, "RSA key of 1024 bits"),
                            ({"signature_hash": "sha1"}, "signed with sha1")]:
        bad = dataclasses.replace(GOOD, certificate=dataclasses.replace(CERT, **change))  # type: ignore[arg-type]
        assert _statuses(bad)["tls-certificate"] == ("problem", (problem,))
    untrusted = dataclasses.replace(GOOD, trusted=False, trust_error="unable to get local issuer certificate")
    assert _statuses(untrusted)["tls-certificate"][0] == "problem"
    unknown = dataclasses.replace(GOOD, trusted=None, trust_error="could not verify: timeout")
    assert _statuses(unknown)["tls-certificate"][0] == "inconclusive"


def test_no_answer_no_tls_and_no_hsts() -> None:
    silent = TlsObservation(host="::1", port=8883, inconclusive="connection-failed: refused")
    assert [(o.kind, o.subject, o.status) for o in tls_observations(silent.to_json())] == [
        ("tls-version", "[::1]:8883", "inconclusive")]
    refusing = TlsObservation(host="h", port=1, versions=tuple(dataclasses.replace(v, support=Support.REFUSED)
                                                                for v in MODERN))
    assert _statuses(refusing) == {"tls-version": ("problem", ("refused every TLS version tried (TLSv1.3, TLSv1.2, "
                                                               "TLSv1.1, TLSv1.0)",))}
    plain = dataclasses.replace(GOOD, hsts=None)
    assert _statuses(plain)["hsts"] == ("absent", ())
    assert "hsts" not in _statuses(dataclasses.replace(GOOD, hsts=None, hsts_inconclusive="not checked"))


def test_security_txt_found_absent_broken_or_unknown() -> None:
    text = parse("Contact: mailto:s@x.example\nExpires: 2027-01-01T00:00:00Z\nPolicy: https://x.example/p\n")
    ok = SecurityTxtObservation(found=True, url="https://x.example/.well-known/security.txt", file=text,
                                flags=(Flag("charset", "warning", "no charset"),))
    seen = security_txt_observation(ok, "https://x.example")
    assert (seen.status, seen.subject, seen.notes) == ("ok", ok.url, ("charset: no charset",))
    assert seen.summary == "Contact mailto:s@x.example; Policy https://x.example/p"
    broken = dataclasses.replace(ok, flags=(Flag("expired", "error", "Expires has passed"),))
    assert security_txt_observation(broken, "https://x.example").problems == ("expired: Expires has passed",)
    missing = SecurityTxtObservation(found=False, flags=(Flag("missing", "error", "no security.txt at x"),))
    absent = security_txt_observation(missing, "https://x.example")
    assert (absent.status, absent.problems, absent.subject) == ("absent", (), "https://x.example")
    unknown = SecurityTxtObservation(found=False, inconclusive="HTTP 503")
    assert security_txt_observation(unknown, "https://x.example").status == "inconclusive"


def test_run_evidence_reads_a_stored_run(tmp_path: object) -> None:
    with Store.open(f"sqlite:///{tmp_path}/s.db", redactor=Redactor()) as store:
        run_id = store.start_run(mode="safe-writes")
        leak_cell, leak_finding = leak("api-bola-read")
        for item in (leak_cell, cell("api-unauth", "enforced", relation="anonymous")):
            store.record_cell(item)
        store.record_finding(leak_finding)
        store.finish_run("incomplete", reason="budget")
        evidence = RunEvidence.from_run(store.load_run(run_id))
    assert (evidence.run_id, evidence.status, evidence.reason, evidence.mode) == (run_id, "incomplete", "budget",
                                                                                   "safe-writes")
    assert sorted(c.verdict.value for c in evidence.cells) == ["enforced", "leak"]
    assert [f.fingerprint for f in evidence.findings] == [leak_finding.fingerprint]
