"""The dry run's run-once entries against the lab: every run-once check sends no more than the bound it
registers (logins it causes included), in intrusive mode with the flaws on and off and alone (its shared
setup built by itself); outside intrusive mode the checks the dry run lists as not sent send nothing, for
the reason it gives; the input-validation bound holds whatever the seed draws and generates nothing itself;
and the whole probe stays within ``DryRun.requests``."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.probes.test_rest_lab as rest_lab
from iotvet.checks import input_cases
from iotvet.checks.registry import RUN_ONCE, RunBound, registry
from iotvet.lab.runner import LabConfig, lab_in_thread, resolve_flaws
from iotvet.probes.rest.dryrun import DryRun, dry_run
from iotvet.transport import Exchange
from tests.probes.test_rest_lab import Run, probe_lab

pytestmark = pytest.mark.timeout(90)

ONCE = frozenset(c.info.id for c in registry.run_once("http"))
SHARED_SETUP = sorted(c for c in ONCE if c.startswith(("jwt-", "bd-")))
"""Checks that build setup other checks reuse (the token bench, device listings and controls)."""
INTRUSIVE_ONLY = {c for c in ONCE if c.startswith(("auth-", "bd-"))} | {"api-hidden-route"}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Measured:
    """One lab run: what each run-once check sent (None: discovery and logins before them) and the dry run."""

    run: Run
    sent: Counter[str | None] = field(default_factory=Counter)
    writes: Counter[str | None] = field(default_factory=Counter)
    bounds: dict[str, RunBound] = field(default_factory=dict)
    dry: DryRun | None = None
    plan: Any = None
    model: Any = None

    def cells(self, check: str) -> list[Any]:
        return [c for c in self.run.cells if c.check == check]


@contextlib.contextmanager
def measuring(measured: Measured, discover_routes: bool = False, seed: int | None = None) -> Iterator[None]:
    """Wrap probe_lab's probe: bounds and dry run from its plan and model, exchanges by running check."""
    real = getattr(rest_lab, "probe_rest")  # noqa: B009

    async def probe_rest(plan: Any, model: Any, sessions: Any, redactor: Any, **kw: Any) -> Any:
        if discover_routes:
            plan = plan.model_copy(update={"safety": plan.safety.model_copy(update={"discover_routes": True})})
        if seed is not None:
            plan = plan.model_copy(update={"safety": plan.safety.model_copy(update={"seed": seed})})
        measured.plan, measured.model = plan, model
        measured.bounds = {c: registry.get(c).bound(plan, model) for c in ONCE}  # type: ignore[misc]
        measured.dry = dry_run(plan, model)
        current: list[str | None] = [None]

        def on_operation(index: int, total: int, key: str) -> None:
            current[0] = key if index == total and key in ONCE else None

        def count(ex: Exchange) -> None:
            if ex.sent:
                measured.sent[current[0]] += 1
                if ex.request.method in WRITES and ex.request.purpose != "login":
                    measured.writes[current[0]] += 1

        sessions["anonymous"].http.listen(count)
        return await real(plan, model, sessions, redactor, on_operation=on_operation, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rest_lab, "probe_rest", probe_rest)
        yield


def measure(flaws: str, shape: int, tmp: Path, mode: str = "intrusive", only: set[str] | None = None,
            discover_routes: bool = False, seed: int | None = None) -> Measured:
    measured = Measured(Run())
    with measuring(measured, discover_routes, seed):
        measured.run = probe_lab(flaws, shape, tmp, mode=mode, only=set(ONCE) if only is None else only)[0]
    return measured


def assert_within(m: Measured, checks: set[str] | frozenset[str]) -> None:
    over = {c: (m.sent[c], m.bounds[c].requests) for c in checks if m.sent[c] > m.bounds[c].requests}
    assert over == {}, "requests over the bound (sent, bound)"
    over = {c: (m.writes[c], m.bounds[c].writes) for c in checks if m.writes[c] > m.bounds[c].writes}
    assert over == {}, "writes over the bound (sent, bound)"


@pytest.mark.parametrize("shape", [0, 3])
@pytest.mark.parametrize("flaws", ["all", "none"])
def test_intrusive_run_once_checks_stay_within_their_bounds(flaws: str, shape: int, tmp_path: Path) -> None:
    m = measure(flaws, shape, tmp_path)
    assert {c for c, b in m.bounds.items() if b.skip} == set()  # the lab's plan lets every check run
    assert_within(m, ONCE)
    assert sum(m.sent[c] for c in ONCE) > 300  # the checks did run (hidden routes alone ask ~180)
    assert m.dry is not None
    ours = [c for c in m.dry.cells if c.relation in (RUN_ONCE, "(shared setup)")]
    assert {c.check for c in ours if c.relation == RUN_ONCE} == ONCE
    assert sum(m.sent[c] for c in ONCE) <= sum(c.requests for c in ours)  # shared setup counted once
    assert sum(m.writes[c] for c in ONCE) <= sum(c.write_requests or 0 for c in ours)


@pytest.mark.parametrize("check", SHARED_SETUP)
def test_alone_a_check_builds_its_shared_setup_within_its_bound(check: str, tmp_path: Path) -> None:
    m = measure("all", 0, tmp_path, only={check})
    assert m.sent[check] > 0
    assert_within(m, {check})


@pytest.mark.parametrize(("mode", "discover"), [("safe-writes", False), ("read-only", False), ("safe-writes", True)])
def test_outside_intrusive_mode_skipped_checks_send_nothing_and_say_why(mode: str, discover: bool,
                                                                        tmp_path: Path) -> None:
    m = measure("all", 0, tmp_path, mode=mode, discover_routes=discover)
    skipped = {c for c, b in m.bounds.items() if b.skip}
    assert skipped == INTRUSIVE_ONLY - ({"api-hidden-route"} if discover else set())
    for check in skipped:
        reason = m.bounds[check].skip
        assert m.sent[check] == 0, check
        assert m.cells(check) and all(c.verdict.value == "not-tested" and c.reason == reason
                                      for c in m.cells(check)), (check, reason, {c.reason for c in m.cells(check)})
    assert_within(m, ONCE - skipped)
    assert m.dry is not None
    listed = {what.split(" ")[-3] for what, _ in m.dry.skipped if what.endswith(RUN_ONCE)}
    assert listed == skipped


@pytest.mark.parametrize(("flaws", "seed"), [("all", 11), ("none", 23)])  # seed 0: the test above
def test_input_validation_stays_within_a_bound_that_generates_nothing(flaws: str, seed: int, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    check = "api-input-validation"
    m = measure(flaws, 3, tmp_path, only={check}, seed=seed)
    assert_within(m, {check})
    assert m.bounds[check].writes > 0 and m.writes[check] > 0  # intrusive: body values were written, and undone
    generated = [c for c in m.cells(check) if "Schemathesis negative mode" in c.reason]
    assert {c.operation.method for c in generated} == {"GET", "PATCH"}
    assert (flaws == "all") == any(c.verdict.value == "leak" for c in m.cells(check))

    def no_generation(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("the dry run must not draw inputs")

    monkeypatch.setattr(input_cases, "draw", no_generation)
    assert registry.get(check).bound(m.plan, m.model) == m.bounds[check]  # type: ignore[misc]


def test_the_whole_probe_stays_within_the_dry_run(tmp_path: Path) -> None:
    m = measure("all", 3, tmp_path, only=None)  # every check, per-operation and run-once
    assert m.dry is not None and m.run.permits <= m.dry.requests


def _dry_cli(plan: Path, mode: str, *extra: str) -> None:
    from iotvet.cli import main

    doc = yaml.safe_load(plan.read_text())
    doc["safety"]["mode"] = mode
    plan.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert main(["probe", str(plan), "--dry-run", *extra]) == 0  # the lab's budgets fit


def test_cli_lists_run_once_checks_with_their_bounds(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    outputs: dict[str, str] = {}
    with lab_in_thread(LabConfig(flaws=resolve_flaws("none"), shape_seed=0, mqtt="off", workdir=tmp_path)) as lab:
        plan = tmp_path / "plan.yaml"
        lab.write_plan(plan)
        for name, mode, extra in (("safe", "safe-writes", ()), ("routes", "safe-writes", ("--discover-routes",)),
                                  ("intrusive", "intrusive", ())):
            _dry_cli(plan, mode, *extra)
            outputs[name] = capsys.readouterr().out
    rows = {name: {line.split("│")[2].strip() for line in out.splitlines() if "│ (run once)" in line}
            for name, out in outputs.items()}
    assert rows["intrusive"] >= ONCE and "not sent: " not in outputs["intrusive"]
    assert rows["safe"] & INTRUSIVE_ONLY == set() and "jwt-* bench" in rows["safe"]
    assert "GET /* api-hidden-route (run once): route discovery runs only in intrusive mode" in outputs["safe"]
    assert "api-hidden-route" in rows["routes"] and "api-hidden-route (run once)" not in outputs["routes"]
    assert "auth-no-throttle (run once): intrusive mode only: repeated failed logins" in outputs["safe"]
