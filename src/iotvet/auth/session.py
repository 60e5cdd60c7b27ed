"""A :class:`Session` is one identity speaking HTTP: it applies, obtains and refreshes credentials.

Login-issued tokens and cookies are taught to the run's redactor the moment they arrive, so
no later output can contain them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from iotvet.auth.credentials import (
    IssuedToken,
    Placement,
    body_secrets,
    encode_form,
    encode_json,
    extract_token,
    jwt_expiry,
    place_token,
    response_cookies,
    static_placement,
)
from iotvet.core.errors import TargetError, TargetErrorKind
from iotvet.core.redact import Redactor
from iotvet.plan.loader import LoadedPlan
from iotvet.plan.schema import (
    BearerAuth,
    HeadersAuth,
    Identity,
    LoginAuth,
    MtlsAuth,
    OAuth2Auth,
    RequestSpec,
    TokenUse,
    WfcAuth,
)
from iotvet.transport.http import Exchange, HttpTransport, Request, TlsOptions


@dataclass(frozen=True, slots=True)
class Liveness:
    """Whether an identity's credential works: alive, dead, or not provable offline."""

    identity: str
    alive: bool | None
    reason: str


def _join(base_url: str, path: str, query: dict[str, str]) -> str:
    url = path if path.startswith(("http://", "https://")) else base_url + path
    if not query:
        return url
    parts = urlsplit(url)
    extra = urlencode(query)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


class Session:
    """One identity (or anonymous, when ``identity`` is None) making requests to the target."""

    def __init__(self, identity: Identity | None, loaded: LoadedPlan, http: HttpTransport,
                 redactor: Redactor) -> None:
        self.identity = identity
        self.name = identity.name if identity else "anonymous"
        self.loaded = loaded
        self.http = http
        self.redactor = redactor
        target = loaded.plan.target
        self.base_url = target.base_url if target else ""
        hosts = target.tenant_hosts if target else {}
        self.tenant_host = hosts.get(identity.tenant) if identity else None
        ca = loaded.resolve(target.ca).as_posix() if target and target.ca else None
        auth = identity.auth if identity else None
        if isinstance(auth, WfcAuth):
            from iotvet.plan.wfc import load_wfc_user

            auth = load_wfc_user(loaded.resolve(auth.file), auth.user)
            for placed in static_placement(auth).headers if isinstance(auth, HeadersAuth) else []:
                redactor.add(placed[1], f"{self.name}.wfc")
            self._teach_request_secrets(auth)
        self.auth = auth
        if isinstance(auth, MtlsAuth):
            self.tls = TlsOptions(ca=ca, cert=loaded.resolve(auth.cert).as_posix(),
                                  key=loaded.resolve(auth.key).as_posix(),
                                  key_password=auth.key_password.get_secret_value() if auth.key_password else None)
        else:
            self.tls = TlsOptions(ca=ca)
        self._issued: IssuedToken | None = None
        self._login_lock = asyncio.Lock()
        self._generation = 0  # bumped by every successful login
        self.login_error: str | None = None

    def _teach_request_secrets(self, auth: Any) -> None:
        if isinstance(auth, LoginAuth):
            from iotvet.plan.loader import body_secrets as _body_secrets

            for label, value in _body_secrets(auth.request.json_body, self.name):
                self.redactor.add(value, label)
            for label, value in _body_secrets(auth.request.form, self.name):
                self.redactor.add(value, label)

    @property
    def generation(self) -> int:
        """How many successful logins this session has made (a token's identity, for callers)."""
        return self._generation

    async def token(self) -> str | None:
        """The token this identity presents now (logging in first if needed); None for other credentials."""
        auth = self.auth
        if isinstance(auth, LoginAuth | OAuth2Auth):
            await self._placement()
            return self._issued.value if self._issued else None
        if isinstance(auth, BearerAuth):
            return auth.token.get_secret_value()
        return None

    async def relogin(self) -> str | None:
        """Obtain a new token even though the current one looks valid (after a flow revoked it)."""
        return await self.login(self._generation)

    @property
    def refreshable(self) -> bool:
        """True when the credential can be obtained again (login or OAuth2)."""
        return isinstance(self.auth, LoginAuth | OAuth2Auth)

    async def login(self, seen: int | None = None) -> str | None:
        """Obtain a fresh token when the auth type issues one; returns why it failed, or None.

        ``seen`` is the generation the caller found stale: if another task logged in since, reuse that.
        """
        if not self.refreshable:
            return None
        async with self._login_lock:
            if self.login_error is not None:
                return self.login_error  # never retry a failed login: that is how accounts get locked
            if seen is not None and seen != self._generation and self._issued is not None:
                return None
            auth = self.auth
            assert isinstance(auth, LoginAuth | OAuth2Auth)
            if isinstance(auth, LoginAuth):
                exchange = await self._send_spec(auth.request, purpose="login", authenticated=False,
                                                 before_emit=self._learn)
            else:
                fields = {"grant_type": "client_credentials", "client_id": auth.client_id,
                          "client_secret": auth.client_secret.get_secret_value()}
                if auth.scope:
                    fields["scope"] = auth.scope
                if auth.audience:
                    fields["audience"] = auth.audience
                request = Request("POST", auth.token_url,
                                  (("Content-Type", "application/x-www-form-urlencoded"),
                                   ("Accept", "application/json")),
                                  encode_form(fields), self.name, "login")
                exchange = await self.http.send(request, tls=self.tls, follow_redirects=False,
                                                before_emit=self._learn)
            if exchange.response is None:
                self.login_error = f"login failed: {exchange.error}"
                return self.login_error
            for name, value in response_cookies(exchange.response).items():
                self.redactor.add(value, f"{self.name}.cookie.{name}")
            for value in body_secrets(exchange.response):
                self.redactor.add(value, f"{self.name}.issued")
            issued = extract_token(auth, exchange.response)
            if isinstance(issued, str):
                self.login_error = issued
                return issued
            self.redactor.add(issued.value, f"{self.name}.token")
            self._issued = issued
            self._generation += 1
            self.login_error = None
            return None

    async def _placement(self) -> Placement:
        auth = self.auth
        if auth is None or isinstance(auth, MtlsAuth):
            return Placement()
        if isinstance(auth, LoginAuth | OAuth2Auth):
            if self._issued is None or self._issued.expired():
                await self.login(self._generation)
            if self._issued is None:
                return Placement()
            return place_token(self._issued.value, self._issued.cookies, auth.use)
        if isinstance(auth, WfcAuth):  # resolved in __init__
            raise AssertionError("unresolved WFC auth")
        return static_placement(auth)

    def _build(self, method: str, path: str, placement: Placement, *, json_body: Any = None,
               form: dict[str, str] | None = None, body: bytes | None = None,
               headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
               purpose: str = "", retry: bool = True) -> Request:
        merged_query = {**(query or {}), **placement.query}
        all_headers: list[tuple[str, str]] = list(placement.headers)
        if json_body is not None:
            body = encode_json(json_body)
            all_headers.append(("Content-Type", "application/json"))
        elif form is not None:
            body = encode_form(form)
            all_headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        extra = headers or {}
        cookies = dict(placement.cookies)
        if "Cookie" in extra:
            extra = dict(extra)
            for piece in extra.pop("Cookie").split(";"):
                if "=" in piece:
                    k, v = piece.split("=", 1)
                    cookies.setdefault(k.strip(), v.strip())
        if self.tenant_host and not any(k.lower() == "host" for k in extra):
            all_headers.append(("Host", self.tenant_host))
        all_headers.extend(extra.items())
        if cookies:
            all_headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        return Request(method.upper(), _join(self.base_url, path, merged_query), tuple(all_headers), body,
                       self.name, purpose, retry)

    async def _send_spec(self, spec: RequestSpec, *, purpose: str, authenticated: bool = True,
                         before_emit: Callable[[Exchange], object] | None = None) -> Exchange:
        placement = await self._placement() if authenticated else Placement()
        request = self._build(spec.method, spec.path, placement, json_body=spec.json_body, form=spec.form,
                              headers=spec.headers, query=spec.query, purpose=purpose)
        return await self.http.send(request, tls=self.tls, before_emit=before_emit)

    def _learn(self, exchange: Exchange) -> None:
        """Teach the redactor what a login answer carries, before the exchange reaches any sink."""
        response = exchange.response
        if response is None or not isinstance(self.auth, LoginAuth | OAuth2Auth):
            return
        for name, value in response_cookies(response).items():
            self.redactor.add(value, f"{self.name}.cookie.{name}")
        for value in body_secrets(response):
            self.redactor.add(value, f"{self.name}.issued")
        issued = extract_token(self.auth, response)
        if not isinstance(issued, str):
            self.redactor.add(issued.value, f"{self.name}.token")

    async def request(self, method: str, path: str, *, json_body: Any = None, form: dict[str, str] | None = None,
                      body: bytes | None = None, headers: dict[str, str] | None = None,
                      query: dict[str, str] | None = None, purpose: str = "",
                      follow_redirects: bool | None = None, token: str | None = None,
                      retry: bool = True) -> Exchange:
        """Send one request as this identity; a 401 on a refreshable credential logs in once and retries.

        An identity whose login failed sends nothing more: its requests come back refused
        (``auth-failed``) rather than going out without credentials under its name.
        ``token`` replaces the identity's own token for this request (placed where its ``use`` says;
        no login, no retry): how token attacks present a forged or a stale token. The caller
        teaches the redactor any token that could work before passing it here. ``retry=False``
        makes a 429/503 final (guessed logins).
        """
        if token is not None:
            use = self.auth.use if isinstance(self.auth, LoginAuth | OAuth2Auth | BearerAuth) else TokenUse()
            request = self._build(method, path, place_token(token, {}, use), json_body=json_body, form=form,
                                  body=body, headers=headers, query=query, purpose=purpose, retry=retry)
            return await self.http.send(request, tls=self.tls, follow_redirects=follow_redirects)
        for attempt in (0, 1):
            placement = await self._placement()
            used = self._generation
            request = self._build(method, path, placement, json_body=json_body, form=form, body=body,
                                  headers=headers, query=query, purpose=purpose, retry=retry)
            if self.login_error is not None:
                return self.http.refuse(request, TargetError(TargetErrorKind.AUTH,
                                                             f"{self.name} cannot log in: {self.login_error}"))
            exchange = await self.http.send(request, tls=self.tls, follow_redirects=follow_redirects)
            if not (attempt == 0 and self.refreshable and exchange.response is not None
                    and exchange.response.status == 401):
                return exchange
            await self.login(used)
        raise AssertionError("unreachable")

    async def verify(self) -> Liveness:
        """Prove the credential works: log in, and run the identity's ``verify`` request if any."""
        if self.refreshable:
            failed = await self.login()
            if failed:
                return Liveness(self.name, False, failed)
        ident = self.identity
        if ident is not None and ident.verify is not None:
            exchange = await self._send_spec(ident.verify, purpose="verify")
            if exchange.response is None:
                return Liveness(self.name, False, f"verify request failed: {exchange.error}")
            if exchange.response.status != ident.verify.status:
                return Liveness(self.name, False, f"verify answered HTTP {exchange.response.status}, "
                                                  f"expected {ident.verify.status}")
            return Liveness(self.name, True, f"verify answered HTTP {exchange.response.status}")
        if self.refreshable:
            return Liveness(self.name, True, "login issued a token")
        if ident is not None and ident.auth is not None:
            token = self.auth.token.get_secret_value() if isinstance(self.auth, BearerAuth) else None
            exp = jwt_expiry(token) if token else None
            if exp is not None:
                import time

                if exp < time.time():
                    return Liveness(self.name, False, "the token's exp claim has passed")
            return Liveness(self.name, None, "static credential; add verify: to prove it before probing")
        return Liveness(self.name, None, "no HTTP credential")


async def open_sessions(loaded: LoadedPlan, http: HttpTransport, redactor: Redactor) -> dict[str, Session]:
    """A session per identity with HTTP auth, plus ``anonymous``."""
    sessions = {"anonymous": Session(None, loaded, http, redactor)}
    for ident in loaded.plan.identities:
        if ident.auth is not None:
            sessions[ident.name] = Session(ident, loaded, http, redactor)
    return sessions
