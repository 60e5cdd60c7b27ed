"""REST probe II against the lab: the lifecycle checks (stale tokens, binding, sharing) find every planted
lifecycle flaw and nothing else, in three API shapes; with the flaws off every cell is decided, the same
on every run; the lab's accounts, bindings and shares are as they were after every run; and outside
intrusive mode the intrusive checks send nothing."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import tests.probes.test_rest_lab as rest_lab
from iotvet.lab.runner import Lab
from iotvet.transport import Exchange
from tests.probes.test_rest_lab import Key, Run, _key, _truth_cells, probe_lab

pytestmark = pytest.mark.timeout(90)

LIFECYCLE = {"auth-stale-token", "bd-bind-hijack", "bd-unbind-unauth", "bd-share-revoke", "bd-share-role"}
INTRUSIVE_ONLY = {"auth-stale-token", "bd-bind-hijack", "bd-unbind-unauth", "bd-rebind-residual", "bd-share-revoke",
                  "bd-share-role"}
CHECKS = LIFECYCLE | {"bd-rebind-residual"}
FLAWS = ("stale-sessions", "bind-by-vin", "unbind-any-vehicle", "share-revoke-ignored", "guest-owner-actions")
SHAPES = (0, 3, 174)
CHECK_PURPOSES = {"control", "control-readback", "seed", "restore", "victim-view", "victim-readback"}
GENERATED_PASSWORD = re.compile(r"Iv-[0-9a-f]{12}-[0-9A-F]{6}-9!")


@dataclass
class Watch:
    """What the test saw around each probe run: the lab's state before and after, and every exchange."""

    lab: Lab | None = None
    states: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    exchanges: list[list[Exchange]] = field(default_factory=list)


def lab_state(lab: Lab) -> dict[str, Any]:
    """Bindings, accounts and standing shares, read from the lab's own objects (the lab thread is idle)."""
    world, state = lab.world, lab.api.state
    return {
        "assets": {a.id: (a.customer, a.owner, a.nickname, a.locked) for a in world.assets.values()},
        "customers": {c: sorted(ids) for c, ids in world.by_customer.items()},
        "users": {u.id: (u.password, u.role, u.tenant, u.customer) for u in world.users.values()},
        "shares": sorted((s.asset, s.grantee, s.role) for s in state.shares.values() if not s.revoked),
    }


@contextlib.contextmanager
def watching() -> Iterator[Watch]:
    """Wrap probe_lab's lab and probe so each run's state and exchanges are recorded."""
    watch = Watch()
    real_lab, real_probe = getattr(rest_lab, "lab_in_thread"), getattr(rest_lab, "probe_rest")  # noqa: B009

    @contextlib.contextmanager
    def lab_in_thread(config: Any) -> Iterator[Lab]:
        with real_lab(config) as lab:
            watch.lab = lab
            yield lab

    async def probe_rest(plan: Any, model: Any, sessions: Any, redactor: Any, **kw: Any) -> Any:
        assert watch.lab is not None
        before, seen = lab_state(watch.lab), list[Exchange]()
        sessions["anonymous"].http.listen(seen.append)
        summary = await real_probe(plan, model, sessions, redactor, **kw)
        watch.states.append((before, lab_state(watch.lab)))
        watch.exchanges.append(seen)
        return summary

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rest_lab, "lab_in_thread", lab_in_thread)
        mp.setattr(rest_lab, "probe_rest", probe_rest)
        yield watch


def probe(flaws: str, shape: int, tmp: Path, runs: int = 1, mode: str | None = "intrusive",
          only: set[str] = CHECKS) -> tuple[list[Run], Watch]:
    with watching() as watch:
        return probe_lab(flaws, shape, tmp, runs, mode=mode, only=only), watch


def truth(run: Run) -> set[Key]:
    """The ground-truth cells of the lifecycle checks."""
    return {(entry["check"], c["operation"]["method"], c["operation"]["path"], c["relation"])
            for entry in run.truth["flaws"] if entry["check"] in LIFECYCLE for c in entry["cells"]}


@pytest.fixture(scope="module", params=SHAPES)
def shape(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(scope="module")
def flawed(shape: int, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Watch]:
    runs, watch = probe("all", shape, tmp_path_factory.mktemp(f"all{shape}"))
    return runs[0], watch


@pytest.fixture(scope="module")
def clean(shape: int, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Run], Watch]:
    return probe("none", shape, tmp_path_factory.mktemp(f"none{shape}"), runs=3)


def test_every_lifecycle_cell_leaks_with_a_finding(flawed: tuple[Run, Watch]) -> None:
    run, _ = flawed
    want = truth(run)
    assert {k[0] for k in want} == LIFECYCLE, "the lab plants a cell for every lifecycle check"
    assert want - run.leaks() == set()
    assert run.leaks() - want == set()  # no leak the lab did not plant
    found = {(f.check, f.operation.method, f.operation.path, f.relation.value)  # type: ignore[union-attr]
             for f in run.findings}
    assert found == run.leaks()
    traps = {k[1:] for k in _truth_cells(run.truth, "traps")}
    assert {k for k in run.leaks() if k[1:] in traps} == set()


def test_findings_carry_victim_side_evidence_and_no_secret(flawed: tuple[Run, Watch]) -> None:
    run, _ = flawed
    for finding in run.findings:
        assert finding.evidence and finding.reproduction and finding.remediation and finding.standards
        assert len(finding.evidence) >= 3, finding.check  # the attack and the victim's own views
        text = finding.model_dump_json()
        assert [s for s in run.secrets if s in text] == []
        assert "eyJhbGci" not in text and not GENERATED_PASSWORD.search(text)


def test_flawed_lab_is_restored(flawed: tuple[Run, Watch]) -> None:
    """Bindings, passwords and standing shares are as before (a share the lab keeps honouring after its
    revocation is its flaw: the share is revoked, and the finding says the access could not be ended)."""
    _, watch = flawed
    assert [before == after for before, after in watch.states] == [True]


def test_flaws_off_decided_deterministic_restored(clean: tuple[list[Run], Watch],
                                                  flawed: tuple[Run, Watch]) -> None:
    runs, watch = clean
    first = runs[0].verdicts()
    assert all(r.findings == [] for r in runs)
    for key, verdict in first.items():
        if key[0] == "bd-rebind-residual":
            assert verdict in ("enforced", "not-tested"), key
        else:
            assert verdict == "enforced", (key, [c.reason for c in runs[0].cells if _key(c) == key])
    assert truth(flawed[0]) <= set(first)
    assert [r.verdicts() for r in runs[1:]] == [first, first]
    assert [before == after for before, after in watch.states] == [True, True, True]


@pytest.mark.parametrize("flaw", FLAWS)
def test_each_flaw_alone_gives_exactly_its_cells(flaw: str, tmp_path: Path) -> None:
    runs, watch = probe(flaw, 3, tmp_path)
    assert runs[0].leaks() == truth(runs[0]) != set()
    before, after = watch.states[0]
    assert before == after


@pytest.mark.parametrize("mode", [None, "read-only"])
def test_outside_intrusive_mode_nothing_is_sent(mode: str | None, tmp_path: Path) -> None:
    """The plan's own mode (safe-writes) and read-only: the intrusive checks send nothing and say why."""
    runs, watch = probe("all", 0, tmp_path, mode=mode, only=INTRUSIVE_ONLY if mode is None else CHECKS)
    cells = runs[0].cells
    assert {c.check for c in cells} == (INTRUSIVE_ONLY if mode is None else CHECKS)
    assert {c.verdict.value for c in cells} == {"not-tested"}
    want = "intrusive mode" if mode is None else "read-only mode sends no write"
    assert all(want in c.reason or "intrusive mode" in c.reason for c in cells)
    ours = [(ex.request.method, ex.request.url) for ex in watch.exchanges[0]
            if ex.request.purpose in CHECK_PURPOSES or ex.request.purpose.startswith(("probe:", "setup:"))]
    assert ours == []  # discovery and logins only (and whatever other engine stages send for themselves)
    assert watch.states[0][0] == watch.states[0][1]
