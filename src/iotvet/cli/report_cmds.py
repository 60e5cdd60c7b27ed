"""``iotvet report``, ``iotvet runs`` and ``iotvet diff``: re-render, list and compare stored runs."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from iotvet.cli.app import app
from iotvet.cli.files import write_atomic
from iotvet.core.errors import Source, UserError
from iotvet.core.records import Severity
from iotvet.plan.yamlsource import read_yaml
from iotvet.report import (
    FORMATS,
    IGNORE_FILE,
    Baseline,
    Report,
    baseline_from_json,
    baseline_from_run,
    build_report,
    exit_code,
    parse_fail_on,
    parse_ignore,
    render,
    table_out,
)
from iotvet.report.diff import diff_runs, render_json, render_table
from iotvet.report.ignore import IgnoreRule
from iotvet.report.text import iso, one_line
from iotvet.store import Store, resolve_url

DB_HELP = "Store: a SQLite path or a postgresql:// URL (default: $IOTVET_DB, else .iotvet/iotvet.db)."

# Options shared by every verb that renders a run (probe, report): declared once, here.
DB_OPT = typer.Option(None, "--db", help=DB_HELP)
FORMAT_OPT = typer.Option("table", "--format", "-f", help=f"Printed on stdout: {'|'.join(FORMATS)}.")
OUTPUT_OPT = typer.Option([], "--output", "-o", metavar="FORMAT=PATH",
                          help="Also write FORMAT to PATH; repeatable (e.g. -o sarif=iotvet.sarif).")
FAIL_ON_OPT = typer.Option("high", "--fail-on", help="Exit 1 on a counted finding at or above: "
                           "info|low|medium|high|critical, or none.")
IGNORE_OPT = typer.Option(None, "--ignore-file", help=f"Ignore file (default ./{IGNORE_FILE} if present).")
BASELINE_OPT = typer.Option(None, "--baseline", metavar="RUN_ID|FILE",
                            help="Compare with an earlier run or JSON report: hide unchanged findings.")
QUIET_OPT = typer.Option(False, "--quiet", "-q", help="Print nothing on stdout (files and exit code only).")
NO_COLOR_OPT = typer.Option(False, "--no-color", help="No colours in the table (also: NO_COLOR).")


@dataclass(frozen=True)
class Rendering:
    """How a verb renders a run: checked up front, before anything runs or is written."""

    fmt: str
    files: list[tuple[str, Path]]
    fail_on: str
    threshold: Severity | None
    rules: list[IgnoreRule]
    baseline: str | None
    quiet: bool
    no_color: bool

    @classmethod
    def check(cls, fmt: str, outputs: list[str], fail_on: str, ignore_file: Path | None, baseline: str | None,
              quiet: bool, no_color: bool) -> Rendering:
        """Validate the rendering options (usage errors exit 2 before any work)."""
        if fmt not in FORMATS:
            raise UserError(f"--format: unknown format {fmt!r} (one of {', '.join(FORMATS)})")
        return cls(fmt, parse_outputs(outputs), fail_on, parse_fail_on(fail_on), load_rules(ignore_file), baseline,
                   quiet, no_color)

    def emit(self, store: Store, run: str) -> int:
        """Build the report of a stored run, write the files, print, and return the exit code."""
        data = store.load_run(run)
        base = load_baseline(store, self.baseline) if self.baseline else None
        report = build_report(data, rules=self.rules, baseline=base)
        for fmt_, path in self.files:
            write_atomic(path, render(fmt_, report))
        err = Console(stderr=True, highlight=False, markup=False)
        for warning in report.warnings:
            err.print(Text("warning: " + one_line(warning), style="yellow"))
        if not self.quiet:
            if self.fmt == "table":
                out = table_out.render(report, color=use_color(self.no_color), width=term_width())
            else:
                out = render(self.fmt, report)
            typer.echo(out.decode("utf-8"), nl=False)
        code = exit_code(report, self.threshold)
        err.print(Text(summary_line(report, code, self.fail_on)))
        return code


def open_store(db: str | None) -> Store:
    """The existing store named by ``--db`` (a missing SQLite file is an error, not a new store)."""
    url = resolve_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise UserError(f"no store at {url.removeprefix('sqlite:///')}: run a probe first, or give --db")
    return Store.open(url)


def parse_outputs(values: list[str], formats: Collection[str] = FORMATS,
                  example: str = "sarif=iotvet.sarif") -> list[tuple[str, Path]]:
    """``--output FORMAT=PATH`` values, all checked before anything is written."""
    out = []
    for value in values:
        fmt, sep, path = value.partition("=")
        if not sep or not path:
            raise UserError(f"--output {value!r}: write it as FORMAT=PATH, e.g. {example}")
        if fmt not in formats:
            raise UserError(f"--output {value!r}: unknown format {fmt!r} (one of {', '.join(formats)})")
        out.append((fmt, Path(path)))
    return out


def load_rules(ignore_file: Path | None) -> list[IgnoreRule]:
    """The ignore file's entries: the given file, else ``./.iotvetignore.yaml`` when it exists."""
    path = ignore_file if ignore_file is not None else Path(IGNORE_FILE)
    if ignore_file is None and not path.is_file():
        return []
    try:
        document = read_yaml(str(path))
    except (ValueError, TypeError, AttributeError) as exc:  # a value YAML itself cannot build, e.g. 2026-02-30
        raise UserError(f"not valid YAML: {exc}", Source(str(path))) from None
    return parse_ignore(document)


def load_baseline(store: Store, ref: str) -> Baseline:
    """A baseline from a JSON report file, else from a stored run."""
    path = Path(ref)
    if path.is_file():
        try:
            return baseline_from_json(path.read_bytes(), str(path))
        except UserError as exc:
            raise UserError(exc.message, Source(str(path))) from None
        except OSError as exc:
            raise UserError(f"cannot read: {exc.strerror}", Source(str(path))) from None
    return baseline_from_run(store.load_run(ref))


def use_color(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def term_width() -> int:
    """The terminal's width; 140 columns when stdout is a file or a pipe."""
    return max(80, shutil.get_terminal_size((140, 24)).columns) if sys.stdout.isatty() else 140


def summary_line(report: Report, code: int, fail_on: str) -> str:
    run = report.data.run
    counts: dict[str, int] = {}
    for f in report.active:
        counts[f.finding.severity.value] = counts.get(f.finding.severity.value, 0) + 1
    detail = ", ".join(f"{n} {s}" for s, n in counts.items()) or "none"
    why = {0: "clean", 1: f"findings at or above {fail_on}", 3: f"run {run.status.value}"}[code]
    suppressed = sum(f.suppression is not None for f in report.findings)
    return (f"iotvet: run {one_line(run.id)} {run.status.value}; {len(report.active)} findings count ({detail}), "
            f"{suppressed} suppressed; exit {code}: {why}")


@app.command("report")
def report_cmd(
    run: str = typer.Argument("latest", metavar="RUN_ID", help="A run id, a unique prefix of one, or 'latest'."),
    db: str = DB_OPT,
    fmt: str = FORMAT_OPT,
    outputs: list[str] = OUTPUT_OPT,
    fail_on: str = FAIL_ON_OPT,
    ignore_file: Path = IGNORE_OPT,
    baseline: str = BASELINE_OPT,
    quiet: bool = QUIET_OPT,
    no_color: bool = NO_COLOR_OPT,
) -> int:
    """Render a stored run in any format, apply the ignore file and a baseline, and gate on --fail-on.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error, 3 incomplete run.
    """
    rendering = Rendering.check(fmt, outputs, fail_on, ignore_file, baseline, quiet, no_color)
    with open_store(db) as store:
        return rendering.emit(store, run)


@app.command("runs")
def runs_cmd(
    db: str = typer.Option(None, "--db", help=DB_HELP),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show at most this many runs, newest first."),
) -> int:
    """List stored runs, newest first."""
    with open_store(db) as store:
        summaries = store.list_runs(limit)
    table = Table()
    for column in ("run", "started", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("target", overflow="fold")
    table.add_column("findings", justify="right")
    table.add_column("exchanges", justify="right")
    for s in summaries:
        table.add_row(Text(one_line(s.run.id)), iso(s.run.started) or "", s.run.status.value,
                      Text(one_line(s.run.target, 60)), str(s.findings), str(s.exchanges))
    Console(highlight=False, markup=False, width=term_width()).print(table)
    return 0


@app.command("diff")
def diff_cmd(
    run_a: str = typer.Argument(..., metavar="RUN_A", help="The earlier run."),
    run_b: str = typer.Argument(..., metavar="RUN_B", help="The later run."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    fmt: str = typer.Option("table", "--format", "-f", help="table|json."),
    fail_on: str = typer.Option("high", "--fail-on", help="Exit 1 when RUN_B has a new finding at or above this."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours (also: NO_COLOR)."),
) -> int:
    """Compare two runs: new and fixed findings, and verdicts that changed (a provider that regressed)."""
    if fmt not in ("table", "json"):
        raise UserError(f"--format: {fmt!r} is not one of table, json")
    threshold = parse_fail_on(fail_on)
    with open_store(db) as store:
        diff = diff_runs(store.load_run(run_a), store.load_run(run_b))
    out = render_json(diff) if fmt == "json" else render_table(diff, color=use_color(no_color), width=term_width())
    typer.echo(out.decode("utf-8"), nl=False)
    return 1 if diff.regressions(threshold) else 0
