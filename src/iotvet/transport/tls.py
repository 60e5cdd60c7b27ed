"""Observe the TLS of an in-scope endpoint: versions accepted, cipher, certificate, HSTS (EN 303 645 5.5-1).

One handshake per protocol version (minimum = maximum = that version, TLS 1.3 first), one more
with verification at the best version to learn whether a client trusting the plan's CA (or the
system store) accepts the certificate, and optionally ``GET /`` through the run's
:class:`HttpTransport` for Strict-Transport-Security. Every connection is in scope, spends a
governor permit and has a timeout; a handshake that gets no answer makes the observation
inconclusive rather than slow. Certificate facts come from :mod:`iotvet.transport.certfacts`.

Why not sslyze: its current release (6.3.1) requires ``cryptography>=43,<47`` and we pin 50.0.2,
so pip falls back to SSLyze 1.3.4 (2018) with nassl 1.0.3 built from source. sslyze also opens
its own sockets (threads, its own DNS), outside the scope check and the governor. Handshakes
with stdlib ``ssl`` plus :mod:`cryptography` to read the certificate cover what the assessment
needs: versions, the negotiated cipher, the chain and its validity. Full cipher-suite
enumeration, renegotiation and known-attack scans are not done here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import ssl
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iotvet.core.errors import ScopeViolation, TargetError, TargetErrorKind, UserError
from iotvet.core.scope import Scope
from iotvet.transport.certfacts import CertificateFacts, certificate_facts
from iotvet.transport.governor import Governor
from iotvet.transport.http import HttpTransport, Request

# Lowest security level for TLS 1.0/1.1 probes: OpenSSL 3 refuses their SHA-1 signatures above 0.
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"
VERSIONS: tuple[tuple[str, ssl.TLSVersion], ...] = (
    ("TLSv1.3", ssl.TLSVersion.TLSv1_3), ("TLSv1.2", ssl.TLSVersion.TLSv1_2),
    ("TLSv1.1", ssl.TLSVersion.TLSv1_1), ("TLSv1.0", ssl.TLSVersion.TLSv1),
)


class Support(enum.StrEnum):
    """What one protocol version's handshake showed."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # an alert, a reset or a close instead of a ServerHello
    UNTESTABLE = "untestable"  # the local TLS library cannot offer this version: nothing was sent
    INCONCLUSIVE = "inconclusive"  # no answer, or not attempted


@dataclass(frozen=True, slots=True)
class VersionResult:
    """One protocol version: accepted (with the cipher negotiated), refused, untestable or inconclusive."""

    version: str
    support: Support
    reason: str = ""
    cipher: str | None = None


@dataclass(frozen=True, slots=True)
class TlsObservation:
    """Plain data about one endpoint's TLS; ``inconclusive`` says why nothing could be learnt."""

    host: str
    port: int
    versions: tuple[VersionResult, ...] = ()
    best_version: str | None = None
    cipher: str | None = None
    certificate: CertificateFacts | None = None
    certificate_error: str | None = None
    trusted: bool | None = None
    trust_error: str | None = None
    hsts: str | None = None
    hsts_inconclusive: str | None = "not checked"
    connections: int = 0
    inconclusive: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The observation as JSON-able builtins (enums as their values)."""
        data = dataclasses.asdict(self)
        data["versions"] = [{**v, "support": str(v["support"])} for v in data["versions"]]
        return data


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Handshake:
    version: str
    cipher: str
    chain: tuple[bytes, ...]


def client_context(version: ssl.TLSVersion, *, verify: bool = False, ca: str | None = None) -> ssl.SSLContext:
    """A client context offering exactly ``version``; ``verify`` checks chain and host name."""
    try:
        ctx = ssl.create_default_context(cafile=ca) if verify else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"cannot load the CA file {ca}: {exc}") from None
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # setting TLS 1.0/1.1 warns: probing them is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        if version < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers(LEGACY_CIPHERS)
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def local_refusal(ctx: ssl.SSLContext) -> str | None:
    """Why this machine's TLS library cannot write a ClientHello with ``ctx``, or None when it can.

    Tried in memory (no socket), so an untestable version costs no connection and no permit.
    """
    obj = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="probe.invalid")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return None
    except ssl.SSLError as exc:
        return f"the local TLS library cannot offer it ({exc.reason or exc})"
    return None


class _Prober:
    def __init__(self, governor: Governor, host: str, port: int, timeout: float) -> None:
        self.governor, self.host, self.port, self.timeout = governor, host, port, timeout
        self.connections = 0

    async def handshake(self, ctx: ssl.SSLContext) -> _Handshake:
        """Connect and shake hands; raises _Refused, TargetError or ssl.SSLCertVerificationError."""
        async with self.governor.slot(), self.governor.permit():
            budget = max(0.05, min(self.timeout, self.governor.remaining_time))
            phase = "connect"
            writer: asyncio.StreamWriter | None = None
            try:
                async with asyncio.timeout(budget):
                    self.connections += 1
                    _, writer = await asyncio.open_connection(self.host, self.port)
                    phase = "handshake"
                    await writer.start_tls(ctx, server_hostname=self.host)
                    return _read(writer.get_extra_info("ssl_object"))
            except TimeoutError:
                raise TargetError(TargetErrorKind.TIMEOUT, f"no {phase} answer within {budget:.1f}s") from None
            except ssl.SSLCertVerificationError:
                raise
            except ssl.SSLError as exc:
                raise _Refused(exc.reason or type(exc).__name__) from None
            except OSError as exc:
                if phase == "connect":
                    detail = f"{self.host}:{self.port}: {exc.strerror or exc}"
                    raise TargetError(TargetErrorKind.CONNECT, detail) from None
                raise _Refused(f"connection closed during the handshake ({type(exc).__name__})") from None
            finally:
                if writer is not None:
                    writer.transport.abort()


def _read(obj: ssl.SSLObject) -> _Handshake:
    cipher = obj.cipher()
    inner = getattr(obj, "_sslobj", None)  # the whole chain as sent: private before Python 3.13
    chain: tuple[bytes, ...] = ()
    if inner is not None and hasattr(inner, "get_unverified_chain"):
        chain = tuple(ssl.PEM_cert_to_DER_cert(c.public_bytes()) for c in inner.get_unverified_chain() or ())
    if not chain and (leaf := obj.getpeercert(binary_form=True)):
        chain = (leaf,)
    return _Handshake(obj.version() or "?", cipher[0] if cipher else "?", chain)


async def observe_tls(scope: Scope, governor: Governor, host: str, port: int, *, scheme: str = "https",
                      ca: str | None = None, timeout: float = 10.0, http: HttpTransport | None = None,
                      now: datetime | None = None) -> TlsObservation:
    """Observe ``host:port`` (which ``scope`` must allow for ``scheme``); never raises for target behaviour.

    ``ca`` is the plan's CA file (None: the system store; unreadable: :class:`UserError` before
    anything is sent); ``http``, when given and ``scheme`` is https, fetches ``/`` for HSTS (its
    own ``ca`` decides trust there); ``now`` (aware) is the instant expiry is judged at.
    """
    name = host.strip("[]")
    if not scope.allows(scheme, name, port):
        error = ScopeViolation(f"{scheme}://{_authority(name, port)} is not in scope.hosts")
        return TlsObservation(host=name, port=port, inconclusive=str(error))
    if ca is not None:
        client_context(ssl.TLSVersion.TLSv1_2, verify=True, ca=ca)  # an unreadable CA file: UserError, now
    prober = _Prober(governor, name, port, timeout)
    results: list[VersionResult] = []
    best: tuple[ssl.TLSVersion, _Handshake] | None = None
    stop: TargetError | None = None
    for label, version in VERSIONS:
        ctx = client_context(version)
        if stop is not None:
            results.append(VersionResult(label, Support.INCONCLUSIVE, f"not attempted: {stop}"))
        elif (why := local_refusal(ctx)) is not None:
            results.append(VersionResult(label, Support.UNTESTABLE, why))
        else:
            try:
                shaken = await prober.handshake(ctx)
            except _Refused as refused:
                results.append(VersionResult(label, Support.REFUSED, refused.reason))
            except TargetError as err:
                results.append(VersionResult(label, Support.INCONCLUSIVE, str(err)))
                answered = any(r.support in (Support.ACCEPTED, Support.REFUSED) for r in results)
                if err.kind is not TargetErrorKind.TIMEOUT or not answered:
                    stop = err
            else:
                results.append(VersionResult(label, Support.ACCEPTED, cipher=shaken.cipher))
                best = best or (version, shaken)
    versions = tuple(results)
    if not any(r.support in (Support.ACCEPTED, Support.REFUSED) for r in versions):
        why = str(stop) if stop else "no protocol version could be tested"
        return TlsObservation(host=name, port=port, versions=versions, connections=prober.connections,
                              inconclusive=why)
    if best is None:
        return TlsObservation(host=name, port=port, versions=versions, connections=prober.connections)
    version, shaken = best
    facts, facts_error = certificate_facts(shaken.chain, name, now or datetime.now(UTC))
    trusted, trust_error = await _verify(prober, version, ca)
    hsts, hsts_why = await _hsts(http, name, port) if http is not None and scheme == "https" else (None, "not checked")
    return TlsObservation(
        host=name, port=port, versions=versions, best_version=shaken.version, cipher=shaken.cipher,
        certificate=facts, certificate_error=facts_error, trusted=trusted, trust_error=trust_error,
        hsts=hsts, hsts_inconclusive=hsts_why, connections=prober.connections,
    )


async def _verify(prober: _Prober, version: ssl.TLSVersion, ca: str | None) -> tuple[bool | None, str | None]:
    """Would a client trusting ``ca`` (or the system store) accept the chain and the host name?"""
    try:
        await prober.handshake(client_context(version, verify=True, ca=ca))
    except ssl.SSLCertVerificationError as exc:
        return False, exc.verify_message or str(exc)
    except _Refused as refused:
        return None, f"could not verify: {refused.reason}"
    except TargetError as err:
        return None, f"could not verify: {err}"
    return True, None


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _hsts(http: HttpTransport, host: str, port: int) -> tuple[str | None, str | None]:
    url = f"https://{_authority(host, port)}/"
    exchange = await http.send(Request("GET", url, purpose="tls-hsts"), follow_redirects=False)
    if exchange.response is None:
        return None, str(exchange.error or "no answer")
    return exchange.response.header("Strict-Transport-Security"), None
