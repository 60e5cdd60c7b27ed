"""security.txt (RFC 9116): a pure parser and the rules a published file is judged by.

:func:`parse` never raises: any text gives a :class:`SecurityTxt` (fields in order, the line
numbers it could not read, whether it is OpenPGP cleartext-signed; the signature is not checked).
:func:`assess` turns a parsed file plus where and how it was served into :class:`Flag` s:
``error`` breaks an RFC 9116 requirement or leaves the file unusable, ``warning`` is advice
(RFC 9116's SHOULDs, and EN 303 645 5.2-1's need for a published policy).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

FIELDS = ("Contact", "Expires", "Encryption", "Acknowledgments", "Preferred-Languages", "Canonical", "Policy", "Hiring")
URI_FIELDS = ("Contact", "Encryption", "Acknowledgments", "Canonical", "Policy", "Hiring")
_CANON = {name.lower(): name for name in FIELDS}
_FIELD = re.compile(r"([!-9;-~]+):(.*)")  # field-name: printable ASCII but ":"; value stripped in Python
_PGP_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"
_PGP_END = "-----END PGP SIGNATURE-----"


@dataclass(frozen=True, slots=True)
class Field:
    """One ``Name: value`` line; known names in RFC 9116's spelling, others as written."""

    name: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class SecurityTxt:
    """A parsed file."""

    fields: tuple[Field, ...] = ()
    malformed: tuple[int, ...] = ()
    signed: bool = False

    def values(self, name: str) -> tuple[str, ...]:
        """Every value of field ``name`` (case-insensitive), in file order."""
        low = name.lower()
        return tuple(f.value for f in self.fields if f.name.lower() == low)

    def lines(self, name: str) -> tuple[int, ...]:
        """The line numbers field ``name`` appears on."""
        low = name.lower()
        return tuple(f.line for f in self.fields if f.name.lower() == low)


@dataclass(frozen=True, slots=True)
class Flag:
    """One problem with a published file: a stable code, ``error`` or ``warning``, and the detail."""

    code: str
    severity: str
    detail: str


def parse(text: str) -> SecurityTxt:
    """Parse security.txt ``text``; total (never raises)."""
    lines = text.removeprefix("\ufeff").split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    signed = first is not None and lines[first].strip() == _PGP_BEGIN
    state = "armor" if signed else "body"  # armor headers, body, signature, after the signature
    fields: list[Field] = []
    malformed: list[int] = []
    for number, line in enumerate(lines, start=1):
        if signed:
            if first is not None and number <= first + 1:
                continue
            if state == "armor":
                state = "body" if not line.strip() else state
                continue
            if state == "body" and line.strip() == _PGP_SIGNATURE:
                state = "signature"
                continue
            if state == "signature":
                state = "after" if line.strip() == _PGP_END else state
                continue
            if state == "after":  # text after the signature is not covered by it: not read as fields
                if line.strip():
                    malformed.append(number)
                continue
            if line.startswith("- "):
                line = line[2:]
        if not line.strip() or line.startswith("#"):
            continue
        match = _FIELD.fullmatch(line)
        if match is None:
            malformed.append(number)
            continue
        name = _CANON.get(match.group(1).lower(), match.group(1))
        fields.append(Field(name, match.group(2).strip(" \t"), number))
    return SecurityTxt(tuple(fields), tuple(malformed), signed)


def render(fields: Iterable[tuple[str, str]]) -> str:
    """A file with these ``(name, value)`` fields, one per line (the inverse of :func:`parse`)."""
    return "".join(f"{name}: {value}\n" for name, value in fields)


def parse_expires(value: str) -> datetime | None:
    """An Expires value as an aware datetime, or None when it is not an ISO 8601 date-time with offset."""
    try:
        when = datetime.fromisoformat(value.strip().upper())
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _at(lines: Iterable[int]) -> str:
    return ", ".join(str(n) for n in lines)


def _expiry(txt: SecurityTxt, now: datetime) -> list[Flag]:
    values = txt.values("Expires")
    if not values:
        return [Flag("expires-missing", "error", "no Expires field (RFC 9116 requires exactly one)")]
    flags = []
    if len(values) > 1:
        flags.append(Flag("expires-multiple", "error", f"Expires appears {len(values)} times (lines "
                                                       f"{_at(txt.lines('Expires'))}); RFC 9116 allows one"))
    when = parse_expires(values[0])
    if when is None:
        flags.append(Flag("expires-invalid", "error", f"Expires {values[0][:80]!r} is not an ISO 8601 date-time "
                                                      "with a time zone"))
    elif when <= now:
        flags.append(Flag("expired", "error", f"Expires {values[0]} has passed: the file is stale"))
    elif when - now > timedelta(days=366):
        flags.append(Flag("expires-far", "warning", f"Expires {values[0]} is more than a year ahead "
                                                    "(RFC 9116 recommends less)"))
    return flags


def _served(url: str, content_type: str | None, txt: SecurityTxt) -> list[Flag]:
    flags = []
    if urlsplit(url).scheme.lower() != "https":
        flags.append(Flag("plaintext", "error", f"served over {urlsplit(url).scheme or '?'}, not https"))
    media, _, params = (content_type or "").partition(";")
    if media.strip().lower() != "text/plain":
        flags.append(Flag("content-type", "error", f"Content-Type {content_type!r}, not text/plain"))
    elif "charset=utf-8" not in params.replace(" ", "").replace('"', "").lower():
        flags.append(Flag("charset", "warning", "Content-Type text/plain without charset=utf-8"))
    canonical = txt.values("Canonical")
    if canonical and url not in canonical:
        flags.append(Flag("not-canonical", "warning", f"fetched from {url}, which no Canonical field lists: "
                                                      "RFC 9116 says not to trust its contents"))
    return flags


def assess(txt: SecurityTxt, *, url: str, content_type: str | None, now: datetime,
           legacy: bool = False) -> tuple[Flag, ...]:
    """Judge a parsed file fetched from ``url`` with ``content_type``, at instant ``now`` (aware)."""
    flags: list[Flag] = []
    if not txt.values("Contact"):
        flags.append(Flag("contact-missing", "error", "no Contact field (RFC 9116 requires at least one)"))
    flags += _expiry(txt, now)
    if len(txt.values("Preferred-Languages")) > 1:
        flags.append(Flag("preferred-languages-multiple", "error", "Preferred-Languages appears more than once"))
    insecure = [f for f in txt.fields if f.name in URI_FIELDS and f.value.lower().startswith("http://")]
    if insecure:
        flags.append(Flag("insecure-uri", "error", "web URIs must be https: " + ", ".join(
            f"{f.name} on line {f.line}" for f in insecure)))
    flags += _served(url, content_type, txt)
    if not txt.values("Policy"):
        flags.append(Flag("policy-missing", "warning", "no Policy field: EN 303 645 5.2-1 expects a published "
                                                       "disclosure policy with response timelines"))
    if legacy:
        flags.append(Flag("legacy-location", "warning", "found only at /security.txt, not /.well-known/"))
    if txt.malformed:
        flags.append(Flag("malformed-line", "warning", f"unreadable lines: {_at(txt.malformed[:20])}"))
    return tuple(flags)
