"""API descriptions into operations: OpenAPI 3.0/3.1, Swagger 2.0, remote $refs only within scope."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from iotvet.api.fetch import transport_fetcher
from iotvet.api.openapi import load_openapi
from iotvet.core.errors import UserError
from iotvet.core.scope import Scope
from iotvet.transport import Governor, HttpTransport
from tests.servers import Recorder, serve

pytestmark = pytest.mark.timeout(60)

OPENAPI_31 = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "security": [{"bearer": []}],
    "paths": {
        "/vehicles": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Vehicle"}}}}}}}},
        "/vehicles/{vin}": {
            "parameters": [{"name": "vin", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "getVehicle", "responses": {"200": {"description": "ok"}}},
            "patch": {"requestBody": {"content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Vehicle"}}}}, "responses": {"204": {"description": "ok"}}},
        },
        "/firmware": {"get": {"security": [], "responses": {"200": {"description": "ok"}}}},
    },
    "components": {"schemas": {"Vehicle": {"type": "object", "properties": {
        "vin": {"type": "string"}, "next": {"$ref": "#/components/schemas/Vehicle"}}}}},
}

SWAGGER_20 = {
    "swagger": "2.0",
    "info": {"title": "s", "version": "1"},
    "paths": {
        "/users/{id}": {"put": {"parameters": [
            {"name": "id", "in": "path", "required": True, "type": "string"},
            {"name": "body", "in": "body", "schema": {"type": "object", "properties": {"role": {"type": "string"}}}},
        ], "security": [{"key": []}], "responses": {"200": {"description": "ok", "schema": {"type": "object"}}}}},
        "/login": {"post": {"parameters": [{"name": "user", "in": "formData", "type": "string"}],
                            "responses": {"200": {"description": "ok"}}}},
    },
}


async def _no_fetch(url: str) -> bytes:
    raise AssertionError(f"no fetch expected: {url}")


def test_openapi_31_operations_refs_and_security(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(OPENAPI_31))
    model = asyncio.run(load_openapi(str(spec), _no_fetch))
    assert [op.key for op in model.operations] == [
        "GET /vehicles", "GET /vehicles/{vin}", "PATCH /vehicles/{vin}", "GET /firmware"]
    get = model.find("GET", "/vehicles/{vin}")
    assert get is not None and get.path_params == ["vin"] and get.resource == "vehicles" and get.secured
    assert model.find("GET", "/firmware").secured is False  # type: ignore[union-attr]
    patch = model.find("PATCH", "/vehicles/{vin}")
    assert patch is not None and patch.body_schema is not None
    assert patch.body_schema["properties"]["next"] == {"x-iotvet-recursive": "#/components/schemas/Vehicle"}
    assert get.fill({"vin": "VI/1 2"}) == "/vehicles/VI%2F1%202"


def test_swagger_20_body_and_form_parameters(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    import yaml

    spec.write_text(yaml.safe_dump(SWAGGER_20))
    model = asyncio.run(load_openapi(str(spec), _no_fetch))
    put = model.find("PUT", "/users/{id}")
    assert put is not None and put.body_schema == {"type": "object", "properties": {"role": {"type": "string"}}}
    assert put.secured and put.responses["200"] == {"type": "object"}
    login = model.find("POST", "/login")
    assert login is not None and login.body_media == "application/x-www-form-urlencoded" and not login.secured


def test_bad_descriptions_name_file_and_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n        - in: query\n")
    with pytest.raises(UserError) as err:
        asyncio.run(load_openapi(str(spec), _no_fetch))
    assert err.value.source is not None and err.value.source.line == 6
    spec.write_text("info: {}\n")
    with pytest.raises(UserError, match="version key"):
        asyncio.run(load_openapi(str(spec), _no_fetch))
    spec.write_text("openapi: 3.0.0\npaths:\n  /a:\n    get:\n      responses:\n        '200': {$ref: '#/nope'}\n")
    with pytest.raises(UserError, match="does not resolve"):
        asyncio.run(load_openapi(str(spec), _no_fetch))


def _spec_app(documents: dict[str, object]) -> object:
    def build(recorder: Recorder) -> web.Application:
        app = web.Application()
        for name, doc in documents.items():

            async def handler(request: web.Request, d: object = doc) -> web.Response:
                return web.json_response(d)

            app.router.add_get(f"/{name}", handler)
        return app

    return build


def test_remote_refs_are_fetched_through_the_transport_within_scope() -> None:
    common = {"components": {"schemas": {"Id": {"type": "string", "pattern": "^[A-Z]+$"}}}}
    root = {"openapi": "3.0.3", "info": {"title": "r", "version": "1"}, "paths": {"/x/{id}": {"get": {
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"$ref": "common.json#/components/schemas/Id"}}],
        "responses": {"200": {"description": "ok"}}}}}}
    with serve(_spec_app({"openapi.json": root, "common.json": common})) as srv:  # type: ignore[arg-type]

        async def go() -> object:
            governor = Governor(rate=100, concurrency=2, max_requests=10, max_duration=30)
            async with HttpTransport(Scope([srv.hostport]), governor, run_id="r") as http:
                return await load_openapi(srv.url + "/openapi.json", transport_fetcher(http))

        model = asyncio.run(go())
        op = model.operations[0]  # type: ignore[attr-defined]
        assert op.params[0].schema == {"type": "string", "pattern": "^[A-Z]+$"}
        assert srv.recorder.paths() == ["/openapi.json", "/common.json"]


def test_remote_ref_outside_scope_is_refused_not_fetched() -> None:
    with serve(_spec_app({"common.json": {"x": 1}})) as outside:  # type: ignore[arg-type]
        root = {"openapi": "3.0.3", "info": {"title": "r", "version": "1"}, "paths": {"/x": {"get": {
            "responses": {"200": {"$ref": f"{outside.url}/common.json#/x"}}}}}}
        with serve(_spec_app({"openapi.json": root})) as srv:  # type: ignore[arg-type]

            async def go() -> object:
                governor = Governor(rate=100, concurrency=2, max_requests=10, max_duration=30)
                async with HttpTransport(Scope([srv.hostport]), governor, run_id="r") as http:
                    return await load_openapi(srv.url + "/openapi.json", transport_fetcher(http))

            with pytest.raises(UserError, match="out-of-scope"):
                asyncio.run(go())
        assert outside.recorder.hits == []
