"""The HTTP transport against real servers: scope, rate, concurrency, budgets, hostile answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotvet.core.errors import TargetErrorKind
from iotvet.core.scope import Scope
from iotvet.transport import Governor, HttpTransport, Request
from iotvet.transport.http import RUN_HEADER
from tests.servers import Running, serve
from tests.transport.apps import sink_app, target_app

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sink() -> Iterator[Running]:
    with serve(sink_app) as running:
        yield running


@pytest.fixture(scope="module")
def target(sink: Running) -> Iterator[Running]:
    with serve(lambda rec: target_app(rec, sink_url=sink.url)) as running:
        yield running


def transport(target: Running, *, rate: float = 1000, concurrency: int = 8, max_requests: int = 10_000,
              max_duration: float = 600, **kw: object) -> HttpTransport:
    governor = Governor(rate=rate, concurrency=concurrency, max_requests=max_requests, max_duration=max_duration)
    return HttpTransport(Scope([target.hostport]), governor, run_id="r-test", **kw)  # type: ignore[arg-type]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_marks_every_request_with_user_agent_and_run_id(target: Running) -> None:
    async def go() -> None:
        async with transport(target) as http:
            ex = await http.send(Request("GET", target.url + "/ok"))
            assert ex.ok and ex.response is not None and ex.response.json() == {"ok": True}

    before = len(target.recorder.hits)
    run(go())
    hit = target.recorder.hits[before]
    assert hit.headers["User-Agent"].startswith("iotvet/")
    assert hit.headers[RUN_HEADER] == "r-test"


# URLs that try to leave scope: other ports, other names for the same machine, parser tricks.
def _escapes(target: Running, sink: Running) -> list[str]:
    s, t = sink.port, target.port
    return [
        f"http://127.0.0.1:{s}/x",
        f"http://localhost:{s}/x",
        f"http://localhost:{t}/ok",  # right port, host name not in scope
        f"http://[::1]:{t}/ok",
        f"http://127.0.0.1:{t}@127.0.0.1:{s}/x",
        f"http://127.0.0.1:{s}\\@127.0.0.1:{t}/x",
        f"http://127.0.0.1:{s}#@127.0.0.1:{t}/x",
        f"http://0x7f000001:{s}/x",
        f"http://2130706433:{s}/x",
        f"https://127.0.0.1:{s}/x",
        f"ftp://127.0.0.1:{s}/x",
        f"http://127.0.0.1:{t}/redirect?to=http://127.0.0.1:{s}/x",
        f"http://127.0.0.1:{t}/redirect?to=http://localhost:{s}/x",
        f"http://127.0.0.1:{t}/redirect?to=//127.0.0.1:{s}/x",
    ]


@settings(max_examples=60)
@given(data=st.data())
def test_sink_outside_scope_receives_nothing(target: Running, sink: Running, data: st.DataObject) -> None:
    """Generated request sequences, redirects followed, never reach a host outside scope."""
    escapes = _escapes(target, sink)
    urls = data.draw(st.lists(st.one_of(st.sampled_from(escapes), st.just(target.url + "/ok")), min_size=1,
                              max_size=6))
    hops = data.draw(st.integers(min_value=0, max_value=3))
    suffix = data.draw(st.sampled_from(["", "/", "?a=1", "/..%2f..%2fadmin", "/%0d%0aX:1"]))

    async def go() -> None:
        async with transport(target, max_redirects=hops) as http:
            for url in urls:
                ex = await http.send(Request("GET", url + (suffix if "?" not in url else "")))
                if ex.error is not None and ex.error.kind is TargetErrorKind.SCOPE:
                    assert not ex.sent

    run(go())
    assert sink.recorder.hits == []


def test_out_of_scope_redirect_is_an_error_not_a_request(target: Running, sink: Running) -> None:
    async def go() -> list[object]:
        async with transport(target, max_redirects=3) as http:
            ex = await http.send(Request("GET", f"{target.url}/redirect?to={sink.url}/stolen"))
            return [ex.error.kind if ex.error else None, ex.parent, http.stats.scope_refused]

    kind, parent, refused = run(go())  # type: ignore[misc]
    assert kind is TargetErrorKind.SCOPE and parent is not None and refused == 1
    assert sink.recorder.hits == []


@pytest.mark.parametrize(("host", "allowed"), [("other-brand.example", False), ("evil.example:80", False),
                                               ("x/../y", False), ("user@h", False), (None, True)])
def test_host_header_must_name_an_in_scope_host(target: Running, host: str | None, allowed: bool) -> None:
    """Virtual hosts behind one in-scope address are other targets: a Host header cannot reach them."""
    before = len(target.recorder.hits)

    async def go() -> object:
        async with transport(target) as http:
            headers = (("Host", host if host is not None else target.hostport),)
            return await http.send(Request("GET", f"{target.url}/ok", headers))

    ex = run(go())
    assert ex.ok is allowed  # type: ignore[attr-defined]
    assert len(target.recorder.hits) - before == (1 if allowed else 0)
    if not allowed:
        assert ex.error.kind is TargetErrorKind.SCOPE  # type: ignore[attr-defined]


def test_in_scope_redirect_is_followed(target: Running) -> None:
    async def go() -> object:
        async with transport(target, max_redirects=2) as http:
            return await http.send(Request("GET", f"{target.url}/redirect?to=/ok"))

    ex = run(go())
    assert ex.ok and ex.response.json() == {"ok": True}  # type: ignore[attr-defined]


def test_no_one_second_window_exceeds_rate_logins_included(target: Running) -> None:
    rate = 8
    with serve(lambda rec: target_app(rec)) as fresh:

        async def go() -> None:
            async with transport(fresh, rate=rate, concurrency=6) as http:
                logins = [http.send(Request("POST", fresh.url + "/login", body=b"user%d" % i, purpose="login"))
                          for i in range(6)]
                reads = [http.send(Request("GET", fresh.url + "/ok")) for _ in range(24)]
                results = await asyncio.gather(*logins, *reads)
                assert all(r.ok for r in results)

        began = time.monotonic()
        run(go())
        took = time.monotonic() - began
        assert len(fresh.recorder.hits) == 30
        assert fresh.recorder.max_in_window(1.0) <= rate
        assert took >= (30 / rate) - 1.5  # it did wait, rather than dropping requests


def test_fractional_rate_spaces_requests(target: Running) -> None:
    with serve(lambda rec: target_app(rec)) as fresh:

        async def go() -> None:
            async with transport(fresh, rate=2.5, concurrency=4) as http:
                await asyncio.gather(*(http.send(Request("GET", fresh.url + "/ok")) for _ in range(7)))

        run(go())
        assert fresh.recorder.max_in_window(1.0) <= 2


def test_in_flight_never_exceeds_concurrency(target: Running) -> None:
    with serve(lambda rec: target_app(rec)) as fresh:

        async def go() -> None:
            async with transport(fresh, concurrency=3) as http:
                await asyncio.gather(*(http.send(Request("GET", fresh.url + "/slow?ms=150")) for _ in range(15)))

        run(go())
        assert fresh.recorder.max_in_flight == 3  # parallel, and never more


@pytest.mark.parametrize("budget", [1, 7])
def test_max_requests_is_never_exceeded(target: Running, budget: int) -> None:
    with serve(lambda rec: target_app(rec)) as fresh:

        async def go() -> list[object]:
            async with transport(fresh, max_requests=budget, concurrency=5) as http:
                return list(await asyncio.gather(*(http.send(Request("GET", fresh.url + "/ok")) for _ in range(20))))

        exchanges = run(go())
        assert len(fresh.recorder.hits) == budget
        refused = [e for e in exchanges if e.error is not None]  # type: ignore[attr-defined]
        assert len(refused) == 20 - budget
        assert all(e.error.kind is TargetErrorKind.BUDGET and not e.sent for e in refused)  # type: ignore[attr-defined]


def test_max_duration_stops_sending(target: Running) -> None:
    with serve(lambda rec: target_app(rec)) as fresh:

        async def go() -> list[object]:
            async with transport(fresh, rate=5, max_duration=1.0) as http:
                return list(await asyncio.gather(*(http.send(Request("GET", fresh.url + "/ok")) for _ in range(20))))

        began = time.monotonic()
        exchanges = run(go())
        assert time.monotonic() - began < 3
        kinds = {e.error.kind for e in exchanges if e.error}  # type: ignore[attr-defined]
        assert kinds == {TargetErrorKind.DEADLINE}
        assert len(fresh.recorder.hits) <= 6


def test_retry_after_is_honoured_and_counted(target: Running) -> None:
    with serve(lambda rec: target_app(rec)) as fresh:

        async def go() -> object:
            async with transport(fresh) as http:
                ex = await http.send(Request("GET", fresh.url + "/limited"))
                assert http.governor.usage.permits == 2
                return ex

        began = time.monotonic()
        ex = run(go())
        assert ex.ok and ex.response.json() == {"after": 2}  # type: ignore[attr-defined]
        assert time.monotonic() - began >= 0.9
        times = [h.at for h in fresh.recorder.hits]
        assert len(times) == 2 and times[1] - times[0] >= 0.9


def test_a_request_marked_no_retry_takes_the_first_429_as_final(target: Running) -> None:
    """Guessed logins: a retried failed login would count towards a lockout behind the check's back."""
    with serve(lambda rec: target_app(rec)) as fresh:

        async def go() -> object:
            async with transport(fresh) as http:
                return await http.send(Request("GET", fresh.url + "/limited", retry=False))

        ex = run(go())
        assert ex.response.status == 429  # type: ignore[attr-defined]
        assert len(fresh.recorder.hits) == 1


def test_circuit_opens_after_repeated_5xx(target: Running) -> None:
    with serve(lambda rec: target_app(rec)) as fresh:

        async def go() -> list[object]:
            async with transport(fresh, circuit_threshold=3, concurrency=1) as http:
                return [await http.send(Request("GET", fresh.url + "/error")) for _ in range(6)]

        exchanges = run(go())
        assert len(fresh.recorder.hits) == 3
        assert [e.response.status for e in exchanges[:3]] == [500, 500, 500]  # type: ignore[attr-defined]
        assert all(e.error.kind is TargetErrorKind.CIRCUIT_OPEN for e in exchanges[3:])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/huge", TargetErrorKind.TOO_LARGE), ("/drip", TargetErrorKind.TIMEOUT), ("/reset", TargetErrorKind.RESET)],
)
def test_hostile_answers_become_target_errors(target: Running, path: str, kind: TargetErrorKind) -> None:
    async def go() -> object:
        async with transport(target, max_body=64 * 1024, request_timeout=1.5) as http:
            return await http.send(Request("GET", target.url + path))

    began = time.monotonic()
    ex = run(go())
    assert ex.error is not None and ex.error.kind is kind  # type: ignore[attr-defined]
    assert time.monotonic() - began < 5
    if kind is TargetErrorKind.TOO_LARGE:
        assert len(ex.response.body) == 64 * 1024 and ex.response.truncated  # type: ignore[attr-defined]


def test_malformed_http_is_a_protocol_error() -> None:
    """A server that answers with garbage instead of HTTP."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 abc nonsense\r\n\x00\x01garbage\r\n\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()

    async def go() -> object:
        governor = Governor(rate=100, concurrency=1, max_requests=10, max_duration=30)
        async with HttpTransport(Scope([f"127.0.0.1:{port}"]), governor, run_id="r") as http:
            return await http.send(Request("GET", f"http://127.0.0.1:{port}/"))

    ex = run(go())
    server.close()
    assert ex.response is None and ex.error is not None  # type: ignore[attr-defined]
    assert ex.error.kind in (TargetErrorKind.PROTOCOL, TargetErrorKind.RESET)  # type: ignore[attr-defined]


def test_every_exchange_reaches_listeners(target: Running, sink: Running) -> None:
    seen: list[str] = []

    async def go() -> None:
        async with transport(target) as http:
            http.listen(lambda ex: seen.append(ex.id))
            await http.send(Request("GET", target.url + "/ok"))
            await http.send(Request("GET", sink.url + "/x"))

    run(go())
    assert seen == ["h1", "h2"]


def test_requests_go_through_the_configured_proxy(target: Running) -> None:
    """With target.proxy set, the proxy receives the absolute-form request; scope still applies."""
    from aiohttp import web

    def proxy_app(recorder: object) -> web.Application:
        app = web.Application()

        async def relay(request: web.Request) -> web.Response:
            return web.json_response({"proxied": str(request.url)})

        app.router.add_route("*", "/{tail:.*}", relay)
        return app

    with serve(proxy_app) as proxy:

        async def go() -> list[object]:
            async with transport(target, proxy=proxy.url) as http:
                inside = await http.send(Request("GET", target.url + "/ok"))
                outside = await http.send(Request("GET", "http://127.0.0.1:1/x"))
                return [inside, outside]

        before = len(target.recorder.hits)
        inside, outside = run(go())  # type: ignore[misc]
        assert inside.response.json() == {"proxied": target.url + "/ok"}  # type: ignore[attr-defined]
        assert outside.error.kind is TargetErrorKind.SCOPE  # type: ignore[attr-defined]
        assert [h.path for h in proxy.recorder.hits] == ["/ok"]
        assert len(target.recorder.hits) == before
