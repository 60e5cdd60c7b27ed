"""Small purpose-built APIs for cases the lab does not shape: parameters named unlike any listed field,
a tenant taken from a query parameter or from the Host header (brands as virtual hosts)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan
from iotvet.probes.run import Sinks, run_probe
from tests.servers import Recorder, serve

pytestmark = pytest.mark.timeout(60)

USERS = {"Bearer tok-ana-0123456789": ("ana", "alpha"), "Bearer tok-ben-0123456789": ("ben", "beta")}
THINGS = {"th-5501": {"id": "th-5501", "owner": "ana", "tenant": "alpha", "serial": "SN-ALPHA-99812"},
          "th-7702": {"id": "th-7702", "owner": "ben", "tenant": "beta", "serial": "SN-BETA-44120"}}


def _app(routes: web.RouteTableDef, spec: dict[str, Any]) -> web.Application:
    """An app with ``routes`` and its OpenAPI document at ``/openapi.json``."""

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(spec)

    app = web.Application()
    app.router.add_get("/openapi.json", openapi)
    app.add_routes(routes)
    return app


async def own_things(request: web.Request) -> web.Response:
    """``GET /api/things``: the caller's own things (USERS' bearer tokens)."""
    who = USERS.get(request.headers.get("Authorization", ""))
    if who is None:
        return web.json_response({"error": "auth"}, status=401)
    return web.json_response({"items": [t for t in THINGS.values() if t["owner"] == who[0]]})


def api(*, bola: bool, tenant_query: bool) -> object:
    def build(recorder: Recorder) -> web.Application:
        routes = web.RouteTableDef()
        param = [{"name": "thing_ref", "in": "path", "required": True, "schema": {"type": "string"}},
                 {"name": "tenant", "in": "query", "required": False, "schema": {"type": "string"}}]
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}], "paths": {
            "/things": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/things/{thing_ref}": {"parameters": param, "get": {"responses": {"200": {"description": "ok"}}}}}}

        routes.get("/api/things")(own_things)

        @routes.get("/api/things/{ref}")
        async def one(request: web.Request) -> web.Response:
            who = USERS.get(request.headers.get("Authorization", ""))
            thing = THINGS.get(request.match_info["ref"])
            if who is None or thing is None:
                return web.json_response({"error": "nope"}, status=404)
            tenant = request.query.get("tenant", who[1]) if tenant_query else who[1]
            if thing["owner"] == who[0] or bola or thing["tenant"] == tenant:
                return web.json_response(thing)
            return web.json_response({"error": "nope"}, status=404)

        return _app(routes, spec)

    return build


def _run(tmp_path: Path, build: object, *, hosts: dict[str, str] | None = None, mode: str = "read-only",
         ) -> tuple[list[Cell], list[Finding]]:
    with serve(build) as target:  # type: ignore[arg-type]
        plan = tmp_path / "plan.yaml"
        vhosts = f", tenant_hosts: {json.dumps(hosts)}" if hosts else ""
        scope = json.dumps([target.hostport, *(hosts or {}).values()])
        plan.write_text(f"""
target: {{base_url: "{target.url}/api", openapi: "{target.url}/openapi.json"{vhosts}}}
scope: {{hosts: {scope}}}
safety: {{rate: 200, mode: {mode}}}
identities:
  - {{name: ana, tenant: alpha, sacrificial: true, auth: {{type: bearer, token: "tok-ana-0123456789"}}}}
  - {{name: ben, tenant: beta, auth: {{type: bearer, token: "tok-ben-0123456789"}}}}
""")
        loaded = load_plan(str(plan))
        cells: list[Cell] = []
        findings: list[Finding] = []
        asyncio.run(run_probe(loaded, Redactor(loaded.secrets), Sinks(cells.append, findings.append, lambda e: None)))
    return cells, findings


def _verdict(cells: list[Cell], check: str) -> str:
    return next(c.verdict.value for c in cells if c.check == check and c.relation.value == "other-tenant")


@pytest.mark.parametrize(("bola", "expected"), [(True, "leak"), (False, "enforced")])
def test_parameter_named_unlike_the_listed_id(tmp_path: Path, bola: bool, expected: str) -> None:
    cells, findings = _run(tmp_path, api(bola=bola, tenant_query=False))
    assert _verdict(cells, "api-bola-read") == expected
    assert bool(findings) is bola


@pytest.mark.parametrize(("flaw", "expected"), [(True, "leak"), (False, "enforced")])
def test_tenant_from_a_query_parameter(tmp_path: Path, flaw: bool, expected: str) -> None:
    cells, _ = _run(tmp_path, api(bola=False, tenant_query=flaw))
    assert _verdict(cells, "api-xbrand-token") == expected
    assert _verdict(cells, "api-bola-read") == "enforced"


def linked_api(*, bola: bool) -> object:
    """Devices named by ``serial_no`` in the listing, ``{handle}`` in the path: only an OpenAPI link says so."""

    def build(recorder: Recorder) -> web.Application:
        routes = web.RouteTableDef()
        devices = {"ana": {"serial_no": "SN-A-551207", "label": "ana-garage-9912"},
                   "ben": {"serial_no": "SN-B-770944", "label": "ben-carport-3318"}}
        feeds = {"handle": "$response.body#/items/0/serial_no"}
        link = {"GetDevice": {"operationId": "getDevice", "parameters": feeds}}
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}], "paths": {
            "/devices": {"get": {"responses": {"200": {"description": "ok", "links": link}}}},
            "/devices/{handle}": {"get": {"operationId": "getDevice", "parameters": [
                {"name": "handle", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok"}}}}}}

        @routes.get("/api/devices")
        async def listing(request: web.Request) -> web.Response:
            who = USERS.get(request.headers.get("Authorization", ""))
            return web.json_response({"items": [devices[who[0]]]}) if who else web.json_response({}, status=401)

        @routes.get("/api/devices/{handle}")
        async def one(request: web.Request) -> web.Response:
            who = USERS.get(request.headers.get("Authorization", ""))
            owner = next((u for u, d in devices.items() if d["serial_no"] == request.match_info["handle"]), None)
            if who is not None and owner is not None and (owner == who[0] or bola):
                return web.json_response(devices[owner])
            return web.json_response({"error": "nope"}, status=404)

        return _app(routes, spec)

    return build


@pytest.mark.parametrize(("bola", "expected"), [(True, "leak"), (False, "enforced")])
def test_openapi_link_names_the_field_that_feeds_a_parameter(tmp_path: Path, bola: bool, expected: str) -> None:
    cells, _ = _run(tmp_path, linked_api(bola=bola))
    assert _verdict(cells, "api-bola-read") == expected


VHOSTS = {"alpha": "alpha.fleet.test", "beta": "beta.fleet.test"}


def vhost_api(*, host_decides: bool) -> object:
    """Brands as virtual hosts; the flawed server takes the brand from Host instead of the token."""

    def build(recorder: Recorder) -> web.Application:
        routes = web.RouteTableDef()
        param = [{"name": "thing_ref", "in": "path", "required": True, "schema": {"type": "string"}}]
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}], "paths": {
            "/things": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/things/{thing_ref}": {"parameters": param, "get": {"responses": {"200": {"description": "ok"}}}}}}

        def caller(request: web.Request) -> tuple[str, str] | None:
            who = USERS.get(request.headers.get("Authorization", ""))
            brand = next((t for t, h in VHOSTS.items() if h == request.host), None)
            if who is None or brand is None or (not host_decides and brand != who[1]):
                return None  # a secure server refuses a token on another brand's host
            return who[0], brand

        @routes.get("/api/things")
        async def listing(request: web.Request) -> web.Response:
            who = caller(request)
            if who is None:
                return web.json_response({"error": "auth"}, status=401)
            return web.json_response({"items": [t for t in THINGS.values() if t["owner"] == who[0]]})

        @routes.get("/api/things/{ref}")
        async def one(request: web.Request) -> web.Response:
            who = caller(request)
            thing = THINGS.get(request.match_info["ref"])
            if who is None or thing is None or (thing["owner"] != who[0] and thing["tenant"] != who[1]):
                return web.json_response({"error": "nope"}, status=404)
            return web.json_response(thing)

        return _app(routes, spec)

    return build


@pytest.mark.parametrize(("flaw", "expected"), [(True, "leak"), (False, "enforced")])
def test_tenant_from_the_host_header(tmp_path: Path, flaw: bool, expected: str) -> None:
    cells, findings = _run(tmp_path, vhost_api(host_decides=flaw), hosts=VHOSTS)
    assert _verdict(cells, "api-xbrand-token") == expected
    assert _verdict(cells, "api-bola-read") == "enforced"
    assert [f.check for f in findings] == (["api-xbrand-token"] if flaw else [])
    if flaw:
        forged = findings[0].evidence[1].http
        assert forged is not None and forged.request_headers.get("Host") == VHOSTS["alpha"]


def notes_api(*, bola: bool, location: bool) -> object:
    """Notes on things: no operation lists them; only creating one reveals its id (Location or body)."""

    def build(recorder: Recorder) -> web.Application:
        routes = web.RouteTableDef()
        notes: dict[str, dict[str, str]] = {}
        thing = {"name": "thing_ref", "in": "path", "required": True, "schema": {"type": "string"}}
        note = {"name": "note_id", "in": "path", "required": True, "schema": {"type": "string"}}
        body = {"content": {"application/json": {"schema": {"type": "object", "required": ["text"],
                                                             "properties": {"text": {"type": "string"}}}}}}
        ok = {"200": {"description": "ok"}}
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}], "paths": {
            "/things": {"get": {"responses": ok}},
            "/things/{thing_ref}/notes": {"parameters": [thing], "post": {"requestBody": body,
                                                                          "responses": {"201": {"description": "c"}}}},
            "/things/{thing_ref}/notes/{note_id}": {"parameters": [thing, note], "get": {"responses": ok}}}}

        routes.get("/api/things")(own_things)

        @routes.post("/api/things/{ref}/notes")
        async def create(request: web.Request) -> web.Response:
            who = USERS.get(request.headers.get("Authorization", ""))
            parent = THINGS.get(request.match_info["ref"])
            if who is None or parent is None or parent["owner"] != who[0]:
                return web.json_response({"error": "nope"}, status=404)
            nid = f"n-{len(notes) + 1:04d}"
            notes[nid] = {"owner": who[0], "text": str((await request.json()).get("text", ""))}
            if location:
                return web.json_response({"ok": True}, status=201,
                                         headers={"Location": f"/api/things/{parent['id']}/notes/{nid}"})
            return web.json_response({"note": {"note_id": nid}}, status=201)

        @routes.get("/api/things/{ref}/notes/{nid}")
        async def one(request: web.Request) -> web.Response:
            who = USERS.get(request.headers.get("Authorization", ""))
            found = notes.get(request.match_info["nid"])
            if who is None or found is None or (found["owner"] != who[0] and not bola):
                return web.json_response({"error": "nope"}, status=404)
            return web.json_response(found)

        return _app(routes, spec)

    return build


@pytest.mark.parametrize("location", [True, False], ids=["location-header", "id-in-body"])
@pytest.mark.parametrize(("bola", "expected"), [(True, "leak"), (False, "enforced")])
def test_ids_only_a_create_reveals(tmp_path: Path, location: bool, bola: bool, expected: str) -> None:
    cells, findings = _run(tmp_path, notes_api(bola=bola, location=location), mode="safe-writes")
    note_read = [c for c in cells if c.check == "api-bola-read" and c.relation.value == "other-tenant"
                 and c.operation is not None and c.operation.path.endswith("{note_id}")]
    assert [c.verdict.value for c in note_read] == [expected]
    assert bool(findings) is bola


def test_read_only_mode_creates_nothing_and_says_why(tmp_path: Path) -> None:
    cells, _ = _run(tmp_path, notes_api(bola=True, location=True))
    note_read = [c for c in cells if c.operation is not None and c.operation.path.endswith("{note_id}")]
    assert note_read and {c.verdict.value for c in note_read} == {"not-tested"}
    assert all("note_id" in c.reason for c in note_read)


CUSTOMER_USERS = {"Bearer tok-a1-0123456789": ("a1", "alpha", "c1"), "Bearer tok-a2-0123456789": ("a2", "alpha", "c2"),
                  "Bearer tok-b1-0123456789": ("b1", "beta", "c1")}


def customer_api(*, legacy_a2: bool) -> object:
    """Customer ids repeat across brands and the check ignores the brand; a legacy record has no customer."""

    def build(recorder: Recorder) -> web.Application:
        routes = web.RouteTableDef()
        things = {"k-a1": {"id": "k-a1", "owner": "a1", "customer": "c1", "vin": "VIN-A1-558201"},
                  "k-a2": {"id": "k-a2", "owner": "a2", "customer": None if legacy_a2 else "c2", "vin": "VIN-A2-99420"},
                  "k-b1": {"id": "k-b1", "owner": "b1", "customer": "c1", "vin": "VIN-B1-31877"}}
        param = [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}]
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}], "paths": {
            "/things": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/things/{thing_id}": {"parameters": param, "get": {"responses": {"200": {"description": "ok"}}}}}}

        @routes.get("/api/things")
        async def listing(request: web.Request) -> web.Response:
            who = CUSTOMER_USERS.get(request.headers.get("Authorization", ""))
            if who is None:
                return web.json_response({"error": "auth"}, status=401)
            return web.json_response([t for t in things.values() if t["owner"] == who[0]])

        @routes.get("/api/things/{ref}")
        async def one(request: web.Request) -> web.Response:
            who = CUSTOMER_USERS.get(request.headers.get("Authorization", ""))
            thing = things.get(request.match_info["ref"])
            if who is None or thing is None or thing["customer"] not in (who[2], None):
                return web.json_response({"error": "nope"}, status=404)
            return web.json_response(thing)

        return _app(routes, spec)

    return build


@pytest.mark.parametrize("legacy", [True, False])
def test_second_pair_only_where_a_farther_class_leaks(tmp_path: Path, legacy: bool) -> None:
    """a2 -> a1 (same brand) is refused, b1 -> a1 (other brand, same customer id) leaks: that disagreement
    sends the next same-brand pair, a1 -> a2, which reaches the legacy record when there is one."""
    with serve(customer_api(legacy_a2=legacy)) as target:  # type: ignore[arg-type]
        plan = tmp_path / "plan.yaml"
        auth = "auth: {{type: bearer, token: tok-{}-0123456789}}"
        people = "".join(f"  - {{name: {n}, tenant: {t}, group: {g}, {auth.format(n)}}}\n"
                         for n, t, g in CUSTOMER_USERS.values())
        plan.write_text(f"""
target: {{base_url: "{target.url}/api", openapi: "{target.url}/openapi.json"}}
scope: {{hosts: ["{target.hostport}"]}}
safety: {{rate: 200}}
identities:
{people}""")
        loaded = load_plan(str(plan))
        cells: list[Cell] = []
        asyncio.run(run_probe(loaded, Redactor(loaded.secrets), Sinks(cells.append, lambda f: None, lambda e: None)))
    bola = {c.relation.value: c for c in cells if c.check == "api-bola-read"}
    assert bola["other-tenant"].verdict.value == "leak"
    same = bola["same-tenant"]
    if legacy:
        assert (same.verdict.value, same.attacker, same.victim) == ("leak", "a1", "a2")
        assert "pair 2 of this class leaked" in same.reason
    else:
        assert (same.verdict.value, same.attacker, same.victim) == ("enforced", "a2", "a1")
        assert "2 pairs of this class agree" in same.reason


def profile_api(*, settable: set[str]) -> object:
    """A profile whose PATCH schema offers only a nickname; ``settable`` protected fields are copied anyway."""

    def build(recorder: Recorder) -> web.Application:
        routes = web.RouteTableDef()
        people = {"Bearer tok-ana-0123456789": {"user_id": "u-ana-7781", "nickname": "ana", "customer_id": "c-1040",
                                                "is_admin": False},
                  "Bearer tok-ben-0123456789": {"user_id": "u-ben-3302", "nickname": "ben", "customer_id": "c-2290",
                                                "is_admin": False}}
        body = {"content": {"application/json": {"schema": {"type": "object",
                                                             "properties": {"nickname": {"type": "string"}}}}}}
        ok = {"200": {"description": "ok"}}
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}], "paths": {
            "/me": {"get": {"responses": ok}, "patch": {"requestBody": body, "responses": ok}}}}

        @routes.get("/api/me")
        async def me(request: web.Request) -> web.Response:
            who = people.get(request.headers.get("Authorization", ""))
            return web.json_response(who) if who else web.json_response({"error": "auth"}, status=401)

        @routes.patch("/api/me")
        async def update(request: web.Request) -> web.Response:
            who = people.get(request.headers.get("Authorization", ""))
            if who is None:
                return web.json_response({"error": "auth"}, status=401)
            for key, value in (await request.json()).items():
                if key == "nickname" or key in settable:
                    who[key] = value
            return web.json_response(who)

        return _app(routes, spec)

    return build


@pytest.mark.parametrize(("settable", "mode", "verdict", "fields"), [
    ({"is_admin"}, "safe-writes", "leak", "is_admin"),
    ({"customer_id"}, "safe-writes", "enforced", "intrusive mode only"),
    ({"customer_id"}, "intrusive", "leak", "customer_id"),
    (set(), "intrusive", "enforced", "customer_id"),
])
def test_mass_assignment_of_flags_and_tenant_fields(tmp_path: Path, settable: set[str], mode: str, verdict: str,
                                                     fields: str) -> None:
    cells, findings = _run(tmp_path, profile_api(settable=settable), mode=mode)
    cell = next(c for c in cells if c.check == "api-mass-assign")
    assert cell.verdict.value == verdict and fields in cell.reason
    if verdict == "leak":
        assert "restored" in cell.reason and "NOT" not in cell.reason
        assert [f.check for f in findings] == ["api-mass-assign"]
