"""api-hidden-route: undocumented debug, internal, admin and export routes that hand out private data.

Guessing routes is discovery traffic a provider may not expect, so it runs only in ``intrusive``
mode or when the plan (``safety.discover_routes``) or ``iotvet probe --discover-routes`` asks.
The routes come from ``checks/data/routes.txt`` (prefix x resource: ``/internal/{resource}``,
``/{resource}/export`` ...), filled with the collections the API description names and a few
IoT nouns, minus anything a documented ``GET`` template matches; at most :data:`MAX_ROUTES`, GET
only, anonymous first. A route that exists (its answer differs from the answer to two random
nonexistent routes, so catch-all pages and soft 404s count as absent) and is refused anonymously
is asked once more as one plan identity.

A 200 decides nothing. A route leaks only when its answer holds at least :data:`MIN_VALUES`
values that only plan identities' own views hold (values the caller's own and the anonymous
views do not have). Routes that do not exist get no cell; the count of routes asked goes in the
reason of the ``GET /*`` cell that stands for "no undocumented route leaks".
"""

from __future__ import annotations

import logging
import random
import re
from importlib import resources

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.checks.logins import fingerprint
from iotvet.checks.oracle import values
from iotvet.checks.registry import RunBound, call_cost, people, registry
from iotvet.checks.relations import classify, role_rank
from iotvet.checks.rest_context import RestContext, View
from iotvet.core.records import Relation, Verdict
from iotvet.plan.schema import Identity, Plan

CHECK = "api-hidden-route"
MAX_ROUTES = 200
MIN_VALUES = 2
IOT_NOUNS = ("accounts", "customers", "devices", "fleet", "sessions", "things", "users", "vehicles")
ANY_ROUTE = ApiOperation(method="GET", path="/*", summary="any undocumented route")
_ABSENT = (404, 405, 410, 501)
_SKIP = frozenset({"me", "auth", "login", "logout", "status", "health", "password", "token", "oauth"})
log = logging.getLogger(__name__)


def wordlist() -> list[str]:
    """The built-in route templates, in file order."""
    text = resources.files("iotvet.checks").joinpath("data/routes.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("/")]


def singular(noun: str) -> str:
    """``vehicles`` -> ``vehicle``, ``categories`` -> ``category``, ``fleet`` -> ``fleet``."""
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def nouns(model: ApiModel) -> list[str]:
    """Collections the API description reads or indexes by id, plus :data:`IOT_NOUNS`."""
    found = {op.resource.lower() for op in model.operations if op.method == "GET"}
    found |= {op.param_resource(p).lower() for op in model.operations for p in op.path_params}
    spec = {n for n in found if re.fullmatch(r"[a-z][a-z0-9_-]{2,40}", n) and n not in _SKIP}
    return sorted(spec | set(IOT_NOUNS))


def candidate_routes(model: ApiModel, templates: list[str] | None = None) -> list[str]:
    """Routes to ask for: templates x nouns, deduplicated, documented GET paths left out (not capped)."""
    documented = [re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(op.path)) + "$")
                  for op in model.operations if op.method == "GET"]
    out: dict[str, None] = {}
    for template in templates if templates is not None else wordlist():
        for noun in nouns(model) if "{" in template else [""]:
            route = template.replace("{resource}", noun).replace("{singular}", singular(noun))
            if not any(d.match(route) for d in documented):
                out.setdefault(route, None)
    return list(out)


def private_values(ctx: RestContext, caller: str | None) -> dict[str, set[str]]:
    """identity -> values its own views hold and neither ``caller`` (None: anonymous) nor the public sees."""
    inv = ctx.inventory
    known = inv.public | inv.seen.get("anonymous", set()) | (inv.seen.get(caller, set()) if caller else set())
    return {name: seen - known for name, seen in inv.seen.items() if name not in ("anonymous", caller)}


def leaked(view: View, private: dict[str, set[str]], last: frozenset[str] = frozenset(),
           ) -> tuple[set[str], str | None]:
    """Private values in a 2xx answer (JSON values, or whole strings in text) and whose they mostly are.

    Owners in ``last`` (operators, who see every tenant) are named only when no one else's values leaked.
    """
    if not view.ok:
        return set(), None
    pool = set().union(*private.values()) if private else set()
    found = values([view.json]) & pool if view.json is not None else {v for v in pool if _whole(v, view.text)}
    if len(found) < MIN_VALUES:
        return set(), None
    owners = sorted((n for n in private if found & private[n]), key=lambda n: (n in last, -len(found & private[n]), n))
    return found, owners[0]


def absent(view: View, route: str, statuses: set[int | None], prints: set[tuple[int | None, str]]) -> bool:
    """No such route: no answer, a not-found status, or what random nonexistent routes get (catch-alls)."""
    if view.exchange.response is None or view.status in _ABSENT or view.status in statuses:
        return True
    return fingerprint(view, [route, route.lstrip("/")]) in prints


def _whole(value: str, text: str) -> bool:
    """``value`` (8+ characters) as a whole token of a text answer (CSV, HTML, plain text)."""
    return len(value) >= 8 and value in text and re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", text) is not None


class _Discovery:
    def __init__(self, ctx: RestContext, routes: list[str]) -> None:
        self.ctx, self.routes = ctx, routes
        self.rng = random.Random(f"iotvet:{CHECK}:{ctx.plan.safety.seed}")
        self.leaks = 0
        self.exists = 0
        self.operators = frozenset(i.name for i in ctx.identities.values() if role_rank(i) >= 4)

    async def get(self, who: str | None, route: str) -> View:
        return await self.ctx.call(who, ApiOperation(method="GET", path=route), {}, purpose=f"probe:{CHECK}")

    async def baseline(self, who: str | None) -> tuple[set[int | None], set[tuple[int | None, str]]]:
        """Statuses and masked answers of two random routes that cannot exist."""
        statuses, prints = set(), set()
        for route in (f"/iotvet-{self.rng.randrange(16**10):010x}",
                      f"/iotvet-{self.rng.randrange(16**10):010x}/{self.rng.randrange(16**6):06x}"):
            view = await self.get(who, route)
            statuses.add(view.status)
            prints.add(fingerprint(view, [route, route.lstrip("/")]))
        return statuses, prints

    def report(self, route: str, view: View, found: set[str], caller: Identity | None, owner: str) -> None:
        ctx = self.ctx
        victim = ctx.identity(owner)
        relation = classify(caller, victim) if victim is not None else Relation.ANONYMOUS
        attacker = caller.name if caller else "anonymous"
        op = ApiOperation(method="GET", path=route)
        if not ctx.wanted(CHECK, op, relation):
            return
        self.leaks += 1
        sample = ", ".join(sorted(found)[:3])
        cell = ctx.cell(CHECK, op, relation, Verdict.LEAK, f"HTTP {view.status}: {len(found)} value(s) private to "
                        f"{owner}; {len(self.routes)} undocumented routes asked", attacker, owner)
        summary = (f"GET {route}, absent from the API description, answered HTTP {view.status} to {attacker} with "
                   f"{len(found)} value(s) only {owner}'s own views hold, e.g. {sample}")
        ctx.decide(cell, ctx.finding(cell, summary, [(f"{attacker}'s request to the undocumented route", view)]))

    async def run(self, caller: Identity | None) -> str | None:
        """Ask every route anonymously, and existing refused ones as ``caller``; None, or why it stopped.

        Behind an authentication wall (random routes answer 401/403 anonymously) every route is
        asked as ``caller`` too, since the anonymous answers cannot tell routes apart.
        """
        statuses, prints = await self.baseline(None)
        wall = statuses <= {401, 403}
        mine: tuple[set[int | None], set[tuple[int | None, str]]] | None = None
        anon_private = private_values(self.ctx, None)
        for index, route in enumerate(self.routes):
            view = await self.get(None, route)
            if view.status == 429:
                return f"rate-limited by the target after {index} routes"
            found, owner = leaked(view, anon_private, self.operators)
            if found and owner and fingerprint(view, [route, route.lstrip("/")]) not in prints:
                self.exists += 1
                self.report(route, view, found, None, owner)
                continue
            gone = absent(view, route, statuses, prints)
            if not gone and (caller is None or view.ok):
                self.exists += 1
                self.enforced(route, f"HTTP {view.status} anonymously")
                continue
            if caller is None or (gone and not wall):
                continue
            mine = mine or await self.baseline(caller.name)
            as_caller = await self.get(caller.name, route)
            if as_caller.status == 429:
                return f"rate-limited by the target after {index} routes"
            if gone and absent(as_caller, route, *mine):
                continue
            self.exists += 1
            found, owner = leaked(as_caller, private_values(self.ctx, caller.name), self.operators)
            if found and owner and fingerprint(as_caller, [route, route.lstrip("/")]) not in mine[1]:
                self.report(route, as_caller, found, caller, owner)
            else:
                self.enforced(route, f"HTTP {view.status} anonymously, HTTP {as_caller.status} as {caller.name}")
        return None

    def enforced(self, route: str, answers: str) -> None:
        op = ApiOperation(method="GET", path=route)
        if self.ctx.wanted(CHECK, op, Relation.ANONYMOUS):
            self.ctx.decide(self.ctx.cell(CHECK, op, Relation.ANONYMOUS, Verdict.ENFORCED,
                                          f"an undocumented route exists ({answers}) but shows no private value",
                                          "anonymous"))


def _caller(ctx: RestContext) -> Identity | None:
    people = sorted(ctx.identities.values(), key=lambda i: (i.role == "device", i.sacrificial, role_rank(i), i.name))
    return people[0] if people else None


def hidden_route_bound(plan: Plan, model: ApiModel) -> RunBound:
    """2 random routes and every candidate route (at most :data:`MAX_ROUTES`) anonymously, then as much again
    as the caller identity (a 401 there: a login and the resend). Intrusive mode or ``discover_routes`` only."""
    place = ANY_ROUTE.key
    if plan.safety.mode != "intrusive" and not plan.safety.discover_routes:
        return RunBound(skip="route discovery runs only in intrusive mode or with safety.discover_routes "
                             "(iotvet probe --discover-routes)", place=place)
    asked = 2 + min(len(candidate_routes(model)), MAX_ROUTES)
    who = sorted(people(plan), key=lambda i: (i.role == "device", i.sacrificial, role_rank(i), i.name))
    return RunBound(asked * (1 + (call_cost(who[0]) if who else 0)), place=place)


@registry.register(CHECK, per="run", bound=hidden_route_bound)
async def hidden_route(ctx: RestContext) -> None:
    """Undocumented internal routes (debug, dump, export, actuator) hand out plan identities' data."""
    safety = ctx.plan.safety
    if ctx.mode != "intrusive" and not safety.discover_routes:
        if ctx.wanted(CHECK, ANY_ROUTE, Relation.ANONYMOUS):
            ctx.decide(ctx.cell(CHECK, ANY_ROUTE, Relation.ANONYMOUS, Verdict.NOT_TESTED,
                                "route discovery runs only in intrusive mode or with safety.discover_routes "
                                "(iotvet probe --discover-routes)"))
        return
    every = candidate_routes(ctx.model)
    routes, cut = every[:MAX_ROUTES], max(0, len(every) - MAX_ROUTES)
    caller = _caller(ctx)
    work = _Discovery(ctx, routes)
    stopped = await work.run(caller)
    log.info("%s: %d routes asked, %d exist, %d leak", CHECK, len(routes), work.exists, work.leaks)
    if (stopped or not work.leaks) and ctx.wanted(CHECK, ANY_ROUTE, Relation.ANONYMOUS):
        who = f"anonymously{f' (refused ones again as {caller.name})' if caller else ''}"
        more = f" ({cut} more left out: at most {MAX_ROUTES})" if cut else ""
        reason = stopped or (f"{len(routes)} undocumented candidate routes asked {who}{more}; {work.exists} exist, "
                             "none shows a plan identity's private data")
        ctx.decide(ctx.cell(CHECK, ANY_ROUTE, Relation.ANONYMOUS,
                            Verdict.INCONCLUSIVE if stopped else Verdict.ENFORCED, reason, "anonymous"))


__all__ = ["MAX_ROUTES", "candidate_routes", "hidden_route", "leaked", "private_values", "wordlist"]
