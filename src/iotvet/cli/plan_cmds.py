"""``iotvet init`` and ``iotvet validate``."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from iotvet.cli.app import app, verbosity
from iotvet.cli.files import write_atomic
from iotvet.core.errors import Source, UserError
from iotvet.core.logs import configure as configure_logs
from iotvet.core.redact import Redactor
from iotvet.plan import LoadedPlan, load_plan

EXIT_INCOMPLETE = 3


@app.command("init")
def init(
    path: Path = typer.Argument(Path("iotvet.yaml"), help="Where to write the example plan."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> int:
    """Write a commented example plan to start from."""
    if path.exists() and not force:
        raise UserError("exists already; use --force to overwrite it", Source(str(path)))
    text = resources.files("iotvet.plan").joinpath("example.yaml").read_text(encoding="utf-8")
    write_atomic(path, text.encode("utf-8"))
    typer.echo(f"wrote {path}; edit it, then run: iotvet validate {path}")
    return 0


def _summary(loaded: LoadedPlan) -> str:
    plan = loaded.plan
    tenants = sorted({i.tenant for i in plan.identities})
    parts = [f"{len(plan.identities)} identities in {len(tenants)} tenants ({', '.join(tenants)})",
             f"mode {plan.safety.mode}", f"rate {plan.safety.rate:g}/s",
             f"max {plan.safety.max_requests} requests / {plan.safety.max_duration:g}s"]
    if plan.mqtt:
        parts.append("mqtt")
    return "; ".join(parts)


@app.command("validate")
def validate(
    ctx: typer.Context,
    plan_path: Path = typer.Argument(..., metavar="PLAN", help="The plan file."),
    online: bool = typer.Option(False, "--online", help="Also fetch the spec and log every identity in."),
) -> int:
    """Check a plan. Offline by default: no network, unset ${ENV} only warned about."""
    loaded = load_plan(str(plan_path), strict_env=online)
    redactor = Redactor(loaded.secrets)
    configure_logs(redactor, verbosity(ctx))
    err = Console(stderr=True, highlight=False)
    for warning in loaded.warnings:
        err.print(f"warning: {escape(redactor.text(str(warning)))}", soft_wrap=True)
    typer.echo(redactor.text(f"{plan_path}: valid: {_summary(loaded)}"))
    if not online:
        return 0
    from iotvet.cli.online import check_online

    report = asyncio.run(check_online(loaded, redactor))
    table = Table("identity", "status", "detail")
    for row in report.rows:
        status = {True: "[green]alive[/]", False: "[red]dead[/]", None: "[yellow]unverified[/]"}[row.alive]
        table.add_row(escape(row.identity), status, escape(redactor.text(row.reason)))
    Console(highlight=False).print(table)
    if report.spec_problem:
        err.print(f"spec: {escape(redactor.text(report.spec_problem))}", soft_wrap=True)
    return EXIT_INCOMPLETE if report.incomplete else 0
