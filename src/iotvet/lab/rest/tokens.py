"""Access tokens: HS256 JWTs, verified correctly unless a token flaw is switched on."""

from __future__ import annotations

import secrets
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

import jwt

from iotvet.lab.rest.flaws import JWT_NONE, JWT_UNVERIFIED, JWT_WEAK
from iotvet.lab.shapes import Shape
from iotvet.lab.world import User

ISSUER = "iotvet-lab"
LIFETIME = 3600


class BadToken(Exception):
    """Raised when a token is malformed, unsigned, badly signed or expired."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What the server reads from a verified token."""

    subject: str
    session: str
    password_version: int


class TokenService:
    """Mints and verifies the lab's access tokens."""

    def __init__(self, shape: Shape, flaws: frozenset[str]) -> None:
        self.flaws = flaws
        self.key = shape.weak_key.encode() if JWT_WEAK in flaws else secrets.token_bytes(32)

    def issue(self, user: User, password_version: int) -> tuple[str, str]:
        """A fresh token for ``user`` and its session id."""
        sid = uuid.uuid4().hex
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user.id, "sid": sid, "pwv": password_version, "brand": user.tenant,
                  "role": user.role, "iat": now, "exp": now + LIFETIME}
        with warnings.catch_warnings():  # the weak-key flaw is deliberate
            warnings.simplefilter("ignore")
            return jwt.encode(claims, self.key, algorithm="HS256"), sid

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; :class:`BadToken` otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise BadToken(str(exc)) from exc
        alg = str(header.get("alg", ""))
        try:
            unsigned_ok = alg.lower() == "none" and JWT_NONE in self.flaws
            if unsigned_ok or (alg == "HS256" and JWT_UNVERIFIED in self.flaws):
                payload = jwt.decode(token, options={"verify_signature": False, "verify_exp": True})
            elif alg == "HS256":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    payload = jwt.decode(token, self.key, algorithms=["HS256"], issuer=ISSUER,
                                         options={"require": ["exp", "sub"]})
            else:
                raise BadToken(f"algorithm {alg!r} not accepted")
        except jwt.PyJWTError as exc:
            raise BadToken(str(exc)) from exc
        return _claims(payload)


def _claims(payload: dict[str, Any]) -> Claims:
    sub = payload.get("sub")
    if not isinstance(sub, str):
        raise BadToken("token has no subject")
    pwv = payload.get("pwv", 0)
    return Claims(sub, str(payload.get("sid", "")), pwv if isinstance(pwv, int) else -1)
