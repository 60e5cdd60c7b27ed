"""The pure parts of the run-once REST checks: input generation, login helpers, route candidates."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from iotvet.api.model import ApiModel, ApiOperation, Param
from iotvet.checks.input_values import Input, interleave, path_values, query_values
from iotvet.checks.logins import find_login, fingerprint, random_names, slowed, throttle_sign
from iotvet.checks.rest_input import crashed, read_inputs
from iotvet.checks.rest_routes import absent, candidate_routes, leaked, singular, wordlist
from iotvet.core.errors import TargetError, TargetErrorKind
from iotvet.plan.schema import Identity
from iotvet.transport.http import Exchange, Request, Response


def view(status: int | None, body: Any = "", headers: tuple[tuple[str, str], ...] = (), *, parent: str | None = None,
         error: TargetErrorKind | None = None) -> Any:
    from iotvet.checks.rest_context import View

    raw = body if isinstance(body, str) else json.dumps(body)
    response = None if status is None else Response(status, "", headers, raw.encode(), False, "http://t/x")
    return View(Exchange("h1", Request("GET", "http://t/x"), 0.0, response=response, parent=parent,
                         error=TargetError(error, "x") if error else None))


# -- inputs ---------------------------------------------------------------------------------------


def test_inputs_are_seeded_and_stay_on_own_objects() -> None:
    op = ApiOperation("GET", "/cars/{car_id}/trips", params=(
        Param("car_id", "path", True, {"type": "string"}),
        Param("since", "query", False, {"type": "string", "format": "date-time"}),
        Param("limit", "query", False, {"type": "integer", "minimum": 1, "maximum": 50}),
        Param("owner_id", "query", False, {"type": "string"})))
    first = read_inputs(op, {"car_id": "1005"}, random.Random("s0"))
    assert first == read_inputs(op, {"car_id": "1005"}, random.Random("s0"))
    assert first != read_inputs(op, {"car_id": "1005"}, random.Random("s1"))
    assert len(first) == 12 and {i.name for i in first} == {"car_id", "since", "limit", "owner_id"}
    assert all(str(i.value).startswith("1005") for i in first if i.where == "path")
    assert all(not str(i.value).strip().lstrip("-").isdigit() for i in first if i.name == "owner_id")  # never an id


def test_query_values_break_the_schema() -> None:
    rng = random.Random(1)
    ints = query_values({"type": "integer", "minimum": 1, "maximum": 50}, rng)
    assert {("51", "above maximum 50"), ("0", "below minimum 1"), ("1.5", "not an integer")} <= set(ints)
    dates = [w for _, w in query_values({"type": "string", "format": "date-time"}, rng)]
    assert "no time zone (RFC 3339 needs one)" in dates
    assert all(w != "1" for w, _ in query_values({"type": "string"}, rng, id_like=True))
    assert path_values("ab", rng)[4][0] == "ab" * 1024


def test_interleave_takes_from_every_parameter() -> None:
    pools = [[Input("query", n, i, "x") for i in range(10)] for n in "abc"]
    picked = interleave(pools, random.Random(3), 7)
    assert len(picked) == 7 and {i.name for i in picked} == {"a", "b", "c"}
    assert interleave([], random.Random(3), 7) == []


def test_crashes_are_5xx_and_dropped_connections() -> None:
    assert crashed(view(500)) == "HTTP 500" and crashed(view(502)) == "HTTP 502"
    assert crashed(view(501)) is None and crashed(view(400)) is None
    assert crashed(view(None, error=TargetErrorKind.RESET)) == "connection dropped (connection-reset)"
    assert crashed(view(None, error=TargetErrorKind.TIMEOUT)) is None


# -- logins ---------------------------------------------------------------------------------------


def _ident(request: dict[str, Any], **extra: Any) -> Identity:
    auth = {"type": "login", "request": {"method": "POST", "path": "/login", **request}}
    return Identity.model_validate({"name": "sam", "tenant": "t", **extra, "auth": auth})


def test_find_login_in_json_and_form_bodies() -> None:
    login = find_login(_ident({"json": {"email": "sam@example.test", "password": "pw-123456", "app": "x"}}))
    assert login and (login.user_field, login.pass_field, login.username) == ("email", "password", "sam@example.test")
    form = find_login(_ident({"form": {"user": "sam", "pwd": "pw-123456"}}))
    assert form and (form.user_field, form.pass_field) == ("user", "pwd")
    assert find_login(_ident({"json": {"token": "x"}})) is None


def test_random_names_are_shaped_seeded_and_never_numbers() -> None:
    names = random_names("mila@example.test", random.Random(0))
    assert names and all(n.endswith("@example.test") and len(n.split("@")[0]) == 18 for n in names)
    assert names == random_names("mila@example.test", random.Random(0)) and len(set(names)) == 3
    dotted = random_names("mila.nordvik", random.Random(0))
    assert dotted and all(n.count(".") == 1 for n in dotted)
    assert random_names("+44 7700 900123", random.Random(0)) is None


def test_fingerprint_masks_echoes_and_volatile_values() -> None:
    a = view(401, {"error": "invalid", "user": "Sam", "request_id": "6f1c2a3b-1111-2222-3333-444455556666",
                   "at": "2025-06-01T08:00:00Z"})
    b = view(401, {"error": "invalid", "user": "zed", "request_id": "0a1b2c3d-9999-8888-7777-666655554444",
                   "at": "2025-06-01T08:00:01Z"})
    assert fingerprint(a, ["sam"]) == fingerprint(b, ["zed"])
    assert fingerprint(view(404, {"error": "unknown"}), []) != fingerprint(view(401, {"error": "unknown"}), [])


def test_signs_of_throttling() -> None:
    first = fingerprint(view(401, {"error": "invalid"}), [])
    assert throttle_sign(view(401, {"error": "invalid"}), first, first) is None
    assert throttle_sign(view(429, "slow"), first, first) == "HTTP 429"
    assert throttle_sign(view(401, {"e": 1}, (("Retry-After", "30"),)), first, first) == "Retry-After: 30"
    assert throttle_sign(view(401, {"error": "invalid"}, parent="h0"), first, first) is not None
    locked = view(401, {"error": "account locked"})
    assert throttle_sign(locked, fingerprint(locked, []), first) == "a lockout message"
    assert slowed([0.01] * 10) is None and slowed([0.01] * 3 + [2.0] * 3) is not None


# -- routes ---------------------------------------------------------------------------------------


def test_route_candidates() -> None:
    model = ApiModel("t", (ApiOperation("GET", "/vehicles"), ApiOperation("GET", "/vehicles/{vin}"),
                           ApiOperation("POST", "/vehicles/bind"), ApiOperation("GET", "/me")))
    routes = candidate_routes(model)
    for want in ("/internal/debug/vehicles", "/debug/vehicles", "/internal/fleet-dump", "/_internal/vehicles",
                 "/actuator/vehicles", "/internal/devices"):
        assert want in routes
    assert "/vehicles/export" not in routes  # GET /vehicles/{vin} would answer it: not undocumented
    assert not [r for r in routes if "bind" in r or "/me" in r]
    assert not [t for t in wordlist() if any(w in t for w in ("heapdump", "shutdown", "threaddump", "pprof"))]
    assert (singular("vehicles"), singular("categories"), singular("fleet")) == ("vehicle", "category", "fleet")


def test_absent_and_leaked() -> None:
    page = view(200, "<html><div id=app></div></html>")
    base = {fingerprint(page, ["/iotvet-1"])}
    assert absent(view(404, {"detail": "Not Found"}), "/x", {404}, set())
    assert absent(page, "/internal/x", {200}, base)
    assert not absent(view(401, {"error": "auth"}), "/internal/x", {404}, set())
    private = {"ana": {"SN-ALPHA-99812", "th-5501"}, "ops": {"SN-ALPHA-99812", "th-5501", "SN-BETA-44120"}}
    assert leaked(view(200, {"items": [{"serial": "SN-ALPHA-99812"}]}), private) == (set(), None)  # one value
    found, owner = leaked(view(200, [{"serial": "SN-ALPHA-99812", "id": "th-5501"}]), private, frozenset({"ops"}))
    assert found == {"SN-ALPHA-99812", "th-5501"} and owner == "ana"
    private["ana"].add("ana-garage-9912")
    text = view(200, "id;serial;label\nth-5501;SN-ALPHA-99812;ana-garage-9912\n")
    assert leaked(text, private, frozenset({"ops"})) == ({"SN-ALPHA-99812", "ana-garage-9912"}, "ana")
    assert leaked(view(200, "SN-ALPHA-998123 xana-garage-9912"), private) == (set(), None)  # not whole tokens
    assert leaked(view(403, [{"serial": "SN-ALPHA-99812", "id": "th-5501"}]), private) == (set(), None)


@pytest.mark.parametrize("key", ["login_attempts", "discover_routes", "seed"])
def test_new_safety_keys_validate(key: str) -> None:
    from pydantic import ValidationError

    from iotvet.plan.schema import Safety

    assert Safety().login_attempts == 20 and Safety().discover_routes is False and Safety().seed == 0
    bad = {"login_attempts": 0, "discover_routes": "maybe", "seed": -1}[key]
    with pytest.raises(ValidationError):
        Safety.model_validate({key: bad})
