"""Scope: the allow-list of hosts a run may contact. Pure logic; the transport enforces it."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
_ENTRY = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9*._-]+))(?::(?P<port>\d{1,5}))?$")


def _norm_host(host: str) -> str:
    host = host.strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True, slots=True)
class _Entry:
    host: str
    port: int | None


class Scope:
    """Decides whether a (scheme, host, port) may be contacted.

    An entry ``host:port`` allows exactly that port; an entry ``host`` allows only the default
    port of the scheme in use (443 for https, 8883 for mqtts, ...). ``*`` globs match host names.
    """

    def __init__(self, entries: list[str]) -> None:
        parsed = []
        for entry in entries:
            m = _ENTRY.match(entry.strip())
            if not m:
                raise ValueError(f"{entry!r} is not host or host:port")
            host = _norm_host(m.group("v6") or m.group("host"))
            parsed.append(_Entry(host, int(m.group("port")) if m.group("port") else None))
        self._entries = tuple(parsed)

    def allows(self, scheme: str, host: str, port: int | None) -> bool:
        """True when the host and port (default port of ``scheme`` when None) are in scope."""
        effective = port if port is not None else DEFAULT_PORTS.get(scheme.lower())
        if effective is None:  # a scheme iotvet does not speak, without a port: refuse
            return False
        name = _norm_host(host)
        for entry in self._entries:
            wanted = entry.port if entry.port is not None else DEFAULT_PORTS.get(scheme.lower())
            if wanted != effective:
                continue
            if "*" in entry.host:
                if fnmatch.fnmatchcase(name, entry.host):
                    return True
            elif name == entry.host:
                return True
        return False

    def allows_url(self, url: str) -> bool:
        """True when ``url`` (any scheme iotvet speaks) points inside scope."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # "http://[::1" or a bad port
            return False
        if not parts.hostname:
            return False
        return self.allows(parts.scheme, parts.hostname, port)

    def host_allowed(self, host: str) -> bool:
        """True when some entry names this host, whatever the port (used by the DNS guard)."""
        name = _norm_host(host)
        return any(
            fnmatch.fnmatchcase(name, e.host) if "*" in e.host else name == e.host for e in self._entries
        )
