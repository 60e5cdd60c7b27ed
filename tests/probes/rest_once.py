"""What the run-once REST check tests share: ground truth and leaks restricted to some checks."""

from __future__ import annotations

from typing import Any

from tests.probes.test_rest_lab import Key, Run, probe_lab

__all__ = ["findings_of", "leaks_of", "probe_lab", "truth_of"]


def truth_of(truth: dict[str, Any], checks: set[str]) -> set[Key]:
    """Ground-truth cells of ``checks`` (flaws only)."""
    return {(entry["check"], cell["operation"]["method"], cell["operation"]["path"], cell["relation"])
            for entry in truth["flaws"] if entry["check"] in checks for cell in entry["cells"] if "operation" in cell}


def leaks_of(run: Run, checks: set[str]) -> set[Key]:
    """Leaking cells of ``checks``."""
    return {k for k in run.leaks() if k[0] in checks}


def findings_of(run: Run, checks: set[str]) -> set[Key]:
    """Cells of ``checks`` that came with a finding."""
    out: set[Key] = set()
    for f in run.findings:
        if f.check in checks:
            assert f.operation is not None and f.relation is not None
            out.add((f.check, f.operation.method, f.operation.path, f.relation.value))
    return out
