"""Devices as the lifecycle checks see them: in an identity's own listing, bindable, given back.

A device is a record of an identity's own listing that carries the field the ``unbind`` flow names
(``{vin}``): its value says which device, and the holder's own view of it may show its bind code
(a field named like ``bind_code``). Whether a device is still held is always read fresh from the
holder's own listing. Choices are deterministic: identities by name (owners the record names
first), devices by serial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.checks.oracle import canaries_in
from iotvet.checks.registry import RunBound, call_cost, people, send_cost
from iotvet.checks.relations import candidate_pairs, role_rank
from iotvet.checks.rest_context import Params, RestContext, View, norm
from iotvet.checks.rest_flows import RESTORED, flow_sends, placeholders, plan_steps, run_flow, send_flow, settle, steps
from iotvet.checks.rest_pairs import pairs_for
from iotvet.core.records import Relation
from iotvet.plan.schema import Identity, Plan

RESERVED = frozenset({"bindcode", "user", "password", "newpassword", "shareid", "name", "tenant", "group", "role",
                      "username"})
CODE_FIELDS = ("bindcode", "bindingcode", "pairingcode", "activationcode", "claimcode")
MAX_TRIES = 6


@dataclass(frozen=True)
class Device:
    """One device in its holder's own listing."""

    holder: str
    listing: ApiOperation
    key: str
    serial: str
    code: str | None
    record: dict[str, Any]
    named_owner: bool

    def values(self, code: str | None = None) -> dict[str, str]:
        """Flow values: the record's scalar fields, the device key, and a bind code when given."""
        out = {k: str(v) for k, v in self.record.items() if isinstance(v, str | int) and not isinstance(v, bool)}
        out[self.key] = self.serial
        if code is not None:
            out["bind_code"] = code
        return out

    def original(self) -> dict[str, str]:
        """What a journal entry records as the state to go back to."""
        return {self.key: self.serial, "bound_to": self.holder}


def device_key(ctx: RestContext) -> str | None:
    """The placeholder the ``unbind`` (else ``bind``) flow names the device by."""
    for name in ("unbind", "bind"):
        for spec in steps(ctx, name):
            for found in placeholders(spec):
                if norm(found) not in RESERVED:
                    return found
    return None


def dicts(doc: Any) -> list[dict[str, Any]]:
    """Every JSON object in a document, outermost first."""
    out: list[dict[str, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            out.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def field(record: dict[str, Any], *names: str) -> str | None:
    """The first of ``names`` (compared loosely) the record has, as text."""
    for name in names:
        for key, value in record.items():
            if norm(key) == norm(name) and isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    return None


def holding(view: View, key: str, serial: str) -> dict[str, Any] | None:
    """The record of ``serial`` in a listing answer, or None."""
    return next((d for d in dicts(view.json) if field(d, key) == serial), None) if view.ok else None


def _listings(ctx: RestContext, who: str, key: str) -> list[ApiOperation]:
    listed = ctx.inventory.by_resource.get(who, {})
    return [op for op in ctx.model.operations if op.method == "GET" and not op.path_params and op.secured
            and norm(key) in listed.get(norm(op.resource), {})]


async def devices(ctx: RestContext, who: str) -> list[Device]:
    """The devices ``who`` lists as its own, by serial (looked up once per run)."""
    memo = ("devices", who)
    if memo in ctx.memo:
        cached = ctx.memo[memo]
        return cached if isinstance(cached, list) else []
    key = device_key(ctx)
    found: dict[str, Device] = {}
    profile = {v for vals in ctx.inventory.profile.get(who, {}).values() for v in vals}
    for op in _listings(ctx, who, key) if key else []:
        view = await ctx.call(who, op, {}, purpose="victim-view")
        for record in dicts(view.json) if view.ok else []:
            serial = field(record, key or "")
            if serial and serial not in found:
                owner = any("owner" in norm(k) and str(v) in profile for k, v in record.items())
                code = field(record, *CODE_FIELDS)
                ctx.redactor.add(code, f"{who}.bind_code")  # proof of possession: kept out of every output
                found[serial] = Device(who, op, key or "", serial, code, record, owner)
        if found:
            break
    out = [found[s] for s in sorted(found)]
    ctx.memo[memo] = out
    return out


async def sees(ctx: RestContext, who: str, dev: Device) -> tuple[View, bool]:
    """``who``'s own listing now, and whether it shows the device."""
    view = await ctx.call(who, dev.listing, {}, purpose="victim-view")
    return view, holding(view, dev.key, dev.serial) is not None


async def can_bind(ctx: RestContext, dev: Device) -> str | None:
    """Positive control: the holder binds its own, already bound device again (a no-op). None when it can."""
    memo = ("can-bind", dev.holder, dev.serial)
    if memo in ctx.memo:
        cached = ctx.memo[memo]
        return cached if isinstance(cached, str) else None
    result: str | None
    if dev.code is None:
        result = f"{dev.holder}'s own view of {dev.serial} shows no bind code: a re-bind could not restore it"
    else:
        run = await run_flow(ctx, "bind", dev.holder, dev.values(dev.code), owner=dev.holder,
                             original=dev.original(), purpose="control")
        if isinstance(run, str):
            result = run
        else:
            _, held = await sees(ctx, dev.holder, dev)
            settle(ctx, run, None if held else f"NOT restored: {dev.holder} no longer lists {dev.serial}")
            result = None if run.ok and held else (
                f"{dev.holder}'s own bind of its own {dev.serial} answered {run.status} (it may not bind devices)")
    ctx.memo[memo] = result
    return result


async def rebind(ctx: RestContext, dev: Device, released_by: str | None = None) -> str:
    """Give a device back: ``released_by`` unbinds it, then the holder binds it with its own code; read back."""
    if released_by is not None:
        await send_flow(ctx, ctx.sessions[released_by], "unbind", {dev.key: dev.serial})
    _, held = await sees(ctx, dev.holder, dev)
    if not held and dev.code is not None:
        await send_flow(ctx, ctx.sessions[dev.holder], "bind", dev.values(dev.code))
        _, held = await sees(ctx, dev.holder, dev)
    return RESTORED if held else f"NOT restored: {dev.holder} no longer lists {dev.serial}"


async def unbind_control(ctx: RestContext, dev: Device) -> str | None:
    """Positive control: the holder's own unbind removes the device from its view and its re-bind restores it."""
    memo = ("unbind-control", dev.holder, dev.serial)
    if memo in ctx.memo:
        cached = ctx.memo[memo]
        return cached if isinstance(cached, str) else None
    run = await run_flow(ctx, "unbind", dev.holder, {dev.key: dev.serial}, owner=dev.holder,
                         original=dev.original(), purpose="control")
    result: str | None
    if isinstance(run, str):
        result = run
    else:
        _, held = await sees(ctx, dev.holder, dev)
        if held:
            settle(ctx, run)
            result = (f"positive control: {dev.holder}'s own unbind answered {run.status} and its view still "
                      f"lists {dev.serial}")
        else:
            restored = await rebind(ctx, dev)
            settle(ctx, run, None if restored == RESTORED else restored)
            result = None if restored == RESTORED else f"positive control: {restored}"
    ctx.memo[memo] = result
    return result


def _order(people: list[Identity], owners: dict[str, bool]) -> list[Identity]:
    return sorted(people, key=lambda i: (not owners.get(i.name, False), i.name))


async def first_device(ctx: RestContext, who: str) -> Device | None:
    """The holder's first device (by serial), or None."""
    found = await devices(ctx, who)
    return found[0] if found else None


async def choose_pair(ctx: RestContext, relation: Relation, *, attacker_binds: bool
                      ) -> tuple[str, Device, Device | None] | str:
    """A sacrificial victim that can re-bind its device, and an attacker of ``relation`` (that can bind, if asked)."""
    pairs = [(a, v) for a, v in pairs_for(ctx, relation) if a is not None and v.sacrificial and a.role != "device"]
    if not pairs:
        return f"the plan has no {relation.value} pair of identities with a sacrificial victim"
    victims = list({v.name: v for _, v in pairs}.values())
    first = {v.name: await first_device(ctx, v.name) for v in victims}
    reasons: list[str] = []
    for victim in _order(victims, {n: bool(d and d.named_owner) for n, d in first.items()}):
        vdev = first[victim.name]
        why = "the victim lists no device" if vdev is None else await can_bind(ctx, vdev)
        if why is not None or vdev is None:
            reasons.append(why or "")
            continue
        attackers = [a for a, v in pairs if v.name == victim.name and a is not None]
        if not attacker_binds:
            return attackers[0].name, vdev, None
        adevs = {a.name: await first_device(ctx, a.name) for a in attackers}
        for attacker in _order(attackers, {n: bool(d and d.named_owner) for n, d in adevs.items()})[:MAX_TRIES]:
            adev = adevs[attacker.name]
            why = f"{attacker.name} lists no device of its own" if adev is None else await can_bind(ctx, adev)
            if why is None and adev is not None:
                return attacker.name, vdev, adev
            reasons.append(why or "")
    return "no attacker-victim pair passed its controls: " + (reasons[0] if reasons else "none tried")


def record_params(ctx: RestContext, op: ApiOperation, who: str, record: dict[str, Any]) -> Params | None:
    """Path parameters of ``op`` for the object ``record`` describes, as ``who`` was shown them."""
    params: Params = {}
    scalars = {str(v) for v in record.values() if isinstance(v, str | int) and not isinstance(v, bool)}
    for name in op.path_params:
        value = field(record, name)
        if value is None:
            known, _ = ctx.inventory.candidates(who, name, op.resource, ctx.model.aliases(op).get(name))
            value = next((v for v in known if v in scalars), None)
        if value is None:
            return None
        params[name] = value
    return params


def object_ops(ctx: RestContext, dev: Device, method: str) -> list[tuple[ApiOperation, Params]]:
    """Operations with ``method`` on the device itself or below it, with their parameters, in description order."""
    out = []
    for op in ctx.model.operations:
        if op.method == method and op.path_params and norm(op.resource) == norm(dev.listing.resource):
            params = record_params(ctx, op, dev.holder, dev.record)
            if params is not None:
                out.append((op, params))
    return out


def shows_canary(view: View, canary: str) -> bool:
    """The answer carries the canary."""
    return view.ok and canary in canaries_in(view.text)


def plan_device_key(plan: Plan) -> str | None:
    """:func:`device_key` from the plan alone (for the dry run)."""
    for name in ("unbind", "bind"):
        for spec in plan_steps(plan, name):
            found = next((p for p in placeholders(spec) if norm(p) not in RESERVED), None)
            if found is not None:
                return found
    return None


def plan_pairs(plan: Plan, relation: Relation) -> list[tuple[Identity, Identity]]:
    """(attacker, victim) pairs of an object class as :func:`pairs_for` gives them, from the plan alone."""
    everyone = people(plan)
    found = candidate_pairs(everyone, [v for v in everyone if role_rank(v) < 4]).get(relation, [])
    return [(p.attacker, p.victim) for p in found if p.attacker is not None]


def device_setup(plan: Plan, model: ApiModel, *, binds: bool = False, unbinds: bool = False,
                 ) -> tuple[tuple[str, int, int], ...]:
    """The lookups the ``bd-*`` checks share, once per run: (name, requests, writes).

    Device listings: every listing read (GET, no path parameter, secured) once per identity, until one
    lists a device. ``binds``: each identity's re-bind of its first device and a read-back
    (:func:`can_bind`). ``unbinds``: each sacrificial identity's unbind, read-back and re-bind
    (:func:`unbind_control`, with :func:`rebind`'s two read-backs).
    """
    if plan_device_key(plan) is None:
        return ()
    everyone = people(plan)
    reads = sum(op.method == "GET" and not op.path_params and op.secured for op in model.operations)
    out = [("bd-* device listings", reads * sum(map(call_cost, everyone)), 0)]
    (bind, bind_writes), (unbind, unbind_writes) = flow_sends(plan, "bind"), flow_sends(plan, "unbind")
    if binds:
        out.append(("bd-* bind controls", sum((bind + 1) * call_cost(i) for i in everyone),
                    sum(bind_writes * send_cost(i) for i in everyone)))
    if unbinds:
        victims = [i for i in everyone if i.sacrificial]
        out.append(("bd-* unbind controls", sum((unbind + bind + 3) * call_cost(i) for i in victims),
                    sum((unbind_writes + bind_writes) * send_cost(i) for i in victims)))
    return tuple(out)


def with_setup(requests: int, writes: int, place: str, shared: tuple[tuple[str, int, int], ...]) -> RunBound:
    """A check's own worst case plus the shared setup it may build."""
    return RunBound(requests + sum(r for _, r, _ in shared), writes + sum(w for _, _, w in shared), place=place,
                    shared=shared)
