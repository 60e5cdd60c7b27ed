"""The evidence store on SQLite and PostgreSQL: what goes in comes back, redacted and capped."""

from __future__ import annotations

import base64
import threading
from urllib.parse import quote

import pytest
from sqlalchemy import text

from iotvet.core.errors import TargetError, TargetErrorKind, UserError
from iotvet.core.records import Cell, MqttEvidence, Operation, Relation, Verdict
from iotvet.plan.schema import Identity
from iotvet.store import IdentityInfo, RunStatus, Store, body_bytes, cell_key
from iotvet.transport.http import Exchange, Request, Response
from tests.report import sample
from tests.store.conftest import SECRETS

PASSWORD = SECRETS[0][1]
TOKEN = SECRETS[1][1]


def exchange(n: int, *, body: bytes = b'{"ok":true}', status: int = 200, error: TargetError | None = None,
             parent: str | None = None, req_body: bytes | None = None) -> Exchange:
    request = Request("get", f"https://api.nordvik.example/v1/vehicles/{n}?access_token={TOKEN}",
                      headers=(("Authorization", f"Bearer {TOKEN}"), ("Accept", "application/json"),
                               ("Cookie", "a=1"), ("Cookie", "b=2")),
                      body=req_body, identity="ca-fleet-admin", purpose="bola read")
    response = None if error else Response(status, "OK", (("Content-Type", "application/json"),
                                                            ("Set-Cookie", f"s={TOKEN}")), body, False, request.url)
    return Exchange(id=f"h{n}", request=request, started=1_795_000_000.0 + n, elapsed=0.05, response=response,
                    error=error, sent=error is None or error.kind is not TargetErrorKind.SCOPE, parent=parent)


def test_exchange_round_trip_redacted_and_capped(store: Store) -> None:
    run = store.start_run(target="https://api.nordvik.example")
    secret_body = f'{{"token":"{TOKEN}","b64":"{base64.b64encode(TOKEN.encode()).decode()}",' \
                  f'"url":"{quote(TOKEN)}","pad":"{"é" * 700}"}}'.encode()
    store.record_exchange(exchange(1, body=secret_body, req_body=f"password={PASSWORD}".encode()))
    store.record_exchange(exchange(2, body=b"\x89PNG\x00\x01binary", parent="h1"))
    store.record_exchange(exchange(3, error=TargetError(TargetErrorKind.TIMEOUT, f"no answer for {TOKEN}")))
    stored = store.exchanges(run)
    assert [e.id for e in stored] == ["h1", "h2", "h3"] and [e.seq for e in stored] == [1, 2, 3]
    first, second, third = stored
    assert TOKEN not in first.url and "[REDACTED:ca-fleet-admin.auth.token]" in first.url
    assert first.request_headers[0] == ("Authorization", "Bearer [REDACTED:ca-fleet-admin.auth.token]")
    assert [h for h in first.request_headers if h[0] == "Cookie"] == [("Cookie", "a=1"), ("Cookie", "b=2")]
    assert first.request_body == "password=[REDACTED:nv-fleet-admin.auth.password]"
    assert first.response_body is not None and TOKEN not in first.response_body
    assert base64.b64encode(TOKEN.encode()).decode() not in first.response_body
    assert len(first.response_body.encode()) <= 1024 and first.truncated  # capped on a UTF-8 boundary
    assert first.response_size == len(secret_body)
    assert second.parent == "h1" and second.response_body_encoding == "base64"
    assert body_bytes(second.response_body, second.response_body_encoding) == b"\x89PNG\x00\x01binary"
    assert third.status is None and third.error_kind == "timeout" and TOKEN not in (third.error_detail or "")


def test_cells_are_decided_once_and_inconclusive_can_be_retried(store: Store) -> None:
    run = store.start_run()
    cell = Cell(check="api-bola-read", plane="http", operation=Operation(method="get", path="/v1/vehicles/{vin}"),
                relation=Relation.OTHER_TENANT, verdict=Verdict.INCONCLUSIVE, reason="timeout")
    assert store.record_cell(cell)
    assert store.settled_cells(run) == set()
    assert store.record_cell(cell.model_copy(update={"verdict": Verdict.LEAK, "reason": "200 with victim VIN"}))
    assert not store.record_cell(cell.model_copy(update={"verdict": Verdict.ENFORCED, "reason": "403"}))
    assert store.settled_cells(run) == {("api-bola-read", "http", "GET /v1/vehicles/{vin}", "other-tenant")}
    assert cell_key(cell) in store.settled_cells(run)
    [stored] = store.load_run(run).cells
    assert stored.verdict is Verdict.LEAK and stored.reason == "200 with victim VIN"
    topic = Cell(check="mq-xtenant-read", plane="mqtt", topic="nordvik/+/telemetry", relation=Relation.OTHER_TENANT,
                 verdict=Verdict.ENFORCED)
    assert store.record_cell(topic) and not store.record_cell(topic)


def test_findings_round_trip_deduplicated_and_redacted(store: Store) -> None:
    run = store.start_run()
    findings = sample.findings()
    leaky = findings[0].model_copy(update={"reproduction": f"curl -H 'Authorization: Bearer {TOKEN}' ..."})
    assert store.record_finding(leaky)
    assert not store.record_finding(leaky)
    for f in findings[1:]:
        assert store.record_finding(f)
    loaded = store.load_run(run).findings
    assert {f.fingerprint for f in loaded} == {f.fingerprint for f in findings}
    by_fp = {f.fingerprint: f for f in loaded}
    assert by_fp[leaky.fingerprint].reproduction == \
        "curl -H 'Authorization: Bearer [REDACTED:ca-fleet-admin.auth.token]' ..."
    assert by_fp[findings[3].fingerprint] == findings[3]
    ranks = [f.severity.rank for f in loaded]
    assert ranks == sorted(ranks, reverse=True)  # most severe first


def test_hostile_and_nul_text_is_stored_faithfully(store: Store) -> None:
    run = store.start_run(target=sample.HOSTILE_TEXT)
    for f in sample.findings(hostile=True):
        store.record_finding(f)
    for c in sample.cells(hostile=True):
        store.record_cell(c)
    store.record_exchange(exchange(1, body=sample.HOSTILE_TEXT.encode()))
    data = store.load_run(run)
    assert {f.fingerprint for f in data.findings} == {f.fingerprint for f in sample.findings(hostile=True)}
    [mqtt] = [f.evidence[0].mqtt for f in data.findings if f.plane == "mqtt"]
    assert mqtt is not None and mqtt.payload == sample.HOSTILE_TEXT  # finding JSON keeps even NUL exactly
    assert "\\x00" in data.run.target  # columns spell NUL out: PostgreSQL text cannot hold it
    [ex] = store.exchanges(run)
    assert ex.response_body_encoding == "base64"


def test_journal_and_restore_marks(store: Store) -> None:
    run = store.start_run(mode="safe-writes")
    one = store.journal_write(identity="nv-owner", method="patch", url=f"https://api/v1/vehicles/V1?t={TOKEN}",
                              original={"nickname": "Blue"}, write={"nickname": "iotvet-probe"})
    two = store.journal_write(identity="nv-owner", method="PUT", url="https://api/v1/devices/D1",
                              original={"mqtt_password": PASSWORD, "name": "cam"}, write={"name": "x"})
    assert (one, two) == (1, 2)
    store.mark_restored(one)
    store.mark_restored(two, error=f"403 while restoring with {TOKEN}")
    entries = store.journal(run)
    assert entries[0].restored and not entries[0].lossy and entries[0].method == "PATCH"
    assert TOKEN not in entries[0].url
    assert entries[1].lossy and not entries[1].restored
    assert entries[1].original == {"mqtt_password": "[REDACTED:nv-fleet-admin.auth.password]", "name": "cam"}
    assert TOKEN not in (entries[1].restore_error or "")
    assert [e.seq for e in store.journal(run, unrestored_only=True)] == [2]
    stats = store.load_run(run).stats
    assert (stats.journal_writes, stats.journal_unrestored) == (2, 1)


def test_mqtt_messages(store: Store) -> None:
    run = store.start_run()
    store.record_message(MqttEvidence(broker="mqtts://mqtt.nordvik.example:8883", client="ca-fleet-admin",
                                      action="receive", topic="nordvik/V1/telemetry", payload=f"k={TOKEN}", qos=1,
                                      retained=True), identity="ca-fleet-admin", at=5.0)
    store.record_message(MqttEvidence(broker="b", client="c", action="publish", topic="t"), payload=b"\xff\x00\xfe")
    first, second = store.messages(run)
    assert first.payload == "k=[REDACTED:ca-fleet-admin.auth.token]" and first.retained and first.at == 5.0
    assert second.payload_encoding == "base64" and body_bytes(second.payload, "base64") == b"\xff\x00\xfe"
    assert store.load_run(run).stats.mqtt_messages == 2


def test_identities_never_hold_credentials(store: Store) -> None:
    ident = Identity.model_validate({"name": "nv-fleet-admin", "tenant": "nordvik", "group": "fleet-7",
                                     "role": "customer-admin", "devices": ["V1"], "device": "V2",
                                     "auth": {"type": "basic", "username": "ana", "password": PASSWORD}})
    info = IdentityInfo.from_plan(ident)
    assert info.devices == ["V1", "V2"] and "ana" not in info.model_dump_json()
    run = store.start_run(identities=[info])
    store.record_identities([info.model_copy(update={"role": "owner"})])
    assert store.load_run(run).identities == [info.model_copy(update={"role": "owner"})]


def test_run_lifecycle_listing_and_stats(store: Store) -> None:
    data = sample.run_data()
    first = store.start_run(run_id="r20261125T090000-aaaaaa", started=100.0, plan_digest="sha256:1",
                            identities=data.identities, untested=data.untested, budgets={"max_requests": 10})
    store.record_exchange(exchange(1))
    store.record_exchange(exchange(2, status=403, error=TargetError(TargetErrorKind.SCOPE, "refused")))
    store.finish_run(RunStatus.INCOMPLETE, reason="max_requests spent", budgets={"requests_used": 10})
    second = store.start_run(run_id="r20261125T100000-bbbbbb", started=200.0)
    for f in data.findings:
        store.record_finding(f)
    for c in data.cells:
        store.record_cell(c)
    store.finish_run()
    assert [s.run.id for s in store.list_runs()] == [second, first]
    assert [(s.findings, s.exchanges) for s in store.list_runs()] == [(4, 0), (0, 2)]
    assert store.resolve_run_id("latest") == second
    assert store.resolve_run_id("r20261125T09") == first
    with pytest.raises(UserError, match="ambiguous"):
        store.resolve_run_id("r2026")
    with pytest.raises(UserError, match="no run"):
        store.resolve_run_id("nope")
    loaded = store.load_run(first)
    assert loaded.run.status is RunStatus.INCOMPLETE and loaded.run.reason == "max_requests spent"
    assert loaded.run.budgets == {"requests_used": 10} and loaded.untested == data.untested
    assert loaded.stats.exchanges == 2 and loaded.stats.sent == 1 and loaded.stats.errors == {"out-of-scope": 1}
    assert loaded.stats.statuses == {"200": 1}
    full = store.load_run(second)
    assert full.stats.cells == {k: v for k, v in data.stats.cells.items() if v}
    assert full.stats.findings == {k: v for k, v in data.stats.findings.items() if v}
    assert sorted(full.cells, key=cell_key) == sorted(data.cells, key=cell_key)


def test_resume_continues_numbering_without_id_clashes(store: Store) -> None:
    run = store.start_run()
    store.record_exchange(exchange(1))
    store.journal_write(method="PUT", url="u", original={}, write={})
    store.finish_run(RunStatus.INTERRUPTED, reason="SIGINT")
    other = Store.open(str(store.engine.url.render_as_string(hide_password=False)), redactor=store.redactor)
    try:
        info = other.resume_run(run[:12])
        assert info.status is RunStatus.RUNNING and info.sessions == 2 and info.finished is None
        other.record_exchange(exchange(1, parent=None))  # a new transport starts again at h1
        other.record_finding(sample.findings()[0])
        assert other.journal_write(method="PUT", url="u", original={}, write={}) == 2
        ids = [(e.id, e.seq) for e in other.exchanges(run)]
        assert ids == [("h1", 1), ("h1~2", 2)]
        [f] = other.load_run(run).findings
        assert f.evidence[0].http is not None and f.evidence[0].http.exchange_id == "h12~2"
    finally:
        other.close()


def test_concurrent_writers_from_threads(store: Store) -> None:
    run = store.start_run()

    def write(base: int) -> None:
        for i in range(25):
            store.record_exchange(exchange(base + i))

    threads = [threading.Thread(target=write, args=(k * 100,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    stored = store.exchanges(run)
    assert len(stored) == 100 and sorted(e.seq for e in stored) == list(range(1, 101))


def test_no_secret_reaches_the_database(store: Store, db_url: str) -> None:
    run = store.start_run(target=f"https://api?k={TOKEN}", budgets={"note": PASSWORD})
    store.record_exchange(exchange(1, body=f"{TOKEN} {PASSWORD}".encode(), req_body=PASSWORD.encode()))
    store.record_cell(Cell(check="api-unauth", plane="http", operation=Operation(method="GET", path="/x"),
                           relation=Relation.ANONYMOUS, verdict=Verdict.LEAK, reason=f"saw {PASSWORD}"))
    store.record_finding(sample.findings()[0].model_copy(update={"title": TOKEN}))
    store.finish_run(reason=TOKEN)
    forms = {TOKEN, PASSWORD, base64.b64encode(TOKEN.encode()).decode(), quote(PASSWORD, safe="")}
    dump = []
    with store.engine.connect() as conn:
        for table in ("runs", "identities", "exchanges", "mqtt_messages", "cells", "findings", "journal"):
            dump += [repr(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {table}"))]
    everything = "\n".join(dump)
    assert run in everything and "[REDACTED:" in everything
    assert not [f for f in forms if f in everything]
