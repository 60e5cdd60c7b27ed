"""A broker that drops, stalls or floods: every cell inconclusive (or not tested), never a hang or a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from iotvet.core.records import Verdict
from tests.probes.mqtt.brokers import TEMPLATES, FakeBroker, cast
from tests.probes.mqtt.harness import FAST, run_probe

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("behaviour", ["drop", "drop-later", "stall", "flood"])
def test_misbehaving_broker_gives_inconclusive(behaviour: str, tmp_path: Path) -> None:
    accounts = cast()
    with FakeBroker(behaviour) as fake:
        plan = {"mqtt": {"url": fake.url, "topics": dict(TEMPLATES)}, "scope": {"hosts": [f"127.0.0.1:{fake.port}"]},
                "safety": {"mode": "intrusive", "rate": 2000, "concurrency": 16, "max_requests": 100_000,
                           "max_duration": "40s", "request_timeout": "1s"},
                "identities": [a.identity() for a in accounts.values()]}
        started = time.monotonic()
        outcome = run_probe(plan, tmp_path, FAST)
        elapsed = time.monotonic() - started
    assert elapsed < 20, f"{behaviour}: {elapsed:.1f}s"
    assert outcome.findings == []
    undecided = {Verdict.INCONCLUSIVE, Verdict.NOT_TESTED}
    # A flooding broker that still answers the victim after a takeover attempt looks like a broker that
    # refuses takeovers: "still connected" is then true, and mq-clientid-kick may say enforced.
    loose = {"mq-clientid-kick"} if behaviour == "flood" else set()
    assert outcome.cells and all(c.verdict in undecided or (c.check in loose and c.verdict is Verdict.ENFORCED)
                                 for c in outcome.cells), outcome.table()
    assert outcome.governor.usage.permits == outcome.summary.connects + outcome.summary.messages_sent
    if behaviour == "flood":
        assert fake.sent > 10_000  # it really flooded
