"""``iotvet restore RUN_ID``: undo what a run changed and did not restore itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from iotvet.cli.app import app
from iotvet.cli.report_cmds import DB_HELP, open_store
from iotvet.core.errors import UserError
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan
from iotvet.probes.restore import Pending, undo

EXIT_INCOMPLETE = 3


@app.command("restore")
def restore_cmd(
    run: str = typer.Argument("latest", metavar="RUN_ID", help="A run id, a unique prefix of one, or 'latest'."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    plan_path: Path = typer.Option(None, "--plan", help="The plan (default: the file the run was made with)."),
) -> int:
    """Write back the original state of every object the run changed and did not restore.

    Exit 0 when everything that can be undone was undone; 3 when some restore failed.
    """
    with open_store(db) as store:
        data = store.load_run(run)
        entries = store.journal(data.run.id, unrestored_only=True)
    path = plan_path or (Path(data.run.plan_file) if data.run.plan_file else None)
    if path is None:
        raise UserError("the run does not name its plan; give --plan")
    loaded = load_plan(str(path), strict_env=True)
    redactor = Redactor(loaded.secrets)
    pending = [Pending(e.seq, e.identity, e.method, e.url, e.original, e.lossy, e.restore_error) for e in entries]
    results = asyncio.run(undo(loaded, redactor, pending)) if pending else []
    failed = 0
    with open_store(db) as store:
        for result, entry in zip(results, pending, strict=True):
            if result.restored:
                store.mark_restored(entry.seq, run_id=data.run.id)
            elif entry.note is None:
                failed += 1
                store.mark_restored(entry.seq, error=result.detail, run_id=data.run.id)
    table = Table("write", "identity", "method", "url", "result")
    for result, entry in zip(results, pending, strict=True):
        table.add_row(str(entry.seq), Text(entry.identity or ""), entry.method, Text(redactor.text(entry.url)),
                      Text(redactor.text(result.detail)))
    console = Console(highlight=False)
    if pending:
        console.print(table)
    restored = sum(r.restored for r in results)
    console.print(Text(f"iotvet: {restored} restored, {len(results) - restored} not undone "
                       f"({failed} failed) of {len(pending)} pending writes of run {data.run.id}"))
    return EXIT_INCOMPLETE if failed else 0
