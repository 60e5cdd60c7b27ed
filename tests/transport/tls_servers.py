"""Servers for TLS and security.txt tests, all on 127.0.0.1: an aiohttp app over TLS in its own
thread and loop (as tests/servers.py, plus an SSL context), a TCP listener that counts connections
and never answers, and trustme certificates with fixed validity windows.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import trustme
from aiohttp import web

from tests.servers import Recorder, Running, serve

NOT_BEFORE = datetime(2024, 1, 1)
NOT_AFTER = datetime(2099, 1, 1)
V = ssl.TLSVersion


def issue(ca: trustme.CA, *names: str, not_before: datetime = NOT_BEFORE, not_after: datetime = NOT_AFTER,
          key_type: trustme.KeyType = trustme.KeyType.ECDSA) -> trustme.LeafCert:
    """A leaf for ``names`` with a fixed validity window (so facts about it are exact)."""
    return ca.issue_cert(*names, not_before=not_before, not_after=not_after, key_type=key_type)


def server_context(cert: trustme.LeafCert, low: ssl.TLSVersion = V.TLSv1_2,
                   high: ssl.TLSVersion = V.TLSv1_3) -> ssl.SSLContext:
    """A server context presenting ``cert`` and accepting protocol versions ``low`` to ``high``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if low < V.TLSv1_2:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version, ctx.maximum_version = low, high
    return ctx


def write_ca(ca: trustme.CA, directory: Path) -> str:
    """The CA certificate as a PEM file (what a plan's ``target.ca`` names)."""
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def serve_tls(build: Callable[[Recorder], web.Application], ctx: ssl.SSLContext | None,
              ) -> contextlib.AbstractContextManager[Running]:
    """Run the app built by ``build`` (over TLS when ``ctx`` is given) until the block ends."""
    return serve(build, ssl_context=ctx)


class Silent:
    """A TCP listener that accepts, counts and holds connections, and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        """Stop accepting; drop every held connection."""
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self.sock.close()


@contextmanager
def silent() -> Iterator[Silent]:
    """A :class:`Silent` listener for the block."""
    listener = Silent()
    try:
        yield listener
    finally:
        listener.close()
