"""REST probe I against a hostile target: slow, huge, resetting, redirecting and script-laden answers
give inconclusive cells with reasons, within the budgets, and nothing leaves scope."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from aiohttp import web

from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan
from iotvet.probes.run import Sinks, run_probe
from tests.servers import Recorder, serve
from tests.transport.apps import sink_app

pytestmark = pytest.mark.timeout(120)

TOKENS = {"Bearer tok-ana-0123456789": "ana", "Bearer tok-ben-0123456789": "ben"}
ITEMS = {"ana": {"id": "item-ana-7781", "secret": "ana-private-value-42", "lat": 51.50743},
         "ben": {"id": "item-ben-9932", "secret": "ben-private-value-17", "lat": 48.85661}}
BEHAVIOURS = ("slow", "huge", "reset", "redirect", "script")


def _spec() -> dict[str, object]:
    item = {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"responses": {"200": {"description": "ok"}}}}
    paths: dict[str, object] = {"/me": {"get": {"responses": {"200": {"description": "ok"}}}},
                                "/items": {"get": {"responses": {"200": {"description": "ok"}}}}}
    for b in BEHAVIOURS:
        paths[f"/{b}/{{id}}"] = item
    return {"openapi": "3.0.3", "info": {"title": "hostile", "version": "1"},
            "security": [{"bearer": []}], "paths": paths}


def hostile_app(sink_url: str) -> object:
    def build(recorder: Recorder) -> web.Application:
        routes = web.RouteTableDef()

        def who(request: web.Request) -> str | None:
            return TOKENS.get(request.headers.get("Authorization", ""))

        @routes.get("/openapi.json")
        async def spec(request: web.Request) -> web.Response:
            return web.json_response(_spec())

        @routes.get("/api/me")
        async def me(request: web.Request) -> web.Response:
            user = who(request)
            return web.json_response({"user": user}) if user else web.json_response({"error": "no"}, status=401)

        @routes.get("/api/items")
        async def items(request: web.Request) -> web.Response:
            user = who(request)
            return web.json_response([ITEMS[user]]) if user else web.json_response({"error": "no"}, status=401)

        @routes.get("/api/{behaviour}/{id}")
        async def item(request: web.Request) -> web.StreamResponse:
            user = who(request)
            owner = next((u for u, it in ITEMS.items() if it["id"] == request.match_info["id"]), None)
            if user is not None and user == owner:
                return web.json_response(ITEMS[owner])
            behaviour = request.match_info["behaviour"]
            if behaviour == "slow":
                await asyncio.sleep(30)
            if behaviour == "huge":
                resp = web.StreamResponse(headers={"Content-Type": "application/json"})
                await resp.prepare(request)
                with contextlib.suppress(ConnectionResetError, RuntimeError):
                    await resp.write(b'{"pad": "' + b"A" * (3 << 20) + b'", "secret": "' + b"x" * 10)
                return resp
            if behaviour == "reset":
                assert request.transport is not None
                request.transport.abort()
            if behaviour == "redirect":
                raise web.HTTPFound(f"{sink_url}/steal?id={request.match_info['id']}")
            return web.Response(text='<script>alert(1)</script><img src=x onerror=alert(2)>\x1b[31m=cmd|calc',
                                content_type="text/html", status=200)

        app = web.Application()
        app.add_routes(routes)
        return app

    return build


def test_hostile_answers_are_inconclusive_and_bounded(tmp_path: Path) -> None:
    with serve(sink_app) as sink, serve(hostile_app(sink.url)) as target:  # type: ignore[arg-type]
        plan = tmp_path / "plan.yaml"
        plan.write_text(f"""
target: {{base_url: "{target.url}/api", openapi: "{target.url}/openapi.json"}}
scope: {{hosts: ["{target.hostport}"]}}
safety: {{mode: read-only, rate: 200, concurrency: 4, max_requests: 500, max_duration: 60s, request_timeout: 2s,
          max_body: 262144, max_redirects: 3}}
identities:
  - {{name: ana, tenant: alpha, auth: {{type: bearer, token: "tok-ana-0123456789"}}, verify: {{path: /me}}}}
  - {{name: ben, tenant: beta, auth: {{type: bearer, token: "tok-ben-0123456789"}}, verify: {{path: /me}}}}
""")
        loaded = load_plan(str(plan))
        cells: list[Cell] = []
        findings: list[Finding] = []
        sinks = Sinks(cell=cells.append, finding=findings.append, exchange=lambda ex: None)
        began = time.monotonic()
        outcome = asyncio.run(run_probe(loaded, Redactor(loaded.secrets), sinks))
        took = time.monotonic() - began
    assert sink.recorder.hits == []
    assert findings == []
    assert took < 40
    assert outcome.rest is not None and outcome.requests <= 500
    by_place = {(c.operation.path, c.relation.value): c for c in cells if c.operation}  # type: ignore[union-attr]
    other = {b: by_place[(f"/{b}/{{id}}", "other-tenant")] for b in BEHAVIOURS}
    assert other["slow"].verdict.value == "inconclusive" and "timeout" in other["slow"].reason
    assert other["huge"].verdict.value == "inconclusive" and "body-too-large" in other["huge"].reason
    assert other["reset"].verdict.value == "inconclusive"
    assert other["redirect"].verdict.value == "inconclusive"
    assert "out-of-scope" in other["redirect"].reason or "redirect" in other["redirect"].reason
    assert other["script"].verdict.value == "enforced"  # HTML with script holds none of the victim's data
    assert json.dumps([c.model_dump(mode="json") for c in cells]).count("tok-") == 0


def test_hostile_target_sink_fixture_is_reachable_only_directly(tmp_path: Path) -> None:
    """The sink is a real server: a direct request reaches it, so the zero above means something."""
    import urllib.request

    with serve(sink_app) as sink:
        with urllib.request.urlopen(sink.url + "/probe", timeout=5) as resp:
            assert resp.status == 200
        assert len(sink.recorder.hits) == 1




def test_dry_run_sends_nothing_but_the_spec_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from iotvet.cli import main

    with serve(sink_app) as sink, serve(hostile_app(sink.url)) as target:  # type: ignore[arg-type]
        plan = tmp_path / "plan.yaml"
        plan.write_text(f"""
target: {{base_url: "{target.url}/api", openapi: "{target.url}/openapi.json"}}
scope: {{hosts: ["{target.hostport}"]}}
safety: {{mode: safe-writes, rate: 10, max_requests: 12}}
identities:
  - {{name: ana, tenant: alpha, auth: {{type: bearer, token: "tok-ana-0123456789"}}}}
  - {{name: ben, tenant: beta, auth: {{type: bearer, token: "tok-ben-0123456789"}}}}
""")
        code = main(["probe", str(plan), "--dry-run", "--db", str(tmp_path / "d.db")])
        hits = target.recorder.paths()
    out = capsys.readouterr().out
    assert hits == ["/openapi.json"]
    assert "at most" in out and "DOES NOT FIT" in out and code == 3  # 12 requests cannot cover the plan
    assert not (tmp_path / "d.db").exists()
