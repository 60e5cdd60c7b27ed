"""HAR captures and Postman collections into the API model: scope of the input, path templates,
merged operations, inferred schemas and parameters, the secrets they hold, and malformed input as
ONE UserError naming file, line and field (never a traceback, whatever the input)."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotvet.api.har import har_secrets, load_har, parse_har, parse_har_secrets
from iotvet.api.infer import id_like, singular
from iotvet.api.model import ApiModel, ApiOperation
from iotvet.api.postman import load_postman, parse_postman, parse_postman_secrets, postman_secrets
from iotvet.core.errors import UserError
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan
from iotvet.probes.run import Sinks, local_description, run_probe

BASE = "https://api.example:8443/api/v2"
ORIGIN = "https://api.example:8443"
VIN = "WVWZZZ1JZ3W386752"
VIN2 = "WVWZZZ1JZ3W386999"
UUID = "24258e0b-49d9-44ab-adc2-4b9dea79d344"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2lnbmF0dXJlLW9mLWFuYQ"
COOKIE = "s3ss10n-cookie-value-0123456789"
FILE = "capture.har"


# -- builders ---------------------------------------------------------------------------------


def entry(method: str, url: str, *, headers: dict[str, str] | None = None, body: Any = None,
          status: int = 200, response: Any = None, query: list[tuple[str, str]] | None = None,
          cookies: list[tuple[str, str]] | None = None, response_cookies: list[tuple[str, str]] | None = None,
          form: str | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {"method": method, "url": url, "httpVersion": "HTTP/1.1",
                           "headers": [{"name": k, "value": v} for k, v in (headers or {}).items()],
                           "queryString": [{"name": k, "value": v} for k, v in (query or [])],
                           "cookies": [{"name": k, "value": v} for k, v in (cookies or [])],
                           "headersSize": -1, "bodySize": 0}
    if body is not None:
        req["postData"] = {"mimeType": "application/json", "text": json.dumps(body)}
    if form is not None:
        req["postData"] = {"mimeType": "application/x-www-form-urlencoded", "text": form}
    text = "" if response is None else json.dumps(response)
    return {"startedDateTime": "2025-01-01T00:00:00Z", "time": 1, "request": req,
            "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [],
                         "cookies": [{"name": k, "value": v} for k, v in (response_cookies or [])],
                         "content": {"size": len(text), "mimeType": "application/json", "text": text},
                         "redirectURL": "", "headersSize": -1, "bodySize": len(text)},
            "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}


def har(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": list(entries)}}


def model_of(*entries: dict[str, Any], base: str = BASE) -> ApiModel:
    return parse_har(json.dumps(har(*entries), indent=2), FILE, base)


def paths(model: ApiModel) -> list[str]:
    return [op.key for op in model.operations]


AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Brand": "nordvik"}


def app_session() -> list[dict[str, Any]]:
    """A small app session: listing, details, a command, a customer function."""
    cars = [{"vin": VIN, "nickname": "", "customer_id": "c-1001"},
            {"vin": VIN2, "nickname": "", "customer_id": "c-1001"}]
    return [
        entry("GET", f"{BASE}/status", response={"status": "ok"}),
        entry("POST", f"{BASE}/auth/login", body={"username": "ana", "password": "pw-ana-123"},
              response={"access_token": TOKEN}),
        entry("GET", f"{BASE}/me", headers=AUTH, response={"user_id": "u-1001", "customer_id": "c-1001"}),
        entry("GET", f"{BASE}/vehicles?limit=5", headers=AUTH, query=[("limit", "5")], response=cars),
        entry("GET", f"{BASE}/vehicles/{VIN}", headers=AUTH, response=cars[0]),
        entry("GET", f"{BASE}/vehicles/{VIN2}", headers=AUTH, response=cars[1]),
        entry("GET", f"{BASE}/vehicles/{VIN}/location", headers=AUTH, response={"vin": VIN, "lat": 59.3}),
        entry("POST", f"{BASE}/vehicles/{VIN}/commands", headers=AUTH, status=202,
              body={"command": "ping", "args": {"nonce": "n-1"}}),
        entry("POST", f"{BASE}/vehicles/{VIN2}/commands", headers=AUTH, status=202,
              body={"command": "lock", "args": {}}),
        entry("GET", f"{BASE}/customers/c-1001/users", headers=AUTH, response=[{"user_id": "u-1001"}]),
        entry("GET", "https://evil.example/api/v2/vehicles", headers=AUTH),
    ]


# -- scope of the input -----------------------------------------------------------------------


def test_only_requests_under_the_base_url_are_kept_and_the_base_path_is_stripped() -> None:
    model = model_of(
        entry("GET", f"{BASE}/me"),
        entry("GET", f"{BASE}/"),
        entry("GET", "https://other.example:8443/api/v2/other"),
        entry("GET", "https://api.example/api/v2/wrong-port"),
        entry("GET", "http://api.example:8443/api/v2/wrong-scheme"),
        entry("GET", f"{ORIGIN}/api/v20/not-under-the-prefix"),
        entry("GET", f"{ORIGIN}/outside"),
        entry("GET", "not a url"),
        entry("OPTIONS", f"{BASE}/me"),  # CORS preflight
        entry("GET", "HTTPS://API.EXAMPLE:8443/api/v2/upper"),
    )
    assert paths(model) == ["GET /me", "GET /", "GET /upper"]


def test_default_ports_match() -> None:
    model = model_of(entry("GET", "https://api.example:443/v1/a"), entry("GET", "https://api.example/v1/b"),
                     base="https://api.example/v1")
    assert paths(model) == ["GET /a", "GET /b"]


# -- path templates ---------------------------------------------------------------------------


@pytest.mark.parametrize("segment", [UUID, "1013", VIN, "deadbeef0123", "JBSWY3DPEHPK3PXP2A", "veh-1001",
                                     "AbCdEfGh0123456789xyZ", "ana@example.test", "2025-05-01"])
def test_id_like_segments(segment: str) -> None:
    assert id_like(segment)


@pytest.mark.parametrize("segment", ["v2", "me", "vehicles", "firmware", "api-v2", "internationalized",
                                     "oauth2", "bind", "location", "deadbeef"])
def test_route_words_are_not_ids(segment: str) -> None:
    assert not id_like(segment)


def test_singular() -> None:
    assert [singular(w) for w in ("vehicles", "categories", "boxes", "status", "address", "units", "data")] == [
        "vehicle", "category", "box", "status", "address", "unit", "data"]


def test_ids_become_parameters_named_after_the_response_field_that_carried_them() -> None:
    model = parse_har(json.dumps(har(*app_session())), FILE, BASE)
    assert paths(model) == [
        "GET /status", "POST /auth/login", "GET /me", "GET /vehicles", "GET /vehicles/{vin}",
        "GET /vehicles/{vin}/location", "POST /vehicles/{vin}/commands", "GET /customers/{customer_id}/users"]


def test_without_answers_parameters_are_named_after_the_collection() -> None:
    model = model_of(entry("GET", f"{BASE}/vehicles/{VIN}/shares/{UUID}"), entry("GET", f"{BASE}/categories/42"),
                     entry("GET", f"{BASE}/{UUID}"))
    assert paths(model) == ["GET /vehicles/{vehicle_id}/shares/{share_id}", "GET /categories/{category_id}",
                            "GET /{id}"]


def test_a_name_used_twice_in_one_template_is_made_unique() -> None:
    model = model_of(entry("GET", f"{BASE}/vehicles/1001/shares/2002", response={"id": "2002", "x": "1001"}),
                     entry("GET", f"{BASE}/vehicles/1001", response={"id": "1001"}))
    assert paths(model) == ["GET /vehicles/{id}/shares/{share_id}", "GET /vehicles/{id}"]


def test_varying_literals_become_parameters_only_with_evidence() -> None:
    users = [{"username": "alice"}, {"username": "bobby"}]
    model = model_of(
        entry("GET", f"{BASE}/users", response=users),
        entry("GET", f"{BASE}/users/alice", response=users[0]),
        entry("GET", f"{BASE}/users/bobby", response=users[1]),
        entry("GET", f"{BASE}/users/me"),  # a route word, never a parameter
        entry("POST", f"{BASE}/vehicles/bind"),  # literal siblings without evidence stay literal
        entry("POST", f"{BASE}/vehicles/unbind"),
        entry("GET", f"{BASE}/devices/kitchen/status"),  # siblings sharing a further route
        entry("GET", f"{BASE}/devices/garage/status"),
        entry("GET", f"{BASE}/roles", response=[{"role": "admin"}]),
        entry("GET", f"{BASE}/roles/admin"),  # a value under a non-id field, no sibling under it: a route
        entry("GET", f"{BASE}/roles/list"),
        entry("GET", f"{BASE}/files/a%2Fb%7Bc%7D"),  # literals stay one segment, braces encoded
    )
    assert paths(model) == ["GET /users", "GET /users/{username}", "GET /users/me", "POST /vehicles/bind",
                            "POST /vehicles/unbind", "GET /devices/{device_id}/status", "GET /roles",
                            "GET /roles/admin", "GET /roles/list", "GET /files/a%2Fb%7Bc%7D"]
    assert op(model, "GET /files/a%2Fb%7Bc%7D").path_params == []


def test_inference_is_deterministic() -> None:
    text = json.dumps(har(*app_session()))
    first, second = parse_har(text, FILE, BASE), parse_har(text, FILE, BASE)
    assert first == second
    assert [(op.params, op.body_schema, op.responses) for op in first.operations] == [
        (op.params, op.body_schema, op.responses) for op in second.operations]


# -- operations: schemas, parameters, security -------------------------------------------------


def op(model: ApiModel, key: str) -> ApiOperation:
    found = next((o for o in model.operations if o.key == key), None)
    assert found is not None, (key, paths(model))
    return found


def test_json_body_schema_from_observed_bodies() -> None:
    model = model_of(
        entry("PATCH", f"{BASE}/me", body={"nickname": "x" * 80, "age": 3, "ratio": 1, "tags": ["a"], "meta": {"a": 1},
                                           "mode": "eco", "flag": True}),
        entry("PATCH", f"{BASE}/me", body={"nickname": "short", "ratio": 1.5, "mode": "sport", "flag": None}))
    schema = op(model, "PATCH /me").body_schema
    assert schema == {"type": "object", "required": ["nickname", "ratio", "mode", "flag"], "properties": {
        "nickname": {"type": "string", "maxLength": 80}, "age": {"type": "integer"}, "ratio": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 64}}, "meta": {"type": "object"},
        "mode": {"type": "string", "maxLength": 64}, "flag": {"type": "boolean"}}}
    assert op(model, "PATCH /me").body_media == "application/json"


def test_enums_only_for_commands_with_an_observed_no_op() -> None:
    model = model_of(*app_session(), entry("POST", f"{BASE}/doors", body={"action": "open"}))
    commands = op(model, "POST /vehicles/{vin}/commands").body_schema
    assert commands is not None
    assert commands["properties"]["command"] == {"type": "string", "maxLength": 64, "enum": ["ping", "lock"]}
    assert commands["properties"]["args"] == {"type": "object"}  # a free object: it can carry a canary
    doors = op(model, "POST /doors").body_schema
    assert doors is not None and "enum" not in doors["properties"]["action"]


def test_query_and_app_headers_but_never_credentials() -> None:
    model = model_of(entry("GET", f"{BASE}/vehicles?limit=5&api_key=k-0123456789&page=x", headers={
        "Authorization": f"Bearer {TOKEN}", "Cookie": f"sid={COOKIE}", "X-Brand": "nordvik", "X-Api-Key": "k1",
        "X-Session-Token": "abc", "User-Agent": "app", "Accept": "*/*", "X-Custom": TOKEN, "sec-ch-ua": "x",
        "X-Tenant-Id": "t1", ":authority": "api.example"}, query=None))
    listing = op(model, "GET /vehicles")
    assert [(p.name, p.location, p.schema) for p in listing.params] == [
        ("limit", "query", {"type": "integer"}), ("page", "query", {"type": "string"}),
        ("X-Brand", "header", {"type": "string"}), ("X-Tenant-Id", "header", {"type": "string"})]
    assert not any(p.required for p in listing.params)


def test_secured_means_the_requests_carried_credentials() -> None:
    model = model_of(
        entry("GET", f"{BASE}/a", headers={"Authorization": "Basic dXNlcjpwdw=="}),
        entry("GET", f"{BASE}/b", cookies=[("sid", COOKIE)]),
        entry("GET", f"{BASE}/c", headers={"X-Api-Key": "k-0123456789"}),
        entry("GET", f"{BASE}/d?access_token=abc", query=[("access_token", "abc")]),
        entry("GET", f"{BASE}/e"),
        entry("GET", f"{BASE}/f", headers={"Authorization": "Bearer x"}),
        entry("GET", f"{BASE}/f"),  # answered 200 without credentials: public
        entry("GET", f"{BASE}/g", headers={"Authorization": "Bearer x"}),
        entry("GET", f"{BASE}/g", status=401),
    )
    assert {o.path: o.secured for o in model.operations} == {
        "/a": True, "/b": True, "/c": True, "/d": True, "/e": False, "/f": False, "/g": True}


def test_urlencoded_bodies_and_base64_answers() -> None:
    e = entry("POST", f"{BASE}/oauth/token", form="grant_type=password&username=ana&password=pw-123")
    e2 = entry("GET", f"{BASE}/things/{UUID}")
    e2["response"]["content"] = {"mimeType": "application/json", "encoding": "base64",
                                 "text": base64.b64encode(json.dumps({"thing_id": UUID}).encode()).decode()}
    model = model_of(e, e2)
    token = op(model, "POST /oauth/token")
    assert token.body_media == "application/x-www-form-urlencoded"
    assert set((token.body_schema or {})["properties"]) == {"grant_type", "username", "password"}
    assert paths(model)[1] == "GET /things/{thing_id}"
    assert op(model, "GET /things/{thing_id}").responses == {
        "200": {"type": "object", "properties": {"thing_id": {"type": "string", "maxLength": 64}},
                "required": ["thing_id"]}}


# -- secrets ----------------------------------------------------------------------------------


def test_har_secrets_tokens_cookies_passwords() -> None:
    basic = base64.b64encode(b"ana:basic-pw-1").decode()
    doc = har(
        entry("POST", f"{BASE}/auth/login", body={"username": "ana", "password": "pw-ana-123"},
              response={"access_token": TOKEN, "refresh_token": "rt-0123456789", "expires_in": 3600},
              response_cookies=[("session", COOKIE), ("lang", "en")]),
        entry("GET", f"{BASE}/me", headers={"Authorization": f"Basic {basic}", "Cookie": f"sid={COOKIE}x; lang=en",
                                            "X-Brand": "nordvik"}, cookies=[("csrftoken", "csrf-0123456789")]),
        entry("GET", "https://elsewhere.example/x?api_key=third-party-key-1", query=[("api_key", "third-party-key-1")]),
        entry("POST", f"{BASE}/oauth/token", form="grant_type=password&client_secret=cs-0123456789&password=p"),
    )
    found = dict((v, label) for label, v in parse_har_secrets(json.dumps(doc), FILE))
    assert set(found) == {"pw-ana-123", TOKEN, "rt-0123456789", COOKIE, f"Basic {basic}", basic, "basic-pw-1",
                          COOKIE + "x", "csrf-0123456789", "third-party-key-1", "cs-0123456789", "p"}
    assert not any(TOKEN in label or "pw-ana" in label for label in found.values())
    redactor = Redactor(parse_har_secrets(json.dumps(doc), FILE))
    assert TOKEN not in redactor.text(f"curl -H 'Authorization: Bearer {TOKEN}'")
    assert "nordvik" in redactor.text("X-Brand: nordvik")


def test_har_files_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "cap.har"
    path.write_text(json.dumps(har(*app_session())), encoding="utf-8")
    assert paths(load_har(str(path), BASE))[0] == "GET /status"
    assert ("har.response.body.accesstoken", TOKEN) in har_secrets(str(path))


# -- Postman ----------------------------------------------------------------------------------


def collection(items: list[Any], **extra: Any) -> dict[str, Any]:
    return {"info": {"name": "app", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
            "item": items, **extra}


def pm(method: str, url: Any, **request: Any) -> dict[str, Any]:
    return {"name": f"{method} {url}", "request": {"method": method, "url": url, **request}}


def test_postman_folders_variables_and_templates() -> None:
    col = collection([
        {"name": "vehicles", "item": [
            pm("GET", "{{baseUrl}}/vehicles?limit={{limit}}"),
            pm("GET", "{{baseUrl}}/vehicles/{{vin}}"),  # unresolved: a parameter
            pm("GET", {"raw": "{{baseUrl}}/vehicles/:vin/location", "host": ["{{baseUrl}}"],
                       "path": ["vehicles", ":vin", "location"], "variable": [{"key": "vin", "value": VIN}]}),
            {"name": "deeper", "item": [pm("GET", "{{api}}/vehicles/" + VIN + "/trips")]},
        ]},
        pm("GET", {"protocol": "https", "host": ["api", "example"], "port": "8443", "path": ["api", "v2", "me"],
                   "query": [{"key": "x", "value": "1"}, {"key": "off", "value": "1", "disabled": True}]}),
        pm("GET", "{{host}}/api/v2/status"),  # an origin-only variable before the base path
        pm("GET", "https://other.example/api/v2/ignored"),
        {"name": "string request", "request": f"{BASE}/firmware"},
    ], variable=[{"key": "limit", "value": 5}, {"key": "api", "value": "{{origin}}/api/v2"},
                 {"key": "origin", "value": ORIGIN}])
    model = parse_postman(json.dumps(col), "app.postman_collection.json", BASE)
    assert paths(model) == ["GET /vehicles", "GET /vehicles/{vin}", "GET /vehicles/{vin}/location",
                            "GET /vehicles/{vin}/trips", "GET /me", "GET /status", "GET /firmware"]
    assert [(p.name, p.location) for p in op(model, "GET /vehicles").params] == [("limit", "query")]
    assert [(p.name, p.location) for p in op(model, "GET /me").params] == [("x", "query")]


def test_postman_bodies_auth_and_secrets() -> None:
    col = collection([
        pm("POST", "{{baseUrl}}/auth/login", body={"mode": "raw", "raw": '{"username": "ana", "password": "{{pw}}"}',
                                                   "options": {"raw": {"language": "json"}}}, auth={"type": "noauth"}),
        pm("POST", "{{baseUrl}}/vehicles/{{vin}}/commands",
           body={"mode": "raw", "raw": '{"command": "ping", "count": {{n}}}'}),
        pm("POST", "{{baseUrl}}/oauth/token", body={"mode": "urlencoded", "urlencoded": [
            {"key": "grant_type", "value": "client_credentials"}, {"key": "client_secret", "value": "{{cs}}"},
            {"key": "off", "value": "x", "disabled": True}]}),
        pm("POST", "{{baseUrl}}/upload", body={"mode": "formdata", "formdata": [
            {"key": "note", "value": "hello", "type": "text"}, {"key": "file", "src": "/tmp/x", "type": "file"}]}),
        pm("GET", "{{baseUrl}}/keyed", auth={"type": "apikey", "apikey": [
            {"key": "key", "value": "X-Api-Key"}, {"key": "value", "value": "ak-0123456789"},
            {"key": "in", "value": "header"}]}),
        pm("GET", "{{baseUrl}}/headers", header=[{"key": "X-Brand", "value": "nordvik"},
                                                 {"key": "X-Auth-Token", "value": "hdr-token-0123456789"},
                                                 {"key": "X-Off", "value": "1", "disabled": True}]),
    ], auth={"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
        variable=[{"key": "pw", "value": "pw-ana-123"}, {"key": "token", "value": TOKEN},
                  {"key": "cs", "value": "cs-0123456789"}, {"key": "n", "value": "1"},
                  {"key": "pin", "value": "1234", "type": "secret"}, {"key": "brand", "value": "nordvik"}])
    text = json.dumps(col)
    model = parse_postman(text, "c.json", BASE)
    login = op(model, "POST /auth/login")
    assert not login.secured and (login.body_schema or {})["properties"]["password"]["type"] == "string"
    command = op(model, "POST /vehicles/{vin}/commands")
    assert command.secured  # the collection's bearer auth is inherited
    assert (command.body_schema or {})["properties"]["command"]["enum"] == ["ping"]
    assert op(model, "POST /oauth/token").body_media == "application/x-www-form-urlencoded"
    assert set((op(model, "POST /oauth/token").body_schema or {})["properties"]) == {"grant_type", "client_secret"}
    assert op(model, "POST /upload").body_media == "multipart/form-data"
    assert [(p.name, p.location) for p in op(model, "GET /headers").params] == [("X-Brand", "header")]
    secrets = {v for _, v in parse_postman_secrets(text, "c.json")}
    assert secrets == {"pw-ana-123", TOKEN, "cs-0123456789", "1234", "ak-0123456789", "hdr-token-0123456789"}


def test_postman_saved_examples_name_parameters(tmp_path: Path) -> None:
    col = collection([
        {"name": "list", "request": {"method": "GET", "url": "{{baseUrl}}/assets"},
         "response": [{"name": "ok", "code": 200, "body": json.dumps([{"assetId": UUID}])}]},
        pm("GET", f"{{{{baseUrl}}}}/assets/{UUID}"),
    ])
    path = tmp_path / "c.json"
    path.write_text(json.dumps(col), encoding="utf-8")
    model = load_postman(str(path), BASE)
    assert paths(model) == ["GET /assets", "GET /assets/{assetId}"]
    assert op(model, "GET /assets").responses["200"] == {"type": "array", "items": {"type": "object"}}
    assert postman_secrets(str(path)) == []


def test_postman_v1_is_refused() -> None:
    col = {"info": {"schema": "https://schema.getpostman.com/json/collection/v1.0.0/collection.json"}, "item": []}
    with pytest.raises(UserError, match="v1 collections are not supported"):
        parse_postman(json.dumps(col, indent=2), "old.json", BASE)


# -- malformed input --------------------------------------------------------------------------


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def error(func: Any, text: str, file: str) -> UserError:
    with pytest.raises(UserError) as info:
        func(text, file, BASE)
    return info.value


def nth_line(text: str, needle: str, n: int = 0) -> int:
    """The line of the ``n``-th occurrence of ``needle``."""
    at = -1
    for _ in range(n + 1):
        at = text.index(needle, at + 1)
    return text[:at].count("\n") + 1


@pytest.mark.parametrize(("mutate", "where", "field", "message"), [
    (lambda d: d["log"]["entries"][1]["request"].pop("url"), lambda t: nth_line(t, '"request": {', 1),
     "log.entries[1].request", "missing url"),
    (lambda d: d["log"]["entries"][1]["request"].update(headers={"a": "b"}), lambda t: nth_line(t, '"headers": {'),
     "log.entries[1].request.headers", "must be a list"),
    (lambda d: d["log"]["entries"][1]["request"]["headers"].append({"value": "v-only"}),
     lambda t: nth_line(t, '"v-only"') - 1, "log.entries[1].request.headers[0]", "missing name"),
    (lambda d: d["log"]["entries"][1]["response"].update(status="two hundred"),
     lambda t: nth_line(t, '"two hundred"'), "log.entries[1].response.status", "HTTP status code"),
    (lambda d: d["log"]["entries"].append(7), lambda t: nth_line(t, "\n      7\n") + 1, "log.entries[2]",
     "an entry must be an object"),
    (lambda d: d["log"].update(entries={"x": 1}), lambda t: nth_line(t, '"entries": {'), "log.entries",
     "must be a list"),
])
def test_har_errors_name_file_line_and_field(mutate: Any, where: Any, field: str, message: str) -> None:
    doc = har(entry("GET", f"{BASE}/a"), entry("PUT", f"{BASE}/b"))
    mutate(doc)
    text = json.dumps(doc, indent=2)
    err = error(parse_har, text, FILE)
    assert err.source is not None and err.source.file == FILE and err.source.field == field
    assert err.source.line == where(text), str(err)
    assert message in err.message and "\n" not in str(err)


@pytest.mark.parametrize(("text", "line", "message"), [
    ('{"log": {\n  "entries": [\n    {,}\n  ]}}', 3, "not valid JSON"),
    ("", 1, "not valid JSON"),
    ("[1, 2]", 1, "a HAR file is a JSON object"),
    ('{"nolog": 1}', 1, "missing log"),
    ('{"a": ' * 100_000, None, "nests too deeply"),
])
def test_har_syntax_and_shape_errors(text: str, line: int | None, message: str) -> None:
    err = error(parse_har, text, FILE)
    assert err.source is not None and err.source.line == line and message in err.message


def test_postman_errors_name_file_line_and_field() -> None:
    col = collection([{"name": "folder", "item": [pm("GET", "{{baseUrl}}/a"), {"name": "empty"}]}])
    text = json.dumps(col, indent=2)
    err = error(parse_postman, text, "c.json")
    assert err.source is not None and err.source.field == "item[0].item[1]"
    assert err.source.line == line_of(text, '"name": "empty"') - 1
    col = collection([pm("GET", {"raw": "{{baseUrl}}/a", "query": "limit=5"})])
    text = json.dumps(col, indent=2)
    err = error(parse_postman, text, "c.json")
    assert err.source is not None and err.source.field == "item[0].request.url.query"
    assert err.source.line == line_of(text, '"limit=5"')


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_har(str(tmp_path / "missing.har"), BASE)
    with pytest.raises(UserError, match="directory"):
        load_postman(str(tmp_path), BASE)
    bad = tmp_path / "bad.har"
    bad.write_bytes(b'{"log": "\xff"}')
    with pytest.raises(UserError, match="not UTF-8"):
        har_secrets(str(bad))
    tabs = tmp_path / "tabs.har"
    tabs.write_text('{\n\t"log": {\n\t\t"entries": [\n\t\t\t{"request": {"method": "GET"}}\n\t\t]\n\t}\n}')
    with pytest.raises(UserError) as info:
        load_har(str(tabs), BASE)
    assert info.value.source is not None and info.value.source.line == 4  # tab-indented JSON still has lines


# -- the run: loader chosen by plan key, secrets taught to the redactor ------------------------


PLAN = """\
target:
  base_url: https://api.example:8443/api/v2
  {key}: {file}
scope:
  hosts: ["api.example:8443"]
identities:
  - name: ana
    tenant: t1
    auth: {{type: bearer, token: tok-ana-0123}}
"""


def test_the_run_reads_the_plan_s_har_or_collection_and_learns_its_secrets(tmp_path: Path) -> None:
    (tmp_path / "caps").mkdir()
    (tmp_path / "caps" / "app.har").write_text(json.dumps(har(*app_session())), encoding="utf-8")
    col = collection([pm("GET", "{{baseUrl}}/vehicles/{{vin}}")], variable=[{"key": "token", "value": TOKEN}])
    (tmp_path / "caps" / "app.json").write_text(json.dumps(col), encoding="utf-8")
    cases = (("har", "caps/app.har", "GET /status"), ("postman", "caps/app.json", "GET /vehicles/{vin}"))
    for key, file, first in cases:
        (tmp_path / "plan.yaml").write_text(PLAN.format(key=key, file=file), encoding="utf-8")
        loaded = load_plan(str(tmp_path / "plan.yaml"))
        redactor = Redactor(loaded.secrets)
        model = local_description(loaded, redactor)
        assert model is not None and paths(model)[0] == first
        assert TOKEN not in redactor.text(f"token {TOKEN}")


def test_a_malformed_capture_stops_the_run_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "app.har").write_text('{"log": {"entries": [{"request": {"url": "x"}}]}}', encoding="utf-8")
    (tmp_path / "plan.yaml").write_text(PLAN.format(key="har", file="app.har"), encoding="utf-8")
    loaded = load_plan(str(tmp_path / "plan.yaml"))
    sent: list[object] = []
    sinks = Sinks(cell=sent.append, finding=sent.append, exchange=sent.append)
    with pytest.raises(UserError, match=r"app.har:1: log.entries\[0\].request: missing method"):
        asyncio.run(run_probe(loaded, Redactor(loaded.secrets), sinks))
    assert sent == []


# -- property: anything else is a UserError ----------------------------------------------------

KEYS = ["log", "entries", "request", "response", "method", "url", "headers", "queryString", "cookies", "postData",
        "mimeType", "text", "params", "name", "value", "status", "content", "encoding", "info", "schema", "item",
        "variable", "key", "raw", "host", "path", "query", "protocol", "port", "body", "mode", "urlencoded",
        "formdata", "auth", "type", "bearer", "apikey", "header", "disabled", "code", "options", "id", "noauth",
        "Authorization", "Cookie", "password", "token"]
SCALARS = (st.none() | st.booleans() | st.integers(-10**6, 10**20) | st.floats(allow_nan=False)
           | st.sampled_from(["GET", "POST", f"{BASE}/vehicles/{VIN}", "{{baseUrl}}/a/:id", "{{x}}", "base64",
                              "https://api.example:8443/api/v2/{{vin}}?a=b", "raw", "urlencoded", "bearer", "noauth",
                              "application/json", '{"command": "ping"}', "eyJhbGciOi", "", "apikey", "Bearer x y"])
           | st.text(max_size=12))
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5),
                       max_leaves=30)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(func: Any, text: str, file: str, *args: str) -> None:
    try:
        result = func(text, file, *args)
    except UserError as exc:
        assert str(exc).startswith(file) and "\n" not in str(exc)
        return
    if isinstance(result, ApiModel):
        for operation in result.operations:
            assert operation.path.startswith("/")
            operation.fill(dict.fromkeys(operation.path_params, "x"))
            assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", n) for n in operation.path_params), operation.path
    else:
        assert all(isinstance(label, str) and isinstance(value, str) for label, value in result)


def _all(text: str) -> None:
    _check(parse_har, text, "f.har", BASE)
    _check(parse_har_secrets, text, "f.har")
    _check(parse_postman, text, "f.json", BASE)
    _check(parse_postman_secrets, text, "f.json")


def _splice(doc: Any, draw: Any, value: Any) -> Any:
    """``doc`` with one randomly chosen node replaced by ``value``."""
    doc = copy.deepcopy(doc)
    node, steps = doc, draw(st.integers(0, 8))
    for _ in range(steps):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(
            node, list) else []
        if not children:
            break
        key, child = draw(st.sampled_from(children))
        if not isinstance(child, dict | list) or draw(st.booleans()):
            node[key] = value
            return doc
        node = child
    return value if node is doc else doc


SEED_HAR = har(*app_session()[:6])
SEED_COLLECTION = collection([{"name": "f", "item": [pm("POST", {"raw": "{{baseUrl}}/v/:id", "query": [
    {"key": "a", "value": "1"}]}, header=[{"key": "X-Brand", "value": "n"}], body={"mode": "raw", "raw": "{}"},
    auth={"type": "bearer", "bearer": [{"key": "token", "value": "{{t}}"}]})]}],
    variable=[{"key": "t", "value": TOKEN}])


@FUZZ
@given(JSONISH)
def test_random_json_is_a_model_or_one_user_error(doc: Any) -> None:
    _all(json.dumps(doc))


@FUZZ
@given(st.data(), JSONISH)
def test_mutated_captures_are_a_model_or_one_user_error(data: st.DataObject, value: Any) -> None:
    _all(json.dumps(_splice(SEED_HAR, data.draw, value)))
    _all(json.dumps(_splice(SEED_COLLECTION, data.draw, value)))


@FUZZ
@given(st.text(alphabet='{}[]":,\t\n 01aeEnul\\.-', max_size=60))
def test_json_looking_text_is_a_model_or_one_user_error(text: str) -> None:
    _all(text)
