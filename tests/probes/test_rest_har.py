"""The REST probe from a HAR capture and from a Postman collection, against the lab over real HTTPS.

The lab's scripted app session (``iotvet lab --record-har``) is recorded in-process, the lab's
plan gets ``target.har`` (or ``target.postman``, converted from the capture) instead of
``target.openapi``, and the run goes through ``run_probe``. Cells are reported by the inferred
templates; the test maps them to the spec's templates through the concrete paths the capture
holds. Every ground-truth cell whose operation the capture covers must be found, nothing outside
the ground truth, nothing on traps, and nothing at all with the flaws off; in three API shapes.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from iotvet.api.har import har_secrets, load_har
from iotvet.api.model import ApiModel
from iotvet.api.postman import load_postman, postman_secrets
from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.lab.rest.har import record_session
from iotvet.lab.runner import Lab, LabConfig, lab_in_thread, resolve_flaws
from iotvet.plan import load_plan
from iotvet.probes.run import RunOutcome, Sinks, run_probe

pytestmark = pytest.mark.timeout(120)

CHECKS = {"api-bola-read", "api-bola-write", "api-unauth", "api-bfla", "api-xtenant-admin", "api-mass-assign",
          "api-xbrand-token"}
SHAPES = (0, 3, 174)
FORMATS = ("har", "postman")
Key = tuple[str, str, str, str]
OpKey = tuple[str, str]
_DROP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "authorization"}


@dataclass
class Run:
    fmt: str
    model: ApiModel
    to_spec: dict[OpKey, OpKey]  # (method, inferred template) -> (method, spec template)
    truth: dict[str, Any]
    capture_secrets: list[str]
    plan_secrets: list[str]
    outcome: RunOutcome
    cells: list[Cell] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def spec(self, method: str, path: str) -> OpKey:
        return self.to_spec[(method, path)]

    def leaks(self) -> set[Key]:
        out = set()
        for c in self.cells:
            if c.verdict.value == "leak":
                assert c.operation is not None
                out.add((c.check, *self.spec(c.operation.method, c.operation.path), c.relation.value))
        return out

    def covered(self) -> set[OpKey]:
        return set(self.to_spec.values())


def _spec_ops(lab: Lab) -> list[tuple[str, str, re.Pattern[str]]]:
    """The spec's operations, literal routes before parameterised ones (``/vehicles/bind`` before ``{vin}``)."""
    ops = sorted(lab.shape.operations.values(), key=lambda o: (o.path.count("{"), o.path))
    return [(o.method, o.path, re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(o.path)) + "$"))
            for o in ops]


def _template_re(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


def map_templates(model: ApiModel, har: dict[str, Any], lab: Lab) -> dict[OpKey, OpKey]:
    """Each inferred operation to the spec operation, through the concrete paths of the capture."""
    spec = _spec_ops(lab)
    prefix = urlsplit(lab.base_url).path
    mapping: dict[OpKey, OpKey] = {}
    for entry in har["log"]["entries"]:
        method, url = entry["request"]["method"], entry["request"]["url"]
        rel = urlsplit(url).path[len(prefix):]
        inferred = [op.path for op in model.operations if op.method == method and _template_re(op.path).match(rel)]
        specs = [(m, p) for m, p, rx in spec if m == method and rx.match(rel)]
        assert inferred and specs, (method, rel)
        key = (method, inferred[0])
        assert mapping.setdefault(key, specs[0]) == specs[0], f"{key} maps to two spec operations"
    assert len(set(mapping.values())) == len(mapping), "two inferred operations map to one spec operation"
    return mapping


def har_to_postman(har: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A Postman v2.1 collection of the capture: folders by first path segment, ``{{baseUrl}}`` left to the
    environment, bearer tokens in auth blocks, JSON bodies in raw mode, answers as saved examples."""
    folders: dict[str, list[dict[str, Any]]] = {}
    for n, entry in enumerate(har["log"]["entries"]):
        req, resp = entry["request"], entry["response"]
        rel = req["url"][len(base_url):]
        path = urlsplit(rel).path.strip("/").split("/")
        headers = [{"key": h["name"], "value": h["value"]} for h in req["headers"]
                   if h["name"].lower() not in _DROP_HEADERS]
        request: dict[str, Any] = {
            "method": req["method"], "header": headers,
            "url": {"raw": "{{baseUrl}}" + rel, "host": ["{{baseUrl}}"], "path": path,
                    "query": [{"key": q["name"], "value": q["value"]} for q in req["queryString"]]}}
        if not request["url"]["query"]:
            del request["url"]["query"]
        auth = next((h["value"] for h in req["headers"] if h["name"].lower() == "authorization"), None)
        request["auth"] = ({"type": "bearer", "bearer": [{"key": "token", "value": auth.split(" ", 1)[1],
                                                           "type": "string"}]} if auth else {"type": "noauth"})
        if "postData" in req:
            request["body"] = {"mode": "raw", "raw": req["postData"]["text"],
                               "options": {"raw": {"language": "json"}}}
        item = {"name": f"{n:02d} {req['method']} /{'/'.join(path)}", "request": request,
                "response": [{"name": "recorded", "code": resp["status"], "body": resp["content"]["text"],
                              "header": [{"key": h["name"], "value": h["value"]} for h in resp["headers"]]}]}
        folders.setdefault(path[0], []).append(item)
    return {"info": {"name": "lab app (converted from HAR)", "_postman_id": "00000000-0000-4000-8000-000000000000",
                     "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
            "item": [{"name": name, "item": items} for name, items in folders.items()]}


def probe_capture(flaws: str, shape: int, fmt: str, tmp: Path) -> Run:
    with lab_in_thread(LabConfig(flaws=resolve_flaws(flaws), shape_seed=shape, mqtt="off", workdir=tmp)) as lab:
        har = asyncio.run(record_session(lab.base_url, lab.ca, lab.world))
        if fmt == "har":
            capture = tmp / "capture.har"
            capture.write_text(json.dumps(har, indent=2), encoding="utf-8")
            model, secrets = load_har(str(capture), lab.base_url), har_secrets(str(capture))
        else:
            capture = tmp / "capture.postman_collection.json"
            capture.write_text(json.dumps(har_to_postman(har, lab.base_url), indent=1), encoding="utf-8")
            model, secrets = load_postman(str(capture), lab.base_url), postman_secrets(str(capture))
        plan_path = tmp / "plan.yaml"
        lab.write_plan(plan_path)
        plan = yaml.safe_load(plan_path.read_text(encoding="utf-8"))
        del plan["target"]["openapi"]
        plan["target"][fmt] = capture.name  # relative: resolved against the plan's folder
        plan["safety"]["rate"] = 1000
        plan_path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
        loaded = load_plan(str(plan_path))
        run = Run(fmt, model, map_templates(model, har, lab), lab.ground_truth(), [v for _, v in secrets],
                  [v for _, v in loaded.secrets], RunOutcome())
        redactor = Redactor(loaded.secrets)
        sinks = Sinks(cell=run.cells.append, finding=run.findings.append, exchange=lambda _: None)
        run.outcome = asyncio.run(run_probe(loaded, redactor, sinks, run_id="r-har", only=CHECKS))
        for value in run.capture_secrets:
            assert redactor.text(value) != value or len(value) < 4  # the run's redactor learnt the capture's
    return run


def _truth(truth: dict[str, Any], section: str) -> set[Key]:
    out: set[Key] = set()
    for entry in truth[section]:
        for cell in entry["cells"]:
            if "operation" in cell and (section == "traps" or entry["check"] in CHECKS):
                op = cell["operation"]
                out.add((entry.get("check", "*"), op["method"], op["path"], cell["relation"]))
    return out


@pytest.fixture(scope="module", params=[(s, f) for s in SHAPES for f in FORMATS], ids=lambda p: f"{p[1]}-{p[0]}")
def case(request: pytest.FixtureRequest) -> tuple[int, str]:
    shape, fmt = request.param
    return int(shape), str(fmt)


@pytest.fixture(scope="module")
def run_all(case: tuple[int, str], tmp_path_factory: pytest.TempPathFactory) -> Run:
    shape, fmt = case
    return probe_capture("all", shape, fmt, tmp_path_factory.mktemp(f"all-{fmt}-{shape}"))


@pytest.fixture(scope="module")
def run_none(case: tuple[int, str], tmp_path_factory: pytest.TempPathFactory) -> Run:
    shape, fmt = case
    return probe_capture("none", shape, fmt, tmp_path_factory.mktemp(f"none-{fmt}-{shape}"))


def test_every_covered_ground_truth_cell_is_found(run_all: Run) -> None:
    assert run_all.outcome.incomplete == [] and run_all.outcome.rest is not None
    truth = _truth(run_all.truth, "flaws")
    covered = {k for k in truth if (k[1], k[2]) in run_all.covered()}
    # Tenant-header cells are masked (and absent from the ground truth) while cross-brand reads are open.
    assert len(covered) >= 18, "the capture covers the vehicle routes and a customer-admin function"
    assert covered - run_all.leaks() == set()
    assert run_all.leaks() - truth == set()  # no leak the lab did not plant
    found = {(f.check, *run_all.spec(f.operation.method, f.operation.path), f.relation.value)  # type: ignore[union-attr]
             for f in run_all.findings}
    assert found == run_all.leaks()


def test_no_finding_on_traps(run_all: Run) -> None:
    traps = {k[1:] for k in _truth(run_all.truth, "traps")}
    assert {k for k in run_all.leaks() if k[1:] in traps} == set()


def test_findings_hold_no_secret_of_the_plan_or_the_capture(run_all: Run) -> None:
    assert run_all.capture_secrets, "the capture's passwords and tokens are returned for the redactor"
    for finding in run_all.findings:
        text = finding.model_dump_json()
        assert [s for s in run_all.capture_secrets + run_all.plan_secrets if s in text] == []


def test_flaws_off_zero_findings(run_none: Run, run_all: Run) -> None:
    assert run_none.outcome.incomplete == []
    assert run_none.findings == []
    verdicts = {(c.check, *run_none.spec(c.operation.method, c.operation.path), c.relation.value): c.verdict.value
                for c in run_none.cells if c.operation is not None}
    for key in run_all.leaks():
        assert verdicts.get(key) == "enforced", key


def test_inferred_templates_name_the_spec_parameters(run_all: Run) -> None:
    """Parameters are named after the response field that carried the ids, so discovery can fill them."""
    def loose(path: str) -> str:  # customer_id == customerId
        return re.sub(r"[^a-z0-9{}/]", "", path.lower())

    for (method, inferred), (_, spec_path) in run_all.to_spec.items():
        assert loose(inferred) == loose(spec_path), (method, inferred, spec_path)
