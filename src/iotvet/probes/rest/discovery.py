"""Discovery: what each identity legitimately sees through the API's own collection and profile reads.

Only parameterless GET operations are called here, once per identity (and once anonymously), so
discovery never touches an object by guessing its id: every id a check later uses was shown to
a plan identity by the API itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from iotvet.api.model import ApiModel, ApiOperation
from iotvet.auth.session import Session
from iotvet.checks.oracle import values
from iotvet.checks.rest_context import Inventory, View, norm

MAX_DEPTH = 4


def listing_ops(model: ApiModel) -> list[ApiOperation]:
    """GET operations with no path parameter and nothing else required."""
    return [op for op in model.operations if op.method == "GET" and not op.path_params
            and not any(p.required and p.location in ("query", "header", "cookie") for p in op.params)]


def object_list(doc: Any, depth: int = 0) -> list[dict[str, Any]] | None:
    """The longest list of objects in a document (``[...]``, ``{"items": [...]}``, ``{"data": {"results": ...}}``)."""
    if isinstance(doc, list):
        dicts = [d for d in doc if isinstance(d, dict)]
        return dicts if dicts or not doc else None
    if isinstance(doc, dict) and depth < MAX_DEPTH:
        best: list[dict[str, Any]] | None = None
        for value in doc.values():
            found = object_list(value, depth + 1)
            if found is not None and (best is None or len(found) > len(best)):
                best = found
        return best
    return None


def unwrap(doc: Any) -> Any:
    """Strip single-key envelopes such as ``{"data": {...}}``."""
    while isinstance(doc, dict) and len(doc) == 1 and isinstance(next(iter(doc.values())), dict):
        doc = next(iter(doc.values()))
    return doc


def harvest(record: dict[str, Any], into: dict[str, set[str]]) -> None:
    """Add a record's scalar fields (name -> value) to ``into``."""
    for key, value in record.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str | int | float):
            into.setdefault(norm(key), set()).add(str(value))


async def discover(model: ApiModel, sessions: dict[str, Session]) -> Inventory:
    """Call every listing operation as every identity and as the anonymous caller."""
    inventory = Inventory()
    ops = listing_ops(model)

    async def one(who: str) -> None:
        seen: set[str] = set()
        profile: dict[str, set[str]] = {}
        objects: dict[str, set[str]] = {}
        by_resource: dict[str, dict[str, set[str]]] = {}
        for op in ops:
            view = View(await sessions[who].request("GET", op.path, purpose="discover"))
            if not view.ok:
                continue
            doc = view.json
            seen |= values([doc])
            if who == "anonymous" or not op.secured:
                continue  # public data says nothing about ownership
            items = object_list(doc)
            if items:
                listed = by_resource.setdefault(norm(op.resource), {})
                for item in items:
                    harvest(item, objects)
                    harvest(item, listed)
            elif isinstance(unwrap(doc), dict):
                harvest(unwrap(doc), profile)
        inventory.seen[who] = seen
        inventory.profile[who] = profile
        inventory.objects[who] = objects
        inventory.by_resource[who] = by_resource

    await asyncio.gather(*(one(who) for who in sorted(sessions)))
    inventory.public = set(inventory.seen.get("anonymous", set()))
    return inventory
