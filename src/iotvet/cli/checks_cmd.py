"""``iotvet checks``: the catalogue of check ids."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from iotvet.checks import CATALOGUE
from iotvet.cli.app import app


@app.command("checks")
def checks(
    plane: str = typer.Option(None, help="Only checks of this plane: http or mqtt."),
    as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON."),
) -> int:
    """List every check id with its plane, severity and the standards it maps to."""
    infos = [c for c in CATALOGUE.values() if plane is None or c.plane == plane]
    if as_json:
        typer.echo(json.dumps([{"id": c.id, "family": c.family, "plane": c.plane, "severity": c.severity.value,
                                "title": c.title, "standards": list(c.standards), "remediation": c.remediation}
                               for c in infos], indent=2))
        return 0
    table = Table("check", "plane", "severity", "title", "standards")
    for c in infos:
        table.add_row(c.id, c.plane, c.severity.value, c.title, ", ".join(c.standards))
    Console().print(table)
    return 0
