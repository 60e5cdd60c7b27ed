"""Measure iotvet's REST probe against the lab: cost per decided cell, scaling, memory, and raw rate.

One run does two things:

  1. For each lab size (default 100, 1,000 and 10,000 vehicles; other sizes default, ``--flaws all``,
     ``--mqtt off``) it starts ``python benchmarks/rest_probe.py --one N --json`` as a fresh
     subprocess, so peak memory never carries over from one size to the next. That subprocess starts
     ``iotvet lab`` as a separate process, waits for its plan and its API, and runs the REST probe
     in-process exactly as ``iotvet probe`` does (``run_probe`` with in-memory sinks), but with the
     plan's ``safety.rate`` raised to 100000/s and ``max_requests`` to 1000000. It reports requests
     sent, wall time, CPU, peak RSS, cells by verdict, and every exchange classified by purpose:
     discovery, setup (spec, logins, verifications), reads (GET probes), victim views, writes
     (non-GET probes with their seeds, controls, read-backs and restores).
  2. Against one more lab (default the largest size), ``wrk`` and iotvet's transport each drive the
     same authenticated GET of one identity's own vehicle over HTTPS with 16 connections for 5 s:
     how close the engine comes to what the lab can serve.

Every lab is stopped (its process group terminated) whatever happens. Nothing talks to anything
but 127.0.0.1. Figures are ratios within one run; compare runs on the same machine only.

Run:  .venv/bin/python benchmarks/rest_probe.py [--sizes 100,1000,10000] [--seconds 5] [--json]
      .venv/bin/python benchmarks/rest_probe.py --one 1000 [--json]   # one size only, no rate part
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import yaml

from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan import LoadedPlan, load_plan
from iotvet.plan.schema import Identity, LoginAuth
from iotvet.probes.run import Sinks, run_probe
from iotvet.transport import Exchange, Governor, HttpTransport, Request
from iotvet.transport.http import TlsOptions

if TYPE_CHECKING:  # imported for real only where wrk and the engine run: it pulls in fastapi and httpx
    from http_client import Result, Skipped

SIZES = (100, 1_000, 10_000)
LAB_START_TIMEOUT = 180.0  # seconds for ``iotvet lab`` to write its plan and answer
LAB_STOP_TIMEOUT = 15.0
LAB_DURATION = 600  # the lab stops by itself after this long, should this script die without stopping it
CHECKS_ENV = "IOTVET_BENCH_CHECKS"
ONE_SIZE_TIMEOUT = 1800.0  # seconds for one ``--one N`` subprocess, lab start included
PROBE_RATE = 100_000  # safety.rate for the probe: far above what it reaches, so no rate limit
PROBE_MAX_REQUESTS = 1_000_000
REQUESTS_RATIO_TARGET = 1.1  # requests at the largest size / at the smallest: at most this
ENGINE_RATIO_TARGET = 0.8  # engine req/s / wrk req/s: at least this
VEHICLE_PATH = "/vehicles/{vin}"  # the vehicle read of shape 0, appended to target.base_url
CATEGORIES = ("discovery", "setup", "reads", "views", "writes", "other")
SETUP_PURPOSES = {"spec", "login", "verify"}
WRITE_PURPOSES = {"seed", "control", "restore"}  # plus every "...readback" and every non-GET "probe:..."

# --------------------------------------------------------------------------------------------------
# Running the lab as a separate process.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningLab:
    pid: int  # the ``iotvet lab`` process, which leads its own process group
    plan_path: Path  # the plan the lab wrote
    plan: dict[str, Any]  # the same, parsed
    start_s: float  # seconds from starting the process until its plan was written and its API answered


def _iotvet_command() -> str:
    """The ``iotvet`` console script of this interpreter's environment (.venv/bin/iotvet)."""
    beside = Path(sys.executable).with_name("iotvet")
    if beside.is_file():
        return str(beside)
    raise RuntimeError(f"no iotvet script beside {sys.executable}; run with the venv's python (.venv/bin/python)")


def _ssl_context(ca: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def _https_status(url: str, ca: str | None, timeout: float = 5.0) -> int:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_ssl_context(ca))
    )
    with opener.open(url, timeout=timeout) as resp:
        resp.read()
        return int(resp.status)


def _log_text(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


def _wait_lab(proc: subprocess.Popen[bytes], plan_path: Path, log: IO[bytes]) -> dict[str, Any]:
    """Wait until the lab has written its plan (its log says so) and its API answers; return the plan."""
    deadline = time.monotonic() + LAB_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"iotvet lab exited with {proc.returncode}:\n{_log_text(log)}")
        # The lab prints "plan written to" after the file is complete (unbuffered: PYTHONUNBUFFERED=1).
        if plan_path.is_file() and "plan written to" in _log_text(log):
            plan = yaml.safe_load(plan_path.read_text(encoding="utf-8"))
            target = plan["target"]
            try:
                if _https_status(target["openapi"], target.get("ca")) == 200:
                    return dict(plan)
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"iotvet lab did not come up within {LAB_START_TIMEOUT:.0f} s:\n{_log_text(log)}")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the lab's process group, then kill it if it does not go."""
    for sig, wait in ((signal.SIGTERM, LAB_STOP_TIMEOUT), (signal.SIGKILL, LAB_STOP_TIMEOUT)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def running_lab(vehicles: int) -> Iterator[RunningLab]:
    """``iotvet lab --vehicles N --mqtt off --flaws all`` in its own process group, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="iotvet-bench-") as tmp:
        root = Path(tmp)
        plan_path = root / "lab-plan.yaml"
        cmd = [
            _iotvet_command(), "lab", "--vehicles", str(vehicles), "--mqtt", "off", "--flaws", "all",
            "--write-plan", str(plan_path), "--workdir", str(root / "lab"), "--duration", str(LAB_DURATION),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with (root / "lab.log").open("w+b") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
            try:
                plan = _wait_lab(proc, plan_path, log)
                yield RunningLab(proc.pid, plan_path, plan, time.perf_counter() - start)
            finally:
                _stop_group(proc)


# --------------------------------------------------------------------------------------------------
# One size: the REST probe, in-process, as ``iotvet probe`` runs it (in the ``--one N`` subprocess).
# --------------------------------------------------------------------------------------------------


def category(exchange: Exchange) -> str:
    """discovery, setup, reads, views, writes or other, from the request's purpose and method."""
    purpose, method = exchange.request.purpose, exchange.request.method
    if purpose == "discover":
        return "discovery"
    if purpose in SETUP_PURPOSES:
        return "setup"
    if purpose.startswith("probe:"):
        return "reads" if method == "GET" else "writes"
    if purpose == "victim-view":
        return "views"
    if purpose in WRITE_PURPOSES or purpose.endswith("readback"):
        return "writes"
    return "other"


class Tally:
    """The ``Sinks.exchange`` callback: keeps every exchange (as a store would) and counts them."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.categories: Counter[str] = Counter()
        self.purposes: Counter[str] = Counter()
        self.body_bytes: Counter[str] = Counter()
        self.unsent = 0

    def __call__(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        if not exchange.sent:
            self.unsent += 1
            return
        kind = category(exchange)
        self.categories[kind] += 1
        self.purposes[f"{exchange.request.method} {exchange.request.purpose or '-'}"] += 1
        if exchange.response is not None:
            self.body_bytes[kind] += len(exchange.response.body)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unlimited_plan(lab: RunningLab) -> LoadedPlan:
    """The lab's plan with ``safety.rate`` and ``max_requests`` raised, loaded as ``iotvet probe`` loads it."""
    doc = dict(lab.plan)
    doc["safety"] = {**doc["safety"], "rate": PROBE_RATE, "max_requests": PROBE_MAX_REQUESTS}
    path = lab.plan_path.with_name("bench-plan.yaml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=120), encoding="utf-8")
    return load_plan(str(path), strict_env=True)


def _per(count: float, cells: int) -> float | None:
    return round(count / cells, 2) if cells else None


def probe_one(vehicles: int) -> dict[str, Any]:
    """Start a lab of ``vehicles``, probe it once, and return the record for that size."""
    with running_lab(vehicles) as lab:
        loaded = unlimited_plan(lab)
        cells: list[Any] = []
        findings: list[Any] = []
        tally = Tally()
        sinks = Sinks(cell=cells.append, finding=findings.append, exchange=tally)
        rss_before = _peak_rss_mib()
        lab_cpu0 = _process_cpu_seconds(lab.pid)
        cpu0 = time.process_time()
        start = time.perf_counter()
        chosen = {c for c in os.environ.get(CHECKS_ENV, "").split(",") if c.strip()} or None
        outcome = asyncio.run(run_probe(loaded, Redactor(loaded.secrets), sinks, only=chosen))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        lab_cpu1 = _process_cpu_seconds(lab.pid)
        peak = _peak_rss_mib()
    verdicts = Counter(str(cell.verdict.value) for cell in cells)
    decided = verdicts["enforced"] + verdicts["leak"]
    counts = {kind: tally.categories[kind] for kind in CATEGORIES}
    beyond = sum(counts.values()) - counts["discovery"]
    return {
        "vehicles": vehicles,
        "lab_start_s": round(lab.start_s, 2),
        "requests": outcome.requests,
        "exchanges_sent": sum(counts.values()),
        "exchanges_unsent": tally.unsent,
        "wall_s": round(wall, 3),
        "client_cpu_s": round(cpu, 3),
        "lab_cpu_s": None if lab_cpu0 is None or lab_cpu1 is None else round(lab_cpu1 - lab_cpu0, 2),
        "rss_before_probe_mib": round(rss_before, 1),
        "peak_rss_mib": round(peak, 1),
        "cells": len(cells),
        "verdicts": dict(sorted(verdicts.items())),
        "decided": decided,
        "findings": len(findings),
        "requests_per_decided": _per(outcome.requests, decided),
        "by_category": counts,
        "beyond_discovery": beyond,
        "per_decided": {
            "beyond_discovery": _per(beyond, decided),
            **{kind: _per(counts[kind], decided) for kind in CATEGORIES if kind != "discovery"},
        },
        "response_bytes": {kind: tally.body_bytes[kind] for kind in CATEGORIES},
        "purposes": dict(sorted(tally.purposes.items())),
        "incomplete": outcome.incomplete,
    }


def run_one_subprocess(vehicles: int) -> dict[str, Any]:
    """``rest_probe.py --one N --json`` in a fresh interpreter; its record, or one naming the failure."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(vehicles), "--json"]
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, timeout=ONE_SIZE_TIMEOUT, check=False
        )  # stderr passes through
    except subprocess.TimeoutExpired:
        return {"vehicles": vehicles, "error": f"timed out after {ONE_SIZE_TIMEOUT:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"vehicles": vehicles, "error": f"exited with {proc.returncode}"}
    return dict(json.loads(lines[-1]))


# --------------------------------------------------------------------------------------------------
# Raw rate: wrk and iotvet's transport on one authenticated vehicle GET.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    url: str  # GET {base_url}/vehicles/{vin}
    identity: str
    headers: tuple[tuple[str, str], ...]  # the identity's credential, as iotvet places it
    body_bytes: int
    hosts: list[str]
    ca: str | None


def first_user(loaded: LoadedPlan) -> Identity:
    """The plan's first identity with role user, a login and a device of its own."""
    for ident in loaded.plan.identities:
        if ident.role == "user" and ident.devices and isinstance(ident.auth, LoginAuth):
            return ident
    raise RuntimeError("the plan names no user identity with a login and a device")


async def _log_in(loaded: LoadedPlan) -> Target:
    """Log in as the first user identity with the plan's login request and check its vehicle GET."""
    from iotvet.auth.credentials import extract_token, place_token

    plan = loaded.plan
    assert plan.target is not None
    ident = first_user(loaded)
    auth = ident.auth
    assert isinstance(auth, LoginAuth)
    ca = str(loaded.resolve(plan.target.ca)) if plan.target.ca else None
    spec = auth.request
    url = spec.path if "://" in spec.path else plan.target.base_url + spec.path
    headers = [("Content-Type", "application/json"), *spec.headers.items()]
    body = json.dumps(spec.json_body).encode()
    governor = Governor(rate=1e9, concurrency=1, max_requests=10**6, max_duration=600.0)
    async with HttpTransport(Scope(plan.scope.hosts), governor, run_id="benchmark", ca=ca) as http:
        login = await http.send(Request(spec.method, url, tuple(headers), body, ident.name, "login"))
        if login.response is None:
            raise RuntimeError(f"login as {ident.name} failed: {login.error}")
        issued = extract_token(auth, login.response)
        if isinstance(issued, str):
            raise RuntimeError(f"login as {ident.name}: {issued}")
        placement = place_token(issued.value, issued.cookies, auth.use)
        if placement.query:
            raise RuntimeError("a token placed in the query string is not supported here")
        creds = list(placement.headers)
        if placement.cookies:
            creds.append(("Cookie", "; ".join(f"{k}={v}" for k, v in placement.cookies.items())))
        vehicle = plan.target.base_url + VEHICLE_PATH.format(vin=ident.devices[0])
        check = await http.send(Request("GET", vehicle, tuple(creds), None, ident.name, "benchmark"))
        if check.response is None or check.response.status != 200:
            status = check.response.status if check.response else check.error
            raise RuntimeError(f"GET {vehicle} as {ident.name} answered {status}")
        return Target(vehicle, ident.name, tuple(creds), len(check.response.body), plan.scope.hosts, ca)


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (or stolen by the hypervisor), from /proc/stat."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


class OtherLoad:
    """Cores that processes other than the lab and the client kept busy while a measurement ran.

    The machine is shared (other jobs may run beside the benchmark), and lab and client compete for
    the same cores: this says how many of them the benchmark really had.
    """

    def __init__(self, lab_pid: int, client_clock: Callable[[], float]) -> None:
        self._lab, self._clock = lab_pid, client_clock
        self._start = (time.perf_counter(), _machine_busy_seconds(), _process_cpu_seconds(lab_pid), client_clock())

    def cores(self) -> float | None:
        wall0, busy0, lab0, client0 = self._start
        busy1, lab1 = _machine_busy_seconds(), _process_cpu_seconds(self._lab)
        if busy0 is None or busy1 is None or lab0 is None or lab1 is None:
            return None
        ours = (lab1 - lab0) + (self._clock() - client0)
        return round(max(0.0, (busy1 - busy0) - ours) / (time.perf_counter() - wall0), 2)


@dataclass
class RateRun:
    target: Target
    results: list[Result | Skipped]  # wrk, then the engine
    others: dict[str, float | None]  # client -> cores other processes used during its warm-up and window


def bench_rate(lab: RunningLab, args: argparse.Namespace) -> RateRun:
    """wrk, then iotvet's transport, on the same authenticated vehicle GET of the running lab."""
    import http_client as hc  # the sibling benchmark: its Plan, Result, wrk runner, measuring loop and table

    loaded = load_plan(str(lab.plan_path), strict_env=True)
    target = asyncio.run(_log_in(loaded))
    window = hc.Plan(target.url, lab.pid, args.connections, args.warmup, args.seconds)
    load = OtherLoad(lab.pid, hc._children_cpu_seconds)
    wrk = hc.bench_wrk(window, min(args.wrk_threads, args.connections), headers=target.headers)
    others = {"wrk": load.cores()}

    async def engine() -> hc.Result:
        governor = Governor(rate=1e9, concurrency=window.connections, max_requests=10**12, max_duration=10.0**9)
        tls = TlsOptions(ca=target.ca)
        request = Request("GET", target.url, target.headers, None, target.identity, "benchmark")
        async with HttpTransport(Scope(target.hosts), governor, run_id="benchmark", ca=target.ca) as http:

            async def fetch() -> bool:
                exchange = await http.send(request, tls=tls)  # never raises for target behaviour
                return exchange.ok and exchange.response is not None and 200 <= exchange.response.status < 300

            result = await hc._warm_then_measure("iotvet", fetch, window)
        result.detail = f"iotvet.transport.HttpTransport, Governor(rate=1e9, concurrency={window.connections})"
        return result

    load = OtherLoad(lab.pid, time.process_time)
    engine_result = asyncio.run(engine())
    others["iotvet"] = load.cores()
    return RateRun(target, [wrk, engine_result], others)


# --------------------------------------------------------------------------------------------------
# Reporting.
# --------------------------------------------------------------------------------------------------


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join([cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])


def _grid(columns: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    head = _line(columns, widths)
    return "\n".join([head, "-" * len(head), *(_line(r, widths) for r in rows)])


def probe_tables(records: list[dict[str, Any]]) -> str:
    """Two tables: the run of each size, and its requests per decided cell by kind."""
    run_cols = [
        "vehicles",
        "lab up s",
        "requests",
        "wall s",
        "req/s",
        "cli cpu s",
        "lab cpu s",
        "rss0 MiB",
        "peak MiB",
        "cells",
        "enforced",
        "leak",
        "inconcl.",
        "not-tested",
        "decided",
        "findings",
    ]
    cost_cols = [
        "vehicles",
        "discovery",
        "setup",
        "reads",
        "views",
        "writes",
        "req/decided",
        "beyond disc/dec",
        "reads/dec",
        "writes/dec",
        "views/dec",
        "setup/dec",
    ]
    run_rows: list[list[str]] = []
    cost_rows: list[list[str]] = []
    errors: list[str] = []
    for r in records:
        if "error" in r:
            errors.append(f"{r['vehicles']} vehicles: {r['error']}")
            continue
        v, per, by = r["verdicts"], r["per_decided"], r["by_category"]
        rate = r["requests"] / r["wall_s"] if r["wall_s"] else None
        run_rows.append(
            [
                f"{r['vehicles']:,}",
                f"{r['lab_start_s']:.1f}",
                str(r["requests"]),
                f"{r['wall_s']:.2f}",
                _fmt(rate, ".0f"),
                f"{r['client_cpu_s']:.2f}",
                _fmt(r["lab_cpu_s"], ".2f"),
                f"{r['rss_before_probe_mib']:.0f}",
                f"{r['peak_rss_mib']:.0f}",
                str(r["cells"]),
                str(v.get("enforced", 0)),
                str(v.get("leak", 0)),
                str(v.get("inconclusive", 0)),
                str(v.get("not-tested", 0)),
                str(r["decided"]),
                str(r["findings"]),
            ]
        )
        cost_rows.append(
            [
                f"{r['vehicles']:,}",
                *(str(by[k]) for k in ("discovery", "setup", "reads", "views", "writes")),
                _fmt(r["requests_per_decided"], ".2f"),
                _fmt(per["beyond_discovery"], ".2f"),
                _fmt(per["reads"], ".2f"),
                _fmt(per["writes"], ".2f"),
                _fmt(per["views"], ".2f"),
                _fmt(per["setup"], ".2f"),
            ]
        )
        if r["incomplete"]:
            errors.append(f"{r['vehicles']} vehicles: incomplete: {'; '.join(r['incomplete'])}")
    parts = [_grid(run_cols, run_rows), "", _grid(cost_cols, cost_rows)]
    if errors:
        parts += ["", *errors]
    return "\n".join(parts)


def requests_ratio(records: list[dict[str, Any]]) -> float | None:
    """Requests at the largest size over requests at the smallest."""
    good = sorted((r for r in records if "error" not in r), key=lambda r: r["vehicles"])
    if len(good) < 2 or not good[0]["requests"]:
        return None
    return round(float(good[-1]["requests"]) / float(good[0]["requests"]), 3)


def _machine(loadavg: tuple[float, float, float]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in loadavg],  # other jobs on a shared machine show here
    }


def _verdict(value: float | None, target: float, at_most: bool) -> str:
    if value is None:
        return "not measured"
    met = value <= target if at_most else value >= target
    return f"{value:.3f} ({'meets' if met else 'MISSES'} target {'<=' if at_most else '>='} {target})"


def main_one(vehicles: int, as_json: bool) -> int:
    record = probe_one(vehicles)
    summary = (
        f"rest_probe: {vehicles:,} vehicles: {record['requests']} requests in {record['wall_s']:.2f} s, "
        f"{record['decided']} decided cells, peak RSS {record['peak_rss_mib']:.0f} MiB"
    )
    if as_json:
        print(summary, file=sys.stderr, flush=True)
        print(json.dumps(record))
    else:
        print(probe_tables([record]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--sizes", default=",".join(str(n) for n in SIZES), help="lab sizes in vehicles (default 100,1000,10000)")
    add("--rate-vehicles", type=int, default=None, help="lab size for wrk vs engine (default the largest size)")
    add("--seconds", type=int, default=5, help="measured seconds for wrk and for the engine (default 5)")
    add("--warmup", type=int, default=1, help="warm-up seconds for each, not counted (default 1)")
    add("--connections", type=int, default=16, help="connections, and engine workers (default 16)")
    add("--wrk-threads", type=int, default=1, help="wrk threads (default 1, like one event loop)")
    add("--one", type=int, default=None, metavar="N", help="probe one lab of N vehicles only (no rate part)")
    add("--json", action="store_true", help="print one JSON line on stdout, the tables on stderr")
    add("--checks", default="", help="comma-separated check ids to run (default: every registered check)")
    args = parser.parse_args(argv)
    if args.checks:
        os.environ[CHECKS_ENV] = args.checks  # read by the --one subprocesses, which inherit it
    if args.one is not None:
        if args.one < 0:
            parser.error("--one must be >= 0")
        return main_one(args.one, args.json)
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes vehicle counts separated by commas")
    if not sizes or min(sizes) < 0:
        parser.error("--sizes needs at least one count >= 0")
    if args.seconds < 1 or args.warmup < 0 or args.connections < 1 or args.wrk_threads < 1:
        parser.error("--seconds must be >= 1, --warmup >= 0, --connections and --wrk-threads >= 1")
    out = sys.stderr if args.json else sys.stdout
    rate_vehicles = max(sizes) if args.rate_vehicles is None else args.rate_vehicles
    loadavg = os.getloadavg()
    print(
        f"REST probe of the lab at {', '.join(f'{n:,}' for n in sizes)} vehicles (one fresh subprocess each), "
        f"then wrk vs engine at {rate_vehicles:,}; {os.cpu_count()} CPU(s), Python {platform.python_version()}",
        file=out,
        flush=True,
    )

    records = [run_one_subprocess(n) for n in sizes]
    import http_client as hc

    with running_lab(rate_vehicles) as lab:
        rate = bench_rate(lab, args)
    target, (wrk, engine) = rate.target, rate.results
    ratio = requests_ratio(records)
    engine_ratio = hc._ratio(engine, wrk)

    print(f"\n{probe_tables(records)}\n", file=out)
    print(f"requests, largest / smallest size: {_verdict(ratio, REQUESTS_RATIO_TARGET, at_most=True)}", file=out)
    print(
        f"\nwrk vs engine: GET {target.url} as {target.identity} ({target.body_bytes}-byte JSON), "
        f"{args.connections} connections, {args.warmup} s warm-up + {args.seconds} s measured, lab of "
        f"{rate_vehicles:,} vehicles\n\n{hc._table(rate.results, wrk)}\n",
        file=out,
    )
    print(
        "other processes on the machine kept busy: "
        + ", ".join(f"{_fmt(cores, '.2f')} cores during {client}" for client, cores in rate.others.items())
        + f" (of {os.cpu_count()})",
        file=out,
    )
    print(f"engine / wrk: {_verdict(engine_ratio, ENGINE_RATIO_TARGET, at_most=False)}", file=out)

    if args.json:
        record = {
            "benchmark": "rest_probe",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": _machine(loadavg),
            "lab": {"flaws": "all", "mqtt": "off", "shape_seed": 0, "seed": 1},
            "probe": {"rate": PROBE_RATE, "max_requests": PROBE_MAX_REQUESTS},
            "sizes": records,
            "requests_ratio": {"value": ratio, "target_at_most": REQUESTS_RATIO_TARGET},
            "rate": {
                "vehicles": rate_vehicles,
                "url_path": VEHICLE_PATH,
                "identity": target.identity,
                "body_bytes": target.body_bytes,
                "connections": args.connections,
                "warmup_s": args.warmup,
                "seconds": args.seconds,
                "results": {r.client: hc._record(r) for r in rate.results},
                "other_load_cores": rate.others,
                "engine/wrk": engine_ratio,
                "target_at_least": ENGINE_RATIO_TARGET,
            },
        }
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
