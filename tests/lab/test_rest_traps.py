"""The traps: correct behaviour that a naive tool would flag. Each is shown to be harmless."""

from __future__ import annotations

import uuid

import pytest

from tests.lab.rest_fixtures import LabClient
from tests.lab.rest_fixtures import clean as clean

pytestmark = pytest.mark.timeout(60)


def test_soft_deny_share_list_is_empty_not_leaky(clean: LabClient) -> None:
    cast = clean.cast
    owner, outsider = cast.fleet_admin(cast.b), cast.driver(cast.a)
    car = cast.vehicle(owner)
    shared = clean.call("POST", clean.path("vehicle.shares.create", car), owner,
                        json={"username": cast.owner(cast.b).username, "role": "guest"})
    assert shared.status_code == 201
    r = clean.get(clean.path("vehicle.shares.list", car), outsider)
    assert r.status_code == 200 and clean.body(r) == []
    assert cast.owner(cast.b).username in clean.get(clean.path("vehicle.shares.list", car), owner).text


def test_soft_deny_shape_answers_200_and_does_nothing(clean: LabClient) -> None:
    cast = clean.cast
    owner, outsider = cast.owner(cast.b), cast.family(cast.a)
    car = cast.vehicle(owner, 2)
    nonce = uuid.uuid4().hex
    get = clean.get(clean.path("vehicle.get", car), outsider)
    send = clean.call("POST", clean.path("vehicle.commands.send", car), outsider,
                      json={"command": "ping", "args": {"nonce": nonce}})
    if clean.shape.deny == "soft":
        assert get.status_code == 200 and clean.body(get) == {}
        assert send.status_code == 200 and clean.body(send) == {}
    else:
        assert get.status_code == send.status_code == int(clean.shape.deny)
    assert nonce not in clean.get(clean.path("vehicle.commands.list", car), owner).text


def test_public_data_is_identical_for_everyone(clean: LabClient) -> None:
    cast = clean.cast
    for op in ("firmware.catalogue", "status"):
        answers = {clean.get(clean.path(op), who).text for who in (None, cast.driver(cast.a), cast.owner(cast.b))}
        assert len(answers) == 1, op
    spec = clean.http.get(clean.lab.openapi_url).json()
    assert spec["paths"][clean.shape.op("firmware.catalogue").path]["get"]["security"] == []


def test_mute_204_acts_on_the_caller_only(clean: LabClient) -> None:
    cast = clean.cast
    owner, outsider = cast.owner(cast.b), cast.driver(cast.a)
    car = cast.vehicle(owner)
    before = clean.get(clean.path("vehicle.get", car), owner).text
    r = clean.call("DELETE", clean.path("vehicle.notifications.mute", car), outsider)
    assert r.status_code == 204
    assert clean.get(clean.path("vehicle.get", car), owner).text == before
    state = clean.lab.api.state
    assert car.id in state.muted[outsider.id] and owner.id not in state.muted


def test_fleet_vehicles_are_shared_within_the_customer(clean: LabClient) -> None:
    cast = clean.cast
    driver = cast.driver(cast.a, 1)
    assert {"resource": clean.shape.collection, "visible_to": "same-group"} in clean.lab.plan["policy"]
    for car in cast.vehicles(cast.fleet_admin(cast.a))[:3]:
        assert clean.readable(clean.get(clean.path("vehicle.get", car), driver), car)
        r = clean.call("POST", clean.path("vehicle.commands.send", car), driver, json={"command": "ping"})
        assert r.status_code == 202


def test_role_403_and_object_deny_mix_reveals_nothing(clean: LabClient) -> None:
    cast = clean.cast
    driver = cast.driver(cast.a)
    r = clean.get(clean.path("customer.users", customer_id=driver.customer or ""), driver)
    assert r.status_code == 403
    foreign = clean.get(clean.path("vehicle.get", cast.vehicle(cast.fleet_admin(cast.b))), driver)
    missing = clean.get(clean.path("vehicle.get", clean.missing_id()), driver)
    assert (foreign.status_code, foreign.text) == (missing.status_code, missing.text)
    expected = 200 if clean.shape.deny == "soft" else int(clean.shape.deny)
    assert foreign.status_code == expected


def test_brand_admin_reads_its_own_brand(clean: LabClient) -> None:
    cast = clean.cast
    admin = cast.brand_admin(cast.a)
    users = clean.body(clean.get(clean.path("brand.users", brand=cast.a), admin))
    names = {u["username"] for u in users}
    assert cast.owner(cast.a).username in names and cast.owner(cast.b).username not in names
    assert clean.get(clean.path("brand.users", brand=cast.b), admin).status_code == 403
    customers = clean.get(clean.path("brand.customers", brand=cast.a), admin)
    assert customers.status_code == 200 and cast.owner(cast.a).customer in customers.text


def test_operator_sees_all_brands(clean: LabClient) -> None:
    operator = clean.lab.world.operator
    r = clean.get(clean.path("ops.brands"), operator)
    assert r.status_code == 200 and clean.cast.b in r.text
    assert clean.get(clean.path("ops.brands"), clean.cast.brand_admin(clean.cast.a)).status_code == 403


def test_security_txt_and_no_token_means_401(clean: LabClient) -> None:
    r = clean.http.get(clean.lab.origin + "/.well-known/security.txt")
    assert r.status_code == 200 and "Contact:" in r.text and "Expires:" in r.text
    car = clean.cast.vehicle(clean.cast.owner(clean.cast.a))
    for op in ("vehicle.get", "vehicle.location", "vehicles.list"):
        assert clean.get(clean.path(op, car if "{" in clean.shape.op(op).path else None)).status_code == 401
