"""Synthetic runs for store and report tests: a realistic telematics provider, optionally hostile.

Nordvik (tenant) and Castellan (tenant) each have a fleet; identities are the plan's test
accounts. The hostile variant puts attacker-controlled text everywhere a target can reach:
bodies, headers, reasons, URLs, topics, payloads.
"""

from __future__ import annotations

import json

from iotvet.checks import CATALOGUE
from iotvet.core.records import (
    Cell,
    Evidence,
    Finding,
    HttpEvidence,
    MqttEvidence,
    Operation,
    Relation,
    Verdict,
)
from iotvet.store import IdentityInfo, RunData, RunInfo, RunStats, RunStatus, Untested

STARTED = 1_795_000_000.0

HOSTILE = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1;alert(1)">',
    '"><svg onload=window.__pwned=1>',
    "javascript:window.__pwned=1",
    "</pre></details></td></table><iframe src='https://evil.example/frame'></iframe>",
    "<link rel=stylesheet href=https://evil.example/x.css>"
    "<meta http-equiv=refresh content='0;url=https://evil.example/'>",
    "<base href='https://evil.example/'><a href='javascript:window.__pwned=1'>click</a>",
    "<style>@import url(https://evil.example/i.css); body{background:url(https://evil.example/bg)}</style>",
    "\x1b[2J\x1b[H\x1b[32mALL CHECKS PASSED\x1b[0m\x07",
    "=cmd|' /C calc'!A0",
    "+HYPERLINK(\"https://evil.example\")",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\u202egnp.exe\u202c \u2066rtl\u2069",
    "{{ 7*7 }}{% raw %}${7*7}",
    "]]><!-- --><?xml-stylesheet href='https://evil.example/x.xsl'?>",
    "ctrl:\x00\x01\x08\x0b\x0c\x1f\x7f\x9b",
]
HOSTILE_TEXT = "\n".join(HOSTILE)

IDENTITIES = [
    IdentityInfo(name="nv-fleet-admin", tenant="nordvik", group="fleet-7", role="customer-admin",
                 devices=["YV9A1B2C3D4E5F601"]),
    IdentityInfo(name="nv-driver", tenant="nordvik", group="fleet-7", role="driver", devices=["YV9A1B2C3D4E5F602"]),
    IdentityInfo(name="nv-owner", tenant="nordvik", group="household-3", role="owner"),
    IdentityInfo(name="ca-fleet-admin", tenant="castellan", group="fleet-2", role="customer-admin",
                 devices=["ZC4Z9Y8X7W6V5U401"]),
]


def _http(method: str, url: str, status: int, body: str, *, hostile: bool) -> HttpEvidence:
    headers = {"Content-Type": "application/json", "Server": "nginx"}
    if hostile:
        headers["X-Evil"] = HOSTILE[1]
        headers["Server"] = HOSTILE[9]
        body = json.dumps({"vin": "YV9A1B2C3D4E5F601", "nickname": HOSTILE_TEXT})
        url = url + "?q=" + "%3Cscript%3E" + "&next=javascript:window.__pwned=1"
    return HttpEvidence(method=method, url=url, status=status,
                        request_headers={"Authorization": "[REDACTED:ca-fleet-admin.auth.token]", "Accept": "*/*"},
                        response_headers=headers, response_body=body, exchange_id="h12")


def finding(check: str, *, relation: Relation, attacker: str | None, victim: str | None,
            operation: Operation | None = None, topic: str | None = None, hostile: bool = False,
            evidence: list[Evidence] | None = None) -> Finding:
    """A finding for catalogue check ``check`` with the catalogue's text."""
    info = CATALOGUE[check]
    place = str(operation) if operation else topic
    if evidence is None:
        if info.plane == "http":
            assert operation is not None
            url = "https://api.nordvik.example" + operation.path.replace("{vin}", "YV9A1B2C3D4E5F601")
            evidence = [Evidence(summary=f"{attacker} read {victim}'s vehicle",
                                 http=_http(operation.method, url, 200, '{"vin":"YV9A1B2C3D4E5F601","lat":59.3}',
                                            hostile=hostile))]
        else:
            payload = HOSTILE_TEXT if hostile else '{"speed":42,"lat":59.33}'
            evidence = [Evidence(summary=f"{attacker} received {victim}'s telemetry",
                                 mqtt=MqttEvidence(broker="mqtts://mqtt.nordvik.example:8883",
                                                   client=attacker or "anon", action="receive", topic=topic,
                                                   payload=payload, qos=1, retained=False))]
    title = info.title + (" " + HOSTILE[0] if hostile else "")
    return Finding(check=check, severity=info.severity, title=title, plane=info.plane, operation=operation,
                   topic=topic, attacker=attacker, victim=victim, relation=relation, evidence=evidence,
                   reproduction=f"iotvet retest --check {check} --at '{place}' --as {attacker}"
                   + ("\n# " + HOSTILE_TEXT if hostile else ""),
                   standards=list(info.standards), remediation=info.remediation)


GET_VEHICLE = Operation(method="GET", path="/v1/vehicles/{vin}")
POST_COMMAND = Operation(method="POST", path="/v1/vehicles/{vin}/commands")
GET_TRIPS = Operation(method="GET", path="/v1/vehicles/{vin}/trips")
TELEMETRY = "nordvik/YV9A1B2C3D4E5F601/telemetry"


def findings(hostile: bool = False) -> list[Finding]:
    """Four findings across planes and severities."""
    return [
        finding("api-bola-read", relation=Relation.OTHER_TENANT, attacker="ca-fleet-admin", victim="nv-fleet-admin",
                operation=GET_VEHICLE, hostile=hostile),
        finding("api-bola-write", relation=Relation.SAME_TENANT, attacker="nv-owner", victim="nv-fleet-admin",
                operation=POST_COMMAND, hostile=hostile),
        finding("api-bola-read", relation=Relation.SAME_GROUP, attacker="nv-driver", victim="nv-fleet-admin",
                operation=GET_TRIPS, hostile=hostile),
        finding("mq-xtenant-read", relation=Relation.OTHER_TENANT, attacker="ca-fleet-admin", victim="nv-fleet-admin",
                topic=TELEMETRY + ("/" + HOSTILE[0] + HOSTILE[8] + HOSTILE[12] if hostile else ""), hostile=hostile),
    ]


def cells(hostile: bool = False) -> list[Cell]:
    """The matrix behind :func:`findings`, plus enforced, inconclusive and not-tested cells."""
    reason = (" " + HOSTILE_TEXT) if hostile else ""
    out: list[Cell] = []
    for f in findings(hostile):
        assert f.relation is not None
        out.append(Cell(check=f.check, plane=f.plane, operation=f.operation, topic=f.topic, relation=f.relation,
                        verdict=Verdict.LEAK, reason="victim's object returned" + reason, attacker=f.attacker,
                        victim=f.victim))
    out += [
        Cell(check="api-bola-read", plane="http", operation=GET_VEHICLE, relation=Relation.SAME_GROUP,
             verdict=Verdict.ENFORCED, reason="403", attacker="nv-driver", victim="nv-fleet-admin"),
        Cell(check="api-bola-read", plane="http", operation=GET_VEHICLE, relation=Relation.ANONYMOUS,
             verdict=Verdict.ENFORCED, reason="401"),
        Cell(check="api-bola-read", plane="http", operation=GET_TRIPS, relation=Relation.OTHER_TENANT,
             verdict=Verdict.INCONCLUSIVE, reason="timeout" + reason, attacker="ca-fleet-admin",
             victim="nv-fleet-admin"),
        Cell(check="api-bola-read", plane="http", operation=GET_VEHICLE, relation=Relation.OTHER_TENANT_ADMIN,
             verdict=Verdict.NOT_TESTED, reason="no administrator identity in a second tenant"),
        Cell(check="api-bola-write", plane="http", operation=POST_COMMAND, relation=Relation.OTHER_TENANT,
             verdict=Verdict.ENFORCED, reason="404", attacker="ca-fleet-admin", victim="nv-fleet-admin"),
        Cell(check="api-unauth", plane="http", operation=GET_VEHICLE, relation=Relation.ANONYMOUS,
             verdict=Verdict.ENFORCED, reason="401"),
        Cell(check="api-unauth", plane="http", operation=GET_TRIPS, relation=Relation.ANONYMOUS,
             verdict=Verdict.NOT_TESTED, reason="skipped by plan"),
        Cell(check="mq-xtenant-read", plane="mqtt", topic="castellan/+/telemetry", relation=Relation.OTHER_TENANT,
             verdict=Verdict.INCONCLUSIVE, reason="broker closed the connection", attacker="nv-driver",
             victim="ca-fleet-admin"),
    ]
    return out


UNTESTED = [Untested(relation=Relation.OTHER_TENANT_ADMIN, reason="the plan has no administrator in a second tenant",
                     add="a tenant-admin identity in castellan (role: brand-admin)"),
            Untested(relation=Relation.DEVICE, reason="no identity carries device credentials",
                     add="an identity with mqtt device credentials for one of your test vehicles", plane="mqtt")]


def run_data(*, hostile: bool = False, status: RunStatus = RunStatus.COMPLETE, run_id: str = "r20261125T100000-abc123",
             drop: int = 0) -> RunData:
    """A complete :class:`RunData` (``drop`` leaves out the first N findings, for baselines)."""
    fs = findings(hostile)[drop:]
    cs = cells(hostile)
    info = RunInfo(id=run_id, started=STARTED, finished=STARTED + 754.2, status=status,
                   reason="" if status is RunStatus.COMPLETE else "max_requests (5000) spent",
                   plan_digest="sha256:" + "ab" * 32, plan_file="plans/nordvik.yaml",
                   target="https://api.nordvik.example" + (HOSTILE[0] + HOSTILE[8] if hostile else ""),
                   mode="safe-writes",
                   tool_version="0.1.0", budgets={"max_requests": 5000, "requests_used": 1873, "max_duration": 1800})
    stats = RunStats(exchanges=1873, sent=1860, errors={"timeout": 9, "out-of-scope": 4},
                     statuses={"200": 912, "403": 700, "404": 240}, mqtt_messages=212,
                     cells={v.value: sum(c.verdict is v for c in cs) for v in Verdict},
                     findings={s: sum(f.severity == s for f in fs) for s in {f.severity.value for f in fs}})
    return RunData(run=info, identities=IDENTITIES, findings=fs, cells=cs, untested=UNTESTED, stats=stats)
