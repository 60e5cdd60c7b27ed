"""Measure which async HTTP client iotvet's transport should build on.

One run starts a small FastAPI app under uvicorn in a separate process on a free 127.0.0.1 port,
then drives its single JSON endpoint (a vehicle GET, ~350-byte body) with:

  (a) ``wrk``                 -- the reference: what the server delivers to a C client that costs ~nothing;
  (b) a bare aiohttp loop     -- one ClientSession, TCPConnector(limit=N), N workers;
  (c) a bare httpx loop       -- one AsyncClient, Limits(max_connections=N), N workers;
  (d) iotvet's own transport  -- HttpTransport through its public API, rate and budgets set very high.

Every client gets the same connection count (default 16), a short warm-up and then the same measured
duration (default 5 s). The Python loops run in this process, one ``asyncio.run`` each; only the server
runs elsewhere, so client and server never share an event loop. Every loop stops by itself at its
deadline, and nothing talks to anything but 127.0.0.1. Besides requests/second, each row shows the CPU
the server and the client used, and requests per client CPU second: on a small machine the single
uvicorn worker is often the limit, and then only the client's cost tells the clients apart.

Run:  .venv/bin/python benchmarks/http_client.py [--seconds 5] [--warmup 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx  # noqa: TID251 -- this benchmark exists to compare httpx with aiohttp
from fastapi import FastAPI

HOST = "127.0.0.1"
VIN = "WVWZZZ1KZAW000001"
VEHICLE_PATH = f"/api/v1/vehicles/{VIN}"
INFO_PATH = "/_bench/info"
SERVER_START_TIMEOUT = 20.0

# --------------------------------------------------------------------------------------------------
# The server side: imported by uvicorn in its own process through ``--factory http_client:create_app``.
# --------------------------------------------------------------------------------------------------


def _vehicle(vin: str) -> dict[str, Any]:
    return {
        "vin": vin,
        "model": "e-Hatch",
        "model_year": 2024,
        "owner_id": "u-3f2a9c1e",
        "odometer_km": 18342.6,
        "battery": {"soc_pct": 76, "range_km": 284, "charging": False},
        "location": {"lat": 52.52, "lon": 13.405, "updated_at": "2025-01-01T12:00:00Z"},
        "locked": True,
        "climate": {"cabin_c": 21.5, "preconditioning": False},
        "firmware": "4.2.1",
        "telematics_unit": "tcu-7781",
    }


def create_app() -> FastAPI:
    """The benchmark server: one vehicle GET and one endpoint reporting what uvicorn runs on."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/api/v1/vehicles/{vin}")
    async def get_vehicle(vin: str) -> dict[str, Any]:
        return _vehicle(vin)

    @app.get(INFO_PATH)
    async def info() -> dict[str, str]:
        loop = asyncio.get_running_loop()
        http = "httptools" if "uvicorn.protocols.http.httptools_impl" in sys.modules else "h11"
        import uvicorn

        return {
            "uvicorn": uvicorn.__version__,
            "loop": f"{type(loop).__module__}.{type(loop).__qualname__}",
            "http": http,
            "python": platform.python_version(),
        }

    return app


# --------------------------------------------------------------------------------------------------
# Running the server.
# --------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    with _NO_PROXY.open(url, timeout=timeout) as resp:
        return resp.status, resp.read()


@contextlib.contextmanager
def running_server() -> Iterator[tuple[str, int, dict[str, str]]]:
    """Start uvicorn in its own process; yield (base URL, its pid, what it reports it runs on)."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", "http_client:create_app", "--factory",
        "--app-dir", str(Path(__file__).resolve().parent),
        "--host", HOST, "--port", str(port),
        "--workers", "1", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    base = f"http://{HOST}:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            info = _wait_ready(proc, base, log)
            yield base, proc.pid, info
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: Any) -> dict[str, str]:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n{log.read().decode(errors='replace')}")
        try:
            status, body = _get(base + INFO_PATH)
        except OSError:
            time.sleep(0.1)
            continue
        if status == 200:
            return dict(json.loads(body))
    raise RuntimeError(f"uvicorn did not answer on {base} within {SERVER_START_TIMEOUT:.0f} s")


# --------------------------------------------------------------------------------------------------
# Measuring.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    url: str
    server_pid: int
    connections: int  # connections, and workers for the Python loops
    warmup: int  # seconds, not counted
    seconds: int  # measured seconds


@dataclass
class Result:
    client: str
    requests: int  # successful (2xx) responses in the measured window
    errors: int  # non-2xx responses and failed requests
    elapsed: float  # seconds, from the start until the last in-flight request finished
    server_cpu: float | None = None  # share of one core the server used in the measured window
    client_cpu: float | None = None  # share of one core the client used in the measured window
    detail: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def per_client_cpu_second(self) -> float | None:
        """Requests per CPU second the client spent: its cost, whether or not the server was the limit."""
        if not self.client_cpu:
            return None
        return self.rps / self.client_cpu


@dataclass
class Skipped:
    client: str
    reason: str


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state); utime and stime are 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuWindow:
    """CPU used by the server and by the client between ``start()`` and ``share(elapsed)``."""

    def __init__(self, server_pid: int, client_clock: Callable[[], float]) -> None:
        self._pid = server_pid
        self._clock = client_clock
        self._server0: float | None = None
        self._client0 = 0.0

    def start(self) -> None:
        self._server0 = _process_cpu_seconds(self._pid)
        self._client0 = self._clock()

    def share(self, elapsed: float) -> tuple[float | None, float | None]:
        if elapsed <= 0:
            return None, None
        server1 = _process_cpu_seconds(self._pid)
        server = None if server1 is None or self._server0 is None else (server1 - self._server0) / elapsed
        return server, (self._clock() - self._client0) / elapsed


Fetch = Callable[[], Awaitable[bool]]  # one request; True when it answered 2xx


async def _drive(fetch: Fetch, workers: int, seconds: float) -> tuple[int, int, float]:
    """Run ``workers`` loops of ``fetch`` until ``seconds`` have passed; return (ok, errors, elapsed)."""
    ok = errors = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal ok, errors
        while time.perf_counter() < deadline:
            try:
                good = await fetch()
            except (TimeoutError, OSError, aiohttp.ClientError, httpx.HTTPError):
                good = False
            if good:
                ok += 1
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return ok, errors, time.perf_counter() - start


async def _warm_then_measure(name: str, fetch: Fetch, plan: Plan) -> Result:
    """Warm up (connections opened, code paths hot), then measure one window with the same client."""
    if plan.warmup > 0:
        await _drive(fetch, plan.connections, plan.warmup)
    cpu = CpuWindow(plan.server_pid, time.process_time)
    cpu.start()
    ok, errors, elapsed = await _drive(fetch, plan.connections, plan.seconds)
    return Result(name, ok, errors, elapsed, *cpu.share(elapsed))


async def _bench_aiohttp(plan: Plan) -> Result:
    connector = aiohttp.TCPConnector(limit=plan.connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def fetch() -> bool:
            async with session.get(plan.url) as resp:
                await resp.read()
                return 200 <= resp.status < 300

        result = await _warm_then_measure("aiohttp", fetch, plan)
    c_parser = aiohttp.http_parser.HttpResponseParser.__module__ == "aiohttp._http_parser"
    result.detail = f"aiohttp {aiohttp.__version__}, {'C' if c_parser else 'pure-Python'} HTTP parser"
    return result


async def _bench_httpx(plan: Plan) -> Result:
    limits = httpx.Limits(max_connections=plan.connections, max_keepalive_connections=plan.connections)
    async with httpx.AsyncClient(limits=limits, timeout=10.0, trust_env=False) as client:

        async def fetch() -> bool:
            resp = await client.get(plan.url)  # reads the whole body
            return resp.is_success

        result = await _warm_then_measure("httpx", fetch, plan)
    # httpcore imports sniffio on every pool operation; without it each failed import costs a sys.path scan.
    sniffio = importlib.util.find_spec("sniffio") is not None
    result.detail = f"httpx {httpx.__version__}, sniffio {'installed' if sniffio else 'absent'}"
    return result


def bench_aiohttp(plan: Plan) -> Result:
    """(b) bare aiohttp: one ClientSession, TCPConnector(limit=connections), one worker per connection."""
    return asyncio.run(_bench_aiohttp(plan))


def bench_httpx(plan: Plan) -> Result:
    """(c) bare httpx: one AsyncClient, Limits(max_connections=connections), one worker per connection."""
    return asyncio.run(_bench_httpx(plan))


def bench_iotvet_transport(plan: Plan) -> Result | Skipped:
    """(d) iotvet's own transport (``iotvet.transport.HttpTransport``) through its public API.

    Scope allows exactly the benchmark server; the governor's rate, request budget and duration
    budget are set far above anything this loop can reach, so it measures the transport's own
    overhead (scope check, governor permit, aiohttp, capped body read, exchange bookkeeping), with
    no listeners attached.
    """
    try:
        from iotvet.core.scope import Scope
        from iotvet.transport import Governor, HttpTransport, Request
    except ImportError as exc:
        return Skipped("iotvet", f"iotvet.transport is not importable: {exc}")

    async def run() -> Result:
        parts = urlsplit(plan.url)
        scope = Scope([f"{parts.hostname}:{parts.port}"])
        governor = Governor(rate=1e9, concurrency=plan.connections, max_requests=10**12, max_duration=10.0**9)
        request = Request("GET", plan.url, purpose="benchmark")
        async with HttpTransport(scope, governor, run_id="benchmark") as http:

            async def fetch() -> bool:
                exchange = await http.send(request)  # never raises for target behaviour
                return exchange.ok and exchange.response is not None and exchange.response.status < 300

            result = await _warm_then_measure("iotvet", fetch, plan)
        result.detail = "iotvet.transport.HttpTransport (aiohttp), no rate limit"
        return result

    return asyncio.run(run())


def bench_wrk(plan: Plan, threads: int, *, headers: Sequence[tuple[str, str]] = ()) -> Result | Skipped:
    """(a) wrk with ``plan.connections`` connections on ``threads`` threads: the server's ceiling.

    ``headers`` go on every request as ``-H "Name: value"`` (this benchmark sends none;
    ``rest_probe.py`` sends a bearer token).
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        return Skipped("wrk", "wrk not installed (apt-get install -y wrk)")
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False).stdout

    def run(duration: int) -> str:
        cmd = [wrk, f"-t{threads}", f"-c{plan.connections}", f"-d{duration}s", "--timeout", "10s"]
        for name, value in headers:
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(plan.url)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True)
        return proc.stdout

    if plan.warmup > 0:
        run(plan.warmup)
    cpu = CpuWindow(plan.server_pid, _children_cpu_seconds)
    cpu.start()
    out = run(plan.seconds)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+),", out, re.MULTILINE)
    if total is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    elapsed = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    socket_errors = re.search(r"Socket errors: (.+)", out)
    failed = sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1))) if socket_errors else 0
    detail = f"{version.split(' [')[0].strip()}, {threads} thread(s)"
    return Result("wrk", int(total.group(1)) - bad, bad + failed, elapsed, *cpu.share(elapsed), detail)


# --------------------------------------------------------------------------------------------------
# Reporting.
# --------------------------------------------------------------------------------------------------


def _ratio(result: Result | Skipped, ceiling: Result | Skipped) -> float | None:
    if isinstance(result, Result) and isinstance(ceiling, Result) and ceiling.rps > 0:
        return round(result.rps / ceiling.rps, 3)
    return None


def _share(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _record(r: Result | Skipped) -> dict[str, Any]:
    if isinstance(r, Skipped):
        return {"skipped": r.reason}
    return {
        "rps": round(r.rps, 1),
        "requests": r.requests,
        "errors": r.errors,
        "elapsed_s": round(r.elapsed, 3),
        "server_cpu": None if r.server_cpu is None else round(r.server_cpu, 2),
        "client_cpu": None if r.client_cpu is None else round(r.client_cpu, 2),
        "rps_per_client_cpu_s": None if r.per_client_cpu_second is None else round(r.per_client_cpu_second),
        "detail": r.detail,
    }


def _table(results: list[Result | Skipped], ceiling: Result | Skipped) -> str:
    columns = (
        "client",
        "req/s",
        "requests",
        "errors",
        "seconds",
        "x wrk",
        "srv cpu",
        "cli cpu",
        "req/cli-cpu-s",
    )
    widths = (8, 8, 9, 6, 7, 6, 7, 7, 13)
    rows: list[tuple[str, ...]] = []
    for r in results:
        if isinstance(r, Skipped):
            rows.append((r.client, *("-" * (len(columns) - 1)), f"skipped: {r.reason}"))
            continue
        ratio = _ratio(r, ceiling)
        rows.append(
            (
                r.client,
                f"{r.rps:.0f}",
                str(r.requests),
                str(r.errors),
                f"{r.elapsed:.2f}",
                f"{ratio:.2f}" if ratio is not None else "-",
                _share(r.server_cpu),
                _share(r.client_cpu),
                "-" if r.per_client_cpu_second is None else f"{r.per_client_cpu_second:.0f}",
                r.detail,
            )
        )

    def line(cells: tuple[str, ...]) -> str:
        fixed = [
            cells[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=False)),
        ]
        return "  ".join([*fixed, *cells[len(widths) :]]).rstrip()

    head = line((*columns, "detail"))
    return "\n".join([head, "-" * len(head), *(line(row) for row in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--seconds", type=int, default=5, help="measured seconds per client (default 5)")
    add("--warmup", type=int, default=1, help="warm-up seconds per client, not counted (default 1)")
    add("--connections", type=int, default=16, help="connections, and workers per loop (default 16)")
    add("--wrk-threads", type=int, default=1, help="wrk threads (default 1, like one event loop)")
    add("--json", action="store_true", help="print one JSON line on stdout, the table on stderr")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.warmup < 0 or args.connections < 1 or args.wrk_threads < 1:
        parser.error("--seconds must be >= 1, --warmup >= 0, --connections and --wrk-threads >= 1")
    out = sys.stderr if args.json else sys.stdout

    with running_server() as (base, pid, server):
        plan = Plan(base + VEHICLE_PATH, pid, args.connections, args.warmup, args.seconds)
        status, body = _get(plan.url)
        if status != 200:
            raise RuntimeError(f"{plan.url} answered {status}")
        print(
            f"server:  uvicorn {server['uvicorn']}, 1 worker, loop {server['loop']}, http {server['http']}\n"
            f"         GET {plan.url} -> {len(body)}-byte JSON\n"
            f"clients: {plan.connections} connections, {plan.warmup} s warm-up + {plan.seconds} s measured "
            f"each, on {os.cpu_count()} CPU(s), Python {platform.python_version()}",
            file=out,
            flush=True,
        )
        wrk = bench_wrk(plan, min(args.wrk_threads, args.connections))
        results = [wrk, bench_aiohttp(plan), bench_httpx(plan), bench_iotvet_transport(plan)]

    by_name = {r.client: r for r in results}
    ratios = {f"{name}/wrk": _ratio(by_name[name], wrk) for name in ("aiohttp", "httpx", "iotvet")}
    print(f"\n{_table(results, wrk)}\n", file=out)
    print("ratios: " + ", ".join(f"{k} = {'-' if v is None else v}" for k, v in ratios.items()), file=out)
    print(
        "srv/cli cpu: share of one core used by the server / the client in the measured window;\n"
        "req/cli-cpu-s: requests per CPU second the client spent (its cost, even where the server limits)",
        file=out,
    )

    if args.json:
        record = {
            "benchmark": "http_client",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "server": {**server, "workers": 1, "body_bytes": len(body)},
            "connections": plan.connections,
            "warmup_s": plan.warmup,
            "seconds": plan.seconds,
            "results": {r.client: _record(r) for r in results},
            "ratios": ratios,
        }
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
