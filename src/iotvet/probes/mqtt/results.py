"""Cells and findings from a run's decisions, grouped and sorted."""

from __future__ import annotations

from iotvet.checks import mqtt as checks
from iotvet.core.records import Cell, Finding, Relation, Verdict
from iotvet.probes.mqtt.state import Decision, RunState


class Results(RunState):
    """Cells and findings from a run's decisions, grouped and sorted."""

    def results(self) -> tuple[list[Cell], list[Finding]]:
        grouped: dict[tuple[str, str, Relation], list[Decision]] = {}
        for decision in self.decisions:
            if self.is_settled(decision.check, decision.topic, decision.relation):
                continue  # settled by the run this one resumes: not reported again
            grouped.setdefault((decision.check, decision.topic, decision.relation), []).append(decision)
        cells: list[Cell] = []
        findings: list[Finding] = []
        for (check, topic, relation), group in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                        kv[0][2].value)):
            judgement = checks.combine(d.judgement for d in group)
            lead = next((d for d in group if d.judgement.verdict is judgement.verdict), group[0])
            cell = Cell(check=check, plane="mqtt", topic=topic, relation=relation, verdict=judgement.verdict,
                        reason=self.redactor.text(judgement.reason), attacker=lead.attacker or None,
                        victim=lead.victim or None)
            cells.append(cell)
            if judgement.verdict is Verdict.LEAK:
                findings.append(checks.finding(
                    check, topic=topic, relation=relation, attacker=lead.attacker, victim=lead.victim,
                    summary=self.redactor.text(lead.summary or judgement.reason), evidence=lead.evidence,
                    reproduction=self.redactor.text(lead.reproduction)))
        return cells, findings
