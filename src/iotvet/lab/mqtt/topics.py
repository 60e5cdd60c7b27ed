"""The lab's topic scheme: ``{tenant}/{device}/telemetry``, ``.../cmd`` and ``.../state`` (retained).

Tenants are vehicle brands and devices are VINs, so ``vistacam/VC1HX00000000001/cmd`` carries the
commands for one vehicle of one brand. :data:`TEMPLATES` is the same scheme in the placeholder
syntax of a plan's ``mqtt.topics``.
"""

from __future__ import annotations

from typing import Final

TEMPLATES: Final[dict[str, str]] = {
    "telemetry": "{tenant}/{device}/telemetry",
    "command": "{tenant}/{device}/cmd",
    "state": "{tenant}/{device}/state",
}


def telemetry(tenant: str, device: str) -> str:
    """Where a vehicle publishes its periodic readings."""
    return TEMPLATES["telemetry"].format(tenant=tenant, device=device)


def command(tenant: str, device: str) -> str:
    """Where the backend sends a vehicle its remote commands."""
    return TEMPLATES["command"].format(tenant=tenant, device=device)


def state(tenant: str, device: str) -> str:
    """Where a vehicle keeps its last known state, as a retained message."""
    return TEMPLATES["state"].format(tenant=tenant, device=device)
