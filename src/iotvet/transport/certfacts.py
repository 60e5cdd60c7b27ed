"""Facts about a server's certificate chain, read with :mod:`cryptography`: pure, no network.

Trust (does a client accept the chain?) is decided by a verifying handshake in
:mod:`iotvet.transport.tls`; this module reports what the leaf says: validity window against a
given instant, host-name match (subjectAltName only, as current clients do), self-signature,
key type and size, signature hash.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What the leaf certificate (and the length of the chain the server sent) shows."""

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: str
    not_after: str
    expired: bool
    not_yet_valid: bool
    hostname_matches: bool
    self_signed: bool
    key_type: str
    key_bits: int
    key_curve: str | None
    signature_hash: str | None
    chain_length: int


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _names(san: x509.SubjectAlternativeName | None) -> tuple[str, ...]:
    """DNS names and IP addresses, in the certificate's order."""
    if san is None:
        return ()
    return tuple(str(n.value) for n in san if isinstance(n, x509.DNSName | x509.IPAddress))


def hostname_matches(san: x509.SubjectAlternativeName | None, host: str) -> bool:
    """RFC 6125 matching on subjectAltName: exact, or a whole left-most ``*`` label; IPs exactly."""
    if san is None:
        return False
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    wanted = host.lower().rstrip(".")
    for pattern in (p.lower().rstrip(".") for p in san.get_values_for_type(x509.DNSName)):
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _key(cert: x509.Certificate) -> tuple[str, int, str | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    return type(key).__name__, 0, None


def _signature_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return f"unsupported ({cert.signature_algorithm_oid.dotted_string})"
    return algorithm.name if algorithm is not None else None


def certificate_facts(chain: Sequence[bytes], host: str, now: datetime) -> tuple[CertificateFacts | None, str | None]:
    """Facts about ``chain[0]`` (DER) for ``host`` at ``now``; or None and why it could not be read."""
    if not chain:
        return None, "the server sent no certificate"
    try:
        cert = x509.load_der_x509_certificate(chain[0])
        san = _san(cert)
        key_type, key_bits, curve = _key(cert)
        before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
        return CertificateFacts(
            subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(), names=_names(san),
            not_before=_iso(before), not_after=_iso(after), expired=now > after, not_yet_valid=now < before,
            hostname_matches=hostname_matches(san, host), self_signed=_self_signed(cert),
            key_type=key_type, key_bits=key_bits, key_curve=curve, signature_hash=_signature_hash(cert),
            chain_length=len(chain),
        ), None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # a malformed certificate is target data
        return None, f"unreadable certificate: {type(exc).__name__}: {exc}"[:300]
