"""The lab broker itself: listeners, authentication, the generated files and a clean process lifecycle."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from iotvet.lab.mqtt import topics
from iotvet.lab.mqtt.accounts import MqttAccount
from iotvet.lab.mqtt.broker import Broker, BrokerError, password_line, render_acl
from iotvet.lab.pki import LabPKI
from tests.lab.mqtt_fixtures import VC1, VC2, Client, attempt, connected, lab_accounts, nonce

pytestmark = pytest.mark.timeout(60)

Accounts = dict[str, MqttAccount]


@pytest.fixture(scope="module")
def accounts() -> Accounts:
    return lab_accounts()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPKI:
    return LabPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, accounts: Accounts, pki: LabPKI) -> Iterator[Broker]:
    with Broker(list(accounts.values()), set(), tmp_path_factory.mktemp("secure"), pki) as running:
        yield running


def _own_telemetry_round_trip(broker: Broker, accounts: Accounts, **options: object) -> None:
    """ana, connected as ``options`` say, receives her own vehicle's telemetry."""
    value = nonce()
    with connected(broker, accounts["ana"], **options) as app:
        app.subscribe(topics.telemetry("vistacam", VC1))
        with connected(broker, accounts["vc1"]) as vehicle:
            vehicle.publish(topics.telemetry("vistacam", VC1), {"nonce": value})
        app.first_of(value)


def test_urls_name_each_listener(broker: Broker) -> None:
    ports = broker.ports
    assert broker.tls_url == f"mqtts://127.0.0.1:{ports.tls}"
    assert broker.ws_url == f"wss://127.0.0.1:{ports.ws}/mqtt"
    assert broker.cert_url == f"mqtts://127.0.0.1:{ports.cert}"
    assert broker.plain_url is None
    assert len({ports.tls, ports.ws, ports.cert}) == 3


@pytest.mark.parametrize("listener", ["tls", "ws"])
def test_password_listeners_carry_traffic(broker: Broker, accounts: Accounts, listener: str) -> None:
    _own_telemetry_round_trip(broker, accounts, listener=listener)


def test_mqtt5_connects_and_carries_traffic(broker: Broker, accounts: Accounts) -> None:
    _own_telemetry_round_trip(broker, accounts, version=paho.MQTTv5)


def test_client_certificate_names_the_account(broker: Broker, accounts: Accounts, pki: LabPKI) -> None:
    issued = pki.issue_client("ana-app", accounts["ana"].username)
    value = nonce()
    with connected(broker, None, listener="cert", cert=(issued.cert, issued.key)) as app:
        app.subscribe(topics.telemetry("vistacam", VC2), topics.telemetry("vistacam", VC1))
        with connected(broker, accounts["vc2"]) as other, connected(broker, accounts["vc1"]) as own:
            other.publish(topics.telemetry("vistacam", VC2), {"nonce": "not-for-ana"})
            own.publish(topics.telemetry("vistacam", VC1), {"nonce": value})
        seen, _ = app.first_of("not-for-ana", value)
        assert seen == value, "the certificate's CN must get that account's ACL, no more"


def test_certificate_listener_refuses_clients_without_one(broker: Broker, accounts: Accounts) -> None:
    client = Client(broker, accounts["ana"], listener="cert")
    try:
        client.connect()
    except (OSError, AssertionError):  # the TLS handshake fails, or no CONNACK ever comes
        return
    try:
        assert not client.accepted
    finally:
        client.close()


@pytest.mark.parametrize("password", ["wrong", ""])
def test_bad_password_is_refused(broker: Broker, accounts: Accounts, password: str) -> None:
    ana = accounts["ana"]
    forged = MqttAccount(ana.username, password, ana.kind, ana.tenant, devices=ana.devices)
    with attempt(broker, forged) as client:
        assert not client.accepted


def test_anonymous_is_refused(broker: Broker) -> None:
    with attempt(broker, None) as client:
        assert not client.accepted


def test_sys_topics_are_for_the_operator_only(broker: Broker, accounts: Accounts) -> None:
    with connected(broker, accounts["operator"]) as operator:
        operator.subscribe("$SYS/broker/version")
        _, message = operator.first_of("mosquitto version")
        assert message.retain
    sentinel = nonce()
    with connected(broker, accounts["ana"]) as app:
        app.subscribe("$SYS/broker/version", topics.telemetry("vistacam", VC1))
        with connected(broker, accounts["backend"]) as backend:
            backend.publish(topics.telemetry("vistacam", VC1), {"nonce": sentinel})
        seen, _ = app.first_of("mosquitto version", sentinel)
        assert seen == sentinel


def test_client_id_is_the_username(broker: Broker, accounts: Accounts) -> None:
    """Two logins asking for the same client id do not collide: each gets its own username."""
    with connected(broker, accounts["ana"], client_id="shared") as first:
        with connected(broker, accounts["ben"], client_id="shared"):
            pass
        assert not first.disconnected.is_set()
    assert "as ana.vistacam" in broker.log_path.read_text()


# -- generated files


def test_secure_acl_is_an_allow_list_per_account(accounts: Accounts) -> None:
    acl = render_acl(accounts.values())
    assert f"user {accounts['vc1'].username}\ntopic read vistacam/{VC1}/cmd\n" in acl
    assert f"topic write vistacam/{VC1}/telemetry" in acl
    assert (
        f"user {accounts['ana'].username}\ntopic read vistacam/{VC1}/telemetry\ntopic read vistacam/{VC1}/state\n"
        in acl
    )
    assert "pattern" not in acl
    assert "+/+" not in acl
    before_first_user = acl.split("\nuser ", 1)[0]
    assert "topic" not in before_first_user, "no rules for anonymous clients"


def test_flawed_acl_shows_the_flaw(accounts: Accounts) -> None:
    assert "pattern read vistacam/%c/cmd" in render_acl(accounts.values(), {"mqtt-clientid-acl"})
    assert "topic read +/+/telemetry" in render_acl(accounts.values(), {"mqtt-wildcard-grant"})
    assert "topic read +/+/telemetry" not in render_acl(accounts.values(), {"api-bola-read"})


def test_password_line_matches_mosquitto_passwd(tmp_path: Path) -> None:
    line = password_line("ana", "s3cret", salt=b"0123456789ab")
    path = tmp_path / "passwd"
    path.write_text(line + "\n")
    subprocess.run(["mosquitto_passwd", "-b", str(path), "other", "x"], check=True, capture_output=True)
    assert path.read_text().startswith(line + "\n"), "mosquitto_passwd rewrote our line: format differs"


@pytest.mark.parametrize("bad", ["a:b", "a+b", "a#b", ""])
def test_unsafe_usernames_are_rejected(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="names"):
        Broker([MqttAccount(bad, "x", "app", "vistacam")], set(), tmp_path, LabPKI(tmp_path / "pki"))


# -- lifecycle


def _alive(pid: int) -> bool:
    return (
        subprocess.run(["pgrep", "-x", "mosquitto"], capture_output=True, text=True).stdout.split().count(str(pid)) > 0
    )


def test_stop_reaps_the_broker(tmp_path: Path, accounts: Accounts) -> None:
    broker = Broker(list(accounts.values()), {"mqtt-plaintext"}, tmp_path / "b", LabPKI(tmp_path / "pki"))
    with broker:
        pid = broker.pid
        assert pid is not None and _alive(pid)
        assert broker.plain_url is not None
    assert broker.pid is None
    assert not _alive(pid)
    broker.stop()  # idempotent


def test_an_error_inside_the_block_still_stops_the_broker(tmp_path: Path, accounts: Accounts) -> None:
    broker = Broker(list(accounts.values()), set(), tmp_path / "b", LabPKI(tmp_path / "pki"))
    pid = None
    with pytest.raises(RuntimeError, match="boom"), broker:
        pid = broker.pid
        raise RuntimeError("boom")
    assert pid is not None and not _alive(pid)


async def _start_and_stop(broker: Broker) -> int | None:
    async with broker:
        return broker.pid


def test_async_context_manager(tmp_path: Path, accounts: Accounts) -> None:
    import asyncio

    broker = Broker(list(accounts.values()), set(), tmp_path / "b", LabPKI(tmp_path / "pki"))
    pid = asyncio.run(_start_and_stop(broker))
    assert pid is not None and not _alive(pid)


def test_failed_start_shows_the_log_tail(tmp_path: Path, accounts: Accounts) -> None:
    wrapper = tmp_path / "mosquitto-wrapper"
    wrapper.write_text('#!/bin/sh\nexec /usr/sbin/mosquitto -c "$2.missing"\n')
    wrapper.chmod(0o755)
    broker = Broker(list(accounts.values()), set(), tmp_path / "b", LabPKI(tmp_path / "pki"), binary=str(wrapper))
    with pytest.raises(BrokerError) as raised:
        broker.start_blocking()
    assert "Mosquitto did not start" in str(raised.value)
    assert "mosquitto.conf.missing" in str(raised.value), "the log tail names the problem"
    assert broker.pid is None


def test_missing_mosquitto_says_how_to_install(tmp_path: Path, accounts: Accounts) -> None:
    broker = Broker(
        list(accounts.values()), set(), tmp_path / "b", LabPKI(tmp_path / "pki"), binary=str(tmp_path / "nowhere")
    )
    with pytest.raises(BrokerError, match="apt-get install"):
        broker.start_blocking()


def test_no_lab_mosquitto_outlives_the_tests(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Of the brokers started under this session's temporary directory, only the module's own runs."""
    base = str(tmp_path_factory.getbasetemp())
    listing = subprocess.run(["pgrep", "-a", "-x", "mosquitto"], capture_output=True, text=True).stdout
    ours = [line for line in listing.splitlines() if base in line]
    assert [line.split()[0] for line in ours] == [str(broker.pid)]
