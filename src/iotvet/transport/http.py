"""Async HTTP transport (aiohttp, chosen by measurement: see benchmarks/http_client.py).

One :class:`HttpTransport` per run. It refuses out-of-scope requests before they leave (URLs,
redirect hops and DNS names alike), spends the governor's budget on every attempt, backs off
on 429/Retry-After, opens a per-host circuit after repeated 5xx or timeouts, caps response
bodies, and hands every exchange to its listeners (the store records them).
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from iotvet import __version__
from iotvet.core.errors import ScopeViolation, TargetError, TargetErrorKind
from iotvet.core.scope import Scope
from iotvet.transport.governor import Governor

log = logging.getLogger("iotvet.transport.http")
USER_AGENT = f"iotvet/{__version__} (+https://github.com/iotvet/iotvet; authorized security test)"
RUN_HEADER = "X-Iotvet-Run"
MAX_RETRY_AFTER = 60.0
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as a probe means it; the transport adds User-Agent and run id."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    identity: str | None = None
    purpose: str = ""
    retry: bool = True
    """False: a 429/503 answer is final (a guessed login must not be repeated behind the caller's back)."""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)


@dataclass(frozen=True, slots=True)
class Response:
    """What came back: status, headers and at most ``max_body`` bytes of body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool
    url: str

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, e.g. each Set-Cookie."""
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]

    @property
    def text(self) -> str:
        """The body decoded as UTF-8, undecodable bytes replaced."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON, or None when it is not (complete, valid) JSON."""
        import json

        if self.truncated:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None


@dataclass(slots=True)
class Exchange:
    """One attempt: the request, and either a response or the error that took its place."""

    id: str
    request: Request
    started: float
    elapsed: float = 0.0
    response: Response | None = None
    error: TargetError | None = None
    sent: bool = True
    parent: str | None = None

    @property
    def ok(self) -> bool:
        """True when a response arrived complete."""
        return self.response is not None and not self.response.truncated and self.error is None


Listener = Callable[[Exchange], object]


class _ScopedResolver(AbstractResolver):
    """Resolves only host names in scope: the last guard, below every code path."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        if not self._scope.host_allowed(host):
            raise ScopeViolation(f"DNS lookup of {host} refused: not in scope.hosts")
        return await self._inner.resolve(host, port, family)

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None


@dataclass
class TransportStats:
    """Counts a report shows about the run's traffic."""

    sent: int = 0
    scope_refused: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """Trust and client certificate for one TLS profile."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    key_password: str | None = None


class HttpTransport:
    """The only way iotvet speaks HTTP. Use as ``async with HttpTransport(...) as http:``."""

    def __init__(
        self,
        scope: Scope,
        governor: Governor,
        *,
        run_id: str,
        request_timeout: float = 15.0,
        max_body: int = 1_048_576,
        max_redirects: int = 0,
        ca: str | None = None,
        proxy: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        max_retries: int = 3,
        circuit_threshold: int = 5,
        circuit_cooldown: float = 30.0,
    ) -> None:
        self.scope = scope
        self.governor = governor
        self.run_id = run_id
        self.request_timeout = request_timeout
        self.max_body = max_body
        self.max_redirects = max_redirects
        self.ca = ca
        self.proxy = proxy
        self.extra_headers = tuple(extra_headers)
        self.max_retries = max_retries
        self.circuit_threshold = circuit_threshold
        self.circuit_cooldown = circuit_cooldown
        self.stats = TransportStats()
        self._listeners: list[Listener] = []
        self._sessions: dict[TlsOptions, aiohttp.ClientSession] = {}
        self._circuits: dict[str, _Circuit] = {}
        self._ids = itertools.count(1)

    async def __aenter__(self) -> HttpTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection pool."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every exchange, sent or refused."""
        self._listeners.append(listener)

    def _session(self, tls: TlsOptions) -> aiohttp.ClientSession:
        session = self._sessions.get(tls)
        if session is None:
            context = ssl.create_default_context(cafile=tls.ca)
            if tls.cert:
                context.load_cert_chain(tls.cert, tls.key, password=tls.key_password)
            connector = aiohttp.TCPConnector(
                limit=self.governor.concurrency, ssl=context, resolver=_ScopedResolver(self.scope),
                enable_cleanup_closed=True,
            )
            session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
            self._sessions[tls] = session
        return session

    def _emit(self, exchange: Exchange) -> None:
        for listener in self._listeners:
            listener(exchange)

    def _circuit_check(self, host: str) -> None:
        circuit = self._circuits.get(host)
        if circuit is None or circuit.opened_at is None:
            return
        if time.monotonic() - circuit.opened_at < self.circuit_cooldown:
            raise TargetError(TargetErrorKind.CIRCUIT_OPEN,
                              f"{host} failed {circuit.failures} times in a row; pausing it")
        circuit.opened_at = None  # half-open: let one request try
        circuit.failures = self.circuit_threshold - 1

    def _circuit_record(self, host: str, failed: bool) -> None:
        circuit = self._circuits.setdefault(host, _Circuit())
        if not failed:
            circuit.failures, circuit.opened_at = 0, None
            return
        circuit.failures += 1
        if circuit.failures >= self.circuit_threshold:
            circuit.opened_at = time.monotonic()

    def refuse(self, request: Request, error: TargetError) -> Exchange:
        """Record a request that a higher layer decided not to send (e.g. a dead identity's)."""
        exchange = Exchange(id=f"h{next(self._ids)}", request=request, started=time.time(), error=error, sent=False)
        self.stats.errors[error.kind.value] = self.stats.errors.get(error.kind.value, 0) + 1
        self._emit(exchange)
        return exchange

    async def send(
        self,
        request: Request,
        *,
        tls: TlsOptions | None = None,
        follow_redirects: bool | None = None,
        parent: str | None = None,
        before_emit: Listener | None = None,
    ) -> Exchange:
        """Send ``request`` within scope and budgets; never raises for target behaviour.

        The returned exchange holds a response, or an error saying why there is none
        (out of scope, budget spent, timeout, reset, oversize body, open circuit ...).
        Redirects are followed only within scope and ``max_redirects``. ``before_emit`` sees each
        exchange before any listener does: a login uses it to teach the redactor the token it carries.
        """
        tls = tls or TlsOptions(ca=self.ca)
        hops = self.max_redirects if follow_redirects is None or follow_redirects else 0
        exchange = await self._send_with_retries(request, tls, parent, before_emit)
        while (hops > 0 and exchange.response is not None and exchange.response.status in _REDIRECTS
               and exchange.response.header("Location")):
            hops -= 1
            location = urljoin(exchange.response.url, exchange.response.header("Location") or "")
            method = "GET" if exchange.response.status == 303 else request.method
            body = None if method == "GET" else request.body
            request = Request(method, location, request.headers, body, request.identity, request.purpose,
                              request.retry)
            exchange = await self._send_with_retries(request, tls, exchange.id, before_emit)
        return exchange

    async def _send_with_retries(self, request: Request, tls: TlsOptions, parent: str | None,
                                 before_emit: Listener | None = None) -> Exchange:
        attempt = 0
        while True:
            exchange = await self._attempt(request, tls, parent, before_emit)
            response = exchange.response
            if (response is None or response.status not in (429, 503) or attempt >= self.max_retries
                    or not request.retry):
                return exchange
            delay = _retry_after(response.header("Retry-After"), default=2.0 ** attempt)
            if delay is None or delay > min(MAX_RETRY_AFTER, self.governor.remaining_time):
                return exchange
            attempt += 1
            parent = exchange.id
            await asyncio.sleep(delay)

    async def _attempt(self, request: Request, tls: TlsOptions, parent: str | None,
                       before_emit: Listener | None = None) -> Exchange:
        exchange = Exchange(id=f"h{next(self._ids)}", request=request, started=time.time(), parent=parent)
        host = "?"
        try:
            # Parse with yarl, the parser aiohttp itself uses, so the host checked is the host contacted.
            try:
                url = yarl.URL(request.url, encoded=False)
            except (ValueError, TypeError) as exc:
                raise ScopeViolation(f"unparseable URL refused: {type(exc).__name__}") from None
            host = f"{url.host}:{url.port}"
            if url.scheme not in ("http", "https") or not url.host or url.user is not None or not self.scope.allows(
                url.scheme, url.host, url.explicit_port
            ):
                self.stats.scope_refused += 1
                raise ScopeViolation(f"{url.scheme}://{url.host}:{url.port} is not in scope.hosts")
            forced = request.header("Host")
            if forced is not None and not self._host_header_allowed(url.scheme, forced):
                self.stats.scope_refused += 1
                raise ScopeViolation(f"Host header {forced[:80]!r} names a host not in scope.hosts")
            self._circuit_check(host)
            async with self.governor.slot(), self.governor.permit():
                self.stats.sent += 1
                begun = time.monotonic()
                try:
                    exchange.response = await self._do(request, url, tls)
                finally:
                    exchange.elapsed = time.monotonic() - begun
            status = exchange.response.status
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            self._circuit_record(host, failed=status >= 500)
            if exchange.response.truncated:
                exchange.error = TargetError(TargetErrorKind.TOO_LARGE, f"body larger than {self.max_body} bytes")
        except TargetError as err:
            exchange.error = err
            exchange.sent = err.kind not in (TargetErrorKind.SCOPE, TargetErrorKind.BUDGET,
                                             TargetErrorKind.DEADLINE, TargetErrorKind.CIRCUIT_OPEN)
            if err.kind in (TargetErrorKind.TIMEOUT, TargetErrorKind.CONNECT, TargetErrorKind.RESET):
                self._circuit_record(host, failed=True)
            self.stats.errors[err.kind.value] = self.stats.errors.get(err.kind.value, 0) + 1
        log.debug("%s %s %s -> %s", exchange.id, request.method, request.url,
                  exchange.response.status if exchange.response else exchange.error)
        if before_emit is not None:
            before_emit(exchange)
        self._emit(exchange)
        return exchange

    def _host_header_allowed(self, scheme: str, value: str) -> bool:
        """A Host header may only name an in-scope host: virtual hosts behind one address are targets too."""
        try:
            named = yarl.URL(f"{scheme}://{value}", encoded=False)
        except (ValueError, TypeError):
            return False
        return bool(named.host) and named.path in ("", "/") and not named.query_string and named.user is None \
            and self.scope.allows(scheme, named.host or "", named.explicit_port)

    async def _do(self, request: Request, url: yarl.URL, tls: TlsOptions) -> Response:
        headers = [("User-Agent", USER_AGENT), (RUN_HEADER, self.run_id), *self.extra_headers, *request.headers]
        timeout = aiohttp.ClientTimeout(total=max(0.05, min(self.request_timeout, self.governor.remaining_time)))
        session = self._session(tls)
        try:
            async with session.request(
                request.method, url, headers=_multidict(headers), data=request.body,
                allow_redirects=False, timeout=timeout, proxy=self.proxy,
            ) as resp:
                body, truncated = await _read_capped(resp, self.max_body)
                return Response(
                    status=resp.status, reason=resp.reason or "", headers=tuple(resp.headers.items()),
                    body=body, truncated=truncated, url=str(resp.url),
                )
        except ScopeViolation:
            raise
        except TimeoutError as exc:
            raise TargetError(TargetErrorKind.TIMEOUT, f"no complete answer within {timeout.total:.1f}s") from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise TargetError(TargetErrorKind.TLS, str(exc.certificate_error)) from exc
        except aiohttp.ClientSSLError as exc:
            raise TargetError(TargetErrorKind.TLS, type(exc).__name__) from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.__cause__, ScopeViolation):
                raise exc.__cause__ from None
            raise TargetError(TargetErrorKind.CONNECT, f"{exc.host}:{exc.port}: {exc.strerror or exc}") from exc
        except (aiohttp.ServerDisconnectedError, ConnectionResetError, aiohttp.ClientPayloadError) as exc:
            raise TargetError(TargetErrorKind.RESET, type(exc).__name__) from exc
        except aiohttp.ClientResponseError as exc:
            raise TargetError(TargetErrorKind.PROTOCOL, f"{type(exc).__name__}: {exc.message}") from exc
        except (aiohttp.ClientError, ValueError, UnicodeError) as exc:
            raise TargetError(TargetErrorKind.PROTOCOL, type(exc).__name__) from exc


def _multidict(headers: list[tuple[str, str]]) -> Any:
    from multidict import CIMultiDict

    md: CIMultiDict[str] = CIMultiDict()
    for name, value in headers:
        if name.lower() in {"user-agent", RUN_HEADER.lower()} and name.lower() in md:
            md[name] = value  # a probe may override ours, e.g. to test a client-supplied header
        else:
            md.add(name, value)
    return md


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            resp.close()  # drop the connection rather than drain an endless body
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


def _retry_after(value: str | None, default: float) -> float | None:
    if value is None:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())
