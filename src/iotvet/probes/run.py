"""One probe run from a loaded plan: preflight, REST probe, evidence to the store.

The store is handed in as callbacks (cells, findings, exchanges), so this layer does not depend
on how evidence is kept. A run is *incomplete* when an identity is dead, a budget was spent or a
request was refused for scope: the exit code says so, and the report names why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from iotvet.api.fetch import transport_fetcher
from iotvet.api.har import har_secrets, load_har
from iotvet.api.model import ApiModel
from iotvet.api.openapi import load_openapi
from iotvet.api.postman import load_postman, postman_secrets
from iotvet.auth import Liveness, open_sessions
from iotvet.checks.registry import CATALOGUE
from iotvet.checks.rest_context import Journal, Restored
from iotvet.core.errors import UserError
from iotvet.core.ids import new_run_id
from iotvet.core.records import Cell, Finding
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan import LoadedPlan
from iotvet.probes.mqtt.engine import MqttRunSummary, probe_mqtt
from iotvet.probes.mqtt.flows import RestFlows
from iotvet.probes.rest.engine import RestSummary, probe_rest
from iotvet.transport import Governor, HttpTransport
from iotvet.transport.http import Exchange


@dataclass
class RunOutcome:
    """How a run ended."""

    rest: RestSummary | None = None
    mqtt: MqttRunSummary | None = None
    dead: list[Liveness] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    requests: int = 0


@dataclass
class Sinks:
    """Where a run's evidence goes."""

    cell: Callable[[Cell], object]
    finding: Callable[[Finding], object]
    exchange: Callable[[Exchange], object]
    progress: Callable[[str], None] = lambda _: None
    journal: Journal | None = None
    restored: Restored | None = None
    operation: Callable[[int, int, str], object] | None = None


async def run_probe(loaded: LoadedPlan, redactor: Redactor, sinks: Sinks, *, run_id: str | None = None,
                    only: set[str] | None = None, settled: set[tuple[str, str, str, str]] | None = None) -> RunOutcome:
    """Preflight every identity, then probe. Raises UserError for an unusable API description."""
    plan = loaded.plan
    outcome = RunOutcome()
    safety = plan.safety
    governor = Governor(rate=safety.rate, concurrency=safety.concurrency, max_requests=safety.max_requests,
                        max_duration=safety.max_duration)
    target = plan.target
    if target is not None and any(x is not None for x in (target.openapi, target.har, target.postman)):
        await _rest(loaded, redactor, sinks, governor, outcome, run_id=run_id, only=only, settled=settled)
    elif target is not None:
        outcome.incomplete.append("no API description in the plan: the REST probe needs target.openapi, "
                                  "target.har or target.postman")
    if plan.mqtt is not None and not outcome.dead and (only is None or any(_plane(c) == "mqtt" for c in only)):
        sinks.progress(f"probing the broker {plan.mqtt.url}")
        outcome.mqtt = await _mqtt(loaded, redactor, sinks, governor, run_id=run_id, settled=settled)
    outcome.requests = governor.usage.permits
    return outcome


async def _mqtt(loaded: LoadedPlan, redactor: Redactor, sinks: Sinks, governor: Governor, *, run_id: str | None,
                settled: set[tuple[str, str, str, str]] | None) -> MqttRunSummary:
    """The MQTT probe; with ``mqtt.revoke`` in intrusive mode, an HTTP transport runs the plan's flows for it."""
    plan = loaded.plan
    assert plan.mqtt is not None
    if not plan.mqtt.revoke or plan.safety.mode != "intrusive":
        return await probe_mqtt(loaded, governor, redactor, on_cell=sinks.cell, on_finding=sinks.finding,
                                settled=settled)
    target, safety = plan.target, plan.safety
    ca = loaded.resolve(target.ca).as_posix() if target is not None and target.ca else None
    async with HttpTransport(Scope(plan.scope.hosts), governor, run_id=run_id or new_run_id(),
                             request_timeout=safety.request_timeout, max_body=safety.max_body,
                             max_redirects=safety.max_redirects, ca=ca, proxy=target.proxy if target else None,
                             extra_headers=tuple(target.headers.items()) if target else ()) as http:
        http.listen(sinks.exchange)
        return await probe_mqtt(loaded, governor, redactor, on_cell=sinks.cell, on_finding=sinks.finding,
                                settled=settled, flows=RestFlows(loaded, http, redactor))


async def _rest(loaded: LoadedPlan, redactor: Redactor, sinks: Sinks, governor: Governor, outcome: RunOutcome, *,
                run_id: str | None, only: set[str] | None, settled: set[tuple[str, str, str, str]] | None) -> None:
    plan = loaded.plan
    assert plan.target is not None
    model = local_description(loaded, redactor)
    safety = plan.safety
    ca = loaded.resolve(plan.target.ca).as_posix() if plan.target.ca else None
    async with HttpTransport(Scope(plan.scope.hosts), governor, run_id=run_id or new_run_id(),
                             request_timeout=safety.request_timeout, max_body=safety.max_body,
                             max_redirects=safety.max_redirects, ca=ca, proxy=plan.target.proxy,
                             extra_headers=tuple(plan.target.headers.items())) as http:
        http.listen(sinks.exchange)
        if model is None:
            sinks.progress("reading the API description")
            source = plan.target.openapi or ""
            model = await load_openapi(source if "://" in source else str(loaded.resolve(source)),
                                       transport_fetcher(http))
        sinks.progress("logging every identity in")
        sessions = await open_sessions(loaded, http, redactor)
        lives = await asyncio.gather(*(s.verify() for name, s in sessions.items() if name != "anonymous"))
        outcome.dead = [life for life in lives if life.alive is False]
        if outcome.dead:
            outcome.incomplete.append("dead identities: " + ", ".join(d.identity for d in outcome.dead))
            return
        sinks.progress(f"probing {len(model.operations)} operations")
        outcome.rest = await probe_rest(plan, model, sessions, redactor, on_cell=sinks.cell,
                                        on_finding=sinks.finding, only=only, settled=settled,
                                        journal=sinks.journal, restored=sinks.restored,
                                        on_operation=sinks.operation)
        errors = http.stats.errors
        for kind, why in (("budget-exhausted", "max_requests was spent"), ("deadline", "max_duration was spent"),
                          ("out-of-scope", "requests outside scope were refused")):
            if errors.get(kind):
                outcome.incomplete.append(f"{why} ({errors[kind]} requests not sent)")


def _plane(check_id: str) -> str | None:
    info = CATALOGUE.get(check_id)
    return info.plane if info else None


def local_description(loaded: LoadedPlan, redactor: Redactor) -> ApiModel | None:
    """The API model of a plan's HAR or Postman file (read locally, relative to the plan's folder), or None.

    The file's tokens, cookies and passwords are taught to ``redactor`` before anything is logged
    or sent. Raises UserError for a malformed file.
    """
    target = loaded.plan.target
    if target is None:
        return None
    for source, load, secrets in ((target.har, load_har, har_secrets), (target.postman, load_postman, postman_secrets)):
        if source is not None:
            path = str(loaded.resolve(source))
            for label, value in secrets(path):
                redactor.add(value, label)
            return load(path, target.base_url)
    return None


__all__ = ["RunOutcome", "Sinks", "UserError", "local_description", "run_probe"]
