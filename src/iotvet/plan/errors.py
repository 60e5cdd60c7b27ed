"""Turning pydantic validation errors into one clear message with file, line, field and a suggestion."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from iotvet.core.errors import UserError
from iotvet.plan.yamlsource import Path_, YamlDocument


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Optional, Annotated and unions opened)."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = get_args(field.annotation)
    return str(args[0]) if args else None


def _labels(c: Any, part: str | int) -> bool:
    if not isinstance(part, str):
        return False
    if get_origin(c) is list:
        return part.startswith("list[")
    if isinstance(c, type) and issubclass(c, BaseModel):
        return part == c.__name__ or part.endswith(f" {c.__name__}]")
    return False


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model whose field ``loc``'s last element is, walking pydantic's error location."""
    candidates: list[Any] = [root]
    for part in loc[:-1]:
        models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        tagged = [m for m in models if _tag(m) == part]
        if tagged:
            candidates = tagged
            continue
        labelled = [c for c in candidates if _labels(c, part)]
        if labelled:  # pydantic names the union member it tried: "list[...]" or "...RequestSpec]"
            candidates = labelled
            continue
        nxt: list[Any] = []
        for c in candidates:
            if isinstance(c, type) and issubclass(c, BaseModel):
                for name, f in c.model_fields.items():
                    if part in (name, f.alias):
                        nxt.extend(_unwrap(f.annotation))
            elif get_origin(c) in (list, dict) and (args := get_args(c)):
                nxt.extend(_unwrap(args[-1]))
        candidates = nxt
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) > 1 and loc and (tagged := [m for m in models if _tag(m) == loc[-1]]):
        models = tagged
    return models[0] if len(models) == 1 else None


def _data_path(doc: YamlDocument, loc: tuple[str | int, ...]) -> Path_:
    """Keep the parts of a pydantic location that exist in the data (drops union tags)."""
    path: list[str | int] = []
    node: Any = doc.data
    for part in loc:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif isinstance(node, dict | list):
            if part == loc[-1]:
                path.append(part)  # a missing or unknown field: name it
            continue
    return tuple(path)


def _suggest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _describe(err: ErrorDetails, root: type[BaseModel]) -> str:
    kind = err["type"]
    loc = tuple(err["loc"])
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    if kind == "extra_forbidden" and loc:
        model = model_at(root, loc)
        allowed = _field_names(model) if model else []
        hint = _suggest(str(loc[-1]), allowed)
        known = f" (known keys: {', '.join(sorted(allowed))})" if allowed and not hint else ""
        return f"unknown key {loc[-1]!r}{hint}{known}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("literal_error", "enum"):
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        got = err.get("input")
        return f"{got!r} is not one of {', '.join(expected)}{_suggest(str(got), expected)}"
    if kind == "union_tag_invalid":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        tag = str(ctx.get("tag"))
        return f"type {tag!r} is not one of {', '.join(expected)}{_suggest(tag, expected)}"
    if kind == "union_tag_not_found":
        return "say which kind with type: (bearer, apikey, basic, cookie, headers, login, oauth2, mtls, wfc)"
    msg = err["msg"]
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg[0].lower() + msg[1:] if msg else kind


def to_user_error(exc: ValidationError, doc: YamlDocument, root: type[BaseModel]) -> UserError:
    """The first validation problem as a UserError; the count of the others is appended."""
    # A misspelt key also makes the intended key "missing": name the typo first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(first["loc"])
    if first["type"] == "union_tag_invalid":  # point at the bad "type:" value, not at the mapping holding it
        loc = (*loc, str((first.get("ctx") or {}).get("discriminator", "type")).strip("'"))
    path = _data_path(doc, loc)
    message = _describe(first, root)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return UserError(message, doc.source(path))
