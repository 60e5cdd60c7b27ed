"""Bodies that carry a canary and trigger nothing: how iotvet writes without side effects."""

from __future__ import annotations

from typing import Any

from iotvet.api.model import ApiOperation

NO_OP_WORDS = ("ping", "noop", "no-op", "nop")
_PREFERRED = ("nickname", "name", "label", "display_name", "description", "note", "comment", "alias", "title")


def canary_body(op: ApiOperation, canary: str) -> tuple[dict[str, Any], list[str]] | None:
    """A body that carries ``canary`` and triggers nothing: no-op enums, a free text field or a free object.

    Returns the body and the names of the fields that carry the canary, or None when the schema
    offers no safe place for one.
    """
    schema = op.body_schema or {}
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    body: dict[str, Any] = {}
    carriers: list[str] = []
    for name, prop in props.items():
        if not isinstance(prop, dict):
            continue
        enum = prop.get("enum")
        if isinstance(enum, list):
            noop = [e for e in enum if isinstance(e, str) and e.lower() in NO_OP_WORDS]
            if noop:
                body[name] = noop[0]
            elif name in required:
                return None  # a required choice with no harmless value: do not guess
    strings = [n for n, p in props.items() if isinstance(p, dict) and p.get("type") == "string"
               and "enum" not in p and "format" not in p and int(p.get("maxLength", 64)) >= len(canary)]
    strings.sort(key=lambda n: (_PREFERRED.index(n) if n in _PREFERRED else len(_PREFERRED), n))
    objects = [n for n, p in props.items() if isinstance(p, dict) and p.get("type") == "object"
               and not p.get("properties")]
    if strings:
        body[strings[0]] = canary
        carriers.append(strings[0])
    elif objects:
        body[objects[0]] = {"nonce": canary}
        carriers.append(objects[0])
    else:
        return None
    if any(r not in body for r in required):
        return None
    return body, carriers
