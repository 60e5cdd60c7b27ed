"""``iotvet probe PLAN``: vet a provider with the plan's identities and write the evidence and reports."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from iotvet.cli.app import app, verbosity
from iotvet.cli.report_cmds import (
    BASELINE_OPT,
    DB_OPT,
    FAIL_ON_OPT,
    FORMAT_OPT,
    IGNORE_OPT,
    NO_COLOR_OPT,
    OUTPUT_OPT,
    QUIET_OPT,
    Rendering,
)
from iotvet.core.errors import UserError
from iotvet.core.logs import configure as configure_logs
from iotvet.core.redact import Redactor
from iotvet.plan import LoadedPlan, load_plan
from iotvet.probes.restore import Pending, undo
from iotvet.probes.run import RunOutcome, Sinks, local_description, run_probe
from iotvet.report.text import one_line
from iotvet.store import Store, resolve_url
from iotvet.store.rundata import IdentityInfo, RunStatus, Untested


def probe_into_store(plan_path: Path, store_url: str | None, *, progress: bool = True, level: int = 0,
                     only: set[str] | None = None, resume: str | None = None,
                     discover_routes: bool = False) -> tuple[str, RunOutcome, Redactor]:
    """Run a probe (or continue an interrupted one), recording everything in the store as it happens."""
    loaded = load_plan(str(plan_path), strict_env=True)
    if discover_routes:  # --discover-routes: safety.discover_routes for this run only
        safety = loaded.plan.safety.model_copy(update={"discover_routes": True})
        loaded.plan = loaded.plan.model_copy(update={"safety": safety})
    redactor = Redactor(loaded.secrets)
    configure_logs(redactor, level)
    plan = loaded.plan
    err = Console(stderr=True, highlight=False, markup=False)
    with Store.open(resolve_url(store_url), redactor=redactor) as store:
        digest = hashlib.sha256(plan_path.read_bytes()).hexdigest()
        settled: set[tuple[str, str, str, str]] = set()
        if resume is not None:
            info = store.resume_run(resume)
            if info.plan_digest and info.plan_digest != digest:
                raise UserError(f"run {info.id} was made with another version of this plan; start a new run")
            run_id, settled = info.id, store.settled_cells(info.id)
            err.print(Text(f"iotvet: resuming {run_id}: {len(settled)} cells already settled"))
            _restore_pending(store, loaded, redactor, run_id, err)
        else:
            run_id = store.start_run(
                plan_digest=digest, plan_file=str(plan_path.resolve()),
                target=plan.target.base_url if plan.target else (plan.mqtt.url if plan.mqtt else ""),
                mode=plan.safety.mode, identities=[IdentityInfo.from_plan(i) for i in plan.identities],
                budgets={"rate": plan.safety.rate, "concurrency": plan.safety.concurrency,
                         "max_requests": plan.safety.max_requests, "max_duration": plan.safety.max_duration})
        sinks = Sinks(cell=store.record_cell, finding=store.record_finding, exchange=store.record_exchange,
                      progress=(lambda msg: err.print(Text(f"iotvet: {msg}"))) if progress else (lambda _: None),
                      journal=lambda method, url, who, original, write: store.journal_write(
                          method=method, url=url, identity=who, original=original, write=write),
                      restored=lambda seq, error: store.mark_restored(seq, error=error))
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=err, transient=True, disable=not (progress and err.is_terminal))
        task = bar.add_task("operations", total=None)
        sinks.operation = lambda i, n, key: bar.update(task, completed=i, total=n, description=one_line(key, 40))
        try:
            with bar:
                outcome = asyncio.run(run_probe(loaded, redactor, sinks, run_id=run_id, only=only, settled=settled))
        except UserError as exc:
            store.finish_run(RunStatus.INCOMPLETE, reason=str(exc))
            raise
        except KeyboardInterrupt:
            store.finish_run(RunStatus.INTERRUPTED, reason="interrupted")
            raise
        untested = [Untested(relation=r, reason="no pair of plan identities in this class", add=advice, plane="http")
                    for r, advice in (outcome.rest.untested.items() if outcome.rest else ())]
        untested += [Untested(relation=r, reason="no pair of plan identities in this class", add=advice, plane="mqtt")
                     for r, advice in (outcome.mqtt.untested.items() if outcome.mqtt else ())]
        if untested:
            store.set_untested(untested)
        status = RunStatus.INCOMPLETE if outcome.incomplete else RunStatus.COMPLETE
        store.finish_run(status, reason="; ".join(outcome.incomplete),
                         budgets={"requests_sent": outcome.requests, "max_requests": plan.safety.max_requests})
    for dead in outcome.dead:
        err.print(Text(redactor.text(f"dead identity {dead.identity}: {dead.reason}"), style="red"))
    return run_id, outcome, redactor


def _restore_pending(store: Store, loaded: LoadedPlan, redactor: Redactor, run_id: str, err: Console) -> None:
    """Before continuing, undo what the interrupted session changed and did not restore."""
    pending = [Pending(e.seq, e.identity, e.method, e.url, e.original, e.lossy, e.restore_error)
               for e in store.journal(run_id, unrestored_only=True) if e.restore_error is None]
    if not pending:
        return
    for result in asyncio.run(undo(loaded, redactor, pending)):
        store.mark_restored(result.seq, error=None if result.restored else result.detail)
        if not result.restored:
            err.print(Text(redactor.text(f"iotvet: write {result.seq} of the interrupted run not undone: "
                                         f"{result.detail}"), style="red"))


def _dry_run(plan_path: Path, discover_routes: bool = False) -> int:
    from rich.table import Table

    from iotvet.api.fetch import transport_fetcher
    from iotvet.api.openapi import load_openapi
    from iotvet.core.scope import Scope
    from iotvet.probes.mqtt.dryrun import plan_mqtt
    from iotvet.probes.rest.dryrun import dry_run
    from iotvet.transport import Governor, HttpTransport

    loaded = load_plan(str(plan_path), strict_env=False)
    if discover_routes:  # as probe_into_store does: api-hidden-route is planned outside intrusive mode too
        loaded.plan = loaded.plan.model_copy(
            update={"safety": loaded.plan.safety.model_copy(update={"discover_routes": True})})
    plan = loaded.plan
    local = local_description(loaded, Redactor(loaded.secrets))
    has_api = plan.target is not None and (plan.target.openapi is not None or local is not None)
    if not has_api and plan.mqtt is None:
        raise UserError("--dry-run needs an API description (target.openapi, har or postman) or an mqtt section")
    console = Console(highlight=False)
    requests = cells = writes = publishes = 0
    if has_api:
        assert plan.target is not None
        source = plan.target.openapi or ""

        async def fetch_model() -> Any:
            governor = Governor(rate=plan.safety.rate, concurrency=1, max_requests=20, max_duration=60)
            ca = loaded.resolve(plan.target.ca).as_posix() if plan.target and plan.target.ca else None
            async with HttpTransport(Scope(plan.scope.hosts), governor, run_id="dry-run", ca=ca) as http:
                return await load_openapi(source if "://" in source else str(loaded.resolve(source)),
                                          transport_fetcher(http))

        result = dry_run(plan, local if local is not None else asyncio.run(fetch_model()))
        table = Table("operation", "check", "relation", "kind", "at most")
        for cell in result.cells:
            table.add_row(Text(cell.operation), cell.check, cell.relation, "write" if cell.writes else "read",
                          str(cell.requests))
        console.print(table)
        for what, count in result.setup.items():
            console.print(Text(f"setup: {what}: {count}"))
        for what, why in result.skipped:
            console.print(Text(f"not sent: {what}: {why}"))
        for check_id in result.unbounded:
            console.print(Text(f"not counted: {check_id} (run once): it registers no bound"))
        requests, cells, writes = result.requests, len(result.cells), result.writes
    if plan.mqtt is not None:
        mq = plan_mqtt(loaded)
        table = Table("topic", "check", "relation", "publishes at most", "connects at most")
        for item in mq.cells:
            table.add_row(Text(item.topic), item.check, item.relation, str(item.publishes), str(item.connects))
        console.print(table)
        console.print(Text(f"mqtt setup: {mq.setup.get('connects', 0)} connects, "
                           f"{mq.setup.get('publishes', 0)} publishes (sessions and channel proofs)"))
        for what, why in mq.skipped:
            console.print(Text(f"mqtt not tested: {what}: {why}"))
        requests += mq.publishes + mq.connects  # each spends a permit, like a request
        publishes = mq.publishes
        cells += len(mq.cells)
    safety = plan.safety
    seconds = requests / safety.rate
    fits = requests <= safety.max_requests and seconds <= safety.max_duration
    console.print(Text(
        f"at most {requests} requests ({writes} writes" + (f", {publishes} MQTT publishes" if plan.mqtt else "")
        + f") in {cells} cells; budget "
        f"max_requests {safety.max_requests}, at rate {safety.rate:g}/s at least {seconds:.0f}s of max_duration "
        f"{safety.max_duration:g}s: {'fits' if fits else 'DOES NOT FIT: the run would end incomplete'}"))
    return 0 if fits else 3


@app.command("probe")
def probe_cmd(
    ctx: typer.Context,
    plan_path: Path = typer.Argument(..., metavar="PLAN", help="The plan file."),
    db: str = DB_OPT,
    fmt: str = FORMAT_OPT,
    outputs: list[str] = OUTPUT_OPT,
    fail_on: str = FAIL_ON_OPT,
    ignore_file: Path = IGNORE_OPT,
    baseline: str = BASELINE_OPT,
    checks: str = typer.Option(None, "--checks", help="Only these check ids, separated by commas."),
    resume: str = typer.Option(None, "--resume", metavar="RUN_ID",
                               help="Continue an interrupted run: settled cells are not tested again."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what the probe would send, against the budgets, "
                                 "and send nothing but the request for the API description."),
    discover_routes: bool = typer.Option(False, "--discover-routes",
                                         help="Guess undocumented routes (api-hidden-route) outside intrusive "
                                         "mode too: sets safety.discover_routes for this run."),
    quiet: bool = QUIET_OPT,
    no_color: bool = NO_COLOR_OPT,
) -> int:
    """Probe the provider with the plan's identities: every finding proven from the victim's side.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error, 3 incomplete.
    """
    rendering = Rendering.check(fmt, outputs, fail_on, ignore_file, baseline, quiet, no_color)
    only = None
    if checks:
        from iotvet.checks import CATALOGUE

        only = {c.strip() for c in checks.split(",") if c.strip()}
        unknown = sorted(only - set(CATALOGUE))
        if unknown:
            raise UserError(f"--checks: unknown check id(s) {', '.join(unknown)} (see iotvet checks)")
    if dry_run:
        return _dry_run(plan_path, discover_routes)
    run_id, _, redactor = probe_into_store(plan_path, db, progress=not quiet, level=verbosity(ctx), only=only,
                                           resume=resume, discover_routes=discover_routes)
    with Store.open(resolve_url(db), redactor=redactor) as store:
        return rendering.emit(store, run_id)
