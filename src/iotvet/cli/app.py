"""The typer application. Verbs live in sibling modules and register themselves here."""

from __future__ import annotations

import importlib
import importlib.util

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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Verify, don't trust: probe and assess the third-party provider behind an IoT product.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error, 3 incomplete.
    """


for _module in ("iotvet.cli.plan_cmds", "iotvet.cli.checks_cmd"):
    importlib.import_module(_module)

if importlib.util.find_spec("iotvet.lab.cli") is not None:
    from iotvet.lab.cli import register as _register_lab

    _register_lab(app)
