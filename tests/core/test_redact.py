"""Secrets never leak: the redactor scrubs raw and encoded forms, in text, data and logs."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from iotvet.core.logs import configure
from iotvet.core.redact import Redactor, encoded_forms

SECRET = "pa$$w0rd/with+odd=chars"


def test_raw_and_encoded_forms_are_scrubbed() -> None:
    r = Redactor([("ana.password", SECRET)])
    samples = [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET),
        base64.b64encode(SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    ]
    for sample in samples:
        out = r.text(f"before {sample} after")
        assert SECRET not in out and sample not in out, sample
        assert "[REDACTED:ana.password]" in out


@given(prefix=st.binary(max_size=7), suffix=st.binary(max_size=7))
def test_secret_inside_a_longer_base64_blob_is_scrubbed(prefix: bytes, suffix: bytes) -> None:
    """HTTP Basic and similar: base64("user:" + secret) hides the secret at any alignment."""
    r = Redactor([("pw", SECRET)])
    blob = base64.b64encode(prefix + SECRET.encode() + suffix).decode()
    out = r.text(blob)
    assert "[REDACTED:pw]" in out
    # What survives is at most the few characters shared with the neighbouring bytes.
    survivors = out.replace("[REDACTED:pw]", "")
    assert len(survivors) <= len(base64.b64encode(prefix + suffix)) + 8


def test_learned_secrets_are_scrubbed_from_then_on() -> None:
    r = Redactor()
    assert r.text("token eyJhbGciOi.abc.def") == "token eyJhbGciOi.abc.def"
    r.add("eyJhbGciOi.abc.def", "ana.token")
    assert r.text("token eyJhbGciOi.abc.def") == "token [REDACTED:ana.token]"


def test_nested_data_and_keys_are_scrubbed() -> None:
    r = Redactor([("k", "s3cretkey")])
    data = {"headers": {"X-Api-Key": "s3cretkey"}, "s3cretkey": ["a s3cretkey b", 3, None]}
    out = r.data(data)
    assert "s3cretkey" not in json.dumps(out)
    assert out["headers"]["X-Api-Key"] == "[REDACTED:k]"


def test_short_values_are_not_treated_as_secrets() -> None:
    r = Redactor([("pin", "123")])
    assert r.text("status 123") == "status 123"
    assert len(r) == 0


def test_encoded_forms_include_every_alignment() -> None:
    forms = encoded_forms("abcdefghij")
    for offset in range(3):
        blob = base64.b64encode(b"\x00" * offset + b"abcdefghij" + b"\x01").decode()
        assert any(form in blob for form in forms)


def test_logs_pass_through_the_redactor(capfd: object) -> None:
    r = Redactor([("ana.password", SECRET)])
    logger = configure(r, verbosity=2)
    logger.info("login with %s and %s", SECRET, base64.b64encode(f"ana:{SECRET}".encode()).decode())
    try:
        raise ValueError(SECRET)
    except ValueError:
        logger.exception("failed: %s", quote(SECRET, safe=""))
    logging.getLogger("iotvet.sub").warning("child logger %s", SECRET)
    err = capfd.readouterr().err  # type: ignore[attr-defined]
    assert "login with" in err and "child logger" in err
    assert SECRET not in err and quote(SECRET, safe="") not in err
    assert "[REDACTED:ana.password]" in err


def test_unknown_jwts_lose_their_signature_but_keep_their_claims() -> None:
    import jwt

    token = jwt.encode({"sub": "victim", "brand": "nordvik"}, "k" * 32, algorithm="HS256")
    head, claims, sig = token.split(".")
    out = Redactor().text(f'{{"leaked": "{token}"}}')
    assert sig not in out and f"{head}.{claims}.[REDACTED:jwt-signature]" in out
