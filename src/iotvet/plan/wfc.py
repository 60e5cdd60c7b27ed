"""Import of Web Fuzzing Commons (WFC) auth files, the format Schemathesis and EvoMaster read.

A WFC entry either carries fixed headers or describes a login endpoint; both map onto
iotvet's own auth types (``headers`` and ``login``), so the rest of iotvet sees no difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from iotvet.core.errors import Source, UserError
from iotvet.plan.errors import to_user_error
from iotvet.plan.schema import HeadersAuth, LoginAuth, RequestSpec, TokenUse
from iotvet.plan.yamlsource import read_yaml


class _Wfc(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Header(_Wfc):
    name: str
    value: str


class _UserPwd(_Wfc):
    username: str
    password: str
    username_field: str = Field(alias="usernameField")
    password_field: str = Field(alias="passwordField")


class _Token(_Wfc):
    extract_from_field: str | None = Field(default=None, alias="extractFromField")
    http_header_name: str | None = Field(default=None, alias="httpHeaderName")
    header_prefix: str | None = Field(default=None, alias="headerPrefix")


class _Login(_Wfc):
    endpoint: str | None = None
    external_endpoint_url: str | None = Field(default=None, alias="externalEndpointURL")
    payload_raw: str | None = Field(default=None, alias="payloadRaw")
    payload_user_pwd: _UserPwd | None = Field(default=None, alias="payloadUserPwd")
    headers: list[_Header] = Field(default_factory=list)
    verb: Literal["POST", "GET", "PATCH", "DELETE", "PUT"] = "POST"
    content_type: str | None = Field(default=None, alias="contentType")
    token: _Token | None = None
    expect_cookies: bool = Field(default=False, alias="expectCookies")


class _AuthInfo(_Wfc):
    name: str | None = None
    fixed_headers: list[_Header] | None = Field(default=None, alias="fixedHeaders")
    login_endpoint_auth: _Login | None = Field(default=None, alias="loginEndpointAuth")


class _Document(_Wfc):
    auth: list[_AuthInfo]
    auth_template: _AuthInfo | None = Field(default=None, alias="authTemplate")


def _pointer_to_jsonpath(pointer: str) -> str:
    """RFC 6901 JSON Pointer (``/token/authToken``) -> JSONPath (``$.token.authToken``)."""
    out = "$"
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if part.isdigit():
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        elif part:
            out += f".'{part}'"
    return out


def _merge(template: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
    if not template:
        return entry
    merged = dict(template)
    for key, value in entry.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def wfc_secrets(path: Path, user: str) -> list[str]:
    """The values of WFC user ``user`` that are secrets, whatever their field names."""
    entry, _ = _entry(path, user)
    out = [h.value for h in entry.fixed_headers or []]
    login = entry.login_endpoint_auth
    if login is not None:
        out += [h.value for h in login.headers]
        if login.payload_user_pwd is not None:
            out.append(login.payload_user_pwd.password)
        if login.payload_raw is not None:
            out.append(login.payload_raw)
    return out


def load_wfc_user(path: Path, user: str) -> HeadersAuth | LoginAuth:
    """The iotvet auth equivalent to user ``user`` of the WFC auth file at ``path``."""
    entry, where = _entry(path, user)
    if entry.login_endpoint_auth is not None:
        return _login(entry.login_endpoint_auth, where)
    if entry.fixed_headers:
        return HeadersAuth(type="headers", headers={h.name: SecretStr(h.value) for h in entry.fixed_headers})
    raise UserError("this WFC user has neither fixedHeaders nor loginEndpointAuth", where)


def _entry(path: Path, user: str) -> tuple[_AuthInfo, Source]:
    doc = read_yaml(str(path))  # WFC files are YAML or JSON; JSON is YAML
    try:
        parsed = _Document.model_validate(doc.data)
    except ValidationError as exc:
        raise to_user_error(exc, doc, _Document) from None
    raw_entries = doc.data["auth"]
    template = doc.data.get("authTemplate") if isinstance(doc.data, dict) else None
    names = [e.name for e in parsed.auth]
    if user not in names:
        known = ", ".join(n for n in names if n) or "none"
        raise UserError(f"no user {user!r} in this WFC auth file (users: {known})", Source(str(path), None, "auth"))
    index = names.index(user)
    entry = _AuthInfo.model_validate(_merge(template, raw_entries[index]))
    return entry, doc.source(("auth", index))


def _login(login: _Login, where: Source) -> LoginAuth:
    path = login.external_endpoint_url or login.endpoint
    if not path:
        raise UserError("loginEndpointAuth needs endpoint or externalEndpointURL", where)
    headers = {h.name: h.value for h in login.headers}
    json_body: Any = None
    form: dict[str, str] | None = None
    is_form = (login.content_type or "application/json").startswith("application/x-www-form-urlencoded")
    if login.payload_user_pwd is not None:
        pw = login.payload_user_pwd
        fields = {pw.username_field: pw.username, pw.password_field: pw.password}
        form, json_body = (fields, None) if is_form else (None, fields)
    elif login.payload_raw is not None:
        if is_form:
            from urllib.parse import parse_qsl

            form = dict(parse_qsl(login.payload_raw, keep_blank_values=True))
        else:
            try:
                json_body = json.loads(login.payload_raw)
            except json.JSONDecodeError:
                raise UserError("payloadRaw is not JSON although contentType is", where) from None
    try:
        request = RequestSpec.model_validate(
            {"method": login.verb, "path": path, "json": json_body, "form": form, "headers": headers})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"loginEndpointAuth: {first['msg'].removeprefix('Value error, ')}", where) from None
    if login.token is not None and login.token.extract_from_field:
        header = login.token.http_header_name or "Authorization"
        use = TokenUse(header=header, prefix=login.token.header_prefix or "")
        return LoginAuth(type="login", request=request, token=_pointer_to_jsonpath(login.token.extract_from_field),
                         use=use)
    if login.expect_cookies:
        return LoginAuth(type="login", request=request, token="cookie:*", use=TokenUse(cookie="*"))
    raise UserError("loginEndpointAuth says neither token.extractFromField nor expectCookies", where)
