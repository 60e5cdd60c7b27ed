"""``iotvet probe --dry-run``: what a REST probe would send, against the plan's budgets, without sending it.

The engine adapts to what discovery finds, so the plan here is an upper bound per operation: every
planned cell at its most expensive (reads: the attacker's request plus the victim's view; writes:
the attacker's write, the victim's read-back and a restore, plus a positive control per operation).

Then one entry per run-once check (token forgery, logins, route discovery, input generation,
lifecycle flows) with the bound it registers (:class:`~iotvet.checks.registry.RunBound`: its
logins included, 429/503 retries not), or why this plan's mode, identities or flows leave it
silent; setup several of them share (the token bench, device listings) is one entry, counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iotvet.api.model import ApiModel
from iotvet.checks.registry import RUN_ONCE, registry
from iotvet.checks.relations import is_admin
from iotvet.checks.rest_reads import tenant_params
from iotvet.plan.schema import LoginAuth, OAuth2Auth, Plan
from iotvet.probes.rest.discovery import listing_ops
from iotvet.probes.rest.engine import plan_cells

READ_COST = 2
WRITE_COST = 3
CONTROL_COST = 3


@dataclass
class PlannedCell:
    """One cell the probe would decide, and what deciding it may send at most."""

    operation: str
    check: str
    relation: str
    writes: bool
    requests: int
    write_requests: int | None = None
    """How many of ``requests`` write, when not all of them do (run-once checks)."""


@dataclass
class DryRun:
    """The whole plan of a run."""

    setup: dict[str, int] = field(default_factory=dict)
    cells: list[PlannedCell] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unbounded: list[str] = field(default_factory=list)
    """Run-once checks that register no bound: not counted, so the totals do not cover them."""

    @property
    def requests(self) -> int:
        """Upper bound of requests, setup included."""
        return sum(self.setup.values()) + sum(c.requests for c in self.cells)

    @property
    def writes(self) -> int:
        """Upper bound of write requests."""
        return sum(c.requests if c.write_requests is None else c.write_requests for c in self.cells if c.writes)


def dry_run(plan: Plan, model: ApiModel) -> DryRun:
    """Plan every cell of every operation as the engine would, with its worst-case cost."""
    out = DryRun()
    people = plan.identities
    http_people = [i for i in people if i.auth is not None]
    out.setup["logins"] = sum(isinstance(i.auth, LoginAuth | OAuth2Auth) for i in http_people)
    out.setup["verify requests"] = sum(i.verify is not None for i in http_people)
    out.setup["discovery (listing operations x identities and anonymous)"] = (
        len(listing_ops(model)) * (len(http_people) + 1))
    writes_allowed = plan.safety.mode != "read-only"
    has_admin = any(is_admin(i) for i in http_people)
    for op in model.operations:
        kind = "singleton" if not op.path_params else ("scope" if has_admin and _scopeish(op.path) else "object")
        controls = 0
        by_host = bool(plan.target and plan.target.tenant_hosts)
        for check, relation in plan_cells(op, kind, bool(tenant_params(op)) or by_host):
            writes = op.is_write
            if writes and not writes_allowed:
                out.skipped.append((f"{op.key} {check} {relation.value}", "read-only mode sends no write"))
                continue
            if writes and op.method == "DELETE" and plan.safety.mode != "intrusive":
                out.skipped.append((f"{op.key} {check} {relation.value}", "deletes run only in intrusive mode"))
                continue
            cost = WRITE_COST if writes else READ_COST
            if writes and not controls:
                cost += CONTROL_COST
                controls = 1
            out.cells.append(PlannedCell(op.key, check, relation.value, writes, cost))
    plan_run_once(plan, model, out)
    return out


def plan_run_once(plan: Plan, model: ApiModel, out: DryRun) -> None:
    """An entry per run-once REST check (its own part), one per shared setup, or why the check sends nothing."""
    shared: dict[str, tuple[int, int]] = {}
    for check in registry.run_once("http"):
        if check.bound is None:
            out.unbounded.append(check.info.id)
            continue
        bound = check.bound(plan, model)
        if bound.skip is not None:
            out.skipped.append((f"{bound.place} {check.info.id} {RUN_ONCE}", bound.skip))
            continue
        requests = bound.requests - sum(r for _, r, _ in bound.shared)
        writes = bound.writes - sum(w for _, _, w in bound.shared)
        out.cells.append(PlannedCell(bound.place, check.info.id, RUN_ONCE, writes > 0, requests, writes))
        for name, r, w in bound.shared:
            shared[name] = max(shared.get(name, (0, 0)), (r, w))
    for name, (r, w) in shared.items():
        out.cells.append(PlannedCell(RUN_ONCE, name, "(shared setup)", w > 0, r, w))


def _scopeish(path: str) -> bool:
    first = path.strip("/").split("/")[0].lower()
    return first in ("admin", "ops", "customers", "tenants", "brands", "orgs", "organizations", "accounts")
