"""Run the lab: the REST API over HTTPS (plus plain HTTP with the plaintext flaw), the broker and
the simulated vehicles; and describe it: URLs, the ready plan, the ground truth.

In-process use (tests, probes)::

    async with running_lab(LabConfig(flaws=resolve_flaws("all"), shape_seed=3, mqtt="off")) as lab:
        lab.base_url, lab.plan, lab.flaws, lab.ground_truth()

    with lab_in_thread(LabConfig(...)) as lab:   # the same, from synchronous code
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn
import yaml
from fastapi import FastAPI

from iotvet.lab.flaws import FLAWS, TRAPS, Flaw, GroundCell
from iotvet.lab.pki import LabPKI
from iotvet.lab.rest import flaws as rest_flaws
from iotvet.lab.rest.app import Api, create_app
from iotvet.lab.rest.state import CommandSink, discard
from iotvet.lab.shapes import Shape, shape_for
from iotvet.lab.world import PROBE_BACKEND, World, WorldSize

log = logging.getLogger(__name__)
MqttMode = Literal["auto", "on", "off"]
_MQTT_MODULES = ("iotvet.lab.mqtt.broker", "iotvet.lab.mqtt.vehicles", "iotvet.lab.mqtt.backend")


class UnknownFlaw(ValueError):
    """Raised when ``--flaws`` names an id no plane declares."""


def load_flaws() -> dict[str, Flaw]:
    """Every registered flaw, REST and (when its module exists) MQTT."""
    if importlib.util.find_spec("iotvet.lab.mqtt.flaws") is not None:
        importlib.import_module("iotvet.lab.mqtt.flaws")
    return dict(FLAWS)


def resolve_flaws(spec: str) -> frozenset[str]:
    """``all``, ``none`` or a comma-separated list of flaw ids, checked against the registry."""
    known = load_flaws()
    text = spec.strip()
    if text == "all":
        return frozenset(known)
    if text in ("none", ""):
        return frozenset()
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise UnknownFlaw(f"unknown lab flaw id(s): {', '.join(unknown)}; known ids: {', '.join(sorted(known))}")
    return frozenset(wanted)


def ground_truth(flaws: frozenset[str], shape: Shape) -> dict[str, Any]:
    """What is vulnerable (flaws with their cells) and what only looks vulnerable (traps)."""
    known = load_flaws()
    opened: set[GroundCell] = set()
    entries = []
    for fid in sorted(flaws):
        f = known[fid]
        masking = sorted(set(f.masked_by) & flaws)
        cells = [] if masking else f.cells(shape)
        opened.update(cells)
        entry = {"id": f.id, "check": f.check, "plane": f.plane, "description": f.description,
                 "cells": [c.as_json() for c in cells]}
        if masking:
            entry["masked_by"] = masking  # indistinguishable from outside while these are on
        entries.append(entry)
    traps = [{"id": t.id, "description": t.description,
              "cells": [c.as_json() for c in t.cells(shape) if c not in opened]} for t in TRAPS.values()]
    return {"shape_seed": shape.seed, "base_path": shape.base_path, "flaws": entries, "traps": traps}


@dataclass(frozen=True)
class LabConfig:
    """How to run the lab. Ports 0 mean "pick a free one"."""

    seed: int = 1
    shape_seed: int = 0
    size: WorldSize = field(default_factory=WorldSize)
    flaws: frozenset[str] = frozenset()
    host: str = "127.0.0.1"
    api_port: int = 0
    plain_port: int = 0
    mqtt: MqttMode = "auto"
    workdir: Path | None = None


@dataclass
class Lab:
    """A running lab: where it answers, what it knows, and the plan that tests it."""

    config: LabConfig
    world: World
    flaws: frozenset[str]
    workdir: Path
    ca: Path
    origin: str
    app: FastAPI
    plain_origin: str | None = None
    mqtt_url: str | None = None
    mqtt_plain_url: str | None = None
    mqtt_ws_url: str | None = None
    mqtt_note: str = ""
    _bridge: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> Shape:
        """The API surface this lab serves."""
        return self.world.shape

    @property
    def base_url(self) -> str:
        """The spec's server URL: spec path templates are appended to it."""
        return self.origin + self.shape.base_path

    @property
    def plain_base_url(self) -> str | None:
        """The plaintext twin of :attr:`base_url` (plaintext flaw only)."""
        return self.plain_origin + self.shape.base_path if self.plain_origin else None

    @property
    def openapi_url(self) -> str:
        """Where the OpenAPI document is served."""
        return self.origin + "/openapi.json"

    @property
    def api(self) -> Api:
        """The REST handlers and their runtime state (``lab.api.state``)."""
        api: Api = self.app.state.api
        return api

    @property
    def fleet(self) -> Any:
        """The simulated vehicles (``iotvet.lab.mqtt.vehicles.Fleet``), or None without MQTT."""
        return self._bridge.get("fleet")

    @property
    def bus(self) -> Any:
        """The backend's ``CommandBus``, or None without MQTT."""
        return self._bridge.get("bus")

    @property
    def plan(self) -> dict[str, Any]:
        """The ready plan for this lab (see :func:`build_plan`)."""
        return build_plan(self)

    def ground_truth(self) -> dict[str, Any]:
        """The ground truth for this lab's flaws and shape."""
        return ground_truth(self.flaws, self.shape)

    def write_plan(self, path: Path) -> None:
        """Write :attr:`plan` as YAML."""
        path.write_text("# iotvet plan written by `iotvet lab`: a throwaway lab, passwords are literal.\n"
                        + yaml.safe_dump(self.plan, sort_keys=False, width=120), encoding="utf-8")

    def urls(self) -> dict[str, str]:
        """The lab's endpoints, for printing."""
        out = {"api": self.base_url, "openapi": self.openapi_url, "ca": str(self.ca)}
        for key, value in (("api (plaintext)", self.plain_base_url), ("mqtt", self.mqtt_url),
                           ("mqtt (websocket)", self.mqtt_ws_url), ("mqtt (plaintext)", self.mqtt_plain_url)):
            if value:
                out[key] = value
        return out


def _jsonpath(shape: Shape) -> str:
    return "$." + (f"{shape.wrapper}." if shape.wrapper else "") + shape.token_field


def _hostport(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def build_plan(lab: Lab) -> dict[str, Any]:
    """A plan (the core's public keys) naming the lab's cast, sacrificial accounts and devices."""
    world, shape = lab.world, lab.shape
    ops = shape.operations
    ca = str(lab.ca.resolve())
    plan: dict[str, Any] = {"target": {"base_url": lab.base_url, "openapi": lab.openapi_url, "ca": ca}}
    hosts = [_hostport(lab.origin)] + ([_hostport(lab.plain_origin)] if lab.plain_origin else [])
    if lab.mqtt_url:
        from iotvet.lab.mqtt.topics import TEMPLATES

        plan["mqtt"] = {"url": lab.mqtt_url, "require_tls": True, "ca": ca, "topics": dict(TEMPLATES)}
        if lab.mqtt_plain_url:
            plan["mqtt"]["also"] = [lab.mqtt_plain_url]
        hosts += [_hostport(u) for u in (lab.mqtt_url, lab.mqtt_ws_url, lab.mqtt_plain_url) if u]
    plan["scope"] = {"hosts": list(dict.fromkeys(hosts))}
    plan["safety"] = {"mode": "safe-writes", "rate": 50, "concurrency": 8, "max_requests": 20000,
                      "max_duration": "10m"}
    plan["policy"] = [
        {"resource": shape.collection, "visible_to": "same-group"},
        {"operation": f"GET {ops['firmware.catalogue'].path}", "public": True},
        {"operation": f"GET {ops['status'].path}", "public": True},
    ]
    one = ops["vehicle.shares.revoke"].path
    plan["flows"] = {
        "logout": {"method": "POST", "path": ops["logout"].path},
        "password_change": {"method": "POST", "path": ops["password.change"].path,
                            "json": {shape.field("current_password"): "{password}",
                                     shape.field("new_password"): "{new_password}"}},
        "bind": {"method": "POST", "path": ops["vehicles.bind"].path,
                 "json": {"vin": "{vin}", shape.field("bind_code"): "{bind_code}"}},
        "unbind": {"method": "POST", "path": ops["vehicles.unbind"].path, "json": {"vin": "{vin}"}},
        "share": {"method": "POST", "path": ops["vehicle.shares.create"].path,
                  "json": {"username": "{user}", "role": "guest"}},
        "unshare": {"method": "DELETE", "path": one},
    }
    use: dict[str, str] | None = None
    if shape.token == "header":
        use = {"header": shape.token_name, "prefix": ""}
    elif shape.token == "cookie":
        use = {"cookie": shape.token_name}
    identities: list[dict[str, Any]] = []
    accounts = {a.username: a for a in world.mqtt_accounts(lab.flaws)} if lab.mqtt_url else {}
    for user in world.cast():
        role = {"customer-admin": "admin", "brand-admin": "admin", "operator": "operator"}.get(user.role, "user")
        ident: dict[str, Any] = {"name": user.username, "tenant": user.tenant or "platform"}
        if user.customer:
            ident["group"] = user.customer
        ident["role"] = role
        devices = [a.id for a in world.plan_assets(user)]
        if devices:
            ident["devices"] = devices
        if user.sacrificial:
            ident["sacrificial"] = True
        auth: dict[str, Any] = {"type": "login", "request": {
            "method": "POST", "path": ops["login"].path,
            "json": {"username": user.username, "password": user.password}}, "token": _jsonpath(shape)}
        if use:
            auth["use"] = dict(use)  # a copy per identity: no YAML anchors in the written plan
        ident["auth"] = auth
        ident["verify"] = {"method": "GET", "path": ops["profile.get"].path}
        account = accounts.get(user.username)
        if account is not None:
            ident["mqtt"] = {"username": account.username, "password": account.password,
                             "client_id": account.client_id}
        identities.append(ident)
    for asset in world.bench_assets() if lab.mqtt_url else ():
        # Bench devices, not the simulated vehicles: the broker binds client ids to usernames, so
        # logging in as a live vehicle would kick it and be kicked back by its reconnect.
        ident = {"name": f"dev.{asset.id}", "tenant": asset.tenant}
        if asset.customer:
            ident["group"] = asset.customer
        ident.update({"role": "device", "device": asset.id})
        if asset.sacrificial:
            ident["sacrificial"] = True
        ident["mqtt"] = {"username": asset.id, "password": world.device_password(asset, lab.flaws),
                         "client_id": asset.id}
        identities.append(ident)
    probe_backend = accounts.get(PROBE_BACKEND)
    if probe_backend is not None:
        # Only a backend may publish on command topics; this is a backend account of its own
        # (never the live CommandBus's), so command channels can be proven without disturbing it.
        identities.append({"name": probe_backend.username, "tenant": "platform", "role": "operator",
                           "mqtt": {"username": probe_backend.username, "password": probe_backend.password,
                                    "client_id": probe_backend.client_id or probe_backend.username}})
    plan["identities"] = identities
    return plan


# -- serving ---------------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever runs the lab."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class _Serving:
    server: _Server
    task: asyncio.Task[None]
    port: int


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # proto set: asyncio then disables Nagle
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _serve(app: Any, host: str, port: int, cert: tuple[Path, Path] | None) -> _Serving:
    sock = _listen(host, port)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2,
                            ssl_certfile=str(cert[0]) if cert else None, ssl_keyfile=str(cert[1]) if cert else None)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            await task  # raises the startup error
            raise RuntimeError("the API server stopped while starting")
        await asyncio.sleep(0.01)
    bound = int(sock.getsockname()[1])
    return _Serving(server, task, bound)


async def _stop(serving: _Serving) -> None:
    serving.server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(serving.task, 10)


def _mqtt_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in _MQTT_MODULES)


def _origin(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


@contextlib.asynccontextmanager
async def running_lab(config: LabConfig) -> AsyncIterator[Lab]:
    """Start the lab, yield its handle, and stop everything (servers, broker, vehicles) on exit."""
    load_flaws()
    shape = shape_for(config.shape_seed)
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="iotvet-lab-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        async with _serving_lab(config, shape, workdir) as lab:
            yield lab
    finally:
        if config.workdir is None:  # a directory we made ourselves: leave nothing behind
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def _serving_lab(config: LabConfig, shape: Shape, workdir: Path) -> AsyncIterator[Lab]:
    world = await asyncio.to_thread(World, config.seed, config.size, shape)
    pki = LabPKI(workdir / "pki")
    server_cert = pki.issue_server("api")
    async with contextlib.AsyncExitStack() as stack:
        sink: CommandSink = discard
        bridge: dict[str, Any] = {}
        note = "switched off (--mqtt off)"
        if config.mqtt != "off":
            if _mqtt_available():
                try:
                    bridge = await _start_mqtt(stack, world, config, workdir, pki)
                    sink = bridge["bus"].publish_command
                    note = ""
                except Exception as exc:
                    if config.mqtt == "on":
                        raise
                    log.debug("MQTT half not started", exc_info=True)
                    note = f"not started ({exc}); serving REST only"
            elif config.mqtt == "on":
                raise RuntimeError("the lab's MQTT modules are not installed")
            else:
                note = "the MQTT half is not installed; serving REST only"
        app = create_app(world, config.flaws, sink)
        if "bus" in bridge:
            _wire_state(bridge["bus"], app)
        tls = await _serve(app, config.host, config.api_port, (server_cert.cert, server_cert.key))
        servers = [tls]
        lab = Lab(config, world, config.flaws, workdir, pki.ca_pem, _origin("https", config.host, tls.port), app,
                  mqtt_note=note, _bridge=bridge)
        if rest_flaws.PLAINTEXT in config.flaws:
            plain = await _serve(app, config.host, config.plain_port, None)
            servers.append(plain)
            lab.plain_origin = _origin("http", config.host, plain.port)
        broker = bridge.get("broker")
        if broker is not None:
            lab.mqtt_url, lab.mqtt_ws_url, lab.mqtt_plain_url = broker.tls_url, broker.ws_url, broker.plain_url
        try:
            yield lab
        finally:
            for serving in servers:
                await _stop(serving)


async def _start_mqtt(stack: contextlib.AsyncExitStack, world: World, config: LabConfig, workdir: Path,
                      pki: LabPKI) -> dict[str, Any]:
    from iotvet.lab.mqtt.backend import CommandBus  # type: ignore[import-not-found, unused-ignore]
    from iotvet.lab.mqtt.broker import Broker
    from iotvet.lab.mqtt.vehicles import Fleet  # type: ignore[import-not-found, unused-ignore]

    accounts = world.mqtt_accounts(config.flaws)
    broker = await stack.enter_async_context(Broker(accounts, config.flaws, workdir / "mqtt", pki, config.host))
    live = {a.id for a in world.simulated_assets()}
    devices = [a for a in accounts if a.kind == "device" and a.device in live]  # bench devices stay offline
    backend = next(a for a in accounts if a.kind == "backend" and a.username == "backend")
    fleet = await stack.enter_async_context(Fleet(broker, devices))
    bus = await stack.enter_async_context(CommandBus(broker, backend))
    return {"broker": broker, "fleet": fleet, "bus": bus}


def _wire_state(bus: Any, app: Any) -> None:
    state = app.state.api.state

    def on_state(*args: Any) -> None:
        device, payload = args[-2], args[-1]
        if isinstance(device, str) and isinstance(payload, dict):
            state.apply_state(device, payload)

    with contextlib.suppress(Exception):
        bus.on_state(on_state)


@contextlib.contextmanager
def lab_in_thread(config: LabConfig) -> Iterator[Lab]:
    """Run :func:`running_lab` on its own event loop in a daemon thread (for synchronous callers)."""
    ready: Future[Lab] = Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with running_lab(config) as lab:
                ready.set_result(lab)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="iotvet-lab", daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        if not thread.is_alive():
            loop.close()
