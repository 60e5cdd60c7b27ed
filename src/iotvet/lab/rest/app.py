"""The telematics backend's REST API as a FastAPI app.

Routes come from the shape's operation table, so the served paths, the OpenAPI document and
the ground truth can never disagree. Handlers take the raw request: the token's place, the
field names and the response nesting all vary by shape.
"""

from __future__ import annotations

import hmac
import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from iotvet.lab.rest import flaws as F
from iotvet.lab.rest.spec import build_spec
from iotvet.lab.rest.state import FAILURE_WINDOW, Access, Command, CommandSink, Principal, Share, State, discard
from iotvet.lab.rest.tokens import LIFETIME, BadToken, TokenService
from iotvet.lab.shapes import Shape
from iotvet.lab.world import COMMANDS, MODELS, Asset, Customer, User, World

Handler = Callable[[Request], Awaitable[Response]]
log = logging.getLogger(__name__)

SECURITY_TXT = """Contact: mailto:security@lab.iotvet.invalid
Expires: 2030-01-01T00:00:00Z
Preferred-Languages: en
Policy: https://lab.iotvet.invalid/security-policy
Canonical: https://lab.iotvet.invalid/.well-known/security.txt
"""


class Denied(Exception):
    """Raised by a handler to answer with ``response`` right away."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _error(status: int, code: str, message: str, **extra: Any) -> Denied:
    return Denied(JSONResponse({"error": code, "message": message, **extra}, status_code=status))


class Api:
    """The handlers, bound to one world, shape, flaw set and runtime state."""

    def __init__(self, world: World, flaws: frozenset[str], sink: CommandSink = discard) -> None:
        self.world = world
        self.shape: Shape = world.shape
        self.flaws = flaws
        self.state = State(world, flaws, sink)
        self.tokens = TokenService(self.shape, flaws)

    # -- plumbing -----------------------------------------------------------------------------

    def ok(self, payload: object, status: int = 200) -> JSONResponse:
        return JSONResponse(self.shape.wrap(payload), status_code=status)

    def object_denial(self, access: Access, *, listing: bool = False, asset: Asset | None = None,
                      reveal: bool = False) -> Denied:
        """The answer to a foreign, missing or role-denied object, in the shape's deny style."""
        if access is Access.ROLE:
            return _error(403, "forbidden", "your role does not allow this action")
        if reveal and access is Access.FOREIGN and asset is not None and F.ENUM_IDS in self.flaws:
            owner = self.world.customers.get(asset.customer or "")
            return _error(403, "forbidden", "vehicle is registered to another account",
                          account=owner.name if owner else None, brand=asset.tenant)
        if reveal and access is Access.MISSING and F.ENUM_IDS in self.flaws:
            return _error(404, "not_found", "no such vehicle")
        if self.shape.deny == "soft":
            return Denied(self.ok([] if listing else {}))
        if self.shape.deny == "403":
            return _error(403, "forbidden", "not allowed")
        return _error(404, "not_found", "not found")

    def token_of(self, request: Request) -> str | None:
        shape = self.shape
        if shape.token == "bearer":
            value = request.headers.get("authorization", "")
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
        if shape.token == "header":
            return request.headers.get(shape.token_name) or None
        return request.cookies.get(shape.token_name) or None

    def principal(self, request: Request, *, optional: bool = False) -> Principal:
        """The signed-in caller; 401 unless ``optional`` and no token was sent at all."""
        brand = request.headers.get(self.shape.brand_header)
        token = self.token_of(request)
        if token is None:
            if optional:
                return Principal(None, brand_header=brand)
            raise self.unauthorized()
        try:
            claims = self.tokens.verify(token)
        except BadToken as exc:
            raise self.unauthorized(str(exc)) from exc
        user = self.world.users.get(claims.subject)
        if user is None or not self.state.session_valid(user, claims.session, claims.password_version):
            raise self.unauthorized("session is no longer valid")
        return Principal(user, claims.session, brand)

    def unauthorized(self, why: str = "authentication required") -> Denied:
        headers = {"WWW-Authenticate": 'Bearer realm="lab"'} if self.shape.token == "bearer" else {}
        return Denied(JSONResponse({"error": "unauthorized", "message": why}, 401, headers=headers))

    @staticmethod
    async def body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise _error(400, "bad_request", "body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise _error(400, "bad_request", "body must be a JSON object")
        return data

    def asset(self, request: Request) -> Asset | None:
        return self.world.assets.get(request.path_params[self.shape.id_param])

    def f(self, name: str) -> str:
        return self.shape.field(name)

    # -- renderers ----------------------------------------------------------------------------

    def vehicle(self, a: Asset, viewer: User | None = None) -> dict[str, object]:
        record: dict[str, object] = {
            "vin": a.vin, "id": a.id, "brand": a.tenant, "kind": a.kind, "model": a.model, "model_year": a.year,
            "nickname": a.nickname, "firmware_version": a.firmware, "customer_id": a.customer, "owner_id": a.owner,
            "locked": a.locked, "odometer_km": a.odometer_km, "charge_pct": a.charge_pct}
        if viewer is not None and viewer.customer is not None and viewer.customer == a.customer:
            record["bind_code"] = a.bind_code  # the owning account's members see it (to re-bind after a reset)
        return self.shape.render(record)

    def location(self, a: Asset) -> dict[str, object]:
        style = self.shape.location_style
        pos: dict[str, object]
        if style == "latlon":
            pos = {"lat": a.lat, "lon": a.lon}
        elif style == "latitude":
            pos = {"latitude": a.lat, "longitude": a.lon}
        else:
            pos = {"position": {"lat": a.lat, "lng": a.lon}}
        stamp = a.telemetry.get("ts", "2025-06-01T08:00:00+00:00")
        return self.shape.render({"id": a.id, **pos, "heading_deg": a.telemetry.get("heading", 90),
                                  "speed_kmh": a.telemetry.get("speed", 0), "recorded_at": stamp})

    def user(self, u: User) -> dict[str, object]:
        return self.shape.render({"user_id": u.id, "username": u.username, "display_name": u.display_name,
                                  "email": u.email, "role": u.role, "customer_id": u.customer})

    def customer(self, c: Customer) -> dict[str, object]:
        return self.shape.render({"customer_id": c.id, "name": c.name, "kind": c.kind, "brand": c.tenant,
                                  "vehicle_count": len(self.world.by_customer.get(c.id, ()))})

    # -- auth and profile ---------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        data = await self.body(request)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise _error(400, "bad_request", "username and password are required")
        if self.state.throttled(username):
            return JSONResponse({"error": "too_many_attempts", "message": "try again later"}, 429,
                                headers={"Retry-After": str(int(FAILURE_WINDOW))})
        user = self.world.by_username.get(username)
        expected = user.password if user else "x" * 16
        good = hmac.compare_digest(password.encode(), expected.encode()) and user is not None
        if not good or user is None:
            self.state.login_failed(username)
            if F.USER_ENUM in self.flaws:
                if user is None:
                    raise _error(404, "unknown_user", "no account with this username")
                raise _error(401, "wrong_password", "the password is wrong")
            raise _error(401, "invalid_credentials", "invalid username or password")
        self.state.failures.pop(username, None)
        token, _sid = self.tokens.issue(user, self.state.password_versions.get(user.id, 0))
        response = self.ok({self.shape.token_field: token, self.f("token_type"): "Bearer",
                            self.f("expires_in"): LIFETIME, self.f("user_id"): user.id})
        if self.shape.token == "cookie":
            response.set_cookie(self.shape.token_name, token, max_age=LIFETIME, httponly=True, samesite="lax")
        return response

    async def logout(self, request: Request) -> Response:
        who = self.principal(request)
        self.state.revoked_sessions.add(who.session)
        response = Response(status_code=204)
        if self.shape.token == "cookie":
            response.delete_cookie(self.shape.token_name)
        return response

    async def profile_get(self, request: Request) -> Response:
        user = self._user(self.principal(request))
        return self.ok(self.shape.render({
            "user_id": user.id, "username": user.username, "display_name": user.display_name,
            "email": user.email, "phone": user.phone, "role": user.role, "brand": user.tenant,
            "customer_id": user.customer}))

    async def profile_update(self, request: Request) -> Response:
        user = self._user(self.principal(request))
        data = await self.body(request)
        for key in ("display_name", "phone"):
            value = data.get(self.f(key))
            if value is not None:
                if not isinstance(value, str) or len(value) > 200:
                    raise _error(422, "invalid", f"{self.f(key)} must be a short string")
                setattr(user, key, value)
        if F.MASS_ASSIGN in self.flaws:  # the bug: protected fields copied from the body
            role = data.get("role")
            if role in ("owner", "driver", "customer-admin", "brand-admin", "operator"):
                user.role = role
            if data.get("brand") in self.world.brands:
                user.tenant = data["brand"]
            if data.get(self.f("customer_id")) in self.world.customers:
                user.customer = data[self.f("customer_id")]
        return await self.profile_get(request)

    async def password_change(self, request: Request) -> Response:
        user = self._user(self.principal(request))
        data = await self.body(request)
        current, new = data.get(self.f("current_password")), data.get(self.f("new_password"))
        if not isinstance(current, str) or not isinstance(new, str) or len(new) < 10:
            raise _error(422, "invalid", "current and new password (10+ characters) are required")
        if not hmac.compare_digest(current.encode(), user.password.encode()):
            raise _error(403, "wrong_password", "the current password is wrong")
        user.password = new
        self.state.password_versions[user.id] = self.state.password_versions.get(user.id, 0) + 1
        return Response(status_code=204)

    def _user(self, who: Principal) -> User:
        assert who.user is not None  # principal() without optional never returns anonymous
        return who.user

    # -- vehicles -----------------------------------------------------------------------------

    async def vehicles_list(self, request: Request) -> Response:
        user = self._user(self.principal(request))
        limit, offset = self._int(request, "limit", 50, 1, 200), self._int(request, "offset", 0, 0, 10**7)
        if user.role == "operator":
            mine = list(self.world.assets.values())[offset:offset + limit]
        else:
            own = list(self.world.customer_assets(user.customer)) if user.customer else []
            mine = (own + [a for a in self.state.shared_with(user) if a not in own])[offset:offset + limit]
        return self.ok([self.vehicle(a, user) for a in mine])

    def _int(self, request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise _error(400, "bad_request", f"{name} must be an integer") from exc
        if not low <= value <= high:
            raise _error(400, "bad_request", f"{name} must be between {low} and {high}")
        return value

    async def vehicle_get(self, request: Request) -> Response:
        who, asset = self.principal(request), self.asset(request)
        access = self.state.can_read(who, asset, header_view=True)
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access, asset=asset, reveal=True)
        return self.ok(self.vehicle(asset, who.user))

    async def vehicle_update(self, request: Request) -> Response:
        who, asset = self.principal(request), self.asset(request)
        access = self.state.can_edit(who, asset)
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access)
        data = await self.body(request)
        nickname = data.get("nickname")
        if nickname is not None:
            if not isinstance(nickname, str) or len(nickname) > 64:
                raise _error(422, "invalid", "nickname must be at most 64 characters")
            asset.nickname = nickname
        if F.MASS_ASSIGN in self.flaws:  # the bug: ownership fields accepted from the client
            customer = self.world.customers.get(str(data.get(self.f("customer_id"), "")))
            owner = self.world.users.get(str(data.get(self.f("owner_id"), "")))
            if customer is None and owner is not None:
                customer = self.world.customers.get(owner.customer or "")
            if customer is not None:
                self.world.rebind(asset, customer, owner)
        return self.ok(self.vehicle(asset, who.user))

    async def vehicle_location(self, request: Request) -> Response:
        who = self.principal(request, optional=F.UNAUTH_LOCATION in self.flaws)
        asset = self.asset(request)
        if who.user is None and asset is not None:  # only reachable with the unauth flaw on
            return self.ok(self.location(asset))
        access = self.state.can_read(who, asset, header_view=True)
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access)
        return self.ok(self.location(asset))

    async def vehicle_trips(self, request: Request) -> Response:
        who, asset = self.principal(request), self.asset(request)
        access = self.state.can_read(who, asset, header_view=True)
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access, listing=True)
        since_raw = request.query_params.get("since")
        if F.INPUT_CRASH in self.flaws:  # the bug: parsed without validation
            limit = int(request.query_params.get("limit", "10"))
            since = datetime.fromisoformat(since_raw) if since_raw is not None else None
        else:
            limit = self._int(request, "limit", 10, 1, 50)
            try:
                since = datetime.fromisoformat(since_raw) if since_raw is not None else None
            except ValueError as exc:
                raise _error(400, "bad_request", "since must be an ISO 8601 date-time") from exc
            if since is not None and since.tzinfo is None:
                raise _error(400, "bad_request", "since must carry a time zone")
        trips = self.world.trips(asset, limit=limit, since=since)
        return self.ok([self.shape.render({
            "trip_id": t.id, "id": asset.id, "started_at": t.started.isoformat(), "duration_min": t.minutes,
            "distance_km": t.km,
            "start": {"lat": t.start[0], "lon": t.start[1]}, "end": {"lat": t.end[0], "lon": t.end[1]}})
            for t in trips])

    async def commands_list(self, request: Request) -> Response:
        who, asset = self.principal(request), self.asset(request)
        access = self.state.can_read(who, asset)
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access, listing=True)
        return self.ok([self._command(c) for c in self.state.commands.get(asset.id, [])[-50:]])

    def _command(self, c: Command) -> dict[str, object]:
        return self.shape.render({"command_id": c.id, "command": c.command, "args": c.args, "status": c.status,
                                  "issued_at": c.issued_at})

    async def commands_send(self, request: Request) -> Response:
        who, asset = self.principal(request), self.asset(request)
        data = await self.body(request)
        command, args = data.get("command"), data.get("args", {})
        if command not in COMMANDS or not isinstance(args, dict):
            raise _error(422, "invalid", f"command must be one of {', '.join(COMMANDS)}; args an object")
        if command == "climate":
            temp = args.get("temperature_c")
            if not isinstance(temp, int | float) or not 16 <= temp <= 28:
                raise _error(422, "invalid", "climate needs temperature_c between 16 and 28")
        access = self.state.can_command(who, asset, str(command))
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access)
        cmd = await self.state.queue(asset, str(command), args, self._user(who).id)
        return self.ok(self._command(cmd), status=202)

    async def shares_list(self, request: Request) -> Response:
        who, asset = self.principal(request), self.asset(request)
        user = self._user(who)
        if asset is None:
            return self.ok([])
        if self.state.can_edit(who, asset) is Access.ALLOW:
            shares = [s for s in self.state.shares.values() if s.asset == asset.id and not s.revoked]
        else:  # a filter, not an error: callers see at most their own share
            shares = [s for s in self.state.shares.values()
                      if s.asset == asset.id and s.grantee == user.id and not s.revoked]
        return self.ok([self._share(s) for s in shares])

    def _share(self, s: Share) -> dict[str, object]:
        grantee = self.world.users.get(s.grantee)
        return self.shape.render({"share_id": s.id, "username": grantee.username if grantee else None,
                                  "role": s.role, "revoked": s.revoked})

    async def shares_create(self, request: Request) -> Response:
        who, asset = self.principal(request), self.asset(request)
        access = self.state.can_manage(who, asset, sharing=True)
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access)
        data = await self.body(request)
        grantee = self.world.by_username.get(str(data.get("username", "")))
        role = data.get("role", "guest")
        if role not in ("guest", "driver"):
            raise _error(422, "invalid", "role must be guest or driver")
        if grantee is None or grantee.tenant != asset.tenant or grantee.customer is None:
            raise _error(422, "invalid", "the user cannot receive shares of this vehicle")
        share = Share(f"sh-{len(self.state.shares) + 1:05d}", asset.id, grantee.id, role, self._user(who).id)
        self.state.shares[share.id] = share
        return self.ok(self._share(share), status=201)

    async def shares_revoke(self, request: Request) -> Response:
        who, asset = self.principal(request), self.asset(request)
        access = self.state.can_manage(who, asset)
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access)
        share = self.state.shares.get(request.path_params["share_id"])
        if share is None or share.asset != asset.id:
            raise self.object_denial(Access.MISSING)
        share.revoked = True
        return Response(status_code=204)

    async def notifications_mute(self, request: Request) -> Response:
        user = self._user(self.principal(request))
        self.state.muted.setdefault(user.id, set()).add(request.path_params[self.shape.id_param])
        return Response(status_code=204)

    async def bind(self, request: Request) -> Response:
        user = self._user(self.principal(request))
        data = await self.body(request)
        vin, code = data.get("vin"), data.get(self.f("bind_code"))
        if not isinstance(vin, str):
            raise _error(422, "invalid", "vin is required")
        if user.role not in ("owner", "customer-admin") or user.customer is None:
            raise _error(403, "forbidden", "only account owners and fleet admins bind vehicles")
        asset = self.world.by_vin.get(vin.upper())
        customer = self.world.customers[user.customer]
        if asset is not None and F.BIND_HIJACK in self.flaws:  # the bug: possession never proven
            self.world.rebind(asset, customer, user)
            return self.ok(self.vehicle(asset, user))
        if asset is not None and asset.customer == customer.id:
            return self.ok(self.vehicle(asset, user))
        if (asset is None or asset.tenant != user.tenant or asset.customer is not None
                or not isinstance(code, str) or not hmac.compare_digest(code.encode(), asset.bind_code.encode())):
            raise _error(400, "bind_failed", "VIN or bind code not recognised")
        self.world.rebind(asset, customer, user)
        return self.ok(self.vehicle(asset, user))

    async def unbind(self, request: Request) -> Response:
        who = self.principal(request)
        data = await self.body(request)
        vin = data.get("vin")
        if not isinstance(vin, str):
            raise _error(422, "invalid", "vin is required")
        asset = self.world.by_vin.get(vin.upper())
        access = Access.ALLOW if asset is not None and F.UNBIND_ANY in self.flaws else self.state.can_manage(who, asset)
        if access is not Access.ALLOW or asset is None:
            raise self.object_denial(access)
        self.world.rebind(asset, None, None)
        for share in self.state.shares.values():
            if share.asset == asset.id:
                share.revoked = True
        return Response(status_code=204)

    # -- administration -----------------------------------------------------------------------

    async def customer_users(self, request: Request) -> Response:
        user = self._user(self.principal(request))
        customer = self.world.customers.get(request.path_params["customer_id"])
        if customer is None:
            raise self.object_denial(Access.MISSING)
        allowed = user.role == "operator"
        if user.role == "brand-admin":
            if customer.tenant != user.tenant and F.XTENANT_ADMIN not in self.flaws:
                raise _error(403, "forbidden", "not an administrator of this brand")
            allowed = True
        elif user.customer == customer.id:
            if user.role != "customer-admin" and F.BFLA not in self.flaws:
                raise _error(403, "forbidden", "customer administrators only")
            allowed = True
        if not allowed:
            raise self.object_denial(Access.FOREIGN)
        return self.ok([self.user(u) for u in self.world.members(customer.id)])

    def _brand_scope(self, request: Request) -> str:
        user = self._user(self.principal(request))
        brand = str(request.path_params["brand"])
        if brand not in self.world.brands:
            raise _error(404, "not_found", "no such brand")
        if user.role == "operator":
            return brand
        if user.role == "brand-admin":
            if brand == user.tenant or F.XTENANT_ADMIN in self.flaws:
                return brand
            raise _error(403, "forbidden", "not an administrator of this brand")
        if brand == user.tenant and F.BFLA in self.flaws:
            return brand
        raise _error(403, "forbidden", "brand administrators only")

    async def brand_customers(self, request: Request) -> Response:
        brand = self._brand_scope(request)
        return self.ok([self.customer(c) for c in self.world.customers.values() if c.tenant == brand][:500])

    async def brand_users(self, request: Request) -> Response:
        brand = self._brand_scope(request)
        return self.ok([self.user(u) for u in self.world.users.values() if u.tenant == brand][:500])

    async def ops_brands(self, request: Request) -> Response:
        user = self._user(self.principal(request))
        if user.role != "operator":
            raise _error(403, "forbidden", "platform operators only")
        return self.ok([self.shape.render({"brand": b.slug, "name": b.name, "consumer": b.consumer})
                        for b in self.world.brands.values()])

    # -- public and hidden --------------------------------------------------------------------

    async def firmware(self, request: Request) -> Response:
        releases = []
        for brand in self.world.brands.values():
            kinds = ("dashcam", "charger") if brand.consumer else ("vehicle",)
            for kind in kinds:
                for model in MODELS[kind]:
                    releases.append(self.shape.render({
                        "brand": brand.slug, "model": model, "kind": kind, "latest_version": "5.9.6",
                        "released_at": "2025-05-20", "notes": "Stability and connectivity fixes."}))
        return self.ok(releases)

    async def status(self, request: Request) -> Response:
        return self.ok({"status": "ok", "api": "2.14.3", "components": {"api": "ok", "mqtt": "ok"}})

    async def debug_dump(self, request: Request) -> Response:
        dump = []
        for asset in list(self.world.assets.values())[:200]:
            owner = self.world.users.get(asset.owner or "")
            dump.append({"vin": asset.vin, "id": asset.id, "brand": asset.tenant, "customer": asset.customer,
                         "owner": owner.username if owner else None, "lat": asset.lat, "lon": asset.lon,
                         "bind_code": asset.bind_code})
        return JSONResponse({"vehicles": dump, "sessions_revoked": len(self.state.revoked_sessions)})


def _guard(handler: Handler) -> Handler:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except Denied as denied:
            return denied.response
        except Exception as exc:  # only flaws reach here; answer like a careless framework would
            log.debug("handler crashed", exc_info=True)
            trace = traceback.format_exception_only(type(exc), exc)[-1].strip()
            return JSONResponse({"error": "internal_error", "detail": trace}, status_code=500)

    return run


def create_app(world: World, flaws: frozenset[str] | set[str] = frozenset(), sink: CommandSink = discard) -> FastAPI:
    """The REST app for ``world`` (whose shape it serves) with ``flaws`` switched on."""
    api = Api(world, frozenset(flaws), sink)
    shape = world.shape
    app = FastAPI(title="Lab telematics API", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.api = api
    handlers: dict[str, Handler] = {
        "login": api.login, "logout": api.logout, "profile.get": api.profile_get,
        "profile.update": api.profile_update, "password.change": api.password_change,
        "vehicles.list": api.vehicles_list, "vehicles.bind": api.bind, "vehicles.unbind": api.unbind,
        "vehicle.get": api.vehicle_get, "vehicle.update": api.vehicle_update,
        "vehicle.location": api.vehicle_location, "vehicle.trips": api.vehicle_trips,
        "vehicle.commands.list": api.commands_list, "vehicle.commands.send": api.commands_send,
        "vehicle.shares.list": api.shares_list, "vehicle.shares.create": api.shares_create,
        "vehicle.shares.revoke": api.shares_revoke, "vehicle.notifications.mute": api.notifications_mute,
        "customer.users": api.customer_users, "brand.customers": api.brand_customers,
        "brand.users": api.brand_users, "ops.brands": api.ops_brands, "firmware.catalogue": api.firmware,
        "status": api.status,
    }
    assert set(handlers) == set(shape.operations), "every operation needs exactly one handler"
    for name, op in shape.operations.items():
        app.add_api_route(shape.base_path + op.path, _guard(handlers[name]), methods=[op.method],
                          include_in_schema=False, name=name)
    if F.HIDDEN_ROUTE in flaws:
        app.add_api_route(shape.base_path + shape.hidden_route, _guard(api.debug_dump), methods=["GET"],
                          include_in_schema=False)
    spec = build_spec(shape)

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec)

    async def security_txt(request: Request) -> Response:
        return PlainTextResponse(SECURITY_TXT)

    app.add_api_route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)
    app.add_api_route("/.well-known/security.txt", security_txt, methods=["GET"], include_in_schema=False)
    return app
