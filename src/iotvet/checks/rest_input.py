"""api-input-validation (EN 303 645 5.13-1): malformed and boundary inputs, on one identity's own objects.

One identity sends everything: a ``sacrificial`` one when the plan has one that owns objects
(whatever a crash breaks is throwaway), else the first other owner of objects by name. Per
operation it sends at most :data:`INPUT_BUDGET` inputs (:mod:`iotvet.checks.input_values`), each
changing one parameter of the identity's own, valid request. Query and body values are drawn from
Schemathesis's negative mode (:mod:`iotvet.checks.input_cases`) with a seed taken from a
``random.Random`` seeded by ``safety.seed`` and the operation, so every run with the same seed (and
the same Schemathesis and Hypothesis versions) sends the same inputs; where Schemathesis cannot
generate, the hand-written values are sent and the cell says so.

- Reads (every mode): malformed query parameters, and the identity's own ids made malformed in
  the path (hand-made: a generator never chooses a path id, nor a query parameter that names an
  id). Nothing is ever sent that could name another identity's object.
- Bodies (``intrusive`` only): ``PATCH``/``PUT`` of one field of the identity's own object that a
  ``GET`` on the same path reads back; each write is journaled before it is sent and undone.

A finding needs an effect, never a status alone: the same input fails twice (5xx, or the
connection dropped) while the request without it answers 2xx before and after (so the input is
the cause, not an outage); or a body value the schema rules out is read back as stored.
"""

from __future__ import annotations

import random
from collections import Counter

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.checks import input_values as values
from iotvet.checks.input_values import INPUT_BUDGET, Input, read_inputs, unknown_like
from iotvet.checks.registry import RunBound, call_cost, people, registry, send_cost
from iotvet.checks.relations import role_rank
from iotvet.checks.rest_context import Params, RestContext, View
from iotvet.checks.rest_writes import find_key
from iotvet.core.errors import TargetErrorKind
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Identity, Plan

CHECK = "api-input-validation"
_DROPPED = (TargetErrorKind.RESET, TargetErrorKind.PROTOCOL)


def crashed(view: View) -> str | None:
    """Why an answer shows a crash: a 5xx (not 501/505) or a dropped connection; None otherwise."""
    ex = view.exchange
    if ex.response is None:
        return f"connection dropped ({ex.error.kind.value})" if ex.error and ex.error.kind in _DROPPED else None
    status = ex.response.status
    return f"HTTP {status}" if status >= 500 and status not in (501, 505) else None


def choose_identity(ctx: RestContext) -> Identity | None:
    """The one identity that tests: owns objects, is neither a device nor an operator; sacrificial first."""
    people = [i for i in ctx.identities.values()
              if i.role != "device" and role_rank(i) < 4 and ctx.inventory.objects.get(i.name)]
    people.sort(key=lambda i: (not i.sacrificial, i.name))
    return people[0] if people else None


def own_params(ctx: RestContext, op: ApiOperation, ident: Identity) -> Params | None:
    """Path values of the identity's own objects (its plan ``devices`` first), or None."""
    params: Params = {}
    for name in op.path_params:
        values, _ = ctx.inventory.candidates(ident.name, name, op.param_resource(name),
                                             ctx.model.aliases(op).get(name))
        if not values:
            return None
        params[name] = ([v for v in values if v in ident.devices] or values)[0]
    return params


def base_query(op: ApiOperation) -> dict[str, str] | None:
    """Valid values for required query parameters (default, example or first enum), or None."""
    query: dict[str, str] = {}
    for p in op.params:
        if p.location == "query" and p.required:
            value = p.schema.get("default", p.schema.get("example", (p.schema.get("enum") or [None])[0]))
            if value is None:
                return None
            query[p.name] = str(value).lower() if isinstance(value, bool) else str(value)
    return query


class _Op:
    """Deciding one operation's cell as one identity."""

    def __init__(self, ctx: RestContext, ident: Identity, op: ApiOperation, params: Params) -> None:
        self.ctx, self.ident, self.op, self.params = ctx, ident, op, params
        self.seed = ctx.plan.safety.seed
        self.rng = random.Random(f"iotvet:{CHECK}:{self.seed}:{op.key}")

    def decide(self, verdict: Verdict, reason: str) -> None:
        name = self.ident.name
        self.ctx.decide(self.ctx.cell(CHECK, self.op, Relation.SELF, verdict, reason, name, name))

    async def send(self, inp: Input | None, query: dict[str, str], purpose: str) -> View:
        params, query = dict(self.params), dict(query)
        if inp is not None and inp.where == "path":
            params[inp.name] = str(inp.value)
        elif inp is not None:
            query[inp.name] = str(inp.value)
        return await self.ctx.call(self.ident.name, self.op, params, query=query or None, purpose=purpose)

    def leak(self, reason: str, summary: str, views: list[tuple[str, View]]) -> None:
        name = self.ident.name
        cell = self.ctx.cell(CHECK, self.op, Relation.SELF, Verdict.LEAK, reason, name, name)
        self.ctx.decide(cell, self.ctx.finding(cell, summary, views))

    def origin(self, source: str) -> str:
        """``seed 0; Schemathesis negative mode, schemathesis 4.32.5, hypothesis 6.x``: what reproduces the inputs."""
        return f"seed {self.seed}" + (f"; {source}" if source else "")

    async def reads(self, query: dict[str, str]) -> None:
        inputs, source = values.read_plan(self.op, self.params, self.rng)
        base = await self.send(None, query, f"control:{CHECK}")
        if base.unusable or not base.ok:
            return self.decide(Verdict.INCONCLUSIVE if base.unusable else Verdict.NOT_TESTED,
                               base.unusable or f"{self.ident.name}'s own valid request answers HTTP {base.status}: "
                               "nothing to hold malformed inputs against")
        answers: Counter[str] = Counter()
        for index, inp in enumerate(inputs):
            view = await self.send(inp, query, f"probe:{CHECK}")
            why = crashed(view)
            if why is None:
                if view.status == 429:
                    return self.decide(Verdict.INCONCLUSIVE, f"rate-limited by the target after {index} input(s)")
                answers[str(view.status or (view.exchange.error.kind.value if view.exchange.error else "?"))] += 1
                continue
            again = await self.send(inp, query, f"repeat:{CHECK}")
            if crashed(again) is None:
                answers[f"{why} once, not again"] += 1
                continue
            if inp.where == "path":
                # A malformed id is also an unknown id: a server that fails on every unknown id (a soft
                # deny by reset or 5xx) fails here for that reason, not for the malformed input.
                unknown = Input("path", inp.name, unknown_like(self.params[inp.name], self.rng), "well-formed, unknown")
                other = await self.send(unknown, query, f"control:{CHECK}")
                if crashed(other) is not None:
                    answers[f"{why} for an unknown well-formed id too"] += 1
                    continue
            control = await self.send(None, query, f"control:{CHECK}")
            if not control.ok:
                return self.decide(Verdict.INCONCLUSIVE, f"{inp.describe()} answered {why}, and the request without "
                                   f"it then failed too (HTTP {control.status}): the server may be down")
            where = self.op.fill(self.params)
            summary = (f"{self.ident.name} sent {inp.describe()} to its own {where}: {why}, twice; the same request "
                       f"without it answered HTTP {base.status} before and HTTP {control.status} after. "
                       f"Reproduce with safety.seed {self.seed}: input {index + 1} of {len(inputs)} for {self.op.key}"
                       + (f" ({source})" if source else ""))
            return self.leak(f"{inp.describe(60)} crashed the handler ({why}, reproduced; seed {self.seed})", summary,
                             [("the malformed request and the failing answer", view), ("the same input again", again),
                              ("the request without the malformed value", control)])
        seen = ", ".join(f"{k} x{n}" for k, n in sorted(answers.items()))
        self.decide(Verdict.ENFORCED, f"{len(inputs)} malformed input(s) ({self.origin(source)}) answered {seen}; "
                                      "none crashed the handler")

    async def bodies(self, readback: ApiOperation) -> None:
        inputs, source = values.body_plan(self.op, self.rng)
        if not inputs:
            return self.decide(Verdict.NOT_TESTED, "the body schema has no field to mutate")
        who = self.ident.name
        before = await self.ctx.call(who, readback, self.params, purpose=f"control:{CHECK}")
        if not before.ok:
            return self.decide(Verdict.NOT_TESTED, f"{who}'s own read-back answers {before.status or before.unusable}")
        answers: Counter[str] = Counter()
        for inp in inputs:
            original = {inp.name: find_key(before.json, inp.name)}
            view, seq = await self.ctx.write(who, self.op, self.params, body={inp.name: inp.value}, owner=who,
                                             original=original, purpose=f"probe:{CHECK}")
            why = crashed(view)
            if not (view.ok or why):
                self.ctx.settle(seq)  # refused: nothing changed
                answers[str(view.status or view.unusable)] += 1
                continue
            after = await self.ctx.call(who, readback, self.params, purpose=f"readback:{CHECK}")
            stored = (after.ok and inp.violates and view.ok and inp.value is not None
                      and find_key(after.json, inp.name) == inp.value != original[inp.name])
            undo = await self.ctx.call(who, self.op, self.params, body=original, purpose="restore")
            state = "restored" if undo.ok else f"NOT restored (HTTP {undo.status or undo.unusable})"
            self.ctx.settle(seq, state if state.startswith("NOT") else None)
            if why and after.ok:
                return self.leak(f"{inp.describe(60)} crashed the handler ({why}; seed {self.seed}); {state}",
                                 f"{who} wrote {inp.describe()} to its own {self.op.fill(self.params)}: {why}; its "
                                 f"read-back still answers HTTP {after.status} ({state}; {self.origin(source)})",
                                 [("the malformed write", view), ("read-back", after)])
            if stored:
                return self.leak(f"{inp.describe(60)} was stored although the schema rules it out; {state}",
                                 f"{who} wrote {inp.describe()} to its own {self.op.fill(self.params)} and read it "
                                 f"back as stored ({state}; {self.origin(source)})",
                                 [("the write", view), ("read-back", after)])
            answers[str(view.status or why)] += 1
        seen = ", ".join(f"{k} x{n}" for k, n in sorted(answers.items()))
        self.decide(Verdict.ENFORCED, f"{len(inputs)} invalid body value(s) ({self.origin(source)}) answered {seen}; "
                                      "nothing invalid was stored, nothing crashed")


def _mutable(op: ApiOperation) -> bool:
    return any(p.location == "query" for p in op.params) or bool(op.path_params)


def input_bound(plan: Plan, model: ApiModel) -> RunBound:
    """Per read with parameters: the valid request, then per input k (at most :data:`INPUT_BUDGET`) the input,
    its repeat and an unknown-id control, and one last control: 3k + 2. Per body operation (intrusive, with a
    read-back): the read-back, then per input the write, the read-back and the restore: 3k + 1, 2k writes.
    k is ``values.read_cap`` / ``values.body_cap``, which hold whatever the seed draws (nothing is generated here).
    Every request goes with the testing identity's credential (a 401: a login and the resend)."""
    who = [i for i in people(plan) if i.role != "device" and role_rank(i) < 4]
    if not who:
        return RunBound(skip="no identity (other than devices and operators) owns an object")
    calls = sends = 0
    for op in model.operations:
        if op.method == "GET" and _mutable(op) and base_query(op) is not None:
            k = values.read_cap(op)
            calls += 3 * k + 2 if k else 1
        elif (op.method in ("PATCH", "PUT") and op.body_schema and plan.safety.mode == "intrusive"
              and model.find("GET", op.path) is not None and (k := values.body_cap(op))):
            calls, sends = calls + 3 * k + 1, sends + 2 * k
    return RunBound(calls * max(map(call_cost, who)), sends * max(map(send_cost, who)))


@registry.register(CHECK, per="run", bound=input_bound)
async def input_validation(ctx: RestContext) -> None:
    """Malformed and boundary inputs crash a handler (5xx, dropped connection) or are stored."""
    ident = choose_identity(ctx)
    for op in ctx.model.operations:
        body_op = op.method in ("PATCH", "PUT") and bool(op.body_schema)
        if not ((op.method == "GET" and _mutable(op)) or body_op) or not ctx.wanted(CHECK, op, Relation.SELF):
            continue
        if ident is None:
            ctx.decide(ctx.cell(CHECK, op, Relation.SELF, Verdict.NOT_TESTED,
                                "no identity (other than devices and operators) owns an object"))
            continue
        params = own_params(ctx, op, ident)
        query = base_query(op)
        if params is None or query is None:
            why = (f"{ident.name} was shown no object for {', '.join(op.path_params)}" if params is None
                   else "a required query parameter has no default, example or enum value")
            ctx.decide(ctx.cell(CHECK, op, Relation.SELF, Verdict.NOT_TESTED, why, ident.name, ident.name))
            continue
        one = _Op(ctx, ident, op, params)
        if op.method == "GET":
            await one.reads(query)
        elif ctx.mode != "intrusive":
            one.decide(Verdict.NOT_TESTED, "body mutations run only in intrusive mode (they write)")
        elif (readback := ctx.model.find("GET", op.path)) is None:
            one.decide(Verdict.NOT_TESTED, f"no GET {op.path} to read the object back")
        else:
            await one.bodies(readback)


__all__ = ["INPUT_BUDGET", "choose_identity", "crashed", "input_validation", "read_inputs"]
