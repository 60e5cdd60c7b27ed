"""Turning live objects into stored rows: redact first, then cap, then encode.

Redaction runs on the whole text *before* the cap, so a cap never splits a secret into a
fragment the redactor would no longer recognise.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol

from iotvet.core.errors import TargetError
from iotvet.core.redact import Redactor

Headers = tuple[tuple[str, str], ...]


class RequestLike(Protocol):
    """What the store reads of :class:`iotvet.transport.http.Request` (the store may not import transport)."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def body(self) -> bytes | None: ...
    @property
    def identity(self) -> str | None: ...
    @property
    def purpose(self) -> str: ...


class ResponseLike(Protocol):
    """What the store reads of :class:`iotvet.transport.http.Response`."""

    @property
    def status(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def body(self) -> bytes: ...
    @property
    def truncated(self) -> bool: ...


class ExchangeLike(Protocol):
    """What the store reads of :class:`iotvet.transport.http.Exchange`."""

    @property
    def id(self) -> str: ...
    @property
    def request(self) -> RequestLike: ...
    @property
    def started(self) -> float: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def response(self) -> ResponseLike | None: ...
    @property
    def error(self) -> TargetError | None: ...
    @property
    def sent(self) -> bool: ...
    @property
    def parent(self) -> str | None: ...


def clean_text(redactor: Redactor, value: str) -> str:
    """``value`` redacted, with NUL (which PostgreSQL text cannot hold) written as ``\\x00``."""
    return redactor.text(value).replace("\x00", "\\x00")


def cap_bytes(data: bytes, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes, cut back to a UTF-8 character boundary when the data is text."""
    if len(data) <= cap:
        return data, False
    cut = cap
    while cut > 0 and cut > cap - 4 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return data[:cut], True


def encode_body(redactor: Redactor, body: bytes | None, cap: int) -> tuple[str | None, str, bool]:
    """``(text, encoding, truncated)``: redacted, capped, UTF-8 text or base64."""
    if body is None:
        return None, "text", False
    clean, truncated = cap_bytes(redactor.bytes(body), cap)
    if b"\x00" not in clean:  # NUL marks binary, and PostgreSQL text cannot hold it
        try:
            return clean.decode("utf-8"), "text", truncated
        except UnicodeDecodeError:
            pass
    return base64.b64encode(clean).decode("ascii"), "base64", truncated


def headers_json(redactor: Redactor, headers: Headers) -> str:
    """Headers as a JSON list of ``[name, value]`` pairs (order and repeats kept), redacted."""
    return json.dumps([[redactor.text(k), redactor.text(v)] for k, v in headers], ensure_ascii=False)


def data_json(redactor: Redactor, value: Any) -> str:
    """Any JSON-able value, every string in it redacted, as JSON text."""
    return json.dumps(redactor.data(value), ensure_ascii=False, sort_keys=True, default=str)


def exchange_row(redactor: Redactor, exchange: ExchangeLike, cap: int, suffix: str) -> dict[str, Any]:
    """The ``exchanges`` row for one exchange (``run_id`` and ``seq`` added by the caller)."""
    request, response, error = exchange.request, exchange.response, exchange.error
    req_body, req_enc, req_cut = encode_body(redactor, request.body, cap)
    row: dict[str, Any] = {
        "id": exchange.id + suffix,
        "parent": exchange.parent + suffix if exchange.parent else None,
        "identity": request.identity,
        "purpose": clean_text(redactor, request.purpose),
        "method": request.method.upper()[:16],
        "url": clean_text(redactor, request.url),
        "request_headers": headers_json(redactor, request.headers),
        "request_body": req_body,
        "request_body_encoding": req_enc,
        "status": None, "reason": None, "response_headers": "[]", "response_body": None,
        "response_body_encoding": "text", "response_size": None,
        "truncated": req_cut,
        "sent": exchange.sent,
        "error_kind": error.kind.value if error is not None else None,
        "error_detail": clean_text(redactor, error.detail) if error is not None else None,
        "started": exchange.started,
        "elapsed": exchange.elapsed,
    }
    if response is not None:
        body, enc, cut = encode_body(redactor, response.body, cap)
        row.update(status=response.status, reason=clean_text(redactor, response.reason),
                   response_headers=headers_json(redactor, response.headers), response_body=body,
                   response_body_encoding=enc, response_size=len(response.body),
                   truncated=req_cut or cut or response.truncated)
    return row
