"""Who may connect to the lab broker. The world (``iotvet.lab.world``) produces these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AccountKind = Literal["device", "app", "backend", "operator"]


@dataclass(frozen=True, slots=True)
class MqttAccount:
    """One broker account: a vehicle or device, an app user, the backend, or the operator."""

    username: str
    password: str
    kind: AccountKind
    tenant: str | None
    device: str | None = None
    devices: tuple[str, ...] = ()
    client_id: str | None = None
