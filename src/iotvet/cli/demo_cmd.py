"""``iotvet demo``: the main job in one command: start the lab, vet it, write the files, summarise.

It grows with iotvet: today it starts the flawed lab provider, writes its plan and ground truth,
and proves every identity can log in (HTTPS and MQTTS). Probing and reports join as they land.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from iotvet.cli.app import app, verbosity
from iotvet.cli.online import OnlineReport, check_online
from iotvet.core.logs import configure as configure_logs
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan

EXIT_INCOMPLETE = 3


async def _demo(out: Path, flaws: str, shape_seed: int, level: int) -> tuple[OnlineReport, dict[str, object],
                                                                              dict[str, str]]:
    from iotvet.lab.runner import LabConfig, resolve_flaws, running_lab

    config = LabConfig(flaws=resolve_flaws(flaws), shape_seed=shape_seed, workdir=out / "lab")
    async with running_lab(config) as lab:
        plan_path = out / "plan.yaml"
        lab.write_plan(plan_path)
        truth = lab.ground_truth()
        (out / "ground-truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
        loaded = load_plan(str(plan_path), strict_env=True)
        redactor = Redactor(loaded.secrets)
        configure_logs(redactor, level)
        report = await check_online(loaded, redactor)
        return report, truth, lab.urls()


@app.command("demo")
def demo(
    ctx: typer.Context,
    out: Path = typer.Option(Path("out/demo"), "--out", help="Where the plan, ground truth and reports go."),
    flaws: str = typer.Option("all", "--flaws", help="Lab flaws: all, none, or ids separated by commas."),
    shape_seed: int = typer.Option(0, "--shape-seed", help="Lab API surface variant."),
) -> int:
    """Start the deliberately flawed lab provider, vet it, and print a summary."""
    out.mkdir(parents=True, exist_ok=True)
    console = Console(highlight=False)
    console.print(f"[bold]iotvet demo[/]: starting the lab provider (flaws: {escape(flaws)}, shape {shape_seed})")
    report, truth, urls = asyncio.run(_demo(out, flaws, shape_seed, verbosity(ctx)))
    for name, url in urls.items():
        console.print(f"  {escape(name):<18} {escape(url)}")
    alive = sum(1 for r in report.rows if r.alive)
    dead = [r for r in report.rows if r.alive is False]
    entries = truth.get("flaws", [])
    cells = sum(len(f["cells"]) for f in entries) if isinstance(entries, list) else 0
    table = Table("what", "result", title="summary")
    table.add_row("identities logged in (HTTPS API, MQTTS broker)", f"{alive} of {len(report.rows)}")
    table.add_row("API description", "fetched" if report.spec_problem is None else escape(report.spec_problem))
    table.add_row("flaws switched on in the lab", str(len(entries) if isinstance(entries, list) else 0))
    table.add_row("ground-truth cells the probes must find", str(cells))
    table.add_row("files", escape(f"{out / 'plan.yaml'}, {out / 'ground-truth.json'}"))
    console.print(table)
    for row in dead:
        console.print(f"[red]dead[/] {escape(row.identity)}: {escape(row.reason)}")
    return EXIT_INCOMPLETE if report.incomplete else 0
