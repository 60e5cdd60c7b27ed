"""``iotvet validate --online``: fetch the API description and log every identity in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from iotvet.api.fetch import transport_fetcher
from iotvet.api.model import ApiModel
from iotvet.api.openapi import load_openapi
from iotvet.auth import Liveness, open_sessions
from iotvet.core.errors import TargetError, UserError
from iotvet.core.ids import new_run_id
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan import LoadedPlan
from iotvet.probes.run import local_description
from iotvet.transport import Governor, HttpTransport
from iotvet.transport.mqtt import MQTT_5, MQTT_311, Credentials, Endpoint, connect_check


@dataclass
class OnlineReport:
    """What the online check found."""

    rows: list[Liveness] = field(default_factory=list)
    spec_problem: str | None = None

    @property
    def incomplete(self) -> bool:
        """True when an identity is dead or the spec could not be had."""
        return self.spec_problem is not None or any(r.alive is False for r in self.rows)


async def check_online(loaded: LoadedPlan, redactor: Redactor) -> OnlineReport:
    """Fetch the spec (within scope) and verify every identity; never raises for target behaviour."""
    plan = loaded.plan
    report = OnlineReport()
    governor = Governor(rate=plan.safety.rate, concurrency=plan.safety.concurrency,
                        max_requests=plan.safety.max_requests, max_duration=plan.safety.max_duration)
    target = plan.target
    ca = loaded.resolve(target.ca).as_posix() if target and target.ca else None
    async with HttpTransport(Scope(plan.scope.hosts), governor, run_id=new_run_id(),
                             request_timeout=plan.safety.request_timeout, max_body=max(plan.safety.max_body, 8 << 20),
                             ca=ca, proxy=target.proxy if target else None,
                             extra_headers=tuple(target.headers.items()) if target else ()) as http:
        if target is not None:
            model: ApiModel | None
            try:
                if target.openapi is not None:
                    source = target.openapi
                    model = await load_openapi(source if "://" in source else str(loaded.resolve(source)),
                                               transport_fetcher(http))
                else:
                    model = local_description(loaded, redactor)
                if model is not None and not model.operations:
                    report.spec_problem = "the API description has no operation under target.base_url"
            except UserError as exc:
                report.spec_problem = str(exc)
        sessions = await open_sessions(loaded, http, redactor)
        named = [s for name, s in sessions.items() if name != "anonymous"]
        by_name = {r.identity: r for r in await asyncio.gather(*(s.verify() for s in named))}
    if plan.mqtt is not None:
        mqtt_rows = await asyncio.gather(*(_mqtt_liveness(loaded, ident.name, governor)
                                           for ident in plan.identities if ident.mqtt is not None))
        for row in mqtt_rows:
            by_name[row.identity] = _combine(by_name.get(row.identity), row)
    report.rows = [by_name[i.name] for i in plan.identities if i.name in by_name]
    return report


def _combine(http: Liveness | None, mqtt: Liveness) -> Liveness:
    if http is None:
        return mqtt
    alive = False if False in (http.alive, mqtt.alive) else (None if None in (http.alive, mqtt.alive) else True)
    return Liveness(http.identity, alive, f"http: {http.reason}; mqtt: {mqtt.reason}")


async def _mqtt_liveness(loaded: LoadedPlan, name: str, governor: Governor) -> Liveness:
    plan = loaded.plan
    assert plan.mqtt is not None
    creds_plan = plan.identity(name).mqtt
    assert creds_plan is not None
    creds = Credentials(
        username=creds_plan.username,
        password=creds_plan.password.get_secret_value() if creds_plan.password else None,
        client_id=f"{creds_plan.client_id or name}-iotvet-check" if creds_plan.client_id else None,
        cert=loaded.resolve(creds_plan.cert).as_posix() if creds_plan.cert else None,
        key=loaded.resolve(creds_plan.key).as_posix() if creds_plan.key else None,
    )
    ca = loaded.resolve(plan.mqtt.ca).as_posix() if plan.mqtt.ca else None
    try:
        refused = await connect_check(Endpoint.parse(plan.mqtt.url), creds, scope=Scope(plan.scope.hosts),
                                      governor=governor, ca=ca, timeout=plan.safety.request_timeout,
                                      protocol=MQTT_5 if plan.mqtt.protocol == "5" else MQTT_311)
    except TargetError as exc:
        return Liveness(name, False, f"broker {plan.mqtt.url}: {exc}")
    if refused:
        return Liveness(name, False, refused)
    return Liveness(name, True, f"broker {plan.mqtt.url} accepted the login")
