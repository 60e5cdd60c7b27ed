"""``iotvet assess run`` and ``iotvet assess show``: weigh a questionnaire against stored runs and observations.

Exit codes: 0 no applicable mandatory provision fails and the evidence is complete; 1 an applicable
mandatory provision fails; 2 bad input (nothing observed, written or stored); 3 the evidence is
incomplete (a cited run not complete, an observation that could not be made).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.text import Text

from iotvet.assess import Questionnaire, load_catalogue, load_questionnaire
from iotvet.assess.evaluate import evaluate, exit_code, questionnaire_ref
from iotvet.assess.inputs import Observation, Observations, RunEvidence, security_txt_observation, tls_observations
from iotvet.assess.result import Assessment, ProvisionVerdict
from iotvet.assess.scorecard import render, to_json
from iotvet.auth.session import Session
from iotvet.checks.observe import observe_security_txt
from iotvet.cli.assess_cmd import assess
from iotvet.cli.files import write_atomic
from iotvet.cli.report_cmds import DB_OPT, NO_COLOR_OPT, open_store, term_width, use_color
from iotvet.core.errors import UserError
from iotvet.core.ids import new_run_id
from iotvet.core.redact import Redactor
from iotvet.core.scope import DEFAULT_PORTS, Scope
from iotvet.plan import LoadedPlan, load_plan
from iotvet.report.text import one_line
from iotvet.store import Store, resolve_url
from iotvet.store.assessments import load_assessment, record_assessment
from iotvet.transport import Governor, HttpTransport
from iotvet.transport.tls import observe_tls

KINDS = ("table", "json", "html", "oscal")
EXTERNAL = {"html": "iotvet.assess.html", "oscal": "iotvet.assess.oscal"}
"""Writers other modules provide: ``write_html(assessment) -> bytes``, ``write_oscal(assessment) -> bytes``."""
OUTPUT_OPT = typer.Option([], "--output", "-o", metavar="KIND[=PATH]",
                          help="table (stdout; the default), json=FILE, table=FILE, html=FILE, oscal=FILE; repeatable.")
Writer = Callable[[Assessment], bytes]


def parse_outputs(values: list[str]) -> list[tuple[str, Path | None, Writer | None]]:
    """``-o KIND[=PATH]`` values, every one checked (and its writer found) before anything runs."""
    out: list[tuple[str, Path | None, Writer | None]] = []
    for value in values:
        kind, sep, path = value.partition("=")
        if kind not in KINDS:
            raise UserError(f"--output {value!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
        if not path and (sep or kind != "table"):
            raise UserError(f"--output {value!r}: write it as {kind}=PATH")
        out.append((kind, Path(path) if path else None, _writer(kind)))
    return out


def _writer(kind: str) -> Writer | None:
    if kind == "json":
        return to_json
    if kind not in EXTERNAL:
        return None
    try:
        module = importlib.import_module(EXTERNAL[kind])
    except ModuleNotFoundError:
        raise UserError(f"--output {kind}: this iotvet has no {kind} writer yet ({EXTERNAL[kind]})") from None
    writer: Writer = getattr(module, f"write_{kind}")
    return writer


def _endpoints(loaded: LoadedPlan) -> list[tuple[str, str, int, str | None]]:
    """``(scheme, host, port, ca)`` of every TLS endpoint the plan names, once each."""
    plan = loaded.plan
    found: dict[tuple[str, int], tuple[str, str | None]] = {}
    urls = [(plan.target.base_url, plan.target.ca)] if plan.target else []
    urls += [(u, plan.mqtt.ca) for u in [plan.mqtt.url, *plan.mqtt.also]] if plan.mqtt else []
    for url, ca in urls:
        try:
            parts = urlsplit(url)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            continue
        if parts.scheme in ("https", "mqtts", "wss") and parts.hostname and port:
            found.setdefault((parts.hostname, port), (parts.scheme, loaded.resolve(ca).as_posix() if ca else None))
    return [(scheme, host, port, ca) for (host, port), (scheme, ca) in found.items()]


async def gather_observations(loaded: LoadedPlan, redactor: Redactor, *, now: datetime) -> Observations:
    """TLS of every in-scope HTTPS/MQTTS endpoint of the plan and the target's security.txt, within its budgets."""
    plan, safety = loaded.plan, loaded.plan.safety
    governor = Governor(rate=safety.rate, concurrency=safety.concurrency, max_requests=safety.max_requests,
                        max_duration=safety.max_duration)
    scope, target = Scope(plan.scope.hosts), plan.target
    ca = loaded.resolve(target.ca).as_posix() if target and target.ca else None
    items: list[Observation] = []
    async with HttpTransport(scope, governor, run_id=new_run_id(), request_timeout=safety.request_timeout,
                             max_body=safety.max_body, max_redirects=safety.max_redirects, ca=ca,
                             proxy=target.proxy if target else None,
                             extra_headers=tuple(target.headers.items()) if target else ()) as http:
        for scheme, host, port, endpoint_ca in _endpoints(loaded):
            seen = await observe_tls(scope, governor, host, port, scheme=scheme, ca=endpoint_ca,
                                     timeout=safety.request_timeout, http=http if scheme == "https" else None, now=now)
            items += tls_observations(seen.to_json())
        if target is not None:
            found = await observe_security_txt(Session(None, loaded, http, redactor), now=now)
            parts = urlsplit(target.base_url)
            items.append(security_txt_observation(found, f"{parts.scheme}://{parts.netloc}"))
    return Observations(items=tuple(items))


def _select_runs(store: Store, refs: list[str], plan_path: Path, err: Console) -> list[RunEvidence]:
    if not refs:
        digest = hashlib.sha256(plan_path.read_bytes()).hexdigest()
        mine = [r.run.id for r in store.list_runs() if r.run.plan_digest == digest]
        if not mine:
            err.print(Text(f"iotvet: no stored run of {plan_path}: assessing without probe evidence (give --run)"),
                      soft_wrap=True)
            return []
        refs = mine[:1]
    return [RunEvidence.from_run(store.load_run(ref)) for ref in dict.fromkeys(refs)]


def assessment_of(q: Questionnaire, source: str, runs: list[RunEvidence], observations: Observations,
                  redactor: Redactor) -> Assessment:
    """Evaluate now, and redact the result with the plan's secrets."""
    raw = evaluate(load_catalogue(), q, runs, observations, now=datetime.now(UTC), source=source)
    return Assessment.model_validate(redactor.data(raw.model_dump(mode="json")))


def store_assessment(store: Store, assessment: Assessment, redactor: Redactor) -> str:
    """Keep the assessment in the evidence store with the runs it cites; returns its id."""
    return record_assessment(store, vendor=assessment.vendor, runs=list(assessment.runs), redactor=redactor,
                             document=to_json(assessment).decode("utf-8"), created=assessment.created.timestamp())


def assess_and_store(q: Questionnaire, source: str, runs: list[RunEvidence], observations: Observations,
                     store: Store, redactor: Redactor) -> tuple[Assessment, str]:
    """Evaluate, redact (with the plan's secrets) and store the assessment with the runs it cites; returns both."""
    assessment = assessment_of(q, source, runs, observations, redactor)
    return assessment, store_assessment(store, assessment, redactor)


def write_files(assessment: Assessment, outputs: list[tuple[str, Path | None, Writer | None]]) -> None:
    """Write every ``-o KIND=PATH`` file."""
    for _kind, path, writer in outputs:
        if path is not None:
            write_atomic(path, writer(assessment) if writer else render(assessment).encode("utf-8"))


def show(assessment: Assessment, outputs: list[tuple[str, Path | None, Writer | None]], no_color: bool) -> int:
    """Print the scorecard (unless only files were asked for); return the exit code."""
    if not outputs or any(kind == "table" and path is None for kind, path, _ in outputs):
        typer.echo(render(assessment, color=use_color(no_color), width=term_width()), nl=False)
    return exit_code(assessment)


def summary_line(assessment: Assessment, ident: str, code: int) -> str:
    fails = sum(r.mandatory and r.verdict is ProvisionVerdict.FAIL for r in assessment.results)
    why = {0: "no mandatory provision fails", 1: f"{fails} mandatory provision(s) fail",
           3: "the evidence is incomplete"}[code]
    return one_line(f"iotvet: assessment {ident} of {assessment.vendor}; {len(assessment.contradictions)} "
                    f"contradicted claim(s); exit {code}: {why}", 400)


@assess.command("run")
def run_cmd(
    questionnaire: Path = typer.Argument(..., metavar="QUESTIONNAIRE", help="The vendor's questionnaire."),
    plan: Path = typer.Option(..., "--plan", help="The plan: scope and endpoints for the observations."),
    runs: list[str] = typer.Option([], "--run", metavar="RUN_ID|latest",
                                   help="A stored run to cite; repeatable (default: the latest run of --plan)."),
    db: str = DB_OPT,
    no_observe: bool = typer.Option(False, "--no-observe", help="Observe nothing (no TLS, no security.txt)."),
    outputs: list[str] = OUTPUT_OPT,
    no_color: bool = NO_COLOR_OPT,
) -> int:
    """Assess the vendor against EN 303 645: exit 0, 1 (a mandatory provision fails), 2 bad input, 3 incomplete."""
    chosen = parse_outputs(outputs)
    q = load_questionnaire(str(questionnaire))
    loaded = load_plan(str(plan), strict_env=False)
    redactor = Redactor(loaded.secrets)
    err = Console(stderr=True, highlight=False, markup=False)
    digest = hashlib.sha256(questionnaire.read_bytes()).hexdigest()
    with (open_store(db) if runs else Store.open(resolve_url(db), redactor=redactor)) as store:
        cited = _select_runs(store, runs, plan, err)
        observations = (Observations(skipped="--no-observe") if no_observe
                        else asyncio.run(gather_observations(loaded, redactor, now=datetime.now(UTC))))
        assessment = assessment_of(q, f"{questionnaire.name} sha256:{digest}", cited, observations, redactor)
        write_files(assessment, chosen)  # an unwritable file stops here, before anything is stored
        ident = store_assessment(store, assessment, redactor)
    code = show(assessment, chosen, no_color)
    err.print(Text(summary_line(assessment, ident, code)), soft_wrap=True)
    return code


@assess.command("show")
def show_cmd(
    ref: str = typer.Argument("latest", metavar="ID|latest", help="A stored assessment id, a prefix, or latest."),
    db: str = DB_OPT,
    outputs: list[str] = OUTPUT_OPT,
    no_color: bool = NO_COLOR_OPT,
) -> int:
    """Print (and write) a stored assessment; the exit code is the one ``assess run`` gave."""
    chosen = parse_outputs(outputs)
    with open_store(db) as store:
        stored = load_assessment(store, ref)
    assessment = Assessment.model_validate_json(stored.document)
    write_files(assessment, chosen)
    code = show(assessment, chosen, no_color)
    Console(stderr=True, highlight=False, markup=False).print(Text(summary_line(assessment, stored.id, code)),
                                                              soft_wrap=True)
    return code


__all__ = ["assess_and_store", "gather_observations", "questionnaire_ref"]
