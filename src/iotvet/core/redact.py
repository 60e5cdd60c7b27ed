"""Secret redaction, applied by every sink (terminal, logs, files, store).

A :class:`Redactor` knows every secret of a run: the plan's credentials and whatever the run
learns (login-issued tokens, Set-Cookie values, tokens found in a HAR). It replaces each one,
and its encoded forms (base64 at any alignment, URL-encoding, JSON escaping), with a label
such as ``[REDACTED:ana.vistacam.auth.token]`` that names the secret without revealing it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

# A JWT nobody told us about (found in a target's answer) is still a credential: keep its header and
# claims, which are evidence, and drop the signature, which is what makes it usable.
_JWT = re.compile(r"\b(eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,})\.[A-Za-z0-9_-]{16,}")
MIN_SECRET_LEN = 4  # shorter values are too common to scrub without destroying the output
_MIN_B64_CORE = 6  # the part of an embedded base64 form that depends on the secret alone


def _b64_cores(raw: bytes) -> set[str]:
    """Base64 text that appears wherever ``raw`` is encoded inside a longer byte string.

    Base64 works on 3-byte groups, so the secret's encoding depends on its offset modulo 3.
    For each offset, keep only the characters that depend on the secret's bytes alone.
    """
    cores: set[str] = set()
    for offset in range(3):
        data = b"\0" * offset + raw
        for enc in (base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()):
            start = 4 if offset else 0
            end = (len(data) // 3) * 4
            core = enc[start:end]
            if len(core) >= _MIN_B64_CORE:
                cores.add(core)
            if offset == 0:
                cores.add(enc)
                cores.add(enc.rstrip("="))
    return cores


def encoded_forms(secret: str) -> set[str]:
    """The secret itself and every encoding of it that iotvet scrubs."""
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms |= _b64_cores(raw)
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


class Redactor:
    """Replaces every known secret (and its encodings) in text and nested data."""

    def __init__(self, secrets: Iterable[tuple[str, str]] = ()) -> None:
        self._labels: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        for label, value in secrets:
            self.add(value, label)

    def add(self, secret: str | None, label: str = "secret") -> None:
        """Learn a secret (from the plan or from the run). Idempotent."""
        if not secret or len(secret) < MIN_SECRET_LEN:
            return
        with self._lock:
            changed = False
            for form in encoded_forms(secret):
                if form not in self._labels:
                    self._labels[form] = label
                    changed = True
            if changed:
                self._pattern = None

    def __len__(self) -> int:
        return len(self._labels)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._labels:
                forms = sorted(self._labels, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(f) for f in forms))
            return self._pattern

    def text(self, value: str) -> str:
        """``value`` with every secret form replaced by its label."""
        if not value:
            return value
        pattern = self._compiled()
        if pattern is not None:
            value = pattern.sub(lambda m: f"[REDACTED:{self._labels[m.group(0)]}]", value)
        return _JWT.sub(r"\1.[REDACTED:jwt-signature]", value)

    def bytes(self, value: bytes) -> bytes:
        """Like :meth:`text` for bytes (decoded leniently, so binary stays close to itself)."""
        return self.text(value.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def data(self, value: Any) -> Any:
        """Redact every string (keys included) in nested dicts, lists and tuples."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.data(v) for v in value)
        return value
