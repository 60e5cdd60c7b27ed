"""The check catalogue (ids and report text) and the registry of check functions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, TypeVar

import yaml

from iotvet.core.records import Plane, Severity

F = TypeVar("F", bound=Callable[..., Any])
Per = Literal["cell", "run"]


@dataclass(frozen=True, slots=True)
class CheckInfo:
    """What iotvet says about a check: its id, family, plane, severity and remediation."""

    id: str
    family: str
    plane: Plane
    severity: Severity
    title: str
    remediation: str
    standards: tuple[str, ...]


def _load_catalogue() -> dict[str, CheckInfo]:
    text = resources.files("iotvet.checks").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    raw: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return {
        check_id: CheckInfo(
            id=check_id,
            family=entry["family"],
            plane=entry["plane"],
            severity=Severity(entry["severity"]),
            title=entry["title"],
            remediation=" ".join(entry["remediation"].split()),
            standards=tuple(entry["standards"]),
        )
        for check_id, entry in raw.items()
    }


CATALOGUE: dict[str, CheckInfo] = _load_catalogue()


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check: catalogue entry plus the function that implements it."""

    info: CheckInfo
    func: Callable[..., Any]
    per: Per = "cell"
    """``cell``: the engine calls it for each planned (operation or topic, relation) cell;
    ``run``: the engine calls it once per probe with the context, and it decides its own cells
    (token forgery, lifecycle flows, route discovery, input generation)."""


class Registry:
    """Check functions by id. Built-in and third-party checks register the same way."""

    def __init__(self, catalogue: dict[str, CheckInfo]) -> None:
        self._catalogue = catalogue
        self._checks: dict[str, Check] = {}

    def register(self, check_id: str, per: Per = "cell") -> Callable[[F], F]:
        """Decorate a function as the implementation of catalogue check ``check_id``."""

        def decorate(func: F) -> F:
            if check_id not in self._catalogue:
                raise ValueError(f"unknown check id {check_id!r}: add it to checks/catalogue.yaml first")
            if check_id in self._checks:
                raise ValueError(f"check {check_id!r} is registered twice")
            self._checks[check_id] = Check(self._catalogue[check_id], func, per)
            return func

        return decorate

    def get(self, check_id: str) -> Check:
        """The registered check with this id; KeyError when none is."""
        return self._checks[check_id]

    def family(self, family: str) -> list[Check]:
        """Registered checks of one family, in id order."""
        return sorted((c for c in self._checks.values() if c.info.family == family), key=lambda c: c.info.id)

    def run_once(self, plane: Plane) -> list[Check]:
        """Checks of one plane that run once per probe (``per="run"``), in id order."""
        return [c for c in self if c.info.plane == plane and c.per == "run"]

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def __iter__(self) -> Iterator[Check]:
        return iter(sorted(self._checks.values(), key=lambda c: c.info.id))

    def __len__(self) -> int:
        return len(self._checks)


registry = Registry(CATALOGUE)
