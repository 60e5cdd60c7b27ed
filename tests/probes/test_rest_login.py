"""auth-user-enum and auth-no-throttle against the lab: the login cells leak exactly where the lab
planted them, nothing without the flaws, nothing is sent where the mode forbids it, and a
throttling login is reported with its figures and the state of the sacrificial account."""

from __future__ import annotations

import asyncio
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

ENUM, THROTTLE = "auth-user-enum", "auth-no-throttle"
LOGIN = {ENUM, THROTTLE}


@pytest.fixture(scope="module", params=(0, 3, 174))
def run_all(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    shape = int(request.param)
    return probe_lab("all", shape, tmp_path_factory.mktemp(f"login{shape}"), mode="intrusive", only=LOGIN)[0]


@pytest.fixture(scope="module")
def runs_none(tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    return probe_lab("none", 3, tmp_path_factory.mktemp("login-none"), runs=2, mode="intrusive", only=LOGIN)


def test_every_login_cell_leaks_with_a_finding_and_nothing_else(run_all: Run) -> None:
    want = truth_of(run_all.truth, LOGIN)
    assert {k[0] for k in want} == LOGIN
    assert leaks_of(run_all, LOGIN) == want
    assert findings_of(run_all, LOGIN) == want


def test_findings_carry_figures_and_no_secret(run_all: Run) -> None:
    for finding in run_all.findings:
        text = finding.model_dump_json()
        assert [s for s in run_all.secrets if s in text] == []
        assert finding.reproduction and finding.evidence[0].http is None
    throttle = next(f for f in run_all.findings if f.check == THROTTLE)
    assert "20 wrong passwords" in throttle.evidence[0].summary and "none throttled" in throttle.evidence[0].summary


def test_flaws_off_enforced_with_figures_and_the_same_twice(runs_none: list[Run]) -> None:
    first, second = runs_none
    assert first.findings == [] and second.findings == []
    assert {c.verdict.value for c in first.cells} == {"enforced"}
    assert first.verdicts() == second.verdicts()
    throttle = next(c for c in first.cells if c.check == THROTTLE)
    assert "failed login 6 of at most 20: HTTP 429" in throttle.reason  # the lab locks after 5 failures
    assert "may now be locked until" in throttle.reason and "current session still works" in throttle.reason
    enum = next(c for c in first.cells if c.check == ENUM)
    assert enum.victim != throttle.victim  # the lock does not spoil the enumeration comparison
    assert "indistinguishable" in enum.reason


def test_modes_that_forbid_it_send_nothing(tmp_path: Path) -> None:
    idle = probe_lab("all", 0, tmp_path / "idle", only=set())[0]
    safe = probe_lab("all", 0, tmp_path / "safe", only=LOGIN)[0]  # the lab plan's mode: safe-writes
    assert {(c.check, c.verdict.value) for c in safe.cells} == {(THROTTLE, "not-tested"), (ENUM, "not-tested")}
    assert all("intrusive mode only" in c.reason for c in safe.cells)
    assert safe.permits == idle.permits
    ro = probe_lab("all", 0, tmp_path / "ro", mode="read-only", only=LOGIN)[0]
    assert {(c.check, c.verdict.value) for c in ro.cells} == {(THROTTLE, "not-tested"), (ENUM, "not-tested")}
    assert ro.permits == probe_lab("all", 0, tmp_path / "idle-ro", mode="read-only", only=set())[0].permits


@pytest.mark.parametrize("flaw", ["login-user-enumeration", "login-no-throttle"])
def test_each_flaw_alone_gives_exactly_its_cells(flaw: str, tmp_path: Path) -> None:
    run = probe_lab(flaw, 3, tmp_path, mode="intrusive", only=LOGIN)[0]
    assert leaks_of(run, LOGIN) == truth_of(run.truth, LOGIN)
    assert len(truth_of(run.truth, LOGIN)) == 1


# -- a password reset flow, on a small API of our own ---------------------------------------------


def reset_api(*, leaks: bool) -> object:
    def build(recorder: Recorder) -> web.Application:
        ok = {"200": {"description": "ok"}}
        spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
            "/login": {"post": {"security": [], "responses": ok}},
            "/reset": {"post": {"security": [], "responses": ok}}, "/me": {"get": {"responses": ok}}}}

        async def openapi(request: web.Request) -> web.Response:
            return web.json_response(spec)

        async def login(request: web.Request) -> web.Response:
            body = await request.json()
            if body.get("username") == "sam.sample" and body.get("password") == "pw-1234567890":
                return web.json_response({"token": "tok-sam-0123456789"})
            return web.json_response({"error": "invalid username or password"}, status=401)

        async def reset(request: web.Request) -> web.Response:
            known = (await request.json()).get("email") == "sam.sample"
            if leaks and not known:
                return web.json_response({"error": "no account with this name"}, status=404)
            return web.json_response({"message": "if the account exists, a mail is on its way"})

        async def me(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != "Bearer tok-sam-0123456789":
                return web.json_response({"error": "auth"}, status=401)
            return web.json_response({"name": "sam.sample", "phone": "+44 7700 900123"})

        app = web.Application()
        app.router.add_get("/openapi.json", openapi)
        app.router.add_post("/api/login", login)
        app.router.add_post("/api/reset", reset)
        app.router.add_get("/api/me", me)
        return app

    return build


@pytest.mark.parametrize("leaks", [True, False])
def test_a_password_reset_flow_is_compared_too(tmp_path: Path, leaks: bool) -> None:
    with serve(reset_api(leaks=leaks)) as target:  # type: ignore[arg-type]
        plan = tmp_path / "plan.yaml"
        plan.write_text(f"""
target: {{base_url: "{target.url}/api", openapi: "{target.url}/openapi.json"}}
scope: {{hosts: ["{target.hostport}"]}}
safety: {{rate: 500, mode: intrusive}}
flows: {{password_reset: {{method: POST, path: /reset, json: {{email: "{{user}}"}}}}}}
identities:
  - name: sam
    tenant: t
    sacrificial: true
    auth: {{type: login, token: $.token, request: {{method: POST, path: /login,
            json: {{username: sam.sample, password: pw-1234567890}}}}}}
""")
        loaded = load_plan(str(plan))
        cells: list[Cell] = []
        findings: list[Finding] = []
        sinks = Sinks(cells.append, findings.append, lambda e: None)
        asyncio.run(run_probe(loaded, Redactor(loaded.secrets), sinks, only={ENUM}))
        bodies = [h for h in target.recorder.hits if h.path == "/api/reset"]
    assert {str(c.operation): c.verdict.value for c in cells} == {
        "POST /login": "enforced", "POST /reset": "leak" if leaks else "enforced"}
    assert len(findings) == int(leaks) and len(bodies) == (5 if leaks else 4)
