"""REST probe II, token checks: against the lab in three shapes (bearer header, cookie, custom header), and
against small servers for the key-selection flaws the lab does not plant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iotvet.checks import rest_tokens, rest_tokens_forge, rest_tokens_try
from iotvet.lab.rest import flaws as LF
from iotvet.lab.shapes import shape_for
from tests.probes.jwt_servers import JWT_CHECKS, Flavour, run
from tests.probes.test_rest_lab import Key, Run, _key, probe_lab

pytestmark = pytest.mark.timeout(120)

SHAPES = (0, 3, 174)
ONLY = set(JWT_CHECKS)
ALONE = {LF.JWT_NONE: "jwt-none", LF.JWT_WEAK: "jwt-weak-key", LF.JWT_UNVERIFIED: "jwt-unverified"}
BUDGET = 28
"""Most requests the token family may send (module docstring of iotvet.checks.rest_tokens)."""


def _jwt_truth(truth: dict[str, Any]) -> set[Key]:
    return {(entry["check"], cell["operation"]["method"], cell["operation"]["path"], cell["relation"])
            for entry in truth["flaws"] if entry["check"] in JWT_CHECKS for cell in entry["cells"]}


def _found(run: Run) -> set[Key]:
    return {(f.check, f.operation.method, f.operation.path, f.relation.value)  # type: ignore[union-attr]
            for f in run.findings}


@pytest.fixture(scope="module", params=SHAPES, ids=lambda s: f"shape{s}")
def shape(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(scope="module")
def runs_all(shape: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    yield probe_lab("all", shape, tmp_path_factory.mktemp(f"jwt-all{shape}"), only=ONLY)[0]


@pytest.fixture(scope="module")
def runs_none(shape: int, tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    return probe_lab("none", shape, tmp_path_factory.mktemp(f"jwt-none{shape}"), runs=3, only=ONLY)


def test_all_flaws_every_token_cell_leaks_and_nothing_else(runs_all: Run) -> None:
    want = _jwt_truth(runs_all.truth)
    assert {k[0] for k in want} == {"jwt-none", "jwt-weak-key", "jwt-unverified"}
    assert runs_all.leaks() == want
    assert _found(runs_all) == want
    verdicts = {c.check: c.verdict.value for c in runs_all.cells}
    assert sorted(c.check for c in runs_all.cells) == sorted(JWT_CHECKS)  # one cell per check, all decided
    assert verdicts["jwt-claim-swap"] == "enforced" and verdicts["jwt-expired"] == "enforced"
    assert verdicts["jwt-alg-confusion"] == "not-tested"
    # Header tricks are accepted only because no signature is checked: attributed to jwt-unverified.
    injection = next(c for c in runs_all.cells if c.check == "jwt-header-injection")
    assert injection.verdict.value == "not-tested" and injection.reason.startswith("masked:")


def test_findings_carry_evidence_and_no_secret(runs_all: Run, shape: int) -> None:
    key = shape_for(shape).weak_key
    for finding in runs_all.findings:
        assert finding.evidence and finding.reproduction and finding.remediation and finding.standards
        assert finding.relation.value == "anonymous" and finding.victim and finding.attacker != finding.victim
        text = finding.model_dump_json()
        assert [s for s in runs_all.secrets if s in text] == []
        assert "eyJ" not in text  # every token, forged or issued, is redacted whole
        assert "[REDACTED:forged." in text
        if key != "secret":  # the catalogue's own words say "secret"
            assert key not in text
    weak = next(f for f in runs_all.findings if f.check == "jwt-weak-key")
    assert "entry #" in weak.evidence[0].summary and "the key is not shown" in weak.evidence[0].summary
    reasons = " ".join(c.reason for c in runs_all.cells)
    assert key == "secret" or key not in reasons


def test_flaws_off_zero_findings_all_decided_and_deterministic(runs_none: list[Run]) -> None:
    first = runs_none[0]
    assert first.findings == [] and first.leaks() == set()
    assert sorted(c.check for c in first.cells) == sorted(JWT_CHECKS)
    for cell in first.cells:
        assert cell.verdict.value in ("enforced", "not-tested") and cell.reason, cell
    verdicts = {c.check: c.verdict.value for c in first.cells}
    assert verdicts == {"jwt-none": "enforced", "jwt-unverified": "enforced", "jwt-weak-key": "enforced",
                        "jwt-header-injection": "enforced", "jwt-claim-swap": "not-tested",
                        "jwt-expired": "not-tested", "jwt-alg-confusion": "not-tested"}
    for other in runs_none[1:]:
        assert other.verdicts() == first.verdicts()
        assert {_key(c): c.reason for c in other.cells} == {_key(c): c.reason for c in first.cells}


@pytest.mark.parametrize("flaw", sorted(ALONE))
def test_each_token_flaw_alone_gives_exactly_its_cells_even_read_only(flaw: str, tmp_path: Path) -> None:
    run_ = probe_lab(flaw, 3, tmp_path, only=ONLY, mode="read-only")[0]
    want = _jwt_truth(run_.truth)
    assert want and {k[0] for k in want} == {ALONE[flaw]}
    assert run_.leaks() == want and _found(run_) == want


def test_requests_bounded_whatever_the_wordlist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cracker sends nothing per guess: 50 times the wordlist, the same number of requests."""
    base = probe_lab(LF.JWT_WEAK, 3, tmp_path / "discovery", only={"api-nothing"})[0].permits
    normal = probe_lab(LF.JWT_WEAK, 3, tmp_path / "normal", only=ONLY)[0]
    words = rest_tokens_forge.wordlist()
    padded = tuple(f"{w}-{i}" for i in range(50) for w in words) + words
    for module in (rest_tokens, rest_tokens_try):
        monkeypatch.setattr(module, "wordlist", lambda: padded)
    bigger = probe_lab(LF.JWT_WEAK, 3, tmp_path / "padded", only=ONLY)[0]
    assert bigger.leaks() == normal.leaks() == _jwt_truth(normal.truth)
    assert bigger.permits == normal.permits
    assert 0 < normal.permits - base <= BUDGET


# -- small servers: what the lab does not plant --------------------------------------------------

@pytest.mark.parametrize(("flavour", "expected"), [(Flavour(alg="RS256", confused=True), "leak"),
                                                   (Flavour(alg="RS256"), "enforced")], ids=["confused", "fixed"])
def test_alg_confusion_with_a_jwks(tmp_path: Path, flavour: Flavour, expected: str) -> None:
    result = run(tmp_path, flavour)
    verdicts = result.verdicts()
    assert verdicts["jwt-alg-confusion"] == expected
    assert "/.well-known/jwks.json" in result.hits
    assert [f.check for f in result.findings] == (["jwt-alg-confusion"] if expected == "leak" else [])
    assert verdicts["jwt-weak-key"] == "not-tested" and "RS256" in result.reason("jwt-weak-key")
    assert verdicts["jwt-none"] == verdicts["jwt-unverified"] == verdicts["jwt-header-injection"] == "enforced"


@pytest.mark.parametrize(("flavour", "expected"), [(Flavour(kid_path=True), "leak"), (Flavour(), "enforced")],
                         ids=["kid-path", "fixed"])
def test_kid_path_traversal(tmp_path: Path, flavour: Flavour, expected: str) -> None:
    result = run(tmp_path, flavour)
    assert result.verdicts()["jwt-header-injection"] == expected
    assert [f.check for f in result.findings] == (["jwt-header-injection"] if expected == "leak" else [])
    if expected == "leak":
        assert "kid path traversal" in result.findings[0].evidence[0].summary
    assert result.verdicts()["jwt-alg-confusion"] == "not-tested" and "HS256" in result.reason("jwt-alg-confusion")


@pytest.mark.parametrize(("flavour", "expected"), [(Flavour(lifetime=2, check_exp=False), "leak"),
                                                   (Flavour(lifetime=2), "enforced")], ids=["unchecked", "checked"])
def test_short_lived_tokens_presented_after_expiry(tmp_path: Path, flavour: Flavour, expected: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rest_tokens, "EXPIRY_SKEW", 1.0)  # a real run allows 60 s of clock skew
    result = run(tmp_path, flavour)
    assert result.verdicts()["jwt-expired"] == expected
    assert [f.check for f in result.findings] == (["jwt-expired"] if expected == "leak" else [])


def test_opaque_tokens_are_not_tested(tmp_path: Path) -> None:
    result = run(tmp_path, Flavour(opaque=True))
    assert {c.check: c.verdict.value for c in result.cells} == {c: "not-tested" for c in JWT_CHECKS}
    assert all("opaque (non-JWT) tokens" in c.reason for c in result.cells)


def test_request_not_authenticated_by_its_token_is_inconclusive(tmp_path: Path) -> None:
    """The negative control: the verify request's header picks the profile, whatever the token says."""
    result = run(tmp_path, Flavour(user_header=True), verify_headers={"X-User": "ana"})
    assert result.findings == []
    assert {c.check: c.verdict.value for c in result.cells} == {c: "inconclusive" for c in JWT_CHECKS}
    assert all("not authenticated by its token" in c.reason for c in result.cells)
