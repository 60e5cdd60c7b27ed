"""Every auth type against a real provider: what goes on the wire, logins, refresh, liveness.

Each test writes a real plan file, loads it with ``load_plan``, opens ``HttpTransport`` +
``Governor`` + ``open_sessions`` and speaks HTTP to :mod:`tests.core.authserver`. Assertions are
on what the server observed, not only on status codes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs

import jwt
import pytest

from iotvet.auth import Session, open_sessions
from iotvet.auth import credentials as credentials_mod
from iotvet.core.errors import UserError
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan import LoadedPlan, load_plan
from iotvet.transport import Exchange, Governor, HttpTransport
from tests.core.authserver import (
    ALICE,
    ALICE_PW,
    API_KEY,
    BASIC_PW,
    BASIC_USER,
    BOB_EMAIL,
    BOB_PW,
    CLIENT_CN,
    CLIENT_ID,
    CLIENT_SECRET,
    DEVICE_ID,
    DEVICE_SECRET,
    KEY_PASSWORD,
    STATIC_BEARER,
    STATIC_SESSION,
    AuthServer,
    auth_server_fixture,  # noqa: F401 - the auth_server fixture
)

pytestmark = pytest.mark.timeout(60)
T = TypeVar("T")

WFC_FILE = f"""\
# Web Fuzzing Commons auth file, as Schemathesis and EvoMaster read it.
auth:
  - name: camera
    fixedHeaders:
      - name: X-Device-Id
        value: {DEVICE_ID}
      - name: X-Device-Secret
        value: {DEVICE_SECRET}
  - name: bob
    loginEndpointAuth:
      endpoint: /auth/v2/login
      verb: POST
      contentType: application/json
      payloadUserPwd:
        username: {BOB_EMAIL}
        password: {BOB_PW}
        usernameField: email
        passwordField: pwd
      token:
        extractFromField: /token/authToken
        httpHeaderName: Authorization
        headerPrefix: "Bearer "
  - name: carol
    loginEndpointAuth:
      endpoint: /auth/session
      payloadUserPwd: {{username: {ALICE}, password: {ALICE_PW}, usernameField: username, passwordField: password}}
      expectCookies: true
"""


# ---- plan and session helpers -----------------------------------------------------------------

def write_plan(server: AuthServer, identities: str, *, https: bool = False) -> str:
    """A plan file next to the server's PKI files; ``identities`` is a YAML list at column 0."""
    body = "\n".join("  " + line if line else line for line in identities.strip("\n").splitlines())
    text = (
        "target:\n"
        f"  base_url: {server.https_url if https else server.url}\n"
        "  ca: ca.pem\n"
        "scope:\n"
        f"  hosts: [{', '.join(server.hosts)}]\n"
        "safety:\n"
        "  rate: 1000\n"
        "  concurrency: 8\n"
        "  request_timeout: 5s\n"
        "identities:\n"
        f"{body}\n"
    )
    path = server.dir / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def write_wfc(server: AuthServer) -> str:
    path = server.dir / "wfc-auth.yaml"
    path.write_text(WFC_FILE, encoding="utf-8")
    return path.name


def flow(value: Any) -> str:
    """A value as inline YAML (JSON is YAML)."""
    return json.dumps(value)


@dataclass
class Ctx:
    """What a test body gets: the sessions, the run's redactor and every exchange the transport saw."""

    sessions: dict[str, Session]
    redactor: Redactor
    http: HttpTransport
    exchanges: list[Exchange] = field(default_factory=list)


def run_sessions(loaded: LoadedPlan, body: Callable[[Ctx], Awaitable[T]]) -> T:
    """Open transport, governor and sessions the way a run does, then run ``body``."""

    async def go() -> T:
        plan = loaded.plan
        assert plan.target is not None
        governor = Governor(rate=plan.safety.rate, concurrency=plan.safety.concurrency,
                            max_requests=plan.safety.max_requests, max_duration=plan.safety.max_duration)
        redactor = Redactor(loaded.secrets)
        ca = loaded.resolve(plan.target.ca).as_posix() if plan.target.ca else None
        async with HttpTransport(Scope(plan.scope.hosts), governor, run_id="r-auth",
                                 request_timeout=plan.safety.request_timeout, ca=ca) as http:
            ctx = Ctx(await open_sessions(loaded, http, redactor), redactor, http)
            http.listen(ctx.exchanges.append)
            return await body(ctx)

    return asyncio.run(go())


def me_json(exchange: Exchange) -> Any:
    assert exchange.response is not None, exchange.error
    return exchange.response.json()


def get_me(name: str) -> Callable[[Ctx], Awaitable[Exchange]]:
    async def body(ctx: Ctx) -> Exchange:
        return await ctx.sessions[name].request("GET", "/me")

    return body


def assert_redacted(redactor: Redactor, *values: str) -> None:
    for value in values:
        assert value not in redactor.text(f"x {value} y"), "the run's redactor does not know a secret"


# ---- static credentials -----------------------------------------------------------------------

def test_bearer_token_from_env_goes_in_authorization_header(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth: {type: bearer, token: "${ANA_TOKEN}"}
""")
    loaded = load_plan(plan, env={"ANA_TOKEN": STATIC_BEARER})
    exchange = run_sessions(loaded, get_me("ana"))
    assert me_json(exchange) == {"user": "ana", "via": "bearer"}
    [seen] = auth_server.requests("/me")
    assert seen.header("Authorization") == f"Bearer {STATIC_BEARER}"
    assert seen.header("X-Iotvet-Run") == "r-auth"
    assert STATIC_BEARER in [v for _, v in loaded.secrets]  # the plan loader taught it, from the env


@pytest.mark.parametrize(("use", "via", "check"), [
    ({"header": "X-Auth", "prefix": ""}, "x-auth",
     lambda s: s.header("X-Auth") == STATIC_BEARER and "authorization" not in s.header_names()),
    ({"header": "Authorization", "prefix": "Bearer "}, "bearer",
     lambda s: s.header("Authorization") == f"Bearer {STATIC_BEARER}"),
    ({"cookie": "tok"}, "token-cookie",
     lambda s: s.cookies == {"tok": STATIC_BEARER} and "authorization" not in s.header_names()),
    ({"query": "access_token"}, "query-token",
     lambda s: s.query == {"access_token": STATIC_BEARER} and "authorization" not in s.header_names()),
], ids=["header-no-prefix", "header-prefix", "cookie", "query"])
def test_token_placement_follows_use(auth_server: AuthServer, use: dict[str, str], via: str,
                                     check: Callable[[Any], bool]) -> None:
    plan = write_plan(auth_server, f"""
- name: ana
  tenant: vistacam
  auth: {{type: bearer, token: "${{ANA_TOKEN}}", use: {flow(use)}}}
""")
    exchange = run_sessions(load_plan(plan, env={"ANA_TOKEN": STATIC_BEARER}), get_me("ana"))
    assert me_json(exchange)["via"] == via
    [seen] = auth_server.requests("/me")
    assert check(seen), seen


@pytest.mark.parametrize(("where", "via"), [("header", "apikey-header"), ("query", "apikey-query")])
def test_api_key_in_header_or_query(auth_server: AuthServer, where: str, via: str) -> None:
    name = "X-API-Key" if where == "header" else "api_key"
    plan = write_plan(auth_server, f"""
- name: keyholder
  tenant: vistacam
  auth: {{type: apikey, key: "${{KEY}}", name: {name}, in: {where}}}
""")
    loaded = load_plan(plan, env={"KEY": API_KEY})

    async def body(ctx: Ctx) -> tuple[Exchange, Redactor]:
        return await ctx.sessions["keyholder"].request("GET", "/me", query={"page": "1"}), ctx.redactor

    exchange, redactor = run_sessions(loaded, body)
    assert me_json(exchange)["via"] == via
    [seen] = auth_server.requests("/me")
    if where == "header":
        assert seen.header("X-API-Key") == API_KEY and seen.query == {"page": "1"}
    else:
        assert seen.query == {"page": "1", "api_key": API_KEY} and "x-api-key" not in seen.header_names()
    assert API_KEY not in redactor.text(exchange.request.url)  # the recorded URL is scrubbed


def test_basic_auth(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, f"""
- name: ops
  tenant: vistacam
  role: operator
  auth: {{type: basic, username: {BASIC_USER}, password: "${{BASIC_PW}}"}}
""")
    loaded = load_plan(plan, env={"BASIC_PW": BASIC_PW})

    async def body(ctx: Ctx) -> tuple[Exchange, Redactor]:
        return await ctx.sessions["ops"].request("GET", "/me"), ctx.redactor

    exchange, redactor = run_sessions(loaded, body)
    assert me_json(exchange) == {"user": BASIC_USER, "via": "basic"}
    [seen] = auth_server.requests("/me")
    expected = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PW}".encode()).decode()
    assert seen.header("Authorization") == expected
    assert "[REDACTED:" in redactor.text(expected)  # the password's base64 form is scrubbed too


def test_static_cookie(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: web
  tenant: vistacam
  auth: {type: cookie, cookies: {session: "${SESSION}", lang: en-GB}}
""")
    exchange = run_sessions(load_plan(plan, env={"SESSION": STATIC_SESSION}), get_me("web"))
    assert me_json(exchange)["via"] == "static-cookie"
    [seen] = auth_server.requests("/me")
    assert seen.cookies == {"session": STATIC_SESSION, "lang": "en-GB"}
    assert len([k for k, _ in seen.headers if k.lower() == "cookie"]) == 1


def test_fixed_headers(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, f"""
- name: cam
  tenant: vistacam
  role: device
  device: {DEVICE_ID}
  auth:
    type: headers
    headers: {{X-Device-Id: {DEVICE_ID}, X-Device-Secret: "${{DEVICE_SECRET}}"}}
""")
    exchange = run_sessions(load_plan(plan, env={"DEVICE_SECRET": DEVICE_SECRET}), get_me("cam"))
    assert me_json(exchange) == {"user": DEVICE_ID, "via": "fixed-headers"}
    [seen] = auth_server.requests("/me")
    assert (seen.header("X-Device-Id"), seen.header("X-Device-Secret")) == (DEVICE_ID, DEVICE_SECRET)


def test_static_credential_is_not_retried_on_401(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth: {type: bearer, token: not-a-valid-token}
""")
    exchange = run_sessions(load_plan(plan), get_me("ana"))
    assert exchange.response is not None and exchange.response.status == 401
    assert auth_server.calls() == [("GET", "/me", 401)]
    assert auth_server.requests("/me")[0].rejected == "unknown"


# ---- logins -----------------------------------------------------------------------------------

JSON_LOGIN = """
- name: ana
  tenant: vistacam
  auth:
    type: login
    request:
      method: POST
      path: /auth/login
      json: {username: alice, password: "${ALICE_PW}"}
    token: $.access_token
    expires_in: $.expires_in
"""


def test_json_login_token_used_as_bearer_and_taught_to_redactor(auth_server: AuthServer) -> None:
    loaded = load_plan(write_plan(auth_server, JSON_LOGIN), env={"ALICE_PW": ALICE_PW})

    async def body(ctx: Ctx) -> tuple[Exchange, Exchange, Redactor]:
        session = ctx.sessions["ana"]
        return await session.request("GET", "/me"), await session.request("GET", "/me"), ctx.redactor

    first, second, redactor = run_sessions(loaded, body)
    assert me_json(first) == me_json(second) == {"user": ALICE, "via": "bearer"}
    assert auth_server.calls() == [("POST", "/auth/login", 200), ("GET", "/me", 200), ("GET", "/me", 200)]
    [login] = auth_server.requests("/auth/login")
    assert login.header("Content-Type") == "application/json"
    assert json.loads(login.body) == {"username": ALICE, "password": ALICE_PW}
    assert "authorization" not in login.header_names()  # a login is sent without credentials
    [token] = auth_server.issued("json")
    assert [s.header("Authorization") for s in auth_server.requests("/me")] == [f"Bearer {token}"] * 2
    [refresh] = auth_server.issued("refresh")
    assert_redacted(redactor, ALICE_PW, token, refresh)


def test_form_login_with_nested_jsonpath(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth:
    type: login
    request: {method: POST, path: /auth/form, form: {username: alice, password: "${ALICE_PW}"}}
    token: $.data.token
""")
    exchange = run_sessions(load_plan(plan, env={"ALICE_PW": ALICE_PW}), get_me("ana"))
    assert me_json(exchange) == {"user": ALICE, "via": "bearer"}
    [login] = auth_server.requests("/auth/form")
    assert login.header("Content-Type") == "application/x-www-form-urlencoded"
    assert parse_qs(login.body) == {"username": [ALICE], "password": [ALICE_PW]}
    [token] = auth_server.issued("form")
    assert auth_server.requests("/me")[0].header("Authorization") == f"Bearer {token}"


def test_login_setting_a_named_session_cookie(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth:
    type: login
    request: {method: POST, path: /auth/session, json: {username: alice, password: "${ALICE_PW}"}}
    token: cookie:sid
    use: {cookie: sid}
""")
    loaded = load_plan(plan, env={"ALICE_PW": ALICE_PW})

    async def body(ctx: Ctx) -> tuple[Exchange, Redactor]:
        return await ctx.sessions["ana"].request("GET", "/me"), ctx.redactor

    exchange, redactor = run_sessions(loaded, body)
    assert me_json(exchange) == {"user": ALICE, "via": "session-cookie"}
    [sid], [csrf] = auth_server.issued("session"), auth_server.issued("csrf")
    [seen] = auth_server.requests("/me")
    assert seen.cookies == {"sid": sid}  # only the named cookie, not csrf
    assert "authorization" not in seen.header_names()
    assert_redacted(redactor, sid, csrf)  # every Set-Cookie value is a secret of the run


def test_login_keeping_every_cookie(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth:
    type: login
    request: {method: POST, path: /auth/session, json: {username: alice, password: "${ALICE_PW}"}}
    token: "cookie:*"
    use: {cookie: "*"}
""")
    exchange = run_sessions(load_plan(plan, env={"ALICE_PW": ALICE_PW}), get_me("ana"))
    assert me_json(exchange)["via"] == "session-cookie"
    [sid], [csrf] = auth_server.issued("session"), auth_server.issued("csrf")
    assert auth_server.requests("/me")[0].cookies == {"sid": sid, "csrf": csrf}


def test_cookie_star_login_sends_the_cookies_or_is_rejected(auth_server: AuthServer) -> None:
    """BUG: ``token: "cookie:*"`` without ``use: {cookie: "*"}`` logs in, verifies alive, and then
    sends no credential at all: every request "as ana" is really anonymous.

    Either the plan is refused (a UserError naming the fix) or the cookies are used.
    """
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth:
    type: login
    request: {method: POST, path: /auth/session, json: {username: alice, password: "${ALICE_PW}"}}
    token: "cookie:*"
""")
    try:
        loaded = load_plan(plan, env={"ALICE_PW": ALICE_PW})
    except UserError as exc:
        assert "cookie" in str(exc)
        return
    exchange = run_sessions(loaded, get_me("ana"))
    assert exchange.response is not None and exchange.response.status == 200, auth_server.calls()
    assert auth_server.requests("/me")[0].cookies.keys() == {"sid", "csrf"}


def test_login_returning_token_in_a_header(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth:
    type: login
    request: {method: POST, path: /auth/header, json: {username: alice, password: "${ALICE_PW}"}}
    token: header:X-Token
    use: {header: X-Auth, prefix: ""}
""")
    exchange = run_sessions(load_plan(plan, env={"ALICE_PW": ALICE_PW}), get_me("ana"))
    assert me_json(exchange)["via"] == "x-auth"
    [token] = auth_server.issued("header")
    [seen] = auth_server.requests("/me")
    assert seen.header("X-Auth") == token and "authorization" not in seen.header_names()


def test_oauth2_client_credentials_client_secret_post(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, f"""
- name: svc
  tenant: vistacam
  role: operator
  auth:
    type: oauth2
    token_url: {auth_server.url}/oauth/token
    client_id: {CLIENT_ID}
    client_secret: "${{CLIENT_SECRET}}"
    scope: devices:read
    audience: https://api.vistacam.test
""")
    loaded = load_plan(plan, env={"CLIENT_SECRET": CLIENT_SECRET})

    async def body(ctx: Ctx) -> tuple[Exchange, Redactor]:
        return await ctx.sessions["svc"].request("GET", "/me"), ctx.redactor

    exchange, redactor = run_sessions(loaded, body)
    assert me_json(exchange) == {"user": CLIENT_ID, "via": "bearer"}
    [grant] = auth_server.requests("/oauth/token")
    assert grant.method == "POST"
    assert grant.header("Content-Type") == "application/x-www-form-urlencoded"
    assert "authorization" not in grant.header_names()  # client_secret_post, not client_secret_basic
    assert parse_qs(grant.body) == {"grant_type": ["client_credentials"], "client_id": [CLIENT_ID],
                                    "client_secret": [CLIENT_SECRET], "scope": ["devices:read"],
                                    "audience": ["https://api.vistacam.test"]}
    [token] = auth_server.issued("oauth2")
    assert auth_server.requests("/me")[0].header("Authorization") == f"Bearer {token}"
    assert_redacted(redactor, CLIENT_SECRET, token)


def test_mtls_client_certificate_with_encrypted_key(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: device
  tenant: vistacam
  role: device
  device: cam-0042
  auth: {type: mtls, cert: client.pem, key: client-key-enc.pem, key_password: "${KEY_PW}"}
  verify: {path: /me}
- name: rogue
  tenant: vistacam
  auth: {type: mtls, cert: rogue.pem, key: rogue-key.pem}
  verify: {path: /me}
""", https=True)
    loaded = load_plan(plan, env={"KEY_PW": KEY_PASSWORD})

    async def body(ctx: Ctx) -> tuple[Any, ...]:
        s = ctx.sessions
        return (await s["device"].verify(), await s["device"].request("GET", "/me"),
                await s["rogue"].verify(), await s["anonymous"].request("GET", "/me"))

    alive, exchange, rogue, anonymous = run_sessions(loaded, body)
    assert alive.alive is True, alive
    assert me_json(exchange) == {"user": CLIENT_CN, "via": "mtls"}
    assert rogue.alive is False and "verify request failed" in rogue.reason
    assert anonymous.response is None and anonymous.error is not None  # no certificate, no answer
    seen = auth_server.requests()
    assert [(s.scheme, s.path, s.peer_cn, s.status) for s in seen] == [("https", "/me", CLIENT_CN, 200)] * 2


# ---- refresh ----------------------------------------------------------------------------------

def _wait_until(deadline: float) -> None:
    delay = deadline - time.time()
    assert 0 < delay < 10, delay
    time.sleep(delay)


@pytest.mark.parametrize("kind", ["jwt-exp", "expires_in", "oauth2"])
def test_token_is_refreshed_before_it_expires(auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch,
                                              kind: str) -> None:
    """A JWT's exp claim, or expires_in, makes the session log in again before the server would refuse."""
    monkeypatch.setattr(credentials_mod, "REFRESH_SKEW", 1.0)
    auth_server.lifetime = 3
    if kind == "jwt-exp":
        login_path, issued_kind = "/auth/form", "form"
        auth = ("{type: login, request: {method: POST, path: /auth/form, "
                "form: {username: alice, password: \"${ALICE_PW}\"}}, token: $.data.token}")
    elif kind == "expires_in":
        auth_server.opaque_json_login = True  # nothing to read but expires_in
        login_path, issued_kind = "/auth/login", "json"
        auth = ("{type: login, request: {method: POST, path: /auth/login, "
                "json: {username: alice, password: \"${ALICE_PW}\"}}, token: $.access_token, "
                "expires_in: $.expires_in}")
    else:
        login_path, issued_kind = "/oauth/token", "oauth2"
        auth = (f"{{type: oauth2, token_url: \"{auth_server.url}/oauth/token\", client_id: {CLIENT_ID}, "
                "client_secret: \"${CLIENT_SECRET}\"}")
    plan = write_plan(auth_server, f"""
- name: ana
  tenant: vistacam
  auth: {auth}
""")
    loaded = load_plan(plan, env={"ALICE_PW": ALICE_PW, "CLIENT_SECRET": CLIENT_SECRET})

    async def body(ctx: Ctx) -> list[int]:
        session, statuses = ctx.sessions["ana"], []
        for _ in range(2):
            statuses.append((await session.request("GET", "/me")).response.status)  # type: ignore[union-attr]
        first_token = auth_server.issued(issued_kind)[0]
        # Sleep until the token has 0.4 s left: inside the skew, still valid at the server.
        _wait_until(auth_server.grants[first_token].expires_at - 0.4)  # type: ignore[operator]
        statuses.append((await session.request("GET", "/me")).response.status)  # type: ignore[union-attr]
        return statuses

    assert run_sessions(loaded, body) == [200, 200, 200]
    assert [(m, p) for m, p, _ in auth_server.calls()] == [
        ("POST", login_path), ("GET", "/me"), ("GET", "/me"), ("POST", login_path), ("GET", "/me")]
    first, second = auth_server.issued(issued_kind)
    placed = [s.header("Authorization") for s in auth_server.requests("/me")]
    assert placed == [f"Bearer {first}", f"Bearer {first}", f"Bearer {second}"]
    assert all(s.rejected is None for s in auth_server.requests("/me"))  # never sent an expired token


REFRESHABLE = {
    "json": (JSON_LOGIN.split("auth:", 1)[1], "/auth/login", "json", "bearer"),
    "cookie-sid": ("""
    type: login
    request: {method: POST, path: /auth/session, json: {username: alice, password: "${ALICE_PW}"}}
    token: cookie:sid
    use: {cookie: sid}
""", "/auth/session", "session", "session-cookie"),
    "header": ("""
    type: login
    request: {method: POST, path: /auth/header, json: {username: alice, password: "${ALICE_PW}"}}
    token: header:X-Token
""", "/auth/header", "header", "bearer"),
    "oauth2": ("""
    type: oauth2
    token_url: http://HOSTPORT/oauth/token
    client_id: iot-cli-7
    client_secret: "${CLIENT_SECRET}"
""", "/oauth/token", "oauth2", "bearer"),
    "wfc-login": (None, "/auth/v2/login", "wfc", "bearer"),
}


@pytest.mark.parametrize("kind", list(REFRESHABLE))
def test_401_makes_the_session_log_in_again_and_retry(auth_server: AuthServer, kind: str) -> None:
    auth, login_path, issued_kind, via = REFRESHABLE[kind]
    if auth is None:
        auth_yaml = f"  auth: {{type: wfc, file: {write_wfc(auth_server)}, user: bob}}"
    else:
        auth_yaml = "  auth:\n" + auth.strip("\n").replace("HOSTPORT", auth_server.hosts[0])
    plan = write_plan(auth_server, f"- name: ana\n  tenant: vistacam\n{auth_yaml}\n")
    loaded = load_plan(plan, env={"ALICE_PW": ALICE_PW, "CLIENT_SECRET": CLIENT_SECRET})

    async def body(ctx: Ctx) -> tuple[Exchange, Exchange]:
        session = ctx.sessions["ana"]
        first = await session.request("GET", "/me")
        auth_server.revoke_all()  # the provider logs everyone out
        return first, await session.request("GET", "/me")

    first, second = run_sessions(loaded, body)
    assert me_json(first)["via"] == me_json(second)["via"] == via
    assert auth_server.calls() == [("POST", login_path, 200), ("GET", "/me", 200),
                                   ("GET", "/me", 401), ("POST", login_path, 200), ("GET", "/me", 200)]
    assert auth_server.requests("/me")[1].rejected == "revoked"
    old, new = auth_server.issued(issued_kind)
    carried = [s.cookies.get("sid") or (s.header("Authorization") or "").removeprefix("Bearer ")
               for s in auth_server.requests("/me")]
    assert carried == [old, old, new]


def test_concurrent_401s_cause_one_login(auth_server: AuthServer) -> None:
    """BUG: every request that sees the 401 logs in again, N parallel requests make N logins.

    Against a real provider that is a burst of logins per token expiry (lockout and rate-limit
    risk on the manufacturer's test account; single-session providers revoke each other's tokens).
    """
    loaded = load_plan(write_plan(auth_server, JSON_LOGIN), env={"ALICE_PW": ALICE_PW})

    async def body(ctx: Ctx) -> list[int]:
        session = ctx.sessions["ana"]
        await session.request("GET", "/me")
        auth_server.revoke_all()
        done = await asyncio.gather(*(session.request("GET", "/me") for _ in range(4)))
        return [e.response.status for e in done]  # type: ignore[union-attr]

    assert run_sessions(loaded, body) == [200] * 4
    assert len(auth_server.requests("/auth/login")) == 2, auth_server.calls()


def test_short_lived_token_is_reused_while_valid(auth_server: AuthServer) -> None:
    """BUG: a token living less than REFRESH_SKEW (30 s) counts as expired the moment it arrives.

    With a 5 s token, every request is preceded by a login (and verify() logs in twice).
    """
    auth_server.lifetime = 5
    loaded = load_plan(write_plan(auth_server, JSON_LOGIN), env={"ALICE_PW": ALICE_PW})

    async def body(ctx: Ctx) -> None:
        for _ in range(3):
            await ctx.sessions["ana"].request("GET", "/me")

    run_sessions(loaded, body)
    assert [p for _, p, _ in auth_server.calls()] == ["/auth/login", "/me", "/me", "/me"]


# ---- Web Fuzzing Commons --------------------------------------------------------------------------

def test_wfc_fixed_headers_and_login_users(auth_server: AuthServer) -> None:
    wfc = write_wfc(auth_server)
    plan = write_plan(auth_server, f"""
- name: cam
  tenant: vistacam
  auth: {{type: wfc, file: {wfc}, user: camera}}
- name: bob
  tenant: vistacam
  auth: {{type: wfc, file: {wfc}, user: bob}}
- name: carol
  tenant: vistacam
  auth: {{type: wfc, file: {wfc}, user: carol}}
""")
    loaded = load_plan(plan)

    async def body(ctx: Ctx) -> tuple[Any, ...]:
        s = ctx.sessions
        return (await s["cam"].request("GET", "/me"), await s["bob"].request("GET", "/me"),
                await s["carol"].request("GET", "/me"), ctx.redactor)

    cam, bob, carol, redactor = run_sessions(loaded, body)
    assert me_json(cam) == {"user": DEVICE_ID, "via": "fixed-headers"}
    assert me_json(bob) == {"user": BOB_EMAIL, "via": "bearer"}
    assert me_json(carol) == {"user": ALICE, "via": "session-cookie"}  # expectCookies: every cookie sent back
    cam_seen, bob_seen, carol_seen = auth_server.requests("/me")
    assert (cam_seen.header("X-Device-Id"), cam_seen.header("X-Device-Secret")) == (DEVICE_ID, DEVICE_SECRET)
    assert "authorization" not in cam_seen.header_names()
    [login] = auth_server.requests("/auth/v2/login")
    assert login.method == "POST" and login.header("Content-Type") == "application/json"
    assert json.loads(login.body) == {"email": BOB_EMAIL, "pwd": BOB_PW}  # usernameField / passwordField
    [token] = auth_server.issued("wfc")
    assert bob_seen.header("Authorization") == f"Bearer {token}"  # extractFromField + headerPrefix
    [sid], [csrf] = auth_server.issued("session"), auth_server.issued("csrf")
    assert carol_seen.cookies == {"sid": sid, "csrf": csrf} and "authorization" not in carol_seen.header_names()
    assert_redacted(redactor, DEVICE_SECRET, token, sid, csrf, ALICE_PW)


def test_wfc_login_password_is_redacted_whatever_its_field_name(auth_server: AuthServer) -> None:
    """BUG: a WFC payloadUserPwd password is only redacted if its field name looks secret.

    The WFC file says outright which value is the password; with ``passwordField: pwd`` the
    session does not teach it to the redactor, so the recorded login request keeps it in clear.
    """
    wfc = write_wfc(auth_server)
    plan = write_plan(auth_server, f"""
- name: bob
  tenant: vistacam
  auth: {{type: wfc, file: {wfc}, user: bob}}
""")

    async def body(ctx: Ctx) -> tuple[bytes, Redactor]:
        await ctx.sessions["bob"].request("GET", "/me")
        [login] = [e for e in ctx.exchanges if e.request.purpose == "login"]
        return ctx.redactor.bytes(login.request.body or b""), ctx.redactor

    stored_body, redactor = run_sessions(load_plan(plan), body)
    assert BOB_PW.encode() not in stored_body
    assert_redacted(redactor, BOB_PW)


# ---- liveness ---------------------------------------------------------------------------------

def test_verify_alive_after_login_and_verify_request(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, JSON_LOGIN + "  verify: {path: /me}\n")

    async def body(ctx: Ctx) -> Any:
        return await ctx.sessions["ana"].verify()

    live = run_sessions(load_plan(plan, env={"ALICE_PW": ALICE_PW}), body)
    assert (live.identity, live.alive) == ("ana", True), live
    assert auth_server.calls() == [("POST", "/auth/login", 200), ("GET", "/me", 200)]
    [token] = auth_server.issued("json")
    assert auth_server.requests("/me")[0].header("Authorization") == f"Bearer {token}"


def test_verify_dead_on_wrong_password(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, JSON_LOGIN + "  verify: {path: /me}\n")

    async def body(ctx: Ctx) -> Any:
        return await ctx.sessions["ana"].verify()

    live = run_sessions(load_plan(plan, env={"ALICE_PW": "pw-wrong-Ab12Cd34"}), body)
    assert live.alive is False and "401" in live.reason, live
    assert auth_server.calls() == [("POST", "/auth/login", 401)]  # no verify request after a failed login
    assert json.loads(auth_server.requests()[0].body)["password"] == "pw-wrong-Ab12Cd34"


def test_failed_login_is_never_retried_and_nothing_is_sent_in_its_name(auth_server: AuthServer) -> None:
    """Lockout safety: one failed login, then the identity's requests are refused locally."""
    plan = write_plan(auth_server, JSON_LOGIN)

    async def body(ctx: Ctx) -> list[Exchange]:
        return [await ctx.sessions["ana"].request("GET", "/me") for _ in range(3)]

    exchanges = run_sessions(load_plan(plan, env={"ALICE_PW": "pw-wrong-Ab12Cd34"}), body)
    assert auth_server.calls() == [("POST", "/auth/login", 401)]
    for ex in exchanges:
        assert ex.response is None and not ex.sent
        assert ex.error is not None and ex.error.kind.value == "auth-failed"


def test_verify_dead_when_the_verify_request_is_refused(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth: {type: bearer, token: "${ANA_TOKEN}"}
  verify: {path: /me, status: 200}
""")

    async def body(ctx: Ctx) -> Any:
        return await ctx.sessions["ana"].verify()

    live = run_sessions(load_plan(plan, env={"ANA_TOKEN": "sb-revoked-Zz99Yy88"}), body)
    assert live.alive is False and "401" in live.reason, live
    [seen] = auth_server.requests()
    assert (seen.path, seen.header("Authorization"), seen.rejected) == ("/me", "Bearer sb-revoked-Zz99Yy88", "unknown")


def test_verify_dead_on_expired_jwt_without_any_request(auth_server: AuthServer) -> None:
    expired = jwt.encode({"sub": "ana", "exp": int(time.time()) - 60}, "k" * 32, algorithm="HS256")
    plan = write_plan(auth_server, """
- name: ana
  tenant: vistacam
  auth: {type: bearer, token: "${ANA_TOKEN}"}
""")

    async def body(ctx: Ctx) -> Any:
        return await ctx.sessions["ana"].verify()

    live = run_sessions(load_plan(plan, env={"ANA_TOKEN": expired}), body)
    assert live.alive is False and "exp" in live.reason, live
    assert auth_server.calls() == []


def test_verify_static_credential_without_verify_is_unverified(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, """
- name: keyholder
  tenant: vistacam
  auth: {type: apikey, key: "${KEY}"}
- name: ana
  tenant: vistacam
  auth: {type: bearer, token: "${ANA_TOKEN}"}
""")

    async def body(ctx: Ctx) -> Any:
        return [await ctx.sessions[n].verify() for n in ("keyholder", "ana")]

    lives = run_sessions(load_plan(plan, env={"KEY": API_KEY, "ANA_TOKEN": STATIC_BEARER}), body)
    assert [(x.identity, x.alive) for x in lives] == [("keyholder", None), ("ana", None)]
    assert all("verify" in x.reason for x in lives)
    assert auth_server.calls() == []  # nothing to prove offline, and nothing sent


def test_verify_oauth2_alive_and_dead(auth_server: AuthServer) -> None:
    plan = write_plan(auth_server, f"""
- name: svc
  tenant: vistacam
  auth: {{type: oauth2, token_url: "{auth_server.url}/oauth/token", client_id: {CLIENT_ID},
         client_secret: "${{GOOD}}"}}
- name: bad
  tenant: vistacam
  auth: {{type: oauth2, token_url: "{auth_server.url}/oauth/token", client_id: {CLIENT_ID},
         client_secret: "${{BAD}}"}}
""")

    async def body(ctx: Ctx) -> Any:
        return [await ctx.sessions[n].verify() for n in ("svc", "bad")]

    good, bad = run_sessions(load_plan(plan, env={"GOOD": CLIENT_SECRET, "BAD": "cs-wrong-Qq11Ww22"}), body)
    assert good.alive is True and bad.alive is False and "401" in bad.reason
    assert [(p, st) for _, p, st in auth_server.calls()] == [("/oauth/token", 200), ("/oauth/token", 401)]
