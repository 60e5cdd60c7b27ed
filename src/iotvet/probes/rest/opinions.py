"""Second opinions: more attacker-victim pairs only where one operation's verdicts disagree.

Each cell is decided with one representative pair of its relation class, so requests grow with
the API, not with the plan's identities. One pattern says a single pair may have misled us: an
object leaks to a *farther* relation (another tenant) while a *nearer* one (same tenant, same
group) is enforced. Code that fails to check the tenant rarely checks the customer, so the
enforced cell is decided again with the next pairs of its class. If one of them leaks, the leak
is what the operation does for some objects and is reported; if none does, the first verdict
stands and its reason says how many pairs agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from iotvet.api.model import ApiOperation
from iotvet.checks.rest_context import RestContext
from iotvet.core.records import Cell, Finding, Relation, Verdict

NEARNESS = (Relation.SAME_GROUP, Relation.SAME_TENANT, Relation.OTHER_TENANT)
"""Object relations from nearest to farthest from the victim."""
EXTRA_PAIRS = 2
OBJECT_CHECKS = ("api-bola-read", "api-bola-write")

Decided = dict[tuple[str, Relation], tuple[Cell, Finding | None]]
RunCell = Callable[[str, Relation], Awaitable[None]]


def disagreements(decided: Decided) -> list[tuple[str, Relation]]:
    """Enforced cells nearer to the victim than a leaking cell of the same check, in a fixed order."""
    out: list[tuple[str, Relation]] = []
    for check in OBJECT_CHECKS:
        verdicts = {rel: decided[(check, rel)][0].verdict for rel in NEARNESS if (check, rel) in decided}
        for i, near in enumerate(NEARNESS):
            farther_leaks = any(verdicts.get(far) is Verdict.LEAK for far in NEARNESS[i + 1:])
            if verdicts.get(near) is Verdict.ENFORCED and farther_leaks:
                out.append((check, near))
    return out


async def second_opinions(ctx: RestContext, op: ApiOperation, decided: Decided, run_cell: RunCell) -> None:
    """Re-decide each disagreeing cell with up to EXTRA_PAIRS further pairs; keep a leak if one shows."""
    for check, relation in disagreements(decided):
        first = decided[(check, relation)]
        agreeing = 1
        for skip in range(1, EXTRA_PAIRS + 1):
            ctx.memo[("skip-pairs", op.key, relation)] = skip
            outcome: list[tuple[Cell, Finding | None]] = []
            with ctx.capture(outcome):
                await run_cell(check, relation)
            ctx.memo.pop(("skip-pairs", op.key, relation), None)
            if not outcome:
                break
            cell, finding = outcome[-1]
            if cell.verdict is Verdict.LEAK:
                reason = f"{cell.reason}; pair {skip + 1} of this class leaked after {agreeing} enforced"
                decided[(check, relation)] = (cell.model_copy(update={"reason": reason}), finding)
                break
            if cell.verdict is not Verdict.ENFORCED:
                break  # no further usable pair, or an undecidable one: the first verdict stands
            agreeing += 1
        if decided[(check, relation)] is first and agreeing > 1:
            cell, finding = first
            reason = f"{cell.reason}; {agreeing} pairs of this class agree"
            decided[(check, relation)] = (cell.model_copy(update={"reason": reason}), finding)
