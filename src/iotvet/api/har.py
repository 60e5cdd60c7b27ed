"""HAR 1.2 captures into :class:`ApiModel`, and the secrets a capture holds.

A HAR is what a browser's developer tools or an intercepting proxy records of an app's
traffic: for an undocumented API it is the description. Only requests under the plan's
``target.base_url`` are used (:mod:`iotvet.api.infer` does the inference); the file itself is
read locally and nothing in it is ever contacted. Tokens, cookies and passwords found in the
capture (every entry, whatever its host) are returned by :func:`har_secrets` so that the run's
Redactor scrubs them. A malformed capture is a UserError naming file, line and field.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from typing import Any

from iotvet.api.infer import (
    JsonSource,
    Observation,
    build_model,
    dedupe,
    form_secrets,
    header_secrets,
    inner_json,
    json_secrets,
    media_type,
    parse_json_text,
    read_json_file,
)
from iotvet.api.model import ApiModel
from iotvet.plan.yamlsource import Path_

_FORM = "application/x-www-form-urlencoded"


def _pairs(doc: JsonSource, where: Path_, value: Any, what: str) -> list[tuple[str, str]]:
    """A HAR name/value list (headers, queryString, cookies, params)."""
    if value is None:
        return []
    if not isinstance(value, list):
        doc.fail(where, f"{what} must be a list of name/value objects")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            doc.fail((*where, i), f"{what} entries must be name/value objects")
        name = doc.get(item, (*where, i), "name", str, "a string", required=True)
        raw = doc.get(item, (*where, i), "value", (str, int, float), "a string")
        out.append((name, "" if raw is None else str(raw)))
    return out


def _entries(doc: JsonSource) -> list[tuple[Path_, dict[str, Any]]]:
    data = doc.data
    if not isinstance(data, dict):
        doc.fail((), "a HAR file is a JSON object with a log")
    log = doc.get(data, (), "log", dict, "an object (HAR 1.2)", required=True)
    entries = doc.get(log, ("log",), "entries", list, "a list of entries", required=True)
    out = []
    for i, entry in enumerate(entries):
        where: Path_ = ("log", "entries", i)
        if not isinstance(entry, dict):
            doc.fail(where, "an entry must be an object")
        doc.get(entry, where, "request", dict, "an object", required=True)
        out.append((where, entry))
    return out


class _Entry:
    """One validated entry's parts."""

    def __init__(self, doc: JsonSource, where: Path_, entry: dict[str, Any]) -> None:
        req_where: Path_ = (*where, "request")
        req: dict[str, Any] = entry["request"]
        self.method: str = doc.get(req, req_where, "method", str, "a string", required=True)
        self.url: str = doc.get(req, req_where, "url", str, "a string", required=True)
        self.headers = _pairs(doc, (*req_where, "headers"), req.get("headers"), "headers")
        # An empty queryString next to a URL with a query (hand-edited captures): the URL's query is used.
        self.query = _pairs(doc, (*req_where, "queryString"), req.get("queryString"), "queryString") or None
        self.cookies = _pairs(doc, (*req_where, "cookies"), req.get("cookies"), "cookies")
        self.body_text: str | None = None
        self.body_media: str | None = None
        self.params: list[tuple[str, str]] | None = None
        post = doc.get(req, req_where, "postData", dict, "an object")
        if post is not None:
            post_where: Path_ = (*req_where, "postData")
            self.body_media = media_type(doc.get(post, post_where, "mimeType", str, "a string"))
            self.body_text = doc.get(post, post_where, "text", str, "a string")
            if post.get("params") is not None:
                self.params = _pairs(doc, (*post_where, "params"), post["params"], "params")
        self.status: int | None = None
        self.response_text: str | None = None
        self.response_media: str | None = None
        self.response_headers: list[tuple[str, str]] = []
        self.response_cookies: list[tuple[str, str]] = []
        resp = doc.get(entry, where, "response", dict, "an object")
        if resp is not None:
            resp_where: Path_ = (*where, "response")
            status = doc.get(resp, resp_where, "status", (int, str), "an HTTP status code")
            if isinstance(status, str):
                if not re.fullmatch(r"[0-9]{1,6}", status.strip()):
                    doc.fail((*resp_where, "status"), "status must be an HTTP status code")
                status = int(status.strip())
            self.status = status if status is not None and 100 <= status <= 999 else None
            self.response_headers = _pairs(doc, (*resp_where, "headers"), resp.get("headers"), "headers")
            self.response_cookies = _pairs(doc, (*resp_where, "cookies"), resp.get("cookies"), "cookies")
            content = doc.get(resp, resp_where, "content", dict, "an object")
            if content is not None:
                c_where: Path_ = (*resp_where, "content")
                self.response_media = media_type(doc.get(content, c_where, "mimeType", str, "a string"))
                text = doc.get(content, c_where, "text", str, "a string")
                if text is not None and str(content.get("encoding", "")).lower() == "base64":
                    try:
                        text = base64.b64decode(text, validate=False).decode("utf-8")
                    except (binascii.Error, ValueError):
                        text = None
                self.response_text = text

    def form(self) -> list[tuple[str, str]] | None:
        """Urlencoded fields of the body, when it has any."""
        if self.params:
            return self.params
        if self.body_text is not None and self.body_media == _FORM:
            from urllib.parse import parse_qsl

            return parse_qsl(self.body_text, keep_blank_values=True)
        return None

    def observation(self) -> Observation:
        """What :func:`build_model` needs of this entry."""
        body = inner_json(self.body_text)
        return Observation(method=self.method, url=self.url, headers=self.headers, query=self.query, body=body,
                           form=None if body is not None else self.form(), body_media=self.body_media,
                           status=self.status, response=inner_json(self.response_text),
                           response_media=self.response_media, credentials=bool(self.cookies))

    def secrets(self) -> list[tuple[str, str]]:
        """Every credential this entry carries or receives."""
        out: list[tuple[str, str]] = []
        for name, value in self.headers:
            out += header_secrets(name, value, "har.request")
        out += [(f"har.request.cookie.{k.lower()}", v) for k, v in self.cookies if len(v) >= 8]
        if self.query is not None:
            out += form_secrets(self.query, "har.request.query")
        else:
            from urllib.parse import parse_qsl, urlsplit

            with contextlib.suppress(ValueError):
                out += form_secrets(parse_qsl(urlsplit(self.url).query), "har.request.query")
        out += json_secrets(inner_json(self.body_text), "har.request.body")
        out += form_secrets(self.form() or [], "har.request.body")
        for name, value in self.response_headers:
            out += header_secrets(name, value, "har.response")
        out += [(f"har.response.cookie.{k.lower()}", v) for k, v in self.response_cookies if len(v) >= 8]
        out += json_secrets(inner_json(self.response_text), "har.response.body")
        return out


def _parse(doc: JsonSource) -> tuple[list[_Entry], str, str]:
    entries = [_Entry(doc, where, entry) for where, entry in _entries(doc)]
    creator = doc.data["log"].get("creator")
    title = str(creator.get("name", "")) if isinstance(creator, dict) else ""
    version = str(doc.data["log"].get("version", ""))
    return entries, title, version


def parse_har(text: str, file: str, base_url: str) -> ApiModel:
    """The API model of a HAR document held in ``text`` (``file`` names it in errors)."""
    entries, title, version = _parse(parse_json_text(text, file))
    secrets = [v for e in entries for _, v in e.secrets()]
    return build_model((e.observation() for e in entries), base_url, source=file, title=title, version=version,
                       secrets=secrets)


def parse_har_secrets(text: str, file: str) -> list[tuple[str, str]]:
    """(label, value) of every token, cookie and password in a HAR document held in ``text``."""
    entries, _, _ = _parse(parse_json_text(text, file))
    return dedupe(s for e in entries for s in e.secrets())


def load_har(path: str, base_url: str) -> ApiModel:
    """Read a HAR file: the operations observed under ``base_url``."""
    doc = read_json_file(path)
    entries, title, version = _parse(doc)
    secrets = [v for e in entries for _, v in e.secrets()]
    return build_model((e.observation() for e in entries), base_url, source=path, title=title, version=version,
                       secrets=secrets)


def har_secrets(path: str) -> list[tuple[str, str]]:
    """(label, value) of every token, cookie and password in a HAR file, for the run's Redactor."""
    entries, _, _ = _parse(read_json_file(path))
    return dedupe(s for e in entries for s in e.secrets())


__all__ = ["har_secrets", "load_har", "parse_har", "parse_har_secrets"]
