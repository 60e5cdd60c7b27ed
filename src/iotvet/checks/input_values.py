"""Which malformed inputs ``api-input-validation`` sends to one operation, and the hand-made ones.

Query and body values come from Schemathesis's negative mode (:mod:`iotvet.checks.input_cases`),
one parameter per input; this module adds what no generator may choose, and the fallback:

- path values: the identity's own id with something appended (a quote, NUL, its own id twice, ...),
  so they can only ever name the same (or no) object;
- query parameters that name an id: only values no id has (quotes, ``%``, NUL, a long run);
- when Schemathesis cannot generate for a parameter (its schema has nothing to negate, or the
  operation's document does not load), the classic negative cases below (wrong type, outside
  ``minimum``/``maximum``/``maxLength``/``enum``, broken ``format``), each with why; the cell says so.

Everything is seeded by one ``random.Random`` (the generator's seed is drawn from it first), so the
same seed, operation and versions give the same inputs, and a finding that names them reproduces.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from iotvet.api.model import ApiOperation, Param
from iotvet.checks import input_cases
from iotvet.checks.rest_context import Params, norm

Where = Literal["query", "path", "body"]
INPUT_BUDGET = 12
"""Inputs per operation (a repeat and a control follow only a failure)."""
UNTOUCHED = frozenset({"id", "role", "roles", "owner", "ownerid", "customer", "customerid", "tenant", "tenantid",
                       "brand", "brandid", "org", "orgid", "userid", "password", "email", "username"})
"""Body fields never mutated: identity, ownership, tenancy and credentials stay as they are."""
LONG = 2048
_GARBAGE = "'\"%<>{}[]\\;|`$\x00\u202e\ufeff"
_ID_SAFE = (("'", "a quote"), ("%", "a stray percent sign"), ("\x00", "a NUL byte"), ("[]", "an array literal"),
            ("", "empty"), ("x" * LONG, f"{LONG} characters"))


@dataclass(frozen=True, slots=True)
class Input:
    """One malformed value for one parameter, and why it is invalid."""

    where: Where
    name: str
    value: Any
    why: str
    violates: bool = True
    """True when the schema itself rules the value out (so storing it proves accepted invalid data)."""

    def describe(self, cap: int = 120) -> str:
        """``query limit='abc' (not an integer)``, the value's repr capped."""
        text = repr(self.value)
        if len(text) > cap:
            text = text[:cap] + f"... ({len(text)} characters)"
        return f"{self.where} {self.name}={text} ({self.why})"


def _garbage(rng: random.Random) -> str:
    return "".join(rng.choice(_GARBAGE + "az09") for _ in range(rng.randint(3, 12)))


def _numbers(schema: dict[str, Any], rng: random.Random, integer: bool) -> list[tuple[str, str]]:
    out = [("abc", "not a number"), ("", "empty"), ("NaN", "not a number"), ("1e999", "overflows a double")]
    if integer:
        out += [("1.5", "not an integer"), ("99999999999999999999", "beyond 64 bits"), ("0x1F", "hexadecimal")]
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(high, int | float):
        out += [(str(high + 1), f"above maximum {high}"), (str(high + rng.randint(2, 10**6)), f"above maximum {high}")]
    if isinstance(low, int | float):
        out += [(str(low - 1), f"below minimum {low}"), (str(low - rng.randint(2, 10**6)), f"below minimum {low}")]
    else:
        out.append((str(-rng.randint(1, 10**9)), "negative"))
    return out


def _dates(fmt: str, rng: random.Random) -> list[tuple[str, str]]:
    year = rng.randint(1000, 9999)
    if fmt == "date":
        return [("not-a-date", "not a date"), (f"{year}-13-45", "month 13"), (f"{year}-02-30", "February 30"),
                ("", "empty"), (_garbage(rng), "not a date")]
    return [("not-a-date", "not a date-time"), (f"{year}-13-45T25:61:61Z", "month 13, hour 25"),
            (f"{year}-02-30T10:00:00Z", "February 30"), (f"{year}-01-01T00:00:00", "no time zone (RFC 3339 needs one)"),
            ("", "empty"), (f"{year}-01-01T00:00:00+99:00", "offset out of range"), (_garbage(rng), "not a date-time")]


def query_values(schema: dict[str, Any], rng: random.Random, *, id_like: bool = False) -> list[tuple[str, str]]:
    """Wire values (strings) a query parameter with ``schema`` must refuse, each with why."""
    if id_like:
        return list(_ID_SAFE)
    kind, fmt = schema.get("type"), schema.get("format")
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        first = str(schema["enum"][0])
        out = [(f"iotvet-{rng.randrange(16**6):06x}", "not one of the enum values"), ("", "empty")]
        if first.upper() != first:
            out.append((first.upper(), "enum value in the wrong case"))
        return out
    if kind in ("integer", "number"):
        return _numbers(schema, rng, kind == "integer")
    if kind == "boolean":
        return [("maybe", "not a boolean"), ("2", "not a boolean"), ("", "empty")]
    if kind == "string" and fmt in ("date-time", "date"):
        return _dates(str(fmt), rng)
    if kind == "string" and fmt == "uuid":
        return [*_ID_SAFE[:3], ("not-a-uuid", "not a UUID"), ("00000000-0000-0000-0000-00000000000z", "not hex")]
    out = [("'\"", "quotes"), ("\x00", "a NUL byte"), ("%", "a stray percent sign"), ("\u202e\ufeff", "bidi and BOM"),
           ("x" * LONG, f"{LONG} characters"), (_garbage(rng), "random punctuation")]
    if isinstance(schema.get("maxLength"), int):
        out.insert(0, ("x" * (schema["maxLength"] + 1), f"longer than maxLength {schema['maxLength']}"))
    return out


def path_values(own: str, rng: random.Random) -> list[tuple[str, str]]:
    """The identity's own id made malformed: it can only ever name the same (or no) object."""
    repeat = (own * (LONG // max(1, len(own)) + 1))[:LONG]
    return [(own + "'", "own id and a quote"), (own + "%", "own id and a stray percent sign"),
            (own + "\x00", "own id and a NUL byte"), (own + "\u202e", "own id and a bidi override"),
            (repeat, f"own id repeated to {LONG} characters"), (f"{own},{own}", "own id twice, comma-separated"),
            (own + "[]", "own id and an array suffix"), (own + _garbage(rng), "own id and random punctuation")]


def body_values(schema: dict[str, Any], rng: random.Random) -> list[tuple[Any, str, bool]]:
    """JSON values a body field with ``schema`` must refuse: (value, why, violates the schema)."""
    kind = schema.get("type")
    out: list[tuple[Any, str, bool]] = []
    if kind == "string":
        out += [(rng.randint(10**5, 10**9), "a number where a string belongs", True),
                ([_garbage(rng)], "an array", True)]
        if isinstance(schema.get("maxLength"), int):
            out.append(("x" * (schema["maxLength"] + 1), f"longer than maxLength {schema['maxLength']}", True))
        if isinstance(schema.get("enum"), list):
            out.append((f"iotvet-{rng.randrange(16**6):06x}", "not one of the enum values", True))
        if schema.get("format") in ("date-time", "date", "email", "uuid"):
            out.append((f"not-a-{schema['format']}", f"not a {schema['format']}", True))
        out.append(("\x00" + _garbage(rng), "a NUL byte and punctuation", False))
    elif kind in ("integer", "number"):
        out += [("abc", "a string where a number belongs", True), (10**30, "beyond 64 bits", False)]
        if isinstance(schema.get("maximum"), int | float):
            out.append((schema["maximum"] + 1, f"above maximum {schema['maximum']}", True))
        if isinstance(schema.get("minimum"), int | float):
            out.append((schema["minimum"] - 1, f"below minimum {schema['minimum']}", True))
    elif kind == "boolean":
        out += [("maybe", "a string where a boolean belongs", True), (2, "a number where a boolean belongs", True)]
    return out


def interleave(pools: list[list[Input]], rng: random.Random, budget: int) -> list[Input]:
    """At most ``budget`` inputs, taking from every parameter's (seeded-shuffled) pool in turn."""
    pools = [list(p) for p in pools if p]
    for pool in pools:
        rng.shuffle(pool)
    if pools:
        start = rng.randrange(len(pools))
        pools = pools[start:] + pools[:start]
    out: list[Input] = []
    while pools and len(out) < budget:
        for pool in list(pools):
            if len(out) >= budget:
                break
            out.append(pool.pop(0))
            if not pool:
                pools.remove(pool)
    return out


def unknown_like(value: str, rng: random.Random) -> str:
    """A value shaped like ``value`` that names nothing: never a guess at someone else's object.

    Numbers become a run of nines longer than the id (past any sequence); other ids keep their
    character classes with random letters and digits, lengthened to at least 12 characters, where
    a collision with a real id is negligible.
    """
    if value.isdigit():
        return "9" * (len(value) + 4)
    value = value if len(value) >= 12 else value + "x" * (12 - len(value))
    out = []
    for ch in value:
        if ch.isdigit():
            out.append(rng.choice("0123456789"))
        elif ch.isalpha():
            pool = "abcdefghijklmnopqrstuvwxyz"
            out.append(rng.choice(pool.upper() if ch.isupper() else pool))
        else:
            out.append(ch)
    made = "".join(out)
    return made if made != value else made[::-1]


def id_like(p: Param) -> bool:
    """A query parameter that names an object: a generator never chooses its value."""
    return norm(p.name).endswith("id") or p.schema.get("format") == "uuid"


def mutable_fields(op: ApiOperation) -> dict[str, dict[str, Any]]:
    """Body fields that may be mutated (not identity, ownership, tenancy or credentials), with their schemas."""
    props: dict[str, Any] = (op.body_schema or {}).get("properties") or {}
    return {n: s for n, s in props.items() if isinstance(s, dict) and norm(n) not in UNTOUCHED}


def _generated(make: Callable[[], input_cases.Pools], names: tuple[str, ...]) -> tuple[input_cases.Pools, str]:
    """Schemathesis's values per parameter, and where the inputs came from (for the cell's reason)."""
    if not names:
        return {}, ""
    try:
        pools = make()
    except input_cases.GenerationFailed as exc:
        return {}, f"hand-written values: Schemathesis could not generate for this operation ({exc})"
    source = f"Schemathesis negative mode, {input_cases.generator()}"
    empty = [n for n in names if not pools.get(n)]
    return pools, source + (f"; hand-written values for {', '.join(empty)} (none generated)" if empty else "")


def read_plan(op: ApiOperation, params: Params, rng: random.Random) -> tuple[list[Input], str]:
    """The malformed query and path inputs for one operation (at most :data:`INPUT_BUDGET`), and their source."""
    seed = rng.getrandbits(64)
    query = [p for p in op.params if p.location == "query"]
    names = tuple(p.name for p in query if not id_like(p))
    drawn, source = _generated(lambda: input_cases.query_pools(op, names, seed, INPUT_BUDGET), names)
    pools = [[Input("query", p.name, v, why) for v, why in
              (drawn.get(p.name) or query_values(p.schema, rng, id_like=id_like(p)))] for p in query]
    pools += [[Input("path", name, v, why) for v, why in path_values(params[name], rng)] for name in op.path_params]
    return interleave(pools, rng, INPUT_BUDGET), source


def read_inputs(op: ApiOperation, params: Params, rng: random.Random) -> list[Input]:
    """The malformed query and path inputs for one operation, at most :data:`INPUT_BUDGET`."""
    return read_plan(op, params, rng)[0]


def body_plan(op: ApiOperation, rng: random.Random) -> tuple[list[Input], str]:
    """One invalid value per input for the operation's mutable body fields (at most :data:`INPUT_BUDGET`)."""
    seed = rng.getrandbits(64)
    fields = mutable_fields(op)
    drawn, source = _generated(lambda: input_cases.body_pools(op, tuple(fields), seed, INPUT_BUDGET), tuple(fields))
    pools = [[Input("body", n, v, why, input_cases.violates(v, schema)) for v, why in drawn[n]] if drawn.get(n)
             else [Input("body", n, v, why, bad) for v, why, bad in body_values(schema, rng)]
             for n, schema in fields.items()]
    return interleave(pools, rng, INPUT_BUDGET), source


def read_cap(op: ApiOperation) -> int:
    """At most this many read inputs, whatever the seed: a query parameter can fill the budget alone."""
    query = sum(p.location == "query" for p in op.params)
    return min(INPUT_BUDGET, INPUT_BUDGET * query + len(path_values("1", random.Random(0))) * len(op.path_params))


def body_cap(op: ApiOperation) -> int:
    """At most this many body inputs, whatever the seed."""
    return INPUT_BUDGET if mutable_fields(op) else 0
