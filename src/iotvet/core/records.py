"""The records that flow from every probe to every reporter.

A probe decides *cells* (check x operation-or-topic x relation) and, for each cell that
leaks, emits one :class:`Finding`. Field names of these models are part of iotvet's public
JSON contract: extend them, never rename them.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Severity(enum.StrEnum):
    """How bad a finding is; ordered from least to most severe."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the order info < low < medium < high < critical."""
        return list(Severity).index(self)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


class Relation(enum.StrEnum):
    """How an attacker identity stands to the victim whose object or topic it touches."""

    SELF = "self"
    SAME_GROUP = "same-group"
    SAME_TENANT = "same-tenant"
    OTHER_TENANT = "other-tenant"
    ANONYMOUS = "anonymous"
    LOWER_ROLE = "lower-role"
    OTHER_TENANT_ADMIN = "other-tenant-admin"
    DEVICE = "device"


class Verdict(enum.StrEnum):
    """The decision on one cell of the access matrix."""

    ENFORCED = "enforced"
    LEAK = "leak"
    INCONCLUSIVE = "inconclusive"
    NOT_TESTED = "not-tested"


Plane = Literal["http", "mqtt"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Operation(_Record):
    """An HTTP operation, named by its method and the spec's path template as written."""

    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


class HttpEvidence(_Record):
    """One HTTP exchange as evidence, already redacted and capped."""

    method: str
    url: str
    status: int | None = None
    request_headers: dict[str, str] = Field(default_factory=dict)
    request_body: str | None = None
    response_headers: dict[str, str] = Field(default_factory=dict)
    response_body: str | None = None
    truncated: bool = False
    exchange_id: str | None = None


class MqttEvidence(_Record):
    """One MQTT observation as evidence, already redacted and capped."""

    broker: str
    client: str
    action: Literal["publish", "subscribe", "receive", "connect", "disconnect"]
    topic: str | None = None
    payload: str | None = None
    qos: int | None = None
    retained: bool | None = None
    reason: str | None = None


class Evidence(_Record):
    """A piece of proof: what was done and what the other side observed."""

    summary: str
    http: HttpEvidence | None = None
    mqtt: MqttEvidence | None = None


class Finding(_Record):
    """A proven security flaw at one cell; the one record every reporter consumes."""

    check: str
    severity: Severity
    title: str
    plane: Plane
    operation: Operation | None = None
    topic: str | None = None
    attacker: str | None = None
    victim: str | None = None
    relation: Relation | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    reproduction: str | None = None
    standards: list[str] = Field(default_factory=list)
    remediation: str = ""

    @property
    def target(self) -> str:
        """The operation or topic the finding is about, as one string."""
        if self.operation is not None:
            return str(self.operation)
        return self.topic or ""

    @property
    def fingerprint(self) -> str:
        """A stable identity across runs: same check, place, relation and identities."""
        parts = [self.check, self.plane, self.target, self.relation or "", self.attacker or "",
                 self.victim or ""]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class Cell(_Record):
    """One decided (or undecided) cell: check x operation-or-topic x relation."""

    check: str
    plane: Plane
    operation: Operation | None = None
    topic: str | None = None
    relation: Relation
    verdict: Verdict
    reason: str = ""
    attacker: str | None = None
    victim: str | None = None
