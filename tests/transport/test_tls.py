"""TLS observations against real servers on 127.0.0.1: versions, cipher, certificate, trust, HSTS, rails."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from iotvet.core.errors import UserError
from iotvet.core.scope import Scope
from iotvet.transport import Governor, HttpTransport
from iotvet.transport.certfacts import CertificateFacts
from iotvet.transport.tls import Support, TlsObservation, VersionResult, client_context, local_refusal, observe_tls
from tests.servers import Recorder, Running, free_port
from tests.transport.tls_servers import V, issue, serve_tls, server_context, silent, write_ca

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ECDSA_12 = "ECDHE-ECDSA-AES256-GCM-SHA384"
TLS13 = "TLS_AES_256_GCM_SHA384"
HSTS = "max-age=63072000; includeSubDomains"
_RANDOM = re.compile(r"#[^,]*")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="iotvet test CA")


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_ca(ca, tmp_path_factory.mktemp("tls"))


def _app(recorder: Recorder) -> web.Application:
    async def root(request: web.Request) -> web.Response:
        return web.Response(text="ok", headers={"Strict-Transport-Security": HSTS})

    app = web.Application()
    app.router.add_get("/", root)
    return app


@contextmanager
def server(cert: trustme.LeafCert, low: ssl.TLSVersion = V.TLSv1_2, high: ssl.TLSVersion = V.TLSv1_3,
           ) -> Iterator[Running]:
    with serve_tls(_app, server_context(cert, low, high)) as running:
        yield running


def observe(port: int, *, scope: list[str] | None = None, ca: str | None = None, timeout: float = 5.0,
            max_requests: int = 100, hsts: bool = False) -> tuple[TlsObservation, Governor]:
    governor = Governor(rate=1000, concurrency=4, max_requests=max_requests, max_duration=60)
    allowed = Scope(scope if scope is not None else [f"127.0.0.1:{port}"])

    async def go() -> TlsObservation:
        if not hsts:
            return await observe_tls(allowed, governor, "127.0.0.1", port, ca=ca, timeout=timeout, now=NOW)
        async with HttpTransport(allowed, governor, run_id="r-tls", ca=ca) as http:
            return await observe_tls(allowed, governor, "127.0.0.1", port, ca=ca, timeout=timeout, now=NOW,
                                     http=http)

    return asyncio.run(go()), governor


def legacy(support_if_offered: Support) -> Support:
    """What TLS 1.0/1.1 probes report here: the expected answer, or untestable on a stricter OpenSSL."""
    return support_if_offered if local_refusal(client_context(V.TLSv1)) is None else Support.UNTESTABLE


def supports(obs: TlsObservation) -> list[tuple[str, Support, str | None]]:
    return [(r.version, r.support, r.cipher) for r in obs.versions]


def facts(**changes: object) -> CertificateFacts:
    """The facts a valid ECDSA leaf for 127.0.0.1 and localhost shows, with ``changes``."""
    base = CertificateFacts(
        subject="OU=Testing cert #,O=trustme v1.2.1", issuer="OU=Testing CA #,O=iotvet test CA",
        names=("127.0.0.1", "localhost"),
        not_before="2024-01-01T00:00:00Z", not_after="2099-01-01T00:00:00Z", expired=False, not_yet_valid=False,
        hostname_matches=True, self_signed=False, key_type="EC", key_bits=256, key_curve="secp256r1",
        signature_hash="sha256", chain_length=1,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _normalise(obs: TlsObservation) -> TlsObservation:
    """Blank what trustme randomises (the OU suffix) and the refusal wording (OpenSSL's, not ours)."""
    cert = obs.certificate
    if cert is not None:
        cert = dataclasses.replace(cert, subject=_RANDOM.sub("#", cert.subject), issuer=_RANDOM.sub("#", cert.issuer))
    versions = tuple(dataclasses.replace(v, reason="") if v.support is Support.REFUSED else v for v in obs.versions)
    return dataclasses.replace(obs, certificate=cert, versions=versions)


def _expected(port: int, rows: list[tuple[str, Support, str | None]], cert: CertificateFacts | None, *,
              best: str | None, cipher: str | None, trusted: bool | None, trust_error: str | None = None,
              connections: int, hsts: str | None = None, hsts_inconclusive: str | None = "not checked",
              ) -> TlsObservation:
    return TlsObservation(
        host="127.0.0.1", port=port, versions=tuple(VersionResult(v, s, "", c) for v, s, c in rows),
        best_version=best, cipher=cipher, certificate=cert, trusted=trusted, trust_error=trust_error,
        hsts=hsts, hsts_inconclusive=hsts_inconclusive, connections=connections,
    )


def _legacy_rows(support: Support) -> list[tuple[str, Support, str | None]]:
    return [("TLSv1.1", legacy(support), None), ("TLSv1.0", legacy(support), None)]


def _offered_legacy() -> int:
    return 2 if local_refusal(client_context(V.TLSv1)) is None else 0


def test_only_tls12(ca: trustme.CA, ca_file: str) -> None:
    leaf = issue(ca, "127.0.0.1", "localhost")
    with server(leaf, V.TLSv1_2, V.TLSv1_2) as srv:
        obs, governor = observe(srv.port, ca=ca_file)
    rows = [("TLSv1.3", Support.REFUSED, None), ("TLSv1.2", Support.ACCEPTED, ECDSA_12),
            *_legacy_rows(Support.REFUSED)]
    assert _normalise(obs) == _expected(srv.port, rows, facts(), best="TLSv1.2", cipher=ECDSA_12, trusted=True,
                                        connections=3 + _offered_legacy())
    assert all(v.reason for v in obs.versions if v.support is Support.REFUSED)
    assert governor.usage.permits == obs.connections


def test_only_tls13(ca: trustme.CA, ca_file: str) -> None:
    leaf = issue(ca, "127.0.0.1", "localhost")
    with server(leaf, V.TLSv1_3, V.TLSv1_3) as srv:
        obs, _ = observe(srv.port, ca=ca_file)
    rows = [("TLSv1.3", Support.ACCEPTED, TLS13), ("TLSv1.2", Support.REFUSED, None), *_legacy_rows(Support.REFUSED)]
    assert _normalise(obs) == _expected(srv.port, rows, facts(), best="TLSv1.3", cipher=TLS13, trusted=True,
                                        connections=3 + _offered_legacy())


def test_tls12_and_13_with_hsts_through_the_http_transport(ca: trustme.CA, ca_file: str) -> None:
    leaf = issue(ca, "127.0.0.1", "localhost")
    with server(leaf) as srv:
        obs, governor = observe(srv.port, ca=ca_file, hsts=True)
    rows = [("TLSv1.3", Support.ACCEPTED, TLS13), ("TLSv1.2", Support.ACCEPTED, ECDSA_12),
            *_legacy_rows(Support.REFUSED)]
    assert _normalise(obs) == _expected(srv.port, rows, facts(), best="TLSv1.3", cipher=TLS13, trusted=True,
                                        connections=3 + _offered_legacy(), hsts=HSTS, hsts_inconclusive=None)
    assert srv.recorder.paths() == ["/"]
    assert governor.usage.permits == obs.connections + 1  # the HSTS GET spent one too
    assert json.loads(json.dumps(obs.to_json()))["versions"][0] == {
        "version": "TLSv1.3", "support": "accepted", "reason": "", "cipher": TLS13}


def test_legacy_versions_accepted_when_offered(ca: trustme.CA, ca_file: str) -> None:
    leaf = issue(ca, "127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
    with server(leaf, V.TLSv1, V.TLSv1_3) as srv:
        obs, _ = observe(srv.port, ca=ca_file)
    assert [(r.version, r.support) for r in obs.versions] == [
        ("TLSv1.3", Support.ACCEPTED), ("TLSv1.2", Support.ACCEPTED),
        ("TLSv1.1", legacy(Support.ACCEPTED)), ("TLSv1.0", legacy(Support.ACCEPTED))]
    assert obs.versions[1].cipher == "ECDHE-RSA-AES256-GCM-SHA384"
    assert obs.certificate is not None and (obs.certificate.key_type, obs.certificate.key_bits) == ("RSA", 2048)
    assert obs.trusted is True


def test_expired_certificate(ca: trustme.CA, ca_file: str) -> None:
    leaf = issue(ca, "127.0.0.1", "localhost", not_before=datetime(2020, 1, 1), not_after=datetime(2021, 1, 1))
    with server(leaf) as srv:
        obs, _ = observe(srv.port, ca=ca_file)
    assert _normalise(obs).certificate == facts(
        not_before="2020-01-01T00:00:00Z", not_after="2021-01-01T00:00:00Z", expired=True)
    assert (obs.trusted, obs.trust_error) == (False, "certificate has expired")
    assert obs.best_version == "TLSv1.3" and obs.inconclusive is None


def test_wrong_hostname(ca: trustme.CA, ca_file: str) -> None:
    leaf = issue(ca, "device.other.example", "*.other.example")
    with server(leaf) as srv:
        obs, _ = observe(srv.port, ca=ca_file)
    assert obs.certificate is not None
    assert (obs.certificate.names, obs.certificate.hostname_matches) == (
        ("device.other.example", "*.other.example"), False)
    assert obs.trusted is False and obs.trust_error is not None and "127.0.0.1" in obs.trust_error


def test_self_signed_and_untrusted(ca_file: str) -> None:
    rogue = trustme.CA(organization_name="rogue")
    with serve_tls(_app, _self_signed_context(rogue)) as srv:
        obs, _ = observe(srv.port, ca=ca_file)
    assert obs.certificate is not None and obs.certificate.self_signed
    assert (obs.trusted, obs.trust_error) == (False, "self-signed certificate")


def _self_signed_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with ca.cert_pem.tempfile() as cert, ca.private_key_pem.tempfile() as key:
        ctx.load_cert_chain(cert, key)
    return ctx


def test_system_trust_rejects_a_private_ca(ca: trustme.CA) -> None:
    leaf = issue(ca, "127.0.0.1")
    with server(leaf) as srv:
        obs, _ = observe(srv.port, ca=None)
    assert (obs.trusted, obs.trust_error) == (False, "unable to get local issuer certificate")


def test_out_of_scope_sends_nothing() -> None:
    with silent() as listener:
        obs, governor = observe(listener.port, scope=[f"127.0.0.1:{free_port()}"])
        time.sleep(0.2)
        assert listener.accepted == 0
    assert obs.inconclusive == f"out-of-scope: https://127.0.0.1:{listener.port} is not in scope.hosts"
    assert (obs.versions, obs.connections, governor.usage.permits) == ((), 0, 0)


def test_silent_endpoint_is_inconclusive_within_the_timeout() -> None:
    with silent() as listener:
        began = time.monotonic()
        obs, _ = observe(listener.port, timeout=0.5)
        elapsed = time.monotonic() - began
        assert listener.accepted == 1
    assert elapsed < 2.0
    assert obs.inconclusive == "timeout: no handshake answer within 0.5s"
    assert obs.connections == 1 and obs.certificate is None and obs.trusted is None
    assert [r.support for r in obs.versions] == [Support.INCONCLUSIVE] * 4
    assert obs.versions[1].reason == "not attempted: timeout: no handshake answer within 0.5s"


def test_closed_port_is_inconclusive_after_one_attempt() -> None:
    port = free_port()
    obs, governor = observe(port)
    assert obs.inconclusive is not None and obs.inconclusive.startswith("connection-failed: 127.0.0.1:")
    assert obs.connections == 1 and governor.usage.permits == 1


def test_plain_http_endpoint_refuses_every_version() -> None:
    with serve_tls(_app, None) as srv:
        obs, _ = observe(srv.port)
    assert obs.inconclusive is None and obs.best_version is None and obs.certificate is None
    assert {r.support for r in obs.versions} <= {Support.REFUSED, Support.UNTESTABLE}


def test_budget_spent_stops_the_probes(ca: trustme.CA, ca_file: str) -> None:
    leaf = issue(ca, "127.0.0.1")
    with server(leaf) as srv:
        obs, governor = observe(srv.port, ca=ca_file, max_requests=1)
    assert [r.support for r in obs.versions] == [Support.ACCEPTED] + [Support.INCONCLUSIVE] * 3
    assert obs.versions[1].reason == "budget-exhausted: max_requests of 1 is spent"
    assert obs.trusted is None and obs.trust_error == "could not verify: budget-exhausted: max_requests of 1 is spent"
    assert obs.connections == 1 and governor.usage.permits == 1


def test_versions_the_local_library_cannot_offer_are_untestable_and_cost_nothing(
        ca: trustme.CA, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("iotvet.transport.tls.LEGACY_CIPHERS", "ECDHE+AESGCM")  # no cipher TLS 1.0/1.1 can use
    leaf = issue(ca, "127.0.0.1")
    with server(leaf) as srv:
        obs, governor = observe(srv.port, ca=ca_file)
    assert [(r.version, r.support) for r in obs.versions[2:]] == [
        ("TLSv1.1", Support.UNTESTABLE), ("TLSv1.0", Support.UNTESTABLE)]
    assert obs.versions[3].reason == "the local TLS library cannot offer it (NO_CIPHERS_AVAILABLE)"
    assert obs.connections == 3 and governor.usage.permits == 3


def test_hsts_absent_behind_an_untrusted_certificate_is_inconclusive(ca: trustme.CA, tmp_path: Path) -> None:
    other = write_ca(trustme.CA(), tmp_path)
    leaf = issue(ca, "127.0.0.1")
    with server(leaf) as srv:
        obs, _ = observe(srv.port, ca=other, hsts=True)
    assert obs.hsts is None and obs.hsts_inconclusive is not None and obs.hsts_inconclusive.startswith("tls-error")
    assert srv.recorder.paths() == []


def test_an_unreadable_ca_file_is_a_user_error_before_anything_is_sent(tmp_path: Path) -> None:
    with silent() as listener:
        with pytest.raises(UserError, match="cannot load the CA file"):
            observe(listener.port, ca=str(tmp_path / "missing.pem"))
        assert listener.accepted == 0
