"""A real identity provider for auth tests: every credential style iotvet speaks, on 127.0.0.1.

One aiohttp.web app serves two sites from its own thread and event loop:

* ``http://127.0.0.1:P``  - every auth style but mTLS, plus ``/openapi.json``;
* ``https://127.0.0.1:Q`` - the same app behind TLS that *requires* a client certificate
  issued by the test CA (``trustme``).

``GET /me`` answers ``{"user", "via"}`` for any credential the server accepts and 401 otherwise,
so a test learns both *whether* a credential worked and *which* placement carried it. Logins issue
tokens that expire (``lifetime``) and can be revoked (``revoke_all``); every request is recorded
(method, path, query, headers, cookies, body, status, why a credential was rejected) so tests
assert on what was actually sent.

Use the ``auth_server`` fixture: ``from tests.core.authserver import auth_server_fixture  # noqa: F401``.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme
from aiohttp import web
from cryptography.hazmat.primitives import serialization

# ---- the provider's test accounts (all values are distinctive so a leak is easy to grep) ----
ALICE, ALICE_PW = "alice", "pw-alice-Xq7Vb2Lk9Z"            # JSON / form / cookie / header logins
BOB_EMAIL, BOB_PW = "bob@vistacam.test", "pw-bob-Rt5Hn8Ws3M"  # WFC login: {"email", "pwd"}
BASIC_USER, BASIC_PW = "ops", "pw-basic-Jc4Tm6Qe1P"
API_KEY = "ak-live-Zu9Yp3Nd7Gf2"
STATIC_BEARER = "sb-static-Kw8Er5Ty2Ui6"                     # a long-lived opaque bearer token
STATIC_SESSION = "ss-cookie-Mb3Nv7Cx1Lz"                     # cookie session=...
DEVICE_ID, DEVICE_SECRET = "cam-0042", "ds-secret-Hg6Fd4Sa9Pq"  # fixed headers X-Device-Id/-Secret
CLIENT_ID, CLIENT_SECRET = "iot-cli-7", "cs-secret-Bn2Mv5Ck8Xj"  # OAuth2 client credentials
KEY_PASSWORD = "kp-key-Wq3Er6Ty9Ui"                          # the mTLS client key's passphrase
CLIENT_CN = "device-42.vistacam.test"

STATIC_SECRETS = (ALICE_PW, BOB_PW, BASIC_PW, API_KEY, STATIC_BEARER, STATIC_SESSION, DEVICE_SECRET,
                  CLIENT_SECRET, KEY_PASSWORD)

OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "vistacam cloud (test)", "version": "1.0"},
    "paths": {"/me": {"get": {"responses": {"200": {"description": "who am I"}}}}},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: list[tuple[str, str]]
    cookies: dict[str, str]
    body: str
    scheme: str
    peer_cn: str | None = None
    status: int | None = None
    via: str | None = None       # which credential authenticated it
    rejected: str | None = None  # why a presented token was refused (expired, revoked, unknown)

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def header_names(self) -> set[str]:
        return {k.lower() for k, _ in self.headers}


SEEN = web.RequestKey("seen", Seen)


@dataclass
class Grant:
    """A token or session the server handed out."""

    principal: str
    expires_at: float | None
    kind: str
    revoked: bool = False


@dataclass
class AuthServer:
    """The running provider: URLs, files for plans, recorded traffic and switches."""

    dir: Path
    http_port: int = 0
    https_port: int = 0
    lifetime: float = 3600.0  # seconds every token issued from now on lives
    seen: list[Seen] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    opaque_json_login: bool = False  # True: /auth/login hands out opaque tokens (expiry from expires_in only)

    def __post_init__(self) -> None:
        self.grants[STATIC_BEARER] = Grant("ana", None, "static")

    # --- what tests read -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def hosts(self) -> list[str]:
        """scope.hosts entries for both sites."""
        return [f"127.0.0.1:{self.http_port}", f"127.0.0.1:{self.https_port}"]

    def requests(self, path: str | None = None, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if (path is None or s.path == path) and (method is None or s.method == method)]

    def calls(self) -> list[tuple[str, str, int | None]]:
        """(method, path, status) of every request, in arrival order."""
        with self.lock:
            return [(s.method, s.path, s.status) for s in self.seen]

    def issued(self, kind: str | None = None) -> list[str]:
        """Every token / session id handed out (optionally of one kind), oldest first."""
        with self.lock:
            return [t for t, g in self.grants.items() if kind is None or g.kind == kind]

    def all_secrets(self) -> list[str]:
        """Every secret a leak check must look for: static credentials and everything issued."""
        with self.lock:
            return [*STATIC_SECRETS, *self.grants]

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()

    def revoke_all(self) -> None:
        """Server-side logout of every token and session issued so far."""
        with self.lock:
            for grant in self.grants.values():
                if grant.kind != "static":
                    grant.revoked = True

    # --- credentials -----------------------------------------------------------------------
    def _grant(self, principal: str, kind: str, *, jwt_token: bool = True) -> str:
        now = time.time()
        expires_at = now + self.lifetime
        if jwt_token:
            claims = {"sub": principal, "jti": uuid.uuid4().hex, "iat": int(now), "exp": int(expires_at)}
            token = jwt.encode(claims, self.key, algorithm="HS256")
            expires_at = float(int(expires_at))
        else:
            token = f"{kind}-{secrets.token_urlsafe(18)}"
        with self.lock:
            self.grants[token] = Grant(principal, expires_at, kind)
        return token

    def _check_token(self, token: str, seen: Seen) -> str | None:
        with self.lock:
            grant = self.grants.get(token)
        if grant is None:
            seen.rejected = "unknown"
            return None
        if grant.revoked:
            seen.rejected = "revoked"
            return None
        if grant.expires_at is not None and time.time() >= grant.expires_at:
            seen.rejected = "expired"
            return None
        return grant.principal

    def _authenticate(self, request: web.Request, seen: Seen) -> tuple[str, str] | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            who = self._check_token(auth[7:], seen)
            return (who, "bearer") if who else None
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return None
            return (user, "basic") if (user, pw) == (BASIC_USER, BASIC_PW) else None
        if "X-Auth" in request.headers:
            who = self._check_token(request.headers["X-Auth"], seen)
            return (who, "x-auth") if who else None
        if "access_token" in request.query:
            who = self._check_token(request.query["access_token"], seen)
            return (who, "query-token") if who else None
        if request.headers.get("X-API-Key") == API_KEY:
            return "keyholder", "apikey-header"
        if request.query.get("api_key") == API_KEY:
            return "keyholder", "apikey-query"
        for name, via in (("sid", "session-cookie"), ("tok", "token-cookie")):
            if name in request.cookies:
                who = self._check_token(request.cookies[name], seen)
                return (who, via) if who else None
        if request.cookies.get("session") == STATIC_SESSION:
            return "cookie-user", "static-cookie"
        if (request.headers.get("X-Device-Id"), request.headers.get("X-Device-Secret")) == (DEVICE_ID, DEVICE_SECRET):
            return DEVICE_ID, "fixed-headers"
        if seen.peer_cn is not None:
            return seen.peer_cn, "mtls"
        return None

    # --- the app ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        @web.middleware
        async def record(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
            body = await request.text() if request.can_read_body else ""
            peer = request.transport.get_extra_info("peercert") if request.transport else None
            cn = None
            if peer:
                cn = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), None)
            seen = Seen(request.method, request.path, dict(request.query), list(request.headers.items()),
                        dict(request.cookies), body, request.scheme, cn)
            request[SEEN] = seen
            with self.lock:
                self.seen.append(seen)
            try:
                response: web.StreamResponse = await handler(request)
            except web.HTTPException as exc:
                seen.status = exc.status
                raise
            seen.status = response.status
            return response

        app = web.Application(middlewares=[record])
        app.router.add_get("/me", self._me)
        app.router.add_get("/openapi.json", self._openapi)
        app.router.add_post("/auth/login", self._json_login)
        app.router.add_post("/auth/form", self._form_login)
        app.router.add_post("/auth/session", self._cookie_login)
        app.router.add_post("/auth/header", self._header_login)
        app.router.add_post("/auth/v2/login", self._wfc_login)
        app.router.add_post("/oauth/token", self._oauth_token)
        return app

    @staticmethod
    def _unauthorized(error: str = "unauthorized") -> web.Response:
        return web.json_response({"error": error}, status=401, headers={"WWW-Authenticate": 'Bearer realm="vistacam"'})

    async def _me(self, request: web.Request) -> web.Response:
        seen = request[SEEN]
        who = self._authenticate(request, seen)
        if who is None:
            return self._unauthorized()
        seen.via = who[1]
        return web.json_response({"user": who[0], "via": who[1]})

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    async def _json_login(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if (body.get("username"), body.get("password")) != (ALICE, ALICE_PW):
            return self._unauthorized("invalid_grant")
        return web.json_response({
            "access_token": self._grant(ALICE, "json", jwt_token=not self.opaque_json_login), "token_type": "Bearer",
            "expires_in": int(self.lifetime), "refresh_token": self._grant(ALICE, "refresh", jwt_token=False),
        })

    async def _form_login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (form.get("username"), form.get("password")) != (ALICE, ALICE_PW):
            return self._unauthorized("invalid_grant")
        return web.json_response({"data": {"token": self._grant(ALICE, "form")}})  # expiry: the JWT's exp only

    async def _cookie_login(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if (body.get("username"), body.get("password")) != (ALICE, ALICE_PW):
            return self._unauthorized("invalid_grant")
        response = web.json_response({"ok": True})
        response.set_cookie("sid", self._grant(ALICE, "session", jwt_token=False), httponly=True, path="/")
        response.set_cookie("csrf", self._grant(ALICE, "csrf", jwt_token=False), path="/")
        return response

    async def _header_login(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if (body.get("username"), body.get("password")) != (ALICE, ALICE_PW):
            return self._unauthorized("invalid_grant")
        return web.json_response({"ok": True}, headers={"X-Token": self._grant(ALICE, "header")})

    async def _wfc_login(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if (body.get("email"), body.get("pwd")) != (BOB_EMAIL, BOB_PW):
            return self._unauthorized("invalid_grant")
        return web.json_response({"token": {"authToken": self._grant(BOB_EMAIL, "wfc")}})

    async def _oauth_token(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            return web.json_response({"error": "invalid_request"}, status=400)
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        token = self._grant(CLIENT_ID, "oauth2", jwt_token=False)  # opaque: expiry comes from expires_in only
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime,
                                  "scope": form.get("scope", "")})

    # --- PKI -------------------------------------------------------------------------------
    def write_pki(self, ca: trustme.CA) -> None:
        """ca.pem for plans, the client certificate and its passphrase-protected key."""
        ca.cert_pem.write_to_path(str(self.dir / "ca.pem"))
        client = ca.issue_cert(CLIENT_CN, common_name=CLIENT_CN)
        client.cert_chain_pems[0].write_to_path(str(self.dir / "client.pem"))
        client.private_key_pem.write_to_path(str(self.dir / "client-key.pem"))
        key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
        encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(KEY_PASSWORD.encode()))
        (self.dir / "client-key-enc.pem").write_bytes(encrypted)
        # A certificate from a CA the server does not trust.
        rogue = trustme.CA().issue_cert(CLIENT_CN, common_name=CLIENT_CN)
        rogue.cert_chain_pems[0].write_to_path(str(self.dir / "rogue.pem"))
        rogue.private_key_pem.write_to_path(str(self.dir / "rogue-key.pem"))


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def start_auth_server(directory: Path) -> tuple[AuthServer, Callable[[], None]]:
    """Start the provider; returns it and a function that stops it (bounded waits throughout)."""
    directory.mkdir(parents=True, exist_ok=True)
    server = AuthServer(directory)
    ca = trustme.CA()
    server.write_pki(ca)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    ca.configure_trust(tls)
    tls.verify_mode = ssl.CERT_REQUIRED

    plain, secure = _listening_socket(), _listening_socket()
    server.http_port, server.https_port = plain.getsockname()[1], secure.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, plain).start()
        await web.SockSite(runner, secure, ssl_context=tls).start()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="authserver", daemon=True)
    thread.start()
    if not started.wait(10) or failure:
        raise RuntimeError(f"auth server did not start: {failure}")

    def stop() -> None:
        try:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            if not thread.is_alive():
                loop.close()

    return server, stop


@pytest.fixture(name="auth_server")
def auth_server_fixture(tmp_path: Path) -> Iterator[AuthServer]:
    """A fresh provider per test; its PKI files sit next to the test's plan in tmp_path."""
    server, stop = start_auth_server(tmp_path)
    try:
        yield server
    finally:
        stop()
