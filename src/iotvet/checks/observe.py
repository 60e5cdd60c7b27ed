"""Observations the assessment needs that are not probes: the vendor's security.txt (EN 303 645 5.2-1).

:func:`observe_security_txt` asks the target's origin for ``/.well-known/security.txt``, then
``/security.txt``, through a :class:`Session` (so scope, redirects, budget and body caps are the
transport's), and judges what it finds with :mod:`iotvet.checks.securitytxt`. The answer is
data: found (with flags), absent (404/410, or an HTML catch-all page), or inconclusive (errors,
other statuses, a body over ``max_bytes`` or not UTF-8).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from iotvet.auth.session import Session
from iotvet.checks.securitytxt import Flag, SecurityTxt, assess, parse
from iotvet.core.errors import TargetErrorKind
from iotvet.transport.http import Exchange

WELL_KNOWN = "/.well-known/security.txt"
LEGACY = "/security.txt"
MAX_BYTES = 32_768  # real files are a few hundred bytes, signed ones a few KiB


@dataclass(frozen=True, slots=True)
class SecurityTxtObservation:
    """What the target publishes at the security.txt locations.

    ``found`` with ``file`` and ``flags``; or not found with the flag ``missing``; or
    ``inconclusive`` saying why neither could be established. ``tried`` lists each location's outcome.
    """

    found: bool
    url: str | None = None
    content_type: str | None = None
    file: SecurityTxt | None = None
    flags: tuple[Flag, ...] = ()
    tried: tuple[str, ...] = ()
    inconclusive: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The observation as JSON-able builtins."""
        return dataclasses.asdict(self)

    def codes(self) -> tuple[str, ...]:
        """The flags' codes, in order."""
        return tuple(flag.code for flag in self.flags)


def _origin(base_url: str) -> str | None:
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def _looks_like_html(text: str, media: str) -> bool:
    head = text.lstrip()[:256].lower()
    return media in ("text/html", "application/xhtml+xml") or head.startswith(("<!doctype html", "<html"))


class _Stop(Exception):
    """The file is there but unreadable: the observation is inconclusive, no further location helps."""


def _outcome(exchange: Exchange, max_bytes: int) -> tuple[str, str | None]:
    """``(note, text)``: the location's outcome for ``tried``; text when a candidate file arrived.

    A note starting with ``absent`` means the location has no file; any other note without text
    means unknown. Raises :class:`_Stop` for an oversized or undecodable body.
    """
    url = exchange.request.url
    response = exchange.response
    too_large = exchange.error is not None and exchange.error.kind is TargetErrorKind.TOO_LARGE
    if too_large or (response is not None and len(response.body) > max_bytes):
        raise _Stop(f"{url}: body larger than {max_bytes} bytes")
    if response is None:
        return f"{url}: {exchange.error}", None
    if response.status in (404, 410):
        return f"absent: {url}: HTTP {response.status}", None
    if response.status != 200:
        where = response.header("Location")
        moved = f", redirect to {where[:200]} not followed" if where and 300 <= response.status < 400 else ""
        return f"{url}: HTTP {response.status}{moved}", None
    try:
        text = response.body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Stop(f"{response.url}: body is not UTF-8") from None
    return f"{response.url}: HTTP 200", text


async def observe_security_txt(session: Session, *, now: datetime | None = None,
                               max_bytes: int = MAX_BYTES) -> SecurityTxtObservation:
    """Fetch and judge the target's security.txt as ``session`` (use the anonymous one).

    ``now`` (aware) is the instant Expires is judged at. Redirects are followed as far as the
    run's ``max_redirects`` and scope allow; never raises for target behaviour.
    """
    origin = _origin(session.base_url)
    if origin is None:
        return SecurityTxtObservation(found=False, inconclusive="the plan has no target.base_url to ask")
    tried: list[str] = []
    unknown: list[str] = []
    for path in (WELL_KNOWN, LEGACY):
        exchange = await session.request("GET", origin + path, headers={"Accept": "text/plain"},
                                          purpose="security.txt", follow_redirects=True)
        try:
            note, text = _outcome(exchange, min(max_bytes, session.http.max_body))
        except _Stop as stop:
            return SecurityTxtObservation(found=False, tried=(*tried, str(stop)), inconclusive=str(stop))
        response = exchange.response
        if text is None or response is None:
            tried.append(note)
            if not note.startswith("absent"):
                unknown.append(note)
            continue
        content_type = response.header("Content-Type")
        media = (content_type or "").partition(";")[0].strip().lower()
        parsed = parse(text)
        if _looks_like_html(text, media) or (not parsed.fields and media != "text/plain"):
            tried.append(f"absent: {note}, {media or 'no content type'}, not a security.txt")
            continue
        tried.append(note)
        flags = assess(parsed, url=response.url, content_type=content_type, now=now or datetime.now(UTC),
                       legacy=path == LEGACY)
        return SecurityTxtObservation(found=True, url=response.url, content_type=content_type, file=parsed,
                                      flags=flags, tried=tuple(tried))
    if unknown:
        return SecurityTxtObservation(found=False, tried=tuple(tried), inconclusive="; ".join(unknown))
    missing = Flag("missing", "error", f"no security.txt at {origin}{WELL_KNOWN} or {origin}{LEGACY}")
    return SecurityTxtObservation(found=False, flags=(missing,), tried=tuple(tried))
