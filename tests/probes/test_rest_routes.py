"""api-hidden-route: the lab's undocumented dump route is found and proven by private data; catch-all
pages, soft 404s and authentication walls give nothing; the mode and the plan key decide whether
any route is guessed at all (iotvet probe --discover-routes too)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from iotvet.cli import main
from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan
from iotvet.probes.run import Sinks, run_probe
from tests.probes.rest_once import findings_of, leaks_of, probe_lab, truth_of
from tests.probes.test_rest_lab import Run
from tests.servers import Recorder, serve

pytestmark = pytest.mark.timeout(60)

HIDDEN = "api-hidden-route"
TOKENS = {"Bearer tok-ana-0123456789": "ana", "Bearer tok-ben-0123456789": "ben"}
THINGS = {"ana": {"id": "th-5501", "serial": "SN-ALPHA-99812", "label": "ana-garage-9912"},
          "ben": {"id": "th-7702", "serial": "SN-BETA-44120", "label": "ben-carport-3318"}}
SPA = "<!doctype html><html><head><title>Fleet</title></head><body><div id=app></div><script src=/app.js></script>"


@pytest.fixture(scope="module", params=(0, 3, 174))
def run_all(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    shape = int(request.param)
    return probe_lab("all", shape, tmp_path_factory.mktemp(f"routes{shape}"), mode="intrusive", only={HIDDEN})[0]


def test_the_hidden_route_leaks_and_nothing_else(run_all: Run) -> None:
    want = truth_of(run_all.truth, {HIDDEN})
    assert len(want) == 1
    assert leaks_of(run_all, {HIDDEN}) == want == findings_of(run_all, {HIDDEN})
    finding = run_all.findings[0]
    assert finding.victim != "ops.platform"  # attributed to a tenant's identity, not the operator who sees all
    http = finding.evidence[1].http
    assert http is not None and http.response_body and len(http.response_body) <= 2048 and http.truncated
    assert [s for s in run_all.secrets if s in finding.model_dump_json()] == []


def test_flaws_off_one_enforced_summary_cell_twice(tmp_path: Path) -> None:
    first, second = probe_lab("none", 3, tmp_path, runs=2, mode="intrusive", only={HIDDEN})
    assert first.findings == [] == second.findings
    assert [(c.operation.path, c.verdict.value) for c in first.cells if c.operation] == [("/*", "enforced")]
    assert "candidate routes asked" in first.cells[0].reason and "0 exist" in first.cells[0].reason
    assert first.verdicts() == second.verdicts()


def test_safe_writes_sends_nothing(tmp_path: Path) -> None:
    idle = probe_lab("all", 0, tmp_path / "idle", only=set())[0]
    safe = probe_lab("all", 0, tmp_path / "safe", only={HIDDEN})[0]
    assert [(c.verdict.value, c.reason) for c in safe.cells] == [
        ("not-tested", "route discovery runs only in intrusive mode or with safety.discover_routes "
                       "(iotvet probe --discover-routes)")]
    assert safe.permits == idle.permits


def test_the_flaw_alone_gives_exactly_its_cell(tmp_path: Path) -> None:
    run = probe_lab("hidden-debug-route", 3, tmp_path, mode="intrusive", only={HIDDEN})[0]
    assert leaks_of(run, {HIDDEN}) == truth_of(run.truth, {HIDDEN})


# -- a small API of our own: catch-alls, soft 404s, an authentication wall --------------------------


def api(*, catch_all: str | None = None, hidden: str | None = None, wall: bool = False) -> object:
    def build(recorder: Recorder) -> web.Application:
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "security": [{"b": []}],
                "paths": {"/things": {"get": {"responses": {"200": {"description": "ok"}}}}}}

        async def openapi(request: web.Request) -> web.Response:
            return web.json_response(spec)

        async def listing(request: web.Request) -> web.Response:
            who = TOKENS.get(request.headers.get("Authorization", ""))
            return web.json_response([THINGS[who]]) if who else web.json_response({"error": "auth"}, status=401)

        async def dump(request: web.Request) -> web.Response:
            if wall and request.headers.get("Authorization") not in TOKENS:
                return web.json_response({"error": "auth"}, status=401)
            return web.json_response({"things": list(THINGS.values())})

        async def anything(request: web.Request) -> web.Response:
            if wall and request.headers.get("Authorization") not in TOKENS:
                return web.json_response({"error": "auth"}, status=401)
            if catch_all == "spa":
                return web.Response(text=SPA, content_type="text/html")
            if catch_all == "soft404":
                return web.json_response({"ok": False, "error": f"no route {request.path}"})
            return web.json_response({"error": "not found"}, status=404)

        app = web.Application()
        app.router.add_get("/openapi.json", openapi)
        app.router.add_get("/api/things", listing)
        if hidden:
            app.router.add_get("/api" + hidden, dump)
        app.router.add_get("/{tail:.*}", anything)
        return app

    return build


def _plan(tmp_path: Path, url: str, hostport: str, safety: str) -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""
target: {{base_url: "{url}/api", openapi: "{url}/openapi.json"}}
scope: {{hosts: ["{hostport}"]}}
safety: {{rate: 500, {safety}}}
identities:
  - {{name: ana, tenant: alpha, sacrificial: true, auth: {{type: bearer, token: "tok-ana-0123456789"}}}}
  - {{name: ben, tenant: beta, auth: {{type: bearer, token: "tok-ben-0123456789"}}}}
""")
    return plan


def _probe(tmp_path: Path, build: object) -> tuple[list[Cell], list[Finding], list[str]]:
    with serve(build) as target:  # type: ignore[arg-type]
        loaded = load_plan(str(_plan(tmp_path, target.url, target.hostport, "mode: read-only, discover_routes: true")))
        cells: list[Cell] = []
        findings: list[Finding] = []
        sinks = Sinks(cells.append, findings.append, lambda e: None)
        asyncio.run(run_probe(loaded, Redactor(loaded.secrets), sinks, only={HIDDEN}))
        return cells, findings, target.recorder.paths()


@pytest.mark.parametrize("kind", ["spa", "soft404"])
def test_catch_all_pages_and_soft_404s_give_nothing(tmp_path: Path, kind: str) -> None:
    cells, findings, paths = _probe(tmp_path, api(catch_all=kind))
    assert findings == []
    assert [(c.operation.path, c.verdict.value) for c in cells if c.operation] == [("/*", "enforced")]
    assert "0 exist" in cells[0].reason
    assert len([p for p in paths if p.startswith("/api/")]) > 100  # the plan key turned discovery on
    assert {p for p in paths if p.startswith("/api/iotvet-")}  # the random baseline routes


@pytest.mark.parametrize("kind", ["spa", None])
def test_a_real_route_behind_a_catch_all_is_found(tmp_path: Path, kind: str | None) -> None:
    cells, findings, _ = _probe(tmp_path, api(catch_all=kind, hidden="/internal/things"))
    assert [(c.operation.path, c.relation.value, c.verdict.value) for c in cells if c.operation] == [
        ("/internal/things", "anonymous", "leak")]
    assert [f.victim for f in findings] == ["ana"]


def test_behind_an_authentication_wall_one_identity_asks(tmp_path: Path) -> None:
    cells, findings, _ = _probe(tmp_path, api(hidden="/debug/things", wall=True))
    leaks = [(c.operation.path, c.relation.value, c.attacker, c.victim) for c in cells
             if c.operation and c.verdict.value == "leak"]
    assert leaks == [("/debug/things", "other-tenant", "ben", "ana")]  # ben is not sacrificial: ben asks
    assert len(findings) == 1


def test_the_cli_flag_turns_discovery_on(tmp_path: Path) -> None:
    with serve(api(hidden="/internal/things")) as target:  # type: ignore[arg-type]
        plan = _plan(tmp_path, target.url, target.hostport, "mode: read-only")
        base = ["probe", str(plan), "--checks", HIDDEN, "-q", "--fail-on", "none"]
        assert main([*base, "--db", str(tmp_path / "off.db")]) == 0
        assert "/api/internal/things" not in target.recorder.paths()
        assert main([*base, "--db", str(tmp_path / "on.db"), "--discover-routes"]) == 0
        assert "/api/internal/things" in target.recorder.paths()
