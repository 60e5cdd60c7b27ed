"""Malformed and boundary inputs for ``api-input-validation``, generated from parameter schemas.

Pure and seeded: the same schema, own values and ``random.Random`` give the same inputs, so a
finding that names its seed and input is reproducible. No dependency: the cases are the classic
negative ones (wrong type, outside ``minimum``/``maximum``/``maxLength``/``enum``, broken
``format``), each with the reason it is invalid, plus a few seeded values beyond each bound.

Values that could address *another* object are never produced: a path value is always the
identity's own id with something appended, and a query parameter that names an id gets only
values no id has (quotes, ``%``, NUL, a long run).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

Where = Literal["query", "path", "body"]
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
