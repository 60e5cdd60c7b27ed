"""OpenAPI 3.0 / 3.1 and Swagger 2.0 into :class:`ApiModel`.

References are resolved with ``referencing`` (the resolver behind ``jsonschema``). Remote
documents are fetched *before* resolution, through a caller-supplied fetcher that goes
through iotvet's transport, so a ``$ref`` can never reach a host outside scope; resolution
itself is offline. A malformed description is a UserError naming file, line and field.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from referencing import Registry, Specification
from referencing.exceptions import Unresolvable

from iotvet.api.model import ApiModel, ApiOperation, Link, Param
from iotvet.core.errors import UserError
from iotvet.plan.yamlsource import Path_, YamlDocument, load_yaml

Fetcher = Callable[[str], Awaitable[bytes]]
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_DOCUMENTS = 50
MAX_DEPTH = 32
_OPAQUE = Specification.OPAQUE
_SWAGGER_KEYS = ("type", "format", "enum", "items", "minimum", "maximum", "pattern")


def _uri_for(source: str) -> str:
    return source if "://" in source else Path(source).resolve().as_uri()


def _parse(data: bytes, name: str) -> YamlDocument:
    text = data.decode("utf-8", "replace")
    if text.lstrip().startswith(("{", "[")):
        try:
            return YamlDocument(name, json.loads(text), {})  # fast path; lines come from YAML on error
        except ValueError:
            pass
    return load_yaml(text, name)


async def _read(uri: str, fetch: Fetcher) -> bytes:
    if uri.startswith("file://"):
        try:
            return Path(urlsplit(uri).path).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read: {exc.strerror}", None) from None
    return await fetch(uri)


def _remote_refs(doc: Any, base: str) -> set[str]:
    found: set[str] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found.add(urldefrag(urljoin(base, ref))[0])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


class _Resolver:
    """Inlines ``$ref``s, keeping a marker where a schema refers to itself."""

    def __init__(self, registry: Registry, base: str, docs: dict[str, YamlDocument]) -> None:
        self.registry = registry
        self.base = base
        self.docs = docs

    def deref(self, node: Any, base: str, where: Path_, seen: tuple[str, ...] = ()) -> Any:
        if len(seen) > MAX_DEPTH:
            return {"x-iotvet-truncated": True}
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = urljoin(base, ref)
                if target in seen:
                    return {"x-iotvet-recursive": ref}
                try:
                    resolved = self.registry.resolver(base_uri=base).lookup(ref)
                except Unresolvable:
                    raise UserError(f"$ref {ref!r} does not resolve", self._source(base, where)) from None
                new_base = urldefrag(target)[0] or base
                return self.deref(resolved.contents, new_base, where, (*seen, target))
            return {k: self.deref(v, base, (*where, k), seen) for k, v in node.items()}
        if isinstance(node, list):
            return [self.deref(v, base, (*where, i), seen) for i, v in enumerate(node)]
        return node

    def _source(self, base: str, where: Path_) -> Any:
        doc = self.docs.get(base) or self.docs[self.base]
        return doc.source(where)


async def load_openapi(source: str, fetch: Fetcher) -> ApiModel:
    """Read an OpenAPI/Swagger description (file or URL) and every remote document it refers to."""
    root_uri = _uri_for(source)
    root = _parse(await _read(root_uri, fetch), source)
    docs = {root_uri: root}
    pending = _remote_refs(root.data, root_uri) - {root_uri}
    while pending:
        if len(docs) >= MAX_DOCUMENTS:
            raise UserError(f"more than {MAX_DOCUMENTS} referenced documents", root.source(()))
        uri = pending.pop()
        doc = _parse(await _read(uri, fetch), uri)
        docs[uri] = doc
        pending |= _remote_refs(doc.data, uri) - set(docs)
    registry: Registry = Registry().with_resources(
        (uri, _OPAQUE.create_resource(doc.data)) for uri, doc in docs.items()
    )
    return _normalise(root, root_uri, _Resolver(registry, root_uri, docs))


def _expect(cond: bool, doc: YamlDocument, where: Path_, message: str) -> None:
    if not cond:
        raise UserError(message, doc.source(where))


def _normalise(doc: YamlDocument, base: str, resolver: _Resolver) -> ApiModel:
    data = doc.data
    _expect(isinstance(data, dict), doc, (), "an API description is a mapping")
    swagger = str(data.get("swagger", ""))
    openapi = str(data.get("openapi", ""))
    _expect(swagger.startswith("2") or openapi.startswith("3"), doc, (),
            "no 'openapi: 3.x' or 'swagger: 2.0' version key")
    paths = data.get("paths") or {}
    _expect(isinstance(paths, dict), doc, ("paths",), "paths must be a mapping")
    global_security = data.get("security")
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    operations: list[ApiOperation] = []
    for path, item in paths.items():
        where: Path_ = ("paths", path)
        _expect(isinstance(path, str) and path.startswith("/"), doc, where, "a path must start with /")
        item = resolver.deref(item, base, where)
        _expect(isinstance(item, dict), doc, where, "a path item must be a mapping")
        shared = item.get("parameters") or []
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            _expect(isinstance(op, dict), doc, (*where, method), "an operation must be a mapping")
            operations.append(_operation(doc, (*where, method), path, method, op, shared, global_security,
                                         swagger=bool(swagger)))
    return ApiModel(source=doc.file, operations=tuple(operations), title=str(info.get("title", "")),
                    version=str(info.get("version", "")))


def _json_media(content: Any) -> tuple[str | None, dict[str, Any] | None]:
    if not isinstance(content, dict) or not content:
        return None, None
    for media in content:
        if "json" in media:
            schema = content[media].get("schema") if isinstance(content[media], dict) else None
            return media, schema if isinstance(schema, dict) else {}
    media = next(iter(content))
    schema = content[media].get("schema") if isinstance(content[media], dict) else None
    return media, schema if isinstance(schema, dict) else {}


def _operation(doc: YamlDocument, where: Path_, path: str, method: str, op: dict[str, Any], shared: list[Any],
               global_security: Any, *, swagger: bool) -> ApiOperation:
    params: dict[tuple[str, str], Param] = {}
    body_schema: dict[str, Any] | None = None
    body_media: str | None = None
    form: dict[str, Any] = {}
    for i, raw in enumerate([*shared, *(op.get("parameters") or [])]):
        _expect(isinstance(raw, dict) and isinstance(raw.get("name"), str) and "in" in raw, doc,
                (*where, "parameters", i), "a parameter needs name and in")
        location = raw["in"]
        if swagger and location == "body":
            body_schema, body_media = raw.get("schema") or {}, "application/json"
            continue
        if swagger and location == "formData":
            form[raw["name"]] = {k: v for k, v in raw.items() if k in _SWAGGER_KEYS}
            continue
        _expect(location in ("path", "query", "header", "cookie"), doc, (*where, "parameters", i, "in"),
                f"unknown parameter location {location!r}")
        schema = raw.get("schema") if not swagger else {k: v for k, v in raw.items() if k in _SWAGGER_KEYS}
        required = bool(raw.get("required")) or location == "path"
        params[(raw["name"], location)] = Param(raw["name"], location, required,
                                                schema if isinstance(schema, dict) else {})
    if form:
        body_schema, body_media = {"type": "object", "properties": form}, "application/x-www-form-urlencoded"
    if not swagger and isinstance(op.get("requestBody"), dict):
        body_media, body_schema = _json_media(op["requestBody"].get("content"))
    responses: dict[str, dict[str, Any] | None] = {}
    links: list[Link] = []
    for code, resp in (op.get("responses") or {}).items():
        if not isinstance(resp, dict):
            continue
        schema = resp.get("schema") if swagger else _json_media(resp.get("content"))[1]
        responses[str(code)] = schema if isinstance(schema, dict) else None
        links.extend(_links(resp.get("links")))
    security = op.get("security", global_security)
    # Secured when some security requirement applies and none of the alternatives is {} (anonymous).
    secured = isinstance(security, list) and bool(security) and not any(req == {} for req in security)
    tags = tuple(str(t) for t in op.get("tags") or [])
    return ApiOperation(
        method=method.upper(), path=path, operation_id=op.get("operationId"), summary=str(op.get("summary", "")),
        params=tuple(params.values()), body_schema=body_schema, body_media=body_media, responses=responses,
        secured=secured, tags=tags, links=tuple(links),
    )


def _links(raw: Any) -> list[Link]:
    """OpenAPI ``links`` whose parameters come from a response body field: (operationId, parameter, field)."""
    out: list[Link] = []
    if not isinstance(raw, dict):
        return out
    for link in raw.values():
        if not isinstance(link, dict) or not isinstance(link.get("operationId"), str):
            continue
        for param, expression in (link.get("parameters") or {}).items():
            if isinstance(expression, str) and expression.startswith("$response.body#/"):
                field_name = expression.rsplit("/", 1)[-1]
                if field_name and not field_name.isdigit():
                    out.append(Link(link["operationId"], str(param), field_name))
    return out
