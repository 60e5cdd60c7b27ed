"""Every plan key is documented in docs/PLAN.md (a key nobody can look up is a key nobody uses right)."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from iotvet.plan.schema import Plan

DOC = (Path(__file__).resolve().parents[2] / "docs" / "PLAN.md").read_text(encoding="utf-8")


def _models(annotation: Any) -> list[type[BaseModel]]:
    origin = get_origin(annotation)
    if origin in (typing.Annotated, typing.Union, types.UnionType, list, dict):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def _keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(field.alias or name)
        for sub in _models(field.annotation):
            keys |= _keys(sub, seen)
    return keys


def test_every_plan_key_is_documented() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", DOC))
    missing = sorted(_keys(Plan, set()) - documented)
    assert missing == []
