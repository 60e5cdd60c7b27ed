"""What the REST probe knows of an API: operations with their parameters and schemas.

Every input (OpenAPI 3.0/3.1, Swagger 2.0, HAR, Postman) is normalised into these records,
so discovery and checks never care where an operation came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

ParamIn = Literal["path", "query", "header", "cookie"]
_PARAM = re.compile(r"\{([^}/]+)\}")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Param:
    """One operation parameter."""

    name: str
    location: ParamIn
    required: bool = False
    schema: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link: the response field that feeds a parameter of another operation."""

    operation_id: str
    parameter: str
    field: str


@dataclass(frozen=True, slots=True)
class ApiOperation:
    """One operation: method and path template exactly as the description writes them."""

    method: str
    path: str
    operation_id: str | None = None
    summary: str = ""
    params: tuple[Param, ...] = ()
    body_schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    body_media: str | None = None
    responses: dict[str, dict[str, Any] | None] = field(default_factory=dict, compare=False, hash=False)
    secured: bool = True
    tags: tuple[str, ...] = ()
    links: tuple[Link, ...] = field(default=(), compare=False, hash=False)

    @property
    def key(self) -> str:
        """``GET /vehicles/{vin}``: how findings and the matrix name the operation."""
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        """Names of the path template's parameters, in order."""
        return _PARAM.findall(self.path)

    @property
    def is_write(self) -> bool:
        """True for methods that change state."""
        return self.method in WRITE_METHODS

    @property
    def resource(self) -> str:
        """The collection the operation acts on: the last literal segment before an id, or the last."""
        segments = [s for s in self.path.strip("/").split("/") if s]
        literal = [s for s in segments if not _PARAM.fullmatch(s)]
        if not literal:
            return ""
        for i in range(len(segments) - 1, -1, -1):
            if _PARAM.fullmatch(segments[i]) and i > 0 and not _PARAM.fullmatch(segments[i - 1]):
                return segments[i - 1]
        return literal[-1]

    def param_resource(self, name: str) -> str:
        """The collection a path parameter indexes: the literal segment right before ``{name}``.

        ``/things/{thing_ref}/notes/{note_id}``: ``thing_ref`` -> ``things``, ``note_id`` -> ``notes``.
        """
        segments = [s for s in self.path.strip("/").split("/") if s]
        for i, segment in enumerate(segments):
            if segment == "{" + name + "}" and i > 0 and not _PARAM.fullmatch(segments[i - 1]):
                return segments[i - 1]
        return self.resource

    def fill(self, values: dict[str, str]) -> str:
        """The path with its parameters replaced by ``values`` (URL-quoted)."""
        from urllib.parse import quote

        return _PARAM.sub(lambda m: quote(values[m.group(1)], safe=""), self.path)


@dataclass(frozen=True, slots=True)
class ApiModel:
    """All operations of one API, in description order."""

    source: str
    operations: tuple[ApiOperation, ...]
    title: str = ""
    version: str = ""

    def aliases(self, op: ApiOperation) -> dict[str, str]:
        """Parameters of ``op`` that other operations' links say come from a named response field."""
        if op.operation_id is None:
            return {}
        return {link.parameter: link.field for other in self.operations for link in other.links
                if link.operation_id == op.operation_id}

    def find(self, method: str, path: str) -> ApiOperation | None:
        """The operation with this method and path template."""
        for op in self.operations:
            if op.method == method.upper() and op.path == path:
                return op
        return None
