"""The typer application. Verbs live in sibling modules and register themselves here."""

from __future__ import annotations

import importlib

import typer

from iotvet import __version__

app = typer.Typer(
    name="iotvet",
    help="Verify, don't trust: probe and assess the third-party provider behind an IoT product.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iotvet {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logs on stderr (-vv: every request)."),
) -> None:
    """Verify, don't trust: probe and assess the third-party provider behind an IoT product.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error, 3 incomplete.
    """
    ctx.obj = {"verbosity": verbose}


def verbosity(ctx: typer.Context) -> int:
    """The -v count given before the verb."""
    root_ctx = ctx.find_root()
    return int((root_ctx.obj or {}).get("verbosity", 0))


for _module in ("iotvet.cli.plan_cmds", "iotvet.cli.checks_cmd", "iotvet.cli.demo_cmd", "iotvet.cli.report_cmds",
                "iotvet.cli.probe_cmd", "iotvet.cli.restore_cmd", "iotvet.cli.assess_cmd", "iotvet.cli.assess_compare",
                "iotvet.cli.assess_run"):
    importlib.import_module(_module)

from iotvet.lab.cli import register as _register_lab  # noqa: E402 - verbs register after the root exists

_register_lab(app)
