"""The command line: thin verbs over the layers below. The only place that prints.

Exit codes (public): 0 clean, 1 findings at or above --fail-on, 2 usage or input error,
3 incomplete (a dead identity, a spent budget, an unreachable target, an interrupted run).
"""

from __future__ import annotations

import sys

import typer

from iotvet.cli.app import app
from iotvet.core.errors import UserError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``iotvet`` console script; one exit path for every outcome."""
    try:
        result = app(args=argv, standalone_mode=False, prog_name="iotvet")
    except UserError as exc:
        typer.echo(f"iotvet: error: {exc}", err=True)
        code = EXIT_USAGE
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument ...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"iotvet: error: {exc.format_message()}", err=True)
        code = EXIT_USAGE if exc.exit_code not in (0, EXIT_USAGE) else exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("iotvet: interrupted", err=True)
        code = EXIT_INCOMPLETE
    else:
        code = result if isinstance(result, int) else EXIT_OK
    if argv is None:
        sys.exit(code)
    return code


__all__ = ["EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_OK", "EXIT_USAGE", "app", "main"]
