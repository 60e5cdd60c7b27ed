"""api-input-validation: the lab's trips crash is found on the identity's own vehicle, nothing without
the flaw; the same seed sends the same inputs; reads only in read-only mode; an invalid body value
that is stored is a finding in intrusive mode, and the object is restored."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web

from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan
from iotvet.probes.run import Sinks, run_probe
from tests.probes.rest_once import findings_of, leaks_of, probe_lab, truth_of
from tests.probes.test_rest_lab import Run
from tests.servers import Recorder, serve

pytestmark = pytest.mark.timeout(60)

INPUT = "api-input-validation"


@pytest.fixture(scope="module", params=(0, 3, 174))
def run_all(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    shape = int(request.param)
    return probe_lab("all", shape, tmp_path_factory.mktemp(f"input{shape}"), only={INPUT})[0]


def test_the_trips_crash_leaks_and_nothing_else(run_all: Run) -> None:
    want = truth_of(run_all.truth, {INPUT})
    assert len(want) == 1
    assert leaks_of(run_all, {INPUT}) == want == findings_of(run_all, {INPUT})
    finding = run_all.findings[0]
    summary = finding.evidence[0].summary
    assert "safety.seed 0" in summary and "HTTP 500, twice" in summary and "answered HTTP 200 before" in summary
    assert finding.attacker == finding.victim  # its own vehicle
    assert [s for s in run_all.secrets if s in finding.model_dump_json()] == []


def test_flaws_off_no_finding_decided_and_the_same_twice(tmp_path: Path) -> None:
    first, second = probe_lab("none", 3, tmp_path, runs=2, mode="intrusive", only={INPUT})
    assert first.findings == [] == second.findings
    assert "inconclusive" not in {c.verdict.value for c in first.cells}
    assert {c.operation.method for c in first.cells if c.verdict.value == "enforced" and c.operation} == {
        "GET", "PATCH"}  # reads and, in intrusive mode, body mutations
    assert first.verdicts() == second.verdicts()


def test_the_flaw_alone_gives_exactly_its_cell(tmp_path: Path) -> None:
    run = probe_lab("trips-date-crash", 3, tmp_path, only={INPUT})[0]
    assert leaks_of(run, {INPUT}) == truth_of(run.truth, {INPUT})


# -- a small API of our own: what was sent, with which seed and mode --------------------------------

TOKEN = "tok-ana-0123456789"
OWN = {"id": "th-5501", "label": "garage-9912", "mode": "eco", "serial": "SN-ALPHA-99812"}


def api(*, crash: bool, store: bool) -> tuple[object, dict[str, dict[str, str]]]:
    things = {"th-5501": copy.deepcopy(OWN)}

    def build(recorder: Recorder) -> web.Application:
        thing = {"type": "object", "properties": {"label": {"type": "string", "maxLength": 20},
                                                  "mode": {"type": "string", "enum": ["eco", "sport"]}}}
        one = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
        log = [*one, {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
               {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}}]
        ok = {"200": {"description": "ok"}}
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}], "paths": {
            "/things": {"get": {"responses": ok}},
            "/things/{id}": {"get": {"parameters": one, "responses": ok}, "patch": {
                "parameters": one, "responses": ok,
                "requestBody": {"content": {"application/json": {"schema": thing}}}}},
            "/things/{id}/log": {"get": {"parameters": log, "responses": ok}}}}

        def mine(request: web.Request) -> dict[str, str]:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                raise web.HTTPUnauthorized()
            if request.match_info.get("id", "th-5501") not in things:
                raise web.HTTPNotFound()
            return things["th-5501"]

        async def openapi(request: web.Request) -> web.Response:
            return web.json_response(spec)

        async def listing(request: web.Request) -> web.Response:
            return web.json_response([mine(request)])

        async def get(request: web.Request) -> web.Response:
            return web.json_response(mine(request))

        async def patch(request: web.Request) -> web.Response:
            item, body = mine(request), await request.json()
            for key, value in body.items():
                valid = (key == "label" and isinstance(value, str) and len(value) <= 20) or value in ("eco", "sport")
                if not (valid or store):
                    return web.json_response({"error": "invalid"}, status=422)
                item[key] = value
            return web.json_response(item)

        async def entries(request: web.Request) -> web.Response:
            mine(request)
            since, limit = request.query.get("since"), request.query.get("limit", "10")
            if crash:
                datetime.fromisoformat(since or "2024-01-01T00:00:00+00:00")
                int(limit)
            elif not limit.isdigit():
                return web.json_response({"error": "limit"}, status=400)
            return web.json_response([{"at": "2024-01-01T00:00:00Z", "what": "parked"}])

        app = web.Application()
        app.router.add_get("/openapi.json", openapi)
        app.router.add_get("/api/things", listing)
        app.router.add_get("/api/things/{id}", get)
        app.router.add_patch("/api/things/{id}", patch)
        app.router.add_get("/api/things/{id}/log", entries)
        return app

    return build, things


def _probe(tmp_path: Path, build: object, safety: str) -> tuple[list[Cell], list[Finding], list[tuple[str, str]]]:
    with serve(build) as target:  # type: ignore[arg-type]
        tmp_path.mkdir(parents=True, exist_ok=True)
        plan = tmp_path / "plan.yaml"
        plan.write_text(f"""
target: {{base_url: "{target.url}/api", openapi: "{target.url}/openapi.json"}}
scope: {{hosts: ["{target.hostport}"]}}
safety: {{rate: 500, {safety}}}
identities:
  - {{name: ana, tenant: alpha, devices: [th-5501], auth: {{type: bearer, token: "{TOKEN}"}}}}
""")
        loaded = load_plan(str(plan))
        cells: list[Cell] = []
        findings: list[Finding] = []
        asyncio.run(run_probe(loaded, Redactor(loaded.secrets), Sinks(cells.append, findings.append, lambda e: None),
                              only={INPUT}))
        sent = [(h.method, f"{h.path}?{h.query}") for h in target.recorder.hits if h.path != "/openapi.json"]
        return cells, findings, sent


def _verdicts(cells: list[Cell]) -> dict[str, str]:
    return {str(c.operation): c.verdict.value for c in cells}


def test_the_same_seed_sends_the_same_inputs(tmp_path: Path) -> None:
    one = _probe(tmp_path / "a", api(crash=True, store=False)[0], "mode: read-only, seed: 0")
    two = _probe(tmp_path / "b", api(crash=True, store=False)[0], "mode: read-only, seed: 0")
    other = _probe(tmp_path / "c", api(crash=True, store=False)[0], "mode: read-only, seed: 5")
    assert one[2] == two[2] and _verdicts(one[0]) == _verdicts(two[0])
    assert other[2] != one[2]  # another seed, other inputs (the verdict may or may not differ)
    assert _verdicts(one[0])["GET /things/{id}/log"] == "leak"
    assert "safety.seed 0" in one[1][0].evidence[0].summary
    assert {m for m, _ in one[2]} == {"GET"}  # read-only: reads only
    assert all("th-5501" in p for m, p in one[2] if "/things/" in p)  # its own object, always


def test_flawless_reads_are_enforced(tmp_path: Path) -> None:
    cells, findings, _ = _probe(tmp_path, api(crash=False, store=False)[0], "mode: read-only")
    assert findings == []
    assert _verdicts(cells) == {"GET /things/{id}": "enforced", "GET /things/{id}/log": "enforced",
                                "PATCH /things/{id}": "not-tested"}


@pytest.mark.parametrize("store", [True, False])
def test_invalid_body_values_stored_are_a_finding_and_restored(tmp_path: Path, store: bool) -> None:
    build, things = api(crash=False, store=store)
    cells, findings, sent = _probe(tmp_path, build, "mode: intrusive")
    assert _verdicts(cells)["PATCH /things/{id}"] == ("leak" if store else "enforced")
    assert len(findings) == int(store)
    assert things["th-5501"] == OWN  # restored
    assert "PATCH" in {m for m, _ in sent}
    cells, _, sent = _probe(tmp_path / "safe", api(crash=False, store=store)[0], "mode: safe-writes")
    assert _verdicts(cells)["PATCH /things/{id}"] == "not-tested" and "PATCH" not in {m for m, _ in sent}
