"""What the store gives back: a run's metadata, identities, cells, findings and counts.

:class:`RunData` is everything a report needs; the formats in :mod:`iotvet.report` are pure
functions of it. Exchanges, MQTT messages and the journal are read separately (they can be
large); findings already carry the evidence they rest on.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from iotvet.core.records import Cell, Finding, Relation, Verdict

if TYPE_CHECKING:
    from iotvet.plan.schema import Identity


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunStatus(enum.StrEnum):
    """Where a run stands. ``running`` in a store nobody writes to any more means the writer died."""

    RUNNING = "running"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    INTERRUPTED = "interrupted"


SETTLED = frozenset({Verdict.ENFORCED, Verdict.LEAK, Verdict.NOT_TESTED})
"""Verdicts a resumed run keeps; an ``inconclusive`` cell may be decided again."""


class IdentityInfo(_Model):
    """An identity as a report names it: who it is, never how it logs in."""

    name: str
    tenant: str = ""
    group: str | None = None
    role: str = ""
    devices: list[str] = Field(default_factory=list)
    sacrificial: bool = False

    @classmethod
    def from_plan(cls, identity: Identity) -> IdentityInfo:
        """From a plan :class:`~iotvet.plan.schema.Identity`, dropping its credentials."""
        devices = list(identity.devices) + ([identity.device] if identity.device else [])
        return cls(name=identity.name, tenant=identity.tenant, group=identity.group, role=identity.role,
                   devices=devices, sacrificial=identity.sacrificial)


class Untested(_Model):
    """A relation class the plan's identities cannot exercise, and the identity that would."""

    relation: Relation
    reason: str
    add: str = ""
    plane: str | None = None


class RunInfo(_Model):
    """A run's metadata."""

    id: str
    started: float
    finished: float | None = None
    status: RunStatus = RunStatus.RUNNING
    reason: str = ""
    plan_digest: str = ""
    plan_file: str = ""
    target: str = ""
    mode: str = ""
    tool_version: str = ""
    budgets: dict[str, Any] = Field(default_factory=dict)
    sessions: int = 1

    @property
    def complete(self) -> bool:
        """True only for a run that finished with every planned cell attempted."""
        return self.status is RunStatus.COMPLETE


class RunStats(_Model):
    """Counts over a run's evidence."""

    exchanges: int = 0
    sent: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    statuses: dict[str, int] = Field(default_factory=dict)
    mqtt_messages: int = 0
    cells: dict[str, int] = Field(default_factory=dict)
    findings: dict[str, int] = Field(default_factory=dict)
    journal_writes: int = 0
    journal_unrestored: int = 0


class RunData(_Model):
    """Everything a report needs about one run."""

    run: RunInfo
    identities: list[IdentityInfo] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    cells: list[Cell] = Field(default_factory=list)
    untested: list[Untested] = Field(default_factory=list)
    stats: RunStats = Field(default_factory=RunStats)


class StoredExchange(_Model):
    """One HTTP exchange as recorded (redacted, bodies capped)."""

    id: str
    seq: int
    parent: str | None = None
    identity: str | None = None
    purpose: str = ""
    method: str
    url: str
    request_headers: list[tuple[str, str]] = Field(default_factory=list)
    request_body: str | None = None
    request_body_encoding: str = "text"
    status: int | None = None
    reason: str | None = None
    response_headers: list[tuple[str, str]] = Field(default_factory=list)
    response_body: str | None = None
    response_body_encoding: str = "text"
    response_size: int | None = None
    truncated: bool = False
    sent: bool = True
    error_kind: str | None = None
    error_detail: str | None = None
    started: float
    elapsed: float = 0.0


class StoredMessage(_Model):
    """One MQTT observation as recorded."""

    seq: int
    identity: str | None = None
    broker: str
    client: str
    action: str
    topic: str | None = None
    payload: str | None = None
    payload_encoding: str = "text"
    truncated: bool = False
    qos: int | None = None
    retained: bool | None = None
    reason: str | None = None
    at: float


class JournalEntry(_Model):
    """One write a probe made, with the state to restore."""

    seq: int
    identity: str | None = None
    method: str
    url: str
    original: Any = None
    write: Any = None
    lossy: bool = False
    restored: bool = False
    restore_error: str | None = None
    at: float


class RunSummary(_Model):
    """One line of ``iotvet runs``."""

    run: RunInfo
    findings: int = 0
    exchanges: int = 0
