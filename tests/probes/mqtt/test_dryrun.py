"""``probe --dry-run`` with an mqtt section: cells listed and budgeted, nothing connected."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from iotvet.lab.mqtt import flaws as F
from iotvet.plan.loader import load_plan
from iotvet.probes.mqtt.dryrun import plan_mqtt
from iotvet.transport.mqtt import MqttClient
from tests.lab.mqtt_fixtures import lab_accounts, running_broker
from tests.probes.mqtt.brokers import TEMPLATES, cast
from tests.probes.mqtt.harness import FAST, lab_plan, run_probe

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dry_run_of_an_mqtt_only_plan_connects_to_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from iotvet.cli import main

    attempts: list[Any] = []

    async def refuse(self: MqttClient, *args: Any, **kwargs: Any) -> Any:
        attempts.append(self)
        raise AssertionError("the dry run connected")

    monkeypatch.setattr(MqttClient, "connect", refuse)
    monkeypatch.setenv("COLUMNS", "200")
    port = _free_port()
    plan = {"mqtt": {"url": f"mqtt://127.0.0.1:{port}", "topics": dict(TEMPLATES)},
            "scope": {"hosts": [f"127.0.0.1:{port}"]},
            "safety": {"mode": "intrusive", "rate": 10, "max_requests": 20},
            "identities": [a.identity() for a in cast().values()]}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    code = main(["probe", str(path), "--dry-run", "--db", str(tmp_path / "d.db")])
    out = capsys.readouterr().out
    assert attempts == []
    assert "mq-xtenant-read" in out and "mq-clientid-kick" in out and "mq-plaintext" in out
    assert "mqtt setup:" in out and "mqtt not tested:" in out
    assert "DOES NOT FIT" in out and code == 3  # 20 permits cannot cover the plan
    assert not (tmp_path / "d.db").exists()


def test_read_only_dry_run_lists_what_the_mode_skips(tmp_path: Path) -> None:
    port = _free_port()
    plan = {"mqtt": {"url": f"mqtts://127.0.0.1:{port}", "topics": dict(TEMPLATES)},
            "scope": {"hosts": [f"127.0.0.1:{port}"]}, "safety": {"mode": "read-only"},
            "identities": [a.identity() for a in cast().values()]}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    result = plan_mqtt(load_plan(str(path)))
    checks = {c.check for c in result.cells}
    assert "mq-xtenant-read" in checks and not checks & {"mq-xtenant-write", "mq-clientid-kick", "mq-sys-leak"}
    assert all(c.publishes == 0 for c in result.cells) and result.setup["publishes"] == 0
    assert any("read-only" in why for _, why in result.skipped)


def test_the_bound_covers_a_real_run(tmp_path: Path) -> None:
    accounts = lab_accounts()
    with running_broker(set(F.MQTT_FLAWS), tmp_path, accounts) as broker:
        plan = lab_plan(broker, accounts)
        outcome = run_probe(plan, tmp_path / "run", FAST)
    result = plan_mqtt(load_plan(str(tmp_path / "run" / "plan.yaml")), FAST)
    spent = outcome.summary.messages_sent + outcome.summary.connects
    assert spent <= result.publishes + result.connects
    planned = {(c.check, c.topic, c.relation) for c in result.cells}
    tested = {(c.check, c.topic or "", c.relation.value) for c in outcome.cells if c.verdict.value != "not_tested"}
    assert tested <= planned, sorted(tested - planned)
