"""api-input-validation: the lab's trips crash is found on the identity's own vehicle by a value Schemathesis
drew, nothing without the flaw; the same seed sends the same inputs (in any process); generated cases carry
query and body values only, never a path id; reads only in read-only mode; an invalid body value that is
stored is a finding in intrusive mode, and the object is restored."""

from __future__ import annotations

import asyncio
import copy
import random
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web

from iotvet.api.model import ApiOperation, Param
from iotvet.checks import input_cases
from iotvet.checks.input_values import body_plan, read_plan
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
    assert "query " in summary and f"(Schemathesis negative mode, {input_cases.generator()})" in summary
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


# -- the cases Schemathesis draws: query and body values only, seeded ------------------------------

TRIPS = ApiOperation("GET", "/cars/{car_id}/trips", params=(
    Param("car_id", "path", True, {"type": "string"}),
    Param("X-Brand", "header", True, {"type": "string", "enum": ["a"]}),
    Param("since", "query", False, {"type": "string", "format": "date-time"}),
    Param("limit", "query", True, {"type": "integer", "minimum": 1, "maximum": 50}),
    Param("owner_id", "query", False, {"type": "integer"})))
UPDATE = ApiOperation("PATCH", "/cars/{car_id}", params=TRIPS.params[:1], body_schema={"type": "object", "properties": {
    "label": {"type": "string", "maxLength": 20}, "mode": {"type": "string", "enum": ["eco", "sport"]},
    "owner_id": {"type": "integer"}, "id": {"type": "string"}}})


def test_documents_and_cases_carry_query_or_body_values_only() -> None:
    doc = input_cases.document(TRIPS, query=("since", "limit"))
    spec = doc["paths"][input_cases.PATH]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in spec["parameters"]] == [("since", "query", False),
                                                                                  ("limit", "query", False)]
    for case in input_cases.draw(doc, "GET", 1, examples=20):
        assert not case.path_parameters and not case.cookies and "X-Brand" not in (case.headers or {})
        assert set(case.query) <= {"since", "limit"}
    body = input_cases.document(UPDATE, body=("label", "mode"))["paths"][input_cases.PATH]["patch"]
    schema = body["requestBody"]["content"]["application/json"]["schema"]
    assert "parameters" not in body and schema["additionalProperties"] is False and set(schema["properties"]) == {
        "label", "mode"}


def test_generated_values_are_seeded_and_negative() -> None:
    one = input_cases.query_pools(TRIPS, ("since", "limit"), 7, 12)
    assert one == input_cases.query_pools(TRIPS, ("since", "limit"), 7, 12)
    assert one != input_cases.query_pools(TRIPS, ("since", "limit"), 8, 12)
    assert all(one.values()) and all(isinstance(v, str) and why for pool in one.values() for v, why in pool)
    assert not any(v.isdigit() and 1 <= int(v) <= 50 for v, _ in one["limit"])  # never a valid limit
    bodies = input_cases.body_pools(UPDATE, ("label", "mode"), 7, 12)
    assert bodies == input_cases.body_pools(UPDATE, ("label", "mode"), 7, 12) and all(bodies.values())
    props = UPDATE.body_schema["properties"]  # type: ignore[index]
    assert all(input_cases.violates(v, props[name]) for name, pool in bodies.items() for v, _ in pool)


def test_plans_never_let_a_generator_choose_an_id() -> None:
    inputs, source = read_plan(TRIPS, {"car_id": "1005"}, random.Random("s0"))
    assert (inputs, source) == read_plan(TRIPS, {"car_id": "1005"}, random.Random("s0"))
    assert inputs != read_plan(TRIPS, {"car_id": "1005"}, random.Random("s1"))[0]
    assert source == f"Schemathesis negative mode, {input_cases.generator()}" and len(inputs) == 12
    assert {i.name for i in inputs} == {"car_id", "since", "limit", "owner_id"}
    assert all(str(i.value).startswith("1005") for i in inputs if i.where == "path")
    assert all(not str(i.value).lstrip("-").isdigit() for i in inputs if i.name == "owner_id")  # hand-made, no id
    assert all(i.why.startswith("violates") for i in inputs if i.name in ("since", "limit"))
    writes, _ = body_plan(UPDATE, random.Random("s0"))
    assert writes and {i.name for i in writes} == {"label", "mode"} and all(i.violates for i in writes)


def test_when_generation_fails_the_hand_written_values_go_and_the_cell_says_so(monkeypatch: pytest.MonkeyPatch,
                                                                               tmp_path: Path) -> None:
    def broken(*args: object, **kwargs: object) -> list[object]:
        raise input_cases.GenerationFailed("SkipTest: Impossible to generate negative test cases")

    monkeypatch.setattr(input_cases, "draw", broken)
    inputs, source = read_plan(TRIPS, {"car_id": "1005"}, random.Random("s0"))
    assert source.startswith("hand-written values: Schemathesis could not generate") and len(inputs) == 12
    assert {i.name for i in inputs} == {"car_id", "since", "limit", "owner_id"}
    assert not any(i.why.startswith("violates") for i in inputs)  # the hand-written reasons ("not a number", ...)
    cells, findings, _ = _probe(tmp_path, api(crash=True, store=False)[0], "mode: read-only")
    log = next(c for c in cells if str(c.operation) == "GET /things/{id}/log")
    assert log.verdict.value == "leak" and "hand-written values" in findings[0].evidence[0].summary


_ELSEWHERE = """
import iotvet.cli.app, iotvet.probes.run, iotvet.lab.runner  # other local modules than this process has
from tests.probes.test_rest_input import TRIPS
from iotvet.checks import input_cases
print(repr([input_cases.query_pools(TRIPS, ("since", "limit"), s, 12) for s in (0, 1, 2)]))
"""


def test_the_same_seed_draws_the_same_values_in_another_process() -> None:
    here = repr([input_cases.query_pools(TRIPS, ("since", "limit"), s, 12) for s in (0, 1, 2)])
    there = subprocess.run([sys.executable, "-c", _ELSEWHERE], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}, cwd=Path(__file__).parents[2])
    assert there.stdout.strip() == here


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
