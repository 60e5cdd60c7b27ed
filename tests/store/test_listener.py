"""The store as an ``HttpTransport`` listener against a real server: every attempt recorded, redacted."""

from __future__ import annotations

import asyncio

from aiohttp import web

from iotvet.core.scope import Scope
from iotvet.store import Store
from iotvet.transport import Governor, HttpTransport, Request
from tests.servers import Recorder, serve
from tests.store.conftest import SECRETS

TOKEN = SECRETS[1][1]


def app(_: Recorder) -> web.Application:
    async def vehicle(request: web.Request) -> web.Response:
        return web.json_response({"vin": request.match_info["vin"], "echo": request.headers.get("Authorization")},
                                 headers={"Set-Cookie": f"session={TOKEN}"})

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="text/plain")

    application = web.Application()
    application.router.add_get("/v1/vehicles/{vin}", vehicle)
    application.router.add_get("/big", big)
    return application


def test_every_exchange_of_a_transport_is_recorded(store: Store) -> None:
    run = store.start_run()
    with serve(app) as target:
        async def go() -> None:
            governor = Governor(rate=100, concurrency=2, max_requests=10, max_duration=30)
            async with HttpTransport(Scope([target.hostport]), governor, run_id=run) as http:
                http.listen(store.record_exchange)
                auth = (("Authorization", f"Bearer {TOKEN}"),)
                await http.send(Request("GET", f"{target.url}/v1/vehicles/V1", auth, identity="ca-fleet-admin"))
                await http.send(Request("GET", f"{target.url}/big"))
                await http.send(Request("GET", "http://outside.example/x"))  # refused before sending

        asyncio.run(go())
    first, big, refused = store.exchanges(run)
    assert first.status == 200 and first.identity == "ca-fleet-admin" and TOKEN not in repr(first)
    assert "[REDACTED:ca-fleet-admin.auth.token]" in (first.response_body or "")
    assert ("Set-Cookie", "session=[REDACTED:ca-fleet-admin.auth.token]") in first.response_headers
    assert big.truncated and big.response_size == 5000 and len(big.response_body or "") == 1024
    assert refused.sent is False and refused.error_kind == "out-of-scope" and refused.status is None
    assert store.load_run(run).stats.sent == 2
