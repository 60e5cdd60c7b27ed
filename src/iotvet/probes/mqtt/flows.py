"""Plan flows run over HTTP for the MQTT probe: the revocation ``mq-stale-authz`` needs, and its inverse.

The MQTT engine does not speak HTTP itself. Whoever starts it from a plan (``iotvet.probes.run``)
hands it a :class:`RestFlows`: an identity's :class:`~iotvet.auth.session.Session` sends each step
of a named flow (logging in first, once, like every REST request), with ``{device}``, ``{tenant}``
and ``{user}`` filled from the ``mqtt.revoke`` entry. A flow succeeded when every step answered 2xx.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from iotvet.auth.session import Session
from iotvet.core.records import Evidence, HttpEvidence
from iotvet.core.redact import Redactor
from iotvet.plan.loader import LoadedPlan
from iotvet.plan.schema import RequestSpec
from iotvet.transport.http import HttpTransport


@dataclass(frozen=True)
class FlowResult:
    """How one flow went: every step 2xx, or why not; one evidence item per step sent."""

    ok: bool
    detail: str
    evidence: list[Evidence] = field(default_factory=list)


class FlowRunner(Protocol):
    """Runs the plan flow ``flow`` as identity ``runner`` with ``values`` for its placeholders."""

    async def __call__(self, runner: str, flow: str, values: Mapping[str, str]) -> FlowResult: ...


def fill(value: Any, values: Mapping[str, str]) -> Any:
    """``value`` with every ``{name}`` of ``values`` replaced, in strings, lists and mappings alike."""
    if isinstance(value, str):
        for name, text in values.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    return value


class RestFlows:
    """Plan flows sent through the REST sessions of plan identities (one session per identity, kept)."""

    def __init__(self, loaded: LoadedPlan, http: HttpTransport, redactor: Redactor) -> None:
        self.loaded = loaded
        self.http = http
        self.redactor = redactor
        self.sessions: dict[str, Session] = {}

    def session(self, name: str) -> Session:
        """The REST session of identity ``name`` (created on first use)."""
        if name not in self.sessions:
            self.sessions[name] = Session(self.loaded.plan.identity(name), self.loaded, self.http, self.redactor)
        return self.sessions[name]

    async def __call__(self, runner: str, flow: str, values: Mapping[str, str]) -> FlowResult:
        steps = self.loaded.plan.flows[flow]
        session = self.session(runner)
        evidence: list[Evidence] = []
        for step in steps if isinstance(steps, list) else [steps]:
            spec = RequestSpec.model_validate(fill(step.model_dump(by_alias=True), values))
            exchange = await session.request(spec.method, spec.path, json_body=spec.json_body, form=spec.form,
                                             headers=dict(spec.headers), query=dict(spec.query),
                                             purpose=f"flow {flow}")
            status = exchange.response.status if exchange.response is not None else None
            url = self.redactor.text(exchange.request.url)
            said = f"{spec.method} {url} -> {status if status is not None else exchange.error}"
            evidence.append(Evidence(summary=self.redactor.text(f"{runner} ran flow {flow}: {said}"),
                                     http=HttpEvidence(method=spec.method, url=url, status=status,
                                                       exchange_id=exchange.id)))
            if status is None or not 200 <= status < 300:
                return FlowResult(False, self.redactor.text(f"flow {flow}: {said}"), evidence)
        return FlowResult(True, f"flow {flow} answered 2xx", evidence)
