"""A private Mosquitto for tests: generated config and password file, a free port, always reaped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@dataclass
class Broker:
    """A running test broker."""

    port: int
    url: str
    hostport: str


@contextmanager
def mosquitto(workdir: Path, users: dict[str, str], acl: str | None = None) -> Iterator[Broker]:
    """Start Mosquitto on a free 127.0.0.1 port with password auth for ``users``."""
    workdir.mkdir(parents=True, exist_ok=True)
    pwfile = workdir / "passwd"
    pwfile.write_text("")
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True, capture_output=True)
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous false", f"password_file {pwfile}",
             "persistence false", f"log_dest file {workdir / 'mosquitto.log'}"]
    if os.geteuid() == 0:
        lines.insert(0, "user root")
    if acl is not None:
        (workdir / "acl").write_text(acl)
        lines.append(f"acl_file {workdir / 'acl'}")
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                                       ) from None
                time.sleep(0.05)
        yield Broker(port, f"mqtt://127.0.0.1:{port}", f"127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
