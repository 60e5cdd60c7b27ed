"""Real HTTP servers for tests: an aiohttp.web app on a free 127.0.0.1 port, in its own thread and loop.

The server's own loop keeps its clock and bookkeeping independent of the client under test,
so arrival times and in-flight counts are what a real target would see.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hit:
    """One request as the server saw it."""

    at: float
    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class Recorder:
    """What a test server observed."""

    hits: list[Hit] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        with self.lock:
            return [h.path for h in self.hits]

    def max_in_window(self, window: float = 1.0) -> int:
        """The most requests that arrived within any `window`-second span."""
        with self.lock:
            times = sorted(h.at for h in self.hits)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best


@dataclass
class Running:
    """A started server: its base URL, host:port, and what it recorded."""

    url: str
    hostport: str
    port: int
    recorder: Recorder


@contextmanager
def serve(build: Callable[[Recorder], web.Application], host: str = "127.0.0.1",
          ssl_context: ssl.SSLContext | None = None) -> Iterator[Running]:
    """Run the app built by ``build`` (over TLS with ``ssl_context``) until the block ends."""
    recorder = Recorder()
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: list[web.AppRunner] = []

    @web.middleware
    async def record(request: web.Request, handler: Callable) -> web.StreamResponse:  # type: ignore[type-arg]
        with recorder.lock:
            recorder.hits.append(Hit(time.monotonic(), request.method, request.path, request.query_string,
                                     dict(request.headers)))
            recorder.in_flight += 1
            recorder.max_in_flight = max(recorder.max_in_flight, recorder.in_flight)
        try:
            return await handler(request)
        finally:
            with recorder.lock:
                recorder.in_flight -= 1

    async def start() -> None:
        app = build(recorder)
        app.middlewares.insert(0, record)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        runner_box.append(runner)
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("test server did not start")
    hostport = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        yield Running(f"{'https' if ssl_context else 'http'}://{hostport}", hostport, port, recorder)
    finally:
        asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
