"""``iotvet demo``: the main job in one command: start the lab, probe it, write the reports, summarise, assess.

The summary compares what iotvet found with the lab's ground truth for the checks that ran, so a
newcomer sees both the findings and that none of them is invented. Last comes the assessment: the
lab vendor's questionnaire weighed against the stored run and the lab's TLS and security.txt.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from iotvet.assess import load_questionnaire
from iotvet.assess.html import write_html
from iotvet.assess.inputs import RunEvidence
from iotvet.assess.oscal import render_data, write_oscal
from iotvet.assess.scorecard import scorecard, to_json
from iotvet.cli.app import app, verbosity
from iotvet.cli.assess_run import assess_and_store, gather_observations
from iotvet.cli.files import write_atomic
from iotvet.cli.probe_cmd import probe_into_store
from iotvet.core.redact import Redactor
from iotvet.plan import load_plan
from iotvet.report import build_report, render
from iotvet.store import Store

EXIT_INCOMPLETE = 3
REPORTS = {"html": "report.html", "json": "report.json", "sarif": "report.sarif", "junit": "report.junit.xml"}
QUESTIONNAIRE = "lab-questionnaire.yaml"
Key = tuple[str, str, str]


def _group(check: str, plane: str) -> str:
    """REST ground truth is exact per check; an MQTT flaw's cells may show under several mq checks."""
    return check if plane == "http" else "mqtt (every mq check)"


def _truth(truth: dict[str, Any], checks: set[str]) -> dict[str, set[Key]]:
    out: dict[str, set[Key]] = {}
    for flaw in truth.get("flaws", []):
        if flaw["check"] not in checks and not (flaw["plane"] == "mqtt" and any(c.startswith("mq-") for c in checks)):
            continue
        group = _group(flaw["check"], flaw["plane"])
        for cell in flaw["cells"]:
            op = cell.get("operation")
            place = f"{op['method']} {op['path']}" if op else str(cell.get("topic"))
            out.setdefault(group, set()).add((group, place, cell["relation"]))
    return out


@app.command("demo")
def demo(
    ctx: typer.Context,
    out: Path = typer.Option(Path("out/demo"), "--out", help="Where the plan, evidence store and reports go."),
    flaws: str = typer.Option("all", "--flaws", help="Lab flaws: all, none, or ids separated by commas."),
    shape_seed: int = typer.Option(0, "--shape-seed", help="Lab API surface variant."),
) -> int:
    """Start the deliberately flawed lab provider, probe it, write the reports, print a summary."""
    from iotvet.lab.runner import LabConfig, lab_in_thread, resolve_flaws

    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    console = Console(highlight=False)
    console.print(f"[bold]iotvet demo[/]: starting the lab provider (flaws: {escape(flaws)}, shape {shape_seed})")
    db = out / "iotvet.db"
    db.unlink(missing_ok=True)
    with lab_in_thread(LabConfig(flaws=resolve_flaws(flaws), shape_seed=shape_seed, workdir=out / "lab")) as lab:
        for name, url in lab.urls().items():
            console.print(f"  {escape(name):<18} {escape(url)}")
        plan_path = out / "plan.yaml"
        lab.write_plan(plan_path)
        truth = lab.ground_truth()
        run_id, outcome, redactor = probe_into_store(plan_path, str(db), level=verbosity(ctx))
        loaded = load_plan(str(plan_path))
        observations = asyncio.run(gather_observations(loaded, redactor, now=datetime.now(UTC)))
    questionnaire = resources.files("iotvet.assess").joinpath("data", QUESTIONNAIRE)
    digest = hashlib.sha256(questionnaire.read_bytes()).hexdigest()
    with Store.open(f"sqlite:///{db}", redactor=redactor) as store:
        data = store.load_run(run_id)
        assessment, assessment_id = assess_and_store(load_questionnaire(str(questionnaire)),
                                                     f"{QUESTIONNAIRE} sha256:{digest}", [RunEvidence.from_run(data)],
                                                     observations, store, Redactor(loaded.secrets))
    write_atomic(out / "assessment.json", to_json(assessment))
    write_atomic(out / "assessment.html", write_html(assessment))
    write_atomic(out / "assessment.oscal.json", write_oscal(assessment))
    for name, document in render_data().items():  # the catalog, SSP and plan the results import
        write_atomic(out / name, document)
    report = build_report(data)
    for fmt, name in REPORTS.items():
        write_atomic(out / name, render(fmt, report))
    ran = {c.check for c in data.cells}
    want = _truth(truth, ran)
    got = {(_group(f.check, f.plane), f.target, f.relation.value if f.relation else "") for f in data.findings}
    untested = {(_group(c.check, c.plane), c.topic or str(c.operation), c.relation.value): c.reason
                for c in data.cells if c.verdict.value == "not-tested"}
    table = Table("check", "ground truth", "found", "missed", "not in this mode", "not planted",
                  title="iotvet demo: lab vs findings")
    groups = sorted({_group(c.check, c.plane) for c in data.cells})
    for check in groups:
        planted = want.get(check, set())
        found = {g for g in got if g[0] == check}
        waiting = {g for g in planted - found  # GET /*: a check that guesses routes, not run in this mode
                   if "intrusive" in untested.get(g, "") + untested.get((g[0], "GET /*", g[2]), "")}
        table.add_row(check, str(len(planted)), str(len(found & planted)), str(len(planted - found - waiting)),
                      str(len(waiting)), str(len(found - planted)))
    console.print(table)
    verdicts: dict[str, int] = {}
    for cell in data.cells:
        verdicts[cell.verdict.value] = verdicts.get(cell.verdict.value, 0) + 1
    console.print(f"cells: {', '.join(f'{n} {v}' for v, n in sorted(verdicts.items()))}; "
                  f"{len(data.findings)} findings; {outcome.requests} requests")
    not_run = sorted({f["check"] for f in truth.get("flaws", [])} - ran)
    if not_run:
        console.print(f"planted flaws whose checks ship in later releases: {escape(', '.join(not_run))}")
    console.print(f"reports: {escape(', '.join(str(out / n) for n in REPORTS.values()))}; "
                  f"evidence store: {escape(str(db))} (iotvet report --db {escape(str(db))} {escape(run_id)})")
    for why in outcome.incomplete:
        console.print(f"[red]incomplete[/]: {escape(redactor.text(why))}")
    console.print(f"assessment of the lab vendor's questionnaire: {escape(str(out / 'assessment.html'))}, "
                  f"assessment.json, assessment.oscal.json "
                  f"(iotvet assess show --db {escape(str(db))} {escape(assessment_id)})")
    console.print(scorecard(assessment, console.width))
    return EXIT_INCOMPLETE if outcome.incomplete else 0
