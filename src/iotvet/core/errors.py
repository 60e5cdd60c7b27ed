"""Errors travel in three channels.

* Findings are data (:mod:`iotvet.core.records`), never exceptions.
* :class:`UserError`: the person running iotvet must fix something (a plan, a spec, a flag).
  The CLI prints its one-line message and exits 2. No traceback.
* :class:`TargetError`: the target misbehaved or a safety rail stopped a request. Non-fatal:
  the probe records the cell as inconclusive with the error's kind as the reason.

    IotvetError
    ├── UserError
    └── TargetError            (kind: TargetErrorKind)
        ├── ScopeViolation     a request to a host outside scope.hosts was refused before sending
        └── BudgetExhausted    max_requests or max_duration is spent
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class IotvetError(Exception):
    """Base of every error iotvet raises on purpose."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where in an input file a problem sits."""

    file: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}" if self.field else where


class UserError(IotvetError):
    """Raised when input from the user (plan, spec, HAR, flags) is unusable; exit code 2."""

    def __init__(self, message: str, source: Source | None = None) -> None:
        self.message = message
        self.source = source
        text = f"{source}: {message}" if source else message
        super().__init__(re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text))  # one line


class TargetErrorKind(enum.StrEnum):
    """Why a request to the target produced no usable answer."""

    SCOPE = "out-of-scope"
    BUDGET = "budget-exhausted"
    DEADLINE = "deadline"
    TIMEOUT = "timeout"
    CONNECT = "connection-failed"
    RESET = "connection-reset"
    TLS = "tls-error"
    TOO_LARGE = "body-too-large"
    REDIRECT = "redirect-refused"
    CIRCUIT_OPEN = "circuit-open"
    RATE_LIMITED = "rate-limited"
    PROTOCOL = "protocol-error"
    AUTH = "auth-failed"


class TargetError(IotvetError):
    """Raised when the target gave no usable answer; recorded, never fatal to a run."""

    def __init__(self, kind: TargetErrorKind, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind.value}: {detail}")


class ScopeViolation(TargetError):
    """Raised when a request would leave the plan's scope; it was not sent."""

    def __init__(self, detail: str) -> None:
        super().__init__(TargetErrorKind.SCOPE, detail)


class BudgetExhausted(TargetError):
    """Raised when the run's request or time budget is spent; the request was not sent."""

    def __init__(self, kind: TargetErrorKind, detail: str) -> None:
        super().__init__(kind, detail)
