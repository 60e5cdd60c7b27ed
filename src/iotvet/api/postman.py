"""Postman v2.1 (and v2.0) collections into :class:`ApiModel`, and the secrets a collection holds.

A collection is a tree of folders (``item``) and requests. URLs come from ``request.url.raw``
or the structured url (protocol, host, port, path, query); ``{{variables}}`` are resolved from
the collection's ``variable`` list. A variable nobody defines stays a variable: in a path
segment it becomes a template parameter (``{{vin}}`` -> ``{vin}``, as ``:vin`` does), and at
the start of the URL (``{{baseUrl}}/vehicles``, defined in an environment iotvet never sees) it
stands for the plan's ``target.base_url``. Bodies in ``raw`` (JSON), ``urlencoded`` and
``formdata`` mode give the body schema; saved example responses name parameters and give
response schemas. Only requests under ``target.base_url`` are used and nothing is contacted.
Tokens, passwords and API keys (auth blocks, credential variables, headers, bodies) are
returned by :func:`postman_secrets` for the run's Redactor. A malformed collection is a
UserError naming file, line and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from iotvet.api.infer import (
    JsonSource,
    Observation,
    build_model,
    credential_name,
    dedupe,
    form_secrets,
    header_secrets,
    inner_json,
    json_secrets,
    media_type,
    norm,
    parse_base,
    parse_json_text,
    password_name,
    read_json_file,
)
from iotvet.api.model import ApiModel
from iotvet.plan.yamlsource import Path_

MAX_DEPTH = 64
_VAR = re.compile(r"\{\{([^{}]+)\}\}")
_LEADING_VAR = re.compile(r"^\s*\{\{([^{}]+)\}\}")
_SCALAR = (str, int, float, bool)
_NOT_SECRET = frozenset({"tokentype", "tokenname", "addtokento", "headerprefix", "granttype", "authurl",
                         "accesstokenurl", "tokenurl", "refreshtokenurl", "clientauthentication", "challengealgorithm",
                         "tokenrequestparams", "authrequestparams", "refreshrequestparams", "usebrowser",
                         "state", "scope", "redirecturi", "callbackurl", "client_authentication", "in", "key"})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class _Request:
    where: Path_
    method: str
    url: str
    query: list[tuple[str, str]] | None
    headers: list[tuple[str, str]]
    body: Any = None
    form: list[tuple[str, str]] | None = None
    body_text: str | None = None
    body_media: str | None = None
    auth: bool = False
    secrets: list[tuple[str, str]] = field(default_factory=list)
    examples: list[tuple[int | None, str | None]] = field(default_factory=list)


class _Collection:
    """A validated collection: its variables and every request, in tree order."""

    def __init__(self, doc: JsonSource, base_url: str | None) -> None:
        self.doc = doc
        self.base_url = base_url
        self.secrets: list[tuple[str, str]] = []
        self.requests: list[_Request] = []
        data = doc.data
        if not isinstance(data, dict):
            doc.fail((), "a Postman collection is a JSON object with info and item")
        info = doc.get(data, (), "info", dict, "an object")
        self.title = ""
        self.version = ""
        if info is not None:
            schema = doc.get(info, ("info",), "schema", str, "a string")
            if schema is not None and re.search(r"/v1(\.|/)", schema):
                doc.fail(("info", "schema"), "Postman v1 collections are not supported: export as v2.1")
            self.title = _text(info.get("name")) if isinstance(info.get("name"), _SCALAR) else ""
            version = info.get("version")
            self.version = _text(version) if isinstance(version, _SCALAR) else ""
        self.variables: dict[str, str] = {}
        for key, value, secret in self._variables(("variable",), data.get("variable")):
            self.variables.setdefault(key, value)
            if value and (secret or (credential_name(key) and (password_name(key) or len(value) >= 8))):
                self.secrets.append((f"postman.variable.{norm(key) or 'value'}", value))
        items = doc.get(data, (), "item", list, "a list of requests and folders", required=True)
        auth = self._auth(("auth",), data.get("auth"))
        self._walk(items, ("item",), auth)

    # -- pieces ------------------------------------------------------------------------------

    def resolve(self, text: str) -> str:
        """``{{name}}`` replaced by the collection's variables (nested up to 10 levels); unknown ones stay."""
        for _ in range(10):
            new = _VAR.sub(lambda m: self.variables.get(m.group(1).strip(), m.group(0)), text)
            if new == text:
                break
            text = new
        return text

    def _variables(self, where: Path_, value: Any) -> list[tuple[str, str, bool]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.doc.fail(where, "variable must be a list of key/value objects")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.doc.fail((*where, i), "a variable must be a key/value object")
            key = item.get("key", item.get("id"))
            if not isinstance(key, str):
                self.doc.fail((*where, i, "key"), "a variable needs a key (a string)")
            raw = item.get("value")
            if raw is not None and not isinstance(raw, _SCALAR):
                self.doc.fail((*where, i, "value"), "a variable's value must be a string, number or boolean")
            if item.get("disabled") is True:
                continue
            out.append((key, _text(raw), item.get("type") == "secret"))
        return out

    def _pairs(self, where: Path_, value: Any, what: str) -> list[tuple[str, str]]:
        """Postman key/value lists (header, query, urlencoded, formdata); disabled entries dropped."""
        if value is None:
            return []
        if isinstance(value, str) and what == "header":
            pairs = []
            for line in value.splitlines():
                name, sep, val = line.partition(":")
                if sep and name.strip():
                    pairs.append((name.strip(), self.resolve(val.strip())))
            return pairs
        if not isinstance(value, list):
            self.doc.fail(where, f"{what} must be a list of key/value objects")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.doc.fail((*where, i), f"{what} entries must be key/value objects")
            key = item.get("key")
            if not isinstance(key, str):
                self.doc.fail((*where, i, "key"), f"a {what} entry needs a key (a string)")
            raw = item.get("value")
            if raw is not None and not isinstance(raw, _SCALAR):
                self.doc.fail((*where, i, "value"), f"a {what} value must be a string, number or boolean")
            if item.get("disabled") is True or (what == "formdata" and item.get("type") == "file"):
                continue
            out.append((self.resolve(key), self.resolve(_text(raw))))
        return out

    def _auth(self, where: Path_, value: Any) -> tuple[bool, list[tuple[str, str]]] | None:
        """(credentials present, their secrets) of an auth block; None when there is none (inherit)."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.doc.fail(where, "auth must be an object")
        kind = value.get("type")
        if not isinstance(kind, str):
            self.doc.fail((*where, "type"), "auth needs a type (a string)")
        if kind == "noauth":
            return False, []
        params = value.get(kind)
        entries: list[tuple[str, str]] = []
        if isinstance(params, list):
            for i, item in enumerate(params):
                if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                    self.doc.fail((*where, kind, i), "auth entries are key/value objects")
                raw = item.get("value")
                if isinstance(raw, _SCALAR):
                    entries.append((item["key"], self.resolve(_text(raw))))
        elif isinstance(params, dict):  # v2.0 form: {"token": "..."}
            entries = [(str(k), self.resolve(_text(v))) for k, v in params.items() if isinstance(v, _SCALAR)]
        elif params is not None:
            self.doc.fail((*where, kind), f"auth.{kind} must be a list of key/value objects")
        secrets = []
        for key, val in entries:
            if not val or _VAR.search(val) or "://" in val:
                continue
            flat = norm(key)
            if (kind == "apikey" and flat == "value") or (flat not in _NOT_SECRET and credential_name(key)):
                secrets.append((f"postman.auth.{kind}.{flat or 'value'}", val))
        return True, secrets

    # -- the tree ----------------------------------------------------------------------------

    def _walk(self, items: list[Any], where: Path_, auth: tuple[bool, list[tuple[str, str]]] | None) -> None:
        stack: list[tuple[list[Any], Path_, tuple[bool, list[tuple[str, str]]] | None, int]] = [
            (items, where, auth, 0)]
        found: list[tuple[Path_, dict[str, Any], tuple[bool, list[tuple[str, str]]] | None]] = []
        while stack:
            nodes, at, inherited, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.doc.fail(at, f"folders nest more than {MAX_DEPTH} deep")
            for i, node in enumerate(nodes):
                here: Path_ = (*at, i)
                if not isinstance(node, dict):
                    self.doc.fail(here, "an item must be an object (a request or a folder)")
                own = self._auth((*here, "auth"), node.get("auth"))
                effective = own if own is not None else inherited
                if own is not None:
                    self.secrets.extend(own[1])
                if "request" in node and node["request"] is not None:
                    found.append((here, node, effective))
                elif isinstance(node.get("item"), list):
                    stack.append((node["item"], (*here, "item"), effective, depth + 1))
                elif "item" in node:
                    self.doc.fail((*here, "item"), "a folder's item must be a list")
                else:
                    self.doc.fail(here, "an item needs request (a request) or item (a folder)")
        found.sort(key=lambda f: f[0])  # tree order, whatever order the stack visited
        for here, node, effective in found:
            self.requests.append(self._request(here, node, effective))

    def _request(self, where: Path_, node: dict[str, Any],
                 auth: tuple[bool, list[tuple[str, str]]] | None) -> _Request:
        doc = self.doc
        req = node["request"]
        rw: Path_ = (*where, "request")
        if isinstance(req, str):
            req = {"url": req}
        elif not isinstance(req, dict):
            doc.fail(rw, "request must be an object or a URL string")
        method = doc.get(req, rw, "method", str, "a string") or "GET"
        url, query = self._url((*rw, "url"), doc.get(req, rw, "url", (str, dict), "a string or an object",
                                                       required=True))
        headers = self._pairs((*rw, "header"), req.get("header"), "header")
        own = self._auth((*rw, "auth"), req.get("auth"))
        effective = own if own is not None else auth
        out = _Request(where, method, url, query, headers, auth=bool(effective and effective[0]))
        if own is not None:
            out.secrets.extend(own[1])
        self._body(out, (*rw, "body"), doc.get(req, rw, "body", dict, "an object"))
        examples = node.get("response")
        if examples is not None:
            if not isinstance(examples, list):
                doc.fail((*where, "response"), "response must be a list of saved examples")
            for i, ex in enumerate(examples):
                if not isinstance(ex, dict):
                    doc.fail((*where, "response", i), "a saved example must be an object")
                code = doc.get(ex, (*where, "response", i), "code", int, "an HTTP status code")
                body = doc.get(ex, (*where, "response", i), "body", str, "a string")
                out.examples.append((code if code is not None and 100 <= code <= 999 else None, body))
        return out

    def _url(self, where: Path_, url: str | dict[str, Any]) -> tuple[str, list[tuple[str, str]] | None]:
        doc = self.doc
        query: list[tuple[str, str]] | None = None
        if isinstance(url, str):
            raw = url
        else:
            raw = doc.get(url, where, "raw", str, "a string")
            if url.get("query") is not None:
                query = self._pairs((*where, "query"), url.get("query"), "query")
            if raw is None:
                raw = self._structured(where, url)
        text = self.resolve(raw.strip())
        if query is None:
            _, _, qs = text.partition("?")
            query = [(k, v) for k, v in parse_qsl(qs.split("#", 1)[0], keep_blank_values=True)] if qs else []
        return self._absolute(text.split("?", 1)[0].split("#", 1)[0]), query

    def _structured(self, where: Path_, url: dict[str, Any]) -> str:
        doc = self.doc
        protocol = doc.get(url, where, "protocol", str, "a string")
        host = doc.get(url, where, "host", (list, str), "a list of labels or a string")
        port = doc.get(url, where, "port", (str, int), "a string or number")
        path = doc.get(url, where, "path", (list, str), "a list of segments or a string")
        if isinstance(host, list):
            if not all(isinstance(h, _SCALAR) for h in host):
                doc.fail((*where, "host"), "host labels must be strings")
            host = ".".join(_text(h) for h in host)
        if isinstance(path, list):
            segments = []
            for i, seg in enumerate(path):
                if isinstance(seg, dict) and isinstance(seg.get("value"), str):
                    segments.append(seg["value"])
                elif isinstance(seg, _SCALAR):
                    segments.append(_text(seg))
                else:
                    doc.fail((*where, "path", i), "a path segment must be a string")
            path = "/".join(segments)
        text = f"{protocol}://" if protocol else ""
        text += host or ""
        if port is not None:
            text += f":{port}"
        if path:
            text += "/" + str(path).lstrip("/")
        return text

    def _absolute(self, text: str) -> str:
        """An absolute URL: a leading unresolved variable stands for the plan's base URL."""
        if self.base_url is None:
            return text
        base = parse_base(self.base_url)
        lead = _LEADING_VAR.match(text)
        if lead:
            rest = text[lead.end():]
            origin = self.base_url[: len(self.base_url) - len(base.prefix)] if base.prefix else self.base_url
            if base.prefix and (rest == base.prefix or rest.startswith(base.prefix + "/")):
                return origin + rest
            return self.base_url + ("/" + rest.lstrip("/") if rest.strip("/") else "")
        if "://" not in text:
            return f"{base.scheme}://{text.lstrip('/')}"
        return text

    def _body(self, out: _Request, where: Path_, body: dict[str, Any] | None) -> None:
        if body is None or body.get("disabled") is True:
            return
        doc = self.doc
        mode = doc.get(body, where, "mode", str, "a string")
        content_type = next((v for k, v in out.headers if k.lower() == "content-type"), None)
        if mode == "raw":
            raw = doc.get(body, where, "raw", str, "a string")
            if raw is None:
                return
            text = self.resolve(raw)
            out.body_text = text
            parsed = inner_json(text)
            if parsed is None and _VAR.search(text):
                parsed = inner_json(_VAR.sub("null", text))
            out.body = parsed
            out.body_media = media_type(content_type) or ("application/json" if parsed is not None else "text/plain")
        elif mode == "urlencoded":
            out.form = self._pairs((*where, "urlencoded"), body.get("urlencoded"), "urlencoded")
            out.body_media = "application/x-www-form-urlencoded"
        elif mode == "formdata":
            out.form = self._pairs((*where, "formdata"), body.get("formdata"), "formdata")
            out.body_media = "multipart/form-data"
        elif mode is not None:
            out.body_media = media_type(content_type) or {"graphql": "application/json"}.get(mode)

    # -- outputs -----------------------------------------------------------------------------

    def observations(self) -> list[Observation]:
        """One observation per request (or per saved example, which carries the answer)."""
        out = []
        for req in self.requests:
            answers: list[tuple[int | None, str | None]] = req.examples or [(None, None)]
            for code, body in answers:
                out.append(Observation(method=req.method, url=req.url, headers=req.headers, query=req.query,
                                       body=req.body, form=req.form, body_media=req.body_media, status=code,
                                       response=inner_json(body), credentials=req.auth))
        return out

    def all_secrets(self) -> list[tuple[str, str]]:
        """Every credential the collection holds."""
        out = list(self.secrets)
        for req in self.requests:
            out += req.secrets
            for name, value in req.headers:
                if not _VAR.search(value):
                    out += header_secrets(name, value, "postman.header")
            out += form_secrets([(k, v) for k, v in req.query or [] if not _VAR.search(v)], "postman.query")
            out += [(label, v) for label, v in json_secrets(req.body, "postman.body") if not _VAR.search(v)]
            out += form_secrets([(k, v) for k, v in req.form or [] if not _VAR.search(v)], "postman.body")
            for _, body in req.examples:
                out += json_secrets(inner_json(body), "postman.response")
        return dedupe(out)


def parse_postman(text: str, file: str, base_url: str) -> ApiModel:
    """The API model of a Postman collection held in ``text`` (``file`` names it in errors)."""
    parse_base(base_url)
    col = _Collection(parse_json_text(text, file), base_url)
    return build_model(col.observations(), base_url, source=file, title=col.title, version=col.version,
                       secrets=[v for _, v in col.all_secrets()])


def parse_postman_secrets(text: str, file: str) -> list[tuple[str, str]]:
    """(label, value) of every token, password and API key in a collection held in ``text``."""
    return _Collection(parse_json_text(text, file), None).all_secrets()


def load_postman(path: str, base_url: str) -> ApiModel:
    """Read a Postman v2.1 collection: the operations under ``base_url``."""
    parse_base(base_url)
    col = _Collection(read_json_file(path), base_url)
    return build_model(col.observations(), base_url, source=path, title=col.title, version=col.version,
                       secrets=[v for _, v in col.all_secrets()])


def postman_secrets(path: str) -> list[tuple[str, str]]:
    """(label, value) of every token, password and API key in a collection file, for the run's Redactor."""
    return _Collection(read_json_file(path), None).all_secrets()


__all__ = ["load_postman", "parse_postman", "parse_postman_secrets", "postman_secrets"]
