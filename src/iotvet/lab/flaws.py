"""The lab's flaw registry and ground-truth records.

A flaw is a switchable weakness of the lab provider. Each flaw names the catalogue check id
that must find it and, for a given shape, the set of cells it opens. REST flaws are declared
in :mod:`iotvet.lab.rest.flaws`, MQTT flaws in :mod:`iotvet.lab.mqtt.flaws`; both register here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Plane = Literal["http", "mqtt"]


@dataclass(frozen=True, slots=True)
class GroundCell:
    """One cell a flaw opens (or a trap guards): operation or topic x relation."""

    relation: str
    method: str | None = None
    path: str | None = None
    topic: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The cell as printed by ``iotvet lab --ground-truth``."""
        place: dict[str, Any] = (
            {"operation": {"method": self.method, "path": self.path}} if self.method else {"topic": self.topic}
        )
        return {**place, "relation": self.relation}


@dataclass(frozen=True, slots=True)
class Flaw:
    """A switchable lab weakness. ``cells(shape)`` lists the cells it opens in that shape."""

    id: str
    check: str
    plane: Plane
    description: str
    cells: Callable[[Any], list[GroundCell]] = field(compare=False)
    masked_by: tuple[str, ...] = ()
    """Flaws that, when also on, make this one unobservable from outside (its cells leak anyway)."""


@dataclass(frozen=True, slots=True)
class Trap:
    """Correct behaviour that naive tools flag; iotvet must stay silent on its cells."""

    id: str
    description: str
    cells: Callable[[Any], list[GroundCell]] = field(compare=False)


FLAWS: dict[str, Flaw] = {}
TRAPS: dict[str, Trap] = {}


def flaw(f: Flaw) -> Flaw:
    """Register a flaw; ids are unique across planes."""
    if f.id in FLAWS:
        raise ValueError(f"lab flaw {f.id!r} declared twice")
    FLAWS[f.id] = f
    return f


def trap(t: Trap) -> Trap:
    """Register a trap."""
    if t.id in TRAPS:
        raise ValueError(f"lab trap {t.id!r} declared twice")
    TRAPS[t.id] = t
    return t
