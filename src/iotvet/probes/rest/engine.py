"""The REST probe: discover, plan the cells of every operation, run the registered checks.

Cells are planned from what each operation is: a parameterless read (anonymous access only), an
object operation (ids the API listed to identities: object-level classes), or a scope operation
(ids from an identity's own profile, such as its customer or brand: function-level classes).
Checks run one operation at a time, in the description's order, so runs are repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import iotvet.checks.rest_lifecycle  # registers the lifecycle checks
import iotvet.checks.rest_mass  # noqa: F401 - registers api-mass-assign
from iotvet.api.model import ApiModel, ApiOperation
from iotvet.auth.session import Session
from iotvet.checks import (
    rest_input,  # noqa: F401 - registers api-input-validation
    rest_login,  # noqa: F401 - registers auth-user-enum and auth-no-throttle
    rest_routes,  # noqa: F401 - registers api-hidden-route
    rest_tokens,  # noqa: F401 - registers the token checks
)
from iotvet.checks.registry import registry
from iotvet.checks.relations import missing_advice
from iotvet.checks.rest_context import Inventory, Journal, RestContext, Restored
from iotvet.checks.rest_pairs import pairs_for
from iotvet.checks.rest_reads import tenant_params  # importing it registers the read and write checks
from iotvet.core.records import Cell, Finding, Relation, Verdict
from iotvet.core.redact import Redactor
from iotvet.plan.schema import Plan
from iotvet.probes.rest.discovery import discover
from iotvet.probes.rest.opinions import second_opinions
from iotvet.probes.rest.producers import produce

OBJECT_RELATIONS = (Relation.SAME_GROUP, Relation.SAME_TENANT, Relation.OTHER_TENANT, Relation.OTHER_TENANT_ADMIN,
                    Relation.DEVICE)


@dataclass
class RestSummary:
    """Counts of a REST probe run."""

    cells: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)
    findings: int = 0
    untested: dict[str, str] = field(default_factory=dict)

    @property
    def decided_share(self) -> float:
        """Decided cells (enforced or leak) among tested ones (not-tested excluded)."""
        tested = self.cells - self.by_verdict.get("not-tested", 0)
        decided = self.by_verdict.get("enforced", 0) + self.by_verdict.get("leak", 0)
        return decided / tested if tested else 1.0


def op_kind(inventory: Inventory, op: ApiOperation, aliases: dict[str, str] | None = None) -> str:
    """singleton, object, scope, or unknown (no identity knows a value for its parameters)."""
    if not op.path_params:
        return "singleton"
    kinds = set()
    aliases = aliases or {}
    for who in sorted(inventory.objects):
        resolved = [inventory.candidates(who, p, op.param_resource(p), aliases.get(p)) for p in op.path_params]
        if all(vals for vals, _ in resolved):
            kinds.add("scope" if any(prof for _, prof in resolved) else "object")
    return "scope" if "scope" in kinds else ("object" if kinds else "unknown")


def plan_cells(op: ApiOperation, kind: str, tenant_header: bool) -> list[tuple[str, Relation]]:
    """(check, relation) pairs to decide for one operation."""
    writes = op.method in ("POST", "PUT", "PATCH", "DELETE")
    out: list[tuple[str, Relation]] = []
    if kind == "singleton":
        if op.method == "GET":
            out.append(("api-unauth", Relation.ANONYMOUS))
        if op.method in ("PATCH", "PUT"):
            out.append(("api-mass-assign", Relation.SELF))
        return out
    if kind in ("object", "unknown"):
        check = "api-bola-write" if writes else "api-bola-read"
        out += [(check, r) for r in OBJECT_RELATIONS]
        out.append(("api-unauth", Relation.ANONYMOUS))
        if tenant_header and not writes:
            out.append(("api-xbrand-token", Relation.OTHER_TENANT))
        if op.method in ("PATCH", "PUT"):
            out.append(("api-mass-assign", Relation.SELF))
        return out
    return [("api-bfla", Relation.LOWER_ROLE), ("api-xtenant-admin", Relation.OTHER_TENANT_ADMIN),
            ("api-unauth", Relation.ANONYMOUS)]


async def probe_rest(plan: Plan, model: ApiModel, sessions: dict[str, Session], redactor: Redactor, *,
                     on_cell: Callable[[Cell], object], on_finding: Callable[[Finding], object],
                     only: set[str] | None = None, settled: set[tuple[str, str, str, str]] | None = None,
                     journal: Journal | None = None, restored: Restored | None = None,
                     on_operation: Callable[[int, int, str], object] | None = None) -> RestSummary:
    """Run the REST checks (all, or ``only`` these ids) and report every cell and finding.

    Per-cell checks run operation by operation; then each run-once check (tokens, lifecycle
    flows, routes, input generation) runs with the context and decides its own cells.

    ``settled`` cells (check, plane, place, relation) are skipped: a resumed run decides them once.
    Writes are journaled through ``journal`` before they are sent, and settled through ``restored``.
    """
    summary = RestSummary()

    def decide(cell: Cell, finding: Finding | None) -> None:
        summary.cells += 1
        summary.by_verdict[cell.verdict.value] = summary.by_verdict.get(cell.verdict.value, 0) + 1
        on_cell(cell)
        if finding is not None:
            summary.findings += 1
            on_finding(finding)

    inventory = await discover(model, sessions)
    ctx = RestContext(plan=plan, model=model, sessions=sessions, inventory=inventory, redactor=redactor,
                      decide=decide, journal=journal, restored=restored, settled=settled, only=only)
    await produce(ctx, [op for op in model.operations if op_kind(inventory, op, model.aliases(op)) == "unknown"])
    done = settled or set()
    for index, op in enumerate(model.operations):
        if on_operation is not None:
            on_operation(index, len(model.operations), op.key)
        kind = op_kind(inventory, op, model.aliases(op))
        by_host = bool(plan.target and plan.target.tenant_hosts)
        pending: list[tuple[Cell, Finding | None]] = []
        with ctx.capture(pending):
            for check, relation in plan_cells(op, kind, bool(tenant_params(op)) or by_host):
                if (only is not None and check not in only) or (check, "http", op.key, relation.value) in done:
                    continue
                if kind == "unknown":
                    names = ", ".join(op.path_params)
                    ctx.decide(ctx.cell(check, op, relation, Verdict.NOT_TESTED,
                                        f"no identity was shown a value for {names}"))
                    continue
                await registry.get(check).func(ctx, op, relation)
        keys = [(cell.check, cell.relation) for cell, _ in pending]
        decided = {key: made for key, made in zip(keys, pending, strict=True) if keys.count(key) == 1}

        async def again(check: str, relation: Relation, op: ApiOperation = op) -> None:
            await registry.get(check).func(ctx, op, relation)

        await second_opinions(ctx, op, decided, again)
        for key, made in zip(keys, pending, strict=True):
            decide(*decided.get(key, made))
    for once in registry.run_once("http"):
        if only is None or once.info.id in only:
            if on_operation is not None:
                on_operation(len(model.operations), len(model.operations), once.info.id)
            await once.func(ctx)
    covered = {r for r in Relation if pairs_for(ctx, r)} | {Relation.ANONYMOUS}
    summary.untested = {r.value: advice for r, advice in missing_advice(plan.identities, covered).items()}
    return summary
