"""``Session.request(..., token=...)``: a given token goes where the identity's credential goes, with no
login and no retry; ``token()`` reports the identity's own token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from iotvet.auth import open_sessions
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan import load_plan
from iotvet.transport import Governor, HttpTransport
from tests.servers import Recorder, serve

pytestmark = pytest.mark.timeout(30)
FORGED = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1LTIifQ."


def _app(recorder: Recorder) -> web.Application:
    routes = web.RouteTableDef()

    @routes.post("/api/login")
    async def login(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"access_token": f"tok-{body['username']}-0123456789"})

    @routes.get("/api/me")
    async def me(request: web.Request) -> web.Response:
        return web.json_response({"error": "no"}, status=401)

    app = web.Application()
    app.add_routes(routes)
    return app


def test_request_with_token_places_it_like_the_identity(tmp_path: Path) -> None:
    with serve(_app) as target:
        login = "{type: login, request: {method: POST, path: /login, json: {username: %s, password: pw-0123456789}}%s}"
        plan = tmp_path / "plan.yaml"
        plan.write_text(f"""
target: {{base_url: "{target.url}/api"}}
scope: {{hosts: ["{target.hostport}"]}}
identities:
  - {{name: bea, tenant: t, auth: {login % ("bea", "")}}}
  - {{name: hal, tenant: t, auth: {login % ("hal", ', use: {header: X-Auth-Token, prefix: ""}')}}}
  - {{name: cam, tenant: t, auth: {login % ("cam", ", use: {cookie: sid}")}}}
  - {{name: sta, tenant: t, auth: {{type: bearer, token: "static-0123456789"}}}}
""")
        loaded = load_plan(str(plan))

        async def go() -> dict[str, str | None]:
            governor = Governor(rate=100, concurrency=4, max_requests=100, max_duration=60)
            async with HttpTransport(Scope(loaded.plan.scope.hosts), governor, run_id="r-tok") as http:
                sessions = await open_sessions(loaded, http, Redactor(loaded.secrets))
                own = {name: await sessions[name].token() for name in ("bea", "hal", "cam", "sta")}
                for name in ("bea", "hal", "cam", "sta"):
                    exchange = await sessions[name].request("GET", "/me", token=FORGED, purpose="probe:test")
                    assert exchange.response is not None and exchange.response.status == 401
                return own

        own = asyncio.run(go())
        hits = [h for h in target.recorder.hits if h.path == "/api/me"]
        logins = [h for h in target.recorder.hits if h.path == "/api/login"]
    assert own == {"bea": "tok-bea-0123456789", "hal": "tok-hal-0123456789", "cam": "tok-cam-0123456789",
                   "sta": "static-0123456789"}
    assert len(logins) == 3 and len(hits) == 4  # one login each for token(); a 401 neither retries nor logs in
    bea, hal, cam, sta = hits
    assert bea.headers.get("Authorization") == f"Bearer {FORGED}"
    assert hal.headers.get("X-Auth-Token") == FORGED and "Authorization" not in hal.headers
    assert cam.headers.get("Cookie") == f"sid={FORGED}" and "Authorization" not in cam.headers
    assert sta.headers.get("Authorization") == f"Bearer {FORGED}"
    for hit in hits:
        assert "0123456789" not in str(hit.headers)  # the identity's own credential is not sent alongside
