"""The typer application and its verbs."""

from __future__ import annotations

import typer

from iotvet import __version__

app = typer.Typer(
    name="iotvet",
    help="Verify, don't trust: probe and assess the third-party provider behind an IoT product.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iotvet {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Verify, don't trust: probe and assess the third-party provider behind an IoT product."""


def _register_lab() -> None:
    import importlib.util

    if importlib.util.find_spec("iotvet.lab.cli") is None:  # while the lab is being built
        return
    from iotvet.lab.cli import register

    register(app)


_register_lab()
