"""The ``iotvet lab`` verb: run the deliberately flawed provider, or print its ground truth."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path

import typer

from iotvet.lab.runner import LabConfig, MqttMode, UnknownFlaw, ground_truth, load_flaws, resolve_flaws, running_lab
from iotvet.lab.shapes import shape_for
from iotvet.lab.world import WorldSize


def _flaws(value: str) -> str:
    try:
        resolve_flaws(value)
    except UnknownFlaw as exc:
        raise typer.BadParameter(str(exc)) from exc
    return value


def lab(
    flaws: str = typer.Option("all", "--flaws", callback=_flaws, help="all, none, or flaw ids separated by commas."),
    shape_seed: int = typer.Option(0, "--shape-seed", help="API surface variant; 0 is the canonical shape."),
    seed: int = typer.Option(1, "--seed", help="Seed of the generated brands, users and vehicles."),
    brands: int = typer.Option(3, "--brands", min=2, help="Brands (tenants); the third sells dashcams and chargers."),
    customers: int = typer.Option(4, "--customers", min=2, help="Customers (fleets, households) per brand."),
    users: int = typer.Option(3, "--users", min=2, help="App users per customer."),
    vehicles: int = typer.Option(40, "--vehicles", min=0, help="Vehicles and devices in total."),
    write_plan: Path | None = typer.Option(None, "--write-plan", help="Write a ready iotvet plan here."),
    record_har: Path | None = typer.Option(None, "--record-har", help="Record a scripted app session as HAR."),
    show_ground_truth: bool = typer.Option(False, "--ground-truth", help="Print the ground truth as JSON and exit."),
    list_flaws: bool = typer.Option(False, "--list-flaws", help="List flaw ids with their check ids and exit."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    api_port: int = typer.Option(0, "--api-port", help="HTTPS port of the API (0: any free port)."),
    http_port: int = typer.Option(0, "--http-port", help="Plain HTTP port with the plaintext flaw (0: any free)."),
    mqtt: str = typer.Option("auto", "--mqtt", help="auto (start the broker when Mosquitto is available), on, off."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Where the CA, broker files and logs go."),
    duration: float = typer.Option(0, "--duration", min=0, help="Stop after this many seconds (0: until Ctrl-C)."),
) -> None:
    """Run the lab: a deliberately flawed white-label telematics provider (REST and MQTT)."""
    selected = resolve_flaws(flaws)
    if list_flaws:
        for f in sorted(load_flaws().values(), key=lambda f: (f.plane, f.id)):
            typer.echo(f"{f.id:32} {f.plane:5} {f.check}")
        raise typer.Exit(0)
    if show_ground_truth:
        typer.echo(json.dumps(ground_truth(selected, shape_for(shape_seed)), indent=2))
        raise typer.Exit(0)
    if mqtt not in ("auto", "on", "off"):
        raise typer.BadParameter("expected auto, on or off", param_hint="--mqtt")
    mode: MqttMode = "on" if mqtt == "on" else "off" if mqtt == "off" else "auto"
    config = LabConfig(seed=seed, shape_seed=shape_seed, size=WorldSize(brands, customers, users, vehicles),
                       flaws=selected, host=host, api_port=api_port, plain_port=http_port, mqtt=mode, workdir=workdir)
    asyncio.run(_run(config, write_plan, record_har, duration))


async def _run(config: LabConfig, plan_path: Path | None, har_path: Path | None, duration: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with running_lab(config) as running:
        typer.echo(f"iotvet lab: {len(running.flaws)} flaw(s) on, shape {config.shape_seed}, seed {config.seed}")
        for name, url in running.urls().items():
            typer.echo(f"  {name:18} {url}")
        if running.mqtt_note:
            typer.echo(f"  mqtt               {running.mqtt_note}")
        if plan_path is not None:
            running.write_plan(plan_path)
            typer.echo(f"  plan written to    {plan_path}")
        if har_path is not None:
            from iotvet.lab.rest.har import write_har

            count = await write_har(har_path, running.base_url, running.ca, running.world)
            typer.echo(f"  HAR ({count} entries) written to {har_path}")
        typer.echo("Ctrl-C stops the lab." if not duration else f"Stopping in {duration:g} s.")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=duration or None)
    typer.echo("iotvet lab stopped.")


def register(app: typer.Typer) -> None:
    """Add the ``lab`` command to the iotvet CLI."""
    app.command("lab")(lab)
