"""``iotvet validate --online``: fetch the API description and log every identity in."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import yaml

from iotvet.auth import Liveness, open_sessions
from iotvet.core.ids import new_run_id
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan import LoadedPlan
from iotvet.transport import Governor, HttpTransport, Request


@dataclass
class OnlineReport:
    """What the online check found."""

    rows: list[Liveness] = field(default_factory=list)
    spec_problem: str | None = None

    @property
    def incomplete(self) -> bool:
        """True when an identity is dead or the spec could not be had."""
        return self.spec_problem is not None or any(r.alive is False for r in self.rows)


def _spec_problem(text: str, kind: str) -> str | None:
    try:
        doc = json.loads(text) if kind != "openapi" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return f"the {kind} document is not valid {'JSON' if kind != 'openapi' else 'JSON or YAML'}"
    if kind == "openapi" and not (isinstance(doc, dict) and ("openapi" in doc or "swagger" in doc)):
        return "the document has no openapi or swagger version key"
    if kind == "har" and not (isinstance(doc, dict) and isinstance(doc.get("log"), dict)):
        return "the HAR file has no log object"
    return None


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
            for kind in ("openapi", "har", "postman"):
                source = getattr(target, kind)
                if source is None:
                    continue
                if "://" in source:
                    exchange = await http.send(Request("GET", source, purpose="spec"))
                    if exchange.response is None or exchange.error is not None:
                        report.spec_problem = f"fetching {source}: {exchange.error}"
                    elif exchange.response.status != 200:
                        report.spec_problem = f"fetching {source}: HTTP {exchange.response.status}"
                    else:
                        report.spec_problem = _spec_problem(exchange.response.text, kind)
                else:
                    report.spec_problem = _spec_problem(loaded.resolve(source).read_text(errors="replace"), kind)
        sessions = await open_sessions(loaded, http, redactor)
        named = [s for name, s in sessions.items() if name != "anonymous"]
        report.rows = list(await asyncio.gather(*(s.verify() for s in named)))
    http_names = {r.identity for r in report.rows}
    for ident in plan.identities:
        if ident.name not in http_names:
            report.rows.append(Liveness(ident.name, None, "MQTT-only identity: verified when the MQTT probe connects"))
    return report
