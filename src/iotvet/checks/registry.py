"""The check catalogue (ids and report text) and the registry of check functions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import yaml

from iotvet.core.records import Plane, Severity
from iotvet.plan.schema import BearerAuth, Identity, LoginAuth, OAuth2Auth, RequestSpec

if TYPE_CHECKING:
    from iotvet.api.model import ApiModel
    from iotvet.plan.schema import Plan

F = TypeVar("F", bound=Callable[..., Any])
Per = Literal["cell", "run"]
RUN_ONCE = "(run once)"


@dataclass(frozen=True, slots=True)
class CheckInfo:
    """What iotvet says about a check: its id, family, plane, severity and remediation."""

    id: str
    family: str
    plane: Plane
    severity: Severity
    title: str
    remediation: str
    standards: tuple[str, ...]


def _load_catalogue() -> dict[str, CheckInfo]:
    text = resources.files("iotvet.checks").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    raw: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return {
        check_id: CheckInfo(
            id=check_id,
            family=entry["family"],
            plane=entry["plane"],
            severity=Severity(entry["severity"]),
            title=entry["title"],
            remediation=" ".join(entry["remediation"].split()),
            standards=tuple(entry["standards"]),
        )
        for check_id, entry in raw.items()
    }


CATALOGUE: dict[str, CheckInfo] = _load_catalogue()


@dataclass(frozen=True, slots=True)
class RunBound:
    """What a run-once check can send at most, for ``iotvet probe --dry-run``.

    ``requests`` counts every permit the check can take when it runs alone: each request, every
    login it causes (explicit re-logins, and the session's own login and resend after a 401:
    see :func:`call_cost`) and the shared setup in ``shared``. Not counted: the transport's
    retries of a 429/503 (up to 3 per request, unless it is sent with ``retry=False``) and
    followed redirects (``safety.max_redirects``, 0 by default), which resend the same request,
    and a login forced by a token that expires during the check. ``writes`` counts the requests
    with a writing method (POST, PUT, PATCH, DELETE) the check sends, logins aside and login
    guesses included. ``skip`` says why the check sends nothing with this plan (mode, missing
    identity or flow). ``place`` is where its cells go (an operation, or :data:`RUN_ONCE`).
    """

    requests: int = 0
    writes: int = 0
    skip: str | None = None
    place: str = RUN_ONCE
    shared: tuple[tuple[str, int, int], ...] = ()
    """Setup memoised for the whole run and shared with other checks, included in the figures above:
    (name, requests, writes), the same for every check that names it, so a dry run counts it once."""


Bound = Callable[["Plan", "ApiModel"], RunBound]


def people(plan: Plan) -> list[Identity]:
    """The identities a REST probe speaks for (those with an HTTP credential), by name."""
    return sorted((i for i in plan.identities if i.auth is not None), key=lambda i: i.name)


def refreshable(ident: Identity) -> bool:
    """True when the identity's credential is a login or OAuth2 token the session obtains again."""
    return isinstance(ident.auth, LoginAuth | OAuth2Auth)


def bears_token(ident: Identity) -> bool:
    """True when the identity presents a token (login, OAuth2 or bearer credential)."""
    return isinstance(ident.auth, LoginAuth | OAuth2Auth | BearerAuth)


def call_cost(ident: Identity | None) -> int:
    """Permits one request sent with ``ident``'s own credential can take (None: anonymous, 1).

    A login or OAuth2 session answered 401 logs in once and sends the request again: 3.
    """
    return 3 if ident is not None and refreshable(ident) else 1


def send_cost(ident: Identity | None) -> int:
    """How many times one request sent with ``ident``'s own credential can go out (2 after a 401 and a login)."""
    return 2 if ident is not None and refreshable(ident) else 1


def writing(spec: RequestSpec) -> int:
    """1 for a request with a writing method, 0 for GET, HEAD and OPTIONS."""
    return int(spec.method.upper() not in ("GET", "HEAD", "OPTIONS"))


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check: catalogue entry plus the function that implements it."""

    info: CheckInfo
    func: Callable[..., Any]
    per: Per = "cell"
    """``cell``: the engine calls it for each planned (operation or topic, relation) cell;
    ``run``: the engine calls it once per probe with the context, and it decides its own cells
    (token forgery, lifecycle flows, route discovery, input generation)."""
    bound: Bound | None = None
    """Run-once checks: what the check can send at most with a plan and API (``iotvet probe --dry-run``)."""


class Registry:
    """Check functions by id. Built-in and third-party checks register the same way."""

    def __init__(self, catalogue: dict[str, CheckInfo]) -> None:
        self._catalogue = catalogue
        self._checks: dict[str, Check] = {}

    def register(self, check_id: str, per: Per = "cell", bound: Bound | None = None) -> Callable[[F], F]:
        """Decorate a function as the implementation of catalogue check ``check_id``.

        ``bound`` (run-once checks): ``bound(plan, model) -> RunBound``, its worst case for the dry run.
        """

        def decorate(func: F) -> F:
            if check_id not in self._catalogue:
                raise ValueError(f"unknown check id {check_id!r}: add it to checks/catalogue.yaml first")
            if check_id in self._checks:
                raise ValueError(f"check {check_id!r} is registered twice")
            self._checks[check_id] = Check(self._catalogue[check_id], func, per, bound)
            return func

        return decorate

    def get(self, check_id: str) -> Check:
        """The registered check with this id; KeyError when none is."""
        return self._checks[check_id]

    def family(self, family: str) -> list[Check]:
        """Registered checks of one family, in id order."""
        return sorted((c for c in self._checks.values() if c.info.family == family), key=lambda c: c.info.id)

    def run_once(self, plane: Plane) -> list[Check]:
        """Checks of one plane that run once per probe (``per="run"``), in id order."""
        return [c for c in self if c.info.plane == plane and c.per == "run"]

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def __iter__(self) -> Iterator[Check]:
        return iter(sorted(self._checks.values(), key=lambda c: c.info.id))

    def __len__(self) -> int:
        return len(self._checks)


registry = Registry(CATALOGUE)
