"""Runtime state of the REST backend (shares, sessions, commands) and its access decisions.

The decisions are written the way the correct service would make them, with each flaw a
visible exception at the point where the real bug would sit.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from iotvet.lab.rest import flaws as F
from iotvet.lab.world import Asset, User, World

CommandSink = Callable[[str, str, dict[str, Any]], Awaitable[None]]
"""Where queued commands go: ``sink(tenant, device_id, payload)``; the runner plugs in MQTT."""

ShareRole = Literal["guest", "driver"]
GUEST_COMMANDS = frozenset({"locate", "honk"})  # ping and the rest: the owning customer and drivers
LEADS = frozenset({"owner", "customer-admin"})
MAX_FAILURES = 5
FAILURE_WINDOW = 900.0
"""A 15-minute lockout, as real services use; its Retry-After is past what the probe's transport waits for."""

log = logging.getLogger(__name__)


class Access(enum.Enum):
    """The outcome of an access decision."""

    ALLOW = "allow"
    MISSING = "missing"
    FOREIGN = "foreign"
    ROLE = "role"


@dataclass(slots=True)
class Share:
    """A vehicle shared by its customer with another user of the same brand."""

    id: str
    asset: str
    grantee: str
    role: ShareRole
    created_by: str
    revoked: bool = False


@dataclass(slots=True)
class Command:
    """A remote command queued for a vehicle."""

    id: str
    asset: str
    command: str
    args: dict[str, Any]
    issued_by: str
    issued_at: str
    status: str = "queued"

    def payload(self) -> dict[str, Any]:
        """What the backend publishes to the vehicle (a canary nonce travels at the top level too)."""
        body: dict[str, Any] = {"id": self.id, "cmd": self.command, "args": self.args, "issued_at": self.issued_at}
        nonce = self.args.get("nonce")
        if isinstance(nonce, str):
            body["nonce"] = nonce
        return body


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a user (None when anonymous), its session and the brand header it sent."""

    user: User | None
    session: str = ""
    brand_header: str | None = None


async def discard(tenant: str, device: str, payload: dict[str, Any]) -> None:
    """The default command sink: commands stay queued in the REST state only."""


@dataclass
class State:
    """Everything the backend changes at run time, on top of the generated world."""

    world: World
    flaws: frozenset[str]
    sink: CommandSink = discard
    shares: dict[str, Share] = field(default_factory=dict)
    commands: dict[str, list[Command]] = field(default_factory=dict)
    revoked_sessions: set[str] = field(default_factory=set)
    password_versions: dict[str, int] = field(default_factory=dict)
    muted: dict[str, set[str]] = field(default_factory=dict)
    failures: dict[str, list[float]] = field(default_factory=dict)

    # -- sessions and logins ------------------------------------------------------------------

    def session_valid(self, user: User, session: str, password_version: int) -> bool:
        """Whether a verified token's session still stands (revocation is the stale-token flaw)."""
        if F.STALE_TOKEN in self.flaws:
            return True
        return session not in self.revoked_sessions and password_version == self.password_versions.get(user.id, 0)

    def throttled(self, username: str) -> bool:
        """Whether logins for ``username`` are locked out for now."""
        if F.NO_THROTTLE in self.flaws:
            return False
        now = time.monotonic()
        recent = [t for t in self.failures.get(username, ()) if now - t < FAILURE_WINDOW]
        self.failures[username] = recent
        return len(recent) >= MAX_FAILURES

    def login_failed(self, username: str) -> None:
        """Count a failed login."""
        self.failures.setdefault(username, []).append(time.monotonic())

    # -- shares -------------------------------------------------------------------------------

    def share_of(self, asset: Asset, user: User) -> Share | None:
        """The share granting ``user`` access to ``asset``; revoked ones count under the revoke flaw."""
        honour_revoked = F.SHARE_REVOKE in self.flaws
        for share in self.shares.values():
            if share.asset == asset.id and share.grantee == user.id and (honour_revoked or not share.revoked):
                return share
        return None

    def shared_with(self, user: User) -> list[Asset]:
        """Assets shared with ``user``."""
        honour_revoked = F.SHARE_REVOKE in self.flaws
        ids = {s.asset for s in self.shares.values() if s.grantee == user.id and (honour_revoked or not s.revoked)}
        return [self.world.assets[i] for i in sorted(ids) if i in self.world.assets]

    # -- access decisions ---------------------------------------------------------------------

    def can_read(self, who: Principal, asset: Asset | None, *, header_view: bool = False) -> Access:
        """Whether ``who`` may read ``asset`` (details, position, trips, command history)."""
        if asset is None:
            return Access.MISSING
        user = who.user
        if user is None:
            return Access.FOREIGN
        if user.role == "operator" or (user.customer is not None and asset.customer == user.customer):
            return Access.ALLOW
        if user.role != "brand-admin" and self.share_of(asset, user) is not None:
            return Access.ALLOW
        if asset.tenant != user.tenant:
            if F.BOLA_XBRAND in self.flaws:
                return Access.ALLOW
            if header_view and F.BRAND_HEADER in self.flaws and who.brand_header == asset.tenant:
                return Access.ALLOW
        elif F.BOLA_XCUSTOMER in self.flaws:
            return Access.ALLOW
        return Access.FOREIGN

    def can_command(self, who: Principal, asset: Asset | None, command: str) -> Access:
        """Whether ``who`` may send ``command`` to ``asset``."""
        if asset is None:
            return Access.MISSING
        user = who.user
        if user is None:
            return Access.FOREIGN
        if user.customer is not None and asset.customer == user.customer:
            return Access.ALLOW
        share = self.share_of(asset, user)
        if share is not None:
            if share.role == "driver" or command in GUEST_COMMANDS or F.SHARE_ROLE in self.flaws:
                return Access.ALLOW
            return Access.ROLE
        if F.BOLA_COMMAND in self.flaws:
            return Access.ALLOW
        return Access.ROLE if user.role == "operator" and asset.customer else Access.FOREIGN

    def can_manage(self, who: Principal, asset: Asset | None, *, sharing: bool = False) -> Access:
        """Owner-level rights: share, revoke, unbind. Only the customer's lead has them."""
        if asset is None:
            return Access.MISSING
        user = who.user
        if user is None:
            return Access.FOREIGN
        if user.customer is not None and asset.customer == user.customer:
            return Access.ALLOW if user.role in LEADS else Access.ROLE
        if self.share_of(asset, user) is not None:
            return Access.ALLOW if sharing and F.SHARE_ROLE in self.flaws else Access.ROLE
        return Access.FOREIGN

    def can_edit(self, who: Principal, asset: Asset | None) -> Access:
        """Renaming and settings: any member of the owning customer."""
        if asset is None:
            return Access.MISSING
        user = who.user
        if user is None:
            return Access.FOREIGN
        if user.customer is not None and asset.customer == user.customer:
            return Access.ALLOW
        return Access.ROLE if self.share_of(asset, user) is not None else Access.FOREIGN

    # -- commands -----------------------------------------------------------------------------

    async def queue(self, asset: Asset, command: str, args: dict[str, Any], issued_by: str) -> Command:
        """Queue a command and hand it to the sink (the MQTT backend when the runner wires one)."""
        cmd = Command(uuid.uuid4().hex[:16], asset.id, command, args, issued_by,
                      datetime.now(UTC).isoformat(timespec="seconds"))
        self.commands.setdefault(asset.id, []).append(cmd)
        try:
            await self.sink(asset.tenant, asset.id, cmd.payload())
            cmd.status = "sent"
        except Exception:  # the vehicle link is best effort; the command stays queued
            log.exception("publishing command %s to %s failed", cmd.id, asset.id)
        return cmd

    def apply_state(self, device: str, state: dict[str, Any]) -> None:
        """Fold a vehicle's reported state into the world (called by the MQTT bridge)."""
        asset = self.world.assets.get(device)
        if asset is None:
            return
        asset.telemetry.update(state)
        for key in ("lat", "lon"):
            value = state.get(key)
            if isinstance(value, int | float):
                setattr(asset, key, float(value))
        if isinstance(state.get("locked"), bool):
            asset.locked = state["locked"]
        acked = {state.get(k) for k in ("ack", "command_id", "last_command_id", "last_ping")} - {None}
        for cmd in self.commands.get(device, ()):
            if cmd.id in acked or cmd.args.get("nonce") in acked:
                cmd.status = "executed"
