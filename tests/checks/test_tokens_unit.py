"""The token checks' pure parts: forgers, the offline cracker, header-injection shapes, key material."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import inspect
import json
import socket
import time
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from iotvet.checks import rest_tokens_forge as F
from iotvet.core.redact import Redactor
from iotvet.lab.shapes import _WEAK_KEYS

pytestmark = [pytest.mark.timeout(30),
              pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

ANA = {"iss": "cloud", "sub": "u-1", "sid": "s-ana", "brand": "alpha", "role": "user", "customer": "c-9",
       "email": "ana@alpha.example", "iat": 1_700_000_000, "exp": 1_700_003_600}
BEN = {"iss": "cloud", "sub": "u-2", "sid": "s-ben", "brand": "beta", "role": "admin",
       "email": "ben@beta.example", "iat": 1_700_000_100, "exp": 1_700_003_700}


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, sig = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))), json.loads(base64.urlsafe_b64decode(pad(body))), sig)


def _hs(token: str, key: bytes) -> bool:
    head, body, sig = token.split(".")
    good = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(good, F.unb64url(sig))


# -- parsing and forging -------------------------------------------------------------------------

def test_parse_accepts_jws_and_refuses_opaque_tokens() -> None:
    token = jwt.encode(ANA, "k" * 32, algorithm="HS256")
    parsed = F.parse(token)
    assert parsed is not None and parsed.alg == "HS256" and parsed.symmetric and parsed.claims == ANA
    assert parsed.signing_input == token.rsplit(".", 1)[0] and len(parsed.signature) == 32
    for opaque in (None, "", "tok-ana-0123456789", "a.b", "a.b.c", "eyJhIjoxfQ.eyJhIjoxfQ.x", "x.y.z.w",
                   F.b64url(b"[1]") + "." + F.b64url(b"{}") + "."):
        assert F.parse(opaque) is None, opaque


@pytest.mark.parametrize("spelling", F.NONE_SPELLINGS)
def test_none_tokens_have_no_signature(spelling: str) -> None:
    token = F.none_token(BEN, spelling)
    header, claims, sig = _segments(token)
    assert header == {"alg": spelling, "typ": "JWT"} and claims == BEN and sig == "" and token.endswith(".")
    assert jwt.decode(token, options={"verify_signature": False}) == BEN


def test_stripped_and_transplanted_signatures() -> None:
    real = F.parse(jwt.encode(ANA, "k" * 32, algorithm="HS256"))
    assert real is not None
    stripped = F.unsigned(real.header, BEN)
    assert stripped.endswith(".") and _segments(stripped)[0] == real.header
    moved = F.transplant(real.header, BEN, real.signature)
    assert F.unb64url(moved.split(".")[2]) == real.signature and _segments(moved)[1] == BEN
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(moved, "k" * 32, algorithms=["HS256"], options={"verify_exp": False})


def test_impersonate_takes_the_victims_identity_and_keeps_the_forgers_session_and_times() -> None:
    claims, changed = F.impersonate(ANA, BEN, "jwt-none")
    assert claims["sub"] == "u-2" and claims["brand"] == "beta" and claims["role"] == "admin"
    assert claims["email"] == "ben@beta.example" and "customer" not in claims  # only ana's token had one
    assert claims["sid"] == "s-ana" and claims["iat"] == ANA["iat"] and claims["exp"] == ANA["exp"]
    assert claims[F.MARKER] == "jwt-none"
    assert changed == ["brand", "customer", "email", "role", "sub"]
    same, _ = F.impersonate(BEN, BEN, "jwt-none")
    assert same != BEN  # the marker: a forgery never equals an issued token, even when forged from V itself


def test_swap_security_keeps_the_subject() -> None:
    claims, changed = F.swap_security(ANA, BEN, "jwt-claim-swap")
    assert changed == ["brand", "role"]
    assert claims["sub"] == "u-1" and claims["email"] == ANA["email"] and claims["sid"] == "s-ana"
    assert claims["brand"] == "beta" and claims["role"] == "admin"
    assert F.swap_security(ANA, {**ANA, "sub": "u-3", "email": "x@y.example"}, "c")[1] == []


def test_expired_claims_are_far_past_any_skew() -> None:
    now = int(time.time())
    claims = F.expired({**ANA, "nbf": ANA["iat"]}, now, "jwt-expired")
    assert claims["exp"] == now - 3600 and claims["iat"] == claims["nbf"] == now - 7200
    token = F.sign({"alg": "HS256", "typ": "JWT"}, claims, b"k" * 32)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, b"k" * 32, algorithms=["HS256"], leeway=300)


def test_sign_uses_pyjwt_and_hand_signs_only_what_it_refuses() -> None:
    token = F.sign({"alg": "HS256", "typ": "JWT", "kid": "main"}, BEN, b"secret")
    assert jwt.decode(token, "secret", algorithms=["HS256"], options={"verify_exp": False}) == BEN
    assert jwt.get_unverified_header(token)["kid"] == "main"
    empty = F.sign({"alg": "HS256", "typ": "JWT"}, BEN, b"")  # PyJWT: "HMAC key must not be empty"
    assert _hs(empty, b"")
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert _hs(F.hmac_by_hand({"alg": "HS256", "typ": "JWT"}, BEN, pem), pem)


def test_negative_control_names_nobody_and_cannot_verify() -> None:
    token = F.nobody_token()
    _, claims, sig = _segments(token)
    assert claims["sub"] == "iotvet-nobody" and set(claims) == {"sub", F.MARKER}
    assert len(F.unb64url(sig)) != 32 and token == F.nobody_token()  # deterministic


# -- the offline cracker -------------------------------------------------------------------------

def test_wordlist_is_a_few_hundred_unique_common_secrets() -> None:
    words = F.wordlist()
    assert 300 <= len(words) <= 2000 and len(set(words)) == len(words) and all(w and w == w.strip() for w in words)
    for common in ("secret", "your-256-bit-secret", "changeme", "jwtsecret", "password123", "keyboard cat"):
        assert common in words
    assert set(_WEAK_KEYS) <= set(words)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_crack_finds_the_key_offline(alg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cracker opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    words = F.wordlist()
    assert not inspect.iscoroutinefunction(F.crack)  # a pure function: it cannot await a request
    for key in _WEAK_KEYS:
        token = F.parse(jwt.encode(ANA, key, algorithm=alg))
        assert token is not None
        assert F.crack(token, words) == words.index(key)
    strong = F.parse(jwt.encode(ANA, "x" * 40 + "unguessable", algorithm=alg))
    assert strong is not None and F.crack(strong, words) is None


def test_crack_ignores_asymmetric_and_unsigned_tokens() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    es = F.parse(jwt.encode(ANA, key, algorithm="ES256"))
    none = F.parse(F.none_token(ANA))
    assert es is not None and none is not None
    assert F.crack(es, F.wordlist()) is None and F.crack(none, ["", "secret"]) is None


def test_crack_scales_with_the_wordlist_not_the_network() -> None:
    token = F.parse(jwt.encode(ANA, "changeme", algorithm="HS256"))
    assert token is not None
    big = (*(f"junk-{i:06d}" for i in range(20_000)), "changeme")
    start = time.perf_counter()
    assert F.crack(token, big) == 20_000
    assert time.perf_counter() - start < 5


# -- header injection and key material -----------------------------------------------------------

def test_kid_tricks() -> None:
    shapes = F.kid_tokens(BEN)
    (trav_label, trav, trav_key), (sql_label, sql, sql_key) = shapes
    assert trav["kid"] == F.KID_TRAVERSAL and trav["kid"].endswith("/dev/null") and trav["kid"].count("../") >= 6
    assert trav_key == b"" and "traversal" in trav_label
    assert "UNION SELECT 'iotvet-kid-key'" in sql["kid"] and sql_key == b"iotvet-kid-key" and "UNION" in sql_label
    for _, header, key in shapes:
        token = F.sign(header, BEN, key)
        assert _hs(token, key) and jwt.get_unverified_header(token)["kid"] == header["kid"]
        assert not _hs(F.sign(header, BEN, F.WRONG_KEY), key)


def test_jwk_injection_carries_its_own_fixed_key() -> None:
    token = F.jwk_injected(BEN)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["jwk"]["kty"] == "EC" and "d" not in header["jwk"]
    embedded = jwt.PyJWK(header["jwk"]).key
    assert jwt.decode(token, embedded, algorithms=["ES256"], options={"verify_exp": False})["sub"] == "u-2"
    assert jwt.get_unverified_header(F.jwk_injected(ANA))["jwk"] == header["jwk"]  # the same key every run
    liar = F.jwk_injected(BEN, honest=False)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(liar, jwt.PyJWK(jwt.get_unverified_header(liar)["jwk"]).key, algorithms=["ES256"],
                   options={"verify_exp": False})


def _cert(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keys.example")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(datetime.datetime(2024, 1, 1))
            .not_valid_after(datetime.datetime(2034, 1, 1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_public_keys_from_jwks_pem_and_certificates() -> None:
    one = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    two = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())), "kid": kid}
                     for kid, k in (("a", one), ("b", two))] + [{"kty": "oct", "k": "c2VjcmV0"}]}
    keys = F.public_keys(json.dumps(jwks), "b")
    assert [k.public_numbers() for k, _ in keys] == [two.public_key().public_numbers(),
                                                      one.public_key().public_numbers()]
    pem = one.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (key, raw), = F.public_keys(pem.decode(), None)
    assert raw == pem
    secrets = F.hmac_secrets(key, raw)
    assert secrets[0] == pem and pem.rstrip(b"\n") in secrets and len(secrets) == 3
    (cert_key, cert_raw), = F.public_keys(_cert(one).decode(), None)
    assert cert_raw is None and cert_key.public_numbers() == one.public_key().public_numbers()
    assert F.public_keys("<html>not a key</html>", None) == [] and F.public_keys('{"keys": 3}', None) == []


# -- redaction ---------------------------------------------------------------------------------

def test_forged_tokens_must_be_taught_to_the_redactor() -> None:
    """The JWT rule scrubs signatures of unknown tokens, not unsigned ones: forgeries are added by name."""
    redactor = Redactor()
    forged = F.none_token(BEN)
    assert forged in redactor.text(f"Bearer {forged}")  # an unsigned token slips past the generic rule
    signed = jwt.encode(BEN, "k" * 32, algorithm="HS256")
    assert "[REDACTED:jwt-signature]" in redactor.text(signed)
    redactor.add(forged, "forged.jwt-none")
    assert redactor.text(f"Bearer {forged}") == "Bearer [REDACTED:forged.jwt-none]"
