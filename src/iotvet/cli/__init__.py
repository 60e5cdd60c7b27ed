"""The command line: thin verbs over the layers below. The only place that prints."""

from __future__ import annotations

from iotvet.cli.app import app


def main() -> None:
    """Entry point of the ``iotvet`` console script."""
    app()


__all__ = ["app", "main"]
