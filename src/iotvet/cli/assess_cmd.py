"""``iotvet assess init`` and ``iotvet assess validate``: the vendor questionnaire."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from iotvet.assess import Questionnaire, blank_questionnaire, load_catalogue, load_questionnaire, render_questionnaire
from iotvet.cli.app import app
from iotvet.cli.files import write_atomic
from iotvet.core.errors import Source, UserError

assess = typer.Typer(
    name="assess", no_args_is_help=True,
    help="Assess a provider against ETSI EN 303 645 V2.1.1, UK PSTI and the DCMS Code of Practice.",
)
app.add_typer(assess, name="assess")


@assess.command("init")
def init(
    vendor: str = typer.Option(..., "--vendor", help="The vendor (provider) who will answer."),
    output: Path = typer.Option(Path("questionnaire.yaml"), "--output", "-o", help="Where to write it."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> int:
    """Write a commented questionnaire with every question, all answers unknown."""
    if output.exists() and not force:
        raise UserError("exists already; use --force to overwrite it", Source(str(output)))
    text = render_questionnaire(blank_questionnaire(vendor))
    write_atomic(output, text.encode("utf-8"))
    typer.echo(f"wrote {output}; send it to {vendor.strip()}, then run: iotvet assess validate {output}")
    return 0


def summary(q: Questionnaire) -> str:
    """One line: vendor, how many provisions apply, how the claims split, and whether PSTI applies."""
    provisions = load_catalogue().provisions
    scope = Counter(q.applicability(p) for p in provisions)
    claims = Counter(q.claim(p.id).implemented for p in provisions)
    return (f"{q.vendor.name}; {len(provisions)} provisions: {scope['applies']} apply, "
            f"{scope['not-applicable']} not applicable, {scope['undecided']} undecided; "
            f"claims: {claims['yes']} yes, {claims['no']} no, {claims['unknown']} unknown; "
            f"UK PSTI: {q.psti_applicability()} ({q.vendor.product_category})")


@assess.command("validate")
def validate(file: Path = typer.Argument(..., metavar="FILE", help="The questionnaire.")) -> int:
    """Check a questionnaire: exit 0 with a summary, or 2 with the first problem's file, line and field."""
    q = load_questionnaire(str(file))
    typer.echo(f"{file}: ok: {summary(q)}")
    return 0
