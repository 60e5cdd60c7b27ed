"""Record a scripted app session against a running lab as a HAR 1.2 file.

The session is what a brand's mobile app does: status and firmware checks, login, profile,
vehicle list and details, position, trips, a harmless ``ping`` command, shares, logout; then a
fleet admin of a second brand looks at its fleet and users. Every entry is a real exchange.
"""

from __future__ import annotations

import json
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx  # noqa: TID251 - the lab is a target, not iotvet's prober; it may use httpx

from iotvet import __version__
from iotvet.lab.shapes import Shape
from iotvet.lab.world import User, World

USER_AGENT = "LabTelematics/5.2.0 (Android 14; Pixel 8)"


def _pairs(items: Any) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in items]


class HarRecorder:
    """An httpx client that keeps every exchange as a HAR entry."""

    def __init__(self, base_url: str, ca: Path) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, verify=ssl.create_default_context(cafile=str(ca)),
                                        timeout=15, headers={"User-Agent": USER_AGENT})
        self.entries: list[dict[str, Any]] = []

    async def send(self, method: str, path: str, *, json_body: Any = None, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        request = self.client.build_request(method, path, json=json_body, params=params, headers=headers)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        response = await self.client.send(request)
        await response.aread()
        elapsed = (time.perf_counter() - t0) * 1000
        self.entries.append(self._entry(request, response, started, elapsed))
        return response

    @staticmethod
    def _entry(request: httpx.Request, response: httpx.Response, started: datetime, ms: float) -> dict[str, Any]:
        body = request.content.decode("utf-8", "replace")
        req: dict[str, Any] = {
            "method": request.method, "url": str(request.url), "httpVersion": "HTTP/1.1",
            "cookies": [], "headers": _pairs(request.headers.multi_items()),
            "queryString": _pairs(request.url.params.multi_items()), "headersSize": -1,
            "bodySize": len(request.content)}
        if request.content:
            req["postData"] = {"mimeType": request.headers.get("content-type", "application/json"), "text": body}
        text = response.content.decode("utf-8", "replace")
        resp = {
            "status": response.status_code, "statusText": response.reason_phrase, "httpVersion": "HTTP/1.1",
            "cookies": [{"name": k, "value": v} for k, v in response.cookies.items()],
            "headers": _pairs(response.headers.multi_items()),
            "content": {"size": len(response.content), "mimeType": response.headers.get("content-type", ""),
                        "text": text},
            "redirectURL": response.headers.get("location", ""), "headersSize": -1, "bodySize": len(response.content)}
        return {"startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "time": round(ms, 3), "request": req, "response": resp, "cache": {},
                "timings": {"send": 0, "wait": round(ms, 3), "receive": 0}}

    def har(self) -> dict[str, Any]:
        """The HAR document so far."""
        return {"log": {"version": "1.2", "creator": {"name": "iotvet lab", "version": __version__},
                        "pages": [], "entries": self.entries}}

    async def aclose(self) -> None:
        await self.client.aclose()


class _App:
    """One signed-in app user, carrying its token the way the shape wants."""

    def __init__(self, rec: HarRecorder, shape: Shape, user: User) -> None:
        self.rec, self.shape, self.user = rec, shape, user
        self.headers: dict[str, str] = {shape.brand_header: user.tenant or ""}

    async def login(self) -> None:
        r = await self.rec.send("POST", self.shape.op("login").path, headers=self.headers,
                                json_body={"username": self.user.username, "password": self.user.password})
        token = self.shape.unwrap(r.json())[self.shape.token_field]  # type: ignore[index]
        if self.shape.token == "bearer":
            self.headers["Authorization"] = f"Bearer {token}"
        elif self.shape.token == "header":
            self.headers[self.shape.token_name] = token

    async def call(self, op: str, path: dict[str, str] | None = None, *, json_body: Any = None,
                   params: dict[str, str] | None = None) -> httpx.Response:
        o = self.shape.op(op)
        return await self.rec.send(o.method, o.path.format(**(path or {})), json_body=json_body, params=params,
                                   headers=self.headers)


async def record_session(base_url: str, ca: Path, world: World) -> dict[str, Any]:
    """Drive the scripted session against ``base_url`` and return the HAR document."""
    shape = world.shape
    rec = HarRecorder(base_url, ca)
    cast = world.cast()
    brands = list(world.brands)
    owner = next(u for u in cast if u.role == "owner" and u.tenant == brands[0] and not u.sacrificial)
    admin = next(u for u in cast if u.role == "customer-admin" and u.tenant == brands[1])
    try:
        await rec.send("GET", shape.op("status").path)
        await rec.send("GET", shape.op("firmware.catalogue").path)
        app = _App(rec, shape, owner)
        await app.login()
        await app.call("profile.get")
        listing = await app.call("vehicles.list")
        cars = shape.unwrap(listing.json())
        vid = {shape.id_param: str(cars[0][shape.id_field])} if isinstance(cars, list) and cars else None
        if vid:
            await app.call("vehicle.get", vid)
            await app.call("vehicle.location", vid)
            await app.call("vehicle.trips", vid, params={"limit": "5"})
            ping = {"command": "ping", "args": {"nonce": "har-session"}}
            await app.call("vehicle.commands.send", vid, json_body=ping)
            await app.call("vehicle.commands.list", vid)
            await app.call("vehicle.shares.list", vid)
        await app.call("logout")
        fleet = _App(rec, shape, admin)
        await fleet.login()
        await fleet.call("vehicles.list", params={"limit": "20"})
        await fleet.call("customer.users", {"customer_id": admin.customer or ""})
        await fleet.call("logout")
    finally:
        await rec.aclose()
    return rec.har()


async def write_har(path: Path, base_url: str, ca: Path, world: World) -> int:
    """Record the session into ``path``; returns the number of entries."""
    har = await record_session(base_url, ca, world)
    path.write_text(json.dumps(har, indent=2), encoding="utf-8")
    return len(har["log"]["entries"])
