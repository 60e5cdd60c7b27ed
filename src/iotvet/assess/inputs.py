"""What the evaluator weighs besides the questionnaire: stored probe runs and passive observations.

:class:`RunEvidence` is one stored run's cells and findings (read through :mod:`iotvet.store`).
:class:`Observations` holds plain records made from the TLS and security.txt observations; the
records are built here from those observations' own data (a :class:`SecurityTxtObservation`, or a
``TlsObservation.to_json()`` mapping, since this layer may not import the transport).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from iotvet.assess.evidence_map import ObservationKind, ObservationStatus
from iotvet.checks.observe import SecurityTxtObservation
from iotvet.core.records import Cell, Finding
from iotvet.store.rundata import RunData, RunStatus

WEAK_HASHES = frozenset({"md5", "sha1"})
LEGACY_TLS = ("TLSv1.0", "TLSv1.1")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunEvidence(_Frozen):
    """One stored probe run as evidence: its cells (with verdicts) and findings."""

    run_id: str
    status: str = RunStatus.COMPLETE.value
    reason: str = ""
    mode: str = ""
    cells: tuple[Cell, ...] = ()
    findings: tuple[Finding, ...] = ()

    @classmethod
    def from_run(cls, data: RunData) -> RunEvidence:
        """From a run read back from the store."""
        run = data.run
        return cls(run_id=run.id, status=run.status.value, reason=run.reason, mode=run.mode,
                   cells=tuple(data.cells), findings=tuple(data.findings))


class Observation(_Frozen):
    """One thing observed about one endpoint, reduced to what the evaluator needs."""

    kind: ObservationKind
    subject: str
    """The endpoint (``host:port``) or the URL observed."""
    status: ObservationStatus
    summary: str
    problems: tuple[str, ...] = ()
    """What counts against (status ``problem``)."""
    notes: tuple[str, ...] = ()
    """Warnings: shown, never held against."""

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.subject}"


class Observations(_Frozen):
    """Every observation gathered for an assessment (none when it was told not to observe)."""

    items: tuple[Observation, ...] = ()
    skipped: str | None = None
    """Why nothing was observed (``--no-observe``), or None."""


def _endpoint(data: Mapping[str, Any]) -> str:
    host, port = str(data.get("host", "?")), data.get("port", "?")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _versions(data: Mapping[str, Any], subject: str) -> Observation:
    versions = data.get("versions") or []
    accepted = [str(v.get("version")) for v in versions if v.get("support") == "accepted"]
    refused = [str(v.get("version")) for v in versions if v.get("support") == "refused"]
    if data.get("inconclusive"):
        return Observation(kind="tls-version", subject=subject, status="inconclusive",
                           summary=f"no TLS handshake answered: {data['inconclusive']}")
    legacy = [v for v in accepted if v in LEGACY_TLS]
    if not accepted:
        return Observation(kind="tls-version", subject=subject, status="problem", summary="no TLS version accepted",
                           problems=(f"refused every TLS version tried ({', '.join(refused) or 'none'})",))
    summary = f"accepts {', '.join(accepted)}" + (f"; refuses {', '.join(refused)}" if refused else "")
    if data.get("cipher"):
        summary += f"; negotiated {data['cipher']}"
    if legacy:
        return Observation(kind="tls-version", subject=subject, status="problem", summary=summary,
                           problems=tuple(f"accepts {v}" for v in legacy))
    return Observation(kind="tls-version", subject=subject, status="ok", summary=summary)


def _certificate(data: Mapping[str, Any], subject: str) -> Observation:
    cert = data.get("certificate")
    if not cert:
        why = data.get("certificate_error") or data.get("inconclusive") or "no certificate was seen"
        return Observation(kind="tls-certificate", subject=subject, status="inconclusive", summary=str(why))
    problems = [text for flag, text in (
        (cert.get("expired"), f"expired on {cert.get('not_after')}"),
        (cert.get("not_yet_valid"), f"not valid before {cert.get('not_before')}"),
        (not cert.get("hostname_matches", True), f"names {', '.join(cert.get('names') or []) or 'no host'}, "
                                                 "not this host"),
        (cert.get("self_signed"), "self-signed"),
        (data.get("trusted") is False, f"not trusted: {data.get('trust_error') or 'verification failed'}"),
        (cert.get("key_type") == "RSA" and int(cert.get("key_bits") or 0) < 2048,
         f"RSA key of {cert.get('key_bits')} bits"),
        (str(cert.get("signature_hash") or "").lower() in WEAK_HASHES, f"signed with {cert.get('signature_hash')}"),
    ) if flag]
    summary = (f"{cert.get('key_type')} {cert.get('key_bits')}-bit certificate for "
               f"{', '.join(cert.get('names') or []) or '?'}, valid until {cert.get('not_after')}")
    if problems:
        return Observation(kind="tls-certificate", subject=subject, status="problem", summary=summary,
                           problems=tuple(problems))
    if data.get("trusted") is None:
        return Observation(kind="tls-certificate", subject=subject, status="inconclusive",
                           summary=f"{summary}; trust unknown: {data.get('trust_error') or 'not verified'}")
    return Observation(kind="tls-certificate", subject=subject, status="ok", summary=f"{summary}; trusted")


def _hsts(data: Mapping[str, Any], subject: str) -> Observation | None:
    why = data.get("hsts_inconclusive")
    if why == "not checked":
        return None
    if why:
        return Observation(kind="hsts", subject=subject, status="inconclusive", summary=f"HSTS not learnt: {why}")
    value = data.get("hsts")
    if not value:
        return Observation(kind="hsts", subject=subject, status="absent", summary="no Strict-Transport-Security header",
                           notes=("no HSTS: browsers may try plaintext first",))
    return Observation(kind="hsts", subject=subject, status="ok", summary=f"Strict-Transport-Security: {value}")


def tls_observations(data: Mapping[str, Any]) -> tuple[Observation, ...]:
    """Records from one ``TlsObservation.to_json()``: versions, certificate and (when checked) HSTS."""
    subject = _endpoint(data)
    found = [_versions(data, subject)]
    if found[0].status != "inconclusive" and data.get("versions") and any(
            v.get("support") == "accepted" for v in data["versions"]):
        found.append(_certificate(data, subject))
        if (hsts := _hsts(data, subject)) is not None:
            found.append(hsts)
    return tuple(found)


def security_txt_observation(obs: SecurityTxtObservation, origin: str) -> Observation:
    """The record of a security.txt observation at ``origin``."""
    errors = tuple(f"{f.code}: {f.detail}" for f in obs.flags if f.severity == "error" and f.code != "missing")
    warnings = tuple(f"{f.code}: {f.detail}" for f in obs.flags if f.severity != "error")
    if obs.inconclusive:
        return Observation(kind="security-txt", subject=origin, status="inconclusive", summary=obs.inconclusive)
    if not obs.found:
        return Observation(kind="security-txt", subject=origin, status="absent",
                           summary="; ".join(f.detail for f in obs.flags) or "no security.txt found")
    file = obs.file
    contacts = ", ".join(file.values("Contact")) if file else ""
    policy = ", ".join(file.values("Policy")) if file else ""
    summary = f"Contact {contacts or '-'}; Policy {policy or '-'}"
    return Observation(kind="security-txt", subject=obs.url or origin, status="problem" if errors else "ok",
                       summary=summary, problems=errors, notes=warnings)
