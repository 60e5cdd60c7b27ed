"""Shapes: the surface details of the lab API that a tool must not overfit to.

A shape fixes route and field names, the id format, response nesting, how denials look and
where the access token travels. Shape 0 is the canonical shape; any other seed draws each
trait from a seeded generator, so ``--shape-seed N`` always gives the same API surface.
The operation table lives here too, because both the REST app and the ground truth need the
exact path templates of a shape.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

IdFormat = Literal["vin", "seq", "uuid"]
DenyStyle = Literal["403", "404", "soft"]
TokenPlacement = Literal["bearer", "header", "cookie"]
LocationStyle = Literal["latlon", "latitude", "nested"]


@dataclass(frozen=True, slots=True)
class Op:
    """One spec operation of a shape: its method, its path template and what it needs."""

    name: str
    method: str
    path: str
    summary: str
    auth: bool = True
    tag: str = "vehicles"


@dataclass(frozen=True)
class Shape:
    """The surface of one lab API: names, id formats, nesting, deny style, token placement."""

    seed: int
    base_path: str
    auth_prefix: str
    collection: str
    id_param: str
    id_format: IdFormat
    camel: bool
    wrapper: str | None
    list_key: str | None
    deny: DenyStyle
    token: TokenPlacement
    token_name: str
    token_field: str
    brand_header: str
    hidden_route: str
    weak_key: str
    location_style: LocationStyle

    def field(self, snake: str) -> str:
        """The wire name of a canonical snake_case field in this shape."""
        if snake == "id":
            return self.id_field
        if not self.camel:
            return snake
        head, *rest = snake.split("_")
        return head + "".join(part.capitalize() for part in rest)

    @property
    def id_field(self) -> str:
        """The field carrying a vehicle's public id (the path parameter's name)."""
        return self.id_param

    def render(self, record: dict[str, object]) -> dict[str, object]:
        """Rename a canonical record's keys (one level deep) to this shape's names."""
        return {self.field(key): value for key, value in record.items()}

    def wrap(self, payload: object) -> object:
        """Nest a response body the way this shape does."""
        if isinstance(payload, list) and self.list_key:
            payload = {self.list_key: payload, self.field("total_count"): len(payload)}
        if self.wrapper:
            return {self.wrapper: payload}
        return payload

    def unwrap(self, body: object) -> object:
        """Undo :meth:`wrap` (used by the lab's own scripted client and tests)."""
        if self.wrapper and isinstance(body, dict):
            body = body.get(self.wrapper)
        if self.list_key and isinstance(body, dict) and self.list_key in body:
            body = body[self.list_key]
        return body

    @cached_property
    def operations(self) -> dict[str, Op]:
        """Every documented operation of this shape, by canonical name."""
        col = f"/{self.collection}"
        one = f"{col}/{{{self.id_param}}}"
        auth = self.auth_prefix
        ops = [
            Op("login", "POST", f"{auth}/login", "Sign in and obtain an access token", auth=False, tag="auth"),
            Op("logout", "POST", f"{auth}/logout", "End the current session", tag="auth"),
            Op("profile.get", "GET", "/me", "The signed-in user's profile", tag="profile"),
            Op("profile.update", "PATCH", "/me", "Update the signed-in user's profile", tag="profile"),
            Op("password.change", "POST", "/me/password", "Change the signed-in user's password", tag="profile"),
            Op("vehicles.list", "GET", col, "Vehicles the signed-in user can see"),
            Op("vehicles.bind", "POST", f"{col}/bind", "Bind a vehicle to the caller's account by VIN"),
            Op("vehicles.unbind", "POST", f"{col}/unbind", "Release a vehicle from its account by VIN"),
            Op("vehicle.get", "GET", one, "One vehicle"),
            Op("vehicle.update", "PATCH", one, "Rename a vehicle or change its settings"),
            Op("vehicle.location", "GET", f"{one}/location", "Last known position"),
            Op("vehicle.trips", "GET", f"{one}/trips", "Recent trips"),
            Op("vehicle.commands.list", "GET", f"{one}/commands", "Queued and recent remote commands"),
            Op("vehicle.commands.send", "POST", f"{one}/commands", "Queue a remote command"),
            Op("vehicle.shares.list", "GET", f"{one}/shares", "Who this vehicle is shared with"),
            Op("vehicle.shares.create", "POST", f"{one}/shares", "Share a vehicle with another user"),
            Op("vehicle.shares.revoke", "DELETE", f"{one}/shares/{{share_id}}", "Revoke a share"),
            Op("vehicle.notifications.mute", "DELETE", f"{one}/notifications",
               "Stop push notifications about this vehicle for the caller"),
            Op("customer.users", "GET", "/customers/{customer_id}/users", "Users of a customer account",
               tag="customer-admin"),
            Op("brand.customers", "GET", "/admin/brands/{brand}/customers", "Customers of a brand",
               tag="brand-admin"),
            Op("brand.users", "GET", "/admin/brands/{brand}/users", "Users of a brand", tag="brand-admin"),
            Op("ops.brands", "GET", "/ops/brands", "All brands on the platform", tag="operator"),
            Op("firmware.catalogue", "GET", "/firmware", "Published firmware releases", auth=False,
               tag="public"),
            Op("status", "GET", "/status", "Service status", auth=False, tag="public"),
        ]
        return {op.name: op for op in ops}

    def op(self, name: str) -> Op:
        """The operation called ``name`` (KeyError for unknown names)."""
        return self.operations[name]


CANONICAL = Shape(
    seed=0,
    base_path="/api/v2",
    auth_prefix="/auth",
    collection="vehicles",
    id_param="vin",
    id_format="vin",
    camel=False,
    wrapper=None,
    list_key=None,
    deny="404",
    token="bearer",
    token_name="Authorization",
    token_field="access_token",
    brand_header="X-Brand",
    hidden_route="/internal/debug/vehicles",
    weak_key="secret",
    location_style="latlon",
)

_COLLECTIONS = {"vehicles": "vehicle", "cars": "car", "assets": "asset", "units": "unit"}
_WEAK_KEYS = ("secret", "your-256-bit-secret", "changeme", "password123", "jwtsecret")
_HIDDEN = ("/internal/debug/vehicles", "/debug/vehicles", "/internal/fleet-dump", "/_internal/vehicles",
           "/actuator/vehicles")


def shape_for(seed: int) -> Shape:
    """The shape for ``seed``; seed 0 is :data:`CANONICAL`."""
    if seed == 0:
        return CANONICAL
    rng = random.Random(f"iotvet-lab-shape:{seed}")
    camel = rng.random() < 0.5
    collection = rng.choice(sorted(_COLLECTIONS))
    id_format: IdFormat = rng.choice(("vin", "seq", "uuid"))
    if id_format == "vin":
        id_param = "vin"
    else:
        stem = _COLLECTIONS[collection]
        id_param = rng.choice((f"{stem}Id" if camel else f"{stem}_id", "id"))
    token: TokenPlacement = rng.choice(("bearer", "header", "cookie"))
    token_name = {
        "bearer": "Authorization",
        "header": rng.choice(("X-Auth-Token", "X-Session-Token", "X-Api-Token")),
        "cookie": rng.choice(("session", "sid", "auth_token")),
    }[token]
    return Shape(
        seed=seed,
        base_path=rng.choice(("/api/v2", "/api/v1", "/v3", "/mobile/api")),
        auth_prefix=rng.choice(("/auth", "/session", "/account")),
        collection=collection,
        id_param=id_param,
        id_format=id_format,
        camel=camel,
        wrapper=rng.choice((None, "data", "result")),
        list_key=rng.choice((None, "items", "results")),
        deny=rng.choice(("403", "404", "soft")),
        token=token,
        token_name=token_name,
        token_field=rng.choice(("access_token", "token", "jwt")) if not camel else rng.choice(
            ("accessToken", "token", "jwt")),
        brand_header=rng.choice(("X-Brand", "X-Tenant-Id", "X-App-Brand")),
        hidden_route=rng.choice(_HIDDEN),
        weak_key=rng.choice(_WEAK_KEYS),
        location_style=rng.choice(("latlon", "latitude", "nested")),
    )
