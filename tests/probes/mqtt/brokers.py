"""Brokers for the MQTT probe's tests: Mosquitto with generated configs, and a hostile fake.

:func:`mosquitto` starts a private Mosquitto on free 127.0.0.1 ports (a TLS listener from a
throwaway CA, optionally a plaintext one) with a password file and ACL text that the caller
writes, and always stops it. :class:`FakeBroker` speaks just enough MQTT 3.1.1 to misbehave:
drop connections, stall, or flood every client with messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotvet.lab.mqtt.broker import password_line
from iotvet.lab.pki import LabPKI
from tests.servers import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
VC1, VC2 = "VC1AAA00000000001", "VC1AAA00000000002"
RH1, RH2 = "RH2BBB00000000001", "RH2BBB00000000002"
TEMPLATES = {"telemetry": "{tenant}/{device}/telemetry", "command": "{tenant}/{device}/cmd",
             "state": "{tenant}/{device}/state"}


@dataclass
class Account:
    """A broker account and the plan identity it stands for."""

    name: str
    username: str
    password: str
    tenant: str
    role: str
    device: str | None = None
    devices: tuple[str, ...] = ()

    def identity(self, *, sacrificial: bool = True) -> dict[str, Any]:
        ident: dict[str, Any] = {"name": self.name, "tenant": self.tenant, "role": self.role}
        if self.device:
            ident["device"] = self.device
        if self.devices:
            ident["devices"] = list(self.devices)
        if sacrificial and self.role == "device":
            ident["sacrificial"] = True
        ident["mqtt"] = {"username": self.username, "password": self.password, "client_id": self.username}
        return ident


def cast(shared_device_password: bool = False) -> dict[str, Account]:
    """Two brands, two vehicles each (username = VIN), one app user per vehicle, one backend."""
    pw = secrets.token_urlsafe(10)
    out = {
        "vc1": Account("vc1", VC1, pw if shared_device_password else secrets.token_urlsafe(10), "vistacam", "device",
                       device=VC1),
        "vc2": Account("vc2", VC2, pw if shared_device_password else secrets.token_urlsafe(10), "vistacam", "device",
                       device=VC2),
        "rh1": Account("rh1", RH1, secrets.token_urlsafe(10), "roadhaus", "device", device=RH1),
        "rh2": Account("rh2", RH2, secrets.token_urlsafe(10), "roadhaus", "device", device=RH2),
        "ana": Account("ana", "ana", secrets.token_urlsafe(10), "vistacam", "user", devices=(VC1,)),
        "ben": Account("ben", "ben", secrets.token_urlsafe(10), "vistacam", "user", devices=(VC2,)),
        "cara": Account("cara", "cara", secrets.token_urlsafe(10), "roadhaus", "user", devices=(RH1,)),
        "dan": Account("dan", "dan", secrets.token_urlsafe(10), "roadhaus", "user", devices=(RH2,)),
        "backend": Account("backend", "backend", secrets.token_urlsafe(10), "platform", "operator"),
    }
    return out


def secure_acl(accounts: dict[str, Account], *, extra_templates: dict[str, str] | None = None,
               app_extra: tuple[str, ...] = (), user_extra: tuple[str, ...] = (),
               extra_for: dict[str, tuple[str, ...]] | None = None) -> str:
    """Per-user patterns for devices (``%u`` is the VIN), one block per app user, the backend reads and writes all.

    ``app_extra`` lines go to every app user, ``user_extra`` to every account, ``extra_for`` to named ones.
    """
    templates = {**TEMPLATES, **(extra_templates or {})}
    tenants = sorted({a.tenant for a in accounts.values() if a.role == "device"})
    outbound = [t for n, t in templates.items() if n != "command"]
    lines = []
    for tenant in tenants:
        lines.append(f"pattern read {templates['command'].format(tenant=tenant, device='%u')}")
        lines += [f"pattern write {t.format(tenant=tenant, device='%u')}" for t in outbound]
    for account in accounts.values():
        lines += ["", f"user {account.username}"]
        if account.role == "operator":
            lines.append("topic readwrite #")
        elif account.role == "user":
            for vin in account.devices:
                lines += [f"topic read {t.format(tenant=account.tenant, device=vin)}" for t in outbound]
            lines += list(app_extra)
        lines += list(user_extra) + list((extra_for or {}).get(account.name, ()))
    return "\n".join(lines) + "\n"


@dataclass
class Running:
    """A started Mosquitto."""

    tls_port: int
    plain_port: int | None
    ca: Path
    workdir: Path
    extra_ports: dict[str, int] = field(default_factory=dict)
    pid: int = 0
    """The broker's process id (SIGHUP reloads its password and ACL files)."""

    @property
    def tls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    @property
    def plain_url(self) -> str | None:
        return f"mqtt://127.0.0.1:{self.plain_port}" if self.plain_port else None

    def log(self) -> str:
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def mosquitto(workdir: Path, accounts: dict[str, Account], acl: str, *, bind_ids: bool = True, plain: bool = False,
              anonymous: bool = False, extra: tuple[str, ...] = (), bridge: tuple[str, ...] = ()) -> Iterator[Running]:
    """Start Mosquitto with a TLS listener (and a plaintext one with ``plain``); stop it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    pki = LabPKI(workdir / "pki")
    server = pki.issue_server("broker")
    (workdir / "passwd").write_text("".join(password_line(a.username, a.password) + "\n" for a in accounts.values()))
    (workdir / "acl").write_text(acl)
    tls_port = free_port()
    plain_port = free_port() if plain or bridge else None
    lines = [
        *(["user root"] if os.geteuid() == 0 else []),
        "per_listener_settings false",
        f"allow_anonymous {'true' if anonymous else 'false'}",
        f"password_file {workdir / 'passwd'}",
        f"acl_file {workdir / 'acl'}",
        "persistence false",
        f"log_dest file {workdir / 'mosquitto.log'}",
        "log_type all",
        *extra,
        "",
        f"listener {tls_port} 127.0.0.1",
        f"cafile {pki.ca_pem}", f"certfile {server.cert}", f"keyfile {server.key}",
        f"use_username_as_clientid {'true' if bind_ids else 'false'}",
    ]
    if plain_port:
        lines += ["", f"listener {plain_port} 127.0.0.1", f"use_username_as_clientid {'true' if bind_ids else 'false'}"]
    if bridge:
        lines += ["", *(b.replace("{plain_port}", str(plain_port)) for b in bridge)]
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _wait_ports(proc, [p for p in (tls_port, plain_port) if p])
        if bridge:
            deadline = time.monotonic() + 5
            while "Connecting bridge" not in (workdir / "mosquitto.log").read_text(errors="replace"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the bridge did not start")
                time.sleep(0.05)
            time.sleep(0.3)
        yield Running(tls_port, plain_port if plain else None, pki.ca_pem, workdir, pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_ports(proc: subprocess.Popen[bytes], ports: list[int]) -> None:
    import socket

    deadline = time.monotonic() + 10
    for port in ports:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"mosquitto did not start: {err}") from None
                time.sleep(0.03)


def plan_for(running: Running, accounts: dict[str, Account], *, mode: str = "intrusive",
             templates: dict[str, str] | None = None, url: str | None = None, rate: float = 2000,
             max_requests: int = 100_000, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A plan for a broker started by :func:`mosquitto`."""
    hosts = [f"127.0.0.1:{running.tls_port}"] + ([f"127.0.0.1:{running.plain_port}"] if running.plain_port else [])
    mqtt: dict[str, Any] = {"url": url or running.tls_url, "require_tls": True, "ca": str(running.ca),
                            "topics": dict(templates or TEMPLATES)}
    if running.plain_url:
        mqtt["also"] = [running.plain_url]
    chosen = names or tuple(accounts)
    return {"mqtt": mqtt, "scope": {"hosts": hosts},
            "safety": {"mode": mode, "rate": rate, "concurrency": 16, "max_requests": max_requests,
                       "max_duration": "2m", "request_timeout": "5s"},
            "identities": [accounts[n].identity() for n in chosen]}


# -- a hostile broker ----------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


class FakeBroker:
    """A TCP server on 127.0.0.1 that speaks a little MQTT 3.1.1 and misbehaves on purpose.

    ``drop``: close every connection right after its CONNECT. ``stall``: accept and never answer.
    ``flood``: answer CONNECT, SUBSCRIBE and PUBLISH properly but route nothing, and send every
    client a stream of junk PUBLISH packets. ``drop-later``: CONNACK, then close after a moment.
    """

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.port = free_port()
        self.sent = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"fake-broker-{behaviour}")

    def __enter__(self) -> FakeBroker:
        self._thread.start()
        assert self._ready.wait(5), "fake broker did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            self.connections += 1
            try:
                await self._serve(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                pass
            finally:
                tasks.discard(task)
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_packet(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = (await reader.readexactly(1))[0]
        length, shift = 0, 0
        while True:
            byte = (await reader.readexactly(1))[0]
            length += (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return head, await reader.readexactly(length)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.behaviour == "stall":
            await reader.read()  # until the client gives up
            return
        head, _ = await self._read_packet(reader)
        if head >> 4 != 1:
            return
        if self.behaviour == "drop":
            return
        writer.write(_packet(0x20, b"\x00\x00"))
        await writer.drain()
        if self.behaviour == "drop-later":
            await asyncio.sleep(0.05)
            return
        flood = asyncio.ensure_future(self._flood(writer))
        try:
            while True:
                head, body = await self._read_packet(reader)
                kind = head >> 4
                if kind == 8:  # SUBSCRIBE -> SUBACK, every filter granted QoS 1
                    mid, rest, count = body[:2], body[2:], 0
                    while rest:
                        size = int.from_bytes(rest[:2], "big")
                        rest = rest[2 + size + 1:]
                        count += 1
                    writer.write(_packet(0x90, mid + b"\x01" * count))
                elif kind == 10:  # UNSUBSCRIBE -> UNSUBACK
                    writer.write(_packet(0xB0, body[:2]))
                elif kind == 3 and (head >> 1) & 3:  # PUBLISH QoS 1 -> PUBACK, routed nowhere
                    size = int.from_bytes(body[:2], "big")
                    writer.write(_packet(0x40, body[2 + size:4 + size]))
                elif kind == 12:
                    writer.write(_packet(0xD0, b""))
                elif kind == 14:
                    return
        finally:
            flood.cancel()

    async def _flood(self, writer: asyncio.StreamWriter) -> None:
        topic = b"flood/junk"
        body = len(topic).to_bytes(2, "big") + topic + b"x" * 200
        packet = _packet(0x30, body)
        while True:
            writer.write(packet * 50)
            self.sent += 50
            await writer.drain()
            await asyncio.sleep(0)
