"""Sorting stored cells, findings and observations into the evidence each provision rests on.

Through the evidence map, per provision: what counts against it (every finding, every leak cell no
finding covers, every observation with a problem), what supports it (per run and check, the
enforced cells; clean observations), and what is only context (checks not tested or undecided,
absent or inconclusive observations, the map's context entries).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from iotvet.assess.evidence_map import Bearing, EvidenceMap
from iotvet.assess.inputs import Observation, Observations, RunEvidence
from iotvet.assess.result import EvidenceRef, Source
from iotvet.core.records import Cell, Finding, Relation, Verdict
from iotvet.report.text import one_line


def place(item: Cell | Finding) -> str:
    """Where a cell or finding sits: ``GET /path`` or the topic."""
    return str(item.operation) if item.operation is not None else (item.topic or "")


def cell_ref(cell: Cell) -> str:
    """``check@place#relation``: how an assessment names a cell."""
    return f"{cell.check}@{place(cell)}#{cell.relation.value}"


@dataclass(frozen=True, slots=True)
class Leak:
    """A leak of one check in one run: a finding, or a leak cell no finding covers."""

    check: str
    relation: Relation | None
    ref: EvidenceRef


def _finding_ref(run_id: str, f: Finding) -> EvidenceRef:
    relation = f" [{f.relation.value}]" if f.relation else ""
    who = f", {f.attacker} -> {f.victim}" if f.attacker and f.victim and f.attacker != f.victim else ""
    text = one_line(f"{f.check} ({f.severity.value}): {f.title}: {f.target}{relation}{who}", 300)
    return EvidenceRef(source=Source.PROBE, ref=f.fingerprint, run_id=run_id, summary=text, supports="fail")


def leaks(run: RunEvidence) -> list[Leak]:
    """Every finding of ``run``, and every leak cell of it that no finding stands for."""
    found = [Leak(f.check, f.relation, _finding_ref(run.run_id, f)) for f in run.findings]
    covered = {(f.check, f.plane, place(f), f.relation.value if f.relation else "") for f in run.findings}
    for cell in run.cells:
        if cell.verdict is Verdict.LEAK and (cell.check, cell.plane, place(cell), cell.relation.value) not in covered:
            summary = one_line(f"{cell.check}: leak at {place(cell)} [{cell.relation.value}]: {cell.reason}", 300)
            found.append(Leak(cell.check, cell.relation, EvidenceRef(
                source=Source.PROBE, ref=cell_ref(cell), run_id=run.run_id, summary=summary, supports="fail")))
    return found


@dataclass
class Pile:
    """The evidence gathered for one provision."""

    fails: list[EvidenceRef] = field(default_factory=list)
    supports: list[EvidenceRef] = field(default_factory=list)
    context: list[EvidenceRef] = field(default_factory=list)
    untested: dict[str, str] = field(default_factory=dict)
    """Check -> why its cells were not tested (first reason seen)."""
    undecided: dict[str, str] = field(default_factory=dict)
    """Check or observation kind -> why it stayed inconclusive."""
    seen: set[str] = field(default_factory=set)
    """Checks and observation kinds that bear on the provision and produced anything."""
    decided: set[str] = field(default_factory=set)
    """Checks and observation kinds that counted for or against it (a leak, an enforced cell, a clean or bad
    observation): their untested cells elsewhere are no gap in its evidence."""

    def sort(self) -> None:
        for refs in (self.fails, self.supports, self.context):
            unique = {(r.source.value, r.run_id or "", r.ref, r.summary): r for r in refs}
            refs[:] = [unique[k] for k in sorted(unique)]


def _per_check(cells: Iterable[Cell]) -> dict[str, dict[Verdict, list[Cell]]]:
    grouped: dict[str, dict[Verdict, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        grouped[cell.check][cell.verdict].append(cell)
    for by_verdict in grouped.values():
        for items in by_verdict.values():
            items.sort(key=lambda c: (place(c), c.relation.value, c.attacker or "", c.victim or ""))
    return grouped


def _count(cells: list[Cell], what: str, check: str) -> str:
    first = cells[0]
    more = f" (and {len(cells) - 1} more)" if len(cells) > 1 else ""
    return one_line(f"{check}: {what} at {place(first)} [{first.relation.value}]{more}: {first.reason}", 300)


class Gatherer:
    """Collects, per provision, the evidence of runs and observations as the map reads it."""

    def __init__(self, emap: EvidenceMap) -> None:
        self.emap = emap
        self.piles: dict[str, Pile] = defaultdict(Pile)

    def _to(self, provisions: Iterable[str], where: str, ref: EvidenceRef, name: str) -> None:
        for pid in provisions:
            pile = self.piles[pid]
            getattr(pile, where).append(ref)
            pile.seen.add(name)
            if where != "context":
                pile.decided.add(name)

    def add_run(self, run: RunEvidence) -> None:
        for leak in leaks(run):
            self._to(self.emap.failing(leak.check), "fails", leak.ref, leak.check)
        for check, by_verdict in sorted(_per_check(run.cells).items()):
            bearing = self.emap.checks.get(check)
            if bearing is None:
                continue
            if enforced := by_verdict.get(Verdict.ENFORCED):
                ref = EvidenceRef(source=Source.PROBE, ref=cell_ref(enforced[0]), run_id=run.run_id,
                                  summary=_count(enforced, f"{len(enforced)} cell(s) enforced", check), supports="pass")
                self._to(bearing.supports, "supports", ref, check)
            for verdict, target in ((Verdict.NOT_TESTED, "untested"), (Verdict.INCONCLUSIVE, "undecided")):
                if cells := by_verdict.get(verdict):
                    ref = EvidenceRef(source=Source.PROBE, ref=cell_ref(cells[0]), run_id=run.run_id,
                                      summary=_count(cells, f"{len(cells)} cell(s) {verdict.value}", check),
                                      supports="context")
                    for pid in set(bearing.fails) | set(bearing.supports):
                        getattr(self.piles[pid], target).setdefault(check, one_line(cells[0].reason, 160))
                        self.piles[pid].context.append(ref)
                        self.piles[pid].seen.add(check)

    def add_observation(self, obs: Observation) -> None:
        bearing: Bearing | None = self.emap.observations.get(obs.kind)
        if bearing is None:
            return
        detail = "; ".join((*obs.problems, *obs.notes))
        summary = one_line(f"{obs.kind} {obs.subject}: {obs.summary}" + (f" ({detail})" if detail else ""), 400)
        every = set(bearing.fails) | set(bearing.supports) | set(bearing.context)
        if obs.status == "problem" and bearing.fails:
            ref = EvidenceRef(source=Source.OBSERVATION, ref=obs.ref, summary=summary, supports="fail")
            self._to(bearing.fails, "fails", ref, obs.kind)
            every -= set(bearing.fails)
        elif obs.status == "ok" and bearing.supports:
            ref = EvidenceRef(source=Source.OBSERVATION, ref=obs.ref, summary=summary, supports="pass")
            self._to(bearing.supports, "supports", ref, obs.kind)
            every -= set(bearing.supports)
        if obs.status == "inconclusive":
            for pid in every:
                self.piles[pid].undecided.setdefault(obs.kind, one_line(obs.summary, 160))
        for pid in sorted(every):
            why = bearing.context.get(pid)
            text = one_line(f"{summary}: {why}", 600) if why else summary
            self._to((pid,), "context", EvidenceRef(source=Source.OBSERVATION, ref=obs.ref, summary=text,
                                                    supports="context"), obs.kind)


def gather(emap: EvidenceMap, runs: Iterable[RunEvidence], observations: Observations) -> dict[str, Pile]:
    """The evidence per provision id (only provisions something bears on have a pile)."""
    gatherer = Gatherer(emap)
    for run in runs:
        gatherer.add_run(run)
    for obs in observations.items:
        gatherer.add_observation(obs)
    for pile in gatherer.piles.values():
        pile.sort()
    return dict(gatherer.piles)
