"""Undoing what a run changed and did not restore itself (it was interrupted, or a restore failed)."""

from __future__ import annotations

from dataclasses import dataclass

from iotvet.auth import open_sessions
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.plan import LoadedPlan
from iotvet.transport import Governor, HttpTransport

UNDOABLE = ("PATCH", "PUT")


@dataclass(frozen=True, slots=True)
class Pending:
    """One journaled write that is not marked restored."""

    seq: int
    identity: str | None
    method: str
    url: str
    original: object
    lossy: bool
    note: str | None


@dataclass(frozen=True, slots=True)
class Undone:
    """What happened to one pending write: restored, or why not."""

    seq: int
    restored: bool
    detail: str


async def undo(loaded: LoadedPlan, redactor: Redactor, pending: list[Pending]) -> list[Undone]:
    """Write each recorded original state back, as the identity that owns the object."""
    plan = loaded.plan
    safety = plan.safety
    governor = Governor(rate=safety.rate, concurrency=safety.concurrency, max_requests=safety.max_requests,
                        max_duration=safety.max_duration)
    ca = loaded.resolve(plan.target.ca).as_posix() if plan.target and plan.target.ca else None
    results: list[Undone] = []
    async with HttpTransport(Scope(plan.scope.hosts), governor, run_id="restore", ca=ca,
                             request_timeout=safety.request_timeout) as http:
        sessions = await open_sessions(loaded, http, redactor)
        for entry in pending:
            if entry.note:
                results.append(Undone(entry.seq, False, entry.note))
            elif entry.method not in UNDOABLE or not isinstance(entry.original, dict):
                results.append(Undone(entry.seq, False, f"a {entry.method} cannot be undone by writing it back"))
            elif entry.lossy:
                results.append(Undone(entry.seq, False, "the recorded state held a secret and was stored redacted"))
            elif entry.identity not in sessions:
                results.append(Undone(entry.seq, False, f"no identity {entry.identity} with HTTP credentials"))
            else:
                exchange = await sessions[entry.identity].request(entry.method, entry.url, json_body=entry.original,
                                                                  purpose="restore")
                status = exchange.response.status if exchange.response else None
                ok = status is not None and 200 <= status < 300
                results.append(Undone(entry.seq, ok, "restored" if ok else f"HTTP {status or exchange.error}"))
    return results
