"""Building blocks of the questionnaire: the section base, answer types and the ``ask`` field helper."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, model_validator


class QuestionnaireProblem(ValueError):
    """Raised by a validator for a problem the loader should report at ``path`` below the error's location."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class Section(BaseModel):
    """Base of every questionnaire section: strict types, unknown keys are errors, values immutable.

    A key left empty in YAML (``updates:`` with nothing after it) means "keep the default", so a
    half-filled questionnaire stays valid.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {k: v for k, v in data.items()
                if not (v is None and k in fields and not fields[k].is_required()
                        and fields[k].get_default(call_default_factory=True) is not None)}


def _answer(value: Any) -> Any:
    """YAML reads unquoted yes/no as booleans; take them back."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return value


Answer = Annotated[Literal["yes", "no", "unknown"], BeforeValidator(_answer)]
"""A claim's answer: ``yes``, ``no`` or ``unknown`` (unquoted yes/no welcome)."""


def _day(value: Any) -> Any:
    if isinstance(value, datetime):
        raise ValueError("expected a date such as 2028-12-31, without a time")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("expected a date such as 2028-12-31") from None
    return value


Day = Annotated[date, BeforeValidator(_day)]
Days = Annotated[int, Field(ge=0, le=3650)]
Count = Annotated[int, Field(ge=1, le=100_000)]


def _one_line(value: str) -> str:
    if re.search(r"[\x00-\x1f\x7f\x85\u2028\u2029]", value):
        raise ValueError("expected one line of text without control characters")
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


Line = Annotated[str, Field(max_length=300), AfterValidator(_one_line)]
"""A short single line of text: a name, a contact, an endpoint."""
Text = Annotated[str, Field(max_length=4000)]
"""Free text such as a justification."""


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("expected a URL starting with https://")
    return value


Url = Annotated[Line, AfterValidator(_url)]


PROVISIONS_KEY = "x-en303645"
"""JSON Schema annotation listing the EN 303 645 provisions a questionnaire field informs."""


def ask(question: str, *provisions: str, default: Any = "unknown") -> Any:
    """A questionnaire field: its question (the comment ``assess init`` writes) and the provisions it informs."""
    extra: dict[str, JsonValue] | None = {PROVISIONS_KEY: list(provisions)} if provisions else None
    return Field(default=default, description=question, json_schema_extra=extra)


def provisions_of(model: type[BaseModel], name: str) -> tuple[str, ...]:
    """The provisions a questionnaire field informs, as declared with :func:`ask`."""
    extra = model.model_fields[name].json_schema_extra
    found = extra.get(PROVISIONS_KEY, []) if isinstance(extra, dict) else []
    return tuple(str(p) for p in found) if isinstance(found, list) else ()
