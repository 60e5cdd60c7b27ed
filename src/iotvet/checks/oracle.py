"""The no-false-positive oracle: a leak is proven by the victim's own data, never by a status code.

Values are compared as canonical strings. A value is *private to the victim* when it appears
in the victim's own view of an object and in none of: the attacker's own views, the anonymous
view, or data the plan declares public. A read leaks when the attacker's answer contains a
private value or a canary the victim planted. Booleans, short strings, small numbers and
timestamps-as-words are too common to prove anything and are ignored.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

CANARY_PREFIX = "iotvet"
_CANARY = re.compile(rf"{CANARY_PREFIX}[0-9a-f]{{20}}")
_MIN_TEXT = 6
_COMMON = frozenset({"true", "false", "null", "none", "active", "inactive", "online", "offline", "enabled",
                     "disabled", "pending", "unknown", "default"})


def new_canary() -> str:
    """A unique marker (80 random bits) that fits short text fields: ``iotvet`` + 20 hex digits."""
    return CANARY_PREFIX + secrets.token_hex(10)


def canaries_in(text: str) -> set[str]:
    """Every canary anywhere in ``text`` (body, header or payload)."""
    return set(_CANARY.findall(text))


def _distinctive(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value) if abs(value) >= 10_000 else None
    if isinstance(value, float):
        text = repr(value)
        return text if len(text.replace("-", "").replace(".", "")) >= 5 else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) < _MIN_TEXT or text.lower() in _COMMON:
            return None
        return text
    return None


def scalars(doc: Any) -> Iterator[Any]:
    """Every scalar anywhere in a JSON document (keys are not values)."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        else:
            yield node


def leaves(doc: Any) -> Iterator[str]:
    """Distinctive scalar values anywhere in a JSON document."""
    for node in scalars(doc):
        text = _distinctive(node)
        if text is not None:
            yield text


def values(docs: Iterable[Any]) -> set[str]:
    """The union of distinctive values of several documents."""
    out: set[str] = set()
    for doc in docs:
        out.update(leaves(doc))
    return out


@dataclass(frozen=True, slots=True)
class ReadDecision:
    """What the oracle concluded from one attacker answer."""

    leaked: frozenset[str]
    decided: bool
    reason: str


def judge_read(attacker_answer: Any, private: set[str], canaries: set[str], answer_text: str = "") -> ReadDecision:
    """Leak when the attacker's answer holds victim canaries or private values; else enforced.

    ``private`` must already exclude the attacker's own, anonymous and public values. With no
    private value and no canary to look for, nothing can be decided.
    """
    seen_canaries = canaries & canaries_in(answer_text) if answer_text else set()
    found = set(leaves(attacker_answer)) if attacker_answer is not None else set()
    leaked = (found & private) | seen_canaries
    if leaked:
        return ReadDecision(frozenset(leaked), True, f"{len(leaked)} value(s) private to the victim in the answer")
    if not private and not canaries:
        return ReadDecision(frozenset(), False, "the victim's own view holds nothing private to look for")
    return ReadDecision(frozenset(), True, "no value private to the victim in the answer")
