"""The console script as installed, for CLI tests: ``main`` owns every exit code (a UserError exits 2).

typer's CliRunner on the app alone never reaches the handler that turns a UserError into exit 2,
so tests invoke a tiny wrapper around ``main(argv)``.
"""

from __future__ import annotations

import typer
from typer.testing import CliRunner, Result

from iotvet.cli import main

console = typer.Typer(add_completion=False)


@console.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
def iotvet(ctx: typer.Context) -> None:
    """Run ``iotvet`` with the given arguments."""
    raise SystemExit(main(list(ctx.args)))


def run(*argv: str) -> Result:
    """``iotvet ARGV``; a traceback in the output fails the test."""
    result = CliRunner().invoke(console, list(argv))
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result
