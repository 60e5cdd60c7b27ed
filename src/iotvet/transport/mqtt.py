"""MQTT transport (aiomqtt over paho-mqtt): the only code that talks to brokers.

Like HTTP, every connection is checked against scope before it is opened and spends a permit
from the run's governor. This module starts with what ``validate --online`` needs (log an
identity in); the MQTT probe builds its subscribe/publish oracle on the same seam.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiomqtt

from iotvet.core.errors import ScopeViolation, TargetError, TargetErrorKind
from iotvet.core.scope import DEFAULT_PORTS, Scope
from iotvet.transport.governor import Governor

# CONNACK reason codes that mean "your credentials were refused" (3.1.1 return codes 4 and 5,
# MQTT 5 reason codes 0x86 and 0x87).
_AUTH_REFUSED = ("bad user name or password", "not authorised", "not authorized")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A broker listener: where it is and how to speak to it."""

    url: str
    host: str
    port: int
    tls: bool
    websockets: bool
    path: str | None

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Read ``mqtt://``, ``mqtts://``, ``ws://`` or ``wss://`` URLs."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or parts.scheme in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a broker URL: {url}")
        return cls(url, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme], parts.scheme in ("mqtts", "wss"),
                   parts.scheme in ("ws", "wss"), parts.path or ("/mqtt" if parts.scheme in ("ws", "wss") else None))


@dataclass(frozen=True, slots=True)
class Credentials:
    """How one identity connects."""

    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    cert: str | None = None
    key: str | None = None


def _tls_context(ca: str | None, creds: Credentials) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    if creds.cert:
        context.load_cert_chain(creds.cert, creds.key)
    return context


async def connect_check(endpoint: Endpoint, creds: Credentials, *, scope: Scope, governor: Governor,
                        ca: str | None = None, timeout: float = 10.0) -> str | None:
    """Connect and disconnect once; None when the broker accepted, else why not.

    Raises :class:`ScopeViolation` for a broker outside scope and :class:`TargetError` when the
    broker cannot be reached at all (so a caller can tell "dead identity" from "dead broker").
    """
    scheme = urlsplit(endpoint.url).scheme
    if not scope.allows(scheme, endpoint.host, endpoint.port):
        raise ScopeViolation(f"{endpoint.host}:{endpoint.port} is not in scope.hosts")
    client = aiomqtt.Client(
        endpoint.host, endpoint.port, username=creds.username, password=creds.password,
        identifier=creds.client_id, transport="websockets" if endpoint.websockets else "tcp",
        websocket_path=endpoint.path if endpoint.websockets else None,
        tls_context=_tls_context(ca, creds) if endpoint.tls else None,
        timeout=min(timeout, max(0.1, governor.remaining_time)), clean_session=True,
    )
    try:
        async with governor.permit(), client:  # CONNACK arrived: the exchange is complete
            return None
    except aiomqtt.MqttCodeError as exc:
        text = str(exc).lower()
        if any(marker in text for marker in _AUTH_REFUSED):
            return f"the broker refused the credentials ({exc})"
        raise TargetError(TargetErrorKind.PROTOCOL, str(exc)) from exc
    except aiomqtt.MqttError as exc:
        text = str(exc)
        if "ssl" in text.lower() or "certificate" in text.lower():
            raise TargetError(TargetErrorKind.TLS, text) from exc
        if "timed out" in text.lower():
            raise TargetError(TargetErrorKind.TIMEOUT, text) from exc
        raise TargetError(TargetErrorKind.CONNECT, text) from exc
    except (OSError, ssl.SSLError) as exc:
        raise TargetError(TargetErrorKind.CONNECT, f"{type(exc).__name__}: {exc}") from exc
