"""Small token-issuing APIs on 127.0.0.1 for the token checks: the key-selection flaws the lab lacks.

One app, switched by :class:`Flavour`: RS256 tokens with a JWKS (that may wrongly take HS256 keyed
with the public key), HS256 tokens whose ``kid`` names a key file (that may be a path), short-lived
tokens (whose ``exp`` may go unchecked), opaque tokens, and a profile that a header selects.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import posixpath
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan
from iotvet.probes.run import Sinks, run_probe
from tests.servers import Recorder, serve

JWT_CHECKS = frozenset({"jwt-none", "jwt-unverified", "jwt-weak-key", "jwt-claim-swap", "jwt-expired",
                        "jwt-alg-confusion", "jwt-header-injection"})
USERS = {
    "u-5501": {"user_id": "u-5501", "username": "ana", "tenant": "alpha", "role": "user",
               "email": "ana.alvarez@alpha.example", "phone": "+34 600 112 233", "display_name": "Ana Alvarez"},
    "u-7702": {"user_id": "u-7702", "username": "ben", "tenant": "beta", "role": "user",
               "email": "ben.brooks@beta.example", "phone": "+44 7700 900 441", "display_name": "Ben Brooks"},
}
PASSWORDS = {"ana": "pw-ana-5501-xyz", "ben": "pw-ben-7702-xyz"}
HMAC_KEY = secrets.token_bytes(32)
KEY_DIR = "/srv/keys"


@lru_cache(maxsize=1)
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem() -> bytes:
    return rsa_key().public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class Flavour:
    """What the server does; every flag off is a correct HS256 server."""

    alg: str = "HS256"
    confused: bool = False  # RS256 server that verifies HS256 tokens with its public key PEM as the secret
    kid_path: bool = False  # HS256 tokens carry kid; the key is read from KEY_DIR/kid without normalising it away
    lifetime: int = 3600
    check_exp: bool = True
    opaque: bool = False
    user_header: bool = False  # /me shows the user X-User names to any caller with a token


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


class Api:
    def __init__(self, flavour: Flavour) -> None:
        self.f = flavour
        self.opaque: dict[str, str] = {}

    def issue(self, uid: str) -> str:
        if self.f.opaque:
            token = "op-" + secrets.token_hex(16)
            self.opaque[token] = uid
            return token
        now = int(time.time())
        claims = {"sub": uid, "tenant": USERS[uid]["tenant"], "role": "user", "iat": now, "exp": now + self.f.lifetime}
        if self.f.alg == "RS256":
            return jwt.encode(claims, rsa_key(), algorithm="RS256", headers={"kid": "rsa-1"})
        return jwt.encode(claims, HMAC_KEY, algorithm="HS256", headers={"kid": "main"} if self.f.kid_path else None)

    def _hmac_ok(self, token: str, key: bytes) -> bool:
        head, body, sig = token.encode().split(b".")
        good = hmac.new(key, head + b"." + body, hashlib.sha256).digest()
        return hmac.compare_digest(good, _b64(sig))

    def verify(self, token: str) -> dict[str, Any] | None:
        if self.f.opaque:
            uid = self.opaque.get(token)
            return {"sub": uid} if uid else None
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            options = {"verify_exp": self.f.check_exp}
            if self.f.alg == "RS256":
                if alg == "RS256":
                    return jwt.decode(token, rsa_key().public_key(), algorithms=["RS256"], options=options)
                if alg == "HS256" and self.f.confused and self._hmac_ok(token, public_pem()):
                    return jwt.decode(token, options={"verify_signature": False, **options})
                return None
            if alg != "HS256":
                return None
            key = HMAC_KEY
            if self.f.kid_path:
                files = {f"{KEY_DIR}/main": HMAC_KEY, "/dev/null": b""}
                found = files.get(posixpath.normpath(posixpath.join(KEY_DIR, str(header.get("kid", "")))))
                if found is None:
                    return None
                key = found
            if not self._hmac_ok(token, key):
                return None
            return jwt.decode(token, options={"verify_signature": False, **options})
        except (jwt.PyJWTError, ValueError):
            return None

    def app(self, recorder: Recorder) -> web.Application:
        routes = web.RouteTableDef()
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}],
                "paths": {"/me": {"get": {"responses": {"200": {"description": "ok"}}}}}}

        @routes.get("/openapi.json")
        async def openapi(request: web.Request) -> web.Response:
            return web.json_response(spec)

        @routes.get("/.well-known/jwks.json")
        async def jwks(request: web.Request) -> web.Response:
            if self.f.alg != "RS256":
                return web.json_response({"error": "none"}, status=404)
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key().public_key()))
            return web.json_response({"keys": [{**jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"}]})

        @routes.post("/api/login")
        async def login(request: web.Request) -> web.Response:
            body = await request.json()
            uid = next((u for u, rec in USERS.items() if rec["username"] == body.get("username")), None)
            if uid is None or PASSWORDS[USERS[uid]["username"]] != body.get("password"):
                return web.json_response({"error": "bad login"}, status=401)
            return web.json_response({"access_token": self.issue(uid)})

        @routes.get("/api/me")
        async def me(request: web.Request) -> web.Response:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or not token:
                return web.json_response({"error": "auth"}, status=401)
            if self.f.user_header and request.headers.get("X-User"):
                uid = next((u for u, r in USERS.items() if r["username"] == request.headers["X-User"]), "")
                return web.json_response(USERS[uid]) if uid else web.json_response({}, status=404)
            claims = self.verify(token)
            if claims is None or claims.get("sub") not in USERS:
                return web.json_response({"error": "invalid token"}, status=401)
            return web.json_response(USERS[claims["sub"]])

        app = web.Application()
        app.add_routes(routes)
        return app


@dataclass
class Result:
    cells: list[Cell]
    findings: list[Finding]
    hits: list[str]
    requests: int

    def verdicts(self) -> dict[str, str]:
        return {c.check: c.verdict.value for c in self.cells}

    def reason(self, check: str) -> str:
        return next(c.reason for c in self.cells if c.check == check)


def run(tmp: Path, flavour: Flavour, verify_headers: dict[str, str] | None = None) -> Result:
    """Probe a fresh server of this flavour with the token checks only."""
    api = Api(flavour)
    with serve(api.app) as target:
        extra = f", headers: {json.dumps(verify_headers)}" if verify_headers else ""
        idents = "\n".join(f"""  - name: {name}
    tenant: {tenant}
    auth: {{type: login, request: {{method: POST, path: /login, json: {{username: {name}, password: {pw}}}}}}}
    verify: {{method: GET, path: /me{extra if name == 'ana' else ''}}}""" for name, tenant, pw in
                           (("ana", "alpha", PASSWORDS["ana"]), ("ben", "beta", PASSWORDS["ben"])))
        plan = tmp / "plan.yaml"
        plan.write_text(f"""
target: {{base_url: "{target.url}/api", openapi: "{target.url}/openapi.json"}}
scope: {{hosts: ["{target.hostport}"]}}
safety: {{rate: 500, mode: read-only}}
identities:
{idents}
""")
        loaded = load_plan(str(plan))
        cells: list[Cell] = []
        findings: list[Finding] = []
        outcome = asyncio.run(run_probe(loaded, Redactor(loaded.secrets),
                                        Sinks(cells.append, findings.append, lambda e: None), only=set(JWT_CHECKS)))
        return Result(cells, findings, target.recorder.paths(), outcome.requests)
