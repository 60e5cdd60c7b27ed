"""The ignore file (``.iotvetignore.yaml``): accepted findings, each with a reason and an expiry.

::

    ignore:
      - check: api-bola-read            # a check id, or a glob of ids ("api-bola-*")
        operation: "GET /v1/vehicles/*" # glob of "METHOD /path" (or topic: "fleet/+/telemetry")
        relation: same-group            # optional: only this relation
        reason: accepted until the 2.0 API ships (SEC-1234)   # required
        expires: 2026-12-31             # optional, yyyy-mm-dd; the entry stops suppressing after it
        ticket: SEC-1234                # optional

The YAML is read by the caller with :func:`iotvet.plan.yamlsource.read_yaml` (which knows
line numbers) and handed in as a :class:`LocatedYaml`, so errors name file, line and field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Protocol

from iotvet.checks import CATALOGUE
from iotvet.core.errors import Source, UserError
from iotvet.core.records import Finding, Relation

DEFAULT_NAME = ".iotvetignore.yaml"
_FIELDS = {"check", "operation", "topic", "relation", "reason", "expires", "ticket"}


class LocatedYaml(Protocol):
    """A parsed YAML document that can say where each value sits (``iotvet.plan.yamlsource.YamlDocument``)."""

    file: str
    data: Any

    def source(self, path: tuple[str | int, ...]) -> Source: ...


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """One ignore entry."""

    check: str
    reason: str
    source: Source
    operation: str | None = None
    topic: str | None = None
    relation: Relation | None = None
    expires: dt.date | None = None
    ticket: str | None = None

    def expired(self, today: dt.date) -> bool:
        """True after the expiry day (an entry suppresses through the day it names)."""
        return self.expires is not None and today > self.expires

    def matches(self, finding: Finding) -> bool:
        """Does this entry cover ``finding`` (expiry aside)?"""
        if not fnmatchcase(finding.check, self.check):
            return False
        if self.relation is not None and finding.relation != self.relation:
            return False
        if self.operation is not None:
            return finding.operation is not None and fnmatchcase(str(finding.operation), self.operation)
        if self.topic is not None:
            return finding.topic is not None and fnmatchcase(finding.topic, self.topic)
        return True


def _text(doc: LocatedYaml, entry: dict[str, Any], path: tuple[str | int, ...], key: str,
          required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise UserError(f"'{key}' is required", doc.source((*path, key)) if key in entry else doc.source(path))
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value).strip():
        raise UserError("must be a non-empty string", doc.source((*path, key)))
    return str(value).strip()


def _rule(doc: LocatedYaml, entry: Any, path: tuple[str | int, ...]) -> IgnoreRule:
    if not isinstance(entry, dict):
        raise UserError("each entry must be a mapping with check and reason", doc.source(path))
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise UserError(f"unknown field (expected one of {', '.join(sorted(_FIELDS))})",
                        doc.source((*path, unknown[0])))
    check = _text(doc, entry, path, "check", required=True) or ""
    if not any(fnmatchcase(known, check) for known in CATALOGUE):
        raise UserError(f"no check id matches {check!r} (see: iotvet checks)", doc.source((*path, "check")))
    operation, topic = _text(doc, entry, path, "operation"), _text(doc, entry, path, "topic")
    if operation and topic:
        raise UserError("give operation or topic, not both", doc.source((*path, "topic")))
    relation = _text(doc, entry, path, "relation")
    if relation is not None and relation not in {r.value for r in Relation}:
        raise UserError(f"unknown relation {relation!r} (one of {', '.join(r.value for r in Relation)})",
                        doc.source((*path, "relation")))
    expires = entry.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires.strip())
        except ValueError:
            expires = False
    if expires is not None and (not isinstance(expires, dt.date) or isinstance(expires, dt.datetime)):
        raise UserError("must be a date written yyyy-mm-dd", doc.source((*path, "expires")))
    return IgnoreRule(check=check, reason=_text(doc, entry, path, "reason", required=True) or "",
                      source=doc.source(path), operation=operation, topic=topic,
                      relation=Relation(relation) if relation else None, expires=expires,
                      ticket=_text(doc, entry, path, "ticket"))


def parse_ignore(doc: LocatedYaml) -> list[IgnoreRule]:
    """The entries of an ignore file; UserError naming file, line and field for anything wrong."""
    if doc.data is None:
        return []
    if not isinstance(doc.data, dict) or set(doc.data) - {"ignore"}:
        raise UserError("an ignore file is a mapping with one key, 'ignore', holding a list of entries",
                        doc.source(()))
    entries = doc.data.get("ignore") or []
    if not isinstance(entries, list):
        raise UserError("must be a list of entries", doc.source(("ignore",)))
    return [_rule(doc, entry, ("ignore", i)) for i, entry in enumerate(entries)]


def expiry_warnings(rules: list[IgnoreRule], today: dt.date) -> list[str]:
    """One warning per expired entry: it no longer suppresses anything."""
    return [f"{rule.source}: ignore entry for {rule.check} expired on {rule.expires}; it no longer suppresses"
            for rule in rules if rule.expired(today)]
