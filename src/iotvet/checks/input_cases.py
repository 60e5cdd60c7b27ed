"""Negative query and body values for ``api-input-validation``, drawn from Schemathesis's negative mode.

For one operation a minimal OpenAPI 3 document is built from iotvet's :class:`ApiOperation` that
declares only what a generator may choose: the query parameters the caller names (never one that
names an id), or the JSON body's fields the caller names (never identity, ownership or credentials).
Path parameters, headers and cookies are never declared, so no generated value can ever name
another identity's object. Parameters are declared optional and the body closed
(``additionalProperties: false``, extra parameters off), so each negative case breaks values.

The operation's Hypothesis strategy (``APIOperation.as_strategy(GenerationMode.NEGATIVE)``) is
drawn outside any test runner by a ``@given`` function under ``@seed(n)`` (``n`` from the caller's
seeded ``random.Random``), without example database, shrinking or deadline, quietly. Hypothesis
mixes literals from local (not installed) modules into its draws, which would make the inputs
depend on what happens to be imported; draws run with those constants off, so the same seed and
versions give the same values in any process. From each case only the values Schemathesis mutated
(its ``Mutation.path``) are kept, one parameter each, with why: the caller sends them one at a time.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from iotvet.api.model import ApiOperation

PATH = "/iotvet-input"
EXAMPLES = 40
"""Cases drawn per operation and kind (query or body); the values kept per parameter are capped by the caller."""
MAX_BYTES = 2048
"""Longer values (UTF-8, as sent) are left out: a long URL or body tests a proxy's limits, not the handler."""
Pools = dict[str, list[tuple[Any, str]]]
_LINE = re.compile(r"^-?\s*(.*?) at /properties/([^/ ]+)(.*)$")
_TYPE = re.compile(r"\s*\(was \w+, became \w+\)")


class GenerationFailed(Exception):
    """Schemathesis could not load the operation's document or draw from it."""


def generator() -> str:
    """``schemathesis 4.32.5, hypothesis 6.x``: the versions that, with the seed, determine the inputs."""
    from importlib.metadata import version

    return f"schemathesis {version('schemathesis')}, hypothesis {version('hypothesis')}"


def document(op: ApiOperation, *, query: tuple[str, ...] = (), body: tuple[str, ...] = ()) -> dict[str, Any]:
    """A one-operation OpenAPI document with only the named query parameters, or the named body fields."""
    spec: dict[str, Any] = {"responses": {"default": {"description": "any"}}}
    if query:
        spec["parameters"] = [{"name": p.name, "in": "query", "required": False, "schema": copy.deepcopy(p.schema)}
                              for p in op.params if p.location == "query" and p.name in query]
    if body:
        props = (op.body_schema or {}).get("properties") or {}
        schema = {"type": "object", "additionalProperties": False,
                  "properties": {name: copy.deepcopy(props[name]) for name in body}}
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    version = "3.1.0" if _is_31(spec) else "3.0.3"
    return {"openapi": version, "info": {"title": "iotvet", "version": "1"}, "paths": {PATH: {op.method.lower(): spec}}}


def _is_31(node: Any) -> bool:
    """JSON Schema 2020-12 spellings (``type: [..]``, ``const``) that an OpenAPI 3.0 document cannot carry."""
    if isinstance(node, dict):
        return isinstance(node.get("type"), list) or "const" in node or any(_is_31(v) for v in node.values())
    return isinstance(node, list) and any(_is_31(v) for v in node)


def query_pools(op: ApiOperation, names: tuple[str, ...], seed: int, per: int) -> Pools:
    """Per query parameter, up to ``per`` distinct negative wire values (strings) with why."""
    pools: Pools = {name: [] for name in names}
    seen: set[tuple[str, str]] = set()
    for case in draw(document(op, query=names), op.method, seed):
        query = getattr(case, "query", None) or {}
        for name, why in negated(case).items():
            wire = to_wire(query[name]) if name in query else None
            if name in pools and wire is not None and len(wire.encode()) <= MAX_BYTES and (name, wire) not in seen \
                    and len(pools[name]) < per:
                seen.add((name, wire))
                pools[name].append((wire, why))
    return pools


def body_pools(op: ApiOperation, fields: tuple[str, ...], seed: int, per: int) -> Pools:
    """Per body field, up to ``per`` distinct negative JSON values with why (the caller writes one field at a time)."""
    pools: Pools = {name: [] for name in fields}
    seen: set[tuple[str, str]] = set()
    for case in draw(document(op, body=fields), op.method, seed):
        body = getattr(case, "body", None)
        if not isinstance(body, dict):
            continue  # raw bytes or a body of another JSON type: not a field value
        for name, why in negated(case).items():
            text = _json(body.get(name))
            if name in pools and name in body and body[name] is not None and text is not None \
                    and len(text.encode()) <= MAX_BYTES and (name, text) not in seen and len(pools[name]) < per:
                seen.add((name, text))
                pools[name].append((body[name], why))
    return pools


def violates(value: Any, schema: dict[str, Any]) -> bool:
    """True when ``schema`` itself rules ``value`` out (formats checked, ``date-time`` included)."""
    from jsonschema import FormatChecker, validators  # type: ignore[import-untyped]

    checker = FormatChecker()
    checker.checks("date-time", ValueError)(_rfc3339)
    try:
        cls = validators.validator_for(schema, default=validators.Draft4Validator)
        return not cls(schema, format_checker=checker).is_valid(value)
    except Exception:  # an invalid schema decides nothing
        return False


def _rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", value):
        return False
    datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.upper()).replace("Z", "+00:00"))  # month 13 raises
    return True


def negated(case: Any) -> dict[str, str]:
    """Parameter or field -> why, for each value the case's mutations changed (structure changes aside)."""
    data = getattr(getattr(getattr(case, "_meta", None), "phase", None), "data", None)
    details = {m.group(2): (m.group(1) + (m.group(3) if _TYPE.fullmatch(m.group(3)) else "")).replace("`", "").strip()
               for line in str(getattr(data, "description", "") or "").splitlines() if (m := _LINE.match(line.strip()))}
    out: dict[str, str] = {}
    for mutation in getattr(data, "mutations", ()) or ():
        path = tuple(getattr(mutation, "path", ()) or ())
        if path and isinstance(path[0], str) and path[0] not in out:
            keywords = ", ".join(getattr(mutation, "keywords", ()) or ()) or "the schema"
            out[path[0]] = details.get(path[0]) or f"violates {keywords}"
    return out


def to_wire(value: Any) -> str | None:
    """A query value as sent: strings as they are, anything else as compact JSON; None if unsendable."""
    return _utf8(value) if isinstance(value, str) else _json(value)


def _json(value: Any) -> str | None:
    try:
        return _utf8(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True))
    except (TypeError, ValueError):  # bytes, NaN
        return None


def _utf8(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    return text


def draw(doc: dict[str, Any], method: str, seed: int, examples: int = EXAMPLES) -> list[Any]:
    """The negative cases Schemathesis draws for the document's one operation, in order, for ``seed``."""
    # Hypothesis keeps a cache folder; a probe must not drop one into the user's working directory.
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "iotvet-hypothesis"))
    import schemathesis
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as seeded
    from schemathesis.config import SchemathesisConfig
    from schemathesis.core.control import SkipTest  # "impossible to generate negative cases" (a BaseException)
    from schemathesis.generation import GenerationMode

    cases: list[Any] = []
    try:
        config = SchemathesisConfig.from_dict({"generation": {"mode": "negative", "allow-extra-parameters": False}})
        operation = schemathesis.openapi.from_dict(doc, config=config)[PATH][method.upper()]
        strategy = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)

        @seeded(seed)
        @settings(settings.get_profile("default"), max_examples=examples, database=None, derandomize=False,
                  phases=[Phase.generate], deadline=None, suppress_health_check=list(HealthCheck),
                  verbosity=Verbosity.quiet, print_blob=False, report_multiple_bugs=False)
        @given(strategy)
        def collect(case: Any) -> None:
            cases.append(case)

        with _local_constants_off(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            collect()
    except (Exception, SkipTest) as exc:  # any failure to load or draw: the caller falls back to hand-written values
        raise GenerationFailed(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:160]) from exc
    return cases


@contextlib.contextmanager
def _local_constants_off() -> Iterator[None]:
    """Hypothesis without literals from local modules (and without its cache of them), for this block only."""
    from hypothesis.internal.conjecture import providers

    module: Any = providers
    real: Callable[[], Any] | None = getattr(module, "_get_local_constants", None)
    cache: Any = getattr(getattr(module, "CONSTANTS_CACHE", None), "cache", None)
    if real is None or not hasattr(cache, "clear") or not hasattr(module, "Constants"):
        yield
        return
    module._get_local_constants = module.Constants
    cache.clear()
    try:
        yield
    finally:
        module._get_local_constants = real
        cache.clear()


__all__ = ["GenerationFailed", "body_pools", "document", "draw", "generator", "negated", "query_pools", "violates"]
