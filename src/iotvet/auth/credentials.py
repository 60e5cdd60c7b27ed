"""How each auth type puts its credential on a request, and how login types obtain one.

Pure functions over plan models: given a credential state, they return headers, cookies and
query parameters. Sessions (:mod:`iotvet.auth.session`) own the state and the I/O.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.parser import parse as jsonpath_parse

from iotvet.plan.schema import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CookieAuth,
    HeadersAuth,
    LoginAuth,
    OAuth2Auth,
    TokenUse,
)
from iotvet.transport.http import Response

REFRESH_SKEW = 30.0  # refresh a token this many seconds before it expires


@dataclass
class Placement:
    """What a credential adds to one request."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class IssuedToken:
    """A token a login or token endpoint handed out, with its expiry when known."""

    value: str | None
    cookies: dict[str, str]
    expires_at: float | None
    issued_at: float = field(default_factory=time.time)

    def expired(self, now: float | None = None) -> bool:
        """True when the token is (about to be) past its expiry."""
        if self.expires_at is None:
            return False
        skew = min(REFRESH_SKEW, max(0.0, self.expires_at - self.issued_at) / 4)
        return (now or time.time()) >= self.expires_at - skew


def place_token(token: str | None, cookies: dict[str, str], use: TokenUse) -> Placement:
    """Put a token where ``use`` says: header (default Authorization: Bearer), cookie or query."""
    out = Placement()
    if use.cookie == "*":
        out.cookies.update(cookies)
    elif token is not None:
        if use.cookie:
            out.cookies[use.cookie] = token
        elif use.query:
            out.query[use.query] = token
        else:
            out.headers.append((use.header or "Authorization", f"{use.prefix}{token}"))
    return out


def static_placement(auth: BearerAuth | ApiKeyAuth | BasicAuth | CookieAuth | HeadersAuth) -> Placement:
    """The placement of a credential that never changes."""
    if isinstance(auth, BearerAuth):
        return place_token(auth.token.get_secret_value(), {}, auth.use)
    if isinstance(auth, ApiKeyAuth):
        key = auth.key.get_secret_value()
        return Placement(query={auth.name: key}) if auth.in_ == "query" else Placement(headers=[(auth.name, key)])
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        return Placement(headers=[("Authorization", "Basic " + base64.b64encode(pair).decode())])
    if isinstance(auth, CookieAuth):
        return Placement(cookies={k: v.get_secret_value() for k, v in auth.cookies.items()})
    return Placement(headers=[(k, v.get_secret_value()) for k, v in auth.headers.items()])


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it; None for other tokens."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


def response_cookies(response: Response) -> dict[str, str]:
    """Name -> value of every Set-Cookie in a response."""
    from http.cookies import CookieError, SimpleCookie

    jar: dict[str, str] = {}
    for header in response.header_values("Set-Cookie"):
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(header)
        except CookieError:
            continue
        jar.update({name: morsel.value for name, morsel in cookie.items()})
    return jar


def _jsonpath(expr: str, doc: Any) -> Any:
    try:
        matches = jsonpath_parse(expr).find(doc)
    except (JsonPathLexerError, JsonPathParserError, Exception):
        return None
    return matches[0].value if matches else None


def extract_token(auth: LoginAuth | OAuth2Auth, response: Response) -> IssuedToken | str:
    """The token from a login answer, or a sentence saying why there is none."""
    if not 200 <= response.status < 300:
        return f"login answered HTTP {response.status}"
    cookies = response_cookies(response)
    body = response.json()
    where = auth.token if isinstance(auth, LoginAuth) else "$.access_token"
    token: str | None
    if where.startswith("header:"):
        token = response.header(where.removeprefix("header:"))
    elif where.startswith("cookie:"):
        name = where.removeprefix("cookie:")
        token = None if name == "*" else cookies.get(name)
        if name == "*" and not cookies:
            return "login set no cookie"
    else:
        value = _jsonpath(where, body) if body is not None else None
        token = value if isinstance(value, str) else None
    if token is None and where != "cookie:*":
        return f"no token at {where} in the login answer"
    if token is not None and token.lower().startswith("bearer "):
        token = token[7:]
    lifetime: Any = None
    if isinstance(auth, LoginAuth) and auth.expires_in and body is not None:
        lifetime = _jsonpath(auth.expires_in, body)
    elif isinstance(auth, OAuth2Auth) and isinstance(body, dict):
        lifetime = body.get("expires_in")
    expires_at: float | None = None
    if isinstance(lifetime, str) and lifetime.strip().isdigit():  # some token endpoints send "3599"
        lifetime = int(lifetime)
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
        expires_at = time.time() + float(lifetime)
    elif token is not None:
        expires_at = jwt_expiry(token)
    return IssuedToken(token, cookies, expires_at)


def body_secrets(response: Response) -> list[str]:
    """Secret-looking string values in a JSON login answer (refresh tokens, id tokens ...)."""
    found: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif (isinstance(value, str) and len(value) >= 8 and not key.lower().endswith(("type", "_in", "expires"))
              and any(m in key.lower() for m in ("token", "secret", "session", "key"))):
            found.append(value)  # token_type: "Bearer" is no secret; scrubbing it would garble every header

    walk(response.json())
    return found


def encode_form(fields: dict[str, str]) -> bytes:
    """application/x-www-form-urlencoded body."""
    from urllib.parse import urlencode

    return urlencode(fields).encode()


def encode_json(value: Any) -> bytes:
    """application/json body."""
    return json.dumps(value).encode()
