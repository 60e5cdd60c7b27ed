"""What REST checks work with: the inventory discovery built, and a context that does their I/O.

Checks never open sockets: they call :meth:`RestContext.call` (an identity's session, hence
scope, budgets and redaction) and report cells through :meth:`RestContext.decide`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.auth.session import Session
from iotvet.checks.oracle import values
from iotvet.checks.registry import CATALOGUE
from iotvet.core.records import Cell, Evidence, Finding, HttpEvidence, Operation, Relation, Verdict
from iotvet.core.redact import Redactor
from iotvet.plan.schema import Identity, Plan
from iotvet.transport.http import Exchange

EVIDENCE_BODY = 2048
Params = dict[str, str]


def norm(name: str) -> str:
    """Field and parameter names compared loosely: ``customer_id`` == ``customerId`` == ``CustomerID``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class View:
    """One answer to one request, with the distinctive values it holds."""

    exchange: Exchange

    @property
    def status(self) -> int | None:
        """HTTP status, or None when no answer came."""
        return self.exchange.response.status if self.exchange.response else None

    @property
    def json(self) -> Any:
        """The JSON body, or None."""
        return self.exchange.response.json() if self.exchange.response else None

    @property
    def ok(self) -> bool:
        """A complete 2xx answer."""
        return self.exchange.ok and self.status is not None and 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body as text ('' without an answer)."""
        return self.exchange.response.text if self.exchange.response else ""

    @property
    def unusable(self) -> str | None:
        """Why this answer cannot be judged (no answer, cut off, redirected), or None."""
        ex = self.exchange
        if ex.response is None or ex.error is not None:
            return f"no usable answer: {ex.error}"
        if 300 <= ex.response.status < 400:
            where = self.redact_location(ex.response.header("Location") or "")
            return f"redirected (HTTP {ex.response.status}) to {where or 'nowhere'}; redirects are not followed"
        if ex.response.status == 429:
            return "rate-limited by the target (HTTP 429)"
        return None

    @staticmethod
    def redact_location(location: str) -> str:
        """A Location header shortened for a reason line (target data: kept short, one line)."""
        return location.replace("\n", " ")[:120]

    def values(self) -> set[str]:
        """Distinctive values of a 2xx JSON answer (nothing for errors)."""
        return values([self.json]) if self.ok else set()


@dataclass
class Inventory:
    """What discovery learned, per identity, from its own legitimate requests."""

    seen: dict[str, set[str]] = field(default_factory=dict)
    profile: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    objects: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    by_resource: dict[str, dict[str, dict[str, set[str]]]] = field(default_factory=dict)
    """identity -> listed resource (``vehicles``) -> field -> values, for parameters named unlike any field."""
    public: set[str] = field(default_factory=set)

    def candidates(self, who: str, param: str, resource: str = "", alias: str | None = None,
                   ) -> tuple[list[str], bool]:
        """Values ``who`` saw for a parameter; True when they come from its profile (a scope parameter)."""
        key = norm(param)
        prof = self.profile.get(who, {}).get(key, set())
        if prof:
            return sorted(prof), True
        objs = self.objects.get(who, {})
        found = set(objs.get(key, set()))
        if not found and key.endswith("id") and len(key) > 2:
            found = set(objs.get(key[:-2], set()))
        if not found and alias:
            found = set(objs.get(norm(alias), set()))  # an OpenAPI link names the field that feeds it
        if not found and resource:
            # /vehicles/{vehicle_id} where the listing calls it "id" (or "vehicleId"): the listed resource's id.
            listed = self.by_resource.get(who, {}).get(norm(resource), {})
            singular = norm(resource).rstrip("s")
            for name in ("id", f"{singular}id", f"{norm(resource)}id"):
                if listed.get(name):
                    found = set(listed[name])
                    break
        return sorted(found), False

    def visible(self, who: str, param: str, value: str) -> bool:
        """True when ``who`` legitimately saw ``value`` for this parameter."""
        key = norm(param)
        return any(value in vals for name, vals in {**self.objects.get(who, {}), **self.profile.get(who, {})}.items()
                   if name in (key, key[:-2] if key.endswith("id") else key))


Decide = Callable[[Cell, Finding | None], None]
Journal = Callable[[str, str, str | None, Any, Any], int]
"""(method, url, identity that can undo it, original state, what is written) -> journal sequence number."""
Restored = Callable[[int, str | None], object]


class RestContext:
    """The I/O and bookkeeping checks share during one REST probe."""

    def __init__(self, *, plan: Plan, model: ApiModel, sessions: dict[str, Session], inventory: Inventory,
                 redactor: Redactor, decide: Decide, journal: Journal | None = None,
                 restored: Restored | None = None, settled: set[tuple[str, str, str, str]] | None = None,
                 only: set[str] | None = None) -> None:
        self.plan = plan
        self.model = model
        self.sessions = sessions
        self.inventory = inventory
        self.redactor = redactor
        self._decide = decide
        self._journal = journal
        self._restored = restored
        self._settled = settled or set()
        self._only = only
        self._views: dict[tuple[str, str, str], View] = {}
        self.memo: dict[Any, object] = {}  # per-run results checks share (positive controls ...)
        self.identities = {i.name: i for i in plan.identities if i.name in sessions}

    @property
    def mode(self) -> str:
        """read-only, safe-writes or intrusive."""
        return self.plan.safety.mode

    def wanted(self, check: str, op: ApiOperation, relation: Relation) -> bool:
        """True unless ``--checks`` excludes the check or a resumed run already decided this cell."""
        if self._only is not None and check not in self._only:
            return False
        return (check, "http", op.key, relation.value) not in self._settled

    def identity(self, name: str | None) -> Identity | None:
        """The plan identity called ``name`` (None for anonymous)."""
        return self.identities.get(name) if name else None

    async def call(self, who: str | None, op: ApiOperation, params: Params, *, body: Any = None,
                   headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
                   purpose: str = "", cache: bool = False) -> View:
        """Send ``op`` with ``params`` as ``who`` (None: anonymous) and return the answer."""
        session = self.sessions[who or "anonymous"]
        path = op.fill(params)
        key = (who or "anonymous", op.method, path)
        if cache and key in self._views and not headers and not query:
            return self._views[key]
        exchange = await session.request(op.method, path, json_body=body, headers=headers, query=query,
                                         purpose=purpose)
        view = View(exchange)
        if cache and not headers and not query:
            self._views[key] = view
        return view

    async def write(self, who: str | None, op: ApiOperation, params: Params, *, body: Any, owner: str,
                    original: Any, purpose: str) -> tuple[View, int | None]:
        """Journal a write (before it is sent), then send it. ``owner`` is who can undo it."""
        seq = None
        if self._journal is not None:
            url = self.sessions["anonymous"].base_url + op.fill(params)
            seq = self._journal(op.method, url, owner, original, body)
        return await self.call(who, op, params, body=body, purpose=purpose), seq

    def settle(self, seq: int | None, error: str | None = None) -> None:
        """A journaled write is undone (or had nothing to undo), or could not be: say so."""
        if seq is not None and self._restored is not None:
            self._restored(seq, error)

    def policy_allows(self, op: ApiOperation, relation: Relation) -> str | None:
        """Why the plan's policy makes this access intended, or None."""
        for entry in self.plan.policy:
            if entry.operation is not None and entry.operation.split(" ", 1) == [op.method, op.path]:
                if entry.public:
                    return f"public by design (policy: {entry.operation})"
                if relation in entry.visible_to:
                    return f"intended for {relation.value} (policy: {entry.operation})"
            if entry.resource is not None and norm(entry.resource) == norm(op.resource):
                if entry.public:
                    return f"public by design (policy: resource {entry.resource})"
                if relation in entry.visible_to:
                    return f"intended for {relation.value} (policy: resource {entry.resource})"
        return None

    def cell(self, check: str, op: ApiOperation, relation: Relation, verdict: Verdict, reason: str,
             attacker: str | None = None, victim: str | None = None) -> Cell:
        """A cell record for ``op``."""
        return Cell(check=check, plane="http", operation=Operation(method=op.method, path=op.path),
                    relation=relation, verdict=verdict, reason=reason, attacker=attacker, victim=victim)

    def decide(self, cell: Cell, finding: Finding | None = None) -> None:
        """Report a decided (or undecidable) cell, with its finding when it leaks."""
        self._decide(cell, finding)

    @contextmanager
    def capture(self, into: list[tuple[Cell, Finding | None]]) -> Iterator[None]:
        """Collect decisions in ``into`` instead of reporting them (the engine reviews an operation's cells)."""
        saved = self._decide
        self._decide = lambda cell, finding: into.append((cell, finding))
        try:
            yield
        finally:
            self._decide = saved

    def finding(self, cell: Cell, summary: str, views: list[tuple[str, View]]) -> Finding:
        """The finding for a leaking cell, with redacted evidence and a curl reproduction."""
        info = CATALOGUE[cell.check]
        evidence = [Evidence(summary=self.redactor.text(summary))]
        evidence += [Evidence(summary=self.redactor.text(label), http=self.http_evidence(view))
                     for label, view in views]
        attack = views[0][1].exchange
        return Finding(check=cell.check, severity=info.severity, title=info.title, plane="http",
                       operation=cell.operation, attacker=cell.attacker, victim=cell.victim, relation=cell.relation,
                       evidence=evidence, reproduction=self.curl(attack), standards=list(info.standards),
                       remediation=info.remediation)

    def http_evidence(self, view: View) -> HttpEvidence:
        """An exchange as redacted, capped evidence."""
        ex, red = view.exchange, self.redactor
        resp = ex.response
        body = resp.text if resp else None
        return HttpEvidence(
            method=ex.request.method, url=red.text(ex.request.url), status=resp.status if resp else None,
            request_headers={k: red.text(v) for k, v in ex.request.headers},
            request_body=red.text(ex.request.body.decode("utf-8", "replace")) if ex.request.body else None,
            response_headers={k: red.text(v) for k, v in resp.headers} if resp else {},
            response_body=red.text(body[:EVIDENCE_BODY]) if body is not None else None,
            truncated=bool(resp and (resp.truncated or len(body or "") > EVIDENCE_BODY)), exchange_id=ex.id,
        )

    def curl(self, exchange: Exchange) -> str:
        """A curl command that repeats the exchange, credentials replaced by their redaction labels."""
        req = exchange.request
        parts = ["curl", "-sk", "-X", req.method]
        for name, value in req.headers:
            parts += ["-H", f"{name}: {value}"]
        if req.body:
            parts += ["--data-binary", req.body.decode("utf-8", "replace")]
        parts.append(req.url)
        return self.redactor.text(shlex.join(parts))
