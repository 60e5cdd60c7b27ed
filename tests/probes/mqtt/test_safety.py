"""Safety rails: modes, budgets, rate, redaction, topic and scope guards, and what the broker saw us do."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotvet.core.errors import ScopeViolation
from iotvet.core.records import Verdict
from iotvet.core.scope import Scope
from iotvet.transport.governor import Governor
from iotvet.transport.mqtt import Credentials, Endpoint, MqttClient, TopicGuard
from tests.probes.mqtt.brokers import Account, Running, cast, mosquitto, plan_for, secure_acl
from tests.probes.mqtt.harness import SHARED, Outcome, run_probe, side_by_side

pytestmark = pytest.mark.timeout(120)
_CONNECTED = re.compile(r"New client connected from \S+ as (\S+) \(.*u'([^']*)'\)")


def _retained(running: Running, backend: Account) -> list[str]:
    """Every retained payload on the broker, read as the backend."""
    found: list[str] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="retained-check")
    client.tls_set(ca_certs=str(running.ca))
    client.username_pw_set(backend.username, backend.password)
    client.on_message = lambda _c, _u, m: found.append(m.payload.decode(errors="replace")) if m.retain else None
    client.connect("127.0.0.1", running.tls_port)
    client.loop_start()
    try:
        time.sleep(0.2)
        client.subscribe("#", 1)
        time.sleep(0.5)
    finally:
        client.disconnect()
        client.loop_stop()
    return found


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Outcome, str, list[str]]]:
    tmp = tmp_path_factory.mktemp("safety")

    def job(name: str, *, mode: str, acl: Callable[[dict[str, Account]], str] = secure_acl, bind_ids: bool = True,
            **plan: Any) -> Callable[[], tuple[Outcome, str, list[str]]]:
        def run() -> tuple[Outcome, str, list[str]]:
            accounts = cast()
            with mosquitto(tmp / name, accounts, acl(accounts), bind_ids=bind_ids) as running:
                outcome = run_probe(plan_for(running, accounts, mode=mode, **plan), tmp / name / "run", SHARED)
                return outcome, running.log(), _retained(running, accounts["backend"])
        return run

    leaky = lambda a: secure_acl(a, app_extra=("topic read +/+/telemetry", "topic write +/+/cmd"))  # noqa: E731
    return side_by_side({
        "read-only": job("read-only", mode="read-only", acl=leaky),
        "safe-writes": job("safe-writes", mode="safe-writes", acl=leaky, bind_ids=False),
        "rate": job("rate", mode="safe-writes", rate=60),
        "budget": job("budget", mode="intrusive", max_requests=30),
    }, workers=4)


def test_read_only_publishes_nothing(results: dict[str, tuple[Outcome, str, list[str]]]) -> None:
    outcome, log, _ = results["read-only"]
    assert outcome.summary.messages_sent == 0
    assert "Received PUBLISH" not in log  # the broker saw no publish at all (wills included)
    assert outcome.governor.usage.permits == outcome.summary.connects
    assert outcome.findings == []  # a leak needs a canary, and read-only mode sends none
    writes = [c for c in outcome.cells if c.check in ("mq-xtenant-write", "mq-will-inject", "mq-retained-leak")]
    assert writes and all(c.verdict is Verdict.NOT_TESTED and "read-only" in c.reason for c in writes)
    assert all(c.verdict is Verdict.NOT_TESTED for c in outcome.cells if c.check == "mq-clientid-kick")


def test_safe_writes_never_uses_another_identitys_client_id(
        results: dict[str, tuple[Outcome, str, list[str]]]) -> None:
    outcome, log, retained = results["safe-writes"]
    assert outcome.findings  # the leaky ACL is found...
    ids = _CONNECTED.findall(log)
    assert ids
    for client_id, user in ids:  # ...without touching anyone else's session
        assert client_id in (user, "+") or client_id.startswith("iotvet"), (client_id, user)
    assert all(c.verdict is Verdict.NOT_TESTED for c in outcome.cells
               if c.check in ("mq-clientid-kick", "mq-session-steal"))
    assert not [r for r in retained if "iotvet" in r], "retained canaries were left behind"


def test_publishes_and_connects_are_permits_within_the_rate(
        results: dict[str, tuple[Outcome, str, list[str]]]) -> None:
    outcome, _, _ = results["rate"]
    usage, summary = outcome.governor.usage, outcome.summary
    assert usage.permits == summary.connects + summary.messages_sent and usage.refused == 0
    assert summary.messages_sent > 60
    assert summary.duration >= (usage.permits - 60) / 60 * 0.95  # at most 60 exchanges completed per second
    assert outcome.findings == []


def test_max_requests_stops_the_probe_cleanly(results: dict[str, tuple[Outcome, str, list[str]]]) -> None:
    outcome, _, retained = results["budget"]
    usage = outcome.governor.usage
    assert usage.permits <= 30 and usage.refused > 0
    assert outcome.findings == []
    assert any("budget" in c.reason for c in outcome.cells if c.verdict is Verdict.INCONCLUSIVE)
    assert not [r for r in retained if "iotvet" in r]


def test_secrets_never_reach_cells_or_findings(results: dict[str, tuple[Outcome, str, list[str]]]) -> None:
    for outcome, _, _ in results.values():
        text = "".join(c.model_dump_json() for c in outcome.cells) + "".join(
            f.model_dump_json() for f in outcome.findings) + repr(outcome.summary)
        for secret in outcome.secrets:
            assert secret not in text


def test_topic_guard_and_scope_refuse_before_sending() -> None:
    async def go() -> None:
        governor = Governor(rate=10, concurrency=1, max_requests=10, max_duration=10)
        client = MqttClient(Endpoint.parse("mqtt://127.0.0.1:1"), Credentials("u", "p", "c"),
                            scope=Scope(["127.0.0.1:2"]), governor=governor,
                            guard=TopicGuard(frozenset({"t/a/telemetry"}), frozenset({"#"})))
        with pytest.raises(ScopeViolation):
            await client.connect()
        with pytest.raises(ScopeViolation):
            await client.publish("t/b/telemetry", b"x")
        with pytest.raises(ScopeViolation):
            await client.subscribe(["t/+/secret"])
        assert governor.usage.permits == 0

    asyncio.run(go())
